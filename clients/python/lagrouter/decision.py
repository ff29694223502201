"""What an answer of the daemon says: the servers a read may go to (Server)
and where one read goes (Decision). Plain frozen data, made by daemon_http
from the daemon's JSON and by the client's own fallback."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Server:
    """A server a route may name, with its own figures at the time of the answer."""

    name: str
    host: str
    port: int
    role: str  # "primary" or "replica"
    weight: int = 1
    staleness_bound_ms: int = 0
    valid_for_ms: int = 0


@dataclass(frozen=True)
class Decision:
    """Where a read goes: `server` (also as host, port, role), the bound on
    how old its data may be, and until when (expires_at, time.monotonic())
    the decision may be used. `reason`: the daemon's (fresh_replica,
    primary_class, fallback_primary), or "lagrouter_unavailable" for the
    client's own fallback. `servers`: every server the answer allowed."""

    cluster: str
    cls: str
    server: Server
    reason: str
    expires_at: float
    servers: tuple[Server, ...] = field(default=(), repr=False)
    cached: bool = False
    #: Session reads: the daemon's route token for this read ("s1.<server>";
    #: "s1." for the client's own fallback), and the position lagrouter last
    #: probed on the server ("" when unknown; a lower bound of what the read sees).
    session: Optional[str] = field(default=None, repr=False)
    position: Optional[str] = field(default=None, repr=False)
    #: A session read on the primary whose previous read was (or may have
    #: been) on a replica: before handing out the connection the client lets
    #: the driver wait for commits in flight on the primary
    #: (Postgres.settle_visibility), which a replica may already show.
    settle: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def role(self) -> str:
        return self.server.role

    @property
    def staleness_bound_ms(self) -> int:
        return self.server.staleness_bound_ms

    @property
    def valid_for_ms(self) -> int:
        return self.server.valid_for_ms

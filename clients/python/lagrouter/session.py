"""Session tokens: read-your-writes and monotonic reads.

A Session holds, per cluster,

* the replication position of the last write a user made (read-your-writes):
  a PostgreSQL LSN ("0/3000060"), a MariaDB GTID ("0-1-42", or a list), or a
  MySQL GTID set; and
* the route token of the session's last read (monotonic reads): the
  daemon's `session` answer, "s1.<server>", naming the server the read went
  to, or "s1." when no server is known (the read went somewhere lagrouter did
  not name, e.g. the client's own fallback to the primary).

Reads routed with a session only go to servers that have replayed the
session's position of their cluster, and never to a server that has seen less
than the session's earlier reads (the server the token names, or a replica
proven to hold every commit that returned before the request).

str(session) is a compact string that can travel between processes (a cookie,
a message header, a queue message); Session.parse() reads it back.

Format: "lr2." followed by an URL-encoded query string of "w.<cluster>" =
position and "r.<cluster>" = route token pairs: only letters, digits, '.',
'-', '_' and %-escapes, so it is safe in a cookie value and a header.
Session.parse() also reads the older "lr1." tokens (cluster=position pairs,
positions only).
"""
from __future__ import annotations

import threading
import urllib.parse
from typing import Mapping, Optional, TypeVar

_S = TypeVar("_S", bound="Session")

PREFIX = "lr2."
LEGACY_PREFIX = "lr1."
#: The route token of "no server known": a new session, or a read that went
#: somewhere lagrouter did not name. The next read on a server other than the
#: one it reads on needs a proof (on-demand probes, so a wait).
NO_SERVER = "s1."


class Session:
    """Write positions and last-read route tokens per cluster.

    Safe to share between threads: record(), str() and reads routed with it
    may run at the same time. What holds for reads in one session:

    * a read that starts after another read of the session has finished sees
      at least what that read saw (monotonic reads), whether the two ran in
      one thread or in two. Reads that overlap in time are not ordered: each
      sees at least what the reads finished before it started saw, and
      nothing is promised between the two.
    * When two overlapping reads end on different servers, the session keeps
      "no server known" (s1.) rather than one of them, so the next read needs
      a proof (or the primary) instead of going to a server that may have
      seen less than the other read.

    positions  {cluster: write position} (read-your-writes)
    routes     {cluster: route token}, as the daemon's answers gave them
    """

    def __init__(self, positions: Optional[Mapping[str, str]] = None,
                 routes: Optional[Mapping[str, str]] = None) -> None:
        self._positions: dict[str, str] = dict(positions or {})
        self._routes: dict[str, str] = dict(routes or {})
        # Per cluster: bumped each time the route token changes, so that a read
        # can tell whether another read stored a token while it was routed.
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()

    def position(self, cluster: str) -> Optional[str]:
        """The position reads of `cluster` must see, or None."""
        return self._positions.get(cluster)

    def route_token(self, cluster: str) -> str:
        """The route token to send with the next read of `cluster` ("" for a
        session that has not read it yet)."""
        return self._routes.get(cluster, "")

    def record(self, cluster: str, position: Optional[str]) -> None:
        """Remembers `position` (taken after a commit on the primary) for `cluster`."""
        if not position:
            return
        with self._lock:
            self._positions[cluster] = position

    def begin_read(self, cluster: str) -> tuple[str, int]:
        """(route token, version) for a read of `cluster` about to be routed;
        pass the version to end_read() with the answer's token."""
        with self._lock:
            return self._routes.get(cluster, ""), self._versions.get(cluster, 0)

    def end_read(self, cluster: str, version: int, token: str) -> None:
        """Stores `token`, where a read begun at `version` went. When another
        read stored a different token in between (overlapping reads on two
        servers), stores NO_SERVER instead: neither server is known to have
        seen what the other read saw."""
        token = token or NO_SERVER
        with self._lock:
            current = self._versions.get(cluster, 0)
            if current != version and self._routes.get(cluster) != token:
                token = NO_SERVER
            if self._routes.get(cluster) != token:
                self._routes[cluster] = token
                self._versions[cluster] = current + 1

    def reset_route(self, cluster: str) -> None:
        """Forgets the server of the last read of `cluster` (NO_SERVER): safe,
        the next read on another server needs a proof."""
        with self._lock:
            self._routes[cluster] = NO_SERVER
            self._versions[cluster] = self._versions.get(cluster, 0) + 1

    def __bool__(self) -> bool:
        return bool(self._positions) or bool(self._routes)

    def __str__(self) -> str:
        with self._lock:
            items = sorted([("w." + c, p) for c, p in self._positions.items()] +
                           [("r." + c, t) for c, t in self._routes.items()])
        return PREFIX + urllib.parse.urlencode(items, quote_via=urllib.parse.quote, safe="")

    def __repr__(self) -> str:
        return "Session(%r, %r)" % (self._positions, self._routes)

    @classmethod
    def parse(cls: type[_S], text: Optional[str]) -> _S:
        """A Session from str(session) ("lr2.", or an older "lr1." token); an
        empty or None text gives an empty one. Raises ValueError for text that
        is not a session token. Route tokens are the daemon's and are not
        checked here: one the daemon rejects is reset by the client (see
        Client.route)."""
        if not text:
            return cls()
        for prefix in (PREFIX, LEGACY_PREFIX):
            if text.startswith(prefix):
                break
        else:
            raise ValueError("not a lagrouter session token (want %r...): %r" % (PREFIX, text[:40]))
        body = text[len(prefix):]
        pairs = urllib.parse.parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body))
        if prefix == LEGACY_PREFIX:
            return cls({k: v for k, v in pairs if v})
        positions: dict[str, str] = {}
        routes: dict[str, str] = {}
        for key, value in pairs:
            kind, _, cluster = key.partition(".")
            if not cluster or kind not in ("w", "r") or (kind == "w" and not value):
                raise ValueError("not a lagrouter session token (bad pair %r): %r"
                                 % (key, text[:40]))
            (positions if kind == "w" else routes)[cluster] = value
        return cls(positions, routes)

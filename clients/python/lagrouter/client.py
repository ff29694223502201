"""The lagrouter client: where a read of a class may go, and a connection there.

    client = lagrouter.Client("http://127.0.0.1:8432", driver=lagrouter.Postgres(
        dbname="shop", user="app", password=...))
    with client.read("shop", "dashboard") as conn:
        conn.execute("SELECT ...")

Decisions are cached per (cluster, class) for the answer's valid_for_ms less
the time the request took, never longer: the daemon promises the bound stays
within the class for that long. The answer lists every eligible server with
its own valid_for_ms and weight; cached reads are spread over those still
valid, by weight, as the daemon spreads them. Reads with a read-your-writes
position (`after`) or a Session are never cached.

Sessions (lagrouter.Session) also give monotonic reads: a session's read
sends the route token of its previous read (`session=`), the daemon routes it
to that server or to a replica proven to have at least as much, and the
answer's token is stored in the session (see Client.route).

When lagrouter cannot be asked (refused, no answer within `timeout`, an
answer that is not the API's), the class's fallback applies: "primary" (the
cluster's primary: from `primaries`, else the last one lagrouter named) or
"error" (Unavailable). Either is logged (logger "lagrouter") and counted
(Client.stats()); for `retry_after` seconds after such a failure the client
goes to the fallback without asking again, so an outage costs one timeout,
not one per read.

Client composes the parts: daemon_http (the HTTP exchange with the daemon
and its answers), decision / decision_cache (Server, Decision, the cache),
session_routing (session reads), pools and drivers (database connections).
"""
from __future__ import annotations

import contextlib
import logging
import os
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Iterator, Mapping, Optional, TypeVar, Union

from . import errors
from .daemon_http import (DaemonHTTP, Unreachable, duration_text, is_route_answer, route_path,
                          servers_of_answer)
from .decision import Decision, Server
from .decision_cache import DecisionCache
from .drivers import Driver
from .pools import Pool, ServerPools
from .session import NO_SERVER, Session
from .session_routing import SessionRouter

__all__ = ["Client", "DEFAULT_URL", "Decision", "Server", "duration_text"]

log = logging.getLogger("lagrouter")

_C = TypeVar("_C", bound="Client")

DEFAULT_URL = "http://127.0.0.1:8432"


class Client:
    """A client of one lagrouter daemon; safe to share between threads.

    One Client is meant to be made once and used by every thread of the
    process: route(), read(), write(), connection(), record_write(),
    invalidate() and stats() may run in any number of threads at once. Each
    thread keeps its own HTTP connection to the daemon; the decision cache
    and the counters are shared. Cache reads take no lock (one dict lookup);
    its updates (a new answer, a server dropped after a connection error,
    invalidate()) take one lock, so none is lost. In any interleaving a
    cached decision is used only before its own expires_at, which is never
    later than the daemon's valid_for_ms allows (tests/test_threads.py).
    Two threads that miss the cache at once both ask the daemon; the later
    answer is the one kept. The pool (ServerPools, AppPools or the
    application's own Pool) is called from all these threads too.

    As a context manager (`with lagrouter.Client(...) as client:`) it is
    closed at the end of the block; see close().

    url            the daemon (default $LAGROUTER_URL, else http://127.0.0.1:8432)
    token          API token (default $LAGROUTER_TOKEN); sent as a Bearer token
    timeout        seconds one request to lagrouter may take (default 0.05)
    cache          cache decisions (default True)
    max_cache_age  a cached decision is asked again after this many seconds
                   even when still valid, so a replica that became eligible
                   gets its share (default 1.0; never longer than valid_for_ms)
    driver         lagrouter.Postgres(...) or lagrouter.MySQL(...): opens
                   connections for read()/write()
    pool           the application's pools (lagrouter.AppPools) instead of
                   the client's own ServerPools(driver)
    fallbacks      {class: "primary" | "error"} when lagrouter cannot be asked
    default_fallback  for classes not in `fallbacks` (default "primary")
    primaries      {cluster: "host:port"}: the primary for that fallback;
                   without it, the last primary lagrouter named
    retry_after    seconds to use the fallback without asking again after
                   lagrouter could not be asked (default 1.0)
    session_wait   the wait of session reads that give none (default 0.05 s;
                   None: none, the class's max_wait): a session moves to
                   another replica only with a proof from on-demand probes,
                   which needs a wait; without one its reads stay on the
                   server of its last read, or go to the class's fallback
    ssl_context    for https URLs (default: the system's CAs)
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 0.05, cache: bool = True, max_cache_age: float = 1.0,
                 driver: Optional[Driver] = None, pool: Optional[Pool] = None,
                 fallbacks: Optional[Mapping[str, str]] = None, default_fallback: str = "primary",
                 primaries: Optional[Mapping[str, str]] = None, retry_after: float = 1.0,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 session_wait: Union[float, str, None] = 0.05) -> None:
        url = url or os.environ.get("LAGROUTER_URL") or DEFAULT_URL
        token = token if token is not None else os.environ.get("LAGROUTER_TOKEN")
        self._daemon = DaemonHTTP(url, token, ssl_context)
        self.url = url
        self.timeout = timeout
        self._cache_on = cache
        self._max_cache_age = max_cache_age
        for cls, mode in (fallbacks or {}).items():
            if mode not in ("primary", "error"):
                raise ValueError("fallback of class %r must be 'primary' or 'error', not %r"
                                 % (cls, mode))
        if default_fallback not in ("primary", "error"):
            raise ValueError("default_fallback must be 'primary' or 'error'")
        self._fallbacks = dict(fallbacks or {})
        self._default_fallback = default_fallback
        self._primaries: dict[str, Server] = {}
        for cluster, address in (primaries or {}).items():
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("primary of cluster %r must be 'host:port', not %r"
                                 % (cluster, address))
            self._primaries[cluster] = Server(name="primary", host=host, port=int(port),
                                              role="primary")
        self._learned: dict[str, Server] = {}
        self._retry_after = retry_after
        if session_wait is not None:
            duration_text(session_wait)  # raises ValueError now, not at the first read
        self.session_wait = session_wait
        self._sessions = SessionRouter(self._ask, self._count, url)
        self._down_until = 0.0
        self.driver = driver
        self._pool: Optional[Pool] = pool if pool is not None else (ServerPools(driver) if driver else None)
        self._cache = DecisionCache()
        self._stats_lock = threading.Lock()
        self._stats: dict[str, int] = {}

    # -- routing -----------------------------------------------------------

    def route(self, cluster: str, cls: str, after: Optional[str] = None,
              wait: Union[float, str, None] = None,
              session: Optional[Session] = None) -> Decision:
        """The Decision for a read of class `cls` on `cluster`.

        after    a replication position the read must see (read-your-writes);
                 or `session`, a lagrouter.Session, for its position on this cluster
        wait     up to this long (seconds, or a text like "50ms") for an
                 on-demand probe when no replica qualifies yet (the daemon caps it);
                 session reads without one wait `session_wait`
        session  a lagrouter.Session: read-your-writes (its position, unless
                 `after` is given) and monotonic reads. The request carries the
                 route token of the session's last read of `cluster`; the
                 answer's token is stored in the session before this returns
                 (the read is expected to go where the Decision says; read()
                 does). When lagrouter cannot be asked and the client falls
                 back to the primary, "s1." (no server known) is stored. A token
                 the daemon rejects (400 bad_session: a hand-made or corrupted
                 token) is reset to "s1." and the request asked once more, counted
                 as "session_resets" in stats(): "s1." is always safe, it only
                 makes the next move to another replica need a proof.
                 Never answered from the decision cache.
        Raises BadRequest, Unauthorized, Forbidden, NoEligibleServer, and
        Unavailable when lagrouter cannot be asked and the class's fallback is "error".
        """
        if session is not None:
            return self._sessions.route(cluster, cls, after,
                                        self.session_wait if wait is None else wait, session)
        if after is None and self._cache_on:
            d = self._cache.pick(cluster, cls, time.monotonic())
            if d is not None:
                return d
        return self._ask(cluster, cls, after, wait)

    def invalidate(self, cluster: Optional[str] = None, cls: Optional[str] = None) -> None:
        """Forgets cached decisions (of one cluster, or one cluster and class)."""
        self._cache.invalidate(cluster, cls)

    def stats(self) -> dict[str, int]:
        """Counters: route_requests, route_errors, fallback_primary,
        fallback_error, reroutes, session_resets, settle_timeouts."""
        with self._stats_lock:
            return dict(self._stats)

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self._stats[name] = self._stats.get(name, 0) + 1

    def _ask(self, cluster: str, cls: str, after: Optional[str],
             wait: Union[float, str, None], session: Optional[str] = None) -> Decision:
        started = time.monotonic()
        if started < self._down_until:
            return self._fallback(cluster, cls, "lagrouter could not be asked less than %gs ago"
                                  % self._retry_after, count_only=True)
        path, wait_seconds = route_path(cluster, cls, after, wait, session)
        self._count("route_requests")
        try:
            status, body = self._daemon.get(path, self.timeout + wait_seconds)
        except Unreachable as e:
            self._down_until = time.monotonic() + self._retry_after
            return self._fallback(cluster, cls, str(e))
        if is_route_answer(status, body):
            return self._decide(cluster, cls, body, started,
                                cache=after is None and session is None)
        self._count("route_errors")
        if status in (400, 401, 403, 404, 405) or (
                status == 503 and isinstance(body, dict)
                and body.get("error") == "no_eligible_server"):
            raise errors.from_answer(status, body)
        # A 5xx of a proxy in between, or a body that is not the API's: as if unreachable.
        return self._fallback(cluster, cls, "unexpected answer %d from %s" % (status, self.url))

    def _decide(self, cluster: str, cls: str, body: dict[str, Any], started: float,
                cache: bool) -> Decision:
        chosen, servers = servers_of_answer(body)
        if chosen.role == "primary":
            self._learned[cluster] = chosen
        # Valid from when the request was sent, not when it was answered:
        # valid_for_ms less the time the request took, never longer.
        if cache and self._cache_on:
            decisions = [Decision(cluster, cls, s, body["reason"],
                                  started + s.valid_for_ms / 1000.0, servers, True)
                         for s in servers]
            self._cache.store(cluster, cls, decisions,
                              min(max(d.expires_at for d in decisions),
                                  started + self._max_cache_age))
        # A session answer without a token (a daemon without sessions) is
        # stored as NO_SERVER by SessionRouter: nothing is known.
        token = body.get("session")
        position = body.get("position")
        return Decision(cluster, cls, chosen, body["reason"],
                        started + chosen.valid_for_ms / 1000.0, servers, False,
                        session=token if isinstance(token, str) else None,
                        position=position if isinstance(position, str) else None)

    def _fallback(self, cluster: str, cls: str, why: str, count_only: bool = False) -> Decision:
        mode = self._fallbacks.get(cls, self._default_fallback)
        primary = self._primaries.get(cluster) or self._learned.get(cluster)
        if mode == "primary" and primary is None:
            mode, why = "error", why + "; no primary of cluster %r known (pass primaries=)" % cluster
        self._count("fallback_" + mode)
        if not count_only:
            log.warning("lagrouter fallback for cluster=%s class=%s: %s (%s)", cluster, cls,
                        "the primary %s:%d" % (primary.host, primary.port)
                        if mode == "primary" and primary is not None else "error", why)
        if mode == "error":
            raise errors.Unavailable("lagrouter at %s could not be asked for cluster %r, class %r: %s"
                                     % (self.url, cluster, cls, why))
        assert primary is not None  # mode "primary" has one, see above
        server = Server(name=primary.name, host=primary.host, port=primary.port, role="primary")
        return Decision(cluster=cluster, cls=cls, server=server, reason="lagrouter_unavailable",
                        expires_at=time.monotonic(), servers=(server,), cached=False,
                        session=NO_SERVER)

    # -- connections -------------------------------------------------------

    @contextlib.contextmanager
    def read(self, cluster: str, cls: str, session: Optional[Session] = None,
             after: Optional[str] = None,
             wait: Union[float, str, None] = None) -> Iterator[Any]:
        """A connection to the server a read of `cls` may use now, from that
        server's pool; back to the pool (rolled back) at the end of the block.
        A connection that cannot be had re-routes once (without that server).
        With a `session`: read-your-writes and monotonic reads (see route());
        the re-route is a session read too, so the session's token names the
        server the connection was had from."""
        d = self.route(cluster, cls, after=after, wait=wait, session=session)
        with self._use(d, after=after, wait=wait, session=session) as conn:
            yield conn

    @contextlib.contextmanager
    def write(self, cluster: str, cls: str, session: Optional[Session] = None) -> Iterator[Any]:
        """A connection to the primary (`cls` must be a 0 s class). The block's
        work is committed at its end; with a `session`, the primary's position
        after the commit is recorded in it for later reads (read-your-writes).
        An exception in the block rolls back."""
        d = self.route(cluster, cls)
        if d.role != "primary":
            raise errors.NotPrimary("class %r routed to %s, a %s: writes need a 0 s class"
                                    % (cls, d.server.name, d.role))
        with self._use(d) as conn:
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):
                    self._need_driver().rollback(conn)
                raise
            self._need_driver().commit(conn)
            if session is not None:
                self.record_write(cluster, conn, session)

    def record_write(self, cluster: str, conn: Any, session: Session) -> str:
        """Records in `session` the position of a write `conn` (a connection
        to the primary of `cluster`) has just committed; returns it. For
        connections the application got by other means."""
        position = self._need_driver().position(conn)
        session.record(cluster, position)
        return position

    @contextlib.contextmanager
    def connection(self, decision: Decision) -> Iterator[Any]:
        """A pooled connection to the server of `decision` (from route());
        with decision.settle, after the driver's settle_visibility, as read()."""
        with self._use(decision, reroute=False) as conn:
            yield conn

    def close(self) -> None:
        """Closes the client's idle database connections (those of its own
        ServerPools; the application's pools are the application's to close)
        and the HTTP connections to the daemon of every thread. Closing again
        is harmless. Call it once the threads are done with the client: a
        request in flight in another thread then fails and takes the
        fallback. A client used after close() opens connections anew."""
        if isinstance(self._pool, ServerPools):
            self._pool.close()
        self._daemon.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def _need_driver(self) -> Driver:
        if self.driver is None:
            raise ValueError("this needs a driver: Client(driver=lagrouter.Postgres(...)) or "
                             "lagrouter.MySQL(...)")
        return self.driver

    @contextlib.contextmanager
    def _use(self, d: Decision, reroute: bool = True, after: Optional[str] = None,
             wait: Union[float, str, None] = None,
             session: Optional[Session] = None) -> Iterator[Any]:
        if self._pool is None:
            raise ValueError("read() and write() need Client(driver=...) or Client(pool=...)")
        errs: tuple[type[BaseException], ...] = (OSError,)
        if self.driver is not None:
            errs = self.driver.connection_errors
        try:
            conn = self._pool.acquire(d.server)
        except errs as e:
            if not reroute:
                raise
            self._count("reroutes")
            log.warning("lagrouter: cannot connect to %s (%s:%d) for cluster=%s class=%s: %s; "
                        "routing once more", d.server.name, d.host, d.port, d.cluster, d.cls, e)
            self._forget(d)
            d = self.route(d.cluster, d.cls, after=after, wait=wait, session=session)
            conn = self._pool.acquire(d.server)
        broken = False
        try:
            if d.settle:
                self._settle(d, conn)
            yield conn
        except errs:
            broken = True
            self._forget(d)
            raise
        finally:
            self._pool.release(d.server, conn, broken)

    def _settle(self, d: Decision, conn: Any) -> None:
        """See Decision.settle and Postgres.settle_visibility."""
        settle = getattr(self.driver, "settle_visibility", None)
        if settle is not None and not settle(conn):
            self._count("settle_timeouts")
            log.warning("lagrouter: commits in flight on the primary %s of cluster=%s not "
                        "visible in time; the session read goes on", d.server.name, d.cluster)

    def _forget(self, d: Decision) -> None:
        """Stops using d's server from the cache of its cluster and class."""
        self._cache.forget_server(d.cluster, d.cls, d.server.name)

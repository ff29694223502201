"""Connections per server: the client's own pools, or the application's.

A pool (the Pool protocol) has two methods, called by Client.read() and
Client.write():
    acquire(server) -> connection        server: a lagrouter.Server
    release(server, connection, broken)  broken: the connection failed; close it
ServerPools is the client's own (one pool of idle connections per server,
opened with the client's driver). AppPools hands every server to a pool of
the application's, made once per server by a function it gives. Both may be
used by many threads at once, as the client is.
"""
from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .decision import Server
    from .drivers import Driver


@runtime_checkable
class Pool(Protocol):
    """What Client(pool=...) needs: ServerPools and AppPools are two; any
    object with these methods is one. Called from every thread that uses
    the client, so an implementation must be thread-safe."""

    def acquire(self, server: Server) -> Any:
        """A connection to `server` (its host and port), new or idle. The
        driver's connection_errors raised here make the client re-route once."""

    def release(self, server: Server, conn: Any, broken: bool = False) -> None:
        """Takes back a connection acquire() gave; `broken`: it failed (or
        its block raised one of the driver's connection errors): close it."""


class ServerPools:
    """Idle connections kept per (host, port), at most `max_idle` each;
    connections are opened on demand with `driver.connect(host, port)`."""

    def __init__(self, driver: Driver, max_idle: int = 8) -> None:
        self._driver = driver
        self._max_idle = max_idle
        self._idle: collections.defaultdict[tuple[str, int], collections.deque[Any]] = \
            collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def acquire(self, server: Server) -> Any:
        key = (server.host, server.port)
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._driver.connect(server.host, server.port)
            if self._driver.usable(conn):
                return conn
            _close_quietly(self._driver, conn)

    def release(self, server: Server, conn: Any, broken: bool = False) -> None:
        if not broken and self._driver.usable(conn):
            try:
                self._driver.reset(conn)
            except Exception:  # noqa: BLE001 -- a connection that cannot roll back is closed
                broken = True
        else:
            broken = True
        if not broken:
            with self._lock:
                idle = self._idle[(server.host, server.port)]
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
        _close_quietly(self._driver, conn)

    def close(self) -> None:
        """Closes every idle connection (connections in use are closed when
        they come back, if the pool is full then). Closing twice is harmless."""
        with self._lock:
            idle, self._idle = self._idle, collections.defaultdict(collections.deque)
        for conns in idle.values():
            for conn in conns:
                _close_quietly(self._driver, conn)


class AppPools:
    """The application's own pools: `make_pool(server)` is called once per
    (host, port) and returns a pool with `get`/`put` methods (by default
    getconn/putconn, as psycopg_pool.ConnectionPool has)."""

    def __init__(self, make_pool: Callable[[Server], Any], get: str = "getconn",
                 put: str = "putconn") -> None:
        self._make_pool = make_pool
        self._get, self._put = get, put
        self._pools: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def pool(self, server: Server) -> Any:
        """The application's pool of `server`, made on first use."""
        key = (server.host, server.port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = self._make_pool(server)
        return pool

    def acquire(self, server: Server) -> Any:
        return getattr(self.pool(server), self._get)()

    def release(self, server: Server, conn: Any, broken: bool = False) -> None:
        if broken:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        getattr(self.pool(server), self._put)(conn)


def _close_quietly(driver: Driver, conn: Any) -> None:
    try:
        driver.close(conn)
    except Exception:  # noqa: BLE001 -- closing a dead connection may fail; it is gone either way
        pass

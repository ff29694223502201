"""Connections per server: the client's own pools, or the application's.

A pool object has two methods, called by Client.read() and Client.write():
    acquire(server) -> connection        server: a lagrouter.Server
    release(server, connection, broken)  broken: the connection failed; close it
ServerPools is the client's own (one pool of idle connections per server,
opened with the client's driver). AppPools hands every server to a pool of
the application's, made once per server by a function it gives.
"""
import collections
import threading


class ServerPools:
    """Idle connections kept per (host, port), at most `max_idle` each;
    connections are opened on demand with `driver.connect(host, port)`."""

    def __init__(self, driver, max_idle=8):
        self._driver = driver
        self._max_idle = max_idle
        self._idle = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def acquire(self, server):
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

    def release(self, server, conn, broken=False):
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

    def close(self):
        """Closes every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, collections.defaultdict(collections.deque)
        for conns in idle.values():
            for conn in conns:
                _close_quietly(self._driver, conn)


class AppPools:
    """The application's own pools: `make_pool(server)` is called once per
    (host, port) and returns a pool with `get`/`put` methods (by default
    getconn/putconn, as psycopg_pool.ConnectionPool has)."""

    def __init__(self, make_pool, get="getconn", put="putconn"):
        self._make_pool = make_pool
        self._get, self._put = get, put
        self._pools = {}
        self._lock = threading.Lock()

    def pool(self, server):
        key = (server.host, server.port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = self._make_pool(server)
        return pool

    def acquire(self, server):
        return getattr(self.pool(server), self._get)()

    def release(self, server, conn, broken=False):
        if broken:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        getattr(self.pool(server), self._put)(conn)


def _close_quietly(driver, conn):
    try:
        driver.close(conn)
    except Exception:  # noqa: BLE001 -- closing a dead connection may fail; it is gone either way
        pass

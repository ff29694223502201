"""Database drivers: how the client opens a connection to the server a route
names, takes a replication position after a commit, and cleans a connection
before it goes back to its pool. One class per engine; the driver modules are
imported only when such a driver is made (the extras `postgres` and `mysql`).

Connections are typed `Any`: they are the engine module's own (a
psycopg.Connection, a pymysql.connections.Connection), and the client hands
them to the application as they are.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, cast, runtime_checkable


@runtime_checkable
class Driver(Protocol):
    """What the client and its ServerPools need from a driver: Postgres and
    MySQL are two; any object with these methods and attribute is one."""

    connection_errors: tuple[type[BaseException], ...]
    """The exceptions that mean a connection cannot be had or has failed
    (the client drops that server from its cache and re-routes once)."""

    def connect(self, host: str, port: int) -> Any:
        """A new connection to host:port (those of the routed server)."""

    def usable(self, conn: Any) -> bool:
        """The connection is open and not broken."""

    def reset(self, conn: Any) -> None:
        """Cleans a connection before it goes back to its pool."""

    def commit(self, conn: Any) -> None: ...

    def rollback(self, conn: Any) -> None: ...

    def close(self, conn: Any) -> None: ...

    def position(self, conn: Any) -> str:
        """The replication position after a commit on `conn` (a connection
        to the primary): what a Session records for read-your-writes."""


class _Driver:
    """What both engines' DB-API connections do alike."""

    connection_errors: tuple[type[BaseException], ...]

    def reset(self, conn: Any) -> None:
        conn.rollback()

    def commit(self, conn: Any) -> None:
        conn.commit()

    def rollback(self, conn: Any) -> None:
        conn.rollback()

    def close(self, conn: Any) -> None:
        conn.close()


class Postgres(_Driver):
    """psycopg 3. Keyword arguments go to psycopg.connect() (dbname, user,
    password, sslmode, ...); host and port come from the route."""

    def __init__(self, connect_timeout: float = 2, **connect_kwargs: Any) -> None:
        import psycopg  # the `postgres` extra

        self._psycopg = psycopg
        self._kwargs: dict[str, Any] = dict(connect_kwargs, connect_timeout=connect_timeout)
        self.connection_errors = (psycopg.OperationalError, psycopg.InterfaceError)

    def connect(self, host: str, port: int) -> Any:
        return self._psycopg.connect(host=host, port=port, **self._kwargs)

    def position(self, conn: Any) -> str:
        # The insert position, on the connection that committed: at or past
        # our commit record even with synchronous_commit = off, where
        # pg_current_wal_lsn() (the write position) can still be before it.
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        conn.rollback()  # the SELECT opened a transaction: end it
        return cast(str, row[0])

    def usable(self, conn: Any) -> bool:
        return not conn.closed and not conn.broken


class MySQL(_Driver):
    """PyMySQL, for MariaDB and MySQL. Keyword arguments go to
    pymysql.connect() (database, user, password, ...); host and port come
    from the route."""

    def __init__(self, connect_timeout: float = 2, read_timeout: Optional[float] = None,
                 **connect_kwargs: Any) -> None:
        import pymysql  # the `mysql` extra

        self._pymysql = pymysql
        self._kwargs: dict[str, Any] = dict(connect_kwargs, connect_timeout=connect_timeout)
        if read_timeout is not None:
            self._kwargs["read_timeout"] = read_timeout
            self._kwargs.setdefault("write_timeout", read_timeout)
        self.connection_errors = (pymysql.OperationalError, pymysql.InterfaceError)

    def connect(self, host: str, port: int) -> Any:
        return self._pymysql.connect(host=host, port=port, **self._kwargs)

    def position(self, conn: Any) -> str:
        # MariaDB: this session's last GTID (domain-server-seq); the server's
        # whole binlog position when the session wrote none. MySQL: the GTID set.
        with conn.cursor() as cur:
            if "MariaDB" in conn.get_server_info():
                cur.execute("SELECT @@last_gtid, @@gtid_binlog_pos")
                last, binlog = cur.fetchone()
                return cast(str, last or binlog)
            cur.execute("SELECT @@gtid_executed")
            return cast(str, cur.fetchone()[0])

    def usable(self, conn: Any) -> bool:
        return bool(conn.open)

"""Database drivers: how the client opens a connection to the server a route
names, takes a replication position after a commit, and cleans a connection
before it goes back to its pool. One class per engine; the driver modules are
imported only when such a driver is made (the extras `postgres` and `mysql`).

Connections are typed `Any`: they are the engine module's own (a
psycopg.Connection, a pymysql.connections.Connection), and the client hands
them to the application as they are.
"""
from __future__ import annotations

import time
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

    # Optional (not part of the protocol, so drivers written before it still
    # are Drivers): settle_visibility(conn) -> bool, called on a connection to
    # the primary before a session read moves there from a replica; see
    # Postgres.settle_visibility. Without it the client goes on at once.


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

    # Why: PostgreSQL makes a commit visible on a standby a moment before the
    # primary does. The committing backend flushes its commit record (which
    # streams and replays: the standby shows it), marks it committed in the
    # commit log, may wait for synchronous standbys, and only then leaves the
    # proc array, which is when new snapshots on the primary include it. So a
    # session read that moves from a replica to the primary could miss a
    # commit its previous read saw. Until it is visible such a transaction
    # keeps its id and its backend is active (not idle in its transaction),
    # so this waits until no active backend holds an id below the next id
    # read on arrival. pg_xact_status() cannot tell: it reports a transaction
    # still in the proc array as in progress whatever the commit log says.
    _NEXT_XID = ("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
                 " + age(pg_snapshot_xmax(pg_current_snapshot())::xid)")
    _ACTIVE_BELOW = (
        "SELECT count(*) FROM pg_stat_get_activity(NULL) AS a"
        " WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()"
        " AND coalesce(a.state, '') NOT LIKE 'idle in transaction%%'"
        " AND (" + _NEXT_XID + ") - age(a.backend_xid) < %s")

    def settle_visibility(self, conn: Any, timeout: float = 0.05,
                          interval: float = 0.0005) -> bool:
        """Waits (up to `timeout` s, polling every `interval`) until every
        commit flushed on this primary before the call is visible to new
        snapshots; False when the wait ran out (a long statement still
        running also keeps it waiting). Needs PostgreSQL 13 or later, and a
        role that sees every backend's transaction (pg_read_all_stats, e.g.
        through pg_monitor): other roles see their own backends only, so for
        them this waits for nothing. lagrouter proves the same itself when the
        session read is asked with a wait (the client's session_wait).
        Leaves no transaction open."""
        deadline = time.monotonic() + timeout
        try:
            next_xid = conn.execute(self._NEXT_XID).fetchone()[0]
            while conn.execute(self._ACTIVE_BELOW, (next_xid,)).fetchone()[0] > 0:
                if time.monotonic() >= deadline:
                    return False
                conn.rollback()  # a new snapshot even in repeatable read
                time.sleep(interval)
            return True
        finally:
            conn.rollback()  # the SELECTs opened a transaction: end it


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

    def settle_visibility(self, conn: Any) -> bool:
        """Does nothing. The binlog is written before the storage engine
        commits, so a replica may in principle apply a transaction a moment
        before the primary shows it too (semi-sync AFTER_SYNC waits right
        there), but neither server tells which transactions are in that
        state, so there is nothing here to wait on."""
        return True

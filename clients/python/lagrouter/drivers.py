"""Database drivers: how the client opens a connection to the server a route
names, takes a replication position after a commit, and cleans a connection
before it goes back to its pool. One class per engine; the driver modules are
imported only when such a driver is made (the extras `postgres` and `mysql`).
"""


class _Driver:
    """What both engines' DB-API connections do alike."""

    def reset(self, conn):
        conn.rollback()

    def commit(self, conn):
        conn.commit()

    def rollback(self, conn):
        conn.rollback()

    def close(self, conn):
        conn.close()


class Postgres(_Driver):
    """psycopg 3. Keyword arguments go to psycopg.connect() (dbname, user,
    password, sslmode, ...); host and port come from the route."""

    def __init__(self, connect_timeout=2, **connect_kwargs):
        import psycopg  # the `postgres` extra

        self._psycopg = psycopg
        self._kwargs = dict(connect_kwargs, connect_timeout=connect_timeout)
        self.connection_errors = (psycopg.OperationalError, psycopg.InterfaceError)

    def connect(self, host, port):
        return self._psycopg.connect(host=host, port=port, **self._kwargs)

    def position(self, conn):
        # The insert position, on the connection that committed: at or past
        # our commit record even with synchronous_commit = off, where
        # pg_current_wal_lsn() (the write position) can still be before it.
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        conn.rollback()  # the SELECT opened a transaction: end it
        return row[0]

    def usable(self, conn):
        return not conn.closed and not conn.broken


class MySQL(_Driver):
    """PyMySQL, for MariaDB and MySQL. Keyword arguments go to
    pymysql.connect() (database, user, password, ...); host and port come
    from the route."""

    def __init__(self, connect_timeout=2, read_timeout=None, **connect_kwargs):
        import pymysql  # the `mysql` extra

        self._pymysql = pymysql
        self._kwargs = dict(connect_kwargs, connect_timeout=connect_timeout)
        if read_timeout is not None:
            self._kwargs["read_timeout"] = read_timeout
            self._kwargs.setdefault("write_timeout", read_timeout)
        self.connection_errors = (pymysql.OperationalError, pymysql.InterfaceError)

    def connect(self, host, port):
        return self._pymysql.connect(host=host, port=port, **self._kwargs)

    def position(self, conn):
        # MariaDB: this session's last GTID (domain-server-seq); the server's
        # whole binlog position when the session wrote none. MySQL: the GTID set.
        with conn.cursor() as cur:
            if "MariaDB" in conn.get_server_info():
                cur.execute("SELECT @@last_gtid, @@gtid_binlog_pos")
                last, binlog = cur.fetchone()
                return last or binlog
            cur.execute("SELECT @@gtid_executed")
            return cur.fetchone()[0]

    def usable(self, conn):
        return conn.open

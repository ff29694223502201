#!/usr/bin/python3
"""Readers of the freshness checker's `--path client`: reads through the
Python client (clients/python, cache on), reported line by line for the
checker to judge. The checker (tests/chaos/client_readers.cc) decides
whether a read was fresh enough from its own commit log; this program only
reads and says what it saw and when it asked.

  client_reader.py --engine postgres|mariadb --daemon-port P --seconds N
                   --readers N --seed N --classes c300ms,c1s,c10s --sql SQL

Each reader thread loops for N seconds. Most iterations are a plain read in
a random class: `with client.read("shop", cls)` then SQL (the checker's:
max(id) of seq, whether the server is a replica, its port). One in five is a
read-your-writes round: a write on the primary through `client.write` into
table client_ryw with a Session, the session passed on as its string (as a cookie
would be), and a read in a random class routed with it, which must see the
row.

Sessions (issue 23; $CHAOS_CLIENT_SESSIONS=1, or --sessions): each reader is
one user with one lagrouter.Session for the whole run. Every read is
`client.read("shop", cls, session=s)` (never cached; monotonic reads and
read-your-writes), and a read-your-writes round writes with that same session
and reads with Session.parse(str(s)), which the reader keeps using: the token
travels as a string. Without it (the baseline), plain reads use the cached
route, as today. Either way each line names its reader, so the checker can
judge, per reader, whether a read showed less than an earlier one (went back):
a violation with sessions, measured without.

Lines on stdout (times: time.monotonic_ns(), CLOCK_MONOTONIC, the
checker's clock):

  M MODE                           (first: "session" or "plain")
  R CLASS SENT_NS DURATION_US OUTCOME SEEN REPLICA PORT SERVER BOUND_MS READER
  W CLASS SENT_NS DURATION_US OUTCOME WRITTEN_ID FOUND REPLICA PORT SERVER SEEN READER
  S {"client stats": ...}          (once, at the end)

OUTCOME: ok, 503 (NoEligibleServer), route_error (another LagrouterError),
read_error (the database failed), write_error (W only: the write failed).
READER: the reader's index (its session). SEEN: max(id) of seq that the read
showed (0 when it failed).
"""
import argparse
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "clients", "python"))
import lagrouter  # noqa: E402

PASSWORD = os.environ.get("LAGROUTER_DB_PASSWORD", "lagrouter-demo-pw")
out_lock = threading.Lock()


def emit(*fields):
    line = " ".join(str(f) for f in fields)
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def query(conn, sql, args=None, fetch=True):
    if hasattr(conn, "execute"):  # psycopg
        cur = conn.execute(sql, args)
        return cur.fetchone() if fetch else None
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone() if fetch else None


class Reader:
    def __init__(self, opts, client, index):
        self.o = opts
        self.client = client
        self.rng = random.Random(opts.seed + index)
        self.index = index
        self.next_id = 0
        self.postgres = opts.engine == "postgres"
        self.table = "client_ryw" if self.postgres else "shop.client_ryw"
        self.errors = self.client.driver.connection_errors
        # Sessions: one for the whole run, as one user's cookie; else None.
        self.session = lagrouter.Session() if opts.sessions else None

    def read(self, cls):
        sent = time.monotonic_ns()
        try:
            with self.client.read("shop", cls, session=self.session) as conn:
                (value,) = query(conn, self.o.sql)
            seen, replica, port = str(value).split()
            d_us = (time.monotonic_ns() - sent) // 1000
            emit("R", cls, sent, d_us, "ok", seen, replica, port, "port" + port, -1, self.index)
        except lagrouter.NoEligibleServer:
            emit("R", cls, sent, 0, "503", 0, "-", 0, "-", -1, self.index)
        except lagrouter.LagrouterError:
            emit("R", cls, sent, 0, "route_error", 0, "-", 0, "-", -1, self.index)
        except (self.errors + (OSError,)):
            emit("R", cls, sent, 0, "read_error", 0, "-", 0, "-", -1, self.index)

    def read_your_write(self, cls):
        self.next_id += 1
        ident = (self.o.seed % 100000) * 10**9 + self.index * 10**7 + self.next_id
        session = self.session if self.session is not None else lagrouter.Session()
        sent = time.monotonic_ns()
        try:
            with self.client.write("shop", "primary", session=session) as conn:
                query(conn, "INSERT INTO " + self.table + " (id) VALUES (%s)", (ident,), False)
        except (lagrouter.LagrouterError,) + self.errors + (OSError,):
            emit("W", cls, sent, 0, "write_error", ident, 0, "-", 0, "-", 0, self.index)
            return
        session = lagrouter.Session.parse(str(session))  # travels as a string, as in a cookie
        if self.session is not None:
            self.session = session  # and the user goes on with it
        sent = time.monotonic_ns()
        try:
            with self.client.read("shop", cls, session=session) as conn:
                (found,) = query(conn, "SELECT count(*) FROM " + self.table + " WHERE id = %s",
                                 (ident,))
                (value,) = query(conn, self.o.sql)
            seen, replica, port = str(value).split()
            d_us = (time.monotonic_ns() - sent) // 1000
            emit("W", cls, sent, d_us, "ok", ident, found, replica, port, "port" + port, seen,
                 self.index)
        except lagrouter.NoEligibleServer:
            emit("W", cls, sent, 0, "503", ident, 0, "-", 0, "-", 0, self.index)
        except lagrouter.LagrouterError:
            emit("W", cls, sent, 0, "route_error", ident, 0, "-", 0, "-", 0, self.index)
        except (self.errors + (OSError,)):
            emit("W", cls, sent, 0, "read_error", ident, 0, "-", 0, "-", 0, self.index)

    def run(self, until):
        while time.monotonic() < until:
            cls = self.rng.choice(self.o.classes)
            if self.rng.random() < 0.2:
                self.read_your_write(cls)
            else:
                self.read(cls)
            time.sleep(0.001)  # leave CPU to the servers and the daemon, as the checker does


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--engine", choices=["postgres", "mariadb"], required=True)
    p.add_argument("--daemon-port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--classes", required=True)
    p.add_argument("--sql", required=True)
    p.add_argument("--sessions", action="store_true",
                   default=os.environ.get("CHAOS_CLIENT_SESSIONS", "") not in ("", "0"),
                   help="a Session per reader (default: $CHAOS_CLIENT_SESSIONS=1)")
    o = p.parse_args()
    o.classes = o.classes.split(",")
    if o.engine == "postgres":
        driver = lagrouter.Postgres(dbname="shop", user="app", password=PASSWORD)
    else:
        driver = lagrouter.MySQL(database="shop", user="app", password=PASSWORD, read_timeout=2)
    client = lagrouter.Client("http://127.0.0.1:%d" % o.daemon_port, driver=driver)
    with client.write("shop", "primary") as conn:
        table = "client_ryw" if o.engine == "postgres" else "shop.client_ryw"
        query(conn, "CREATE TABLE IF NOT EXISTS " + table + " (id BIGINT PRIMARY KEY)", fetch=False)
    emit("M", "session" if o.sessions else "plain")
    until = time.monotonic() + o.seconds
    threads = [threading.Thread(target=Reader(o, client, i).run, args=(until,))
               for i in range(o.readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emit("S", json.dumps(client.stats(), sort_keys=True))
    client.close()


if __name__ == "__main__":
    main()

"""One Client shared by many threads, against a fake daemon (http.server in a
thread of the test): the decision cache stays right under contention, and the
client as a context manager closes what it opened. No real daemon, no
database: these run anywhere pytest does."""
import json
import random
import threading
import time
import urllib.parse

import pytest

import fake_daemon as fake_http
import lagrouter

CLUSTERS = {  # cluster -> (server name, weight)
    "shop": [("shop-r1", 1), ("shop-r2", 3)],
    "billing": [("billing-r1", 2), ("billing-r2", 1), ("billing-r3", 1)],
    "audit": [("audit-r1", 1)],
}
CLASSES = ("dashboard", "reports")


class FakeDaemon:
    """Answers GET /v1/route as lagrouter does, every answer a new generation
    ("reason": "gen-N") with its own valid_for_ms per server, all recorded:
    which (cluster, class) it was for, when it was answered, and for how long
    the daemon said each server stays valid."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = {}  # generation -> (cluster, class, answered_at, {server: valid_for_ms})
        self.requests = 0
        self.open_connections = 0
        self.random = random.Random(7)
        self.server, self.url = fake_http.serve(self._answer, self._opened, self._closed)

    def _opened(self):
        with self.lock:
            self.open_connections += 1

    def _closed(self):
        with self.lock:
            self.open_connections -= 1

    def _answer(self, path):
        body = self.answer(path)
        return (200 if "port" in body else 400), body

    def answer(self, path):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        cluster, cls = query.get("cluster"), query.get("class")
        if cluster not in CLUSTERS or cls not in CLASSES:
            return {"error": "unknown_cluster", "message": "no such cluster or class"}
        with self.lock:
            self.requests += 1
            generation = len(self.answers)
            valid = {name: self.random.randint(30, 250) for name, _ in CLUSTERS[cluster]}
            self.answers[generation] = (cluster, cls, time.monotonic(), valid)
        servers = [{"server": name, "host": "127.0.0.1", "port": 5000 + i, "role": "replica",
                    "weight": weight, "staleness_bound_ms": 10, "valid_for_ms": valid[name]}
                   for i, (name, weight) in enumerate(CLUSTERS[cluster])]
        return dict(servers[0], reason="gen-%d" % generation, servers=servers)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_daemon():
    d = FakeDaemon()
    yield d
    d.close()


class FlakyPool:
    """A Pool (lagrouter.Pool) whose connections are tokens; one acquire in
    four fails as a dead server's would, which makes the client drop that
    server from its cache and route once more."""

    def __init__(self, seed):
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def acquire(self, server):
        with self.lock:
            fail = self.random.random() < 0.25
        if fail:
            raise ConnectionRefusedError("server %s is down" % server.name)
        return ("conn", server.name)

    def release(self, server, conn, broken=False):
        pass


def test_threads_share_the_cache(fake_daemon):
    """16 threads route, read (with connection errors that drop servers from
    the cache), read with a position (never cached) and invalidate, all at
    once, on 6 (cluster, class) keys for 1.5 s. Every decision any thread
    gets is one the daemon gave for that very cluster and class, names a
    server of it with the validity the daemon gave that server, is never
    used past the daemon's valid_for_ms counted from the daemon's answer,
    and the cache still answers most reads."""
    assert isinstance(FlakyPool(0), lagrouter.Pool)
    client = lagrouter.Client(fake_daemon.url, timeout=5.0, pool=FlakyPool(1))
    keys = [(cluster, cls) for cluster in CLUSTERS for cls in CLASSES]
    problems, calls, cached = [], [0], [0]
    count_lock = threading.Lock()
    stop = time.monotonic() + 1.5
    start = threading.Barrier(16)

    def check(d, cluster, cls, asked_at):
        generation = int(d.reason[len("gen-"):])
        a_cluster, a_cls, answered_at, valid = fake_daemon.answers[generation]
        if (d.cluster, d.cls) != (cluster, cls) or (a_cluster, a_cls) != (cluster, cls):
            return "asked %s/%s, got %s/%s of an answer for %s/%s" % (
                cluster, cls, d.cluster, d.cls, a_cluster, a_cls)
        if d.server.name not in valid or d.valid_for_ms != valid[d.server.name]:
            return "server %s valid_for %d: not as answered %r" % (
                d.server.name, d.valid_for_ms, valid)
        if d.expires_at > answered_at + d.valid_for_ms / 1000.0:
            return "expires %.6f after the daemon's bound" % (
                d.expires_at - answered_at - d.valid_for_ms / 1000.0)
        if d.cached and asked_at >= d.expires_at:
            return "a cached decision used %.6f s after it expired" % (asked_at - d.expires_at)
        return None

    def hammer(seed):
        rnd = random.Random(seed)
        n = hits = 0
        start.wait()
        while time.monotonic() < stop:
            cluster, cls = rnd.choice(keys)
            op = rnd.random()
            try:
                if op < 0.02:
                    client.invalidate(cluster if op < 0.01 else None)
                    continue
                asked_at = time.monotonic()
                if op < 0.10:
                    with client.read(cluster, cls):
                        pass
                    continue
                after = "0/%X" % rnd.randint(1, 1 << 30) if op < 0.13 else None
                d = client.route(cluster, cls, after=after)
            except ConnectionRefusedError:
                continue  # the reroute's server failed too: the read's own error
            except Exception as e:  # noqa: BLE001 -- any other is a failure of the test
                problems.append("%s: %r" % (type(e).__name__, e))
                return
            n += 1
            hits += d.cached
            if after is not None and d.cached:
                problems.append("a read with a position was served from the cache")
            problem = check(d, cluster, cls, asked_at)
            if problem:
                problems.append(problem)
        with count_lock:
            calls[0] += n
            cached[0] += hits

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert not problems, problems[:5]
    stats = client.stats()
    assert stats["route_requests"] == fake_daemon.requests  # the counters lose no count
    assert stats.get("reroutes", 0) > 0 and "fallback_primary" not in stats, stats
    assert calls[0] > 500 and cached[0] > calls[0] // 2, (calls, cached, stats)
    client.close()


def test_cache_spreads_by_weight_across_threads(fake_daemon):
    """A cached answer's servers are picked by weight, whichever thread picks."""
    client = lagrouter.Client(fake_daemon.url, timeout=5.0)
    picks = []
    lock = threading.Lock()

    def pick():
        mine = []
        for _ in range(400):
            d = client.route("shop", "dashboard")
            if d.cached:
                mine.append(d.server.name)
        with lock:
            picks.extend(mine)

    threads = [threading.Thread(target=pick) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    r1, r2 = picks.count("shop-r1"), picks.count("shop-r2")
    assert r1 + r2 == len(picks) > 500
    assert 2 <= r2 / max(r1, 1) <= 4.5, (r1, r2)  # weights 1 and 3
    client.close()


class FakeConnection:
    def __init__(self):
        self.closed = False


class FakeDriver(fake_http.NullDriver):
    """A lagrouter.Driver without a database: connections are objects that
    know whether they were closed."""

    def __init__(self):
        self.made = []
        self.lock = threading.Lock()

    def connect(self, host, port):
        conn = FakeConnection()
        with self.lock:
            self.made.append(conn)
        return conn

    def usable(self, conn):
        return not conn.closed

    def close(self, conn):
        conn.closed = True


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_client_as_context_manager_closes_what_it_opened(fake_daemon):
    driver = FakeDriver()
    assert isinstance(driver, lagrouter.Driver)
    done, closed = threading.Barrier(5), threading.Event()
    with lagrouter.Client(fake_daemon.url, timeout=5.0, driver=driver) as client:
        assert isinstance(client, lagrouter.Client)

        def reads():
            try:
                for cluster in CLUSTERS:  # with a position: each thread asks the daemon
                    with client.read(cluster, "reports", after="0/1") as conn:
                        assert not conn.closed
            finally:
                done.wait()
                closed.wait(30)  # the thread, and so its HTTP connection, outlives the block

        threads = [threading.Thread(target=reads) for _ in range(4)]
        for t in threads:
            t.start()
        done.wait(30)
        assert driver.made and fake_daemon.open_connections == 4  # one per thread
    try:
        # Every idle database connection and every thread's HTTP connection: closed.
        assert all(conn.closed for conn in driver.made)
        assert wait_for(lambda: fake_daemon.open_connections == 0), fake_daemon.open_connections
    finally:
        closed.set()
        for t in threads:
            t.join(30)
    client.close()  # again: harmless
    # Still usable: it opens connections anew.
    assert client.route("shop", "reports").server.name in ("shop-r1", "shop-r2")
    client.close()


def test_context_manager_closes_on_an_exception(fake_daemon):
    driver = FakeDriver()
    with pytest.raises(RuntimeError, match="in the block"):
        with lagrouter.Client(fake_daemon.url, timeout=5.0, driver=driver) as client:
            with client.read("audit", "dashboard"):
                pass
            raise RuntimeError("in the block")
    assert driver.made and all(conn.closed for conn in driver.made)
    assert wait_for(lambda: fake_daemon.open_connections == 0)

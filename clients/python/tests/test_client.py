"""The Python client against a real lagrouter and the real PostgreSQL and
MariaDB test clusters: routing and its cache, connections per server,
read-your-writes sessions (also across processes), typed errors, and the
fallback when lagrouter cannot be asked."""
import collections
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

import lagrouter
import pydaemon
from conftest import driver_for

REPLICA_SQL = {"postgres": "SELECT pg_is_in_recovery()::int, inet_server_port()",
               "mariadb": "SELECT @@read_only, @@port"}


def one(conn, sql, args=None):
    """The first row of `sql` on a psycopg or PyMySQL connection."""
    if hasattr(conn, "execute"):  # psycopg
        return conn.execute(sql, args).fetchone()
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def run(conn, sql, args=None):
    """Runs a statement that returns no rows."""
    if hasattr(conn, "execute"):
        conn.execute(sql, args)
    else:
        with conn.cursor() as cur:
            cur.execute(sql, args)


def server_of(conn, engine):
    replica, port = one(conn, REPLICA_SQL[engine])
    return bool(int(replica)), int(port)


def test_route_lists_eligible_servers_and_caches(client, cluster, daemon):
    first = client.route(cluster, "reports")
    assert first.role == "replica" and first.reason == "fresh_replica" and not first.cached
    assert {s.name for s in first.servers} == set(pydaemon.ENGINES[
        "postgres" if cluster == "shop" else "mariadb"][2][1:])
    for s in first.servers:
        assert s.role == "replica" and s.weight == 1
        assert 0 < s.valid_for_ms <= 3_600_000 - s.staleness_bound_ms
    asked = client.stats()["route_requests"]
    picks = collections.Counter(client.route(cluster, "reports").server.name for _ in range(200))
    assert client.stats()["route_requests"] == asked, "cached decisions asked lagrouter again"
    # Spread by weight over both replicas, as the daemon spreads (1:1 here).
    assert sorted(picks.values()) == [100, 100], picks
    for d in (client.route(cluster, "reports") for _ in range(5)):
        assert d.cached and d.expires_at <= time.monotonic() + 3600


def test_cache_is_never_longer_than_valid_for(client, cluster):
    sent = time.monotonic()
    d = client.route(cluster, "inventory")  # the primary: valid one probe interval (100 ms)
    assert d.role == "primary" and d.valid_for_ms <= 100
    assert d.expires_at <= time.monotonic() + d.valid_for_ms / 1000
    assert d.expires_at >= sent + d.valid_for_ms / 1000 - 1e-9
    cached = client.route(cluster, "inventory")
    asked = client.stats()["route_requests"]
    if cached.cached:
        assert time.monotonic() < cached.expires_at + 0.001
    time.sleep(d.valid_for_ms / 1000 + 0.01)
    assert not client.route(cluster, "inventory").cached
    assert client.stats()["route_requests"] == asked + 1


def test_uncached_client_asks_every_time(daemon, cluster):
    c = lagrouter.Client(daemon.url, token=daemon.token(), cache=False)
    for _ in range(5):
        assert not c.route(cluster, "dashboard").cached
    assert c.stats()["route_requests"] == 5


def test_read_goes_to_the_routed_server(client, engine, cluster):
    ports = set()
    for _ in range(6):
        with client.read(cluster, "dashboard") as conn:
            replica, port = server_of(conn, engine)
            assert replica
            ports.add(port)
    assert len(ports) == 2, "reads were not spread over both replicas: %s" % ports
    with client.read(cluster, "inventory") as conn:
        assert server_of(conn, engine) == (False, pydaemon.ENGINES[engine][1])


def test_write_then_read_your_writes_under_paused_replay(client, engine, cluster):
    """A replica that stopped replaying stays within the 5 s class for a
    while; reads with the session token must still see the write, so they
    never go there (they go to a replica that replayed it, or the primary)."""
    paused_node = 2
    paused_port = pydaemon.ENGINES[engine][1] + paused_node
    pydaemon.pause_replay(engine, paused_node)
    try:
        for _ in range(5):
            item = "ryw-" + uuid.uuid4().hex[:12]
            session = lagrouter.Session()
            with client.write(cluster, "inventory", session=session) as conn:
                run(conn, "INSERT INTO orders (item) VALUES (%s)", (item,))
            assert session.position(cluster), "no position recorded after the commit"
            token = str(session)  # as it would travel in a cookie
            with client.read(cluster, "dashboard", session=lagrouter.Session.parse(token)) as conn:
                (count,) = one(conn, "SELECT count(*) FROM orders WHERE item = %s", (item,))
                replica, port = server_of(conn, engine)
            assert count == 1, "read-your-writes read missed its write (port %d)" % port
            assert port != paused_port
        # Without the session, the paused replica is still used for the class:
        # the token is what kept reads away from it.
        seen = {client.route(cluster, "dashboard").port for _ in range(20)}
        assert paused_port in seen
    finally:
        pydaemon.resume_replay(engine, paused_node)


def test_session_travels_to_another_process(client, engine, cluster, daemon):
    item = "ryw-proc-" + uuid.uuid4().hex[:10]
    session = lagrouter.Session()
    with client.write(cluster, "inventory", session=session) as conn:
        run(conn, "INSERT INTO orders (item) VALUES (%s)", (item,))
    reader = """
import sys, lagrouter
sys.path.insert(0, %r)
from conftest import driver_for
c = lagrouter.Client(%r, token=%r, driver=driver_for(%r))
with c.read(%r, "dashboard", session=lagrouter.Session.parse(sys.argv[1])) as conn:
    if hasattr(conn, "execute"):
        row = conn.execute("SELECT count(*) FROM orders WHERE item = %%s", (%r,)).fetchone()
    else:
        cur = conn.cursor(); cur.execute("SELECT count(*) FROM orders WHERE item = %%s", (%r,))
        row = cur.fetchone()
print(row[0])
""" % (os.path.dirname(__file__), daemon.url, daemon.token(), engine, cluster, item, item)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", reader, str(session)], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_reads_with_a_position_are_not_cached(client, cluster):
    session = lagrouter.Session()
    with client.write(cluster, "inventory", session=session):
        pass  # nothing written: the position is the primary's current one
    asked = client.stats()["route_requests"]
    for _ in range(3):
        assert not client.route(cluster, "dashboard", session=session).cached
    assert client.stats()["route_requests"] == asked + 3


def test_typed_errors(daemon, cluster, engine):
    c = lagrouter.Client(daemon.url, token=daemon.token())
    with pytest.raises(lagrouter.BadRequest) as e:
        c.route(cluster, "nope")
    assert e.value.status == 400 and e.value.code == "unknown_class"
    with pytest.raises(lagrouter.BadRequest) as e:
        c.route(cluster, "dashboard", after="not a position")
    assert e.value.code == "bad_position"
    with pytest.raises(lagrouter.Unauthorized) as e:
        lagrouter.Client(daemon.url, token="wrong-token-0123456789").route(cluster, "dashboard")
    assert e.value.status == 401
    with pytest.raises(lagrouter.Unauthorized):
        lagrouter.Client(daemon.url, token="").route(cluster, "dashboard")
    limited = lagrouter.Client(daemon.url, token=daemon.token("limited"))
    with pytest.raises(lagrouter.Forbidden) as e:
        limited.route(cluster, "reports")
    assert e.value.status == 403
    # reports falls back with an error: a position no replica has replayed is a 503.
    future = "FF/0" if engine == "postgres" else "0-1-999999999"
    with pytest.raises(lagrouter.NoEligibleServer) as e:
        c.route(cluster, "reports", after=future)
    assert e.value.status == 503 and e.value.code == "no_eligible_server"
    assert c.stats()["route_errors"] == 3  # those of `c`


class SilentServer:
    """Accepts connections and never answers: a hung lagrouter."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_unreachable_lagrouter_falls_back(engine, cluster, caplog):
    primary = "127.0.0.1:%d" % pydaemon.ENGINES[engine][1]
    hung = SilentServer()
    try:
        c = lagrouter.Client("http://127.0.0.1:%d" % hung.port, driver=driver_for(engine),
                             primaries={cluster: primary}, fallbacks={"reports": "error"},
                             retry_after=0.5)
        with caplog.at_level(logging.WARNING, logger="lagrouter"):
            started = time.monotonic()
            d = c.route(cluster, "dashboard")
            took = time.monotonic() - started
        assert 0.04 <= took < 0.5, "the default timeout is 50 ms; took %.3f s" % took
        assert d.reason == "lagrouter_unavailable" and "%s:%d" % (d.host, d.port) == primary
        assert any("fallback" in r.getMessage() for r in caplog.records)
        # Within retry_after: straight to the fallback, without asking (no new timeout).
        asked = c.stats()["route_requests"]
        d = c.route(cluster, "dashboard")
        assert d.reason == "lagrouter_unavailable" and c.stats()["route_requests"] == asked
        with c.read(cluster, "dashboard") as conn:
            assert server_of(conn, engine) == (False, pydaemon.ENGINES[engine][1])
        with pytest.raises(lagrouter.Unavailable):
            c.route(cluster, "reports")
        assert c.stats()["fallback_primary"] == 3 and c.stats()["fallback_error"] == 1
    finally:
        hung.close()
    # Refused outright, and no primary known: an exception that says so.
    refused = lagrouter.Client("http://127.0.0.1:%d" % pydaemon.free_port())
    with pytest.raises(lagrouter.Unavailable, match="no primary"):
        refused.route(cluster, "dashboard")


def test_primary_learned_from_answers_serves_the_fallback(engine, cluster):
    """lagrouter stops after it named the primary once: reads fall back to
    that primary without any configuration."""
    with pydaemon.Daemon() as d:
        c = lagrouter.Client(d.url, token=d.token())
        assert c.route(cluster, "inventory").role == "primary"
    c.invalidate()
    fallback = c.route(cluster, "dashboard")
    assert fallback.reason == "lagrouter_unavailable"
    assert fallback.port == pydaemon.ENGINES[engine][1]
    assert c.stats()["fallback_primary"] == 1


class FailFirst:
    """The client's own pools, except that the first connection attempt fails
    as a dead server's would."""

    def __init__(self, driver):
        self.inner = lagrouter.ServerPools(driver)
        self.driver = driver
        self.failed = []

    def acquire(self, server):
        if not self.failed:
            self.failed.append(server.name)
            return self.driver.connect("127.0.0.1", pydaemon.free_port())  # refused
        return self.inner.acquire(server)

    def release(self, server, conn, broken=False):
        self.inner.release(server, conn, broken)


def test_connection_error_reroutes_once(daemon, engine, cluster):
    driver = driver_for(engine)
    pools = FailFirst(driver)
    c = lagrouter.Client(daemon.url, token=daemon.token(), driver=driver, pool=pools)
    with c.read(cluster, "reports") as conn:
        replica, port = server_of(conn, engine)
    assert replica and pools.failed
    assert c.stats()["reroutes"] == 1
    # The server that failed is out of the cached decision; the other stays.
    names = {c.route(cluster, "reports").server.name for _ in range(10)}
    assert pools.failed[0] not in names and len(names) == 1


def test_application_pool(daemon, engine, cluster):
    made = []

    class AppPool:
        def __init__(self, server):
            self.server, self.idle = server, []
            made.append(server.name)

        def getconn(self):
            return self.idle.pop() if self.idle else driver_for(engine).connect(
                self.server.host, self.server.port)

        def putconn(self, conn):
            self.idle.append(conn)

    c = lagrouter.Client(daemon.url, token=daemon.token(), driver=driver_for(engine),
                         pool=lagrouter.AppPools(AppPool))
    for _ in range(4):
        with c.read(cluster, "dashboard") as conn:
            assert server_of(conn, engine)[0]
    assert sorted(made) == sorted(pydaemon.ENGINES[engine][2][1:])


def test_wait_lets_read_your_writes_reads_use_replicas(daemon, engine, cluster):
    """reports falls back with an error: a read-your-writes read right after
    its write finds no replica that replayed it yet. With `wait`, the daemon
    probes on demand and answers once a replica has it; the client's 50 ms
    timeout grows by the wait, so a parked request is not taken for an outage."""
    c = lagrouter.Client(daemon.url, token=daemon.token(), driver=driver_for(engine),
                         fallbacks={"reports": "error"})
    for _ in range(5):
        item = "ryw-wait-" + uuid.uuid4().hex[:10]
        session = lagrouter.Session()
        with c.write(cluster, "inventory", session=session) as conn:
            run(conn, "INSERT INTO orders (item) VALUES (%s)", (item,))
        with c.read(cluster, "reports", session=session, wait="2s") as conn:
            (count,) = one(conn, "SELECT count(*) FROM orders WHERE item = %s", (item,))
            replica, _ = server_of(conn, engine)
        assert count == 1 and replica
    assert "fallback_error" not in c.stats() and "route_errors" not in c.stats(), c.stats()


def test_wait_is_passed_as_a_duration():
    assert lagrouter.duration_text(0.05) == "50ms"
    assert lagrouter.duration_text(2) == "2000ms"
    assert lagrouter.duration_text("250ms") == "250ms"
    with pytest.raises(ValueError):
        lagrouter.duration_text(-1)


def test_session_token_round_trip():
    s = lagrouter.Session()
    s.record("shop", "0/3000060")
    s.record("billing", "0-1-42,1-2-7")
    text = str(s)
    assert all(ch.isalnum() or ch in ".=&%-_" for ch in text), text  # cookie-safe
    back = lagrouter.Session.parse(text)
    assert back.position("shop") == "0/3000060" and back.position("billing") == "0-1-42,1-2-7"
    assert not lagrouter.Session.parse("")
    with pytest.raises(ValueError):
        lagrouter.Session.parse("something else")


def test_package_installs(tmp_path):
    """pip installs the package from its pyproject.toml, and it imports from there."""
    # From a copy: building writes build/ and *.egg-info next to pyproject.toml.
    src = tmp_path / "src"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    shutil.copytree(here, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build",
                                                             "*.egg-info"))
    target = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-build-isolation", "--no-index", "--target", str(target), str(src)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    check = subprocess.run([sys.executable, "-c", "import importlib.metadata, lagrouter; "
                            "print(lagrouter.__file__, lagrouter.__version__, "
                            "importlib.metadata.version('lagrouter'))"],
                           env={"PYTHONPATH": str(target), "PATH": os.environ["PATH"]},
                           capture_output=True, text=True, cwd=str(tmp_path))
    assert check.stdout.startswith(str(target)), check.stdout + check.stderr
    # The version is written once (lagrouter.__version__); the metadata has it from there.
    _, version, installed = check.stdout.split()
    assert version == installed == lagrouter.__version__
    # PEP 561: the type hints ship with the package.
    assert (target / "lagrouter" / "py.typed").is_file()


def test_readme_example_runs(daemon, monkeypatch, capsys):
    """The README's ten lines, as printed there, against the test daemon."""
    readme = open(os.path.join(pydaemon.REPO, "README.md")).read()
    section = readme[readme.index("## From Python"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    code = code[:code.index("```")]
    monkeypatch.setenv("LAGROUTER_TOKEN", daemon.token())
    exec(compile(code.replace("http://127.0.0.1:8432", daemon.url), "README.md", "exec"), {})
    before, after = capsys.readouterr().out.split()
    assert int(after.strip("(),")) >= int(before.strip("(),")) + 1  # the write was read back

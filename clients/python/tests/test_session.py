"""Sessions: read-your-writes and monotonic reads (issue 23).

Unit tests (no daemon, no database): the token's format and parsing, what a
Session stores when reads overlap, and what the client sends and stores,
against a scripted fake daemon. Integration tests (a real daemon and the
shared clusters, as test_client.py): a session's reads carry the daemon's
token, a token the daemon rejects is reset, and a session never reads less
than its previous read while a replica's replay is paused.
"""
import json
import threading
import urllib.parse

import pytest

import fake_daemon as fake_http
import lagrouter
from lagrouter.session import NO_SERVER

# -- tokens -----------------------------------------------------------------


def test_token_carries_positions_and_route_tokens():
    s = lagrouter.Session()
    s.record("shop", "0/3000060")
    s.record("billing", "0-1-42,1-2-7")
    _, v = s.begin_read("shop")
    s.end_read("shop", v, "s1.pg-b")
    text = str(s)
    assert text.startswith("lr2.")
    assert all(ch.isalnum() or ch in ".=&%-_" for ch in text), text  # cookie-safe
    back = lagrouter.Session.parse(text)
    assert back.position("shop") == "0/3000060"
    assert back.position("billing") == "0-1-42,1-2-7"
    assert back.route_token("shop") == "s1.pg-b" and back.route_token("billing") == ""
    assert str(back) == text


def test_cluster_names_with_dots_and_no_server_round_trip():
    s = lagrouter.Session({"eu.shop": "0/1"}, {"eu.shop": NO_SERVER, "x": "s1.db-0"})
    back = lagrouter.Session.parse(str(s))
    assert back.position("eu.shop") == "0/1"
    assert back.route_token("eu.shop") == "s1." and back.route_token("x") == "s1.db-0"


def test_old_lr1_tokens_still_parse():
    back = lagrouter.Session.parse("lr1.billing=0-1-42%2C1-2-7&shop=0%2F3000060")
    assert back.position("shop") == "0/3000060" and back.position("billing") == "0-1-42,1-2-7"
    assert back.route_token("shop") == ""
    assert not lagrouter.Session.parse("lr1.")


@pytest.mark.parametrize("text", ["something else", "lr2.shop=0%2F1", "lr2.q.shop=1",
                                  "lr2.w.shop=", "lr2.&&", "lr3.w.shop=0%2F1"])
def test_bad_tokens_raise(text):
    with pytest.raises(ValueError):
        lagrouter.Session.parse(text)


def test_empty_tokens():
    assert not lagrouter.Session.parse("") and not lagrouter.Session.parse(None)
    assert not lagrouter.Session.parse("lr2.")
    assert str(lagrouter.Session()) == "lr2."


def test_overlapping_reads_on_two_servers_leave_no_server_known():
    s = lagrouter.Session()
    _, first = s.begin_read("shop")
    _, second = s.begin_read("shop")
    s.end_read("shop", first, "s1.pg-b")
    assert s.route_token("shop") == "s1.pg-b"
    # The second read began before the first stored its token and went elsewhere:
    # neither server is known to have what the other read saw.
    s.end_read("shop", second, "s1.pg-c")
    assert s.route_token("shop") == NO_SERVER
    # Overlapping reads that end on the same server keep it.
    _, a = s.begin_read("shop")
    _, b = s.begin_read("shop")
    s.end_read("shop", a, "s1.pg-b")
    s.end_read("shop", b, "s1.pg-b")
    assert s.route_token("shop") == "s1.pg-b"
    # One after the other: the later read's token.
    _, c = s.begin_read("shop")
    s.end_read("shop", c, "s1.pg-c")
    assert s.route_token("shop") == "s1.pg-c"


# -- the client against a scripted daemon ------------------------------------


class ScriptedDaemon:
    """Answers /v1/route from `self.reply(query) -> (status, body)`; keeps
    every query."""

    def __init__(self):
        self.queries = []
        self.reply = self.fresh
        self.server, self.url = fake_http.serve(self._answer)

    def _answer(self, path):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query,
                                            keep_blank_values=True))
        self.queries.append(query)
        return self.reply(query)

    @staticmethod
    def answer(server, port, role="replica", reason="fresh_replica", session=True):
        body = {"cluster": "shop", "class": "dashboard", "server": server, "role": role,
                "host": "127.0.0.1", "port": port, "staleness_bound_ms": 10,
                "valid_for_ms": 990, "reason": reason}
        if session:
            body.update(session="s1." + server, position="0/30")
        return body

    def fresh(self, query):
        return 200, self.answer("pg-b", 5442)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    d = ScriptedDaemon()
    yield d
    d.close()


def test_session_reads_send_token_position_and_wait(scripted):
    with lagrouter.Client(scripted.url) as c:
        s = lagrouter.Session()
        s.record("shop", "0/10")
        d = c.route("shop", "dashboard", session=s)
        assert d.session == "s1.pg-b" and d.position == "0/30" and not d.cached
        assert scripted.queries[-1] == {"cluster": "shop", "class": "dashboard", "after": "0/10",
                                        "session": "", "wait": "50ms"}
        assert s.route_token("shop") == "s1.pg-b"
        c.route("shop", "dashboard", session=s, wait="200ms")
        assert scripted.queries[-1]["session"] == "s1.pg-b"
        assert scripted.queries[-1]["wait"] == "200ms"
        # Never from the cache: every session read asks.
        for _ in range(3):
            assert not c.route("shop", "dashboard", session=s).cached
        assert len(scripted.queries) == 5
    with lagrouter.Client(scripted.url, session_wait=None) as c:
        c.route("shop", "dashboard", session=lagrouter.Session())
        assert "wait" not in scripted.queries[-1] and "after" not in scripted.queries[-1]
    with pytest.raises(ValueError):
        lagrouter.Client(scripted.url, session_wait=-1)


def test_rejected_token_is_reset_and_asked_again(scripted):
    def reply(query):
        if query["session"] not in ("", "s1.", "s1.pg-b"):
            return 400, {"error": "bad_session", "message": "not a session token"}
        return 200, scripted.answer("pg-b", 5442)
    scripted.reply = reply
    with lagrouter.Client(scripted.url) as c:
        s = lagrouter.Session.parse("lr2.r.shop=garbage%21")
        d = c.route("shop", "dashboard", session=s)
        assert d.server.name == "pg-b" and s.route_token("shop") == "s1.pg-b"
        assert [q["session"] for q in scripted.queries] == ["garbage!", NO_SERVER]
        assert c.stats()["session_resets"] == 1


def test_other_bad_requests_are_raised(scripted):
    scripted.reply = lambda q: (400, {"error": "unknown_class", "message": "no class"})
    with lagrouter.Client(scripted.url) as c:
        with pytest.raises(lagrouter.BadRequest) as e:
            c.route("shop", "dashboard", session=lagrouter.Session())
        assert e.value.code == "unknown_class" and len(scripted.queries) == 1


def test_daemon_without_sessions_gives_read_your_writes_only(scripted):
    def reply(query):
        if "session" in query:
            return 400, {"error": "bad_request",
                         "message": "unknown parameter 'session'; usage: ..."}
        return 200, scripted.answer("pg-b", 5442, session=False)
    scripted.reply = reply
    with lagrouter.Client(scripted.url) as c:
        s = lagrouter.Session({"shop": "0/10"})
        assert c.route("shop", "dashboard", session=s).server.name == "pg-b"
        assert s.route_token("shop") == NO_SERVER  # nothing known of where it read
        c.route("shop", "dashboard", session=s)  # asked once, then never again with session=
        assert ["session" in q for q in scripted.queries] == [True, False, False]
        assert all(q["after"] == "0/10" for q in scripted.queries)


def test_client_fallback_stores_no_server(scripted):
    with lagrouter.Client(scripted.url, primaries={"shop": "127.0.0.1:5441"}) as c:
        s = lagrouter.Session()
        c.route("shop", "dashboard", session=s)
        assert s.route_token("shop") == "s1.pg-b"
        scripted.close()
        c.close()  # the kept-alive connection too: the next request is refused
        d = c.route("shop", "dashboard", session=s)
        assert d.reason == "lagrouter_unavailable" and d.port == 5441
        assert d.session == NO_SERVER and s.route_token("shop") == NO_SERVER


class PortDriver(fake_http.NullDriver):
    """A driver without a database whose connections are the servers' ports
    (and without settle_visibility, as drivers written before it)."""


class SettleDriver(PortDriver):
    """Keeps the port of every settle_visibility call."""

    def __init__(self):
        self.settled = []

    def settle_visibility(self, conn):
        self.settled.append(conn)
        return True


def test_primary_read_after_a_replica_read_settles_first(scripted):
    """PostgreSQL shows a commit on a standby before on the primary: a
    session read that moves from a replica to the primary lets the driver
    wait for the primary's in-flight commits first; no other read does."""
    answers = []
    scripted.reply = lambda q: (200, answers.pop(0))
    primary = scripted.answer("pg-a", 5441, role="primary", reason="primary_class")
    replica = scripted.answer("pg-b", 5442)
    driver = SettleDriver()
    with lagrouter.Client(scripted.url, driver=driver, cache=False) as c:
        s = lagrouter.Session()

        def read(answer, session=s):
            answers.append(answer)
            with c.read("shop", "dashboard", session=session) as conn:
                return conn

        assert read(primary) == 5441 and driver.settled == []  # a new session: no previous read
        assert read(replica) == 5442 and driver.settled == []  # primary -> replica
        assert read(primary) == 5441 and driver.settled == [5441]  # replica -> primary
        assert read(primary) == 5441 and driver.settled == [5441]  # primary -> primary
        read(replica)
        assert read(replica) == 5442 and driver.settled == [5441]  # replica -> replica
        read(primary, session=None)  # no session: no previous read to keep
        assert driver.settled == [5441]
        s.reset_route("shop")  # no server known: the previous read may have been a replica
        assert read(primary) == 5441 and driver.settled == [5441, 5441]
        # route() says so, connection() does it too.
        read(replica)
        answers.extend([primary, primary])
        d = c.route("shop", "dashboard", session=s)
        assert d.settle and not c.route("shop", "dashboard").settle
        with c.connection(d):
            pass
        assert driver.settled == [5441] * 3 and "settle_timeouts" not in c.stats()
    # Drivers without the method (written before it) are still drivers.
    plain = PortDriver()
    assert isinstance(plain, lagrouter.Driver)
    with lagrouter.Client(scripted.url, driver=plain) as c:
        s = lagrouter.Session({}, {"shop": "s1.pg-b"})
        answers.append(primary)
        with c.read("shop", "dashboard", session=s) as conn:
            assert conn == 5441


# -- against the real daemon (the shared clusters) ---------------------------

import time  # noqa: E402

import pydaemon  # noqa: E402
from conftest import driver_for  # noqa: E402
from test_client import FailFirst, one, run, server_of  # noqa: E402


def name_of_port(engine, port):
    _, base, names = pydaemon.ENGINES[engine]
    return names[port - base]


def test_session_reads_carry_the_token(client, engine, cluster):
    s = lagrouter.Session()
    for _ in range(5):
        sent = s.route_token(cluster)
        with client.read(cluster, "dashboard", session=s) as conn:
            _, port = server_of(conn, engine)
        # The token names the server the read went to; the read went where the
        # previous token said (the replica is fresh: it may serve the class).
        assert s.route_token(cluster) == "s1." + name_of_port(engine, port)
        if sent:
            assert sent == s.route_token(cluster)
    d = client.route(cluster, "dashboard", session=s)
    assert d.session == s.route_token(cluster) and d.reason == "fresh_replica"
    assert d.position, "a fresh replica's probed position is known"
    # str() and parse() carry it to another process.
    assert lagrouter.Session.parse(str(s)).route_token(cluster) == s.route_token(cluster)


def test_bad_token_is_reset_unknown_server_is_no_server(client, engine, cluster):
    s = lagrouter.Session.parse("lr2.r.%s=%s" % (cluster, "s1.not%20a%20name%21"))
    with client.read(cluster, "dashboard", session=s) as conn:
        server_of(conn, engine)
    assert client.stats()["session_resets"] == 1
    assert s.route_token(cluster).startswith("s1.") and s.route_token(cluster) != NO_SERVER
    # A server the cluster does not have: no server known, no error.
    s = lagrouter.Session.parse("lr2.r.%s=s1.no-such-server" % cluster)
    d = client.route(cluster, "dashboard", session=s)
    assert d.session != "s1.no-such-server" and client.stats()["session_resets"] == 1
    # Raw HTTP: the daemon's 400.
    with pytest.raises(lagrouter.BadRequest) as e:
        client._ask(cluster, "dashboard", None, None, "x1.what")
    assert e.value.status == 400 and e.value.code == "bad_session"


def test_reroute_stores_where_the_read_went(daemon, engine, cluster):
    driver = driver_for(engine)
    pools = FailFirst(driver)
    c = lagrouter.Client(daemon.url, token=daemon.token(), driver=driver, pool=pools)
    s = lagrouter.Session()
    with c.read(cluster, "reports", session=s) as conn:
        _, port = server_of(conn, engine)
    assert pools.failed and c.stats()["reroutes"] == 1
    assert s.route_token(cluster) == "s1." + name_of_port(engine, port)
    c.close()


def test_sessions_never_go_back_under_paused_replay(client, engine, cluster):
    """Replay paused on one replica while a writer commits: both replicas
    stay within the 5 s class, so plain reads (cached, spread over both) see
    less than their previous read now and then; a session's reads never do."""
    paused_node = 2
    stop = threading.Event()

    def write():
        w = lagrouter.Client(client.url, token=pydaemon.TOKENS["svc"], driver=client.driver)
        while not stop.is_set():
            with w.write(cluster, "inventory") as conn:
                run(conn, "INSERT INTO orders (item) VALUES ('monotonic')")
            time.sleep(0.005)
        w.close()

    def max_id(conn):
        (value,) = one(conn, "SELECT max(id) FROM orders")
        return int(value)

    writer = threading.Thread(target=write)
    writer.start()
    pydaemon.pause_replay(engine, paused_node)
    try:
        time.sleep(0.3)
        went_back = {"plain": 0, "session": 0}
        last = {"plain": 0, "session": 0}
        s = lagrouter.Session()
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            for mode in ("plain", "session"):
                with client.read(cluster, "dashboard",
                                 session=s if mode == "session" else None) as conn:
                    seen = max_id(conn)
                went_back[mode] += seen < last[mode]
                last[mode] = max(last[mode], seen)
    finally:
        pydaemon.resume_replay(engine, paused_node)
        stop.set()
        writer.join()
    assert went_back["session"] == 0, went_back
    assert went_back["plain"] > 0, "the test shows nothing: plain reads never went back"


def test_settle_visibility_on_the_primary(client, engine, cluster):
    """The driver's settle step on the real primary: it runs as the
    application's user, does not wait for transactions still in progress,
    and leaves no transaction open; a session read moving from a replica to
    the primary (the 0 s class) goes through it."""
    _, base, names = pydaemon.ENGINES[engine]
    conn = client.driver.connect("127.0.0.1", base)
    other = client.driver.connect("127.0.0.1", base)
    try:
        run(other, "INSERT INTO orders (item) VALUES ('in progress')")  # an xid, not committed
        started = time.monotonic()
        assert client.driver.settle_visibility(conn)
        assert time.monotonic() - started < 0.04
        if engine == "postgres":
            assert conn.info.transaction_status == conn.info.transaction_status.IDLE
    finally:
        client.driver.rollback(other)
        client.driver.close(other)
        client.driver.close(conn)
    s = lagrouter.Session({}, {cluster: "s1." + names[1]})  # the last read was on a replica
    d = client.route(cluster, "inventory", session=s)
    assert d.role == "primary" and d.settle
    with client.connection(d) as conn:
        one(conn, "SELECT 1")
    assert "settle_timeouts" not in client.stats()

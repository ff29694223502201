"""Shared by the Python tests (clients/python/tests, tests/api): the shared
test clusters of scripts/pg-cluster.sh and scripts/mariadb-cluster.sh, and a
real lagrouter daemon over both, with API tokens. Standard library only.

    with Daemon() as d:  d.url, d.port, d.token(name), d.sql(engine, node, sql)

Clusters: "shop" (PostgreSQL: pg-a 5441 primary, pg-b, pg-c) and "billing"
(MariaDB: db-0 3407 primary, db-1, db-2), probed every 100 ms. Classes:
inventory 0s, dashboard 5s, reports 1h (fallback error). Clients (tokens):
"svc" may ask everything; "limited" only shop/dashboard.
"""
import hashlib
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LAGROUTER_BIN", os.path.join(REPO, "build", "bin", "lagrouter"))
PASSWORD = os.environ.setdefault("LAGROUTER_DB_PASSWORD", "lagrouter-demo-pw")
PG_BASE = int(os.environ.get("LAGROUTER_PG_BASE_PORT", "5441"))
MYSQL_BASE = int(os.environ.get("LAGROUTER_MYSQL_BASE_PORT", "3407"))
ENGINES = {
    # engine: (cluster, base port, server names, 0 s class)
    "postgres": ("shop", PG_BASE, ("pg-a", "pg-b", "pg-c")),
    "mariadb": ("billing", MYSQL_BASE, ("db-0", "db-1", "db-2")),
}
SCRIPTS = {"postgres": "scripts/pg-cluster.sh", "mariadb": "scripts/mariadb-cluster.sh"}
TOKENS = {"svc": "svc-token-0123456789abcdef", "limited": "limited-token-0123456789abcdef"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def ensure_clusters():
    """Starts a shared cluster that is not answering yet (as scripts/test.sh
    does, it is left running for the other tests)."""
    for engine, (_, base, _) in ENGINES.items():
        if not port_open(base):
            subprocess.run([os.path.join(REPO, SCRIPTS[engine]), "start"], check=True,
                           stdout=subprocess.DEVNULL)


def sql(engine, node, text):
    """Superuser SQL on node 0-2 of an engine's cluster, through its script."""
    out = subprocess.run([os.path.join(REPO, SCRIPTS[engine]), "sql", str(node), text],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def pause_replay(engine, node):
    sql(engine, node, "SELECT pg_wal_replay_pause()" if engine == "postgres"
        else "STOP REPLICA SQL_THREAD")


def resume_replay(engine, node):
    sql(engine, node, "SELECT pg_wal_replay_resume()" if engine == "postgres"
        else "START REPLICA SQL_THREAD")


def config(port):
    lines = ['[listen]', 'address = "127.0.0.1:%d"' % port,
             '[probe]', 'interval = "100ms"', 'timeout = "500ms"']
    for engine, (cluster, base, names) in ENGINES.items():
        lines += ['[[cluster]]', 'name = "%s"' % cluster,
                  'engine = "%s"' % ("postgres" if engine == "postgres" else "mysql"),
                  'user = "lagrouter"', 'password_env = "LAGROUTER_DB_PASSWORD"']
        for i, name in enumerate(names):
            lines += ['  [[cluster.server]]', '  name = "%s"' % name, '  host = "127.0.0.1"',
                      '  port = %d' % (base + i)]
    lines += ['[class.inventory]', 'max_staleness = "0s"',
              '[class.dashboard]', 'max_staleness = "5s"',
              '[class.reports]', 'max_staleness = "1h"', 'fallback = "error"']
    lists = {"svc": ('["*"]', '["*"]'), "limited": ('["shop"]', '["dashboard"]')}
    for name, token in TOKENS.items():
        lines += ['[[client]]', 'name = "%s"' % name,
                  'token_sha256 = "%s"' % hashlib.sha256(token.encode()).hexdigest(),
                  'clusters = %s' % lists[name][0], 'classes = %s' % lists[name][1]]
    return "\n".join(lines) + "\n"


class Daemon:
    """A lagrouter over both shared clusters on a free port, stopped on exit."""

    def __init__(self):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._dir = tempfile.mkdtemp(prefix="lagrouter-py-")
        self.log_path = os.path.join(self._dir, "lagrouter.log")
        self._proc = None

    @staticmethod
    def token(name="svc"):
        return TOKENS[name]

    def __enter__(self):
        ensure_clusters()
        path = os.path.join(self._dir, "lagrouter.toml")
        with open(path, "w") as f:
            f.write(config(self.port))
        self._log = open(self.log_path, "w")
        self._proc = subprocess.Popen([BIN, "--config", path], stdout=self._log,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("lagrouter exited: %s" % self.log())
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("lagrouter not ready on port %d within 30 s" % self.port)

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def __exit__(self, *exc):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        subprocess.run(["rm", "-rf", self._dir], check=False)

    def wait_eligible(self, cluster, server, cls, seconds=30):
        """Waits until /v1/check says `server` may serve `cls` (replicas admitted)."""
        deadline = time.monotonic() + seconds
        req = urllib.request.Request("%s/v1/check/%s/%s?class=%s" % (self.url, cluster, server, cls),
                                     headers={"Authorization": "Bearer " + TOKENS["svc"]})
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(req, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("%s/%s not eligible for %s within %d s" % (cluster, server, cls,
                                                                         seconds))

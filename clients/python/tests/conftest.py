"""Fixtures of the client's tests: a real lagrouter daemon over the shared
PostgreSQL and MariaDB test clusters (tests/support/pydaemon.py)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))  # the package, as it is in the tree
sys.path.insert(0, os.path.join(REPO, "tests", "support"))

import lagrouter  # noqa: E402
import pydaemon  # noqa: E402


@pytest.fixture(scope="session")
def daemon():
    with pydaemon.Daemon() as d:
        for engine, (cluster, _, names) in pydaemon.ENGINES.items():
            for name in names[1:]:
                d.wait_eligible(cluster, name, "dashboard")
        yield d


def driver_for(engine):
    if engine == "postgres":
        return lagrouter.Postgres(dbname="shop", user="app", password=pydaemon.PASSWORD)
    return lagrouter.MySQL(database="shop", user="app", password=pydaemon.PASSWORD,
                           read_timeout=5)


@pytest.fixture(params=["postgres", "mariadb"])
def engine(request):
    return request.param


@pytest.fixture
def cluster(engine):
    return pydaemon.ENGINES[engine][0]


@pytest.fixture
def client(daemon, engine):
    c = lagrouter.Client(daemon.url, token=daemon.token(), driver=driver_for(engine))
    yield c
    c.close()

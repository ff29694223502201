"""The package's type hints: mypy --strict passes on it (pyproject.toml's
[tool.mypy]), and the client's own pools and drivers are the Protocols the
client is typed with. No daemon, no database."""
import importlib.util
import os
import subprocess
import sys

import pytest

import lagrouter

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (Debian: apt-get install mypy)")
def test_package_type_checks_strictly():
    out = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", os.devnull],
                         cwd=PACKAGE, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_pools_and_drivers_are_the_protocols():
    assert isinstance(lagrouter.ServerPools(lagrouter.Postgres()), lagrouter.Pool)
    assert isinstance(lagrouter.AppPools(lambda server: None), lagrouter.Pool)
    assert isinstance(lagrouter.Postgres(), lagrouter.Driver)
    assert isinstance(lagrouter.MySQL(), lagrouter.Driver)
    assert not isinstance(object(), lagrouter.Pool)

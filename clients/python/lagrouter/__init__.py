"""lagrouter's reference Python client: routed reads with a guaranteed
staleness bound, a connection pool per server, read-your-writes sessions, and
a fallback when lagrouter cannot be asked. See README.md."""

from .client import Client
from .daemon_http import duration_text
from .decision import Decision, Server
from .drivers import Driver, MySQL, Postgres
from .errors import (BadRequest, Forbidden, LagrouterError, NoEligibleServer, NotPrimary,
                     Unauthorized, Unavailable)
from .pools import AppPools, Pool, ServerPools
from .session import Session

__version__ = "0.1.0"  # the only place it is written: pyproject.toml reads it (dynamic)

__all__ = [
    "AppPools", "BadRequest", "Client", "Decision", "Driver", "Forbidden", "LagrouterError",
    "MySQL", "NoEligibleServer", "NotPrimary", "Pool", "Postgres", "Server", "ServerPools",
    "Session", "Unauthorized", "Unavailable", "duration_text",
]

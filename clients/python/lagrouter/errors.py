"""Typed exceptions of the lagrouter client.

Every answer of the daemon that is not a route maps to one class, so a
service can tell "my request is wrong" (BadRequest, fix the code or config)
from "I may not ask" (Unauthorized, Forbidden) from "no server may serve this
read now" (NoEligibleServer, the class's own fallback said so) from "lagrouter
itself could not be asked" (Unavailable, raised only when the class's
client-side fallback is "error").
"""
from __future__ import annotations

from typing import Optional


class LagrouterError(Exception):
    """Base class. `status` is the HTTP status (None when there was none),
    `code` the daemon's error code (e.g. "unknown_class"), `message` its text."""

    def __init__(self, message: str, status: Optional[int] = None,
                 code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status: Optional[int] = status
        self.code: Optional[str] = code
        self.message: str = message


class BadRequest(LagrouterError):
    """400: bad_request, unknown_cluster, unknown_class or bad_position."""


class Unauthorized(LagrouterError):
    """401: no token, a malformed one, or a token the daemon does not know."""


class Forbidden(LagrouterError):
    """403: the token's client may not ask for this cluster or class."""


class NoEligibleServer(LagrouterError):
    """503 no_eligible_server: the class falls back with an error and no
    replica is fresh enough, or the primary is needed and cannot be used."""


class Unavailable(LagrouterError):
    """lagrouter could not be asked (refused, timed out, an answer that is not
    the API's) and the class's client-side fallback is "error"."""


class NotPrimary(LagrouterError):
    """A write was routed to a server that is not the primary: the class given
    to Client.write() is not a 0 s class."""


def from_answer(status: int, body: object) -> LagrouterError:
    """The exception for a non-200 answer of the API (body: parsed JSON or None)."""
    code = body.get("error") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    text = "lagrouter answered %d%s%s" % (status, " " + code if code else "",
                                          ": " + message if message else "")
    cls: Optional[type[LagrouterError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden}.get(status)
    if cls is None and status == 503 and code == "no_eligible_server":
        cls = NoEligibleServer
    return (cls or LagrouterError)(text, status=status, code=code)

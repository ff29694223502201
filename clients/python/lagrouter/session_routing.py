"""Routing a read of a Session: the request carries the session's position
(read-your-writes) and the route token of its last read (monotonic reads);
the answer's token is stored back in the session. Handles the daemon's
refusals of a token (reset to NO_SERVER and asked once more) and daemons
from before sessions (read-your-writes only)."""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Optional, Union

from . import errors
from .decision import Decision
from .session import NO_SERVER, Session

log = logging.getLogger("lagrouter")

#: Client._ask: (cluster, cls, after, wait, session token) -> Decision.
Ask = Callable[[str, str, Optional[str], Union[float, str, None], Optional[str]], Decision]


class SessionRouter:
    """Session reads of one client: `ask` sends one route request, `count`
    bumps one of the client's counters, `url` names the daemon in logs."""

    def __init__(self, ask: Ask, count: Callable[[str], None], url: str) -> None:
        self._ask = ask
        self._count = count
        self._url = url
        self._no_sessions = False  # the daemon answered "unknown parameter 'session'"

    def route(self, cluster: str, cls: str, after: Optional[str],
              wait: Union[float, str, None], session: Session) -> Decision:
        """The Decision of a session read (see Client.route); `wait` is the
        read's or the client's session_wait."""
        if after is None:
            after = session.position(cluster)
        sent: Optional[str]
        token, version = session.begin_read(cluster)
        sent = None if self._no_sessions else token
        try:
            d = self._ask(cluster, cls, after, wait, sent)
        except errors.BadRequest as e:
            if e.code == "bad_session":
                self._count("session_resets")
                log.warning("lagrouter rejected the session token %r of cluster=%s (%s); "
                            "reset to %r", token, cluster, e.message, NO_SERVER)
                session.reset_route(cluster)
                sent, version = session.begin_read(cluster)
            elif e.code == "bad_request" and "unknown parameter 'session'" in e.message:
                # A daemon from before sessions: read-your-writes only, said once.
                if not self._no_sessions:
                    log.warning("lagrouter at %s does not know sessions (monotonic reads): "
                                "session reads are read-your-writes only", self._url)
                self._no_sessions = True
                sent = None
            else:
                raise
            d = self._ask(cluster, cls, after, wait, sent)
        session.end_read(cluster, version, d.session or NO_SERVER)
        if d.role == "primary" and _maybe_elsewhere(token, d.server.name):
            d = dataclasses.replace(d, settle=True)
        return d


def _maybe_elsewhere(token: str, primary: str) -> bool:
    """The session's previous read, of route token `token`, was or may have
    been on a server other than `primary` (a replica): "s1.<other>", or
    NO_SERVER (unknown: e.g. overlapping reads, the client's fallback) or a
    token that is not the daemon's. A new session ("") has no previous read."""
    return token != "" and token != NO_SERVER + primary

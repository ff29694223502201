"""Read-your-writes session tokens.

A Session holds, per cluster, the replication position of the last write a
user made: a PostgreSQL LSN ("0/3000060"), a MariaDB GTID ("0-1-42", or a
list), or a MySQL GTID set. str(session) is a compact string that can travel
between processes (a cookie, a message header, a queue message);
Session.parse() reads it back. Reads routed with a session only go to
servers that have replayed the position of their cluster.

Format: "lr1." followed by the positions as an URL-encoded query string
(cluster=position&...): only letters, digits and %-escapes, so it is safe in a
cookie value and a header.
"""
from __future__ import annotations

import threading
import urllib.parse
from typing import Mapping, Optional, TypeVar

_S = TypeVar("_S", bound="Session")

PREFIX = "lr1."


class Session:
    """Positions per cluster (cluster name -> position text). Safe to share
    between threads: record() and str() may run at the same time."""

    def __init__(self, positions: Optional[Mapping[str, str]] = None) -> None:
        self._positions: dict[str, str] = dict(positions or {})
        self._lock = threading.Lock()

    def position(self, cluster: str) -> Optional[str]:
        """The position reads of `cluster` must see, or None."""
        return self._positions.get(cluster)

    def record(self, cluster: str, position: Optional[str]) -> None:
        """Remembers `position` (taken after a commit on the primary) for `cluster`."""
        if not position:
            return
        with self._lock:
            self._positions[cluster] = position

    def __bool__(self) -> bool:
        return bool(self._positions)

    def __str__(self) -> str:
        with self._lock:
            items = sorted(self._positions.items())
        return PREFIX + urllib.parse.urlencode(items, quote_via=urllib.parse.quote, safe="")

    def __repr__(self) -> str:
        return "Session(%r)" % (self._positions,)

    @classmethod
    def parse(cls: type[_S], text: Optional[str]) -> _S:
        """A Session from str(session); an empty or None text gives an empty one.
        Raises ValueError for text that is not a session token."""
        if not text:
            return cls()
        if not text.startswith(PREFIX):
            raise ValueError("not a lagrouter session token (want %r...): %r" % (PREFIX, text[:40]))
        pairs = urllib.parse.parse_qsl(text[len(PREFIX):], keep_blank_values=False,
                                       strict_parsing=bool(text[len(PREFIX):]))
        return cls(dict(pairs))

"""The decision cache: per (cluster, class), the servers of the daemon's
last answer, each used only before its own expires_at (never later than the
answer's valid_for_ms allows, less the time the request took), spread by
weight as the daemon spreads them.

Reads take no lock (one dict lookup); updates (a new answer, a server
dropped after a connection error, invalidate()) take one, so none is lost."""
from __future__ import annotations

import itertools
import threading
from typing import Optional, Sequence

from .decision import Decision


class _Entry:
    """A cached answer: prebuilt decisions per server, picked by weight."""

    __slots__ = ("decisions", "cumulative", "total", "all_valid_until", "expires", "counter")

    def __init__(self, decisions: Sequence[Decision], expires: float) -> None:
        self.decisions = decisions
        self.cumulative = list(itertools.accumulate(d.server.weight for d in decisions))
        self.total = self.cumulative[-1] if decisions else 0
        self.all_valid_until = min((d.expires_at for d in decisions), default=0.0)
        self.expires = expires
        self.counter = itertools.count()

    def pick(self, now: float) -> Optional[Decision]:
        """A decision still valid at `now`, by weight; None when none is."""
        if now >= self.expires or self.total == 0:
            return None
        n = next(self.counter)
        if now < self.all_valid_until:
            pick = n % self.total
            for i, c in enumerate(self.cumulative):
                if pick < c:
                    return self.decisions[i]
        live = [d for d in self.decisions if now < d.expires_at]
        if not live:
            return None
        pick = n % sum(d.server.weight for d in live)
        for d in live:
            if pick < d.server.weight:
                return d
            pick -= d.server.weight
        return None

    def without(self, server_name: str) -> Optional[_Entry]:
        left = [d for d in self.decisions if d.server.name != server_name]
        return _Entry(left, self.expires) if left else None


class DecisionCache:
    """Cached decisions per (cluster, class); safe to share between threads."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()  # for updates; reads take none

    def pick(self, cluster: str, cls: str, now: float) -> Optional[Decision]:
        """A cached decision of (cluster, cls) still valid at `now`, or None."""
        entry = self._entries.get((cluster, cls))
        return entry.pick(now) if entry is not None else None

    def store(self, cluster: str, cls: str, decisions: Sequence[Decision],
              expires: float) -> None:
        """Keeps one answer's decisions (one per server) until `expires` at
        the latest; replaces what (cluster, cls) had."""
        entry = _Entry(decisions, expires)
        with self._lock:
            self._entries[(cluster, cls)] = entry

    def forget_server(self, cluster: str, cls: str, server_name: str) -> None:
        """Stops using `server_name` for (cluster, cls)."""
        key = (cluster, cls)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                rest = entry.without(server_name)
                if rest is None:
                    del self._entries[key]
                else:
                    self._entries[key] = rest

    def invalidate(self, cluster: Optional[str] = None, cls: Optional[str] = None) -> None:
        """Forgets cached decisions (all, of one cluster, or of one cluster and class)."""
        with self._lock:
            for key in list(self._entries):
                if (cluster is None or key[0] == cluster) and (cls is None or key[1] == cls):
                    del self._entries[key]

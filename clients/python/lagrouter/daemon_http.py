"""The HTTP exchange with the daemon: GET /v1/route over one kept-alive
connection per thread, and the parsing of its answers into Servers.
Standard library only."""
from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.parse
import weakref
from typing import Any, Mapping, Optional, Union

from .decision import Server


class Unreachable(Exception):
    """The daemon could not be asked: refused, timed out, or the connection failed."""


def duration_text(wait: Union[float, str]) -> str:
    """The daemon's duration for `wait`: a number of seconds, or a text such
    as "50ms" or "1s" passed as it is."""
    if isinstance(wait, str):
        return wait
    ms = wait * 1000.0
    if ms < 0:
        raise ValueError("wait must not be negative: %r" % (wait,))
    return "%dms" % round(ms) if ms == int(ms) or ms >= 1 else "%dus" % round(ms * 1000)


def duration_seconds(wait: Union[float, str]) -> float:
    if not isinstance(wait, str):
        return float(wait)
    units = (("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    for suffix, scale in units:
        if wait.endswith(suffix):
            try:
                return float(wait[: -len(suffix)]) * scale
            except ValueError:
                break
    raise ValueError("wait %r is not a duration (a number of seconds, or e.g. '50ms')" % (wait,))


def route_path(cluster: str, cls: str, after: Optional[str], wait: Union[float, str, None],
               session: Optional[str]) -> tuple[str, float]:
    """(path of the route request, seconds its wait adds to the timeout)."""
    query = {"cluster": cluster, "class": cls}
    if after is not None:
        query["after"] = after
    if session is not None:
        query["session"] = session
    extra = 0.0
    if wait is not None:
        query["wait"] = duration_text(wait)
        extra = duration_seconds(wait)
    return "/v1/route?" + urllib.parse.urlencode(query), extra


def is_route_answer(status: int, body: Any) -> bool:
    return status == 200 and isinstance(body, dict) and "port" in body


def server_of(s: Mapping[str, Any]) -> Server:
    """A Server from the answer's top level (the chosen one) or one of its `servers`."""
    return Server(name=s["server"], host=s["host"], port=int(s["port"]), role=s["role"],
                  weight=int(s.get("weight", 1)),
                  staleness_bound_ms=int(s["staleness_bound_ms"]),
                  valid_for_ms=int(s["valid_for_ms"]))


def servers_of_answer(body: Mapping[str, Any]) -> tuple[Server, tuple[Server, ...]]:
    """(the chosen server, every server the answer allowed). Daemons that do
    not list the servers: the one server named."""
    chosen = server_of(body)
    return chosen, tuple(server_of(s) for s in body.get("servers") or ()) or (chosen,)


class DaemonHTTP:
    """GET requests to the daemon at `url`; safe to share between threads:
    each thread keeps its own HTTP connection."""

    def __init__(self, url: str, token: Optional[str],
                 ssl_context: Optional[ssl.SSLContext] = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("lagrouter URL must be http://HOST[:PORT] or https://...: %r" % url)
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._ssl = ssl_context or (ssl.create_default_context() if self._https else None)
        self._headers: dict[str, str] = {"Authorization": "Bearer " + token} if token else {}
        self._local = threading.local()
        # Every thread's HTTP connection, for close(); weak: a thread's goes with it.
        self._http: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._http_lock = threading.Lock()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: Optional[http.client.HTTPConnection] = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                                   context=self._ssl)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = conn
            with self._http_lock:
                self._http.add(conn)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        return conn

    def get(self, path: str, timeout: float) -> tuple[int, Any]:
        """(status, parsed JSON body or None); raises Unreachable."""
        deadline = time.monotonic() + timeout
        for attempt in (1, 2):
            conn = self._connection(max(deadline - time.monotonic(), 0.001))
            reused = conn.sock is not None
            try:
                conn.request("GET", path, headers=self._headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    conn.close()
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                # A kept-alive connection the daemon closed meanwhile: once more, anew.
                stale = reused and not isinstance(e, TimeoutError) and not isinstance(
                    e, ssl.SSLError)
                if attempt == 1 and stale and time.monotonic() < deadline:
                    continue
                kind = "timed out" if isinstance(e, TimeoutError) else "failed"
                raise Unreachable("request to %s %s after %.0f ms: %s" % (
                    self.url, kind, (time.monotonic() - deadline + timeout) * 1000, e)) from e
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return resp.status, body

    def close(self) -> None:
        """Closes every thread's connection; the next request opens one anew."""
        with self._http_lock:
            conns = list(self._http)
        for conn in conns:
            conn.close()
        self._local.conn = None

#!/usr/bin/env python3
"""Helpers of tests/e2e/alerting.sh (python3 standard library only).

  e2e_helper.py receive PORT FILE
      Webhook receiver: a python http.server on 127.0.0.1:PORT. Each POST is
      appended to FILE as one JSON line {"path": ..., "received_at": ...,
      "body": <the POST body, parsed>}. GET answers 200 (readiness).
  e2e_helper.py query URL EXPR [TIME]
      Instant query (at unix TIME, default now); exit 0 if it returned at
      least one series, 1 if none, 2 on error. Prints the first value.
  e2e_helper.py alert URL ALERTNAME SERVER
      Prints the state of that alert in URL/api/v1/alerts: firing, pending
      or inactive (then exit 0), followed by its labels as JSON when active.
  e2e_helper.py hook FILE FROM_LINE STATUS ALERTNAME SERVER
      Exit 0 if a notification in FILE after line FROM_LINE (0-based count of
      lines to skip) carries an alert with that status, alertname and server
      label; prints "PATH<TAB>LABELS<TAB>ANNOTATIONS" of the first match.
  e2e_helper.py lines FILE
      Number of lines in FILE (0 when it does not exist).
"""
import http.server
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def receive(port, path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # readiness
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            line = json.dumps({"path": self.path, "received_at": time.time(), "body": body})
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def query(base, expr, at=None):
    params = {"query": expr}
    if at:
        params["time"] = at
    try:
        body = get_json(base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params))
    except (urllib.error.URLError, OSError, ValueError) as e:
        print("error: %s" % e)
        return 2
    if body.get("status") != "success":
        print("error: %s" % body.get("error"))
        return 2
    result = body["data"]["result"]
    if not result:
        return 1
    print(result[0]["value"][1])
    return 0


def alert(base, name, server):
    try:
        body = get_json(base.rstrip("/") + "/api/v1/alerts")
    except (urllib.error.URLError, OSError, ValueError) as e:
        print("error: %s" % e)
        return 2
    for a in body["data"]["alerts"]:
        if a["labels"].get("alertname") == name and a["labels"].get("server") == server:
            print(a["state"], json.dumps(a["labels"], sort_keys=True))
            return 0
    print("inactive")
    return 0


def hook(path, from_line, status, name, server):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return 1
    for line in lines[int(from_line):]:
        if not line.strip():
            continue
        n = json.loads(line)
        body = n["body"] if isinstance(n["body"], dict) else {}
        for a in body.get("alerts", []):
            labels = a.get("labels", {})
            if (a.get("status") == status and labels.get("alertname") == name
                    and labels.get("server") == server):
                print("%s\t%s\t%s" % (n["path"], json.dumps(labels, sort_keys=True),
                                      json.dumps(a.get("annotations", {}), sort_keys=True)))
                return 0
    return 1


def lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            print(sum(1 for _ in f))
    except FileNotFoundError:
        print(0)
    return 0


def main(argv):
    cmds = {"receive": (receive, 2, 2), "query": (query, 2, 3), "alert": (alert, 3, 3),
            "hook": (hook, 5, 5), "lines": (lines, 1, 1)}
    if len(argv) < 2 or argv[1] not in cmds or not (
            cmds[argv[1]][1] <= len(argv) - 2 <= cmds[argv[1]][2]):
        print(__doc__, file=sys.stderr)
        return 2
    fn = cmds[argv[1]][0]
    return fn(*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env bash
# Run every PromQL expression of the lagrouter dashboard and alert rules
# against a live Prometheus and report which return no data.
# Needs bash and python3 (standard library only). Run with --help for usage.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
exec "${PYTHON:-python3}" - "$repo" "$@" <<'PYEOF'
import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = sys.argv[1]
USAGE = """\
dashboard_queries.sh [options] PROMETHEUS_URL
dashboard_queries.sh --list [options]

Runs every PromQL expression of dashboards/lagrouter.json (panels, the alert
annotation and the template-variable selectors) and of alerts/lagrouter.rules.yml
(recording and alerting rules) through PROMETHEUS_URL/api/v1/query, plus one
query per metric name the expressions reference, and reports for each:

  DATA    n   the expression returned n series
  EMPTY   0   the expression returned nothing
  ERROR   -   Prometheus rejected the query (message follows)
  FIRING  n   an alert expression returned n series (the alert is active
              or pending); QUIET means not firing, which is normal
  MISSING     a referenced metric has no series at all

Grafana variables are substituted first: $cluster/${cluster} -> --cluster,
$server/${server} -> --server, $__rate_interval/$__interval -> --rate-interval,
$__range -> --range.

Exit status: 0 when every query ran; 2 on a query error, a connection error or
bad usage; 1 with --strict when a dashboard query returned no data or a
referenced metric is missing, unless it matches --allow-empty.
Alert expressions never count as failures (empty = not firing).

Example (end-to-end test; lagrouter scraped at least twice, some routes asked):
  tests/alerts/dashboard_queries.sh --strict \\
      --allow-empty 'reported_lag|probe_errors|no_eligible|ALERTS' \\
      http://127.0.0.1:19090
"""


def parse_args():
    p = argparse.ArgumentParser(prog="dashboard_queries.sh", usage=USAGE,
                                add_help=True, description=None)
    p.add_argument("url", nargs="?", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--dashboard", default=os.path.join(REPO, "dashboards/lagrouter.json"))
    p.add_argument("--rules", default=os.path.join(REPO, "alerts/lagrouter.rules.yml"))
    p.add_argument("--cluster", default=".*", help="value for $cluster (regex, default .*)")
    p.add_argument("--server", default=".*", help="value for $server (regex, default .*)")
    p.add_argument("--rate-interval", default="1m", help="value for $__rate_interval (default 1m)")
    p.add_argument("--range", default="1h", help="value for $__range (default 1h)")
    p.add_argument("--time", default=None, help="evaluation time (unix or RFC3339; default now)")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if a dashboard query or a referenced metric has no data")
    p.add_argument("--allow-empty", default=None, metavar="REGEX",
                   help="with --strict: empty results whose title, expression or metric "
                        "name matches REGEX are not failures")
    p.add_argument("--list", action="store_true",
                   help="print KIND<TAB>TITLE<TAB>EXPR for every substituted expression "
                        "and exit (no Prometheus needed)")
    a = p.parse_args(sys.argv[2:])
    if not a.list and not a.url:
        p.print_usage(sys.stderr)
        sys.exit(2)
    return a


def substitute(expr, a):
    repl = {
        "cluster": a.cluster, "server": a.server,
        "__rate_interval": a.rate_interval, "__interval": a.rate_interval,
        "__range": a.range,
    }

    def sub(m):
        name = m.group(1) or m.group(2)
        return repl.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, expr)


def dashboard_exprs(path):
    """Yield (kind, title, expr) for every expression of a Grafana dashboard."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))
    for p in panels(d.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield ("dashboard", "%s [%s]" % (p.get("title", "?"), t.get("refId", "?")), t["expr"])
    for an in d.get("annotations", {}).get("list", []):
        if an.get("expr"):
            yield ("annotation", "annotation " + an.get("name", "?"), an["expr"])
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", q, re.S)
        if m:
            yield ("variable", "variable $" + v["name"], m.group(1))
        elif q.startswith("query_result("):
            yield ("variable", "variable $" + v["name"], q[len("query_result("):-1])


def rule_exprs(path):
    """Yield (kind, name, expr) from a Prometheus rules file.

    A small line-based reader for the layout used in alerts/ (the standard
    library has no YAML): `- alert: X` / `- record: X`, then `expr:` inline or
    as a `|` / `>` block scalar.
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    kind = name = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*-\s+(alert|record):\s*(\S+)\s*$", line)
        if m:
            kind, name = m.group(1), m.group(2).strip("'\"")
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m and kind:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in ("|", "|-", ">", ">-", "|+", ">+"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip()
                                          or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                expr = "\n".join(body).strip()
                if rest.startswith(">"):
                    expr = " ".join(x.strip() for x in body if x.strip())
                yield (kind, name, expr)
                kind = None
                continue
            if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
                rest = rest[1:-1]
            yield (kind, name, rest)
            kind = None
        i += 1


METRIC_RE = re.compile(r"(?<![\w:$\"])((?:lagrouter[_:][A-Za-z0-9_:]*)|up|ALERTS)(?=\s*[{\[)\s,]|$)")


def metric_names(expr):
    names = set()
    for m in METRIC_RE.finditer(expr):
        names.add(m.group(1))
    return names


def query(base, q, a):
    params = {"query": q}
    if a.time:
        params["time"] = a.time
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=a.timeout) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except Exception:
            return None, "HTTP %d" % e.code
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, "cannot query %s: %s" % (base, e)
    if body.get("status") != "success":
        return None, "%s: %s" % (body.get("errorType", "error"), body.get("error", "?"))
    data = body["data"]
    if data["resultType"] in ("vector", "matrix"):
        return len(data["result"]), None
    return 1, None  # scalar / string


def main():
    a = parse_args()
    items = []
    for kind, title, expr in dashboard_exprs(a.dashboard):
        items.append((kind, title, substitute(expr, a)))
    for kind, name, expr in rule_exprs(a.rules):
        items.append((kind, name, substitute(expr, a)))
    if a.list:
        for kind, title, expr in items:
            print("%s\t%s\t%s" % (kind, title, " ".join(expr.split())))
        return 0

    allow = re.compile(a.allow_empty) if a.allow_empty else None
    n_data = n_empty = n_err = 0
    failures = []
    metrics = set()
    for kind, title, expr in items:
        metrics |= metric_names(expr)
        n, err = query(a.url, expr, a)
        flat = " ".join(expr.split())
        if err:
            n_err += 1
            print("ERROR   -   [%s] %s :: %s\n            %s" % (kind, title, flat, err))
            if err.startswith("cannot query"):
                print("stopping: Prometheus unreachable", file=sys.stderr)
                return 2
            continue
        if kind == "alert":
            print("%-7s %-3d [alert] %s" % ("FIRING" if n else "QUIET", n, title))
            continue
        if n:
            n_data += 1
            print("DATA    %-3d [%s] %s" % (n, kind, title))
        else:
            n_empty += 1
            allowed = allow is not None and (allow.search(title) or allow.search(flat))
            print("EMPTY   0   [%s] %s :: %s%s" % (kind, title, flat, "  (allowed)" if allowed else ""))
            if kind in ("dashboard", "variable", "record") and not allowed:
                failures.append(title)
    n_missing = 0
    for name in sorted(metrics):
        if name == "ALERTS":
            continue
        n, err = query(a.url, "count(%s)" % ("{__name__=\"%s\"}" % name), a)
        if err:
            n_err += 1
            print("ERROR   -   [metric] %s: %s" % (name, err))
            continue
        if n:
            print("PRESENT     [metric] %s" % name)
        else:
            n_missing += 1
            allowed = allow is not None and allow.search(name)
            print("MISSING     [metric] %s%s" % (name, "  (allowed)" if allowed else ""))
            if not allowed:
                failures.append("metric " + name)
    print("queries: %d with data, %d empty, %d errors; metrics: %d referenced, %d missing"
          % (n_data, n_empty, n_err, len(metrics - {"ALERTS"}), n_missing))
    if n_err:
        return 2
    if a.strict and failures:
        print("strict: no data for: " + ", ".join(failures))
        return 1
    return 0


sys.exit(main())
PYEOF

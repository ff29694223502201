#!/usr/bin/env bash
# Checks lagrouter's observability assets offline:
#   alerts/lagrouter.rules.yml, alerts/lagrouter.rules.test.yml,
#   alerts/alertmanager.example.yml, alerts/README.md (override example),
#   dashboards/lagrouter.json, docs/runbooks.md.
# Needs promtool and amtool (Debian: prometheus, prometheus-alertmanager) and
# python3 (standard library only). Prints one line per check and a last line
# "N passed, M failed"; exits non-zero if any check failed.
# Usage: tests/alerts/run.sh [-v]   (-v: show output of passing checks too)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2
verbose=0
[[ "${1:-}" == "-v" ]] && verbose=1

PY=${PYTHON:-python3}
RULES=alerts/lagrouter.rules.yml
TESTS=alerts/lagrouter.rules.test.yml
AM=alerts/alertmanager.example.yml
DASH=dashboards/lagrouter.json
RUNBOOKS=docs/runbooks.md
README=alerts/README.md

for tool in promtool amtool "$PY"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "missing tool: $tool (apt-get install -y prometheus prometheus-alertmanager python3)" >&2
    echo "0 passed, 1 failed"
    exit 2
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
indent() { while IFS= read -r line; do printf '       %s\n' "$line"; done <<<"$1"; }
# check NAME COMMAND...: runs COMMAND, counts and reports the result.
check() {
  local name=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    echo "ok   - $name"
    [[ $verbose -eq 1 && -n "$out" ]] && indent "$out"
  else
    failed=$((failed + 1))
    echo "FAIL - $name"
    indent "$out"
  fi
  return 0
}

# py_check ARG... <<'EOF' ...: runs the Python script on stdin with ARGs; it
# ends with finish(SUMMARY, PROBLEMS), which prints the summary and every
# problem and exits 1 if there is any.
py_check() {
  "$PY" -c "import sys
def finish(summary, problems):
    print(summary)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)
$(cat)" "$@"
}

# --- Prometheus rules -------------------------------------------------------
check "promtool check rules $RULES" promtool check rules "$RULES"
check "promtool test rules $TESTS" promtool test rules "$TESTS"

# Every alert: severity, summary, description, runbook_url to an existing
# section of docs/runbooks.md, and both firing and non-firing unit tests.
rules_meta() {
  py_check "$RULES" "$TESTS" "$RUNBOOKS" <<'EOF'
import re
rules, tests, runbooks = (open(p, encoding="utf-8").read() for p in sys.argv[1:4])
BASE = "https://github.com/lagrouter/lagrouter/blob/main/docs/runbooks.md#"
def anchor(h):  # GitHub's heading anchor
    h = h.strip().lower()
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")
anchors = {anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", runbooks, re.M)}
blocks = re.split(r"^\s*- (?=alert:|record:)", rules, flags=re.M)[1:]
problems, alerts = [], []
for b in blocks:
    m = re.match(r"alert:\s*(\w+)", b)
    if not m:
        continue
    name = m.group(1)
    alerts.append(name)
    sev = re.search(r"^\s+severity:\s*(\w+)", b, re.M)
    if not sev or sev.group(1) not in ("critical", "warning"):
        problems.append(f"{name}: severity label must be critical or warning")
    for a in ("summary", "description", "runbook_url"):
        if not re.search(rf"^\s+{a}:", b, re.M):
            problems.append(f"{name}: no {a} annotation")
    url = re.search(r"runbook_url:\s*\"?([^\"\s]+)", b)
    if url:
        if url.group(1) != BASE + name.lower():
            problems.append(f"{name}: runbook_url should be {BASE}{name.lower()}, is {url.group(1)}")
        if name.lower() not in anchors:
            problems.append(f"{name}: no section '## {name}' in docs/runbooks.md")
    if "$labels." not in b:
        problems.append(f"{name}: annotations do not use $labels")
# Unit tests: per alertname, a case expecting alerts and one expecting none.
firing, quiet = set(), set()
cur = None
lines = tests.split("\n")
for i, l in enumerate(lines):
    m = re.match(r"^\s*alertname:\s*(\w+)", l)
    if m:
        cur = m.group(1)
    m = re.match(r"^\s*exp_alerts:\s*(\[\])?\s*$", l)
    if m and cur:
        (quiet if m.group(1) else firing).add(cur)
for name in alerts:
    if name not in firing:
        problems.append(f"{name}: no unit test where it fires")
    if name not in quiet:
        problems.append(f"{name}: no unit test where it must not fire")
for name in (firing | quiet) - set(alerts):
    problems.append(f"unit tests name an unknown alert {name}")
need = {"ReplicationLagHigh", "ReplicationLagCritical", "ReplicationStopped", "ReplicaDown",
        "LagrouterProbesFailing", "NoFreshReplica", "LagrouterDown", "SplitBrain"}
for name in sorted(need - set(alerts)):
    problems.append(f"required alert {name} missing")
finish(f"{len(alerts)} alerts: " + ", ".join(alerts), problems)
EOF
}
check "every alert has severity, annotations, a runbook section and firing/non-firing tests" rules_meta

# Only contract metrics (and our own recording rules) are used.
contract_metrics() {
  py_check "$repo" <<'EOF'
import re, subprocess
repo = sys.argv[1]
contract = {
    "lagrouter_replica_lag_seconds", "lagrouter_replica_lag_bytes",
    "lagrouter_replica_reported_lag_seconds", "lagrouter_server_up",
    "lagrouter_server_is_primary", "lagrouter_replication_running",
    "lagrouter_probe_duration_seconds", "lagrouter_probe_errors_total",
    "lagrouter_last_successful_probe_timestamp_seconds", "lagrouter_route_requests_total",
    "lagrouter_route_duration_seconds", "lagrouter_class_eligible_replicas",
    "lagrouter_class_max_staleness_seconds", "lagrouter_cluster_primaries",
    "lagrouter_build_info",
    # Beyond the design's list, documented in docs/operations.md:
    "lagrouter_http_accept_errors_total", "lagrouter_discovery_ok",
}
out = subprocess.run([repo + "/tests/alerts/dashboard_queries.sh", "--list"],
                     capture_output=True, text=True, check=True).stdout
used = set(re.findall(r"(?<![\w:])(lagrouter_[a-z0-9_]+)", out))
bad = []
for m in sorted(used):
    base = re.sub(r"_(bucket|count|sum)$", "", m)
    if m not in contract and base not in contract:
        bad.append(m)
finish("metrics used: " + ", ".join(sorted(used)),
       ["not in the metrics contract: " + ", ".join(bad)] if bad else [])
EOF
}
check "rules and dashboard use only contract metrics" contract_metrics

# --- threshold override example from alerts/README.md -----------------------
extract_override() {
  sed -n '/<!-- BEGIN override-example/,/<!-- END override-example/p' "$README" |
    sed -e '/^<!--/d' -e '/^```/d' >"$tmp/lagrouter.overrides.yml"
  [[ -s "$tmp/lagrouter.overrides.yml" ]] || { echo "no override example in $README"; return 1; }
  promtool check rules "$tmp/lagrouter.overrides.yml"
}
check "README override example passes promtool check rules" extract_override

override_test() {
  cp "$RULES" "$tmp/lagrouter.rules.yml"
  cat >"$tmp/override.test.yml" <<'EOF'
rule_files: [lagrouter.rules.yml, lagrouter.overrides.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      # global override 30 s: 20 s quiet, 40 s warns; critical stays 60 s
      - series: 'lagrouter_replica_lag_seconds{cluster="shop",server="pg-b"}'
        values: '20x40'
      - series: 'lagrouter_replica_lag_seconds{cluster="shop",server="pg-c"}'
        values: '40x40'
      - series: 'lagrouter_replica_lag_seconds{cluster="shop",server="pg-d"}'
        values: '90x40'
      # cluster "reports": warn at 300 s, critical at 1800 s
      - series: 'lagrouter_replica_lag_seconds{cluster="reports",server="r-1"}'
        values: '200x40'
      - series: 'lagrouter_replica_lag_seconds{cluster="reports",server="r-2"}'
        values: '400x40'
    promql_expr_test:
      - expr: sort_desc(ALERTS{alertstate="firing",alertname=~"ReplicationLag.*"})
        eval_time: 7m
        exp_samples:
          - labels: 'ALERTS{alertname="ReplicationLagCritical",alertstate="firing",cluster="shop",server="pg-d",severity="critical"}'
            value: 1
          - labels: 'ALERTS{alertname="ReplicationLagHigh",alertstate="firing",cluster="shop",server="pg-c",severity="warning"}'
            value: 1
          - labels: 'ALERTS{alertname="ReplicationLagHigh",alertstate="firing",cluster="shop",server="pg-d",severity="warning"}'
            value: 1
          - labels: 'ALERTS{alertname="ReplicationLagHigh",alertstate="firing",cluster="reports",server="r-2",severity="warning"}'
            value: 1
EOF
  promtool test rules "$tmp/override.test.yml"
}
check "README override example changes thresholds (promtool test rules)" override_test

# --- Alertmanager -----------------------------------------------------------
check "amtool check-config $AM" amtool check-config "$AM"
check "alertmanager routes severity=critical to pager" \
  amtool config routes test --config.file="$AM" --verify.receivers=pager \
  severity=critical alertname=ReplicationLagCritical cluster=shop
check "alertmanager routes severity=warning to chat" \
  amtool config routes test --config.file="$AM" --verify.receivers=chat \
  severity=warning alertname=ReplicationLagHigh cluster=shop

# --- Grafana dashboard ------------------------------------------------------
dashboard_structure() {
  py_check "$DASH" <<'EOF'
import json
d = json.load(open(sys.argv[1], encoding="utf-8"))
problems = []
if not (36 <= d.get("schemaVersion", 0) <= 39):
    problems.append(f"schemaVersion {d.get('schemaVersion')} (want ~38)")
if d.get("id") is not None:
    problems.append("id must be null for import")
if not d.get("uid") or not d.get("title"):
    problems.append("uid and title required")
v = {x["name"]: x for x in d.get("templating", {}).get("list", [])}
if v.get("datasource", {}).get("type") != "datasource" or v["datasource"].get("query") != "prometheus":
    problems.append("need a 'datasource' variable of type datasource, query prometheus")
for name in ("cluster", "server"):
    q = v.get(name, {}).get("query", {})
    q = q.get("query", "") if isinstance(q, dict) else q
    if not q.startswith("label_values(") or not q.rstrip(")").endswith(name):
        problems.append(f"variable {name} must come from label_values(..., {name})")
    if v.get(name, {}).get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"variable {name} must use ${{datasource}}")
ids, n_targets = set(), 0
need_titles = []
for p in d.get("panels", []):
    if p["id"] in ids:
        problems.append(f"duplicate panel id {p['id']}")
    ids.add(p["id"])
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"panel {p['title']!r}: datasource must be ${{datasource}}")
    if not p.get("targets"):
        problems.append(f"panel {p['title']!r}: no targets")
    for t in p.get("targets", []):
        n_targets += 1
        if t.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {p['title']!r} target {t.get('refId')}: datasource must be ${{datasource}}")
        if not t.get("expr"):
            problems.append(f"panel {p['title']!r} target {t.get('refId')}: empty expr")
    gp = p.get("gridPos", {})
    if gp.get("x", 0) + gp.get("w", 0) > 24:
        problems.append(f"panel {p['title']!r} wider than the grid")
exprs = " ".join(t["expr"] for p in d["panels"] for t in p.get("targets", []))
for m in ("lagrouter_replica_lag_seconds", "lagrouter_replica_reported_lag_seconds",
          "lagrouter_replica_lag_bytes", "lagrouter_replication_running", "lagrouter_server_up",
          "lagrouter_probe_errors_total", "lagrouter_probe_duration_seconds_bucket",
          "lagrouter_route_requests_total", "lagrouter_class_eligible_replicas"):
    if m not in exprs:
        problems.append(f"no panel shows {m}")
finish(f"{len(ids)} panels, {n_targets} targets", problems)
EOF
}
check "dashboard JSON is importable (schema, variables, datasource, panels)" dashboard_structure

# promtool 2.42 has no "parse this expression" command: write each expression
# as a recording rule and let promtool check rules parse it.
dashboard_parse() {
  "$here/dashboard_queries.sh" --list >"$tmp/exprs.tsv" || return 1
  "$PY" - "$tmp/exprs.tsv" "$tmp/dashboard.rules.yml" <<'EOF' || return 1
import json, sys
rows = [l.rstrip("\n").split("\t", 2) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
rows = [r for r in rows if r[0] in ("dashboard", "annotation", "variable")]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: dashboard-expressions\n    rules:\n")
    for i, (kind, title, expr) in enumerate(rows):
        f.write(f"      # {kind}: {title}\n")
        f.write(f"      - record: dashboard_expr_{i}\n        expr: {json.dumps(expr)}\n")
print(f"{len(rows)} dashboard expressions")
EOF
  promtool check rules "$tmp/dashboard.rules.yml"
}
check "every dashboard expression parses (promtool check rules)" dashboard_parse

rule_exprs_listed() {
  # dashboard_queries.sh must see every rule of the rules file.
  local listed in_file
  listed=$("$here/dashboard_queries.sh" --list | grep -cE '^(alert|record)	')
  in_file=$(grep -cE '^\s*- (alert|record):' "$RULES")
  echo "dashboard_queries.sh lists $listed of $in_file rules"
  [[ "$listed" -eq "$in_file" && "$listed" -gt 0 ]]
}
check "dashboard_queries.sh extracts every rule expression" rule_exprs_listed

# --- scripts ----------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  check "shellcheck tests/alerts/*.sh" shellcheck "$here/run.sh" "$here/dashboard_queries.sh"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

"""docs/openapi.yaml: valid OpenAPI 3.1 (Redocly CLI's validator, installed
by scripts/install-deps.sh into build/tools/), and the daemon's live answers
match it: for each request, the status must be one the document lists for
that path (or its generic 404/405), its body must validate against the
listed schema (python3-jsonschema, JSON Schema 2020-12, as OpenAPI 3.1
uses), and required headers must be there. Both engines; 200, 400, 401,
403, 404, 405 and 503 cases, with and without `wait`."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import jsonschema
import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "support"))
import pydaemon  # noqa: E402

DOC_PATH = os.path.join(REPO, "docs", "openapi.yaml")
with open(DOC_PATH) as f:
    DOC = yaml.safe_load(f)
REDOCLY = os.environ.get("REDOCLY", os.path.join(REPO, "build", "tools", "node_modules", ".bin",
                                                 "redocly"))


def test_document_is_valid_openapi():
    assert DOC["openapi"].startswith("3.1"), DOC["openapi"]
    assert os.access(REDOCLY, os.X_OK), "%s missing: run scripts/install-deps.sh" % REDOCLY
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true")
    out = subprocess.run([REDOCLY, "lint", "--config", os.path.join(HERE, "redocly.yaml"),
                          "--format", "stylish", DOC_PATH], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout + out.stderr


def test_validator_rejects_a_broken_document(tmp_path):
    """The validator is not a rubber stamp: a response without a description,
    an unknown parameter location and a dangling $ref are errors."""
    broken = json.loads(json.dumps(DOC))
    route = broken["paths"]["/v1/route"]["get"]
    del route["responses"]["200"]["description"]
    route["parameters"][0] = {"name": "cluster", "in": "body", "schema": {"type": "string"}}
    route["responses"]["400"] = {"$ref": "#/components/responses/Nope"}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true")
    out = subprocess.run([REDOCLY, "lint", "--config", os.path.join(HERE, "redocly.yaml"),
                          "--format", "stylish", str(path)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode != 0, out.stdout


def deref(node):
    """Follows a local $ref of the document (#/a/b/c)."""
    while isinstance(node, dict) and "$ref" in node:
        target = DOC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def documented(template, method, status):
    """The document's response for (path template, method, status): the
    operation's own, else the generic 404/405 of every path."""
    operation = DOC["paths"][template].get(method) if template is not None else None
    if operation is not None and str(status) in operation["responses"]:
        return deref(operation["responses"][str(status)])
    generic = {404: "NotFound", 405: "MethodNotAllowed"}.get(status)
    assert generic, "%s %s: status %d is not documented" % (method.upper(), template, status)
    return DOC["components"]["responses"][generic]


def check_answer(daemon, url_path, template, status_want, token="svc", method="GET"):
    headers = {"Authorization": "Bearer " + pydaemon.TOKENS[token]} if token in pydaemon.TOKENS \
        else ({"Authorization": token} if token else {})
    req = urllib.request.Request(daemon.url + url_path, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            status, ctype, raw, got_headers = r.status, r.headers.get("Content-Type"), r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, ctype, raw, got_headers = e.code, e.headers.get("Content-Type"), e.read(), e.headers
    assert status == status_want, "%s %s: %d %s" % (method, url_path, status, raw[:300])
    response = documented(template, method.lower(), status)
    for name, h in (response.get("headers") or {}).items():
        if h.get("required"):
            assert got_headers.get(name), "%s %s: header %s missing" % (method, url_path, name)
    media = ctype.split(";")[0].strip()
    content = response["content"]
    assert media in content, "%s %s: %s not documented (%s)" % (method, url_path, media,
                                                                list(content))
    if media != "application/json":
        return raw
    body = json.loads(raw)
    schema = content[media]["schema"]
    validator = jsonschema.Draft202012Validator(
        schema, resolver=jsonschema.RefResolver.from_schema(DOC))
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, "%s %s (%d): %s\nbody: %s" % (method, url_path, status,
                                                     "; ".join(e.message for e in errors), body)
    return body


@pytest.fixture(scope="module")
def daemon():
    with pydaemon.Daemon() as d:
        for cluster, _, names in pydaemon.ENGINES.values():
            d.wait_eligible(cluster, names[1], "dashboard")
        yield d


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_live_answers_match_the_document(daemon, engine):
    cluster, _, names = pydaemon.ENGINES[engine]
    route, check = "/v1/route", "/v1/check/{cluster}/{server}"
    q = "/v1/route?cluster=%s&class=" % cluster
    # 200
    body = check_answer(daemon, q + "dashboard", route, 200)
    assert body["role"] == "replica" and len(body["servers"]) == 2
    assert check_answer(daemon, q + "inventory", route, 200)["reason"] == "primary_class"
    check_answer(daemon, "/v1/check/%s/%s?class=dashboard" % (cluster, names[1]), check, 200)
    check_answer(daemon, "/v1/check/%s/%s?class=dashboard&role=any" % (cluster, names[0]),
                 check, 200)
    status = check_answer(daemon, "/v1/status", "/v1/status", 200)
    assert {c["engine"] for c in status["clusters"]} == {"postgres", "mysql"}
    check_answer(daemon, "/healthz", "/healthz", 200)
    check_answer(daemon, "/readyz", "/readyz", 200)
    check_answer(daemon, "/metrics", "/metrics", 200)
    check_answer(daemon, "/", "/", 200)
    # 400
    assert check_answer(daemon, q + "nope", route, 400)["error"] == "unknown_class"
    assert check_answer(daemon, "/v1/route?cluster=nope&class=dashboard", route,
                        400)["error"] == "unknown_cluster"
    assert check_answer(daemon, q + "dashboard&colour=red", route, 400)["error"] == "bad_request"
    assert check_answer(daemon, q + "dashboard&after=xyz", route, 400)["error"] == "bad_position"
    assert check_answer(daemon, "/v1/check/%s/nope?class=dashboard" % cluster, check,
                        400)["error"] == "unknown_server"
    assert check_answer(daemon, "/v1/check/%s/%s?class=dashboard&role=primary"
                        % (cluster, names[1]), check, 400)["error"] == "bad_request"
    # 401: no token, not Bearer, an unknown token (WWW-Authenticate checked as documented)
    check_answer(daemon, q + "dashboard", route, 401, token=None)
    check_answer(daemon, q + "dashboard", route, 401, token="Basic Zm9vOmJhcg==")
    check_answer(daemon, "/v1/check/%s/%s?class=dashboard" % (cluster, names[1]), check, 401,
                 token="Bearer not-a-known-token-123456")
    check_answer(daemon, "/v1/status", "/v1/status", 401, token=None)
    # 403: the "limited" client may ask shop/dashboard only
    if cluster == "shop":
        check_answer(daemon, q + "reports", route, 403, token="limited")
        assert check_answer(daemon, q + "dashboard", route, 200, token="limited")
    else:
        check_answer(daemon, q + "dashboard", route, 403, token="limited")
        check_answer(daemon, "/v1/check/%s/%s?class=dashboard" % (cluster, names[1]), check,
                     403, token="limited")
    # 404 and 405
    check_answer(daemon, "/v2/route", None, 404)
    check_answer(daemon, "/v1/check/%s/%s/extra?class=dashboard" % (cluster, names[1]), check,
                 404)
    check_answer(daemon, q + "dashboard", route, 405, method="POST")
    # wait (on-demand probes): a request parked then answered carries waited_ms;
    # one that cannot parse is a 400.
    future = "FF/0" if engine == "postgres" else "0-1-999999999"
    assert check_answer(daemon, q + "dashboard&wait=50ms", route, 200)["role"] == "replica"
    body = check_answer(daemon, q + "dashboard&wait=100ms&after=" + future, route, 200)
    assert body["reason"] == "fallback_primary" and body["waited_ms"] >= 90, body
    assert check_answer(daemon, q + "dashboard&wait=soon", route, 400)["error"] == "bad_request"
    assert check_answer(daemon, q + "reports&wait=50ms&after=" + future, route,
                        503)["error"] == "no_eligible_server"
    # 503: a position no replica has replayed, in a class that falls back with an error;
    # the primary in a replica-only check.
    assert check_answer(daemon, q + "reports&after=" + future, route,
                        503)["error"] == "no_eligible_server"
    body = check_answer(daemon, "/v1/check/%s/%s?class=dashboard&role=replica"
                        % (cluster, names[0]), check, 503)
    assert body["reason"] == "primary" and body["ok"] is False


def test_schemas_reject_wrong_answers():
    """The schemas say something: answers that break the contract fail them."""
    schema = DOC["components"]["schemas"]["RouteAnswer"]
    validator = jsonschema.Draft202012Validator(
        schema, resolver=jsonschema.RefResolver.from_schema(DOC))
    good = {"cluster": "shop", "class": "c", "server": "a", "role": "replica", "host": "h",
            "port": 1, "staleness_bound_ms": 1, "valid_for_ms": 1, "reason": "fresh_replica",
            "servers": [{"server": "a", "role": "replica", "host": "h", "port": 1, "weight": 1,
                         "staleness_bound_ms": 1, "valid_for_ms": 1}]}
    assert validator.is_valid(good)
    for key, value in (("role", "leader"), ("reason", "lucky"), ("valid_for_ms", -1),
                       ("servers", []), ("port", "5432")):
        assert not validator.is_valid(dict(good, **{key: value})), key
    assert not validator.is_valid({k: v for k, v in good.items() if k != "servers"})

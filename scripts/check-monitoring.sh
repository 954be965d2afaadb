#!/usr/bin/env bash
# Checks the monitoring assets in monitoring/:
#   1. promtool check rules monitoring/rcache-alerts.yml
#   2. promtool test rules monitoring/rcache-alerts.test.yml
#   3. the dashboard monitoring/grafana-dashboard.json: valid JSON, the template variables
#      (datasource, client, instance), unique panel ids, every panel query in PromQL that parses
#      (each one is run through promtool check rules, with Grafana's $variables replaced);
#   4. every recording rule name used (a name with a colon) is defined in the rules file;
#   5. with an exposition file: every rcache_* metric named in a dashboard query (panels, template
#      variables, annotations) or in a rule expr is a `# TYPE` family in it. Histogram series
#      (_bucket, _sum, _count) count as their family, and names of the rules file's recording
#      rules are not metrics. A missing family is reported with the panels and rules naming it.
#
#   scripts/check-monitoring.sh [EXPOSITION]    EXPOSITION: a Prometheus text exposition, e.g.
#                                               monitoring/testdata/exposition.txt, or the output
#                                               of `curl -s http://127.0.0.1:9464/metrics`
#   scripts/check-monitoring.sh --self-test     checks that this checker catches errors: runs it on
#                                               copies with a misspelled metric, a missing family...
#   Other options (used by --self-test): --rules FILE --tests FILE --dashboard FILE to check
#   other copies, --no-unit-tests to skip step 2.
#
# Needs promtool (PROMTOOL, default: promtool on PATH) and python3 (standard library only). The
# rule exprs are read by a strict line parser, so python3-yaml is not needed: it accepts a rules
# file where every rule starts with `- record: NAME` or `- alert: NAME` and its `expr:` is either
# one plain (unquoted) line or a `|` block scalar, and rejects anything else. When PyYAML is
# installed, its reading of the file is compared with the line parser's, and a difference is an
# error. Exit status: 0 all good, 1 a check failed, 2 bad usage or a missing tool.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
self="$repo/scripts/check-monitoring.sh"
rules="$repo/monitoring/rcache-alerts.yml"
tests="$repo/monitoring/rcache-alerts.test.yml"
dashboard="$repo/monitoring/grafana-dashboard.json"
exposition=""
unit_tests=1
self_test=0
PROMTOOL=${PROMTOOL:-promtool}

usage() { sed -n '2,21p' "$self" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
    --self-test) self_test=1 ;;
    --rules) rules=$(realpath "$2"); shift ;;
    --tests) tests=$(realpath "$2"); shift ;;
    --dashboard) dashboard=$(realpath "$2"); shift ;;
    --no-unit-tests) unit_tests=0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *)
      [ -n "$exposition" ] && { echo "only one exposition file" >&2; exit 2; }
      [ -f "$1" ] || { echo "no such file: $1" >&2; exit 2; }
      exposition=$(realpath "$1") ;;
  esac
  shift
done

command -v "$PROMTOOL" >/dev/null || { echo "promtool not found (set PROMTOOL)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 2; }

# --- self-test ----------------------------------------------------------------------------------
if [ $self_test -eq 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  expo="$repo/monitoring/testdata/exposition.txt"
  failures=0
  # case NAME EXPECTED_RC "STRINGS|THE|OUTPUT|MUST|HOLD|!OR NOT" ARGS... (the checker runs on the files
  # given to this run, or the repository's; an ARGS --rules/--dashboard replaces one of them)
  case_() {
    local name=$1 want_rc=$2 want=$3; shift 3
    local out rc
    out=$(bash "$self" --rules "$rules" --tests "$tests" --dashboard "$dashboard" "$@" 2>&1); rc=$?
    local ok=1 missing=""
    [ "$rc" -eq "$want_rc" ] || ok=0
    local IFS='|'
    for s in $want; do
      case $s in
        '') ;;
        '!'*) ! grep -qF -- "${s#!}" <<<"$out" || { ok=0; missing="$missing [not: ${s#!}]"; } ;;
        *) grep -qF -- "$s" <<<"$out" || { ok=0; missing="$missing [$s]"; } ;;
      esac
    done
    if [ $ok -eq 1 ]; then
      echo "PASS  $name (exit $rc)"
    else
      echo "FAIL  $name: exit $rc (wanted $want_rc), output lacks:${missing:- nothing}"
      # shellcheck disable=SC2001
      sed 's/^/      | /' <<<"$out"
      failures=$((failures + 1))
    fi
  }
  mutate() {  # SRC DST PYTHON-EXPR-ON-s: writes DST = f(SRC), failing if nothing changed
    python3 - "$1" "$2" "$3" <<'PY' || exit 2
import sys
src, dst, code = sys.argv[1:]
s = open(src).read()
t = eval(code, {"s": s})
if t == s:
    sys.exit(f"self-test mutation changed nothing: {code}")
open(dst, "w").write(t)
PY
  }
  echo "=== self-test of scripts/check-monitoring.sh"
  case_ "the repository's files pass" 0 "all checks passed|same as PyYAML" "$expo"
  mkdir "$tmp/no-yaml" && echo 'raise ImportError("hidden by the self-test")' >"$tmp/no-yaml/yaml.py"
  PYTHONPATH="$tmp/no-yaml" case_ "they pass without PyYAML too (the line parser alone)" 0 \
    "all checks passed|rules: |!same as PyYAML" --no-unit-tests "$expo"

  mutate "$dashboard" "$tmp/misspelled.json" 's.replace("rcache_hits_total{", "rcache_hit_total{", 1)'
  case_ "a misspelled metric in a dashboard panel fails, naming the panel" 1 \
    "rcache_hit_total|panel \"Hit ratio (user reads)\"" \
    --no-unit-tests --dashboard "$tmp/misspelled.json" "$expo"

  mutate "$rules" "$tmp/misspelled-rules.yml" 's.replace("rcache_loader_errors_total[", "rcache_loader_error_total[")'
  case_ "a misspelled metric in the rules fails, naming the rules" 1 \
    "rcache_loader_error_total|alert RcacheLoaderErrorRatioHigh|record client:rcache_loader_error_ratio:rate5m" \
    --no-unit-tests --rules "$tmp/misspelled-rules.yml" "$expo"

  grep -v '^rcache_near_cache\|^# [A-Z]* rcache_near_cache' "$expo" >"$tmp/no-near-cache.txt"
  case_ "an exposition without the near-cache families fails, naming panels and rules" 1 \
    "rcache_near_cache_coherent|panel \"Near cache coherent\"|alert RcacheNearCacheIncoherent|only for clients with a near cache" \
    --no-unit-tests "$tmp/no-near-cache.txt"

  mutate "$dashboard" "$tmp/counter-bucket.json" 's.replace("rcache_loader_calls_total{", "rcache_loader_calls_total_bucket{", 1)'
  case_ "a _bucket series of a family that is not a histogram fails" 1 \
    "rcache_loader_calls_total_bucket" \
    --no-unit-tests --dashboard "$tmp/counter-bucket.json" "$expo"

  mutate "$dashboard" "$tmp/truncated.json" 's[: len(s) // 2]'
  case_ "a dashboard that is not valid JSON fails" 1 "is not valid JSON" \
    --no-unit-tests --dashboard "$tmp/truncated.json"

  mutate "$dashboard" "$tmp/bad-promql.json" 's.replace("sum by (reason) (", "sum by (reason (", 1)'
  case_ "a panel query that is not valid PromQL fails, naming the panel" 1 \
    "does not parse|panel \"Errors/s by reason\"" \
    --no-unit-tests --dashboard "$tmp/bad-promql.json"

  mutate "$dashboard" "$tmp/unknown-record.json" 's.replace("rcache_near_cache_entries{", "client:rcache_near_cache_entries:sum{", 1)'
  case_ "an undefined recording rule name in a panel fails" 1 \
    "client:rcache_near_cache_entries:sum|not a recording rule of" \
    --no-unit-tests --dashboard "$tmp/unknown-record.json"

  mutate "$dashboard" "$tmp/no-client-var.json" 's.replace("\"name\": \"client\"", "\"name\": \"clients\"", 1)'
  case_ "a dashboard without the client variable fails" 1 "template variable \"client\"" \
    --no-unit-tests --dashboard "$tmp/no-client-var.json"

  mutate "$rules" "$tmp/quoted-expr.yml" 's.replace("expr: sum by (job, instance, client) (rate(rcache_requests_total[5m]))", "expr: \"sum by (job, instance, client) (rate(rcache_requests_total[5m]))\"", 1)'
  case_ "a rule expr the line parser does not accept fails" 1 "line parser" \
    --no-unit-tests --rules "$tmp/quoted-expr.yml"

  if [ $failures -eq 0 ]; then echo "self-test: all cases passed"; exit 0; fi
  echo "self-test: $failures case(s) failed"
  exit 1
fi

# --- the checks ---------------------------------------------------------------------------------
status=0
echo "=== promtool check rules $rules"
"$PROMTOOL" check rules "$rules" || status=1
if [ $unit_tests -eq 1 ]; then
  echo "=== promtool test rules $tests"
  "$PROMTOOL" test rules "$tests" || status=1
fi
echo "=== dashboard $dashboard, metric names${exposition:+ against $exposition}"
PROMTOOL="$PROMTOOL" python3 - "$rules" "$dashboard" "$exposition" <<'PY' || status=1
import json, os, re, subprocess, sys, tempfile

rules_path, dash_path, expo_path = sys.argv[1:]
errors = []
def error(msg):
    errors.append(msg)
    print("ERROR: " + msg)

# --- rule exprs: the strict line parser ---------------------------------------------------------
RULE = re.compile(r"^(\s*)- (record|alert): (\S+)\s*$")
EXPR = re.compile(r"^(\s+)expr:(.*)$")
def parse_rules(text):
    """[(kind, name, expr)] from a rules file of the form described at the top of this script."""
    rules, cur, problems = [], None, []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line, n = lines[i], i + 1
        m = RULE.match(line)
        if m:
            if m.group(3)[0] in "\"'":
                problems.append(f"line {n}: quoted rule name")
            cur = [m.group(2), m.group(3), None]
            rules.append(cur)
            i += 1
            continue
        if re.match(r"^\s*- (record|alert):", line):
            problems.append(f"line {n}: rule name not a single plain word")
        m = EXPR.match(line)
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if cur is None:
                problems.append(f"line {n}: expr outside a rule")
            elif cur[2] is not None:
                problems.append(f"line {n}: second expr in rule {cur[1]}")
            if value in ("|", "|-", "|+"):
                block, j = [], i + 1
                while j < len(lines) and (lines[j].strip() == "" or
                                          len(lines[j]) - len(lines[j].lstrip()) > indent):
                    block.append(lines[j])
                    j += 1
                body = [b for b in block if b.strip()]
                if not body:
                    problems.append(f"line {n}: empty expr block")
                strip = min(len(b) - len(b.lstrip()) for b in body) if body else 0
                expr = "\n".join(b[strip:] for b in block).strip()
                i = j
            else:
                if not value or value[0] in "\"'>[{&*!%@`" or " #" in value:
                    problems.append(f"line {n}: expr is not one plain line or a | block")
                nxt = i + 1
                while nxt < len(lines) and not lines[nxt].strip():
                    nxt += 1
                if nxt < len(lines) and len(lines[nxt]) - len(lines[nxt].lstrip()) > indent \
                        and not re.match(r"^\s*[A-Za-z_]+:", lines[nxt]):
                    problems.append(f"line {n}: plain expr continues on the next line")
                expr = value
                i += 1
            if cur is not None and cur[2] is None:
                cur[2] = expr
            continue
        i += 1
    for kind, name, expr in rules:
        if expr is None:
            problems.append(f"{kind} {name}: no expr")
    return [tuple(r) for r in rules], problems

try:
    rules_text = open(rules_path).read()
except OSError as e:
    error(f"cannot read {rules_path}: {e}")
    rules_text = ""
rules, problems = parse_rules(rules_text)
for p in problems:
    error(f"{rules_path}: the line parser does not accept it: {p}")
if rules_text and not rules:
    error(f"{rules_path}: the line parser found no rules")
try:
    import yaml
except ImportError:
    yaml = None
if yaml is not None and rules_text:
    try:
        doc = yaml.safe_load(rules_text)
        via_yaml = [("record" if "record" in r else "alert", r.get("record") or r.get("alert"),
                     str(r.get("expr", "")).strip())
                    for g in doc.get("groups", []) for r in g.get("rules", [])]
        if via_yaml != [(k, n, e.strip()) for k, n, e in rules]:
            error(f"{rules_path}: the line parser and PyYAML read different rules: "
                  "keep to the format described in scripts/check-monitoring.sh")
    except Exception as e:  # promtool check rules reports YAML errors in detail
        error(f"{rules_path}: PyYAML cannot read it: {e}")
records = {name for kind, name, _ in rules if kind == "record"}
print(f"rules: {len(rules)} read ({len(records)} recording, {len(rules) - len(records)} alerting)"
      f"{', same as PyYAML' if yaml is not None and not problems else ''}")

# --- dashboard ----------------------------------------------------------------------------------
queries = []  # (where, expr, is_promql)
try:
    dash = json.load(open(dash_path))
except (OSError, ValueError) as e:
    error(f"{dash_path} is not valid JSON: {e}")
    dash = None
if dash is not None:
    if not isinstance(dash.get("schemaVersion"), int):
        error("dashboard: no schemaVersion")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        error('dashboard: no template variable "datasource" of type datasource (prometheus)')
    for name in ("client", "instance"):
        v = variables.get(name)
        q = v and v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not v or v.get("type") != "query" or not q or "rcache_up" not in q:
            error(f'dashboard: no template variable "{name}" of type query on rcache_up')
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        for q in {v.get("definition"), v["query"].get("query") if isinstance(v.get("query"), dict)
                  else v.get("query")} - {None, ""}:
            m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", q)
            queries.append((f'template variable "{name}"', m.group(1) if m else q, True))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            queries.append((f'annotation "{a.get("name")}"', a["expr"], True))
    ids = {}
    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))
    n_panels = 0
    for p in walk(dash.get("panels", [])):
        title = p.get("title", "?")
        if p.get("id") in ids:
            error(f'dashboard: panel id {p.get("id")} used by "{ids[p.get("id")]}" and "{title}"')
        ids[p.get("id")] = title
        if "gridPos" not in p:
            error(f'dashboard: panel "{title}" has no gridPos')
        if p.get("type") == "row":
            continue
        n_panels += 1
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            error(f'dashboard: panel "{title}" does not use the ${{datasource}} variable')
        if not p.get("targets"):
            error(f'dashboard: panel "{title}" has no query')
        for t in p.get("targets", []):
            if not (t.get("expr") or "").strip():
                error(f'dashboard: panel "{title}" query {t.get("refId")} is empty')
                continue
            queries.append((f'panel "{title}"', t["expr"], True))
    print(f"dashboard: valid JSON, {n_panels} panels, {len(queries)} queries")

    # Every query through promtool check rules, as a recording rule (Grafana variables replaced).
    def promql(expr):
        expr = re.sub(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}", "5m", expr)
        return re.sub(r"\$\{[^}]*\}|\$[A-Za-z_]\w*", ".*", expr)
    def rules_file(items):
        out = ["groups:", "  - name: dashboard", "    rules:"]
        for k, (_, expr, _) in enumerate(items):
            out.append(f"      - record: dashboard_query_{k}")
            out.append("        expr: " + json.dumps(promql(expr)))
        return "\n".join(out) + "\n"
    def promtool_ok(items):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write(rules_file(items))
        try:
            r = subprocess.run([os.environ.get("PROMTOOL", "promtool"), "check", "rules", f.name],
                               capture_output=True, text=True)
            return r.returncode == 0, (r.stdout + r.stderr).strip()
        finally:
            os.unlink(f.name)
    if queries:
        ok, _ = promtool_ok(queries)
        if ok:
            print(f"dashboard: all {len(queries)} queries parse (promtool)")
        else:
            for where, expr, _ in queries:
                ok, out = promtool_ok([(where, expr, True)])
                if not ok:
                    msg = out.splitlines()[-1] if out else "?"
                    error(f"{where}: query does not parse as PromQL: {msg}\n    {expr}")

for kind, name, expr in rules:
    if expr:
        queries.append((f"{kind} {name}", expr, True))

# --- metric names in the queries ----------------------------------------------------------------
def names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)   # strings
    e = re.sub(r"\{[^{}]*\}", "{}", e)                                           # label matchers
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\[[^\]]*\]", "[]", e)                                           # ranges
    return {t for t in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e)
            if t.startswith("rcache_") or ":" in t}

used = {}  # name -> [where]
for where, expr, _ in queries:
    for n in sorted(names(expr)):
        used.setdefault(n, [])
        if where not in used[n]:
            used[n].append(where)
for n, where in sorted(used.items()):
    if ":" in n and n not in records:
        error(f"{n} is not a recording rule of {rules_path} (used by {', '.join(where)})")
metrics = {n: w for n, w in used.items() if n not in records and ":" not in n}
print(f"metric names used: {len(metrics)} rcache_* names, "
      f"{len([n for n in used if n in records])} recording rules")

HINTS = [
    (r"rcache_errors_total$", "appears with a client's first failed call"),
    (r"rcache_circuit_transitions_total$", "appears with a client's first breaker transition"),
    (r"rcache_near_cache_", "only for clients with a near cache (near_cache_bytes > 0)"),
    (r"rcache_tls_", "only with TLS"),
    (r"rcache_(master_switches|discovery_failures)_total$", "only with Sentinel"),
]
if expo_path:
    families = {}
    for line in open(expo_path, errors="replace"):
        m = re.match(r"^#\s*TYPE\s+(\S+)\s+(\S+)", line)
        if m:
            families[m.group(1)] = m.group(2)
    if not families:
        error(f"{expo_path}: no '# TYPE' line: not a Prometheus text exposition?")
    def family_of(n):
        if n in families:
            return n
        m = re.fullmatch(r"(.+)_(bucket|sum|count)", n)
        if m and (families.get(m.group(1)) == "histogram" or
                  (m.group(2) != "bucket" and families.get(m.group(1)) == "summary")):
            return m.group(1)
        m = re.fullmatch(r"(.+)_total", n)   # OpenMetrics: `# TYPE x counter`, samples x_total
        if m and families.get(m.group(1)) == "counter":
            return m.group(1)
        return None
    found = set()
    for n, where in sorted(metrics.items()):
        f = family_of(n)
        if f:
            found.add(f)
            continue
        hint = next((h for r, h in HINTS if re.match(r, n)), None)
        error(f"{n} is not a family of {expo_path}" + (f" ({hint})" if hint else "") +
              "; used by:\n    " + "\n    ".join(where))
    print(f"exposition: {len(families)} families; {len(found)} of them used"
          + (f"; not used by the dashboard or the rules: {', '.join(sorted(set(families) - found))}"
             if set(families) - found else ""))
else:
    print("no exposition given: metric names not checked against one "
          "(scripts/check-monitoring.sh monitoring/testdata/exposition.txt)")

if errors:
    print(f"{len(errors)} problem(s)")
    sys.exit(1)
PY
if [ $status -eq 0 ]; then echo "all checks passed"; else echo "check-monitoring: FAILED"; fi
exit $status

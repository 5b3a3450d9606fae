#!/bin/bash
# The view query API (GET /v1/views..., POST /v1/query, the change stream)
# and `kappa view list|get|query`, against a real server reading a view
# store written by tests/integration/viewdb.py (the schema of
# src/view/store.h), including a store that appears after the server
# started, an alias switched while readers loop, and rows committed while a
# change stream is open.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
VDIR=$(mktemp -d "${TMPDIR:-/tmp}/kappa-views-XXXXXX")
trap 'cleanup_kappa; rm -rf "$VDIR"' EXIT
VDB=$VDIR/views.db
DB() { $PY tests/integration/viewdb.py "$VDB" "$@"; }
start_kappa --set "kappa.views.db=$VDB" --set kappa.views.query.timeout.ms=1000 \
    || { fail "view api: server starts" "see log"; exit 1; }
K=build/kappa
U=http://$HTTP
# check NAME WANT GOT
check() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "want [$2] got [$3]"; fi; }
# status+body of a request: "CODE BODY"
req() { curl -s -m 10 -w ' %{http_code}' "$@"; }

# -- before the store exists ------------------------------------------------
check "no store yet: GET /v1/views lists no views" '{"views":[]} 200' "$(req $U/v1/views | tr -d '\n')"
check "no store yet: a lookup is 404" '{"error":"no view named '"'"'revenue'"'"' (no view store yet)"} 404' \
    "$(req $U/v1/views/revenue/k1 | tr -d '\n')"

# -- the store appears (no restart) -----------------------------------------
DB create revenue 1 1000 && DB create revenue 2 50 || fail "viewdb create" "python failed"
now=$(date +%s%3N)
DB offsets revenue 1 900 1000 $((now - 5000))
out=$(curl -s $U/v1/views)
got=$($PY -c '
import json, sys
d = json.loads(sys.argv[1]); v = d["views"][0]
print(v["view"], v["alias"], [(x["version"], x["table"], x["rows"], x["lag"], x["topic"]) for x in v["versions"]],
      4900 <= v["versions"][0]["freshness_ms"] <= 9000, v["versions"][0]["offsets"][0]["next_offset"])' "$out")
check "GET /v1/views: the store created later shows up: versions, rows, alias, lag, freshness" \
    "revenue 1 [(1, 'revenue@v1', 1000, 100, '__kappa_view.revenue.v1'), (2, 'revenue@v2', 50, 0, '__kappa_view.revenue.v2')] True 900" "$got"

# -- point lookups ----------------------------------------------------------
check "lookup through the alias" '{"view":"revenue","version":1,"key":"k00003","value":{"n":3,"v":"v1"},"ts":1003} 200' \
    "$(req $U/v1/views/revenue/k00003 | tr -d '\n')"
check "lookup of NAME@v2" '{"view":"revenue","version":2,"key":"k00003","value":{"n":3,"v":"v2"},"ts":1003} 200' \
    "$(req $U/v1/views/revenue@v2/k00003 | tr -d '\n')"
check "absent key: 404" '{"error":"no key '"'"'k00050'"'"' in view revenue@v2"} 404' "$(req $U/v1/views/revenue@v2/k00050 | tr -d '\n')"
check "unknown version: 404" '{"error":"view '"'"'revenue'"'"' has no version 7"} 404' "$(req $U/v1/views/revenue@v7/k1 | tr -d '\n')"
check "unknown view: 404" '{"error":"no view named '"'"'nosuch'"'"'"} 404' "$(req $U/v1/views/nosuch/k1 | tr -d '\n')"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/views/bad-name/k1")
check "a malformed view name: 400" 400 "$code"
DB put revenue 1 k00005 -
check "a deleted key (tombstone): 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/views/revenue/k00005)"
DB put revenue 1 'a/b/c' 'plain text, not JSON'
DB put revenue 1 changes '[1,2]'
check "a key with slashes; a value that is not JSON comes back as a string" \
    "['a/b/c', 'plain text, not JSON']" \
    "$(curl -s $U/v1/views/revenue/a/b/c | $PY -c 'import json,sys; d=json.load(sys.stdin); print([d["key"], d["value"]])')"
check "the key named 'changes' through ?key=" '"value":[1,2]' "$(curl -s "$U/v1/views/revenue?key=changes" | grep -o '"value":\[1,2\]')"

# -- keep-alive: two requests, one connection (a loop route and a threaded one)
out=$(curl -sv "$U/v1/views/revenue/k00001" "$U/metrics" "$U/v1/views/revenue/k00002" 2>&1 >/dev/null)
n=$(grep -c "Re-using existing connection" <<<"$out")
check "keep-alive: three requests (lookup, /metrics, lookup) on one connection" 2 "$n"

# -- scans and paging --------------------------------------------------------
got=$(curl -s "$U/v1/views/revenue?limit=3" | $PY -c 'import json,sys; d=json.load(sys.stdin); print([r["key"] for r in d["rows"]], d["next"], d["version"])')
check "scan: limit 3, next is the last key" "['a/b/c', 'changes', 'k00000'] k00000 1" "$got"
got=$(curl -s "$U/v1/views/revenue?limit=3&after=k00003" | $PY -c 'import json,sys; d=json.load(sys.stdin); print([r["key"] for r in d["rows"]])')
check "scan: after skips the tombstone k00005" "['k00004', 'k00006', 'k00007']" "$got"
got=$(curl -s "$U/v1/views/revenue?prefix=k009&limit=1000" | $PY -c 'import json,sys; d=json.load(sys.stdin); r=d["rows"]; print(len(r), r[0]["key"], r[-1]["key"], d["next"])')
check "scan: prefix k009 gives k00900..k00999 and no next page" "100 k00900 k00999 None" "$got"
check "scan: the default limit is 100" 100 "$(curl -s "$U/v1/views/revenue" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["rows"]))')"
got=$($PY - "$U" <<'PYEOF'
import json, sys, urllib.request, urllib.parse
keys, after = [], None
while True:
    q = {"limit": "300"}
    if after is not None:
        q["after"] = after
    d = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/views/revenue?" + urllib.parse.urlencode(q)))
    keys += [r["key"] for r in d["rows"]]
    after = d["next"]
    if after is None:
        break
print(len(keys), len(set(keys)), keys == sorted(keys), "k00005" in keys)
PYEOF
)
check "scan: paging with limit 300 visits every live key once, in order" "1001 1001 True False" "$got"
check "scan: limit 0 is refused" 400 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/views/revenue?limit=0")"
check "scan: limit 10001 is refused" 400 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/views/revenue?limit=10001")"

# -- SQL --------------------------------------------------------------------
check "SQL over the stable name (live rows of the alias target)" '{"columns":["n"],"rows":[[1001]]} 200' \
    "$(req -d '{"sql":"SELECT count(*) AS n FROM revenue"}' $U/v1/query | tr -d '\n')"
check "SQL over a version table" '{"columns":["key","v"],"rows":[["k00049","v2"]]} 200' \
    "$(req -d '{"sql":"SELECT key, json_extract(value, '"'"'$.v'"'"') AS v FROM \"revenue@v2\" ORDER BY key DESC LIMIT 1"}' $U/v1/query | tr -d '\n')"
hdr=$(curl -s -D - -o "$VDIR/all.json" -d '{"sql":"SELECT * FROM \"revenue@v1\""}' $U/v1/query)
rows=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rows"]))' "$VDIR/all.json")
if grep -qi "transfer-encoding: chunked" <<<"$hdr" && [ "$rows" = 1002 ]; then
    pass "SQL rows are streamed (chunked), all 1002 of them"
else
    fail "SQL streamed" "rows=$rows headers=$hdr"
fi
refuse() {   # refuse NAME SQL WANT_SUBSTRING
    local out
    out=$(req -d "$($PY -c 'import json,sys; print(json.dumps({"sql": sys.argv[1]}))' "$2")" $U/v1/query)
    if [[ $out == *"$3"*" 400" ]]; then pass "refused with 400: $1"; else fail "refused: $1" "$out"; fi
}
refuse "INSERT" "INSERT INTO \"revenue@v1\" VALUES('x','y',99999,1,0,0)" "only read-only SELECT"
refuse "DELETE" "DELETE FROM \"revenue@v1\"" "only read-only SELECT"
refuse "DELETE through the stable name" "DELETE FROM revenue" "cannot modify revenue"
refuse "DROP" "DROP TABLE \"revenue@v2\"" "only read-only SELECT"
refuse "CREATE" "CREATE TABLE t(x)" "only read-only SELECT"
refuse "ATTACH" "ATTACH '$VDIR/other.db' AS o" "ATTACH and DETACH are not allowed"
refuse "PRAGMA" "PRAGMA journal_mode=DELETE" "PRAGMA journal_mode is not allowed"
refuse "a read-only PRAGMA" "PRAGMA table_info(revenue)" "PRAGMA table_info is not allowed"
refuse "BEGIN" "BEGIN" "transaction statements are not allowed"
refuse "two statements" "SELECT 1; SELECT 2" "only one statement"
refuse "a syntax error" "SELEC 1" "syntax error"
refuse "an empty query" "  ;" "empty query"
[ ! -e "$VDIR/other.db" ] && pass "ATTACH created no file" || fail "ATTACH" "created $VDIR/other.db"
check "a body that is not JSON: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' -d '{"sql":' $U/v1/query)"
check "a body without sql: 400" '{"error":"the body must have a string member \"sql\""} 400' "$(req -d '{"q":"x"}' $U/v1/query | tr -d '\n')"
check "GET /v1/query: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/query)"
head -c 1100000 /dev/zero | tr '\0' 'x' >"$VDIR/big"
check "a body over 1 MiB: 413" 413 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$VDIR/big" $U/v1/query)"
t0=$(date +%s%3N)
out=$(req -d '{"sql":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}' $U/v1/query)
t1=$(date +%s%3N)
if [[ $out == *"ran longer than the 1000 ms limit"*" 400" ]] && [ $((t1 - t0)) -lt 5000 ]; then
    pass "a query over kappa.views.query.timeout.ms is stopped ($((t1 - t0)) ms)"
else
    fail "query time limit" "$((t1 - t0)) ms: $out"
fi
check "the server still answers after refusals and a stopped query" 200 "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/views/revenue/k00001)"

# -- an alias switch while readers loop never shows a mix -------------------
DB flip revenue 1 2 4 >"$VDIR/flips" &
FLIP=$!
$PY - "$HTTP" >"$VDIR/mix" <<'PYEOF'
import http.client, json, sys, time
c = http.client.HTTPConnection(*sys.argv[1].split(":"))
end, n, bad, seen = time.time() + 3.5, 0, [], set()
while time.time() < end:
    c.request("GET", "/v1/views/revenue?prefix=k000&limit=60")
    d = json.loads(c.getresponse().read())
    vs = {r["value"]["v"] for r in d["rows"]}
    seen.add(d["version"])
    if vs != {"v%d" % d["version"]}:
        bad.append((d["version"], sorted(vs)))
    c.request("POST", "/v1/query", json.dumps({"sql": "SELECT count(DISTINCT json_extract(value, '$.v')), count(*) FROM revenue WHERE key >= 'k00000' AND key < 'k00050'"}))
    d = json.loads(c.getresponse().read())
    if d["rows"][0][0] != 1:
        bad.append(("sql", d["rows"]))
    c.request("GET", "/v1/views/revenue/k00007")
    d = json.loads(c.getresponse().read())
    if d["value"]["v"] != "v%d" % d["version"]:
        bad.append(("get", d))
    n += 1
print(n, sorted(seen), bad[:3])
PYEOF
wait $FLIP
read -r n seen <<<"$(cut -d' ' -f1,2- "$VDIR/mix")"
if grep -q '\[1, 2\] \[\]$' "$VDIR/mix" && [ "$(cat "$VDIR/flips")" -gt 10 ]; then
    pass "alias switched $(cat "$VDIR/flips") times under $n reader rounds: both versions seen, never a mix"
else
    fail "alias switch while reading" "$(cat "$VDIR/mix") flips=$(cat "$VDIR/flips")"
fi
DB alias revenue 1

# -- change stream ------------------------------------------------------------
curl -sN -D "$VDIR/ch.hdr" "$U/v1/views/revenue/changes?from=now" >"$VDIR/ch.out" &
CH=$!
sleep 0.5
DB slowput revenue 1 5 30
DB put revenue 1 k_live_1 -
sleep 0.5
kill $CH; wait $CH 2>/dev/null
got=$($PY -c '
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
print([(l["key"], l["value"]) for l in ls], all(a["seq"] < b["seq"] for a, b in zip(ls, ls[1:])))' "$VDIR/ch.out")
check "change stream from=now: the rows committed after it started, in seq order, then the delete as null" \
    "[('k_live_0', {'live': 0}), ('k_live_1', {'live': 1}), ('k_live_2', {'live': 2}), ('k_live_3', {'live': 3}), ('k_live_4', {'live': 4}), ('k_live_1', None)] True" "$got"
grep -qi "content-type: application/x-ndjson" "$VDIR/ch.hdr" && pass "change stream content type is application/x-ndjson" \
    || fail "change stream content type" "$(cat "$VDIR/ch.hdr")"
first=$(head -1 "$VDIR/ch.out" | $PY -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
got=$(timeout 2 curl -sN "$U/v1/views/revenue/changes?from=$first" | $PY -c '
import json, sys
print([json.loads(l)["key"] for l in sys.stdin])')
check "change stream from=SEQ: compacted (latest change per key), k_live_1 last as its delete" \
    "['k_live_0', 'k_live_2', 'k_live_3', 'k_live_4', 'k_live_1']" "$got"
check "change stream: a bad from is 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/views/revenue/changes?from=x")"
check "change stream: an unknown view is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/views/nosuch/changes")"
threads() { ls /proc/$KAPPA_PID/task | wc -l; }
base=$(threads)
pids=()
for i in 1 2 3 4; do timeout 1 curl -sN "$U/v1/views/revenue/changes?from=now" >/dev/null & pids+=($!); done
sleep 0.5
during=$(threads)
wait "${pids[@]}"
sleep 0.5
after=$(threads)
if [ "$during" -ge $((base + 4)) ] && [ "$after" -le "$base" ]; then
    pass "change streams end when their clients leave (threads $base -> $during -> $after)"
else
    fail "change streams end with the client" "threads $base -> $during -> $after"
fi

# -- /metrics and /health (loop routes) under threaded load ---------------------
$PY - "$HTTP" >"$VDIR/par" <<'PYEOF' &
import http.client, sys, time
c = http.client.HTTPConnection(*sys.argv[1].split(":"))
end = time.time() + 1.5
while time.time() < end:
    c.request("GET", "/v1/views/revenue/k00001"); c.getresponse().read()
PYEOF
P=$!
ok=0
for i in $(seq 1 20); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' $U/health)" = 200 ] && curl -sf $U/metrics | grep -q kappa_requests_total && ok=$((ok + 1))
done
wait $P
check "/health and /metrics answer from the loop while lookups run" 20 "$ok"

# -- kappa view -----------------------------------------------------------------
export KAPPA_HTTP=$HTTP
out=$($K view list 2>&1)
if grep -Eq '^revenue +1 +\* +1005 +100 +[0-9]+ +__kappa_view.revenue.v1$' <<<"$out" &&
   grep -Eq '^revenue +2 +50 +0 +[0-9]+ +__kappa_view.revenue.v2$' <<<"$out"; then
    pass "kappa view list: a table with the alias target marked"
else
    fail "kappa view list" "$out"
fi
check "kappa view list --json is the API's answer" "revenue" "$($K view list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["views"][0]["view"])')"
check "kappa view get --format text" "$(printf 'revenue\t1\tk00003\t{"n":3,"v":"v1"}\t1003')" "$($K view get revenue k00003 --format text)"
check "kappa view get --json" '{"view":"revenue","version":2,"key":"k00003","value":{"n":3,"v":"v2"},"ts":1003}' "$($K view get revenue@v2 k00003 --json)"
check "kappa view get of the key named changes" "changes" "$($K view get revenue changes --format text | cut -f3)"
out=$($K view get revenue nosuch 2>&1); rc=$?
check "kappa view get: absent key exits 1 with the reason" "1 kappa view get: no key 'nosuch' in view revenue@v1" "$rc $out"
out=$($K view query "SELECT key, json_extract(value, '\$.n') AS n FROM revenue WHERE key >= 'k0' AND key < 'k00002' ORDER BY key" 2>&1)
check "kappa view query: a table" "$(printf 'KEY     N\nk00000  0\nk00001  1')" "$out"
check "kappa view query --format text" "$(printf 'k00000\t0\nk00001\t1')" \
    "$($K view query "SELECT key, json_extract(value, '\$.n') FROM revenue WHERE key >= 'k0' AND key < 'k00002' ORDER BY key" --format text)"
check "kappa view query --json" '{"columns":["x"],"rows":[[1]]}' "$($K view query "SELECT 1 AS x" --json)"
out=$($K view query 'DELETE FROM "revenue@v1"' 2>&1); rc=$?
check "kappa view query: a write is refused, exit 1" "1 kappa view query: only read-only SELECT statements are allowed (this statement would write or change the schema)" "$rc $out"
$K view get revenue >/dev/null 2>&1; check "kappa view get without KEY: exit 2" 2 $?
$K view frob >/dev/null 2>&1; check "kappa view with an unknown subcommand: exit 2" 2 $?
$K view list --bogus >/dev/null 2>&1; check "kappa view list --bogus: exit 2" 2 $?
out=$($K view query "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c" --timeout 300 2>&1); rc=$?
check "kappa view query past --timeout: exit 1 (the server answered the connection)" \
    "1 kappa view query: no complete answer from $HTTP within 300 ms (--timeout MS)" "$rc $out"
t0=$(date +%s%3N)
out=$($K view list --http 127.0.0.1:1 2>&1); rc=$?
t1=$(date +%s%3N)
if [ $rc = 3 ] && [[ $out == *"cannot reach kappa's HTTP API at 127.0.0.1:1"* ]] && [ $((t1 - t0)) -lt 5000 ]; then
    pass "kappa view list with nothing listening: exit 3 with the address, in $((t1 - t0)) ms"
else
    fail "kappa view unreachable" "rc=$rc $((t1 - t0)) ms: $out"
fi

# -- stopping the server does not wait for streams or running queries ----------
curl -sN "$U/v1/views/revenue/changes?from=now" >/dev/null 2>&1 &
S1=$!
curl -s -d '{"sql":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"}' \
    "$U/v1/query" >/dev/null 2>&1 &
S2=$!
sleep 0.3
t0=$(date +%s%3N)
stop_kappa TERM
t1=$(date +%s%3N)
wait $S1 $S2 2>/dev/null
if [ $((t1 - t0)) -lt 3000 ] && ! grep -q "application error" "$KAPPA_DATA.log"; then
    pass "SIGTERM with a change stream and a running query open: exits in $((t1 - t0)) ms"
else
    fail "stop with streams open" "$((t1 - t0)) ms; $(grep -c 'application error' "$KAPPA_DATA.log") error lines"
fi

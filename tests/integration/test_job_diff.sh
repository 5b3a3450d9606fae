#!/bin/bash
# `kappa job diff` against a real server with registry-deployed versions of
# examples/views/revenue.c (a view, and the same rows to a topic with
# --param topic=rev-rows): the same plugin deployed twice is identical (exit
# 0); exclude_refunds=true as v3 reports exactly the changed keys -- the
# windows holding a refund, computed independently in Python from the orders
# before the diff's cut -- for the view and for the topic (exit 1); the same
# while orders are still being produced; a two-stage job (auction_revenue)
# diffs identical; a version whose output has a record
# without a source tag is refused; unknown job/version 1, usage 2, no broker 3.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
T=$(mktemp -d)
trap 'cleanup_kappa; [ -n "${PROD_PID:-}" ] && kill $PROD_PID 2>/dev/null; rm -rf "$T"' EXIT
start_kappa --set group.min.session.timeout.ms=1000 || { echo "FAIL: job diff: server did not start"; exit 1; }
K="timeout 120 $KAPPA"
REV=build/examples/views/revenue.so
CHECK="$PY tests/integration/job_diff_py.py check $BROKER orders"
SEED=11
N=20000

# A field of `kappa job list --json` for rev VERSION.
list_field() {
    $K job list -b "$BROKER" --json 2>/dev/null | $PY -c '
import json, sys
for r in json.load(sys.stdin):
    if r["name"] == "rev" and r["version"] == int(sys.argv[1]):
        print(r[sys.argv[2]])' "$1" "$2"
}
# Wait (up to $2 s) until version $1 has no lag.
wait_no_lag() {
    local i
    for i in $(seq 1 $(($2 * 5))); do
        [ "$(list_field "$1" lag)" == "0" ] && return 0
        sleep 0.2
    done
    return 1
}
# Sum of a cut's offsets.
cut_sum() { $PY -c 'import json,sys; print(sum(int(e.split("=")[1]) for e in json.load(open(sys.argv[1]))["cut"].split(",") if e))' "$1"; }

$K topic create orders -p 2 -b "$BROKER" >/dev/null || fail "create orders" "topic create failed"
$PY tests/integration/orders.py produce "$BROKER" orders $SEED 0 $N 0 || fail "produce orders" "orders.py failed"

# ---- usage, unreachable, unknown ---------------------------------------------
out=$($K job diff -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "NAME, V1 and V2 are required" <<<"$out"; then pass "diff: missing arguments is exit 2"
else fail "diff: missing arguments is exit 2" "rc=$rc $out"; fi
out=$($K job diff rev 1 2 --samples many -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ]; then pass "diff: bad --samples is exit 2"; else fail "diff: bad --samples is exit 2" "rc=$rc $out"; fi
out=$($K job diff rev 1 1 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "two different versions" <<<"$out"; then pass "diff: V1 = V2 is exit 2"
else fail "diff: V1 = V2 is exit 2" "rc=$rc $out"; fi
out=$($K job diff rev 1 2 --bogus -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "unknown option --bogus" <<<"$out"; then pass "diff: unknown option is exit 2"
else fail "diff: unknown option is exit 2" "rc=$rc $out"; fi
t0=$(date +%s)
out=$($K job diff rev 1 2 -b 127.0.0.1:1 --timeout 2000 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "cannot reach a broker" <<<"$out" && [ $(($(date +%s) - t0)) -le 15 ]; then
    pass "diff: broker down is exit 3 within bounded time"
else fail "diff: broker down is exit 3 within bounded time" "rc=$rc $out"; fi
out=$($K job diff nosuch 1 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && [ "$out" == "kappa job diff: no job nosuch in the registry (see \`kappa job list\`)" ]; then
    pass "diff: unknown job is exit 1 with a message"
else fail "diff: unknown job is exit 1 with a message" "rc=$rc $out"; fi

# ---- three versions: v1, v2 = the same plugin, v3 = exclude_refunds ------------
out1=$($K job deploy rev --version 1 --plugin $REV --param topic=rev-rows -b "$BROKER" 2>&1)
out2=$($K job deploy rev --version 2 --plugin $REV --param topic=rev-rows -b "$BROKER" 2>&1)
out3=$($K job deploy rev --version 3 --plugin $REV --param topic=rev-rows --param exclude_refunds=true -b "$BROKER" 2>&1)
if [ "$out1" == "deployed rev version 1: 2 input partition(s), $N record(s) to replay from earliest; outputs rev-rows.v1; views revenue@v1" ] &&
   grep -q "^deployed rev version 3" <<<"$out3"; then
    pass "deploy three versions (outputs: the topic and the view)"
else fail "deploy three versions (outputs: the topic and the view)" "$out1 / $out2 / $out3"; fi
out=$($K job diff rev 1 7 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && [ "$out" == "kappa job diff: job rev has no version 7 (see \`kappa job list\`)" ]; then
    pass "diff: unknown version is exit 1 with a message"
else fail "diff: unknown version is exit 1 with a message" "rc=$rc $out"; fi

ok=1
for v in 1 2 3; do wait_no_lag $v 90 || { ok=0; fail "version $v catches up" "lag $(list_field $v lag)"; }; done
[ $ok -eq 1 ] && pass "three versions caught up (no lag)"

# Every output record carries a kappa.src tag naming an orders partition and offset.
got=$(timeout 30 kcat -b "$BROKER" -C -t rev-rows.v1 -e -q -X isolation.level=read_committed \
      -f '%h\n' 2>/dev/null | $PY -c '
import sys
n = bad = 0
for line in sys.stdin:
    n += 1
    if "kappa.src=" not in line: bad += 1
print(n, bad)')
if [ "$got" == "$N 0" ]; then pass "every output record of v1 has a kappa.src header ($N records)"
else fail "every output record of v1 has a kappa.src header" "records, untagged: $got"; fi

# ---- quiescent ------------------------------------------------------------------------
$K job diff rev 1 2 --json --samples 1000000 -b "$BROKER" >"$T/d12.json" 2>"$T/d12.err"; rc=$?
c1=$($CHECK "$T/d12.json" view:revenue 0 0 2>&1); c2=$($CHECK "$T/d12.json" topic:rev-rows 0 0 2>&1)
if [ $rc -eq 0 ] && [ "$(cut_sum "$T/d12.json")" == "$N" ] && [[ "$c1" == ok*identical=True ]] &&
   [[ "$c2" == ok*identical=True ]] && grep -q '"identical":true' "$T/d12.json"; then
    pass "diff v1 v2 (same plugin): identical, exit 0, every key equal ($c1)"
else fail "diff v1 v2 (same plugin): identical, exit 0" "rc=$rc $(cat "$T/d12.err") view: $c1 topic: $c2"; fi

$K job diff rev 1 3 --json --samples 1000000 -b "$BROKER" >"$T/d13.json" 2>"$T/d13.err"; rc=$?
c1=$($CHECK "$T/d13.json" view:revenue 0 1 2>&1); c2=$($CHECK "$T/d13.json" topic:rev-rows 0 1 2>&1)
if [ $rc -eq 1 ] && [[ "$c1" == ok*identical=False ]] && [[ "$c2" == ok*identical=False ]] &&
   grep -q '"identical":false' "$T/d13.json"; then
    pass "diff v1 v3 (exclude_refunds): exit 1, exactly the windows with a refund changed, view ($c1)"
    pass "diff v1 v3 (exclude_refunds): exactly the same keys for the output topic ($c2)"
else fail "diff v1 v3 (exclude_refunds): exit 1 and exactly the changed keys" "rc=$rc $(cat "$T/d13.err") view: $c1 topic: $c2"; fi

# The terminal form: a table, samples, and the verdict.
out=$($K job diff rev 1 3 --samples 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "^view revenue .* different$" <<<"$out" &&
   grep -q "^topic rev-rows .* different$" <<<"$out" &&
   grep -q "^view revenue, changed ([0-9]*, first ones):$" <<<"$out" &&
   [ "$(grep -c '^    v1: {"product"' <<<"$out")" == "4" ] && [ "$(tail -1 <<<"$out")" == "different" ]; then
    pass "diff text output: table, 2 samples per output, verdict"
else fail "diff text output: table, 2 samples per output, verdict" "rc=$rc $out"; fi
out=$($K job diff rev 1 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$(tail -1 <<<"$out")" == "identical" ]; then pass "diff text output: identical"
else fail "diff text output: identical" "rc=$rc $out"; fi

# ---- live: orders keep arriving while the versions run and diff reads -----------------
$PY tests/integration/orders.py produce "$BROKER" orders $SEED $N 80000 5000 &
PROD_PID=$!
sleep 3
$K job diff rev 1 3 --json --samples 1000000 -b "$BROKER" >"$T/l13.json" 2>"$T/l13.err"; rc13=$?
$K job diff rev 1 2 --json --samples 1000000 -b "$BROKER" >"$T/l12.json" 2>"$T/l12.err"; rc12=$?
live=$(kill -0 $PROD_PID 2>/dev/null && echo yes || echo no)
wait $PROD_PID
PROD_PID=
s13=$(cut_sum "$T/l13.json"); s12=$(cut_sum "$T/l12.json")
c1=$($CHECK "$T/l13.json" view:revenue 0 1 2>&1); c2=$($CHECK "$T/l13.json" topic:rev-rows 0 1 2>&1)
c3=$($CHECK "$T/l12.json" view:revenue 0 0 2>&1); c4=$($CHECK "$T/l12.json" topic:rev-rows 0 0 2>&1)
if [ "$live" == yes ] && [ "$s13" -gt $N ] && [ "$s13" -lt 80000 ] && [ $rc13 -eq 1 ] &&
   [[ "$c1" == ok*identical=False ]] && [[ "$c2" == ok*identical=False ]]; then
    pass "live diff v1 v3 (cut at $s13 of up to 80000 orders, still producing): exact changed keys"
else fail "live diff v1 v3: exact changed keys" "live=$live cut=$s13 rc=$rc13 $(cat "$T/l13.err") view: $c1 topic: $c2"; fi
if [ "$s12" -gt $N ] && [ $rc12 -eq 0 ] && [[ "$c3" == ok*identical=True ]] && [[ "$c4" == ok*identical=True ]]; then
    pass "live diff v1 v2 (cut at $s12): identical"
else fail "live diff v1 v2: identical" "cut=$s12 rc=$rc12 $(cat "$T/l12.err") view: $c3 topic: $c4"; fi

# ---- a multi-stage job (kappa_key_by): diff waits for the downstream stage -------------
# examples/nexmark/auction_revenue.c: bids re-keyed by auction, revenue per auction per
# 10 s window on close.  Quiescent input: once both versions have consumed everything,
# every output lies before the cut and the versions must agree on every key.
$K nexmark gen --events 100000 --rate 1000 --partitions 2 -b "$BROKER" >/dev/null 2>&1
AR=build/examples/nexmark/auction_revenue.so
$K job deploy ar --version 1 --plugin $AR -b "$BROKER" >/dev/null 2>&1
$K job deploy ar --version 2 --plugin $AR -b "$BROKER" >/dev/null 2>&1
count() { timeout 30 kcat -b "$BROKER" -C -t "$1" -e -q -X isolation.level=read_committed -f '%k\n' 2>/dev/null | wc -l; }
prev=
for _ in $(seq 1 120); do
    cur="$(count nexmark-revenue.v1) $(count nexmark-revenue.v2)"
    [ "$cur" == "$prev" ] && [ "${cur% *}" -gt 0 ] && [ "${cur% *}" == "${cur#* }" ] && break
    prev=$cur
    sleep 1
done
keys=$(timeout 30 kcat -b "$BROKER" -C -t nexmark-revenue.v1 -e -q -X isolation.level=read_committed -f '%k\n' 2>/dev/null | sort -u | wc -l)
$K job diff ar 1 2 --json -b "$BROKER" >"$T/ar.json" 2>"$T/ar.err"; rc=$?
got=$($PY -c 'import json,sys; o=json.load(open(sys.argv[1]))["outputs"][0]; print(o["name"], o["equal"], o["changed"], o["only_v1"], o["only_v2"])' "$T/ar.json" 2>&1)
if [ $rc -eq 0 ] && [ "$got" == "nexmark-revenue $keys 0 0 0" ] && [ "$keys" -gt 1000 ] &&
   grep -q '"cut":"nexmark:0=50000,nexmark:1=50000"' "$T/ar.json"; then
    pass "multi-stage job: diff v1 v2 identical on every key ($keys auctions)"
else fail "multi-stage job: diff v1 v2 identical on every key" "rc=$rc got=$got keys=$keys counts=$cur $(cat "$T/ar.err")"; fi

# ---- a version whose output has a record without a tag ---------------------------------
echo 'p1|1700000040000:{"untagged":true}' | timeout 30 kcat -P -b "$BROKER" -t rev-rows.v2 -K '|' 2>/dev/null
out=$($K job diff rev 1 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "rev-rows.v2: the record at partition [0-9]* offset [0-9]* has no source tag (header kappa.src): version 2 of rev ran without source tags" <<<"$out"; then
    pass "diff: a version without tags is refused with a clear error"
else fail "diff: a version without tags is refused with a clear error" "rc=$rc $out"; fi

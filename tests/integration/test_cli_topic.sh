#!/bin/bash
# `kappa topic ...` against a real kappa server: create/list/describe/delete,
# alter-config (merge, config sources), add-partitions, produce and consume
# (exact JSON, every -o form, -n, -e, -f, -g commits, read_committed,
# SIGINT), unknown topics, an unreachable broker, and usage errors.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
# No auto-creation, so an unknown topic stays unknown; num.partitions and a
# broker-level retention.ms to see "the broker's default" and SOURCE=broker.
start_kappa --set auto.create.topics.enable=false --set num.partitions=2 \
    --set log.retention.ms=123456789 || { echo "FAIL: cli topic: server did not start"; exit 1; }
T="timeout 30 $KAPPA topic"
B="-b $BROKER"
ERR=$KAPPA_DATA.err

# check NAME GOT WANT: exact comparison with a diff on failure.
check() {
    if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "$(diff <(echo "$3") <(echo "$2") | head -8 | tr '\n' '|')"; fi
}
now_ms() { date +%s%3N; }
# disk_bytes TOPIC PARTITION: the bytes of the partition's segment files.
disk_bytes() { cat "$KAPPA_DATA/$1-$2"/*.log | wc -c; }

# ---- help and usage errors ----
ok=1
for sub in "" create list describe delete alter-config add-partitions produce consume; do
    out=$($T $sub --help 2>&1); rc=$?
    if [ $rc != 0 ] || ! grep -q "^usage: kappa topic ${sub:-COMMAND}" <<<"$out"; then ok=0; echo "help for '$sub': rc=$rc $out" | head -2; fi
done
[ $ok == 1 ] && pass "topic --help on every subcommand" || fail "topic --help on every subcommand" "see above"

usage_case() {   # usage_case NAME EXPECTED-MESSAGE-PART ARGS...
    local name=$1 want=$2; shift 2
    local out rc
    out=$($T "$@" 2>&1 >/dev/null); rc=$?
    if [ $rc == 2 ] && grep -qF -- "$want" <<<"$out"; then pass "usage error: $name"; else fail "usage error: $name" "rc=$rc: $out"; fi
}
usage_case "unknown subcommand" "unknown command 'bogus'" bogus
usage_case "create without a name" "missing topic NAME" create $B
usage_case "create -p not a number" "-p: 'x' is not an integer" create t -p x $B
usage_case "create -c without =" "-c wants key=value" create t -c retention.ms $B
usage_case "list unknown flag" "unknown option '--bogus'" list --bogus $B
usage_case "add-partitions without -n" "missing -n TOTAL" add-partitions t $B
usage_case "alter-config with nothing to change" "nothing to change" alter-config t $B
usage_case "produce --acks 2" "--acks must be all, 1 or 0" produce t --acks 2 $B
usage_case "produce -z bogus" "--compression must be" produce t -z brotli $B
usage_case "consume -o @abc" "-o @TS_MS: 'abc' is not an integer" consume t -o @abc $B
usage_case "consume -f unknown verb" "-f: unknown verb '%q'" consume t -f '%q' $B
usage_case "consume -g with -p" "-p cannot be combined with -g" consume t -g g -p 0 $B
usage_case "consume -n 0" "-n must be 1 or more" consume t -n 0 $B
usage_case "flag without value" "--timeout needs a value" list --timeout
usage_case "bad --format" "--format must be table, text or json" list --format yaml $B

# ---- broker down: exit 3 within the timeout, with a clear message ----
for args in "list" "describe x" "produce x" "consume x"; do
    start=$(now_ms)
    out=$(echo r | $T $args -b 127.0.0.1:1 --timeout 2000 2>&1); rc=$?
    el=$(( $(now_ms) - start ))
    if [ $rc == 3 ] && [ $el -lt 3500 ] && grep -q "cannot reach a broker at 127.0.0.1:1 within 2.0 s" <<<"$out"; then
        pass "broker down: topic $args exits 3 in ${el}ms"
    else
        fail "broker down: topic $args exits 3" "rc=$rc after ${el}ms: $out"
    fi
done

# ---- create ----
out=$($T create orders -p 3 -c retention.ms=3600000 $B 2>&1); rc=$?
check "create orders -p 3 (rc=$rc)" "$out" "$(printf 'TOPIC   STATUS\norders  created')"
out=$($T create orders $B 2>&1); rc=$?
if [ $rc == 1 ] && grep -q "kappa topic create: orders: Topic 'orders' already exists" <<<"$out"; then pass "create existing topic exits 1"; else fail "create existing topic exits 1" "rc=$rc: $out"; fi
out=$($T create dflt $B 2>&1) && out=$($T list --format text $B | grep '^dflt')
check "create without -p takes the broker's num.partitions" "$out" "$(printf 'dflt\t2\t1')"
out=$($T create bad -r 3 $B 2>&1); rc=$?
if [ $rc == 1 ] && grep -q "replication factor must be 1" <<<"$out"; then pass "create -r 3 refused by a single broker"; else fail "create -r 3 refused by a single broker" "rc=$rc: $out"; fi

# ---- list ----
out=$($T list $B 2>&1)
check "list table" "$out" "$(printf 'NAME    PARTITIONS  REPLICAS\ndflt             2  1\norders           3  1')"
check "common flags before the command" "$($T -b $BROKER --format text list)" "$(printf 'dflt\t2\t1\norders\t3\t1')"
out=$($T list --format json $B | $PY -c 'import json,sys; print(";".join("%s=%d/%d" % (t["name"], t["partitions"], t["replicas"]) for t in json.load(sys.stdin)))')
check "list --format json" "$out" "dflt=2/1;orders=3/1"

# ---- describe: configs and their sources ----
desc_cfg() { $T describe "$1" --format text $B | awk -F'\t' -v k="$2" 'NF==3 && $1==k'; }
check "describe: topic config source" "$(desc_cfg orders retention.ms)" "$(printf 'retention.ms\t3600000\ttopic')"
check "describe: built-in default source" "$(desc_cfg orders segment.bytes)" "$(printf 'segment.bytes\t1073741824\tdefault')"
check "describe: broker config source" "$(desc_cfg dflt retention.ms)" "$(printf 'retention.ms\t123456789\tbroker')"

# ---- alter-config: merge keeps earlier keys; --delete falls back ----
$T alter-config orders -c segment.ms=600000 $B >/dev/null 2>&1
$T alter-config orders -c cleanup.policy=compact $B >/dev/null 2>&1
got="$(desc_cfg orders retention.ms)|$(desc_cfg orders segment.ms)|$(desc_cfg orders cleanup.policy)"
check "alter-config merges with earlier topic configs" "$got" "$(printf 'retention.ms\t3600000\ttopic|segment.ms\t600000\ttopic|cleanup.policy\tcompact\ttopic')"
out=$($T alter-config orders --delete retention.ms -c cleanup.policy=delete $B 2>/dev/null)
check "alter-config prints the new topic-level set" "$out" "$(printf 'NAME            VALUE\ncleanup.policy  delete\nsegment.ms      600000')"
check "alter-config --delete falls back to the broker value" "$(desc_cfg orders retention.ms)" "$(printf 'retention.ms\t123456789\tbroker')"
out=$($T alter-config orders -c no.such.config=1 $B 2>&1); rc=$?
if [ $rc == 1 ] && [ "$(desc_cfg orders segment.ms)" == "$(printf 'segment.ms\t600000\ttopic')" ]; then pass "alter-config with a bad key fails and changes nothing"; else fail "alter-config with a bad key fails and changes nothing" "rc=$rc: $out"; fi

# ---- add-partitions ----
out=$($T add-partitions orders -n 5 --format text $B 2>&1)
check "add-partitions -n 5" "$out|$($T list --format text $B | grep '^orders')" "$(printf 'orders\t3\t5|orders\t5\t1')"
out=$($T add-partitions orders -n 4 $B 2>&1); rc=$?
if [ $rc == 1 ] && grep -q "orders has 5 partitions; partitions cannot be removed" <<<"$out" && [ "$($T list --format text $B | grep '^orders')" == "$(printf 'orders\t5\t1')" ]; then pass "add-partitions refuses a decrease"; else fail "add-partitions refuses a decrease" "rc=$rc: $out"; fi

# ---- delete ----
out=$($T delete dflt nope $B 2>&1); rc=$?
if [ $rc == 1 ] && grep -q "^dflt  *deleted$" <<<"$out" && grep -q "nope: Broker: Unknown topic or partition" <<<"$out" && ! $T list $B | grep -q dflt; then pass "delete: one deleted, unknown one reported, exit 1"; else fail "delete" "rc=$rc: $out"; fi

# ---- unknown topics ----
for cmd in describe consume produce alter-config add-partitions; do
    extra=""; [ $cmd == alter-config ] && extra="-c retention.ms=1"; [ $cmd == add-partitions ] && extra="-n 3"
    start=$(now_ms)
    out=$(echo r | $T $cmd nope $extra $B 2>&1); rc=$?
    el=$(( $(now_ms) - start ))
    if [ $rc == 1 ] && grep -q "topic 'nope' does not exist" <<<"$out" && [ $el -lt 10000 ]; then pass "unknown topic: $cmd exits 1 (${el}ms)"; else fail "unknown topic: $cmd exits 1" "rc=$rc after ${el}ms: $out"; fi
done

# ---- produce then consume: exact JSON ----
$T create rec -p 2 $B >/dev/null
before=$(now_ms)
printf 'k1|v1\nk2|with "quotes" and \\ backslash\nnokey\n|emptykey\nk5|\xff\xfebad utf8\n' |
    $T produce rec -p 1 --key-delimiter '|' -H trace=abc -H v=2 $B 2>"$ERR"; rc=$?
after=$(now_ms)
check "produce summary and exit 0 (rc=$rc)" "$(cat "$ERR")" "produced 5 records to rec"
echo "plain" | $T produce rec -p 0 -k fixed -z gzip --acks 1 $B 2>/dev/null
got=$($T consume rec -e $B 2>&1 | sort | sed -E 's/"timestamp":[0-9]+/"timestamp":TS/')
want='{"topic":"rec","partition":0,"offset":0,"timestamp":TS,"key":"fixed","value":"plain","headers":{}}
{"topic":"rec","partition":1,"offset":0,"timestamp":TS,"key":"k1","value":"v1","headers":{"trace":"abc","v":"2"}}
{"topic":"rec","partition":1,"offset":1,"timestamp":TS,"key":"k2","value":"with \"quotes\" and \\ backslash","headers":{"trace":"abc","v":"2"}}
{"topic":"rec","partition":1,"offset":2,"timestamp":TS,"key":null,"value":"nokey","headers":{"trace":"abc","v":"2"}}
{"topic":"rec","partition":1,"offset":3,"timestamp":TS,"key":"","value":"emptykey","headers":{"trace":"abc","v":"2"}}
{"topic":"rec","partition":1,"offset":4,"timestamp":TS,"key":"k5","value":"\u00ff\u00febad utf8","headers":{"trace":"abc","v":"2"}}'
check "consume -e prints exact JSON lines" "$got" "$want"
ts=$($T consume rec -p 1 -n 1 -f '%d' $B 2>/dev/null)
if [ -n "$ts" ] && [ "$ts" -ge "$before" ] && [ "$ts" -le "$after" ]; then pass "record timestamp is the produce time"; else fail "record timestamp is the produce time" "$ts not in [$before, $after]"; fi
if $T consume rec -e $B 2>/dev/null | $PY -c 'import json,sys; [json.loads(l) for l in sys.stdin]'; then pass "consume output is valid JSON"; else fail "consume output is valid JSON" "json.loads failed"; fi

# -f verbs and escapes.
got=$($T consume rec -p 1 -n 2 -f '%t/%p/%o %k=%v [%h] 100%%\t|\\\n' $B 2>/dev/null)
check "consume -f verbs" "$got" "$(printf 'rec/1/0 k1=v1 [trace=abc,v=2] 100%%\t|\\\nrec/1/1 k2=with "quotes" and \\ backslash [trace=abc,v=2] 100%%\t|\\')"

# ---- describe offsets ----
$T create offs -p 1 $B >/dev/null
seq 1 5 | $T produce offs $B 2>/dev/null
check "describe offsets after producing 5" "$($T describe offs --format text $B | awk -F'\t' 'NF==6')" "$(printf '0\t1\t0\t5\t5\t%s' "$(disk_bytes offs 0)")"
got=$($T describe offs --json $B | $PY -c 'import json,sys; d=json.load(sys.stdin); p=d["partitions"][0]; print(d["name"], d["partition_count"], p["log_start"], p["last_stable"], p["high_watermark"], p["size_bytes"], d["size_bytes"])')
check "describe --json" "$got" "offs 1 0 5 5 $(disk_bytes offs 0) $(disk_bytes offs 0)"

# ---- describe sizes (DescribeLogDirs): exactly the bytes on disk ----
# Partition 0: 200 records of 100 bytes in five produce runs (five
# batches), over 4 KiB segments; partition 1: 3 records; partition 2: none.
$T create sz -p 3 -c segment.bytes=4096 $B >/dev/null
for run in 0 1 2 3 4; do
    for i in $(seq 1 40); do printf '%0100d\n' $((run * 40 + i)); done | $T produce sz -p 0 $B 2>/dev/null
done
printf 'a\nbb\nccc\n' | $T produce sz -p 1 $B 2>/dev/null
s0=$(disk_bytes sz 0); s1=$(disk_bytes sz 1); s2=$(disk_bytes sz 2)
nseg=$(ls "$KAPPA_DATA"/sz-0/*.log | wc -l)
if [ "$nseg" -ge 3 ] && [ "$s0" -gt 20000 ] && [ "$s2" == 0 ]; then pass "sizes: partition 0 spans $nseg segments ($s0 bytes)"; else fail "sizes: partition 0 spans several segments" "$nseg segments, sizes $s0 $s1 $s2"; fi
$T describe sz --format text $B >"$KAPPA_DATA.sz" 2>"$ERR"; rc=$?
check "describe: SIZE_BYTES per partition equals the segment files" "$(awk -F'\t' 'NF==6 {print $1, $6}' "$KAPPA_DATA.sz")" "$(printf '0 %s\n1 %s\n2 0' "$s0" "$s1")"
check "describe: summary SIZE_BYTES is the topic's total" "$(grep '^SIZE_BYTES' "$KAPPA_DATA.sz")" "$(printf 'SIZE_BYTES\t%s' $((s0 + s1 + s2)))"
check "describe: sizes add no warning, exit 0" "rc=$rc $(cat "$ERR")" "rc=0 "
check "describe table: summary SIZE_BYTES" "$($T describe sz $B | grep '^SIZE_BYTES')" "SIZE_BYTES  $((s0 + s1))"
got=$($T describe sz --json $B | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["size_bytes"], [p["size_bytes"] for p in d["partitions"]])')
check "describe --json: sizes are numbers" "$got" "$((s0 + s1)) [$s0, $s1, 0]"

# ---- every -o form ----
$T create seq -p 1 $B >/dev/null
seq 0 9 | $T produce seq $B 2>/dev/null
sleep 1.1; t_mid=$(now_ms); sleep 0.1
seq 10 14 | $T produce seq $B 2>/dev/null
o() { $T consume seq -e -f '%v ' "$@" $B 2>/dev/null; }
check "-o start" "$(o -o start)" "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 "
check "-o end" "$(o -o end)" ""
check "-o OFFSET" "$(o -o 12)" "12 13 14 "
check "-o past the end waits at the end" "$(o -o 100)" ""
check "-o -N" "$(o -o -3)" "12 13 14 "
check "-o @TS_MS" "$(o -o @$t_mid)" "10 11 12 13 14 "
check "-o @future" "$(o -o @$(( $(now_ms) + 100000 )))" ""
check "-n COUNT" "$($T consume seq -n 3 -f '%v ' $B 2>/dev/null; echo "rc=$?")" "0 1 2 rc=0"
check "-o with -n" "$($T consume seq -o 5 -n 2 -f '%o ' $B 2>/dev/null)" "5 6 "
# end means only new records: one produced after the consumer started.
( sleep 1.5; echo fresh | $T produce seq $B 2>/dev/null ) &
late=$!
check "-o end sees a new record" "$($T consume seq -o end -n 1 -f '%o %v' $B 2>/dev/null)" "15 fresh"
wait $late

# ---- consumer groups: commits, the second run continues ----
check "-g first run" "$($T consume seq -g cg -n 4 -f '%v ' $B 2>/dev/null)" "0 1 2 3 "
check "-g second run continues" "$($T consume seq -g cg -n 3 -f '%v ' $B 2>/dev/null)" "4 5 6 "
check "-g -e reads the rest" "$($T consume seq -g cg -e -f '%v ' $B 2>/dev/null)" "7 8 9 10 11 12 13 14 fresh "
check "-g at the end: nothing more" "$($T consume seq -g cg -e -f '%v ' $B 2>/dev/null)" ""
check "-g -o applies without a committed offset" "$($T consume seq -g cg2 -o -2 -e -f '%v ' $B 2>/dev/null)" "14 fresh "
check "-g -o ignored once committed" "$($T consume seq -g cg2 -o 0 -e -f '%v ' $B 2>/dev/null)" ""
check "-g -o @TS without a committed offset" "$($T consume seq -g cg3 -o @$t_mid -n 2 -f '%v ' $B 2>/dev/null)" "10 11 "

# ---- SIGINT: prompt, clean, exit 0, commits what was printed ----
$T consume seq -g sig -f '%v\n' $B >"$KAPPA_DATA.sig" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ "$(wc -l <"$KAPPA_DATA.sig")" -ge 16 ] && break; sleep 0.1; done
start=$(now_ms); kill -INT $pid; wait $pid; rc=$?; el=$(( $(now_ms) - start ))
if [ $rc == 0 ] && [ $el -lt 3000 ] && [ "$(wc -l <"$KAPPA_DATA.sig")" == 16 ]; then pass "SIGINT exits 0 promptly (${el}ms)"; else fail "SIGINT exits 0 promptly" "rc=$rc after ${el}ms, $(wc -l <"$KAPPA_DATA.sig") lines: $(head -3 "$KAPPA_DATA.sig")"; fi
check "SIGINT committed the group's offsets" "$($T consume seq -g sig -e -f '%v ' $B 2>/dev/null)" ""
$T consume seq -f '%v\n' $B >/dev/null 2>&1 &
pid=$!; sleep 1
start=$(now_ms); kill -TERM $pid; wait $pid; rc=$?; el=$(( $(now_ms) - start ))
if [ $rc == 0 ] && [ $el -lt 3000 ]; then pass "SIGTERM exits 0 promptly (${el}ms)"; else fail "SIGTERM exits 0 promptly" "rc=$rc after ${el}ms"; fi

# Internal topics (the group coordinator's) are hidden unless --all.
if ! $T list $B | grep -q "__consumer_offsets" && $T list -a $B | grep -q "^__consumer_offsets  *50  *1$"; then pass "list hides internal topics unless -a"; else fail "list hides internal topics unless -a" "$($T list -a $B)"; fi

# ---- transactions: LAST_STABLE below HWM while open; read_committed ----
$T create tx -p 1 $B >/dev/null
echo plain | $T produce tx $B 2>/dev/null
rm -f "$KAPPA_DATA.txready" "$KAPPA_DATA.txgo"
$PY - "$BROKER" "$KAPPA_DATA" <<'PYEOF' &
import os, sys, time
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": "cli-topic-tx"})
p.init_transactions()
p.begin_transaction()
for i in range(3):
    p.produce("tx", value=b"aborted%d" % i)
p.flush()
p.abort_transaction()
p.begin_transaction()
for i in range(2):
    p.produce("tx", value=b"open%d" % i)
p.flush()
open(sys.argv[2] + ".txready", "w").close()
for _ in range(300):
    if os.path.exists(sys.argv[2] + ".txgo"):
        break
    time.sleep(0.1)
p.commit_transaction()
PYEOF
txpid=$!
for _ in $(seq 1 150); do [ -f "$KAPPA_DATA.txready" ] && break; sleep 0.1; done
# offsets: 0 plain, 1-3 aborted, 4 abort marker, 5-6 open.
check "describe: LAST_STABLE below HWM while a transaction is open" "$($T describe tx --format text $B | awk -F'\t' 'NF==6')" "$(printf '0\t1\t0\t5\t7\t%s' "$(disk_bytes tx 0)")"
check "read_uncommitted sees aborted and open records" "$($T consume tx -e -f '%v ' $B 2>/dev/null)" "plain aborted0 aborted1 aborted2 open0 open1 "
check "--read-committed stops at the last stable offset" "$($T consume tx -e --read-committed -f '%v ' $B 2>/dev/null)" "plain "
touch "$KAPPA_DATA.txgo"; wait $txpid
check "describe after commit" "$($T describe tx --format text $B | awk -F'\t' 'NF==6')" "$(printf '0\t1\t0\t8\t8\t%s' "$(disk_bytes tx 0)")"
check "--read-committed hides the aborted transaction" "$($T consume tx -e --read-committed -f '%v ' $B 2>/dev/null)" "plain open0 open1 "

# ---- produce failures ----
$T create two -p 2 $B >/dev/null
out=$(echo x | $T produce two -p 7 $B 2>&1); rc=$?
if [ $rc == 1 ] && grep -q "topic 'two' has 2 partitions; there is no partition 7" <<<"$out"; then pass "produce to a missing partition exits 1"; else fail "produce to a missing partition exits 1" "rc=$rc: $out"; fi
# A record larger than the client's message.max.bytes fails with its line number.
$T create small -p 1 $B >/dev/null
out=$( { echo ok1; head -c 1100000 /dev/zero | tr '\0' 'x'; echo; echo ok3; } | $T produce small -z none $B 2>&1); rc=$?
if [ $rc == 1 ] && grep -q "^kappa topic produce: line 2: " <<<"$out" && grep -q "produced 2 records to small; 1 failed" <<<"$out" &&
   [ "$($T consume small -e -f '%v ' $B 2>/dev/null)" == "ok1 ok3 " ]; then pass "produce reports a failed record by line, exit 1"; else fail "produce reports a failed record by line, exit 1" "rc=$rc: $out"; fi

# ---- sizes from a broker without DescribeLogDirs, or one that stops answering ----
# The broker advertises a proxy (kproxy.py) so every client connection goes
# through it; the proxy hides API 35 from ApiVersions or swallows its requests.
PPORT=$(free_port)
KAPPA_ARGS+=(--set "advertised.listeners=127.0.0.1:$PPORT")
restart_kappa || { echo "FAIL: restart behind the proxy"; exit 1; }
proxy() {   # proxy MODE: (re)start the proxy
    [ -n "${PROXY_PID:-}" ] && { kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null; }
    $PY tests/integration/kproxy.py "$PPORT" "$KAPPA_PORT" "$1" 35 >"$KAPPA_DATA.proxy" 2>&1 &
    PROXY_PID=$!
    for _ in $(seq 1 100); do grep -q ready "$KAPPA_DATA.proxy" && break; sleep 0.05; done
}
trap '[ -n "${PROXY_PID:-}" ] && kill $PROXY_PID; cleanup_kappa' EXIT
PB="-b 127.0.0.1:$PPORT"
proxy hide
out=$($T describe sz --format text $PB 2>"$ERR"); rc=$?
check "no DescribeLogDirs: sizes are -, other columns intact, exit 0, no warning" \
    "rc=$rc|$(awk -F'\t' 'NF==6 {print $1, $5, $6}' <<<"$out" | tr '\n' ' ')|$(grep '^SIZE_BYTES' <<<"$out")|$(cat "$ERR")" \
    "rc=0|0 200 - 1 3 - 2 0 - |$(printf 'SIZE_BYTES\t-')|"
got=$($T describe sz --json $PB 2>/dev/null | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["size_bytes"], [p["size_bytes"] for p in d["partitions"]])')
check "no DescribeLogDirs: --json sizes are null" "$got" "None [None, None, None]"
proxy hang
start=$(now_ms)
out=$($T describe sz --format text --timeout 2000 $PB 2>"$ERR"); rc=$?
el=$(( $(now_ms) - start ))
want_warn="kappa topic describe: warning: cannot read partition sizes from broker 1 at 127.0.0.1:$PPORT: no answer within the timeout; their SIZE_BYTES is unknown"
if [ $rc == 0 ] && [ "$(cat "$ERR")" == "$want_warn" ] && [ $el -lt 8000 ] &&
   [ "$(awk -F'\t' 'NF==6 {print $1, $5, $6}' <<<"$out" | tr '\n' ' ')" == "0 200 - 1 3 - 2 0 - " ]; then
    pass "DescribeLogDirs unanswered: sizes -, one warning, exit 0 in ${el}ms"
else
    fail "DescribeLogDirs unanswered: sizes -, one warning, exit 0" "rc=$rc after ${el}ms: $(cat "$ERR") | $out"
fi

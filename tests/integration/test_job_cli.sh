#!/bin/bash
# `kappa job run`: its errors (usage, plugin, graph, topics, broker), its
# clean stop, and its Prometheus metrics (--http), checked with promtool and
# by values that must equal what was processed.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap 'kill -9 $(jobs -p) 2>/dev/null; cleanup_kappa; rm -rf "$W"' EXIT
W=$(mktemp -d "${TMPDIR:-/tmp}/kappa-jobcli-XXXXXX")
Q1=$PWD/build/examples/nexmark/q1.so

# expect NAME RC PATTERN -- cmd...: exit status and a message that says why
expect() {
    local name=$1 want=$2 pat=$3; shift 4
    local out rc
    out=$(timeout 30 "$@" 2>&1); rc=$?
    if [ "$rc" = "$want" ] && grep -qE "$pat" <<<"$out"; then pass "$name"; else fail "$name" "rc=$rc: $(tail -n 3 <<<"$out")"; fi
}

expect "no arguments: usage, exit 2" 2 "required" -- "$KAPPA" job run
expect "--help exits 0" 0 "usage: kappa job run" -- "$KAPPA" job run --help
expect "bad version: exit 2" 2 "not an integer" -- "$KAPPA" job run q --version x --plugin "$Q1"
expect "unknown option: exit 2" 2 "unknown option --frobnicate" -- "$KAPPA" job run q --version 1 --plugin "$Q1" --frobnicate 1
expect "bad --param: exit 2" 2 "KEY=VALUE" -- "$KAPPA" job run q --version 1 --plugin "$Q1" --param nokey
expect "unknown job subcommand: exit 2" 2 "unknown subcommand 'launch'" -- "$KAPPA" job launch
expect "missing plugin file: exit 2, names it" 2 "cannot load plugin $W/none.so" -- "$KAPPA" job run q --version 1 --plugin "$W/none.so"
printf 'int not_a_job(void) { return 0; }\n' >"$W/nodef.c"
cc -shared -fPIC -o "$W/nodef.so" "$W/nodef.c"
expect "plugin without kappa_job_define: exit 2" 2 "does not export kappa_job_define" -- "$KAPPA" job run q --version 1 --plugin "$W/nodef.so"
cat >"$W/badgraph.c" <<'CEOF'
#include <kappa.h>
static int keep(const kappa_record_t *r, void *a) { (void)r; (void)a; return 1; }
int kappa_job_define(kappa_job_t *job)
{
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    kappa_stream_t *a = kappa_filter(s, "same", keep, NULL);
    kappa_stream_t *b = kappa_filter(a, "same", keep, NULL);   /* duplicate name */
    return kappa_sink(b, "out", NULL);
}
CEOF
cc -shared -fPIC -Iinclude -o "$W/badgraph.so" "$W/badgraph.c"
expect "a bad graph: exit 2 with the builder's message" 2 "two operators are named 'same'" -- "$KAPPA" job run q --version 1 --plugin "$W/badgraph.so"
expect "unreachable broker: exit 3 within the timeout" 3 "cannot reach a broker at 127.0.0.1:1" -- "$KAPPA" job run q --version 1 --plugin "$Q1" -b 127.0.0.1:1 --state-dir "$W/st"

start_kappa || { fail "server starts" "see log"; exit 1; }
expect "missing source topic: exit 1, says to create it" 1 "source topic nexmark does not exist" -- "$KAPPA" job run q1 --version 1 --plugin "$Q1" -b "$BROKER" --state-dir "$W/st"
"$KAPPA" topic create nexmark -p 2 -b "$BROKER" >/dev/null
expect "a session timeout the broker refuses: exit 1, says which setting" 1 "refused --session-timeout-ms 2000" -- "$KAPPA" job run q1 --version 9 --plugin "$Q1" -b "$BROKER" --state-dir "$W/st" --session-timeout-ms 2000

"$KAPPA" nexmark gen --events 20000 --partitions 2 --seed 4 -b "$BROKER" >/dev/null 2>&1
MPORT=$(free_port)
"$KAPPA" job run q1 --version 1 --plugin "$Q1" -b "$BROKER" --state-dir "$W/st" \
    --http "127.0.0.1:$MPORT" >"$W/q1.log" 2>&1 &
job=$!
$PY tests/integration/jobtool.py caught-up "$BROKER" q1.v1 60 nexmark || fail "q1 catches up" "$(tail -n 3 "$W/q1.log")"
sleep 1.5                           # metrics are published once a second
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$W/m.txt"
if out=$(promtool check metrics <"$W/m.txt" 2>&1) && [ -s "$W/m.txt" ]; then
    pass "job /metrics passes promtool check metrics"
else
    fail "job /metrics passes promtool" "$out"
fi
sum() { awk -v n="$1" '$1 ~ "^"n"[{]" { s += $2 } END { print s + 0 }' "$W/m.txt"; }
[ "$(sum kappa_job_records_in_total)" = 20000 ] && [ "$(sum kappa_job_records_out_total)" = 18400 ] \
    && pass "records in (20000 events) and out (18400 bids) per task add up" \
    || fail "job record counters" "in=$(sum kappa_job_records_in_total) out=$(sum kappa_job_records_out_total)"
[ "$(sum kappa_job_input_lag)" = 0 ] && grep -q '^kappa_job_tasks{job="q1",version="1"} 2$' "$W/m.txt" \
    && pass "input lag 0 once caught up; 2 tasks" || fail "lag/tasks" "$(grep -E 'lag|tasks' "$W/m.txt" | head -n 4)"
grep -qE '^kappa_job_watermark_seconds\{job="q1",version="1",task="s0-p0"\} 1767225[0-9.]+$' "$W/m.txt" \
    && grep -qE '^kappa_job_commit_duration_seconds_count\{job="q1",version="1"\} [1-9]' "$W/m.txt" \
    && pass "watermark (Unix seconds) and commit latency histogram exported" \
    || fail "watermark / commit histogram" "$(grep -E 'watermark|commit_duration_seconds_count' "$W/m.txt" | head -n 3)"
kill -TERM $job
wait $job; rc=$?
[ $rc = 0 ] && grep -q "revoked 2 task" "$W/q1.log" && pass "SIGTERM: commits, leaves the group, exits 0" \
    || fail "clean stop" "rc=$rc $(tail -n 2 "$W/q1.log")"

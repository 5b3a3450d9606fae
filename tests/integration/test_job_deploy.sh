#!/bin/bash
# The job registry against a real server: `kappa job deploy` stores a version
# in __kappa_jobs and the server runs it with versioned outputs; status shows
# exact replay offsets; a second version replays beside the first with its
# own group and outputs; stop/start; a SIGKILL of the server during a replay
# resumes with exactly-once output; refusals and usage errors.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap 'cleanup_kappa; [ -n "${REF_PID:-}" ] && kill $REF_PID 2>/dev/null; rm -rf "${REF_STATE:-}"' EXIT
start_kappa --set group.min.session.timeout.ms=1000 || { echo "FAIL: job deploy: server did not start"; exit 1; }
K="timeout 60 $KAPPA"
Q1=build/examples/nexmark/q1.so
KC="timeout 60 kcat -b $BROKER -X isolation.level=read_committed"
EVENTS=400000
BIDS=368000                     # nexmark gen: 46 bids in every 50 events

# A field of `kappa job list --json` for NAME VERSION.
list_field() {
    $K job list -b "$BROKER" --json 2>/dev/null | $PY -c '
import json, sys
for r in json.load(sys.stdin):
    if r["name"] == sys.argv[1] and r["version"] == int(sys.argv[2]):
        print(r[sys.argv[3]])' "$1" "$2" "$3"
}
# Wait (up to $4 s) until version $2 of job $1 is in phase $3.
wait_phase_of() {
    local i
    for i in $(seq 1 $(($4 * 5))); do
        [ "$(list_field "$1" "$2" phase)" == "$3" ] && return 0
        sleep 0.2
    done
    return 1
}
# Wait (up to $3 s) until version $2 of q1 is in phase $1.
wait_phase() {
    local i
    for i in $(seq 1 $(($3 * 5))); do
        [ "$(list_field q1 "$2" phase)" == "$1" ] && return 0
        sleep 0.2
    done
    return 1
}
# Records of a topic, "PARTITION VALUE" lines in log order per partition.
dump() { $KC -C -t "$1" -e -q -f '%p %s\n' 2>/dev/null | sort -s -n -k1,1; }

$K nexmark gen --events $EVENTS --partitions 2 -b "$BROKER" >/dev/null 2>&1

# ---- usage errors: nothing is written --------------------------------------
out=$($K job deploy q1 --version 1 --plugin /nonexistent/q1.so -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "cannot read plugin /nonexistent/q1.so" <<<"$out"; then
    pass "deploy: unknown plugin file is exit 2 with a message"
else fail "deploy: unknown plugin file is exit 2 with a message" "rc=$rc $out"; fi
out=$($K job deploy q1 --version 1 --plugin $Q1 --from yesterday -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q -- "--from 'yesterday': use earliest, latest or @TIMESTAMP_MS" <<<"$out"; then
    pass "deploy: bad --from is exit 2 with a message"
else fail "deploy: bad --from is exit 2 with a message" "rc=$rc $out"; fi
out=$($K job deploy q1 --plugin $Q1 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ]; then pass "deploy: missing --version is exit 2"; else fail "deploy: missing --version is exit 2" "rc=$rc $out"; fi
out=$($K job list -b 127.0.0.1:1 --timeout 2000 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "cannot reach a broker" <<<"$out"; then pass "list: broker down is exit 3"
else fail "list: broker down is exit 3" "rc=$rc $out"; fi

# ---- v1 ---------------------------------------------------------------------
out=$($K job deploy q1 --version 1 --plugin $Q1 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" == "deployed q1 version 1: 2 input partition(s), $EVENTS record(s) to replay from earliest; outputs nexmark-q1.v1" ]; then
    pass "deploy v1"
else fail "deploy v1" "rc=$rc $out"; fi
# Straight after the deploy nothing is committed yet: BACKFILLING from 0 %.
got=$($K job list -b "$BROKER" --json 2>&1)
want='[{"name": "q1", "version": 1, "state": "running", "phase": "BACKFILLING", "progress_pct": 0.0, "lag": '$EVENTS', "from": "earliest", "plugin": "q1.so", "outputs": "nexmark-q1.v1", "promoted": "yes"}]'
if [ "$got" == "$want" ]; then pass "list --json right after deploy: every field"
else fail "list --json right after deploy: every field" "$got"; fi

# The reference: the same plugin run by hand, unversioned, in its own group.
REF_STATE=$(mktemp -d)
"$KAPPA" job run refq1 --version 1 --plugin $Q1 --param out=ref-q1 -b "$BROKER" \
    --state-dir "$REF_STATE" >"$REF_STATE/log" 2>&1 &
REF_PID=$!

if wait_phase LIVE 1 60; then pass "v1 reaches LIVE (caught up, the promoted version)"
else fail "v1 reaches LIVE (caught up, the promoted version)" "$(list_field q1 1 phase)"; fi
# Exact offsets per partition: start 0, current = end = 200000, lag 0.
got=$($K job status q1 -b "$BROKER" --json | $PY -c '
import json, sys
v = json.load(sys.stdin)["versions"][0]
print(v["phase"], v["progress"], v["lag"], v["eta_sec"],
      " ".join("%s/%d:%d-%d-%d" % (p["topic"], p["partition"], p["start"], p["current"], p["end"]) for p in v["partitions"]))')
if [ "$got" == "LIVE 1.0 0 0 nexmark/0:0-200000-200000 nexmark/1:0-200000-200000" ]; then
    pass "status --json: exact offsets when caught up"
else fail "status --json: exact offsets when caught up" "$got"; fi
# The same over HTTP and as Prometheus gauges (the server refreshes every 2 s).
http_get() { $PY -c '
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://" + sys.argv[1], timeout=5); print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())' "$1"; }
got=
for _ in $(seq 1 30); do
    got=$(http_get "$HTTP/v1/jobs/q1" | $PY -c '
import json, sys
status = sys.stdin.readline().strip()
d = json.loads(sys.stdin.read())
v = d["versions"][0]
print(status, d["name"], v["version"], v["phase"], v["progress"],
      " ".join("%d:%d-%d-%d" % (p["partition"], p["start"], p["current"], p["end"]) for p in v["partitions"]))' 2>&1)
    [ "$got" == "200 q1 1 LIVE 1.0 0:0-200000-200000 1:0-200000-200000" ] && break
    sleep 0.2
done
if [ "$got" == "200 q1 1 LIVE 1.0 0:0-200000-200000 1:0-200000-200000" ]; then pass "GET /v1/jobs/q1: phase and exact offsets"
else fail "GET /v1/jobs/q1: phase and exact offsets" "$got"; fi
got=$(http_get "$HTTP/v1/jobs/nosuchjob" 2>/dev/null | head -n 1)
if [ "$got" == 404 ]; then pass "GET /v1/jobs/UNKNOWN is 404"; else fail "GET /v1/jobs/UNKNOWN is 404" "$got"; fi
got=$(http_get "$HTTP/metrics" | grep -E '^kappa_job_(progress_ratio|lag_records)\{job="q1",version="1"\}' | tr '\n' ' ')
if [ "$got" == 'kappa_job_progress_ratio{job="q1",version="1"} 1 kappa_job_lag_records{job="q1",version="1"} 0 ' ]; then
    pass "/metrics: kappa_job_progress_ratio and kappa_job_lag_records"
else fail "/metrics: kappa_job_progress_ratio and kappa_job_lag_records" "$got"; fi
if command -v promtool >/dev/null; then
    if http_get "$HTTP/metrics" | tail -n +2 | promtool check metrics >/dev/null 2>&1; then pass "/metrics with job gauges passes promtool"
    else fail "/metrics with job gauges passes promtool" "$(http_get "$HTTP/metrics" | tail -n +2 | promtool check metrics 2>&1 | head -3)"; fi
fi
# --watch on a pipe: plain lines, one per version and sample.
got=$(timeout 3 "$KAPPA" job status q1 --watch --interval-ms 500 -b "$BROKER" | head -n 2 | sed 's/records_per_sec=[0-9]*/records_per_sec=N/')
if [ "$got" == "$(printf 'q1 v1 100.0%% LIVE lag=0 records_per_sec=N eta=0s\nq1 v1 100.0%% LIVE lag=0 records_per_sec=N eta=0s')" ]; then
    pass "status --watch on a pipe: plain lines"
else fail "status --watch on a pipe: plain lines" "$got"; fi
# Human status: a row per partition and a total.
got=$($K job status q1 -b "$BROKER" | awk '$2 == "(all)" {print $5, $11}')
if [ "$got" == "100.0% LIVE" ]; then pass "status table total row"; else fail "status table total row" "$got"; fi

for _ in $(seq 1 150); do
    [ "$($KC -C -t ref-q1 -e -q -f '.\n' 2>/dev/null | wc -l)" -ge $BIDS ] && break
    sleep 0.2
done
kill $REF_PID; wait $REF_PID 2>/dev/null; REF_PID=
dump ref-q1 >"$REF_STATE/ref"
dump nexmark-q1.v1 >"$REF_STATE/v1"
n=$(wc -l <"$REF_STATE/ref")
if [ "$n" -eq $BIDS ] && cmp -s "$REF_STATE/ref" "$REF_STATE/v1"; then
    pass "v1 output in nexmark-q1.v1 equals a kappa job run of the plugin ($n records)"
else fail "v1 output in nexmark-q1.v1 equals a kappa job run of the plugin" "ref $n, v1 $(wc -l <"$REF_STATE/v1")"; fi

# ---- refusals -------------------------------------------------------------
out=$($K job deploy q1 --version 1 --plugin $Q1 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "job q1 version 1 already exists" <<<"$out"; then
    pass "deploy of an existing version is refused (exit 1)"
else fail "deploy of an existing version is refused (exit 1)" "rc=$rc $out"; fi

# ---- v2 beside v1, and a server SIGKILL during its replay -------------------
out=$($K job deploy q1 --version 2 --plugin $Q1 --from earliest -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "deploy v2 --from earliest"; else fail "deploy v2 --from earliest" "rc=$rc $out"; fi
killed_at=
for _ in $(seq 1 300); do
    p=$(list_field q1 2 progress_pct)
    if [ -n "$p" ] && $PY -c 'import sys; sys.exit(0 if 0 < float(sys.argv[1]) < 100 else 1)' "$p"; then
        restart_kappa KILL
        killed_at=$p
        break
    fi
    sleep 0.05
done
if [ -n "$killed_at" ]; then pass "server SIGKILLed during v2's replay (at $killed_at %)"
else fail "server SIGKILLed during v2's replay" "never saw 0 < progress < 100"; restart_kappa KILL; fi
if wait_phase CAUGHT_UP 2 90; then pass "v2 resumes after the restart and reaches CAUGHT_UP"
else fail "v2 resumes after the restart and reaches CAUGHT_UP" "$(list_field q1 2 phase)"; fi
if [ "$(list_field q1 1 phase) $(list_field q1 2 phase) $(list_field q1 2 promoted)" == "LIVE CAUGHT_UP no" ]; then
    pass "beside v2, v1 stays LIVE (promoted) and v2 is CAUGHT_UP (not promoted)"
else fail "beside v2, v1 stays LIVE (promoted) and v2 is CAUGHT_UP" "$(list_field q1 1 phase) $(list_field q1 2 phase) $(list_field q1 2 promoted)"; fi
dump nexmark-q1.v2 >"$REF_STATE/v2"
if cmp -s "$REF_STATE/ref" "$REF_STATE/v2"; then
    pass "v2 output after the SIGKILL is exactly-once: equals the reference"
else fail "v2 output after the SIGKILL is exactly-once: equals the reference" "ref $n, v2 $(wc -l <"$REF_STATE/v2")"; fi
groups=$($K group list -b "$BROKER" 2>&1 | awk '{print $1}' | grep '^q1\.v' | sort | tr '\n' ' ')
if [ "$groups" == "q1.v1 q1.v2 " ]; then pass "each version has its own consumer group"
else fail "each version has its own consumer group" "$groups"; fi
if [ -f "$KAPPA_DATA.jobs/plugins/$(sha256sum $Q1 | cut -d' ' -f1).so" ]; then
    pass "plugin materialized as STATE_DIR/plugins/SHA256.so"
else fail "plugin materialized as STATE_DIR/plugins/SHA256.so" "$(ls "$KAPPA_DATA.jobs/plugins" 2>&1)"; fi

# ---- stop and start v2 ----------------------------------------------------------
out=$($K job stop q1 2 -b "$BROKER" 2>&1)
if [ "$out" == "job q1 version 2: stopped" ] && [ "$(list_field q1 2 state)" == stopped ]; then
    pass "stop v2"
else fail "stop v2" "$out"; fi
for _ in $(seq 1 50); do
    pgrep -P "$KAPPA_PID" -f "job run q1 --version 2 " >/dev/null || break
    sleep 0.2
done
if ! pgrep -P "$KAPPA_PID" -f "job run q1 --version 2 " >/dev/null; then pass "stopped v2's runner exits"
else fail "stopped v2's runner exits" "still running"; fi
if [ "$(list_field q1 1 phase)" == "LIVE" ]; then pass "v1 is LIVE (the promoted version) with v2 stopped"
else fail "v1 is LIVE (the promoted version) with v2 stopped" "$(list_field q1 1 phase)"; fi
$K nexmark gen --events 1000 --seed 7 -b "$BROKER" >/dev/null 2>&1
sleep 2
lag2=$(list_field q1 2 lag)
if [ "$lag2" == 1000 ] && [ "$(list_field q1 2 phase)" == STOPPED ]; then pass "a stopped version does not read new input"
else fail "a stopped version does not read new input" "lag $lag2"; fi
out=$($K job start q1 2 -b "$BROKER" 2>&1)
if [ "$out" == "job q1 version 2: started" ] && wait_phase CAUGHT_UP 2 60 &&
   [ "$(list_field q1 2 lag)" == 0 ]; then
    pass "start v2: it catches up with the new input"
else fail "start v2: it catches up with the new input" "$out; $(list_field q1 2 phase) lag $(list_field q1 2 lag)"; fi
out=$($K job stop q1 9 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "job q1 has no version 9" <<<"$out"; then pass "stop of an unknown version is exit 1"
else fail "stop of an unknown version is exit 1" "rc=$rc $out"; fi

# ---- --from @TS and latest ---------------------------------------------------------
# Topic n2: 100 events at event time 1,000,000 ms, then 100 at 2,000,000 ms
# (92 bids in each hundred).
$K nexmark gen --events 100 --topic n2 --partitions 1 --base-time-ms 1000000 -b "$BROKER" >/dev/null 2>&1
$K nexmark gen --events 100 --topic n2 --base-time-ms 2000000 -b "$BROKER" >/dev/null 2>&1
out=$($K job deploy q1 --version 3 --plugin $Q1 --from @1500000 --param in=n2 --param out=n2q1 -b "$BROKER" 2>&1)
if [ "$out" == "deployed q1 version 3: 1 input partition(s), 100 record(s) to replay from @1500000; outputs n2q1.v3" ]; then
    pass "deploy --from @TS: the replay starts at the first record at or after TS"
else fail "deploy --from @TS: the replay starts at the first record at or after TS" "$out"; fi
out=$($K job deploy q1 --version 4 --plugin $Q1 --from latest --param in=n2 --param out=n2q1 -b "$BROKER" 2>&1)
if [ "$out" == "deployed q1 version 4: 1 input partition(s), 0 record(s) to replay from latest; outputs n2q1.v4" ]; then
    pass "deploy --from latest: nothing to replay"
else fail "deploy --from latest: nothing to replay" "$out"; fi
# Written right after the deploy, before v4's runner can have started: the
# start offsets committed by deploy make v4 read exactly these.
$K nexmark gen --events 100 --topic n2 --base-time-ms 3000000 -b "$BROKER" >/dev/null 2>&1
wait_phase CAUGHT_UP 3 60; wait_phase CAUGHT_UP 4 60
# CAUGHT_UP allows a lag under the threshold: wait for no lag at all, so
# the outputs below are complete (a loaded machine may not have started v4
# when the phase first reads CAUGHT_UP).
wait_lag0() {
    local i
    for i in $(seq 1 300); do
        [ "$(list_field q1 "$1" lag)" == 0 ] && return 0
        sleep 0.2
    done
    return 1
}
wait_lag0 3; wait_lag0 4
n3=$($KC -C -t n2q1.v3 -e -q -f '.\n' 2>/dev/null | wc -l)
n4=$($KC -C -t n2q1.v4 -e -q -f '.\n' 2>/dev/null | wc -l)
if [ "$n3" == 184 ] && [ "$n4" == 92 ]; then pass "@TS and latest versions read exactly their ranges (184 and 92 bids)"
else fail "@TS and latest versions read exactly their ranges (184 and 92 bids)" "v3 $n3, v4 $n4"; fi
got=$($K job status q1 -b "$BROKER" --json | $PY -c '
import json, sys
for v in json.load(sys.stdin)["versions"]:
    if v["version"] == 3:
        print(" ".join("%d-%d-%d" % (p["start"], p["current"], p["end"]) for p in v["partitions"]))')
if [ "$got" == "100-300-200" ]; then pass "status of the @TS version: start 100, end 200 (fixed at deploy), current 300"
else fail "status of the @TS version: start 100, end 200 (fixed at deploy), current 300" "$got"; fi
# The runner's own --from, without a deploy: a fresh group starts at TS.
timeout 20 "$KAPPA" job run fromts --version 1 --plugin $Q1 --from @2500000 --param in=n2 \
    --param out=n2ts -b "$BROKER" --state-dir "$REF_STATE" >/dev/null 2>&1 &
RUN_PID=$!
for _ in $(seq 1 100); do
    [ "$($KC -C -t n2ts -e -q -f '.\n' 2>/dev/null | wc -l)" -ge 92 ] && break
    sleep 0.2
done
sleep 1
kill $RUN_PID 2>/dev/null; wait $RUN_PID 2>/dev/null
n=$($KC -C -t n2ts -e -q -f '.\n' 2>/dev/null | wc -l)
if [ "$n" == 92 ]; then pass "kappa job run --from @TS starts a new group at TS"
else fail "kappa job run --from @TS starts a new group at TS" "$n records"; fi
out=$("$KAPPA" job run x --version 1 --plugin $Q1 --from soon 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "from is earliest, latest or @TIMESTAMP_MS" <<<"$out"; then pass "job run: bad --from is exit 2"
else fail "job run: bad --from is exit 2" "rc=$rc $out"; fi
$K job stop q1 3 -b "$BROKER" >/dev/null; $K job stop q1 4 -b "$BROKER" >/dev/null

# ---- a plugin over the topic's record size limit ----------------------------------
(cat examples/nexmark/q1.c; echo 'const char kp_big_blob[2000000] = {1};') >"$REF_STATE/big.c"
cc -shared -fPIC -Iinclude -o "$REF_STATE/big.so" "$REF_STATE/big.c"
out=$($K job deploy big --version 1 --plugin "$REF_STATE/big.so" --param in=n2 --param out=big -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "takes records up to 1048588 bytes (max.message.bytes): raise it with \`kappa topic alter-config __kappa_jobs -c max.message.bytes=N\`" <<<"$out" &&
   [ -z "$(list_field big 1 state)" ]; then
    pass "a plugin over max.message.bytes is refused with the way out"
else fail "a plugin over max.message.bytes is refused with the way out" "rc=$rc $out"; fi
$K topic alter-config __kappa_jobs -c max.message.bytes=4000000 -b "$BROKER" >/dev/null 2>&1
out=$($K job deploy big --version 1 --plugin "$REF_STATE/big.so" --param in=n2 --param out=big -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 0 ] && wait_phase_of big 1 LIVE 60 &&
   [ "$($KC -C -t big.v1 -e -q -f '.\n' 2>/dev/null | wc -l)" == 276 ]; then
    pass "after raising max.message.bytes the 2 MB plugin deploys and runs"
else fail "after raising max.message.bytes the 2 MB plugin deploys and runs" "rc=$rc $out $(list_field big 1 phase)"; fi
$K job stop big 1 -b "$BROKER" >/dev/null

# Runners orphaned by the SIGKILL exit on their own within seconds (they
# must not linger as stray group members).
orphans=
for _ in $(seq 1 50); do
    orphans=$(pgrep -f "job run q1 --version .* -b $BROKER " | while read -r p; do
        [ "$(ps -o ppid= -p "$p" | tr -d ' ')" == 1 ] && echo "$p"; done)
    [ -z "$orphans" ] && break
    sleep 0.2
done
if [ -z "$orphans" ]; then pass "runners orphaned by a server SIGKILL exit"
else fail "runners orphaned by a server SIGKILL exit" "still running: $orphans"; fi

# ---- the registry survives a clean restart too ----------------------------------
restart_kappa
if wait_phase LIVE 1 60 && wait_phase CAUGHT_UP 2 60; then
    pass "a restarted server resumes both running versions"
else fail "a restarted server resumes both running versions" "$(list_field q1 1 phase) $(list_field q1 2 phase)"; fi

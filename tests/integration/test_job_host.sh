#!/bin/bash
# `kappa server` hosting jobs (kappa.jobs): the server starts each job as a
# child runner against its own listener, restarts it when it dies (the job
# resumes from its last commit: still exactly once), stops it before itself,
# and refuses a malformed kappa.jobs at startup.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap 'cleanup_kappa; pkill -9 -f "job run hq1 " 2>/dev/null; rm -rf "$W"' EXIT
W=$(mktemp -d "${TMPDIR:-/tmp}/kappa-host-XXXXXX")
Q1=$PWD/build/examples/nexmark/q1.so

out=$("$KAPPA" server --set kappa.jobs=nonsense 2>&1); rc=$?
[ $rc = 2 ] && grep -q "kappa.jobs: 'nonsense' is not NAME@VERSION=PLUGIN.so" <<<"$out" \
    && pass "a malformed kappa.jobs is refused at startup, naming the entry" || fail "bad kappa.jobs" "rc=$rc $out"

# The job's source must exist before it starts; a missing one makes the
# runner exit 1, which the host retries with back-off until it appears.
MPORT=$(free_port)
start_kappa --set group.min.session.timeout.ms=1000 --set "kappa.jobs=hq1@1=$Q1" \
    --set "kappa.jobs.state.dir=$W/state" --set "kappa.jobs.metrics.port=$MPORT" \
    || { fail "server starts" "see log"; exit 1; }
sleep 1
"$KAPPA" nexmark gen --events 20000 --partitions 2 --seed 8 -b "$BROKER" >/dev/null 2>&1
if $PY tests/integration/jobtool.py caught-up "$BROKER" hq1.v1 60 nexmark; then
    pass "the hosted job runs (after retrying until its source topic existed)"
else
    fail "hosted job runs" "$(grep -E 'job hq1|hq1' "$KAPPA_DATA.log" | tail -n 5)"
fi
grep -q "job hq1 v1: started (pid" "$KAPPA_DATA.log" && pass "the server logs the job's start" \
    || fail "start logged" "$(tail -n 5 "$KAPPA_DATA.log")"
sleep 1.5
m=$(curl -sf "http://127.0.0.1:$MPORT/metrics")
in=$(awk '$1 ~ /^kappa_job_records_in_total[{]job="hq1"/ { s += $2 } END { print s + 0 }' <<<"$m")
[ "$in" = 20000 ] && pass "the hosted job serves its metrics on kappa.jobs.metrics.port (20000 records in)" \
    || fail "hosted job metrics" "records in: $in"

# Kill the job: the server restarts it; more input is processed exactly once.
pid=$(pgrep -f "job run hq1 --version 1" | head -n 1)
kill -9 "$pid"
for _ in $(seq 1 50); do grep -q "job hq1 v1: killed by signal 9; restarting" "$KAPPA_DATA.log" && break; sleep 0.1; done
grep -q "job hq1 v1: killed by signal 9; restarting" "$KAPPA_DATA.log" && pass "a killed job is restarted" \
    || fail "restart" "$(tail -n 5 "$KAPPA_DATA.log")"
"$KAPPA" nexmark gen --events 20000 --partitions 2 --seed 9 -b "$BROKER" >/dev/null 2>&1
$PY tests/integration/jobtool.py caught-up "$BROKER" hq1.v1 60 nexmark || fail "restarted job catches up" "see log"
n=$($PY tests/integration/jobtool.py count "$BROKER" nexmark-q1)
[ "$n" = 36800 ] && pass "exactly once across the restart: 36800 bids from 40000 events" || fail "exactly once" "$n rows"

# Stopping the server stops its jobs first (they commit and leave the group).
stop_kappa TERM
if pgrep -f "job run hq1 " >/dev/null; then
    fail "jobs stop with the server" "a runner is still alive"
else
    pass "SIGTERM stops the hosted jobs, then the server"
fi
grep -q "stopping hosted jobs" "$KAPPA_DATA.log" && grep -q "clean shutdown complete" "$KAPPA_DATA.log" \
    && pass "clean shutdown with hosted jobs" || fail "clean shutdown" "$(tail -n 5 "$KAPPA_DATA.log")"

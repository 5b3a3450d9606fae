#!/usr/bin/env bash
# bench/nexmark_bench.sh -- the stream processor's Nexmark benchmark (issue 5).
#
# Pre-loads N generated events into a 4-partition topic on a local `kappa
# server`, then runs each query's example job (examples/nexmark/qN.c) from
# scratch -- a fresh job version, exactly-once (the default) -- until its
# consumer group has committed the end of the source and of every
# repartition topic, one query at a time.  For each it prints:
#
#   events/s        N / (job start -> caught up)
#   after start-up  N / (tasks assigned -> caught up): without the process
#                   start, group join, init_transactions and restore, which
#                   end at the job's "assigned N task(s)" log line (the first
#                   commit follows within the commit interval)
#   CPU s / M ev    the job process's utime+stime (/proc/PID/stat, its whole
#                   life) and the broker's delta over the same span, per
#                   million events
#
# "Caught up" is polled (tests/integration/jobtool.py, every ~0.5 s), so
# the end time has that resolution; the poller's own fetches are in the
# broker's CPU figure.
#
# Then restore speed: auction_counts with a one-day window (so every
# auction's counter stays in the state) runs over the same events with
# snapshots off, is stopped, and restarted: each task restores its state
# from the whole changelog; the job logs "task X: restored K key(s) (...,
# then R changelog record(s)) in T ms".  Then the same with snapshots every
# 2 s: the restart reads the last snapshot and the changelog after it.
#
# Usage: bench/nexmark_bench.sh [--events N] [--rate R] [--queries "q1 q2 ..."]
#                               [--quick] [--no-restore] [--perf QUERY]
#                               [--source-tags]
#   --perf Q   also record `perf record -g` of query Q's job process and
#              print the top of `perf report`
#   --source-tags  run the query jobs with source tags (a kappa.src header
#              on every output record, as deployed versions do; docs/jobs.md)
# Environment: BUILD (default build), BENCH_DIR (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KAPPA=$PWD/$BUILD/kappa
PY=/usr/bin/python3
JT="$PY tests/integration/jobtool.py"
EVENTS=2000000
RATE=10000
QUERIES="q1 q2 q3 q5 q7 q8 q11"
RESTORE=1
PERF=
TAGS=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --events) EVENTS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --quick) EVENTS=300000; shift ;;
    --no-restore) RESTORE=0; shift ;;
    --perf) PERF=$2; shift 2 ;;
    --source-tags) TAGS=(--source-tags); shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "nexmark_bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
for q in $QUERIES; do
    [[ -f $BUILD/examples/nexmark/$q.so ]] || { echo "nexmark_bench: $BUILD/examples/nexmark/$q.so not built (make)" >&2; exit 1; }
done

port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
now() { date +%s.%N; }
# The wall-clock time (epoch seconds) of the first log line matching $2 in $1.
log_time() { local ts; ts=$(grep -m1 "$2" "$1" | cut -d' ' -f1) && [[ -n $ts ]] && date -d "$ts" +%s.%N; }

data=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kappa-nxbench-XXXXXX")
kport=$(port)
"$KAPPA" server --set "listeners=127.0.0.1:$kport" --set "log.dirs=$data/log" \
    --set "kappa.http.listener=127.0.0.1:$(port)" --set kappa.log.level=warn \
    --set group.initial.rebalance.delay.ms=0 >"$data/server.log" 2>&1 &
kpid=$!
jpid=
cleanup() {
    [[ -n $jpid ]] && kill "$jpid" 2>/dev/null || true
    kill "$kpid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
sleep 0.5
B=127.0.0.1:$kport

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
echo "== kappa $("$KAPPA" version), $EVENTS events at --rate $RATE, 4 partitions, data in $data"
t0=$(now)
"$KAPPA" nexmark gen --events "$EVENTS" --rate "$RATE" --partitions 4 --seed 1 -b "$B" 2>"$data/gen.log" >/dev/null
echo "== pre-load: $(cat "$data/gen.log") ($(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s)"

. tests/nexmark/repartitions.sh

# run_job NAME VERSION PLUGIN LOG [args]: start a runner; sets jpid.
run_job() {
    local name=$1 v=$2 plugin=$3 log=$4; shift 4
    "$KAPPA" job run "$name" --version "$v" --plugin "$plugin" -b "$B" \
        --state-dir "$data/state" "$@" >>"$log" 2>&1 &
    jpid=$!
}
stop_job() { kill -TERM "$jpid"; wait "$jpid" || true; jpid=; }

printf '\n%-6s %12s %14s %10s %16s %16s %s\n' query events/s after-start-up "total s" "job CPU s/M ev" \
    "broker CPU s/M" "outputs"
for q in $QUERIES; do
    v=1
    log=$data/$q.log
    c0=$(cpu_of "$kpid")
    t0=$(now)
    run_job "$q" "$v" "$PWD/$BUILD/examples/nexmark/$q.so" "$log" --param out="nexmark-$q-v$v" \
        ${TAGS[@]+"${TAGS[@]}"}
    perf_pid=
    if [[ $q == "$PERF" ]] && command -v perf >/dev/null; then
        perf record -g -o "$data/perf-$q.data" -p "$jpid" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    # shellcheck disable=SC2046
    if ! $JT caught-up "$B" "$q.v$v" 900 nexmark $(repartitions "$q" "$v"); then
        echo "$q: did not catch up within 900 s; log:"; tail -n 5 "$log"; stop_job; continue
    fi
    t1=$(now)
    cj=$(cpu_of "$jpid")
    c1=$(cpu_of "$kpid")
    [[ -n $perf_pid ]] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    stop_job
    ta=$(log_time "$log" "assigned [1-9]" || echo "$t0")
    out=$($JT count "$B" "nexmark-$q-v$v")
    awk -v n="$EVENTS" -v t0="$t0" -v ta="$ta" -v t1="$t1" -v cj="$cj" -v c0="$c0" -v c1="$c1" \
        -v q="$q" -v out="$out" 'BEGIN{
            printf "%-6s %12.0f %14.0f %10.1f %16.2f %16.2f %s\n", q, n/(t1-t0), n/(t1-ta),
                t1-t0, cj*1e6/n, (c1-c0)*1e6/n, out }'
    echo "       $q: $(grep -o '[0-9]* commits (.*)' "$log" | tail -n 1)"
    grep -o "[0-9]* late" "$log" | tail -n 1 | grep -q "^0 late" \
        || echo "       ($q: $(grep -o '[0-9]* late' "$log" | tail -n 1) events!)"
    if [[ -n $perf_pid && -s $data/perf-$q.data ]]; then
        echo "== perf report for $q (children, top 25)"
        perf report -i "$data/perf-$q.data" --stdio --children --percent-limit 3 2>/dev/null \
            | grep -v '^$' | grep -E '^ +[0-9]' | head -n 25
        echo "== perf report for $q (self, top 25)"
        perf report -i "$data/perf-$q.data" --stdio --no-children --sort dso,symbol \
            --percent-limit 1 -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
    fi
done

[[ $RESTORE == 1 ]] || exit 0
# Restore: the whole changelog (snapshots off), then a snapshot (written
# every 2 s during the first run) plus the changelog after it.
restore_figures() {  # LOG LABEL
    grep "restored" "$1" | sed -E 's/.*restored ([0-9]+) key\(s\), ([0-9]+) bytes \(([0-9]+) from [a-z -]+ at changelog offset -?[0-9]+, then ([0-9]+) changelog record\(s\)\) in ([0-9.]+) ms.*/\1 \3 \4 \5 \2/' \
        | awk -v label="$2" '{k+=$1; s+=$2; r+=$3; if ($4 > ms) ms=$4; b+=$5; n++}
            END{ if (!n) { print label ": nothing restored"; exit }
                 mb = b / 1e6;
                 printf "%s: %d task(s), %d keys (%.1f MB of keys+values; %d from snapshots), %d changelog records, %.0f ms (the tasks restore together): %.0f keys/s, %.0f changelog records/s, %.1f MB/s\n",
                     label, n, k, mb, s, r, ms, k/(ms/1000), r/(ms/1000), mb/(ms/1000) }'
}
ac=$PWD/$BUILD/examples/basics/auction_counts.so
acargs=(--param window_ms=86400000 --param bids_out=ac-bids --param counts_out=ac-counts)
echo
echo "== restore: auction_counts, one-day window (every auction's counter stays in the state)"
for mode in changelog snapshot; do
    v=$([[ $mode == changelog ]] && echo 1 || echo 2)
    snap=$([[ $mode == changelog ]] && echo -1 || echo 2000)
    log=$data/ac-$mode.log
    t0=$(now)
    run_job ac "$v" "$ac" "$log" "${acargs[@]}" --snapshot-interval-ms "$snap"
    # shellcheck disable=SC2046
    $JT caught-up "$B" "ac.v$v" 900 nexmark $(repartitions ac "$v") || { echo "ac did not catch up"; stop_job; continue; }
    echo "first run ($mode mode): $(awk -v n="$EVENTS" -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.0f events/s", n/(b-a)}')"
    stop_job
    run_job ac "$v" "$ac" "$log.restart" "${acargs[@]}" --snapshot-interval-ms "$snap"
    for _ in $(seq 1 600); do grep -q "assigned [1-9]" "$log.restart" && break; sleep 0.1; done
    stop_job
    restore_figures "$log.restart" "restore from the $mode"
done

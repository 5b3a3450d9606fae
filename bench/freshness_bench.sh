#!/usr/bin/env bash
# bench/freshness_bench.sh -- produce-acknowledgement -> visible-through-the-API
# latency of a view (issue 6, item 5), at 10K and 100K events/s.
#
# Starts `kappa server` (its HTTP listener serves the views from
# kappa.views.db), a 4-partition topic `events`, and the job
# examples/views/latest.c (the latest value per key as view `latest`, commit
# interval 100 ms, exactly-once) materialized by its runner into the same
# SQLite file; then bench/freshness_bench.py at each rate.  Target: p99 <=
# commit interval + 50 ms = 150 ms.
#
# Usage: bench/freshness_bench.sh [--seconds S] [--rates "10000 100000"]
# Environment: BUILD (default build), BENCH_DIR (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KAPPA=$PWD/$BUILD/kappa
PY=/usr/bin/python3
SECONDS_EACH=20
RATES="10000 100000"
while [[ $# -gt 0 ]]; do
    case $1 in
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "freshness_bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
plugin=$PWD/$BUILD/examples/views/latest.so
[[ -f $plugin ]] || { echo "freshness_bench: $plugin not built (make)" >&2; exit 1; }
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

data=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kappa-fresh-XXXXXX")
kport=$(port)
hport=$(port)
"$KAPPA" server --set "listeners=127.0.0.1:$kport" --set "log.dirs=$data/log" \
    --set "kappa.http.listener=127.0.0.1:$hport" --set "kappa.views.db=$data/views.db" \
    --set kappa.log.level=warn --set group.initial.rebalance.delay.ms=0 >"$data/server.log" 2>&1 &
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
"$KAPPA" topic create events -p 4 -b "$B" >/dev/null
"$KAPPA" job run latest --version 1 --plugin "$plugin" -b "$B" --state-dir "$data/state" \
    --views "$data/views.db" >"$data/job.log" 2>&1 &
jpid=$!
# Ready when a first record has gone all the way through.
echo '{"warm":1}' | "$KAPPA" topic produce events -k warm -b "$B" >/dev/null
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$hport/v1/views/latest/warm" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$hport/v1/views/latest/warm" >/dev/null ||
    { echo "freshness_bench: the pipeline never showed the first row"; tail -n 20 "$data/job.log"; exit 1; }

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; kappa $("$KAPPA" version)"
echo "== pipeline: topic events (4 partitions) -> job latest (commit interval 100 ms, exactly-once) -> SQLite view -> GET /v1/views/latest/KEY"
for r in $RATES; do
    echo "-- $r events/s for $SECONDS_EACH s"
    $PY bench/freshness_bench.py --brokers "$B" --http "127.0.0.1:$hport" --rate "$r" \
        --seconds "$SECONDS_EACH" || echo "(some probes never became visible)"
done

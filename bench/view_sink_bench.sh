#!/usr/bin/env bash
# bench/view_sink_bench.sh -- view sink throughput into SQLite: how fast
# `kappa view sink` applies a view's backing topic, rows/s.
#
# Pre-loads __kappa_view.bench.v1 (4 partitions) with N changes (upserts of
# K distinct keys, ~90-byte JSON rows, produced with confluent-kafka), then
# starts `kappa view sink bench --version 1 --to sqlite:DB` and times it
# from start until the store's applied count reaches N (the store is polled
# with the sqlite3 shell every 50 ms, so the figure includes consumer group
# join and assignment, about 0.1-0.5 s).
# Usage: bench/view_sink_bench.sh [--quick]     N=... K=... BATCH_MAX=...
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KAPPA=$PWD/$BUILD/kappa
PY=/usr/bin/python3
N=${N:-1000000}
K=${K:-100000}
BATCH_MAX=${BATCH_MAX:-10000}
if [[ ${1:-} == --quick ]]; then N=100000; K=10000; fi

port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
data=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kappa-vbench-XXXXXX")
kport=$(port)
"$KAPPA" server --set "listeners=127.0.0.1:$kport" --set "log.dirs=$data/log" \
    --set "kappa.http.listener=127.0.0.1:$(port)" --set kappa.log.level=warn \
    --set group.initial.rebalance.delay.ms=0 >"$data.log" 2>&1 &
kpid=$!
spid=
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
    kill "$kpid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$data" "$data.log"
}
trap cleanup EXIT
B=127.0.0.1:$kport
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$kport") 2>/dev/null && break; sleep 0.05; done
"$KAPPA" topic create __kappa_view.bench.v1 --partitions 4 --config cleanup.policy=compact \
    -b "$B" >/dev/null
t0=$(date +%s.%N)
$PY - "$B" "$N" "$K" <<'PYEOF'
import sys
from confluent_kafka import Producer
b, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = Producer({"bootstrap.servers": b, "linger.ms": 20, "batch.num.messages": 10000,
              "queue.buffering.max.messages": 1000000})
for i in range(n):
    key = "k%07d" % (i % k)
    val = '{"key":"%s","seq":%d,"amount":%d,"note":"view sink throughput bench"}' % (key, i, i * 7 % 10007)
    while True:
        try:
            p.produce("__kappa_view.bench.v1", key=key, value=val)
            break
        except BufferError:
            p.poll(0.01)
    if i % 10000 == 0:
        p.poll(0)
if p.flush(120):
    sys.exit("not all changes acknowledged")
PYEOF
t1=$(date +%s.%N)
echo "pre-loaded $N changes ($K keys) in $(echo "$t1 - $t0" | bc) s"

db=$data/views.db
t0=$(date +%s.%N)
"$KAPPA" view sink bench --version 1 --to "sqlite:$db" -b "$B" --batch-max "$BATCH_MAX" \
    >"$data/sink.log" 2>&1 &
spid=$!
while :; do
    a=$(sqlite3 -readonly "$db" "SELECT coalesce(sum(applied),0) FROM kappa_offsets" 2>/dev/null || echo 0)
    [ "${a:-0}" -ge "$N" ] && break
    kill -0 $spid 2>/dev/null || { echo "sink died:"; cat "$data/sink.log"; exit 1; }
    sleep 0.05
done
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc)
rows=$(sqlite3 -readonly "$db" "SELECT count(*) FROM \"bench@v1\"")
printf "view sink into SQLite: %d changes (%d rows) in %.2f s = %.0f changes/s (batch max %d)\n" \
    "$N" "$rows" "$secs" "$(echo "$N / $secs" | bc -l)" "$BATCH_MAX"
kill -TERM $spid; wait $spid || true
spid=
ls -la "$db" | awk '{print "store file: " $5 " bytes"}'

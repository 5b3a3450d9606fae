#!/usr/bin/env bash
# bench/broker_bench.sh -- the broker benchmarks of the Kafka-protocol issue,
# with Redis Streams as the peer in the same run.
#
#   produce 100 B records, acks=all      target >= 1.5M records/s
#   produce 1 KiB records, acks=all      target >= 700 MB/s
#   consume from the beginning, 100 B    target >= 3M records/s
#   latency at 50K records/s, acks=all   target p99 <= 5 ms
#   redis-benchmark XADD 100 B fields, pipeline 16, 50 clients: kappa >= 2x
#
# Client and broker share this machine.  kappa fsyncs (group commit) before
# acknowledging; Redis runs with its defaults (no AOF, no fsync per write).
# Also prints the broker's CPU seconds per million records.
# Usage: bench/broker_bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KAPPA=$BUILD/kappa
N100=${N100:-5000000}
N1K=${N1K:-1000000}
NLAT=${NLAT:-500000}
if [[ ${1:-} == --quick ]]; then N100=300000; N1K=100000; NLAT=50000; fi

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "broker_bench: installing redis-server and redis-tools from Debian"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

data=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kappa-bench-XXXXXX")
kport=$(port)
"$KAPPA" server --set "listeners=127.0.0.1:$kport" --set "log.dirs=$data" \
    --set "kappa.http.listener=127.0.0.1:$(port)" --set kappa.log.level=warn >"$data.log" 2>&1 &
kpid=$!
rport=$(port)
rpid=
cleanup() {
    kill "$kpid" 2>/dev/null || true
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$data" "$data.log" "$data.redis"
}
trap cleanup EXIT
sleep 0.5
B=127.0.0.1:$kport

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(df -T "$data" | awk 'NR==2{print $2" on "$1}')"
echo "== kappa $("$KAPPA" version), data in $data"

run() {   # label, records, kappa bench args...
    local label=$1 n=$2; shift 2
    local c0 c1
    c0=$(cpu_of "$kpid")
    out=$("$KAPPA" bench "$@" -b "$B")
    c1=$(cpu_of "$kpid")
    echo "$label: $out"
    awk -v a="$c0" -v b="$c1" -v n="$n" -v l="$label" \
        'BEGIN{printf "%s: broker cpu %.2f s, %.2f cpu-s per million records\n", l, b-a, (b-a)*1e6/n}'
}

run "produce 100B acks=all" "$N100" produce --topic p100 --size 100 --count "$N100" --acks all
run "produce 1KiB acks=all" "$N1K" produce --topic p1k --size 1024 --count "$N1K" --acks all
run "consume 100B from start" "$N100" consume --topic p100 --count "$N100"
run "latency 100B @50K/s acks=all" "$NLAT" produce --topic plat --size 100 --count "$NLAT" \
    --acks all --rate 50000 --linger-ms 0

# Exactly-once (issue 4): transactional produce at two commit intervals
# beside idempotent non-transactional produce.  Target: >= 70% at 100 ms.
NTX=${NTX:-6000000}
[[ ${1:-} == --quick ]] && NTX=300000
run "produce 100B idempotent" "$NTX" produce --topic pidem --size 100 --count "$NTX" --acks all --idempotence
run "produce 100B transactional, commit every 100 ms" "$NTX" produce --topic ptx100 --size 100 \
    --count "$NTX" --acks all --transactional-id bench-100 --commit-interval-ms 100
run "produce 100B transactional, commit every 10 ms" "$NTX" produce --topic ptx10 --size 100 \
    --count "$NTX" --acks all --transactional-id bench-10 --commit-interval-ms 10

mkdir -p "$data.redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$data.redis" --save "" \
    --appendonly no --daemonize no >"$data.redis/log" 2>&1 &
rpid=$!
sleep 0.5
value=$(head -c 100 /dev/zero | tr '\0' 'x')
echo "== Redis $(redis-server --version | awk '{print $3}') XADD, 100-byte field, pipeline 16, 50 clients"
redis-benchmark -p "$rport" -n "$N100" -c 50 -P 16 -q XADD bench '*' f "$value" 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -n 1

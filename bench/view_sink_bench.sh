#!/usr/bin/env bash
# bench/view_sink_bench.sh -- view sink throughput into PostgreSQL and
# ClickHouse (issue 6, item 5), with SQLite alongside for reference.
#
# A backing topic __kappa_view.bench.v1 (4 partitions) is loaded with N
# changes over KEYS keys (one in ten a delete, ~60-byte JSON values), then
# `kappa view sink bench --version 1 --to TARGET` applies it from the start;
# the time is from the sink's start until the store's kappa_offsets say
# every change is applied (polled every 100 ms), so it includes process
# start, group join and table creation.  The servers are private ones
# (scripts/pg.sh, scripts/clickhouse.sh) on loopback with their default
# durability (PostgreSQL fsyncs each commit).  Also runs the backends alone
# (tests/integration/view_backends bench step: no Kafka) when built.
#
# Usage: bench/view_sink_bench.sh   (N=1000000 KEYS=100000 BATCH=10000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export KAPPA=$PWD/$BUILD/kappa
N=${N:-1000000}
KEYS=${KEYS:-100000}
BATCH=${BATCH:-10000}
. tests/integration/lib.sh
set +u
PGDIR=$(mktemp -u /tmp/kappa-bench-pg-XXXXXX)
CHDIR=$(mktemp -u /tmp/kappa-bench-ch-XXXXXX)
SQDIR=$(mktemp -d /tmp/kappa-bench-sq-XXXXXX)
PGPORT=$(free_port)
CHPORT=$(free_port)
SINK_PID=
cleanup() {
    [ -n "$SINK_PID" ] && kill -9 "$SINK_PID" 2>/dev/null
    scripts/pg.sh stop "$PGDIR" >/dev/null 2>&1 || true
    scripts/clickhouse.sh stop "$CHDIR" >/dev/null 2>&1 || true
    rm -rf "$PGDIR" "$CHDIR" "$SQDIR"
    cleanup_kappa
}
trap cleanup EXIT

echo "== view sink throughput: $N changes, $KEYS keys, batches of $BATCH"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
scripts/pg.sh start "$PGDIR" "$PGPORT"
scripts/clickhouse.sh start "$CHDIR" "$CHPORT"
PG=postgresql://postgres@127.0.0.1:$PGPORT/postgres
CH=clickhouse://127.0.0.1:$CHPORT/bench
echo "postgresql $(psql -X -At "$PG" -c 'SHOW server_version'), clickhouse $(curl -s --data-binary 'SELECT version()' "http://127.0.0.1:$CHPORT/")"
start_kappa
t0=$(date +%s.%N)
$PY tests/integration/view_sink_py.py fastload "$BROKER" __kappa_view.bench.v1 "$N" "$KEYS" 4
echo "loaded $N records in $(echo "$(date +%s.%N) - $t0" | bc) s"

applied() {
    case $1 in
    pg) psql -X -At "$PG" -c "SELECT sum(applied) FROM kappa_offsets WHERE view = 'bench'" 2>/dev/null ;;
    ch) curl -s --max-time 10 --data-binary "SELECT sum(applied) FROM kappa_offsets FINAL WHERE view = 'bench'" \
            "http://127.0.0.1:$CHPORT/?database=bench" 2>/dev/null ;;
    sqlite) sqlite3 "$SQDIR/views.db" "SELECT sum(applied) FROM kappa_offsets WHERE view = 'bench'" 2>/dev/null ;;
    esac
}

run_sink() {   # kind target
    local kind=$1 target=$2
    local t0 t1 a=""
    t0=$(date +%s.%N)
    "$KAPPA" view sink bench --version 1 --to "$target" -b "$BROKER" --batch-max "$BATCH" \
        --group "bench-$kind" >"$KAPPA_DATA.sink-$kind.log" 2>&1 &
    SINK_PID=$!
    for _ in $(seq 1 3000); do
        a=$(applied "$kind" || true)
        [ "$a" == "$N" ] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    kill -TERM "$SINK_PID"; wait "$SINK_PID" || true; SINK_PID=
    if [ "$a" != "$N" ]; then
        echo "$kind: only $a of $N applied after 300 s" >&2
        tail -n 5 "$KAPPA_DATA.sink-$kind.log" >&2
        return 1
    fi
    local s
    s=$(echo "$t1 - $t0" | bc)
    printf '%-10s kappa view sink: %8d changes in %6.2f s = %8.0f rows/s\n' "$kind" "$N" "$s" "$(echo "$N / $s" | bc -l)"
}

run_sink pg "$PG"
run_sink ch "$CH"
run_sink sqlite "sqlite:$SQDIR/views.db"
echo "table sizes: postgresql $(psql -X -At "$PG" -c 'SELECT count(*) FROM "bench@v1"') rows," \
    "clickhouse $(curl -s --data-binary 'SELECT count() FROM `bench@v1` FINAL' "http://127.0.0.1:$CHPORT/?database=bench") rows (FINAL)"

DRV=$BUILD/tests/integration/view_backends
if [ -x "$DRV" ]; then
    echo "-- the backends alone (no Kafka: tests/integration/view_backends bench)"
    printf 'postgresql '; "$DRV" "postgresql://postgres@127.0.0.1:$PGPORT/postgres" "bench:$N:$KEYS:$BATCH" | sed -n 's/^bench //p'
    printf 'clickhouse '; "$DRV" "clickhouse://127.0.0.1:$CHPORT/drv" "bench:$N:$KEYS:$BATCH" | sed -n 's/^bench //p'
fi

#!/usr/bin/env bash
# bench/replay_bench.sh -- replay speed vs a batch engine (issue 7, item 8).
#
# The known weakness of the Kappa architecture: reprocessing a long history
# through a streaming engine instead of a batch system.  This measures it on
# one machine, in one run:
#
#   kappa       N Nexmark events (about 92% bids) already in a 4-partition
#               topic; a new job version (examples/nexmark/auction_revenue.c:
#               revenue per auction per 10-second window, exactly-once on)
#               replays them from earliest until its consumer group has
#               committed the end of the source and of its repartition topic.
#   ClickHouse  the same events as JSON lines (the generator's --output, same
#               seed: byte-identical to the topic's values) loaded into a
#               MergeTree table over the HTTP interface, then the same
#               aggregation as one GROUP BY.  Total = load + query.
#
# Both results are compared: the number of (auction, window) rows kappa
# emitted must equal ClickHouse's, minus the windows still open at the end
# (kappa emits a window when the watermark passes it; the last ones never
# close because no later event arrives).
#
# Usage: bench/replay_bench.sh [--events N]     (default 10870000: ~10M bids)
# Environment: BUILD (default build), BENCH_DIR (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KAPPA=$PWD/$BUILD/kappa
PY=/usr/bin/python3
JT="$PY tests/integration/jobtool.py"
EVENTS=10870000
while [[ $# -gt 0 ]]; do
    case $1 in
    --events) EVENTS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "replay_bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
plugin=$PWD/$BUILD/examples/nexmark/auction_revenue.so
[[ -f $plugin ]] || { echo "replay_bench: $plugin not built (make)" >&2; exit 1; }

port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

data=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kappa-replay-XXXXXX")
kport=$(port)
chport=$(port)
"$KAPPA" server --set "listeners=127.0.0.1:$kport" --set "log.dirs=$data/log" \
    --set "kappa.http.listener=127.0.0.1:$(port)" --set kappa.log.level=warn \
    --set group.initial.rebalance.delay.ms=0 >"$data/server.log" 2>&1 &
kpid=$!
jpid=
cleanup() {
    [[ -n $jpid ]] && kill "$jpid" 2>/dev/null || true
    kill "$kpid" 2>/dev/null || true
    scripts/clickhouse.sh stop "$data/ch" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
sleep 0.5
B=127.0.0.1:$kport

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
echo "== kappa $("$KAPPA" version), $EVENTS Nexmark events, 4 partitions, data in $data"
t0=$(now)
"$KAPPA" nexmark gen --events "$EVENTS" --partitions 4 --seed 1 -b "$B" 2>"$data/gen.log" >/dev/null
echo "== pre-load into kappa: $(cat "$data/gen.log") ($(secs "$t0" "$(now)") s, not timed below)"
"$KAPPA" nexmark gen --events "$EVENTS" --seed 1 --output "$data/events.json" 2>/dev/null
echo "== the same events as JSON lines: $(du -h "$data/events.json" | cut -f1) (not timed below)"

# ---- kappa: a new job version replaying from earliest -------------------
log=$data/job.log
t0=$(now)
"$KAPPA" job run revenue --version 1 --plugin "$plugin" -b "$B" --state-dir "$data/state" \
    >"$log" 2>&1 &
jpid=$!
if ! $JT caught-up "$B" revenue.v1 3600 nexmark revenue.v1.by_auction-repartition; then
    echo "kappa: did not catch up within an hour"; tail -n 5 "$log"; exit 1
fi
t1=$(now)
cj=$(cpu_of "$jpid")
kill -TERM "$jpid"; wait "$jpid" || true; jpid=
krows=$($JT count "$B" nexmark-revenue)
kt=$(secs "$t0" "$t1")

# ---- ClickHouse: load + GROUP BY ----------------------------------------
scripts/clickhouse.sh start "$data/ch" "$chport" >"$data/ch.log" 2>&1 || {
    echo "clickhouse: could not start:"; tail -n 20 "$data/ch.log"; exit 1; }
ch() { curl -sS --fail-with-body "http://127.0.0.1:$chport/" --data-binary "$1"; }
ch "CREATE TABLE events (event_type String, auction UInt64, bidder UInt64, price UInt64,
    channel String, url String, date_time Int64, extra String)
    ENGINE = MergeTree ORDER BY (event_type, auction, date_time)" >/dev/null
t2=$(now)
curl -sS --fail-with-body -o /dev/null \
    "http://127.0.0.1:$chport/?input_format_skip_unknown_fields=1&query=INSERT%20INTO%20events%20FORMAT%20JSONEachRow" \
    -X POST -T "$data/events.json"      # -T streams the file (--data-binary would load 2 GB into memory)
t3=$(now)
crows=$(ch "SELECT count() FROM (SELECT auction, intDiv(date_time, 10000) * 10000 AS w,
    sum(price), count() FROM events WHERE event_type = 'bid' GROUP BY auction, w)")
t4=$(now)
open=$(ch "SELECT count() FROM (SELECT DISTINCT auction FROM events WHERE event_type = 'bid'
    AND intDiv(date_time, 10000) = (SELECT intDiv(max(date_time), 10000) FROM events))")

echo
printf '%-34s %10s %12s\n' "" "seconds" "events/s"
printf '%-34s %10s %12.0f\n' "kappa replay (job start -> caught up)" "$kt" "$(awk -v n="$EVENTS" -v t="$kt" 'BEGIN{print n/t}')"
printf '%-34s %10s\n' "ClickHouse load (JSONEachRow)" "$(secs "$t2" "$t3")"
printf '%-34s %10s\n' "ClickHouse GROUP BY" "$(secs "$t3" "$t4")"
printf '%-34s %10s %12.0f\n' "ClickHouse load + query" "$(secs "$t2" "$t4")" "$(awk -v n="$EVENTS" -v a="$t2" -v b="$t4" 'BEGIN{print n/(b-a)}')"
echo "kappa job CPU: $cj s ($(awk -v c="$cj" -v n="$EVENTS" 'BEGIN{printf "%.2f", c*1e6/n}') s per million events)"
echo "rows: kappa emitted $krows closed windows; ClickHouse $crows groups, of which $open in the last (still open) window"
[[ $krows -eq $((crows - open)) ]] && echo "rows agree" || echo "ROWS DIFFER"

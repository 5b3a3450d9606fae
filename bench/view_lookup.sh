#!/usr/bin/env bash
# bench/view_lookup.sh -- point lookups over HTTP with keep-alive (issue 6):
# `kappa server` serving a view of 100K rows from its SQLite view store,
# wrk (Debian) doing GET /v1/views/bench/KEY on random keys.
#
#   target >= 50K lookups/s at 2 threads x 32 connections, for 10 s
#
# The store is written by tests/integration/viewdb.py (the schema of
# src/view/store.h).  wrk and the server share this machine.  Prints
# lookups/s, latency percentiles, the server's CPU seconds per 100K lookups.
# Usage: bench/view_lookup.sh [--quick]   (env: ROWS, SECONDS_, THREADS, CONNS)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KAPPA=$BUILD/kappa
ROWS=${ROWS:-100000}
DUR=${SECONDS_:-10}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
if [[ ${1:-} == --quick ]]; then DUR=3; fi
command -v wrk >/dev/null || { echo "view_lookup: wrk not installed (scripts/install-deps.sh)" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/kappa-viewbench-XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

/usr/bin/python3 tests/integration/viewdb.py "$DIR/views.db" create bench 1 "$ROWS"
HTTP=127.0.0.1:$(port)
"$KAPPA" server --set "listeners=127.0.0.1:$(port)" --set "log.dirs=$DIR/data" \
    --set "kappa.http.listener=$HTTP" --set "kappa.views.db=$DIR/views.db" >"$DIR/log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://$HTTP/health" >/dev/null && break; sleep 0.05; done
curl -sf "http://$HTTP/v1/views/bench/k00042" >/dev/null || { echo "view_lookup: lookup failed" >&2; cat "$DIR/log" >&2; exit 1; }

cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }   # utime + stime, clock ticks
c0=$(cpu)
echo "== view point lookups: $ROWS rows, wrk -t$THREADS -c$CONNS -d${DUR}s (keep-alive), $(nproc) cores"
VIEW_ROWS=$ROWS VIEW_NAME=bench wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency \
    -s bench/view_lookup.lua "http://$HTTP" | tee "$DIR/wrk.out"
c1=$(cpu)
n=$(awk '/requests in/ {print $1}' "$DIR/wrk.out")
awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
    'BEGIN { printf "server CPU: %.2f s for %d lookups (%.2f s per 100K)\n", t / hz, n, t / hz / n * 100000 }'

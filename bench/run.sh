#!/usr/bin/env bash
# bench/run.sh -- run the log engine, state store, broker and Nexmark benchmarks;
# `make bench` calls this with BUILD set.  Arguments go to log_bench (try --quick,
# --dir, --only, --help).
# The output is also saved in build/bench-results.txt.
set -euo pipefail

BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."

bin="$BUILD/bench/log_bench"
if [[ ! -x $bin ]]; then
    echo "bench/run.sh: $bin not built; run 'make bench'" >&2
    exit 1
fi
mkdir -p build
"$bin" "$@" 2>&1 | tee build/bench-results.txt
# Stream state stores (memory, LMDB, RocksDB): 1M keys by default, a few
# minutes; BENCHMARKS.md's figures come from a run without arguments.
"$BUILD/bench/state_store_bench" ${STATE_BENCH_ARGS:---keys 1000000 --seconds 10} 2>&1 |
    tee -a build/bench-results.txt
# Broker benchmarks (kappa server + kappa bench, Redis Streams as peer).
bench/broker_bench.sh 2>&1 | tee -a build/bench-results.txt
# Stream processor: the Nexmark example jobs (needs the plugins: make).
if [[ -f $BUILD/examples/nexmark/q1.so ]]; then
    bench/nexmark_bench.sh 2>&1 | tee -a build/bench-results.txt
else
    echo "bench/run.sh: $BUILD/examples/nexmark/*.so not built; skipping bench/nexmark_bench.sh" >&2
fi
# View sinks: PostgreSQL and ClickHouse (private servers on loopback).
if [[ -x /usr/lib/postgresql/15/bin/pg_ctl && -x /usr/sbin/clickhouse-server ]]; then
    bench/view_sink_bench.sh 2>&1 | tee -a build/bench-results.txt
else
    echo "bench/run.sh: postgresql or clickhouse-server missing; skipping bench/view_sink_bench.sh" >&2
fi

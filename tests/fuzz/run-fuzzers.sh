#!/bin/bash
# Build every libFuzzer target (tests/fuzz/fuzz_*.c) with clang, ASan and
# UBSan, and run each for FUZZ_SECONDS on a scratch copy of its corpus.
#
# Environment: BUILD (default build), FUZZ_SECONDS (default 60) per target,
# CC (default clang; libFuzzer needs clang).
# New interesting inputs stay in $BUILD/fuzz/corpus-<target>; a crash is
# written to $BUILD/fuzz/crash-<target>-* -- copy it into
# tests/fuzz/corpus/<target>/ once fixed, so `make test` replays it forever.
# Exits non-zero if any target fails to build or finds a crash.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CC=${CC:-clang}
case $CC in *clang*) ;; *) CC=clang ;; esac   # libFuzzer is clang's

out=$BUILD/fuzz
mkdir -p "$out"
lib_src=$(ls src/*/*.c | grep -v '^src/main\.c$')
libs="$(pkg-config --libs zlib libzstd liblz4 snappy) -lpthread -lm"
flags="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE -O1 -g -Isrc $(pkg-config --cflags zlib libzstd liblz4 snappy)"

status=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    bin=$out/$name
    echo "== $name: build"
    # shellcheck disable=SC2086
    if ! $CC $flags "$src" $lib_src -o "$bin" $libs; then
        echo "FAIL: fuzz $name: build failed"
        status=1
        continue
    fi
    work=$out/corpus-$name
    mkdir -p "$work"
    if [ -d "tests/fuzz/corpus/$name" ]; then
        cp -n "tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null
    fi
    echo "== $name: fuzz for ${FUZZ_SECONDS}s"
    if "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -max_len=65536 \
            -artifact_prefix="$out/crash-$name-" -print_final_stats=1 \
            "$work" >"$out/$name.log" 2>&1; then
        echo "PASS: fuzz $name ($(grep -E 'stat::number_of_executed_units' "$out/$name.log" | tail -n 1 | awk '{print $2}') execs)"
    else
        echo "FAIL: fuzz $name: see $out/$name.log"
        tail -n 40 "$out/$name.log"
        status=1
    fi
done
exit $status

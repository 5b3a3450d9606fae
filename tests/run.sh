#!/bin/bash
# Run every kappa test and print the closing line "N passed, N failed".
#
# Each test program or script prints "PASS: name" / "FAIL: name: why" lines.
# A program that exits non-zero without printing a FAIL line (a crash, a
# sanitizer report) counts as one failure under its own name.
#
# Environment: BUILD (build dir, default build), KAPPA_LONG=1 for the long
# torture variants, TESTS=pattern to run only matching programs.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD KAPPA=$PWD/$BUILD/kappa
export TMPDIR=${TMPDIR:-/tmp}
pass=0
fail=0
failed_names=()
log=$(mktemp)
start_all=$(date +%s)

run_one() {   # name, command...
    local name=$1; shift
    if [ -n "${TESTS:-}" ] && [[ $name != *$TESTS* ]]; then return; fi
    local t0=$(date +%s)
    "$@" >"$log" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^PASS: ' "$log")
    f=$(grep -c '^FAIL: ' "$log")
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL: $name: exited with status $rc" >>"$log"
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    printf '%-48s %4d passed %3d failed  %3ds\n' "$name" "$p" "$f" $(( $(date +%s) - t0 ))
    if [ "$f" -ne 0 ]; then
        failed_names+=("$name")
        sed 's/^/    | /' "$log" | grep -v '^    | PASS: ' | tail -n 60
    fi
}

for t in "$BUILD"/tests/unit/test_*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for t in "$BUILD"/tests/fuzz/replay_*; do
    [ -x "$t" ] || continue
    target=${t##*/replay_}
    run_one "fuzz-replay/$target" "$t" "tests/fuzz/corpus/$target"
done
for t in "$BUILD"/tests/crash/crash_*; do
    [ -x "$t" ] && run_one "crash/$(basename "$t")" "$t"
done
for t in tests/crash/*.sh tests/integration/*.sh; do
    [ -x "$t" ] && run_one "${t#tests/}" "$t"
done

rm -f "$log"
echo
if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "total time $(( $(date +%s) - start_all ))s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]

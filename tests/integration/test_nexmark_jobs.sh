#!/bin/bash
# The Nexmark example jobs (examples/nexmark/q*.c) against the reference
# implementation (tests/nexmark/reference.py): the same seed generated into a
# 4-partition topic on a real server and into a file; every job runs until
# it has consumed everything (its source and its repartition topics); its
# read_committed output must agree with the reference computed from the file.
#
# q1, q2, q3 (no windows): equal as multisets.  q5, q7, q8, q11 (windows): every row
# written is a reference row (no duplicates, nothing invented), and every
# reference row whose window the job's watermark has surely passed is there
# (tests/nexmark/compare.py explains the bound).  The last windows of a
# finite input legitimately stay open.
#
# Round 1: in-order events, every query.  Round 2: bids moved back in time
# by up to 1500 ms (--out-of-order-ms), the windowed queries with a lateness
# bound that covers it (--param out_of_order_ms=1500): nothing may be late.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
W=$(mktemp -d "${TMPDIR:-/tmp}/kappa-nxjobs-XXXXXX")
trap 'kill -9 $(jobs -p) 2>/dev/null; cleanup_kappa; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
JT="$PY tests/integration/jobtool.py"
EVENTS=${NX_EVENTS:-200000}
SEED=${NX_SEED:-$((RANDOM % 1000))}
echo "seed $SEED, $EVENTS events"

. tests/nexmark/repartitions.sh

# round VERSION TOPIC OUT_OF_ORDER_MS QUERY...: generate, run, compare.
round() {
    local v=$1 topic=$2 ooo=$3 q; shift 3
    local tag="v$v ($topic)"
    local gen=("$KAPPA" nexmark gen --events "$EVENTS" --partitions 4 --rate 2000 --seed "$SEED"
               --out-of-order-ms "$ooo")
    "${gen[@]}" --topic "$topic" -b "$BROKER" >/dev/null 2>"$W/gen.log" \
        || { fail "$tag: generate to the broker" "$(cat "$W/gen.log")"; return; }
    "${gen[@]}" --output "$W/$topic.jsonl" 2>/dev/null || { fail "$tag: generate to a file" "exit $?"; return; }

    # The reference results, computed while the jobs run.
    local ref_pids=() p
    for q in "$@"; do
        $PY tests/nexmark/reference.py --query "$q" "$W/$topic.jsonl" >"$W/$q.v$v.expected" &
        ref_pids+=($!)
    done
    declare -A pid
    for q in "$@"; do
        "$KAPPA" job run "$q" --version "$v" --plugin "$PWD/build/examples/nexmark/$q.so" \
            -b "$BROKER" --state-dir "$W/state-$q" --param in="$topic" \
            --param out="nexmark-$q-v$v" --param out_of_order_ms="$ooo" >"$W/$q.v$v.log" 2>&1 &
        pid[$q]=$!
    done
    for q in "$@"; do
        # shellcheck disable=SC2046
        if $JT caught-up "$BROKER" "$q.v$v" 120 "$topic" $(repartitions "$q" "$v"); then
            pass "$tag: $q consumed all $EVENTS events"
        else
            fail "$tag: $q catches up" "$(tail -n 5 "$W/$q.v$v.log")"
        fi
    done
    for q in "$@"; do kill -TERM "${pid[$q]}" 2>/dev/null; done
    for q in "$@"; do
        wait "${pid[$q]}" || fail "$tag: $q stops cleanly on SIGTERM" "exit $?: $(tail -n 3 "$W/$q.v$v.log")"
    done
    for p in "${ref_pids[@]}"; do
        wait "$p" || fail "$tag: reference" "reference.py exited with status $?"
    done

    local out
    for q in "$@"; do
        $JT dump "$BROKER" "nexmark-$q-v$v" >"$W/$q.v$v.actual"
        if out=$($PY tests/nexmark/compare.py --query "$q" --expected "$W/$q.v$v.expected" \
                --actual "$W/$q.v$v.actual" --events "$W/$topic.jsonl" --partitions 4 \
                --out-of-order-ms "$ooo"); then
            pass "$tag: $q output agrees with the reference: $out"
        else
            fail "$tag: $q output agrees with the reference" "$out"
        fi
        grep -q " 0 late," "$W/$q.v$v.log" && ! grep -q " [1-9][0-9]* late," "$W/$q.v$v.log" \
            || fail "$tag: $q drops nothing as late" "$(grep -o '[0-9]* late' "$W/$q.v$v.log" | tail -n 1)"
    done
}

start_kappa || { fail "server starts" "see log"; exit 1; }
round 1 nexmark 0 q1 q2 q3 q5 q7 q8 q11
round 2 nexmark-ooo 1500 q5 q7 q8 q11

# The comparison itself must be able to fail: a dropped row, an invented one
# and a duplicate are each caught.
head -n -1 "$W/q2.v1.actual" >"$W/bad1"
{ cat "$W/q7.v1.actual"; echo '{"auction":1,"bidder":1,"price":1,"date_time":1,"window_end":10000}'; } >"$W/bad2"
{ cat "$W/q5.v1.actual"; head -n 1 "$W/q5.v1.actual"; } >"$W/bad3"
if ! $PY tests/nexmark/compare.py --query q2 --expected "$W/q2.v1.expected" --actual "$W/bad1" >/dev/null &&
   ! $PY tests/nexmark/compare.py --query q7 --expected "$W/q7.v1.expected" --actual "$W/bad2" \
       --events "$W/nexmark.jsonl" >/dev/null &&
   ! $PY tests/nexmark/compare.py --query q5 --expected "$W/q5.v1.expected" --actual "$W/bad3" \
       --events "$W/nexmark.jsonl" >/dev/null; then
    pass "the comparison rejects a missing row, an invented row and a duplicate"
else
    fail "the comparison rejects bad outputs" "one of three corrupted outputs was accepted"
fi

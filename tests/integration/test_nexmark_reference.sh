#!/bin/bash
# The Nexmark reference implementation (tests/nexmark/reference.py): its own
# hand-computed cases, then every query over a generated stream, checked
# against facts that follow from the generator's rules.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kappa-nxref-XXXXXX")
trap 'rm -rf "$TMP"' EXIT

$PY tests/nexmark/test_reference.py

# A generated stream through every query.  q1 has one row per bid; q2 only
# auctions divisible by 123; every query finds something in 50000 events.
"$KAPPA" nexmark gen --events 50000 --seed 5 --output "$TMP/ev.jsonl" 2>/dev/null
bids=$(grep -c '"event_type":"bid"' "$TMP/ev.jsonl")
ok=1
why=
for q in q1 q2 q3 q5 q7 q8 q11; do
    if ! $PY tests/nexmark/reference.py --query $q "$TMP/ev.jsonl" > "$TMP/$q.out" 2>"$TMP/$q.err"; then
        ok=0; why="$why $q failed: $(head -c 300 "$TMP/$q.err")"; continue
    fi
    [ -s "$TMP/$q.out" ] || { ok=0; why="$why $q empty"; }
    LC_ALL=C sort -c "$TMP/$q.out" 2>/dev/null || { ok=0; why="$why $q not sorted"; }
done
[ "$(wc -l < "$TMP/q1.out")" -eq "$bids" ] || { ok=0; why="$why q1 rows != bids ($bids)"; }
if grep -qv '"auction":[0-9]*,' "$TMP/q2.out" || \
   awk -F'[:,]' '{ if ($2 % 123) bad=1 } END { exit !bad }' "$TMP/q2.out"; then
    ok=0; why="$why q2 has an auction not divisible by 123"
fi
if grep -v -q '"state":"\(OR\|ID\|CA\)"' "$TMP/q3.out"; then ok=0; why="$why q3 state"; fi
if [ $ok == 1 ]; then pass "reference queries over 50000 generated events"; else fail "reference queries over 50000 generated events" "$why"; fi

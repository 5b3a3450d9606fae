#!/bin/bash
# kappa demo: the README's quickstart runs as a newcomer would run it -- the
# whole Kappa cycle in under a minute, every step succeeding, the view's
# numbers changing with the promotion, and nothing left behind.
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh

out=$(mktemp)
trap 'rm -f "$out"' EXIT
t0=$(date +%s.%N)
timeout 120 "$KAPPA" demo >"$out" 2>&1
rc=$?
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
if [ $rc -eq 0 ]; then pass "kappa demo exits 0"; else fail "kappa demo exits 0" "rc=$rc; $(tail -n 20 "$out")"; fi
if awk -v s="$secs" 'BEGIN{exit !(s < 60)}'; then pass "kappa demo takes under a minute ($secs s)"
else fail "kappa demo takes under a minute" "$secs s"; fi

for want in "deployed revenue version 1:" "deployed revenue version 2:" "different" \
            "promoted revenue version 2 (previous 1)" "retired revenue version 1:" \
            "Done: deploy, replay, diff, promote and retire"; do
    if grep -qF "$want" "$out"; then pass "demo output has: $want"
    else fail "demo output has: $want" "$(tail -n 30 "$out")"; fi
done

# The diff found changed windows and no missing ones (refunds change sums,
# not which windows exist).
line=$(grep -E '^view revenue +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +different' "$out")
read -r _ _ equal changed only1 only2 _ <<<"$line"
if [ -n "$line" ] && [ "$changed" -gt 0 ] && [ "$only1" -eq 0 ] && [ "$only2" -eq 0 ]; then
    pass "diff: $changed changed windows, none only in one version"
else fail "diff: changed windows, none only in one version" "line: $line"; fi

# The two queries of the same rows (before and after the promotion) differ:
# version 2 leaves refunds out, so its revenue is lower.
q1=$(awk '/^\$ kappa view query/{n++} n==1 && /^p1\|/{print $2}' "$out" | paste -sd+ | bc)
q2=$(awk '/^\$ kappa view query/{n++} n==2 && /^p1\|/{print $2}' "$out" | paste -sd+ | bc)
if [ -n "$q1" ] && [ -n "$q2" ] && [ "$q2" -lt "$q1" ]; then
    pass "after the promotion the view reads version 2 (revenue $q1 -> $q2)"
else fail "after the promotion the view reads version 2" "before '$q1' after '$q2'"; fi

dir=$(grep -o '/tmp/kappa-demo-[A-Za-z0-9]*' "$out" | head -n 1)
if [ -n "$dir" ] && [ ! -e "$dir" ]; then pass "the demo removes its directory"
else fail "the demo removes its directory" "${dir:-no directory named} still there"; fi
if ! pgrep -f "kappa-demo-" >/dev/null; then pass "no demo process is left running"
else fail "no demo process is left running" "$(pgrep -af kappa-demo- | head -n 3)"; fi

out2=$("$KAPPA" demo --bogus 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "usage: kappa demo" <<<"$out2"; then pass "demo: a bad flag is exit 2"
else fail "demo: a bad flag is exit 2" "rc=$rc $out2"; fi

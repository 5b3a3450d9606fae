#!/bin/bash
# kappa nexmark gen: the same seed gives the same file; to a real kappa
# server the records, their partitions (event i -> i % P) and timestamps
# (= date_time) are exactly the file's; a failed delivery, an unreachable
# broker and bad arguments give their documented exit statuses.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kappa-nx-XXXXXX")
trap 'cleanup_kappa; rm -rf "$TMP"' EXIT
N=20000

# Determinism through the command line.
"$KAPPA" nexmark gen --events $N --seed 7 --output "$TMP/a.jsonl" 2>"$TMP/a.err"
rc_a=$?
"$KAPPA" nexmark gen --events $N --seed 7 --output "$TMP/b.jsonl" 2>/dev/null
"$KAPPA" nexmark gen --events $N --seed 8 --output "$TMP/c.jsonl" 2>/dev/null
if [ $rc_a == 0 ] && [ "$(wc -l < "$TMP/a.jsonl")" == $N ] && cmp -s "$TMP/a.jsonl" "$TMP/b.jsonl" \
   && ! cmp -s "$TMP/a.jsonl" "$TMP/c.jsonl"; then
    pass "nexmark gen same seed same file, other seed other file"
else
    fail "nexmark gen same seed same file" "rc $rc_a, $(wc -l < "$TMP/a.jsonl") lines"
fi
if grep -q "^kappa nexmark gen: $N events (400 persons, 1200 auctions, 18400 bids) in .* -> $TMP/a.jsonl\$" "$TMP/a.err"; then
    pass "nexmark gen summary"
else
    fail "nexmark gen summary" "$(cat "$TMP/a.err")"
fi
if "$KAPPA" nexmark gen --events 3 --output - 2>/dev/null | head -1 | grep -q '^{"event_type":"person","id":1000,.*"date_time":1767225600000,"extra":""}$'; then
    pass "nexmark gen to stdout"
else
    fail "nexmark gen to stdout" "$("$KAPPA" nexmark gen --events 3 --output - 2>&1)"
fi

start_kappa || { echo "FAIL: nexmark: server did not start"; exit 1; }
K="timeout 30 kcat -b $BROKER"

"$KAPPA" nexmark gen --events $N --seed 7 --partitions 3 --topic nx -b "$BROKER" 2>"$TMP/gen.err"
rc=$?
if [ $rc == 0 ] && grep -q "$N events .* -> topic nx (3 partitions, created) at $BROKER" "$TMP/gen.err"; then
    pass "nexmark gen to a new topic"
else
    fail "nexmark gen to a new topic" "rc $rc: $(cat "$TMP/gen.err")"
fi
if $K -L -t nx 2>&1 | grep -q 'topic "nx" with 3 partitions'; then pass "nexmark gen created 3 partitions"; else fail "nexmark gen created 3 partitions" "$($K -L -t nx 2>&1)"; fi

# Per partition p: the file's lines i with i % 3 == p, in order, each with
# its date_time as the record's timestamp, and no key (kcat %K: -1).
ok=1
total=0
for p in 0 1 2; do
    $K -C -t nx -p $p -o beginning -e -q -f '%T %K|%s\n' > "$TMP/p$p" 2>"$TMP/kcat.err" || ok=0
    awk -v p=$p '(NR - 1) % 3 == p' "$TMP/a.jsonl" |
        sed -E 's/^(.*"date_time":([0-9]+).*)$/\2 -1|\1/' > "$TMP/want$p"
    cmp -s "$TMP/p$p" "$TMP/want$p" || { ok=0; diff "$TMP/want$p" "$TMP/p$p" | head -4; }
    total=$((total + $(wc -l < "$TMP/p$p")))
done
if [ $ok == 1 ] && [ $total == $N ]; then
    pass "kcat reads back $N records: values, partitions, timestamps"
else
    fail "kcat reads back $N records" "total $total; $(head -c 300 "$TMP/kcat.err")"
fi

# An existing topic keeps its partition count.
"$KAPPA" nexmark gen --events 30 --seed 7 --partitions 5 --topic nx -b "$BROKER" 2>"$TMP/gen2.err"
rc=$?
n0=$($K -C -t nx -p 0 -o beginning -e -q 2>/dev/null | wc -l)
if [ $rc == 0 ] && grep -q "topic nx exists with 3 partitions; using them, not 5" "$TMP/gen2.err" \
   && grep -q -- "-> topic nx (3 partitions) at" "$TMP/gen2.err" && [ "$n0" == $(( (N + 2) / 3 + 10 )) ]; then
    pass "nexmark gen to an existing topic uses its partitions"
else
    fail "nexmark gen to an existing topic" "rc $rc n0 $n0: $(cat "$TMP/gen2.err")"
fi

# A record the broker refuses (larger than the topic's max.message.bytes)
# fails the command: exit 1, with the broker's reason.
$PY - "$BROKER" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic("small", 1, 1, config={"max.message.bytes": "100000"})]).values():
    f.result(10)
PYEOF
"$KAPPA" nexmark gen --events 1 --extra-bytes 400000 --topic small -b "$BROKER" 2>"$TMP/big.err"
rc=$?
if [ $rc == 1 ] && grep -qi "1 of 1 events were not delivered; first error: .*too large" "$TMP/big.err"; then
    pass "nexmark gen fails on a delivery error"
else
    fail "nexmark gen fails on a delivery error" "rc $rc: $(cat "$TMP/big.err")"
fi
stop_kappa

# Nothing listening: exit 3 within the 10 s probe timeout (plus start-up).
port=$(free_port)
t0=$(date +%s)
timeout 60 "$KAPPA" nexmark gen --events 10 -b "127.0.0.1:$port" 2>"$TMP/down.err"
rc=$?
el=$(( $(date +%s) - t0 ))
if [ $rc == 3 ] && [ $el -le 15 ] && grep -q "cannot reach a broker at 127.0.0.1:$port" "$TMP/down.err"; then
    pass "nexmark gen unreachable broker: exit 3 after ${el}s"
else
    fail "nexmark gen unreachable broker" "rc $rc after ${el}s: $(cat "$TMP/down.err")"
fi

# Usage errors exit 2; --help exits 0.
ok=1
for args in "" "gen" "frob" "gen --events" "gen --events abc" "gen --events -1" "gen --events 5 --rate 0" \
            "gen --events 5 --bogus" "gen --events 5 --partitions 0" "gen --events 5 --seed -3" \
            "gen --events 5 --extra-bytes 99999999" "gen --events 5 --timeout 0"; do
    # shellcheck disable=SC2086
    "$KAPPA" nexmark $args --output /dev/null >/dev/null 2>"$TMP/usage.err"
    rc=$?
    if [ "$args" == "" ]; then "$KAPPA" nexmark >/dev/null 2>&1; rc=$?; fi
    [ $rc == 2 ] || { ok=0; echo "'kappa nexmark $args' exited $rc: $(cat "$TMP/usage.err")"; }
done
"$KAPPA" nexmark gen --help | grep -q "usage: kappa nexmark gen --events N" || ok=0
"$KAPPA" nexmark gen --events 5 --output /nonexistent/dir/f 2>/dev/null; [ $? == 1 ] || ok=0
if [ $ok == 1 ]; then pass "nexmark gen usage errors exit 2"; else fail "nexmark gen usage errors exit 2" "see above"; fi

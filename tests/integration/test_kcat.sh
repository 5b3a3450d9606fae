#!/bin/bash
# kcat (librdkafka 2.0) against a real kappa server: metadata, keyed produce,
# consume from beginning / end / an offset / a timestamp, every codec.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa || { echo "FAIL: kcat: server did not start"; exit 1; }
K="timeout 20 kcat -b $BROKER"

# -L on an empty broker shows the one broker.
out=$($K -L 2>&1)
if grep -q "broker 1 at 127.0.0.1:$KAPPA_PORT (controller)" <<<"$out"; then pass "kcat -L broker"; else fail "kcat -L broker" "$out"; fi

# Keyed produce auto-creates the topic; keys and values come back in order.
seq 1 100 | sed 's/^/key\0:value/' | awk '{print "k"NR":v"NR}' | $K -P -t keyed -K: 2>&1
got=$($K -C -t keyed -o beginning -e -q -f '%k=%s\n' 2>&1)
want=$(seq 1 100 | awk '{print "k"$1"=v"$1}')
if [ "$got" == "$want" ]; then pass "kcat keyed produce and consume from beginning"; else fail "kcat keyed produce and consume from beginning" "$(diff <(echo "$want") <(echo "$got") | head -5)"; fi

out=$($K -L -t keyed 2>&1)
if grep -q 'topic "keyed" with 1 partitions' <<<"$out"; then pass "kcat -L shows auto-created topic"; else fail "kcat -L shows auto-created topic" "$out"; fi

# Offset, negative offset (from end), end.
got=$($K -C -t keyed -o 95 -e -q -f '%o %s\n' 2>&1)
if [ "$got" == "$(printf '95 v96\n96 v97\n97 v98\n98 v99\n99 v100')" ]; then pass "kcat consume from offset"; else fail "kcat consume from offset" "$got"; fi
got=$($K -C -t keyed -o -2 -e -q -f '%o\n' 2>&1 | tr '\n' ' ')
if [ "$got" == "98 99 " ]; then pass "kcat consume last N"; else fail "kcat consume last N" "$got"; fi
got=$($K -C -t keyed -o end -e -q 2>&1)
if [ -z "$got" ]; then pass "kcat consume from end"; else fail "kcat consume from end" "$got"; fi

# Timestamps: two produce rounds a second apart, then consume from the
# second round's start time.
echo "early" | $K -P -t timed
sleep 1.1
t=$(date +%s%3N)
sleep 0.1
printf 'late1\nlate2\n' | $K -P -t timed
got=$($K -C -t timed -o "s@$t" -e -q -f '%s\n' 2>&1 | tr '\n' ' ')
if [ "$got" == "late1 late2 " ]; then pass "kcat consume from timestamp"; else fail "kcat consume from timestamp" "$got"; fi

# Every codec, read back byte-exact.
ok=1
for z in none gzip snappy lz4 zstd; do
    head -c 3000 /dev/urandom | base64 -w 0 > "$KAPPA_DATA.payload"
    echo >> "$KAPPA_DATA.payload"
    $K -P -t "codec-$z" -z "$z" "$KAPPA_DATA.payload" || ok=0
    got=$($K -C -t "codec-$z" -o beginning -e -q 2>&1)
    [ "$got" == "$(cat "$KAPPA_DATA.payload")" ] || { ok=0; echo "codec $z mismatch"; }
done
rm -f "$KAPPA_DATA.payload"
if [ $ok == 1 ]; then pass "kcat every codec byte-exact"; else fail "kcat every codec byte-exact" "mismatch"; fi

# A consumer waiting at the end gets a record as soon as it is produced
# (long-poll fetch woken by the append's fsync, not by max.wait).
echo "seed" | $K -P -t poll
( sleep 1; echo "wake" | $K -P -t poll ) &
late=$!
start=$(date +%s%3N)
got=$($K -C -t poll -o 1 -c 1 -q -X fetch.wait.max.ms=5000 2>&1)
elapsed=$(( $(date +%s%3N) - start ))
wait $late
if [ "$got" == "wake" ] && [ $elapsed -lt 4000 ]; then pass "kcat long-poll wake-up (${elapsed}ms)"; else fail "kcat long-poll wake-up" "got '$got' after ${elapsed}ms"; fi

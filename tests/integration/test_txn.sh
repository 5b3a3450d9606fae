#!/bin/bash
# Transactions: the coordinator's answers on the wire, zombie fencing, the
# transaction timeout, and a consume -> produce copier that must copy every
# record exactly once -- as it is, with the copier SIGKILLed at random
# points, and with the broker SIGKILLed mid-run.  Seeds are printed.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
T=tests/integration/txn_eos.py
SEED=${KAPPA_SEED:-$(( $(date +%s) % 100000 ))}
echo "seed $SEED (KAPPA_SEED=$SEED reproduces the kill points)"
rc=0

start_kappa --set transaction.max.timeout.ms=60000 ||
    { echo "FAIL: txn: server did not start"; exit 1; }
timeout 60 "$PY" tests/integration/txn_proto.py 127.0.0.1 "$KAPPA_PORT" || rc=1
timeout 60 "$PY" $T zombie "$BROKER" txn-zombie || rc=1
timeout 60 "$PY" $T timeout "$BROKER" txn-timeout || rc=1

# kafkajs: its own transaction code path (InitProducerId v1, sendOffsets).
if [ ! -d tests/integration/js/node_modules/kafkajs ]; then
    (cd tests/integration/js && timeout 300 npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        { echo "FAIL: kafkajs txn: npm ci failed in tests/integration/js"; rc=1; }
fi
(cd tests/integration/js && timeout 120 node txn_kafkajs.js "$BROKER") || rc=1

# The copier alone: 20000 records, 500 per transaction, a fifth aborted.
timeout 60 "$PY" $T input "$BROKER" in-a out-a 20000 3 || rc=1
timeout 120 "$PY" $T copy "$BROKER" in-a out-a grp-a copier-a "$SEED" 0.2 0 || rc=1
timeout 60 "$PY" $T verify copier "$BROKER" in-a out-a || rc=1

# The copier SIGKILLed at random points, 10 times, then run to the end.
timeout 60 "$PY" $T input "$BROKER" in-b out-b 100000 3 || rc=1
timeout 240 "$PY" $T kill-copier "$BROKER" in-b out-b grp-b copier-b 10 "$SEED" || rc=1
timeout 60 "$PY" $T verify kill-copier "$BROKER" in-b out-b || rc=1

# The broker SIGKILLed 5 times under a running copier.
timeout 60 "$PY" $T input "$BROKER" in-c out-c 100000 3 || rc=1
timeout 300 "$PY" $T copy "$BROKER" in-c out-c grp-c copier-c "$SEED" 0.2 0.05 \
    >"$KAPPA_DATA.copier" 2>&1 &
copier=$!
RANDOM=$SEED
kills=0
for i in 1 2 3 4 5; do
    sleep "$(( RANDOM % 2 )).$(( RANDOM % 10 ))5"
    kill -0 "$copier" 2>/dev/null || break
    restart_kappa KILL || { echo "FAIL: txn kill-broker: restart $i"; rc=1; break; }
    kills=$((kills + 1))
done
wait "$copier"
crc=$?
grep -v '^%' "$KAPPA_DATA.copier" | tail -n 5
if [ "$kills" -ge 5 ] && [ $crc -eq 0 ]; then
    pass "txn kill-broker: broker SIGKILLed $kills times under the copier, which finished"
else
    fail "txn kill-broker" "$kills kill(s) landed, copier exit $crc (seed $SEED)"
    rc=1
fi
timeout 60 "$PY" $T verify kill-broker "$BROKER" in-c out-c || rc=1

# The broker crashes inside EndTxn: once the PrepareCommit record is durable,
# and once the markers are; its recovery finishes the commit, and the
# client's retried EndTxn is answered with success.
for point in prepared marked; do
    export KAPPA_TXN_CRASH_POINT=$point
    restart_kappa TERM || { echo "FAIL: txn crash-$point: restart"; rc=1; continue; }
    unset KAPPA_TXN_CRASH_POINT
    timeout 90 "$PY" $T crash-commit "$BROKER" txn-crash "$point" &
    client=$!
    wait "$KAPPA_PID"       # exits at the crash point
    KAPPA_PID=
    restart_kappa || { echo "FAIL: txn crash-$point: restart"; rc=1; }
    wait "$client" || rc=1
done

# Every segment still checks out, markers and all.
stop_kappa TERM
if "$KAPPA" log check "$KAPPA_DATA" >"$KAPPA_DATA.check" 2>&1; then
    pass "txn: kappa log check passes on the data directory"
else
    fail "txn: kappa log check" "$(tail -n 5 "$KAPPA_DATA.check")"
    rc=1
fi
rm -f "$KAPPA_DATA.copier" "$KAPPA_DATA.check"
exit $rc

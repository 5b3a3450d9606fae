#!/bin/bash
# Acknowledged data survives server restarts: SIGKILL once, SIGTERM once.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa || { echo "FAIL: restart: server did not start"; exit 1; }

produce() {   # topic count start
    timeout 60 "$PY" - "$BROKER" "$1" "$2" "$3" <<'PYEOF'
import sys
from confluent_kafka import Producer
b, topic, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
acked = []
p = Producer({"bootstrap.servers": b, "acks": "all", "linger.ms": 2})
for i in range(start, start + n):
    p.produce(topic, value=b"v%d" % i, partition=i % 3,
              on_delivery=lambda e, m: acked.append(e is None))
p.flush(30)
print(sum(acked))
PYEOF
}

count() {   # topic -> number of records readable, and whether values are the set v0..vN-1
    timeout 60 "$PY" - "$BROKER" "$1" <<'PYEOF'
import sys
from confluent_kafka import Consumer, TopicPartition, KafkaError
b, topic = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": b, "group.id": "restart-check", "enable.partition.eof": True,
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.assign([TopicPartition(topic, p, 0) for p in range(3)])
vals, eof = set(), 0
while eof < 3:
    m = c.poll(10)
    if m is None:
        break
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            eof += 1
        continue
    vals.add(m.value())
c.close()
n = len(vals)
print(n if vals == {b"v%d" % i for i in range(n)} else -1)
PYEOF
}

timeout 30 "$PY" -c "
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({'bootstrap.servers': '$BROKER'})
[f.result(15) for f in a.create_topics([NewTopic('durable', num_partitions=3, replication_factor=1)]).values()]
"
acked=$(produce durable 3000 0)
restart_kappa KILL || { echo "FAIL: restart after SIGKILL: server did not come back"; exit 1; }
n=$(count durable)
if [ "$acked" == 3000 ] && [ "$n" == 3000 ]; then pass "acknowledged records survive SIGKILL ($n)"; else fail "acknowledged records survive SIGKILL" "acked $acked, readable $n"; fi

acked=$(produce durable 1000 3000)
restart_kappa TERM || { echo "FAIL: restart after SIGTERM: server did not come back"; exit 1; }
n=$(count durable)
if [ "$acked" == 1000 ] && [ "$n" == 4000 ]; then pass "records survive SIGTERM ($n)"; else fail "records survive SIGTERM" "acked $acked, readable $n"; fi
if grep -q "clean shutdown complete" "$KAPPA_DATA.log" && grep -q "after a clean shutdown" "$KAPPA_DATA.log"; then
    pass "SIGTERM shuts down cleanly and the next start skips the scan"
else
    fail "SIGTERM shuts down cleanly and the next start skips the scan" "no clean-shutdown lines in the server log"
fi
# A second server on the same data directory is refused, clearly.
out=$("$KAPPA" server --set "listeners=127.0.0.1:$(free_port)" --set "log.dirs=$KAPPA_DATA" --set "kappa.http.listener=127.0.0.1:$(free_port)" 2>&1)
if grep -q "in use by another process" <<<"$out"; then pass "second server on the same log.dirs refused"; else fail "second server on the same log.dirs refused" "$out"; fi

# Configuration errors name what is wrong and stop the server from starting.
out=$("$KAPPA" server --set no.such.key=1 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "unknown configuration key 'no.such.key'" <<<"$out"; then pass "unknown --set key refused by name"; else fail "unknown --set key refused by name" "rc=$rc: $out"; fi
out=$("$KAPPA" server --set num.partitions=zero 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "invalid value 'zero' for 'num.partitions'" <<<"$out"; then pass "invalid value refused by name"; else fail "invalid value refused by name" "rc=$rc: $out"; fi
printf 'listeners=PLAINTEXT://127.0.0.1:1\n# comment\nlog.retention.hours=24\nbogus.setting=7\n' >"$KAPPA_DATA.props"
out=$("$KAPPA" server -c "$KAPPA_DATA.props" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "props:4: unknown configuration key 'bogus.setting'" <<<"$out"; then pass "properties file error names file, line and key"; else fail "properties file error names file, line and key" "rc=$rc: $out"; fi
rm -f "$KAPPA_DATA.props"

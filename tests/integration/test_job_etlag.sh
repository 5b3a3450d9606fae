#!/bin/bash
# Event-time lag of deployed job versions (docs/jobs.md "Progress"): after a
# version catches up on events with known timestamps, `kappa job status`
# (--json and the table), GET /v1/jobs/NAME and /metrics report wall clock
# now minus the newest processed record's timestamp; unknown (null, "-", no
# gauge) for a version that has processed nothing; transaction markers and
# aborted records at the committed offset are skipped over.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa --set group.min.session.timeout.ms=1000 || { echo "FAIL: job etlag: server did not start"; exit 1; }
K="timeout 60 $KAPPA"
Q1=build/examples/nexmark/q1.so
now_ms() { date +%s%3N; }

# 1000 events 10 ms apart ending ~10 minutes ago: event i at BASE + 10 i on
# partition i % 2, so the newest are 998 (partition 0) and 999 (partition 1).
BASE=$(( $(now_ms) - 600000 ))
TS0=$((BASE + 9980)); TS1=$((BASE + 9990))
$K nexmark gen --events 1000 --partitions 2 --topic et --rate 100 --base-time-ms $BASE -b "$BROKER" >/dev/null 2>&1

out=$($K job deploy et --version 1 --plugin $Q1 --param in=et --param out=etq1 -b "$BROKER" 2>&1) ||
    fail "deploy v1" "$out"
# v2 starts at the end and nothing new arrives: it never processes a record.
out=$($K job deploy et --version 2 --plugin $Q1 --from latest --param in=et --param out=etq1 -b "$BROKER" 2>&1) ||
    fail "deploy v2" "$out"

# FIELD of version VER in `kappa job status et --json` ("p0", "p1": the partitions').
status_json() { $K job status et -b "$BROKER" --json 2>/dev/null; }
field() { $PY -c '
import json, sys
d = json.loads(sys.argv[1])
for v in d["versions"]:
    if v["version"] == int(sys.argv[2]):
        print(v[sys.argv[3]] if sys.argv[3][0] != "p" or sys.argv[3] == "phase" else
              v["partitions"][int(sys.argv[3][1:])]["event_time_lag_ms"])' "$1" "$2" "$3"; }
for _ in $(seq 1 150); do
    s=$(status_json)
    [ "$(field "$s" 1 lag)" == 0 ] && break
    sleep 0.2
done
if [ "$(field "$s" 1 lag)" == 0 ]; then pass "v1 catches up"; else fail "v1 catches up" "$s"; fi

# Bounds: a measurement between T0 and T1 sees now - ts in [T0 - ts, T1 - ts].
in_range() { [ "$1" != None ] && [ "$1" -ge $(($2 - 20)) ] && [ "$1" -le $(($3 + 20)) ]; }
T0=$(now_ms); s=$(status_json); T1=$(now_ms)
l0=$(field "$s" 1 p0); l1=$(field "$s" 1 p1); lv=$(field "$s" 1 event_time_lag_ms)
if in_range "$l0" $((T0 - TS0)) $((T1 - TS0)) && in_range "$l1" $((T0 - TS1)) $((T1 - TS1)); then
    pass "status --json: per-partition event_time_lag_ms = now - newest processed timestamp"
else fail "status --json: per-partition event_time_lag_ms = now - newest processed timestamp" \
    "p0 $l0 want $((T0 - TS0))..$((T1 - TS0)); p1 $l1 want $((T0 - TS1))..$((T1 - TS1))"; fi
if [ "$lv" == "$l0" ]; then pass "status --json: the version's event_time_lag_ms is the max over partitions"
else fail "status --json: the version's event_time_lag_ms is the max over partitions" "$lv vs $l0 $l1"; fi
got="$(field "$s" 2 event_time_lag_ms) $(field "$s" 2 p0) $(field "$s" 2 p1)"
if [ "$got" == "None None None" ] && grep -q '"version":2,[^]]*"event_time_lag_ms":null,"partitions"' <<<"$s"; then
    pass "status --json: null for a version that has processed nothing"
else fail "status --json: null for a version that has processed nothing" "$got"; fi

# The table: an EVENT_LAG column, minutes and seconds for v1, "-" for v2.
tab=$($K job status et -b "$BROKER")
got=$(awk 'NR == 1 {print $8} $2 == "(all)" {print $1, $8}' <<<"$tab" | tr '\n' ' ')
if [[ "$got" =~ ^EVENT_LAG\ 1\ (9m5[0-9]|10m0[0-9])s\ 2\ -\ $ ]]; then pass "status table: EVENT_LAG column"
else fail "status table: EVENT_LAG column" "$got"; fi
got=$(awk '$1 == 1 && $2 == "et" {print $8}' <<<"$tab" | tr '\n' ' ')
if [[ "$got" =~ ^(9m5[0-9]s\ |10m0[0-9]s\ ){2}$ ]]; then pass "status table: EVENT_LAG per partition"
else fail "status table: EVENT_LAG per partition" "$got"; fi

# GET /v1/jobs/et and the gauge: the server's snapshot is up to ~2 s old.
http_get() { $PY -c '
import sys, urllib.request
print(urllib.request.urlopen("http://" + sys.argv[1], timeout=5).read().decode())' "$1"; }
for _ in $(seq 1 30); do
    T1=$(now_ms); s=$(http_get "$HTTP/v1/jobs/et")
    lv=$(field "$s" 1 event_time_lag_ms)
    [ "$lv" != None ] && [ -n "$lv" ] && break
    sleep 0.2
done
if in_range "$lv" $((T1 - 4000 - TS0)) $((T1 - TS0)) && [ "$(field "$s" 2 event_time_lag_ms)" == None ] &&
   in_range "$(field "$s" 1 p1)" $((T1 - 4000 - TS1)) $((T1 - TS1)); then
    pass "GET /v1/jobs/et: event_time_lag_ms per version and partition, null for v2"
else fail "GET /v1/jobs/et: event_time_lag_ms per version and partition, null for v2" "$lv $s"; fi
T1=$(now_ms); m=$(http_get "$HTTP/metrics")
g=$(grep '^kappa_job_event_time_lag_seconds{job="et",version="1"} ' <<<"$m" | awk '{printf "%d", $2 * 1000}')
if [ -n "$g" ] && in_range "$g" $((T1 - 4000 - TS0)) $((T1 - TS0)) &&
   ! grep -q 'kappa_job_event_time_lag_seconds{job="et",version="2"}' <<<"$m" &&
   grep -q '^# TYPE kappa_job_event_time_lag_seconds gauge' <<<"$m"; then
    pass "/metrics: kappa_job_event_time_lag_seconds for v1, no sample for v2"
else fail "/metrics: kappa_job_event_time_lag_seconds for v1, no sample for v2" "$g; $(grep kappa_job_ <<<"$m")"; fi
if command -v promtool >/dev/null; then
    if promtool check metrics <<<"$m" >/dev/null 2>&1; then pass "/metrics with the event-time gauge passes promtool"
    else fail "/metrics with the event-time gauge passes promtool" "$(promtool check metrics <<<"$m" 2>&1 | head -3)"; fi
fi

# ---- transaction markers and aborted records at the committed offset -------
# Topic tx: a committed transaction of 3 records (newest at TX), its marker
# (offset 3), an aborted transaction of 2 newer records and its marker
# (offsets 4-6).  q1 reads non-bid events and writes nothing for them.
TX=$(( $(now_ms) - 120000 ))
$PY - "$BROKER" $TX <<'EOF' || fail "transactional input" "producer failed"
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
b, tx = sys.argv[1], int(sys.argv[2])
admin = AdminClient({"bootstrap.servers": b})
admin.create_topics([NewTopic("tx", 1, 1)])["tx"].result(10)
p = Producer({"bootstrap.servers": b, "transactional.id": "etlag-test"})
p.init_transactions(10)
p.begin_transaction()
for i in range(3):
    p.produce("tx", value=b'{"event_type":"person"}', partition=0, timestamp=tx - (2 - i) * 1000)
p.commit_transaction(10)
p.begin_transaction()
for i in range(2):
    p.produce("tx", value=b'{"event_type":"person"}', partition=0, timestamp=tx + 60000)
p.flush(10)
p.abort_transaction(10)
EOF
$K job deploy et --version 3 --plugin $Q1 --param in=tx --param out=txq1 -b "$BROKER" >/dev/null 2>&1
for _ in $(seq 1 30); do
    s=$(status_json)
    [ "$(field "$s" 3 p0)" != None ] && break
    sleep 0.2
done
T1=$(now_ms)
if in_range "$(field "$s" 3 p0)" $((T1 - 3000 - TX)) $((T1 - TX)); then
    pass "transactional input: the lag of the newest committed record"
else fail "transactional input: the lag of the newest committed record" "$s"; fi
# Stop v3 and commit its group at the high watermark (7: past the abort
# marker): the window then ends in aborted records and markers, which
# read_committed never returns; the newest committed record is still TX.
$K job stop et 3 -b "$BROKER" >/dev/null 2>&1
for _ in $(seq 1 50); do
    pgrep -P "$KAPPA_PID" -f "job run et --version 3 " >/dev/null || break
    sleep 0.2
done
$PY - "$BROKER" <<'EOF' || fail "commit et.v3" "failed"
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "et.v3", "enable.auto.commit": False})
c.commit(offsets=[TopicPartition("tx", 0, 7)], asynchronous=False)
c.close()
EOF
T0=$(now_ms); s=$(status_json); T1=$(now_ms)
got=$($PY -c '
import json, sys
for v in json.loads(sys.argv[1])["versions"]:
    if v["version"] == 3:
        print(v["partitions"][0]["current"], v["partitions"][0]["high_watermark"])' "$s")
if [ "$got" == "7 7" ] && in_range "$(field "$s" 3 p0)" $((T0 - TX)) $((T1 - TX)); then
    pass "committed past an aborted transaction and its markers: the newest committed record's lag"
else fail "committed past an aborted transaction and its markers: the newest committed record's lag" \
    "$got $(field "$s" 3 p0) want $((T0 - TX))..$((T1 - TX))"; fi

# The readers (the server's and every status's) join no group and commit nothing.
groups=$($K group list -b "$BROKER" 2>&1 | awk 'NR > 1 {print $1}' | sort | tr '\n' ' ')
if [ "$groups" == "et.v1 et.v2 et.v3 " ]; then pass "event-time reads leave no consumer group behind"
else fail "event-time reads leave no consumer group behind" "$groups"; fi

# ---- broker down: status still fails fast with exit 3 ---------------------------
start=$(now_ms)
out=$($K job status et -b 127.0.0.1:1 --timeout 2000 2>&1); rc=$?
took=$(( $(now_ms) - start ))
if [ $rc -eq 3 ] && [ $took -lt 15000 ]; then pass "status with the broker down: exit 3 in bounded time"
else fail "status with the broker down: exit 3 in bounded time" "rc=$rc ${took}ms $out"; fi

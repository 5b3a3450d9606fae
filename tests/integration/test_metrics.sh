#!/bin/bash
# The HTTP listener's /metrics and /health, and the server's log lines.
#
# /metrics must parse with promtool (Debian's prometheus package) and its
# values must move exactly as much as the traffic we generate: records and
# bytes in and out per partition, high watermark, request counts and errors
# per API, consumer-group lag, fsync latency.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT

start_kappa || { fail "server starts" "see log"; exit 1; }
scrape() { curl -sf "http://$HTTP/metrics"; }
# value NAME LABELS -> the sample's value (0 when absent)
value() { scrape | awk -v k="$1$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'; }

# -- format ---------------------------------------------------------------
scrape >"$KAPPA_DATA.m1"
if out=$(promtool check metrics <"$KAPPA_DATA.m1" 2>&1) && [ -s "$KAPPA_DATA.m1" ]; then
    pass "/metrics passes promtool check metrics"
else
    fail "/metrics passes promtool check metrics" "$out"
fi
ct=$(curl -s -o /dev/null -w '%{content_type}' "http://$HTTP/metrics")
[[ $ct == text/plain*version=0.0.4* ]] && pass "/metrics content type is the Prometheus text format" \
    || fail "/metrics content type" "$ct"

# -- produce: records, bytes, high watermark, request counts -------------------
$PY - "$BROKER" <<'PYEOF' || fail "create topic m" "admin client failed"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic("m", 2, 1)]).values():
    f.result(10)
PYEOF
before_produce=$(value kappa_requests_total '{api="Produce"}')
seq 1 300 | kcat -P -b "$BROKER" -t m -p 0 -X linger.ms=0 -X batch.num.messages=100
seq 1 200 | kcat -P -b "$BROKER" -t m -p 1
in0=$(value kappa_partition_records_in_total '{topic="m",partition="0"}')
in1=$(value kappa_partition_records_in_total '{topic="m",partition="1"}')
hw0=$(value kappa_partition_high_watermark '{topic="m",partition="0"}')
[ "$in0" = 300 ] && [ "$in1" = 200 ] && [ "$hw0" = 300 ] \
    && pass "records in and high watermark count exactly what was produced (300, 200)" \
    || fail "records in / high watermark" "in0=$in0 in1=$in1 hw0=$hw0"
bytes_in=$(value kappa_partition_bytes_in_total '{topic="m",partition="0"}')
size=$(value kappa_partition_log_size_bytes '{topic="m",partition="0"}')
[ "$bytes_in" -gt 300 ] && [ "$bytes_in" = "$size" ] \
    && pass "bytes in equals the partition's log size ($size)" || fail "bytes in" "bytes_in=$bytes_in size=$size"
after_produce=$(value kappa_requests_total '{api="Produce"}')
[ "$after_produce" -ge $((before_produce + 2)) ] \
    && pass "Produce request count moved ($before_produce -> $after_produce)" \
    || fail "Produce request count" "$before_produce -> $after_produce"
pc=$(value kappa_request_duration_seconds_count '{api="Produce"}')
[ "$pc" = "$after_produce" ] && pass "Produce latency histogram counts every answered request" \
    || fail "Produce latency histogram" "count $pc vs requests $after_produce"
fs=$(value kappa_fsync_duration_seconds_count '')
[ "$fs" -ge 1 ] && pass "fsync latency histogram observed $fs syncs" || fail "fsync histogram" "count=$fs"

# -- fetch: records and bytes out ----------------------------------------------
kcat -C -b "$BROKER" -t m -p 0 -o beginning -e -q >/dev/null
out0=$(value kappa_partition_records_out_total '{topic="m",partition="0"}')
bout0=$(value kappa_partition_bytes_out_total '{topic="m",partition="0"}')
[ "$out0" = 300 ] && [ "$bout0" = "$bytes_in" ] \
    && pass "a full read of partition 0 counts 300 records and all its bytes out" \
    || fail "records/bytes out" "records_out=$out0 bytes_out=$bout0 (bytes_in $bytes_in)"

# -- errors per API ----------------------------------------------------------
e0=$(value kappa_request_errors_total '{api="CreateTopics"}')
$PY - "$BROKER" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic("m", 2, 1)]).values():
    try:
        f.result(10)
    except Exception:
        pass
PYEOF
e1=$(value kappa_request_errors_total '{api="CreateTopics"}')
[ "$e1" = $((e0 + 1)) ] && pass "an already-existing topic counts one CreateTopics error" \
    || fail "CreateTopics error count" "$e0 -> $e1"

# -- consumer group lag ----------------------------------------------------------
$PY - "$BROKER" <<'PYEOF' || fail "group consumer" "python consumer failed"
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "lagging",
              "enable.auto.commit": False})
c.assign([TopicPartition("m", 0, 0)])
got = 0
while got < 120:
    msgs = c.consume(200, 5)
    got += len(msgs)
c.commit(offsets=[TopicPartition("m", 0, 120)], asynchronous=False)
c.close()
PYEOF
lag=$(value kappa_consumer_group_lag '{group="lagging",topic="m",partition="0"}')
co=$(value kappa_consumer_group_committed_offset '{group="lagging",topic="m",partition="0"}')
[ "$lag" = 180 ] && [ "$co" = 120 ] && pass "group lag is high watermark minus committed offset (300-120=180)" \
    || fail "group lag" "lag=$lag committed=$co"
seq 1 20 | kcat -P -b "$BROKER" -t m -p 0
lag=$(value kappa_consumer_group_lag '{group="lagging",topic="m",partition="0"}')
[ "$lag" = 200 ] && pass "lag grows with new records (200)" || fail "lag grows" "lag=$lag"

# -- connections ----------------------------------------------------------------
acc=$(value kappa_connections_accepted_total '')
[ "$acc" -ge 5 ] && pass "connections accepted counted ($acc)" || fail "connections accepted" "$acc"
scrape >"$KAPPA_DATA.m2"
if out=$(promtool check metrics <"$KAPPA_DATA.m2" 2>&1); then
    pass "/metrics with topics, groups and traffic passes promtool"
else
    fail "/metrics with topics, groups and traffic passes promtool" "$out"
fi

# -- HTTP behaviour ---------------------------------------------------------------
h=$(curl -s "http://$HTTP/health")
[ "$h" = '{"status":"ok","failed_partitions":0}' ] && pass "/health says ok" || fail "/health" "$h"
code=$(curl -s -o "$KAPPA_DATA.404" -w '%{http_code}' "http://$HTTP/nope")
[ "$code" = 404 ] && grep -q '"error"' "$KAPPA_DATA.404" && pass "unknown path: 404 with a JSON error" \
    || fail "unknown path" "code $code: $(cat "$KAPPA_DATA.404")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://$HTTP/metrics")
[ "$code" = 405 ] && pass "POST /metrics: 405" || fail "POST /metrics" "code $code"
v=$(curl -sv "http://$HTTP/health" "http://$HTTP/health" 2>&1 >/dev/null)
grep -qi "re-using existing connection" <<<"$v" && pass "HTTP keep-alive: a second request reuses the connection" \
    || fail "HTTP keep-alive" "curl did not reuse the connection"
# A malformed request gets a 400, and the server stays up.
printf 'GET /health HTTP/1.1\r\nno colon in this header\r\n\r\n' | timeout 5 $PY -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read()); print(s.recv(100).decode(errors="replace").split("\r\n")[0])' "${HTTP##*:}" >"$KAPPA_DATA.bad"
grep -q " 400" "$KAPPA_DATA.bad" && curl -sf "http://$HTTP/health" >/dev/null \
    && pass "a malformed HTTP request gets 400 and the server stays up" \
    || fail "malformed HTTP request" "$(cat "$KAPPA_DATA.bad")"

# -- logs -----------------------------------------------------------------------
log=$(cat "$KAPPA_DATA.log")
if grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z INFO  broker +listening on 127\.0\.0\.1:'"$KAPPA_PORT"'$' <<<"$log" &&
   grep -qE "INFO  broker +HTTP listener on $HTTP " <<<"$log" &&
   grep -qE "INFO  log +log $KAPPA_DATA: new, empty log" <<<"$log" &&
   grep -qE "ready: data in $KAPPA_DATA" <<<"$log"; then
    pass "startup logs time, level, subsystem: listeners, HTTP, data dir, recovery summary"
else
    fail "startup log lines" "$(head -n 12 <<<"$log")"
fi
restart_kappa KILL || fail "restart" "server did not come back"
grep -qE "INFO  log +log $KAPPA_DATA: opened [0-9]+ topic\(s\), [0-9]+ partition\(s\), [0-9]+ bytes after an unclean shutdown" "$KAPPA_DATA.log" \
    && pass "after kill -9 the startup log summarises recovery" || fail "recovery summary" "$(grep 'log ' "$KAPPA_DATA.log" | tail -n 3)"
# Counters start again from zero after a restart, but log state is back.
hw0=$(value kappa_partition_high_watermark '{topic="m",partition="0"}')
[ "$hw0" = 320 ] && pass "high watermark gauge is right after a restart (320)" || fail "hw after restart" "$hw0"
stop_kappa

# kappa.log.level=warn: no INFO lines; a bad level is refused by name.
: >"$KAPPA_DATA.log"
KAPPA_ARGS=(--set kappa.log.level=warn)
_launch && sleep 0.2
if ! grep -q " INFO " "$KAPPA_DATA.log"; then pass "kappa.log.level=warn hides INFO lines"; else fail "log level" "$(head -n 3 "$KAPPA_DATA.log")"; fi
stop_kappa
out=$("$KAPPA" server --set kappa.log.level=chatty 2>&1); rc=$?
[ $rc = 2 ] && grep -q "kappa.log.level" <<<"$out" && pass "bad kappa.log.level refused by name" || fail "bad log level" "rc=$rc $out"

# The HTTP port already taken: refuse to start, naming the address and the key.
KAPPA_ARGS=()
busy=127.0.0.1:$(free_port)
$PY -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(8)' "${busy##*:}" &
holder=$!
sleep 0.3
out=$(timeout 10 "$KAPPA" server --set "listeners=127.0.0.1:$(free_port)" --set "log.dirs=$KAPPA_DATA" \
      --set "kappa.http.listener=$busy" 2>&1); rc=$?
kill $holder 2>/dev/null; wait $holder 2>/dev/null
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "cannot listen on $busy: .*kappa.http.listener" <<<"$out" \
    && pass "HTTP address in use: the server refuses to start and says which key to change" \
    || fail "HTTP address in use" "rc=$rc $out"
# An empty kappa.http.listener turns HTTP off.
KAPPA_ARGS=(--set kappa.http.listener=)
_launch && sleep 0.2
grep -q "HTTP listener off" "$KAPPA_DATA.log" && ! curl -s "http://$HTTP/health" >/dev/null \
    && pass "kappa.http.listener= turns the HTTP listener off" || fail "HTTP off" "$(tail -n 3 "$KAPPA_DATA.log")"

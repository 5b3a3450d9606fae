#!/bin/bash
# `kappa job promote` and `kappa job retire` against a real server, under
# live load: a producer writes the input throughout; a read_committed
# consumer of the stable topic reads it from the start across the switch.
# Every input record must appear in the stable topic exactly once, with the
# old version's logic before the promote cut and the new one's after it, and
# per stable partition all of the old version's records first.  Meanwhile a
# reader loops over the view's stable name (HTTP and SQL) and must never see
# a mix of versions.  Then the refusals, and retire's deletions.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kappa-promote-XXXXXX")
BG=()
trap 'touch "$WORK/stop"; for p in "${BG[@]}"; do kill $p 2>/dev/null; done; cleanup_kappa; rm -rf "$WORK"' EXIT
start_kappa --set group.min.session.timeout.ms=1000 || { echo "FAIL: job promote: server did not start"; exit 1; }
K="timeout 60 $KAPPA"
PRELOAD=150000

list_field() {
    $K job list -b "$BROKER" --json 2>/dev/null | $PY -c '
import json, sys
for r in json.load(sys.stdin):
    if r["name"] == sys.argv[1] and r["version"] == int(sys.argv[2]):
        print(r[sys.argv[3]])' "$1" "$2" "$3"
}
wait_field() {     # NAME VERSION FIELD VALUE SECONDS
    local i
    for i in $(seq 1 $(($5 * 5))); do
        [ "$(list_field "$1" "$2" "$3")" == "$4" ] && return 0
        sleep 0.2
    done
    return 1
}

# A single-stage plugin: its output carries its input (the record's value, a
# unique sequence number) and the version's `tag` param; its view keeps the
# newest input per key n % 20 with the tag.
cat >"$WORK/tagged.c" <<'EOF'
#include <kappa.h>
#include <stdio.h>
#include <stdlib.h>

static int tag_it(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s:%.*s", (const char *)arg, (int)in->value_len,
                     (const char *)in->value);
    kappa_record_t out = {in->key, in->key_len, buf, (size_t)n, in->timestamp};
    return kappa_emit(ctx, &out);
}

static int view_row(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    char num[32], key[16], val[96];
    snprintf(num, sizeof num, "%.*s", (int)in->value_len, (const char *)in->value);
    int kn = snprintf(key, sizeof key, "k%02ld", strtol(num, NULL, 10) % 20);
    int vn = snprintf(val, sizeof val, "{\"tag\":\"%s\",\"n\":%s}", (const char *)arg, num);
    kappa_record_t out = {key, (size_t)kn, val, (size_t)vn, in->timestamp};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    const char *tag = kappa_job_param(job, "tag", "A");
    kappa_stream_t *src = kappa_source(job, "pin", NULL);
    if (kappa_sink(kappa_map(src, "tag", tag_it, (void *)tag), "pout", NULL) != 0)
        return -1;
    return kappa_view(kappa_map(src, "row", view_row, (void *)tag), "promoview", NULL);
}
EOF
cc -shared -fPIC -Iinclude -o "$WORK/tagged.so" "$WORK/tagged.c" || { fail "build the test plugin" "cc failed"; exit 1; }

$K topic create pin -p 2 -b "$BROKER" >/dev/null
seq 0 $((PRELOAD - 1)) | awk '{print $1":"$1}' | timeout 60 kcat -b "$BROKER" -P -t pin -K: -z none 2>/dev/null

# ---- usage --------------------------------------------------------------------------
out=$($K job promote p1 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "NAME and VERSION are required" <<<"$out"; then pass "promote without VERSION is exit 2"
else fail "promote without VERSION is exit 2" "rc=$rc $out"; fi
out=$(timeout 20 $KAPPA job promote p1 1 -b 127.0.0.1:1 --timeout 2000 2>&1); rc=$?
if [ $rc -eq 3 ]; then pass "promote with the broker down is exit 3"
else fail "promote with the broker down is exit 3" "rc=$rc $out"; fi

# ---- v1: the first version feeds the stable topic --------------------------------------
$K job deploy p1 --version 1 --plugin "$WORK/tagged.so" --param tag=A -b "$BROKER" >/dev/null
if wait_field p1 1 phase LIVE 90 && [ "$(list_field p1 1 promoted)" == yes ]; then
    pass "v1 is LIVE and promoted (the first version feeds the stable outputs)"
else fail "v1 is LIVE and promoted" "$(list_field p1 1 phase) $(list_field p1 1 promoted)"; fi

# The live load, the stable topic's consumer and the view reader.
$PY - "$BROKER" "$PRELOAD" "$WORK" <<'EOF' >"$WORK/producer.out" 2>&1 &
import os, sys, time
from confluent_kafka import Producer
broker, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = Producer({"bootstrap.servers": broker, "enable.idempotence": True, "linger.ms": 5})
while not os.path.exists(work + "/stop-producer"):
    for _ in range(20):
        p.produce("pin", key=str(n), value=str(n))
        n += 1
    p.poll(0)
    time.sleep(0.02)
p.flush(30)
print(n)
EOF
BG+=($!); PRODUCER=$!
$PY - "$BROKER" "$WORK" <<'EOF' >"$WORK/stable.txt" 2>"$WORK/consumer.err" &
import os, sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
broker, work = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": broker, "group.id": "promote-test-reader",
              "isolation.level": "read_committed", "enable.auto.commit": False,
              "enable.partition.eof": True})
md = c.list_topics("pout", timeout=10)
parts = sorted(md.topics["pout"].partitions)
c.assign([TopicPartition("pout", p, OFFSET_BEGINNING) for p in parts])
hw = None
deadline = None
while True:
    m = c.poll(0.2)
    if m is not None and not m.error():
        print(m.partition(), m.offset(), m.value().decode(), flush=True)
    if hw is None and os.path.exists(work + "/stop-consumer"):
        # Drain: up to the end of every partition as it is now.
        hw = {p: c.get_watermark_offsets(TopicPartition("pout", p), timeout=5)[1] for p in parts}
        deadline = time.time() + 60
    if hw is not None:
        pos = {tp.partition: max(tp.offset, 0) for tp in c.position(
            [TopicPartition("pout", p) for p in parts])}
        if all(pos[p] >= hw[p] for p in parts) or time.time() > deadline:
            break
c.close()
EOF
BG+=($!); CONSUMER=$!
$PY - "$HTTP" "$WORK" <<'EOF' >"$WORK/reader.out" 2>&1 &
import json, os, sys, urllib.request
http, work = sys.argv[1], sys.argv[2]
seen, bad, n = set(), 0, 0
def get(path, body=None):
    req = urllib.request.Request("http://" + http + path, data=body,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())
while not os.path.exists(work + "/stop-reader"):
    try:
        d = get("/v1/views/promoview?limit=100")
        tags = {r["value"]["tag"] for r in d["rows"]}
        want = {1: "A", 2: "B"}.get(d["version"])
        if tags != {want}:
            bad += 1
            print("mixed or wrong: version", d["version"], "tags", sorted(tags), flush=True)
        seen.add(d["version"])
        q = get("/v1/query", json.dumps({"sql": "SELECT value FROM promoview"}).encode())
        qtags = {json.loads(r[0])["tag"] for r in q["rows"]}
        if len(qtags) != 1:
            bad += 1
            print("SQL view mixed:", sorted(qtags), flush=True)
        n += 1
    except Exception as e:
        pass
print("reads", n, "bad", bad, "versions", sorted(seen))
EOF
BG+=($!); READER=$!

# ---- v2: refused while backfilling, or while v1 is stopped; then promoted ------------------
$K job deploy p1 --version 2 --plugin "$WORK/tagged.so" --param tag=B -b "$BROKER" >/dev/null
out=$($K job promote p1 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "not promoted: version 2 is BACKFILLING (progress .*promote needs CAUGHT_UP" <<<"$out"; then
    pass "promote refused while the version is BACKFILLING, with the reason"
else fail "promote refused while the version is BACKFILLING" "rc=$rc $out"; fi
if wait_field p1 2 phase CAUGHT_UP 120; then pass "v2 replays beside v1 and is CAUGHT_UP"
else fail "v2 replays beside v1 and is CAUGHT_UP" "$(list_field p1 2 phase)"; fi
$K job stop p1 1 -b "$BROKER" >/dev/null
out=$($K job promote p1 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "not promoted: the previous version 1 is stopped; .*would leave a gap" <<<"$out"; then
    pass "promote refused while the previous version is stopped"
else fail "promote refused while the previous version is stopped" "rc=$rc $out"; fi
$K job start p1 1 -b "$BROKER" >/dev/null
wait_field p1 1 phase LIVE 60
sleep 2
out=$($K job promote p1 2 -b "$BROKER" 2>&1); rc=$?
CUT=$(sed -n 's/^promoted p1 version 2 (previous 1); cut //p' <<<"$out")
if [ $rc -eq 0 ] && [ -n "$CUT" ]; then pass "promote v2: $out"
else fail "promote v2" "rc=$rc $out"; fi
sleep 6                                 # live load keeps flowing through v2
touch "$WORK/stop-producer"; wait $PRODUCER
TOTAL=$(cat "$WORK/producer.out")
if wait_field p1 2 lag 0 90 && wait_field p1 1 lag 0 60; then :; fi
touch "$WORK/stop-consumer"; timeout 60 tail --pid=$CONSUMER -f /dev/null
touch "$WORK/stop-reader"; wait $READER

if grep -q "job p1.v2: group p1.v1 passed the promote cut after" "$KAPPA_DATA.log"; then
    pass "v2 waited at the cut until v1's group had passed it"
else fail "v2 waited at the cut until v1's group had passed it" "$(grep -i 'promote cut' "$KAPPA_DATA.log" | head -3)"; fi
if [ "$(list_field p1 2 promoted) $(list_field p1 2 phase) $(list_field p1 1 promoted) $(list_field p1 1 phase)" == "yes LIVE no CAUGHT_UP" ]; then
    pass "list: v2 promoted and LIVE, v1 CAUGHT_UP"
else fail "list: v2 promoted and LIVE" "$($K job list -b "$BROKER" 2>&1)"; fi

# Input: value -> partition and offset; stable topic: every input exactly once,
# A before the cut, B from it on, and per partition no A after a B.
timeout 60 kcat -b "$BROKER" -C -t pin -e -q -f '%p %o %s\n' >"$WORK/input.txt" 2>/dev/null
got=$($PY - "$WORK/input.txt" "$WORK/stable.txt" "$CUT" "$TOTAL" <<'EOF'
import sys
inp, stable, cut, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = {}
for e in cut.split(","):
    tp, off = e.split("=")
    c[int(tp.split(":")[1])] = int(off)
where = {}
for line in open(inp):
    p, o, v = line.split()
    where[v] = (int(p), int(o))
count, problems, last_tag = {}, [], {}
for line in open(stable):
    p, o, val = line.split()
    tag, v = val.split(":")
    count[v] = count.get(v, 0) + 1
    ip, io = where[v]
    want = "A" if io < c[ip] else "B"
    if tag != want and len(problems) < 5:
        problems.append("input %s (p%d o%d) written by %s" % (v, ip, io, tag))
    if last_tag.get(int(p)) == "B" and tag == "A" and len(problems) < 5:
        problems.append("A after B in stable partition %s at %s" % (p, o))
    last_tag[int(p)] = tag
missing = [v for v in where if v not in count]
dups = [v for v, n in count.items() if n > 1]
after = sum(1 for v in where if where[v][1] >= c[where[v][0]])
print(len(where) == total, len(missing), len(dups), after > 0, problems)
EOF
)
if [ "$got" == "True 0 0 True []" ]; then
    pass "stable topic across the switch: every input exactly once, v1 before the cut, v2 after, in order"
else fail "stable topic across the switch: no gap, no duplicate" "$got (total $TOTAL, cut $CUT)"; fi

reader=$(tail -1 "$WORK/reader.out")
if grep -q "bad 0 versions \[1, 2\]" <<<"$reader" && [ "$(grep -c . "$WORK/reader.out")" == 1 ]; then
    pass "view stable name switches atomically (HTTP and SQL): $reader"
else fail "view stable name switches atomically" "$(head -5 "$WORK/reader.out")"; fi
got=$(curl -s "http://$HTTP/v1/views" | $PY -c 'import json,sys; print([v["alias"] for v in json.load(sys.stdin)["views"] if v["view"]=="promoview"])')
if [ "$got" == "[2]" ]; then pass "the view's alias points at v2"
else fail "the view's alias points at v2" "$got"; fi

# ---- more refusals ------------------------------------------------------------------------
out=$($K job promote p1 2 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "already the promoted version" <<<"$out"; then pass "promote of the promoted version is refused"
else fail "promote of the promoted version is refused" "rc=$rc $out"; fi
out=$($K job promote p1 9 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "job p1 has no version 9" <<<"$out"; then pass "promote of an unknown version is refused"
else fail "promote of an unknown version is refused" "rc=$rc $out"; fi

# ---- retire ---------------------------------------------------------------------------------
out=$($K job retire p1 2 --yes -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "not retired: version 2 is the promoted version" <<<"$out"; then pass "retire refuses the promoted version"
else fail "retire refuses the promoted version" "rc=$rc $out"; fi
out=$($K job retire p1 1 -b "$BROKER" 2>&1 </dev/null); rc=$?
if [ $rc -eq 2 ] && grep -q "pass --yes" <<<"$out" && [ "$(list_field p1 1 state)" == running ]; then
    pass "retire without a terminal needs --yes (exit 2, nothing changed)"
else fail "retire without a terminal needs --yes" "rc=$rc $out"; fi
out=$($K job retire p1 1 --yes -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "retired p1 version 1: deleted" <<<"$out"; then pass "retire v1: $out"
else fail "retire v1" "rc=$rc $out"; fi
topics=$($K topic list -a -b "$BROKER" 2>/dev/null | awk '{print $1}' | grep -E '^(pout|__kappa_view\.promoview|p1\.v)' | sort | tr '\n' ' ')
if ! grep -qE '\.v1( |\.)' <<<"$topics" && grep -q "pout.v2 " <<<"$topics" &&
   grep -q "__kappa_view.promoview.v2 " <<<"$topics"; then pass "retire deleted v1's topics (left: $topics)"
else fail "retire deleted v1's topics" "$topics"; fi
groups=$($K group list -b "$BROKER" 2>/dev/null | awk '{print $1}' | grep -E '^p1\.v1' | tr '\n' ' ')
if [ -z "$groups" ]; then pass "retire deleted v1's groups"
else fail "retire deleted v1's groups" "$groups"; fi
ok=
for i in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/v1/views/promoview@v1?limit=1")
    [ "$code" == 404 ] && [ ! -e "$KAPPA_DATA.jobs/p1.v1" ] && { ok=1; break; }
    sleep 0.2
done
if [ -n "$ok" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/v1/views/promoview?limit=1")" == 200 ]; then
    pass "the server dropped v1's view table and state dir; the stable name still serves v2"
else fail "the server dropped v1's view table and state dir" "code $code; $(ls "$KAPPA_DATA.jobs")"; fi
if [ "$(list_field p1 1 state) $(list_field p1 1 phase)" == "retired RETIRED" ]; then pass "list shows v1 retired"
else fail "list shows v1 retired" "$(list_field p1 1 state)"; fi
out=$($K job promote p1 1 -b "$BROKER" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "has no version 1 (it is retired)" <<<"$out"; then pass "a retired version cannot be promoted"
else fail "a retired version cannot be promoted" "rc=$rc $out"; fi

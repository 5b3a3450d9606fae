#!/bin/bash
# Views applied to SQLite exactly once, end to end: the revenue example job
# (examples/views/revenue.c) over seeded orders maintains the view
# `revenue`; its SQLite table (read with the sqlite3 shell) must equal the
# rows computed independently in Python from the same orders, its stored
# next offsets must equal the backing topic's end, and the changes it
# counts as applied must equal the records in the backing topic
# (read_committed) -- a change applied twice or lost shows up there.
# Then the runner is SIGKILLed at random points while orders are still
# being produced, and the standalone `kappa view sink` is SIGKILLed too:
# the same equalities must hold.  Plus the CLI's failure cases.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap 'kill -9 $(jobs -p) 2>/dev/null; cleanup_kappa; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
W=$(mktemp -d "${TMPDIR:-/tmp}/kappa-views-XXXXXX")
JT="$PY tests/integration/jobtool.py"
OG="$PY tests/integration/orders.py"
PLUGIN=$PWD/build/examples/views/revenue.so
N1=${VIEW_ORDERS:-20000}
N2=${VIEW_MORE_ORDERS:-20000}
KILLS=${VIEW_KILLS:-10}
SEED=${VIEW_SEED:-$RANDOM}
TOPIC=__kappa_view.revenue.v1
echo "seed $SEED, $N1 + $N2 orders, $KILLS kills"
RANDOM=$SEED

start_kappa --set group.min.session.timeout.ms=1000 || { fail "server starts" "see log"; exit 1; }
"$KAPPA" topic create orders --partitions 4 -b "$BROKER" >/dev/null || fail "create orders" ""
$OG produce "$BROKER" orders "$SEED" 0 "$N1" || { fail "produce orders" ""; exit 1; }

run_job() {  # LOG: a runner in the background; sets JOB_PID
    "$KAPPA" job run revenue --version 1 --plugin "$PLUGIN" -b "$BROKER" \
        --state-dir "$W/state" --views "$W/views.db" --session-timeout-ms 2000 \
        --snapshot-interval-ms 500 >>"$1" 2>&1 &
    JOB_PID=$!
}

# The view store's stored next offsets, "P OFFSET" per line, and the topic's
# end offsets in the same form.
stored_offsets() {  # DB
    sqlite3 -readonly "$1" "SELECT partition || ' ' || next_offset FROM kappa_offsets
        WHERE view='revenue' AND version=1 AND topic='$TOPIC' ORDER BY partition" 2>/dev/null
}
topic_end() {
    $PY - "$BROKER" "$TOPIC" <<'PYEOF'
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "view-test-end"})
md = c.list_topics(sys.argv[2], timeout=10).topics[sys.argv[2]]
for p in sorted(md.partitions):
    print(p, c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=10)[1])
c.close()
PYEOF
}
# Wait (up to $2 s) until the store's offsets reach the topic's end.
store_caught_up() {  # DB TIMEOUT
    local end
    end=$(topic_end)
    for _ in $(seq 1 $(($2 * 5))); do
        [ "$(stored_offsets "$1")" = "$end" ] && return 0
        sleep 0.2
    done
    return 1
}

# check NAME DB ORDERS: the three equalities
check() {
    local name=$1 db=$2 n=$3 ok=1 why=""
    $OG expect "$SEED" "$n" >"$W/expected.txt"
    sqlite3 -readonly "$db" "SELECT key || char(9) || value FROM revenue ORDER BY key" \
        >"$W/got.txt" 2>"$W/sqlite.err"
    if ! cmp -s "$W/expected.txt" "$W/got.txt"; then
        ok=0
        why="view differs from the expected rows ($(wc -l <"$W/expected.txt") expected, $(wc -l <"$W/got.txt") got: $(diff "$W/expected.txt" "$W/got.txt" | head -n 3 | tr '\n' ' '))"
    fi
    local end stored
    end=$(topic_end); stored=$(stored_offsets "$db")
    if [ "$end" != "$stored" ]; then
        ok=0
        why="$why; next_offset [$(echo $stored)] != topic end [$(echo $end)]"
    fi
    local records applied
    records=$($JT count "$BROKER" "$TOPIC")
    applied=$(sqlite3 -readonly "$db" "SELECT sum(applied) FROM kappa_offsets WHERE view='revenue'")
    if [ "$records" != "$applied" ]; then
        ok=0
        why="$why; sum(applied) $applied != $records records in $TOPIC"
    fi
    if [ $ok = 1 ]; then
        pass "$name ($(wc -l <"$W/got.txt") rows, $applied changes applied once each)"
    else
        fail "$name" "$why (seed $SEED)"
    fi
}

# -- a clean run ----------------------------------------------------------------------
run_job "$W/job.log"
if $JT caught-up "$BROKER" revenue.v1 120 orders && store_caught_up "$W/views.db" 60; then
    pass "the job and its view sink catch up with $N1 orders"
else
    fail "catch up" "$(tail -n 5 "$W/job.log")"
fi
check "the SQLite view equals the rows computed from the orders" "$W/views.db" "$N1"
[ "$(sqlite3 -readonly "$W/views.db" "SELECT version || ' ' || job || ' ' || topic FROM kappa_aliases JOIN kappa_views USING (view, version)")" = "1 revenue $TOPIC" ] \
    && pass "the first version is the alias target, registered with its job and topic" \
    || fail "alias" "$(sqlite3 -readonly "$W/views.db" 'SELECT * FROM kappa_aliases')"
[ "$(sqlite3 -readonly "$W/views.db" "PRAGMA journal_mode")" = "wal" ] \
    && pass "the view store is in WAL mode" || fail "WAL" "not in WAL mode"
$PY - "$BROKER" "$TOPIC" >"$W/cfg.txt" 2>&1 <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient, ConfigResource
a = AdminClient({"bootstrap.servers": sys.argv[1]})
r = ConfigResource(ConfigResource.Type.TOPIC, sys.argv[2])
for res, f in a.describe_configs([r]).items():
    print(f.result(10)["cleanup.policy"].value)
PYEOF
grep -qx compact "$W/cfg.txt" && pass "the backing topic is compacted" \
    || fail "backing topic compacted" "$(cat "$W/cfg.txt")"
kill -TERM $JOB_PID; wait $JOB_PID

# -- SIGKILL the runner while orders keep coming ----------------------------------------
$OG produce "$BROKER" orders "$SEED" "$N1" $((N1 + N2)) 600 &
GEN=$!
assigned() { local n; n=$(grep -c "view sink: assigned [1-9]" "$W/job.log" 2>/dev/null); echo "${n:-0}"; }
for i in $(seq 1 "$KILLS"); do
    before=$(assigned)
    run_job "$W/job.log"
    for _ in $(seq 1 200); do [ "$(assigned)" -gt "$before" ] && break; sleep 0.05; done
    sleep "$((RANDOM % 2)).$(printf "%03d" $((RANDOM % 1000)))"
    kill -9 $JOB_PID; wait $JOB_PID 2>/dev/null
done
kill -0 $GEN 2>/dev/null && gen_running=1 || gen_running=0
wait $GEN || fail "produce more orders" ""
[ $gen_running = 1 ] && pass "the $KILLS kills landed while orders were being produced" \
    || echo "note: the producer finished before the last kill"
run_job "$W/job.log"
if $JT caught-up "$BROKER" revenue.v1 180 orders && store_caught_up "$W/views.db" 60; then
    pass "after $KILLS SIGKILLs the runner catches up"
else
    fail "catch up after kills" "$(tail -n 5 "$W/job.log")"
fi
check "after $KILLS SIGKILLs of the runner the view is exact" "$W/views.db" $((N1 + N2))
kill -TERM $JOB_PID; wait $JOB_PID

# -- the standalone sink, SIGKILLed too -------------------------------------------------
run_sink() {  # LOG
    "$KAPPA" view sink revenue --version 1 --to "sqlite:$W/other.db" -b "$BROKER" \
        --job revenue --batch-max 100 --consumer-property session.timeout.ms=2000 \
        >>"$1" 2>&1 &
    SINK_PID=$!
}
sink_assigned() { local n; n=$(grep -c "view sink: assigned [1-9]" "$W/sink.log" 2>/dev/null); echo "${n:-0}"; }
for i in $(seq 1 "$KILLS"); do
    before=$(sink_assigned)
    run_sink "$W/sink.log"
    for _ in $(seq 1 200); do [ "$(sink_assigned)" -gt "$before" ] && break; sleep 0.05; done
    sleep "0.$(printf "%03d" $((RANDOM % 300)))"
    kill -9 $SINK_PID; wait $SINK_PID 2>/dev/null
    a=$(sqlite3 -readonly "$W/other.db" "SELECT sum(applied) FROM kappa_offsets" 2>/dev/null)
    [ "${a:-0}" -lt $((N1 + N2)) ] && midstream=$((${midstream:-0} + 1))
done
echo "note: ${midstream:-0} of $KILLS sink kills landed before the view was complete"
run_sink "$W/sink.log"
store_caught_up "$W/other.db" 60 || fail "standalone sink catches up" "$(tail -n 5 "$W/sink.log")"
check "kappa view sink --to sqlite:OTHER.db killed $KILLS times gives the same view" \
    "$W/other.db" $((N1 + N2))
kill -TERM $SINK_PID; wait $SINK_PID
rc=$?
[ $rc = 0 ] && pass "kappa view sink exits 0 on SIGTERM" || fail "sink exit" "status $rc"
sqlite3 -readonly "$W/views.db" "SELECT key, value FROM revenue ORDER BY key" >"$W/a.txt"
sqlite3 -readonly "$W/other.db" "SELECT key, value FROM revenue ORDER BY key" >"$W/b.txt"
cmp -s "$W/a.txt" "$W/b.txt" && pass "the runner's store and the standalone sink's agree" \
    || fail "two stores agree" "$(diff "$W/a.txt" "$W/b.txt" | head -n 3)"

# -- version 2 computes differently, side by side; the alias stays on v1 -----------------
"$KAPPA" job run revenue --version 2 --plugin "$PLUGIN" -b "$BROKER" --state-dir "$W/state" \
    --views "sqlite:$W/views.db" --param exclude_refunds=true --session-timeout-ms 2000 \
    >>"$W/job2.log" 2>&1 &
JOB_PID=$!
$JT caught-up "$BROKER" revenue.v2 180 orders || fail "v2 catches up" "$(tail -n 5 "$W/job2.log")"
v2_done() {
    [ "$(sqlite3 -readonly "$W/views.db" "SELECT sum(applied) FROM kappa_offsets WHERE version=2")" \
        = "$($JT count "$BROKER" __kappa_view.revenue.v2)" ]
}
for _ in $(seq 1 150); do v2_done && break; sleep 0.2; done
$OG expect "$SEED" $((N1 + N2)) exclude_refunds >"$W/expected2.txt"
sqlite3 -readonly "$W/views.db" "SELECT key || char(9) || value FROM \"revenue@v2\"
    WHERE value IS NOT NULL ORDER BY key" >"$W/got2.txt"
cmp -s "$W/expected2.txt" "$W/got2.txt" && ! cmp -s "$W/expected2.txt" "$W/expected.txt" \
    && pass "revenue@v2 (exclude_refunds=true) equals its own expected rows, unlike v1's" \
    || fail "v2 view" "$(diff "$W/expected2.txt" "$W/got2.txt" | head -n 3)"
[ "$(sqlite3 -readonly "$W/views.db" "SELECT version FROM kappa_aliases WHERE view='revenue'")" = 1 ] \
    && cmp -s "$W/expected.txt" <(sqlite3 -readonly "$W/views.db" "SELECT key || char(9) || value FROM revenue ORDER BY key") \
    && pass "the stable name still reads v1 while v2 runs beside it" \
    || fail "alias unchanged" "$(sqlite3 -readonly "$W/views.db" 'SELECT * FROM kappa_aliases')"
kill -TERM $JOB_PID; wait $JOB_PID

# -- failure cases ------------------------------------------------------------------------
"$KAPPA" view sink revenue --to x.db -b "$BROKER" >/dev/null 2>"$W/e1"; rc=$?
[ $rc = 2 ] && grep -q -- "--version" "$W/e1" && pass "view sink without --version: exit 2" \
    || fail "missing --version" "status $rc: $(cat "$W/e1")"
"$KAPPA" view sink 're-venue' --version 1 --to x.db >/dev/null 2>"$W/e2"; rc=$?
[ $rc = 2 ] && grep -q "view name" "$W/e2" && pass "a bad view name: exit 2" \
    || fail "bad view name" "status $rc: $(cat "$W/e2")"
"$KAPPA" view sink revenue --version 1 -b "$BROKER" >/dev/null 2>"$W/e3"; rc=$?
[ $rc = 2 ] && grep -q -- "--to" "$W/e3" && pass "view sink without --to: exit 2" \
    || fail "missing --to" "status $rc: $(cat "$W/e3")"
"$KAPPA" view sink revenue --version 1 --to "mysql://h/db" -b "$BROKER" >/dev/null 2>"$W/e4"; rc=$?
[ $rc = 1 ] && grep -q "unknown scheme 'mysql'" "$W/e4" && pass "an unknown target scheme: exit 1 with a clear error" \
    || fail "unknown scheme" "status $rc: $(cat "$W/e4")"
"$KAPPA" view sink revenue --version 1 --to "$W/x.db" -b 127.0.0.1:1 --timeout 2000 \
    >/dev/null 2>"$W/e5"; rc=$?
[ $rc = 3 ] && grep -q "cannot reach a broker" "$W/e5" && pass "an unreachable broker: exit 3" \
    || fail "unreachable broker" "status $rc: $(cat "$W/e5")"
# a view whose job has not run yet: the sink waits for its topic, saying so
timeout --preserve-status -s TERM 3 "$KAPPA" view sink later --version 1 --to "$W/later.db" -b "$BROKER" \
    >/dev/null 2>"$W/e6"; rc=$?
[ $rc = 0 ] && grep -q "waiting for topic __kappa_view.later.v1" "$W/e6" \
    && pass "a sink for a view not yet created waits for its topic and stops on SIGTERM" \
    || fail "waiting sink" "status $rc: $(cat "$W/e6")"
"$KAPPA" job run revenue --version 9 --plugin "$PLUGIN" -b "$BROKER" --views "" \
    >/dev/null 2>"$W/e7"; rc=$?
[ $rc = 2 ] && pass "kappa job run --views '': exit 2" || fail "empty --views" "status $rc"
"$KAPPA" job run revenue --version 9 --plugin "$PLUGIN" -b "$BROKER" --state-dir "$W/s9" \
    --param exclude_refunds=maybe >/dev/null 2>"$W/e8"; rc=$?
[ $rc = 2 ] && pass "a bad exclude_refunds parameter refuses to start: exit 2" \
    || fail "bad param" "status $rc: $(tail -n 2 "$W/e8")"

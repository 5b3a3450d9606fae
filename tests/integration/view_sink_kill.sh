# Shared body of test_view_pg.sh and test_view_ch.sh (sourced, not run):
# `kappa view sink` into a real PostgreSQL or ClickHouse, SIGKILLed at
# random points KILLS times mid-stream and restarted each time; at the end
# the external table equals the view computed from the topic (Python,
# read_committed), sum(applied) equals the number of records (no change
# counted twice) and next_offset equals each partition's end.
#
# The caller sets: KIND (pg|ch), then sources this file.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
N=${VIEW_SINK_N:-100000}
KEYS=${VIEW_SINK_KEYS:-2000}
PARTS=3
KILLS=${VIEW_SINK_KILLS:-12}
SEED=${VIEW_SINK_SEED:-$RANDOM}
TOPIC=__kappa_view.rev.v1
SRVDIR=$(mktemp -u /tmp/kappa-$KIND-XXXXXX)
SRVPORT=$(free_port)
SINK_PID=
cleanup() {
    [ -n "$SINK_PID" ] && kill -9 "$SINK_PID" 2>/dev/null
    if [ "$KIND" = pg ]; then scripts/pg.sh stop "$SRVDIR" >/dev/null 2>&1; else scripts/clickhouse.sh stop "$SRVDIR" >/dev/null 2>&1; fi
    rm -rf "$SRVDIR"
    cleanup_kappa
}
trap cleanup EXIT
echo "    seed $SEED"

if [ "$KIND" = pg ]; then
    scripts/pg.sh start "$SRVDIR" "$SRVPORT" || { fail "$KIND: server start" "pg.sh failed"; exit 1; }
    TARGET=postgresql://postgres@127.0.0.1:$SRVPORT/postgres
    sq() { psql -X -At -F$'\t' "$TARGET" -c "$1" 2>&1; }
    ROWS='SELECT key, value FROM rev ORDER BY key'
    TABLE_ROWS='SELECT key, value FROM "rev@v1" WHERE value IS NOT NULL ORDER BY key'
    APPLIED="SELECT sum(applied) FROM kappa_offsets WHERE view = 'rev' AND version = 1"
    NEXT="SELECT string_agg(next_offset::text, ',' ORDER BY partition) FROM kappa_offsets WHERE view = 'rev' AND version = 1"
else
    scripts/clickhouse.sh start "$SRVDIR" "$SRVPORT" || { fail "$KIND: server start" "clickhouse.sh failed"; exit 1; }
    TARGET=clickhouse://127.0.0.1:$SRVPORT/kt
    sq() { curl -s --max-time 30 --data-binary "$1" "http://127.0.0.1:$SRVPORT/?database=kt"; }
    ROWS='SELECT key, value FROM rev ORDER BY key FORMAT TabSeparatedRaw'
    TABLE_ROWS='SELECT key, value FROM `rev@v1` FINAL WHERE value IS NOT NULL ORDER BY key FORMAT TabSeparatedRaw'
    APPLIED="SELECT sum(applied) FROM kappa_offsets FINAL WHERE view = 'rev' AND version = 1"
    NEXT="SELECT arrayStringConcat(groupArray(toString(next_offset)), ',') FROM (SELECT partition, next_offset FROM kappa_offsets FINAL WHERE view = 'rev' AND version = 1 ORDER BY partition)"
fi
pass "$KIND: server started"

start_kappa || { fail "$KIND: kappa" "server did not start"; exit 1; }
SINKLOG=$KAPPA_DATA.sink.log
sink_start() {
    # A static member (group.instance.id): a restarted sink takes its
    # predecessor's place at once instead of waiting out its session.
    "$KAPPA" view sink rev --version 1 --to "$TARGET" -b "$BROKER" \
        --consumer-property group.instance.id=sink-1 \
        --consumer-property session.timeout.ms=6000 \
        --batch-max "${VIEW_SINK_BATCH:-500}" >>"$SINKLOG" 2>&1 &
    SINK_PID=$!
}

# The topic is written while the sink runs and is killed: the loader and the
# kills overlap.
{ sleep 0.5; exec $PY tests/integration/view_sink_py.py load "$BROKER" "$TOPIC" "$N" "$KEYS" "$PARTS" "$SEED" 0.1 \
    >"$KAPPA_DATA.load.log" 2>&1; } &
LOAD_PID=$!
sink_start
# The kills start once the sink has applied something.
for _ in $(seq 1 200); do
    a=$(sq "$APPLIED")
    [ -n "$a" ] && [ "$a" -gt 0 ] 2>/dev/null && break
    sleep 0.05
done
kills=0
progress=()
RANDOM=$SEED
while [ $kills -lt "$KILLS" ]; do
    sleep "0.$((RANDOM % 5 + 1))"
    kill -9 "$SINK_PID" 2>/dev/null
    progress+=("$(sq "$APPLIED")")
    wait "$SINK_PID" 2>/dev/null
    kills=$((kills + 1))
    sink_start
done
if wait "$LOAD_PID"; then pass "$KIND: loaded $N records"; else fail "$KIND: load" "$(tail -5 "$KAPPA_DATA.load.log")"; exit 1; fi
# The last kill lands after the load, mid catch-up at the latest.
sleep 0.3
kill -9 "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null
kills=$((kills + 1))
sink_start
echo "    $kills kills; changes applied at each: ${progress[*]}"
# Mid-stream: at least 10 kills found some but not all changes applied.
mid=0
for a in "${progress[@]}"; do
    [ -n "$a" ] && [ "$a" -gt 0 ] 2>/dev/null && [ "$a" -lt "$N" ] && mid=$((mid + 1))
done
if [ $kills -ge 10 ] && [ $mid -ge 10 ]; then pass "$KIND: sink SIGKILLed $kills times, $mid of them mid-stream"; else fail "$KIND: kills mid-stream" "$kills kills, $mid mid-stream (${progress[*]})"; fi

$PY tests/integration/view_sink_py.py expect "$BROKER" "$TOPIC" >"$KAPPA_DATA.expect" 2>&1 ||
    { fail "$KIND: expected view" "$(tail -5 "$KAPPA_DATA.expect")"; exit 1; }
want_records=$(sed -n 's/^# records \([0-9]*\) ends .*/\1/p' "$KAPPA_DATA.expect")
want_ends=$(sed -n 's/^# records [0-9]* ends \(.*\)/\1/p' "$KAPPA_DATA.expect")
grep -v '^# ' "$KAPPA_DATA.expect" >"$KAPPA_DATA.want"

# Wait (bounded) until the sink has caught up: next offsets == topic ends.
got_next=
for _ in $(seq 1 300); do
    got_next=$(sq "$NEXT")
    [ "$got_next" == "$want_ends" ] && break
    if ! kill -0 "$SINK_PID" 2>/dev/null; then break; fi
    sleep 0.1
done
kill -TERM "$SINK_PID" 2>/dev/null
wait "$SINK_PID" 2>/dev/null
SINK_PID=
if [ "$got_next" == "$want_ends" ]; then pass "$KIND: next_offset equals the topic end"; else fail "$KIND: next_offset equals the topic end" "want $want_ends got $got_next; sink log: $(tail -5 "$SINKLOG")"; fi

if [ "$KIND" = ch ]; then
    # Informational: rows inserted again after a kill between a batch's rows
    # and its offsets (not yet merged away).
    echo "    replayed rows not yet merged: $(sq 'SELECT count() - uniqExact(key, src_offset) FROM `rev@v1`')"
fi
sq "$ROWS" >"$KAPPA_DATA.got"
if cmp -s "$KAPPA_DATA.want" "$KAPPA_DATA.got"; then
    pass "$KIND: stable-name view equals the view computed from the topic ($(wc -l <"$KAPPA_DATA.want") keys)"
else
    fail "$KIND: stable-name view equals the expected view" "$(diff "$KAPPA_DATA.want" "$KAPPA_DATA.got" | head -5)"
fi
sq "$TABLE_ROWS" >"$KAPPA_DATA.got2"
cmp -s "$KAPPA_DATA.want" "$KAPPA_DATA.got2" && pass "$KIND: rev@v1 live rows equal the expected view" ||
    fail "$KIND: rev@v1 live rows" "$(diff "$KAPPA_DATA.want" "$KAPPA_DATA.got2" | head -5)"
got_applied=$(sq "$APPLIED")
if [ "$got_applied" == "$want_records" ]; then pass "$KIND: sum(applied) equals the $want_records records (none counted twice)"; else fail "$KIND: sum(applied)" "want $want_records got $got_applied"; fi

#!/bin/bash
# The PostgreSQL and ClickHouse view backends (view/sink_pg.c, sink_ch.c)
# driven directly (tests/integration/view_backends.c) against real servers
# started by scripts/pg.sh and scripts/clickhouse.sh: ensure, batches,
# a replayed batch below the stored offsets, tombstones, offsets read back,
# the stable-name view, advance past non-changes, a crash between
# ClickHouse's rows and offsets, and a server that goes away.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
BUILD=${BUILD:-build}
DRV=$BUILD/tests/integration/view_backends
[ -x "$DRV" ] || make --no-print-directory -s "$DRV" >/dev/null || { echo "FAIL: view_backends: cannot build $DRV"; exit 1; }
PGDIR=$(mktemp -u /tmp/kappa-pg-XXXXXX)
CHDIR=$(mktemp -u /tmp/kappa-ch-XXXXXX)
PGPORT=$(free_port)
CHPORT=$(free_port)
cleanup() {
    scripts/pg.sh stop "$PGDIR" >/dev/null 2>&1
    scripts/clickhouse.sh stop "$CHDIR" >/dev/null 2>&1
    rm -rf "$PGDIR" "$CHDIR"
}
trap cleanup EXIT
PG=postgresql://postgres@127.0.0.1:$PGPORT/postgres
CH=clickhouse://127.0.0.1:$CHPORT/kt
psqlq() { psql -X -At -F'|' "$PG" -c "$1" 2>&1; }
chq() { curl -s --max-time 10 --data-binary "$1" "http://127.0.0.1:$CHPORT/?database=kt"; }
check() {   # name, want, got
    if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "$(printf 'want:\n%s\ngot:\n%s' "$2" "$3")"; fi
}

if out=$(scripts/pg.sh start "$PGDIR" "$PGPORT" 2>&1); then pass "pg.sh start"; else fail "pg.sh start" "$out"; exit 1; fi
if out=$(scripts/clickhouse.sh start "$CHDIR" "$CHPORT" 2>&1); then pass "clickhouse.sh start"; else fail "clickhouse.sh start" "$out"; exit 1; fi
out=$(scripts/pg.sh start "$PGDIR" "$PGPORT" 2>&1)
[ $? -ne 0 ] && pass "pg.sh start twice fails" || fail "pg.sh start twice fails" "$out"
out=$(scripts/clickhouse.sh start "$CHDIR" "$CHPORT" 2>&1)
if [ $? -ne 0 ] && grep -q "already running" <<<"$out"; then pass "clickhouse.sh start twice fails"; else fail "clickhouse.sh start twice fails" "$out"; fi
out=$(scripts/pg.sh bogus 2>&1); [ $? -eq 2 ] && pass "pg.sh usage exits 2" || fail "pg.sh usage exits 2" "$out"

STEPS="ensure offsets batch1 offsets replay offsets batch2 offsets empty rollback offsets advance offsets"
WANT_STEPS="ensure ok
offsets -1 -1
batch1 ok
offsets 3 1
replay ok
offsets 3 1
batch2 ok
offsets 5 3
empty ok
rollback ok
offsets 5 3
advance ok
offsets 9 3"

# ---- PostgreSQL ----------------------------------------------------------
# shellcheck disable=SC2086
got=$("$DRV" "$PG" $STEPS 2>&1)
check "pg backend steps" "$WANT_STEPS" "$got"
# Rows: b is a tombstone, a holds its newest value (not batch2's stale one
# nor replay's OLD), the non-UTF-8 key is stored as \x hex.
got=$(psqlq 'SELECT key, coalesce(value, '"'"'<null>'"'"'), ts, src_partition, src_offset FROM "rev@v1" ORDER BY key')
want='\xff006b|bin|1002|1|2
a|q"uote\back
line|1004|0|4
b|<null>|1003|0|3
c|c2|1001|1|1'
check "pg rows, tombstone, newest value per key" "$want" "$got"
got=$(psqlq 'SELECT key FROM rev ORDER BY key' | tr '\n' ' ')
check "pg stable-name view skips deleted rows" '\xff006b a c ' "$got"
got=$(psqlq 'SELECT partition, next_offset, applied, high_watermark, last_ts FROM kappa_offsets ORDER BY partition')
check "pg offsets: applied counts each change once" "0|9|5|9|1004
1|3|3|3|1002" "$got"
got=$(psqlq 'SELECT view, version, job, topic FROM kappa_views; SELECT view, version FROM kappa_aliases')
check "pg kappa_views and kappa_aliases" "rev|1|revjob|__kappa_view.rev.v1
rev|1" "$got"
# A second process re-opening (the runtime's reconnect) sees the same.
got=$("$DRV" "$PG" ensure offsets 2>&1 | tail -n 1)
check "pg reopen reads stored offsets" "offsets 9 3" "$got"

# Server gone: open fails with the reason, within a bounded time.
scripts/pg.sh stop "$PGDIR"
t0=$(date +%s)
got=$(timeout 30 "$DRV" "$PG" offsets 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "cannot connect" <<<"$got" && [ $(( $(date +%s) - t0 )) -lt 15 ]; then
    pass "pg server down: open fails with a clear error"
else
    fail "pg server down: open fails with a clear error" "rc=$rc $got"
fi
scripts/pg.sh start "$PGDIR" "$PGPORT"
got=$("$DRV" "$PG" offsets 2>&1)
check "pg restarted server: data kept, reconnect works" "offsets 9 3" "$got"

# A text key spelled "\xff006b" must not collide with the binary key stored
# as \xff006b: text starting with \x is hex-encoded too.
got=$("$DRV" "$PG" xkey 2>&1)
check "pg text key starting with \\x applied" "xkey ok" "$got"
got=$(psqlq 'SELECT key, value FROM "rev@v1" WHERE value IN ('"'"'bin'"'"', '"'"'text'"'"') ORDER BY key')
check "pg a text key starting with \\x is hex-encoded, distinct from the binary key" '\x5c78666630303662|text
\xff006b|bin' "$got"

# ---- ClickHouse ----------------------------------------------------------
got=$(curl -s --max-time 10 --data-binary 'SELECT version()' "http://127.0.0.1:$CHPORT/")
check "clickhouse is 18.16" "18.16.1" "$got"
# Up to batch1, then a crash between batch2's rows and its offsets: the
# rows are in the table, the offsets are not.
got=$("$DRV" "$CH" ensure offsets batch1 offsets replay offsets 2>&1)
check "ch backend steps up to replay" "$(head -n 6 <<<"$WANT_STEPS")" "$got"
# (the key's 0xFF byte raw, as the sink sends it).
chq "$(printf '%s\n' 'INSERT INTO `rev@v1` FORMAT JSONEachRow' \
    '{"key":"b","value":null,"ts":1003,"src_partition":0,"src_offset":3}' \
    '{"key":"c","value":"c2","ts":1001,"src_partition":1,"src_offset":1}' \
    '{"key":"a","value":"q\"uote\\back\nline","ts":1004,"src_partition":0,"src_offset":4}' \
    "$(printf '{"key":"\xff\\u0000k","value":"bin","ts":1002,"src_partition":1,"src_offset":2}')")"
got=$("$DRV" "$CH" offsets batch2 offsets empty rollback offsets advance offsets 2>&1)
check "ch backend steps after a crash between rows and offsets" "$(tail -n +6 <<<"$WANT_STEPS")" "$got"
got=$(chq 'SELECT hex(key), ifNull(value, '"'"'<null>'"'"'), ts, src_partition, src_offset FROM `rev@v1` FINAL ORDER BY key FORMAT TSV')
want='61	q"uote\\back\nline	1004	0	4
62	<null>	1003	0	3
63	c2	1001	1	1
FF006B	bin	1002	1	2'
check "ch rows FINAL: replay replaced itself, tombstone, newest value" "$want" "$got"
got=$(chq 'SELECT hex(key) FROM rev ORDER BY key FORMAT TSV' | tr '\n' ' ')
check "ch stable-name view: FINAL, deleted rows skipped" "61 63 FF006B " "$got"
got=$(chq 'SELECT partition, next_offset, applied, last_ts FROM kappa_offsets FINAL ORDER BY partition FORMAT TSV')
check "ch offsets FINAL: applied counts each change once" "0	9	5	1004
1	3	3	1002" "$got"
got=$(chq 'SELECT view, version, job, topic FROM kappa_views FINAL FORMAT TSV; ' ; chq 'SELECT view, version FROM kappa_aliases FINAL FORMAT TSV')
check "ch kappa_views and kappa_aliases" "rev	1	revjob	__kappa_view.rev.v1
rev	1" "$got"
got=$(chq 'OPTIMIZE TABLE `rev@v1` FINAL'; chq 'SELECT count() FROM `rev@v1`')
check "ch merged table holds one row per key" "4" "$got"

got=$("$DRV" "clickhouse://127.0.0.1:$CHPORT" ensure offsets 2>&1)
check "ch default database" "ensure ok
offsets -1 -1" "$got"
got=$("$DRV" "clickhouse://127.0.0.1" offsets 2>&1)
rc=$?
[ $rc -eq 1 ] && pass "ch target without a port fails" || fail "ch target without a port fails" "rc=$rc $got"
got=$("$DRV" "clickhouse://127.0.0.1:$CHPORT/bad-db" offsets 2>&1)
if [ $? -eq 1 ] && grep -q "bad target" <<<"$got"; then pass "ch bad database name refused"; else fail "ch bad database name refused" "$got"; fi
scripts/clickhouse.sh stop "$CHDIR"
t0=$(date +%s)
got=$(timeout 30 "$DRV" "$CH" offsets 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "cannot reach" <<<"$got" && [ $(( $(date +%s) - t0 )) -lt 15 ]; then
    pass "ch server down: open fails with a clear error"
else
    fail "ch server down: open fails with a clear error" "rc=$rc $got"
fi

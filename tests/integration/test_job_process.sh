#!/bin/bash
# kappa_process (examples/basics/bid_silence): keyed state and event-time
# timers, exact output, and timers that survive a SIGKILL of the runner; and
# kappa_join_table against a table topic.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap 'kill -9 $(jobs -p) 2>/dev/null; cleanup_kappa; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
W=$(mktemp -d "${TMPDIR:-/tmp}/kappa-proc-XXXXXX")
PLUGIN=$PWD/build/examples/basics/bid_silence.so
start_kappa --set group.min.session.timeout.ms=1000 || { fail "server starts" "see log"; exit 1; }
"$KAPPA" topic create bids -p 1 -b "$BROKER" >/dev/null || fail "create topic" "bids"
bid() { printf '%s|{"event_type":"bid","auction":%s,"date_time":%s}\n' "$1" "$1" "$2"; }
run() {
    "$KAPPA" job run silence --version "$1" --plugin "$PLUGIN" -b "$BROKER" --state-dir "$W/st" \
        --param out="silent-v$1" --session-timeout-ms 2000 >>"$W/v$1.log" 2>&1 &
    JOB=$!
}
# Auction 1 bids at 1000 and 2000, then stays silent; auction 2 bids at 1500
# and again at 9000 (the watermark reaches 9000 only after that bid is
# processed, so its first timer finds the silence broken); auction 3 at 4000
# and 14000; auction 4 at 12000 and 20000 (its first timer, 17000, fires only
# once the watermark reaches 20000 -- after the bid at 20000).  The last
# bid, at 20000, leaves auction 4's second timer (25000) pending.
{ bid 1 1000; bid 2 1500; bid 1 2000; bid 3 4000; bid 2 9000; bid 4 12000; bid 3 14000;
  bid 4 20000; } | "$KAPPA" topic produce bids --key-delimiter '|' -b "$BROKER" 2>/dev/null
run 1
$PY tests/integration/jobtool.py caught-up "$BROKER" silence.v1 60 bids || fail "caught up" "$(tail -n 3 "$W/v1.log")"
kill -TERM $JOB; wait $JOB
$PY tests/integration/jobtool.py dump "$BROKER" silent-v1 >"$W/out1"
cat >"$W/want" <<'OUT'
{"auction":"1","last_bid":2000,"silent_at":7000}
{"auction":"2","last_bid":9000,"silent_at":14000}
{"auction":"3","last_bid":14000,"silent_at":19000}
{"auction":"3","last_bid":4000,"silent_at":9000}
OUT
if cmp -s "$W/want" "$W/out1"; then pass "timers fire per key at watermark = last bid + gap, exactly"; else fail "process output" "$(diff "$W/want" "$W/out1")"; fi

# Timers survive a crash: state and timers are in the changelog.  Auction
# 5's timer is set, the runner is killed, a later bid moves the watermark:
# the restarted runner must fire the timer it never set itself.
{ bid 5 21000; bid 6 21500; } | "$KAPPA" topic produce bids --key-delimiter '|' -b "$BROKER" 2>/dev/null
run 2
$PY tests/integration/jobtool.py caught-up "$BROKER" silence.v2 60 bids || fail "v2 caught up" "$(tail -n 3 "$W/v2.log")"
sleep 0.5
kill -9 $JOB; wait $JOB 2>/dev/null
{ bid 6 30000; } | "$KAPPA" topic produce bids --key-delimiter '|' -b "$BROKER" 2>/dev/null
run 2
$PY tests/integration/jobtool.py caught-up "$BROKER" silence.v2 60 bids || fail "v2 caught up again" "$(tail -n 3 "$W/v2.log")"
kill -TERM $JOB; wait $JOB
$PY tests/integration/jobtool.py dump "$BROKER" silent-v2 >"$W/out2"
{ cat "$W/want"; echo '{"auction":"4","last_bid":20000,"silent_at":25000}';
  echo '{"auction":"5","last_bid":21000,"silent_at":26000}'; } | sort >"$W/want2"
if cmp -s "$W/want2" "$W/out2"; then pass "a timer set before a SIGKILL fires after the restart, once"; else fail "timers after restart" "$(diff "$W/want2" "$W/out2")"; fi

# kappa_join_table: each order sees the product's price as of the order's
# event time (the table and the stream are merged in timestamp order), and
# an order without a price is passed to the join function with right = NULL.
cat >"$W/enrich.c" <<'CEOF'
#include <kappa.h>
#include <stdio.h>
static int enrich(kappa_ctx_t *ctx, const kappa_record_t *order, const kappa_record_t *price,
                  void *arg)
{
    (void)arg;
    int64_t qty, p = -1;
    if (kappa_json_i64(order, "qty", &qty) || (price && kappa_json_i64(price, "price", &p)))
        return -1;
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%.*s qty=%lld price=%lld ts=%lld", (int)order->key_len,
                     (const char *)order->key, (long long)qty, (long long)p,
                     (long long)order->timestamp);
    kappa_record_t out = {order->key, order->key_len, buf, (size_t)n, order->timestamp};
    return kappa_emit(ctx, &out);
}
int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {.time_json_field = "ts"};
    kappa_stream_t *orders = kappa_source(job, "orders", &so);
    kappa_stream_t *prices = kappa_table(job, "prices", &so);
    return kappa_sink(kappa_join_table(orders, prices, "enrich", enrich, NULL), "enriched", NULL);
}
CEOF
cc -shared -fPIC -Iinclude -o "$W/enrich.so" "$W/enrich.c"
"$KAPPA" topic create orders -p 1 -b "$BROKER" >/dev/null
"$KAPPA" topic create prices -p 1 -b "$BROKER" >/dev/null
printf 'p1|{"price":100,"ts":1000}\np1|{"price":120,"ts":3000}\n' |
    "$KAPPA" topic produce prices --key-delimiter '|' -b "$BROKER" 2>/dev/null
printf 'p1|{"qty":1,"ts":2000}\np2|{"qty":2,"ts":2500}\np1|{"qty":3,"ts":4000}\n' |
    "$KAPPA" topic produce orders --key-delimiter '|' -b "$BROKER" 2>/dev/null
"$KAPPA" job run enrich --version 1 --plugin "$W/enrich.so" -b "$BROKER" --state-dir "$W/st" \
    --session-timeout-ms 2000 >>"$W/enrich.log" 2>&1 &
JOB=$!
$PY tests/integration/jobtool.py caught-up "$BROKER" enrich.v1 60 orders prices || fail "enrich caught up" "$(tail -n 3 "$W/enrich.log")"
kill -TERM $JOB; wait $JOB
$PY tests/integration/jobtool.py dump "$BROKER" enriched >"$W/enriched"
printf 'p1 qty=1 price=100 ts=2000\np1 qty=3 price=120 ts=4000\np2 qty=2 price=-1 ts=2500\n' >"$W/want3"
if cmp -s "$W/want3" "$W/enriched"; then pass "join_table: each order sees the price as of its event time; no row -> NULL"; else fail "join_table" "$(diff "$W/want3" "$W/enriched")"; fi

/*
 * Nexmark q11 -- user sessions: per bidder, sessions of bids at most 10 s
 * apart, and how many bids each session holds.
 *
 * Shows session windows: a window per key that grows with each event and
 * merges with its neighbours when an event bridges the gap between them, so
 * the aggregate needs a merge function besides its add function.  The state
 * is a plain counter, which makes merging an addition.
 *
 *   kappa job run q11 --version 1 --plugin build/examples/nexmark/q11.so
 *
 * Parameters: in (default nexmark), out (default nexmark-q11),
 * out_of_order_ms (default 0: the generator's events are in order).
 *
 * Writes `nexmark-q11`:
 *   {"bidder":B,"bid_count":N,"window_start":FIRST,"window_end":LAST+10000}
 *
 * A session is final once the watermark is past its last bid + 10 s (a bid
 * exactly 10 s after the last one still joins it), so with
 * KAPPA_EMIT_ON_CLOSE each session is written once.  The runtime's session
 * window is [first bid, last bid + gap), which is the output's
 * window_start and window_end as they are.
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP_MS 10000

static int is_bid(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "bid");
}

/* Key: the bidder id, 8 bytes big-endian. */
static int by_bidder(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t bidder;
    if (kappa_json_i64(in, "bidder", &bidder))
        return -1;
    unsigned char key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)((uint64_t)bidder >> (56 - 8 * i));
    kappa_record_t out = *in;
    out.key = key;
    out.key_len = sizeof key;
    return kappa_emit(ctx, &out);
}

static int64_t count_of(const void *p, size_t len)
{
    int64_t n = 0;
    if (p && len == sizeof n)
        memcpy(&n, p, sizeof n);
    return n;
}

static int count_bid(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)in, (void)arg;
    size_t len;
    const void *cur = kappa_state_get(st, &len);
    int64_t n = count_of(cur, len) + 1;
    return kappa_state_put(st, &n, sizeof n);
}

/* Two sessions joined by a bridging bid: their counts add up. */
static int merge_counts(kappa_state_t *into, const void *from, size_t from_len, void *arg)
{
    (void)arg;
    size_t len;
    const void *cur = kappa_state_get(into, &len);
    int64_t n = count_of(cur, len) + count_of(from, from_len);
    return kappa_state_put(into, &n, sizeof n);
}

static int emit_session(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state,
                        size_t len, const kappa_window_t *w, void *arg)
{
    (void)arg;
    if (key->key_len != 8 || len != sizeof(int64_t))
        return -1;
    const unsigned char *k = key->key;
    uint64_t bidder = 0;
    for (int i = 0; i < 8; i++)
        bidder = bidder << 8 | k[i];
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "{\"bidder\":%llu,\"bid_count\":%lld,\"window_start\":%lld,"
                     "\"window_end\":%lld}",
                     (unsigned long long)bidder, (long long)count_of(state, len),
                     (long long)w->start_ms, (long long)w->end_ms);
    kappa_record_t out = {key->key, key->key_len, buf, (size_t)n, w->end_ms - 1};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {
        .time_json_field = "date_time",
        .max_out_of_orderness_ms = atoll(kappa_job_param(job, "out_of_order_ms", "0")),
    };
    kappa_stream_t *events = kappa_source(job, kappa_job_param(job, "in", "nexmark"), &so);
    kappa_stream_t *bids = kappa_key_by(kappa_filter(events, "bids", is_bid, NULL),
                                        "by_bidder", by_bidder, NULL);
    kappa_agg_opts_t ao = {
        .add = count_bid,
        .merge = merge_counts,
        .result = emit_session,
        .window = {.type = KAPPA_WINDOW_SESSION, .gap_ms = GAP_MS},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    return kappa_sink(kappa_aggregate(bids, "sessions", &ao),
                      kappa_job_param(job, "out", "nexmark-q11"), NULL);
}

/*
 * Nexmark q7 -- highest bid: per 10-second tumbling window, every bid whose
 * price is the window's maximum.
 *
 * Shows re-keying (all bids to one key, so one task sees the whole window:
 * kappa_key_by goes through a repartition topic), a windowed aggregate with
 * a variable-size state, and final results on window close.
 *
 * Parameters: in (default nexmark), out (default nexmark-q7),
 * out_of_order_ms (default 0: the generator's events are in order).
 *
 * Writes `nexmark-q7`:
 *   {"auction":A,"bidder":B,"price":P,"date_time":T,"window_end":END}
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bid {
    int64_t auction, bidder, price, ts;
} bid_t;

static int is_bid(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "bid");
}

/* One key for every bid: the maximum is over the whole window. */
static int one_key(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    kappa_record_t out = *in;
    out.key = "all";
    out.key_len = 3;
    return kappa_emit(ctx, &out);
}

/* State: the bids at the window's maximum price so far (an array of bid_t). */
static int keep_max(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    bid_t b;
    if (kappa_json_i64(in, "auction", &b.auction) || kappa_json_i64(in, "bidder", &b.bidder) ||
        kappa_json_i64(in, "price", &b.price) || kappa_json_i64(in, "date_time", &b.ts))
        return -1;
    size_t len;
    const bid_t *cur = kappa_state_get(st, &len);
    if (!cur || b.price > cur[0].price)
        return kappa_state_put(st, &b, sizeof b);
    if (b.price < cur[0].price)
        return 0;
    bid_t *more = malloc(len + sizeof b);
    if (!more)
        return -1;
    memcpy(more, cur, len);
    more[len / sizeof b] = b;
    int rc = kappa_state_put(st, more, len + sizeof b);
    free(more);
    return rc;
}

static int emit_max(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state, size_t len,
                    const kappa_window_t *w, void *arg)
{
    (void)arg, (void)key;
    const bid_t *b = state;
    for (size_t i = 0; i < len / sizeof *b; i++) {
        char buf[200];
        int n = snprintf(buf, sizeof buf,
                         "{\"auction\":%lld,\"bidder\":%lld,\"price\":%lld,\"date_time\":%lld,"
                         "\"window_end\":%lld}",
                         (long long)b[i].auction, (long long)b[i].bidder, (long long)b[i].price,
                         (long long)b[i].ts, (long long)w->end_ms);
        kappa_record_t out = {NULL, 0, buf, (size_t)n, w->end_ms - 1};
        if (kappa_emit(ctx, &out) != 0)
            return -1;
    }
    return 0;
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {
        .time_json_field = "date_time",
        .max_out_of_orderness_ms = atoll(kappa_job_param(job, "out_of_order_ms", "0")),
    };
    kappa_stream_t *events = kappa_source(job, kappa_job_param(job, "in", "nexmark"), &so);
    kappa_stream_t *bids = kappa_key_by(kappa_filter(events, "bids", is_bid, NULL), "one_key",
                                        one_key, NULL);
    kappa_agg_opts_t ao = {
        .add = keep_max,
        .result = emit_max,
        .window = {.type = KAPPA_WINDOW_TUMBLING, .size_ms = 10000},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    return kappa_sink(kappa_aggregate(bids, "max_price", &ao),
                      kappa_job_param(job, "out", "nexmark-q7"), NULL);
}

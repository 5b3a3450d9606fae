/*
 * Revenue per auction per 10-second window -- the replay benchmark's job
 * (BENCHMARKS.md, "Replay vs batch"): the "new version" of a Kappa
 * deployment that must reprocess the whole history of bids.
 *
 * Shows the usual shape of a reprocessing job: bids re-keyed by auction
 * (a repartition topic), a tumbling event-time window, and one final row per
 * (auction, window) on window close -- the same rows a batch engine gets
 * from
 *
 *   SELECT auction, intDiv(date_time, 10000) * 10000 AS window_start,
 *          sum(price), count() FROM bids GROUP BY auction, window_start
 *
 *   kappa job run revenue --version 1 --plugin build/examples/nexmark/auction_revenue.so
 *
 * Parameters: in (default nexmark), out (default nexmark-revenue),
 * out_of_order_ms (default 0).
 *
 * Writes `nexmark-revenue` keyed by auction:
 *   {"auction":A,"window_start":S,"revenue":SUM,"bids":N}
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct revenue {
    int64_t sum, n;
} revenue_t;

static int is_bid(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "bid");
}

/* Key each bid by its auction id (the decimal text, as the batch query's
 * GROUP BY sees it). */
static int by_auction(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t auction;
    if (kappa_json_i64(in, "auction", &auction))
        return 0;
    char key[24];
    int n = snprintf(key, sizeof key, "%lld", (long long)auction);
    kappa_record_t out = *in;
    out.key = key;
    out.key_len = (size_t)n;
    return kappa_emit(ctx, &out);
}

static int add_price(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t price;
    if (kappa_json_i64(in, "price", &price))
        return 0;
    size_t len;
    const revenue_t *cur = kappa_state_get(st, &len);
    revenue_t r = cur && len == sizeof r ? *cur : (revenue_t){0, 0};
    r.sum += price;
    r.n++;
    return kappa_state_put(st, &r, sizeof r);
}

static int emit_revenue(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state,
                        size_t len, const kappa_window_t *w, void *arg)
{
    (void)arg;
    if (!state || len != sizeof(revenue_t))
        return 0;
    const revenue_t *r = state;
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "{\"auction\":%.*s,\"window_start\":%lld,\"revenue\":%lld,\"bids\":%lld}",
                     (int)key->key_len, (const char *)key->key, (long long)w->start_ms,
                     (long long)r->sum, (long long)r->n);
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
                                        "by_auction", by_auction, NULL);
    kappa_agg_opts_t ao = {
        .add = add_price,
        .result = emit_revenue,
        .window = {.type = KAPPA_WINDOW_TUMBLING, .size_ms = 10000},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    return kappa_sink(kappa_aggregate(bids, "revenue", &ao),
                      kappa_job_param(job, "out", "nexmark-revenue"), NULL);
}

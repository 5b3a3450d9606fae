/*
 * auction_counts -- bids per auction per 10-second window, plus every bid
 * passed through: the job kappa's exactly-once tests kill and restart.
 *
 * It has every moving part of the runtime: a stateless branch writing
 * straight to a topic, a re-key through a repartition topic (watermarks
 * travel with it), a windowed aggregate with changelogged state, and final
 * results on window close.
 *
 * Parameters (--param KEY=VALUE): in (default nexmark), bids_out
 * (default auction-bids), counts_out (default auction-counts), window_ms
 * (default 10000; a long window keeps every auction's counter in the state,
 * which is how bench/nexmark_bench.sh gets a large state to restore).
 *
 * Outputs: bids_out  {"auction":A,"bidder":B,"price":P,"date_time":T}
 *          counts_out {"auction":A,"window_end":END,"bids":N,"volume":SUM}
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally {
    int64_t bids, volume;
} tally_t;

static int is_bid(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "bid");
}

static int project(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t a, b, p, t;
    if (kappa_json_i64(in, "auction", &a) || kappa_json_i64(in, "bidder", &b) ||
        kappa_json_i64(in, "price", &p) || kappa_json_i64(in, "date_time", &t))
        return -1;
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "{\"auction\":%lld,\"bidder\":%lld,\"price\":%lld,\"date_time\":%lld}",
                     (long long)a, (long long)b, (long long)p, (long long)t);
    kappa_record_t out = {NULL, 0, buf, (size_t)n, in->timestamp};
    return kappa_emit(ctx, &out);
}

/* Key each bid by its auction id (8 bytes, big-endian, so keys sort). */
static int by_auction(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t a;
    if (kappa_json_i64(in, "auction", &a))
        return -1;
    unsigned char key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)((uint64_t)a >> (56 - 8 * i));
    kappa_record_t out = *in;
    out.key = key;
    out.key_len = sizeof key;
    return kappa_emit(ctx, &out);
}

static int count(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t price;
    if (kappa_json_i64(in, "price", &price))
        return -1;
    tally_t t = {0, 0};
    size_t len;
    const void *cur = kappa_state_get(st, &len);
    if (cur && len == sizeof t)
        memcpy(&t, cur, sizeof t);
    t.bids++;
    t.volume += price;
    return kappa_state_put(st, &t, sizeof t);
}

static int result(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state, size_t len,
                  const kappa_window_t *w, void *arg)
{
    (void)arg;
    tally_t t;
    if (len != sizeof t || key->key_len != 8)
        return -1;
    memcpy(&t, state, sizeof t);
    const unsigned char *k = key->key;
    uint64_t a = 0;
    for (int i = 0; i < 8; i++)
        a = a << 8 | k[i];
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "{\"auction\":%llu,\"window_end\":%lld,\"bids\":%lld,\"volume\":%lld}",
                     (unsigned long long)a, (long long)w->end_ms, (long long)t.bids,
                     (long long)t.volume);
    kappa_record_t out = {key->key, key->key_len, buf, (size_t)n, w->end_ms - 1};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {.time_json_field = "date_time", .max_out_of_orderness_ms = 500};
    kappa_stream_t *events = kappa_source(job, kappa_job_param(job, "in", "nexmark"), &so);
    kappa_stream_t *bids = kappa_filter(events, "bids", is_bid, NULL);
    kappa_sink(kappa_map(bids, "project", project, NULL),
               kappa_job_param(job, "bids_out", "auction-bids"), NULL);
    kappa_stream_t *keyed = kappa_key_by(bids, "by_auction", by_auction, NULL);
    kappa_agg_opts_t ao = {
        .add = count,
        .result = result,
        .window = {.type = KAPPA_WINDOW_TUMBLING,
                   .size_ms = atoll(kappa_job_param(job, "window_ms", "10000"))},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    return kappa_sink(kappa_aggregate(keyed, "per_window", &ao),
                      kappa_job_param(job, "counts_out", "auction-counts"), NULL);
}

/*
 * Nexmark q1 -- currency conversion: every bid, its price in euros.
 *
 * The simplest kappa job: a source, a filter on the event type, a map that
 * rewrites the value, a sink.  Stateless, so every task runs on its own.
 *
 *   kappa job run q1 --version 1 --plugin build/examples/nexmark/q1.so
 *
 * reads topic `nexmark` (kappa nexmark gen) and writes `nexmark-q1`:
 *   {"auction":A,"bidder":B,"price":EUROS,"date_time":T}
 *
 * Parameters (--param KEY=VALUE, read with kappa_job_param): in (default
 * nexmark), out (default nexmark-q1).
 */
#include <kappa.h>

#include <stdio.h>

static int is_bid(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "bid");
}

static int to_euros(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t auction, bidder, price, ts;
    if (kappa_json_i64(in, "auction", &auction) || kappa_json_i64(in, "bidder", &bidder) ||
        kappa_json_i64(in, "price", &price) || kappa_json_i64(in, "date_time", &ts))
        return -1;          /* a malformed bid fails the task: never silently dropped */
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "{\"auction\":%lld,\"bidder\":%lld,\"price\":%lld,\"date_time\":%lld}",
                     (long long)auction, (long long)bidder, (long long)(price * 908 / 1000),
                     (long long)ts);
    kappa_record_t out = {in->key, in->key_len, buf, (size_t)n, in->timestamp};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {.time_json_field = "date_time"};
    kappa_stream_t *events = kappa_source(job, kappa_job_param(job, "in", "nexmark"), &so);
    kappa_stream_t *bids = kappa_filter(events, "bids", is_bid, NULL);
    return kappa_sink(kappa_map(bids, "to_euros", to_euros, NULL),
                      kappa_job_param(job, "out", "nexmark-q1"), NULL);
}

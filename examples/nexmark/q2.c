/*
 * Nexmark q2 -- selection: the bids on every 123rd auction.
 *
 * Stateless like q1: a filter that parses two fields, then a map.
 *
 * Parameters: in (default nexmark), out (default nexmark-q2).
 *
 * Writes `nexmark-q2`: {"auction":A,"price":P}
 */
#include <kappa.h>

#include <stdio.h>

static int wanted(const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t auction;
    return kappa_json_str_eq(in, "event_type", "bid") &&
           kappa_json_i64(in, "auction", &auction) == 0 && auction % 123 == 0;
}

static int project(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t auction, price;
    if (kappa_json_i64(in, "auction", &auction) || kappa_json_i64(in, "price", &price))
        return -1;
    char buf[96];
    int n = snprintf(buf, sizeof buf, "{\"auction\":%lld,\"price\":%lld}", (long long)auction,
                     (long long)price);
    kappa_record_t out = {in->key, in->key_len, buf, (size_t)n, in->timestamp};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {.time_json_field = "date_time"};
    kappa_stream_t *events = kappa_source(job, kappa_job_param(job, "in", "nexmark"), &so);
    kappa_stream_t *sel = kappa_filter(events, "every_123rd", wanted, NULL);
    return kappa_sink(kappa_map(sel, "project", project, NULL),
                      kappa_job_param(job, "out", "nexmark-q2"), NULL);
}

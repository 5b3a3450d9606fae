/*
 * bid_silence -- an alert for every auction that has had no bid for
 * `gap_ms` (default 5000) of event time since its last one.
 *
 * Shows kappa_process: a keyed operator of your own with per-key state (the
 * last bid's time) and event-time timers (kappa_timer_set), both kept in the
 * task's changelogged state so they survive crashes and restarts.
 *
 * Reads `in` (default bids): JSON bids keyed by auction id, with
 * "date_time".  Writes `out` (default silent-auctions):
 *   {"auction":"KEY","last_bid":T,"silent_at":T+GAP}
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t gap_ms = 5000;

static int on_bid(kappa_ctx_t *ctx, kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    size_t len;
    const int64_t *last = kappa_state_get(st, &len);
    int64_t ts = in->timestamp;
    if (last && len == sizeof *last && *last > ts)
        ts = *last;             /* an older bid arriving late changes nothing */
    if (kappa_state_put(st, &ts, sizeof ts) != 0)
        return -1;
    return kappa_timer_set(ctx, ts + gap_ms);
}

/* A timer fires for every bid; only the one set by the auction's latest bid
 * finds the silence still unbroken. */
static int on_timer(kappa_ctx_t *ctx, kappa_state_t *st, const kappa_record_t *key, void *arg)
{
    (void)arg;
    size_t len;
    const int64_t *last = kappa_state_get(st, &len);
    if (!last || len != sizeof *last || *last + gap_ms != key->timestamp)
        return 0;
    char buf[200];
    int n = snprintf(buf, sizeof buf, "{\"auction\":\"%.*s\",\"last_bid\":%lld,\"silent_at\":%lld}",
                     (int)key->key_len, (const char *)key->key, (long long)*last,
                     (long long)key->timestamp);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    kappa_record_t out = {key->key, key->key_len, buf, (size_t)n, key->timestamp};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    gap_ms = atoll(kappa_job_param(job, "gap_ms", "5000"));
    if (gap_ms <= 0)
        return -1;
    kappa_source_opts_t so = {.time_json_field = "date_time"};
    kappa_stream_t *bids = kappa_source(job, kappa_job_param(job, "in", "bids"), &so);
    kappa_processor_t p = {.process = on_bid, .on_timer = on_timer};
    return kappa_sink(kappa_process(bids, "silence", &p),
                      kappa_job_param(job, "out", "silent-auctions"), NULL);
}

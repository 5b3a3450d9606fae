/*
 * revenue -- revenue and order count per product per minute, maintained as
 * the view `revenue` (kappa_view): the serving layer's example job.
 *
 * Input (param `in`, default orders), keyed by product:
 *   {"order":N,"product":"p3","amount":1234,"refund":false,"ts":MS}
 * View rows, one per product and 1-minute tumbling window, updated on every
 * order (emit CHANGES), key "PRODUCT|WINDOW_START_MS":
 *   {"product":"p3","window_start":MS,"revenue":SUM,"orders":N}
 *
 * Parameter exclude_refunds=true|false (default false) changes the logic:
 * version 1 counts refunds like any order, version 2 runs with
 * --param exclude_refunds=true and leaves them out -- two versions of one
 * view side by side (revenue@v1, revenue@v2), the alias switched when v2
 * has caught up.
 *
 * Parameter topic=T (default none) also writes the same rows to topic T,
 * so the example has an output topic beside its view (`kappa job diff`
 * compares both).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem */
#endif
#include <kappa.h>

#include <stdio.h>
#include <string.h>

typedef struct tally {
    int64_t revenue, orders;
} tally_t;

/* Is the order a refund?  kappa_json_* read numbers and strings; the
 * boolean is matched in the compact form the order producers write. */
static int is_refund(const kappa_record_t *in)
{
    static const char pat[] = "\"refund\":true";
    return in->value && memmem(in->value, in->value_len, pat, sizeof pat - 1) != NULL;
}

static int keep_order(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return !is_refund(in);
}

static int add(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t amount;
    if (kappa_json_i64(in, "amount", &amount))
        return -1;
    tally_t t = {0, 0};
    size_t len;
    const void *cur = kappa_state_get(st, &len);
    if (cur && len == sizeof t)
        memcpy(&t, cur, sizeof t);
    t.revenue += amount;
    t.orders++;
    return kappa_state_put(st, &t, sizeof t);
}

static int row(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state, size_t len,
               const kappa_window_t *w, void *arg)
{
    (void)arg;
    tally_t t;
    if (len != sizeof t || !w || !key->key || key->key_len > 64)
        return -1;
    memcpy(&t, state, sizeof t);
    char k[128], v[256];
    int kn = snprintf(k, sizeof k, "%.*s|%lld", (int)key->key_len, (const char *)key->key,
                      (long long)w->start_ms);
    int vn = snprintf(v, sizeof v,
                      "{\"product\":\"%.*s\",\"window_start\":%lld,\"revenue\":%lld,"
                      "\"orders\":%lld}",
                      (int)key->key_len, (const char *)key->key, (long long)w->start_ms,
                      (long long)t.revenue, (long long)t.orders);
    kappa_record_t out = {k, (size_t)kn, v, (size_t)vn, w->start_ms};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {.time_json_field = "ts", .max_out_of_orderness_ms = 1000};
    kappa_stream_t *orders = kappa_source(job, kappa_job_param(job, "in", "orders"), &so);
    const char *ex = kappa_job_param(job, "exclude_refunds", "false");
    if (strcmp(ex, "true") == 0)
        orders = kappa_filter(orders, "no_refunds", keep_order, NULL);
    else if (strcmp(ex, "false") != 0)
        return -1;              /* "kappa_job_define returned an error" */
    kappa_agg_opts_t ao = {
        .add = add,
        .result = row,
        .window = {.type = KAPPA_WINDOW_TUMBLING, .size_ms = 60000},
        .emit = KAPPA_EMIT_CHANGES,
    };
    kappa_stream_t *rows = kappa_aggregate(orders, "per_minute", &ao);
    const char *topic = kappa_job_param(job, "topic", NULL);
    if (topic && kappa_sink(rows, topic, NULL) != 0)
        return -1;
    return kappa_view(rows, "revenue", NULL);
}

/*
 * Nexmark q8 -- monitor new users: people who open an auction in the same
 * 10-second window in which they registered.
 *
 * Shows a windowed stream-stream join (KAPPA_JOIN_WINDOW: a person and an
 * auction of the same key meet only inside one tumbling window) followed by
 * a windowed aggregate in the same stage that reduces the join's pairs to
 * one row per person and window, emitted when the window closes.
 *
 * Writes `nexmark-q8`: {"id":ID,"name":N,"window_start":START}
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_MS 10000

static int is_person(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "person");
}

static int is_auction(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "auction");
}

static int key_by_field(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    int64_t id;
    if (kappa_json_i64(in, (const char *)arg, &id))
        return -1;
    char key[24];
    int n = snprintf(key, sizeof key, "%lld", (long long)id);
    kappa_record_t out = *in;
    out.key = key;
    out.key_len = (size_t)n;
    return kappa_emit(ctx, &out);
}

/* A (person, auction) pair in one window: pass the person's name on, at the
 * person's time (so it falls in the same window downstream). */
static int pair(kappa_ctx_t *ctx, const kappa_record_t *person, const kappa_record_t *auction,
                void *arg)
{
    (void)arg, (void)auction;
    const char *name;
    size_t nl;
    if (kappa_json_str(person, "name", &name, &nl))
        return -1;
    kappa_record_t out = {person->key, person->key_len, name, nl, person->timestamp};
    return kappa_emit(ctx, &out);
}

/* State: the name (the same for every pair of a person). */
static int remember_name(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_state_put(st, in->value, in->value_len);
}

static int row(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state, size_t len,
               const kappa_window_t *w, void *arg)
{
    (void)arg;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"id\":%.*s,\"name\":\"%.*s\",\"window_start\":%lld}",
                     (int)key->key_len, (const char *)key->key, (int)len, (const char *)state,
                     (long long)w->start_ms);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
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
    kappa_stream_t *people = kappa_key_by(kappa_filter(events, "people", is_person, NULL),
                                          "person_by_id", key_by_field, "id");
    kappa_stream_t *auctions = kappa_key_by(kappa_filter(events, "auctions", is_auction, NULL),
                                            "auction_by_seller", key_by_field, "seller");
    kappa_join_opts_t jo = {.fn = pair, .type = KAPPA_JOIN_WINDOW, .size_ms = WINDOW_MS};
    kappa_stream_t *pairs = kappa_join(people, auctions, "same_window", &jo);
    kappa_agg_opts_t ao = {
        .add = remember_name,
        .result = row,
        .window = {.type = KAPPA_WINDOW_TUMBLING, .size_ms = WINDOW_MS},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    return kappa_sink(kappa_aggregate(pairs, "one_per_window", &ao),
                      kappa_job_param(job, "out", "nexmark-q8"), NULL);
}

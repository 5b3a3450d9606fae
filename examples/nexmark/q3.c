/*
 * Nexmark q3 -- local item suggestion: people in Oregon, Idaho or
 * California who sell in category 10, with the auctions they sell there.
 *
 * Shows a stream-stream join: both sides are re-keyed by the person id
 * (auctions by their seller), so each key's people and auctions meet in one
 * task; KAPPA_JOIN_UNBOUNDED keeps both sides, so every matching pair is
 * emitted exactly once, when the second of the two arrives.
 *
 * Writes `nexmark-q3`: {"name":N,"city":C,"state":S,"id":AUCTION_ID}
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_local_person(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "person") &&
           (kappa_json_str_eq(in, "state", "OR") || kappa_json_str_eq(in, "state", "ID") ||
            kappa_json_str_eq(in, "state", "CA"));
}

static int is_category_10(const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t category;
    return kappa_json_str_eq(in, "event_type", "auction") &&
           kappa_json_i64(in, "category", &category) == 0 && category == 10;
}

/* Key = the decimal id in `field` (people: "id", auctions: "seller"). */
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

static int suggest(kappa_ctx_t *ctx, const kappa_record_t *person, const kappa_record_t *auction,
                   void *arg)
{
    (void)arg;
    const char *name, *city, *state;
    size_t nl, cl, sl;
    int64_t id;
    if (kappa_json_str(person, "name", &name, &nl) || kappa_json_str(person, "city", &city, &cl) ||
        kappa_json_str(person, "state", &state, &sl) || kappa_json_i64(auction, "id", &id))
        return -1;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"name\":\"%.*s\",\"city\":\"%.*s\",\"state\":\"%.*s\","
                     "\"id\":%lld}", (int)nl, name, (int)cl, city, (int)sl, state, (long long)id);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    int64_t ts = person->timestamp > auction->timestamp ? person->timestamp : auction->timestamp;
    kappa_record_t out = {person->key, person->key_len, buf, (size_t)n, ts};
    return kappa_emit(ctx, &out);
}

int kappa_job_define(kappa_job_t *job)
{
    kappa_source_opts_t so = {
        .time_json_field = "date_time",
        .max_out_of_orderness_ms = atoll(kappa_job_param(job, "out_of_order_ms", "0")),
    };
    kappa_stream_t *events = kappa_source(job, kappa_job_param(job, "in", "nexmark"), &so);
    kappa_stream_t *people = kappa_key_by(kappa_filter(events, "local_people", is_local_person,
                                                       NULL),
                                          "person_by_id", key_by_field, "id");
    kappa_stream_t *auctions = kappa_key_by(kappa_filter(events, "category_10", is_category_10,
                                                         NULL),
                                            "auction_by_seller", key_by_field, "seller");
    kappa_join_opts_t jo = {.fn = suggest, .type = KAPPA_JOIN_UNBOUNDED};
    return kappa_sink(kappa_join(people, auctions, "sellers", &jo),
                      kappa_job_param(job, "out", "nexmark-q3"), NULL);
}

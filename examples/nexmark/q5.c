/*
 * Nexmark q5 -- hot items: for every hopping window of 10 s sliding every
 * 2 s, the auction(s) with the most bids (ties: every tied auction, one row
 * each).
 *
 * Shows a two-stage windowed pipeline -- an aggregate's results re-keyed
 * and aggregated again -- hopping windows, binary keys and values between
 * stages, and how event time and watermarks carry final results from one
 * windowed stage into the next.
 *
 *   kappa job run q5 --version 1 --plugin build/examples/nexmark/q5.so
 *
 * Parameters: in (default nexmark), out (default nexmark-q5),
 * out_of_order_ms (default 0: the generator's events are in order; give
 * the generator's --out-of-order-ms if it used one).
 *
 * Writes `nexmark-q5`: {"auction":A,"num":COUNT,"window_start":S,"window_end":S+10000}
 *
 * Stage 1 (`bids_per_window`): bids re-keyed by auction; a hopping
 * aggregate counts them per (auction, window) and, with KAPPA_EMIT_ON_CLOSE,
 * emits each count once, when the watermark passes the window's end.  Every
 * bid is in five windows, so this stage holds five counters per active
 * auction.
 *
 * Stage 2 (`hottest`): the counts re-keyed by their window, and the maximum
 * taken per window.  The maximum is only right once it has seen the count of
 * every auction in the window, from every stage-1 task, so stage 2 must be
 * windowed too and emit on close.  It uses a tumbling window of the slide
 * (2 s), epoch-aligned, because then each stage-1 window lands in exactly one
 * stage-2 window that closes exactly when it should:
 *
 *  - A stage-1 window [s, s + 10000) ends at a multiple of 2000 (s is one).
 *    Its results carry the timestamp end - 1, which falls in the stage-2
 *    window [end - 2000, end) and in no other; no other stage-1 window has
 *    its end there, so a stage-2 window never mixes two stage-1 windows.
 *    (The stage-2 key, the window start, would keep them apart anyway; the
 *    alignment is what makes the close time right.)
 *  - Not late: a stage-1 task emits the window when its watermark reaches
 *    `end`, and reports that watermark downstream only after those records
 *    (in the same or a later transaction).  So when a result reaches stage
 *    2, stage 2's watermark (the minimum of the stage-1 reports) is still
 *    below `end`, and [end - 2000, end) is open.
 *  - Complete: stage 2 closes [end - 2000, end) when every stage-1 task has
 *    reported a watermark >= end, i.e. after every stage-1 task has emitted
 *    its counts for the window.
 *
 * A coarser stage-2 window (say 10 s) would be correct but would hold
 * results back up to 8 s longer; a finer one than the slide would split
 * nothing further and cost more timers.
 */
#include <kappa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE_MS 10000
#define SLIDE_MS 2000

static void put_be64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static int is_bid(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_json_str_eq(in, "event_type", "bid");
}

/* Stage 1 key: the auction id, 8 bytes big-endian. */
static int by_auction(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    int64_t auction;
    if (kappa_json_i64(in, "auction", &auction))
        return -1;
    unsigned char key[8];
    put_be64(key, auction);
    kappa_record_t out = *in;
    out.key = key;
    out.key_len = sizeof key;
    return kappa_emit(ctx, &out);
}

/* Stage 1 state: the window's bid count for the auction. */
static int count_bid(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)in, (void)arg;
    int64_t n = 0;
    size_t len;
    const void *cur = kappa_state_get(st, &len);
    if (cur && len == sizeof n)
        memcpy(&n, cur, sizeof n);
    n++;
    return kappa_state_put(st, &n, sizeof n);
}

/* A stage-1 result as it travels to stage 2: 16 bytes, big-endian. */
typedef struct auction_count {
    int64_t auction, num;
} auction_count_t;

/*
 * Stage 1 result: key = the window start (stage 2's key), value = (auction,
 * count), timestamp = window end - 1 (see the top of the file).
 */
static int emit_count(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state,
                      size_t len, const kappa_window_t *w, void *arg)
{
    (void)arg;
    int64_t n;
    if (key->key_len != 8 || len != sizeof n)
        return -1;
    memcpy(&n, state, sizeof n);
    unsigned char k[8], v[16];
    put_be64(k, w->start_ms);
    memcpy(v, key->key, 8);
    put_be64(v + 8, n);
    kappa_record_t out = {k, sizeof k, v, sizeof v, w->end_ms - 1};
    return kappa_emit(ctx, &out);
}

/* The stage-1 result already carries its new key: pass it on unchanged. */
static int by_window(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    return kappa_emit(ctx, in);
}

/*
 * Stage 2 state: an array of auction_count_t, every auction with the
 * window's highest count so far (all entries share that count).
 */
static int keep_max(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    if (in->value_len != 16)
        return -1;
    auction_count_t c = {get_be64(in->value), get_be64((const unsigned char *)in->value + 8)};
    size_t len;
    const auction_count_t *cur = kappa_state_get(st, &len);
    if (!cur || c.num > cur[0].num)
        return kappa_state_put(st, &c, sizeof c);
    if (c.num < cur[0].num)
        return 0;
    auction_count_t *more = malloc(len + sizeof c);
    if (!more)
        return -1;
    memcpy(more, cur, len);
    more[len / sizeof c] = c;
    int rc = kappa_state_put(st, more, len + sizeof c);
    free(more);
    return rc;
}

static int emit_hot(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state, size_t len,
                    const kappa_window_t *w, void *arg)
{
    (void)arg, (void)w;
    if (key->key_len != 8)
        return -1;
    int64_t start = get_be64(key->key);
    const auction_count_t *c = state;
    for (size_t i = 0; i < len / sizeof *c; i++) {
        char buf[160];
        int n = snprintf(buf, sizeof buf,
                         "{\"auction\":%lld,\"num\":%lld,\"window_start\":%lld,"
                         "\"window_end\":%lld}",
                         (long long)c[i].auction, (long long)c[i].num, (long long)start,
                         (long long)(start + SIZE_MS));
        kappa_record_t out = {NULL, 0, buf, (size_t)n, start + SIZE_MS - 1};
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
    kappa_stream_t *bids = kappa_key_by(kappa_filter(events, "bids", is_bid, NULL),
                                        "by_auction", by_auction, NULL);
    kappa_agg_opts_t counts = {
        .add = count_bid,
        .result = emit_count,
        .window = {.type = KAPPA_WINDOW_HOPPING, .size_ms = SIZE_MS, .slide_ms = SLIDE_MS},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    kappa_stream_t *per_window =
        kappa_key_by(kappa_aggregate(bids, "bids_per_window", &counts), "by_window", by_window,
                     NULL);
    kappa_agg_opts_t hottest = {
        .add = keep_max,
        .result = emit_hot,
        .window = {.type = KAPPA_WINDOW_TUMBLING, .size_ms = SLIDE_MS},
        .emit = KAPPA_EMIT_ON_CLOSE,
    };
    return kappa_sink(kappa_aggregate(per_window, "hottest", &hottest),
                      kappa_job_param(job, "out", "nexmark-q5"), NULL);
}

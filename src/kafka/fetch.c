/*
 * fetch.c -- Fetch (key 1): whole batches straight from segment files.
 *
 * Invariants:
 *  (1) Only data below the high watermark (fsynced) is returned, and only
 *      whole batches: the batch containing fetch_offset first, even when it
 *      is larger than the limits, as Kafka does.
 *  (2) The records bytes are never copied: each partition's range is a
 *      file part that the connection sendfile()s after the response head.
 *  (3) A fetch that cannot satisfy min_bytes waits (long poll) until an
 *      fsync brings data for one of its partitions, or max_wait_ms.
 *  (4) read_uncommitted reads to the high watermark and gets a null
 *      aborted-transactions list; read_committed reads to the last stable
 *      offset and gets the aborted transactions overlapping what it got.
 */
#include "broker.h"
#include "kerr.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"

#include <string.h>

#define FETCH_MAX_WAIT_MS 60000

typedef fetch_resp_fetchable_topic_response_t ftopic_t;
typedef fetch_resp_partition_data_t fpart_t;

typedef struct fetch_wait {
    kreq_t *r;
    fetch_resp_t resp;
    partition_t **parts;        /* for matching wake-ups only; never dereferenced
                                 * except right after evaluate() refreshed them */
    int64_t *nrec;              /* offsets in each partition's records (metrics) */
    int nparts;
    loop_timer_t timer;
    struct fetch_wait *next, *prev;
} fetch_wait_t;

static void release_files(kreq_t *r)
{
    for (int i = 0; i < r->nfiles; i++)
        log_read_release(&r->files[i].rd);
    r->nfiles = 0;
}

/*
 * The aborted transactions a read_committed consumer needs to skip the
 * aborted records in [from, to): Kafka's AbortedTransactions list.
 */
static int aborted_list(kreq_t *r, partition_t *p, int64_t from, int64_t to, fpart_t *o)
{
    log_aborted_txn_t *a;
    int n = partition_aborted_txns(p, from, to, &a);
    if (n < 0) {
        o->error_code = kerr_from_kp(n);
        return n;
    }
    fetch_resp_aborted_transaction_t *v =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *v);
    if (!v) {
        kp_free(a);
        o->error_code = KERR_UNKNOWN_SERVER_ERROR;
        return KP_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        v[i].producer_id = a[i].producer_id;
        v[i].first_offset = a[i].first_offset;
    }
    kp_free(a);
    o->aborted_transactions = (karray_t){v, n};
    return 0;
}

/* Fill w->resp from the log as it is now; true when the fetch may answer. */
static bool evaluate(fetch_wait_t *w, bool final)
{
    kreq_t *r = w->r;
    broker_t *b = r->b;
    fetch_req_t *req = r->body;
    int64_t max_bytes = r->api_version >= 3 ? req->max_bytes : INT32_MAX;
    int64_t total = 0;
    bool error = false;
    int k = 0;

    release_files(r);
    ftopic_t *tops = w->resp.responses.v;
    fetch_req_fetch_topic_t *rt = req->topics.v;
    for (int i = 0; i < w->resp.responses.n; i++) {
        fetch_req_fetch_partition_t *rp = rt[i].partitions.v;
        fpart_t *out = tops[i].partitions.v;
        int16_t terr;
        log_topic_t *t = broker_topic(b, rt[i].topic, false, &terr);
        for (int j = 0; j < tops[i].partitions.n; j++, k++) {
            fpart_t *o = &out[j];
            partition_t *p = t ? log_topic_partition(t, rp[j].partition) : NULL;
            w->parts[k] = p;
            w->nrec[k] = 0;
            o->partition_index = rp[j].partition;
            o->records = (kbytes_t){NULL, 0};
            o->preferred_read_replica = -1;
            o->aborted_transactions = (karray_t){NULL, req->isolation_level == 1 ? 0 : -1};
            if (!p) {
                o->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                o->high_watermark = o->last_stable_offset = o->log_start_offset = -1;
                error = true;
                continue;
            }
            int64_t hw = partition_high_watermark(p);
            int64_t lso = partition_last_stable_offset(p);
            bool committed = req->isolation_level == 1;
            o->high_watermark = hw;
            o->last_stable_offset = lso;
            o->log_start_offset = partition_log_start_offset(p);
            o->error_code = KERR_NONE;
            int64_t room = max_bytes - total;
            if (total > 0 && room <= 0)
                continue;
            /* Both limits, always; partition_read still returns at least one
             * batch, which is the only excess Kafka allows. */
            int64_t limit = rp[j].partition_max_bytes;
            if (room < limit)
                limit = room;
            log_read_t rd;
            /* read_committed stops at the last stable offset: nothing of an
             * open transaction is handed out. */
            int rc = partition_read(p, rp[j].fetch_offset, limit, committed ? lso : hw, &rd);
            if (rc) {
                o->error_code = kerr_from_kp(rc);
                error = true;
                continue;
            }
            if (rd.len == 0)
                continue;
            /* Past the first batch of the response, limits are hard. */
            if (total > 0 && rd.len > room) {
                log_read_release(&rd);
                continue;
            }
            int64_t len = rd.len, rd_next = rd.next_offset, rd_first = rd.first_offset;
            if (kreq_add_file(r, &rd) != 0) {
                log_read_release(&rd);
                continue;
            }
            o->records = (kbytes_t){kwr_file_mark, (int32_t)len};
            w->nrec[k] = rd_next - (rp[j].fetch_offset > rd_first ? rp[j].fetch_offset : rd_first);
            total += len;
            if (committed && aborted_list(r, p, rp[j].fetch_offset, rd_next, o) != 0)
                error = true;
        }
    }
    /* min_bytes 0 means "answer at once", as Java consumers may ask. */
    return final || error || total >= req->min_bytes ||
           req->max_wait_ms <= 0 || b->stopping;
}

static void unlink_wait(broker_t *b, fetch_wait_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (b->fetch_waits == w)
        b->fetch_waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

/* Per-partition traffic, counted once, for the response actually sent (a
 * parked fetch evaluates many times).  Call right after evaluate(). */
static void count_out(fetch_wait_t *w)
{
    int k = 0;
    ftopic_t *tops = w->resp.responses.v;
    for (int i = 0; i < w->resp.responses.n; i++) {
        fpart_t *out = tops[i].partitions.v;
        for (int j = 0; j < tops[i].partitions.n; j++, k++) {
            if (!w->parts[k] || out[j].records.len <= 0)
                continue;
            partition_stats_t *st = partition_stats(w->parts[k]);
            st->bytes_out += (uint64_t)out[j].records.len;
            st->records_out += (uint64_t)(w->nrec[k] > 0 ? w->nrec[k] : 0);
        }
    }
}

static void answer(fetch_wait_t *w)
{
    broker_t *b = w->r->b;
    count_out(w);
    unlink_wait(b, w);
    loop_timer_stop(b->loop, &w->timer);
    w->r->wait = NULL;
    kreq_respond(w->r, &w->resp);
}

static void on_timeout(loop_t *l, void *ctx)
{
    fetch_wait_t *w = ctx;
    (void)l;
    evaluate(w, true);
    answer(w);
}

void fetch_wake(broker_t *b, partition_t *p)
{
    fetch_wait_t *w = b->fetch_waits;
    while (w) {
        fetch_wait_t *next = w->next;
        bool mine = false;
        for (int i = 0; i < w->nparts && !mine; i++)
            mine = w->parts[i] == p;
        if (mine && evaluate(w, false))
            answer(w);
        w = next;
    }
}

void fetch_cancel(kreq_t *r)
{
    /* The connection is gone: nobody is left to answer, so free it now
     * rather than holding its frame until max_wait_ms. */
    fetch_wait_t *w = r->wait;
    if (w) {
        unlink_wait(r->b, w);
        loop_timer_stop(r->b->loop, &w->timer);
        r->wait = NULL;
    }
    release_files(r);
    conn_release_request(r);
}

void fetch_stop(broker_t *b)
{
    while (b->fetch_waits) {
        fetch_wait_t *w = b->fetch_waits;
        evaluate(w, true);
        answer(w);
    }
}

void handle_fetch(kreq_t *r)
{
    broker_t *b = r->b;
    fetch_req_t *req = r->body;
    fetch_wait_t *w = arena_alloc(&r->arena, sizeof *w);
    if (!w)
        goto oom;
    w->r = r;
    loop_timer_init(&w->timer);
    int nt = req->topics.n > 0 ? req->topics.n : 0, total = 0;
    fetch_req_fetch_topic_t *rt = req->topics.v;
    ftopic_t *tops = arena_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *tops);
    if (!tops)
        goto oom;
    for (int i = 0; i < nt; i++) {
        int np = rt[i].partitions.n > 0 ? rt[i].partitions.n : 0;
        fpart_t *ps = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *ps);
        if (!ps)
            goto oom;
        tops[i].topic = rt[i].topic;
        tops[i].partitions = (karray_t){ps, np};
        total += np;
    }
    w->resp.responses = (karray_t){tops, nt};
    w->resp.error_code = KERR_NONE;
    w->resp.session_id = 0;         /* no fetch sessions: clients send full fetches */
    w->parts = arena_alloc(&r->arena, (size_t)(total ? total : 1) * sizeof *w->parts);
    if (!w->parts)
        goto oom;
    w->nrec = arena_alloc(&r->arena, (size_t)(total ? total : 1) * sizeof *w->nrec);
    if (!w->nrec)
        goto oom;
    w->nparts = total;

    if (evaluate(w, false)) {
        count_out(w);
        kreq_respond(r, &w->resp);
        return;
    }
    /* Invariant (3): long poll. */
    release_files(r);
    r->state = KREQ_WAITING;
    r->wait = w;
    w->next = b->fetch_waits;
    if (w->next)
        w->next->prev = w;
    b->fetch_waits = w;
    /* A client may ask for days; a parked fetch holds its frame, so wait
     * no longer than Kafka consumers ever would. */
    int32_t wait_ms = req->max_wait_ms > FETCH_MAX_WAIT_MS ? FETCH_MAX_WAIT_MS : req->max_wait_ms;
    loop_timer_start(b->loop, &w->timer, wait_ms, on_timeout, w);
    return;
oom:
    kreq_abort(r);
}

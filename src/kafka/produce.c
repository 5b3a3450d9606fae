/*
 * produce.c -- Produce (key 0): validate each RecordBatch, append it, and
 * answer once the group-commit fsync covers it.
 *
 * Invariants:
 *  (1) acks=1 and acks=all are answered only after the partition's high
 *      watermark (the fsynced end) has passed the request's last offset; a
 *      failed fsync answers KAFKA_STORAGE_ERROR, never success.
 *  (2) acks=0 gets no response at all, as the protocol requires.
 *  (3) Every batch is checked before it is appended: whole-batch framing,
 *      magic 2, CRC-32C, max.message.bytes, and every record inside it
 *      (decompressed, with a bounded output size).
 */
#include "broker.h"
#include "kerr.h"
#include "txn_int.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../log/batch.h"
#include "../log/records.h"

#include <string.h>

typedef produce_resp_partition_produce_response_t presp_t;

typedef struct pw_part {
    partition_t *p;
    int64_t target;             /* answer when the high watermark reaches this */
    presp_t *out;
    bool done;
} pw_part_t;

typedef struct produce_wait {
    kreq_t *r;
    produce_resp_t *resp;
    pw_part_t *parts;
    int nparts, remaining;
    loop_timer_t timer;
    struct produce_wait *next, *prev;
} produce_wait_t;

#define MAX_UNCOMPRESSED_BATCH (64u << 20)
#define MAX_UNCOMPRESSED_REQUEST (256 << 20)

/* Invariant (3): every record parses; the count matches the header.  The
 * decompressed size is charged to the request's budget. */
static int validate_records(const uint8_t *batch, size_t len, size_t cap, int64_t *budget)
{
    record_iter_t it;
    record_t rec;
    int rc = record_iter_init(&it, batch, len, cap);
    if (rc)
        return rc;
    if (it.owned)
        *budget -= (int64_t)(it.end - it.owned);
    while ((rc = record_iter_next(&it, &rec)) == 1)
        ;
    record_iter_free(&it);
    return rc;
}

/*
 * Append the batches in `records`, all or none (as Kafka does): every batch
 * is validated first, so a bad one cannot leave earlier ones appended behind
 * an error.  *budget is the request's remaining allowance of decompressed
 * bytes: validation runs on the loop thread, so one request may not make it
 * inflate unbounded data.
 */
static int16_t append_records(kreq_t *r, partition_t *p, kbytes_t records, presp_t *out,
                              int64_t *last_offset, int64_t *budget)
{
    if (records.len <= 0)
        return KERR_CORRUPT_MESSAGE;
    uint8_t *buf = (uint8_t *)records.p;    /* inside r->frame, which we own */
    size_t len = (size_t)records.len, pos;
    size_t max_bytes = (size_t)log_topic_config(log_topic_find(r->b->log,
                                                partition_topic(p)))->max_message_bytes;
    for (pos = 0; pos < len;) {
        if (len - pos < BATCH_HEADER_SIZE)
            return KERR_CORRUPT_MESSAGE;
        int64_t size = BATCH_LOG_OVERHEAD + (int32_t)kp_be32(buf + pos + 8);
        if (size < BATCH_HEADER_SIZE || (uint64_t)size > len - pos)
            return KERR_CORRUPT_MESSAGE;
        batch_header_t h;
        int rc = batch_validate_produced(buf + pos, (size_t)size, max_bytes, &h);
        if (rc == 0) {
            size_t cap = *budget < (int64_t)MAX_UNCOMPRESSED_BATCH ? (size_t)*budget
                                                                    : MAX_UNCOMPRESSED_BATCH;
            rc = validate_records(buf + pos, (size_t)size, cap, budget);
        }
        if (rc)
            return rc == KP_ETOOLARGE && *budget <= 0 ? KERR_RECORD_LIST_TOO_LARGE
                                                      : kerr_from_kp(rc);
        /* A transactional batch must belong to an ongoing transaction that
         * added this partition (KIP-890's check): otherwise it would open a
         * transaction no marker ever closes, holding read_committed back. */
        if ((h.attributes & BATCH_ATTR_TRANSACTIONAL) && h.producer_id >= 0) {
            int16_t terr = txn_coord_check_produce(r->b, h.producer_id, h.producer_epoch,
                                                   partition_topic(p), partition_id(p));
            if (terr != KERR_NONE)
                return terr;
        }
        pos += (size_t)size;
    }
    bool first = true;
    for (pos = 0; pos < len;) {
        size_t size = (size_t)(BATCH_LOG_OVERHEAD + (int32_t)kp_be32(buf + pos + 8));
        partition_append_result_t res;
        int rc = partition_append(p, buf + pos, size, &res);
        if (rc) {
            if (kp_is_os_error(rc) || rc == KP_EFAILED)
                KP_WARN("produce to %s: %s", partition_name(p), kp_strerror(rc));
            return kerr_from_kp(rc);
        }
        if (first)
            out->base_offset = res.base_offset;
        first = false;
        *last_offset = res.last_offset;
        pos += size;
    }
    return KERR_NONE;
}

static void wait_unlink(broker_t *b, produce_wait_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        b->produce_waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

static void wait_finish(broker_t *b, produce_wait_t *w)
{
    wait_unlink(b, w);
    loop_timer_stop(b->loop, &w->timer);
    kreq_t *r = w->r;
    r->wait = NULL;
    for (int i = 0; i < w->nparts; i++)
        if (!w->parts[i].done)
            w->parts[i].out->error_code = KERR_REQUEST_TIMED_OUT;
    kreq_respond(r, w->resp);
}

static void wait_timeout(loop_t *l, void *ctx)
{
    produce_wait_t *w = ctx;
    (void)l;
    wait_finish(w->r->b, w);
}

void produce_wake(broker_t *b, partition_t *p, int err)
{
    produce_wait_t *w = b->produce_waits;
    while (w) {
        produce_wait_t *next = w->next;
        for (int i = 0; i < w->nparts; i++) {
            pw_part_t *pp = &w->parts[i];
            if (pp->done || pp->p != p)
                continue;
            if (err || partition_failed(p)) {
                pp->out->error_code = KERR_KAFKA_STORAGE_ERROR;
                pp->out->base_offset = -1;
            } else if (partition_high_watermark(p) < pp->target) {
                continue;
            }
            pp->done = true;
            w->remaining--;
        }
        if (w->remaining == 0)
            wait_finish(b, w);
        w = next;
    }
}

void produce_forget_partition(broker_t *b, partition_t *p)
{
    /* The partition is going away (topic deletion): answer its waiters. */
    produce_wait_t *w = b->produce_waits;
    while (w) {
        produce_wait_t *next = w->next;
        for (int i = 0; i < w->nparts; i++) {
            pw_part_t *pp = &w->parts[i];
            if (!pp->done && pp->p == p) {
                pp->out->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                pp->done = true;
                w->remaining--;
            }
        }
        if (w->remaining == 0)
            wait_finish(b, w);
        w = next;
    }
}

void produce_stop(broker_t *b)
{
    while (b->produce_waits)
        wait_finish(b, b->produce_waits);
}

void handle_produce(kreq_t *r)
{
    broker_t *b = r->b;
    produce_req_t *req = r->body;
    produce_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    int ntop = req->topic_data.n > 0 ? req->topic_data.n : 0, total = 0;
    produce_req_topic_produce_data_t *tds = req->topic_data.v;
    produce_resp_topic_produce_response_t *tr =
        arena_alloc(&r->arena, (size_t)(ntop ? ntop : 1) * sizeof *tr);
    if (!resp || !tr)
        goto oom;
    for (int i = 0; i < ntop; i++)
        total += tds[i].partition_data.n > 0 ? tds[i].partition_data.n : 0;
    pw_part_t *parts = arena_alloc(&r->arena, (size_t)(total ? total : 1) * sizeof *parts);
    if (!parts)
        goto oom;
    int nwait = 0;
    int64_t budget = MAX_UNCOMPRESSED_REQUEST;
    bool acks_ok = req->acks == -1 || req->acks == 0 || req->acks == 1;

    for (int i = 0; i < ntop; i++) {
        produce_req_topic_produce_data_t *td = &tds[i];
        int np = td->partition_data.n > 0 ? td->partition_data.n : 0;
        produce_req_partition_produce_data_t *pd = td->partition_data.v;
        presp_t *pr = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *pr);
        if (!pr)
            goto oom;
        tr[i].name = td->name;
        tr[i].partition_responses = (karray_t){pr, np};
        int16_t terr = KERR_NONE;
        log_topic_t *t = acks_ok ? broker_topic(b, td->name, false, &terr) : NULL;
        if (t && broker_topic_internal(log_topic_name(t))) {
            t = NULL;
            terr = KERR_INVALID_TOPIC_EXCEPTION;    /* as Kafka answers */
        }
        for (int j = 0; j < np; j++) {
            presp_t *o = &pr[j];
            o->index = pd[j].index;
            o->base_offset = -1;
            o->log_append_time_ms = -1;
            o->log_start_offset = -1;
            if (!acks_ok) {
                o->error_code = KERR_INVALID_REQUIRED_ACKS;
                continue;
            }
            partition_t *p = t ? log_topic_partition(t, pd[j].index) : NULL;
            if (!p) {
                o->error_code = t ? KERR_UNKNOWN_TOPIC_OR_PARTITION : terr;
                continue;
            }
            int64_t last = -1;
            o->error_code = append_records(r, p, pd[j].records, o, &last, &budget);
            o->log_start_offset = partition_log_start_offset(p);
            if (o->error_code == KERR_NONE && last >= partition_high_watermark(p))
                parts[nwait++] = (pw_part_t){p, last + 1, o, false};
            else if (o->error_code != KERR_NONE)
                o->base_offset = -1;
        }
    }
    resp->responses = (karray_t){tr, ntop};

    if (req->acks == 0) {
        kreq_no_response(r);
        return;
    }
    if (nwait == 0) {
        kreq_respond(r, resp);
        return;
    }
    /* Invariant (1): park until the covering fsync completes. */
    produce_wait_t *w = arena_alloc(&r->arena, sizeof *w);
    if (!w)
        goto oom;
    w->r = r;
    w->resp = resp;
    w->parts = parts;
    w->nparts = w->remaining = nwait;
    loop_timer_init(&w->timer);
    w->next = b->produce_waits;
    if (w->next)
        w->next->prev = w;
    b->produce_waits = w;
    r->wait = w;
    r->state = KREQ_WAITING;
    loop_timer_start(b->loop, &w->timer, req->timeout_ms > 0 ? req->timeout_ms : 30000,
                     wait_timeout, w);
    return;
oom:
    kreq_abort(r);
}

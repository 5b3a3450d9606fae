/*
 * offsets.c -- committed offsets: OffsetCommit, OffsetFetch, DeleteGroups,
 * TxnOffsetCommit, and their durable home, the compacted internal topic
 * __consumer_offsets.
 *
 * Records use Apache Kafka's own formats, so the topic reads like Kafka's:
 * key   = int16 version 1, string group, string topic, int32 partition;
 * value = int16 version 3, int64 offset, int32 leader epoch, string
 *         metadata, int64 commit timestamp;  a null value is a tombstone.
 * One OffsetCommit is one batch, in partition partitionFor(group) =
 * Utils.abs(group.hashCode) % partitions, as Kafka computes it.  On start
 * every partition is replayed into the in-memory map group -> (topic,
 * partition) -> offset; compaction (cleanup.policy=compact) keeps the topic
 * small.
 *
 * Transactions (txn.c) commit offsets as Kafka does: a TxnOffsetCommit is
 * one transactional batch carrying the producer's id and epoch, and its
 * offsets stay pending until the transaction coordinator writes the commit
 * marker to the same partition (then they apply) or the abort marker (then
 * they are dropped).  Replay does the same at each marker it meets.
 *
 * Invariants:
 *  (1) An OffsetCommit or DeleteGroups is answered with success only after
 *      the group-commit fsync covering its batch: it waits until the
 *      partition's high watermark passes the batch's last offset.  A failed
 *      append or fsync answers an error, never success.
 *  (2) The in-memory offsets are the replay of the log including its
 *      unsynced tail: a commit is applied when its batch is appended, in log
 *      order.  So an offset may be fetched a moment before it is durable; a
 *      crash in that window can only move a committed position back, which
 *      re-delivers records and never skips them.
 *  (3) All of a group's records go to one partition, so their log order is
 *      the order they were applied in.
 *  (4) Replay trusts nothing on disk: batch CRCs, record keys and values are
 *      checked and records that do not parse are skipped, with a warning.
 *  (5) A transactional offset is applied when the commit marker is appended,
 *      never before; pending ones are invisible to OffsetFetch.  As with (2),
 *      memory may run ahead of the fsync, but only for a transaction whose
 *      Prepare record is already durable, which recovery finishes the same
 *      way.
 */
#include "group_int.h"
#include "txn_int.h"
#include "kerr.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/kp_clock.h"
#include "../core/logging.h"
#include "../io/file.h"
#include "../log/batch.h"
#include "../log/records.h"
#include "../log/txn.h"

#include <inttypes.h>
#include <string.h>

#define OFFSETS_READ_BYTES (1 << 20)
#define OFFSETS_MAX_UNCOMPRESSED (64u << 20)

/* ---- Kafka's hash and record formats ---- */

int32_t group_java_hash(const char *p, size_t len)
{
    const uint8_t *s = (const uint8_t *)p, *end = s + len;
    uint32_t h = 0;
    while (s < end) {
        uint32_t cp = 0xFFFD;
        size_t n = 1;
        uint8_t c = s[0];
        if (c < 0x80) {
            cp = c;
        } else {
            size_t need = c >= 0xF0 && c <= 0xF4 ? 4
                        : c >= 0xE0 && c < 0xF0 ? 3
                        : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            if (need && (size_t)(end - s) >= need) {
                uint32_t v = c & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
                bool ok = true;
                for (size_t i = 1; i < need && ok; i++) {
                    ok = (s[i] & 0xC0) == 0x80;
                    v = (v << 6) | (s[i] & 0x3F);
                }
                if (ok && ((need == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
                           (need == 4 && (v < 0x10000 || v > 0x10FFFF))))
                    ok = false;
                if (ok) {
                    cp = v;
                    n = need;
                }
            }
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = h * 31 + (0xD800 + (cp >> 10));
            h = h * 31 + (0xDC00 + (cp & 0x3FF));
        } else {
            h = h * 31 + cp;
        }
        s += n;
    }
    return (int32_t)h;
}

int32_t group_partition_for(kstr_t group_id, int32_t n)
{
    if (n <= 0)
        return 0;
    int32_t h = group_java_hash(group_id.p, group_id.len > 0 ? (size_t)group_id.len : 0);
    int32_t a = h == INT32_MIN ? 0 : h < 0 ? -h : h;      /* Kafka's Utils.abs */
    return a % n;
}

static size_t put_str(uint8_t *out, kstr_t s)
{
    int32_t len = s.len > 0 ? s.len : 0;
    kp_put_be16(out, (uint16_t)len);
    if (len)
        memcpy(out + 2, s.p, (size_t)len);
    return 2 + (size_t)len;
}

size_t group_offset_key_size(kstr_t group, kstr_t topic)
{
    return 2 + 2 + (size_t)(group.len > 0 ? group.len : 0) + 2 +
           (size_t)(topic.len > 0 ? topic.len : 0) + 4;
}

size_t group_offset_key_encode(uint8_t *out, kstr_t group, kstr_t topic, int32_t partition)
{
    size_t n = 0;
    kp_put_be16(out, 1);
    n += 2;
    n += put_str(out + n, group);
    n += put_str(out + n, topic);
    kp_put_be32(out + n, (uint32_t)partition);
    return n + 4;
}

size_t group_offset_value_size(kstr_t metadata)
{
    return 2 + 8 + 4 + 2 + (size_t)(metadata.len > 0 ? metadata.len : 0) + 8;
}

size_t group_offset_value_encode(uint8_t *out, int64_t offset, int32_t leader_epoch,
                                 kstr_t metadata, int64_t commit_timestamp)
{
    size_t n = 0;
    kp_put_be16(out, 3);
    n += 2;
    kp_put_be64(out + n, (uint64_t)offset);
    n += 8;
    kp_put_be32(out + n, (uint32_t)leader_epoch);
    n += 4;
    n += put_str(out + n, metadata);
    kp_put_be64(out + n, (uint64_t)commit_timestamp);
    return n + 8;
}

int group_offset_key_decode(const uint8_t *p, size_t len, group_offset_key_t *k)
{
    krd_t rd;
    krd_init(&rd, p, len);
    memset(k, 0, sizeof *k);
    k->version = krd_i16(&rd);
    if (rd.err)
        return KP_ECORRUPT;
    if (k->version < 0 || k->version > 2)
        return KP_EUNSUPPORTED;
    k->group = krd_str(&rd, false, false);
    if (k->version <= 1) {
        k->topic = krd_str(&rd, false, false);
        k->partition = krd_i32(&rd);
    }
    return rd.err ? KP_ECORRUPT : 0;
}

int group_offset_value_decode(const uint8_t *p, size_t len, group_offset_value_t *v)
{
    krd_t rd;
    krd_init(&rd, p, len);
    memset(v, 0, sizeof *v);
    v->version = krd_i16(&rd);
    if (rd.err)
        return KP_ECORRUPT;
    if (v->version < 0 || v->version > 3)
        return KP_EUNSUPPORTED;
    v->offset = krd_i64(&rd);
    v->leader_epoch = -1;
    if (v->version == 3)
        v->leader_epoch = krd_i32(&rd);
    v->metadata = krd_str(&rd, false, false);
    v->commit_timestamp = krd_i64(&rd);
    if (v->version == 1)
        (void)krd_i64(&rd);         /* expire timestamp: retention is ours */
    return rd.err ? KP_ECORRUPT : 0;
}

/* ---- the in-memory map ---- */

static int okey_cmp(const group_offset_t *o, kstr_t topic, int32_t partition)
{
    int32_t la = o->topic.len > 0 ? o->topic.len : 0, lb = topic.len > 0 ? topic.len : 0;
    int32_t m = la < lb ? la : lb;
    int c = m ? memcmp(o->topic.p, topic.p, (size_t)m) : 0;
    if (c)
        return c;
    if (la != lb)
        return la < lb ? -1 : 1;
    return o->partition < partition ? -1 : o->partition > partition ? 1 : 0;
}

/* Index of the entry, or of where it would go (*found false). */
static int offset_search(const group_t *g, kstr_t topic, int32_t partition, bool *found)
{
    int lo = 0, hi = g->noffsets;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = okey_cmp(&g->offsets[mid], topic, partition);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

group_offset_t *group_offset_find(group_t *g, kstr_t topic, int32_t partition)
{
    bool found;
    int i = offset_search(g, topic, partition, &found);
    return found ? &g->offsets[i] : NULL;
}

int group_offset_set(group_t *g, kstr_t topic, int32_t partition, int64_t offset,
                     int32_t leader_epoch, kstr_t metadata, int64_t commit_timestamp)
{
    bool found;
    int i = offset_search(g, topic, partition, &found);
    gstr_t md = {NULL, -1};
    if (gstr_set(&md, metadata.p, metadata.len > 0 ? metadata.len : 0))
        return KP_ENOMEM;
    if (!found) {
        gstr_t t = {NULL, -1};
        if (gstr_set(&t, topic.p, topic.len > 0 ? topic.len : 0)) {
            gstr_free(&md);
            return KP_ENOMEM;
        }
        if (g->noffsets == g->capoffsets) {
            int nc = g->capoffsets ? g->capoffsets * 2 : 8;
            group_offset_t *a = kp_realloc(g->offsets, (size_t)nc * sizeof *a);
            if (!a) {
                gstr_free(&md);
                gstr_free(&t);
                return KP_ENOMEM;
            }
            g->offsets = a;
            g->capoffsets = nc;
        }
        memmove(&g->offsets[i + 1], &g->offsets[i],
                (size_t)(g->noffsets - i) * sizeof *g->offsets);
        g->noffsets++;
        g->offsets[i] = (group_offset_t){.topic = t, .partition = partition,
                                         .metadata = {NULL, -1}};
    }
    group_offset_t *o = &g->offsets[i];
    gstr_free(&o->metadata);
    o->metadata = md;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    o->commit_timestamp = commit_timestamp;
    return 0;
}

static void offset_free(group_offset_t *o)
{
    gstr_free(&o->topic);
    gstr_free(&o->metadata);
}

void group_offset_remove(group_t *g, kstr_t topic, int32_t partition)
{
    bool found;
    int i = offset_search(g, topic, partition, &found);
    if (!found)
        return;
    offset_free(&g->offsets[i]);
    memmove(&g->offsets[i], &g->offsets[i + 1],
            (size_t)(g->noffsets - i - 1) * sizeof *g->offsets);
    g->noffsets--;
}

void group_offsets_free(group_t *g)
{
    for (int i = 0; i < g->noffsets; i++)
        offset_free(&g->offsets[i]);
    kp_free(g->offsets);
    g->offsets = NULL;
    g->noffsets = g->capoffsets = 0;
}

/* ---- the topic ---- */

static log_topic_t *offsets_topic(group_coord_t *gc)
{
    broker_t *b = gc->b;
    log_topic_t *t = log_topic_find(b->log, GROUP_OFFSETS_TOPIC);
    if (t)
        return t;
    static const char *const overrides[] = {
        "cleanup.policy", "compact",
        "segment.bytes", GROUP_OFFSETS_SEGMENT_BYTES,
        "max.message.bytes", GROUP_OFFSETS_MAX_MESSAGE_BYTES,
        NULL,
    };
    int32_t n = b->cfg.offsets_topic_num_partitions > 0 ? b->cfg.offsets_topic_num_partitions : 50;
    int rc = log_topic_create(b->log, GROUP_OFFSETS_TOPIC, n, overrides);
    if (rc) {
        KP_ERROR("cannot create %s: %s", GROUP_OFFSETS_TOPIC, kp_strerror(rc));
        return NULL;
    }
    KP_INFO("created %s with %d partitions", GROUP_OFFSETS_TOPIC, n);
    return log_topic_find(b->log, GROUP_OFFSETS_TOPIC);
}

/* Finish bb and append it to the group's partition. */
static int offsets_append(group_coord_t *gc, kstr_t group, batch_builder_t *bb, int32_t *pidx,
                          int64_t *last)
{
    uint8_t *batch;
    size_t len;
    int rc = batch_builder_finish(bb, -1, &batch, &len);
    if (rc)
        return rc;
    log_topic_t *t = offsets_topic(gc);
    int32_t idx = t ? group_partition_for(group, log_topic_partitions(t)) : 0;
    partition_t *p = t ? log_topic_partition(t, idx) : NULL;
    partition_append_result_t res;
    rc = p ? partition_append(p, batch, len, &res) : KP_ENOTFOUND;
    kp_free(batch);
    if (rc == 0) {
        *pidx = idx;
        *last = res.last_offset;
    } else {
        KP_WARN("group %.*s: cannot append to %s: %s", group.len, group.p, GROUP_OFFSETS_TOPIC,
                kp_strerror(rc));
    }
    return rc;
}

/* Kafka's mapping of append errors for the group APIs. */
static int16_t append_error(int rc)
{
    switch (rc) {
    case KP_ETOOLARGE: return KERR_INVALID_COMMIT_OFFSET_SIZE;
    case KP_ENOTFOUND: return KERR_COORDINATOR_NOT_AVAILABLE;
    case KP_ENOMEM: return KERR_UNKNOWN_SERVER_ERROR;
    default: return KERR_NOT_COORDINATOR;   /* storage errors, as Kafka */
    }
}

/* A tombstone batch for some of g's offsets (all when which == NULL). */
static int tombstones_append(group_t *g, const bool *which, int32_t *pidx, int64_t *last)
{
    batch_builder_t bb;
    int64_t now = kp_now_ms();
    int rc = batch_builder_init(&bb, 0, now, -1, -1, -1);
    if (rc)
        return rc;
    int32_t delta = 0;
    for (int i = 0; i < g->noffsets && rc == 0; i++) {
        if (which && !which[i])
            continue;
        group_offset_t *o = &g->offsets[i];
        uint8_t key[2 + 2 + GROUP_ID_MAX + 2 + 0x7fff + 4];
        if (group_offset_key_size(gstr_k(&g->id), gstr_k(&o->topic)) > sizeof key)
            continue;
        size_t kl = group_offset_key_encode(key, gstr_k(&g->id), gstr_k(&o->topic), o->partition);
        rc = batch_builder_add(&bb, delta++, now, key, (int32_t)kl, NULL, -1, NULL, 0, 0);
    }
    if (rc == 0 && delta == 0) {
        batch_builder_free(&bb);
        return KP_ENOTFOUND;
    }
    if (rc) {
        batch_builder_free(&bb);
        return rc;
    }
    return offsets_append(g->gc, gstr_k(&g->id), &bb, pidx, last);
}

/* ---- waiting for the fsync ---- */

typedef struct ow_part {
    int32_t partition;          /* of __consumer_offsets */
    int64_t target;             /* answer once the high watermark reaches it */
    int16_t err;
    bool done;
} ow_part_t;

/* A response error code that takes its part's error if the part fails. */
typedef struct ow_target {
    int16_t *err;
    int part;
} ow_target_t;

struct offsets_wait {
    group_coord_t *gc;
    kreq_t *r;
    void *resp;
    ow_part_t *parts;
    int nparts, remaining;
    ow_target_t *targets;
    int ntargets;
    loop_timer_t timer;
    offsets_wait_t *next, *prev;
};

static offsets_wait_t *wait_new(kreq_t *r, void *resp, int nparts, int ntargets)
{
    offsets_wait_t *w = arena_alloc(&r->arena, sizeof *w);
    if (!w)
        return NULL;
    w->parts = arena_alloc(&r->arena, (size_t)(nparts ? nparts : 1) * sizeof *w->parts);
    w->targets = arena_alloc(&r->arena, (size_t)(ntargets ? ntargets : 1) * sizeof *w->targets);
    if (!w->parts || !w->targets)
        return NULL;
    w->gc = r->b->groups;
    w->r = r;
    w->resp = resp;
    loop_timer_init(&w->timer);
    return w;
}

static void wait_finish(offsets_wait_t *w)
{
    group_coord_t *gc = w->gc;
    if (w->prev)
        w->prev->next = w->next;
    else
        gc->waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    loop_timer_stop(gc->b->loop, &w->timer);
    for (int i = 0; i < w->ntargets; i++) {
        ow_part_t *p = &w->parts[w->targets[i].part];
        int16_t e = p->done ? p->err : KERR_REQUEST_TIMED_OUT;
        if (e != KERR_NONE)
            *w->targets[i].err = e;
    }
    kreq_t *r = w->r;
    r->wait = NULL;
    kreq_respond(r, w->resp);
}

static void wait_timeout(loop_t *l, void *ctx)
{
    (void)l;
    wait_finish(ctx);
}

/* Invariant (1): park the request until its batches are synced. */
static void wait_park(offsets_wait_t *w)
{
    group_coord_t *gc = w->gc;
    w->remaining = w->nparts;
    w->prev = NULL;
    w->next = gc->waits;
    if (w->next)
        w->next->prev = w;
    gc->waits = w;
    w->r->wait = w;
    w->r->state = KREQ_WAITING;
    loop_timer_start(gc->b->loop, &w->timer, GROUP_COMMIT_TIMEOUT_MS, wait_timeout, w);
}

void group_offsets_wake(broker_t *b, partition_t *p, int err)
{
    group_coord_t *gc = b->groups;
    if (!gc || !gc->waits || strcmp(partition_topic(p), GROUP_OFFSETS_TOPIC) != 0)
        return;
    int32_t idx = partition_id(p);
    int64_t hw = partition_high_watermark(p);
    bool failed = err || partition_failed(p);
    offsets_wait_t *w = gc->waits;
    while (w) {
        offsets_wait_t *next = w->next;
        for (int i = 0; i < w->nparts; i++) {
            ow_part_t *pp = &w->parts[i];
            if (pp->done || pp->partition != idx)
                continue;
            if (failed)
                pp->err = KERR_NOT_COORDINATOR;
            else if (hw < pp->target)
                continue;
            pp->done = true;
            w->remaining--;
        }
        if (w->remaining == 0)
            wait_finish(w);
        w = next;
    }
}

static void txn_offset_free(group_txn_offset_t *o)
{
    gstr_free(&o->group);
    gstr_free(&o->topic);
    gstr_free(&o->metadata);
}

void group_offsets_stop(group_coord_t *gc)
{
    while (gc->waits)
        wait_finish(gc->waits);
    for (int i = 0; i < gc->ntxn_offsets; i++)
        txn_offset_free(&gc->txn_offsets[i]);
    kp_free(gc->txn_offsets);
    gc->txn_offsets = NULL;
    gc->ntxn_offsets = gc->captxn_offsets = 0;
    kp_free(gc->txn_producers);
    gc->txn_producers = NULL;
    gc->ntxn_producers = gc->captxn_producers = 0;
}

/* ---- OffsetCommit ---- */

typedef offset_commit_resp_offset_commit_response_partition_t ocp_t;

/* Kafka's doCommitOffsets checks; g may be created (generation < 0). */
static int16_t commit_group_check(kreq_t *r, const offset_commit_req_t *req, group_t **gout)
{
    group_coord_t *gc = r->b->groups;
    int32_t gen = req->generation_id_or_member_epoch;
    *gout = NULL;
    if (!gc)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (!group_id_valid(req->group_id, true))
        return KERR_INVALID_GROUP_ID;
    group_t *g = group_find(gc, req->group_id);
    if (!g) {
        if (gen >= 0)
            return KERR_ILLEGAL_GENERATION;
        g = group_get(gc, req->group_id);   /* offsets without group management */
        if (!g)
            return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    *gout = g;
    if (g->state == GROUP_DEAD)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (group_static_fenced(g, req->member_id, req->group_instance_id))
        return GROUP_KERR_FENCED_INSTANCE_ID;
    if (gen < 0 && g->state == GROUP_EMPTY)
        return KERR_NONE;
    group_member_t *m = group_member_find(g, req->member_id);
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    if (gen != g->generation)
        return KERR_ILLEGAL_GENERATION;
    if (g->state == GROUP_COMPLETING_REBALANCE)
        return KERR_REBALANCE_IN_PROGRESS;
    /* Stable, or PreparingRebalance: the heartbeat tells it to rejoin. */
    group_member_heartbeat(m);
    return KERR_NONE;
}

void handle_offset_commit(kreq_t *r)
{
    broker_t *b = r->b;
    offset_commit_req_t *req = r->body;
    offset_commit_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    int nt = req->topics.n > 0 ? req->topics.n : 0;
    offset_commit_req_offset_commit_request_topic_t *rt = req->topics.v;
    offset_commit_resp_offset_commit_response_topic_t *ot =
        arena_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *ot);
    if (!resp || !ot)
        goto oom;
    resp->topics = (karray_t){ot, nt};
    for (int i = 0; i < nt; i++) {
        int np = rt[i].partitions.n > 0 ? rt[i].partitions.n : 0;
        ocp_t *op = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *op);
        if (!op)
            goto oom;
        offset_commit_req_offset_commit_request_partition_t *rp = rt[i].partitions.v;
        for (int j = 0; j < np; j++)
            op[j].partition_index = rp[j].partition_index;
        ot[i].name = rt[i].name;
        ot[i].partitions = (karray_t){op, np};
    }

    group_t *g;
    int16_t gerr = commit_group_check(r, req, &g);
    /* Per partition: the topic must exist, the metadata fit. */
    int nvalid = 0;
    for (int i = 0; i < nt; i++) {
        int16_t terr;
        log_topic_t *t = gerr ? NULL : broker_topic(b, rt[i].name, false, &terr);
        offset_commit_req_offset_commit_request_partition_t *rp = rt[i].partitions.v;
        ocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n; j++) {
            if (gerr)
                op[j].error_code = gerr;
            else if (!t || !log_topic_partition(t, rp[j].partition_index))
                op[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (rp[j].committed_metadata.len > GROUP_OFFSET_METADATA_MAX)
                op[j].error_code = KERR_OFFSET_METADATA_TOO_LARGE;
            else
                nvalid++;
        }
    }
    if (nvalid == 0) {
        kreq_respond(r, resp);
        return;
    }

    offsets_wait_t *w = wait_new(r, resp, 1, nvalid);
    if (!w)
        goto oom;
    batch_builder_t bb;
    int64_t now = kp_now_ms();
    int rc = batch_builder_init(&bb, 0, now, -1, -1, -1);
    int32_t delta = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
        offset_commit_req_offset_commit_request_partition_t *rp = rt[i].partitions.v;
        ocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n && rc == 0; j++) {
            if (op[j].error_code != KERR_NONE)
                continue;
            uint8_t key[2 + 2 + GROUP_ID_MAX + 2 + 256 + 4];
            uint8_t val[2 + 8 + 4 + 2 + GROUP_OFFSET_METADATA_MAX + 8];
            size_t kl = group_offset_key_encode(key, req->group_id, rt[i].name,
                                                rp[j].partition_index);
            size_t vl = group_offset_value_encode(val, rp[j].committed_offset,
                                                  rp[j].committed_leader_epoch,
                                                  rp[j].committed_metadata, now);
            rc = batch_builder_add(&bb, delta++, now, key, (int32_t)kl, val, (int32_t)vl,
                                   NULL, 0, 0);
            w->targets[w->ntargets++] = (ow_target_t){&op[j].error_code, 0};
        }
    }
    int32_t pidx = 0;
    int64_t last = -1;
    if (rc)
        batch_builder_free(&bb);
    else
        rc = offsets_append(b->groups, req->group_id, &bb, &pidx, &last);
    if (rc) {
        int16_t e = append_error(rc);
        for (int i = 0; i < w->ntargets; i++)
            *w->targets[i].err = e;
        kreq_respond(r, resp);
        return;
    }
    /* Invariant (2): apply in log order, now. */
    for (int i = 0; i < nt; i++) {
        offset_commit_req_offset_commit_request_partition_t *rp = rt[i].partitions.v;
        ocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n; j++)
            if (op[j].error_code == KERR_NONE &&
                group_offset_set(g, rt[i].name, rp[j].partition_index, rp[j].committed_offset,
                                 rp[j].committed_leader_epoch, rp[j].committed_metadata, now))
                op[j].error_code = KERR_UNKNOWN_SERVER_ERROR;
    }
    w->parts[0] = (ow_part_t){pidx, last + 1, KERR_NONE, false};
    w->nparts = 1;
    wait_park(w);
    return;
oom:
    kreq_abort(r);
}

/* ---- transactional offsets: TxnOffsetCommit and the markers ---- */

int32_t group_offsets_partition(broker_t *b, kstr_t group)
{
    log_topic_t *t = b->groups ? offsets_topic(b->groups) : NULL;
    return t ? group_partition_for(group, log_topic_partitions(t)) : -1;
}

static group_txn_producer_t *txn_producer(group_coord_t *gc, int64_t pid, int32_t pidx,
                                          bool create)
{
    for (int i = 0; i < gc->ntxn_producers; i++)
        if (gc->txn_producers[i].producer_id == pid &&
            gc->txn_producers[i].offsets_partition == pidx)
            return &gc->txn_producers[i];
    if (!create)
        return NULL;
    if (gc->ntxn_producers == gc->captxn_producers) {
        int ncap = gc->captxn_producers ? gc->captxn_producers * 2 : 16;
        group_txn_producer_t *n = kp_realloc(gc->txn_producers, (size_t)ncap * sizeof *n);
        if (!n)
            return NULL;
        gc->txn_producers = n;
        gc->captxn_producers = ncap;
    }
    group_txn_producer_t *e = &gc->txn_producers[gc->ntxn_producers++];
    *e = (group_txn_producer_t){pid, pidx, -1, -1};
    return e;
}

static int32_t seq_after(int32_t seq, int32_t n)
{
    int64_t s = (int64_t)seq + n;       /* sequences wrap from INT32_MAX to 0 */
    return (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
}

/* A batch of the producer is in the partition (appended or replayed). */
static void txn_producer_batch(group_coord_t *gc, const batch_header_t *h, int32_t pidx)
{
    group_txn_producer_t *e = txn_producer(gc, h->producer_id, pidx, true);
    if (!e || h->producer_epoch < e->epoch)
        return;             /* no memory: the next append falls back to 0 */
    e->epoch = h->producer_epoch;
    e->last_seq = seq_after(h->base_sequence, h->last_offset_delta);
}

/* The base sequence the log expects of the producer's next batch: the log
 * starts a new epoch (or a producer it does not know) at 0. */
static int32_t txn_producer_next_seq(group_coord_t *gc, int64_t pid, int32_t pidx,
                                     int16_t epoch)
{
    const group_txn_producer_t *e = txn_producer(gc, pid, pidx, false);
    if (!e || e->epoch != epoch || e->last_seq < 0)
        return 0;
    return seq_after(e->last_seq, 1);
}

/* A pending offset; a later commit in the same transaction replaces it. */
static int txn_offset_add(group_coord_t *gc, const batch_header_t *h, int32_t pidx,
                          kstr_t group, kstr_t topic, int32_t partition, int64_t offset,
                          int32_t leader_epoch, kstr_t metadata, int64_t commit_timestamp)
{
    group_txn_offset_t *o = NULL;
    for (int i = 0; i < gc->ntxn_offsets && !o; i++) {
        group_txn_offset_t *x = &gc->txn_offsets[i];
        if (x->producer_id == h->producer_id && x->partition == partition &&
            kstr_same(gstr_k(&x->group), group) && kstr_same(gstr_k(&x->topic), topic))
            o = x;
    }
    if (!o) {
        if (gc->ntxn_offsets == gc->captxn_offsets) {
            int ncap = gc->captxn_offsets ? gc->captxn_offsets * 2 : 16;
            group_txn_offset_t *n = kp_realloc(gc->txn_offsets, (size_t)ncap * sizeof *n);
            if (!n)
                return KP_ENOMEM;
            gc->txn_offsets = n;
            gc->captxn_offsets = ncap;
        }
        group_txn_offset_t x = {.producer_id = h->producer_id, .offsets_partition = pidx,
                                .partition = partition};
        if (gstr_set(&x.group, group.p, group.len) || gstr_set(&x.topic, topic.p, topic.len)) {
            txn_offset_free(&x);
            return KP_ENOMEM;
        }
        gc->txn_offsets[gc->ntxn_offsets] = x;
        o = &gc->txn_offsets[gc->ntxn_offsets++];
    }
    if (gstr_set(&o->metadata, metadata.p, metadata.len))
        return KP_ENOMEM;
    o->producer_epoch = h->producer_epoch;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    o->commit_timestamp = commit_timestamp;
    return 0;
}

void group_txn_offsets_complete(broker_t *b, int32_t offsets_partition, int64_t pid,
                                int16_t epoch, bool commit)
{
    group_coord_t *gc = b->groups;
    if (!gc)
        return;
    group_txn_producer_t *e = txn_producer(gc, pid, offsets_partition, false);
    if (e && epoch > e->epoch) {
        e->epoch = epoch;   /* the log starts the new epoch at sequence 0 */
        e->last_seq = -1;
    }
    int kept = 0;
    for (int i = 0; i < gc->ntxn_offsets; i++) {
        group_txn_offset_t *o = &gc->txn_offsets[i];
        if (o->producer_id != pid || o->offsets_partition != offsets_partition) {
            gc->txn_offsets[kept++] = *o;
            continue;
        }
        if (commit) {
            group_t *g = group_get(gc, gstr_k(&o->group));
            if (!g || group_offset_set(g, gstr_k(&o->topic), o->partition, o->offset,
                                       o->leader_epoch, gstr_k(&o->metadata),
                                       o->commit_timestamp))
                KP_ERROR("group %s: out of memory applying a committed transactional offset "
                         "for %s-%d (a restart reloads it)", o->group.p, o->topic.p,
                         o->partition);
        }
        txn_offset_free(o);
    }
    gc->ntxn_offsets = kept;
}

void group_txn_offsets_orphans(broker_t *b)
{
    group_coord_t *gc = b->groups;
    log_topic_t *t = gc ? offsets_topic(gc) : NULL;
    for (int i = 0; t && i < gc->ntxn_offsets;) {
        group_txn_offset_t *o = &gc->txn_offsets[i];
        int64_t pid = o->producer_id;
        int32_t pidx = o->offsets_partition;
        if (txn_coord_producer_open(b, pid)) {
            i++;
            continue;
        }
        /* The transaction that wrote them is not open: close it here too,
         * so compaction (which waits for the last stable offset) goes on. */
        const group_txn_producer_t *e = txn_producer(gc, pid, pidx, false);
        int16_t epoch = e && e->epoch > o->producer_epoch ? e->epoch : o->producer_epoch;
        partition_t *p = log_topic_partition(t, pidx);
        partition_append_result_t res;
        int rc = p ? partition_append_marker(p, pid, epoch, false, 0, &res) : KP_ENOTFOUND;
        KP_WARN("%s-%d: transactional offsets of producer %" PRId64 " belong to no open "
                "transaction; aborted%s%s", GROUP_OFFSETS_TOPIC, pidx, pid,
                rc ? " in memory only: " : "", rc ? kp_strerror(rc) : "");
        group_txn_offsets_complete(b, pidx, pid, epoch, false);
        i = 0;              /* the array was compacted */
    }
}

typedef txn_offset_commit_resp_txn_offset_commit_response_partition_t tocp_t;
typedef txn_offset_commit_resp_txn_offset_commit_response_topic_t toct_t;

/* The batch of a TxnOffsetCommit: the valid partitions' records, marked
 * transactional and carrying the producer's id, epoch and next sequence. */
static int txn_commit_batch(batch_builder_t *bb, const txn_offset_commit_req_t *req,
                            const toct_t *ot, int nt, int32_t seq, int64_t now)
{
    int rc = batch_builder_init(bb, BATCH_ATTR_TRANSACTIONAL, now, req->producer_id,
                                req->producer_epoch, seq);
    if (rc)
        return rc;
    const txn_offset_commit_req_txn_offset_commit_request_topic_t *rt = req->topics.v;
    int32_t delta = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
        const txn_offset_commit_req_txn_offset_commit_request_partition_t *rp =
            rt[i].partitions.v;
        const tocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n && rc == 0; j++) {
            if (op[j].error_code != KERR_NONE)
                continue;
            uint8_t key[2 + 2 + GROUP_ID_MAX + 2 + 256 + 4];
            uint8_t val[2 + 8 + 4 + 2 + GROUP_OFFSET_METADATA_MAX + 8];
            size_t kl = group_offset_key_encode(key, req->group_id, rt[i].name,
                                                rp[j].partition_index);
            size_t vl = group_offset_value_encode(val, rp[j].committed_offset,
                                                  rp[j].committed_leader_epoch,
                                                  rp[j].committed_metadata, now);
            rc = batch_builder_add(bb, delta++, now, key, (int32_t)kl, val, (int32_t)vl, NULL,
                                   0, 0);
        }
    }
    if (rc)
        batch_builder_free(bb);
    return rc;
}

void handle_txn_offset_commit(kreq_t *r)
{
    broker_t *b = r->b;
    group_coord_t *gc = b->groups;
    txn_offset_commit_req_t *req = r->body;
    txn_offset_commit_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    int nt = req->topics.n > 0 ? req->topics.n : 0;
    const txn_offset_commit_req_txn_offset_commit_request_topic_t *rt = req->topics.v;
    toct_t *ot = arena_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *ot);
    if (!resp || !ot)
        goto oom;
    resp->topics = (karray_t){ot, nt};
    for (int i = 0; i < nt; i++) {
        int np = rt[i].partitions.n > 0 ? rt[i].partitions.n : 0;
        tocp_t *op = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *op);
        if (!op)
            goto oom;
        const txn_offset_commit_req_txn_offset_commit_request_partition_t *rp =
            rt[i].partitions.v;
        for (int j = 0; j < np; j++)
            op[j].partition_index = rp[j].partition_index;
        ot[i].name = rt[i].name;
        ot[i].partitions = (karray_t){op, np};
    }

    int16_t gerr = KERR_NONE;
    int32_t pidx = -1;
    if (!gc)
        gerr = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (!group_id_valid(req->group_id, false))
        gerr = KERR_INVALID_GROUP_ID;
    else if ((pidx = group_offsets_partition(b, req->group_id)) < 0)
        gerr = KERR_COORDINATOR_NOT_AVAILABLE;
    else
        gerr = txn_coord_check_offsets(b, req->transactional_id, req->producer_id,
                                       req->producer_epoch, pidx);
    int nvalid = 0;
    for (int i = 0; i < nt; i++) {
        int16_t terr;
        log_topic_t *t = gerr ? NULL : broker_topic(b, rt[i].name, false, &terr);
        const txn_offset_commit_req_txn_offset_commit_request_partition_t *rp =
            rt[i].partitions.v;
        tocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n; j++) {
            if (gerr)
                op[j].error_code = gerr;
            else if (!t || !log_topic_partition(t, rp[j].partition_index))
                op[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (rp[j].committed_metadata.len > GROUP_OFFSET_METADATA_MAX)
                op[j].error_code = KERR_OFFSET_METADATA_TOO_LARGE;
            else
                nvalid++;
        }
    }
    if (nvalid == 0) {
        kreq_respond(r, resp);
        return;
    }

    offsets_wait_t *w = wait_new(r, resp, 1, nvalid);
    if (!w)
        goto oom;
    for (int i = 0; i < nt; i++) {
        tocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n; j++)
            if (op[j].error_code == KERR_NONE)
                w->targets[w->ntargets++] = (ow_target_t){&op[j].error_code, 0};
    }
    int64_t now = kp_now_ms();
    int32_t seq = txn_producer_next_seq(gc, req->producer_id, pidx, req->producer_epoch);
    int32_t got_pidx = 0;
    int64_t last = -1;
    batch_builder_t bb;
    int rc = txn_commit_batch(&bb, req, ot, nt, seq, now);
    if (rc == 0)
        rc = offsets_append(gc, req->group_id, &bb, &got_pidx, &last);
    if ((rc == KP_ESEQUENCE || rc == KP_EUNKNOWNPRODUCER) && seq != 0) {
        /* The log lost track of this producer here (a new epoch, or its
         * state compacted away) where we did not: it wants 0. */
        seq = 0;
        rc = txn_commit_batch(&bb, req, ot, nt, seq, now);
        if (rc == 0)
            rc = offsets_append(gc, req->group_id, &bb, &got_pidx, &last);
    }
    if (rc) {
        int16_t e = rc == KP_EFENCED ? KERR_INVALID_PRODUCER_EPOCH
                  : rc == KP_ESEQUENCE || rc == KP_EUNKNOWNPRODUCER ? KERR_UNKNOWN_SERVER_ERROR
                  : append_error(rc);
        for (int i = 0; i < w->ntargets; i++)
            *w->targets[i].err = e;
        kreq_respond(r, resp);
        return;
    }
    batch_header_t h = {.producer_id = req->producer_id, .producer_epoch = req->producer_epoch,
                        .base_sequence = seq, .last_offset_delta = nvalid - 1};
    txn_producer_batch(gc, &h, got_pidx);
    /* Pending until the marker (group_txn_offsets_complete). */
    for (int i = 0; i < nt; i++) {
        const txn_offset_commit_req_txn_offset_commit_request_partition_t *rp =
            rt[i].partitions.v;
        tocp_t *op = ot[i].partitions.v;
        for (int j = 0; j < ot[i].partitions.n; j++)
            if (op[j].error_code == KERR_NONE &&
                txn_offset_add(gc, &h, got_pidx, req->group_id, rt[i].name,
                               rp[j].partition_index, rp[j].committed_offset,
                               rp[j].committed_leader_epoch, rp[j].committed_metadata, now))
                op[j].error_code = KERR_UNKNOWN_SERVER_ERROR;
    }
    w->parts[0] = (ow_part_t){got_pidx, last + 1, KERR_NONE, false};
    w->nparts = 1;
    wait_park(w);
    return;
oom:
    kreq_abort(r);
}

/* ---- OffsetFetch ---- */

typedef offset_fetch_resp_offset_fetch_response_partition_t ofp_t;
typedef offset_fetch_resp_offset_fetch_response_topic_t oft_t;

static void fill_partition(ofp_t *o, int32_t partition, const group_offset_t *x, int16_t err)
{
    o->partition_index = partition;
    o->error_code = err;
    if (x) {
        o->committed_offset = x->offset;
        o->committed_leader_epoch = x->leader_epoch;
        o->metadata = x->metadata.len >= 0 ? gstr_k(&x->metadata) : KSTR("");
    } else {
        o->committed_offset = -1;
        o->committed_leader_epoch = -1;
        o->metadata = KSTR("");
    }
}

void handle_offset_fetch(kreq_t *r)
{
    offset_fetch_req_t *req = r->body;
    offset_fetch_resp_t resp = {0};
    int16_t gerr = KERR_NONE;
    group_t *g = NULL;
    if (!r->b->groups)
        gerr = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (!group_id_valid(req->group_id, true))
        gerr = KERR_INVALID_GROUP_ID;
    else
        g = group_find(r->b->groups, req->group_id);
    resp.error_code = gerr;

    /* The response arrays are kp_malloc'd for the duration of kreq_respond:
     * 40 bytes per partition here against 4 on the wire, or one per
     * committed offset, would overrun the request's arena limit. */
    bool all = req->topics.n < 0;       /* v2+: every partition with an offset */
    int nt = 0;
    size_t np = 0;
    if (all) {
        for (int i = 0; g && i < g->noffsets; i++)
            if (i == 0 || g->offsets[i].topic.len != g->offsets[i - 1].topic.len ||
                !kstr_same(gstr_k(&g->offsets[i].topic), gstr_k(&g->offsets[i - 1].topic)))
                nt++;
        np = g ? (size_t)g->noffsets : 0;
    } else {
        nt = req->topics.n;
        const offset_fetch_req_offset_fetch_request_topic_t *rt = req->topics.v;
        for (int i = 0; i < nt; i++)
            np += (size_t)(rt[i].partition_indexes.n > 0 ? rt[i].partition_indexes.n : 0);
    }
    oft_t *ts = kp_calloc((size_t)(nt ? nt : 1), sizeof *ts);
    ofp_t *ps = kp_calloc(np ? np : 1, sizeof *ps);
    if (!ts || !ps) {
        kp_free(ts);
        kp_free(ps);
        kreq_abort(r);
        return;
    }
    if (all) {
        int k = -1;
        for (int i = 0; g && i < g->noffsets; i++) {
            group_offset_t *x = &g->offsets[i];
            if (i == 0 || x->topic.len != g->offsets[i - 1].topic.len ||
                !kstr_same(gstr_k(&x->topic), gstr_k(&g->offsets[i - 1].topic))) {
                k++;
                ts[k].name = gstr_k(&x->topic);
                ts[k].partitions = (karray_t){&ps[i], 0};
            }
            fill_partition(&ps[i], x->partition, x, KERR_NONE);
            ts[k].partitions.n++;
        }
    } else {
        const offset_fetch_req_offset_fetch_request_topic_t *rt = req->topics.v;
        size_t used = 0;
        for (int i = 0; i < nt; i++) {
            int n = rt[i].partition_indexes.n > 0 ? rt[i].partition_indexes.n : 0;
            const int32_t *pi = rt[i].partition_indexes.v;
            for (int j = 0; j < n; j++)
                fill_partition(&ps[used + (size_t)j], pi[j],
                               g ? group_offset_find(g, rt[i].name, pi[j]) : NULL, gerr);
            ts[i].name = rt[i].name;
            ts[i].partitions = (karray_t){&ps[used], n};
            used += (size_t)n;
        }
    }
    resp.topics = (karray_t){ts, nt};
    kreq_respond(r, &resp);
    kp_free(ts);
    kp_free(ps);
}

/* ---- DeleteGroups ---- */

void handle_delete_groups(kreq_t *r)
{
    delete_groups_req_t *req = r->body;
    delete_groups_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    int n = req->groups_names.n > 0 ? req->groups_names.n : 0;
    const kstr_t *names = req->groups_names.v;
    delete_groups_resp_deletable_group_result_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    offsets_wait_t *w = resp && out ? wait_new(r, resp, n, n) : NULL;
    if (!w)
        goto oom;
    resp->results = (karray_t){out, n};
    w->nparts = 0;
    for (int i = 0; i < n; i++) {
        out[i].group_id = names[i];
        group_t *g = NULL;
        if (!r->b->groups)
            out[i].error_code = KERR_COORDINATOR_NOT_AVAILABLE;
        else if (!group_id_valid(names[i], true))
            out[i].error_code = KERR_INVALID_GROUP_ID;
        else if (!(g = group_find(r->b->groups, names[i])) || g->state == GROUP_DEAD)
            out[i].error_code = KERR_GROUP_ID_NOT_FOUND;
        else if (g->state != GROUP_EMPTY)
            out[i].error_code = KERR_NON_EMPTY_GROUP;
        else
            out[i].error_code = KERR_NONE;
        if (out[i].error_code != KERR_NONE)
            continue;
        if (g->noffsets > 0) {
            int32_t pidx;
            int64_t last;
            int rc = tombstones_append(g, NULL, &pidx, &last);
            if (rc) {
                out[i].error_code = append_error(rc);
                continue;
            }
            w->parts[w->nparts] = (ow_part_t){pidx, last + 1, KERR_NONE, false};
            w->targets[w->ntargets++] = (ow_target_t){&out[i].error_code, w->nparts};
            w->nparts++;
        }
        KP_INFO("group %s: deleted (%d offset(s))", g->id.p, g->noffsets);
        g->state = GROUP_DEAD;
        group_destroy(g, KERR_UNKNOWN_MEMBER_ID);
    }
    if (w->nparts == 0) {
        kreq_respond(r, resp);
        return;
    }
    wait_park(w);
    return;
oom:
    kreq_abort(r);
}

/* ---- retention ---- */

void group_offsets_expire(group_t *g, int64_t now_ms)
{
    broker_t *b = g->gc->b;
    int64_t keep_ms = b->cfg.offsets_retention_minutes * 60000;
    if (g->state != GROUP_EMPTY || g->noffsets == 0 || keep_ms <= 0)
        return;
    bool *which = kp_calloc((size_t)g->noffsets, sizeof *which);
    if (!which)
        return;
    int n = 0;
    for (int i = 0; i < g->noffsets; i++) {
        const group_offset_t *o = &g->offsets[i];
        int64_t since = o->commit_timestamp > g->empty_since_ms ? o->commit_timestamp
                                                                : g->empty_since_ms;
        if (now_ms - since >= keep_ms) {
            which[i] = true;
            n++;
        }
    }
    int32_t pidx;
    int64_t last;
    if (n > 0 && tombstones_append(g, which, &pidx, &last) == 0) {
        KP_INFO("group %s: %d offset(s) expired (offsets.retention.minutes)", g->id.p, n);
        for (int i = g->noffsets - 1; i >= 0; i--)
            if (which[i]) {
                offset_free(&g->offsets[i]);
                memmove(&g->offsets[i], &g->offsets[i + 1],
                        (size_t)(g->noffsets - i - 1) * sizeof *g->offsets);
                g->noffsets--;
            }
    }
    kp_free(which);
}

/* ---- replay at start ---- */

/* txn: the header of the transactional batch holding rec (its offsets wait
 * for the marker), or NULL. */
static int replay_record(group_coord_t *gc, const record_t *rec, int64_t *bad,
                         const batch_header_t *txn, int32_t pidx)
{
    group_offset_key_t k;
    if (!rec->key || rec->key_len < 0 ||
        group_offset_key_decode(rec->key, (size_t)rec->key_len, &k) != 0) {
        (*bad)++;
        return 0;
    }
    if (k.version > 1)
        return 0;                   /* group metadata: membership is not kept */
    if (!group_id_valid(k.group, true))
        return 0;
    if (!rec->value) {
        if (txn)
            return 0;               /* Kafka writes no transactional tombstones */
        group_t *g = group_find(gc, k.group);
        if (g)
            group_offset_remove(g, k.topic, k.partition);
        return 0;
    }
    group_offset_value_t v;
    if (group_offset_value_decode(rec->value, (size_t)rec->value_len, &v) != 0) {
        (*bad)++;
        return 0;
    }
    if (txn)
        return txn_offset_add(gc, txn, pidx, k.group, k.topic, k.partition, v.offset,
                              v.leader_epoch, v.metadata, v.commit_timestamp);
    group_t *g = group_get(gc, k.group);
    if (!g)
        return KP_ENOMEM;
    return group_offset_set(g, k.topic, k.partition, v.offset, v.leader_epoch, v.metadata,
                            v.commit_timestamp);
}

static int replay_batches(group_coord_t *gc, partition_t *p, const uint8_t *buf, size_t len,
                          int64_t *nrec, int64_t *bad)
{
    size_t pos = 0;
    while (len - pos >= BATCH_HEADER_SIZE) {
        batch_header_t h;
        if (batch_header_decode(buf + pos, len - pos, &h) != 0 ||
            (uint64_t)batch_size(&h) > len - pos) {
            KP_WARN("%s: unreadable batch at position %zu; rest of this read skipped",
                    partition_name(p), pos);
            (*bad)++;
            return 0;
        }
        size_t size = (size_t)batch_size(&h);
        const uint8_t *bt = buf + pos;
        pos += size;
        if (batch_crc_check(bt, size) != 0) {
            KP_WARN("%s: batch at offset %lld fails its CRC; skipped", partition_name(p),
                    (long long)h.base_offset);
            (*bad)++;
            continue;
        }
        int32_t pidx = partition_id(p);
        if (h.attributes & BATCH_ATTR_CONTROL) {
            /* A transaction marker: its offsets apply here, in log order. */
            bool commit;
            int32_t coordinator_epoch;
            if (h.producer_id < 0 || txn_marker_parse(bt, size, &commit, &coordinator_epoch)) {
                (*bad)++;
                continue;
            }
            group_txn_offsets_complete(gc->b, pidx, h.producer_id, h.producer_epoch, commit);
            continue;
        }
        bool txnal = h.producer_id >= 0 && (h.attributes & BATCH_ATTR_TRANSACTIONAL);
        if (h.producer_id >= 0)
            txn_producer_batch(gc, &h, pidx);
        record_iter_t it;
        record_t rec;
        int rc = record_iter_init(&it, bt, size, OFFSETS_MAX_UNCOMPRESSED);
        if (rc) {
            (*bad)++;
            continue;
        }
        while ((rc = record_iter_next(&it, &rec)) == 1) {
            (*nrec)++;
            rc = replay_record(gc, &rec, bad, txnal ? &h : NULL, pidx);
            if (rc)
                break;
        }
        record_iter_free(&it);
        if (rc == KP_ENOMEM)
            return rc;
        if (rc < 0)
            (*bad)++;
    }
    return 0;
}

typedef struct replay_ctx {
    group_coord_t *c;
    partition_t *p;
    int64_t *nrec, *bad;
} replay_ctx_t;

static int replay_chunk(void *ctx, const uint8_t *buf, size_t len)
{
    replay_ctx_t *rc = ctx;
    return replay_batches(rc->c, rc->p, buf, len, rc->nrec, rc->bad);
}

static int replay_partition(group_coord_t *c, partition_t *p, int64_t *nrec, int64_t *bad)
{
    replay_ctx_t rc = {c, p, nrec, bad};
    return partition_replay(p, OFFSETS_READ_BYTES, replay_chunk, &rc);
}

int group_offsets_start(group_coord_t *gc)
{
    log_topic_t *t = offsets_topic(gc);
    if (!t)
        return KP_EINVAL;
    int64_t nrec = 0, bad = 0;
    int32_t n = log_topic_partitions(t);
    for (int32_t i = 0; i < n; i++) {
        partition_t *p = log_topic_partition(t, i);
        int rc = p ? replay_partition(gc, p, &nrec, &bad) : 0;
        if (rc) {
            KP_ERROR("replaying %s: %s", p ? partition_name(p) : GROUP_OFFSETS_TOPIC,
                     kp_strerror(rc));
            return rc;
        }
    }
    /* Groups whose offsets were all deleted are gone. */
    size_t ngroups = 0, noffsets = 0;
    for (size_t i = 0; i < gc->nbuckets; i++) {
        group_t *g = gc->buckets[i];
        while (g) {
            group_t *next = g->hnext;
            if (g->noffsets == 0) {
                group_destroy(g, KERR_NONE);
            } else {
                ngroups++;
                noffsets += (size_t)g->noffsets;
            }
            g = next;
        }
    }
    if (bad)
        KP_WARN("%s: %lld record(s) or batch(es) could not be read and were skipped",
                GROUP_OFFSETS_TOPIC, (long long)bad);
    KP_INFO("loaded %zu committed offset(s) of %zu group(s) from %lld record(s) of %s",
            noffsets, ngroups, (long long)nrec, GROUP_OFFSETS_TOPIC);
    if (gc->ntxn_offsets)
        KP_INFO("%s: %d transactional offset(s) wait for their transaction's outcome",
                GROUP_OFFSETS_TOPIC, gc->ntxn_offsets);
    return 0;
}

/*
 * txn.c -- the transaction coordinator: InitProducerId for transactional
 * ids, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, and their durable
 * home, the compacted internal topic __transaction_state.
 *
 * Each transactional id has one metadata record, in Apache Kafka's own
 * format (TransactionLogKey/TransactionLogValue v0), so the topic reads like
 * Kafka's:
 *   key   = int16 version 0, string transactional id;
 *   value = int16 version 0, int64 producer id, int16 producer epoch,
 *           int32 transaction timeout ms, int8 state, nullable array of
 *           (string topic, array of int32 partition), int64 last update
 *           timestamp, int64 transaction start timestamp.
 * It lives in partition partitionFor(id) = Utils.abs(id.hashCode) % 50,
 * and every state change appends a whole new record; replaying the topic
 * at start rebuilds the map id -> metadata.
 *
 * A transaction's life: InitProducerId (Empty, epoch bumped) ->
 * AddPartitionsToTxn / AddOffsetsToTxn (Ongoing, partitions recorded) ->
 * EndTxn: PrepareCommit or PrepareAbort is made durable, then a commit or
 * abort marker is appended to every partition of the transaction
 * (including the __consumer_offsets partition of each group whose offsets
 * it carries: the marker is what applies or drops them, offsets.c), then
 * CompleteCommit or CompleteAbort; EndTxn is answered when that is durable.
 *
 * Invariants:
 *  (1) A state change is applied in memory, and its request answered, only
 *      after the group-commit fsync covering its __transaction_state record
 *      (broker_on_synced -> txn_coord_wake).
 *  (2) Markers are appended only once the Prepare record is durable, and
 *      the Complete record only once every marker is durable.  So after a
 *      crash a durable PrepareCommit is finished as a commit on every
 *      partition, never half-aborted, and a transaction that reads complete
 *      has no partition left open.
 *  (3) At most one state change per transactional id is in flight (its
 *      `op`); a request meeting one is answered CONCURRENT_TRANSACTIONS,
 *      except InitProducerId, which waits for it to finish.
 *  (4) Whenever the coordinator ends a transaction on its own (a new
 *      instance's InitProducerId, the transaction timeout, recovery), it
 *      first bumps the producer epoch and writes the abort markers with the
 *      new epoch: the partitions then refuse the old epoch's late writes,
 *      and the coordinator refuses its requests, so a zombie cannot add to
 *      the transaction that replaced it.
 *  (5) Nothing is served before recovery: transactions left in
 *      PrepareCommit are committed, those Ongoing or in PrepareAbort are
 *      aborted (invariant (4)), before txn_coord_start returns.
 */
#include "txn_int.h"
#include "group_int.h"
#include "kerr.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/kp_clock.h"
#include "../core/logging.h"
#include "../io/file.h"
#include "../log/batch.h"
#include "../log/records.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TC_TIMEOUT_CHECK_MS 1000        /* how often expired transactions are sought */
#define TC_RETRY_MS 1000                /* after a failed append, try again */
#define TC_RECOVERY_ROUNDS 20           /* syncs spent finishing transactions at start */
#define TC_READ_BYTES (1 << 20)
#define TC_MAX_UNCOMPRESSED (64u << 20)

enum tc_state {
    TC_EMPTY = 0,
    TC_ONGOING = 1,
    TC_PREPARE_COMMIT = 2,
    TC_PREPARE_ABORT = 3,
    TC_COMPLETE_COMMIT = 4,
    TC_COMPLETE_ABORT = 5,
    TC_DEAD = 6,
    TC_PREPARE_EPOCH_FENCE = 7,         /* Kafka's; never written here */
};

static const char *tc_state_name(enum tc_state s)
{
    static const char *const names[] = {"Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
                                        "CompleteCommit", "CompleteAbort", "Dead",
                                        "PrepareEpochFence"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* One partition of a transaction; parts are kept sorted (topic, partition). */
typedef struct tc_part {
    char *topic;
    int32_t partition;
} tc_part_t;

/* What one __transaction_state record holds. */
typedef struct tc_meta {
    int64_t producer_id;                /* -1 before the first InitProducerId */
    int16_t producer_epoch;
    int32_t timeout_ms;
    enum tc_state state;
    tc_part_t *parts;
    int nparts, capparts;
    int64_t update_ms;
    int64_t start_ms;                   /* when it became Ongoing; -1 otherwise */
} tc_meta_t;

enum tc_kind { TC_OP_INIT, TC_OP_ADD, TC_OP_END };
enum tc_phase { TC_PHASE_PREPARE, TC_PHASE_MARKERS, TC_PHASE_COMPLETE };

typedef struct tc_marker {
    int64_t target;                     /* durable once the hw reaches it; -1: not appended */
    bool done;
} tc_marker_t;

typedef struct tc_waiter {
    kreq_t *r;
    void *resp;
    struct tc_waiter *next;
} tc_waiter_t;

/* A state change in flight (invariant (3)). */
typedef struct tc_op {
    enum tc_kind kind;
    enum tc_phase phase;                /* TC_OP_END only */
    bool commit;
    kreq_t *r;                          /* answered when done; NULL for our own */
    void *resp;
    tc_meta_t next;                     /* the record being made durable */
    bool persisting;
    int64_t persist_target;
    tc_marker_t *markers;               /* one per cur.parts in TC_PHASE_MARKERS */
    int markers_left;
    bool set_last;                      /* on success, set last_producer_* */
    int64_t last_producer_id;
    int16_t last_producer_epoch;
    loop_timer_t retry;
} tc_op_t;

typedef struct tc_txn tc_txn_t;
struct tc_txn {
    struct txn_coord *tc;
    tc_txn_t *hnext;                    /* chain by transactional id */
    tc_txn_t *pnext;                    /* chain by producer id */
    int64_t indexed_pid;                /* the producer id it is chained under */
    char *id;                           /* NUL-terminated, for logs */
    int32_t id_len;
    int32_t state_partition;
    tc_meta_t cur;                      /* as durable in __transaction_state */
    /* KIP-360: the producer before the last bump, so that a retried
     * InitProducerId whose answer was lost gets the same answer. */
    int64_t last_producer_id;
    int16_t last_producer_epoch;
    tc_op_t *op;
    tc_txn_t *anext, *aprev;            /* the coordinator's list of txns with an op */
    tc_waiter_t *waiters;               /* InitProducerIds waiting for op */
};

/* KAPPA_TXN_CRASH_POINT, for the crash tests: exit at once when an EndTxn's
 * Prepare record is durable ("prepared"), or its markers are ("marked"). */
enum tc_crash_point { TC_CRASH_NONE, TC_CRASH_PREPARED, TC_CRASH_MARKED };

typedef struct txn_coord {
    broker_t *b;
    tc_txn_t **buckets;
    tc_txn_t **pid_buckets;             /* the same txns by cur.producer_id */
    size_t nbuckets, ntxns;
    int32_t npartitions;                /* of __transaction_state */
    tc_txn_t *active;
    loop_timer_t timeout_timer;
    enum tc_crash_point crash_point;
} txn_coord_t;

static void crash_point(const tc_txn_t *t, enum tc_crash_point at)
{
    if (t->tc->crash_point != at || !t->op || !t->op->r)
        return;
    KP_WARN("transactional id %s: KAPPA_TXN_CRASH_POINT=%s reached; exiting now", t->id,
            at == TC_CRASH_PREPARED ? "prepared" : "marked");
    _exit(86);
}

static void tc_persist(tc_txn_t *t);
static void tc_markers(tc_txn_t *t);
static void tc_init(kreq_t *r);

static txn_coord_t *coord(broker_t *b)
{
    return b->txns;
}

static bool epoch_exhausted(int16_t epoch)
{
    return epoch >= INT16_MAX - 1;      /* Kafka's isEpochExhausted */
}

/* PRODUCER_FENCED is understood from InitProducerId v4; older versions of
 * every transactional API get INVALID_PRODUCER_EPOCH, as Kafka answers. */
static int16_t version_err(const kreq_t *r, int16_t err)
{
    if (err == TXN_KERR_PRODUCER_FENCED && !(r->api_key == 22 && r->api_version >= 4))
        return KERR_INVALID_PRODUCER_EPOCH;
    return err;
}

/* ---- metadata ---- */

static int part_cmp(const tc_part_t *a, kstr_t topic, int32_t partition)
{
    size_t la = strlen(a->topic), lb = topic.len > 0 ? (size_t)topic.len : 0;
    int c = la && lb ? memcmp(a->topic, topic.p, la < lb ? la : lb) : 0;
    if (c)
        return c;
    if (la != lb)
        return la < lb ? -1 : 1;
    return a->partition < partition ? -1 : a->partition > partition ? 1 : 0;
}

static int part_search(const tc_meta_t *m, kstr_t topic, int32_t partition, bool *found)
{
    int lo = 0, hi = m->nparts;
    *found = false;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = part_cmp(&m->parts[mid], topic, partition);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool meta_has_part(const tc_meta_t *m, kstr_t topic, int32_t partition)
{
    bool found;
    part_search(m, topic, partition, &found);
    return found;
}

static int meta_add_part(tc_meta_t *m, kstr_t topic, int32_t partition)
{
    bool found;
    int at = part_search(m, topic, partition, &found);
    if (found)
        return 0;
    if (m->nparts == m->capparts) {
        int ncap = m->capparts ? m->capparts * 2 : 8;
        tc_part_t *n = kp_realloc(m->parts, (size_t)ncap * sizeof *n);
        if (!n)
            return KP_ENOMEM;
        m->parts = n;
        m->capparts = ncap;
    }
    char *s = kp_malloc((size_t)topic.len + 1);
    if (!s)
        return KP_ENOMEM;
    memcpy(s, topic.p, (size_t)topic.len);
    s[topic.len] = '\0';
    memmove(&m->parts[at + 1], &m->parts[at], (size_t)(m->nparts - at) * sizeof *m->parts);
    m->parts[at] = (tc_part_t){s, partition};
    m->nparts++;
    return 0;
}

static void meta_clear_parts(tc_meta_t *m)
{
    for (int i = 0; i < m->nparts; i++)
        kp_free(m->parts[i].topic);
    kp_free(m->parts);
    m->parts = NULL;
    m->nparts = m->capparts = 0;
}

/* dst (uninitialised) = a deep copy of src. */
static int meta_copy(tc_meta_t *dst, const tc_meta_t *src)
{
    *dst = *src;
    dst->parts = NULL;
    dst->nparts = dst->capparts = 0;
    for (int i = 0; i < src->nparts; i++) {
        const char *tp = src->parts[i].topic;
        if (meta_add_part(dst, (kstr_t){tp, (int32_t)strlen(tp)}, src->parts[i].partition)) {
            meta_clear_parts(dst);
            return KP_ENOMEM;
        }
    }
    return 0;
}

/* ---- the record format ---- */

static void record_key(kwr_t *w, const tc_txn_t *t)
{
    kwr_i16(w, 0);
    kwr_str(w, (kstr_t){t->id, t->id_len}, false);
}

static void record_value(kwr_t *w, const tc_meta_t *m)
{
    kwr_i16(w, 0);
    kwr_i64(w, m->producer_id);
    kwr_i16(w, m->producer_epoch);
    kwr_i32(w, m->timeout_ms);
    kwr_i8(w, (int8_t)m->state);
    if (m->state == TC_EMPTY) {
        kwr_count(w, -1, false);
    } else {
        int ntopics = 0;
        for (int i = 0; i < m->nparts; i++)
            if (i == 0 || strcmp(m->parts[i].topic, m->parts[i - 1].topic) != 0)
                ntopics++;
        kwr_count(w, ntopics, false);
        for (int i = 0; i < m->nparts;) {
            int j = i;
            while (j < m->nparts && strcmp(m->parts[j].topic, m->parts[i].topic) == 0)
                j++;
            kwr_cstr(w, m->parts[i].topic, false);
            kwr_count(w, j - i, false);
            for (int k = i; k < j; k++)
                kwr_i32(w, m->parts[k].partition);
            i = j;
        }
    }
    kwr_i64(w, m->update_ms);
    kwr_i64(w, m->start_ms);
}

/* 0, KP_ECORRUPT, or KP_EUNSUPPORTED (a version this build does not read). */
static int record_value_decode(const uint8_t *p, size_t len, tc_meta_t *m)
{
    krd_t rd;
    krd_init(&rd, p, len);
    memset(m, 0, sizeof *m);
    int16_t version = krd_i16(&rd);
    if (rd.err)
        return KP_ECORRUPT;
    if (version != 0)
        return KP_EUNSUPPORTED;
    m->producer_id = krd_i64(&rd);
    m->producer_epoch = krd_i16(&rd);
    m->timeout_ms = krd_i32(&rd);
    int8_t state = krd_i8(&rd);
    if (rd.err || state < 0 || state > TC_PREPARE_EPOCH_FENCE)
        return KP_ECORRUPT;
    m->state = (enum tc_state)state;
    int32_t ntopics = krd_count(&rd, false, true, 6);
    for (int32_t i = 0; i < ntopics && !rd.err; i++) {
        kstr_t topic = krd_str(&rd, false, false);
        if (!rd.err && (topic.len <= 0 || topic.len > 249 ||
                        memchr(topic.p, '\0', (size_t)topic.len))) {
            meta_clear_parts(m);
            return KP_ECORRUPT;
        }
        int32_t n = krd_count(&rd, false, false, 4);
        for (int32_t j = 0; j < n && !rd.err; j++) {
            int32_t partition = krd_i32(&rd);
            if (!rd.err && meta_add_part(m, topic, partition)) {
                meta_clear_parts(m);
                return KP_ENOMEM;
            }
        }
    }
    m->update_ms = krd_i64(&rd);
    m->start_ms = krd_i64(&rd);
    if (rd.err) {
        meta_clear_parts(m);
        return KP_ECORRUPT;
    }
    return 0;
}

/* ---- the map ---- */

static uint64_t id_hash(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

static size_t pid_slot(int64_t pid, size_t n)
{
    uint64_t x = (uint64_t)pid * 0x9E3779B97F4A7C15ULL;
    return (size_t)((x ^ (x >> 29)) % n);
}

static tc_txn_t *pid_find(txn_coord_t *tc, int64_t pid)
{
    if (pid < 0)
        return NULL;
    for (tc_txn_t *t = tc->pid_buckets[pid_slot(pid, tc->nbuckets)]; t; t = t->pnext)
        if (t->indexed_pid == pid)
            return t;
    return NULL;
}

/* Chain t under its current producer id (call whenever cur changes). */
static void pid_index(txn_coord_t *tc, tc_txn_t *t, int64_t pid)
{
    if (t->indexed_pid == pid)
        return;
    if (t->indexed_pid >= 0) {
        tc_txn_t **pp = &tc->pid_buckets[pid_slot(t->indexed_pid, tc->nbuckets)];
        while (*pp != t)
            pp = &(*pp)->pnext;
        *pp = t->pnext;
    }
    t->pnext = NULL;
    t->indexed_pid = pid;
    if (pid >= 0) {
        size_t k = pid_slot(pid, tc->nbuckets);
        t->pnext = tc->pid_buckets[k];
        tc->pid_buckets[k] = t;
    }
}

static tc_txn_t *tc_find(txn_coord_t *tc, kstr_t id)
{
    if (id.len < 0)
        return NULL;
    tc_txn_t *t = tc->buckets[id_hash(id.p, (size_t)id.len) % tc->nbuckets];
    for (; t; t = t->hnext)
        if (t->id_len == id.len && memcmp(t->id, id.p, (size_t)id.len) == 0)
            return t;
    return NULL;
}

static void tc_grow(txn_coord_t *tc)
{
    size_t n = tc->nbuckets * 2;
    tc_txn_t **nb = kp_calloc(n, sizeof *nb), **np = kp_calloc(n, sizeof *np);
    if (!nb || !np) {
        kp_free(nb);
        kp_free(np);
        return;                 /* longer chains, still correct */
    }
    for (size_t i = 0; i < tc->nbuckets; i++) {
        tc_txn_t *t = tc->buckets[i];
        while (t) {
            tc_txn_t *next = t->hnext;
            size_t k = id_hash(t->id, (size_t)t->id_len) % n;
            t->hnext = nb[k];
            nb[k] = t;
            if (t->indexed_pid >= 0) {
                k = pid_slot(t->indexed_pid, n);
                t->pnext = np[k];
                np[k] = t;
            }
            t = next;
        }
    }
    kp_free(tc->buckets);
    kp_free(tc->pid_buckets);
    tc->buckets = nb;
    tc->pid_buckets = np;
    tc->nbuckets = n;
}

static tc_txn_t *tc_get(txn_coord_t *tc, kstr_t id)
{
    tc_txn_t *t = tc_find(tc, id);
    if (t)
        return t;
    t = kp_calloc(1, sizeof *t);
    if (!t || !(t->id = kp_malloc((size_t)id.len + 1))) {
        kp_free(t);
        return NULL;
    }
    memcpy(t->id, id.p, (size_t)id.len);
    t->id[id.len] = '\0';
    t->id_len = id.len;
    t->tc = tc;
    t->indexed_pid = -1;
    t->state_partition = group_partition_for(id, tc->npartitions);
    t->cur = (tc_meta_t){.producer_id = -1, .producer_epoch = -1, .state = TC_EMPTY,
                         .start_ms = -1};
    t->last_producer_id = -1;
    t->last_producer_epoch = -1;
    if (tc->ntxns >= tc->nbuckets * 2)
        tc_grow(tc);
    size_t k = id_hash(id.p, (size_t)id.len) % tc->nbuckets;
    t->hnext = tc->buckets[k];
    tc->buckets[k] = t;
    tc->ntxns++;
    return t;
}

static void tc_remove(txn_coord_t *tc, tc_txn_t *t)
{
    pid_index(tc, t, -1);
    tc_txn_t **pp = &tc->buckets[id_hash(t->id, (size_t)t->id_len) % tc->nbuckets];
    while (*pp != t)
        pp = &(*pp)->hnext;
    *pp = t->hnext;
    tc->ntxns--;
    meta_clear_parts(&t->cur);
    kp_free(t->id);
    kp_free(t);
}

/* ---- answering ---- */

static void answer(kreq_t *r, void *resp, tc_txn_t *t, int16_t err)
{
    err = version_err(r, err);
    switch (r->api_key) {
    case 22: {
        init_producer_id_resp_t *o = resp;
        o->error_code = err;
        o->producer_id = err == KERR_NONE && t ? t->cur.producer_id : -1;
        o->producer_epoch = err == KERR_NONE && t ? t->cur.producer_epoch : -1;
        break;
    }
    case 24: {
        add_partitions_to_txn_resp_t *o = resp;
        add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_t *ts =
            o->results_by_topic_v3_and_below.v;
        for (int i = 0; i < o->results_by_topic_v3_and_below.n; i++) {
            add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_t *ps =
                ts[i].results_by_partition.v;
            for (int j = 0; j < ts[i].results_by_partition.n; j++)
                ps[j].partition_error_code = err;
        }
        break;
    }
    case 25:
        ((add_offsets_to_txn_resp_t *)resp)->error_code = err;
        break;
    case 26:
        ((end_txn_resp_t *)resp)->error_code = err;
        break;
    }
    r->wait = NULL;
    kreq_respond(r, resp);
}

static void op_answer(tc_txn_t *t, int16_t err)
{
    tc_op_t *op = t->op;
    if (op && op->r) {
        kreq_t *r = op->r;
        op->r = NULL;
        answer(r, op->resp, t, err);
    }
}

/* ---- ops ---- */

static tc_op_t *op_new(tc_txn_t *t, enum tc_kind kind, kreq_t *r, void *resp)
{
    tc_op_t *op = kp_calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->kind = kind;
    op->r = r;
    op->resp = resp;
    loop_timer_init(&op->retry);
    txn_coord_t *tc = t->tc;
    t->op = op;
    t->aprev = NULL;
    t->anext = tc->active;
    if (t->anext)
        t->anext->aprev = t;
    tc->active = t;
    if (r) {
        r->state = KREQ_WAITING;
        r->wait = op;
    }
    return op;
}

/* The op is over (answered or not): forget it, then let the InitProducerIds
 * that waited for it try again. */
static void op_finish(tc_txn_t *t, int16_t waiter_err)
{
    txn_coord_t *tc = t->tc;
    tc_op_t *op = t->op;
    if (!op)
        return;
    op_answer(t, KERR_COORDINATOR_NOT_AVAILABLE);    /* not answered yet: an error */
    if (t->aprev)
        t->aprev->anext = t->anext;
    else
        tc->active = t->anext;
    if (t->anext)
        t->anext->aprev = t->aprev;
    t->anext = t->aprev = NULL;
    loop_timer_stop(tc->b->loop, &op->retry);
    meta_clear_parts(&op->next);
    kp_free(op->markers);
    kp_free(op);
    t->op = NULL;
    tc_waiter_t *w = t->waiters;
    t->waiters = NULL;
    while (w) {
        tc_waiter_t *next = w->next;
        kreq_t *r = w->r;
        if (waiter_err != KERR_NONE) {
            answer(r, w->resp, t, waiter_err);
        } else {
            r->wait = NULL;
            tc_init(r);
        }
        w = next;
    }
}

static void op_retry_fire(loop_t *l, void *ctx)
{
    tc_txn_t *t = ctx;
    (void)l;
    tc_op_t *op = t->op;
    if (!op)
        return;
    if (op->kind == TC_OP_END && op->phase == TC_PHASE_MARKERS)
        tc_markers(t);
    else if (!op->persisting)
        tc_persist(t);
}

static void op_retry_later(tc_txn_t *t)
{
    if (!loop_timer_armed(&t->op->retry))
        loop_timer_start(t->tc->b->loop, &t->op->retry, TC_RETRY_MS, op_retry_fire, t);
}

/* The record of op->next could not be appended, or its sync failed. */
static void tc_fail(tc_txn_t *t, int rc)
{
    tc_op_t *op = t->op;
    KP_WARN("transactional id %s: cannot write %s to %s: %s", t->id,
            tc_state_name(op->next.state), TXN_STATE_TOPIC, kp_strerror(rc));
    op->persisting = false;
    if (op->kind == TC_OP_END && op->phase == TC_PHASE_COMPLETE) {
        /* The markers are durable: only the record saying so is missing.
         * Keep trying; meanwhile the client is told to retry, and its
         * retries meet CONCURRENT_TRANSACTIONS until this is through. */
        op_answer(t, KERR_COORDINATOR_NOT_AVAILABLE);
        op_retry_later(t);
        return;
    }
    /* Nothing changed: the transaction stays as it was (an abort the
     * coordinator wanted is retried by the timeout check, or at restart). */
    op_finish(t, KERR_COORDINATOR_NOT_AVAILABLE);
}

static partition_t *state_partition(const tc_txn_t *t)
{
    return log_partition(t->tc->b->log, TXN_STATE_TOPIC, t->state_partition);
}

/* Append op->next to the transactional id's __transaction_state partition;
 * tc_persisted() follows when it is durable (invariant (1)). */
static void tc_persist(tc_txn_t *t)
{
    tc_op_t *op = t->op;
    kwr_t k, v;
    kwr_init(&k);
    kwr_init(&v);
    record_key(&k, t);
    record_value(&v, &op->next);
    int rc = k.err ? k.err : v.err;
    batch_builder_t bb;
    int64_t now = kp_now_ms();
    uint8_t *batch = NULL;
    size_t len = 0;
    if (rc == 0 && (rc = batch_builder_init(&bb, 0, now, -1, -1, -1)) == 0) {
        rc = batch_builder_add(&bb, 0, now, k.buf, (int32_t)k.len, v.buf, (int32_t)v.len, NULL,
                               0, 0);
        if (rc == 0)
            rc = batch_builder_finish(&bb, -1, &batch, &len);
        else
            batch_builder_free(&bb);
    }
    kwr_free(&k);
    kwr_free(&v);
    partition_t *p = state_partition(t);
    partition_append_result_t res;
    if (rc == 0)
        rc = p ? partition_append(p, batch, len, &res) : KP_ENOTFOUND;
    kp_free(batch);
    if (rc) {
        tc_fail(t, rc);
        return;
    }
    op->persisting = true;
    op->persist_target = res.last_offset + 1;
}

static void tc_markers_done(tc_txn_t *t);

/* The record of op->next is durable. */
static void tc_persisted(tc_txn_t *t)
{
    tc_op_t *op = t->op;
    op->persisting = false;
    meta_clear_parts(&t->cur);
    t->cur = op->next;
    op->next = (tc_meta_t){0};
    pid_index(t->tc, t, t->cur.producer_id);
    if (op->set_last) {
        t->last_producer_id = op->last_producer_id;
        t->last_producer_epoch = op->last_producer_epoch;
    }
    if (op->kind != TC_OP_END) {
        op_answer(t, KERR_NONE);
        op_finish(t, KERR_NONE);
        return;
    }
    if (op->phase == TC_PHASE_PREPARE) {
        /* Invariant (2): the decision is durable; now the markers. */
        crash_point(t, TC_CRASH_PREPARED);
        op->phase = TC_PHASE_MARKERS;
        tc_markers(t);
        return;
    }
    KP_DEBUG("transactional id %s: %s (producer %" PRId64 ", epoch %d)", t->id,
             tc_state_name(t->cur.state), t->cur.producer_id, t->cur.producer_epoch);
    op_answer(t, KERR_NONE);
    op_finish(t, KERR_NONE);
}

/* Append the markers not yet appended (all, the first time). */
static void tc_markers(tc_txn_t *t)
{
    txn_coord_t *tc = t->tc;
    tc_op_t *op = t->op;
    const tc_meta_t *m = &t->cur;
    if (!op->markers) {
        op->markers = kp_calloc((size_t)(m->nparts ? m->nparts : 1), sizeof *op->markers);
        if (!op->markers) {
            op_retry_later(t);
            return;
        }
        for (int i = 0; i < m->nparts; i++)
            op->markers[i].target = -1;
        op->markers_left = m->nparts;
    }
    bool failed = false;
    for (int i = 0; i < m->nparts; i++) {
        tc_marker_t *mk = &op->markers[i];
        if (mk->done || mk->target >= 0)
            continue;
        const tc_part_t *tp = &m->parts[i];
        partition_t *p = log_partition(tc->b->log, tp->topic, tp->partition);
        if (!p) {
            /* Deleted with its topic: nothing left to close there. */
            mk->done = true;
            op->markers_left--;
            continue;
        }
        partition_append_result_t res;
        int rc = partition_append_marker(p, m->producer_id, m->producer_epoch, op->commit, 0,
                                         &res);
        if (rc == KP_EFENCED) {
            /* The partition knows a newer epoch of this producer: whatever
             * it had of this transaction was closed by that epoch's marker. */
            KP_WARN("transactional id %s: %s refuses the %s marker of epoch %d (fenced); "
                    "skipping it", t->id, partition_name(p), op->commit ? "commit" : "abort",
                    m->producer_epoch);
            mk->done = true;
            op->markers_left--;
            continue;
        }
        if (rc) {
            KP_WARN("transactional id %s: cannot write the %s marker to %s: %s", t->id,
                    op->commit ? "commit" : "abort", partition_name(p), kp_strerror(rc));
            failed = true;
            continue;
        }
        mk->target = res.last_offset + 1;
        if (strcmp(tp->topic, GROUP_OFFSETS_TOPIC) == 0)
            group_txn_offsets_complete(tc->b, tp->partition, m->producer_id,
                                       m->producer_epoch, op->commit);
    }
    if (failed) {
        op_answer(t, KERR_COORDINATOR_NOT_AVAILABLE);
        op_retry_later(t);
    }
    if (op->markers_left == 0)
        tc_markers_done(t);
}

/* Invariant (2): every marker is durable; record the outcome. */
static void tc_markers_done(tc_txn_t *t)
{
    tc_op_t *op = t->op;
    crash_point(t, TC_CRASH_MARKED);
    loop_timer_stop(t->tc->b->loop, &op->retry);
    kp_free(op->markers);
    op->markers = NULL;
    op->phase = TC_PHASE_COMPLETE;
    op->next = t->cur;
    op->next.parts = NULL;
    op->next.nparts = op->next.capparts = 0;
    op->next.state = op->commit ? TC_COMPLETE_COMMIT : TC_COMPLETE_ABORT;
    op->next.update_ms = kp_now_ms();
    op->next.start_ms = -1;
    tc_persist(t);
}

/*
 * Check t's op against the partitions' high watermarks.  `synced` is the
 * partition whose sync just completed (with `err`), or NULL to check every
 * partition the op waits on.
 */
static void tc_check(tc_txn_t *t, partition_t *synced, int err)
{
    txn_coord_t *tc = t->tc;
    tc_op_t *op = t->op;
    if (op->persisting) {
        partition_t *p = state_partition(t);
        if (p && (!synced || synced == p)) {
            int e = synced ? err : 0;
            if (e || partition_failed(p))
                tc_fail(t, e ? e : partition_failed(p));
            else if (partition_high_watermark(p) >= op->persist_target)
                tc_persisted(t);
        } else if (!p) {
            tc_fail(t, KP_ENOTFOUND);
        }
        return;
    }
    if (op->kind != TC_OP_END || op->phase != TC_PHASE_MARKERS || !op->markers)
        return;
    const tc_meta_t *m = &t->cur;
    bool retry = false;
    for (int i = 0; i < m->nparts; i++) {
        tc_marker_t *mk = &op->markers[i];
        if (mk->done || mk->target < 0)
            continue;
        const tc_part_t *tp = &m->parts[i];
        if (synced && (partition_id(synced) != tp->partition ||
                       strcmp(partition_topic(synced), tp->topic) != 0))
            continue;
        partition_t *p = synced ? synced : log_partition(tc->b->log, tp->topic, tp->partition);
        if (!p) {
            mk->done = true;
            op->markers_left--;
        } else if ((synced && err) || partition_failed(p)) {
            mk->target = -1;        /* append it again (after a restart, if fail-stopped) */
            retry = true;
        } else if (partition_high_watermark(p) >= mk->target) {
            mk->done = true;
            op->markers_left--;
        }
    }
    if (op->markers_left == 0)
        tc_markers_done(t);
    else if (retry)
        op_retry_later(t);
}

void txn_coord_wake(broker_t *b, partition_t *p, int err)
{
    txn_coord_t *tc = coord(b);
    if (!tc)
        return;
    tc_txn_t *t = tc->active;
    while (t) {
        tc_txn_t *next = t->anext;  /* t may leave the list (a new op goes in front) */
        tc_check(t, p, err);
        t = next;
    }
}

static void tc_check_all(txn_coord_t *tc)
{
    tc_txn_t *t = tc->active;
    while (t) {
        tc_txn_t *next = t->anext;
        tc_check(t, NULL, 0);
        t = next;
    }
}

/* ---- ending a transaction ---- */

/*
 * Start ending t's transaction: persist PrepareCommit/PrepareAbort (with the
 * epoch bumped first when `fence`, invariant (4)), then the markers, then
 * the Complete record.  r (EndTxn) is answered at the end; NULL when the
 * coordinator ends it on its own.
 */
static int tc_end_start(tc_txn_t *t, bool commit, bool fence, kreq_t *r, void *resp)
{
    tc_op_t *op = op_new(t, TC_OP_END, r, resp);
    if (!op)
        return KP_ENOMEM;
    op->commit = commit;
    op->phase = TC_PHASE_PREPARE;
    if (meta_copy(&op->next, &t->cur)) {
        op->r = NULL;       /* the caller answers */
        op_finish(t, KERR_COORDINATOR_NOT_AVAILABLE);
        return KP_ENOMEM;
    }
    if (fence && op->next.producer_epoch < INT16_MAX)
        op->next.producer_epoch++;
    op->next.state = commit ? TC_PREPARE_COMMIT : TC_PREPARE_ABORT;
    op->next.update_ms = kp_now_ms();
    tc_persist(t);
    return 0;
}

/* ---- InitProducerId ---- */

static void park_waiter(tc_txn_t *t, kreq_t *r, void *resp)
{
    tc_waiter_t *w = arena_alloc(&r->arena, sizeof *w);
    if (!w) {
        kreq_abort(r);
        return;
    }
    w->r = r;
    w->resp = resp;
    w->next = t->waiters;
    t->waiters = w;
    r->state = KREQ_WAITING;
    r->wait = w;
}

static void tc_init(kreq_t *r)
{
    broker_t *b = r->b;
    txn_coord_t *tc = coord(b);
    init_producer_id_req_t *req = r->body;
    init_producer_id_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    if (!resp) {
        kreq_abort(r);
        return;
    }
    tc_txn_t *t = NULL;
    int16_t err = KERR_NONE;
    /* v3+: the producer's current id and epoch, -1 for a new producer. */
    bool expected = r->api_version >= 3 && req->producer_id >= 0;
    if (!tc)
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    else if (req->transactional_id.len <= 0 || req->transactional_id.len > TXN_ID_MAX)
        err = KERR_INVALID_REQUEST;     /* Kafka refuses an empty transactional id */
    else if (req->transaction_timeout_ms <= 0 ||
             req->transaction_timeout_ms > b->cfg.transaction_max_timeout_ms)
        err = KERR_INVALID_TRANSACTION_TIMEOUT;
    else if (!(t = tc_get(tc, req->transactional_id)))
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (err) {
        answer(r, resp, NULL, err);
        return;
    }
    if (t->op) {
        if (t->op->kind == TC_OP_END)
            park_waiter(t, r, resp);    /* invariant (3): wait for it */
        else
            answer(r, resp, t, KERR_CONCURRENT_TRANSACTIONS);
        return;
    }
    const tc_meta_t *c = &t->cur;
    /* Kafka's isValidProducerId. */
    if (expected && c->producer_epoch >= 0 && req->producer_id != c->producer_id &&
        !(req->producer_id == t->last_producer_id && epoch_exhausted(req->producer_epoch))) {
        answer(r, resp, t, TXN_KERR_PRODUCER_FENCED);
        return;
    }
    switch (c->state) {
    case TC_PREPARE_COMMIT:
    case TC_PREPARE_ABORT:
    case TC_DEAD:
        /* Only while an op runs (or after a failed one): retry. */
        answer(r, resp, t, KERR_CONCURRENT_TRANSACTIONS);
        return;
    case TC_ONGOING:
    case TC_PREPARE_EPOCH_FENCE: {
        /* A new instance (or the same one recovering): abort what is open,
         * fencing the epoch that opened it, then run this again. */
        KP_INFO("transactional id %s: InitProducerId aborts the ongoing transaction of "
                "producer %" PRId64 " epoch %d", t->id, c->producer_id, c->producer_epoch);
        int16_t old_epoch = c->producer_epoch;
        if (tc_end_start(t, false, true, NULL, NULL) != 0) {
            answer(r, resp, t, KERR_COORDINATOR_NOT_AVAILABLE);
            return;
        }
        if (t->op && expected && req->producer_id == c->producer_id &&
            req->producer_epoch == old_epoch) {
            /* The fenced epoch is this caller's own: the abort's bump is
             * its bump (answered below without another). */
            t->op->set_last = true;
            t->op->last_producer_id = c->producer_id;
            t->op->last_producer_epoch = old_epoch;
        }
        if (t->op)
            park_waiter(t, r, resp);
        else
            answer(r, resp, t, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    case TC_EMPTY:
    case TC_COMPLETE_COMMIT:
    case TC_COMPLETE_ABORT:
        break;
    }
    int64_t pid = c->producer_id;
    int16_t epoch;
    int64_t last_pid = c->producer_id;
    int16_t last_epoch = -1;
    if (expected && req->producer_id == c->producer_id && c->producer_epoch >= 0 &&
        req->producer_epoch != c->producer_epoch) {
        if (req->producer_epoch == t->last_producer_epoch) {
            answer(r, resp, t, KERR_NONE);  /* a retry of a bump that happened */
            return;
        }
        answer(r, resp, t, TXN_KERR_PRODUCER_FENCED);
        return;
    }
    if (expected && req->producer_id != c->producer_id && c->producer_epoch >= 0) {
        /* The previous id, exhausted: a retry of the rotation that made the
         * current one. */
        answer(r, resp, t, KERR_NONE);
        return;
    }
    if (pid < 0 || epoch_exhausted(c->producer_epoch)) {
        int rc = producer_id_alloc(b, &pid);
        if (rc) {
            KP_ERROR("cannot reserve producer ids: %s", kp_strerror(rc));
            answer(r, resp, t, KERR_COORDINATOR_NOT_AVAILABLE);
            return;
        }
        epoch = 0;
        if (expected)
            last_epoch = c->producer_epoch;
    } else {
        epoch = (int16_t)(c->producer_epoch + 1);
        if (expected)
            last_epoch = c->producer_epoch;
    }
    tc_op_t *op = op_new(t, TC_OP_INIT, r, resp);
    if (!op) {
        answer(r, resp, t, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    op->next = (tc_meta_t){.producer_id = pid, .producer_epoch = epoch,
                           .timeout_ms = req->transaction_timeout_ms, .state = TC_EMPTY,
                           .update_ms = kp_now_ms(), .start_ms = -1};
    op->set_last = true;
    op->last_producer_id = last_pid;
    op->last_producer_epoch = last_epoch;
    tc_persist(t);
}

void txn_coord_init_producer_id(kreq_t *r)
{
    tc_init(r);
}

bool txn_coord_owns_producer_id(broker_t *b, int64_t pid)
{
    txn_coord_t *tc = coord(b);
    if (!tc)
        return false;
    if (pid_find(tc, pid))
        return true;
    for (tc_txn_t *t = tc->active; t; t = t->anext)    /* an id being handed out */
        if (t->op->next.producer_id == pid)
            return true;
    return false;
}

/* ---- the checks every client request makes ---- */

/* Kafka's order: the id, the producer id, the epoch, then an op in flight. */
static int16_t tc_check_client(broker_t *b, kstr_t id, int64_t pid, int16_t epoch,
                               tc_txn_t **out)
{
    txn_coord_t *tc = coord(b);
    *out = NULL;
    if (!tc)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (id.len <= 0 || id.len > TXN_ID_MAX)
        return KERR_INVALID_REQUEST;
    tc_txn_t *t = tc_find(tc, id);
    if (!t || t->cur.producer_id < 0 || t->cur.producer_id != pid)
        return KERR_INVALID_PRODUCER_ID_MAPPING;
    if (t->cur.producer_epoch != epoch)
        return TXN_KERR_PRODUCER_FENCED;
    *out = t;
    if (t->op)
        return KERR_CONCURRENT_TRANSACTIONS;
    return KERR_NONE;
}

int16_t txn_coord_check_offsets(broker_t *b, kstr_t txn_id, int64_t pid, int16_t epoch,
                                int32_t offsets_partition)
{
    tc_txn_t *t;
    int16_t err = tc_check_client(b, txn_id, pid, epoch, &t);
    if (err == TXN_KERR_PRODUCER_FENCED)
        return KERR_INVALID_PRODUCER_EPOCH;
    /* An AddPartitionsToTxn may run beside the offsets; an ending may not. */
    if (err == KERR_CONCURRENT_TRANSACTIONS && t->op->kind != TC_OP_END)
        err = KERR_NONE;
    if (err)
        return err;
    if (t->cur.state != TC_ONGOING ||
        !meta_has_part(&t->cur, KSTR(GROUP_OFFSETS_TOPIC), offsets_partition))
        return KERR_INVALID_TXN_STATE;
    return KERR_NONE;
}

/* ---- AddPartitionsToTxn, AddOffsetsToTxn ---- */

typedef add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_t apr_t;
typedef add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_t atr_t;

/* Add `n` partitions (all valid) to t's transaction: answered at once when
 * it already holds them, else once the new record is durable. */
static void tc_add(kreq_t *r, void *resp, tc_txn_t *t, const kstr_t *topics,
                   const int32_t *partitions, int n)
{
    tc_meta_t *c = &t->cur;
    bool all_in = c->state == TC_ONGOING;
    for (int i = 0; i < n && all_in; i++)
        all_in = meta_has_part(c, topics[i], partitions[i]);
    if (all_in) {
        answer(r, resp, t, KERR_NONE);
        return;
    }
    tc_op_t *op = op_new(t, TC_OP_ADD, r, resp);
    if (!op) {
        answer(r, resp, t, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    int rc = 0;
    if (c->state == TC_ONGOING) {
        rc = meta_copy(&op->next, c);
    } else {
        op->next = *c;      /* a completed transaction holds no partitions */
        op->next.parts = NULL;
        op->next.nparts = op->next.capparts = 0;
        op->next.start_ms = kp_now_ms();
    }
    for (int i = 0; i < n && rc == 0; i++)
        rc = meta_add_part(&op->next, topics[i], partitions[i]);
    if (rc == 0 && op->next.nparts > TXN_PARTITIONS_MAX) {
        KP_WARN("transactional id %s: more than %d partitions in one transaction; refused",
                t->id, TXN_PARTITIONS_MAX);
        op->r = NULL;
        op_finish(t, KERR_NONE);
        answer(r, resp, t, KERR_INVALID_REQUEST);
        return;
    }
    if (rc) {
        op_finish(t, KERR_NONE);        /* answers COORDINATOR_NOT_AVAILABLE */
        return;
    }
    op->next.state = TC_ONGOING;
    op->next.update_ms = kp_now_ms();
    tc_persist(t);
}

static void handle_add_partitions_to_txn(kreq_t *r)
{
    broker_t *b = r->b;
    add_partitions_to_txn_req_t *req = r->body;
    add_partitions_to_txn_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    int nt = req->v3_and_below_topics.n > 0 ? req->v3_and_below_topics.n : 0;
    const add_partitions_to_txn_req_add_partitions_to_txn_topic_t *rt =
        req->v3_and_below_topics.v;
    atr_t *ot = arena_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *ot);
    if (!resp || !ot)
        goto oom;
    int total = 0;
    for (int i = 0; i < nt; i++) {
        int np = rt[i].partitions.n > 0 ? rt[i].partitions.n : 0;
        apr_t *op = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *op);
        if (!op)
            goto oom;
        const int32_t *ids = rt[i].partitions.v;
        for (int j = 0; j < np; j++)
            op[j].partition_index = ids[j];
        ot[i].name = rt[i].name;
        ot[i].results_by_partition = (karray_t){op, np};
        total += np;
    }
    resp->results_by_topic_v3_and_below = (karray_t){ot, nt};

    tc_txn_t *t;
    int16_t err = tc_check_client(b, req->v3_and_below_transactional_id,
                                  req->v3_and_below_producer_id,
                                  req->v3_and_below_producer_epoch, &t);
    if (err == KERR_NONE && (t->cur.state == TC_PREPARE_COMMIT ||
                             t->cur.state == TC_PREPARE_ABORT))
        err = KERR_CONCURRENT_TRANSACTIONS;
    if (err) {
        answer(r, resp, t, err);
        return;
    }
    /* Per partition: it must exist and take client writes.  One bad
     * partition fails the request; the others are not attempted. */
    kstr_t *topics = arena_alloc(&r->arena, (size_t)(total ? total : 1) * sizeof *topics);
    int32_t *ids = arena_alloc(&r->arena, (size_t)(total ? total : 1) * sizeof *ids);
    if (!topics || !ids)
        goto oom;
    int n = 0;
    bool bad = false;
    for (int i = 0; i < nt; i++) {
        int16_t terr = KERR_NONE;
        log_topic_t *lt = broker_topic(b, rt[i].name, false, &terr);
        if (lt && broker_topic_internal(log_topic_name(lt))) {
            lt = NULL;
            terr = KERR_TOPIC_AUTHORIZATION_FAILED;
        }
        apr_t *op = ot[i].results_by_partition.v;
        for (int j = 0; j < ot[i].results_by_partition.n; j++) {
            if (!lt) {
                op[j].partition_error_code = terr;
            } else if (!log_topic_partition(lt, op[j].partition_index)) {
                op[j].partition_error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                topics[n] = rt[i].name;
                ids[n++] = op[j].partition_index;
                continue;
            }
            bad = true;
        }
    }
    if (bad) {
        for (int i = 0; i < nt; i++) {
            apr_t *op = ot[i].results_by_partition.v;
            for (int j = 0; j < ot[i].results_by_partition.n; j++)
                if (op[j].partition_error_code == KERR_NONE)
                    op[j].partition_error_code = TXN_KERR_OPERATION_NOT_ATTEMPTED;
        }
        kreq_respond(r, resp);
        return;
    }
    tc_add(r, resp, t, topics, ids, n);
    return;
oom:
    kreq_abort(r);
}

static void handle_add_offsets_to_txn(kreq_t *r)
{
    broker_t *b = r->b;
    add_offsets_to_txn_req_t *req = r->body;
    add_offsets_to_txn_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    if (!resp) {
        kreq_abort(r);
        return;
    }
    tc_txn_t *t;
    int16_t err = tc_check_client(b, req->transactional_id, req->producer_id,
                                  req->producer_epoch, &t);
    if (err == KERR_NONE && (t->cur.state == TC_PREPARE_COMMIT ||
                             t->cur.state == TC_PREPARE_ABORT))
        err = KERR_CONCURRENT_TRANSACTIONS;
    int32_t pidx = -1;
    if (err == KERR_NONE && !group_id_valid(req->group_id, false))
        err = KERR_INVALID_GROUP_ID;
    if (err == KERR_NONE && (pidx = group_offsets_partition(b, req->group_id)) < 0)
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    if (err) {
        answer(r, resp, t, err);
        return;
    }
    kstr_t topic = KSTR(GROUP_OFFSETS_TOPIC);
    tc_add(r, resp, t, &topic, &pidx, 1);
}

/* ---- EndTxn ---- */

static void handle_end_txn(kreq_t *r)
{
    end_txn_req_t *req = r->body;
    end_txn_resp_t *resp = arena_alloc(&r->arena, sizeof *resp);
    if (!resp) {
        kreq_abort(r);
        return;
    }
    tc_txn_t *t;
    int16_t err = tc_check_client(r->b, req->transactional_id, req->producer_id,
                                  req->producer_epoch, &t);
    if (err == KERR_NONE) {
        bool commit = req->committed;
        switch (t->cur.state) {
        case TC_ONGOING:
            if (tc_end_start(t, commit, false, r, resp) != 0)
                err = KERR_COORDINATOR_NOT_AVAILABLE;
            else
                return;
            break;
        case TC_COMPLETE_COMMIT:    /* a retry of what was done */
            err = commit ? KERR_NONE : KERR_INVALID_TXN_STATE;
            break;
        case TC_COMPLETE_ABORT:
            err = commit ? KERR_INVALID_TXN_STATE : KERR_NONE;
            break;
        case TC_PREPARE_COMMIT:
            err = commit ? KERR_CONCURRENT_TRANSACTIONS : KERR_INVALID_TXN_STATE;
            break;
        case TC_PREPARE_ABORT:
            err = commit ? KERR_INVALID_TXN_STATE : KERR_CONCURRENT_TRANSACTIONS;
            break;
        default:
            err = KERR_INVALID_TXN_STATE;
            break;
        }
    }
    answer(r, resp, t, err);
}

/* ---- transaction timeouts ---- */

static void on_timeout_check(loop_t *l, void *ctx)
{
    txn_coord_t *tc = ctx;
    int64_t now = kp_now_ms();
    for (size_t i = 0; i < tc->nbuckets; i++) {
        for (tc_txn_t *t = tc->buckets[i]; t; t = t->hnext) {
            const tc_meta_t *c = &t->cur;
            if (t->op || c->state != TC_ONGOING || c->start_ms < 0 ||
                now - c->start_ms <= c->timeout_ms)
                continue;
            /* Invariant (4): Kafka's abortTimedOutTransactions fences too. */
            KP_INFO("transactional id %s: transaction of producer %" PRId64 " epoch %d open "
                    "for %" PRId64 " ms, over its timeout of %d ms; aborting it", t->id,
                    c->producer_id, c->producer_epoch, now - c->start_ms, c->timeout_ms);
            tc_end_start(t, false, true, NULL, NULL);
        }
    }
    loop_timer_start(l, &tc->timeout_timer, TC_TIMEOUT_CHECK_MS, on_timeout_check, tc);
}

/* ---- replay at start ---- */

static int replay_record(txn_coord_t *tc, const record_t *rec, int64_t *bad)
{
    krd_t rd;
    if (!rec->key || rec->key_len < 2) {
        (*bad)++;
        return 0;
    }
    krd_init(&rd, rec->key, (size_t)rec->key_len);
    int16_t version = krd_i16(&rd);
    kstr_t id = krd_str(&rd, false, false);
    if (rd.err || version != 0 || id.len <= 0 || id.len > TXN_ID_MAX) {
        (*bad)++;
        return 0;
    }
    if (!rec->value) {
        tc_txn_t *t = tc_find(tc, id);
        if (t)
            tc_remove(tc, t);
        return 0;
    }
    tc_meta_t m;
    int rc = record_value_decode(rec->value, (size_t)rec->value_len, &m);
    if (rc == KP_ENOMEM)
        return rc;
    if (rc) {
        (*bad)++;
        return 0;
    }
    tc_txn_t *t = tc_get(tc, id);
    if (!t) {
        meta_clear_parts(&m);
        return KP_ENOMEM;
    }
    meta_clear_parts(&t->cur);
    t->cur = m;
    pid_index(tc, t, m.producer_id);
    return 0;
}

static int replay_batches(txn_coord_t *tc, partition_t *p, const uint8_t *buf, size_t len,
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
            KP_WARN("%s: batch at offset %" PRId64 " fails its CRC; skipped", partition_name(p),
                    h.base_offset);
            (*bad)++;
            continue;
        }
        if (h.attributes & BATCH_ATTR_CONTROL)
            continue;
        record_iter_t it;
        record_t rec;
        int rc = record_iter_init(&it, bt, size, TC_MAX_UNCOMPRESSED);
        if (rc) {
            (*bad)++;
            continue;
        }
        while ((rc = record_iter_next(&it, &rec)) == 1) {
            (*nrec)++;
            if ((rc = replay_record(tc, &rec, bad)) != 0)
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
    txn_coord_t *c;
    partition_t *p;
    int64_t *nrec, *bad;
} replay_ctx_t;

static int replay_chunk(void *ctx, const uint8_t *buf, size_t len)
{
    replay_ctx_t *rc = ctx;
    return replay_batches(rc->c, rc->p, buf, len, rc->nrec, rc->bad);
}

static int replay_partition(txn_coord_t *c, partition_t *p, int64_t *nrec, int64_t *bad)
{
    replay_ctx_t rc = {c, p, nrec, bad};
    return partition_replay(p, TC_READ_BYTES, replay_chunk, &rc);
}

static log_topic_t *state_topic(broker_t *b)
{
    log_topic_t *t = log_topic_find(b->log, TXN_STATE_TOPIC);
    if (t)
        return t;
    static const char *const overrides[] = {
        "cleanup.policy", "compact",
        "segment.bytes", TXN_STATE_SEGMENT_BYTES,
        "max.message.bytes", TXN_STATE_MAX_MESSAGE_BYTES,
        NULL,
    };
    int rc = log_topic_create(b->log, TXN_STATE_TOPIC, TXN_STATE_PARTITIONS, overrides);
    if (rc) {
        KP_ERROR("cannot create %s: %s", TXN_STATE_TOPIC, kp_strerror(rc));
        return NULL;
    }
    KP_INFO("created %s with %d partitions", TXN_STATE_TOPIC, TXN_STATE_PARTITIONS);
    return log_topic_find(b->log, TXN_STATE_TOPIC);
}

/* Invariant (5): finish what the last run left half done, before serving. */
static void recover(txn_coord_t *tc)
{
    int commits = 0, aborts = 0;
    for (size_t i = 0; i < tc->nbuckets; i++) {
        for (tc_txn_t *t = tc->buckets[i]; t; t = t->hnext) {
            enum tc_state s = t->cur.state;
            if (s == TC_PREPARE_COMMIT || s == TC_PREPARE_ABORT) {
                /* The decision is durable: only its markers may be missing. */
                tc_op_t *op = op_new(t, TC_OP_END, NULL, NULL);
                if (!op)
                    continue;
                op->commit = s == TC_PREPARE_COMMIT;
                op->phase = TC_PHASE_MARKERS;
                tc_markers(t);
                if (op->commit)
                    commits++;
                else
                    aborts++;
            } else if (s == TC_ONGOING || s == TC_PREPARE_EPOCH_FENCE) {
                /* The producer's requests since the crash are lost or will
                 * be retried against a transaction it cannot finish: abort,
                 * fencing its epoch (invariant (4)). */
                if (tc_end_start(t, false, true, NULL, NULL) == 0)
                    aborts++;
            }
        }
    }
    if (commits + aborts == 0)
        return;
    KP_INFO("%s: completing %d commit(s) and %d abort(s) left by the last run",
            TXN_STATE_TOPIC, commits, aborts);
    for (int round = 0; round < TC_RECOVERY_ROUNDS && tc->active; round++) {
        int rc = log_flush(tc->b->log);
        if (rc)
            KP_WARN("%s: sync during recovery: %s", TXN_STATE_TOPIC, kp_strerror(rc));
        tc_check_all(tc);
        /* The loop does not run yet: do now what retry timers would. */
        for (tc_txn_t *t = tc->active, *next; t; t = next) {
            next = t->anext;
            if (loop_timer_armed(&t->op->retry)) {
                loop_timer_stop(tc->b->loop, &t->op->retry);
                op_retry_fire(tc->b->loop, t);
            }
        }
    }
    if (tc->active)
        KP_ERROR("%s: some transactions could not be completed at start; retrying in the "
                 "background (their partitions' last stable offset waits)", TXN_STATE_TOPIC);
}

bool txn_coord_producer_open(broker_t *b, int64_t pid)
{
    txn_coord_t *tc = coord(b);
    tc_txn_t *t = tc ? pid_find(tc, pid) : NULL;
    return t && (t->op || t->cur.state == TC_ONGOING);
}

int16_t txn_coord_check_produce(broker_t *b, int64_t pid, int16_t epoch, const char *topic,
                                int32_t partition)
{
    txn_coord_t *tc = coord(b);
    tc_txn_t *t = tc ? pid_find(tc, pid) : NULL;
    if (!t)
        return KERR_INVALID_PRODUCER_ID_MAPPING;
    if (epoch != t->cur.producer_epoch)
        return KERR_INVALID_PRODUCER_EPOCH;
    if (t->cur.state != TC_ONGOING || (t->op && t->op->kind == TC_OP_END) ||
        !meta_has_part(&t->cur, (kstr_t){topic, (int32_t)strlen(topic)}, partition))
        return KERR_INVALID_TXN_STATE;
    return KERR_NONE;
}

int txn_coord_start(broker_t *b)
{
    txn_coord_t *tc = kp_calloc(1, sizeof *tc);
    if (!tc)
        return KP_ENOMEM;
    tc->b = b;
    const char *cp = getenv("KAPPA_TXN_CRASH_POINT");
    tc->crash_point = !cp ? TC_CRASH_NONE
                    : strcmp(cp, "prepared") == 0 ? TC_CRASH_PREPARED
                    : strcmp(cp, "marked") == 0 ? TC_CRASH_MARKED : TC_CRASH_NONE;
    tc->nbuckets = 64;
    tc->buckets = kp_calloc(tc->nbuckets, sizeof *tc->buckets);
    tc->pid_buckets = kp_calloc(tc->nbuckets, sizeof *tc->pid_buckets);
    loop_timer_init(&tc->timeout_timer);
    if (!tc->buckets || !tc->pid_buckets) {
        KP_ERROR("transaction coordinator: out of memory");
        kp_free(tc->buckets);
        kp_free(tc->pid_buckets);
        kp_free(tc);
        return KP_ENOMEM;
    }
    b->txns = tc;
    log_topic_t *t = state_topic(b);
    if (!t) {
        txn_coord_stop(b);
        return KP_EINVAL;
    }
    tc->npartitions = log_topic_partitions(t);
    int64_t nrec = 0, bad = 0;
    for (int32_t i = 0; i < tc->npartitions; i++) {
        partition_t *p = log_topic_partition(t, i);
        int rc = p ? replay_partition(tc, p, &nrec, &bad) : 0;
        if (rc) {
            KP_ERROR("replaying %s: %s", p ? partition_name(p) : TXN_STATE_TOPIC,
                     kp_strerror(rc));
            txn_coord_stop(b);
            return rc;
        }
    }
    if (bad)
        KP_WARN("%s: %" PRId64 " record(s) or batch(es) could not be read and were skipped",
                TXN_STATE_TOPIC, bad);
    KP_INFO("loaded %zu transactional id(s) from %" PRId64 " record(s) of %s", tc->ntxns, nrec,
            TXN_STATE_TOPIC);
    recover(tc);
    group_txn_offsets_orphans(b);
    loop_timer_start(b->loop, &tc->timeout_timer, TC_TIMEOUT_CHECK_MS, on_timeout_check, tc);
    return 0;
}

void txn_coord_stop(broker_t *b)
{
    txn_coord_t *tc = coord(b);
    if (!tc)
        return;
    /* Everything parked gets an answer (its connection is usually gone by
     * now, and kreq_respond frees it); what is half done is finished by
     * the next start (invariant (5)). */
    while (tc->active)
        op_finish(tc->active, KERR_COORDINATOR_NOT_AVAILABLE);
    loop_timer_stop(b->loop, &tc->timeout_timer);
    for (size_t i = 0; i < tc->nbuckets; i++)
        while (tc->buckets[i])
            tc_remove(tc, tc->buckets[i]);
    kp_free(tc->buckets);
    kp_free(tc->pid_buckets);
    kp_free(tc);
    b->txns = NULL;
}

kapi_handler_fn *txn_coord_handler_for(int16_t key)
{
    switch (key) {
    case 24: return handle_add_partitions_to_txn;
    case 25: return handle_add_offsets_to_txn;
    case 26: return handle_end_txn;
    case 28: return handle_txn_offset_commit;
    }
    return NULL;
}

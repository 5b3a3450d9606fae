/*
 * sink.c -- the view sink runtime: a Kafka consumer that applies the backing
 * topics of view versions to a backend (view/sink.h), exactly once.
 *
 * The consumer reads read_committed, so it only ever sees changes of
 * committed job transactions.  It belongs to a group only to split the
 * partitions between sink instances; where it starts reading is decided by
 * the backend: on every assignment it asks the backend for the stored next
 * offsets and assigns there (the beginning when none), ignoring the group's
 * committed offsets, which it writes only so that `kappa group describe`
 * shows its lag.
 *
 * A batch is what the consumer hands over until batch_max changes, batch_ms
 * or an empty queue; then, per view version with work, one backend
 * transaction: begin, apply the changes, advance to the consumer position
 * (past transaction markers), commit with the partitions' high watermarks.
 * Committing as soon as the queue drains keeps freshness at about the fetch
 * wait (fetch.wait.max.ms is small) plus one store transaction.
 *
 * Invariants:
 *  (1) The backend's next offsets move only in the transaction that holds
 *      the rows below them, so whatever the crash point, the stored offsets
 *      describe exactly the rows stored.
 *  (2) Any read position is safe: the backend skips changes below its
 *      stored next offset (read inside its transaction), so an overlap
 *      during a rebalance or a replay after an error applies nothing twice.
 *      Seeking to the stored offsets only avoids re-reading.
 *  (3) After a backend error nothing more is committed from the current
 *      read position: the runtime rolls back, reopens the backend with
 *      back-off and reassigns at the offsets stored there.
 */
#include "view/sink.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SINK_BATCH_MAX_DEFAULT 10000
#define SINK_BATCH_MS_DEFAULT 20
#define SINK_POLL_IDLE_MS 100
#define SINK_BACKOFF_MIN_MS 100
#define SINK_BACKOFF_MAX_MS 5000

/* One view version: its topic, what is assigned and stored, its batch. */
typedef struct sink_view {
    char view[VIEW_NAME_MAX + 1];
    int version;
    const char *job;
    char topic[256];
    int32_t nparts;
    bool *assigned;
    int64_t *stored;            /* next offset known stored (-1 none) */
    int64_t *hwm;               /* scratch for commit */
    rd_kafka_message_t **msgs;  /* the open batch, in consume order */
    int nmsgs, msgs_cap;
} sink_view_t;

typedef struct sink_rt {
    const view_sink_opts_t *o;
    volatile int *stop;
    rd_kafka_t *rk;
    view_backend_t *be;
    sink_view_t *views;
    int nviews;
    int batched;                /* messages in every view's batch */
    bool failed;                /* the backend failed: recover before reading on */
    uint64_t null_keys;
    uint64_t applied_batches;
} sink_rt_t;

/* ---- helpers ------------------------------------------------------------- */

static void sink_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)fac;
    if (level <= 3)
        KP_WARN("view sink: librdkafka: %s", buf);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    return kp_mono_ns() / 1000000;
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        KP_ERROR("view sink: config %s=%s: %s", k, v, err);
        return KP_EINVAL;
    }
    return 0;
}

static sink_view_t *view_of_topic(sink_rt_t *rt, const char *topic)
{
    for (int i = 0; i < rt->nviews; i++)
        if (strcmp(rt->views[i].topic, topic) == 0)
            return &rt->views[i];
    return NULL;
}

/* Make room for partition p in the view's per-partition arrays (a topic
 * can gain partitions while the sink runs). */
static int view_grow(sink_view_t *v, int32_t p)
{
    if (p < v->nparts)
        return 0;
    if (p < 0 || p > 100000)
        return KP_EINVAL;
    int32_t n = p + 1;
    bool *a = kp_realloc(v->assigned, (size_t)n * sizeof *a);
    if (a)
        v->assigned = a;
    int64_t *s = kp_realloc(v->stored, (size_t)n * sizeof *s);
    if (s)
        v->stored = s;
    int64_t *h = kp_realloc(v->hwm, (size_t)n * sizeof *h);
    if (h)
        v->hwm = h;
    if (!a || !s || !h)
        return KP_ENOMEM;
    for (int32_t i = v->nparts; i < n; i++) {
        v->assigned[i] = false;
        v->stored[i] = -1;
    }
    v->nparts = n;
    return 0;
}

static void drop_batch(sink_rt_t *rt)
{
    for (int i = 0; i < rt->nviews; i++) {
        sink_view_t *v = &rt->views[i];
        for (int k = 0; k < v->nmsgs; k++)
            rd_kafka_message_destroy(v->msgs[k]);
        v->nmsgs = 0;
    }
    rt->batched = 0;
}

/* ---- committing a batch -------------------------------------------------- */

/* The consumer position of each assigned partition (RD_KAFKA_OFFSET_INVALID
 * when none yet) into pos[] (v->nparts entries). */
static void positions(sink_rt_t *rt, sink_view_t *v, int64_t *pos)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(v->nparts);
    for (int32_t p = 0; p < v->nparts; p++) {
        pos[p] = RD_KAFKA_OFFSET_INVALID;
        if (v->assigned[p])
            rd_kafka_topic_partition_list_add(l, v->topic, p);
    }
    if (l->cnt && rd_kafka_position(rt->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < l->cnt; i++)
            if (!l->elems[i].err && l->elems[i].partition < v->nparts)
                pos[l->elems[i].partition] = l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
}

/* Does the view need a store transaction: changes to apply, or a position
 * past the stored offset (transaction markers read since)? */
static bool view_has_work(sink_rt_t *rt, sink_view_t *v, int64_t *pos)
{
    if (v->nmsgs)
        return true;
    if (!rt->be->ops->advance)
        return false;
    positions(rt, v, pos);
    for (int32_t p = 0; p < v->nparts; p++)
        if (v->assigned[p] && pos[p] >= 0 && pos[p] > v->stored[p])
            return true;
    return false;
}

/* One backend transaction for one view version (invariant 1). */
static int flush_view(sink_rt_t *rt, sink_view_t *v, int64_t *pos)
{
    const view_backend_ops_t *ops = rt->be->ops;
    int rc = ops->begin(rt->be, v->view, v->version, v->topic);
    if (rc)
        return rc;
    for (int k = 0; k < v->nmsgs; k++) {
        rd_kafka_message_t *m = v->msgs[k];
        rd_kafka_timestamp_type_t tt;
        view_change_t c = {
            .key = m->key,
            .key_len = m->key_len,
            .value = m->payload,
            .value_len = m->len,
            .ts = rd_kafka_message_timestamp(m, &tt),
            .partition = m->partition,
            .offset = m->offset,
        };
        if ((rc = ops->apply(rt->be, &c)) != 0) {
            ops->rollback(rt->be);
            return rc;
        }
    }
    if (ops->advance) {
        /* Positions read now cover every message handed over so far, and
         * every one of those is in this batch (or was skipped on purpose),
         * so storing them loses nothing. */
        positions(rt, v, pos);
        for (int32_t p = 0; p < v->nparts; p++)
            if (v->assigned[p] && pos[p] >= 0 && (rc = ops->advance(rt->be, p, pos[p])) != 0) {
                ops->rollback(rt->be);
                return rc;
            }
    }
    for (int32_t p = 0; p < v->nparts; p++) {
        int64_t lo, hi;
        v->hwm[p] = -1;
        if (v->assigned[p] &&
            rd_kafka_get_watermark_offsets(rt->rk, v->topic, p, &lo, &hi) == 0 && hi >= 0)
            v->hwm[p] = hi;
    }
    if ((rc = ops->commit(rt->be, v->hwm, v->nparts)) != 0) {
        ops->rollback(rt->be);
        return rc;
    }
    for (int k = 0; k < v->nmsgs; k++) {
        int32_t p = v->msgs[k]->partition;
        if (p < v->nparts && v->msgs[k]->offset + 1 > v->stored[p])
            v->stored[p] = v->msgs[k]->offset + 1;
    }
    if (ops->advance)
        for (int32_t p = 0; p < v->nparts; p++)
            if (v->assigned[p] && pos[p] > v->stored[p])
                v->stored[p] = pos[p];
    return 0;
}

/* Commit the open batch: one transaction per view version with work. */
static int flush(sink_rt_t *rt)
{
    if (rt->failed)
        return KP_EFAILED;
    int rc = 0;
    bool any = false;
    for (int i = 0; i < rt->nviews && !rc; i++) {
        sink_view_t *v = &rt->views[i];
        int64_t *pos = kp_malloc((size_t)(v->nparts ? v->nparts : 1) * sizeof *pos);
        if (!pos) {
            rc = KP_ENOMEM;
            break;
        }
        if (view_has_work(rt, v, pos)) {
            rc = flush_view(rt, v, pos);
            any = true;
        }
        kp_free(pos);
    }
    drop_batch(rt);
    if (rc) {
        KP_ERROR("view sink: %s backend: storing a batch failed (%s); retrying from the "
                 "stored offsets",
                 rt->be->ops->kind, kp_strerror(rc));
        rt->failed = true;
        return rc;
    }
    if (any) {
        rt->applied_batches++;
        /* For lag display only (kappa group describe): the offsets that
         * count are the backend's. */
        rd_kafka_commit(rt->rk, NULL, 1);
    }
    return 0;
}

/* ---- assignment ---------------------------------------------------------- */

/* Set each partition of the list to its stored next offset (the beginning
 * when none).  On a backend error the offsets stay at the beginning, which
 * is safe (invariant 2), and the runtime recovers. */
static void stored_offsets(sink_rt_t *rt, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    for (int i = 0; i < rt->nviews; i++) {
        sink_view_t *v = &rt->views[i];
        int32_t need = 0;
        for (int k = 0; k < parts->cnt; k++)
            if (strcmp(parts->elems[k].topic, v->topic) == 0 &&
                parts->elems[k].partition + 1 > need)
                need = parts->elems[k].partition + 1;
        if (need == 0)
            continue;
        if (view_grow(v, need - 1) != 0) {
            rt->failed = true;
            continue;
        }
        int64_t *next = kp_malloc((size_t)v->nparts * sizeof *next);
        int rc = next ? rt->be->ops->offsets(rt->be, v->view, v->version, v->topic, v->nparts,
                                             next)
                      : KP_ENOMEM;
        if (rc) {
            KP_ERROR("view sink: reading stored offsets of %s@v%d failed (%s)", v->view,
                     v->version, kp_strerror(rc));
            rt->failed = true;
            kp_free(next);
            continue;
        }
        for (int k = 0; k < parts->cnt; k++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[k];
            if (strcmp(tp->topic, v->topic) != 0)
                continue;
            int64_t n = next[tp->partition], lo, hi;
            /* A stored offset past the end means the topic is not the one
             * the store was filled from (deleted and recreated?): the
             * consumer would reset to the beginning and every record below
             * the stored offset would be skipped (invariant 2).  Say so,
             * once per assignment. */
            if (n > 0 &&
                rd_kafka_query_watermark_offsets(rt->rk, tp->topic, tp->partition, &lo, &hi,
                                                 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                n > hi)
                KP_ERROR("view sink: %s@v%d partition %" PRId32 ": the stored next offset %"
                         PRId64 " is beyond the partition's high watermark %" PRId64
                         " (topic %s deleted and recreated?); records below offset %" PRId64
                         " will be skipped", v->view, v->version, tp->partition, n, hi,
                         tp->topic, n);
            tp->offset = n >= 0 ? n : RD_KAFKA_OFFSET_BEGINNING;
            v->stored[tp->partition] = n;
            KP_DEBUG("view sink: %s@v%d partition %" PRId32 " from %s offset %" PRId64, v->view,
                     v->version, tp->partition, n >= 0 ? "stored" : "the first", n);
        }
        kp_free(next);
    }
}

static void mark_assigned(sink_rt_t *rt, const rd_kafka_topic_partition_list_t *parts, bool on)
{
    for (int i = 0; i < parts->cnt; i++) {
        sink_view_t *v = view_of_topic(rt, parts->elems[i].topic);
        if (v && view_grow(v, parts->elems[i].partition) == 0)
            v->assigned[parts->elems[i].partition] = on;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sink_rt_t *rt = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        stored_offsets(rt, parts);
        mark_assigned(rt, parts, true);
        rd_kafka_assign(rk, parts);
        KP_INFO("view sink: assigned %d partition(s), reading from the stored offsets",
                parts->cnt);
    } else {
        /* Store what was read before the partitions go (another sink would
         * re-read it otherwise; harmless, but wasted). */
        if (rt->batched && !rt->failed)
            flush(rt);
        drop_batch(rt);
        mark_assigned(rt, parts, false);
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- recovery ------------------------------------------------------------ */

static int ensure_views(sink_rt_t *rt)
{
    for (int i = 0; i < rt->nviews; i++) {
        sink_view_t *v = &rt->views[i];
        int rc = rt->be->ops->ensure(rt->be, v->view, v->version, v->job, v->topic);
        if (rc)
            return rc;
    }
    return 0;
}

/* Sleep ms in small steps; false when asked to stop meanwhile. */
static bool nap(sink_rt_t *rt, int64_t ms)
{
    for (int64_t t = 0; t < ms && !*rt->stop; t += 50)
        sleep_ms(ms - t < 50 ? ms - t : 50);
    return !*rt->stop;
}

/* After a backend failure: back off, reopen, reassign at the stored
 * offsets (invariant 3).  Returns 0 when running again, or nonzero when
 * asked to stop first. */
static int recover(sink_rt_t *rt)
{
    int64_t backoff = SINK_BACKOFF_MIN_MS;
    drop_batch(rt);
    for (;;) {
        if (!nap(rt, backoff))
            return 1;
        backoff = backoff * 2 > SINK_BACKOFF_MAX_MS ? SINK_BACKOFF_MAX_MS : backoff * 2;
        if (rt->be) {
            rt->be->ops->close(rt->be);
            rt->be = NULL;
        }
        if (view_backend_open(rt->o->target, &rt->be) != 0) {
            rt->be = NULL;
            continue;
        }
        if (ensure_views(rt) != 0)
            continue;
        rt->failed = false;
        rd_kafka_topic_partition_list_t *a = NULL;
        if (rd_kafka_assignment(rt->rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rt->failed = true;
            continue;
        }
        stored_offsets(rt, a);
        if (!rt->failed)
            rd_kafka_assign(rt->rk, a);
        rd_kafka_topic_partition_list_destroy(a);
        if (!rt->failed) {
            KP_INFO("view sink: %s backend reopened; reading again from the stored offsets",
                    rt->be->ops->kind);
            return 0;
        }
    }
}

/* ---- the consumer -------------------------------------------------------- */

static rd_kafka_t *make_consumer(sink_rt_t *rt)
{
    const view_sink_opts_t *o = rt->o;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512];
    if (conf_set(c, "bootstrap.servers", o->brokers ? o->brokers : "127.0.0.1:9092") ||
        conf_set(c, "group.id", o->group) || conf_set(c, "isolation.level", "read_committed") ||
        conf_set(c, "enable.auto.commit", "false") ||
        conf_set(c, "auto.offset.reset", "earliest") ||
        /* freshness: a fetch answers within 10 ms of new data or none */
        conf_set(c, "fetch.wait.max.ms", "10") || conf_set(c, "fetch.error.backoff.ms", "50") ||
        conf_set(c, "topic.metadata.refresh.interval.ms", "5000"))
        goto fail;
    for (const char *const *p = o->consumer_props; p && *p; p++) {
        char key[256];
        const char *eq = strchr(*p, '=');
        if (!eq || (size_t)(eq - *p) >= sizeof key) {
            KP_ERROR("view sink: librdkafka property '%s' is not KEY=VALUE", *p);
            goto fail;
        }
        memcpy(key, *p, (size_t)(eq - *p));
        key[eq - *p] = '\0';
        if (conf_set(c, key, eq + 1))
            goto fail;
    }
    rd_kafka_conf_set_log_cb(c, sink_log);
    rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    rd_kafka_conf_set_opaque(c, rt);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk) {
        KP_ERROR("view sink: cannot create a consumer: %s", err);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(c);
    return NULL;
}

/* Wait until every backing topic exists (the job creates them) and learn
 * partition counts.  The first metadata request must answer: an unreachable
 * broker is an error, not a silent wait. */
static int wait_topics(sink_rt_t *rt)
{
    bool said = false;
    for (int round = 0; !*rt->stop; round++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rt->rk, 1, NULL, &md, 10000);
        if (e) {
            if (round == 0) {
                KP_ERROR("view sink: cannot reach a broker at %s within 10 s: %s",
                         rt->o->brokers ? rt->o->brokers : "127.0.0.1:9092",
                         rd_kafka_err2str(e));
                return KP_EFAILED;
            }
            KP_WARN("view sink: metadata: %s", rd_kafka_err2str(e));
            nap(rt, 1000);
            continue;
        }
        const char *missing = NULL;
        for (int i = 0; i < rt->nviews; i++) {
            sink_view_t *v = &rt->views[i];
            int32_t n = 0;
            for (int t = 0; t < md->topic_cnt; t++)
                if (strcmp(md->topics[t].topic, v->topic) == 0 && !md->topics[t].err)
                    n = md->topics[t].partition_cnt;
            if (n <= 0 && !missing)
                missing = v->topic;
            if (n > 0 && view_grow(v, n - 1) != 0) {
                rd_kafka_metadata_destroy(md);
                return KP_ENOMEM;
            }
        }
        rd_kafka_metadata_destroy(md);
        if (!missing)
            return 0;
        if (!said) {
            KP_INFO("view sink: waiting for topic %s (the job that maintains the view "
                    "creates it)", missing);
            said = true;
        }
        nap(rt, 500);
    }
    return 1;
}

/* ---- the loop ------------------------------------------------------------ */

/* Route one consumed message into its view's batch (or count and drop). */
static void take(sink_rt_t *rt, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            KP_WARN("view sink: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    sink_view_t *v = view_of_topic(rt, rd_kafka_topic_name(m->rkt));
    if (!v) {
        rd_kafka_message_destroy(m);
        return;
    }
    if (!m->key) {
        /* A row needs a key; the position still moves past it. */
        if (rt->null_keys++ == 0)
            KP_WARN("view sink: %s partition %" PRId32 " offset %" PRId64 " has no key: "
                    "skipped (records without a key are not rows; counting further ones "
                    "silently)", v->topic, m->partition, m->offset);
        rd_kafka_message_destroy(m);
        return;
    }
    if (v->nmsgs == v->msgs_cap) {
        int cap = v->msgs_cap ? 2 * v->msgs_cap : 256;
        rd_kafka_message_t **nm = kp_realloc(v->msgs, (size_t)cap * sizeof *nm);
        if (!nm) {
            /* Nothing of this batch may be stored now: drop it and re-read. */
            rd_kafka_message_destroy(m);
            rt->failed = true;
            return;
        }
        v->msgs = nm;
        v->msgs_cap = cap;
    }
    v->msgs[v->nmsgs++] = m;
    rt->batched++;
}

static int run_loop(sink_rt_t *rt)
{
    int batch_max = rt->o->batch_max > 0 ? rt->o->batch_max : SINK_BATCH_MAX_DEFAULT;
    int batch_ms = rt->o->batch_ms > 0 ? rt->o->batch_ms : SINK_BATCH_MS_DEFAULT;
    while (!*rt->stop) {
        if (rt->failed && recover(rt) != 0)
            break;
        int64_t opened = 0;
        while (!*rt->stop && !rt->failed) {
            rd_kafka_message_t *m =
                rd_kafka_consumer_poll(rt->rk, rt->batched ? 0 : SINK_POLL_IDLE_MS);
            if (!m)
                break;          /* queue empty: commit what we have */
            take(rt, m);
            if (rt->batched == 1 && opened == 0)
                opened = now_ms();
            if (rt->batched >= batch_max || (opened && now_ms() - opened >= batch_ms))
                break;
        }
        if (rt->failed)
            continue;
        /* With an empty batch this stores positions moved past transaction
         * markers, if any; otherwise it does nothing. */
        flush(rt);
    }
    return 0;
}

static void rt_free(sink_rt_t *rt)
{
    for (int i = 0; i < rt->nviews; i++) {
        sink_view_t *v = &rt->views[i];
        kp_free(v->assigned);
        kp_free(v->stored);
        kp_free(v->hwm);
        kp_free(v->msgs);
    }
    kp_free(rt->views);
}

int view_sink_run(const view_sink_opts_t *o, volatile int *stop)
{
    if (!o || !o->group || !o->target || o->nviews < 1) {
        KP_ERROR("view sink: a group, a target and at least one view are required");
        return KP_EINVAL;
    }
    sink_rt_t rt = {.o = o, .stop = stop};
    int rc = 0;
    rt.views = kp_calloc((size_t)o->nviews, sizeof *rt.views);
    if (!rt.views)
        return KP_ENOMEM;
    rt.nviews = o->nviews;
    for (int i = 0; i < o->nviews; i++) {
        sink_view_t *v = &rt.views[i];
        if (!view_name_valid(o->views[i].view) || o->views[i].version < 1) {
            KP_ERROR("view sink: '%s' version %d is not a view version",
                     o->views[i].view ? o->views[i].view : "(null)", o->views[i].version);
            rc = KP_EINVAL;
            goto out;
        }
        snprintf(v->view, sizeof v->view, "%s", o->views[i].view);
        v->version = o->views[i].version;
        v->job = o->views[i].job;
        view_topic(v->topic, sizeof v->topic, v->view, v->version);
    }
    if ((rc = view_backend_open(o->target, &rt.be)) != 0)
        goto out;
    if ((rc = ensure_views(&rt)) != 0)
        goto out;
    if (!(rt.rk = make_consumer(&rt))) {
        rc = KP_EINVAL;
        goto out;
    }
    if ((rc = wait_topics(&rt)) != 0) {
        rc = rc > 0 ? 0 : rc;   /* stopped while waiting: not an error */
        goto out;
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(rt.nviews);
    for (int i = 0; i < rt.nviews; i++)
        rd_kafka_topic_partition_list_add(sub, rt.views[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rt.rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        KP_ERROR("view sink: cannot subscribe: %s", rd_kafka_err2str(e));
        rc = KP_EINVAL;
        goto out;
    }
    KP_INFO("view sink: %d view version(s) into %s (%s), group %s", rt.nviews, o->target,
            rt.be->ops->kind, o->group);
    rc = run_loop(&rt);
out:
    if (rt.rk) {
        /* Leaving the group revokes the partitions, which stores the open
         * batch (on_rebalance). */
        rd_kafka_consumer_close(rt.rk);
        drop_batch(&rt);
        rd_kafka_destroy(rt.rk);
    }
    if (rt.null_keys)
        KP_WARN("view sink: %" PRIu64 " record(s) without a key skipped", rt.null_keys);
    if (rt.be)
        rt.be->ops->close(rt.be);
    rt_free(&rt);
    return rc;
}

/* ---- on a thread (job runners) ------------------------------------------- */

struct view_sink {
    pthread_t thread;
    volatile int stop;
    int result;
    /* deep copies: the caller's options need not outlive the call */
    view_sink_opts_t o;
    view_sink_view_t *views;
    char **strs;
    int nstrs;
    const char **props;         /* NULL-ended */
};

static void sink_free(view_sink_t *s)
{
    for (int i = 0; i < s->nstrs; i++)
        kp_free(s->strs[i]);
    kp_free(s->strs);
    kp_free(s->views);
    kp_free(s->props);
    kp_free(s);
}

static void *sink_thread(void *arg)
{
    view_sink_t *s = arg;
    s->result = view_sink_run(&s->o, &s->stop);
    if (s->result)
        KP_ERROR("view sink stopped: %s", kp_strerror(s->result));
    return NULL;
}

/* Copy str into the sink (NULL stays NULL); false when out of memory. */
static bool keep(view_sink_t *s, const char *str, const char **out)
{
    *out = NULL;
    if (!str)
        return true;
    char *d = kp_strdup(str);
    if (!d)
        return false;
    s->strs[s->nstrs++] = d;
    *out = d;
    return true;
}

int view_sink_start(const view_sink_opts_t *o, view_sink_t **out)
{
    *out = NULL;
    if (!o || o->nviews < 1)
        return KP_EINVAL;
    view_sink_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    int nprops = 0;
    while (o->consumer_props && o->consumer_props[nprops])
        nprops++;
    s->strs = kp_calloc((size_t)(3 + 2 * o->nviews + nprops), sizeof *s->strs);
    s->views = kp_calloc((size_t)o->nviews, sizeof *s->views);
    s->props = kp_calloc((size_t)nprops + 1, sizeof *s->props);
    if (!s->strs || !s->views || !s->props)
        goto nomem;
    s->o = *o;
    if (!keep(s, o->brokers, &s->o.brokers) || !keep(s, o->group, &s->o.group) ||
        !keep(s, o->target, &s->o.target))
        goto nomem;
    for (int i = 0; i < o->nviews; i++) {
        s->views[i].version = o->views[i].version;
        if (!keep(s, o->views[i].view, &s->views[i].view) ||
            !keep(s, o->views[i].job, &s->views[i].job))
            goto nomem;
    }
    for (int i = 0; i < nprops; i++)
        if (!keep(s, o->consumer_props[i], &s->props[i]))
            goto nomem;
    s->o.views = s->views;
    s->o.consumer_props = s->props;
    if (pthread_create(&s->thread, NULL, sink_thread, s) != 0) {
        sink_free(s);
        return KP_EFAILED;
    }
    *out = s;
    return 0;
nomem:
    sink_free(s);
    return KP_ENOMEM;
}

int view_sink_stop(view_sink_t *s)
{
    if (!s)
        return 0;
    s->stop = 1;
    pthread_join(s->thread, NULL);
    int rc = s->result;
    sink_free(s);
    return rc;
}

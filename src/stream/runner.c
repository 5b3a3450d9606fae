/*
 * runner.c -- a job's runner: the Kafka side of the stream processor.
 *
 * One consumer in the job's group (JOB.vVERSION) reads every stage's input
 * topic with read_committed; the group's assignment decides which tasks
 * (stage, partition) this process runs.  Each task has its own transactional
 * producer, transactional.id JOB.vVERSION.STAGE-PARTITION, so a task that
 * moves to another runner fences the old one (zombie fencing, KIP-98).
 *
 * Every commit interval, for each task that did work, one transaction
 * carries: its outputs (written as they were produced), its changed state
 * (the changelog, compacted, partition = task partition), the watermark
 * reports for the stages it feeds, and its input offset (sendOffsets with
 * the consumer's group metadata).  A crash aborts the open transaction;
 * the task's next owner restores its state from the newest local snapshot
 * plus the changelog after it, and resumes at the committed offset.
 *
 * Invariants:
 *  (1) A task's state, outputs and input offset only become visible together
 *      (one transaction), so restored state always matches the offset the
 *      task resumes from.
 *  (2) init_transactions runs before a task restores: it aborts whatever
 *      a previous owner left open, so the changelog read back is exactly the
 *      committed state (its last stable offset is its end).
 *  (3) A snapshot is written only after the commit it reflects succeeded,
 *      and records the changelog offset it covers.
 *  (4) Promote (--stable-outputs, docs/jobs.md "Promote"): a sink record
 *      whose source tag lies in the stable range is written to the stable
 *      topic T in the same transaction as to T.vV, so T gets it exactly
 *      when T.vV does.  With --stable-from, no source record at or past the
 *      cut is taken before the previous version's group has committed past
 *      the cut on every partition, so T holds the previous version's
 *      effects of inputs before the cut ahead of this version's of inputs
 *      from it on.
 */
#include "stream/runtime.h"
#include "stream/job_metrics.h"
#include "stream/describe.h"
#include "jobs/cut.h"
#include "jobs/lifecycle.h"
#include "view/sink.h"

#include "core/kp_clock.h"
#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "io/file.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TXN_TIMEOUT_MS 60000
#define RUNNER_MAX_TOPICS 64

typedef struct topic_info {
    char name[STREAM_TOPIC_MAX + 1];
    int32_t partitions;
} topic_info_t;

/* A sink topic T.vV and its stable topic T (--stable-outputs). */
typedef struct stable_topic {
    char versioned[STREAM_TOPIC_MAX + 1];
    char stable[STREAM_TOPIC_MAX + 1];
} stable_topic_t;

struct runner {
    kappa_job_t *job;
    kappa_run_opts_t opts;
    char state_dir[4096];
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    rd_kafka_t *restorer;           /* reads changelogs back (no group) */
    task_t **tasks;
    int ntasks;
    topic_info_t topics[RUNNER_MAX_TOPICS];
    int ntopics;
    int fatal;
    int64_t last_commit_ms, last_report_ms;
    uint64_t commits;
    uint64_t commit_rounds;
    job_metrics_t *metrics;
    int64_t last_publish_ms;
    bool disk_state;                    /* --state-store disk */
    int64_t commit_ns, commit_end_ns;   /* time in commit rounds; in commit_transaction */
    view_sink_t *views;                 /* applies the job's views (--views), or NULL */
    /* --stable-outputs: invariant (4). */
    stable_topic_t stable[STREAM_MAX_NODES];
    int nstable;
    cut_t stable_from, stable_until;
    bool has_from, has_until;
    bool cut_passed;                    /* the wait group is past stable_from */
    bool halted;                        /* stopped while waiting at the cut */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- small Kafka helpers ------------------------------------------------- */

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)fac;
    if (level <= 3)             /* errors only; the runner reports the rest */
        KP_WARN("librdkafka: %s", buf);
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        KP_ERROR("config %s=%s: %s", k, v, err);
        return -1;
    }
    return 0;
}

/* Apply KEY=VALUE properties given on the command line, last. */
static int apply_props(rd_kafka_conf_t *c, const char *const *props)
{
    for (const char *const *p = props; p && *p; p++) {
        char key[256];
        const char *eq = strchr(*p, '=');
        if (!eq || (size_t)(eq - *p) >= sizeof key) {
            KP_ERROR("librdkafka property '%s' is not KEY=VALUE", *p);
            return -1;
        }
        memcpy(key, *p, (size_t)(eq - *p));
        key[eq - *p] = '\0';
        if (conf_set(c, key, eq + 1) != 0)
            return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base_conf(runner_t *rn)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (conf_set(c, "bootstrap.servers", rn->opts.brokers) ||
        conf_set(c, "client.id", rn->job->prefix)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(c, quiet_log);
    return c;
}

/* Kafka's default partitioner for keyed records (murmur2, as the Java client
 * computes it), so a key lands where any Kafka producer would put it. */
static uint32_t murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        uint32_t k = (uint32_t)data[i * 4] | (uint32_t)data[i * 4 + 1] << 8 |
                     (uint32_t)data[i * 4 + 2] << 16 | (uint32_t)data[i * 4 + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *tail = data + n4 * 4;
    switch (len & 3) {
    case 3: h ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: h ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1: h ^= tail[0]; h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t runner_topic_partitions(runner_t *rn, const char *topic)
{
    for (int i = 0; i < rn->ntopics; i++)
        if (strcmp(rn->topics[i].name, topic) == 0)
            return rn->topics[i].partitions;
    return 0;
}

static int remember_topic(runner_t *rn, const char *topic, int32_t partitions)
{
    for (int i = 0; i < rn->ntopics; i++)
        if (strcmp(rn->topics[i].name, topic) == 0) {
            rn->topics[i].partitions = partitions;
            return 0;
        }
    if (rn->ntopics == RUNNER_MAX_TOPICS)
        return KP_ETOOLARGE;
    snprintf(rn->topics[rn->ntopics].name, sizeof rn->topics[0].name, "%s", topic);
    rn->topics[rn->ntopics++].partitions = partitions;
    return 0;
}

/* ---- producing ------------------------------------------------------------ */

#define DR_CHANGELOG ((void *)1)

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    task_t *t = opaque;
    if (m->err) {
        /* The transaction will fail to commit; say why once. */
        if (!t->failed)
            KP_WARN("task %s: delivery to %s failed: %s", t->id, rd_kafka_topic_name(m->rkt),
                    rd_kafka_err2str(m->err));
        return;
    }
    if (m->_private == DR_CHANGELOG && m->offset + 1 > t->pending_changelog_next)
        t->pending_changelog_next = m->offset + 1;
}

static int produce(task_t *t, const char *topic, int32_t partition, const void *key,
                   size_t klen, const void *val, size_t vlen, int64_t ts,
                   rd_kafka_headers_t *hdrs, void *opaque)
{
    int64_t deadline = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
            RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* The broker is not taking records: wait, but not for ever and
             * not through a stop request. */
            int64_t now = kp_mono_ns() / 1000000;
            if (!deadline)
                deadline = now + 60000;
            if (now < deadline && !stop_requested) {
                rd_kafka_poll(t->producer, 10);
                continue;
            }
            e = stop_requested ? RD_KAFKA_RESP_ERR__DESTROY : RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        KP_ERROR("task %s: cannot produce to %s: %s", t->id, topic, rd_kafka_err2str(e));
        return KP_EINVAL;
    }
}

/* Is the source record t is processing inside the stable range? */
static bool in_stable_range(const runner_t *rn, const task_t *t)
{
    if (!t->tag.topic)
        return !rn->has_from && !rn->has_until;     /* untagged: only an unbounded range */
    if (rn->has_from && cut_before(&rn->stable_from, &t->tag))
        return false;
    return !rn->has_until || cut_before(&rn->stable_until, &t->tag);
}

/* The stable topic a record written to `topic` also goes to, or NULL. */
static const char *stable_target(const task_t *t, const char *topic)
{
    const runner_t *rn = t->rn;
    for (int i = 0; i < rn->nstable; i++)
        if (strcmp(rn->stable[i].versioned, topic) == 0)
            return in_stable_range(rn, t) ? rn->stable[i].stable : NULL;
    return NULL;
}

int runner_produce(task_t *t, const char *topic, int32_t partition, const kappa_record_t *r,
                   int64_t wm_report)
{
    runner_t *rn = t->rn;
    int32_t np = runner_topic_partitions(rn, topic);
    if (np <= 0) {
        KP_ERROR("task %s: topic %s has no known partitions", t->id, topic);
        return KP_ENOTFOUND;
    }
    if (wm_report != STREAM_WM_NONE) {
        /* A watermark report is control, not output: never tagged. */
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        uint8_t wm[8], up[4];
        kp_put_be64(wm, (uint64_t)wm_report);
        kp_put_be32(up, (uint32_t)t->partition);
        rd_kafka_header_add(h, STREAM_HDR_WATERMARK, -1, wm, 8);
        rd_kafka_header_add(h, STREAM_HDR_UPSTREAM, -1, up, 4);
        return produce(t, topic, partition, NULL, 0, NULL, 0, 0, h, NULL);
    }
    if (partition < 0)
        partition = r->key ? (int32_t)((murmur2(r->key, r->key_len) & 0x7fffffff) % (uint32_t)np)
                           : t->partition % np;
    /* Kafka timestamps are positive (librdkafka takes 0 as "now"): an event
     * time of 0 or less travels in a header, so the next stage reads the
     * same event time in every run. */
    rd_kafka_headers_t *h = NULL;
    if (r->timestamp <= 0) {
        uint8_t ts[8];
        kp_put_be64(ts, (uint64_t)r->timestamp);
        h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, STREAM_HDR_EVENT_TIME, -1, ts, 8);
    }
    if (t->source_tags && t->tag.topic) {
        uint8_t tag[CUT_TAG_MAX];
        int n = cut_tag_encode(&t->tag, tag, sizeof tag);
        if (n > 0) {
            if (!h)
                h = rd_kafka_headers_new(1);
            rd_kafka_header_add(h, CUT_TAG_HEADER, (ssize_t)strlen(CUT_TAG_HEADER), tag,
                                (size_t)n);
        }
    }
    const char *stable = stable_target(t, topic);
    rd_kafka_headers_t *h2 = stable && h ? rd_kafka_headers_copy(h) : NULL;
    int rc = produce(t, topic, partition, r->key, r->key_len, r->value, r->value_len,
                     r->timestamp > 0 ? r->timestamp : 1, h, NULL);
    if (!stable || rc) {
        if (h2)
            rd_kafka_headers_destroy(h2);
        return rc;
    }
    /* Invariant (4): the same record, in the same transaction, to T. */
    int32_t snp = runner_topic_partitions(rn, stable);
    if (snp <= 0) {
        if (h2)
            rd_kafka_headers_destroy(h2);
        KP_ERROR("task %s: topic %s has no known partitions", t->id, stable);
        return KP_ENOTFOUND;
    }
    int32_t sp = r->key ? (int32_t)((murmur2(r->key, r->key_len) & 0x7fffffff) % (uint32_t)snp)
                        : t->partition % snp;
    return produce(t, stable, sp, r->key, r->key_len, r->value, r->value_len,
                   r->timestamp > 0 ? r->timestamp : 1, h2, NULL);
}

static int changelog_record(void *ctx, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    task_t *t = ctx;
    return produce(t, t->st->changelog, t->partition, key, klen, val, val ? vlen : 0, 0, NULL,
                   DR_CHANGELOG);
}

/* ---- topics ---------------------------------------------------------------- */

static int topic_partitions_md(runner_t *rn, rd_kafka_t *rk, const char *topic, int32_t *n)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    (void)rn;
    if (e) {
        KP_ERROR("cannot read metadata of %s from %s: %s", topic, rn->opts.brokers,
                 rd_kafka_err2str(e));
        return KP_EINVAL;
    }
    *n = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        *n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Create the topic if it is missing; learn its partition count either way. */
static int ensure_topic(runner_t *rn, rd_kafka_t *rk, const char *topic, int32_t partitions,
                        bool compact)
{
    int32_t have = 0;
    int rc = topic_partitions_md(rn, rk, topic, &have);
    if (rc)
        return rc;
    if (have > 0)
        return remember_topic(rn, topic, have);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof err);
    if (!nt) {
        KP_ERROR("topic %s: %s", topic, err);
        return KP_EINVAL;
    }
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    rc = 0;
    if (!ev) {
        KP_ERROR("creating topic %s: no answer within 30 s", topic);
        rc = KP_EINVAL;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t e = cnt ? rd_kafka_topic_result_error(res[0])
                                    : rd_kafka_event_error(ev);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            KP_ERROR("creating topic %s: %s", topic, rd_kafka_err2str(e));
            rc = KP_EINVAL;
        } else if (e == 0) {
            KP_INFO("created topic %s (%" PRId32 " partition(s)%s)", topic, partitions,
                    compact ? ", compacted" : "");
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    if (rc)
        return rc;
    /* Learn the real count (another runner may have created it first). */
    for (int i = 0; i < 50 && have <= 0; i++) {
        if ((rc = topic_partitions_md(rn, rk, topic, &have)) != 0)
            return rc;
    }
    return have > 0 ? remember_topic(rn, topic, have) : KP_ENOTFOUND;
}

/* Resolve partition counts stage by stage and create internal and output
 * topics.  Upstream stages come before the stages they feed (plan order). */
static int setup_topics(runner_t *rn, rd_kafka_t *rk)
{
    kappa_job_t *job = rn->job;
    int rc;
    for (int s = 0; s < job->nsubtopos; s++) {
        subtopo_t *st = &job->subtopos[s];
        st->partitions = 0;
        for (int i = 0; i < st->ninputs; i++) {
            kappa_stream_t *in = st->inputs[i];
            int32_t n = 0;
            if (in->type == NODE_REPART_SOURCE) {
                n = job->subtopos[st->upstreams[i]].partitions;
                if ((rc = ensure_topic(rn, rk, in->topic, n, false)) != 0)
                    return rc;
                n = runner_topic_partitions(rn, in->topic);
            } else {
                if ((rc = topic_partitions_md(rn, rk, in->topic, &n)) != 0)
                    return rc;
                if (n <= 0) {
                    KP_ERROR("%s topic %s does not exist: create it (kappa topic create) or "
                             "produce to it first",
                             in->type == NODE_TABLE ? "table" : "source", in->topic);
                    return KP_ENOTFOUND;
                }
                if ((rc = remember_topic(rn, in->topic, n)) != 0)
                    return rc;
            }
            /* A task reads partition p of every input: they must be
             * partitioned alike (co-partitioning, as Kafka Streams demands). */
            if (st->partitions && n != st->partitions) {
                KP_ERROR("topics %s (%" PRId32 " partitions) and %s (%" PRId32 ") are joined "
                         "but not co-partitioned: give them the same partition count",
                         st->inputs[0]->topic, st->partitions, in->topic, n);
                return KP_EINVAL;
            }
            st->partitions = n;
        }
        if ((rc = ensure_topic(rn, rk, st->changelog, st->partitions, true)) != 0)
            return rc;
    }
    for (int i = 0; i < job->nnodes; i++) {
        kappa_stream_t *n = job->nodes[i];
        /* A view's backing topic is compacted: it is the view's full
         * history by key, which a new sink can replay from the start. */
        if (n->type == NODE_SINK &&
            (rc = ensure_topic(rn, rk, n->topic, job->subtopos[n->subtopo].partitions,
                               n->view[0] != '\0')))
            return rc;
    }
    if (job->late_topic[0] &&
        (rc = ensure_topic(rn, rk, job->late_topic, job->subtopos[0].partitions, false)))
        return rc;
    /* A stable topic is created like its versioned twin (the first version
     * to feed it decides its partition count; later ones find it). */
    for (int i = 0; i < rn->nstable; i++) {
        int32_t n = runner_topic_partitions(rn, rn->stable[i].versioned);
        if ((rc = ensure_topic(rn, rk, rn->stable[i].stable, n, false)) != 0)
            return rc;
    }
    return 0;
}

/* ---- the promote cut --------------------------------------------------------- */

static int commit_all(runner_t *rn);

/*
 * Invariant (4): called before the first source record at or past the
 * stable_from cut is taken.  Everything taken so far is before the cut:
 * commit it, then wait (polling every 100 ms) until the previous version's
 * group has committed offsets >= the cut on every partition the cut names.
 * A stop request ends the wait with rn->halted set: the record is not taken.
 */
static int wait_at_cut(runner_t *rn)
{
    if (commit_all(rn) != 0 || rn->fatal)
        return KP_EINVAL;
    size_t n = rn->stable_from.n;
    const char **topics = kp_calloc(n ? n : 1, sizeof *topics);
    int32_t *parts = kp_calloc(n ? n : 1, sizeof *parts);
    int64_t *got = kp_calloc(n ? n : 1, sizeof *got);
    rd_kafka_conf_t *conf = base_conf(rn);
    int rc = 0;
    if (!topics || !parts || !got || !conf) {
        rc = KP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        topics[i] = rn->stable_from.e[i].topic;
        parts[i] = rn->stable_from.e[i].partition;
    }
    const char *group = rn->opts.stable_wait_group;
    KP_INFO("job %s: at the promote cut; waiting until group %s has passed it before "
            "writing the stable topics",
            rn->job->prefix, group);
    int64_t t0 = kp_mono_ns() / 1000000, last_log = t0;
    while (!stop_requested) {
        char why[512];
        bool passed = jobs_group_committed(conf, group, (int)n, topics, parts, got, 5000, why,
                                           sizeof why) == 0;
        for (size_t i = 0; passed && i < n; i++) {
            int64_t low = 0, high = 0;
            /* No commit: the group never took a record there, which is
             * passing only when nothing before the cut is left to take. */
            passed = got[i] >= rn->stable_from.e[i].offset ||
                     (got[i] < 0 &&
                      rd_kafka_query_watermark_offsets(rn->consumer, topics[i], parts[i], &low,
                                                       &high, 5000) == 0 &&
                      rn->stable_from.e[i].offset <= low);
        }
        if (passed) {
            rn->cut_passed = true;
            KP_INFO("job %s: group %s passed the promote cut after %" PRId64 " ms",
                    rn->job->prefix, group, kp_mono_ns() / 1000000 - t0);
            goto out;
        }
        int64_t now = kp_mono_ns() / 1000000;
        if (now - last_log >= 10000) {
            KP_INFO("job %s: still waiting for group %s to pass the promote cut", rn->job->prefix,
                    group);
            last_log = now;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rn->halted = true;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    kp_free(topics);
    kp_free(parts);
    kp_free(got);
    return rc;
}

/* ---- views ---------------------------------------------------------------- */

/* Start the sink that applies this job's views to opts.views (default
 * STATE_DIR/views.db), in its own consumer group JOB.vV.views.  The job's
 * transactions and the sink's store transactions are independent: the sink
 * reads only committed changes and stores its offsets with the rows, so a
 * crash of the runner loses nothing either side. */
static int start_views(runner_t *rn)
{
    kappa_job_t *job = rn->job;
    view_sink_view_t views[STREAM_MAX_NODES];
    int nviews = 0;
    for (int i = 0; i < job->nnodes; i++)
        if (job->nodes[i]->type == NODE_SINK && job->nodes[i]->view[0])
            views[nviews++] = (view_sink_view_t){job->nodes[i]->view, job->version, job->name};
    if (nviews == 0 || (rn->opts.views && strcmp(rn->opts.views, "none") == 0))
        return 0;
    char target[4200], group[STREAM_TOPIC_MAX + 16], session[64];
    if (rn->opts.views)
        snprintf(target, sizeof target, "%s", rn->opts.views);
    else
        snprintf(target, sizeof target, "%s/views.db",
                 rn->opts.state_dir ? rn->opts.state_dir : "kappa-state");
    snprintf(group, sizeof group, "%s.views", job->prefix);
    snprintf(session, sizeof session, "session.timeout.ms=%d", rn->opts.session_timeout_ms);
    const char *props[66];
    int np = 0;
    props[np++] = session;
    for (const char *const *p = rn->opts.consumer_props; p && *p && np < 65; p++)
        props[np++] = *p;
    props[np] = NULL;
    view_sink_opts_t o = {
        .brokers = rn->opts.brokers,
        .group = group,
        .target = target,
        .views = views,
        .nviews = nviews,
        .consumer_props = props,
    };
    int rc = view_sink_start(&o, &rn->views);
    if (rc) {
        KP_ERROR("job %s: cannot start the view sink into %s: %s", job->prefix, target,
                 kp_strerror(rc));
        return rc;
    }
    KP_INFO("job %s: %d view(s) applied to %s", job->prefix, nviews, target);
    return 0;
}

/* ---- tasks: creation, restore, commit ------------------------------------ */

static void snapshot_path(runner_t *rn, const task_t *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.snap", rn->state_dir, t->id);
}

/* Read the task's changelog partition from `from` to its end. */
/*
 * Read the changelog partitions of several tasks back, all at once, each
 * from its own start offset (t->restored_from) to its end: one consumer
 * assignment, so a runner taking many tasks pays the fetch round trips once
 * rather than per task.  Invariant (2) makes "the end" well defined: every
 * task's init_transactions has aborted what a previous owner left open.
 */
static int restore_all(runner_t *rn, task_t **ts, int n, uint64_t *nrec)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(l, ts[i]->st->changelog, ts[i]->partition)->offset =
            ts[i]->restored_from > 0 ? ts[i]->restored_from : RD_KAFKA_OFFSET_BEGINNING;
        nrec[i] = 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(rn->restorer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        KP_ERROR("cannot read the changelogs back: %s", rd_kafka_err2str(e));
        return KP_EINVAL;
    }
    int rc = 0, left = n;
    bool *done = kp_calloc((size_t)n, sizeof *done);
    if (!done)
        rc = KP_ENOMEM;
    int64_t deadline = kp_mono_ns() / 1000000 + 120000;
    while (rc == 0 && left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rn->restorer, 200);
        if (!m) {
            if (kp_mono_ns() / 1000000 > deadline) {
                KP_ERROR("changelog restore made no progress for 120 s (%d task(s) left)", left);
                rc = KP_EINVAL;
            }
            continue;
        }
        int i = 0;
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
        while (i < n && !(topic && ts[i]->partition == m->partition &&
                          strcmp(ts[i]->st->changelog, topic) == 0))
            i++;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (i < n && !done[i]) {
                ts[i]->changelog_next = ts[i]->pending_changelog_next = m->offset;
                done[i] = true;
                left--;
            }
        } else if (m->err) {
            /* A partition error on one of our changelogs is fatal; anything
             * else (the broker going away for a moment) is retried by the
             * client until the no-progress deadline. */
            if (i < n && m->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
                m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                KP_ERROR("reading changelog %s [%" PRId32 "]: %s", topic, m->partition,
                         rd_kafka_message_errstr(m));
                rc = KP_EINVAL;
            } else {
                KP_WARN("restoring: %s (retrying)", rd_kafka_message_errstr(m));
            }
        } else if (i < n && !done[i]) {
            if (m->key_len > 0)
                rc = store_apply(ts[i]->state, m->key, m->key_len, m->payload, m->len);
            nrec[i]++;
            deadline = kp_mono_ns() / 1000000 + 120000;
        }
        rd_kafka_message_destroy(m);
    }
    kp_free(done);
    rd_kafka_assign(rn->restorer, NULL);
    return rc;
}

/*
 * Learn the task's output topics' leaders now: librdkafka otherwise looks up
 * a topic it has not produced to yet on its 1-second topic scan, which
 * stalled every first commit by a second (the first transaction waits for
 * the flush).
 */
static void warm_topics(runner_t *rn, task_t *t)
{
    const char *names[32];
    int n = 0;
    names[n++] = t->st->changelog;
    for (int i = 0; i < t->st->nrepart_out && n < 31; i++)
        names[n++] = t->st->repart_out[i]->topic;
    for (int i = 0; i < rn->job->nnodes && n < 31; i++) {
        kappa_stream_t *x = rn->job->nodes[i];
        if (x->type == NODE_SINK && x->subtopo == t->st->id)
            names[n++] = x->topic;
    }
    if (rn->job->late_topic[0])
        names[n++] = rn->job->late_topic;
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->producer, names[i], NULL);
        if (!rkt)
            continue;
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(t->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
        t->out_topics[t->nout_topics++] = rkt;
    }
}

static void task_destroy(task_t *t)
{
    for (int i = 0; i < t->nout_topics; i++)
        rd_kafka_topic_destroy(t->out_topics[i]);
    t->nout_topics = 0;
    if (t->producer) {
        if (t->txn_open) {
            rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, 10000);
            if (e)
                rd_kafka_error_destroy(e);
        }
        rd_kafka_destroy(t->producer);
    }
    task_free(t);
    kp_free(t);
}

/* What to do about a failed transactional call. */
#define TXN_RETRY 1     /* retriable (a timeout): call it again */
#define TXN_ABORT 2     /* abortable: abort, restore the task, resume from its commit */

static int txn_call(task_t *t, const char *what, rd_kafka_error_t *e)
{
    if (!e)
        return 0;
    if (!rd_kafka_error_is_fatal(e) && rd_kafka_error_is_retriable(e)) {
        KP_WARN("task %s: %s: %s; retrying", t->id, what, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return TXN_RETRY;
    }
    if (!rd_kafka_error_is_fatal(e) && rd_kafka_error_txn_requires_abort(e)) {
        KP_WARN("task %s: %s: %s; aborting the transaction and restoring the task from its "
                "last commit", t->id, what, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return TXN_ABORT;
    }
    if (rd_kafka_error_is_fatal(e) ||
        rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
        rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
        KP_ERROR("task %s: %s: %s -- another runner of this job version has taken the task "
                 "over (this one was a zombie); stopping", t->id, what, rd_kafka_error_string(e));
    else
        KP_ERROR("task %s: %s failed: %s; stopping (a restart resumes from the last commit)",
                 t->id, what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return KP_EINVAL;
}

/*
 * Local state (a snapshot, an LMDB store) older than this is not trusted:
 * compaction removes a changelog's tombstones after delete.retention.ms
 * (24 h by default), so a copy older than that could bring back keys that
 * were deleted while another runner owned the task.
 */
#define LOCAL_STATE_MAX_AGE_S (20 * 3600)

static bool too_old(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && time(NULL) - sb.st_mtime > LOCAL_STATE_MAX_AGE_S;
}

/* Does local state covering the changelog up to `from` fit the changelog
 * as it is?  (Beyond its end or before its start: the changelog was
 * re-created or truncated, and the local copy belongs to another life.) */
static bool fits_changelog(runner_t *rn, task_t *t, int64_t from)
{
    int64_t lo = 0, hi = 0;
    if (from <= 0 || rd_kafka_query_watermark_offsets(rn->restorer, t->st->changelog,
                                                      t->partition, &lo, &hi, 10000) != 0)
        return true;        /* nothing to check, or cannot tell: the restore reads on */
    if (from > hi || from < lo) {
        KP_WARN("task %s: local state covers changelog offset %" PRId64 ", outside [%" PRId64
                ", %" PRId64 "]: dropping it and restoring from the changelog", t->id, from,
                lo, hi);
        return false;
    }
    return true;
}

static task_t *task_open(runner_t *rn, subtopo_t *st, int32_t partition)
{
    char err[512];
    task_t *t = kp_calloc(1, sizeof *t);
    if (!t || task_init(t, rn, st, partition) != 0)
        goto fail;
    t->source_tags = rn->opts.source_tags != 0;
    for (int i = 0; i < st->ninputs; i++)
        if (st->upstreams[i] >= 0 &&
            task_set_input_upstreams(t, i, rn->job->subtopos[st->upstreams[i]].partitions))
            goto fail;
    snprintf(t->txn_id, sizeof t->txn_id, "%s.%s", rn->job->prefix, t->id);
    rd_kafka_conf_t *c = base_conf(rn);
    char ms[32];
    snprintf(ms, sizeof ms, "%d", TXN_TIMEOUT_MS);
    if (!c || conf_set(c, "transactional.id", t->txn_id) ||
        conf_set(c, "transaction.timeout.ms", ms) || conf_set(c, "linger.ms", "5") ||
        conf_set(c, "batch.size", "1000000") ||
        conf_set(c, "queue.buffering.max.messages", "1000000") ||
        apply_props(c, rn->opts.producer_props)) {
        if (c)
            rd_kafka_conf_destroy(c);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_opaque(c, t);
    t->producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!t->producer) {
        KP_ERROR("task %s: cannot create a producer: %s", t->id, err);
        goto fail;
    }
    /* Invariant (2): fence the previous owner and abort what it left open
     * before reading the state back. */
    int64_t t0 = kp_mono_ns();
    if (txn_call(t, "init_transactions", rd_kafka_init_transactions(t->producer, 60000)))
        goto fail;
    KP_DEBUG("task %s: init_transactions took %.1f ms", t->id, (double)(kp_mono_ns() - t0) / 1e6);
    warm_topics(rn, t);
    char snap[4200];
    int64_t from = 0;
    size_t snap_keys = 0;
    int rc;
    int64_t r0 = kp_mono_ns();      /* the restore itself, after init_transactions */
    if (rn->disk_state) {
        /* The LMDB store is its own local copy: it covers the changelog up to
         * the offset it recorded; a store from another incarnation of the
         * changelog (re-created, or records deleted) is cleared. */
        snprintf(snap, sizeof snap, "%s/%s", rn->state_dir, t->id);
        store_t *d = NULL;
        if ((rc = kp_file_mkdirs(snap, 0755)) != 0 || (rc = store_open_disk(snap, &d)) != 0) {
            KP_ERROR("task %s: cannot open the on-disk state in %s: %s", t->id, snap,
                     kp_strerror(rc));
            goto fail;
        }
        store_free(t->state);
        t->state = d;
        from = store_covered_offset(d);
        char data[4300];
        snprintf(data, sizeof data, "%s/data.mdb", snap);
        if (from > 0 && too_old(data)) {
            KP_WARN("task %s: on-disk state in %s is older than %d h: clearing it and "
                    "restoring from the changelog", t->id, snap, LOCAL_STATE_MAX_AGE_S / 3600);
            store_clear(d);
            from = 0;
        } else if (!fits_changelog(rn, t, from)) {
            store_clear(d);
            from = 0;
        }
        snap_keys = store_count(d);
    } else {
        snapshot_path(rn, t, snap, sizeof snap);
        if (too_old(snap)) {
            KP_WARN("task %s: snapshot %s is older than %d h: restoring from the whole "
                    "changelog", t->id, snap, LOCAL_STATE_MAX_AGE_S / 3600);
            rc = KP_ENOTFOUND;
        } else {
            rc = store_snapshot_read(t->state, snap, &from);
        }
        if (rc == 0 && !fits_changelog(rn, t, from)) {
            store_clear(t->state);
            from = 0;
        } else if (rc == 0) {
            snap_keys = store_count(t->state);
        } else if (rc != KP_ENOTFOUND) {
            KP_WARN("task %s: snapshot %s unusable (%s); restoring from the whole changelog",
                    t->id, snap, kp_strerror(rc));
            from = 0;
        }
    }
    t->restored_from = from;
    t->restore_snap_keys = snap_keys;
    (void)r0;
    return t;
fail:
    if (t)
        task_destroy(t);
    return NULL;
}

/* After restore_all: rebuild timers and time-keeping, record what the
 * on-disk store covers, and open the first transaction. */
static int task_finish(runner_t *rn, task_t *t, uint64_t nrec, int64_t r0)
{
    if (task_after_restore(t) != 0 || store_mark_covered(t->state, t->changelog_next) != 0)
        return KP_EINVAL;
    t->last_snapshot_ms = kp_mono_ns() / 1000000;
    if (t->restore_snap_keys || nrec)
        KP_INFO("task %s: restored %zu key(s), %zu bytes (%zu from %s at changelog offset %" PRId64
                ", then %" PRIu64 " changelog record(s)) in %.1f ms; watermark %" PRId64,
                t->id, store_count(t->state), store_bytes(t->state), t->restore_snap_keys,
                rn->disk_state ? "the on-disk store" : "a snapshot", t->restored_from, nrec,
                (double)(kp_mono_ns() - r0) / 1e6, t->watermark);
    if (txn_call(t, "begin_transaction", rd_kafka_begin_transaction(t->producer)))
        return KP_EINVAL;
    t->txn_open = true;
    for (int i = 0; i < t->nin; i++)
        t->in[i].last_input_ms = kp_mono_ns() / 1000000;
    return 0;
}

/* Open, restore and start one task (after an aborted transaction). */
static task_t *task_create(runner_t *rn, subtopo_t *st, int32_t partition)
{
    task_t *t = task_open(rn, st, partition);
    uint64_t nrec = 0;
    int64_t r0 = kp_mono_ns();
    if (t && (restore_all(rn, &t, 1, &nrec) != 0 || task_finish(rn, t, nrec, r0) != 0)) {
        task_destroy(t);
        t = NULL;
    }
    return t;
}

/*
 * After an aborted transaction: replace the task by a fresh one (new
 * producer, state restored from snapshot + changelog) and move its inputs
 * back to the committed offsets.  Records the consumer already fetched past
 * them are dropped by the seek.
 */
static int task_reset(runner_t *rn, task_t *t)
{
    rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, 30000);
    if (e)
        rd_kafka_error_destroy(e);      /* the new producer's init aborts it anyway */
    t->txn_open = false;
    int idx = -1;
    for (int i = 0; i < rn->ntasks; i++)
        if (rn->tasks[i] == t)
            idx = i;
    subtopo_t *st = t->st;
    int32_t partition = t->partition;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->nin);
    for (int i = 0; i < t->nin; i++)
        rd_kafka_topic_partition_list_add(l, t->in[i].node->topic, partition);
    task_destroy(t);
    task_t *n = idx >= 0 ? task_create(rn, st, partition) : NULL;
    if (!n) {
        /* The old task is gone: never leave its pointer behind. */
        if (idx >= 0) {
            memmove(rn->tasks + idx, rn->tasks + idx + 1,
                    (size_t)(rn->ntasks - idx - 1) * sizeof *rn->tasks);
            rn->ntasks--;
        }
        rd_kafka_topic_partition_list_destroy(l);
        return KP_EINVAL;
    }
    rn->tasks[idx] = n;
    /* A partition the old task had paused (flow control) would otherwise
     * stay paused for the new one, which starts unpaused. */
    rd_kafka_resume_partitions(rn->consumer, l);
    rd_kafka_resp_err_t err = rd_kafka_committed(rn->consumer, l, 30000);
    for (int i = 0; err == 0 && i < l->cnt; i++)
        if (l->elems[i].offset < 0)
            l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *se = err ? NULL : rd_kafka_seek_partitions(rn->consumer, l, 30000);
    rd_kafka_topic_partition_list_destroy(l);
    if (err || se) {
        KP_ERROR("task %s: cannot move back to the committed offsets: %s", n->id,
                 err ? rd_kafka_err2str(err) : rd_kafka_error_string(se));
        if (se)
            rd_kafka_error_destroy(se);
        return KP_EINVAL;
    }
    KP_INFO("task %s: restored and resumed from its last commit", n->id);
    return 0;
}

/*
 * Committing is three steps: (a) on the loop thread, the task's state
 * changes and watermark reports join its transaction; (b) the blocking
 * transaction calls, on one thread per task so the tasks' commits overlap
 * on the broker (its group commit then syncs them together); (c) back on the
 * loop thread, snapshots.  Processing waits for the round, as in Kafka
 * Streams: a commit is a barrier for its task.
 */
typedef struct commit_job {
    runner_t *rn;
    task_t *t;
    rd_kafka_consumer_group_metadata_t *g;
    int rc;
    int64_t end_ns;
    pthread_t th;
} commit_job_t;

static void *commit_txn(void *arg)
{
    commit_job_t *j = arg;
    task_t *t = j->t;
    j->rc = KP_EINVAL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->nin);
    for (int i = 0; i < t->nin; i++)
        if (t->in[i].next_offset > 0)
            rd_kafka_topic_partition_list_add(l, t->in[i].node->topic, t->partition)->offset =
                t->in[i].next_offset;
    int rc = 0;
    for (int attempt = 0; l->cnt > 0 && attempt < 10; attempt++) {
        rc = txn_call(t, "send_offsets_to_transaction",
                      rd_kafka_send_offsets_to_transaction(t->producer, l, j->g, 30000));
        if (rc != TXN_RETRY)
            break;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (rc) {
        j->rc = rc == TXN_RETRY ? KP_EINVAL : rc;
        return NULL;
    }
    int64_t c1 = kp_mono_ns();
    for (int attempt = 0; attempt < 10; attempt++) {
        rc = txn_call(t, "commit_transaction", rd_kafka_commit_transaction(t->producer, 30000));
        if (rc != TXN_RETRY)
            break;
    }
    if (rc) {
        j->rc = rc == TXN_RETRY ? KP_EINVAL : rc;
        return NULL;
    }
    j->end_ns = kp_mono_ns() - c1;
    job_metrics_commit(j->rn->metrics, j->end_ns);
    t->txn_open = false;
    if (txn_call(t, "begin_transaction", rd_kafka_begin_transaction(t->producer)))
        return NULL;
    t->txn_open = true;
    j->rc = 0;
    return NULL;
}

static int commit_all(runner_t *rn)
{
    int64_t c0 = kp_mono_ns();
    commit_job_t *jobs = kp_calloc(rn->ntasks ? (size_t)rn->ntasks : 1, sizeof *jobs);
    if (!jobs) {
        rn->fatal = 1;
        return -1;
    }
    int n = 0, rc = 0;
    rd_kafka_consumer_group_metadata_t *g = rd_kafka_consumer_group_metadata(rn->consumer);
    for (int i = 0; i < rn->ntasks && rc == 0; i++) {
        task_t *t = rn->tasks[i];
        if (t->failed) {
            rc = t->failed;
            break;
        }
        if (!t->busy)
            continue;
        rc = task_prepare_commit(t);
        if (rc == 0)
            rc = store_take_dirty(t->state, changelog_record, t);
        jobs[n++] = (commit_job_t){.rn = rn, .t = t, .g = g};
    }
    int started = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (pthread_create(&jobs[i].th, NULL, commit_txn, &jobs[i]) != 0) {
            commit_txn(&jobs[i]);   /* no thread: commit inline */
            jobs[i].th = 0;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        if (jobs[i].th)
            pthread_join(jobs[i].th, NULL);
        if (jobs[i].rc == TXN_ABORT) {
            /* Invariant (1) holds by starting the task over from its last
             * commit: nothing of the aborted transaction was visible. */
            if (task_reset(rn, jobs[i].t) != 0)
                rc = KP_EINVAL;
            jobs[i].t = NULL;
        } else if (jobs[i].rc) {
            rc = jobs[i].rc;
        }
    }
    if (g)
        rd_kafka_consumer_group_metadata_destroy(g);
    int64_t now = kp_mono_ns() / 1000000;
    for (int i = 0; rc == 0 && i < n; i++) {
        task_t *t = jobs[i].t;
        if (!t)
            continue;           /* reset above */
        t->busy = false;
        t->commits++;
        rn->commits++;
        rn->commit_end_ns += jobs[i].end_ns;
        t->changelog_next = t->pending_changelog_next;
        if (rn->disk_state) {
            /* The on-disk store records what the commit covers (it writes
             * to LMDB at most every few seconds; see store_disk.h). */
            if (store_mark_covered(t->state, t->changelog_next) != 0)
                KP_WARN("task %s: the on-disk state could not record its commit; a restart "
                        "replays more of the changelog", t->id);
            continue;
        }
        /* Invariant (3): the snapshot reflects exactly what was just committed. */
        if (rn->opts.snapshot_interval_ms >= 0 &&
            now - t->last_snapshot_ms >= rn->opts.snapshot_interval_ms) {
            char snap[4200];
            snapshot_path(rn, t, snap, sizeof snap);
            int src = store_snapshot_write(t->state, snap, t->changelog_next);
            if (src)
                KP_WARN("task %s: snapshot %s failed: %s (the changelog still has everything)",
                        t->id, snap, kp_strerror(src));
            t->last_snapshot_ms = now;
        }
    }
    if (n)
        rn->commit_rounds++, rn->commit_ns += kp_mono_ns() - c0;
    kp_free(jobs);
    /* The interval runs from one commit's start to the next one's, so a
     * commit's own duration does not stretch it (records produced just
     * after a commit wait at most one interval for the next). */
    rn->last_commit_ms = c0 / 1000000;
    if (rc) {
        rn->fatal = 1;
        return -1;
    }
    return 0;
}

static void drop_tasks(runner_t *rn)
{
    for (int i = 0; i < rn->ntasks; i++)
        task_destroy(rn->tasks[i]);
    rn->ntasks = 0;
}

static subtopo_t *stage_of_topic(runner_t *rn, const char *topic)
{
    for (int s = 0; s < rn->job->nsubtopos; s++)
        for (int i = 0; i < rn->job->subtopos[s].ninputs; i++)
            if (strcmp(rn->job->subtopos[s].inputs[i]->topic, topic) == 0)
                return &rn->job->subtopos[s];
    return NULL;
}

static task_t *task_of_stage(runner_t *rn, const subtopo_t *st, int32_t partition)
{
    for (int i = 0; i < rn->ntasks; i++)
        if (rn->tasks[i]->st == st && rn->tasks[i]->partition == partition)
            return rn->tasks[i];
    return NULL;
}

static bool is_source_topic(runner_t *rn, const char *topic)
{
    for (int s = 0; s < rn->job->nsubtopos; s++)
        for (int i = 0; i < rn->job->subtopos[s].ninputs; i++)
            if (rn->job->subtopos[s].inputs[i]->type == NODE_SOURCE &&
                strcmp(rn->job->subtopos[s].inputs[i]->topic, topic) == 0)
                return true;
    return false;
}

/*
 * --from latest|@TS: where source partitions without a committed offset in
 * the job's group start.  auto.offset.reset stays "earliest" because it also
 * governs the job's own repartition topics, which must be read from their
 * start whatever the user asked for the sources; so the position is set
 * here, on the assignment itself, for just the source partitions.
 */
static int start_positions(runner_t *rn, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    const char *from = rn->opts.from;
    if (!from || strcmp(from, "earliest") == 0)
        return 0;
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, c, 10000);
    if (e) {
        KP_ERROR("cannot read the committed offsets of group %s: %s", rn->job->prefix,
                 rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(c);
        return KP_EINVAL;
    }
    rd_kafka_topic_partition_list_t *by_time = rd_kafka_topic_partition_list_new(c->cnt);
    int64_t ts = from[0] == '@' ? strtoll(from + 1, NULL, 10) : -1;
    for (int i = 0; i < c->cnt; i++) {
        rd_kafka_topic_partition_t *p = &c->elems[i];
        if (p->offset >= 0 || !is_source_topic(rn, p->topic))
            continue;
        if (ts < 0)
            parts->elems[i].offset = RD_KAFKA_OFFSET_END;
        else
            rd_kafka_topic_partition_list_add(by_time, p->topic, p->partition)->offset = ts;
    }
    int rc = 0;
    if (by_time->cnt) {
        e = rd_kafka_offsets_for_times(rk, by_time, 10000);
        if (e) {
            KP_ERROR("cannot find the offsets for time %s: %s", from + 1, rd_kafka_err2str(e));
            rc = KP_EINVAL;
        }
        for (int i = 0; i < by_time->cnt && !rc; i++) {
            rd_kafka_topic_partition_t *p = &by_time->elems[i];
            /* -1: no record that late yet, so start at the end. */
            int64_t off = p->err == 0 && p->offset >= 0 ? p->offset : RD_KAFKA_OFFSET_END;
            for (int j = 0; j < parts->cnt; j++)
                if (parts->elems[j].partition == p->partition &&
                    strcmp(parts->elems[j].topic, p->topic) == 0)
                    parts->elems[j].offset = off;
        }
    }
    rd_kafka_topic_partition_list_destroy(by_time);
    rd_kafka_topic_partition_list_destroy(c);
    return rc;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    runner_t *rn = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        task_t **tasks = kp_realloc(rn->tasks, (size_t)(parts->cnt ? parts->cnt : 1) *
                                                   sizeof *tasks);
        if (!tasks) {
            rn->fatal = 1;
            return;
        }
        rn->tasks = tasks;
        int first = rn->ntasks;
        for (int i = 0; i < parts->cnt && !rn->fatal; i++) {
            subtopo_t *st = stage_of_topic(rn, parts->elems[i].topic);
            if (!st || task_of_stage(rn, st, parts->elems[i].partition))
                continue;       /* another input of a task already made */
            task_t *t = task_open(rn, st, parts->elems[i].partition);
            if (!t) {
                rn->fatal = 1;
                break;
            }
            rn->tasks[rn->ntasks++] = t;
        }
        /* Every new task's state comes back in one pass over the changelogs. */
        int n = rn->ntasks - first;
        uint64_t *nrec = kp_calloc(n > 0 ? (size_t)n : 1, sizeof *nrec);
        int64_t r0 = kp_mono_ns();
        if (!rn->fatal && (!nrec || restore_all(rn, rn->tasks + first, n, nrec) != 0))
            rn->fatal = 1;
        for (int i = 0; i < n && !rn->fatal; i++)
            if (task_finish(rn, rn->tasks[first + i], nrec[i], r0) != 0)
                rn->fatal = 1;
        kp_free(nrec);
        KP_INFO("assigned %d task(s)", rn->ntasks);
        if (!rn->fatal && start_positions(rn, rk, parts) != 0)
            rn->fatal = 1;
        rd_kafka_assign(rk, rn->fatal ? NULL : parts);
        if (!rn->fatal)
            rd_kafka_resume_partitions(rk, parts);  /* no pause survives a rebalance */
    } else {
        /* Partitions lost (our session expired, e.g. the process was
         * paused): another runner may own the tasks already, so drop them
         * without committing -- their open transactions abort, and whatever
         * they did is redone by the new owner from the last commit. */
        if (rd_kafka_assignment_lost(rk))
            KP_WARN("assignment lost (the group session expired): dropping %d task(s) "
                    "without committing", rn->ntasks);
        else if (!rn->fatal)
            commit_all(rn);
        KP_INFO("revoked %d task(s)", rn->ntasks);
        drop_tasks(rn);
        rd_kafka_assign(rk, NULL);
    }
}

static task_t *task_for(runner_t *rn, const char *topic, int32_t partition, int *in)
{
    for (int i = 0; i < rn->ntasks; i++) {
        task_t *t = rn->tasks[i];
        if (t->partition != partition)
            continue;
        for (int j = 0; j < t->nin; j++)
            if (strcmp(t->in[j].node->topic, topic) == 0) {
                *in = j;
                return t;
            }
    }
    return NULL;
}

/* ---- the loop --------------------------------------------------------------- */

static int64_t event_time(const kappa_stream_t *src, const kappa_record_t *r, int64_t kafka_ts)
{
    if (src->type == NODE_SOURCE || src->type == NODE_TABLE) {
        if (src->src.time_fn) {
            int64_t ts = src->src.time_fn(r, src->src.time_arg);
            if (ts >= 0)
                return ts;
        } else if (src->time_field[0]) {
            int64_t ts;
            if (kappa_json_i64(r, src->time_field, &ts) == 0)
                return ts;
        }
    }
    return kafka_ts;
}

static int handle(runner_t *rn, rd_kafka_message_t *m)
{
    if (!m->rkt) {
        /* A consumer-level error (no partition): the group refused us or
         * the consumer cannot go on. */
        if (m->err == RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT) {
            KP_ERROR("the broker refused --session-timeout-ms %d: it must lie within the "
                     "broker's group.min.session.timeout.ms and group.max.session.timeout.ms",
                     rn->opts.session_timeout_ms);
            return KP_EINVAL;
        }
        if (m->err == RD_KAFKA_RESP_ERR__FATAL || m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
            m->err == RD_KAFKA_RESP_ERR_INVALID_GROUP_ID) {
            KP_ERROR("consumer: %s; stopping", rd_kafka_message_errstr(m));
            return KP_EINVAL;
        }
        KP_WARN("consumer: %s", rd_kafka_message_errstr(m));
        return 0;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    int in = 0;
    task_t *t = task_for(rn, topic, m->partition, &in);
    int64_t now = kp_mono_ns() / 1000000;
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (t)
                task_input_at_end(t, in, now);
            return t ? t->failed : 0;
        }
        KP_WARN("consumer: %s [%" PRId32 "]: %s", topic ? topic : "-", m->partition,
                rd_kafka_message_errstr(m));
        return 0;
    }
    if (!t)
        return 0;               /* left over from a revoked assignment */
    t->in[in].last_input_ms = now;
    kappa_stream_t *node = t->in[in].node;
    if (node->type == NODE_SOURCE && rn->has_from && !rn->cut_passed &&
        rn->opts.stable_wait_group) {
        cut_tag_t at = {topic, strlen(topic), m->partition, m->offset};
        if (!cut_before(&rn->stable_from, &at)) {
            int rc = wait_at_cut(rn);
            if (rc || rn->halted)
                return rc;
        }
    }
    if (node->type == NODE_REPART_SOURCE) {
        rd_kafka_headers_t *h = NULL;
        const void *wm, *up;
        size_t wl, ul;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, STREAM_HDR_WATERMARK, &wm, &wl) == 0 && wl == 8 &&
            rd_kafka_header_get_last(h, STREAM_HDR_UPSTREAM, &up, &ul) == 0 && ul == 4)
            return task_offer_watermark(t, in, (int)kp_be32(up), (int64_t)kp_be64(wm),
                                        m->offset);
    }
    rd_kafka_timestamp_type_t tt;
    int64_t kts = rd_kafka_message_timestamp(m, &tt);
    if (node->type == NODE_REPART_SOURCE) {
        rd_kafka_headers_t *h = NULL;
        const void *ev;
        size_t el;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, STREAM_HDR_EVENT_TIME, &ev, &el) == 0 && el == 8)
            kts = (int64_t)kp_be64(ev);
    }
    kappa_record_t r = {m->key, m->key_len, m->payload, m->len, 0};
    stream_record_epoch++;      /* a new record: field lookups check it afresh */
    r.timestamp = event_time(node, &r, kts);
    if (node->type == NODE_REPART_SOURCE && t->source_tags) {
        /* The record carries the source record that caused it upstream. */
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vl;
        cut_tag_t tag;
        if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(h, CUT_TAG_HEADER, &v, &vl) == 0 &&
            cut_tag_decode(v, vl, &tag) == 0 &&
            (tag.topic = task_source_topic(t, tag.topic, tag.topic_len)) != NULL)
            return task_offer_tagged(t, in, &r, m->offset, &tag);
    }
    return task_offer(t, in, &r, m->offset);
}

/* A join task waits for its slowest input; stop fetching an input that ran
 * far ahead so its buffer stays bounded. */
static void flow_control(runner_t *rn)
{
    for (int i = 0; i < rn->ntasks; i++) {
        task_t *t = rn->tasks[i];
        if (t->nin < 2)
            continue;
        for (int j = 0; j < t->nin; j++) {
            task_input_t *x = &t->in[j];
            size_t n = task_buffered(t, j);
            bool want = n > 50000 ? true : n < 5000 ? false : x->paused;
            if (want == x->paused)
                continue;
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, x->node->topic, t->partition);
            if (want)
                rd_kafka_pause_partitions(rn->consumer, l);
            else
                rd_kafka_resume_partitions(rn->consumer, l);
            rd_kafka_topic_partition_list_destroy(l);
            x->paused = want;
        }
    }
}

static void report(runner_t *rn, int64_t now)
{
    uint64_t in = 0, out = 0, late = 0;
    for (int i = 0; i < rn->ntasks; i++) {
        in += rn->tasks[i]->records_in;
        out += rn->tasks[i]->records_out;
        late += rn->tasks[i]->late;
    }
    KP_INFO("job %s: %d task(s), %" PRIu64 " records in, %" PRIu64 " out, %" PRIu64
            " late, %" PRIu64 " commits (%.1f ms per round of all tasks, %.1f ms per "
            "commit_transaction)",
            rn->job->prefix, rn->ntasks, in, out, late, rn->commits,
            rn->commit_rounds ? (double)rn->commit_ns / 1e6 / (double)rn->commit_rounds : 0.0,
            rn->commits ? (double)rn->commit_end_ns / 1e6 / (double)rn->commits : 0.0);
    rn->last_report_ms = now;
}

static int make_consumers(runner_t *rn)
{
    char err[512], ms[32];
    rd_kafka_conf_t *c = base_conf(rn);
    snprintf(ms, sizeof ms, "%d", rn->opts.session_timeout_ms);
    if (!c || conf_set(c, "group.id", rn->job->prefix) ||
        conf_set(c, "isolation.level", "read_committed") ||
        conf_set(c, "enable.auto.commit", "false") ||
        conf_set(c, "auto.offset.reset", "earliest") ||
        conf_set(c, "enable.partition.eof", "true") ||
        conf_set(c, "partition.assignment.strategy", "range") ||
        conf_set(c, "session.timeout.ms", ms) ||
        conf_set(c, "heartbeat.interval.ms", "1000") ||
        /* Keep the fetchers ahead of processing: with librdkafka's default
         * prefetch (queued.min.messages 100000, 1 MiB per partition fetch)
         * a stateless job read only ~170K events/s from a local broker,
         * with these ~400K (measured with Nexmark q2). */
        conf_set(c, "queued.min.messages", "1000000") ||
        conf_set(c, "max.partition.fetch.bytes", "4194304") ||
        apply_props(c, rn->opts.consumer_props)) {
        if (c)
            rd_kafka_conf_destroy(c);
        return KP_EINVAL;
    }
    rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    rd_kafka_conf_set_opaque(c, rn);
    rn->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rn->consumer) {
        KP_ERROR("cannot create the consumer: %s", err);
        return KP_EINVAL;
    }
    rd_kafka_poll_set_consumer(rn->consumer);
    rn->queue = rd_kafka_queue_get_consumer(rn->consumer);

    c = base_conf(rn);
    if (!c || conf_set(c, "isolation.level", "read_committed") ||
        conf_set(c, "enable.partition.eof", "true") ||
        conf_set(c, "enable.auto.commit", "false") ||
        conf_set(c, "group.id", "kappa-restore-unused") ||
        conf_set(c, "auto.offset.reset", "earliest") ||
        /* Restores read to the end and stop: no long polls at the end. */
        conf_set(c, "fetch.wait.max.ms", "10") ||
        conf_set(c, "fetch.error.backoff.ms", "10") ||
        conf_set(c, "queued.min.messages", "1000000") ||
        conf_set(c, "max.partition.fetch.bytes", "4194304")) {
        if (c)
            rd_kafka_conf_destroy(c);
        return KP_EINVAL;
    }
    rn->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rn->restorer) {
        KP_ERROR("cannot create the restore consumer: %s", err);
        return KP_EINVAL;
    }
    rd_kafka_poll_set_consumer(rn->restorer);
    return 0;
}

static int subscribe(runner_t *rn)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int s = 0; s < rn->job->nsubtopos; s++)
        for (int i = 0; i < rn->job->subtopos[s].ninputs; i++)
            rd_kafka_topic_partition_list_add(l, rn->job->subtopos[s].inputs[i]->topic,
                                              RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rn->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        KP_ERROR("cannot subscribe: %s", rd_kafka_err2str(e));
        return KP_EINVAL;
    }
    return 0;
}

static int run_loop(runner_t *rn)
{
    rd_kafka_message_t *msgs[1024];
    while (!stop_requested && !rn->fatal) {
        /* Wait for input at most until the next commit is due: a quiet input
         * must not hold back the commit of what was already processed. */
        int64_t due = rn->last_commit_ms + rn->opts.commit_interval_ms - kp_mono_ns() / 1000000;
        int wait_ms = due < 1 ? 1 : due > 50 ? 50 : (int)due;
        ssize_t n = rd_kafka_consume_batch_queue(rn->queue, wait_ms, msgs, 1024);
        for (ssize_t i = 0; i < n; i++) {
            /* Halted at the promote cut: the rest is not taken (nor committed). */
            if (!rn->fatal && !rn->halted && handle(rn, msgs[i]) != 0)
                rn->fatal = 1;
            rd_kafka_message_destroy(msgs[i]);
        }
        flow_control(rn);
        int64_t now = kp_mono_ns() / 1000000;
        for (int i = 0; i < rn->ntasks && !rn->fatal; i++) {
            if (task_tick(rn->tasks[i], now) != 0)
                rn->fatal = 1;
            rd_kafka_poll(rn->tasks[i]->producer, 0);
        }
        if (!rn->fatal && now - rn->last_commit_ms >= rn->opts.commit_interval_ms)
            commit_all(rn);
        if (now - rn->last_report_ms >= 10000)
            report(rn, now);
        if (rn->metrics && now - rn->last_publish_ms >= 1000) {
            job_metrics_publish(rn->metrics, rn->tasks, rn->ntasks, rn->commits, rn->consumer);
            rn->last_publish_ms = now;
        }
    }
    return rn->fatal ? 1 : 0;
}

/* --versioned-outputs: sink topic T becomes T.vVERSION (and so does the late
 * topic).  Done after planning, so the graph checks saw the user's names.
 * Views are versioned by their own naming (__kappa_view.VIEW.vVERSION). */
static int version_outputs(runner_t *rn, kappa_job_t *job)
{
    for (int i = 0; i <= job->nnodes; i++) {
        char *topic = i < job->nnodes ? job->nodes[i]->topic : job->late_topic;
        /* A view's backing topic is versioned by its name already
         * (__kappa_view.VIEW.vV). */
        if ((i < job->nnodes && (job->nodes[i]->type != NODE_SINK || job->nodes[i]->view[0])) ||
            !topic[0])
            continue;
        char v[STREAM_TOPIC_MAX + 16];
        int n = snprintf(v, sizeof v, "%s.v%d", topic, job->version);
        if (n < 0 || n > STREAM_TOPIC_MAX || n > 249) {
            job_fail(job, "output topic %s.v%d is too long", topic, job->version);
            return KP_EINVAL;
        }
        /* Sink topics (not the late topic) have a stable twin under promote. */
        bool twin = rn->opts.stable_outputs && i < job->nnodes;
        for (int k = 0; twin && k < rn->nstable; k++)
            twin = strcmp(rn->stable[k].stable, topic) != 0;
        if (twin && rn->nstable < STREAM_MAX_NODES) {
            stable_topic_t *st = &rn->stable[rn->nstable++];
            snprintf(st->stable, sizeof st->stable, "%s", topic);
            memcpy(st->versioned, v, (size_t)n + 1);   /* n <= STREAM_TOPIC_MAX, checked above */
        }
        memcpy(topic, v, (size_t)n + 1);
    }
    return 0;
}

int kappa_job_run(const char *name, int version, kappa_job_define_fn *define,
                  const kappa_run_opts_t *opts)
{
    runner_t rn = {0};
    kappa_job_t *job = NULL;
    int rc = job_new(name, version, &job);
    if (rc) {
        KP_ERROR("job name '%s' must be 1-%d of [A-Za-z0-9._-] and version >= 1", name,
                 STREAM_NAME_MAX - 1);
        return 2;
    }
    if (opts)
        job->params = opts->params;
    if (define(job) != 0 && !job->error[0])
        job_fail(job, "kappa_job_define returned an error");
    if (job_plan(job) != 0) {
        KP_ERROR("job %s: %s", job->prefix, job->error);
        job_free(job);
        return 2;
    }
    rn.job = job;
    if (opts)
        rn.opts = *opts;
    if (rn.opts.from && !stream_from_valid(rn.opts.from)) {
        KP_ERROR("--from '%s': use earliest, latest or @TIMESTAMP_MS", rn.opts.from);
        job_free(job);
        return 2;
    }
    if (rn.opts.stable_outputs && !rn.opts.versioned_outputs) {
        KP_ERROR("--stable-outputs/--stable-from/--stable-until need --versioned-outputs");
        job_free(job);
        return 2;
    }
    const char *cuts[2] = {rn.opts.stable_from, rn.opts.stable_until};
    for (int i = 0; i < 2; i++) {
        char why[256];
        if (cuts[i] && cut_parse(cuts[i], i ? &rn.stable_until : &rn.stable_from, why,
                                 sizeof why) != 0) {
            KP_ERROR("--stable-%s '%s': %s", i ? "until" : "from", cuts[i], why);
            cut_free(&rn.stable_from);
            cut_free(&rn.stable_until);
            job_free(job);
            return 2;
        }
    }
    rn.has_from = cuts[0] != NULL;
    rn.has_until = cuts[1] != NULL;
    if (rn.opts.versioned_outputs)
        rn.opts.source_tags = 1;
    if (rn.opts.versioned_outputs && version_outputs(&rn, job) != 0) {
        KP_ERROR("job %s: %s", job->prefix, job->error);
        cut_free(&rn.stable_from);
        cut_free(&rn.stable_until);
        job_free(job);
        return 2;
    }
    if (!rn.opts.brokers)
        rn.opts.brokers = "127.0.0.1:9092";
    if (rn.opts.commit_interval_ms <= 0)
        rn.opts.commit_interval_ms = 100;
    if (rn.opts.snapshot_interval_ms == 0)
        rn.opts.snapshot_interval_ms = 30000;
    if (rn.opts.session_timeout_ms <= 0)
        rn.opts.session_timeout_ms = 10000;
    if (rn.opts.state_store && strcmp(rn.opts.state_store, "disk") == 0) {
        rn.disk_state = true;
    } else if (rn.opts.state_store && strcmp(rn.opts.state_store, "memory") != 0) {
        KP_ERROR("state store '%s': use memory or disk", rn.opts.state_store);
        job_free(job);
        return 2;
    }
    snprintf(rn.state_dir, sizeof rn.state_dir, "%s/%s",
             rn.opts.state_dir ? rn.opts.state_dir : "kappa-state", job->prefix);
    if ((rc = kp_file_mkdirs(rn.state_dir, 0755)) != 0) {
        KP_ERROR("cannot create state directory %s: %s", rn.state_dir, kp_strerror(rc));
        job_free(job);
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    stop_requested = 0;

    int status = 1;
    if (rn.opts.http && !(rn.metrics = job_metrics_start(rn.opts.http, name, version)))
        goto out;
    if (make_consumers(&rn) != 0)
        goto out;
    /* The reachability check: a broker that does not answer is a clear
     * error, not a silent hang. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rn.consumer, 0, NULL, &md, 10000);
    if (e) {
        KP_ERROR("cannot reach a broker at %s within 10 s: %s", rn.opts.brokers,
                 rd_kafka_err2str(e));
        status = 3;
        goto out;
    }
    rd_kafka_metadata_destroy(md);
    if (setup_topics(&rn, rn.consumer) != 0)
        goto out;
    KP_INFO("job %s: %d stage(s), commit interval %" PRId64 " ms, state in %s", job->prefix,
            job->nsubtopos, rn.opts.commit_interval_ms, rn.state_dir);
    if (start_views(&rn) != 0)
        goto out;
    if (subscribe(&rn) != 0)
        goto out;
    rn.last_commit_ms = rn.last_report_ms = kp_mono_ns() / 1000000;
    status = run_loop(&rn);
    if (!rn.fatal)
        commit_all(&rn);
    report(&rn, kp_mono_ns() / 1000000);
    if (rn.fatal)
        status = 1;
out:
    if (rn.consumer) {
        /* Leaving the group revokes (and so commits) the tasks. */
        rd_kafka_consumer_close(rn.consumer);
        drop_tasks(&rn);
        rd_kafka_queue_destroy(rn.queue);
        rd_kafka_destroy(rn.consumer);
    }
    /* After the tasks' last commit, so the sink can still apply it. */
    if (rn.views && view_sink_stop(rn.views) != 0 && status == 0)
        status = 1;
    if (rn.restorer) {
        rd_kafka_consumer_close(rn.restorer);
        rd_kafka_destroy(rn.restorer);
    }
    job_metrics_stop(rn.metrics);
    kp_free(rn.tasks);
    cut_free(&rn.stable_from);
    cut_free(&rn.stable_until);
    job_free(job);
    return status;
}

/*
 * progress.c -- a deployed version's progress through its replay (see
 * progress.h).  One short-lived consumer handle per measurement, with the
 * version's group id but never subscribed: it reads the group's committed
 * offsets (OffsetFetch) without joining, so it never disturbs the runners.
 *
 * Event time is read separately (jobs_progress_event_time) with a
 * long-lived reader, because it fetches records: per partition a small
 * window just before the committed offset, whose newest record is the last
 * one the version processed.  Invariants: (1) the reader never commits and
 * never joins a group (assign() with explicit offsets only); (2) every wait
 * is bounded by the caller's timeout, so a dead broker costs at most that.
 */
#include "jobs/progress.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void jobs_progress_free(jobs_progress_t *p)
{
    kp_free(p->parts);
    memset(p, 0, sizeof *p);
}

int jobs_progress_measure(const rd_kafka_conf_t *base, const jobs_version_t *v,
                          int timeout_ms, jobs_progress_t *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    char err[512], group[JOBS_NAME_MAX + 32];
    snprintf(group, sizeof group, "%s.v%d", v->name, v->version);
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(base);
    if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err)) {
        rd_kafka_conf_destroy(conf);
        snprintf(why, cap, "consumer configuration: %s", err);
        return KP_EINVAL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        snprintf(why, cap, "cannot create a consumer: %s", err);
        return KP_EINVAL;
    }
    int rc = 0;
    out->parts = kp_calloc(v->nparts ? (size_t)v->nparts : 1, sizeof *out->parts);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(v->nparts + 1);
    if (!out->parts) {
        rc = KP_ENOMEM;
        goto done;
    }
    out->nparts = v->nparts;
    for (int i = 0; i < v->nparts; i++)
        rd_kafka_topic_partition_list_add(l, v->parts[i].topic, v->parts[i].partition);
    rd_kafka_resp_err_t e = v->nparts ? rd_kafka_committed(rk, l, timeout_ms) : 0;
    if (e) {
        snprintf(why, cap, "reading the committed offsets of group %s: %s", group,
                 rd_kafka_err2str(e));
        rc = KP_EINVAL;
        goto done;
    }
    out->past_end = true;
    out->event_time_lag_ms = -1;
    for (int i = 0; i < v->nparts; i++) {
        const jobs_partition_t *r = &v->parts[i];
        jobs_part_progress_t *p = &out->parts[i];
        snprintf(p->topic, sizeof p->topic, "%s", r->topic);
        p->partition = r->partition;
        p->start_offset = r->start_offset;
        p->end_offset = r->end_offset;
        p->event_time_ms = p->event_time_lag_ms = -1;
        int64_t c = l->elems[i].err ? -1 : l->elems[i].offset;
        p->committed = c >= 0;
        p->current = c >= 0 ? c : r->start_offset;
        int64_t low = 0, high = -1;
        e = rd_kafka_query_watermark_offsets(rk, r->topic, r->partition, &low, &high,
                                             timeout_ms);
        if (e) {
            snprintf(why, cap, "reading the high watermark of %s/%d: %s", r->topic,
                     (int)r->partition, rd_kafka_err2str(e));
            rc = KP_EINVAL;
            goto done;
        }
        p->high_watermark = high;
        p->lag = high > p->current ? high - p->current : 0;
        int64_t span = r->end_offset - r->start_offset;
        int64_t d = p->current - r->start_offset;
        if (span > 0) {
            out->total += span;
            out->done += d < 0 ? 0 : d > span ? span : d;
        }
        out->lag += p->lag;
        if (p->current < r->end_offset)
            out->past_end = false;
    }
    out->ratio = out->total ? (double)out->done / (double)out->total : 1.0;
    out->sampled_ms = kp_mono_ns() / 1000000;
done:
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    if (rc)
        jobs_progress_free(out);
    return rc;
}

/* ---- event time ---------------------------------------------------------- */

#define ETIME_WINDOW 16         /* records before current read first */
#define ETIME_WIDE 1024         /* the one wider window when the first held none */

struct jobs_etime_reader {
    rd_kafka_t *rk;
};

int jobs_etime_reader_new(const rd_kafka_conf_t *base, jobs_etime_reader_t **out, char *why,
                          size_t cap)
{
    *out = NULL;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(base);
    /* assign() needs a group id in librdkafka, but nothing is ever committed
     * or joined under it: it is only a name. */
    static const char *const kv[][2] = {
        {"group.id", "__kappa_etime"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"isolation.level", "read_committed"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "100"},
        {"queued.max.messages.kbytes", "1024"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err)) {
            rd_kafka_conf_destroy(conf);
            snprintf(why, cap, "consumer configuration: %s", err);
            return KP_EINVAL;
        }
    jobs_etime_reader_t *r = kp_calloc(1, sizeof *r);
    if (!r) {
        rd_kafka_conf_destroy(conf);
        snprintf(why, cap, "out of memory");
        return KP_ENOMEM;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!r->rk) {
        kp_free(r);
        snprintf(why, cap, "cannot create a consumer: %s", err);
        return KP_EINVAL;
    }
    *out = r;
    return 0;
}

void jobs_etime_reader_free(jobs_etime_reader_t *r)
{
    if (!r)
        return;
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    kp_free(r);
}

/* Per partition of one read: the window and what came back. */
typedef struct etime_slot {
    int idx;                    /* into p->parts */
    int64_t lo, hi;             /* window [lo, hi) */
    int64_t ts, ts_offset;      /* newest record seen in the window; ts -1: none */
    bool done;
} etime_slot_t;

/*
 * One fetch round over the slots not yet done: assign each at its lo, poll
 * until every one has seen a record at or past hi - 1 (or its end), or the
 * deadline.  Records are matched by topic and partition, and anything
 * outside [lo, ...) is ignored, so a straggler of an earlier assignment
 * cannot be taken for this window.
 */
static void etime_round(rd_kafka_t *rk, const jobs_progress_t *p, etime_slot_t *sl, int n,
                        int64_t deadline_ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (sl[i].done)
            continue;
        const jobs_part_progress_t *x = &p->parts[sl[i].idx];
        rd_kafka_topic_partition_list_add(l, x->topic, x->partition)->offset = sl[i].lo;
        open++;
    }
    if (!open || rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    rd_kafka_topic_partition_list_destroy(l);
    for (;;) {
        int64_t left = deadline_ms - kp_mono_ns() / 1000000;
        if (open == 0 || left <= 0)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, (int)(left < 100 ? left : 100));
        if (!m)
            continue;
        etime_slot_t *s = NULL;
        if (m->rkt) {
            const char *topic = rd_kafka_topic_name(m->rkt);
            for (int i = 0; i < n && !s; i++) {
                const jobs_part_progress_t *x = &p->parts[sl[i].idx];
                if (!sl[i].done && x->partition == m->partition && strcmp(x->topic, topic) == 0)
                    s = &sl[i];
            }
        }
        if (s && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            s->done = true;     /* the log ends inside (or at) the window */
            open--;
        } else if (s && !m->err && m->offset >= s->lo) {
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            if (m->offset < s->hi && m->offset >= s->ts_offset &&
                tt != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) {
                s->ts = ts;
                s->ts_offset = m->offset;
            }
            if (m->offset >= s->hi - 1) {
                s->done = true;
                open--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
}

void jobs_progress_event_time(jobs_etime_reader_t *r, jobs_progress_t *p, int timeout_ms)
{
    p->event_time_lag_ms = -1;
    for (int i = 0; i < p->nparts; i++)
        p->parts[i].event_time_ms = p->parts[i].event_time_lag_ms = -1;
    if (!r || p->nparts == 0)
        return;
    etime_slot_t *sl = kp_calloc((size_t)p->nparts, sizeof *sl);
    if (!sl)
        return;
    int n = 0;
    for (int i = 0; i < p->nparts; i++) {
        const jobs_part_progress_t *x = &p->parts[i];
        /* Nothing before start is this version's: committed == start means
         * it has processed nothing here yet. */
        if (!x->committed || x->current <= x->start_offset || x->current <= 0)
            continue;
        int64_t lo = x->current - ETIME_WINDOW;
        sl[n] = (etime_slot_t){.idx = i, .lo = lo < x->start_offset ? x->start_offset : lo,
                               .hi = x->current, .ts = -1, .ts_offset = -1};
        n++;
    }
    int64_t deadline = kp_mono_ns() / 1000000 + timeout_ms;
    etime_round(r->rk, p, sl, n, deadline);
    /* Markers or aborted records filled the window: one wider look. */
    bool again = false;
    for (int i = 0; i < n; i++) {
        const jobs_part_progress_t *x = &p->parts[sl[i].idx];
        if (sl[i].done && sl[i].ts < 0 && sl[i].lo > x->start_offset) {
            int64_t lo = x->current - ETIME_WIDE;
            sl[i].lo = lo < x->start_offset ? x->start_offset : lo;
            sl[i].done = false;
            again = true;
        }
    }
    if (again)
        etime_round(r->rk, p, sl, n, deadline);
    int64_t now = kp_now_ms();
    for (int i = 0; i < n; i++) {
        jobs_part_progress_t *x = &p->parts[sl[i].idx];
        if (!sl[i].done || sl[i].ts < 0)
            continue;   /* timed out: a partial window might not hold the newest */
        x->event_time_ms = sl[i].ts;
        /* A timestamp in the future (a producer's clock) is no lag, not a negative one. */
        x->event_time_lag_ms = now > sl[i].ts ? now - sl[i].ts : 0;
        if (x->event_time_lag_ms > p->event_time_lag_ms)
            p->event_time_lag_ms = x->event_time_lag_ms;
    }
    kp_free(sl);
}

void jobs_fmt_event_lag(char *buf, size_t cap, int64_t ms)
{
    if (ms < 0)
        snprintf(buf, cap, "-");
    else if (ms < 60000)
        snprintf(buf, cap, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, cap, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
    else if (ms < 86400000)
        snprintf(buf, cap, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
    else
        snprintf(buf, cap, "%" PRId64 "d%02dh", ms / 86400000, (int)(ms / 3600000 % 24));
}

static void json_ms(FILE *f, int64_t ms)
{
    if (ms < 0)
        fprintf(f, "null");
    else
        fprintf(f, "%" PRId64, ms);
}

const char *jobs_phase(const jobs_version_t *v, const jobs_progress_t *p, int64_t lag_threshold,
                       bool promoted)
{
    if (jobs_version_retired(v))
        return "RETIRED";
    if (strcmp(v->state, "running") != 0)
        return "STOPPED";
    if (!p->past_end || p->lag >= lag_threshold)
        return "BACKFILLING";
    return promoted ? "LIVE" : "CAUGHT_UP";
}

double jobs_progress_rate(const jobs_progress_t *a, const jobs_progress_t *b)
{
    int64_t dt = b->sampled_ms - a->sampled_ms;
    if (dt <= 0 || a->nparts != b->nparts)
        return 0;
    int64_t d = 0;
    for (int i = 0; i < a->nparts; i++)
        d += b->parts[i].current - a->parts[i].current;
    return d > 0 ? (double)d * 1000.0 / (double)dt : 0;
}

bool jobs_is_promoted(const jobs_registry_t *r, const jobs_version_t *v)
{
    return v->version == jobs_registry_live_version(r, v->name);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void jobs_status_json(FILE *f, const char *name, const jobs_registry_t *r,
                      jobs_version_t *const *vs, const jobs_progress_t *ps,
                      const jobs_progress_t *const *prev, int n, int64_t lag_threshold)
{
    fprintf(f, "{\"name\":");
    json_str(f, name);
    fprintf(f, ",\"versions\":[");
    for (int i = 0; i < n; i++) {
        const jobs_version_t *v = vs[i];
        const jobs_progress_t *p = &ps[i];
        double rate = prev && prev[i] ? jobs_progress_rate(prev[i], p) : 0;
        int64_t left = p->total - p->done;
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_str(f, v->name);
        fprintf(f, ",\"version\":%d,\"state\":", v->version);
        json_str(f, v->state);
        fprintf(f, ",\"phase\":\"%s\",\"progress\":%.6f,\"lag\":%" PRId64
                   ",\"records_per_sec\":%.1f,\"eta_sec\":",
                jobs_phase(v, p, lag_threshold, jobs_is_promoted(r, v)), p->ratio, p->lag,
                rate);
        if (left == 0)
            fprintf(f, "0");
        else if (rate > 0)
            fprintf(f, "%.1f", (double)left / rate);
        else
            fprintf(f, "null");
        fprintf(f, ",\"event_time_lag_ms\":");
        json_ms(f, p->event_time_lag_ms);
        fprintf(f, ",\"partitions\":[");
        for (int k = 0; k < p->nparts; k++) {
            const jobs_part_progress_t *x = &p->parts[k];
            fprintf(f, "%s{\"topic\":", k ? "," : "");
            json_str(f, x->topic);
            fprintf(f, ",\"partition\":%d,\"start\":%" PRId64 ",\"current\":%" PRId64
                       ",\"end\":%" PRId64 ",\"high_watermark\":%" PRId64 ",\"lag\":%" PRId64
                       ",\"committed\":%s,\"event_time_lag_ms\":",
                    (int)x->partition, x->start_offset, x->current, x->end_offset,
                    x->high_watermark, x->lag, x->committed ? "true" : "false");
            json_ms(f, x->event_time_lag_ms);
            fputc('}', f);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "]}");
}

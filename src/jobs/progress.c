/*
 * progress.c -- a deployed version's progress through its replay (see
 * progress.h).  One short-lived consumer handle per measurement, with the
 * version's group id but never subscribed: it reads the group's committed
 * offsets (OffsetFetch) without joining, so it never disturbs the runners.
 */
#include "jobs/progress.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"

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
    for (int i = 0; i < v->nparts; i++) {
        const jobs_partition_t *r = &v->parts[i];
        jobs_part_progress_t *p = &out->parts[i];
        snprintf(p->topic, sizeof p->topic, "%s", r->topic);
        p->partition = r->partition;
        p->start_offset = r->start_offset;
        p->end_offset = r->end_offset;
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

const char *jobs_phase(const jobs_version_t *v, const jobs_progress_t *p, int64_t lag_threshold,
                       bool promoted)
{
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

bool jobs_only_running(const jobs_registry_t *r, const jobs_version_t *v)
{
    for (int i = 0; i < r->nversions; i++) {
        const jobs_version_t *o = r->versions[i];
        if (o != v && strcmp(o->name, v->name) == 0 && strcmp(o->state, "running") == 0)
            return false;
    }
    return strcmp(v->state, "running") == 0;
}

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
        fprintf(f, ",\"partitions\":[");
        for (int k = 0; k < p->nparts; k++) {
            const jobs_part_progress_t *x = &p->parts[k];
            fprintf(f, "%s{\"topic\":", k ? "," : "");
            json_str(f, x->topic);
            fprintf(f, ",\"partition\":%d,\"start\":%" PRId64 ",\"current\":%" PRId64
                       ",\"end\":%" PRId64 ",\"high_watermark\":%" PRId64 ",\"lag\":%" PRId64
                       ",\"committed\":%s}",
                    (int)x->partition, x->start_offset, x->current, x->end_offset,
                    x->high_watermark, x->lag, x->committed ? "true" : "false");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "]}");
}

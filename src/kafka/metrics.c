/*
 * metrics.c -- the broker's Prometheus metrics, served at GET /metrics on
 * the HTTP listener (kappa.http.listener).
 *
 * Counters that change on the hot path (requests, partition traffic) are
 * plain integers bumped on the loop thread; gauges (log size, high
 * watermark, consumer lag) are read from live state when scraped, so a
 * scrape costs O(partitions + committed offsets) and nothing between
 * scrapes.  Names follow Prometheus conventions: kappa_ prefix, _total for
 * counters, _seconds and _bytes units.
 *
 * Invariants:
 *  (1) Everything here runs on the loop thread (the HTTP server is driven by
 *      the loop), except the fsync histogram, which is atomic.
 *  (2) A label set, once exported, keeps being exported while its object
 *      lives, so rate() never sees a series vanish and reappear.
 */
#include "broker.h"
#include "group_int.h"

#include "../core/kp_clock.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../serve/http.h"
#include "../serve/views_api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

void broker_metrics_request(kreq_t *r, uint32_t nerrors)
{
    if (r->api_key < 0 || r->api_key >= BROKER_API_KEYS)
        return;
    broker_metrics_t *m = &r->b->metrics;
    m->requests[r->api_key]++;
    if (nerrors)
        m->request_errors[r->api_key]++;
    int64_t ns = kp_mono_ns() - r->start_ns;
    metric_hist_observe_ns(&m->latency[r->api_key], (uint64_t)(ns > 0 ? ns : 0));
}

static void render_requests(broker_t *b, prom_buf_t *o)
{
    broker_metrics_t *m = &b->metrics;
    prom_family(o, "kappa_requests_total", "counter",
                "Kafka requests answered, by API.");
    for (int i = 0; i < kapi_count; i++) {
        int16_t k = kapi_table[i].key;
        if (kapi_served(k) && k < BROKER_API_KEYS)
            prom_sample(o, "kappa_requests_total", (double)m->requests[k], "api",
                        kapi_table[i].name, NULL);
    }
    prom_family(o, "kappa_request_errors_total", "counter",
                "Kafka responses carrying at least one non-zero error code, by API.");
    for (int i = 0; i < kapi_count; i++) {
        int16_t k = kapi_table[i].key;
        if (kapi_served(k) && k < BROKER_API_KEYS)
            prom_sample(o, "kappa_request_errors_total", (double)m->request_errors[k], "api",
                        kapi_table[i].name, NULL);
    }
    prom_family(o, "kappa_request_duration_seconds", "histogram",
                "Time from a request's arrival to its response being ready (includes the "
                "fsync wait of a produce and the long poll of a fetch), by API.");
    for (int i = 0; i < kapi_count; i++) {
        int16_t k = kapi_table[i].key;
        if (kapi_served(k) && k < BROKER_API_KEYS)
            prom_histogram(o, "kappa_request_duration_seconds", &m->latency[k], "api",
                           kapi_table[i].name, NULL);
    }
    prom_family(o, "kappa_connections", "gauge", "Open Kafka client connections.");
    prom_sample(o, "kappa_connections", b->nconns, NULL);
    prom_family(o, "kappa_connections_accepted_total", "counter",
                "Kafka client connections accepted.");
    prom_sample(o, "kappa_connections_accepted_total", (double)m->connections_accepted, NULL);
    prom_family(o, "kappa_network_received_bytes_total", "counter",
                "Bytes read from Kafka client connections.");
    prom_sample(o, "kappa_network_received_bytes_total", (double)b->bytes_in, NULL);
    prom_family(o, "kappa_network_sent_bytes_total", "counter",
                "Bytes written to Kafka client connections.");
    prom_sample(o, "kappa_network_sent_bytes_total", (double)b->bytes_out, NULL);
}

/* One family across all partitions; value_fn picks the number. */
typedef double part_value_fn(partition_t *p);

static double v_records_in(partition_t *p) { return (double)partition_stats(p)->records_in; }
static double v_bytes_in(partition_t *p) { return (double)partition_stats(p)->bytes_in; }
static double v_records_out(partition_t *p) { return (double)partition_stats(p)->records_out; }
static double v_bytes_out(partition_t *p) { return (double)partition_stats(p)->bytes_out; }
static double v_size(partition_t *p) { return (double)partition_size_bytes(p); }
static double v_segments(partition_t *p) { return partition_segment_count(p); }
static double v_hw(partition_t *p) { return (double)partition_high_watermark(p); }
static double v_lso(partition_t *p) { return (double)partition_last_stable_offset(p); }
static double v_start(partition_t *p) { return (double)partition_log_start_offset(p); }
static double v_leo(partition_t *p) { return (double)partition_log_end_offset(p); }
static double v_failed(partition_t *p) { return partition_failed(p) ? 1 : 0; }

static const struct {
    const char *name, *type, *help;
    part_value_fn *fn;
} part_families[] = {
    {"kappa_partition_records_in_total", "counter",
     "Records appended by producers (duplicates and transaction markers excluded).",
     v_records_in},
    {"kappa_partition_bytes_in_total", "counter", "Record batch bytes appended by producers.",
     v_bytes_in},
    {"kappa_partition_records_out_total", "counter",
     "Offsets sent to fetchers (records, plus compacted gaps and transaction markers).",
     v_records_out},
    {"kappa_partition_bytes_out_total", "counter", "Record batch bytes sent to fetchers.",
     v_bytes_out},
    {"kappa_partition_log_size_bytes", "gauge", "Bytes in the partition's segment files.",
     v_size},
    {"kappa_partition_segments", "gauge", "Segment files in the partition.", v_segments},
    {"kappa_partition_high_watermark", "gauge",
     "Offset after the last fsynced record: what consumers can read.", v_hw},
    {"kappa_partition_last_stable_offset", "gauge",
     "First offset of the oldest open transaction, else the high watermark.", v_lso},
    {"kappa_partition_log_start_offset", "gauge", "First offset still in the log.", v_start},
    {"kappa_partition_log_end_offset", "gauge",
     "Offset after the last appended record (fsynced or not).", v_leo},
    {"kappa_partition_failed", "gauge",
     "1 when the partition stopped taking writes after an I/O error.", v_failed},
};

static void render_partitions(broker_t *b, prom_buf_t *o)
{
    char id[16];
    int nt = log_topic_count(b->log);
    for (size_t f = 0; f < sizeof part_families / sizeof part_families[0]; f++) {
        prom_family(o, part_families[f].name, part_families[f].type, part_families[f].help);
        for (int i = 0; i < nt; i++) {
            log_topic_t *t = log_topic_at(b->log, i);
            for (int32_t j = 0; j < log_topic_partitions(t); j++) {
                partition_t *p = log_topic_partition(t, j);
                if (!p)
                    continue;
                snprintf(id, sizeof id, "%" PRId32, j);
                prom_sample(o, part_families[f].name, part_families[f].fn(p), "topic",
                            log_topic_name(t), "partition", id, NULL);
            }
        }
    }
    prom_family(o, "kappa_fsync_duration_seconds", "histogram",
                "Latency of one group-commit sync of a partition (fdatasync of its dirty "
                "segments, plus the directory after a roll).");
    prom_histogram(o, "kappa_fsync_duration_seconds", log_fsync_hist(b->log), NULL);
}

/* NUL-terminated copy of a group string, for labels. */
static const char *gs(const gstr_t *s, char *buf, size_t cap)
{
    size_t n = s->p && s->len > 0 ? (size_t)s->len : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(buf, s->p, n);
    buf[n] = '\0';
    return buf;
}

static void render_groups(broker_t *b, prom_buf_t *o)
{
    group_coord_t *gc = b->groups;
    char gid[GROUP_ID_MAX + 1], topic[256], part[16];
    if (!gc)
        return;
    prom_family(o, "kappa_consumer_group_members", "gauge", "Members of a consumer group.");
    for (size_t i = 0; i < gc->nbuckets; i++)
        for (group_t *g = gc->buckets[i]; g; g = g->hnext)
            if (g->state != GROUP_DEAD)
                prom_sample(o, "kappa_consumer_group_members", g->nmembers, "group",
                            gs(&g->id, gid, sizeof gid), NULL);
    prom_family(o, "kappa_consumer_group_committed_offset", "gauge",
                "A consumer group's committed offset for a partition.");
    for (size_t i = 0; i < gc->nbuckets; i++)
        for (group_t *g = gc->buckets[i]; g; g = g->hnext)
            for (int k = 0; g->state != GROUP_DEAD && k < g->noffsets; k++) {
                group_offset_t *go = &g->offsets[k];
                snprintf(part, sizeof part, "%" PRId32, go->partition);
                prom_sample(o, "kappa_consumer_group_committed_offset", (double)go->offset,
                            "group", gs(&g->id, gid, sizeof gid), "topic",
                            gs(&go->topic, topic, sizeof topic), "partition", part, NULL);
            }
    prom_family(o, "kappa_consumer_group_lag", "gauge",
                "High watermark minus the committed offset (records still to consume).");
    for (size_t i = 0; i < gc->nbuckets; i++)
        for (group_t *g = gc->buckets[i]; g; g = g->hnext)
            for (int k = 0; g->state != GROUP_DEAD && k < g->noffsets; k++) {
                group_offset_t *go = &g->offsets[k];
                partition_t *p = log_partition(b->log, gs(&go->topic, topic, sizeof topic),
                                               go->partition);
                if (!p)
                    continue;   /* the topic is gone: no lag to speak of */
                int64_t lag = partition_high_watermark(p) - go->offset;
                snprintf(part, sizeof part, "%" PRId32, go->partition);
                prom_sample(o, "kappa_consumer_group_lag", (double)(lag > 0 ? lag : 0), "group",
                            gs(&g->id, gid, sizeof gid), "topic", topic, "partition", part,
                            NULL);
            }
}

/* The standard process_* metrics client libraries export. */
static void render_process(prom_buf_t *o)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    prom_family(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    prom_sample(o, "process_cpu_seconds_total", cpu, NULL);
    long rss_pages = 0, pagesize = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2)
            rss_pages = 0;
        fclose(f);
    }
    prom_family(o, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    prom_sample(o, "process_resident_memory_bytes", (double)rss_pages * (double)pagesize, NULL);
}

static void metrics_handler(const http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    broker_t *b = ctx;
    prom_buf_t o = {0};
    render_requests(b, &o);
    render_partitions(b, &o);
    render_groups(b, &o);
    render_process(&o);
    if (b->metrics_extra)
        b->metrics_extra(&o);
    if (o.err) {
        prom_buf_free(&o);
        http_error(resp, 500, "out of memory rendering metrics");
        return;
    }
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = o.buf;
    resp->len = o.len;
}

static void health_handler(const http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    broker_t *b = ctx;
    int failed = 0, nt = log_topic_count(b->log);
    for (int i = 0; i < nt; i++) {
        log_topic_t *t = log_topic_at(b->log, i);
        for (int32_t j = 0; j < log_topic_partitions(t); j++) {
            partition_t *p = log_topic_partition(t, j);
            failed += p && partition_failed(p);
        }
    }
    char *body = kp_malloc(128);
    if (!body) {
        http_error(resp, 500, "out of memory");
        return;
    }
    int n = snprintf(body, 128, "{\"status\":\"%s\",\"failed_partitions\":%d}\n",
                     failed ? "degraded" : "ok", failed);
    resp->status = failed ? 503 : 200;
    resp->content_type = "application/json";
    resp->body = body;
    resp->len = (size_t)n;
}

int broker_http_start(broker_t *b)
{
    if (!b->cfg.http_listener[0]) {
        KP_INFO("HTTP listener off (kappa.http.listener is empty)");
        return 0;
    }
    int rc = http_start(b->loop, b->cfg.http_listener, &b->http);
    if (rc)
        return rc;
    /* The view store: kappa.views.db, else beside the log directory. */
    char db[4200];
    broker_config_views_db(&b->cfg, db, sizeof db);
    if ((rc = http_route(b->http, "GET", "/metrics", metrics_handler, b)) != 0 ||
        (rc = http_route(b->http, "GET", "/health", health_handler, b)) != 0 ||
        (rc = views_api_register(b->http, db, b->cfg.views_query_timeout_ms,
                                 &b->views_api)) != 0) {
        broker_http_stop(b);
        return rc;
    }
    KP_INFO("HTTP listener on %s (GET /metrics, /health, /v1/views over %s; POST /v1/query)",
            b->cfg.http_listener, db);
    return 0;
}

void broker_http_stop(broker_t *b)
{
    views_api_shutdown(b->views_api);
    http_stop(b->http);
    b->http = NULL;
    /* After http_stop: no request or stream still holds a reader. */
    views_api_free(b->views_api);
    b->views_api = NULL;
}

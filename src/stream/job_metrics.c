/*
 * job_metrics.c -- see job_metrics.h.
 */
#include "stream/job_metrics.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "serve/http.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct task_lag {
    char topic[STREAM_TOPIC_MAX + 1];
    int64_t lag;
} task_lag_t;

typedef struct task_snap {
    char id[32];
    uint64_t in, out, late;
    int64_t watermark;
    size_t keys, bytes;
    int nlag;
    task_lag_t lag[STREAM_MAX_INPUTS];
    int32_t partition;
} task_snap_t;

struct job_metrics {
    char job[STREAM_NAME_MAX];
    char version[16];
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    task_snap_t *tasks;
    int ntasks, cap;
    uint64_t commits;
    metric_hist_t commit_hist;
};

static void render(job_metrics_t *m, prom_buf_t *o)
{
    const char *J = "job", *V = "version", *T = "task";
    char part[16];
    prom_family(o, "kappa_job_tasks", "gauge", "Tasks this runner owns.");
    prom_sample(o, "kappa_job_tasks", m->ntasks, J, m->job, V, m->version, NULL);
    prom_family(o, "kappa_job_commits_total", "counter",
                "Transactions committed by this runner's tasks.");
    prom_sample(o, "kappa_job_commits_total", (double)m->commits, J, m->job, V, m->version,
                NULL);
    prom_family(o, "kappa_job_commit_duration_seconds", "histogram",
                "Time in commit_transaction (outputs, changelog and offsets made visible).");
    prom_histogram(o, "kappa_job_commit_duration_seconds", &m->commit_hist, J, m->job, V,
                   m->version, NULL);
    static const struct {
        const char *name, *type, *help;
        int which;
    } fam[] = {
        {"kappa_job_records_in_total", "counter", "Input records a task processed.", 0},
        {"kappa_job_records_out_total", "counter", "Records a task wrote to its sinks.", 1},
        {"kappa_job_late_records_total", "counter",
         "Records dropped as late (every window they belong to had closed).", 2},
        {"kappa_job_watermark_seconds", "gauge",
         "A task's event-time watermark (Unix time; absent before the first event).", 3},
        {"kappa_job_state_keys", "gauge", "Entries in a task's state store.", 4},
        {"kappa_job_state_bytes", "gauge", "Bytes of keys and values in a task's state.", 5},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        prom_family(o, fam[f].name, fam[f].type, fam[f].help);
        for (int i = 0; i < m->ntasks; i++) {
            task_snap_t *t = &m->tasks[i];
            double v;
            switch (fam[f].which) {
            case 0: v = (double)t->in; break;
            case 1: v = (double)t->out; break;
            case 2: v = (double)t->late; break;
            case 3:
                if (t->watermark == STREAM_WM_NONE || t->watermark == STREAM_WM_IDLE)
                    continue;
                v = (double)t->watermark / 1000.0;
                break;
            case 4: v = (double)t->keys; break;
            default: v = (double)t->bytes; break;
            }
            prom_sample(o, fam[f].name, v, J, m->job, V, m->version, T, t->id, NULL);
        }
    }
    prom_family(o, "kappa_job_input_lag", "gauge",
                "Records of an input partition not yet processed (high watermark minus "
                "position; transaction markers count).");
    for (int i = 0; i < m->ntasks; i++) {
        task_snap_t *t = &m->tasks[i];
        snprintf(part, sizeof part, "%" PRId32, t->partition);
        for (int j = 0; j < t->nlag; j++)
            if (t->lag[j].lag >= 0)
                prom_sample(o, "kappa_job_input_lag", (double)t->lag[j].lag, J, m->job, V,
                            m->version, T, t->id, "topic", t->lag[j].topic, "partition", part,
                            NULL);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload_data, (void)upload_size;
    job_metrics_t *m = cls;
    if (!*con_cls) {        /* answer on the second call: keeps keep-alive (see http.c) */
        *con_cls = m;
        return MHD_YES;
    }
    prom_buf_t o = {0};
    unsigned status = 200;
    const char *ctype = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp(url, "/metrics") != 0 || strcmp(method, "GET") != 0) {
        prom_printf(&o, "{\"error\":\"only GET /metrics is served here\"}\n");
        status = 404;
        ctype = "application/json";
    } else {
        pthread_mutex_lock(&m->mu);
        render(m, &o);
        pthread_mutex_unlock(&m->mu);
    }
    if (o.err || !o.buf) {
        prom_buf_free(&o);
        return MHD_NO;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(o.len, o.buf, kp_free);
    if (!r) {
        prom_buf_free(&o);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

job_metrics_t *job_metrics_start(const char *listen_addr, const char *job, int version)
{
    int fd, port;
    int rc = http_bind(listen_addr, &fd, &port);
    if (rc) {
        KP_ERROR("cannot serve metrics on %s: %s", listen_addr,
                 rc == KP_EINVAL ? "not a HOST:PORT address" : kp_strerror(rc));
        return NULL;
    }
    job_metrics_t *m = kp_calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return NULL;
    }
    snprintf(m->job, sizeof m->job, "%s", job);
    snprintf(m->version, sizeof m->version, "%d", version);
    pthread_mutex_init(&m->mu, NULL);
    /* Its own thread: the runner's loop blocks in librdkafka calls. */
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!m->d) {
        KP_ERROR("cannot serve metrics on %s", listen_addr);
        close(fd);
        pthread_mutex_destroy(&m->mu);
        kp_free(m);
        return NULL;
    }
    KP_INFO("metrics on http://%s/metrics", listen_addr);
    return m;
}

void job_metrics_stop(job_metrics_t *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->d);
    pthread_mutex_destroy(&m->mu);
    kp_free(m->tasks);
    kp_free(m);
}

void job_metrics_commit(job_metrics_t *m, int64_t ns)
{
    if (m)
        metric_hist_observe_ns(&m->commit_hist, (uint64_t)(ns > 0 ? ns : 0));
}

void job_metrics_publish(job_metrics_t *m, task_t *const *tasks, int ntasks, uint64_t commits,
                         rd_kafka_t *consumer)
{
    if (!m)
        return;
    task_snap_t *snap = kp_calloc(ntasks ? (size_t)ntasks : 1, sizeof *snap);
    if (!snap)
        return;
    for (int i = 0; i < ntasks; i++) {
        const task_t *t = tasks[i];
        task_snap_t *s = &snap[i];
        snprintf(s->id, sizeof s->id, "%s", t->id);
        s->in = t->records_in;
        s->out = t->records_out;
        s->late = t->late;
        s->watermark = t->watermark;
        s->keys = store_count(t->state);
        s->bytes = store_bytes(t->state);
        s->partition = t->partition;
        s->nlag = t->nin;
        for (int j = 0; j < t->nin; j++) {
            int64_t lo = -1, hi = -1;
            snprintf(s->lag[j].topic, sizeof s->lag[j].topic, "%s", t->in[j].node->topic);
            s->lag[j].lag = -1;
            /* Cached from fetch responses: no request on the processing thread. */
            if (rd_kafka_get_watermark_offsets(consumer, t->in[j].node->topic, t->partition,
                                               &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                hi >= 0) {
                int64_t pos = t->in[j].next_offset > 0 ? t->in[j].next_offset : lo;
                s->lag[j].lag = hi > pos ? hi - pos : 0;
            }
        }
    }
    pthread_mutex_lock(&m->mu);
    kp_free(m->tasks);
    m->tasks = snap;
    m->ntasks = ntasks;
    m->commits = commits;
    pthread_mutex_unlock(&m->mu);
}

/*
 * server.c -- `kappa server [-c kappa.properties] [--set key=value]...`
 *
 * Embedded defaults, then the properties file, then --set, in that order.
 * SIGTERM and SIGINT shut down cleanly (clean-shutdown marker written);
 * after SIGKILL, recovery at the next start keeps everything acknowledged.
 */
#include "cli.h"
#include "kafka/broker.h"
#include "core/kp_error.h"
#include "core/logging.h"
#include "serve/http.h"
#include "stream/host.h"

#include <pthread.h>
#include <stdbool.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static broker_t broker;
static job_host_t *host;
static sem_t stop_sem;
static volatile sig_atomic_t stop_signals;

/* With hosted jobs, stopping is two steps: the jobs first, while the broker
 * still serves their final commits, then the broker.  A second signal stops
 * the broker at once. */
static void on_signal(int sig)
{
    (void)sig;
    if (host && stop_signals++ == 0)
        sem_post(&stop_sem);
    else
        broker_stop(&broker);
}

/* GET /v1/jobs/NAME: the job's versions and their progress (docs/jobs.md). */
static void jobs_handler(const http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *name = req->path + strlen("/v1/jobs/");
    size_t len = 0;
    char *body = *name && !strchr(name, '/') ? job_host_status_json(name, &len) : NULL;
    if (!body) {
        http_error(resp, 404, "no such job in the registry (see kappa job list); progress "
                              "is refreshed every 2 s");
        return;
    }
    resp->content_type = "application/json";
    resp->body = body;
    resp->len = len;
}

static void *stopper(void *arg)
{
    (void)arg;
    while (sem_wait(&stop_sem) != 0)
        ;
    KP_INFO("stopping hosted jobs");
    job_host_stop(host);
    host = NULL;
    broker_stop(&broker);
    return NULL;
}

/* The address hosted jobs connect to: the first listener, with a wildcard
 * host replaced by loopback. */
static void job_brokers(const broker_config_t *cfg, char *buf, size_t cap)
{
    const listener_addr_t *a = &cfg->listeners[0];
    const char *h = a->host;
    if (!h[0] || strcmp(h, "0.0.0.0") == 0)
        h = "127.0.0.1";
    else if (strcmp(h, "::") == 0)
        h = "::1";
    if (strchr(h, ':'))
        snprintf(buf, cap, "[%s]:%d", h, a->port);
    else
        snprintf(buf, cap, "%s:%d", h, a->port);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: kappa server [-c FILE] [--set key=value]...\n"
            "  -c FILE            Kafka-style properties file (key=value lines)\n"
            "  --set key=value    override one property (repeatable)\n"
            "Properties use Kafka's names: listeners, advertised.listeners, log.dirs,\n"
            "num.partitions, auto.create.topics.enable, log.retention.{ms,hours,bytes},\n"
            "log.segment.bytes, message.max.bytes, socket.request.max.bytes,\n"
            "group.initial.rebalance.delay.ms, ...; kappa's own start with kappa.\n"
            "Jobs the server runs: kappa.jobs=NAME@VERSION=PLUGIN.so[,...]\n"
            "Defaults: listeners 127.0.0.1:9092 and [::1]:9092, log.dirs ./kappa-data.\n");
    return 2;
}

int cli_server(int argc, char **argv)
{
    broker_config_t cfg;
    char why[512];
    broker_config_defaults(&cfg);
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            if (broker_config_load(&cfg, argv[++i], why, sizeof why)) {
                fprintf(stderr, "kappa server: %s\n", why);
                return 2;
            }
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            char kv[4096];
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            char *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "kappa server: --set expects key=value, got '%s'\n", kv);
                return 2;
            }
            *eq = '\0';
            if (broker_config_set(&cfg, kv, eq + 1, why, sizeof why)) {
                fprintf(stderr, "kappa server: %s\n", why);
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "kappa server: unexpected argument '%s'\n", argv[i]);
            return usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = broker_start(&broker, &cfg);
    if (rc) {
        fprintf(stderr, "kappa server: cannot start: %s\n", kp_strerror(rc));
        return 1;
    }
    pthread_t stop_th;
    bool stop_th_started = false;
    broker.metrics_extra = job_host_metrics;
    if (broker.http && http_route(broker.http, "GET", "/v1/jobs/", jobs_handler, NULL) != 0)
        KP_WARN("cannot serve GET /v1/jobs/ on the HTTP listener");
    /* Always: besides kappa.jobs, the host runs what the job registry
     * (__kappa_jobs) says, and that can change at any time. */
    {
        char self[4096], brokers[600], state[4200], views_db[4200];
        broker_config_views_db(&cfg, views_db, sizeof views_db);
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = '\0';
        job_brokers(&cfg, brokers, sizeof brokers);
        if (cfg.jobs_state_dir[0])
            snprintf(state, sizeof state, "%s", cfg.jobs_state_dir);
        else
            snprintf(state, sizeof state, "%s.jobs", cfg.log_dir);
        sem_init(&stop_sem, 0, 0);
        if (n <= 0 || job_host_start(cfg.jobs, self, brokers, state, views_db,
                                     cfg.jobs_metrics_port, &host) != 0 ||
            pthread_create(&stop_th, NULL, stopper, NULL) != 0) {
            KP_ERROR("cannot start the job host (kappa.jobs, __kappa_jobs)");
            job_host_stop(host);
            host = NULL;
            broker_shutdown(&broker);
            return 1;
        }
        stop_th_started = true;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = broker_run(&broker);
    if (stop_th_started) {
        if (host)
            sem_post(&stop_sem);    /* the loop ended on its own: stop the jobs too */
        pthread_join(stop_th, NULL);
    }
    if (rc)
        KP_ERROR("event loop failed: %s", kp_strerror(rc));
    int src = broker_shutdown(&broker);
    return rc || src ? 1 : 0;
}

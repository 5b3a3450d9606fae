/*
 * host.c -- the job supervisor of `kappa server` (see host.h).
 *
 * One thread polls its children every 200 ms with waitpid(WNOHANG) and
 * starts the ones due; children are spawned with posix_spawn (no fork in a
 * multithreaded process).  Invariant: a job has at most one child at a time,
 * so its tasks are never run twice by the same host.
 */
#include "stream/host.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define HOST_MAX_JOBS 32

typedef struct hosted {
    char name[128], version[24], plugin[4096];
    pid_t pid;                  /* 0 when not running */
    int64_t started_ms, due_ms; /* monotonic */
    int64_t backoff_ms;
    bool given_up;
} hosted_t;

struct job_host {
    char self[4096], brokers[512], state_dir[4096];
    int metrics_port;
    hosted_t jobs[HOST_MAX_JOBS];
    int njobs;
    pthread_t th;
    pthread_mutex_t mu;
    bool stopping;
};

static int parse(const char *spec, hosted_t *jobs, int *n, char *why, size_t cap)
{
    *n = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[4400];
        if (len == 0 || len >= sizeof item) {
            snprintf(why, cap, "kappa.jobs: empty or overlong entry");
            return KP_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *at = strchr(item, '@'), *eq = at ? strchr(at, '=') : NULL;
        if (!at || !eq || at == item || eq == at + 1 || !eq[1]) {
            snprintf(why, cap, "kappa.jobs: '%s' is not NAME@VERSION=PLUGIN.so", item);
            return KP_EINVAL;
        }
        *at = *eq = '\0';
        char *vend;
        long v = strtol(at + 1, &vend, 10);
        if (*vend || v < 1 || strlen(item) >= sizeof jobs[0].name) {
            snprintf(why, cap, "kappa.jobs: bad name or version in '%s@%s'", item, at + 1);
            return KP_EINVAL;
        }
        if (*n == HOST_MAX_JOBS) {
            snprintf(why, cap, "kappa.jobs: at most %d jobs", HOST_MAX_JOBS);
            return KP_EINVAL;
        }
        if (jobs) {
            hosted_t *j = &jobs[*n];
            memset(j, 0, sizeof *j);
            snprintf(j->name, sizeof j->name, "%s", item);
            snprintf(j->version, sizeof j->version, "%ld", v);
            snprintf(j->plugin, sizeof j->plugin, "%s", eq + 1);
            j->backoff_ms = 1000;
        }
        (*n)++;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

int job_host_parse(const char *spec, char *why, size_t cap)
{
    int n;
    return parse(spec, NULL, &n, why, cap);
}

static void spawn(job_host_t *h, hosted_t *j, int64_t now)
{
    char http[64];
    snprintf(http, sizeof http, "127.0.0.1:%d", h->metrics_port + (int)(j - h->jobs));
    char *argv[] = {h->self, "job", "run", j->name, "--version", j->version, "--plugin",
                    j->plugin, "-b", h->brokers, "--state-dir", h->state_dir,
                    h->metrics_port ? "--http" : NULL, http, NULL};
    /* The child learns who hosts it, to die with us (job.c: PDEATHSIG). */
    char hostvar[64];
    snprintf(hostvar, sizeof hostvar, "KAPPA_HOST_PID=%d", (int)getpid());
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = kp_calloc(ne + 2, sizeof *env);
    if (!env) {
        j->due_ms = now + j->backoff_ms;
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "KAPPA_HOST_PID=", 15) != 0)
            env[k++] = environ[i];
    env[k++] = hostvar;
    pid_t pid;
    int rc = posix_spawn(&pid, h->self, NULL, NULL, argv, env);
    kp_free(env);
    if (rc != 0) {
        KP_ERROR("job %s v%s: cannot start %s: %s; retrying in %lld ms", j->name, j->version,
                 h->self, strerror(rc), (long long)j->backoff_ms);
        j->due_ms = now + j->backoff_ms;
        return;
    }
    j->pid = pid;
    j->started_ms = now;
    KP_INFO("job %s v%s: started (pid %d)", j->name, j->version, (int)pid);
}

static void reap(hosted_t *j, int status, int64_t now)
{
    j->pid = 0;
    if (now - j->started_ms >= 60000)
        j->backoff_ms = 1000;       /* it ran fine for a while: start over */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        KP_ERROR("job %s v%s: exited with status 2 (a bad job or command line); not "
                 "restarting it -- fix kappa.jobs or the plugin and restart the server",
                 j->name, j->version);
        j->given_up = true;
        return;
    }
    if (WIFSIGNALED(status))
        KP_WARN("job %s v%s: killed by signal %d; restarting in %lld ms", j->name, j->version,
                WTERMSIG(status), (long long)j->backoff_ms);
    else
        KP_WARN("job %s v%s: exited with status %d; restarting in %lld ms", j->name,
                j->version, WEXITSTATUS(status), (long long)j->backoff_ms);
    j->due_ms = now + j->backoff_ms;
    j->backoff_ms = j->backoff_ms * 2 > 30000 ? 30000 : j->backoff_ms * 2;
}

static void *supervise(void *arg)
{
    job_host_t *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        bool stopping = h->stopping;
        pthread_mutex_unlock(&h->mu);
        if (stopping)
            break;
        int64_t now = kp_mono_ns() / 1000000;
        for (int i = 0; i < h->njobs; i++) {
            hosted_t *j = &h->jobs[i];
            int status;
            if (j->pid > 0 && waitpid(j->pid, &status, WNOHANG) == j->pid)
                reap(j, status, now);
            if (j->pid == 0 && !j->given_up && now >= j->due_ms)
                spawn(h, j, now);
        }
        usleep(200000);
    }
    return NULL;
}

int job_host_start(const char *spec, const char *self, const char *brokers,
                   const char *state_dir, int metrics_port, job_host_t **out)
{
    *out = NULL;
    if (!spec || !*spec)
        return 0;
    job_host_t *h = kp_calloc(1, sizeof *h);
    if (!h)
        return KP_ENOMEM;
    char why[512];
    int rc = parse(spec, h->jobs, &h->njobs, why, sizeof why);
    if (rc) {
        KP_ERROR("%s", why);
        kp_free(h);
        return rc;
    }
    snprintf(h->self, sizeof h->self, "%s", self);
    snprintf(h->brokers, sizeof h->brokers, "%s", brokers);
    snprintf(h->state_dir, sizeof h->state_dir, "%s", state_dir);
    h->metrics_port = metrics_port;
    pthread_mutex_init(&h->mu, NULL);
    if (pthread_create(&h->th, NULL, supervise, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        kp_free(h);
        return KP_ENOMEM;
    }
    KP_INFO("hosting %d job(s); state in %s", h->njobs, state_dir);
    *out = h;
    return 0;
}

void job_host_stop(job_host_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    /* The children commit and leave their groups on SIGTERM. */
    for (int i = 0; i < h->njobs; i++)
        if (h->jobs[i].pid > 0)
            kill(h->jobs[i].pid, SIGTERM);
    int64_t deadline = kp_mono_ns() / 1000000 + 10000;
    for (int i = 0; i < h->njobs; i++) {
        hosted_t *j = &h->jobs[i];
        while (j->pid > 0) {
            int status;
            pid_t r = waitpid(j->pid, &status, WNOHANG);
            if (r == j->pid || (r < 0 && errno == ECHILD)) {
                j->pid = 0;
                break;
            }
            if (kp_mono_ns() / 1000000 > deadline) {
                KP_WARN("job %s v%s: still running 10 s after SIGTERM; killing it", j->name,
                        j->version);
                kill(j->pid, SIGKILL);
                waitpid(j->pid, &status, 0);
                j->pid = 0;
                break;
            }
            usleep(50000);
        }
    }
    pthread_mutex_destroy(&h->mu);
    kp_free(h);
}

/*
 * host.c -- the job supervisor of `kappa server` (see host.h).
 *
 * One thread polls its children every 200 ms with waitpid(WNOHANG) and
 * starts the ones due; children are spawned with posix_spawn (no fork in a
 * multithreaded process).  Jobs come from two places: the static kappa.jobs
 * list, and the job registry (__kappa_jobs, src/jobs/registry.h), which the
 * same thread follows with a Kafka consumer against the server's own
 * listener.  A registry version runs while its state is `running`, from its
 * plugin materialized (and hash-checked) in STATE_DIR/plugins/SHA256.so,
 * with --from and --versioned-outputs; when it becomes `stopped` its child
 * gets SIGTERM (it commits and leaves its group).  Every child applies its
 * views to the server's view store (--views kappa.views.db).
 *
 * Promote and retire (docs/jobs.md): while a job's promoted/NAME record is
 * `switching`, both versions it names are kept stopped; once it is `done`
 * they run again with the stable ranges of their version records
 * (--stable-from / --stable-until; the promoted version also waits for the
 * previous one's group at its cut, --stable-wait-group), and the stable
 * names of the promoted version's views point at it (view_store_set_alias,
 * retried until its tables exist).  Before any promote the job's lowest
 * version feeds the stable topics unbounded (--stable-outputs).  A retired
 * version is stopped, then its view tables are dropped from the store and
 * its local state directory removed.
 *
 * Invariants: (1) a job version has at most one child at a time, so its
 * tasks are never run twice by the same host; (2) the set of registry
 * versions running is a function of the registry's contents, so a restarted
 * server resumes exactly the running versions (the log is the registry).
 */
#include "stream/host.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "io/file.h"
#include "core/metrics.h"
#include "jobs/progress.h"
#include "jobs/registry.h"
#include "jobs/sha256.h"
#include "view/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sys/stat.h>
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

#define HOST_MAX_JOBS 128
#define HOST_STATIC_MAX 32

typedef struct hosted {
    char name[128], version[24], plugin[4096];
    pid_t pid;                  /* 0 when not running */
    int64_t started_ms, due_ms; /* monotonic */
    int64_t backoff_ms;
    bool given_up;
    /* Registry versions only: */
    bool registry;
    bool wanted;                /* its state is running */
    int64_t term_ms;            /* when SIGTERM was sent to stop it; 0: not sent */
    char from[32];
    int nparams;
    char (*params)[256];        /* owned */
    /* The stable range it runs with (see the header comment). */
    bool stable;
    char *stable_from, *stable_until;   /* owned; NULL: unbounded */
    char stable_wait[160];      /* group that must pass stable_from first */
    bool restart;               /* SIGTERMed to restart with new arguments */
    bool retired, cleaned;      /* retired in the registry; views and state removed */
    int nviews;
    char (*views)[128];         /* owned: the version's views */
} hosted_t;

/* A job's stable view names, to point at `version` (promote). */
typedef struct alias_want {
    char name[JOBS_NAME_MAX];
    int version;                /* 0: nothing to do */
    int64_t ts_ms;              /* of the promote record */
    bool done;
    int64_t due_ms;             /* next attempt (monotonic) */
} alias_want_t;

struct job_host {
    char self[4096], brokers[512], state_dir[4096], views_db[4096];
    alias_want_t aliases[HOST_MAX_JOBS];
    int naliases;
    int metrics_port;
    hosted_t jobs[HOST_MAX_JOBS];
    int njobs;
    pthread_t th;
    pthread_mutex_t mu;
    bool stopping;
    jobs_follower_t *follower;
    jobs_registry_t reg;
    uint64_t reg_seen;          /* reg.changes last reconciled */
    int64_t follow_due_ms;      /* next attempt to (re)open the follower */
    int64_t progress_due_ms;    /* next progress snapshot (measure_all) */
    jobs_etime_reader_t *etime; /* event-time reads of measure_all; made on first use */
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
        if (*n == HOST_STATIC_MAX) {
            snprintf(why, cap, "kappa.jobs: at most %d jobs", HOST_STATIC_MAX);
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
    char *argv[40 + 2 * JOBS_MAX_PARAMS];
    int a = 0;
    char *fixed[] = {h->self, "job", "run", j->name, "--version", j->version, "--plugin",
                     j->plugin, "-b", h->brokers, "--state-dir", h->state_dir};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[a++] = fixed[i];
    if (h->views_db[0]) {
        argv[a++] = "--views";
        argv[a++] = h->views_db;
    }
    if (j->registry) {
        argv[a++] = "--from";
        argv[a++] = j->from;
        argv[a++] = "--versioned-outputs";
        for (int i = 0; i < j->nparams; i++) {
            argv[a++] = "--param";
            argv[a++] = j->params[i];
        }
        if (j->stable)
            argv[a++] = "--stable-outputs";
        if (j->stable_from) {
            argv[a++] = "--stable-from";
            argv[a++] = j->stable_from;
        }
        if (j->stable_until) {
            argv[a++] = "--stable-until";
            argv[a++] = j->stable_until;
        }
        if (j->stable_wait[0]) {
            argv[a++] = "--stable-wait-group";
            argv[a++] = j->stable_wait;
        }
    }
    if (h->metrics_port) {
        argv[a++] = "--http";
        argv[a++] = http;
    }
    argv[a] = NULL;
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
    j->restart = false;
    KP_INFO("job %s v%s: started (pid %d)%s%s%s%s", j->name, j->version, (int)pid,
            j->stable ? "; feeds the stable outputs" : "",
            j->stable_from ? " from " : "", j->stable_from ? j->stable_from : "",
            j->stable_until ? " until the cut" : "");
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

/* ---- the registry: follow __kappa_jobs, run what it says ------------------ */

/* Write the plugin to STATE_DIR/plugins/SHA256.so unless a file with the
 * right contents is there already.  Written to a temporary name and renamed,
 * so a child never loads half a file. */
static int materialize(job_host_t *h, const jobs_plugin_t *p, char *path, size_t cap)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/plugins", h->state_dir);
    int rc = kp_file_mkdirs(dir, 0755);
    if (rc)
        return rc;
    if ((size_t)snprintf(path, cap, "%.4000s/%s.so", dir, p->sha256) >= cap)
        return KP_EINVAL;
    FILE *f = fopen(path, "rb");
    if (f) {
        uint8_t *b = kp_malloc(p->len + 1);
        size_t n = b ? fread(b, 1, p->len + 1, f) : 0;
        fclose(f);
        char got[65] = "";
        if (b && n == p->len)
            sha256_hex(b, n, got);
        kp_free(b);
        if (strcmp(got, p->sha256) == 0)
            return 0;
        KP_WARN("plugin %s: the file does not match its hash; writing it again", path);
    }
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < p->len) {
        ssize_t w = write(fd, p->data + off, p->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -errno;
            close(fd);
            unlink(tmp);
            return rc ? rc : -EIO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
        return rc;
    }
    return 0;
}

static hosted_t *find_registry_job(job_host_t *h, const char *name, int version)
{
    char v[24];
    snprintf(v, sizeof v, "%d", version);
    for (int i = 0; i < h->njobs; i++)
        if (h->jobs[i].registry && strcmp(h->jobs[i].name, name) == 0 &&
            strcmp(h->jobs[i].version, v) == 0)
            return &h->jobs[i];
    return NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The stable arguments of registry version v (see the header comment);
 * returns true when they differ from what j has (j is updated). */
static bool update_stable(job_host_t *h, hosted_t *j, const jobs_version_t *v)
{
    int live = jobs_registry_live_version(&h->reg, v->name);
    const jobs_promoted_t *pr = jobs_registry_promoted(&h->reg, v->name);
    bool stable = v->has_stable || (!pr && live == v->version);
    char wait[160] = "";
    if (pr && pr->version == v->version && v->has_stable && v->stable_from && pr->previous > 0)
        snprintf(wait, sizeof wait, "%s.v%d", v->name, pr->previous);
    const char *from = v->has_stable ? v->stable_from : NULL;
    const char *until = v->has_stable ? v->stable_until : NULL;
    if (stable == j->stable && same_str(from, j->stable_from) &&
        same_str(until, j->stable_until) && strcmp(wait, j->stable_wait) == 0)
        return false;
    j->stable = stable;
    kp_free(j->stable_from);
    kp_free(j->stable_until);
    j->stable_from = from ? kp_strdup(from) : NULL;
    j->stable_until = until ? kp_strdup(until) : NULL;
    snprintf(j->stable_wait, sizeof j->stable_wait, "%s", wait);
    return true;
}

static void want_alias(job_host_t *h, const jobs_promoted_t *pr, int64_t now)
{
    alias_want_t *a = NULL;
    for (int i = 0; i < h->naliases && !a; i++)
        if (strcmp(h->aliases[i].name, pr->name) == 0)
            a = &h->aliases[i];
    if (!a) {
        if (h->naliases == HOST_MAX_JOBS)
            return;
        a = &h->aliases[h->naliases++];
        memset(a, 0, sizeof *a);
        snprintf(a->name, sizeof a->name, "%s", pr->name);
    }
    if (a->version == pr->version && a->ts_ms == pr->ts_ms)
        return;
    a->version = pr->version;
    a->ts_ms = pr->ts_ms;
    a->done = false;
    a->due_ms = now;
}

/* Make the hosted set agree with the registry (invariant 2). */
static void reconcile(job_host_t *h, int64_t now)
{
    for (int i = 0; i < h->njobs; i++)
        if (h->jobs[i].registry)
            h->jobs[i].wanted = false;
    for (int i = 0; i < h->reg.npromoted; i++)
        if (strcmp(h->reg.promoted[i].state, "done") == 0)
            want_alias(h, &h->reg.promoted[i], now);
    for (int i = 0; i < h->reg.nversions; i++) {
        const jobs_version_t *v = h->reg.versions[i];
        bool running = strcmp(v->state, "running") == 0;
        /* A promote in progress keeps both of its versions stopped. */
        const jobs_promoted_t *pr = jobs_registry_promoted(&h->reg, v->name);
        if (pr && strcmp(pr->state, "switching") == 0 &&
            (pr->version == v->version || pr->previous == v->version))
            running = false;
        hosted_t *j = find_registry_job(h, v->name, v->version);
        if (!j && !running && !jobs_version_retired(v))
            continue;
        if (!j) {
            const jobs_plugin_t *p = jobs_registry_plugin(&h->reg, v->plugin_sha256);
            if (!p && !jobs_version_retired(v))
                continue;       /* its plugin record has not arrived yet */
            if (h->njobs == HOST_MAX_JOBS) {
                KP_ERROR("job %s v%d: this server hosts at most %d jobs; not starting it",
                         v->name, v->version, HOST_MAX_JOBS);
                continue;
            }
            j = &h->jobs[h->njobs];
            memset(j, 0, sizeof *j);
            int rc = p ? materialize(h, p, j->plugin, sizeof j->plugin) : 0;
            if (rc) {
                KP_ERROR("job %s v%d: cannot write its plugin to %s/plugins: %s", v->name,
                         v->version, h->state_dir, kp_strerror(rc));
                continue;
            }
            j->params = kp_calloc(JOBS_MAX_PARAMS, sizeof *j->params);
            j->views = kp_calloc(JOBS_MAX_LIST, sizeof *j->views);
            if (!j->params || !j->views) {
                kp_free(j->params);
                kp_free(j->views);
                continue;
            }
            h->njobs++;
            j->registry = true;
            snprintf(j->name, sizeof j->name, "%s", v->name);
            snprintf(j->version, sizeof j->version, "%d", v->version);
            snprintf(j->from, sizeof j->from, "%s", v->from[0] ? v->from : "earliest");
            j->nparams = v->nparams;
            memcpy(j->params, v->params, (size_t)v->nparams * sizeof v->params[0]);
            j->nviews = v->nviews;
            memcpy(j->views, v->views, (size_t)v->nviews * sizeof v->views[0]);
            j->backoff_ms = 1000;
            j->due_ms = now;
            if (!jobs_version_retired(v))
                KP_INFO("job %s v%d: in the registry (plugin %s, from %s)", v->name, v->version,
                        v->plugin_file, j->from);
        }
        j->retired = jobs_version_retired(v);
        if (update_stable(h, j, v) && j->pid > 0 && running && j->term_ms == 0) {
            /* New stable arguments: restart it with them (a graceful stop commits). */
            KP_INFO("job %s v%d: restarting with a new stable range", v->name, v->version);
            kill(j->pid, SIGTERM);
            j->term_ms = now;
            j->restart = true;
        }
        if (running && !j->wanted && j->pid == 0 && j->given_up) {
            /* `kappa job start` after a bad exit: try again, once more. */
            j->given_up = false;
            j->backoff_ms = 1000;
            j->due_ms = now;
        }
        j->wanted = running;
    }
}

/* Point the promoted versions' views' stable names at them, in the server's
 * view store.  A version whose view tables do not exist yet (its sink has not
 * started) is tried again a second later. */
static void switch_aliases(job_host_t *h, int64_t now)
{
    for (int i = 0; i < h->naliases; i++) {
        alias_want_t *a = &h->aliases[i];
        if (a->done || now < a->due_ms)
            continue;
        const jobs_version_t *v = jobs_registry_find(&h->reg, a->name, a->version);
        if (!v || v->nviews == 0 || !h->views_db[0]) {
            a->done = true;
            continue;
        }
        view_store_t *s = NULL;
        int rc = view_store_open(h->views_db, &s);
        for (int k = 0; !rc && k < v->nviews; k++)
            rc = view_store_set_alias(s, v->views[k], v->version);
        view_store_close(s);
        if (rc) {
            a->due_ms = now + 1000;
            continue;
        }
        a->done = true;
        KP_INFO("job %s: the stable names of its %d view(s) point at version %d", a->name,
                v->nviews, v->version);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* A retired version, once its runner is gone: its view tables and its
 * local state go (once per server run; both are idempotent). */
static void clean_retired(job_host_t *h, hosted_t *j)
{
    j->cleaned = true;
    int version = atoi(j->version);
    if (h->views_db[0] && j->nviews > 0) {
        view_store_t *s = NULL;
        int rc = view_store_open(h->views_db, &s);
        for (int k = 0; !rc && k < j->nviews; k++)
            rc = view_store_drop(s, j->views[k], version);
        view_store_close(s);
        if (rc)
            KP_WARN("job %s v%s: dropping its view tables from %s: %s", j->name, j->version,
                    h->views_db, kp_strerror(rc));
    }
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s.v%s", h->state_dir, j->name, j->version);
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        KP_WARN("job %s v%s: removing %s: %s", j->name, j->version, dir, strerror(errno));
    KP_INFO("job %s v%s: retired (view tables and local state removed)", j->name, j->version);
}

static void follow_registry(job_host_t *h, int64_t now)
{
    if (!h->follower) {
        if (now < h->follow_due_ms)
            return;
        char why[512], err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", h->brokers, err, sizeof err) ||
            rd_kafka_conf_set(conf, "client.id", "kappa-job-host", err, sizeof err) ||
            rd_kafka_conf_set(conf, "log.connection.close", "false", err, sizeof err)) {
            KP_ERROR("job registry: %s", err);
            rd_kafka_conf_destroy(conf);
            h->follow_due_ms = now + 5000;
            return;
        }
        h->reg.keep_plugins = true;
        if (!(h->follower = jobs_follower_new(conf, why, sizeof why))) {
            KP_ERROR("job registry: %s", why);
            h->follow_due_ms = now + 5000;
            return;
        }
    }
    bool caught_up;
    int rc = jobs_follower_poll(h->follower, &h->reg, 0, &caught_up);
    /* Before the first deploy there is no topic; the follower looks again
     * every second on its own, so that is not worth a message. */
    if (rc && rc != KP_ENOTFOUND && h->reg.changes)
        KP_WARN("job registry: %s", kp_strerror(rc));
    if (h->reg.changes != h->reg_seen) {
        h->reg_seen = h->reg.changes;
        reconcile(h, now);
    }
}

/* ---- progress, for GET /v1/jobs/NAME and /metrics --------------------------
 *
 * Measured here, on the supervisor thread, every few seconds: the HTTP
 * handlers run on the broker's loop thread, which must never wait on a Kafka
 * request to itself.  They read the last snapshot under snap_mu.  The
 * snapshot is process-wide and never freed, so a scrape during shutdown
 * cannot touch a stopped host.
 */

#define HOST_PROGRESS_MS 2000

typedef struct snap_job {
    char name[JOBS_NAME_MAX];
    char *json;                 /* kp_malloc'd */
    size_t len;
} snap_job_t;

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static snap_job_t *snap_jobs;
static int snap_njobs;
static char *snap_prom;         /* gauge samples (no HELP/TYPE lines) */

typedef struct measured {
    char name[JOBS_NAME_MAX];
    int version;
    jobs_progress_t p;
} measured_t;

static measured_t *last_measured;
static int last_nmeasured;

static const jobs_progress_t *last_of(const jobs_version_t *v)
{
    for (int i = 0; i < last_nmeasured; i++)
        if (last_measured[i].version == v->version && strcmp(last_measured[i].name, v->name) == 0)
            return &last_measured[i].p;
    return NULL;
}

static void measure_all(job_host_t *h)
{
    int n = h->reg.nversions;
    measured_t *m = kp_calloc(n ? (size_t)n : 1, sizeof *m);
    const jobs_progress_t **prev = kp_calloc(n ? (size_t)n : 1, sizeof *prev);
    bool *ok = kp_calloc(n ? (size_t)n : 1, sizeof *ok);
    rd_kafka_conf_t *base = rd_kafka_conf_new();
    char err[256], why[512];
    if (!m || !prev || !ok ||
        rd_kafka_conf_set(base, "bootstrap.servers", h->brokers, err, sizeof err) ||
        rd_kafka_conf_set(base, "client.id", "kappa-job-host", err, sizeof err) ||
        rd_kafka_conf_set(base, "log.connection.close", "false", err, sizeof err))
        goto out;
    for (int i = 0; i < n; i++) {
        const jobs_version_t *v = h->reg.versions[i];
        snprintf(m[i].name, sizeof m[i].name, "%s", v->name);
        m[i].version = v->version;
        ok[i] = jobs_progress_measure(base, v, 2000, &m[i].p, why, sizeof why) == 0;
        prev[i] = last_of(v);
        /* One long-lived reader, one bounded fetch per partition per refresh;
         * skipped while the offsets themselves are unreadable (broker down). */
        if (ok[i] && !h->etime && jobs_etime_reader_new(base, &h->etime, why, sizeof why))
            KP_WARN("job progress: event time unavailable: %s", why);
        if (ok[i])
            jobs_progress_event_time(h->etime, &m[i].p, JOBS_ETIME_WAIT_MS);
    }
    /* One JSON document per job name, and the gauges. */
    snap_job_t *jobs = kp_calloc(n ? (size_t)n : 1, sizeof *jobs);
    prom_buf_t prom = {0};
    int nj = 0;
    jobs_version_t **vs = kp_calloc(n ? (size_t)n : 1, sizeof *vs);
    jobs_progress_t *ps = kp_calloc(n ? (size_t)n : 1, sizeof *ps);
    const jobs_progress_t **pv = kp_calloc(n ? (size_t)n : 1, sizeof *pv);
    for (int i = 0; jobs && vs && ps && pv && i < n; i++) {
        const char *name = h->reg.versions[i]->name;
        bool seen = false;
        for (int k = 0; k < nj; k++)
            seen |= strcmp(jobs[k].name, name) == 0;
        if (seen)
            continue;
        int nv = 0;
        for (int k = i; k < n; k++)
            if (ok[k] && strcmp(h->reg.versions[k]->name, name) == 0) {
                vs[nv] = h->reg.versions[k];
                ps[nv] = m[k].p;
                pv[nv++] = prev[k];
            }
        snap_job_t *j = &jobs[nj++];
        snprintf(j->name, sizeof j->name, "%s", name);
        FILE *f = open_memstream(&j->json, &j->len);
        if (f) {
            jobs_status_json(f, name, &h->reg, vs, ps, pv, nv, JOBS_CAUGHT_UP_LAG);
            fclose(f);
        }
    }
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m[i].version);
        prom_sample(&prom, "kappa_job_progress_ratio", m[i].p.ratio, "job", m[i].name,
                    "version", ver, NULL);
    }
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m[i].version);
        prom_sample(&prom, "kappa_job_lag_records", (double)m[i].p.lag, "job", m[i].name,
                    "version", ver, NULL);
    }
    for (int i = 0; i < n; i++) {
        /* No sample while unknown (nothing committed yet): absent, not 0. */
        if (!ok[i] || m[i].p.event_time_lag_ms < 0)
            continue;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m[i].version);
        prom_sample(&prom, "kappa_job_event_time_lag_seconds",
                    (double)m[i].p.event_time_lag_ms / 1000.0, "job", m[i].name, "version", ver,
                    NULL);
    }
    kp_free(vs);
    kp_free(ps);
    kp_free(pv);
    pthread_mutex_lock(&snap_mu);
    for (int i = 0; i < snap_njobs; i++)
        free(snap_jobs[i].json);        /* open_memstream's buffer: libc's */
    kp_free(snap_jobs);
    kp_free(snap_prom);
    snap_jobs = jobs;
    snap_njobs = jobs ? nj : 0;
    snap_prom = prom.err ? NULL : prom.buf;
    if (prom.err)
        prom_buf_free(&prom);
    pthread_mutex_unlock(&snap_mu);
    for (int i = 0; i < last_nmeasured; i++)
        jobs_progress_free(&last_measured[i].p);
    kp_free(last_measured);
    for (int i = 0; i < n; i++)
        if (!ok[i])
            memset(&m[i], 0, sizeof m[i]);
    last_measured = m;
    last_nmeasured = n;
    m = NULL;
out:
    kp_free(m);
    kp_free(prev);
    kp_free(ok);
    rd_kafka_conf_destroy(base);
}

char *job_host_status_json(const char *name, size_t *len)
{
    char *out = NULL;
    pthread_mutex_lock(&snap_mu);
    for (int i = 0; i < snap_njobs; i++)
        if (strcmp(snap_jobs[i].name, name) == 0 && snap_jobs[i].json &&
            (out = kp_malloc(snap_jobs[i].len + 1))) {
            memcpy(out, snap_jobs[i].json, snap_jobs[i].len + 1);
            *len = snap_jobs[i].len;
        }
    pthread_mutex_unlock(&snap_mu);
    return out;
}

void job_host_metrics(prom_buf_t *b)
{
    /* The samples are in family order (measure_all writes one family after
     * the other), so each family is the text from its first sample to the
     * next family's; a family without samples is left out. */
    static const char *const fam[][2] = {
        {"kappa_job_progress_ratio",
         "Replay progress of a deployed job version: sum(current - start) / "
         "sum(end - start) over its input partitions"},
        {"kappa_job_lag_records",
         "Records of a deployed job version's inputs not yet committed "
         "(high watermark - committed offset, summed over partitions)"},
        {"kappa_job_event_time_lag_seconds",
         "Wall clock now - the timestamp of the last input record a deployed job version "
         "has committed (max over its input partitions)"},
    };
    enum { NFAM = sizeof fam / sizeof fam[0] };
    pthread_mutex_lock(&snap_mu);
    if (snap_prom && *snap_prom) {
        const char *at[NFAM + 1];
        for (int i = 0; i < NFAM; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s{", fam[i][0]);
            at[i] = strstr(snap_prom, key);
        }
        at[NFAM] = snap_prom + strlen(snap_prom);
        for (int i = 0; i < NFAM; i++) {
            if (!at[i])
                continue;
            const char *end = at[NFAM];
            for (int k = i + 1; k < NFAM; k++)
                if (at[k] && at[k] > at[i] && at[k] < end)
                    end = at[k];
            prom_family(b, fam[i][0], "gauge", fam[i][1]);
            prom_printf(b, "%.*s", (int)(end - at[i]), at[i]);
        }
    }
    pthread_mutex_unlock(&snap_mu);
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
        follow_registry(h, now);
        switch_aliases(h, now);
        if (h->reg.nversions && now >= h->progress_due_ms) {
            measure_all(h);
            h->progress_due_ms = now + HOST_PROGRESS_MS;
        }
        for (int i = 0; i < h->njobs; i++) {
            hosted_t *j = &h->jobs[i];
            int status;
            if (j->pid > 0 && waitpid(j->pid, &status, WNOHANG) == j->pid) {
                if (j->restart && j->wanted) {
                    j->pid = 0;
                    j->term_ms = 0;
                    j->due_ms = now;
                } else if (j->registry && !j->wanted) {
                    KP_INFO("job %s v%s: stopped (pid %d)", j->name, j->version, (int)j->pid);
                    j->pid = 0;
                    j->term_ms = 0;
                } else {
                    reap(j, status, now);
                }
            }
            if (j->registry && !j->wanted) {
                if (j->pid > 0 && j->term_ms == 0) {
                    KP_INFO("job %s v%s: stopping (state stopped in the registry)", j->name,
                            j->version);
                    kill(j->pid, SIGTERM);
                    j->term_ms = now;
                } else if (j->pid > 0 && now - j->term_ms > 10000) {
                    kill(j->pid, SIGKILL);
                }
                if (j->pid == 0 && j->retired && !j->cleaned)
                    clean_retired(h, j);
                continue;
            }
            if (j->restart && j->pid > 0 && now - j->term_ms > 10000)
                kill(j->pid, SIGKILL);
            if (j->pid == 0 && !j->given_up && now >= j->due_ms)
                spawn(h, j, now);
        }
        usleep(200000);
    }
    return NULL;
}

int job_host_start(const char *spec, const char *self, const char *brokers,
                   const char *state_dir, const char *views_db, int metrics_port,
                   job_host_t **out)
{
    *out = NULL;
    job_host_t *h = kp_calloc(1, sizeof *h);
    if (!h)
        return KP_ENOMEM;
    char why[512];
    int rc = parse(spec ? spec : "", h->jobs, &h->njobs, why, sizeof why);
    if (rc) {
        KP_ERROR("%s", why);
        kp_free(h);
        return rc;
    }
    snprintf(h->self, sizeof h->self, "%s", self);
    snprintf(h->brokers, sizeof h->brokers, "%s", brokers);
    snprintf(h->state_dir, sizeof h->state_dir, "%s", state_dir);
    snprintf(h->views_db, sizeof h->views_db, "%s", views_db ? views_db : "");
    h->metrics_port = metrics_port;
    pthread_mutex_init(&h->mu, NULL);
    if (pthread_create(&h->th, NULL, supervise, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        kp_free(h);
        return KP_ENOMEM;
    }
    KP_INFO("hosting %d job(s) from kappa.jobs and the running versions in %s; state in %s",
            h->njobs, JOBS_TOPIC, state_dir);
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
    jobs_follower_free(h->follower);
    jobs_etime_reader_free(h->etime);
    jobs_registry_free(&h->reg);
    for (int i = 0; i < h->njobs; i++) {
        kp_free(h->jobs[i].params);
        kp_free(h->jobs[i].views);
        kp_free(h->jobs[i].stable_from);
        kp_free(h->jobs[i].stable_until);
    }
    kp_free(h);
}

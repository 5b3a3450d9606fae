/*
 * log.c -- the log directory: topics, their partitions, group commit across
 * partitions, checkpoints and the clean-shutdown marker.
 *
 * Invariants:
 *  (1) The clean-shutdown marker exists only while no log_t has the
 *      directory open: log_open removes it (durably) before any append, so
 *      a crash after reopening always triggers a recovery scan.
 *  (2) The recovery point of a partition only passes a segment after that
 *      segment's data and index files were fsynced.
 *  (3) A topic exists on disk iff .topics/NAME.properties exists; partition
 *      directories are created before that file and removed after it.
 */
#include "log_int.h"
#include "../core/crc32c.h"
#include "../core/kp_assert.h"
#include "../core/kp_clock.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../io/file.h"

#include <dirent.h>
#include <sys/file.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLEAN_MARKER ".kappa_clean_shutdown"
#define RP_FILE "recovery-point-offset-checkpoint"
#define LSO_FILE "log-start-offset-checkpoint"
#define TOPICS_DIR ".topics"

const char *log_dir(const log_t *log) { return log->dir; }
const char *log_topic_name(const log_topic_t *t) { return t->name; }
int32_t log_topic_partitions(const log_topic_t *t) { return t->npartitions; }
const log_config_t *log_topic_config(const log_topic_t *t) { return &t->config; }
const char *const *log_topic_overrides(const log_topic_t *t)
{
    return (const char *const *)t->overrides;
}
int log_topic_count(const log_t *log) { return log->ntopics; }
log_topic_t *log_topic_at(log_t *log, int i) { return log->topics[i]; }

void log_set_synced_callback(log_t *log, log_synced_fn *fn, void *ctx)
{
    log->synced_fn = fn;
    log->synced_ctx = ctx;
}

bool log_topic_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

log_topic_t *log_topic_find(log_t *log, const char *name)
{
    for (int i = 0; i < log->ntopics; i++)
        if (strcmp(log->topics[i]->name, name) == 0)
            return log->topics[i];
    return NULL;
}

partition_t *log_topic_partition(log_topic_t *t, int32_t partition)
{
    if (!t || partition < 0 || partition >= t->npartitions)
        return NULL;
    return t->partitions[partition];
}

partition_t *log_partition(log_t *log, const char *topic, int32_t partition)
{
    return log_topic_partition(log_topic_find(log, topic), partition);
}

/* ---- topic objects and their metadata files -------------------------------- */

static void overrides_free(char **kv)
{
    if (!kv)
        return;
    for (char **p = kv; *p; p++)
        kp_free(*p);
    kp_free(kv);
}

static void topic_free(log_topic_t *t)
{
    if (!t)
        return;
    for (int32_t i = 0; i < t->npartitions; i++)
        partition_free(t->partitions[i]);
    kp_free(t->partitions);
    overrides_free(t->overrides);
    kp_free(t);
}

/*
 * Merge `changes` (key,value,...,NULL) into the topic's overrides, checking
 * each against a copy of the config first so a bad key changes nothing.  A
 * NULL or empty value removes an override (AlterConfigs semantics).
 */
static int topic_apply_overrides(const log_t *log, log_topic_t *t, const char *const *changes)
{
    log_config_t c = log->defaults;
    int n = 0, cap = 0;
    char **kv = NULL;
    int rc = 0;

    /* Collect the new override set: old entries not changed, then changes. */
    for (int pass = 0; pass < 2; pass++) {
        const char *const *src = pass == 0 ? (const char *const *)t->overrides : changes;
        for (int i = 0; src && src[i]; i += 2) {
            const char *k = src[i], *v = src[i + 1];
            if (!v) {
                rc = KP_EINVAL;
                goto fail;
            }
            bool replaced = false;
            if (pass == 0 && changes)
                for (int j = 0; changes[j]; j += 2)
                    if (strcmp(changes[j], k) == 0)
                        replaced = true;
            if (replaced || v[0] == '\0')
                continue;
            if (n + 3 > cap) {
                int ncap = cap ? cap * 2 : 16;
                char **nkv = kp_realloc(kv, (size_t)ncap * sizeof *nkv);
                if (!nkv) {
                    rc = KP_ENOMEM;
                    goto fail;
                }
                kv = nkv;
                cap = ncap;
            }
            kv[n] = kp_strdup(k);
            kv[n + 1] = kp_strdup(v);
            kv[n + 2] = NULL;
            if (!kv[n] || !kv[n + 1]) {
                kp_free(kv[n]);
                kp_free(kv[n + 1]);
                kv[n] = NULL;
                rc = KP_ENOMEM;
                goto fail;
            }
            n += 2;
            rc = log_config_set(&c, k, v);
            if (rc) {
                KP_WARN("topic %s: config %s=%s rejected: %s", t->name, k, v,
                        rc == KP_ENOTFOUND ? "unknown key" : "invalid value");
                goto fail;
            }
        }
    }
    if (!kv && !(kv = kp_calloc(1, sizeof *kv))) {
        rc = KP_ENOMEM;
        goto fail;
    }
    overrides_free(t->overrides);
    t->overrides = kv;
    t->noverrides = n / 2;
    t->config = c;
    return 0;
fail:
    overrides_free(kv);
    return rc;
}

static void topic_meta_path(const log_t *log, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/" TOPICS_DIR "/%s.properties", log->dir, name);
}

static int topic_write_meta(const log_t *log, const log_topic_t *t)
{
    char path[PATH_MAX + 300];
    char buf[16384];
    size_t len = 0;
    len += (size_t)snprintf(buf, sizeof buf,
                            "# kappa topic metadata; edit with `kappa topic alter-config`\n"
                            "partitions=%d\n", t->npartitions);
    for (int i = 0; t->overrides && t->overrides[i]; i += 2) {
        int w = snprintf(buf + len, sizeof buf - len, "config.%s=%s\n", t->overrides[i],
                         t->overrides[i + 1]);
        if (w < 0 || (size_t)w >= sizeof buf - len)
            return KP_ETOOLARGE;
        len += (size_t)w;
    }
    topic_meta_path(log, t->name, path, sizeof path);
    return kp_file_write_atomic(path, buf, len);
}

static int topic_read_meta(const log_t *log, const char *name, log_topic_t **out)
{
    char path[PATH_MAX + 300];
    char *buf;
    int rc;
    log_topic_t *t = kp_calloc(1, sizeof *t);
    const char *kv[128];
    int nkv = 0;

    if (!t)
        return KP_ENOMEM;
    snprintf(t->name, sizeof t->name, "%s", name);
    topic_meta_path(log, name, path, sizeof path);
    rc = kp_file_read_whole(path, 1 << 20, &buf, NULL);
    if (rc) {
        kp_free(t);
        return rc;
    }
    t->npartitions = -1;
    char *save;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = '\0';
        if (strcmp(line, "partitions") == 0) {
            t->npartitions = (int32_t)strtol(eq + 1, NULL, 10);
        } else if (strncmp(line, "config.", 7) == 0 && nkv < 126) {
            kv[nkv++] = line + 7;
            kv[nkv++] = eq + 1;
        }
    }
    kv[nkv] = NULL;
    if (t->npartitions < 1 || t->npartitions > 100000) {
        KP_ERROR("topic %s: bad partition count in %s", name, path);
        rc = KP_ECORRUPT;
    } else {
        rc = topic_apply_overrides(log, t, kv);
    }
    kp_free(buf);
    if (rc) {
        topic_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int topics_push(log_t *log, log_topic_t *t)
{
    if (log->ntopics == log->cap) {
        int ncap = log->cap ? log->cap * 2 : 16;
        log_topic_t **n = kp_realloc(log->topics, (size_t)ncap * sizeof *n);
        if (!n)
            return KP_ENOMEM;
        log->topics = n;
        log->cap = ncap;
    }
    log->topics[log->ntopics++] = t;
    return 0;
}

/* ---- open and close ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int open_topics(log_t *log, bool clean)
{
    char tdir[PATH_MAX + 32];
    ckpt_entry_t *rp = NULL, *lso = NULL;
    int nrp = 0, nlso = 0, rc;
    char path[PATH_MAX + 64];

    snprintf(path, sizeof path, "%s/" RP_FILE, log->dir);
    rc = checkpoint_read(path, &rp, &nrp);
    if (rc && rc != -ENOENT)
        KP_WARN("log %s: ignoring unreadable %s: %s", log->dir, RP_FILE, kp_strerror(rc));
    snprintf(path, sizeof path, "%s/" LSO_FILE, log->dir);
    rc = checkpoint_read(path, &lso, &nlso);
    if (rc && rc != -ENOENT)
        KP_WARN("log %s: ignoring unreadable %s: %s", log->dir, LSO_FILE, kp_strerror(rc));

    snprintf(tdir, sizeof tdir, "%s/" TOPICS_DIR, log->dir);
    rc = kp_file_mkdirs(tdir, 0755);
    DIR *d = rc ? NULL : opendir(tdir);
    if (!d) {
        rc = rc ? rc : -errno;
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char name[256];
        log_topic_t *t;
        if (n <= 11 || strcmp(de->d_name + n - 11, ".properties") != 0)
            continue;
        snprintf(name, sizeof name, "%.*s", (int)(n - 11), de->d_name);
        if (!log_topic_name_valid(name))
            continue;
        rc = topic_read_meta(log, name, &t);
        if (rc)
            break;
        t->partitions = kp_calloc((size_t)t->npartitions, sizeof *t->partitions);
        if (!t->partitions || (rc = topics_push(log, t)) != 0) {
            topic_free(t);
            rc = rc ? rc : KP_ENOMEM;
            break;
        }
        for (int32_t i = 0; i < t->npartitions && rc == 0; i++) {
            int64_t r = checkpoint_lookup(rp, nrp, name, i);
            int64_t l = checkpoint_lookup(lso, nlso, name, i);
            rc = partition_open(log, t, i, clean, r < 0 ? 0 : r, l < 0 ? 0 : l,
                                &t->partitions[i]);
        }
        if (rc)
            break;
    }
    closedir(d);
    if (rc == 0) {
        /* Directories of topics whose deletion was interrupted. */
        d = opendir(log->dir);
        while (d && (de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            if (n > 7 && strcmp(de->d_name + n - 7, "-delete") == 0) {
                char p[PATH_MAX + 256];
                snprintf(p, sizeof p, "%s/%s", log->dir, de->d_name);
                KP_INFO("log %s: finishing deletion of %s", log->dir, de->d_name);
                nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
            }
        }
        if (d)
            closedir(d);
    }
out:
    kp_free(rp);
    kp_free(lso);
    return rc;
}

int log_open(const char *dir, const log_config_t *defaults, log_t **out)
{
    log_t *log = kp_calloc(1, sizeof *log);
    char marker[PATH_MAX + 64];
    int rc;

    if (!log)
        return KP_ENOMEM;
    log->lock_fd = -1;
    pthread_mutex_init(&log->ckpt_mu, NULL);
    if (strlen(dir) >= sizeof log->dir - 300) {
        kp_free(log);
        return -ENAMETOOLONG;
    }
    snprintf(log->dir, sizeof log->dir, "%s", dir);
    if (defaults)
        log->defaults = *defaults;
    else
        log_config_defaults(&log->defaults);

    rc = kp_file_mkdirs(dir, 0755);
    if (rc)
        goto fail;
    /* Two processes appending to one log would assign the same offsets and
     * overwrite each other's batches: refuse the second. */
    snprintf(marker, sizeof marker, "%s/.lock", dir);
    log->lock_fd = open(marker, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (log->lock_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? KP_ELOCKED : -errno;
        KP_ERROR("log %s: in use by another process (lock %s is held)", dir, marker);
        goto fail;
    }
    snprintf(marker, sizeof marker, "%s/" CLEAN_MARKER, dir);
    bool clean = access(marker, F_OK) == 0;
    int64_t t0 = kp_mono_ns();
    rc = open_topics(log, clean);
    if (rc)
        goto fail;
    if (clean) {
        /* Invariant (1): the marker must be gone before the first append. */
        rc = kp_file_unlink(marker);
        if (rc == 0)
            rc = kp_file_fsync_dir(dir);
        if (rc)
            goto fail;
    }
    /* The recovery summary an operator looks for at startup. */
    int nparts = 0;
    int64_t bytes = 0;
    for (int i = 0; i < log->ntopics; i++)
        for (int32_t j = 0; j < log->topics[i]->npartitions; j++) {
            partition_t *p = log->topics[i]->partitions[j];
            if (p) {
                nparts++;
                bytes += partition_size_bytes(p);
            }
        }
    double ms = (double)(kp_mono_ns() - t0) / 1e6;
    if (clean)
        KP_INFO("log %s: opened %d topic(s), %d partition(s), %" PRId64 " bytes after a clean "
                "shutdown (no scan needed) in %.1f ms", dir, log->ntopics, nparts, bytes, ms);
    else if (log->ntopics == 0)
        KP_INFO("log %s: new, empty log opened in %.1f ms", dir, ms);
    else
        KP_INFO("log %s: opened %d topic(s), %d partition(s), %" PRId64 " bytes after an "
                "unclean shutdown: every partition was verified from its recovery point "
                "(truncations, if any, are logged above) in %.1f ms", dir, log->ntopics, nparts,
                bytes, ms);
    log->last_checkpoint_ms = kp_now_ms();
    *out = log;
    return 0;
fail:
    KP_ERROR("log %s: open failed: %s", dir, kp_strerror(rc));
    for (int i = 0; i < log->ntopics; i++)
        topic_free(log->topics[i]);
    kp_free(log->topics);
    if (log->lock_fd >= 0)
        close(log->lock_fd);
    pthread_mutex_destroy(&log->ckpt_mu);
    kp_free(log);
    return rc;
}

static void log_free(log_t *log)
{
    for (int i = 0; i < log->ntopics; i++)
        topic_free(log->topics[i]);
    kp_free(log->topics);
    if (log->lock_fd >= 0)
        close(log->lock_fd);      /* releases the flock */
    pthread_mutex_destroy(&log->ckpt_mu);
    kp_free(log);
}

void log_abandon(log_t *log)
{
    log_free(log);
}

int log_close(log_t *log)
{
    int rc = log_flush(log), r;
    for (int i = 0; i < log->ntopics; i++) {
        log_topic_t *t = log->topics[i];
        for (int32_t j = 0; j < t->npartitions; j++) {
            partition_t *p = t->partitions[j];
            KP_ASSERT(!p->sync_inflight);
            r = partition_flush_indexes(p, true);
            if (r && !rc)
                rc = r;
            if (p->failed && !rc)
                rc = p->failed;
        }
    }
    /* With everything synced, every partition's recovery point is its end. */
    for (int i = 0; i < log->ntopics; i++)
        for (int32_t j = 0; j < log->topics[i]->npartitions; j++) {
            partition_t *p = log->topics[i]->partitions[j];
            if (!p->failed)
                p->recovery_point = p->log_end_offset;
        }
    r = log_checkpoint(log);
    if (r && !rc)
        rc = r;
    if (rc == 0) {
        char marker[PATH_MAX + 64];
        snprintf(marker, sizeof marker, "%s/" CLEAN_MARKER, log->dir);
        rc = kp_file_write_atomic(marker, "clean\n", 6);
    } else {
        KP_WARN("log %s: not marking the shutdown clean (%s); the next start will scan",
                log->dir, kp_strerror(rc));
    }
    log_free(log);
    return rc;
}

/* ---- group commit ----------------------------------------------------------- */

int log_flush(log_t *log)
{
    int first_err = 0;
    /* partition_sync_complete() puts a partition back on the list when one
     * job could not cover everything (more than PARTITION_SYNC_MAX_SEGS
     * unsynced segments), so loop until the list is empty. */
    while (log->dirty_head) {
        partition_t *p = log->dirty_head;
        partition_sync_t job;
        log->dirty_head = p->dirty_next;
        p->dirty = false;
        p->dirty_next = NULL;
        int rc = partition_sync_prepare(p, &job);
        if (rc == KP_EBUSY)
            continue;       /* an async sync owns it and re-queues it */
        if (rc == 0 && (job.nsegs > 0 || job.dir[0])) {
            partition_sync_execute(&job);
            rc = partition_sync_complete(&job);
        } else if (rc == 0 && job.target_offset > p->high_watermark) {
            p->high_watermark = job.target_offset;
        }
        if (rc && !first_err)
            first_err = rc;
    }
    return first_err;
}

bool log_has_dirty(const log_t *log)
{
    return log->dirty_head != NULL;
}

partition_t *log_pop_dirty(log_t *log)
{
    partition_t *p = log->dirty_head;
    if (p) {
        log->dirty_head = p->dirty_next;
        p->dirty = false;
        p->dirty_next = NULL;
    }
    return p;
}

/* ---- checkpoints and upkeep ---------------------------------------------------- */

struct log_ckpt {
    log_t *log;
    uint64_t seq;
    int n;
    ckpt_entry_t *rp, *ls;
    char rp_path[PATH_MAX + 64], ls_path[PATH_MAX + 64];
};

void log_checkpoint_free(log_ckpt_t *c)
{
    if (!c)
        return;
    kp_free(c->rp);
    kp_free(c->ls);
    kp_free(c);
}

int log_checkpoint_prepare(log_t *log, log_ckpt_t **out)
{
    int total = 0;
    for (int i = 0; i < log->ntopics; i++)
        total += log->topics[i]->npartitions;
    log_ckpt_t *c = kp_calloc(1, sizeof *c);
    if (!c)
        return KP_ENOMEM;
    c->rp = kp_calloc((size_t)total + 1, sizeof *c->rp);
    c->ls = kp_calloc((size_t)total + 1, sizeof *c->ls);
    if (!c->rp || !c->ls) {
        log_checkpoint_free(c);
        return KP_ENOMEM;
    }
    c->log = log;
    c->seq = ++log->ckpt_seq;
    snprintf(c->rp_path, sizeof c->rp_path, "%s/" RP_FILE, log->dir);
    snprintf(c->ls_path, sizeof c->ls_path, "%s/" LSO_FILE, log->dir);
    for (int i = 0; i < log->ntopics; i++) {
        log_topic_t *t = log->topics[i];
        for (int32_t j = 0; j < t->npartitions; j++) {
            partition_t *p = t->partitions[j];
            /* Invariant (2): advance past closed segments only once their
             * data and indexes are durable.  The index fsync here is the one
             * blocking step, and only after a roll. */
            int k = 0;
            while (k < p->nsegs - 1 && p->segs[k]->synced_size == p->segs[k]->size)
                k++;
            int64_t target = p->segs[k]->base_offset;
            if (target > p->recovery_point) {
                int r = 0;
                for (int s = 0; s < k && r == 0; s++)
                    if (p->segs[s + 1]->base_offset > p->recovery_point)
                        r = segment_flush_indexes(p->segs[s], true);
                if (r == 0)
                    p->recovery_point = target;
            }
            ckpt_entry_t *e = &c->rp[c->n];
            snprintf(e->topic, sizeof e->topic, "%s", t->name);
            e->partition = j;
            e->offset = p->recovery_point;
            c->ls[c->n] = *e;
            c->ls[c->n].offset = p->log_start_offset;
            c->n++;
        }
    }
    *out = c;
    return 0;
}

int log_checkpoint_write(log_ckpt_t *c)
{
    log_t *log = c->log;
    int rc = 0;
    pthread_mutex_lock(&log->ckpt_mu);
    if (c->seq > log->ckpt_written) {
        rc = checkpoint_write(c->rp_path, c->rp, c->n);
        if (rc == 0)
            rc = checkpoint_write(c->ls_path, c->ls, c->n);
        if (rc == 0)
            log->ckpt_written = c->seq;
    }
    pthread_mutex_unlock(&log->ckpt_mu);
    return rc;
}

int log_checkpoint(log_t *log)
{
    log_ckpt_t *c;
    int rc = log_checkpoint_prepare(log, &c);
    if (rc)
        return rc;
    rc = log_checkpoint_write(c);
    log_checkpoint_free(c);
    return rc;
}

int log_upkeep(log_t *log, int64_t now_ms)
{
    int first = 0, rc;
    for (int i = 0; i < log->ntopics; i++) {
        log_topic_t *t = log->topics[i];
        for (int32_t j = 0; j < t->npartitions; j++) {
            partition_t *p = t->partitions[j];
            int deleted;
            if (p->sync_inflight)
                continue;
            rc = partition_maybe_roll(p, now_ms, 0);
            if (rc && !first)
                first = rc;
            rc = partition_apply_retention(p, now_ms, &deleted);
            if (rc && !first)
                first = rc;
            if (t->config.cleanup_policy & LOG_CLEANUP_COMPACT) {
                compact_stats_t st;
                rc = partition_compact(p, now_ms, &st);
                if (rc && !first)
                    first = rc;
            }
        }
    }
    return first;
}

int log_maintain(log_t *log, int64_t now_ms)
{
    int first = log_upkeep(log, now_ms), rc;
    rc = log_flush(log);
    if (rc && !first)
        first = rc;
    rc = log_checkpoint(log);
    if (rc && !first)
        first = rc;
    log->last_checkpoint_ms = now_ms;
    return first;
}

/* ---- topic administration ------------------------------------------------------ */

/* A partition directory that no topic metadata names is what a crash during
 * an earlier creation (or partition addition) left behind: remove it. */
static void remove_orphan_dir(const log_t *log, const char *topic, int32_t partition)
{
    char pdir[PATH_MAX + 300];
    snprintf(pdir, sizeof pdir, "%s/%s-%d", log->dir, topic, partition);
    if (access(pdir, F_OK) == 0) {
        KP_WARN("topic %s: removing %s left by an interrupted creation", topic, pdir);
        nftw(pdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

int log_topic_create(log_t *log, const char *name, int32_t partitions,
                     const char *const *overrides)
{
    int rc;
    if (!log_topic_name_valid(name) || partitions < 1 || partitions > 100000)
        return KP_EINVAL;
    if (log_topic_find(log, name))
        return KP_EEXISTS;
    log_topic_t *t = kp_calloc(1, sizeof *t);
    if (!t)
        return KP_ENOMEM;
    snprintf(t->name, sizeof t->name, "%s", name);
    rc = topic_apply_overrides(log, t, overrides);
    if (rc)
        goto fail;
    t->partitions = kp_calloc((size_t)partitions, sizeof *t->partitions);
    if (!t->partitions) {
        rc = KP_ENOMEM;
        goto fail;
    }
    /* Invariant (3): partition directories first, then the metadata file.
     * A directory already there belongs to no topic: it is what a crash
     * during an earlier creation of this name left behind. */
    for (int32_t i = 0; i < partitions; i++) {
        remove_orphan_dir(log, name, i);
        rc = partition_create(log, t, i, &t->partitions[i]);
        if (rc)
            goto fail;
        t->npartitions = i + 1;
    }
    rc = kp_file_fsync_dir(log->dir);
    /* Checkpoints name partitions by topic and number only: rewrite them
     * (listing live topics, not this one) before the topic exists, so no
     * entry left by an earlier topic of this name -- a crash between its
     * deletion and the next checkpoint -- can apply to the new one. */
    if (rc == 0)
        rc = log_checkpoint(log);
    if (rc == 0)
        rc = topic_write_meta(log, t);
    if (rc == 0)
        rc = topics_push(log, t);
    if (rc) {
        char mp[PATH_MAX + 300];
        topic_meta_path(log, name, mp, sizeof mp);
        kp_file_unlink(mp);
        goto fail;
    }
    KP_INFO("created topic %s with %d partition(s)", name, partitions);
    return 0;
fail:
    for (int32_t i = 0; i < t->npartitions; i++) {
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/%s-%d", log->dir, name, i);
        partition_free(t->partitions[i]);
        t->partitions[i] = NULL;
        nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    t->npartitions = 0;
    topic_free(t);
    return rc;
}

int log_topic_delete(log_t *log, const char *name)
{
    int idx = -1;
    for (int i = 0; i < log->ntopics; i++)
        if (strcmp(log->topics[i]->name, name) == 0)
            idx = i;
    if (idx < 0)
        return KP_ENOTFOUND;
    log_topic_t *t = log->topics[idx];
    for (int32_t i = 0; i < t->npartitions; i++)
        if (t->partitions[i]->sync_inflight)
            return KP_EBUSY;

    /* Invariant (3): the metadata file goes first, so a crash midway leaves
     * only "-delete" directories that the next open removes. */
    char path[PATH_MAX + 300];
    topic_meta_path(log, name, path, sizeof path);
    int rc = kp_file_unlink(path);
    if (rc)
        return rc;
    char tdir[PATH_MAX + 32];
    snprintf(tdir, sizeof tdir, "%s/" TOPICS_DIR, log->dir);
    kp_file_fsync_dir(tdir);

    /* Take the partitions off the dirty list before freeing them. */
    for (partition_t **pp = &log->dirty_head; *pp;) {
        if ((*pp)->topic == t)
            *pp = (*pp)->dirty_next;
        else
            pp = &(*pp)->dirty_next;
    }
    for (int32_t i = 0; i < t->npartitions; i++) {
        char from[PATH_MAX + 300], to[PATH_MAX + 320];
        snprintf(from, sizeof from, "%s/%s-%d", log->dir, name, i);
        snprintf(to, sizeof to, "%s/%s-%d.%lld-delete", log->dir, name, i,
                 (long long)kp_now_ms());
        if (kp_file_rename(from, to) == 0)
            nftw(to, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    kp_file_fsync_dir(log->dir);
    memmove(log->topics + idx, log->topics + idx + 1,
            (size_t)(log->ntopics - idx - 1) * sizeof *log->topics);
    log->ntopics--;
    topic_free(t);
    /* Drop its checkpoint entries too (see log_topic_create). */
    rc = log_checkpoint(log);
    if (rc)
        KP_WARN("deleted topic %s, but rewriting checkpoints failed: %s", name,
                kp_strerror(rc));
    KP_INFO("deleted topic %s", name);
    return 0;
}

int log_topic_add_partitions(log_t *log, const char *name, int32_t total)
{
    log_topic_t *t = log_topic_find(log, name);
    if (!t)
        return KP_ENOTFOUND;
    if (total <= t->npartitions || total > 100000)
        return KP_EINVAL;
    partition_t **np = kp_realloc(t->partitions, (size_t)total * sizeof *np);
    if (!np)
        return KP_ENOMEM;
    t->partitions = np;
    int32_t old = t->npartitions;
    int rc = 0;
    for (int32_t i = old; i < total && rc == 0; i++) {
        remove_orphan_dir(log, name, i);
        rc = partition_create(log, t, i, &t->partitions[i]);
        if (rc == 0)
            t->npartitions = i + 1;
    }
    if (rc == 0)
        rc = kp_file_fsync_dir(log->dir);
    if (rc == 0)
        rc = topic_write_meta(log, t);
    if (rc) {
        for (int32_t i = old; i < t->npartitions; i++)
            partition_free(t->partitions[i]);
        t->npartitions = old;
    }
    return rc;
}

int log_topic_alter_config(log_t *log, const char *name, const char *const *overrides)
{
    log_topic_t *t = log_topic_find(log, name);
    if (!t)
        return KP_ENOTFOUND;
    int rc = topic_apply_overrides(log, t, overrides);
    if (rc == 0)
        rc = topic_write_meta(log, t);
    return rc;
}

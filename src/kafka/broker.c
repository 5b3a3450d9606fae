/*
 * broker.c -- starting, running and stopping `kappa server`: listeners,
 * group commit, periodic log upkeep, signals.
 *
 * Invariants:
 *  (1) Group commit: appends made while handling one loop turn are synced
 *      together -- before the loop sleeps, every partition with unsynced
 *      appends gets one fdatasync on a worker thread; produce requests are
 *      answered when the sync covering their batches completes.
 *  (2) SIGTERM is a clean shutdown: in-flight syncs finish, acknowledgements
 *      that can still be sent are, and the log is closed with its
 *      clean-shutdown marker.
 */
#include "broker.h"
#include "kerr.h"
#include "../core/kp_clock.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../io/file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sync_job {
    broker_t *b;
    partition_sync_t job;
} sync_job_t;

static void sync_work(void *ctx)
{
    partition_sync_execute(&((sync_job_t *)ctx)->job);
}

static void sync_done(loop_t *l, void *ctx)
{
    sync_job_t *j = ctx;
    (void)l;
    j->b->syncs_inflight--;
    partition_sync_complete(&j->job);   /* calls broker_on_synced */
    kp_free(j);
}

/* Invariant (1): runs once per loop turn, after all ready events. */
static void group_commit(loop_t *l, void *ctx)
{
    broker_t *b = ctx;
    partition_t *p;
    for (;;) {
        /* Allocate first: a partition taken off the dirty list with nowhere
         * to put its job would never be synced. */
        sync_job_t *j = kp_malloc(sizeof *j);
        if (!j) {
            KP_ERROR("group commit: out of memory; retrying next turn");
            break;
        }
        if ((p = log_pop_dirty(b->log)) == NULL) {
            kp_free(j);
            break;
        }
        j->b = b;
        int rc = partition_sync_prepare(p, &j->job);
        if (rc || (j->job.nsegs == 0 && !j->job.dir[0])) {
            kp_free(j);         /* busy (re-queued on completion), failed, or clean */
            continue;
        }
        b->syncs_inflight++;
        if (loop_post_work(l, sync_work, sync_done, j) != 0) {
            partition_sync_execute(&j->job);
            sync_done(l, j);
        }
    }
}

void broker_on_synced(partition_t *p, int64_t hw, int err, void *ctx)
{
    broker_t *b = ctx;
    (void)hw;
    produce_wake(b, p, err);
    fetch_wake(b, p);
    group_offsets_wake(b, p, err);
    txn_coord_wake(b, p, err);
}

bool kstr_topic_name(kstr_t name, char *buf, size_t cap)
{
    /* An embedded NUL would make the C string name another topic. */
    if (name.len <= 0 || (size_t)name.len >= cap || memchr(name.p, '\0', (size_t)name.len))
        return false;
    kstr_copy(name, buf, cap);
    return true;
}

bool broker_topic_internal(const char *name)
{
    /* The coordinator's own state: a client write here could rewind a
     * group's offsets, and more partitions would move groups between them. */
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

log_topic_t *broker_topic(broker_t *b, kstr_t name, bool create, int16_t *err)
{
    char buf[256];
    *err = KERR_NONE;
    if (name.len > 249 || !kstr_topic_name(name, buf, sizeof buf)) {
        *err = KERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    log_topic_t *t = log_topic_find(b->log, buf);
    if (t)
        return t;
    if (!create || !b->cfg.auto_create_topics) {
        *err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    if (!log_topic_name_valid(buf) || buf[0] == '_') {
        *err = KERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    int rc = log_topic_create(b->log, buf, b->cfg.num_partitions, NULL);
    if (rc) {
        KP_WARN("auto-creating topic %s failed: %s", buf, kp_strerror(rc));
        *err = kerr_from_kp(rc);
        return NULL;
    }
    return log_topic_find(b->log, buf);
}

/* ---- listeners ---- */

static void on_accept(loop_t *l, int fd, uint32_t events, void *ctx);

static void listeners_resume(loop_t *l, void *ctx)
{
    broker_t *b = ctx;
    (void)l;
    for (int i = 0; i < b->nlisten; i++)
        loop_mod(b->loop, b->listen_fds[i], EPOLLIN);
}

/* Out of descriptors (or at max connections): stop accepting for a while
 * instead of spinning on a listener that stays readable. */
static void listeners_pause(broker_t *b, const char *why)
{
    int64_t now = loop_now_ms(b->loop);
    if (now - b->last_accept_warn_ms > 10000) {
        KP_WARN("not accepting connections for now: %s (%d open)", why, b->nconns);
        b->last_accept_warn_ms = now;
    }
    for (int i = 0; i < b->nlisten; i++)
        loop_mod(b->loop, b->listen_fds[i], 0);
    loop_timer_start(b->loop, &b->accept_timer, 200, listeners_resume, b);
}

static void on_accept(loop_t *l, int fd, uint32_t events, void *ctx)
{
    broker_t *b = ctx;
    (void)l;
    (void)events;
    for (int n = 0; n < 64; n++) {
        if (b->nconns >= BROKER_MAX_CONNECTIONS) {
            listeners_pause(b, "max connections reached");
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                listeners_pause(b, strerror(errno));
            else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                KP_WARN("accept: %s", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char host[INET6_ADDRSTRLEN] = "?", peer[80];
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        snprintf(peer, sizeof peer, "%s:%d", host, port);
        conn_accept(b, c, peer);
    }
}

static int listen_on(broker_t *b, const listener_addr_t *a)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    const char *host = a->host[0] ? a->host : "0.0.0.0";
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)a->port);
        sl = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)a->port);
        sl = sizeof *v6;
    } else {
        KP_ERROR("listener %s:%d: not a numeric address", host, a->port);
        return KP_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = loop_add(b->loop, fd, EPOLLIN, on_accept, b);
    if (rc) {
        close(fd);
        return rc;
    }
    b->listen_fds[b->nlisten++] = fd;
    return 0;
}

/* ---- upkeep ---- */

typedef struct ckpt_job {
    broker_t *b;
    log_ckpt_t *c;
    int rc;
} ckpt_job_t;

static void ckpt_work(void *ctx)
{
    ckpt_job_t *j = ctx;
    j->rc = log_checkpoint_write(j->c);
}

static void ckpt_done(loop_t *l, void *ctx)
{
    ckpt_job_t *j = ctx;
    (void)l;
    if (j->rc)
        KP_WARN("writing checkpoints failed: %s (recovery will scan more)", kp_strerror(j->rc));
    j->b->ckpt_inflight = false;
    log_checkpoint_free(j->c);
    kp_free(j);
}

/* Periodic upkeep without blocking the loop on file syncs: the syncs a roll
 * needs go through group commit, and checkpoint files are written by a
 * worker (a stall here would show in every client's p99). */
static void maintain(loop_t *l, void *ctx)
{
    broker_t *b = ctx;
    int rc = log_upkeep(b->log, kp_now_ms());
    if (rc)
        KP_WARN("log upkeep: %s", kp_strerror(rc));
    if (!b->ckpt_inflight) {
        ckpt_job_t *j = kp_calloc(1, sizeof *j);
        if (j && log_checkpoint_prepare(b->log, &j->c) == 0) {
            j->b = b;
            b->ckpt_inflight = true;
            if (loop_post_work(l, ckpt_work, ckpt_done, j) != 0) {
                ckpt_work(j);
                ckpt_done(l, j);
            }
        } else {
            kp_free(j);
        }
    }
    int64_t every = b->cfg.log_check_interval_ms < 30000 ? b->cfg.log_check_interval_ms : 30000;
    loop_timer_start(l, &b->maint_timer, every, maintain, b);
}

/* connections.max.idle.ms: close connections with nothing in flight that
 * have sent nothing for that long (and half-sent frames left hanging). */
static void idle_sweep(loop_t *l, void *ctx)
{
    broker_t *b = ctx;
    conn_close_idle(b, loop_now_ms(l) - b->cfg.connections_max_idle_ms);
    int64_t every = b->cfg.connections_max_idle_ms / 4;
    loop_timer_start(l, &b->idle_timer, every < 1000 ? 1000 : every > 30000 ? 30000 : every,
                     idle_sweep, b);
}

static int load_cluster_id(broker_t *b)
{
    char path[4200], *buf;
    snprintf(path, sizeof path, "%s/meta.properties", b->cfg.log_dir);
    if (kp_file_read_whole(path, 4096, &buf, NULL) == 0) {
        char *p = strstr(buf, "cluster.id=");
        if (p) {
            sscanf(p + 11, "%31s", b->cluster_id);
            kp_free(buf);
            return 0;
        }
        kp_free(buf);
    }
    /* A new log directory: a random id, kept so clients see it stable. */
    uint64_t r = (uint64_t)kp_now_ms() ^ ((uint64_t)getpid() << 32);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, &r, sizeof r);
        (void)n;
        close(fd);
    }
    snprintf(b->cluster_id, sizeof b->cluster_id, "kappa-%016llx", (unsigned long long)r);
    char text[128];
    int len = snprintf(text, sizeof text, "version=1\ncluster.id=%s\nnode.id=%d\n",
                       b->cluster_id, b->cfg.node_id);
    return kp_file_write_atomic(path, text, (size_t)len);
}

int broker_start(broker_t *b, const broker_config_t *cfg)
{
    int rc;
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    /* Produce frames of a megabyte arrive all the time; glibc would mmap
     * and unmap each one, paying page faults and zeroing per request.  Keep
     * them in the heap so the memory is reused. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    loop_timer_init(&b->maint_timer);
    loop_timer_init(&b->accept_timer);
    loop_timer_init(&b->idle_timer);
    kp_log_set_level((enum kp_log_level)cfg->log_level);
    rc = loop_create(cfg->fsync_workers, &b->loop);
    if (rc)
        return rc;
    rc = log_open(cfg->log_dir, &cfg->log, &b->log);
    if (rc) {
        KP_ERROR("cannot open log directory %s: %s", cfg->log_dir, kp_strerror(rc));
        goto fail;
    }
    log_set_synced_callback(b->log, broker_on_synced, b);
    rc = load_cluster_id(b);
    if (rc)
        KP_WARN("cannot write %s/meta.properties: %s", cfg->log_dir, kp_strerror(rc));
    rc = producer_ids_start(b);
    if (rc) {
        KP_ERROR("cannot write %s/producer-ids: %s", cfg->log_dir, kp_strerror(rc));
        goto fail;
    }
    rc = group_coord_start(b);
    if (rc) {
        KP_ERROR("group coordinator: %s", kp_strerror(rc));
        goto fail;
    }
    if ((rc = txn_coord_start(b)) != 0)
        goto fail;
    for (int i = 0; i < cfg->nlisteners; i++) {
        const listener_addr_t *a = &cfg->listeners[i];
        rc = listen_on(b, a);
        if (rc) {
            /* ::1 is missing on hosts without IPv6; that alone is no reason
             * to refuse to start when another listener works. */
            bool v6 = strchr(a->host, ':') != NULL;
            KP_WARN("cannot listen on %s%s%s:%d: %s", v6 ? "[" : "", a->host, v6 ? "]" : "",
                    a->port, kp_strerror(rc));
            if (!v6 || i == 0)
                goto fail;
            continue;
        }
        bool v6 = strchr(a->host, ':') != NULL;
        KP_INFO("listening on %s%s%s:%d", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
    }
    if (b->nlisten == 0) {
        rc = KP_EINVAL;
        goto fail;
    }
    /* The address clients are told to use: advertised.listeners, else the
     * first listener -- but never a wildcard, which no client can dial. */
    b->adv = cfg->advertised_set ? cfg->advertised : cfg->listeners[0];
    if (!b->adv.host[0] || strcmp(b->adv.host, "0.0.0.0") == 0 || strcmp(b->adv.host, "::") == 0) {
        if (gethostname(b->adv.host, sizeof b->adv.host) != 0 || !b->adv.host[0])
            snprintf(b->adv.host, sizeof b->adv.host, "localhost");
        KP_INFO("advertising %s:%d (set advertised.listeners to choose)", b->adv.host,
                b->adv.port);
    }
    if ((rc = broker_http_start(b)) != 0)
        goto fail;
    conn_capture_init();
    loop_set_before_sleep(b->loop, group_commit, b);
    loop_timer_start(b->loop, &b->maint_timer, 5000, maintain, b);
    loop_timer_start(b->loop, &b->idle_timer, 5000, idle_sweep, b);
    KP_INFO("kappa broker %d ready: data in %s, cluster %s, %d topic(s)", cfg->node_id,
            cfg->log_dir, b->cluster_id, log_topic_count(b->log));
    return 0;
fail:
    broker_http_stop(b);
    for (int i = 0; i < b->nlisten; i++)
        close(b->listen_fds[i]);
    b->nlisten = 0;
    if (b->log) {
        txn_coord_stop(b);
        group_coord_stop(b);
        log_close(b->log);
        b->log = NULL;
    }
    loop_free(b->loop);
    b->loop = NULL;
    return rc;
}

int broker_run(broker_t *b)
{
    return loop_run(b->loop);
}

void broker_stop(broker_t *b)
{
    b->stopping = true;
    loop_stop(b->loop);
}

int broker_shutdown(broker_t *b)
{
    KP_INFO("shutting down");
    for (int i = 0; i < b->nlisten; i++) {
        loop_del(b->loop, b->listen_fds[i]);
        close(b->listen_fds[i]);
    }
    b->nlisten = 0;
    broker_http_stop(b);
    loop_timer_stop(b->loop, &b->maint_timer);
    loop_timer_stop(b->loop, &b->accept_timer);
    loop_timer_stop(b->loop, &b->idle_timer);
    fetch_stop(b);
    /* Invariant (2): sync until nothing is dirty or in flight -- a sync
     * completing can leave its partition dirty again -- so every append
     * made gets its answer, then let the answers go out. */
    for (int round = 0; round < 100; round++) {
        group_commit(b->loop, b);
        loop_drain(b->loop);
        if (b->syncs_inflight == 0 && !log_has_dirty(b->log))
            break;
    }
    conn_flush_all(b);
    conn_close_all(b);
    produce_stop(b);
    txn_coord_stop(b);
    group_coord_stop(b);
    loop_free(b->loop);
    b->loop = NULL;
    int rc = log_close(b->log);
    b->log = NULL;
    if (rc)
        KP_ERROR("log close: %s", kp_strerror(rc));
    else
        KP_INFO("clean shutdown complete");
    return rc;
}

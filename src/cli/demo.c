/*
 * demo.c -- `kappa demo`: the whole Kappa cycle on generated data, narrated.
 *
 * It starts a private `kappa server` in a temporary directory (free loopback
 * ports, its own view store), writes a few thousand orders, and then runs
 * the very commands a user would type -- each printed as "$ kappa ..."
 * before it runs, with its real output:
 *
 *   deploy v1 of examples/views/revenue.c (revenue per product per minute,
 *   a view) -> query the view -> deploy v2 with changed logic (refunds
 *   excluded) beside it -> watch it replay -> diff v1 and v2 -> promote v2
 *   (the stable view name moves) -> query again -> retire v1.
 *
 * Nothing here is special-cased: the steps are child processes of this same
 * binary, so the demo exercises (and documents) the CLI itself.  The plugin
 * is found next to the binary (build/examples/views/revenue.so, built by
 * `make`).  The server and its directory are removed at the end unless
 * --keep is given.
 */
#include "cli/cli.h"

#include "core/json.h"
#include "core/kp_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEMO_PRODUCTS 8
#define DEMO_STEP_MS 20                 /* 3,000 orders per minute of event time */

typedef struct demo {
    char self[PATH_MAX], plugin[PATH_MAX], dir[64];
    char brokers[64], http[64];
    pid_t server;
    int64_t t0;
    int64_t base_ms;            /* event time of order 0: a minute boundary */
    int step;
} demo_t;

static void say(demo_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(demo_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("\n[%4.1fs] %d. ", (double)(kp_mono_ns() / 1000000 - d->t0) / 1000.0, ++d->step);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Spawn this binary with argv (argv[0] is ignored); stdout to out_fd when
 * >= 0, stderr to err_fd when >= 0. */
static pid_t spawn_self(demo_t *d, char **argv, int out_fd, int err_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
    argv[0] = d->self;
    pid_t pid;
    int rc = posix_spawn(&pid, d->self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "kappa demo: cannot run %s: %s\n", d->self, strerror(rc));
        return -1;
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Print "$ kappa ARGS" and run it with its output on ours; its exit status. */
static int run(demo_t *d, char **argv)
{
    printf("$ kappa");
    for (int i = 1; argv[i]; i++) {
        bool quote = strpbrk(argv[i], " |*()'\"") != NULL;
        printf(quote ? " \"%s\"" : " %s", argv[i]);
    }
    printf("\n");
    fflush(stdout);
    pid_t pid = spawn_self(d, argv, -1, -1);
    return pid < 0 ? -1 : wait_exit(pid);
}

/* Run quietly, collecting stdout (at most cap-1 bytes); its exit status. */
static int capture(demo_t *d, char **argv, char *buf, size_t cap)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    int devnull = open("/dev/null", O_WRONLY);
    pid_t pid = spawn_self(d, argv, p[1], devnull);
    close(p[1]);
    if (devnull >= 0)
        close(devnull);
    size_t n = 0;
    ssize_t r;
    while ((r = read(p[0], buf + n, cap - 1 - n)) > 0 && n + (size_t)r < cap - 1)
        n += (size_t)r;
    if (r > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(p[0]);
    return pid < 0 ? -1 : wait_exit(pid);
}

/* Poll `kappa job list --json` until version v of job is caught up with no
 * lag (and, with want_phase, in that phase). */
static int wait_caught_up(demo_t *d, const char *job, int v, int timeout_s)
{
    char *argv[] = {NULL, "job", "list", "--json", "-b", d->brokers, NULL};
    static char buf[1 << 16];
    int64_t deadline = kp_mono_ns() / 1000000 + (int64_t)timeout_s * 1000;
    while (kp_mono_ns() / 1000000 < deadline) {
        if (capture(d, argv, buf, sizeof buf) == 0) {
            char err[128];
            json_t *j = json_parse(buf, strlen(buf), err, sizeof err);
            bool done = false;
            for (int i = 0; j && j->type == JSON_ARR && i < j->n; i++) {
                const json_t *name = json_get(j->items[i], "name");
                const json_t *ver = json_get(j->items[i], "version");
                const json_t *phase = json_get(j->items[i], "phase");
                const json_t *lag = json_get(j->items[i], "lag");
                if (!name || !ver || !phase || !lag || name->type != JSON_STR ||
                    strcmp(name->s, job) != 0 || !ver->s || atoi(ver->s) != v)
                    continue;
                const char *ph = phase->s ? phase->s : "";
                const char *lg = lag->s ? lag->s : "";
                done = (strcmp(ph, "CAUGHT_UP") == 0 || strcmp(ph, "LIVE") == 0) &&
                       strcmp(lg, "0") == 0;
            }
            json_free(j);
            if (done)
                return 0;
        }
        usleep(200000);
    }
    fprintf(stderr, "kappa demo: %s v%d did not catch up within %d s (server log: %s/server.log)\n",
            job, v, timeout_s, d->dir);
    return -1;
}

/* Poll `kappa view list --json` until the stable name `view` points at
 * version v: the server switches aliases when it sees the promote in the
 * registry, a moment after `kappa job promote` returns. */
static int wait_alias(demo_t *d, const char *view, int v, int timeout_s)
{
    char *argv[] = {NULL, "view", "list", "--json", "--http", d->http, NULL};
    static char buf[1 << 16];
    int64_t deadline = kp_mono_ns() / 1000000 + (int64_t)timeout_s * 1000;
    while (kp_mono_ns() / 1000000 < deadline) {
        if (capture(d, argv, buf, sizeof buf) == 0) {
            char err[128];
            json_t *j = json_parse(buf, strlen(buf), err, sizeof err);
            const json_t *views = j ? json_get(j, "views") : NULL;
            bool done = false;
            for (int i = 0; views && views->type == JSON_ARR && i < views->n; i++) {
                const json_t *name = json_get(views->items[i], "view");
                const json_t *alias = json_get(views->items[i], "alias");
                done |= name && name->type == JSON_STR && strcmp(name->s, view) == 0 &&
                        alias && alias->type == JSON_NUM && atoi(alias->s) == v;
            }
            json_free(j);
            if (done)
                return 0;
        }
        usleep(100000);
    }
    fprintf(stderr, "kappa demo: the view %s did not switch to version %d within %d s\n", view, v,
            timeout_s);
    return -1;
}

/* Orders FROM..TO-1 of a fixed pseudo-random sequence (the same every run),
 * keyed by product, into topic `orders`; 1 in 20 is a refund. */
static int produce_orders(demo_t *d, int from, int to)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", d->brokers, err, sizeof err) ||
        rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof err) ||
        rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err)) {
        fprintf(stderr, "kappa demo: %s\n", err);
        rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!p) {
        fprintf(stderr, "kappa demo: %s\n", err);
        return -1;
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < from; i++)      /* advance the sequence to `from` */
        for (int k = 0; k < 3; k++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    int rc = 0;
    for (int i = from; i < to && rc == 0; i++) {
        uint64_t r[3];
        for (int k = 0; k < 3; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            r[k] = x >> 33;
        }
        char key[8], val[160];
        int kn = snprintf(key, sizeof key, "p%d", (int)(r[0] % DEMO_PRODUCTS));
        int vn = snprintf(val, sizeof val,
                          "{\"order\":%d,\"product\":\"%s\",\"amount\":%d,\"refund\":%s,"
                          "\"ts\":%lld}",
                          i, key, 100 + (int)(r[1] % 4900), r[2] % 20 == 0 ? "true" : "false",
                          (long long)(d->base_ms + (int64_t)i * DEMO_STEP_MS));
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC("orders"), RD_KAFKA_V_KEY(key, (size_t)kn),
                RD_KAFKA_V_VALUE(val, (size_t)vn), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(p, 10);
                continue;
            }
            if (e) {
                fprintf(stderr, "kappa demo: producing: %s\n", rd_kafka_err2str(e));
                rc = -1;
            }
            break;
        }
    }
    if (rc == 0 && rd_kafka_flush(p, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kappa demo: orders not acknowledged within 30 s\n");
        rc = -1;
    }
    rd_kafka_destroy(p);
    return rc;
}

static int start_server(demo_t *d)
{
    int kport = free_port(), hport = free_port();
    if (kport < 0 || hport < 0) {
        fprintf(stderr, "kappa demo: no free loopback port\n");
        return -1;
    }
    snprintf(d->brokers, sizeof d->brokers, "127.0.0.1:%d", kport);
    snprintf(d->http, sizeof d->http, "127.0.0.1:%d", hport);
    char listeners[96], logdirs[128], http[96], views[128], logpath[128];
    snprintf(listeners, sizeof listeners, "listeners=%s", d->brokers);
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s/log", d->dir);
    snprintf(http, sizeof http, "kappa.http.listener=%s", d->http);
    snprintf(views, sizeof views, "kappa.views.db=%s/views.db", d->dir);
    snprintf(logpath, sizeof logpath, "%s/server.log", d->dir);
    char *argv[] = {NULL, "server", "--set", listeners, "--set", logdirs, "--set", http,
                    "--set", views, "--set", "group.initial.rebalance.delay.ms=0",
                    "--set", "group.min.session.timeout.ms=1000", NULL};
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "kappa demo: %s: %s\n", logpath, strerror(errno));
        return -1;
    }
    d->server = spawn_self(d, argv, fd, fd);
    close(fd);
    if (d->server < 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)kport),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool up = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (s >= 0)
            close(s);
        if (up)
            return 0;
        if (waitpid(d->server, NULL, WNOHANG) == d->server) {
            d->server = 0;
            fprintf(stderr, "kappa demo: the server exited at start; see %s\n", logpath);
            return -1;
        }
        usleep(50000);
    }
    fprintf(stderr, "kappa demo: the server did not start listening; see %s\n", logpath);
    return -1;
}

static void stop_server(demo_t *d)
{
    if (d->server > 0) {
        kill(d->server, SIGTERM);
        wait_exit(d->server);
        d->server = 0;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kappa demo [--keep] [--orders N]\n\n"
               "The whole Kappa cycle on generated data, narrated, in under a minute: a private\n"
               "server in a temporary directory, orders, a view computed by version 1 of a job,\n"
               "version 2 with changed logic replaying beside it, diff, promote, retire.\n\n"
               "  --keep       leave the temporary directory (data, logs, view store) behind\n"
               "  --orders N   orders to generate before version 1 (default 12000)\n");
}

static const char *TOP_SQL =
    "SELECT key, value->>'revenue' AS revenue, value->>'orders' AS orders FROM revenue "
    "WHERE key LIKE 'p1|%' ORDER BY key LIMIT 4";

static int cycle(demo_t *d, int norders)
{
    char *b = d->brokers, *h = d->http, *plugin = d->plugin;
    char extra[16];
    snprintf(extra, sizeof extra, "%d", norders + norders / 4);

    if (start_server(d) != 0)
        return 1;
    say(d, "A private kappa server on %s (HTTP %s), data in %s.", d->brokers, d->http, d->dir);
    char *create[] = {NULL, "topic", "create", "orders", "-p", "2", "-b", b, NULL};
    if (run(d, create) != 0)
        return 1;

    say(d, "%d orders into topic `orders` (keyed by product; 1 in 20 is a refund).", norders);
    if (produce_orders(d, 0, norders) != 0)
        return 1;

    say(d, "Deploy version 1 of the revenue job: revenue and orders per product per minute, "
           "kept as the view `revenue`. It replays the log from the start.");
    char *dep1[] = {NULL, "job", "deploy", "revenue", "--version", "1", "--plugin", plugin,
                    "--from", "earliest", "-b", b, NULL};
    if (run(d, dep1) != 0 || wait_caught_up(d, "revenue", 1, 60) != 0)
        return 1;
    char *status[] = {NULL, "job", "status", "revenue", "-b", b, NULL};
    run(d, status);

    say(d, "Query the view (the stable name `revenue` points at version 1).");
    char *q[] = {NULL, "view", "query", (char *)TOP_SQL, "--http", h, NULL};
    if (run(d, q) != 0)
        return 1;

    say(d, "New logic: refunds should not count as revenue. Deploy version 2 beside version 1; "
           "it replays the same history into its own outputs (revenue@v2) while version 1 keeps "
           "serving.");
    char *dep2[] = {NULL, "job", "deploy", "revenue", "--version", "2", "--plugin", plugin,
                    "--from", "earliest", "--param", "exclude_refunds=true", "-b", b, NULL};
    if (run(d, dep2) != 0)
        return 1;
    say(d, "Meanwhile more orders arrive; both versions process them live.");
    if (produce_orders(d, norders, norders + norders / 4) != 0)
        return 1;
    if (wait_caught_up(d, "revenue", 1, 60) != 0 || wait_caught_up(d, "revenue", 2, 60) != 0)
        return 1;
    run(d, status);

    say(d, "Compare the versions over the same input: every window with a refund differs "
           "(exit status 1 = different).");
    char *diff[] = {NULL, "job", "diff", "revenue", "1", "2", "--samples", "3", "-b", b, NULL};
    int rc = run(d, diff);
    if (rc != 0 && rc != 1)
        return 1;

    say(d, "Promote version 2: readers of `revenue` move to revenue@v2 atomically.");
    char *promote[] = {NULL, "job", "promote", "revenue", "2", "-b", b, NULL};
    if (run(d, promote) != 0 || wait_alias(d, "revenue", 2, 30) != 0)
        return 1;
    if (run(d, q) != 0)
        return 1;

    say(d, "Retire version 1: its runner stops, its outputs, state and group are deleted.");
    char *retire[] = {NULL, "job", "retire", "revenue", "1", "--yes", "-b", b, NULL};
    if (run(d, retire) != 0)
        return 1;
    char *list[] = {NULL, "job", "list", "-b", b, NULL};
    run(d, list);
    char *views[] = {NULL, "view", "list", "--http", h, NULL};
    run(d, views);
    return 0;
}

int cli_demo(int argc, char **argv)
{
    demo_t d = {.t0 = kp_mono_ns() / 1000000};
    bool keep = false;
    int norders = 12000;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0) {
            keep = true;
        } else if (strcmp(argv[i], "--orders") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 100 || n > 10000000) {
                fprintf(stderr, "kappa demo: --orders takes 100..10000000\n");
                return 2;
            }
            norders = (int)n;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    ssize_t n = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
    if (n <= 0) {
        fprintf(stderr, "kappa demo: cannot find my own binary: %s\n", strerror(errno));
        return 1;
    }
    d.self[n] = '\0';
    char *slash = strrchr(d.self, '/');
    snprintf(d.plugin, sizeof d.plugin, "%.*s/examples/views/revenue.so",
             (int)(slash ? slash - d.self : 1), slash ? d.self : ".");
    if (access(d.plugin, R_OK) != 0) {
        fprintf(stderr, "kappa demo: the example plugin %s is missing: run `make` first\n",
                d.plugin);
        return 1;
    }
    /* mkdtemp replaces the trailing Xs with a unique suffix. */
    snprintf(d.dir, sizeof d.dir, "/tmp/kappa-demo-XXXXXX");
    if (!mkdtemp(d.dir)) {
        fprintf(stderr, "kappa demo: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Event times: the first orders end about now, so the views' freshness
     * reads as it would on live data. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 - (int64_t)norders * DEMO_STEP_MS;
    d.base_ms = now_ms - now_ms % 60000;
    int rc = cycle(&d, norders);
    stop_server(&d);
    if (rc == 0)
        say(&d, "Done: deploy, replay, diff, promote and retire, with no downtime for readers.");
    if (keep || rc != 0) {
        printf("\nData, logs and the view store are in %s\n", d.dir);
    } else {
        char *rm[] = {"rm", "-rf", d.dir, NULL};
        pid_t pid;
        if (posix_spawnp(&pid, "rm", NULL, NULL, rm, environ) == 0)
            wait_exit(pid);
    }
    return rc;
}

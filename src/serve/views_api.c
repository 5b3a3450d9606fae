/*
 * views_api.c -- HTTP routes of the view query API (see views_api.h) over
 * the read side of the view store (view/query.h).
 *
 * Each request takes a reader from the pool for as long as it runs --
 * for a stream, until the stream ends -- and gives it back, so concurrent
 * requests read through separate SQLite connections.
 *
 * Streams keep memory bounded: a stream holds at most one chunk of output
 * (STREAM_CHUNK bytes, or one row if a row is larger) and produces more
 * only when MHD has sent what it had.
 */
#include "serve/views_api.h"

#include "core/json.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "view/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_CHUNK (32 * 1024)
#define CHANGES_BATCH 256
#define CHANGES_POLL_US 15000

struct views_api {
    query_t *q;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Map a query error to a status and a JSON error body. */
static void fail(http_response_t *resp, int rc, const char *err)
{
    int status = rc == KP_ENOTFOUND ? 404
               : rc == KP_EINVAL || rc == KP_ETOOLARGE ? 400
               : 500;
    if (!err[0])
        err = rc == KP_ENOMEM ? "out of memory" : kp_strerror(rc);
    http_error(resp, status, err);
}

static void reply_json(http_response_t *resp, jbuf_t *b)
{
    size_t len;
    char *body = jbuf_take(b, &len);
    if (!body) {
        http_error(resp, 500, "out of memory");
        return;
    }
    resp->content_type = "application/json";
    resp->body = body;
    resp->len = len;
}

static void list_handler(const http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    views_api_t *a = ctx;
    query_reader_t *r = query_reader_get(a->q);
    if (!r) {
        http_error(resp, 500, "out of memory");
        return;
    }
    jbuf_t b = {0};
    char err[512] = "";
    int rc = query_views(r, wall_ms(), &b, err, sizeof err);
    query_reader_put(r);
    if (rc) {
        jbuf_free(&b);
        fail(resp, rc, err);
        return;
    }
    reply_json(resp, &b);
}

/* ---- streams ----------------------------------------------------------- */

typedef struct stream {
    views_api_t *api;
    query_reader_t *r;
    jbuf_t pend;                /* produced, not yet sent from `off` */
    size_t off;
    int fd;                     /* the client's socket (changes) */
    query_changes_t *changes;
    query_sql_t *sql;
    bool done;                  /* the SQL is finished: send what is left */
} stream_t;

static void stream_free(void *ctx)
{
    stream_t *st = ctx;
    query_changes_close(st->changes);
    query_sql_end(st->sql);
    query_reader_put(st->r);
    jbuf_free(&st->pend);
    kp_free(st);
}

/* Copy pending bytes out; 0 when nothing is pending. */
static ssize_t drain(stream_t *st, char *buf, size_t max)
{
    size_t n = st->pend.len - st->off;
    if (n == 0)
        return 0;
    if (n > max)
        n = max;
    memcpy(buf, st->pend.buf + st->off, n);
    st->off += n;
    if (st->off == st->pend.len) {
        jbuf_reset(&st->pend);
        st->off = 0;
    }
    return (ssize_t)n;
}

static ssize_t sql_read(void *ctx, char *buf, size_t max)
{
    stream_t *st = ctx;
    if (st->pend.len == 0 && !st->done) {
        if (query_sql_next(st->sql, &st->pend, STREAM_CHUNK) == 0)
            st->done = true;
        if (st->pend.err)
            return -1;
    }
    return drain(st, buf, max);
}

/* Has the client closed its end (or reset the connection)? */
static bool peer_gone(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ssize_t changes_read(void *ctx, char *buf, size_t max)
{
    stream_t *st = ctx;
    while (st->pend.len == 0) {
        int n = query_changes_next(st->changes, &st->pend, CHANGES_BATCH);
        if (n < 0)
            return n == KP_ENOMEM ? -1 : 0;     /* the version is gone: end */
        if (n > 0)
            break;
        /* Nothing new: watch for the client leaving (MHD does not while
         * we hold its thread) or the server stopping, then poll the store
         * again.  Either ends the stream as a normal end, not an error:
         * neither is one worth a log line. */
        if ((st->fd >= 0 && peer_gone(st->fd)) || query_stopping(st->api->q))
            return 0;
        usleep(CHANGES_POLL_US);
    }
    return drain(st, buf, max);
}

/* ---- /v1/views/NAME... --------------------------------------------------- */

static int parse_i64_arg(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || errno || *end || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static void changes(views_api_t *a, const http_request_t *req, const char *ref,
                    http_response_t *resp)
{
    const char *from_s = http_query_arg(req, "from");
    int64_t from = 0;
    if (from_s && strcmp(from_s, "now") == 0)
        from = -1;
    else if (from_s && parse_i64_arg(from_s, 0, INT64_MAX, &from) != 0) {
        http_error(resp, 400, "from must be a sequence number (0 or more) or 'now'");
        return;
    }
    stream_t *st = kp_calloc(1, sizeof *st);
    if (!st || !(st->r = query_reader_get(a->q))) {
        kp_free(st);
        http_error(resp, 500, "out of memory");
        return;
    }
    st->api = a;
    st->fd = http_request_fd(req);
    char err[512] = "";
    int rc = query_changes_open(st->r, ref, from, &st->changes, err, sizeof err);
    if (rc) {
        stream_free(st);
        fail(resp, rc, err);
        return;
    }
    resp->content_type = "application/x-ndjson";
    resp->stream = changes_read;
    resp->stream_ctx = st;
    resp->stream_free = stream_free;
}

static void view_handler(const http_request_t *req, http_response_t *resp, void *ctx)
{
    views_api_t *a = ctx;
    const char *rest = req->path + strlen("/v1/views/");
    const char *slash = strchr(rest, '/');
    char ref[128];
    size_t rl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (rl == 0 || rl >= sizeof ref) {
        http_error(resp, 400, "expected /v1/views/NAME[/KEY]");
        return;
    }
    memcpy(ref, rest, rl);
    ref[rl] = '\0';
    const char *key = slash ? slash + 1 : NULL;
    if (key && strcmp(key, "changes") == 0) {
        changes(a, req, ref, resp);
        return;
    }
    const char *key_arg = http_query_arg(req, "key");
    if (!key && key_arg)
        key = key_arg;
    query_reader_t *r = query_reader_get(a->q);
    if (!r) {
        http_error(resp, 500, "out of memory");
        return;
    }
    jbuf_t b = {0};
    char err[512] = "";
    int rc;
    if (key) {
        rc = query_get(r, ref, key, strlen(key), &b, err, sizeof err);
    } else {
        const char *limit_s = http_query_arg(req, "limit");
        int64_t limit = QUERY_SCAN_LIMIT_DEFAULT;
        if (limit_s && parse_i64_arg(limit_s, 1, QUERY_SCAN_LIMIT_MAX, &limit) != 0) {
            query_reader_put(r);
            char m[96];
            snprintf(m, sizeof m, "limit must be an integer from 1 to %d", QUERY_SCAN_LIMIT_MAX);
            http_error(resp, 400, m);
            return;
        }
        rc = query_scan(r, ref, http_query_arg(req, "prefix"), http_query_arg(req, "after"),
                        (int)limit, &b, err, sizeof err);
    }
    query_reader_put(r);
    if (rc) {
        jbuf_free(&b);
        fail(resp, rc, err);
        return;
    }
    reply_json(resp, &b);
}

/* ---- POST /v1/query --------------------------------------------------------- */

static void sql_handler(const http_request_t *req, http_response_t *resp, void *ctx)
{
    views_api_t *a = ctx;
    char err[512] = "";
    json_t *j = req->body ? json_parse(req->body, req->body_len, err, sizeof err) : NULL;
    if (!j) {
        char m[600];
        snprintf(m, sizeof m, "the body must be a JSON object {\"sql\": \"SELECT ...\"}%s%s",
                 err[0] ? ": " : "", err);
        http_error(resp, 400, m);
        return;
    }
    const json_t *sql = json_get(j, "sql");
    if (!sql || sql->type != JSON_STR) {
        json_free(j);
        http_error(resp, 400, "the body must have a string member \"sql\"");
        return;
    }
    stream_t *st = kp_calloc(1, sizeof *st);
    if (!st || !(st->r = query_reader_get(a->q))) {
        kp_free(st);
        json_free(j);
        http_error(resp, 500, "out of memory");
        return;
    }
    st->api = a;
    st->fd = -1;
    int rc = query_sql_start(st->r, sql->s, sql->len, &st->sql, &st->pend, err, sizeof err);
    json_free(j);
    if (rc) {
        stream_free(st);
        fail(resp, rc, err);
        return;
    }
    resp->content_type = "application/json";
    resp->stream = sql_read;
    resp->stream_ctx = st;
    resp->stream_free = stream_free;
}

int views_api_register(http_server_t *s, const char *db_path, int64_t query_timeout_ms,
                       views_api_t **out)
{
    views_api_t *a = kp_calloc(1, sizeof *a);
    if (!a)
        return KP_ENOMEM;
    int rc = query_open(db_path, query_timeout_ms, &a->q);
    if (rc == 0 &&
        ((rc = http_route_threaded(s, "GET", "/v1/views", list_handler, a)) != 0 ||
         (rc = http_route_threaded(s, "GET", "/v1/views/", view_handler, a)) != 0 ||
         (rc = http_route_threaded(s, "POST", "/v1/query", sql_handler, a)) != 0)) {
        query_close(a->q);
    }
    if (rc) {
        kp_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void views_api_shutdown(views_api_t *a)
{
    if (a)
        query_interrupt(a->q);
}

void views_api_free(views_api_t *a)
{
    if (!a)
        return;
    query_close(a->q);
    kp_free(a);
}

/*
 * http.c -- libmicrohttpd with a thread per connection, and a hop to
 * kappa's event loop for the routes that read broker state.
 *
 * Invariants:
 *  (1) MHD runs its own threads (a listening thread and one per
 *      connection), so a slow handler or a long-lived stream never stalls
 *      the broker.  Routes registered with http_route() still run on the
 *      loop thread: the connection thread queues a loop_call_t, wakes the
 *      loop through an eventfd and sleeps until the loop has answered.
 *  (2) A queued call is owned by its connection thread; the loop only
 *      borrows it between taking it off the queue (`taken`) and setting
 *      `done`.  When the server stops, calls not yet taken are answered 503
 *      by their own thread, so stopping never waits for a loop that no
 *      longer runs.
 *  (3) We create the listening socket ourselves so a bind failure is reported
 *      with the address, and IPv6 literals work the same as for the Kafka
 *      listeners.
 *  (4) Every response is built from a kp_malloc'd body the server frees, or
 *      from a stream whose stream_free MHD calls exactly once.
 */
#include "serve/http.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_MAX_ROUTES 32

typedef struct route {
    char method[8];
    char prefix[128];
    http_handler_fn *fn;
    void *ctx;
    bool threaded;              /* run on the connection thread */
} route_t;

/* A request handed to the loop thread (invariant (2)). */
typedef struct loop_call {
    const route_t *route;
    const http_request_t *req;
    http_response_t *resp;
    bool taken, done;
    struct loop_call *next;
} loop_call_t;

struct http_server {
    loop_t *loop;
    struct MHD_Daemon *d;
    int listen_fd;
    int port;
    int wake_fd;                /* eventfd: calls are queued */
    pthread_mutex_t mu;         /* guards the queue, taken/done, stopping */
    pthread_cond_t cv;          /* a call is done, or the server stops */
    loop_call_t *head, *tail;
    bool stopping;
    route_t routes[HTTP_MAX_ROUTES];
    int nroutes;
};

/* Per-request state while a POST body arrives. */
typedef struct upload {
    char *buf;
    size_t len, cap;
    bool too_large;
} upload_t;

/* Loop thread: run every queued call.  The handlers run without the lock,
 * so a handler may take as long as it needs without blocking the queue. */
static void on_wake(loop_t *l, int fd, uint32_t events, void *ctx)
{
    (void)l, (void)events;
    http_server_t *s = ctx;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        KP_WARN("http: reading the wake-up eventfd: %s", strerror(errno));
    pthread_mutex_lock(&s->mu);
    loop_call_t *c = s->head;
    s->head = s->tail = NULL;
    for (loop_call_t *p = c; p; p = p->next)
        p->taken = true;
    pthread_mutex_unlock(&s->mu);
    while (c) {
        loop_call_t *next = c->next;
        c->route->fn(c->req, c->resp, c->route->ctx);
        pthread_mutex_lock(&s->mu);
        c->done = true;         /* c belongs to its connection thread again */
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        c = next;
    }
}

/* Connection thread: run a loop route on the loop thread and wait. */
static void call_on_loop(http_server_t *s, const route_t *r, const http_request_t *req,
                         http_response_t *resp)
{
    loop_call_t c = {.route = r, .req = req, .resp = resp};
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        http_error(resp, 503, "the server is shutting down");
        return;
    }
    if (s->tail)
        s->tail->next = &c;
    else
        s->head = &c;
    s->tail = &c;
    pthread_mutex_unlock(&s->mu);
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof one) < 0)
        KP_WARN("http: waking the loop: %s", strerror(errno));
    pthread_mutex_lock(&s->mu);
    while (!c.done && !(s->stopping && !c.taken))
        pthread_cond_wait(&s->cv, &s->mu);
    if (!c.done) {
        /* Stopping and never taken: unlink it (invariant (2)). */
        loop_call_t **pp = &s->head, *prev = NULL;
        while (*pp && *pp != &c) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = c.next;
            if (s->tail == &c)
                s->tail = prev;
        }
        pthread_mutex_unlock(&s->mu);
        http_error(resp, 503, "the server is shutting down");
        return;
    }
    pthread_mutex_unlock(&s->mu);
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    KP_WARN("%s", line);
}

/* A streamed body (see http_stream_fn). */
typedef struct stream {
    http_stream_fn *fn;
    void *ctx;
    void (*free_fn)(void *ctx);
} stream_t;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *st = cls;
    ssize_t n = st->fn(st->ctx, buf, max);
    if (n > 0)
        return n;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_done(void *cls)
{
    stream_t *st = cls;
    if (st->free_fn)
        st->free_fn(st->ctx);
    kp_free(st);
}

static enum MHD_Result queue(struct MHD_Connection *c, http_response_t *resp)
{
    struct MHD_Response *r;
    if (resp->stream) {
        kp_free(resp->body);
        stream_t *st = kp_malloc(sizeof *st);
        if (!st) {
            if (resp->stream_free)
                resp->stream_free(resp->stream_ctx);
            return MHD_NO;
        }
        *st = (stream_t){resp->stream, resp->stream_ctx, resp->stream_free};
        /* Unknown size: MHD sends it chunked and keeps the connection. */
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, st,
                                              stream_done);
        if (!r) {
            stream_done(st);
            return MHD_NO;
        }
    } else {
        r = MHD_create_response_from_buffer_with_free_callback(
            resp->len, resp->body ? resp->body : (char *)"", resp->body ? kp_free : NULL);
        if (!r) {
            kp_free(resp->body);
            return MHD_NO;
        }
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)(resp->status ? resp->status : 200), r);
    MHD_destroy_response(r);
    return ret;
}

void http_error(http_response_t *resp, int status, const char *msg)
{
    kp_free(resp->body);
    size_t cap = strlen(msg) * 6 + 32;
    char *b = kp_malloc(cap);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = b;
    resp->len = 0;
    if (!b)
        return;
    size_t n = (size_t)snprintf(b, cap, "{\"error\":\"");
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            n += (size_t)snprintf(b + n, cap - n, "\\%c", *p);
        else if (*p < 0x20)
            n += (size_t)snprintf(b + n, cap - n, "\\u%04x", *p);
        else
            b[n++] = (char)*p;
    }
    n += (size_t)snprintf(b + n, cap - n, "\"}\n");
    resp->len = n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)version;
    http_server_t *s = cls;
    /* MHD's protocol: the first call only announces the request; answering
     * in it makes MHD close the connection (no keep-alive), so every
     * request, with a body or not, is answered on a later call. */
    upload_t *u = *con_cls;
    if (!u) {
        u = kp_calloc(1, sizeof *u);
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    {
        if (*upload_size) {
            if (!u->too_large && u->len + *upload_size <= HTTP_BODY_MAX) {
                if (u->len + *upload_size + 1 > u->cap) {
                    size_t cap = u->cap ? u->cap : 4096;
                    while (cap < u->len + *upload_size + 1)
                        cap *= 2;
                    char *nb = kp_realloc(u->buf, cap);
                    if (!nb)
                        return MHD_NO;
                    u->buf = nb;
                    u->cap = cap;
                }
                memcpy(u->buf + u->len, upload_data, *upload_size);
                u->len += *upload_size;
                u->buf[u->len] = '\0';
            } else {
                u->too_large = true;
            }
            *upload_size = 0;
            return MHD_YES;
        }
    }
    http_response_t resp = {.status = 200};
    http_request_t req = {
        .method = method,
        .path = url,
        .body = u->buf,
        .body_len = u->len,
        .mhd_conn = c,
    };
    if (u->too_large) {
        http_error(&resp, 413, "request body larger than 1 MiB");
        return queue(c, &resp);
    }
    bool path_known = false;
    for (int i = 0; i < s->nroutes; i++) {
        route_t *r = &s->routes[i];
        size_t pl = strlen(r->prefix);
        if (strncmp(url, r->prefix, pl) != 0)
            continue;
        /* A prefix ending without '/' must match the whole path. */
        if (r->prefix[pl - 1] != '/' && url[pl] != '\0')
            continue;
        path_known = true;
        if (strcmp(r->method, method) != 0)
            continue;
        if (r->threaded) {
            r->fn(&req, &resp, r->ctx);
        } else {
            call_on_loop(s, r, &req, &resp);
            if (resp.stream) {
                /* Streams block: loop routes must not return one. */
                if (resp.stream_free)
                    resp.stream_free(resp.stream_ctx);
                resp.stream = NULL;
                http_error(&resp, 500, "internal error: a loop route returned a stream");
            }
        }
        return queue(c, &resp);
    }
    if (path_known)
        http_error(&resp, 405, "method not allowed on this path");
    else
        http_error(&resp, 404, "no such endpoint (try /metrics)");
    return queue(c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    upload_t *u = *con_cls;
    if (u) {
        kp_free(u->buf);
        kp_free(u);
        *con_cls = NULL;
    }
}

int http_bind(const char *listen_addr, int *fd_out, int *port_out)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || colon == listen_addr)
        return KP_EINVAL;
    size_t hl = (size_t)(colon - listen_addr);
    if (hl >= sizeof host)
        return KP_EINVAL;
    memcpy(host, listen_addr, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (grc != 0)
        return KP_EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = -errno;
        freeaddrinfo(ai);
        return e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 512) < 0) {
        int e = -errno;
        close(fd);
        freeaddrinfo(ai);
        return e;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

int http_start(loop_t *l, const char *listen_addr, http_server_t **out)
{
    *out = NULL;
    http_server_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    s->loop = l;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = http_bind(listen_addr, &s->listen_fd, &s->port);
    if (rc) {
        KP_ERROR("cannot listen on %s: %s (set kappa.http.listener, or \"\" to "
                 "turn the HTTP listener off)", listen_addr,
                 rc == KP_EINVAL ? "not a HOST:PORT address" : kp_strerror(rc));
        goto fail_mu;
    }
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0 || (rc = loop_add(l, s->wake_fd, EPOLLIN, on_wake, s)) != 0) {
        rc = s->wake_fd < 0 ? -errno : rc;
        KP_ERROR("cannot set up the HTTP server's wake-up descriptor: %s", kp_strerror(rc));
        if (s->wake_fd >= 0)
            close(s->wake_fd);
        close(s->listen_fd);
        goto fail_mu;
    }
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                            /* MHD clears a connection's pool between
                             * requests: 16 KiB holds any header we take. */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                            MHD_OPTION_END);
    if (!s->d) {
        KP_ERROR("cannot start the HTTP server on %s", listen_addr);
        loop_del(l, s->wake_fd);
        close(s->wake_fd);
        close(s->listen_fd);
        rc = KP_EINVAL;
        goto fail_mu;
    }
    *out = s;
    return 0;
fail_mu:
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    kp_free(s);
    return rc;
}

void http_stop(http_server_t *s)
{
    if (!s)
        return;
    /* Release the connection threads waiting for the loop first (they
     * would otherwise block MHD_stop_daemon's joins), then stop MHD. */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* Take the listening socket back first: MHD would close it itself, and
     * we opened it (invariant (3)). */
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    MHD_stop_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    loop_del(s->loop, s->wake_fd);
    close(s->wake_fd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    kp_free(s);
}

static int add_route(http_server_t *s, const char *method, const char *path_prefix,
                     http_handler_fn *fn, void *ctx, bool threaded)
{
    if (s->nroutes == HTTP_MAX_ROUTES || strlen(method) >= sizeof s->routes[0].method ||
        strlen(path_prefix) >= sizeof s->routes[0].prefix || !path_prefix[0])
        return KP_EINVAL;
    route_t *r = &s->routes[s->nroutes++];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->prefix, sizeof r->prefix, "%s", path_prefix);
    r->fn = fn;
    r->ctx = ctx;
    r->threaded = threaded;
    return 0;
}

int http_route(http_server_t *s, const char *method, const char *path_prefix,
               http_handler_fn *fn, void *ctx)
{
    return add_route(s, method, path_prefix, fn, ctx, false);
}

int http_route_threaded(http_server_t *s, const char *method, const char *path_prefix,
                        http_handler_fn *fn, void *ctx)
{
    return add_route(s, method, path_prefix, fn, ctx, true);
}

int http_request_fd(const http_request_t *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->mhd_conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

int http_port(const http_server_t *s)
{
    return s->port;
}

const char *http_query_arg(const http_request_t *req, const char *key)
{
    return MHD_lookup_connection_value(req->mhd_conn, MHD_GET_ARGUMENT_KIND, key);
}

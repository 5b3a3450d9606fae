/*
 * http.c -- libmicrohttpd on kappa's event loop.
 *
 * Invariants:
 *  (1) MHD never runs a thread: it is started without
 *      MHD_USE_INTERNAL_POLLING_THREAD and only MHD_run() on the loop thread
 *      drives it.  Its epoll descriptor sits in the loop's epoll set; its
 *      timeouts (idle connections, pending work) arm one loop timer.
 *  (2) We create the listening socket ourselves so a bind failure is reported
 *      with the address, and IPv6 literals work the same as for the Kafka
 *      listeners.
 *  (3) Every response is built from a kp_malloc'd body the server frees.
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
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_MAX_ROUTES 32

typedef struct route {
    char method[8];
    char prefix[128];
    http_handler_fn *fn;
    void *ctx;
} route_t;

struct http_server {
    loop_t *loop;
    struct MHD_Daemon *d;
    int listen_fd;
    int epoll_fd;
    int port;
    loop_timer_t timer;
    route_t routes[HTTP_MAX_ROUTES];
    int nroutes;
};

/* Per-request state while a POST body arrives. */
typedef struct upload {
    char *buf;
    size_t len, cap;
    bool too_large;
} upload_t;

static void drive(http_server_t *s);

static void on_timer(loop_t *l, void *ctx)
{
    (void)l;
    drive(ctx);
}

/* Run MHD, then re-arm the timer from its next deadline (invariant (1)). */
static void drive(http_server_t *s)
{
    MHD_run(s->d);
    MHD_UNSIGNED_LONG_LONG ms;
    loop_timer_stop(s->loop, &s->timer);
    if (MHD_get_timeout(s->d, &ms) == MHD_YES)
        loop_timer_start(s->loop, &s->timer, ms > 60000 ? 60000 : (int64_t)ms, on_timer, s);
}

static void on_epoll(loop_t *l, int fd, uint32_t events, void *ctx)
{
    (void)l, (void)fd, (void)events;
    drive(ctx);
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

static enum MHD_Result queue(struct MHD_Connection *c, http_response_t *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(
        resp->len, resp->body ? resp->body : (char *)"", resp->body ? kp_free : NULL);
    if (!r) {
        kp_free(resp->body);
        return MHD_NO;
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
        r->fn(&req, &resp, r->ctx);
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
    loop_timer_init(&s->timer);
    int rc = http_bind(listen_addr, &s->listen_fd, &s->port);
    if (rc) {
        KP_ERROR("cannot listen on %s: %s (set kappa.http.listener, or \"\" to "
                 "turn the HTTP listener off)", listen_addr,
                 rc == KP_EINVAL ? "not a HOST:PORT address" : kp_strerror(rc));
        kp_free(s);
        return rc;
    }
    s->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                            MHD_OPTION_END);
    if (!s->d) {
        KP_ERROR("cannot start the HTTP server on %s", listen_addr);
        close(s->listen_fd);
        kp_free(s);
        return KP_EINVAL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    s->epoll_fd = di ? di->epoll_fd : -1;
    if (s->epoll_fd < 0 || (rc = loop_add(l, s->epoll_fd, EPOLLIN, on_epoll, s)) != 0) {
        KP_ERROR("cannot watch the HTTP server's descriptor");
        MHD_stop_daemon(s->d);
        close(s->listen_fd);
        kp_free(s);
        return rc ? rc : KP_EINVAL;
    }
    *out = s;
    return 0;
}

void http_stop(http_server_t *s)
{
    if (!s)
        return;
    loop_timer_stop(s->loop, &s->timer);
    loop_del(s->loop, s->epoll_fd);
    /* Take the listening socket back first: MHD would close it itself, and
     * we opened it (invariant (2)). */
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    MHD_stop_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    kp_free(s);
}

int http_route(http_server_t *s, const char *method, const char *path_prefix,
               http_handler_fn *fn, void *ctx)
{
    if (s->nroutes == HTTP_MAX_ROUTES || strlen(method) >= sizeof s->routes[0].method ||
        strlen(path_prefix) >= sizeof s->routes[0].prefix || !path_prefix[0])
        return KP_EINVAL;
    route_t *r = &s->routes[s->nroutes++];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->prefix, sizeof r->prefix, "%s", path_prefix);
    r->fn = fn;
    r->ctx = ctx;
    return 0;
}

int http_port(const http_server_t *s)
{
    return s->port;
}

const char *http_query_arg(const http_request_t *req, const char *key)
{
    return MHD_lookup_connection_value(req->mhd_conn, MHD_GET_ARGUMENT_KIND, key);
}

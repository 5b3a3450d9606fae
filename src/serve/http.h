/*
 * http.h -- kappa's HTTP listener (`kappa.http.listener`, default
 * 127.0.0.1:9644): /metrics today, the view query API later.
 *
 * libmicrohttpd does the HTTP/1.1 work (parsing, keep-alive, chunking) with
 * a thread per connection.  Two kinds of route:
 *
 *   http_route()           the handler runs on kappa's event-loop thread, so
 *                          it may read broker state without locks (/metrics,
 *                          /health); the connection thread hands the request
 *                          to the loop and waits for the response.
 *   http_route_threaded()  the handler runs on the connection's own thread:
 *                          for work that blocks (SQLite reads, long-lived
 *                          streams) and must never stall the broker.
 *
 * A handler fills an http_response_t; the body is taken over (kp_malloc'd,
 * freed by the server).  A threaded handler may instead set `stream`: the
 * response is then sent chunked, pulled from the stream function on the
 * connection thread until it returns 0.  Routes match on method and path
 * prefix, first registered first.  Request bodies (POST) are collected up
 * to HTTP_BODY_MAX bytes before the handler runs; larger ones get 413.
 */
#ifndef KP_HTTP_H
#define KP_HTTP_H

#include "io/loop.h"

#include <stddef.h>
#include <sys/types.h>

#define HTTP_BODY_MAX (1 << 20)

typedef struct http_server http_server_t;

typedef struct http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* decoded path, no query string */
    const char *body;           /* POST body (NUL-terminated), or NULL */
    size_t body_len;
    void *mhd_conn;             /* for http_query_arg */
} http_request_t;

/*
 * A streamed body: fill buf with up to max bytes and return how many (> 0),
 * 0 at the end of the body, or -1 to abort the connection (the client went
 * away).  Runs on the connection thread and may block.
 */
typedef ssize_t http_stream_fn(void *ctx, char *buf, size_t max);

typedef struct http_response {
    int status;                 /* default 200 */
    const char *content_type;   /* static string; default text/plain */
    char *body;                 /* kp_malloc'd; taken over by the server */
    size_t len;
    /* Threaded routes only: a chunked body instead of `body`.  stream_free
     * (if set) is called with stream_ctx once the response is done or the
     * connection closed, whichever comes first. */
    http_stream_fn *stream;
    void *stream_ctx;
    void (*stream_free)(void *ctx);
} http_response_t;

typedef void http_handler_fn(const http_request_t *req, http_response_t *resp, void *ctx);

/*
 * Listen on "HOST:PORT" ("[::1]:9644" for IPv6) and serve from loop l.
 * Returns 0, or a negative error after logging what failed (for example
 * the address in use).
 */
int http_start(loop_t *l, const char *listen, http_server_t **out);
/* Stop listening and close every connection. */
void http_stop(http_server_t *s);
/* A handler that runs on the loop thread.  Register before traffic. */
int http_route(http_server_t *s, const char *method, const char *path_prefix,
               http_handler_fn *fn, void *ctx);
/* A handler that runs on the connection's thread (several at once: fn must
 * be thread-safe). */
int http_route_threaded(http_server_t *s, const char *method, const char *path_prefix,
                        http_handler_fn *fn, void *ctx);
/* Parse HOST:PORT or [V6]:PORT and open a non-blocking listening socket
 * on it: 0 with *fd and the port bound, KP_EINVAL for a bad address, or
 * -errno (EADDRINUSE, ...).  Shared by every HTTP endpoint kappa serves. */
int http_bind(const char *listen, int *fd, int *port);

/* The port actually bound (useful with port 0). */
int http_port(const http_server_t *s);

/* A query-string argument (decoded), or NULL. */
const char *http_query_arg(const http_request_t *req, const char *key);

/* The request's socket, for a stream to notice that the peer went away
 * (recv MSG_PEEK returns 0).  Valid for the life of the response. */
int http_request_fd(const http_request_t *req);

/* Set resp to a JSON error {"error": msg} with the given status. */
void http_error(http_response_t *resp, int status, const char *msg);

#endif

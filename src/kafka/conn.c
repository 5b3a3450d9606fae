/*
 * conn.c -- client connections: framing, request headers, dispatch, and
 * writing responses in request order.
 *
 * Invariants:
 *  (1) A frame larger than socket.request.max.bytes, or with a size <= 0,
 *      closes the connection before anything is allocated for it.
 *  (2) Responses leave in the order the requests arrived (clients pipeline
 *      and match by order as much as by correlation id).
 *  (3) A request that is still waiting (produce on fsync, parked fetch)
 *      when its connection closes is detached, not freed; its handler frees
 *      it when it completes.
 *  (4) Per-request memory is capped by the arena limit, a small multiple of
 *      the frame size.
 *  (5) A connection holds at most MAX_INFLIGHT requests and MAX_QUEUED_BYTES
 *      of frames; beyond that it is not read until responses drain.
 *  (6) One read per wakeup, so no client can monopolise the loop.
 */
#include "broker.h"
#include "kerr.h"
#include "request.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/kp_clock.h"
#include "../core/logging.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF_SIZE (64 * 1024)
#define MAX_INFLIGHT 256            /* stop reading beyond this many requests */
#define MAX_QUEUED_BYTES (256u << 20)   /* ...or this many bytes of them */

struct conn {
    broker_t *b;
    int fd;
    char peer[80];                  /* host:port, for log lines */
    char host[64];                  /* the address alone (DescribeGroups) */
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *big;                   /* a frame too large for rbuf, being read */
    size_t big_len, big_got;
    kreq_t *head, *tail;
    int nreqs;
    uint32_t events;
    bool closing;
    bool in_io;                     /* inside conn_io: it closes, not us */
    bool parsing;                   /* inside conn_parse */
    size_t queued_bytes;            /* frame bytes of queued requests */
    int64_t last_active_ms;         /* for connections.max.idle.ms */
    conn_t *next, *prev;
};

static void conn_close(conn_t *c);

/*
 * KAPPA_CAPTURE_DIR: write every request frame received to that directory,
 * one file each (API-VERSION-SEQ.bin).  Used to capture the fuzz corpus from
 * real clients; off unless the variable is set when the server starts.
 */
static const char *capture_dir;
static unsigned capture_seq;

void conn_capture_init(void)
{
    capture_dir = getenv("KAPPA_CAPTURE_DIR");
}

static void capture(const uint8_t *frame, size_t len, const kreq_header_t *h)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%02d-v%d-%05u.bin", capture_dir, h->api_key,
             h->api_version, capture_seq++);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(frame, 1, len, f);
        fclose(f);
    }
}
static void conn_io(loop_t *l, int fd, uint32_t events, void *ctx);

static void set_events(conn_t *c, uint32_t ev)
{
    if (ev != c->events) {
        loop_mod(c->b->loop, c->fd, ev);
        c->events = ev;
    }
}

void conn_release_request(kreq_t *r)
{
    for (int i = 0; i < r->nfiles; i++)
        log_read_release(&r->files[i].rd);
    r->nfiles = 0;
    kwr_free(&r->out);
    arena_free(&r->arena);
    kp_free(r->frame);
    kp_free(r);
}

int kreq_add_file(kreq_t *r, log_read_t *rd)
{
    if (r->nfiles == r->capfiles) {
        int n = r->capfiles ? r->capfiles * 2 : 8;
        kfile_part_t *f = arena_alloc(&r->arena, (size_t)n * sizeof *f);
        if (!f)
            return KP_ENOMEM;
        if (r->nfiles)
            memcpy(f, r->files, (size_t)r->nfiles * sizeof *f);
        r->files = f;
        r->capfiles = n;
    }
    r->files[r->nfiles].at = (size_t)-1;
    r->files[r->nfiles].rd = *rd;
    r->nfiles++;
    rd->seg = NULL;
    rd->len = 0;
    return 0;
}

/* Called by the schema encoder through the records hook: bind the next
 * queued file part to the current output position. */
static void bind_file(kreq_t *r)
{
    for (int i = 0; i < r->nfiles; i++)
        if (r->files[i].at == (size_t)-1) {
            r->files[i].at = r->out.len;
            return;
        }
}

void kreq_respond(kreq_t *r, const void *resp)
{
    kwr_t *w = &r->out;
    kwr_init(w);
    kwr_i32(w, 0);                          /* size, patched below */
    kwr_i32(w, r->correlation_id);
    /* ApiVersions answers with header v0 even when flexible (KIP-511). */
    if (r->flexible && r->api_key != 18)
        kwr_tags(w);
    w->file_hook = r->nfiles ? (void (*)(void *))bind_file : NULL;
    w->file_ctx = r;
    schema_encode(r->api->resp, w, r->api_version, r->flexible, resp);
    int64_t files = 0;
    for (int i = 0; i < r->nfiles; i++)
        files += r->files[i].rd.len;
    r->out_total = (int64_t)w->len + files;
    broker_metrics_request(r, w->nerrors);
    kwr_patch_i32(w, 0, (int32_t)(r->out_total - 4));
    if (w->err) {
        KP_ERROR("cannot encode %s response: %s", r->api->name, kp_strerror(w->err));
        r->state = KREQ_NONE;       /* the client will time out; we stay up */
        if (r->conn)
            r->conn->closing = true;
    } else {
        r->state = KREQ_READY;
    }
    if (r->conn)
        conn_flush(r->conn);
    else
        conn_release_request(r);
}

void kreq_abort(kreq_t *r)
{
    KP_ERROR("cannot answer %s v%d (out of memory); closing the connection",
             r->api->name, r->api_version);
    r->state = KREQ_NONE;
    if (r->conn) {
        r->conn->closing = true;
        conn_flush(r->conn);
    } else {
        conn_release_request(r);
    }
}

void kreq_no_response(kreq_t *r)
{
    broker_metrics_request(r, 0);
    r->state = KREQ_NONE;
    if (r->conn)
        conn_flush(r->conn);
    else
        conn_release_request(r);
}

/* ---- dispatch ---- */

static kapi_handler_fn *handler_for(int16_t key)
{
    switch (key) {
    case 0: return handle_produce;
    case 1: return handle_fetch;
    case 2: return handle_list_offsets;
    case 3: return handle_metadata;
    case 18: return handle_api_versions;
    case 19: return handle_create_topics;
    case 20: return handle_delete_topics;
    case 21: return handle_delete_records;
    case 32: return handle_describe_configs;
    case 33: return handle_alter_configs;
    case 35: return handle_describe_log_dirs;
    case 37: return handle_create_partitions;
    case 17: return handle_sasl_handshake;
    case 22: return handle_init_producer_id;
    }
    if (txn_coord_handler_for(key))
        return txn_coord_handler_for(key);
    return group_handler_for(key);
}

const char *kreq_peer_host(const kreq_t *r)
{
    return r->conn ? r->conn->host : "";
}

bool kapi_served(int16_t key)
{
    return handler_for(key) != NULL;
}

static void queue_request(conn_t *c, kreq_t *r)
{
    r->next = NULL;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->nreqs++;
    c->queued_bytes += r->frame_len;
}

/* Returns false when the connection must close. */
/* Returns false when the connection must close. */
static bool process_frame(conn_t *c, uint8_t *frame, size_t len)
{
    broker_t *b = c->b;
    krd_t rd;
    kreq_header_t hdr;
    krd_init(&rd, frame, len);
    int rc = kreq_decode_header(&rd, &hdr);
    kapi_handler_fn *h = hdr.api ? handler_for(hdr.api_key) : NULL;
    if (rc == KP_ECORRUPT || (hdr.api && !h) || rc == KP_ENOTFOUND) {
        if (rc == KP_ECORRUPT)
            KP_WARN("%s: malformed request header (%zu bytes); closing", c->peer, len);
        else
            KP_WARN("%s: unknown API key %d; closing", c->peer, hdr.api_key);
        kp_free(frame);
        return false;
    }
    if (capture_dir)
        capture(frame, len, &hdr);
    kreq_t *r = kp_calloc(1, sizeof *r);
    if (!r) {
        kp_free(frame);
        return false;
    }
    r->b = b;
    r->conn = c;
    r->api = hdr.api;
    r->api_key = hdr.api_key;
    r->api_version = hdr.api_version;
    r->correlation_id = hdr.correlation_id;
    r->client_id = hdr.client_id;
    r->flexible = hdr.flexible;
    r->frame = frame;
    r->frame_len = len;
    r->start_ns = kp_mono_ns();
    arena_init(&r->arena, kreq_arena_limit(len));
    queue_request(c, r);
    b->requests++;

    if (rc == KP_EUNSUPPORTED && hdr.api_key == 18) {
        /* Answer in v0 format with UNSUPPORTED_VERSION and our range, as
         * librdkafka expects before it retries with a lower version. */
        r->api_version = 0;
        r->flexible = false;
        api_versions_unsupported(r);
        return true;
    }
    if (rc == KP_EUNSUPPORTED) {
        KP_WARN("%s: %s v%d not supported (%d..%d); closing", c->peer, hdr.api->name,
                hdr.api_version, hdr.api->min_version, hdr.api->max_version);
        r->state = KREQ_NONE;
        return false;
    }
    rc = kreq_decode_body(&rd, &hdr, &r->arena, &r->body);
    if (rc) {
        KP_WARN("%s: malformed %s v%d request (%s); closing", c->peer, hdr.api->name,
                hdr.api_version, kp_strerror(rc));
        r->state = KREQ_NONE;
        return false;
    }
    /* The limit guards decoding, where sizes come from the client.  A
     * response can legitimately grow with the broker's state (Metadata for
     * thousands of partitions), so building it is not capped by the frame. */
    r->arena.limit = 0;
    h(r);
    return true;
}

/* ---- reading ---- */


/*
 * Turn complete frames in rbuf into requests, while the connection is under
 * its in-flight cap (invariant (5)).  Frames left over wait in rbuf and are
 * parsed when responses drain (conn_write calls back here).
 */
static void conn_parse(conn_t *c)
{
    if (c->parsing || c->closing)
        return;
    c->parsing = true;
    size_t off = 0;
    int32_t size;
    int frc = 0;
    while (c->nreqs < MAX_INFLIGHT && c->queued_bytes < MAX_QUEUED_BYTES &&
           (frc = kframe_size(c->rbuf + off, c->rlen - off,
                              c->b->cfg.socket_request_max_bytes, &size)) == 1) {
        size_t have = c->rlen - off - 4;
        if (have < (size_t)size) {
            if ((size_t)size + 4 > RBUF_SIZE) {
                /* Large frame: read the rest straight into its buffer. */
                c->big = kp_malloc((size_t)size);
                if (!c->big) {
                    c->closing = true;
                    break;
                }
                c->big_len = (size_t)size;
                memcpy(c->big, c->rbuf + off + 4, have);
                c->big_got = have;
                off = c->rlen;
            }
            break;
        }
        uint8_t *f = kp_malloc((size_t)size);
        if (!f) {
            c->closing = true;
            break;
        }
        memcpy(f, c->rbuf + off + 4, (size_t)size);
        off += 4 + (size_t)size;
        if (!process_frame(c, f, (size_t)size)) {
            c->closing = true;
            break;
        }
    }
    if (frc < 0) {
        /* Invariant (1): closed before anything is allocated for it. */
        KP_WARN("%s: frame size %d outside 1..%lld (socket.request.max.bytes); closing",
                c->peer, (int32_t)kp_be32(c->rbuf + off),
                (long long)c->b->cfg.socket_request_max_bytes);
        c->closing = true;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    c->parsing = false;
}

/*
 * One read per wakeup (invariant (6)): a client streaming requests must not
 * keep the loop from other clients, timers and group commit.  Epoll is
 * level-triggered, so unread bytes bring us back on the next turn.
 */
static void conn_read(conn_t *c)
{
    if (c->nreqs >= MAX_INFLIGHT || c->queued_bytes >= MAX_QUEUED_BYTES ||
        (!c->big && c->rlen == RBUF_SIZE)) {
        set_events(c, c->events & ~(uint32_t)EPOLLIN);
        return;
    }
    ssize_t n;
    if (c->big)
        n = read(c->fd, c->big + c->big_got, c->big_len - c->big_got);
    else
        n = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
    if (n == 0) {
        c->closing = true;
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            c->closing = true;
        return;
    }
    c->b->bytes_in += (uint64_t)n;
    c->last_active_ms = loop_now_ms(c->b->loop);
    if (c->big) {
        c->big_got += (size_t)n;
        if (c->big_got == c->big_len) {
            uint8_t *f = c->big;
            c->big = NULL;
            if (!process_frame(c, f, c->big_len))
                c->closing = true;
        }
        return;
    }
    c->rlen += (size_t)n;
    conn_parse(c);
}

/* ---- writing ---- */

/* Send what is ready; returns false on a fatal socket error. */
static bool conn_write(conn_t *c)
{
    while (c->head && c->head->state != KREQ_WAITING) {
        kreq_t *r = c->head;
        if (r->state == KREQ_READY) {
            for (;;) {
                /* Memory up to the next file part (or the end). */
                size_t mem_end = r->out.len;
                if (r->sent_file < r->nfiles)
                    mem_end = r->files[r->sent_file].at;
                if (r->sent_mem < mem_end) {
                    ssize_t n = send(c->fd, r->out.buf + r->sent_mem, mem_end - r->sent_mem,
                                     MSG_NOSIGNAL);
                    if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? (set_events(c, c->events | EPOLLOUT), true) : false;
                    r->sent_mem += (size_t)n;
                    c->b->bytes_out += (uint64_t)n;
                    continue;
                }
                if (r->sent_file < r->nfiles) {
                    kfile_part_t *fp = &r->files[r->sent_file];
                    int64_t left = fp->rd.len - r->sent_file_bytes;
                    if (left > 0) {
                        off_t pos = fp->rd.pos + r->sent_file_bytes;
                        ssize_t n = sendfile(c->fd, fp->rd.fd, &pos, (size_t)left);
                        if (n < 0)
                            return errno == EAGAIN || errno == EINTR ? (set_events(c, c->events | EPOLLOUT), true) : false;
                        if (n == 0)
                            return false;   /* the file shrank under us: cannot happen */
                        r->sent_file_bytes += n;
                        c->b->bytes_out += (uint64_t)n;
                        continue;
                    }
                    r->sent_file++;
                    r->sent_file_bytes = 0;
                    continue;
                }
                break;
            }
        }
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        c->nreqs--;
        c->queued_bytes -= r->frame_len;
        conn_release_request(r);
    }
    /* Responses drained: parse frames that waited in rbuf for room. */
    if (c->rlen > 0 && !c->parsing && !c->closing)
        conn_parse(c);
    bool room = c->nreqs < MAX_INFLIGHT && c->queued_bytes < MAX_QUEUED_BYTES;
    set_events(c, (c->events & ~(uint32_t)EPOLLOUT) | (room ? EPOLLIN : 0));
    return true;
}

void conn_flush(conn_t *c)
{
    if (!conn_write(c))
        c->closing = true;
    if (c->closing && !c->head && !c->in_io && !c->parsing)
        conn_close(c);
}

static void conn_io(loop_t *l, int fd, uint32_t events, void *ctx)
{
    conn_t *c = ctx;
    (void)l;
    (void)fd;
    c->in_io = true;
    if (events & (EPOLLERR | EPOLLHUP))
        c->closing = true;
    if (!c->closing && (events & EPOLLIN))
        conn_read(c);
    if (!c->closing && !conn_write(c))
        c->closing = true;
    c->in_io = false;
    if (c->closing)
        conn_close(c);
    else if (c->nreqs < MAX_INFLIGHT && !(c->events & EPOLLIN))
        set_events(c, c->events | EPOLLIN);
}

static void conn_close(conn_t *c)
{
    broker_t *b = c->b;
    loop_del(b->loop, c->fd);
    close(c->fd);
    /* Invariant (3): waiting requests are detached, the rest freed. */
    kreq_t *r = c->head;
    while (r) {
        kreq_t *n = r->next;
        if (r->state == KREQ_WAITING && r->api_key == 1)
            fetch_cancel(r);
        else if (r->state == KREQ_WAITING)
            r->conn = NULL;
        else
            conn_release_request(r);
        r = n;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        b->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->nconns--;
    kp_free(c->big);
    kp_free(c->rbuf);
    kp_free(c);
}

int conn_accept(broker_t *b, int fd, const char *peer)
{
    conn_t *c = kp_calloc(1, sizeof *c);
    if (!c || !(c->rbuf = kp_malloc(RBUF_SIZE))) {
        kp_free(c);
        close(fd);
        return KP_ENOMEM;
    }
    c->b = b;
    c->fd = fd;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    const char *colon = strrchr(peer, ':');
    int hl = colon ? (int)(colon - peer) : (int)strlen(peer);
    snprintf(c->host, sizeof c->host, "/%.*s", hl, peer);
    c->events = EPOLLIN;
    c->last_active_ms = loop_now_ms(b->loop);
    int rc = loop_add(b->loop, fd, EPOLLIN, conn_io, c);
    if (rc) {
        kp_free(c->rbuf);
        kp_free(c);
        close(fd);
        return rc;
    }
    c->next = b->conns;
    if (b->conns)
        b->conns->prev = c;
    b->conns = c;
    b->nconns++;
    b->metrics.connections_accepted++;
    return 0;
}

void conn_flush_all(broker_t *b)
{
    for (conn_t *c = b->conns; c; c = c->next)
        if (!conn_write(c))
            c->closing = true;
}

void conn_close_idle(broker_t *b, int64_t before)
{
    conn_t *c = b->conns;
    while (c) {
        conn_t *next = c->next;
        if (c->nreqs == 0 && c->last_active_ms < before) {
            KP_DEBUG("%s: idle for connections.max.idle.ms; closing", c->peer);
            conn_close(c);
        }
        c = next;
    }
}

void conn_close_all(broker_t *b)
{
    while (b->conns)
        conn_close(b->conns);
}

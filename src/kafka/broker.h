/*
 * broker.h -- `kappa server`: the Kafka-protocol broker on one event loop.
 *
 * A request's life: conn.c reads a size-prefixed frame, decodes the header,
 * finds the API (msg.h) and decodes the body with its schema into the
 * request's arena, then calls the API's handler.  The handler answers now
 * (kreq_respond) or later: a produce waits for the group-commit fsync that
 * covers its batches, a fetch waits for data or max_wait_ms.  Responses go
 * out strictly in request order per connection, whatever order handlers
 * finish in.
 */
#ifndef KP_BROKER_H
#define KP_BROKER_H

#include "config.h"
#include "msg.h"
#include "wire.h"
#include "../core/arena.h"
#include "../core/metrics.h"
#include "../io/loop.h"
#include "../log/log.h"

#include <stdbool.h>
#include <stdint.h>

#define BROKER_MAX_CONNECTIONS 10000
#define BROKER_API_KEYS 64             /* above every API key kappa serves */

/* Request metrics (metrics.c), indexed by API key; loop thread only. */
typedef struct broker_metrics {
    uint64_t requests[BROKER_API_KEYS];
    uint64_t request_errors[BROKER_API_KEYS];   /* responses with an error code */
    metric_hist_t latency[BROKER_API_KEYS];     /* arrival to response ready */
    uint64_t connections_accepted;
} broker_metrics_t;

typedef struct broker broker_t;
typedef struct conn conn_t;
typedef struct kreq kreq_t;
typedef struct group_coord group_coord_t;

enum kreq_state { KREQ_WAITING, KREQ_READY, KREQ_NONE };

/* A byte range of a file spliced into a response (zero-copy fetch). */
typedef struct kfile_part {
    size_t at;                  /* position in out.buf where it goes */
    log_read_t rd;
} kfile_part_t;

struct kreq {
    broker_t *b;
    conn_t *conn;               /* NULL once the connection is gone */
    const kapi_t *api;
    int16_t api_key, api_version;
    int32_t correlation_id;
    kstr_t client_id;
    bool flexible;
    uint8_t *frame;             /* the request bytes (owned; handlers may edit) */
    size_t frame_len;
    arena_t arena;              /* everything decoded or built for this request */
    void *body;                 /* the decoded request struct */
    kwr_t out;                  /* size + response header + body */
    kfile_part_t *files;        /* arena-allocated, nfiles of them */
    int nfiles, capfiles;
    int64_t out_total;          /* out.len + file bytes */
    enum kreq_state state;
    size_t sent_mem;            /* bytes of out.buf sent */
    int sent_file;              /* index of the file part being sent */
    int64_t sent_file_bytes;
    int64_t start_ns;
    kreq_t *next;               /* connection FIFO */
    void *wait;                 /* handler state while KREQ_WAITING */
};

/* Encode `resp` with the API's response schema and queue it for sending. */
void kreq_respond(kreq_t *r, const void *resp);
/* acks=0: the client expects no response. */
void kreq_no_response(kreq_t *r);
/* The request cannot be answered (out of memory): close the connection
 * rather than leave the client waiting on a response that never comes. */
void kreq_abort(kreq_t *r);
/* Queue a file range to be spliced where the next KWR_FILE_MARK records
 * field is encoded.  Takes over rd's segment reference. */
int kreq_add_file(kreq_t *r, log_read_t *rd);

typedef void kapi_handler_fn(kreq_t *r);

struct broker {
    broker_config_t cfg;
    loop_t *loop;
    log_t *log;
    int listen_fds[BROKER_MAX_LISTENERS];
    int nlisten;
    conn_t *conns;
    int nconns;
    loop_timer_t maint_timer;
    loop_timer_t accept_timer;  /* re-enables listeners after a pause */
    loop_timer_t idle_timer;
    int64_t last_accept_warn_ms;
    bool stopping;
    /* waiting produce and fetch requests (produce.c, fetch.c) */
    struct produce_wait *produce_waits;
    struct fetch_wait *fetch_waits;
    int syncs_inflight;
    bool ckpt_inflight;         /* a checkpoint is being written by a worker */
    group_coord_t *groups;
    struct txn_coord *txns;     /* transaction coordinator (txn.c) */
    char cluster_id[32];
    listener_addr_t adv;        /* what Metadata and FindCoordinator announce */
    int64_t pid_next, pid_reserved;     /* producer ids (idempotence.c) */
    /* counters for logs and tests */
    uint64_t requests, bytes_in, bytes_out;
    broker_metrics_t metrics;
    struct http_server *http;   /* kappa.http.listener; NULL when off */
    /* More samples for GET /metrics from outside the broker (the job host's
     * gauges); called on the loop thread; NULL: none. */
    void (*metrics_extra)(struct prom_buf *b);
    struct views_api *views_api; /* the view query API on http */
};

int broker_start(broker_t *b, const broker_config_t *cfg);
int broker_run(broker_t *b);            /* until SIGTERM/SIGINT */
void broker_stop(broker_t *b);          /* from a signal handler */
int broker_shutdown(broker_t *b);       /* clean: flush, close log (marker) */

/* Called by the log when a partition's high watermark moves. */
void broker_on_synced(partition_t *p, int64_t hw, int err, void *ctx);

/* Topic lookup with optional auto-creation (num.partitions). */
log_topic_t *broker_topic(broker_t *b, kstr_t name, bool create, int16_t *err);

/* kappa errors -> Kafka error codes (errors.c). */
int16_t kerr_from_kp(int rc);

/* Handlers (one file per API group). */
kapi_handler_fn handle_api_versions, handle_metadata, handle_produce, handle_fetch,
    handle_list_offsets, handle_create_topics, handle_delete_topics,
    handle_create_partitions, handle_delete_records, handle_describe_configs,
    handle_alter_configs, handle_describe_log_dirs, handle_sasl_handshake,
    handle_init_producer_id;
/* idempotence.c: load and reserve producer ids (after the log is open). */
int producer_ids_start(broker_t *b);

/* fetch.c: re-check parked fetches after data arrived for p. */
void fetch_wake(broker_t *b, partition_t *p);
/* produce.c: answer produce requests whose batches are now synced. */
void produce_wake(broker_t *b, partition_t *p, int err);
/* At shutdown: answer parked fetches now; drop produce waits left over. */
void fetch_stop(broker_t *b);
/* A parked fetch whose connection closed: free it now. */
void fetch_cancel(kreq_t *r);
void produce_stop(broker_t *b);
/* Before a partition is freed (topic deletion): answer its waiters. */
void produce_forget_partition(broker_t *b, partition_t *p);
/* metrics.c: account a request as answered; serve /metrics over HTTP. */
void broker_metrics_request(kreq_t *r, uint32_t nerrors);
int broker_http_start(broker_t *b);
void broker_http_stop(broker_t *b);
void conn_flush(conn_t *c);
void conn_release_request(kreq_t *r);
int conn_accept(broker_t *b, int fd, const char *peer);
void conn_capture_init(void);   /* reads KAPPA_CAPTURE_DIR */
void conn_close_all(broker_t *b);
/* Write what can be written now on every connection (shutdown). */
void conn_flush_all(broker_t *b);
/* Close connections with nothing in flight, last active before `before`. */
void conn_close_idle(broker_t *b, int64_t before);
/* The client's address as Kafka shows it ("/127.0.0.1"); "" once detached. */
const char *kreq_peer_host(const kreq_t *r);
/* Copy a topic name from the wire; false if empty, too long or holding a
 * NUL (which would silently name a different topic as a C string). */
bool kstr_topic_name(kstr_t name, char *buf, size_t cap);
/* Topics clients may read but not write, delete or reshape. */
bool broker_topic_internal(const char *name);
/* True when this build has a handler for the API: only those are advertised. */
bool kapi_served(int16_t key);
/* api_versions.c: the v0 UNSUPPORTED_VERSION answer. */
void api_versions_unsupported(kreq_t *r);
/* group.c: handlers for the group and offset APIs (NULL for other keys). */
kapi_handler_fn *group_handler_for(int16_t key);
int group_coord_start(broker_t *b);
void group_coord_stop(broker_t *b);
/* offsets.c: answer offset commits and group deletions whose
 * __consumer_offsets batch the sync of p now covers (from broker_on_synced). */
void group_offsets_wake(broker_t *b, partition_t *p, int err);
/* txn.c: the transaction coordinator (__transaction_state): its handlers
 * (NULL for other keys), start (replays and recovers, before serving), stop,
 * and the wake-up when a sync completes. */
kapi_handler_fn *txn_coord_handler_for(int16_t key);
int txn_coord_start(broker_t *b);
void txn_coord_stop(broker_t *b);
void txn_coord_wake(broker_t *b, partition_t *p, int err);

#endif

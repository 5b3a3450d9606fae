/*
 * sink.h -- applying a view's backing topic to a store, exactly once.
 *
 * The sink runtime (view/sink.c) is a Kafka consumer (librdkafka,
 * isolation.level=read_committed, group used only to split partitions
 * between sink instances) that reads the backing topics of one or more view
 * versions and hands batches to a backend.  The offsets that count are the
 * ones the backend stores with the rows: on every (re)assignment the runtime
 * asks the backend for them and seeks there, never trusting the group's
 * committed offsets (it commits them too, asynchronously, so `kappa group
 * describe` shows the sink's lag).
 *
 * A backend makes "rows + next offsets" atomic in its own store:
 *   sqlite      one SQLite transaction (view/store.h)
 *   postgresql  one PostgreSQL transaction; upserts also guarded by
 *               src_offset so a replayed change never overwrites a newer one
 *   clickhouse  no transactions: ReplacingMergeTree versioned by the source
 *               offset makes a replayed insert replace itself; rows are
 *               inserted before the offsets, reads use FINAL
 */
#ifndef KP_VIEW_SINK_H
#define KP_VIEW_SINK_H

#include "view/view.h"

#include <stdint.h>

typedef struct view_backend view_backend_t;

/* What a backend implements.  Every function returns 0 or a negative KP_E*
 * after logging why; a failure makes the runtime roll back, reconnect with
 * back-off and re-read from the stored offsets. */
typedef struct view_backend_ops {
    const char *kind;                                   /* "sqlite", ... */
    /* Create the versioned table (and the alias if the view has none). */
    int (*ensure)(view_backend_t *b, const char *view, int version, const char *job,
                  const char *topic);
    /* next[p] for p < nparts: stored next offset, -1 when none. */
    int (*offsets)(view_backend_t *b, const char *view, int version, const char *topic,
                   int32_t nparts, int64_t *next);
    int (*begin)(view_backend_t *b, const char *view, int version, const char *topic);
    int (*apply)(view_backend_t *b, const view_change_t *c);
    /* Store the batch's rows and next offsets atomically (see above). */
    int (*commit)(view_backend_t *b, const int64_t *hwm, int32_t nparts);
    void (*rollback)(view_backend_t *b);
    void (*close)(view_backend_t *b);
    /* Optional, last so existing initializers stay valid (NULL: the
     * backend's next offsets only move with applied changes): between begin
     * and commit, the consumer's position on a partition moved to
     * next_offset past offsets with no change (transaction markers, skipped
     * records); store it with the batch, never lowering the stored offset,
     * so a caught-up view's next offset equals the topic's end. */
    int (*advance)(view_backend_t *b, int32_t partition, int64_t next_offset);
} view_backend_ops_t;

struct view_backend {
    const view_backend_ops_t *ops;
};

/*
 * Open a backend from a target string:
 *   sqlite:PATH                           (or a bare path)
 *   postgresql://USER@HOST:PORT/DB?...    (libpq connection URI)
 *   clickhouse://HOST:PORT[/DB]           (the HTTP interface, default DB default)
 */
int view_backend_open(const char *target, view_backend_t **out);
/* The SQLite backend (view/sink_sqlite.c) over view/store.h. */
int view_backend_open_sqlite(const char *path, view_backend_t **out);

/* One view version a sink maintains. */
typedef struct view_sink_view {
    const char *view;
    int version;
    const char *job;            /* for kappa_views; may be NULL */
} view_sink_view_t;

typedef struct view_sink_opts {
    const char *brokers;
    const char *group;          /* consumer group id */
    const char *target;         /* view_backend_open's string */
    const view_sink_view_t *views;
    int nviews;
    int batch_max;              /* changes per store transaction (default 10000) */
    int batch_ms;               /* longest a batch stays open (default 20) */
    const char *const *consumer_props;  /* KEY=VALUE, NULL-ended */
} view_sink_opts_t;

typedef struct view_sink view_sink_t;

/* Start a sink on its own thread (what a job runner does for its views). */
int view_sink_start(const view_sink_opts_t *o, view_sink_t **out);
/* Stop after the current batch and join; returns the thread's result. */
int view_sink_stop(view_sink_t *s);
/* Run in the calling thread until *stop becomes nonzero (kappa view sink). */
int view_sink_run(const view_sink_opts_t *o, volatile int *stop);

#endif

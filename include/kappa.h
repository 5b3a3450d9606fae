/*
 * kappa.h -- the public C API for kappa stream-processing jobs.
 *
 * A job is a graph of operators over Kafka topics, declared once in a
 * function the job exports:
 *
 *     int kappa_job_define(kappa_job_t *job)
 *     {
 *         kappa_source_opts_t so = { .time_json_field = "date_time",
 *                                    .max_out_of_orderness_ms = 1000 };
 *         kappa_stream_t *bids = kappa_source(job, "nexmark", &so);
 *         bids = kappa_filter(bids, "bids", is_bid, NULL);
 *         kappa_sink(kappa_map(bids, "to_euro", to_euro, NULL), "q1", NULL);
 *         return 0;
 *     }
 *
 * compiled as a shared object (cc -shared -fPIC -o q1.so q1.c) and run by
 * `kappa job run q1 --version 1 --plugin q1.so -b HOST:PORT`, or linked
 * into a program of your own with build/libkappa.a and kappa_job_run().
 *
 * The runtime reads the sources with a Kafka consumer group (read_committed)
 * and processes each input partition as one task; several runner processes
 * with the same job and version split the tasks.  Each commit interval, one
 * Kafka transaction per task carries the task's outputs, the changelog of
 * its state and its input offsets, so results are exactly-once across
 * crashes, restarts and rebalances.  Processing must be deterministic:
 * operator functions see only their inputs and their state (no wall clock,
 * no randomness), so replaying the same input offsets gives the same output.
 *
 * Memory: a kappa_record_t passed to an operator function, and every pointer
 * in it, is valid only during that call.  kappa_emit() copies what it needs.
 * Strings and options given to the graph builders are copied.
 *
 * Errors: builders return NULL (or a negative value) on a bad argument and
 * record the reason, which kappa_job_error() returns and the runner prints;
 * an operator function returns 0, or a negative value to fail the task
 * (the runner stops, and a restart resumes from the last commit).
 */
#ifndef KAPPA_H
#define KAPPA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KAPPA_API_VERSION 1

typedef struct kappa_job kappa_job_t;       /* the graph being defined */
typedef struct kappa_stream kappa_stream_t; /* one operator's output */
typedef struct kappa_ctx kappa_ctx_t;       /* passed to operator functions */
typedef struct kappa_state kappa_state_t;   /* one key's state in an aggregate */

/* One event.  A NULL key is Kafka's null key; a NULL value is a tombstone
 * (a deletion in a compacted topic).  timestamp is the event time in ms. */
typedef struct kappa_record {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp;
} kappa_record_t;

/* ---- sources ---------------------------------------------------------- */

/* Event time of a record: return milliseconds since the epoch, or a negative
 * value to use the Kafka record's timestamp. */
typedef int64_t kappa_time_fn(const kappa_record_t *in, void *arg);

typedef struct kappa_source_opts {
    /* Event time, first match wins: time_fn; else an integer field of a
     * JSON object value (ms since the epoch); else the record timestamp. */
    kappa_time_fn *time_fn;
    void *time_arg;
    const char *time_json_field;
    /* Watermark = highest event time seen on the partition minus this bound
     * (bounded out-of-orderness).  Windows close when the watermark passes
     * their end plus grace; an event whose windows have all closed is late:
     * counted once, and sent to the job's late topic if one is set
     * (kappa_job_set_late_topic) as the windowed operator received it, never
     * aggregated. */
    int64_t max_out_of_orderness_ms;
    /* A partition with nothing to read for this long stops holding its
     * task's watermark back (0: the default, 5000 ms; -1: never idle). */
    int64_t idle_timeout_ms;
} kappa_source_opts_t;

/* Read a topic.  opts may be NULL (record timestamps, no out-of-orderness). */
kappa_stream_t *kappa_source(kappa_job_t *job, const char *topic,
                             const kappa_source_opts_t *opts);

/* ---- stateless operators ------------------------------------------------ */

/* Called once per input record; emits zero or more records (kappa_emit). */
typedef int kappa_fn(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg);
/* Nonzero keeps the record. */
typedef int kappa_pred_fn(const kappa_record_t *in, void *arg);

/* Send a record to the operator's outputs.  The record is copied. */
int kappa_emit(kappa_ctx_t *ctx, const kappa_record_t *out);

/* map: fn emits exactly one record per input (checked: more than one fails
 * the task).  flat_map: any number.  filter: keeps what pred accepts. */
kappa_stream_t *kappa_map(kappa_stream_t *in, const char *name, kappa_fn *fn, void *arg);
kappa_stream_t *kappa_flat_map(kappa_stream_t *in, const char *name, kappa_fn *fn, void *arg);
kappa_stream_t *kappa_filter(kappa_stream_t *in, const char *name, kappa_pred_fn *pred,
                             void *arg);

/*
 * Re-key: fn emits records with their new key.  Because a key must live in
 * one task, the records go through an internal repartition topic
 * (JOB.vVERSION.NAME-repartition, partitioned by a hash of the new key) and
 * the operators after key_by run in the tasks that read it.  Watermarks
 * travel through the topic too, so windows downstream close exactly when
 * every upstream task has passed their end.
 */
kappa_stream_t *kappa_key_by(kappa_stream_t *in, const char *name, kappa_fn *fn, void *arg);

/* ---- keyed aggregation and windows ------------------------------------- */

/* The state of the current key (and window): bytes the aggregate owns. */
const void *kappa_state_get(kappa_state_t *st, size_t *len);   /* NULL: none yet */
int kappa_state_put(kappa_state_t *st, const void *value, size_t len);
void kappa_state_delete(kappa_state_t *st);

typedef enum kappa_window_type {
    KAPPA_WINDOW_NONE = 0,      /* one running aggregate per key */
    KAPPA_WINDOW_TUMBLING,      /* [k*size, (k+1)*size) */
    KAPPA_WINDOW_HOPPING,       /* size, advancing by slide; each event in size/slide windows */
    KAPPA_WINDOW_SESSION,       /* a key's events less than gap apart; merges */
} kappa_window_type_t;

typedef struct kappa_window_spec {
    kappa_window_type_t type;
    int64_t size_ms;            /* tumbling, hopping */
    int64_t slide_ms;           /* hopping */
    int64_t gap_ms;             /* session */
    int64_t grace_ms;           /* how long after its end a window still accepts events */
} kappa_window_spec_t;

typedef struct kappa_window {
    int64_t start_ms, end_ms;   /* [start, end) */
} kappa_window_t;

typedef enum kappa_emit_mode {
    /* Every change of a key's (window's) result is emitted as an upsert of
     * that key; a deleted state is emitted as a tombstone. */
    KAPPA_EMIT_CHANGES = 0,
    /* A window's final result, once, when the watermark passes its end plus
     * grace (append-only; needs a window). */
    KAPPA_EMIT_ON_CLOSE,
} kappa_emit_mode_t;

/* Fold one input into st (the key's state for the window, if windowed). */
typedef int kappa_agg_fn(kappa_state_t *st, const kappa_record_t *in, void *arg);
/* Merge session window `from` into `into` (session windows only). */
typedef int kappa_merge_fn(kappa_state_t *into, const void *from, size_t from_len, void *arg);
/*
 * Turn a state into output records: emit them with kappa_emit (usually one,
 * with the key).  w is NULL without a window.  Without a result function,
 * the output is the key with the state bytes as its value.
 */
typedef int kappa_result_fn(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state,
                            size_t len, const kappa_window_t *w, void *arg);

typedef struct kappa_agg_opts {
    kappa_agg_fn *add;          /* required */
    kappa_result_fn *result;
    kappa_merge_fn *merge;      /* required for session windows */
    void *arg;
    kappa_window_spec_t window;
    kappa_emit_mode_t emit;
} kappa_agg_opts_t;

/*
 * Aggregate by the records' key.  The input must be keyed where it is read
 * (a source topic keyed by that key, or the output of kappa_key_by).  State
 * is kept per task in memory, backed by a compacted changelog topic
 * (JOB.vVERSION.NAME-changelog) and local snapshots.
 */
kappa_stream_t *kappa_aggregate(kappa_stream_t *in, const char *name,
                                const kappa_agg_opts_t *opts);

/* The window of the record being processed by a result function (or NULL). */
const kappa_window_t *kappa_ctx_window(kappa_ctx_t *ctx);

/* ---- custom operators: keyed state and event-time timers ---------------- */

typedef struct kappa_processor {
    /* Per record, with the state of the record's key. */
    int (*process)(kappa_ctx_t *ctx, kappa_state_t *st, const kappa_record_t *in, void *arg);
    /* When a timer set for a key fires (the watermark reached its time), with
     * that key's state; key->key is the key, key->timestamp the timer's time. */
    int (*on_timer)(kappa_ctx_t *ctx, kappa_state_t *st, const kappa_record_t *key, void *arg);
    void *arg;
} kappa_processor_t;

/*
 * A keyed operator of your own (Flink's KeyedProcessFunction): state per
 * key, changelogged like an aggregate's, and event-time timers that survive
 * restarts.  Emit with kappa_emit from either function.
 */
kappa_stream_t *kappa_process(kappa_stream_t *in, const char *name, const kappa_processor_t *p);

/* From a processor's functions: call on_timer for the current key once the
 * watermark reaches ts.  Setting the same (key, ts) again does nothing. */
int kappa_timer_set(kappa_ctx_t *ctx, int64_t ts);

/* ---- tables and joins --------------------------------------------------- */

/*
 * A table: the latest value of each key of a topic (usually compacted; a
 * null value deletes the key).  Its updates are read in the same task as the
 * stream joined with it, interleaved by timestamp, so a stream record sees
 * the table as of its own event time.  The topic must be partitioned like
 * the stream it is joined with (same key, same partition count).
 */
kappa_stream_t *kappa_table(kappa_job_t *job, const char *topic,
                            const kappa_source_opts_t *opts);

/* Called for each joined pair; right is NULL for a stream record whose key
 * has no table row (kappa_join_table), so the function chooses inner or
 * left-outer semantics by emitting or not. */
typedef int kappa_join_fn(kappa_ctx_t *ctx, const kappa_record_t *left,
                          const kappa_record_t *right, void *arg);

/* Enrich each record of `stream` with the table's value for its key. */
kappa_stream_t *kappa_join_table(kappa_stream_t *stream, kappa_stream_t *table,
                                 const char *name, kappa_join_fn *fn, void *arg);

typedef enum kappa_join_type {
    /* Every pair of a left and a right record with the same key, emitted
     * once, when the second of the two arrives.  Both sides are kept for
     * good: for keys that stop receiving records (ids, sessions). */
    KAPPA_JOIN_UNBOUNDED = 0,
    /* Pairs in the same tumbling window of size_ms (closed at end + grace). */
    KAPPA_JOIN_WINDOW,
    /* Pairs with lower_ms <= right.timestamp - left.timestamp <= upper_ms. */
    KAPPA_JOIN_INTERVAL,
} kappa_join_type_t;

typedef struct kappa_join_opts {
    kappa_join_fn *fn;          /* required; both arguments non-NULL */
    void *arg;
    kappa_join_type_t type;
    int64_t size_ms;            /* WINDOW */
    int64_t lower_ms, upper_ms; /* INTERVAL */
    int64_t grace_ms;           /* WINDOW, INTERVAL: lateness allowed */
} kappa_join_opts_t;

/*
 * Join two keyed streams.  Both must be keyed where they are read: outputs
 * of kappa_key_by (with the same partition count, which key_by guarantees
 * for streams from sources with equal partition counts), or topics keyed
 * and partitioned alike.  A record that arrives after every window it could
 * join has closed is late: counted, sent to the late topic, not joined.
 */
kappa_stream_t *kappa_join(kappa_stream_t *left, kappa_stream_t *right, const char *name,
                           const kappa_join_opts_t *opts);

/* ---- sinks ------------------------------------------------------------- */

typedef struct kappa_sink_opts {
    /* Turn a record into the bytes written (key and value): emit the encoded
     * record with kappa_emit.  NULL: write the record as it is. */
    kappa_fn *encode;
    void *arg;
} kappa_sink_opts_t;

/* Write to a topic (created with the job's partition count if missing),
 * partitioned by a hash of the key (murmur2, as Kafka's Java clients do),
 * null keys to the task's own partition number. */
int kappa_sink(kappa_stream_t *in, const char *topic, const kappa_sink_opts_t *opts);

/*
 * Maintain a view: a keyed table in the serving layer (docs/views.md).  Each
 * record is a row change: the key is the row's key (records without a key
 * are counted and dropped), the value the row (JSON text, so the query API
 * can return it as JSON), a null value deletes the row.  Emit mode CHANGES
 * aggregates map onto this directly: upserts, and retractions as deletes.
 *
 * The rows go to the compacted topic __kappa_view.VIEW.vVERSION inside the
 * job's transactions; the runner applies that topic to its view store
 * (`--views`, SQLite) with the offsets in the same store transaction, and
 * `kappa view sink` applies it to SQLite, PostgreSQL or ClickHouse.  The
 * table is VIEW@vVERSION; the stable name VIEW points at one version.
 * VIEW is [A-Za-z_][A-Za-z0-9_]{0,63}.  opts->encode as for kappa_sink.
 */
int kappa_view(kappa_stream_t *in, const char *view, const kappa_sink_opts_t *opts);

/* ---- the job ------------------------------------------------------------ */

/* Late records (see kappa_source_opts_t) go here, as the windowed operator
 * that found them late received them. */
int kappa_job_set_late_topic(kappa_job_t *job, const char *topic);
/* A job parameter given on the command line (`kappa job run ... --param
 * KEY=VALUE`), or dflt.  Lets one plugin serve several deployments (topic
 * names, thresholds) without recompiling. */
const char *kappa_job_param(kappa_job_t *job, const char *key, const char *dflt);
/* The first graph-building error, or NULL. */
const char *kappa_job_error(const kappa_job_t *job);

/* What a plugin exports.  Return 0, or nonzero to refuse to start. */
typedef int kappa_job_define_fn(kappa_job_t *job);
int kappa_job_define(kappa_job_t *job);

/* Running a job from a program of your own (what `kappa job run` does). */
typedef struct kappa_run_opts {
    const char *brokers;            /* bootstrap servers; default 127.0.0.1:9092 */
    const char *state_dir;          /* snapshots; default ./kappa-state */
    int64_t commit_interval_ms;     /* default 100 */
    int64_t snapshot_interval_ms;   /* default 30000; -1 never */
    int session_timeout_ms;         /* consumer group session; default 10000 */
    const char *const *params;      /* KEY=VALUE strings for kappa_job_param, NULL-ended */
    const char *http;               /* HOST:PORT to serve GET /metrics on; NULL: none */
    /* librdkafka properties (KEY=VALUE, NULL-ended) applied last to the
     * group consumer and to every task's producer: tuning and security
     * (sasl.*, ssl.*) for a Kafka cluster. */
    const char *const *consumer_props;
    const char *const *producer_props;
    /* "memory" (default: a hash table, changelog + snapshots) or "disk"
     * (LMDB in STATE_DIR/NAME.vV/TASK/, for state larger than memory). */
    const char *state_store;
    /* Where the job's views are materialized: a view_backend target
     * (sqlite:PATH or a path, postgresql://..., clickhouse://...).  NULL:
     * STATE_DIR/views.db; "none": not here (a `kappa view sink` elsewhere
     * applies the view topics). */
    const char *views;
    /* Where a source partition with no committed offset in the job's group
     * starts: "earliest" (NULL: the default), "latest" (the high watermark
     * when the task is assigned) or "@TS_MS" (the first record with a
     * timestamp >= TS_MS, as ListOffsets by time finds it).  Tables and
     * internal topics always start at the earliest offset. */
    const char *from;
    /* Nonzero: kappa_sink(..., "T") and the late topic write T.vVERSION,
     * so versions of a job running side by side never mix their outputs
     * (`kappa job deploy` runs versions this way). */
    int versioned_outputs;
    /* Nonzero: every record a task writes to a sink, view or repartition
     * topic carries a kappa.src header naming the source record (topic,
     * partition, offset) whose processing emitted it, which `kappa job
     * diff` and promote rely on (docs/jobs.md, "Source tags").  Implied by
     * versioned_outputs. */
    int source_tags;
    /* Promote (docs/jobs.md "Promote"): nonzero, every record a sink
     * writes to T.vVERSION is also written to the stable topic T, in the
     * same transaction, when its source tag lies in the stable range
     * [stable_from, stable_until) (cuts "topic:partition=offset,...";
     * NULL: unbounded).  With stable_from, a task about to take the first
     * source record at or past the cut first waits until consumer group
     * stable_wait_group (the previous version) has committed past the cut
     * on every partition it names.  Needs versioned_outputs. */
    int stable_outputs;
    const char *stable_from, *stable_until;
    const char *stable_wait_group;
} kappa_run_opts_t;

/* Define the job with `define`, then run it until SIGINT or SIGTERM (0) or
 * a fatal error (nonzero, after printing why: a bad graph, an unreachable
 * broker, this runner fenced by a newer one). */
int kappa_job_run(const char *name, int version, kappa_job_define_fn *define,
                  const kappa_run_opts_t *opts);

/* ---- reading values without building a document ----------------------- */

/*
 * Top-level fields of a JSON object value, found by a single scan of the
 * bytes (no allocation, no tree).  Return 0, or -1 when the value is not an
 * object, the field is missing, or it has another type.  A string is
 * returned as its raw bytes between the quotes (escapes not decoded).
 */
int kappa_json_i64(const kappa_record_t *r, const char *field, int64_t *out);
int kappa_json_str(const kappa_record_t *r, const char *field, const char **s, size_t *len);
/* Does field hold this string exactly? (1 yes, 0 no) */
int kappa_json_str_eq(const kappa_record_t *r, const char *field, const char *want);

/* Column `col` (0-based) of a CSV line (RFC 4180 quoting; the returned
 * bytes are between the quotes, with doubled quotes not collapsed). */
int kappa_csv_field(const kappa_record_t *r, int col, const char **s, size_t *len);
int kappa_csv_i64(const kappa_record_t *r, int col, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif

/*
 * runtime.h -- running a planned job: the runner (one Kafka consumer in the
 * job's group, one transactional producer per task) and tasks (one input
 * partition of one sub-topology, with its state, timers and watermark).
 *
 * All of it runs on one thread: the runner polls the consumer, hands each
 * record to its task, and every commit interval commits each busy task's
 * transaction.  task.c never talks to Kafka except through runner_produce().
 */
#ifndef KP_STREAM_RUNTIME_H
#define KP_STREAM_RUNTIME_H

#include "jobs/cut.h"
#include "stream/stream_int.h"

#include <librdkafka/rdkafka.h>

/* Store key prefix bytes: the first byte of every state key names its
 * owner, so one hash table, one changelog partition and one snapshot file
 * hold all of a task's state. */
#define TASK_META_STORE 0xFF        /* the task's own time-keeping */

typedef struct runner runner_t;

typedef struct timer_ent {
    int64_t fire_ms;                /* watermark at which it fires */
    uint8_t *key;                   /* full store key (copied); ties fire in key order */
    uint32_t klen;
} timer_ent_t;

/* A record waiting in a multi-input task until the deterministic merge
 * takes it (key and value copied). */
typedef struct pending {
    kappa_record_t r;
    int64_t offset;
    int64_t wm;                     /* a watermark report (repartition input) ... */
    int up;                         /* ... from this upstream task; -1 for data */
    cut_tag_t tag;                  /* its source tag (topic NULL: none) */
} pending_t;

/* One input of a task: a partition of a source, repartition or table topic. */
typedef struct task_input {
    kappa_stream_t *node;
    int64_t next_offset;            /* to commit: after the last record taken; 0 none */
    int64_t max_ts;                 /* source/table: highest event time seen */
    int64_t *up_wm;                 /* repartition: per upstream task */
    int nup;
    bool at_end, idle;
    bool paused;                    /* runner: partition paused (too far ahead) */
    int64_t last_input_ms;          /* wall clock, for idleness only */
    pending_t *buf;                 /* ring of waiting records (multi-input tasks) */
    size_t head, len, cap;
} task_input_t;

typedef struct task {
    runner_t *rn;
    subtopo_t *st;
    int32_t partition;
    char id[32];                    /* "s0-p3", for messages */
    rd_kafka_t *producer;
    char txn_id[STREAM_TOPIC_MAX + 40];
    bool txn_open;
    bool busy;                      /* work since the last commit */
    store_t *state;                 /* all aggregates, joins, tables + meta; prefixed keys */
    task_input_t in[STREAM_MAX_INPUTS];
    int nin;
    int64_t restored_from;          /* runner: changelog offset the restore starts at */
    size_t restore_snap_keys;       /* runner: keys the snapshot / disk store held */
    /* event time */
    int64_t watermark;              /* monotone; STREAM_WM_NONE before any */
    int64_t reported_wm;            /* last watermark written downstream */
    bool idle;                      /* every input idle: reported downstream */
    /* timers (min-heap on fire_ms, then key) */
    timer_ent_t *timers;
    size_t ntimers, captimers;
    /* changelog position for snapshots */
    int64_t changelog_next;         /* offset after the last committed changelog record */
    int64_t pending_changelog_next; /* from delivery reports of the open transaction */
    int64_t last_snapshot_ms;
    /* counters */
    uint64_t records_in, records_out, late, commits;
    uint64_t late_mark;             /* records_in when the last late record was counted */
    /* operator context */
    const kappa_window_t *cur_window;
    int failed;                     /* an operator returned an error */
    /* Source tags (runner option source_tags): the source record whose
     * processing is under way; every output carries it (runner_produce).
     * tag.topic points at a source node's topic (stable), NULL: none yet. */
    bool source_tags;
    cut_tag_t tag;
    void *ext;                      /* task.c's scratch buffers */
    rd_kafka_topic_t *out_topics[32];   /* runner: output topics, metadata warmed */
    int nout_topics;
} task_t;

/* task.c */
int task_init(task_t *t, runner_t *rn, subtopo_t *st, int32_t partition);
/* Repartition input: how many upstream tasks report watermarks. */
int task_set_upstreams(task_t *t, int n);                 /* input 0 */
int task_set_input_upstreams(task_t *t, int in, int n);
void task_free(task_t *t);
/* After restore: rebuild timers from the state, reload meta. */
int task_after_restore(task_t *t);
/*
 * One input record (already decoded from Kafka) from input `in`.  A task
 * with one input processes it at once; a task with several (a join) buffers
 * it and processes records in timestamp order across its inputs, waiting
 * while an input has nothing buffered unless that input is at its end or
 * idle -- so replays interleave the inputs exactly as the first run did.
 */
int task_offer(task_t *t, int in, const kappa_record_t *r, int64_t offset);
/*
 * The same with the record's source tag: a repartition record's kappa.src
 * header (tag->topic must point at the topic of one of the job's source or
 * table nodes).  task_offer gives a source or table record the tag of its
 * own position and a repartition record none.
 */
int task_offer_tagged(task_t *t, int in, const kappa_record_t *r, int64_t offset,
                      const cut_tag_t *tag);
/* The job's source or table topic named topic[0..len) (stable storage), or NULL. */
const char *task_source_topic(const task_t *t, const char *topic, size_t len);
/* A watermark report from upstream task `up` on repartition input `in`. */
int task_offer_watermark(task_t *t, int in, int up, int64_t wm, int64_t offset);
/* Single-input shorthands (input 0). */
int task_process(task_t *t, const kappa_record_t *r, int64_t offset);
int task_upstream_watermark(task_t *t, int up, int64_t wm, int64_t offset);
/* Records buffered on input `in` (the runner pauses a partition that runs
 * far ahead of the others). */
size_t task_buffered(const task_t *t, int in);
/* Re-evaluate idleness (wall clock) and fire what the watermark allows. */
int task_tick(task_t *t, int64_t now_ms);
/* The runner reached the end of input `in` (partition EOF). */
void task_input_at_end(task_t *t, int in, int64_t now_ms);
/* Before committing: write the meta entry and the watermark reports. */
int task_prepare_commit(task_t *t);

/* runner.c: write a record to a topic in t's transaction.  partition -1
 * picks by key (murmur2) or, for a null key, t's own partition. */
int runner_produce(task_t *t, const char *topic, int32_t partition, const kappa_record_t *r,
                   int64_t wm_report);
int32_t runner_topic_partitions(runner_t *rn, const char *topic);

#endif

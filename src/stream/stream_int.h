/*
 * stream_int.h -- the stream processor's internals: the job graph as the
 * builders leave it, split into sub-topologies, and the runtime structures
 * of a task.
 *
 * A sub-topology is the part of the graph one task runs: it starts at one
 * input topic (a source, or the repartition topic behind a key_by) and
 * follows operators until sinks or the next key_by.  Its tasks are the input
 * topic's partitions: task (s, p) reads partition p of sub-topology s's
 * topic and owns the state of the keys that hash there.
 */
#ifndef KP_STREAM_INT_H
#define KP_STREAM_INT_H

#include "kappa.h"
#include "stream/store.h"
#include "view/view.h"

#include <stdbool.h>
#include <stdint.h>

#define STREAM_NAME_MAX 128
#define STREAM_TOPIC_MAX 249        /* Kafka's topic name limit */
#define STREAM_MAX_NODES 256
#define STREAM_MAX_SUBTOPOS 16

/* Internal record headers of repartition topics (watermark reports). */
#define STREAM_HDR_WATERMARK "kappa.wm"     /* 8 bytes BE: the upstream task's watermark */
#define STREAM_HDR_UPSTREAM "kappa.up"      /* 4 bytes BE: the upstream task's partition */
#define STREAM_HDR_EVENT_TIME "kappa.ts"    /* 8 bytes BE: an event time <= 0 (repartition) */
#define STREAM_WM_IDLE INT64_MAX            /* "this upstream task is idle" */
#define STREAM_TS_LIMIT ((int64_t)1 << 52)  /* |event time| beyond ~140,000 years: late */
#define STREAM_WM_NONE INT64_MIN

typedef enum node_type {
    NODE_SOURCE,            /* a user topic */
    NODE_REPART_SOURCE,     /* the repartition topic behind a key_by */
    NODE_MAP,
    NODE_FLAT_MAP,
    NODE_FILTER,
    NODE_KEY_BY,            /* runs fn, writes the repartition topic */
    NODE_AGGREGATE,
    NODE_SINK,
    NODE_TABLE,             /* a table topic: updates go to state, not downstream */
    NODE_JOIN,              /* stream-stream: input (left) and input2 (right) */
    NODE_JOIN_TABLE,        /* input (the stream) enriched from input2 (a NODE_TABLE) */
    NODE_PROCESS,           /* a user processor: keyed state and timers */
} node_type_t;

struct kappa_stream {
    kappa_job_t *job;
    int id;
    node_type_t type;
    char name[STREAM_NAME_MAX];
    kappa_stream_t *input;
    kappa_stream_t *input2;             /* joins: the right side */
    kappa_stream_t **children;
    int nchildren;
    int subtopo;
    char topic[STREAM_TOPIC_MAX + 1];   /* source, repartition or sink topic */
    /* kappa_view: a NODE_SINK writing the view's (compacted) backing topic */
    char view[VIEW_NAME_MAX + 1];
    /* source */
    kappa_source_opts_t src;
    char time_field[STREAM_NAME_MAX];
    /* map, flat_map, key_by, sink encoder */
    kappa_fn *fn;
    kappa_pred_fn *pred;
    void *arg;
    /* key_by: the node that reads its repartition topic */
    kappa_stream_t *repart;
    /* aggregate */
    kappa_agg_opts_t agg;
    /* joins */
    kappa_join_opts_t join;
    /* process */
    kappa_processor_t proc;
    int store;                          /* index among its sub-topology's stores */
    int input_index;                    /* input nodes: index in their stage's inputs */
};

#define STREAM_MAX_INPUTS 8

typedef struct subtopo {
    int id;
    kappa_stream_t *input;              /* inputs[0], for single-input stages */
    kappa_stream_t *inputs[STREAM_MAX_INPUTS];  /* SOURCE, REPART_SOURCE, TABLE */
    int ninputs;
    int upstream;                       /* stage feeding inputs[0] if a repartition, or -1 */
    int upstreams[STREAM_MAX_INPUTS];   /* per input: the stage feeding it, or -1 */
    int nstores;
    kappa_stream_t *stores[STREAM_MAX_NODES];
    int nrepart_out;                    /* repartition topics this sub-topology writes */
    kappa_stream_t *repart_out[STREAM_MAX_NODES];
    int32_t partitions;                 /* resolved at start from the input topic */
    char changelog[STREAM_TOPIC_MAX + 1];
} subtopo_t;

struct kappa_job {
    char name[STREAM_NAME_MAX];
    int version;
    char prefix[STREAM_TOPIC_MAX + 1];  /* "NAME.vVERSION" for internal topics */
    kappa_stream_t *nodes[STREAM_MAX_NODES];
    int nnodes;
    char error[512];
    char late_topic[STREAM_TOPIC_MAX + 1];
    subtopo_t subtopos[STREAM_MAX_SUBTOPOS];
    int nsubtopos;
    const char *const *params;          /* KEY=VALUE, NULL-ended (the caller's) */
};

/* fields.c: bumped whenever a new record enters the graph (see fields.c),
 * so field lookups may remember that a value was already checked. */
extern __thread uint64_t stream_record_epoch;

/* graph.c */
int job_new(const char *name, int version, kappa_job_t **out);
void job_free(kappa_job_t *job);
/* After kappa_job_define: check the graph and split it into sub-topologies. */
int job_plan(kappa_job_t *job);
void job_fail(kappa_job_t *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool stream_name_valid(const char *s);

#endif

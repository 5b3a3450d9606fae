/*
 * registry.h -- the job registry: every deployed version of every job, and
 * the plugins they run, in the compacted topic __kappa_jobs (docs/jobs.md).
 *
 * The registry is a log like any other topic: written with a Kafka producer
 * and read with a Kafka consumer, so it survives restarts, needs nothing
 * kappa-specific from the broker and works on a Kafka cluster.  Two kinds of
 * records, keyed so that compaction keeps the newest of each:
 *
 *   version/NAME/V  -> JSON (jobs_version_t below); state running, stopped or
 *                      retired (kept, so a server that starts later still
 *                      cleans up after it); a null value forgets it
 *   plugin/SHA256   -> the plugin's .so bytes
 *   promoted/NAME   -> JSON (jobs_promoted_t below): which version feeds the
 *                      job's stable outputs (`kappa job promote`)
 *
 * Readers apply records in offset order; the last value of a key wins.
 */
#ifndef KP_JOBS_REGISTRY_H
#define KP_JOBS_REGISTRY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOBS_TOPIC "__kappa_jobs"
#define JOBS_MAX_LIST 32
#define JOBS_MAX_PARAMS 64
#define JOBS_NAME_MAX 128

/* One input partition's replay range, fixed at deploy time. */
typedef struct jobs_partition {
    char topic[256];
    int32_t partition;
    int64_t start_offset;   /* where the version starts reading (from --from) */
    int64_t end_offset;     /* the high watermark when it was deployed */
} jobs_partition_t;

typedef struct jobs_version {
    char name[JOBS_NAME_MAX];
    int version;
    char plugin_sha256[65];
    int64_t plugin_size;
    char plugin_file[256];          /* the file name it was deployed from (no directory) */
    char from[32];                  /* earliest, latest or @TS_MS */
    int nparams;
    char params[JOBS_MAX_PARAMS][256];  /* KEY=VALUE */
    char state[16];                 /* running, stopped or retired */
    int64_t deployed_ms;            /* wall clock */
    int ninputs;
    char inputs[JOBS_MAX_LIST][256];
    int noutputs;
    char outputs[JOBS_MAX_LIST][256];   /* as the plugin names them; written as T.vV */
    int nviews;
    char views[JOBS_MAX_LIST][128];
    int nparts;
    jobs_partition_t *parts;        /* owned; jobs_version_free */
    /* The stable range a promote gave it (docs/jobs.md "Promote"): it writes
     * the stable topic T, besides T.vV, for outputs whose source tag is at or
     * after stable_from and before stable_until (cuts, "topic:p=off,...";
     * NULL: unbounded).  has_stable false: no range assigned (the job's
     * live version before any promote feeds T unbounded, others not at all). */
    bool has_stable;
    char *stable_from, *stable_until;   /* owned */
} jobs_version_t;

/* promoted/NAME: the switch of `kappa job promote NAME V` from previous to
 * version; state "switching" (both stopped, cut not fixed yet) or "done". */
typedef struct jobs_promoted {
    char name[JOBS_NAME_MAX];
    int version, previous;
    char state[16];
    char *cut;                      /* owned; NULL while switching */
    int64_t ts_ms;                  /* wall clock */
} jobs_promoted_t;

typedef struct jobs_plugin {
    char sha256[65];
    uint8_t *data;                  /* owned */
    size_t len;
} jobs_plugin_t;

/* What a reader has applied so far.  Zero-initialize; keep_plugins decides
 * whether plugin bytes are kept (the server) or only their hashes. */
typedef struct jobs_registry {
    jobs_version_t **versions;      /* in first-deployed order */
    int nversions;
    jobs_plugin_t *plugins;
    int nplugins;
    jobs_promoted_t *promoted;      /* one per job with a promoted/NAME record */
    int npromoted;
    bool keep_plugins;
    uint64_t changes;               /* bumped by every applied record */
} jobs_registry_t;

void jobs_version_free(jobs_version_t *v);
/* The record's key, "version/NAME/V". */
void jobs_version_key(const char *name, int version, char *buf, size_t cap);
/* JSON of v in a kp_malloc'ed NUL-terminated buffer (*out, *len); 0 or KP_ENOMEM. */
int jobs_version_json(const jobs_version_t *v, char **out, size_t *len);
/* Parse a version record into *v (zeroed first); 0 or KP_ECORRUPT. */
int jobs_version_parse(const void *json, size_t len, jobs_version_t *v);

/* The record's key, "promoted/NAME". */
void jobs_promoted_key(const char *name, char *buf, size_t cap);
int jobs_promoted_json(const jobs_promoted_t *p, char **out, size_t *len);
int jobs_promoted_parse(const void *json, size_t len, jobs_promoted_t *p);
void jobs_promoted_free(jobs_promoted_t *p);

/* Apply one record of the topic.  Unknown keys are ignored (newer writers). */
int jobs_registry_apply(jobs_registry_t *r, const void *key, size_t klen, const void *val,
                        size_t vlen);
jobs_version_t *jobs_registry_find(const jobs_registry_t *r, const char *name, int version);
const jobs_plugin_t *jobs_registry_plugin(const jobs_registry_t *r, const char *sha256);
bool jobs_registry_has_plugin(const jobs_registry_t *r, const char *sha256);
/* The job's promoted/NAME record, or NULL before its first promote. */
const jobs_promoted_t *jobs_registry_promoted(const jobs_registry_t *r, const char *name);
/* The version that feeds the job's stable outputs and view names: the
 * promote record's version, else (never promoted) the lowest version not
 * retired; 0 when the job has none. */
int jobs_registry_live_version(const jobs_registry_t *r, const char *name);
/* Is v a version that is gone for good (state retired)? */
bool jobs_version_retired(const jobs_version_t *v);
void jobs_registry_free(jobs_registry_t *r);

/* ---- Kafka side --------------------------------------------------------- */

/* Create __kappa_jobs if missing (1 partition, compacted).  rk: any handle. */
int jobs_topic_ensure(rd_kafka_t *rk, int timeout_ms, char *why, size_t cap);
/* The first event of `type` on an admin result queue within timeout_ms
 * (others are dropped), or NULL. */
rd_kafka_event_t *jobs_admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                  int timeout_ms);
/* The topic's max.message.bytes (DescribeConfigs), or 1048588 if unknown. */
int64_t jobs_topic_max_bytes(rd_kafka_t *rk, int timeout_ms);
/* Prepare a producer configuration for jobs_put (delivery reports, size). */
int jobs_conf_producer(rd_kafka_conf_t *conf, char *why, size_t cap);
/* Write one record and wait for its acknowledgement.  rk: a producer made
 * from a configuration prepared by jobs_conf_producer. */
int jobs_put(rd_kafka_t *rk, const char *key, const void *val, size_t len, int timeout_ms,
             char *why, size_t cap);

/*
 * A consumer that follows the topic from its start (it never joins a group
 * or commits).  conf is consumed (as rd_kafka_new does).  Returns NULL with
 * *why set.  Until the topic exists, jobs_follower_poll returns KP_ENOTFOUND
 * (KP_EINVAL when the broker did not answer), trying again at most once a
 * second.
 */
typedef struct jobs_follower jobs_follower_t;
jobs_follower_t *jobs_follower_new(rd_kafka_conf_t *conf, char *why, size_t cap);
/*
 * Apply what arrives within timeout_ms to r.  *caught_up becomes true once
 * everything up to the high watermark seen at the first poll is applied.
 */
int jobs_follower_poll(jobs_follower_t *f, jobs_registry_t *r, int timeout_ms,
                       bool *caught_up);
void jobs_follower_free(jobs_follower_t *f);

/* Read the whole registry (follow until caught up, within timeout_ms).  A
 * missing topic is an empty registry. */
int jobs_registry_read(rd_kafka_conf_t *conf, jobs_registry_t *r, int timeout_ms, char *why,
                       size_t cap);

#endif

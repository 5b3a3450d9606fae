/*
 * group_int.h -- structures shared by the group coordinator (group.c:
 * membership, rebalances, FindCoordinator, Describe/ListGroups) and the
 * offset store (offsets.c: OffsetCommit/OffsetFetch, DeleteGroups,
 * TxnOffsetCommit, the __consumer_offsets topic).  Private to those two
 * files, their unit test, and the transaction coordinator (txn.c), which
 * finds a group's __consumer_offsets partition with group_partition_for().
 *
 * Ownership: everything reached from group_coord_t is kp_malloc'd and owned
 * by the coordinator; nothing points into a request's arena or frame, since
 * those are freed when the request's response has been written.
 */
#ifndef KP_GROUP_INT_H
#define KP_GROUP_INT_H

#include "broker.h"

#include <stdbool.h>
#include <stdint.h>

#define GROUP_OFFSETS_TOPIC "__consumer_offsets"
#define GROUP_ID_MAX 255                    /* bytes; longer is INVALID_GROUP_ID */
#define GROUP_MAX_MEMBERS 1000              /* Kafka's group.max.size is unbounded */
#define GROUP_PROTOCOLS_MAX 64              /* protocols one member may offer */
#define GROUP_METADATA_MAX (1 << 20)        /* all of one member's protocol metadata */
#define GROUP_ASSIGNMENT_MAX (1 << 20)      /* one member's assignment */
#define GROUP_CLIENT_ID_MAX 255             /* kept of client.id (member ids, describe) */
#define GROUP_OFFSET_METADATA_MAX 4096      /* offset.metadata.max.bytes */
#define GROUP_NEW_MEMBER_TIMEOUT_MS (5 * 60 * 1000)
#define GROUP_COMMIT_TIMEOUT_MS 30000       /* answer a commit whose sync never came */
#define GROUP_SWEEP_INTERVAL_MS 60000
#define GROUP_OFFSETS_SEGMENT_BYTES "104857600"  /* offsets.topic.segment.bytes */
#define GROUP_OFFSETS_MAX_MESSAGE_BYTES "8388608"  /* one OffsetCommit's batch */

/* Not in kerr.h (owned elsewhere); Kafka's code for a fenced static member. */
#define GROUP_KERR_FENCED_INSTANCE_ID 82

enum group_state {
    GROUP_EMPTY,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
    GROUP_DEAD,
};

/* An owned byte string: p is NUL-terminated (for logs); len -1 = null. */
typedef struct gstr {
    char *p;
    int32_t len;
} gstr_t;

typedef struct group_protocol {
    gstr_t name;
    gstr_t metadata;
} group_protocol_t;

typedef struct group group_t;

typedef struct group_member {
    group_t *g;
    gstr_t member_id;
    gstr_t group_instance_id;           /* null for dynamic members */
    gstr_t client_id;
    gstr_t client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    group_protocol_t *protocols;        /* in the member's order of preference */
    int nprotocols;
    gstr_t assignment;                  /* from the leader's SyncGroup */
    kreq_t *join_req;                   /* a JoinGroup waiting for the rebalance */
    kreq_t *sync_req;                   /* a SyncGroup waiting for the leader */
    loop_timer_t session_timer;
    bool is_new;                        /* joined in the current rebalance */
    bool pending;                       /* told MEMBER_ID_REQUIRED; not yet a member */
} group_member_t;

/* One committed offset; a group keeps them sorted by (topic, partition). */
typedef struct group_offset {
    gstr_t topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    gstr_t metadata;
    int64_t commit_timestamp;
} group_offset_t;

struct group {
    group_coord_t *gc;
    group_t *hnext;                     /* hash chain */
    gstr_t id;
    enum group_state state;
    gstr_t protocol_type;               /* null until a member joined */
    gstr_t protocol_name;               /* null unless Completing/Stable */
    int32_t generation;
    group_member_t *leader;
    group_member_t **members;           /* in join order */
    int nmembers, capmembers;
    group_member_t **pending;           /* MEMBER_ID_REQUIRED members */
    int npending, cappending;
    loop_timer_t join_timer;            /* rebalance completion deadline */
    bool initial_delay;                 /* in group.initial.rebalance.delay.ms */
    bool new_member_added;              /* ... and a member joined during it */
    int64_t initial_remaining_ms;
    group_offset_t *offsets;
    int noffsets, capoffsets;
    int64_t empty_since_ms;             /* wall clock: when it last became Empty */
};

typedef struct offsets_wait offsets_wait_t;

/*
 * An offset committed inside a transaction (TxnOffsetCommit): written to
 * __consumer_offsets as part of the producer's transactional batch, applied
 * to its group only when the commit marker is written there, dropped on
 * abort.  Kept by the coordinator, not the group, so that a group forgotten
 * meanwhile (sweep, deletion) is simply created again when they apply.
 */
typedef struct group_txn_offset {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t offsets_partition;          /* of __consumer_offsets */
    gstr_t group;
    gstr_t topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    gstr_t metadata;
    int64_t commit_timestamp;
} group_txn_offset_t;

/* A transactional producer's sequence in one __consumer_offsets partition:
 * its batches there go through the log's idempotence checks like any other
 * producer's, so each must continue where its last one ended. */
typedef struct group_txn_producer {
    int64_t producer_id;
    int32_t offsets_partition;
    int16_t epoch;
    int32_t last_seq;                   /* -1: no batch yet in this epoch */
} group_txn_producer_t;

struct group_coord {
    broker_t *b;
    group_t **buckets;
    size_t nbuckets, ngroups;
    offsets_wait_t *waits;              /* commits/deletions awaiting their fsync */
    loop_timer_t sweep_timer;
    uint64_t rng;
    group_txn_offset_t *txn_offsets;    /* pending, in the order written */
    int ntxn_offsets, captxn_offsets;
    group_txn_producer_t *txn_producers;
    int ntxn_producers, captxn_producers;
};

/* ---- group.c ---- */

group_t *group_find(group_coord_t *gc, kstr_t id);
/* Find or create (Empty).  NULL on allocation failure. */
group_t *group_get(group_coord_t *gc, kstr_t id);
/* Unlink and free a group with everything it holds; waiting requests are
 * answered with err. */
void group_destroy(group_t *g, int16_t err);
/* A member by id (not a pending one), or NULL. */
group_member_t *group_member_find(group_t *g, kstr_t member_id);
/* True when instance_id names a static member whose member id is not
 * member_id (Kafka's isStaticMemberFenced). */
bool group_static_fenced(group_t *g, kstr_t member_id, kstr_t instance_id);
/* The member proved it is alive: push its session deadline out. */
void group_member_heartbeat(group_member_t *m);
bool group_id_valid(kstr_t id, bool allow_empty);
const char *group_state_name(enum group_state s);

int gstr_set(gstr_t *dst, const void *p, int32_t len);     /* len -1: null */
void gstr_free(gstr_t *s);
static inline kstr_t gstr_k(const gstr_t *s)
{
    return (kstr_t){s->p, s->len};
}
static inline kbytes_t gstr_b(const gstr_t *s)
{
    return (kbytes_t){(const uint8_t *)s->p, s->len};
}
bool kstr_same(kstr_t a, kstr_t b);

/* ---- offsets.c ---- */

int group_offsets_start(group_coord_t *gc);
/* Answer every commit or deletion still waiting (shutdown). */
void group_offsets_stop(group_coord_t *gc);
void group_offsets_free(group_t *g);

/* The offsets of g: lookup, insert-or-replace, remove. */
group_offset_t *group_offset_find(group_t *g, kstr_t topic, int32_t partition);
int group_offset_set(group_t *g, kstr_t topic, int32_t partition, int64_t offset,
                     int32_t leader_epoch, kstr_t metadata, int64_t commit_timestamp);
void group_offset_remove(group_t *g, kstr_t topic, int32_t partition);
/* Offsets retention (offsets.retention.minutes) for an Empty group:
 * tombstone and forget offsets older than the retention. */
void group_offsets_expire(group_t *g, int64_t now_ms);

/* Java's String.hashCode of the UTF-8 bytes decoded to UTF-16 (invalid
 * bytes count as U+FFFD, as Java's decoder substitutes them). */
int32_t group_java_hash(const char *p, size_t len);
/* Kafka's partitionFor: Utils.abs(hashCode) % n. */
int32_t group_partition_for(kstr_t group_id, int32_t n);

/* Kafka's __consumer_offsets record formats.  Encoders return the bytes
 * written (the buffer must hold group_offset_key_size()/..._value_size()). */
size_t group_offset_key_size(kstr_t group, kstr_t topic);
size_t group_offset_key_encode(uint8_t *out, kstr_t group, kstr_t topic, int32_t partition);
size_t group_offset_value_size(kstr_t metadata);
size_t group_offset_value_encode(uint8_t *out, int64_t offset, int32_t leader_epoch,
                                 kstr_t metadata, int64_t commit_timestamp);

typedef struct group_offset_key {
    int16_t version;        /* 0/1 offset commit, 2 group metadata */
    kstr_t group;
    kstr_t topic;           /* offset commits only */
    int32_t partition;
} group_offset_key_t;

typedef struct group_offset_value {
    int16_t version;
    int64_t offset;
    int32_t leader_epoch;   /* -1 before v3 */
    kstr_t metadata;
    int64_t commit_timestamp;
} group_offset_value_t;

/* 0, or KP_ECORRUPT / KP_EUNSUPPORTED (an unknown version). */
int group_offset_key_decode(const uint8_t *p, size_t len, group_offset_key_t *k);
int group_offset_value_decode(const uint8_t *p, size_t len, group_offset_value_t *v);

kapi_handler_fn handle_offset_commit, handle_offset_fetch, handle_delete_groups;

#endif

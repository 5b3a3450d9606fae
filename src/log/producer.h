/*
 * producer.h -- idempotent producer state of one partition (Kafka's
 * ProducerStateManager): per producer id, its epoch and the sequence and
 * offset ranges of its last five batches.  The log consults it on every
 * append of a batch that carries a producer id, so that a retried batch is
 * answered with its original offsets instead of being written twice.
 *
 * The state is derived from the log (batch headers carry producer id,
 * epoch and base sequence), so recovery rebuilds it by scanning headers.
 *
 * Transactions (txn.h) add two fields per producer: the first offset of its
 * open transaction in this partition, and the coordinator epoch of the last
 * commit/abort marker.  Markers (control batches) carry baseSequence -1 and
 * never enter the five-batch window: they go through producer_apply_marker(),
 * not producer_update().
 */
#ifndef KP_PRODUCER_H
#define KP_PRODUCER_H

#include "batch.h"

#include <stdint.h>

#define PRODUCER_BATCHES 5          /* as Kafka: the last five in flight */

typedef struct producer_batch {
    int32_t first_seq, last_seq;
    int64_t base_offset, last_offset;
} producer_batch_t;

typedef struct producer_entry {
    int64_t producer_id;            /* -1: empty slot */
    int16_t epoch;
    int n;                          /* valid batches, newest last */
    producer_batch_t b[PRODUCER_BATCHES];
    int64_t txn_first_offset;       /* open transaction's first offset; -1: none */
    int32_t coordinator_epoch;      /* of the last marker; -1 before any */
} producer_entry_t;

typedef struct producer_state {
    producer_entry_t *e;
    int64_t cap, n;                 /* open addressing; cap a power of two */
} producer_state_t;

enum producer_verdict {
    PRODUCER_NEW = 0,               /* append it */
    PRODUCER_DUPLICATE = 1,         /* already in the log: *dup has its offsets */
};

/*
 * Check a batch about to be appended.  Returns PRODUCER_NEW,
 * PRODUCER_DUPLICATE (with *dup), or an error: KP_ESEQUENCE (a gap or a
 * new epoch not starting at 0), KP_EFENCED (an older epoch),
 * KP_EUNKNOWNPRODUCER (a producer this partition has no state for whose
 * sequence does not start at 0).
 */
int producer_check(const producer_state_t *ps, const batch_header_t *h, producer_batch_t *dup);

/* Record a batch appended at h->base_offset (also used while rebuilding).
 * A control batch only moves the epoch (as producer_apply_marker does); the
 * transaction bookkeeping of data batches is the caller's (txn_first_offset). */
int producer_update(producer_state_t *ps, const batch_header_t *h);

/* The producer's entry, NULL when there is none.  Valid until the next
 * producer_update/producer_apply_marker/producer_reserve. */
producer_entry_t *producer_find(const producer_state_t *ps, int64_t producer_id);

/* Make room for one more producer, so that the next producer_update or
 * producer_apply_marker cannot fail: call it before writing a batch whose
 * state must not be lost (transactions).  0 or KP_ENOMEM. */
int producer_reserve(producer_state_t *ps);

/*
 * Check a commit/abort marker about to be appended: KP_EFENCED when its
 * producer epoch is older than the producer's, or its coordinator epoch is
 * older than that of the producer's last marker (a zombie coordinator);
 * else 0.  A producer without state is accepted.
 */
int producer_check_marker(const producer_state_t *ps, int64_t producer_id,
                          int16_t producer_epoch, int32_t coordinator_epoch);

/*
 * Record a marker: a newer epoch replaces the producer's epoch and empties
 * its batch window (the new epoch starts at sequence 0); the same epoch
 * leaves the window alone.  The open transaction, if any, ends: *txn_first
 * gets its first offset, or -1 when none was open.  0 or KP_ENOMEM (never
 * after producer_reserve()).
 */
int producer_apply_marker(producer_state_t *ps, int64_t producer_id, int16_t producer_epoch,
                          int32_t coordinator_epoch, int64_t *txn_first);

void producer_state_free(producer_state_t *ps);

#endif

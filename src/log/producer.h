/*
 * producer.h -- idempotent producer state of one partition (Kafka's
 * ProducerStateManager): per producer id, its epoch and the sequence and
 * offset ranges of its last five batches.  The log consults it on every
 * append of a batch that carries a producer id, so that a retried batch is
 * answered with its original offsets instead of being written twice.
 *
 * The state is derived from the log (batch headers carry producer id,
 * epoch and base sequence), so recovery rebuilds it by scanning headers.
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

/* Record a batch appended at h->base_offset (also used while rebuilding). */
int producer_update(producer_state_t *ps, const batch_header_t *h);

void producer_state_free(producer_state_t *ps);

#endif

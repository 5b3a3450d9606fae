/*
 * txn_int.h -- what the transaction coordinator (txn.c) shares with the
 * rest of the Kafka layer: producer ids (idempotence.c) and transactional
 * offset commits (offsets.c, which owns __consumer_offsets).  Private to
 * src/kafka and its unit tests.
 */
#ifndef KP_TXN_INT_H
#define KP_TXN_INT_H

#include "broker.h"

#include <stdbool.h>
#include <stdint.h>

#define TXN_STATE_TOPIC "__transaction_state"
#define TXN_STATE_PARTITIONS 50             /* transaction.state.log.num.partitions */
#define TXN_STATE_SEGMENT_BYTES "104857600" /* transaction.state.log.segment.bytes */
#define TXN_STATE_MAX_MESSAGE_BYTES "8388608"
#define TXN_ID_MAX 4096                     /* bytes of a transactional.id */
#define TXN_PARTITIONS_MAX 10000            /* partitions one transaction may span */

/* Kafka's codes that kerr.h (owned elsewhere) does not list. */
#define TXN_KERR_OPERATION_NOT_ATTEMPTED 55
#define TXN_KERR_PRODUCER_FENCED 90

/* ---- idempotence.c ---- */

/* A producer id never handed out before (invariant (1) of idempotence.c). */
int producer_id_alloc(broker_t *b, int64_t *out);

/* ---- txn.c ---- */

/* InitProducerId with a non-null transactional id. */
void txn_coord_init_producer_id(kreq_t *r);
/* True when pid is the producer id of a transactional id (an idempotent
 * producer must not bump its epoch). */
bool txn_coord_owns_producer_id(broker_t *b, int64_t pid);
/*
 * TxnOffsetCommit's check against the transaction: the transactional id
 * exists with this producer id (else INVALID_PRODUCER_ID_MAPPING) and epoch
 * (else INVALID_PRODUCER_EPOCH), is Ongoing with __consumer_offsets
 * partition `offsets_partition` added (AddOffsetsToTxn; else
 * INVALID_TXN_STATE), and is not being ended (else CONCURRENT_TRANSACTIONS).
 */
int16_t txn_coord_check_offsets(broker_t *b, kstr_t txn_id, int64_t pid, int16_t epoch,
                                int32_t offsets_partition);
/* True while a transaction of producer pid is open or being ended. */
bool txn_coord_producer_open(broker_t *b, int64_t pid);
/*
 * For Produce (KIP-890's check, not wired yet): may producer (pid, epoch)
 * write a transactional batch to topic-partition?  KERR_NONE when the
 * partition is in its Ongoing transaction (AddPartitionsToTxn answered);
 * else INVALID_PRODUCER_ID_MAPPING (no transactional id has pid),
 * INVALID_PRODUCER_EPOCH (fenced) or INVALID_TXN_STATE (not added, or the
 * transaction is ending).  Refusing such batches keeps a misbehaving client
 * from opening a transaction in a partition no marker will ever close.
 */
int16_t txn_coord_check_produce(broker_t *b, int64_t pid, int16_t epoch, const char *topic,
                                int32_t partition);

/* ---- offsets.c ---- */

kapi_handler_fn handle_txn_offset_commit;
/* The __consumer_offsets partition of a group, or -1 when the topic is
 * missing (and cannot be created). */
int32_t group_offsets_partition(broker_t *b, kstr_t group);
/*
 * A commit or abort marker for producer pid was appended to
 * __consumer_offsets partition `offsets_partition`: apply its pending
 * transactional offsets to their groups (commit) or drop them (abort).
 * Also moves the producer's sequence bookkeeping to the marker's epoch.
 */
void group_txn_offsets_complete(broker_t *b, int32_t offsets_partition, int64_t pid,
                                int16_t epoch, bool commit);
/* Producer ids with pending transactional offsets nobody will complete
 * (checked after the coordinator's recovery): dropped, with a warning. */
void group_txn_offsets_orphans(broker_t *b);

#endif

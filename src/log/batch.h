/*
 * batch.h -- the Kafka RecordBatch v2 header, as stored on disk and sent on
 * the wire.  kappa stores batches exactly as produced; only baseOffset and
 * partitionLeaderEpoch (both outside the CRC) are rewritten on append.
 *
 *   0  baseOffset int64      8  batchLength int32     12 partitionLeaderEpoch int32
 *   16 magic int8 (=2)       17 crc uint32 (CRC-32C of bytes 21..end)
 *   21 attributes int16      23 lastOffsetDelta int32 27 baseTimestamp int64
 *   35 maxTimestamp int64    43 producerId int64      51 producerEpoch int16
 *   53 baseSequence int32    57 recordCount int32     61 records...
 */
#ifndef KP_BATCH_H
#define KP_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_HEADER_SIZE     61
#define BATCH_LOG_OVERHEAD    12   /* baseOffset + batchLength precede the length's coverage */
#define BATCH_CRC_START       21
#define BATCH_MIN_LENGTH      (BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)  /* 49 */
#define BATCH_MAGIC_V2        2

#define BATCH_ATTR_CODEC_MASK     0x07
#define BATCH_ATTR_LOG_APPEND_TIME 0x08
#define BATCH_ATTR_TRANSACTIONAL  0x10
#define BATCH_ATTR_CONTROL        0x20

typedef struct batch_header {
    int64_t base_offset;
    int32_t batch_length;      /* bytes after the batchLength field */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} batch_header_t;

/* Total bytes of the batch on disk (12 + batchLength). */
static inline int64_t batch_size(const batch_header_t *h)
{
    return (int64_t)BATCH_LOG_OVERHEAD + h->batch_length;
}

static inline int64_t batch_last_offset(const batch_header_t *h)
{
    return h->base_offset + h->last_offset_delta;
}

/*
 * Decode the 61-byte header at buf (len >= BATCH_HEADER_SIZE required).
 * Checks only what the header alone can show: magic 2, batchLength >= 49,
 * lastOffsetDelta >= 0, recordCount >= 0.  Returns 0, KP_ECORRUPT, or
 * KP_EUNSUPPORTED for a magic other than 2.
 */
int batch_header_decode(const uint8_t *buf, size_t len, batch_header_t *h);

/* CRC-32C over bytes 21..size of a complete batch; 0 or KP_ECRC. */
int batch_crc_check(const uint8_t *batch, size_t size);

/* Recompute and store the CRC after rewriting covered bytes. */
void batch_crc_update(uint8_t *batch, size_t size);

/*
 * Validate a batch that a producer sent: the header, the length equal to
 * len, the size within max_bytes, the CRC, at least one record, and
 * lastOffsetDelta == recordCount - 1 (a fresh batch has no offset gaps).
 * Returns 0, KP_ECORRUPT, KP_ECRC, KP_ETOOLARGE or KP_EUNSUPPORTED.
 */
int batch_validate_produced(const uint8_t *buf, size_t len, size_t max_bytes,
                            batch_header_t *h);

/* Rewrite the fields outside the CRC. */
void batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

#endif

/*
 * records.h -- the records inside a RecordBatch v2: iterate them (for
 * timestamp lookup and compaction) and build batches (for compaction output,
 * tests and benchmarks).
 *
 * Record layout (varints are zigzag, protobuf style):
 *   length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *   keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
 *   headerCount varint, headers: [keyLen varint, key, valueLen varint, value]*
 * When the batch's codec bits are set the whole records section is
 * compressed as one block (src/core/codec.h).
 */
#ifndef KP_RECORDS_H
#define KP_RECORDS_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct record {
    int64_t offset;             /* base offset + offsetDelta */
    int64_t timestamp;          /* base timestamp + timestampDelta */
    int32_t offset_delta;
    int64_t timestamp_delta;
    int8_t attributes;
    const uint8_t *key;         /* NULL when key_len == -1 */
    int32_t key_len;
    const uint8_t *value;       /* NULL when value_len == -1 (a tombstone) */
    int32_t value_len;
    int32_t header_count;
    const uint8_t *headers;     /* the encoded headers, header_count of them */
    size_t headers_len;
} record_t;

/* Pointers in a record_t point into the batch or into the iterator's
 * decompressed buffer: valid until record_iter_free(). */
typedef struct record_iter {
    batch_header_t h;
    const uint8_t *pos, *end;   /* remaining record bytes */
    uint8_t *owned;             /* decompressed records, or NULL */
    int32_t remaining;          /* records left per recordCount */
    int64_t prev_offset_delta;
} record_iter_t;

/*
 * Start iterating the batch at buf[0..len) (a whole batch: 12+batchLength
 * bytes).  Decompresses if needed, refusing output beyond max_uncompressed
 * bytes (KP_ETOOLARGE), so a small malicious batch cannot exhaust memory.
 * Does not check the CRC (callers have).  Returns 0 or a negative error.
 */
int record_iter_init(record_iter_t *it, const uint8_t *buf, size_t len,
                     size_t max_uncompressed);

/* 1 and *r filled; 0 at the end (having seen exactly recordCount records);
 * KP_ECORRUPT when a length or count does not fit the bytes. */
int record_iter_next(record_iter_t *it, record_t *r);

void record_iter_free(record_iter_t *it);

/* ---- building ------------------------------------------------------------ */

typedef struct batch_builder {
    uint8_t *buf;               /* header + uncompressed records */
    size_t len, cap;
    int16_t attributes;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int32_t count;
    int32_t last_offset_delta;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
} batch_builder_t;

/*
 * Begin a batch.  attributes carries the codec bits and flags to store;
 * base_timestamp is the first record's timestamp.  producer_id -1, epoch -1,
 * sequence -1 for a non-idempotent batch.
 */
int batch_builder_init(batch_builder_t *b, int16_t attributes, int64_t base_timestamp,
                       int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);

/* Add a record.  key/value NULL with len -1 means null.  headers are the
 * already-encoded header bytes (header_count of them), or NULL/0. */
int batch_builder_add(batch_builder_t *b, int32_t offset_delta, int64_t timestamp,
                      const void *key, int32_t key_len, const void *value, int32_t value_len,
                      const void *headers, size_t headers_len, int32_t header_count);

/*
 * Finish: compress the records per the codec bits, fill the header with
 * baseOffset 0 (or keep_last_offset_delta >= 0 to store a lastOffsetDelta
 * larger than the last record's, as compaction needs), compute the CRC.
 * *out is kp_malloc'd and owned by the caller; the builder is freed.
 */
int batch_builder_finish(batch_builder_t *b, int32_t keep_last_offset_delta,
                         uint8_t **out, size_t *out_len);

void batch_builder_free(batch_builder_t *b);

/* Varint helpers shared with the Kafka codec (zigzag, as records use). */
int varint_decode_zigzag32(const uint8_t **p, const uint8_t *end, int32_t *out);
int varint_decode_zigzag64(const uint8_t **p, const uint8_t *end, int64_t *out);
size_t varint_encode_zigzag64(uint8_t *out, int64_t v);  /* out has >= 10 bytes */
size_t varint_size_zigzag64(int64_t v);                  /* bytes the encoding takes */

#endif

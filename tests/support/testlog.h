/*
 * testlog.h -- helpers shared by the log's tests, crash tests and benchmarks:
 * build record batches and read back what a partition holds.
 */
#ifndef KP_TESTLOG_H
#define KP_TESTLOG_H

#include "log/log.h"
#include "log/records.h"

#include <stddef.h>
#include <stdint.h>

/*
 * A batch of `count` records with values "<prefix><i>" (i from first) and
 * keys "k<key_of_i>" when keys is non-zero (key = i % keys), timestamps
 * ts0 + i.  Caller frees *out with kp_free.
 */
int tl_make_batch(int codec, int count, const char *prefix, int64_t first, int keys,
                  int64_t ts0, uint8_t **out, size_t *len);

/* A batch of one record with the given key/value (NULL value: tombstone). */
int tl_make_kv(const char *key, const char *value, int64_t ts, uint8_t **out, size_t *len);

/* Append and abort the test on error; returns the base offset. */
int64_t tl_append(partition_t *p, uint8_t *batch, size_t len);

/* One record as read back. */
typedef struct tl_rec {
    int64_t offset;
    int64_t timestamp;
    char key[64];               /* "" and has_key=0 for null */
    int has_key;
    char value[256];
    int has_value;
} tl_rec_t;

/*
 * Read every record from `from` to the high watermark through
 * partition_read (max_bytes per call) and record_iter.  Returns the number
 * of records (kp_malloc'd array in *out) or a negative error.  Records
 * before `from` in the first batch are skipped, as a consumer would.
 */
int tl_read_all(partition_t *p, int64_t from, int64_t max_bytes, tl_rec_t **out);

#endif

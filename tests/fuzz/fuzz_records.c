/*
 * fuzz_records.c -- libFuzzer target for the RecordBatch v2 record
 * iterator (src/log/records.c), the decoder behind compaction and
 * timestamp lookup, which reads batches straight off the wire and the disk.
 *
 * The input is one batch.  When its header decodes, every record is walked
 * to the end with a 1 MiB decompression limit.  Invariants checked beyond
 * "no crash, no leak": the iterator never yields more than recordCount
 * records, every record's key, value and headers lie inside the batch or
 * the decompressed buffer, and once it reports the end or an error it keeps
 * reporting the same thing.
 */
#include "core/kp_assert.h"
#include "core/kp_error.h"
#include "log/batch.h"
#include "log/records.h"

#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_UNCOMPRESSED (1u << 20)

static int fuzz_inside(const uint8_t *p, int64_t len, const uint8_t *lo, const uint8_t *hi)
{
    if (len <= 0)
        return 1;
    return p >= lo && p <= hi && (uint64_t)len <= (uint64_t)(hi - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    batch_header_t h;
    if (batch_header_decode(data, size, &h) != 0)
        return 0;

    record_iter_t it;
    if (record_iter_init(&it, data, size, FUZZ_MAX_UNCOMPRESSED) != 0) {
        record_iter_free(&it);
        return 0;
    }
    const uint8_t *lo = it.pos, *hi = it.end;
    record_t r;
    int64_t seen = 0;
    int rc;
    while ((rc = record_iter_next(&it, &r)) == 1) {
        seen++;
        KP_ASSERT(seen <= h.record_count);
        KP_ASSERT(fuzz_inside(r.key, r.key_len, lo, hi));
        KP_ASSERT(fuzz_inside(r.value, r.value_len, lo, hi));
        KP_ASSERT(fuzz_inside(r.headers, (int64_t)r.headers_len, lo, hi));
        KP_ASSERT(r.offset_delta <= h.last_offset_delta);
    }
    KP_ASSERT(rc == 0 || rc == KP_ECORRUPT);
    KP_ASSERT(rc != 0 || seen == h.record_count);
    KP_ASSERT(record_iter_next(&it, &r) == rc);
    record_iter_free(&it);
    return 0;
}

/*
 * txn.c -- a partition's transaction state (see txn.h): the transactions
 * that hold the last stable offset back, the aborted list, and the
 * commit/abort marker record.
 *
 * Invariants:
 *  (1) unstable[] and aborted[] are sorted by first_offset, which is unique
 *      (two transactions never start at the same offset).
 *  (2) A transaction holds the last stable offset back from its first
 *      offset until its marker is below the high watermark -- not merely
 *      written -- so the LSO never passes a transaction whose outcome could
 *      still be lost in a crash, and recovery never moves it backwards.
 *  (3) aborted_span_max bounds last_offset - first_offset of every aborted
 *      entry, so the entries that can overlap an offset are found by binary
 *      search instead of a walk of the whole list.
 *  (4) Nothing here allocates between a write and the update that records
 *      it: txn_reserve() runs before the write.
 */
#include "txn.h"
#include "records.h"
#include "../core/kp_assert.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <string.h>

static int grow(void **v, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int64_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = kp_realloc(*v, (size_t)ncap * elem);
    if (!n)
        return KP_ENOMEM;
    *v = n;
    *cap = ncap;
    return 0;
}

int txn_reserve(txn_state_t *ts)
{
    int rc = grow((void **)&ts->unstable, &ts->capunstable, ts->nunstable + 1,
                  sizeof *ts->unstable);
    if (rc == 0)
        rc = grow((void **)&ts->aborted, &ts->capaborted, ts->naborted + 1,
                  sizeof *ts->aborted);
    return rc;
}

void txn_opened(txn_state_t *ts, int64_t producer_id, int64_t first_offset)
{
    KP_ASSERT(ts->nunstable < ts->capunstable);
    KP_ASSERT(ts->nunstable == 0 || ts->unstable[ts->nunstable - 1].first_offset < first_offset);
    ts->unstable[ts->nunstable++] = (txn_unstable_t){producer_id, first_offset, -1};
}

/* Index of the first aborted entry with first_offset >= off (naborted if none). */
static int64_t aborted_lower_bound(const txn_state_t *ts, int64_t off)
{
    int64_t lo = 0, hi = ts->naborted;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ts->aborted[mid].first_offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void txn_ended(txn_state_t *ts, int64_t producer_id, int64_t first_offset,
               int64_t marker_offset, bool commit)
{
    if (first_offset < 0)
        return;         /* nothing was open: the marker changes nothing here */
    int64_t lo = 0, hi = ts->nunstable;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ts->unstable[mid].first_offset < first_offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    KP_ASSERT(lo < ts->nunstable && ts->unstable[lo].first_offset == first_offset &&
              ts->unstable[lo].producer_id == producer_id);
    ts->unstable[lo].marker_offset = marker_offset;
    if (commit)
        return;
    KP_ASSERT(ts->naborted < ts->capaborted);
    int64_t at = aborted_lower_bound(ts, first_offset);
    memmove(ts->aborted + at + 1, ts->aborted + at,
            (size_t)(ts->naborted - at) * sizeof *ts->aborted);
    ts->aborted[at] = (log_aborted_txn_t){producer_id, first_offset, marker_offset};
    ts->naborted++;
    if (marker_offset - first_offset > ts->aborted_span_max)
        ts->aborted_span_max = marker_offset - first_offset;
}

void txn_on_high_watermark(txn_state_t *ts, int64_t high_watermark)
{
    int64_t j = 0;
    for (int64_t i = 0; i < ts->nunstable; i++) {
        const txn_unstable_t *u = &ts->unstable[i];
        if (u->marker_offset >= 0 && u->marker_offset < high_watermark)
            continue;
        ts->unstable[j++] = *u;
    }
    ts->nunstable = j;
}

int64_t txn_first_unstable(const txn_state_t *ts, int64_t high_watermark)
{
    for (int64_t i = 0; i < ts->nunstable; i++) {
        const txn_unstable_t *u = &ts->unstable[i];
        if (u->marker_offset < 0 || u->marker_offset >= high_watermark)
            return u->first_offset;
    }
    return INT64_MAX;
}

/* Invariant (3): an entry that reaches `off` starts at or after this. */
static int64_t span_floor(const txn_state_t *ts, int64_t off)
{
    return off < INT64_MIN + ts->aborted_span_max ? INT64_MIN : off - ts->aborted_span_max;
}

int txn_aborted_in(const txn_state_t *ts, int64_t from, int64_t to, log_aborted_txn_t **out)
{
    *out = NULL;
    if (from >= to || ts->naborted == 0)
        return 0;
    int64_t lo = aborted_lower_bound(ts, span_floor(ts, from));
    int64_t hi = aborted_lower_bound(ts, to);      /* entries before hi start below `to` */
    int n = 0;
    for (int64_t i = lo; i < hi; i++)
        n += ts->aborted[i].last_offset >= from;
    if (n == 0)
        return 0;
    log_aborted_txn_t *v = kp_malloc((size_t)n * sizeof *v);
    if (!v)
        return KP_ENOMEM;
    n = 0;
    for (int64_t i = lo; i < hi; i++)
        if (ts->aborted[i].last_offset >= from)
            v[n++] = ts->aborted[i];
    *out = v;
    return n;
}

bool txn_is_aborted(const txn_state_t *ts, int64_t producer_id, int64_t offset)
{
    int64_t hi = aborted_lower_bound(ts, offset == INT64_MAX ? offset : offset + 1);
    for (int64_t i = aborted_lower_bound(ts, span_floor(ts, offset)); i < hi; i++) {
        const log_aborted_txn_t *a = &ts->aborted[i];
        if (a->producer_id == producer_id && a->last_offset >= offset)
            return true;
    }
    return false;
}

void txn_trim(txn_state_t *ts, int64_t log_start_offset)
{
    int64_t j = 0, span = 0;
    for (int64_t i = 0; i < ts->naborted; i++) {
        const log_aborted_txn_t *a = &ts->aborted[i];
        if (a->last_offset < log_start_offset)
            continue;
        if (a->last_offset - a->first_offset > span)
            span = a->last_offset - a->first_offset;
        ts->aborted[j++] = *a;
    }
    ts->naborted = j;
    ts->aborted_span_max = span;
}

void txn_state_free(txn_state_t *ts)
{
    kp_free(ts->unstable);
    kp_free(ts->aborted);
    memset(ts, 0, sizeof *ts);
}

/* ---- the marker record ---------------------------------------------------- */

int txn_marker_build(int64_t producer_id, int16_t producer_epoch, bool commit,
                     int32_t coordinator_epoch, int64_t timestamp, uint8_t **out,
                     size_t *len)
{
    uint8_t key[4], value[6];
    batch_builder_t b;
    kp_put_be16(key, 0);
    kp_put_be16(key + 2, commit ? TXN_MARKER_COMMIT : TXN_MARKER_ABORT);
    kp_put_be16(value, 0);
    kp_put_be32(value + 2, (uint32_t)coordinator_epoch);
    int rc = batch_builder_init(&b, BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL, timestamp,
                                producer_id, producer_epoch, -1);
    if (rc)
        return rc;
    rc = batch_builder_add(&b, 0, timestamp, key, sizeof key, value, sizeof value, NULL, 0, 0);
    if (rc) {
        batch_builder_free(&b);
        return rc;
    }
    return batch_builder_finish(&b, -1, out, len);
}

int txn_marker_parse(const uint8_t *buf, size_t len, bool *commit,
                     int32_t *coordinator_epoch)
{
    record_iter_t it;
    record_t r;
    int rc = batch_crc_check(buf, len);
    if (rc)
        return rc;
    rc = record_iter_init(&it, buf, len, TXN_MARKER_MAX_BYTES);
    if (rc)
        return rc == KP_ETOOLARGE ? KP_ECORRUPT : rc;
    rc = record_iter_next(&it, &r);
    if (rc == 1) {
        rc = 0;
        if (!(it.h.attributes & BATCH_ATTR_CONTROL) || !r.key || r.key_len < 4 || !r.value ||
            r.value_len < 6 || (int16_t)kp_be16(r.key) < 0 || (int16_t)kp_be16(r.value) < 0) {
            rc = KP_ECORRUPT;
        } else {
            int16_t type = (int16_t)kp_be16(r.key + 2);
            if (type != TXN_MARKER_ABORT && type != TXN_MARKER_COMMIT)
                rc = KP_EUNSUPPORTED;
            *commit = type == TXN_MARKER_COMMIT;
            *coordinator_epoch = (int32_t)kp_be32(r.value + 2);
        }
        /* Exactly one record: anything after it is not a marker. */
        if (rc == 0 && record_iter_next(&it, &r) != 0)
            rc = KP_ECORRUPT;
    } else if (rc == 0) {
        rc = KP_ECORRUPT;   /* no record at all */
    }
    record_iter_free(&it);
    return rc;
}

/*
 * index.c -- sparse offset and time indexes of a segment.
 *
 * Indexes are hints: they only make a lookup start closer to its batch.
 * Recovery never trusts one it has not checked (offset_index_decode rejects
 * anything implausible and the segment rebuilds it from the log), so the
 * index files are written without fsync on the append path.
 *
 * Invariants of an in-memory index:
 *  (1) entries are strictly increasing in rel_offset and in pos (time: in
 *      max_ts and rel_offset);
 *  (2) every pos is the start of a batch in the segment.
 */
#include "log_int.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <string.h>

static int grow(void **arr, int32_t *cap, size_t elem)
{
    int32_t ncap = *cap ? *cap * 2 : 64;
    void *n = kp_realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return KP_ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

int offset_index_push(offset_index_t *ix, uint32_t rel_offset, uint32_t pos)
{
    if (ix->n == ix->cap && grow((void **)&ix->e, &ix->cap, sizeof *ix->e))
        return KP_ENOMEM;
    ix->e[ix->n].rel_offset = rel_offset;
    ix->e[ix->n].pos = pos;
    ix->n++;
    return 0;
}

int time_index_push(time_index_t *ix, int64_t max_ts, uint32_t rel_offset)
{
    if (ix->n == ix->cap && grow((void **)&ix->e, &ix->cap, sizeof *ix->e))
        return KP_ENOMEM;
    ix->e[ix->n].max_ts = max_ts;
    ix->e[ix->n].rel_offset = rel_offset;
    ix->n++;
    return 0;
}

int32_t offset_index_lookup(const offset_index_t *ix, uint32_t rel)
{
    int32_t lo = 0, hi = ix->n - 1, best = -1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].rel_offset <= rel) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

int32_t offset_index_after(const offset_index_t *ix, uint32_t pos)
{
    int32_t lo = 0, hi = ix->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t time_index_lookup(const time_index_t *ix, int64_t ts)
{
    int32_t lo = 0, hi = ix->n - 1, best = -1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ix->e[mid].max_ts < ts) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best < 0 ? 0 : ix->e[best].rel_offset;
}

void offset_index_free(offset_index_t *ix)
{
    kp_free(ix->e);
    memset(ix, 0, sizeof *ix);
}

void time_index_free(time_index_t *ix)
{
    kp_free(ix->e);
    memset(ix, 0, sizeof *ix);
}

void offset_index_truncate_pos(offset_index_t *ix, uint32_t pos)
{
    while (ix->n > 0 && ix->e[ix->n - 1].pos >= pos)
        ix->n--;
}

void time_index_truncate_rel(time_index_t *ix, uint32_t rel)
{
    while (ix->n > 0 && ix->e[ix->n - 1].rel_offset >= rel)
        ix->n--;
}

int offset_index_encode(const offset_index_t *ix, uint8_t **out, size_t *len)
{
    size_t n = (size_t)ix->n * INDEX_ENTRY_SIZE;
    uint8_t *b = kp_malloc(n);
    if (!b)
        return KP_ENOMEM;
    for (int32_t i = 0; i < ix->n; i++) {
        kp_put_be32(b + (size_t)i * 8, ix->e[i].rel_offset);
        kp_put_be32(b + (size_t)i * 8 + 4, ix->e[i].pos);
    }
    *out = b;
    *len = n;
    return 0;
}

int time_index_encode(const time_index_t *ix, uint8_t **out, size_t *len)
{
    size_t n = (size_t)ix->n * TIME_ENTRY_SIZE;
    uint8_t *b = kp_malloc(n);
    if (!b)
        return KP_ENOMEM;
    for (int32_t i = 0; i < ix->n; i++) {
        kp_put_be64(b + (size_t)i * 12, (uint64_t)ix->e[i].max_ts);
        kp_put_be32(b + (size_t)i * 12 + 8, ix->e[i].rel_offset);
    }
    *out = b;
    *len = n;
    return 0;
}

int offset_index_decode(offset_index_t *ix, const uint8_t *buf, size_t len,
                        int64_t seg_size)
{
    memset(ix, 0, sizeof *ix);
    if (len % INDEX_ENTRY_SIZE)
        return KP_ECORRUPT;
    for (size_t i = 0; i < len; i += INDEX_ENTRY_SIZE) {
        uint32_t rel = kp_be32(buf + i), pos = kp_be32(buf + i + 4);
        if ((int64_t)pos >= seg_size ||
            (ix->n > 0 && (rel <= ix->e[ix->n - 1].rel_offset ||
                           pos <= ix->e[ix->n - 1].pos))) {
            offset_index_free(ix);
            return KP_ECORRUPT;
        }
        if (offset_index_push(ix, rel, pos)) {
            offset_index_free(ix);
            return KP_ENOMEM;
        }
    }
    return 0;
}

int time_index_decode(time_index_t *ix, const uint8_t *buf, size_t len, uint32_t max_rel)
{
    memset(ix, 0, sizeof *ix);
    if (len % TIME_ENTRY_SIZE)
        return KP_ECORRUPT;
    for (size_t i = 0; i < len; i += TIME_ENTRY_SIZE) {
        int64_t ts = (int64_t)kp_be64(buf + i);
        uint32_t rel = kp_be32(buf + i + 8);
        if (rel > max_rel ||
            (ix->n > 0 && (ts <= ix->e[ix->n - 1].max_ts ||
                           rel <= ix->e[ix->n - 1].rel_offset))) {
            time_index_free(ix);
            return KP_ECORRUPT;
        }
        if (time_index_push(ix, ts, rel)) {
            time_index_free(ix);
            return KP_ENOMEM;
        }
    }
    return 0;
}

/*
 * records.c -- the records inside a RecordBatch v2: an iterator that walks
 * them (decompressing the records section first when the codec bits say
 * so) and a builder that writes whole batches.
 *
 * The iterator reads bytes from the network or from disk and trusts none of
 * them.  Its invariants:
 *
 *   (1) Every length and count is checked against the bytes that remain
 *       before it is used; nothing is allocated from a length in the input
 *       except the decompressed section, which kp_decompress() caps at the
 *       caller's max_uncompressed.
 *   (2) A record's length varint covers exactly its fields: fields that run
 *       past it, or stop short of it, make the batch corrupt.
 *   (3) Offset deltas are non-negative, strictly increasing and at most
 *       lastOffsetDelta (compaction leaves gaps, but never goes backwards or
 *       past the batch's last offset, which the log's offsets rely on).
 *   (4) The iterator yields exactly recordCount records and then 0; fewer
 *       records than that, or bytes left over after them, are KP_ECORRUPT.
 *   (5) Varints are at most 5 (32-bit) or 10 (64-bit) bytes and must not
 *       carry bits beyond their width; anything else is corrupt.
 *
 * The builder keeps the 61-byte header slot plus the uncompressed records
 * in one growing buffer, so finishing an uncompressed batch needs no copy.
 */
#include "records.h"
#include "../core/codec.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <stdint.h>
#include <string.h>

/* ---- varints -------------------------------------------------------------- */

/* An unsigned LEB128 varint of at most `max_bytes` bytes holding at most
 * `bits` bits. */
static int varint_decode_u(const uint8_t **p, const uint8_t *end, int max_bytes, int bits,
                           uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (q == end)
            return KP_ECORRUPT;
        uint8_t b = *q++;
        int shift = 7 * i;
        uint64_t part = (uint64_t)(b & 0x7f);
        /* The last byte may only fill the bits that are left. */
        if (shift + 7 > bits && (part >> (bits - shift)) != 0)
            return KP_ECORRUPT;
        v |= part << shift;
        if (!(b & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return KP_ECORRUPT;
}

int varint_decode_zigzag32(const uint8_t **p, const uint8_t *end, int32_t *out)
{
    uint64_t u;
    int rc = varint_decode_u(p, end, 5, 32, &u);
    if (rc)
        return rc;
    uint32_t z = (uint32_t)u;
    uint32_t v = (z >> 1) ^ (0u - (z & 1));
    memcpy(out, &v, sizeof v);      /* two's complement reinterpretation, no overflow */
    return 0;
}

int varint_decode_zigzag64(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    uint64_t z;
    int rc = varint_decode_u(p, end, 10, 64, &z);
    if (rc)
        return rc;
    uint64_t v = (z >> 1) ^ (0 - (z & 1));
    memcpy(out, &v, sizeof v);
    return 0;
}

size_t varint_encode_zigzag64(uint8_t *out, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
    size_t n = 0;
    while (z >= 0x80) {
        out[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (uint8_t)z;
    return n;
}

size_t varint_size_zigzag64(int64_t v)
{
    uint8_t tmp[10];
    return varint_encode_zigzag64(tmp, v);
}

/* ---- field parsing -------------------------------------------------------- */

/* A length-prefixed byte string: -1 is null, < -1 corrupt, else must fit. */
static int records_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **data,
                         int32_t *len)
{
    int rc = varint_decode_zigzag32(p, end, len);
    if (rc)
        return rc;
    if (*len == -1) {
        *data = NULL;
        return 0;
    }
    if (*len < 0 || (size_t)*len > (size_t)(end - *p))
        return KP_ECORRUPT;
    *data = *p;
    *p += *len;
    return 0;
}

/* header_count headers from *p: a key (never null, as Kafka requires) and a
 * value (null allowed). */
static int records_headers(const uint8_t **p, const uint8_t *end, int32_t header_count)
{
    for (int32_t i = 0; i < header_count; i++) {
        const uint8_t *data;
        int32_t len;
        int rc = records_bytes(p, end, &data, &len);
        if (rc)
            return rc;
        if (len < 0)
            return KP_ECORRUPT;
        rc = records_bytes(p, end, &data, &len);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- iteration ------------------------------------------------------------ */

int record_iter_init(record_iter_t *it, const uint8_t *buf, size_t len,
                     size_t max_uncompressed)
{
    memset(it, 0, sizeof *it);
    int rc = batch_header_decode(buf, len, &it->h);
    if (rc)
        return rc;
    /* The batch is its own 12 + batchLength bytes; a longer buffer (a
     * segment read) is fine, a shorter one is a torn batch. */
    if ((uint64_t)batch_size(&it->h) > len)
        return KP_ECORRUPT;
    const uint8_t *records = buf + BATCH_HEADER_SIZE;
    size_t records_len = (size_t)batch_size(&it->h) - BATCH_HEADER_SIZE;

    int codec = it->h.attributes & BATCH_ATTR_CODEC_MASK;
    if (codec == KP_CODEC_NONE) {
        it->pos = records;
        it->end = records + records_len;
    } else {
        size_t out_len;
        rc = kp_decompress(codec, records, records_len, max_uncompressed, &it->owned, &out_len);
        if (rc) {
            it->owned = NULL;
            return rc;
        }
        it->pos = it->owned;
        it->end = it->owned + out_len;
    }
    it->remaining = it->h.record_count;
    it->prev_offset_delta = -1;
    return 0;
}

int record_iter_next(record_iter_t *it, record_t *r)
{
    if (it->remaining == 0)
        return it->pos == it->end ? 0 : KP_ECORRUPT;
    if (it->pos == it->end)
        return KP_ECORRUPT;

    const uint8_t *p = it->pos;
    int32_t length;
    int rc = varint_decode_zigzag32(&p, it->end, &length);
    if (rc)
        return rc;
    if (length < 0 || (size_t)length > (size_t)(it->end - p))
        return KP_ECORRUPT;
    const uint8_t *rec_end = p + length;

    /* From here every field is bounded by the record's own length. */
    if (p == rec_end)
        return KP_ECORRUPT;
    r->attributes = (int8_t)*p++;
    if ((rc = varint_decode_zigzag64(&p, rec_end, &r->timestamp_delta)) != 0)
        return rc;
    if ((rc = varint_decode_zigzag32(&p, rec_end, &r->offset_delta)) != 0)
        return rc;
    if ((rc = records_bytes(&p, rec_end, &r->key, &r->key_len)) != 0)
        return rc;
    if ((rc = records_bytes(&p, rec_end, &r->value, &r->value_len)) != 0)
        return rc;
    if ((rc = varint_decode_zigzag32(&p, rec_end, &r->header_count)) != 0)
        return rc;
    if (r->header_count < 0)
        return KP_ECORRUPT;
    r->headers = p;
    if ((rc = records_headers(&p, rec_end, r->header_count)) != 0)
        return rc;
    r->headers_len = (size_t)(p - r->headers);
    if (p != rec_end)
        return KP_ECORRUPT;

    if (r->offset_delta < 0 || r->offset_delta <= it->prev_offset_delta
        || r->offset_delta > it->h.last_offset_delta)
        return KP_ECORRUPT;
    /* base_offset >= 0 (batch_header_decode), so only the top can overflow. */
    if (it->h.base_offset > INT64_MAX - r->offset_delta)
        return KP_ECORRUPT;
    r->offset = it->h.base_offset + r->offset_delta;
    if (__builtin_add_overflow(it->h.base_timestamp, r->timestamp_delta, &r->timestamp))
        return KP_ECORRUPT;

    it->prev_offset_delta = r->offset_delta;
    it->pos = rec_end;
    it->remaining--;
    return 1;
}

void record_iter_free(record_iter_t *it)
{
    kp_free(it->owned);
    it->owned = NULL;
    it->pos = it->end = NULL;
    it->remaining = 0;
}

/* ---- building ------------------------------------------------------------- */

int batch_builder_init(batch_builder_t *b, int16_t attributes, int64_t base_timestamp,
                       int64_t producer_id, int16_t producer_epoch, int32_t base_sequence)
{
    memset(b, 0, sizeof *b);
    if (kp_codec_name(attributes & BATCH_ATTR_CODEC_MASK) == NULL)
        return KP_EUNSUPPORTED;
    b->cap = 512;
    b->buf = kp_malloc(b->cap);
    if (!b->buf)
        return KP_ENOMEM;
    b->len = BATCH_HEADER_SIZE;
    b->attributes = attributes;
    b->base_timestamp = base_timestamp;
    b->max_timestamp = -1;          /* Kafka's NO_TIMESTAMP until a record arrives */
    b->last_offset_delta = -1;
    b->producer_id = producer_id;
    b->producer_epoch = producer_epoch;
    b->base_sequence = base_sequence;
    return 0;
}

static int batch_builder_room(batch_builder_t *b, size_t need)
{
    if (b->cap - b->len >= need)
        return 0;
    if (need > SIZE_MAX / 2 - b->len)
        return KP_ETOOLARGE;
    size_t cap = b->cap * 2;
    if (cap < b->len + need)
        cap = b->len + need;
    uint8_t *p = kp_realloc(b->buf, cap);
    if (!p)
        return KP_ENOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

static int batch_builder_check_bytes(const void *data, int32_t len)
{
    if (len < -1 || (len > 0 && !data))
        return KP_EINVAL;
    return 0;
}

int batch_builder_add(batch_builder_t *b, int32_t offset_delta, int64_t timestamp,
                      const void *key, int32_t key_len, const void *value, int32_t value_len,
                      const void *headers, size_t headers_len, int32_t header_count)
{
    if (!b->buf)
        return KP_EINVAL;
    if (offset_delta < 0 || offset_delta <= b->last_offset_delta)
        return KP_EINVAL;
    if (batch_builder_check_bytes(key, key_len) || batch_builder_check_bytes(value, value_len))
        return KP_EINVAL;
    if (header_count < 0 || (headers_len > 0 && !headers))
        return KP_EINVAL;
    /* The headers must be exactly header_count well-formed headers, or the
     * batch we write would fail our own iterator. */
    if (headers_len > 0 || header_count > 0) {
        if (!headers)
            return KP_EINVAL;
        const uint8_t *hp = headers, *hend = hp + headers_len;
        if (records_headers(&hp, hend, header_count) != 0 || hp != hend)
            return KP_EINVAL;
    }
    int64_t timestamp_delta;
    if (__builtin_sub_overflow(timestamp, b->base_timestamp, &timestamp_delta))
        return KP_EINVAL;

    uint64_t body = 1 + varint_size_zigzag64(timestamp_delta) + varint_size_zigzag64(offset_delta)
                    + varint_size_zigzag64(key_len) + (key_len > 0 ? (uint64_t)key_len : 0)
                    + varint_size_zigzag64(value_len) + (value_len > 0 ? (uint64_t)value_len : 0)
                    + varint_size_zigzag64(header_count) + headers_len;
    if (body > INT32_MAX)
        return KP_ETOOLARGE;
    size_t total = varint_size_zigzag64((int64_t)body) + (size_t)body;
    /* batchLength is an int32 covering everything after byte 12. */
    if (b->len + total - BATCH_LOG_OVERHEAD > INT32_MAX)
        return KP_ETOOLARGE;
    int rc = batch_builder_room(b, total);
    if (rc)
        return rc;

    uint8_t *p = b->buf + b->len;
    p += varint_encode_zigzag64(p, (int64_t)body);
    *p++ = 0;                                   /* record attributes: unused in v2 */
    p += varint_encode_zigzag64(p, timestamp_delta);
    p += varint_encode_zigzag64(p, offset_delta);
    p += varint_encode_zigzag64(p, key_len);
    if (key_len > 0) {
        memcpy(p, key, (size_t)key_len);
        p += key_len;
    }
    p += varint_encode_zigzag64(p, value_len);
    if (value_len > 0) {
        memcpy(p, value, (size_t)value_len);
        p += value_len;
    }
    p += varint_encode_zigzag64(p, header_count);
    if (headers_len > 0) {
        memcpy(p, headers, headers_len);
        p += headers_len;
    }
    b->len = (size_t)(p - b->buf);

    if (b->count == 0 || timestamp > b->max_timestamp)
        b->max_timestamp = timestamp;
    b->last_offset_delta = offset_delta;
    b->count++;
    return 0;
}

int batch_builder_finish(batch_builder_t *b, int32_t keep_last_offset_delta,
                         uint8_t **out, size_t *out_len)
{
    int rc = 0;
    uint8_t *batch = NULL;
    size_t size = 0;

    if (!b->buf) {
        rc = KP_EINVAL;
        goto fail;
    }
    int32_t last_offset_delta = b->last_offset_delta;
    if (keep_last_offset_delta >= 0) {
        if (keep_last_offset_delta < b->last_offset_delta) {
            rc = KP_EINVAL;
            goto fail;
        }
        last_offset_delta = keep_last_offset_delta;
    } else if (b->count == 0) {
        rc = KP_EINVAL;     /* an empty batch needs the lastOffsetDelta it stands for */
        goto fail;
    }

    int codec = b->attributes & BATCH_ATTR_CODEC_MASK;
    if (codec == KP_CODEC_NONE) {
        batch = b->buf;         /* the header slot is already in front */
        size = b->len;
        b->buf = NULL;
    } else {
        uint8_t *z;
        size_t zlen;
        rc = kp_compress(codec, b->buf + BATCH_HEADER_SIZE, b->len - BATCH_HEADER_SIZE,
                         &z, &zlen);
        if (rc)
            goto fail;
        if (zlen > (size_t)INT32_MAX - (BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)) {
            kp_free(z);
            rc = KP_ETOOLARGE;
            goto fail;
        }
        size = BATCH_HEADER_SIZE + zlen;
        batch = kp_malloc(size);
        if (!batch) {
            kp_free(z);
            rc = KP_ENOMEM;
            goto fail;
        }
        memcpy(batch + BATCH_HEADER_SIZE, z, zlen);
        kp_free(z);
    }

    kp_put_be64(batch + 0, 0);
    kp_put_be32(batch + 8, (uint32_t)(size - BATCH_LOG_OVERHEAD));
    kp_put_be32(batch + 12, 0);
    batch[16] = BATCH_MAGIC_V2;
    kp_put_be16(batch + 21, (uint16_t)b->attributes);
    kp_put_be32(batch + 23, (uint32_t)last_offset_delta);
    kp_put_be64(batch + 27, (uint64_t)b->base_timestamp);
    kp_put_be64(batch + 35, (uint64_t)b->max_timestamp);
    kp_put_be64(batch + 43, (uint64_t)b->producer_id);
    kp_put_be16(batch + 51, (uint16_t)b->producer_epoch);
    kp_put_be32(batch + 53, (uint32_t)b->base_sequence);
    kp_put_be32(batch + 57, (uint32_t)b->count);
    batch_crc_update(batch, size);

    batch_builder_free(b);
    *out = batch;
    *out_len = size;
    return 0;

fail:
    batch_builder_free(b);
    return rc;
}

void batch_builder_free(batch_builder_t *b)
{
    kp_free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

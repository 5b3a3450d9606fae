/*
 * test_records.c -- the RecordBatch v2 record iterator and batch builder
 * (src/log/records.c): round trips through every codec, every field
 * compared, and hand-made batches with each kind of corruption the
 * iterator must catch.
 */
#include "core/codec.h"
#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "log/batch.h"
#include "log/records.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

/* ---- helpers -------------------------------------------------------------- */

typedef struct spec {
    int32_t offset_delta;
    int64_t timestamp;
    const void *key;
    int32_t key_len;
    const void *value;
    int32_t value_len;
    const uint8_t *headers;
    size_t headers_len;
    int32_t header_count;
} spec_t;

/* A growing byte string for writing records by hand. */
typedef struct wbuf {
    uint8_t p[4096];
    size_t n;
} wbuf_t;

static void w_varint(wbuf_t *w, int64_t v)
{
    CHECK(w->n + 10 <= sizeof w->p);
    w->n += varint_encode_zigzag64(w->p + w->n, v);
}

static void w_bytes(wbuf_t *w, const void *p, size_t n)
{
    CHECK(w->n + n <= sizeof w->p);
    if (n)
        memcpy(w->p + w->n, p, n);
    w->n += n;
}

/* Append a whole record (length prefix included) whose body is `body`. */
static void w_record(wbuf_t *w, const wbuf_t *body)
{
    w_varint(w, (int64_t)body->n);
    w_bytes(w, body->p, body->n);
}

/* A simple record body: attributes 0, the given deltas, key, value and
 * no headers.  key_len/value_len -1 for null. */
static void w_body(wbuf_t *b, int64_t ts_delta, int32_t od, const char *key, int32_t key_len,
                   const char *value, int32_t value_len)
{
    b->n = 0;
    uint8_t attr = 0;
    w_bytes(b, &attr, 1);
    w_varint(b, ts_delta);
    w_varint(b, od);
    w_varint(b, key_len);
    if (key_len > 0)
        w_bytes(b, key, (size_t)key_len);
    w_varint(b, value_len);
    if (value_len > 0)
        w_bytes(b, value, (size_t)value_len);
    w_varint(b, 0);
}

/* Wrap an uncompressed records section in a header, as a producer would. */
static uint8_t *raw_batch(const uint8_t *records, size_t len, int32_t count,
                          int32_t last_offset_delta, size_t *size)
{
    *size = BATCH_HEADER_SIZE + len;
    uint8_t *b = kp_calloc(1, *size);
    CHECK(b != NULL);
    kp_put_be64(b, 0);
    kp_put_be32(b + 8, (uint32_t)(*size - BATCH_LOG_OVERHEAD));
    kp_put_be32(b + 12, (uint32_t)-1);
    b[16] = BATCH_MAGIC_V2;
    kp_put_be16(b + 21, 0);
    kp_put_be32(b + 23, (uint32_t)last_offset_delta);
    kp_put_be64(b + 27, 1000);
    kp_put_be64(b + 35, 1000);
    kp_put_be64(b + 43, (uint64_t)-1);
    kp_put_be16(b + 51, (uint16_t)-1);
    kp_put_be32(b + 53, (uint32_t)-1);
    kp_put_be32(b + 57, (uint32_t)count);
    memcpy(b + BATCH_HEADER_SIZE, records, len);
    batch_crc_update(b, *size);
    return b;
}

/* Iterate to the end; the first error, or 0 with *n records seen. */
static int iterate_all(const uint8_t *batch, size_t size, size_t max, int *n)
{
    record_iter_t it;
    record_t r;
    int rc = record_iter_init(&it, batch, size, max);
    *n = 0;
    if (rc == 0) {
        while ((rc = record_iter_next(&it, &r)) == 1)
            (*n)++;
    }
    record_iter_free(&it);
    return rc;
}

static uint8_t *build(int16_t attributes, int64_t base_ts, const spec_t *s, int n,
                      int32_t keep_last_offset_delta, size_t *size)
{
    batch_builder_t b;
    CHECK_OK(batch_builder_init(&b, attributes, base_ts, -1, -1, -1));
    for (int i = 0; i < n; i++)
        CHECK_OK(batch_builder_add(&b, s[i].offset_delta, s[i].timestamp, s[i].key,
                                   s[i].key_len, s[i].value, s[i].value_len, s[i].headers,
                                   s[i].headers_len, s[i].header_count));
    uint8_t *out;
    CHECK_OK(batch_builder_finish(&b, keep_last_offset_delta, &out, size));
    return out;
}

static void check_record(const record_t *r, const spec_t *s, int64_t base_offset,
                         int64_t base_ts)
{
    CHECK_EQ_INT(r->offset_delta, s->offset_delta);
    CHECK_EQ_INT(r->offset, base_offset + s->offset_delta);
    CHECK_EQ_INT(r->timestamp, s->timestamp);
    CHECK_EQ_INT(r->timestamp_delta, s->timestamp - base_ts);
    CHECK_EQ_INT(r->attributes, 0);
    CHECK_EQ_INT(r->key_len, s->key_len);
    if (s->key_len < 0)
        CHECK(r->key == NULL);
    else
        CHECK(r->key != NULL && memcmp(r->key, s->key, (size_t)s->key_len) == 0);
    CHECK_EQ_INT(r->value_len, s->value_len);
    if (s->value_len < 0)
        CHECK(r->value == NULL);
    else
        CHECK(r->value != NULL && memcmp(r->value, s->value, (size_t)s->value_len) == 0);
    CHECK_EQ_INT(r->header_count, s->header_count);
    CHECK_EQ_INT(r->headers_len, s->headers_len);
    if (s->headers_len)
        CHECK(memcmp(r->headers, s->headers, s->headers_len) == 0);
}

/* Two encoded headers: "trace" -> "abc", "empty" -> null. */
static size_t two_headers(uint8_t *h)
{
    size_t n = 0;
    n += varint_encode_zigzag64(h + n, 5);
    memcpy(h + n, "trace", 5);
    n += 5;
    n += varint_encode_zigzag64(h + n, 3);
    memcpy(h + n, "abc", 3);
    n += 3;
    n += varint_encode_zigzag64(h + n, 5);
    memcpy(h + n, "empty", 5);
    n += 5;
    n += varint_encode_zigzag64(h + n, -1);
    return n;
}

/* ---- varints -------------------------------------------------------------- */

TEST(varint_known_encodings)
{
    static const struct { int64_t v; uint8_t enc[10]; size_t n; } cases[] = {
        { 0, { 0x00 }, 1 },
        { -1, { 0x01 }, 1 },
        { 1, { 0x02 }, 1 },
        { -64, { 0x7f }, 1 },
        { 64, { 0x80, 0x01 }, 2 },
        { 300, { 0xd8, 0x04 }, 2 },
        { INT32_MAX, { 0xfe, 0xff, 0xff, 0xff, 0x0f }, 5 },
        { INT32_MIN, { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5 },
        { INT64_MAX, { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10 },
        { INT64_MIN, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[10];
        size_t n = varint_encode_zigzag64(buf, cases[i].v);
        CHECK_EQ_INT(n, cases[i].n);
        CHECK_EQ_INT(varint_size_zigzag64(cases[i].v), cases[i].n);
        CHECK(memcmp(buf, cases[i].enc, n) == 0);
        const uint8_t *p = buf;
        int64_t v64;
        CHECK_OK(varint_decode_zigzag64(&p, buf + n, &v64));
        CHECK_EQ_INT(v64, cases[i].v);
        CHECK(p == buf + n);
        if (cases[i].v >= INT32_MIN && cases[i].v <= INT32_MAX) {
            int32_t v32;
            p = buf;
            CHECK_OK(varint_decode_zigzag32(&p, buf + n, &v32));
            CHECK_EQ_INT(v32, cases[i].v);
            CHECK(p == buf + n);
        }
    }
}

TEST(varint_roundtrip_random)
{
    uint64_t s = test_seed();
    for (int i = 0; i < 100000; i++) {
        uint64_t raw = test_rand(&s);
        int64_t v;
        memcpy(&v, &raw, sizeof v);
        v >>= test_rand(&s) % 64;          /* all magnitudes */
        uint8_t buf[10];
        size_t n = varint_encode_zigzag64(buf, v);
        const uint8_t *p = buf;
        int64_t back;
        CHECK_OK(varint_decode_zigzag64(&p, buf + n, &back));
        CHECK_EQ_INT(back, v);
        /* Every proper prefix is truncated. */
        p = buf;
        CHECK_EQ_INT(varint_decode_zigzag64(&p, buf + n - 1, &back), KP_ECORRUPT);
        CHECK(p == buf);
    }
}

TEST(varint_malformed)
{
    const uint8_t *p;
    int32_t v32;
    int64_t v64;
    /* Six bytes for a 32-bit varint, eleven for a 64-bit one. */
    static const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
    p = six;
    CHECK_EQ_INT(varint_decode_zigzag32(&p, six + 6, &v32), KP_ECORRUPT);
    static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                      0x80, 0x00 };
    p = eleven;
    CHECK_EQ_INT(varint_decode_zigzag64(&p, eleven + 11, &v64), KP_ECORRUPT);
    /* Five bytes whose last carries bits past 32; ten past 64. */
    static const uint8_t wide32[] = { 0xff, 0xff, 0xff, 0xff, 0x1f };
    p = wide32;
    CHECK_EQ_INT(varint_decode_zigzag32(&p, wide32 + 5, &v32), KP_ECORRUPT);
    static const uint8_t wide64[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0x03 };
    p = wide64;
    CHECK_EQ_INT(varint_decode_zigzag64(&p, wide64 + 10, &v64), KP_ECORRUPT);
    /* Padded but in range is fine: 0x80 0x00 is zero in two bytes. */
    static const uint8_t padded[] = { 0x80, 0x00 };
    p = padded;
    CHECK_OK(varint_decode_zigzag32(&p, padded + 2, &v32));
    CHECK_EQ_INT(v32, 0);
    /* Empty input. */
    p = padded;
    CHECK_EQ_INT(varint_decode_zigzag32(&p, padded, &v32), KP_ECORRUPT);
}

/* ---- building and iterating ----------------------------------------------- */

static void roundtrip_codec(int codec)
{
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)("kappa-log "[i % 10] + (i / 4096) % 7);
    uint8_t hdr[64];
    size_t hdr_len = two_headers(hdr);
    const int64_t base_ts = 1700000000000;
    spec_t s[] = {
        { 0, base_ts, "k0", 2, "v0", 2, NULL, 0, 0 },
        { 1, base_ts + 5, NULL, -1, "no key", 6, NULL, 0, 0 },
        { 2, base_ts + 9, "gone", 4, NULL, -1, NULL, 0, 0 },           /* tombstone */
        { 3, base_ts + 2, "", 0, "", 0, NULL, 0, 0 },                   /* empty, not null */
        { 4, base_ts + 700, "h", 1, "with headers", 12, hdr, hdr_len, 2 },
        { 5, base_ts - 50, "big", 3, big, (int32_t)sizeof big, NULL, 0, 0 },
        { 6, base_ts + 3, NULL, -1, NULL, -1, hdr, hdr_len, 2 },
    };
    int n = (int)(sizeof s / sizeof s[0]);

    batch_builder_t b;
    CHECK_OK(batch_builder_init(&b, (int16_t)(codec | BATCH_ATTR_TRANSACTIONAL), base_ts,
                                1234, 5, 42));
    for (int i = 0; i < n; i++)
        CHECK_OK(batch_builder_add(&b, s[i].offset_delta, s[i].timestamp, s[i].key,
                                   s[i].key_len, s[i].value, s[i].value_len, s[i].headers,
                                   s[i].headers_len, s[i].header_count));
    uint8_t *batch;
    size_t size;
    CHECK_OK(batch_builder_finish(&b, -1, &batch, &size));
    CHECK(b.buf == NULL);
    batch_builder_free(&b);         /* harmless after finish */

    batch_header_t h;
    CHECK_OK(batch_validate_produced(batch, size, 16 * MIB, &h));
    CHECK_EQ_INT(h.base_offset, 0);
    CHECK_EQ_INT(h.leader_epoch, 0);
    CHECK_EQ_INT(h.attributes, codec | BATCH_ATTR_TRANSACTIONAL);
    CHECK_EQ_INT(h.last_offset_delta, n - 1);
    CHECK_EQ_INT(h.base_timestamp, base_ts);
    CHECK_EQ_INT(h.max_timestamp, base_ts + 700);
    CHECK_EQ_INT(h.producer_id, 1234);
    CHECK_EQ_INT(h.producer_epoch, 5);
    CHECK_EQ_INT(h.base_sequence, 42);
    CHECK_EQ_INT(h.record_count, n);
    if (codec != KP_CODEC_NONE)
        CHECK(size < sizeof big / 2);        /* really compressed */

    /* The broker assigns the base offset outside the CRC. */
    batch_set_base_offset(batch, 5000);
    CHECK_OK(batch_crc_check(batch, size));

    record_iter_t it;
    record_t r;
    CHECK_OK(record_iter_init(&it, batch, size, MIB));
    CHECK_EQ_INT(it.h.base_offset, 5000);
    for (int i = 0; i < n; i++) {
        int rc = record_iter_next(&it, &r);
        if (rc != 1)
            test_fail(__FILE__, __LINE__, "%s record %d: %d", kp_codec_name(codec), i, rc);
        check_record(&r, &s[i], 5000, base_ts);
    }
    CHECK_EQ_INT(record_iter_next(&it, &r), 0);
    CHECK_EQ_INT(record_iter_next(&it, &r), 0);
    record_iter_free(&it);

    /* The section decompresses to more than 64 KiB: refused at that limit. */
    if (codec != KP_CODEC_NONE) {
        CHECK_EQ_INT(record_iter_init(&it, batch, size, 64 * 1024), KP_ETOOLARGE);
        record_iter_free(&it);
    }
    kp_free(batch);
}

TEST(roundtrip_none) { roundtrip_codec(KP_CODEC_NONE); }
TEST(roundtrip_gzip) { roundtrip_codec(KP_CODEC_GZIP); }
TEST(roundtrip_snappy) { roundtrip_codec(KP_CODEC_SNAPPY); }
TEST(roundtrip_lz4) { roundtrip_codec(KP_CODEC_LZ4); }
TEST(roundtrip_zstd) { roundtrip_codec(KP_CODEC_ZSTD); }

/* Many small records, so record boundaries land everywhere in compressed
 * blocks and the builder's buffer grows many times. */
TEST(many_records)
{
    static const int codecs[] = { KP_CODEC_NONE, KP_CODEC_GZIP, KP_CODEC_SNAPPY,
                                  KP_CODEC_LZ4, KP_CODEC_ZSTD };
    uint64_t seed = test_seed();
    for (size_t c = 0; c < 5; c++) {
        uint64_t st = seed;
        batch_builder_t b;
        CHECK_OK(batch_builder_init(&b, (int16_t)codecs[c], 0, -1, -1, -1));
        int n = 5000;
        int64_t max_ts = 0;
        for (int i = 0; i < n; i++) {
            char key[32], val[64];
            int kl = snprintf(key, sizeof key, "key-%d", i);
            int vl = (int)(test_rand(&st) % sizeof val);
            memset(val, 'a' + i % 26, (size_t)vl);
            int64_t ts = (int64_t)(test_rand(&st) % 100000);
            if (ts > max_ts)
                max_ts = ts;
            CHECK_OK(batch_builder_add(&b, i, ts, key, kl, val, vl, NULL, 0, 0));
        }
        uint8_t *batch;
        size_t size;
        CHECK_OK(batch_builder_finish(&b, -1, &batch, &size));
        batch_header_t h;
        CHECK_OK(batch_validate_produced(batch, size, 16 * MIB, &h));
        CHECK_EQ_INT(h.max_timestamp, max_ts);

        st = seed;
        record_iter_t it;
        record_t r;
        CHECK_OK(record_iter_init(&it, batch, size, 16 * MIB));
        for (int i = 0; i < n; i++) {
            CHECK_EQ_INT(record_iter_next(&it, &r), 1);
            char key[32];
            int kl = snprintf(key, sizeof key, "key-%d", i);
            int vl = (int)(test_rand(&st) % 64);
            int64_t ts = (int64_t)(test_rand(&st) % 100000);
            CHECK_EQ_INT(r.offset, i);
            CHECK_EQ_INT(r.timestamp, ts);
            CHECK_EQ_INT(r.key_len, kl);
            CHECK(memcmp(r.key, key, (size_t)kl) == 0);
            CHECK_EQ_INT(r.value_len, vl);
            for (int j = 0; j < vl; j++)
                CHECK(r.value[j] == 'a' + i % 26);
        }
        CHECK_EQ_INT(record_iter_next(&it, &r), 0);
        record_iter_free(&it);
        kp_free(batch);
    }
}

/* Compaction output: gaps in the offset deltas, and a lastOffsetDelta kept
 * from the original batch past the last surviving record. */
TEST(offset_gaps_and_keep_last_offset_delta)
{
    spec_t s[] = {
        { 0, 10, "a", 1, "1", 1, NULL, 0, 0 },
        { 3, 11, "b", 1, "2", 1, NULL, 0, 0 },
        { 7, 12, "c", 1, NULL, -1, NULL, 0, 0 },
    };
    for (int codec = 0; codec <= 4; codec++) {
        size_t size;
        uint8_t *batch = build((int16_t)codec, 10, s, 3, 10, &size);
        batch_header_t h;
        CHECK_OK(batch_header_decode(batch, size, &h));
        CHECK_EQ_INT(h.last_offset_delta, 10);
        CHECK_EQ_INT(h.record_count, 3);
        CHECK_OK(batch_crc_check(batch, size));
        /* Not what a producer may send: lastOffsetDelta != recordCount - 1. */
        CHECK_EQ_INT(batch_validate_produced(batch, size, MIB, &h), KP_ECORRUPT);

        batch_set_base_offset(batch, 1000);
        record_iter_t it;
        record_t r;
        CHECK_OK(record_iter_init(&it, batch, size, MIB));
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_INT(record_iter_next(&it, &r), 1);
            check_record(&r, &s[i], 1000, 10);
        }
        CHECK_EQ_INT(record_iter_next(&it, &r), 0);
        record_iter_free(&it);
        kp_free(batch);

        /* Without keep: lastOffsetDelta is the last record's, 7. */
        batch = build((int16_t)codec, 10, s, 3, -1, &size);
        CHECK_OK(batch_header_decode(batch, size, &h));
        CHECK_EQ_INT(h.last_offset_delta, 7);
        int n;
        CHECK_OK(iterate_all(batch, size, MIB, &n));
        CHECK_EQ_INT(n, 3);
        kp_free(batch);
    }
}

/* A batch compaction emptied: no records, but its offsets still count. */
TEST(empty_batch)
{
    size_t size;
    uint8_t *batch = build(KP_CODEC_NONE, 77, NULL, 0, 4, &size);
    CHECK_EQ_INT(size, BATCH_HEADER_SIZE);
    batch_header_t h;
    CHECK_OK(batch_header_decode(batch, size, &h));
    CHECK_EQ_INT(h.record_count, 0);
    CHECK_EQ_INT(h.last_offset_delta, 4);
    CHECK_EQ_INT(h.max_timestamp, -1);
    int n;
    CHECK_OK(iterate_all(batch, size, MIB, &n));
    CHECK_EQ_INT(n, 0);
    kp_free(batch);

    batch = build(KP_CODEC_ZSTD, 77, NULL, 0, 0, &size);
    CHECK_OK(iterate_all(batch, size, MIB, &n));
    CHECK_EQ_INT(n, 0);
    kp_free(batch);

    /* No records and no lastOffsetDelta to keep: nothing to stand for. */
    batch_builder_t b;
    uint8_t *out = NULL;
    CHECK_OK(batch_builder_init(&b, 0, 0, -1, -1, -1));
    CHECK_EQ_INT(batch_builder_finish(&b, -1, &out, &size), KP_EINVAL);
    CHECK(out == NULL && b.buf == NULL);
}

TEST(builder_rejects)
{
    batch_builder_t b;
    uint8_t *out = NULL;
    size_t size;
    CHECK_EQ_INT(batch_builder_init(&b, 5, 0, -1, -1, -1), KP_EUNSUPPORTED);
    batch_builder_free(&b);

    CHECK_OK(batch_builder_init(&b, 0, 0, -1, -1, -1));
    CHECK_EQ_INT(batch_builder_add(&b, -1, 0, NULL, -1, NULL, -1, NULL, 0, 0), KP_EINVAL);
    CHECK_OK(batch_builder_add(&b, 2, 0, NULL, -1, NULL, -1, NULL, 0, 0));
    /* Offset deltas must increase. */
    CHECK_EQ_INT(batch_builder_add(&b, 2, 0, NULL, -1, NULL, -1, NULL, 0, 0), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_add(&b, 1, 0, NULL, -1, NULL, -1, NULL, 0, 0), KP_EINVAL);
    /* Lengths below -1, or bytes missing. */
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, "k", -2, NULL, -1, NULL, 0, 0), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, NULL, -1, NULL, 5, NULL, 0, 0), KP_EINVAL);
    /* Headers that are not header_count well-formed headers. */
    uint8_t hdr[64];
    size_t hl = two_headers(hdr);
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, NULL, -1, NULL, -1, hdr, hl, 1), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, NULL, -1, NULL, -1, hdr, hl, 3), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, NULL, -1, NULL, -1, hdr, hl - 1, 2), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, NULL, -1, NULL, -1, NULL, 0, 1), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_add(&b, 3, 0, NULL, -1, NULL, -1, hdr, hl, -1), KP_EINVAL);
    CHECK_OK(batch_builder_add(&b, 3, 0, NULL, -1, NULL, -1, hdr, hl, 2));
    /* keep_last_offset_delta below the last record's is a lie. */
    CHECK_EQ_INT(batch_builder_finish(&b, 2, &out, &size), KP_EINVAL);
    CHECK(out == NULL && b.buf == NULL);
    /* The builder is spent after finish, success or not. */
    CHECK_EQ_INT(batch_builder_add(&b, 9, 0, NULL, -1, NULL, -1, NULL, 0, 0), KP_EINVAL);
    CHECK_EQ_INT(batch_builder_finish(&b, -1, &out, &size), KP_EINVAL);
}

/* ---- batches from another implementation -------------------------------- */

/*
 * Batches written by kafka-python 2.0.2's DefaultRecordBatchBuilder
 * (Debian's python3-kafka, with python3-snappy and python3-lz4), holding:
 *   offset 0, ts 1700000000123, key "user-1", value "hello"
 *   offset 1, ts 1700000000456, key null, value "x" * 40,
 *             headers trace="t1", empty=null
 *   offset 2, ts 1700000000100, key "user-2", value null
 * Its snappy is xerial-framed and its lz4 comes from python-lz4's frame
 * module, so these also pin the codecs to what another client writes.
 */
static const char kafka_python_none[] =
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x90\x00\x00\x00\x00\x02\x5b\x45\x00\x6c\x00\x00\x00"
    "\x00\x00\x02\x00\x00\x01\x8b\xcf\xe5\x68\x7b\x00\x00\x01\x8b\xcf\xe5\x69\xc8\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x03\x22\x00\x00\x00\x0c\x75\x73\x65\x72\x2d\x31"
    "\x0a\x68\x65\x6c\x6c\x6f\x00\x7e\x00\x9a\x05\x02\x01\x50\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x04\x0a\x74\x72\x61\x63\x65\x04\x74\x31\x0a\x65\x6d\x70\x74\x79\x01\x18"
    "\x00\x2d\x04\x0c\x75\x73\x65\x72\x2d\x32\x01\x00";
static const char kafka_python_gzip[] =
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7b\x00\x00\x00\x00\x02\xc1\x81\x4a\x6c\x00\x01\x00"
    "\x00\x00\x02\x00\x00\x01\x8b\xcf\xe5\x68\x7b\x00\x00\x01\x8b\xcf\xe5\x69\xc8\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x03\x1f\x8b\x08\x00\xa1\x6a\x07\x6b\x02\xff\x53"
    "\x62\x60\x60\xe0\x29\x2d\x4e\x2d\xd2\x35\xe4\xca\x48\xcd\xc9\xc9\x67\xa8\x63\x98\xc5\xca\xc4\x18"
    "\x50\x41\x24\x60\xe1\x2a\x29\x4a\x4c\x4e\x65\x29\x31\xe4\x4a\xcd\x2d\x28\xa9\x64\x94\x60\xd0\x65"
    "\x81\x98\x68\xc4\xc8\x00\x00\x6e\x65\x0e\xcd\x5f\x00\x00\x00";
static const char kafka_python_snappy[] =
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x83\x00\x00\x00\x00\x02\xbe\x99\x68\x3d\x00\x02\x00"
    "\x00\x00\x02\x00\x00\x01\x8b\xcf\xe5\x68\x7b\x00\x00\x01\x8b\xcf\xe5\x69\xc8\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x03\x82\x53\x4e\x41\x50\x50\x59\x00\x00\x00\x00"
    "\x01\x00\x00\x00\x01\x00\x00\x00\x3e\x5f\x64\x22\x00\x00\x00\x0c\x75\x73\x65\x72\x2d\x31\x0a\x68"
    "\x65\x6c\x6c\x6f\x00\x7e\x00\x9a\x05\x02\x01\x50\x78\x9a\x01\x00\x74\x04\x0a\x74\x72\x61\x63\x65"
    "\x04\x74\x31\x0a\x65\x6d\x70\x74\x79\x01\x18\x00\x2d\x04\x0c\x75\x73\x65\x72\x2d\x32\x01\x00";
static const char kafka_python_lz4[] =
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x87\x00\x00\x00\x00\x02\x1a\xcb\x7b\xb0\x00\x03\x00"
    "\x00\x00\x02\x00\x00\x01\x8b\xcf\xe5\x68\x7b\x00\x00\x01\x8b\xcf\xe5\x69\xc8\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x03\x04\x22\x4d\x18\x68\x40\x5f\x00\x00\x00\x00"
    "\x00\x00\x00\x65\x3f\x00\x00\x00\xff\x0b\x22\x00\x00\x00\x0c\x75\x73\x65\x72\x2d\x31\x0a\x68\x65"
    "\x6c\x6c\x6f\x00\x7e\x00\x9a\x05\x02\x01\x50\x78\x01\x00\x14\xf0\x0f\x04\x0a\x74\x72\x61\x63\x65"
    "\x04\x74\x31\x0a\x65\x6d\x70\x74\x79\x01\x18\x00\x2d\x04\x0c\x75\x73\x65\x72\x2d\x32\x01\x00\x00"
    "\x00\x00\x00";

static void check_kafka_python(const char *bytes, size_t size, int codec)
{
    const uint8_t *batch = (const uint8_t *)bytes;
    batch_header_t h;
    CHECK_OK(batch_validate_produced(batch, size, MIB, &h));
    CHECK_EQ_INT(h.attributes, codec);
    CHECK_EQ_INT(h.record_count, 3);
    CHECK_EQ_INT(h.base_timestamp, 1700000000123);
    CHECK_EQ_INT(h.max_timestamp, 1700000000456);
    CHECK_EQ_INT(h.producer_id, -1);

    static const char x40[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    uint8_t hdr[64];
    size_t hl = 0;
    hl += varint_encode_zigzag64(hdr + hl, 5);
    memcpy(hdr + hl, "trace", 5);
    hl += 5;
    hl += varint_encode_zigzag64(hdr + hl, 2);
    memcpy(hdr + hl, "t1", 2);
    hl += 2;
    hl += varint_encode_zigzag64(hdr + hl, 5);
    memcpy(hdr + hl, "empty", 5);
    hl += 5;
    hl += varint_encode_zigzag64(hdr + hl, -1);
    spec_t s[] = {
        { 0, 1700000000123, "user-1", 6, "hello", 5, NULL, 0, 0 },
        { 1, 1700000000456, NULL, -1, x40, 40, hdr, hl, 2 },
        { 2, 1700000000100, "user-2", 6, NULL, -1, NULL, 0, 0 },
    };
    record_iter_t it;
    record_t r;
    CHECK_OK(record_iter_init(&it, batch, size, MIB));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(record_iter_next(&it, &r), 1);
        check_record(&r, &s[i], 0, 1700000000123);
    }
    CHECK_EQ_INT(record_iter_next(&it, &r), 0);
    record_iter_free(&it);

    /* Uncompressed, our builder must write the very same bytes (kafka-python
     * also leaves partitionLeaderEpoch 0), CRC included. */
    if (codec == KP_CODEC_NONE) {
        size_t our_size;
        uint8_t *ours = build(KP_CODEC_NONE, 1700000000123, s, 3, -1, &our_size);
        CHECK_EQ_INT(our_size, size);
        CHECK(memcmp(ours, batch, size) == 0);
        kp_free(ours);
    }
}

TEST(kafka_python_batches)
{
    check_kafka_python(kafka_python_none, sizeof kafka_python_none - 1, KP_CODEC_NONE);
    check_kafka_python(kafka_python_gzip, sizeof kafka_python_gzip - 1, KP_CODEC_GZIP);
    check_kafka_python(kafka_python_snappy, sizeof kafka_python_snappy - 1, KP_CODEC_SNAPPY);
    check_kafka_python(kafka_python_lz4, sizeof kafka_python_lz4 - 1, KP_CODEC_LZ4);
}

/* ---- corruption ----------------------------------------------------------- */

/* Two good records; the first one's length varint is one byte at 61. */
static uint8_t *two_record_batch(size_t *size, size_t *first_len)
{
    wbuf_t recs = { .n = 0 }, body;
    w_body(&body, 0, 0, "key", 3, "value", 5);
    *first_len = body.n;
    w_record(&recs, &body);
    w_body(&body, 1, 1, NULL, -1, "v", 1);
    w_record(&recs, &body);
    return raw_batch(recs.p, recs.n, 2, 1, size);
}

TEST(hand_made_batch_iterates)
{
    size_t size, first_len;
    uint8_t *batch = two_record_batch(&size, &first_len);
    batch_header_t h;
    CHECK_OK(batch_validate_produced(batch, size, MIB, &h));
    record_iter_t it;
    record_t r;
    CHECK_OK(record_iter_init(&it, batch, size, MIB));
    CHECK_EQ_INT(record_iter_next(&it, &r), 1);
    CHECK_EQ_INT(r.timestamp, 1000);
    CHECK(r.key_len == 3 && memcmp(r.key, "key", 3) == 0);
    CHECK(r.value_len == 5 && memcmp(r.value, "value", 5) == 0);
    CHECK_EQ_INT(record_iter_next(&it, &r), 1);
    CHECK_EQ_INT(r.timestamp, 1001);
    CHECK_EQ_INT(r.offset, 1);
    CHECK(r.key == NULL && r.key_len == -1);
    CHECK_EQ_INT(record_iter_next(&it, &r), 0);
    record_iter_free(&it);
    kp_free(batch);
}

TEST(corrupt_record_length)
{
    size_t size, first_len;
    uint8_t *batch = two_record_batch(&size, &first_len);
    CHECK(first_len < 63);                  /* one-byte varint: 2 * len */
    int n;
    static const int deltas[] = { 1, -1, 2, -3 };
    for (size_t i = 0; i < 4; i++) {
        batch[61] = (uint8_t)(2 * ((int)first_len + deltas[i]));
        CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
        CHECK_EQ_INT(n, 0);
    }
    /* Negative, and far past the end. */
    batch[61] = 0x01;
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    batch[61] = 0x7e;
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    batch[61] = (uint8_t)(2 * first_len);
    CHECK_OK(iterate_all(batch, size, MIB, &n));
    CHECK_EQ_INT(n, 2);
    kp_free(batch);
}

TEST(record_count_mismatch)
{
    size_t size, first_len;
    uint8_t *batch = two_record_batch(&size, &first_len);
    int n;
    /* recordCount 3: the bytes run out after two. */
    kp_put_be32(batch + 57, 3);
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 2);
    /* recordCount 1: a whole record left over. */
    kp_put_be32(batch + 57, 1);
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 1);
    /* recordCount 0 with records present. */
    kp_put_be32(batch + 57, 0);
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 0);
    kp_free(batch);

    /* Trailing bytes after the last record, inside batchLength. */
    wbuf_t recs = { .n = 0 }, body;
    w_body(&body, 0, 0, "k", 1, "v", 1);
    w_record(&recs, &body);
    uint8_t zero = 0;
    w_bytes(&recs, &zero, 1);
    batch = raw_batch(recs.p, recs.n, 1, 0, &size);
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 1);
    kp_free(batch);

    /* The same for a compressed batch. */
    spec_t s[] = { { 0, 0, "a", 1, "b", 1, NULL, 0, 0 }, { 1, 0, "c", 1, "d", 1, NULL, 0, 0 } };
    batch = build(KP_CODEC_LZ4, 0, s, 2, -1, &size);
    kp_put_be32(batch + 57, 3);
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 2);
    kp_put_be32(batch + 57, 1);
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 1);
    kp_free(batch);
}

/* One record with the given body in an otherwise valid batch: must fail. */
static void check_bad_body(const wbuf_t *body, int line)
{
    wbuf_t recs = { .n = 0 };
    w_record(&recs, body);
    size_t size;
    uint8_t *batch = raw_batch(recs.p, recs.n, 1, 5, &size);
    int n;
    int rc = iterate_all(batch, size, MIB, &n);
    kp_free(batch);
    if (rc != KP_ECORRUPT)
        test_fail(__FILE__, line, "bad record body gave %d, expected KP_ECORRUPT", rc);
}

TEST(corrupt_fields)
{
    wbuf_t b;
    uint8_t attr = 0;

    /* Key length -2. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, -2); w_varint(&b, -1); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);
    /* Value length -7. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, -1); w_varint(&b, -7); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);
    /* Key length past the record's end (but within the batch's). */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, 40); w_bytes(&b, "abc", 3);
    check_bad_body(&b, __LINE__);
    /* Header count -1. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, -1);
    check_bad_body(&b, __LINE__);
    /* Header count 2 with one header present. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, 2);
    w_varint(&b, 1); w_bytes(&b, "h", 1); w_varint(&b, -1);
    check_bad_body(&b, __LINE__);
    /* A header with a null key. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, 1);
    w_varint(&b, -1); w_varint(&b, -1);
    check_bad_body(&b, __LINE__);
    /* Header count 2^31-1 with no bytes for them. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, INT32_MAX);
    check_bad_body(&b, __LINE__);
    /* Offset delta past lastOffsetDelta (5), and negative. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 6);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, -1);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);
    /* An offset delta that does not fit 32 bits. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, (int64_t)1 << 33);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);
    /* A six-byte varint in the key length. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, 0); w_varint(&b, 0);
    w_bytes(&b, "\x80\x80\x80\x80\x80\x00", 6); w_varint(&b, -1); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);
    /* The body ends inside the timestamp varint; and an empty body. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_bytes(&b, "\x80", 1);
    check_bad_body(&b, __LINE__);
    b.n = 0;
    check_bad_body(&b, __LINE__);
    /* A timestamp delta that overflows the base timestamp. */
    b.n = 0;
    w_bytes(&b, &attr, 1); w_varint(&b, INT64_MAX); w_varint(&b, 0);
    w_varint(&b, -1); w_varint(&b, -1); w_varint(&b, 0);
    check_bad_body(&b, __LINE__);

    /* Offset deltas that repeat or go backwards. */
    wbuf_t recs = { .n = 0 }, body;
    w_body(&body, 0, 2, NULL, -1, NULL, -1);
    w_record(&recs, &body);
    w_body(&body, 0, 2, NULL, -1, NULL, -1);
    w_record(&recs, &body);
    size_t size;
    uint8_t *batch = raw_batch(recs.p, recs.n, 2, 5, &size);
    int n;
    CHECK_EQ_INT(iterate_all(batch, size, MIB, &n), KP_ECORRUPT);
    CHECK_EQ_INT(n, 1);
    kp_free(batch);
}

TEST(torn_and_bad_headers)
{
    size_t size, first_len;
    uint8_t *batch = two_record_batch(&size, &first_len);
    record_iter_t it;
    /* A buffer shorter than batchLength says: torn. */
    CHECK_EQ_INT(record_iter_init(&it, batch, size - 1, MIB), KP_ECORRUPT);
    record_iter_free(&it);
    CHECK_EQ_INT(record_iter_init(&it, batch, 30, MIB), KP_ECORRUPT);
    record_iter_free(&it);
    /* Magic 1 is an older format we do not iterate. */
    batch[16] = 1;
    CHECK_EQ_INT(record_iter_init(&it, batch, size, MIB), KP_EUNSUPPORTED);
    record_iter_free(&it);
    batch[16] = 2;
    /* Codec bits 5..7 are not codecs. */
    kp_put_be16(batch + 21, 6);
    CHECK_EQ_INT(record_iter_init(&it, batch, size, MIB), KP_EUNSUPPORTED);
    record_iter_free(&it);
    kp_put_be16(batch + 21, 0);
    /* A longer buffer (the next batch follows) is fine. */
    uint8_t *longer = kp_calloc(1, size + 100);
    CHECK(longer != NULL);
    memcpy(longer, batch, size);
    int n;
    CHECK_OK(iterate_all(longer, size + 100, MIB, &n));
    CHECK_EQ_INT(n, 2);
    kp_free(longer);
    kp_free(batch);
}

/* A compressed batch whose compressed bytes are cut or damaged. */
TEST(corrupt_compressed)
{
    uint8_t val[5000];
    memset(val, 'z', sizeof val);
    spec_t s[] = { { 0, 0, "k", 1, val, (int32_t)sizeof val, NULL, 0, 0 } };
    for (int codec = 1; codec <= 4; codec++) {
        size_t size;
        uint8_t *batch = build((int16_t)codec, 0, s, 1, -1, &size);
        /* Shorten the batch by one byte, fixing batchLength to match. */
        kp_put_be32(batch + 8, (uint32_t)(size - 1 - BATCH_LOG_OVERHEAD));
        int n;
        CHECK_EQ_INT(iterate_all(batch, size - 1, MIB, &n), KP_ECORRUPT);
        kp_put_be32(batch + 8, (uint32_t)(size - BATCH_LOG_OVERHEAD));
        /* Nothing after the header at all. */
        kp_put_be32(batch + 8, BATCH_MIN_LENGTH);
        CHECK_EQ_INT(iterate_all(batch, BATCH_HEADER_SIZE, MIB, &n), KP_ECORRUPT);
        kp_free(batch);
    }
}

/* Flip random bytes in the records section of every codec's batch: an
 * error or some records, never a crash (ASan/UBSan runs check). */
TEST(random_damage)
{
    uint64_t st = test_seed() ^ 0x5bd1e995;
    uint8_t hdr[64];
    size_t hl = two_headers(hdr);
    spec_t s[] = {
        { 0, 5, "alpha", 5, "one", 3, hdr, hl, 2 },
        { 1, 6, NULL, -1, "two", 3, NULL, 0, 0 },
        { 2, 4, "gamma", 5, NULL, -1, hdr, hl, 2 },
    };
    for (int codec = 0; codec <= 4; codec++) {
        size_t size;
        uint8_t *batch = build((int16_t)codec, 5, s, 3, -1, &size);
        for (int iter = 0; iter < 2000; iter++) {
            size_t at = BATCH_HEADER_SIZE + (size_t)(test_rand(&st) % (size - BATCH_HEADER_SIZE));
            uint8_t old = batch[at];
            batch[at] ^= (uint8_t)(1 + test_rand(&st) % 255);
            int n;
            int rc = iterate_all(batch, size, MIB, &n);
            CHECK(rc == 0 || rc == KP_ECORRUPT || rc == KP_ETOOLARGE);
            CHECK(n <= 3);
            batch[at] = old;
        }
        kp_free(batch);
    }
}

/* Fail each allocation in turn while building and iterating. */
TEST(alloc_failure)
{
    static uint8_t val[100000];
    memset(val, 'q', sizeof val);
    for (int codec = 0; codec <= 4; codec++) {
        uint8_t *batch = NULL;
        size_t size = 0;
        int rc = KP_ENOMEM;
        for (long n = 0; n < 1000 && rc; n++) {
            batch_builder_t b;
            kp_mem_fail_after(n);
            rc = batch_builder_init(&b, (int16_t)codec, 0, -1, -1, -1);
            for (int i = 0; rc == 0 && i < 20; i++)
                rc = batch_builder_add(&b, i, i, "k", 1, val, (int32_t)(i * 5000), NULL, 0, 0);
            if (rc == 0)
                rc = batch_builder_finish(&b, -1, &batch, &size);
            else
                batch_builder_free(&b);
            kp_mem_fail_reset();
            CHECK(rc == 0 || rc == KP_ENOMEM);
        }
        CHECK_OK(rc);
        rc = KP_ENOMEM;
        int got = 0;
        for (long n = 0; n < 1000 && rc; n++) {
            kp_mem_fail_after(n);
            rc = iterate_all(batch, size, 4 * MIB, &got);
            kp_mem_fail_reset();
            CHECK(rc == 0 || rc == KP_ENOMEM);
        }
        CHECK_OK(rc);
        CHECK_EQ_INT(got, 20);
        kp_free(batch);
    }
}

int main(void)
{
    RUN(varint_known_encodings);
    RUN(varint_roundtrip_random);
    RUN(varint_malformed);
    RUN(roundtrip_none);
    RUN(roundtrip_gzip);
    RUN(roundtrip_snappy);
    RUN(roundtrip_lz4);
    RUN(roundtrip_zstd);
    RUN(many_records);
    RUN(offset_gaps_and_keep_last_offset_delta);
    RUN(empty_batch);
    RUN(builder_rejects);
    RUN(kafka_python_batches);
    RUN(hand_made_batch_iterates);
    RUN(corrupt_record_length);
    RUN(record_count_mismatch);
    RUN(corrupt_fields);
    RUN(torn_and_bad_headers);
    RUN(corrupt_compressed);
    RUN(random_damage);
    RUN(alloc_failure);
    return test_summary();
}

/*
 * schema.c -- the table-driven codec behind every Kafka message.
 *
 * Invariants:
 *  (1) Every count is checked against the bytes that remain (at the
 *      smallest possible element size) before any element memory is taken,
 *      and all memory comes from the request's arena, whose limit caps the
 *      total at a small multiple of the frame.
 *  (2) Decoding never reads outside the frame: the reader's errors are
 *      sticky and checked after each struct.
 */
#include "schema.h"
#include "../core/kp_error.h"

#include <string.h>

static size_t elem_size(uint8_t t, const kschema_t *sub)
{
    switch (t) {
    case KT_BOOL: case KT_INT8: return 1;
    case KT_INT16: return 2;
    case KT_INT32: return 4;
    case KT_INT64: return 8;
    case KT_FLOAT64: return sizeof(double);
    case KT_UUID: return sizeof(kuuid_t);
    case KT_STRING: return sizeof(kstr_t);
    case KT_BYTES: case KT_RECORDS: return sizeof(kbytes_t);
    case KT_ARRAY: return sizeof(karray_t);
    case KT_STRUCT: return sub->size;
    }
    return 0;
}

/* Fewest wire bytes one element can take, for the count check. */
static size_t min_wire(uint8_t t, const kschema_t *sub, int16_t v, bool flex)
{
    switch (t) {
    case KT_BOOL: case KT_INT8: return 1;
    case KT_INT16: return 2;
    case KT_INT32: return 4;
    case KT_INT64: case KT_FLOAT64: return 8;
    case KT_UUID: return 16;
    case KT_STRING: return flex ? 1 : 2;
    case KT_BYTES: case KT_RECORDS: case KT_ARRAY: return flex ? 1 : 4;
    case KT_STRUCT: {
        size_t n = flex ? 1 : 0;
        for (int i = 0; i < sub->nfields; i++) {
            const kfield_t *f = &sub->fields[i];
            if (v >= f->vmin && v <= f->vmax)
                n += min_wire(f->type, f->sub, v, flex);
        }
        return n;
    }
    }
    return 1;
}

static bool nullable(const kfield_t *f, int16_t v)
{
    return f->null_from >= 0 && v >= f->null_from;
}

static int decode_value(uint8_t t, const kfield_t *f, const kschema_t *sub, krd_t *r,
                        int16_t v, bool flex, arena_t *a, void *dst);

static int decode_array(const kfield_t *f, krd_t *r, int16_t v, bool flex, arena_t *a,
                        karray_t *out)
{
    int32_t n = krd_count(r, flex, nullable(f, v), min_wire(f->elem_type, f->sub, v, flex));
    if (r->err)
        return r->err;
    out->n = n;
    out->v = NULL;
    if (n <= 0)
        return 0;
    size_t es = elem_size(f->elem_type, f->sub);
    out->v = arena_alloc(a, es * (size_t)n);
    if (!out->v)
        return KP_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
        int rc = decode_value(f->elem_type, f, f->sub, r, v, flex, a, (char *)out->v + es * (size_t)i);
        if (rc)
            return rc;
    }
    return 0;
}

static int decode_value(uint8_t t, const kfield_t *f, const kschema_t *sub, krd_t *r,
                        int16_t v, bool flex, arena_t *a, void *dst)
{
    switch (t) {
    case KT_BOOL: *(bool *)dst = krd_i8(r) != 0; break;
    case KT_INT8: *(int8_t *)dst = krd_i8(r); break;
    case KT_INT16: *(int16_t *)dst = krd_i16(r); break;
    case KT_INT32: *(int32_t *)dst = krd_i32(r); break;
    case KT_INT64: *(int64_t *)dst = krd_i64(r); break;
    case KT_FLOAT64: *(double *)dst = krd_f64(r); break;
    case KT_UUID:
        if (krd_left(r) >= 16)
            memcpy(dst, r->p, 16);
        krd_skip(r, 16);
        break;
    case KT_STRING: *(kstr_t *)dst = krd_str(r, flex, f && t == f->type ? nullable(f, v) : false); break;
    case KT_BYTES: *(kbytes_t *)dst = krd_bytes(r, flex, f && t == f->type ? nullable(f, v) : false); break;
    case KT_RECORDS: *(kbytes_t *)dst = krd_bytes(r, flex, true); break;
    case KT_ARRAY: return decode_array(f, r, v, flex, a, dst);
    case KT_STRUCT: return schema_decode(sub, r, v, flex, a, dst);
    }
    return r->err;
}

int schema_decode(const kschema_t *s, krd_t *r, int16_t v, bool flex, arena_t *a, void *out)
{
    memset(out, 0, s->size);
    for (int i = 0; i < s->nfields; i++) {
        const kfield_t *f = &s->fields[i];
        void *dst = (char *)out + f->offset;
        if (v < f->vmin || v > f->vmax) {
            /* Absent in this version: the default, or a null string. */
            switch (f->type) {
            case KT_BOOL: *(bool *)dst = f->dflt != 0; break;
            case KT_INT8: *(int8_t *)dst = (int8_t)f->dflt; break;
            case KT_INT16: *(int16_t *)dst = (int16_t)f->dflt; break;
            case KT_INT32: *(int32_t *)dst = (int32_t)f->dflt; break;
            case KT_INT64: *(int64_t *)dst = f->dflt; break;
            case KT_STRING: *(kstr_t *)dst = KSTR_NULL; break;
            case KT_BYTES: case KT_RECORDS: ((kbytes_t *)dst)->len = -1; break;
            case KT_ARRAY: ((karray_t *)dst)->n = -1; break;
            default: break;
            }
            continue;
        }
        int rc = decode_value(f->type, f, f->sub, r, v, flex, a, dst);
        if (rc)
            return rc;
    }
    if (flex)
        krd_tags(r);
    return r->err;
}

static void encode_value(uint8_t t, const kfield_t *f, const kschema_t *sub, kwr_t *w,
                         int16_t v, bool flex, const void *src);

static void encode_array(const kfield_t *f, kwr_t *w, int16_t v, bool flex, const karray_t *a)
{
    int32_t n = a->n;
    if (n < 0 && !nullable(f, v))
        n = 0;                  /* a null where the version has none: empty */
    kwr_count(w, n, flex);
    size_t es = elem_size(f->elem_type, f->sub);
    for (int32_t i = 0; i < n; i++)
        encode_value(f->elem_type, f, f->sub, w, v, flex, (const char *)a->v + es * (size_t)i);
}

static void encode_value(uint8_t t, const kfield_t *f, const kschema_t *sub, kwr_t *w,
                         int16_t v, bool flex, const void *src)
{
    switch (t) {
    case KT_BOOL: kwr_i8(w, *(const bool *)src ? 1 : 0); break;
    case KT_INT8: kwr_i8(w, *(const int8_t *)src); break;
    case KT_INT16: {
        int16_t x = *(const int16_t *)src;
        /* Every Kafka response reports failures in fields of this name:
         * counting them here gives per-API error metrics for all APIs. */
        if (x && f && f->type == KT_INT16 && strcmp(f->name, "error_code") == 0)
            w->nerrors++;
        kwr_i16(w, x);
        break;
    }
    case KT_INT32: kwr_i32(w, *(const int32_t *)src); break;
    case KT_INT64: kwr_i64(w, *(const int64_t *)src); break;
    case KT_FLOAT64: kwr_f64(w, *(const double *)src); break;
    case KT_UUID: kwr_raw(w, src, 16); break;
    case KT_STRING: {
        kstr_t s = *(const kstr_t *)src;
        if (s.len < 0 && !(f && t == f->type && nullable(f, v)))
            s = (kstr_t){"", 0};
        kwr_str(w, s, flex);
        break;
    }
    case KT_BYTES: case KT_RECORDS: {
        kbytes_t b = *(const kbytes_t *)src;
        if (b.len < 0 && t == KT_BYTES && !(f && t == f->type && nullable(f, v)))
            b = (kbytes_t){NULL, 0};
        kwr_bytes(w, b, flex);
        break;
    }
    case KT_ARRAY: encode_array(f, w, v, flex, src); break;
    case KT_STRUCT: schema_encode(sub, w, v, flex, src); break;
    }
}

void schema_encode(const kschema_t *s, kwr_t *w, int16_t v, bool flex, const void *in)
{
    for (int i = 0; i < s->nfields; i++) {
        const kfield_t *f = &s->fields[i];
        if (v < f->vmin || v > f->vmax)
            continue;
        encode_value(f->type, f, f->sub, w, v, flex, (const char *)in + f->offset);
    }
    if (flex)
        kwr_tags(w);
}

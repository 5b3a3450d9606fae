/*
 * wire.c -- see wire.h.
 */
#include "wire.h"
#include "../core/kp_endian.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <stdio.h>
#include <string.h>

bool kstr_eq(kstr_t a, const char *s)
{
    size_t n = strlen(s);
    return a.len >= 0 && (size_t)a.len == n && memcmp(a.p, s, n) == 0;
}

char *kstr_copy(kstr_t s, char *buf, size_t cap)
{
    if (s.len < 0)
        snprintf(buf, cap, "%s", "");
    else
        snprintf(buf, cap, "%.*s", (int)s.len, s.p);
    return buf;
}

static bool need(krd_t *r, size_t n)
{
    if (r->err)
        return false;
    if (krd_left(r) < n) {
        r->err = KP_ECORRUPT;
        r->p = r->end;
        return false;
    }
    return true;
}

int8_t krd_i8(krd_t *r)
{
    if (!need(r, 1))
        return 0;
    return (int8_t)*r->p++;
}

int16_t krd_i16(krd_t *r)
{
    if (!need(r, 2))
        return 0;
    int16_t v = (int16_t)kp_be16(r->p);
    r->p += 2;
    return v;
}

int32_t krd_i32(krd_t *r)
{
    if (!need(r, 4))
        return 0;
    int32_t v = (int32_t)kp_be32(r->p);
    r->p += 4;
    return v;
}

int64_t krd_i64(krd_t *r)
{
    if (!need(r, 8))
        return 0;
    int64_t v = (int64_t)kp_be64(r->p);
    r->p += 8;
    return v;
}

double krd_f64(krd_t *r)
{
    uint64_t u = (uint64_t)krd_i64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

uint32_t krd_uvarint(krd_t *r)
{
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (!need(r, 1))
            return 0;
        uint8_t b = *r->p++;
        if (shift == 28 && (b & 0xf0)) {
            r->err = KP_ECORRUPT;
            return 0;
        }
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->err = KP_ECORRUPT;
    return 0;
}

/* A length: int16/int32 classic, or uvarint N+1 compact (0 = null). */
static int64_t read_len(krd_t *r, bool compact, bool wide)
{
    if (compact)
        return (int64_t)krd_uvarint(r) - 1;
    return wide ? krd_i32(r) : krd_i16(r);
}

kstr_t krd_str(krd_t *r, bool compact, bool nullable)
{
    kstr_t s = {NULL, -1};
    int64_t n = read_len(r, compact, false);
    if (r->err)
        return s;
    if (n < 0) {
        if (n != -1 || !nullable)
            r->err = KP_ECORRUPT;
        return s;
    }
    if (!need(r, (size_t)n))
        return s;
    s.p = (const char *)r->p;
    s.len = (int32_t)n;
    r->p += n;
    return s;
}

kbytes_t krd_bytes(krd_t *r, bool compact, bool nullable)
{
    kbytes_t b = {NULL, -1};
    int64_t n = read_len(r, compact, true);
    if (r->err)
        return b;
    if (n < 0) {
        if (n != -1 || !nullable)
            r->err = KP_ECORRUPT;
        return b;
    }
    if (!need(r, (size_t)n))
        return b;
    b.p = r->p;
    b.len = (int32_t)n;
    r->p += n;
    return b;
}

int32_t krd_count(krd_t *r, bool compact, bool nullable, size_t min_elem_bytes)
{
    int64_t n = read_len(r, compact, true);
    if (r->err)
        return 0;
    if (n < 0) {
        if (n != -1 || !nullable) {
            r->err = KP_ECORRUPT;
            return 0;
        }
        return -1;
    }
    /* Checked before anything is allocated for the elements. */
    if (min_elem_bytes == 0)
        min_elem_bytes = 1;
    if ((uint64_t)n > krd_left(r) / min_elem_bytes) {
        r->err = KP_ECORRUPT;
        return 0;
    }
    return (int32_t)n;
}

void krd_skip(krd_t *r, size_t n)
{
    if (need(r, n))
        r->p += n;
}

void krd_tags(krd_t *r)
{
    uint32_t n = krd_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)krd_uvarint(r);               /* tag */
        krd_skip(r, krd_uvarint(r));        /* size, data */
    }
}

/* ---- writer ---- */

void kwr_init(kwr_t *w)
{
    memset(w, 0, sizeof *w);
}

void kwr_free(kwr_t *w)
{
    kp_free(w->buf);
    memset(w, 0, sizeof *w);
}

uint8_t *kwr_reserve(kwr_t *w, size_t n)
{
    if (w->err)
        return NULL;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n)
            cap *= 2;
        uint8_t *b = kp_realloc(w->buf, cap);
        if (!b) {
            w->err = KP_ENOMEM;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void kwr_i8(kwr_t *w, int8_t v)
{
    uint8_t *p = kwr_reserve(w, 1);
    if (p)
        *p = (uint8_t)v;
}

void kwr_i16(kwr_t *w, int16_t v)
{
    uint8_t *p = kwr_reserve(w, 2);
    if (p)
        kp_put_be16(p, (uint16_t)v);
}

void kwr_i32(kwr_t *w, int32_t v)
{
    uint8_t *p = kwr_reserve(w, 4);
    if (p)
        kp_put_be32(p, (uint32_t)v);
}

void kwr_i64(kwr_t *w, int64_t v)
{
    uint8_t *p = kwr_reserve(w, 8);
    if (p)
        kp_put_be64(p, (uint64_t)v);
}

void kwr_f64(kwr_t *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    kwr_i64(w, (int64_t)u);
}

void kwr_uvarint(kwr_t *w, uint32_t v)
{
    while (v >= 0x80) {
        kwr_i8(w, (int8_t)(v | 0x80));
        v >>= 7;
    }
    kwr_i8(w, (int8_t)v);
}

void kwr_raw(kwr_t *w, const void *p, size_t n)
{
    uint8_t *d = kwr_reserve(w, n);
    if (d && n)
        memcpy(d, p, n);
}

void kwr_str(kwr_t *w, kstr_t s, bool compact)
{
    if (!compact && s.len > INT16_MAX) {
        w->err = KP_ETOOLARGE;      /* an int16 length cannot say it */
        return;
    }
    if (compact)
        kwr_uvarint(w, (uint32_t)(s.len + 1));
    else
        kwr_i16(w, (int16_t)s.len);
    if (s.len > 0)
        kwr_raw(w, s.p, (size_t)s.len);
}

void kwr_cstr(kwr_t *w, const char *s, bool compact)
{
    kwr_str(w, s ? (kstr_t){s, (int32_t)strlen(s)} : KSTR_NULL, compact);
}

const uint8_t kwr_file_mark[1];

void kwr_bytes(kwr_t *w, kbytes_t b, bool compact)
{
    if (compact)
        kwr_uvarint(w, (uint32_t)(b.len + 1));
    else
        kwr_i32(w, b.len);
    if (b.p == kwr_file_mark) {
        if (w->file_hook)
            w->file_hook(w->file_ctx);
        return;
    }
    if (b.len > 0)
        kwr_raw(w, b.p, (size_t)b.len);
}

void kwr_count(kwr_t *w, int32_t n, bool compact)
{
    if (compact)
        kwr_uvarint(w, (uint32_t)(n + 1));
    else
        kwr_i32(w, n);
}

void kwr_tags(kwr_t *w)
{
    kwr_uvarint(w, 0);
}

void kwr_patch_i32(kwr_t *w, size_t pos, int32_t v)
{
    if (!w->err && pos + 4 <= w->len)
        kp_put_be32(w->buf + pos, (uint32_t)v);
}

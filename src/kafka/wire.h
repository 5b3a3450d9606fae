/*
 * wire.h -- Kafka wire primitives: a bounds-checked reader over a received
 * frame and a growable writer for responses.
 *
 * The reader's error is sticky: after the first overrun or malformed value
 * every read returns zero and r->err stays set, so a decoder can read a
 * whole structure and check once.  Nothing here allocates from a length it
 * read; strings and byte fields point into the frame.
 *
 * Two varint encodings exist (PROTOCOL.md): flexible versions use unsigned
 * varints for lengths and tags; records use zigzag varints (records.h).
 */
#ifndef KP_WIRE_H
#define KP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kstr {
    const char *p;
    int32_t len;                /* -1: null */
} kstr_t;

typedef struct kbytes {
    const uint8_t *p;
    int32_t len;                /* -1: null */
} kbytes_t;

typedef struct karray {
    void *v;                    /* n elements of the field's element type */
    int32_t n;                  /* -1: null */
} karray_t;

typedef struct kuuid {
    uint8_t b[16];
} kuuid_t;

#define KSTR(s) ((kstr_t){(s), (int32_t)sizeof(s) - 1})
#define KSTR_NULL ((kstr_t){NULL, -1})
bool kstr_eq(kstr_t a, const char *s);
/* Copy into buf as a C string (truncating); returns buf. */
char *kstr_copy(kstr_t s, char *buf, size_t cap);

typedef struct krd {
    const uint8_t *p, *end;
    int err;                    /* 0, or KP_ECORRUPT once anything overran */
} krd_t;

static inline void krd_init(krd_t *r, const void *p, size_t n)
{
    r->p = p;
    r->end = n ? r->p + n : r->p;
    r->err = 0;
}
static inline size_t krd_left(const krd_t *r) { return (size_t)(r->end - r->p); }

int8_t krd_i8(krd_t *r);
int16_t krd_i16(krd_t *r);
int32_t krd_i32(krd_t *r);
int64_t krd_i64(krd_t *r);
double krd_f64(krd_t *r);
uint32_t krd_uvarint(krd_t *r);
kstr_t krd_str(krd_t *r, bool compact, bool nullable);
kbytes_t krd_bytes(krd_t *r, bool compact, bool nullable);
/* An array/collection count: -1 for null (if allowed), else 0..n where
 * n * min_elem_bytes fits in what remains. */
int32_t krd_count(krd_t *r, bool compact, bool nullable, size_t min_elem_bytes);
void krd_skip(krd_t *r, size_t n);
/* Skip a flexible version's tagged-field section. */
void krd_tags(krd_t *r);

typedef struct kwr {
    uint8_t *buf;
    size_t len, cap;
    int err;                    /* KP_ENOMEM once a grow failed */
    uint32_t nerrors;           /* non-zero error_code fields encoded (metrics) */
    /* Zero-copy: a bytes field whose pointer is kwr_file_mark gets only its
     * length prefix written; file_hook is then told the position where the
     * file range it stands for goes (see kreq_add_file in broker.h). */
    void (*file_hook)(void *ctx);
    void *file_ctx;
} kwr_t;

extern const uint8_t kwr_file_mark[1];

void kwr_init(kwr_t *w);
void kwr_free(kwr_t *w);
/* Reserve n bytes and return a pointer to them (NULL after an error). */
uint8_t *kwr_reserve(kwr_t *w, size_t n);
void kwr_i8(kwr_t *w, int8_t v);
void kwr_i16(kwr_t *w, int16_t v);
void kwr_i32(kwr_t *w, int32_t v);
void kwr_i64(kwr_t *w, int64_t v);
void kwr_f64(kwr_t *w, double v);
void kwr_uvarint(kwr_t *w, uint32_t v);
void kwr_raw(kwr_t *w, const void *p, size_t n);
void kwr_str(kwr_t *w, kstr_t s, bool compact);
void kwr_cstr(kwr_t *w, const char *s, bool compact);   /* NULL: null */
void kwr_bytes(kwr_t *w, kbytes_t b, bool compact);
void kwr_count(kwr_t *w, int32_t n, bool compact);      /* -1: null */
void kwr_tags(kwr_t *w);                                /* empty tag section */
/* Overwrite a big-endian int32 written earlier at position pos. */
void kwr_patch_i32(kwr_t *w, size_t pos, int32_t v);

#endif

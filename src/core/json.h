/*
 * json.h -- a JSON writer (a growable buffer with escaping) and a small DOM
 * parser, for the HTTP query API and the CLI that reads it.
 *
 * Writer: jbuf_* append to a kp_malloc'd buffer; an allocation failure sets
 * `err` and later appends do nothing, so a caller checks once at the end.
 * Strings are written from bytes: valid UTF-8 passes through, control
 * characters and invalid bytes are escaped (\u00XX), so any key or value
 * becomes a valid JSON string.
 *
 * Parser: json_parse() builds a tree the caller frees with json_free().  It
 * accepts RFC 8259 JSON only (no comments, no trailing commas), nests at
 * most JSON_DEPTH_MAX deep, and keeps numbers as their text so 64-bit
 * integers survive.
 */
#ifndef KP_JSON_H
#define KP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jbuf {
    char *buf;                  /* NUL-terminated when len > 0 and !err */
    size_t len, cap;
    bool err;                   /* an allocation failed */
} jbuf_t;

void jbuf_put(jbuf_t *b, const void *p, size_t n);
void jbuf_puts(jbuf_t *b, const char *s);
void jbuf_printf(jbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jbuf_i64(jbuf_t *b, int64_t v);
/* A quoted, escaped JSON string of n bytes. */
void jbuf_str(jbuf_t *b, const void *p, size_t n);
/* Take the buffer (caller kp_free()s it; NULL after an error). */
char *jbuf_take(jbuf_t *b, size_t *len);
void jbuf_reset(jbuf_t *b);     /* len = 0, keep the memory */
void jbuf_free(jbuf_t *b);

/* Is [p, p+n) valid UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
bool json_utf8_valid(const void *p, size_t n);

#define JSON_DEPTH_MAX 64

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_type_t;

typedef struct json {
    json_type_t type;
    bool b;                     /* JSON_BOOL */
    char *s;                    /* JSON_STR: decoded (NUL-terminated, may hold NULs);
                                   JSON_NUM: the number's text */
    size_t len;                 /* of s */
    int n;                      /* JSON_ARR / JSON_OBJ: number of items */
    struct json **items;
    char **keys;                /* JSON_OBJ: decoded keys */
} json_t;

/* Parse n bytes; NULL with a message in err on a syntax error or no memory. */
json_t *json_parse(const char *p, size_t n, char *err, size_t errcap);
void json_free(json_t *j);
/* The member `key` of an object, or NULL. */
const json_t *json_get(const json_t *obj, const char *key);

#endif

/*
 * fields.c -- reading fields of JSON and CSV values without building a
 * document: one forward scan per lookup, no allocation.
 *
 * Why not a DOM: a job reads two or three fields of each event; parsing the
 * whole object into a tree costs more than the job's own work (Nexmark q1
 * reads three fields of a ~200-byte object).  A lookup walks the whole
 * top-level object, to its closing brace, even after finding the field:
 * otherwise a value cut short ({"a":12 cut to {"a":1) would be read as a
 * different number.  Nested values are only bracket-matched.  Malformed
 * bytes make the lookup fail (-1); they are never read outside the value.
 */
#include "kappa.h"

#include <stdbool.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns the position after the closing quote, or
 * NULL.  *s and *n receive the raw contents. */
static const char *scan_string(const char *p, const char *end, const char **s, size_t *n)
{
    const char *q = ++p;
    while (q < end) {
        if (*q == '\\') {
            if (end - q < 2)
                return NULL;    /* not even a pointer past the end */
            q += 2;
            continue;
        }
        if (*q == '"') {
            *s = p;
            *n = (size_t)(q - p);
            return q + 1;
        }
        q++;
    }
    return NULL;
}

/* Skip one JSON value starting at p; NULL if malformed. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        const char *s;
        size_t n;
        return scan_string(p, end, &s, &n);
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                const char *s;
                size_t n;
                p = scan_string(p, end, &s, &n);
                if (!p)
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    /* number, true, false, null */
    const char *q = p;
    while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\t' &&
           *q != '\n' && *q != '\r')
        q++;
    return q > p ? q : NULL;
}

/*
 * Which value was last found to be a complete object, and for which record
 * (stream_record_epoch, bumped by the runtime whenever a new record enters
 * -- from Kafka, from a join buffer, from kappa_emit -- and before calls that
 * hand job code other bytes: results, joins, processors).  A job reads
 * several fields of one record, often across a filter and a map: the first
 * lookup walks the whole object to check it is complete, the others stop at
 * their field.  A record's bytes do not change while it flows, so the memo
 * is sound; a new record -- even in a buffer at the same address -- is
 * checked again.
 */
__thread uint64_t stream_record_epoch;
static __thread struct {
    const char *p;
    size_t len;
    uint64_t epoch;
} complete_memo;

/* Find a top-level field; *v and *vend bound its value.  The first of
 * duplicate keys wins; the object must be complete. */
static int json_find(const kappa_record_t *r, const char *field, const char **v,
                     const char **vend)
{
    if (!r->value)
        return -1;
    const char *p = r->value, *end = p + r->value_len;
    bool known_complete = complete_memo.p == p && complete_memo.len == r->value_len &&
                          complete_memo.epoch == stream_record_epoch && stream_record_epoch;
    size_t flen = strlen(field);
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    p++;
    bool found = false;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return -1;          /* also the empty object and a trailing comma */
        const char *k;
        size_t kn;
        p = scan_string(p, end, &k, &kn);
        if (!p)
            return -1;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        const char *ve = skip_value(p, end);
        if (!ve)
            return -1;
        if (!found && kn == flen && memcmp(k, field, flen) == 0) {
            *v = p;
            *vend = ve;
            found = true;
            if (known_complete)
                return 0;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}') {
            complete_memo.p = r->value;
            complete_memo.len = r->value_len;
            complete_memo.epoch = stream_record_epoch;
            return found ? 0 : -1;
        }
        return -1;
    }
}

static int parse_i64(const char *p, const char *end, int64_t *out)
{
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end)
        return -1;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int kappa_json_i64(const kappa_record_t *r, const char *field, int64_t *out)
{
    const char *v, *ve;
    if (json_find(r, field, &v, &ve) != 0)
        return -1;
    return parse_i64(v, ve, out);
}

int kappa_json_str(const kappa_record_t *r, const char *field, const char **s, size_t *len)
{
    const char *v, *ve;
    if (json_find(r, field, &v, &ve) != 0 || *v != '"' || ve - v < 2)
        return -1;
    *s = v + 1;
    *len = (size_t)(ve - v - 2);
    return 0;
}

int kappa_json_str_eq(const kappa_record_t *r, const char *field, const char *want)
{
    const char *s;
    size_t n;
    if (kappa_json_str(r, field, &s, &n) != 0)
        return 0;
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

int kappa_csv_field(const kappa_record_t *r, int col, const char **s, size_t *len)
{
    if (!r->value || col < 0)
        return -1;
    const char *p = r->value, *end = p + r->value_len;
    /* A trailing line ending is not part of the last field. */
    while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    for (int c = 0;; c++) {
        const char *fs, *fe, *next;
        if (p < end && *p == '"') {
            const char *q = p + 1;
            for (;;) {
                if (q >= end)
                    return -1;
                if (*q == '"') {
                    if (q + 1 < end && q[1] == '"') {
                        q += 2;
                        continue;
                    }
                    break;
                }
                q++;
            }
            fs = p + 1;
            fe = q;
            next = q + 1;
            if (next < end && *next != ',')
                return -1;
        } else {
            const char *q = memchr(p, ',', (size_t)(end - p));
            fs = p;
            fe = q ? q : end;
            next = fe;
        }
        if (c == col) {
            *s = fs;
            *len = (size_t)(fe - fs);
            return 0;
        }
        if (next >= end)
            return -1;
        p = next + 1;
    }
}

int kappa_csv_i64(const kappa_record_t *r, int col, int64_t *out)
{
    const char *s;
    size_t n;
    if (kappa_csv_field(r, col, &s, &n) != 0)
        return -1;
    return parse_i64(s, s + n, out);
}

/*
 * cut.c -- source tags (the kappa.src header) and cuts (see cut.h).
 *
 * A tag is written on every output record of a tagged runner, so encoding
 * is a few stores into the caller's buffer, no allocation.  A cut is small
 * (one entry per source partition) and kept sorted, so its text form is the
 * same whatever order it was built in -- a promote record written by one
 * process and read by another compares equal as text.
 *
 * Invariants:
 *  (1) cut_before is false for a partition the cut does not name: an input
 *      the cut knows nothing about is never counted as processed.
 *  (2) cut_parse accepts exactly what cut_format writes (and entries in any
 *      order), so format(parse(s)) is s for every formatted s.
 */
#include "jobs/cut.h"

#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cut_tag_encode(const cut_tag_t *tag, uint8_t *buf, size_t cap)
{
    if (!tag->topic || tag->topic_len == 0 || tag->topic_len > CUT_TOPIC_MAX ||
        cap < CUT_TAG_FIXED + tag->topic_len)
        return KP_EINVAL;
    kp_put_be32(buf, (uint32_t)tag->partition);
    kp_put_be64(buf + 4, (uint64_t)tag->offset);
    memcpy(buf + CUT_TAG_FIXED, tag->topic, tag->topic_len);
    return (int)(CUT_TAG_FIXED + tag->topic_len);
}

int cut_tag_decode(const void *p, size_t len, cut_tag_t *tag)
{
    const uint8_t *b = p;
    if (!p || len <= CUT_TAG_FIXED || len > CUT_TAG_MAX)
        return KP_ECORRUPT;
    tag->partition = (int32_t)kp_be32(b);
    tag->offset = (int64_t)kp_be64(b + 4);
    tag->topic = (const char *)b + CUT_TAG_FIXED;
    tag->topic_len = len - CUT_TAG_FIXED;
    if (tag->partition < 0 || tag->offset < 0)
        return KP_ECORRUPT;
    return 0;
}

void cut_free(cut_t *c)
{
    kp_free(c->e);
    memset(c, 0, sizeof *c);
}

/* Order of (topic[0..tlen), partition) against an entry. */
static int entry_cmp(const char *topic, size_t tlen, int32_t partition, const cut_entry_t *e)
{
    size_t el = strlen(e->topic);
    int r = memcmp(topic, e->topic, tlen < el ? tlen : el);
    if (r == 0 && tlen != el)
        r = tlen < el ? -1 : 1;
    if (r == 0 && partition != e->partition)
        r = partition < e->partition ? -1 : 1;
    return r;
}

/* Binary search: the index of the entry, or of where it would go. */
static size_t locate(const cut_t *c, const char *topic, size_t tlen, int32_t partition,
                     bool *found)
{
    size_t lo = 0, hi = c->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = entry_cmp(topic, tlen, partition, &c->e[mid]);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static bool topic_valid(const char *t, size_t len)
{
    if (len == 0 || len > CUT_TOPIC_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

int cut_set(cut_t *c, const char *topic, int32_t partition, int64_t offset)
{
    size_t tlen = strlen(topic);
    if (!topic_valid(topic, tlen) || partition < 0)
        return KP_EINVAL;
    bool found;
    size_t at = locate(c, topic, tlen, partition, &found);
    if (found) {
        c->e[at].offset = offset;
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        cut_entry_t *e = kp_realloc(c->e, cap * sizeof *e);
        if (!e)
            return KP_ENOMEM;
        c->e = e;
        c->cap = cap;
    }
    memmove(&c->e[at + 1], &c->e[at], (c->n - at) * sizeof *c->e);
    memcpy(c->e[at].topic, topic, tlen + 1);
    c->e[at].partition = partition;
    c->e[at].offset = offset;
    c->n++;
    return 0;
}

const cut_entry_t *cut_find(const cut_t *c, const char *topic, size_t tlen, int32_t partition)
{
    bool found;
    size_t at = locate(c, topic, tlen, partition, &found);
    return found ? &c->e[at] : NULL;
}

bool cut_before(const cut_t *c, const cut_tag_t *tag)
{
    const cut_entry_t *e = cut_find(c, tag->topic, tag->topic_len, tag->partition);
    return e && tag->offset < e->offset;
}

/* A decimal integer in [0, max] spanning exactly s[0..len). */
static bool parse_num(const char *s, size_t len, int64_t max, int64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (max - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int cut_parse(const char *s, cut_t *c, char *why, size_t cap)
{
    c->n = 0;
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        const char *colon = NULL;
        for (const char *q = eq ? eq : p; q > p; q--)
            if (q[-1] == ':') {
                colon = q - 1;
                break;
            }
        int64_t part, off;
        if (!eq || !colon || !topic_valid(p, (size_t)(colon - p)) ||
            !parse_num(colon + 1, (size_t)(eq - colon - 1), INT32_MAX, &part) ||
            !parse_num(eq + 1, (size_t)(p + len - eq - 1), INT64_MAX, &off)) {
            snprintf(why, cap, "cut entry '%.*s': expected TOPIC:PARTITION=OFFSET (offset >= 0)",
                     (int)(len > 300 ? 300 : len), p);
            return KP_EINVAL;
        }
        char topic[CUT_TOPIC_MAX + 1];
        memcpy(topic, p, (size_t)(colon - p));
        topic[colon - p] = '\0';
        if (cut_find(c, topic, (size_t)(colon - p), (int32_t)part)) {
            snprintf(why, cap, "cut names %s:%" PRId64 " twice", topic, part);
            return KP_EINVAL;
        }
        int rc = cut_set(c, topic, (int32_t)part, off);
        if (rc) {
            snprintf(why, cap, "out of memory");
            return rc;
        }
        if (!end)
            break;
        p = end + 1;
        if (!*p) {
            snprintf(why, cap, "cut ends with ','");
            return KP_EINVAL;
        }
    }
    return 0;
}

char *cut_format(const cut_t *c)
{
    size_t cap = 1;
    for (size_t i = 0; i < c->n; i++)
        cap += strlen(c->e[i].topic) + 34;
    char *s = kp_malloc(cap);
    if (!s)
        return NULL;
    size_t at = 0;
    s[0] = '\0';
    for (size_t i = 0; i < c->n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s%s:%" PRId32 "=%" PRId64, i ? "," : "",
                               c->e[i].topic, c->e[i].partition, c->e[i].offset);
    return s;
}

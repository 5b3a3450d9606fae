/*
 * json.c -- JSON writing and parsing (see json.h).
 *
 * The parser is recursive descent over a bounded depth, so hostile input
 * costs at most O(n) memory and JSON_DEPTH_MAX stack frames.
 */
#include "core/json.h"

#include "core/kp_mem.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool jbuf_grow(jbuf_t *b, size_t more)
{
    if (b->err)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *nb = kp_realloc(b->buf, cap);
    if (!nb) {
        b->err = true;
        return false;
    }
    b->buf = nb;
    b->cap = cap;
    return true;
}

void jbuf_put(jbuf_t *b, const void *p, size_t n)
{
    if (!jbuf_grow(b, n))
        return;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void jbuf_puts(jbuf_t *b, const char *s)
{
    jbuf_put(b, s, strlen(s));
}

void jbuf_printf(jbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !jbuf_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jbuf_i64(jbuf_t *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%" PRId64, v);
    jbuf_put(b, t, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool json_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

void jbuf_str(jbuf_t *b, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (!jbuf_grow(b, n + 2))
        return;
    b->buf[b->len++] = '"';
    size_t run = 0;             /* bytes [i - run, i) pass through as is */
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t l = c >= 0x20 && c != '"' && c != '\\' ? utf8_seq(s + i, n - i) : 0;
        if (l) {
            i += l;
            run += l;
            continue;
        }
        jbuf_put(b, s + i - run, run);
        run = 0;
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        jbuf_puts(b, esc);
        i++;
    }
    jbuf_put(b, s + n - run, run);
    jbuf_put(b, "\"", 1);
}

char *jbuf_take(jbuf_t *b, size_t *len)
{
    char *p = b->err ? NULL : b->buf;
    if (b->err)
        kp_free(b->buf);
    if (len)
        *len = p ? b->len : 0;
    *b = (jbuf_t){0};
    return p;
}

void jbuf_reset(jbuf_t *b)
{
    b->len = 0;
    b->err = false;
    if (b->buf)
        b->buf[0] = '\0';
}

void jbuf_free(jbuf_t *b)
{
    kp_free(b->buf);
    *b = (jbuf_t){0};
}

/* ---- parser ---------------------------------------------------------- */

typedef struct parser {
    const char *p, *end;
    char *err;
    size_t errcap;
    bool failed;
} parser_t;

static void perr(parser_t *ps, const char *what)
{
    if (!ps->failed && ps->err)
        snprintf(ps->err, ps->errcap, "%s", what);
    ps->failed = true;
}

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At an opening quote: decode into a new kp_malloc'd string. */
static char *parse_string(parser_t *ps, size_t *len)
{
    ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= ps->end) {
        perr(ps, "unterminated string");
        return NULL;
    }
    /* Decoding never grows the text. */
    char *out = kp_malloc((size_t)(q - ps->p) + 1);
    if (!out) {
        perr(ps, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while (ps->p < q) {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            perr(ps, "control character in a string");
            goto bad;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            ps->p++;
            continue;
        }
        char e = ps->p[1];
        ps->p += 2;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (q - ps->p < 4 || hex4(ps->p, &cp)) {
                perr(ps, "bad \\u escape");
                goto bad;
            }
            ps->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && q - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u' && hex4(ps->p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                ps->p += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;    /* a lone surrogate */
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            perr(ps, "bad escape in a string");
            goto bad;
        }
    }
    ps->p = q + 1;
    out[n] = '\0';
    *len = n;
    return out;
bad:
    kp_free(out);
    return NULL;
}

static json_t *parse_value(parser_t *ps, int depth);

static bool add_item(json_t *j, json_t *item, char *key)
{
    if ((j->n & (j->n - 1)) == 0) {    /* full at 0, 1, 2, 4, 8, ... */
        size_t cap = j->n ? (size_t)j->n * 2 : 1;
        json_t **ni = kp_realloc(j->items, cap * sizeof *ni);
        if (!ni)
            return false;
        j->items = ni;
        if (j->type == JSON_OBJ) {
            char **nk = kp_realloc(j->keys, cap * sizeof *nk);
            if (!nk)
                return false;
            j->keys = nk;
        }
    }
    j->items[j->n] = item;
    if (j->type == JSON_OBJ)
        j->keys[j->n] = key;
    j->n++;
    return true;
}

static json_t *parse_container(parser_t *ps, int depth, json_t *j)
{
    char close = j->type == JSON_ARR ? ']' : '}';
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return j;
    }
    for (;;) {
        char *key = NULL;
        size_t klen;
        skip_ws(ps);
        if (j->type == JSON_OBJ) {
            if (ps->p >= ps->end || *ps->p != '"') {
                perr(ps, "expected a member name");
                goto bad;
            }
            if (!(key = parse_string(ps, &klen)))
                goto bad;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                kp_free(key);
                perr(ps, "expected ':'");
                goto bad;
            }
            ps->p++;
        }
        json_t *v = parse_value(ps, depth + 1);
        if (!v || !add_item(j, v, key)) {
            if (v)
                perr(ps, "out of memory");
            json_free(v);
            kp_free(key);
            goto bad;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return j;
        }
        perr(ps, j->type == JSON_ARR ? "expected ',' or ']'" : "expected ',' or '}'");
        goto bad;
    }
bad:
    json_free(j);
    return NULL;
}

static json_t *parse_value(parser_t *ps, int depth)
{
    skip_ws(ps);
    if (depth > JSON_DEPTH_MAX) {
        perr(ps, "nested too deeply");
        return NULL;
    }
    if (ps->p >= ps->end) {
        perr(ps, "unexpected end of input");
        return NULL;
    }
    json_t *j = kp_calloc(1, sizeof *j);
    if (!j) {
        perr(ps, "out of memory");
        return NULL;
    }
    char c = *ps->p;
    size_t rest = (size_t)(ps->end - ps->p);
    if (c == '{' || c == '[') {
        j->type = c == '{' ? JSON_OBJ : JSON_ARR;
        return parse_container(ps, depth, j);
    } else if (c == '"') {
        j->type = JSON_STR;
        if (!(j->s = parse_string(ps, &j->len)))
            goto bad;
    } else if (rest >= 4 && memcmp(ps->p, "true", 4) == 0) {
        j->type = JSON_BOOL, j->b = true, ps->p += 4;
    } else if (rest >= 5 && memcmp(ps->p, "false", 5) == 0) {
        j->type = JSON_BOOL, ps->p += 5;
    } else if (rest >= 4 && memcmp(ps->p, "null", 4) == 0) {
        j->type = JSON_NULL, ps->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
        const char *s = ps->p, *q = s;
        if (*q == '-')
            q++;
        if (q < ps->end && *q == '0')
            q++;
        else if (q < ps->end && *q >= '1' && *q <= '9')
            while (q < ps->end && *q >= '0' && *q <= '9')
                q++;
        else
            goto badnum;
        if (q < ps->end && *q == '.') {
            q++;
            if (q >= ps->end || *q < '0' || *q > '9')
                goto badnum;
            while (q < ps->end && *q >= '0' && *q <= '9')
                q++;
        }
        if (q < ps->end && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < ps->end && (*q == '+' || *q == '-'))
                q++;
            if (q >= ps->end || *q < '0' || *q > '9')
                goto badnum;
            while (q < ps->end && *q >= '0' && *q <= '9')
                q++;
        }
        j->type = JSON_NUM;
        j->len = (size_t)(q - s);
        if (!(j->s = kp_malloc(j->len + 1))) {
            perr(ps, "out of memory");
            goto bad;
        }
        memcpy(j->s, s, j->len);
        j->s[j->len] = '\0';
        ps->p = q;
    } else {
        perr(ps, "unexpected character");
        goto bad;
    }
    return j;
badnum:
    perr(ps, "bad number");
bad:
    json_free(j);
    return NULL;
}

json_t *json_parse(const char *p, size_t n, char *err, size_t errcap)
{
    parser_t ps = {p, p + n, err, errcap, false};
    if (err && errcap)
        err[0] = '\0';
    json_t *j = parse_value(&ps, 0);
    if (!j)
        return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        perr(&ps, "trailing characters after the JSON value");
        json_free(j);
        return NULL;
    }
    return j;
}

void json_free(json_t *j)
{
    if (!j)
        return;
    for (int i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        if (j->keys)
            kp_free(j->keys[i]);
    }
    kp_free(j->items);
    kp_free(j->keys);
    kp_free(j->s);
    kp_free(j);
}

const json_t *json_get(const json_t *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJ)
        return NULL;
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

/*
 * test_stream_fields.c -- kappa_json_* and kappa_csv_* (src/stream/fields.c):
 * the field scanners jobs use on every event.
 *
 * Every value is copied into an allocation of exactly its length, with no
 * NUL after it, so that under `make SAN=address,undefined` a scanner that
 * reads one byte too far is a heap-buffer-overflow report, not luck.
 */
#include "test.h"
#include "kappa.h"
#include "stream/stream_int.h"

#include <stdlib.h>
#include <string.h>

/* A record whose value is exactly these n bytes (freed by rec_free). */
static kappa_record_t rec_n(const char *s, size_t n)
{
    kappa_record_t r = {0};
    char *v = malloc(n ? n : 1);
    memcpy(v, s, n);
    r.value = v;            /* a zero-length value is still a non-NULL pointer */
    r.value_len = n;
    return r;
}

static kappa_record_t rec(const char *s)
{
    return rec_n(s, strlen(s));
}

static void rec_free(kappa_record_t *r)
{
    free((void *)r->value);
}

/* kappa_json_i64 as one expression: returns 1 and sets *out on success. */
static int ji(const char *doc, const char *field, int64_t *out)
{
    kappa_record_t r = rec(doc);
    int rc = kappa_json_i64(&r, field, out);
    rec_free(&r);
    CHECK(rc == 0 || rc == -1);
    return rc == 0;
}

/* kappa_json_str into a static buffer ("" and 0 when missing). */
static int js(const char *doc, const char *field, char *out, size_t cap)
{
    kappa_record_t r = rec(doc);
    const char *s = NULL;
    size_t n = 0;
    int rc = kappa_json_str(&r, field, &s, &n);
    out[0] = 0;
    if (rc == 0) {
        const char *base = r.value;
        CHECK(s >= base && s + n <= base + r.value_len);
        CHECK(n < cap);
        memcpy(out, s, n);
        out[n] = 0;
    }
    rec_free(&r);
    CHECK(rc == 0 || rc == -1);
    return rc == 0;
}

static int jeq(const char *doc, const char *field, const char *want)
{
    kappa_record_t r = rec(doc);
    int rc = kappa_json_str_eq(&r, field, want);
    rec_free(&r);
    CHECK(rc == 0 || rc == 1);
    return rc;
}

#define CHECK_I64(doc, field, want) \
    do { int64_t _v = 7777; \
         if (!ji(doc, field, &_v) || _v != (int64_t)(want)) \
             test_fail(__FILE__, __LINE__, "%s in %s: got %s%lld, want %lld", field, doc, \
                       ji(doc, field, &_v) ? "" : "failure ", (long long)_v, \
                       (long long)(want)); } while (0)
#define CHECK_NO_I64(doc, field) \
    do { int64_t _v = 7777; \
         if (ji(doc, field, &_v)) \
             test_fail(__FILE__, __LINE__, "%s in %s: got %lld, want a failure", field, doc, \
                       (long long)_v); \
         CHECK_EQ_INT(_v, 7777); } while (0)
#define CHECK_STR(doc, field, want) \
    do { char _b[256]; \
         if (!js(doc, field, _b, sizeof _b) || strcmp(_b, want) != 0) \
             test_fail(__FILE__, __LINE__, "%s in %s: got '%s', want '%s'", field, doc, _b, \
                       want); } while (0)
#define CHECK_NO_STR(doc, field) \
    do { char _b[256]; \
         if (js(doc, field, _b, sizeof _b)) \
             test_fail(__FILE__, __LINE__, "%s in %s: got '%s', want a failure", field, doc, \
                       _b); } while (0)

/* ---- JSON ------------------------------------------------------------------ */

TEST(json_flat_object)
{
    const char *d = "{\"a\":1,\"b\":\"bid\",\"c\":-5,\"d\":true,\"e\":null,\"f\":\"\"}";
    CHECK_I64(d, "a", 1);
    CHECK_I64(d, "c", -5);
    CHECK_STR(d, "b", "bid");
    CHECK_STR(d, "f", "");
    CHECK(jeq(d, "b", "bid") == 1);
    CHECK(jeq(d, "b", "bi") == 0);          /* not a prefix match */
    CHECK(jeq(d, "b", "bids") == 0);
    CHECK(jeq(d, "f", "") == 1);
    CHECK(jeq(d, "a", "1") == 0);           /* a number is not a string */
    CHECK(jeq(d, "zz", "") == 0);
    /* Missing fields, and names that only share a prefix with a key. */
    CHECK_NO_I64(d, "zz");
    CHECK_NO_I64(d, "");
    CHECK_NO_I64("{\"ab\":1}", "a");
    CHECK_NO_I64("{\"a\":1}", "ab");
    CHECK_NO_STR(d, "zz");
    /* Wrong types. */
    CHECK_NO_I64(d, "b");                   /* string */
    CHECK_NO_I64(d, "d");                   /* true */
    CHECK_NO_I64(d, "e");                   /* null */
    CHECK_NO_I64("{\"a\":\"12\"}", "a");
    CHECK_NO_I64("{\"a\":{\"b\":1}}", "a");
    CHECK_NO_I64("{\"a\":[1]}", "a");
    CHECK_NO_STR(d, "a");
    CHECK_NO_STR(d, "d");
    CHECK_NO_STR(d, "e");
    CHECK_NO_STR("{\"a\":{\"b\":\"c\"}}", "a");
    CHECK_NO_STR("{\"a\":[\"c\"]}", "a");
    /* The empty object. */
    CHECK_NO_I64("{}", "a");
    CHECK_NO_I64("{ }", "a");
}

TEST(json_nested_values_are_skipped)
{
    /* Strings holding braces, brackets, commas, colons and escaped quotes,
     * inside objects inside arrays; the field after them must be found and
     * keys inside nested objects must not be. */
    const char *d =
        "{\"o\":{\"t\":1,\"s\":\"}]\\\"{[,:\",\"a\":[1,{\"t\":2},[\"]\",\"}\"]]},"
        "\"q\":\"a\\\"b}\\\\\","
        "\"arr\":[[],{},[[[]]],{\"x\":{\"y\":{}}}],"
        "\"k\":\"t\","
        "\"esc\\\"key\":9,"
        "\"t\":42}";
    CHECK_I64(d, "t", 42);
    CHECK_STR(d, "q", "a\\\"b}\\\\");       /* raw bytes, escapes not decoded */
    CHECK_STR(d, "k", "t");
    CHECK_I64(d, "esc\\\"key", 9);          /* keys compare raw too */
    CHECK_NO_I64(d, "esc\"key");
    CHECK_NO_I64(d, "x");
    CHECK_NO_I64(d, "y");
    CHECK_NO_I64(d, "s");
    /* A nested key of the same name comes first: the top-level one wins. */
    CHECK_I64("{\"o\":{\"t\":1},\"t\":2}", "t", 2);
    CHECK_NO_I64("{\"o\":{\"t\":1}}", "t");
    CHECK_NO_I64("{\"o\":[{\"t\":1}]}", "t");
    /* A backslash right before the closing quote of a string. */
    CHECK_STR("{\"p\":\"c:\\\\\",\"n\":3}", "p", "c:\\\\");
    CHECK_I64("{\"p\":\"c:\\\\\",\"n\":3}", "n", 3);
    /* Multi-byte UTF-8 passes through as bytes. */
    CHECK_STR("{\"name\":\"Zo\xc3\xab\",\"n\":1}", "name", "Zo\xc3\xab");
}

TEST(json_whitespace_everywhere)
{
    const char *d = " \t\r\n{ \n \"a\" \t : \r\n 12 \n , \"b\" :\"x\" , \"c\"\n:\n{ \"z\" : [ 1 , 2 ] }\n"
                    " , \"d\" : -3\t}\n ";
    CHECK_I64(d, "a", 12);
    CHECK_STR(d, "b", "x");
    CHECK_I64(d, "d", -3);
    CHECK_NO_I64(d, "c");
    CHECK_NO_I64(d, "z");
}

TEST(json_integers)
{
    CHECK_I64("{\"v\":0}", "v", 0);
    CHECK_I64("{\"v\":-0}", "v", 0);
    CHECK_I64("{\"v\":9223372036854775807}", "v", INT64_MAX);
    CHECK_I64("{\"v\":-9223372036854775808}", "v", INT64_MIN);
    CHECK_I64("{\"v\":1700000000123}", "v", 1700000000123LL);
    CHECK_NO_I64("{\"v\":9223372036854775808}", "v");       /* max + 1 */
    CHECK_NO_I64("{\"v\":-9223372036854775809}", "v");      /* min - 1 */
    CHECK_NO_I64("{\"v\":18446744073709551615}", "v");      /* u64 max */
    CHECK_NO_I64("{\"v\":18446744073709551616}", "v");      /* u64 max + 1 */
    CHECK_NO_I64("{\"v\":99999999999999999999999}", "v");
    CHECK_NO_I64("{\"v\":+1}", "v");                        /* not JSON */
    CHECK_NO_I64("{\"v\":1.5}", "v");
    CHECK_NO_I64("{\"v\":1.0}", "v");
    CHECK_NO_I64("{\"v\":1e3}", "v");
    CHECK_NO_I64("{\"v\":1E3}", "v");
    CHECK_NO_I64("{\"v\":-}", "v");
    CHECK_NO_I64("{\"v\":--1}", "v");
    CHECK_NO_I64("{\"v\":1-}", "v");
    CHECK_NO_I64("{\"v\":0x10}", "v");
    CHECK_NO_I64("{\"v\":}", "v");
    CHECK_NO_I64("{\"v\":,\"w\":1}", "v");
    CHECK_NO_I64("{\"v\":12abc}", "v");
}

TEST(json_not_an_object)
{
    CHECK_NO_I64("", "a");
    CHECK_NO_I64("   ", "a");
    CHECK_NO_I64("[{\"a\":1}]", "a");
    CHECK_NO_I64("\"{\\\"a\\\":1}\"", "a");
    CHECK_NO_I64("1", "a");
    CHECK_NO_I64("null", "a");
    CHECK_NO_I64("a=1", "a");
    CHECK_NO_STR("[\"a\",\"b\"]", "a");
    /* NULL value (a tombstone). */
    kappa_record_t r = {0};
    int64_t v = 5;
    const char *s = NULL;
    size_t n = 0;
    CHECK_EQ_INT(kappa_json_i64(&r, "a", &v), -1);
    CHECK_EQ_INT(v, 5);
    CHECK_EQ_INT(kappa_json_str(&r, "a", &s, &n), -1);
    CHECK_EQ_INT(kappa_json_str_eq(&r, "a", ""), 0);
    CHECK_EQ_INT(kappa_csv_field(&r, 0, &s, &n), -1);
    CHECK_EQ_INT(kappa_csv_i64(&r, 0, &v), -1);
    /* A NULL value with a length (a confused caller) is still refused. */
    r.value_len = 10;
    CHECK_EQ_INT(kappa_json_i64(&r, "a", &v), -1);
}

TEST(json_malformed_objects)
{
    CHECK_NO_I64("{\"a\" 1}", "a");                 /* no colon */
    CHECK_NO_I64("{a:1}", "a");                     /* bare key */
    CHECK_NO_I64("{'a':1}", "a");
    CHECK_NO_I64("{\"a\":1 \"b\":2}", "b");         /* no comma */
    CHECK_NO_I64("{\"a\":1,,\"b\":2}", "b");
    CHECK_NO_I64("{,\"b\":2}", "b");
    CHECK_NO_I64("{\"a\":{\"x\":1,\"b\":2}", "b");  /* unclosed nested object */
    CHECK_NO_I64("{\"a\":\"unterminated,\"b\":2}", "b");
    CHECK_NO_STR("{\"a\":\"x\"y}", "a");            /* junk after a string */
    CHECK_NO_I64("{\"a\":1}", "a\"");
}

/* Every proper prefix of a document is not a complete object: every lookup
 * fails, and nothing is read past the end (ASan). */
TEST(json_truncated_at_every_length)
{
    static const char *docs[] = {
        "{\"a\":123,\"b\":\"xyz\",\"c\":-9}",
        "{\"o\":{\"t\":\"}\\\"\",\"u\":[1,[2]]},\"t\":7,\"s\":\"\\\\\"}",
        " { \"a\" : 1 , \"b\" : \"\\\"\" } ",
        ("{\"event_type\":\"bid\",\"auction\":1000,\"bidder\":2001,\"price\":54,"
         "\"date_time\":1700000000000,\"extra\":\"abcdefghij\"}"),
    };
    static const char *fields[] = {"a", "b", "c", "o", "t", "s", "u", "event_type", "auction",
                                   "price", "date_time", "extra", "missing"};
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        size_t len = strlen(docs[d]);
        /* The whole document still answers (at least one field). */
        int found = 0;
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            kappa_record_t r = rec_n(docs[d], len);
            int64_t v;
            const char *s;
            size_t n;
            found += kappa_json_i64(&r, fields[f], &v) == 0;
            found += kappa_json_str(&r, fields[f], &s, &n) == 0;
            rec_free(&r);
        }
        CHECK(found >= 2);
        /* Cut before the closing brace (trailing spaces do not count). */
        size_t end = len;
        while (end > 0 && docs[d][end - 1] == ' ')
            end--;
        for (size_t cut = 0; cut < end; cut++) {
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
                kappa_record_t r = rec_n(docs[d], cut);
                int64_t v = 7777;
                const char *s = NULL;
                size_t n = 0;
                int ri = kappa_json_i64(&r, fields[f], &v);
                int rs = kappa_json_str(&r, fields[f], &s, &n);
                int re = kappa_json_str_eq(&r, fields[f], "bid");
                rec_free(&r);
                if (ri != -1 || rs != -1 || re != 0)
                    test_fail(__FILE__, __LINE__,
                              "doc %zu cut at %zu, field %s: i64 %d (%lld), str %d (%.*s), "
                              "str_eq %d; want failures", d, cut, fields[f], ri, (long long)v,
                              rs, rs == 0 ? (int)n : 0, rs == 0 ? s : "", re);
            }
        }
    }
}

/* ---- CSV ------------------------------------------------------------------ */

static int cf(const char *line, int col, char *out, size_t cap)
{
    kappa_record_t r = rec(line);
    const char *s = NULL;
    size_t n = 0;
    int rc = kappa_csv_field(&r, col, &s, &n);
    out[0] = 0;
    if (rc == 0) {
        const char *base = r.value;
        CHECK(s >= base && s + n <= base + r.value_len);
        CHECK(n < cap);
        memcpy(out, s, n);
        out[n] = 0;
    }
    rec_free(&r);
    CHECK(rc == 0 || rc == -1);
    return rc == 0;
}

#define CHECK_CSV(line, col, want) \
    do { char _b[256]; \
         if (!cf(line, col, _b, sizeof _b) || strcmp(_b, want) != 0) \
             test_fail(__FILE__, __LINE__, "column %d of %s: got '%s', want '%s'", col, \
                       #line, _b, want); } while (0)
#define CHECK_NO_CSV(line, col) \
    do { char _b[256]; \
         if (cf(line, col, _b, sizeof _b)) \
             test_fail(__FILE__, __LINE__, "column %d of %s: got '%s', want a failure", col, \
                       #line, _b); } while (0)

TEST(csv_fields)
{
    CHECK_CSV("a,bb,ccc", 0, "a");
    CHECK_CSV("a,bb,ccc", 1, "bb");
    CHECK_CSV("a,bb,ccc", 2, "ccc");
    CHECK_NO_CSV("a,bb,ccc", 3);
    CHECK_NO_CSV("a,bb,ccc", -1);
    CHECK_NO_CSV("a,bb,ccc", 1000000);
    /* Quoted fields: commas inside, doubled quotes kept as they are. */
    const char *q = "\"x,y\",\"he said \"\"hi\"\"\",z,\"\",\"\"\"\"";
    CHECK_CSV(q, 0, "x,y");
    CHECK_CSV(q, 1, "he said \"\"hi\"\"");
    CHECK_CSV(q, 2, "z");
    CHECK_CSV(q, 3, "");
    CHECK_CSV(q, 4, "\"\"");
    CHECK_NO_CSV(q, 5);
    /* A quoted field with a line break inside. */
    CHECK_CSV("\"two\nlines\",b", 0, "two\nlines");
    CHECK_CSV("\"two\nlines\",b", 1, "b");
    /* Empty fields anywhere. */
    CHECK_CSV(",a,,", 0, "");
    CHECK_CSV(",a,,", 1, "a");
    CHECK_CSV(",a,,", 2, "");
    CHECK_CSV(",a,,", 3, "");
    CHECK_NO_CSV(",a,,", 4);
    CHECK_CSV("", 0, "");
    CHECK_NO_CSV("", 1);
    CHECK_CSV(",", 1, "");
    /* A trailing line ending is not part of the last field. */
    CHECK_CSV("a,b\n", 1, "b");
    CHECK_CSV("a,b\r\n", 1, "b");
    CHECK_CSV("a,\"b\"\r\n", 1, "b");
    CHECK_NO_CSV("a,b\r\n", 2);
    CHECK_CSV("a,\r\n", 1, "");
    CHECK_CSV("\r\n", 0, "");
    /* Unterminated quotes and junk after a closing quote. */
    CHECK_NO_CSV("\"abc", 0);
    CHECK_NO_CSV("a,\"b,c", 1);
    CHECK_NO_CSV("a,\"b,c", 2);
    CHECK_NO_CSV("\"a\"b,c", 0);
    CHECK_NO_CSV("\"a\"b,c", 1);
    CHECK_NO_CSV("\"a\"\"", 0);
    CHECK_NO_CSV("\"", 0);
    /* A quote inside an unquoted field is an ordinary byte. */
    CHECK_CSV("a\"b,c", 0, "a\"b");
    CHECK_CSV("a\"b,c", 1, "c");
}

TEST(csv_integers)
{
    const char *l = "1,-9223372036854775808,9223372036854775807,9223372036854775808,+1,1.5, 2,"
                    "\"3\",,-0,-9223372036854775809,x\r\n";
    int64_t v;
    kappa_record_t r = rec(l);
    CHECK_EQ_INT(kappa_csv_i64(&r, 0, &v), 0);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(kappa_csv_i64(&r, 1, &v), 0);
    CHECK(v == INT64_MIN);
    CHECK_EQ_INT(kappa_csv_i64(&r, 2, &v), 0);
    CHECK(v == INT64_MAX);
    v = 7777;
    CHECK_EQ_INT(kappa_csv_i64(&r, 3, &v), -1);     /* max + 1 */
    CHECK_EQ_INT(kappa_csv_i64(&r, 4, &v), -1);     /* leading + */
    CHECK_EQ_INT(kappa_csv_i64(&r, 5, &v), -1);     /* float */
    CHECK_EQ_INT(kappa_csv_i64(&r, 6, &v), -1);     /* leading space */
    CHECK_EQ_INT(v, 7777);
    CHECK_EQ_INT(kappa_csv_i64(&r, 7, &v), 0);      /* quoted digits */
    CHECK_EQ_INT(v, 3);
    CHECK_EQ_INT(kappa_csv_i64(&r, 8, &v), -1);     /* empty */
    CHECK_EQ_INT(kappa_csv_i64(&r, 9, &v), 0);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(kappa_csv_i64(&r, 10, &v), -1);    /* min - 1 */
    CHECK_EQ_INT(kappa_csv_i64(&r, 11, &v), -1);
    CHECK_EQ_INT(kappa_csv_i64(&r, 12, &v), -1);    /* no such column */
    rec_free(&r);
}

/* Every prefix of a few lines, every column: nothing outside the value is
 * returned or read (ASan), and a field that is complete in the prefix
 * comes back unchanged. */
TEST(csv_truncated_at_every_length)
{
    static const char *lines[] = {
        "a,\"b,\"\"c\",,\"\",d\r\n",
        "\"quoted \"\"all\"\" the way\",\"x\",\"\"\n",
        "1700000000000,bid,1000,2001,54\n",
    };
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        size_t len = strlen(lines[l]);
        for (size_t cut = 0; cut <= len; cut++)
            for (int col = 0; col < 7; col++) {
                kappa_record_t r = rec_n(lines[l], cut);
                const char *s = NULL;
                size_t n = 0;
                int64_t v;
                int rc = kappa_csv_field(&r, col, &s, &n);
                (void)kappa_csv_i64(&r, col, &v);
                if (rc == 0) {
                    const char *base = r.value;
                    CHECK(s >= base && s + n <= base + cut);
                }
                rec_free(&r);
            }
    }
    /* A complete field before the cut is found whatever follows. */
    char b[64];
    CHECK(cf("1700000000000,bid,10", 1, b, sizeof b) && strcmp(b, "bid") == 0);
    CHECK(cf("1700000000000,bid,10", 2, b, sizeof b) && strcmp(b, "10") == 0);
    CHECK(!cf("x,\"b,\"\"c", 1, b, sizeof b));
}

/* The "already checked" memo holds only within one operator call: the same
 * buffer, rewritten into a truncated object of the same length, is checked
 * again once the runtime moves to the next call. */
static void test_json_memo_is_per_call(void)
{
    char buf[] = "{\"a\":12,\"b\":3}";
    kappa_record_t r = {0};
    r.value = buf;
    r.value_len = strlen(buf);
    int64_t v;
    stream_record_epoch = 41;
    CHECK(kappa_json_i64(&r, "b", &v) == 0 && v == 3);     /* walks it all: complete */
    CHECK(kappa_json_i64(&r, "a", &v) == 0 && v == 12);    /* memo: stops at "a" */
    memcpy(buf, "{\"a\":12,\"b\":3 ", r.value_len);       /* no closing brace now */
    stream_record_epoch = 42;                               /* the next call */
    CHECK(kappa_json_i64(&r, "a", &v) == -1);
    stream_record_epoch = 0;
}

int main(void)
{
    RUN(json_flat_object);
    RUN(json_nested_values_are_skipped);
    RUN(json_whitespace_everywhere);
    RUN(json_integers);
    RUN(json_not_an_object);
    RUN(json_malformed_objects);
    RUN(json_truncated_at_every_length);
    RUN(json_memo_is_per_call);
    RUN(csv_fields);
    RUN(csv_integers);
    RUN(csv_truncated_at_every_length);
    return test_summary();
}

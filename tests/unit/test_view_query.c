/*
 * test_view_query.c -- the read side of the view store (view/query.c) on a
 * database built here with the schema of view/store.h, and the JSON
 * writer/parser (core/json.c) the query API and the CLI use.
 */
#include "test.h"
#include "core/json.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "view/query.h"
#include "view/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dbpath[512];

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, err);
}

/* view t: version 1 with text keys a, b, c (c deleted), a BLOB key, keys
 * starting with 0xff bytes, and n generated rows g0000.. */
static void make_db(int n)
{
    snprintf(dbpath, sizeof dbpath, "%s/v.db", test_tmpdir("viewq"));
    sqlite3 *db;
    CHECK(sqlite3_open(dbpath, &db) == SQLITE_OK);
    exec(db, "PRAGMA journal_mode=WAL;"
             "CREATE TABLE kappa_meta(key TEXT PRIMARY KEY, value TEXT);"
             "INSERT INTO kappa_meta VALUES('schema','1');"
             "CREATE TABLE kappa_views(view TEXT, version INTEGER, job TEXT, topic TEXT,"
             " created_ms INTEGER, PRIMARY KEY(view, version));"
             "CREATE TABLE kappa_aliases(view TEXT PRIMARY KEY, version INTEGER, updated_ms INTEGER);"
             "CREATE TABLE kappa_offsets(view TEXT, version INTEGER, topic TEXT, partition INTEGER,"
             " next_offset INTEGER, applied INTEGER, high_watermark INTEGER, last_ts INTEGER,"
             " committed_ms INTEGER, PRIMARY KEY(view, version, topic, partition));"
             "CREATE TABLE \"t@v1\"(key PRIMARY KEY, value, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
             " src_partition INTEGER NOT NULL, src_offset INTEGER NOT NULL) WITHOUT ROWID;"
             "CREATE UNIQUE INDEX \"t@v1$seq\" ON \"t@v1\"(seq);"
             "INSERT INTO kappa_views VALUES('t', 1, 'j', '__kappa_view.t.v1', 1);"
             "INSERT INTO kappa_aliases VALUES('t', 1, 1);"
             "CREATE VIEW t AS SELECT key, value, ts FROM \"t@v1\" WHERE value IS NOT NULL;"
             "INSERT INTO kappa_offsets VALUES('t', 1, '__kappa_view.t.v1', 0, 10, 10, 15, 500, 600);"
             "INSERT INTO kappa_offsets VALUES('t', 1, '__kappa_view.t.v1', 1, 7, 7, 9, 700, 600);"
             "INSERT INTO \"t@v1\" VALUES('a', '{\"x\":1}', 1, 100, 0, 0);"
             "INSERT INTO \"t@v1\" VALUES('b', 'not json', 2, 101, 0, 1);"
             "INSERT INTO \"t@v1\" VALUES('c', NULL, 3, 102, 0, 2);"
             "INSERT INTO \"t@v1\" VALUES(x'ff00', '1', 4, 103, 0, 3);"
             "INSERT INTO \"t@v1\" VALUES(CAST(x'c3bf' AS TEXT), '2', 5, 104, 0, 4);"
             "INSERT INTO \"t@v1\" VALUES('q\"uote', '\"s\"', 6, 105, 0, 5);");
    char sql[256];
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO \"t@v1\" VALUES('g%04d', '%d', %d, %d, 0, %d)", i,
                 i, 7 + i, 200 + i, 6 + i);
        exec(db, sql);
    }
    sqlite3_close(db);
}

TEST(json_parse_and_write)
{
    char err[128];
    const char *doc = "{\"sql\":\"SELECT \\\"a\\\" \\u00e9\\ud83d\\ude00\",\"n\":[1,-2.5e3,true,null],"
                      "\"o\":{}}";
    json_t *j = json_parse(doc, strlen(doc), err, sizeof err);
    CHECK(j);
    const json_t *s = json_get(j, "sql");
    CHECK(s && s->type == JSON_STR);
    CHECK(strcmp(s->s, "SELECT \"a\" \xc3\xa9\xf0\x9f\x98\x80") == 0);
    const json_t *n = json_get(j, "n");
    CHECK(n && n->type == JSON_ARR && n->n == 4);
    CHECK(strcmp(n->items[1]->s, "-2.5e3") == 0);
    CHECK(n->items[2]->type == JSON_BOOL && n->items[2]->b);
    CHECK(n->items[3]->type == JSON_NULL);
    CHECK(json_get(j, "o")->type == JSON_OBJ && !json_get(j, "missing"));
    json_free(j);
    const char *bad[] = {"{\"sql\":", "[1,]", "{'a':1}", "01", "\"\x01\"", "[1] x", "", "-",
                         "\"\\x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        if (j)
            test_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
        CHECK(err[0]);
    }
    char deep[200];
    memset(deep, '[', sizeof deep);
    CHECK(!json_parse(deep, sizeof deep, err, sizeof err));
    CHECK(strstr(err, "deep"));

    jbuf_t b = {0};
    jbuf_str(&b, "a\"\\\n\x01\xff\xc3\xa9", 8);
    CHECK(strcmp(b.buf, "\"a\\\"\\\\\\n\\u0001\\u00ff\xc3\xa9\"") == 0);
    jbuf_free(&b);
    CHECK(json_utf8_valid("\xc3\xa9", 2) && !json_utf8_valid("\xc0\x80", 2) &&
          !json_utf8_valid("\xed\xa0\x80", 3));
}

TEST(lookup_scan_list)
{
    make_db(250);
    query_t *q;
    CHECK_OK(query_open(dbpath, 1000, &q));
    query_reader_t *r = query_reader_get(q);
    jbuf_t b = {0};
    char err[256];
    CHECK_OK(query_get(r, "t", "a", 1, &b, err, sizeof err));
    CHECK(strcmp(b.buf, "{\"view\":\"t\",\"version\":1,\"key\":\"a\",\"value\":{\"x\":1},\"ts\":100}\n") == 0);
    jbuf_reset(&b);
    CHECK_OK(query_get(r, "t@v1", "b", 1, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"value\":\"not json\""));
    jbuf_reset(&b);
    CHECK_EQ_INT(query_get(r, "t", "c", 1, &b, err, sizeof err), KP_ENOTFOUND);
    CHECK_EQ_INT(query_get(r, "t@v2", "a", 1, &b, err, sizeof err), KP_ENOTFOUND);
    CHECK(strcmp(err, "view 't' has no version 2") == 0);
    CHECK_EQ_INT(query_get(r, "t@2", "a", 1, &b, err, sizeof err), KP_EINVAL);
    CHECK_EQ_INT(query_get(r, "9t", "a", 1, &b, err, sizeof err), KP_EINVAL);
    /* A key that is not UTF-8 is a BLOB in the store. */
    jbuf_reset(&b);
    CHECK_OK(query_get(r, "t", "\xff\x00", 2, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"key\":\"\\u00ff\\u0000\""));
    jbuf_reset(&b);
    CHECK_OK(query_scan(r, "t", "g01", NULL, 5, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"rows\":[{\"key\":\"g0100\",\"value\":100,\"ts\":300},"));
    CHECK(strstr(b.buf, "],\"next\":\"g0104\"}\n"));
    jbuf_reset(&b);
    CHECK_OK(query_scan(r, "t", "g01", "g0197", 5, &b, err, sizeof err));
    CHECK(strstr(b.buf, "{\"key\":\"g0198\"") && strstr(b.buf, "{\"key\":\"g0199\"") &&
          strstr(b.buf, "\"next\":null") && !strstr(b.buf, "g0200"));
    /* A prefix whose last byte is 0xff: the range end drops it. */
    jbuf_reset(&b);
    CHECK_OK(query_scan(r, "t", "\xc3\xbf", NULL, 10, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"rows\":[{\"key\":\"\xc3\xbf\",\"value\":2,\"ts\":104}],\"next\":null"));
    /* A key that needs escaping survives as next. */
    jbuf_reset(&b);
    CHECK_OK(query_scan(r, "t", "q", NULL, 1, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"next\":null"));
    jbuf_reset(&b);
    CHECK_OK(query_scan(r, "t", "", "g0249", 1, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"key\":\"q\\\"uote\",\"value\":\"s\"") && strstr(b.buf, "\"next\":\"q\\\"uote\""));
    jbuf_reset(&b);
    CHECK_EQ_INT(query_scan(r, "t", "", NULL, 0, &b, err, sizeof err), KP_EINVAL);
    jbuf_reset(&b);
    CHECK_OK(query_views(r, 1700, &b, err, sizeof err));
    CHECK(strstr(b.buf, "{\"views\":[{\"view\":\"t\",\"alias\":1,\"versions\":[{\"version\":1,"
                        "\"table\":\"t@v1\",\"topic\":\"__kappa_view.t.v1\",\"job\":\"j\","
                        "\"created_ms\":1,\"rows\":255,\"lag\":7,\"freshness_ms\":1000,"
                        "\"last_ts\":700,\"committed_ms\":600,"));
    jbuf_free(&b);
    query_reader_put(r);
    query_close(q);
    test_rmtree(test_tmpdir("viewq"));
}

TEST(changes_and_sql)
{
    make_db(1000);
    query_t *q;
    CHECK_OK(query_open(dbpath, 300, &q));
    query_reader_t *r = query_reader_get(q);
    jbuf_t b = {0};
    char err[256];
    query_changes_t *c;
    CHECK_OK(query_changes_open(r, "t", 2, &c, err, sizeof err));
    CHECK_EQ_INT(query_changes_next(c, &b, 2), 2);
    CHECK(strcmp(b.buf, "{\"seq\":2,\"key\":\"b\",\"value\":\"not json\",\"ts\":101}\n"
                        "{\"seq\":3,\"key\":\"c\",\"value\":null,\"ts\":102}\n") == 0);
    jbuf_reset(&b);
    CHECK_EQ_INT(query_changes_next(c, &b, 10000), 1003);
    CHECK_EQ_INT(query_changes_next(c, &b, 10), 0);
    query_changes_close(c);
    CHECK_OK(query_changes_open(r, "t", -1, &c, err, sizeof err));
    CHECK_EQ_INT(query_changes_next(c, &b, 10), 0);
    query_changes_close(c);

    /* Streamed in small pieces, the rows still form one JSON document. */
    query_sql_t *s;
    jbuf_reset(&b);
    const char *sql = "SELECT key, value, ts FROM t WHERE key >= 'g' AND key < 'h' ORDER BY key";
    CHECK_OK(query_sql_start(r, sql, strlen(sql), &s, &b, err, sizeof err));
    int calls = 0;
    while (query_sql_next(s, &b, b.len + 100) == 1)
        calls++;
    query_sql_end(s);
    CHECK(calls > 100);
    json_t *j = json_parse(b.buf, b.len, err, sizeof err);
    CHECK(j && json_get(j, "rows")->n == 1000 && !json_get(j, "error"));
    CHECK(strcmp(json_get(j, "rows")->items[999]->items[0]->s, "g0999") == 0);
    json_free(j);

    const char *refused[] = {"PRAGMA user_version = 3", "ATTACH 'x.db' AS x", "DETACH main",
                             "SAVEPOINT a", "COMMIT", "UPDATE \"t@v1\" SET ts = 0",
                             "CREATE TEMP TABLE z(x)", "SELECT 1; DELETE FROM \"t@v1\"",
                             "VACUUM", "REINDEX", "ANALYZE"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        jbuf_reset(&b);
        int rc = query_sql_start(r, refused[i], strlen(refused[i]), &s, &b, err, sizeof err);
        if (rc != KP_EINVAL)
            test_fail(__FILE__, __LINE__, "%s: rc %d", refused[i], rc);
    }
    /* Past the time limit on the first row: an error, not a response. */
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c";
    jbuf_reset(&b);
    CHECK_EQ_INT(query_sql_start(r, sql, strlen(sql), &s, &b, err, sizeof err), KP_ETOOLARGE);
    CHECK(strstr(err, "300 ms limit"));
    /* Past it midway: the rows so far, then "error". */
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
          "SELECT x FROM c WHERE x = 1 OR x > 1000000000000";
    jbuf_reset(&b);
    CHECK_OK(query_sql_start(r, sql, strlen(sql), &s, &b, err, sizeof err));
    while (query_sql_next(s, &b, 1 << 20) == 1)
        ;
    query_sql_end(s);
    CHECK(strstr(b.buf, "\"rows\":[[1]],\"error\":\"query stopped: it ran longer than the 300 ms"));
    jbuf_free(&b);
    query_reader_put(r);
    query_close(q);
    test_rmtree(test_tmpdir("viewq"));
}

TEST(no_store_yet)
{
    char path[600];
    snprintf(path, sizeof path, "%s/none.db", test_tmpdir("viewq"));
    query_t *q;
    CHECK_OK(query_open(path, 1000, &q));
    query_reader_t *r = query_reader_get(q);
    jbuf_t b = {0};
    char err[256];
    CHECK_OK(query_views(r, 0, &b, err, sizeof err));
    CHECK(strcmp(b.buf, "{\"views\":[]}\n") == 0);
    CHECK_EQ_INT(query_get(r, "t", "a", 1, &b, err, sizeof err), KP_ENOTFOUND);
    jbuf_free(&b);
    query_reader_put(r);
    query_close(q);
    test_rmtree(test_tmpdir("viewq"));
}

static void apply(view_store_t *st, const char *key, const char *value, int64_t offset)
{
    view_change_t c = {.key = key, .key_len = strlen(key), .value = value,
                       .value_len = value ? strlen(value) : 0, .ts = 5000 + offset,
                       .partition = 0, .offset = offset};
    CHECK_OK(view_store_apply(st, &c));
}

/* What the real writer (view/store.c) commits is what the reader serves. */
TEST(with_the_store_writer)
{
    snprintf(dbpath, sizeof dbpath, "%s/w.db", test_tmpdir("viewq"));
    view_store_t *st;
    CHECK_OK(view_store_open(dbpath, &st));
    CHECK_OK(view_store_ensure(st, "rev", 1, "job", "__kappa_view.rev.v1"));
    CHECK_OK(view_store_begin(st, "rev", 1, "__kappa_view.rev.v1"));
    apply(st, "eu", "{\"total\":5}", 0);
    apply(st, "us", "{\"total\":7}", 1);
    apply(st, "eu", "{\"total\":9}", 2);
    int64_t hwm = 10;
    CHECK_OK(view_store_commit(st, &hwm, 1));

    query_t *q;
    CHECK_OK(query_open(dbpath, 1000, &q));
    query_reader_t *r = query_reader_get(q);
    jbuf_t b = {0};
    char err[256];
    CHECK_OK(query_get(r, "rev", "eu", 2, &b, err, sizeof err));
    CHECK(strcmp(b.buf, "{\"view\":\"rev\",\"version\":1,\"key\":\"eu\",\"value\":{\"total\":9},"
                        "\"ts\":5002}\n") == 0);
    query_changes_t *c;
    CHECK_OK(query_changes_open(r, "rev", -1, &c, err, sizeof err));
    jbuf_reset(&b);
    CHECK_EQ_INT(query_changes_next(c, &b, 10), 0);

    /* Version 2 and an alias switch, committed while the reader is open. */
    CHECK_OK(view_store_begin(st, "rev", 1, "__kappa_view.rev.v1"));
    apply(st, "us", NULL, 3);
    CHECK_OK(view_store_commit(st, &hwm, 1));
    CHECK_OK(view_store_ensure(st, "rev", 2, "job", "__kappa_view.rev.v2"));
    CHECK_OK(view_store_begin(st, "rev", 2, "__kappa_view.rev.v2"));
    apply(st, "eu", "{\"total\":90}", 0);
    CHECK_OK(view_store_commit(st, &hwm, 1));

    CHECK_EQ_INT(query_changes_next(c, &b, 10), 1);
    CHECK(strcmp(b.buf, "{\"seq\":4,\"key\":\"us\",\"value\":null,\"ts\":5003}\n") == 0);
    query_changes_close(c);
    jbuf_reset(&b);
    CHECK_OK(query_get(r, "rev", "eu", 2, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"version\":1,") && strstr(b.buf, "{\"total\":9}"));
    CHECK_OK(view_store_set_alias(st, "rev", 2));
    jbuf_reset(&b);
    CHECK_OK(query_get(r, "rev", "eu", 2, &b, err, sizeof err));
    CHECK(strstr(b.buf, "\"version\":2,") && strstr(b.buf, "{\"total\":90}"));
    jbuf_reset(&b);
    CHECK_OK(query_views(r, 6000, &b, err, sizeof err));
    CHECK(strstr(b.buf, "{\"view\":\"rev\",\"alias\":2,\"versions\":[{\"version\":1,"));
    CHECK(strstr(b.buf, "\"rows\":1,\"lag\":6,\"freshness_ms\":997,\"last_ts\":5003,"));
    query_sql_t *s;
    jbuf_reset(&b);
    const char *sql = "SELECT key, json_extract(value, '$.total') FROM rev";
    CHECK_OK(query_sql_start(r, sql, strlen(sql), &s, &b, err, sizeof err));
    while (query_sql_next(s, &b, 1 << 16) == 1)
        ;
    query_sql_end(s);
    CHECK(strstr(b.buf, "\"rows\":[[\"eu\",90]]}"));
    jbuf_free(&b);
    query_reader_put(r);
    query_close(q);
    view_store_close(st);
    test_rmtree(test_tmpdir("viewq"));
}

int main(void)
{
    RUN(json_parse_and_write);
    RUN(lookup_scan_list);
    RUN(changes_and_sql);
    RUN(no_store_yet);
    RUN(with_the_store_writer);
    return test_summary();
}

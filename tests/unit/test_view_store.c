/*
 * test_view_store.c -- the SQLite view store (src/view/store.c) and view
 * names (src/view/view.c): the schema a reader relies on, batches with
 * their offsets, the offset guard that makes a replayed batch a no-op,
 * tombstones, seq order, aliases seen atomically by another connection,
 * dropping, BLOB keys, and two writer handles on one file.
 */
#include "test.h"
#include "core/kp_error.h"
#include "view/store.h"
#include "view/view.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char db_path[4200];
static char dirs[16][4096];
static int ndirs;

static view_store_t *fresh(const char *tag)
{
    const char *dir = test_tmpdir(tag);
    if (ndirs < 16)
        snprintf(dirs[ndirs++], sizeof dirs[0], "%s", dir);
    snprintf(db_path, sizeof db_path, "%s/views.db", dir);
    view_store_t *s;
    CHECK_OK(view_store_open(db_path, &s));
    return s;
}

static sqlite3 *reader(void)
{
    sqlite3 *db;
    CHECK(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The first column of the first row of sql as an integer (-999 if none,
 * -998 if NULL). */
static long long q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    long long v = -999;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -998 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row as text in a static buffer ("" if
 * none, "(null)" if NULL). */
static const char *q_str(sqlite3 *db, const char *sql)
{
    static char buf[4][512];
    static int slot;
    char *b = buf[slot++ % 4];
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        test_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    b[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(b, 512, "%s", t ? (const char *)t : "(null)");
    }
    sqlite3_finalize(st);
    return b;
}

static view_change_t chg(const char *k, const char *v, int32_t part, int64_t off)
{
    view_change_t c = {k, strlen(k), v, v ? strlen(v) : 0, 1000 + off, part, off};
    return c;
}

#define TOPIC "__kappa_view.revenue.v1"

static void apply_batch(view_store_t *s, const view_change_t *c, int n, int64_t hwm)
{
    int64_t h[2] = {hwm, hwm};
    CHECK_OK(view_store_begin(s, "revenue", 1, TOPIC));
    for (int i = 0; i < n; i++)
        CHECK_OK(view_store_apply(s, &c[i]));
    CHECK_OK(view_store_commit(s, h, 2));
}

/* ---- tests --------------------------------------------------------------- */

TEST(names)
{
    CHECK(view_name_valid("revenue"));
    CHECK(view_name_valid("_x9"));
    CHECK(!view_name_valid("9x"));
    CHECK(!view_name_valid(""));
    CHECK(!view_name_valid("a-b"));
    CHECK(!view_name_valid("a.b"));
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    CHECK(view_name_valid(longname));
    longname[64] = 'a';
    longname[65] = '\0';
    CHECK(!view_name_valid(longname));
    char name[VIEW_NAME_MAX + 1];
    int v = -5;
    CHECK_OK(view_parse_ref("revenue@v2", name, &v));
    CHECK(strcmp(name, "revenue") == 0);
    CHECK_EQ_INT(v, 2);
    CHECK_OK(view_parse_ref("revenue", name, &v));
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(view_parse_ref("revenue@2", name, &v), -1);
    CHECK_EQ_INT(view_parse_ref("revenue@v0", name, &v), -1);
    CHECK_EQ_INT(view_parse_ref("revenue@v", name, &v), -1);
    CHECK_EQ_INT(view_parse_ref("revenue@v2x", name, &v), -1);
    CHECK_EQ_INT(view_parse_ref("@v2", name, &v), -1);
    CHECK_EQ_INT(view_parse_ref("re-venue@v2", name, &v), -1);
    char buf[256];
    CHECK(strcmp(view_topic(buf, sizeof buf, "revenue", 2), "__kappa_view.revenue.v2") == 0);
    CHECK(strcmp(view_table(buf, sizeof buf, "revenue", 2), "revenue@v2") == 0);
}

TEST(schema)
{
    view_store_t *s = fresh("vs_schema");
    CHECK_OK(view_store_ensure(s, "revenue", 1, "rev", TOPIC));
    sqlite3 *db = reader();
    CHECK(strcmp(q_str(db, "PRAGMA journal_mode"), "wal") == 0);
    CHECK(strcmp(q_str(db, "SELECT value FROM kappa_meta WHERE key='schema'"), "1") == 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('kappa_meta',"
                           "'kappa_views','kappa_aliases','kappa_offsets','revenue@v1',"
                           "'revenue@v1$seq','revenue')"),
                 7);
    CHECK(strcmp(q_str(db, "SELECT type FROM sqlite_master WHERE name='revenue'"), "view") == 0);
    CHECK(strcmp(q_str(db, "SELECT job || ' ' || topic FROM kappa_views WHERE view='revenue' "
                           "AND version=1"),
                 "rev " TOPIC) == 0);
    CHECK_EQ_INT(q_int(db, "SELECT version FROM kappa_aliases WHERE view='revenue'"), 1);
    /* the columns readers query */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM pragma_table_info('revenue@v1') WHERE name IN "
                           "('key','value','seq','ts','src_partition','src_offset')"),
                 6);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM pragma_table_info('kappa_offsets') WHERE name "
                           "IN ('view','version','topic','partition','next_offset','applied',"
                           "'high_watermark','last_ts','committed_ms')"),
                 9);
    sqlite3_close(db);
    /* reopening an existing file keeps everything */
    view_store_close(s);
    CHECK_OK(view_store_open(db_path, &s));
    CHECK_OK(view_store_ensure(s, "revenue", 1, "rev", TOPIC));
    view_store_close(s);
    /* a newer schema is refused, not misread */
    db = NULL;
    CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE kappa_meta SET value='2' WHERE key='schema'", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(view_store_open(db_path, &s), KP_EUNSUPPORTED);
}

TEST(apply_commit_offsets)
{
    view_store_t *s = fresh("vs_apply");
    CHECK_OK(view_store_ensure(s, "revenue", 1, NULL, TOPIC));
    int64_t next[3];
    CHECK_OK(view_store_offsets(s, "revenue", 1, TOPIC, 3, next));
    CHECK_EQ_INT(next[0], -1);
    CHECK_EQ_INT(next[1], -1);
    view_change_t c[] = {chg("p1|0", "{\"r\":1}", 0, 0), chg("p2|0", "{\"r\":2}", 1, 5),
                         chg("p1|0", "{\"r\":3}", 0, 1)};
    apply_batch(s, c, 3, 10);
    CHECK_OK(view_store_offsets(s, "revenue", 1, TOPIC, 3, next));
    CHECK_EQ_INT(next[0], 2);
    CHECK_EQ_INT(next[1], 6);
    CHECK_EQ_INT(next[2], -1);
    sqlite3 *db = reader();
    CHECK(strcmp(q_str(db, "SELECT value FROM revenue WHERE key='p1|0'"), "{\"r\":3}") == 0);
    CHECK(strcmp(q_str(db, "SELECT typeof(key) || typeof(value) FROM \"revenue@v1\" LIMIT 1"),
                 "texttext") == 0);
    CHECK_EQ_INT(q_int(db, "SELECT sum(applied) FROM kappa_offsets"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT high_watermark FROM kappa_offsets WHERE partition=1"), 10);
    CHECK_EQ_INT(q_int(db, "SELECT last_ts FROM kappa_offsets WHERE partition=0"), 1001);
    CHECK_EQ_INT(q_int(db, "SELECT src_offset FROM \"revenue@v1\" WHERE key='p1|0'"), 1);
    /* a rolled-back batch leaves nothing */
    CHECK_OK(view_store_begin(s, "revenue", 1, TOPIC));
    view_change_t x = chg("zz", "1", 0, 2);
    CHECK_OK(view_store_apply(s, &x));
    view_store_rollback(s);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM \"revenue@v1\" WHERE key='zz'"), 0);
    CHECK_OK(view_store_offsets(s, "revenue", 1, TOPIC, 1, next));
    CHECK_EQ_INT(next[0], 2);
    /* advance: a transaction marker moves next_offset, never down */
    CHECK_OK(view_store_begin(s, "revenue", 1, TOPIC));
    CHECK_OK(view_store_advance(s, 0, 3));
    CHECK_OK(view_store_advance(s, 1, 4));
    CHECK_OK(view_store_commit(s, NULL, 0));
    CHECK_OK(view_store_offsets(s, "revenue", 1, TOPIC, 2, next));
    CHECK_EQ_INT(next[0], 3);
    CHECK_EQ_INT(next[1], 6);
    CHECK_EQ_INT(q_int(db, "SELECT sum(applied) FROM kappa_offsets"), 3);
    sqlite3_close(db);
    view_store_close(s);
}

TEST(offset_guard)
{
    view_store_t *s = fresh("vs_guard");
    CHECK_OK(view_store_ensure(s, "revenue", 1, NULL, TOPIC));
    view_change_t c[] = {chg("a", "1", 0, 0), chg("b", "1", 0, 1), chg("a", "2", 0, 2)};
    apply_batch(s, c, 3, 3);
    sqlite3 *db = reader();
    long long seq = q_int(db, "SELECT max(seq) FROM \"revenue@v1\"");
    /* the same batch again (a sink that crashed after the commit, or a
     * second sink during a rebalance): nothing changes */
    view_change_t again[] = {chg("a", "stale", 0, 0), chg("b", "stale", 0, 1),
                             chg("a", "stale", 0, 2)};
    apply_batch(s, again, 3, 3);
    CHECK(strcmp(q_str(db, "SELECT value FROM revenue WHERE key='a'"), "2") == 0);
    CHECK(strcmp(q_str(db, "SELECT value FROM revenue WHERE key='b'"), "1") == 0);
    CHECK_EQ_INT(q_int(db, "SELECT applied FROM kappa_offsets WHERE partition=0"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT next_offset FROM kappa_offsets WHERE partition=0"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT max(seq) FROM \"revenue@v1\""), seq);
    /* an overlapping batch applies only its new tail */
    view_change_t tail[] = {chg("a", "stale", 0, 2), chg("c", "9", 0, 3)};
    apply_batch(s, tail, 2, 4);
    CHECK(strcmp(q_str(db, "SELECT value FROM revenue WHERE key='a'"), "2") == 0);
    CHECK(strcmp(q_str(db, "SELECT value FROM revenue WHERE key='c'"), "9") == 0);
    CHECK_EQ_INT(q_int(db, "SELECT applied FROM kappa_offsets WHERE partition=0"), 4);
    sqlite3_close(db);
    view_store_close(s);
}

TEST(tombstones_and_seq)
{
    view_store_t *s = fresh("vs_tomb");
    CHECK_OK(view_store_ensure(s, "revenue", 1, NULL, TOPIC));
    view_change_t c[] = {chg("a", "1", 0, 0), chg("b", "1", 1, 0), chg("a", NULL, 0, 1),
                         chg("c", NULL, 1, 1)};
    apply_batch(s, c, 4, 2);
    sqlite3 *db = reader();
    /* the deleted row is gone from the stable name, kept as a tombstone */
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM \"revenue@v1\" WHERE value IS NULL"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM \"revenue@v1\""), 3);
    CHECK_EQ_INT(q_int(db, "SELECT sum(applied) FROM kappa_offsets"), 4);
    /* seq: one per change, strictly increasing in apply order, across
     * batches and a reopened handle */
    CHECK_EQ_INT(q_int(db, "SELECT seq FROM \"revenue@v1\" WHERE key='b'"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT seq FROM \"revenue@v1\" WHERE key='a'"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT seq FROM \"revenue@v1\" WHERE key='c'"), 4);
    view_store_close(s);
    CHECK_OK(view_store_open(db_path, &s));
    view_change_t d[] = {chg("a", "again", 0, 2)};
    apply_batch(s, d, 1, 3);
    CHECK_EQ_INT(q_int(db, "SELECT seq FROM \"revenue@v1\" WHERE key='a'"), 5);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 2);
    sqlite3_close(db);
    view_store_close(s);
}

/* Fill a version with n rows whose value is the version number. */
static void fill(view_store_t *s, int version, int n)
{
    char topic[256];
    view_topic(topic, sizeof topic, "revenue", version);
    CHECK_OK(view_store_ensure(s, "revenue", version, NULL, topic));
    CHECK_OK(view_store_begin(s, "revenue", version, topic));
    char val[16];
    snprintf(val, sizeof val, "%d", version);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%04d", i);
        view_change_t c = {key, strlen(key), val, strlen(val), 1, 0, i};
        CHECK_OK(view_store_apply(s, &c));
    }
    CHECK_OK(view_store_commit(s, NULL, 0));
}

TEST(alias)
{
    view_store_t *s = fresh("vs_alias");
    fill(s, 1, 200);
    fill(s, 2, 300);
    sqlite3 *db = reader();
    /* the first version created stays the target until switched */
    CHECK_EQ_INT(q_int(db, "SELECT version FROM kappa_aliases WHERE view='revenue'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 200);
    CHECK_EQ_INT(view_store_set_alias(s, "revenue", 7), KP_ENOTFOUND);
    /* a reader inside a read transaction keeps its snapshot: old rows and
     * old alias together */
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 200);
    CHECK_OK(view_store_set_alias(s, "revenue", 2));
    CHECK_EQ_INT(q_int(db, "SELECT version FROM kappa_aliases WHERE view='revenue'"), 1);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 200);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue WHERE value <> '1'"), 0);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    /* a new read transaction sees the new version whole */
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ_INT(q_int(db, "SELECT version FROM kappa_aliases WHERE view='revenue'"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 300);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue WHERE value <> '2'"), 0);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    /* switching back and forth while a reader loops: every snapshot is one
     * version's rows with that version's alias row, never a mix */
    for (int i = 0; i < 20; i++) {
        CHECK_OK(view_store_set_alias(s, "revenue", 1 + (i % 2)));
        CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
        long long v = q_int(db, "SELECT version FROM kappa_aliases WHERE view='revenue'");
        long long rows = q_int(db, "SELECT count(*) FROM revenue");
        long long mismatched = q_int(db, "SELECT count(*) FROM revenue WHERE value <> "
                                         "(SELECT version FROM kappa_aliases WHERE "
                                         "view='revenue')");
        CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
        CHECK_EQ_INT(v, 1 + (i % 2));
        CHECK_EQ_INT(rows, v == 1 ? 200 : 300);
        CHECK_EQ_INT(mismatched, 0);
    }
    sqlite3_close(db);
    view_store_close(s);
}

TEST(drop)
{
    view_store_t *s = fresh("vs_drop");
    fill(s, 1, 10);
    fill(s, 2, 20);
    sqlite3 *db = reader();
    /* dropping a version that is not the target keeps the alias */
    CHECK_OK(view_store_drop(s, "revenue", 2));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name='revenue@v2'"), 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM kappa_views WHERE version=2"), 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM kappa_offsets WHERE version=2"), 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 10);
    /* dropping the target drops the stable name with it */
    CHECK_OK(view_store_drop(s, "revenue", 1));
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('revenue',"
                           "'revenue@v1')"),
                 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM kappa_aliases"), 0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM kappa_offsets"), 0);
    /* created again, it starts empty and becomes the target again */
    fill(s, 2, 5);
    CHECK_EQ_INT(q_int(db, "SELECT version FROM kappa_aliases WHERE view='revenue'"), 2);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM revenue"), 5);
    sqlite3_close(db);
    view_store_close(s);
}

TEST(blob_keys)
{
    view_store_t *s = fresh("vs_blob");
    CHECK_OK(view_store_ensure(s, "revenue", 1, NULL, TOPIC));
    static const unsigned char k1[] = {0x00, 0x01, 0xff};
    static const unsigned char k2[] = {'a', 0xc0, 0x80};    /* overlong NUL: not UTF-8 */
    static const unsigned char v1[] = {0xfe, 0x00};
    CHECK_OK(view_store_begin(s, "revenue", 1, TOPIC));
    view_change_t c1 = {k1, sizeof k1, v1, sizeof v1, 5, 0, 0};
    view_change_t c2 = {k2, sizeof k2, "\xc3\xa9t\xc3\xa9", 5, 5, 0, 1};
    view_change_t c3 = {"a", 1, "text", 4, 5, 0, 2};
    CHECK_OK(view_store_apply(s, &c1));
    CHECK_OK(view_store_apply(s, &c2));
    CHECK_OK(view_store_apply(s, &c3));
    CHECK_OK(view_store_commit(s, NULL, 0));
    sqlite3 *db = reader();
    CHECK(strcmp(q_str(db, "SELECT typeof(key) || typeof(value) FROM \"revenue@v1\" WHERE "
                           "key = x'0001ff'"),
                 "blobblob") == 0);
    CHECK(strcmp(q_str(db, "SELECT hex(value) FROM \"revenue@v1\" WHERE key = x'0001ff'"),
                 "FE00") == 0);
    CHECK(strcmp(q_str(db, "SELECT typeof(key) || typeof(value) FROM \"revenue@v1\" WHERE "
                           "key = x'61c080'"),
                 "blobtext") == 0);
    CHECK(strcmp(q_str(db, "SELECT typeof(key) FROM \"revenue@v1\" WHERE key = 'a'"), "text") ==
          0);
    CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM \"revenue@v1\""), 3);
    sqlite3_close(db);
    view_store_close(s);
}

/* A negative partition is refused, not used as an index (parts_grow). */
TEST(negative_partition)
{
    view_store_t *s = fresh("vs_negpart");
    CHECK_OK(view_store_ensure(s, "revenue", 1, NULL, TOPIC));
    CHECK_OK(view_store_begin(s, "revenue", 1, TOPIC));
    view_change_t c = chg("a", "1", -1, 0);
    CHECK_EQ_INT(view_store_apply(s, &c), KP_EINVAL);
    CHECK_EQ_INT(view_store_advance(s, -3, 5), KP_EINVAL);
    view_store_rollback(s);
    view_store_close(s);
}

/* After a long read let the WAL grow past journal_size_limit, the next
 * commit after a checkpoint shrinks it back to the limit. */
TEST(wal_shrinks_after_a_long_read)
{
    view_store_t *s = fresh("vs_walsize");
    CHECK_OK(view_store_ensure(s, "revenue", 1, NULL, TOPIC));
    sqlite3 *db = reader();
    CHECK(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM kappa_views;", NULL, NULL, NULL) ==
          SQLITE_OK);
    static char big[1 << 20];
    memset(big, 'x', sizeof big - 1);
    int64_t off = 0;
    for (int i = 0; i < 72; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        view_change_t c = chg(k, big, 0, off);
        apply_batch(s, &c, 1, ++off);
    }
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    struct stat sb;
    CHECK(stat(wal, &sb) == 0 && sb.st_size > 72LL << 20);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    /* The next commits checkpoint, restart the WAL and truncate it. */
    for (int i = 0; i < 3; i++) {
        view_change_t c = chg("small", "1", 0, off);
        apply_batch(s, &c, 1, ++off);
    }
    CHECK(stat(wal, &sb) == 0);
    if (sb.st_size > 64LL << 20)
        test_fail(__FILE__, __LINE__, "the WAL is still %lld bytes", (long long)sb.st_size);
    view_store_close(s);
}

TEST(quoted_identifiers)
{
    /* names are validated before they reach SQL */
    view_store_t *s = fresh("vs_quote");
    CHECK_EQ_INT(view_store_ensure(s, "bad\"name", 1, NULL, "t"), KP_EINVAL);
    CHECK_EQ_INT(view_store_ensure(s, "x", 0, NULL, "t"), KP_EINVAL);
    /* a view named like an SQL keyword works through quoting */
    CHECK_OK(view_store_ensure(s, "select", 1, NULL, "__kappa_view.select.v1"));
    CHECK_OK(view_store_begin(s, "select", 1, "__kappa_view.select.v1"));
    view_change_t c = {"k", 1, "v", 1, 1, 0, 0};
    CHECK_OK(view_store_apply(s, &c));
    CHECK_OK(view_store_commit(s, NULL, 0));
    sqlite3 *db = reader();
    CHECK(strcmp(q_str(db, "SELECT value FROM \"select\""), "v") == 0);
    sqlite3_close(db);
    view_store_close(s);
}

TEST(two_writers)
{
    view_store_t *a = fresh("vs_two");
    view_store_t *b;
    CHECK_OK(view_store_open(db_path, &b));
    CHECK_OK(view_store_ensure(a, "revenue", 1, NULL, TOPIC));
    CHECK_OK(view_store_ensure(b, "revenue", 1, NULL, TOPIC));
    /* a holds the write lock; b's BEGIN IMMEDIATE waits (busy timeout), so
     * run a's batch to completion first, then b's overlapping batch: b reads
     * the guard inside its own transaction and skips what a applied */
    CHECK_OK(view_store_begin(a, "revenue", 1, TOPIC));
    view_change_t c1[] = {chg("x", "a0", 0, 0), chg("y", "a1", 0, 1)};
    for (int i = 0; i < 2; i++)
        CHECK_OK(view_store_apply(a, &c1[i]));
    CHECK_OK(view_store_commit(a, NULL, 0));
    CHECK_OK(view_store_begin(b, "revenue", 1, TOPIC));
    view_change_t c2[] = {chg("x", "b0", 0, 0), chg("y", "b1", 0, 1), chg("z", "b2", 0, 2)};
    for (int i = 0; i < 3; i++)
        CHECK_OK(view_store_apply(b, &c2[i]));
    CHECK_OK(view_store_commit(b, NULL, 0));
    sqlite3 *db = reader();
    CHECK(strcmp(q_str(db, "SELECT group_concat(value, ',') FROM (SELECT value FROM revenue "
                           "ORDER BY key)"),
                 "a0,a1,b2") == 0);
    CHECK_EQ_INT(q_int(db, "SELECT applied FROM kappa_offsets"), 3);
    CHECK_EQ_INT(q_int(db, "SELECT max(seq) FROM \"revenue@v1\""), 3);
    sqlite3_close(db);
    /* a writer that holds the lock past the other's busy timeout would make
     * the other fail with KP_EBUSY, not corrupt anything: with a's
     * transaction open, a third handle with a tiny timeout gives up */
    CHECK_OK(view_store_begin(a, "revenue", 1, TOPIC));
    sqlite3 *w;
    CHECK(sqlite3_open(db_path, &w) == SQLITE_OK);
    sqlite3_busy_timeout(w, 50);
    CHECK(sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_BUSY);
    sqlite3_close(w);
    view_store_rollback(a);
    view_store_close(a);
    view_store_close(b);
}

int main(void)
{
    RUN(names);
    RUN(schema);
    RUN(apply_commit_offsets);
    RUN(offset_guard);
    RUN(tombstones_and_seq);
    RUN(alias);
    RUN(drop);
    RUN(blob_keys);
    RUN(negative_partition);
    RUN(wal_shrinks_after_a_long_read);
    RUN(quoted_identifiers);
    RUN(two_writers);
    for (int i = 0; i < ndirs; i++)
        test_rmtree(dirs[i]);
    return test_summary();
}

/*
 * store.c -- the embedded view store: every view version of a deployment in
 * one SQLite database (WAL), written by sinks, read by the query API and the
 * CLI in other processes.  The schema is the one store.h describes.
 *
 * A batch is one write transaction (BEGIN IMMEDIATE: the write lock is
 * taken at the start, so a second writer waits in the busy handler instead
 * of failing half-way through a batch).  Inside it the store reads the
 * stored next offset and applied count of each partition, and the table's
 * highest seq, applies the changes, and writes the new offsets back.
 *
 * Invariants:
 *  (1) Rows and the next offsets that produced them commit in the same
 *      SQLite transaction, so after any crash the stored offsets describe
 *      exactly the rows present.
 *  (2) A change whose offset is below its partition's stored next offset
 *      (read inside the write transaction) is skipped, so a change is
 *      applied -- and counted in `applied` -- once, even when two sinks
 *      overlap during a rebalance or a batch is replayed after a crash.
 *  (3) seq is max(seq)+1 read inside the write transaction: strictly
 *      increasing per table across writers and restarts.
 *  (4) The alias row and the stable-name SQL view change in one
 *      transaction, so a reader sees the old or the new version, never a
 *      mix.
 */
#include "view/store.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <sqlite3.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define STORE_BUSY_TIMEOUT_MS 30000
#define STORE_SCHEMA_VERSION "1"
#define STORE_SQL_MAX 1024
#define STORE_LAST_TS_NONE INT64_MIN

/* Prepared statements of one versioned table, kept for the connection's
 * lifetime (a batch of 10,000 changes reuses one upsert statement). */
typedef struct store_table {
    char view[VIEW_NAME_MAX + 1];
    int version;
    sqlite3_stmt *upsert;
    sqlite3_stmt *max_seq;
} store_table_t;

/* A partition's offsets during the open batch. */
typedef struct store_part {
    int64_t next;               /* -1: nothing stored, no guard */
    int64_t applied;
    int64_t last_ts;            /* STORE_LAST_TS_NONE: no change applied yet */
    bool touched;               /* written back at commit */
} store_part_t;

struct view_store {
    sqlite3 *db;
    char path[4096];
    sqlite3_stmt *off_get;      /* (view, version, topic) -> partition rows */
    sqlite3_stmt *off_put;
    store_table_t *tables;
    int ntables, tables_cap;
    /* the open batch */
    bool in_txn;
    store_table_t *cur;
    char topic[256];
    int64_t seq;
    store_part_t *parts;
    int32_t nparts;
};

/* ---- helpers ------------------------------------------------------------- */

static int fail(view_store_t *s, const char *what)
{
    int code = sqlite3_errcode(s->db);
    KP_ERROR("view store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return code == SQLITE_BUSY || code == SQLITE_LOCKED ? KP_EBUSY : KP_EFAILED;
}

static int exec(view_store_t *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        KP_ERROR("view store %s: %s: %s", s->path, sql, err ? err : "error");
        sqlite3_free(err);
        int code = sqlite3_errcode(s->db);
        return code == SQLITE_BUSY || code == SQLITE_LOCKED ? KP_EBUSY : KP_EFAILED;
    }
    return 0;
}

/* Append the SQL identifier `name` in double quotes (quotes doubled). */
static bool quote_ident(char *buf, size_t cap, size_t *len, const char *name)
{
    size_t n = *len;
    if (n + 1 >= cap)
        return false;
    buf[n++] = '"';
    for (const char *p = name; *p; p++) {
        if (n + 3 >= cap)
            return false;
        if (*p == '"')
            buf[n++] = '"';
        buf[n++] = *p;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    *len = n;
    return true;
}

/* printf-style SQL with %Q replaced by quoted identifiers: the fmt holds
 * only literal SQL and "%Q" markers, each taking one const char *. */
static int build_sql(char *buf, size_t cap, const char *fmt, const char *a, const char *b)
{
    size_t len = 0;
    const char *args[2] = {a, b};
    int used = 0;
    buf[0] = '\0';
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 'Q') {
            if (used == 2 || !quote_ident(buf, cap, &len, args[used++]))
                return KP_ETOOLARGE;
            p++;
            continue;
        }
        if (len + 1 >= cap)
            return KP_ETOOLARGE;
        buf[len++] = *p;
        buf[len] = '\0';
    }
    return 0;
}

/* Valid UTF-8 without NUL bytes (SQLite's TEXT must not hold NULs; such keys
 * and values are stored as BLOBs). */
static bool text_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + (size_t)len > n)
            return false;
        for (int k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += (size_t)len;
    }
    return true;
}

static int bind_bytes(sqlite3_stmt *st, int col, const void *p, size_t n)
{
    if (!p)
        return sqlite3_bind_null(st, col);
    if (n > (size_t)INT32_MAX)
        return SQLITE_TOOBIG;
    if (text_ok(p, n))
        return sqlite3_bind_text(st, col, p, (int)n, SQLITE_STATIC);
    return sqlite3_bind_blob(st, col, n ? p : "", (int)n, SQLITE_STATIC);
}

static int prepare(view_store_t *s, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return fail(s, "prepare");
    return 0;
}

/* ---- open and schema ----------------------------------------------------- */

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS kappa_meta(key TEXT PRIMARY KEY, value TEXT);"
    "INSERT OR IGNORE INTO kappa_meta(key, value) VALUES('schema', '" STORE_SCHEMA_VERSION "');"
    "CREATE TABLE IF NOT EXISTS kappa_views(view TEXT, version INTEGER, job TEXT, topic TEXT,"
    " created_ms INTEGER, PRIMARY KEY(view, version));"
    "CREATE TABLE IF NOT EXISTS kappa_aliases(view TEXT PRIMARY KEY, version INTEGER,"
    " updated_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS kappa_offsets(view TEXT, version INTEGER, topic TEXT,"
    " partition INTEGER, next_offset INTEGER, applied INTEGER, high_watermark INTEGER,"
    " last_ts INTEGER, committed_ms INTEGER, PRIMARY KEY(view, version, topic, partition));";

static int check_schema(view_store_t *s)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM kappa_meta WHERE key = 'schema'", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "reading the schema version");
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = fail(s, "reading the schema version");
    } else {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, STORE_SCHEMA_VERSION) != 0) {
            KP_ERROR("view store %s: schema version %s, this kappa knows %s", s->path,
                     v ? v : "(none)", STORE_SCHEMA_VERSION);
            rc = KP_EUNSUPPORTED;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int view_store_open(const char *path, view_store_t **out)
{
    *out = NULL;
    if (!path || !*path || strlen(path) >= 4096)
        return KP_EINVAL;
    view_store_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    snprintf(s->path, sizeof s->path, "%s", path);
    int rc;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        KP_ERROR("view store %s: cannot open: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rc = KP_EFAILED;
        goto fail;
    }
    /* Several writers (runners, `kappa view sink`) and readers share the
     * file: wait for the write lock rather than fail a batch. */
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    /* journal_size_limit: a checkpointed WAL is truncated back to 64 MiB,
     * so one long read (which stops checkpoints from resetting the WAL) does
     * not leave the file at its peak size for good. */
    if ((rc = exec(s, "PRAGMA journal_mode=WAL")) || (rc = exec(s, "PRAGMA synchronous=NORMAL")) ||
        (rc = exec(s, "PRAGMA journal_size_limit=67108864")))
        goto fail;
    /* Schema creation is a write: under the write lock, so two processes
     * creating the file at once both see one schema. */
    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        goto fail;
    if ((rc = exec(s, schema_sql)) || (rc = check_schema(s))) {
        exec(s, "ROLLBACK");
        goto fail;
    }
    if ((rc = exec(s, "COMMIT")))
        goto fail;
    if ((rc = prepare(s,
                      "SELECT partition, next_offset, applied, last_ts FROM kappa_offsets"
                      " WHERE view = ?1 AND version = ?2 AND topic = ?3",
                      &s->off_get)) ||
        (rc = prepare(s,
                      "INSERT INTO kappa_offsets(view, version, topic, partition, next_offset,"
                      " applied, high_watermark, last_ts, committed_ms)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                      " ON CONFLICT(view, version, topic, partition) DO UPDATE SET"
                      " next_offset = excluded.next_offset, applied = excluded.applied,"
                      " high_watermark = excluded.high_watermark, last_ts = excluded.last_ts,"
                      " committed_ms = excluded.committed_ms",
                      &s->off_put)))
        goto fail;
    *out = s;
    return 0;
fail:
    view_store_close(s);
    return rc;
}

static void table_finalize(store_table_t *t)
{
    sqlite3_finalize(t->upsert);
    sqlite3_finalize(t->max_seq);
    t->upsert = t->max_seq = NULL;
}

void view_store_close(view_store_t *s)
{
    if (!s)
        return;
    if (s->in_txn)
        view_store_rollback(s);
    for (int i = 0; i < s->ntables; i++)
        table_finalize(&s->tables[i]);
    kp_free(s->tables);
    kp_free(s->parts);
    sqlite3_finalize(s->off_get);
    sqlite3_finalize(s->off_put);
    sqlite3_close(s->db);
    kp_free(s);
}

/* The cached statements of view@vVERSION, preparing them on first use. */
static int table_get(view_store_t *s, const char *view, int version, store_table_t **out)
{
    for (int i = 0; i < s->ntables; i++)
        if (s->tables[i].version == version && strcmp(s->tables[i].view, view) == 0) {
            *out = &s->tables[i];
            return 0;
        }
    if (s->ntables == s->tables_cap) {
        int cap = s->tables_cap ? 2 * s->tables_cap : 4;
        store_table_t *t = kp_realloc(s->tables, (size_t)cap * sizeof *t);
        if (!t)
            return KP_ENOMEM;
        s->tables = t;
        s->tables_cap = cap;
    }
    store_table_t *t = &s->tables[s->ntables];
    memset(t, 0, sizeof *t);
    snprintf(t->view, sizeof t->view, "%s", view);
    t->version = version;
    char table[VIEW_NAME_MAX + 32], sql[STORE_SQL_MAX];
    view_table(table, sizeof table, view, version);
    int rc;
    if ((rc = build_sql(sql, sizeof sql,
                        "INSERT INTO %Q(key, value, seq, ts, src_partition, src_offset)"
                        " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(key) DO UPDATE SET"
                        " value = excluded.value, seq = excluded.seq, ts = excluded.ts,"
                        " src_partition = excluded.src_partition,"
                        " src_offset = excluded.src_offset",
                        table, NULL)) ||
        (rc = prepare(s, sql, &t->upsert)))
        goto fail;
    if ((rc = build_sql(sql, sizeof sql, "SELECT coalesce(max(seq), 0) FROM %Q", table, NULL)) ||
        (rc = prepare(s, sql, &t->max_seq)))
        goto fail;
    s->ntables++;
    *out = t;
    return 0;
fail:
    table_finalize(t);
    return rc;
}

/* Forget view@vVERSION's statements (before dropping the table). */
static void table_forget(view_store_t *s, const char *view, int version)
{
    for (int i = 0; i < s->ntables; i++)
        if (s->tables[i].version == version && strcmp(s->tables[i].view, view) == 0) {
            table_finalize(&s->tables[i]);
            s->tables[i] = s->tables[--s->ntables];
            return;
        }
}

/* Create or replace the stable-name SQL view over view@vVERSION (inside the
 * caller's transaction, with the alias row). */
static int alias_write(view_store_t *s, const char *view, int version)
{
    char table[VIEW_NAME_MAX + 32], sql[STORE_SQL_MAX];
    view_table(table, sizeof table, view, version);
    int rc;
    if ((rc = build_sql(sql, sizeof sql, "DROP VIEW IF EXISTS %Q", view, NULL)) ||
        (rc = exec(s, sql)))
        return rc;
    if ((rc = build_sql(sql, sizeof sql,
                        "CREATE VIEW %Q AS SELECT key, value, ts FROM %Q WHERE value IS NOT NULL",
                        view, table)) ||
        (rc = exec(s, sql)))
        return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO kappa_aliases(view, version, updated_ms) VALUES(?1, ?2, ?3)"
                           " ON CONFLICT(view) DO UPDATE SET version = excluded.version,"
                           " updated_ms = excluded.updated_ms",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "writing the alias");
    sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, kp_now_ms());
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, "writing the alias");
    sqlite3_finalize(st);
    return rc;
}

/* Does the view have an alias (1), none (0), or an error (< 0)?  *version
 * gets its target. */
static int alias_get(view_store_t *s, const char *view, int *version)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT version FROM kappa_aliases WHERE view = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "reading the alias");
    sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    int rc;
    if (r == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = 1;
    } else {
        rc = r == SQLITE_DONE ? 0 : fail(s, "reading the alias");
    }
    sqlite3_finalize(st);
    return rc;
}

static int check_ref(const char *view, int version)
{
    if (!view_name_valid(view) || version < 1) {
        KP_ERROR("view store: '%s' version %d is not a view version", view ? view : "(null)",
                 version);
        return KP_EINVAL;
    }
    return 0;
}

int view_store_ensure(view_store_t *s, const char *view, int version, const char *job,
                      const char *topic)
{
    int rc;
    if ((rc = check_ref(view, version)))
        return rc;
    if (s->in_txn)
        return KP_EBUSY;
    char table[VIEW_NAME_MAX + 32], index[VIEW_NAME_MAX + 40], sql[STORE_SQL_MAX];
    view_table(table, sizeof table, view, version);
    snprintf(index, sizeof index, "%s$seq", table);
    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = build_sql(sql, sizeof sql,
                        "CREATE TABLE IF NOT EXISTS %Q(key PRIMARY KEY, value,"
                        " seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
                        " src_partition INTEGER NOT NULL, src_offset INTEGER NOT NULL)"
                        " WITHOUT ROWID",
                        table, NULL)) ||
        (rc = exec(s, sql)))
        goto fail;
    if ((rc = build_sql(sql, sizeof sql, "CREATE UNIQUE INDEX IF NOT EXISTS %Q ON %Q(seq)", index,
                        table)) ||
        (rc = exec(s, sql)))
        goto fail;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO kappa_views(view, version, job, topic, created_ms)"
                           " VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = fail(s, "registering the view");
        goto fail;
    }
    sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    if (job)
        sqlite3_bind_text(st, 3, job, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    if (topic)
        sqlite3_bind_text(st, 4, topic, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, kp_now_ms());
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, "registering the view");
    sqlite3_finalize(st);
    if (rc)
        goto fail;
    /* The first version of a view becomes its alias target. */
    int target;
    if ((rc = alias_get(s, view, &target)) < 0)
        goto fail;
    if (rc == 0 && (rc = alias_write(s, view, version)))
        goto fail;
    if ((rc = exec(s, "COMMIT")))
        goto fail;
    return 0;
fail:
    exec(s, "ROLLBACK");
    return rc < 0 ? rc : KP_EFAILED;
}

int view_store_offsets(view_store_t *s, const char *view, int version, const char *topic,
                       int32_t nparts, int64_t *next)
{
    for (int32_t p = 0; p < nparts; p++)
        next[p] = -1;
    sqlite3_stmt *st = s->off_get;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, topic, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t p = sqlite3_column_int64(st, 0);
        if (p >= 0 && p < nparts)
            next[p] = sqlite3_column_int64(st, 1);
    }
    int rc = r == SQLITE_DONE ? 0 : fail(s, "reading offsets");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* ---- batches ------------------------------------------------------------- */

static int parts_grow(view_store_t *s, int32_t p)
{
    if (p < 0 || p > 1000000)
        return KP_EINVAL;
    if (p < s->nparts)
        return 0;
    int32_t n = p + 1;
    store_part_t *np = kp_realloc(s->parts, (size_t)n * sizeof *np);
    if (!np)
        return KP_ENOMEM;
    for (int32_t i = s->nparts; i < n; i++)
        np[i] = (store_part_t){.next = -1, .applied = 0, .last_ts = STORE_LAST_TS_NONE};
    s->parts = np;
    s->nparts = n;
    return 0;
}

int view_store_begin(view_store_t *s, const char *view, int version, const char *topic)
{
    int rc;
    if ((rc = check_ref(view, version)))
        return rc;
    if (s->in_txn)
        return KP_EBUSY;
    if (!topic || strlen(topic) >= sizeof s->topic)
        return KP_EINVAL;
    store_table_t *t;
    if ((rc = table_get(s, view, version, &t)))
        return rc;
    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        return rc;
    s->in_txn = true;
    s->cur = t;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->nparts = 0;
    /* The guard and the counters come from inside the write transaction:
     * whatever another writer committed before we got the lock counts. */
    sqlite3_stmt *st = s->off_get;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, topic, -1, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t p = sqlite3_column_int64(st, 0);
        if ((rc = parts_grow(s, (int32_t)p)))
            break;
        s->parts[p].next = sqlite3_column_int64(st, 1);
        s->parts[p].applied = sqlite3_column_int64(st, 2);
        s->parts[p].last_ts = sqlite3_column_type(st, 3) == SQLITE_NULL
                                  ? STORE_LAST_TS_NONE
                                  : sqlite3_column_int64(st, 3);
    }
    if (!rc && r != SQLITE_DONE)
        rc = fail(s, "reading offsets");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc)
        goto fail;
    sqlite3_reset(t->max_seq);
    if (sqlite3_step(t->max_seq) != SQLITE_ROW) {
        rc = fail(s, "reading the table's last seq");
        goto fail;
    }
    s->seq = sqlite3_column_int64(t->max_seq, 0);
    sqlite3_reset(t->max_seq);
    return 0;
fail:
    view_store_rollback(s);
    return rc;
}

int view_store_apply(view_store_t *s, const view_change_t *c)
{
    if (!s->in_txn || !c->key)
        return KP_EINVAL;
    int rc;
    if ((rc = parts_grow(s, c->partition)))
        return rc;
    store_part_t *p = &s->parts[c->partition];
    if (p->next >= 0 && c->offset < p->next)
        return 0;               /* applied by an earlier batch (invariant 2) */
    sqlite3_stmt *st = s->cur->upsert;
    sqlite3_reset(st);
    int64_t seq = s->seq + 1;
    if (bind_bytes(st, 1, c->key, c->key_len) != SQLITE_OK ||
        bind_bytes(st, 2, c->value, c->value_len) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, seq) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, c->ts) != SQLITE_OK ||
        sqlite3_bind_int(st, 5, c->partition) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, c->offset) != SQLITE_OK)
        return fail(s, "binding a change");
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, "applying a change");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc)
        return rc;
    s->seq = seq;
    p->next = c->offset + 1;
    p->applied++;
    p->last_ts = c->ts;
    p->touched = true;
    return 0;
}

int view_store_advance(view_store_t *s, int32_t partition, int64_t next_offset)
{
    if (!s->in_txn)
        return KP_EINVAL;
    int rc;
    if ((rc = parts_grow(s, partition)))
        return rc;
    store_part_t *p = &s->parts[partition];
    if (next_offset > p->next) {
        p->next = next_offset;
        p->touched = true;
    }
    return 0;
}

int view_store_commit(view_store_t *s, const int64_t *hwm, int32_t nparts)
{
    if (!s->in_txn)
        return KP_EINVAL;
    int rc = 0;
    int64_t now = kp_now_ms();
    sqlite3_stmt *st = s->off_put;
    for (int32_t p = 0; p < s->nparts && !rc; p++) {
        store_part_t *sp = &s->parts[p];
        if (!sp->touched)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, s->cur->view, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, s->cur->version);
        sqlite3_bind_text(st, 3, s->topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, p);
        sqlite3_bind_int64(st, 5, sp->next);
        sqlite3_bind_int64(st, 6, sp->applied);
        sqlite3_bind_int64(st, 7, hwm && p < nparts ? hwm[p] : -1);
        if (sp->last_ts == STORE_LAST_TS_NONE)
            sqlite3_bind_null(st, 8);
        else
            sqlite3_bind_int64(st, 8, sp->last_ts);
        sqlite3_bind_int64(st, 9, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = fail(s, "storing offsets");
        sqlite3_reset(st);
    }
    sqlite3_clear_bindings(st);
    if (!rc && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(s, "commit");
    if (rc) {
        view_store_rollback(s);
        return rc;
    }
    s->in_txn = false;
    s->cur = NULL;
    return 0;
}

void view_store_rollback(view_store_t *s)
{
    if (!s->in_txn)
        return;
    if (s->cur)
        sqlite3_reset(s->cur->upsert);
    sqlite3_reset(s->off_get);
    sqlite3_reset(s->off_put);
    /* A failed COMMIT may already have rolled back: only roll back an
     * open transaction. */
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = false;
    s->cur = NULL;
}

/* ---- aliases and dropping ------------------------------------------------ */

static int version_exists(view_store_t *s, const char *view, int version)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM kappa_views WHERE view = ?1 AND version = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "reading views");
    sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    int r = sqlite3_step(st);
    int rc = r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : fail(s, "reading views");
    sqlite3_finalize(st);
    return rc;
}

int view_store_set_alias(view_store_t *s, const char *view, int version)
{
    int rc;
    if ((rc = check_ref(view, version)))
        return rc;
    if (s->in_txn)
        return KP_EBUSY;
    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = version_exists(s, view, version)) <= 0) {
        if (rc == 0) {
            KP_ERROR("view store %s: no view %s@v%d", s->path, view, version);
            rc = KP_ENOTFOUND;
        }
        goto fail;
    }
    if ((rc = alias_write(s, view, version)) || (rc = exec(s, "COMMIT")))
        goto fail;
    return 0;
fail:
    exec(s, "ROLLBACK");
    return rc;
}

int view_store_drop(view_store_t *s, const char *view, int version)
{
    int rc;
    if ((rc = check_ref(view, version)))
        return rc;
    if (s->in_txn)
        return KP_EBUSY;
    table_forget(s, view, version);
    char table[VIEW_NAME_MAX + 32], sql[STORE_SQL_MAX];
    view_table(table, sizeof table, view, version);
    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = build_sql(sql, sizeof sql, "DROP TABLE IF EXISTS %Q", table, NULL)) ||
        (rc = exec(s, sql)))
        goto fail;
    static const char *const dels[] = {
        "DELETE FROM kappa_views WHERE view = ?1 AND version = ?2",
        "DELETE FROM kappa_offsets WHERE view = ?1 AND version = ?2",
    };
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, dels[i], -1, &st, NULL) != SQLITE_OK) {
            rc = fail(s, "dropping");
            goto fail;
        }
        sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, version);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, "dropping");
        sqlite3_finalize(st);
        if (rc)
            goto fail;
    }
    int target;
    if ((rc = alias_get(s, view, &target)) < 0)
        goto fail;
    if (rc == 1 && target == version) {
        /* The stable name pointed here: it goes too (a reader must not see
         * a name over a missing table). */
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "DELETE FROM kappa_aliases WHERE view = ?1", -1, &st,
                               NULL) != SQLITE_OK) {
            rc = fail(s, "dropping the alias");
            goto fail;
        }
        sqlite3_bind_text(st, 1, view, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(s, "dropping the alias");
        sqlite3_finalize(st);
        if (rc)
            goto fail;
        if ((rc = build_sql(sql, sizeof sql, "DROP VIEW IF EXISTS %Q", view, NULL)) ||
            (rc = exec(s, sql)))
            goto fail;
    }
    if ((rc = exec(s, "COMMIT")))
        goto fail;
    return 0;
fail:
    exec(s, "ROLLBACK");
    return rc < 0 ? rc : KP_EFAILED;
}

/*
 * query.c -- reading views from the SQLite view store (see query.h and the
 * schema in store.h).
 *
 * Invariants:
 *  (1) Every connection is opened SQLITE_OPEN_READONLY: even a statement
 *      the authorizer let through cannot change the file.
 *  (2) A reader is used by one thread at a time (the pool hands it out and
 *      takes it back under the pool's lock); its connection is opened
 *      SQLITE_OPEN_NOMUTEX for that reason.
 *  (3) Lookups, scans and listings run between BEGIN and COMMIT, so the
 *      alias and the table it names are read from one snapshot: an alias
 *      switch (which recreates the SQL view in the same write transaction)
 *      is seen whole or not at all.
 *  (4) Table names come only from validated view names and version
 *      numbers, so quoting them in SQL text is safe; keys and every value
 *      from a request are bound, never spliced in.
 *  (5) User SQL runs with the authorizer installed only while it is
 *      prepared (the authorizer is consulted at prepare time) and with the
 *      progress handler only while it steps.
 */
#include "view/query.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QUERY_STMT_CACHE 32
#define QUERY_NAME_MAX 64

/* Per-table statements a reader keeps prepared. */
enum stmt_kind {
    ST_GET, ST_GET_ALIAS, ST_COUNT, ST_CHANGES,
    ST_SCAN,                    /* + 1: lower bound exclusive; + 2: has an upper bound */
};

typedef struct cached {
    char table[QUERY_NAME_MAX + 16];
    int kind;
    sqlite3_stmt *st;
} cached_t;

struct query_reader {
    query_t *q;
    sqlite3 *db;                /* NULL until the file exists */
    sqlite3_stmt *begin, *commit, *rollback, *alias, *version;
    cached_t cache[QUERY_STMT_CACHE];
    int cache_next;             /* round-robin victim */
    struct {                    /* alias targets last seen, for lookups */
        char view[QUERY_NAME_MAX + 1];
        int version;
    } alias_seen[8];
    int alias_next;
    int64_t deadline_ms;        /* progress handler: stop after this */
    char deny[160];             /* why the authorizer refused */
    query_reader_t *next_free;
};

struct query {
    char *path;
    int64_t timeout_ms;
    atomic_bool stopping;       /* query_interrupt() */
    pthread_mutex_t mu;
    query_reader_t *free_list;
};

/* sqlite3_int64 is long long; kappa formats int64_t. */
static int64_t col_i64(sqlite3_stmt *st, int i)
{
    return (int64_t)sqlite3_column_int64(st, i);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int query_open(const char *db_path, int64_t timeout_ms, query_t **out)
{
    query_t *q = kp_calloc(1, sizeof *q);
    if (!q || !(q->path = kp_strdup(db_path))) {
        kp_free(q);
        return KP_ENOMEM;
    }
    q->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    pthread_mutex_init(&q->mu, NULL);
    *out = q;
    return 0;
}

static void reader_close_db(query_reader_t *r)
{
    for (int i = 0; i < QUERY_STMT_CACHE; i++) {
        sqlite3_finalize(r->cache[i].st);
        r->cache[i] = (cached_t){0};
    }
    sqlite3_finalize(r->begin);
    sqlite3_finalize(r->commit);
    sqlite3_finalize(r->rollback);
    sqlite3_finalize(r->alias);
    sqlite3_finalize(r->version);
    r->begin = r->commit = r->rollback = r->alias = r->version = NULL;
    sqlite3_close(r->db);
    r->db = NULL;
}

void query_close(query_t *q)
{
    if (!q)
        return;
    while (q->free_list) {
        query_reader_t *r = q->free_list;
        q->free_list = r->next_free;
        reader_close_db(r);
        kp_free(r);
    }
    pthread_mutex_destroy(&q->mu);
    kp_free(q->path);
    kp_free(q);
}

const char *query_db_path(const query_t *q)
{
    return q->path;
}

query_reader_t *query_reader_get(query_t *q)
{
    pthread_mutex_lock(&q->mu);
    query_reader_t *r = q->free_list;
    if (r)
        q->free_list = r->next_free;
    pthread_mutex_unlock(&q->mu);
    if (!r && (r = kp_calloc(1, sizeof *r)) != NULL)
        r->q = q;
    return r;
}

void query_reader_put(query_reader_t *r)
{
    if (!r)
        return;
    query_t *q = r->q;
    pthread_mutex_lock(&q->mu);
    r->next_free = q->free_list;
    q->free_list = r;
    pthread_mutex_unlock(&q->mu);
}

/* The progress handler: nonzero interrupts the statement. */
static int on_progress(void *ctx)
{
    query_reader_t *r = ctx;
    return atomic_load(&r->q->stopping) || (r->deadline_ms && mono_ms() > r->deadline_ms);
}

void query_interrupt(query_t *q)
{
    atomic_store(&q->stopping, true);
}

bool query_stopping(const query_t *q)
{
    return atomic_load(&q->stopping);
}

/* Open the file if it exists now.  Returns 0 (r->db may stay NULL: no
 * file, hence no views) or a negative error. */
static int reader_ready(query_reader_t *r, char *err, size_t errcap)
{
    if (r->db)
        return 0;
    if (access(r->q->path, F_OK) != 0)
        return 0;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(r->q->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errcap, "cannot open the view store %s: %s", r->q->path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -EIO;
    }
    sqlite3_busy_timeout(db, 2000);
    /* Pages through a shared mapping rather than a pread per page miss. */
    sqlite3_exec(db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
    sqlite3_progress_handler(db, 1000, on_progress, r);
    r->db = db;
    if (sqlite3_prepare_v3(db, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &r->begin, NULL) ||
        sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &r->commit, NULL) ||
        sqlite3_prepare_v3(db, "ROLLBACK", -1, SQLITE_PREPARE_PERSISTENT, &r->rollback, NULL)) {
        snprintf(err, errcap, "view store %s: %s", r->q->path, sqlite3_errmsg(db));
        reader_close_db(r);
        return -EIO;
    }
    return 0;
}

static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

static int tx_begin(query_reader_t *r, char *err, size_t errcap)
{
    int rc = step_once(r->begin);
    if (rc) {
        snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
        return -EIO;
    }
    return 0;
}

static void tx_end(query_reader_t *r)
{
    if (sqlite3_get_autocommit(r->db))
        return;
    if (step_once(r->commit))
        step_once(r->rollback);
}

/* "revenue" -> version 0 (the alias); "revenue@v2" -> 2; -1 if bad. */
static int parse_ref(const char *ref, char name[QUERY_NAME_MAX + 1], int *version)
{
    size_t n = 0;
    while (ref[n] && ref[n] != '@')
        n++;
    if (n == 0 || n > QUERY_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = ref[i];
        bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return -1;
    }
    memcpy(name, ref, n);
    name[n] = '\0';
    *version = 0;
    if (!ref[n])
        return 0;
    const char *v = ref + n + 1;
    if (v[0] != 'v' || v[1] < '1' || v[1] > '9')
        return -1;
    char *end;
    errno = 0;
    long x = strtol(v + 1, &end, 10);
    if (errno || *end || x < 1 || x > INT32_MAX)
        return -1;
    *version = (int)x;
    return 0;
}

static bool no_schema(query_reader_t *r)
{
    const char *m = sqlite3_errmsg(r->db);
    return strncmp(m, "no such table", 13) == 0;
}

/*
 * Resolve ref to its version inside the current transaction.  Returns 0,
 * KP_ENOTFOUND or KP_EINVAL with err set.
 */
static int resolve(query_reader_t *r, const char *ref, char name[QUERY_NAME_MAX + 1],
                   int *version, char *err, size_t errcap)
{
    if (parse_ref(ref, name, version) != 0) {
        snprintf(err, errcap, "'%.80s' is not a view name (NAME or NAME@vN, NAME matching "
                 "[A-Za-z_][A-Za-z0-9_]*)", ref);
        return KP_EINVAL;
    }
    if (!r->db) {
        snprintf(err, errcap, "no view named '%s' (no view store yet)", name);
        return KP_ENOTFOUND;
    }
    sqlite3_stmt **stp = *version ? &r->version : &r->alias;
    if (!*stp) {
        const char *sql = *version
            ? "SELECT version FROM kappa_views WHERE view = ?1 AND version = ?2"
            : "SELECT version FROM kappa_aliases WHERE view = ?1";
        if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stp, NULL)) {
            bool empty = no_schema(r);
            snprintf(err, errcap, empty ? "no view named '%s' (no view store yet)"
                                        : "view store: %s", empty ? name : sqlite3_errmsg(r->db));
            return empty ? KP_ENOTFOUND : -EIO;
        }
    }
    sqlite3_stmt *st = *stp;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (*version)
        sqlite3_bind_int(st, 2, *version);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
        return -EIO;
    }
    if (!found) {
        if (*version)
            snprintf(err, errcap, "view '%s' has no version %d", name, *version);
        else
            snprintf(err, errcap, "no view named '%s'", name);
        return KP_ENOTFOUND;
    }
    *version = found;
    return 0;
}

/* A prepared per-table statement from the reader's cache. */
static sqlite3_stmt *table_stmt(query_reader_t *r, const char *table, int kind, char *err,
                                size_t errcap)
{
    for (int i = 0; i < QUERY_STMT_CACHE; i++)
        if (r->cache[i].st && r->cache[i].kind == kind && strcmp(r->cache[i].table, table) == 0)
            return r->cache[i].st;
    char sql[512];
    switch (kind) {
    case ST_GET:
        snprintf(sql, sizeof sql,
                 "SELECT value, ts, CASE WHEN typeof(value) = 'text' THEN json_valid(value) "
                 "ELSE 0 END FROM \"%s\" WHERE key = ?1", table);
        break;
    case ST_GET_ALIAS:
        /* The lookup and the alias check in one statement, hence one
         * snapshot: if the alias moved, the caller resolves again. */
        snprintf(sql, sizeof sql,
                 "SELECT a.version, t.value, t.ts, CASE WHEN typeof(t.value) = 'text' THEN "
                 "json_valid(t.value) ELSE 0 END FROM kappa_aliases a LEFT JOIN \"%s\" t "
                 "ON t.key = ?1 WHERE a.view = ?2", table);
        break;
    case ST_COUNT:
        snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\" WHERE value IS NOT NULL", table);
        break;
    case ST_CHANGES:
        snprintf(sql, sizeof sql,
                 "SELECT seq, key, value, ts, CASE WHEN typeof(value) = 'text' THEN "
                 "json_valid(value) ELSE 0 END FROM \"%s\" WHERE seq >= ?1 ORDER BY seq "
                 "LIMIT ?2", table);
        break;
    default: {
        int v = kind - ST_SCAN;
        snprintf(sql, sizeof sql,
                 "SELECT key, value, ts, CASE WHEN typeof(value) = 'text' THEN "
                 "json_valid(value) ELSE 0 END FROM \"%s\" WHERE key %s ?1%s "
                 "AND value IS NOT NULL ORDER BY key LIMIT ?3", table, v & 1 ? ">" : ">=",
                 v & 2 ? " AND key < ?2" : "");
    }
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
        return NULL;
    }
    cached_t *c = &r->cache[r->cache_next];
    r->cache_next = (r->cache_next + 1) % QUERY_STMT_CACHE;
    sqlite3_finalize(c->st);
    snprintf(c->table, sizeof c->table, "%s", table);
    c->kind = kind;
    c->st = st;
    return st;
}

static void table_name(char *buf, size_t cap, const char *name, int version)
{
    snprintf(buf, cap, "%s@v%d", name, version);
}

/* Keys are TEXT when valid UTF-8, else BLOB (store.h): bind the same way,
 * since SQLite never finds a BLOB equal to a TEXT. */
static void bind_key(sqlite3_stmt *st, int i, const void *k, size_t n)
{
    if (json_utf8_valid(k, n))
        sqlite3_bind_text(st, i, k, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, i, k, (int)n, SQLITE_STATIC);
}

/* A column as a JSON string (keys; values that are not JSON). */
static void put_col_str(jbuf_t *out, sqlite3_stmt *st, int col)
{
    const void *p = sqlite3_column_type(st, col) == SQLITE_BLOB ? sqlite3_column_blob(st, col)
                                                                : sqlite3_column_text(st, col);
    jbuf_str(out, p ? p : "", (size_t)sqlite3_column_bytes(st, col));
}

/* A row value: inlined when it is valid JSON text, else a JSON string. */
static void put_value(jbuf_t *out, sqlite3_stmt *st, int col, int json_col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        jbuf_puts(out, "null");
    else if (sqlite3_column_int(st, json_col))
        jbuf_put(out, sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
    else
        put_col_str(out, st, col);
}

/* ---- listing -------------------------------------------------------------- */

int query_views(query_reader_t *r, int64_t now_ms, jbuf_t *out, char *err, size_t errcap)
{
    int rc = reader_ready(r, err, errcap);
    if (rc)
        return rc;
    if (!r->db) {
        jbuf_puts(out, "{\"views\":[]}\n");
        return 0;
    }
    if ((rc = tx_begin(r, err, errcap)) != 0)
        return rc;
    sqlite3_stmt *vs = NULL, *os = NULL;
    rc = sqlite3_prepare_v2(r->db,
        "SELECT v.view, v.version, v.topic, v.job, v.created_ms, a.version "
        "FROM kappa_views v LEFT JOIN kappa_aliases a ON a.view = v.view "
        "ORDER BY v.view, v.version", -1, &vs, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(r->db,
            "SELECT partition, next_offset, high_watermark, applied, last_ts, committed_ms "
            "FROM kappa_offsets WHERE view = ?1 AND version = ?2 ORDER BY topic, partition",
            -1, &os, NULL);
    if (rc != SQLITE_OK) {
        if (no_schema(r)) {
            /* The file exists but its writer has not created the schema. */
            jbuf_puts(out, "{\"views\":[]}\n");
            rc = 0;
        } else {
            snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
            rc = -EIO;
        }
        goto done;
    }
    jbuf_puts(out, "{\"views\":[");
    char prev[QUERY_NAME_MAX + 1] = "";
    int nviews = 0, step;
    while ((step = sqlite3_step(vs)) == SQLITE_ROW) {
        const char *view = (const char *)sqlite3_column_text(vs, 0);
        int version = sqlite3_column_int(vs, 1);
        if (!view || strlen(view) > QUERY_NAME_MAX)
            continue;
        if (strcmp(view, prev) != 0) {
            if (nviews++)
                jbuf_puts(out, "]},");
            jbuf_puts(out, "{\"view\":");
            jbuf_str(out, view, strlen(view));
            jbuf_puts(out, ",\"alias\":");
            if (sqlite3_column_type(vs, 5) == SQLITE_NULL)
                jbuf_puts(out, "null");
            else
                jbuf_i64(out, col_i64(vs, 5));
            jbuf_puts(out, ",\"versions\":[");
            snprintf(prev, sizeof prev, "%s", view);
        } else {
            jbuf_puts(out, ",");
        }
        char table[QUERY_NAME_MAX + 16];
        table_name(table, sizeof table, view, version);
        jbuf_printf(out, "{\"version\":%d,\"table\":", version);
        jbuf_str(out, table, strlen(table));
        jbuf_puts(out, ",\"topic\":");
        put_col_str(out, vs, 2);
        jbuf_puts(out, ",\"job\":");
        put_col_str(out, vs, 3);
        jbuf_printf(out, ",\"created_ms\":%" PRId64 ",\"rows\":", col_i64(vs, 4));
        sqlite3_stmt *cs = table_stmt(r, table, ST_COUNT, err, errcap);
        if (cs && sqlite3_step(cs) == SQLITE_ROW)
            jbuf_i64(out, col_i64(cs, 0));
        else
            jbuf_puts(out, "null");     /* the table is missing: still list the version */
        if (cs)
            sqlite3_reset(cs);
        /* Offsets: lag and freshness come from the same snapshot as rows. */
        sqlite3_bind_text(os, 1, view, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(os, 2, version);
        jbuf_t offs = {0};
        int64_t lag = 0, last_ts = INT64_MIN, committed = INT64_MIN;
        int noffs = 0;
        while (sqlite3_step(os) == SQLITE_ROW) {
            int64_t next = col_i64(os, 1), hwm = col_i64(os, 2);
            if (sqlite3_column_type(os, 2) != SQLITE_NULL && hwm > next)
                lag += hwm - next;
            if (sqlite3_column_type(os, 4) != SQLITE_NULL && col_i64(os, 4) > last_ts)
                last_ts = col_i64(os, 4);
            if (sqlite3_column_type(os, 5) != SQLITE_NULL && col_i64(os, 5) > committed)
                committed = col_i64(os, 5);
            jbuf_printf(&offs, "%s{\"partition\":%d,\"next_offset\":%" PRId64
                        ",\"high_watermark\":%" PRId64 ",\"applied\":%" PRId64 "}",
                        noffs++ ? "," : "", sqlite3_column_int(os, 0), next,
                        sqlite3_column_type(os, 2) == SQLITE_NULL ? -1 : hwm,
                        col_i64(os, 3));
        }
        sqlite3_reset(os);
        jbuf_printf(out, ",\"lag\":%" PRId64, lag);
        if (last_ts > 0)
            jbuf_printf(out, ",\"freshness_ms\":%" PRId64 ",\"last_ts\":%" PRId64,
                        now_ms > last_ts ? now_ms - last_ts : 0, last_ts);
        else
            jbuf_puts(out, ",\"freshness_ms\":null,\"last_ts\":null");
        if (committed > INT64_MIN)
            jbuf_printf(out, ",\"committed_ms\":%" PRId64, committed);
        else
            jbuf_puts(out, ",\"committed_ms\":null");
        jbuf_puts(out, ",\"offsets\":[");
        if (offs.len)
            jbuf_put(out, offs.buf, offs.len);
        if (offs.err)
            out->err = true;
        jbuf_free(&offs);
        jbuf_puts(out, "]}");
    }
    if (step != SQLITE_DONE) {
        snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
        rc = -EIO;
        goto done;
    }
    jbuf_puts(out, nviews ? "]}]}\n" : "]}\n");
    rc = out->err ? KP_ENOMEM : 0;
done:
    sqlite3_finalize(vs);
    sqlite3_finalize(os);
    tx_end(r);
    return rc;
}

/* ---- point lookup and scan ---------------------------------------------- */

static int alias_seen(query_reader_t *r, const char *name)
{
    for (int i = 0; i < 8; i++)
        if (r->alias_seen[i].version && strcmp(r->alias_seen[i].view, name) == 0)
            return r->alias_seen[i].version;
    return 0;
}

static void alias_remember(query_reader_t *r, const char *name, int version)
{
    for (int i = 0; i < 8; i++)
        if (strcmp(r->alias_seen[i].view, name) == 0) {
            r->alias_seen[i].version = version;
            return;
        }
    snprintf(r->alias_seen[r->alias_next].view, sizeof r->alias_seen[0].view, "%s", name);
    r->alias_seen[r->alias_next].version = version;
    r->alias_next = (r->alias_next + 1) % 8;
}

static int get_row(sqlite3_stmt *st, int col, const char *name, int version,
                   const void *key, size_t key_len, jbuf_t *out, char *err, size_t errcap)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        if (json_utf8_valid(key, key_len))
            snprintf(err, errcap, "no key '%.200s' in view %s@v%d", (const char *)key, name,
                     version);
        else
            snprintf(err, errcap, "no such key in view %s@v%d", name, version);
        return KP_ENOTFOUND;
    }
    jbuf_puts(out, "{\"view\":");
    jbuf_str(out, name, strlen(name));
    jbuf_printf(out, ",\"version\":%d,\"key\":", version);
    jbuf_str(out, key, key_len);
    jbuf_puts(out, ",\"value\":");
    put_value(out, st, col, col + 2);
    jbuf_printf(out, ",\"ts\":%" PRId64 "}\n", col_i64(st, col + 1));
    return out->err ? KP_ENOMEM : 0;
}

/*
 * The fast path: one statement, no explicit transaction -- for "name@vN"
 * a lookup in its table, for an alias a lookup joined with the alias row
 * (invariant (3) holds because one statement reads one snapshot).
 * Returns 1 when it cannot answer (unknown alias, moved alias, missing
 * table): the caller then takes the slow path, which also explains errors.
 */
static int get_fast(query_reader_t *r, const char *name, int version, const void *key,
                    size_t key_len, jbuf_t *out, char *err, size_t errcap)
{
    int v = version ? version : alias_seen(r, name);
    if (!v)
        return 1;
    char table[QUERY_NAME_MAX + 16];
    table_name(table, sizeof table, name, v);
    sqlite3_stmt *st = table_stmt(r, table, version ? ST_GET : ST_GET_ALIAS, err, errcap);
    if (!st)
        return 1;
    bind_key(st, 1, key, key_len);
    if (!version)
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = 1, step = sqlite3_step(st);
    if (step == SQLITE_ROW && version)
        rc = get_row(st, 0, name, v, key, key_len, out, err, errcap);
    else if (step == SQLITE_ROW && sqlite3_column_int(st, 0) == v)
        rc = get_row(st, 1, name, v, key, key_len, out, err, errcap);
    else if (step == SQLITE_DONE && version)
        rc = 1;                 /* absent: the slow path words the 404 */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int query_get(query_reader_t *r, const char *ref, const void *key, size_t key_len,
              jbuf_t *out, char *err, size_t errcap)
{
    char name[QUERY_NAME_MAX + 1], table[QUERY_NAME_MAX + 16];
    int version, rc = reader_ready(r, err, errcap);
    if (rc)
        return rc;
    if (r->db && parse_ref(ref, name, &version) == 0) {
        size_t mark = out->len;
        rc = get_fast(r, name, version, key, key_len, out, err, errcap);
        if (rc != 1)
            return rc;
        out->len = mark;
        err[0] = '\0';
    }
    if (r->db && (rc = tx_begin(r, err, errcap)) != 0)
        return rc;
    if ((rc = resolve(r, ref, name, &version, err, errcap)) != 0)
        goto done;
    if (strchr(ref, '@') == NULL)
        alias_remember(r, name, version);
    table_name(table, sizeof table, name, version);
    sqlite3_stmt *st = table_stmt(r, table, ST_GET, err, errcap);
    if (!st) {
        rc = -EIO;
        goto done;
    }
    bind_key(st, 1, key, key_len);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        rc = get_row(st, 0, name, version, key, key_len, out, err, errcap);
    } else if (step == SQLITE_DONE) {
        snprintf(err, errcap, "no key '%.200s' in view %s", (const char *)key, table);
        if (!json_utf8_valid(key, key_len))
            snprintf(err, errcap, "no such key in view %s", table);
        rc = KP_ENOTFOUND;
    } else {
        snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
        rc = -EIO;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
done:
    if (r->db)
        tx_end(r);
    return rc;
}

/* The smallest string greater than every string starting with p (BINARY
 * collation compares bytes): p with its last byte below 0xff incremented
 * and the rest dropped.  Returns its length, 0 if there is none. */
static size_t prefix_end(const char *p, size_t n, char *out)
{
    while (n > 0 && (unsigned char)p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return 0;
    memcpy(out, p, n);
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return n;
}

int query_scan(query_reader_t *r, const char *ref, const char *prefix, const char *after,
               int limit, jbuf_t *out, char *err, size_t errcap)
{
    char name[QUERY_NAME_MAX + 1], table[QUERY_NAME_MAX + 16];
    int version, rc = reader_ready(r, err, errcap);
    if (rc)
        return rc;
    if (limit < 1 || limit > QUERY_SCAN_LIMIT_MAX) {
        snprintf(err, errcap, "limit must be 1..%d", QUERY_SCAN_LIMIT_MAX);
        return KP_EINVAL;
    }
    if (!prefix)
        prefix = "";
    size_t pl = strlen(prefix);
    char *hi = kp_malloc(pl + 1);
    if (!hi)
        return KP_ENOMEM;
    size_t hl = prefix_end(prefix, pl, hi);
    /* Start after `after` when it lies at or past the prefix, else at the
     * prefix: either way one index range, never a filter over skipped rows. */
    bool excl = after && strcmp(after, prefix) >= 0;
    const char *lo = excl ? after : prefix;
    if (r->db && (rc = tx_begin(r, err, errcap)) != 0)
        goto out_free;
    if ((rc = resolve(r, ref, name, &version, err, errcap)) != 0)
        goto done;
    table_name(table, sizeof table, name, version);
    sqlite3_stmt *st = table_stmt(r, table, ST_SCAN + (excl ? 1 : 0) + (hl ? 2 : 0), err, errcap);
    if (!st) {
        rc = -EIO;
        goto done;
    }
    bind_key(st, 1, lo, strlen(lo));
    if (hl)
        sqlite3_bind_text(st, 2, hi, (int)hl, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, limit + 1);
    jbuf_puts(out, "{\"view\":");
    jbuf_str(out, name, strlen(name));
    jbuf_printf(out, ",\"version\":%d,\"rows\":[", version);
    int n = 0, step;
    size_t last_key = 0;        /* offset in out of the last row's key */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit)
            break;
        jbuf_puts(out, n++ ? ",{\"key\":" : "{\"key\":");
        last_key = out->len;
        put_col_str(out, st, 0);
        jbuf_puts(out, ",\"value\":");
        put_value(out, st, 1, 3);
        jbuf_printf(out, ",\"ts\":%" PRId64 "}", col_i64(st, 2));
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
        rc = -EIO;
    } else if (step == SQLITE_ROW && !out->err) {
        /* More rows: the next page starts after the last key sent. */
        size_t kl = 0;
        const char *k = out->buf + last_key;
        for (bool esc = false; k[1 + kl] != '"' || esc; kl++)
            esc = !esc && k[1 + kl] == '\\';
        jbuf_puts(out, "],\"next\":");
        jbuf_put(out, out->buf + last_key, kl + 2);
        jbuf_puts(out, "}\n");
    } else {
        jbuf_puts(out, "],\"next\":null}\n");
    }
    if (!rc && out->err)
        rc = KP_ENOMEM;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
done:
    if (r->db)
        tx_end(r);
out_free:
    kp_free(hi);
    return rc;
}

/* ---- change stream ----------------------------------------------------- */

struct query_changes {
    query_reader_t *r;
    char table[QUERY_NAME_MAX + 16];
    int64_t next_seq;
};

int query_changes_open(query_reader_t *r, const char *ref, int64_t from,
                       query_changes_t **out, char *err, size_t errcap)
{
    char name[QUERY_NAME_MAX + 1];
    int version, rc = reader_ready(r, err, errcap);
    if (rc)
        return rc;
    if (r->db && (rc = tx_begin(r, err, errcap)) != 0)
        return rc;
    query_changes_t *c = NULL;
    if ((rc = resolve(r, ref, name, &version, err, errcap)) != 0)
        goto done;
    if (!(c = kp_calloc(1, sizeof *c))) {
        rc = KP_ENOMEM;
        goto done;
    }
    c->r = r;
    table_name(c->table, sizeof c->table, name, version);
    c->next_seq = from < 0 ? 0 : from;
    if (from < 0) {
        char sql[160];
        sqlite3_stmt *st;
        snprintf(sql, sizeof sql, "SELECT coalesce(max(seq), 0) + 1 FROM \"%s\"", c->table);
        if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            snprintf(err, errcap, "view store: %s", sqlite3_errmsg(r->db));
            rc = -EIO;
        } else {
            c->next_seq = col_i64(st, 0);
        }
        sqlite3_finalize(st);
    }
done:
    if (r->db)
        tx_end(r);
    if (rc) {
        kp_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int query_changes_next(query_changes_t *c, jbuf_t *out, int max)
{
    char err[256];
    sqlite3_stmt *st = table_stmt(c->r, c->table, ST_CHANGES, err, sizeof err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, c->next_seq);
    sqlite3_bind_int(st, 2, max);
    int n = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = col_i64(st, 0);
        jbuf_printf(out, "{\"seq\":%" PRId64 ",\"key\":", seq);
        put_col_str(out, st, 1);
        jbuf_puts(out, ",\"value\":");
        put_value(out, st, 2, 4);
        jbuf_printf(out, ",\"ts\":%" PRId64 "}\n", col_i64(st, 3));
        c->next_seq = seq + 1;
        n++;
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return -EIO;            /* e.g. the version was dropped */
    return out->err ? KP_ENOMEM : n;
}

void query_changes_close(query_changes_t *c)
{
    kp_free(c);
}

/* ---- read-only SQL -------------------------------------------------------- */

struct query_sql {
    query_reader_t *r;
    sqlite3_stmt *st;
    int ncols;
    int nrows;
    int64_t used_ms;            /* time spent stepping so far */
    bool row_pending;           /* st holds a row not yet written */
};

static int authorize(void *ctx, int action, const char *a, const char *b, const char *db,
                     const char *trigger)
{
    (void)b, (void)db, (void)trigger;
    query_reader_t *r = ctx;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        snprintf(r->deny, sizeof r->deny, "PRAGMA %s is not allowed: the query API is "
                 "read-only SELECT", a ? a : "");
        break;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(r->deny, sizeof r->deny, "ATTACH and DETACH are not allowed: queries read "
                 "the view store only");
        break;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        snprintf(r->deny, sizeof r->deny, "transaction statements are not allowed: each "
                 "query is its own read transaction");
        break;
    default:
        snprintf(r->deny, sizeof r->deny, "only read-only SELECT statements are allowed "
                 "(this statement would write or change the schema)");
        break;
    }
    return SQLITE_DENY;
}

/* Step the statement within the remaining time budget. */
static int sql_step(query_sql_t *s)
{
    int64_t t0 = mono_ms();
    s->r->deadline_ms = t0 + (s->r->q->timeout_ms - s->used_ms);
    int rc = sqlite3_step(s->st);
    s->r->deadline_ms = 0;
    s->used_ms += mono_ms() - t0;
    return rc;
}

static const char *sql_errmsg(query_sql_t *s, int rc, char *buf, size_t cap)
{
    if (rc == SQLITE_INTERRUPT && query_stopping(s->r->q))
        snprintf(buf, cap, "query stopped: the server is shutting down");
    else if (rc == SQLITE_INTERRUPT)
        snprintf(buf, cap, "query stopped: it ran longer than the %" PRId64 " ms limit "
                 "(kappa.views.query.timeout.ms)", s->r->q->timeout_ms);
    else
        snprintf(buf, cap, "%s", sqlite3_errmsg(s->r->db));
    return buf;
}

static void put_sql_cell(jbuf_t *out, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        jbuf_i64(out, col_i64(st, i));
        break;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        if (d != d || d - d != 0)       /* NaN or infinite: JSON has no such number */
            jbuf_puts(out, "null");
        else
            jbuf_printf(out, "%.17g", d);
        break;
    }
    case SQLITE_NULL:
        jbuf_puts(out, "null");
        break;
    default:
        put_col_str(out, st, i);
        break;
    }
}

static void put_sql_row(query_sql_t *s, jbuf_t *out)
{
    jbuf_puts(out, s->nrows++ ? ",[" : "[");
    for (int i = 0; i < s->ncols; i++) {
        if (i)
            jbuf_puts(out, ",");
        put_sql_cell(out, s->st, i);
    }
    jbuf_puts(out, "]");
}

int query_sql_start(query_reader_t *r, const char *sql, size_t len, query_sql_t **out,
                    jbuf_t *head, char *err, size_t errcap)
{
    int rc = reader_ready(r, err, errcap);
    if (rc)
        return rc;
    if (!r->db) {
        snprintf(err, errcap, "no views yet: the view store %s does not exist", r->q->path);
        return KP_ENOTFOUND;
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    r->deny[0] = '\0';
    sqlite3_set_authorizer(r->db, authorize, r);
    rc = sqlite3_prepare_v2(r->db, sql, (int)len, &st, &tail);
    if (rc == SQLITE_OK && st && tail && tail < sql + len) {
        /* Whatever follows must be blanks, semicolons or comments. */
        sqlite3_stmt *more = NULL;
        const char *t2;
        while (rc == SQLITE_OK && !more && tail < sql + len) {
            rc = sqlite3_prepare_v2(r->db, tail, (int)(sql + len - tail), &more, &t2);
            if (t2 == tail)
                break;
            tail = t2;
        }
        if (more || rc != SQLITE_OK) {
            sqlite3_finalize(more);
            sqlite3_finalize(st);
            sqlite3_set_authorizer(r->db, NULL, NULL);
            snprintf(err, errcap, "only one statement per query");
            return KP_EINVAL;
        }
    }
    sqlite3_set_authorizer(r->db, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (r->deny[0])
            snprintf(err, errcap, "%s", r->deny);
        else
            snprintf(err, errcap, "%s", sqlite3_errmsg(r->db));
        return KP_EINVAL;
    }
    if (!st) {
        snprintf(err, errcap, "empty query: send one SELECT statement");
        return KP_EINVAL;
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        snprintf(err, errcap, "only read-only SELECT statements are allowed");
        return KP_EINVAL;
    }
    query_sql_t *s = kp_calloc(1, sizeof *s);
    if (!s) {
        sqlite3_finalize(st);
        return KP_ENOMEM;
    }
    s->r = r;
    s->st = st;
    s->ncols = sqlite3_column_count(st);
    rc = sql_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sql_errmsg(s, rc, err, errcap);
        query_sql_end(s);
        return rc == SQLITE_INTERRUPT ? KP_ETOOLARGE : KP_EINVAL;
    }
    s->row_pending = rc == SQLITE_ROW;
    if (!s->row_pending) {
        sqlite3_reset(st);      /* ends the read transaction at once */
    }
    jbuf_puts(head, "{\"columns\":[");
    for (int i = 0; i < s->ncols; i++) {
        const char *n = sqlite3_column_name(st, i);
        if (i)
            jbuf_puts(head, ",");
        jbuf_str(head, n ? n : "", n ? strlen(n) : 0);
    }
    jbuf_puts(head, "],\"rows\":[");
    *out = s;
    return 0;
}

int query_sql_next(query_sql_t *s, jbuf_t *out, size_t want)
{
    while (s->row_pending && out->len < want && !out->err) {
        put_sql_row(s, out);
        int rc = sql_step(s);
        if (rc == SQLITE_ROW)
            continue;
        s->row_pending = false;
        if (rc != SQLITE_DONE) {
            char m[256];
            jbuf_puts(out, "],\"error\":");
            sql_errmsg(s, rc, m, sizeof m);
            jbuf_str(out, m, strlen(m));
            jbuf_puts(out, "}\n");
            sqlite3_reset(s->st);
            return 0;
        }
        sqlite3_reset(s->st);
    }
    if (s->row_pending && !out->err)
        return 1;
    jbuf_puts(out, "]}\n");
    return 0;
}

void query_sql_end(query_sql_t *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->st);
    kp_free(s);
}

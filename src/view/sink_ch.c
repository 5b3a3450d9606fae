/*
 * sink_ch.c -- the ClickHouse view backend, over ClickHouse's HTTP interface
 * (libcurl).  `clickhouse://HOST:PORT[/DB]` talks to http://HOST:PORT/ with
 * database=DB (default "default").
 *
 * Written for ClickHouse 18.16 (Debian's): no transactions, no is_deleted
 * column for ReplacingMergeTree, no lightweight DELETE.  So:
 *
 *   `revenue@v2`(key String, value Nullable(String), ts Int64,
 *                src_partition Int32, src_offset UInt64)
 *       ENGINE = ReplacingMergeTree(src_offset) ORDER BY key
 *   A delete is a row whose value is NULL (a tombstone); reads use FINAL and
 *   skip NULL values, as the stable-name view does:
 *   VIEW revenue AS SELECT key, value, ts FROM `revenue@v2` FINAL
 *                   WHERE value IS NOT NULL
 *   kappa_offsets(view, version, topic, partition, next_offset UInt64,
 *                 applied, high_watermark, last_ts, committed_ms)
 *       ENGINE = ReplacingMergeTree(next_offset)
 *       ORDER BY (view, version, topic, partition)
 *   (kappa_views and kappa_aliases likewise, ReplacingMergeTree.)
 *
 * A batch is two POSTs: first the rows (INSERT ... FORMAT JSONEachRow), then
 * one offsets row per partition the batch touched.  Why that is exactly
 * once without a transaction:
 *  (1) A crash (or error) after the rows and before the offsets leaves the
 *      old offsets stored; the sink re-reads from them and inserts the same
 *      changes again, each with the same src_offset.  For a key,
 *      ReplacingMergeTree keeps the row with the greatest src_offset (the
 *      last inserted among equals, and equals are identical here), so the
 *      replay replaces itself and FINAL shows each key's newest change.
 *  (2) A key lives in one partition of the backing topic, so comparing
 *      src_offset compares positions in the same log: an older change never
 *      wins over a newer one, whatever order inserts and merges happen in.
 *  (3) applied is carried in the offsets row: the new row holds the stored
 *      row's applied plus the changes of this batch at or past the stored
 *      next offset.  The rows of a batch whose offsets row never landed are
 *      not counted, and their replay is counted once when its offsets row
 *      lands; an offsets row is versioned by next_offset, so FINAL returns
 *      the newest.
 *  (4) The offsets are read with FINAL at begin and changes below them are
 *      skipped, as in the other backends.
 * Two sinks writing the same view version at once (during a rebalance) can
 * each count an overlapping change once: ClickHouse has no lock to stop it.
 * The rows stay right by (1) and (2); only the applied counter can exceed
 * the number of changes.  Keys and values are Strings (any bytes).
 */
#include "view/sink.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ch_buf {
    char *p;
    size_t len, cap;
} ch_buf_t;

typedef struct ch_backend {
    view_backend_t base;
    CURL *curl;
    char base_url[512];         /* http://HOST:PORT/?database=DB */
    char db[128];
    ch_buf_t resp;              /* body of the last response */
    bool in_batch;
    bool grow_failed;           /* out of memory while reading offsets */
    char view[VIEW_NAME_MAX + 1];
    int version;
    char table[VIEW_NAME_MAX + 16];
    char topic[256];
    ch_buf_t rows;              /* JSONEachRow lines of the batch */
    size_t nrows;
    /* Per partition: stored next offset and applied (read at begin), then
     * this batch's count, newest offset and its timestamp. */
    int32_t nparts;
    int64_t *stored_next, *stored_applied, *stored_ts, *count, *last_offset, *last_ts;
    int64_t *advanced;          /* consumer position past non-changes, -1 */
} ch_backend_t;

static int buf_reserve(ch_buf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = kp_realloc(b->p, cap);
    if (!p)
        return KP_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_add(ch_buf_t *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return KP_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_printf(ch_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(ch_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0)
        return KP_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* A JSON string: " and \ escaped, control bytes as \u00XX, every other byte
 * as is (ClickHouse's JSON reader takes a String's bytes verbatim). */
static int ch_json_str(ch_buf_t *b, const void *data, size_t n)
{
    if (buf_reserve(b, 6 * n + 2) < 0)
        return KP_ENOMEM;
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = data;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o += 4;
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    return 0;
}

static bool ch_name_ok(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    size_t n = 0;
    for (; *s; s++, n++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    }
    return n <= VIEW_NAME_MAX;
}

/* A topic name inside a '...' literal: Kafka topic names are
 * [A-Za-z0-9._-], which need no escaping; anything else is refused. */
static bool ch_topic_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 249)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    }
    return true;
}

static size_t ch_write_cb(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    ch_buf_t *b = ctx;
    return buf_add(b, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

/* POST: with body, `query` goes in the URL and body is the data (INSERT);
 * without, query is the body.  The response is in ch->resp. */
static int ch_post(ch_backend_t *ch, const char *query, const char *body, size_t body_len)
{
    char *url = NULL;
    int rc = KP_EFAILED;
    ch->resp.len = 0;
    if (ch->resp.p)
        ch->resp.p[0] = '\0';
    if (body) {
        char *q = curl_easy_escape(ch->curl, query, 0);
        if (!q)
            return KP_ENOMEM;
        size_t n = strlen(ch->base_url) + strlen(q) + 16;
        url = kp_malloc(n);
        if (!url) {
            curl_free(q);
            return KP_ENOMEM;
        }
        snprintf(url, n, "%s&query=%s", ch->base_url, q);
        curl_free(q);
    } else {
        body = query;
        body_len = strlen(query);
    }
    curl_easy_setopt(ch->curl, CURLOPT_URL, url ? url : ch->base_url);
    curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    CURLcode cc = curl_easy_perform(ch->curl);
    long status = 0;
    if (cc != CURLE_OK) {
        KP_ERROR("clickhouse: %s: %.*s", curl_easy_strerror(cc), (int)strcspn(query, "\n"), query);
        goto out;
    }
    curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        KP_ERROR("clickhouse: HTTP %ld: %.*s: %.300s", status, (int)strcspn(query, "\n"), query,
                 ch->resp.p ? ch->resp.p : "");
        goto out;
    }
    rc = 0;
out:
    kp_free(url);
    return rc;
}

static int ch_parts_grow(ch_backend_t *ch, int32_t n)
{
    if (n <= ch->nparts)
        return 0;
    /* Initial values: counters 0, offsets and timestamps -1. */
    int64_t **arrs[7] = {&ch->stored_next, &ch->stored_applied, &ch->stored_ts, &ch->count,
                         &ch->last_offset, &ch->last_ts, &ch->advanced};
    static const int64_t init[7] = {-1, 0, -1, 0, -1, -1, -1};
    for (int k = 0; k < 7; k++) {
        int64_t *a = kp_realloc(*arrs[k], (size_t)n * sizeof *a);
        if (!a)
            return KP_ENOMEM;
        *arrs[k] = a;
        for (int32_t i = ch->nparts; i < n; i++)
            a[i] = init[k];
    }
    ch->nparts = n;
    return 0;
}

/* Stored (partition, next_offset, applied) rows of a view version's topic,
 * newest per partition.  Calls fn for each. */
static int ch_read_offsets(ch_backend_t *ch, const char *view, int version, const char *topic,
                           void (*fn)(void *ctx, int32_t p, int64_t next, int64_t applied,
                                      int64_t last_ts),
                           void *ctx)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT partition, next_offset, applied, last_ts FROM kappa_offsets FINAL"
             " WHERE view = '%s' AND version = %d AND topic = '%s' FORMAT TabSeparated",
             view, version, topic);
    if (ch_post(ch, sql, NULL, 0) < 0)
        return KP_EFAILED;
    const char *s = ch->resp.p ? ch->resp.p : "";
    while (*s) {
        char *e;
        long p = strtol(s, &e, 10);
        if (*e != '\t')
            break;
        long long next = strtoll(e + 1, &e, 10);
        if (*e != '\t')
            break;
        long long applied = strtoll(e + 1, &e, 10);
        if (*e != '\t')
            break;
        long long last_ts = strtoll(e + 1, &e, 10);
        if (p >= 0 && p < INT32_MAX)
            fn(ctx, (int32_t)p, next, applied, last_ts);
        s = *e == '\n' ? e + 1 : e;
        if (*e != '\n')
            break;
    }
    return 0;
}

/* ---- the backend operations ---------------------------------------------- */

static int ch_ensure(view_backend_t *b, const char *view, int version, const char *job,
                     const char *topic)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    if (!ch_name_ok(view) || version < 1 || !ch_topic_ok(topic)) {
        KP_ERROR("clickhouse: invalid view %s@v%d or topic", view ? view : "(null)", version);
        return KP_EINVAL;
    }
    char table[VIEW_NAME_MAX + 16], sql[1024];
    snprintf(table, sizeof table, "%s@v%d", view, version);
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS `%s` (key String, value Nullable(String), ts Int64,"
             " src_partition Int32, src_offset UInt64)"
             " ENGINE = ReplacingMergeTree(src_offset) ORDER BY key",
             table);
    if (ch_post(ch, sql, NULL, 0) < 0)
        return KP_EFAILED;
    /* kappa_views: ReplacingMergeTree on (view, version), so ensuring
     * again just adds a row that merges away. */
    ch_buf_t row = {0};
    int rc = KP_ENOMEM;
    int64_t now = kp_now_ms();
    if (buf_printf(&row, "{\"view\":\"%s\",\"version\":%d,\"job\":", view, version) < 0)
        goto out;
    if (ch_json_str(&row, job ? job : "", job ? strlen(job) : 0) < 0 ||
        buf_printf(&row, ",\"topic\":\"%s\",\"created_ms\":%lld}\n", topic, (long long)now) < 0)
        goto out;
    rc = KP_EFAILED;
    if (ch_post(ch, "INSERT INTO kappa_views FORMAT JSONEachRow", row.p, row.len) < 0)
        goto out;
    snprintf(sql, sizeof sql, "SELECT count() FROM kappa_aliases FINAL WHERE view = '%s'", view);
    if (ch_post(ch, sql, NULL, 0) < 0)
        goto out;
    if (strtol(ch->resp.p ? ch->resp.p : "0", NULL, 10) == 0) {
        /* The view's first version: the stable name points at it. */
        row.len = 0;
        if (buf_printf(&row, "{\"view\":\"%s\",\"version\":%d,\"updated_ms\":%lld}\n", view,
                       version, (long long)now) < 0) {
            rc = KP_ENOMEM;
            goto out;
        }
        if (ch_post(ch, "INSERT INTO kappa_aliases FORMAT JSONEachRow", row.p, row.len) < 0)
            goto out;
        snprintf(sql, sizeof sql,
                 "CREATE VIEW IF NOT EXISTS `%s` AS SELECT key, value, ts FROM `%s` FINAL"
                 " WHERE value IS NOT NULL",
                 view, table);
        if (ch_post(ch, sql, NULL, 0) < 0)
            goto out;
    }
    rc = 0;
out:
    kp_free(row.p);
    return rc;
}

typedef struct ch_offsets_ctx {
    int64_t *next;
    int32_t nparts;
} ch_offsets_ctx_t;

static void ch_offsets_cb(void *ctx, int32_t p, int64_t next, int64_t applied, int64_t last_ts)
{
    ch_offsets_ctx_t *o = ctx;
    (void)applied;
    (void)last_ts;
    if (p < o->nparts)
        o->next[p] = next;
}

static int ch_offsets(view_backend_t *b, const char *view, int version, const char *topic,
                      int32_t nparts, int64_t *next)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    for (int32_t p = 0; p < nparts; p++)
        next[p] = -1;
    if (!ch_name_ok(view) || !ch_topic_ok(topic))
        return KP_EINVAL;
    ch_offsets_ctx_t o = {next, nparts};
    return ch_read_offsets(ch, view, version, topic, ch_offsets_cb, &o);
}

static void ch_stored_cb(void *ctx, int32_t p, int64_t next, int64_t applied, int64_t last_ts)
{
    ch_backend_t *ch = ctx;
    if (ch_parts_grow(ch, p + 1) < 0) {
        ch->grow_failed = true;
        return;
    }
    ch->stored_next[p] = next;
    ch->stored_applied[p] = applied;
    ch->stored_ts[p] = last_ts;
}

static void ch_batch_reset(ch_backend_t *ch)
{
    ch->in_batch = false;
    ch->rows.len = 0;
    ch->nrows = 0;
    for (int32_t p = 0; p < ch->nparts; p++) {
        ch->stored_next[p] = -1;
        ch->stored_applied[p] = 0;
        ch->stored_ts[p] = -1;
        ch->advanced[p] = -1;
        ch->count[p] = 0;
        ch->last_offset[p] = -1;
        ch->last_ts[p] = -1;
    }
}

static int ch_begin(view_backend_t *b, const char *view, int version, const char *topic)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    if (!ch_name_ok(view) || version < 1 || !ch_topic_ok(topic)) {
        KP_ERROR("clickhouse: invalid view %s@v%d or topic", view ? view : "(null)", version);
        return KP_EINVAL;
    }
    ch_batch_reset(ch);
    snprintf(ch->view, sizeof ch->view, "%s", view);
    snprintf(ch->table, sizeof ch->table, "%s@v%d", view, version);
    snprintf(ch->topic, sizeof ch->topic, "%s", topic);
    ch->version = version;
    /* The stored offsets and applied counts this batch builds on (4). */
    ch->grow_failed = false;
    if (ch_read_offsets(ch, view, version, topic, ch_stored_cb, ch) < 0)
        return KP_EFAILED;
    if (ch->grow_failed)
        return KP_ENOMEM;
    ch->in_batch = true;
    return 0;
}

static int ch_apply(view_backend_t *b, const view_change_t *c)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    if (!ch->in_batch || c->partition < 0 || c->offset < 0)
        return KP_EINVAL;
    int rc = ch_parts_grow(ch, c->partition + 1);
    if (rc < 0)
        return rc;
    int32_t p = c->partition;
    if (ch->stored_next[p] >= 0 && c->offset < ch->stored_next[p])
        return 0; /* applied by an earlier batch (4) */
    if (buf_add(&ch->rows, "{\"key\":", 7) < 0 || ch_json_str(&ch->rows, c->key, c->key_len) < 0 ||
        buf_add(&ch->rows, ",\"value\":", 9) < 0)
        return KP_ENOMEM;
    if (c->value) {
        if (ch_json_str(&ch->rows, c->value, c->value_len) < 0)
            return KP_ENOMEM;
    } else if (buf_add(&ch->rows, "null", 4) < 0) {
        return KP_ENOMEM;
    }
    if (buf_printf(&ch->rows, ",\"ts\":%lld,\"src_partition\":%d,\"src_offset\":%lld}\n",
                   (long long)c->ts, (int)p, (long long)c->offset) < 0)
        return KP_ENOMEM;
    ch->nrows++;
    ch->count[p]++;
    if (c->offset > ch->last_offset[p]) {
        ch->last_offset[p] = c->offset;
        ch->last_ts[p] = c->ts;
    }
    return 0;
}

static int ch_commit(view_backend_t *b, const int64_t *hwm, int32_t nparts)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    if (!ch->in_batch)
        return KP_EINVAL;
    int rc = KP_EFAILED;
    ch_buf_t offs = {0};
    char q[256];
    if (ch->nrows > 0) {
        /* Rows first, then offsets (1). */
        snprintf(q, sizeof q, "INSERT INTO `%s` FORMAT JSONEachRow", ch->table);
        if (ch_post(ch, q, ch->rows.p, ch->rows.len) < 0)
            goto out;
    }
    int64_t now = kp_now_ms();
    for (int32_t p = 0; p < ch->nparts; p++) {
        int64_t next = ch->count[p] > 0 ? ch->last_offset[p] + 1 : -1;
        if (ch->advanced[p] > next)
            next = ch->advanced[p];
        /* Only a row that moves next_offset forward: rows are versioned by
         * it, and one with the stored next_offset would not reliably
         * replace the stored row.  So a partition with nothing new keeps
         * its row (and its high_watermark until the next change). */
        if (next <= ch->stored_next[p])
            continue;
        int64_t h = p < nparts && hwm ? hwm[p] : -1;
        int64_t ts = ch->count[p] > 0 ? ch->last_ts[p] : ch->stored_ts[p];
        if (buf_printf(&offs,
                       "{\"view\":\"%s\",\"version\":%d,\"topic\":\"%s\",\"partition\":%d,"
                       "\"next_offset\":%lld,\"applied\":%lld,\"high_watermark\":%lld,"
                       "\"last_ts\":%lld,\"committed_ms\":%lld}\n",
                       ch->view, ch->version, ch->topic, (int)p, (long long)next,
                       (long long)(ch->stored_applied[p] + ch->count[p]), (long long)h,
                       (long long)ts, (long long)now) < 0) {
            rc = KP_ENOMEM;
            goto out;
        }
    }
    if (offs.len > 0 &&
        ch_post(ch, "INSERT INTO kappa_offsets FORMAT JSONEachRow", offs.p, offs.len) < 0)
        goto out;
    rc = 0;
out:
    kp_free(offs.p);
    ch_batch_reset(ch);
    return rc;
}

static int ch_advance(view_backend_t *b, int32_t partition, int64_t next_offset)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    if (!ch->in_batch || partition < 0)
        return KP_EINVAL;
    int rc = ch_parts_grow(ch, partition + 1);
    if (rc < 0)
        return rc;
    if (next_offset > ch->advanced[partition])
        ch->advanced[partition] = next_offset;
    return 0;
}

static void ch_rollback(view_backend_t *b)
{
    ch_batch_reset((ch_backend_t *)b);
}

static void ch_close(view_backend_t *b)
{
    ch_backend_t *ch = (ch_backend_t *)b;
    if (!ch)
        return;
    if (ch->curl)
        curl_easy_cleanup(ch->curl);
    kp_free(ch->resp.p);
    kp_free(ch->rows.p);
    kp_free(ch->stored_next);
    kp_free(ch->stored_applied);
    kp_free(ch->stored_ts);
    kp_free(ch->advanced);
    kp_free(ch->count);
    kp_free(ch->last_offset);
    kp_free(ch->last_ts);
    kp_free(ch);
}

static const view_backend_ops_t ch_ops = {
    .kind = "clickhouse",
    .ensure = ch_ensure,
    .offsets = ch_offsets,
    .begin = ch_begin,
    .apply = ch_apply,
    .commit = ch_commit,
    .rollback = ch_rollback,
    .close = ch_close,
    .advance = ch_advance,
};

static const char *const CH_SCHEMA[] = {
    "CREATE TABLE IF NOT EXISTS kappa_views (view String, version Int32, job String,"
    " topic String, created_ms Int64) ENGINE = ReplacingMergeTree ORDER BY (view, version)",
    "CREATE TABLE IF NOT EXISTS kappa_aliases (view String, version Int32, updated_ms UInt64)"
    " ENGINE = ReplacingMergeTree(updated_ms) ORDER BY view",
    "CREATE TABLE IF NOT EXISTS kappa_offsets (view String, version Int32, topic String,"
    " partition Int32, next_offset UInt64, applied Int64, high_watermark Int64, last_ts Int64,"
    " committed_ms Int64) ENGINE = ReplacingMergeTree(next_offset)"
    " ORDER BY (view, version, topic, partition)",
};

/* clickhouse://HOST:PORT[/DB] -> host:port and db. */
static int ch_parse_url(const char *url, char *hostport, size_t hcap, char *db, size_t dcap)
{
    static const char scheme[] = "clickhouse://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return KP_EINVAL;
    const char *h = url + sizeof scheme - 1;
    size_t hl = strcspn(h, "/?");
    if (hl == 0 || hl >= hcap)
        return KP_EINVAL;
    memcpy(hostport, h, hl);
    hostport[hl] = '\0';
    const char *d = h + hl;
    snprintf(db, dcap, "default");
    if (*d == '/' && d[1]) {
        size_t dl = strcspn(d + 1, "/?");
        if (dl >= dcap)
            return KP_EINVAL;
        memcpy(db, d + 1, dl);
        db[dl] = '\0';
        if (dl > 0 && !ch_name_ok(db))
            return KP_EINVAL;
        if (dl == 0)
            snprintf(db, dcap, "default");
    }
    return 0;
}

int view_backend_open_ch(const char *url, view_backend_t **out)
{
    *out = NULL;
    char hostport[256], db[128];
    if (ch_parse_url(url, hostport, sizeof hostport, db, sizeof db) < 0) {
        KP_ERROR("clickhouse: bad target %s (want clickhouse://HOST:PORT[/DB])", url);
        return KP_EINVAL;
    }
    static int curl_ready;
    if (!__atomic_load_n(&curl_ready, __ATOMIC_ACQUIRE)) {
        /* curl_global_init is not thread-safe in older libcurl; the first
         * sink opens before any other thread uses curl. */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        __atomic_store_n(&curl_ready, 1, __ATOMIC_RELEASE);
    }
    ch_backend_t *ch = kp_calloc(1, sizeof *ch);
    if (!ch)
        return KP_ENOMEM;
    ch->base.ops = &ch_ops;
    snprintf(ch->db, sizeof ch->db, "%s", db);
    ch->curl = curl_easy_init();
    if (!ch->curl) {
        ch_close(&ch->base);
        return KP_ENOMEM;
    }
    curl_easy_setopt(ch->curl, CURLOPT_WRITEFUNCTION, ch_write_cb);
    curl_easy_setopt(ch->curl, CURLOPT_WRITEDATA, &ch->resp);
    curl_easy_setopt(ch->curl, CURLOPT_NOSIGNAL, 1L);
    /* Bounded: a dead or stuck server is an error, and the runtime retries. */
    curl_easy_setopt(ch->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(ch->curl, CURLOPT_TIMEOUT_MS, 60000L);
    /* The database first (the per-request URL names it). */
    snprintf(ch->base_url, sizeof ch->base_url, "http://%s/", hostport);
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS `%s`", db);
    if (ch_post(ch, sql, NULL, 0) < 0) {
        KP_ERROR("clickhouse: cannot reach %s", url);
        ch_close(&ch->base);
        return KP_EFAILED;
    }
    snprintf(ch->base_url, sizeof ch->base_url, "http://%s/?database=%s", hostport, db);
    for (size_t i = 0; i < sizeof CH_SCHEMA / sizeof CH_SCHEMA[0]; i++) {
        if (ch_post(ch, CH_SCHEMA[i], NULL, 0) < 0) {
            ch_close(&ch->base);
            return KP_EFAILED;
        }
    }
    *out = &ch->base;
    return 0;
}

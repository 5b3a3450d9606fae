/*
 * query.h -- the read side of the view store (store.h): what the HTTP query
 * API and its tests ask of the SQLite file.
 *
 * A query_t names the database file and the limits; readers are taken from
 * it one per thread (query_reader_get) and given back (query_reader_put).
 * Each reader owns one read-only SQLite connection and its prepared
 * statements, so readers never share SQLite state and run in parallel; the
 * pool keeps idle readers so a new HTTP connection does not reopen the file.
 *
 * The file may not exist yet (no job has created a view): a reader then
 * answers as if there were no views, and tries to open the file again on
 * its next use, so views appear without a restart.
 *
 * Every answer is JSON appended to a jbuf_t (core/json.h).  Errors: 0 on
 * success; KP_ENOTFOUND (no such view, version or key), KP_EINVAL (a bad
 * reference or a refused statement), KP_ETOOLARGE (over the time limit) or
 * another negative code, each with a message for the user in err.
 *
 * Consistency: each call reads in one SQLite read transaction, so the alias
 * and the rows it resolves to, or the rows and the offsets that produced
 * them, come from the same committed state.
 */
#ifndef KP_VIEW_QUERY_H
#define KP_VIEW_QUERY_H

#include "core/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUERY_SCAN_LIMIT_DEFAULT 100
#define QUERY_SCAN_LIMIT_MAX 10000

typedef struct query query_t;
typedef struct query_reader query_reader_t;

/* timeout_ms bounds each query_sql_* statement (kappa.views.query.timeout.ms). */
int query_open(const char *db_path, int64_t timeout_ms, query_t **out);
/* Every reader must have been put back. */
void query_close(query_t *q);
const char *query_db_path(const query_t *q);
/* Shutdown: interrupt running statements (they fail as "stopped") and make
 * query_stopping() true, so streams end.  Thread-safe. */
void query_interrupt(query_t *q);
bool query_stopping(const query_t *q);

/* A reader for this thread's use (NULL: out of memory); put it back when
 * the request and any stream over it are done. */
query_reader_t *query_reader_get(query_t *q);
void query_reader_put(query_reader_t *r);

/*
 * {"views":[{"view","alias","versions":[{"version","table","topic","job",
 * "created_ms","rows","lag","freshness_ms","last_ts","committed_ms",
 * "offsets":[{"partition","next_offset","high_watermark","applied"}]}]}]}
 * now_ms: wall clock for freshness (now - the newest applied record's ts).
 */
int query_views(query_reader_t *r, int64_t now_ms, jbuf_t *out, char *err, size_t errcap);

/* Point lookup: {"view","version","key","value","ts"}; ref is "name" (the
 * alias) or "name@vN".  A deleted key is KP_ENOTFOUND. */
int query_get(query_reader_t *r, const char *ref, const void *key, size_t key_len,
              jbuf_t *out, char *err, size_t errcap);

/* Ordered scan of live rows: keys starting with prefix ("" all), greater
 * than after (NULL: from the start), at most limit:
 * {"view","version","rows":[{"key","value","ts"}...],"next":KEY|null}. */
int query_scan(query_reader_t *r, const char *ref, const char *prefix, const char *after,
               int limit, jbuf_t *out, char *err, size_t errcap);

/*
 * Change stream: the latest change of every key changed at or after seq
 * `from` (-1: from now on), in seq order.  Opening resolves ref once; the
 * stream then follows that table.  query_changes_next appends up to max
 * lines {"seq","key","value"|null,"ts"}\n and returns how many (0: none
 * yet), or a negative error (the table was dropped).
 */
typedef struct query_changes query_changes_t;
int query_changes_open(query_reader_t *r, const char *ref, int64_t from,
                       query_changes_t **out, char *err, size_t errcap);
int query_changes_next(query_changes_t *c, jbuf_t *out, int max);
void query_changes_close(query_changes_t *c);

/*
 * Read-only SQL: exactly one statement; ATTACH, DETACH, PRAGMA,
 * transactions and anything that writes are refused (KP_EINVAL, with the
 * reason).  query_sql_start prepares and runs the statement up to its first
 * row and appends {"columns":[...],"rows":[ -- so a statement that fails
 * early is an error, not a half-written answer.  query_sql_next appends
 * rows until out holds at least want bytes; at the end it closes the JSON
 * (with "error":"..." after the rows if the statement failed midway, e.g.
 * the time limit) and returns 0; 1 means more to come.
 */
typedef struct query_sql query_sql_t;
int query_sql_start(query_reader_t *r, const char *sql, size_t len, query_sql_t **out,
                    jbuf_t *head, char *err, size_t errcap);
int query_sql_next(query_sql_t *s, jbuf_t *out, size_t want);
void query_sql_end(query_sql_t *s);

#endif

/*
 * store.h -- the embedded view store: one SQLite database file (WAL mode)
 * holding every view version, the aliases and the sinks' stored offsets.
 *
 * Writers are sinks (view/sink.h), usually in job runner processes; readers
 * are the HTTP query API in `kappa server` and the CLI.  SQLite's WAL lets
 * them be different processes: readers never block the writer and see only
 * committed transactions, so a reader sees a batch of rows together with the
 * offsets that produced it, or neither.
 *
 * Schema (the contract between writer and readers; change it only with a
 * schema version bump in kappa_meta):
 *
 *   kappa_meta(key TEXT PRIMARY KEY, value TEXT)       'schema' = '1'
 *   kappa_views(view TEXT, version INTEGER, job TEXT, topic TEXT,
 *               created_ms INTEGER, PRIMARY KEY(view, version))
 *   kappa_aliases(view TEXT PRIMARY KEY, version INTEGER, updated_ms INTEGER)
 *   kappa_offsets(view TEXT, version INTEGER, topic TEXT, partition INTEGER,
 *                 next_offset INTEGER,   -- first offset not yet applied
 *                 applied INTEGER,       -- changes applied so far (each once)
 *                 high_watermark INTEGER,-- topic end seen at the last commit
 *                 last_ts INTEGER,       -- timestamp of the newest applied
 *                 committed_ms INTEGER,  -- wall clock of the last commit
 *                 PRIMARY KEY(view, version, topic, partition))
 *   "revenue@v2"(key PRIMARY KEY,        -- TEXT if valid UTF-8, else BLOB
 *                value,                  -- TEXT if valid UTF-8, else BLOB;
 *                                        -- NULL: deleted (kept as a
 *                                        -- tombstone for the change stream)
 *                seq INTEGER NOT NULL,   -- per-table change counter: the
 *                                        -- row's last change; unique
 *                ts INTEGER NOT NULL,    -- record timestamp
 *                src_partition INTEGER NOT NULL, src_offset INTEGER NOT NULL)
 *                WITHOUT ROWID
 *   index "revenue@v2$seq" on (seq)      -- the change stream
 *   SQL view "revenue" AS SELECT key, value, ts FROM "revenue@v2"
 *                WHERE value IS NOT NULL  -- the stable name; recreated
 *                                         -- with the alias, same transaction
 *
 * The first version of a view to be created becomes its alias target;
 * later switches are explicit (view_store_set_alias, `kappa job promote`).
 */
#ifndef KP_VIEW_STORE_H
#define KP_VIEW_STORE_H

#include "view/view.h"

#include <stdint.h>

typedef struct view_store view_store_t;

/* ---- writer side (sinks) ------------------------------------------------- */

/* Open (creating file and schema if missing) for writing.  WAL mode,
 * synchronous=NORMAL: a power loss can drop the newest transactions, but
 * rows and offsets go together, so the sink re-reads them from the log.
 * Returns 0 or a negative KP_E* after logging why. */
int view_store_open(const char *path, view_store_t **out);
void view_store_close(view_store_t *s);

/* Create the table of view@vVERSION (and its alias if the view has none). */
int view_store_ensure(view_store_t *s, const char *view, int version, const char *job,
                      const char *topic);

/* The stored next offset of every partition of (view, version, topic):
 * fills next[p] for p < nparts (-1 when none stored, i.e. start from the
 * beginning). */
int view_store_offsets(view_store_t *s, const char *view, int version, const char *topic,
                       int32_t nparts, int64_t *next);

/* One batch = one SQLite transaction: begin, apply changes, commit with the
 * offsets.  apply skips a change whose offset is below the stored next
 * offset of its partition (read inside the transaction), so two sinks that
 * overlap during a rebalance still apply each change exactly once. */
int view_store_begin(view_store_t *s, const char *view, int version, const char *topic);
int view_store_apply(view_store_t *s, const view_change_t *c);
/* The consumer's position on `partition` moved to next_offset past offsets
 * that carry no change (transaction markers, skipped null-key records):
 * store it with the batch, so next_offset reaches the topic's end.  Never
 * lowers the stored offset. */
int view_store_advance(view_store_t *s, int32_t partition, int64_t next_offset);
/* hwm[p]: the partition's end offset as last seen (-1 unknown), for lag. */
int view_store_commit(view_store_t *s, const int64_t *hwm, int32_t nparts);
void view_store_rollback(view_store_t *s);

/* Point the stable name at view@vVERSION (atomic for every reader). */
int view_store_set_alias(view_store_t *s, const char *view, int version);
/* Drop view@vVERSION, its offsets and (if it is the target) its alias. */
int view_store_drop(view_store_t *s, const char *view, int version);

#endif

/*
 * store_disk.h -- a task's keyed state on disk (LMDB), for state larger than
 * memory.  The same operations and semantics as store.h (the in-memory
 * store), opened on a directory instead of created empty, and with
 * store_disk_commit() in place of snapshots.  BENCHMARKS.md ("Stream state
 * store") says why LMDB and why commits do not fsync.
 *
 * Wiring it into the runner (--state-store disk), one store per task, in
 * STATE_DIR/TASK_ID/ (a directory of its own: data.mdb, lock.mdb, and
 * kappa-store, a marker that also holds the directory's lock):
 *
 *   task creation   store_disk_open(dir, &s); from = store_disk_changelog_next(s)
 *                   (0 for a new or wiped store).  If `from` is past the
 *                   changelog's end or before its log start offset (topic
 *                   re-created, records deleted), store_disk_clear(s) and
 *                   from = 0.  Then restore_changelog() from `from` with
 *                   store_disk_apply() per record, and store_disk_commit(s,
 *                   changelog end) so the restored tail is durable with the
 *                   offset it covers.  (Replaces store_snapshot_read.)
 *   processing      store_disk_get/put/delete, exactly as store_get/...
 *   commit_all (a)  store_disk_take_dirty(s, changelog_record, t) before the
 *                   Kafka transaction commits (as store_take_dirty).
 *   commit_all (c)  after the transaction committed: store_disk_commit(s,
 *                   t->changelog_next), every round, not at the snapshot
 *                   interval.  (Replaces store_snapshot_write.)  If the
 *                   Kafka commit failed, do not call it: closing (or
 *                   store_disk_rollback) drops the uncommitted changes.
 *   task_free       store_disk_close(s).
 *
 * Threads: every call for one store must come from one thread -- the
 * runner's loop thread, which already does all of the above (on_rebalance
 * runs inside its consumer poll; the commit threads only run the Kafka
 * transaction calls).  Between two commits the store holds an LMDB write
 * transaction, which is tied to the thread that began it.  Different stores
 * (tasks) are independent and may share that thread.
 *
 * Semantics that differ from store.h: store_disk_each() visits keys in byte
 * order and sees uncommitted changes; keys are at most STORE_DISK_KEY_MAX
 * bytes (longer ones fail with KP_ETOOLARGE); a store grows up to
 * STORE_DISK_MAP_BYTES (its LMDB map size; disk is used as needed).
 *
 * Ownership: store_disk_get() returns a pointer into the store (the map or
 * the write transaction's page), valid until the next put, delete, apply,
 * clear, commit or rollback on this store.  Keys and values are copied in.
 *
 * Durability: store_disk_commit() writes the changes since the previous
 * commit and the changelog offset they cover in one LMDB transaction,
 * without fsync (MDB_NOSYNC), at most every STORE_DISK_COMMIT_MS: the
 * changelog in Kafka is the durable copy, and a restart replays what the
 * store did not commit.
 * A killed process loses nothing committed (the page cache has it).  After
 * a machine crash the store is wiped on open and rebuilt from the
 * changelog: the marker file records the boot that opened the store, and a
 * store left open by another boot may hold torn pages.  A store whose
 * recorded offset is missing or fails its checks (entry count, CRC) is
 * wiped the same way; store_disk_open() logs why.
 */
#ifndef KP_STREAM_STORE_DISK_H
#define KP_STREAM_STORE_DISK_H

#include "stream/store.h"           /* store_visit_fn */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_DISK_KEY_MAX 510      /* LMDB's 511-byte limit less a prefix byte */
#define STORE_DISK_MAP_BYTES ((size_t)256 << 30) /* address space, not disk */
#define STORE_DISK_COMMIT_MS 5000   /* at most this much changelog to replay */

typedef struct store_disk store_disk_t;

/* Open (creating) the store in `dir`, which must exist.  Fails with
 * KP_ELOCKED when another process has it open. */
int store_disk_open(const char *dir, store_disk_t **out);
/* Drop uncommitted changes, sync, mark the store closed cleanly. */
void store_disk_close(store_disk_t *s);

/* The changelog offset the state committed to LMDB covers: replay from
 * here.  0 when the store is new or was wiped. */
int64_t store_disk_changelog_next(const store_disk_t *s);
/* Every change so far is covered by changelog_next: make them one durable
 * unit (as durable as the page cache; see above).  The LMDB commit happens
 * at most every commit_ms (default STORE_DISK_COMMIT_MS); a call within
 * that window only notes the offset, and the open transaction carries on.
 * Either way a close keeps what the last call covered. */
int store_disk_commit(store_disk_t *s, int64_t changelog_next);
/* 0 commits to LMDB at every store_disk_commit(). */
void store_disk_set_commit_ms(store_disk_t *s, int ms);
/* Drop every change since the last LMDB commit (and the dirty set): the
 * state goes back to store_disk_changelog_next(), which may be older than
 * the last store_disk_commit() call; the caller replays from there. */
void store_disk_rollback(store_disk_t *s);
/* Remove every entry and the dirty set; the recorded offset becomes 0 at
 * the next commit. */
int store_disk_clear(store_disk_t *s);

const void *store_disk_get(store_disk_t *s, const void *key, size_t klen, size_t *vlen);
int store_disk_put(store_disk_t *s, const void *key, size_t klen, const void *val, size_t vlen);
int store_disk_delete(store_disk_t *s, const void *key, size_t klen);
/* Apply a changelog record without marking it dirty (restore).  val NULL
 * deletes.  A long restore commits by itself now and then (keeping the old
 * offset: replaying records already applied is harmless). */
int store_disk_apply(store_disk_t *s, const void *key, size_t klen, const void *val,
                     size_t vlen);

size_t store_disk_count(const store_disk_t *s);
size_t store_disk_bytes(const store_disk_t *s);     /* keys + values */

/* Visit every entry in key order.  fn returning nonzero stops the walk and
 * is returned.  The store must not be changed during the walk. */
int store_disk_each(store_disk_t *s, store_visit_fn *fn, void *ctx);

/* Visit keys changed since the last call (val NULL for a deletion), in the
 * order they were first changed, then forget them. */
int store_disk_take_dirty(store_disk_t *s, store_visit_fn *fn, void *ctx);
bool store_disk_has_dirty(const store_disk_t *s);

#endif

/*
 * store.h -- a task's keyed state: an in-memory hash table of byte keys to
 * byte values, with the set of keys changed since the last commit (what the
 * changelog must carry) and snapshot files.
 *
 * Ownership: store_get() returns a pointer into the store, valid until the
 * next store_put()/store_delete() of any key.  Keys and values are copied
 * in.  Deleted keys stay dirty (as tombstones) until store_take_dirty().
 *
 * Snapshot file format (all integers big-endian):
 *   "KPSNAP01" | u64 changelog_next_offset | u64 count |
 *   count x (u32 klen | key | u32 vlen | value) | u32 crc32c of all before
 * Written to NAME.tmp, fsynced, renamed over NAME, directory fsynced.
 */
#ifndef KP_STREAM_STORE_H
#define KP_STREAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

int store_new(store_t **out);
/*
 * The same store on disk (LMDB, store_disk.h), for state larger than memory:
 * every operation below forwards to it.  Instead of snapshots it records the
 * changelog offset its contents cover: store_mark_covered() after each
 * successful commit, store_covered_offset() when restoring (0: replay the
 * whole changelog).  Snapshot functions return KP_EUNSUPPORTED for it.
 */
int store_open_disk(const char *dir, store_t **out);
bool store_is_disk(const store_t *s);
int64_t store_covered_offset(const store_t *s);
int store_mark_covered(store_t *s, int64_t changelog_next);
void store_free(store_t *s);
void store_clear(store_t *s);

const void *store_get(store_t *s, const void *key, size_t klen, size_t *vlen);
int store_put(store_t *s, const void *key, size_t klen, const void *val, size_t vlen);
int store_delete(store_t *s, const void *key, size_t klen);
/* Apply a changelog record without marking it dirty (restore).  val NULL
 * deletes. */
int store_apply(store_t *s, const void *key, size_t klen, const void *val, size_t vlen);

size_t store_count(const store_t *s);
size_t store_bytes(const store_t *s);       /* keys + values */

/* Visit every entry (any order).  fn returning nonzero stops the walk and is
 * returned.  The store must not be changed during the walk. */
typedef int store_visit_fn(void *ctx, const void *key, size_t klen, const void *val,
                           size_t vlen);
int store_each(store_t *s, store_visit_fn *fn, void *ctx);

/* Visit keys changed since the last call (val NULL for a deletion), in the
 * order they were first changed, then forget them. */
int store_take_dirty(store_t *s, store_visit_fn *fn, void *ctx);
bool store_has_dirty(const store_t *s);

/* Snapshots.  store_snapshot_read returns KP_ENOTFOUND when there is none
 * and KP_ECORRUPT/KP_ECRC for a damaged file (the caller then restores from
 * the whole changelog).  Reading replaces the store's contents; on any error
 * but KP_ENOTFOUND the store is left empty. */
int store_snapshot_write(store_t *s, const char *path, int64_t changelog_next);
int store_snapshot_read(store_t *s, const char *path, int64_t *changelog_next);

#endif

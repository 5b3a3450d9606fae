/*
 * store_disk.c -- a task's keyed state in an LMDB environment, with the
 * in-memory store's dirty tracking and the changelog offset it covers.
 *
 * Between two store_disk_commit() calls every change goes into one LMDB
 * write transaction, which the store's own reads see; the commit adds a
 * meta record (the changelog offset, entry count and byte total, with a
 * CRC) to that transaction and commits it without fsync.  The dirty set is
 * an in-memory store_t of keys only (store.c keeps first-change order and
 * the dedup); store_disk_take_dirty() reads each key's current value from
 * the transaction.  Data keys carry a one-byte prefix so that the empty key
 * (which LMDB refuses) works as it does in memory.
 *
 * Next to the environment, the marker file "kappa-store" holds an exclusive
 * flock while the store is open and says "open BOOT_ID" or "closed".
 *
 * Invariants:
 *  (1) The data and the offset in the meta record change in the same LMDB
 *      transaction, so the committed state is exactly the changelog up to
 *      that offset -- or, after the automatic commits of a restore, the
 *      changelog up to a later point, which replaying from the recorded
 *      offset makes whole again (changelog records are whole values).
 *  (2) Nothing is committed with MDB_NOSYNC before the marker saying "open"
 *      with this boot's id is on disk; it says "closed" only after
 *      mdb_env_sync.  So a store found "open" by a different boot may have
 *      torn pages and is wiped before LMDB reads a page of it.
 *  (3) count and bytes always describe the transaction's view; the
 *      committed copies are what a rollback returns to.
 *  (4) A deferred store_disk_commit() (one within commit_ms of the last
 *      LMDB commit) leaves the transaction open holding exactly the state
 *      its offset covers; the next LMDB commit records the offset of the
 *      last store_disk_commit() before it.  Pages rewritten many times in
 *      the window are written once -- at uniform random keys most updates
 *      dirty a page of their own, and a commit per 100 ms round wrote
 *      hundreds of MB (BENCHMARKS.md).
 */
#include "stream/store_disk.h"

#include "core/crc32c.h"
#include "core/kp_endian.h"
#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_NAME "kappa-store"
#define META_MAGIC "KPSTORE1"
#define META_LEN 36                 /* magic, offset, count, bytes, crc32c */
#define KEY_PREFIX 'k'
/* A restore commits by itself every this many records (bounded dirty
 * pages in the write transaction). */
#define APPLY_COMMIT_EVERY 65536

struct store_disk {
    char dir[4096];
    MDB_env *env;
    MDB_dbi data, meta;
    MDB_txn *txn;               /* the open write transaction, or NULL */
    MDB_cursor *cur;            /* on data, within txn */
    int marker_fd;
    char boot_id[64];
    int64_t changelog_next;     /* committed */
    size_t count, bytes;        /* invariant (3) */
    size_t count_committed, bytes_committed;
    bool cleared;               /* the next commit records offset 0 */
    bool changed;               /* put/delete since the last store_disk_commit */
    bool deferred;              /* txn holds changes covered by deferred_offset */
    int64_t deferred_offset;
    int commit_ms;              /* see store_disk_set_commit_ms() */
    int64_t last_commit_ms;     /* of the last LMDB commit */
    uint64_t applied;           /* records applied since the last commit */
    store_t *dirty;             /* keys only */
};

static int store_disk_commit_now(store_disk_t *s, int64_t changelog_next);

static int mdb_error(const store_disk_t *s, const char *what, int rc)
{
    KP_ERROR("state store %s: %s: %s", s->dir, what, mdb_strerror(rc));
    if (rc > 0)
        return -rc;
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_BAD_VALSIZE:
        return KP_ETOOLARGE;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return KP_ECORRUPT;
    default:
        return KP_EINVAL;
    }
}

/* ---- the marker file ------------------------------------------------------ */

static void read_boot_id(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) {
        snprintf(buf, cap, "unknown");
        return;
    }
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
}

static int marker_write(store_disk_t *s, const char *text)
{
    size_t len = strlen(text);
    int rc = kp_file_pwrite_all(s->marker_fd, text, len, 0);
    if (rc == 0 && ftruncate(s->marker_fd, (off_t)len) != 0)
        rc = -errno;
    if (rc == 0 && fsync(s->marker_fd) != 0)
        rc = -errno;
    if (rc)
        KP_ERROR("state store %s: cannot write %s: %s", s->dir, MARKER_NAME, kp_strerror(rc));
    return rc;
}

/* Why the environment must not be trusted, or NULL. */
static const char *marker_verdict(store_disk_t *s, bool have_data)
{
    char buf[128];
    ssize_t n = pread(s->marker_fd, buf, sizeof buf - 1, 0);
    if (n < 0)
        n = 0;
    buf[n] = 0;
    if (!have_data)
        return NULL;
    if (n == 0)
        return "it has no " MARKER_NAME " marker";
    if (strcmp(buf, "closed\n") == 0)
        return NULL;
    if (strncmp(buf, "open ", 5) == 0) {
        buf[strcspn(buf, "\n")] = 0;
        if (strcmp(buf + 5, s->boot_id) == 0)
            return NULL;        /* only the process died: the page cache is intact */
        return "the machine restarted while it was open (unsynced pages may be torn)";
    }
    return "its " MARKER_NAME " marker is unreadable";
}

/* ---- the environment ------------------------------------------------------- */

static void unlink_env(const store_disk_t *s)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data.mdb", s->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", s->dir);
    unlink(p);
}

static void close_env(store_disk_t *s)
{
    if (s->txn)
        mdb_txn_abort(s->txn);
    s->txn = NULL;
    s->cur = NULL;
    if (s->env)
        mdb_env_close(s->env);
    s->env = NULL;
}

static void put_meta_record(uint8_t *b, int64_t offset, size_t count, size_t bytes)
{
    memcpy(b, META_MAGIC, 8);
    kp_put_be64(b + 8, (uint64_t)offset);
    kp_put_be64(b + 16, (uint64_t)count);
    kp_put_be64(b + 24, (uint64_t)bytes);
    kp_put_be32(b + 32, crc32c(0, b, 32));
}

/*
 * Open the environment and check its meta record against the data.
 * Returns 0 (usable), 1 (to be wiped; *why says why) or an error.
 */
static int open_env(store_disk_t *s, const char **why)
{
    int rc;
    if ((rc = mdb_env_create(&s->env)) != 0)
        return mdb_error(s, "mdb_env_create", rc);
    mdb_env_set_maxdbs(s->env, 2);
    if ((rc = mdb_env_set_mapsize(s->env, STORE_DISK_MAP_BYTES)) != 0)
        return mdb_error(s, "mdb_env_set_mapsize", rc);
    rc = mdb_env_open(s->env, s->dir, MDB_NOSYNC | MDB_NORDAHEAD, 0644);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED) {
        *why = "LMDB cannot open it";
        return 1;
    }
    if (rc)
        return mdb_error(s, "mdb_env_open", rc);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &s->txn)) != 0)
        return mdb_error(s, "mdb_txn_begin", rc);
    if ((rc = mdb_dbi_open(s->txn, "data", MDB_CREATE, &s->data)) != 0 ||
        (rc = mdb_dbi_open(s->txn, "meta", MDB_CREATE, &s->meta)) != 0) {
        *why = "its databases cannot be opened";
        return 1;
    }
    MDB_stat st;
    MDB_val mk = {5, "state"}, mv;
    if ((rc = mdb_stat(s->txn, s->data, &st)) != 0) {
        *why = "its data cannot be read";
        return 1;
    }
    rc = mdb_get(s->txn, s->meta, &mk, &mv);
    if (rc == MDB_NOTFOUND) {
        if (st.ms_entries == 0)
            return 0;           /* new */
        *why = "it records no changelog offset";
        return 1;
    }
    if (rc) {
        *why = "its changelog offset cannot be read";
        return 1;
    }
    const uint8_t *b = mv.mv_data;
    if (mv.mv_size != META_LEN || memcmp(b, META_MAGIC, 8) != 0 ||
        crc32c(0, b, 32) != kp_be32(b + 32)) {
        *why = "its meta record is damaged";
        return 1;
    }
    if (kp_be64(b + 16) != st.ms_entries) {
        *why = "its entry count does not match its meta record";
        return 1;
    }
    s->changelog_next = (int64_t)kp_be64(b + 8);
    s->count = s->count_committed = st.ms_entries;
    s->bytes = s->bytes_committed = kp_be64(b + 24);
    return 0;
}

int store_disk_open(const char *dir, store_disk_t **out)
{
    store_disk_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    s->marker_fd = -1;
    s->commit_ms = STORE_DISK_COMMIT_MS;
    s->last_commit_ms = kp_mono_ns() / 1000000;
    int rc = store_new(&s->dirty);
    if (rc)
        goto fail;
    if (strlen(dir) >= sizeof s->dir - 64) {
        rc = KP_EINVAL;
        goto fail;
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    read_boot_id(s->boot_id, sizeof s->boot_id);

    char p[4200];
    snprintf(p, sizeof p, "%s/" MARKER_NAME, dir);
    struct stat sb;
    bool new_marker = stat(p, &sb) != 0;
    s->marker_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->marker_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (flock(s->marker_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? KP_ELOCKED : -errno;
        goto fail;
    }
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    const char *why = marker_verdict(s, stat(p, &sb) == 0);
    if (why)
        unlink_env(s);          /* invariant (2): before LMDB reads a page */
    else if ((rc = open_env(s, &why)) < 0)
        goto fail;
    if (why) {
        KP_WARN("state store %s: wiped (%s); it will be rebuilt from the changelog", dir, why);
        close_env(s);
        unlink_env(s);
        s->changelog_next = 0;
        s->count = s->count_committed = s->bytes = s->bytes_committed = 0;
        const char *again = NULL;
        if ((rc = open_env(s, &again)) != 0) {
            rc = rc < 0 ? rc : KP_ECORRUPT;
            goto fail;
        }
    }
    /* Invariant (2), then the transaction that created the databases. */
    char text[128];
    snprintf(text, sizeof text, "open %s\n", s->boot_id);
    if ((rc = marker_write(s, text)) != 0)
        goto fail;
    if (new_marker && (rc = kp_file_fsync_dir(dir)) != 0)
        goto fail;
    int mrc = mdb_txn_commit(s->txn);
    s->txn = NULL;
    if (mrc) {
        rc = mdb_error(s, "mdb_txn_commit", mrc);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    close_env(s);
    if (s->marker_fd >= 0)
        close(s->marker_fd);
    store_free(s->dirty);
    kp_free(s);
    return rc;
}

void store_disk_close(store_disk_t *s)
{
    if (!s)
        return;
    /* A deferred commit is exactly what the caller committed: keep it. */
    if (s->deferred && !s->changed)
        store_disk_commit_now(s, s->deferred_offset);
    store_disk_rollback(s);
    /* Invariant (2): "closed" only once everything committed is on disk. */
    int rc = mdb_env_sync(s->env, 1);
    if (rc == 0)
        marker_write(s, "closed\n");
    else
        mdb_error(s, "mdb_env_sync", rc);
    close_env(s);
    close(s->marker_fd);
    store_free(s->dirty);
    kp_free(s);
}

int64_t store_disk_changelog_next(const store_disk_t *s)
{
    return s->changelog_next;
}

static int begin(store_disk_t *s)
{
    if (s->txn)
        return 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
    if (rc)
        return mdb_error(s, "mdb_txn_begin", rc);
    if ((rc = mdb_cursor_open(s->txn, s->data, &s->cur)) != 0) {
        mdb_txn_abort(s->txn);
        s->txn = NULL;
        return mdb_error(s, "mdb_cursor_open", rc);
    }
    return 0;
}

void store_disk_rollback(store_disk_t *s)
{
    if (s->txn)
        mdb_txn_abort(s->txn);      /* frees the write transaction's cursor */
    s->txn = NULL;
    s->cur = NULL;
    s->count = s->count_committed;
    s->bytes = s->bytes_committed;
    s->cleared = s->changed = s->deferred = false;
    s->applied = 0;
    store_clear(s->dirty);
}

void store_disk_set_commit_ms(store_disk_t *s, int ms)
{
    s->commit_ms = ms;
}

int store_disk_commit(store_disk_t *s, int64_t changelog_next)
{
    int64_t now = kp_mono_ns() / 1000000;
    if (!s->txn && changelog_next == s->changelog_next)
        return 0;               /* nothing new */
    if (s->txn && s->commit_ms > 0 && now - s->last_commit_ms < s->commit_ms) {
        /* Invariant (4): the transaction is exactly the covered state. */
        s->deferred = true;
        s->deferred_offset = changelog_next;
        s->changed = false;
        return 0;
    }
    return store_disk_commit_now(s, changelog_next);
}

static int store_disk_commit_now(store_disk_t *s, int64_t changelog_next)
{
    int rc = begin(s);
    if (rc)
        return rc;
    uint8_t b[META_LEN];
    put_meta_record(b, changelog_next, s->count, s->bytes);
    MDB_val mk = {5, "state"}, mv = {META_LEN, b};
    rc = mdb_put(s->txn, s->meta, &mk, &mv, 0);
    if (rc) {
        rc = mdb_error(s, "writing the meta record", rc);
        store_disk_rollback(s);
        return rc;
    }
    rc = mdb_txn_commit(s->txn);    /* frees the transaction, even on failure */
    s->txn = NULL;
    s->cur = NULL;
    if (rc) {
        /* Safe: the recorded offset did not move, so the changelog still
         * covers what this commit lost. */
        rc = mdb_error(s, "mdb_txn_commit", rc);
        store_disk_rollback(s);
        return rc;
    }
    s->changelog_next = changelog_next;
    s->count_committed = s->count;
    s->bytes_committed = s->bytes;
    s->cleared = s->changed = s->deferred = false;
    s->applied = 0;
    s->last_commit_ms = kp_mono_ns() / 1000000;
    return 0;
}

int store_disk_clear(store_disk_t *s)
{
    int rc = begin(s);
    if (rc)
        return rc;
    if ((rc = mdb_drop(s->txn, s->data, 0)) != 0)
        return mdb_error(s, "mdb_drop", rc);
    s->count = s->bytes = 0;
    s->cleared = s->changed = true;
    store_clear(s->dirty);
    return 0;
}

/* ---- entries ----------------------------------------------------------------- */

static int make_key(MDB_val *mk, uint8_t *buf, const void *key, size_t klen)
{
    if (klen > STORE_DISK_KEY_MAX)
        return KP_ETOOLARGE;
    buf[0] = KEY_PREFIX;
    if (klen)
        memcpy(buf + 1, key, klen);
    *mk = (MDB_val){klen + 1, buf};
    return 0;
}

const void *store_disk_get(store_disk_t *s, const void *key, size_t klen, size_t *vlen)
{
    uint8_t kb[STORE_DISK_KEY_MAX + 1];
    MDB_val mk, mv;
    if (make_key(&mk, kb, key, klen) != 0 || begin(s) != 0)
        return NULL;
    int rc = mdb_get(s->txn, s->data, &mk, &mv);
    if (rc) {
        if (rc != MDB_NOTFOUND)
            mdb_error(s, "mdb_get", rc);
        return NULL;
    }
    *vlen = mv.mv_size;
    return mv.mv_data;
}

static int mark_dirty(store_disk_t *s, const void *key, size_t klen)
{
    s->changed = true;
    return store_put(s->dirty, key, klen, "", 0);
}

static int put(store_disk_t *s, const void *key, size_t klen, const void *val, size_t vlen,
               bool dirty)
{
    uint8_t kb[STORE_DISK_KEY_MAX + 1];
    MDB_val mk, old;
    int rc = make_key(&mk, kb, key, klen);
    if (rc || vlen > UINT32_MAX / 2)
        return KP_ETOOLARGE;
    if ((rc = begin(s)) != 0)
        return rc;
    /* One descent: position on the key, then replace in place.  MDB_SET,
     * not MDB_SET_KEY: that one points mk into the page the put rewrites. */
    rc = mdb_cursor_get(s->cur, &mk, &old, MDB_SET);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return mdb_error(s, "mdb_cursor_get", rc);
    bool found = rc == 0;
    size_t old_len = found ? old.mv_size : 0;
    MDB_val mv = {vlen, (void *)val};
    rc = mdb_cursor_put(s->cur, &mk, &mv, found ? MDB_CURRENT : 0);
    if (rc)
        return mdb_error(s, "mdb_cursor_put", rc);
    if (found) {
        s->bytes = s->bytes - old_len + vlen;
    } else {
        s->count++;
        s->bytes += klen + vlen;
    }
    return dirty ? mark_dirty(s, key, klen) : 0;
}

static int del(store_disk_t *s, const void *key, size_t klen, bool dirty)
{
    uint8_t kb[STORE_DISK_KEY_MAX + 1];
    MDB_val mk, old;
    int rc = make_key(&mk, kb, key, klen);
    if (rc)
        return klen > STORE_DISK_KEY_MAX ? 0 : rc;      /* never stored */
    if ((rc = begin(s)) != 0)
        return rc;
    rc = mdb_cursor_get(s->cur, &mk, &old, MDB_SET);
    if (rc == MDB_NOTFOUND)
        return 0;               /* as in memory: deleting nothing is no change */
    if (rc)
        return mdb_error(s, "mdb_cursor_get", rc);
    size_t old_len = old.mv_size;
    if ((rc = mdb_cursor_del(s->cur, 0)) != 0)
        return mdb_error(s, "mdb_cursor_del", rc);
    s->count--;
    s->bytes -= klen + old_len;
    return dirty ? mark_dirty(s, key, klen) : 0;
}

int store_disk_put(store_disk_t *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    return put(s, key, klen, val, vlen, true);
}

int store_disk_delete(store_disk_t *s, const void *key, size_t klen)
{
    return del(s, key, klen, true);
}

int store_disk_apply(store_disk_t *s, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    int rc = val ? put(s, key, klen, val, vlen, false) : del(s, key, klen, false);
    if (rc)
        return rc;
    /* Invariant (1): an automatic commit keeps the recorded offset, and only
     * happens while the transaction holds nothing but changelog records. */
    if (++s->applied >= APPLY_COMMIT_EVERY && !s->changed)
        rc = store_disk_commit_now(s, s->cleared ? 0 : s->changelog_next);
    return rc;
}

size_t store_disk_count(const store_disk_t *s)
{
    return s->count;
}

size_t store_disk_bytes(const store_disk_t *s)
{
    return s->bytes;
}

int store_disk_each(store_disk_t *s, store_visit_fn *fn, void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = begin(s);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(s->txn, s->data, &c)) != 0)
        return mdb_error(s, "mdb_cursor_open", rc);
    int mrc;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        rc = fn(ctx, (const uint8_t *)k.mv_data + 1, k.mv_size - 1, v.mv_data, v.mv_size);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = mdb_error(s, "mdb_cursor_get", mrc);
    mdb_cursor_close(c);
    return rc;
}

typedef struct dirty_walk {
    store_disk_t *s;
    store_visit_fn *fn;
    void *ctx;
} dirty_walk_t;

static int dirty_visit(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    dirty_walk_t *w = ctx;
    (void)val, (void)vlen;      /* the dirty set holds keys only */
    size_t len = 0;
    const void *cur = store_disk_get(w->s, key, klen, &len);
    return w->fn(w->ctx, key, klen, cur, cur ? len : 0);
}

int store_disk_take_dirty(store_disk_t *s, store_visit_fn *fn, void *ctx)
{
    int rc = begin(s);
    if (rc)
        return rc;
    dirty_walk_t w = {s, fn, ctx};
    rc = store_take_dirty(s->dirty, dirty_visit, &w);
    store_clear(s->dirty);
    return rc;
}

bool store_disk_has_dirty(const store_disk_t *s)
{
    return store_has_dirty(s->dirty);
}

/*
 * store.c -- open-addressing hash table of byte strings, plus snapshots.
 *
 * Each entry is one allocation holding key and value; the table holds
 * pointers and cached hashes, probed linearly, grown at 70% load, with
 * backward-shift deletion (no tombstones in the table).  The dirty list is a
 * separate vector of copied keys, so a key deleted after it was changed
 * still reaches the changelog as a tombstone.
 */
#include "stream/store.h"
#include "stream/store_disk.h"

#include "core/crc32c.h"
#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct entry {
    uint64_t hash;
    uint32_t klen, vlen;
    uint32_t vcap;
    bool dirty;
    uint8_t data[];             /* key, then value (vcap bytes) */
} entry_t;

typedef struct dirty_key {
    uint8_t *key;
    size_t klen;
} dirty_key_t;

struct store {
    store_disk_t *disk;         /* set: every operation goes to the disk store */
    entry_t **slots;
    size_t cap, count;          /* cap is a power of two */
    size_t bytes;
    dirty_key_t *dirty;
    size_t ndirty, capdirty;
    /* A listed key left the table since the last take: if it comes back,
     * its new entry does not know it is listed, so it may be listed twice. */
    bool maybe_dup;
};

/* FNV-1a then a finalizer: fast and good enough for byte keys. */
static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int store_open_disk(const char *dir, store_t **out)
{
    store_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    int rc = store_disk_open(dir, &s->disk);
    if (rc) {
        kp_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

bool store_is_disk(const store_t *s)
{
    return s->disk != NULL;
}

int64_t store_covered_offset(const store_t *s)
{
    return s->disk ? store_disk_changelog_next(s->disk) : 0;
}

int store_mark_covered(store_t *s, int64_t changelog_next)
{
    return s->disk ? store_disk_commit(s->disk, changelog_next) : 0;
}

int store_new(store_t **out)
{
    store_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    s->cap = 1024;
    s->slots = kp_calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        kp_free(s);
        return KP_ENOMEM;
    }
    *out = s;
    return 0;
}

static void clear_dirty(store_t *s)
{
    for (size_t i = 0; i < s->ndirty; i++)
        kp_free(s->dirty[i].key);
    s->ndirty = 0;
    s->maybe_dup = false;
}

void store_clear(store_t *s)
{
    if (s->disk) {
        store_disk_clear(s->disk);
        return;
    }
    for (size_t i = 0; i < s->cap; i++) {
        kp_free(s->slots[i]);
        s->slots[i] = NULL;
    }
    s->count = 0;
    s->bytes = 0;
    clear_dirty(s);
}

void store_free(store_t *s)
{
    if (s && s->disk) {
        store_disk_close(s->disk);
        kp_free(s);
        return;
    }
    if (!s)
        return;
    store_clear(s);
    kp_free(s->slots);
    kp_free(s->dirty);
    kp_free(s);
}

static size_t find_slot(const store_t *s, uint64_t h, const void *key, size_t klen, bool *found)
{
    size_t mask = s->cap - 1, i = (size_t)h & mask;
    for (;;) {
        entry_t *e = s->slots[i];
        if (!e) {
            *found = false;
            return i;
        }
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int grow(store_t *s)
{
    size_t ncap = s->cap * 2;
    entry_t **n = kp_calloc(ncap, sizeof *n);
    if (!n)
        return KP_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        entry_t *e = s->slots[i];
        if (!e)
            continue;
        size_t j = (size_t)e->hash & (ncap - 1);
        while (n[j])
            j = (j + 1) & (ncap - 1);
        n[j] = e;
    }
    kp_free(s->slots);
    s->slots = n;
    s->cap = ncap;
    return 0;
}

const void *store_get(store_t *s, const void *key, size_t klen, size_t *vlen)
{
    if (s->disk)
        return store_disk_get(s->disk, key, klen, vlen);
    bool found;
    size_t i = find_slot(s, hash_bytes(key, klen), key, klen, &found);
    if (!found)
        return NULL;
    *vlen = s->slots[i]->vlen;
    return s->slots[i]->data + s->slots[i]->klen;
}

/* Room on the dirty list and a copy of the key, taken before the table
 * changes: a failed allocation then leaves the store exactly as it was
 * (a change made but not listed would never reach the changelog). */
static int dirty_reserve(store_t *s, const void *key, size_t klen, uint8_t **copy)
{
    if (s->ndirty == s->capdirty) {
        size_t cap = s->capdirty ? s->capdirty * 2 : 256;
        dirty_key_t *d = kp_realloc(s->dirty, cap * sizeof *d);
        if (!d)
            return KP_ENOMEM;
        s->dirty = d;
        s->capdirty = cap;
    }
    uint8_t *k = kp_malloc(klen ? klen : 1);
    if (!k)
        return KP_ENOMEM;
    memcpy(k, key, klen);
    *copy = k;
    return 0;
}

static int put(store_t *s, const void *key, size_t klen, const void *val, size_t vlen,
               bool dirty)
{
    if (klen > UINT32_MAX / 2 || vlen > UINT32_MAX / 2)
        return KP_ETOOLARGE;
    uint64_t h = hash_bytes(key, klen);
    bool found;
    size_t i = find_slot(s, h, key, klen, &found);
    entry_t *e = found ? s->slots[i] : NULL;
    uint8_t *dk = NULL;
    if (dirty && !(e && e->dirty) && dirty_reserve(s, key, klen, &dk) != 0)
        return KP_ENOMEM;
    if (e && vlen <= e->vcap) {
        s->bytes = s->bytes - e->vlen + vlen;
        memmove(e->data + klen, val, vlen);
        e->vlen = (uint32_t)vlen;
    } else {
        /* Room to grow a little in place: aggregates often rewrite a state
         * of about the same size. */
        size_t vcap = vlen + vlen / 4 + 8;
        entry_t *n = kp_malloc(sizeof *n + klen + vcap);
        if (!n) {
            kp_free(dk);
            return KP_ENOMEM;
        }
        n->hash = h;
        n->klen = (uint32_t)klen;
        n->vlen = (uint32_t)vlen;
        n->vcap = (uint32_t)vcap;
        n->dirty = e ? e->dirty : false;
        memcpy(n->data, key, klen);
        memcpy(n->data + klen, val, vlen);
        if (e) {
            s->bytes = s->bytes - e->vlen + vlen;
            kp_free(e);
            s->slots[i] = n;
        } else {
            if ((s->count + 1) * 10 > s->cap * 7) {
                if (grow(s) != 0) {
                    kp_free(n);
                    kp_free(dk);
                    return KP_ENOMEM;
                }
                i = find_slot(s, h, key, klen, &found);
            }
            s->slots[i] = n;
            s->count++;
            s->bytes += klen + vlen;
        }
        e = n;
    }
    if (dk) {
        s->dirty[s->ndirty++] = (dirty_key_t){dk, klen};
        e->dirty = true;
    }
    return 0;
}

int store_put(store_t *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (s->disk)
        return store_disk_put(s->disk, key, klen, val, vlen);
    return put(s, key, klen, val, vlen, true);
}

static void remove_at(store_t *s, size_t i)
{
    entry_t *e = s->slots[i];
    s->bytes -= e->klen + e->vlen;
    kp_free(e);
    s->slots[i] = NULL;
    s->count--;
    /* Backward-shift: move later members of the probe run into the hole. */
    size_t mask = s->cap - 1, hole = i, j = (i + 1) & mask;
    while (s->slots[j]) {
        size_t home = (size_t)s->slots[j]->hash & mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            s->slots[hole] = s->slots[j];
            s->slots[j] = NULL;
            hole = j;
        }
        j = (j + 1) & mask;
    }
}

static int del(store_t *s, const void *key, size_t klen, bool dirty)
{
    bool found;
    size_t i = find_slot(s, hash_bytes(key, klen), key, klen, &found);
    if (!found)
        return 0;
    bool was_dirty = s->slots[i]->dirty;
    /* A key already on the dirty list stays there and is read back as
     * absent: the changelog gets a tombstone. */
    uint8_t *dk = NULL;
    if (dirty && !was_dirty && dirty_reserve(s, key, klen, &dk) != 0)
        return KP_ENOMEM;
    remove_at(s, i);
    if (dk)
        s->dirty[s->ndirty++] = (dirty_key_t){dk, klen};
    if (dk || was_dirty)
        s->maybe_dup = true;
    return 0;
}

int store_delete(store_t *s, const void *key, size_t klen)
{
    if (s->disk)
        return store_disk_delete(s->disk, key, klen);
    return del(s, key, klen, true);
}

int store_apply(store_t *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (s->disk)
        return store_disk_apply(s->disk, key, klen, val, vlen);
    return val ? put(s, key, klen, val, vlen, false) : del(s, key, klen, false);
}

size_t store_count(const store_t *s)
{
    if (s->disk)
        return store_disk_count(s->disk);
    return s->count;
}

size_t store_bytes(const store_t *s)
{
    if (s->disk)
        return store_disk_bytes(s->disk);
    return s->bytes;
}

int store_each(store_t *s, store_visit_fn *fn, void *ctx)
{
    if (s->disk)
        return store_disk_each(s->disk, fn, ctx);
    for (size_t i = 0; i < s->cap; i++) {
        entry_t *e = s->slots[i];
        if (!e)
            continue;
        int rc = fn(ctx, e->data, e->klen, e->data + e->klen, e->vlen);
        if (rc)
            return rc;
    }
    return 0;
}

bool store_has_dirty(const store_t *s)
{
    if (s->disk)
        return store_disk_has_dirty(s->disk);
    return s->ndirty > 0;
}

/* Mark the later listings of keys listed twice (put, deleted, put again:
 * the second entry was created unlisted).  A set of the keys seen, built in
 * a scratch store. */
static int find_dups(store_t *s, bool **dup)
{
    store_t *seen;
    bool *d = kp_calloc(s->ndirty, sizeof *d);
    if (!d || store_new(&seen) != 0) {
        kp_free(d);
        return KP_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < s->ndirty && rc == 0; i++) {
        size_t vlen;
        if (store_get(seen, s->dirty[i].key, s->dirty[i].klen, &vlen))
            d[i] = true;
        else
            rc = store_apply(seen, s->dirty[i].key, s->dirty[i].klen, "", 0);
    }
    store_free(seen);
    if (rc) {
        kp_free(d);
        return rc;
    }
    *dup = d;
    return 0;
}

int store_take_dirty(store_t *s, store_visit_fn *fn, void *ctx)
{
    if (s->disk)
        return store_disk_take_dirty(s->disk, fn, ctx);
    int rc = 0;
    bool *dup = NULL;
    /* Each key once, at its first change: duplicates are rare (only after
     * a deletion), so only then pay for finding them. */
    if (s->maybe_dup && s->ndirty > 1 && (rc = find_dups(s, &dup)) != 0)
        return rc;
    for (size_t i = 0; i < s->ndirty && rc == 0; i++) {
        if (dup && dup[i])
            continue;
        dirty_key_t *d = &s->dirty[i];
        bool found;
        size_t j = find_slot(s, hash_bytes(d->key, d->klen), d->key, d->klen, &found);
        if (found) {
            entry_t *e = s->slots[j];
            e->dirty = false;
            rc = fn(ctx, d->key, d->klen, e->data + e->klen, e->vlen);
        } else {
            rc = fn(ctx, d->key, d->klen, NULL, 0);
        }
    }
    kp_free(dup);
    clear_dirty(s);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

typedef struct snap_writer {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
    uint32_t crc;
    int err;
} snap_writer_t;

static void sw_flush(snap_writer_t *w)
{
    if (w->err || w->len == 0)
        return;
    w->crc = crc32c(w->crc, w->buf, w->len);
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            w->err = -errno;
            return;
        }
        off += (size_t)n;
    }
    w->len = 0;
}

static void sw_put(snap_writer_t *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n && !w->err) {
        if (w->len == sizeof w->buf)
            sw_flush(w);
        size_t k = sizeof w->buf - w->len;
        if (k > n)
            k = n;
        memcpy(w->buf + w->len, b, k);
        w->len += k;
        b += k;
        n -= k;
    }
}

static void sw_u32(snap_writer_t *w, uint32_t v)
{
    uint8_t b[4];
    kp_put_be32(b, v);
    sw_put(w, b, 4);
}

static void sw_u64(snap_writer_t *w, uint64_t v)
{
    uint8_t b[8];
    kp_put_be64(b, v);
    sw_put(w, b, 8);
}

static int snap_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    snap_writer_t *w = ctx;
    sw_u32(w, (uint32_t)klen);
    sw_put(w, key, klen);
    sw_u32(w, (uint32_t)vlen);
    sw_put(w, val, vlen);
    return w->err;
}

/* Streams the entries to the file rather than building the image in memory
 * for kp_file_write_atomic(): a state can be gigabytes, and a second copy of
 * it in memory is what a snapshot must not cost.  Same protocol otherwise:
 * temporary file, fsync, rename, directory fsync. */
int store_snapshot_write(store_t *s, const char *path, int64_t changelog_next)
{
    if (s->disk)
        return KP_EUNSUPPORTED;     /* the LMDB environment is the local copy */
    char tmp[4200], dir[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snap_writer_t *w = kp_calloc(1, sizeof *w);
    if (!w)
        return KP_ENOMEM;
    w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = -errno;
        kp_free(w);
        return e;
    }
    sw_put(w, "KPSNAP01", 8);
    sw_u64(w, (uint64_t)changelog_next);
    sw_u64(w, (uint64_t)s->count);
    store_each(s, snap_entry, w);
    sw_flush(w);
    uint8_t crcb[4];
    kp_put_be32(crcb, w->crc);
    if (!w->err && write(w->fd, crcb, 4) != 4)
        w->err = -EIO;
    int rc = w->err;
    if (rc == 0 && fsync(w->fd) != 0)
        rc = -errno;
    close(w->fd);
    kp_free(w);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0) {
        snprintf(dir, sizeof dir, "%s", path);
        rc = kp_file_fsync_dir(dirname(dir));
    }
    if (rc)
        unlink(tmp);
    return rc;
}

int store_snapshot_read(store_t *s, const char *path, int64_t *changelog_next)
{
    if (s->disk)
        return KP_EUNSUPPORTED;
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? KP_ENOTFOUND : -errno;
    /* From here on the store is either the snapshot or empty: a damaged
     * file must not leave what the store held before (the caller rebuilds
     * from the whole changelog on top of it). */
    store_clear(s);
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 28) {
        close(fd);
        return KP_ECORRUPT;
    }
    buf = kp_malloc((size_t)size);
    if (!buf) {
        close(fd);
        return KP_ENOMEM;
    }
    while (len < (size_t)size) {
        ssize_t n = pread(fd, buf + len, (size_t)size - len, (off_t)len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            close(fd);
            kp_free(buf);
            return n < 0 ? -errno : KP_ECORRUPT;
        }
        len += (size_t)n;
    }
    close(fd);
    int rc = 0;
    if (memcmp(buf, "KPSNAP01", 8) != 0) {
        rc = KP_ECORRUPT;
        goto out;
    }
    if (crc32c(0, buf, len - 4) != kp_be32(buf + len - 4)) {
        rc = KP_ECRC;
        goto out;
    }
    *changelog_next = (int64_t)kp_be64(buf + 8);
    uint64_t count = kp_be64(buf + 16);
    size_t at = 24, end = len - 4;
    for (uint64_t i = 0; i < count; i++) {
        if (end - at < 4) {
            rc = KP_ECORRUPT;
            break;
        }
        uint32_t kl = kp_be32(buf + at);
        at += 4;
        if (end - at < (size_t)kl + 4) {
            rc = KP_ECORRUPT;
            break;
        }
        const uint8_t *k = buf + at;
        at += kl;
        uint32_t vl = kp_be32(buf + at);
        at += 4;
        if (end - at < vl) {
            rc = KP_ECORRUPT;
            break;
        }
        rc = store_apply(s, k, kl, buf + at, vl);
        if (rc)
            break;
        at += vl;
    }
    if (rc == 0 && at != end)
        rc = KP_ECORRUPT;
    if (rc)
        store_clear(s);
out:
    kp_free(buf);
    return rc;
}

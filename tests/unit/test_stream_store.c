/*
 * test_stream_store.c -- the stream processor's state store (src/stream/
 * store.c): the hash table against a reference map, backward-shift deletion
 * in long colliding probe runs, dirty tracking (what the changelog carries),
 * snapshot files and every way of damaging one, and allocation failures.
 */
#include "test.h"
#include "core/crc32c.h"
#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "stream/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

static store_t *new_store(void)
{
    store_t *s;
    CHECK_OK(store_new(&s));
    return s;
}

static void put_str(store_t *s, const char *k, const char *v)
{
    CHECK_OK(store_put(s, k, strlen(k), v, strlen(v)));
}

/* The value of k as a NUL-terminated string in a static buffer, or NULL. */
static const char *get_str(store_t *s, const char *k)
{
    static char buf[4096];
    size_t vlen = 12345;
    const void *v = store_get(s, k, strlen(k), &vlen);
    if (!v)
        return NULL;
    CHECK(vlen < sizeof buf);
    memcpy(buf, v, vlen);
    buf[vlen] = 0;
    return buf;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    uint8_t *b = malloc((size_t)size + 1);
    CHECK(pread(fd, b, (size_t)size, 0) == size);
    close(fd);
    *len = (size_t)size;
    return b;
}

/* What store_take_dirty visited, in order. */
typedef struct taken {
    int n;
    char key[64][32];
    char val[64][64];
    bool deleted[64];
} taken_t;

static int take_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    taken_t *t = ctx;
    if (t->n == 64 || klen >= 32 || vlen >= 64)
        return -1;
    memcpy(t->key[t->n], key, klen);
    t->key[t->n][klen] = 0;
    t->deleted[t->n] = val == NULL;
    if (val)
        memcpy(t->val[t->n], val, vlen);
    t->val[t->n][val ? vlen : 0] = 0;
    t->n++;
    return 0;
}

static taken_t take(store_t *s)
{
    taken_t t;
    memset(&t, 0, sizeof t);
    CHECK_OK(store_take_dirty(s, take_cb, &t));
    return t;
}

/* The same hash as store.c (FNV-1a + finalizer), only to pick keys that
 * share a home slot.  If store.c changes its hash, the collision tests below
 * still check correctness, just with shorter probe runs. */
static uint64_t mirror_hash(const void *p, size_t n)
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

/* ---- basic operations ------------------------------------------------------ */

TEST(put_get_overwrite)
{
    store_t *s = new_store();
    CHECK(get_str(s, "a") == NULL);
    CHECK_EQ_INT(store_count(s), 0);
    CHECK_EQ_INT(store_bytes(s), 0);
    put_str(s, "a", "1");
    put_str(s, "bb", "22");
    CHECK(strcmp(get_str(s, "a"), "1") == 0);
    CHECK(strcmp(get_str(s, "bb"), "22") == 0);
    CHECK_EQ_INT(store_count(s), 2);
    CHECK_EQ_INT(store_bytes(s), 1 + 1 + 2 + 2);
    /* Grow the value well past its spare room, then shrink it, then grow a
     * little (in place). */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    put_str(s, "a", big);
    CHECK(strcmp(get_str(s, "a"), big) == 0);
    CHECK_EQ_INT(store_bytes(s), 1 + 2999 + 2 + 2);
    put_str(s, "a", "s");
    CHECK(strcmp(get_str(s, "a"), "s") == 0);
    CHECK_EQ_INT(store_bytes(s), 1 + 1 + 2 + 2);
    put_str(s, "a", "sss");
    CHECK(strcmp(get_str(s, "a"), "sss") == 0);
    for (int i = 1; i < 200; i++) {         /* every size up and down */
        put_str(s, "bb", big + sizeof big - 1 - (size_t)i);
        CHECK_EQ_INT(strlen(get_str(s, "bb")), i);
    }
    put_str(s, "bb", "");
    size_t vlen = 99;
    CHECK(store_get(s, "bb", 2, &vlen) != NULL);    /* empty, but present */
    CHECK_EQ_INT(vlen, 0);
    CHECK_EQ_INT(store_count(s), 2);
    CHECK_EQ_INT(store_bytes(s), 1 + 3 + 2 + 0);
    /* Binary keys: NUL bytes, prefixes of each other, the empty key. */
    CHECK_OK(store_put(s, "\0", 1, "n1", 2));
    CHECK_OK(store_put(s, "\0\0", 2, "n2", 2));
    CHECK_OK(store_put(s, "", 0, "empty", 5));
    const char *v = store_get(s, "\0", 1, &vlen);
    CHECK(v && vlen == 2 && memcmp(v, "n1", 2) == 0);
    v = store_get(s, "\0\0", 2, &vlen);
    CHECK(v && vlen == 2 && memcmp(v, "n2", 2) == 0);
    v = store_get(s, "", 0, &vlen);
    CHECK(v && vlen == 5 && memcmp(v, "empty", 5) == 0);
    CHECK(store_get(s, "\0\0\0", 3, &vlen) == NULL);
    CHECK_EQ_INT(store_count(s), 5);
    /* A value taken from the store itself (aggregates do this). */
    v = store_get(s, "a", 1, &vlen);
    CHECK_OK(store_put(s, "a", 1, v, vlen));
    CHECK(strcmp(get_str(s, "a"), "sss") == 0);
    /* Deleting a missing key is not an error and changes nothing. */
    CHECK_OK(store_delete(s, "zz", 2));
    CHECK_EQ_INT(store_count(s), 5);
    CHECK_OK(store_delete(s, "a", 1));
    CHECK(get_str(s, "a") == NULL);
    CHECK_EQ_INT(store_count(s), 4);
    CHECK_EQ_INT(store_bytes(s), 2 + 0 + 1 + 2 + 2 + 2 + 0 + 5);
    store_clear(s);
    CHECK_EQ_INT(store_count(s), 0);
    CHECK_EQ_INT(store_bytes(s), 0);
    CHECK(!store_has_dirty(s));
    CHECK(get_str(s, "bb") == NULL);
    store_free(s);
    store_free(NULL);
}

TEST(growth_keeps_every_key)
{
    store_t *s = new_store();
    char k[32], v[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        snprintf(v, sizeof v, "%d", i * 7);
        put_str(s, k, v);
    }
    CHECK_EQ_INT(store_count(s), 50000);
    for (int i = 0; i < 50000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        snprintf(v, sizeof v, "%d", i * 7);
        const char *got = get_str(s, k);
        if (!got || strcmp(got, v) != 0)
            test_fail(__FILE__, __LINE__, "key %s: got %s, want %s", k, got ? got : "(none)", v);
    }
    store_free(s);
}

/* Keys whose home slot in a 1024-slot table is one of 1021..1023, 0..2: one
 * long probe run that wraps around the end of the table. */
static int colliding_keys(char keys[][16], int want)
{
    int n = 0;
    for (int i = 0; n < want && i < 10000000; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "c%d", i);
        size_t home = (size_t)mirror_hash(k, (size_t)kl) & 1023;
        if (home >= 1021 || home <= 2)
            memcpy(keys[n++], k, (size_t)kl + 1);
    }
    return n;
}

TEST(backward_shift_deletion_in_colliding_runs)
{
    static char keys[400][16];
    int n = colliding_keys(keys, 400);
    CHECK_EQ_INT(n, 400);
    uint64_t rng = test_seed();
    for (int round = 0; round < 4; round++) {
        /* 400 keys keep the table at 1024 slots (it grows at 717). */
        store_t *s = new_store();
        bool present[400] = {0};
        for (int i = 0; i < n; i++) {
            put_str(s, keys[i], keys[i]);
            present[i] = true;
        }
        int live = n;
        for (int step = 0; step < 1200; step++) {
            int i = (int)(test_rand(&rng) % (uint64_t)n);
            if (present[i] && test_rand(&rng) % 4 != 0) {
                CHECK_OK(store_delete(s, keys[i], strlen(keys[i])));
                present[i] = false;
                live--;
            } else if (!present[i]) {
                put_str(s, keys[i], keys[i]);
                present[i] = true;
                live++;
            }
            /* After every change, every key is where lookups find it. */
            for (int j = 0; j < n; j++) {
                const char *got = get_str(s, keys[j]);
                if (present[j] ? !got || strcmp(got, keys[j]) != 0 : got != NULL)
                    test_fail(__FILE__, __LINE__, "round %d step %d: key %s %s", round, step,
                              keys[j], present[j] ? "lost" : "still found after delete");
            }
            CHECK_EQ_INT(store_count(s), live);
        }
        store_free(s);
    }
}

/* ---- the reference-map run ------------------------------------------------ */

#define REF_KEYS 3000

typedef struct ref {
    bool present[REF_KEYS];
    uint8_t *val[REF_KEYS];
    size_t vlen[REF_KEYS];
    /* dirty keys in first-change order */
    int dirty[REF_KEYS];
    int ndirty;
    bool is_dirty[REF_KEYS];
} ref_t;

static size_t ref_key(int i, uint8_t *k)
{
    /* 4 bytes BE (so NUL bytes are common), then i % 5 filler bytes. */
    kp_put_be32(k, (uint32_t)i);
    size_t n = 4 + (size_t)(i % 5);
    memset(k + 4, 'x', n - 4);
    return n;
}

static int ref_key_index(const void *key, size_t klen)
{
    if (klen < 4)
        return -1;
    int i = (int)kp_be32(key);
    uint8_t k[16];
    if (i < 0 || i >= REF_KEYS || ref_key(i, k) != klen || memcmp(k, key, klen) != 0)
        return -1;
    return i;
}

typedef struct walk {
    ref_t *ref;
    int next;               /* take_dirty: position in ref->dirty */
    int count;
    bool seen[REF_KEYS];
    char why[200];
} walk_t;

static int walk_each(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    walk_t *w = ctx;
    int i = ref_key_index(key, klen);
    if (i < 0 || w->seen[i] || !w->ref->present[i] || vlen != w->ref->vlen[i] ||
        memcmp(val, w->ref->val[i], vlen) != 0) {
        snprintf(w->why, sizeof w->why, "store_each: entry %d unexpected or wrong", i);
        return 1;
    }
    w->seen[i] = true;
    w->count++;
    return 0;
}

static int walk_dirty(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    walk_t *w = ctx;
    ref_t *r = w->ref;
    int i = ref_key_index(key, klen);
    if (w->next >= r->ndirty || r->dirty[w->next] != i) {
        snprintf(w->why, sizeof w->why, "take_dirty: visit %d is key %d, expected key %d of %d",
                 w->next, i, w->next < r->ndirty ? r->dirty[w->next] : -1, r->ndirty);
        return 1;
    }
    w->next++;
    if (r->present[i] ? !val || vlen != r->vlen[i] || memcmp(val, r->val[i], vlen) != 0
                      : val != NULL) {
        snprintf(w->why, sizeof w->why, "take_dirty: key %d has the wrong value", i);
        return 1;
    }
    return 0;
}

static void ref_check_all(store_t *s, ref_t *r, long op)
{
    size_t count = 0, bytes = 0;
    uint8_t k[16];
    for (int i = 0; i < REF_KEYS; i++) {
        size_t kl = ref_key(i, k), vlen;
        const void *v = store_get(s, k, kl, &vlen);
        if (r->present[i] ? !v || vlen != r->vlen[i] || memcmp(v, r->val[i], vlen) != 0
                          : v != NULL)
            test_fail(__FILE__, __LINE__, "op %ld: key %d %s", op, i,
                      r->present[i] ? (v ? "has the wrong value" : "lost") : "not deleted");
        if (r->present[i]) {
            count++;
            bytes += kl + r->vlen[i];
        }
    }
    CHECK_EQ_INT(store_count(s), count);
    CHECK_EQ_INT(store_bytes(s), bytes);
    walk_t *w = calloc(1, sizeof *w);
    w->ref = r;
    int rc = store_each(s, walk_each, w);
    if (rc)
        test_fail(__FILE__, __LINE__, "op %ld: %s", op, w->why);
    CHECK_EQ_INT(w->count, count);
    free(w);
}

static void ref_mark(ref_t *r, int i)
{
    if (!r->is_dirty[i]) {
        r->is_dirty[i] = true;
        r->dirty[r->ndirty++] = i;
    }
}

TEST(random_operations_match_a_reference_map)
{
    uint64_t rng = test_seed() ^ 0x5eed;
    store_t *s = new_store();
    ref_t *r = calloc(1, sizeof *r);
    uint8_t k[16], v[600];
    for (long op = 0; op < 100000; op++) {
        /* A hot set of keys so that runs collide and keys come back. */
        int i = (int)(test_rand(&rng) % (test_rand(&rng) % 4 ? 400 : REF_KEYS));
        size_t kl = ref_key(i, k);
        unsigned what = (unsigned)(test_rand(&rng) % 100);
        if (what < 45) {                    /* put (sometimes apply) */
            size_t vl = test_rand(&rng) % 8 == 0 ? test_rand(&rng) % 600 : test_rand(&rng) % 24;
            for (size_t j = 0; j < vl; j++)
                v[j] = (uint8_t)test_rand(&rng);
            bool apply = test_rand(&rng) % 10 == 0;
            CHECK_OK(apply ? store_apply(s, k, kl, v, vl) : store_put(s, k, kl, v, vl));
            free(r->val[i]);
            r->val[i] = malloc(vl + 1);
            memcpy(r->val[i], v, vl);
            r->vlen[i] = vl;
            r->present[i] = true;
            if (!apply)
                ref_mark(r, i);
        } else if (what < 80) {             /* delete (sometimes apply) */
            bool apply = test_rand(&rng) % 10 == 0;
            CHECK_OK(apply ? store_apply(s, k, kl, NULL, 0) : store_delete(s, k, kl));
            /* Deleting a missing key changes nothing, so it is not dirty. */
            if (!apply && r->present[i])
                ref_mark(r, i);
            r->present[i] = false;
        } else if (what < 99) {             /* get */
            size_t vlen;
            const void *got = store_get(s, k, kl, &vlen);
            if (r->present[i] ? !got || vlen != r->vlen[i] || memcmp(got, r->val[i], vlen)
                              : got != NULL)
                test_fail(__FILE__, __LINE__, "op %ld: get of key %d disagrees", op, i);
        } else {                            /* a commit: the changelog */
            walk_t *w = calloc(1, sizeof *w);
            w->ref = r;
            int rc = store_take_dirty(s, walk_dirty, w);
            if (rc)
                test_fail(__FILE__, __LINE__, "op %ld: %s", op, w->why);
            if (w->next != r->ndirty)
                test_fail(__FILE__, __LINE__, "op %ld: take_dirty visited %d of %d keys", op,
                          w->next, r->ndirty);
            free(w);
            CHECK(!store_has_dirty(s));
            for (int j = 0; j < r->ndirty; j++)
                r->is_dirty[r->dirty[j]] = false;
            r->ndirty = 0;
        }
        CHECK(store_has_dirty(s) == (r->ndirty > 0));
        if (op % 10000 == 9999)
            ref_check_all(s, r, op);
    }
    ref_check_all(s, r, 100000);
    for (int i = 0; i < REF_KEYS; i++)
        free(r->val[i]);
    free(r);
    store_free(s);
}

/* ---- dirty tracking ------------------------------------------------------- */

TEST(dirty_tracking_order_and_tombstones)
{
    store_t *s = new_store();
    CHECK(!store_has_dirty(s));
    taken_t t = take(s);
    CHECK_EQ_INT(t.n, 0);
    put_str(s, "c", "1");
    put_str(s, "a", "1");
    put_str(s, "c", "2");                   /* second change: still one visit, first position */
    put_str(s, "b", "x");
    CHECK_OK(store_delete(s, "b", 1));      /* put then deleted: a tombstone */
    CHECK_OK(store_delete(s, "nope", 4));   /* no such key: nothing to carry */
    CHECK(store_has_dirty(s));
    t = take(s);
    CHECK_EQ_INT(t.n, 3);
    CHECK(strcmp(t.key[0], "c") == 0 && strcmp(t.val[0], "2") == 0 && !t.deleted[0]);
    CHECK(strcmp(t.key[1], "a") == 0 && strcmp(t.val[1], "1") == 0 && !t.deleted[1]);
    CHECK(strcmp(t.key[2], "b") == 0 && t.deleted[2]);
    CHECK(!store_has_dirty(s));
    t = take(s);
    CHECK_EQ_INT(t.n, 0);

    /* After a commit: a delete of a clean key is a tombstone; a rewrite
     * with the same bytes is still a change. */
    CHECK_OK(store_delete(s, "a", 1));
    put_str(s, "c", "2");
    t = take(s);
    CHECK_EQ_INT(t.n, 2);
    CHECK(strcmp(t.key[0], "a") == 0 && t.deleted[0]);
    CHECK(strcmp(t.key[1], "c") == 0 && strcmp(t.val[1], "2") == 0);

    /* store_apply (restore) never marks, and does not unmark either. */
    CHECK_OK(store_apply(s, "r", 1, "restored", 8));
    CHECK_OK(store_apply(s, "c", 1, NULL, 0));
    CHECK(!store_has_dirty(s));
    CHECK(strcmp(get_str(s, "r"), "restored") == 0);
    CHECK(get_str(s, "c") == NULL);
    put_str(s, "r", "changed");
    CHECK_OK(store_apply(s, "r", 1, "re-restored", 11));
    t = take(s);
    CHECK_EQ_INT(t.n, 1);
    CHECK(strcmp(t.key[0], "r") == 0 && strcmp(t.val[0], "re-restored") == 0);
    store_free(s);
}

TEST(dirty_put_delete_put_is_one_change)
{
    store_t *s = new_store();
    put_str(s, "k", "1");
    CHECK_OK(store_delete(s, "k", 1));
    put_str(s, "k", "2");
    put_str(s, "z", "z");
    taken_t t = take(s);
    CHECK_EQ_INT(t.n, 2);
    CHECK(strcmp(t.key[0], "k") == 0 && strcmp(t.val[0], "2") == 0 && !t.deleted[0]);
    CHECK(strcmp(t.key[1], "z") == 0);

    /* The same from a committed (clean) key, ending deleted. */
    CHECK_OK(store_delete(s, "k", 1));
    put_str(s, "k", "3");
    CHECK_OK(store_delete(s, "k", 1));
    put_str(s, "k", "4");
    CHECK_OK(store_delete(s, "k", 1));
    t = take(s);
    CHECK_EQ_INT(t.n, 1);
    CHECK(strcmp(t.key[0], "k") == 0 && t.deleted[0]);

    /* Restore-deleted, then changed. */
    put_str(s, "q", "1");
    CHECK_OK(store_apply(s, "q", 1, NULL, 0));
    put_str(s, "q", "2");
    t = take(s);
    CHECK_EQ_INT(t.n, 1);
    CHECK(strcmp(t.key[0], "q") == 0 && strcmp(t.val[0], "2") == 0);
    /* And nothing stays marked: a later change is visited once again. */
    put_str(s, "q", "3");
    t = take(s);
    CHECK_EQ_INT(t.n, 1);
    CHECK(strcmp(t.val[0], "3") == 0);
    store_free(s);
}

static int stop_at_second(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key; (void)klen; (void)val; (void)vlen;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

TEST(each_and_take_dirty_stop_on_nonzero)
{
    store_t *s = new_store();
    put_str(s, "a", "1");
    put_str(s, "b", "2");
    put_str(s, "c", "3");
    int calls = 0;
    CHECK_EQ_INT(store_each(s, stop_at_second, &calls), 42);
    CHECK_EQ_INT(calls, 2);
    calls = 0;
    CHECK_EQ_INT(store_take_dirty(s, stop_at_second, &calls), 42);
    CHECK_EQ_INT(calls, 2);
    /* A failed take forgets the list (the caller's transaction is lost
     * anyway and the task restarts from its changelog). */
    CHECK(!store_has_dirty(s));
    store_t *e = new_store();
    calls = 0;
    CHECK_OK(store_each(e, stop_at_second, &calls));
    CHECK_EQ_INT(calls, 0);
    store_free(e);
    store_free(s);
}

/* ---- snapshots ---------------------------------------------------------- */

static void snap_paths(const char *dir, char *path, char *tmp)
{
    snprintf(path, 600, "%s/t.snap", dir);
    snprintf(tmp, 600, "%s/t.snap.tmp", dir);
}

TEST(snapshot_round_trip_100k)
{
    const char *dir = test_tmpdir("snap");
    char path[600], tmp[600];
    snap_paths(dir, path, tmp);
    store_t *s = new_store();
    char k[32], v[64];
    for (int i = 0; i < 100000; i++) {
        int kl = snprintf(k, sizeof k, "k%d", i);
        int vl = snprintf(v, sizeof v, "value-%d-%.*s", i, i % 30, "abcdefghijklmnopqrstuvwxyz0123");
        CHECK_OK(store_put(s, k, (size_t)kl, v, (size_t)vl));
    }
    CHECK_OK(store_put(s, "empty", 5, "", 0));
    CHECK_OK(store_put(s, "", 0, "empty key", 9));
    CHECK_OK(store_snapshot_write(s, path, 1234567890123LL));
    CHECK(!file_exists(tmp));
    /* Writing does not touch the dirty list (the changelog still owes it). */
    CHECK(store_has_dirty(s));
    store_t *r = new_store();
    put_str(r, "stale", "replaced by the snapshot");
    int64_t next = -1;
    CHECK_OK(store_snapshot_read(r, path, &next));
    CHECK_EQ_INT(next, 1234567890123LL);
    CHECK_EQ_INT(store_count(r), 100002);
    CHECK_EQ_INT(store_bytes(r), store_bytes(s));
    CHECK(!store_has_dirty(r));
    CHECK(get_str(r, "stale") == NULL);
    for (int i = 0; i < 100000; i++) {
        int kl = snprintf(k, sizeof k, "k%d", i);
        int vl = snprintf(v, sizeof v, "value-%d-%.*s", i, i % 30, "abcdefghijklmnopqrstuvwxyz0123");
        size_t got;
        const void *p = store_get(r, k, (size_t)kl, &got);
        if (!p || got != (size_t)vl || memcmp(p, v, got) != 0)
            test_fail(__FILE__, __LINE__, "key %s lost or wrong after the round trip", k);
    }
    size_t vlen;
    CHECK(store_get(r, "empty", 5, &vlen) && vlen == 0);
    CHECK(store_get(r, "", 0, &vlen) && vlen == 9);
    /* A newer snapshot replaces the file. */
    CHECK_OK(store_delete(s, "k5", 2));
    CHECK_OK(store_snapshot_write(s, path, 7));
    CHECK(!file_exists(tmp));
    CHECK_OK(store_snapshot_read(r, path, &next));
    CHECK_EQ_INT(next, 7);
    CHECK_EQ_INT(store_count(r), 100001);
    CHECK(get_str(r, "k5") == NULL);
    store_free(r);
    store_free(s);
    test_rmtree(dir);
}

TEST(snapshot_empty_store_and_missing_file)
{
    const char *dir = test_tmpdir("snap");
    char path[600], tmp[600];
    snap_paths(dir, path, tmp);
    store_t *s = new_store();
    int64_t next = 99;
    CHECK_EQ_INT(store_snapshot_read(s, path, &next), KP_ENOTFOUND);
    CHECK_EQ_INT(next, 99);
    CHECK_OK(store_snapshot_write(s, path, 0));
    CHECK(!file_exists(tmp));
    size_t len;
    uint8_t *b = read_whole(path, &len);
    /* "KPSNAP01" | u64 next | u64 count | u32 crc */
    CHECK_EQ_INT(len, 28);
    CHECK(memcmp(b, "KPSNAP01", 8) == 0);
    CHECK_EQ_INT(kp_be64(b + 8), 0);
    CHECK_EQ_INT(kp_be64(b + 16), 0);
    CHECK_EQ_INT(kp_be32(b + 24), crc32c(0, b, 24));
    free(b);
    put_str(s, "x", "y");
    CHECK_OK(store_snapshot_read(s, path, &next));
    CHECK_EQ_INT(next, 0);
    CHECK_EQ_INT(store_count(s), 0);
    store_free(s);
    test_rmtree(dir);
}

TEST(snapshot_format_is_the_documented_one)
{
    const char *dir = test_tmpdir("snap");
    char path[600], tmp[600];
    snap_paths(dir, path, tmp);
    store_t *s = new_store();
    put_str(s, "key", "value");
    CHECK_OK(store_snapshot_write(s, path, 0x0102030405060708LL));
    size_t len;
    uint8_t *b = read_whole(path, &len);
    CHECK_EQ_INT(len, 24 + 4 + 3 + 4 + 5 + 4);
    CHECK_EQ_INT(kp_be64(b + 8), 0x0102030405060708LL);
    CHECK_EQ_INT(kp_be64(b + 16), 1);
    CHECK_EQ_INT(kp_be32(b + 24), 3);
    CHECK(memcmp(b + 28, "key", 3) == 0);
    CHECK_EQ_INT(kp_be32(b + 31), 5);
    CHECK(memcmp(b + 35, "value", 5) == 0);
    CHECK_EQ_INT(kp_be32(b + 40), crc32c(0, b, 40));
    free(b);
    store_free(s);
    test_rmtree(dir);
}

/* Read a damaged file into a fresh store and into one holding other
 * entries: it must be refused, and neither store may keep anything (the
 * caller then rebuilds from the whole changelog). */
static void expect_damaged(const char *path, const char *what, size_t at)
{
    for (int pre = 0; pre < 2; pre++) {
        store_t *r = new_store();
        if (pre)
            put_str(r, "old", "entry");
        int64_t next = -5;
        int rc = store_snapshot_read(r, path, &next);
        if (rc != KP_ECRC && rc != KP_ECORRUPT)
            test_fail(__FILE__, __LINE__, "%s at %zu: read returned %d (%s)", what, at, rc,
                      kp_strerror(rc));
        if (store_count(r) != 0 || store_bytes(r) != 0)
            test_fail(__FILE__, __LINE__, "%s at %zu (%s store): %zu entries left", what, at,
                      pre ? "non-empty" : "fresh", store_count(r));
        CHECK(!store_has_dirty(r));
        store_free(r);
    }
}

TEST(snapshot_damage_is_detected)
{
    const char *dir = test_tmpdir("snap");
    char path[600], tmp[600], bad[600];
    snap_paths(dir, path, tmp);
    snprintf(bad, sizeof bad, "%s/bad.snap", dir);
    store_t *s = new_store();
    put_str(s, "alpha", "1");
    put_str(s, "beta", "");
    put_str(s, "gamma", "three");
    CHECK_OK(store_put(s, "", 0, "e", 1));
    CHECK_OK(store_snapshot_write(s, path, 42));
    size_t len;
    uint8_t *b = read_whole(path, &len);
    /* Truncated at every length, including 0. */
    for (size_t n = 0; n < len; n++) {
        write_file(bad, b, n);
        expect_damaged(bad, "truncation", n);
    }
    /* A byte flipped anywhere, three ways. */
    uint8_t *c = malloc(len);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < len; at++)
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(c, b, len);
            c[at] ^= masks[m];
            write_file(bad, c, len);
            expect_damaged(bad, "flipped byte", at);
        }
    /* An extra byte at the end. */
    memcpy(c, b, len);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 0;
    write_file(bad, longer, len + 1);
    expect_damaged(bad, "extra byte", len);
    free(longer);

    /* Structural damage under a correct CRC (a writer bug, not the disk):
     * the count too high, too low, a length running off the end. */
    memcpy(c, b, len);
    kp_put_be64(c + 16, 5);
    kp_put_be32(c + len - 4, crc32c(0, c, len - 4));
    write_file(bad, c, len);
    expect_damaged(bad, "count too high", 16);
    kp_put_be64(c + 16, 3);
    kp_put_be32(c + len - 4, crc32c(0, c, len - 4));
    write_file(bad, c, len);
    expect_damaged(bad, "count too low", 16);
    memcpy(c, b, len);
    kp_put_be32(c + 24, 0xfffffff0u);
    kp_put_be32(c + len - 4, crc32c(0, c, len - 4));
    write_file(bad, c, len);
    expect_damaged(bad, "huge key length", 24);
    memcpy(c, b, len);
    kp_put_be64(c + 16, UINT64_MAX);
    kp_put_be32(c + len - 4, crc32c(0, c, len - 4));
    write_file(bad, c, len);
    expect_damaged(bad, "huge count", 16);
    free(c);
    free(b);
    /* The good file still reads. */
    store_t *r = new_store();
    int64_t next;
    CHECK_OK(store_snapshot_read(r, path, &next));
    CHECK_EQ_INT(store_count(r), 4);
    CHECK_EQ_INT(next, 42);
    store_free(r);
    store_free(s);
    test_rmtree(dir);
}

TEST(snapshot_write_failures_leave_no_tmp)
{
    const char *dir = test_tmpdir("snap");
    char path[600], tmp[600];
    store_t *s = new_store();
    put_str(s, "a", "b");
    /* The target is a directory: the rename fails, nothing is left over. */
    snprintf(path, sizeof path, "%s/adir", dir);
    snprintf(tmp, sizeof tmp, "%s/adir.tmp", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(mkdir(tmp, 0755) != 0 || rmdir(tmp) == 0);
    int rc = store_snapshot_write(s, path, 1);
    CHECK(rc < 0);
    CHECK(!file_exists(tmp));
    /* A directory that does not exist. */
    snprintf(path, sizeof path, "%s/missing/t.snap", dir);
    rc = store_snapshot_write(s, path, 1);
    CHECK_EQ_INT(rc, -ENOENT);
    store_free(s);
    test_rmtree(dir);
}

/* ---- allocation failures ------------------------------------------------ */

/* The store's whole state as one comparable string: entries sorted by key,
 * then the dirty list (which take_dirty consumes, so this ends the store's
 * use).  Keys and values here are printable. */
typedef struct dump {
    char *p;
    size_t len, cap;
} dump_t;

static void dump_raw(dump_t *d, const char *p, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->p = realloc(d->p, d->cap);
    }
    memcpy(d->p + d->len, p, n);
    d->len += n;
    d->p[d->len] = 0;
}

/* "TAG key=value\n" ("(null)" for a deletion). */
static void dump_add(dump_t *d, char tag, const void *k, size_t kl, const void *v, size_t vl)
{
    char line[2400];
    int n = snprintf(line, sizeof line, "%c %.*s=%.*s\n", tag, (int)kl, (const char *)k,
                     v ? (int)vl : 6, v ? (const char *)v : "(null)");
    dump_raw(d, line, (size_t)n);
}

static int dump_entry(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    dump_add(ctx, 'E', k, kl, v, vl);
    return 0;
}

static int dump_dirty(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    dump_add(ctx, 'D', k, kl, v, vl);
    return 0;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dump_store(store_t *s)
{
    dump_t e = {0}, d = {0};
    store_each(s, dump_entry, &e);
    /* Sort the entry lines (store_each has no order). */
    int n = 0;
    for (size_t i = 0; i < e.len; i++)
        n += e.p && e.p[i] == '\n';
    char **lines = calloc((size_t)n + 1, sizeof *lines);
    char *save = NULL, *tok = e.p ? strtok_r(e.p, "\n", &save) : NULL;
    for (int i = 0; tok; tok = strtok_r(NULL, "\n", &save))
        lines[i++] = tok;
    qsort(lines, (size_t)n, sizeof *lines, cmp_lines);
    dump_t out = {0};
    char hdr[64];
    snprintf(hdr, sizeof hdr, "count=%zu bytes=%zu\n", store_count(s), store_bytes(s));
    dump_raw(&out, hdr, strlen(hdr));
    for (int i = 0; i < n; i++) {
        dump_raw(&out, lines[i], strlen(lines[i]));
        dump_raw(&out, "\n", 1);
    }
    store_take_dirty(s, dump_dirty, &d);
    if (d.p)
        dump_raw(&out, d.p, d.len);
    free(lines);
    free(e.p);
    free(d.p);
    return out.p;
}

static int discard(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)ctx; (void)k; (void)kl; (void)v; (void)vl;
    return 0;
}

/* A store in a known state: 716 entries (the next new key grows the table),
 * some committed and some dirty. */
static store_t *fixture(void)
{
    store_t *s = new_store();
    char k[16], v[16];
    for (int i = 0; i < 716; i++) {
        snprintf(k, sizeof k, "f%d", i);
        snprintf(v, sizeof v, "v%d", i);
        put_str(s, k, v);
        if (i == 600)                       /* 0..600 committed, the rest dirty */
            CHECK_OK(store_take_dirty(s, discard, NULL));
    }
    return s;
}

typedef int op_fn(store_t *s);
static int op_put_new(store_t *s) { return store_put(s, "new", 3, "n", 1); }
static int op_put_grow(store_t *s)
{
    static char big[5000];
    memset(big, 'g', sizeof big);
    return store_put(s, "f3", 2, big, sizeof big);   /* a committed key, reallocated */
}
static int op_put_dirty_grow(store_t *s)
{
    static char big[300];
    memset(big, 'h', sizeof big);
    return store_put(s, "f700", 4, big, sizeof big); /* an already dirty key */
}
static int op_delete_clean(store_t *s) { return store_delete(s, "f10", 3); }
static int op_delete_dirty(store_t *s) { return store_delete(s, "f650", 4); }
static int op_apply_new(store_t *s) { return store_apply(s, "new", 3, "a", 1); }

/* Each operation, with every allocation it makes failing in turn: either
 * it succeeds, or it returns KP_ENOMEM and the store (entries, counts and
 * the dirty list) is exactly as before. */
TEST(allocation_failures_leave_the_store_unchanged)
{
    static struct { const char *name; op_fn *fn; } ops[] = {
        {"put new key (grows the table)", op_put_new},
        {"put larger value of a clean key", op_put_grow},
        {"put larger value of a dirty key", op_put_dirty_grow},
        {"delete a clean key", op_delete_clean},
        {"delete a dirty key", op_delete_dirty},
        {"apply a new key", op_apply_new},
    };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        store_t *ref = fixture();
        char *before = dump_store(ref);
        store_free(ref);
        bool clean = false;
        for (long n = 0; n < 20 && !clean; n++) {
            store_t *s = fixture();
            kp_mem_fail_after(n);
            int rc = ops[o].fn(s);
            long failures = kp_mem_failures();
            kp_mem_fail_reset();
            if (failures == 0) {
                CHECK_OK(rc);
                clean = true;
            } else {
                if (rc != KP_ENOMEM)
                    test_fail(__FILE__, __LINE__, "%s, allocation %ld failing: rc %d", ops[o].name,
                              n, rc);
                char *after = dump_store(s);
                if (strcmp(before, after) != 0)
                    test_fail(__FILE__, __LINE__, "%s, allocation %ld failing: the store changed",
                              ops[o].name, n);
                free(after);
            }
            store_free(s);
        }
        free(before);
        CHECK(clean);
    }
}

TEST(snapshot_allocation_failures)
{
    const char *dir = test_tmpdir("snap");
    char path[600], tmp[600];
    snap_paths(dir, path, tmp);
    store_t *s = new_store();
    char k[16];
    for (int i = 0; i < 2000; i++) {
        int kl = snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(store_put(s, k, (size_t)kl, k, (size_t)kl));
    }
    /* Writing: the one allocation fails before any file is made. */
    kp_mem_fail_after(0);
    int rc = store_snapshot_write(s, path, 5);
    kp_mem_fail_reset();
    CHECK_EQ_INT(rc, KP_ENOMEM);
    CHECK(!file_exists(path));
    CHECK(!file_exists(tmp));
    CHECK_OK(store_snapshot_write(s, path, 5));
    /* Reading: each allocation in turn (the file buffer, then the table as
     * it fills and grows). */
    bool clean = false;
    for (long n = 0; n < 100000 && !clean; n++) {
        store_t *r = new_store();
        int64_t next = -1;
        kp_mem_fail_after(n);
        rc = store_snapshot_read(r, path, &next);
        long failures = kp_mem_failures();
        kp_mem_fail_reset();
        if (failures == 0) {
            CHECK_OK(rc);
            CHECK_EQ_INT(store_count(r), 2000);
            CHECK_EQ_INT(next, 5);
            clean = true;
        } else {
            if (rc != KP_ENOMEM)
                test_fail(__FILE__, __LINE__, "allocation %ld failing: rc %d", n, rc);
            CHECK_EQ_INT(store_count(r), 0);
            CHECK_EQ_INT(store_bytes(r), 0);
        }
        store_free(r);
    }
    CHECK(clean);
    store_free(s);
    test_rmtree(dir);
}

int main(void)
{
    RUN(put_get_overwrite);
    RUN(growth_keeps_every_key);
    RUN(backward_shift_deletion_in_colliding_runs);
    RUN(random_operations_match_a_reference_map);
    RUN(dirty_tracking_order_and_tombstones);
    RUN(dirty_put_delete_put_is_one_change);
    RUN(each_and_take_dirty_stop_on_nonzero);
    RUN(snapshot_round_trip_100k);
    RUN(snapshot_empty_store_and_missing_file);
    RUN(snapshot_format_is_the_documented_one);
    RUN(snapshot_damage_is_detected);
    RUN(snapshot_write_failures_leave_no_tmp);
    RUN(allocation_failures_leave_the_store_unchanged);
    RUN(snapshot_allocation_failures);
    return test_summary();
}

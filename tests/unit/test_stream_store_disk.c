/*
 * test_stream_store_disk.c -- the on-disk state store (stream/store_disk.h)
 * against the in-memory store as the reference: the same answers and the
 * same dirty records over seeded random operations; the changelog offset
 * and data across close and reopen; rollback; deferred commits; the automatic commits of a
 * restore; a process killed mid-commit (fork + SIGKILL); and the wipe of a
 * store that cannot be trusted (another boot, no marker, no or a damaged
 * meta record, a garbage file).
 */
#include "test.h"
#include "core/kp_error.h"
#include "stream/store.h"
#include "stream/store_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

typedef struct rec {
    uint8_t key[64];
    size_t klen;
    uint8_t val[400];
    size_t vlen;
    bool del;
} rec_t;

typedef struct recs {
    rec_t *r;
    size_t n, cap;
} recs_t;

static int collect(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    recs_t *rs = ctx;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
    }
    rec_t *r = &rs->r[rs->n++];
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->del = val == NULL;
    r->vlen = val ? vlen : 0;
    if (val)
        memcpy(r->val, val, vlen);
    return 0;
}

/*
 * store.c lists a key twice when it is changed again after its entry went
 * away (put, delete, put): both records carry the current value.  The disk
 * store lists it once, which is what "first-change order" means; compare
 * with the reference's later duplicates dropped.
 */
static void drop_repeats(recs_t *rs)
{
    size_t out = 0;
    for (size_t i = 0; i < rs->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < out && !seen; j++)
            seen = rs->r[j].klen == rs->r[i].klen &&
                   memcmp(rs->r[j].key, rs->r[i].key, rs->r[i].klen) == 0;
        if (!seen)
            rs->r[out++] = rs->r[i];
    }
    rs->n = out;
}

/* Every entry of the disk store is in the reference with the same value. */
static int check_in_ref(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t rl;
    const void *rv = store_get(ctx, key, klen, &rl);
    return !rv || rl != vlen || memcmp(rv, val, vlen) != 0;
}

static void check_same(store_disk_t *d, store_t *ref)
{
    CHECK_EQ_INT(store_disk_count(d), store_count(ref));
    CHECK_EQ_INT(store_disk_bytes(d), store_bytes(ref));
    CHECK_EQ_INT(store_disk_each(d, check_in_ref, ref), 0);
}

static void put_str(store_disk_t *d, const char *k, const char *v)
{
    CHECK_OK(store_disk_put(d, k, strlen(k), v, strlen(v)));
}

static bool has_value(store_disk_t *d, const char *k, const char *v)
{
    size_t vl;
    const void *p = store_disk_get(d, k, strlen(k), &vl);
    return p && vl == strlen(v) && memcmp(p, v, vl) == 0;
}

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, buf, len) == (ssize_t)len);
    close(fd);
}

static bool file_exists(const char *dir, const char *name)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* A committed store with 100 keys at changelog offset 77, closed. */
static void make_store(const char *dir)
{
    store_disk_t *d;
    const char *files[] = {"data.mdb", "lock.mdb", "kappa-store"};
    for (int i = 0; i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    CHECK_OK(store_disk_open(dir, &d));
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        put_str(d, k, "value");
    }
    CHECK_OK(store_disk_commit(d, 77));
    store_disk_close(d);
}

static void check_wiped(const char *dir)
{
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 0);
    CHECK_EQ_INT(store_disk_count(d), 0);
    CHECK_EQ_INT(store_disk_bytes(d), 0);
    CHECK(!has_value(d, "key1", "value"));
    /* Usable afterwards. */
    put_str(d, "a", "1");
    CHECK_OK(store_disk_commit(d, 3));
    store_disk_close(d);
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 3);
    CHECK(has_value(d, "a", "1"));
    store_disk_close(d);
}

/* ---- tests ------------------------------------------------------------------- */

/*
 * 100K random operations on both stores over 3000 keys (0-40 bytes, the
 * empty key included), values 0-300 bytes.  Every get agrees; every
 * take_dirty yields the same records in the same order; commits and
 * reopens happen along the way.
 */
TEST(random_ops_match_reference)
{
    const char *dir = test_tmpdir("sdrand");
    uint64_t rng = test_seed();
    store_disk_t *d;
    store_t *ref;
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_OK(store_new(&ref));
    uint8_t key[64], val[400];
    recs_t a = {0}, b = {0};
    int64_t offset = 0;
    for (int op = 0; op < 100000; op++) {
        uint64_t r = test_rand(&rng);
        uint64_t kn = (r >> 8) % 3000;
        size_t klen = kn == 0 ? 0 : 1 + kn % 40;
        for (size_t i = 0; i < klen; i++)
            key[i] = (uint8_t)(kn * 31 + i);
        size_t vlen = (size_t)((r >> 24) % 301);
        for (size_t i = 0; i < vlen; i++)
            val[i] = (uint8_t)(r + i);
        size_t dl = 0, rl = 0;
        const void *dv, *rv;
        switch (r % 100) {
        case 0 ... 29:
            dv = store_disk_get(d, key, klen, &dl);
            rv = store_get(ref, key, klen, &rl);
            CHECK((dv == NULL) == (rv == NULL));
            if (rv)
                CHECK(dl == rl && memcmp(dv, rv, rl) == 0);
            break;
        case 30 ... 59:
            CHECK_OK(store_disk_put(d, key, klen, val, vlen));
            CHECK_OK(store_put(ref, key, klen, val, vlen));
            break;
        case 60 ... 74:
            CHECK_OK(store_disk_delete(d, key, klen));
            CHECK_OK(store_delete(ref, key, klen));
            break;
        case 75 ... 89: {
            bool del = (r >> 40) % 3 == 0;
            CHECK_OK(store_disk_apply(d, key, klen, del ? NULL : val, vlen));
            CHECK_OK(store_apply(ref, key, klen, del ? NULL : val, vlen));
            break;
        }
        case 90 ... 97:
            CHECK_EQ_INT(store_disk_has_dirty(d), store_has_dirty(ref));
            break;
        case 98:
            a.n = b.n = 0;
            CHECK_OK(store_disk_take_dirty(d, collect, &a));
            CHECK_OK(store_take_dirty(ref, collect, &b));
            drop_repeats(&b);
            CHECK_EQ_INT(a.n, b.n);
            for (size_t i = 0; i < a.n; i++) {
                CHECK(a.r[i].klen == b.r[i].klen &&
                      memcmp(a.r[i].key, b.r[i].key, a.r[i].klen) == 0);
                CHECK_EQ_INT(a.r[i].del, b.r[i].del);
                CHECK(a.r[i].vlen == b.r[i].vlen &&
                      memcmp(a.r[i].val, b.r[i].val, a.r[i].vlen) == 0);
            }
            CHECK(!store_disk_has_dirty(d));
            break;
        case 99:
            /* Commit what was taken; sometimes reopen. */
            a.n = b.n = 0;
            CHECK_OK(store_disk_take_dirty(d, collect, &a));
            CHECK_OK(store_take_dirty(ref, collect, &b));
            drop_repeats(&b);
            CHECK_EQ_INT(a.n, b.n);
            CHECK_OK(store_disk_commit(d, ++offset));
            if ((r >> 50) % 4 == 0) {
                store_disk_close(d);
                CHECK_OK(store_disk_open(dir, &d));
                CHECK_EQ_INT(store_disk_changelog_next(d), offset);
                CHECK(!store_disk_has_dirty(d));
            }
            break;
        }
        CHECK_EQ_INT(store_disk_count(d), store_count(ref));
        CHECK_EQ_INT(store_disk_bytes(d), store_bytes(ref));
        if (op % 10000 == 0)
            check_same(d, ref);
    }
    check_same(d, ref);
    CHECK(offset > 500);
    store_disk_close(d);
    store_free(ref);
    free(a.r);
    free(b.r);
    test_rmtree(dir);
}

TEST(dirty_first_change_order_with_deletions)
{
    const char *dir = test_tmpdir("sddirty");
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    put_str(d, "x", "keep");
    CHECK(store_disk_has_dirty(d));
    CHECK_OK(store_disk_commit(d, 1));
    CHECK(store_disk_has_dirty(d));         /* a commit does not take them */
    recs_t rs = {0};
    CHECK_OK(store_disk_take_dirty(d, collect, &rs));
    CHECK_EQ_INT(rs.n, 1);
    CHECK(!store_disk_has_dirty(d));
    rs.n = 0;
    put_str(d, "b", "1");
    put_str(d, "a", "1");
    put_str(d, "b", "2");
    CHECK_OK(store_disk_delete(d, "c", 1));         /* absent: not a change */
    put_str(d, "c", "3");
    CHECK_OK(store_disk_delete(d, "a", 1));
    CHECK_OK(store_disk_apply(d, "x", 1, "restored", 8));   /* not dirty */
    CHECK_OK(store_disk_delete(d, "x", 1));
    CHECK(store_disk_has_dirty(d));
    CHECK_OK(store_disk_take_dirty(d, collect, &rs));
    CHECK_EQ_INT(rs.n, 4);
    CHECK(rs.r[0].klen == 1 && rs.r[0].key[0] == 'b' && !rs.r[0].del && rs.r[0].vlen == 1 &&
          rs.r[0].val[0] == '2');
    CHECK(rs.r[1].key[0] == 'a' && rs.r[1].del);
    CHECK(rs.r[2].key[0] == 'c' && !rs.r[2].del && rs.r[2].val[0] == '3');
    CHECK(rs.r[3].key[0] == 'x' && rs.r[3].del);
    CHECK(!store_disk_has_dirty(d));
    rs.n = 0;
    CHECK_OK(store_disk_take_dirty(d, collect, &rs));
    CHECK_EQ_INT(rs.n, 0);
    CHECK_EQ_INT(store_disk_count(d), 2);
    CHECK_EQ_INT(store_disk_bytes(d), 4);           /* b=2, c=3 */
    free(rs.r);
    store_disk_close(d);
    test_rmtree(dir);
}

TEST(reopen_keeps_committed_data_and_offset)
{
    const char *dir = test_tmpdir("sdreopen");
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    store_disk_set_commit_ms(d, 0);
    CHECK_EQ_INT(store_disk_changelog_next(d), 0);
    for (int i = 0; i < 5000; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i * 7);
        put_str(d, k, v);
    }
    CHECK_OK(store_disk_delete(d, "k42", 3));
    size_t bytes = store_disk_bytes(d);
    CHECK_OK(store_disk_commit(d, 123456789012345LL));
    /* Not committed: dropped by close. */
    put_str(d, "k1", "changed");
    put_str(d, "extra", "x");
    store_disk_close(d);

    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 123456789012345LL);
    CHECK_EQ_INT(store_disk_count(d), 4999);
    CHECK_EQ_INT(store_disk_bytes(d), bytes);
    CHECK(has_value(d, "k1", "v7"));
    CHECK(has_value(d, "k4999", "v34993"));
    size_t vl;
    CHECK(store_disk_get(d, "k42", 3, &vl) == NULL);
    CHECK(store_disk_get(d, "extra", 5, &vl) == NULL);
    CHECK(!store_disk_has_dirty(d));
    /* A second open of an open store is refused. */
    store_disk_t *d2 = NULL;
    CHECK_EQ_INT(store_disk_open(dir, &d2), KP_ELOCKED);
    store_disk_close(d);
    test_rmtree(dir);
}

TEST(rollback_and_clear)
{
    const char *dir = test_tmpdir("sdroll");
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    store_disk_set_commit_ms(d, 0);
    put_str(d, "a", "1");
    CHECK_OK(store_disk_commit(d, 10));
    put_str(d, "a", "22");
    put_str(d, "b", "2");
    store_disk_rollback(d);
    CHECK(has_value(d, "a", "1"));
    CHECK_EQ_INT(store_disk_count(d), 1);
    CHECK_EQ_INT(store_disk_bytes(d), 2);
    CHECK(!store_disk_has_dirty(d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 10);
    /* Keys: the empty key works, the limit is enforced. */
    CHECK_OK(store_disk_put(d, "", 0, "empty", 5));
    uint8_t big[STORE_DISK_KEY_MAX + 1];
    memset(big, 'z', sizeof big);
    CHECK_OK(store_disk_put(d, big, STORE_DISK_KEY_MAX, "max", 3));
    CHECK_EQ_INT(store_disk_put(d, big, STORE_DISK_KEY_MAX + 1, "x", 1), KP_ETOOLARGE);
    size_t vl;
    CHECK(store_disk_get(d, "", 0, &vl) != NULL && vl == 5);
    CHECK(store_disk_get(d, big, STORE_DISK_KEY_MAX, &vl) != NULL && vl == 3);
    CHECK_EQ_INT(store_disk_count(d), 3);
    /* Clear: empty now, offset 0 once committed. */
    CHECK_OK(store_disk_clear(d));
    CHECK_EQ_INT(store_disk_count(d), 0);
    CHECK(!store_disk_has_dirty(d));
    CHECK_OK(store_disk_commit(d, 0));
    store_disk_close(d);
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 0);
    CHECK_EQ_INT(store_disk_count(d), 0);
    store_disk_close(d);
    test_rmtree(dir);
}

/* A long restore commits by itself, keeping the recorded offset, but never
 * while the transaction holds processing changes. */
TEST(restore_commits_keep_offset)
{
    const char *dir = test_tmpdir("sdrestore");
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    store_disk_set_commit_ms(d, 0);
    put_str(d, "a", "1");
    CHECK_OK(store_disk_commit(d, 5));
    for (int i = 0; i < 70000; i++) {
        char k[16];
        snprintf(k, sizeof k, "r%d", i);
        CHECK_OK(store_disk_apply(d, k, strlen(k), "v", 1));
    }
    store_disk_close(d);        /* a crash before the runner's commit */
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 5);
    CHECK_EQ_INT(store_disk_count(d), 1 + 65536);
    /* With a processing change in the transaction: no automatic commit. */
    put_str(d, "p", "1");
    for (int i = 0; i < 70000; i++) {
        char k[16];
        snprintf(k, sizeof k, "s%d", i);
        CHECK_OK(store_disk_apply(d, k, strlen(k), "v", 1));
    }
    store_disk_close(d);
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_count(d), 1 + 65536);
    CHECK(!has_value(d, "p", "1"));
    store_disk_close(d);
    test_rmtree(dir);
}

/*
 * A child commits rounds as fast as it can: round r sets all 2000 keys to
 * r and records changelog offset r.  The parent kills it with SIGKILL at a
 * random moment (mostly mid-commit, where it spends its time), then the
 * store must open with its offset and every value from the same round.
 * Also: a copy of the files taken while a write transaction is open.
 */
static void child_rounds(const char *dir)
{
    store_disk_t *d;
    if (store_disk_open(dir, &d) != 0)
        _exit(3);
    store_disk_set_commit_ms(d, 0);     /* an LMDB commit per round */
    for (int64_t r = store_disk_changelog_next(d) + 1;; r++) {
        char v[64];
        snprintf(v, sizeof v, "%lld-padding-to-make-pages", (long long)r);
        for (int i = 0; i < 2000; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", (i * 7919) % 2000);
            if (store_disk_put(d, k, strlen(k), v, strlen(v)) != 0)
                _exit(4);
        }
        if (store_disk_commit(d, r) != 0)
            _exit(5);
    }
}

static int check_round_visit(void *ctx, const void *key, size_t klen, const void *val,
                             size_t vlen)
{
    (void)key, (void)klen;
    char v[64];
    snprintf(v, sizeof v, "%lld-padding-to-make-pages", *(long long *)ctx);
    return vlen != strlen(v) || memcmp(val, v, vlen) != 0;
}

static void check_consistent(const char *dir, int64_t min_offset)
{
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    long long r = store_disk_changelog_next(d);
    CHECK(r >= min_offset);
    if (r > 0) {
        CHECK_EQ_INT(store_disk_count(d), 2000);
        CHECK_EQ_INT(store_disk_each(d, check_round_visit, &r), 0);
    } else {
        CHECK_EQ_INT(store_disk_count(d), 0);
    }
    store_disk_close(d);
}

TEST(killed_mid_commit_opens_consistent)
{
    const char *dir = test_tmpdir("sdkill");
    uint64_t rng = test_seed();
    int64_t seen = 0;
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            child_rounds(dir);
        struct timespec ts = {0, (long)(20 + test_rand(&rng) % 200) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st));         /* not an early exit with an error */
        check_consistent(dir, seen);
        store_disk_t *d;
        CHECK_OK(store_disk_open(dir, &d));
        seen = store_disk_changelog_next(d);
        store_disk_close(d);
    }
    CHECK(seen > 0);

    /* A copy of the files while a transaction is open has the last commit. */
    const char *copy = test_tmpdir("sdcopy");
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    put_str(d, "k1", "uncommitted");
    put_str(d, "new", "uncommitted");
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp %s/data.mdb %s/kappa-store %s/", dir, dir, copy);
    CHECK_EQ_INT(system(cmd), 0);
    store_disk_close(d);
    check_consistent(copy, seen);
    test_rmtree(copy);
    test_rmtree(dir);
}

TEST(untrusted_store_is_wiped)
{
    const char *dir = test_tmpdir("sdwipe");
    char text[128];

    /* Left open by another boot. */
    make_store(dir);
    snprintf(text, sizeof text, "open 00000000-0000-0000-0000-000000000000\n");
    write_file(dir, "kappa-store", text, strlen(text));
    check_wiped(dir);

    /* Left open by this boot (a killed process): trusted. */
    make_store(dir);
    char boot[64] = "unknown";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (fgets(boot, sizeof boot, f))
            boot[strcspn(boot, "\n")] = 0;
        fclose(f);
    }
    snprintf(text, sizeof text, "open %s\n", boot);
    write_file(dir, "kappa-store", text, strlen(text));
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 77);
    CHECK_EQ_INT(store_disk_count(d), 100);
    store_disk_close(d);

    /* No marker next to the data. */
    make_store(dir);
    char p[4200];
    snprintf(p, sizeof p, "%s/kappa-store", dir);
    CHECK_EQ_INT(unlink(p), 0);
    check_wiped(dir);

    /* No meta record, then a damaged one (written behind kappa's back). */
    for (int damage = 0; damage < 2; damage++) {
        make_store(dir);
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi meta;
        MDB_val k = {5, "state"}, v = {36, "KPSTORE1 but not a valid record...."};
        CHECK_EQ_INT(mdb_env_create(&env), 0);
        mdb_env_set_maxdbs(env, 2);
        CHECK_EQ_INT(mdb_env_open(env, dir, 0, 0644), 0);
        CHECK_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
        CHECK_EQ_INT(mdb_dbi_open(txn, "meta", 0, &meta), 0);
        if (damage)
            CHECK_EQ_INT(mdb_put(txn, meta, &k, &v, 0), 0);
        else
            CHECK_EQ_INT(mdb_del(txn, meta, &k, NULL), 0);
        CHECK_EQ_INT(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        check_wiped(dir);
    }

    /* A data file LMDB cannot read at all. */
    make_store(dir);
    char junk[8192];
    memset(junk, 0x5a, sizeof junk);
    write_file(dir, "data.mdb", junk, sizeof junk);
    check_wiped(dir);
    CHECK(file_exists(dir, "data.mdb"));
    test_rmtree(dir);
}

/* Commits within commit_ms are deferred: a close keeps exactly what the
 * last store_disk_commit covered, a killed process loses them all. */
TEST(deferred_commits)
{
    const char *dir = test_tmpdir("sddefer");
    store_disk_t *d;
    CHECK_OK(store_disk_open(dir, &d));
    store_disk_set_commit_ms(d, 60000);
    put_str(d, "a", "1");
    CHECK_OK(store_disk_commit(d, 5));
    CHECK_EQ_INT(store_disk_changelog_next(d), 0);      /* not in LMDB yet */
    put_str(d, "b", "2");                               /* not covered */
    store_disk_close(d);
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 0);
    CHECK_EQ_INT(store_disk_count(d), 0);
    store_disk_set_commit_ms(d, 60000);
    put_str(d, "a", "1");
    CHECK_OK(store_disk_commit(d, 5));
    put_str(d, "b", "2");
    CHECK_OK(store_disk_commit(d, 6));
    store_disk_close(d);
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 6);
    CHECK(has_value(d, "a", "1") && has_value(d, "b", "2"));
    store_disk_close(d);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (store_disk_open(dir, &d) != 0)
            _exit(3);
        store_disk_set_commit_ms(d, 60000);
        store_disk_put(d, "x", 1, "1", 1);
        _exit(store_disk_commit(d, 9) == 0 ? 0 : 4);    /* then dies */
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_OK(store_disk_open(dir, &d));
    CHECK_EQ_INT(store_disk_changelog_next(d), 6);
    CHECK(!has_value(d, "x", "1"));
    CHECK_EQ_INT(store_disk_count(d), 2);
    store_disk_close(d);
    test_rmtree(dir);
}

int main(void)
{
    RUN(random_ops_match_reference);
    RUN(dirty_first_change_order_with_deletions);
    RUN(reopen_keeps_committed_data_and_offset);
    RUN(rollback_and_clear);
    RUN(restore_commits_keep_offset);
    RUN(deferred_commits);
    RUN(killed_mid_commit_opens_consistent);
    RUN(untrusted_store_is_wiped);
    return test_summary();
}

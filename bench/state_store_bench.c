/*
 * state_store_bench.c -- a stream task's state access pattern against three
 * stores: kappa's in-memory hash table (stream/store.h), LMDB and RocksDB's
 * C API.  It decides which engine backs the on-disk store (store_disk.h).
 *
 * Each configuration runs in its own forked child, so RSS figures are that
 * store's alone, and goes through four phases:
 *
 *  (1) Restore: a bulk load of N entries in changelog (random) order, as a
 *      task rebuilding its state would apply them: store_apply for memory;
 *      one LMDB write transaction per 100K entries, synced at the end;
 *      RocksDB WriteBatches of 100K without WAL, flushed at the end.
 *  (2) Processing: E events, each a read-modify-write of a uniformly random
 *      key (get, bump a counter in the value, put), with a commit every
 *      100 ms worth of events.  A commit reads back every key changed since
 *      the last one (what the changelog gets, in first-change order) and
 *      makes the batch durable per the sync mode: LMDB mdb_txn_commit with
 *      MDB_NOSYNC (no fsync), MDB_NOMETASYNC (fdatasync of the data pages)
 *      or neither (two syncs); RocksDB WriteBatchWithIndex written with
 *      sync false or true.  The disk stores read their own uncommitted
 *      writes (LMDB's write transaction, RocksDB's batch index), as a task
 *      must.  The latency of each get+put is recorded, commits apart.
 *  (3) Full iteration (what a snapshot or a rebuild walks).
 *  (4) Sizes: bytes on disk (st_blocks of the store's files; for memory,
 *      the snapshot file) and the child's RSS (peak, anonymous, file).
 *
 * "--limit" runs impose a memory limit without a cgroup (the session's
 * memory cgroup is not ours to change): RocksDB gets a 32 MiB block cache
 * and direct I/O (O_DIRECT reads, flushes and compactions), so the block
 * cache is its only cache; LMDB cannot bound its cache (the page cache is
 * its cache), so every commit drops its pages from this process's map
 * (MADV_DONTNEED) and from the page cache (POSIX_FADV_DONTNEED): each
 * 100 ms interval starts cold, a harsher bound than 32 MiB.
 *
 * Keys are 8-20 bytes (a bijective mix of the key number, then filler),
 * values 16-200 bytes, both sizes fixed per key by a hash.  Lines starting
 * with "RESULT " are for scripts.  RocksDB is optional: without its header
 * the bench builds and runs without those configurations.
 */
#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "stream/store.h"
#include "stream/store_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<rocksdb/c.h>)
#include <rocksdb/c.h>
#define HAVE_ROCKSDB 1
#endif
#endif
#ifndef HAVE_ROCKSDB
#define HAVE_ROCKSDB 0
#endif

enum kind { K_MEM, K_LMDB, K_ROCKS, K_DISK };
enum sync_mode { S_NONE, S_DATA, S_FULL };

typedef struct config {
    enum kind kind;
    enum sync_mode sync;
    uint64_t nkeys;
    uint64_t nevents;
    bool limit;
} config_t;

static const char *kind_name[] = {"memory", "lmdb", "rocksdb", "store_disk"};
static const char *sync_name[] = {"nosync", "datasync", "sync"};
static char base_dir[4096] = "build/bench/state";
static double max_seconds = 30;

/* ---- keys, values, randomness ------------------------------------------- */

static uint64_t mix64(uint64_t x)        /* splitmix64's finalizer: a bijection */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static size_t make_key(uint64_t i, uint8_t *k)
{
    uint64_t h = mix64(i);
    size_t len = 8 + (size_t)(mix64(i ^ 0x5555) % 13);
    for (int b = 0; b < 8; b++)
        k[b] = (uint8_t)(h >> (56 - 8 * b));
    for (size_t b = 8; b < len; b++)
        k[b] = (uint8_t)('a' + (h >> b) % 26);
    return len;
}

static size_t make_value(uint64_t i, uint8_t *v)
{
    size_t len = 16 + (size_t)(mix64(i ^ 0xaaaa) % 185);
    memset(v, 0, 8);
    for (size_t b = 8; b < len; b++)
        v[b] = (uint8_t)(i + b);
    return len;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ---- latency histogram: log2 buckets with 16 linear sub-buckets --------- */

typedef struct hist {
    uint64_t n[64 * 16];
    uint64_t count, max;
} hist_t;

static void hist_add(hist_t *h, uint64_t ns)
{
    int e = ns < 16 ? 0 : 63 - __builtin_clzll(ns) - 3;
    uint64_t sub = e == 0 ? ns : (ns >> e) - 16;
    size_t idx = e == 0 ? (size_t)sub : (size_t)(e * 16 + (int)sub);
    if (idx >= sizeof h->n / sizeof h->n[0])
        idx = sizeof h->n / sizeof h->n[0] - 1;
    h->n[idx]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

static uint64_t hist_pct(const hist_t *h, double p)
{
    uint64_t want = (uint64_t)((double)h->count * p / 100.0), seen = 0;
    for (size_t i = 0; i < sizeof h->n / sizeof h->n[0]; i++) {
        seen += h->n[i];
        if (seen > want && h->n[i]) {
            size_t e = i / 16, sub = i % 16;
            return e == 0 ? sub : ((16 + sub + 1) << e) - 1;     /* bucket top */
        }
    }
    return h->max;
}

/* ---- process and directory figures --------------------------------------- */

static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static uint64_t dir_bytes(const char *dir)
{
    uint64_t sum = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[8192];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_blocks * 512;
    }
    if (d)
        closedir(d);
    return sum;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.')
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "state_store_bench: %s: %s\n", what, why);
    exit(1);
}

/* ---- the backends -------------------------------------------------------- */

typedef struct bench {
    config_t cfg;
    char dir[4200];
    store_t *mem;
    store_t *dirty;             /* dirty keys of the disk engines, in order */
    uint8_t sink[256];          /* changelog records are "sent" here */
    uint64_t sent;
    /* LMDB */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int data_fd;
    /* store_disk */
    store_disk_t *disk;
#if HAVE_ROCKSDB
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts, *wopts_load;
    rocksdb_writebatch_wi_t *wb;
#endif
} bench_t;

static void lmdb_check(int rc, const char *what)
{
    if (rc)
        die(what, mdb_strerror(rc));
}

static void lmdb_begin(bench_t *b)
{
    if (!b->txn)
        lmdb_check(mdb_txn_begin(b->env, NULL, 0, &b->txn), "mdb_txn_begin");
}

static void b_open(bench_t *b)
{
    rm_dir(b->dir);
    if (mkdir(b->dir, 0755) != 0)
        die(b->dir, strerror(errno));
    switch (b->cfg.kind) {
    case K_MEM:
        if (store_new(&b->mem))
            die("store_new", "no memory");
        break;
    case K_DISK: {
        int rc = store_disk_open(b->dir, &b->disk);
        if (rc)
            die("store_disk_open", kp_strerror(rc));
        break;
    }
    case K_LMDB: {
        unsigned flags = MDB_NORDAHEAD | (b->cfg.sync == S_NONE ? MDB_NOSYNC
                                          : b->cfg.sync == S_DATA ? MDB_NOMETASYNC : 0);
        lmdb_check(mdb_env_create(&b->env), "mdb_env_create");
        lmdb_check(mdb_env_set_mapsize(b->env, (size_t)64 << 30), "mapsize");
        lmdb_check(mdb_env_open(b->env, b->dir, flags, 0644), "mdb_env_open");
        lmdb_begin(b);
        lmdb_check(mdb_dbi_open(b->txn, NULL, 0, &b->dbi), "mdb_dbi_open");
        char p[4300];
        snprintf(p, sizeof p, "%s/data.mdb", b->dir);
        b->data_fd = open(p, O_RDONLY | O_CLOEXEC);
        break;
    }
    case K_ROCKS:
#if HAVE_ROCKSDB
    {
        char *err = NULL;
        b->opts = rocksdb_options_create();
        rocksdb_options_set_create_if_missing(b->opts, 1);
        rocksdb_options_set_compression(b->opts, rocksdb_lz4_compression);
        rocksdb_options_set_max_background_jobs(b->opts, 2);
        b->topts = rocksdb_block_based_options_create();
        b->cache = rocksdb_cache_create_lru(b->cfg.limit ? (size_t)32 << 20 : (size_t)1 << 30);
        rocksdb_block_based_options_set_block_cache(b->topts, b->cache);
        rocksdb_block_based_options_set_filter_policy(b->topts,
                                                      rocksdb_filterpolicy_create_bloom(10));
        rocksdb_options_set_block_based_table_factory(b->opts, b->topts);
        if (b->cfg.limit) {
            rocksdb_options_set_use_direct_reads(b->opts, 1);
            rocksdb_options_set_use_direct_io_for_flush_and_compaction(b->opts, 1);
        }
        b->db = rocksdb_open(b->opts, b->dir, &err);
        if (err)
            die("rocksdb_open", err);
        b->ropts = rocksdb_readoptions_create();
        b->wopts = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(b->wopts, b->cfg.sync != S_NONE);
        b->wopts_load = rocksdb_writeoptions_create();
        rocksdb_writeoptions_disable_WAL(b->wopts_load, 1);
        b->wb = rocksdb_writebatch_wi_create(0, 1);
        break;
    }
#else
        die("rocksdb", "built without rocksdb/c.h");
#endif
    }
    if (b->cfg.kind == K_LMDB || b->cfg.kind == K_ROCKS)
        if (store_new(&b->dirty))
            die("store_new", "no memory");
}

static void b_close(bench_t *b)
{
    store_free(b->mem);
    store_free(b->dirty);
    if (b->disk)
        store_disk_close(b->disk);
    if (b->env) {
        if (b->txn)
            mdb_txn_abort(b->txn);
        close(b->data_fd);
        mdb_env_close(b->env);
    }
#if HAVE_ROCKSDB
    if (b->db) {
        rocksdb_writebatch_wi_destroy(b->wb);
        rocksdb_writeoptions_destroy(b->wopts);
        rocksdb_writeoptions_destroy(b->wopts_load);
        rocksdb_readoptions_destroy(b->ropts);
        rocksdb_close(b->db);
        rocksdb_block_based_options_destroy(b->topts);
        rocksdb_cache_destroy(b->cache);
        rocksdb_options_destroy(b->opts);
    }
#endif
    rm_dir(b->dir);
}

/* Phase (1): apply n entries in a random order; `last` ends the load. */
static void b_load(bench_t *b, uint64_t i, bool last)
{
    uint8_t k[32], v[256];
    size_t kl = make_key(i, k), vl = make_value(i, v);
    switch (b->cfg.kind) {
    case K_MEM:
        if (store_apply(b->mem, k, kl, v, vl))
            die("store_apply", "failed");
        break;
    case K_DISK: {
        int rc = store_disk_apply(b->disk, k, kl, v, vl);
        if (rc == 0 && last)
            rc = store_disk_commit(b->disk, 0);
        if (rc)
            die("store_disk_apply", kp_strerror(rc));
        break;
    }
    case K_LMDB: {
        lmdb_begin(b);
        MDB_val mk = {kl, k}, mv = {vl, v};
        lmdb_check(mdb_put(b->txn, b->dbi, &mk, &mv, 0), "mdb_put");
        static uint64_t n;
        if (++n % 100000 == 0 || last) {
            lmdb_check(mdb_txn_commit(b->txn), "mdb_txn_commit");
            b->txn = NULL;
        }
        if (last)
            lmdb_check(mdb_env_sync(b->env, 1), "mdb_env_sync");
        break;
    }
    case K_ROCKS:
#if HAVE_ROCKSDB
    {
        static rocksdb_writebatch_t *wb;
        static uint64_t n;
        char *err = NULL;
        if (!wb)
            wb = rocksdb_writebatch_create();
        rocksdb_writebatch_put(wb, (const char *)k, kl, (const char *)v, vl);
        if (++n % 100000 == 0 || last) {
            rocksdb_write(b->db, b->wopts_load, wb, &err);
            if (err)
                die("rocksdb_write", err);
            rocksdb_writebatch_clear(wb);
        }
        if (last) {
            rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
            rocksdb_flushoptions_set_wait(fo, 1);
            rocksdb_flush(b->db, fo, &err);
            rocksdb_flushoptions_destroy(fo);
            if (err)
                die("rocksdb_flush", err);
        }
    }
#endif
    break;
    }
}

/* Phase (2): one event's get + put. */
static void b_rmw(bench_t *b, uint64_t i)
{
    uint8_t k[32], v[256];
    size_t kl = make_key(i, k), vl = 0;
    uint64_t ctr;
    switch (b->cfg.kind) {
    case K_MEM: {
        const void *p = store_get(b->mem, k, kl, &vl);
        if (!p)
            die("store_get", "key missing");
        memcpy(v, p, vl);
        memcpy(&ctr, v, 8), ctr++, memcpy(v, &ctr, 8);
        if (store_put(b->mem, k, kl, v, vl))
            die("store_put", "failed");
        break;
    }
    case K_DISK: {
        const void *p = store_disk_get(b->disk, k, kl, &vl);
        if (!p)
            die("store_disk_get", "key missing");
        memcpy(v, p, vl);
        memcpy(&ctr, v, 8), ctr++, memcpy(v, &ctr, 8);
        int rc = store_disk_put(b->disk, k, kl, v, vl);
        if (rc)
            die("store_disk_put", kp_strerror(rc));
        break;
    }
    case K_LMDB: {
        lmdb_begin(b);
        MDB_val mk = {kl, k}, mv;
        lmdb_check(mdb_get(b->txn, b->dbi, &mk, &mv), "mdb_get");
        vl = mv.mv_size;
        memcpy(v, mv.mv_data, vl);
        memcpy(&ctr, v, 8), ctr++, memcpy(v, &ctr, 8);
        mv = (MDB_val){vl, v};
        lmdb_check(mdb_put(b->txn, b->dbi, &mk, &mv, 0), "mdb_put");
        if (store_put(b->dirty, k, kl, "", 0))
            die("dirty", "no memory");
        break;
    }
    case K_ROCKS:
#if HAVE_ROCKSDB
    {
        char *err = NULL;
        char *p = rocksdb_writebatch_wi_get_from_batch_and_db(b->wb, b->db, b->ropts,
                                                              (const char *)k, kl, &vl, &err);
        if (err || !p)
            die("rocksdb get", err ? err : "key missing");
        memcpy(v, p, vl);
        rocksdb_free(p);
        memcpy(&ctr, v, 8), ctr++, memcpy(v, &ctr, 8);
        rocksdb_writebatch_wi_put(b->wb, (const char *)k, kl, (const char *)v, vl);
        /* The dirty set keeps the value: reading it back from the batch
         * (rocksdb_writebatch_wi_get_from_batch) copies the options per call. */
        if (store_put(b->dirty, k, kl, v, vl))
            die("dirty", "no memory");
    }
#endif
    break;
    }
}

static int sink_record(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    bench_t *b = ctx;
    (void)key;
    memcpy(b->sink, val, vlen < sizeof b->sink ? vlen : sizeof b->sink);
    b->sent += klen + vlen;
    return 0;
}

static int lmdb_dirty_record(void *ctx, const void *key, size_t klen, const void *val,
                             size_t vlen)
{
    bench_t *b = ctx;
    (void)val, (void)vlen;
    MDB_val mk = {klen, (void *)key}, mv;
    lmdb_check(mdb_get(b->txn, b->dbi, &mk, &mv), "mdb_get (commit)");
    return sink_record(b, key, klen, mv.mv_data, mv.mv_size);
}


/* Limited-memory LMDB: start the next interval with none of its pages. */
static void lmdb_evict(bench_t *b)
{
    MDB_envinfo info;
    struct stat st;
    mdb_env_info(b->env, &info);
    if (fstat(b->data_fd, &st) == 0 && st.st_size > 0)
        madvise(info.me_mapaddr, (size_t)st.st_size, MADV_DONTNEED);
    posix_fadvise(b->data_fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* A commit: the changelog records, then the store's own commit. */
static void b_commit(bench_t *b, int64_t offset)
{
    switch (b->cfg.kind) {
    case K_MEM:
        store_take_dirty(b->mem, sink_record, b);
        break;
    case K_DISK: {
        store_disk_take_dirty(b->disk, sink_record, b);
        int rc = store_disk_commit(b->disk, offset);
        if (rc)
            die("store_disk_commit", kp_strerror(rc));
        break;
    }
    case K_LMDB:
        lmdb_begin(b);
        store_take_dirty(b->dirty, lmdb_dirty_record, b);
        store_clear(b->dirty);
        lmdb_check(mdb_txn_commit(b->txn), "mdb_txn_commit");
        b->txn = NULL;
        if (b->cfg.limit)
            lmdb_evict(b);
        break;
    case K_ROCKS:
#if HAVE_ROCKSDB
    {
        char *err = NULL;
        store_take_dirty(b->dirty, sink_record, b);
        store_clear(b->dirty);
        rocksdb_write_writebatch_wi(b->db, b->wopts, b->wb, &err);
        if (err)
            die("rocksdb_write_writebatch_wi", err);
        rocksdb_writebatch_wi_clear(b->wb);
    }
#endif
    break;
    }
}

static int count_visit(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t *n = ctx;
    (void)key, (void)val;
    n[0]++;
    n[1] += klen + vlen;
    return 0;
}

/* Phase (3): walk every entry; returns how many. */
static uint64_t b_iterate(bench_t *b)
{
    uint64_t n[2] = {0, 0};
    switch (b->cfg.kind) {
    case K_MEM:
        store_each(b->mem, count_visit, n);
        break;
    case K_DISK:
        store_disk_each(b->disk, count_visit, n);
        break;
    case K_LMDB: {
        MDB_txn *rt;
        MDB_cursor *c;
        MDB_val k, v;
        lmdb_check(mdb_txn_begin(b->env, NULL, MDB_RDONLY, &rt), "mdb_txn_begin");
        lmdb_check(mdb_cursor_open(rt, b->dbi, &c), "mdb_cursor_open");
        for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
            count_visit(n, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        mdb_cursor_close(c);
        mdb_txn_abort(rt);
        break;
    }
    case K_ROCKS:
#if HAVE_ROCKSDB
    {
        rocksdb_iterator_t *it = rocksdb_create_iterator(b->db, b->ropts);
        for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t kl, vl;
            const char *k = rocksdb_iter_key(it, &kl), *v = rocksdb_iter_value(it, &vl);
            count_visit(n, k, kl, v, vl);
        }
        rocksdb_iter_destroy(it);
    }
#endif
    break;
    }
    return n[0];
}

/* ---- one configuration, in a child process ------------------------------- */

static void run_child(const config_t *cfg)
{
    bench_t *b = calloc(1, sizeof *b);
    if (!b)
        die("calloc", "no memory");
    b->cfg = *cfg;
    snprintf(b->dir, sizeof b->dir, "%s/%s-%s-%" PRIu64 "%s", base_dir, kind_name[cfg->kind],
             sync_name[cfg->sync], cfg->nkeys, cfg->limit ? "-limit" : "");
    b_open(b);

    /* (1) restore: i * p mod N visits 0..N-1 once for p prime to N. */
    uint64_t n = cfg->nkeys, p = 2654435761ull % n;
    while (p < 2 || n % p == 0 || (p % 2 == 0 && n % 2 == 0))
        p++;
    int64_t t0 = kp_mono_ns();
    for (uint64_t j = 0; j < n; j++)
        b_load(b, (j * p) % n, j + 1 == n);
    int64_t load_ns = kp_mono_ns() - t0;
    if (cfg->kind == K_LMDB && cfg->limit)
        lmdb_evict(b);

    /* (2) processing. */
    hist_t *ev = calloc(1, sizeof *ev), *cm = calloc(1, sizeof *cm);
    if (!ev || !cm)
        die("calloc", "no memory");
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ n, events = 0;
    int64_t start = kp_mono_ns(), last_commit = start, deadline = start +
                                                                 (int64_t)(max_seconds * 1e9);
    int64_t commit_ns = 0;
    for (events = 0; events < cfg->nevents; events++) {
        int64_t a = kp_mono_ns();
        b_rmw(b, rng_next(&rng) % n);
        int64_t z = kp_mono_ns();
        hist_add(ev, (uint64_t)(z - a));
        if (z - last_commit >= 100000000) {
            b_commit(b, (int64_t)events);
            int64_t c = kp_mono_ns();
            hist_add(cm, (uint64_t)(c - z));
            commit_ns += c - z;
            last_commit = c;
            if (c > deadline) {
                events++;
                break;
            }
        }
    }
    b_commit(b, (int64_t)events);
    int64_t run_ns = kp_mono_ns() - start;

    /* (3) full iteration (limited-memory LMDB starts it cold, too). */
    if (cfg->kind == K_LMDB && cfg->limit)
        lmdb_evict(b);
    t0 = kp_mono_ns();
    uint64_t seen = b_iterate(b);
    int64_t iter_ns = kp_mono_ns() - t0;
    if (seen != n)
        fprintf(stderr, "state_store_bench: iteration saw %" PRIu64 " of %" PRIu64 "\n", seen, n);

    /* (4) sizes.  For memory, disk is what a snapshot takes. */
    uint64_t disk = 0;
    int64_t snap_ns = 0;
    if (cfg->kind == K_MEM) {
        char sp[4300];
        snprintf(sp, sizeof sp, "%s/state.snap", b->dir);
        t0 = kp_mono_ns();
        if (store_snapshot_write(b->mem, sp, 0) != 0)
            die("store_snapshot_write", sp);
        snap_ns = kp_mono_ns() - t0;
    }
    disk = dir_bytes(b->dir);
    long rss = status_kb("VmRSS"), hwm = status_kb("VmHWM"), anon = status_kb("RssAnon"),
         file = status_kb("RssFile");
    char label[64];
    snprintf(label, sizeof label, "%s/%s%s", kind_name[cfg->kind],
             cfg->kind == K_MEM ? "-" : sync_name[cfg->sync], cfg->limit ? "/limit" : "");
    printf("%-24s %6.1fM %9.0f %10.0f %7.1f %7.1f %8.1f %7.1f %10.0f %8.0f %7ld %7ld %7ld\n",
           label, (double)n / 1e6, (double)n / secs(load_ns),
           (double)events / secs(run_ns), (double)hist_pct(ev, 50) / 1e3,
           (double)hist_pct(ev, 99) / 1e3, (double)hist_pct(ev, 99.9) / 1e3,
           (double)hist_pct(cm, 99) / 1e6, (double)n / secs(iter_ns),
           (double)disk / 1e6, hwm / 1024, anon / 1024, file / 1024);
    printf("RESULT store=%s sync=%s limit=%d keys=%" PRIu64 " load_per_s=%.0f events=%" PRIu64
           " events_per_s=%.0f p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.1f commits=%" PRIu64
           " commit_ms_total=%.1f commit_p99_ms=%.2f iter_per_s=%.0f snapshot_s=%.2f"
           " disk_bytes=%" PRIu64 " rss_kb=%ld hwm_kb=%ld anon_kb=%ld file_kb=%ld"
           " changelog_bytes=%" PRIu64 "\n",
           kind_name[cfg->kind], sync_name[cfg->sync], cfg->limit, n,
           (double)n / secs(load_ns), events, (double)events / secs(run_ns),
           (double)hist_pct(ev, 50) / 1e3, (double)hist_pct(ev, 99) / 1e3,
           (double)hist_pct(ev, 99.9) / 1e3, (double)ev->max / 1e3, cm->count,
           (double)commit_ns / 1e6, (double)hist_pct(cm, 99) / 1e6,
           (double)n / secs(iter_ns), secs(snap_ns), disk, rss, hwm, anon, file, b->sent);
    fflush(stdout);
    b_close(b);
    free(ev);
    free(cm);
    free(b);
}

static int run(const config_t *cfg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        run_child(cfg);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: state_store_bench [--quick] [--only STORE] [--keys N[,N...]] [--events N]\n"
            "                         [--seconds S] [--dir DIR]\n"
            "  STORE: memory, lmdb, rocksdb, store_disk (several: repeat --only)\n"
            "  default: 1M and 10M keys, 2M events (at most 30 s) per configuration, every\n"
            "  sync mode at 1M keys, then the memory-limited runs at 10M keys\n");
}

int main(int argc, char **argv)
{
    uint64_t keys[8] = {1000000, 10000000};
    int nkeys = 2;
    uint64_t nevents = 2000000;
    unsigned only = 0;
    static const struct option lo[] = {
        {"quick", no_argument, NULL, 'q'}, {"only", required_argument, NULL, 'o'},
        {"keys", required_argument, NULL, 'k'}, {"events", required_argument, NULL, 'e'},
        {"seconds", required_argument, NULL, 's'}, {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'q':
            keys[0] = 100000, nkeys = 1, nevents = 200000, max_seconds = 5;
            break;
        case 'o': {
            int i;
            for (i = 0; i < 4 && strcmp(optarg, kind_name[i]) != 0; i++)
                ;
            if (i == 4) {
                usage(stderr);
                return 2;
            }
            only |= 1u << i;
            break;
        }
        case 'k': {
            nkeys = 0;
            for (char *s = optarg; *s && nkeys < 8; s += *s == ',') {
                char *e;
                keys[nkeys] = strtoull(s, &e, 10);
                if (e == s || keys[nkeys] < 2) {
                    usage(stderr);
                    return 2;
                }
                nkeys++;
                s = e;
            }
            break;
        }
        case 'e':
            nevents = strtoull(optarg, NULL, 10);
            break;
        case 's':
            max_seconds = atof(optarg);
            break;
        case 'd':
            snprintf(base_dir, sizeof base_dir, "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!only)
        only = 1u << K_MEM | 1u << K_LMDB | (HAVE_ROCKSDB ? 1u << K_ROCKS : 0) | 1u << K_DISK;
    if (!HAVE_ROCKSDB)
        only &= ~(1u << K_ROCKS);
    mkdir("build", 0755);
    mkdir("build/bench", 0755);
    if (mkdir(base_dir, 0755) != 0 && errno != EEXIST)
        die(base_dir, strerror(errno));

    printf("state store bench: keys 8-20 B, values 16-200 B, uniform random get+put per event,\n"
           "commit every 100 ms of events; up to %" PRIu64 " events or %.0f s per row\n"
           "(load, events, iter: operations/s; latencies of one get+put in us; commit p99 in ms;\n"
           " disk MB; peak RSS, anonymous and file-backed RSS at the end in MiB)\n\n",
           nevents, max_seconds);
    printf("%-24s %7s %9s %10s %7s %7s %8s %7s %10s %8s %7s %7s %7s\n", "store/sync", "keys",
           "load/s", "events/s", "p50us", "p99us", "p99.9us", "cmt99ms", "iter/s", "diskMB",
           "hwmMiB", "anonMiB", "fileMiB");
    int failed = 0;
    for (int ki = 0; ki < nkeys; ki++) {
        uint64_t n = keys[ki];
        bool all_modes = ki == 0;       /* the sync modes at the first size only */
        for (int k = 0; k < 4; k++) {
            if (!(only & (1u << k)))
                continue;
            for (int s = 0; s < 3; s++) {
                if (k == K_MEM && s > 0)
                    break;
                if (k == K_DISK && s > 0)
                    break;              /* store_disk has one mode: its choice */
                if (k == K_ROCKS && s == S_DATA)
                    continue;           /* RocksDB has sync on or off */
                if (!all_modes && s > 0)
                    break;
                config_t cfg = {.kind = (enum kind)k, .sync = (enum sync_mode)s, .nkeys = n,
                                .nevents = nevents};
                failed |= run(&cfg);
            }
        }
    }
    /* Larger than the imposed memory limit: the last size, disk engines. */
    uint64_t n = keys[nkeys - 1];
    for (int k = K_LMDB; k <= K_ROCKS; k++)
        if (only & (1u << k)) {
            config_t cfg = {.kind = (enum kind)k, .sync = S_NONE, .nkeys = n,
                            .nevents = nevents, .limit = true};
            failed |= run(&cfg);
        }
    return failed;
}

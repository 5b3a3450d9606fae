/*
 * test_txnlog.c -- the log side of transactions: the last stable offset,
 * commit/abort markers, the aborted list, epoch fencing by markers,
 * rebuilding all of it at open (clean and unclean), malformed markers,
 * compaction that respects transactions, and retention of the aborted list.
 */
#include "test.h"
#include "testlog.h"
#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "io/file.h"
#include "log/log.h"
#include "log/log_int.h"
#include "log/records.h"
#include "log/txn.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char logbuf[16384];

static void capture(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)ctx;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", line);
}

static void quiet(void)
{
    logbuf[0] = 0;
    kp_log_set_sink(capture, NULL);
}

/* A batch of `n` records keyed `key` (NULL: no key) with values value0..,
 * from producer pid (-1: none), transactional when txn. */
static uint8_t *pbatch(int64_t pid, int16_t epoch, int32_t seq, bool txn, int n,
                       const char *key, const char *value, size_t *len)
{
    batch_builder_t b;
    uint8_t *out;
    int64_t ts = 1000;
    CHECK_OK(batch_builder_init(&b, txn ? BATCH_ATTR_TRANSACTIONAL : 0, ts, pid, epoch, seq));
    for (int i = 0; i < n; i++) {
        char v[64];
        int vl = snprintf(v, sizeof v, "%s%d", value, i);
        CHECK_OK(batch_builder_add(&b, i, ts + i, key, key ? (int32_t)strlen(key) : -1,
                                   n == 1 ? value : v, n == 1 ? (int32_t)strlen(value) : vl,
                                   NULL, 0, 0));
    }
    CHECK_OK(batch_builder_finish(&b, -1, &out, len));
    return out;
}

/* Append and return the result code; *base gets the base offset. */
static int app(partition_t *p, int64_t pid, int16_t epoch, int32_t seq, bool txn, int n,
               const char *key, const char *value, int64_t *base)
{
    size_t len;
    uint8_t *b = pbatch(pid, epoch, seq, txn, n, key, value, &len);
    partition_append_result_t r;
    int rc = partition_append(p, b, len, &r);
    kp_free(b);
    if (rc == 0 && base)
        *base = r.base_offset;
    if (rc == 0 && r.duplicate)
        return 1;
    return rc;
}

/* Transactional data of n records; returns the base offset. */
static int64_t txn_data(partition_t *p, int64_t pid, int16_t epoch, int32_t seq, int n)
{
    int64_t base = -1;
    CHECK_OK(app(p, pid, epoch, seq, true, n, NULL, "t", &base));
    return base;
}

static int64_t marker(partition_t *p, int64_t pid, int16_t epoch, bool commit)
{
    partition_append_result_t r;
    CHECK_OK(partition_append_marker(p, pid, epoch, commit, 0, &r));
    CHECK_EQ_INT(r.base_offset, r.last_offset);
    return r.base_offset;
}

static int64_t lso(partition_t *p)
{
    int64_t v = partition_last_stable_offset(p);
    CHECK(v <= partition_high_watermark(p));
    CHECK(v >= partition_log_start_offset(p));
    return v;
}

static void check_aborted(partition_t *p, int64_t from, int64_t to, int n,
                          const int64_t *want /* pid, first, last triples */)
{
    log_aborted_txn_t *a;
    int got = partition_aborted_txns(p, from, to, &a);
    if (got != n) {
        kp_free(a);
        test_fail(__FILE__, __LINE__, "[%lld, %lld): %d aborted, expected %d", (long long)from,
                  (long long)to, got, n);
    }
    if (n == 0)
        CHECK(a == NULL);
    for (int i = 0; i < n; i++) {
        if (a[i].producer_id != want[3 * i] || a[i].first_offset != want[3 * i + 1] ||
            a[i].last_offset != want[3 * i + 2]) {
            log_aborted_txn_t x = a[i];
            kp_free(a);
            test_fail(__FILE__, __LINE__, "[%lld, %lld) #%d: (%lld, %lld, %lld), expected "
                      "(%lld, %lld, %lld)", (long long)from, (long long)to, i,
                      (long long)x.producer_id, (long long)x.first_offset,
                      (long long)x.last_offset, (long long)want[3 * i],
                      (long long)want[3 * i + 1], (long long)want[3 * i + 2]);
        }
    }
    kp_free(a);
}

static partition_t *fresh(const char *dir, log_t **log, const char *const *over)
{
    CHECK_OK(log_open(dir, NULL, log));
    CHECK_OK(log_topic_create(*log, "t", 1, over));
    return log_partition(*log, "t", 0);
}

/* ---- the last stable offset ----------------------------------------------- */

TEST(lso_tracks_open_transactions)
{
    const char *dir = test_tmpdir("txn");
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, NULL);
    int64_t prev = 0;
#define STEP(want) do { CHECK_OK(log_flush(log)); int64_t l_ = lso(p); \
                        CHECK_EQ_INT(l_, want); CHECK(l_ >= prev); prev = l_; } while (0)

    CHECK_EQ_INT(lso(p), 0);
    CHECK_OK(app(p, -1, -1, -1, false, 2, NULL, "plain", NULL));     /* 0-1 */
    STEP(2);
    CHECK_EQ_INT(txn_data(p, 1, 0, 0, 2), 2);                         /* A: 2-3 */
    CHECK_EQ_INT(lso(p), 2);            /* unsynced: bounded by the HW anyway */
    STEP(2);
    CHECK_EQ_INT(txn_data(p, 2, 0, 0, 2), 4);                         /* B: 4-5 */
    STEP(2);
    CHECK_EQ_INT(txn_data(p, 1, 0, 2, 2), 6);                         /* A: 6-7 */
    CHECK_OK(app(p, 9, 0, 0, false, 2, NULL, "idem", NULL));         /* 8-9, no txn */
    CHECK_OK(app(p, -1, -1, -1, true, 1, NULL, "nopid", NULL));      /* 10: no pid, no txn */
    STEP(2);
    CHECK_EQ_INT(marker(p, 1, 0, true), 11);                          /* commit A */
    /* Until the marker is durable the transaction still holds the LSO. */
    CHECK_EQ_INT(lso(p), 2);
    STEP(4);
    CHECK_EQ_INT(txn_data(p, 1, 0, 4, 2), 12);                        /* A again: 12-13 */
    STEP(4);
    CHECK_EQ_INT(marker(p, 2, 0, false), 14);                         /* abort B */
    STEP(12);
    CHECK_EQ_INT(marker(p, 1, 0, true), 15);                          /* commit A */
    STEP(16);
    CHECK_EQ_INT(partition_high_watermark(p), 16);
    /* A marker with nothing open is still written, and changes nothing. */
    CHECK_EQ_INT(marker(p, 3, 0, false), 16);
    CHECK_EQ_INT(marker(p, 1, 0, false), 17);
    STEP(18);
    int64_t want[] = {2, 4, 14};
    check_aborted(p, 0, INT64_MAX, 1, want);
    /* Control batches come only through partition_append_marker. */
    {
        uint8_t *m;
        size_t len;
        partition_append_result_t r;
        CHECK_OK(txn_marker_build(1, 0, false, 0, 1000, &m, &len));
        CHECK_EQ_INT(partition_append(p, m, len, &r), KP_EINVAL);
        kp_free(m);
        CHECK_EQ_INT(partition_append_marker(p, -1, 0, true, 0, &r), KP_EINVAL);
    }
#undef STEP
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

/* ---- the aborted list ------------------------------------------------------ */

/* 0-1 pid1 | 2 abort1 | 3-4 pid2 | 5-6 pid3 | 7 abort3 | 8 commit2 | 9-10 pid2 |
 * 11-12 pid1 | 13 abort1 | 14 abort2 | 15 pid4 (open) */
static void build_mix(partition_t *p)
{
    CHECK_EQ_INT(txn_data(p, 1, 0, 0, 2), 0);
    CHECK_EQ_INT(marker(p, 1, 0, false), 2);
    CHECK_EQ_INT(txn_data(p, 2, 0, 0, 2), 3);
    CHECK_EQ_INT(txn_data(p, 3, 0, 0, 2), 5);
    CHECK_EQ_INT(marker(p, 3, 0, false), 7);
    CHECK_EQ_INT(marker(p, 2, 0, true), 8);
    CHECK_EQ_INT(txn_data(p, 2, 0, 2, 2), 9);
    CHECK_EQ_INT(txn_data(p, 1, 0, 2, 2), 11);
    CHECK_EQ_INT(marker(p, 1, 0, false), 13);
    CHECK_EQ_INT(marker(p, 2, 0, false), 14);
    CHECK_EQ_INT(txn_data(p, 4, 0, 0, 1), 15);
}

TEST(aborted_txns_windows)
{
    const char *dir = test_tmpdir("txn");
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, NULL);
    build_mix(p);
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 15);
    int64_t all[] = {1, 0, 2, 3, 5, 7, 2, 9, 14, 1, 11, 13};
    check_aborted(p, 0, INT64_MAX, 4, all);
    check_aborted(p, 0, 1, 1, all);
    check_aborted(p, 2, 3, 1, all);             /* the marker itself is in range */
    check_aborted(p, 3, 5, 0, NULL);            /* [5, 7] starts at `to` */
    check_aborted(p, 3, 6, 1, all + 3);
    check_aborted(p, 7, 9, 1, all + 3);
    check_aborted(p, 8, 9, 0, NULL);
    check_aborted(p, 8, 12, 2, all + 6);
    check_aborted(p, 13, 14, 2, all + 6);       /* [9, 14] reaches back over 13 */
    check_aborted(p, 14, 100, 1, all + 6);
    check_aborted(p, 15, 100, 0, NULL);
    check_aborted(p, 5, 5, 0, NULL);            /* empty window */
    check_aborted(p, 9, 3, 0, NULL);
    /* Records of aborted transactions, as the compactor asks. */
    CHECK(txn_is_aborted(&p->txns, 1, 0) && txn_is_aborted(&p->txns, 1, 12));
    CHECK(!txn_is_aborted(&p->txns, 1, 3) && !txn_is_aborted(&p->txns, 2, 3));
    CHECK(txn_is_aborted(&p->txns, 2, 9) && txn_is_aborted(&p->txns, 3, 6));
    CHECK(!txn_is_aborted(&p->txns, 4, 15));
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

/* ---- rebuilding at open ------------------------------------------------------ */

typedef struct snap {
    int64_t lso, hw, leo;
    int naborted;
    log_aborted_txn_t ab[64];
    int64_t nunstable;
    txn_unstable_t un[64];
    int64_t txn_first[8];           /* per pid 0..7 */
    int16_t epoch[8];
    int32_t coord[8];
} snap_t;

static void take(partition_t *p, snap_t *s)
{
    memset(s, 0, sizeof *s);
    s->lso = lso(p);
    s->hw = partition_high_watermark(p);
    s->leo = partition_log_end_offset(p);
    log_aborted_txn_t *a;
    s->naborted = partition_aborted_txns(p, 0, INT64_MAX, &a);
    CHECK(s->naborted >= 0 && s->naborted <= 64);
    if (s->naborted)
        memcpy(s->ab, a, (size_t)s->naborted * sizeof *a);
    kp_free(a);
    s->nunstable = p->txns.nunstable;
    CHECK(s->nunstable <= 64);
    if (s->nunstable)
        memcpy(s->un, p->txns.unstable, (size_t)s->nunstable * sizeof *s->un);
    for (int i = 0; i < 8; i++) {
        producer_entry_t *e = producer_find(&p->producers, i);
        s->txn_first[i] = e ? e->txn_first_offset : -2;
        s->epoch[i] = e ? e->epoch : -2;
        s->coord[i] = e ? e->coordinator_epoch : -2;
    }
}

static void same(const snap_t *a, const snap_t *b)
{
    CHECK_EQ_INT(a->lso, b->lso);
    CHECK_EQ_INT(a->hw, b->hw);
    CHECK_EQ_INT(a->leo, b->leo);
    CHECK_EQ_INT(a->naborted, b->naborted);
    CHECK_EQ_INT(a->nunstable, b->nunstable);
    CHECK(memcmp(a->ab, b->ab, sizeof a->ab) == 0);
    CHECK(memcmp(a->un, b->un, sizeof a->un) == 0);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(a->txn_first[i], b->txn_first[i]);
        CHECK_EQ_INT(a->epoch[i], b->epoch[i]);
        CHECK_EQ_INT(a->coord[i], b->coord[i]);
    }
}

TEST(rebuild_after_clean_and_unclean_reopen)
{
    const char *dir = test_tmpdir("txn");
    const char *over[] = {"segment.bytes", "300", NULL};    /* several segments */
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, over);
    build_mix(p);
    partition_append_result_t r;
    CHECK_OK(partition_append_marker(p, 5, 2, true, 7, &r));     /* none open; coord 7 */
    CHECK_EQ_INT(txn_data(p, 5, 2, 0, 3), 17);
    CHECK_EQ_INT(txn_data(p, 6, 0, 0, 1), 20);
    CHECK_OK(log_flush(log));
    CHECK(partition_segment_count(p) > 2);
    snap_t before, after;
    take(p, &before);
    CHECK_EQ_INT(before.lso, 15);
    CHECK_EQ_INT(before.nunstable, 3);
    CHECK_EQ_INT(before.txn_first[4], 15);
    CHECK_EQ_INT(before.txn_first[5], 17);
    CHECK_EQ_INT(before.txn_first[1], -1);
    CHECK_EQ_INT(before.coord[5], 7);
    CHECK_EQ_INT(before.epoch[5], 2);

    for (int clean = 1; clean >= 0; clean--) {
        if (clean)
            CHECK_OK(log_close(log));
        else
            log_abandon(log);
        CHECK_OK(log_open(dir, NULL, &log));
        p = log_partition(log, "t", 0);
        take(p, &after);
        same(&before, &after);
    }
    /* The rebuilt state keeps working: the transactions end, and the
     * producers' sequences were not disturbed by their markers. */
    CHECK_EQ_INT(app(p, 1, 0, 4, true, 1, NULL, "x", NULL), 0);
    CHECK_EQ_INT(app(p, 1, 0, 2, true, 2, NULL, "t", NULL), 1);      /* a retry */
    CHECK_EQ_INT(marker(p, 4, 0, false), 22);
    CHECK_EQ_INT(marker(p, 6, 0, true), 23);
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 17);
    CHECK_EQ_INT(partition_append_marker(p, 5, 2, true, 6, &r), KP_EFENCED);  /* coord 7 */
    CHECK_OK(partition_append_marker(p, 5, 2, true, 7, &r));
    CHECK_EQ_INT(r.base_offset, 24);
    CHECK_EQ_INT(marker(p, 1, 0, false), 25);
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 26);
    int64_t tail[] = {4, 15, 22, 1, 21, 25};
    check_aborted(p, 15, 100, 2, tail);
    CHECK(strstr(logbuf, "not a valid transaction marker") == NULL);
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

/* Append raw bytes as the next batch of the active segment (behind the
 * log's back, as a bug or bad disk might leave them). */
static void smuggle(const char *dir, int64_t base, uint8_t *batch, size_t len)
{
    char path[4096];
    batch_set_base_offset(batch, base);
    snprintf(path, sizeof path, "%s/t-0/%020lld.log", dir, 0LL);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, batch, len), (long long)len);
    close(fd);
}

static uint8_t *control_batch(int64_t pid, const void *key, int32_t klen, const void *val,
                              int32_t vlen, size_t *len)
{
    batch_builder_t b;
    uint8_t *out;
    CHECK_OK(batch_builder_init(&b, BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL, 1000, pid,
                                0, -1));
    CHECK_OK(batch_builder_add(&b, 0, 1000, key, klen, val, vlen, NULL, 0, 0));
    CHECK_OK(batch_builder_finish(&b, -1, &out, len));
    return out;
}

TEST(malformed_marker_is_skipped_at_rebuild)
{
    const char *dir = test_tmpdir("txn");
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, NULL);
    CHECK_EQ_INT(txn_data(p, 1, 0, 0, 2), 0);
    CHECK_OK(log_close(log));
    /* A control batch whose key is too short, one of another control type,
     * and one with no producer: none ends the transaction. */
    static const uint8_t shortkey[2] = {0, 0}, leader[4] = {0, 0, 0, 2},
                         abort_key[4] = {0, 0, 0, 0}, val[6] = {0, 0, 0, 0, 0, 1};
    size_t len;
    uint8_t *b = control_batch(1, shortkey, 2, val, 6, &len);
    smuggle(dir, 2, b, len);
    kp_free(b);
    b = control_batch(1, leader, 4, val, 6, &len);
    smuggle(dir, 3, b, len);
    kp_free(b);
    b = control_batch(-1, abort_key, 4, val, 6, &len);
    smuggle(dir, 4, b, len);
    kp_free(b);
    b = control_batch(1, abort_key, 4, val, 4, &len);    /* value too short */
    smuggle(dir, 5, b, len);
    kp_free(b);
    for (int round = 0; round < 2; round++) {        /* a clean, then an unclean open */
        logbuf[0] = 0;
        CHECK_OK(log_open(dir, NULL, &log));
        p = log_partition(log, "t", 0);
        CHECK_EQ_INT(partition_log_end_offset(p), 6);
        CHECK_EQ_INT(lso(p), 0);
        CHECK_EQ_INT(producer_find(&p->producers, 1)->txn_first_offset, 0);
        log_aborted_txn_t *a;
        CHECK_EQ_INT(partition_aborted_txns(p, 0, 100, &a), 0);
        const char *m = logbuf;
        int reports = 0;
        while ((m = strstr(m, "not a valid transaction marker")) != NULL) {
            reports++;
            m++;
        }
        CHECK_EQ_INT(reports, 4);
        if (round == 0)
            log_abandon(log);
        else
            CHECK_OK(log_close(log));
    }
    CHECK_OK(log_open(dir, NULL, &log));
    p = log_partition(log, "t", 0);
    CHECK_EQ_INT(marker(p, 1, 0, false), 6);
    CHECK_OK(log_flush(log));
    int64_t want[] = {1, 0, 6};
    check_aborted(p, 0, 100, 1, want);
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

TEST(marker_parse_rejects_garbage)
{
    size_t len;
    bool commit;
    int32_t ce;
    uint8_t *m;
    CHECK_OK(txn_marker_build(9, 3, true, 42, 1000, &m, &len));
    CHECK_EQ_INT(len, 78);
    CHECK_OK(txn_marker_parse(m, len, &commit, &ce));
    CHECK(commit);
    CHECK_EQ_INT(ce, 42);
    batch_header_t h;
    CHECK_OK(batch_header_decode(m, len, &h));
    CHECK_EQ_INT(h.attributes, BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL);
    CHECK_EQ_INT(h.base_sequence, -1);
    CHECK_EQ_INT(h.producer_id, 9);
    CHECK_EQ_INT(h.producer_epoch, 3);
    /* Every truncation, and every single-byte change, is refused (the CRC
     * covers everything but the base offset and leader epoch). */
    for (size_t cut = 0; cut < len; cut++)
        CHECK(txn_marker_parse(m, cut, &commit, &ce) < 0);
    for (size_t i = 21; i < len; i++) {
        m[i] ^= 0x40;
        CHECK(txn_marker_parse(m, len, &commit, &ce) < 0);
        m[i] ^= 0x40;
    }
    kp_free(m);
    CHECK_OK(txn_marker_build(9, 3, false, -1, 1000, &m, &len));
    CHECK_OK(txn_marker_parse(m, len, &commit, &ce));
    CHECK(!commit);
    CHECK_EQ_INT(ce, -1);
    kp_free(m);
}

/* ---- epochs ------------------------------------------------------------------- */

TEST(marker_fences_older_epoch)
{
    const char *dir = test_tmpdir("txn");
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, NULL);
    partition_append_result_t r;
    CHECK_EQ_INT(txn_data(p, 7, 0, 0, 2), 0);
    CHECK_EQ_INT(txn_data(p, 7, 0, 2, 2), 2);
    /* The coordinator aborts on a timeout with a bumped epoch. */
    CHECK_OK(partition_append_marker(p, 7, 1, false, 3, &r));
    CHECK_EQ_INT(r.base_offset, 4);
    CHECK_EQ_INT(app(p, 7, 0, 4, true, 1, NULL, "z", NULL), KP_EFENCED);   /* the zombie */
    CHECK_EQ_INT(app(p, 7, 0, 2, true, 2, NULL, "t", NULL), KP_EFENCED);   /* even a retry */
    CHECK_EQ_INT(app(p, 7, 1, 4, true, 1, NULL, "z", NULL), KP_ESEQUENCE); /* new epoch: 0 */
    CHECK_EQ_INT(partition_append_marker(p, 7, 0, true, 3, &r), KP_EFENCED);
    CHECK_EQ_INT(partition_append_marker(p, 7, 1, true, 2, &r), KP_EFENCED); /* old coord */
    CHECK_EQ_INT(partition_log_end_offset(p), 5);
    int64_t base;
    CHECK_OK(app(p, 7, 1, 0, true, 2, NULL, "n", &base));
    CHECK_EQ_INT(base, 5);
    /* A marker of the same epoch leaves the window: sequence 2 continues it
     * and sequence 0 is still known as a retry. */
    CHECK_OK(partition_append_marker(p, 7, 1, true, 3, &r));
    CHECK_EQ_INT(r.base_offset, 7);
    CHECK_OK(log_flush(log));
    for (int clean = 1; clean >= 0; clean--) {
        if (clean)
            CHECK_OK(log_close(log));
        else
            log_abandon(log);
        CHECK_OK(log_open(dir, NULL, &log));
        p = log_partition(log, "t", 0);
        CHECK_EQ_INT(app(p, 7, 1, 0, true, 2, NULL, "n", &base), 1);     /* duplicate */
        CHECK_EQ_INT(base, 5);
        CHECK_EQ_INT(app(p, 7, 0, 4, true, 1, NULL, "z", NULL), KP_EFENCED);
        CHECK_EQ_INT(partition_append_marker(p, 7, 1, true, 2, &r), KP_EFENCED);
        CHECK_EQ_INT(producer_find(&p->producers, 7)->coordinator_epoch, 3);
    }
    CHECK_OK(app(p, 7, 1, 2, true, 1, NULL, "m", &base));
    CHECK_EQ_INT(base, 8);
    /* A marker for a producer this partition never saw starts its state. */
    CHECK_OK(partition_append_marker(p, 8, 4, true, 0, &r));
    CHECK_EQ_INT(app(p, 8, 3, 0, false, 1, NULL, "o", NULL), KP_EFENCED);
    CHECK_EQ_INT(app(p, 8, 4, 1, false, 1, NULL, "o", NULL), KP_ESEQUENCE);
    CHECK_OK(app(p, 8, 4, 0, false, 1, NULL, "o", NULL));
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

/* ---- compaction ------------------------------------------------------------------ */

typedef struct seen {
    int64_t offset;
    bool control;
    char key[32], value[32];
} seen_t;

/* Every record (control records included, flagged) up to the HW. */
static int read_raw(partition_t *p, seen_t *out, int cap)
{
    int n = 0;
    int64_t off = partition_log_start_offset(p);
    for (;;) {
        log_read_t rd;
        CHECK_OK(partition_read(p, off, 1 << 20, partition_high_watermark(p), &rd));
        if (rd.len == 0)
            break;
        uint8_t *buf = kp_malloc((size_t)rd.len);
        CHECK(buf);
        CHECK_EQ_INT(kp_file_pread_all(rd.fd, buf, (size_t)rd.len, rd.pos), rd.len);
        int64_t len = rd.len;
        off = rd.next_offset;
        log_read_release(&rd);
        for (int64_t pos = 0; pos < len;) {
            batch_header_t h;
            record_iter_t it;
            record_t rec;
            CHECK_OK(batch_header_decode(buf + pos, (size_t)(len - pos), &h));
            CHECK_OK(batch_crc_check(buf + pos, (size_t)batch_size(&h)));
            CHECK_OK(record_iter_init(&it, buf + pos, (size_t)batch_size(&h), 1 << 20));
            while (record_iter_next(&it, &rec) == 1) {
                CHECK(n < cap);
                seen_t *s = &out[n++];
                memset(s, 0, sizeof *s);
                s->offset = rec.offset;
                s->control = (h.attributes & BATCH_ATTR_CONTROL) != 0;
                if (!s->control && rec.key)
                    snprintf(s->key, sizeof s->key, "%.*s", (int)rec.key_len, rec.key);
                if (!s->control && rec.value)
                    snprintf(s->value, sizeof s->value, "%.*s", (int)rec.value_len, rec.value);
            }
            record_iter_free(&it);
            pos += batch_size(&h);
        }
        kp_free(buf);
    }
    return n;
}

static int count_value(const seen_t *s, int n, const char *key, const char *value)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += !s[i].control && strcmp(s[i].key, key) == 0 && strcmp(s[i].value, value) == 0;
    return c;
}

static int count_control(const seen_t *s, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += s[i].control;
    return c;
}

TEST(compaction_drops_aborted_and_stops_at_lso)
{
    const char *dir = test_tmpdir("txn");
    const char *over[] = {"cleanup.policy", "compact", NULL};
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, over);
    int64_t now = kp_now_ms() + 1000;       /* markers carry the real time */
    compact_stats_t st;
    seen_t s[64];

    /* Segment 0: k committed, then k overwritten in an aborted transaction;
     * an aborted record without a key goes too.  Segment 1: more of k. */
    CHECK_OK(app(p, 1, 0, 0, true, 1, "k", "committed", NULL));           /* 0 */
    CHECK_OK(app(p, 1, 0, 1, true, 1, "j", "j-committed", NULL));         /* 1 */
    marker(p, 1, 0, true);                                                /* 2 */
    CHECK_OK(app(p, 2, 0, 0, true, 1, "k", "aborted", NULL));             /* 3 */
    CHECK_OK(app(p, 2, 0, 1, true, 1, NULL, "aborted-nokey", NULL));      /* 4 */
    CHECK_OK(app(p, -1, -1, -1, false, 1, "j", "j-plain", NULL));          /* 5 */
    marker(p, 2, 0, false);                                               /* 6 */
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(app(p, 2, 0, 2, true, 1, "k", "aborted-later", NULL));       /* 7: a new txn */
    marker(p, 2, 0, false);                                               /* 8 */
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 9);
    CHECK_OK(partition_compact(p, now, &st));
    CHECK_EQ_INT(st.segments, 2);
    int n = read_raw(p, s, 64);
    CHECK_EQ_INT(count_value(s, n, "k", "committed"), 1);
    CHECK_EQ_INT(count_value(s, n, "k", "aborted"), 0);
    CHECK_EQ_INT(count_value(s, n, "k", "aborted-later"), 0);
    CHECK_EQ_INT(count_value(s, n, "", "aborted-nokey"), 0);
    CHECK_EQ_INT(count_value(s, n, "j", "j-committed"), 0);
    CHECK_EQ_INT(count_value(s, n, "j", "j-plain"), 1);
    CHECK_EQ_INT(count_control(s, n), 3);           /* markers stay */
    CHECK_EQ_INT(n, 5);
    /* The aborted list and the LSO survive compaction and a reopen. */
    int64_t ab[] = {2, 3, 6, 2, 7, 8};
    check_aborted(p, 0, 100, 2, ab);
    CHECK_OK(log_close(log));
    CHECK_OK(log_open(dir, NULL, &log));
    p = log_partition(log, "t", 0);
    CHECK_EQ_INT(lso(p), 9);
    CHECK_EQ_INT(read_raw(p, s, 64), 5);

    /* An open transaction holds its segment -- and everything after it --
     * back from cleaning, even once that segment is closed. */
    CHECK_OK(app(p, -1, -1, -1, false, 1, "x", "x1", NULL));              /* 9 */
    CHECK_OK(app(p, 3, 0, 0, true, 1, "y", "open", NULL));                /* 10 */
    CHECK_OK(app(p, -1, -1, -1, false, 1, "x", "x2", NULL));              /* 11 */
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(app(p, -1, -1, -1, false, 1, "x", "x3", NULL));              /* 12 */
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 10);
    CHECK_OK(partition_compact(p, now, &st));
    CHECK_EQ_INT(st.segments, 0);
    n = read_raw(p, s, 64);
    CHECK_EQ_INT(count_value(s, n, "x", "x1"), 1);
    CHECK_EQ_INT(count_value(s, n, "x", "x2"), 1);
    /* The abort ends it; once the marker is durable the segments clean. */
    CHECK_EQ_INT(marker(p, 3, 0, false), 13);
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(partition_compact(p, now, &st));       /* marker not yet synced */
    CHECK_EQ_INT(st.segments, 0);
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 14);
    CHECK_OK(partition_compact(p, now, &st));
    CHECK(st.segments >= 1);
    n = read_raw(p, s, 64);
    CHECK_EQ_INT(count_value(s, n, "x", "x1"), 0);
    CHECK_EQ_INT(count_value(s, n, "x", "x2"), 0);
    CHECK_EQ_INT(count_value(s, n, "x", "x3"), 1);
    CHECK_EQ_INT(count_value(s, n, "y", "open"), 0);
    CHECK_EQ_INT(count_value(s, n, "k", "committed"), 1);
    CHECK_EQ_INT(count_control(s, n), 4);
    CHECK(strstr(logbuf, "failed verification") == NULL);
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

/* ---- retention -------------------------------------------------------------------- */

TEST(retention_trims_aborted_list)
{
    const char *dir = test_tmpdir("txn");
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, NULL);
    int64_t now = kp_now_ms();
    int deleted;
    CHECK_EQ_INT(txn_data(p, 1, 0, 0, 2), 0);
    CHECK_EQ_INT(marker(p, 1, 0, false), 2);                  /* (1, 0, 2) */
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_EQ_INT(txn_data(p, 2, 0, 0, 2), 3);
    CHECK_EQ_INT(marker(p, 2, 0, false), 5);                  /* (2, 3, 5) */
    CHECK_EQ_INT(txn_data(p, 3, 0, 0, 1), 6);
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_EQ_INT(marker(p, 3, 0, false), 7);                  /* (3, 6, 7) */
    CHECK_EQ_INT(txn_data(p, 4, 0, 0, 1), 8);                 /* open */
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(lso(p), 8);
    int64_t all[] = {1, 0, 2, 2, 3, 5, 3, 6, 7};
    check_aborted(p, 0, 100, 3, all);

    /* DeleteRecords to 6: the first two are wholly below it. */
    CHECK_OK(partition_delete_records(p, 6));
    check_aborted(p, 0, 100, 1, all + 6);
    CHECK_OK(partition_apply_retention(p, now, &deleted));
    CHECK_EQ_INT(deleted, 1);
    check_aborted(p, 0, 100, 1, all + 6);
    for (int clean = 1; clean >= 0; clean--) {
        CHECK_OK(log_checkpoint(log));
        if (clean)
            CHECK_OK(log_close(log));
        else
            log_abandon(log);
        CHECK_OK(log_open(dir, NULL, &log));
        p = log_partition(log, "t", 0);
        CHECK_EQ_INT(partition_log_start_offset(p), 6);
        check_aborted(p, 0, 100, 1, all + 6);
        CHECK_EQ_INT(lso(p), 8);
    }

    /* Past the open transaction's start: the LSO does not lag behind the
     * log start offset, and the last entry goes too. */
    CHECK_EQ_INT(txn_data(p, 5, 0, 0, 1), 9);
    CHECK_OK(log_flush(log));
    CHECK_OK(partition_delete_records(p, 9));
    CHECK_EQ_INT(lso(p), 9);
    check_aborted(p, 0, 100, 0, NULL);
    CHECK_EQ_INT(p->txns.naborted, 0);
    CHECK_OK(log_close(log));

    /* Retention by size deletes the segments (drop_oldest) and trims too. */
    test_rmtree(dir);
    dir = test_tmpdir("txn");
    const char *over[] = {"retention.bytes", "1", NULL};
    p = fresh(dir, &log, over);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(txn_data(p, 1, 0, 2 * i, 2), 3 * i);
        CHECK_EQ_INT(marker(p, 1, 0, false), 3 * i + 2);
        CHECK_OK(partition_maybe_roll(p, now, 1));
    }
    CHECK_OK(app(p, -1, -1, -1, false, 1, NULL, "tail", NULL));   /* 12: keeps a byte */
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(p->txns.naborted, 4);
    CHECK_OK(partition_apply_retention(p, now, &deleted));
    CHECK_EQ_INT(deleted, 4);
    CHECK_EQ_INT(partition_log_start_offset(p), 12);
    CHECK_EQ_INT(p->txns.naborted, 0);
    CHECK_EQ_INT(lso(p), 13);
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

/* ---- memory ---------------------------------------------------------------------- */

/* A failed allocation refuses the write; it never writes a batch whose
 * transaction state could not be kept. */
TEST(allocation_failure_never_loses_transaction_state)
{
    const char *dir = test_tmpdir("txn");
    log_t *log;
    quiet();
    partition_t *p = fresh(dir, &log, NULL);
    int64_t pid = 100;
    int data_failed = 0, marker_failed = 0;
    for (long n = 0; n < 40; n++) {
        int64_t leo = partition_log_end_offset(p);
        int64_t open_before = p->txns.nunstable;
        size_t len;
        uint8_t *b = pbatch(pid, 0, 0, true, 1, NULL, "m", &len);
        partition_append_result_t r;
        kp_mem_fail_after(n);
        int rc = partition_append(p, b, len, &r);
        kp_mem_fail_reset();
        kp_free(b);
        if (rc) {
            CHECK_EQ_INT(rc, KP_ENOMEM);
            CHECK_EQ_INT(partition_log_end_offset(p), leo);
            CHECK_EQ_INT(p->txns.nunstable, open_before);
            data_failed++;
            continue;
        }
        CHECK_EQ_INT(producer_find(&p->producers, pid)->txn_first_offset, leo);
        int64_t naborted = p->txns.naborted;
        kp_mem_fail_after(n % 3);
        rc = partition_append_marker(p, pid, 0, false, 0, &r);
        kp_mem_fail_reset();
        if (rc) {
            CHECK_EQ_INT(rc, KP_ENOMEM);
            marker_failed++;
            CHECK_EQ_INT(partition_log_end_offset(p), leo + 1);
            CHECK_EQ_INT(producer_find(&p->producers, pid)->txn_first_offset, leo);
            CHECK_OK(partition_append_marker(p, pid, 0, false, 0, &r));
        }
        CHECK_EQ_INT(p->txns.naborted, naborted + 1);
        CHECK_EQ_INT(producer_find(&p->producers, pid)->txn_first_offset, -1);
        pid++;
    }
    CHECK(data_failed > 0 && marker_failed > 0);
    CHECK_OK(log_flush(log));
    snap_t before, after;
    take(p, &before);
    CHECK_OK(log_close(log));
    CHECK_OK(log_open(dir, NULL, &log));
    p = log_partition(log, "t", 0);
    take(p, &after);
    same(&before, &after);
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

int main(void)
{
    RUN(lso_tracks_open_transactions);
    RUN(aborted_txns_windows);
    RUN(rebuild_after_clean_and_unclean_reopen);
    RUN(malformed_marker_is_skipped_at_rebuild);
    RUN(marker_parse_rejects_garbage);
    RUN(marker_fences_older_epoch);
    RUN(compaction_drops_aborted_and_stops_at_lso);
    RUN(retention_trims_aborted_list);
    RUN(allocation_failure_never_loses_transaction_state);
    return test_summary();
}

/*
 * crash_fault.c -- power-loss tests through the fault-injecting file layer.
 *
 * Each test drives the log under faultfs, then builds the image a power loss
 * would leave (unsynced writes dropped, or torn at a chosen byte) and opens a
 * fresh log on that image.  The checks, in check_image():
 *   - every acknowledged record (below the high watermark when the "power"
 *     went) is present, at its offset, with its value;
 *   - the log is a prefix of what was written: no gap, no duplicate, no
 *     corrupt or foreign record;
 *   - where the tear point is known, exactly the synced prefix plus the
 *     unsynced batches that were written whole survives.
 * The negative control turns fsync into a no-op and asserts that the same
 * check reports the loss, proving the harness can see one.
 */
#include "test.h"
#include "testlog.h"
#include "faultfs.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/kp_clock.h"
#include "core/logging.h"
#include "io/file.h"
#include "log/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void quiet(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)line; (void)ctx;
}

typedef struct batch_rec {
    int64_t first;
    int count;
    size_t bytes;
} batch_rec_t;

typedef struct workload {
    char dir[512];
    log_t *log;
    partition_t *p;
    batch_rec_t b[4096];
    int nb;
    uint64_t rng;
} workload_t;

static void wl_open(workload_t *w, const char *segment_bytes)
{
    snprintf(w->dir, sizeof w->dir, "%s", test_tmpdir("crash"));
    faultfs_install();
    CHECK_OK(log_open(w->dir, NULL, &w->log));
    const char *over[] = {"segment.bytes", segment_bytes, "index.interval.bytes", "100", NULL};
    CHECK_OK(log_topic_create(w->log, "t", 1, over));
    w->p = log_partition(w->log, "t", 0);
    w->nb = 0;
}

static void wl_append(workload_t *w, int count)
{
    uint8_t *buf;
    size_t len;
    int64_t first = partition_log_end_offset(w->p);
    CHECK_OK(tl_make_batch(0, count, "v", first, 0, 1000 + first, &buf, &len));
    CHECK_EQ_INT(tl_append(w->p, buf, len), first);
    kp_free(buf);
    CHECK(w->nb < 4096);
    w->b[w->nb++] = (batch_rec_t){first, count, len};
}

static void wl_close(workload_t *w)
{
    if (w->log)
        log_abandon(w->log);
    w->log = NULL;
    faultfs_uninstall();
    test_rmtree(w->dir);
}

/*
 * Open a log on the image and check it.  Returns 0, or -1 with why set.
 * expect_end >= 0 demands that exact end offset.
 */
static int check_image(const char *img, int64_t acked_end, int64_t written_end,
                       int64_t expect_end, char *why, size_t cap)
{
    const kp_file_ops_t *saved = kp_file_ops;
    log_t *log;
    int rc;
    kp_file_set_ops(NULL);
    kp_log_set_sink(quiet, NULL);
    rc = log_open(img, NULL, &log);
    if (rc) {
        snprintf(why, cap, "recovery failed: %s", kp_strerror(rc));
        goto out;
    }
    partition_t *p = log_partition(log, "t", 0);
    if (!p) {
        rc = -1;
        snprintf(why, cap, "topic lost");
        log_abandon(log);
        goto out;
    }
    int64_t end = partition_log_end_offset(p);
    tl_rec_t *r;
    int n = tl_read_all(p, 0, 1 << 20, &r);
    rc = -1;
    if (n < 0)
        snprintf(why, cap, "read failed: %s", kp_strerror(n));
    else if (end < acked_end)
        snprintf(why, cap, "lost acknowledged records: recovered end %lld < acknowledged "
                 "end %lld", (long long)end, (long long)acked_end);
    else if (end > written_end)
        snprintf(why, cap, "recovered end %lld beyond anything written (%lld)",
                 (long long)end, (long long)written_end);
    else if (expect_end >= 0 && end != expect_end)
        snprintf(why, cap, "recovered end %lld, expected exactly %lld", (long long)end,
                 (long long)expect_end);
    else if (n != end)
        snprintf(why, cap, "%d records readable for end offset %lld", n, (long long)end);
    else
        rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        if (r[i].offset != i || strcmp(r[i].value, want) != 0) {
            snprintf(why, cap, "record %d: offset %lld value %.40s", i, (long long)r[i].offset,
                     r[i].value);
            rc = -1;
        }
    }
    if (n >= 0)
        kp_free(r);
    /* The recovered log must take appends and survive a clean restart. */
    if (rc == 0) {
        uint8_t *buf;
        size_t len;
        partition_append_result_t res;
        tl_make_batch(0, 2, "v", end, 0, 0, &buf, &len);
        if (partition_append(p, buf, len, &res) != 0 || res.base_offset != end ||
            log_close(log) != 0 || log_open(img, NULL, &log) != 0) {
            snprintf(why, cap, "could not append after recovery");
            rc = -1;
        } else if (partition_high_watermark(log_partition(log, "t", 0)) != end + 2) {
            snprintf(why, cap, "append after recovery lost over a clean restart");
            rc = -1;
        }
        kp_free(buf);
    }
    if (log)
        log_abandon(log);
out:
    kp_log_set_sink(NULL, NULL);
    kp_file_set_ops(saved);
    return rc;
}

typedef struct tear_ctx {
    size_t log_keep;            /* unsynced bytes kept in .log files */
    bool index_keep_all;        /* index files: keep everything unsynced */
} tear_ctx_t;

static size_t tear(const char *path, size_t durable, size_t current, void *ctx)
{
    tear_ctx_t *t = ctx;
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".log") == 0)
        return t->log_keep;
    return t->index_keep_all ? current - durable : 0;
}

static int image_and_check(workload_t *w, tear_ctx_t *tc, int64_t acked, int64_t expect,
                           char *why, size_t cap)
{
    const char *img = test_tmpdir("img");
    int rc = faultfs_image(w->dir, img, tc ? tear : NULL, tc);
    if (rc) {
        snprintf(why, cap, "image failed: %s", kp_strerror(rc));
    } else {
        rc = check_image(img, acked, partition_log_end_offset(w->p), expect, why, cap);
    }
    test_rmtree(img);
    return rc;
}

TEST(tear_at_every_byte_of_the_last_batches)
{
    workload_t *w = calloc(1, sizeof *w);
    char why[256];
    wl_open(w, "1048576");
    for (int i = 0; i < 20; i++) {
        wl_append(w, 1 + i % 6);
        if (i % 4 == 3)
            CHECK_OK(log_flush(w->log));
    }
    CHECK_OK(log_flush(w->log));
    int64_t acked = partition_high_watermark(w->p);
    int first_pending = w->nb;
    for (int i = 0; i < 3; i++)
        wl_append(w, 2 + i);
    size_t pending = 0;
    for (int i = first_pending; i < w->nb; i++)
        pending += w->b[i].bytes;
    int checked = 0;
    for (size_t t = 0; t <= pending; t++) {
        /* Exactly the batches written whole before the tear survive. */
        int64_t expect = acked;
        size_t acc = 0;
        for (int i = first_pending; i < w->nb; i++) {
            acc += w->b[i].bytes;
            if (acc <= t)
                expect = w->b[i].first + w->b[i].count;
        }
        tear_ctx_t tc = {t, t % 2 == 0};
        if (image_and_check(w, &tc, acked, (int64_t)expect, why, sizeof why) != 0) {
            wl_close(w);
            free(w);
            test_fail(__FILE__, __LINE__, "tear at byte %zu of %zu: %s", t, pending, why);
        }
        checked++;
    }
    printf("# %d torn images checked (%zu unsynced bytes)\n", checked, pending);
    wl_close(w);
    free(w);
}

TEST(unsynced_roll_and_torn_tail)
{
    /* Small segments: the unsynced appends roll into new segment files whose
     * names are not durable yet. */
    workload_t *w = calloc(1, sizeof *w);
    char why[256];
    wl_open(w, "600");
    for (int i = 0; i < 30; i++) {
        wl_append(w, 1 + i % 4);
        if (i % 5 == 4)
            CHECK_OK(log_flush(w->log));
    }
    CHECK_OK(log_flush(w->log));
    int64_t acked = partition_high_watermark(w->p);
    for (int i = 0; i < 12; i++)
        wl_append(w, 3);
    CHECK(partition_segment_count(w->p) > 3);
    for (size_t t = 0; t < 1200; t += 7) {
        tear_ctx_t tc = {t, t % 3 == 0};
        if (image_and_check(w, &tc, acked, t == 0 ? acked : -1, why, sizeof why) != 0) {
            wl_close(w);
            free(w);
            test_fail(__FILE__, __LINE__, "tear %zu: %s", t, why);
        }
    }
    wl_close(w);
    free(w);
}

TEST(random_workloads_lose_nothing_acknowledged)
{
    uint64_t seed = test_seed();
    int rounds = getenv("KAPPA_LONG") ? 3000 : 200;
    char why[256];
    for (int round = 0; round < rounds; round++) {
        workload_t *w = calloc(1, sizeof *w);
        w->rng = seed + (uint64_t)round * 7919;
        const char *sizes[] = {"300", "1000", "5000", "1048576"};
        kp_log_set_sink(quiet, NULL);
        wl_open(w, sizes[test_rand(&w->rng) % 4]);
        int ops = 5 + (int)(test_rand(&w->rng) % 60);
        for (int i = 0; i < ops; i++) {
            uint64_t r = test_rand(&w->rng) % 100;
            if (r < 70) {
                wl_append(w, 1 + (int)(test_rand(&w->rng) % 8));
            } else if (r < 90) {
                CHECK_OK(log_flush(w->log));
            } else if (r < 95) {
                CHECK_OK(log_maintain(w->log, kp_now_ms()));
            } else {
                CHECK_OK(log_close(w->log));
                CHECK_OK(log_open(w->dir, NULL, &w->log));
                w->p = log_partition(w->log, "t", 0);
            }
        }
        kp_log_set_sink(NULL, NULL);
        int64_t acked = partition_high_watermark(w->p);
        tear_ctx_t tc = {(size_t)(test_rand(&w->rng) % 2000), test_rand(&w->rng) % 2 == 0};
        bool drop = test_rand(&w->rng) % 2 == 0;
        int rc = image_and_check(w, drop ? NULL : &tc, acked, drop ? acked : -1, why,
                                 sizeof why);
        wl_close(w);
        free(w);
        if (rc)
            test_fail(__FILE__, __LINE__, "round %d (seed %llu): %s", round,
                      (unsigned long long)seed, why);
    }
    printf("# %d random workloads crashed and recovered\n", rounds);
}

TEST(negative_control_sees_loss_without_fsync)
{
    workload_t *w = calloc(1, sizeof *w);
    char why[256] = "";
    wl_open(w, "2000");
    faultfs_set_fsync_noop(true);
    for (int i = 0; i < 30; i++) {
        wl_append(w, 3);
        CHECK_OK(log_flush(w->log));    /* "acknowledged", but nothing synced */
    }
    int64_t acked = partition_high_watermark(w->p);
    CHECK_EQ_INT(acked, 90);
    int rc = image_and_check(w, NULL, acked, acked, why, sizeof why);
    wl_close(w);
    free(w);
    CHECK(rc != 0);
    CHECK(strstr(why, "lost acknowledged records") != NULL);
    printf("# harness reported: %s\n", why);
}

TEST(fsync_failure_keeps_what_was_acknowledged)
{
    workload_t *w = calloc(1, sizeof *w);
    char why[256];
    wl_open(w, "3000");
    for (int i = 0; i < 10; i++) {
        wl_append(w, 2);
        CHECK_OK(log_flush(w->log));
    }
    int64_t acked = partition_high_watermark(w->p);
    faultfs_fail_fsync_from(0, EIO);
    wl_append(w, 2);
    kp_log_set_sink(quiet, NULL);
    CHECK_EQ_INT(log_flush(w->log), -EIO);
    kp_log_set_sink(NULL, NULL);
    faultfs_fail_fsync_from(0, 0);
    CHECK_EQ_INT(partition_high_watermark(w->p), acked);
    CHECK_EQ_INT(partition_failed(w->p), -EIO);
    uint8_t *buf;
    size_t len;
    partition_append_result_t res;
    CHECK_OK(tl_make_batch(0, 1, "v", 0, 0, 0, &buf, &len));
    CHECK_EQ_INT(partition_append(w->p, buf, len, &res), KP_EFAILED);
    kp_free(buf);
    /* Even a later successful flush does not acknowledge past the failure. */
    log_flush(w->log);
    CHECK_EQ_INT(partition_high_watermark(w->p), acked);
    int rc = image_and_check(w, NULL, acked, acked, why, sizeof why);
    wl_close(w);
    free(w);
    if (rc)
        test_fail(__FILE__, __LINE__, "%s", why);
}

/* ---- a crash at every file operation of a maintenance step ---- */

typedef struct step_ctx {
    workload_t *w;
    const char *root;           /* directory to image; w->dir when NULL */
    int64_t written_end;        /* used with root */
    int64_t acked;
    int images, failures;
    char why[256];
    long fail_seq;
    bool compacted;             /* verify the compacted topic's key map instead */
} step_ctx_t;

/* For the compaction test: newest value per key, as written. */
static char expect_val[16][32];

static int check_compacted_image(const char *img, char *why, size_t cap)
{
    const kp_file_ops_t *saved = kp_file_ops;
    log_t *log;
    int rc;
    kp_file_set_ops(NULL);
    kp_log_set_sink(quiet, NULL);
    rc = log_open(img, NULL, &log);
    if (rc) {
        snprintf(why, cap, "recovery failed: %s", kp_strerror(rc));
        goto out;
    }
    tl_rec_t *r;
    int n = tl_read_all(log_partition(log, "t", 0), 0, 1 << 20, &r);
    char latest[16][32] = {{0}};
    for (int i = 0; i < n; i++) {
        int k = atoi(r[i].key + 1);
        if (k >= 0 && k < 16)
            snprintf(latest[k], sizeof latest[k], "%.31s", r[i].value);
    }
    if (n >= 0)
        kp_free(r);
    rc = 0;
    for (int k = 0; k < 16 && rc == 0; k++)
        if (strcmp(latest[k], expect_val[k]) != 0) {
            snprintf(why, cap, "key k%d: latest value '%.31s', expected '%.31s' (%d records)", k,
                     latest[k], expect_val[k], n);
            rc = -1;
        }
    log_abandon(log);
out:
    kp_log_set_sink(NULL, NULL);
    kp_file_set_ops(saved);
    return rc;
}

static void at_every_op(long seq, const char *what, void *vctx)
{
    step_ctx_t *c = vctx;
    (void)what;
    if (c->failures)
        return;
    const char *img = test_tmpdir("opimg");
    faultfs_set_op_hook(NULL, NULL);
    int rc = faultfs_image(c->root ? c->root : c->w->dir, img, NULL, NULL);
    if (rc == 0) {
        if (c->compacted)
            rc = check_compacted_image(img, c->why, sizeof c->why);
        else
            rc = check_image(img, c->acked,
                             c->root ? c->written_end : partition_log_end_offset(c->w->p), -1,
                             c->why, sizeof c->why);
    } else {
        snprintf(c->why, sizeof c->why, "image failed");
    }
    faultfs_set_op_hook(at_every_op, c);
    test_rmtree(img);
    c->images++;
    if (rc) {
        c->failures++;
        c->fail_seq = seq;
    }
}

TEST(crash_at_every_step_of_roll_checkpoint_and_close)
{
    workload_t *w = calloc(1, sizeof *w);
    step_ctx_t c = {.w = w};
    wl_open(w, "800");
    for (int i = 0; i < 12; i++)
        wl_append(w, 3);
    CHECK_OK(log_flush(w->log));
    c.acked = partition_high_watermark(w->p);
    faultfs_set_op_hook(at_every_op, &c);
    for (int i = 0; i < 8; i++)
        wl_append(w, 3);           /* rolls segments */
    CHECK_OK(log_flush(w->log));
    c.acked = partition_high_watermark(w->p);
    CHECK_OK(log_maintain(w->log, kp_now_ms()));   /* checkpoints */
    CHECK_OK(log_close(w->log));                   /* clean shutdown */
    w->log = NULL;
    faultfs_set_op_hook(NULL, NULL);
    printf("# %d crash points checked\n", c.images);
    wl_close(w);
    free(w);
    if (c.failures)
        test_fail(__FILE__, __LINE__, "crash at op %ld: %s", c.fail_seq, c.why);
    CHECK(c.images > 20);
}

TEST(crash_at_every_step_of_compaction)
{
    workload_t *w = calloc(1, sizeof *w);
    step_ctx_t c = {.w = w, .compacted = true};
    snprintf(w->dir, sizeof w->dir, "%s", test_tmpdir("crash"));
    faultfs_install();
    CHECK_OK(log_open(w->dir, NULL, &w->log));
    const char *over[] = {"segment.bytes", "700", "cleanup.policy", "compact", NULL};
    CHECK_OK(log_topic_create(w->log, "t", 1, over));
    w->p = log_partition(w->log, "t", 0);
    int64_t now = kp_now_ms();
    for (int i = 0; i < 120; i++) {
        char k[8], v[32];
        uint8_t *buf;
        size_t len;
        snprintf(k, sizeof k, "k%d", i % 16);
        snprintf(v, sizeof v, "val-%d", i);
        snprintf(expect_val[i % 16], sizeof expect_val[0], "%s", v);
        CHECK_OK(tl_make_kv(k, v, now, &buf, &len));
        tl_append(w->p, buf, len);
        kp_free(buf);
    }
    CHECK_OK(partition_maybe_roll(w->p, now, 1));
    CHECK_OK(log_flush(w->log));
    CHECK(partition_segment_count(w->p) > 4);
    faultfs_set_op_hook(at_every_op, &c);
    compact_stats_t st;
    CHECK_OK(partition_compact(w->p, now, &st));
    faultfs_set_op_hook(NULL, NULL);
    CHECK(st.segments > 0);
    printf("# %d crash points during compaction of %lld segments checked\n", c.images,
           (long long)st.segments);
    wl_close(w);
    free(w);
    if (c.failures)
        test_fail(__FILE__, __LINE__, "crash at op %ld: %s", c.fail_seq, c.why);
}

TEST(crash_at_every_step_of_recovery)
{
    /* Recovery itself writes (truncation, index rebuild, marker removal):
     * a crash in the middle of it must leave something the next recovery
     * still gets right. */
    workload_t *w = calloc(1, sizeof *w);
    char why[256];
    wl_open(w, "700");
    for (int i = 0; i < 24; i++) {
        wl_append(w, 2);
        if (i % 6 == 5)
            CHECK_OK(log_flush(w->log));
    }
    CHECK_OK(log_flush(w->log));
    int64_t acked = partition_high_watermark(w->p);
    for (int i = 0; i < 6; i++)
        wl_append(w, 2);
    int64_t written = partition_log_end_offset(w->p);
    char torn[512];
    snprintf(torn, sizeof torn, "%s", test_tmpdir("torn"));
    tear_ctx_t tc = {150, true};
    CHECK_OK(faultfs_image(w->dir, torn, tear, &tc));
    wl_close(w);
    free(w);

    step_ctx_t c = {.root = torn, .written_end = written, .acked = acked};
    faultfs_install();
    faultfs_set_op_hook(at_every_op, &c);
    log_t *log;
    kp_log_set_sink(quiet, NULL);
    int rc = log_open(torn, NULL, &log);
    faultfs_set_op_hook(NULL, NULL);
    if (rc == 0)
        rc = log_close(log);
    kp_log_set_sink(NULL, NULL);
    faultfs_uninstall();
    /* And the finished recovery itself. */
    int rc2 = check_image(torn, acked, written, -1, why, sizeof why);
    test_rmtree(torn);
    CHECK_OK(rc);
    printf("# %d crash points during recovery checked\n", c.images);
    if (c.failures)
        test_fail(__FILE__, __LINE__, "crash at op %ld of recovery: %s", c.fail_seq, c.why);
    if (rc2)
        test_fail(__FILE__, __LINE__, "after recovery: %s", why);
    CHECK(c.images > 5);
}

/* After a crash at any step of topic creation, the log opens, and the topic
 * either exists and takes appends or can be created again. */
static int create_images, create_failures;
static char create_why[256];

static void at_create_op(long seq, const char *what, void *ctx)
{
    const char *live = ctx;
    (void)what;
    const char *img = test_tmpdir("cimg");
    faultfs_set_op_hook(NULL, NULL);
    const kp_file_ops_t *saved = kp_file_ops;
    int rc = faultfs_image(live, img, NULL, NULL);
    kp_file_set_ops(NULL);
    kp_log_set_sink(quiet, NULL);
    log_t *log = NULL;
    if (rc == 0)
        rc = log_open(img, NULL, &log);
    if (rc == 0 && !log_topic_find(log, "n"))
        rc = log_topic_create(log, "n", 3, NULL);
    for (int i = 0; rc == 0 && i < 3; i++) {
        uint8_t *buf;
        size_t len;
        partition_append_result_t res;
        tl_make_batch(0, 1, "v", 0, 0, 0, &buf, &len);
        rc = partition_append(log_partition(log, "n", i), buf, len, &res);
        kp_free(buf);
    }
    if (rc == 0)
        rc = log_close(log);
    else if (log)
        log_abandon(log);
    kp_log_set_sink(NULL, NULL);
    kp_file_set_ops(saved);
    faultfs_set_op_hook(at_create_op, ctx);
    test_rmtree(img);
    create_images++;
    if (rc && !create_failures++)
        snprintf(create_why, sizeof create_why, "op %ld: %s", seq, kp_strerror(rc));
}

TEST(crash_at_every_step_of_topic_creation)
{
    char dir[512];
    log_t *log;
    snprintf(dir, sizeof dir, "%s", test_tmpdir("crash"));
    faultfs_install();
    CHECK_OK(log_open(dir, NULL, &log));
    faultfs_set_op_hook(at_create_op, dir);
    CHECK_OK(log_topic_create(log, "n", 3, NULL));
    faultfs_set_op_hook(NULL, NULL);
    log_abandon(log);
    faultfs_uninstall();
    test_rmtree(dir);
    printf("# %d crash points during topic creation checked\n", create_images);
    if (create_failures)
        test_fail(__FILE__, __LINE__, "%s", create_why);
    CHECK(create_images >= 6);
}

int main(void)
{
    /* The fault model, not the disk, decides durability here, and each image
     * is opened with real fsyncs: keep them off the disk when /dev/shm is
     * there, or thousands of images wait on it. */
    if (!getenv("KAPPA_CRASH_ON_DISK") && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    kp_log_set_level(KP_LOG_WARN);
    RUN(tear_at_every_byte_of_the_last_batches);
    RUN(unsynced_roll_and_torn_tail);
    RUN(random_workloads_lose_nothing_acknowledged);
    RUN(negative_control_sees_loss_without_fsync);
    RUN(fsync_failure_keeps_what_was_acknowledged);
    RUN(crash_at_every_step_of_roll_checkpoint_and_close);
    RUN(crash_at_every_step_of_compaction);
    RUN(crash_at_every_step_of_topic_creation);
    RUN(crash_at_every_step_of_recovery);
    return test_summary();
}

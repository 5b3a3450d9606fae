/*
 * test_log.c -- the log engine: appends, group commit, reads, rolling,
 * recovery, indexes, timestamps, retention, compaction, topics, failures.
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

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char logbuf[8192];

static void capture(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)ctx;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", line);
}

static log_t *open_log(const char *dir)
{
    log_t *log;
    CHECK_OK(log_open(dir, NULL, &log));
    return log;
}

/* Append `batches` batches of `per` records ("v<i>") to p. */
static void fill(partition_t *p, int batches, int per, int64_t ts0)
{
    for (int b = 0; b < batches; b++) {
        uint8_t *buf;
        size_t len;
        int64_t first = partition_log_end_offset(p);
        CHECK_OK(tl_make_batch(0, per, "v", first, 0, ts0 + first, &buf, &len));
        CHECK_EQ_INT(tl_append(p, buf, len), first);
        kp_free(buf);
    }
}

/* Every offset in [from, end) once, in order, with value v<offset>. */
static void check_sequence(partition_t *p, int64_t from, int64_t end)
{
    tl_rec_t *r;
    int n = tl_read_all(p, from, 1 << 20, &r);
    CHECK(n >= 0);
    CHECK_EQ_INT(n, end - from);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "v%lld", (long long)(from + i));
        if (r[i].offset != from + i || strcmp(r[i].value, want) != 0) {
            long long got = r[i].offset;
            kp_free(r);
            test_fail(__FILE__, __LINE__, "record %d: offset %lld, expected %lld", i, got,
                      (long long)(from + i));
        }
    }
    kp_free(r);
}

TEST(append_is_invisible_until_synced)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 10, 5, 1000);
    CHECK_EQ_INT(partition_log_end_offset(p), 50);
    CHECK_EQ_INT(partition_high_watermark(p), 0);
    log_read_t r;
    CHECK_OK(partition_read(p, 0, 1 << 20, INT64_MAX, &r));
    CHECK_EQ_INT(r.len, 0);
    CHECK(partition_needs_sync(p));
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(partition_high_watermark(p), 50);
    CHECK(!partition_needs_sync(p));
    check_sequence(p, 0, 50);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

static int64_t synced_hw = -1;
static int synced_calls;
static void on_synced(partition_t *p, int64_t hw, int err, void *ctx)
{
    (void)p; (void)ctx; (void)err;
    synced_hw = hw;
    synced_calls++;
}

TEST(group_commit_one_sync_per_partition)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 2, NULL));
    log_set_synced_callback(log, on_synced, NULL);
    synced_calls = 0;
    fill(log_partition(log, "t", 0), 20, 1, 0);
    fill(log_partition(log, "t", 1), 20, 1, 0);
    CHECK_OK(log_flush(log));
    /* Forty appends, two partitions: two syncs, each covering all. */
    CHECK_EQ_INT(synced_calls, 2);
    CHECK_EQ_INT(synced_hw, 20);
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(synced_calls, 2);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(async_sync_triple)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 3, 2, 0);
    partition_sync_t job;
    CHECK_OK(partition_sync_prepare(p, &job));
    CHECK(job.nsegs == 1);
    CHECK_EQ_INT(job.target_offset, 6);
    /* Appends during the sync are not covered by it. */
    fill(p, 1, 2, 0);
    partition_sync_t again;
    CHECK_EQ_INT(partition_sync_prepare(p, &again), KP_EBUSY);
    partition_sync_execute(&job);
    CHECK_OK(partition_sync_complete(&job));
    CHECK_EQ_INT(partition_high_watermark(p), 6);
    CHECK(partition_needs_sync(p));
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(partition_high_watermark(p), 8);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

static void *sync_worker(void *arg)
{
    partition_sync_execute(arg);
    return NULL;
}

TEST(sync_on_a_worker_thread_while_appending)
{
    /* The loop thread keeps appending while a worker fdatasyncs; the high
     * watermark moves only to what each completed sync covered. */
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "3000", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    for (int round = 0; round < 30; round++) {
        fill(p, 3, 2, 0);
        partition_sync_t job;
        pthread_t th;
        CHECK_OK(partition_sync_prepare(p, &job));
        int64_t target = job.target_offset;
        CHECK(pthread_create(&th, NULL, sync_worker, &job) == 0);
        fill(p, 2, 2, 0);           /* rolls segments while the sync runs */
        CHECK(pthread_join(th, NULL) == 0);
        CHECK_OK(partition_sync_complete(&job));
        CHECK_EQ_INT(partition_high_watermark(p), target);
        CHECK(partition_high_watermark(p) < partition_log_end_offset(p));
    }
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(partition_high_watermark(p), 300);
    check_sequence(p, 0, 300);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(read_whole_batches_from_mid_batch_offset)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 10, 10, 0);
    CHECK_OK(log_flush(log));
    log_read_t r;
    /* Offset 35 lives in the batch 30..39: that batch comes back whole. */
    CHECK_OK(partition_read(p, 35, 1, INT64_MAX, &r));
    CHECK_EQ_INT(r.first_offset, 30);
    CHECK_EQ_INT(r.next_offset, 40);    /* one batch although max_bytes is 1 */
    CHECK(r.len > 0);
    int64_t one = r.len;
    log_read_release(&r);
    CHECK_OK(partition_read(p, 35, one * 3, INT64_MAX, &r));
    CHECK_EQ_INT(r.next_offset, 60);
    CHECK_EQ_INT(r.len, one * 3);
    log_read_release(&r);
    /* Bounded by max_offset (e.g. a last stable offset). */
    CHECK_OK(partition_read(p, 35, 1 << 20, 50, &r));
    CHECK_EQ_INT(r.next_offset, 50);
    log_read_release(&r);
    CHECK_OK(partition_read(p, 100, 1 << 20, INT64_MAX, &r));
    CHECK_EQ_INT(r.len, 0);
    CHECK_EQ_INT(partition_read(p, 101, 1 << 20, INT64_MAX, &r), KP_EOFFSET);
    check_sequence(p, 0, 100);
    check_sequence(p, 57, 100);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(rejects_bad_batches)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"max.message.bytes", "200", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    uint8_t *buf;
    size_t len;
    partition_append_result_t res;
    CHECK_OK(tl_make_batch(0, 3, "v", 0, 0, 0, &buf, &len));
    buf[len - 1] ^= 0x40;
    CHECK_EQ_INT(partition_append(p, buf, len, &res), KP_ECRC);
    buf[len - 1] ^= 0x40;
    CHECK_EQ_INT(partition_append(p, buf, len - 1, &res), KP_ECORRUPT);
    buf[16] = 1;
    CHECK_EQ_INT(partition_append(p, buf, len, &res), KP_EUNSUPPORTED);
    buf[16] = 2;
    kp_free(buf);
    CHECK_OK(tl_make_batch(0, 30, "value-that-is-long-", 0, 0, 0, &buf, &len));
    CHECK(len > 200);
    CHECK_EQ_INT(partition_append(p, buf, len, &res), KP_ETOOLARGE);
    kp_free(buf);
    CHECK_EQ_INT(partition_log_end_offset(p), 0);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(roll_by_size_and_time)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "1000", "segment.ms", "60000", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 40, 3, 0);
    CHECK(partition_segment_count(p) >= 3);
    CHECK_OK(log_flush(log));
    check_sequence(p, 0, 120);
    check_sequence(p, 61, 120);
    int before = partition_segment_count(p);
    CHECK_OK(partition_maybe_roll(p, kp_now_ms(), 0));
    CHECK_EQ_INT(partition_segment_count(p), before);
    CHECK_OK(partition_maybe_roll(p, kp_now_ms() + 61000, 0));
    CHECK_EQ_INT(partition_segment_count(p), before + 1);
    /* An empty active segment is never rolled. */
    CHECK_OK(partition_maybe_roll(p, kp_now_ms() + 999999, 1));
    CHECK_EQ_INT(partition_segment_count(p), before + 1);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(reopen_clean_and_unclean)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "4000", "index.interval.bytes", "100", NULL};
    CHECK_OK(log_topic_create(log, "t", 2, over));
    fill(log_partition(log, "t", 0), 100, 4, 0);
    fill(log_partition(log, "t", 1), 3, 4, 0);
    CHECK_OK(log_close(log));

    char marker[512];
    snprintf(marker, sizeof marker, "%s/.kappa_clean_shutdown", dir);
    CHECK(access(marker, F_OK) == 0);
    logbuf[0] = 0;
    kp_log_set_sink(capture, NULL);
    log = open_log(dir);
    kp_log_set_sink(NULL, NULL);
    CHECK(strstr(logbuf, "after a clean shutdown"));
    CHECK(access(marker, F_OK) != 0);    /* removed before any append */
    partition_t *p = log_partition(log, "t", 0);
    CHECK_EQ_INT(partition_high_watermark(p), 400);
    CHECK_EQ_INT(log_topic_config(log_topic_find(log, "t"))->segment_bytes, 4000);
    check_sequence(p, 0, 400);
    check_sequence(p, 217, 400);
    fill(p, 5, 4, 0);
    log_abandon(log);               /* a crash: no flush, no marker */

    log = open_log(dir);
    p = log_partition(log, "t", 0);
    /* The unsynced appends were in the page cache, so they survive a process
     * crash; recovery scanned and synced them. */
    CHECK_EQ_INT(partition_log_end_offset(p), 420);
    CHECK_EQ_INT(partition_high_watermark(p), 420);
    check_sequence(p, 0, 420);
    check_sequence(log_partition(log, "t", 1), 0, 12);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

static void last_segment_path(const char *dir, const char *part, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls %s/%s/*.log | sort | tail -n 1", dir, part);
    FILE *f = popen(cmd, "r");
    CHECK(f && fgets(out, (int)cap, f));
    pclose(f);
    out[strcspn(out, "\n")] = 0;
}

TEST(recovery_truncates_torn_tail)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    fill(log_partition(log, "t", 0), 10, 4, 0);
    CHECK_OK(log_flush(log));
    log_abandon(log);

    char seg[1024];
    last_segment_path(dir, "t-0", seg, sizeof seg);
    struct stat st;
    CHECK(stat(seg, &st) == 0);
    /* Tear the last batch in half. */
    CHECK(truncate(seg, st.st_size - 20) == 0);
    logbuf[0] = 0;
    kp_log_set_sink(capture, NULL);
    log = open_log(dir);
    kp_log_set_sink(NULL, NULL);
    CHECK(strstr(logbuf, "truncating"));
    partition_t *p = log_partition(log, "t", 0);
    CHECK_EQ_INT(partition_log_end_offset(p), 36);
    check_sequence(p, 0, 36);
    /* Appends continue at the recovered end. */
    fill(p, 1, 4, 0);
    CHECK_OK(log_flush(log));
    check_sequence(p, 0, 40);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(recovery_stops_at_bad_crc_and_drops_later_segments)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "2000", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 60, 4, 0);
    CHECK_OK(log_flush(log));
    int nseg = partition_segment_count(p);
    CHECK(nseg >= 4);
    char second[1024];
    segment_file_path(second, sizeof second, p->dir, p->segs[1]->base_offset, ".log");
    int64_t second_base = p->segs[1]->base_offset;
    log_abandon(log);

    /* Flip a byte inside the second batch of the second segment. */
    int fd = open(second, O_RDWR);
    CHECK(fd >= 0);
    uint8_t hdr[61];
    CHECK(pread(fd, hdr, 61, 0) == 61);
    batch_header_t h;
    CHECK_OK(batch_header_decode(hdr, 61, &h));
    off_t at = (off_t)batch_size(&h) + 70;
    uint8_t b;
    CHECK(pread(fd, &b, 1, at) == 1);
    b ^= 1;
    CHECK(pwrite(fd, &b, 1, at) == 1);
    close(fd);

    /* Indexes would let a clean open skip the scan: make it unclean. */
    logbuf[0] = 0;
    kp_log_set_sink(capture, NULL);
    log = open_log(dir);
    kp_log_set_sink(NULL, NULL);
    CHECK(strstr(logbuf, "CRC-32C mismatch"));
    CHECK(strstr(logbuf, "follows the truncation point"));
    /* The segments after the cut leave the log but their bytes are kept. */
    char cmd[1100], n[16] = "";
    snprintf(cmd, sizeof cmd, "ls %s/t-0 | grep -c 'log.corrupt$'", dir);
    FILE *f = popen(cmd, "r");
    CHECK(f && fgets(n, sizeof n, f));
    pclose(f);
    CHECK_EQ_INT(atoi(n), nseg - 2);
    p = log_partition(log, "t", 0);
    CHECK_EQ_INT(partition_segment_count(p), 2);
    CHECK_EQ_INT(partition_log_end_offset(p), second_base + h.record_count);
    check_sequence(p, 0, second_base + h.record_count);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(bad_index_is_rebuilt)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"index.interval.bytes", "50", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 50, 2, 0);
    CHECK_OK(log_close(log));

    char idx[1024];
    snprintf(idx, sizeof idx, "%s/t-0/00000000000000000000.index", dir);
    struct stat st;
    CHECK(stat(idx, &st) == 0 && st.st_size >= 16);
    /* Entries that go backwards: implausible, so rebuilt. */
    int fd = open(idx, O_RDWR);
    uint8_t junk[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(pwrite(fd, junk, 8, 8) == 8);
    close(fd);
    logbuf[0] = 0;
    kp_log_set_sink(capture, NULL);
    log = open_log(dir);
    kp_log_set_sink(NULL, NULL);
    CHECK(strstr(logbuf, "rebuilding"));
    p = log_partition(log, "t", 0);
    CHECK_EQ_INT(partition_high_watermark(p), 100);
    check_sequence(p, 0, 100);
    check_sequence(p, 77, 100);
    CHECK_OK(log_close(log));

    /* A plausible but wrong entry (monotonic, in range, pointing inside a
     * batch) passes the open-time check; the read that uses it notices. */
    fd = open(idx, O_RDWR);
    uint8_t e[8];
    CHECK(pread(fd, e, 8, 8) == 8);
    e[7] += 1;
    CHECK(pwrite(fd, e, 8, 8) == 8);
    close(fd);
    logbuf[0] = 0;
    kp_log_set_sink(capture, NULL);
    log = open_log(dir);
    CHECK(strstr(logbuf, "rebuilding") == NULL);    /* plausible: trusted at open */
    check_sequence(log_partition(log, "t", 0), 0, 100);
    for (int i = 0; i < 100; i++)
        check_sequence(log_partition(log, "t", 0), i, 100);
    kp_log_set_sink(NULL, NULL);
    CHECK(strstr(logbuf, "does not match the log"));
    CHECK_OK(log_close(log));

    /* A deleted index is rebuilt too. */
    CHECK(unlink(idx) == 0);
    log = open_log(dir);
    check_sequence(log_partition(log, "t", 0), 33, 100);
    CHECK_OK(log_close(log));
    CHECK(access(idx, F_OK) == 0);
    test_rmtree(dir);
}

TEST(offset_for_timestamp)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "1000", "index.interval.bytes", "200", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    /* Record i has timestamp 10000 + 10*i: batches of 5, ts spaced. */
    for (int b = 0; b < 40; b++) {
        batch_builder_t bb;
        uint8_t *buf;
        size_t len;
        CHECK_OK(batch_builder_init(&bb, b % 2 ? 1 : 0, 10000 + 50 * b, -1, -1, -1));
        for (int i = 0; i < 5; i++)
            CHECK_OK(batch_builder_add(&bb, i, 10000 + 10 * (5 * b + i), NULL, -1, "x", 1,
                                       NULL, 0, 0));
        CHECK_OK(batch_builder_finish(&bb, -1, &buf, &len));
        tl_append(p, buf, len);
        kp_free(buf);
    }
    int64_t off, ts;
    CHECK_EQ_INT(partition_offset_for_time(p, 10000, &off, &ts), KP_ENOTFOUND);  /* unsynced */
    CHECK_OK(log_flush(log));
    CHECK(partition_segment_count(p) > 2);
    CHECK_OK(partition_offset_for_time(p, 0, &off, &ts));
    CHECK_EQ_INT(off, 0);
    CHECK_OK(partition_offset_for_time(p, 10000 + 10 * 123, &off, &ts));
    CHECK_EQ_INT(off, 123);
    CHECK_EQ_INT(ts, 10000 + 1230);
    CHECK_OK(partition_offset_for_time(p, 10000 + 10 * 123 - 5, &off, &ts));
    CHECK_EQ_INT(off, 123);
    CHECK_OK(partition_offset_for_time(p, 10000 + 10 * 199, &off, &ts));
    CHECK_EQ_INT(off, 199);
    CHECK_EQ_INT(partition_offset_for_time(p, 10000 + 10 * 199 + 1, &off, &ts), KP_ENOTFOUND);
    /* After a clean reopen the time indexes come from disk. */
    CHECK_OK(log_close(log));
    log = open_log(dir);
    p = log_partition(log, "t", 0);
    for (int i = 0; i < 200; i += 7) {
        CHECK_OK(partition_offset_for_time(p, 10000 + 10 * i, &off, &ts));
        CHECK_EQ_INT(off, i);
    }
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(retention_by_bytes_time_and_start_offset)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "1000", "retention.bytes", "3000", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 60, 4, 0);
    CHECK_OK(log_flush(log));
    log_read_t held;
    CHECK_OK(partition_read(p, 0, 100, INT64_MAX, &held));   /* a sendfile in flight */
    int deleted;
    CHECK_OK(partition_apply_retention(p, kp_now_ms(), &deleted));
    CHECK(deleted > 0);
    CHECK(partition_size_bytes(p) < 3000 + 1000);
    CHECK(partition_size_bytes(p) >= 3000 - 1000);
    int64_t start = partition_log_start_offset(p);
    CHECK(start > 0);
    log_read_t r;
    CHECK_EQ_INT(partition_read(p, 0, 100, INT64_MAX, &r), KP_EOFFSET);
    check_sequence(p, start, 240);
    /* The deleted segment's bytes stay readable through the held reference. */
    uint8_t hb[61];
    CHECK(pread(held.fd, hb, 61, held.pos) == 61);
    log_read_release(&held);
    CHECK_OK(log_close(log));

    /* The start offset survives a restart. */
    log = open_log(dir);
    p = log_partition(log, "t", 0);
    CHECK_EQ_INT(partition_log_start_offset(p), start);
    /* DeleteRecords moves the start; whole segments below it go. */
    CHECK_OK(partition_delete_records(p, 200));
    CHECK_EQ_INT(partition_delete_records(p, 999), KP_EOFFSET);
    CHECK_OK(partition_apply_retention(p, kp_now_ms(), &deleted));
    CHECK_EQ_INT(partition_log_start_offset(p), 200);
    check_sequence(p, 200, 240);
    /* Time retention: everything has timestamps near 0, so all but the
     * active segment is older than 1 hour. */
    const char *ret[] = {"retention.ms", "3600000", NULL};
    CHECK_OK(log_topic_alter_config(log, "t", ret));
    CHECK_OK(partition_apply_retention(p, kp_now_ms(), &deleted));
    CHECK_EQ_INT(partition_segment_count(p), 1);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(forever_is_the_default)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"segment.bytes", "1000", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 30, 4, 0);      /* timestamps in 1970 */
    int deleted;
    CHECK_OK(log_maintain(log, kp_now_ms()));
    CHECK_OK(partition_apply_retention(p, kp_now_ms() + 100LL * 365 * 86400000, &deleted));
    CHECK_EQ_INT(deleted, 0);
    check_sequence(p, 0, 120);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(compaction_keeps_latest_per_key)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"cleanup.policy", "compact", "segment.bytes", "1500",
                          "delete.retention.ms", "1000", NULL};
    CHECK_OK(log_topic_create(log, "c", 1, over));
    partition_t *p = log_partition(log, "c", 0);
    int64_t now = kp_now_ms();
    /* 300 updates over 10 keys; then delete k3 (old tombstone) and k4 (new). */
    for (int i = 0; i < 300; i++) {
        char k[16], v[32];
        uint8_t *buf;
        size_t len;
        snprintf(k, sizeof k, "k%d", i % 10);
        snprintf(v, sizeof v, "v%d", i);
        CHECK_OK(tl_make_kv(k, v, now - 100000 + i, &buf, &len));
        tl_append(p, buf, len);
        kp_free(buf);
    }
    uint8_t *buf;
    size_t len;
    CHECK_OK(tl_make_kv("k3", NULL, now - 50000, &buf, &len));
    int64_t tomb_old = tl_append(p, buf, len);
    kp_free(buf);
    CHECK_OK(tl_make_kv("k4", NULL, now, &buf, &len));
    int64_t tomb_new = tl_append(p, buf, len);
    kp_free(buf);
    CHECK_OK(tl_make_kv("other", "last", now, &buf, &len));
    tl_append(p, buf, len);
    kp_free(buf);
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(log_flush(log));
    int64_t before = partition_size_bytes(p);

    compact_stats_t st;
    CHECK_OK(partition_compact(p, now, &st));
    if (st.segments == 0)
        printf("# compact: segs=%d read=%lld kept=%lld\n", partition_segment_count(p),
               (long long)st.records_read, (long long)st.records_kept);
    CHECK(st.segments > 0);
    CHECK(partition_size_bytes(p) < before / 4);
    tl_rec_t *r;
    int n = tl_read_all(p, 0, 1 << 20, &r);
    CHECK(n > 0);
    /* Survivors: k0..k9 latest except k3 (old tombstone gone) and k4 (fresh
     * tombstone kept), plus "other". */
    int seen_k4_tomb = 0, seen_other = 0, count = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].key, "k3") == 0)
            test_fail(__FILE__, __LINE__, "k3 should be gone (offset %lld)",
                      (long long)r[i].offset);
        if (strcmp(r[i].key, "k4") == 0) {
            CHECK(!r[i].has_value);
            CHECK_EQ_INT(r[i].offset, tomb_new);
            seen_k4_tomb = 1;
        } else if (strcmp(r[i].key, "other") == 0) {
            seen_other = 1;
        } else {
            int k = atoi(r[i].key + 1);
            char want[32];
            snprintf(want, sizeof want, "v%d", 290 + k);
            CHECK(strcmp(r[i].value, want) == 0);
            CHECK_EQ_INT(r[i].offset, 290 + k);
        }
        if (i > 0)
            CHECK(r[i].offset > r[i - 1].offset);
        count++;
    }
    CHECK(seen_k4_tomb && seen_other);
    CHECK_EQ_INT(count, 10);    /* 8 live keys + k4 tombstone + other */
    kp_free(r);
    (void)tomb_old;
    /* Offsets are unchanged: the end is where it was, appends continue. */
    CHECK_EQ_INT(partition_log_end_offset(p), 303);
    CHECK_OK(log_close(log));

    /* The compacted segments pass a full recovery scan. */
    char marker[512];
    snprintf(marker, sizeof marker, "%s/.kappa_clean_shutdown", dir);
    unlink(marker);
    log = open_log(dir);
    p = log_partition(log, "c", 0);
    n = tl_read_all(p, 0, 1 << 20, &r);
    CHECK_EQ_INT(n, 10);
    kp_free(r);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(topics_config_and_lifecycle)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *bad_key[] = {"no.such.key", "1", NULL};
    const char *bad_val[] = {"segment.bytes", "lots", NULL};
    CHECK_EQ_INT(log_topic_create(log, "t", 1, bad_key), KP_ENOTFOUND);
    CHECK_EQ_INT(log_topic_create(log, "t", 1, bad_val), KP_EINVAL);
    CHECK_EQ_INT(log_topic_create(log, "bad/name", 1, NULL), KP_EINVAL);
    CHECK_EQ_INT(log_topic_create(log, "t", 0, NULL), KP_EINVAL);
    CHECK(log_topic_find(log, "t") == NULL);
    const char *over[] = {"cleanup.policy", "compact,delete", "retention.ms", "1000", NULL};
    CHECK_OK(log_topic_create(log, "t", 3, over));
    CHECK_EQ_INT(log_topic_create(log, "t", 3, NULL), KP_EEXISTS);
    CHECK_OK(log_topic_add_partitions(log, "t", 5));
    CHECK_EQ_INT(log_topic_add_partitions(log, "t", 4), KP_EINVAL);
    fill(log_partition(log, "t", 4), 2, 2, 0);
    const char *alter[] = {"retention.ms", "", "segment.ms", "5000", NULL};
    CHECK_OK(log_topic_alter_config(log, "t", alter));
    CHECK_OK(log_close(log));

    log = open_log(dir);
    log_topic_t *t = log_topic_find(log, "t");
    CHECK(t != NULL);
    CHECK_EQ_INT(log_topic_partitions(t), 5);
    const log_config_t *c = log_topic_config(t);
    CHECK_EQ_INT(c->cleanup_policy, LOG_CLEANUP_COMPACT | LOG_CLEANUP_DELETE);
    CHECK_EQ_INT(c->retention_ms, -1);      /* override removed */
    CHECK_EQ_INT(c->segment_ms, 5000);
    char v[64];
    CHECK_OK(log_config_get(c, "cleanup.policy", v, sizeof v));
    CHECK(strcmp(v, "compact,delete") == 0);
    CHECK_EQ_INT(partition_high_watermark(log_partition(log, "t", 4)), 4);
    CHECK_OK(log_topic_delete(log, "t"));
    CHECK(log_topic_find(log, "t") == NULL);
    CHECK_EQ_INT(log_topic_delete(log, "t"), KP_ENOTFOUND);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    CHECK_EQ_INT(partition_log_end_offset(log_partition(log, "t", 0)), 0);
    CHECK_OK(log_close(log));
    log = open_log(dir);
    CHECK_EQ_INT(log_topic_count(log), 1);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(recreated_topic_ignores_old_checkpoints)
{
    /* A topic deleted and recreated under the same name must not inherit
     * the old one's log start offset or recovery point after a crash. */
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 10, 5, 0);
    CHECK_OK(log_flush(log));
    CHECK_OK(partition_delete_records(p, 40));
    CHECK_OK(log_checkpoint(log));
    CHECK_OK(log_topic_delete(log, "t"));
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    p = log_partition(log, "t", 0);
    fill(p, 2, 5, 0);
    CHECK_OK(log_flush(log));
    log_abandon(log);
    log = open_log(dir);
    p = log_partition(log, "t", 0);
    CHECK_EQ_INT(partition_log_start_offset(p), 0);
    check_sequence(p, 0, 10);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(trusted_reopen_keeps_max_timestamp)
{
    /* Out-of-order timestamps: the newest must survive a clean reopen, or
     * time lookups and retention go wrong. */
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"index.interval.bytes", "0", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    int64_t now = kp_now_ms();
    int64_t ts[] = {10, now, 10};
    for (int i = 0; i < 3; i++) {
        uint8_t *buf;
        size_t len;
        CHECK_OK(tl_make_kv(NULL, "x", ts[i], &buf, &len));
        tl_append(p, buf, len);
        kp_free(buf);
    }
    CHECK_OK(partition_maybe_roll(p, now, 1));
    CHECK_OK(log_close(log));
    log = open_log(dir);
    p = log_partition(log, "t", 0);
    int64_t off, found;
    CHECK_OK(partition_offset_for_time(p, 500, &off, &found));
    CHECK_EQ_INT(off, 1);
    const char *ret[] = {"retention.ms", "3600000", NULL};
    CHECK_OK(log_topic_alter_config(log, "t", ret));
    int deleted;
    CHECK_OK(partition_apply_retention(p, now, &deleted));
    CHECK_EQ_INT(deleted, 0);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(index_allocation_failure_keeps_offsets_right)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    const char *over[] = {"index.interval.bytes", "0", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    uint8_t *buf;
    size_t len;
    fill(p, 1, 3, 0);
    CHECK_OK(tl_make_batch(0, 3, "v", 3, 0, 3, &buf, &len));
    kp_mem_fail_after(0);           /* the index push of this append fails */
    partition_append_result_t res;
    int rc = partition_append(p, buf, len, &res);
    kp_mem_fail_reset();
    kp_free(buf);
    CHECK_OK(rc);
    CHECK_EQ_INT(res.base_offset, 3);
    CHECK_OK(partition_maybe_roll(p, kp_now_ms(), 1));
    fill(p, 1, 3, 0);
    CHECK_OK(log_flush(log));
    check_sequence(p, 0, 9);
    check_sequence(p, 4, 9);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(one_process_per_log_directory)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir), *other;
    kp_log_set_sink(capture, NULL);
    CHECK_EQ_INT(log_open(dir, NULL, &other), KP_ELOCKED);
    kp_log_set_sink(NULL, NULL);
    CHECK_OK(log_close(log));
    CHECK_OK(log_open(dir, NULL, &other));
    CHECK_OK(log_close(other));
    test_rmtree(dir);
}

/* ---- failures through a swapped file layer ---- */

static int fail_fdatasync(int fd) { (void)fd; return -EIO; }
static ssize_t enospc_pwrite(int fd, const void *b, size_t n, off_t off)
{
    /* Write half, then report the disk full, as a real short write would. */
    ssize_t w = pwrite(fd, b, n / 2, off);
    (void)w;
    return -ENOSPC;
}

TEST(fsync_failure_fail_stops_the_partition)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 2, NULL));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 2, 2, 0);
    CHECK_OK(log_flush(log));
    fill(p, 2, 2, 0);
    fill(log_partition(log, "t", 1), 1, 1, 0);
    kp_file_ops_t ops = kp_file_os_ops;
    ops.fdatasync = fail_fdatasync;
    kp_file_set_ops(&ops);
    kp_log_set_sink(capture, NULL);
    int rc = log_flush(log);
    kp_log_set_sink(NULL, NULL);
    kp_file_set_ops(NULL);
    CHECK_EQ_INT(rc, -EIO);
    CHECK_EQ_INT(partition_failed(p), -EIO);
    CHECK_EQ_INT(partition_high_watermark(p), 4);     /* never passes the synced end */
    uint8_t *buf;
    size_t len;
    partition_append_result_t res;
    CHECK_OK(tl_make_batch(0, 1, "v", 0, 0, 0, &buf, &len));
    CHECK_EQ_INT(partition_append(p, buf, len, &res), KP_EFAILED);
    kp_free(buf);
    /* A later successful fsync must not be taken as covering it either. */
    CHECK_OK(log_flush(log) == -EIO ? 0 : 0);
    CHECK_EQ_INT(partition_high_watermark(p), 4);
    check_sequence(p, 0, 4);
    CHECK(strstr(logbuf, "fdatasync failed"));
    /* The other partition's fate is its own. */
    CHECK_EQ_INT(partition_failed(log_partition(log, "t", 1)), -EIO);
    CHECK(log_close(log) != 0);
    test_rmtree(dir);
}

TEST(failed_write_is_undone_and_appends_resume)
{
    const char *dir = test_tmpdir("log");
    log_t *log = open_log(dir);
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    partition_t *p = log_partition(log, "t", 0);
    fill(p, 3, 2, 0);
    int64_t size = partition_size_bytes(p);
    uint8_t *buf;
    size_t len;
    partition_append_result_t res;
    CHECK_OK(tl_make_batch(0, 2, "v", 6, 0, 6, &buf, &len));
    kp_file_ops_t ops = kp_file_os_ops;
    ops.pwrite = enospc_pwrite;
    kp_file_set_ops(&ops);
    int rc = partition_append(p, buf, len, &res);
    kp_file_set_ops(NULL);
    CHECK_EQ_INT(rc, -ENOSPC);
    CHECK_EQ_INT(partition_failed(p), 0);
    CHECK_EQ_INT(partition_size_bytes(p), size);
    struct stat st;
    CHECK(fstat(p->segs[0]->fd, &st) == 0 && st.st_size == size);   /* truncated back */
    CHECK_EQ_INT(tl_append(p, buf, len), 6);
    kp_free(buf);
    CHECK_OK(log_flush(log));
    check_sequence(p, 0, 8);
    CHECK_OK(log_close(log));
    test_rmtree(dir);
}

TEST(allocation_failures_are_reported)
{
    /* Fail the Nth allocation of a whole open-create-append-close cycle for
     * every N until the cycle runs clean; each failure must surface as an
     * error (never a crash), and the sanitizer build checks for leaks. */
    int clean_run = 0;
    for (long n = 0; n < 2000 && !clean_run; n++) {
        const char *dir = test_tmpdir("oom");
        log_t *log = NULL;
        kp_log_set_sink(capture, NULL);
        kp_mem_fail_after(n);
        int rc = log_open(dir, NULL, &log);
        if (rc == 0)
            rc = log_topic_create(log, "t", 2, NULL);
        if (rc == 0) {
            uint8_t *buf = NULL;
            size_t len;
            rc = tl_make_batch(0, 3, "v", 0, 0, 0, &buf, &len);
            partition_append_result_t res;
            if (rc == 0)
                rc = partition_append(log_partition(log, "t", 1), buf, len, &res);
            kp_free(buf);
        }
        if (rc == 0)
            rc = log_flush(log);
        long failures = kp_mem_failures();
        kp_mem_fail_reset();
        if (log) {
            int crc = log_close(log);
            if (rc == 0)
                rc = crc;
        }
        kp_log_set_sink(NULL, NULL);
        logbuf[0] = 0;
        if (failures == 0) {
            CHECK_OK(rc);
            clean_run = 1;
        }
        test_rmtree(dir);
    }
    CHECK(clean_run);
}

int main(void)
{
    RUN(append_is_invisible_until_synced);
    RUN(group_commit_one_sync_per_partition);
    RUN(async_sync_triple);
    RUN(sync_on_a_worker_thread_while_appending);
    RUN(read_whole_batches_from_mid_batch_offset);
    RUN(rejects_bad_batches);
    RUN(roll_by_size_and_time);
    RUN(reopen_clean_and_unclean);
    RUN(recovery_truncates_torn_tail);
    RUN(recovery_stops_at_bad_crc_and_drops_later_segments);
    RUN(bad_index_is_rebuilt);
    RUN(offset_for_timestamp);
    RUN(retention_by_bytes_time_and_start_offset);
    RUN(forever_is_the_default);
    RUN(compaction_keeps_latest_per_key);
    RUN(topics_config_and_lifecycle);
    RUN(recreated_topic_ignores_old_checkpoints);
    RUN(trusted_reopen_keeps_max_timestamp);
    RUN(index_allocation_failure_keeps_offsets_right);
    RUN(one_process_per_log_directory);
    RUN(fsync_failure_fail_stops_the_partition);
    RUN(failed_write_is_undone_and_appends_resume);
    RUN(allocation_failures_are_reported);
    return test_summary();
}

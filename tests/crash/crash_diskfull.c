/*
 * crash_diskfull.c -- a full disk, for real: the log on a 1 MiB tmpfs.
 *
 * Appends (each acknowledged after a flush) until the filesystem is full.
 * Then: the failing append reports ENOSPC clearly, the partition is not
 * fail-stopped (a full disk is not a lost fsync), nothing acknowledged is
 * lost or damaged, and appends resume as soon as space is freed -- across a
 * restart too.
 *
 * Mounting needs root (CI runs as root); the test runs in a private mount
 * namespace so the tmpfs disappears with the process.
 */
#include "test.h"
#include "testlog.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static char mnt[512];
static char lastlog[512];

static void keep_last(enum kp_log_level level, const char *line, void *ctx)
{
    (void)ctx;
    if (level >= KP_LOG_WARN)
        snprintf(lastlog, sizeof lastlog, "%s", line);
}

static void check_all(partition_t *p, int64_t end)
{
    tl_rec_t *r;
    int n = tl_read_all(p, 0, 1 << 20, &r);
    CHECK_EQ_INT(n, end);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        if (r[i].offset != i || strncmp(r[i].value, want, strlen(want)) != 0) {
            kp_free(r);
            test_fail(__FILE__, __LINE__, "record %d damaged", i);
        }
    }
    kp_free(r);
}

static int append_one(partition_t *p, partition_append_result_t *res)
{
    /* ~4 KiB batches: 4 records of ~1000 bytes. */
    char prefix[1100];
    memset(prefix, 'x', 1000);
    prefix[1000] = '\0';
    uint8_t *buf;
    size_t len;
    int64_t first = partition_log_end_offset(p);
    /* Value "v<offset>xxxx...": build by hand so the offset leads. */
    batch_builder_t b;
    int rc = batch_builder_init(&b, 0, first, -1, -1, -1);
    for (int i = 0; i < 4 && rc == 0; i++) {
        char v[1200];
        int vl = snprintf(v, sizeof v, "v%lld-%s", (long long)(first + i), prefix);
        rc = batch_builder_add(&b, i, first + i, NULL, -1, v, vl, NULL, 0, 0);
    }
    if (rc)
        return rc;
    CHECK_OK(batch_builder_finish(&b, -1, &buf, &len));
    rc = partition_append(p, buf, len, res);
    kp_free(buf);
    return rc;
}

TEST(full_disk_fails_cleanly_and_recovers)
{
    char logdir[600], ballast[600];
    snprintf(logdir, sizeof logdir, "%s/log", mnt);
    snprintf(ballast, sizeof ballast, "%s/ballast", mnt);
    /* Leave room to free later. */
    int fd = open(ballast, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    char block[4096];
    memset(block, 'b', sizeof block);
    for (int i = 0; i < 64; i++)
        CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
    close(fd);

    log_t *log;
    CHECK_OK(log_open(logdir, NULL, &log));
    const char *over[] = {"segment.bytes", "131072", NULL};
    CHECK_OK(log_topic_create(log, "t", 1, over));
    partition_t *p = log_partition(log, "t", 0);
    partition_append_result_t res;
    int rc = 0, appends = 0;
    kp_log_set_sink(keep_last, NULL);
    while (appends < 10000) {
        rc = append_one(p, &res);
        if (rc)
            break;
        CHECK_OK(log_flush(log));
        appends++;
    }
    kp_log_set_sink(NULL, NULL);
    int64_t acked = partition_high_watermark(p);
    printf("# disk full after %d acknowledged appends (%lld records): %s\n", appends,
           (long long)acked, kp_strerror(rc));
    CHECK_EQ_INT(rc, -ENOSPC);
    CHECK(strcmp(kp_strerror(rc), "No space left on device") == 0);
    CHECK(appends > 10);
    CHECK_EQ_INT(partition_failed(p), 0);
    CHECK_EQ_INT(partition_log_end_offset(p), acked);
    check_all(p, acked);
    /* Still full: still a clean refusal. */
    CHECK_EQ_INT(append_one(p, &res), -ENOSPC);
    CHECK_EQ_INT(partition_log_end_offset(p), acked);

    /* Free space: appends resume where they stopped. */
    CHECK(unlink(ballast) == 0);
    for (int i = 0; i < 5; i++)
        CHECK_OK(append_one(p, &res));
    CHECK_EQ_INT(res.base_offset, acked + 16);
    CHECK_OK(log_flush(log));
    CHECK_EQ_INT(partition_high_watermark(p), acked + 20);
    check_all(p, acked + 20);
    CHECK_OK(log_close(log));

    /* And survives a restart, clean and unclean. */
    CHECK_OK(log_open(logdir, NULL, &log));
    check_all(log_partition(log, "t", 0), acked + 20);
    log_abandon(log);
    CHECK_OK(log_open(logdir, NULL, &log));
    check_all(log_partition(log, "t", 0), acked + 20);
    CHECK_OK(log_close(log));
}

int main(void)
{
    if (geteuid() != 0) {
        printf("FAIL: full_disk_fails_cleanly_and_recovers: needs root to mount a tmpfs "
               "(run make test as root, as CI does)\n");
        return 1;
    }
    snprintf(mnt, sizeof mnt, "%s", test_tmpdir("diskfull"));
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
        printf("FAIL: full_disk_fails_cleanly_and_recovers: cannot mount tmpfs: %s\n",
               strerror(errno));
        return 1;
    }
    RUN(full_disk_fails_cleanly_and_recovers);
    umount(mnt);
    rmdir(mnt);
    return test_summary();
}

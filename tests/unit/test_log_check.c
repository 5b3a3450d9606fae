/*
 * test_log_check.c -- `kappa log check` run as a user would: the real
 * binary ($KAPPA, set by tests/run.sh) against log directories built here.
 */
#include "test.h"
#include "testlog.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "log/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[65536];

/* Run `kappa log check ARGS`; return its exit status, output in out[]. */
static int run_check(const char *args)
{
    const char *kappa = getenv("KAPPA");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s log check %s 2>&1", kappa ? kappa : "build/kappa", args);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void quiet(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)line; (void)ctx;
}

static void make_log(const char *dir)
{
    log_t *log;
    kp_log_set_sink(quiet, NULL);
    CHECK_OK(log_open(dir, NULL, &log));
    const char *over[] = {"segment.bytes", "2000", NULL};
    CHECK_OK(log_topic_create(log, "orders", 2, over));
    CHECK_OK(log_topic_create(log, "users", 1, NULL));
    for (int i = 0; i < 40; i++) {
        uint8_t *buf;
        size_t len;
        partition_t *p = log_partition(log, "orders", i % 2);
        CHECK_OK(tl_make_batch(0, 5, "v", partition_log_end_offset(p), 0, 0, &buf, &len));
        tl_append(p, buf, len);
        kp_free(buf);
    }
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
}

TEST(clean_log_summarised)
{
    const char *dir = test_tmpdir("chk");
    make_log(dir);
    char args[600];
    snprintf(args, sizeof args, "%s", dir);
    CHECK_EQ_INT(run_check(args), 0);
    CHECK(strstr(out, "clean shutdown marker"));
    CHECK(strstr(out, "orders-0"));
    CHECK(strstr(out, "orders-1"));
    CHECK(strstr(out, "users-0"));
    CHECK(strstr(out, "3 partition(s), 0 problem(s)"));
    /* orders-0: 20 batches of 5 records, offsets 0..99. */
    char *line = strstr(out, "orders-0");
    long segs, first, last, batches, records;
    CHECK(sscanf(line, "orders-0 %ld %ld %ld %ld %ld", &segs, &first, &last, &batches,
                 &records) == 5);
    CHECK(segs > 1);
    CHECK_EQ_INT(first, 0);
    CHECK_EQ_INT(last, 99);
    CHECK_EQ_INT(batches, 20);
    CHECK_EQ_INT(records, 100);
    /* A partition directory and a single file work too. */
    snprintf(args, sizeof args, "%s/orders-1", dir);
    CHECK_EQ_INT(run_check(args), 0);
    snprintf(args, sizeof args, "%s/orders-1/00000000000000000000.log", dir);
    CHECK_EQ_INT(run_check(args), 0);
    CHECK(strstr(out, "ok"));
    test_rmtree(dir);
}

TEST(corruption_reported_with_position)
{
    const char *dir = test_tmpdir("chk");
    make_log(dir);
    char seg[600];
    snprintf(seg, sizeof seg, "%s/orders-0/00000000000000000000.log", dir);
    int fd = open(seg, O_RDWR);
    CHECK(fd >= 0);
    uint8_t hdr[61];
    CHECK(pread(fd, hdr, 61, 0) == 61);
    batch_header_t h;
    CHECK_OK(batch_header_decode(hdr, 61, &h));
    long second = (long)batch_size(&h);
    uint8_t b;
    CHECK(pread(fd, &b, 1, second + 65) == 1);
    b ^= 0xff;
    CHECK(pwrite(fd, &b, 1, second + 65) == 1);
    close(fd);

    struct stat st_before, st_after;
    CHECK(stat(seg, &st_before) == 0);
    char args[600];
    snprintf(args, sizeof args, "%s", dir);
    CHECK_EQ_INT(run_check(args), 1);
    char want[128];
    snprintf(want, sizeof want, "first bad position %ld", second);
    CHECK(strstr(out, want));
    CHECK(strstr(out, "CRC-32C mismatch"));
    CHECK(strstr(out, "1 problem(s)"));
    CHECK(stat(seg, &st_after) == 0);
    CHECK_EQ_INT(st_after.st_size, st_before.st_size);      /* read-only */

    /* A torn tail in another partition. */
    snprintf(seg, sizeof seg, "%s/users-0/00000000000000000000.log", dir);
    fd = open(seg, O_WRONLY | O_APPEND);
    CHECK(write(fd, "\0\0\0\0\0\0\0\0\0\0\0\x40garbage", 19) == 19);
    close(fd);
    CHECK_EQ_INT(run_check(args), 1);
    CHECK(strstr(out, "partial batch header"));
    CHECK(strstr(out, "2 problem(s)"));
    test_rmtree(dir);
}

TEST(usage_errors)
{
    CHECK_EQ_INT(run_check("/nonexistent/kappa/dir"), 2);
    CHECK(strstr(out, "No such file or directory"));
    CHECK_EQ_INT(run_check(""), 2);
    CHECK(strstr(out, "usage: kappa log check"));
}

int main(void)
{
    RUN(clean_log_summarised);
    RUN(corruption_reported_with_position);
    RUN(usage_errors);
    return test_summary();
}

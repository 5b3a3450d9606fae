/*
 * crash_kill9.c -- a real kill -9 loop.
 *
 * A child process opens the log (recovering whatever the last kill left),
 * appends batches to two partitions, group-commits, and reports each
 * acknowledged high watermark on a pipe -- only after log_flush() returned,
 * exactly when a broker would answer the producer.  The parent kills it with
 * SIGKILL at a random moment (sometimes mid-recovery), then opens the log
 * itself and checks:
 *   - every acknowledged record is present (end offset >= acknowledged);
 *   - record at offset i has value "v<i>": nothing duplicated, reordered or
 *     lost in the middle;
 *   - offsets never go backwards: what the previous check saw is still there.
 * 60 kills in `make test`; KAPPA_LONG=1 makes it 2000.
 */
#include "test.h"
#include "testlog.h"
#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "log/log.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPART 2

static void quiet(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)line; (void)ctx;
}

static void child(const char *dir, int fd, uint64_t seed)
{
    log_t *log;
    kp_log_set_sink(quiet, NULL);
    if (log_open(dir, NULL, &log) != 0)
        _exit(3);
    if (!log_topic_find(log, "k")) {
        const char *over[] = {"segment.bytes", "65536", "index.interval.bytes", "512", NULL};
        if (log_topic_create(log, "k", NPART, over) != 0)
            _exit(4);
    }
    int64_t reported[NPART] = {-1, -1};
    for (uint64_t i = 0;; i++) {
        partition_t *p = log_partition(log, "k", (int32_t)(i % NPART));
        uint8_t *buf;
        size_t len;
        int n = 1 + (int)(test_rand(&seed) % 5);
        int64_t first = partition_log_end_offset(p);
        if (tl_make_batch(0, n, "v", first, 0, kp_now_ms(), &buf, &len) != 0)
            _exit(5);
        partition_append_result_t res;
        if (partition_append(p, buf, len, &res) != 0 || res.base_offset != first)
            _exit(6);
        kp_free(buf);
        if (test_rand(&seed) % 3 == 0) {
            if (log_flush(log) != 0)
                _exit(7);
            for (int j = 0; j < NPART; j++) {
                int64_t hw = partition_high_watermark(log_partition(log, "k", j));
                if (hw != reported[j]) {
                    char line[64];
                    int l = snprintf(line, sizeof line, "%d %lld\n", j, (long long)hw);
                    if (write(fd, line, (size_t)l) != l)
                        _exit(8);
                    reported[j] = hw;
                }
            }
        }
        if (i % 97 == 96 && log_maintain(log, kp_now_ms()) != 0)
            _exit(9);
    }
}

/* Parse complete "partition hw" lines out of buf. */
static void take_acks(char *buf, size_t *len, int64_t acked[NPART])
{
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(buf + *len - start))) != NULL) {
        int part;
        long long hw;
        *nl = '\0';
        if (sscanf(start, "%d %lld", &part, &hw) == 2 && part >= 0 && part < NPART &&
            hw > acked[part])
            acked[part] = hw;
        start = nl + 1;
    }
    size_t rest = (size_t)(buf + *len - start);
    memmove(buf, start, rest);
    *len = rest;
}

TEST(kill9_loses_nothing_acknowledged)
{
    const char *dir = test_tmpdir("kill9");
    uint64_t seed = test_seed();
    int kills = getenv("KAPPA_LONG") ? 2000 : 60;
    int64_t acked[NPART] = {0, 0}, seen[NPART] = {0, 0};
    int64_t total_acks = 0;
    kp_log_set_sink(quiet, NULL);

    for (int k = 0; k < kills; k++) {
        int pfd[2];
        CHECK(pipe(pfd) == 0);
        uint64_t cseed = seed + (uint64_t)k;
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            child(dir, pfd[1], cseed);
            _exit(0);
        }
        close(pfd[1]);
        char buf[4096];
        size_t len = 0;
        int64_t wait_ms = 2 + (int64_t)(test_rand(&cseed) % 40);
        int64_t deadline = kp_mono_ns() / 1000000 + wait_ms;
        for (;;) {
            int64_t left = deadline - kp_mono_ns() / 1000000;
            if (left <= 0)
                break;
            struct pollfd pf = {pfd[0], POLLIN, 0};
            if (poll(&pf, 1, (int)left) <= 0)
                continue;
            ssize_t r = read(pfd[0], buf + len, sizeof buf - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            take_acks(buf, &len, acked);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        /* Acknowledgements written before the kill still count. */
        ssize_t r;
        while ((r = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0) {
            len += (size_t)r;
            take_acks(buf, &len, acked);
        }
        close(pfd[0]);
        if (WIFEXITED(status))
            test_fail(__FILE__, __LINE__, "appender exited on its own with status %d "
                      "(kill %d)", WEXITSTATUS(status), k);

        log_t *log;
        CHECK_OK(log_open(dir, NULL, &log));
        for (int j = 0; j < NPART && log_topic_find(log, "k"); j++) {
            partition_t *p = log_partition(log, "k", j);
            int64_t end = partition_log_end_offset(p);
            if (end < acked[j] || end < seen[j])
                test_fail(__FILE__, __LINE__, "kill %d partition %d: end %lld, acknowledged "
                          "%lld, previously seen %lld (seed %llu)", k, j, (long long)end,
                          (long long)acked[j], (long long)seen[j], (unsigned long long)seed);
            tl_rec_t *recs;
            int n = tl_read_all(p, 0, 1 << 20, &recs);
            CHECK_EQ_INT(n, end);
            for (int i = 0; i < n; i++) {
                char want[32];
                snprintf(want, sizeof want, "v%d", i);
                if (recs[i].offset != i || strcmp(recs[i].value, want) != 0) {
                    long long off = recs[i].offset;
                    kp_free(recs);
                    test_fail(__FILE__, __LINE__, "kill %d partition %d: record %d has offset "
                              "%lld (seed %llu)", k, j, i, off, (unsigned long long)seed);
                }
            }
            kp_free(recs);
            seen[j] = end;
        }
        total_acks = acked[0] + acked[1];
        /* Alternate: a clean close, or leave it for the child to recover. */
        if (k % 2)
            CHECK_OK(log_close(log));
        else
            log_abandon(log);
    }
    kp_log_set_sink(NULL, NULL);
    printf("# %d kills, %lld records acknowledged, %lld + %lld in the log\n", kills,
           (long long)total_acks, (long long)seen[0], (long long)seen[1]);
    CHECK(total_acks > 0);
    test_rmtree(dir);
}

int main(void)
{
    RUN(kill9_loses_nothing_acknowledged);
    return test_summary();
}

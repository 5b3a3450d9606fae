/*
 * test_producer.c -- idempotent producer state: duplicates, gaps, epochs,
 * sequence wrap-around, the five-batch window, and rebuilding from the log.
 */
#include "test.h"
#include "testlog.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "log/log.h"
#include "log/producer.h"

#include <stdint.h>
#include <string.h>

static batch_header_t hdr(int64_t pid, int16_t epoch, int32_t seq, int32_t n, int64_t base)
{
    batch_header_t h;
    memset(&h, 0, sizeof h);
    h.producer_id = pid;
    h.producer_epoch = epoch;
    h.base_sequence = seq;
    h.last_offset_delta = n - 1;
    h.record_count = n;
    h.base_offset = base;
    return h;
}

TEST(duplicates_gaps_and_epochs)
{
    producer_state_t ps = {0};
    producer_batch_t dup;
    batch_header_t h = hdr(7, 0, 0, 3, 100);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), PRODUCER_NEW);
    CHECK_OK(producer_update(&ps, &h));
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), PRODUCER_DUPLICATE);
    CHECK_EQ_INT(dup.base_offset, 100);
    CHECK_EQ_INT(dup.last_offset, 102);
    h = hdr(7, 0, 4, 1, 0);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), KP_ESEQUENCE);
    h = hdr(7, 0, 3, 1, 103);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), PRODUCER_NEW);
    h = hdr(7, 1, 5, 1, 0);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), KP_ESEQUENCE);  /* new epoch, not 0 */
    h = hdr(7, 1, 0, 1, 104);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), PRODUCER_NEW);
    CHECK_OK(producer_update(&ps, &h));
    h = hdr(7, 0, 3, 1, 0);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), KP_EFENCED);
    h = hdr(8, 0, 9, 1, 0);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), KP_EUNKNOWNPRODUCER);
    h = hdr(-1, -1, -1, 1, 0);
    CHECK_EQ_INT(producer_check(&ps, &h, &dup), PRODUCER_NEW);  /* not idempotent */
    producer_state_free(&ps);
}

TEST(five_batch_window_and_wraparound)
{
    producer_state_t ps = {0};
    producer_batch_t dup;
    int32_t seq = INT32_MAX - 4;         /* wraps inside the run */
    batch_header_t first = hdr(1, 0, seq, 2, 0);
    /* A producer first seen mid-stream (e.g. after retention) is unknown
     * unless it starts at 0, so seed the state through update. */
    CHECK_OK(producer_update(&ps, &first));
    seq = (int32_t)(((int64_t)seq + 2) % ((int64_t)INT32_MAX + 1));
    for (int i = 1; i < 7; i++) {
        batch_header_t h = hdr(1, 0, seq, 2, 2 * i);
        CHECK_EQ_INT(producer_check(&ps, &h, &dup), PRODUCER_NEW);
        CHECK_OK(producer_update(&ps, &h));
        seq = (int32_t)(((int64_t)seq + 2) % ((int64_t)INT32_MAX + 1));
    }
    /* The newest five are recognised; the oldest two have left the window. */
    batch_header_t recent = hdr(1, 0, (int32_t)(seq - 2), 2, 0);
    CHECK_EQ_INT(producer_check(&ps, &recent, &dup), PRODUCER_DUPLICATE);
    CHECK_EQ_INT(dup.base_offset, 12);
    CHECK(producer_check(&ps, &first, &dup) < 0);
    producer_state_free(&ps);
}

static void quiet(enum kp_log_level l, const char *line, void *ctx)
{
    (void)l; (void)line; (void)ctx;
}

static uint8_t *pid_batch(int64_t pid, int16_t epoch, int32_t seq, size_t *len)
{
    batch_builder_t b;
    uint8_t *out;
    CHECK_OK(batch_builder_init(&b, 0, 1000, pid, epoch, seq));
    CHECK_OK(batch_builder_add(&b, 0, 1000, NULL, -1, "v", 1, NULL, 0, 0));
    CHECK_OK(batch_builder_add(&b, 1, 1000, NULL, -1, "w", 1, NULL, 0, 0));
    CHECK_OK(batch_builder_finish(&b, -1, &out, len));
    return out;
}

TEST(dedup_survives_reopen)
{
    const char *dir = test_tmpdir("prod");
    log_t *log;
    kp_log_set_sink(quiet, NULL);
    CHECK_OK(log_open(dir, NULL, &log));
    CHECK_OK(log_topic_create(log, "t", 1, NULL));
    partition_t *p = log_partition(log, "t", 0);
    partition_append_result_t r;
    size_t len;
    for (int32_t seq = 0; seq < 10; seq += 2) {
        uint8_t *b = pid_batch(42, 3, seq, &len);
        CHECK_OK(partition_append(p, b, len, &r));
        CHECK(!r.duplicate);
        kp_free(b);
    }
    CHECK_OK(log_flush(log));
    for (int clean = 1; clean >= 0; clean--) {
        if (clean) {
            CHECK_OK(log_close(log));
        } else {
            log_abandon(log);
        }
        CHECK_OK(log_open(dir, NULL, &log));
        p = log_partition(log, "t", 0);
        uint8_t *b = pid_batch(42, 3, 8, &len);
        CHECK_OK(partition_append(p, b, len, &r));
        kp_free(b);
        CHECK(r.duplicate);
        CHECK_EQ_INT(r.base_offset, 8);
        CHECK_EQ_INT(partition_log_end_offset(p), 10);
    }
    uint8_t *b = pid_batch(42, 3, 10, &len);
    CHECK_OK(partition_append(p, b, len, &r));
    kp_free(b);
    CHECK(!r.duplicate);
    CHECK_EQ_INT(r.base_offset, 10);
    CHECK_OK(log_close(log));
    kp_log_set_sink(NULL, NULL);
    test_rmtree(dir);
}

int main(void)
{
    RUN(duplicates_gaps_and_epochs);
    RUN(five_batch_window_and_wraparound);
    RUN(dedup_survives_reopen);
    return test_summary();
}

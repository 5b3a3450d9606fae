/*
 * test_core.c -- core modules: CRC-32C, allocation failure injection, error
 * strings, the file layer helpers, checkpoints, index encoding, config
 * parsing, batch header checks.
 */
#include "test.h"
#include "core/crc32c.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "io/file.h"
#include "log/batch.h"
#include "log/log.h"
#include "log/log_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(crc32c_known_vectors)
{
    CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    CHECK_EQ_INT(crc32c(0, zeros, 32), 0x8A9136AAu);       /* RFC 3720 B.4 */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK_EQ_INT(crc32c(0, ones, 32), 0x62A8AB43u);
    CHECK_EQ_INT(crc32c(0, "", 0), 0);
}

TEST(crc32c_hardware_matches_software)
{
    uint64_t rng = test_seed();
    size_t cap = 200000;
    uint8_t *buf = malloc(cap + 16);
    for (size_t i = 0; i < cap + 16; i++)
        buf[i] = (uint8_t)test_rand(&rng);
    /* Every alignment, lengths around the three-stream block boundaries. */
    size_t lens[] = {0, 1, 7, 8, 9, 63, 4096, 24575, 24576, 24577, 49152, 100003, 200000};
    for (size_t a = 0; a < 8; a++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            CHECK_EQ_INT(crc32c(0, buf + a, lens[i]), crc32c_sw(0, buf + a, lens[i]));
    /* Incremental equals one shot. */
    uint32_t inc = crc32c(crc32c(0, buf, 30000), buf + 30000, 70000);
    CHECK_EQ_INT(inc, crc32c_sw(0, buf, 100000));
    printf("# hardware crc32c: %s\n", crc32c_hw_available() ? "yes" : "no");
    free(buf);
}

TEST(allocation_failure_injection)
{
    kp_mem_fail_after(2);
    void *a = kp_malloc(10), *b = kp_malloc(10), *c = kp_malloc(10);
    CHECK(a && b && !c);
    CHECK(kp_strdup("x") == NULL);
    CHECK_EQ_INT(kp_mem_failures(), 2);
    kp_mem_fail_reset();
    void *d = kp_malloc(10);
    CHECK(d != NULL);
    kp_free(a);
    kp_free(b);
    kp_free(d);
}

TEST(error_strings)
{
    CHECK(strcmp(kp_strerror(-ENOSPC), "No space left on device") == 0);
    CHECK(strcmp(kp_strerror(KP_ECRC), "CRC-32C mismatch") == 0);
    CHECK(strstr(kp_strerror(KP_EFAILED), "stopped taking writes"));
    CHECK(kp_is_os_error(-EIO) && !kp_is_os_error(KP_ECORRUPT) && !kp_is_os_error(0));
}

TEST(atomic_write_and_mkdirs)
{
    const char *dir = test_tmpdir("core");
    char path[700], sub[600];
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    CHECK_OK(kp_file_mkdirs(sub, 0755));
    CHECK_OK(kp_file_mkdirs(sub, 0755));
    snprintf(path, sizeof path, "%s/f", sub);
    CHECK_OK(kp_file_write_atomic(path, "one", 3));
    CHECK_OK(kp_file_write_atomic(path, "second", 6));
    char *got;
    size_t len;
    CHECK_OK(kp_file_read_whole(path, 100, &got, &len));
    CHECK(len == 6 && strcmp(got, "second") == 0);
    kp_free(got);
    CHECK_EQ_INT(kp_file_read_whole(path, 3, &got, &len), KP_ETOOLARGE);
    char tmp[720];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    test_rmtree(dir);
}

TEST(checkpoint_roundtrip_and_garbage)
{
    const char *dir = test_tmpdir("core");
    char path[600];
    snprintf(path, sizeof path, "%s/cp", dir);
    ckpt_entry_t e[2] = {{"orders", 0, 42}, {"users.v2", 7, 1LL << 40}};
    CHECK_OK(checkpoint_write(path, e, 2));
    ckpt_entry_t *r;
    int n;
    CHECK_OK(checkpoint_read(path, &r, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(checkpoint_lookup(r, n, "users.v2", 7), 1LL << 40);
    CHECK_EQ_INT(checkpoint_lookup(r, n, "orders", 1), -1);
    kp_free(r);
    CHECK_OK(kp_file_write_atomic(path, "0\n5\norders 0 1\n", 15));
    CHECK_EQ_INT(checkpoint_read(path, &r, &n), KP_ECORRUPT);
    CHECK_OK(kp_file_write_atomic(path, "1\n0\n", 4));
    CHECK_EQ_INT(checkpoint_read(path, &r, &n), KP_ECORRUPT);
    test_rmtree(dir);
}

TEST(index_encode_decode_and_plausibility)
{
    offset_index_t ix = {0}, back;
    for (uint32_t i = 1; i <= 100; i++)
        CHECK_OK(offset_index_push(&ix, i * 10, i * 1000));
    CHECK_EQ_INT(offset_index_lookup(&ix, 5), -1);
    CHECK_EQ_INT(offset_index_lookup(&ix, 10), 0);
    CHECK_EQ_INT(offset_index_lookup(&ix, 555), 54);
    CHECK_EQ_INT(offset_index_lookup(&ix, 99999), 99);
    uint8_t *b;
    size_t len;
    CHECK_OK(offset_index_encode(&ix, &b, &len));
    CHECK_EQ_INT(len, 800);
    CHECK_OK(offset_index_decode(&back, b, len, 200000));
    CHECK_EQ_INT(back.n, 100);
    offset_index_free(&back);
    /* Position beyond the segment, partial entry, non-increasing: rejected. */
    CHECK_EQ_INT(offset_index_decode(&back, b, len, 50000), KP_ECORRUPT);
    CHECK_EQ_INT(offset_index_decode(&back, b, len - 3, 200000), KP_ECORRUPT);
    memcpy(b + 8, b, 8);
    CHECK_EQ_INT(offset_index_decode(&back, b, len, 200000), KP_ECORRUPT);
    kp_free(b);
    offset_index_free(&ix);
}

TEST(config_keys_and_values)
{
    log_config_t c;
    log_config_defaults(&c);
    CHECK_EQ_INT(c.retention_ms, -1);           /* the log is the system of record */
    CHECK_OK(log_config_set(&c, "retention.ms", "86400000"));
    CHECK_EQ_INT(c.retention_ms, 86400000);
    CHECK_EQ_INT(log_config_set(&c, "retention.ms", "-2"), KP_EINVAL);
    CHECK_EQ_INT(log_config_set(&c, "retention.ms", "12x"), KP_EINVAL);
    CHECK_EQ_INT(log_config_set(&c, "segment.bytes", "3000000000"), KP_EINVAL);
    CHECK_EQ_INT(log_config_set(&c, "cleanup.policy", "shred"), KP_EINVAL);
    CHECK_EQ_INT(log_config_set(&c, "retention.hours", "1"), KP_ENOTFOUND);
    CHECK_OK(log_config_set(&c, "cleanup.policy", "delete, compact"));
    CHECK_EQ_INT(c.cleanup_policy, LOG_CLEANUP_COMPACT | LOG_CLEANUP_DELETE);
    char v[64];
    for (int i = 0; log_config_keys[i]; i++)
        CHECK_OK(log_config_get(&c, log_config_keys[i], v, sizeof v));
}

TEST(batch_header_checks)
{
    uint8_t b[80] = {0};
    batch_header_t h;
    b[11] = 68;                 /* batchLength */
    b[16] = 2;
    b[60] = 1;                  /* recordCount */
    CHECK_OK(batch_header_decode(b, sizeof b, &h));
    CHECK_EQ_INT(batch_size(&h), 80);
    CHECK_EQ_INT(batch_header_decode(b, 60, &h), KP_ECORRUPT);
    b[16] = 1;
    CHECK_EQ_INT(batch_header_decode(b, sizeof b, &h), KP_EUNSUPPORTED);
    b[16] = 7;
    CHECK_EQ_INT(batch_header_decode(b, sizeof b, &h), KP_ECORRUPT);
    b[16] = 2;
    b[11] = 48;                 /* below the minimum of 49 */
    CHECK_EQ_INT(batch_header_decode(b, sizeof b, &h), KP_ECORRUPT);
    b[11] = 68;
    batch_crc_update(b, sizeof b);
    CHECK_OK(batch_crc_check(b, sizeof b));
    batch_set_base_offset(b, 12345);      /* outside the CRC */
    CHECK_OK(batch_crc_check(b, sizeof b));
    b[70] ^= 1;
    CHECK_EQ_INT(batch_crc_check(b, sizeof b), KP_ECRC);
}

int main(void)
{
    RUN(crc32c_known_vectors);
    RUN(crc32c_hardware_matches_software);
    RUN(allocation_failure_injection);
    RUN(error_strings);
    RUN(atomic_write_and_mkdirs);
    RUN(checkpoint_roundtrip_and_garbage);
    RUN(index_encode_decode_and_plausibility);
    RUN(config_keys_and_values);
    RUN(batch_header_checks);
    return test_summary();
}

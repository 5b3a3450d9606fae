/*
 * test_group.c -- the group coordinator's pure parts: Kafka's group ->
 * partition hash (Java's String.hashCode), the __consumer_offsets record
 * formats, and the per-group offset map.
 */
#include "test.h"
#include "kafka/group_int.h"
#include "core/kp_error.h"
#include "core/kp_endian.h"
#include "core/kp_mem.h"

#include <string.h>

static kstr_t ks(const char *s)
{
    return (kstr_t){s, (int32_t)strlen(s)};
}

TEST(java_hash_matches_java)
{
    CHECK_EQ_INT(group_java_hash("", 0), 0);
    CHECK_EQ_INT(group_java_hash("abc", 3), 96354);
    CHECK_EQ_INT(group_java_hash("hello", 5), 99162322);
    /* Wraps like a Java int. */
    CHECK_EQ_INT(group_java_hash("kafka-python-default-group", 26), -243457783);
    /* U+00E9 is one UTF-16 unit; U+1F600 a surrogate pair. */
    CHECK_EQ_INT(group_java_hash("\xc3\xa9", 2), 233);
    CHECK_EQ_INT(group_java_hash("\xf0\x9f\x98\x80", 4), 55357 * 31 + 56832);
    /* An invalid byte counts as U+FFFD, as Java's decoder substitutes. */
    CHECK_EQ_INT(group_java_hash("\xff", 1), 0xFFFD);
}

TEST(partition_for_is_kafkas)
{
    /* "g1": 'g'*31 + '1' = 3242. */
    CHECK_EQ_INT(group_partition_for(ks("g1"), 50), 42);
    /* Utils.abs, not & 0x7fffffff (which would give 15) for a negative hash. */
    CHECK_EQ_INT(group_partition_for(ks("kafka-python-default-group"), 50), 33);
    /* "polygenelubricants".hashCode() == Integer.MIN_VALUE; Utils.abs gives 0. */
    CHECK_EQ_INT(group_java_hash("polygenelubricants", 18), INT32_MIN);
    CHECK_EQ_INT(group_partition_for(ks("polygenelubricants"), 50), 0);
    CHECK_EQ_INT(group_partition_for(ks("x"), 0), 0);
}

TEST(offset_records_roundtrip)
{
    uint8_t key[300], val[300];
    size_t kl = group_offset_key_encode(key, ks("grp"), ks("topic"), 7);
    CHECK_EQ_INT(kl, group_offset_key_size(ks("grp"), ks("topic")));
    /* Kafka's layout: version 1, group, topic, partition. */
    CHECK_EQ_INT(kp_be16(key), 1);
    CHECK_EQ_INT(kp_be16(key + 2), 3);
    CHECK(memcmp(key + 4, "grp", 3) == 0);
    group_offset_key_t k;
    CHECK_OK(group_offset_key_decode(key, kl, &k));
    CHECK_EQ_INT(k.version, 1);
    CHECK(kstr_eq(k.group, "grp") && kstr_eq(k.topic, "topic"));
    CHECK_EQ_INT(k.partition, 7);

    size_t vl = group_offset_value_encode(val, 1234567890123LL, 5, ks("md"), 42);
    CHECK_EQ_INT(vl, group_offset_value_size(ks("md")));
    CHECK_EQ_INT(kp_be16(val), 3);
    group_offset_value_t v;
    CHECK_OK(group_offset_value_decode(val, vl, &v));
    CHECK_EQ_INT(v.offset, 1234567890123LL);
    CHECK_EQ_INT(v.leader_epoch, 5);
    CHECK(kstr_eq(v.metadata, "md"));
    CHECK_EQ_INT(v.commit_timestamp, 42);

    /* Every truncation is refused, never over-read. */
    for (size_t n = 0; n < kl; n++)
        CHECK(group_offset_key_decode(key, n, &k) != 0);
    for (size_t n = 0; n < vl; n++)
        CHECK(group_offset_value_decode(val, n, &v) != 0);
}

TEST(old_value_versions_decode)
{
    /* v1: offset, metadata, commit timestamp, expire timestamp. */
    uint8_t b[64];
    size_t n = 0;
    kp_put_be16(b, 1), n += 2;
    kp_put_be64(b + n, 99), n += 8;
    kp_put_be16(b + n, 1), n += 2;
    b[n++] = 'm';
    kp_put_be64(b + n, 7), n += 8;
    kp_put_be64(b + n, 8), n += 8;
    group_offset_value_t v;
    CHECK_OK(group_offset_value_decode(b, n, &v));
    CHECK_EQ_INT(v.offset, 99);
    CHECK_EQ_INT(v.leader_epoch, -1);
    CHECK_EQ_INT(v.commit_timestamp, 7);
    kp_put_be16(b, 9);
    CHECK_EQ_INT(group_offset_value_decode(b, n, &v), KP_EUNSUPPORTED);
    /* Group metadata keys (version 2) carry only the group. */
    uint8_t key[16];
    kp_put_be16(key, 2);
    kp_put_be16(key + 2, 2);
    memcpy(key + 4, "gg", 2);
    group_offset_key_t k;
    CHECK_OK(group_offset_key_decode(key, 6, &k));
    CHECK_EQ_INT(k.version, 2);
    CHECK(kstr_eq(k.group, "gg"));
}

TEST(offset_map_sorted_set_remove)
{
    group_t g;
    memset(&g, 0, sizeof g);
    CHECK_OK(group_offset_set(&g, ks("b"), 1, 10, -1, ks(""), 1));
    CHECK_OK(group_offset_set(&g, ks("a"), 2, 20, -1, ks("x"), 1));
    CHECK_OK(group_offset_set(&g, ks("a"), 0, 30, 4, ks("y"), 1));
    CHECK_OK(group_offset_set(&g, ks("ab"), 0, 40, -1, ks(""), 1));
    CHECK_OK(group_offset_set(&g, ks("a"), 2, 21, -1, ks("z"), 2));     /* replace */
    CHECK_EQ_INT(g.noffsets, 4);
    CHECK(kstr_eq(gstr_k(&g.offsets[0].topic), "a") && g.offsets[0].partition == 0);
    CHECK(kstr_eq(gstr_k(&g.offsets[1].topic), "a") && g.offsets[1].partition == 2);
    CHECK(kstr_eq(gstr_k(&g.offsets[2].topic), "ab"));
    CHECK(kstr_eq(gstr_k(&g.offsets[3].topic), "b"));
    group_offset_t *o = group_offset_find(&g, ks("a"), 2);
    CHECK(o && o->offset == 21 && kstr_eq(gstr_k(&o->metadata), "z"));
    CHECK(group_offset_find(&g, ks("a"), 1) == NULL);
    group_offset_remove(&g, ks("a"), 2);
    group_offset_remove(&g, ks("nope"), 0);
    CHECK_EQ_INT(g.noffsets, 3);
    CHECK(group_offset_find(&g, ks("a"), 2) == NULL);
    CHECK(group_offset_find(&g, ks("ab"), 0)->offset == 40);
    group_offsets_free(&g);
    CHECK_EQ_INT(g.noffsets, 0);
}

TEST(offset_map_out_of_memory)
{
    group_t g;
    memset(&g, 0, sizeof g);
    for (long n = 0; n < 8; n++) {
        kp_mem_fail_after(n);
        int rc = group_offset_set(&g, ks("t"), (int32_t)n, n, -1, ks("meta"), 0);
        kp_mem_fail_reset();
        CHECK(rc == 0 || rc == KP_ENOMEM);
    }
    for (int i = 1; i < g.noffsets; i++)
        CHECK(g.offsets[i - 1].partition < g.offsets[i].partition);
    group_offsets_free(&g);
}

int main(void)
{
    RUN(java_hash_matches_java);
    RUN(partition_for_is_kafkas);
    RUN(offset_records_roundtrip);
    RUN(old_value_versions_decode);
    RUN(offset_map_sorted_set_remove);
    RUN(offset_map_out_of_memory);
    return test_summary();
}

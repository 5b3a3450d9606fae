/*
 * test_jobs_cut.c -- source tags and cuts (src/jobs/cut.c): the kappa.src
 * header's exact bytes and its decoder's refusals; cut text parse/format
 * round trips, sorting, refusals; cut_before at and around the boundary.
 */
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "jobs/cut.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

TEST(tag_bytes)
{
    uint8_t buf[CUT_TAG_MAX];
    cut_tag_t t = {"orders", 6, 3, 0x0102030405060708LL};
    int n = cut_tag_encode(&t, buf, sizeof buf);
    CHECK_EQ_INT(n, 18);
    static const uint8_t want[] = {0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8,
                                   'o', 'r', 'd', 'e', 'r', 's'};
    CHECK(memcmp(buf, want, sizeof want) == 0);
    cut_tag_t d;
    CHECK_OK(cut_tag_decode(buf, (size_t)n, &d));
    CHECK_EQ_INT(d.partition, 3);
    CHECK(d.offset == 0x0102030405060708LL);
    CHECK(d.topic_len == 6 && memcmp(d.topic, "orders", 6) == 0);
    /* Refusals: no topic, short buffer, truncated, negative fields. */
    cut_tag_t empty = {"", 0, 0, 0};
    CHECK_EQ_INT(cut_tag_encode(&empty, buf, sizeof buf), KP_EINVAL);
    CHECK_EQ_INT(cut_tag_encode(&t, buf, 17), KP_EINVAL);
    CHECK_EQ_INT(cut_tag_decode(buf, 12, &d), KP_ECORRUPT);
    CHECK_EQ_INT(cut_tag_decode(buf, 5, &d), KP_ECORRUPT);
    CHECK_EQ_INT(cut_tag_decode(NULL, 0, &d), KP_ECORRUPT);
    buf[0] = 0x80;
    CHECK_EQ_INT(cut_tag_decode(buf, (size_t)n, &d), KP_ECORRUPT);
    buf[0] = 0;
    buf[4] = 0x80;
    CHECK_EQ_INT(cut_tag_decode(buf, (size_t)n, &d), KP_ECORRUPT);
}

TEST(cut_round_trip)
{
    cut_t c = {0};
    char why[256];
    CHECK_OK(cut_parse("orders:1=500,bids:0=7,orders:0=1000", &c, why, sizeof why));
    CHECK(c.n == 3);
    char *s = cut_format(&c);
    CHECK(s && strcmp(s, "bids:0=7,orders:0=1000,orders:1=500") == 0);
    cut_t d = {0};
    CHECK_OK(cut_parse(s, &d, why, sizeof why));
    char *s2 = cut_format(&d);
    CHECK(s2 && strcmp(s, s2) == 0);
    kp_free(s);
    kp_free(s2);
    /* Partition 10 sorts after 9 (numbers, not text); replace keeps one entry. */
    CHECK_OK(cut_set(&d, "orders", 10, 1));
    CHECK_OK(cut_set(&d, "orders", 9, 2));
    CHECK_OK(cut_set(&d, "orders", 9, 3));
    s = cut_format(&d);
    CHECK(s && strcmp(s, "bids:0=7,orders:0=1000,orders:1=500,orders:9=3,orders:10=1") == 0);
    kp_free(s);
    /* Empty cut. */
    CHECK_OK(cut_parse("", &d, why, sizeof why));
    CHECK(d.n == 0);
    s = cut_format(&d);
    CHECK(s && strcmp(s, "") == 0);
    kp_free(s);
    /* Topic names with dots, dashes, underscores. */
    CHECK_OK(cut_parse("nexmark-bids.v2_x:0=9223372036854775807", &d, why, sizeof why));
    CHECK(d.n == 1 && d.e[0].offset == INT64_MAX);
    cut_free(&c);
    cut_free(&d);
}

TEST(cut_refusals)
{
    cut_t c = {0};
    char why[256];
    const char *bad[] = {"orders", "orders:0", "orders=5", ":0=5", "orders:=5", "orders:0=",
                         "orders:-1=5", "orders:0=-5", "orders:0=5,", ",orders:0=5",
                         "or/ders:0=5", "orders:0=5x", "orders:2147483648=1",
                         "orders:0=9223372036854775808", "orders:0=1,orders:0=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        int rc = cut_parse(bad[i], &c, why, sizeof why);
        if (rc != KP_EINVAL || !why[0])
            fprintf(stderr, "cut_parse accepted '%s'\n", bad[i]);
        CHECK_EQ_INT(rc, KP_EINVAL);
    }
    CHECK_EQ_INT(cut_parse("orders:0=1,orders:0=2", &c, why, sizeof why), KP_EINVAL);
    CHECK(strcmp(why, "cut names orders:0 twice") == 0);
    CHECK_EQ_INT(cut_set(&c, "", 0, 1), KP_EINVAL);
    CHECK_EQ_INT(cut_set(&c, "a", -1, 1), KP_EINVAL);
    cut_free(&c);
}

TEST(before)
{
    cut_t c = {0};
    char why[256];
    CHECK_OK(cut_parse("orders:0=100,orders:1=0,order:2=50", &c, why, sizeof why));
    cut_tag_t t = {"orders", 6, 0, 99};
    CHECK(cut_before(&c, &t));
    t.offset = 100;
    CHECK(!cut_before(&c, &t));         /* offset == C: not before */
    t.offset = 0;
    CHECK(cut_before(&c, &t));
    t.partition = 1;
    CHECK(!cut_before(&c, &t));         /* C = 0: nothing before */
    t.partition = 2;
    CHECK(!cut_before(&c, &t));         /* orders:2 is not in the cut */
    cut_tag_t p = {"order", 5, 2, 49};  /* a prefix of another topic's name */
    CHECK(cut_before(&c, &p));
    cut_tag_t q = {"ordersX", 6, 2, 49};   /* only "orders" (len 6): not in the cut */
    CHECK(!cut_before(&c, &q));
    cut_tag_t u = {"unknown", 7, 0, 0};
    CHECK(!cut_before(&c, &u));
    cut_t empty = {0};
    CHECK(!cut_before(&empty, &t));
    cut_free(&c);
}

int main(void)
{
    RUN(tag_bytes);
    RUN(cut_round_trip);
    RUN(cut_refusals);
    RUN(before);
    return test_summary();
}

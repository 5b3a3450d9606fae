/*
 * view_backends.c -- drives one external view backend (PostgreSQL or
 * ClickHouse) directly, step by step, for test_view_backends.sh, which
 * starts the real servers and checks what each step left in them.
 *
 *   view_backends TARGET STEP...
 *
 * Every step works on view "rev" version 1, topic __kappa_view.rev.v1, two
 * partitions, and prints one line saying what it did or read:
 *   ensure    ensure (twice: it must be idempotent)
 *   offsets   print "offsets p0 p1"
 *   batch1    p0: a@0="1", b@1="x", a@2="2"; p1: c@0="c1"; hwm 3,1
 *   replay    batch1's a@0 again with another value: below the stored offset
 *   batch2    p0: b@3 deleted, a@4 = "q\"uote\\back\nline"; p1: c@1 = "c2",
 *             "\xff\x00k"@2 = "bin"; one stale change (p0 a@1)
 *   empty     a batch with no changes (hwm only)
 *   advance   a batch that only moves p0 to 9 and p1 to 2 (below its
 *             stored 3: must not move back)
 *   rollback  begin, apply d@5, rollback: nothing stored
 *   bench:N:KEYS:BATCH   apply N changes (KEYS keys, 4 partitions, one in
 *             ten a delete) to view "bench" in batches of BATCH; prints
 *             rows/s (the backend alone, no Kafka: bench/view_sink_bench.sh)
 * A failing step prints "error STEP rc" and exits 1.
 */
#include "view/sink.h"

#include "core/kp_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VIEW "rev"
#define TOPIC "__kappa_view.rev.v1"

typedef struct chg {
    int32_t p;
    int64_t off;
    const char *key;
    size_t klen;            /* 0: strlen */
    const char *value;      /* NULL: delete */
} chg_t;

static int run_batch(view_backend_t *b, const chg_t *c, int n, int64_t h0, int64_t h1)
{
    int rc = b->ops->begin(b, VIEW, 1, TOPIC);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        view_change_t vc = {
            .key = c[i].key,
            .key_len = c[i].klen ? c[i].klen : strlen(c[i].key),
            .value = c[i].value,
            .value_len = c[i].value ? strlen(c[i].value) : 0,
            .ts = 1000 + c[i].off,
            .partition = c[i].p,
            .offset = c[i].off,
        };
        if ((rc = b->ops->apply(b, &vc)) < 0) {
            b->ops->rollback(b);
            return rc;
        }
    }
    int64_t hwm[2] = {h0, h1};
    return b->ops->commit(b, hwm, 2);
}

static int bench(view_backend_t *b, long n, long keys, long batch)
{
    const char *topic = "__kappa_view.bench.v1";
    int rc = b->ops->ensure(b, "bench", 1, "bench", topic);
    if (rc < 0)
        return rc;
    int64_t next[4];
    if ((rc = b->ops->offsets(b, "bench", 1, topic, 4, next)) < 0)
        return rc;
    int64_t off[4];
    for (int p = 0; p < 4; p++)
        off[p] = next[p] < 0 ? 0 : next[p];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n;) {
        if ((rc = b->ops->begin(b, "bench", 1, topic)) < 0)
            return rc;
        for (long j = 0; j < batch && i < n; j++, i++) {
            long k = (i * 7919) % keys;
            char key[32], val[96];
            int kl = snprintf(key, sizeof key, "key-%08ld", k);
            int vl = snprintf(val, sizeof val, "{\"count\":%ld,\"sum\":%ld.25,\"updated\":%ld}",
                              i, i * 3, 1700000000000L + i);
            int32_t p = (int32_t)(k % 4);
            view_change_t c = {key, (size_t)kl, i % 10 == 9 ? NULL : val, (size_t)vl,
                               1700000000000L + i, p, off[p]++};
            if ((rc = b->ops->apply(b, &c)) < 0)
                return rc;
        }
        if ((rc = b->ops->commit(b, off, 4)) < 0)
            return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("bench %ld changes %ld keys batch %ld: %.2f s, %.0f rows/s\n", n, keys, batch, s,
           (double)n / s);
    return 0;
}

static int step(view_backend_t *b, const char *s)
{
    int rc;
    long bn, bk, bb;
    if (sscanf(s, "bench:%ld:%ld:%ld", &bn, &bk, &bb) == 3 && bn > 0 && bk > 0 && bb > 0)
        return bench(b, bn, bk, bb);
    if (strcmp(s, "ensure") == 0) {
        if ((rc = b->ops->ensure(b, VIEW, 1, "revjob", TOPIC)) < 0)
            return rc;
        if ((rc = b->ops->ensure(b, VIEW, 1, "revjob", TOPIC)) < 0)
            return rc;
        printf("ensure ok\n");
    } else if (strcmp(s, "offsets") == 0) {
        int64_t next[2];
        if ((rc = b->ops->offsets(b, VIEW, 1, TOPIC, 2, next)) < 0)
            return rc;
        printf("offsets %lld %lld\n", (long long)next[0], (long long)next[1]);
    } else if (strcmp(s, "batch1") == 0) {
        static const chg_t c[] = {
            {0, 0, "a", 0, "1"}, {0, 1, "b", 0, "x"}, {1, 0, "c", 0, "c1"}, {0, 2, "a", 0, "2"}};
        if ((rc = run_batch(b, c, 4, 3, 1)) < 0)
            return rc;
        printf("batch1 ok\n");
    } else if (strcmp(s, "replay") == 0) {
        static const chg_t c[] = {{0, 0, "a", 0, "OLD"}, {1, 0, "c", 0, "OLD"}};
        if ((rc = run_batch(b, c, 2, 3, 1)) < 0)
            return rc;
        printf("replay ok\n");
    } else if (strcmp(s, "batch2") == 0) {
        static const chg_t c[] = {
            {0, 1, "a", 0, "STALE"},
            {0, 3, "b", 0, NULL},
            {1, 1, "c", 0, "c2"},
            {0, 4, "a", 0, "q\"uote\\back\nline"},
            {1, 2, "\xff\x00k", 3, "bin"},
        };
        if ((rc = run_batch(b, c, 5, 5, 3)) < 0)
            return rc;
        printf("batch2 ok\n");
    } else if (strcmp(s, "xkey") == 0) {
        /* A text key spelled like the \\x form of a binary one. */
        static const chg_t c[] = {{0, 9, "\\xff006b", 0, "text"}};
        if ((rc = run_batch(b, c, 1, 10, 3)) < 0)
            return rc;
        printf("xkey ok\n");
    } else if (strcmp(s, "empty") == 0) {
        if ((rc = run_batch(b, NULL, 0, 7, 4)) < 0)
            return rc;
        printf("empty ok\n");
    } else if (strcmp(s, "advance") == 0) {
        if ((rc = b->ops->begin(b, VIEW, 1, TOPIC)) < 0)
            return rc;
        if ((rc = b->ops->advance(b, 0, 9)) < 0 || (rc = b->ops->advance(b, 1, 2)) < 0) {
            b->ops->rollback(b);
            return rc;
        }
        int64_t hwm[2] = {9, 3};
        if ((rc = b->ops->commit(b, hwm, 2)) < 0)
            return rc;
        printf("advance ok\n");
    } else if (strcmp(s, "rollback") == 0) {
        if ((rc = b->ops->begin(b, VIEW, 1, TOPIC)) < 0)
            return rc;
        view_change_t vc = {.key = "d", .key_len = 1, .value = "d", .value_len = 1, .ts = 1,
                            .partition = 0, .offset = 5};
        if ((rc = b->ops->apply(b, &vc)) < 0)
            return rc;
        b->ops->rollback(b);
        printf("rollback ok\n");
    } else {
        fprintf(stderr, "unknown step %s\n", s);
        return KP_EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: view_backends TARGET STEP...\n");
        return 2;
    }
    view_backend_t *b = NULL;
    int rc = strncmp(argv[1], "clickhouse://", 13) == 0 ? view_backend_open_ch(argv[1], &b)
                                                        : view_backend_open_pg(argv[1], &b);
    if (rc < 0) {
        printf("error open %s\n", kp_strerror(rc));
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        if ((rc = step(b, argv[i])) < 0) {
            printf("error %s %s\n", argv[i], kp_strerror(rc));
            b->ops->close(b);
            return 1;
        }
        fflush(stdout);
    }
    b->ops->close(b);
    return 0;
}

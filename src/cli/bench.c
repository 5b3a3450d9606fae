/*
 * bench.c -- `kappa bench produce|consume`: load generation with librdkafka's
 * public API, so it measures any Kafka-protocol broker (-b), kappa or not.
 *
 *   kappa bench produce --topic T --size BYTES --count N [--acks all|1|0]
 *                       [--rate R] [--batch-bytes B] [--linger-ms L] [-b BROKERS]
 *   kappa bench consume --topic T [--count N] [-b BROKERS]
 *
 * Prints one summary line: records/s, MB/s, and (produce) delivery latency
 * percentiles p50/p99/p99.9 measured from produce() to the delivery report.
 * With --rate the producer paces itself to R records/s (for latency at a
 * fixed load); otherwise it pushes as fast as the client queue allows.
 */
#include "cli.h"
#include "core/kp_clock.h"
#include "core/kp_mem.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct bench_opts {
    const char *brokers, *topic, *acks, *compression, *transactional_id;
    long long count, size, rate, batch_bytes, linger_ms, partitions, commit_interval_ms;
    int quiet, idempotence;
} bench_opts_t;

typedef struct prod_state {
    int64_t *lat_us;            /* one per delivered record */
    long long delivered, failed, nlat;
    char first_error[256];
} prod_state_t;

static volatile sig_atomic_t stop_flag;
static void on_sigint(int s) { (void)s; stop_flag = 1; }

static int usage(void)
{
    fprintf(stderr,
            "usage: kappa bench produce --topic T [--size BYTES] [--count N] [--acks all|1|0]\n"
            "                           [--rate R] [--batch-bytes B] [--linger-ms L]\n"
            "                           [--compression none|gzip|snappy|lz4|zstd] [-b BROKERS]\n"
            "                           [--idempotence] [--transactional-id ID\n"
            "                           [--commit-interval-ms MS]]\n"
            "       kappa bench consume --topic T [--count N] [-b BROKERS]\n"
            "Defaults: -b 127.0.0.1:9092, --size 100, --count 1000000, --acks all.\n");
    return 2;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    prod_state_t *st = opaque;
    (void)rk;
    if (m->err) {
        if (!st->failed++)
            snprintf(st->first_error, sizeof st->first_error, "%s", rd_kafka_err2str(m->err));
        return;
    }
    st->delivered++;
    int64_t sent_ns = (int64_t)(intptr_t)m->_private;
    if (st->lat_us)
        st->lat_us[st->nlat++] = (kp_mono_ns() - sent_ns) / 1000;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kappa bench: %s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

static int bench_produce(const bench_opts_t *o)
{
    char err[512], buf[64];
    prod_state_t st = {0};
    st.lat_us = kp_malloc((size_t)o->count * sizeof *st.lat_us);
    if (!st.lat_us)
        return 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *acks = strcmp(o->acks, "all") == 0 ? "-1" : o->acks;
    snprintf(buf, sizeof buf, "%lld", o->linger_ms);
    if (set(conf, "bootstrap.servers", o->brokers) || set(conf, "acks", acks) ||
        set(conf, "linger.ms", buf) || set(conf, "compression.type", o->compression) ||
        set(conf, "queue.buffering.max.messages", "2000000") ||
        set(conf, "queue.buffering.max.kbytes", "2097151"))
        return 2;
    snprintf(buf, sizeof buf, "%lld", o->batch_bytes);
    if (o->batch_bytes > 0 && set(conf, "batch.size", buf))
        return 2;
    if (o->idempotence && set(conf, "enable.idempotence", "true"))
        return 2;
    if (o->transactional_id && set(conf, "transactional.id", o->transactional_id))
        return 2;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kappa bench: %s\n", err);
        return 1;
    }
    char *payload = kp_malloc((size_t)o->size + 1);
    for (long long i = 0; i < o->size; i++)
        payload[i] = (char)('a' + i % 26);

    /* Transactions: one commit per --commit-interval-ms, as a stream
     * processor commits per interval; commits are part of the timing. */
    long long commits = 0;
    /* Learn the topic's leaders before timing: librdkafka otherwise finds a
     * topic it has not produced to on its 1-second topic scan, which shows
     * up as a one-second stall in the first transaction (or first batch). */
    rd_kafka_topic_t *warm = rd_kafka_topic_new(rk, o->topic, NULL);
    if (warm) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, warm, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
    }
    if (o->transactional_id) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
        if (!e)
            e = rd_kafka_begin_transaction(rk);
        if (e) {
            fprintf(stderr, "kappa bench: transactions: %s\n", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            if (warm)
                rd_kafka_topic_destroy(warm);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    int64_t t0 = kp_mono_ns(), last_commit = t0;
    double cpu0 = cpu_seconds();
    for (long long i = 0; i < o->count && !stop_flag; i++) {
        if (o->transactional_id &&
            kp_mono_ns() - last_commit >= o->commit_interval_ms * 1000000LL) {
            rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 30000);
            if (!e)
                e = rd_kafka_begin_transaction(rk);
            if (e) {
                fprintf(stderr, "kappa bench: commit: %s\n", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                stop_flag = 1;
                break;
            }
            commits++;
            last_commit = kp_mono_ns();
        }
        if (o->rate > 0) {
            int64_t due = t0 + (int64_t)(1e9 * (double)i / (double)o->rate);
            int64_t now;
            while ((now = kp_mono_ns()) < due) {
                rd_kafka_poll(rk, 0);
                if (due - now > 200000)
                    usleep(100);
            }
        }
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_VALUE(payload, (size_t)o->size),
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)kp_mono_ns()), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 1);
                continue;
            }
            if (e) {
                fprintf(stderr, "kappa bench: produce: %s\n", rd_kafka_err2str(e));
                stop_flag = 1;
            }
            break;
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    if (o->transactional_id && !stop_flag) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 30000);
        if (e) {
            fprintf(stderr, "kappa bench: commit: %s\n", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        } else {
            commits++;
        }
    }
    while (rd_kafka_outq_len(rk) > 0 && !stop_flag)
        rd_kafka_poll(rk, 50);
    double secs = (double)(kp_mono_ns() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;

    qsort(st.lat_us, (size_t)st.nlat, sizeof *st.lat_us, cmp_i64);
#define PCT(p) (st.nlat ? (double)st.lat_us[(long long)((double)(st.nlat - 1) * (p))] / 1000.0 : 0.0)
    char rate[96] = "";
    if (o->rate)
        snprintf(rate, sizeof rate, ", rate %lld/s", o->rate);
    if (o->transactional_id)
        snprintf(rate + strlen(rate), sizeof rate - strlen(rate),
                 ", transactional, %lld commits every %lld ms", commits, o->commit_interval_ms);
    else if (o->idempotence)
        snprintf(rate + strlen(rate), sizeof rate - strlen(rate), ", idempotent");
    printf("produce: %lld records of %lld bytes, acks=%s%s in %.2f s: %.0f records/s, "
           "%.1f MB/s, latency p50 %.2f ms p99 %.2f ms p99.9 %.2f ms, "
           "client cpu %.2f s, failed %lld%s%s\n",
           st.delivered, o->size, o->acks, rate, secs,
           (double)st.delivered / secs, (double)st.delivered * (double)o->size / secs / 1e6,
           PCT(0.50), PCT(0.99), PCT(0.999), cpu, st.failed, st.failed ? ": " : "",
           st.first_error);
#undef PCT
    if (warm)
        rd_kafka_topic_destroy(warm);
    rd_kafka_destroy(rk);
    kp_free(payload);
    kp_free(st.lat_us);
    return st.failed ? 1 : 0;
}

static int bench_consume(const bench_opts_t *o)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", o->brokers) ||
        set(conf, "group.id", "kappa-bench-consume") ||
        set(conf, "enable.auto.commit", "false") ||
        set(conf, "fetch.max.bytes", "52428800") ||
        set(conf, "max.partition.fetch.bytes", "10485760") ||
        set(conf, "queued.min.messages", "1000000"))
        return 2;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kappa bench: %s\n", err);
        return 1;
    }
    const rd_kafka_metadata_t *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "kappa bench: topic %s not found\n", o->topic);
        return 1;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(tp, o->topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tp);
    rd_kafka_topic_partition_list_destroy(tp);

    long long n = 0, bytes = 0;
    int64_t t0 = 0, last = kp_mono_ns();
    double cpu0 = cpu_seconds();
    while (n < o->count && !stop_flag) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (t0 && kp_mono_ns() - last > 3000000000LL)
                break;      /* 3 s without a record: the topic is drained */
            continue;
        }
        if (!m->err) {
            if (!t0)
                t0 = kp_mono_ns();
            n++;
            bytes += (long long)m->len;
            last = kp_mono_ns();
        }
        rd_kafka_message_destroy(m);
    }
    double secs = t0 ? (double)(last - t0) / 1e9 : 0;
    printf("consume: %lld records, %lld bytes in %.2f s: %.0f records/s, %.1f MB/s, "
           "client cpu %.2f s\n", n, bytes, secs, secs > 0 ? (double)n / secs : 0,
           secs > 0 ? (double)bytes / secs / 1e6 : 0, cpu_seconds() - cpu0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n > 0 ? 0 : 1;
}

int cli_bench(int argc, char **argv)
{
    bench_opts_t o = {.brokers = "127.0.0.1:9092", .acks = "all", .compression = "none",
                      .count = 1000000, .size = 100, .linger_ms = 5, .commit_interval_ms = 100};
    if (argc < 1)
        return usage();
    const char *mode = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-b") == 0 || strcmp(a, "--brokers") == 0) && v) o.brokers = v, i++;
        else if (strcmp(a, "--topic") == 0 && v) o.topic = v, i++;
        else if (strcmp(a, "--size") == 0 && v) o.size = atoll(v), i++;
        else if (strcmp(a, "--count") == 0 && v) o.count = atoll(v), i++;
        else if (strcmp(a, "--acks") == 0 && v) o.acks = v, i++;
        else if (strcmp(a, "--rate") == 0 && v) o.rate = atoll(v), i++;
        else if (strcmp(a, "--batch-bytes") == 0 && v) o.batch_bytes = atoll(v), i++;
        else if (strcmp(a, "--linger-ms") == 0 && v) o.linger_ms = atoll(v), i++;
        else if (strcmp(a, "--compression") == 0 && v) o.compression = v, i++;
        else if (strcmp(a, "--idempotence") == 0) o.idempotence = 1;
        else if (strcmp(a, "--transactional-id") == 0 && v) o.transactional_id = v, i++;
        else if (strcmp(a, "--commit-interval-ms") == 0 && v) o.commit_interval_ms = atoll(v), i++;
        else return usage();
    }
    if (!o.topic || o.count <= 0 || o.size < 0 ||
        (strcmp(o.acks, "all") && strcmp(o.acks, "1") && strcmp(o.acks, "0") && strcmp(o.acks, "-1")))
        return usage();
    signal(SIGINT, on_sigint);
    if (strcmp(mode, "produce") == 0)
        return bench_produce(&o);
    if (strcmp(mode, "consume") == 0)
        return bench_consume(&o);
    return usage();
}

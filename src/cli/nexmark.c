/*
 * nexmark.c -- `kappa nexmark gen`: write the Nexmark event stream
 * (src/nexmark/gen.h) as JSON, one event per Kafka record or per line.
 *
 *   kappa nexmark gen --events N [--topic T] [--seed S] [--rate R]
 *                     [--partitions P] [-b BROKERS] [--output FILE|-]
 *                     [--extra-bytes N] [--out-of-order-ms N] [--base-time-ms MS]
 *
 * To a topic: the topic is created with P partitions if it does not exist
 * (CreateTopics), else its own partition count is used.  Event i goes to
 * partition i % P with no key and the event's date_time as its CreateTime,
 * through an idempotent producer (lz4, ~1 MB batches), so a replay of the
 * same seed lays the same records out the same way.  Every delivery report is
 * waited for; one failed delivery fails the command (exit 1), since a
 * benchmark input with a hole in it would make every result wrong.
 *
 * To a file (--output, "-" for stdout): JSON lines, the input of the
 * reference implementation in tests/nexmark/reference.py.
 */
#include "cli/cli.h"
#include "cli/client.h"
#include "core/kp_clock.h"
#include "core/kp_mem.h"
#include "nexmark/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEXMARK_DEFAULT_TOPIC "nexmark"
#define NEXMARK_DEFAULT_PARTITIONS 4
#define FILE_BUF_BYTES (4u << 20)

typedef struct gen_opts {
    cli_common_t common;
    long long events;               /* -1 until given */
    const char *topic;
    const char *output;             /* NULL: to the brokers */
    long long partitions;           /* -1: not given */
    nexmark_config_t config;
} gen_opts_t;

typedef struct gen_stats {
    long long events, persons, auctions, bids;
    long long bytes;
} gen_stats_t;

typedef struct delivery {
    long long delivered, failed;
    char first_error[256];
} delivery_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kappa nexmark gen --events N [--topic T] [--seed S] [--rate R]\n"
            "                         [--partitions P] [-b BROKERS] [--output FILE|-]\n"
            "                         [--extra-bytes N] [--out-of-order-ms N]\n"
            "                         [--base-time-ms MS]\n"
            "\n"
            "Generate the Nexmark benchmark's event stream (persons, auctions, bids in\n"
            "groups of 1:3:46) as JSON, one event per record.  The same seed and options\n"
            "give the same events, byte for byte.  See docs/nexmark.md.\n"
            "\n"
            "  --events N          how many events (required)\n"
            "  --topic T           topic to produce to (default nexmark); created with P\n"
            "                      partitions if missing, else its partition count is used;\n"
            "                      event i goes to partition i %% P, timestamp = date_time\n"
            "  --partitions P      partitions for a new topic (default 4)\n"
            "  --output FILE|-     write JSON lines to FILE (- = stdout) instead of a topic\n"
            "  --seed S            random seed (default 0)\n"
            "  --rate R            events per second of event time (default 10000):\n"
            "                      date_time = base + floor(i * 1000 / R)\n"
            "  --base-time-ms MS   date_time of event 0 (default 1767225600000,\n"
            "                      2026-01-01T00:00:00Z)\n"
            "  --extra-bytes N     pad each event with an extra field of N bytes on\n"
            "                      average (default 0: empty)\n"
            "  --out-of-order-ms N move each bid's date_time back by a random [0, N) ms\n"
            "                      (default 0: in order)\n"
            "\n");
    cli_common_help(out);
}

/* "--name V" or "--name=V": 1 and *v set when argv[*i] is this flag. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **v)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *v = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *v = NULL;
        return 1;
    }
    *v = argv[++*i];
    return 1;
}

/* Parse an integer option within [lo, hi]; -1 after a usage message. */
static int opt_range(const cli_common_t *c, const char *name, const char *v, long long lo,
                     long long hi, long long *out)
{
    if (!v) {
        cli_usage_error(c, "%s needs a value", name);
        return -1;
    }
    if (cli_parse_i64(c, name, v, out) < 0)
        return -1;
    if (*out < lo || *out > hi) {
        cli_usage_error(c, "%s must be between %lld and %lld", name, lo, hi);
        return -1;
    }
    return 0;
}

static int parse_gen(gen_opts_t *o, int argc, char **argv)
{
    cli_common_t *c = &o->common;
    for (int i = 0; i < argc; i++) {
        const char *v;
        long long n;
        int r = cli_common_flag(c, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (opt_value(argc, argv, &i, "--events", &v)) {
            if (opt_range(c, "--events", v, 0, (long long)1 << 50, &o->events) < 0)
                return -1;
        } else if (opt_value(argc, argv, &i, "--topic", &v)) {
            if (!v || !*v) {
                cli_usage_error(c, "--topic needs a name");
                return -1;
            }
            o->topic = v;
        } else if (opt_value(argc, argv, &i, "--output", &v)) {
            if (!v || !*v) {
                cli_usage_error(c, "--output needs a file name (or - for stdout)");
                return -1;
            }
            o->output = v;
        } else if (opt_value(argc, argv, &i, "--partitions", &v)) {
            if (opt_range(c, "--partitions", v, 1, 100000, &o->partitions) < 0)
                return -1;
        } else if (opt_value(argc, argv, &i, "--seed", &v)) {
            if (!v) {
                cli_usage_error(c, "--seed needs a value");
                return -1;
            }
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                cli_usage_error(c, "--seed: '%s' is not a non-negative integer", v);
                return -1;
            }
            o->config.seed = s;
        } else if (opt_value(argc, argv, &i, "--rate", &v)) {
            if (opt_range(c, "--rate", v, 1, 1000000000, &n) < 0)
                return -1;
            o->config.rate = (uint64_t)n;
        } else if (opt_value(argc, argv, &i, "--base-time-ms", &v)) {
            if (opt_range(c, "--base-time-ms", v, 0, (long long)1 << 50, &n) < 0)
                return -1;
            o->config.base_time_ms = n;
        } else if (opt_value(argc, argv, &i, "--extra-bytes", &v)) {
            if (opt_range(c, "--extra-bytes", v, 0, NEXMARK_EXTRA_BYTES_MAX, &n) < 0)
                return -1;
            o->config.extra_bytes = (uint32_t)n;
        } else if (opt_value(argc, argv, &i, "--out-of-order-ms", &v)) {
            if (opt_range(c, "--out-of-order-ms", v, 0, 86400000, &n) < 0)
                return -1;
            o->config.out_of_order_ms = (uint32_t)n;
        } else {
            cli_usage_error(c, "unknown option '%s'", argv[i]);
            return -1;
        }
    }
    if (o->events < 0) {
        cli_usage_error(c, "--events N is required");
        return -1;
    }
    return 0;
}

static void count_event(gen_stats_t *s, const nexmark_event_t *ev, int len)
{
    s->events++;
    s->bytes += len;
    if (ev->type == NEXMARK_PERSON)
        s->persons++;
    else if (ev->type == NEXMARK_AUCTION)
        s->auctions++;
    else
        s->bids++;
}

static void print_summary(const gen_opts_t *o, const gen_stats_t *s, double secs,
                          const char *dest)
{
    fprintf(stderr,
            "%s: %lld events (%lld persons, %lld auctions, %lld bids) in %.2f s: "
            "%.0f events/s, %lld bytes (%.1f MB/s) -> %s\n",
            o->common.prog, s->events, s->persons, s->auctions, s->bids, secs,
            secs > 0 ? s->events / secs : 0.0, s->bytes, secs > 0 ? s->bytes / secs / 1e6 : 0.0,
            dest);
}

/* ---- to a file ---- */

/* The largest event, extra included, fits the buffer with room to spare. */
_Static_assert(NEXMARK_JSON_MAX + NEXMARK_EXTRA_BYTES_MAX * 2 < FILE_BUF_BYTES,
               "FILE_BUF_BYTES must hold the largest event");

static int gen_to_file(gen_opts_t *o, nexmark_gen_t *g)
{
    cli_common_t *c = &o->common;
    bool is_stdout = strcmp(o->output, "-") == 0;
    FILE *f = is_stdout ? stdout : fopen(o->output, "w");
    if (!f)
        return cli_fail(c, "cannot open %s: %s", o->output, strerror(errno));
    char *buf = kp_malloc(FILE_BUF_BYTES);
    if (!buf) {
        if (!is_stdout)
            fclose(f);
        return cli_fail(c, "out of memory");
    }
    gen_stats_t st = {0};
    size_t used = 0;
    int rc = CLI_EXIT_OK;
    int64_t t0 = kp_mono_ns();
    for (long long i = 0; i < o->events; i++) {
        nexmark_event_t ev;
        nexmark_gen_next(g, &ev);
        /* Format straight into the output buffer. */
        size_t need = NEXMARK_JSON_MAX + ev.extra_len + 2;
        if (FILE_BUF_BYTES - used < need) {
            if (fwrite(buf, 1, used, f) != used)
                goto write_error;
            used = 0;
        }
        int n = nexmark_event_json(&ev, buf + used, FILE_BUF_BYTES - used);
        used += (size_t)n;
        buf[used++] = '\n';
        count_event(&st, &ev, n + 1);
    }
    if (fwrite(buf, 1, used, f) != used || fflush(f) != 0)
        goto write_error;
    if (!is_stdout && fclose(f) != 0) {
        f = NULL;
        goto write_error;
    }
    f = NULL;
    print_summary(o, &st, (kp_mono_ns() - t0) / 1e9, is_stdout ? "stdout" : o->output);
    kp_free(buf);
    return rc;
write_error:
    rc = cli_fail(c, "cannot write %s: %s", is_stdout ? "stdout" : o->output, strerror(errno));
    if (f && !is_stdout)
        fclose(f);
    kp_free(buf);
    return rc;
}

/* ---- to a topic ---- */

/* The topic's partition count from cluster metadata: >0, 0 if the topic does
 * not exist, or -1 after printing an error. */
static int topic_partitions(const gen_opts_t *o, rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    /* All topics, not this one by name: a by-name request may auto-create
     * the topic with the broker's default partition count. */
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, o->common.timeout_ms);
    if (e) {
        cli_fail(&o->common, "metadata request failed: %s%s", rd_kafka_err2str(e),
                 cli_err_hint(e));
        return -1;
    }
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, o->topic) != 0)
            continue;
        if (md->topics[i].err && md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            cli_fail(&o->common, "topic %s: %s", o->topic, rd_kafka_err2str(md->topics[i].err));
            n = -1;
        } else {
            n = md->topics[i].partition_cnt;
        }
        break;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

/* Create the topic; 0 if created or it already exists, else -1 after an error. */
static int create_topic(const gen_opts_t *o, rd_kafka_t *rk, int partitions)
{
    char err[256];
    int rc = -1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, partitions, -1, err, sizeof err);
    if (!nt) {
        cli_fail(&o->common, "cannot create topic %s: %s", o->topic, err);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = cli_admin_options(&o->common, rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = cli_admin_wait(&o->common, q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t te = cnt == 1 ? rd_kafka_topic_result_error(res[0])
                                          : RD_KAFKA_RESP_ERR__BAD_MSG;
        if (te == RD_KAFKA_RESP_ERR_NO_ERROR || te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            rc = 0;
        } else {
            const char *es = cnt == 1 ? rd_kafka_topic_result_error_string(res[0]) : NULL;
            cli_fail(&o->common, "cannot create topic %s: %s%s", o->topic,
                     es ? es : rd_kafka_err2str(te), cli_err_hint(te));
        }
        rd_kafka_event_destroy(ev);
    }
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    delivery_t *d = opaque;
    (void)rk;
    if (m->err) {
        if (!d->failed++)
            snprintf(d->first_error, sizeof d->first_error, "%s (partition %d)",
                     rd_kafka_err2str(m->err), (int)m->partition);
        return;
    }
    d->delivered++;
}

static rd_kafka_t *new_producer(const gen_opts_t *o, delivery_t *d)
{
    const cli_common_t *c = &o->common;
    char err[512];
    rd_kafka_conf_t *conf = cli_conf(c);
    if (!conf)
        return NULL;
    /* Idempotence: a retried batch is never written twice, and order within
     * a partition holds, so partition p carries events p, p+P, ... in order.
     * Big lz4 batches: Nexmark JSON compresses well, and the broker fsyncs
     * per batch. */
    if (cli_conf_set(c, conf, "enable.idempotence", "true") ||
        cli_conf_set(c, conf, "compression.type", "lz4") ||
        cli_conf_set(c, conf, "linger.ms", "10") ||
        cli_conf_set(c, conf, "batch.size", "1000000") ||
        cli_conf_set(c, conf, "batch.num.messages", "100000") ||
        cli_conf_set(c, conf, "queue.buffering.max.messages", "1000000") ||
        cli_conf_set(c, conf, "message.timeout.ms", "60000") ||
        cli_conf_set(c, conf, "client.id", "kappa-nexmark")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        cli_fail(c, "cannot create a producer: %s", err);
    return rk;
}

static int gen_to_topic(gen_opts_t *o, nexmark_gen_t *g, char *json, size_t json_cap)
{
    cli_common_t *c = &o->common;
    int code;
    rd_kafka_t *admin = cli_admin_handle(c, &code);
    if (!admin)
        return code;
    int parts = topic_partitions(o, admin);
    bool created = false;
    if (parts == 0) {
        int want = o->partitions > 0 ? (int)o->partitions : NEXMARK_DEFAULT_PARTITIONS;
        if (create_topic(o, admin, want) == 0) {
            created = true;
            parts = topic_partitions(o, admin);
            if (parts == 0) {
                cli_fail(c, "topic %s was created but is not in the metadata yet", o->topic);
                parts = -1;
            }
        } else {
            parts = -1;
        }
    } else if (parts > 0 && o->partitions > 0 && parts != o->partitions) {
        fprintf(stderr, "%s: topic %s exists with %d partitions; using them, not %lld\n", c->prog,
                o->topic, parts, o->partitions);
    }
    rd_kafka_destroy(admin);
    if (parts <= 0)
        return CLI_EXIT_FAIL;

    delivery_t d = {0};
    rd_kafka_t *rk = new_producer(o, &d);
    if (!rk)
        return CLI_EXIT_FAIL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt) {
        rd_kafka_destroy(rk);
        return cli_fail(c, "cannot use topic %s: %s", o->topic,
                        rd_kafka_err2str(rd_kafka_last_error()));
    }

    gen_stats_t st = {0};
    int rc = CLI_EXIT_OK;
    char fatal[256];
    int64_t t0 = kp_mono_ns();
    for (long long i = 0; i < o->events && !d.failed; i++) {
        nexmark_event_t ev;
        nexmark_gen_next(g, &ev);
        int n = nexmark_event_json(&ev, json, json_cap);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION((int32_t)(i % parts)),
                RD_KAFKA_V_VALUE(json, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(ev.date_time), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rc = cli_fail(c, "produce to %s failed at event %lld: %s", o->topic, i,
                              rd_kafka_err2str(e));
                goto flush;
            }
            rd_kafka_poll(rk, 5);       /* wait for deliveries to make room */
        }
        count_event(&st, &ev, n);
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
flush:
    /* Every message resolves within message.timeout.ms, so this ends. */
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    double secs = (kp_mono_ns() - t0) / 1e9;
    if (rd_kafka_fatal_error(rk, fatal, sizeof fatal)) {
        rc = cli_fail(c, "the producer failed: %s", fatal);
    } else if (d.failed) {
        rc = cli_fail(c, "%lld of %lld events were not delivered; first error: %s%s", d.failed,
                      st.events, d.first_error,
                      d.delivered ? " (the topic now holds an incomplete stream)" : "");
    } else if (rc == CLI_EXIT_OK && d.delivered != st.events) {
        rc = cli_fail(c, "only %lld of %lld events were acknowledged", d.delivered, st.events);
    }
    if (rc == CLI_EXIT_OK) {
        char dest[512];
        snprintf(dest, sizeof dest, "topic %s (%d partitions%s) at %s", o->topic, parts,
                 created ? ", created" : "", c->brokers);
        print_summary(o, &st, secs, dest);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

static int cli_nexmark_gen(int argc, char **argv)
{
    gen_opts_t o;
    memset(&o, 0, sizeof o);
    cli_common_init(&o.common, "kappa nexmark gen");
    o.events = -1;
    o.partitions = -1;
    o.topic = NEXMARK_DEFAULT_TOPIC;
    nexmark_config_default(&o.config);
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
    }
    if (parse_gen(&o, argc, argv) < 0)
        return CLI_EXIT_USAGE;

    nexmark_gen_t g;
    int e = nexmark_gen_init(&g, &o.config);
    if (e < 0)
        return cli_fail(&o.common, "cannot start the generator: %s", strerror(-e));
    size_t json_cap = NEXMARK_JSON_MAX + o.config.extra_bytes + o.config.extra_bytes / 5 + 16;
    char *json = kp_malloc(json_cap);
    if (!json) {
        nexmark_gen_free(&g);
        return cli_fail(&o.common, "out of memory");
    }
    int rc = o.output ? gen_to_file(&o, &g) : gen_to_topic(&o, &g, json, json_cap);
    kp_free(json);
    nexmark_gen_free(&g);
    return rc;
}

int cli_nexmark(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: kappa nexmark gen --events N [...] (see `kappa nexmark gen "
                        "--help`)\n");
        return CLI_EXIT_USAGE;
    }
    if (cli_is_help(argv[0])) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "gen") == 0)
        return cli_nexmark_gen(argc - 1, argv + 1);
    fprintf(stderr, "kappa nexmark: unknown subcommand '%s' (try `kappa nexmark gen --help`)\n",
            argv[0]);
    return CLI_EXIT_USAGE;
}

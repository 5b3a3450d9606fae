/*
 * topic_produce.c -- `kappa topic produce TOPIC`: one record per line of
 * standard input, through librdkafka's producer, so it works against any
 * Kafka-protocol broker.
 *
 * (1) Every record's delivery report is awaited before exit; a failed record
 *     is reported with its input line number, and the exit status is 1 if any
 *     failed.
 * (2) The producer is idempotent unless --acks is 1 or 0 (idempotence needs
 *     acks=all), so a retried batch is never written twice.
 * (3) It never hangs on a topic that does not exist: the topic is looked up
 *     first (asking the broker to auto-create it, as any producer does), and
 *     a delivery that has not succeeded within --timeout fails.
 */
#include "cli/cli.h"
#include "cli/topic_int.h"
#include "core/kp_clock.h"
#include "core/kp_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct produce_state {
    const cli_common_t *c;
    long long delivered, failed;
} produce_state_t;

static void produce_help(FILE *f)
{
    fputs("usage: kappa topic produce TOPIC [-k KEY] [-p PARTITION] [--key-delimiter C]\n"
          "                           [-H key=value]... [--acks all|1|0] [-z CODEC]\n"
          "\n"
          "Produce one record per line of standard input (the line without its\n"
          "newline is the value), wait for every delivery, and print a summary to\n"
          "stderr.  Exits 1 if any record failed; each failure names its line.\n"
          "\n"
          "  -k, --key KEY             the key of every record (default: none)\n"
          "      --key-delimiter C     the text before the first C of a line is its key,\n"
          "                            the rest its value (a line without C has no key)\n"
          "  -p, --partition N         write to partition N (default: by key, or spread)\n"
          "  -H, --header key=value    a header on every record (repeatable)\n"
          "      --acks all|1|0        acknowledgement level (default all; 1 and 0 turn\n"
          "                            off idempotence, which requires all)\n"
          "  -z, --compression CODEC   none, gzip, snappy, lz4 or zstd (default none)\n"
          "\n"
          "--timeout bounds both the topic lookup and each record's delivery.\n",
          f);
    cli_common_help(f);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    produce_state_t *st = opaque;
    if (m->err) {
        long long line = (long long)(intptr_t)m->_private;
        fprintf(stderr, "%s: line %lld: %s%s\n", st->c->prog, line, rd_kafka_err2str(m->err),
                cli_err_hint(m->err));
        st->failed++;
    } else {
        st->delivered++;
    }
}

/* Look the topic up the way a producer would (the broker may auto-create
 * it).  Returns 0 if it exists, or an exit status after printing why not. */
static int check_topic(const cli_common_t *c, const char *topic, long long partition)
{
    int rc;
    rd_kafka_t *rk = cli_admin_handle(c, &rc);
    if (!rk)
        return rc;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, c->timeout_ms)
                                : rd_kafka_last_error();
    rc = CLI_EXIT_OK;
    if (e) {
        rc = cli_fail(c, "metadata request for %s failed: %s%s", topic, rd_kafka_err2str(e),
                      cli_err_hint(e));
    } else if (md->topic_cnt < 1) {
        rc = cli_fail(c, "the broker did not answer for topic '%s'", topic);
    } else if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = cli_fail(c, "topic '%s' does not exist and the broker does not create topics "
                      "automatically (create it with `kappa topic create %s`)",
                      topic, topic);
    } else if (md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION) {
        rc = cli_fail(c, "'%s' is not a valid topic name", topic);
    } else if (md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && partition >= 0 &&
               partition >= md->topics[0].partition_cnt) {
        rc = cli_fail(c, "topic '%s' has %d partitions; there is no partition %lld", topic,
                      md->topics[0].partition_cnt, partition);
    }
    /* Any other error (LEADER_NOT_AVAILABLE while an auto-created topic
     * comes up) is left to the producer, which retries within --timeout. */
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

int topic_produce(int argc, char **argv)
{
    cli_common_t c0, *c = &c0;
    cli_common_init(c, "kappa topic produce");
    const char *topic = NULL, *key = NULL, *acks = "all", *codec = "none", *v;
    int delim = -1;
    long long partition = RD_KAFKA_PARTITION_UA;
    const char **hdrs = kp_calloc((size_t)(argc ? argc : 1), sizeof *hdrs);
    int nh = 0, r, rc = CLI_EXIT_USAGE;
    rd_kafka_t *rk = NULL;
    char *line = NULL;
    if (!hdrs)
        return cli_fail(c, "out of memory");
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            produce_help(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                goto out;
        } else if ((r = topic_flag(c, argc, argv, &i, "-k", "--key", &v)) != 0) {
            if (r < 0)
                goto out;
            key = v;
        } else if ((r = topic_flag(c, argc, argv, &i, NULL, "--key-delimiter", &v)) != 0) {
            if (r < 0)
                goto out;
            if (strlen(v) != 1) {
                rc = cli_usage_error(c, "--key-delimiter wants one character, not '%s'", v);
                goto out;
            }
            delim = (unsigned char)v[0];
        } else if ((r = topic_flag(c, argc, argv, &i, "-p", "--partition", &v)) != 0) {
            if (r < 0 || cli_parse_i64(c, "-p", v, &partition) < 0)
                goto out;
            if (partition < 0 || partition > INT32_MAX) {
                rc = cli_usage_error(c, "-p must be a partition number (0 or more)");
                goto out;
            }
        } else if ((r = topic_flag(c, argc, argv, &i, "-H", "--header", &v)) != 0) {
            if (r < 0)
                goto out;
            if (!strchr(v, '=') || v[0] == '=') {
                rc = cli_usage_error(c, "-H wants key=value, not '%s'", v);
                goto out;
            }
            hdrs[nh++] = v;
        } else if ((r = topic_flag(c, argc, argv, &i, NULL, "--acks", &v)) != 0) {
            if (r < 0)
                goto out;
            if (strcmp(v, "all") && strcmp(v, "-1") && strcmp(v, "1") && strcmp(v, "0")) {
                rc = cli_usage_error(c, "--acks must be all, 1 or 0, not '%s'", v);
                goto out;
            }
            acks = strcmp(v, "-1") == 0 ? "all" : v;
        } else if ((r = topic_flag(c, argc, argv, &i, "-z", "--compression", &v)) != 0) {
            if (r < 0)
                goto out;
            if (strcmp(v, "none") && strcmp(v, "gzip") && strcmp(v, "snappy") &&
                strcmp(v, "lz4") && strcmp(v, "zstd")) {
                rc = cli_usage_error(c, "--compression must be none, gzip, snappy, lz4 or zstd, "
                                     "not '%s'", v);
                goto out;
            }
            codec = v;
        } else if (topic_is_option(argv[i])) {
            rc = cli_usage_error(c, "unknown option '%s'", argv[i]);
            goto out;
        } else if (topic) {
            rc = cli_usage_error(c, "one topic only ('%s' and '%s')", topic, argv[i]);
            goto out;
        } else {
            topic = argv[i];
        }
    }
    if (!topic) {
        rc = cli_usage_error(c, "missing TOPIC");
        goto out;
    }
    if (key && delim >= 0) {
        rc = cli_usage_error(c, "-k and --key-delimiter cannot be combined");
        goto out;
    }
    if ((rc = check_topic(c, topic, partition)) != CLI_EXIT_OK)
        goto out;

    rc = CLI_EXIT_FAIL;
    produce_state_t st = {.c = c};
    rd_kafka_conf_t *conf = cli_conf(c);
    char ms[32], err[512];
    snprintf(ms, sizeof ms, "%d", c->timeout_ms);
    bool idem = strcmp(acks, "all") == 0;
    if (!conf || cli_conf_set(c, conf, "acks", acks) ||
        cli_conf_set(c, conf, "enable.idempotence", idem ? "true" : "false") ||
        cli_conf_set(c, conf, "compression.codec", codec) ||
        cli_conf_set(c, conf, "linger.ms", "5") ||
        cli_conf_set(c, conf, "message.timeout.ms", ms)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        cli_fail(c, "cannot create a producer: %s", err);
        goto out;
    }

    /* Headers are the same on every record: build them once, copy per record
     * (producev takes ownership of a header list). */
    rd_kafka_headers_t *hl = nh ? rd_kafka_headers_new((size_t)nh) : NULL;
    for (int k = 0; k < nh; k++) {
        const char *eq = strchr(hdrs[k], '=');
        rd_kafka_header_add(hl, hdrs[k], eq - hdrs[k], eq + 1, -1);
    }

    size_t cap = 0;
    ssize_t len;
    long long lineno = 0, queued = 0, refused = 0;
    bool fatal = false;
    while (!fatal && (len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        const char *val = line, *k = key;
        size_t vlen = (size_t)len, klen = key ? strlen(key) : 0;
        if (delim >= 0) {
            char *d = memchr(line, delim, (size_t)len);
            if (d) {
                k = line;
                klen = (size_t)(d - line);
                val = d + 1;
                vlen = (size_t)len - klen - 1;
            }
        }
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_KEY(k, k ? klen : 0),
                RD_KAFKA_V_HEADERS(hl ? rd_kafka_headers_copy(hl) : NULL),
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)lineno), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (e) {
                fprintf(stderr, "%s: line %lld: %s%s\n", c->prog, lineno, rd_kafka_err2str(e),
                        cli_err_hint(e));
                refused++;
                /* A fatal idempotence error stops every later record too. */
                fatal = e == RD_KAFKA_RESP_ERR__FATAL;
            } else {
                queued++;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    if (hl)
        rd_kafka_headers_destroy(hl);
    /* message.timeout.ms bounds every queued record's delivery report; the
     * deadline is only a guard against a report that never comes. */
    int64_t deadline_ns = kp_mono_ns() + ((int64_t)c->timeout_ms + 30000) * 1000000;
    while (st.delivered + st.failed < queued && kp_mono_ns() < deadline_ns)
        rd_kafka_flush(rk, 1000);
    st.failed += refused + (queued - st.delivered - st.failed);
    char fe[256];
    if (rd_kafka_fatal_error(rk, fe, sizeof fe))
        fprintf(stderr, "%s: the producer stopped: %s\n", c->prog, fe);
    fprintf(stderr, "produced %lld record%s to %s", st.delivered, st.delivered == 1 ? "" : "s",
            topic);
    if (st.failed)
        fprintf(stderr, "; %lld failed", st.failed);
    fputc('\n', stderr);
    rc = st.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
    free(line);    /* from getline() */
    if (rk)
        rd_kafka_destroy(rk);
    kp_free(hdrs);
    return rc;
}

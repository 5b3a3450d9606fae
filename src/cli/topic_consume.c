/*
 * topic_consume.c -- `kappa topic consume TOPIC`: print records as JSON lines
 * (or a -f format), through librdkafka's consumer, so it works against any
 * Kafka-protocol broker.
 *
 * Two modes:
 *   (1) without -g, every partition (or just -p) is assigned directly at the
 *       offset -o names; nothing is committed.
 *   (2) with -g, the consumer joins that group; a partition the group has a
 *       committed offset for resumes there, and -o only decides where a
 *       partition without one starts (like auto.offset.reset, but for every
 *       -o form).  The offset after each printed record is committed, at
 *       the latest when the command ends, so a second run continues exactly
 *       where the first stopped.
 * It ends after -n records, when every assigned partition is at its end
 * (-e), or on SIGINT/SIGTERM, and always closes cleanly (final commit,
 * leave the group) and exits 0.
 */
#include "cli/cli.h"
#include "cli/topic_int.h"
#include "core/kp_mem.h"
#include "cli/out.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum start_kind { START_BEGINNING, START_END, START_OFFSET, START_TIME, START_TAIL };

typedef struct consume_opts {
    cli_common_t *c;
    const char *topic;
    enum start_kind start;
    long long start_value;      /* offset, timestamp ms or tail count */
    int partition_count;
    bool *at_eof;               /* per partition id: reached the end since its last record */
    bool *assigned;             /* per partition id: currently assigned */
    bool assigned_any;
} consume_opts_t;

static volatile sig_atomic_t consume_stop;
static void on_signal(int s)
{
    (void)s;
    consume_stop = 1;
}

static void consume_help(FILE *f)
{
    fputs("usage: kappa topic consume TOPIC [-o start|end|OFFSET|@TS_MS|-N] [-n COUNT]\n"
          "                           [-p PARTITION] [-g GROUP] [-e] [--read-committed]\n"
          "                           [-f FORMAT]\n"
          "\n"
          "Print records, one JSON object per line by default:\n"
          "  {\"topic\":\"t\",\"partition\":0,\"offset\":5,\"timestamp\":1700000000000,\n"
          "   \"key\":\"k\",\"value\":\"v\",\"headers\":{\"h\":\"x\"}}\n"
          "(a missing key or value is null; invalid UTF-8 bytes are escaped as \\u00XX).\n"
          "Runs until -n records, -e, or Ctrl-C / SIGTERM, then closes cleanly.\n"
          "\n"
          "  -o, --offset WHERE     start: the first record (default); end: only new\n"
          "                         records; OFFSET: that offset; @TS_MS: the first record\n"
          "                         with timestamp >= TS_MS (milliseconds since the epoch);\n"
          "                         -N: the last N records of each partition\n"
          "  -n, --count COUNT      exit after COUNT records\n"
          "  -e, --exit-at-end      exit once every partition has reached its end\n"
          "  -p, --partition N      only partition N (not with -g)\n"
          "  -g, --group GROUP      consume in this consumer group and commit offsets;\n"
          "                         -o then only applies to partitions the group has no\n"
          "                         committed offset for\n"
          "      --read-committed   skip records of aborted transactions and stop at the\n"
          "                         last stable offset (default: read_uncommitted)\n"
          "  -f, --format-record F  print each record as F: %t topic, %p partition,\n"
          "                         %o offset, %d timestamp (ms), %k key, %v (or %s)\n"
          "                         value, %h headers (k=v,k=v), %% a percent sign;\n"
          "                         escapes \\n \\t \\\\ (F is not followed by a newline)\n",
          f);
    cli_common_help(f);
}

/* Check -f FORMAT once, so a typo is a usage error, not odd output. */
static int check_format(const cli_common_t *c, const char *f)
{
    for (const char *p = f; *p; p++) {
        if (*p == '%') {
            if (!p[1] || !strchr("tpodkvsh%", p[1]))
                return cli_usage_error(c, "-f: unknown verb '%%%.1s' (use %%t %%p %%o %%d %%k "
                                       "%%v %%h %%%%)", p + 1);
            p++;
        } else if (*p == '\\') {
            if (!p[1] || !strchr("nt\\", p[1]))
                return cli_usage_error(c, "-f: unknown escape '\\%.1s' (use \\n \\t \\\\)",
                                       p + 1);
            p++;
        }
    }
    return 0;
}

static void print_headers_text(FILE *f, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hl = NULL;
    if (rd_kafka_message_headers(m, &hl) || !hl)
        return;
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(hl, i, &name, &val, &size) == 0; i++) {
        fprintf(f, "%s%s=", i ? "," : "", name);
        if (val)
            fwrite(val, 1, size, f);
    }
}

static void print_formatted(FILE *f, const char *fmt, const rd_kafka_message_t *m)
{
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\') {
            p++;
            fputc(*p == 'n' ? '\n' : *p == 't' ? '\t' : '\\', f);
            continue;
        }
        if (*p != '%') {
            fputc(*p, f);
            continue;
        }
        p++;
        rd_kafka_timestamp_type_t tt;
        switch (*p) {
        case 't':
            fputs(rd_kafka_topic_name(m->rkt), f);
            break;
        case 'p':
            fprintf(f, "%d", (int)m->partition);
            break;
        case 'o':
            fprintf(f, "%lld", (long long)m->offset);
            break;
        case 'd':
            fprintf(f, "%lld", (long long)rd_kafka_message_timestamp(m, &tt));
            break;
        case 'k':
            if (m->key)
                fwrite(m->key, 1, m->key_len, f);
            break;
        case 'v':
        case 's':
            if (m->payload)
                fwrite(m->payload, 1, m->len, f);
            break;
        case 'h':
            print_headers_text(f, m);
            break;
        default:
            fputc('%', f);
            break;
        }
    }
}

static void print_json(FILE *f, const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    fputs("{\"topic\":", f);
    out_json_str(f, rd_kafka_topic_name(m->rkt));
    fprintf(f, ",\"partition\":%d,\"offset\":%lld,\"timestamp\":", (int)m->partition,
            (long long)m->offset);
    if (ts >= 0)
        fprintf(f, "%lld", (long long)ts);
    else
        fputs("null", f);
    fputs(",\"key\":", f);
    if (m->key)
        out_json_strn(f, m->key, m->key_len);
    else
        fputs("null", f);
    fputs(",\"value\":", f);
    if (m->payload)
        out_json_strn(f, m->payload, m->len);
    else
        fputs("null", f);
    fputs(",\"headers\":{", f);
    rd_kafka_headers_t *hl = NULL;
    if (rd_kafka_message_headers(m, &hl) == 0 && hl) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hl, i, &name, &val, &size) == 0; i++) {
            if (i)
                fputc(',', f);
            out_json_str(f, name);
            fputc(':', f);
            if (val)
                out_json_strn(f, val, size);
            else
                fputs("null", f);
        }
    }
    fputs("}}\n", f);
}

/*
 * Give every partition in parts (whose offset is RD_KAFKA_OFFSET_INVALID)
 * the start -o asks for.  Absolute offsets are clamped to the partition's
 * [log start, high watermark], so an offset past the end waits for new
 * records rather than jumping back to the start.
 */
static int resolve_start(consume_opts_t *o, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    const cli_common_t *c = o->c;
    if (o->start == START_TIME) {
        rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset == RD_KAFKA_OFFSET_INVALID)
                rd_kafka_topic_partition_list_add(q, parts->elems[i].topic,
                                                  parts->elems[i].partition)
                    ->offset = o->start_value;
        rd_kafka_resp_err_t e = q->cnt ? rd_kafka_offsets_for_times(rk, q, c->timeout_ms)
                                       : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e) {
            rd_kafka_topic_partition_list_destroy(q);
            return cli_fail(c, "cannot look up offsets for timestamp %lld: %s", o->start_value,
                            rd_kafka_err2str(e));
        }
        for (int i = 0; i < q->cnt; i++) {
            rd_kafka_topic_partition_t *r = &q->elems[i];
            rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_find(parts, r->topic, r->partition);
            if (r->err) {
                rd_kafka_topic_partition_list_destroy(q);
                return cli_fail(c, "%s partition %d: cannot look up offset for timestamp: %s",
                                r->topic, (int)r->partition, rd_kafka_err2str(r->err));
            }
            /* -1: no record that late yet; start at the end. */
            p->offset = r->offset >= 0 ? r->offset : RD_KAFKA_OFFSET_END;
        }
        rd_kafka_topic_partition_list_destroy(q);
        return 0;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (p->offset != RD_KAFKA_OFFSET_INVALID)
            continue;
        switch (o->start) {
        case START_BEGINNING:
            p->offset = RD_KAFKA_OFFSET_BEGINNING;
            break;
        case START_END:
            p->offset = RD_KAFKA_OFFSET_END;
            break;
        case START_TAIL:
            p->offset = RD_KAFKA_OFFSET_TAIL(o->start_value);
            break;
        case START_OFFSET: {
            int64_t lo, hi;
            rd_kafka_resp_err_t e =
                rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, c->timeout_ms);
            if (e)
                return cli_fail(c, "%s partition %d: cannot read offsets: %s", p->topic,
                                (int)p->partition, rd_kafka_err2str(e));
            p->offset = o->start_value < lo ? lo : o->start_value > hi ? hi : o->start_value;
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

static void mark_assigned(consume_opts_t *o, const rd_kafka_topic_partition_list_t *parts, bool on)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p >= 0 && p < o->partition_count) {
            o->assigned[p] = on;
            o->at_eof[p] = false;
        }
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consume_opts_t *o = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Committed offsets where the group has them; -o for the rest. */
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, parts, o->c->timeout_ms);
        if (e)
            fprintf(stderr, "%s: cannot read the group's committed offsets: %s\n", o->c->prog,
                    rd_kafka_err2str(e));
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset < 0)
                parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && resolve_start(o, rk, parts) != 0)
            consume_stop = 1;
        rd_kafka_assign(rk, parts);
        mark_assigned(o, parts, true);
        o->assigned_any = true;
    } else {
        mark_assigned(o, parts, false);
        rd_kafka_assign(rk, NULL);
    }
}

static bool all_at_eof(const consume_opts_t *o)
{
    if (!o->assigned_any)
        return false;
    for (int p = 0; p < o->partition_count; p++)
        if (o->assigned[p] && !o->at_eof[p])
            return false;
    return true;
}

int topic_consume(int argc, char **argv)
{
    cli_common_t c0, *c = &c0;
    cli_common_init(c, "kappa topic consume");
    consume_opts_t o = {.c = c, .start = START_BEGINNING};
    const char *group = NULL, *fmt = NULL, *v;
    long long count = -1, partition = -1;
    bool exit_at_end = false, read_committed = false;
    int r;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            consume_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else if ((r = topic_flag(c, argc, argv, &i, "-o", "--offset", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            if (strcmp(v, "start") == 0 || strcmp(v, "beginning") == 0 ||
                strcmp(v, "earliest") == 0) {
                o.start = START_BEGINNING;
            } else if (strcmp(v, "end") == 0 || strcmp(v, "latest") == 0) {
                o.start = START_END;
            } else if (v[0] == '@') {
                if (cli_parse_i64(c, "-o @TS_MS", v + 1, &o.start_value) < 0)
                    return CLI_EXIT_USAGE;
                if (o.start_value < 0)
                    return cli_usage_error(c, "-o @TS_MS: the timestamp must not be negative");
                o.start = START_TIME;
            } else {
                if (cli_parse_i64(c, "-o", v, &o.start_value) < 0)
                    return CLI_EXIT_USAGE;
                o.start = o.start_value < 0 ? START_TAIL : START_OFFSET;
                if (o.start_value < 0)
                    o.start_value = -o.start_value;
            }
        } else if ((r = topic_flag(c, argc, argv, &i, "-n", "--count", &v)) != 0) {
            if (r < 0 || cli_parse_i64(c, "-n", v, &count) < 0)
                return CLI_EXIT_USAGE;
            if (count < 1)
                return cli_usage_error(c, "-n must be 1 or more");
        } else if ((r = topic_flag(c, argc, argv, &i, "-p", "--partition", &v)) != 0) {
            if (r < 0 || cli_parse_i64(c, "-p", v, &partition) < 0)
                return CLI_EXIT_USAGE;
            if (partition < 0 || partition > INT32_MAX)
                return cli_usage_error(c, "-p must be a partition number (0 or more)");
        } else if ((r = topic_flag(c, argc, argv, &i, "-g", "--group", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            if (!*v)
                return cli_usage_error(c, "-g wants a group name");
            group = v;
        } else if ((r = topic_flag(c, argc, argv, &i, "-f", "--format-record", &v)) != 0) {
            if (r < 0 || check_format(c, v))
                return CLI_EXIT_USAGE;
            fmt = v;
        } else if (strcmp(argv[i], "-e") == 0 || strcmp(argv[i], "--exit-at-end") == 0) {
            exit_at_end = true;
        } else if (strcmp(argv[i], "--read-committed") == 0) {
            read_committed = true;
        } else if (topic_is_option(argv[i])) {
            return cli_usage_error(c, "unknown option '%s'", argv[i]);
        } else if (o.topic) {
            return cli_usage_error(c, "one topic only ('%s' and '%s')", o.topic, argv[i]);
        } else {
            o.topic = argv[i];
        }
    }
    if (!o.topic)
        return cli_usage_error(c, "missing TOPIC");
    if (group && partition >= 0)
        return cli_usage_error(c, "-p cannot be combined with -g (the group assigns partitions)");

    /* The topic must exist: a consumer would otherwise wait forever. */
    int rc;
    rd_kafka_t *adm = cli_admin_handle(c, &rc);
    if (!adm)
        return rc;
    o.partition_count = topic_partition_count(c, adm, o.topic, NULL);
    rd_kafka_destroy(adm);
    if (o.partition_count < 0)
        return CLI_EXIT_FAIL;
    if (o.partition_count == 0)
        return cli_fail(c, "topic '%s' does not exist%s", o.topic,
                        cli_err_hint(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    if (partition >= o.partition_count)
        return cli_fail(c, "topic '%s' has %d partitions; there is no partition %lld", o.topic,
                        o.partition_count, partition);

    rc = CLI_EXIT_FAIL;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    o.at_eof = kp_calloc((size_t)o.partition_count, sizeof *o.at_eof);
    o.assigned = kp_calloc((size_t)o.partition_count, sizeof *o.assigned);
    if (!o.at_eof || !o.assigned) {
        cli_fail(c, "out of memory");
        goto out;
    }
    rd_kafka_conf_t *conf = cli_conf(c);
    char gid[64], err[512];
    if (!group) {
        /* librdkafka's assign() needs a group id, though nothing is joined
         * or committed without -g. */
        snprintf(gid, sizeof gid, "kappa-cli-%ld", (long)getpid());
    }
    if (!conf || cli_conf_set(c, conf, "group.id", group ? group : gid) ||
        cli_conf_set(c, conf, "enable.auto.commit", group ? "true" : "false") ||
        cli_conf_set(c, conf, "auto.offset.reset", o.start == START_END ? "latest" : "earliest") ||
        cli_conf_set(c, conf, "enable.partition.eof", "true") ||
        cli_conf_set(c, conf, "isolation.level",
                     read_committed ? "read_committed" : "read_uncommitted")) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_conf_set_opaque(conf, &o);
    if (group)
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        cli_fail(c, "cannot create a consumer: %s", err);
        goto out;
    }
    rd_kafka_poll_set_consumer(rk);

    parts = rd_kafka_topic_partition_list_new(o.partition_count);
    for (int p = 0; p < o.partition_count; p++)
        if (partition < 0 || p == partition)
            rd_kafka_topic_partition_list_add(parts, o.topic, p)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_resp_err_t e;
    if (group) {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, o.topic, RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
    } else {
        if (resolve_start(&o, rk, parts) != 0)
            goto out;
        e = rd_kafka_assign(rk, parts);
        mark_assigned(&o, parts, true);
        o.assigned_any = true;
    }
    if (e) {
        cli_fail(c, "cannot start consuming %s: %s", o.topic, rd_kafka_err2str(e));
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    long long seen = 0;
    rc = CLI_EXIT_OK;
    while (!consume_stop && (count < 0 || seen < count)) {
        if (exit_at_end && all_at_eof(&o))
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            fflush(stdout);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < o.partition_count)
                o.at_eof[m->partition] = true;
        } else if (m->err) {
            fprintf(stderr, "%s: %s\n", c->prog, rd_kafka_message_errstr(m));
            /* The topic went away, or we may not read it: no point waiting. */
            if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR__FATAL) {
                rc = CLI_EXIT_FAIL;
                rd_kafka_message_destroy(m);
                break;
            }
        } else {
            if (m->partition >= 0 && m->partition < o.partition_count)
                o.at_eof[m->partition] = false;
            if (fmt)
                print_formatted(stdout, fmt, m);
            else
                print_json(stdout, m);
            seen++;
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    if (group) {
        /* The offsets of the printed records (stored as each was returned by
         * poll); close would commit them too, but a failure here is worth a
         * message. */
        e = rd_kafka_commit(rk, NULL, 0);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            fprintf(stderr, "%s: committing offsets for group %s failed: %s\n", c->prog, group,
                    rd_kafka_err2str(e));
            rc = CLI_EXIT_FAIL;
        }
    }
    rd_kafka_consumer_close(rk);
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (rk)
        rd_kafka_destroy(rk);
    kp_free(o.at_eof);
    kp_free(o.assigned);
    return rc;
}

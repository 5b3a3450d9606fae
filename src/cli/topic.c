/*
 * topic.c -- `kappa topic`: create, list, describe, delete, alter-config and
 * add-partitions, through librdkafka's metadata and admin APIs only, so they
 * work against any Kafka-protocol broker.  produce and consume live in
 * topic_produce.c and topic_consume.c.
 *
 * What librdkafka 2.0.2 lacks, and what we do instead:
 *   (1) No DescribeTopics: partitions and replicas come from a metadata
 *       request for all topics, never for one named topic, because a
 *       producer-type handle asks the broker to auto-create a topic it names.
 *   (2) No ListOffsets admin call: log start and high watermark come from
 *       rd_kafka_query_watermark_offsets() on a read_uncommitted consumer
 *       handle, the last stable offset from the same call on a
 *       read_committed one (the broker answers ListOffsets(latest) with the
 *       LSO at that isolation level).
 *   (3) No DescribeLogDirs: describe sends it itself (v1, cli_raw_call) to
 *       each broker that leads a partition of the topic, after checking
 *       with ApiVersions that the broker serves it.  A broker that does not
 *       gets "-" for its partitions' SIZE_BYTES; one that fails or times out
 *       also gets "-", plus one warning on stderr: the sizes never fail the
 *       command.
 *   (4) No IncrementalAlterConfigs: AlterConfigs replaces a topic's whole
 *       set of overrides, so alter-config reads the current topic-level
 *       configs, merges the change and writes the full set back.  Two
 *       concurrent alter-configs can therefore lose one of the changes.
 */
#include "cli/cli.h"
#include "cli/out.h"
#include "cli/topic_int.h"
#include "core/kp_mem.h"
#include "kafka/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---- */

int topic_flag(const cli_common_t *c, int argc, char **argv, int *i, const char *shrt,
               const char *lng, const char **value)
{
    const char *a = argv[*i];
    size_t ln = strlen(lng);
    if (strncmp(a, lng, ln) == 0 && a[ln] == '=') {
        *value = a + ln + 1;
        return 1;
    }
    if (strcmp(a, lng) != 0 && !(shrt && strcmp(a, shrt) == 0))
        return 0;
    if (*i + 1 >= argc) {
        cli_usage_error(c, "%s needs a value", a);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* The one positional topic NAME: 0, or the usage error for an unknown
 * option or a second name (the caller returns it). */
static int topic_positional(const cli_common_t *c, const char *arg, const char **name)
{
    if (topic_is_option(arg))
        return cli_usage_error(c, "unknown option '%s'", arg);
    if (*name)
        return cli_usage_error(c, "one topic name only ('%s' and '%s')", *name, arg);
    *name = arg;
    return 0;
}

bool topic_is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != '\0';
}

int topic_partition_count(const cli_common_t *c, rd_kafka_t *rk, const char *topic,
                          int *replicas)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c->timeout_ms);
    if (e) {
        cli_fail(c, "metadata request failed: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
        return -1;
    }
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (strcmp(t->topic, topic) != 0 || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        n = t->partition_cnt;
        if (replicas)
            *replicas = t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

/* "key=value" -> key and value (pointing into a copy the caller frees). */
static int split_kv(const cli_common_t *c, const char *flag, const char *s, char **key,
                    char **value)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) {
        cli_usage_error(c, "%s wants key=value, not '%s'", flag, s);
        return -1;
    }
    size_t n = strlen(s) + 1;
    char *k = kp_malloc(n);
    if (!k) {
        cli_fail(c, "out of memory");
        return -1;
    }
    memcpy(k, s, n);
    k[eq - s] = '\0';
    *key = k;
    *value = k + (eq - s) + 1;
    return 0;
}

static const char *topic_admin_usage =
    "usage: kappa topic COMMAND [ARGS] [common options]\n"
    "\n"
    "commands:\n"
    "  create NAME [-p N] [-r R] [-c key=value]...  create a topic\n"
    "  list [-a]                                    topics with partition and replica counts\n"
    "  describe NAME                                summary, per-partition offsets, configs\n"
    "  delete NAME...                               delete topics and all their records\n"
    "  alter-config NAME [-c key=value]... [--delete key]...\n"
    "                                               change topic-level configs\n"
    "  add-partitions NAME -n TOTAL                 grow a topic to TOTAL partitions\n"
    "  produce TOPIC [-k KEY] [...]                 one record per line of stdin\n"
    "  consume TOPIC [-o start|end|OFFSET|@TS_MS|-N] [-n COUNT] [-g GROUP] [...]\n"
    "                                               records as JSON lines or -f FORMAT\n"
    "\n"
    "Run `kappa topic COMMAND --help` for a command's options.\n";

/* ---- create ---- */

static void create_help(FILE *f)
{
    fputs("usage: kappa topic create NAME [-p PARTITIONS] [-r REPLICATION] [-c key=value]...\n"
          "\n"
          "Create a topic.\n"
          "\n"
          "  -p, --partitions N         partitions (default: the broker's num.partitions;\n"
          "                             1 on a broker older than Kafka 2.4)\n"
          "  -r, --replication-factor R replicas per partition (default: the broker's\n"
          "                             default; kappa is one broker, so 1)\n"
          "  -c, --config key=value     a topic config, e.g. retention.ms=86400000\n"
          "                             (repeatable)\n",
          f);
    cli_common_help(f);
}

/* CreateTopics once; returns the event or NULL, *req_err the request-level error. */
static rd_kafka_event_t *create_once(const cli_common_t *c, rd_kafka_t *rk, rd_kafka_NewTopic_t *nt,
                                     rd_kafka_resp_err_t *req_err)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(c, rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, c->timeout_ms + 2000);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    *req_err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
    return ev;
}

static int cmd_create(cli_common_t *c, int argc, char **argv)
{
    const char *name = NULL, *v;
    long long parts = -1, repl = -1;
    const char *cfgs[256];
    int ncfg = 0, r;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            create_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else if ((r = topic_flag(c, argc, argv, &i, "-p", "--partitions", &v)) != 0) {
            if (r < 0 || cli_parse_i64(c, "-p", v, &parts) < 0)
                return CLI_EXIT_USAGE;
            if (parts < 1 || parts > 1000000)
                return cli_usage_error(c, "-p must be between 1 and 1000000");
        } else if ((r = topic_flag(c, argc, argv, &i, "-r", "--replication-factor", &v)) != 0) {
            if (r < 0 || cli_parse_i64(c, "-r", v, &repl) < 0)
                return CLI_EXIT_USAGE;
            if (repl < 1 || repl > 32767)
                return cli_usage_error(c, "-r must be between 1 and 32767");
        } else if ((r = topic_flag(c, argc, argv, &i, "-c", "--config", &v)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            if (!strchr(v, '=') || v[0] == '=')
                return cli_usage_error(c, "-c wants key=value, not '%s'", v);
            if (ncfg == (int)(sizeof cfgs / sizeof cfgs[0]))
                return cli_usage_error(c, "too many -c options");
            cfgs[ncfg++] = v;
        } else if ((r = topic_positional(c, argv[i], &name)) != 0) {
            return r;
        }
    }
    if (!name)
        return cli_usage_error(c, "missing topic NAME");

    int rc;
    rd_kafka_t *rk = cli_admin_handle(c, &rc);
    if (!rk)
        return rc;
    rc = CLI_EXIT_FAIL;
    char err[512];
    bool defaults = parts == -1 || repl == -1;
    rd_kafka_event_t *ev = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, (int)parts, (int)repl, err, sizeof err);
        if (!nt) {
            rd_kafka_destroy(rk);
            return cli_usage_error(c, "%s", err);
        }
        for (int k = 0; k < ncfg; k++) {
            char *key, *val;
            if (split_kv(c, "-c", cfgs[k], &key, &val) < 0) {
                rd_kafka_NewTopic_destroy(nt);
                rd_kafka_destroy(rk);
                return CLI_EXIT_USAGE;
            }
            rd_kafka_NewTopic_set_config(nt, key, val);
            kp_free(key);
        }
        rd_kafka_resp_err_t req_err;
        ev = create_once(c, rk, nt, &req_err);
        rd_kafka_NewTopic_destroy(nt);
        /* A broker older than Kafka 2.4 (CreateTopics < v4) cannot fill in
         * its defaults: fall back to 1 partition, 1 replica. */
        if (req_err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE && defaults && attempt == 0) {
            if (ev)
                rd_kafka_event_destroy(ev);
            ev = NULL;
            if (parts == -1)
                parts = 1;
            if (repl == -1)
                repl = 1;
            continue;
        }
        break;
    }
    if (!ev) {
        cli_fail(c, "no answer from %s within %.1f s%s", c->brokers, c->timeout_ms / 1000.0,
                 cli_err_hint(RD_KAFKA_RESP_ERR__TIMED_OUT));
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        cli_fail(c, "%s: %s%s", name, rd_kafka_event_error_string(ev),
                 cli_err_hint(rd_kafka_event_error(ev)));
        goto out;
    }
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t k = 0; k < n; k++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[k]);
        if (e) {
            const char *es = rd_kafka_topic_result_error_string(res[k]);
            cli_fail(c, "%s: %s%s", name, es ? es : rd_kafka_err2str(e), cli_err_hint(e));
            goto out;
        }
    }
    out_table_t *t = out_table_new(2, "TOPIC", "STATUS");
    out_row(t, name, "created");
    out_print(t, c->format, stdout);
    out_table_free(t);
    rc = CLI_EXIT_OK;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- list ---- */

static void list_help(FILE *f)
{
    fputs("usage: kappa topic list [-a]\n"
          "\n"
          "List topics with their partition and replica counts, sorted by name.\n"
          "\n"
          "  -a, --all   also show internal topics (names starting with \"__\", such as\n"
          "              __consumer_offsets)\n",
          f);
    cli_common_help(f);
}

static int cmp_topic(const void *a, const void *b)
{
    const rd_kafka_metadata_topic_t *x = *(const rd_kafka_metadata_topic_t *const *)a;
    const rd_kafka_metadata_topic_t *y = *(const rd_kafka_metadata_topic_t *const *)b;
    return strcmp(x->topic, y->topic);
}

static int cmd_list(cli_common_t *c, int argc, char **argv)
{
    bool all = false;
    int r;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            list_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (topic_is_option(argv[i])) {
            return cli_usage_error(c, "unknown option '%s'", argv[i]);
        } else {
            return cli_usage_error(c, "unexpected argument '%s'", argv[i]);
        }
    }
    int rc;
    rd_kafka_t *rk = cli_admin_handle(c, &rc);
    if (!rk)
        return rc;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c->timeout_ms);
    if (e) {
        rd_kafka_destroy(rk);
        return cli_fail(c, "metadata request failed: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
    }
    const rd_kafka_metadata_topic_t **ts =
        kp_calloc((size_t)(md->topic_cnt ? md->topic_cnt : 1), sizeof *ts);
    out_table_t *t = out_table_new(3, "NAME", "PARTITIONS", "REPLICAS");
    if (!ts || !t) {
        kp_free(ts);
        out_table_free(t);
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        return cli_fail(c, "out of memory");
    }
    out_num(t, 1);
    out_num(t, 2);
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[i];
        /* Metadata v1's is_internal flag is not in librdkafka's struct; Kafka
         * and kappa name their internal topics with a "__" prefix. */
        if (!all && strncmp(mt->topic, "__", 2) == 0)
            continue;
        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        ts[n++] = mt;
    }
    qsort(ts, (size_t)n, sizeof *ts, cmp_topic);
    for (int i = 0; i < n; i++) {
        char p[16], rp[16];
        snprintf(p, sizeof p, "%d", ts[i]->partition_cnt);
        snprintf(rp, sizeof rp, "%d", ts[i]->partition_cnt > 0 ? ts[i]->partitions[0].replica_cnt : 0);
        out_row(t, ts[i]->topic, p, rp);
    }
    out_print(t, c->format, stdout);
    out_table_free(t);
    kp_free(ts);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return CLI_EXIT_OK;
}

/* ---- describe ---- */

static void describe_help(FILE *f)
{
    fputs("usage: kappa topic describe NAME\n"
          "\n"
          "Show a topic: a summary, then per partition its leader, log start offset,\n"
          "last stable offset (LAST_STABLE: the end of what read_committed consumers\n"
          "see; below HIGH_WATERMARK while a transaction is open), high watermark and\n"
          "size on disk (SIZE_BYTES, from the leader's DescribeLogDirs; \"-\" when the\n"
          "broker does not serve it or did not answer), then every config with its\n"
          "SOURCE: topic (set on this topic), broker (set in the broker's\n"
          "configuration) or default.\n",
          f);
    cli_common_help(f);
}

static const char *config_source_name(rd_kafka_ConfigSource_t s)
{
    switch (s) {
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG:
        return "topic";
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG:
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG:
    case RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG:
        return "broker";
    case RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG:
        return "default";
    default:
        return "unknown";
    }
}

/* A consumer-type handle at one isolation level, for ListOffsets. */
static rd_kafka_t *offsets_handle(const cli_common_t *c, const char *isolation)
{
    char err[512];
    rd_kafka_conf_t *conf = cli_conf(c);
    if (!conf)
        return NULL;
    if (cli_conf_set(c, conf, "isolation.level", isolation)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        cli_fail(c, "cannot create a Kafka client: %s", err);
    return rk;
}

/*
 * DescribeConfigs for one topic.  Returns the event (caller destroys) and
 * the resource's configs in *entries and *n, or NULL after printing why.
 */
static rd_kafka_event_t *describe_configs(const cli_common_t *c, rd_kafka_t *rk, const char *topic,
                                          const rd_kafka_ConfigEntry_t ***entries, size_t *n)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(c, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(c, q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    if (!ev)
        return NULL;
    size_t nr;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nr);
    if (nr < 1) {
        cli_fail(c, "%s: the broker returned no configs", topic);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(rs[0]);
    if (e) {
        const char *es = rd_kafka_ConfigResource_error_string(rs[0]);
        cli_fail(c, "%s: %s%s", topic, es && *es ? es : rd_kafka_err2str(e), cli_err_hint(e));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    *entries = rd_kafka_ConfigResource_configs(rs[0], n);
    return ev;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)a),
                  rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)b));
}

static void print_section(const char *title, const out_table_t *t, cli_format_t fmt, bool first)
{
    if (fmt == CLI_FMT_TABLE) {
        size_t n = strlen(title);
        printf("%s%s\n", first ? "" : "\n", title);
        for (size_t i = 0; i < n; i++)
            putchar('=');
        putchar('\n');
    } else if (fmt == CLI_FMT_TEXT && !first) {
        putchar('\n');
    }
    out_print(t, fmt, stdout);
}

#define DESCRIBE_LOG_DIRS_KEY 35
#define DESCRIBE_LOG_DIRS_VERSION 1

/*
 * Encode a DescribeLogDirs v1 request for the partitions of `topic` that
 * broker `leader` leads.  Returns the number of partitions asked for.
 */
static int log_dirs_request(kwr_t *w, const rd_kafka_metadata_topic_t *mt, int32_t leader)
{
    int n = 0;
    for (int k = 0; k < mt->partition_cnt; k++)
        n += mt->partitions[k].leader == leader;
    kwr_count(w, 1, false);
    kwr_cstr(w, mt->topic, false);
    kwr_count(w, n, false);
    for (int k = 0; k < mt->partition_cnt; k++)
        if (mt->partitions[k].leader == leader)
            kwr_i32(w, mt->partitions[k].id);
    return n;
}

/*
 * Read a DescribeLogDirs v1 answer into sizes[] (indexed by partition id,
 * the topic has np of them).  A partition in a log directory that reports an
 * error, or in a future (being-moved) log, is skipped.  Returns 0 or
 * -EPROTO.
 */
static int log_dirs_parse(const uint8_t *body, size_t len, const char *topic, int64_t *sizes,
                          int np)
{
    krd_t r;
    krd_init(&r, body, len);
    krd_i32(&r);                                        /* throttle_time_ms */
    int32_t ndirs = krd_count(&r, false, false, 8);
    for (int32_t d = 0; d < ndirs && !r.err; d++) {
        int16_t derr = krd_i16(&r);
        krd_str(&r, false, false);                      /* log_dir */
        int32_t nt = krd_count(&r, false, false, 6);
        for (int32_t t = 0; t < nt && !r.err; t++) {
            kstr_t name = krd_str(&r, false, false);
            bool ours = kstr_eq(name, topic);
            int32_t nparts = krd_count(&r, false, false, 21);
            for (int32_t k = 0; k < nparts && !r.err; k++) {
                int32_t id = krd_i32(&r);
                int64_t size = krd_i64(&r);
                krd_i64(&r);                            /* offset_lag */
                bool future = krd_i8(&r) != 0;
                if (!r.err && ours && derr == 0 && !future && id >= 0 && id < np && size >= 0)
                    sizes[id] = size;
            }
        }
    }
    return r.err ? -EPROTO : 0;
}

/*
 * Partition sizes: sizes[id] for each partition id (0..partition_cnt-1) of
 * the topic, -1 where unknown.  One DescribeLogDirs per leading broker,
 * all within one --timeout.  Never fails the command: a broker that does not
 * serve DescribeLogDirs leaves "-" silently (it cannot tell us), one that
 * cannot be asked leaves "-" and one warning line.
 */
static void partition_sizes(const cli_common_t *c, const struct rd_kafka_metadata *md,
                            const rd_kafka_metadata_topic_t *mt, int64_t *sizes)
{
    int np = mt->partition_cnt;
    for (int k = 0; k < np; k++)
        sizes[k] = -1;
    int64_t deadline = cli_mono_ms() + c->timeout_ms;
    for (int k = 0; k < np; k++) {
        int32_t leader = mt->partitions[k].leader;
        bool seen = leader < 0;
        for (int j = 0; j < k && !seen; j++)
            seen = mt->partitions[j].leader == leader;
        if (seen)
            continue;
        const struct rd_kafka_metadata_broker *mb = NULL;
        for (int j = 0; j < md->broker_cnt; j++)
            if (md->brokers[j].id == leader)
                mb = &md->brokers[j];
        if (!mb) {
            fprintf(stderr, "%s: warning: leader %" PRId32 " of some partitions is not among "
                    "the brokers; their SIZE_BYTES is unknown\n", c->prog, leader);
            continue;
        }
        char port[16];
        snprintf(port, sizeof port, "%d", mb->port);
        cli_raw_t raw;
        cli_api_range_t *apis = NULL;
        int napis = 0;
        int16_t kerr;
        uint8_t *resp = NULL;
        size_t rlen = 0;
        kwr_t w;
        kwr_init(&w);
        int rc = cli_raw_dial(&raw, mb->host, port, deadline);
        if (rc == 0)
            rc = cli_raw_api_versions(&raw, &apis, &napis, &kerr);
        bool served = rc == 0 && cli_api_supported(apis, napis, DESCRIBE_LOG_DIRS_KEY,
                                                   DESCRIBE_LOG_DIRS_VERSION);
        if (served) {
            log_dirs_request(&w, mt, leader);
            rc = w.err ? -ENOMEM
                       : cli_raw_call(&raw, DESCRIBE_LOG_DIRS_KEY, DESCRIBE_LOG_DIRS_VERSION,
                                      w.buf, w.len, &resp, &rlen);
            if (rc == 0)
                rc = log_dirs_parse(resp, rlen, mt->topic, sizes, np);
        }
        if (rc)
            fprintf(stderr, "%s: warning: cannot read partition sizes from broker %" PRId32
                    " at %s:%d: %s; their SIZE_BYTES is unknown\n", c->prog, leader, mb->host,
                    mb->port, rc == -ETIMEDOUT ? "no answer within the timeout"
                                               : cli_raw_strerror(rc));
        kp_free(resp);
        kp_free(apis);
        kwr_free(&w);
        cli_raw_close(&raw);
    }
}

static int cmd_describe(cli_common_t *c, int argc, char **argv)
{
    const char *name = NULL;
    int r;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            describe_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else if ((r = topic_positional(c, argv[i], &name)) != 0) {
            return r;
        }
    }
    if (!name)
        return cli_usage_error(c, "missing topic NAME");
    int rc;
    rd_kafka_t *rk = cli_admin_handle(c, &rc);
    if (!rk)
        return rc;
    rd_kafka_t *ru = NULL, *rcm = NULL;
    rd_kafka_event_t *ev = NULL;
    out_table_t *sum = NULL, *parts = NULL, *cfg = NULL;
    const rd_kafka_ConfigEntry_t **entries = NULL;
    int64_t *sizes = NULL;
    rc = CLI_EXIT_FAIL;

    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c->timeout_ms);
    if (e) {
        cli_fail(c, "metadata request failed: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
        goto out;
    }
    const rd_kafka_metadata_topic_t *mt = NULL;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0 &&
            md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            mt = &md->topics[i];
    if (!mt) {
        cli_fail(c, "topic '%s' does not exist%s", name,
                 cli_err_hint(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        goto out;
    }
    ru = offsets_handle(c, "read_uncommitted");
    rcm = offsets_handle(c, "read_committed");
    sum = out_table_new(2, "KEY", "VALUE");
    parts = out_table_new(6, "PARTITION", "LEADER", "LOG_START", "LAST_STABLE", "HIGH_WATERMARK",
                          "SIZE_BYTES");
    cfg = out_table_new(3, "NAME", "VALUE", "SOURCE");
    sizes = kp_calloc(mt->partition_cnt > 0 ? (size_t)mt->partition_cnt : 1, sizeof *sizes);
    if (!ru || !rcm || !sum || !parts || !cfg || !sizes)
        goto out;
    partition_sizes(c, md, mt, sizes);
    /* The topic's size is known only if every partition's is. */
    int64_t total = 0;
    for (int id = 0; id < mt->partition_cnt && total >= 0; id++)
        total = sizes[id] < 0 ? -1 : total + sizes[id];
    for (int col = 0; col < 6; col++)
        out_num(parts, col);

    /* Partitions in id order (metadata order is the broker's). */
    for (int id = 0; id < mt->partition_cnt; id++) {
        const rd_kafka_metadata_partition_t *p = NULL;
        for (int k = 0; k < mt->partition_cnt; k++)
            if (mt->partitions[k].id == id)
                p = &mt->partitions[k];
        if (!p)
            continue;
        int64_t lo = -1, hi = -1, lso_lo = -1, lso = -1;
        e = rd_kafka_query_watermark_offsets(ru, name, id, &lo, &hi, c->timeout_ms);
        if (e) {
            cli_fail(c, "%s partition %d: cannot read offsets: %s", name, id, rd_kafka_err2str(e));
            goto out;
        }
        e = rd_kafka_query_watermark_offsets(rcm, name, id, &lso_lo, &lso, c->timeout_ms);
        if (e) {
            cli_fail(c, "%s partition %d: cannot read the last stable offset: %s", name, id,
                     rd_kafka_err2str(e));
            goto out;
        }
        char sid[16], sl[16], slo[24], slso[24], shi[24], ssz[24];
        snprintf(sid, sizeof sid, "%d", id);
        snprintf(sl, sizeof sl, "%d", p->leader);
        snprintf(slo, sizeof slo, "%lld", (long long)lo);
        snprintf(slso, sizeof slso, "%lld", (long long)lso);
        snprintf(shi, sizeof shi, "%lld", (long long)hi);
        snprintf(ssz, sizeof ssz, "%" PRId64, sizes[id]);
        out_row(parts, sid, sl, slo, slso, shi, sizes[id] < 0 ? NULL : ssz);
    }

    size_t ncfg = 0;
    const rd_kafka_ConfigEntry_t **cs;
    ev = describe_configs(c, rk, name, &cs, &ncfg);
    if (!ev)
        goto out;
    entries = kp_calloc(ncfg ? ncfg : 1, sizeof *entries);
    if (!entries)
        goto out;
    memcpy(entries, cs, ncfg * sizeof *entries);
    qsort(entries, ncfg, sizeof *entries, cmp_entry);
    for (size_t k = 0; k < ncfg; k++) {
        const char *v = rd_kafka_ConfigEntry_is_sensitive(entries[k])
                            ? "(sensitive)"
                            : rd_kafka_ConfigEntry_value(entries[k]);
        out_row(cfg, rd_kafka_ConfigEntry_name(entries[k]), v ? v : "",
                config_source_name(rd_kafka_ConfigEntry_source(entries[k])));
    }

    char np[16], nr[16], ntot[24];
    snprintf(np, sizeof np, "%d", mt->partition_cnt);
    if (total >= 0)
        snprintf(ntot, sizeof ntot, "%" PRId64, total);
    else
        snprintf(ntot, sizeof ntot, "%s", c->format == CLI_FMT_JSON ? "null" : "-");
    snprintf(nr, sizeof nr, "%d", mt->partition_cnt > 0 ? mt->partitions[0].replica_cnt : 0);
    if (c->format == CLI_FMT_JSON) {
        printf("{\"name\": ");
        out_json_str(stdout, name);
        printf(", \"partition_count\": %s, \"replicas\": %s, \"size_bytes\": %s, \"internal\": %s,\n"
               " \"partitions\": ", np, nr, ntot, strncmp(name, "__", 2) == 0 ? "true" : "false");
        out_print(parts, CLI_FMT_JSON, stdout);
        printf(", \"configs\": ");
        out_print(cfg, CLI_FMT_JSON, stdout);
        printf("}\n");
    } else {
        out_row(sum, "NAME", name);
        out_row(sum, "PARTITIONS", np);
        out_row(sum, "REPLICAS", nr);
        out_row(sum, "SIZE_BYTES", ntot);
        if (c->format == CLI_FMT_TABLE) {
            printf("SUMMARY\n=======\n");
            printf("NAME        %s\nPARTITIONS  %s\nREPLICAS    %s\nSIZE_BYTES  %s\n", name, np,
                   nr, ntot);
        } else {
            out_print(sum, CLI_FMT_TEXT, stdout);
        }
        print_section("PARTITIONS", parts, c->format, false);
        print_section("CONFIGS", cfg, c->format, false);
    }
    rc = CLI_EXIT_OK;
out:
    kp_free(entries);
    kp_free(sizes);
    out_table_free(sum);
    out_table_free(parts);
    out_table_free(cfg);
    if (ev)
        rd_kafka_event_destroy(ev);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (ru)
        rd_kafka_destroy(ru);
    if (rcm)
        rd_kafka_destroy(rcm);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- delete ---- */

static void delete_help(FILE *f)
{
    fputs("usage: kappa topic delete NAME...\n"
          "\n"
          "Delete topics and every record in them.  Exits 1 if any could not be\n"
          "deleted (the others still are).\n",
          f);
    cli_common_help(f);
}

static int cmd_delete(cli_common_t *c, int argc, char **argv)
{
    int r, nnames = 0;
    char **names = kp_calloc((size_t)(argc ? argc : 1), sizeof *names);
    if (!names)
        return cli_fail(c, "out of memory");
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            kp_free(names);
            delete_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0) {
                kp_free(names);
                return CLI_EXIT_USAGE;
            }
        } else if (topic_is_option(argv[i])) {
            kp_free(names);
            return cli_usage_error(c, "unknown option '%s'", argv[i]);
        } else {
            names[nnames++] = argv[i];
        }
    }
    if (nnames == 0) {
        kp_free(names);
        return cli_usage_error(c, "missing topic NAME");
    }
    int rc;
    rd_kafka_t *rk = cli_admin_handle(c, &rc);
    if (!rk) {
        kp_free(names);
        return rc;
    }
    rd_kafka_DeleteTopic_t **dts = kp_calloc((size_t)nnames, sizeof *dts);
    if (!dts) {
        kp_free(names);
        rd_kafka_destroy(rk);
        return cli_fail(c, "out of memory");
    }
    for (int i = 0; i < nnames; i++)
        dts[i] = rd_kafka_DeleteTopic_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(c, rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(rk, dts, (size_t)nnames, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(c, q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
    rc = CLI_EXIT_FAIL;
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        out_table_t *t = out_table_new(2, "TOPIC", "STATUS");
        rc = CLI_EXIT_OK;
        for (size_t k = 0; k < n; k++) {
            const char *tn = rd_kafka_topic_result_name(res[k]);
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[k]);
            if (e) {
                const char *es = rd_kafka_topic_result_error_string(res[k]);
                cli_fail(c, "%s: %s%s", tn, es ? es : rd_kafka_err2str(e), cli_err_hint(e));
                rc = CLI_EXIT_FAIL;
            } else {
                out_row(t, tn, "deleted");
            }
        }
        out_print(t, c->format, stdout);
        out_table_free(t);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(dts, (size_t)nnames);
    kp_free(dts);
    kp_free(names);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- alter-config ---- */

static void alter_help(FILE *f)
{
    fputs("usage: kappa topic alter-config NAME [-c key=value]... [--delete key]...\n"
          "\n"
          "Set or remove topic-level configs; the others are kept.  A removed key\n"
          "falls back to the broker's value or the default.\n"
          "\n"
          "  -c, --config key=value  set key (repeatable)\n"
          "  -d, --delete key        remove the topic-level value of key (repeatable)\n"
          "\n"
          "librdkafka 2.0 has only the non-incremental AlterConfigs, which replaces a\n"
          "topic's whole set of configs: this command reads the current topic-level\n"
          "configs, merges the change and writes the full set back.  Two alter-configs\n"
          "of one topic at the same moment may therefore lose one of the changes.\n",
          f);
    cli_common_help(f);
}

typedef struct kv_set {
    char **keys, **values;      /* owned copies */
    int n, cap;
} kv_set_t;

static void kv_free(kv_set_t *s)
{
    for (int i = 0; i < s->n; i++) {
        kp_free(s->keys[i]);
        kp_free(s->values[i]);
    }
    kp_free(s->keys);
    kp_free(s->values);
    memset(s, 0, sizeof *s);
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kp_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Set key to value (NULL removes it).  Returns 0, or -1 when out of memory. */
static int kv_put(kv_set_t *s, const char *key, const char *value)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->keys[i], key) != 0)
            continue;
        kp_free(s->values[i]);
        if (value) {
            s->values[i] = str_dup(value);
            return s->values[i] ? 0 : -1;
        }
        kp_free(s->keys[i]);
        s->keys[i] = s->keys[s->n - 1];
        s->values[i] = s->values[s->n - 1];
        s->n--;
        return 0;
    }
    if (!value)
        return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **k = kp_realloc(s->keys, (size_t)cap * sizeof *k);
        if (!k)
            return -1;
        s->keys = k;
        char **v = kp_realloc(s->values, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        s->values = v;
        s->cap = cap;
    }
    s->keys[s->n] = str_dup(key);
    s->values[s->n] = str_dup(value);
    if (!s->keys[s->n] || !s->values[s->n]) {
        kp_free(s->keys[s->n]);
        kp_free(s->values[s->n]);
        return -1;
    }
    s->n++;
    return 0;
}

static int cmd_alter_config(cli_common_t *c, int argc, char **argv)
{
    const char *name = NULL, *v;
    /* Changes in command-line order: value NULL means --delete. */
    const char **ck = kp_calloc((size_t)(argc ? argc : 1), sizeof *ck);
    char **cv = kp_calloc((size_t)(argc ? argc : 1), sizeof *cv);
    int nch = 0, r, rc = CLI_EXIT_USAGE;
    kv_set_t cur = {0};
    rd_kafka_t *rk = NULL;
    rd_kafka_event_t *ev = NULL;
    if (!ck || !cv) {
        rc = cli_fail(c, "out of memory");
        goto out;
    }
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            alter_help(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                goto out;
        } else if ((r = topic_flag(c, argc, argv, &i, "-c", "--config", &v)) != 0) {
            char *key, *val;
            if (r < 0 || split_kv(c, "-c", v, &key, &val) < 0)
                goto out;
            ck[nch] = key;
            cv[nch++] = val;
        } else if ((r = topic_flag(c, argc, argv, &i, "-d", "--delete", &v)) != 0) {
            if (r < 0)
                goto out;
            if (!*v || strchr(v, '=')) {
                rc = cli_usage_error(c, "--delete wants a config name, not '%s'", v);
                goto out;
            }
            char *key = str_dup(v);
            if (!key) {
                rc = cli_fail(c, "out of memory");
                goto out;
            }
            ck[nch] = key;
            cv[nch++] = NULL;
        } else if ((r = topic_positional(c, argv[i], &name)) != 0) {
            rc = r;
            goto out;
        }
    }
    if (!name) {
        rc = cli_usage_error(c, "missing topic NAME");
        goto out;
    }
    if (nch == 0) {
        rc = cli_usage_error(c, "nothing to change: give -c key=value or --delete key");
        goto out;
    }
    rk = cli_admin_handle(c, &rc);
    if (!rk)
        goto out;
    rc = CLI_EXIT_FAIL;
    int np = topic_partition_count(c, rk, name, NULL);
    if (np < 0)
        goto out;
    if (np == 0) {
        cli_fail(c, "topic '%s' does not exist%s", name,
                 cli_err_hint(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        goto out;
    }

    /* The current topic-level set, then the changes on top. */
    const rd_kafka_ConfigEntry_t **cs;
    size_t ncs;
    ev = describe_configs(c, rk, name, &cs, &ncs);
    if (!ev)
        goto out;
    for (size_t k = 0; k < ncs; k++) {
        if (rd_kafka_ConfigEntry_source(cs[k]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
            continue;
        const char *val = rd_kafka_ConfigEntry_value(cs[k]);
        if (rd_kafka_ConfigEntry_is_sensitive(cs[k]) || !val) {
            /* The broker hides the value; writing the set back would erase it. */
            cli_fail(c, "%s: config %s is sensitive and cannot be read back, so a "
                     "non-incremental AlterConfigs would lose it",
                     name, rd_kafka_ConfigEntry_name(cs[k]));
            goto out;
        }
        if (kv_put(&cur, rd_kafka_ConfigEntry_name(cs[k]), val) < 0)
            goto oom;
    }
    rd_kafka_event_destroy(ev);
    ev = NULL;
    for (int k = 0; k < nch; k++)
        if (kv_put(&cur, ck[k], cv[k]) < 0)
            goto oom;

    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    for (int k = 0; k < cur.n; k++)
        rd_kafka_ConfigResource_set_config(res, cur.keys[k], cur.values[k]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(c, rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AlterConfigs(rk, &res, 1, o, q);
    ev = cli_admin_wait(c, q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    if (!ev)
        goto out;
    size_t nr;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &nr);
    for (size_t k = 0; k < nr; k++) {
        rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(rs[k]);
        if (e) {
            const char *es = rd_kafka_ConfigResource_error_string(rs[k]);
            cli_fail(c, "%s: %s%s", name, es && *es ? es : rd_kafka_err2str(e), cli_err_hint(e));
            goto out;
        }
    }
    /* What the topic now sets itself, sorted by name. */
    out_table_t *t = out_table_new(2, "NAME", "VALUE");
    for (int k = 0; k < cur.n; k++)
        for (int j = k + 1; j < cur.n; j++)
            if (strcmp(cur.keys[j], cur.keys[k]) < 0) {
                char *tk = cur.keys[k], *tv = cur.values[k];
                cur.keys[k] = cur.keys[j], cur.values[k] = cur.values[j];
                cur.keys[j] = tk, cur.values[j] = tv;
            }
    for (int k = 0; k < cur.n; k++)
        out_row(t, cur.keys[k], cur.values[k]);
    if (c->format == CLI_FMT_TABLE)
        fprintf(stderr, "altered topic %s; its topic-level configs are now:\n", name);
    out_print(t, c->format, stdout);
    out_table_free(t);
    rc = CLI_EXIT_OK;
    goto out;
oom:
    rc = cli_fail(c, "out of memory");
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (rk)
        rd_kafka_destroy(rk);
    kv_free(&cur);
    for (int k = 0; ck && k < nch; k++)
        kp_free((void *)ck[k]);     /* cv[k] points into the same allocation */
    kp_free(ck);
    kp_free(cv);
    return rc;
}

/* ---- add-partitions ---- */

static void add_partitions_help(FILE *f)
{
    fputs("usage: kappa topic add-partitions NAME -n TOTAL\n"
          "\n"
          "Grow a topic to TOTAL partitions (Kafka's semantics: TOTAL is the new\n"
          "count, not the number to add).  Partitions cannot be removed.  Keyed\n"
          "records map to other partitions afterwards.\n"
          "\n"
          "  -n, --num TOTAL   the new partition count\n",
          f);
    cli_common_help(f);
}

static int cmd_add_partitions(cli_common_t *c, int argc, char **argv)
{
    const char *name = NULL, *v;
    long long total = -1;
    int r;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            add_partitions_help(stdout);
            return CLI_EXIT_OK;
        }
        if ((r = cli_common_flag(c, argc, argv, &i)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
        } else if ((r = topic_flag(c, argc, argv, &i, "-n", "--num", &v)) != 0) {
            if (r < 0 || cli_parse_i64(c, "-n", v, &total) < 0)
                return CLI_EXIT_USAGE;
            if (total < 1 || total > 1000000)
                return cli_usage_error(c, "-n must be between 1 and 1000000");
        } else if ((r = topic_positional(c, argv[i], &name)) != 0) {
            return r;
        }
    }
    if (!name)
        return cli_usage_error(c, "missing topic NAME");
    if (total < 0)
        return cli_usage_error(c, "missing -n TOTAL (the new partition count)");
    int rc;
    rd_kafka_t *rk = cli_admin_handle(c, &rc);
    if (!rk)
        return rc;
    rc = CLI_EXIT_FAIL;
    int cur = topic_partition_count(c, rk, name, NULL);
    if (cur < 0)
        goto out;
    if (cur == 0) {
        cli_fail(c, "topic '%s' does not exist%s", name,
                 cli_err_hint(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        goto out;
    }
    if (total < cur) {
        cli_fail(c, "%s has %d partitions; partitions cannot be removed, so -n must be at "
                 "least %d (-n is the new total, not the number to add)",
                 name, cur, cur + 1);
        goto out;
    }
    if (total == cur) {
        cli_fail(c, "%s already has %d partitions (-n is the new total, not the number to add)",
                 name, cur);
        goto out;
    }
    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(name, (size_t)total, err, sizeof err);
    if (!np) {
        cli_fail(c, "%s", err);
        goto out;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(c, rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(rk, &np, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(c, q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    if (!ev)
        goto out;
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    rc = CLI_EXIT_OK;
    for (size_t k = 0; k < n; k++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[k]);
        if (e) {
            const char *es = rd_kafka_topic_result_error_string(res[k]);
            cli_fail(c, "%s: %s%s", name, es ? es : rd_kafka_err2str(e), cli_err_hint(e));
            rc = CLI_EXIT_FAIL;
        }
    }
    rd_kafka_event_destroy(ev);
    if (rc == CLI_EXIT_OK) {
        char was[16], now[16];
        snprintf(was, sizeof was, "%d", cur);
        snprintf(now, sizeof now, "%lld", total);
        out_table_t *t = out_table_new(3, "TOPIC", "OLD_PARTITIONS", "NEW_PARTITIONS");
        out_num(t, 1);
        out_num(t, 2);
        out_row(t, name, was, now);
        out_print(t, c->format, stdout);
        out_table_free(t);
    }
out:
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- dispatch ---- */

static int topic_dispatch(int argc, char **argv);

int cli_topic(int argc, char **argv)
{
    cli_common_t c;
    if (argc < 1) {
        fputs(topic_admin_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    /* Common flags may also come before the command (`kappa topic -b H:P
     * list`): move them after the command's own arguments, where every
     * command parses them. */
    cli_common_init(&c, "kappa topic");
    int lead = 0;
    while (lead < argc && !cli_is_help(argv[lead])) {
        int j = lead, r = cli_common_flag(&c, argc, argv, &j);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 0)
            break;
        lead = j + 1;
    }
    if (lead == argc) {
        fputs(topic_admin_usage, stderr);
        return CLI_EXIT_USAGE;
    }
    char **moved = NULL;
    if (lead > 0) {
        moved = kp_calloc((size_t)argc + 1, sizeof *moved);
        if (!moved)
            return cli_fail(&c, "out of memory");
        int m = 0;
        for (int i = lead; i < argc; i++)
            moved[m++] = argv[i];
        for (int i = 0; i < lead; i++)
            moved[m++] = argv[i];
        argv = moved;
    }
    int rc = topic_dispatch(argc, argv);
    kp_free(moved);
    return rc;
}

static int topic_dispatch(int argc, char **argv)
{
    cli_common_t c;
    const char *cmd = argv[0];
    if (cli_is_help(cmd) || strcmp(cmd, "help") == 0) {
        fputs(topic_admin_usage, stdout);
        cli_common_help(stdout);
        return CLI_EXIT_OK;
    }
    static const struct {
        const char *name, *prog;
        int (*fn)(cli_common_t *, int, char **);
    } cmds[] = {
        {"create", "kappa topic create", cmd_create},
        {"list", "kappa topic list", cmd_list},
        {"describe", "kappa topic describe", cmd_describe},
        {"delete", "kappa topic delete", cmd_delete},
        {"alter-config", "kappa topic alter-config", cmd_alter_config},
        {"add-partitions", "kappa topic add-partitions", cmd_add_partitions},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) == 0) {
            cli_common_init(&c, cmds[i].prog);
            return cmds[i].fn(&c, argc - 1, argv + 1);
        }
    }
    if (strcmp(cmd, "produce") == 0)
        return topic_produce(argc - 1, argv + 1);
    if (strcmp(cmd, "consume") == 0)
        return topic_consume(argc - 1, argv + 1);
    fprintf(stderr, "kappa topic: unknown command '%s' (see `kappa topic --help`)\n", cmd);
    return CLI_EXIT_USAGE;
}

/*
 * client.c -- common flags, librdkafka set-up and error reporting for the
 * client subcommands.
 *
 * Why a metadata probe before every admin call: librdkafka retries a down
 * broker forever and an admin request would only time out with "Local: Timed
 * out".  Probing first lets us say what is actually wrong (nothing listens at
 * the address) within the timeout, never hang.
 */
#include "cli/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_common_init(cli_common_t *c, const char *prog)
{
    memset(c, 0, sizeof *c);
    const char *env = getenv("KAPPA_BROKERS");
    c->brokers = env && *env ? env : "127.0.0.1:9092";
    env = getenv("KAPPA_HTTP");
    c->http = env && *env ? env : "127.0.0.1:9644";
    c->format = CLI_FMT_TABLE;
    c->timeout_ms = 10000;
    c->prog = prog;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Match "-s"/"--long" (value in the next argument) or "--long=value". */
static int flag_value(int argc, char **argv, int *i, const char *shrt, const char *lng,
                      const char **value, bool *matched)
{
    const char *a = argv[*i];
    size_t ln = strlen(lng);
    *matched = false;
    if (strncmp(a, lng, ln) == 0 && a[ln] == '=') {
        *matched = true;
        *value = a + ln + 1;
        return 0;
    }
    if (strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0)) {
        *matched = true;
        if (*i + 1 >= argc)
            return -1;
        *value = argv[++*i];
        return 0;
    }
    return 0;
}

int cli_common_flag(cli_common_t *c, int argc, char **argv, int *i)
{
    const char *v = NULL;
    bool m;
    const char *flag = argv[*i];
    if (flag_value(argc, argv, i, "-b", "--brokers", &v, &m) < 0)
        goto missing;
    if (m) {
        c->brokers = v;
        return 1;
    }
    if (flag_value(argc, argv, i, NULL, "--http", &v, &m) < 0)
        goto missing;
    if (m) {
        c->http = v;
        return 1;
    }
    if (flag_value(argc, argv, i, NULL, "--format", &v, &m) < 0)
        goto missing;
    if (m) {
        if (strcmp(v, "table") == 0)
            c->format = CLI_FMT_TABLE;
        else if (strcmp(v, "text") == 0)
            c->format = CLI_FMT_TEXT;
        else if (strcmp(v, "json") == 0)
            c->format = CLI_FMT_JSON;
        else {
            cli_usage_error(c, "--format must be table, text or json, not '%s'", v);
            return -1;
        }
        return 1;
    }
    if (flag_value(argc, argv, i, NULL, "--timeout", &v, &m) < 0)
        goto missing;
    if (m) {
        long long ms;
        if (cli_parse_i64(c, "--timeout", v, &ms) < 0)
            return -1;
        if (ms < 1 || ms > 3600000) {
            cli_usage_error(c, "--timeout must be between 1 and 3600000 ms");
            return -1;
        }
        c->timeout_ms = (int)ms;
        return 1;
    }
    if (strcmp(argv[*i], "--json") == 0) {
        c->format = CLI_FMT_JSON;
        return 1;
    }
    return 0;
missing:
    cli_usage_error(c, "%s needs a value", flag);
    return -1;
}

void cli_common_help(FILE *out)
{
    fprintf(out,
            "common options:\n"
            "  -b, --brokers HOST:PORT[,...]  Kafka-protocol brokers (default 127.0.0.1:9092,\n"
            "                                 or $KAPPA_BROKERS)\n"
            "      --format table|text|json   output format (default table; --json = json)\n"
            "      --timeout MS               give up after MS milliseconds (default 10000)\n"
            "  -h, --help                     this help\n");
}

int cli_fail(const cli_common_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const cli_common_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `%s --help`)\n", c->prog);
    return CLI_EXIT_USAGE;
}

int cli_parse_i64(const cli_common_t *c, const char *what, const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) {
        cli_usage_error(c, "%s: '%s' is not an integer", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_conf_set(const cli_common_t *c, rd_kafka_conf_t *conf, const char *key,
                 const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s=%s: %s\n", c->prog, key, value, err);
        return -1;
    }
    return 0;
}

/* librdkafka logs connection failures to stderr by default; the CLI reports
 * them itself, once, in words a user can act on. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

rd_kafka_conf_t *cli_conf(const cli_common_t *c)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char ms[32];
    snprintf(ms, sizeof ms, "%d", c->timeout_ms);
    if (cli_conf_set(c, conf, "bootstrap.servers", c->brokers) ||
        cli_conf_set(c, conf, "client.id", "kappa-cli") ||
        cli_conf_set(c, conf, "socket.timeout.ms", ms) ||
        cli_conf_set(c, conf, "reconnect.backoff.max.ms", "1000") ||
        cli_conf_set(c, conf, "log.connection.close", "false")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    return conf;
}

rd_kafka_t *cli_admin_handle(const cli_common_t *c, int *exit_code)
{
    char err[512];
    *exit_code = CLI_EXIT_FAIL;
    rd_kafka_conf_t *conf = cli_conf(c);
    if (!conf)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        cli_fail(c, "cannot create a Kafka client: %s", err);
        return NULL;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, c->timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr,
                "%s: cannot reach a broker at %s within %.1f s (%s): is `kappa server` "
                "running? Use -b HOST:PORT to name another broker.\n",
                c->prog, c->brokers, c->timeout_ms / 1000.0, rd_kafka_err2str(e));
        *exit_code = CLI_EXIT_UNREACHABLE;
        rd_kafka_destroy(rk);
        return NULL;
    }
    rd_kafka_metadata_destroy(md);
    *exit_code = CLI_EXIT_OK;
    return rk;
}

rd_kafka_AdminOptions_t *cli_admin_options(const cli_common_t *c, rd_kafka_t *rk,
                                           rd_kafka_admin_op_t op)
{
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    if (!o)
        return NULL;
    rd_kafka_AdminOptions_set_request_timeout(o, c->timeout_ms, err, sizeof err);
    /* The operation timeout only applies to topic operations. */
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS || op == RD_KAFKA_ADMIN_OP_DELETERECORDS)
        rd_kafka_AdminOptions_set_operation_timeout(o, c->timeout_ms, err, sizeof err);
    return o;
}

rd_kafka_event_t *cli_admin_wait(const cli_common_t *c, rd_kafka_queue_t *q,
                                 rd_kafka_event_type_t type)
{
    /* The admin request carries its own timeout; wait a little longer so its
     * own timeout error, which is more specific, arrives first. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, c->timeout_ms + 2000);
    if (!ev) {
        cli_fail(c, "no answer from %s within %.1f s", c->brokers, c->timeout_ms / 1000.0);
        return NULL;
    }
    if (rd_kafka_event_type(ev) != type) {
        const char *es = rd_kafka_event_error_string(ev);
        cli_fail(c, "unexpected answer from the client library: %s",
                 es ? es : rd_kafka_event_name(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        cli_fail(c, "%s%s", rd_kafka_event_error_string(ev), cli_err_hint(e));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

const char *cli_err_hint(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return " (list the topics with `kappa topic list`)";
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return " (see it with `kappa topic describe`)";
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
        return " (list the groups with `kappa group list`)";
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
        return " (the group still has members: stop its consumers first)";
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
        return " (see the topic's configs with `kappa topic describe`)";
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return " (raise --timeout, or check the broker is healthy)";
    default:
        return "";
    }
}

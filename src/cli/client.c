/*
 * client.c -- common flags, librdkafka set-up and error reporting for the
 * client subcommands.
 *
 * Why a metadata probe before every admin call: librdkafka retries a down
 * broker forever and an admin request would only time out with "Local: Timed
 * out".  Probing first lets us say what is actually wrong (nothing listens at
 * the address) within the timeout, never hang.
 *
 * The raw requests (cli_raw_*) use non-blocking sockets and poll() against
 * one deadline per connection, so a broker that accepts and then says
 * nothing costs at most the caller's timeout.
 */
#include "cli/client.h"

#include "core/kp_clock.h"
#include "core/kp_mem.h"
#include "kafka/wire.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* ---- raw Kafka requests ---- */

#define RAW_MAX_RESPONSE_BYTES (16 << 20)
#define RAW_CLIENT_ID "kappa-cli"
#define API_VERSIONS_KEY 18

int64_t cli_mono_ms(void)
{
    return kp_mono_ns() / 1000000;
}

int cli_split_address(const char *addr, char *host, size_t hn, char *port, size_t pn)
{
    const char *s = strstr(addr, "://");
    s = s ? s + 3 : addr;
    const char *colon;
    if (*s == '[') {
        const char *close_br = strchr(s, ']');
        if (!close_br || close_br[1] != ':')
            return -1;
        snprintf(host, hn, "%.*s", (int)(close_br - s - 1), s + 1);
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        snprintf(host, hn, "%.*s", (int)(colon - s), s);
    }
    snprintf(port, pn, "%s", colon + 1);
    return *host && *port ? 0 : -1;
}

/* Wait until fd is ready for events or the deadline passes: 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - cli_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int io_all(int fd, uint8_t *buf, size_t n, bool writing, int64_t deadline_ms)
{
    size_t done = 0;
    while (done < n) {
        int r = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline_ms);
        if (r)
            return r;
        ssize_t k = writing ? send(fd, buf + done, n - done, MSG_NOSIGNAL)
                            : recv(fd, buf + done, n - done, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -ECONNRESET;
        done += (size_t)k;
    }
    return 0;
}

int cli_raw_dial(cli_raw_t *c, const char *host, const char *port, int64_t deadline_ms)
{
    *c = (cli_raw_t){.fd = -1, .deadline_ms = deadline_ms, .correlation_id = 0x6b617070};
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res))
        return -EHOSTUNREACH;
    int fd = -ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0)
            continue;
        if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
            fd = s;
            break;
        }
        if (errno == EINPROGRESS) {
            int w = wait_fd(s, POLLOUT, deadline_ms);
            int err = 0;
            socklen_t len = sizeof err;
            if (w == 0)
                getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
            if (w == 0 && err == 0) {
                fd = s;
                break;
            }
            fd = w ? w : -err;
        } else {
            fd = -errno;
        }
        close(s);
    }
    freeaddrinfo(res);
    if (fd < 0)
        return fd;
    c->fd = fd;
    return 0;
}

void cli_raw_close(cli_raw_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int cli_raw_call(cli_raw_t *c, int16_t api_key, int16_t version, const void *body,
                 size_t len, uint8_t **resp, size_t *resp_len)
{
    *resp = NULL;
    *resp_len = 0;
    int32_t corr = c->correlation_id++;
    kwr_t w;
    kwr_init(&w);
    kwr_i32(&w, 0);                     /* the size, patched below */
    kwr_i16(&w, api_key);
    kwr_i16(&w, version);
    kwr_i32(&w, corr);
    kwr_cstr(&w, RAW_CLIENT_ID, false);
    kwr_raw(&w, body, len);
    if (w.err || w.len - 4 > INT32_MAX) {
        kwr_free(&w);
        return -ENOMEM;
    }
    kwr_patch_i32(&w, 0, (int32_t)(w.len - 4));
    uint8_t len4[4], *in = NULL;
    int rc = io_all(c->fd, w.buf, w.len, true, c->deadline_ms);
    kwr_free(&w);
    if (rc == 0)
        rc = io_all(c->fd, len4, 4, false, c->deadline_ms);
    if (rc)
        return rc;
    uint32_t n = (uint32_t)len4[0] << 24 | (uint32_t)len4[1] << 16 | (uint32_t)len4[2] << 8 | len4[3];
    if (n < 4 || n > RAW_MAX_RESPONSE_BYTES)
        return -EPROTO;
    in = kp_malloc(n);
    if (!in)
        return -ENOMEM;
    rc = io_all(c->fd, in, n, false, c->deadline_ms);
    krd_t r;
    krd_init(&r, in, n);
    if (rc == 0 && krd_i32(&r) != corr)
        rc = -EPROTO;
    if (rc) {
        kp_free(in);
        return rc;
    }
    /* The body moves to the front so the caller frees what it is given. */
    memmove(in, in + 4, n - 4);
    *resp = in;
    *resp_len = n - 4;
    return 0;
}

int cli_raw_api_versions(cli_raw_t *c, cli_api_range_t **out, int *n, int16_t *kerr)
{
    *out = NULL;
    *n = 0;
    *kerr = 0;
    uint8_t *body;
    size_t len;
    int rc = cli_raw_call(c, API_VERSIONS_KEY, 0, NULL, 0, &body, &len);
    if (rc)
        return rc;
    krd_t r;
    krd_init(&r, body, len);
    *kerr = krd_i16(&r);
    int32_t cnt = krd_count(&r, false, false, 6);
    cli_api_range_t *v = r.err ? NULL : kp_calloc(cnt ? (size_t)cnt : 1, sizeof *v);
    for (int32_t i = 0; v && i < cnt; i++) {
        v[i].key = krd_i16(&r);
        v[i].min = krd_i16(&r);
        v[i].max = krd_i16(&r);
    }
    rc = r.err ? -EPROTO : v ? 0 : -ENOMEM;
    kp_free(body);
    if (rc) {
        kp_free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

bool cli_api_supported(const cli_api_range_t *v, int n, int16_t key, int16_t version)
{
    for (int i = 0; i < n; i++)
        if (v[i].key == key)
            return v[i].min <= version && version <= v[i].max;
    return false;
}

const char *cli_raw_strerror(int rc)
{
    return rc == -EPROTO ? "malformed answer" : strerror(-rc);
}

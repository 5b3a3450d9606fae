/*
 * cluster.c -- `kappa cluster info | health`: what a Kafka-protocol cluster
 * looks like from a client, for any broker.
 *
 * info prints the brokers (with the controller marked), the cluster id when
 * the broker reports one, topic and partition counts, and the API version
 * ranges one broker supports.  librdkafka 2.0.2 has no public call for the
 * ranges it negotiated, so we ask for them ourselves: one ApiVersions v0
 * request on a plain TCP socket to the first bootstrap address that answers.
 * v0 is the version every broker must understand (a client learns what else
 * the broker speaks from its answer), and its request and response have no
 * tagged fields, so the framing is a few fixed-width integers.
 *
 * health is healthy when the broker answers metadata and every partition of
 * every topic has a leader among the listed brokers and no partition or topic
 * reports an error.  Exit 0 healthy, 1 with the problems listed, 3 if no
 * broker answers.
 */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/out.h"

#include "core/kp_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Kafka's API names by key (apache/kafka ApiKeys), for readable output. */
static const char *const api_names[] = {
    "Produce", "Fetch", "ListOffsets", "Metadata", "LeaderAndIsr", "StopReplica",
    "UpdateMetadata", "ControlledShutdown", "OffsetCommit", "OffsetFetch", "FindCoordinator",
    "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup", "DescribeGroups", "ListGroups",
    "SaslHandshake", "ApiVersions", "CreateTopics", "DeleteTopics", "DeleteRecords",
    "InitProducerId", "OffsetForLeaderEpoch", "AddPartitionsToTxn", "AddOffsetsToTxn", "EndTxn",
    "WriteTxnMarkers", "TxnOffsetCommit", "DescribeAcls", "CreateAcls", "DeleteAcls",
    "DescribeConfigs", "AlterConfigs", "AlterReplicaLogDirs", "DescribeLogDirs",
    "SaslAuthenticate", "CreatePartitions", "CreateDelegationToken", "RenewDelegationToken",
    "ExpireDelegationToken", "DescribeDelegationToken", "DeleteGroups", "ElectLeaders",
    "IncrementalAlterConfigs", "AlterPartitionReassignments", "ListPartitionReassignments",
    "OffsetDelete", "DescribeClientQuotas", "AlterClientQuotas", "DescribeUserScramCredentials",
    "AlterUserScramCredentials", "Vote", "BeginQuorumEpoch", "EndQuorumEpoch", "DescribeQuorum",
    "AlterPartition", "UpdateFeatures", "Envelope", "FetchSnapshot", "DescribeCluster",
    "DescribeProducers", "BrokerRegistration", "BrokerHeartbeat", "UnregisterBroker",
    "DescribeTransactions", "ListTransactions", "AllocateProducerIds", "ConsumerGroupHeartbeat",
    "ConsumerGroupDescribe", "ControllerRegistration", "GetTelemetrySubscriptions",
    "PushTelemetry", "AssignReplicasToDirs", "ListClientMetricsResources",
    "DescribeTopicPartitions",
};

#define API_VERSIONS_KEY 18
#define API_VERSIONS_MAX_BYTES (1 << 20)

typedef struct api_range {
    int16_t key, min, max;
} api_range_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes: 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - now_ms();
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

/* Connect to host:port with a deadline; returns the fd or -errno. */
static int dial(const char *host, const char *port, int64_t deadline_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r)
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
        if (errno == EINPROGRESS && wait_fd(s, POLLOUT, deadline_ms) == 0) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == 0) {
                fd = s;
                break;
            }
            fd = -err;
        }
        close(s);
    }
    freeaddrinfo(res);
    return fd;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * One ApiVersions v0 round trip to host:port.  On success *out is an array
 * of *n ranges (caller kp_free()s) and 0 is returned; otherwise -errno, or
 * -EPROTO for a malformed answer, and *kerr holds a Kafka error code if the
 * broker sent one with no ranges.
 */
static int api_versions_query(const char *host, const char *port, int timeout_ms,
                              api_range_t **out, int *n, int16_t *kerr)
{
    static const char client_id[] = "kappa-cli";
    const int32_t correlation_id = 0x6b617070;   /* "kapp" */
    int64_t deadline = now_ms() + timeout_ms;
    *out = NULL;
    *n = 0;
    *kerr = 0;
    int fd = dial(host, port, deadline);
    if (fd < 0)
        return fd;
    /* size, api_key, api_version, correlation_id, client_id (int16 length + bytes) */
    uint8_t req[4 + 2 + 2 + 4 + 2 + sizeof client_id - 1];
    uint32_t size = sizeof req - 4;
    size_t clen = sizeof client_id - 1;
    uint8_t hdr[14] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8),
                       (uint8_t)size, 0, API_VERSIONS_KEY, 0, 0,
                       (uint8_t)(correlation_id >> 24), (uint8_t)(correlation_id >> 16),
                       (uint8_t)(correlation_id >> 8), (uint8_t)correlation_id,
                       (uint8_t)(clen >> 8), (uint8_t)clen};
    memcpy(req, hdr, sizeof hdr);
    memcpy(req + sizeof hdr, client_id, clen);
    uint8_t len4[4];
    uint8_t *body = NULL;
    int rc = io_all(fd, req, sizeof req, true, deadline);
    if (rc == 0)
        rc = io_all(fd, len4, 4, false, deadline);
    if (rc)
        goto done;
    uint32_t blen = get32(len4);
    /* correlation id + error code + array length at least */
    if (blen < 10 || blen > API_VERSIONS_MAX_BYTES) {
        rc = -EPROTO;
        goto done;
    }
    body = kp_malloc(blen);
    if (!body) {
        rc = -ENOMEM;
        goto done;
    }
    rc = io_all(fd, body, blen, false, deadline);
    if (rc)
        goto done;
    if ((int32_t)get32(body) != correlation_id) {
        rc = -EPROTO;
        goto done;
    }
    *kerr = (int16_t)get16(body + 4);
    int32_t cnt = (int32_t)get32(body + 6);
    if (cnt < 0 || (size_t)cnt > (blen - 10) / 6) {
        rc = -EPROTO;
        goto done;
    }
    api_range_t *v = kp_calloc(cnt ? (size_t)cnt : 1, sizeof *v);
    if (!v) {
        rc = -ENOMEM;
        goto done;
    }
    for (int32_t i = 0; i < cnt; i++) {
        const uint8_t *p = body + 10 + (size_t)i * 6;
        v[i] = (api_range_t){(int16_t)get16(p), (int16_t)get16(p + 2), (int16_t)get16(p + 4)};
    }
    *out = v;
    *n = cnt;
done:
    kp_free(body);
    close(fd);
    return rc;
}

/* Split "host:port", "[v6]:port" or "PLAINTEXT://host:port" into parts. */
static int split_address(const char *addr, char *host, size_t hn, char *port, size_t pn)
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

/* ApiVersions from the first bootstrap address that answers; *addr_out
 * names it.  Returns 0, or -1 after printing why. */
static int api_versions(const cli_common_t *c, api_range_t **out, int *n, char *addr_out,
                        size_t an)
{
    size_t len = strlen(c->brokers);
    char *list = kp_malloc(len + 1);
    if (!list) {
        cli_fail(c, "out of memory");
        return -1;
    }
    memcpy(list, c->brokers, len + 1);
    int rc = -1;
    char why[300] = "no broker address given";
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char host[256], port[32];
        if (split_address(tok, host, sizeof host, port, sizeof port) < 0) {
            snprintf(why, sizeof why, "'%s' is not HOST:PORT", tok);
            continue;
        }
        int16_t kerr;
        int r = api_versions_query(host, port, c->timeout_ms, out, n, &kerr);
        if (r == 0 && (*n > 0 || kerr == 0)) {
            snprintf(addr_out, an, "%s", tok);
            rc = 0;
            break;
        }
        if (r == 0) {
            kp_free(*out);
            *out = NULL;
            snprintf(why, sizeof why, "%s answered error %d", tok, kerr);
        } else {
            snprintf(why, sizeof why, "%s: %s", tok,
                     r == -EPROTO ? "malformed ApiVersions answer" : strerror(-r));
        }
    }
    kp_free(list);
    if (rc)
        cli_fail(c, "ApiVersions: %s", why);
    return rc;
}

static const char *api_name(int16_t key, char *buf, size_t n)
{
    if (key >= 0 && (size_t)key < sizeof api_names / sizeof api_names[0])
        return api_names[key];
    snprintf(buf, n, "Unknown%d", key);
    return buf;
}

static int cmp_range(const void *a, const void *b)
{
    const api_range_t *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

/* ---- info ---- */

static void help_info(FILE *f)
{
    fprintf(f, "usage: kappa cluster info [options]\n"
               "\n"
               "The brokers (ID, HOST, PORT, CONTROLLER), the cluster id if the broker\n"
               "reports one, the number of topics and partitions, and the API version ranges\n"
               "(KEY, API, MIN, MAX) of the first bootstrap broker that answers.\n\n");
    cli_common_help(f);
}

static int cmp_broker(const void *a, const void *b)
{
    const struct rd_kafka_metadata_broker *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int parse_only_common(cli_common_t *c, int argc, char **argv, void (*help)(FILE *),
                             bool *done)
{
    *done = false;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help(stdout);
            *done = true;
            return CLI_EXIT_OK;
        }
        int r = cli_common_flag(c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 0)
            return cli_usage_error(c, "unexpected argument '%s'", argv[i]);
    }
    return CLI_EXIT_OK;
}

static int cluster_info(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa cluster info");
    bool done;
    int rc = parse_only_common(&c, argc, argv, help_info, &done);
    if (rc || done)
        return rc;
    rd_kafka_t *rk = cli_admin_handle(&c, &rc);
    if (!rk)
        return rc;
    const struct rd_kafka_metadata *md = NULL;
    char *cluster_id = NULL;
    api_range_t *apis = NULL;
    struct rd_kafka_metadata_broker *brokers = NULL;
    out_table_t *bt = NULL, *at = NULL;
    int napis = 0;
    char api_addr[300] = "";
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c.timeout_ms);
    if (e) {
        rc = cli_fail(&c, "metadata: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
        goto out;
    }
    cluster_id = rd_kafka_clusterid(rk, c.timeout_ms);
    int32_t controller = rd_kafka_controllerid(rk, c.timeout_ms);
    long partitions = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        partitions += md->topics[i].partition_cnt;
    if (api_versions(&c, &apis, &napis, api_addr, sizeof api_addr) < 0) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    qsort(apis, (size_t)napis, sizeof *apis, cmp_range);
    brokers = kp_calloc(md->broker_cnt ? (size_t)md->broker_cnt : 1, sizeof *brokers);
    bt = out_table_new(4, "ID", "HOST", "PORT", "CONTROLLER");
    at = out_table_new(4, "KEY", "API", "MIN", "MAX");
    if (!brokers || !bt || !at) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    out_num(bt, 0);
    out_num(bt, 2);
    out_num(at, 0);
    out_num(at, 2);
    out_num(at, 3);
    memcpy(brokers, md->brokers, (size_t)md->broker_cnt * sizeof *brokers);
    qsort(brokers, (size_t)md->broker_cnt, sizeof *brokers, cmp_broker);
    for (int i = 0; i < md->broker_cnt; i++) {
        char id[16], port[16];
        snprintf(id, sizeof id, "%" PRId32, brokers[i].id);
        snprintf(port, sizeof port, "%d", brokers[i].port);
        out_row(bt, id, brokers[i].host, port, brokers[i].id == controller ? "yes" : "no");
    }
    for (int i = 0; i < napis; i++) {
        char key[16], mn[16], mx[16], nb[32];
        snprintf(key, sizeof key, "%d", apis[i].key);
        snprintf(mn, sizeof mn, "%d", apis[i].min);
        snprintf(mx, sizeof mx, "%d", apis[i].max);
        out_row(at, key, api_name(apis[i].key, nb, sizeof nb), mn, mx);
    }
    const char *cid = cluster_id && *cluster_id ? cluster_id : NULL;
    if (c.format == CLI_FMT_JSON) {
        fputs("{\"cluster_id\": ", stdout);
        out_json_str(stdout, cid);
        if (controller >= 0)
            printf(", \"controller_id\": %" PRId32, controller);
        else
            fputs(", \"controller_id\": null", stdout);
        printf(", \"topics\": %d, \"partitions\": %ld,\n \"brokers\": ", md->topic_cnt, partitions);
        out_print(bt, c.format, stdout);
        fputs(" ,\"api_versions_from\": ", stdout);
        out_json_str(stdout, api_addr);
        fputs(",\n \"api_versions\": ", stdout);
        out_print(at, c.format, stdout);
        fputs("}\n", stdout);
    } else if (c.format == CLI_FMT_TEXT) {
        /* One record per line, its kind first: easy to pick out with awk. */
        printf("cluster_id\t%s\n", cid ? cid : "-");
        printf("controller_id\t%" PRId32 "\n", controller);
        printf("topics\t%d\npartitions\t%ld\n", md->topic_cnt, partitions);
        for (int i = 0; i < md->broker_cnt; i++)
            printf("broker\t%" PRId32 "\t%s\t%d\t%s\n", brokers[i].id, brokers[i].host,
                   brokers[i].port, brokers[i].id == controller ? "yes" : "no");
        for (int i = 0; i < napis; i++) {
            char nb[32];
            printf("api\t%d\t%s\t%d\t%d\n", apis[i].key, api_name(apis[i].key, nb, sizeof nb),
                   apis[i].min, apis[i].max);
        }
    } else {
        printf("CLUSTER_ID   %s\n", cid ? cid : "-");
        if (controller >= 0)
            printf("CONTROLLER   %" PRId32 "\n", controller);
        else
            printf("CONTROLLER   -\n");
        printf("TOPICS       %d\nPARTITIONS   %ld\n\n", md->topic_cnt, partitions);
        out_print(bt, c.format, stdout);
        printf("\nAPI versions of %s:\n", api_addr);
        out_print(at, c.format, stdout);
    }
    rc = CLI_EXIT_OK;
out:
    out_table_free(bt);
    out_table_free(at);
    kp_free(brokers);
    kp_free(apis);
    if (cluster_id)
        rd_kafka_mem_free(rk, cluster_id);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- health ---- */

static void help_health(FILE *f)
{
    fprintf(f, "usage: kappa cluster health [options]\n"
               "\n"
               "Prints \"healthy\" and exits 0 when the broker answers metadata and every\n"
               "partition of every topic has a leader among the brokers and reports no error;\n"
               "otherwise lists the problems and exits 1.  Exits 3 if no broker answers.\n\n");
    cli_common_help(f);
}

typedef struct problems {
    char **v;
    int n, cap;
} problems_t;

static void problem_add(problems_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem_add(problems_t *p, const char *fmt, ...)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        char **v = kp_realloc(p->v, (size_t)cap * sizeof *v);
        if (!v)
            return;
        p->v = v;
        p->cap = cap;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t len = strlen(buf) + 1;
    char *s = kp_malloc(len);
    if (!s)
        return;
    memcpy(s, buf, len);
    p->v[p->n++] = s;
}

static bool broker_known(const struct rd_kafka_metadata *md, int32_t id)
{
    for (int i = 0; i < md->broker_cnt; i++)
        if (md->brokers[i].id == id)
            return true;
    return false;
}

static int cluster_health(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa cluster health");
    bool done;
    int rc = parse_only_common(&c, argc, argv, help_health, &done);
    if (rc || done)
        return rc;
    rd_kafka_t *rk = cli_admin_handle(&c, &rc);
    if (!rk)
        return rc;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c.timeout_ms);
    if (e) {
        rc = cli_fail(&c, "metadata: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
        rd_kafka_destroy(rk);
        return rc;
    }
    problems_t pr = {0};
    long partitions = 0;
    if (md->broker_cnt == 0)
        problem_add(&pr, "the metadata lists no brokers");
    for (int i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (t->err)
            problem_add(&pr, "topic %s: %s", t->topic, rd_kafka_err2str(t->err));
        for (int k = 0; k < t->partition_cnt; k++) {
            const struct rd_kafka_metadata_partition *p = &t->partitions[k];
            partitions++;
            if (p->err)
                problem_add(&pr, "topic %s partition %" PRId32 ": %s", t->topic, p->id,
                            rd_kafka_err2str(p->err));
            else if (p->leader < 0)
                problem_add(&pr, "topic %s partition %" PRId32 ": no leader", t->topic, p->id);
            else if (!broker_known(md, p->leader))
                problem_add(&pr, "topic %s partition %" PRId32 ": leader %" PRId32
                                 " is not among the brokers", t->topic, p->id, p->leader);
        }
    }
    bool healthy = pr.n == 0;
    if (c.format == CLI_FMT_JSON) {
        printf("{\"healthy\": %s, \"brokers\": %d, \"topics\": %d, \"partitions\": %ld, "
               "\"problems\": [", healthy ? "true" : "false", md->broker_cnt, md->topic_cnt,
               partitions);
        for (int i = 0; i < pr.n; i++) {
            if (i)
                fputs(", ", stdout);
            out_json_str(stdout, pr.v[i]);
        }
        fputs("]}\n", stdout);
    } else if (healthy) {
        printf("healthy: %d broker(s), %d topic(s), %ld partition(s)\n", md->broker_cnt,
               md->topic_cnt, partitions);
    } else {
        printf("unhealthy: %d problem(s)\n", pr.n);
        for (int i = 0; i < pr.n; i++)
            printf("  %s\n", pr.v[i]);
    }
    for (int i = 0; i < pr.n; i++)
        kp_free(pr.v[i]);
    kp_free(pr.v);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return healthy ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---- dispatch ---- */

static int usage(FILE *f)
{
    fprintf(f, "usage: kappa cluster COMMAND [options]\n"
               "\n"
               "  info     brokers, cluster id, topic and partition counts, API versions\n"
               "  health   exit 0 if every partition has a leader and no errors, else 1\n"
               "\n"
               "`kappa cluster COMMAND --help` for each command's options.\n");
    return f == stdout ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int cli_cluster(int argc, char **argv)
{
    if (argc < 1)
        return usage(stderr);
    const char *cmd = argv[0];
    if (cli_is_help(cmd) || strcmp(cmd, "help") == 0)
        return usage(stdout);
    if (strcmp(cmd, "info") == 0)
        return cluster_info(argc - 1, argv + 1);
    if (strcmp(cmd, "health") == 0)
        return cluster_health(argc - 1, argv + 1);
    fprintf(stderr, "kappa cluster: unknown command '%s' (see `kappa cluster --help`)\n", cmd);
    return CLI_EXIT_USAGE;
}

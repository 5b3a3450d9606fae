/*
 * cluster.c -- `kappa cluster info | health`: what a Kafka-protocol cluster
 * looks like from a client, for any broker.
 *
 * info prints the brokers (with the controller marked), the cluster id when
 * the broker reports one, topic and partition counts, and the API version
 * ranges one broker supports.  librdkafka 2.0.2 has no public call for the
 * ranges it negotiated, so we ask for them ourselves: one ApiVersions v0
 * request (cli_raw_api_versions) to the first bootstrap address that
 * answers.  v0 is the version every broker must understand (a client learns
 * what else the broker speaks from its answer).
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
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

/* ApiVersions from the first bootstrap address that answers; *addr_out
 * names it.  Returns 0, or -1 after printing why. */
static int api_versions(const cli_common_t *c, cli_api_range_t **out, int *n, char *addr_out,
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
        if (cli_split_address(tok, host, sizeof host, port, sizeof port) < 0) {
            snprintf(why, sizeof why, "'%s' is not HOST:PORT", tok);
            continue;
        }
        int16_t kerr = 0;
        cli_raw_t raw;
        int r = cli_raw_dial(&raw, host, port, cli_mono_ms() + c->timeout_ms);
        if (r == 0)
            r = cli_raw_api_versions(&raw, out, n, &kerr);
        cli_raw_close(&raw);
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
    const cli_api_range_t *x = a, *y = b;
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
    cli_api_range_t *apis = NULL;
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

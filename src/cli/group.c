/*
 * group.c -- `kappa group list | describe | seek | delete`: consumer groups
 * seen from outside, through the Kafka admin protocol only (librdkafka's
 * ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets,
 * AlterConsumerGroupOffsets, DeleteGroups and watermark queries), so every
 * subcommand works against any Kafka-protocol broker.
 *
 * What a user relies on:
 *  (1) describe shows one row per partition the group has a committed offset
 *      for or has assigned to a member, with LAG = LOG_END_OFFSET -
 *      CURRENT_OFFSET exactly; an assigned partition without a commit shows
 *      "-" for both, as kafka-consumer-groups does.
 *  (2) A group that Kafka describes as Dead with no members and no offsets
 *      is reported as not existing (Kafka answers unknown groups that way).
 *  (3) seek never commits while the group has members: the member would
 *      overwrite the new offsets with its next commit.  The broker enforces
 *      this too (an admin commit carries generation -1 and no member id,
 *      which Kafka's coordinator refuses with UNKNOWN_MEMBER_ID for a
 *      non-empty group), so a consumer that joins between our check and our
 *      commit is still safe; we report that refusal in the same words.
 *  (4) seek computes every new offset before it commits any and clamps an
 *      absolute offset into [log start, log end], as Kafka's reset tool does;
 *      --dry-run prints the same table and commits nothing.
 */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/out.h"

#include "core/kp_mem.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared pieces ---- */

static const char *state_name(rd_kafka_consumer_group_state_t s)
{
    return rd_kafka_consumer_group_state_name(s);
}

static bool state_active(rd_kafka_consumer_group_state_t s)
{
    return s == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE ||
           s == RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE ||
           s == RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE;
}

/* Run one admin request on a fresh queue and wait for its result event. */
typedef struct admin_call {
    rd_kafka_queue_t *q;
    rd_kafka_AdminOptions_t *opts;
} admin_call_t;

static int call_begin(const cli_common_t *c, rd_kafka_t *rk, rd_kafka_admin_op_t op,
                      admin_call_t *ac)
{
    ac->q = rd_kafka_queue_new(rk);
    ac->opts = cli_admin_options(c, rk, op);
    if (!ac->q || !ac->opts) {
        if (ac->q)
            rd_kafka_queue_destroy(ac->q);
        if (ac->opts)
            rd_kafka_AdminOptions_destroy(ac->opts);
        cli_fail(c, "out of memory");
        return -1;
    }
    return 0;
}

static rd_kafka_event_t *call_end(const cli_common_t *c, admin_call_t *ac,
                                  rd_kafka_event_type_t type)
{
    rd_kafka_event_t *ev = cli_admin_wait(c, ac->q, type);
    rd_kafka_AdminOptions_destroy(ac->opts);
    rd_kafka_queue_destroy(ac->q);
    return ev;
}

/* One ListConsumerGroupOffsets call for parts (NULL = all); returns the
 * group's partition list (caller destroys) or NULL after printing why. */
static rd_kafka_topic_partition_list_t *
list_offsets_call(const cli_common_t *c, rd_kafka_t *rk, const char *group,
                  const rd_kafka_topic_partition_list_t *parts)
{
    admin_call_t ac;
    if (call_begin(c, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, &ac) < 0)
        return NULL;
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, ac.opts, ac.q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = call_end(c, &ac, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT);
    if (!ev)
        return NULL;
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    rd_kafka_topic_partition_list_t *out = NULL;
    if (n != 1) {
        cli_fail(c, "group %s: the broker sent no committed offsets", group);
    } else if (rd_kafka_group_result_error(gr[0])) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[0]);
        cli_fail(c, "group %s: cannot read its committed offsets: %s%s", group,
                 rd_kafka_error_string(e), cli_err_hint(rd_kafka_error_code(e)));
    } else {
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[0]);
        out = p ? rd_kafka_topic_partition_list_copy(p) : rd_kafka_topic_partition_list_new(0);
    }
    rd_kafka_event_destroy(ev);
    return out;
}

/* Every partition of every topic in the cluster, or NULL after printing why. */
static rd_kafka_topic_partition_list_t *all_partitions(const cli_common_t *c, rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c->timeout_ms);
    if (e) {
        cli_fail(c, "metadata: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(64);
    for (int i = 0; i < md->topic_cnt; i++)
        for (int k = 0; k < md->topics[i].partition_cnt; k++)
            rd_kafka_topic_partition_list_add(out, md->topics[i].topic,
                                              md->topics[i].partitions[k].id);
    rd_kafka_metadata_destroy(md);
    return out;
}

/*
 * The committed offsets of one group (every partition it has one for),
 * sorted by topic and partition.  Returns a list the caller destroys, or
 * NULL after printing why.
 *
 * Asking for "all partitions" (a null topic array) is the natural request,
 * but librdkafka 2.0.2 encodes it as an empty array, which a broker answers
 * with nothing.  So when that comes back empty we ask again naming every
 * partition in the cluster; offsets for topics deleted since are then not
 * shown, which is what describe would show for them anyway.
 */
static rd_kafka_topic_partition_list_t *committed_offsets(const cli_common_t *c,
                                                          rd_kafka_t *rk, const char *group)
{
    rd_kafka_topic_partition_list_t *out = list_offsets_call(c, rk, group, NULL);
    if (out && out->cnt == 0) {
        rd_kafka_topic_partition_list_t *all = all_partitions(c, rk);
        rd_kafka_topic_partition_list_destroy(out);
        out = NULL;
        if (!all)
            return NULL;
        if (all->cnt > 0)
            out = list_offsets_call(c, rk, group, all);
        else
            out = rd_kafka_topic_partition_list_new(0);
        rd_kafka_topic_partition_list_destroy(all);
    }
    if (!out)
        return NULL;
    /* Keep only partitions with an offset; an error on one is reported. */
    for (int i = out->cnt - 1; i >= 0; i--)
        if (out->elems[i].offset < 0 && out->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_topic_partition_list_del_by_idx(out, i);
    for (int i = 0; i < out->cnt; i++)
        if (out->elems[i].err) {
            cli_fail(c, "group %s: %s [%" PRId32 "]: %s", group, out->elems[i].topic,
                     out->elems[i].partition, rd_kafka_err2str(out->elems[i].err));
            rd_kafka_topic_partition_list_destroy(out);
            return NULL;
        }
    rd_kafka_topic_partition_list_sort(out, NULL, NULL);
    return out;
}

/* Describe groups; returns the result event (caller destroys) or NULL. */
static rd_kafka_event_t *describe_groups(const cli_common_t *c, rd_kafka_t *rk,
                                         const char **groups, size_t n)
{
    admin_call_t ac;
    if (call_begin(c, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, &ac) < 0)
        return NULL;
    rd_kafka_DescribeConsumerGroups(rk, groups, n, ac.opts, ac.q);
    return call_end(c, &ac, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT);
}

static const rd_kafka_ConsumerGroupDescription_t *
find_description(rd_kafka_event_t *ev, const char *group)
{
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **d = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_kafka_ConsumerGroupDescription_group_id(d[i]), group) == 0)
            return d[i];
    return NULL;
}

/* Kafka answers DescribeGroups for an unknown group with state Dead (or
 * empty) and no members; with no offsets either, it does not exist. */
static bool group_unknown(const rd_kafka_ConsumerGroupDescription_t *d, int noffsets)
{
    rd_kafka_consumer_group_state_t s = rd_kafka_ConsumerGroupDescription_state(d);
    return (s == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD || s == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) &&
           rd_kafka_ConsumerGroupDescription_member_count(d) == 0 && noffsets == 0;
}

static void fmt_i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%" PRId64, v);
}

/* ---- list ---- */

static void help_list(FILE *f)
{
    fprintf(f, "usage: kappa group list [options]\n"
               "\n"
               "List the consumer groups: GROUP, STATE, PROTOCOL_TYPE (\"consumer\" for groups\n"
               "that use group management, \"-\" for groups that only store offsets).\n\n");
    cli_common_help(f);
}

static int cmp_listing(const void *a, const void *b)
{
    const rd_kafka_ConsumerGroupListing_t *x = *(const rd_kafka_ConsumerGroupListing_t *const *)a;
    const rd_kafka_ConsumerGroupListing_t *y = *(const rd_kafka_ConsumerGroupListing_t *const *)b;
    return strcmp(rd_kafka_ConsumerGroupListing_group_id(x),
                  rd_kafka_ConsumerGroupListing_group_id(y));
}

static int group_list(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa group list");
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help_list(stdout);
            return CLI_EXIT_OK;
        }
        int r = cli_common_flag(&c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 0)
            return cli_usage_error(&c, "unexpected argument '%s'", argv[i]);
    }
    int rc;
    rd_kafka_t *rk = cli_admin_handle(&c, &rc);
    if (!rk)
        return rc;
    admin_call_t ac;
    if (call_begin(&c, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, &ac) < 0) {
        rd_kafka_destroy(rk);
        return CLI_EXIT_FAIL;
    }
    rd_kafka_ListConsumerGroups(rk, ac.opts, ac.q);
    rd_kafka_event_t *ev = call_end(&c, &ac, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT);
    if (!ev) {
        rd_kafka_destroy(rk);
        return CLI_EXIT_FAIL;
    }
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t n = 0, nerr = 0;
    const rd_kafka_ConsumerGroupListing_t **v = rd_kafka_ListConsumerGroups_result_valid(res, &n);
    const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    rc = CLI_EXIT_OK;
    /* A broker that failed to answer makes the list incomplete: say so and
     * fail, but still print what the others said. */
    for (size_t i = 0; i < nerr; i++) {
        cli_fail(&c, "incomplete list: %s", rd_kafka_error_string(errs[i]));
        rc = CLI_EXIT_FAIL;
    }
    const rd_kafka_ConsumerGroupListing_t **sorted = kp_calloc(n ? n : 1, sizeof *sorted);
    const char **names = NULL;
    rd_kafka_event_t *dev = NULL;
    out_table_t *t = out_table_new(3, "GROUP", "STATE", "PROTOCOL_TYPE");
    if (!sorted || !t) {
        rc = cli_fail(&c, "out of memory");
        goto done;
    }
    memcpy(sorted, v, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_listing);
    /* ListGroups reports states only from v4 on; for a broker that speaks
     * an older version, ask DescribeGroups, which always has them. */
    size_t nunknown = 0;
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_ConsumerGroupListing_state(sorted[i]) == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
            nunknown++;
    if (nunknown > 0) {
        names = kp_calloc(nunknown, sizeof *names);
        if (!names) {
            rc = cli_fail(&c, "out of memory");
            goto done;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (rd_kafka_ConsumerGroupListing_state(sorted[i]) ==
                RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
                names[k++] = rd_kafka_ConsumerGroupListing_group_id(sorted[i]);
        dev = describe_groups(&c, rk, names, nunknown);
        if (!dev)
            rc = CLI_EXIT_FAIL;     /* still list the groups, without states */
    }
    for (size_t i = 0; i < n; i++) {
        const char *gid = rd_kafka_ConsumerGroupListing_group_id(sorted[i]);
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupListing_state(sorted[i]);
        const rd_kafka_ConsumerGroupDescription_t *d =
            st == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN && dev ? find_description(dev, gid) : NULL;
        if (d && !rd_kafka_ConsumerGroupDescription_error(d))
            st = rd_kafka_ConsumerGroupDescription_state(d);
        /* librdkafka 2.0.2 reports only whether the protocol type is empty
         * (a group that only stores offsets) or a consumer protocol. */
        out_row(t, gid, state_name(st),
                rd_kafka_ConsumerGroupListing_is_simple_consumer_group(sorted[i]) ? NULL
                                                                                  : "consumer");
    }
    out_print(t, c.format, stdout);
done:
    out_table_free(t);
    kp_free(sorted);
    kp_free(names);
    if (dev)
        rd_kafka_event_destroy(dev);
    rd_kafka_event_destroy(ev);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- describe ---- */

static void help_describe(FILE *f)
{
    fprintf(f,
            "usage: kappa group describe GROUP... [options]\n"
            "\n"
            "For each group: its coordinator, state, protocol and member count, then one\n"
            "row per partition with a committed offset or an assigned member:\n"
            "GROUP, TOPIC, PARTITION, CURRENT_OFFSET, LOG_END_OFFSET, LAG, CONSUMER_ID,\n"
            "HOST, CLIENT_ID; and the group's TOTAL_LAG.  An assigned partition with no\n"
            "committed offset shows \"-\" for CURRENT_OFFSET and LAG.\n"
            "Exits 1 if a group does not exist.\n\n");
    cli_common_help(f);
}

/* The member a partition is assigned to, or NULL. */
static const rd_kafka_MemberDescription_t *
assignee(const rd_kafka_ConsumerGroupDescription_t *d, const char *topic, int32_t partition)
{
    size_t n = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
        const rd_kafka_topic_partition_list_t *p = a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
        if (p && rd_kafka_topic_partition_list_find(p, topic, partition))
            return m;
    }
    return NULL;
}

typedef struct group_view {
    const char *group;
    char coordinator[300];
    const char *state;
    const char *protocol;
    size_t members;
    int64_t total_lag;
    out_table_t *rows;
} group_view_t;

/* Build one group's view; 0, or CLI_EXIT_FAIL after printing why. */
static int describe_one(const cli_common_t *c, rd_kafka_t *rk,
                        const rd_kafka_ConsumerGroupDescription_t *d, group_view_t *gv)
{
    const char *group = gv->group;
    const rd_kafka_error_t *derr = rd_kafka_ConsumerGroupDescription_error(d);
    if (derr)
        return cli_fail(c, "group %s: %s%s", group, rd_kafka_error_string(derr),
                        cli_err_hint(rd_kafka_error_code(derr)));
    rd_kafka_topic_partition_list_t *parts = committed_offsets(c, rk, group);
    if (!parts)
        return CLI_EXIT_FAIL;
    if (group_unknown(d, parts->cnt)) {
        rd_kafka_topic_partition_list_destroy(parts);
        return cli_fail(c, "group %s does not exist (list the groups with `kappa group list`)",
                        group);
    }
    /* Assigned partitions without a commit join the committed ones. */
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
        const rd_kafka_topic_partition_list_t *p = a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
        for (int k = 0; p && k < p->cnt; k++)
            if (!rd_kafka_topic_partition_list_find(parts, p->elems[k].topic, p->elems[k].partition))
                rd_kafka_topic_partition_list_add(parts, p->elems[k].topic, p->elems[k].partition)
                    ->offset = RD_KAFKA_OFFSET_INVALID;
    }
    rd_kafka_topic_partition_list_sort(parts, NULL, NULL);

    const rd_kafka_Node_t *co = rd_kafka_ConsumerGroupDescription_coordinator(d);
    if (co)
        snprintf(gv->coordinator, sizeof gv->coordinator, "%d (%s:%u)", rd_kafka_Node_id(co),
                 rd_kafka_Node_host(co), (unsigned)rd_kafka_Node_port(co));
    else
        snprintf(gv->coordinator, sizeof gv->coordinator, "-");
    gv->state = state_name(rd_kafka_ConsumerGroupDescription_state(d));
    gv->protocol = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    gv->members = nm;
    gv->total_lag = 0;
    gv->rows = out_table_new(9, "GROUP", "TOPIC", "PARTITION", "CURRENT_OFFSET", "LOG_END_OFFSET",
                             "LAG", "CONSUMER_ID", "HOST", "CLIENT_ID");
    if (!gv->rows) {
        rd_kafka_topic_partition_list_destroy(parts);
        return cli_fail(c, "out of memory");
    }
    for (int col = 2; col <= 5; col++)
        out_num(gv->rows, col);
    int rc = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, c->timeout_ms);
        char pbuf[16], cur[32], end[32], lag[32];
        snprintf(pbuf, sizeof pbuf, "%" PRId32, p->partition);
        bool have_cur = p->offset >= 0, have_end = e == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!have_end && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
            e != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && e != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
            /* A deleted topic is a normal thing to meet; anything else
             * makes the lag unknowable, which the user must hear. */
            cli_fail(c, "group %s: log end offset of %s [%" PRId32 "]: %s", group, p->topic,
                     p->partition, rd_kafka_err2str(e));
            rc = CLI_EXIT_FAIL;
        }
        fmt_i64(cur, sizeof cur, p->offset);
        fmt_i64(end, sizeof end, hi);
        fmt_i64(lag, sizeof lag, hi - p->offset);
        if (have_cur && have_end)
            gv->total_lag += hi - p->offset;
        const rd_kafka_MemberDescription_t *m = assignee(d, p->topic, p->partition);
        out_row(gv->rows, group, p->topic, pbuf, have_cur ? cur : NULL, have_end ? end : NULL,
                have_cur && have_end ? lag : NULL, m ? rd_kafka_MemberDescription_consumer_id(m) : NULL,
                m ? rd_kafka_MemberDescription_host(m) : NULL,
                m ? rd_kafka_MemberDescription_client_id(m) : NULL);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

static void print_view(const group_view_t *gv, cli_format_t fmt, bool first)
{
    if (fmt == CLI_FMT_TEXT) {
        out_print(gv->rows, fmt, stdout);
        return;
    }
    if (fmt == CLI_FMT_JSON) {
        fputs(first ? "[" : ",\n ", stdout);
        fputs("{\"group\": ", stdout);
        out_json_str(stdout, gv->group);
        fputs(", \"coordinator\": ", stdout);
        out_json_str(stdout, gv->coordinator);
        fputs(", \"state\": ", stdout);
        out_json_str(stdout, gv->state);
        fputs(", \"protocol\": ", stdout);
        if (gv->protocol && *gv->protocol)
            out_json_str(stdout, gv->protocol);
        else
            fputs("null", stdout);
        printf(", \"members\": %zu, \"total_lag\": %" PRId64 ", \"partitions\": ", gv->members,
               gv->total_lag);
        out_print(gv->rows, fmt, stdout);
        fputs("}", stdout);
        return;
    }
    if (!first)
        putchar('\n');
    printf("GROUP        %s\n"
           "COORDINATOR  %s\n"
           "STATE        %s\n"
           "PROTOCOL     %s\n"
           "MEMBERS      %zu\n\n",
           gv->group, gv->coordinator, gv->state,
           gv->protocol && *gv->protocol ? gv->protocol : "-", gv->members);
    out_print(gv->rows, fmt, stdout);
    printf("\nTOTAL_LAG    %" PRId64 "\n", gv->total_lag);
}

static int group_describe(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa group describe");
    const char **groups = kp_calloc((size_t)argc + 1, sizeof *groups);
    size_t ng = 0;
    if (!groups)
        return cli_fail(&c, "out of memory");
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help_describe(stdout);
            goto out;
        }
        int r = cli_common_flag(&c, argc, argv, &i);
        if (r < 0) {
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error(&c, "unknown option '%s'", argv[i]);
            goto out;
        }
        groups[ng++] = argv[i];
    }
    if (ng == 0) {
        rc = cli_usage_error(&c, "name at least one GROUP");
        goto out;
    }
    rd_kafka_t *rk = cli_admin_handle(&c, &rc);
    if (!rk)
        goto out;
    rd_kafka_event_t *ev = describe_groups(&c, rk, groups, ng);
    if (!ev) {
        rc = CLI_EXIT_FAIL;
        rd_kafka_destroy(rk);
        goto out;
    }
    bool first = true;
    for (size_t i = 0; i < ng; i++) {
        group_view_t gv = {.group = groups[i]};
        const rd_kafka_ConsumerGroupDescription_t *d = find_description(ev, groups[i]);
        int r = d ? describe_one(&c, rk, d, &gv)
                  : cli_fail(&c, "group %s: the broker did not describe it", groups[i]);
        if (r)
            rc = r;
        if (gv.rows) {
            print_view(&gv, c.format, first);
            first = false;
            out_table_free(gv.rows);
        }
    }
    if (c.format == CLI_FMT_JSON)
        fputs(first ? "[]\n" : "]\n", stdout);
    rd_kafka_event_destroy(ev);
    rd_kafka_destroy(rk);
out:
    kp_free(groups);
    return rc;
}

/* ---- seek ---- */

static void help_seek(FILE *f)
{
    fprintf(f,
            "usage: kappa group seek GROUP --to start|end|@TIMESTAMP_MS|OFFSET\n"
            "                        [--topics T1,T2,...] [--dry-run] [options]\n"
            "\n"
            "Move the group's committed offsets on every partition of the topics (by\n"
            "default the topics it has committed offsets for):\n"
            "  --to start         the log start offset\n"
            "  --to end           the log end offset (skip everything written so far)\n"
            "  --to @TS_MS        the first record with timestamp >= TS_MS (end if none)\n"
            "  --to OFFSET        that offset, clamped into [log start, log end]\n"
            "  --topics T1,T2     the topics to move (all their partitions)\n"
            "  --dry-run          print the new offsets, commit nothing\n"
            "Prints TOPIC, PARTITION, CURRENT_OFFSET, NEW_OFFSET.  Refused while the group\n"
            "has active members: stop its consumers first.\n\n");
    cli_common_help(f);
}

typedef enum seek_to { TO_START, TO_END, TO_TIME, TO_OFFSET } seek_to_t;

static int parse_to(const cli_common_t *c, const char *v, seek_to_t *kind, int64_t *arg)
{
    long long x;
    if (strcmp(v, "start") == 0 || strcmp(v, "earliest") == 0 || strcmp(v, "beginning") == 0) {
        *kind = TO_START;
        return 0;
    }
    if (strcmp(v, "end") == 0 || strcmp(v, "latest") == 0) {
        *kind = TO_END;
        return 0;
    }
    if (v[0] == '@') {
        if (cli_parse_i64(c, "--to @TIMESTAMP_MS", v + 1, &x) < 0)
            return -1;
        if (x < 0) {
            cli_usage_error(c, "--to @TIMESTAMP_MS must not be negative");
            return -1;
        }
        *kind = TO_TIME;
        *arg = x;
        return 0;
    }
    if (v[0] >= '0' && v[0] <= '9') {
        if (cli_parse_i64(c, "--to OFFSET", v, &x) < 0)
            return -1;
        *kind = TO_OFFSET;
        *arg = x;
        return 0;
    }
    cli_usage_error(c, "--to must be start, end, @TIMESTAMP_MS or an offset, not '%s'", v);
    return -1;
}

/* Every partition of the named topics, from one metadata request (naming a
 * topic handle instead could auto-create a missing topic). */
static rd_kafka_topic_partition_list_t *topic_partitions(const cli_common_t *c, rd_kafka_t *rk,
                                                         char **topics, int nt)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, c->timeout_ms);
    if (e) {
        cli_fail(c, "metadata: %s%s", rd_kafka_err2str(e), cli_err_hint(e));
        return NULL;
    }
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(16);
    for (int i = 0; i < nt && out; i++) {
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int k = 0; k < md->topic_cnt; k++)
            if (strcmp(md->topics[k].topic, topics[i]) == 0)
                mt = &md->topics[k];
        if (!mt || mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            cli_fail(c, "topic %s does not exist (list the topics with `kappa topic list`)",
                     topics[i]);
            rd_kafka_topic_partition_list_destroy(out);
            out = NULL;
            break;
        }
        for (int k = 0; k < mt->partition_cnt; k++)
            if (!rd_kafka_topic_partition_list_find(out, topics[i], mt->partitions[k].id))
                rd_kafka_topic_partition_list_add(out, topics[i], mt->partitions[k].id);
    }
    rd_kafka_metadata_destroy(md);
    if (out)
        rd_kafka_topic_partition_list_sort(out, NULL, NULL);
    return out;
}

/* Fill target->elems[i].offset with the new offset for each partition. */
static int compute_targets(const cli_common_t *c, rd_kafka_t *rk, const char *group,
                           rd_kafka_topic_partition_list_t *target, seek_to_t kind, int64_t arg)
{
    if (kind == TO_TIME) {
        for (int i = 0; i < target->cnt; i++)
            target->elems[i].offset = arg;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, target, c->timeout_ms);
        if (e)
            return cli_fail(c, "group %s: offsets for time %" PRId64 ": %s%s", group, arg,
                            rd_kafka_err2str(e), cli_err_hint(e));
    }
    for (int i = 0; i < target->cnt; i++) {
        rd_kafka_topic_partition_t *p = &target->elems[i];
        if (kind == TO_TIME && p->err)
            return cli_fail(c, "group %s: offset for time in %s [%" PRId32 "]: %s", group,
                            p->topic, p->partition, rd_kafka_err2str(p->err));
        if (kind == TO_TIME && p->offset >= 0)
            continue;
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, c->timeout_ms);
        if (e)
            return cli_fail(c, "group %s: watermarks of %s [%" PRId32 "]: %s%s", group, p->topic,
                            p->partition, rd_kafka_err2str(e), cli_err_hint(e));
        switch (kind) {
        case TO_START:
            p->offset = lo;
            break;
        case TO_END:
        case TO_TIME:     /* no record at or after the time: the end */
            p->offset = hi;
            break;
        case TO_OFFSET:
            p->offset = arg < lo ? lo : arg > hi ? hi : arg;
            break;
        }
    }
    return 0;
}

static int commit_targets(const cli_common_t *c, rd_kafka_t *rk, const char *group,
                          const rd_kafka_topic_partition_list_t *target)
{
    admin_call_t ac;
    if (call_begin(c, rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, &ac) < 0)
        return CLI_EXIT_FAIL;
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, target);
    rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, ac.opts, ac.q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = call_end(c, &ac, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT);
    if (!ev)
        return CLI_EXIT_FAIL;
    size_t n = 0;
    const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    int rc = CLI_EXIT_OK;
    if (n != 1) {
        rc = cli_fail(c, "group %s: the broker did not answer the commit", group);
    } else if (rd_kafka_group_result_error(gr[0])) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[0]);
        rc = cli_fail(c, "group %s: commit refused: %s%s", group, rd_kafka_error_string(e),
                      cli_err_hint(rd_kafka_error_code(e)));
    } else {
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[0]);
        for (int i = 0; p && i < p->cnt; i++) {
            rd_kafka_resp_err_t e = p->elems[i].err;
            if (!e)
                continue;
            if (e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
                e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
                rc = cli_fail(c, "group %s: the broker refused the commit on %s [%" PRId32
                                 "] (%s): the group has active members; stop its consumers first",
                              group, p->elems[i].topic, p->elems[i].partition, rd_kafka_err2str(e));
            else
                rc = cli_fail(c, "group %s: commit on %s [%" PRId32 "] failed: %s%s", group,
                              p->elems[i].topic, p->elems[i].partition, rd_kafka_err2str(e),
                              cli_err_hint(e));
        }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* Split "a,b,,c" into topics (pointers into s, which is modified). */
static int split_topics(char *s, char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        if (*tok)
            out[n++] = tok;
    return n;
}

static int group_seek(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa group seek");
    const char *group = NULL, *to = NULL;
    char *topics_arg = NULL;
    bool dry_run = false;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help_seek(stdout);
            return CLI_EXIT_OK;
        }
        int r = cli_common_flag(&c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (strcmp(a, "--to") == 0 || strcmp(a, "--topics") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(&c, "%s needs a value", a);
            if (strcmp(a, "--to") == 0)
                to = argv[++i];
            else
                topics_arg = argv[++i];
        } else if (strncmp(a, "--to=", 5) == 0) {
            to = a + 5;
        } else if (strncmp(a, "--topics=", 9) == 0) {
            topics_arg = argv[i] + 9;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry_run = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(&c, "unknown option '%s'", a);
        } else if (group) {
            return cli_usage_error(&c, "name one GROUP (got '%s' and '%s')", group, a);
        } else {
            group = a;
        }
    }
    if (!group)
        return cli_usage_error(&c, "name the GROUP to seek");
    if (!to)
        return cli_usage_error(&c, "--to start|end|@TIMESTAMP_MS|OFFSET is required");
    seek_to_t kind;
    int64_t arg = 0;
    if (parse_to(&c, to, &kind, &arg) < 0)
        return CLI_EXIT_USAGE;
    char *topics_copy = NULL;
    char **topics = NULL;
    int nt = 0;
    if (topics_arg) {
        size_t len = strlen(topics_arg);
        topics_copy = kp_malloc(len + 1);
        topics = kp_calloc(len / 2 + 2, sizeof *topics);
        if (!topics_copy || !topics) {
            kp_free(topics_copy);
            kp_free(topics);
            return cli_fail(&c, "out of memory");
        }
        memcpy(topics_copy, topics_arg, len + 1);
        nt = split_topics(topics_copy, topics, (int)(len / 2 + 1));
        if (nt == 0) {
            kp_free(topics_copy);
            kp_free(topics);
            return cli_usage_error(&c, "--topics needs at least one topic name");
        }
    }

    int rc;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_topic_partition_list_t *current = NULL, *target = NULL;
    out_table_t *t = NULL;
    rd_kafka_t *rk = cli_admin_handle(&c, &rc);
    if (!rk)
        goto out;
    rc = CLI_EXIT_FAIL;
    ev = describe_groups(&c, rk, &group, 1);
    if (!ev)
        goto out;
    const rd_kafka_ConsumerGroupDescription_t *d = find_description(ev, group);
    if (!d) {
        cli_fail(&c, "group %s: the broker did not describe it", group);
        goto out;
    }
    if (rd_kafka_ConsumerGroupDescription_error(d)) {
        const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(d);
        cli_fail(&c, "group %s: %s%s", group, rd_kafka_error_string(e),
                 cli_err_hint(rd_kafka_error_code(e)));
        goto out;
    }
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    if (nm > 0 || state_active(st)) {
        cli_fail(&c, "group %s has %zu active member(s); stop its consumers first", group, nm);
        goto out;
    }
    current = committed_offsets(&c, rk, group);
    if (!current)
        goto out;
    if (!topics) {
        /* The topics the group has committed offsets for. */
        topics = kp_calloc((size_t)current->cnt + 1, sizeof *topics);
        if (!topics) {
            cli_fail(&c, "out of memory");
            goto out;
        }
        for (int i = 0; i < current->cnt; i++)
            if (nt == 0 || strcmp(topics[nt - 1], current->elems[i].topic) != 0)
                topics[nt++] = current->elems[i].topic;
        if (nt == 0) {
            if (group_unknown(d, 0))
                cli_fail(&c, "group %s does not exist; name the topics with --topics to "
                             "create its offsets", group);
            else
                cli_fail(&c, "group %s has no committed offsets; name the topics with --topics",
                         group);
            goto out;
        }
    }
    target = topic_partitions(&c, rk, topics, nt);
    if (!target)
        goto out;
    if (compute_targets(&c, rk, group, target, kind, arg))
        goto out;
    t = out_table_new(4, "TOPIC", "PARTITION", "CURRENT_OFFSET", "NEW_OFFSET");
    if (!t) {
        cli_fail(&c, "out of memory");
        goto out;
    }
    for (int col = 1; col <= 3; col++)
        out_num(t, col);
    for (int i = 0; i < target->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &target->elems[i];
        const rd_kafka_topic_partition_t *cur =
            rd_kafka_topic_partition_list_find(current, p->topic, p->partition);
        char pbuf[16], cbuf[32], nbuf[32];
        snprintf(pbuf, sizeof pbuf, "%" PRId32, p->partition);
        fmt_i64(nbuf, sizeof nbuf, p->offset);
        if (cur)
            fmt_i64(cbuf, sizeof cbuf, cur->offset);
        out_row(t, p->topic, pbuf, cur ? cbuf : NULL, nbuf);
    }
    if (dry_run) {
        out_print(t, c.format, stdout);
        fprintf(stderr, "%s: dry run: nothing committed\n", c.prog);
        rc = CLI_EXIT_OK;
        goto out;
    }
    rc = commit_targets(&c, rk, group, target);
    if (rc == CLI_EXIT_OK) {
        out_print(t, c.format, stdout);
        fprintf(stderr, "%s: group %s: committed %d offset(s)\n", c.prog, group, target->cnt);
    }
out:
    out_table_free(t);
    if (target)
        rd_kafka_topic_partition_list_destroy(target);
    /* Default topic names point into current: free them first. */
    kp_free(topics);
    kp_free(topics_copy);
    if (current)
        rd_kafka_topic_partition_list_destroy(current);
    if (ev)
        rd_kafka_event_destroy(ev);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* ---- delete ---- */

static void help_delete(FILE *f)
{
    fprintf(f, "usage: kappa group delete GROUP... [options]\n"
               "\n"
               "Delete consumer groups and their committed offsets.  A group with active\n"
               "members cannot be deleted (NON_EMPTY_GROUP): stop its consumers first.\n"
               "Prints GROUP, RESULT; exits 1 if any group could not be deleted.\n\n");
    cli_common_help(f);
}

static int group_delete(int argc, char **argv)
{
    cli_common_t c;
    cli_common_init(&c, "kappa group delete");
    rd_kafka_DeleteGroup_t **del = kp_calloc((size_t)argc + 1, sizeof *del);
    size_t nd = 0;
    if (!del)
        return cli_fail(&c, "out of memory");
    int rc = CLI_EXIT_OK;
    rd_kafka_t *rk = NULL;
    rd_kafka_event_t *ev = NULL;
    out_table_t *t = NULL;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            help_delete(stdout);
            goto out;
        }
        int r = cli_common_flag(&c, argc, argv, &i);
        if (r < 0) {
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        if (r > 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error(&c, "unknown option '%s'", argv[i]);
            goto out;
        }
        del[nd++] = rd_kafka_DeleteGroup_new(argv[i]);
    }
    if (nd == 0) {
        rc = cli_usage_error(&c, "name at least one GROUP");
        goto out;
    }
    rk = cli_admin_handle(&c, &rc);
    if (!rk)
        goto out;
    admin_call_t ac;
    if (call_begin(&c, rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS, &ac) < 0) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    rd_kafka_DeleteGroups(rk, del, nd, ac.opts, ac.q);
    ev = call_end(&c, &ac, RD_KAFKA_EVENT_DELETEGROUPS_RESULT);
    if (!ev) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    size_t n = 0;
    const rd_kafka_group_result_t **gr =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    t = out_table_new(2, "GROUP", "RESULT");
    if (!t) {
        rc = cli_fail(&c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_group_result_name(gr[i]);
        const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
        if (!e) {
            out_row(t, name, "deleted");
            continue;
        }
        rc = CLI_EXIT_FAIL;
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        if (code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            cli_fail(&c, "group %s does not exist (list the groups with `kappa group list`)", name);
            out_row(t, name, "does not exist");
        } else if (code == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP) {
            cli_fail(&c, "group %s has active members (NON_EMPTY_GROUP); stop its consumers first",
                     name);
            out_row(t, name, "not empty");
        } else {
            cli_fail(&c, "group %s: %s%s", name, rd_kafka_error_string(e), cli_err_hint(code));
            out_row(t, name, rd_kafka_error_string(e));
        }
    }
    out_print(t, c.format, stdout);
out:
    out_table_free(t);
    if (ev)
        rd_kafka_event_destroy(ev);
    if (rk)
        rd_kafka_destroy(rk);
    rd_kafka_DeleteGroup_destroy_array(del, nd);
    kp_free(del);
    return rc;
}

/* ---- dispatch ---- */

static int usage(FILE *f)
{
    fprintf(f, "usage: kappa group COMMAND [ARGS] [options]\n"
               "\n"
               "  list                         the consumer groups and their states\n"
               "  describe GROUP...            members, committed offsets and lag\n"
               "  seek GROUP --to start|end|@TIMESTAMP_MS|OFFSET [--topics T,...] [--dry-run]\n"
               "                               move the committed offsets (group must be empty)\n"
               "  delete GROUP...              delete groups and their offsets\n"
               "\n"
               "`kappa group COMMAND --help` for each command's options.\n");
    return f == stdout ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

int cli_group(int argc, char **argv)
{
    if (argc < 1)
        return usage(stderr);
    const char *cmd = argv[0];
    if (cli_is_help(cmd) || strcmp(cmd, "help") == 0)
        return usage(stdout);
    if (strcmp(cmd, "list") == 0)
        return group_list(argc - 1, argv + 1);
    if (strcmp(cmd, "describe") == 0)
        return group_describe(argc - 1, argv + 1);
    if (strcmp(cmd, "seek") == 0)
        return group_seek(argc - 1, argv + 1);
    if (strcmp(cmd, "delete") == 0)
        return group_delete(argc - 1, argv + 1);
    fprintf(stderr, "kappa group: unknown command '%s' (see `kappa group --help`)\n", cmd);
    return CLI_EXIT_USAGE;
}

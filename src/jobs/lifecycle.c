/*
 * lifecycle.c -- Kafka calls for promote and retire (see lifecycle.h):
 * DescribeConsumerGroups for "have the runners left", OffsetFetch through a
 * consumer handle that never joins for "where are they", and DeleteTopics /
 * DeleteGroups for a retired version.  Each call has its own queue and a
 * bounded wait, so an unreachable broker is an error, never a hang.
 */
#include "jobs/lifecycle.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"

#include <stdio.h>
#include <string.h>

void jobs_group_name(const char *name, int version, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.v%d", name, version);
}

int jobs_group_members(rd_kafka_t *rk, const char *group, int timeout_ms, int *members,
                       char *why, size_t cap)
{
    *members = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    rd_kafka_event_t *ev =
        jobs_admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, timeout_ms + 1000);
    int rc = 0;
    if (!ev) {
        snprintf(why, cap, "describing group %s: no answer within %d ms", group, timeout_ms);
        rc = KP_EINVAL;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(why, cap, "describing group %s: %s", group, rd_kafka_event_error_string(ev));
        rc = KP_EINVAL;
    } else {
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **d =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(d[i]);
            if (e && rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                snprintf(why, cap, "describing group %s: %s", group, rd_kafka_error_string(e));
                rc = KP_EINVAL;
            } else if (!e) {
                *members += (int)rd_kafka_ConsumerGroupDescription_member_count(d[i]);
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

int jobs_group_committed(const rd_kafka_conf_t *base, const char *group, int n,
                         const char *const *topics, const int32_t *partitions, int64_t *out,
                         int timeout_ms, char *why, size_t cap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(base);
    if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err)) {
        rd_kafka_conf_destroy(conf);
        snprintf(why, cap, "consumer configuration: %s", err);
        return KP_EINVAL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        snprintf(why, cap, "cannot create a consumer: %s", err);
        return KP_EINVAL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], partitions[i]);
    rd_kafka_resp_err_t e = n ? rd_kafka_committed(rk, l, timeout_ms) : 0;
    int rc = 0;
    if (e) {
        snprintf(why, cap, "reading the committed offsets of group %s: %s", group,
                 rd_kafka_err2str(e));
        rc = KP_EINVAL;
    }
    for (int i = 0; !rc && i < n; i++)
        out[i] = l->elems[i].err || l->elems[i].offset < 0 ? -1 : l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

void jobs_names_free(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        kp_free(names[i]);
    kp_free(names);
}

int jobs_topics_with_prefix(rd_kafka_t *rk, const char *prefix, int timeout_ms, char ***out,
                            int *n, char *why, size_t cap)
{
    *out = NULL;
    *n = 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e) {
        snprintf(why, cap, "reading the topic list: %s", rd_kafka_err2str(e));
        return KP_EINVAL;
    }
    char **names = kp_calloc((size_t)md->topic_cnt + 1, sizeof *names);
    int k = 0, rc = 0;
    size_t plen = strlen(prefix);
    for (int i = 0; names && i < md->topic_cnt; i++)
        if (strncmp(md->topics[i].topic, prefix, plen) == 0 &&
            !(names[k++] = kp_strdup(md->topics[i].topic)))
            rc = KP_ENOMEM;
    rd_kafka_metadata_destroy(md);
    if (!names || rc) {
        jobs_names_free(names, k);
        snprintf(why, cap, "out of memory");
        return KP_ENOMEM;
    }
    *out = names;
    *n = k;
    return 0;
}

int jobs_delete_topics(rd_kafka_t *rk, char *const *names, int n, int timeout_ms, char *why,
                       size_t cap)
{
    if (n == 0)
        return 0;
    rd_kafka_DeleteTopic_t **dts = kp_calloc((size_t)n, sizeof *dts);
    if (!dts) {
        snprintf(why, cap, "out of memory");
        return KP_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        dts[i] = rd_kafka_DeleteTopic_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_DeleteTopics(rk, dts, (size_t)n, o, q);
    rd_kafka_event_t *ev =
        jobs_admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout_ms + 1000);
    int rc = 0;
    if (!ev) {
        snprintf(why, cap, "deleting topics: no answer within %d ms", timeout_ms);
        rc = KP_EINVAL;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(why, cap, "deleting topics: %s", rd_kafka_event_error_string(ev));
        rc = KP_EINVAL;
    } else {
        size_t nr = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &nr);
        for (size_t i = 0; i < nr && !rc; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                snprintf(why, cap, "deleting topic %s: %s", rd_kafka_topic_result_name(res[i]),
                         rd_kafka_err2str(e));
                rc = KP_EINVAL;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(dts, (size_t)n);
    kp_free(dts);
    return rc;
}

int jobs_delete_groups(rd_kafka_t *rk, char *const *groups, int n, int timeout_ms, char *why,
                       size_t cap)
{
    if (n == 0)
        return 0;
    rd_kafka_DeleteGroup_t **dg = kp_calloc((size_t)n, sizeof *dg);
    if (!dg) {
        snprintf(why, cap, "out of memory");
        return KP_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_DeleteGroups(rk, dg, (size_t)n, o, q);
    rd_kafka_event_t *ev =
        jobs_admin_wait(q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, timeout_ms + 1000);
    int rc = 0;
    if (!ev) {
        snprintf(why, cap, "deleting groups: no answer within %d ms", timeout_ms);
        rc = KP_EINVAL;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(why, cap, "deleting groups: %s", rd_kafka_event_error_string(ev));
        rc = KP_EINVAL;
    } else {
        size_t nr = 0;
        const rd_kafka_group_result_t **res =
            rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &nr);
        for (size_t i = 0; i < nr && !rc; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(res[i]);
            if (e && rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                snprintf(why, cap, "deleting group %s: %s", rd_kafka_group_result_name(res[i]),
                         rd_kafka_error_string(e));
                rc = KP_EINVAL;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)n);
    kp_free(dg);
    return rc;
}

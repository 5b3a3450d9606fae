/*
 * metadata.c -- Metadata (key 3): one broker (this one), its topics, and
 * auto-creation of topics that do not exist yet (kcat's produce relies on
 * it).  v0: an empty topic list means all topics; v1+: null means all.
 */
#include "broker.h"
#include "kerr.h"

#include <string.h>

#define METADATA_MAX_AUTO_CREATE 100

typedef metadata_resp_metadata_response_topic_t mtopic_t;
typedef metadata_resp_metadata_response_partition_t mpart_t;

static int fill_topic(kreq_t *r, mtopic_t *out, log_topic_t *t)
{
    const char *name = log_topic_name(t);
    int32_t n = log_topic_partitions(t);
    out->error_code = KERR_NONE;
    out->name = (kstr_t){name, (int32_t)strlen(name)};
    out->is_internal = name[0] == '_' && name[1] == '_';
    mpart_t *ps = arena_alloc(&r->arena, (size_t)n * sizeof *ps);
    int32_t *node = arena_alloc(&r->arena, sizeof *node);
    if (!ps || !node)
        return -1;
    *node = r->b->cfg.node_id;
    for (int32_t i = 0; i < n; i++) {
        ps[i].error_code = KERR_NONE;
        ps[i].partition_index = i;
        ps[i].leader_id = r->b->cfg.node_id;
        ps[i].replica_nodes = (karray_t){node, 1};
        ps[i].isr_nodes = (karray_t){node, 1};
        ps[i].offline_replicas = (karray_t){NULL, 0};
    }
    out->partitions = (karray_t){ps, n};
    return 0;
}

void handle_metadata(kreq_t *r)
{
    broker_t *b = r->b;
    metadata_req_t *req = r->body;
    metadata_resp_t resp = {0};
    metadata_resp_metadata_response_broker_t *br = arena_alloc(&r->arena, sizeof *br);
    if (!br)
        goto oom;
    const listener_addr_t *adv = &b->adv;
    br->node_id = b->cfg.node_id;
    br->host = (kstr_t){adv->host, (int32_t)strlen(adv->host)};
    br->port = adv->port;
    br->rack = KSTR_NULL;
    resp.brokers = (karray_t){br, 1};
    resp.cluster_id = (kstr_t){b->cluster_id, (int32_t)strlen(b->cluster_id)};
    resp.controller_id = b->cfg.node_id;

    bool all = req->topics.n < 0 || (r->api_version == 0 && req->topics.n == 0);
    if (all) {
        int n = log_topic_count(b->log);
        mtopic_t *ts = arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *ts);
        if (!ts)
            goto oom;
        for (int i = 0; i < n; i++)
            if (fill_topic(r, &ts[i], log_topic_at(b->log, i)))
                goto oom;
        resp.topics = (karray_t){ts, n};
    } else {
        int n = req->topics.n;
        metadata_req_metadata_request_topic_t *rt = req->topics.v;
        mtopic_t *ts = arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *ts);
        if (!ts)
            goto oom;
        bool create = r->api_version < 4 || req->allow_auto_topic_creation;
        int created = 0;
        for (int i = 0; i < n; i++) {
            int16_t err;
            /* Creating a topic fsyncs on the loop thread: a bounded number
             * per request, so one Metadata call cannot stall everyone. */
            bool may_create = create && created < METADATA_MAX_AUTO_CREATE;
            int before = log_topic_count(b->log);
            log_topic_t *t = broker_topic(b, rt[i].name, may_create, &err);
            if (log_topic_count(b->log) > before)
                created++;
            else if (!t && create && !may_create && err == KERR_UNKNOWN_TOPIC_OR_PARTITION)
                err = KERR_LEADER_NOT_AVAILABLE;    /* retriable: created on a later call */
            if (t) {
                if (fill_topic(r, &ts[i], t))
                    goto oom;
            } else {
                ts[i].error_code = err;
                ts[i].name = rt[i].name;
                ts[i].partitions = (karray_t){NULL, 0};
            }
        }
        resp.topics = (karray_t){ts, n};
    }
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}

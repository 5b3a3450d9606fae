/*
 * admin.c -- topic administration: CreateTopics, DeleteTopics,
 * CreatePartitions, DeleteRecords, DescribeConfigs, AlterConfigs, and
 * DescribeLogDirs (partition sizes on disk).
 *
 * kappa is one broker: a replication factor other than 1 (or -1, "the
 * default") is refused with INVALID_REPLICATION_FACTOR rather than silently
 * ignored, and manual replica assignments are refused likewise.  It has one
 * log directory, so DescribeLogDirs always answers with exactly one result.
 */
#include "broker.h"
#include "kerr.h"
#include "../core/kp_error.h"
#include "../core/logging.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define RESOURCE_TOPIC 2
#define ADMIN_MAX_NEW_PARTITIONS 10000
#define RESOURCE_BROKER 4

static kstr_t arena_str(kreq_t *r, const char *s)
{
    size_t n = strlen(s);
    char *p = arena_memdup(&r->arena, s, n + 1);
    return p ? (kstr_t){p, (int32_t)n} : KSTR_NULL;
}

/* Turn a list of name/value configs into key,value,...,NULL C strings. */
static const char **config_list(kreq_t *r, const karray_t *cfgs, size_t name_off,
                                size_t value_off, size_t elem_size)
{
    int n = cfgs->n > 0 ? cfgs->n : 0;
    const char **kv = arena_alloc(&r->arena, (size_t)(2 * n + 1) * sizeof *kv);
    if (!kv)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char *e = (const char *)cfgs->v + elem_size * (size_t)i;
        kstr_t k = *(const kstr_t *)(e + name_off), v = *(const kstr_t *)(e + value_off);
        char *ks = arena_alloc(&r->arena, (size_t)(k.len > 0 ? k.len : 0) + 1);
        char *vs = arena_alloc(&r->arena, (size_t)(v.len > 0 ? v.len : 0) + 1);
        if (!ks || !vs)
            return NULL;
        kstr_copy(k, ks, (size_t)(k.len > 0 ? k.len : 0) + 1);
        kstr_copy(v, vs, (size_t)(v.len > 0 ? v.len : 0) + 1);
        kv[2 * i] = ks;
        kv[2 * i + 1] = vs;     /* a null value becomes "": remove the override */
    }
    kv[2 * n] = NULL;
    return kv;
}

static int16_t config_error(kreq_t *r, const char *const *kv, kstr_t *msg)
{
    log_config_t c;
    log_config_defaults(&c);
    for (int i = 0; kv[i]; i += 2) {
        int rc = kv[i + 1][0] ? log_config_set(&c, kv[i], kv[i + 1]) : 0;
        if (rc) {
            char buf[300];
            snprintf(buf, sizeof buf, rc == KP_ENOTFOUND ? "Unknown topic config name: %s"
                                                         : "Invalid value %s for configuration %s",
                     rc == KP_ENOTFOUND ? kv[i] : kv[i + 1], kv[i]);
            *msg = arena_str(r, buf);
            return KERR_INVALID_CONFIG;
        }
    }
    return KERR_NONE;
}

void handle_create_topics(kreq_t *r)
{
    broker_t *b = r->b;
    create_topics_req_t *req = r->body;
    create_topics_resp_t resp = {0};
    int n = req->topics.n > 0 ? req->topics.n : 0;
    create_topics_req_creatable_topic_t *rt = req->topics.v;
    create_topics_resp_creatable_topic_result_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out)
        goto oom;
    /* Partitions are created synchronously (directories, fsyncs): bound
     * what one request may ask for. */
    int64_t budget = ADMIN_MAX_NEW_PARTITIONS;
    for (int i = 0; i < n; i++) {
        char name[256] = "";
        bool name_ok = kstr_topic_name(rt[i].name, name, sizeof name);
        out[i].name = rt[i].name;
        out[i].error_message = KSTR_NULL;
        int32_t parts = rt[i].num_partitions == -1 ? b->cfg.num_partitions : rt[i].num_partitions;
        const char **kv = config_list(r, &rt[i].configs,
                                      offsetof(create_topics_req_creatable_topic_config_t, name),
                                      offsetof(create_topics_req_creatable_topic_config_t, value),
                                      sizeof(create_topics_req_creatable_topic_config_t));
        if (!kv)
            goto oom;
        if (!name_ok || !log_topic_name_valid(name)) {
            out[i].error_code = KERR_INVALID_TOPIC_EXCEPTION;
            out[i].error_message = arena_str(r, "Topic name is illegal: it may contain only "
                                                "ASCII letters, digits, '.', '_' and '-'");
        } else if (log_topic_find(b->log, name)) {
            out[i].error_code = KERR_TOPIC_ALREADY_EXISTS;
            char m[300];
            snprintf(m, sizeof m, "Topic '%s' already exists.", name);
            out[i].error_message = arena_str(r, m);
        } else if (parts < 1 || parts > 100000) {
            out[i].error_code = KERR_INVALID_PARTITIONS;
            out[i].error_message = arena_str(r, "Number of partitions must be at least 1.");
        } else if (parts > budget) {
            out[i].error_code = KERR_POLICY_VIOLATION;
            out[i].error_message = arena_str(r, "A request may create at most 10000 partitions "
                                                "in all; send the rest separately");
        } else if (rt[i].replication_factor != -1 && rt[i].replication_factor != 1) {
            out[i].error_code = KERR_INVALID_REPLICATION_FACTOR;
            out[i].error_message = arena_str(r, "kappa is a single broker: replication "
                                                "factor must be 1");
        } else if (rt[i].assignments.n > 0) {
            out[i].error_code = KERR_INVALID_REPLICA_ASSIGNMENT;
            out[i].error_message = arena_str(r, "Manual replica assignment is not supported");
        } else if ((out[i].error_code = config_error(r, kv, &out[i].error_message)) != 0) {
            /* message set */
        } else if (!req->validate_only) {
            int rc = log_topic_create(b->log, name, parts, kv);
            out[i].error_code = kerr_from_kp(rc);
            if (rc)
                out[i].error_message = arena_str(r, kp_strerror(rc));
            else
                budget -= parts;
        }
    }
    resp.topics = (karray_t){out, n};
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}

void handle_delete_topics(kreq_t *r)
{
    broker_t *b = r->b;
    delete_topics_req_t *req = r->body;
    delete_topics_resp_t resp = {0};
    int n = req->topic_names.n > 0 ? req->topic_names.n : 0;
    kstr_t *names = req->topic_names.v;
    delete_topics_resp_deletable_topic_result_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out) {
        kreq_abort(r);
        return;
    }
    /* A partition cannot be freed under an fsync in flight; deletions are
     * rare, so wait for those syncs here rather than fail the request. */
    bool busy = false;
    for (int i = 0; i < n && !busy; i++) {
        char name[256];
        log_topic_t *t = kstr_topic_name(names[i], name, sizeof name)
                             ? log_topic_find(b->log, name) : NULL;
        for (int32_t j = 0; t && j < log_topic_partitions(t); j++)
            busy |= partition_sync_busy(log_topic_partition(t, j));
    }
    if (busy)
        loop_drain(b->loop);
    for (int i = 0; i < n; i++) {
        char name[256];
        out[i].name = names[i];
        log_topic_t *t = kstr_topic_name(names[i], name, sizeof name)
                             ? log_topic_find(b->log, name) : NULL;
        if (!t) {
            out[i].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        if (broker_topic_internal(name)) {
            out[i].error_code = KERR_INVALID_TOPIC_EXCEPTION;
            continue;
        }
        int32_t np = log_topic_partitions(t);
        partition_t **ps = arena_alloc(&r->arena, (size_t)np * sizeof *ps);
        if (!ps) {
            kreq_abort(r);
            return;
        }
        for (int32_t j = 0; j < np; j++)
            ps[j] = log_topic_partition(t, j);
        int rc = log_topic_delete(b->log, name);
        out[i].error_code = kerr_from_kp(rc);
        /* Only now that the data is gone: its waiting producers get an
         * error (earlier, a failed delete would have lied to them). */
        if (rc == 0)
            for (int32_t j = 0; j < np; j++)
                produce_forget_partition(b, ps[j]);
    }
    resp.responses = (karray_t){out, n};
    kreq_respond(r, &resp);
}

void handle_create_partitions(kreq_t *r)
{
    broker_t *b = r->b;
    create_partitions_req_t *req = r->body;
    create_partitions_resp_t resp = {0};
    int n = req->topics.n > 0 ? req->topics.n : 0;
    create_partitions_req_create_partitions_topic_t *rt = req->topics.v;
    create_partitions_resp_create_partitions_topic_result_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out) {
        kreq_abort(r);
        return;
    }
    for (int i = 0; i < n; i++) {
        char name[256] = "", m[300];
        out[i].name = rt[i].name;
        out[i].error_message = KSTR_NULL;
        log_topic_t *t = kstr_topic_name(rt[i].name, name, sizeof name)
                             ? log_topic_find(b->log, name) : NULL;
        if (!t) {
            out[i].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        } else if (broker_topic_internal(name)) {
            out[i].error_code = KERR_INVALID_TOPIC_EXCEPTION;
            out[i].error_message = arena_str(r, "Internal topics cannot be repartitioned");
        } else if (rt[i].count <= log_topic_partitions(t)) {
            out[i].error_code = KERR_INVALID_PARTITIONS;
            snprintf(m, sizeof m, "Topic currently has %d partitions, which is higher than "
                     "or equal to the requested %d.", log_topic_partitions(t), rt[i].count);
            out[i].error_message = arena_str(r, m);
        } else if (rt[i].assignments.n > 0) {
            out[i].error_code = KERR_INVALID_REPLICA_ASSIGNMENT;
        } else if (rt[i].count - log_topic_partitions(t) > ADMIN_MAX_NEW_PARTITIONS) {
            out[i].error_code = KERR_POLICY_VIOLATION;
            out[i].error_message = arena_str(r, "At most 10000 partitions may be added at once");
        } else if (!req->validate_only) {
            out[i].error_code = kerr_from_kp(log_topic_add_partitions(b->log, name, rt[i].count));
        }
    }
    resp.results = (karray_t){out, n};
    kreq_respond(r, &resp);
}

void handle_delete_records(kreq_t *r)
{
    broker_t *b = r->b;
    delete_records_req_t *req = r->body;
    delete_records_resp_t resp = {0};
    int n = req->topics.n > 0 ? req->topics.n : 0;
    delete_records_req_delete_records_topic_t *rt = req->topics.v;
    delete_records_resp_delete_records_topic_result_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out)
        goto oom;
    for (int i = 0; i < n; i++) {
        int np = rt[i].partitions.n > 0 ? rt[i].partitions.n : 0;
        delete_records_req_delete_records_partition_t *rp = rt[i].partitions.v;
        delete_records_resp_delete_records_partition_result_t *ps =
            arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *ps);
        if (!ps)
            goto oom;
        out[i].name = rt[i].name;
        out[i].partitions = (karray_t){ps, np};
        int16_t terr;
        log_topic_t *t = broker_topic(b, rt[i].name, false, &terr);
        if (t && broker_topic_internal(log_topic_name(t))) {
            t = NULL;
            terr = KERR_INVALID_TOPIC_EXCEPTION;
        }
        for (int j = 0; j < np; j++) {
            ps[j].partition_index = rp[j].partition_index;
            ps[j].low_watermark = -1;
            partition_t *p = t ? log_topic_partition(t, rp[j].partition_index) : NULL;
            if (!p) {
                ps[j].error_code = t ? KERR_UNKNOWN_TOPIC_OR_PARTITION : terr;
                continue;
            }
            /* -1 means "up to the high watermark". */
            int64_t off = rp[j].offset == -1 ? partition_high_watermark(p) : rp[j].offset;
            int rc = partition_delete_records(p, off);
            ps[j].error_code = kerr_from_kp(rc);
            ps[j].low_watermark = partition_log_start_offset(p);
        }
    }
    /* The new start offsets must survive a restart before we say so. */
    log_checkpoint(b->log);
    resp.topics = (karray_t){out, n};
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}

/* ---- configs ---- */

typedef describe_configs_resp_describe_configs_resource_result_t dcfg_t;

enum { SRC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };

static int describe_topic(kreq_t *r, log_topic_t *t, const karray_t *keys, dcfg_t **out, int *n)
{
    const char *const *over = log_topic_overrides(t);
    /* A value the topic does not override comes from the broker's
     * configuration if that differs from the built-in default (Kafka reports
     * such a value as STATIC_BROKER_CONFIG, not DEFAULT_CONFIG). */
    log_config_t builtin;
    log_config_defaults(&builtin);
    int total = 0;
    while (log_config_keys[total])
        total++;
    dcfg_t *cs = arena_alloc(&r->arena, (size_t)total * sizeof *cs);
    if (!cs)
        return -1;
    int k = 0;
    for (int i = 0; i < total; i++) {
        const char *key = log_config_keys[i];
        if (keys->n > 0) {
            bool want = false;
            for (int j = 0; j < keys->n && !want; j++)
                want = kstr_eq(((kstr_t *)keys->v)[j], key);
            if (!want)
                continue;
        }
        char v[64];
        log_config_get(log_topic_config(t), key, v, sizeof v);
        bool overridden = false;
        for (int j = 0; over && over[j]; j += 2)
            overridden |= strcmp(over[j], key) == 0;
        cs[k].name = (kstr_t){key, (int32_t)strlen(key)};
        cs[k].value = arena_str(r, v);
        cs[k].read_only = false;
        char dv[64], bv[64];
        log_config_get(&builtin, key, dv, sizeof dv);
        log_config_get(&r->b->cfg.log, key, bv, sizeof bv);
        bool from_broker = !overridden && strcmp(dv, bv) != 0;
        cs[k].is_default = !overridden && !from_broker;
        cs[k].config_source = overridden ? SRC_TOPIC : from_broker ? SRC_STATIC_BROKER : SRC_DEFAULT;
        cs[k].is_sensitive = false;
        cs[k].synonyms = (karray_t){NULL, 0};
        k++;
    }
    *out = cs;
    *n = k;
    return 0;
}

void handle_describe_configs(kreq_t *r)
{
    broker_t *b = r->b;
    describe_configs_req_t *req = r->body;
    describe_configs_resp_t resp = {0};
    int n = req->resources.n > 0 ? req->resources.n : 0;
    describe_configs_req_describe_configs_resource_t *rr = req->resources.v;
    describe_configs_resp_describe_configs_result_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out)
        goto oom;
    for (int i = 0; i < n; i++) {
        out[i].resource_type = rr[i].resource_type;
        out[i].resource_name = rr[i].resource_name;
        out[i].error_message = KSTR_NULL;
        out[i].configs = (karray_t){NULL, 0};
        if (rr[i].resource_type == RESOURCE_TOPIC) {
            int16_t terr;
            log_topic_t *t = broker_topic(b, rr[i].resource_name, false, &terr);
            if (!t) {
                out[i].error_code = terr;
                continue;
            }
            dcfg_t *cs;
            int k;
            if (describe_topic(r, t, &rr[i].configuration_keys, &cs, &k))
                goto oom;
            out[i].configs = (karray_t){cs, k};
        } else if (rr[i].resource_type == RESOURCE_BROKER) {
            /* The broker's topic defaults, under their broker names. */
            static const char *const bk[][2] = {
                {"log.segment.bytes", "segment.bytes"}, {"log.retention.ms", "retention.ms"},
                {"log.retention.bytes", "retention.bytes"},
                {"log.cleanup.policy", "cleanup.policy"},
                {"message.max.bytes", "max.message.bytes"},
            };
            int k = (int)(sizeof bk / sizeof bk[0]);
            dcfg_t *cs = arena_alloc(&r->arena, (size_t)(k + 3) * sizeof *cs);
            if (!cs)
                goto oom;
            int m = 0;
            for (int j = 0; j < k; j++) {
                char v[64];
                log_config_get(&b->cfg.log, bk[j][1], v, sizeof v);
                cs[m].name = (kstr_t){bk[j][0], (int32_t)strlen(bk[j][0])};
                cs[m].value = arena_str(r, v);
                cs[m].read_only = true;
                cs[m].config_source = SRC_STATIC_BROKER;
                cs[m].synonyms = (karray_t){NULL, 0};
                m++;
            }
            char v[32];
            snprintf(v, sizeof v, "%d", b->cfg.num_partitions);
            cs[m] = (dcfg_t){.name = KSTR("num.partitions"), .value = arena_str(r, v),
                             .read_only = true, .config_source = SRC_STATIC_BROKER};
            m++;
            cs[m] = (dcfg_t){.name = KSTR("auto.create.topics.enable"),
                             .value = arena_str(r, b->cfg.auto_create_topics ? "true" : "false"),
                             .read_only = true, .config_source = SRC_STATIC_BROKER};
            m++;
            out[i].configs = (karray_t){cs, m};
        } else {
            out[i].error_code = KERR_INVALID_REQUEST;
            out[i].error_message = arena_str(r, "Unsupported resource type");
        }
    }
    resp.results = (karray_t){out, n};
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}

void handle_alter_configs(kreq_t *r)
{
    broker_t *b = r->b;
    alter_configs_req_t *req = r->body;
    alter_configs_resp_t resp = {0};
    int n = req->resources.n > 0 ? req->resources.n : 0;
    alter_configs_req_alter_configs_resource_t *rr = req->resources.v;
    alter_configs_resp_alter_configs_resource_response_t *out =
        arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *out);
    if (!out)
        goto oom;
    for (int i = 0; i < n; i++) {
        char name[256] = "";
        bool name_ok = kstr_topic_name(rr[i].resource_name, name, sizeof name);
        out[i].resource_type = rr[i].resource_type;
        out[i].resource_name = rr[i].resource_name;
        out[i].error_message = KSTR_NULL;
        if (rr[i].resource_type != RESOURCE_TOPIC) {
            out[i].error_code = KERR_INVALID_REQUEST;
            out[i].error_message = arena_str(r, "Only topic configs can be altered");
            continue;
        }
        log_topic_t *t = name_ok ? log_topic_find(b->log, name) : NULL;
        if (!t) {
            out[i].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        if (broker_topic_internal(name)) {
            out[i].error_code = KERR_INVALID_TOPIC_EXCEPTION;
            out[i].error_message = arena_str(r, "Internal topic configs are managed by kappa");
            continue;
        }
        const char **kv = config_list(r, &rr[i].configs,
                                      offsetof(alter_configs_req_alterable_config_t, name),
                                      offsetof(alter_configs_req_alterable_config_t, value),
                                      sizeof(alter_configs_req_alterable_config_t));
        if (!kv)
            goto oom;
        out[i].error_code = config_error(r, kv, &out[i].error_message);
        if (out[i].error_code || req->validate_only)
            continue;
        /* AlterConfigs replaces the whole override set (Kafka semantics):
         * clear every existing override not named, then apply. */
        const char *const *old = log_topic_overrides(t);
        int nold = 0, nnew = 0;
        while (old && old[2 * nold])
            nold++;
        while (kv[2 * nnew])
            nnew++;
        const char **all = arena_alloc(&r->arena, (size_t)(2 * (nold + nnew) + 1) * sizeof *all);
        if (!all)
            goto oom;
        int m = 0;
        for (int j = 0; j < nold; j++) {
            all[m++] = arena_str(r, old[2 * j]).p;
            all[m++] = "";
        }
        for (int j = 0; j < 2 * nnew; j++)
            all[m++] = kv[j];
        all[m] = NULL;
        int rc = log_topic_alter_config(b->log, name, all);
        out[i].error_code = kerr_from_kp(rc);
    }
    resp.responses = (karray_t){out, n};
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}

/* ---- DescribeLogDirs ---- */

typedef describe_log_dirs_resp_describe_log_dirs_topic_t ldt_t;
typedef describe_log_dirs_resp_describe_log_dirs_partition_t ldp_t;
typedef describe_log_dirs_req_describable_log_dir_topic_t ldreq_t;

static int cmp_ldreq(const void *a, const void *b)
{
    kstr_t x = (*(const ldreq_t *const *)a)->topic, y = (*(const ldreq_t *const *)b)->topic;
    int32_t xl = x.len > 0 ? x.len : 0, yl = y.len > 0 ? y.len : 0;
    int c = xl && yl ? memcmp(x.p, y.p, (size_t)(xl < yl ? xl : yl)) : 0;
    return c ? c : (xl > yl) - (xl < yl);
}

/*
 * Fill *out with the partitions of t that `want` marks (every partition
 * when want is NULL), in id order.  Returns 0, or -1 when the arena
 * refused.
 */
static int log_dirs_topic(kreq_t *r, log_topic_t *t, const bool *want, ldt_t *out)
{
    int32_t np = log_topic_partitions(t), k = 0;
    ldp_t *ps = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *ps);
    if (!ps)
        return -1;
    for (int32_t j = 0; j < np; j++) {
        partition_t *p = log_topic_partition(t, j);
        if (!p || (want && !want[j]))
            continue;
        /* One replica, no future log being moved in: the lag of the log end
         * behind the high watermark is always 0 here. */
        ps[k++] = (ldp_t){.partition_index = j, .partition_size = partition_size_bytes(p),
                          .offset_lag = 0, .is_future_key = false};
    }
    const char *name = log_topic_name(t);
    out->name = (kstr_t){name, (int32_t)strlen(name)};
    out->partitions = (karray_t){ps, k};
    return 0;
}

/*
 * Topics null means every topic, internal ones included; otherwise the
 * named partitions that exist.  As in Kafka, an unknown topic or partition
 * is simply absent from the answer (no error), a topic named twice is
 * answered once, and a topic none of whose named partitions exist is left
 * out.
 */
void handle_describe_log_dirs(kreq_t *r)
{
    broker_t *b = r->b;
    describe_log_dirs_req_t *req = r->body;
    describe_log_dirs_resp_t resp = {0};
    describe_log_dirs_resp_describe_log_dirs_result_t *res = arena_alloc(&r->arena, sizeof *res);
    if (!res)
        goto oom;
    *res = (describe_log_dirs_resp_describe_log_dirs_result_t){.total_bytes = -1,
                                                                .usable_bytes = -1};
    /* Kafka reports the directory's absolute path. */
    char abs[PATH_MAX];
    const char *dir = realpath(b->cfg.log_dir, abs) ? abs : b->cfg.log_dir;
    res->log_dir = arena_str(r, dir);
    struct statvfs sv;
    if (statvfs(dir, &sv) == 0) {
        res->total_bytes = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        res->usable_bytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    }
    ldt_t *ts;
    int k = 0;
    if (req->topics.n < 0) {
        int n = log_topic_count(b->log);
        ts = arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *ts);
        if (!ts)
            goto oom;
        for (int i = 0; i < n; i++)
            if (log_dirs_topic(r, log_topic_at(b->log, i), NULL, &ts[k++]))
                goto oom;
    } else {
        /* Sorted by name so that entries naming the same topic are adjacent
         * and merge into one answer. */
        int n = req->topics.n;
        ldreq_t *rt = req->topics.v;
        ldreq_t **by = arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *by);
        ts = arena_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *ts);
        if (!by || !ts)
            goto oom;
        for (int i = 0; i < n; i++)
            by[i] = &rt[i];
        qsort(by, (size_t)n, sizeof *by, cmp_ldreq);
        for (int i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && cmp_ldreq(&by[i], &by[j]) == 0; j++)
                continue;
            char name[256];
            log_topic_t *t = kstr_topic_name(by[i]->topic, name, sizeof name)
                                 ? log_topic_find(b->log, name) : NULL;
            if (!t)
                continue;
            int32_t np = log_topic_partitions(t);
            bool *want = arena_alloc(&r->arena, (size_t)(np ? np : 1) * sizeof *want);
            if (!want)
                goto oom;
            memset(want, 0, (size_t)(np ? np : 1) * sizeof *want);
            for (int e = i; e < j; e++) {
                int32_t *ids = by[e]->partitions.v;
                for (int q = 0; q < by[e]->partitions.n; q++)
                    if (ids[q] >= 0 && ids[q] < np)
                        want[ids[q]] = true;
            }
            if (log_dirs_topic(r, t, want, &ts[k]))
                goto oom;
            if (ts[k].partitions.n > 0)
                k++;
        }
    }
    res->topics = (karray_t){ts, k};
    resp.results = (karray_t){res, 1};
    kreq_respond(r, &resp);
    return;
oom:
    kreq_abort(r);
}

/*
 * config.c -- server properties.  Topic-level defaults use Kafka's broker
 * names (log.segment.bytes -> segment.bytes, log.retention.ms -> ...), so
 * a Kafka server.properties mostly carries over; keys kappa does not
 * implement are refused by name rather than silently ignored.
 */
#include "config.h"
#include "../stream/host.h"
#include "../core/kp_error.h"
#include "../core/logging.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void broker_config_defaults(broker_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->node_id = 1;
    /* Loopback only by default, both families: librdkafka resolves
     * "localhost" to ::1 first. */
    snprintf(c->listeners[0].host, sizeof c->listeners[0].host, "127.0.0.1");
    c->listeners[0].port = 9092;
    snprintf(c->listeners[1].host, sizeof c->listeners[1].host, "::1");
    c->listeners[1].port = 9092;
    c->nlisteners = 2;
    snprintf(c->log_dir, sizeof c->log_dir, "%s", "kappa-data");
    c->num_partitions = 1;
    c->auto_create_topics = true;
    c->message_max_bytes = 1048588;
    c->socket_request_max_bytes = 104857600;
    c->group_initial_rebalance_delay_ms = 3000;
    c->group_min_session_timeout_ms = 6000;
    c->group_max_session_timeout_ms = 1800000;
    c->transaction_max_timeout_ms = 900000;
    c->offsets_topic_num_partitions = 50;
    c->offsets_retention_minutes = 10080;
    c->log_check_interval_ms = 300000;
    c->connections_max_idle_ms = 600000;
    snprintf(c->http_listener, sizeof c->http_listener, "127.0.0.1:9644");
    c->log_level = KP_LOG_INFO;
    c->fsync_workers = 1;
    c->views_query_timeout_ms = 10000;
    log_config_defaults(&c->log);
}

static int parse_i64(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return KP_EINVAL;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0)
        *out = false;
    else
        return KP_EINVAL;
    return 0;
}

int broker_parse_listeners(const char *v, listener_addr_t *out, int max, int *n)
{
    char buf[2048];
    *n = 0;
    if (strlen(v) >= sizeof buf)
        return KP_EINVAL;
    snprintf(buf, sizeof buf, "%s", v);
    char *save;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *sep = strstr(tok, "://");
        if (sep) {
            if (strncmp(tok, "PLAINTEXT", (size_t)(sep - tok)) != 0)
                return KP_EUNSUPPORTED;
            tok = sep + 3;
        }
        char *colon = strrchr(tok, ':');
        if (!colon || *n >= max)
            return KP_EINVAL;
        *colon = '\0';
        char *host = tok;
        if (host[0] == '[') {       /* [::1]:9092 */
            host++;
            size_t hl = strlen(host);
            if (hl == 0 || host[hl - 1] != ']')
                return KP_EINVAL;
            host[hl - 1] = '\0';
        }
        int64_t port;
        if (parse_i64(colon + 1, 0, 65535, &port))
            return KP_EINVAL;
        snprintf(out[*n].host, sizeof out[*n].host, "%s", host);
        out[*n].port = (int)port;
        (*n)++;
    }
    return *n > 0 ? 0 : KP_EINVAL;
}

/* Broker-level names of topic defaults. */
static const struct {
    const char *broker_key;
    const char *topic_key;
    int64_t scale;
} topic_defaults[] = {
    {"log.segment.bytes", "segment.bytes", 1},
    {"log.roll.ms", "segment.ms", 1},
    {"log.roll.hours", "segment.ms", 3600000},
    {"log.retention.ms", "retention.ms", 1},
    {"log.retention.minutes", "retention.ms", 60000},
    {"log.retention.hours", "retention.ms", 3600000},
    {"log.retention.bytes", "retention.bytes", 1},
    {"log.index.interval.bytes", "index.interval.bytes", 1},
    {"log.cleanup.policy", "cleanup.policy", 0},
    {"log.cleaner.delete.retention.ms", "delete.retention.ms", 1},
    {"log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms", 1},
};

int broker_config_set(broker_config_t *c, const char *key, const char *v, char *why, size_t cap)
{
    int64_t x;
    int rc = 0;
    why[0] = '\0';
    if (strcmp(key, "node.id") == 0 || strcmp(key, "broker.id") == 0) {
        rc = parse_i64(v, 0, INT32_MAX, &x);
        c->node_id = (int32_t)x;
    } else if (strcmp(key, "listeners") == 0) {
        rc = broker_parse_listeners(v, c->listeners, BROKER_MAX_LISTENERS, &c->nlisteners);
    } else if (strcmp(key, "advertised.listeners") == 0) {
        int n;
        rc = broker_parse_listeners(v, &c->advertised, 1, &n);
        c->advertised_set = rc == 0;
    } else if (strcmp(key, "log.dirs") == 0 || strcmp(key, "log.dir") == 0) {
        if (strchr(v, ','))
            rc = KP_EUNSUPPORTED;   /* one directory per broker for now */
        else if (!v[0] || strlen(v) >= sizeof c->log_dir)
            rc = KP_EINVAL;
        else
            snprintf(c->log_dir, sizeof c->log_dir, "%s", v);
    } else if (strcmp(key, "num.partitions") == 0) {
        rc = parse_i64(v, 1, 100000, &x);
        c->num_partitions = (int32_t)x;
    } else if (strcmp(key, "auto.create.topics.enable") == 0) {
        rc = parse_bool(v, &c->auto_create_topics);
    } else if (strcmp(key, "message.max.bytes") == 0) {
        rc = parse_i64(v, 0, INT32_MAX, &c->message_max_bytes);
        if (rc == 0)
            c->log.max_message_bytes = c->message_max_bytes;
    } else if (strcmp(key, "socket.request.max.bytes") == 0) {
        rc = parse_i64(v, 1024, INT32_MAX, &c->socket_request_max_bytes);
    } else if (strcmp(key, "group.initial.rebalance.delay.ms") == 0) {
        rc = parse_i64(v, 0, INT32_MAX, &c->group_initial_rebalance_delay_ms);
    } else if (strcmp(key, "group.min.session.timeout.ms") == 0) {
        rc = parse_i64(v, 0, INT32_MAX, &c->group_min_session_timeout_ms);
    } else if (strcmp(key, "group.max.session.timeout.ms") == 0) {
        rc = parse_i64(v, 0, INT32_MAX, &c->group_max_session_timeout_ms);
    } else if (strcmp(key, "transaction.max.timeout.ms") == 0) {
        rc = parse_i64(v, 1, INT32_MAX, &c->transaction_max_timeout_ms);
    } else if (strcmp(key, "offsets.topic.num.partitions") == 0) {
        rc = parse_i64(v, 1, 1000, &x);
        c->offsets_topic_num_partitions = (int32_t)x;
    } else if (strcmp(key, "offsets.retention.minutes") == 0) {
        rc = parse_i64(v, 1, INT32_MAX, &c->offsets_retention_minutes);
    } else if (strcmp(key, "log.retention.check.interval.ms") == 0) {
        rc = parse_i64(v, 100, INT32_MAX, &c->log_check_interval_ms);
    } else if (strcmp(key, "connections.max.idle.ms") == 0) {
        rc = parse_i64(v, 1000, INT64_MAX / 2, &c->connections_max_idle_ms);
    } else if (strcmp(key, "kappa.http.listener") == 0) {
        if (strlen(v) >= sizeof c->http_listener)
            rc = KP_EINVAL;
        else
            snprintf(c->http_listener, sizeof c->http_listener, "%s", v);
    } else if (strcmp(key, "kappa.log.level") == 0) {
        if (strcmp(v, "debug") == 0) c->log_level = KP_LOG_DEBUG;
        else if (strcmp(v, "info") == 0) c->log_level = KP_LOG_INFO;
        else if (strcmp(v, "warn") == 0) c->log_level = KP_LOG_WARN;
        else if (strcmp(v, "error") == 0) c->log_level = KP_LOG_ERROR;
        else rc = KP_EINVAL;
    } else if (strcmp(key, "kappa.jobs") == 0) {
        if (strlen(v) >= sizeof c->jobs) {
            rc = -1;
        } else if (job_host_parse(v, why, cap) != 0) {
            return -1;          /* why names the bad entry */
        } else {
            snprintf(c->jobs, sizeof c->jobs, "%s", v);
        }
    } else if (strcmp(key, "kappa.jobs.metrics.port") == 0) {
        rc = parse_i64(v, 0, 65000, &x);
        c->jobs_metrics_port = (int)x;
    } else if (strcmp(key, "kappa.jobs.state.dir") == 0) {
        if (strlen(v) >= sizeof c->jobs_state_dir)
            rc = -1;
        else
            snprintf(c->jobs_state_dir, sizeof c->jobs_state_dir, "%s", v);
    } else if (strcmp(key, "kappa.views.db") == 0) {
        if (strlen(v) >= sizeof c->views_db)
            rc = KP_EINVAL;
        else
            snprintf(c->views_db, sizeof c->views_db, "%s", v);
    } else if (strcmp(key, "kappa.views.query.timeout.ms") == 0) {
        rc = parse_i64(v, 1, INT32_MAX, &c->views_query_timeout_ms);
    } else if (strcmp(key, "kappa.fsync.workers") == 0) {
        rc = parse_i64(v, 0, 16, &x);
        c->fsync_workers = (int)x;
    } else {
        size_t i;
        for (i = 0; i < sizeof topic_defaults / sizeof topic_defaults[0]; i++)
            if (strcmp(key, topic_defaults[i].broker_key) == 0)
                break;
        if (i == sizeof topic_defaults / sizeof topic_defaults[0]) {
            snprintf(why, cap, "unknown configuration key '%s'", key);
            return KP_ENOTFOUND;
        }
        char scaled[64];
        const char *val = v;
        if (topic_defaults[i].scale > 1) {
            if (parse_i64(v, -1, INT64_MAX / topic_defaults[i].scale, &x)) {
                rc = KP_EINVAL;
                goto out;
            }
            snprintf(scaled, sizeof scaled, "%lld",
                     (long long)(x < 0 ? -1 : x * topic_defaults[i].scale));
            val = scaled;
        }
        rc = log_config_set(&c->log, topic_defaults[i].topic_key, val);
    }
out:
    if (rc && !why[0])
        snprintf(why, cap, "invalid value '%s' for '%s'%s", v, key,
                 rc == KP_EUNSUPPORTED ? " (not supported by kappa)" : "");
    return rc;
}

int broker_config_load(broker_config_t *c, const char *path, char *why, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, cap, "cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '#' || *s == '!' || *s == '\0')
            continue;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            s[--n] = '\0';
        char *sep = strpbrk(s, "=:");
        if (!sep) {
            snprintf(why, cap, "%s:%d: expected key=value", path, lineno);
            rc = KP_EINVAL;
            break;
        }
        char *k = s, *v = sep + 1;
        char *ke = sep;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = '\0';
        while (isspace((unsigned char)*v))
            v++;
        char inner[512];
        rc = broker_config_set(c, k, v, inner, sizeof inner);
        if (rc)
            snprintf(why, cap, "%s:%d: %s", path, lineno, inner);
    }
    fclose(f);
    return rc;
}

void broker_config_views_db(const broker_config_t *c, char *buf, size_t cap)
{
    if (c->views_db[0]) {
        snprintf(buf, cap, "%s", c->views_db);
        return;
    }
    size_t n = strlen(c->log_dir);
    while (n > 1 && c->log_dir[n - 1] == '/')
        n--;
    snprintf(buf, cap, "%.*s.views.db", (int)n, c->log_dir);
}

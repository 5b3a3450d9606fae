/*
 * config.c -- topic-level configuration, by Kafka's names.
 *
 * kappa's one departure from Kafka's defaults: retention.ms is -1 (keep
 * forever), because the log is the system of record and reprocessing needs
 * history.  Unknown keys are an error naming the key, never ignored.
 */
#include "log.h"
#include "../core/kp_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const log_config_keys[] = {
    "cleanup.policy", "segment.bytes", "segment.ms", "retention.ms", "retention.bytes",
    "index.interval.bytes", "max.message.bytes", "delete.retention.ms",
    "min.compaction.lag.ms", NULL,
};

void log_config_defaults(log_config_t *c)
{
    c->segment_bytes = 1073741824;
    c->segment_ms = 7LL * 24 * 3600 * 1000;
    c->retention_ms = -1;
    c->retention_bytes = -1;
    c->index_interval_bytes = 4096;
    c->max_message_bytes = 1048588;
    c->delete_retention_ms = 24LL * 3600 * 1000;
    c->min_compaction_lag_ms = 0;
    c->cleanup_policy = LOG_CLEANUP_DELETE;
}

static int parse_i64(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < min || x > max)
        return KP_EINVAL;
    *out = x;
    return 0;
}

static int parse_policy(const char *v, int *out)
{
    int bits = 0;
    char buf[64];
    if (strlen(v) >= sizeof buf)
        return KP_EINVAL;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (strcmp(tok, "delete") == 0)
            bits |= LOG_CLEANUP_DELETE;
        else if (strcmp(tok, "compact") == 0)
            bits |= LOG_CLEANUP_COMPACT;
        else
            return KP_EINVAL;
    }
    if (!bits)
        return KP_EINVAL;
    *out = bits;
    return 0;
}

int log_config_set(log_config_t *c, const char *key, const char *value)
{
    const int64_t big = INT64_MAX;
    if (strcmp(key, "cleanup.policy") == 0)
        return parse_policy(value, &c->cleanup_policy);
    if (strcmp(key, "segment.bytes") == 0)
        return parse_i64(value, 14, INT32_MAX, &c->segment_bytes);
    if (strcmp(key, "segment.ms") == 0)
        return parse_i64(value, 1, big, &c->segment_ms);
    if (strcmp(key, "retention.ms") == 0)
        return parse_i64(value, -1, big, &c->retention_ms);
    if (strcmp(key, "retention.bytes") == 0)
        return parse_i64(value, -1, big, &c->retention_bytes);
    if (strcmp(key, "index.interval.bytes") == 0)
        return parse_i64(value, 0, INT32_MAX, &c->index_interval_bytes);
    if (strcmp(key, "max.message.bytes") == 0)
        return parse_i64(value, 0, INT32_MAX, &c->max_message_bytes);
    if (strcmp(key, "delete.retention.ms") == 0)
        return parse_i64(value, 0, big, &c->delete_retention_ms);
    if (strcmp(key, "min.compaction.lag.ms") == 0)
        return parse_i64(value, 0, big, &c->min_compaction_lag_ms);
    return KP_ENOTFOUND;
}

int log_config_get(const log_config_t *c, const char *key, char *buf, size_t cap)
{
    int64_t v;
    if (strcmp(key, "cleanup.policy") == 0) {
        const char *s = c->cleanup_policy == (LOG_CLEANUP_DELETE | LOG_CLEANUP_COMPACT)
                            ? "compact,delete"
                            : c->cleanup_policy == LOG_CLEANUP_COMPACT ? "compact" : "delete";
        snprintf(buf, cap, "%s", s);
        return 0;
    }
    if (strcmp(key, "segment.bytes") == 0)
        v = c->segment_bytes;
    else if (strcmp(key, "segment.ms") == 0)
        v = c->segment_ms;
    else if (strcmp(key, "retention.ms") == 0)
        v = c->retention_ms;
    else if (strcmp(key, "retention.bytes") == 0)
        v = c->retention_bytes;
    else if (strcmp(key, "index.interval.bytes") == 0)
        v = c->index_interval_bytes;
    else if (strcmp(key, "max.message.bytes") == 0)
        v = c->max_message_bytes;
    else if (strcmp(key, "delete.retention.ms") == 0)
        v = c->delete_retention_ms;
    else if (strcmp(key, "min.compaction.lag.ms") == 0)
        v = c->min_compaction_lag_ms;
    else
        return KP_ENOTFOUND;
    snprintf(buf, cap, "%" PRId64, v);
    return 0;
}

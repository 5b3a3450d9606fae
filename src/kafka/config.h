/*
 * config.h -- `kappa server` configuration, by Kafka's property names where
 * one exists (kappa's own keys start with "kappa.").  Sources, in order:
 * embedded defaults, the -c properties file, then --set key=value.  An
 * unknown key is an error that names it.
 */
#ifndef KP_BROKER_CONFIG_H
#define KP_BROKER_CONFIG_H

#include "log/log.h"

#include <stdbool.h>
#include <stdint.h>

#define BROKER_MAX_LISTENERS 8

typedef struct listener_addr {
    char host[256];             /* "" = all addresses */
    int port;
} listener_addr_t;

typedef struct broker_config {
    int32_t node_id;                        /* node.id / broker.id */
    listener_addr_t listeners[BROKER_MAX_LISTENERS];
    int nlisteners;
    listener_addr_t advertised;             /* advertised.listeners (first) */
    bool advertised_set;
    char log_dir[4096];                     /* log.dirs (one directory) */
    int32_t num_partitions;
    bool auto_create_topics;
    int64_t message_max_bytes;
    int64_t socket_request_max_bytes;
    int64_t group_initial_rebalance_delay_ms;
    int64_t group_min_session_timeout_ms;
    int64_t group_max_session_timeout_ms;
    int64_t transaction_max_timeout_ms;
    int32_t offsets_topic_num_partitions;
    int64_t offsets_retention_minutes;
    int64_t log_check_interval_ms;          /* log.retention.check.interval.ms */
    int64_t connections_max_idle_ms;
    char http_listener[300];                /* kappa.http.listener */
    int log_level;                          /* kappa.log.level: KP_LOG_* */
    int fsync_workers;                      /* kappa.fsync.workers */
    char jobs[8192];                        /* kappa.jobs: NAME@VERSION=PLUGIN,... */
    char jobs_state_dir[4096];              /* kappa.jobs.state.dir ("": LOG_DIR.jobs) */
    int jobs_metrics_port;                  /* kappa.jobs.metrics.port: job i on +i; 0 off */
    char views_db[4096];                    /* kappa.views.db ("": LOG_DIR.views.db) */
    int64_t views_query_timeout_ms;         /* kappa.views.query.timeout.ms */
    log_config_t log;                       /* topic defaults: log.* keys */
} broker_config_t;

void broker_config_defaults(broker_config_t *c);

/* Apply one key=value.  On error, *why names the problem for the user. */
int broker_config_set(broker_config_t *c, const char *key, const char *value,
                      char *why, size_t cap);

/* Read a Java-style properties file (key=value or key: value, # comments). */
/* The view store's path: kappa.views.db, else LOG_DIR.views.db (what the
 * HTTP query API reads and the hosted jobs write). */
void broker_config_views_db(const broker_config_t *c, char *buf, size_t cap);
int broker_config_load(broker_config_t *c, const char *path, char *why, size_t cap);

/* Parse "PLAINTEXT://host:port,..." or "host:port". */
int broker_parse_listeners(const char *v, listener_addr_t *out, int max, int *n);

#endif

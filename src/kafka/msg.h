/*
 * msg.h -- the request and response messages of every Kafka API kappa
 * speaks, as C structs with schemas (schema.h), and the table of APIs and
 * the version ranges kappa advertises (PROTOCOL.md).
 *
 * Names follow Apache Kafka's message JSON files so a Kafka engineer finds
 * each field: `<api>_req_t` / `<api>_resp_t`, nested structs
 * `<api>_<req|resp>_<JSON struct type in snake case>_t`, fields the JSON
 * field name in snake case.  Only fields that exist in some version kappa
 * advertises are declared; tagged fields are left out (the codec skips
 * incoming ones and writes none).  Each karray_t says its element type.
 *
 * Version notes ("v3+", "v0-2", "null v1+") are given where a field is not
 * in every advertised version or can be null.  When a field is absent in
 * the decoded version it holds its Kafka default: the "= n" in the note,
 * else 0 for numbers, null (len -1) for strings and bytes, and n == -1 for
 * arrays.  A handler
 * encoding a response may fill fields the negotiated version lacks; they
 * are simply not written.
 *
 * Ownership: a decoded request's strings, bytes and records point into the
 * received frame; its arrays live in the request's arena.  Both must
 * outlive every use of the struct.
 */
#ifndef KP_MSG_H
#define KP_MSG_H

#include "schema.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- ApiVersions (18) ---- */

typedef struct api_versions_req {
    kstr_t client_software_name;        /* v3+ */
    kstr_t client_software_version;     /* v3+ */
} api_versions_req_t;

typedef struct api_versions_resp_api_version {
    int16_t api_key;
    int16_t min_version;
    int16_t max_version;
} api_versions_resp_api_version_t;

typedef struct api_versions_resp {
    int16_t error_code;
    karray_t api_keys;                  /* api_versions_resp_api_version_t */
    int32_t throttle_time_ms;           /* v1+ */
} api_versions_resp_t;

/* ---- Metadata (3) ---- */

typedef struct metadata_req_metadata_request_topic {
    kstr_t name;
} metadata_req_metadata_request_topic_t;

typedef struct metadata_req {
    /* metadata_req_metadata_request_topic_t; null v1+.  v0: empty means all
     * topics; v1+: null means all topics, empty means none. */
    karray_t topics;
    bool allow_auto_topic_creation;     /* v4+, = true */
} metadata_req_t;

typedef struct metadata_resp_metadata_response_broker {
    int32_t node_id;
    kstr_t host;
    int32_t port;
    kstr_t rack;                        /* v1+, null v1+ */
} metadata_resp_metadata_response_broker_t;

typedef struct metadata_resp_metadata_response_partition {
    int16_t error_code;
    int32_t partition_index;
    int32_t leader_id;
    karray_t replica_nodes;             /* int32_t */
    karray_t isr_nodes;                 /* int32_t */
    karray_t offline_replicas;          /* int32_t, v5+ */
} metadata_resp_metadata_response_partition_t;

typedef struct metadata_resp_metadata_response_topic {
    int16_t error_code;
    kstr_t name;
    bool is_internal;                   /* v1+ */
    karray_t partitions;                /* metadata_resp_metadata_response_partition_t */
} metadata_resp_metadata_response_topic_t;

typedef struct metadata_resp {
    int32_t throttle_time_ms;           /* v3+ */
    karray_t brokers;                   /* metadata_resp_metadata_response_broker_t */
    kstr_t cluster_id;                  /* v2+, null v2+ */
    int32_t controller_id;              /* v1+, = -1 */
    karray_t topics;                    /* metadata_resp_metadata_response_topic_t */
} metadata_resp_t;

/* ---- Produce (0) ---- */

typedef struct produce_req_partition_produce_data {
    int32_t index;
    kbytes_t records;                   /* null allowed */
} produce_req_partition_produce_data_t;

typedef struct produce_req_topic_produce_data {
    kstr_t name;
    karray_t partition_data;            /* produce_req_partition_produce_data_t */
} produce_req_topic_produce_data_t;

typedef struct produce_req {
    kstr_t transactional_id;            /* v3+, null v3+ */
    int16_t acks;
    int32_t timeout_ms;
    karray_t topic_data;                /* produce_req_topic_produce_data_t */
} produce_req_t;

typedef struct produce_resp_partition_produce_response {
    int32_t index;
    int16_t error_code;
    int64_t base_offset;
    int64_t log_append_time_ms;         /* v2+, = -1 */
    int64_t log_start_offset;           /* v5+, = -1 */
} produce_resp_partition_produce_response_t;

typedef struct produce_resp_topic_produce_response {
    kstr_t name;
    karray_t partition_responses;       /* produce_resp_partition_produce_response_t */
} produce_resp_topic_produce_response_t;

typedef struct produce_resp {
    karray_t responses;                 /* produce_resp_topic_produce_response_t */
    int32_t throttle_time_ms;           /* v1+ */
} produce_resp_t;

/* ---- Fetch (1) ---- */

typedef struct fetch_req_fetch_partition {
    int32_t partition;
    int32_t current_leader_epoch;       /* v9+, = -1 */
    int64_t fetch_offset;
    int64_t log_start_offset;           /* v5+, = -1 */
    int32_t partition_max_bytes;
} fetch_req_fetch_partition_t;

typedef struct fetch_req_fetch_topic {
    kstr_t topic;                       /* v0-12 */
    karray_t partitions;                /* fetch_req_fetch_partition_t */
} fetch_req_fetch_topic_t;

typedef struct fetch_req_forgotten_topic {
    kstr_t topic;                       /* v7-12 */
    karray_t partitions;                /* int32_t */
} fetch_req_forgotten_topic_t;

typedef struct fetch_req {
    int32_t replica_id;                 /* v0-14, = -1 */
    int32_t max_wait_ms;
    int32_t min_bytes;
    int32_t max_bytes;                  /* v3+, = 0x7fffffff */
    int8_t isolation_level;             /* v4+, = 0 */
    int32_t session_id;                 /* v7+, = 0 */
    int32_t session_epoch;              /* v7+, = -1 */
    karray_t topics;                    /* fetch_req_fetch_topic_t */
    karray_t forgotten_topics_data;     /* fetch_req_forgotten_topic_t, v7+ */
    kstr_t rack_id;                     /* v11+ (Kafka's default is "") */
} fetch_req_t;

typedef struct fetch_resp_aborted_transaction {
    int64_t producer_id;
    int64_t first_offset;
} fetch_resp_aborted_transaction_t;

typedef struct fetch_resp_partition_data {
    int32_t partition_index;
    int16_t error_code;
    int64_t high_watermark;
    int64_t last_stable_offset;         /* v4+, = -1 */
    int64_t log_start_offset;           /* v5+, = -1 */
    karray_t aborted_transactions;      /* fetch_resp_aborted_transaction_t, v4+, null v4+ */
    int32_t preferred_read_replica;     /* v11+, = -1 */
    kbytes_t records;                   /* null allowed (send empty, not null) */
} fetch_resp_partition_data_t;

typedef struct fetch_resp_fetchable_topic_response {
    kstr_t topic;                       /* v0-12 */
    karray_t partitions;                /* fetch_resp_partition_data_t */
} fetch_resp_fetchable_topic_response_t;

typedef struct fetch_resp {
    int32_t throttle_time_ms;           /* v1+ */
    int16_t error_code;                 /* v7+ */
    int32_t session_id;                 /* v7+, = 0 */
    karray_t responses;                 /* fetch_resp_fetchable_topic_response_t */
} fetch_resp_t;

/* ---- ListOffsets (2) ---- */

typedef struct list_offsets_req_list_offsets_partition {
    int32_t partition_index;
    int64_t timestamp;                  /* -1 latest, -2 earliest, else a time */
} list_offsets_req_list_offsets_partition_t;

typedef struct list_offsets_req_list_offsets_topic {
    kstr_t name;
    karray_t partitions;                /* list_offsets_req_list_offsets_partition_t */
} list_offsets_req_list_offsets_topic_t;

typedef struct list_offsets_req {
    int32_t replica_id;
    int8_t isolation_level;             /* v2+, = 0 */
    karray_t topics;                    /* list_offsets_req_list_offsets_topic_t */
} list_offsets_req_t;

typedef struct list_offsets_resp_list_offsets_partition_response {
    int32_t partition_index;
    int16_t error_code;
    int64_t timestamp;
    int64_t offset;
} list_offsets_resp_list_offsets_partition_response_t;

typedef struct list_offsets_resp_list_offsets_topic_response {
    kstr_t name;
    karray_t partitions;                /* list_offsets_resp_list_offsets_partition_response_t */
} list_offsets_resp_list_offsets_topic_response_t;

typedef struct list_offsets_resp {
    int32_t throttle_time_ms;           /* v2+ */
    karray_t topics;                    /* list_offsets_resp_list_offsets_topic_response_t */
} list_offsets_resp_t;

/* ---- CreateTopics (19) ---- */

typedef struct create_topics_req_creatable_replica_assignment {
    int32_t partition_index;
    karray_t broker_ids;                /* int32_t */
} create_topics_req_creatable_replica_assignment_t;

typedef struct create_topics_req_creatable_topic_config {
    kstr_t name;
    kstr_t value;                       /* null allowed */
} create_topics_req_creatable_topic_config_t;

typedef struct create_topics_req_creatable_topic {
    kstr_t name;
    int32_t num_partitions;             /* -1: broker default (v4+) */
    int16_t replication_factor;         /* -1: broker default (v4+) */
    karray_t assignments;               /* create_topics_req_creatable_replica_assignment_t */
    karray_t configs;                   /* create_topics_req_creatable_topic_config_t */
} create_topics_req_creatable_topic_t;

typedef struct create_topics_req {
    karray_t topics;                    /* create_topics_req_creatable_topic_t */
    int32_t timeout_ms;
    bool validate_only;                 /* v1+ */
} create_topics_req_t;

typedef struct create_topics_resp_creatable_topic_result {
    kstr_t name;
    int16_t error_code;
    kstr_t error_message;               /* v1+, null allowed */
} create_topics_resp_creatable_topic_result_t;

typedef struct create_topics_resp {
    int32_t throttle_time_ms;           /* v2+ */
    karray_t topics;                    /* create_topics_resp_creatable_topic_result_t */
} create_topics_resp_t;

/* ---- DeleteTopics (20) ---- */

typedef struct delete_topics_req {
    karray_t topic_names;               /* kstr_t */
    int32_t timeout_ms;
} delete_topics_req_t;

typedef struct delete_topics_resp_deletable_topic_result {
    kstr_t name;
    int16_t error_code;
} delete_topics_resp_deletable_topic_result_t;

typedef struct delete_topics_resp {
    int32_t throttle_time_ms;           /* v1+ */
    karray_t responses;                 /* delete_topics_resp_deletable_topic_result_t */
} delete_topics_resp_t;

/* ---- CreatePartitions (37) ---- */

typedef struct create_partitions_req_create_partitions_assignment {
    karray_t broker_ids;                /* int32_t */
} create_partitions_req_create_partitions_assignment_t;

typedef struct create_partitions_req_create_partitions_topic {
    kstr_t name;
    int32_t count;
    karray_t assignments;               /* create_partitions_req_create_partitions_assignment_t, null allowed */
} create_partitions_req_create_partitions_topic_t;

typedef struct create_partitions_req {
    karray_t topics;                    /* create_partitions_req_create_partitions_topic_t */
    int32_t timeout_ms;
    bool validate_only;
} create_partitions_req_t;

typedef struct create_partitions_resp_create_partitions_topic_result {
    kstr_t name;
    int16_t error_code;
    kstr_t error_message;               /* null allowed */
} create_partitions_resp_create_partitions_topic_result_t;

typedef struct create_partitions_resp {
    int32_t throttle_time_ms;
    karray_t results;                   /* create_partitions_resp_create_partitions_topic_result_t */
} create_partitions_resp_t;

/* ---- DeleteRecords (21) ---- */

typedef struct delete_records_req_delete_records_partition {
    int32_t partition_index;
    int64_t offset;
} delete_records_req_delete_records_partition_t;

typedef struct delete_records_req_delete_records_topic {
    kstr_t name;
    karray_t partitions;                /* delete_records_req_delete_records_partition_t */
} delete_records_req_delete_records_topic_t;

typedef struct delete_records_req {
    karray_t topics;                    /* delete_records_req_delete_records_topic_t */
    int32_t timeout_ms;
} delete_records_req_t;

typedef struct delete_records_resp_delete_records_partition_result {
    int32_t partition_index;
    int64_t low_watermark;
    int16_t error_code;
} delete_records_resp_delete_records_partition_result_t;

typedef struct delete_records_resp_delete_records_topic_result {
    kstr_t name;
    karray_t partitions;                /* delete_records_resp_delete_records_partition_result_t */
} delete_records_resp_delete_records_topic_result_t;

typedef struct delete_records_resp {
    int32_t throttle_time_ms;
    karray_t topics;                    /* delete_records_resp_delete_records_topic_result_t */
} delete_records_resp_t;

/* ---- DescribeConfigs (32) ---- */

typedef struct describe_configs_req_describe_configs_resource {
    int8_t resource_type;
    kstr_t resource_name;
    karray_t configuration_keys;        /* kstr_t, null allowed (= all) */
} describe_configs_req_describe_configs_resource_t;

typedef struct describe_configs_req {
    karray_t resources;                 /* describe_configs_req_describe_configs_resource_t */
    bool include_synonyms;              /* v1+ */
} describe_configs_req_t;

typedef struct describe_configs_resp_describe_configs_synonym {
    kstr_t name;
    kstr_t value;                       /* null allowed */
    int8_t source;
} describe_configs_resp_describe_configs_synonym_t;

typedef struct describe_configs_resp_describe_configs_resource_result {
    kstr_t name;
    kstr_t value;                       /* null allowed */
    bool read_only;
    bool is_default;                    /* v0 only */
    int8_t config_source;               /* v1+, = -1 */
    bool is_sensitive;
    karray_t synonyms;                  /* describe_configs_resp_describe_configs_synonym_t, v1+ */
} describe_configs_resp_describe_configs_resource_result_t;

typedef struct describe_configs_resp_describe_configs_result {
    int16_t error_code;
    kstr_t error_message;               /* null allowed */
    int8_t resource_type;
    kstr_t resource_name;
    karray_t configs;                   /* describe_configs_resp_describe_configs_resource_result_t */
} describe_configs_resp_describe_configs_result_t;

typedef struct describe_configs_resp {
    int32_t throttle_time_ms;
    karray_t results;                   /* describe_configs_resp_describe_configs_result_t */
} describe_configs_resp_t;

/* ---- AlterConfigs (33) ---- */

typedef struct alter_configs_req_alterable_config {
    kstr_t name;
    kstr_t value;                       /* null allowed */
} alter_configs_req_alterable_config_t;

typedef struct alter_configs_req_alter_configs_resource {
    int8_t resource_type;
    kstr_t resource_name;
    karray_t configs;                   /* alter_configs_req_alterable_config_t */
} alter_configs_req_alter_configs_resource_t;

typedef struct alter_configs_req {
    karray_t resources;                 /* alter_configs_req_alter_configs_resource_t */
    bool validate_only;
} alter_configs_req_t;

typedef struct alter_configs_resp_alter_configs_resource_response {
    int16_t error_code;
    kstr_t error_message;               /* null allowed */
    int8_t resource_type;
    kstr_t resource_name;
} alter_configs_resp_alter_configs_resource_response_t;

typedef struct alter_configs_resp {
    int32_t throttle_time_ms;
    karray_t responses;                 /* alter_configs_resp_alter_configs_resource_response_t */
} alter_configs_resp_t;

/* ---- DescribeLogDirs (35) ---- */

typedef struct describe_log_dirs_req_describable_log_dir_topic {
    kstr_t topic;
    karray_t partitions;                /* int32_t */
} describe_log_dirs_req_describable_log_dir_topic_t;

typedef struct describe_log_dirs_req {
    karray_t topics;                    /* describe_log_dirs_req_describable_log_dir_topic_t, null allowed (= all) */
} describe_log_dirs_req_t;

typedef struct describe_log_dirs_resp_describe_log_dirs_partition {
    int32_t partition_index;
    int64_t partition_size;
    int64_t offset_lag;
    bool is_future_key;
} describe_log_dirs_resp_describe_log_dirs_partition_t;

typedef struct describe_log_dirs_resp_describe_log_dirs_topic {
    kstr_t name;
    karray_t partitions;                /* describe_log_dirs_resp_describe_log_dirs_partition_t */
} describe_log_dirs_resp_describe_log_dirs_topic_t;

typedef struct describe_log_dirs_resp_describe_log_dirs_result {
    int16_t error_code;
    kstr_t log_dir;
    karray_t topics;                    /* describe_log_dirs_resp_describe_log_dirs_topic_t */
    int64_t total_bytes;                /* v4+, = -1 */
    int64_t usable_bytes;               /* v4+, = -1 */
} describe_log_dirs_resp_describe_log_dirs_result_t;

typedef struct describe_log_dirs_resp {
    int32_t throttle_time_ms;
    int16_t error_code;                 /* v3+ */
    karray_t results;                   /* describe_log_dirs_resp_describe_log_dirs_result_t */
} describe_log_dirs_resp_t;

/* ---- FindCoordinator (10) ---- */

typedef struct find_coordinator_req {
    kstr_t key;                         /* v0-3 */
    int8_t key_type;                    /* v1+, = 0 (0 group, 1 transaction) */
} find_coordinator_req_t;

typedef struct find_coordinator_resp {
    int32_t throttle_time_ms;           /* v1+ */
    int16_t error_code;                 /* v0-3 */
    kstr_t error_message;               /* v1-3, null v1+ */
    int32_t node_id;                    /* v0-3 */
    kstr_t host;                        /* v0-3 */
    int32_t port;                       /* v0-3 */
} find_coordinator_resp_t;

/* ---- JoinGroup (11) ---- */

typedef struct join_group_req_join_group_request_protocol {
    kstr_t name;
    kbytes_t metadata;
} join_group_req_join_group_request_protocol_t;

typedef struct join_group_req {
    kstr_t group_id;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;       /* v1+, = -1 (then use session_timeout_ms) */
    kstr_t member_id;
    kstr_t group_instance_id;           /* v5+, null v5+ */
    kstr_t protocol_type;
    karray_t protocols;                 /* join_group_req_join_group_request_protocol_t */
} join_group_req_t;

typedef struct join_group_resp_join_group_response_member {
    kstr_t member_id;
    kstr_t group_instance_id;           /* v5+, null v5+ */
    kbytes_t metadata;
} join_group_resp_join_group_response_member_t;

typedef struct join_group_resp {
    int32_t throttle_time_ms;           /* v2+ */
    int16_t error_code;
    int32_t generation_id;
    kstr_t protocol_name;
    kstr_t leader;
    kstr_t member_id;
    karray_t members;                   /* join_group_resp_join_group_response_member_t */
} join_group_resp_t;

/* ---- SyncGroup (14) ---- */

typedef struct sync_group_req_sync_group_request_assignment {
    kstr_t member_id;
    kbytes_t assignment;
} sync_group_req_sync_group_request_assignment_t;

typedef struct sync_group_req {
    kstr_t group_id;
    int32_t generation_id;
    kstr_t member_id;
    kstr_t group_instance_id;           /* v3+, null v3+ */
    karray_t assignments;               /* sync_group_req_sync_group_request_assignment_t */
} sync_group_req_t;

typedef struct sync_group_resp {
    int32_t throttle_time_ms;           /* v1+ */
    int16_t error_code;
    kbytes_t assignment;
} sync_group_resp_t;

/* ---- Heartbeat (12) ---- */

typedef struct heartbeat_req {
    kstr_t group_id;
    int32_t generation_id;
    kstr_t member_id;
    kstr_t group_instance_id;           /* v3+, null v3+ */
} heartbeat_req_t;

typedef struct heartbeat_resp {
    int32_t throttle_time_ms;           /* v1+ */
    int16_t error_code;
} heartbeat_resp_t;

/* ---- LeaveGroup (13) ---- */

typedef struct leave_group_req_member_identity {
    kstr_t member_id;
    kstr_t group_instance_id;           /* null allowed */
} leave_group_req_member_identity_t;

typedef struct leave_group_req {
    kstr_t group_id;
    kstr_t member_id;                   /* v0-2 */
    karray_t members;                   /* leave_group_req_member_identity_t, v3+ */
} leave_group_req_t;

typedef struct leave_group_resp_member_response {
    kstr_t member_id;
    kstr_t group_instance_id;           /* null allowed */
    int16_t error_code;
} leave_group_resp_member_response_t;

typedef struct leave_group_resp {
    int32_t throttle_time_ms;           /* v1+ */
    int16_t error_code;
    karray_t members;                   /* leave_group_resp_member_response_t, v3+ */
} leave_group_resp_t;

/* ---- OffsetCommit (8) ---- */

typedef struct offset_commit_req_offset_commit_request_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch;     /* v6+, = -1 */
    kstr_t committed_metadata;          /* null allowed */
} offset_commit_req_offset_commit_request_partition_t;

typedef struct offset_commit_req_offset_commit_request_topic {
    kstr_t name;
    karray_t partitions;                /* offset_commit_req_offset_commit_request_partition_t */
} offset_commit_req_offset_commit_request_topic_t;

typedef struct offset_commit_req {
    kstr_t group_id;
    int32_t generation_id_or_member_epoch;  /* the generation id at these versions */
    kstr_t member_id;
    kstr_t group_instance_id;           /* v7+, null v7+ */
    int64_t retention_time_ms;          /* v2-4, = -1 */
    karray_t topics;                    /* offset_commit_req_offset_commit_request_topic_t */
} offset_commit_req_t;

typedef struct offset_commit_resp_offset_commit_response_partition {
    int32_t partition_index;
    int16_t error_code;
} offset_commit_resp_offset_commit_response_partition_t;

typedef struct offset_commit_resp_offset_commit_response_topic {
    kstr_t name;
    karray_t partitions;                /* offset_commit_resp_offset_commit_response_partition_t */
} offset_commit_resp_offset_commit_response_topic_t;

typedef struct offset_commit_resp {
    int32_t throttle_time_ms;           /* v3+ */
    karray_t topics;                    /* offset_commit_resp_offset_commit_response_topic_t */
} offset_commit_resp_t;

/* ---- OffsetFetch (9) ---- */

typedef struct offset_fetch_req_offset_fetch_request_topic {
    kstr_t name;
    karray_t partition_indexes;         /* int32_t */
} offset_fetch_req_offset_fetch_request_topic_t;

typedef struct offset_fetch_req {
    kstr_t group_id;                    /* v0-7 */
    karray_t topics;                    /* offset_fetch_req_offset_fetch_request_topic_t, v0-7, null v2+ (= all) */
} offset_fetch_req_t;

typedef struct offset_fetch_resp_offset_fetch_response_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch;     /* v5-7, = -1 */
    kstr_t metadata;                    /* null allowed */
    int16_t error_code;
} offset_fetch_resp_offset_fetch_response_partition_t;

typedef struct offset_fetch_resp_offset_fetch_response_topic {
    kstr_t name;
    karray_t partitions;                /* offset_fetch_resp_offset_fetch_response_partition_t */
} offset_fetch_resp_offset_fetch_response_topic_t;

typedef struct offset_fetch_resp {
    int32_t throttle_time_ms;           /* v3+ */
    karray_t topics;                    /* offset_fetch_resp_offset_fetch_response_topic_t, v0-7 */
    int16_t error_code;                 /* v2-7 */
} offset_fetch_resp_t;

/* ---- ListGroups (16) ---- */

typedef struct list_groups_req {
    /* kstr_t, v4+: above kappa's range, so always absent (n == -1); kept
     * so the struct is not empty, which C does not allow. */
    karray_t states_filter;
} list_groups_req_t;

typedef struct list_groups_resp_listed_group {
    kstr_t group_id;
    kstr_t protocol_type;
} list_groups_resp_listed_group_t;

typedef struct list_groups_resp {
    int32_t throttle_time_ms;           /* v1+ */
    int16_t error_code;
    karray_t groups;                    /* list_groups_resp_listed_group_t */
} list_groups_resp_t;

/* ---- DescribeGroups (15) ---- */

typedef struct describe_groups_req {
    karray_t groups;                    /* kstr_t */
    bool include_authorized_operations; /* v3+ */
} describe_groups_req_t;

typedef struct describe_groups_resp_described_group_member {
    kstr_t member_id;
    kstr_t group_instance_id;           /* v4+, null v4+ */
    kstr_t client_id;
    kstr_t client_host;
    kbytes_t member_metadata;
    kbytes_t member_assignment;
} describe_groups_resp_described_group_member_t;

typedef struct describe_groups_resp_described_group {
    int16_t error_code;
    kstr_t group_id;
    kstr_t group_state;
    kstr_t protocol_type;
    kstr_t protocol_data;
    karray_t members;                   /* describe_groups_resp_described_group_member_t */
    int32_t authorized_operations;      /* v3+, = INT32_MIN */
} describe_groups_resp_described_group_t;

typedef struct describe_groups_resp {
    int32_t throttle_time_ms;           /* v1+ */
    karray_t groups;                    /* describe_groups_resp_described_group_t */
} describe_groups_resp_t;

/* ---- DeleteGroups (42) ---- */

typedef struct delete_groups_req {
    karray_t groups_names;              /* kstr_t */
} delete_groups_req_t;

typedef struct delete_groups_resp_deletable_group_result {
    kstr_t group_id;
    int16_t error_code;
} delete_groups_resp_deletable_group_result_t;

typedef struct delete_groups_resp {
    int32_t throttle_time_ms;
    karray_t results;                   /* delete_groups_resp_deletable_group_result_t */
} delete_groups_resp_t;

/* ---- SaslHandshake (17) ---- */

typedef struct sasl_handshake_req {
    kstr_t mechanism;
} sasl_handshake_req_t;

typedef struct sasl_handshake_resp {
    int16_t error_code;
    karray_t mechanisms;                /* kstr_t */
} sasl_handshake_resp_t;

/* ---- InitProducerId (22) ---- */

typedef struct init_producer_id_req {
    kstr_t transactional_id;            /* null allowed (idempotent producer) */
    int32_t transaction_timeout_ms;
    int64_t producer_id;                /* v3+, = -1 */
    int16_t producer_epoch;             /* v3+, = -1 */
} init_producer_id_req_t;

typedef struct init_producer_id_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    int64_t producer_id;
    int16_t producer_epoch;
} init_producer_id_resp_t;

/* ---- AddPartitionsToTxn (24) ---- */

typedef struct add_partitions_to_txn_req_add_partitions_to_txn_topic {
    kstr_t name;
    karray_t partitions;                /* int32_t */
} add_partitions_to_txn_req_add_partitions_to_txn_topic_t;

/* Kafka's JSON names these "V3AndBelow..." since v4 batches transactions. */
typedef struct add_partitions_to_txn_req {
    kstr_t v3_and_below_transactional_id;       /* v0-3 */
    int64_t v3_and_below_producer_id;           /* v0-3 */
    int16_t v3_and_below_producer_epoch;        /* v0-3 */
    karray_t v3_and_below_topics;               /* add_partitions_to_txn_req_add_partitions_to_txn_topic_t, v0-3 */
} add_partitions_to_txn_req_t;

typedef struct add_partitions_to_txn_resp_add_partitions_to_txn_partition_result {
    int32_t partition_index;
    int16_t partition_error_code;
} add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_t;

typedef struct add_partitions_to_txn_resp_add_partitions_to_txn_topic_result {
    kstr_t name;
    karray_t results_by_partition;      /* add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_t */
} add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_t;

typedef struct add_partitions_to_txn_resp {
    int32_t throttle_time_ms;
    karray_t results_by_topic_v3_and_below;     /* add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_t, v0-3 */
} add_partitions_to_txn_resp_t;

/* ---- AddOffsetsToTxn (25) ---- */

typedef struct add_offsets_to_txn_req {
    kstr_t transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    kstr_t group_id;
} add_offsets_to_txn_req_t;

typedef struct add_offsets_to_txn_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
} add_offsets_to_txn_resp_t;

/* ---- EndTxn (26) ---- */

typedef struct end_txn_req {
    kstr_t transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool committed;
} end_txn_req_t;

typedef struct end_txn_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
} end_txn_resp_t;

/* ---- TxnOffsetCommit (28) ---- */

typedef struct txn_offset_commit_req_txn_offset_commit_request_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch;     /* v2+, = -1 */
    kstr_t committed_metadata;          /* null allowed */
} txn_offset_commit_req_txn_offset_commit_request_partition_t;

typedef struct txn_offset_commit_req_txn_offset_commit_request_topic {
    kstr_t name;
    karray_t partitions;                /* txn_offset_commit_req_txn_offset_commit_request_partition_t */
} txn_offset_commit_req_txn_offset_commit_request_topic_t;

typedef struct txn_offset_commit_req {
    kstr_t transactional_id;
    kstr_t group_id;
    int64_t producer_id;
    int16_t producer_epoch;
    karray_t topics;                    /* txn_offset_commit_req_txn_offset_commit_request_topic_t */
} txn_offset_commit_req_t;

typedef struct txn_offset_commit_resp_txn_offset_commit_response_partition {
    int32_t partition_index;
    int16_t error_code;
} txn_offset_commit_resp_txn_offset_commit_response_partition_t;

typedef struct txn_offset_commit_resp_txn_offset_commit_response_topic {
    kstr_t name;
    karray_t partitions;                /* txn_offset_commit_resp_txn_offset_commit_response_partition_t */
} txn_offset_commit_resp_txn_offset_commit_response_topic_t;

typedef struct txn_offset_commit_resp {
    int32_t throttle_time_ms;
    karray_t topics;                    /* txn_offset_commit_resp_txn_offset_commit_response_topic_t */
} txn_offset_commit_resp_t;

/* ---- schemas ---- */

extern const kschema_t api_versions_req_schema, api_versions_resp_schema;
extern const kschema_t metadata_req_schema, metadata_resp_schema;
extern const kschema_t produce_req_schema, produce_resp_schema;
extern const kschema_t fetch_req_schema, fetch_resp_schema;
extern const kschema_t list_offsets_req_schema, list_offsets_resp_schema;
extern const kschema_t create_topics_req_schema, create_topics_resp_schema;
extern const kschema_t delete_topics_req_schema, delete_topics_resp_schema;
extern const kschema_t create_partitions_req_schema, create_partitions_resp_schema;
extern const kschema_t delete_records_req_schema, delete_records_resp_schema;
extern const kschema_t describe_configs_req_schema, describe_configs_resp_schema;
extern const kschema_t alter_configs_req_schema, alter_configs_resp_schema;
extern const kschema_t describe_log_dirs_req_schema, describe_log_dirs_resp_schema;
extern const kschema_t find_coordinator_req_schema, find_coordinator_resp_schema;
extern const kschema_t join_group_req_schema, join_group_resp_schema;
extern const kschema_t sync_group_req_schema, sync_group_resp_schema;
extern const kschema_t heartbeat_req_schema, heartbeat_resp_schema;
extern const kschema_t leave_group_req_schema, leave_group_resp_schema;
extern const kschema_t offset_commit_req_schema, offset_commit_resp_schema;
extern const kschema_t offset_fetch_req_schema, offset_fetch_resp_schema;
extern const kschema_t list_groups_req_schema, list_groups_resp_schema;
extern const kschema_t describe_groups_req_schema, describe_groups_resp_schema;
extern const kschema_t delete_groups_req_schema, delete_groups_resp_schema;
extern const kschema_t sasl_handshake_req_schema, sasl_handshake_resp_schema;
extern const kschema_t init_producer_id_req_schema, init_producer_id_resp_schema;
extern const kschema_t add_partitions_to_txn_req_schema, add_partitions_to_txn_resp_schema;
extern const kschema_t add_offsets_to_txn_req_schema, add_offsets_to_txn_resp_schema;
extern const kschema_t end_txn_req_schema, end_txn_resp_schema;
extern const kschema_t txn_offset_commit_req_schema, txn_offset_commit_resp_schema;

/* ---- the APIs kappa advertises ---- */

/* flexible_from for an API with no flexible version (SaslHandshake). */
#define KAPI_NEVER_FLEXIBLE KV_MAX

typedef struct kapi {
    int16_t key;
    const char *name;
    int16_t min_version, max_version;   /* the range advertised in ApiVersions */
    int16_t flexible_from;              /* Kafka's first flexible version */
    const kschema_t *req, *resp;
} kapi_t;

/* Sorted by key. */
extern const kapi_t kapi_table[];
extern const int kapi_count;

/* The entry for an API key, or NULL if kappa does not speak it. */
const kapi_t *kapi_find(int16_t key);

/* Whether version v of the API uses the flexible (KIP-482) encoding. */
static inline bool kapi_flexible(const kapi_t *api, int16_t v)
{
    return v >= api->flexible_from;
}

#endif

/*
 * msg.c -- the schema tables of every message in msg.h, and the API table.
 *
 * Each table lists a message's fields in wire order with the versions they
 * exist in, the first version they may be null in, and the default they
 * take when absent, as Apache Kafka's message JSON files declare them
 * (clients/src/main/resources/common/message/<Name>{Request,Response}.json).
 * Version ranges are written out in full, including upper bounds above
 * kappa's advertised maximum (e.g. "0, 12"), so each line can be checked
 * against the JSON.  Fields that exist only above the advertised maximum
 * and tagged fields are left out.
 *
 * Invariants:
 *  (1) Every table entry names the C type of its struct member and the
 *      compiler checks it (TY below): the codec writes through the offset
 *      at the width the table says, so a mismatch would corrupt neighbours.
 *  (2) A schema `x_schema` always describes the struct `x_t` with the
 *      table `x_fields` (SCHEMA below), so an array's element schema and
 *      the struct named in its msg.h comment cannot drift apart.
 *  (3) kapi_table is sorted by key and lists exactly the advertised APIs.
 */
#include "msg.h"

#include <stddef.h>
#include <stdint.h>

/* 0, but a compile error unless member f of S has type T. */
#define TY(S, f, T) (0 * _Generic(((S *)0)->f, T: 1))

/* Field entries: versions v0..v1 (VX: no upper bound), null_from nf
 * (NN: never), default d when absent. */
#define VX KV_MAX
#define NN (-1)
#define F_BOOL(S, f, v0, v1, d) KF_(S, f, KT_BOOL, 0, v0, v1, NN, NULL, (d) + TY(S, f, bool))
#define F_I8(S, f, v0, v1, d)   KF_(S, f, KT_INT8, 0, v0, v1, NN, NULL, (d) + TY(S, f, int8_t))
#define F_I16(S, f, v0, v1, d)  KF_(S, f, KT_INT16, 0, v0, v1, NN, NULL, (d) + TY(S, f, int16_t))
#define F_I32(S, f, v0, v1, d)  KF_(S, f, KT_INT32, 0, v0, v1, NN, NULL, (d) + TY(S, f, int32_t))
#define F_I64(S, f, v0, v1, d)  KF_(S, f, KT_INT64, 0, v0, v1, NN, NULL, (d) + TY(S, f, int64_t))
#define F_STR(S, f, v0, v1, nf) KF_(S, f, KT_STRING, 0, v0, v1, nf, NULL, TY(S, f, kstr_t))
#define F_BYTES(S, f, v0, v1, nf) KF_(S, f, KT_BYTES, 0, v0, v1, nf, NULL, TY(S, f, kbytes_t))
#define F_RECORDS(S, f, v0, v1) KF_(S, f, KT_RECORDS, 0, v0, v1, 0, NULL, TY(S, f, kbytes_t))
/* Arrays of structs (element schema sub_schema, struct sub_t) and of
 * scalars or strings (element type et). */
#define F_ARR(S, f, v0, v1, nf, sub) \
    KF_(S, f, KT_ARRAY, KT_STRUCT, v0, v1, nf, &sub##_schema, TY(S, f, karray_t))
#define F_ARR_T(S, f, v0, v1, nf, et) \
    KF_(S, f, KT_ARRAY, et, v0, v1, nf, NULL, TY(S, f, karray_t))

#define SCHEMA(x) KSCHEMA(x, x##_t, x##_fields)

/* ---- ApiVersions (18) ---- */

#define S api_versions_req_t
static const kfield_t api_versions_req_fields[] = {
    F_STR(S, client_software_name, 3, VX, NN),
    F_STR(S, client_software_version, 3, VX, NN),
};
#undef S
SCHEMA(api_versions_req);

#define S api_versions_resp_api_version_t
static const kfield_t api_versions_resp_api_version_fields[] = {
    F_I16(S, api_key, 0, VX, 0),
    F_I16(S, min_version, 0, VX, 0),
    F_I16(S, max_version, 0, VX, 0),
};
#undef S
static SCHEMA(api_versions_resp_api_version);

#define S api_versions_resp_t
static const kfield_t api_versions_resp_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_ARR(S, api_keys, 0, VX, NN, api_versions_resp_api_version),
    F_I32(S, throttle_time_ms, 1, VX, 0),
};
#undef S
SCHEMA(api_versions_resp);

/* ---- Metadata (3) ---- */

#define S metadata_req_metadata_request_topic_t
static const kfield_t metadata_req_metadata_request_topic_fields[] = {
    F_STR(S, name, 0, VX, 10),
};
#undef S
static SCHEMA(metadata_req_metadata_request_topic);

#define S metadata_req_t
static const kfield_t metadata_req_fields[] = {
    F_ARR(S, topics, 0, VX, 1, metadata_req_metadata_request_topic),
    F_BOOL(S, allow_auto_topic_creation, 4, VX, 1),
};
#undef S
SCHEMA(metadata_req);

#define S metadata_resp_metadata_response_broker_t
static const kfield_t metadata_resp_metadata_response_broker_fields[] = {
    F_I32(S, node_id, 0, VX, 0),
    F_STR(S, host, 0, VX, NN),
    F_I32(S, port, 0, VX, 0),
    F_STR(S, rack, 1, VX, 1),
};
#undef S
static SCHEMA(metadata_resp_metadata_response_broker);

#define S metadata_resp_metadata_response_partition_t
static const kfield_t metadata_resp_metadata_response_partition_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_I32(S, partition_index, 0, VX, 0),
    F_I32(S, leader_id, 0, VX, 0),
    /* LeaderEpoch is v7+. */
    F_ARR_T(S, replica_nodes, 0, VX, NN, KT_INT32),
    F_ARR_T(S, isr_nodes, 0, VX, NN, KT_INT32),
    F_ARR_T(S, offline_replicas, 5, VX, NN, KT_INT32),
};
#undef S
static SCHEMA(metadata_resp_metadata_response_partition);

#define S metadata_resp_metadata_response_topic_t
static const kfield_t metadata_resp_metadata_response_topic_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, name, 0, VX, 12),
    /* TopicId is v10+. */
    F_BOOL(S, is_internal, 1, VX, 0),
    F_ARR(S, partitions, 0, VX, NN, metadata_resp_metadata_response_partition),
    /* TopicAuthorizedOperations is v8+. */
};
#undef S
static SCHEMA(metadata_resp_metadata_response_topic);

#define S metadata_resp_t
static const kfield_t metadata_resp_fields[] = {
    F_I32(S, throttle_time_ms, 3, VX, 0),
    F_ARR(S, brokers, 0, VX, NN, metadata_resp_metadata_response_broker),
    F_STR(S, cluster_id, 2, VX, 2),
    F_I32(S, controller_id, 1, VX, -1),
    F_ARR(S, topics, 0, VX, NN, metadata_resp_metadata_response_topic),
    /* ClusterAuthorizedOperations is v8-10. */
};
#undef S
SCHEMA(metadata_resp);

/* ---- Produce (0) ---- */

#define S produce_req_partition_produce_data_t
static const kfield_t produce_req_partition_produce_data_fields[] = {
    F_I32(S, index, 0, VX, 0),
    F_RECORDS(S, records, 0, VX),
};
#undef S
static SCHEMA(produce_req_partition_produce_data);

#define S produce_req_topic_produce_data_t
static const kfield_t produce_req_topic_produce_data_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partition_data, 0, VX, NN, produce_req_partition_produce_data),
};
#undef S
static SCHEMA(produce_req_topic_produce_data);

#define S produce_req_t
static const kfield_t produce_req_fields[] = {
    F_STR(S, transactional_id, 3, VX, 3),
    F_I16(S, acks, 0, VX, 0),
    F_I32(S, timeout_ms, 0, VX, 0),
    F_ARR(S, topic_data, 0, VX, NN, produce_req_topic_produce_data),
};
#undef S
SCHEMA(produce_req);

#define S produce_resp_partition_produce_response_t
static const kfield_t produce_resp_partition_produce_response_fields[] = {
    F_I32(S, index, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    F_I64(S, base_offset, 0, VX, 0),
    F_I64(S, log_append_time_ms, 2, VX, -1),
    F_I64(S, log_start_offset, 5, VX, -1),
    /* RecordErrors and ErrorMessage are v8+. */
};
#undef S
static SCHEMA(produce_resp_partition_produce_response);

#define S produce_resp_topic_produce_response_t
static const kfield_t produce_resp_topic_produce_response_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partition_responses, 0, VX, NN, produce_resp_partition_produce_response),
};
#undef S
static SCHEMA(produce_resp_topic_produce_response);

#define S produce_resp_t
static const kfield_t produce_resp_fields[] = {
    F_ARR(S, responses, 0, VX, NN, produce_resp_topic_produce_response),
    F_I32(S, throttle_time_ms, 1, VX, 0),
};
#undef S
SCHEMA(produce_resp);

/* ---- Fetch (1) ---- */

#define S fetch_req_fetch_partition_t
static const kfield_t fetch_req_fetch_partition_fields[] = {
    F_I32(S, partition, 0, VX, 0),
    F_I32(S, current_leader_epoch, 9, VX, -1),
    F_I64(S, fetch_offset, 0, VX, 0),
    /* LastFetchedEpoch is v12+. */
    F_I64(S, log_start_offset, 5, VX, -1),
    F_I32(S, partition_max_bytes, 0, VX, 0),
};
#undef S
static SCHEMA(fetch_req_fetch_partition);

#define S fetch_req_fetch_topic_t
static const kfield_t fetch_req_fetch_topic_fields[] = {
    F_STR(S, topic, 0, 12, NN),
    /* TopicId is v13+. */
    F_ARR(S, partitions, 0, VX, NN, fetch_req_fetch_partition),
};
#undef S
static SCHEMA(fetch_req_fetch_topic);

#define S fetch_req_forgotten_topic_t
static const kfield_t fetch_req_forgotten_topic_fields[] = {
    F_STR(S, topic, 7, 12, NN),
    F_ARR_T(S, partitions, 7, VX, NN, KT_INT32),
};
#undef S
static SCHEMA(fetch_req_forgotten_topic);

#define S fetch_req_t
static const kfield_t fetch_req_fields[] = {
    F_I32(S, replica_id, 0, 14, -1),
    F_I32(S, max_wait_ms, 0, VX, 0),
    F_I32(S, min_bytes, 0, VX, 0),
    F_I32(S, max_bytes, 3, VX, 0x7fffffff),
    F_I8(S, isolation_level, 4, VX, 0),
    F_I32(S, session_id, 7, VX, 0),
    F_I32(S, session_epoch, 7, VX, -1),
    F_ARR(S, topics, 0, VX, NN, fetch_req_fetch_topic),
    F_ARR(S, forgotten_topics_data, 7, VX, NN, fetch_req_forgotten_topic),
    F_STR(S, rack_id, 11, VX, NN),
};
#undef S
SCHEMA(fetch_req);

#define S fetch_resp_aborted_transaction_t
static const kfield_t fetch_resp_aborted_transaction_fields[] = {
    F_I64(S, producer_id, 4, VX, 0),
    F_I64(S, first_offset, 4, VX, 0),
};
#undef S
static SCHEMA(fetch_resp_aborted_transaction);

#define S fetch_resp_partition_data_t
static const kfield_t fetch_resp_partition_data_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    F_I64(S, high_watermark, 0, VX, 0),
    F_I64(S, last_stable_offset, 4, VX, -1),
    F_I64(S, log_start_offset, 5, VX, -1),
    F_ARR(S, aborted_transactions, 4, VX, 4, fetch_resp_aborted_transaction),
    F_I32(S, preferred_read_replica, 11, VX, -1),
    F_RECORDS(S, records, 0, VX),
};
#undef S
static SCHEMA(fetch_resp_partition_data);

#define S fetch_resp_fetchable_topic_response_t
static const kfield_t fetch_resp_fetchable_topic_response_fields[] = {
    F_STR(S, topic, 0, 12, NN),
    /* TopicId is v13+. */
    F_ARR(S, partitions, 0, VX, NN, fetch_resp_partition_data),
};
#undef S
static SCHEMA(fetch_resp_fetchable_topic_response);

#define S fetch_resp_t
static const kfield_t fetch_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_I16(S, error_code, 7, VX, 0),
    F_I32(S, session_id, 7, VX, 0),
    F_ARR(S, responses, 0, VX, NN, fetch_resp_fetchable_topic_response),
};
#undef S
SCHEMA(fetch_resp);

/* ---- ListOffsets (2) ---- */

#define S list_offsets_req_list_offsets_partition_t
static const kfield_t list_offsets_req_list_offsets_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    /* CurrentLeaderEpoch is v4+. */
    F_I64(S, timestamp, 0, VX, 0),
    /* MaxNumOffsets is v0 only, below kappa's range. */
};
#undef S
static SCHEMA(list_offsets_req_list_offsets_partition);

#define S list_offsets_req_list_offsets_topic_t
static const kfield_t list_offsets_req_list_offsets_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, list_offsets_req_list_offsets_partition),
};
#undef S
static SCHEMA(list_offsets_req_list_offsets_topic);

#define S list_offsets_req_t
static const kfield_t list_offsets_req_fields[] = {
    F_I32(S, replica_id, 0, VX, 0),
    F_I8(S, isolation_level, 2, VX, 0),
    F_ARR(S, topics, 0, VX, NN, list_offsets_req_list_offsets_topic),
};
#undef S
SCHEMA(list_offsets_req);

#define S list_offsets_resp_list_offsets_partition_response_t
static const kfield_t list_offsets_resp_list_offsets_partition_response_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    /* OldStyleOffsets is v0 only, below kappa's range. */
    F_I64(S, timestamp, 1, VX, -1),
    F_I64(S, offset, 1, VX, -1),
    /* LeaderEpoch is v4+. */
};
#undef S
static SCHEMA(list_offsets_resp_list_offsets_partition_response);

#define S list_offsets_resp_list_offsets_topic_response_t
static const kfield_t list_offsets_resp_list_offsets_topic_response_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, list_offsets_resp_list_offsets_partition_response),
};
#undef S
static SCHEMA(list_offsets_resp_list_offsets_topic_response);

#define S list_offsets_resp_t
static const kfield_t list_offsets_resp_fields[] = {
    F_I32(S, throttle_time_ms, 2, VX, 0),
    F_ARR(S, topics, 0, VX, NN, list_offsets_resp_list_offsets_topic_response),
};
#undef S
SCHEMA(list_offsets_resp);

/* ---- CreateTopics (19) ---- */

#define S create_topics_req_creatable_replica_assignment_t
static const kfield_t create_topics_req_creatable_replica_assignment_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_ARR_T(S, broker_ids, 0, VX, NN, KT_INT32),
};
#undef S
static SCHEMA(create_topics_req_creatable_replica_assignment);

#define S create_topics_req_creatable_topic_config_t
static const kfield_t create_topics_req_creatable_topic_config_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_STR(S, value, 0, VX, 0),
};
#undef S
static SCHEMA(create_topics_req_creatable_topic_config);

#define S create_topics_req_creatable_topic_t
static const kfield_t create_topics_req_creatable_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_I32(S, num_partitions, 0, VX, 0),
    F_I16(S, replication_factor, 0, VX, 0),
    F_ARR(S, assignments, 0, VX, NN, create_topics_req_creatable_replica_assignment),
    F_ARR(S, configs, 0, VX, NN, create_topics_req_creatable_topic_config),
};
#undef S
static SCHEMA(create_topics_req_creatable_topic);

#define S create_topics_req_t
static const kfield_t create_topics_req_fields[] = {
    F_ARR(S, topics, 0, VX, NN, create_topics_req_creatable_topic),
    F_I32(S, timeout_ms, 0, VX, 60000),
    F_BOOL(S, validate_only, 1, VX, 0),
};
#undef S
SCHEMA(create_topics_req);

#define S create_topics_resp_creatable_topic_result_t
static const kfield_t create_topics_resp_creatable_topic_result_fields[] = {
    F_STR(S, name, 0, VX, NN),
    /* TopicId is v7+. */
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, error_message, 1, VX, 0),
    /* NumPartitions, ReplicationFactor and Configs are v5+. */
};
#undef S
static SCHEMA(create_topics_resp_creatable_topic_result);

#define S create_topics_resp_t
static const kfield_t create_topics_resp_fields[] = {
    F_I32(S, throttle_time_ms, 2, VX, 0),
    F_ARR(S, topics, 0, VX, NN, create_topics_resp_creatable_topic_result),
};
#undef S
SCHEMA(create_topics_resp);

/* ---- DeleteTopics (20) ---- */

#define S delete_topics_req_t
static const kfield_t delete_topics_req_fields[] = {
    /* Topics (with ids) is v6+. */
    F_ARR_T(S, topic_names, 0, 5, NN, KT_STRING),
    F_I32(S, timeout_ms, 0, VX, 0),
};
#undef S
SCHEMA(delete_topics_req);

#define S delete_topics_resp_deletable_topic_result_t
static const kfield_t delete_topics_resp_deletable_topic_result_fields[] = {
    F_STR(S, name, 0, VX, 6),
    /* TopicId is v6+, ErrorMessage v5+. */
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
static SCHEMA(delete_topics_resp_deletable_topic_result);

#define S delete_topics_resp_t
static const kfield_t delete_topics_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_ARR(S, responses, 0, VX, NN, delete_topics_resp_deletable_topic_result),
};
#undef S
SCHEMA(delete_topics_resp);

/* ---- CreatePartitions (37) ---- */

#define S create_partitions_req_create_partitions_assignment_t
static const kfield_t create_partitions_req_create_partitions_assignment_fields[] = {
    F_ARR_T(S, broker_ids, 0, VX, NN, KT_INT32),
};
#undef S
static SCHEMA(create_partitions_req_create_partitions_assignment);

#define S create_partitions_req_create_partitions_topic_t
static const kfield_t create_partitions_req_create_partitions_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_I32(S, count, 0, VX, 0),
    F_ARR(S, assignments, 0, VX, 0, create_partitions_req_create_partitions_assignment),
};
#undef S
static SCHEMA(create_partitions_req_create_partitions_topic);

#define S create_partitions_req_t
static const kfield_t create_partitions_req_fields[] = {
    F_ARR(S, topics, 0, VX, NN, create_partitions_req_create_partitions_topic),
    F_I32(S, timeout_ms, 0, VX, 0),
    F_BOOL(S, validate_only, 0, VX, 0),
};
#undef S
SCHEMA(create_partitions_req);

#define S create_partitions_resp_create_partitions_topic_result_t
static const kfield_t create_partitions_resp_create_partitions_topic_result_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, error_message, 0, VX, 0),
};
#undef S
static SCHEMA(create_partitions_resp_create_partitions_topic_result);

#define S create_partitions_resp_t
static const kfield_t create_partitions_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_ARR(S, results, 0, VX, NN, create_partitions_resp_create_partitions_topic_result),
};
#undef S
SCHEMA(create_partitions_resp);

/* ---- DeleteRecords (21) ---- */

#define S delete_records_req_delete_records_partition_t
static const kfield_t delete_records_req_delete_records_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I64(S, offset, 0, VX, 0),
};
#undef S
static SCHEMA(delete_records_req_delete_records_partition);

#define S delete_records_req_delete_records_topic_t
static const kfield_t delete_records_req_delete_records_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, delete_records_req_delete_records_partition),
};
#undef S
static SCHEMA(delete_records_req_delete_records_topic);

#define S delete_records_req_t
static const kfield_t delete_records_req_fields[] = {
    F_ARR(S, topics, 0, VX, NN, delete_records_req_delete_records_topic),
    F_I32(S, timeout_ms, 0, VX, 0),
};
#undef S
SCHEMA(delete_records_req);

#define S delete_records_resp_delete_records_partition_result_t
static const kfield_t delete_records_resp_delete_records_partition_result_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I64(S, low_watermark, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
static SCHEMA(delete_records_resp_delete_records_partition_result);

#define S delete_records_resp_delete_records_topic_result_t
static const kfield_t delete_records_resp_delete_records_topic_result_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, delete_records_resp_delete_records_partition_result),
};
#undef S
static SCHEMA(delete_records_resp_delete_records_topic_result);

#define S delete_records_resp_t
static const kfield_t delete_records_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_ARR(S, topics, 0, VX, NN, delete_records_resp_delete_records_topic_result),
};
#undef S
SCHEMA(delete_records_resp);

/* ---- DescribeConfigs (32) ---- */

#define S describe_configs_req_describe_configs_resource_t
static const kfield_t describe_configs_req_describe_configs_resource_fields[] = {
    F_I8(S, resource_type, 0, VX, 0),
    F_STR(S, resource_name, 0, VX, NN),
    F_ARR_T(S, configuration_keys, 0, VX, 0, KT_STRING),
};
#undef S
static SCHEMA(describe_configs_req_describe_configs_resource);

#define S describe_configs_req_t
static const kfield_t describe_configs_req_fields[] = {
    F_ARR(S, resources, 0, VX, NN, describe_configs_req_describe_configs_resource),
    F_BOOL(S, include_synonyms, 1, VX, 0),
    /* IncludeDocumentation is v3+. */
};
#undef S
SCHEMA(describe_configs_req);

#define S describe_configs_resp_describe_configs_synonym_t
static const kfield_t describe_configs_resp_describe_configs_synonym_fields[] = {
    F_STR(S, name, 1, VX, NN),
    F_STR(S, value, 1, VX, 0),
    F_I8(S, source, 1, VX, 0),
};
#undef S
static SCHEMA(describe_configs_resp_describe_configs_synonym);

#define S describe_configs_resp_describe_configs_resource_result_t
static const kfield_t describe_configs_resp_describe_configs_resource_result_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_STR(S, value, 0, VX, 0),
    F_BOOL(S, read_only, 0, VX, 0),
    F_BOOL(S, is_default, 0, 0, 0),
    F_I8(S, config_source, 1, VX, -1),
    F_BOOL(S, is_sensitive, 0, VX, 0),
    F_ARR(S, synonyms, 1, VX, NN, describe_configs_resp_describe_configs_synonym),
    /* ConfigType and Documentation are v3+. */
};
#undef S
static SCHEMA(describe_configs_resp_describe_configs_resource_result);

#define S describe_configs_resp_describe_configs_result_t
static const kfield_t describe_configs_resp_describe_configs_result_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, error_message, 0, VX, 0),
    F_I8(S, resource_type, 0, VX, 0),
    F_STR(S, resource_name, 0, VX, NN),
    F_ARR(S, configs, 0, VX, NN, describe_configs_resp_describe_configs_resource_result),
};
#undef S
static SCHEMA(describe_configs_resp_describe_configs_result);

#define S describe_configs_resp_t
static const kfield_t describe_configs_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_ARR(S, results, 0, VX, NN, describe_configs_resp_describe_configs_result),
};
#undef S
SCHEMA(describe_configs_resp);

/* ---- AlterConfigs (33) ---- */

#define S alter_configs_req_alterable_config_t
static const kfield_t alter_configs_req_alterable_config_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_STR(S, value, 0, VX, 0),
};
#undef S
static SCHEMA(alter_configs_req_alterable_config);

#define S alter_configs_req_alter_configs_resource_t
static const kfield_t alter_configs_req_alter_configs_resource_fields[] = {
    F_I8(S, resource_type, 0, VX, 0),
    F_STR(S, resource_name, 0, VX, NN),
    F_ARR(S, configs, 0, VX, NN, alter_configs_req_alterable_config),
};
#undef S
static SCHEMA(alter_configs_req_alter_configs_resource);

#define S alter_configs_req_t
static const kfield_t alter_configs_req_fields[] = {
    F_ARR(S, resources, 0, VX, NN, alter_configs_req_alter_configs_resource),
    F_BOOL(S, validate_only, 0, VX, 0),
};
#undef S
SCHEMA(alter_configs_req);

#define S alter_configs_resp_alter_configs_resource_response_t
static const kfield_t alter_configs_resp_alter_configs_resource_response_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, error_message, 0, VX, 0),
    F_I8(S, resource_type, 0, VX, 0),
    F_STR(S, resource_name, 0, VX, NN),
};
#undef S
static SCHEMA(alter_configs_resp_alter_configs_resource_response);

#define S alter_configs_resp_t
static const kfield_t alter_configs_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_ARR(S, responses, 0, VX, NN, alter_configs_resp_alter_configs_resource_response),
};
#undef S
SCHEMA(alter_configs_resp);

/* ---- DescribeLogDirs (35) ---- */

#define S describe_log_dirs_req_describable_log_dir_topic_t
static const kfield_t describe_log_dirs_req_describable_log_dir_topic_fields[] = {
    F_STR(S, topic, 0, VX, NN),
    F_ARR_T(S, partitions, 0, VX, NN, KT_INT32),
};
#undef S
static SCHEMA(describe_log_dirs_req_describable_log_dir_topic);

#define S describe_log_dirs_req_t
static const kfield_t describe_log_dirs_req_fields[] = {
    F_ARR(S, topics, 0, VX, 0, describe_log_dirs_req_describable_log_dir_topic),
};
#undef S
SCHEMA(describe_log_dirs_req);

#define S describe_log_dirs_resp_describe_log_dirs_partition_t
static const kfield_t describe_log_dirs_resp_describe_log_dirs_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I64(S, partition_size, 0, VX, 0),
    F_I64(S, offset_lag, 0, VX, 0),
    F_BOOL(S, is_future_key, 0, VX, 0),
};
#undef S
static SCHEMA(describe_log_dirs_resp_describe_log_dirs_partition);

#define S describe_log_dirs_resp_describe_log_dirs_topic_t
static const kfield_t describe_log_dirs_resp_describe_log_dirs_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, describe_log_dirs_resp_describe_log_dirs_partition),
};
#undef S
static SCHEMA(describe_log_dirs_resp_describe_log_dirs_topic);

#define S describe_log_dirs_resp_describe_log_dirs_result_t
static const kfield_t describe_log_dirs_resp_describe_log_dirs_result_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, log_dir, 0, VX, NN),
    F_ARR(S, topics, 0, VX, NN, describe_log_dirs_resp_describe_log_dirs_topic),
    F_I64(S, total_bytes, 4, VX, -1),
    F_I64(S, usable_bytes, 4, VX, -1),
};
#undef S
static SCHEMA(describe_log_dirs_resp_describe_log_dirs_result);

#define S describe_log_dirs_resp_t
static const kfield_t describe_log_dirs_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_I16(S, error_code, 3, VX, 0),
    F_ARR(S, results, 0, VX, NN, describe_log_dirs_resp_describe_log_dirs_result),
};
#undef S
SCHEMA(describe_log_dirs_resp);

/* ---- FindCoordinator (10) ---- */

#define S find_coordinator_req_t
static const kfield_t find_coordinator_req_fields[] = {
    F_STR(S, key, 0, 3, NN),
    F_I8(S, key_type, 1, VX, 0),
    /* CoordinatorKeys is v4+. */
};
#undef S
SCHEMA(find_coordinator_req);

#define S find_coordinator_resp_t
static const kfield_t find_coordinator_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_I16(S, error_code, 0, 3, 0),
    F_STR(S, error_message, 1, 3, 1),
    F_I32(S, node_id, 0, 3, 0),
    F_STR(S, host, 0, 3, NN),
    F_I32(S, port, 0, 3, 0),
    /* Coordinators is v4+. */
};
#undef S
SCHEMA(find_coordinator_resp);

/* ---- JoinGroup (11) ---- */

#define S join_group_req_join_group_request_protocol_t
static const kfield_t join_group_req_join_group_request_protocol_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_BYTES(S, metadata, 0, VX, NN),
};
#undef S
static SCHEMA(join_group_req_join_group_request_protocol);

#define S join_group_req_t
static const kfield_t join_group_req_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_I32(S, session_timeout_ms, 0, VX, 0),
    F_I32(S, rebalance_timeout_ms, 1, VX, -1),
    F_STR(S, member_id, 0, VX, NN),
    F_STR(S, group_instance_id, 5, VX, 5),
    F_STR(S, protocol_type, 0, VX, NN),
    F_ARR(S, protocols, 0, VX, NN, join_group_req_join_group_request_protocol),
    /* Reason is v8+. */
};
#undef S
SCHEMA(join_group_req);

#define S join_group_resp_join_group_response_member_t
static const kfield_t join_group_resp_join_group_response_member_fields[] = {
    F_STR(S, member_id, 0, VX, NN),
    F_STR(S, group_instance_id, 5, VX, 5),
    F_BYTES(S, metadata, 0, VX, NN),
};
#undef S
static SCHEMA(join_group_resp_join_group_response_member);

#define S join_group_resp_t
static const kfield_t join_group_resp_fields[] = {
    F_I32(S, throttle_time_ms, 2, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    F_I32(S, generation_id, 0, VX, -1),
    /* ProtocolType is v7+. */
    F_STR(S, protocol_name, 0, VX, 7),
    F_STR(S, leader, 0, VX, NN),
    /* SkipAssignment is v9+. */
    F_STR(S, member_id, 0, VX, NN),
    F_ARR(S, members, 0, VX, NN, join_group_resp_join_group_response_member),
};
#undef S
SCHEMA(join_group_resp);

/* ---- SyncGroup (14) ---- */

#define S sync_group_req_sync_group_request_assignment_t
static const kfield_t sync_group_req_sync_group_request_assignment_fields[] = {
    F_STR(S, member_id, 0, VX, NN),
    F_BYTES(S, assignment, 0, VX, NN),
};
#undef S
static SCHEMA(sync_group_req_sync_group_request_assignment);

#define S sync_group_req_t
static const kfield_t sync_group_req_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_I32(S, generation_id, 0, VX, 0),
    F_STR(S, member_id, 0, VX, NN),
    F_STR(S, group_instance_id, 3, VX, 3),
    /* ProtocolType and ProtocolName are v5+. */
    F_ARR(S, assignments, 0, VX, NN, sync_group_req_sync_group_request_assignment),
};
#undef S
SCHEMA(sync_group_req);

#define S sync_group_resp_t
static const kfield_t sync_group_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    /* ProtocolType and ProtocolName are v5+. */
    F_BYTES(S, assignment, 0, VX, NN),
};
#undef S
SCHEMA(sync_group_resp);

/* ---- Heartbeat (12) ---- */

#define S heartbeat_req_t
static const kfield_t heartbeat_req_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_I32(S, generation_id, 0, VX, 0),
    F_STR(S, member_id, 0, VX, NN),
    F_STR(S, group_instance_id, 3, VX, 3),
};
#undef S
SCHEMA(heartbeat_req);

#define S heartbeat_resp_t
static const kfield_t heartbeat_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
SCHEMA(heartbeat_resp);

/* ---- LeaveGroup (13) ---- */

#define S leave_group_req_member_identity_t
static const kfield_t leave_group_req_member_identity_fields[] = {
    F_STR(S, member_id, 3, VX, NN),
    F_STR(S, group_instance_id, 3, VX, 3),
    /* Reason is v5+. */
};
#undef S
static SCHEMA(leave_group_req_member_identity);

#define S leave_group_req_t
static const kfield_t leave_group_req_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_STR(S, member_id, 0, 2, NN),
    F_ARR(S, members, 3, VX, NN, leave_group_req_member_identity),
};
#undef S
SCHEMA(leave_group_req);

#define S leave_group_resp_member_response_t
static const kfield_t leave_group_resp_member_response_fields[] = {
    F_STR(S, member_id, 3, VX, NN),
    F_STR(S, group_instance_id, 3, VX, 3),
    F_I16(S, error_code, 3, VX, 0),
};
#undef S
static SCHEMA(leave_group_resp_member_response);

#define S leave_group_resp_t
static const kfield_t leave_group_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    F_ARR(S, members, 3, VX, NN, leave_group_resp_member_response),
};
#undef S
SCHEMA(leave_group_resp);

/* ---- OffsetCommit (8) ---- */

#define S offset_commit_req_offset_commit_request_partition_t
static const kfield_t offset_commit_req_offset_commit_request_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I64(S, committed_offset, 0, VX, 0),
    F_I32(S, committed_leader_epoch, 6, VX, -1),
    /* CommitTimestamp is v1 only, below kappa's range. */
    F_STR(S, committed_metadata, 0, VX, 0),
};
#undef S
static SCHEMA(offset_commit_req_offset_commit_request_partition);

#define S offset_commit_req_offset_commit_request_topic_t
static const kfield_t offset_commit_req_offset_commit_request_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, offset_commit_req_offset_commit_request_partition),
};
#undef S
static SCHEMA(offset_commit_req_offset_commit_request_topic);

#define S offset_commit_req_t
static const kfield_t offset_commit_req_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_I32(S, generation_id_or_member_epoch, 1, VX, -1),
    F_STR(S, member_id, 1, VX, NN),
    F_STR(S, group_instance_id, 7, VX, 7),
    F_I64(S, retention_time_ms, 2, 4, -1),
    F_ARR(S, topics, 0, VX, NN, offset_commit_req_offset_commit_request_topic),
};
#undef S
SCHEMA(offset_commit_req);

#define S offset_commit_resp_offset_commit_response_partition_t
static const kfield_t offset_commit_resp_offset_commit_response_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
static SCHEMA(offset_commit_resp_offset_commit_response_partition);

#define S offset_commit_resp_offset_commit_response_topic_t
static const kfield_t offset_commit_resp_offset_commit_response_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, offset_commit_resp_offset_commit_response_partition),
};
#undef S
static SCHEMA(offset_commit_resp_offset_commit_response_topic);

#define S offset_commit_resp_t
static const kfield_t offset_commit_resp_fields[] = {
    F_I32(S, throttle_time_ms, 3, VX, 0),
    F_ARR(S, topics, 0, VX, NN, offset_commit_resp_offset_commit_response_topic),
};
#undef S
SCHEMA(offset_commit_resp);

/* ---- OffsetFetch (9) ---- */

#define S offset_fetch_req_offset_fetch_request_topic_t
static const kfield_t offset_fetch_req_offset_fetch_request_topic_fields[] = {
    F_STR(S, name, 0, 7, NN),
    F_ARR_T(S, partition_indexes, 0, 7, NN, KT_INT32),
};
#undef S
static SCHEMA(offset_fetch_req_offset_fetch_request_topic);

/* Topics is nullable in 2-7 and absent after 7, so "from 2" is the same. */
#define S offset_fetch_req_t
static const kfield_t offset_fetch_req_fields[] = {
    F_STR(S, group_id, 0, 7, NN),
    F_ARR(S, topics, 0, 7, 2, offset_fetch_req_offset_fetch_request_topic),
    /* Groups is v8+, RequireStable v7+. */
};
#undef S
SCHEMA(offset_fetch_req);

#define S offset_fetch_resp_offset_fetch_response_partition_t
static const kfield_t offset_fetch_resp_offset_fetch_response_partition_fields[] = {
    F_I32(S, partition_index, 0, 7, 0),
    F_I64(S, committed_offset, 0, 7, 0),
    F_I32(S, committed_leader_epoch, 5, 7, -1),
    F_STR(S, metadata, 0, 7, 0),
    F_I16(S, error_code, 0, 7, 0),
};
#undef S
static SCHEMA(offset_fetch_resp_offset_fetch_response_partition);

#define S offset_fetch_resp_offset_fetch_response_topic_t
static const kfield_t offset_fetch_resp_offset_fetch_response_topic_fields[] = {
    F_STR(S, name, 0, 7, NN),
    F_ARR(S, partitions, 0, 7, NN, offset_fetch_resp_offset_fetch_response_partition),
};
#undef S
static SCHEMA(offset_fetch_resp_offset_fetch_response_topic);

#define S offset_fetch_resp_t
static const kfield_t offset_fetch_resp_fields[] = {
    F_I32(S, throttle_time_ms, 3, VX, 0),
    F_ARR(S, topics, 0, 7, NN, offset_fetch_resp_offset_fetch_response_topic),
    F_I16(S, error_code, 2, 7, 0),
    /* Groups is v8+. */
};
#undef S
SCHEMA(offset_fetch_resp);

/* ---- ListGroups (16) ---- */

#define S list_groups_req_t
static const kfield_t list_groups_req_fields[] = {
    F_ARR_T(S, states_filter, 4, VX, NN, KT_STRING),
    /* TypesFilter is v5+. */
};
#undef S
SCHEMA(list_groups_req);

#define S list_groups_resp_listed_group_t
static const kfield_t list_groups_resp_listed_group_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_STR(S, protocol_type, 0, VX, NN),
    /* GroupState is v4+, GroupType v5+. */
};
#undef S
static SCHEMA(list_groups_resp_listed_group);

#define S list_groups_resp_t
static const kfield_t list_groups_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    F_ARR(S, groups, 0, VX, NN, list_groups_resp_listed_group),
};
#undef S
SCHEMA(list_groups_resp);

/* ---- DescribeGroups (15) ---- */

#define S describe_groups_req_t
static const kfield_t describe_groups_req_fields[] = {
    F_ARR_T(S, groups, 0, VX, NN, KT_STRING),
    F_BOOL(S, include_authorized_operations, 3, VX, 0),
};
#undef S
SCHEMA(describe_groups_req);

#define S describe_groups_resp_described_group_member_t
static const kfield_t describe_groups_resp_described_group_member_fields[] = {
    F_STR(S, member_id, 0, VX, NN),
    F_STR(S, group_instance_id, 4, VX, 4),
    F_STR(S, client_id, 0, VX, NN),
    F_STR(S, client_host, 0, VX, NN),
    F_BYTES(S, member_metadata, 0, VX, NN),
    F_BYTES(S, member_assignment, 0, VX, NN),
};
#undef S
static SCHEMA(describe_groups_resp_described_group_member);

#define S describe_groups_resp_described_group_t
static const kfield_t describe_groups_resp_described_group_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_STR(S, group_id, 0, VX, NN),
    F_STR(S, group_state, 0, VX, NN),
    F_STR(S, protocol_type, 0, VX, NN),
    F_STR(S, protocol_data, 0, VX, NN),
    F_ARR(S, members, 0, VX, NN, describe_groups_resp_described_group_member),
    F_I32(S, authorized_operations, 3, VX, INT32_MIN),
};
#undef S
static SCHEMA(describe_groups_resp_described_group);

#define S describe_groups_resp_t
static const kfield_t describe_groups_resp_fields[] = {
    F_I32(S, throttle_time_ms, 1, VX, 0),
    F_ARR(S, groups, 0, VX, NN, describe_groups_resp_described_group),
};
#undef S
SCHEMA(describe_groups_resp);

/* ---- DeleteGroups (42) ---- */

#define S delete_groups_req_t
static const kfield_t delete_groups_req_fields[] = {
    F_ARR_T(S, groups_names, 0, VX, NN, KT_STRING),
};
#undef S
SCHEMA(delete_groups_req);

#define S delete_groups_resp_deletable_group_result_t
static const kfield_t delete_groups_resp_deletable_group_result_fields[] = {
    F_STR(S, group_id, 0, VX, NN),
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
static SCHEMA(delete_groups_resp_deletable_group_result);

#define S delete_groups_resp_t
static const kfield_t delete_groups_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_ARR(S, results, 0, VX, NN, delete_groups_resp_deletable_group_result),
};
#undef S
SCHEMA(delete_groups_resp);

/* ---- SaslHandshake (17) ---- */

#define S sasl_handshake_req_t
static const kfield_t sasl_handshake_req_fields[] = {
    F_STR(S, mechanism, 0, VX, NN),
};
#undef S
SCHEMA(sasl_handshake_req);

#define S sasl_handshake_resp_t
static const kfield_t sasl_handshake_resp_fields[] = {
    F_I16(S, error_code, 0, VX, 0),
    F_ARR_T(S, mechanisms, 0, VX, NN, KT_STRING),
};
#undef S
SCHEMA(sasl_handshake_resp);

/* ---- InitProducerId (22) ---- */

#define S init_producer_id_req_t
static const kfield_t init_producer_id_req_fields[] = {
    F_STR(S, transactional_id, 0, VX, 0),
    F_I32(S, transaction_timeout_ms, 0, VX, 0),
    F_I64(S, producer_id, 3, VX, -1),
    F_I16(S, producer_epoch, 3, VX, -1),
};
#undef S
SCHEMA(init_producer_id_req);

#define S init_producer_id_resp_t
static const kfield_t init_producer_id_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    F_I64(S, producer_id, 0, VX, -1),
    F_I16(S, producer_epoch, 0, VX, 0),
};
#undef S
SCHEMA(init_producer_id_resp);

/* ---- AddPartitionsToTxn (24) ---- */

#define S add_partitions_to_txn_req_add_partitions_to_txn_topic_t
static const kfield_t add_partitions_to_txn_req_add_partitions_to_txn_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR_T(S, partitions, 0, VX, NN, KT_INT32),
};
#undef S
static SCHEMA(add_partitions_to_txn_req_add_partitions_to_txn_topic);

#define S add_partitions_to_txn_req_t
static const kfield_t add_partitions_to_txn_req_fields[] = {
    /* Transactions is v4+ (and comes first on the wire there). */
    F_STR(S, v3_and_below_transactional_id, 0, 3, NN),
    F_I64(S, v3_and_below_producer_id, 0, 3, 0),
    F_I16(S, v3_and_below_producer_epoch, 0, 3, 0),
    F_ARR(S, v3_and_below_topics, 0, 3, NN, add_partitions_to_txn_req_add_partitions_to_txn_topic),
};
#undef S
SCHEMA(add_partitions_to_txn_req);

#define S add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_t
static const kfield_t add_partitions_to_txn_resp_add_partitions_to_txn_partition_result_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I16(S, partition_error_code, 0, VX, 0),
};
#undef S
static SCHEMA(add_partitions_to_txn_resp_add_partitions_to_txn_partition_result);

#define S add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_t
static const kfield_t add_partitions_to_txn_resp_add_partitions_to_txn_topic_result_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, results_by_partition, 0, VX, NN,
          add_partitions_to_txn_resp_add_partitions_to_txn_partition_result),
};
#undef S
static SCHEMA(add_partitions_to_txn_resp_add_partitions_to_txn_topic_result);

#define S add_partitions_to_txn_resp_t
static const kfield_t add_partitions_to_txn_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    /* ErrorCode and ResultsByTransaction are v4+. */
    F_ARR(S, results_by_topic_v3_and_below, 0, 3, NN,
          add_partitions_to_txn_resp_add_partitions_to_txn_topic_result),
};
#undef S
SCHEMA(add_partitions_to_txn_resp);

/* ---- AddOffsetsToTxn (25) ---- */

#define S add_offsets_to_txn_req_t
static const kfield_t add_offsets_to_txn_req_fields[] = {
    F_STR(S, transactional_id, 0, VX, NN),
    F_I64(S, producer_id, 0, VX, 0),
    F_I16(S, producer_epoch, 0, VX, 0),
    F_STR(S, group_id, 0, VX, NN),
};
#undef S
SCHEMA(add_offsets_to_txn_req);

#define S add_offsets_to_txn_resp_t
static const kfield_t add_offsets_to_txn_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
SCHEMA(add_offsets_to_txn_resp);

/* ---- EndTxn (26) ---- */

#define S end_txn_req_t
static const kfield_t end_txn_req_fields[] = {
    F_STR(S, transactional_id, 0, VX, NN),
    F_I64(S, producer_id, 0, VX, 0),
    F_I16(S, producer_epoch, 0, VX, 0),
    F_BOOL(S, committed, 0, VX, 0),
};
#undef S
SCHEMA(end_txn_req);

#define S end_txn_resp_t
static const kfield_t end_txn_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
    /* ProducerId and ProducerEpoch are v5+. */
};
#undef S
SCHEMA(end_txn_resp);

/* ---- TxnOffsetCommit (28) ---- */

#define S txn_offset_commit_req_txn_offset_commit_request_partition_t
static const kfield_t txn_offset_commit_req_txn_offset_commit_request_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I64(S, committed_offset, 0, VX, 0),
    F_I32(S, committed_leader_epoch, 2, VX, -1),
    F_STR(S, committed_metadata, 0, VX, 0),
};
#undef S
static SCHEMA(txn_offset_commit_req_txn_offset_commit_request_partition);

#define S txn_offset_commit_req_txn_offset_commit_request_topic_t
static const kfield_t txn_offset_commit_req_txn_offset_commit_request_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, txn_offset_commit_req_txn_offset_commit_request_partition),
};
#undef S
static SCHEMA(txn_offset_commit_req_txn_offset_commit_request_topic);

#define S txn_offset_commit_req_t
static const kfield_t txn_offset_commit_req_fields[] = {
    F_STR(S, transactional_id, 0, VX, NN),
    F_STR(S, group_id, 0, VX, NN),
    F_I64(S, producer_id, 0, VX, 0),
    F_I16(S, producer_epoch, 0, VX, 0),
    /* GenerationId, MemberId and GroupInstanceId are v3+. */
    F_ARR(S, topics, 0, VX, NN, txn_offset_commit_req_txn_offset_commit_request_topic),
};
#undef S
SCHEMA(txn_offset_commit_req);

#define S txn_offset_commit_resp_txn_offset_commit_response_partition_t
static const kfield_t txn_offset_commit_resp_txn_offset_commit_response_partition_fields[] = {
    F_I32(S, partition_index, 0, VX, 0),
    F_I16(S, error_code, 0, VX, 0),
};
#undef S
static SCHEMA(txn_offset_commit_resp_txn_offset_commit_response_partition);

#define S txn_offset_commit_resp_txn_offset_commit_response_topic_t
static const kfield_t txn_offset_commit_resp_txn_offset_commit_response_topic_fields[] = {
    F_STR(S, name, 0, VX, NN),
    F_ARR(S, partitions, 0, VX, NN, txn_offset_commit_resp_txn_offset_commit_response_partition),
};
#undef S
static SCHEMA(txn_offset_commit_resp_txn_offset_commit_response_topic);

#define S txn_offset_commit_resp_t
static const kfield_t txn_offset_commit_resp_fields[] = {
    F_I32(S, throttle_time_ms, 0, VX, 0),
    F_ARR(S, topics, 0, VX, NN, txn_offset_commit_resp_txn_offset_commit_response_topic),
};
#undef S
SCHEMA(txn_offset_commit_resp);

/* ---- the API table ---- */

#define API(key, Name, api, vmin, vmax, flex) \
    {key, Name, vmin, vmax, flex, &api##_req_schema, &api##_resp_schema}

const kapi_t kapi_table[] = {
    API(0, "Produce", produce, 3, 7, 9),
    API(1, "Fetch", fetch, 4, 11, 12),
    API(2, "ListOffsets", list_offsets, 1, 3, 6),
    API(3, "Metadata", metadata, 0, 5, 9),
    API(8, "OffsetCommit", offset_commit, 2, 7, 8),
    API(9, "OffsetFetch", offset_fetch, 1, 5, 6),
    API(10, "FindCoordinator", find_coordinator, 0, 2, 3),
    API(11, "JoinGroup", join_group, 0, 5, 6),
    API(12, "Heartbeat", heartbeat, 0, 3, 4),
    API(13, "LeaveGroup", leave_group, 0, 3, 4),
    API(14, "SyncGroup", sync_group, 0, 3, 4),
    API(15, "DescribeGroups", describe_groups, 0, 4, 5),
    API(16, "ListGroups", list_groups, 0, 2, 3),
    API(17, "SaslHandshake", sasl_handshake, 0, 1, KAPI_NEVER_FLEXIBLE),
    API(18, "ApiVersions", api_versions, 0, 3, 3),
    API(19, "CreateTopics", create_topics, 0, 4, 5),
    API(20, "DeleteTopics", delete_topics, 0, 3, 4),
    API(21, "DeleteRecords", delete_records, 0, 1, 2),
    API(22, "InitProducerId", init_producer_id, 0, 4, 2),
    API(24, "AddPartitionsToTxn", add_partitions_to_txn, 0, 1, 3),
    API(25, "AddOffsetsToTxn", add_offsets_to_txn, 0, 1, 3),
    API(26, "EndTxn", end_txn, 0, 1, 3),
    API(28, "TxnOffsetCommit", txn_offset_commit, 0, 2, 3),
    API(32, "DescribeConfigs", describe_configs, 0, 2, 4),
    API(33, "AlterConfigs", alter_configs, 0, 1, 2),
    API(35, "DescribeLogDirs", describe_log_dirs, 0, 4, 2),
    API(37, "CreatePartitions", create_partitions, 0, 1, 2),
    API(42, "DeleteGroups", delete_groups, 0, 1, 2),
};

const int kapi_count = (int)(sizeof kapi_table / sizeof kapi_table[0]);

const kapi_t *kapi_find(int16_t key)
{
    for (int i = 0; i < kapi_count; i++)
        if (kapi_table[i].key == key)
            return &kapi_table[i];
    return NULL;
}

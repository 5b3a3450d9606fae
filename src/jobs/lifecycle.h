/*
 * lifecycle.h -- the Kafka calls behind `kappa job promote` and `kappa job
 * retire` (docs/jobs.md): is a version's consumer group empty, where has it
 * committed, and deleting a retired version's topics and groups.  All of it
 * is the Kafka protocol (librdkafka admin calls and OffsetFetch), so it
 * works wherever the job registry does.
 */
#ifndef KP_JOBS_LIFECYCLE_H
#define KP_JOBS_LIFECYCLE_H

#include "jobs/registry.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* The consumer group of a version's runners ("NAME.vV") into buf. */
void jobs_group_name(const char *name, int version, char *buf, size_t cap);

/* Members of `group` now (DescribeConsumerGroups); 0 for an unknown group.
 * rk: any client handle.  Returns 0 or a negative error with *why set. */
int jobs_group_members(rd_kafka_t *rk, const char *group, int timeout_ms, int *members,
                       char *why, size_t cap);

/*
 * The committed offsets of `group` on the n partitions (topics[i],
 * partitions[i]): out[i], or -1 where it has none.  base: a client
 * configuration (duplicated, never consumed); the handle never joins.
 */
int jobs_group_committed(const rd_kafka_conf_t *base, const char *group, int n,
                         const char *const *topics, const int32_t *partitions, int64_t *out,
                         int timeout_ms, char *why, size_t cap);

/* Every topic whose name starts with prefix (metadata): a kp_malloc'ed
 * array of kp_strdup'ed names in *out (free with jobs_names_free). */
int jobs_topics_with_prefix(rd_kafka_t *rk, const char *prefix, int timeout_ms, char ***out,
                            int *n, char *why, size_t cap);
void jobs_names_free(char **names, int n);

/* Delete topics / groups; ones that do not exist are not an error.  *why
 * names the first failure. */
int jobs_delete_topics(rd_kafka_t *rk, char *const *names, int n, int timeout_ms, char *why,
                       size_t cap);
int jobs_delete_groups(rd_kafka_t *rk, char *const *groups, int n, int timeout_ms, char *why,
                       size_t cap);

#endif

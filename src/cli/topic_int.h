/*
 * topic_int.h -- what the three files of `kappa topic` share: the produce and
 * consume entry points (topic_produce.c, topic_consume.c) and small helpers
 * defined in topic.c.
 */
#ifndef KP_CLI_TOPIC_INT_H
#define KP_CLI_TOPIC_INT_H

#include "cli/client.h"

#include <stdbool.h>

int topic_produce(int argc, char **argv);  /* kappa topic produce TOPIC ... */
int topic_consume(int argc, char **argv);  /* kappa topic consume TOPIC ... */

/*
 * Match a subcommand flag at argv[*i]: "-s VALUE", "--long VALUE" or
 * "--long=VALUE" (shrt may be NULL).  Returns 1 and sets *value (advancing *i
 * past a separate value), 0 if argv[*i] is not this flag, or -1 after
 * printing a usage error when the value is missing.
 */
int topic_flag(const cli_common_t *c, int argc, char **argv, int *i, const char *shrt,
               const char *lng, const char **value);

/* Is arg an unrecognised option (starts with '-' and is not just "-")? */
bool topic_is_option(const char *arg);

/*
 * The partition count of topic (from a metadata request for all topics,
 * which never auto-creates one), or 0 if it does not exist, or -1 after
 * printing why the request failed.  *replicas (if not NULL) gets the replica
 * count of partition 0.
 */
int topic_partition_count(const cli_common_t *c, rd_kafka_t *rk, const char *topic,
                          int *replicas);

#endif

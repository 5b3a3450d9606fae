/*
 * client.h -- what every client subcommand (topic, group, cluster, ...) shares:
 * the common flags, a librdkafka handle set up the same way everywhere, and
 * errors that name what went wrong and what to do.
 *
 * Client subcommands speak only the Kafka protocol (librdkafka), so they work
 * against any Kafka-protocol broker, not only kappa's.
 *
 * Exit statuses (all client subcommands): 0 success; 1 the operation failed
 * (the broker refused, the topic does not exist, ...); 2 usage error;
 * 3 the broker could not be reached within the timeout.
 */
#ifndef KP_CLI_CLIENT_H
#define KP_CLI_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_UNREACHABLE 3

typedef enum cli_format { CLI_FMT_TABLE, CLI_FMT_TEXT, CLI_FMT_JSON } cli_format_t;

typedef struct cli_common {
    const char *brokers;        /* -b/--brokers, default 127.0.0.1:9092 */
    const char *http;           /* --http, default 127.0.0.1:9644 */
    cli_format_t format;        /* --format table|text|json (default table) */
    int timeout_ms;             /* --timeout MS, default 10000 */
    const char *prog;           /* "kappa topic create", for messages */
} cli_common_t;

void cli_common_init(cli_common_t *c, const char *prog);

/*
 * If argv[*i] is a common flag, consume it (and its value, advancing *i) and
 * return 1; return 0 if it is not one; return -1 after printing a usage error
 * (missing or bad value).  Accepts "-b X", "--brokers X", "--brokers=X" and
 * likewise for --http, --format, --timeout.
 */
int cli_common_flag(cli_common_t *c, int argc, char **argv, int *i);

/* The help text lines for the common flags, for each subcommand's --help. */
void cli_common_help(FILE *out);

/* Is argv[i] "-h" or "--help"? */
bool cli_is_help(const char *arg);

/*
 * A configuration with bootstrap.servers, client.id and timeouts set from c.
 * Returns NULL after printing why.  The caller owns it (rd_kafka_new takes it).
 */
rd_kafka_conf_t *cli_conf(const cli_common_t *c);

/* Set one property; prints "PROG: KEY=VALUE: why" and returns -1 on error. */
int cli_conf_set(const cli_common_t *c, rd_kafka_conf_t *conf, const char *key,
                 const char *value);

/*
 * A producer-type handle for admin and metadata calls, already checked to
 * reach a broker: if no broker answers a metadata request within the timeout,
 * prints "PROG: cannot reach a broker at BROKERS within N s (...): is
 * `kappa server` running? Use -b HOST:PORT." and returns NULL with
 * *exit_code = CLI_EXIT_UNREACHABLE.  Other failures set CLI_EXIT_FAIL.
 */
rd_kafka_t *cli_admin_handle(const cli_common_t *c, int *exit_code);

/* Print "PROG: " + message + "\n" to stderr and return CLI_EXIT_FAIL. */
int cli_fail(const cli_common_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print a usage error and return CLI_EXIT_USAGE. */
int cli_usage_error(const cli_common_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Wait for an admin result event of the given type on queue q, up to the
 * common timeout.  Returns NULL after printing a timeout error.  The caller
 * destroys the event with rd_kafka_event_destroy().
 */
rd_kafka_event_t *cli_admin_wait(const cli_common_t *c, rd_kafka_queue_t *q,
                                 rd_kafka_event_type_t type);

/* Admin options with request and operation timeouts from c (caller destroys). */
rd_kafka_AdminOptions_t *cli_admin_options(const cli_common_t *c, rd_kafka_t *rk,
                                           rd_kafka_admin_op_t op);

/* A hint for common Kafka errors ("" if none), e.g. for
 * RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: " (list topics with `kappa topic list`)". */
const char *cli_err_hint(rd_kafka_resp_err_t err);

/* Parse a non-negative or signed integer argument; -1 and a usage message on error. */
int cli_parse_i64(const cli_common_t *c, const char *what, const char *s, long long *out);

#endif

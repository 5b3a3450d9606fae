/*
 * client.h -- what every client subcommand (topic, group, cluster, ...) shares:
 * the common flags, a librdkafka handle set up the same way everywhere, and
 * errors that name what went wrong and what to do.
 *
 * Client subcommands speak only the Kafka protocol (librdkafka), so they work
 * against any Kafka-protocol broker, not only kappa's.  The few requests
 * librdkafka 2.0.2 cannot send go on a plain TCP socket of our own
 * (cli_raw_* below).
 *
 * Exit statuses (all client subcommands): 0 success; 1 the operation failed
 * (the broker refused, the topic does not exist, ...); 2 usage error;
 * 3 the broker could not be reached within the timeout.
 */
#ifndef KP_CLI_CLIENT_H
#define KP_CLI_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* ---- raw Kafka requests -------------------------------------------------
 *
 * For what librdkafka 2.0.2 cannot do: read the API version ranges a broker
 * supports (it negotiates them but has no public call for the result), and
 * send DescribeLogDirs.  Only non-flexible request versions: the request
 * header is v1 (client id "kappa-cli", no tagged fields) and the response
 * header v0 (just the correlation id), so the framing is a few fixed-width
 * integers.  Bodies are built and read with kafka/wire.h.
 */

typedef struct cli_raw {
    int fd;
    int64_t deadline_ms;        /* CLOCK_MONOTONIC; bounds every call on it */
    int32_t correlation_id;     /* of the next request */
} cli_raw_t;

/* Split "host:port", "[v6]:port" or "PLAINTEXT://host:port"; 0 or -1. */
int cli_split_address(const char *addr, char *host, size_t hn, char *port, size_t pn);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t cli_mono_ms(void);

/*
 * Connect to host:port.  Every later call on the connection must finish by
 * deadline_ms (cli_mono_ms() based).  Returns 0, or -errno (-ETIMEDOUT past
 * the deadline, -EHOSTUNREACH when the name does not resolve).
 */
int cli_raw_dial(cli_raw_t *c, const char *host, const char *port, int64_t deadline_ms);
void cli_raw_close(cli_raw_t *c);

/*
 * One round trip: the request body (already encoded at `version`) goes out
 * under a v1 header; on success *resp holds the response body after its
 * correlation id, *resp_len bytes (the caller kp_free()s it).  Returns 0,
 * -errno, -ETIMEDOUT, or -EPROTO for a malformed answer (wrong correlation
 * id, or a size over 16 MiB).
 */
int cli_raw_call(cli_raw_t *c, int16_t api_key, int16_t version, const void *body,
                 size_t len, uint8_t **resp, size_t *resp_len);

typedef struct cli_api_range {
    int16_t key, min, max;
} cli_api_range_t;

/*
 * ApiVersions v0 (every broker understands it) on c.  On success *out is an
 * array of *n ranges (the caller kp_free()s it) and *kerr the error code the
 * broker sent (a broker that refuses still lists its ranges).  Returns 0,
 * -errno, or -EPROTO for a malformed answer.
 */
int cli_raw_api_versions(cli_raw_t *c, cli_api_range_t **out, int *n, int16_t *kerr);

/* Whether the ranges include version `version` of api `key`. */
bool cli_api_supported(const cli_api_range_t *v, int n, int16_t key, int16_t version);

/* A short reason for a cli_raw_* error: strerror, or "malformed answer". */
const char *cli_raw_strerror(int rc);

#endif

/*
 * logging.h -- kappa's diagnostic log (to stderr, one line per event).
 *
 * Lines look like "2026-11-25T22:57:04.123Z WARN  log     partition orders-0: ...":
 * UTC time, level, subsystem, message.  The subsystem is the source
 * directory of the caller (log, broker for src/kafka, http for src/serve,
 * io, core, cli, stream), taken from __FILE__ so no call site names it.
 * The level threshold comes from kp_log_set_level() (the server maps
 * `kappa.log.level` to it).  Tests can capture lines with kp_log_set_sink().
 */
#ifndef KP_LOGGING_H
#define KP_LOGGING_H

enum kp_log_level { KP_LOG_DEBUG, KP_LOG_INFO, KP_LOG_WARN, KP_LOG_ERROR };

void kp_log(enum kp_log_level level, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kp_log_set_level(enum kp_log_level level);

/* Send formatted lines (without the timestamp prefix) to fn instead of
 * stderr; NULL restores stderr. */
typedef void kp_log_sink_fn(enum kp_log_level level, const char *line, void *ctx);
void kp_log_set_sink(kp_log_sink_fn *fn, void *ctx);

#define KP_DEBUG(...) kp_log(KP_LOG_DEBUG, __FILE__, __VA_ARGS__)
#define KP_INFO(...)  kp_log(KP_LOG_INFO, __FILE__, __VA_ARGS__)
#define KP_WARN(...)  kp_log(KP_LOG_WARN, __FILE__, __VA_ARGS__)
#define KP_ERROR(...) kp_log(KP_LOG_ERROR, __FILE__, __VA_ARGS__)

#endif

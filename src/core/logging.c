/*
 * logging.c -- timestamped diagnostic lines on stderr, and the always-on
 * assertion handler (it logs through the same path before aborting).
 */
#include "logging.h"
#include "kp_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum kp_log_level threshold = KP_LOG_INFO;
static kp_log_sink_fn *sink;
static void *sink_ctx;

static const char *level_name[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void kp_log_set_level(enum kp_log_level level)
{
    threshold = level;
}

void kp_log_set_sink(kp_log_sink_fn *fn, void *ctx)
{
    sink = fn;
    sink_ctx = ctx;
}

/* "src/kafka/group.c" -> "broker": the directory names the subsystem, with
 * the names an operator knows for the two whose directory says how rather
 * than what. */
static const char *subsystem(const char *file)
{
    static const struct { const char *dir, *name; } map[] = {
        {"/kafka/", "broker"}, {"/serve/", "http"}, {"/log/", "log"},
        {"/io/", "io"},        {"/core/", "core"},  {"/cli/", "cli"},
        {"/stream/", "stream"}, {"/view/", "view"},
    };
    char path[256];
    snprintf(path, sizeof path, "/%s", file ? file : "");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strstr(path, map[i].dir))
            return map[i].name;
    return "main";
}

void kp_log(enum kp_log_level level, const char *file, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (level < threshold)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (sink) {
        sink(level, line, sink_ctx);
        return;
    }

    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %-6s %s\n", stamp, ts.tv_nsec / 1000000,
            level_name[level], subsystem(file), line);
}

void kp_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "kappa: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

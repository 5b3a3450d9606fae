/*
 * metrics.c -- histogram updates and Prometheus text rendering.
 */
#include "core/metrics.h"

#include "core/kp_mem.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Upper bounds in nanoseconds; chosen to resolve both a page-cache fsync
 * (tens of microseconds on tmpfs) and a slow disk (seconds). */
static const uint64_t bound_ns[METRIC_HIST_BUCKETS] = {
    50000,     100000,    250000,     500000,     1000000,    2500000,
    5000000,   10000000,  25000000,   50000000,   100000000,  250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

void metric_hist_observe_ns(metric_hist_t *h, uint64_t ns)
{
    int i = 0;
    while (i < METRIC_HIST_BUCKETS && ns > bound_ns[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void prom_buf_free(prom_buf_t *b)
{
    kp_free(b->buf);
    memset(b, 0, sizeof *b);
}

static int reserve(prom_buf_t *b, size_t more)
{
    if (b->err)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *n = kp_realloc(b->buf, cap);
    if (!n) {
        b->err = -ENOMEM;
        return -1;
    }
    b->buf = n;
    b->cap = cap;
    return 0;
}

__attribute__((format(printf, 2, 0)))
static void vappend(prom_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return;
    vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
}

void prom_printf(prom_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(b, fmt, ap);
    va_end(ap);
}

static void putc_buf(prom_buf_t *b, char c)
{
    if (reserve(b, 1) == 0) {
        b->buf[b->len++] = c;
        b->buf[b->len] = '\0';
    }
}

void prom_family(prom_buf_t *b, const char *name, const char *type, const char *help)
{
    prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {a="x",b="y"} with an optional extra label (le) appended. */
static void labels(prom_buf_t *b, va_list ap, const char *extra_name, const char *extra_val)
{
    bool any = false;
    const char *n;
    while ((n = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        putc_buf(b, any ? ',' : '{');
        any = true;
        prom_printf(b, "%s=\"", n);
        for (const char *p = v ? v : ""; *p; p++) {
            if (*p == '\\' || *p == '"') {
                putc_buf(b, '\\');
                putc_buf(b, *p);
            } else if (*p == '\n') {
                putc_buf(b, '\\');
                putc_buf(b, 'n');
            } else {
                putc_buf(b, *p);
            }
        }
        putc_buf(b, '"');
    }
    if (extra_name) {
        putc_buf(b, any ? ',' : '{');
        any = true;
        prom_printf(b, "%s=\"%s\"", extra_name, extra_val);
    }
    if (any)
        putc_buf(b, '}');
}

static void value(prom_buf_t *b, double v)
{
    if (isnan(v))
        prom_printf(b, " NaN\n");
    else if (isinf(v))
        prom_printf(b, v > 0 ? " +Inf\n" : " -Inf\n");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        prom_printf(b, " %lld\n", (long long)v);
    else
        prom_printf(b, " %.15g\n", v);
}

void prom_sample(prom_buf_t *b, const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    prom_printf(b, "%s", name);
    labels(b, ap, NULL, NULL);
    va_end(ap);
    value(b, v);
}

void prom_histogram(prom_buf_t *b, const char *name, const metric_hist_t *h, ...)
{
    uint64_t cum = 0;
    char le[32];
    va_list ap;
    for (int i = 0; i <= METRIC_HIST_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < METRIC_HIST_BUCKETS)
            snprintf(le, sizeof le, "%g", (double)bound_ns[i] / 1e9);
        else
            snprintf(le, sizeof le, "+Inf");
        prom_printf(b, "%s_bucket", name);
        va_start(ap, h);
        labels(b, ap, "le", le);
        va_end(ap);
        value(b, (double)cum);
    }
    prom_printf(b, "%s_sum", name);
    va_start(ap, h);
    labels(b, ap, NULL, NULL);
    va_end(ap);
    value(b, (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
    prom_printf(b, "%s_count", name);
    va_start(ap, h);
    labels(b, ap, NULL, NULL);
    va_end(ap);
    /* _count must equal the +Inf bucket for promtool; use the bucket sum. */
    value(b, (double)cum);
}

/*
 * metrics.h -- counters and latency histograms, and the Prometheus text
 * exposition format (version 0.0.4) they are scraped in.
 *
 * Histograms are updated with relaxed atomics so a worker thread (an fsync)
 * can observe into one the loop thread scrapes; a scrape may see a count and
 * a sum from slightly different instants, which Prometheus tolerates.
 *
 * Writing a scrape: prom_family() once per metric name (HELP and TYPE
 * lines), then prom_sample()/prom_histogram() for each label set.  Labels are
 * given as alternating name, value strings ending with NULL; values are
 * escaped as the format requires.
 */
#ifndef KP_METRICS_H
#define KP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Latency buckets, in seconds: 50 us .. 10 s, then +Inf. */
#define METRIC_HIST_BUCKETS 17

typedef struct metric_hist {
    _Atomic uint64_t bucket[METRIC_HIST_BUCKETS + 1];   /* last = +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
} metric_hist_t;

void metric_hist_observe_ns(metric_hist_t *h, uint64_t ns);

/* A growable output buffer; on allocation failure it sets err and stops. */
typedef struct prom_buf {
    char *buf;
    size_t len, cap;
    int err;
} prom_buf_t;

void prom_buf_free(prom_buf_t *b);
void prom_printf(prom_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "# HELP name help\n# TYPE name type\n"; type is counter, gauge or histogram. */
void prom_family(prom_buf_t *b, const char *name, const char *type, const char *help);
/* name{labels} value, with labels as name, value, ..., NULL. */
void prom_sample(prom_buf_t *b, const char *name, double value, ...);
/* The _bucket, _sum and _count series of a histogram, in seconds. */
void prom_histogram(prom_buf_t *b, const char *name, const metric_hist_t *h, ...);

#endif

/*
 * job_metrics.h -- a runner's Prometheus metrics (`kappa job run --http
 * HOST:PORT`): per task records in and out, late records, watermark, input
 * lag, state size; per job commits and commit latency.
 *
 * The runner thread publishes a copy of its numbers about once a second
 * (job_metrics_publish); libmicrohttpd's own thread renders scrapes from that
 * copy under a mutex, so a scrape never touches live task state.
 */
#ifndef KP_STREAM_JOB_METRICS_H
#define KP_STREAM_JOB_METRICS_H

#include "core/metrics.h"
#include "stream/runtime.h"

typedef struct job_metrics job_metrics_t;

/* Listen on HOST:PORT; NULL on failure (logged). */
job_metrics_t *job_metrics_start(const char *listen, const char *job, int version);
void job_metrics_stop(job_metrics_t *m);
/* Copy the tasks' numbers (runner thread). */
void job_metrics_publish(job_metrics_t *m, task_t *const *tasks, int ntasks, uint64_t commits,
                         rd_kafka_t *consumer);
/* Observe one commit_transaction (any thread). */
void job_metrics_commit(job_metrics_t *m, int64_t ns);

#endif

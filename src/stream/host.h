/*
 * host.h -- `kappa server` hosting jobs: each job listed in `kappa.jobs`
 * runs as a child process (`kappa job run ...`, the same runner as in the
 * foreground) against the server's own listener, restarted when it dies.
 *
 *   kappa.jobs = NAME@VERSION=PLUGIN.so[,NAME@VERSION=PLUGIN.so...]
 *   kappa.jobs.state.dir = DIR      (default: LOG_DIR.jobs)
 *   kappa.jobs.metrics.port = P     (job i serves Prometheus metrics on
 *                                    127.0.0.1:P+i, in kappa.jobs order; 0: off)
 *
 * A child that exits with status 2 (a bad graph or command line) is not
 * restarted: that would fail the same way.  Any other exit or signal is
 * restarted after a back-off of 1 s doubling to 30 s (reset once a child has
 * run for a minute).  Jobs restart from their last commit, so a restart
 * loses nothing and repeats nothing.
 */
#ifndef KP_STREAM_HOST_H
#define KP_STREAM_HOST_H

#include <stddef.h>

typedef struct job_host job_host_t;

/* Check a kappa.jobs value; on error, *why says what is wrong. */
int job_host_parse(const char *spec, char *why, size_t cap);

/* Start supervising: `self` is the kappa executable, `brokers` the address
 * the jobs connect to, `views_db` the server's view store (kappa.views.db):
 * the jobs apply their views there (--views) and promote switches the
 * stable view names there. */
int job_host_start(const char *spec, const char *self, const char *brokers,
                   const char *state_dir, const char *views_db, int metrics_port,
                   job_host_t **out);
/* Stop every job (SIGTERM, then SIGKILL after 10 s) and the supervisor. */
void job_host_stop(job_host_t *h);

/*
 * The progress of registry jobs, as measured every 2 s by the supervisor
 * (docs/jobs.md).  Safe from any thread, at any time (also before a host
 * starts or after it stopped: the last snapshot, or nothing).
 *
 * job_host_status_json: GET /v1/jobs/NAME's body (kp_malloc'd, *len bytes),
 * or NULL when NAME has no version.  job_host_metrics: appends the gauges
 * kappa_job_progress_ratio and kappa_job_lag_records{job,version}.
 */
struct prom_buf;
char *job_host_status_json(const char *name, size_t *len);
void job_host_metrics(struct prom_buf *b);

#endif

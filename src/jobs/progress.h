/*
 * progress.h -- how far a deployed job version is through its input
 * (docs/jobs.md): per input partition the start and end offsets fixed at
 * deploy time, the version's consumer group's committed offset (current)
 * and the high watermark now; overall ratio sum(current-start) /
 * sum(end-start); and the phase BACKFILLING -> CAUGHT_UP -> LIVE.
 *
 * Everything is read with the Kafka protocol: committed offsets of group
 * NAME.vV and watermarks, so it works wherever the registry does.
 */
#ifndef KP_JOBS_PROGRESS_H
#define KP_JOBS_PROGRESS_H

#include "jobs/registry.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>

#define JOBS_CAUGHT_UP_LAG 1000     /* records: the default CAUGHT_UP threshold */
#define JOBS_ETIME_WAIT_MS 500      /* the bound on one version's event-time read */

typedef struct jobs_part_progress {
    char topic[256];
    int32_t partition;
    int64_t start_offset, end_offset;
    int64_t current;            /* committed offset of the group; start if none yet */
    bool committed;             /* the group has committed this partition */
    int64_t high_watermark;     /* now; -1 when it could not be read */
    int64_t lag;                /* high_watermark - current */
    /* Event time (jobs_progress_event_time): the timestamp of the newest
     * data record before current, and wall clock now minus it; -1 when
     * unknown (nothing committed past start, or it could not be read). */
    int64_t event_time_ms;
    int64_t event_time_lag_ms;
} jobs_part_progress_t;

typedef struct jobs_progress {
    int nparts;
    jobs_part_progress_t *parts;    /* owned; jobs_progress_free */
    int64_t done, total;            /* sum(current - start) clamped to end; sum(end - start) */
    int64_t lag;                    /* sum of lags */
    double ratio;                   /* done / total; 1 when total is 0 */
    bool past_end;                  /* every partition's current >= end */
    int64_t sampled_ms;             /* monotonic time of the sample */
    int64_t event_time_lag_ms;      /* max over the partitions; -1 when none is known */
} jobs_progress_t;

/*
 * Measure v's progress.  base: a client configuration (bootstrap servers,
 * security), duplicated, never consumed.  Returns 0, or a negative error
 * with *why set (broker unreachable, group offsets unreadable).
 */
int jobs_progress_measure(const rd_kafka_conf_t *base, const jobs_version_t *v,
                          int timeout_ms, jobs_progress_t *out, char *why, size_t cap);
void jobs_progress_free(jobs_progress_t *p);

/*
 * Event-time lag (docs/jobs.md "Progress").  A reader is one long-lived
 * consumer handle that only ever assign()s partitions at explicit offsets:
 * it never subscribes and never commits, so the job's groups never see it.
 * Create one per process (or per `status --watch`), not per measurement.
 */
typedef struct jobs_etime_reader jobs_etime_reader_t;

int jobs_etime_reader_new(const rd_kafka_conf_t *base, jobs_etime_reader_t **out, char *why,
                          size_t cap);
void jobs_etime_reader_free(jobs_etime_reader_t *r);

/*
 * Fill the event_time fields of p (measured by jobs_progress_measure): per
 * partition whose committed offset is past its start offset, read the window
 * [current - 16, current) (read_committed, so transaction markers and aborted
 * records never come back; widened once to 1024 records when the window
 * held none) and take the newest record's timestamp.  Waits at most
 * timeout_ms in all; a partition not read by then stays unknown (-1).
 * Never fails: an unreachable broker leaves everything unknown.
 */
void jobs_progress_event_time(jobs_etime_reader_t *r, jobs_progress_t *p, int timeout_ms);

/* "3.2s", "4m10s", "2h05m", "12d03h"; "-" when ms < 0. */
void jobs_fmt_event_lag(char *buf, size_t cap, int64_t ms);

/*
 * The phase of v: "STOPPED" when its state is stopped; "BACKFILLING" while
 * some partition is before its end offset or the lag is at or over
 * lag_threshold; else "LIVE" when promoted (jobs_is_promoted), else
 * "CAUGHT_UP".
 */
const char *jobs_phase(const jobs_version_t *v, const jobs_progress_t *p, int64_t lag_threshold,
                       bool promoted);

/* Records per second of the sum of current offsets between two samples of
 * the same version (0 when unknown). */
double jobs_progress_rate(const jobs_progress_t *before, const jobs_progress_t *after);

/* Is v its job's promoted version (jobs_registry_live_version: the last
 * `kappa job promote`, or before any the lowest version not retired)? */
bool jobs_is_promoted(const jobs_registry_t *r, const jobs_version_t *v);

/*
 * The status document of one job (`kappa job status --json`, GET
 * /v1/jobs/NAME): {"name", "versions": [...]} for the n versions vs[i] of
 * job `name` with progress ps[i] and the previous sample prev[i] (NULL: no
 * rate yet).  r is the registry the versions are in (for the LIVE rule).
 */
void jobs_status_json(FILE *f, const char *name, const jobs_registry_t *r,
                      jobs_version_t *const *vs, const jobs_progress_t *ps,
                      const jobs_progress_t *const *prev, int n, int64_t lag_threshold);

#endif

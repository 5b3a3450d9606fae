/*
 * latest -- a view of the latest value of every key of a topic: what
 * ksqlDB calls a table over a stream, and the simplest view there is.
 *
 *   kappa job run latest --version 1 --plugin build/examples/views/latest.so \
 *       --param in=events --param view=latest
 *   curl 127.0.0.1:9644/v1/views/latest/KEY
 *
 * Each input record's key becomes the row key and its value the row (a
 * JSON value reads back as JSON); a record with a null value deletes the
 * row.  Records without a key are counted and dropped by the view sink.
 * bench/freshness_bench.py measures produce-to-visible latency with it.
 *
 * Parameters: in (default events), view (default latest).
 */
#include <kappa.h>

int kappa_job_define(kappa_job_t *job)
{
    kappa_stream_t *in = kappa_source(job, kappa_job_param(job, "in", "events"), NULL);
    return kappa_view(in, kappa_job_param(job, "view", "latest"), NULL);
}

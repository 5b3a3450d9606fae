/*
 * describe.h -- what a job plugin reads and writes, learned without running
 * it: define the graph, plan it, list its user topics.  `kappa job deploy`
 * uses it to validate a plugin and to record the version's inputs and
 * outputs in the job registry.
 */
#ifndef KP_STREAM_DESCRIBE_H
#define KP_STREAM_DESCRIBE_H

#include "kappa.h"

#include <stdbool.h>
#include <stddef.h>

#define STREAM_DESC_MAX 32

typedef struct stream_desc {
    /* Sources (read from --from) and tables (always from the start). */
    char inputs[STREAM_DESC_MAX][256];
    bool input_is_table[STREAM_DESC_MAX];
    int ninputs;
    /* Sink topics and the late topic, as the plugin names them (the
     * versioned topic is NAME.vVERSION); not views' backing topics. */
    char outputs[STREAM_DESC_MAX][256];
    int noutputs;
    /* Views (kappa_view): their names; each version writes VIEW@vVERSION
     * through its own backing topic, so they are not in outputs. */
    char views[STREAM_DESC_MAX][256];
    int nviews;
} stream_desc_t;

/*
 * Define and plan the job (name, version, params as for kappa_job_run) and
 * fill *out.  Returns 0, or a negative error with *why saying what is wrong
 * with the graph.
 */
int stream_job_describe(const char *name, int version, kappa_job_define_fn *define,
                        const char *const *params, stream_desc_t *out, char *why,
                        size_t cap);

/* Is `from` one of earliest, latest, @TIMESTAMP_MS? */
bool stream_from_valid(const char *from);

#endif

/*
 * describe.c -- a plugin's inputs and outputs, read off its planned graph
 * (see describe.h).  Nothing is connected to a broker: the graph is built,
 * planned and freed.
 */
#include "stream/describe.h"
#include "stream/stream_int.h"

#include "core/kp_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool stream_from_valid(const char *from)
{
    if (strcmp(from, "earliest") == 0 || strcmp(from, "latest") == 0)
        return true;
    if (from[0] != '@' || from[1] < '0' || from[1] > '9')
        return false;
    char *end;
    errno = 0;
    long long ts = strtoll(from + 1, &end, 10);
    return !*end && errno == 0 && ts >= 0;
}

static void add_unique(char (*list)[256], int *n, const char *topic, bool *table, bool is_table)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(list[i], topic) == 0)
            return;
    if (*n == STREAM_DESC_MAX)
        return;
    snprintf(list[*n], 256, "%s", topic);
    if (table)
        table[*n] = is_table;
    (*n)++;
}

int stream_job_describe(const char *name, int version, kappa_job_define_fn *define,
                        const char *const *params, stream_desc_t *out, char *why,
                        size_t cap)
{
    memset(out, 0, sizeof *out);
    kappa_job_t *job = NULL;
    if (job_new(name, version, &job) != 0) {
        snprintf(why, cap, "job name '%s' must be 1-%d of [A-Za-z0-9._-] and version >= 1",
                 name, STREAM_NAME_MAX - 1);
        return KP_EINVAL;
    }
    job->params = params;
    if (define(job) != 0 && !job->error[0])
        job_fail(job, "kappa_job_define returned an error");
    if (job_plan(job) != 0) {
        snprintf(why, cap, "%s", job->error);
        job_free(job);
        return KP_EINVAL;
    }
    for (int i = 0; i < job->nnodes; i++) {
        kappa_stream_t *n = job->nodes[i];
        if (n->type == NODE_SOURCE || n->type == NODE_TABLE)
            add_unique(out->inputs, &out->ninputs, n->topic, out->input_is_table,
                       n->type == NODE_TABLE);
        else if (n->type == NODE_SINK && n->view[0])
            add_unique(out->views, &out->nviews, n->view, NULL, false);
        else if (n->type == NODE_SINK)
            add_unique(out->outputs, &out->noutputs, n->topic, NULL, false);
    }
    if (job->late_topic[0])
        add_unique(out->outputs, &out->noutputs, job->late_topic, NULL, false);
    job_free(job);
    return 0;
}

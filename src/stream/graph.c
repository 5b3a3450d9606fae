/*
 * graph.c -- the job-building API of kappa.h, and planning: checking the
 * graph and cutting it into sub-topologies at each key_by.
 *
 * Builders never abort: the first error is recorded in the job (later
 * builders given a NULL stream just return NULL), and the runner reports it
 * after kappa_job_define returns, so a plugin author sees one clear message.
 */
#include "stream/stream_int.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void job_fail(kappa_job_t *job, const char *fmt, ...)
{
    if (job->error[0])
        return;                 /* the first error is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->error, sizeof job->error, fmt, ap);
    va_end(ap);
}

const char *kappa_job_error(const kappa_job_t *job)
{
    return job->error[0] ? job->error : NULL;
}

bool stream_name_valid(const char *s)
{
    if (!s || !*s || strlen(s) >= STREAM_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

static bool topic_valid(const char *t)
{
    return stream_name_valid(t) && strcmp(t, ".") != 0 && strcmp(t, "..") != 0;
}

int job_new(const char *name, int version, kappa_job_t **out)
{
    if (!stream_name_valid(name) || version < 1)
        return KP_EINVAL;
    kappa_job_t *job = kp_calloc(1, sizeof *job);
    if (!job)
        return KP_ENOMEM;
    snprintf(job->name, sizeof job->name, "%s", name);
    job->version = version;
    snprintf(job->prefix, sizeof job->prefix, "%s.v%d", name, version);
    *out = job;
    return 0;
}

void job_free(kappa_job_t *job)
{
    if (!job)
        return;
    for (int i = 0; i < job->nnodes; i++) {
        kp_free(job->nodes[i]->children);
        kp_free(job->nodes[i]);
    }
    kp_free(job);
}

static kappa_stream_t *add_node(kappa_job_t *job, kappa_stream_t *in, node_type_t type,
                                const char *name)
{
    if (job->error[0])
        return NULL;
    if (job->nnodes == STREAM_MAX_NODES) {
        job_fail(job, "too many operators (at most %d)", STREAM_MAX_NODES);
        return NULL;
    }
    if (!stream_name_valid(name)) {
        job_fail(job, "operator name '%s' is not valid: use 1-%d of [A-Za-z0-9._-]",
                 name ? name : "(null)", STREAM_NAME_MAX - 1);
        return NULL;
    }
    for (int i = 0; i < job->nnodes; i++)
        if (strcmp(job->nodes[i]->name, name) == 0 && job->nodes[i]->type != NODE_SINK &&
            type != NODE_SINK && type != NODE_SOURCE && job->nodes[i]->type != NODE_SOURCE) {
            job_fail(job, "two operators are named '%s': names must be unique", name);
            return NULL;
        }
    kappa_stream_t *n = kp_calloc(1, sizeof *n);
    if (!n) {
        job_fail(job, "out of memory");
        return NULL;
    }
    n->job = job;
    n->id = job->nnodes;
    n->type = type;
    n->subtopo = -1;
    n->store = -1;
    snprintf(n->name, sizeof n->name, "%s", name);
    if (in) {
        kappa_stream_t **c = kp_realloc(in->children, (size_t)(in->nchildren + 1) * sizeof *c);
        if (!c) {
            kp_free(n);
            job_fail(job, "out of memory");
            return NULL;
        }
        c[in->nchildren++] = n;
        in->children = c;
        n->input = in;
    }
    job->nodes[job->nnodes++] = n;
    return n;
}

kappa_stream_t *kappa_source(kappa_job_t *job, const char *topic, const kappa_source_opts_t *opts)
{
    if (!job)
        return NULL;
    if (!topic || !topic_valid(topic)) {
        job_fail(job, "source topic '%s' is not a valid topic name", topic ? topic : "(null)");
        return NULL;
    }
    for (int i = 0; i < job->nnodes; i++)
        if (job->nodes[i]->type == NODE_SOURCE && strcmp(job->nodes[i]->topic, topic) == 0) {
            job_fail(job, "topic '%s' is a source twice: read it once and use the stream "
                     "in several places", topic);
            return NULL;
        }
    kappa_stream_t *n = add_node(job, NULL, NODE_SOURCE, topic);
    if (!n)
        return NULL;
    snprintf(n->topic, sizeof n->topic, "%s", topic);
    if (opts) {
        n->src = *opts;
        if (opts->time_json_field) {
            if (strlen(opts->time_json_field) >= sizeof n->time_field) {
                job_fail(job, "source '%s': time_json_field too long", topic);
                return NULL;
            }
            snprintf(n->time_field, sizeof n->time_field, "%s", opts->time_json_field);
        }
        n->src.time_json_field = NULL;  /* copied into time_field */
        if (opts->max_out_of_orderness_ms < 0) {
            job_fail(job, "source '%s': max_out_of_orderness_ms must be >= 0", topic);
            return NULL;
        }
    }
    if (n->src.idle_timeout_ms == 0)
        n->src.idle_timeout_ms = 5000;
    return n;
}

static kappa_stream_t *fn_node(kappa_stream_t *in, node_type_t type, const char *name,
                               kappa_fn *fn, void *arg)
{
    if (!in)
        return NULL;
    if (!fn) {
        job_fail(in->job, "operator '%s': function is NULL", name ? name : "(null)");
        return NULL;
    }
    kappa_stream_t *n = add_node(in->job, in, type, name);
    if (n) {
        n->fn = fn;
        n->arg = arg;
    }
    return n;
}

kappa_stream_t *kappa_map(kappa_stream_t *in, const char *name, kappa_fn *fn, void *arg)
{
    return fn_node(in, NODE_MAP, name, fn, arg);
}

kappa_stream_t *kappa_flat_map(kappa_stream_t *in, const char *name, kappa_fn *fn, void *arg)
{
    return fn_node(in, NODE_FLAT_MAP, name, fn, arg);
}

kappa_stream_t *kappa_filter(kappa_stream_t *in, const char *name, kappa_pred_fn *pred,
                             void *arg)
{
    if (!in)
        return NULL;
    if (!pred) {
        job_fail(in->job, "filter '%s': predicate is NULL", name ? name : "(null)");
        return NULL;
    }
    kappa_stream_t *n = add_node(in->job, in, NODE_FILTER, name);
    if (n) {
        n->pred = pred;
        n->arg = arg;
    }
    return n;
}

kappa_stream_t *kappa_key_by(kappa_stream_t *in, const char *name, kappa_fn *fn, void *arg)
{
    kappa_stream_t *k = fn_node(in, NODE_KEY_BY, name, fn, arg);
    if (!k)
        return NULL;
    kappa_job_t *job = in->job;
    int n = snprintf(k->topic, sizeof k->topic, "%s.%s-repartition", job->prefix, name);
    if (n >= (int)sizeof k->topic) {
        job_fail(job, "key_by '%s': internal topic name too long", name);
        return NULL;
    }
    /* The reading side is its own node, not a child: a key_by's output goes
     * through the topic, never straight to the next operator. */
    char rname[STREAM_NAME_MAX + 8];
    snprintf(rname, sizeof rname, "%s.in", name);
    if (strlen(rname) >= STREAM_NAME_MAX) {
        job_fail(job, "key_by '%s': name too long", name);
        return NULL;
    }
    kappa_stream_t *r = add_node(job, NULL, NODE_REPART_SOURCE, rname);
    if (!r)
        return NULL;
    snprintf(r->topic, sizeof r->topic, "%s", k->topic);
    r->src.idle_timeout_ms = -1;    /* idleness is reported by the upstream tasks */
    k->repart = r;
    return r;
}

kappa_stream_t *kappa_aggregate(kappa_stream_t *in, const char *name, const kappa_agg_opts_t *o)
{
    if (!in)
        return NULL;
    kappa_job_t *job = in->job;
    if (!o || !o->add) {
        job_fail(job, "aggregate '%s': opts->add is required", name ? name : "(null)");
        return NULL;
    }
    const kappa_window_spec_t *w = &o->window;
    switch (w->type) {
    case KAPPA_WINDOW_NONE:
        if (o->emit == KAPPA_EMIT_ON_CLOSE) {
            job_fail(job, "aggregate '%s': KAPPA_EMIT_ON_CLOSE needs a window", name);
            return NULL;
        }
        break;
    case KAPPA_WINDOW_TUMBLING:
        if (w->size_ms <= 0) {
            job_fail(job, "aggregate '%s': tumbling window size_ms must be > 0", name);
            return NULL;
        }
        break;
    case KAPPA_WINDOW_HOPPING:
        if (w->size_ms <= 0 || w->slide_ms <= 0 || w->slide_ms > w->size_ms ||
            w->size_ms % w->slide_ms != 0) {
            job_fail(job, "aggregate '%s': hopping windows need 0 < slide_ms <= size_ms, "
                     "with size_ms a multiple of slide_ms", name);
            return NULL;
        }
        break;
    case KAPPA_WINDOW_SESSION:
        if (w->gap_ms <= 0 || !o->merge) {
            job_fail(job, "aggregate '%s': session windows need gap_ms > 0 and a merge "
                     "function", name);
            return NULL;
        }
        break;
    default:
        job_fail(job, "aggregate '%s': unknown window type %d", name, (int)w->type);
        return NULL;
    }
    if (w->grace_ms < 0) {
        job_fail(job, "aggregate '%s': grace_ms must be >= 0", name);
        return NULL;
    }
    kappa_stream_t *n = add_node(job, in, NODE_AGGREGATE, name);
    if (n)
        n->agg = *o;
    return n;
}

int kappa_sink(kappa_stream_t *in, const char *topic, const kappa_sink_opts_t *opts)
{
    if (!in)
        return -1;
    if (!topic || !topic_valid(topic)) {
        job_fail(in->job, "sink topic '%s' is not a valid topic name", topic ? topic : "(null)");
        return -1;
    }
    kappa_stream_t *n = add_node(in->job, in, NODE_SINK, topic);
    if (!n)
        return -1;
    snprintf(n->topic, sizeof n->topic, "%s", topic);
    if (opts) {
        n->fn = opts->encode;
        n->arg = opts->arg;
    }
    return 0;
}

const char *kappa_job_param(kappa_job_t *job, const char *key, const char *dflt)
{
    size_t kl = strlen(key);
    for (const char *const *p = job->params; p && *p; p++)
        if (strncmp(*p, key, kl) == 0 && (*p)[kl] == '=')
            return *p + kl + 1;
    return dflt;
}

int kappa_job_set_late_topic(kappa_job_t *job, const char *topic)
{
    if (!topic || !topic_valid(topic)) {
        job_fail(job, "late topic '%s' is not a valid topic name", topic ? topic : "(null)");
        return -1;
    }
    snprintf(job->late_topic, sizeof job->late_topic, "%s", topic);
    return 0;
}

/* Put n and everything downstream of it (up to key_bys) in sub-topology s. */
static int assign(kappa_job_t *job, kappa_stream_t *n, subtopo_t *st)
{
    n->subtopo = st->id;
    if (n->type == NODE_AGGREGATE) {
        n->store = st->nstores;
        st->stores[st->nstores++] = n;
    }
    if (n->type == NODE_KEY_BY)
        st->repart_out[st->nrepart_out++] = n;
    for (int i = 0; i < n->nchildren; i++)
        if (assign(job, n->children[i], st) != 0)
            return -1;
    return 0;
}

static int plan_from(kappa_job_t *job, kappa_stream_t *input, int upstream)
{
    if (job->nsubtopos == STREAM_MAX_SUBTOPOS) {
        job_fail(job, "too many sources and key_bys (at most %d stages)", STREAM_MAX_SUBTOPOS);
        return -1;
    }
    subtopo_t *st = &job->subtopos[job->nsubtopos];
    st->id = job->nsubtopos++;
    st->input = input;
    st->upstream = upstream;
    if (snprintf(st->changelog, sizeof st->changelog, "%s.s%d-changelog", job->prefix,
                 st->id) >= (int)sizeof st->changelog) {
        job_fail(job, "job name too long for its internal topic names");
        return -1;
    }
    if (assign(job, input, st) != 0)
        return -1;
    /* Then the stages this one feeds through key_by. */
    for (int i = 0; i < st->nrepart_out; i++)
        if (plan_from(job, st->repart_out[i]->repart, st->id) != 0)
            return -1;
    return 0;
}

int job_plan(kappa_job_t *job)
{
    if (job->error[0])
        return KP_EINVAL;
    int nsources = 0;
    for (int i = 0; i < job->nnodes; i++) {
        kappa_stream_t *n = job->nodes[i];
        if (n->type != NODE_SOURCE)
            continue;
        nsources++;
        if (plan_from(job, n, -1) != 0)
            return KP_EINVAL;
    }
    if (nsources == 0) {
        job_fail(job, "the job reads no topic: call kappa_source()");
        return KP_EINVAL;
    }
    bool sink = false;
    for (int i = 0; i < job->nnodes; i++)
        sink |= job->nodes[i]->type == NODE_SINK;
    if (!sink) {
        job_fail(job, "the job writes nothing: add a kappa_sink()");
        return KP_EINVAL;
    }
    return 0;
}

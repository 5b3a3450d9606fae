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
        if ((job->nodes[i]->type == NODE_SOURCE || job->nodes[i]->type == NODE_TABLE) &&
            strcmp(job->nodes[i]->topic, topic) == 0) {
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
        if (opts->max_out_of_orderness_ms < 0 ||
            opts->max_out_of_orderness_ms > STREAM_TS_LIMIT) {
            job_fail(job, "source '%s': max_out_of_orderness_ms must be 0..2^52", topic);
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
    if (w->size_ms > STREAM_TS_LIMIT || w->slide_ms > STREAM_TS_LIMIT ||
        w->gap_ms > STREAM_TS_LIMIT || w->grace_ms > STREAM_TS_LIMIT) {
        job_fail(job, "aggregate '%s': window durations must be at most 2^52 ms", name);
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

int kappa_view(kappa_stream_t *in, const char *view, const kappa_sink_opts_t *opts)
{
    if (!in)
        return -1;
    if (!view_name_valid(view)) {
        job_fail(in->job, "view name '%s' must be [A-Za-z_][A-Za-z0-9_]{0,%d}",
                 view ? view : "(null)", VIEW_NAME_MAX - 1);
        return -1;
    }
    for (int i = 0; i < in->job->nnodes; i++)
        if (strcmp(in->job->nodes[i]->view, view) == 0) {
            job_fail(in->job, "view '%s' is maintained twice in this job", view);
            return -1;
        }
    kappa_stream_t *n = add_node(in->job, in, NODE_SINK, view);
    if (!n)
        return -1;
    view_topic(n->topic, sizeof n->topic, view, in->job->version);
    snprintf(n->view, sizeof n->view, "%s", view);
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

kappa_stream_t *kappa_process(kappa_stream_t *in, const char *name, const kappa_processor_t *p)
{
    if (!in)
        return NULL;
    if (!p || !p->process) {
        job_fail(in->job, "process '%s': p->process is required", name ? name : "(null)");
        return NULL;
    }
    kappa_stream_t *n = add_node(in->job, in, NODE_PROCESS, name);
    if (n)
        n->proc = *p;
    return n;
}

/* ---- tables and joins ---------------------------------------------------- */

kappa_stream_t *kappa_table(kappa_job_t *job, const char *topic, const kappa_source_opts_t *opts)
{
    kappa_stream_t *n = kappa_source(job, topic, opts);
    if (n) {
        n->type = NODE_TABLE;
        n->src.idle_timeout_ms = -1;    /* tables never hold the watermark */
    }
    return n;
}

/* Add n as a child of a second parent (the right side of a join). */
static int add_parent(kappa_stream_t *n, kappa_stream_t *p)
{
    kappa_stream_t **c = kp_realloc(p->children, (size_t)(p->nchildren + 1) * sizeof *c);
    if (!c) {
        job_fail(n->job, "out of memory");
        return -1;
    }
    c[p->nchildren++] = n;
    p->children = c;
    n->input2 = p;
    return 0;
}

kappa_stream_t *kappa_join_table(kappa_stream_t *stream, kappa_stream_t *table,
                                 const char *name, kappa_join_fn *fn, void *arg)
{
    if (!stream || !table)
        return NULL;
    kappa_job_t *job = stream->job;
    if (table->type != NODE_TABLE) {
        job_fail(job, "join_table '%s': the second argument must come from kappa_table()",
                 name ? name : "(null)");
        return NULL;
    }
    if (!fn) {
        job_fail(job, "join_table '%s': function is NULL", name ? name : "(null)");
        return NULL;
    }
    kappa_stream_t *n = add_node(job, stream, NODE_JOIN_TABLE, name);
    if (!n || add_parent(n, table) != 0)
        return NULL;
    n->fn = NULL;
    n->join.fn = fn;
    n->join.arg = arg;
    return n;
}

kappa_stream_t *kappa_join(kappa_stream_t *left, kappa_stream_t *right, const char *name,
                           const kappa_join_opts_t *o)
{
    if (!left || !right)
        return NULL;
    kappa_job_t *job = left->job;
    if (!o || !o->fn) {
        job_fail(job, "join '%s': opts->fn is required", name ? name : "(null)");
        return NULL;
    }
    if (left == right || left->type == NODE_TABLE || right->type == NODE_TABLE) {
        job_fail(job, "join '%s': needs two different streams (join a table with "
                 "kappa_join_table)", name ? name : "(null)");
        return NULL;
    }
    switch (o->type) {
    case KAPPA_JOIN_UNBOUNDED:
        break;
    case KAPPA_JOIN_WINDOW:
        if (o->size_ms <= 0) {
            job_fail(job, "join '%s': window size_ms must be > 0", name);
            return NULL;
        }
        break;
    case KAPPA_JOIN_INTERVAL:
        if (o->lower_ms > o->upper_ms) {
            job_fail(job, "join '%s': lower_ms must be <= upper_ms", name);
            return NULL;
        }
        break;
    default:
        job_fail(job, "join '%s': unknown join type %d", name ? name : "(null)", (int)o->type);
        return NULL;
    }
    if (o->grace_ms < 0) {
        job_fail(job, "join '%s': grace_ms must be >= 0", name);
        return NULL;
    }
    if (o->size_ms > STREAM_TS_LIMIT || o->grace_ms > STREAM_TS_LIMIT ||
        o->lower_ms < -STREAM_TS_LIMIT || o->upper_ms > STREAM_TS_LIMIT) {
        job_fail(job, "join '%s': durations must be within 2^52 ms", name);
        return NULL;
    }
    kappa_stream_t *n = add_node(job, left, NODE_JOIN, name);
    if (!n || add_parent(n, right) != 0)
        return NULL;
    n->join = *o;
    return n;
}

/* ---- planning --------------------------------------------------------------- */

/*
 * Stages are the connected parts of the graph once key_by edges are cut: a
 * join ties its two inputs' parts together, so their tasks read both.  A
 * stage is planned after every stage feeding it through a key_by, so
 * partition counts resolve in order.
 */
static int find(int *comp, int i)
{
    while (comp[i] != i)
        i = comp[i] = comp[comp[i]];
    return i;
}

static void unite(int *comp, int a, int b)
{
    a = find(comp, a);
    b = find(comp, b);
    if (a != b)
        comp[a < b ? b : a] = a < b ? a : b;
}

static bool is_input(const kappa_stream_t *n)
{
    return n->type == NODE_SOURCE || n->type == NODE_REPART_SOURCE || n->type == NODE_TABLE;
}

int job_plan(kappa_job_t *job)
{
    if (job->error[0])
        return KP_EINVAL;
    int comp[STREAM_MAX_NODES];
    int stage_of_comp[STREAM_MAX_NODES];
    for (int i = 0; i < job->nnodes; i++) {
        comp[i] = i;
        stage_of_comp[i] = -1;
    }
    for (int i = 0; i < job->nnodes; i++) {
        kappa_stream_t *n = job->nodes[i];
        if (n->input)
            unite(comp, i, n->input->id);
        if (n->input2)
            unite(comp, i, n->input2->id);
    }
    bool any_source = false, any_sink = false;
    for (int i = 0; i < job->nnodes; i++) {
        any_source |= job->nodes[i]->type == NODE_SOURCE;
        any_sink |= job->nodes[i]->type == NODE_SINK;
    }
    if (!any_source) {
        job_fail(job, "the job reads no topic: call kappa_source()");
        return KP_EINVAL;
    }
    if (!any_sink) {
        job_fail(job, "the job writes nothing: add a kappa_sink() or kappa_view()");
        return KP_EINVAL;
    }
    /* Create stages in dependency order: a stage is ready when every
     * repartition input's key_by sits in an already created stage. */
    for (int round = 0; round < STREAM_MAX_NODES; round++) {
        bool progress = false;
        for (int i = 0; i < job->nnodes; i++) {
            int c = find(comp, i);
            if (!is_input(job->nodes[i]) || stage_of_comp[c] >= 0)
                continue;
            bool ready = true, self = false;
            for (int j = 0; j < job->nnodes; j++) {
                kappa_stream_t *m = job->nodes[j];
                if (find(comp, j) != c || m->type != NODE_REPART_SOURCE)
                    continue;
                for (int k = 0; k < job->nnodes; k++)
                    if (job->nodes[k]->type == NODE_KEY_BY && job->nodes[k]->repart == m) {
                        int kc = find(comp, k);
                        if (kc == c)
                            self = true;
                        else if (stage_of_comp[kc] < 0)
                            ready = false;
                    }
            }
            if (self) {
                job_fail(job, "a key_by feeds its own stage (through a join): re-key both "
                         "sides of the join instead");
                return KP_EINVAL;
            }
            if (!ready)
                continue;
            if (job->nsubtopos == STREAM_MAX_SUBTOPOS) {
                job_fail(job, "too many stages (at most %d)", STREAM_MAX_SUBTOPOS);
                return KP_EINVAL;
            }
            subtopo_t *st = &job->subtopos[job->nsubtopos];
            memset(st, 0, sizeof *st);
            st->id = job->nsubtopos++;
            st->upstream = -1;
            stage_of_comp[c] = st->id;
            if (snprintf(st->changelog, sizeof st->changelog, "%s.s%d-changelog", job->prefix,
                         st->id) >= (int)sizeof st->changelog) {
                job_fail(job, "job name too long for its internal topic names");
                return KP_EINVAL;
            }
            for (int j = 0; j < job->nnodes; j++) {
                kappa_stream_t *m = job->nodes[j];
                if (find(comp, j) != c)
                    continue;
                m->subtopo = st->id;
                if (is_input(m)) {
                    if (st->ninputs == STREAM_MAX_INPUTS) {
                        job_fail(job, "a stage reads at most %d inputs", STREAM_MAX_INPUTS);
                        return KP_EINVAL;
                    }
                    m->input_index = st->ninputs;
                    st->upstreams[st->ninputs] = -1;
                    st->inputs[st->ninputs++] = m;
                }
                if (m->type == NODE_AGGREGATE || m->type == NODE_JOIN || m->type == NODE_TABLE ||
                    m->type == NODE_PROCESS) {
                    m->store = st->nstores;
                    st->stores[st->nstores++] = m;
                }
                if (m->type == NODE_KEY_BY)
                    st->repart_out[st->nrepart_out++] = m;
            }
            for (int x = 0; x < st->ninputs; x++)
                if (st->inputs[x]->type == NODE_REPART_SOURCE)
                    for (int k = 0; k < job->nnodes; k++)
                        if (job->nodes[k]->type == NODE_KEY_BY &&
                            job->nodes[k]->repart == st->inputs[x])
                            st->upstreams[x] = stage_of_comp[find(comp, k)];
            st->input = st->inputs[0];
            st->upstream = st->upstreams[0];
            progress = true;
        }
        if (!progress)
            break;
    }
    for (int i = 0; i < job->nnodes; i++)
        if (job->nodes[i]->subtopo < 0) {
            job_fail(job, "operator '%s' is not reachable from any source",
                     job->nodes[i]->name);
            return KP_EINVAL;
        }
    return 0;
}

/*
 * task.c -- one task: records through its sub-topology's operators, keyed
 * state for aggregates, windows, event-time timers and the watermark.
 *
 * Invariants:
 *  (1) Everything a task decides depends only on the order of its input
 *      records (and, for repartitioned input, on upstream watermark reports),
 *      never on the wall clock -- except idleness, which only lets a
 *      watermark pass an input that has stopped producing.
 *  (2) The watermark never goes back, and it is restored with the state: the
 *      meta entry written into every transaction holds it, so a restarted
 *      task closes the same windows at the same input offsets.
 *  (3) A window is open while watermark < end + grace.  An event none of
 *      whose windows is open is late: counted, sent to the late topic if
 *      the job has one, and otherwise dropped.
 *  (4) Every state change goes through the one prefixed store and so
 *      reaches the changelog at the next commit (store dirty tracking).
 *
 * State keys (first byte = the aggregate's store index, TASK_META_STORE for
 * the task's own entry):
 *   no window, session:     [idx][nullflag][key]
 *   tumbling, hopping:      [idx][window start, 8 bytes BE][nullflag][key]
 * Session values are a list: u32 n, then n x (i64 start, i64 last, u32 len,
 * state bytes), ordered by start.
 */
#include "stream/runtime.h"

#include "core/kp_endian.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"

#include <inttypes.h>
#include <string.h>

struct kappa_ctx {
    task_t *t;
    kappa_stream_t *node;
    int emits;
};

struct kappa_state {
    uint8_t *data;
    size_t len, cap;
    bool present;
};

static int push(task_t *t, kappa_stream_t *n, const kappa_record_t *r);

/* ---- small helpers ------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A growable byte buffer for building keys and values. */
typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = kp_realloc(b->p, cap);
    if (!p)
        return KP_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n))
        return KP_ENOMEM;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int buf_u8(buf_t *b, uint8_t v)
{
    return buf_put(b, &v, 1);
}

static int buf_i64(buf_t *b, int64_t v)
{
    uint8_t x[8];
    kp_put_be64(x, (uint64_t)v);
    return buf_put(b, x, 8);
}

static int buf_u32(buf_t *b, uint32_t v)
{
    uint8_t x[4];
    kp_put_be32(x, v);
    return buf_put(b, x, 4);
}

/* The state key of (aggregate, window start, record key). */
static int state_key(buf_t *b, const kappa_stream_t *n, bool windowed, int64_t start,
                     const kappa_record_t *r)
{
    b->len = 0;
    if (buf_u8(b, (uint8_t)n->store))
        return KP_ENOMEM;
    if (windowed && buf_i64(b, start))
        return KP_ENOMEM;
    if (buf_u8(b, r->key ? 1 : 0))
        return KP_ENOMEM;
    return r->key ? buf_put(b, r->key, r->key_len) : 0;
}

/* Decode the record key (and window start) back out of a state key. */
static void key_of_state(const uint8_t *k, size_t klen, bool windowed, int64_t *start,
                         kappa_record_t *r)
{
    size_t at = 1;
    if (windowed) {
        *start = (int64_t)kp_be64(k + at);
        at += 8;
    }
    bool present = k[at++] != 0;
    r->key = present ? k + at : NULL;
    r->key_len = present ? klen - at : 0;
}

/* ---- timers ------------------------------------------------------------- */

/* Ties break on the key, not on insertion order: a restored task rebuilds
 * its timers from a hash table walk, and must still close windows in the
 * order the uninterrupted run did (invariant (1)). */
static bool timer_before(const timer_ent_t *a, const timer_ent_t *b)
{
    if (a->fire_ms != b->fire_ms)
        return a->fire_ms < b->fire_ms;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c < 0 || (c == 0 && a->klen < b->klen);
}

static int timer_push(task_t *t, int64_t fire_ms, const uint8_t *key, size_t klen)
{
    if (t->ntimers == t->captimers) {
        size_t cap = t->captimers ? t->captimers * 2 : 256;
        timer_ent_t *n = kp_realloc(t->timers, cap * sizeof *n);
        if (!n)
            return KP_ENOMEM;
        t->timers = n;
        t->captimers = cap;
    }
    uint8_t *k = kp_malloc(klen ? klen : 1);
    if (!k)
        return KP_ENOMEM;
    memcpy(k, key, klen);
    size_t i = t->ntimers++;
    t->timers[i] = (timer_ent_t){fire_ms, k, (uint32_t)klen};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&t->timers[i], &t->timers[p]))
            break;
        timer_ent_t tmp = t->timers[i];
        t->timers[i] = t->timers[p];
        t->timers[p] = tmp;
        i = p;
    }
    return 0;
}

static timer_ent_t timer_pop(task_t *t)
{
    timer_ent_t top = t->timers[0];
    t->timers[0] = t->timers[--t->ntimers];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->ntimers && timer_before(&t->timers[l], &t->timers[m]))
            m = l;
        if (r < t->ntimers && timer_before(&t->timers[r], &t->timers[m]))
            m = r;
        if (m == i)
            break;
        timer_ent_t tmp = t->timers[i];
        t->timers[i] = t->timers[m];
        t->timers[m] = tmp;
        i = m;
    }
    return top;
}

static void timers_clear(task_t *t)
{
    for (size_t i = 0; i < t->ntimers; i++)
        kp_free(t->timers[i].key);
    t->ntimers = 0;
}

/* ---- the operator API (kappa.h) ----------------------------------------- */

const void *kappa_state_get(kappa_state_t *st, size_t *len)
{
    if (!st->present) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = st->len;
    return st->data;
}

int kappa_state_put(kappa_state_t *st, const void *value, size_t len)
{
    if (len > st->cap) {
        size_t cap = len + len / 2 + 16;
        uint8_t *n = kp_malloc(cap);
        if (!n)
            return -1;
        kp_free(st->data);
        st->data = n;
        st->cap = cap;
    }
    if (len)
        memmove(st->data, value, len);
    st->len = len;
    st->present = true;
    return 0;
}

void kappa_state_delete(kappa_state_t *st)
{
    st->present = false;
    st->len = 0;
}

const kappa_window_t *kappa_ctx_window(kappa_ctx_t *ctx)
{
    return ctx->t->cur_window;
}

int kappa_emit(kappa_ctx_t *ctx, const kappa_record_t *out)
{
    task_t *t = ctx->t;
    kappa_stream_t *n = ctx->node;
    ctx->emits++;
    if (n->type == NODE_MAP && ctx->emits > 1) {
        KP_ERROR("task %s: map '%s' emitted more than one record; use kappa_flat_map", t->id,
                 n->name);
        t->failed = KP_EINVAL;
        return -1;
    }
    int rc;
    if (n->type == NODE_SINK) {
        rc = runner_produce(t, n->topic, -1, out, STREAM_WM_NONE);
        if (rc == 0)
            t->records_out++;
    } else if (n->type == NODE_KEY_BY) {
        rc = runner_produce(t, n->topic, -1, out, STREAM_WM_NONE);
    } else {
        rc = push(t, n, out);
    }
    if (rc && !t->failed)
        t->failed = rc;
    return rc ? -1 : 0;
}

/* ---- aggregates ------------------------------------------------------- */

static kappa_state_t *scratch_state(task_t *t, const kappa_stream_t *n);

/* Emit through the aggregate's result function (or the default). */
static int emit_result(task_t *t, kappa_stream_t *n, const kappa_record_t *keyrec,
                       const void *state, size_t len, const kappa_window_t *w)
{
    kappa_ctx_t ctx = {t, n, 0};
    const kappa_window_t *saved = t->cur_window;
    t->cur_window = w;
    int rc;
    if (n->agg.result) {
        rc = n->agg.result(&ctx, keyrec, state, len, w, n->agg.arg);
    } else {
        kappa_record_t out = *keyrec;
        out.value = state;
        out.value_len = len;
        rc = kappa_emit(&ctx, &out);
    }
    t->cur_window = saved;
    if (rc && !t->failed)
        t->failed = rc < 0 ? rc : KP_EINVAL;
    return t->failed;
}

static int load_state(task_t *t, kappa_state_t *st, const buf_t *k)
{
    size_t vlen;
    const void *v = store_get(t->state, k->p, k->len, &vlen);
    st->present = false;
    st->len = 0;
    if (v) {
        if (kappa_state_put(st, v, vlen) != 0)
            return KP_ENOMEM;
    }
    return 0;
}

static int save_state(task_t *t, const kappa_state_t *st, const buf_t *k)
{
    if (st->present)
        return store_put(t->state, k->p, k->len, st->data, st->len);
    return store_delete(t->state, k->p, k->len);
}

static int late(task_t *t, const kappa_record_t *r)
{
    t->late++;
    if (!t->st->input->job->late_topic[0])
        return 0;
    return runner_produce(t, t->st->input->job->late_topic, -1, r, STREAM_WM_NONE);
}

static int add_call(task_t *t, kappa_stream_t *n, kappa_state_t *st, const kappa_record_t *r)
{
    int rc = n->agg.add(st, r, n->agg.arg);
    if (rc) {
        KP_ERROR("task %s: aggregate '%s' failed (%d)", t->id, n->name, rc);
        t->failed = KP_EINVAL;
    }
    return rc ? KP_EINVAL : 0;
}

static int agg_plain(task_t *t, kappa_stream_t *n, const kappa_record_t *r, buf_t *k)
{
    kappa_state_t *st = scratch_state(t, n);
    int rc;
    if ((rc = state_key(k, n, false, 0, r)) || (rc = load_state(t, st, k)))
        return rc;
    if ((rc = add_call(t, n, st, r)) || (rc = save_state(t, st, k)))
        return rc;
    kappa_record_t keyrec = {r->key, r->key_len, NULL, 0, r->timestamp};
    return emit_result(t, n, &keyrec, st->present ? st->data : NULL, st->present ? st->len : 0,
                       NULL);
}

static int agg_fixed_windows(task_t *t, kappa_stream_t *n, const kappa_record_t *r, buf_t *k)
{
    const kappa_window_spec_t *w = &n->agg.window;
    int64_t slide = w->type == KAPPA_WINDOW_TUMBLING ? w->size_ms : w->slide_ms;
    int64_t last_start = floor_div(r->timestamp, slide) * slide;
    int64_t first_start = last_start - (w->size_ms - slide);
    bool any = false;
    kappa_state_t *st = scratch_state(t, n);
    for (int64_t start = first_start; start <= last_start; start += slide) {
        kappa_window_t win = {start, start + w->size_ms};
        if (t->watermark != STREAM_WM_NONE && win.end_ms + w->grace_ms <= t->watermark)
            continue;           /* closed: invariant (3) */
        any = true;
        int rc;
        if ((rc = state_key(k, n, true, start, r)) || (rc = load_state(t, st, k)))
            return rc;
        bool was_present = st->present;
        if ((rc = add_call(t, n, st, r)) || (rc = save_state(t, st, k)))
            return rc;
        if (!was_present && st->present &&
            (rc = timer_push(t, win.end_ms + w->grace_ms, k->p, k->len)) != 0)
            return rc;
        if (n->agg.emit == KAPPA_EMIT_CHANGES) {
            kappa_record_t keyrec = {r->key, r->key_len, NULL, 0, r->timestamp};
            rc = emit_result(t, n, &keyrec, st->present ? st->data : NULL,
                             st->present ? st->len : 0, &win);
            if (rc)
                return rc;
        }
    }
    return any ? 0 : late(t, r);
}

/* ---- session windows ---------------------------------------------------- */

typedef struct session {
    int64_t start, last;
    const uint8_t *state;
    uint32_t len;
} session_t;

/* Parse a session list into caller storage (sessions point into v). */
static int sessions_parse(const uint8_t *v, size_t vlen, session_t **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (vlen < 4)
        return KP_ECORRUPT;
    uint32_t cnt = kp_be32(v);
    session_t *s = kp_calloc(cnt ? cnt : 1, sizeof *s);
    if (!s)
        return KP_ENOMEM;
    size_t at = 4;
    for (uint32_t i = 0; i < cnt; i++) {
        if (vlen - at < 20) {
            kp_free(s);
            return KP_ECORRUPT;
        }
        s[i].start = (int64_t)kp_be64(v + at);
        s[i].last = (int64_t)kp_be64(v + at + 8);
        s[i].len = kp_be32(v + at + 16);
        at += 20;
        if (vlen - at < s[i].len) {
            kp_free(s);
            return KP_ECORRUPT;
        }
        s[i].state = v + at;
        at += s[i].len;
    }
    *out = s;
    *n = cnt;
    return 0;
}

static int sessions_encode(buf_t *b, const session_t *s, uint32_t n)
{
    b->len = 0;
    int rc = buf_u32(b, n);
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = buf_i64(b, s[i].start) || buf_i64(b, s[i].last) || buf_u32(b, s[i].len) ||
             buf_put(b, s[i].state, s[i].len);
    return rc ? KP_ENOMEM : 0;
}

static int agg_session(task_t *t, kappa_stream_t *n, const kappa_record_t *r, buf_t *k)
{
    const kappa_window_spec_t *w = &n->agg.window;
    int64_t gap = w->gap_ms, ts = r->timestamp;
    int rc = state_key(k, n, false, 0, r);
    if (rc)
        return rc;
    size_t vlen;
    const void *v = store_get(t->state, k->p, k->len, &vlen);
    /* Copy: the store may move under us while we merge. */
    buf_t old = {0};
    if (v && buf_put(&old, v, vlen) != 0)
        return KP_ENOMEM;
    session_t *s;
    uint32_t ns;
    if ((rc = sessions_parse(v ? old.p : NULL, old.len, &s, &ns)) != 0) {
        kp_free(old.p);
        return rc;
    }
    /* The new event's window is [ts, ts + gap]; it merges with every session
     * [start, last + gap] it touches -- a gap of exactly gap_ms still joins,
     * as in Flink and Kafka Streams.  So a session is open while
     * watermark <= last + gap + grace. */
    int64_t mstart = ts, mlast = ts;
    uint32_t first = ns, nmerged = 0;
    for (uint32_t i = 0; i < ns; i++)
        if (ts <= s[i].last + gap && s[i].start <= ts + gap) {
            if (first == ns)
                first = i;
            nmerged++;
            if (s[i].start < mstart)
                mstart = s[i].start;
            if (s[i].last > mlast)
                mlast = s[i].last;
        }
    if (t->watermark != STREAM_WM_NONE && mlast + gap + w->grace_ms < t->watermark) {
        kp_free(s);
        kp_free(old.p);
        return late(t, r);
    }
    kappa_state_t *st = scratch_state(t, n);
    st->present = false;
    st->len = 0;
    for (uint32_t i = 0, seen = 0; i < ns && rc == 0; i++) {
        if (!(ts <= s[i].last + gap && s[i].start <= ts + gap))
            continue;
        if (seen++ == 0) {
            rc = kappa_state_put(st, s[i].state, s[i].len) ? KP_ENOMEM : 0;
        } else if (n->agg.merge(st, s[i].state, s[i].len, n->agg.arg) != 0) {
            KP_ERROR("task %s: session merge of '%s' failed", t->id, n->name);
            rc = t->failed = KP_EINVAL;
        }
        if (rc == 0 && n->agg.emit == KAPPA_EMIT_CHANGES) {
            /* The merged-away session's result is retracted. */
            kappa_window_t ow = {s[i].start, s[i].last + gap};
            kappa_record_t keyrec = {r->key, r->key_len, NULL, 0, r->timestamp};
            rc = emit_result(t, n, &keyrec, NULL, 0, &ow);
        }
    }
    if (rc == 0)
        rc = add_call(t, n, st, r);
    if (rc == 0) {
        /* The new list: unmerged sessions plus the merged one, by start. */
        session_t *out = kp_calloc(ns + 1, sizeof *out);
        uint32_t no = 0;
        bool placed = false;
        if (!out)
            rc = KP_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i <= ns; i++) {
            bool merged = i < ns && ts <= s[i].last + gap && s[i].start <= ts + gap;
            if (!placed && st->present && (i == ns || (!merged && s[i].start > mstart))) {
                out[no++] = (session_t){mstart, mlast, st->data, (uint32_t)st->len};
                placed = true;
            }
            if (i < ns && !merged)
                out[no++] = s[i];
        }
        buf_t enc = {0};
        if (rc == 0)
            rc = sessions_encode(&enc, out, no);
        if (rc == 0)
            rc = no ? store_put(t->state, k->p, k->len, enc.p, enc.len)
                    : store_delete(t->state, k->p, k->len);
        kp_free(enc.p);
        kp_free(out);
    }
    if (rc == 0 && st->present)
        rc = timer_push(t, mlast + gap + w->grace_ms + 1, k->p, k->len);
    if (rc == 0 && n->agg.emit == KAPPA_EMIT_CHANGES) {
        kappa_window_t nw = {mstart, mlast + gap};
        kappa_record_t keyrec = {r->key, r->key_len, NULL, 0, r->timestamp};
        rc = emit_result(t, n, &keyrec, st->present ? st->data : NULL,
                         st->present ? st->len : 0, &nw);
    }
    (void)first;
    (void)nmerged;
    kp_free(s);
    kp_free(old.p);
    return rc;
}

/* A timer fired for state key k: close what the watermark allows. */
static int fire(task_t *t, const uint8_t *k, size_t klen)
{
    if (klen < 2 || k[0] == TASK_META_STORE || k[0] >= t->st->nstores)
        return 0;
    kappa_stream_t *n = t->st->stores[k[0]];
    const kappa_window_spec_t *w = &n->agg.window;
    bool on_close = n->agg.emit == KAPPA_EMIT_ON_CLOSE;
    size_t vlen;
    const void *v = store_get(t->state, k, klen, &vlen);
    if (!v)
        return 0;               /* already closed (a stale timer) */
    kappa_record_t keyrec = {0};
    int rc = 0;
    buf_t kc = {0}, vc = {0};
    /* Copies: emitting can change the store. */
    if (buf_put(&kc, k, klen) || buf_put(&vc, v, vlen)) {
        rc = KP_ENOMEM;
        goto out;
    }
    if (w->type != KAPPA_WINDOW_SESSION) {
        int64_t start;
        key_of_state(kc.p, kc.len, true, &start, &keyrec);
        kappa_window_t win = {start, start + w->size_ms};
        keyrec.timestamp = win.end_ms - 1;
        if ((rc = store_delete(t->state, kc.p, kc.len)) == 0 && on_close)
            rc = emit_result(t, n, &keyrec, vc.p, vc.len, &win);
        goto out;
    }
    session_t *s;
    uint32_t ns;
    if ((rc = sessions_parse(vc.p, vc.len, &s, &ns)) != 0)
        goto out;
    int64_t start;
    key_of_state(kc.p, kc.len, false, &start, &keyrec);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < ns && rc == 0; i++) {
        if (s[i].last + w->gap_ms + w->grace_ms >= t->watermark) {
            s[keep++] = s[i];
            continue;
        }
        kappa_window_t win = {s[i].start, s[i].last + w->gap_ms};
        keyrec.timestamp = win.end_ms - 1;
        if (on_close)
            rc = emit_result(t, n, &keyrec, s[i].state, s[i].len, &win);
    }
    if (rc == 0 && keep != ns) {
        buf_t enc = {0};
        rc = sessions_encode(&enc, s, keep);
        if (rc == 0)
            rc = keep ? store_put(t->state, kc.p, kc.len, enc.p, enc.len)
                      : store_delete(t->state, kc.p, kc.len);
        kp_free(enc.p);
    }
    kp_free(s);
out:
    kp_free(kc.p);
    kp_free(vc.p);
    return rc;
}

static int fire_due(task_t *t)
{
    while (t->ntimers && t->timers[0].fire_ms <= t->watermark && !t->failed) {
        timer_ent_t e = timer_pop(t);
        int rc = fire(t, e.key, e.klen);
        kp_free(e.key);
        if (rc) {
            t->failed = rc;
            return rc;
        }
    }
    return t->failed;
}

/* ---- the graph walk ----------------------------------------------------- */

/* Per-aggregate scratch: one state buffer and one key buffer per node. */
typedef struct agg_scratch {
    kappa_state_t st;
    buf_t key;
} agg_scratch_t;

static agg_scratch_t *scratch_of(task_t *t, const kappa_stream_t *n);

static kappa_state_t *scratch_state(task_t *t, const kappa_stream_t *n)
{
    return &scratch_of(t, n)->st;
}

static int run(task_t *t, kappa_stream_t *n, const kappa_record_t *r)
{
    kappa_ctx_t ctx = {t, n, 0};
    int rc = 0;
    switch (n->type) {
    case NODE_MAP:
    case NODE_FLAT_MAP:
    case NODE_KEY_BY:
        rc = n->fn(&ctx, r, n->arg);
        if (rc == 0 && n->type == NODE_MAP && ctx.emits != 1) {
            KP_ERROR("task %s: map '%s' emitted %d records for one input; use kappa_flat_map "
                     "or kappa_filter", t->id, n->name, ctx.emits);
            rc = KP_EINVAL;
        }
        break;
    case NODE_FILTER:
        if (n->pred(r, n->arg))
            rc = push(t, n, r);
        break;
    case NODE_AGGREGATE: {
        buf_t *k = &scratch_of(t, n)->key;
        switch (n->agg.window.type) {
        case KAPPA_WINDOW_NONE: rc = agg_plain(t, n, r, k); break;
        case KAPPA_WINDOW_SESSION: rc = agg_session(t, n, r, k); break;
        default: rc = agg_fixed_windows(t, n, r, k); break;
        }
        break;
    }
    case NODE_SINK:
        if (n->fn) {
            rc = n->fn(&ctx, r, n->arg);
        } else {
            rc = runner_produce(t, n->topic, -1, r, STREAM_WM_NONE);
            if (rc == 0)
                t->records_out++;
        }
        break;
    case NODE_SOURCE:
    case NODE_REPART_SOURCE:
        rc = push(t, n, r);
        break;
    }
    if (rc && !t->failed) {
        KP_ERROR("task %s: operator '%s' failed: %s", t->id, n->name,
                 rc < 0 ? kp_strerror(rc) : "returned nonzero");
        t->failed = rc < 0 ? rc : KP_EINVAL;
    }
    return t->failed;
}

static int push(task_t *t, kappa_stream_t *n, const kappa_record_t *r)
{
    for (int i = 0; i < n->nchildren && !t->failed; i++)
        run(t, n->children[i], r);
    return t->failed;
}

/* ---- watermark ---------------------------------------------------------- */

static int advance(task_t *t)
{
    int64_t cand = STREAM_WM_NONE;
    kappa_stream_t *in = t->st->input;
    if (in->type == NODE_SOURCE) {
        if (t->max_ts != STREAM_WM_NONE)
            cand = t->max_ts - in->src.max_out_of_orderness_ms;
    } else {
        bool all_idle = true;
        cand = INT64_MAX;
        for (int i = 0; i < t->nup; i++) {
            if (t->up_wm[i] == STREAM_WM_IDLE)
                continue;
            all_idle = false;
            if (t->up_wm[i] < cand)
                cand = t->up_wm[i];
        }
        if (all_idle)
            cand = STREAM_WM_NONE;  /* nothing to go by: hold */
    }
    if (cand != STREAM_WM_NONE && (t->watermark == STREAM_WM_NONE || cand > t->watermark)) {
        t->watermark = cand;
        return fire_due(t);
    }
    return 0;
}

/* ---- task life ---------------------------------------------------------- */

/* Scratch buffers live in an array parallel to the sub-topology's stores. */
typedef struct task_ext {
    agg_scratch_t scratch[STREAM_MAX_NODES];
} task_ext_t;

static task_ext_t *ext_of(task_t *t)
{
    return (task_ext_t *)t->ext;
}

static agg_scratch_t *scratch_of(task_t *t, const kappa_stream_t *n)
{
    return &ext_of(t)->scratch[n->store];
}

int task_init(task_t *t, runner_t *rn, subtopo_t *st, int32_t partition)
{
    memset(t, 0, sizeof *t);
    t->rn = rn;
    t->st = st;
    t->partition = partition;
    snprintf(t->id, sizeof t->id, "s%d-p%" PRId32, st->id, partition);
    t->max_ts = t->watermark = t->reported_wm = STREAM_WM_NONE;
    t->changelog_next = t->pending_changelog_next = 0;
    t->ext = kp_calloc(1, sizeof(task_ext_t));
    if (!t->ext)
        return KP_ENOMEM;
    int rc = store_new(&t->state);
    if (rc)
        return rc;
    return 0;
}

int task_set_upstreams(task_t *t, int n)
{
    kp_free(t->up_wm);
    t->up_wm = kp_calloc(n > 0 ? (size_t)n : 1, sizeof *t->up_wm);
    if (!t->up_wm)
        return KP_ENOMEM;
    t->nup = n;
    for (int i = 0; i < n; i++)
        t->up_wm[i] = STREAM_WM_NONE;
    return 0;
}

void task_free(task_t *t)
{
    timers_clear(t);
    kp_free(t->timers);
    store_free(t->state);
    kp_free(t->up_wm);
    if (t->ext) {
        for (int i = 0; i < STREAM_MAX_NODES; i++) {
            kp_free(ext_of(t)->scratch[i].st.data);
            kp_free(ext_of(t)->scratch[i].key.p);
        }
        kp_free(t->ext);
    }
    t->ext = NULL;
    t->timers = NULL;
    t->state = NULL;
    t->up_wm = NULL;
}

/* Meta entry: i64 max_ts, i64 watermark, i64 reported_wm, u32 nup, nup x i64. */
static int meta_put(task_t *t)
{
    buf_t b = {0};
    int rc = buf_i64(&b, t->max_ts) || buf_i64(&b, t->watermark) ||
             buf_i64(&b, t->reported_wm) || buf_u32(&b, (uint32_t)t->nup);
    for (int i = 0; i < t->nup && rc == 0; i++)
        rc = buf_i64(&b, t->up_wm[i]);
    uint8_t key = TASK_META_STORE;
    if (rc == 0)
        rc = store_put(t->state, &key, 1, b.p, b.len);
    kp_free(b.p);
    return rc ? KP_ENOMEM : 0;
}

static int rebuild_timer(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    task_t *t = ctx;
    const uint8_t *k = key;
    if (klen < 2 || k[0] == TASK_META_STORE || k[0] >= t->st->nstores)
        return 0;
    kappa_stream_t *n = t->st->stores[k[0]];
    const kappa_window_spec_t *w = &n->agg.window;
    if (w->type == KAPPA_WINDOW_TUMBLING || w->type == KAPPA_WINDOW_HOPPING) {
        if (klen < 10)
            return KP_ECORRUPT;
        int64_t start = (int64_t)kp_be64(k + 1);
        return timer_push(t, start + w->size_ms + w->grace_ms, k, klen);
    }
    if (w->type == KAPPA_WINDOW_SESSION) {
        session_t *s;
        uint32_t ns;
        int rc = sessions_parse(val, vlen, &s, &ns);
        for (uint32_t i = 0; i < ns && rc == 0; i++)
            rc = timer_push(t, s[i].last + w->gap_ms + w->grace_ms + 1, k, klen);
        kp_free(s);
        return rc;
    }
    return 0;
}

int task_after_restore(task_t *t)
{
    uint8_t mk = TASK_META_STORE;
    size_t vlen;
    const uint8_t *v = store_get(t->state, &mk, 1, &vlen);
    if (v && vlen >= 28) {
        t->max_ts = (int64_t)kp_be64(v);
        t->watermark = (int64_t)kp_be64(v + 8);
        t->reported_wm = (int64_t)kp_be64(v + 16);
        uint32_t nup = kp_be32(v + 24);
        if ((int)nup == t->nup && vlen == 28 + 8 * (size_t)nup)
            for (uint32_t i = 0; i < nup; i++)
                t->up_wm[i] = (int64_t)kp_be64(v + 28 + 8 * (size_t)i);
    }
    timers_clear(t);
    return store_each(t->state, rebuild_timer, t);
}

int task_process(task_t *t, const kappa_record_t *r, int64_t offset)
{
    t->next_offset = offset + 1;
    t->busy = true;
    if (t->records_in++ == 0)
        KP_DEBUG("task %s: first record at offset %" PRId64, t->id, offset);
    t->at_end = false;
    t->idle = false;
    if (t->st->input->type == NODE_SOURCE && (t->max_ts == STREAM_WM_NONE || r->timestamp > t->max_ts))
        t->max_ts = r->timestamp;
    int rc = run(t, t->st->input, r);
    if (rc == 0)
        rc = advance(t);
    return rc;
}

int task_upstream_watermark(task_t *t, int up, int64_t wm, int64_t offset)
{
    t->next_offset = offset + 1;
    t->busy = true;
    if (up < 0 || up >= t->nup) {
        KP_WARN("task %s: watermark report from upstream task %d of %d; ignored", t->id, up,
                t->nup);
        return 0;
    }
    t->up_wm[up] = wm;
    return advance(t);
}

int task_tick(task_t *t, int64_t now_ms)
{
    kappa_stream_t *in = t->st->input;
    bool idle = false;
    if (in->type == NODE_SOURCE) {
        idle = in->src.idle_timeout_ms >= 0 && t->at_end &&
               now_ms - t->last_input_ms >= in->src.idle_timeout_ms;
    } else {
        idle = t->nup > 0;
        for (int i = 0; i < t->nup; i++)
            idle &= t->up_wm[i] == STREAM_WM_IDLE;
    }
    t->idle = idle;
    int64_t report = idle ? STREAM_WM_IDLE : t->watermark;
    if (t->st->nrepart_out && report != t->reported_wm)
        t->busy = true;         /* the next commit carries the report */
    return t->failed;
}

int task_prepare_commit(task_t *t)
{
    int rc = meta_put(t);
    if (rc)
        return rc;
    int64_t report = t->idle ? STREAM_WM_IDLE : t->watermark;
    if (report == t->reported_wm || report == STREAM_WM_NONE)
        return 0;
    for (int i = 0; i < t->st->nrepart_out; i++) {
        kappa_stream_t *k = t->st->repart_out[i];
        int32_t np = runner_topic_partitions(t->rn, k->topic);
        for (int32_t p = 0; p < np; p++)
            if ((rc = runner_produce(t, k->topic, p, NULL, report)) != 0)
                return rc;
    }
    t->reported_wm = report;
    /* The meta entry must carry the report we just made. */
    return meta_put(t);
}

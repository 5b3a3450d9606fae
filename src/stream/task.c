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
    const kappa_record_t *key;          /* processors: the current key */
};

struct kappa_state {
    uint8_t *data;
    size_t len, cap;
    bool present;
};

static int push(task_t *t, kappa_stream_t *n, const kappa_record_t *r);
static int join_record(task_t *t, kappa_stream_t *n, int side, const kappa_record_t *r);
static int join_table_record(task_t *t, kappa_stream_t *n, const kappa_record_t *r);
static int table_update(task_t *t, kappa_stream_t *n, const kappa_record_t *r);
static int join_fire(task_t *t, kappa_stream_t *n, const uint8_t *k, size_t klen);
static int proc_record(task_t *t, kappa_stream_t *n, const kappa_record_t *r);
static int proc_fire(task_t *t, kappa_stream_t *n, const uint8_t *k, size_t klen);
static int join_rebuild_timer(task_t *t, kappa_stream_t *n, const uint8_t *k, size_t klen, const void *val, size_t vlen);

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
    stream_record_epoch++;      /* a new record: its value is checked afresh */
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
    kappa_ctx_t ctx = {t, n, 0, NULL};
    stream_record_epoch++;
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

/* A late record is counted and sent to the late topic once, however many
 * windowed operators of the task find it late. */
static int late(task_t *t, const kappa_record_t *r)
{
    if (t->late_mark == t->records_in)
        return 0;
    t->late_mark = t->records_in;
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
/* A timer set for time fire_ms fired for state key k: close what it is for.
 * Sessions close only by their own timer (last + gap + grace + 1 <= fire_ms):
 * every event of a session sets a timer, and a restored task rebuilds only
 * the current ones, so closing later sessions from a stale timer would close
 * them in a different order than after a restore. */
static int fire(task_t *t, const uint8_t *k, size_t klen, int64_t fire_ms)
{
    if (klen < 2 || k[0] == TASK_META_STORE || k[0] >= t->st->nstores)
        return 0;
    kappa_stream_t *n = t->st->stores[k[0]];
    if (n->type == NODE_JOIN)
        return join_fire(t, n, k, klen);
    if (n->type == NODE_PROCESS)
        return proc_fire(t, n, k, klen);
    if (n->type != NODE_AGGREGATE)
        return 0;
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
        if (s[i].last + w->gap_ms + w->grace_ms + 1 > fire_ms) {
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
        int rc = fire(t, e.key, e.klen, e.fire_ms);
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

static int run(task_t *t, kappa_stream_t *n, kappa_stream_t *from, const kappa_record_t *r)
{
    /* No epoch bump here: r is the record that entered (source, buffer) or
     * was emitted, and both of those bumped it -- so a filter and the map
     * after it share one check of the value. */
    kappa_ctx_t ctx = {t, n, 0, NULL};
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
    case NODE_TABLE:
        rc = table_update(t, n, r);
        break;
    case NODE_JOIN:
        rc = join_record(t, n, from == n->input ? 0 : 1, r);
        break;
    case NODE_JOIN_TABLE:
        if (from == n->input)   /* table updates arrive via table_update only */
            rc = join_table_record(t, n, r);
        break;
    case NODE_PROCESS:
        rc = proc_record(t, n, r);
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
        run(t, n->children[i], n, r);
    return t->failed;
}

/* ---- tables and joins ------------------------------------------------------ */

/* Join and table state keys: [idx][side][window start if windowed][nullflag][key].
 * Join lists: u32 n, then n x (i64 ts, u32 vlen or UINT32_MAX for null, value). */
static int join_key(buf_t *b, const kappa_stream_t *n, int side, bool windowed, int64_t start,
                    const kappa_record_t *r)
{
    b->len = 0;
    if (buf_u8(b, (uint8_t)n->store) || buf_u8(b, (uint8_t)side) ||
        (windowed && buf_i64(b, start)) || buf_u8(b, r->key ? 1 : 0))
        return KP_ENOMEM;
    return r->key ? buf_put(b, r->key, r->key_len) : 0;
}

static int table_update(task_t *t, kappa_stream_t *n, const kappa_record_t *r)
{
    buf_t *k = &scratch_of(t, n)->key;
    int rc = join_key(k, n, 0, false, 0, r);
    if (rc)
        return rc;
    return r->value ? store_put(t->state, k->p, k->len, r->value, r->value_len)
                    : store_delete(t->state, k->p, k->len);
}

static int call_join(task_t *t, kappa_stream_t *n, const kappa_record_t *l,
                     const kappa_record_t *r)
{
    kappa_ctx_t ctx = {t, n, 0, NULL};
    stream_record_epoch++;
    int rc = n->join.fn(&ctx, l, r, n->join.arg);
    if (rc && !t->failed) {
        KP_ERROR("task %s: join '%s' failed (%d)", t->id, n->name, rc);
        t->failed = KP_EINVAL;
    }
    return t->failed;
}

static int join_table_record(task_t *t, kappa_stream_t *n, const kappa_record_t *r)
{
    /* A table join has no state of its own (no store index): it borrows the
     * table's key buffer, which nothing else uses while it runs. */
    buf_t *k = &scratch_of(t, n->input2)->key;
    /* The table's rows live under the table node's store index. */
    int rc = join_key(k, n->input2, 0, false, 0, r);
    if (rc)
        return rc;
    size_t vlen;
    const void *v = store_get(t->state, k->p, k->len, &vlen);
    if (!v)
        return call_join(t, n, r, NULL);
    /* Copy: the join function's emits may change the store. */
    buf_t copy = {0};
    if (buf_put(&copy, v, vlen)) {
        kp_free(copy.p);
        return KP_ENOMEM;
    }
    kappa_record_t right = {r->key, r->key_len, copy.p, vlen, r->timestamp};
    rc = call_join(t, n, r, &right);
    kp_free(copy.p);
    return rc;
}

typedef struct jentry {
    int64_t ts;
    const uint8_t *v;
    uint32_t vlen;              /* UINT32_MAX: null */
} jentry_t;

static int jlist_parse(const uint8_t *v, size_t vlen, jentry_t **out, uint32_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (vlen < 4)
        return KP_ECORRUPT;
    uint32_t cnt = kp_be32(v);
    jentry_t *e = kp_calloc(cnt ? cnt : 1, sizeof *e);
    if (!e)
        return KP_ENOMEM;
    size_t at = 4;
    for (uint32_t i = 0; i < cnt; i++) {
        if (vlen - at < 12) {
            kp_free(e);
            return KP_ECORRUPT;
        }
        e[i].ts = (int64_t)kp_be64(v + at);
        e[i].vlen = kp_be32(v + at + 8);
        at += 12;
        size_t len = e[i].vlen == UINT32_MAX ? 0 : e[i].vlen;
        if (vlen - at < len) {
            kp_free(e);
            return KP_ECORRUPT;
        }
        e[i].v = v + at;
        at += len;
    }
    *out = e;
    *n = cnt;
    return 0;
}

static int jlist_encode(buf_t *b, const jentry_t *e, uint32_t n)
{
    b->len = 0;
    int rc = buf_u32(b, n);
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = buf_i64(b, e[i].ts) || buf_u32(b, e[i].vlen) ||
             (e[i].vlen != UINT32_MAX && buf_put(b, e[i].v, e[i].vlen));
    return rc ? KP_ENOMEM : 0;
}

/* How long a join entry must be kept: it can still meet records up to this
 * watermark.  INT64_MAX: for ever (unbounded joins). */
static int64_t join_keep_until(const kappa_stream_t *n, int side, int64_t ts, int64_t wstart)
{
    const kappa_join_opts_t *o = &n->join;
    switch (o->type) {
    case KAPPA_JOIN_WINDOW: return wstart + o->size_ms + o->grace_ms;
    case KAPPA_JOIN_INTERVAL: {
        /* A record is late when it is more than grace behind the watermark
         * (see join_record), so a record that is not late has ts >= W -
         * grace, and its partners lie within M = max(|lower|, |upper|) of
         * it: an entry is kept while ts + grace + M >= W.  (Keeping by side,
         * ts + upper for lefts and ts - lower for rights, lost pairs whose
         * second record was not late.) */
        (void)side;
        int64_t m = o->upper_ms > -o->lower_ms ? o->upper_ms : -o->lower_ms;
        if (-o->upper_ms > m)
            m = -o->upper_ms;
        if (o->lower_ms > m)
            m = o->lower_ms;
        return ts + o->grace_ms + m;
    }
    default: return INT64_MAX;
    }
}

static bool join_matches(const kappa_stream_t *n, int64_t lts, int64_t rts)
{
    if (n->join.type != KAPPA_JOIN_INTERVAL)
        return true;            /* same key (and same window, by the state key) */
    int64_t d = rts - lts;
    return d >= n->join.lower_ms && d <= n->join.upper_ms;
}

static int join_record(task_t *t, kappa_stream_t *n, int side, const kappa_record_t *r)
{
    const kappa_join_opts_t *o = &n->join;
    bool windowed = o->type == KAPPA_JOIN_WINDOW;
    int64_t wstart = windowed ? floor_div(r->timestamp, o->size_ms) * o->size_ms : 0;
    int64_t keep = join_keep_until(n, side, r->timestamp, wstart);
    /* Late: for windows, the window closed; for intervals, more than grace
     * behind the watermark (consistent with join_keep_until). */
    int64_t deadline = o->type == KAPPA_JOIN_INTERVAL ? r->timestamp + o->grace_ms : keep;
    if (t->watermark != STREAM_WM_NONE && keep != INT64_MAX && deadline < t->watermark)
        return late(t, r);
    buf_t *k = &scratch_of(t, n)->key;
    buf_t other = {0}, mine = {0}, enc = {0};
    jentry_t *oe = NULL, *me = NULL;
    uint32_t on = 0, mn = 0;
    int rc = join_key(k, n, 1 - side, windowed, wstart, r);
    if (rc)
        goto out;
    size_t vlen;
    const void *v = store_get(t->state, k->p, k->len, &vlen);
    if (v && buf_put(&other, v, vlen)) {
        rc = KP_ENOMEM;
        goto out;
    }
    if ((rc = jlist_parse(v ? other.p : NULL, other.len, &oe, &on)) != 0)
        goto out;
    /* Pairs with everything on the other side, in arrival order. */
    for (uint32_t i = 0; i < on && rc == 0; i++) {
        kappa_record_t o2 = {r->key, r->key_len, oe[i].vlen == UINT32_MAX ? NULL : oe[i].v,
                             oe[i].vlen == UINT32_MAX ? 0 : oe[i].vlen, oe[i].ts};
        const kappa_record_t *l = side == 0 ? r : &o2, *rr = side == 0 ? &o2 : r;
        if (join_matches(n, l->timestamp, rr->timestamp))
            rc = call_join(t, n, l, rr);
    }
    if (rc)
        goto out;
    /* Then this record joins its own side's list. */
    if ((rc = join_key(k, n, side, windowed, wstart, r)) != 0)
        goto out;
    v = store_get(t->state, k->p, k->len, &vlen);
    if (v && buf_put(&mine, v, vlen)) {
        rc = KP_ENOMEM;
        goto out;
    }
    if ((rc = jlist_parse(v ? mine.p : NULL, mine.len, &me, &mn)) != 0)
        goto out;
    jentry_t *all = kp_calloc(mn + 1, sizeof *all);
    if (!all) {
        rc = KP_ENOMEM;
        goto out;
    }
    if (mn)
        memcpy(all, me, mn * sizeof *all);
    all[mn] = (jentry_t){r->timestamp, r->value,
                         r->value ? (uint32_t)r->value_len : UINT32_MAX};
    rc = jlist_encode(&enc, all, mn + 1);
    kp_free(all);
    if (rc == 0)
        rc = store_put(t->state, k->p, k->len, enc.p, enc.len);
    if (rc == 0 && keep != INT64_MAX && (mn == 0 || !windowed))
        rc = timer_push(t, keep + 1, k->p, k->len);
out:
    kp_free(oe);
    kp_free(me);
    kp_free(other.p);
    kp_free(mine.p);
    kp_free(enc.p);
    return rc;
}

/* A join list's timer: drop the entries no future record can meet. */
static int join_fire(task_t *t, kappa_stream_t *n, const uint8_t *k, size_t klen)
{
    size_t vlen;
    const void *v = store_get(t->state, k, klen, &vlen);
    if (!v)
        return 0;
    if (n->join.type == KAPPA_JOIN_WINDOW)
        return store_delete(t->state, k, klen);
    int side = k[1];
    buf_t copy = {0}, enc = {0};
    jentry_t *e = NULL;
    uint32_t ne = 0, keep = 0;
    int rc = buf_put(&copy, v, vlen) ? KP_ENOMEM : jlist_parse(copy.p, copy.len, &e, &ne);
    for (uint32_t i = 0; rc == 0 && i < ne; i++)
        if (join_keep_until(n, side, e[i].ts, 0) >= t->watermark)
            e[keep++] = e[i];
    if (rc == 0 && keep != ne) {
        if (keep == 0) {
            rc = store_delete(t->state, k, klen);
        } else if ((rc = jlist_encode(&enc, e, keep)) == 0) {
            buf_t kc = {0};
            rc = buf_put(&kc, k, klen) ? KP_ENOMEM
                                       : store_put(t->state, kc.p, kc.len, enc.p, enc.len);
            kp_free(kc.p);
        }
    }
    kp_free(e);
    kp_free(copy.p);
    kp_free(enc.p);
    return rc;
}

static int join_rebuild_timer(task_t *t, kappa_stream_t *n, const uint8_t *k, size_t klen,
                              const void *val, size_t vlen)
{
    if (n->join.type == KAPPA_JOIN_UNBOUNDED || klen < 3)
        return 0;
    if (n->join.type == KAPPA_JOIN_WINDOW) {
        if (klen < 11)
            return KP_ECORRUPT;
        int64_t start = (int64_t)kp_be64(k + 2);
        return timer_push(t, join_keep_until(n, k[1], 0, start) + 1, k, klen);
    }
    jentry_t *e;
    uint32_t ne;
    int rc = jlist_parse(val, vlen, &e, &ne);
    for (uint32_t i = 0; rc == 0 && i < ne; i++)
        rc = timer_push(t, join_keep_until(n, k[1], e[i].ts, 0) + 1, k, klen);
    kp_free(e);
    return rc;
}

/* ---- watermark ---------------------------------------------------------- */

/* An input's own watermark, or STREAM_WM_NONE (nothing yet) / IDLE. */
static int64_t input_wm(const task_t *t, const task_input_t *in)
{
    if (in->idle)
        return STREAM_WM_IDLE;
    if (in->node->type == NODE_REPART_SOURCE) {
        bool all_idle = in->nup > 0;
        int64_t m = INT64_MAX;
        for (int i = 0; i < in->nup; i++) {
            if (in->up_wm[i] == STREAM_WM_IDLE)
                continue;
            all_idle = false;
            if (in->up_wm[i] < m)
                m = in->up_wm[i];
        }
        if (all_idle)
            return STREAM_WM_IDLE;
        return m;           /* STREAM_WM_NONE while an upstream task has not reported */
    }
    (void)t;
    if (in->max_ts == STREAM_WM_NONE)
        return STREAM_WM_NONE;
    return in->max_ts - in->node->src.max_out_of_orderness_ms;
}

static int advance(task_t *t)
{
    /* Tables carry no event-time progress: a dimension table that changes
     * once a day must not hold every window open. */
    int64_t cand = INT64_MAX;
    bool any = false;
    for (int i = 0; i < t->nin; i++) {
        if (t->in[i].node->type == NODE_TABLE)
            continue;
        int64_t w = input_wm(t, &t->in[i]);
        if (w == STREAM_WM_IDLE)
            continue;
        if (w == STREAM_WM_NONE)
            return 0;       /* an input not heard from yet holds time */
        any = true;
        if (w < cand)
            cand = w;
    }
    if (!any)
        return 0;           /* all idle: nothing to go by, hold */
    if (t->watermark == STREAM_WM_NONE || cand > t->watermark) {
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
    t->watermark = t->reported_wm = STREAM_WM_NONE;
    t->nin = st->ninputs;
    for (int i = 0; i < t->nin; i++) {
        t->in[i].node = st->inputs[i];
        t->in[i].max_ts = STREAM_WM_NONE;
    }
    t->ext = kp_calloc(1, sizeof(task_ext_t));
    if (!t->ext)
        return KP_ENOMEM;
    return store_new(&t->state);
}

int task_set_input_upstreams(task_t *t, int in, int n)
{
    task_input_t *x = &t->in[in];
    kp_free(x->up_wm);
    x->up_wm = kp_calloc(n > 0 ? (size_t)n : 1, sizeof *x->up_wm);
    if (!x->up_wm)
        return KP_ENOMEM;
    x->nup = n;
    for (int i = 0; i < n; i++)
        x->up_wm[i] = STREAM_WM_NONE;
    return 0;
}

int task_set_upstreams(task_t *t, int n)
{
    return task_set_input_upstreams(t, 0, n);
}

void task_free(task_t *t)
{
    timers_clear(t);
    kp_free(t->timers);
    store_free(t->state);
    for (int i = 0; i < t->nin; i++) {
        task_input_t *x = &t->in[i];
        kp_free(x->up_wm);
        for (size_t j = 0; j < x->len; j++) {
            pending_t *p = &x->buf[(x->head + j) % x->cap];
            kp_free((void *)p->r.key);
            kp_free((void *)p->r.value);
        }
        kp_free(x->buf);
        x->up_wm = NULL;
        x->buf = NULL;
        x->len = 0;
    }
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
}

/* The current source tag's entry (store key TASK_META_STORE, 's'). */
#define TASK_META_TAG_KEY ((const uint8_t *)"\xff" "s")

/* Meta entry: i64 watermark, i64 reported_wm, u32 ninputs, then per input
 * i64 max_ts, u32 nup, nup x i64. */
static int meta_put(task_t *t)
{
    buf_t b = {0};
    int rc = buf_i64(&b, t->watermark) || buf_i64(&b, t->reported_wm) ||
             buf_u32(&b, (uint32_t)t->nin);
    for (int i = 0; i < t->nin && rc == 0; i++) {
        rc = buf_i64(&b, t->in[i].max_ts) || buf_u32(&b, (uint32_t)t->in[i].nup);
        for (int j = 0; j < t->in[i].nup && rc == 0; j++)
            rc = buf_i64(&b, t->in[i].up_wm[j]);
    }
    uint8_t key = TASK_META_STORE;
    if (rc == 0)
        rc = store_put(t->state, &key, 1, b.p, b.len);
    kp_free(b.p);
    if (rc == 0 && t->source_tags && t->tag.topic) {
        /* The current tag is state too: a restarted task whose first work
         * is a watermark report tags what that report closes as the
         * uninterrupted run did. */
        uint8_t tag[CUT_TAG_MAX];
        int n = cut_tag_encode(&t->tag, tag, sizeof tag);
        if (n > 0)
            rc = store_put(t->state, TASK_META_TAG_KEY, 2, tag, (size_t)n);
    }
    return rc ? KP_ENOMEM : 0;
}

static void meta_get_tag(task_t *t)
{
    size_t vlen;
    const uint8_t *v = store_get(t->state, TASK_META_TAG_KEY, 2, &vlen);
    cut_tag_t tag;
    t->tag = (cut_tag_t){0};
    if (v && cut_tag_decode(v, vlen, &tag) == 0 &&
        (tag.topic = task_source_topic(t, tag.topic, tag.topic_len)) != NULL)
        t->tag = tag;
}

static void meta_get(task_t *t)
{
    uint8_t mk = TASK_META_STORE;
    size_t vlen;
    const uint8_t *v = store_get(t->state, &mk, 1, &vlen);
    if (!v || vlen < 20 || (int)kp_be32(v + 16) != t->nin)
        return;
    size_t at = 20;
    /* Parse fully before applying: a meta entry of another shape (a changed
     * job) is ignored as a whole. */
    for (int i = 0; i < t->nin; i++) {
        if (vlen - at < 12)
            return;
        uint32_t nup = kp_be32(v + at + 8);
        if ((int)nup != t->in[i].nup || vlen - at - 12 < 8 * (size_t)nup)
            return;
        at += 12 + 8 * (size_t)nup;
    }
    if (at != vlen)
        return;
    t->watermark = (int64_t)kp_be64(v);
    t->reported_wm = (int64_t)kp_be64(v + 8);
    at = 20;
    for (int i = 0; i < t->nin; i++) {
        t->in[i].max_ts = (int64_t)kp_be64(v + at);
        at += 12;
        for (int j = 0; j < t->in[i].nup; j++, at += 8)
            t->in[i].up_wm[j] = (int64_t)kp_be64(v + at);
    }
}

static int rebuild_timer(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    task_t *t = ctx;
    const uint8_t *k = key;
    if (klen < 2 || k[0] == TASK_META_STORE || k[0] >= t->st->nstores)
        return 0;
    kappa_stream_t *n = t->st->stores[k[0]];
    if (n->type == NODE_JOIN)
        return join_rebuild_timer(t, n, k, klen, val, vlen);
    if (n->type == NODE_PROCESS) {
        /* Timer registrations: [idx][1][ts][nullflag][key]. */
        if (klen >= 11 && k[1] == 1)
            return timer_push(t, (int64_t)kp_be64(k + 2), k, klen);
        return 0;
    }
    if (n->type != NODE_AGGREGATE)
        return 0;
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

/* ---- processors ------------------------------------------------------------ */

/* Processor state keys: [idx][0][nullflag][key]; timer registrations
 * [idx][1][ts, 8 bytes BE][nullflag][key] with an empty value, so timers
 * are state too: changelogged, snapshotted and rebuilt after a restore. */
static int proc_key(buf_t *b, const kappa_stream_t *n, int kind, int64_t ts,
                    const kappa_record_t *r)
{
    b->len = 0;
    if (buf_u8(b, (uint8_t)n->store) || buf_u8(b, (uint8_t)kind) || (kind == 1 && buf_i64(b, ts)) ||
        buf_u8(b, r->key ? 1 : 0))
        return KP_ENOMEM;
    return r->key ? buf_put(b, r->key, r->key_len) : 0;
}

/* Call fn with the key's state loaded, then store what it left. */
static int proc_call(task_t *t, kappa_stream_t *n, const kappa_record_t *key,
                     const kappa_record_t *in)
{
    buf_t k = {0};
    kappa_state_t *st = scratch_state(t, n);
    int rc = proc_key(&k, n, 0, 0, key);
    if (rc == 0)
        rc = load_state(t, st, &k);
    if (rc == 0) {
        kappa_ctx_t ctx = {t, n, 0, key};
        stream_record_epoch++;
        int urc = in ? n->proc.process(&ctx, st, in, n->proc.arg)
                     : n->proc.on_timer(&ctx, st, key, n->proc.arg);
        if (urc && !t->failed) {
            KP_ERROR("task %s: processor '%s' failed (%d)", t->id, n->name, urc);
            t->failed = KP_EINVAL;
        }
        rc = t->failed;
    }
    if (rc == 0)
        rc = save_state(t, st, &k);
    kp_free(k.p);
    return rc;
}

static int proc_record(task_t *t, kappa_stream_t *n, const kappa_record_t *r)
{
    return proc_call(t, n, r, r);
}

int kappa_timer_set(kappa_ctx_t *ctx, int64_t ts)
{
    task_t *t = ctx->t;
    kappa_stream_t *n = ctx->node;
    if (n->type != NODE_PROCESS || !ctx->key || !n->proc.on_timer)
        return -1;
    buf_t k = {0};
    int rc = proc_key(&k, n, 1, ts, ctx->key);
    size_t vlen;
    if (rc == 0 && !store_get(t->state, k.p, k.len, &vlen)) {
        rc = store_put(t->state, k.p, k.len, "", 0);
        if (rc == 0)
            rc = timer_push(t, ts, k.p, k.len);
    }
    kp_free(k.p);
    return rc ? -1 : 0;
}

static int proc_fire(task_t *t, kappa_stream_t *n, const uint8_t *k, size_t klen)
{
    size_t vlen;
    if (klen < 11 || k[1] != 1 || !store_get(t->state, k, klen, &vlen))
        return 0;
    buf_t kc = {0};
    if (buf_put(&kc, k, klen))
        return KP_ENOMEM;
    int rc = store_delete(t->state, kc.p, kc.len);
    bool present = kc.p[10] != 0;
    kappa_record_t key = {present ? kc.p + 11 : NULL, present ? kc.len - 11 : 0, NULL, 0,
                          (int64_t)kp_be64(kc.p + 2)};
    if (rc == 0)
        rc = proc_call(t, n, &key, NULL);
    kp_free(kc.p);
    return rc;
}

int task_after_restore(task_t *t)
{
    meta_get(t);
    meta_get_tag(t);
    timers_clear(t);
    return store_each(t->state, rebuild_timer, t);
}

/* Take one record of input `in` through the graph.  Everything it emits,
 * and every timer it lets fire, carries its source tag. */
static int take(task_t *t, int in, const kappa_record_t *r, int64_t offset,
                const cut_tag_t *tag)
{
    task_input_t *x = &t->in[in];
    x->next_offset = offset + 1;
    t->busy = true;
    if (tag) {
        t->tag = *tag;
    } else if (x->node->type != NODE_REPART_SOURCE) {
        t->tag = (cut_tag_t){x->node->topic, strlen(x->node->topic), t->partition, offset};
    } else {
        /* An untagged repartition record (an upstream without tags): its
         * outputs must not claim the previous record's input. */
        t->tag = (cut_tag_t){0};
    }
    /* An event time far outside any calendar would overflow window and
     * watermark arithmetic (and collide with the sentinels): such a record
     * is late by definition -- counted, sent to the late topic, skipped. */
    if (r->timestamp < -STREAM_TS_LIMIT || r->timestamp > STREAM_TS_LIMIT) {
        t->records_in++;
        return late(t, r);
    }
    if (t->records_in++ == 0)
        KP_DEBUG("task %s: first record at offset %" PRId64, t->id, offset);
    if (x->node->type != NODE_REPART_SOURCE &&
        (x->max_ts == STREAM_WM_NONE || r->timestamp > x->max_ts))
        x->max_ts = r->timestamp;
    int rc = run(t, x->node, NULL, r);
    if (rc == 0)
        rc = advance(t);
    return rc;
}

static int take_watermark(task_t *t, int in, int up, int64_t wm, int64_t offset)
{
    task_input_t *x = &t->in[in];
    x->next_offset = offset + 1;
    t->busy = true;
    if (up < 0 || up >= x->nup) {
        KP_WARN("task %s: watermark report from upstream task %d of %d; ignored", t->id, up,
                x->nup);
        return 0;
    }
    x->up_wm[up] = wm;
    return advance(t);
}

/* The deterministic merge of a multi-input task: take the buffered record
 * with the smallest timestamp (ties: the lower input), but only while every
 * input without buffered records is at its end or idle -- otherwise its next
 * record might be earlier, and a replay must decide the same way. */
static int drain(task_t *t)
{
    while (!t->failed) {
        int best = -1;
        int64_t best_ts = 0;
        for (int i = 0; i < t->nin; i++) {
            task_input_t *x = &t->in[i];
            if (x->len == 0) {
                if (!x->at_end && !x->idle)
                    return 0;
                continue;
            }
            const pending_t *p = &x->buf[x->head];
            int64_t ts = p->up >= 0 ? INT64_MIN : p->r.timestamp;   /* reports go first */
            if (best < 0 || ts < best_ts) {
                best = i;
                best_ts = ts;
            }
        }
        if (best < 0)
            return 0;
        task_input_t *x = &t->in[best];
        pending_t p = x->buf[x->head];
        x->head = (x->head + 1) % x->cap;
        x->len--;
        stream_record_epoch++;  /* buffered copies may reuse a freed copy's address */
        int rc = p.up >= 0 ? take_watermark(t, best, p.up, p.wm, p.offset)
                           : take(t, best, &p.r, p.offset, p.tag.topic ? &p.tag : NULL);
        kp_free((void *)p.r.key);
        kp_free((void *)p.r.value);
        if (rc)
            return rc;
    }
    return t->failed;
}

static int enqueue(task_t *t, int in, const kappa_record_t *r, int64_t offset, int up, int64_t wm,
                   const cut_tag_t *tag)
{
    task_input_t *x = &t->in[in];
    if (x->len == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 1024;
        pending_t *n = kp_malloc(cap * sizeof *n);
        if (!n)
            return KP_ENOMEM;
        for (size_t i = 0; i < x->len; i++)
            n[i] = x->buf[(x->head + i) % x->cap];
        kp_free(x->buf);
        x->buf = n;
        x->cap = cap;
        x->head = 0;
    }
    pending_t p = {.offset = offset, .up = up, .wm = wm};
    if (tag)
        p.tag = *tag;       /* tag->topic is a node's topic: no copy needed */
    if (r) {
        p.r = *r;
        p.r.key = NULL;
        p.r.value = NULL;
        if (r->key && !(p.r.key = kp_malloc(r->key_len ? r->key_len : 1)))
            return KP_ENOMEM;
        if (r->value && !(p.r.value = kp_malloc(r->value_len ? r->value_len : 1))) {
            kp_free((void *)p.r.key);
            return KP_ENOMEM;
        }
        if (r->key)
            memcpy((void *)p.r.key, r->key, r->key_len);
        if (r->value)
            memcpy((void *)p.r.value, r->value, r->value_len);
    }
    x->buf[(x->head + x->len++) % x->cap] = p;
    x->at_end = false;
    x->idle = false;
    return 0;
}

int task_offer_tagged(task_t *t, int in, const kappa_record_t *r, int64_t offset,
                      const cut_tag_t *tag)
{
    t->in[in].at_end = false;
    t->in[in].idle = false;
    if (t->in[in].node->type != NODE_TABLE)
        t->idle = false;        /* reported as active again at the next commit */
    if (t->nin == 1)
        return take(t, in, r, offset, tag);
    int rc = enqueue(t, in, r, offset, -1, 0, tag);
    return rc ? rc : drain(t);
}

int task_offer(task_t *t, int in, const kappa_record_t *r, int64_t offset)
{
    return task_offer_tagged(t, in, r, offset, NULL);
}

const char *task_source_topic(const task_t *t, const char *topic, size_t len)
{
    const kappa_job_t *job = t->st->input->job;
    for (int i = 0; i < job->nnodes; i++) {
        const kappa_stream_t *n = job->nodes[i];
        if ((n->type == NODE_SOURCE || n->type == NODE_TABLE) && strlen(n->topic) == len &&
            memcmp(n->topic, topic, len) == 0)
            return n->topic;
    }
    return NULL;
}

int task_offer_watermark(task_t *t, int in, int up, int64_t wm, int64_t offset)
{
    if (t->nin == 1)
        return take_watermark(t, in, up, wm, offset);
    int rc = enqueue(t, in, NULL, offset, up, wm, NULL);
    return rc ? rc : drain(t);
}

int task_process(task_t *t, const kappa_record_t *r, int64_t offset)
{
    return task_offer(t, 0, r, offset);
}

int task_upstream_watermark(task_t *t, int up, int64_t wm, int64_t offset)
{
    return task_offer_watermark(t, 0, up, wm, offset);
}

size_t task_buffered(const task_t *t, int in)
{
    return t->in[in].len;
}

int task_tick(task_t *t, int64_t now_ms)
{
    bool all_idle = true, changed = false;
    for (int i = 0; i < t->nin; i++) {
        task_input_t *x = &t->in[i];
        bool idle;
        if (x->node->type == NODE_REPART_SOURCE)
            idle = input_wm(t, x) == STREAM_WM_IDLE;
        else
            idle = x->node->src.idle_timeout_ms >= 0 && x->at_end && x->len == 0 &&
                   now_ms - x->last_input_ms >= x->node->src.idle_timeout_ms;
        if (x->node->type == NODE_REPART_SOURCE) {
            /* Its idleness is its upstream tasks' (reported), not ours to
             * decide, so the input itself is never marked idle here. */
            all_idle &= idle;
            continue;
        }
        changed |= idle != x->idle;
        x->idle = idle;
        if (x->node->type != NODE_TABLE)
            all_idle &= idle;
    }
    t->idle = all_idle;
    if (changed && t->nin > 1 && drain(t) == 0)
        advance(t);
    int64_t report = t->idle ? STREAM_WM_IDLE : t->watermark;
    if (t->st->nrepart_out && report != t->reported_wm && report != STREAM_WM_NONE)
        t->busy = true;         /* the next commit carries the report */
    /* Windows closed because an input went idle changed state and wrote
     * results: they must be committed now, not with the next record. */
    if (store_has_dirty(t->state))
        t->busy = true;
    return t->failed;
}

/* The runner saw the end of input `in` (partition EOF). */
void task_input_at_end(task_t *t, int in, int64_t now_ms)
{
    task_input_t *x = &t->in[in];
    if (!x->at_end) {
        x->at_end = true;
        x->last_input_ms = now_ms;
    }
    if (t->nin > 1)
        drain(t);
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

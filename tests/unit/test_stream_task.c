/*
 * test_stream_task.c -- the task runtime (src/stream/task.c) without Kafka:
 * operators, key_by, aggregates and every window type, watermarks, late
 * events, timers, watermark reports and the meta entry, and determinism
 * across a restore from the state store.
 *
 * task.c reaches Kafka only through runner_produce() and
 * runner_topic_partitions(), which live in runner.c.  This program defines
 * its own versions, which capture every produced record, so the linker
 * never takes runner.o out of libkappa.a (nor librdkafka's producer paths).
 */
#include "test.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "stream/runtime.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the runner stand-in: captured output ---------------------------------- */

/* Every produced record as one line: "topic p=P key=K val=V ts=T" (key and
 * value "-" when NULL, bytes outside printable ASCII as \xHH), plus
 * " wm=W" for a watermark report. */
typedef struct capture {
    char **lines;
    int n, cap;
} capture_t;

static capture_t cap_default;
static capture_t *cap_cur = &cap_default;
static int produce_calls;

static void cap_clear(capture_t *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->lines[i]);
    c->n = 0;
}

static void cap_free(capture_t *c)
{
    cap_clear(c);
    free(c->lines);
    c->lines = NULL;
    c->cap = 0;
}

static size_t esc(char *out, size_t cap, const void *p, size_t n)
{
    size_t at = 0;
    if (!p)
        return (size_t)snprintf(out, cap, "-");
    for (size_t i = 0; i < n && at + 5 < cap; i++) {
        unsigned char c = ((const unsigned char *)p)[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[at++] = (char)c;
        else
            at += (size_t)snprintf(out + at, cap - at, "\\x%02x", c);
    }
    out[at] = 0;
    return at;
}

static int32_t repart_partitions = 4;

int runner_produce(task_t *t, const char *topic, int32_t partition, const kappa_record_t *r,
                   int64_t wm_report)
{
    produce_calls++;
    char k[600], v[600], line[1400];
    if (wm_report != STREAM_WM_NONE) {
        if (wm_report == STREAM_WM_IDLE)
            snprintf(line, sizeof line, "%s p=%d wm=IDLE%s", topic, (int)partition,
                     r ? " WITH-RECORD" : "");
        else
            snprintf(line, sizeof line, "%s p=%d wm=%" PRId64 "%s", topic, (int)partition,
                     wm_report, r ? " WITH-RECORD" : "");
    } else {
        esc(k, sizeof k, r->key, r->key_len);
        esc(v, sizeof v, r->value, r->value_len);
        int n = snprintf(line, sizeof line, "%s p=%d key=%s val=%s ts=%" PRId64, topic,
                         (int)partition, k, v, r->timestamp);
        /* The source tag the runner would put in the kappa.src header. */
        if (t->source_tags && t->tag.topic && n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, " src=%.*s:%d@%" PRId64,
                     (int)t->tag.topic_len, t->tag.topic, (int)t->tag.partition, t->tag.offset);
    }
    capture_t *c = cap_cur;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->lines = realloc(c->lines, (size_t)c->cap * sizeof *c->lines);
    }
    c->lines[c->n++] = strdup(line);
    return 0;
}

int32_t runner_topic_partitions(runner_t *rn, const char *topic)
{
    (void)rn;
    return strstr(topic, "-repartition") ? repart_partitions : 1;
}

/* ---- helpers ------------------------------------------------------------- */

/* Compare the captured lines with want (NULL-terminated), then forget them. */
static void expect_lines(int line, const char *const *want)
{
    capture_t *c = cap_cur;
    int n = 0;
    while (want[n])
        n++;
    for (int i = 0; i < n || i < c->n; i++) {
        const char *got = i < c->n ? c->lines[i] : "(nothing)";
        const char *w = i < n ? want[i] : "(nothing)";
        if (strcmp(got, w) != 0) {
            fprintf(stderr, "captured output:\n");
            for (int j = 0; j < c->n; j++)
                fprintf(stderr, "  %s\n", c->lines[j]);
            char g[700];
            snprintf(g, sizeof g, "%s", got);
            cap_clear(c);
            test_fail(__FILE__, line, "output line %d: got '%s', want '%s'", i, g, w);
        }
    }
    cap_clear(c);
}

#define EXPECT(...) expect_lines(__LINE__, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_NONE() expect_lines(__LINE__, (const char *const[]){NULL})

static int64_t next_offset;

static int feed_n(task_t *t, const void *key, size_t klen, const char *value, int64_t ts)
{
    kappa_record_t r = {key, klen, value, value ? strlen(value) : 0, ts};
    return task_process(t, &r, next_offset++);
}

/* One record with a string key (NULL: null key). */
static int feed(task_t *t, const char *key, const char *value, int64_t ts)
{
    return feed_n(t, key, key ? strlen(key) : 0, value, ts);
}

#define FEED(t, k, v, ts) CHECK_OK(feed(t, k, v, ts))

static kappa_job_t *new_job(void)
{
    kappa_job_t *job;
    CHECK_OK(job_new("j", 1, &job));
    return job;
}

static void plan(kappa_job_t *job)
{
    int rc = job_plan(job);
    if (rc)
        test_fail(__FILE__, __LINE__, "job_plan: %s", kappa_job_error(job));
}

static void start(task_t *t, kappa_job_t *job, int stage, int32_t partition)
{
    CHECK_OK(task_init(t, NULL, &job->subtopos[stage], partition));
}

/* ---- operator functions ---------------------------------------------------- */

static int upper(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    char buf[256];
    size_t n = in->value_len < sizeof buf ? in->value_len : sizeof buf;
    for (size_t i = 0; i < n; i++) {
        char c = ((const char *)in->value)[i];
        buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    kappa_record_t out = *in;
    out.value = buf;
    out.value_len = n;
    return kappa_emit(ctx, &out);
}

/* Emits one record per comma-separated part of the value. */
static int split(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    if (!in->value)
        return 0;
    const char *p = in->value, *end = p + in->value_len;
    while (p <= end) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        if (!q)
            q = end;
        kappa_record_t out = *in;
        out.value = p;
        out.value_len = (size_t)(q - p);
        if (out.value_len && kappa_emit(ctx, &out) != 0)
            return -1;
        p = q + 1;
    }
    return 0;
}

static int key_starts_k(const kappa_record_t *in, void *arg)
{
    (void)arg;
    return in->key && in->key_len > 0 && ((const char *)in->key)[0] == 'k';
}

/* A map that emits as many copies as the value says ("0", "1", "2"), or
 * fails on "fail". */
static int copies(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    if (in->value_len == 4 && memcmp(in->value, "fail", 4) == 0)
        return -1;
    int n = in->value_len ? ((const char *)in->value)[0] - '0' : 0;
    for (int i = 0; i < n; i++)
        if (kappa_emit(ctx, in) != 0)
            return -1;
    return 0;
}

/* Sink encoder: wraps the value in brackets and keys it "enc". */
static int encode(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    char buf[300];
    int n = snprintf(buf, sizeof buf, "[%.*s]", (int)in->value_len,
                     in->value ? (const char *)in->value : "");
    kappa_record_t out = {"enc", 3, buf, (size_t)n, in->timestamp + 1};
    return kappa_emit(ctx, &out);
}

/* key_by: the new key is the value up to ':' (or the whole value). */
static int key_prefix(kappa_ctx_t *ctx, const kappa_record_t *in, void *arg)
{
    (void)arg;
    const char *v = in->value;
    const char *c = memchr(v, ':', in->value_len);
    kappa_record_t out = *in;
    out.key = v;
    out.key_len = c ? (size_t)(c - v) : in->value_len;
    return kappa_emit(ctx, &out);
}

/* Aggregate state: a count and a sum of the values read as integers. */
typedef struct tally {
    int64_t count, sum;
} tally_t;

static int merges;

static int64_t value_num(const kappa_record_t *in)
{
    char buf[32];
    size_t n = in->value_len < sizeof buf - 1 ? in->value_len : sizeof buf - 1;
    memcpy(buf, in->value, n);
    buf[n] = 0;
    return strtoll(buf, NULL, 10);
}

static int tally_add(kappa_state_t *st, const kappa_record_t *in, void *arg)
{
    (void)arg;
    tally_t t = {0, 0};
    size_t len;
    const void *cur = kappa_state_get(st, &len);
    if (cur) {
        if (len != sizeof t)
            return -1;
        memcpy(&t, cur, sizeof t);
    }
    int64_t v = value_num(in);
    if (v < 0) {                    /* a negative value deletes the state */
        kappa_state_delete(st);
        return 0;
    }
    t.count++;
    t.sum += v;
    return kappa_state_put(st, &t, sizeof t);
}

static int tally_merge(kappa_state_t *into, const void *from, size_t from_len, void *arg)
{
    (void)arg;
    merges++;
    tally_t a, b;
    size_t len;
    const void *cur = kappa_state_get(into, &len);
    if (!cur || len != sizeof a || from_len != sizeof b)
        return -1;
    memcpy(&a, cur, sizeof a);
    memcpy(&b, from, sizeof b);
    a.count += b.count;
    a.sum += b.sum;
    return kappa_state_put(into, &a, sizeof a);
}

/* "KEY[start,end)=count/sum" ("=RETRACT" for a NULL state; no window part
 * without a window).  The window from the argument and from the context
 * must agree. */
static int tally_result(kappa_ctx_t *ctx, const kappa_record_t *key, const void *state,
                        size_t len, const kappa_window_t *w, void *arg)
{
    (void)arg;
    if (w != kappa_ctx_window(ctx))
        return -1;
    char buf[200], k[100];
    esc(k, sizeof k, key->key, key->key_len);
    int n = snprintf(buf, sizeof buf, "%s", k);
    if (w)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "[%" PRId64 ",%" PRId64 ")", w->start_ms,
                      w->end_ms);
    if (state) {
        tally_t t;
        if (len != sizeof t)
            return -1;
        memcpy(&t, state, sizeof t);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "=%" PRId64 "/%" PRId64, t.count, t.sum);
    } else {
        n += snprintf(buf + n, sizeof buf - (size_t)n, "=RETRACT");
    }
    kappa_record_t out = {key->key, key->key_len, buf, (size_t)n, key->timestamp};
    return kappa_emit(ctx, &out);
}

static kappa_agg_opts_t tally_opts(kappa_window_type_t type, int64_t size, int64_t slide,
                                   int64_t gap, int64_t grace, kappa_emit_mode_t emit)
{
    kappa_agg_opts_t o = {0};
    o.add = tally_add;
    o.result = tally_result;
    o.merge = tally_merge;
    o.window = (kappa_window_spec_t){type, size, slide, gap, grace};
    o.emit = emit;
    return o;
}

/* source "in" (out-of-orderness ooo) -> aggregate "agg" -> sink "out". */
static kappa_job_t *agg_job(const kappa_agg_opts_t *o, int64_t ooo)
{
    kappa_job_t *job = new_job();
    kappa_source_opts_t so = {.max_out_of_orderness_ms = ooo};
    kappa_stream_t *s = kappa_source(job, "in", &so);
    CHECK_OK(kappa_sink(kappa_aggregate(s, "agg", o), "out", NULL));
    plan(job);
    return job;
}

/* ---- stateless operators ------------------------------------------------ */

TEST(map_flat_map_filter_sink)
{
    kappa_job_t *job = new_job();
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    CHECK_OK(kappa_sink(kappa_map(s, "upper", upper, NULL), "o-map", NULL));
    CHECK_OK(kappa_sink(kappa_flat_map(s, "split", split, NULL), "o-flat", NULL));
    kappa_stream_t *f = kappa_filter(s, "keyk", key_starts_k, NULL);
    CHECK_OK(kappa_sink(f, "o-filter", NULL));
    kappa_sink_opts_t enc = {.encode = encode};
    CHECK_OK(kappa_sink(f, "o-enc", &enc));
    plan(job);
    CHECK_EQ_INT(job->nsubtopos, 1);
    task_t t;
    start(&t, job, 0, 3);
    FEED(&t, "k1", "a,bc", 100);
    EXPECT("o-map p=-1 key=k1 val=A,BC ts=100",
           "o-flat p=-1 key=k1 val=a ts=100",
           "o-flat p=-1 key=k1 val=bc ts=100",
           "o-filter p=-1 key=k1 val=a,bc ts=100",
           "o-enc p=-1 key=enc val=[a,bc] ts=101");
    FEED(&t, "x", ",,", 5);
    EXPECT("o-map p=-1 key=x val=,, ts=5");
    FEED(&t, NULL, "n", 6);
    EXPECT("o-map p=-1 key=- val=N ts=6", "o-flat p=-1 key=- val=n ts=6");
    /* A tombstone: upper() makes it an empty value; the filter passes it. */
    FEED(&t, "k2", NULL, 7);
    EXPECT("o-map p=-1 key=k2 val= ts=7", "o-filter p=-1 key=k2 val=- ts=7",
           "o-enc p=-1 key=enc val=[] ts=8");
    CHECK_EQ_INT(t.records_in, 4);
    CHECK_EQ_INT(t.records_out, 11);
    CHECK_EQ_INT(t.in[0].next_offset, next_offset);
    CHECK_EQ_INT(t.late, 0);
    CHECK(!t.failed);
    task_free(&t);
    job_free(job);
}

TEST(map_must_emit_exactly_one)
{
    const char *vals[] = {"1", "0", "2", "fail"};
    for (int i = 0; i < 4; i++) {
        kappa_job_t *job = new_job();
        kappa_stream_t *s = kappa_source(job, "in", NULL);
        CHECK_OK(kappa_sink(kappa_map(s, "copies", copies, NULL), "out", NULL));
        plan(job);
        task_t t;
        start(&t, job, 0, 0);
        int rc = feed(&t, "k", vals[i], 1);
        if (i == 0) {
            CHECK_OK(rc);
            EXPECT("out p=-1 key=k val=1 ts=1");
        } else {
            if (rc == 0 || t.failed == 0)
                test_fail(__FILE__, __LINE__, "map emitting for '%s': rc %d, failed %d", vals[i],
                          rc, t.failed);
            cap_clear(cap_cur);
        }
        /* flat_map takes any number. */
        task_free(&t);
        job_free(job);
    }
    kappa_job_t *job = new_job();
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    CHECK_OK(kappa_sink(kappa_flat_map(s, "copies", copies, NULL), "out", NULL));
    plan(job);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "k", "0", 1);
    EXPECT_NONE();
    FEED(&t, "k", "2", 2);
    EXPECT("out p=-1 key=k val=2 ts=2", "out p=-1 key=k val=2 ts=2");
    CHECK(feed(&t, "k", "fail", 3) != 0);
    CHECK(t.failed != 0);
    task_free(&t);
    job_free(job);
}

TEST(key_by_writes_the_repartition_topic)
{
    kappa_job_t *job = new_job();
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    kappa_stream_t *r = kappa_key_by(s, "bykey", key_prefix, NULL);
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_NONE, 0, 0, 0, 0, KAPPA_EMIT_CHANGES);
    CHECK_OK(kappa_sink(kappa_aggregate(r, "count", &o), "out", NULL));
    plan(job);
    CHECK_EQ_INT(job->nsubtopos, 2);
    CHECK(strcmp(job->subtopos[1].input->topic, "j.v1.bykey-repartition") == 0);
    CHECK_EQ_INT(job->subtopos[1].upstream, 0);
    task_t up;
    start(&up, job, 0, 0);
    FEED(&up, "old", "a:7", 10);
    FEED(&up, NULL, "bb", 11);
    /* partition -1: the runner picks it by the new key. */
    EXPECT("j.v1.bykey-repartition p=-1 key=a val=a:7 ts=10",
           "j.v1.bykey-repartition p=-1 key=bb val=bb ts=11");
    CHECK_EQ_INT(store_count(up.state), 0);
    /* The downstream task aggregates what it reads by that key. */
    task_t down;
    start(&down, job, 1, 2);
    CHECK_OK(task_set_upstreams(&down, 1));
    FEED(&down, "a", "7", 10);
    FEED(&down, "a", "5", 12);
    EXPECT("out p=-1 key=a val=a=1/7 ts=10", "out p=-1 key=a val=a=2/12 ts=12");
    task_free(&up);
    task_free(&down);
    job_free(job);
}

/* ---- aggregates ------------------------------------------------------------- */

TEST(plain_aggregate_default_result_is_the_state)
{
    kappa_job_t *job = new_job();
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    kappa_agg_opts_t o = {.add = tally_add};    /* no result function */
    CHECK_OK(kappa_sink(kappa_aggregate(s, "sum", &o), "out", NULL));
    plan(job);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "k", "5", 1);
    FEED(&t, "k", "2", 2);
    FEED(&t, NULL, "1", 3);
    /* tally_t {count, sum} as its bytes (little-endian int64s here). */
    tally_t a = {1, 5}, b = {2, 7}, c = {1, 1};
    char va[100], vb[100], vc[100], l1[200], l2[200], l3[200];
    esc(va, sizeof va, &a, sizeof a);
    esc(vb, sizeof vb, &b, sizeof b);
    esc(vc, sizeof vc, &c, sizeof c);
    snprintf(l1, sizeof l1, "out p=-1 key=k val=%s ts=1", va);
    snprintf(l2, sizeof l2, "out p=-1 key=k val=%s ts=2", vb);
    snprintf(l3, sizeof l3, "out p=-1 key=- val=%s ts=3", vc);
    EXPECT(l1, l2, l3);
    /* A deleted state is a tombstone. */
    FEED(&t, "k", "-1", 4);
    EXPECT("out p=-1 key=k val=- ts=4");
    FEED(&t, "k", "3", 5);
    tally_t d = {1, 3};
    char vd[100], l4[200];
    esc(vd, sizeof vd, &d, sizeof d);
    snprintf(l4, sizeof l4, "out p=-1 key=k val=%s ts=5", vd);
    EXPECT(l4);
    task_free(&t);
    job_free(job);
}

TEST(tumbling_on_close_exactly_at_end_plus_grace)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 5, KAPPA_EMIT_ON_CLOSE);
    kappa_job_t *job = agg_job(&o, 0);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 0);
    FEED(&t, "a", "2", 9);
    FEED(&t, "b", "4", 5);
    FEED(&t, "a", "8", 10);             /* the next window */
    FEED(&t, "a", "16", 14);            /* watermark 14 = end + grace - 1 */
    EXPECT_NONE();
    CHECK_EQ_INT(t.watermark, 14);
    FEED(&t, "a", "3", 9);              /* still open: counted in [0,10) */
    EXPECT_NONE();
    FEED(&t, "c", "32", 15);            /* watermark 15 = end + grace */
    EXPECT("out p=-1 key=a val=a[0,10)=3/6 ts=9", "out p=-1 key=b val=b[0,10)=1/4 ts=9");
    FEED(&t, "a", "100", 9);            /* closed now: late */
    EXPECT_NONE();
    CHECK_EQ_INT(t.late, 1);
    FEED(&t, "x", "0", 24);
    EXPECT_NONE();
    FEED(&t, "x", "0", 25);
    EXPECT("out p=-1 key=a val=a[10,20)=2/24 ts=19", "out p=-1 key=c val=c[10,20)=1/32 ts=19");
    /* Closed windows leave no state behind (only the open ones). */
    CHECK_EQ_INT(store_count(t.state), 1);
    task_free(&t);
    job_free(job);
}

TEST(tumbling_emit_changes_every_update)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_CHANGES);
    kappa_job_t *job = agg_job(&o, 100);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 3);
    FEED(&t, "a", "2", 7);
    FEED(&t, "a", "4", 13);
    FEED(&t, "a", "-1", 8);             /* deletes the state: a tombstone-like result */
    FEED(&t, "a", "8", -3);             /* negative times floor to [-10,0) */
    EXPECT("out p=-1 key=a val=a[0,10)=1/1 ts=3", "out p=-1 key=a val=a[0,10)=2/3 ts=7",
           "out p=-1 key=a val=a[10,20)=1/4 ts=13", "out p=-1 key=a val=a[0,10)=RETRACT ts=8",
           "out p=-1 key=a val=a[-10,0)=1/8 ts=-3");
    task_free(&t);
    job_free(job);
}

TEST(hopping_each_event_in_size_over_slide_windows)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_HOPPING, 30, 10, 0, 0, KAPPA_EMIT_CHANGES);
    kappa_job_t *job = agg_job(&o, 1000);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 25);
    EXPECT("out p=-1 key=a val=a[0,30)=1/1 ts=25", "out p=-1 key=a val=a[10,40)=1/1 ts=25",
           "out p=-1 key=a val=a[20,50)=1/1 ts=25");
    FEED(&t, "a", "2", 30);             /* a boundary: [10,40) [20,50) [30,60) */
    EXPECT("out p=-1 key=a val=a[10,40)=2/3 ts=30", "out p=-1 key=a val=a[20,50)=2/3 ts=30",
           "out p=-1 key=a val=a[30,60)=1/2 ts=30");
    task_free(&t);
    job_free(job);

    /* On close: each window closes at its own end. */
    o = tally_opts(KAPPA_WINDOW_HOPPING, 30, 10, 0, 0, KAPPA_EMIT_ON_CLOSE);
    job = agg_job(&o, 0);
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 25);
    FEED(&t, "z", "0", 29);
    EXPECT_NONE();
    FEED(&t, "z", "0", 30);
    EXPECT("out p=-1 key=a val=a[0,30)=1/1 ts=29", "out p=-1 key=z val=z[0,30)=1/0 ts=29");
    FEED(&t, "a", "4", 15);             /* [0,30) closed; [10,40) open: not late */
    CHECK_EQ_INT(t.late, 0);
    FEED(&t, "z", "0", 40);
    EXPECT("out p=-1 key=a val=a[10,40)=2/5 ts=39", "out p=-1 key=z val=z[10,40)=2/0 ts=39");
    FEED(&t, "a", "4", 19);             /* every window of 19 is closed */
    CHECK_EQ_INT(t.late, 1);
    FEED(&t, "z", "0", 50);
    EXPECT("out p=-1 key=a val=a[20,50)=1/1 ts=49", "out p=-1 key=z val=z[20,50)=3/0 ts=49");
    task_free(&t);
    job_free(job);
}

TEST(session_windows_merge_and_retract)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_SESSION, 0, 0, 10, 0, KAPPA_EMIT_CHANGES);
    kappa_job_t *job = agg_job(&o, 1000);
    task_t t;
    start(&t, job, 0, 0);
    merges = 0;
    FEED(&t, "a", "1", 0);
    EXPECT("out p=-1 key=a val=a[0,10)=1/1 ts=0");
    FEED(&t, "a", "2", 10);             /* exactly gap_ms later: joins */
    EXPECT("out p=-1 key=a val=a[0,10)=RETRACT ts=10", "out p=-1 key=a val=a[0,20)=2/3 ts=10");
    FEED(&t, "a", "4", 21);             /* gap_ms + 1 after the last: a new session */
    EXPECT("out p=-1 key=a val=a[21,31)=1/4 ts=21");
    FEED(&t, "b", "100", 15);           /* another key: its own sessions */
    EXPECT("out p=-1 key=b val=b[15,25)=1/100 ts=15");
    CHECK_EQ_INT(merges, 0);
    FEED(&t, "a", "8", 15);             /* bridges both sessions of a */
    EXPECT("out p=-1 key=a val=a[0,20)=RETRACT ts=15", "out p=-1 key=a val=a[21,31)=RETRACT ts=15",
           "out p=-1 key=a val=a[0,31)=4/15 ts=15");
    CHECK_EQ_INT(merges, 1);
    FEED(&t, "a", "16", -10);           /* exactly gap_ms before the start: joins */
    EXPECT("out p=-1 key=a val=a[0,31)=RETRACT ts=-10", "out p=-1 key=a val=a[-10,31)=5/31 ts=-10");
    task_free(&t);
    job_free(job);
}

TEST(session_windows_on_close)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_SESSION, 0, 0, 10, 2, KAPPA_EMIT_ON_CLOSE);
    kappa_job_t *job = agg_job(&o, 0);
    task_t t;
    start(&t, job, 0, 0);
    merges = 0;
    FEED(&t, "a", "1", 0);
    FEED(&t, "a", "2", 30);             /* a second session of a */
    FEED(&t, "a", "4", 5);              /* late? no: [0,0] is open while wm <= 0+10+2 ... */
    /* ... but the watermark is 30 already, so 5 is late. */
    CHECK_EQ_INT(t.late, 1);
    EXPECT("out p=-1 key=a val=a[0,10)=1/1 ts=9");
    FEED(&t, "b", "1", 31);
    FEED(&t, "a", "8", 38);             /* joins [30,30]: still one session */
    FEED(&t, "x", "0", 43);             /* b's [31,31] is open while wm <= 31 + 10 + 2 */
    EXPECT_NONE();
    FEED(&t, "x", "0", 44);
    EXPECT("out p=-1 key=b val=b[31,41)=1/1 ts=40");
    FEED(&t, "x", "0", 50);             /* a's [30,38]: wm 50 = 38 + 10 + 2: still open */
    EXPECT_NONE();
    FEED(&t, "x", "0", 51);
    EXPECT("out p=-1 key=a val=a[30,48)=2/10 ts=47");
    CHECK_EQ_INT(merges, 0);
    task_free(&t);
    job_free(job);
}

/* ---- watermarks and late events ------------------------------------------- */

TEST(watermark_is_max_event_time_minus_bound)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    kappa_job_t *job = new_job();
    kappa_job_set_late_topic(job, "late");
    kappa_source_opts_t so = {.max_out_of_orderness_ms = 5};
    kappa_stream_t *s = kappa_source(job, "in", &so);
    CHECK_OK(kappa_sink(kappa_aggregate(s, "agg", &o), "out", NULL));
    plan(job);
    task_t t;
    start(&t, job, 0, 0);
    CHECK(t.watermark == STREAM_WM_NONE);
    FEED(&t, "a", "1", 100);
    CHECK_EQ_INT(t.watermark, 95);
    CHECK_EQ_INT(t.in[0].max_ts, 100);
    FEED(&t, "a", "1", 90);             /* out of order, in [90,100): open (95 < 100) */
    CHECK_EQ_INT(t.watermark, 95);
    CHECK_EQ_INT(t.in[0].max_ts, 100);
    FEED(&t, "a", "1", 80);             /* [80,90) ended at 90 <= 95: late */
    CHECK_EQ_INT(t.late, 1);
    EXPECT("late p=-1 key=a val=1 ts=80");
    FEED(&t, "a", "1", 104);
    CHECK_EQ_INT(t.watermark, 99);
    EXPECT_NONE();
    FEED(&t, "a", "1", 105);
    CHECK_EQ_INT(t.watermark, 100);
    EXPECT("out p=-1 key=a val=a[90,100)=1/1 ts=99");
    FEED(&t, "b", "1", 99);             /* [90,100) closed now */
    EXPECT("late p=-1 key=b val=1 ts=99");
    CHECK_EQ_INT(t.late, 2);
    /* Late events never reach the state. */
    FEED(&t, "a", "1", 200);
    EXPECT("out p=-1 key=a val=a[100,110)=3/3 ts=109");
    task_free(&t);
    job_free(job);

    /* Without a late topic: counted only. */
    job = agg_job(&o, 0);
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 50);
    FEED(&t, "a", "1", 10);
    FEED(&t, "a", "1", 49);             /* [40,50) ended at 50 <= 50: late too */
    FEED(&t, "a", "1", 55);
    CHECK_EQ_INT(t.late, 2);
    FEED(&t, "a", "1", 60);
    EXPECT("out p=-1 key=a val=a[50,60)=2/2 ts=59");
    task_free(&t);
    job_free(job);
}

TEST(session_late_events)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_SESSION, 0, 0, 10, 0, KAPPA_EMIT_CHANGES);
    kappa_job_t *job = new_job();
    kappa_job_set_late_topic(job, "late");
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    CHECK_OK(kappa_sink(kappa_aggregate(s, "agg", &o), "out", NULL));
    plan(job);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 45);
    FEED(&t, "b", "1", 50);
    cap_clear(cap_cur);
    FEED(&t, "c", "1", 40);             /* 40 + 10 >= 50: may still join: open */
    EXPECT("out p=-1 key=c val=c[40,50)=1/1 ts=40");
    FEED(&t, "c", "1", 39);             /* merges with an open session */
    cap_clear(cap_cur);
    FEED(&t, "d", "1", 39);             /* 39 + 10 < 50: late */
    EXPECT("late p=-1 key=d val=1 ts=39");
    FEED(&t, "a", "1", 36);             /* joins a's open session [45,45] */
    EXPECT("out p=-1 key=a val=a[45,55)=RETRACT ts=36", "out p=-1 key=a val=a[36,55)=2/2 ts=36");
    CHECK_EQ_INT(t.late, 1);
    task_free(&t);
    job_free(job);
}

static void up_wm(task_t *t, int up, int64_t wm)
{
    CHECK_OK(task_upstream_watermark(t, up, wm, next_offset++));
}

TEST(repartition_watermark_is_min_of_upstreams)
{
    kappa_job_t *job = new_job();
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    kappa_stream_t *r = kappa_key_by(s, "rk", key_prefix, NULL);
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    CHECK_OK(kappa_sink(kappa_aggregate(r, "agg", &o), "out", NULL));
    plan(job);
    task_t t;
    start(&t, job, 1, 0);
    CHECK_OK(task_set_upstreams(&t, 3));
    FEED(&t, "a", "1", 5);
    CHECK(t.watermark == STREAM_WM_NONE);  /* records do not move it here */
    up_wm(&t, 0, 100);
    up_wm(&t, 1, 50);
    CHECK(t.watermark == STREAM_WM_NONE);  /* upstream 2 has said nothing */
    EXPECT_NONE();
    up_wm(&t, 2, STREAM_WM_IDLE);
    CHECK_EQ_INT(t.watermark, 50);         /* idle excluded */
    EXPECT("out p=-1 key=a val=a[0,10)=1/1 ts=9");
    up_wm(&t, 1, 200);
    CHECK_EQ_INT(t.watermark, 100);
    up_wm(&t, 0, STREAM_WM_IDLE);
    CHECK_EQ_INT(t.watermark, 200);
    up_wm(&t, 1, STREAM_WM_IDLE);
    CHECK_EQ_INT(t.watermark, 200);        /* all idle: hold */
    up_wm(&t, 2, 120);                     /* back, behind: never goes back */
    CHECK_EQ_INT(t.watermark, 200);
    up_wm(&t, 2, 300);
    CHECK_EQ_INT(t.watermark, 300);
    /* A report from an upstream task that does not exist is ignored. */
    CHECK_OK(task_upstream_watermark(&t, 3, 1000, next_offset++));
    CHECK_OK(task_upstream_watermark(&t, -1, 1000, next_offset++));
    CHECK_EQ_INT(t.watermark, 300);
    CHECK_EQ_INT(t.in[0].next_offset, next_offset);
    /* Idleness downstream is all upstreams idle. */
    CHECK_OK(task_tick(&t, 0));
    CHECK(!t.idle);
    up_wm(&t, 2, STREAM_WM_IDLE);
    CHECK_OK(task_tick(&t, 0));
    CHECK(t.idle);
    task_free(&t);
    job_free(job);
}

TEST(equal_timers_fire_in_key_order)
{
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    kappa_job_t *job = agg_job(&o, 100);
    task_t t;
    start(&t, job, 0, 0);
    const char *keys[] = {"c", "aa", "b", "a", "ab", "\x01", "a\x00z"};
    for (int i = 0; i < 7; i++)
        CHECK_OK(feed_n(&t, keys[i], i == 6 ? 3 : strlen(keys[i]), "1", i));
    FEED(&t, NULL, "1", 9);
    FEED(&t, "zz", "1", 110);
    EXPECT("out p=-1 key=- val=-[0,10)=1/1 ts=9",
           "out p=-1 key=\\x01 val=\\x5cx01[0,10)=1/1 ts=9",
           "out p=-1 key=a val=a[0,10)=1/1 ts=9",
           "out p=-1 key=a\\x00z val=a\\x5cx00z[0,10)=1/1 ts=9",
           "out p=-1 key=aa val=aa[0,10)=1/1 ts=9",
           "out p=-1 key=ab val=ab[0,10)=1/1 ts=9",
           "out p=-1 key=b val=b[0,10)=1/1 ts=9",
           "out p=-1 key=c val=c[0,10)=1/1 ts=9");
    task_free(&t);
    job_free(job);
}

/* ---- commits: watermark reports and the meta entry ------------------------ */

TEST(prepare_commit_reports_watermarks_once_per_change)
{
    kappa_job_t *job = new_job();
    kappa_source_opts_t so = {.max_out_of_orderness_ms = 10, .idle_timeout_ms = 1000};
    kappa_stream_t *s = kappa_source(job, "in", &so);
    kappa_stream_t *r1 = kappa_key_by(s, "r1", key_prefix, NULL);
    kappa_stream_t *r2 = kappa_key_by(s, "r2", key_prefix, NULL);
    CHECK_OK(kappa_sink(r1, "o1", NULL));
    CHECK_OK(kappa_sink(r2, "o2", NULL));
    plan(job);
    CHECK_EQ_INT(job->subtopos[0].nrepart_out, 2);
    repart_partitions = 3;
    task_t t;
    start(&t, job, 0, 5);
    CHECK_OK(task_prepare_commit(&t));     /* no watermark yet: nothing to say */
    EXPECT_NONE();
    FEED(&t, "k", "x", 100);
    cap_clear(cap_cur);
    CHECK_OK(task_prepare_commit(&t));
    EXPECT("j.v1.r1-repartition p=0 wm=90", "j.v1.r1-repartition p=1 wm=90",
           "j.v1.r1-repartition p=2 wm=90", "j.v1.r2-repartition p=0 wm=90",
           "j.v1.r2-repartition p=1 wm=90", "j.v1.r2-repartition p=2 wm=90");
    CHECK_OK(task_prepare_commit(&t));     /* unchanged: not again */
    EXPECT_NONE();
    FEED(&t, "k", "x", 95);                /* behind: the watermark stays */
    cap_clear(cap_cur);
    CHECK_OK(task_prepare_commit(&t));
    EXPECT_NONE();
    FEED(&t, "k", "x", 101);
    cap_clear(cap_cur);
    CHECK_OK(task_prepare_commit(&t));
    EXPECT("j.v1.r1-repartition p=0 wm=91", "j.v1.r1-repartition p=1 wm=91",
           "j.v1.r1-repartition p=2 wm=91", "j.v1.r2-repartition p=0 wm=91",
           "j.v1.r2-repartition p=1 wm=91", "j.v1.r2-repartition p=2 wm=91");
    /* Idle: at the end of the input for idle_timeout_ms. */
    t.in[0].at_end = true;
    t.in[0].last_input_ms = 5000;
    t.busy = false;
    CHECK_OK(task_tick(&t, 5999));
    CHECK(!t.idle);
    CHECK_OK(task_tick(&t, 6000));
    CHECK(t.idle);
    CHECK(t.busy);                          /* the report needs a commit */
    CHECK_OK(task_prepare_commit(&t));
    EXPECT("j.v1.r1-repartition p=0 wm=IDLE", "j.v1.r1-repartition p=1 wm=IDLE",
           "j.v1.r1-repartition p=2 wm=IDLE", "j.v1.r2-repartition p=0 wm=IDLE",
           "j.v1.r2-repartition p=1 wm=IDLE", "j.v1.r2-repartition p=2 wm=IDLE");
    CHECK_OK(task_prepare_commit(&t));
    EXPECT_NONE();
    /* Input again: active with the same watermark. */
    FEED(&t, "k", "x", 50);
    cap_clear(cap_cur);
    CHECK(!t.idle);
    CHECK_OK(task_prepare_commit(&t));
    EXPECT("j.v1.r1-repartition p=0 wm=91", "j.v1.r1-repartition p=1 wm=91",
           "j.v1.r1-repartition p=2 wm=91", "j.v1.r2-repartition p=0 wm=91",
           "j.v1.r2-repartition p=1 wm=91", "j.v1.r2-repartition p=2 wm=91");
    repart_partitions = 4;
    task_free(&t);
    job_free(job);
}

static int copy_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    return store_apply(ctx, key, klen, val, vlen);
}

/* B := a task restored from A's state, as the runner does after a restart
 * (snapshot or changelog: the same bytes). */
static void restore_into(task_t *b, task_t *a, kappa_job_t *job, int stage, int nup)
{
    start(b, job, stage, a->partition);
    if (nup)
        CHECK_OK(task_set_upstreams(b, nup));
    CHECK_OK(store_each(a->state, copy_entry, b->state));
    CHECK_OK(task_after_restore(b));
}

TEST(meta_entry_restores_time_keeping)
{
    /* A source stage. */
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    kappa_job_t *job = new_job();
    kappa_source_opts_t so = {.max_out_of_orderness_ms = 7};
    kappa_stream_t *s = kappa_source(job, "in", &so);
    kappa_stream_t *r = kappa_key_by(s, "rk", key_prefix, NULL);
    CHECK_OK(kappa_sink(kappa_aggregate(r, "agg", &o), "out", NULL));
    plan(job);
    task_t a, b;
    start(&a, job, 0, 1);
    FEED(&a, "k", "v", 1000);
    FEED(&a, "k", "v", 990);
    CHECK_OK(task_prepare_commit(&a));
    cap_clear(cap_cur);
    restore_into(&b, &a, job, 0, 0);
    CHECK_EQ_INT(b.in[0].max_ts, 1000);
    CHECK_EQ_INT(b.watermark, 993);
    CHECK_EQ_INT(b.reported_wm, 993);
    CHECK_OK(task_prepare_commit(&b));     /* already reported before the restart */
    EXPECT_NONE();
    FEED(&b, "k", "v", 995);               /* behind max_ts: nothing moves */
    CHECK_EQ_INT(b.watermark, 993);
    cap_clear(cap_cur);
    task_free(&a);
    task_free(&b);

    /* A repartition stage: the per-upstream watermarks come back. */
    start(&a, job, 1, 2);
    CHECK_OK(task_set_upstreams(&a, 3));
    up_wm(&a, 0, 40);
    up_wm(&a, 1, STREAM_WM_IDLE);
    FEED(&a, "x", "1", 45);
    CHECK_OK(task_prepare_commit(&a));
    restore_into(&b, &a, job, 1, 3);
    CHECK(b.in[0].up_wm[0] == 40);
    CHECK(b.in[0].up_wm[1] == STREAM_WM_IDLE);
    CHECK(b.in[0].up_wm[2] == STREAM_WM_NONE);
    CHECK(b.watermark == STREAM_WM_NONE);
    /* The open window and its timer came back too. */
    up_wm(&b, 0, 70);
    CHECK(b.watermark == STREAM_WM_NONE);
    up_wm(&b, 2, 60);
    CHECK_EQ_INT(b.watermark, 60);
    EXPECT("out p=-1 key=x val=x[40,50)=1/1 ts=49");
    up_wm(&a, 0, 70);
    up_wm(&a, 2, 60);
    EXPECT("out p=-1 key=x val=x[40,50)=1/1 ts=49");
    task_free(&a);
    task_free(&b);
    job_free(job);
}

/* ---- determinism across a restore ---------------------------------------- */

typedef struct ev {
    int kind;                   /* 0 record, 1 upstream watermark report */
    char key[8];
    bool null_key;
    char value[16];
    int64_t ts;
    int up;
} ev_t;

enum {
    AGG_PLAIN = 1, AGG_TUM = 2, AGG_TUMC = 4, AGG_HOP = 8, AGG_HOPC = 16, AGG_SES = 32,
    AGG_SESC = 64, AGG_ALL = 127
};

/* A job with the aggregates in `which` (a mask of AGG_*) on one stream, all
 * in one task, each to its own sink, and a late topic. */
static kappa_job_t *all_windows_job(bool repartition, int which)
{
    kappa_job_t *job = new_job();
    kappa_job_set_late_topic(job, "late");
    kappa_source_opts_t so = {.max_out_of_orderness_ms = 12};
    kappa_stream_t *s = kappa_source(job, "in", &so);
    if (repartition)
        s = kappa_key_by(s, "rk", key_prefix, NULL);
    s = kappa_filter(s, "all", key_starts_k, NULL);
    struct { const char *name; kappa_agg_opts_t o; } aggs[] = {
        {"plain", tally_opts(KAPPA_WINDOW_NONE, 0, 0, 0, 0, KAPPA_EMIT_CHANGES)},
        {"tum", tally_opts(KAPPA_WINDOW_TUMBLING, 20, 0, 0, 4, KAPPA_EMIT_ON_CLOSE)},
        {"tumc", tally_opts(KAPPA_WINDOW_TUMBLING, 15, 0, 0, 0, KAPPA_EMIT_CHANGES)},
        {"hop", tally_opts(KAPPA_WINDOW_HOPPING, 30, 10, 0, 3, KAPPA_EMIT_ON_CLOSE)},
        {"hopc", tally_opts(KAPPA_WINDOW_HOPPING, 20, 5, 0, 0, KAPPA_EMIT_CHANGES)},
        {"ses", tally_opts(KAPPA_WINDOW_SESSION, 0, 0, 6, 2, KAPPA_EMIT_ON_CLOSE)},
        {"sesc", tally_opts(KAPPA_WINDOW_SESSION, 0, 0, 9, 0, KAPPA_EMIT_CHANGES)},
    };
    for (int i = 0; i < 7; i++) {
        if (!(which & (1 << i)))
            continue;
        char out[32];
        snprintf(out, sizeof out, "o-%s", aggs[i].name);
        CHECK_OK(kappa_sink(kappa_aggregate(s, aggs[i].name, &aggs[i].o), out, NULL));
    }
    plan(job);
    return job;
}

static ev_t *random_events(uint64_t *rng, int n, bool repartition)
{
    ev_t *e = calloc((size_t)n, sizeof *e);
    int64_t base = 1000, upwm[2] = {900, 900};
    for (int i = 0; i < n; i++) {
        if (repartition && test_rand(rng) % 5 == 0) {
            e[i].kind = 1;
            e[i].up = (int)(test_rand(rng) % 2);
            if (test_rand(rng) % 8 == 0) {
                e[i].ts = STREAM_WM_IDLE;
            } else {
                upwm[e[i].up] += (int64_t)(test_rand(rng) % 15);
                e[i].ts = upwm[e[i].up];
            }
            continue;
        }
        base += (int64_t)(test_rand(rng) % 5);
        /* Mostly in order, some out of order, a few far behind (late). */
        unsigned r = (unsigned)(test_rand(rng) % 20);
        e[i].ts = base - (r < 12 ? 0 : r < 18 ? (int64_t)(test_rand(rng) % 15)
                                             : (int64_t)(test_rand(rng) % 60));
        e[i].null_key = test_rand(rng) % 25 == 0;
        snprintf(e[i].key, sizeof e[i].key, "k%d", (int)(test_rand(rng) % 5));
        int v = (int)(test_rand(rng) % 100);
        if (test_rand(rng) % 30 == 0)
            v = -1;                     /* deletes the state */
        snprintf(e[i].value, sizeof e[i].value, "%d", v);
    }
    return e;
}

static void run_events(task_t *t, const ev_t *e, int from, int to, int64_t *offset)
{
    for (int i = from; i < to; i++) {
        int rc;
        if (e[i].kind == 1) {
            rc = task_upstream_watermark(t, e[i].up, e[i].ts, (*offset)++);
        } else {
            kappa_record_t r = {e[i].null_key ? NULL : e[i].key,
                                e[i].null_key ? 0 : strlen(e[i].key), e[i].value,
                                strlen(e[i].value), e[i].ts};
            rc = task_process(t, &r, (*offset)++);
        }
        if (rc)
            test_fail(__FILE__, __LINE__, "event %d failed: %d", i, rc);
    }
}

static int entry_in(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t olen;
    const void *o = store_get(ctx, key, klen, &olen);
    return !o || olen != vlen || memcmp(o, val, vlen) != 0;
}

/* The same entries, byte for byte. */
static bool same_state(task_t *a, task_t *b)
{
    return store_count(a->state) == store_count(b->state) &&
           store_bytes(a->state) == store_bytes(b->state) &&
           store_each(a->state, entry_in, b->state) == 0;
}

/* Run the events through A; at the cut, commit A, restore B from A's store,
 * then feed the rest to both: the outputs from there on must be the same
 * records in the same order, and the final states equal. */
static void determinism_run(bool repartition, int which, int nevents, int step)
{
    uint64_t rng = test_seed() ^ (uint64_t)which * 0x9e3779b97f4a7c15ull ^
                   (repartition ? 0xabcdef : 0);
    ev_t *e = random_events(&rng, nevents, repartition);
    kappa_job_t *job = all_windows_job(repartition, which);
    int stage = repartition ? 1 : 0, nup = repartition ? 2 : 0;
    capture_t ca = {0}, cb = {0};
    int checked = 0;
    for (int cut = 0; cut <= nevents; cut += step) {
        task_t a, b;
        start(&a, job, stage, 0);
        if (nup)
            CHECK_OK(task_set_upstreams(&a, nup));
        int64_t off_a = 0, off_b;
        cap_cur = &ca;
        run_events(&a, e, 0, cut, &off_a);
        CHECK_OK(task_prepare_commit(&a));
        cap_clear(&ca);
        off_b = off_a;
        restore_into(&b, &a, job, stage, nup);
        run_events(&a, e, cut, nevents, &off_a);
        cap_cur = &cb;
        run_events(&b, e, cut, nevents, &off_b);
        cap_cur = &cap_default;
        for (int i = 0; i < ca.n || i < cb.n; i++) {
            const char *x = i < ca.n ? ca.lines[i] : "(nothing)";
            const char *y = i < cb.n ? cb.lines[i] : "(nothing)";
            if (strcmp(x, y) != 0) {
                char bx[300], by[300];
                snprintf(bx, sizeof bx, "%s", x);
                snprintf(by, sizeof by, "%s", y);
                int na = ca.n, nb = cb.n;
                cap_free(&ca);
                cap_free(&cb);
                task_free(&a);
                task_free(&b);
                job_free(job);
                free(e);
                test_fail(__FILE__, __LINE__,
                          "aggregates 0x%x%s, cut at event %d: output %d differs: uninterrupted "
                          "'%s', restored '%s' (%d vs %d outputs)", which,
                          repartition ? " (repartition stage)" : "", cut, i, bx, by, na, nb);
            }
        }
        CHECK_EQ_INT(a.watermark, b.watermark);
        CHECK(same_state(&a, &b));
        checked += ca.n;
        cap_clear(&ca);
        cap_clear(&cb);
        task_free(&a);
        task_free(&b);
    }
    /* The comparison was about something. */
    CHECK(checked > nevents);
    cap_free(&ca);
    cap_free(&cb);
    job_free(job);
    free(e);
}

TEST(restore_is_deterministic_fixed_windows)
{
    static const int each[] = {AGG_PLAIN, AGG_TUM, AGG_TUMC, AGG_HOP, AGG_HOPC};
    for (int i = 0; i < 5; i++)
        determinism_run(false, each[i], 500, 7);
}

TEST(restore_is_deterministic_session_emit_changes)
{
    determinism_run(false, AGG_SESC, 500, 7);
}

/* Every aggregate but session windows on close (see the known bug below). */
TEST(restore_is_deterministic_aggregates_together)
{
    determinism_run(false, AGG_ALL & ~AGG_SES, 400, 9);
}

TEST(restore_is_deterministic_repartition_stage)
{
    determinism_run(true, AGG_ALL & ~AGG_SES, 400, 9);
}

/*
 * Regression: session windows with KAPPA_EMIT_ON_CLOSE closed in a different
 * order after a restore.  Every event of a session pushes a timer, so an
 * uninterrupted task holds stale timers a restored task does not have; a
 * stale timer closed every session the watermark had passed, ahead of
 * other keys' sessions that closed earlier.  Sessions now close only by
 * their own timer's time.
 */
static void test_session_on_close_order_same_after_restore(void)
{
    determinism_run(false, AGG_SES, 500, 7);
    determinism_run(false, AGG_ALL, 400, 9);
    determinism_run(true, AGG_ALL, 400, 9);
}

/*
 * Regression: one late event seen by two windowed aggregates of a task was
 * counted twice and written twice to the late topic.
 */
static void test_late_event_counted_once_for_all_aggregates(void)
{
    kappa_job_t *job = new_job();
    kappa_job_set_late_topic(job, "late");
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    CHECK_OK(kappa_sink(kappa_aggregate(s, "a1", &o), "o1", NULL));
    CHECK_OK(kappa_sink(kappa_aggregate(s, "a2", &o), "o2", NULL));
    plan(job);
    task_t t;
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 50);
    FEED(&t, "a", "1", 5);
    EXPECT("late p=-1 key=a val=1 ts=5");
    CHECK_EQ_INT(t.late, 1);
    task_free(&t);
    job_free(job);
}

static void quiet(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)line; (void)ctx;
}

/* ---- source tags ----------------------------------------------------------- */

TEST(source_tags_follow_the_taken_record)
{
    /* A single stage: a window closed by a record carries that record's tag. */
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    kappa_job_t *job = agg_job(&o, 0);
    task_t t, b;
    start(&t, job, 0, 2);
    t.source_tags = true;
    next_offset = 40;
    FEED(&t, "a", "1", 3);
    FEED(&t, "b", "2", 5);
    EXPECT_NONE();
    FEED(&t, "c", "4", 12);             /* offset 42 closes [0,10) */
    EXPECT("out p=-1 key=a val=a[0,10)=1/1 ts=9 src=in:2@42",
           "out p=-1 key=b val=b[0,10)=1/2 ts=9 src=in:2@42");
    /* The tag is state: a restored task has it before taking anything. */
    CHECK_OK(task_prepare_commit(&t));
    restore_into(&b, &t, job, 0, 0);
    CHECK(b.tag.topic == job->nodes[0]->topic);
    CHECK(b.tag.topic_len == 2 && b.tag.partition == 2 && b.tag.offset == 42);
    task_free(&t);
    task_free(&b);
    job_free(job);
    /* Without source tags nothing is tagged and no tag entry is stored. */
    job = agg_job(&o, 0);
    start(&t, job, 0, 0);
    FEED(&t, "a", "1", 3);
    FEED(&t, "a", "1", 13);
    EXPECT("out p=-1 key=a val=a[0,10)=1/1 ts=9");
    CHECK_OK(task_prepare_commit(&t));
    size_t vlen;
    CHECK(store_get(t.state, "\xff" "s", 2, &vlen) == NULL);
    task_free(&t);
    job_free(job);
}

TEST(source_tags_cross_repartition_topics)
{
    kappa_job_t *job = new_job();
    kappa_stream_t *s = kappa_source(job, "in", NULL);
    kappa_stream_t *r = kappa_key_by(s, "rk", key_prefix, NULL);
    kappa_agg_opts_t o = tally_opts(KAPPA_WINDOW_TUMBLING, 10, 0, 0, 0, KAPPA_EMIT_ON_CLOSE);
    CHECK_OK(kappa_sink(kappa_aggregate(r, "agg", &o), "out", NULL));
    plan(job);
    /* Upstream: the repartition record is tagged, the watermark report not. */
    task_t u, d;
    start(&u, job, 0, 1);
    u.source_tags = true;
    next_offset = 7;
    FEED(&u, "k", "v", 100);
    CHECK(cap_cur->n == 1 && strstr(cap_cur->lines[0], "-repartition ") &&
          strstr(cap_cur->lines[0], " src=in:1@7"));
    cap_clear(cap_cur);
    CHECK_OK(task_prepare_commit(&u));
    CHECK(cap_cur->n == 4);
    for (int i = 0; i < cap_cur->n; i++)
        CHECK(strstr(cap_cur->lines[i], "wm=100") && !strstr(cap_cur->lines[i], "src="));
    cap_clear(cap_cur);
    /* Downstream: the tag comes from the record's header, not its position. */
    start(&d, job, 1, 0);
    CHECK_OK(task_set_upstreams(&d, 1));
    d.source_tags = true;
    CHECK(task_source_topic(&d, "in", 2) == s->topic);
    CHECK(task_source_topic(&d, "inx", 3) == NULL);
    CHECK(task_source_topic(&d, r->topic, strlen(r->topic)) == NULL);   /* the repartition topic */
    cut_tag_t tag = {task_source_topic(&d, "in", 2), 2, 3, 77};
    kappa_record_t rec = {"a", 1, "5", 1, 4};
    CHECK_OK(task_offer_tagged(&d, 0, &rec, next_offset++, &tag));
    EXPECT_NONE();
    up_wm(&d, 0, 20);                   /* a report closes it: the last record's tag */
    EXPECT("out p=-1 key=a val=a[0,10)=1/5 ts=9 src=in:3@77");
    FEED(&d, "b", "1", 25);             /* an untagged repartition record */
    up_wm(&d, 0, 40);
    EXPECT("out p=-1 key=b val=b[20,30)=1/1 ts=29");
    task_free(&u);
    task_free(&d);
    job_free(job);
}

int main(void)
{
    /* Failing operators log errors by design; keep the output to results. */
    kp_log_set_sink(quiet, NULL);
    RUN(map_flat_map_filter_sink);
    RUN(map_must_emit_exactly_one);
    RUN(key_by_writes_the_repartition_topic);
    RUN(plain_aggregate_default_result_is_the_state);
    RUN(tumbling_on_close_exactly_at_end_plus_grace);
    RUN(tumbling_emit_changes_every_update);
    RUN(hopping_each_event_in_size_over_slide_windows);
    RUN(session_windows_merge_and_retract);
    RUN(session_windows_on_close);
    RUN(watermark_is_max_event_time_minus_bound);
    RUN(session_late_events);
    RUN(repartition_watermark_is_min_of_upstreams);
    RUN(equal_timers_fire_in_key_order);
    RUN(prepare_commit_reports_watermarks_once_per_change);
    RUN(meta_entry_restores_time_keeping);
    RUN(restore_is_deterministic_fixed_windows);
    RUN(restore_is_deterministic_session_emit_changes);
    RUN(restore_is_deterministic_aggregates_together);
    RUN(restore_is_deterministic_repartition_stage);
    RUN(session_on_close_order_same_after_restore);
    RUN(late_event_counted_once_for_all_aggregates);
    RUN(source_tags_follow_the_taken_record);
    RUN(source_tags_cross_repartition_topics);
    cap_free(&cap_default);
    return test_summary();
}

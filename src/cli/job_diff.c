/*
 * job_diff.c -- `kappa job diff NAME V1 V2`: compare two registry versions'
 * outputs over the same input (docs/jobs.md, "Diff").
 *
 * Both versions ran with source tags (every registry version does), so each
 * output record names the source record (topic, partition, offset) whose
 * processing emitted it.  Diff fixes a cut C = per source partition the
 * smaller of the two groups' committed offsets: both versions have
 * processed every input before C, and committed everything it caused (the
 * outputs and the input offset go in one transaction).  For a multi-stage
 * job it then waits, bounded, until each version's downstream stages have
 * consumed their repartition topics up to the ends read after C was fixed.
 * Then, per output topic (T.vV1 vs T.vV2) and per view (backing topics
 * __kappa_view.VIEW.vV1 vs ...vV2), it reads the topic read_committed from
 * the start to its end, keeps the records tagged before the cut, folds them
 * into key -> latest value (a null value deletes) and compares the maps.
 *
 * Invariants:
 *  (1) Only records tagged before the cut count, so input a version
 *      processed beyond C (one version ahead of the other) never shows as a
 *      difference, however far ahead it is or whether input still arrives.
 *  (2) A record without a tag refuses the diff: without it there is no way
 *      to know which input it belongs to, and a guess would report false
 *      differences (or hide real ones).
 *
 * Exit status: 0 identical, 1 different (or a failure, with a message), 2
 * usage, 3 no broker.  Records with a null key are compared as a multiset
 * of values (no key to fold them by).
 */
#include "cli/client.h"
#include "cli/job_diff.h"
#include "cli/out.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "jobs/cut.h"
#include "jobs/registry.h"
#include "view/view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIFF_SAMPLES_DEFAULT 5
#define DIFF_WAIT_MS_DEFAULT 60000

/* ---- key -> latest value ---------------------------------------------------- */

/* A map entry.  The key's first byte says what it is: 1 a record key (the
 * rest), 0 a null-key record's value (the rest), whose "value" is then its
 * count as 8 bytes. */
typedef struct ent {
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
    bool present;                   /* false: deleted (null value last) */
} ent_t;

typedef struct map {
    ent_t *e;
    size_t cap, n;                  /* open addressing, cap a power of two */
} map_t;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static ent_t *map_slot(map_t *m, const uint8_t *k, size_t klen)
{
    size_t i = (size_t)hash_bytes(k, klen) & (m->cap - 1);
    for (;;) {
        ent_t *e = &m->e[i];
        if (!e->key || (e->klen == klen && memcmp(e->key, k, klen) == 0))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static const ent_t *map_get(const map_t *m, const uint8_t *k, size_t klen)
{
    if (!m->cap)
        return NULL;
    const ent_t *e = map_slot((map_t *)m, k, klen);
    return e->key ? e : NULL;
}

static int map_grow(map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    ent_t *ne = kp_calloc(cap, sizeof *ne);
    if (!ne)
        return KP_ENOMEM;
    map_t nm = {ne, cap, m->n};
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].key)
            *map_slot(&nm, m->e[i].key, m->e[i].klen) = m->e[i];
    kp_free(m->e);
    *m = nm;
    return 0;
}

/* The entry of k, created (absent, no value) if new. */
static ent_t *map_put(map_t *m, const uint8_t *k, size_t klen)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0)
        return NULL;
    ent_t *e = map_slot(m, k, klen);
    if (!e->key) {
        if (!(e->key = kp_malloc(klen ? klen : 1)))
            return NULL;
        memcpy(e->key, k, klen);
        e->klen = klen;
        m->n++;
    }
    return e;
}

static int ent_set(ent_t *e, const void *v, size_t vlen)
{
    uint8_t *nv = kp_malloc(vlen ? vlen : 1);
    if (!nv)
        return KP_ENOMEM;
    if (vlen)
        memcpy(nv, v, vlen);
    kp_free(e->val);
    e->val = nv;
    e->vlen = vlen;
    e->present = true;
    return 0;
}

static void map_free(map_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        kp_free(m->e[i].key);
        kp_free(m->e[i].val);
    }
    kp_free(m->e);
    memset(m, 0, sizeof *m);
}

/* Fold one record (before the cut) into the map. */
static int fold(map_t *m, const void *key, size_t klen, const void *val, size_t vlen,
                bool val_null, uint8_t **scratch, size_t *scap)
{
    const void *k = key ? key : val;
    size_t kl = key ? klen : vlen;
    if (!key && val_null)
        return 0;               /* a null-key tombstone deletes nothing */
    if (kl + 1 > *scap) {
        uint8_t *s = kp_realloc(*scratch, kl + 64);
        if (!s)
            return KP_ENOMEM;
        *scratch = s;
        *scap = kl + 64;
    }
    (*scratch)[0] = key ? 1 : 0;
    if (kl)
        memcpy(*scratch + 1, k, kl);
    ent_t *e = map_put(m, *scratch, kl + 1);
    if (!e)
        return KP_ENOMEM;
    if (!key) {
        uint8_t cnt[8] = {0};
        uint64_t n = 0;
        if (e->present && e->vlen == 8)
            memcpy(&n, e->val, 8);
        n++;
        memcpy(cnt, &n, 8);
        return ent_set(e, cnt, 8);
    }
    if (val_null) {
        e->present = false;
        return 0;
    }
    return ent_set(e, val, vlen);
}

/* ---- Kafka side ------------------------------------------------------------- */

typedef struct diff_ctx {
    cli_common_t c;
    rd_kafka_t *admin;
    rd_kafka_t *reader;             /* read_committed, assign only */
    const char *name;
    int v[2];
    const jobs_version_t *ver[2];
    cut_t cut;
    int64_t wait_ms;
    long long samples;
} diff_ctx_t;

static int32_t topic_partitions(diff_ctx_t *d, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(d->admin, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(d->admin, 0, t, &md, d->c.timeout_ms);
    rd_kafka_topic_destroy(t);
    int32_t n = -1;
    if (!e && md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    else if (!e && md->topic_cnt == 1)
        n = 0;                  /* no such topic */
    if (md)
        rd_kafka_metadata_destroy(md);
    return n;
}

/* A consumer handle of group `group` (never subscribed: it only reads the
 * group's committed offsets), or the read_committed reader (group NULL). */
static rd_kafka_t *consumer(diff_ctx_t *d, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = cli_conf(&d->c);
    if (!conf)
        return NULL;
    if (cli_conf_set(&d->c, conf, "group.id", group ? group : "kappa-job-diff-unused") ||
        cli_conf_set(&d->c, conf, "enable.auto.commit", "false") ||
        cli_conf_set(&d->c, conf, "isolation.level", "read_committed") ||
        cli_conf_set(&d->c, conf, "enable.partition.eof", "true") ||
        cli_conf_set(&d->c, conf, "fetch.wait.max.ms", "50")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        cli_fail(&d->c, "cannot create a consumer: %s", err);
    else if (!group)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The committed offsets of group `group` for the partitions of l (in
 * place; no commit: -1). */
static int committed(diff_ctx_t *d, const char *group, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_t *rk = consumer(d, group);
    if (!rk)
        return CLI_EXIT_FAIL;
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_committed(rk, l, d->c.timeout_ms) : 0;
    rd_kafka_destroy(rk);
    if (e)
        return cli_fail(&d->c, "reading the committed offsets of group %s: %s", group,
                        rd_kafka_err2str(e));
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err || l->elems[i].offset < 0)
            l->elems[i].offset = -1;
    return 0;
}

static bool has_input(const jobs_version_t *v, const char *topic)
{
    for (int i = 0; i < v->ninputs; i++)
        if (strcmp(v->inputs[i], topic) == 0)
            return true;
    return false;
}

/* C = per source partition min(committed of V1's group, of V2's). */
static int fix_cut(diff_ctx_t *d)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < d->ver[k]->ninputs; i++) {
            const char *topic = d->ver[k]->inputs[i];
            if (k == 1 && has_input(d->ver[0], topic))
                continue;
            int32_t np = topic_partitions(d, topic);
            if (np < 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return cli_fail(&d->c, "cannot read the metadata of input topic %s", topic);
            }
            for (int32_t p = 0; p < np; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        }
    rd_kafka_topic_partition_list_t *l2 = rd_kafka_topic_partition_list_copy(l);
    char g[2][JOBS_NAME_MAX + 32];
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        snprintf(g[k], sizeof g[k], "%s.v%d", d->name, d->v[k]);
        rc = committed(d, g[k], k ? l2 : l);
    }
    for (int i = 0; rc == 0 && i < l->cnt; i++) {
        int64_t a = l->elems[i].offset, b = l2->elems[i].offset;
        int64_t c = a < 0 || b < 0 ? 0 : (a < b ? a : b);
        if (cut_set(&d->cut, l->elems[i].topic, l->elems[i].partition, c) != 0)
            rc = cli_fail(&d->c, "out of memory");
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_topic_partition_list_destroy(l2);
    return rc;
}

/* Partitions of version v's repartition topics (NAME.vV.*-repartition). */
static rd_kafka_topic_partition_list_t *repartitions(diff_ctx_t *d, int v)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(d->admin, 1, NULL, &md, d->c.timeout_ms);
    if (e) {
        cli_fail(&d->c, "listing topics: %s", rd_kafka_err2str(e));
        return NULL;
    }
    char prefix[JOBS_NAME_MAX + 32];
    int pl = snprintf(prefix, sizeof prefix, "%s.v%d.", d->name, v);
    const char *suffix = "-repartition";
    size_t sl = strlen(suffix);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topic_cnt; i++) {
        const char *t = md->topics[i].topic;
        size_t tl = strlen(t);
        if (strncmp(t, prefix, (size_t)pl) != 0 || tl < (size_t)pl + sl ||
            strcmp(t + tl - sl, suffix) != 0)
            continue;
        for (int p = 0; p < md->topics[i].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(l, t, p);
    }
    rd_kafka_metadata_destroy(md);
    return l;
}

/*
 * Has group `group` taken every record of l's partitions below ends[i]?
 * Its committed offset is past the last record it took, so a committed
 * offset short of the end still counts when nothing but transaction markers
 * (or aborted records) lie between: read from it and see.
 */
static int consumed_to(diff_ctx_t *d, const char *group, rd_kafka_topic_partition_list_t *l,
                       const int64_t *ends, bool *all)
{
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
    int rc = committed(d, group, c);
    *all = false;
    if (rc) {
        rd_kafka_topic_partition_list_destroy(c);
        return rc;
    }
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(c->cnt);
    for (int i = 0; i < c->cnt; i++)
        if (c->elems[i].offset < ends[i])
            rd_kafka_topic_partition_list_add(a, c->elems[i].topic, c->elems[i].partition)
                ->offset = c->elems[i].offset < 0 ? RD_KAFKA_OFFSET_BEGINNING : c->elems[i].offset;
    if (a->cnt) {
        bool behind = false;
        bool *done = kp_calloc((size_t)a->cnt, sizeof *done);
        int ndone = 0;
        rd_kafka_assign(d->reader, a);
        int64_t until = cli_mono_ms() + 2000;
        while (done && ndone < a->cnt && cli_mono_ms() < until) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(d->reader, 100);
            if (!m)
                continue;
            for (int i = 0; m->rkt && i < a->cnt; i++) {
                if (done[i] || a->elems[i].partition != m->partition ||
                    strcmp(a->elems[i].topic, rd_kafka_topic_name(m->rkt)) != 0)
                    continue;
                int k = 0;
                while (k < l->cnt && (l->elems[k].partition != m->partition ||
                                      strcmp(l->elems[k].topic, a->elems[i].topic) != 0))
                    k++;
                if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    done[i] = true;
                    ndone++;
                    if (m->offset < ends[k])
                        behind = true;      /* a record it has not taken yet */
                }
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(d->reader, NULL);
        *all = done && ndone == a->cnt && !behind;
        kp_free(done);
    } else {
        *all = true;
    }
    rd_kafka_topic_partition_list_destroy(a);
    rd_kafka_topic_partition_list_destroy(c);
    return 0;
}

/*
 * Multi-stage jobs: outputs of a downstream stage for inputs before the cut
 * are written once that stage has taken the repartition records the inputs
 * caused.  Each round reads the repartition ends afresh and waits until the
 * version's group has consumed to them; one round per repartition topic
 * covers a chain of stages.
 */
static int wait_downstream(diff_ctx_t *d, int k)
{
    rd_kafka_topic_partition_list_t *l = repartitions(d, d->v[k]);
    if (!l)
        return CLI_EXIT_FAIL;
    int ntopics = 0;
    for (int i = 0; i < l->cnt; i++)
        if (i == 0 || strcmp(l->elems[i].topic, l->elems[i - 1].topic) != 0)
            ntopics++;
    char group[JOBS_NAME_MAX + 32];
    snprintf(group, sizeof group, "%s.v%d", d->name, d->v[k]);
    int64_t *ends = kp_calloc(l->cnt ? (size_t)l->cnt : 1, sizeof *ends);
    int64_t deadline = cli_mono_ms() + d->wait_ms;
    int rc = ends ? 0 : cli_fail(&d->c, "out of memory");
    for (int round = 0; rc == 0 && round < ntopics; round++) {
        for (int i = 0; rc == 0 && i < l->cnt; i++) {
            int64_t low, high;
            rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                d->reader, l->elems[i].topic, l->elems[i].partition, &low, &high,
                d->c.timeout_ms);
            if (e)
                rc = cli_fail(&d->c, "end offset of %s/%d: %s", l->elems[i].topic,
                              (int)l->elems[i].partition, rd_kafka_err2str(e));
            ends[i] = high;
        }
        bool all = false;
        while (rc == 0 && !all) {
            if ((rc = consumed_to(d, group, l, ends, &all)) != 0 || all)
                break;
            if (cli_mono_ms() >= deadline) {
                rc = cli_fail(&d->c,
                              "version %d of %s: its downstream stages have not consumed their "
                              "repartition topics within %" PRId64 " ms, so its outputs for the "
                              "inputs before the cut are not all written yet (is the version "
                              "running? see `kappa job status %s`; or raise --wait-ms)",
                              d->v[k], d->name, d->wait_ms, d->name);
                break;
            }
            usleep(200000);
        }
    }
    kp_free(ends);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* Read topic from its start to its end (read_committed) and fold the
 * records tagged before the cut into *m.  A missing topic is empty. */
static int read_output(diff_ctx_t *d, const char *topic, int version, map_t *m)
{
    int32_t np = topic_partitions(d, topic);
    if (np < 0)
        return cli_fail(&d->c, "cannot read the metadata of topic %s", topic);
    if (np == 0)
        return 0;
    int64_t *ends = kp_calloc((size_t)np, sizeof *ends);
    bool *done = kp_calloc((size_t)np, sizeof *done);
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(np);
    int rc = ends && done ? 0 : cli_fail(&d->c, "out of memory");
    int ndone = 0;
    for (int32_t p = 0; rc == 0 && p < np; p++) {
        int64_t low;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(d->reader, topic, p, &low,
                                                                 &ends[p], d->c.timeout_ms);
        if (e)
            rc = cli_fail(&d->c, "end offset of %s/%d: %s", topic, (int)p, rd_kafka_err2str(e));
        else if (ends[p] <= low)
            done[p] = true, ndone++;
        else
            rd_kafka_topic_partition_list_add(a, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rc == 0 && a->cnt)
        rd_kafka_assign(d->reader, a);
    uint8_t *scratch = NULL;
    size_t scap = 0;
    int64_t last_progress = cli_mono_ms();
    while (rc == 0 && ndone < np) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(d->reader, 100);
        if (!msg) {
            if (cli_mono_ms() - last_progress > d->c.timeout_ms)
                rc = cli_fail(&d->c, "reading %s: no progress within %d ms", topic,
                              d->c.timeout_ms);
            continue;
        }
        last_progress = cli_mono_ms();
        int32_t p = msg->partition;
        if (!msg->rkt || p < 0 || p >= np || done[p]) {
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            done[p] = true;
            ndone++;
        } else if (msg->err) {
            rc = cli_fail(&d->c, "reading %s/%d: %s", topic, (int)p, rd_kafka_message_errstr(msg));
        } else if (msg->offset < ends[p]) {
            rd_kafka_headers_t *h = NULL;
            const void *tv;
            size_t tl;
            cut_tag_t tag;
            if (rd_kafka_message_headers(msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                rd_kafka_header_get_last(h, CUT_TAG_HEADER, &tv, &tl) != 0 ||
                cut_tag_decode(tv, tl, &tag) != 0) {
                rc = cli_fail(&d->c,
                              "%s: the record at partition %d offset %" PRId64 " has no source "
                              "tag (header %s): version %d of %s ran without source tags (a "
                              "kappa older than them?), so its outputs cannot be matched to "
                              "their inputs; deploy the logic again as a new version and diff "
                              "that",
                              topic, (int)p, msg->offset, CUT_TAG_HEADER, version, d->name);
            } else if (cut_before(&d->cut, &tag)) {
                if (fold(m, msg->key, msg->key_len, msg->payload, msg->len, msg->payload == NULL,
                         &scratch, &scap) != 0)
                    rc = cli_fail(&d->c, "out of memory");
            }
            if (rc == 0 && msg->offset + 1 >= ends[p]) {
                done[p] = true;
                ndone++;
            }
        } else {
            done[p] = true;
            ndone++;
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_assign(d->reader, NULL);
    kp_free(scratch);
    kp_free(ends);
    kp_free(done);
    rd_kafka_topic_partition_list_destroy(a);
    return rc;
}

/* ---- comparing and reporting ------------------------------------------------ */

typedef struct output {
    char label[300];                /* "view revenue", "topic revenue-rows" */
    bool view;
    char name[256];
    char topic[2][300];
    int64_t equal, changed, only[2];
    /* all keys of each kind, sorted; samples print the first N */
    const ent_t **list[3];          /* changed (V1's entry), only in V1, only in V2 */
    int64_t nlist[3];
    map_t m[2];
} output_t;

static int ent_cmp(const void *a, const void *b)
{
    const ent_t *x = *(const ent_t *const *)a, *y = *(const ent_t *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int r = memcmp(x->key, y->key, n);
    return r ? r : (x->klen < y->klen ? -1 : x->klen > y->klen);
}

static bool same_value(const ent_t *a, const ent_t *b)
{
    return a->vlen == b->vlen && memcmp(a->val, b->val, a->vlen) == 0;
}

static int list_add(output_t *o, int kind, const ent_t *e, int64_t *cap)
{
    if (o->nlist[kind] == cap[kind]) {
        cap[kind] = cap[kind] ? cap[kind] * 2 : 64;
        const ent_t **n = kp_realloc(o->list[kind], (size_t)cap[kind] * sizeof *n);
        if (!n)
            return KP_ENOMEM;
        o->list[kind] = n;
    }
    o->list[kind][o->nlist[kind]++] = e;
    return 0;
}

static int compare(output_t *o)
{
    int64_t cap[3] = {0, 0, 0};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < o->m[k].cap; i++) {
            const ent_t *e = &o->m[k].e[i];
            if (!e->key || !e->present)
                continue;
            const ent_t *f = map_get(&o->m[1 - k], e->key, e->klen);
            bool other = f && f->present;
            int rc = 0;
            if (!other) {
                o->only[k]++;
                rc = list_add(o, 1 + k, e, cap);
            } else if (k == 0 && same_value(e, f)) {
                o->equal++;
            } else if (k == 0) {
                o->changed++;
                rc = list_add(o, 0, e, cap);
            }
            if (rc)
                return rc;
        }
    for (int kind = 0; kind < 3; kind++)
        if (o->nlist[kind])
            qsort(o->list[kind], (size_t)o->nlist[kind], sizeof *o->list[kind], ent_cmp);
    return 0;
}

/* A null-key entry's count. */
static uint64_t ent_count(const ent_t *e)
{
    uint64_t n = 0;
    if (e->vlen == 8)
        memcpy(&n, e->val, 8);
    return n;
}

static void print_bytes(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?', f);
}

static void print_ent_text(FILE *f, const ent_t *e)
{
    if (e->key[0] == 0) {
        fprintf(f, "(null key) ");
        print_bytes(f, e->key + 1, e->klen - 1);
        fprintf(f, " x%" PRIu64, ent_count(e));
    } else {
        print_bytes(f, e->val, e->vlen);
    }
}

static void print_key_text(FILE *f, const ent_t *e)
{
    if (e->key[0] == 0)
        fprintf(f, "(null key)");
    else
        print_bytes(f, e->key + 1, e->klen - 1);
}

static void print_text(const diff_ctx_t *d, output_t *o, int n, bool identical, const char *cut)
{
    printf("diff %s v%d v%d over the input before the cut %s\n", d->name, d->v[0], d->v[1],
           cut[0] ? cut : "(empty)");
    out_table_t *t = out_table_new(6, "OUTPUT", "EQUAL", "CHANGED", "ONLY_V1", "ONLY_V2",
                                   "RESULT");
    for (int col = 1; col < 5; col++)
        out_num(t, col);
    for (int i = 0; i < n; i++) {
        char eq[32], ch[32], o1[32], o2[32];
        snprintf(eq, sizeof eq, "%" PRId64, o[i].equal);
        snprintf(ch, sizeof ch, "%" PRId64, o[i].changed);
        snprintf(o1, sizeof o1, "%" PRId64, o[i].only[0]);
        snprintf(o2, sizeof o2, "%" PRId64, o[i].only[1]);
        bool same = !o[i].changed && !o[i].only[0] && !o[i].only[1];
        out_row(t, o[i].label, eq, ch, o1, o2, same ? "identical" : "different");
    }
    out_print(t, d->c.format == CLI_FMT_TEXT ? CLI_FMT_TEXT : CLI_FMT_TABLE, stdout);
    out_table_free(t);
    for (int i = 0; i < n; i++)
        for (int kind = 0; kind < 3; kind++) {
            if (!o[i].nlist[kind] || d->samples == 0)
                continue;
            char what[64];
            if (kind == 0)
                snprintf(what, sizeof what, "changed");
            else
                snprintf(what, sizeof what, "only in v%d", d->v[kind - 1]);
            printf("\n%s, %s (%" PRId64 "%s):\n", o[i].label, what, o[i].nlist[kind],
                   o[i].nlist[kind] > d->samples ? ", first ones" : "");
            for (int64_t j = 0; j < o[i].nlist[kind] && j < d->samples; j++) {
                const ent_t *e = o[i].list[kind][j];
                printf("  ");
                print_key_text(stdout, e);
                if (kind == 0) {
                    const ent_t *f = map_get(&o[i].m[1], e->key, e->klen);
                    printf("\n    v%d: ", d->v[0]);
                    print_ent_text(stdout, e);
                    printf("\n    v%d: ", d->v[1]);
                    print_ent_text(stdout, f);
                } else {
                    printf(": ");
                    print_ent_text(stdout, e);
                }
                printf("\n");
            }
        }
    printf("\n%s\n", identical ? "identical" : "different");
}

static void json_ent_value(const ent_t *e)
{
    if (e->key[0] == 0)
        printf("{\"value\":"), out_json_strn(stdout, (const char *)e->key + 1, e->klen - 1),
            printf(",\"count\":%" PRIu64 "}", ent_count(e));
    else
        out_json_strn(stdout, (const char *)e->val, e->vlen);
}

static void json_key(const ent_t *e)
{
    if (e->key[0] == 0)
        printf("null");
    else
        out_json_strn(stdout, (const char *)e->key + 1, e->klen - 1);
}

static void print_json(const diff_ctx_t *d, output_t *o, int n, bool identical, const char *cut)
{
    printf("{\"job\":");
    out_json_str(stdout, d->name);
    printf(",\"v1\":%d,\"v2\":%d,\"cut\":", d->v[0], d->v[1]);
    out_json_str(stdout, cut);
    printf(",\"identical\":%s,\"outputs\":[", identical ? "true" : "false");
    static const char *names[3] = {"changed", "only_v1", "only_v2"};
    for (int i = 0; i < n; i++) {
        printf("%s{\"kind\":\"%s\",\"name\":", i ? "," : "", o[i].view ? "view" : "topic");
        out_json_str(stdout, o[i].name);
        printf(",\"topic_v1\":");
        out_json_str(stdout, o[i].topic[0]);
        printf(",\"topic_v2\":");
        out_json_str(stdout, o[i].topic[1]);
        printf(",\"equal\":%" PRId64 ",\"changed\":%" PRId64 ",\"only_v1\":%" PRId64
               ",\"only_v2\":%" PRId64 ",\"samples\":{",
               o[i].equal, o[i].changed, o[i].only[0], o[i].only[1]);
        for (int kind = 0; kind < 3; kind++) {
            printf("%s\"%s\":[", kind ? "," : "", names[kind]);
            for (int64_t j = 0; j < o[i].nlist[kind] && j < d->samples; j++) {
                const ent_t *e = o[i].list[kind][j];
                printf("%s{\"key\":", j ? "," : "");
                json_key(e);
                if (kind == 0) {
                    printf(",\"v1\":");
                    json_ent_value(e);
                    printf(",\"v2\":");
                    json_ent_value(map_get(&o[i].m[1], e->key, e->klen));
                } else {
                    printf(",\"value\":");
                    json_ent_value(e);
                }
                printf("}");
            }
            printf("]");
        }
        printf("}}");
    }
    printf("]}\n");
}

/* ---- the command -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kappa job diff NAME V1 V2 [--samples N] [--json] [options]\n"
            "\n"
            "Compare two deployed versions' outputs over the same input: the input before\n"
            "the cut C = per source partition the smaller of the two groups' committed\n"
            "offsets (both versions processed it).  Per output topic (T.vV1 vs T.vV2) and\n"
            "per view, the records whose source tag lies before C are folded into key ->\n"
            "latest value and compared: keys equal, changed, only in V1, only in V2, with\n"
            "samples.  Exit status 0 when identical, 1 when different, so a script can gate\n"
            "a promotion on it.\n"
            "\n"
            "options:\n"
            "      --samples N               keys shown per kind and output (default %d)\n"
            "      --wait-ms MS              multi-stage jobs: how long to wait for the\n"
            "                                downstream stages to catch up to the cut\n"
            "                                (default %d)\n"
            "      --json                    one JSON document\n",
            DIFF_SAMPLES_DEFAULT, DIFF_WAIT_MS_DEFAULT);
    cli_common_help(f);
}

static bool has_output(const jobs_version_t *v, const char *s, bool view)
{
    for (int i = 0; i < (view ? v->nviews : v->noutputs); i++)
        if (strcmp(view ? v->views[i] : v->outputs[i], s) == 0)
            return true;
    return false;
}

/* The outputs of both versions (union, V1's order first). */
static int list_outputs(const diff_ctx_t *d, output_t **out)
{
    int cap = 2 * (JOBS_MAX_LIST * 2), n = 0;
    output_t *o = kp_calloc((size_t)cap, sizeof *o);
    if (!o)
        return -1;
    for (int view = 1; view >= 0; view--)
        for (int k = 0; k < 2; k++) {
            const jobs_version_t *v = d->ver[k];
            for (int i = 0; i < (view ? v->nviews : v->noutputs); i++) {
                const char *s = view ? v->views[i] : v->outputs[i];
                if (k == 1 && has_output(d->ver[0], s, view))
                    continue;
                output_t *x = &o[n++];
                x->view = view;
                snprintf(x->name, sizeof x->name, "%s", s);
                snprintf(x->label, sizeof x->label, "%s %s", view ? "view" : "topic", s);
                for (int j = 0; j < 2; j++) {
                    if (view)
                        view_topic(x->topic[j], sizeof x->topic[j], s, d->v[j]);
                    else
                        snprintf(x->topic[j], sizeof x->topic[j], "%s.v%d", s, d->v[j]);
                }
            }
        }
    *out = o;
    return n;
}

int cli_job_diff(int argc, char **argv)
{
    diff_ctx_t d = {0};
    cli_common_init(&d.c, "kappa job diff");
    d.samples = DIFF_SAMPLES_DEFAULT;
    long long wait = DIFF_WAIT_MS_DEFAULT;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
        int r = cli_common_flag(&d.c, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (strcmp(a, "--json") == 0) {
            d.c.format = CLI_FMT_JSON;
        } else if (strcmp(a, "--samples") == 0 || strcmp(a, "--wait-ms") == 0) {
            long long *dst = a[2] == 's' ? &d.samples : &wait;
            if (!val)
                return cli_usage_error(&d.c, "%s needs a value (see --help)", a);
            if (cli_parse_i64(&d.c, a, val, dst))
                return CLI_EXIT_USAGE;
            if (*dst < 0)
                return cli_usage_error(&d.c, "%s must be >= 0", a);
            i++;
        } else if (a[0] == '-') {
            return cli_usage_error(&d.c, "unknown option %s (see --help)", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return cli_usage_error(&d.c, "unexpected argument '%s' (see --help)", a);
        }
    }
    if (npos != 3)
        return cli_usage_error(&d.c, "NAME, V1 and V2 are required (see --help)");
    d.name = pos[0];
    d.wait_ms = wait;
    for (int k = 0; k < 2; k++) {
        long long v;
        if (cli_parse_i64(&d.c, k ? "V2" : "V1", pos[1 + k], &v))
            return CLI_EXIT_USAGE;
        if (v < 1 || v > 1000000)
            return cli_usage_error(&d.c, "versions are integers 1..1000000");
        d.v[k] = (int)v;
    }
    if (d.v[0] == d.v[1])
        return cli_usage_error(&d.c, "V1 and V2 must be two different versions");

    int code;
    if (!(d.admin = cli_admin_handle(&d.c, &code)))
        return code;
    jobs_registry_t reg = {0};
    output_t *outs = NULL;
    int nouts = 0, status = CLI_EXIT_FAIL;
    char why[512], *cut = NULL;
    rd_kafka_conf_t *conf = cli_conf(&d.c);
    if (!conf || jobs_registry_read(conf, &reg, d.c.timeout_ms, why, sizeof why) != 0) {
        if (conf)
            cli_fail(&d.c, "%s", why);
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        d.ver[k] = jobs_registry_find(&reg, d.name, d.v[k]);
        if (!d.ver[k]) {
            bool any = false;
            for (int i = 0; i < reg.nversions; i++)
                any |= strcmp(reg.versions[i]->name, d.name) == 0;
            if (any)
                cli_fail(&d.c, "job %s has no version %d (see `kappa job list`)", d.name, d.v[k]);
            else
                cli_fail(&d.c, "no job %s in the registry (see `kappa job list`)", d.name);
            goto out;
        }
    }
    if (!(d.reader = consumer(&d, NULL)))
        goto out;
    if (fix_cut(&d) != 0)
        goto out;
    for (int k = 0; k < 2; k++)
        if (wait_downstream(&d, k) != 0)
            goto out;
    if ((nouts = list_outputs(&d, &outs)) < 0) {
        cli_fail(&d.c, "out of memory");
        goto out;
    }
    bool identical = true;
    for (int i = 0; i < nouts; i++) {
        for (int k = 0; k < 2; k++)
            if (read_output(&d, outs[i].topic[k], d.v[k], &outs[i].m[k]) != 0)
                goto out;
        if (compare(&outs[i]) != 0) {
            cli_fail(&d.c, "out of memory");
            goto out;
        }
        identical &= !outs[i].changed && !outs[i].only[0] && !outs[i].only[1];
    }
    if (!(cut = cut_format(&d.cut))) {
        cli_fail(&d.c, "out of memory");
        goto out;
    }
    bool empty = true;
    for (size_t i = 0; i < d.cut.n; i++)
        empty &= d.cut.e[i].offset == 0;
    if (empty)
        fprintf(stderr, "kappa job diff: note: the cut is empty (a version has committed no "
                        "input yet), so there is nothing to compare\n");
    if (d.c.format == CLI_FMT_JSON)
        print_json(&d, outs, nouts, identical, cut);
    else
        print_text(&d, outs, nouts, identical, cut);
    status = identical ? 0 : 1;
out:
    for (int i = 0; i < nouts; i++) {
        map_free(&outs[i].m[0]);
        map_free(&outs[i].m[1]);
        for (int kind = 0; kind < 3; kind++)
            kp_free(outs[i].list[kind]);
    }
    kp_free(outs);
    kp_free(cut);
    cut_free(&d.cut);
    jobs_registry_free(&reg);
    if (d.reader) {
        rd_kafka_consumer_close(d.reader);
        rd_kafka_destroy(d.reader);
    }
    rd_kafka_destroy(d.admin);
    return status;
}

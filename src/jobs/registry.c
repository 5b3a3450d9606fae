/*
 * registry.c -- the job registry in __kappa_jobs (see registry.h and
 * docs/jobs.md): the record format, applying records to an in-memory view,
 * and the Kafka producer and consumer calls that write and follow it.
 *
 * Invariants:
 *  (1) Only the Kafka protocol touches the topic (librdkafka), so the same
 *      code works against kappa and against a Kafka cluster.
 *  (2) A reader's view is the fold of the records it has read in offset
 *      order, last value per key winning -- exactly what compaction keeps --
 *      so a reader that starts late (after compaction) sees the same state.
 *  (3) A plugin is stored once per content (its SHA-256 is its key) and is
 *      checked against that hash when it is read back.
 */
#include "jobs/registry.h"
#include "jobs/sha256.h"

#include "core/kp_clock.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON out ----------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf_t;

static void put(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = kp_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void put_str(buf_t *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(b, "\\%c", c);
        else if (c < 0x20)
            put(b, "\\u%04x", c);
        else
            put(b, "%c", c);
    }
    put(b, "\"");
}

static void put_list(buf_t *b, const char *field, char (*list)[256], int n)
{
    put(b, ",\"%s\":[", field);
    for (int i = 0; i < n; i++) {
        if (i)
            put(b, ",");
        put_str(b, list[i]);
    }
    put(b, "]");
}

void jobs_version_key(const char *name, int version, char *buf, size_t cap)
{
    snprintf(buf, cap, "version/%s/%d", name, version);
}

int jobs_version_json(const jobs_version_t *v, char **out, size_t *len)
{
    buf_t b = {0};
    b.cap = 1024;
    if (!(b.p = kp_malloc(b.cap)))
        return KP_ENOMEM;
    b.p[0] = '\0';
    put(&b, "{\"name\":");
    put_str(&b, v->name);
    put(&b, ",\"version\":%d,\"plugin\":{\"sha256\":\"%s\",\"size\":%" PRId64 ",\"file\":",
        v->version, v->plugin_sha256, v->plugin_size);
    put_str(&b, v->plugin_file);
    put(&b, "},\"from\":");
    put_str(&b, v->from);
    put(&b, ",\"params\":{");
    for (int i = 0; i < v->nparams; i++) {
        char kv[256];
        snprintf(kv, sizeof kv, "%s", v->params[i]);
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        put(&b, "%s", i ? "," : "");
        put_str(&b, kv);
        put(&b, ":");
        put_str(&b, eq + 1);
    }
    put(&b, "},\"state\":");
    put_str(&b, v->state);
    put(&b, ",\"deployed_ms\":%" PRId64, v->deployed_ms);
    put_list(&b, "inputs", (char(*)[256])v->inputs, v->ninputs);
    put_list(&b, "outputs", (char(*)[256])v->outputs, v->noutputs);
    put(&b, ",\"views\":[");
    for (int i = 0; i < v->nviews; i++) {
        put(&b, "%s", i ? "," : "");
        put_str(&b, v->views[i]);
    }
    put(&b, "],\"partitions\":[");
    for (int i = 0; i < v->nparts; i++) {
        const jobs_partition_t *p = &v->parts[i];
        put(&b, "%s{\"topic\":", i ? "," : "");
        put_str(&b, p->topic);
        put(&b, ",\"partition\":%" PRId32 ",\"start\":%" PRId64 ",\"end\":%" PRId64 "}",
            p->partition, p->start_offset, p->end_offset);
    }
    put(&b, "]");
    if (v->has_stable) {
        put(&b, ",\"stable\":{\"from\":");
        if (v->stable_from)
            put_str(&b, v->stable_from);
        else
            put(&b, "null");
        put(&b, ",\"until\":");
        if (v->stable_until)
            put_str(&b, v->stable_until);
        else
            put(&b, "null");
        put(&b, "}");
    }
    put(&b, "}");
    if (b.oom) {
        kp_free(b.p);
        return KP_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* ---- JSON in: a small recursive-descent reader into a tree --------------- */

typedef enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type_t;

typedef struct jv {
    jv_type_t type;
    char *str;                  /* JV_STR (decoded); also a member's key */
    char *key;
    int64_t num;
    struct jv **kids;           /* JV_ARR, JV_OBJ */
    int nkids;
} jv_t;

typedef struct jp {
    const char *p, *end;
    int depth;
} jp_t;

static void jv_free(jv_t *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->nkids; i++)
        jv_free(v->kids[i]);
    kp_free(v->kids);
    kp_free(v->str);
    kp_free(v->key);
    kp_free(v);
}

static void ws(jp_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static char *parse_str(jp_t *j)
{
    if (j->p >= j->end || *j->p != '"')
        return NULL;
    j->p++;
    size_t cap = 16, n = 0;
    char *s = kp_malloc(cap);
    while (s && j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end)
                break;
            c = *j->p++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                /* Only what our writer emits: control characters. */
                if (j->end - j->p < 4)
                    goto bad;
                char hex[5] = {j->p[0], j->p[1], j->p[2], j->p[3], 0};
                j->p += 4;
                long u = strtol(hex, NULL, 16);
                c = u < 0x80 ? (char)u : '?';
                break;
            }
            default: break;     /* \" \\ \/ */
            }
        }
        if (n + 2 > cap) {
            char *t = kp_realloc(s, cap *= 2);
            if (!t)
                goto bad;
            s = t;
        }
        s[n++] = c;
    }
    if (!s || j->p >= j->end)
        goto bad;
    j->p++;
    s[n] = '\0';
    return s;
bad:
    kp_free(s);
    return NULL;
}

static jv_t *parse_value(jp_t *j);

static int add_kid(jv_t *v, jv_t *k)
{
    jv_t **kids = kp_realloc(v->kids, (size_t)(v->nkids + 1) * sizeof *kids);
    if (!kids)
        return -1;
    v->kids = kids;
    v->kids[v->nkids++] = k;
    return 0;
}

static jv_t *parse_value(jp_t *j)
{
    ws(j);
    if (j->p >= j->end || ++j->depth > 16)
        return NULL;
    jv_t *v = kp_calloc(1, sizeof *v);
    if (!v)
        return NULL;
    char c = *j->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? JV_OBJ : JV_ARR;
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == (c == '{' ? '}' : ']')) {
            j->p++;
            goto done;
        }
        for (;;) {
            char *key = NULL;
            if (v->type == JV_OBJ) {
                ws(j);
                if (!(key = parse_str(j)))
                    goto bad;
                ws(j);
                if (j->p >= j->end || *j->p++ != ':') {
                    kp_free(key);
                    goto bad;
                }
            }
            jv_t *k = parse_value(j);
            if (!k || add_kid(v, k) != 0) {
                kp_free(key);
                jv_free(k);
                goto bad;
            }
            k->key = key;
            ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (v->type == JV_OBJ ? '}' : ']')) {
                j->p++;
                break;
            }
            goto bad;
        }
    } else if (c == '"') {
        v->type = JV_STR;
        if (!(v->str = parse_str(j)))
            goto bad;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        v->type = JV_NUM;
        char tmp[32];
        size_t n = 0;
        while (j->p < j->end && n < sizeof tmp - 1 &&
               (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')))
            tmp[n++] = *j->p++;
        tmp[n] = '\0';
        v->num = strtoll(tmp, NULL, 10);
    } else if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
    } else if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
        v->type = JV_BOOL;
        v->num = 1;
        j->p += 4;
    } else if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
        v->type = JV_BOOL;
        j->p += 5;
    } else {
        goto bad;
    }
done:
    j->depth--;
    return v;
bad:
    jv_free(v);
    return NULL;
}

static const jv_t *member(const jv_t *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (int i = 0; i < o->nkids; i++)
        if (strcmp(o->kids[i]->key, key) == 0)
            return o->kids[i];
    return NULL;
}

static void get_str(const jv_t *o, const char *key, char *dst, size_t cap)
{
    const jv_t *m = member(o, key);
    snprintf(dst, cap, "%s", m && m->type == JV_STR ? m->str : "");
}

static int64_t get_num(const jv_t *o, const char *key, int64_t dflt)
{
    const jv_t *m = member(o, key);
    return m && m->type == JV_NUM ? m->num : dflt;
}

static int get_list(const jv_t *o, const char *key, char *dst, size_t width, int max)
{
    const jv_t *m = member(o, key);
    int n = 0;
    for (int i = 0; m && m->type == JV_ARR && i < m->nkids && n < max; i++)
        if (m->kids[i]->type == JV_STR)
            snprintf(dst + (size_t)n++ * width, width, "%s", m->kids[i]->str);
    return n;
}

int jobs_version_parse(const void *json, size_t len, jobs_version_t *v)
{
    memset(v, 0, sizeof *v);
    jp_t j = {.p = json, .end = (const char *)json + len};
    jv_t *root = parse_value(&j);
    if (!root || root->type != JV_OBJ) {
        jv_free(root);
        return KP_ECORRUPT;
    }
    get_str(root, "name", v->name, sizeof v->name);
    v->version = (int)get_num(root, "version", 0);
    const jv_t *pl = member(root, "plugin");
    get_str(pl, "sha256", v->plugin_sha256, sizeof v->plugin_sha256);
    v->plugin_size = get_num(pl, "size", 0);
    get_str(pl, "file", v->plugin_file, sizeof v->plugin_file);
    get_str(root, "from", v->from, sizeof v->from);
    get_str(root, "state", v->state, sizeof v->state);
    v->deployed_ms = get_num(root, "deployed_ms", 0);
    const jv_t *params = member(root, "params");
    for (int i = 0; params && params->type == JV_OBJ && i < params->nkids &&
                    v->nparams < JOBS_MAX_PARAMS;
         i++)
        if (params->kids[i]->type == JV_STR)
            snprintf(v->params[v->nparams++], sizeof v->params[0], "%s=%s",
                     params->kids[i]->key, params->kids[i]->str);
    v->ninputs = get_list(root, "inputs", v->inputs[0], sizeof v->inputs[0], JOBS_MAX_LIST);
    v->noutputs = get_list(root, "outputs", v->outputs[0], sizeof v->outputs[0],
                           JOBS_MAX_LIST);
    v->nviews = get_list(root, "views", v->views[0], sizeof v->views[0], JOBS_MAX_LIST);
    const jv_t *parts = member(root, "partitions");
    int rc = 0;
    if (parts && parts->type == JV_ARR && parts->nkids > 0) {
        v->parts = kp_calloc((size_t)parts->nkids, sizeof *v->parts);
        if (!v->parts)
            rc = KP_ENOMEM;
        for (int i = 0; !rc && i < parts->nkids; i++) {
            jobs_partition_t *p = &v->parts[v->nparts++];
            get_str(parts->kids[i], "topic", p->topic, sizeof p->topic);
            p->partition = (int32_t)get_num(parts->kids[i], "partition", -1);
            p->start_offset = get_num(parts->kids[i], "start", 0);
            p->end_offset = get_num(parts->kids[i], "end", 0);
        }
    }
    const jv_t *st = member(root, "stable");
    if (!rc && st && st->type == JV_OBJ) {
        v->has_stable = true;
        const jv_t *from = member(st, "from"), *until = member(st, "until");
        if (from && from->type == JV_STR && !(v->stable_from = kp_strdup(from->str)))
            rc = KP_ENOMEM;
        if (until && until->type == JV_STR && !(v->stable_until = kp_strdup(until->str)))
            rc = KP_ENOMEM;
    }
    jv_free(root);
    if (!rc && (!v->name[0] || v->version < 1 || strlen(v->plugin_sha256) != 64))
        rc = KP_ECORRUPT;
    if (rc)
        jobs_version_free(v);
    return rc;
}

void jobs_version_free(jobs_version_t *v)
{
    if (!v)
        return;
    kp_free(v->parts);
    v->parts = NULL;
    v->nparts = 0;
    kp_free(v->stable_from);
    kp_free(v->stable_until);
    v->stable_from = v->stable_until = NULL;
    v->has_stable = false;
}

bool jobs_version_retired(const jobs_version_t *v)
{
    return strcmp(v->state, "retired") == 0;
}

/* ---- promoted/NAME -------------------------------------------------------- */

void jobs_promoted_key(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "promoted/%s", name);
}

int jobs_promoted_json(const jobs_promoted_t *p, char **out, size_t *len)
{
    buf_t b = {0};
    b.cap = 256;
    if (!(b.p = kp_malloc(b.cap)))
        return KP_ENOMEM;
    b.p[0] = '\0';
    put(&b, "{\"name\":");
    put_str(&b, p->name);
    put(&b, ",\"version\":%d,\"previous\":%d,\"state\":", p->version, p->previous);
    put_str(&b, p->state);
    put(&b, ",\"cut\":");
    if (p->cut)
        put_str(&b, p->cut);
    else
        put(&b, "null");
    put(&b, ",\"ts\":%" PRId64 "}", p->ts_ms);
    if (b.oom) {
        kp_free(b.p);
        return KP_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int jobs_promoted_parse(const void *json, size_t len, jobs_promoted_t *p)
{
    memset(p, 0, sizeof *p);
    jp_t j = {.p = json, .end = (const char *)json + len};
    jv_t *root = parse_value(&j);
    if (!root || root->type != JV_OBJ) {
        jv_free(root);
        return KP_ECORRUPT;
    }
    get_str(root, "name", p->name, sizeof p->name);
    p->version = (int)get_num(root, "version", 0);
    p->previous = (int)get_num(root, "previous", 0);
    get_str(root, "state", p->state, sizeof p->state);
    p->ts_ms = get_num(root, "ts", 0);
    const jv_t *cut = member(root, "cut");
    int rc = 0;
    if (cut && cut->type == JV_STR && !(p->cut = kp_strdup(cut->str)))
        rc = KP_ENOMEM;
    jv_free(root);
    if (!rc && (!p->name[0] || p->version < 1 ||
                (strcmp(p->state, "switching") != 0 && strcmp(p->state, "done") != 0)))
        rc = KP_ECORRUPT;
    if (rc)
        jobs_promoted_free(p);
    return rc;
}

void jobs_promoted_free(jobs_promoted_t *p)
{
    if (!p)
        return;
    kp_free(p->cut);
    p->cut = NULL;
}

/* ---- the in-memory view --------------------------------------------------- */

jobs_version_t *jobs_registry_find(const jobs_registry_t *r, const char *name, int version)
{
    for (int i = 0; i < r->nversions; i++)
        if (r->versions[i]->version == version && strcmp(r->versions[i]->name, name) == 0)
            return r->versions[i];
    return NULL;
}

const jobs_plugin_t *jobs_registry_plugin(const jobs_registry_t *r, const char *sha256)
{
    for (int i = 0; i < r->nplugins; i++)
        if (strcmp(r->plugins[i].sha256, sha256) == 0)
            return &r->plugins[i];
    return NULL;
}

bool jobs_registry_has_plugin(const jobs_registry_t *r, const char *sha256)
{
    return jobs_registry_plugin(r, sha256) != NULL;
}

static int apply_version(jobs_registry_t *r, const char *key, const void *val, size_t vlen)
{
    /* key: version/NAME/V; NAME may not contain '/' (job names are
     * [A-Za-z0-9._-]), so the last '/' splits it. */
    const char *slash = strrchr(key, '/');
    if (!slash || slash - key <= 8 || slash - key - 8 >= JOBS_NAME_MAX)
        return 0;
    char name[JOBS_NAME_MAX];
    memcpy(name, key + 8, (size_t)(slash - key - 8));
    name[slash - key - 8] = '\0';
    int version = atoi(slash + 1);
    jobs_version_t *old = jobs_registry_find(r, name, version);
    if (!val) {
        if (old) {
            int i = 0;
            while (r->versions[i] != old)
                i++;
            jobs_version_free(old);
            kp_free(old);
            memmove(&r->versions[i], &r->versions[i + 1],
                    (size_t)(r->nversions - i - 1) * sizeof *r->versions);
            r->nversions--;
        }
        return 0;
    }
    jobs_version_t *v = kp_malloc(sizeof *v);
    if (!v)
        return KP_ENOMEM;
    if (jobs_version_parse(val, vlen, v) != 0) {
        kp_free(v);
        return 0;           /* a record we cannot read is skipped, not fatal */
    }
    if (old) {
        jobs_version_free(old);
        *old = *v;
        kp_free(v);
        return 0;
    }
    jobs_version_t **vs = kp_realloc(r->versions, (size_t)(r->nversions + 1) * sizeof *vs);
    if (!vs) {
        jobs_version_free(v);
        kp_free(v);
        return KP_ENOMEM;
    }
    r->versions = vs;
    r->versions[r->nversions++] = v;
    return 0;
}

static int apply_promoted(jobs_registry_t *r, const char *name, const void *val, size_t vlen)
{
    int i = 0;
    while (i < r->npromoted && strcmp(r->promoted[i].name, name) != 0)
        i++;
    jobs_promoted_t p;
    if (!val || jobs_promoted_parse(val, vlen, &p) != 0 || strcmp(p.name, name) != 0) {
        if (val)
            jobs_promoted_free(&p);
        if (!val && i < r->npromoted) {
            jobs_promoted_free(&r->promoted[i]);
            memmove(&r->promoted[i], &r->promoted[i + 1],
                    (size_t)(r->npromoted - i - 1) * sizeof *r->promoted);
            r->npromoted--;
        }
        return 0;
    }
    if (i == r->npromoted) {
        jobs_promoted_t *ps = kp_realloc(r->promoted, (size_t)(i + 1) * sizeof *ps);
        if (!ps) {
            jobs_promoted_free(&p);
            return KP_ENOMEM;
        }
        r->promoted = ps;
        r->npromoted++;
    } else {
        jobs_promoted_free(&r->promoted[i]);
    }
    r->promoted[i] = p;
    return 0;
}

const jobs_promoted_t *jobs_registry_promoted(const jobs_registry_t *r, const char *name)
{
    for (int i = 0; i < r->npromoted; i++)
        if (strcmp(r->promoted[i].name, name) == 0)
            return &r->promoted[i];
    return NULL;
}

int jobs_registry_live_version(const jobs_registry_t *r, const char *name)
{
    const jobs_promoted_t *p = jobs_registry_promoted(r, name);
    if (p)
        return p->version;
    int best = 0;
    for (int i = 0; i < r->nversions; i++) {
        const jobs_version_t *v = r->versions[i];
        if (strcmp(v->name, name) == 0 && !jobs_version_retired(v) &&
            (best == 0 || v->version < best))
            best = v->version;
    }
    return best;
}

static int apply_plugin(jobs_registry_t *r, const char *sha, const void *val, size_t vlen)
{
    if (strlen(sha) != 64 || !val || jobs_registry_plugin(r, sha))
        return 0;
    char got[65];
    sha256_hex(val, vlen, got);
    if (strcmp(got, sha) != 0)
        return 0;           /* invariant (3): a damaged plugin is never used */
    jobs_plugin_t *ps = kp_realloc(r->plugins, (size_t)(r->nplugins + 1) * sizeof *ps);
    if (!ps)
        return KP_ENOMEM;
    r->plugins = ps;
    jobs_plugin_t *p = &r->plugins[r->nplugins];
    memset(p, 0, sizeof *p);
    snprintf(p->sha256, sizeof p->sha256, "%s", sha);
    p->len = vlen;
    if (r->keep_plugins) {
        if (!(p->data = kp_malloc(vlen ? vlen : 1)))
            return KP_ENOMEM;
        memcpy(p->data, val, vlen);
    }
    r->nplugins++;
    return 0;
}

int jobs_registry_apply(jobs_registry_t *r, const void *key, size_t klen, const void *val,
                        size_t vlen)
{
    char k[512];
    if (!key || klen >= sizeof k)
        return 0;
    memcpy(k, key, klen);
    k[klen] = '\0';
    r->changes++;
    if (strncmp(k, "version/", 8) == 0)
        return apply_version(r, k, val, vlen);
    if (strncmp(k, "plugin/", 7) == 0)
        return apply_plugin(r, k + 7, val, vlen);
    if (strncmp(k, "promoted/", 9) == 0)
        return apply_promoted(r, k + 9, val, vlen);
    return 0;
}

void jobs_registry_free(jobs_registry_t *r)
{
    for (int i = 0; i < r->nversions; i++) {
        jobs_version_free(r->versions[i]);
        kp_free(r->versions[i]);
    }
    kp_free(r->versions);
    for (int i = 0; i < r->nplugins; i++)
        kp_free(r->plugins[i].data);
    kp_free(r->plugins);
    for (int i = 0; i < r->npromoted; i++)
        jobs_promoted_free(&r->promoted[i]);
    kp_free(r->promoted);
    bool keep = r->keep_plugins;
    memset(r, 0, sizeof *r);
    r->keep_plugins = keep;
}

/* ---- Kafka side --------------------------------------------------------- */

rd_kafka_event_t *jobs_admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                  int timeout_ms)
{
    int64_t deadline = kp_mono_ns() / 1000000 + timeout_ms;
    for (;;) {
        int64_t left = deadline - kp_mono_ns() / 1000000;
        if (left <= 0)
            return NULL;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)left);
        if (!ev)
            return NULL;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
}

int jobs_topic_ensure(rd_kafka_t *rk, int timeout_ms, char *why, size_t cap)
{
    char err[256];
    /* -1: the broker's default replication factor (KIP-464). */
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(JOBS_TOPIC, 1, -1, err, sizeof err);
    if (!nt) {
        snprintf(why, cap, "cannot describe topic %s: %s", JOBS_TOPIC, err);
        return KP_EINVAL;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_event_t *ev =
        jobs_admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms + 1000);
    int rc = 0;
    if (!ev) {
        snprintf(why, cap, "creating topic %s: no answer within %d ms", JOBS_TOPIC, timeout_ms);
        rc = KP_EINVAL;
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (!e && n == 1)
            e = rd_kafka_topic_result_error(res[0]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(why, cap, "creating topic %s: %s", JOBS_TOPIC, rd_kafka_err2str(e));
            rc = KP_EINVAL;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}

int64_t jobs_topic_max_bytes(rd_kafka_t *rk, int timeout_ms)
{
    int64_t max = 1048588;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC,
                                                                 JOBS_TOPIC);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_DescribeConfigs(rk, &cr, 1, o, q);
    rd_kafka_event_t *ev =
        jobs_admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms + 1000);
    if (ev && !rd_kafka_event_error(ev)) {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **rs =
            rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
                                                      &n);
        for (size_t i = 0; i < n; i++) {
            size_t ne = 0;
            const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(rs[i], &ne);
            for (size_t k = 0; k < ne; k++)
                if (strcmp(rd_kafka_ConfigEntry_name(es[k]), "max.message.bytes") == 0 &&
                    rd_kafka_ConfigEntry_value(es[k]))
                    max = strtoll(rd_kafka_ConfigEntry_value(es[k]), NULL, 10);
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    return max;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)m->_private = m->err;
}

int jobs_put(rd_kafka_t *rk, const char *key, const void *val, size_t len, int timeout_ms,
             char *why, size_t cap)
{
    /* The delivery report lands in `result`; the callback is set per
     * message through the opaque, so callers need no special conf. */
    volatile rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(JOBS_TOPIC), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)val, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)&result),
        RD_KAFKA_V_END);
    if (e) {
        snprintf(why, cap, "writing %s to %s: %s", key, JOBS_TOPIC, rd_kafka_err2str(e));
        return KP_EINVAL;
    }
    int64_t deadline = kp_mono_ns() / 1000000 + timeout_ms;
    while (result == RD_KAFKA_RESP_ERR__IN_PROGRESS && kp_mono_ns() / 1000000 < deadline)
        rd_kafka_poll(rk, 50);
    if (result == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 100);
        snprintf(why, cap, "writing %s to %s: no acknowledgement within %d ms", key,
                 JOBS_TOPIC, timeout_ms);
        return KP_EINVAL;
    }
    if (result) {
        snprintf(why, cap, "writing %s to %s: %s", key, JOBS_TOPIC,
                 rd_kafka_err2str(result));
        return KP_EINVAL;
    }
    return 0;
}

int jobs_conf_producer(rd_kafka_conf_t *conf, char *why, size_t cap)
{
    char err[256];
    /* Plugins are records: let the broker's limit be the one that applies. */
    if (rd_kafka_conf_set(conf, "message.max.bytes", "1000000000", err, sizeof err) ||
        rd_kafka_conf_set(conf, "acks", "all", err, sizeof err)) {
        snprintf(why, cap, "producer configuration: %s", err);
        return KP_EINVAL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    return 0;
}

struct jobs_follower {
    rd_kafka_t *rk;
    bool assigned;
    int64_t target;             /* high watermark at the first successful poll; -1 unknown */
    int64_t next;               /* next offset to apply */
    int64_t retry_ms;           /* not assigned yet: next attempt (monotonic) */
};

jobs_follower_t *jobs_follower_new(rd_kafka_conf_t *conf, char *why, size_t cap)
{
    char err[512];
    if (rd_kafka_conf_set(conf, "group.id", "kappa-jobs-registry-reader", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof err) ||
        rd_kafka_conf_set(conf, "fetch.message.max.bytes", "67108864", err, sizeof err) ||
        rd_kafka_conf_set(conf, "receive.message.max.bytes", "134217728", err, sizeof err)) {
        snprintf(why, cap, "consumer configuration: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    jobs_follower_t *f = kp_calloc(1, sizeof *f);
    if (!f) {
        rd_kafka_conf_destroy(conf);
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!f->rk) {
        snprintf(why, cap, "cannot create a consumer: %s", err);
        kp_free(f);
        return NULL;
    }
    f->target = -1;
    return f;
}

void jobs_follower_free(jobs_follower_t *f)
{
    if (!f)
        return;
    rd_kafka_consumer_close(f->rk);
    rd_kafka_destroy(f->rk);
    kp_free(f);
}

static int follower_assign(jobs_follower_t *f, int timeout_ms)
{
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(f->rk, JOBS_TOPIC, 0, &low, &high, timeout_ms);
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        return KP_ENOTFOUND;
    if (e)
        return KP_EINVAL;
    f->target = high;
    f->next = low;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, JOBS_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(f->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return KP_EINVAL;
    f->assigned = true;
    return 0;
}

int jobs_follower_poll(jobs_follower_t *f, jobs_registry_t *r, int timeout_ms,
                       bool *caught_up)
{
    *caught_up = false;
    int64_t now = kp_mono_ns() / 1000000, deadline = now + timeout_ms;
    if (!f->assigned) {
        /* At most one attempt a second; each may wait for the broker. */
        if (now < f->retry_ms)
            return KP_ENOTFOUND;
        int rc = follower_assign(f, timeout_ms > 2000 ? timeout_ms : 2000);
        if (rc) {
            f->retry_ms = kp_mono_ns() / 1000000 + 1000;
            return rc;
        }
    }
    int rc = 0;
    for (;;) {
        if (f->next >= f->target)
            *caught_up = true;
        /* Caught up: take what is already here and return, not wait. */
        int64_t left = *caught_up ? 0 : deadline - kp_mono_ns() / 1000000;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, (int)(left > 0 ? left : 0));
        if (!m)
            break;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->offset > f->next)
                f->next = m->offset;
            if (f->next >= f->target)
                *caught_up = true;
        } else if (!m->err) {
            rc = jobs_registry_apply(r, m->key, m->key_len, m->payload, m->len);
            f->next = m->offset + 1;
        } else if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                   m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
            rc = KP_ENOTFOUND;
        }
        rd_kafka_message_destroy(m);
        if (rc || (!*caught_up && kp_mono_ns() / 1000000 >= deadline))
            break;
    }
    if (f->next >= f->target)
        *caught_up = true;
    return rc;
}

int jobs_registry_read(rd_kafka_conf_t *conf, jobs_registry_t *r, int timeout_ms, char *why,
                       size_t cap)
{
    jobs_follower_t *f = jobs_follower_new(conf, why, cap);
    if (!f)
        return KP_EINVAL;
    int64_t deadline = kp_mono_ns() / 1000000 + timeout_ms;
    bool done = false;
    int rc = 0;
    while (!done) {
        int64_t left = deadline - kp_mono_ns() / 1000000;
        if (left <= 0) {
            snprintf(why, cap, "reading %s: not at its end after %d ms", JOBS_TOPIC, timeout_ms);
            rc = KP_EINVAL;
            break;
        }
        rc = jobs_follower_poll(f, r, (int)(left < 200 ? left : 200), &done);
        if (rc == KP_ENOTFOUND) {
            rc = 0;             /* no topic: nothing deployed yet */
            break;
        }
        if (rc) {
            snprintf(why, cap, "reading %s: %s", JOBS_TOPIC, kp_strerror(rc));
            break;
        }
    }
    jobs_follower_free(f);
    return rc;
}

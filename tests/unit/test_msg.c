/*
 * test_msg.c -- the message schemas of msg.h: every API at every advertised
 * version round-trips byte for byte (random structs filled from the schema
 * tables), every truncation of a valid message is rejected, hand-built byte
 * vectors from the protocol spec decode and encode as Kafka clients expect,
 * and hostile counts are rejected before anything is allocated.
 */
#include "test.h"
#include "core/arena.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "kafka/msg.h"
#include "kafka/schema.h"
#include "kafka/wire.h"

#include <stdlib.h>
#include <string.h>

#define FAILF(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)

/* ---- schema walking helpers ---- */

static size_t elem_size(uint8_t t, const kschema_t *sub)
{
    switch (t) {
    case KT_BOOL: return sizeof(bool);
    case KT_INT8: return 1;
    case KT_INT16: return 2;
    case KT_INT32: return 4;
    case KT_INT64: return 8;
    case KT_FLOAT64: return sizeof(double);
    case KT_UUID: return sizeof(kuuid_t);
    case KT_STRING: return sizeof(kstr_t);
    case KT_BYTES: case KT_RECORDS: return sizeof(kbytes_t);
    case KT_ARRAY: return sizeof(karray_t);
    case KT_STRUCT: return sub->size;
    }
    return 0;
}

static bool present(const kfield_t *f, int16_t v)
{
    return v >= f->vmin && v <= f->vmax;
}

static bool nullable_at(const kfield_t *f, int16_t v)
{
    return f->type == KT_RECORDS || (f->null_from >= 0 && v >= f->null_from);
}

static const kfield_t *field_named(const kschema_t *s, const char *name)
{
    for (int i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return &s->fields[i];
    FAILF("schema %s has no field %s", s->name, name);
}

/* ---- a random filler driven by the tables ---- */

static char long_str[300];

static kstr_t rand_str(uint64_t *rng, bool can_null)
{
    switch (test_rand(rng) % (can_null ? 6 : 5)) {
    case 0: return (kstr_t){"", 0};
    case 1: return KSTR("a");
    case 2: return KSTR("topic-0");
    /* Longer than 127: a two-byte length varint in flexible versions. */
    case 3: return (kstr_t){long_str, 200};
    case 4: return KSTR("__consumer_offsets");
    default: return KSTR_NULL;
    }
}

static kbytes_t rand_bytes(uint64_t *rng, bool can_null)
{
    kstr_t s = rand_str(rng, can_null);
    return (kbytes_t){(const uint8_t *)s.p, s.len};
}

static void fill_struct(const kschema_t *s, int16_t v, arena_t *a, uint64_t *rng, int depth,
                        void *out);

static void fill_scalar(uint8_t t, uint64_t *rng, void *dst)
{
    uint64_t x = test_rand(rng);
    /* Edge values often: they are where encodings go wrong. */
    int pick = (int)(x % 5);
    switch (t) {
    case KT_BOOL: *(bool *)dst = x & 1; break;
    case KT_INT8: *(int8_t *)dst = pick == 0 ? -1 : pick == 1 ? INT8_MIN : (int8_t)(x >> 8); break;
    case KT_INT16: *(int16_t *)dst = pick == 0 ? -1 : pick == 1 ? INT16_MIN : (int16_t)(x >> 8); break;
    case KT_INT32: *(int32_t *)dst = pick == 0 ? -1 : pick == 1 ? INT32_MAX : (int32_t)(x >> 8); break;
    case KT_INT64: *(int64_t *)dst = pick == 0 ? -1 : pick == 1 ? INT64_MIN : (int64_t)(x >> 3); break;
    case KT_FLOAT64: *(double *)dst = (double)(int64_t)(x >> 12) / 8.0; break;
    case KT_UUID:
        for (int i = 0; i < 16; i++)
            ((kuuid_t *)dst)->b[i] = (uint8_t)test_rand(rng);
        break;
    }
}

static void fill_field(const kfield_t *f, int16_t v, arena_t *a, uint64_t *rng, int depth, void *dst)
{
    bool can_null = nullable_at(f, v);
    switch (f->type) {
    case KT_STRING: *(kstr_t *)dst = rand_str(rng, can_null); break;
    case KT_BYTES: case KT_RECORDS: *(kbytes_t *)dst = rand_bytes(rng, can_null); break;
    case KT_ARRAY: {
        karray_t *arr = dst;
        uint64_t x = test_rand(rng);
        if (can_null && x % 5 == 0) {
            *arr = (karray_t){NULL, -1};
            break;
        }
        int32_t n = depth > 4 ? 0 : (int32_t)(x / 5 % 3);
        /* Sometimes more than 127 scalars: a two-byte count varint. */
        if (f->elem_type != KT_STRUCT && x / 15 % 8 == 0)
            n = 130;
        size_t es = elem_size(f->elem_type, f->sub);
        arr->n = n;
        arr->v = n ? arena_alloc(a, es * (size_t)n) : NULL;
        if (n && !arr->v)
            FAILF("arena_alloc");
        for (int32_t i = 0; i < n; i++) {
            void *e = (char *)arr->v + es * (size_t)i;
            if (f->elem_type == KT_STRUCT)
                fill_struct(f->sub, v, a, rng, depth + 1, e);
            else if (f->elem_type == KT_STRING)
                *(kstr_t *)e = rand_str(rng, false);
            else
                fill_scalar(f->elem_type, rng, e);
        }
        break;
    }
    default: fill_scalar(f->type, rng, dst); break;
    }
}

/* Fields absent at v are filled too: the encoder must skip them. */
static void fill_struct(const kschema_t *s, int16_t v, arena_t *a, uint64_t *rng, int depth,
                        void *out)
{
    for (int i = 0; i < s->nfields; i++)
        fill_field(&s->fields[i], v, a, rng, depth, (char *)out + s->fields[i].offset);
}

/* ---- deep comparison of the fields present at v ---- */

static bool str_eq(kstr_t a, kstr_t b)
{
    return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

static bool struct_eq(const kschema_t *s, int16_t v, const void *x, const void *y, char *why,
                      size_t cap);

static bool value_eq(uint8_t t, const kschema_t *sub, int16_t v, const void *x, const void *y,
                     char *why, size_t cap)
{
    switch (t) {
    case KT_BOOL: return *(const bool *)x == *(const bool *)y;
    case KT_INT8: return *(const int8_t *)x == *(const int8_t *)y;
    case KT_INT16: return *(const int16_t *)x == *(const int16_t *)y;
    case KT_INT32: return *(const int32_t *)x == *(const int32_t *)y;
    case KT_INT64: return *(const int64_t *)x == *(const int64_t *)y;
    case KT_FLOAT64: return memcmp(x, y, sizeof(double)) == 0;
    case KT_UUID: return memcmp(x, y, sizeof(kuuid_t)) == 0;
    case KT_STRING: return str_eq(*(const kstr_t *)x, *(const kstr_t *)y);
    case KT_BYTES: case KT_RECORDS: {
        const kbytes_t *a = x, *b = y;
        return a->len == b->len && (a->len <= 0 || memcmp(a->p, b->p, (size_t)a->len) == 0);
    }
    case KT_STRUCT: return struct_eq(sub, v, x, y, why, cap);
    }
    return false;
}

static bool struct_eq(const kschema_t *s, int16_t v, const void *x, const void *y, char *why,
                      size_t cap)
{
    for (int i = 0; i < s->nfields; i++) {
        const kfield_t *f = &s->fields[i];
        if (!present(f, v))
            continue;
        const char *a = (const char *)x + f->offset, *b = (const char *)y + f->offset;
        bool eq;
        if (f->type == KT_ARRAY) {
            const karray_t *p = (const karray_t *)a, *q = (const karray_t *)b;
            eq = p->n == q->n;
            size_t es = elem_size(f->elem_type, f->sub);
            for (int32_t j = 0; eq && j < p->n; j++)
                eq = value_eq(f->elem_type, f->sub, v, (const char *)p->v + es * (size_t)j,
                              (const char *)q->v + es * (size_t)j, why, cap);
        } else {
            eq = value_eq(f->type, f->sub, v, a, b, why, cap);
        }
        if (!eq) {
            if (!why[0])
                snprintf(why, cap, "%s.%s", s->name, f->name);
            return false;
        }
    }
    return true;
}

/* ---- round trips ---- */

/* A writer's bytes, never NULL (an empty message allocates no buffer, and
 * krd_init's pointer arithmetic on NULL is undefined). */
static const uint8_t *wbuf(const kwr_t *w)
{
    return w->buf ? w->buf : (const uint8_t *)"";
}

/* Decode buf[0..n) from an exactly-sized heap copy, so that any read past
 * the end is an ASan error rather than a silent read of the next byte. */
static int decode_exact(const kschema_t *s, const uint8_t *buf, size_t n, int16_t v, bool flex,
                        arena_t *a, void *out, size_t *left)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (n)
        memcpy(copy, buf, n);
    krd_t r;
    krd_init(&r, copy, n);
    int rc = schema_decode(s, &r, v, flex, a, out);
    if (left)
        *left = krd_left(&r);
    free(copy);
    return rc;
}

/* Returns the encoded size (for the caller's statistics). */
static size_t roundtrip(const char *api, const kschema_t *s, int16_t v, bool flex, uint64_t seed,
                        bool prefixes)
{
    uint64_t rng = seed;
    arena_t a;
    arena_init(&a, 0);
    void *obj = arena_alloc(&a, s->size), *dec = arena_alloc(&a, s->size);
    fill_struct(s, v, &a, &rng, 0, obj);

    kwr_t w1, w2;
    kwr_init(&w1);
    kwr_init(&w2);
    schema_encode(s, &w1, v, flex, obj);
    if (w1.err)
        FAILF("%s v%d: encode error %d", s->name, v, w1.err);

    /* Decode from a copy that stays alive: decoded strings point into it. */
    uint8_t *frame = malloc(w1.len ? w1.len : 1);
    if (w1.len)
        memcpy(frame, w1.buf, w1.len);
    krd_t r;
    krd_init(&r, frame, w1.len);
    int rc = schema_decode(s, &r, v, flex, &a, dec);
    if (rc)
        FAILF("%s %s v%d seed %llu: decode returned %d", api, s->name, v,
              (unsigned long long)seed, rc);
    if (krd_left(&r) != 0)
        FAILF("%s v%d: %zu bytes left after decode", s->name, v, krd_left(&r));
    char why[200] = "";
    if (!struct_eq(s, v, obj, dec, why, sizeof why))
        FAILF("%s v%d seed %llu: decoded value differs at %s", s->name, v,
              (unsigned long long)seed, why);

    schema_encode(s, &w2, v, flex, dec);
    if (w2.err || w2.len != w1.len || (w1.len && memcmp(w1.buf, w2.buf, w1.len) != 0))
        FAILF("%s v%d seed %llu: re-encoding differs (%zu vs %zu bytes)", s->name, v,
              (unsigned long long)seed, w1.len, w2.len);

    /* Every proper prefix is a truncated message. */
    if (prefixes) {
        arena_t b;
        arena_init(&b, 0);
        void *tmp = arena_alloc(&a, s->size);
        for (size_t n = 0; n < w1.len; n++) {
            rc = decode_exact(s, w1.buf, n, v, flex, &b, tmp, NULL);
            if (rc != KP_ECORRUPT)
                FAILF("%s v%d seed %llu: %zu of %zu bytes decoded with %d, want KP_ECORRUPT",
                      s->name, v, (unsigned long long)seed, n, w1.len, rc);
            arena_reset(&b);
        }
        arena_free(&b);
    }

    size_t len = w1.len;
    free(frame);
    kwr_free(&w1);
    kwr_free(&w2);
    arena_free(&a);
    return len;
}

TEST(every_api_every_version_roundtrips)
{
    memset(long_str, 'x', sizeof long_str);
    uint64_t seed = test_seed();
    size_t bytes = 0;
    int cases = 0;
    for (int i = 0; i < kapi_count; i++) {
        const kapi_t *api = &kapi_table[i];
        for (int16_t v = api->min_version; v <= api->max_version; v++) {
            bool flex = kapi_flexible(api, v);
            for (int k = 0; k < 40; k++) {
                uint64_t s = seed + (uint64_t)k * 7919 + (uint64_t)api->key * 104729 + (uint64_t)v;
                s = s ? s : 1;
                bytes += roundtrip(api->name, api->req, v, flex, s, k < 3);
                bytes += roundtrip(api->name, api->resp, v, flex, s ^ 0x5555, k < 3);
                cases += 2;
            }
        }
    }
    printf("# %d round trips, %zu bytes\n", cases, bytes);
}

/* The zero-filled struct too: empty strings and arrays everywhere. */
TEST(every_api_zero_struct_roundtrips)
{
    for (int i = 0; i < kapi_count; i++) {
        const kapi_t *api = &kapi_table[i];
        const kschema_t *ss[2] = {api->req, api->resp};
        for (int16_t v = api->min_version; v <= api->max_version; v++) {
            for (int j = 0; j < 2; j++) {
                arena_t a;
                arena_init(&a, 0);
                void *z = arena_alloc(&a, ss[j]->size), *d = arena_alloc(&a, ss[j]->size);
                kwr_t w;
                kwr_init(&w);
                schema_encode(ss[j], &w, v, kapi_flexible(api, v), z);
                krd_t r;
                krd_init(&r, wbuf(&w), w.len);
                CHECK_OK(schema_decode(ss[j], &r, v, kapi_flexible(api, v), &a, d));
                CHECK_EQ_INT(krd_left(&r), 0);
                kwr_free(&w);
                arena_free(&a);
            }
        }
    }
}

/* ---- the tables themselves ---- */

static void check_layout(const kschema_t *s)
{
    /* Every field lies inside the struct and no two overlap. */
    for (int i = 0; i < s->nfields; i++) {
        const kfield_t *f = &s->fields[i];
        size_t sz = elem_size(f->type, f->sub);
        if (f->offset + sz > s->size)
            FAILF("%s.%s lies outside the struct", s->name, f->name);
        if (f->vmin > f->vmax)
            FAILF("%s.%s: empty version range", s->name, f->name);
        if ((f->type == KT_ARRAY && f->elem_type == KT_STRUCT) != (f->sub != NULL))
            FAILF("%s.%s: sub schema mismatch", s->name, f->name);
        for (int j = 0; j < i; j++) {
            const kfield_t *g = &s->fields[j];
            size_t gs = elem_size(g->type, g->sub);
            if (f->offset < g->offset + gs && g->offset < f->offset + sz)
                FAILF("%s.%s overlaps %s", s->name, f->name, g->name);
        }
        if (f->sub)
            check_layout(f->sub);
    }
}

TEST(tables_are_well_formed)
{
    for (int i = 0; i < kapi_count; i++) {
        check_layout(kapi_table[i].req);
        check_layout(kapi_table[i].resp);
    }
}

TEST(api_table_matches_protocol_md)
{
    static const struct { int16_t key, min, max, flex; } want[] = {
        {0, 3, 7, 9}, {1, 4, 11, 12}, {2, 1, 3, 6}, {3, 0, 5, 9}, {8, 2, 7, 8}, {9, 1, 5, 6},
        {10, 0, 2, 3}, {11, 0, 5, 6}, {12, 0, 3, 4}, {13, 0, 3, 4}, {14, 0, 3, 4},
        {15, 0, 4, 5}, {16, 0, 2, 3}, {17, 0, 1, KAPI_NEVER_FLEXIBLE}, {18, 0, 3, 3},
        {19, 0, 4, 5}, {20, 0, 3, 4}, {21, 0, 1, 2}, {22, 0, 4, 2}, {24, 0, 1, 3},
        {25, 0, 1, 3}, {26, 0, 1, 3}, {28, 0, 2, 3}, {32, 0, 2, 4}, {33, 0, 1, 2},
        {35, 0, 4, 2}, {37, 0, 1, 2}, {42, 0, 1, 2},
    };
    int n = (int)(sizeof want / sizeof want[0]);
    CHECK_EQ_INT(kapi_count, n);
    for (int i = 0; i < n; i++) {
        const kapi_t *a = kapi_find(want[i].key);
        CHECK(a != NULL);
        CHECK(a == &kapi_table[i]);             /* sorted by key */
        CHECK_EQ_INT(a->min_version, want[i].min);
        CHECK_EQ_INT(a->max_version, want[i].max);
        CHECK_EQ_INT(a->flexible_from, want[i].flex);
        CHECK(a->req && a->resp && a->name);
    }
    CHECK(kapi_find(36) == NULL);
    CHECK(kapi_find(34) == NULL);
    CHECK(kapi_find(-1) == NULL);
    CHECK(kapi_find(1000) == NULL);
    CHECK(!kapi_flexible(kapi_find(18), 2) && kapi_flexible(kapi_find(18), 3));
    CHECK(!kapi_flexible(kapi_find(17), 1));
    CHECK(strcmp(kapi_find(22)->name, "InitProducerId") == 0);
}

/* ---- wire layouts from Apache Kafka's JSON ----
 *
 * For each API, side ('q' request, 'p' response) and run of versions: the
 * fields on the wire in order, derived independently from Kafka's message
 * JSON files (not from msg.c): name:type, where s string, y bytes, r
 * records, b bool, i8..i64, [x] an array of x, [fields] an array of
 * structs, and a trailing ? nullable at those versions.  Tagged fields are
 * not on this list.  A change to a table that breaks a layout fails here.
 */
static const struct {
    int16_t key;
    char side;
    int16_t vmin, vmax;
    const char *layout;
} kafka_layouts[] = {
    {0, 'q', 3, 7,
     "transactional_id:s? acks:i16 timeout_ms:i32 topic_data:[name:s partition_data:[index:i32 "
     "records:r?]]"},
    {0, 'p', 3, 4,
     "responses:[name:s partition_responses:[index:i32 error_code:i16 base_offset:i64 "
     "log_append_time_ms:i64]] throttle_time_ms:i32"},
    {0, 'p', 5, 7,
     "responses:[name:s partition_responses:[index:i32 error_code:i16 base_offset:i64 "
     "log_append_time_ms:i64 log_start_offset:i64]] throttle_time_ms:i32"},
    {1, 'q', 4, 4,
     "replica_id:i32 max_wait_ms:i32 min_bytes:i32 max_bytes:i32 isolation_level:i8 "
     "topics:[topic:s partitions:[partition:i32 fetch_offset:i64 partition_max_bytes:i32]]"},
    {1, 'q', 5, 6,
     "replica_id:i32 max_wait_ms:i32 min_bytes:i32 max_bytes:i32 isolation_level:i8 "
     "topics:[topic:s partitions:[partition:i32 fetch_offset:i64 log_start_offset:i64 "
     "partition_max_bytes:i32]]"},
    {1, 'q', 7, 8,
     "replica_id:i32 max_wait_ms:i32 min_bytes:i32 max_bytes:i32 isolation_level:i8 "
     "session_id:i32 session_epoch:i32 topics:[topic:s partitions:[partition:i32 "
     "fetch_offset:i64 log_start_offset:i64 partition_max_bytes:i32]] "
     "forgotten_topics_data:[topic:s partitions:[i32]]"},
    {1, 'q', 9, 10,
     "replica_id:i32 max_wait_ms:i32 min_bytes:i32 max_bytes:i32 isolation_level:i8 "
     "session_id:i32 session_epoch:i32 topics:[topic:s partitions:[partition:i32 "
     "current_leader_epoch:i32 fetch_offset:i64 log_start_offset:i64 partition_max_bytes:i32]] "
     "forgotten_topics_data:[topic:s partitions:[i32]]"},
    {1, 'q', 11, 11,
     "replica_id:i32 max_wait_ms:i32 min_bytes:i32 max_bytes:i32 isolation_level:i8 "
     "session_id:i32 session_epoch:i32 topics:[topic:s partitions:[partition:i32 "
     "current_leader_epoch:i32 fetch_offset:i64 log_start_offset:i64 partition_max_bytes:i32]] "
     "forgotten_topics_data:[topic:s partitions:[i32]] rack_id:s"},
    {1, 'p', 4, 4,
     "throttle_time_ms:i32 responses:[topic:s partitions:[partition_index:i32 error_code:i16 "
     "high_watermark:i64 last_stable_offset:i64 aborted_transactions:[producer_id:i64 "
     "first_offset:i64]? records:r?]]"},
    {1, 'p', 5, 6,
     "throttle_time_ms:i32 responses:[topic:s partitions:[partition_index:i32 error_code:i16 "
     "high_watermark:i64 last_stable_offset:i64 log_start_offset:i64 "
     "aborted_transactions:[producer_id:i64 first_offset:i64]? records:r?]]"},
    {1, 'p', 7, 10,
     "throttle_time_ms:i32 error_code:i16 session_id:i32 responses:[topic:s "
     "partitions:[partition_index:i32 error_code:i16 high_watermark:i64 last_stable_offset:i64 "
     "log_start_offset:i64 aborted_transactions:[producer_id:i64 first_offset:i64]? "
     "records:r?]]"},
    {1, 'p', 11, 11,
     "throttle_time_ms:i32 error_code:i16 session_id:i32 responses:[topic:s "
     "partitions:[partition_index:i32 error_code:i16 high_watermark:i64 last_stable_offset:i64 "
     "log_start_offset:i64 aborted_transactions:[producer_id:i64 first_offset:i64]? "
     "preferred_read_replica:i32 records:r?]]"},
    {2, 'q', 1, 1,
     "replica_id:i32 topics:[name:s partitions:[partition_index:i32 timestamp:i64]]"},
    {2, 'q', 2, 3,
     "replica_id:i32 isolation_level:i8 topics:[name:s partitions:[partition_index:i32 "
     "timestamp:i64]]"},
    {2, 'p', 1, 1,
     "topics:[name:s partitions:[partition_index:i32 error_code:i16 timestamp:i64 offset:i64]]"},
    {2, 'p', 2, 3,
     "throttle_time_ms:i32 topics:[name:s partitions:[partition_index:i32 error_code:i16 "
     "timestamp:i64 offset:i64]]"},
    {3, 'q', 0, 0,
     "topics:[name:s]"},
    {3, 'q', 1, 3,
     "topics:[name:s]?"},
    {3, 'q', 4, 5,
     "topics:[name:s]? allow_auto_topic_creation:b"},
    {3, 'p', 0, 0,
     "brokers:[node_id:i32 host:s port:i32] topics:[error_code:i16 name:s "
     "partitions:[error_code:i16 partition_index:i32 leader_id:i32 replica_nodes:[i32] "
     "isr_nodes:[i32]]]"},
    {3, 'p', 1, 1,
     "brokers:[node_id:i32 host:s port:i32 rack:s?] controller_id:i32 topics:[error_code:i16 "
     "name:s is_internal:b partitions:[error_code:i16 partition_index:i32 leader_id:i32 "
     "replica_nodes:[i32] isr_nodes:[i32]]]"},
    {3, 'p', 2, 2,
     "brokers:[node_id:i32 host:s port:i32 rack:s?] cluster_id:s? controller_id:i32 "
     "topics:[error_code:i16 name:s is_internal:b partitions:[error_code:i16 "
     "partition_index:i32 leader_id:i32 replica_nodes:[i32] isr_nodes:[i32]]]"},
    {3, 'p', 3, 4,
     "throttle_time_ms:i32 brokers:[node_id:i32 host:s port:i32 rack:s?] cluster_id:s? "
     "controller_id:i32 topics:[error_code:i16 name:s is_internal:b partitions:[error_code:i16 "
     "partition_index:i32 leader_id:i32 replica_nodes:[i32] isr_nodes:[i32]]]"},
    {3, 'p', 5, 5,
     "throttle_time_ms:i32 brokers:[node_id:i32 host:s port:i32 rack:s?] cluster_id:s? "
     "controller_id:i32 topics:[error_code:i16 name:s is_internal:b partitions:[error_code:i16 "
     "partition_index:i32 leader_id:i32 replica_nodes:[i32] isr_nodes:[i32] "
     "offline_replicas:[i32]]]"},
    {8, 'q', 2, 4,
     "group_id:s generation_id_or_member_epoch:i32 member_id:s retention_time_ms:i64 "
     "topics:[name:s partitions:[partition_index:i32 committed_offset:i64 "
     "committed_metadata:s?]]"},
    {8, 'q', 5, 5,
     "group_id:s generation_id_or_member_epoch:i32 member_id:s topics:[name:s "
     "partitions:[partition_index:i32 committed_offset:i64 committed_metadata:s?]]"},
    {8, 'q', 6, 6,
     "group_id:s generation_id_or_member_epoch:i32 member_id:s topics:[name:s "
     "partitions:[partition_index:i32 committed_offset:i64 committed_leader_epoch:i32 "
     "committed_metadata:s?]]"},
    {8, 'q', 7, 7,
     "group_id:s generation_id_or_member_epoch:i32 member_id:s group_instance_id:s? "
     "topics:[name:s partitions:[partition_index:i32 committed_offset:i64 "
     "committed_leader_epoch:i32 committed_metadata:s?]]"},
    {8, 'p', 2, 2,
     "topics:[name:s partitions:[partition_index:i32 error_code:i16]]"},
    {8, 'p', 3, 7,
     "throttle_time_ms:i32 topics:[name:s partitions:[partition_index:i32 error_code:i16]]"},
    {9, 'q', 1, 1,
     "group_id:s topics:[name:s partition_indexes:[i32]]"},
    {9, 'q', 2, 5,
     "group_id:s topics:[name:s partition_indexes:[i32]]?"},
    {9, 'p', 1, 1,
     "topics:[name:s partitions:[partition_index:i32 committed_offset:i64 metadata:s? "
     "error_code:i16]]"},
    {9, 'p', 2, 2,
     "topics:[name:s partitions:[partition_index:i32 committed_offset:i64 metadata:s? "
     "error_code:i16]] error_code:i16"},
    {9, 'p', 3, 4,
     "throttle_time_ms:i32 topics:[name:s partitions:[partition_index:i32 committed_offset:i64 "
     "metadata:s? error_code:i16]] error_code:i16"},
    {9, 'p', 5, 5,
     "throttle_time_ms:i32 topics:[name:s partitions:[partition_index:i32 committed_offset:i64 "
     "committed_leader_epoch:i32 metadata:s? error_code:i16]] error_code:i16"},
    {10, 'q', 0, 0,
     "key:s"},
    {10, 'q', 1, 2,
     "key:s key_type:i8"},
    {10, 'p', 0, 0,
     "error_code:i16 node_id:i32 host:s port:i32"},
    {10, 'p', 1, 2,
     "throttle_time_ms:i32 error_code:i16 error_message:s? node_id:i32 host:s port:i32"},
    {11, 'q', 0, 0,
     "group_id:s session_timeout_ms:i32 member_id:s protocol_type:s protocols:[name:s "
     "metadata:y]"},
    {11, 'q', 1, 4,
     "group_id:s session_timeout_ms:i32 rebalance_timeout_ms:i32 member_id:s protocol_type:s "
     "protocols:[name:s metadata:y]"},
    {11, 'q', 5, 5,
     "group_id:s session_timeout_ms:i32 rebalance_timeout_ms:i32 member_id:s "
     "group_instance_id:s? protocol_type:s protocols:[name:s metadata:y]"},
    {11, 'p', 0, 1,
     "error_code:i16 generation_id:i32 protocol_name:s leader:s member_id:s "
     "members:[member_id:s metadata:y]"},
    {11, 'p', 2, 4,
     "throttle_time_ms:i32 error_code:i16 generation_id:i32 protocol_name:s leader:s "
     "member_id:s members:[member_id:s metadata:y]"},
    {11, 'p', 5, 5,
     "throttle_time_ms:i32 error_code:i16 generation_id:i32 protocol_name:s leader:s "
     "member_id:s members:[member_id:s group_instance_id:s? metadata:y]"},
    {12, 'q', 0, 2,
     "group_id:s generation_id:i32 member_id:s"},
    {12, 'q', 3, 3,
     "group_id:s generation_id:i32 member_id:s group_instance_id:s?"},
    {12, 'p', 0, 0,
     "error_code:i16"},
    {12, 'p', 1, 3,
     "throttle_time_ms:i32 error_code:i16"},
    {13, 'q', 0, 2,
     "group_id:s member_id:s"},
    {13, 'q', 3, 3,
     "group_id:s members:[member_id:s group_instance_id:s?]"},
    {13, 'p', 0, 0,
     "error_code:i16"},
    {13, 'p', 1, 2,
     "throttle_time_ms:i32 error_code:i16"},
    {13, 'p', 3, 3,
     "throttle_time_ms:i32 error_code:i16 members:[member_id:s group_instance_id:s? "
     "error_code:i16]"},
    {14, 'q', 0, 2,
     "group_id:s generation_id:i32 member_id:s assignments:[member_id:s assignment:y]"},
    {14, 'q', 3, 3,
     "group_id:s generation_id:i32 member_id:s group_instance_id:s? assignments:[member_id:s "
     "assignment:y]"},
    {14, 'p', 0, 0,
     "error_code:i16 assignment:y"},
    {14, 'p', 1, 3,
     "throttle_time_ms:i32 error_code:i16 assignment:y"},
    {15, 'q', 0, 2,
     "groups:[s]"},
    {15, 'q', 3, 4,
     "groups:[s] include_authorized_operations:b"},
    {15, 'p', 0, 0,
     "groups:[error_code:i16 group_id:s group_state:s protocol_type:s protocol_data:s "
     "members:[member_id:s client_id:s client_host:s member_metadata:y member_assignment:y]]"},
    {15, 'p', 1, 2,
     "throttle_time_ms:i32 groups:[error_code:i16 group_id:s group_state:s protocol_type:s "
     "protocol_data:s members:[member_id:s client_id:s client_host:s member_metadata:y "
     "member_assignment:y]]"},
    {15, 'p', 3, 3,
     "throttle_time_ms:i32 groups:[error_code:i16 group_id:s group_state:s protocol_type:s "
     "protocol_data:s members:[member_id:s client_id:s client_host:s member_metadata:y "
     "member_assignment:y] authorized_operations:i32]"},
    {15, 'p', 4, 4,
     "throttle_time_ms:i32 groups:[error_code:i16 group_id:s group_state:s protocol_type:s "
     "protocol_data:s members:[member_id:s group_instance_id:s? client_id:s client_host:s "
     "member_metadata:y member_assignment:y] authorized_operations:i32]"},
    {16, 'q', 0, 2,
     ""},
    {16, 'p', 0, 0,
     "error_code:i16 groups:[group_id:s protocol_type:s]"},
    {16, 'p', 1, 2,
     "throttle_time_ms:i32 error_code:i16 groups:[group_id:s protocol_type:s]"},
    {17, 'q', 0, 1,
     "mechanism:s"},
    {17, 'p', 0, 1,
     "error_code:i16 mechanisms:[s]"},
    {18, 'q', 0, 2,
     ""},
    {18, 'q', 3, 3,
     "client_software_name:s client_software_version:s"},
    {18, 'p', 0, 0,
     "error_code:i16 api_keys:[api_key:i16 min_version:i16 max_version:i16]"},
    {18, 'p', 1, 3,
     "error_code:i16 api_keys:[api_key:i16 min_version:i16 max_version:i16] "
     "throttle_time_ms:i32"},
    {19, 'q', 0, 0,
     "topics:[name:s num_partitions:i32 replication_factor:i16 "
     "assignments:[partition_index:i32 broker_ids:[i32]] configs:[name:s value:s?]] "
     "timeout_ms:i32"},
    {19, 'q', 1, 4,
     "topics:[name:s num_partitions:i32 replication_factor:i16 "
     "assignments:[partition_index:i32 broker_ids:[i32]] configs:[name:s value:s?]] "
     "timeout_ms:i32 validate_only:b"},
    {19, 'p', 0, 0,
     "topics:[name:s error_code:i16]"},
    {19, 'p', 1, 1,
     "topics:[name:s error_code:i16 error_message:s?]"},
    {19, 'p', 2, 4,
     "throttle_time_ms:i32 topics:[name:s error_code:i16 error_message:s?]"},
    {20, 'q', 0, 3,
     "topic_names:[s] timeout_ms:i32"},
    {20, 'p', 0, 0,
     "responses:[name:s error_code:i16]"},
    {20, 'p', 1, 3,
     "throttle_time_ms:i32 responses:[name:s error_code:i16]"},
    {21, 'q', 0, 1,
     "topics:[name:s partitions:[partition_index:i32 offset:i64]] timeout_ms:i32"},
    {21, 'p', 0, 1,
     "throttle_time_ms:i32 topics:[name:s partitions:[partition_index:i32 low_watermark:i64 "
     "error_code:i16]]"},
    {22, 'q', 0, 2,
     "transactional_id:s? transaction_timeout_ms:i32"},
    {22, 'q', 3, 4,
     "transactional_id:s? transaction_timeout_ms:i32 producer_id:i64 producer_epoch:i16"},
    {22, 'p', 0, 4,
     "throttle_time_ms:i32 error_code:i16 producer_id:i64 producer_epoch:i16"},
    {24, 'q', 0, 1,
     "v3_and_below_transactional_id:s v3_and_below_producer_id:i64 "
     "v3_and_below_producer_epoch:i16 v3_and_below_topics:[name:s partitions:[i32]]"},
    {24, 'p', 0, 1,
     "throttle_time_ms:i32 results_by_topic_v3_and_below:[name:s "
     "results_by_partition:[partition_index:i32 partition_error_code:i16]]"},
    {25, 'q', 0, 1,
     "transactional_id:s producer_id:i64 producer_epoch:i16 group_id:s"},
    {25, 'p', 0, 1,
     "throttle_time_ms:i32 error_code:i16"},
    {26, 'q', 0, 1,
     "transactional_id:s producer_id:i64 producer_epoch:i16 committed:b"},
    {26, 'p', 0, 1,
     "throttle_time_ms:i32 error_code:i16"},
    {28, 'q', 0, 1,
     "transactional_id:s group_id:s producer_id:i64 producer_epoch:i16 topics:[name:s "
     "partitions:[partition_index:i32 committed_offset:i64 committed_metadata:s?]]"},
    {28, 'q', 2, 2,
     "transactional_id:s group_id:s producer_id:i64 producer_epoch:i16 topics:[name:s "
     "partitions:[partition_index:i32 committed_offset:i64 committed_leader_epoch:i32 "
     "committed_metadata:s?]]"},
    {28, 'p', 0, 2,
     "throttle_time_ms:i32 topics:[name:s partitions:[partition_index:i32 error_code:i16]]"},
    {32, 'q', 0, 0,
     "resources:[resource_type:i8 resource_name:s configuration_keys:[s]?]"},
    {32, 'q', 1, 2,
     "resources:[resource_type:i8 resource_name:s configuration_keys:[s]?] include_synonyms:b"},
    {32, 'p', 0, 0,
     "throttle_time_ms:i32 results:[error_code:i16 error_message:s? resource_type:i8 "
     "resource_name:s configs:[name:s value:s? read_only:b is_default:b is_sensitive:b]]"},
    {32, 'p', 1, 2,
     "throttle_time_ms:i32 results:[error_code:i16 error_message:s? resource_type:i8 "
     "resource_name:s configs:[name:s value:s? read_only:b config_source:i8 is_sensitive:b "
     "synonyms:[name:s value:s? source:i8]]]"},
    {33, 'q', 0, 1,
     "resources:[resource_type:i8 resource_name:s configs:[name:s value:s?]] validate_only:b"},
    {33, 'p', 0, 1,
     "throttle_time_ms:i32 responses:[error_code:i16 error_message:s? resource_type:i8 "
     "resource_name:s]"},
    {35, 'q', 0, 4,
     "topics:[topic:s partitions:[i32]]?"},
    {35, 'p', 0, 2,
     "throttle_time_ms:i32 results:[error_code:i16 log_dir:s topics:[name:s "
     "partitions:[partition_index:i32 partition_size:i64 offset_lag:i64 is_future_key:b]]]"},
    {35, 'p', 3, 3,
     "throttle_time_ms:i32 error_code:i16 results:[error_code:i16 log_dir:s topics:[name:s "
     "partitions:[partition_index:i32 partition_size:i64 offset_lag:i64 is_future_key:b]]]"},
    {35, 'p', 4, 4,
     "throttle_time_ms:i32 error_code:i16 results:[error_code:i16 log_dir:s topics:[name:s "
     "partitions:[partition_index:i32 partition_size:i64 offset_lag:i64 is_future_key:b]] "
     "total_bytes:i64 usable_bytes:i64]"},
    {37, 'q', 0, 1,
     "topics:[name:s count:i32 assignments:[broker_ids:[i32]]?] timeout_ms:i32 validate_only:b"},
    {37, 'p', 0, 1,
     "throttle_time_ms:i32 results:[name:s error_code:i16 error_message:s?]"},
    {42, 'q', 0, 1,
     "groups_names:[s]"},
    {42, 'p', 0, 1,
     "throttle_time_ms:i32 results:[group_id:s error_code:i16]"},
};

static void layout_of(const kschema_t *s, int16_t v, char *out, size_t cap, size_t *len);

static void put(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap)
        FAILF("layout buffer too small");
    memcpy(out + *len, s, n + 1);
    *len += n;
}

static const char *type_code(uint8_t t)
{
    switch (t) {
    case KT_BOOL: return "b";
    case KT_INT8: return "i8";
    case KT_INT16: return "i16";
    case KT_INT32: return "i32";
    case KT_INT64: return "i64";
    case KT_FLOAT64: return "f64";
    case KT_UUID: return "uuid";
    case KT_STRING: return "s";
    case KT_BYTES: return "y";
    case KT_RECORDS: return "r";
    }
    return "?type";
}

static void layout_of(const kschema_t *s, int16_t v, char *out, size_t cap, size_t *len)
{
    bool first = true;
    for (int i = 0; i < s->nfields; i++) {
        const kfield_t *f = &s->fields[i];
        if (!present(f, v))
            continue;
        if (!first)
            put(out, cap, len, " ");
        first = false;
        put(out, cap, len, f->name);
        put(out, cap, len, ":");
        if (f->type == KT_ARRAY) {
            put(out, cap, len, "[");
            if (f->elem_type == KT_STRUCT)
                layout_of(f->sub, v, out, cap, len);
            else
                put(out, cap, len, type_code(f->elem_type));
            put(out, cap, len, "]");
        } else {
            put(out, cap, len, type_code(f->type));
        }
        if (nullable_at(f, v))
            put(out, cap, len, "?");
    }
}

TEST(tables_match_kafka_wire_layouts)
{
    int n = (int)(sizeof kafka_layouts / sizeof kafka_layouts[0]);
    /* Every advertised version of every API is covered exactly once. */
    for (int i = 0; i < kapi_count; i++) {
        const kapi_t *api = &kapi_table[i];
        for (int side = 0; side < 2; side++)
            for (int16_t v = api->min_version; v <= api->max_version; v++) {
                int hits = 0;
                for (int j = 0; j < n; j++)
                    if (kafka_layouts[j].key == api->key &&
                        kafka_layouts[j].side == (side ? 'p' : 'q') &&
                        v >= kafka_layouts[j].vmin && v <= kafka_layouts[j].vmax)
                        hits++;
                if (hits != 1)
                    FAILF("%s %c v%d: %d layouts", api->name, side ? 'p' : 'q', v, hits);
            }
    }
    for (int j = 0; j < n; j++) {
        const kapi_t *api = kapi_find(kafka_layouts[j].key);
        CHECK(api != NULL);
        const kschema_t *s = kafka_layouts[j].side == 'q' ? api->req : api->resp;
        for (int16_t v = kafka_layouts[j].vmin; v <= kafka_layouts[j].vmax; v++) {
            char got[2048];
            size_t len = 0;
            got[0] = 0;
            layout_of(s, v, got, sizeof got, &len);
            if (strcmp(got, kafka_layouts[j].layout) != 0)
                FAILF("%s v%d:\n  table: %s\n  kafka: %s", s->name, v, got,
                      kafka_layouts[j].layout);
        }
    }
}

/* ---- hand-built vectors ---- */

static void check_bytes(const kwr_t *w, const uint8_t *want, size_t n)
{
    CHECK_EQ_INT(w->err, 0);
    if (w->len != n)
        FAILF("encoded %zu bytes, expected %zu", w->len, n);
    for (size_t i = 0; i < n; i++)
        if (w->buf[i] != want[i])
            FAILF("byte %zu is 0x%02x, expected 0x%02x", i, w->buf[i], want[i]);
}

TEST(api_versions_response_v0_and_v3)
{
    api_versions_resp_api_version_t keys[] = {{18, 0, 3}};
    api_versions_resp_t resp = {0, {keys, 1}, 0};
    kwr_t w;

    static const uint8_t v0[] = {
        0x00, 0x00,                     /* error_code */
        0x00, 0x00, 0x00, 0x01,         /* api_keys: int32 count */
        0x00, 0x12, 0x00, 0x00, 0x00, 0x03,
    };
    kwr_init(&w);
    schema_encode(&api_versions_resp_schema, &w, 0, false, &resp);
    check_bytes(&w, v0, sizeof v0);
    kwr_free(&w);

    resp.throttle_time_ms = 0x01020304;
    static const uint8_t v3[] = {
        0x00, 0x00,                     /* error_code */
        0x02,                           /* api_keys: compact count n+1 */
        0x00, 0x12, 0x00, 0x00, 0x00, 0x03,
        0x00,                           /* the element's tag section */
        0x01, 0x02, 0x03, 0x04,         /* throttle_time_ms */
        0x00,                           /* the body's tag section */
    };
    kwr_init(&w);
    schema_encode(&api_versions_resp_schema, &w, 3, true, &resp);
    check_bytes(&w, v3, sizeof v3);

    /* And back. */
    arena_t a;
    arena_init(&a, 0);
    api_versions_resp_t d;
    krd_t r;
    krd_init(&r, v3, sizeof v3);
    CHECK_OK(schema_decode(&api_versions_resp_schema, &r, 3, true, &a, &d));
    CHECK_EQ_INT(d.api_keys.n, 1);
    const api_versions_resp_api_version_t *k = d.api_keys.v;
    CHECK(k[0].api_key == 18 && k[0].min_version == 0 && k[0].max_version == 3);
    CHECK_EQ_INT(d.throttle_time_ms, 0x01020304);
    kwr_free(&w);
    arena_free(&a);
}

TEST(api_versions_request_v3_from_a_client)
{
    /* librdkafka's body: two compact strings and an empty tag section;
     * the second vector carries an unknown tagged field, which is skipped. */
    static const uint8_t plain[] = {
        0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a',
        0x06, '2', '.', '0', '.', '2',
        0x00,
    };
    static const uint8_t tagged[] = {
        0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a',
        0x06, '2', '.', '0', '.', '2',
        0x01, 0x05, 0x02, 0xaa, 0xbb,   /* one field: tag 5, two bytes */
    };
    const uint8_t *vecs[] = {plain, tagged};
    size_t lens[] = {sizeof plain, sizeof tagged};
    for (int i = 0; i < 2; i++) {
        arena_t a;
        arena_init(&a, 0);
        api_versions_req_t q;
        size_t left;
        CHECK_OK(decode_exact(&api_versions_req_schema, vecs[i], lens[i], 3, true, &a, &q, &left));
        CHECK_EQ_INT(left, 0);
        arena_free(&a);
    }
    arena_t a;
    arena_init(&a, 0);
    api_versions_req_t q;
    krd_t r;
    krd_init(&r, plain, sizeof plain);
    CHECK_OK(schema_decode(&api_versions_req_schema, &r, 3, true, &a, &q));
    CHECK(kstr_eq(q.client_software_name, "librdkafka"));
    CHECK(kstr_eq(q.client_software_version, "2.0.2"));
    /* v0-2 bodies are empty. */
    krd_init(&r, plain, 0);
    CHECK_OK(schema_decode(&api_versions_req_schema, &r, 0, false, &a, &q));
    CHECK_EQ_INT(q.client_software_name.len, -1);
    arena_free(&a);
}

TEST(metadata_request_null_and_empty_topics)
{
    arena_t a;
    arena_init(&a, 0);
    metadata_req_t q = {{NULL, -1}, true}, d;
    kwr_t w;
    krd_t r;
    static const uint8_t empty[] = {0x00, 0x00, 0x00, 0x00};
    static const uint8_t null[] = {0xff, 0xff, 0xff, 0xff};
    static const uint8_t null_v4[] = {0xff, 0xff, 0xff, 0xff, 0x01};

    /* v0 has no null: a null list is written as the empty one (= all). */
    kwr_init(&w);
    schema_encode(&metadata_req_schema, &w, 0, false, &q);
    check_bytes(&w, empty, sizeof empty);
    kwr_free(&w);
    krd_init(&r, empty, sizeof empty);
    CHECK_OK(schema_decode(&metadata_req_schema, &r, 0, false, &a, &d));
    CHECK_EQ_INT(d.topics.n, 0);
    krd_init(&r, null, sizeof null);
    CHECK_EQ_INT(schema_decode(&metadata_req_schema, &r, 0, false, &a, &d), KP_ECORRUPT);

    /* v1: null (all topics) and empty (none) are different. */
    kwr_init(&w);
    schema_encode(&metadata_req_schema, &w, 1, false, &q);
    check_bytes(&w, null, sizeof null);
    kwr_free(&w);
    krd_init(&r, null, sizeof null);
    CHECK_OK(schema_decode(&metadata_req_schema, &r, 1, false, &a, &d));
    CHECK_EQ_INT(d.topics.n, -1);
    krd_init(&r, empty, sizeof empty);
    CHECK_OK(schema_decode(&metadata_req_schema, &r, 1, false, &a, &d));
    CHECK_EQ_INT(d.topics.n, 0);

    /* v4 adds allow_auto_topic_creation. */
    kwr_init(&w);
    schema_encode(&metadata_req_schema, &w, 4, false, &q);
    check_bytes(&w, null_v4, sizeof null_v4);
    kwr_free(&w);
    krd_init(&r, null_v4, sizeof null_v4);
    CHECK_OK(schema_decode(&metadata_req_schema, &r, 4, false, &a, &d));
    CHECK(d.topics.n == -1 && d.allow_auto_topic_creation);

    /* One named topic at v1. */
    static const uint8_t one[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 'f', 'o', 'o'};
    krd_init(&r, one, sizeof one);
    CHECK_OK(schema_decode(&metadata_req_schema, &r, 1, false, &a, &d));
    CHECK_EQ_INT(d.topics.n, 1);
    CHECK(kstr_eq(((metadata_req_metadata_request_topic_t *)d.topics.v)[0].name, "foo"));

    /* Kafka's default for versions without the field is true; the table
     * says so (schema_decode applies defaults to integer types only, see
     * the report on schema.c), so check the table here. */
    CHECK_EQ_INT(field_named(&metadata_req_schema, "allow_auto_topic_creation")->dflt, 1);
    arena_free(&a);
}

TEST(metadata_response_v0_and_v1)
{
    int32_t reps[] = {1};
    metadata_resp_metadata_response_broker_t br = {1, KSTR("h"), 9092, KSTR_NULL};
    metadata_resp_metadata_response_partition_t pa = {0, 0, 1, {reps, 1}, {reps, 1}, {NULL, 0}};
    metadata_resp_metadata_response_topic_t tp = {0, KSTR("t"), false, {&pa, 1}};
    metadata_resp_t m = {0, {&br, 1}, KSTR_NULL, 1, {&tp, 1}};
    static const uint8_t v0[] = {
        0, 0, 0, 1,                 /* brokers: 1 */
        0, 0, 0, 1,                 /* node_id */
        0, 1, 'h',                  /* host */
        0, 0, 0x23, 0x84,           /* port 9092 */
        0, 0, 0, 1,                 /* topics: 1 */
        0, 0,                       /* error_code */
        0, 1, 't',                  /* name */
        0, 0, 0, 1,                 /* partitions: 1 */
        0, 0,                       /* error_code */
        0, 0, 0, 0,                 /* partition_index */
        0, 0, 0, 1,                 /* leader_id */
        0, 0, 0, 1, 0, 0, 0, 1,     /* replica_nodes [1] */
        0, 0, 0, 1, 0, 0, 0, 1,     /* isr_nodes [1] */
    };
    kwr_t w;
    kwr_init(&w);
    schema_encode(&metadata_resp_schema, &w, 0, false, &m);
    check_bytes(&w, v0, sizeof v0);
    kwr_free(&w);

    /* v1 adds rack (null) after port, controller_id after brokers and
     * is_internal after the topic name. */
    static const uint8_t v1[] = {
        0, 0, 0, 1,  0, 0, 0, 1,  0, 1, 'h',  0, 0, 0x23, 0x84,
        0xff, 0xff,                 /* rack: null */
        0, 0, 0, 1,                 /* controller_id */
        0, 0, 0, 1,  0, 0,  0, 1, 't',
        0x00,                       /* is_internal */
        0, 0, 0, 1,  0, 0,  0, 0, 0, 0,  0, 0, 0, 1,
        0, 0, 0, 1, 0, 0, 0, 1,  0, 0, 0, 1, 0, 0, 0, 1,
    };
    kwr_init(&w);
    schema_encode(&metadata_resp_schema, &w, 1, false, &m);
    check_bytes(&w, v1, sizeof v1);
    kwr_free(&w);
}

static const uint8_t produce_v3[] = {
    0x00, 0x02, 't', 'x',           /* transactional_id "tx" */
    0xff, 0xff,                     /* acks -1 */
    0x00, 0x00, 0x75, 0x30,         /* timeout_ms 30000 */
    0x00, 0x00, 0x00, 0x01,         /* topic_data: 1 */
    0x00, 0x04, 'l', 'o', 'g', 's', /* name */
    0x00, 0x00, 0x00, 0x01,         /* partition_data: 1 */
    0x00, 0x00, 0x00, 0x02,         /* index 2 */
    0x00, 0x00, 0x00, 0x05,         /* records: 5 bytes */
    0xde, 0xad, 0xbe, 0xef, 0x00,
};

TEST(produce_v3_request_from_bytes)
{
    arena_t a;
    arena_init(&a, 0);
    produce_req_t q;
    krd_t r;
    krd_init(&r, produce_v3, sizeof produce_v3);
    CHECK_OK(schema_decode(&produce_req_schema, &r, 3, false, &a, &q));
    CHECK_EQ_INT(krd_left(&r), 0);
    CHECK(kstr_eq(q.transactional_id, "tx"));
    CHECK_EQ_INT(q.acks, -1);
    CHECK_EQ_INT(q.timeout_ms, 30000);
    CHECK_EQ_INT(q.topic_data.n, 1);
    const produce_req_topic_produce_data_t *t = q.topic_data.v;
    CHECK(kstr_eq(t->name, "logs"));
    CHECK_EQ_INT(t->partition_data.n, 1);
    const produce_req_partition_produce_data_t *p = t->partition_data.v;
    CHECK_EQ_INT(p->index, 2);
    CHECK_EQ_INT(p->records.len, 5);
    CHECK(p->records.p == produce_v3 + 32);         /* points into the frame */

    kwr_t w;
    kwr_init(&w);
    schema_encode(&produce_req_schema, &w, 3, false, &q);
    check_bytes(&w, produce_v3, sizeof produce_v3);
    kwr_free(&w);

    /* The same body is valid at v4-v7, which add nothing to the request. */
    for (int16_t v = 4; v <= 7; v++) {
        krd_init(&r, produce_v3, sizeof produce_v3);
        CHECK_OK(schema_decode(&produce_req_schema, &r, v, false, &a, &q));
        CHECK_EQ_INT(krd_left(&r), 0);
    }

    /* A null transactional id and null records. */
    static const uint8_t nulls[] = {
        0xff, 0xff,  0x00, 0x01,  0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01,  0x00, 0x01, 'x',
        0x00, 0x00, 0x00, 0x01,  0x00, 0x00, 0x00, 0x00,  0xff, 0xff, 0xff, 0xff,
    };
    krd_init(&r, nulls, sizeof nulls);
    CHECK_OK(schema_decode(&produce_req_schema, &r, 3, false, &a, &q));
    CHECK_EQ_INT(q.transactional_id.len, -1);
    CHECK_EQ_INT(q.acks, 1);
    t = q.topic_data.v;
    p = t->partition_data.v;
    CHECK_EQ_INT(p->records.len, -1);

    /* Truncated by one byte, or with a records length past the end. */
    CHECK_EQ_INT(decode_exact(&produce_req_schema, produce_v3, sizeof produce_v3 - 1, 3, false,
                              &a, &q, NULL), KP_ECORRUPT);
    uint8_t bad[sizeof produce_v3];
    memcpy(bad, produce_v3, sizeof bad);
    bad[31] = 6;
    CHECK_EQ_INT(decode_exact(&produce_req_schema, bad, sizeof bad, 3, false, &a, &q, NULL),
                 KP_ECORRUPT);
    arena_free(&a);
}

TEST(produce_response_v3_and_v5)
{
    produce_resp_partition_produce_response_t p = {2, 0, 100, -1, 7};
    produce_resp_topic_produce_response_t t = {KSTR("logs"), {&p, 1}};
    produce_resp_t resp = {{&t, 1}, 0};
    static const uint8_t v3[] = {
        0, 0, 0, 1,  0, 4, 'l', 'o', 'g', 's',  0, 0, 0, 1,
        0, 0, 0, 2,  0, 0,  0, 0, 0, 0, 0, 0, 0, 100,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     /* log_append_time_ms */
        0, 0, 0, 0,                                         /* throttle_time_ms */
    };
    static const uint8_t v5[] = {
        0, 0, 0, 1,  0, 4, 'l', 'o', 'g', 's',  0, 0, 0, 1,
        0, 0, 0, 2,  0, 0,  0, 0, 0, 0, 0, 0, 0, 100,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 7,                             /* log_start_offset */
        0, 0, 0, 0,
    };
    kwr_t w;
    kwr_init(&w);
    schema_encode(&produce_resp_schema, &w, 3, false, &resp);
    check_bytes(&w, v3, sizeof v3);
    kwr_free(&w);
    kwr_init(&w);
    schema_encode(&produce_resp_schema, &w, 5, false, &resp);
    check_bytes(&w, v5, sizeof v5);
    kwr_free(&w);
}

TEST(fetch_v11_and_v4_response)
{
    fetch_resp_aborted_transaction_t ab = {1000, 3};
    static const uint8_t rec[] = {'a', 'b', 'c'};
    fetch_resp_partition_data_t p = {
        .partition_index = 0, .error_code = 0, .high_watermark = 10, .last_stable_offset = 8,
        .log_start_offset = 0, .aborted_transactions = {&ab, 1}, .preferred_read_replica = -1,
        .records = {rec, 3},
    };
    fetch_resp_fetchable_topic_response_t t = {KSTR("t"), {&p, 1}};
    fetch_resp_t resp = {.throttle_time_ms = 0, .error_code = 0, .session_id = 0,
                         .responses = {&t, 1}};
    static const uint8_t v11[] = {
        0, 0, 0, 0,                         /* throttle_time_ms */
        0, 0,                               /* error_code */
        0, 0, 0, 0,                         /* session_id */
        0, 0, 0, 1,                         /* responses: 1 */
        0, 1, 't',                          /* topic */
        0, 0, 0, 1,                         /* partitions: 1 */
        0, 0, 0, 0,                         /* partition_index */
        0, 0,                               /* error_code */
        0, 0, 0, 0, 0, 0, 0, 10,            /* high_watermark */
        0, 0, 0, 0, 0, 0, 0, 8,             /* last_stable_offset */
        0, 0, 0, 0, 0, 0, 0, 0,             /* log_start_offset */
        0, 0, 0, 1,                         /* aborted_transactions: 1 */
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,       /* producer_id 1000 */
        0, 0, 0, 0, 0, 0, 0, 3,             /* first_offset */
        0xff, 0xff, 0xff, 0xff,             /* preferred_read_replica -1 */
        0, 0, 0, 3, 'a', 'b', 'c',          /* records */
    };
    kwr_t w;
    kwr_init(&w);
    schema_encode(&fetch_resp_schema, &w, 11, false, &resp);
    check_bytes(&w, v11, sizeof v11);
    kwr_free(&w);

    /* v4 (read_uncommitted: null aborted list): no error_code, session_id,
     * log_start_offset or preferred_read_replica. */
    p.aborted_transactions = (karray_t){NULL, -1};
    static const uint8_t v4[] = {
        0, 0, 0, 0,
        0, 0, 0, 1,  0, 1, 't',  0, 0, 0, 1,
        0, 0, 0, 0,  0, 0,
        0, 0, 0, 0, 0, 0, 0, 10,
        0, 0, 0, 0, 0, 0, 0, 8,
        0xff, 0xff, 0xff, 0xff,             /* aborted_transactions: null */
        0, 0, 0, 3, 'a', 'b', 'c',
    };
    kwr_init(&w);
    schema_encode(&fetch_resp_schema, &w, 4, false, &resp);
    check_bytes(&w, v4, sizeof v4);
    kwr_free(&w);
}

TEST(fetch_request_defaults_below_their_versions)
{
    fetch_req_fetch_partition_t fp = {.partition = 1, .current_leader_epoch = 5,
                                      .fetch_offset = 42, .log_start_offset = 9,
                                      .partition_max_bytes = 1 << 20};
    fetch_req_fetch_topic_t ft = {KSTR("t"), {&fp, 1}};
    fetch_req_t q = {.replica_id = -1, .max_wait_ms = 500, .min_bytes = 1,
                     .max_bytes = 1 << 24, .isolation_level = 1, .session_id = 3,
                     .session_epoch = 4, .topics = {&ft, 1},
                     .forgotten_topics_data = {NULL, 0}, .rack_id = KSTR("r1")};
    arena_t a;
    arena_init(&a, 0);
    kwr_t w;
    kwr_init(&w);
    schema_encode(&fetch_req_schema, &w, 4, false, &q);
    /* replica, wait, min, max, isolation, topics count, "t", count,
     * partition, fetch_offset, partition_max_bytes. */
    CHECK_EQ_INT(w.len, 4 + 4 + 4 + 4 + 1 + 4 + 3 + 4 + 4 + 8 + 4);
    fetch_req_t d;
    krd_t r;
    krd_init(&r, wbuf(&w), w.len);
    CHECK_OK(schema_decode(&fetch_req_schema, &r, 4, false, &a, &d));
    CHECK_EQ_INT(d.isolation_level, 1);
    CHECK_EQ_INT(d.session_id, 0);
    CHECK_EQ_INT(d.session_epoch, -1);
    CHECK_EQ_INT(d.forgotten_topics_data.n, -1);
    CHECK_EQ_INT(d.rack_id.len, -1);
    const fetch_req_fetch_partition_t *dp = ((fetch_req_fetch_topic_t *)d.topics.v)->partitions.v;
    CHECK_EQ_INT(dp->current_leader_epoch, -1);
    CHECK_EQ_INT(dp->log_start_offset, -1);
    CHECK_EQ_INT(dp->fetch_offset, 42);
    kwr_free(&w);

    /* v11 carries everything. */
    kwr_init(&w);
    schema_encode(&fetch_req_schema, &w, 11, false, &q);
    krd_init(&r, wbuf(&w), w.len);
    CHECK_OK(schema_decode(&fetch_req_schema, &r, 11, false, &a, &d));
    CHECK(d.session_id == 3 && d.session_epoch == 4 && kstr_eq(d.rack_id, "r1"));
    dp = ((fetch_req_fetch_topic_t *)d.topics.v)->partitions.v;
    CHECK(dp->current_leader_epoch == 5 && dp->log_start_offset == 9);
    kwr_free(&w);
    arena_free(&a);
}

/* Decode a zero struct encoded at v and return the decoded copy. */
static void *decode_zero(const kschema_t *s, int16_t v, bool flex, arena_t *a)
{
    void *z = arena_alloc(a, s->size), *d = arena_alloc(a, s->size);
    kwr_t w;
    kwr_init(&w);
    schema_encode(s, &w, v, flex, z);
    krd_t r;
    krd_init(&r, wbuf(&w), w.len);
    int rc = schema_decode(s, &r, v, flex, a, d);
    kwr_free(&w);
    if (rc)
        FAILF("%s v%d: %d", s->name, v, rc);
    return d;
}

TEST(defaults_of_absent_fields)
{
    arena_t a;
    arena_init(&a, 0);
    join_group_req_t *jg = decode_zero(&join_group_req_schema, 0, false, &a);
    CHECK_EQ_INT(jg->rebalance_timeout_ms, -1);
    CHECK_EQ_INT(jg->group_instance_id.len, -1);
    jg = decode_zero(&join_group_req_schema, 1, false, &a);
    CHECK_EQ_INT(jg->rebalance_timeout_ms, 0);

    find_coordinator_req_t *fc = decode_zero(&find_coordinator_req_schema, 0, false, &a);
    CHECK_EQ_INT(fc->key_type, 0);

    offset_commit_req_t *oc = decode_zero(&offset_commit_req_schema, 5, false, &a);
    CHECK_EQ_INT(oc->retention_time_ms, -1);
    CHECK_EQ_INT(oc->group_instance_id.len, -1);

    init_producer_id_req_t *ip = decode_zero(&init_producer_id_req_schema, 2, true, &a);
    CHECK_EQ_INT(ip->producer_id, -1);
    CHECK_EQ_INT(ip->producer_epoch, -1);

    metadata_resp_t *md = decode_zero(&metadata_resp_schema, 0, false, &a);
    CHECK_EQ_INT(md->controller_id, -1);
    CHECK_EQ_INT(md->cluster_id.len, -1);

    describe_groups_resp_t *dg;
    {
        /* A group at v0 gets authorized_operations = INT32_MIN. */
        describe_groups_resp_described_group_t g = {0};
        describe_groups_resp_t resp = {0, {&g, 1}};
        kwr_t w;
        kwr_init(&w);
        schema_encode(&describe_groups_resp_schema, &w, 0, false, &resp);
        dg = arena_alloc(&a, sizeof *dg);
        krd_t r;
        krd_init(&r, wbuf(&w), w.len);
        CHECK_OK(schema_decode(&describe_groups_resp_schema, &r, 0, false, &a, dg));
        kwr_free(&w);
        CHECK_EQ_INT(((describe_groups_resp_described_group_t *)dg->groups.v)->authorized_operations,
                     INT32_MIN);
    }

    list_offsets_req_t *lo = decode_zero(&list_offsets_req_schema, 1, false, &a);
    CHECK_EQ_INT(lo->isolation_level, 0);
    leave_group_req_t *lg = decode_zero(&leave_group_req_schema, 3, false, &a);
    CHECK_EQ_INT(lg->member_id.len, -1);
    CHECK_EQ_INT(lg->members.n, 0);
    arena_free(&a);
}

TEST(init_producer_id_flexible_vectors)
{
    static const uint8_t req_v4[] = {
        0x00,                               /* transactional_id: compact null */
        0x00, 0x00, 0xea, 0x60,             /* transaction_timeout_ms 60000 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,     /* producer_id -1 */
        0xff, 0xff,                         /* producer_epoch -1 */
        0x00,                               /* tags */
    };
    arena_t a;
    arena_init(&a, 0);
    init_producer_id_req_t q;
    size_t left;
    CHECK_OK(decode_exact(&init_producer_id_req_schema, req_v4, sizeof req_v4, 4, true, &a, &q,
                          &left));
    CHECK_EQ_INT(left, 0);
    krd_t r;
    krd_init(&r, req_v4, sizeof req_v4);
    CHECK_OK(schema_decode(&init_producer_id_req_schema, &r, 4, true, &a, &q));
    CHECK(q.transactional_id.len == -1 && q.transaction_timeout_ms == 60000);
    CHECK(q.producer_id == -1 && q.producer_epoch == -1);

    /* A transactional id at v2 (no producer id/epoch yet). */
    static const uint8_t req_v2[] = {0x04, 't', 'x', '1', 0x00, 0x00, 0x03, 0xe8, 0x00};
    krd_init(&r, req_v2, sizeof req_v2);
    CHECK_OK(schema_decode(&init_producer_id_req_schema, &r, 2, true, &a, &q));
    CHECK(kstr_eq(q.transactional_id, "tx1") && q.transaction_timeout_ms == 1000);

    init_producer_id_resp_t resp = {0, 0, 7, 1};
    static const uint8_t resp_v3[] = {
        0, 0, 0, 0,  0, 0,  0, 0, 0, 0, 0, 0, 0, 7,  0, 1,  0x00,
    };
    kwr_t w;
    kwr_init(&w);
    schema_encode(&init_producer_id_resp_schema, &w, 3, true, &resp);
    check_bytes(&w, resp_v3, sizeof resp_v3);
    kwr_free(&w);
    kwr_init(&w);
    schema_encode(&init_producer_id_resp_schema, &w, 1, false, &resp);
    check_bytes(&w, resp_v3, sizeof resp_v3 - 1);           /* no tag section */
    kwr_free(&w);
    arena_free(&a);
}

/* ---- hostile input ---- */

TEST(huge_counts_are_rejected_before_allocation)
{
    /* nested: an outer array is legitimately allocated before the inner
     * count is rejected, so only the total is bounded. */
    struct {
        const kschema_t *s; int16_t v; bool flex, nested; uint8_t b[16]; size_t n;
    } cases[] = {
        /* Produce v3: 0x7fffffff topics. */
        {&produce_req_schema, 3, false, false,
         {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}, 12},
        /* One topic "" with 0x7fffffff partitions. */
        {&produce_req_schema, 3, false, true,
         {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x7f, 0xff}, 16},
        /* ApiVersions v3 response: compact count 0xfffffffe. */
        {&api_versions_resp_schema, 3, true, false, {0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, 7},
        /* Metadata v1: a count of -2. */
        {&metadata_req_schema, 1, false, false, {0xff, 0xff, 0xff, 0xfe}, 4},
        /* A non-nullable array given -1. */
        {&delete_groups_req_schema, 0, false, false, {0xff, 0xff, 0xff, 0xff}, 4},
        /* InitProducerId v4: a compact string length near 2^32. */
        {&init_producer_id_req_schema, 4, true, false, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
        /* An over-long varint. */
        {&init_producer_id_req_schema, 4, true, false, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 6},
        /* Four partitions where two bytes remain: each needs six (int32 +
         * int16), so the count is refused although it is small. */
        {&txn_offset_commit_resp_schema, 0, false, true,
         {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0}, 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena_t a;
        arena_init(&a, 0);
        void *out = malloc(cases[i].s->size);
        /* Any allocation would now fail with KP_ENOMEM instead. */
        if (!cases[i].nested)
            kp_mem_fail_after(0);
        int rc = decode_exact(cases[i].s, cases[i].b, cases[i].n, cases[i].v, cases[i].flex,
                              &a, out, NULL);
        long refused = kp_mem_failures();
        kp_mem_fail_reset();
        free(out);
        if (rc != KP_ECORRUPT)
            FAILF("case %zu: decode returned %d, want KP_ECORRUPT", i, rc);
        if (cases[i].nested ? a.used > 256 : a.used != 0 || refused != 0)
            FAILF("case %zu: allocated %zu bytes before rejecting", i, a.used);
        arena_free(&a);
    }
}

TEST(arena_limit_gives_enomem)
{
    /* 1000 partitions of 4 bytes each fit the frame but not a 1 KiB arena.
     * AddPartitionsToTxn v0: transactional id "t", producer id and epoch,
     * one topic "t" with 1000 partitions. */
    uint8_t *b = calloc(1, 32 + 1000 * 4);
    size_t o = 0;
    b[o++] = 0; b[o++] = 1; b[o++] = 't';
    o += 8 + 2;
    b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = 1;
    b[o++] = 0; b[o++] = 1; b[o++] = 't';
    b[o++] = 0; b[o++] = 0; b[o++] = 0x03; b[o++] = 0xe8;
    o += 1000 * 4;
    arena_t a;
    arena_init(&a, 1024);
    add_partitions_to_txn_req_t q;
    CHECK_EQ_INT(decode_exact(&add_partitions_to_txn_req_schema, b, o, 0, false, &a, &q, NULL),
                 KP_ENOMEM);
    arena_free(&a);
    arena_init(&a, 0);
    size_t left;
    CHECK_OK(decode_exact(&add_partitions_to_txn_req_schema, b, o, 0, false, &a, &q, &left));
    CHECK_EQ_INT(left, 0);
    arena_free(&a);
    free(b);
}

int main(void)
{
    RUN(api_table_matches_protocol_md);
    RUN(tables_are_well_formed);
    RUN(tables_match_kafka_wire_layouts);
    RUN(every_api_every_version_roundtrips);
    RUN(every_api_zero_struct_roundtrips);
    RUN(api_versions_response_v0_and_v3);
    RUN(api_versions_request_v3_from_a_client);
    RUN(metadata_request_null_and_empty_topics);
    RUN(metadata_response_v0_and_v1);
    RUN(produce_v3_request_from_bytes);
    RUN(produce_response_v3_and_v5);
    RUN(fetch_v11_and_v4_response);
    RUN(fetch_request_defaults_below_their_versions);
    RUN(defaults_of_absent_fields);
    RUN(init_producer_id_flexible_vectors);
    RUN(huge_counts_are_rejected_before_allocation);
    RUN(arena_limit_gives_enomem);
    return test_summary();
}

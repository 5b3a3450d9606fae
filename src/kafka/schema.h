/*
 * schema.h -- Kafka message schemas declared once, as tables; decoding and
 * encoding both follow from them.
 *
 * Each message is a C struct plus a table of its fields in wire order, with
 * the versions each field exists in and from which version it is nullable,
 * mirroring Apache Kafka's message JSON files.  For example:
 *
 *   typedef struct { kstr_t name; int32_t partitions; } create_topic_t;
 *   static const kfield_t create_topic_fields[] = {
 *       KF_STR(create_topic_t, name, 0),
 *       KF_I32(create_topic_t, partitions, 0),
 *   };
 *   KSCHEMA(create_topic, create_topic_t, create_topic_fields);
 *
 * schema_decode() fills the struct for a given version (fields absent in
 * that version stay zero, or take the default the table names), allocating
 * arrays from the request's arena; schema_encode() writes it.  Flexible
 * versions (KIP-482) switch lengths to unsigned varints and add a tagged-
 * field section after every struct; kappa skips incoming tagged fields and
 * writes none, which every client accepts.
 */
#ifndef KP_SCHEMA_H
#define KP_SCHEMA_H

#include "wire.h"
#include "../core/arena.h"

#include <stddef.h>
#include <stdint.h>

enum ktype {
    KT_BOOL = 1, KT_INT8, KT_INT16, KT_INT32, KT_INT64, KT_FLOAT64, KT_UUID,
    KT_STRING,      /* kstr_t */
    KT_BYTES,       /* kbytes_t */
    KT_RECORDS,     /* kbytes_t, always nullable (RecordBatch bytes) */
    KT_ARRAY,       /* karray_t of elem_type (KT_STRUCT: sub schema) */
    KT_STRUCT,      /* only as an array element type */
};

#define KV_MAX 0x7fff

typedef struct kschema kschema_t;

typedef struct kfield {
    const char *name;
    uint8_t type;
    uint8_t elem_type;          /* KT_ARRAY: element type */
    int16_t vmin, vmax;         /* present in versions vmin..vmax */
    int16_t null_from;          /* nullable from this version; -1 never */
    uint32_t offset;            /* offsetof in the C struct */
    const kschema_t *sub;       /* struct elements */
    int64_t dflt;               /* integer default when absent */
} kfield_t;

struct kschema {
    const char *name;
    size_t size;                /* sizeof the C struct */
    const kfield_t *fields;
    int nfields;
};

#define KSCHEMA(name_, type_, fields_) \
    const kschema_t name_##_schema = {#name_, sizeof(type_), fields_, \
                                      (int)(sizeof(fields_) / sizeof(fields_[0]))}

#define KF_(S, f, t, et, vmin, vmax, nf, sub, d) \
    {#f, t, et, vmin, vmax, nf, (uint32_t)offsetof(S, f), sub, d}

/* Scalars present from version v on (the _R forms take a version range,
 * the _D forms a default for versions where the field is absent). */
#define KF_BOOL(S, f, v)        KF_(S, f, KT_BOOL, 0, v, KV_MAX, -1, NULL, 0)
#define KF_I8(S, f, v)          KF_(S, f, KT_INT8, 0, v, KV_MAX, -1, NULL, 0)
#define KF_I16(S, f, v)         KF_(S, f, KT_INT16, 0, v, KV_MAX, -1, NULL, 0)
#define KF_I32(S, f, v)         KF_(S, f, KT_INT32, 0, v, KV_MAX, -1, NULL, 0)
#define KF_I64(S, f, v)         KF_(S, f, KT_INT64, 0, v, KV_MAX, -1, NULL, 0)
#define KF_F64(S, f, v)         KF_(S, f, KT_FLOAT64, 0, v, KV_MAX, -1, NULL, 0)
#define KF_UUID(S, f, v)        KF_(S, f, KT_UUID, 0, v, KV_MAX, -1, NULL, 0)
#define KF_I8_D(S, f, v, d)     KF_(S, f, KT_INT8, 0, v, KV_MAX, -1, NULL, d)
#define KF_I16_D(S, f, v, d)    KF_(S, f, KT_INT16, 0, v, KV_MAX, -1, NULL, d)
#define KF_I32_D(S, f, v, d)    KF_(S, f, KT_INT32, 0, v, KV_MAX, -1, NULL, d)
#define KF_I64_D(S, f, v, d)    KF_(S, f, KT_INT64, 0, v, KV_MAX, -1, NULL, d)
#define KF_BOOL_R(S, f, v0, v1) KF_(S, f, KT_BOOL, 0, v0, v1, -1, NULL, 0)
#define KF_I8_R(S, f, v0, v1)   KF_(S, f, KT_INT8, 0, v0, v1, -1, NULL, 0)
#define KF_I16_R(S, f, v0, v1)  KF_(S, f, KT_INT16, 0, v0, v1, -1, NULL, 0)
#define KF_I32_R(S, f, v0, v1)  KF_(S, f, KT_INT32, 0, v0, v1, -1, NULL, 0)
#define KF_I64_R(S, f, v0, v1)  KF_(S, f, KT_INT64, 0, v0, v1, -1, NULL, 0)
/* Strings and bytes; nf = first nullable version (-1 never). */
#define KF_STR(S, f, v)         KF_(S, f, KT_STRING, 0, v, KV_MAX, -1, NULL, 0)
#define KF_NSTR(S, f, v, nf)    KF_(S, f, KT_STRING, 0, v, KV_MAX, nf, NULL, 0)
#define KF_STR_R(S, f, v0, v1)  KF_(S, f, KT_STRING, 0, v0, v1, -1, NULL, 0)
#define KF_NSTR_R(S, f, v0, v1, nf) KF_(S, f, KT_STRING, 0, v0, v1, nf, NULL, 0)
#define KF_BYTES(S, f, v)       KF_(S, f, KT_BYTES, 0, v, KV_MAX, -1, NULL, 0)
#define KF_NBYTES(S, f, v, nf)  KF_(S, f, KT_BYTES, 0, v, KV_MAX, nf, NULL, 0)
#define KF_RECORDS(S, f, v)     KF_(S, f, KT_RECORDS, 0, v, KV_MAX, 0, NULL, 0)
/* Arrays of structs (sub is a kschema_t) or of scalars/strings. */
#define KF_ARR(S, f, v, sub)            KF_(S, f, KT_ARRAY, KT_STRUCT, v, KV_MAX, -1, &sub##_schema, 0)
#define KF_NARR(S, f, v, nf, sub)       KF_(S, f, KT_ARRAY, KT_STRUCT, v, KV_MAX, nf, &sub##_schema, 0)
#define KF_ARR_R(S, f, v0, v1, sub)     KF_(S, f, KT_ARRAY, KT_STRUCT, v0, v1, -1, &sub##_schema, 0)
#define KF_ARR_T(S, f, v, et)           KF_(S, f, KT_ARRAY, et, v, KV_MAX, -1, NULL, 0)
#define KF_NARR_T(S, f, v, nf, et)      KF_(S, f, KT_ARRAY, et, v, KV_MAX, nf, NULL, 0)

/*
 * Decode a struct of `s` at `version` into out (zeroed first).  Returns 0
 * or KP_ECORRUPT (a length, count or value does not fit) or KP_ENOMEM (the
 * arena refused: the request would need more memory than its limit).
 */
int schema_decode(const kschema_t *s, krd_t *r, int16_t version, bool flexible,
                  arena_t *arena, void *out);

/* Encode `in` at `version`.  Errors are left in w->err. */
void schema_encode(const kschema_t *s, kwr_t *w, int16_t version, bool flexible,
                   const void *in);

#endif

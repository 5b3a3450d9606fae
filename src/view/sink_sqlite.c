/*
 * sink_sqlite.c -- the SQLite backend of the view sink: view_backend_ops_t
 * over the embedded store (view/store.h).
 *
 * Everything that makes it exactly-once lives in store.c (rows and next
 * offsets in one SQLite transaction, the offset guard read inside it); this
 * file only adapts the calls.
 */
#include "view/sink.h"
#include "view/store.h"

#include "core/kp_error.h"
#include "core/kp_mem.h"

typedef struct sqlite_backend {
    view_backend_t base;        /* first: a view_backend_t * is this */
    view_store_t *store;
} sqlite_backend_t;

static view_store_t *store_of(view_backend_t *b)
{
    return ((sqlite_backend_t *)b)->store;
}

static int sq_ensure(view_backend_t *b, const char *view, int version, const char *job,
                     const char *topic)
{
    return view_store_ensure(store_of(b), view, version, job, topic);
}

static int sq_offsets(view_backend_t *b, const char *view, int version, const char *topic,
                      int32_t nparts, int64_t *next)
{
    return view_store_offsets(store_of(b), view, version, topic, nparts, next);
}

static int sq_begin(view_backend_t *b, const char *view, int version, const char *topic)
{
    return view_store_begin(store_of(b), view, version, topic);
}

static int sq_apply(view_backend_t *b, const view_change_t *c)
{
    return view_store_apply(store_of(b), c);
}

static int sq_advance(view_backend_t *b, int32_t partition, int64_t next_offset)
{
    return view_store_advance(store_of(b), partition, next_offset);
}

static int sq_commit(view_backend_t *b, const int64_t *hwm, int32_t nparts)
{
    return view_store_commit(store_of(b), hwm, nparts);
}

static void sq_rollback(view_backend_t *b)
{
    view_store_rollback(store_of(b));
}

static void sq_close(view_backend_t *b)
{
    if (!b)
        return;
    view_store_close(store_of(b));
    kp_free(b);
}

static const view_backend_ops_t sqlite_ops = {
    .kind = "sqlite",
    .ensure = sq_ensure,
    .offsets = sq_offsets,
    .begin = sq_begin,
    .apply = sq_apply,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .close = sq_close,
    .advance = sq_advance,
};

int view_backend_open_sqlite(const char *path, view_backend_t **out)
{
    *out = NULL;
    sqlite_backend_t *b = kp_calloc(1, sizeof *b);
    if (!b)
        return KP_ENOMEM;
    int rc = view_store_open(path, &b->store);
    if (rc) {
        kp_free(b);
        return rc;
    }
    b->base.ops = &sqlite_ops;
    *out = &b->base;
    return 0;
}

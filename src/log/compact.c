/*
 * compact.c -- key-based compaction (cleanup.policy=compact).
 *
 * For the closed, fully synced segments of a partition, keep only the newest
 * record of each key, and drop tombstones (null values) older than
 * delete.retention.ms.  Offsets never change: a rewritten batch keeps its
 * base offset and lastOffsetDelta, so consumers see gaps, as with Kafka.
 *
 * Invariants:
 *  (1) The newest record of every key survives, so replaying a compacted
 *      topic rebuilds the same final state as replaying the full history.
 *  (2) A segment is replaced atomically: the cleaned file is written and
 *      fsynced under a temporary name, its stale indexes are removed, then it
 *      is renamed over the original and the directory is fsynced.  A crash
 *      at any point leaves either the old or the new segment (a leftover
 *      .cleaned file is deleted by recovery; missing indexes are rebuilt).
 *  (3) Readers holding the old segment keep reading the old file (its fd
 *      stays open until they release it).
 *  (4) Records without a key and control batches are kept unchanged.
 *  (5) Only segments wholly below the last stable offset are cleaned -- more
 *      precisely below the first offset of any transaction that is open or
 *      whose marker is not yet durable -- so every transactional batch the
 *      cleaner sees belongs to a transaction whose outcome is decided and
 *      durable, and the in-memory aborted list (txn.h) says which.
 *  (6) Records of aborted transactions never enter the key map and are
 *      dropped from the output: an aborted write must not stand in for the
 *      committed record of its key, and read_committed consumers would skip
 *      it anyway.  Their whole batches go.
 *
 * Transaction markers (control batches) are kept as they are, for now.
 * Kafka removes a marker once no data of its transaction remains and
 * delete.retention.ms has passed; kappa keeps every marker, which costs 78
 * bytes per transaction per partition and is always safe.
 *
 * Left for later: merging small cleaned segments, removing markers, and
 * keeping the last batch of each idempotent producer when all its records
 * are compacted away.
 */
#include "log_int.h"
#include "records.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../io/file.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- key -> newest offset map (open addressing) ---- */

typedef struct key_slot {
    uint64_t hash;
    uint8_t *key;               /* NULL: empty slot */
    int32_t len;
    int64_t offset;
} key_slot_t;

typedef struct key_map {
    key_slot_t *slots;
    size_t cap, n;
} key_map_t;

static uint64_t key_hash(const uint8_t *k, int32_t len)
{
    uint64_t h = 1469598103934665603ULL;     /* FNV-1a */
    for (int32_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 1099511628211ULL;
    }
    return h | 1;
}

static key_slot_t *key_map_find(key_map_t *m, const uint8_t *k, int32_t len, uint64_t h)
{
    size_t i = h & (m->cap - 1);
    for (;;) {
        key_slot_t *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, k, (size_t)len) == 0))
            return s;
        i = (i + 1) & (m->cap - 1);
    }
}

static int key_map_grow(key_map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    key_slot_t *old = m->slots;
    size_t ocap = m->cap;
    m->slots = kp_calloc(ncap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return KP_ENOMEM;
    }
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key)
            *key_map_find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    kp_free(old);
    return 0;
}

static int key_map_put(key_map_t *m, const uint8_t *k, int32_t len, int64_t offset)
{
    if ((m->n + 1) * 10 >= m->cap * 7 && key_map_grow(m))
        return KP_ENOMEM;
    uint64_t h = key_hash(k, len);
    key_slot_t *s = key_map_find(m, k, len, h);
    if (!s->key) {
        s->key = kp_malloc(len > 0 ? (size_t)len : 1);
        if (!s->key)
            return KP_ENOMEM;
        memcpy(s->key, k, (size_t)len);
        s->hash = h;
        s->len = len;
        s->offset = offset;
        m->n++;
    } else if (offset > s->offset) {
        s->offset = offset;
    }
    return 0;
}

static int64_t key_map_get(key_map_t *m, const uint8_t *k, int32_t len)
{
    key_slot_t *s = key_map_find(m, k, len, key_hash(k, len));
    return s->key ? s->offset : -1;
}

static void key_map_free(key_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        kp_free(m->slots[i].key);
    kp_free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- batch walking ---- */

typedef int batch_fn(void *ctx, uint8_t *batch, const batch_header_t *h);

/* Call fn with every whole batch of s (read into a reusable buffer). */
static int for_each_batch(segment_t *s, batch_fn *fn, void *ctx)
{
    seg_cursor_t c;
    batch_header_t h;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc;
    seg_cursor_init(&c, s->fd, 0, s->size);
    while ((rc = seg_cursor_peek(&c, &h)) == 1) {
        size_t size = (size_t)batch_size(&h);
        if (size > cap) {
            uint8_t *nb = kp_realloc(buf, size);
            if (!nb) {
                rc = KP_ENOMEM;
                break;
            }
            buf = nb;
            cap = size;
        }
        ssize_t r = kp_file_pread_all(s->fd, buf, size, c.pos);
        if (r < 0 || (size_t)r != size) {
            rc = r < 0 ? (int)r : KP_ECORRUPT;
            break;
        }
        rc = fn(ctx, buf, &h);
        if (rc)
            break;
        seg_cursor_advance(&c, &h);
    }
    kp_free(buf);
    return rc < 0 ? rc : 0;
}

#define MAX_UNCOMPRESSED (256u << 20)

/* Invariant (6): a data batch of an aborted transaction. */
static bool batch_aborted(const partition_t *p, const batch_header_t *h)
{
    return (h->attributes & BATCH_ATTR_TRANSACTIONAL) && !(h->attributes & BATCH_ATTR_CONTROL) &&
           h->producer_id >= 0 && txn_is_aborted(&p->txns, h->producer_id, h->base_offset);
}

typedef struct map_ctx {
    key_map_t *map;
    const partition_t *p;
} map_ctx_t;

static int map_batch(void *ctx, uint8_t *batch, const batch_header_t *h)
{
    map_ctx_t *mc = ctx;
    key_map_t *m = mc->map;
    record_iter_t it;
    record_t r;
    int rc, more;
    if ((h->attributes & BATCH_ATTR_CONTROL) || batch_aborted(mc->p, h))
        return 0;
    rc = record_iter_init(&it, batch, (size_t)batch_size(h), MAX_UNCOMPRESSED);
    if (rc)
        return rc;
    while ((more = record_iter_next(&it, &r)) == 1) {
        if (r.key && (rc = key_map_put(m, r.key, r.key_len, r.offset)) != 0)
            break;
    }
    record_iter_free(&it);
    return rc ? rc : more < 0 ? more : 0;
}

typedef struct clean_ctx {
    key_map_t *map;
    const partition_t *p;
    int fd;                     /* the .cleaned file */
    int64_t out_pos;
    int64_t tombstone_horizon;  /* drop tombstones with timestamp below */
    compact_stats_t *st;
} clean_ctx_t;

static bool keep_record(clean_ctx_t *c, const record_t *r)
{
    if (!r->key)
        return true;
    if (key_map_get(c->map, r->key, r->key_len) != r->offset)
        return false;
    if (!r->value && r->timestamp < c->tombstone_horizon)
        return false;
    return true;
}

static int clean_batch(void *ctx, uint8_t *batch, const batch_header_t *h)
{
    clean_ctx_t *c = ctx;
    record_iter_t it;
    record_t r;
    batch_builder_t b;
    size_t size = (size_t)batch_size(h);
    int rc, more, kept = 0, total = 0;
    uint8_t *out = NULL;
    size_t out_len = 0;

    if (h->attributes & BATCH_ATTR_CONTROL) {
        c->st->records_read += h->record_count;
        c->st->records_kept += h->record_count;
        rc = kp_file_pwrite_all(c->fd, batch, size, c->out_pos);
        c->out_pos += (int64_t)size;
        return rc;
    }
    if (batch_aborted(c->p, h)) {
        c->st->records_read += h->record_count;
        return 0;
    }
    /* First pass: is anything dropped at all? */
    rc = record_iter_init(&it, batch, size, MAX_UNCOMPRESSED);
    if (rc)
        return rc;
    while ((more = record_iter_next(&it, &r)) == 1) {
        total++;
        kept += keep_record(c, &r);
    }
    record_iter_free(&it);
    if (more < 0)
        return more;
    c->st->records_read += total;
    c->st->records_kept += kept;
    if (kept == 0)
        return 0;
    if (kept == total) {
        rc = kp_file_pwrite_all(c->fd, batch, size, c->out_pos);
        c->out_pos += (int64_t)size;
        return rc;
    }

    /* Rebuild the batch with the survivors, same offsets and producer. */
    rc = batch_builder_init(&b, h->attributes, h->base_timestamp, h->producer_id,
                            h->producer_epoch, h->base_sequence);
    if (rc)
        return rc;
    rc = record_iter_init(&it, batch, size, MAX_UNCOMPRESSED);
    if (rc) {
        batch_builder_free(&b);
        return rc;
    }
    while (rc == 0 && (more = record_iter_next(&it, &r)) == 1) {
        if (keep_record(c, &r))
            rc = batch_builder_add(&b, r.offset_delta, r.timestamp, r.key, r.key_len, r.value,
                                   r.value_len, r.headers, r.headers_len, r.header_count);
    }
    record_iter_free(&it);
    if (rc == 0 && more < 0)
        rc = more;
    if (rc) {
        batch_builder_free(&b);
        return rc;
    }
    rc = batch_builder_finish(&b, h->last_offset_delta, &out, &out_len);
    if (rc)
        return rc;
    batch_set_base_offset(out, h->base_offset);
    batch_set_leader_epoch(out, h->leader_epoch);
    rc = kp_file_pwrite_all(c->fd, out, out_len, c->out_pos);
    c->out_pos += (int64_t)out_len;
    kp_free(out);
    return rc;
}

/* Rewrite segs[i]; on success the partition holds the cleaned segment. */
static int clean_segment(partition_t *p, int i, key_map_t *map, int64_t now_ms,
                         compact_stats_t *st)
{
    segment_t *s = p->segs[i];
    char tmp[PATH_MAX + 16], ip[PATH_MAX + 16];
    int64_t read0 = st->records_read, kept0 = st->records_kept;
    clean_ctx_t c = {.map = map, .p = p, .out_pos = 0, .st = st,
                     .tombstone_horizon = now_ms - log_topic_config(p->topic)->delete_retention_ms};
    int rc;

    snprintf(tmp, sizeof tmp, "%s.cleaned", s->path);
    c.fd = kp_file_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (c.fd < 0)
        return c.fd;
    rc = for_each_batch(s, clean_batch, &c);
    if (rc == 0 && st->records_kept - kept0 == st->records_read - read0) {
        /* Nothing to drop here: leave the segment as it is. */
        kp_file_close(c.fd);
        kp_file_unlink(tmp);
        return 0;
    }
    if (rc == 0)
        rc = kp_file_fdatasync(c.fd);
    kp_file_close(c.fd);
    if (rc)
        goto fail;

    /* Invariant (2): stale indexes go first; then the atomic rename. */
    segment_file_path(ip, sizeof ip, p->dir, s->base_offset, ".index");
    kp_file_unlink(ip);
    segment_file_path(ip, sizeof ip, p->dir, s->base_offset, ".timeindex");
    kp_file_unlink(ip);
    rc = kp_file_rename(tmp, s->path);
    if (rc == 0)
        rc = kp_file_fsync_dir(p->dir);
    if (rc) {
        KP_ERROR("partition %s: compaction could not install %s: %s", p->name, tmp,
                 kp_strerror(rc));
        goto fail;
    }

    segment_t *ns;
    int64_t cut = 0;
    int64_t prev_last = i > 0 ? p->segs[i - 1]->last_offset : -1;
    rc = segment_open(s->path, s->base_offset, prev_last, false,
                      log_topic_config(p->topic)->index_interval_bytes, &ns, &cut);
    if (rc || cut) {
        /* The file we just wrote does not scan clean: a bug, or the disk.
         * Stop writes; recovery at restart will sort it out. */
        KP_ERROR("partition %s: compacted segment %s failed verification: %s", p->name,
                 s->path, rc ? kp_strerror(rc) : "truncated");
        if (rc == 0)
            segment_unref(ns);
        p->failed = KP_ECORRUPT;
        return KP_ECORRUPT;
    }
    ns->created_ms = s->created_ms;
    st->segments++;
    st->bytes_before += s->size;
    st->bytes_after += ns->size;
    p->segs[i] = ns;
    segment_unref(s);           /* not doomed: its path now names ns */
    return 0;
fail:
    kp_file_unlink(tmp);
    return rc;
}

int partition_compact(partition_t *p, int64_t now_ms, compact_stats_t *st)
{
    const log_config_t *cfgp = log_topic_config(p->topic);
    key_map_t map = {0};
    map_ctx_t mc = {.map = &map, .p = p};
    int end = 0, rc = 0;

    memset(st, 0, sizeof *st);
    if (p->failed || p->sync_inflight)
        return 0;
    /* Cleanable: closed, fully synced segments past the compaction lag and,
     * invariant (5), wholly below every undecided transaction. */
    int64_t stable = txn_first_unstable(&p->txns, p->high_watermark);
    if (stable > p->high_watermark)
        stable = p->high_watermark;
    while (end < p->nsegs - 1) {
        segment_t *s = p->segs[end];
        if (s->synced_size != s->size || s->last_offset >= stable ||
            (s->max_timestamp >= 0 && s->max_timestamp > now_ms - cfgp->min_compaction_lag_ms))
            break;
        end++;
    }
    if (end == 0 || p->segs[end - 1]->last_offset + 1 <= p->compacted_upto)
        return 0;

    for (int i = 0; i < end && rc == 0; i++)
        rc = for_each_batch(p->segs[i], map_batch, &mc);
    for (int i = 0; i < end && rc == 0; i++)
        rc = clean_segment(p, i, &map, now_ms, st);
    key_map_free(&map);
    if (rc) {
        KP_ERROR("partition %s: compaction failed: %s", p->name, kp_strerror(rc));
        return rc;
    }
    p->compacted_upto = p->segs[end - 1]->last_offset + 1;
    if (st->segments)
        KP_INFO("partition %s: compacted %" PRId64 " segment(s): %" PRId64 " of %" PRId64
                " records kept, %" PRId64 " -> %" PRId64 " bytes", p->name, st->segments,
                st->records_kept, st->records_read, st->bytes_before, st->bytes_after);
    return 0;
}

/*
 * partition.c -- one partition of a topic: an ordered list of segments, the
 * last of which takes appends.
 *
 * Invariants:
 *  (1) log_start_offset <= high_watermark <= log_end_offset.
 *  (2) The high watermark never passes the last fdatasync'd offset: it moves
 *      only in partition_sync_complete(), to the end of what that sync
 *      covered.  Reads are bounded by it, so nothing unsynced is served.
 *  (3) A failed fdatasync fail-stops the partition (failed != 0): no more
 *      appends, never a retry reported as success.  A failed write that was
 *      undone does not.
 *  (4) segs[] is sorted by base offset, non-empty, and only the last segment
 *      is ever appended to.
 *  (5) The producer and transaction state (producer.h, txn.h) is what a scan
 *      of the log's batches in order would build: rebuild_state() does that
 *      scan at open, and every append updates it the same way.  The state
 *      of a transaction is never lost to a failed allocation after its
 *      batch was written: the room is reserved before the write.
 *  (6) log_start_offset <= last stable offset <= high watermark.
 */
#include "log_int.h"
#include "records.h"
#include "../core/kp_assert.h"
#include "../core/kp_clock.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../io/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

segment_t *partition_active(const partition_t *p)
{
    return p->segs[p->nsegs - 1];
}

static const log_config_t *cfg(const partition_t *p)
{
    return log_topic_config(p->topic);
}

static int segs_push(partition_t *p, segment_t *s)
{
    if (p->nsegs == p->cap) {
        int ncap = p->cap ? p->cap * 2 : 8;
        segment_t **n = kp_realloc(p->segs, (size_t)ncap * sizeof *n);
        if (!n)
            return KP_ENOMEM;
        p->segs = n;
        p->cap = ncap;
    }
    p->segs[p->nsegs++] = s;
    return 0;
}

static partition_t *partition_alloc(log_t *log, log_topic_t *t, int32_t id)
{
    partition_t *p = kp_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->log = log;
    p->topic = t;
    p->id = id;
    snprintf(p->name, sizeof p->name, "%s-%d", log_topic_name(t), id);
    snprintf(p->dir, sizeof p->dir, "%s/%s", log_dir(log), p->name);
    return p;
}

void partition_free(partition_t *p)
{
    if (!p)
        return;
    KP_ASSERT(!p->sync_inflight);
    for (int i = 0; i < p->nsegs; i++)
        segment_unref(p->segs[i]);
    kp_free(p->segs);
    producer_state_free(&p->producers);
    txn_state_free(&p->txns);
    kp_free(p);
}

int partition_create(log_t *log, log_topic_t *t, int32_t id, partition_t **out)
{
    partition_t *p = partition_alloc(log, t, id);
    segment_t *s;
    int rc;
    if (!p)
        return KP_ENOMEM;
    rc = kp_file_mkdirs(p->dir, 0755);
    if (rc == 0)
        rc = segment_create(p->dir, 0, &s);
    if (rc == 0 && (rc = segs_push(p, s)) != 0)
        segment_unref(s);
    if (rc == 0)
        rc = kp_file_fsync_dir(p->dir);
    if (rc) {
        partition_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Parse "00000000000000000123.log" style names. */
static bool parse_seg_name(const char *name, const char *suffix, int64_t *base)
{
    size_t n = strlen(name), sl = strlen(suffix);
    if (n != 20 + sl || strcmp(name + 20, suffix) != 0)
        return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        if (v > (INT64_MAX / 2 - 9) / 10)
            return false;       /* no real log gets near; refuse to overflow */
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

/*
 * List the partition directory: remove leftovers of interrupted operations
 * (.cleaned from compaction, .tmp from checkpoints, indexes without a log)
 * and return the sorted base offsets of the segments.
 */
static int list_segments(const char *dir, int64_t **bases, int *n)
{
    DIR *d = opendir(dir);
    int cap = 16, cnt = 0;
    int64_t *b;
    struct dirent *de;
    if (!d)
        return -errno;
    b = kp_malloc((size_t)cap * sizeof *b);
    if (!b) {
        closedir(d);
        return KP_ENOMEM;
    }
    while ((de = readdir(d)) != NULL) {
        int64_t base;
        char path[PATH_MAX + 256];
        const char *nm = de->d_name;
        if (nm[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (parse_seg_name(nm, ".log", &base)) {
            if (cnt == cap) {
                int64_t *nb = kp_realloc(b, (size_t)cap * 2 * sizeof *nb);
                if (!nb) {
                    kp_free(b);
                    closedir(d);
                    return KP_ENOMEM;
                }
                b = nb;
                cap *= 2;
            }
            b[cnt++] = base;
        } else if (strstr(nm, ".cleaned") || strstr(nm, ".tmp")) {
            KP_INFO("partition dir %s: removing leftover %s", dir, nm);
            kp_file_unlink(path);
        } else if (parse_seg_name(nm, ".index", &base) ||
                   parse_seg_name(nm, ".timeindex", &base)) {
            char logp[PATH_MAX];
            segment_file_path(logp, sizeof logp, dir, base, ".log");
            if (access(logp, F_OK) != 0) {
                KP_INFO("partition dir %s: removing index without a segment: %s", dir, nm);
                kp_file_unlink(path);
            }
        }
    }
    closedir(d);
    qsort(b, (size_t)cnt, sizeof *b, cmp_i64);
    *bases = b;
    *n = cnt;
    return 0;
}

/*
 * Record a data batch written at h->base_offset: the producer's window and,
 * for a transactional batch, the transaction it opens.  Fails only for lack
 * of memory, which partition_append() rules out beforehand for
 * transactional batches.
 */
static int track_data_batch(partition_t *p, const batch_header_t *h)
{
    int rc = producer_update(&p->producers, h);
    if (rc || h->producer_id < 0 || !(h->attributes & BATCH_ATTR_TRANSACTIONAL))
        return rc;
    producer_entry_t *e = producer_find(&p->producers, h->producer_id);
    KP_ASSERT(e);
    if (e->txn_first_offset < 0) {
        if ((rc = txn_reserve(&p->txns)) != 0)
            return rc;
        e->txn_first_offset = h->base_offset;
        txn_opened(&p->txns, h->producer_id, h->base_offset);
    }
    return 0;
}

/* Record a marker written at marker_offset.  Fails only for lack of memory,
 * which partition_append_marker() rules out beforehand. */
static int track_marker(partition_t *p, int64_t producer_id, int16_t producer_epoch,
                        bool commit, int32_t coordinator_epoch, int64_t marker_offset)
{
    int64_t first;
    int rc = producer_apply_marker(&p->producers, producer_id, producer_epoch,
                                   coordinator_epoch, &first);
    if (rc == 0)
        rc = txn_reserve(&p->txns);
    if (rc == 0)
        txn_ended(&p->txns, producer_id, first, marker_offset, commit);
    return rc;
}

/*
 * A control batch met while rebuilding: read it (from the cursor's window
 * when it is there, as it nearly always is for a 78-byte marker) and apply
 * the marker.  One that does not parse passed recovery's checks (or sits in
 * a trusted segment) yet is not a marker: it is reported and skipped, as
 * recovery treats corrupt data, and changes no state.
 */
static int rebuild_marker(partition_t *p, const seg_cursor_t *c, const batch_header_t *h)
{
    int64_t size = batch_size(h);
    bool commit = false;
    int32_t coordinator_epoch = -1;
    int rc;
    if (h->producer_id < 0 || size > TXN_MARKER_MAX_BYTES) {
        rc = KP_ECORRUPT;
    } else if (c->pos >= c->win_pos && c->pos + size <= c->win_pos + (int64_t)c->win_len) {
        rc = txn_marker_parse(c->win + (c->pos - c->win_pos), (size_t)size, &commit,
                              &coordinator_epoch);
    } else {
        uint8_t *buf = kp_malloc((size_t)size);
        if (!buf)
            return KP_ENOMEM;
        ssize_t r = kp_file_pread_all(c->fd, buf, (size_t)size, c->pos);
        rc = r < 0 ? (int)r : r != size ? KP_ECORRUPT : 0;
        if (rc == 0)
            rc = txn_marker_parse(buf, (size_t)size, &commit, &coordinator_epoch);
        kp_free(buf);
        if (kp_is_os_error(rc))
            return rc;
    }
    if (rc == KP_ENOMEM)
        return rc;
    if (rc) {
        KP_ERROR("partition %s: control batch at offset %" PRId64 " (producer %" PRId64
                 ") is not a valid transaction marker (%s); ignoring it", p->name,
                 h->base_offset, h->producer_id, kp_strerror(rc));
        return 0;
    }
    return track_marker(p, h->producer_id, h->producer_epoch, commit, coordinator_epoch,
                        batch_last_offset(h));
}

/*
 * Idempotent producer and transaction state lives in the log: walk every
 * batch header so a retry that arrives after a restart is still recognised,
 * open transactions still hold the last stable offset back, and aborted
 * ones are still listed.  Headers only, through the cursor's window, so the
 * cost is one small read per window of batches, not a read of the data;
 * only markers are parsed, mostly from the window already read.
 */
static int rebuild_state(partition_t *p)
{
    for (int i = 0; i < p->nsegs; i++) {
        segment_t *s = p->segs[i];
        seg_cursor_t c;
        batch_header_t h;
        int rc;
        seg_cursor_init(&c, s->fd, 0, s->size);
        while ((rc = seg_cursor_peek(&c, &h)) == 1) {
            int r = 0;
            if (h.attributes & BATCH_ATTR_CONTROL)
                r = rebuild_marker(p, &c, &h);
            else if (h.producer_id >= 0)
                r = track_data_batch(p, &h);
            if (r)
                return r;
            seg_cursor_advance(&c, &h);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int partition_open(log_t *log, log_topic_t *t, int32_t id, bool clean,
                   int64_t recovery_point, int64_t log_start, partition_t **out)
{
    partition_t *p = partition_alloc(log, t, id);
    int64_t *bases = NULL;
    int nbases = 0, rc;
    int64_t prev_last = -1;

    if (!p)
        return KP_ENOMEM;
    rc = list_segments(p->dir, &bases, &nbases);
    if (rc == -ENOENT) {
        KP_WARN("partition %s: directory missing; creating it empty", p->name);
        kp_free(p);
        return partition_create(log, t, id, out);
    }
    if (rc)
        goto fail;

    for (int i = 0; i < nbases; i++) {
        char path[PATH_MAX];
        segment_t *s;
        int64_t cut = 0;
        /* A segment wholly below the recovery point was synced, with its
         * indexes, before the checkpoint that named the point was written. */
        bool below_rp = i + 1 < nbases && bases[i + 1] <= recovery_point;
        bool trust = clean || below_rp;
        segment_file_path(path, sizeof path, p->dir, bases[i], ".log");
        rc = segment_open(path, bases[i], prev_last, trust, cfg(p)->index_interval_bytes,
                          &s, &cut);
        if (rc) {
            KP_ERROR("partition %s: cannot open segment %s: %s", p->name, path,
                     kp_strerror(rc));
            goto fail;
        }
        if ((rc = segs_push(p, s)) != 0) {
            segment_unref(s);
            goto fail;
        }
        prev_last = s->last_offset;
        if (cut > 0 && i + 1 < nbases) {
            /* Everything after a torn or corrupt batch is unreliable: it was
             * written after data that did not survive.  It leaves the log,
             * but its bytes are kept as NAME.log.corrupt for inspection --
             * when the cut was in synced data, a person will want them. */
            for (int j = i + 1; j < nbases; j++) {
                char lp[PATH_MAX], cp[PATH_MAX + 16];
                segment_file_path(lp, sizeof lp, p->dir, bases[j], ".log");
                snprintf(cp, sizeof cp, "%s.corrupt", lp);
                KP_WARN("partition %s: segment %s follows the truncation point; "
                        "moving it out of the log to %s", p->name, lp, cp);
                kp_file_rename(lp, cp);
                segment_file_path(lp, sizeof lp, p->dir, bases[j], ".index");
                kp_file_unlink(lp);
                segment_file_path(lp, sizeof lp, p->dir, bases[j], ".timeindex");
                kp_file_unlink(lp);
            }
            rc = kp_file_fsync_dir(p->dir);
            if (rc)
                goto fail;
            break;
        }
    }
    kp_free(bases);
    bases = NULL;

    if (p->nsegs == 0) {
        segment_t *s;
        int64_t base = log_start > 0 ? log_start : 0;
        if (recovery_point > base)
            base = recovery_point;
        KP_WARN("partition %s: no segments; starting empty at offset %" PRId64, p->name, base);
        rc = segment_create(p->dir, base, &s);
        if (rc)
            goto fail;
        if ((rc = segs_push(p, s)) != 0) {
            segment_unref(s);
            goto fail;
        }
        p->dir_dirty = true;
    }

    rc = rebuild_state(p);
    if (rc)
        goto fail;
    segment_t *a = partition_active(p);
    p->log_end_offset = a->last_offset + 1 > a->base_offset ? a->last_offset + 1 : a->base_offset;
    p->high_watermark = p->log_end_offset;
    p->log_start_offset = p->segs[0]->base_offset;
    if (log_start > p->log_start_offset)
        p->log_start_offset = log_start < p->log_end_offset ? log_start : p->log_end_offset;
    p->recovery_point = clean ? p->log_end_offset : recovery_point;
    if (p->recovery_point > p->log_end_offset)
        p->recovery_point = p->log_end_offset;
    if (p->recovery_point < 0)
        p->recovery_point = 0;
    txn_on_high_watermark(&p->txns, p->high_watermark);
    txn_trim(&p->txns, p->log_start_offset);
    *out = p;
    return 0;
fail:
    kp_free(bases);
    partition_free(p);
    return rc;
}

/* ---- accessors ---------------------------------------------------------- */

const char *partition_name(const partition_t *p) { return p->name; }
const char *partition_topic(const partition_t *p) { return log_topic_name(p->topic); }
int32_t partition_id(const partition_t *p) { return p->id; }
int64_t partition_log_start_offset(const partition_t *p) { return p->log_start_offset; }
int64_t partition_log_end_offset(const partition_t *p) { return p->log_end_offset; }
int64_t partition_high_watermark(const partition_t *p) { return p->high_watermark; }
int partition_failed(const partition_t *p) { return p->failed; }
bool partition_sync_busy(const partition_t *p) { return p->sync_inflight; }
int partition_segment_count(const partition_t *p) { return p->nsegs; }

partition_stats_t *partition_stats(partition_t *p)
{
    return &p->stats;
}

const metric_hist_t *log_fsync_hist(const log_t *log)
{
    return &log->fsync_hist;
}

int64_t partition_size_bytes(const partition_t *p)
{
    int64_t n = 0;
    for (int i = 0; i < p->nsegs; i++)
        n += p->segs[i]->size;
    return n;
}

/* ---- appends and rolling -------------------------------------------------- */

static void mark_dirty(partition_t *p)
{
    if (!p->dirty) {
        p->dirty = true;
        p->dirty_next = p->log->dirty_head;
        p->log->dirty_head = p;
    }
}

static int roll(partition_t *p)
{
    segment_t *old = partition_active(p), *s;
    int rc = segment_create(p->dir, p->log_end_offset, &s);
    if (rc) {
        KP_ERROR("partition %s: cannot create segment at offset %" PRId64 ": %s", p->name,
                 p->log_end_offset, kp_strerror(rc));
        return rc;
    }
    if ((rc = segs_push(p, s)) != 0) {
        segment_doom(s);
        segment_unref(s);
        return rc;
    }
    /* The old segment's index files get their final entries now; they are
     * fsynced by the checkpoint that moves the recovery point past it. */
    segment_flush_indexes(old, false);
    p->dir_dirty = true;
    mark_dirty(p);
    KP_DEBUG("partition %s: rolled to segment %" PRId64, p->name, p->log_end_offset);
    return 0;
}

int partition_maybe_roll(partition_t *p, int64_t now_ms, int force)
{
    segment_t *a = partition_active(p);
    if (a->size == 0 || p->failed)
        return 0;
    if (force || a->size >= cfg(p)->segment_bytes || now_ms - a->created_ms >= cfg(p)->segment_ms)
        return roll(p);
    return 0;
}

/*
 * Write a validated batch (header h) at the log end offset, rolling first
 * when the active segment is full or old.  On success h->base_offset is the
 * batch's offset and the log end offset has moved past it.
 */
static int write_batch(partition_t *p, uint8_t *batch, size_t len, batch_header_t *h)
{
    segment_t *a = partition_active(p);
    int64_t rel_end = p->log_end_offset + h->last_offset_delta - a->base_offset;
    int rc;
    if (a->size > 0 &&
        (a->size + (int64_t)len > cfg(p)->segment_bytes || rel_end > INT32_MAX ||
         a->size + (int64_t)len > (int64_t)UINT32_MAX ||
         kp_now_ms() - a->created_ms >= cfg(p)->segment_ms)) {
        rc = roll(p);
        if (rc)
            return rc;
        a = partition_active(p);
    }

    h->base_offset = p->log_end_offset;
    h->leader_epoch = 0;
    batch_set_base_offset(batch, h->base_offset);
    batch_set_leader_epoch(batch, 0);
    rc = segment_append(a, batch, len, h, cfg(p)->index_interval_bytes);
    if (rc == KP_EFAILED) {
        p->failed = rc;
        KP_ERROR("partition %s: stopped taking writes after a failed write", p->name);
        return rc;
    }
    if (rc == KP_ENOMEM) {
        /* The batch is on disk but the in-memory index lacks an entry;
         * lookups still work (indexes are hints) and the size was updated. */
        rc = 0;
    }
    if (rc)
        return rc;
    p->log_end_offset = batch_last_offset(h) + 1;
    mark_dirty(p);
    return 0;
}

int partition_append(partition_t *p, uint8_t *batch, size_t len,
                     partition_append_result_t *res)
{
    batch_header_t h;
    int rc;

    if (p->failed)
        return KP_EFAILED;
    rc = batch_validate_produced(batch, len, (size_t)cfg(p)->max_message_bytes, &h);
    if (rc)
        return rc;
    if (h.attributes & BATCH_ATTR_CONTROL)
        return KP_EINVAL;       /* a forged marker would end a transaction */
    producer_batch_t dup;
    rc = producer_check(&p->producers, &h, &dup);
    if (rc == PRODUCER_DUPLICATE) {
        res->base_offset = dup.base_offset;
        res->last_offset = dup.last_offset;
        res->duplicate = true;
        return 0;
    }
    if (rc)
        return rc;
    /* Invariant (5): a transaction's state must not be lost after its
     * batch is written, so its room is taken now. */
    bool txnal = h.producer_id >= 0 && (h.attributes & BATCH_ATTR_TRANSACTIONAL);
    if (txnal && ((rc = producer_reserve(&p->producers)) != 0 ||
                  (rc = txn_reserve(&p->txns)) != 0))
        return rc;

    rc = write_batch(p, batch, len, &h);
    if (rc)
        return rc;
    /* Out of memory here (never for a transactional batch) loses only dedup
     * state for this producer: its next batch is then judged as from an
     * unknown producer, never duplicated. */
    rc = track_data_batch(p, &h);
    KP_ASSERT(rc == 0 || !txnal);
    res->base_offset = h.base_offset;
    res->last_offset = batch_last_offset(&h);
    res->duplicate = false;
    p->stats.records_in += (uint64_t)(h.record_count > 0 ? h.record_count : 0);
    p->stats.bytes_in += len;
    return 0;
}

int partition_append_marker(partition_t *p, int64_t producer_id, int16_t producer_epoch,
                            bool commit, int32_t coordinator_epoch,
                            partition_append_result_t *res)
{
    batch_header_t h;
    uint8_t *batch;
    size_t len;
    int rc;

    if (p->failed)
        return KP_EFAILED;
    if (producer_id < 0 || producer_epoch < 0)
        return KP_EINVAL;
    rc = producer_check_marker(&p->producers, producer_id, producer_epoch, coordinator_epoch);
    if (rc)
        return rc;
    /* Ended transactions leave when a sync completes; the high watermark
     * can also move without one (log_flush with nothing to sync), so prune
     * here too and the list stays as short as the open transactions. */
    txn_on_high_watermark(&p->txns, p->high_watermark);
    if ((rc = producer_reserve(&p->producers)) != 0 || (rc = txn_reserve(&p->txns)) != 0)
        return rc;
    rc = txn_marker_build(producer_id, producer_epoch, commit, coordinator_epoch, kp_now_ms(),
                          &batch, &len);
    if (rc)
        return rc;
    rc = batch_header_decode(batch, len, &h);
    if (rc == 0)
        rc = write_batch(p, batch, len, &h);
    kp_free(batch);
    if (rc)
        return rc;
    rc = track_marker(p, producer_id, producer_epoch, commit, coordinator_epoch,
                      batch_last_offset(&h));
    KP_ASSERT(rc == 0);         /* the room was reserved */
    res->base_offset = h.base_offset;
    res->last_offset = batch_last_offset(&h);
    res->duplicate = false;
    return 0;
}

int64_t partition_last_stable_offset(const partition_t *p)
{
    int64_t lso = txn_first_unstable(&p->txns, p->high_watermark);
    /* Invariant (6); Kafka also never reports an LSO below the log start. */
    if (lso < p->log_start_offset)
        lso = p->log_start_offset;
    return lso < p->high_watermark ? lso : p->high_watermark;
}

int partition_aborted_txns(const partition_t *p, int64_t from, int64_t to,
                           log_aborted_txn_t **out)
{
    return txn_aborted_in(&p->txns, from, to, out);
}

/* ---- group commit --------------------------------------------------------- */

/*
 * Index of the oldest segment with unsynced bytes (nsegs when none).  Synced
 * segments form a prefix; empty segments (a fresh active one, or one that
 * compaction emptied) say nothing either way and are skipped over.
 */
static int first_unsynced(const partition_t *p)
{
    int first = p->nsegs;
    for (int i = p->nsegs - 1; i >= 0; i--) {
        const segment_t *s = p->segs[i];
        if (s->synced_size < s->size)
            first = i;
        else if (s->size > 0)
            break;
    }
    return first;
}

bool partition_needs_sync(const partition_t *p)
{
    return p->dir_dirty || first_unsynced(p) < p->nsegs ||
           p->high_watermark < p->log_end_offset;
}

int partition_sync_prepare(partition_t *p, partition_sync_t *job)
{
    memset(job, 0, sizeof *job);
    job->p = p;
    if (p->sync_inflight)
        return KP_EBUSY;
    if (p->failed)
        return KP_EFAILED;
    /* Unsynced segments are a suffix of segs[]; take the oldest few so the
     * high watermark can move forward as a prefix. */
    int first = first_unsynced(p), i;
    job->target_offset = p->high_watermark;
    for (i = first; i < p->nsegs && job->nsegs < PARTITION_SYNC_MAX_SEGS; i++) {
        segment_t *s = p->segs[i];
        if (s->synced_size == s->size)
            continue;
        segment_ref(s);
        job->segs[job->nsegs] = s;
        job->seg_sizes[job->nsegs] = s->size;
        job->nsegs++;
        job->target_offset = s->last_offset + 1;
    }
    if (i == p->nsegs)
        job->target_offset = p->log_end_offset;
    if (p->dir_dirty) {
        snprintf(job->dir, sizeof job->dir, "%s", p->dir);
        p->dir_dirty = false;
    }
    if (job->nsegs > 0 || job->dir[0])
        p->sync_inflight = true;
    return 0;
}

void partition_sync_execute(partition_sync_t *job)
{
    int rc = 0;
    int64_t t0 = kp_mono_ns();
    for (int i = 0; i < job->nsegs && rc == 0; i++)
        rc = kp_file_fdatasync(job->segs[i]->fd);
    if (rc == 0 && job->dir[0])
        rc = kp_file_fsync_dir(job->dir);
    job->err = rc;
    job->duration_ns = (uint64_t)(kp_mono_ns() - t0);
    if (job->nsegs)
        metric_hist_observe_ns(&job->p->log->fsync_hist, job->duration_ns);
}

int partition_sync_complete(partition_sync_t *job)
{
    partition_t *p = job->p;
    for (int i = 0; i < job->nsegs; i++) {
        segment_t *s = job->segs[i];
        if (job->err == 0 && job->seg_sizes[i] > s->synced_size)
            s->synced_size = job->seg_sizes[i];
        segment_unref(s);
    }
    p->sync_inflight = false;
    if (job->err) {
        if (!p->failed) {
            p->failed = job->err;
            KP_ERROR("partition %s: fdatasync failed: %s; the partition stops taking "
                     "writes until restart (recovery will decide what survived)",
                     p->name, kp_strerror(job->err));
        }
    } else if (job->target_offset > p->high_watermark) {
        p->high_watermark = job->target_offset;
        txn_on_high_watermark(&p->txns, p->high_watermark);
    }
    if (p->log->synced_fn)
        p->log->synced_fn(p, p->high_watermark, job->err, p->log->synced_ctx);
    if (!p->failed && partition_needs_sync(p))
        mark_dirty(p);
    return job->err;
}

/* ---- reads ------------------------------------------------------------------ */

/* Index of the segment that may contain offset: the last with base <= offset. */
static int seg_for_offset(const partition_t *p, int64_t offset)
{
    int lo = 0, hi = p->nsegs - 1, best = 0;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (p->segs[mid]->base_offset <= offset) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

void log_read_release(log_read_t *r)
{
    if (r->seg)
        segment_unref(r->seg);
    r->seg = NULL;
    r->len = 0;
}

int partition_read(partition_t *p, int64_t offset, int64_t max_bytes, int64_t max_offset,
                   log_read_t *out)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->first_offset = out->next_offset = offset;
    if (offset < p->log_start_offset || offset > p->log_end_offset)
        return KP_EOFFSET;
    if (max_offset > p->high_watermark)
        max_offset = p->high_watermark;

    for (int i = seg_for_offset(p, offset); i < p->nsegs; i++) {
        segment_t *s = p->segs[i];
        int64_t pos;
        batch_header_t h;
        if (offset >= max_offset)
            return 0;
        if (s->last_offset < offset)
            continue;       /* offset falls in a gap after this segment */
        int rc = segment_find(s, offset > s->base_offset ? offset : s->base_offset, &pos, &h);
        if (rc)
            return rc;
        if (pos >= s->size)
            continue;
        /* Extend over whole batches, at least one, while within max_bytes and
         * wholly below max_offset.  The first batch comes from segment_find;
         * then the sparse index lets us jump from batch boundary to batch
         * boundary without reading headers (a 1 MiB fetch of 16 KiB batches
         * would otherwise cost 64 header reads); the cursor finishes the
         * last stretch between index entries. */
        seg_cursor_t c;
        int64_t len = 0, next = offset;
        if (batch_last_offset(&h) >= max_offset)
            return 0;
        out->first_offset = h.base_offset;
        len = batch_size(&h);
        next = batch_last_offset(&h) + 1;
        int64_t jumped_base = -1;
        for (int32_t e = offset_index_after(&s->oidx, (uint32_t)(pos + len)); e >= 0 && e < s->oidx.n; e++) {
            int64_t epos = s->oidx.e[e].pos, ebase = s->base_offset + s->oidx.e[e].rel_offset;
            /* Every batch before epos ends below ebase. */
            if (epos - pos > max_bytes || ebase > max_offset)
                break;
            len = epos - pos;
            next = ebase;
            jumped_base = ebase;
        }
        seg_cursor_init(&c, s->fd, pos + len, s->size);
        while ((rc = seg_cursor_peek(&c, &h)) == 1) {
            if (jumped_base >= 0) {
                /* The range must end on a batch boundary: the header where
                 * the index sent us has to be the batch it names. */
                if (h.base_offset != jumped_base) {
                    KP_WARN("segment %s: index does not match the log at %lld; rebuilding",
                            s->path, (long long)(pos + len));
                    rc = segment_rebuild_indexes(s);
                    if (rc)
                        return rc;
                    return partition_read(p, offset, max_bytes, max_offset, out);
                }
                jumped_base = -1;
            }
            if (batch_last_offset(&h) >= max_offset)
                break;
            if (len + batch_size(&h) > max_bytes)
                break;
            len += batch_size(&h);
            next = batch_last_offset(&h) + 1;
            seg_cursor_advance(&c, &h);
        }
        if (rc < 0)
            return rc;
        if (len == 0)
            return 0;
        segment_ref(s);
        out->seg = s;
        out->fd = s->fd;
        out->pos = pos;
        out->len = len;
        out->next_offset = next;
        return 0;
    }
    return 0;
}

int partition_replay(partition_t *p, int64_t chunk_bytes, partition_chunk_fn *fn, void *ctx)
{
    int64_t off = p->log_start_offset, hw = p->high_watermark;
    while (off < hw) {
        log_read_t rd;
        int rc = partition_read(p, off, chunk_bytes, hw, &rd);
        if (rc)
            return rc;
        if (rd.len == 0)
            break;
        int64_t len = rd.len, next = rd.next_offset;
        uint8_t *buf = kp_malloc((size_t)len);
        ssize_t got = buf ? kp_file_pread_all(rd.fd, buf, (size_t)len, rd.pos) : KP_ENOMEM;
        log_read_release(&rd);
        if (got != len) {
            kp_free(buf);
            return got < 0 ? (int)got : KP_ECORRUPT;
        }
        rc = fn(ctx, buf, (size_t)len);
        kp_free(buf);
        if (rc)
            return rc;
        if (next <= off)
            break;
        off = next;
    }
    return 0;
}

/* Find the first record with timestamp >= ts in the batch at pos. */
static int time_in_batch(segment_t *s, int64_t pos, const batch_header_t *h, int64_t ts,
                         int64_t *offset, int64_t *timestamp)
{
    if (h->attributes & BATCH_ATTR_LOG_APPEND_TIME) {
        *offset = h->base_offset;
        *timestamp = h->max_timestamp;
        return 0;
    }
    size_t size = (size_t)batch_size(h);
    uint8_t *buf = kp_malloc(size);
    if (!buf)
        return KP_ENOMEM;
    ssize_t r = kp_file_pread_all(s->fd, buf, size, pos);
    int rc = r < 0 ? (int)r : (size_t)r < size ? KP_ECORRUPT : 0;
    record_iter_t it;
    record_t rec;
    if (rc == 0)
        rc = record_iter_init(&it, buf, size, 64u << 20);
    if (rc == 0) {
        rc = KP_ENOTFOUND;
        int more;
        while ((more = record_iter_next(&it, &rec)) == 1) {
            if (rec.timestamp >= ts) {
                *offset = rec.offset;
                *timestamp = rec.timestamp;
                rc = 0;
                break;
            }
        }
        if (more < 0)
            rc = more;
        record_iter_free(&it);
    }
    kp_free(buf);
    return rc;
}

int partition_offset_for_time(partition_t *p, int64_t ts, int64_t *offset, int64_t *timestamp)
{
    for (int i = 0; i < p->nsegs; i++) {
        segment_t *s = p->segs[i];
        if (s->max_timestamp < ts || s->size == 0)
            continue;
        uint32_t rel = time_index_lookup(&s->tidx, ts);
        int64_t from = s->base_offset + rel, pos;
        batch_header_t h;
        if (from < p->log_start_offset)
            from = p->log_start_offset;
        int rc = segment_find(s, from, &pos, &h);
        if (rc)
            return rc;
        seg_cursor_t c;
        seg_cursor_init(&c, s->fd, pos, s->size);
        while ((rc = seg_cursor_peek(&c, &h)) == 1) {
            if (batch_last_offset(&h) >= p->high_watermark)
                return KP_ENOTFOUND;
            if (h.max_timestamp >= ts && batch_last_offset(&h) >= p->log_start_offset) {
                rc = time_in_batch(s, c.pos, &h, ts, offset, timestamp);
                if (rc != KP_ENOTFOUND) {
                    if (rc == 0 && *offset < p->log_start_offset)
                        *offset = p->log_start_offset;
                    return rc;
                }
            }
            seg_cursor_advance(&c, &h);
        }
        if (rc < 0)
            return rc;
    }
    return KP_ENOTFOUND;
}

int partition_delete_records(partition_t *p, int64_t offset)
{
    if (offset < 0 || offset > p->high_watermark)
        return KP_EOFFSET;
    if (offset > p->log_start_offset) {
        p->log_start_offset = offset;
        txn_trim(&p->txns, p->log_start_offset);
    }
    return 0;
}

/* ---- retention ---------------------------------------------------------------- */

static void drop_oldest(partition_t *p, const char *why)
{
    segment_t *s = p->segs[0];
    KP_INFO("partition %s: deleting segment %" PRId64 " (%" PRId64 " bytes): %s", p->name,
            s->base_offset, s->size, why);
    memmove(p->segs, p->segs + 1, (size_t)(p->nsegs - 1) * sizeof *p->segs);
    p->nsegs--;
    segment_doom(s);
    segment_unref(s);
    if (p->segs[0]->base_offset > p->log_start_offset)
        p->log_start_offset = p->segs[0]->base_offset;
    txn_trim(&p->txns, p->log_start_offset);
}

int partition_apply_retention(partition_t *p, int64_t now_ms, int *deleted)
{
    const log_config_t *c = cfg(p);
    int n = 0;
    int64_t total = partition_size_bytes(p);
    *deleted = 0;
    /* Never the active segment; never one with unsynced bytes (the high
     * watermark could not then have passed it). */
    while (p->nsegs > 1 && p->segs[0]->synced_size == p->segs[0]->size) {
        segment_t *s = p->segs[0];
        if (p->segs[1]->base_offset <= p->log_start_offset) {
            total -= s->size;
            drop_oldest(p, "below the log start offset");
        } else if ((c->cleanup_policy & LOG_CLEANUP_DELETE) && c->retention_ms >= 0 &&
                   s->max_timestamp >= 0 && s->max_timestamp < now_ms - c->retention_ms) {
            total -= s->size;
            drop_oldest(p, "older than retention.ms");
        } else if ((c->cleanup_policy & LOG_CLEANUP_DELETE) && c->retention_bytes >= 0 &&
                   total - s->size >= c->retention_bytes) {
            total -= s->size;
            drop_oldest(p, "over retention.bytes");
        } else {
            break;
        }
        n++;
    }
    *deleted = n;
    return 0;
}

int partition_flush_indexes(partition_t *p, bool sync)
{
    int rc = 0;
    for (int i = 0; i < p->nsegs; i++) {
        segment_t *s = p->segs[i];
        if (s->idx_written < s->oidx.n || s->tidx_written < s->tidx.n || sync) {
            int r = segment_flush_indexes(s, sync);
            if (r && !rc)
                rc = r;
        }
    }
    return rc;
}

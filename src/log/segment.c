/*
 * segment.c -- one segment of a partition: a file of RecordBatch v2 bytes
 * named after its base offset, plus its sparse offset and time indexes.
 *
 * Invariants:
 *  (1) [0, size) of the file holds whole batches that passed validation;
 *      nothing after size is ever served, and a failed write is truncated
 *      away before anyone can see it.
 *  (2) Batch base offsets strictly increase and each batch's base offset is
 *      above the previous batch's last offset (gaps are allowed: compaction).
 *  (3) synced_size <= size: the bytes before synced_size have been
 *      fdatasync'd and survive power loss.
 *  (4) Index files lag the in-memory indexes; they are written at roll,
 *      checkpoint and close, and fsynced before the recovery point passes
 *      the segment, so a segment below the recovery point has complete ones.
 *  (5) Files are unlinked only when the last reference goes, so a reader that
 *      holds a segment (a sendfile in progress) never sees it vanish.
 */
#include "log_int.h"
#include "../core/kp_assert.h"
#include "../core/kp_error.h"
#include "../core/kp_clock.h"
#include "../core/kp_mem.h"
#include "../core/logging.h"
#include "../core/crc32c.h"
#include "../core/kp_endian.h"
#include "../io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void segment_file_path(char *out, size_t cap, const char *dir, int64_t base,
                       const char *suffix)
{
    snprintf(out, cap, "%s/%020lld%s", dir, (long long)base, suffix);
}

static void sibling_path(const segment_t *s, const char *suffix, char *out, size_t cap)
{
    size_t n = strlen(s->path);
    KP_ASSERT(n > 4);
    snprintf(out, cap, "%.*s%s", (int)(n - 4), s->path, suffix);
}

static segment_t *segment_alloc(const char *path, int64_t base)
{
    segment_t *s = kp_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base_offset = base;
    s->fd = s->idx_fd = s->tidx_fd = -1;
    s->last_offset = base - 1;
    s->max_timestamp = -1;
    s->index_interval_bytes = 4096;
    s->refs = 1;
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

static void segment_destroy(segment_t *s)
{
    if (s->fd >= 0)
        kp_file_close(s->fd);
    if (s->idx_fd >= 0)
        kp_file_close(s->idx_fd);
    if (s->tidx_fd >= 0)
        kp_file_close(s->tidx_fd);
    if (s->doomed) {
        char p[PATH_MAX + 16];
        /* The .log first: an orphaned index is ignored by recovery, an
         * orphaned .log would come back as a segment. */
        kp_file_unlink(s->path);
        sibling_path(s, ".index", p, sizeof p);
        kp_file_unlink(p);
        sibling_path(s, ".timeindex", p, sizeof p);
        kp_file_unlink(p);
    }
    offset_index_free(&s->oidx);
    time_index_free(&s->tidx);
    kp_free(s);
}

void segment_ref(segment_t *s)
{
    s->refs++;
}

void segment_unref(segment_t *s)
{
    KP_ASSERT(s->refs > 0);
    if (--s->refs == 0)
        segment_destroy(s);
}

void segment_doom(segment_t *s)
{
    s->doomed = true;
}

/*
 * Account one batch that now sits at pos: add sparse index entries once
 * index.interval.bytes have passed since the last, then extend the
 * segment's offset and timestamp range.
 */
static int segment_index_batch(segment_t *s, const batch_header_t *h, int64_t pos,
                               int64_t interval)
{
    int64_t rel = h->base_offset - s->base_offset;
    int64_t max_before = s->max_timestamp;
    int rc = 0;
    KP_ASSERT(rel >= 0 && rel <= UINT32_MAX && pos <= UINT32_MAX);
    /* The segment's own range first: an index entry is only a hint, so
     * failing to record one must not leave the range stale. */
    if (h->max_timestamp > s->max_timestamp)
        s->max_timestamp = h->max_timestamp;
    s->last_offset = batch_last_offset(h);
    if (pos > 0 && s->bytes_since_index >= interval) {
        if (offset_index_push(&s->oidx, (uint32_t)rel, (uint32_t)pos))
            rc = KP_ENOMEM;
        else if (max_before >= 0 &&
                 (s->tidx.n == 0 || max_before > s->tidx.e[s->tidx.n - 1].max_ts) &&
                 time_index_push(&s->tidx, max_before, (uint32_t)rel))
            rc = KP_ENOMEM;
        s->bytes_since_index = 0;
    }
    s->bytes_since_index += batch_size(h);
    return rc;
}

static int open_index_files(segment_t *s)
{
    char p[PATH_MAX + 16];
    if (s->idx_fd < 0) {
        sibling_path(s, ".index", p, sizeof p);
        int fd = kp_file_open(p, O_RDWR | O_CREAT, 0644);
        if (fd < 0)
            return fd;
        s->idx_fd = fd;
    }
    if (s->tidx_fd < 0) {
        sibling_path(s, ".timeindex", p, sizeof p);
        int fd = kp_file_open(p, O_RDWR | O_CREAT, 0644);
        if (fd < 0)
            return fd;
        s->tidx_fd = fd;
    }
    return 0;
}

int segment_create(const char *dir, int64_t base_offset, segment_t **out)
{
    char path[PATH_MAX];
    segment_file_path(path, sizeof path, dir, base_offset, ".log");
    segment_t *s = segment_alloc(path, base_offset);
    if (!s)
        return KP_ENOMEM;
    int fd = kp_file_open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        kp_free(s);
        return fd;
    }
    s->fd = fd;
    s->created_ms = kp_now_ms();
    int rc = open_index_files(s);
    if (rc) {
        /* Without its indexes the segment is still usable; they are
         * written later or rebuilt by recovery. */
        KP_WARN("segment %s: cannot create index files: %s", path, kp_strerror(rc));
    } else {
        kp_file_truncate(s->idx_fd, 0);
        kp_file_truncate(s->tidx_fd, 0);
    }
    *out = s;
    return 0;
}

/* Write index entries not yet on disk; errors only lose a hint. */
int segment_flush_indexes(segment_t *s, bool sync)
{
    int rc = open_index_files(s);
    uint8_t buf[TIME_ENTRY_SIZE * 256];
    if (rc)
        goto fail;
    while (s->idx_written < s->oidx.n) {
        int32_t n = s->oidx.n - s->idx_written;
        if (n > 256)
            n = 256;
        for (int32_t i = 0; i < n; i++) {
            const index_entry_t *e = &s->oidx.e[s->idx_written + i];
            kp_put_be32(buf + i * 8, e->rel_offset);
            kp_put_be32(buf + i * 8 + 4, e->pos);
        }
        rc = kp_file_pwrite_all(s->idx_fd, buf, (size_t)n * INDEX_ENTRY_SIZE,
                                (off_t)s->idx_written * INDEX_ENTRY_SIZE);
        if (rc)
            goto fail;
        s->idx_written += n;
    }
    while (s->tidx_written < s->tidx.n) {
        int32_t n = s->tidx.n - s->tidx_written;
        if (n > 256)
            n = 256;
        for (int32_t i = 0; i < n; i++) {
            const time_entry_t *e = &s->tidx.e[s->tidx_written + i];
            kp_put_be64(buf + i * 12, (uint64_t)e->max_ts);
            kp_put_be32(buf + i * 12 + 8, e->rel_offset);
        }
        rc = kp_file_pwrite_all(s->tidx_fd, buf, (size_t)n * TIME_ENTRY_SIZE,
                                (off_t)s->tidx_written * TIME_ENTRY_SIZE);
        if (rc)
            goto fail;
        s->tidx_written += n;
    }
    if (sync) {
        rc = kp_file_fdatasync(s->idx_fd);
        if (rc == 0)
            rc = kp_file_fdatasync(s->tidx_fd);
        if (rc)
            goto fail;
    }
    s->index_write_failed = false;
    return 0;
fail:
    if (!s->index_write_failed)
        KP_WARN("segment %s: writing index files failed: %s (they will be rebuilt "
                "from the log if needed)", s->path, kp_strerror(rc));
    s->index_write_failed = true;
    return rc;
}

/* Replace the index files with the in-memory indexes. */
static int rewrite_indexes(segment_t *s)
{
    int rc = open_index_files(s);
    if (rc == 0)
        rc = kp_file_truncate(s->idx_fd, 0);
    if (rc == 0)
        rc = kp_file_truncate(s->tidx_fd, 0);
    s->idx_written = s->tidx_written = 0;
    if (rc == 0)
        rc = segment_flush_indexes(s, false);
    return rc;
}

int segment_append(segment_t *s, const uint8_t *batch, size_t len,
                   const batch_header_t *h, int64_t index_interval_bytes)
{
    int64_t pos = s->size;
    s->index_interval_bytes = index_interval_bytes;
    int rc = kp_file_pwrite_all(s->fd, batch, len, pos);
    if (rc) {
        /* Undo whatever part reached the file so that invariant (1) holds
         * and a later append lands at the same position. */
        int trc = kp_file_truncate(s->fd, pos);
        if (trc) {
            KP_ERROR("segment %s: write failed (%s) and truncating back to %lld failed "
                     "(%s)", s->path, kp_strerror(rc), (long long)pos, kp_strerror(trc));
            return KP_EFAILED;
        }
        return rc;
    }
    rc = segment_index_batch(s, h, pos, index_interval_bytes);
    s->size = pos + (int64_t)len;
    return rc;
}

/* ---- header cursor ---------------------------------------------------- */

void seg_cursor_init(seg_cursor_t *c, int fd, int64_t pos, int64_t end)
{
    c->fd = fd;
    c->pos = pos;
    c->end = end;
    c->win_pos = 0;
    c->win_len = 0;
    c->last_size = 0;
}

int seg_cursor_peek(seg_cursor_t *c, batch_header_t *h)
{
    if (c->pos >= c->end)
        return 0;
    if (c->end - c->pos < BATCH_HEADER_SIZE)
        return KP_ECORRUPT;
    if (c->pos < c->win_pos || c->pos + BATCH_HEADER_SIZE > c->win_pos + (int64_t)c->win_len) {
        /* Batches bigger than the window put one header per read anyway:
         * then read just the header instead of copying a window of data. */
        size_t want = c->last_size > (int64_t)sizeof c->win / 2 ? BATCH_HEADER_SIZE
                                                                 : sizeof c->win;
        if ((int64_t)want > c->end - c->pos)
            want = (size_t)(c->end - c->pos);
        ssize_t r = kp_file_pread_all(c->fd, c->win, want, c->pos);
        if (r < 0)
            return (int)r;
        if (r < BATCH_HEADER_SIZE)
            return KP_ECORRUPT;
        c->win_pos = c->pos;
        c->win_len = (size_t)r;
    }
    int rc = batch_header_decode(c->win + (c->pos - c->win_pos), BATCH_HEADER_SIZE, h);
    if (rc)
        return rc;
    if (batch_size(h) > c->end - c->pos)
        return KP_ECORRUPT;
    return 1;
}

void seg_cursor_advance(seg_cursor_t *c, const batch_header_t *h)
{
    c->pos += batch_size(h);
    c->last_size = batch_size(h);
}


int segment_find(segment_t *s, int64_t offset, int64_t *pos, batch_header_t *h)
{
    seg_cursor_t c;
    int64_t rel = offset - s->base_offset;
    int rc;

    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t start = 0;
        int32_t slot = rel > 0 ? offset_index_lookup(&s->oidx, rel > UINT32_MAX ? UINT32_MAX
                                                                                  : (uint32_t)rel)
                               : -1;
        if (slot >= 0)
            start = s->oidx.e[slot].pos;
        seg_cursor_init(&c, s->fd, start, s->size);
        /* An index entry names the exact base offset of the batch at its
         * position; if the header there says otherwise the index is wrong
         * (a hint gone stale), and we rebuild it rather than trust it. */
        rc = seg_cursor_peek(&c, h);
        if (slot >= 0 && (rc != 1 || h->base_offset != s->base_offset + s->oidx.e[slot].rel_offset)) {
            KP_WARN("segment %s: index entry %d does not match the log; rebuilding the index",
                    s->path, slot);
            rc = segment_rebuild_indexes(s);
            if (rc)
                return rc;
            continue;
        }
        while (rc == 1) {
            if (batch_last_offset(h) >= offset) {
                *pos = c.pos;
                return 0;
            }
            seg_cursor_advance(&c, h);
            rc = seg_cursor_peek(&c, h);
        }
        if (rc == 0) {
            *pos = s->size;
            return 0;
        }
        return rc;
    }
    return KP_ECORRUPT;
}

/* ---- scanning and opening ---------------------------------------------- */

#define SCAN_BUF (1 << 20)

typedef struct scan_reader {
    int fd;
    uint8_t *buf;
    int64_t buf_pos;
    size_t buf_len;
} scan_reader_t;

/* Make [pos, pos+n) available in r->buf (n <= SCAN_BUF); returns a pointer
 * or NULL with *err set (0 when the file is shorter). */
static const uint8_t *scan_get(scan_reader_t *r, int64_t pos, size_t n, int *err)
{
    if (pos >= r->buf_pos && pos + (int64_t)n <= r->buf_pos + (int64_t)r->buf_len)
        return r->buf + (pos - r->buf_pos);
    ssize_t got = kp_file_pread_all(r->fd, r->buf, SCAN_BUF, pos);
    if (got < 0) {
        *err = (int)got;
        return NULL;
    }
    r->buf_pos = pos;
    r->buf_len = (size_t)got;
    if ((size_t)got < n) {
        *err = 0;
        return NULL;
    }
    return r->buf;
}

int segment_scan(int fd, int64_t pos, int64_t min_next_offset, seg_scan_fn *fn,
                 void *ctx, seg_scan_t *out)
{
    scan_reader_t r = {.fd = fd, .buf_pos = 0, .buf_len = 0};
    int rc = 0;

    memset(out, 0, sizeof *out);
    out->first_offset = out->last_offset = -1;
    out->max_timestamp = -1;
    out->file_size = kp_file_size(fd);
    if (out->file_size < 0)
        return (int)out->file_size;
    r.buf = kp_malloc(SCAN_BUF);
    if (!r.buf)
        return KP_ENOMEM;
    posix_fadvise(fd, pos, 0, POSIX_FADV_SEQUENTIAL);

#define BAD(err_, ...) do { out->bad_err = (err_); \
        snprintf(out->bad_reason, sizeof out->bad_reason, __VA_ARGS__); goto done; } while (0)

    while (pos < out->file_size) {
        batch_header_t h;
        int64_t left = out->file_size - pos;
        if (left < BATCH_HEADER_SIZE)
            BAD(KP_ECORRUPT, "partial batch header (%lld bytes at end of file)", (long long)left);
        int gerr = 0;
        const uint8_t *hb = scan_get(&r, pos, BATCH_HEADER_SIZE, &gerr);
        if (!hb) {
            if (gerr) {
                rc = gerr;
                goto done;
            }
            BAD(KP_ECORRUPT, "short read of batch header");
        }
        int drc = batch_header_decode(hb, BATCH_HEADER_SIZE, &h);
        if (drc) {
            if (h.magic != BATCH_MAGIC_V2)
                BAD(drc, "bad magic %d", h.magic);
            BAD(drc, "invalid batch header (length %d, lastOffsetDelta %d, records %d, "
                "base offset %lld)", h.batch_length, h.last_offset_delta, h.record_count,
                (long long)h.base_offset);
        }
        int64_t size = batch_size(&h);
        if (size > left)
            BAD(KP_ECORRUPT, "batch length %d runs past end of file (%lld bytes left)",
                h.batch_length, (long long)left);
        if (h.base_offset < min_next_offset)
            BAD(KP_ECORRUPT, "base offset %lld not above previous offset %lld",
                (long long)h.base_offset, (long long)min_next_offset - 1);
        /* CRC over bytes 21..size, streamed through the buffer. */
        uint32_t crc = 0;
        int64_t at = pos + BATCH_CRC_START, end = pos + size;
        while (at < end) {
            size_t n = (size_t)(end - at > SCAN_BUF ? SCAN_BUF : end - at);
            const uint8_t *b = scan_get(&r, at, n, &gerr);
            if (!b) {
                if (gerr) {
                    rc = gerr;
                    goto done;
                }
                BAD(KP_ECORRUPT, "short read inside batch");
            }
            crc = crc32c(crc, b, n);
            at += (int64_t)n;
        }
        if (crc != h.crc)
            BAD(KP_ECRC, "CRC-32C mismatch (stored %08x, computed %08x) in batch at "
                "offset %lld", h.crc, crc, (long long)h.base_offset);
        if (fn && (rc = fn(ctx, &h, pos)) != 0)
            goto done;
        if (out->first_offset < 0)
            out->first_offset = h.base_offset;
        out->last_offset = batch_last_offset(&h);
        if (h.max_timestamp > out->max_timestamp)
            out->max_timestamp = h.max_timestamp;
        out->batches++;
        out->records += h.record_count;
        min_next_offset = out->last_offset + 1;
        pos += size;
        out->valid_end = pos;
    }
#undef BAD
done:
    if (out->valid_end < pos && out->bad_err == 0 && rc == 0)
        out->valid_end = pos;
    kp_free(r.buf);
    return rc;
}

typedef struct open_ctx {
    segment_t *s;
    int64_t interval;
    int64_t expect_pos, expect_base;   /* the batch an index entry names */
} open_ctx_t;

static int open_scan_cb(void *ctx, const batch_header_t *h, int64_t pos)
{
    open_ctx_t *o = ctx;
    if (pos == 0 && h->base_offset < o->s->base_offset)
        return KP_ECORRUPT;
    if (pos == o->expect_pos && h->base_offset != o->expect_base)
        return KP_ECORRUPT;
    if (h->base_offset - o->s->base_offset > UINT32_MAX - (int64_t)INT32_MAX)
        return KP_ECORRUPT;
    return segment_index_batch(o->s, h, pos, o->interval);
}

/* Rebuild both indexes from the log bytes [0, size), which were validated
 * when the segment was opened or appended. */
int segment_rebuild_indexes(segment_t *s)
{
    offset_index_free(&s->oidx);
    time_index_free(&s->tidx);
    s->max_timestamp = -1;
    s->bytes_since_index = 0;
    s->last_offset = s->base_offset - 1;
    open_ctx_t o = {s, s->index_interval_bytes, -1, -1};
    seg_scan_t sc;
    int rc = segment_scan(s->fd, 0, s->base_offset, open_scan_cb, &o, &sc);
    if (rc == 0 && (sc.bad_err || sc.valid_end < s->size)) {
        KP_ERROR("segment %s: bytes accepted earlier no longer scan clean at %lld: %s",
                 s->path, (long long)sc.valid_end, sc.bad_reason);
        rc = KP_ECORRUPT;
    }
    if (rc == 0)
        rewrite_indexes(s);
    return rc;
}

static int load_index_file(const segment_t *s, const char *suffix, uint8_t **buf, size_t *len)
{
    char p[PATH_MAX + 16];
    sibling_path(s, suffix, p, sizeof p);
    char *b;
    int rc = kp_file_read_whole(p, (size_t)1 << 30, &b, len);
    if (rc)
        return rc;
    *buf = (uint8_t *)b;
    return 0;
}

/* Trusted open: load the indexes and validate only the tail after the last
 * offset index entry.  Returns KP_ECORRUPT if anything is off, so the caller
 * falls back to a full scan. */
static int open_trusted(segment_t *s, int64_t prev_last_offset, int64_t interval)
{
    uint8_t *ib = NULL, *tb = NULL;
    size_t il = 0, tl = 0;
    int rc = load_index_file(s, ".index", &ib, &il);
    if (rc == 0)
        rc = load_index_file(s, ".timeindex", &tb, &tl);
    if (rc == 0)
        rc = offset_index_decode(&s->oidx, ib, il, s->size);
    if (rc == 0)
        rc = time_index_decode(&s->tidx, tb, tl,
                               s->oidx.n ? s->oidx.e[s->oidx.n - 1].rel_offset : 0);
    kp_free(ib);
    kp_free(tb);
    if (rc)
        return rc;
    s->idx_written = s->oidx.n;
    s->tidx_written = s->tidx.n;

    /* Re-derive the tail state from the last index entry onward: the batch
     * there is re-indexed, so drop its entry first and let the scan add it. */
    int64_t pos = 0;
    int64_t min_next = prev_last_offset + 1 > s->base_offset ? prev_last_offset + 1
                                                             : s->base_offset;
    if (s->oidx.n > 0) {
        index_entry_t last = s->oidx.e[s->oidx.n - 1];
        pos = last.pos;
        min_next = s->base_offset + last.rel_offset;
        s->oidx.n--;
        /* The newest time entry holds the largest timestamp before `pos`;
         * take it before dropping entries the rescan re-adds. */
        if (s->tidx.n > 0)
            s->max_timestamp = s->tidx.e[s->tidx.n - 1].max_ts;
        time_index_truncate_rel(&s->tidx, last.rel_offset);
        s->idx_written = s->oidx.n;
        s->tidx_written = s->tidx.n;
        /* Force an index entry at `pos` again. */
        s->bytes_since_index = interval;
    }
    open_ctx_t o = {s, interval, pos > 0 ? pos : -1, min_next};
    seg_scan_t sc;
    rc = segment_scan(s->fd, pos, min_next, open_scan_cb, &o, &sc);
    if (rc)
        return rc;
    if (sc.bad_err || sc.valid_end != s->size)
        return KP_ECORRUPT;
    return 0;
}

/*
 * segment.ms counts from the segment's first record (Kafka's rule), so a
 * restart does not reset the age of a segment that already holds data.
 */
static void segment_set_age(segment_t *s)
{
    uint8_t hb[BATCH_HEADER_SIZE];
    batch_header_t h;
    if (s->size >= BATCH_HEADER_SIZE &&
        kp_file_pread_all(s->fd, hb, sizeof hb, 0) == (ssize_t)sizeof hb &&
        batch_header_decode(hb, sizeof hb, &h) == 0 && h.max_timestamp > 0)
        s->created_ms = h.max_timestamp;
}

int segment_open(const char *path, int64_t base_offset, int64_t prev_last_offset,
                 bool trust, int64_t index_interval_bytes, segment_t **out,
                 int64_t *truncated_bytes)
{
    segment_t *s = segment_alloc(path, base_offset);
    int rc;
    *truncated_bytes = 0;
    if (!s)
        return KP_ENOMEM;
    s->index_interval_bytes = index_interval_bytes;
    s->fd = kp_file_open(path, O_RDWR, 0);
    if (s->fd < 0) {
        rc = s->fd;
        s->fd = -1;
        goto fail;
    }
    s->size = kp_file_size(s->fd);
    if (s->size < 0) {
        rc = (int)s->size;
        goto fail;
    }
    s->created_ms = kp_now_ms();
    if (s->size > UINT32_MAX) {
        rc = KP_ETOOLARGE;
        goto fail;
    }

    if (trust) {
        rc = open_trusted(s, prev_last_offset, index_interval_bytes);
        if (rc == 0) {
            s->synced_size = s->size;
            segment_set_age(s);
            *out = s;
            return 0;
        }
        if (rc == KP_ENOMEM)
            goto fail;
        KP_WARN("segment %s: indexes missing or inconsistent (%s); rebuilding from the log",
                path, kp_strerror(rc));
        offset_index_free(&s->oidx);
        time_index_free(&s->tidx);
        s->last_offset = base_offset - 1;
        s->max_timestamp = -1;
        s->bytes_since_index = 0;
    }

    /* Full scan: trust nothing, rebuild the indexes.  Sync first, then drop
     * the cached pages, so the scan reads what the disk holds: after a failed
     * fsync Linux may keep written pages in the cache marked clean although
     * they never reached the disk, and a scan of the cache would accept
     * them. */
    rc = kp_file_fdatasync(s->fd);
    if (rc) {
        KP_ERROR("segment %s: fdatasync before recovery failed: %s", path, kp_strerror(rc));
        goto fail;
    }
    posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
    int64_t min_next = prev_last_offset + 1 > base_offset ? prev_last_offset + 1 : base_offset;
    open_ctx_t o = {s, index_interval_bytes, -1, -1};
    seg_scan_t sc;
    rc = segment_scan(s->fd, 0, min_next, open_scan_cb, &o, &sc);
    if (rc == KP_ECORRUPT && sc.bad_err == 0) {
        sc.bad_err = rc;
        snprintf(sc.bad_reason, sizeof sc.bad_reason, "first batch below the segment's base offset");
        rc = 0;
    }
    if (rc)
        goto fail;
    if (sc.valid_end < s->size) {
        *truncated_bytes = s->size - sc.valid_end;
        KP_WARN("segment %s: truncating %lld bytes at position %lld: %s", path,
                (long long)*truncated_bytes, (long long)sc.valid_end, sc.bad_reason);
        rc = kp_file_truncate(s->fd, sc.valid_end);
        if (rc)
            goto fail;
        s->size = sc.valid_end;
    }
    rc = rewrite_indexes(s);
    if (rc)
        KP_WARN("segment %s: could not write rebuilt indexes: %s", path, kp_strerror(rc));
    /* What recovery keeps is made durable before anyone can acknowledge it:
     * after a process crash the tail may exist only in the page cache. */
    rc = kp_file_fdatasync(s->fd);
    if (rc)
        goto fail;
    s->synced_size = s->size;
    *out = s;
    segment_set_age(s);
    return 0;
fail:
    segment_destroy(s);
    return rc;
}

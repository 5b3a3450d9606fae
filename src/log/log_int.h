/*
 * log_int.h -- structures private to src/log/.  Outside this directory use
 * log.h only.
 */
#ifndef KP_LOG_INT_H
#define KP_LOG_INT_H

#include "log.h"
#include "batch.h"
#include "producer.h"
#include "txn.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- sparse indexes (index.c) ------------------------------------------- */

/*
 * Offset index entry: the base offset of a batch (relative to the segment's
 * base offset) and its file position.  On disk: 8 bytes, both big-endian
 * uint32, as Kafka's .index files.
 */
typedef struct index_entry {
    uint32_t rel_offset;
    uint32_t pos;
} index_entry_t;

/*
 * Time index entry: max_ts is the largest timestamp of every batch *before*
 * the batch at rel_offset, so a search for ts can start at the last entry
 * with max_ts < ts.  On disk: 12 bytes, int64 + uint32, big-endian.
 */
typedef struct time_entry {
    int64_t max_ts;
    uint32_t rel_offset;
} time_entry_t;

#define INDEX_ENTRY_SIZE 8
#define TIME_ENTRY_SIZE  12

typedef struct offset_index {
    index_entry_t *e;
    int32_t n, cap;
} offset_index_t;

typedef struct time_index {
    time_entry_t *e;
    int32_t n, cap;
} time_index_t;

int offset_index_push(offset_index_t *ix, uint32_t rel_offset, uint32_t pos);
int time_index_push(time_index_t *ix, int64_t max_ts, uint32_t rel_offset);
/* Slot of the last entry with rel_offset <= rel, -1 when none. */
int32_t offset_index_lookup(const offset_index_t *ix, uint32_t rel);
/* Slot of the first entry with pos >= pos, n when none. */
int32_t offset_index_after(const offset_index_t *ix, uint32_t pos);
/* rel_offset of the last entry with max_ts < ts; 0 when none. */
uint32_t time_index_lookup(const time_index_t *ix, int64_t ts);
void offset_index_free(offset_index_t *ix);
void time_index_free(time_index_t *ix);
void offset_index_truncate_pos(offset_index_t *ix, uint32_t pos);  /* drop entries at pos >= */
void time_index_truncate_rel(time_index_t *ix, uint32_t rel);       /* drop entries at rel >= */

/* Serialise to a buffer (kp_malloc'd) for writing. */
int offset_index_encode(const offset_index_t *ix, uint8_t **out, size_t *len);
int time_index_encode(const time_index_t *ix, uint8_t **out, size_t *len);
/*
 * Load an index file's bytes, checking it is plausible for a segment of
 * `seg_size` bytes: whole entries, strictly increasing offsets and
 * positions, positions inside the segment.  KP_ECORRUPT when not.
 */
int offset_index_decode(offset_index_t *ix, const uint8_t *buf, size_t len,
                        int64_t seg_size);
int time_index_decode(time_index_t *ix, const uint8_t *buf, size_t len,
                      uint32_t max_rel);

/* ---- segments (segment.c) ----------------------------------------------- */

struct segment {
    int64_t base_offset;
    int fd;                     /* the .log file, O_RDWR */
    int64_t size;               /* bytes of whole, valid batches */
    int64_t synced_size;        /* bytes known durable */
    int64_t last_offset;        /* base_offset - 1 when empty */
    int64_t max_timestamp;      /* -1 when empty */
    int64_t created_ms;         /* for segment.ms rolling */
    int64_t bytes_since_index;
    int64_t index_interval_bytes;   /* last used; for rebuilding */
    offset_index_t oidx;
    time_index_t tidx;
    int idx_fd, tidx_fd;        /* index files, -1 when not open */
    int32_t idx_written, tidx_written;  /* entries already written to files */
    bool index_write_failed;    /* logged once; the file is rebuilt later */
    int refs;
    bool doomed;                /* unlink files when the last ref goes */
    char path[PATH_MAX];        /* .../00000000000000000000.log */
};

/* Paths of a segment's files; `suffix` is ".log", ".index", ".timeindex". */
void segment_file_path(char *out, size_t cap, const char *dir, int64_t base,
                       const char *suffix);

/* Create an empty segment file (fails if it exists). */
int segment_create(const char *dir, int64_t base_offset, segment_t **out);

/*
 * Open an existing segment.  With trust=true the index files are loaded if
 * plausible and the tail is found by scanning from the last index entry;
 * with trust=false (or a bad index) the whole file is scanned, truncated at
 * the first invalid batch, and the indexes are rebuilt.  *truncated_bytes
 * reports what was cut.  prev_last_offset is the last offset of the
 * preceding segment (monotonicity check), -1 for the first.
 */
int segment_open(const char *path, int64_t base_offset, int64_t prev_last_offset,
                 bool trust, int64_t index_interval_bytes, segment_t **out,
                 int64_t *truncated_bytes);

/* Write a batch at the end; updates size, last_offset, indexes.  On a write
 * error the file is truncated back and the error returned (KP_EFAILED if
 * even that failed). */
int segment_append(segment_t *s, const uint8_t *batch, size_t len,
                   const batch_header_t *h, int64_t index_interval_bytes);

/* Rebuild both indexes from the segment's (already validated) bytes. */
int segment_rebuild_indexes(segment_t *s);

/* Write any index entries not yet in the index files, and (sync) fsync them. */
int segment_flush_indexes(segment_t *s, bool sync);


void segment_ref(segment_t *s);
void segment_unref(segment_t *s);        /* frees; unlinks files if doomed */
/* Mark for deletion: the files are unlinked once unreferenced. */
void segment_doom(segment_t *s);

/*
 * Find the file position of the first batch whose last offset is >= offset
 * (*pos = s->size when there is none).  Fills *h with that batch's header.
 */
int segment_find(segment_t *s, int64_t offset, int64_t *pos, batch_header_t *h);

/*
 * A cursor over batch headers in [pos, end) reading through a small window,
 * so walking many small batches costs one pread per window, not per batch.
 */
typedef struct seg_cursor {
    int fd;
    int64_t pos, end;
    int64_t win_pos;
    size_t win_len;
    int64_t last_size;          /* size of the batch last stepped over */
    uint8_t win[8192];
} seg_cursor_t;

void seg_cursor_init(seg_cursor_t *c, int fd, int64_t pos, int64_t end);
/* 1 with *h (the header at c->pos) filled, 0 at end, <0 on error/corruption. */
int seg_cursor_peek(seg_cursor_t *c, batch_header_t *h);
void seg_cursor_advance(seg_cursor_t *c, const batch_header_t *h);

/*
 * Scan a segment file's batches from `pos` to end of file, checking length
 * bounds, magic, CRC and offset monotonicity.  Calls fn (may be NULL) for
 * every valid batch; stops at the first invalid one, or when fn returns
 * non-zero (that value is returned).  The CRC is computed while streaming, so
 * a corrupt length costs no allocation.  Used by recovery and by
 * `kappa log check`.  min_next_offset: the smallest acceptable base offset.
 */
typedef struct seg_scan {
    int64_t valid_end;          /* position after the last valid batch */
    int64_t file_size;
    int64_t batches, records;
    int64_t first_offset, last_offset;   /* -1 when no batch */
    int64_t max_timestamp;
    int bad_err;                /* 0 when the whole file is valid */
    char bad_reason[160];
} seg_scan_t;

typedef int seg_scan_fn(void *ctx, const batch_header_t *h, int64_t pos);
int segment_scan(int fd, int64_t pos, int64_t min_next_offset, seg_scan_fn *fn,
                 void *ctx, seg_scan_t *out);

/* ---- partitions, topics, the log (partition.c, log.c) --------------------- */

struct partition {
    log_t *log;
    log_topic_t *topic;
    int32_t id;
    char name[300];             /* topic-N */
    char dir[PATH_MAX];
    segment_t **segs;           /* ascending base offset; last is active */
    int nsegs, cap;
    int64_t log_start_offset;
    int64_t log_end_offset;
    int64_t high_watermark;
    int64_t recovery_point;
    int failed;
    bool sync_inflight;
    bool dir_dirty;             /* a segment file was created since the last sync */
    bool dirty;                 /* on the log's dirty list */
    partition_t *dirty_next;
    int64_t compacted_upto;     /* segments below this base were compacted */
    producer_state_t producers; /* idempotent producers (producer.h) */
    txn_state_t txns;           /* unstable and aborted transactions (txn.h) */
    partition_stats_t stats;
};

struct log_topic {
    char name[256];
    int32_t npartitions;
    partition_t **partitions;
    log_config_t config;        /* effective: defaults + overrides */
    char **overrides;           /* key, value, ..., NULL */
    int noverrides;             /* number of pairs */
};

struct log {
    char dir[PATH_MAX];
    int lock_fd;                /* flock'd DIR/.lock: one process per log */
    log_config_t defaults;
    log_topic_t **topics;
    int ntopics, cap;
    partition_t *dirty_head;
    log_synced_fn *synced_fn;
    void *synced_ctx;
    int64_t last_checkpoint_ms;
    /* Checkpoint files may be written from a worker: one writer at a time,
     * and never an older snapshot over a newer one. */
    pthread_mutex_t ckpt_mu;
    uint64_t ckpt_seq;          /* snapshots taken (owner thread) */
    uint64_t ckpt_written;      /* newest snapshot on disk (under ckpt_mu) */
    metric_hist_t fsync_hist;
};

int partition_open(log_t *log, log_topic_t *t, int32_t id, bool clean,
                   int64_t recovery_point, int64_t log_start, partition_t **out);
int partition_create(log_t *log, log_topic_t *t, int32_t id, partition_t **out);
void partition_free(partition_t *p);
segment_t *partition_active(const partition_t *p);
int partition_flush_indexes(partition_t *p, bool sync);

/* Checkpoint files (checkpoint.c): "0\nN\ntopic partition offset\n..." */
typedef struct ckpt_entry {
    char topic[256];
    int32_t partition;
    int64_t offset;
} ckpt_entry_t;
int checkpoint_read(const char *path, ckpt_entry_t **out, int *n);
int checkpoint_write(const char *path, const ckpt_entry_t *e, int n);
/* -1 when (topic, partition) is not listed. */
int64_t checkpoint_lookup(const ckpt_entry_t *e, int n, const char *topic, int32_t partition);

#endif

/*
 * log.h -- kappa's event log: topics -> partitions -> segments on disk.
 *
 * This is the system of record.  The broker (src/kafka/) is its only writer
 * in a running server; tests and benchmarks drive it directly.
 *
 * Threading: one thread (the event loop) owns a log_t and everything reached
 * from it.  The only call that may run on another thread is
 * partition_sync_execute(), which performs the blocking fdatasync of a job
 * prepared and later completed on the owning thread.
 *
 * Durability contract:
 *  - partition_append() writes to the page cache and assigns offsets; the
 *    records are NOT acknowledged until a sync covers them.
 *  - A sync (log_flush(), or the prepare/execute/complete triple) makes every
 *    append made before its prepare durable, then advances the partition's
 *    high watermark to cover them.  The high watermark never passes the last
 *    fdatasync'd offset, so "offset < high watermark" means "acknowledgeable".
 *  - A failed write is undone (the file is truncated back) and reported; the
 *    partition keeps working, so a full disk recovers when space is freed.
 *    A failed fdatasync is never retried as success: the partition stops
 *    taking writes (partition_failed() != 0) until a restart lets recovery
 *    decide what survived.
 *
 * On-disk layout under the log directory:
 *   .topics/NAME.properties          partition count and config overrides
 *   NAME-P/00000000000000000000.log  segment: RecordBatch v2 bytes
 *   NAME-P/...index, ...timeindex    sparse offset and time indexes (hints)
 *   recovery-point-offset-checkpoint segments below are known good
 *   log-start-offset-checkpoint      first readable offset per partition
 *   .kappa_clean_shutdown            present only after a clean close
 */
#ifndef KP_LOG_H
#define KP_LOG_H

#include "../core/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct log log_t;
typedef struct log_topic log_topic_t;
typedef struct partition partition_t;
typedef struct segment segment_t;

/* ---- configuration (Kafka topic-level names) ---------------------------- */

enum { LOG_CLEANUP_DELETE = 1, LOG_CLEANUP_COMPACT = 2 };

typedef struct log_config {
    int64_t segment_bytes;        /* segment.bytes (1 GiB); max 2^31-1 */
    int64_t segment_ms;           /* segment.ms (7 days) */
    int64_t retention_ms;         /* retention.ms; -1 = keep forever (default) */
    int64_t retention_bytes;      /* retention.bytes; -1 = no limit (default) */
    int64_t index_interval_bytes; /* index.interval.bytes (4096) */
    int64_t max_message_bytes;    /* max.message.bytes: largest batch (1048588) */
    int64_t delete_retention_ms;  /* delete.retention.ms: tombstone life (1 day) */
    int64_t min_compaction_lag_ms;/* min.compaction.lag.ms (0) */
    int cleanup_policy;           /* cleanup.policy: LOG_CLEANUP_* bits */
} log_config_t;

/* kappa's defaults: Kafka's, except retention is forever. */
void log_config_defaults(log_config_t *c);

/* Set one key (a Kafka topic config name).  KP_ENOTFOUND names an unknown
 * key; KP_EINVAL a value that does not parse or is out of range. */
int log_config_set(log_config_t *c, const char *key, const char *value);

/* Format one key's value into buf.  KP_ENOTFOUND for an unknown key. */
int log_config_get(const log_config_t *c, const char *key, char *buf, size_t cap);

/* NULL-terminated list of the keys log_config_set accepts. */
extern const char *const log_config_keys[];

/* ---- the log directory --------------------------------------------------- */

/*
 * Open (creating if needed) the log directory `dir` and recover every
 * partition.  After an unclean shutdown each segment at or after a
 * partition's recovery point is scanned (length bounds, magic, CRC-32C,
 * offset monotonicity) and truncated to its last valid batch; what was cut
 * is logged.  `defaults` is copied; NULL means log_config_defaults().
 */
int log_open(const char *dir, const log_config_t *defaults, log_t **out);

/*
 * Clean shutdown: sync every partition, write indexes and checkpoints, write
 * the clean-shutdown marker, free everything.  No sync may be in flight.
 * Returns the first error met (everything is freed regardless).
 */
int log_close(log_t *log);

/*
 * Free a log without syncing or writing the marker -- what a crash leaves
 * behind.  For tests that simulate power loss.
 */
void log_abandon(log_t *log);

const char *log_dir(const log_t *log);

/* Called on the owning thread whenever a partition's high watermark
 * advances, or with err != 0 when its sync failed (it is then fail-stopped). */
typedef void log_synced_fn(partition_t *p, int64_t high_watermark, int err, void *ctx);
void log_set_synced_callback(log_t *log, log_synced_fn *fn, void *ctx);

/*
 * Group commit, synchronously: one fdatasync per partition appended to since
 * its last sync (plus the directory, when a segment was created).  Returns 0
 * or the first error; a partition whose sync failed is fail-stopped.
 */
int log_flush(log_t *log);

/*
 * For an owner that runs syncs on worker threads: take one partition with
 * appends not yet covered by a sync off the dirty list (NULL when none).
 * partition_sync_complete() puts it back if more remains to sync.
 */
partition_t *log_pop_dirty(log_t *log);
bool log_has_dirty(const log_t *log);

/*
 * Periodic upkeep, driven by the owner (the server calls it every few
 * seconds): roll segments older than segment.ms, apply retention by time and
 * size and the log start offset, compact topics with cleanup.policy=compact,
 * and write the recovery-point and log-start-offset checkpoints.
 */
int log_maintain(log_t *log, int64_t now_ms);

/* Write both checkpoint files now. */
int log_checkpoint(log_t *log);

/*
 * The same upkeep for an owner with worker threads, in non-blocking parts:
 * log_upkeep() rolls, applies retention and compacts (no syncs);
 * log_checkpoint_prepare() snapshots the checkpoint on the owning thread,
 * log_checkpoint_write() writes it on any thread, log_checkpoint_free()
 * releases it.  A snapshot older than one already written is skipped, so
 * concurrent checkpoints never go back in time.
 */
typedef struct log_ckpt log_ckpt_t;
int log_upkeep(log_t *log, int64_t now_ms);
int log_checkpoint_prepare(log_t *log, log_ckpt_t **out);
int log_checkpoint_write(log_ckpt_t *c);
void log_checkpoint_free(log_ckpt_t *c);

/* ---- topics ------------------------------------------------------------- */

/* Legal Kafka topic names: [A-Za-z0-9._-]{1,249}, not "." or "..". */
bool log_topic_name_valid(const char *name);

/* Create a topic.  `overrides` is NULL or a NULL-terminated list of
 * key, value, key, value, ... strings (checked with log_config_set). */
int log_topic_create(log_t *log, const char *name, int32_t partitions,
                     const char *const *overrides);
int log_topic_delete(log_t *log, const char *name);
int log_topic_add_partitions(log_t *log, const char *name, int32_t total);
int log_topic_alter_config(log_t *log, const char *name,
                           const char *const *overrides);

log_topic_t *log_topic_find(log_t *log, const char *name);
int log_topic_count(const log_t *log);
log_topic_t *log_topic_at(log_t *log, int i);    /* 0 <= i < count, any order */
const char *log_topic_name(const log_topic_t *t);
int32_t log_topic_partitions(const log_topic_t *t);
const log_config_t *log_topic_config(const log_topic_t *t);
/* The overrides as key,value,...,NULL; valid until the topic changes. */
const char *const *log_topic_overrides(const log_topic_t *t);

/* NULL when the topic or partition does not exist. */
partition_t *log_partition(log_t *log, const char *topic, int32_t partition);
partition_t *log_topic_partition(log_topic_t *t, int32_t partition);

/* ---- partitions --------------------------------------------------------- */

typedef struct partition_append_result {
    int64_t base_offset;
    int64_t last_offset;
    bool duplicate;             /* an idempotent retry: already in the log at these offsets */
} partition_append_result_t;

/*
 * Append one RecordBatch v2 of exactly `len` bytes.  The batch is validated
 * (batch_validate_produced: header, CRC, size <= max.message.bytes) and its
 * baseOffset and partitionLeaderEpoch fields are rewritten in `batch` (the
 * caller's buffer) before it is written.  On success the batch is in the page
 * cache with offsets res->base_offset..res->last_offset and becomes durable,
 * and readable, when a later sync completes.
 *
 * A batch from an idempotent producer (producerId >= 0) is checked against
 * that producer's last five batches here: a retry is not written again but
 * answered with its original offsets (res->duplicate).
 *
 * Errors: KP_ECORRUPT/KP_ECRC/KP_ETOOLARGE/KP_EUNSUPPORTED (bad batch),
 * KP_EINVAL (a control batch: markers come only from
 * partition_append_marker()), KP_ESEQUENCE/KP_EFENCED/KP_EUNKNOWNPRODUCER
 * (idempotence), KP_ENOMEM (no memory for a transaction's state), KP_EFAILED
 * (partition fail-stopped), -ENOSPC/-EIO/... (the write failed and was
 * undone; later appends may succeed).
 */
int partition_append(partition_t *p, uint8_t *batch, size_t len,
                     partition_append_result_t *res);

const char *partition_name(const partition_t *p);    /* "topic-N" */
const char *partition_topic(const partition_t *p);
int32_t partition_id(const partition_t *p);
int64_t partition_log_start_offset(const partition_t *p);
int64_t partition_log_end_offset(const partition_t *p);   /* next offset */
int64_t partition_high_watermark(const partition_t *p);   /* synced end */
int64_t partition_size_bytes(const partition_t *p);
int partition_segment_count(const partition_t *p);
/* 0, or the error that fail-stopped the partition. */
int partition_failed(const partition_t *p);

/* Traffic counters for metrics, owned by the loop thread.  "in" counts
 * appended data batches (not duplicates, not markers); "out" is updated by
 * the broker for what fetches send (records counts offsets, so compacted
 * gaps and transaction markers are included). */
typedef struct partition_stats {
    uint64_t records_in, bytes_in;
    uint64_t records_out, bytes_out;
} partition_stats_t;
partition_stats_t *partition_stats(partition_t *p);
/* fdatasync latency of this log's partitions (observed from workers). */
const metric_hist_t *log_fsync_hist(const log_t *log);
/* true while a sync job prepared for it has not completed. */
bool partition_sync_busy(const partition_t *p);

/*
 * A read: a byte range of one segment file holding whole batches.  The range
 * stays valid (even if retention deletes or compaction replaces the segment)
 * until log_read_release(), so the broker can sendfile() it later.
 */
typedef struct log_read {
    segment_t *seg;         /* reference held; NULL when len == 0 */
    int fd;                 /* the segment file, open while seg is held */
    int64_t pos;            /* file position of the first byte */
    int64_t len;            /* bytes; 0 when there is nothing to read yet */
    int64_t first_offset;   /* base offset of the first batch (may be < asked) */
    int64_t next_offset;    /* the offset after the last batch in range */
} log_read_t;

/*
 * Whole batches from the one containing `offset`, up to max_bytes (but at
 * least one batch, as Kafka does), and only batches that end below
 * max_offset (pass the high watermark, or the last stable offset).  An
 * offset equal to the end gives len 0.  KP_EOFFSET when offset is below the
 * log start offset or above the log end offset.
 */
int partition_read(partition_t *p, int64_t offset, int64_t max_bytes,
                   int64_t max_offset, log_read_t *out);
void log_read_release(log_read_t *r);

/*
 * Read the partition from its log start offset to the high watermark in
 * chunks of whole batches (about chunk_bytes each) and hand each chunk to
 * fn.  For replaying internal topics at startup.  Stops at the first
 * non-zero return of fn (returned) or read error.
 */
typedef int partition_chunk_fn(void *ctx, const uint8_t *batches, size_t len);
int partition_replay(partition_t *p, int64_t chunk_bytes, partition_chunk_fn *fn, void *ctx);

/*
 * The first offset whose record timestamp is >= ts (Kafka's ListOffsets by
 * time), and that record's timestamp.  KP_ENOTFOUND if every record is older.
 * Only records below the high watermark are considered.
 */
int partition_offset_for_time(partition_t *p, int64_t ts, int64_t *offset,
                              int64_t *timestamp);

/* Advance the log start offset (DeleteRecords); offset <= high watermark.
 * Whole segments below it are deleted by the next log_maintain(). */
int partition_delete_records(partition_t *p, int64_t offset);

/* ---- transactions -------------------------------------------------------- */

/*
 * A data batch with the transactional attribute (0x10) and a producer id
 * opens a transaction for that producer in this partition at its base
 * offset, unless one is already open; the transaction coordinator ends it
 * with a marker.  partition_append() refuses control batches (KP_EINVAL):
 * only partition_append_marker() writes them.
 */

/* Append a commit (commit=true) or abort marker: a control batch (attributes
 * transactional|control, one record: key = int16 version 0 + int16 type (0 abort,
 * 1 commit), value = int16 version 0 + int32 coordinator_epoch), with the given
 * producer id and epoch and baseSequence -1.  It ends that producer's open
 * transaction in this partition (an abort records it as aborted).  Durable like
 * any append: after a sync covers res->last_offset.
 *
 * A marker with a newer producer epoch fences the older one (and the new
 * epoch's data starts at sequence 0); one of the same epoch leaves the
 * producer's sequence alone.  A marker when no transaction is open is still
 * written.  Errors: KP_EINVAL (producer_id or producer_epoch < 0),
 * KP_EFENCED (producer_epoch older than the producer's, or coordinator_epoch
 * older than its last marker's), KP_EFAILED, KP_ENOMEM, -errno (the write
 * failed and was undone). */
int partition_append_marker(partition_t *p, int64_t producer_id, int16_t producer_epoch,
                            bool commit, int32_t coordinator_epoch,
                            partition_append_result_t *res);

/* The last stable offset: the first offset of the oldest transaction still open
 * in this partition, or the high watermark when none is open (never above it).
 * A transaction counts as open until the high watermark passes its marker, and
 * the result is never below the log start offset (as Kafka's). */
int64_t partition_last_stable_offset(const partition_t *p);

typedef struct log_aborted_txn {
    int64_t producer_id;
    int64_t first_offset;       /* first offset of the aborted transaction here */
    int64_t last_offset;        /* offset of its abort marker */
} log_aborted_txn_t;

/* Aborted transactions whose range [first_offset, last_offset] overlaps
 * [from, to), ascending by first_offset (what a read_committed Fetch response
 * lists).  Returns the count (>= 0) with *out kp_malloc'd (caller frees; NULL
 * when 0) or a negative error. */
int partition_aborted_txns(const partition_t *p, int64_t from, int64_t to,
                           log_aborted_txn_t **out);

/* ---- group commit, split for a worker thread ---------------------------- */

#define PARTITION_SYNC_MAX_SEGS 8

typedef struct partition_sync {
    partition_t *p;
    int64_t target_offset;      /* high watermark once this sync succeeds */
    int nsegs;
    segment_t *segs[PARTITION_SYNC_MAX_SEGS];  /* referenced until complete */
    int64_t seg_sizes[PARTITION_SYNC_MAX_SEGS];
    char dir[4096];             /* non-empty: fsync this directory too */
    int err;                    /* set by execute */
    uint64_t duration_ns;       /* set by execute */
} partition_sync_t;

/* true when the partition has appends no sync has yet covered. */
bool partition_needs_sync(const partition_t *p);

/* On the owner: capture what must be synced.  Returns 0 with job->nsegs == 0
 * when there is nothing to do, KP_EBUSY if a sync is already in flight. */
int partition_sync_prepare(partition_t *p, partition_sync_t *job);
/* On any thread: the blocking part (fdatasync, directory fsync). */
void partition_sync_execute(partition_sync_t *job);
/* On the owner: advance the high watermark, or fail-stop on error; calls the
 * synced callback.  Returns job->err. */
int partition_sync_complete(partition_sync_t *job);

/* ---- maintenance, exposed for tests and the CLI -------------------------- */

typedef struct compact_stats {
    int64_t segments;           /* segments rewritten */
    int64_t records_read;
    int64_t records_kept;
    int64_t bytes_before;
    int64_t bytes_after;
} compact_stats_t;

/* Roll the active segment if it is non-empty and older than segment.ms or
 * full; force != 0 rolls any non-empty active segment. */
int partition_maybe_roll(partition_t *p, int64_t now_ms, int force);
/* Delete whole segments under retention.ms/retention.bytes/log start. */
int partition_apply_retention(partition_t *p, int64_t now_ms, int *deleted);
/* Rewrite closed segments keeping the newest record per key; drop
 * tombstones older than delete.retention.ms.  Only segments wholly below the
 * last stable offset are cleaned; records of aborted transactions are
 * dropped; markers are kept. */
int partition_compact(partition_t *p, int64_t now_ms, compact_stats_t *st);

#endif

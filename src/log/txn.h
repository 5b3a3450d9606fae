/*
 * txn.h -- the transaction state of one partition: which transactions are
 * still undecided here (they bound the last stable offset) and which were
 * aborted (what a read_committed Fetch lists, and what compaction drops).
 * Also the commit/abort marker record itself: building and parsing it.
 *
 * Which producer has a transaction open lives in its producer entry
 * (producer.h, txn_first_offset); txn_state_t keeps the same transactions
 * ordered by first offset, so the last stable offset costs O(1).
 *
 * Like the producer state, all of it is derived from the log and rebuilt at
 * partition open by scanning batch headers (and reading the markers).
 */
#ifndef KP_TXN_H
#define KP_TXN_H

#include "log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A transaction that holds the last stable offset back: still open
 * (marker_offset -1), or ended by a marker the high watermark has not yet
 * passed.  Kafka's "ongoing" and "unreplicated" transactions. */
typedef struct txn_unstable {
    int64_t producer_id;
    int64_t first_offset;
    int64_t marker_offset;      /* -1 while open */
} txn_unstable_t;

typedef struct txn_state {
    txn_unstable_t *unstable;   /* ascending first_offset */
    int64_t nunstable, capunstable;
    log_aborted_txn_t *aborted; /* ascending first_offset */
    int64_t naborted, capaborted;
    int64_t aborted_span_max;   /* >= every aborted last_offset - first_offset */
} txn_state_t;

/* Room for one more unstable and one more aborted transaction, so that the
 * txn_opened/txn_ended that follow a write cannot fail.  0 or KP_ENOMEM. */
int txn_reserve(txn_state_t *ts);

/* A transaction opened at first_offset, which must be above every first
 * offset already held (appends go forward).  Needs txn_reserve() first. */
void txn_opened(txn_state_t *ts, int64_t producer_id, int64_t first_offset);

/* The transaction that opened at first_offset ended with a marker at
 * marker_offset; an abort is added to the aborted list.  Needs
 * txn_reserve() first. */
void txn_ended(txn_state_t *ts, int64_t producer_id, int64_t first_offset,
               int64_t marker_offset, bool commit);

/* Forget ended transactions whose marker is below the high watermark. */
void txn_on_high_watermark(txn_state_t *ts, int64_t high_watermark);

/* The first offset of the oldest transaction that is open, or whose marker
 * is at or above high_watermark; INT64_MAX when there is none. */
int64_t txn_first_unstable(const txn_state_t *ts, int64_t high_watermark);

/* Aborted transactions overlapping [from, to), as partition_aborted_txns(). */
int txn_aborted_in(const txn_state_t *ts, int64_t from, int64_t to, log_aborted_txn_t **out);

/* true when the data at `offset` of producer_id belongs to an aborted
 * transaction (it lies in one of that producer's aborted ranges). */
bool txn_is_aborted(const txn_state_t *ts, int64_t producer_id, int64_t offset);

/* Drop aborted transactions whose marker is below log_start_offset. */
void txn_trim(txn_state_t *ts, int64_t log_start_offset);

void txn_state_free(txn_state_t *ts);

/* ---- the marker record -------------------------------------------------- */

enum { TXN_MARKER_ABORT = 0, TXN_MARKER_COMMIT = 1 };

/* Largest control batch txn_marker_parse() reads; a marker is 78 bytes. */
#define TXN_MARKER_MAX_BYTES 4096

/*
 * Build a marker batch (attributes transactional|control, baseSequence -1,
 * one record: key int16 version 0 + int16 type, value int16 version 0 +
 * int32 coordinator epoch) with baseOffset 0 and a valid CRC.  *out is
 * kp_malloc'd and owned by the caller.
 */
int txn_marker_build(int64_t producer_id, int16_t producer_epoch, bool commit,
                     int32_t coordinator_epoch, int64_t timestamp, uint8_t **out,
                     size_t *len);

/*
 * Parse the whole control batch at buf[0..len): its single record must have
 * a key of at least 4 bytes (version >= 0, type 0 or 1) and a value of at
 * least 6 (version >= 0, coordinator epoch); later versions may append
 * fields, which are ignored, as Kafka does.  Checks the CRC.  0, or
 * KP_ECORRUPT/KP_ECRC/KP_EUNSUPPORTED (another control record type).
 */
int txn_marker_parse(const uint8_t *buf, size_t len, bool *commit,
                     int32_t *coordinator_epoch);

#endif

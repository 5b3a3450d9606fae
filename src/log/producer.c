/*
 * producer.c -- per-partition idempotent producer state (see producer.h).
 *
 * Invariants:
 *  (1) A batch whose (producer id, epoch, first and last sequence) matches
 *      one of the producer's last five batches is a retry: it is never
 *      appended again, and its original offsets are returned.
 *  (2) Within an epoch, sequences are contiguous (wrapping at INT32_MAX);
 *      a new epoch starts at 0; an older epoch is fenced.
 *  (3) Only data batches enter the window.  A commit/abort marker (baseSequence
 *      -1) may move the epoch -- which empties the window, so the new epoch
 *      starts at sequence 0 -- but never adds to it: a marker of the same
 *      epoch leaves the producer's sequence where its data left it.
 */
#include "producer.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <string.h>

static uint64_t pid_hash(int64_t pid)
{
    uint64_t x = (uint64_t)pid * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

static producer_entry_t *find(const producer_state_t *ps, int64_t pid)
{
    if (!ps->cap)
        return NULL;
    for (uint64_t i = pid_hash(pid) & (uint64_t)(ps->cap - 1);; i = (i + 1) & (uint64_t)(ps->cap - 1)) {
        producer_entry_t *e = &ps->e[i];
        if (e->producer_id == pid)
            return e;
        if (e->producer_id == -1)
            return NULL;
    }
}

static int grow(producer_state_t *ps)
{
    int64_t ncap = ps->cap ? ps->cap * 2 : 16;
    producer_entry_t *ne = kp_malloc((size_t)ncap * sizeof *ne);
    if (!ne)
        return KP_ENOMEM;
    for (int64_t i = 0; i < ncap; i++)
        ne[i].producer_id = -1;
    for (int64_t i = 0; i < ps->cap; i++) {
        if (ps->e[i].producer_id < 0)
            continue;
        uint64_t j = pid_hash(ps->e[i].producer_id) & (uint64_t)(ncap - 1);
        while (ne[j].producer_id != -1)
            j = (j + 1) & (uint64_t)(ncap - 1);
        ne[j] = ps->e[i];
    }
    kp_free(ps->e);
    ps->e = ne;
    ps->cap = ncap;
    return 0;
}

static int32_t seq_add(int32_t seq, int32_t n)
{
    /* Sequences wrap from INT32_MAX to 0 (Kafka's DefaultRecordBatch). */
    int64_t s = (int64_t)seq + n;
    return (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
}

int producer_check(const producer_state_t *ps, const batch_header_t *h, producer_batch_t *dup)
{
    if (h->producer_id < 0)
        return PRODUCER_NEW;
    int32_t last_seq = seq_add(h->base_sequence, h->last_offset_delta);
    const producer_entry_t *e = find(ps, h->producer_id);
    if (!e)
        return h->base_sequence == 0 ? PRODUCER_NEW : KP_EUNKNOWNPRODUCER;
    if (h->producer_epoch < e->epoch)
        return KP_EFENCED;
    if (h->producer_epoch > e->epoch)
        return h->base_sequence == 0 ? PRODUCER_NEW : KP_ESEQUENCE;
    for (int i = 0; i < e->n; i++) {
        if (e->b[i].first_seq == h->base_sequence && e->b[i].last_seq == last_seq) {
            *dup = e->b[i];
            return PRODUCER_DUPLICATE;
        }
    }
    if (e->n == 0)
        return h->base_sequence == 0 ? PRODUCER_NEW : KP_ESEQUENCE;
    if (h->base_sequence != seq_add(e->b[e->n - 1].last_seq, 1))
        return KP_ESEQUENCE;
    return PRODUCER_NEW;
}

producer_entry_t *producer_find(const producer_state_t *ps, int64_t producer_id)
{
    return producer_id < 0 ? NULL : find(ps, producer_id);
}

int producer_reserve(producer_state_t *ps)
{
    if ((ps->n + 1) * 4 > ps->cap * 3)
        return grow(ps);
    return 0;
}

/* The producer's entry, created (with `epoch`) when it has none. */
static producer_entry_t *get_or_create(producer_state_t *ps, int64_t pid, int16_t epoch)
{
    producer_entry_t *e = find(ps, pid);
    if (e)
        return e;
    if (producer_reserve(ps))
        return NULL;
    uint64_t i = pid_hash(pid) & (uint64_t)(ps->cap - 1);
    while (ps->e[i].producer_id != -1)
        i = (i + 1) & (uint64_t)(ps->cap - 1);
    e = &ps->e[i];
    memset(e, 0, sizeof *e);
    e->producer_id = pid;
    e->epoch = epoch;
    e->txn_first_offset = -1;
    e->coordinator_epoch = -1;
    ps->n++;
    return e;
}

/* Invariant (2): a new epoch starts with an empty window. */
static void set_epoch(producer_entry_t *e, int16_t epoch)
{
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->n = 0;
    }
}

int producer_update(producer_state_t *ps, const batch_header_t *h)
{
    if (h->producer_id < 0)
        return 0;
    producer_entry_t *e = get_or_create(ps, h->producer_id, h->producer_epoch);
    if (!e)
        return KP_ENOMEM;
    set_epoch(e, h->producer_epoch);
    if (h->attributes & BATCH_ATTR_CONTROL)
        return 0;           /* invariant (3) */
    if (e->n == PRODUCER_BATCHES) {
        memmove(e->b, e->b + 1, (PRODUCER_BATCHES - 1) * sizeof e->b[0]);
        e->n--;
    }
    e->b[e->n++] = (producer_batch_t){h->base_sequence,
                                      seq_add(h->base_sequence, h->last_offset_delta),
                                      h->base_offset, batch_last_offset(h)};
    return 0;
}

int producer_check_marker(const producer_state_t *ps, int64_t producer_id,
                          int16_t producer_epoch, int32_t coordinator_epoch)
{
    const producer_entry_t *e = producer_find(ps, producer_id);
    if (!e)
        return 0;
    if (producer_epoch < e->epoch || coordinator_epoch < e->coordinator_epoch)
        return KP_EFENCED;
    return 0;
}

int producer_apply_marker(producer_state_t *ps, int64_t producer_id, int16_t producer_epoch,
                          int32_t coordinator_epoch, int64_t *txn_first)
{
    *txn_first = -1;
    producer_entry_t *e = get_or_create(ps, producer_id, producer_epoch);
    if (!e)
        return KP_ENOMEM;
    set_epoch(e, producer_epoch);
    e->coordinator_epoch = coordinator_epoch;
    *txn_first = e->txn_first_offset;
    e->txn_first_offset = -1;
    return 0;
}

void producer_state_free(producer_state_t *ps)
{
    kp_free(ps->e);
    memset(ps, 0, sizeof *ps);
}

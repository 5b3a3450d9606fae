/*
 * arena.h -- a bump allocator for per-request memory (nginx pools): a
 * request's decoded structures are allocated here and freed all at once
 * when its response has been written.  Allocation goes through kp_malloc,
 * so failure injection covers it.
 */
#ifndef KP_ARENA_H
#define KP_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *head;
    size_t used;                /* bytes handed out since the last reset */
    size_t limit;               /* 0 = none; else refuse beyond this total */
} arena_t;

void arena_init(arena_t *a, size_t limit);
/* Zeroed, 8-byte aligned memory valid until arena_reset/free; NULL on
 * allocation failure or when the limit would be passed. */
void *arena_alloc(arena_t *a, size_t n);
void *arena_memdup(arena_t *a, const void *p, size_t n);
/* Free everything but keep one chunk for reuse. */
void arena_reset(arena_t *a);
void arena_free(arena_t *a);

#endif

/*
 * arena.c -- chunked bump allocation.  Chunks grow geometrically so a large
 * request costs few mallocs; reset keeps the first chunk so a steady stream
 * of small requests allocates nothing.
 */
#include "arena.h"
#include "kp_mem.h"

#include <stdint.h>
#include <string.h>

struct arena_chunk {
    arena_chunk_t *next;
    size_t cap, off;
    _Alignas(16) unsigned char data[];
};

#define ARENA_MIN_CHUNK 4096

void arena_init(arena_t *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void *arena_alloc(arena_t *a, size_t n)
{
    size_t need = (n + 7) & ~(size_t)7;
    if (need < n || (a->limit && a->used + need > a->limit))
        return NULL;
    arena_chunk_t *c = a->head;
    if (!c || c->cap - c->off < need) {
        size_t cap = c ? c->cap * 2 : ARENA_MIN_CHUNK;
        while (cap < need)
            cap *= 2;
        arena_chunk_t *nc = kp_malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->cap = cap;
        nc->off = 0;
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->off;
    c->off += need;
    a->used += need;
    memset(p, 0, n);
    return p;
}

void *arena_memdup(arena_t *a, const void *p, size_t n)
{
    void *d = arena_alloc(a, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

void arena_reset(arena_t *a)
{
    arena_chunk_t *c = a->head;
    if (!c)
        return;
    /* Keep the largest (newest) chunk. */
    arena_chunk_t *rest = c->next;
    c->next = NULL;
    c->off = 0;
    while (rest) {
        arena_chunk_t *n = rest->next;
        kp_free(rest);
        rest = n;
    }
    a->used = 0;
}

void arena_free(arena_t *a)
{
    while (a->head) {
        arena_chunk_t *n = a->head->next;
        kp_free(a->head);
        a->head = n;
    }
    a->used = 0;
}

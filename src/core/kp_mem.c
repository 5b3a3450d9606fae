/*
 * kp_mem.c -- allocation wrappers with failure injection.
 *
 * The countdown is a plain global: kappa's broker state is owned by one
 * event-loop thread, and the tests that use injection are single-threaded.
 * Worker threads (fsync) never allocate.
 */
#include "kp_mem.h"

#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1;
static long fail_count;

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        fail_count++;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void *kp_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *kp_calloc(size_t count, size_t n)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, n ? n : 1);
}

void *kp_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *kp_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kp_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void kp_free(void *p)
{
    free(p);
}

void kp_mem_fail_after(long n)
{
    fail_countdown = n;
    fail_count = 0;
}

void kp_mem_fail_reset(void)
{
    fail_countdown = -1;
}

long kp_mem_failures(void)
{
    return fail_count;
}

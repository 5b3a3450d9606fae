/*
 * kp_mem.h -- every allocation in kappa goes through these wrappers, so
 * tests can make the Nth allocation fail (SQLite's faultsim, curl's torture
 * tests) and check that each failure path cleans up and reports -ENOMEM.
 *
 * They behave like the libc functions: NULL on failure, kp_free(NULL) is a
 * no-op.  Nothing here aborts; callers decide.
 */
#ifndef KP_MEM_H
#define KP_MEM_H

#include <stddef.h>

void *kp_malloc(size_t n);
void *kp_calloc(size_t count, size_t n);
void *kp_realloc(void *p, size_t n);
char *kp_strdup(const char *s);
void kp_free(void *p);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * until kp_mem_fail_reset().  n < 0 disables injection.
 */
void kp_mem_fail_after(long n);
void kp_mem_fail_reset(void);
/* Number of allocations refused by injection since the last reset. */
long kp_mem_failures(void);

#endif

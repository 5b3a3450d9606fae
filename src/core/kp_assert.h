/*
 * kp_assert.h -- assertions that stay on in release builds (Redis's
 * serverAssert).  An assertion failure means kappa's own invariants are
 * broken; continuing could write wrong bytes to the system of record, so we
 * abort with the location instead.
 */
#ifndef KP_ASSERT_H
#define KP_ASSERT_H

#include <stdnoreturn.h>

noreturn void kp_assert_fail(const char *expr, const char *file, int line);

#define KP_ASSERT(expr) \
    ((expr) ? (void)0 : kp_assert_fail(#expr, __FILE__, __LINE__))

#endif

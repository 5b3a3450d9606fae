/*
 * test.h -- kappa's tiny test harness.
 *
 * A test program defines test functions with TEST(name) and runs them from
 * main() with RUN(name).  Each prints "PASS: name" or "FAIL: name: why";
 * tests/run.sh counts those lines and prints the closing summary.
 * A failed CHECK ends the current test (longjmp), so later tests still run.
 *
 *   TEST(append_roundtrip) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(append_roundtrip); return test_summary(); }
 */
#ifndef KP_TEST_H
#define KP_TEST_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

extern jmp_buf test_jmp;
extern int test_failures, test_passes;
extern char test_why[512];

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void test_run(const char *name, void (*fn)(void));
int test_summary(void);     /* exit status: 0 when nothing failed */

/* A fresh empty directory under $TMPDIR (or /tmp), removed by
 * test_rmtree().  Returns a static buffer per call slot (4 slots). */
const char *test_tmpdir(const char *tag);
void test_rmtree(const char *path);
/* Seed from KAPPA_SEED or time; printed so a failure can be replayed. */
uint64_t test_seed(void);
uint64_t test_rand(uint64_t *state);   /* xorshift64* */

#define TEST(name) static void test_##name(void)
#define RUN(name) test_run(#name, test_##name)

#define CHECK(cond) \
    do { if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_EQ_INT(a, b) \
    do { long long _a = (long long)(a), _b = (long long)(b); \
         if (_a != _b) test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
                                 #a, _a, #b, _b); } while (0)
#define CHECK_OK(expr) \
    do { int _rc = (expr); \
         if (_rc != 0) test_fail(__FILE__, __LINE__, "%s returned %d (%s)", #expr, _rc, \
                                 kp_strerror(_rc)); } while (0)

#endif

/*
 * test.c -- the harness behind test.h.
 */
#include "test.h"
#include "core/kp_error.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

jmp_buf test_jmp;
int test_failures, test_passes;
char test_why[512];

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(test_why, sizeof test_why, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vsnprintf(test_why + n, sizeof test_why - (size_t)n, fmt, ap);
    va_end(ap);
    longjmp(test_jmp, 1);
}

void test_run(const char *name, void (*fn)(void))
{
    if (setjmp(test_jmp) == 0) {
        fn();
        printf("PASS: %s\n", name);
        test_passes++;
    } else {
        printf("FAIL: %s: %s\n", name, test_why);
        test_failures++;
    }
    fflush(stdout);
}

int test_summary(void)
{
    return test_failures ? 1 : 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(const char *tag)
{
    static char slots[4][512];
    static int next;
    char *buf = slots[next++ % 4];
    const char *base = getenv("TMPDIR");
    snprintf(buf, 512, "%s/kappa-%s-XXXXXX", base ? base : "/tmp", tag);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
    return buf;
}

uint64_t test_seed(void)
{
    static uint64_t seed;
    if (seed)
        return seed;
    const char *s = getenv("KAPPA_SEED");
    seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (!seed)
        seed = 1;
    printf("# seed %llu (KAPPA_SEED=%llu to replay)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/*
 * kp_clock.c -- clocks, with a fake wall clock for retention and roll tests.
 */
#include "kp_clock.h"

#include <time.h>

static int64_t fake_ms = -1;

int64_t kp_now_ms(void)
{
    struct timespec ts;
    if (fake_ms >= 0)
        return fake_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kp_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kp_clock_set_fake(int64_t ms)
{
    fake_ms = ms;
}

/*
 * kp_clock.h -- time sources.  Wall-clock milliseconds (Kafka timestamps,
 * retention, segment age) and a monotonic clock for measuring intervals.
 * Tests may pin wall-clock time with kp_clock_set_fake().
 */
#ifndef KP_CLOCK_H
#define KP_CLOCK_H

#include <stdint.h>

int64_t kp_now_ms(void);       /* CLOCK_REALTIME, or the fake time if set */
int64_t kp_mono_ns(void);      /* CLOCK_MONOTONIC */
void kp_clock_set_fake(int64_t ms);   /* ms < 0 returns to the real clock */

#endif

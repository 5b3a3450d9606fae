/*
 * loop.h -- the event loop: one thread, epoll, timers, and a small worker
 * pool whose completions are posted back to the loop thread.
 *
 * Everything the loop calls runs on the loop thread, so broker state needs
 * no locks.  Blocking work (fdatasync) goes to loop_post_work(): `work` runs
 * on a worker thread, then `done` runs on the loop thread.  The
 * before-sleep hook runs once per turn, after all ready events and expired
 * timers were handled -- where group commit starts its fsyncs.
 */
#ifndef KP_LOOP_H
#define KP_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop loop_t;
typedef void loop_io_fn(loop_t *l, int fd, uint32_t events, void *ctx);
typedef void loop_fn(loop_t *l, void *ctx);

typedef struct loop_timer {
    int64_t when_ms;            /* monotonic */
    loop_fn *fn;
    void *ctx;
    int heap_idx;               /* -1 when not armed */
} loop_timer_t;

int loop_create(int workers, loop_t **out);
void loop_free(loop_t *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT, ...). */
int loop_add(loop_t *l, int fd, uint32_t events, loop_io_fn *fn, void *ctx);
int loop_mod(loop_t *l, int fd, uint32_t events);
int loop_del(loop_t *l, int fd);

void loop_timer_init(loop_timer_t *t);
void loop_timer_start(loop_t *l, loop_timer_t *t, int64_t delay_ms, loop_fn *fn, void *ctx);
void loop_timer_stop(loop_t *l, loop_timer_t *t);
static inline bool loop_timer_armed(const loop_timer_t *t) { return t->heap_idx >= 0; }

void loop_set_before_sleep(loop_t *l, loop_fn *fn, void *ctx);

/* Run work(ctx) on a worker, then done(loop, ctx) on the loop thread. */
int loop_post_work(loop_t *l, void (*work)(void *ctx), loop_fn *done, void *ctx);

/* Run until loop_stop(); returns 0 or a fatal -errno from epoll. */
int loop_run(loop_t *l);
void loop_stop(loop_t *l);      /* safe from a signal handler */
/* Wait for all posted work and run its completions (for shutdown). */
void loop_drain(loop_t *l);
int64_t loop_now_ms(const loop_t *l);   /* monotonic ms, cached per turn */

#endif

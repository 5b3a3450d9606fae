/*
 * loop.c -- epoll loop, timer heap, worker pool.
 *
 * Invariants:
 *  (1) Callbacks run only on the loop thread.  Workers touch nothing but the
 *      work queue (under its mutex) and the item they run.
 *  (2) A finished work item is handed back through the done queue and an
 *      eventfd, so the loop never blocks on a worker.
 *  (3) loop_stop() only writes to an eventfd, so it is async-signal-safe.
 */
#include "loop.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct watch {
    loop_io_fn *fn;
    void *ctx;
    bool active;
    uint32_t gen;               /* tags this registration's epoll events */
} watch_t;

typedef struct work_item {
    void (*work)(void *);
    loop_fn *done;
    void *ctx;
    struct work_item *next;
} work_item_t;

struct loop {
    int epfd;
    int wake_fd;                /* eventfd: work done or stop requested */
    watch_t *watches;
    int nwatches;
    uint32_t next_gen;
    loop_timer_t **heap;
    int nheap, heapcap;
    loop_fn *before_sleep;
    void *before_ctx;
    volatile sig_atomic_t stop;
    int64_t now_ms;
    /* worker pool */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    work_item_t *queue_head, *queue_tail;
    work_item_t *done_head;
    int busy;                   /* items being worked on */
    bool quitting;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_now_ms(const loop_t *l)
{
    return l->now_ms;
}

static void *worker_main(void *arg)
{
    loop_t *l = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);     /* signals go to the loop thread */
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->queue_head && !l->quitting)
            pthread_cond_wait(&l->cv, &l->mu);
        if (!l->queue_head && l->quitting)
            break;
        work_item_t *w = l->queue_head;
        l->queue_head = w->next;
        if (!l->queue_head)
            l->queue_tail = NULL;
        l->busy++;
        pthread_mutex_unlock(&l->mu);
        w->work(w->ctx);
        pthread_mutex_lock(&l->mu);
        l->busy--;
        w->next = l->done_head;
        l->done_head = w;
        uint64_t one = 1;
        ssize_t r = write(l->wake_fd, &one, sizeof one);
        (void)r;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int loop_create(int workers, loop_t **out)
{
    loop_t *l = kp_calloc(1, sizeof *l);
    if (!l)
        return KP_ENOMEM;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->wake_fd < 0) {
        int e = -errno;
        loop_free(l);
        return e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint32_t)l->wake_fd};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->now_ms = mono_ms();
    if (workers > 0) {
        l->threads = kp_calloc((size_t)workers, sizeof *l->threads);
        if (!l->threads) {
            loop_free(l);
            return KP_ENOMEM;
        }
        for (int i = 0; i < workers; i++) {
            if (pthread_create(&l->threads[i], NULL, worker_main, l) != 0)
                break;
            l->nthreads++;
        }
    }
    *out = l;
    return 0;
}

void loop_free(loop_t *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->quitting = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    kp_free(l->threads);
    /* Work finished but never reported: report it now so owners free it. */
    while (l->done_head) {
        work_item_t *w = l->done_head;
        l->done_head = w->next;
        w->done(l, w->ctx);
        kp_free(w);
    }
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    kp_free(l->watches);
    kp_free(l->heap);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    kp_free(l);
}

int loop_add(loop_t *l, int fd, uint32_t events, loop_io_fn *fn, void *ctx)
{
    if (fd >= l->nwatches) {
        int n = l->nwatches ? l->nwatches : 64;
        while (n <= fd)
            n *= 2;
        watch_t *w = kp_realloc(l->watches, (size_t)n * sizeof *w);
        if (!w)
            return KP_ENOMEM;
        memset(w + l->nwatches, 0, (size_t)(n - l->nwatches) * sizeof *w);
        l->watches = w;
        l->nwatches = n;
    }
    /* Events carry fd and a generation: an fd closed and reused within one
     * epoll batch must not receive the old registration's queued events. */
    uint32_t gen = ++l->next_gen ? l->next_gen : ++l->next_gen;
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)gen << 32 | (uint32_t)fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    l->watches[fd] = (watch_t){fn, ctx, true, gen};
    return 0;
}

int loop_mod(loop_t *l, int fd, uint32_t events)
{
    uint32_t gen = fd >= 0 && fd < l->nwatches ? l->watches[fd].gen : 0;
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)gen << 32 | (uint32_t)fd};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int loop_del(loop_t *l, int fd)
{
    if (fd >= 0 && fd < l->nwatches)
        l->watches[fd].active = false;
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* ---- timers: a binary min-heap on when_ms ---- */

static void heap_swap(loop_t *l, int a, int b)
{
    loop_timer_t *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(loop_t *l, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (l->heap[p]->when_ms <= l->heap[i]->when_ms)
            break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(loop_t *l, int i)
{
    for (;;) {
        int c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->when_ms < l->heap[m]->when_ms)
            m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->when_ms < l->heap[m]->when_ms)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

void loop_timer_init(loop_timer_t *t)
{
    memset(t, 0, sizeof *t);
    t->heap_idx = -1;
}

void loop_timer_stop(loop_t *l, loop_timer_t *t)
{
    int i = t->heap_idx;
    if (i < 0)
        return;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_idx = -1;
}

void loop_timer_start(loop_t *l, loop_timer_t *t, int64_t delay_ms, loop_fn *fn, void *ctx)
{
    loop_timer_stop(l, t);
    if (l->nheap == l->heapcap) {
        int n = l->heapcap ? l->heapcap * 2 : 64;
        loop_timer_t **h = kp_realloc(l->heap, (size_t)n * sizeof *h);
        if (!h)
            abort();            /* a timer we cannot arm would hang a client */
        l->heap = h;
        l->heapcap = n;
    }
    t->when_ms = mono_ms() + delay_ms;
    t->fn = fn;
    t->ctx = ctx;
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
}

void loop_set_before_sleep(loop_t *l, loop_fn *fn, void *ctx)
{
    l->before_sleep = fn;
    l->before_ctx = ctx;
}

int loop_post_work(loop_t *l, void (*work)(void *), loop_fn *done, void *ctx)
{
    work_item_t *w = kp_malloc(sizeof *w);
    if (!w)
        return KP_ENOMEM;
    *w = (work_item_t){work, done, ctx, NULL};
    if (l->nthreads == 0) {
        /* No workers: run inline, complete on the next turn. */
        work(ctx);
        w->next = l->done_head;
        l->done_head = w;
        uint64_t one = 1;
        ssize_t r = write(l->wake_fd, &one, sizeof one);
        (void)r;
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    if (l->queue_tail)
        l->queue_tail->next = w;
    else
        l->queue_head = w;
    l->queue_tail = w;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void loop_stop(loop_t *l)
{
    l->stop = 1;
    uint64_t one = 1;
    ssize_t r = write(l->wake_fd, &one, sizeof one);
    (void)r;
}

static void run_done(loop_t *l)
{
    uint64_t n;
    ssize_t r = read(l->wake_fd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&l->mu);
    work_item_t *list = l->done_head;
    l->done_head = NULL;
    pthread_mutex_unlock(&l->mu);
    /* Reverse to completion order. */
    work_item_t *rev = NULL;
    while (list) {
        work_item_t *n2 = list->next;
        list->next = rev;
        rev = list;
        list = n2;
    }
    while (rev) {
        work_item_t *n2 = rev->next;
        rev->done(l, rev->ctx);
        kp_free(rev);
        rev = n2;
    }
}

void loop_drain(loop_t *l)
{
    for (;;) {
        pthread_mutex_lock(&l->mu);
        bool idle = !l->queue_head && !l->done_head && l->busy == 0;
        pthread_mutex_unlock(&l->mu);
        if (idle)
            return;
        run_done(l);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

int loop_run(loop_t *l)
{
    struct epoll_event evs[256];
    while (!l->stop) {
        if (l->before_sleep)
            l->before_sleep(l, l->before_ctx);
        int timeout = -1;
        if (l->nheap > 0) {
            int64_t d = l->heap[0]->when_ms - mono_ms();
            timeout = d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
        }
        if (l->stop)
            break;
        int n = epoll_wait(l->epfd, evs, 256, timeout);
        if (n < 0 && errno != EINTR)
            return -errno;
        l->now_ms = mono_ms();
        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)evs[i].data.u64;
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            if (gen == 0 && fd == l->wake_fd) {
                run_done(l);
                continue;
            }
            if (fd < l->nwatches && l->watches[fd].active && l->watches[fd].gen == gen)
                l->watches[fd].fn(l, fd, evs[i].events, l->watches[fd].ctx);
        }
        while (l->nheap > 0 && l->heap[0]->when_ms <= l->now_ms) {
            loop_timer_t *t = l->heap[0];
            loop_timer_stop(l, t);
            t->fn(l, t->ctx);
        }
    }
    return 0;
}

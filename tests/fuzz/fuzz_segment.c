/*
 * fuzz_segment.c -- recovery's view of a segment file and its index.
 *
 * Input: [uint16 index length][index bytes][segment bytes].  The bytes are
 * written as a segment and its .index file, then opened both trusted (index
 * loaded, tail re-scanned) and untrusted (full scan, truncation, index
 * rebuild), and looked up at a few offsets.  Whatever the bytes, recovery
 * must not crash, over-read, leak, or end with a segment whose batches do
 * not scan clean.
 */
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "core/logging.h"
#include "log/log_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void quiet(enum kp_log_level level, const char *line, void *ctx)
{
    (void)level; (void)line; (void)ctx;
}

static void put(const char *path, const uint8_t *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (n && write(fd, b, n) != (ssize_t)n)
        abort();
    close(fd);
}

static void exercise(const char *path, bool trust)
{
    segment_t *s;
    int64_t cut;
    if (segment_open(path, 0, -1, trust, 64, &s, &cut) != 0)
        return;
    /* What survived must scan clean from the start. */
    seg_scan_t sc;
    if (segment_scan(s->fd, 0, 0, NULL, NULL, &sc) != 0 || sc.bad_err || sc.valid_end != s->size)
        abort();
    int64_t probes[] = {0, 1, 7, s->last_offset, s->last_offset + 1, s->base_offset + 1000};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        int64_t pos;
        batch_header_t h;
        if (segment_find(s, probes[i], &pos, &h) == 0 && pos < s->size &&
            batch_last_offset(&h) < probes[i])
            abort();
    }
    segment_unref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char seg[300], idx[300];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/kappa-fuzz-seg-%d", base, (int)getpid());
        mkdir(dir, 0755);
        kp_log_set_sink(quiet, NULL);
    }
    if (size < 2)
        return 0;
    size_t il = (size_t)data[0] << 8 | data[1];
    if (il > size - 2)
        il = size - 2;
    snprintf(seg, sizeof seg, "%s/00000000000000000000.log", dir);
    snprintf(idx, sizeof idx, "%s/00000000000000000000.index", dir);
    char tidx[300];
    snprintf(tidx, sizeof tidx, "%s/00000000000000000000.timeindex", dir);
    unlink(tidx);       /* no stale time index from the previous input */
    put(idx, data + 2, il);
    put(seg, data + 2 + il, size - 2 - il);
    exercise(seg, true);
    put(idx, data + 2, il);
    put(seg, data + 2 + il, size - 2 - il);
    exercise(seg, false);
    return 0;
}

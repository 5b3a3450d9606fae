/*
 * checkpoint.c -- Kafka-format offset checkpoint files:
 *
 *   0                      version
 *   N                      entry count
 *   topic partition offset one line per entry
 *
 * Written with kp_file_write_atomic (tmp, fsync, rename, fsync dir), so a
 * crash leaves the old or the new file.  A file that does not parse is
 * reported and treated as absent: the only cost is a longer recovery scan.
 */
#include "log_int.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"
#include "../io/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int checkpoint_read(const char *path, ckpt_entry_t **out, int *n)
{
    char *buf;
    size_t len;
    int rc = kp_file_read_whole(path, 64u << 20, &buf, &len);
    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    char *save, *line = strtok_r(buf, "\n", &save);
    long count;
    if (!line || strcmp(line, "0") != 0)
        goto corrupt;
    line = strtok_r(NULL, "\n", &save);
    /* Each entry takes at least "t 0 0\n": a count the file cannot hold is
     * corrupt, and is refused before anything is allocated for it. */
    if (!line || (count = strtol(line, NULL, 10)) < 0 || (size_t)count > len / 6)
        goto corrupt;
    ckpt_entry_t *e = kp_calloc((size_t)count + 1, sizeof *e);
    if (!e) {
        kp_free(buf);
        return KP_ENOMEM;
    }
    for (long i = 0; i < count; i++) {
        line = strtok_r(NULL, "\n", &save);
        long long off;
        int part;
        char topic[256];
        if (!line || sscanf(line, "%255s %d %lld", topic, &part, &off) != 3) {
            kp_free(e);
            goto corrupt;
        }
        snprintf(e[i].topic, sizeof e[i].topic, "%s", topic);
        e[i].partition = part;
        e[i].offset = off;
    }
    kp_free(buf);
    *out = e;
    *n = (int)count;
    return 0;
corrupt:
    kp_free(buf);
    return KP_ECORRUPT;
}

int checkpoint_write(const char *path, const ckpt_entry_t *e, int n)
{
    size_t cap = 32 + (size_t)n * 300, len = 0;
    char *buf = kp_malloc(cap);
    if (!buf)
        return KP_ENOMEM;
    len += (size_t)snprintf(buf + len, cap - len, "0\n%d\n", n);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %d %" PRId64 "\n", e[i].topic,
                                e[i].partition, e[i].offset);
    int rc = kp_file_write_atomic(path, buf, len);
    kp_free(buf);
    return rc;
}

int64_t checkpoint_lookup(const ckpt_entry_t *e, int n, const char *topic, int32_t partition)
{
    for (int i = 0; i < n; i++)
        if (e[i].partition == partition && strcmp(e[i].topic, topic) == 0)
            return e[i].offset;
    return -1;
}

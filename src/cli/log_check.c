/*
 * log_check.c -- `kappa log check DIR`: verify and summarise segment files
 * without changing them (like redis-check-aof and mdb_stat).
 *
 * DIR may be a log directory (every partition in it), one partition
 * directory, or one .log segment file.  For each partition it prints the
 * offsets, batch and record counts, bytes, whether the indexes are usable,
 * and the first bad position with the reason.  Exit status: 0 when every
 * segment is valid, 1 when something is wrong, 2 on a usage error.
 */
#include "cli.h"
#include "log/log_int.h"
#include "core/kp_error.h"
#include "core/kp_mem.h"
#include "io/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct part_summary {
    int segments;
    int64_t first, last, batches, records, bytes;
    int bad_indexes;
    int problems;
} part_summary_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Check an index file's plausibility as recovery would. */
static bool index_ok(const char *log_path, int64_t seg_size)
{
    char p[PATH_MAX + 16];
    size_t n = strlen(log_path);
    uint8_t *buf;
    size_t len;
    offset_index_t ix;
    snprintf(p, sizeof p, "%.*s.index", (int)(n - 4), log_path);
    if (kp_file_read_whole(p, (size_t)1 << 30, (char **)&buf, &len) != 0)
        return false;
    int rc = offset_index_decode(&ix, buf, len, seg_size);
    kp_free(buf);
    offset_index_free(&ix);
    return rc == 0;
}

static void check_segment(const char *path, int64_t *prev_last, part_summary_t *ps,
                          bool verbose)
{
    int fd = kp_file_open(path, O_RDONLY, 0);
    seg_scan_t sc;
    if (fd < 0) {
        printf("  %s: cannot open: %s\n", path, kp_strerror(fd));
        ps->problems++;
        return;
    }
    /* As recovery does: the first batch may not start below the offset the
     * file is named after, nor at or below the previous segment's end. */
    const char *slash = strrchr(path, '/');
    int64_t base = strtoll(slash ? slash + 1 : path, NULL, 10);
    int64_t min_next = *prev_last + 1 > base ? *prev_last + 1 : base;
    int rc = segment_scan(fd, 0, min_next, NULL, NULL, &sc);
    kp_file_close(fd);
    if (rc) {
        printf("  %s: read error: %s\n", path, kp_strerror(rc));
        ps->problems++;
        return;
    }
    ps->segments++;
    ps->batches += sc.batches;
    ps->records += sc.records;
    ps->bytes += sc.file_size;
    if (sc.first_offset >= 0 && ps->first < 0)
        ps->first = sc.first_offset;
    if (sc.last_offset >= 0) {
        ps->last = sc.last_offset;
        *prev_last = sc.last_offset;
    }
    bool idx = sc.batches == 0 || index_ok(path, sc.file_size);
    if (!idx)
        ps->bad_indexes++;
    if (sc.bad_err) {
        printf("  BAD %s: first bad position %" PRId64 " of %" PRId64 ": %s "
               "(recovery would truncate %" PRId64 " bytes)\n",
               path, sc.valid_end, sc.file_size, sc.bad_reason, sc.file_size - sc.valid_end);
        ps->problems++;
    } else if (verbose) {
        printf("  %s: offsets %" PRId64 "..%" PRId64 ", %" PRId64 " batches, %" PRId64
               " bytes, index %s\n", path, sc.first_offset, sc.last_offset, sc.batches,
               sc.file_size, idx ? "ok" : "missing or stale (rebuilt on open)");
    }
}

static int is_segment_name(const char *nm)
{
    size_t n = strlen(nm);
    if (n != 24 || strcmp(nm + 20, ".log") != 0)
        return 0;
    for (int i = 0; i < 20; i++)
        if (nm[i] < '0' || nm[i] > '9')
            return 0;
    return 1;
}

/* Returns the number of problems found, or -1 if dir has no segments. */
static int check_partition(const char *dir, const char *label, bool verbose)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    part_summary_t ps = {.first = -1, .last = -1};

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (!is_segment_name(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = kp_realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                closedir(d);
                return -1;
            }
            names = nn;
        }
        names[n++] = kp_strdup(de->d_name);
    }
    closedir(d);
    if (n == 0) {
        kp_free(names);
        return -1;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int64_t prev_last = -1;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        check_segment(path, &prev_last, &ps, verbose);
        kp_free(names[i]);
    }
    kp_free(names);
    printf("%-32s %4d %12" PRId64 " %12" PRId64 " %10" PRId64 " %12" PRId64 " %14" PRId64
           "  %s%s\n", label, ps.segments, ps.first, ps.last, ps.batches, ps.records, ps.bytes,
           ps.problems ? "BAD" : "ok",
           ps.bad_indexes ? " (stale indexes: rebuilt on open)" : "");
    return ps.problems;
}

static void header(void)
{
    printf("%-32s %4s %12s %12s %10s %12s %14s  %s\n", "PARTITION", "SEGS", "FIRST", "LAST",
           "BATCHES", "RECORDS", "BYTES", "STATUS");
}

static int check_dir(const char *dir, bool verbose)
{
    char marker[PATH_MAX + 64];
    snprintf(marker, sizeof marker, "%s/.kappa_clean_shutdown", dir);
    int problems = check_partition(dir, dir, false);
    if (problems >= 0) {
        /* DIR is itself a partition directory: print the header above it. */
        return problems;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "kappa log check: %s: %s\n", dir, strerror(errno));
        return -2;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = kp_realloc(names, (size_t)cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = kp_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    printf("log directory %s (%s shutdown marker)\n", dir,
           access(marker, F_OK) == 0 ? "clean" : "no clean");
    header();
    int parts = 0;
    problems = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 300];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            int r = check_partition(path, names[i], verbose);
            if (r >= 0) {
                parts++;
                problems += r;
            }
        }
        kp_free(names[i]);
    }
    kp_free(names);
    printf("%d partition(s), %d problem(s)\n", parts, problems);
    return problems;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: kappa log check [-v] DIR\n"
            "  DIR: a log directory (log.dirs), a partition directory, or a .log file.\n"
            "  Verifies every batch (length, magic, CRC-32C, offset order) without\n"
            "  modifying anything.  Exit 0 when all valid, 1 when not.\n");
    return 2;
}

int cli_log(int argc, char **argv)
{
    bool verbose = false;
    const char *target = NULL;
    if (argc < 1 || strcmp(argv[0], "check") != 0)
        return usage();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (argv[i][0] == '-' || target)
            return usage();
        else
            target = argv[i];
    }
    if (!target)
        return usage();

    struct stat st;
    if (stat(target, &st) != 0) {
        fprintf(stderr, "kappa log check: %s: %s\n", target, strerror(errno));
        return 2;
    }
    int problems;
    if (S_ISREG(st.st_mode)) {
        part_summary_t ps = {.first = -1, .last = -1};
        int64_t prev = -1;
        header();
        check_segment(target, &prev, &ps, true);
        problems = ps.problems;
        printf("%-32s %4d %12" PRId64 " %12" PRId64 " %10" PRId64 " %12" PRId64 " %14" PRId64
               "  %s\n", "(file)", ps.segments, ps.first, ps.last, ps.batches, ps.records,
               ps.bytes, problems ? "BAD" : "ok");
    } else {
        problems = check_dir(target, verbose);
        if (problems == -2)
            return 2;
    }
    return problems ? 1 : 0;
}

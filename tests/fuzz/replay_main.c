/*
 * replay_main.c -- runs a libFuzzer target without libFuzzer: every regular
 * file in the directory named by argv[1] is passed once to
 * LLVMFuzzerTestOneInput.  `make test` links each tests/fuzz/fuzz_*.c with
 * this file and replays its checked-in corpus, so the seeds and every crash
 * input ever added stay regression tests under any compiler and sanitizer.
 *
 * Each input is copied into a buffer of exactly its size, so ASan sees an
 * over-read as libFuzzer would.  A missing or empty directory is a failure:
 * a replay that ran nothing must not look like a pass.
 */
#include "core/kp_mem.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file into a new buffer of exactly its size.  0 or -errno. */
static int replay_read(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int err = -errno;
        fclose(f);
        return err;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = kp_malloc(n);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    if (n && fread(buf, 1, n, f) != n) {
        kp_free(buf);
        fclose(f);
        return -EIO;
    }
    fclose(f);
    *data = buf;
    *size = n;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        printf("FAIL: replay: no corpus directory given\n");
        return 1;
    }
    const char *dir = argv[1];
    DIR *d = opendir(dir);
    if (!d) {
        printf("FAIL: replay %s: %s\n", dir, strerror(errno));
        return 1;
    }
    long inputs = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        uint8_t *data = NULL;
        size_t size = 0;
        int rc = replay_read(path, &data, &size);
        if (rc) {
            printf("FAIL: replay %s: %s: %s\n", dir, e->d_name, strerror(-rc));
            closedir(d);
            return 1;
        }
        LLVMFuzzerTestOneInput(data, size);
        kp_free(data);
        inputs++;
    }
    closedir(d);
    if (inputs == 0) {
        printf("FAIL: replay %s: no inputs\n", dir);
        return 1;
    }
    printf("PASS: replay %s (%ld inputs)\n", dir, inputs);
    return 0;
}

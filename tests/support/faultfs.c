/*
 * faultfs.c -- see faultfs.h.
 *
 * Model: an inode holds the durable bytes of a file (snapshot at its last
 * sync) and the path where it currently lives.  A name holds the inode it
 * points to now (cur) and the inode it pointed to when its directory was
 * last fsynced (dur).  Power loss = every name reverts to dur, every inode
 * to its durable bytes (plus a torn prefix of its unsynced appends).
 */
#include "faultfs.h"
#include "core/kp_error.h"
#include "io/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct inode {
    uint8_t *durable;
    size_t durable_len;
    char cur_path[PATH_MAX];    /* "" once unlinked */
    struct inode *next_all;
} inode_t;

typedef struct name {
    char path[PATH_MAX];
    inode_t *cur, *dur;
    struct name *next;
} name_t;

#define MAX_FDS 65536
static struct {
    inode_t *inode;
    bool is_dir;
    char dir[PATH_MAX];
} fds[MAX_FDS];

static name_t *names;
static inode_t *inodes;
static bool installed, fsync_noop;
static long fail_from = -1, sync_count, op_seq;
static int fail_err;
static faultfs_op_fn *op_hook;
static void *op_ctx;

static void op(const char *what)
{
    long seq = op_seq++;
    if (op_hook)
        op_hook(seq, what, op_ctx);
}

static name_t *name_find(const char *path)
{
    for (name_t *n = names; n; n = n->next)
        if (strcmp(n->path, path) == 0)
            return n;
    return NULL;
}

static name_t *name_get(const char *path)
{
    name_t *n = name_find(path);
    if (n)
        return n;
    n = calloc(1, sizeof *n);
    snprintf(n->path, sizeof n->path, "%s", path);
    n->next = names;
    names = n;
    return n;
}

static inode_t *inode_new(const char *path)
{
    inode_t *i = calloc(1, sizeof *i);
    snprintf(i->cur_path, sizeof i->cur_path, "%s", path);
    i->next_all = inodes;
    inodes = i;
    return i;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    fstat(fd, &st);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *out = b;
    *len = got;
    return 0;
}

/* A file not seen before: durable as it is now. */
static inode_t *adopt(const char *path)
{
    name_t *n = name_get(path);
    if (n->cur)
        return n->cur;
    inode_t *i = inode_new(path);
    read_file(path, &i->durable, &i->durable_len);
    n->cur = n->dur = i;
    return i;
}

static void dir_of(const char *path, char *out, size_t cap)
{
    const char *s = strrchr(path, '/');
    if (!s)
        snprintf(out, cap, ".");
    else
        snprintf(out, cap, "%.*s", (int)(s - path), path);
}

static int ff_open(const char *path, int flags, int mode)
{
    if (flags & O_DIRECTORY) {
        int fd = kp_file_os_ops.open(path, flags, mode);
        if (fd >= 0 && fd < MAX_FDS) {
            fds[fd].is_dir = true;
            fds[fd].inode = NULL;
            snprintf(fds[fd].dir, sizeof fds[fd].dir, "%s", path);
        }
        return fd;
    }
    bool existed = access(path, F_OK) == 0;
    if (!existed && (flags & O_CREAT))
        op("create");
    else if (flags & O_TRUNC)
        op("truncate-open");
    inode_t *ino;
    if (existed) {
        ino = adopt(path);
    } else {
        name_t *n = name_get(path);
        ino = NULL;
        if (flags & O_CREAT) {
            ino = inode_new(path);
            n->cur = ino;      /* n->dur unchanged: not durable until dir sync */
        }
    }
    int fd = kp_file_os_ops.open(path, flags, mode);
    if (fd < 0) {
        return fd;
    }
    if (fd < MAX_FDS) {
        fds[fd].is_dir = false;
        fds[fd].inode = ino;
    }
    return fd;
}

static int ff_close(int fd)
{
    if (fd >= 0 && fd < MAX_FDS) {
        fds[fd].inode = NULL;
        fds[fd].is_dir = false;
    }
    return kp_file_os_ops.close(fd);
}

static ssize_t ff_pwrite(int fd, const void *b, size_t n, off_t off)
{
    op("write");
    return kp_file_os_ops.pwrite(fd, b, n, off);
}

static int do_sync(int fd)
{
    op("sync");
    long k = sync_count++;
    if (fail_from >= 0 && k >= fail_from)
        return -fail_err;
    if (fsync_noop)
        return 0;
    if (fd < 0 || fd >= MAX_FDS)
        return 0;
    if (fds[fd].is_dir) {
        size_t dl = strlen(fds[fd].dir);
        for (name_t *n = names; n; n = n->next) {
            char d[PATH_MAX];
            dir_of(n->path, d, sizeof d);
            if (strlen(d) == dl && strcmp(d, fds[fd].dir) == 0)
                n->dur = n->cur;
        }
        return 0;
    }
    inode_t *i = fds[fd].inode;
    if (i && i->cur_path[0]) {
        free(i->durable);
        i->durable = NULL;
        read_file(i->cur_path, &i->durable, &i->durable_len);
    }
    return 0;
}

/* The model decides durability, so the real fdatasync is skipped: crash
 * tests take thousands of images and need not wait for the disk. */
static int ff_fdatasync(int fd)
{
    return do_sync(fd);
}

static int ff_fsync(int fd)
{
    return do_sync(fd);
}

static int ff_ftruncate(int fd, off_t len)
{
    op("truncate");
    return kp_file_os_ops.ftruncate(fd, len);
}

static int ff_rename(const char *from, const char *to)
{
    op("rename");
    if (access(from, F_OK) == 0)
        adopt(from);
    if (access(to, F_OK) == 0)
        adopt(to);
    int rc = kp_file_os_ops.rename(from, to);
    if (rc)
        return rc;
    name_t *f = name_get(from), *t = name_get(to);
    if (t->cur && t->cur != f->cur)
        t->cur->cur_path[0] = '\0';
    t->cur = f->cur;
    f->cur = NULL;
    if (t->cur)
        snprintf(t->cur->cur_path, sizeof t->cur->cur_path, "%s", to);
    return 0;
}

static int ff_unlink(const char *path)
{
    op("unlink");
    if (access(path, F_OK) == 0)
        adopt(path);
    int rc = kp_file_os_ops.unlink(path);
    if (rc)
        return rc;
    name_t *n = name_get(path);
    if (n->cur)
        n->cur->cur_path[0] = '\0';
    n->cur = NULL;
    return 0;
}

static int ff_mkdir(const char *path, int mode)
{
    return kp_file_os_ops.mkdir(path, mode);
}

static ssize_t ff_pread(int fd, void *b, size_t n, off_t off)
{
    return kp_file_os_ops.pread(fd, b, n, off);
}

static const kp_file_ops_t faultfs_ops = {
    .open = ff_open, .close = ff_close, .pwrite = ff_pwrite, .pread = ff_pread,
    .fdatasync = ff_fdatasync, .fsync = ff_fsync, .ftruncate = ff_ftruncate,
    .rename = ff_rename, .unlink = ff_unlink, .mkdir = ff_mkdir,
};

void faultfs_install(void)
{
    installed = true;
    kp_file_set_ops(&faultfs_ops);
}

void faultfs_uninstall(void)
{
    kp_file_set_ops(NULL);
    while (names) {
        name_t *n = names->next;
        free(names);
        names = n;
    }
    while (inodes) {
        inode_t *i = inodes->next_all;
        free(inodes->durable);
        free(inodes);
        inodes = i;
    }
    memset(fds, 0, sizeof fds);
    installed = false;
    fsync_noop = false;
    fail_from = -1;
    sync_count = 0;
    op_seq = 0;
    op_hook = NULL;
}

void faultfs_set_fsync_noop(bool on) { fsync_noop = on; }

void faultfs_fail_fsync_from(long nth, int err)
{
    fail_from = err ? sync_count + nth : -1;
    fail_err = err;
}

void faultfs_set_op_hook(faultfs_op_fn *fn, void *ctx)
{
    op_hook = fn;
    op_ctx = ctx;
}

long faultfs_op_count(void) { return op_seq; }

/* ---- images ---- */

/* mkdir -p with the OS directly: images are not part of the modelled disk. */
static void mkdirs_plain(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

static int write_file(const char *path, const uint8_t *b, size_t n)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    mkdirs_plain(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, b + done, n - done);
        if (w <= 0) {
            close(fd);
            return -EIO;
        }
        done += (size_t)w;
    }
    close(fd);
    return 0;
}

static int copy_untracked(const char *root, const char *dest, const char *rel)
{
    char src[PATH_MAX], dst[2 * PATH_MAX + 2];
    snprintf(src, sizeof src, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(src);
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char r2[PATH_MAX], full[2 * PATH_MAX + 2];
        snprintf(r2, sizeof r2, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r2);
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            snprintf(dst, sizeof dst, "%s/%s", dest, r2);
            mkdirs_plain(dst);
            copy_untracked(root, dest, r2);
        } else if (!name_find(full)) {
            uint8_t *b;
            size_t n;
            if (read_file(full, &b, &n) == 0) {
                snprintf(dst, sizeof dst, "%s/%s", dest, r2);
                write_file(dst, b, n);
                free(b);
            }
        }
    }
    closedir(d);
    return 0;
}

int faultfs_image(const char *root, const char *dest, faultfs_tear_fn *tear, void *ctx)
{
    size_t rl = strlen(root);
    int rc = copy_untracked(root, dest, "");
    if (rc)
        return rc;
    for (name_t *n = names; n; n = n->next) {
        if (strncmp(n->path, root, rl) != 0 || n->path[rl] != '/')
            continue;
        inode_t *i = n->dur;
        if (!i)
            continue;       /* the name is not durable: gone after power loss */
        char dst[2 * PATH_MAX];
        snprintf(dst, sizeof dst, "%s%s", dest, n->path + rl);
        size_t keep = 0;
        uint8_t *live = NULL;
        size_t live_len = 0;
        if (tear && i->cur_path[0] && read_file(i->cur_path, &live, &live_len) == 0 &&
            live_len > i->durable_len &&
            (i->durable_len == 0 || memcmp(live, i->durable, i->durable_len) == 0)) {
            keep = tear(i->cur_path, i->durable_len, live_len, ctx);
            if (keep > live_len - i->durable_len)
                keep = live_len - i->durable_len;
        }
        uint8_t *img = malloc(i->durable_len + keep + 1);
        if (i->durable_len)
            memcpy(img, i->durable, i->durable_len);
        if (keep)
            memcpy(img + i->durable_len, live + i->durable_len, keep);
        rc = write_file(dst, img, i->durable_len + keep);
        free(img);
        free(live);
        if (rc)
            return rc;
    }
    return 0;
}

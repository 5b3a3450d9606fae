/*
 * file.c -- the OS file layer and the helpers built on the swappable table.
 *
 * Invariants:
 *  (1) A short or interrupted write is retried until complete or an error;
 *      callers never see a partial write reported as success.
 *  (2) kp_file_write_atomic leaves either the old or the new contents at
 *      `path` after a crash, never a mix, and the new contents are durable
 *      when it returns 0.
 */
#include "file.h"
#include "../core/kp_error.h"
#include "../core/kp_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int os_open(const char *path, int flags, int mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static int os_close(int fd)
{
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t os_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r = pwrite(fd, buf, n, off);
    return r < 0 ? -errno : r;
}

static ssize_t os_pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r = pread(fd, buf, n, off);
    return r < 0 ? -errno : r;
}

static int os_fdatasync(int fd)
{
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int os_fsync(int fd)
{
    return fsync(fd) < 0 ? -errno : 0;
}

static int os_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int os_rename(const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int os_unlink(const char *path)
{
    return unlink(path) < 0 ? -errno : 0;
}

static int os_mkdir(const char *path, int mode)
{
    return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

const kp_file_ops_t kp_file_os_ops = {
    .open = os_open,
    .close = os_close,
    .pwrite = os_pwrite,
    .pread = os_pread,
    .fdatasync = os_fdatasync,
    .fsync = os_fsync,
    .ftruncate = os_ftruncate,
    .rename = os_rename,
    .unlink = os_unlink,
    .mkdir = os_mkdir,
};

const kp_file_ops_t *kp_file_ops = &kp_file_os_ops;

void kp_file_set_ops(const kp_file_ops_t *ops)
{
    kp_file_ops = ops ? ops : &kp_file_os_ops;
}

int kp_file_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = kp_file_ops->pwrite(fd, p, n, off);
        if (w == -EINTR)
            continue;
        if (w < 0)
            return (int)w;
        if (w == 0)
            return -EIO;    /* no progress: never report a partial write */
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

ssize_t kp_file_pread_all(int fd, void *buf, size_t n, off_t off)
{
    char *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t r = kp_file_ops->pread(fd, p + done, n - done, off + (off_t)done);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return r;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int64_t kp_file_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    return st.st_size;
}

int kp_file_fsync_dir(const char *dir)
{
    int fd = kp_file_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = kp_file_fsync(fd);
    kp_file_close(fd);
    return rc;
}

static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
    } else if (slash == path) {
        snprintf(dir, cap, "/");
    } else {
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    }
}

int kp_file_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    fd = kp_file_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    rc = kp_file_pwrite_all(fd, data, len, 0);
    if (rc == 0)
        rc = kp_file_fsync(fd);
    kp_file_close(fd);
    if (rc == 0)
        rc = kp_file_rename(tmp, path);
    if (rc != 0) {
        kp_file_unlink(tmp);
        return rc;
    }
    dir_of(path, dir, sizeof dir);
    return kp_file_fsync_dir(dir);
}

int kp_file_read_whole(const char *path, size_t max_len, char **out, size_t *len)
{
    int fd = kp_file_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int64_t size = kp_file_size(fd);
    if (size < 0) {
        kp_file_close(fd);
        return (int)size;
    }
    if ((uint64_t)size > max_len) {
        kp_file_close(fd);
        return KP_ETOOLARGE;
    }
    char *buf = kp_malloc((size_t)size + 1);
    if (!buf) {
        kp_file_close(fd);
        return KP_ENOMEM;
    }
    ssize_t r = kp_file_pread_all(fd, buf, (size_t)size, 0);
    kp_file_close(fd);
    if (r < 0) {
        kp_free(buf);
        return (int)r;
    }
    buf[r] = '\0';
    *out = buf;
    if (len)
        *len = (size_t)r;
    return 0;
}

int kp_file_mkdirs(const char *path, int mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            int rc = kp_file_mkdir(buf, mode);
            if (rc == 0) {
                char parent[PATH_MAX];
                dir_of(buf, parent, sizeof parent);
                rc = kp_file_fsync_dir(parent);
                if (rc < 0)
                    return rc;
            } else if (rc != -EEXIST) {
                return rc;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

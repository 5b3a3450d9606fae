/*
 * file.h -- the file layer under the log.
 *
 * Every byte the log writes or syncs goes through the kp_file_ops table, so
 * tests can swap in a fault-injecting layer (tests/crash/faultfs.c) that
 * drops unsynced writes, tears the tail and fails fsync.  Reads that do not
 * affect durability (mmap of indexes, sendfile by the broker) may go to the
 * kernel directly.
 *
 * All functions return 0 (or a byte count / fd) on success and -errno on
 * failure; the *_all helpers retry EINTR and short transfers, so a short
 * result is never mistaken for success.
 */
#ifndef KP_FILE_H
#define KP_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct kp_file_ops {
    int (*open)(const char *path, int flags, int mode);       /* fd or -errno */
    int (*close)(int fd);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, int mode);
} kp_file_ops_t;

/* The active table.  Swap with kp_file_set_ops(); NULL restores the OS. */
extern const kp_file_ops_t *kp_file_ops;
void kp_file_set_ops(const kp_file_ops_t *ops);
extern const kp_file_ops_t kp_file_os_ops;

static inline int kp_file_open(const char *path, int flags, int mode)
{
    return kp_file_ops->open(path, flags, mode);
}
static inline int kp_file_close(int fd) { return kp_file_ops->close(fd); }
static inline int kp_file_fdatasync(int fd) { return kp_file_ops->fdatasync(fd); }
static inline int kp_file_fsync(int fd) { return kp_file_ops->fsync(fd); }
static inline int kp_file_truncate(int fd, off_t len)
{
    return kp_file_ops->ftruncate(fd, len);
}
static inline int kp_file_rename(const char *from, const char *to)
{
    return kp_file_ops->rename(from, to);
}
static inline int kp_file_unlink(const char *path)
{
    return kp_file_ops->unlink(path);
}
static inline int kp_file_mkdir(const char *path, int mode)
{
    return kp_file_ops->mkdir(path, mode);
}

/* Write/read exactly n bytes at off.  A read that hits end of file returns
 * the bytes read so far (>= 0); a write returns 0 or -errno. */
int kp_file_pwrite_all(int fd, const void *buf, size_t n, off_t off);
ssize_t kp_file_pread_all(int fd, void *buf, size_t n, off_t off);

/* Size of an open file, or -errno. */
int64_t kp_file_size(int fd);

/* fsync a directory, making creates, renames and unlinks in it durable. */
int kp_file_fsync_dir(const char *dir);

/*
 * Replace `path` atomically and durably with `len` bytes of `data`:
 * write path.tmp, fsync it, rename over path, fsync the directory.
 */
int kp_file_write_atomic(const char *path, const void *data, size_t len);

/* Read a whole (small) file into a kp_malloc'd buffer, NUL-terminated.
 * Caller frees *out.  -ENOENT if missing; KP_ETOOLARGE beyond max_len. */
int kp_file_read_whole(const char *path, size_t max_len, char **out, size_t *len);

/* mkdir -p, fsyncing each parent whose entries changed. */
int kp_file_mkdirs(const char *path, int mode);

#endif

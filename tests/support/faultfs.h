/*
 * faultfs.h -- a fault-injecting file layer for crash tests.
 *
 * Installed in place of the OS layer (kp_file_set_ops), it passes every call
 * through to the real files while remembering what would survive a power
 * loss:
 *  - a file's durable content is what it held at its last fsync/fdatasync;
 *  - a name (create, rename, unlink) is durable once its directory is
 *    fsynced.
 * faultfs_image() writes what a power loss right now would leave behind into
 * another directory, optionally keeping a torn prefix of each file's
 * unsynced appended bytes, without disturbing the live files.  A test then
 * opens the log on that image and checks what recovery makes of it.
 *
 * Directories themselves (mkdir) are treated as durable at once.  Files that
 * existed before faultfs_install() are durable as they were.
 */
#ifndef KP_FAULTFS_H
#define KP_FAULTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void faultfs_install(void);
void faultfs_uninstall(void);       /* forgets everything tracked */

/* Negative control: fsync reports success but makes nothing durable. */
void faultfs_set_fsync_noop(bool on);
/* From the nth fsync/fdatasync on (0 = the next), return -err; err 0 = off. */
void faultfs_fail_fsync_from(long nth, int err);

/* Called before each mutating operation (write, truncate, sync, rename,
 * unlink, create) with its sequence number, so a test can take an image at
 * every step of an operation. */
typedef void faultfs_op_fn(long seq, const char *what, void *ctx);
void faultfs_set_op_hook(faultfs_op_fn *fn, void *ctx);
long faultfs_op_count(void);

/*
 * How many of a file's unsynced appended bytes survive in the image.  `path`
 * is the live path, `durable` the synced length, `current` the live length
 * (only called when the live content extends the durable content).
 */
typedef size_t faultfs_tear_fn(const char *path, size_t durable, size_t current, void *ctx);

/*
 * Write the post-power-loss state of every file under `root` into `dest`
 * (which must exist and be empty), mirroring relative paths.  Files faultfs
 * never saw are copied as they are.  tear NULL drops all unsynced bytes.
 */
int faultfs_image(const char *root, const char *dest, faultfs_tear_fn *tear, void *ctx);

#endif

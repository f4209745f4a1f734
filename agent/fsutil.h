/* telemail-agent — durable file helpers (write, fsync, rename, directory fsync). */
#ifndef AG_FSUTIL_H
#define AG_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

struct tm_error;

/* mkdir -p with mode 0700 for the missing parts. */
int ag_fs_mkdirs(const char *dir, struct tm_error *err);
int ag_fs_fsync_dir(const char *dir, struct tm_error *err);
/* Write a file so that after a crash it is either the old one or the new one:
 * write "<path>.tmp", fsync, rename over path, fsync the directory. */
int ag_fs_write_atomic(const char *path, const void *data, size_t len, struct tm_error *err);
/* The same; the directory is synced only when sync_dir (without it a crash
 * may leave the old file, never a torn one). */
int ag_fs_replace(const char *path, const void *data, size_t len, bool sync_dir,
		  struct tm_error *err);
/* Create (truncate) path, write and fsync it; no rename. */
int ag_fs_write_synced(const char *path, const void *data, size_t len, struct tm_error *err);

#endif

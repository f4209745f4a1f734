/* telemail-agent — durable file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <telemail/error.h>

#include "fsutil.h"

int ag_fs_mkdirs(const char *dir, struct tm_error *err)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(tmp))
		return tm_error_set(err, "io.open", "%s: bad directory name", dir);
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return tm_error_set(err, "io.open", "%s: mkdir: %s", tmp, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return tm_error_set(err, "io.open", "%s: not a directory", dir);
	return 0;
}

int ag_fs_fsync_dir(const char *dir, struct tm_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return tm_error_set(err, "io.open", "%s: %s", dir, strerror(errno));
	int rc = 0;
	if (fsync(fd) != 0)
		rc = tm_error_set(err, "io.write", "%s: fsync: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

int ag_fs_write_synced(const char *path, const void *data, size_t len, struct tm_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return tm_error_set(err, "io.open", "%s: %s", path, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			tm_error_set(err, "io.write", "%s: %s", path, strerror(errno));
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		tm_error_set(err, "io.write", "%s: fsync: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		tm_error_set(err, "io.write", "%s: close: %s", path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}

int ag_fs_replace(const char *path, const void *data, size_t len, bool sync_dir,
		  struct tm_error *err)
{
	int rc = -1;
	char *tmp = NULL, *dcopy = NULL;
	size_t n = strlen(path) + 5;
	tmp = malloc(n);
	dcopy = strdup(path);
	if (tmp == NULL || dcopy == NULL) {
		tm_error_set(err, "internal.nomem", "%s: out of memory", path);
		goto out;
	}
	snprintf(tmp, n, "%s.tmp", path);
	if (ag_fs_write_synced(tmp, data, len, err) != 0)
		goto out;
	if (rename(tmp, path) != 0) {
		tm_error_set(err, "io.write", "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (sync_dir && ag_fs_fsync_dir(dirname(dcopy), err) != 0)
		goto out;
	rc = 0;
out:
	free(tmp);
	free(dcopy);
	return rc;
}

int ag_fs_write_atomic(const char *path, const void *data, size_t len, struct tm_error *err)
{
	return ag_fs_replace(path, data, len, true, err);
}

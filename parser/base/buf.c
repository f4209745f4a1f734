/* telemail — growable byte buffer. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>

void tm_buf_init(struct tm_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void tm_buf_fini(struct tm_buf *b)
{
	free(b->data);
	tm_buf_init(b);
}

int tm_buf_reserve(struct tm_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		return -1;
	size_t need = b->len + extra + 1; /* room for the NUL */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int tm_buf_append(struct tm_buf *b, const void *p, size_t n)
{
	if (tm_buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int tm_buf_append_str(struct tm_buf *b, const char *s)
{
	return tm_buf_append(b, s, strlen(s));
}

int tm_buf_printf(struct tm_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || tm_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void tm_buf_reset(struct tm_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

uint8_t *tm_buf_take(struct tm_buf *b, size_t *len)
{
	uint8_t *p = b->data;
	if (len)
		*len = b->len;
	tm_buf_init(b);
	return p;
}

int tm_buf_read_file(struct tm_buf *b, const char *path, size_t max, struct tm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tm_error_set(err, "io.open", "%s: %s", path, strerror(errno));
	int rc = -1;
	size_t start = b->len;
	/* straight into the buffer: the size the file says it has, and one
	 * octet more, so that the end (or growth) is seen in the same read */
	struct stat st;
	size_t want = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
			      (uint64_t)st.st_size < max ? (size_t)st.st_size + 1 : 16384;
	for (;;) {
		size_t got = b->len - start;
		if (got > max) {
			tm_error_set(err, "io.too_large", "%s: larger than %zu bytes", path, max);
			goto out;
		}
		if (want > max + 1 - got)
			want = max + 1 - got;
		if (tm_buf_reserve(b, want) < 0) {
			tm_error_set(err, "internal.nomem", "%s: out of memory", path);
			goto out;
		}
		ssize_t n = read(fd, b->data + b->len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			tm_error_set(err, "io.read", "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		want = 16384;
	}
	if (tm_buf_reserve(b, 0) < 0) {
		tm_error_set(err, "internal.nomem", "%s: out of memory", path);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		b->len = start;
	if (b->data != NULL)
		b->data[b->len] = '\0';
	close(fd);
	return rc;
}

/* telemail-mailgw — the spool's segment files: write, read, verify (see
 * spool_segment.h and spool.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <telemail/error.h>

#include "spool/spool_segment.h"

#define READ_CHUNK 65536

/* CRC-32 (reflected polynomial 0xEDB88320, as zlib's), eight octets at a
 * time ("slicing by 8"): tab[k][b] is the CRC of octet b followed by k zero
 * octets. Every message is summed when written and again when read, so the
 * four-bits-at-a-time loop it replaces was a visible share of the spool
 * thread. */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
		crc_tab[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			crc_tab[k][b] = (crc_tab[k - 1][b] >> 8) ^ crc_tab[0][crc_tab[k - 1][b] & 0xff];
}

uint32_t gw_seg_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; n >= 8; p += 8, n -= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^ crc_tab[3][p[4]] ^
		      crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
	}
	while (n-- > 0)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ---- the frame head: little-endian ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*   0 len   4 crc of the message   8 received_at (int64)   16 index   20 crc of octets 0-19 */
static void head_encode(uint8_t h[GW_SEG_HEAD], uint32_t len, uint32_t crc, int64_t at, uint32_t idx)
{
	put32(h, len);
	put32(h + 4, crc);
	put32(h + 8, (uint32_t)(uint64_t)at);
	put32(h + 12, (uint32_t)((uint64_t)at >> 32));
	put32(h + 16, idx);
	put32(h + 20, gw_seg_crc32(0, h, 20));
}

/* The end head after frame n-1: the length says end, the count stands
 * where a frame's CRC would. */
static void end_encode(uint8_t h[GW_SEG_HEAD], uint32_t n)
{
	head_encode(h, GW_SEG_END_LEN, n, 0, n);
}

enum head_kind { HEAD_BAD, HEAD_FRAME, HEAD_END };

/* The head expected as number idx of its segment: frame idx, or the end. */
static enum head_kind head_decode(const uint8_t h[GW_SEG_HEAD], uint32_t idx,
				  struct gw_seg_frame *f)
{
	if (get32(h + 20) != gw_seg_crc32(0, h, 20) || get32(h + 16) != idx)
		return HEAD_BAD;
	if (get32(h) == GW_SEG_END_LEN)
		return get32(h + 4) == idx && get32(h + 8) == 0 && get32(h + 12) == 0 ? HEAD_END
										      : HEAD_BAD;
	if (idx >= GW_SPOOL_MAX_BATCH || get32(h) > GW_SPOOL_MAX_MESSAGE)
		return HEAD_BAD;
	f->len = get32(h);
	f->crc = get32(h + 4);
	f->received_at = (int64_t)((uint64_t)get32(h + 8) | (uint64_t)get32(h + 12) << 32);
	return HEAD_FRAME;
}

/* ---- writing ---- */

static void set_errno_error(struct tm_error *err, int e, const char *what, const char *name)
{
	tm_error_set(err, (e == ENOSPC || e == EDQUOT) ? "spool.no_space" : "spool.io",
		     "spool %s %s: %s", what, name, strerror(e));
}

static int fault(const struct gw_seg_dirs *d, enum gw_spool_op op)
{
	return d->fault != NULL ? d->fault(d->fault_ctx, op) : 0;
}

/* pwritev from `off` until all is written (IOV_MAX vectors at a time,
 * partial writes). */
static int pwritev_all(int fd, struct iovec *iov, size_t cnt, uint64_t off)
{
	for (;;) {
		while (cnt > 0 && iov->iov_len == 0) {
			iov++;
			cnt--;
		}
		if (cnt == 0)
			return 0;
		ssize_t w = pwritev(fd, iov, (int)(cnt < IOV_MAX ? cnt : IOV_MAX), (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		off += (uint64_t)w;
		size_t left = (size_t)w;
		while (left > 0) {
			if (left >= iov->iov_len) {
				left -= iov->iov_len;
				iov++;
				cnt--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + left;
				iov->iov_len -= left;
				left = 0;
			}
		}
	}
}

/* Zeros over [off, end) of fd: 0, or -1 with errno. */
static int zero_range(int fd, uint64_t off, uint64_t end)
{
	static const uint8_t zeros[65536];
	while (off < end) {
		size_t k = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
		struct iovec v = { .iov_base = (void *)zeros, .iov_len = k };
		if (pwritev_all(fd, &v, 1, off) < 0)
			return -1;
		off += k;
	}
	return 0;
}

/* ---- the pool of free segment files ---- */

static int cmp_ino(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;
	return x < y ? -1 : x > y;
}

/* The inodes of the files of new/, sorted: 0, or -1 with errno. */
static int new_inodes(int new_fd, ino_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int dfd = openat(new_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (dir == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(new_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			ino_t *v = realloc(*out, cap * sizeof(*v));
			if (v == NULL) {
				closedir(dir);
				free(*out);
				*out = NULL;
				errno = ENOMEM;
				return -1;
			}
			*out = v;
		}
		(*out)[(*n)++] = st.st_ino;
	}
	closedir(dir);
	if (*n > 0)
		qsort(*out, *n, sizeof(**out), cmp_ino);
	return 0;
}

/* A file of free/ can also be a segment of new/: on a file system without a
 * journal, a crash can keep the free/ entry of a file whose move from free/
 * was not flushed (only new/ is), while its new/ entry was. Written again,
 * it would overwrite an acknowledged segment: such an entry is removed, the
 * segment kept. */
int gw_seg_pool_open(struct gw_seg_dirs *d, struct tm_error *err)
{
	struct gw_seg_pool *p = calloc(1, sizeof(*p));
	int dfd = dup(d->free_fd);
	DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	ino_t *in_new = NULL;
	size_t n_new = 0;
	if (p == NULL || dir == NULL || new_inodes(d->new_fd, &in_new, &n_new) < 0) {
		int e = p == NULL ? ENOMEM : errno;
		if (dir != NULL)
			closedir(dir);
		else if (dfd >= 0)
			close(dfd);
		free(p);
		return tm_error_set(err, "spool.io", "spool free/: %s", strerror(e));
	}
	pthread_mutex_init(&p->mu, NULL);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		bool linked = fstatat(d->free_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			      n_new > 0 && bsearch(&st.st_ino, in_new, n_new, sizeof(*in_new), cmp_ino);
		if (!linked && p->n < GW_SEG_POOL_MAX && strlen(de->d_name) <= NAME_MAX)
			snprintf(p->names[p->n++], sizeof(p->names[0]), "%s", de->d_name);
		else
			unlinkat(d->free_fd, de->d_name, 0);
	}
	closedir(dir);
	free(in_new);
	d->pool = p;
	return 0;
}

void gw_seg_pool_close(struct gw_seg_dirs *d)
{
	if (d->pool != NULL) {
		pthread_mutex_destroy(&d->pool->mu);
		free(d->pool);
		d->pool = NULL;
	}
}

int gw_seg_retire(const struct gw_seg_dirs *d, const char *name)
{
	struct gw_seg_pool *p = d->pool;
	struct stat st;
	if (p != NULL && fstatat(d->new_fd, name, &st, 0) == 0 &&
	    (uint64_t)st.st_size <= GW_SEG_POOL_FILE_MAX) {
		pthread_mutex_lock(&p->mu);
		bool room = p->n < GW_SEG_POOL_MAX &&
			    renameat(d->new_fd, name, d->free_fd, name) == 0;
		if (room)
			snprintf(p->names[p->n++], sizeof(p->names[0]), "%s", name);
		pthread_mutex_unlock(&p->mu);
		if (room)
			return 0;
	}
	return unlinkat(d->new_fd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
}

/* A pooled file, open for writing over its old octets from the first one;
 * `file` is its name in free/, where it is written and from where it is
 * renamed into new/. -1 when the pool is empty (or the file is gone). */
static int take_pooled(const struct gw_seg_dirs *d, char file[NAME_MAX + 1])
{
	struct gw_seg_pool *p = d->pool;
	if (p == NULL)
		return -1;
	pthread_mutex_lock(&p->mu);
	bool have = p->n > 0;
	if (have)
		snprintf(file, NAME_MAX + 1, "%s", p->names[--p->n]);
	pthread_mutex_unlock(&p->mu);
	if (!have)
		return -1;
	int fd = openat(d->free_fd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		unlinkat(d->free_fd, file, 0);
	return fd;
}

/* A file being written before it is named new/<name>: a pooled one of
 * free/ (written over where it lies) or a new tmp/<name>. */
struct target {
	int fd, dir;
	char file[NAME_MAX + 1];
};

static int target_open(const struct gw_seg_dirs *d, const char *name, struct target *t,
		       struct tm_error *err)
{
	t->fd = take_pooled(d, t->file);
	t->dir = d->free_fd;
	if (t->fd < 0) {
		t->dir = d->tmp_fd;
		snprintf(t->file, sizeof(t->file), "%s", name);
		t->fd = openat(d->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (t->fd >= 0)
		return 0;
	set_errno_error(err, errno, "create", name);
	return -1;
}

/* Written: gone again, nothing left behind. */
static void target_drop(struct target *t)
{
	close(t->fd);
	t->fd = -1;
	unlinkat(t->dir, t->file, 0);
}

/* What was written into t becomes durable as new/<name>: fdatasync (its
 * octets, and its size and block map where they changed), rename into new/,
 * fsync new/ (the rename). The file stays open; on failure it is closed and
 * removed (from new/ too when only the directory flush failed). */
static int target_publish(const struct gw_seg_dirs *d, struct target *t, const char *name,
			  struct tm_error *err)
{
	int e = fault(d, GW_SPOOL_OP_SYNC);
	if (e == 0 && fdatasync(t->fd) != 0)
		e = errno;
	if (e != 0) {
		set_errno_error(err, e, "sync", name);
		target_drop(t);
		return -1;
	}
	e = fault(d, GW_SPOOL_OP_RENAME);
	if (e == 0 && renameat(t->dir, t->file, d->new_fd, name) != 0)
		e = errno;
	if (e != 0) {
		set_errno_error(err, e, "rename", name);
		target_drop(t);
		return -1;
	}
	e = fault(d, GW_SPOOL_OP_DIRSYNC);
	if (e == 0 && fsync(d->new_fd) != 0)
		e = errno;
	if (e != 0) {
		set_errno_error(err, e, "directory sync for", name);
		t->dir = d->new_fd;
		snprintf(t->file, sizeof(t->file), "%s", name);
		target_drop(t);
		return -1;
	}
	return 0;
}

/* The heads and vectors of a round: frame heads numbered from `first`,
 * starting at file offset `off`, then the end head. heads holds n + 1
 * heads, iov 2n + 1 vectors; frames[i] says where message i goes. */
static uint64_t round_layout(const struct gw_seg_msg *m, size_t n, uint32_t first, uint64_t off,
			     uint8_t *heads, struct iovec *iov, struct gw_seg_frame *frames)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *h = heads + i * GW_SEG_HEAD;
		frames[i] = (struct gw_seg_frame){ .off = off + GW_SEG_HEAD, .len = m[i].len,
						   .crc = gw_seg_crc32(0, m[i].data, m[i].len),
						   .received_at = m[i].received_at };
		head_encode(h, (uint32_t)m[i].len, frames[i].crc, m[i].received_at,
			    first + (uint32_t)i);
		iov[2 * i] = (struct iovec){ .iov_base = h, .iov_len = GW_SEG_HEAD };
		iov[2 * i + 1] = (struct iovec){ .iov_base = (void *)m[i].data, .iov_len = m[i].len };
		off += GW_SEG_HEAD + m[i].len;
	}
	end_encode(heads + n * GW_SEG_HEAD, first + (uint32_t)n);
	iov[2 * n] = (struct iovec){ .iov_base = heads + n * GW_SEG_HEAD, .iov_len = GW_SEG_HEAD };
	return off + GW_SEG_HEAD;
}

int gw_seg_commit(const struct gw_seg_dirs *d, const char *name, const struct gw_seg_msg *m,
		  size_t n, struct gw_seg_frame *frames, struct tm_error *err)
{
	uint8_t *heads = malloc((n + 1) * GW_SEG_HEAD);
	struct iovec *iov = malloc((2 * n + 2) * sizeof(*iov));
	struct target t;
	int rc = -1;
	if (heads == NULL || iov == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	iov[0] = (struct iovec){ .iov_base = (void *)GW_SEG_MAGIC, .iov_len = GW_SEG_MAGIC_LEN };
	round_layout(m, n, 0, GW_SEG_MAGIC_LEN, heads, iov + 1, frames);
	if (target_open(d, name, &t, err) < 0)
		goto out;
	int e = fault(d, GW_SPOOL_OP_WRITE);
	if (e == 0 && pwritev_all(t.fd, iov, 2 * n + 2, 0) < 0)
		e = errno;
	if (e != 0) {
		set_errno_error(err, e, "write", name);
		target_drop(&t);
		goto out;
	}
	if (target_publish(d, &t, name, err) < 0)
		goto out;
	close(t.fd); /* its octets are flushed: nothing left for close to report */
	rc = 0;
out:
	free(heads);
	free(iov);
	return rc;
}

/* ---- log files ---- */

int gw_seg_log_arm(const struct gw_seg_dirs *d, const char *name, uint64_t cap,
		   struct gw_seg_log *lg, struct tm_error *err)
{
	lg->fd = -1;
	struct target t;
	if (cap < GW_SEG_MAGIC_LEN + 2 * GW_SEG_HEAD)
		return tm_error_set(err, "spool.io", "spool log file of %llu octets: too small",
				    (unsigned long long)cap);
	if (target_open(d, name, &t, err) < 0)
		return -1;
	/* a pooled file's old rounds are zeroed: never read as this file's */
	struct iovec v = { .iov_base = (void *)GW_SEG_MAGIC2, .iov_len = GW_SEG_MAGIC_LEN };
	struct stat st;
	int e = fault(d, GW_SPOOL_OP_WRITE);
	if (e == 0 && (pwritev_all(t.fd, &v, 1, 0) < 0 || zero_range(t.fd, GW_SEG_MAGIC_LEN, cap) < 0 ||
		       fstat(t.fd, &st) != 0 ||
		       ((uint64_t)st.st_size > cap && ftruncate(t.fd, (off_t)cap) != 0)))
		e = errno;
	if (e != 0) {
		set_errno_error(err, e, "write", name);
		target_drop(&t);
		return -1;
	}
	if (target_publish(d, &t, name, err) < 0)
		return -1;
	*lg = (struct gw_seg_log){ .fd = t.fd, .off = GW_SEG_MAGIC_LEN, .cap = cap };
	snprintf(lg->name, sizeof(lg->name), "%s", name);
	return 0;
}

bool gw_seg_log_fits(const struct gw_seg_log *lg, size_t n, uint64_t bytes)
{
	return lg->fd >= 0 && n <= GW_SPOOL_MAX_BATCH - lg->frames &&
	       bytes <= lg->cap - lg->off &&
	       (n + 1) * (uint64_t)GW_SEG_HEAD <= lg->cap - lg->off - bytes;
}

int gw_seg_log_append(const struct gw_seg_dirs *d, struct gw_seg_log *lg,
		      const struct gw_seg_msg *m, size_t n, struct gw_seg_frame *frames,
		      struct tm_error *err)
{
	uint8_t *heads = malloc((n + 1) * GW_SEG_HEAD);
	struct iovec *iov = malloc((2 * n + 1) * sizeof(*iov));
	int rc = -1;
	if (heads == NULL || iov == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	uint64_t end = round_layout(m, n, lg->frames, lg->off, heads, iov, frames);
	int e = fault(d, GW_SPOOL_OP_WRITE);
	if (e == 0 && pwritev_all(lg->fd, iov, 2 * n + 1, lg->off) < 0)
		e = errno;
	if (e != 0) {
		set_errno_error(err, e, "write", lg->name);
	} else {
		e = fault(d, GW_SPOOL_OP_SYNC);
		if (e == 0 && fdatasync(lg->fd) != 0)
			e = errno;
		if (e != 0)
			set_errno_error(err, e, "sync", lg->name);
	}
	struct stat st;
	if (e == 0 && fstat(lg->fd, &st) == 0 && st.st_nlink == 0) {
		/* removed from new/ (by hand): durable, but where no start finds it */
		e = ENOENT;
		tm_error_set(err, "spool.io", "spool log file %s was removed from new/", lg->name);
	}
	if (e != 0) {
		/* not acknowledged: as far as the disk lets, the file ends where it
		 * did; it takes no more rounds */
		if (zero_range(lg->fd, lg->off, end) == 0)
			(void)fdatasync(lg->fd);
		gw_seg_log_close(lg);
		goto out;
	}
	lg->off = end;
	lg->frames += (uint32_t)n;
	rc = 0;
out:
	free(heads);
	free(iov);
	return rc;
}

void gw_seg_log_close(struct gw_seg_log *lg)
{
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
}

/* ---- reading ---- */

/* 0: all read; -1: an error (errno); 1: the file ends before. */
static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
		got += (size_t)r;
	}
	return 0;
}

static bool data_crc_ok(int fd, const struct gw_seg_frame *f, uint8_t *buf)
{
	uint32_t crc = 0;
	for (uint64_t done = 0; done < f->len;) {
		size_t k = f->len - done < READ_CHUNK ? (size_t)(f->len - done) : READ_CHUNK;
		if (pread_all(fd, buf, k, f->off + done) != 0)
			return false;
		crc = gw_seg_crc32(crc, buf, k);
		done += k;
	}
	return crc == f->crc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int gw_seg_load(int fd, uint64_t size, bool verify, struct gw_seg_frame **frames, size_t *n,
		uint64_t *bytes, struct tm_error *err)
{
	*n = 0;
	*bytes = 0;
	if (frames != NULL)
		*frames = NULL;
	char magic[GW_SEG_MAGIC_LEN];
	int r = size < GW_SEG_MAGIC_LEN ? 1 : pread_all(fd, (uint8_t *)magic, sizeof(magic), 0);
	if (r < 0)
		return GW_SEG_DAMAGED; /* unreadable: never taken for a message */
	bool log = r == 0 && memcmp(magic, GW_SEG_MAGIC2, GW_SEG_MAGIC_LEN) == 0;
	if (!log && (r > 0 || memcmp(magic, GW_SEG_MAGIC, GW_SEG_MAGIC_LEN) != 0))
		return GW_SEG_RAW;
	uint8_t *buf = verify ? malloc(READ_CHUNK) : NULL;
	if (verify && buf == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	struct gw_seg_frame *arr = NULL;
	size_t cap = 0;
	bool damaged = false;
	/* a log file: what the last end head closed (frames after it are a
	 * round that was never acknowledged) */
	size_t closed_n = 0;
	uint64_t closed_bytes = 0;
	uint64_t off = GW_SEG_MAGIC_LEN;
	for (uint32_t idx = 0; off < size;) {
		uint8_t h[GW_SEG_HEAD];
		struct gw_seg_frame f;
		enum head_kind k = HEAD_BAD;
		bool got = size - off >= GW_SEG_HEAD && pread_all(fd, h, sizeof(h), off) == 0;
		if (got)
			k = head_decode(h, idx, &f);
		if (k == HEAD_END && !log)
			break; /* the rest is an earlier round's */
		if (k == HEAD_END) {
			closed_n = *n;
			closed_bytes = *bytes;
			off += GW_SEG_HEAD;
			continue; /* the next round's frames are numbered on */
		}
		if (log && got && k == HEAD_BAD && all_zero(h, sizeof(h)))
			break; /* never written: the end of a log file */
		if (log && !got && size - off < GW_SEG_HEAD &&
		    pread_all(fd, h, (size_t)(size - off), off) == 0 && all_zero(h, (size_t)(size - off)))
			break; /* a full log file: too few zeros left for a frame */
		if (k == HEAD_BAD || f.len > size - off - GW_SEG_HEAD) {
			damaged = true; /* where the next frame is, is not known */
			break;
		}
		idx++;
		f.off = off + GW_SEG_HEAD;
		off = f.off + f.len;
		if (verify && !data_crc_ok(fd, &f, buf)) {
			damaged = true; /* its head is sound: the next one is found */
			continue;
		}
		if (frames != NULL && *n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct gw_seg_frame *a = realloc(arr, nc * sizeof(*a));
			if (a == NULL) {
				free(arr);
				free(buf);
				*n = 0;
				*bytes = 0;
				return tm_error_set(err, "internal.nomem", "out of memory");
			}
			arr = a;
			cap = nc;
		}
		if (frames != NULL)
			arr[*n] = f;
		(*n)++;
		*bytes += f.len;
	}
	free(buf);
	if (log) {
		if (*n > closed_n)
			damaged = true; /* a round cut short: its frames do not count */
		*n = closed_n;
		*bytes = closed_bytes;
	}
	if (frames != NULL)
		*frames = arr;
	else
		free(arr);
	if (log && !damaged && *n == 0)
		return GW_SEG_EMPTY;
	return damaged || *n == 0 ? GW_SEG_DAMAGED : GW_SEG_WHOLE;
}

int gw_seg_read(int fd, const struct gw_seg_frame *f, bool check, const char *qid,
		uint8_t **data, struct tm_error *err)
{
	*data = NULL;
	if (f->len > GW_SPOOL_MAX_MESSAGE)
		return tm_error_set(err, "io.read", "spool %s: larger than %u octets", qid,
				    GW_SPOOL_MAX_MESSAGE);
	uint8_t *p = malloc(f->len > 0 ? (size_t)f->len : 1);
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	int r = pread_all(fd, p, (size_t)f->len, f->off);
	if (r != 0) {
		const char *why = r < 0 ? strerror(errno) : "the file ends before its last octet";
		free(p);
		return tm_error_set(err, "io.read", "spool %s: %s (%llu octets at offset %llu)", qid,
				    why, (unsigned long long)f->len, (unsigned long long)f->off);
	}
	if (check && gw_seg_crc32(0, p, (size_t)f->len) != f->crc) {
		free(p);
		return tm_error_set(err, "io.read", "spool %s: checksum mismatch in the %llu octets at "
				    "offset %llu", qid, (unsigned long long)f->len,
				    (unsigned long long)f->off);
	}
	*data = p;
	return 0;
}

/* ---- a damaged segment ---- */

int gw_seg_rescue(const struct gw_seg_dirs *d, const char *spool_dir, int fd, const char *name,
		  const struct gw_seg_frame *fr, size_t n, const char *new_name,
		  struct gw_seg_frame *new_frames, struct tm_error *err)
{
	struct gw_seg_msg *m = calloc(n ? n : 1, sizeof(*m));
	int rc = -1, dfd = -1, top = -1;
	char path[4096];
	if (m == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t *data;
		if (gw_seg_read(fd, &fr[i], true, name, &data, err) < 0)
			goto out;
		m[i] = (struct gw_seg_msg){ data, (size_t)fr[i].len, fr[i].received_at };
	}
	if (n > 0 && gw_seg_commit(d, new_name, m, n, new_frames, err) < 0)
		goto out;
	/* damaged/ (and its entry in the spool directory), then the move */
	snprintf(path, sizeof(path), "%s/damaged", spool_dir);
	if ((mkdir(path, 0700) != 0 && errno != EEXIST) ||
	    (dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (top = open(spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(top) != 0 ||
	    renameat(d->new_fd, name, dfd, name) != 0 || fsync(dfd) != 0 || fsync(d->new_fd) != 0) {
		tm_error_set(err, "spool.io", "spool move %s to %s: %s", name, path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; m != NULL && i < n; i++)
		free((void *)m[i].data);
	free(m);
	if (dfd >= 0)
		close(dfd);
	if (top >= 0)
		close(top);
	return rc;
}

/* ---- the `status` command: count without opening ---- */

static int count_dir(const char *path, bool frames, uint64_t *n, uint64_t *bytes,
		     struct tm_error *err)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : tm_error_set(err, "io.open", "%s: %s", path, strerror(errno));
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!frames) {
			(*n)++;
			continue;
		}
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* removed meanwhile */
		size_t k;
		uint64_t b;
		int kind = gw_seg_load(fd, (uint64_t)st.st_size, false, NULL, &k, &b, err);
		close(fd);
		if (kind < 0) {
			rc = -1;
		} else if (kind == GW_SEG_RAW) {
			(*n)++;
			*bytes += (uint64_t)st.st_size;
		} else {
			*n += k;
			*bytes += b;
		}
	}
	closedir(d);
	return rc;
}

int gw_spool_scan(const char *dir, uint64_t *messages, uint64_t *bytes, uint64_t *incomplete,
		  struct tm_error *err)
{
	char path[4096];
	*messages = *bytes = *incomplete = 0;
	snprintf(path, sizeof(path), "%s/new", dir);
	if (count_dir(path, true, messages, bytes, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", dir);
	return count_dir(path, false, incomplete, NULL, err);
}

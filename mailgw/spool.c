/* telemail-mailgw — the durable spool with group commit (see spool.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "spool.h"

#define RETRY_MAX 3600

/* A submit on its way to durability. */
struct pending {
	struct pending *next;
	const uint8_t *data;
	size_t len;
	gw_spool_done_cb cb;
	void *ctx;
	char qid[GW_SPOOL_QID_MAX];
	int fd;
	bool created, renamed;
	struct tm_error err;
};

/* A durable message known to the queue. */
struct entry {
	struct entry *next, *prev;
	char qid[GW_SPOOL_QID_MAX];
	uint64_t size;
	int64_t not_before;
	unsigned attempts;
};

struct list {
	struct entry *head, *tail;
	size_t n;
};

struct gw_spool {
	struct gw_spool_options o;
	char *dir;
	int tmp_fd, new_fd;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;   /* the spool thread waits for submits */
	pthread_cond_t ready_cv;  /* consumers wait for queued messages */
	struct pending *pend_head, *pend_tail;
	struct list ready, delayed, taken;
	bool closing, consumers_stopped;
	uint32_t counter;
	struct gw_spool_stats st;
};

static void list_push(struct list *l, struct entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->n++;
}

static void list_remove(struct list *l, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	l->n--;
	e->next = e->prev = NULL;
}

static struct entry *list_find(struct list *l, const char *qid)
{
	for (struct entry *e = l->head; e != NULL; e = e->next)
		if (strcmp(e->qid, qid) == 0)
			return e;
	return NULL;
}

static void list_free(struct list *l)
{
	struct entry *e = l->head;
	while (e != NULL) {
		struct entry *n = e->next;
		free(e);
		e = n;
	}
	memset(l, 0, sizeof(*l));
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int fault(struct gw_spool *sp, enum gw_spool_op op)
{
	return sp->o.fault != NULL ? sp->o.fault(sp->o.fault_ctx, op) : 0;
}

static void set_errno_error(struct tm_error *err, int e, const char *what, const char *qid)
{
	tm_error_set(err, (e == ENOSPC || e == EDQUOT) ? "spool.no_space" : "spool.io",
		     "spool %s %s: %s", what, qid, strerror(e));
}

/* ---- open / close ---- */

static int open_dir(const char *dir, const char *sub, int *fd, struct tm_error *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return tm_error_set(err, "spool.io", "%s: %s", path, strerror(errno));
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return tm_error_set(err, "spool.io", "%s: %s", path, strerror(errno));
	return 0;
}

static bool spool_name(const char *n)
{
	return n[0] != '.' && strlen(n) < GW_SPOOL_QID_MAX;
}

static int discard_tmp(struct gw_spool *sp, struct tm_error *err)
{
	int fd = dup(sp->tmp_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return tm_error_set(err, "spool.io", "%s/tmp: %s", sp->dir, strerror(errno));
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(sp->tmp_fd, de->d_name, 0) == 0)
			sp->st.discarded++;
	}
	closedir(d);
	return 0;
}

static int queue_existing(struct gw_spool *sp, struct tm_error *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/new", sp->dir);
	struct dirent **names = NULL;
	int k = scandir(path, &names, NULL, alphasort);
	if (k < 0)
		return tm_error_set(err, "spool.io", "%s: %s", path, strerror(errno));
	int rc = 0;
	for (int i = 0; i < k; i++) {
		struct stat st;
		if (rc == 0 && spool_name(names[i]->d_name) &&
		    fstatat(sp->new_fd, names[i]->d_name, &st, 0) == 0 && S_ISREG(st.st_mode)) {
			struct entry *e = calloc(1, sizeof(*e));
			if (e == NULL) {
				rc = tm_error_set(err, "internal.nomem", "out of memory");
			} else {
				memcpy(e->qid, names[i]->d_name, strlen(names[i]->d_name) + 1);
				e->size = (uint64_t)st.st_size;
				list_push(&sp->ready, e);
				sp->st.messages++;
				sp->st.bytes += e->size;
				sp->st.recovered++;
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static void *spool_thread(void *arg);

int gw_spool_open(const struct gw_spool_options *o, struct gw_spool **out, struct tm_error *err)
{
	*out = NULL;
	struct gw_spool *sp = calloc(1, sizeof(*sp));
	if (sp == NULL || (sp->dir = strdup(o->dir)) == NULL) {
		free(sp);
		return tm_error_set(err, "internal.nomem", "out of memory");
	}
	sp->o = *o;
	sp->o.dir = sp->dir;
	if (sp->o.max_batch == 0 || sp->o.max_batch > GW_SPOOL_MAX_BATCH)
		sp->o.max_batch = 256;
	if (sp->o.retry_base <= 0)
		sp->o.retry_base = 5;
	sp->tmp_fd = sp->new_fd = -1;
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->work_cv, NULL);
	pthread_cond_init(&sp->ready_cv, NULL);
	if (mkdir(sp->dir, 0700) != 0 && errno != EEXIST) {
		tm_error_set(err, "spool.io", "%s: %s", sp->dir, strerror(errno));
		goto fail;
	}
	if (open_dir(sp->dir, "tmp", &sp->tmp_fd, err) < 0 ||
	    open_dir(sp->dir, "new", &sp->new_fd, err) < 0 || discard_tmp(sp, err) < 0 ||
	    queue_existing(sp, err) < 0)
		goto fail;
	sp->st.queued = sp->ready.n;
	if (pthread_create(&sp->thread, NULL, spool_thread, sp) != 0) {
		tm_error_set(err, "internal.library", "cannot start the spool thread");
		goto fail;
	}
	sp->thread_started = true;
	*out = sp;
	return 0;
fail:
	gw_spool_close(sp);
	return -1;
}

void gw_spool_close(struct gw_spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->closing = true;
	sp->consumers_stopped = true;
	pthread_cond_broadcast(&sp->work_cv);
	pthread_cond_broadcast(&sp->ready_cv);
	pthread_mutex_unlock(&sp->mu);
	if (sp->thread_started)
		pthread_join(sp->thread, NULL);
	list_free(&sp->ready);
	list_free(&sp->delayed);
	list_free(&sp->taken);
	if (sp->tmp_fd >= 0)
		close(sp->tmp_fd);
	if (sp->new_fd >= 0)
		close(sp->new_fd);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->work_cv);
	pthread_cond_destroy(&sp->ready_cv);
	free(sp->dir);
	free(sp);
}

/* ---- producers ---- */

int gw_spool_submit(struct gw_spool *sp, const uint8_t *data, size_t len, gw_spool_done_cb cb,
		    void *ctx, struct tm_error *err)
{
	if (len > GW_SPOOL_MAX_MESSAGE)
		return tm_error_set(err, "spool.full", "a message of %zu octets is larger than the "
				    "spool's limit of %u", len, GW_SPOOL_MAX_MESSAGE);
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	p->data = data;
	p->len = len;
	p->cb = cb;
	p->ctx = ctx;
	p->fd = -1;
	pthread_mutex_lock(&sp->mu);
	int rc = 0;
	if (sp->closing) {
		rc = tm_error_set(err, "spool.io", "the spool is closing");
	} else if (sp->o.quota_messages && sp->st.messages + 1 > sp->o.quota_messages) {
		rc = tm_error_set(err, "spool.full", "the spool holds %" PRIu64 " messages (quota %"
				  PRIu64 "); try again later", sp->st.messages, sp->o.quota_messages);
	} else if (sp->o.quota_bytes && sp->st.bytes + len > sp->o.quota_bytes) {
		rc = tm_error_set(err, "spool.full", "the spool holds %" PRIu64 " octets (quota %"
				  PRIu64 "); try again later", sp->st.bytes, sp->o.quota_bytes);
	}
	if (rc < 0) {
		sp->st.failed++;
		pthread_mutex_unlock(&sp->mu);
		free(p);
		return rc;
	}
	sp->st.messages++;
	sp->st.bytes += len;
	if (sp->pend_tail != NULL)
		sp->pend_tail->next = p;
	else
		sp->pend_head = p;
	sp->pend_tail = p;
	pthread_cond_signal(&sp->work_cv);
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

struct put_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err;
};

static void put_done(void *ctx, const char *qid, const struct tm_error *err)
{
	struct put_wait *w = ctx;
	pthread_mutex_lock(&w->mu);
	if (err != NULL)
		w->err = *err;
	else
		snprintf(w->qid, sizeof(w->qid), "%s", qid);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int gw_spool_put(struct gw_spool *sp, const uint8_t *data, size_t len,
		 char qid[GW_SPOOL_QID_MAX], struct tm_error *err)
{
	struct put_wait w = { .done = false };
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	int rc = gw_spool_submit(sp, data, len, put_done, &w, err);
	if (rc == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		if (w.err.reason != NULL) {
			*err = w.err;
			rc = -1;
		} else {
			memcpy(qid, w.qid, GW_SPOOL_QID_MAX);
		}
	}
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}

/* ---- the spool thread: group commit ---- */

static void make_qid(struct gw_spool *sp, char qid[GW_SPOOL_QID_MAX])
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	snprintf(qid, GW_SPOOL_QID_MAX, "%013" PRIx64 "%05x%06x", us,
		 (unsigned)getpid() & 0xfffffu, sp->counter++ & 0xffffffu);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void write_one(struct gw_spool *sp, struct pending *p)
{
	make_qid(sp, p->qid);
	p->fd = openat(sp->tmp_fd, p->qid, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p->fd < 0) {
		set_errno_error(&p->err, errno, "create", p->qid);
		return;
	}
	p->created = true;
	int e = fault(sp, GW_SPOOL_OP_WRITE);
	if (e == 0 && write_all(p->fd, p->data, p->len) < 0)
		e = errno;
	if (e != 0)
		set_errno_error(&p->err, e, "write", p->qid);
}

static void round_commit(struct gw_spool *sp, struct pending *batch)
{
	size_t ok = 0;
	struct pending *last_ok = NULL;
	for (struct pending *p = batch; p != NULL; p = p->next) {
		write_one(sp, p);
		if (p->err.reason == NULL) {
			ok++;
			last_ok = p;
		}
	}
	/* one data flush for the whole round */
	if (ok > 0) {
		int e = fault(sp, GW_SPOOL_OP_SYNC);
		if (e == 0 && (ok == 1 ? fdatasync(last_ok->fd) : syncfs(sp->tmp_fd)) != 0)
			e = errno;
		for (struct pending *p = batch; e != 0 && p != NULL; p = p->next)
			if (p->err.reason == NULL)
				set_errno_error(&p->err, e, "sync", p->qid);
	}
	size_t renamed = 0;
	for (struct pending *p = batch; p != NULL; p = p->next) {
		if (p->fd >= 0 && close(p->fd) != 0 && p->err.reason == NULL)
			set_errno_error(&p->err, errno, "close", p->qid);
		p->fd = -1;
		if (p->err.reason != NULL)
			continue;
		int e = fault(sp, GW_SPOOL_OP_RENAME);
		if (e == 0 && renameat(sp->tmp_fd, p->qid, sp->new_fd, p->qid) != 0)
			e = errno;
		if (e != 0) {
			set_errno_error(&p->err, e, "rename", p->qid);
			continue;
		}
		p->renamed = true;
		renamed++;
	}
	/* one directory flush makes every rename of the round durable */
	if (renamed > 0) {
		int e = fault(sp, GW_SPOOL_OP_DIRSYNC);
		if (e == 0 && fsync(sp->new_fd) != 0)
			e = errno;
		for (struct pending *p = batch; e != 0 && p != NULL; p = p->next)
			if (p->renamed && p->err.reason == NULL) {
				set_errno_error(&p->err, e, "directory sync for", p->qid);
				if (unlinkat(sp->new_fd, p->qid, 0) == 0)
					p->renamed = false;
			}
	}
	for (struct pending *p = batch; p != NULL; p = p->next)
		if (p->err.reason != NULL && p->created && !p->renamed)
			unlinkat(sp->tmp_fd, p->qid, 0);

	pthread_mutex_lock(&sp->mu);
	sp->st.rounds++;
	for (struct pending *p = batch; p != NULL; p = p->next) {
		struct entry *e = NULL;
		if (p->err.reason == NULL && (e = calloc(1, sizeof(*e))) == NULL)
			tm_error_set(&p->err, "internal.nomem", "out of memory");
		if (p->err.reason != NULL) {
			sp->st.failed++;
			sp->st.messages--;
			sp->st.bytes -= p->len;
			continue;
		}
		snprintf(e->qid, sizeof(e->qid), "%s", p->qid);
		e->size = p->len;
		list_push(&sp->ready, e);
		sp->st.accepted++;
	}
	pthread_cond_broadcast(&sp->ready_cv);
	pthread_mutex_unlock(&sp->mu);

	while (batch != NULL) {
		struct pending *n = batch->next;
		if (batch->cb != NULL)
			batch->cb(batch->ctx, batch->qid, batch->err.reason != NULL ? &batch->err : NULL);
		free(batch);
		batch = n;
	}
}

static void *spool_thread(void *arg)
{
	struct gw_spool *sp = arg;
	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (sp->pend_head == NULL && !sp->closing)
			pthread_cond_wait(&sp->work_cv, &sp->mu);
		if (sp->pend_head == NULL)
			break; /* closing and nothing left */
		struct pending *batch = sp->pend_head, *p = batch;
		for (unsigned i = 1; i < sp->o.max_batch && p->next != NULL; i++)
			p = p->next;
		sp->pend_head = p->next;
		if (sp->pend_head == NULL)
			sp->pend_tail = NULL;
		p->next = NULL;
		pthread_mutex_unlock(&sp->mu);
		round_commit(sp, batch);
		pthread_mutex_lock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* ---- consumers ---- */

static int read_entry(struct gw_spool *sp, const char *qid, uint8_t **data, size_t *len,
		      int64_t *received_at, struct tm_error *err)
{
	int fd = openat(sp->new_fd, qid, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : tm_error_set(err, "io.open", "spool %s: %s", qid,
							  strerror(errno));
	struct stat st;
	struct tm_buf b;
	tm_buf_init(&b);
	int rc = 0;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > GW_SPOOL_MAX_MESSAGE) {
		rc = tm_error_set(err, "io.read", "spool %s: unreadable or larger than %u octets", qid,
				  GW_SPOOL_MAX_MESSAGE);
		goto out;
	}
	*received_at = (int64_t)st.st_mtime;
	if (tm_buf_reserve(&b, (size_t)st.st_size + 1) < 0) {
		rc = tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = tm_error_set(err, "io.read", "spool %s: %s", qid, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
		if (b.len == b.cap && tm_buf_reserve(&b, 4096) < 0) {
			rc = tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
	}
	*data = tm_buf_take(&b, len);
	if (*data == NULL && (*data = calloc(1, 1)) == NULL)
		rc = tm_error_set(err, "internal.nomem", "out of memory");
out:
	tm_buf_fini(&b);
	close(fd);
	return rc;
}

/* Move delayed entries whose time came to the ready queue; the earliest
 * time still waiting (0: none). */
static int64_t promote_delayed(struct gw_spool *sp, int64_t now)
{
	int64_t next = 0;
	struct entry *e = sp->delayed.head;
	while (e != NULL) {
		struct entry *n = e->next;
		if (e->not_before <= now) {
			list_remove(&sp->delayed, e);
			list_push(&sp->ready, e);
		} else if (next == 0 || e->not_before < next) {
			next = e->not_before;
		}
		e = n;
	}
	return next;
}

int gw_spool_take(struct gw_spool *sp, char qid[GW_SPOOL_QID_MAX], uint8_t **data,
		  size_t *len, int64_t *received_at, struct tm_error *err)
{
	*data = NULL;
	*len = 0;
	for (;;) {
		pthread_mutex_lock(&sp->mu);
		struct entry *e = NULL;
		while (!sp->consumers_stopped) {
			int64_t next = promote_delayed(sp, now_s());
			if ((e = sp->ready.head) != NULL)
				break;
			if (next == 0) {
				pthread_cond_wait(&sp->ready_cv, &sp->mu);
			} else {
				struct timespec ts = { .tv_sec = (time_t)next, .tv_nsec = 0 };
				pthread_cond_timedwait(&sp->ready_cv, &sp->mu, &ts);
			}
		}
		if (e == NULL) {
			pthread_mutex_unlock(&sp->mu);
			return 0;
		}
		list_remove(&sp->ready, e);
		list_push(&sp->taken, e);
		memcpy(qid, e->qid, GW_SPOOL_QID_MAX);
		pthread_mutex_unlock(&sp->mu);
		*received_at = now_s();
		int rc = read_entry(sp, qid, data, len, received_at, err);
		if (rc <= 0)
			return 1; /* the message, or an item whose err says why not */
		/* vanished (removed by an operator): forget it */
		pthread_mutex_lock(&sp->mu);
		if ((e = list_find(&sp->taken, qid)) != NULL) {
			list_remove(&sp->taken, e);
			sp->st.messages--;
			sp->st.bytes -= e->size;
			free(e);
		}
		pthread_mutex_unlock(&sp->mu);
	}
}

int gw_spool_done(struct gw_spool *sp, const char *qid, struct tm_error *err)
{
	int rc = 0;
	if (unlinkat(sp->new_fd, qid, 0) != 0 && errno != ENOENT)
		rc = tm_error_set(err, "spool.io", "spool remove %s: %s", qid, strerror(errno));
	pthread_mutex_lock(&sp->mu);
	struct entry *e = list_find(&sp->taken, qid);
	if (e != NULL) {
		list_remove(&sp->taken, e);
		if (rc == 0) {
			sp->st.messages--;
			sp->st.bytes -= e->size;
			free(e);
		} else { /* still there: it comes back after a while */
			e->attempts++;
			e->not_before = now_s() + RETRY_MAX;
			list_push(&sp->delayed, e);
		}
	}
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void gw_spool_retry(struct gw_spool *sp, const char *qid)
{
	pthread_mutex_lock(&sp->mu);
	struct entry *e = list_find(&sp->taken, qid);
	if (e != NULL) {
		list_remove(&sp->taken, e);
		int64_t d = sp->o.retry_base;
		for (unsigned i = 0; i < e->attempts && d < RETRY_MAX; i++)
			d *= 2;
		e->attempts++;
		e->not_before = now_s() + (d < RETRY_MAX ? d : RETRY_MAX);
		list_push(&sp->delayed, e);
		pthread_cond_broadcast(&sp->ready_cv); /* a waiter may need a shorter timeout */
	}
	pthread_mutex_unlock(&sp->mu);
}

void gw_spool_stop_consumers(struct gw_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	sp->consumers_stopped = true;
	pthread_cond_broadcast(&sp->ready_cv);
	pthread_mutex_unlock(&sp->mu);
}

void gw_spool_resume_consumers(struct gw_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	if (!sp->closing)
		sp->consumers_stopped = false;
	pthread_mutex_unlock(&sp->mu);
}

void gw_spool_stats(struct gw_spool *sp, struct gw_spool_stats *st)
{
	pthread_mutex_lock(&sp->mu);
	*st = sp->st;
	st->queued = sp->ready.n + sp->delayed.n;
	pthread_mutex_unlock(&sp->mu);
}

static int count_dir(const char *path, uint64_t *n, uint64_t *bytes, struct tm_error *err)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : tm_error_set(err, "io.open", "%s: %s", path, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		(*n)++;
		if (bytes != NULL)
			*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	return 0;
}

int gw_spool_scan(const char *dir, uint64_t *messages, uint64_t *bytes, uint64_t *incomplete,
		  struct tm_error *err)
{
	char path[4096];
	*messages = *bytes = *incomplete = 0;
	snprintf(path, sizeof(path), "%s/new", dir);
	if (count_dir(path, messages, bytes, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", dir);
	return count_dir(path, incomplete, NULL, err);
}

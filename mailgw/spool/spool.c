/* telemail-mailgw — the durable spool: the queue, opening with recovery,
 * the consumers (see spool.h; the group commit is in spool_commit.c, the
 * segment queue helpers in spool_queue.c, the segment files in
 * spool_segment.c). */
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

#include <telemail/error.h>

#include "spool/spool.h"
#include "spool/spool_private.h"
#include "spool/spool_segment.h"

#define RETRY_MAX 3600
#define INDEX_MIN 256

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

/* ---- the index of taken messages (FNV-1a, chained) ---- */

static size_t qid_slot(const struct qid_index *x, const char *qid)
{
	uint64_t h = 14695981039346656037u;
	for (const char *p = qid; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211u;
	return (size_t)(h & (x->cap - 1));
}

static void index_add(struct qid_index *x, struct entry *e)
{
	if (x->n >= x->cap) { /* grow; when that fails the chains just get longer */
		size_t nc = x->cap * 2;
		struct entry **t = calloc(nc, sizeof(*t));
		if (t != NULL) {
			struct qid_index y = { t, nc, 0 };
			for (size_t i = 0; i < x->cap; i++)
				for (struct entry *c = x->tab[i], *nx; c != NULL; c = nx) {
					nx = c->hnext;
					size_t s = qid_slot(&y, c->qid);
					c->hnext = t[s];
					t[s] = c;
				}
			free(x->tab);
			x->tab = t;
			x->cap = nc;
		}
	}
	size_t s = qid_slot(x, e->qid);
	e->hnext = x->tab[s];
	x->tab[s] = e;
	x->n++;
}

static struct entry *index_find(const struct qid_index *x, const char *qid)
{
	for (struct entry *e = x->tab[qid_slot(x, qid)]; e != NULL; e = e->hnext)
		if (strcmp(e->qid, qid) == 0)
			return e;
	return NULL;
}

static void index_remove(struct qid_index *x, struct entry *e)
{
	for (struct entry **pp = &x->tab[qid_slot(x, e->qid)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			e->hnext = NULL;
			x->n--;
			return;
		}
}

/* ---- segments ---- */

static void seg_unlink(struct gw_spool *sp, struct segment *g)
{
	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		sp->segs = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	g->next = g->prev = NULL;
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
	int fd = dup(sp->dirs.tmp_fd);
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
		if (unlinkat(sp->dirs.tmp_fd, de->d_name, 0) == 0)
			sp->st.discarded++;
	}
	closedir(d);
	return 0;
}

/* A damaged segment in new/: its valid frames are queued from a new
 * segment, the file is kept in damaged/. */
static int rescue(struct gw_spool *sp, int fd, const char *name, const struct gw_seg_frame *fr,
		  size_t n, struct tm_error *err)
{
	struct segment *g = gw_spool_seg_new(n);
	struct gw_seg_frame *nf = calloc(n ? n : 1, sizeof(*nf));
	int rc = -1;
	if (g == NULL || nf == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
	} else {
		gw_spool_seg_name(sp, g->name);
		rc = gw_seg_rescue(&sp->dirs, sp->dir, fd, name, fr, n, g->name, nf, err);
	}
	if (rc == 0 && n > 0) {
		gw_spool_seg_queue(sp, g, nf);
		sp->st.recovered += n;
		g = NULL;
	}
	if (rc == 0)
		sp->st.damaged++;
	free(g);
	free(nf);
	return rc;
}

/* One file of new/: a whole segment, a damaged one, or a raw message. */
static int queue_file(struct gw_spool *sp, const char *name, struct tm_error *err)
{
	int fd = openat(sp->dirs.new_fd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		tm_error_set(err, "spool.io", "%s/new/%s: %s", sp->dir, name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct gw_seg_frame *fr = NULL, one = { .len = (uint64_t)st.st_size,
						.received_at = (int64_t)st.st_mtime };
	size_t n = 0;
	uint64_t bytes;
	int rc = 0;
	int kind = gw_seg_load(fd, (uint64_t)st.st_size, true, &fr, &n, &bytes, err);
	/* a segment named otherwise than the spool names them (renamed by hand)
	 * cannot give its messages queue ids: set aside like a damaged one */
	if (kind == GW_SEG_DAMAGED || (kind == GW_SEG_WHOLE && strlen(name) > GW_SEG_NAME_LEN)) {
		rc = rescue(sp, fd, name, fr, n, err);
	} else if (kind == GW_SEG_EMPTY) {
		/* a log file made ready and never written: no message */
		if (gw_seg_retire(&sp->dirs, name) < 0)
			rc = tm_error_set(err, "spool.io", "%s/new/%s: %s", sp->dir, name,
					  strerror(errno));
	} else if (kind >= 0) {
		struct segment *g = gw_spool_seg_new(kind == GW_SEG_RAW ? 1 : n);
		if (g == NULL) {
			rc = tm_error_set(err, "internal.nomem", "out of memory");
		} else {
			memcpy(g->name, name, strlen(name) + 1); /* shorter: spool_name() */
			g->raw = kind == GW_SEG_RAW;
			gw_spool_seg_queue(sp, g, g->raw ? &one : fr);
			sp->st.recovered += g->n;
		}
	} else {
		rc = -1;
	}
	free(fr);
	close(fd);
	return rc;
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
		    fstatat(sp->dirs.new_fd, names[i]->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
			rc = queue_file(sp, names[i]->d_name, err);
		free(names[i]);
	}
	free(names);
	return rc;
}

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
	if (sp->o.store_probe <= 0)
		sp->o.store_probe = GW_SPOOL_STORE_PROBE;
	if (sp->o.segment_size > GW_SEG_POOL_FILE_MAX)
		sp->o.segment_size = GW_SEG_POOL_FILE_MAX;
	sp->dirs = (struct gw_seg_dirs){ .tmp_fd = -1, .new_fd = -1, .free_fd = -1, .fault = o->fault,
					 .fault_ctx = o->fault_ctx };
	sp->log.fd = -1;
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->work_cv, NULL);
	pthread_cond_init(&sp->ready_cv, NULL);
	if ((sp->taken.tab = calloc(INDEX_MIN, sizeof(*sp->taken.tab))) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto fail;
	}
	sp->taken.cap = INDEX_MIN;
	if (mkdir(sp->dir, 0700) != 0 && errno != EEXIST) {
		tm_error_set(err, "spool.io", "%s: %s", sp->dir, strerror(errno));
		goto fail;
	}
	if (open_dir(sp->dir, "tmp", &sp->dirs.tmp_fd, err) < 0 ||
	    open_dir(sp->dir, "new", &sp->dirs.new_fd, err) < 0 ||
	    open_dir(sp->dir, "free", &sp->dirs.free_fd, err) < 0 ||
	    gw_seg_pool_open(&sp->dirs, err) < 0 || discard_tmp(sp, err) < 0 ||
	    queue_existing(sp, err) < 0)
		goto fail;
	sp->st.queued = sp->ready.n;
	if (pthread_create(&sp->thread, NULL, gw_spool_thread, sp) != 0) {
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
	while (sp->segs != NULL) {
		struct segment *g = sp->segs;
		seg_unlink(sp, g);
		if (g->file != NULL && --g->file->rounds == 0)
			free(g->file); /* sealed when the spool thread ended */
		free(g);
	}
	free(sp->taken.tab);
	if (sp->dirs.tmp_fd >= 0)
		close(sp->dirs.tmp_fd);
	if (sp->dirs.new_fd >= 0)
		close(sp->dirs.new_fd);
	if (sp->dirs.free_fd >= 0)
		close(sp->dirs.free_fd);
	gw_seg_pool_close(&sp->dirs);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->work_cv);
	pthread_cond_destroy(&sp->ready_cv);
	free(sp->dir);
	free(sp);
}

/* ---- consumers ---- */

/* A message is finished with (under the lock). When it was the last of its
 * segment, the segment is unlinked and returned (the caller frees it), and
 * *file_goes says whether its file goes with it. */
static struct segment *finish_entry(struct gw_spool *sp, struct entry *e, bool *file_goes)
{
	index_remove(&sp->taken, e);
	sp->st.messages--;
	sp->st.bytes -= e->f.len;
	struct segment *g = e->seg;
	*file_goes = false;
	if (--g->left > 0)
		return NULL;
	seg_unlink(sp, g);
	*file_goes = g->file == NULL || (--g->file->rounds == 0 && g->file->sealed);
	return g;
}

/* A finished segment's memory (its log file's too when that went). */
static void seg_free(struct segment *g, bool file_gone)
{
	if (g != NULL && file_gone)
		free(g->file);
	free(g);
}

/* The bytes of a taken message: 0, 1 when its file vanished, -1 (err). */
static int read_entry(struct gw_spool *sp, const char *name, bool raw, struct gw_seg_frame *f,
		      const char *qid, uint8_t **data, struct tm_error *err)
{
	int fd = openat(sp->dirs.new_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : tm_error_set(err, "io.open", "spool %s: %s", qid,
							  strerror(errno));
	struct stat st;
	int rc;
	if (raw && fstat(fd, &st) != 0) {
		rc = tm_error_set(err, "io.read", "spool %s: %s", qid, strerror(errno));
	} else {
		if (raw) { /* read it as it is now */
			f->len = (uint64_t)st.st_size;
			f->received_at = (int64_t)st.st_mtime;
		}
		rc = gw_seg_read(fd, f, !raw, qid, data, err);
	}
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
			gw_spool_list_push(&sp->ready, e);
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
			int64_t next = promote_delayed(sp, gw_spool_now());
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
		index_add(&sp->taken, e);
		/* a taken entry keeps its segment alive: copy what the read needs */
		char name[GW_SPOOL_QID_MAX];
		memcpy(qid, e->qid, GW_SPOOL_QID_MAX);
		memcpy(name, e->seg->name, sizeof(name));
		bool raw = e->seg->raw;
		struct gw_seg_frame f = e->f;
		pthread_mutex_unlock(&sp->mu);
		int rc = read_entry(sp, name, raw, &f, qid, data, err);
		if (rc <= 0) {
			*received_at = f.received_at;
			if (rc == 0)
				*len = (size_t)f.len;
			return 1; /* the message, or an item whose err says why not */
		}
		/* vanished (removed by an operator): forget it */
		bool file_gone;
		pthread_mutex_lock(&sp->mu);
		struct segment *gone = finish_entry(sp, e, &file_gone);
		pthread_mutex_unlock(&sp->mu);
		seg_free(gone, file_gone);
	}
}

int gw_spool_done(struct gw_spool *sp, const char *qid, struct tm_error *err)
{
	bool file_goes = false;
	pthread_mutex_lock(&sp->mu);
	struct entry *e = index_find(&sp->taken, qid);
	struct segment *g = e != NULL ? finish_entry(sp, e, &file_goes) : NULL;
	pthread_mutex_unlock(&sp->mu);
	if (g == NULL || !file_goes) {
		seg_free(g, false);
		return 0; /* others of its file are still to do */
	}
	/* its last message: the file goes (outside the lock: unlink may wait) */
	if (gw_seg_retire(&sp->dirs, g->name) == 0) {
		seg_free(g, true);
		return 0;
	}
	int rc = tm_error_set(err, "spool.io", "spool remove %s: %s", g->name, strerror(errno));
	pthread_mutex_lock(&sp->mu); /* still there: this message comes back after a while */
	gw_spool_seg_link(sp, g);
	if (g->file != NULL)
		g->file->rounds++;
	g->left = 1;
	sp->st.messages++;
	sp->st.bytes += e->f.len;
	e->attempts++;
	e->not_before = gw_spool_now() + RETRY_MAX;
	gw_spool_list_push(&sp->delayed, e);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

static void retry(struct gw_spool *sp, const char *qid, bool store)
{
	pthread_mutex_lock(&sp->mu);
	struct entry *e = index_find(&sp->taken, qid);
	if (e != NULL) {
		index_remove(&sp->taken, e);
		int64_t d = sp->o.retry_base, now = gw_spool_now();
		for (unsigned i = 0; i < e->attempts && d < RETRY_MAX; i++)
			d *= 2;
		if (d > RETRY_MAX)
			d = RETRY_MAX;
		/* the store's probe: none due before then, this one is */
		if (store && sp->probe_at <= now && d > sp->o.store_probe) {
			d = sp->o.store_probe;
			sp->probe_at = now + d;
		}
		e->attempts++;
		e->not_before = now + d;
		gw_spool_list_push(&sp->delayed, e);
		pthread_cond_broadcast(&sp->ready_cv); /* a waiter may need a shorter timeout */
	}
	pthread_mutex_unlock(&sp->mu);
}

void gw_spool_retry(struct gw_spool *sp, const char *qid)
{
	retry(sp, qid, false);
}

void gw_spool_retry_store(struct gw_spool *sp, const char *qid)
{
	retry(sp, qid, true);
}

void gw_spool_retry_now(struct gw_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	int64_t now = gw_spool_now();
	/* and their backoffs start over: their failures were the store's, and
	 * a store that went up and down (a failover, connections cut) would
	 * otherwise leave a message retried at each recovery waiting minutes
	 * after the last one, with nothing left to commit and end the wait */
	for (struct entry *e = sp->delayed.head; e != NULL; e = e->next)
		if (e->not_before > now) {
			e->not_before = now;
			e->attempts = 0;
		}
	sp->probe_at = 0;
	pthread_cond_broadcast(&sp->ready_cv);
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

/* telemail-mailgw — the durable spool with group commit (see spool.h; the
 * segment file format is in spool_segment.c). */
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

#include "spool.h"
#include "spool_segment.h"

#define RETRY_MAX 3600
#define INDEX_MIN 256

/* A submit on its way to durability. */
struct pending {
	struct pending *next;
	const uint8_t *data;
	size_t len;
	int64_t received_at;
	gw_spool_done_cb cb;
	void *ctx;
	char qid[GW_SPOOL_QID_MAX];
};

/* A durable message known to the queue: one frame of a segment. */
struct entry {
	struct entry *next, *prev; /* in ready or delayed */
	struct entry *hnext;       /* in the index of taken messages */
	struct segment *seg;
	struct gw_seg_frame f;
	char qid[GW_SPOOL_QID_MAX];
	int64_t not_before;
	unsigned attempts;
};

/* A log file that takes rounds: it goes when it takes no more (sealed) and
 * none of its rounds is left. */
struct logfile {
	char name[GW_SPOOL_QID_MAX];
	size_t rounds;               /* rounds with messages not done yet */
	bool sealed;
};

/* A group of messages known to the queue: a file of new/ (a round file, a
 * log file found at start, a raw message) or one round of the log file
 * being written (file != NULL). It goes when its last message is done, and
 * its file with it (a log file: when that was its last round). */
struct segment {
	struct segment *next, *prev; /* every live segment */
	char name[GW_SPOOL_QID_MAX]; /* its file's name */
	bool raw;
	struct logfile *file;        /* NULL: the file is the segment's alone */
	uint32_t first;              /* the index of its first frame in the file */
	size_t n, left;              /* messages, and those not done yet */
	struct entry e[];
};

struct list {
	struct entry *head, *tail;
	size_t n;
};

/* Taken messages by queue id: gw_spool_done and gw_spool_retry find them
 * without a scan. */
struct qid_index {
	struct entry **tab;
	size_t cap, n;
};

struct gw_spool {
	struct gw_spool_options o;
	char *dir;
	struct gw_seg_dirs dirs; /* tmp/ and new/, the fault hook */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;   /* the spool thread waits for submits */
	pthread_cond_t ready_cv;  /* consumers wait for queued messages */
	struct pending *pend_head, *pend_tail;
	struct list ready, delayed;
	struct qid_index taken;
	struct segment *segs;
	gw_spool_round_fn round_fn; /* under mu */
	void *round_ctx;
	struct gw_seg_log log;   /* the spool thread's log file (segment_size > 0) */
	struct logfile *logf;    /* its queue side (under mu) */
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

static struct segment *seg_new(size_t n)
{
	struct segment *g = calloc(1, sizeof(*g) + n * sizeof(struct entry));
	if (g != NULL)
		g->n = g->left = n;
	return g;
}

static void seg_link(struct gw_spool *sp, struct segment *g)
{
	g->prev = NULL;
	g->next = sp->segs;
	if (sp->segs != NULL)
		sp->segs->prev = g;
	sp->segs = g;
}

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

/* "<segment>.<index>": 24 + 1 + at most 4 digits (GW_SPOOL_MAX_BATCH). */
_Static_assert(GW_SEG_NAME_LEN + 5 < GW_SPOOL_QID_MAX, "a queue id fits");
static void make_qid(char qid[GW_SPOOL_QID_MAX], const char *seg, size_t i)
{
	int k = snprintf(qid, GW_SPOOL_QID_MAX, "%s.%zu", seg, i);
	if (k < 0 || k >= GW_SPOOL_QID_MAX)
		abort(); /* a segment name is 24 digits, a round at most 1024 messages */
}

/* Queue the messages of a durable segment (under the lock, or at open). */
static void seg_queue(struct gw_spool *sp, struct segment *g, const struct gw_seg_frame *fr)
{
	for (size_t i = 0; i < g->n; i++) {
		struct entry *e = &g->e[i];
		e->seg = g;
		e->f = fr[i];
		if (g->raw)
			memcpy(e->qid, g->name, sizeof(e->qid));
		else
			make_qid(e->qid, g->name, g->first + i);
		list_push(&sp->ready, e);
		sp->st.messages++;
		sp->st.bytes += e->f.len;
	}
	seg_link(sp, g);
}

/* 24 hex digits: microseconds, process id, a counter. */
static void make_seg_name(struct gw_spool *sp, char name[GW_SPOOL_QID_MAX])
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	snprintf(name, GW_SPOOL_QID_MAX, "%013" PRIx64 "%05x%06x", us,
		 (unsigned)getpid() & 0xfffffu, sp->counter++ & 0xffffffu);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
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
	struct segment *g = seg_new(n);
	struct gw_seg_frame *nf = calloc(n ? n : 1, sizeof(*nf));
	int rc = -1;
	if (g == NULL || nf == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
	} else {
		make_seg_name(sp, g->name);
		rc = gw_seg_rescue(&sp->dirs, sp->dir, fd, name, fr, n, g->name, nf, err);
	}
	if (rc == 0 && n > 0) {
		seg_queue(sp, g, nf);
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
		struct segment *g = seg_new(kind == GW_SEG_RAW ? 1 : n);
		if (g == NULL) {
			rc = tm_error_set(err, "internal.nomem", "out of memory");
		} else {
			memcpy(g->name, name, strlen(name) + 1); /* shorter: spool_name() */
			g->raw = kind == GW_SEG_RAW;
			seg_queue(sp, g, g->raw ? &one : fr);
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
	p->received_at = now_s();
	p->cb = cb;
	p->ctx = ctx;
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

void gw_spool_on_round(struct gw_spool *sp, gw_spool_round_fn fn, void *ctx)
{
	pthread_mutex_lock(&sp->mu);
	sp->round_fn = fn;
	sp->round_ctx = ctx;
	pthread_mutex_unlock(&sp->mu);
}

/* ---- the spool thread: group commit ---- */

/* The log file takes no more rounds; it goes now when none of its rounds
 * is left (else with the last of them). Spool thread. */
static void log_seal(struct gw_spool *sp)
{
	gw_seg_log_close(&sp->log);
	pthread_mutex_lock(&sp->mu);
	struct logfile *f = sp->logf;
	sp->logf = NULL;
	bool goes = f != NULL && f->rounds == 0;
	if (f != NULL)
		f->sealed = true;
	pthread_mutex_unlock(&sp->mu);
	if (goes) {
		gw_seg_retire(&sp->dirs, f->name); /* when that fails: read again at a start */
		free(f);
	}
}

/* A new log file for rounds of n messages, `bytes` octets (the one there
 * is full): 0, or -1 (err). Spool thread. */
static int log_next(struct gw_spool *sp, struct tm_error *err)
{
	log_seal(sp);
	struct logfile *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	make_seg_name(sp, f->name);
	if (gw_seg_log_arm(&sp->dirs, f->name, sp->o.segment_size, &sp->log, err) < 0) {
		free(f);
		return -1;
	}
	pthread_mutex_lock(&sp->mu);
	sp->logf = f;
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

/* Whether a round of n messages, `bytes` octets, goes into a log file: it
 * fits into an empty one. */
static bool log_takes(const struct gw_spool *sp, size_t n, uint64_t bytes)
{
	struct gw_seg_log empty = { .fd = 0, .off = GW_SEG_MAGIC_LEN, .cap = sp->o.segment_size };
	return sp->o.segment_size > 0 && gw_seg_log_fits(&empty, n, bytes);
}

/* One round: every message of the batch made durable together, with one
 * flush when it goes into the log file (which is made ready first when
 * there is none or it is full), else as a round file of its own (a data
 * flush and a directory flush); then every callback. */
static void round_commit(struct gw_spool *sp, struct pending *batch)
{
	size_t n = 0;
	uint64_t bytes = 0;
	for (struct pending *p = batch; p != NULL; p = p->next) {
		n++;
		bytes += p->len;
	}
	struct segment *g = seg_new(n);
	struct gw_seg_msg *m = calloc(n, sizeof(*m));
	struct gw_seg_frame *fr = calloc(n, sizeof(*fr));
	struct tm_error err = {0};
	bool logged = false;
	int rc = -1;
	if (g == NULL || m == NULL || fr == NULL) {
		tm_error_set(&err, "internal.nomem", "out of memory");
	} else {
		size_t i = 0;
		for (struct pending *p = batch; p != NULL; p = p->next, i++)
			m[i] = (struct gw_seg_msg){ p->data, p->len, p->received_at };
		logged = log_takes(sp, n, bytes);
		if (!logged) {
			make_seg_name(sp, g->name);
			rc = gw_seg_commit(&sp->dirs, g->name, m, n, fr, &err);
		} else if (gw_seg_log_fits(&sp->log, n, bytes) || log_next(sp, &err) == 0) {
			memcpy(g->name, sp->log.name, sizeof(g->name)); /* 24 digits */
			g->first = sp->log.frames;
			rc = gw_seg_log_append(&sp->dirs, &sp->log, m, n, fr, &err);
			if (rc < 0)
				log_seal(sp); /* closed: it takes no more rounds */
		}
		i = 0;
		for (struct pending *p = batch; p != NULL; p = p->next, i++)
			make_qid(p->qid, g->name, g->first + i);
	}

	pthread_mutex_lock(&sp->mu);
	gw_spool_round_fn round_fn = sp->round_fn;
	void *round_ctx = sp->round_ctx;
	sp->st.rounds++;
	if (rc == 0) {
		sp->st.messages -= n; /* counted again by seg_queue */
		sp->st.bytes -= bytes;
		if (logged) {
			g->file = sp->logf;
			g->file->rounds++;
		}
		seg_queue(sp, g, fr);
		sp->st.accepted += n;
		g = NULL;
	} else {
		sp->st.failed += n;
		sp->st.messages -= n;
		sp->st.bytes -= bytes;
	}
	pthread_mutex_unlock(&sp->mu);
	free(g);
	free(m);
	free(fr);

	while (batch != NULL) {
		struct pending *nx = batch->next;
		if (batch->cb != NULL)
			batch->cb(batch->ctx, rc == 0 ? batch->qid : "", rc == 0 ? NULL : &err);
		free(batch);
		batch = nx;
	}
	if (round_fn != NULL)
		round_fn(round_ctx);
	/* the waiting consumers last: the senders wait for the callbacks, the
	 * pipeline does not (the messages were queued above) */
	if (rc == 0)
		pthread_cond_broadcast(&sp->ready_cv);
}

static void *spool_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-spool");
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
	log_seal(sp);
	return NULL;
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
	seg_link(sp, g);
	if (g->file != NULL)
		g->file->rounds++;
	g->left = 1;
	sp->st.messages++;
	sp->st.bytes += e->f.len;
	e->attempts++;
	e->not_before = now_s() + RETRY_MAX;
	list_push(&sp->delayed, e);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void gw_spool_retry(struct gw_spool *sp, const char *qid)
{
	pthread_mutex_lock(&sp->mu);
	struct entry *e = index_find(&sp->taken, qid);
	if (e != NULL) {
		index_remove(&sp->taken, e);
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

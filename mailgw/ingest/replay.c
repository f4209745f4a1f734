/* telemail-mailgw — worker pool and batching writer (see replay.h). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include <telemail/array.h>
#include <telemail/buf.h>

#include "ingest/replay.h"

#define COMMIT_TRIES 5

static int add_file(char ***files, size_t *n, size_t *cap, const char *path, struct tm_error *err)
{
	if (*n >= GW_REPLAY_MAX_FILES)
		return tm_error_set(err, "io.too_large", "more than %d files", GW_REPLAY_MAX_FILES);
	char **p = tm_array_grow(*files, cap, *n, sizeof(*p), 64, SIZE_MAX);
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	*files = p;
	if (((*files)[*n] = strdup(path)) == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	(*n)++;
	return 0;
}

static int wanted(const char *name)
{
	size_t l = strlen(name);
	return name[0] != '.' && !(l > 7 && strcmp(name + l - 7, ".expect") == 0);
}

int gw_replay_expand(char **paths, size_t n, char ***files_out, size_t *n_out,
		     struct tm_error *err)
{
	char **files = NULL;
	size_t nf = 0, cap = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(paths[i], &st) != 0) {
			tm_error_set(err, "io.open", "%s: %s", paths[i], strerror(errno));
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (add_file(&files, &nf, &cap, paths[i], err) < 0)
				goto fail;
			continue;
		}
		struct dirent **names = NULL;
		int k = scandir(paths[i], &names, NULL, alphasort);
		if (k < 0) {
			tm_error_set(err, "io.open", "%s: %s", paths[i], strerror(errno));
			goto fail;
		}
		int rc = 0;
		for (int j = 0; j < k; j++) {
			char sub[4096];
			struct stat fst;
			int w = snprintf(sub, sizeof(sub), "%s/%s", paths[i], names[j]->d_name);
			if (rc == 0 && wanted(names[j]->d_name) && w > 0 && (size_t)w < sizeof(sub) &&
			    stat(sub, &fst) == 0 && S_ISREG(fst.st_mode))
				rc = add_file(&files, &nf, &cap, sub, err);
			free(names[j]);
		}
		free(names);
		if (rc < 0)
			goto fail;
	}
	*files_out = files;
	*n_out = nf;
	return 0;
fail:
	gw_replay_files_free(files, nf);
	return -1;
}

void gw_replay_files_free(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

/* ---- the bounded queue between workers and the writer ---- */

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full; /* not_empty on CLOCK_MONOTONIC */
	struct gw_item **ring;
	size_t cap, head, count;
	size_t want;        /* a full batch: the writer lingers for it */
	unsigned producers; /* workers still running */
};

static void queue_push(struct queue *q, struct gw_item *it)
{
	pthread_mutex_lock(&q->mu);
	while (q->count == q->cap)
		pthread_cond_wait(&q->not_full, &q->mu);
	q->ring[(q->head + q->count) % q->cap] = it;
	q->count++;
	/* the writer waits for a first item, then (lingering) for a full batch */
	if (q->count == 1 || q->count >= q->want)
		pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
}

/* Up to max items; 0 when the workers are done and the queue is empty.
 * Once an item is there, waits up to GW_REPLAY_LINGER_MS for max of them:
 * a commit costs a disk flush and the pages it changes, so fewer, fuller
 * batches are cheaper than committing each item as soon as it comes. */
static size_t queue_pop(struct queue *q, struct gw_item **out, size_t max)
{
	pthread_mutex_lock(&q->mu);
	while (q->count == 0 && q->producers > 0)
		pthread_cond_wait(&q->not_empty, &q->mu);
	if (q->count > 0 && q->count < max && q->producers > 0) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += GW_REPLAY_LINGER_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (q->count < max && q->producers > 0 &&
		       pthread_cond_timedwait(&q->not_empty, &q->mu, &until) == 0)
			;
	}
	size_t n = 0;
	while (n < max && q->count > 0) {
		out[n++] = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->mu);
	return n;
}

struct pool {
	const struct gw_replay *r;
	const struct gw_source *src;
	struct queue q;
	bool failed;             /* a next() failed (under q.mu): take no more */
	struct tm_error fail;    /* its err */
};

/* Whether the workers may take another item. */
static bool pool_going(struct pool *pl)
{
	pthread_mutex_lock(&pl->q.mu);
	bool going = !pl->failed;
	pthread_mutex_unlock(&pl->q.mu);
	return going;
}

/* Lower the calling thread's CPU priority to `nice` (> 0; 0 does nothing). */
static void set_nice(int nice)
{
	/* per thread on Linux: the thread id names just this thread */
	if (nice > 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

static void *worker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-worker"); /* as top -H and /proc show it */
	struct pool *pl = arg;
	const struct gw_replay *r = pl->r;
	set_nice(r->nice);
	struct gw_store *reader = NULL;
	struct tm_error oerr = {0};
	int opened = gw_store_open(&r->store_opts, &reader, &oerr);
	struct gw_item *it;
	struct tm_error nerr = {0};
	int got;
	while (pool_going(pl) && (got = pl->src->next(pl->src->ctx, &it, &nerr)) != 0) {
		if (got < 0) { /* no item: the pool winds down, the run says why */
			pthread_mutex_lock(&pl->q.mu);
			if (!pl->failed)
				pl->fail = nerr;
			pl->failed = true;
			pthread_mutex_unlock(&pl->q.mu);
			break;
		}
		if (it->err.reason == NULL) {
			if (opened != GW_STORE_OK)
				it->err = oerr; /* the store is not there: deferred */
			else
				gw_pipeline_prepare(r->pipeline, reader, it, (int64_t)time(NULL));
		}
		queue_push(&pl->q, it);
	}
	gw_store_close(reader);
	pthread_mutex_lock(&pl->q.mu);
	pl->q.producers--;
	pthread_cond_broadcast(&pl->q.not_empty);
	pthread_mutex_unlock(&pl->q.mu);
	return NULL;
}

/* ---- the file source (replay) ---- */

struct file_source {
	char **files;
	size_t n;
	atomic_size_t next;
};

static int file_next(void *ctx, struct gw_item **out, struct tm_error *err)
{
	struct file_source *fs = ctx;
	size_t i = atomic_fetch_add(&fs->next, 1);
	if (i >= fs->n)
		return 0;
	/* an empty file is an empty message; one too large is an over-size item */
	*out = gw_item_read_file(fs->files[i], fs->files[i], GW_REPLAY_MAX_FILE, (int64_t)time(NULL));
	if (*out == NULL)
		return tm_error_set(err, "internal.nomem", "%s: out of memory; it and the files "
				    "after it have no outcome", fs->files[i]);
	return 1;
}

/* Commit with a few tries; items not done afterwards are deferred. */
static void commit_batch(const struct gw_replay *r, struct gw_item **items, size_t n)
{
	struct tm_error err = {0};
	struct gw_replay_commit_stats *cs = r->commit_stats;
	for (int t = 0; t < COMMIT_TRIES; t++) {
		tm_error_clear(&err);
		int rc = gw_pipeline_commit(r->pipeline, r->writer, r->quarantine, items, n,
					    (int64_t)time(NULL), &err);
		if (rc == GW_STORE_OK) {
			if (cs != NULL)
				cs->committed++;
			return;
		}
		if (rc != GW_STORE_RETRY)
			break;
		if (cs != NULL) {
			const char *why = err.reason != NULL ? err.reason : "";
			if (strcmp(why, "store.busy") == 0)
				cs->retry_busy++;
			else if (strcmp(why, "store.unavailable") == 0)
				cs->retry_unavailable++;
			else
				cs->retry_other++;
		}
		struct timespec ts = { 0, 50000000L * (t + 1) };
		nanosleep(&ts, NULL);
	}
	if (cs != NULL)
		cs->failed++;
	for (size_t i = 0; i < n; i++)
		if (!items[i]->done && items[i]->err.reason == NULL)
			items[i]->err = err;
}

static void count(struct gw_replay_counts *c, const struct gw_item *it)
{
	if (!it->done) {
		c->deferred++;
		return;
	}
	switch (it->outcome) {
	case GW_OUTCOME_STORED: c->stored++; break;
	case GW_OUTCOME_DUPLICATE: c->duplicate++; break;
	case GW_OUTCOME_QUARANTINED: c->quarantined++; break;
	case GW_OUTCOME_DEFERRED: c->deferred++; break;
	}
}

int gw_replay_run(const struct gw_replay *r, char **files, size_t n,
		  struct gw_replay_counts *counts, struct tm_error *err)
{
	struct file_source fs = { .files = files, .n = n };
	atomic_init(&fs.next, 0);
	struct gw_source src = { .next = file_next, .ctx = &fs };
	return gw_replay_run_source(r, &src, counts, err);
}

int gw_replay_run_source(const struct gw_replay *r, const struct gw_source *src,
			 struct gw_replay_counts *counts, struct tm_error *err)
{
	memset(counts, 0, sizeof(*counts));
	set_nice(r->nice); /* the writer: this thread */
	struct pool pl = { .r = r, .src = src };
	unsigned nw = r->workers ? r->workers : 1;
	size_t batch = r->batch_size ? r->batch_size : 1;
	pl.q.cap = 2 * batch + nw;
	pl.q.ring = calloc(pl.q.cap, sizeof(*pl.q.ring));
	struct gw_item **items = calloc(batch, sizeof(*items));
	pthread_t *th = calloc(nw, sizeof(*th));
	if (pl.q.ring == NULL || items == NULL || th == NULL) {
		free(pl.q.ring), free(items), free(th);
		return tm_error_set(err, "internal.nomem", "out of memory");
	}
	pl.q.want = batch;
	pthread_mutex_init(&pl.q.mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pl.q.not_empty, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&pl.q.not_full, NULL);
	unsigned started = 0;
	pl.q.producers = nw;
	for (; started < nw; started++)
		if (pthread_create(&th[started], NULL, worker_main, &pl) != 0)
			break;
	if (started < nw) { /* fewer threads than asked for: the rest never produce */
		pthread_mutex_lock(&pl.q.mu);
		pl.q.producers -= nw - started;
		pthread_mutex_unlock(&pl.q.mu);
		if (started == 0) {
			tm_error_set(err, "internal.library", "cannot start worker threads");
			goto out;
		}
	}
	size_t k;
	while ((k = queue_pop(&pl.q, items, batch)) > 0) {
		commit_batch(r, items, k);
		for (size_t i = 0; i < k; i++) {
			count(counts, items[i]);
			if (r->on_result)
				r->on_result(r->ctx, items[i]);
			gw_item_fini(items[i]);
			free(items[i]);
		}
	}
out:
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pl.q.mu);
	pthread_cond_destroy(&pl.q.not_empty);
	pthread_cond_destroy(&pl.q.not_full);
	free(pl.q.ring);
	free(items);
	free(th);
	if (started > 0 && pl.failed) {
		*err = pl.fail;
		return -1;
	}
	return started == 0 ? -1 : 0;
}

int gw_replay_one(const struct gw_replay *r, struct gw_item *it, struct tm_error *err)
{
	(void)err;
	if (it->err.reason == NULL)
		gw_pipeline_prepare(r->pipeline, r->writer, it, (int64_t)time(NULL));
	struct gw_item *one[1] = { it };
	commit_batch(r, one, 1);
	if (r->on_result)
		r->on_result(r->ctx, it);
	return 0;
}

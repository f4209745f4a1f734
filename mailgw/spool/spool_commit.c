/* telemail-mailgw — the spool's producers and its group-commit thread:
 * rounds into the log file or into round files of their own (see spool.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/error.h>

#include "spool/spool.h"
#include "spool/spool_private.h"
#include "spool/spool_segment.h"

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
	p->received_at = gw_spool_now();
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

/* The next log file (none is open, or the one open is full): 0, or -1
 * (err). Spool thread. */
static int log_next(struct gw_spool *sp, struct tm_error *err)
{
	log_seal(sp);
	struct logfile *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	gw_spool_seg_name(sp, f->name);
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
	/* a file just made ready: open (any fd >= 0), nothing written yet */
	struct gw_seg_log empty = { .fd = 0, .off = GW_SEG_MAGIC_LEN, .cap = sp->o.segment_size };
	return sp->o.segment_size > 0 && gw_seg_log_fits(&empty, n, bytes);
}

const double gw_spool_round_bounds[GW_SPOOL_ROUND_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Count a round of `ns` nanoseconds (under sp->mu). */
static void round_time(struct gw_spool_stats *st, uint64_t ns)
{
	size_t b = 0;
	while (b < GW_SPOOL_ROUND_BUCKETS && (double)ns / 1e9 > gw_spool_round_bounds[b])
		b++;
	st->round_buckets[b]++;
	st->round_ns += ns;
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
	struct segment *g = gw_spool_seg_new(n);
	struct gw_seg_msg *m = calloc(n, sizeof(*m));
	struct gw_seg_frame *fr = calloc(n, sizeof(*fr));
	struct tm_error err = {0};
	bool logged = false;
	int rc = -1;
	uint64_t t0 = mono_ns();
	if (g == NULL || m == NULL || fr == NULL) {
		tm_error_set(&err, "internal.nomem", "out of memory");
	} else {
		size_t i = 0;
		for (struct pending *p = batch; p != NULL; p = p->next, i++)
			m[i] = (struct gw_seg_msg){ p->data, p->len, p->received_at };
		logged = log_takes(sp, n, bytes);
		if (!logged) {
			gw_spool_seg_name(sp, g->name);
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
			gw_spool_qid(p->qid, g->name, g->first + i);
	}

	uint64_t ns = mono_ns() - t0;
	pthread_mutex_lock(&sp->mu);
	gw_spool_round_fn round_fn = sp->round_fn;
	void *round_ctx = sp->round_ctx;
	sp->st.rounds++;
	round_time(&sp->st, ns);
	if (rc == 0) {
		sp->st.messages -= n; /* counted again by seg_queue */
		sp->st.bytes -= bytes;
		if (logged) {
			g->file = sp->logf;
			g->file->rounds++;
		}
		gw_spool_seg_queue(sp, g, fr);
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

void *gw_spool_thread(void *arg)
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

/* telemail-mailgw — the daemon: listener + spool + pipeline (see serve.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <telemail/error.h>
#include <telemail/log.h>
#include <telemail/path.h>

#include "service/alerts.h"
#include "config/config.h"
#include "config/config_forward.h"
#include "config/config_listen.h"
#include "config/config_service.h"
#include "smtp/listener.h"
#include "service/notify.h"
#include "ingest/pipeline.h"
#include "store/quarantine.h"
#include "store/retention.h"
#include "ingest/replay.h"
#include "daemon/sd_notify.h"
#include "daemon/serve.h"
#include "forward/forward.h"
#include "smtp/maildir.h"
#include "spool/spool.h"
#include "store/store.h"
#include "config/config_web.h"
#include "web/metrics.h"
#include "web/server.h"

struct serve {
	const struct gw_serve_options *o;
	struct gw_config *cfg;          /* current; replaced by SIGHUP */
	struct gw_pipeline *pipeline;   /* current */
	struct gw_listener *listener;
	struct gw_spool *spool;
	struct gw_store *writer;
	struct gw_quarantine *quarantine;
	char *store_backend, *store_path, *state_dir, *status_path, *quarantine_dir;
	char *store_conninfo, *store_password_file;
	int busy_timeout_ms;
	bool forward;                   /* forward: configured at start: the outbox is on */
	struct gw_store_options so;   /* every thread's store: these copies */
	unsigned workers;
	size_t maildir_max;
	time_t started;

	pthread_mutex_t mu;             /* stopping, the pending reload */
	pthread_cond_t stop_cv;         /* signalled when stopping is set */
	bool stopping;
	atomic_uint reloads;            /* successful SIGHUP reloads (the service thread follows) */
	struct gw_config *next_cfg;
	struct gw_pipeline *next_pipeline;

	atomic_uint_fast64_t stored, duplicate, quarantined, deferred, maildir_moved;
	atomic_int_fast64_t last_commit;   /* when an outcome was last committed (0: none yet) */

	/* the fleet page and /metrics (web:): its thread reads the snapshot
	 * on_tick takes each second on the loop thread, and the latencies */
	struct gw_web *web;
	pthread_mutex_t snap_mu;
	struct gw_listener_stats snap_listener;
	struct gw_spool_stats snap_spool;
	atomic_uint_fast64_t latency[GW_WEB_LATENCY_BUCKETS + 1];
	atomic_uint_fast64_t latency_ms_sum;
	struct gw_replay_commit_stats commits;   /* the writer's batch commits */
};

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

static void log_end(struct tm_logline *l)
{
	log_line(NULL, tm_log_end(l));
}

/* `TAG event=EVENT reason=R detail=D`: a step that failed. */
static void log_failed(const char *tag, const char *event, const char *reason, const char *detail)
{
	struct tm_logline l;
	tm_log_begin(&l, tag);
	tm_log_add(&l, "event", event);
	tm_log_add(&l, "reason", reason);
	tm_log_add(&l, "detail", detail);
	log_end(&l);
}

/* ---- the spool as the pipeline's source ---- */

static int spool_next(void *ctx, struct gw_item **out, struct tm_error *nerr)
{
	struct serve *sv = ctx;
	char qid[GW_SPOOL_QID_MAX];
	uint8_t *data;
	size_t len;
	int64_t at;
	struct tm_error err = {0};
	if (gw_spool_take(sv->spool, qid, &data, &len, &at, &err) == 0)
		return 0;
	struct gw_item *it = malloc(sizeof(*it));
	if (it == NULL) { /* the message goes back to the spool: tried again later */
		free(data);
		gw_spool_retry(sv->spool, qid);
		sv->deferred++;
		return tm_error_set(nerr, "internal.nomem", "spool %s: out of memory", qid);
	}
	if (data == NULL && err.reason == NULL && (data = calloc(1, 1)) == NULL)
		tm_error_set(&err, "internal.nomem", "spool %s: out of memory", qid);
	gw_item_init(it, qid, data, data != NULL ? len : 0, at);
	if (err.reason != NULL)
		it->err = err; /* unreadable now: deferred, retried */
	*out = it;
	return 1;
}

/* On the writer thread, once the outcome is committed (or not). */
static void spool_result(void *ctx, const struct gw_item *it)
{
	struct serve *sv = ctx;
	char outcome[96];
	gw_item_outcome_text(it, outcome, sizeof(outcome));
	bool final = it->done && it->outcome != GW_OUTCOME_DEFERRED;
	if (final) {
		sv->last_commit = (int_fast64_t)time(NULL);
		struct tm_error err = {0};
		if (gw_spool_done(sv->spool, it->source, &err) < 0) {
			struct tm_logline l;
			tm_log_begin(&l, "gw spool");
			tm_log_add(&l, "qid", it->source);
			tm_log_add(&l, "event", "remove_failed");
			tm_log_add(&l, "reason", err.reason);
			tm_log_add(&l, "detail", err.msg);
			log_end(&l);
		}
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		double lat = (double)(now.tv_sec - it->received_at) + now.tv_nsec / 1e9;
		if (lat < 0)
			lat = 0;
		sv->latency[gw_web_latency_bucket(lat)]++;
		sv->latency_ms_sum += (uint_fast64_t)(lat * 1000);
		switch (it->outcome) {
		case GW_OUTCOME_STORED: sv->stored++; break;
		case GW_OUTCOME_DUPLICATE: sv->duplicate++; break;
		default: sv->quarantined++; break;
		}
	} else {
		gw_spool_retry(sv->spool, it->source);
		sv->deferred++;
	}
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_add(&l, "qid", it->source);
	tm_log_add(&l, "message_id", it->message_id[0] ? it->message_id : "-");
	tm_log_add(&l, "outcome", outcome);
	tm_log_add(&l, "device", it->serial[0] ? it->serial : "-");
	tm_log_add(&l, "report", it->report_id[0] ? it->report_id : "-");
	if (it->quarantine_id[0])
		tm_log_add(&l, "quarantine", it->quarantine_id);
	log_end(&l);
}

static void *pipeline_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-writer");
	struct serve *sv = arg;
	for (;;) {
		struct gw_replay r = {
			.pipeline = sv->pipeline,
			.store_opts = sv->so,
			.writer = sv->writer, .quarantine = sv->quarantine,
			.workers = sv->workers, .batch_size = sv->cfg->batch_size,
			.nice = GW_SERVE_PIPELINE_NICE,
			.on_result = spool_result, .ctx = sv, .commit_stats = &sv->commits,
		};
		struct gw_source src = { .next = spool_next, .ctx = sv };
		struct gw_replay_counts k;
		struct tm_error err = {0};
		if (gw_replay_run_source(&r, &src, &k, &err) < 0) {
			log_failed("gw serve", "pipeline_failed", err.reason, err.msg);
			sleep(1);
		}
		pthread_mutex_lock(&sv->mu);
		if (sv->stopping) {
			pthread_mutex_unlock(&sv->mu);
			break;
		}
		if (sv->next_pipeline != NULL) { /* SIGHUP: new keys, new configuration */
			gw_pipeline_fini(sv->pipeline);
			free(sv->pipeline);
			gw_config_free(sv->cfg);
			sv->pipeline = sv->next_pipeline;
			sv->cfg = sv->next_cfg;
			sv->next_pipeline = NULL;
			sv->next_cfg = NULL;
			struct tm_logline l;
			tm_log_begin(&l, "gw serve");
			tm_log_add(&l, "event", "reloaded");
			tm_log_addf(&l, "keys", "%zu", sv->cfg->n_keys);
			tm_log_addf(&l, "mailboxes", "%zu", sv->cfg->n_mailboxes);
			log_end(&l);
		}
		gw_spool_resume_consumers(sv->spool);
		pthread_mutex_unlock(&sv->mu);
	}
	return NULL;
}

/* ---- loop thread callbacks ---- */

static struct gw_listener_options listener_options(struct serve *sv, const struct gw_config *cfg)
{
	return (struct gw_listener_options){
		.cfg = cfg->listen, .mailboxes = (const char *const *)cfg->mailboxes,
		.n_mailboxes = cfg->n_mailboxes, .spool = sv->spool, .log = log_line,
		.on_reload = NULL, .on_tick = NULL, .ctx = sv,
	};
}

/* The old configuration stays (config=kept): a reload that fails changes nothing. */
static void log_reload_failed(const char *reason, const char *detail)
{
	struct tm_logline l;
	tm_log_begin(&l, "gw serve");
	tm_log_add(&l, "event", "reload_failed");
	tm_log_add(&l, "reason", reason);
	tm_log_add(&l, "detail", detail);
	tm_log_add(&l, "config", "kept");
	log_end(&l);
}

static void reload(struct serve *sv);

static void on_reload(void *ctx)
{
	struct serve *sv = ctx;
	gw_sd_notify("RELOADING=1");
	reload(sv);
	gw_sd_notify("READY=1"); /* a failed reload keeps the old configuration: ready all the same */
}

static void reload(struct serve *sv)
{
	struct tm_error err = {0};
	struct gw_config *ncfg = NULL;
	struct gw_pipeline *np = calloc(1, sizeof(*np));
	if (np == NULL || gw_config_load(sv->o->config_path, &ncfg, &err) < 0 ||
	    gw_pipeline_init(np, ncfg, &err) < 0) {
		log_reload_failed(err.reason ? err.reason : "internal.nomem", err.msg);
		gw_config_free(ncfg);
		free(np);
		return;
	}
	struct gw_listener_options lo = listener_options(sv, ncfg);
	if (gw_listener_reload(sv->listener, &lo, &err) < 0) {
		log_reload_failed(err.reason, err.msg);
		gw_pipeline_fini(np);
		free(np);
		gw_config_free(ncfg);
		return;
	}
	pthread_mutex_lock(&sv->mu);
	if (sv->next_pipeline != NULL) { /* two SIGHUPs in a row: the newest wins */
		gw_pipeline_fini(sv->next_pipeline);
		free(sv->next_pipeline);
		gw_config_free(sv->next_cfg);
	}
	sv->next_pipeline = np;
	sv->next_cfg = ncfg;
	gw_spool_stop_consumers(sv->spool); /* the pipeline thread swaps and resumes */
	sv->reloads++;
	pthread_mutex_unlock(&sv->mu);
}

static void on_tick(void *ctx)
{
	struct serve *sv = ctx;
	struct gw_spool_stats ss;
	struct gw_listener_stats ls;
	/* the outcomes before the spool: a message leaves the spool before its
	 * outcome is counted, so a file that counts N outcomes never shows one
	 * of those N as still waiting */
	uint64_t stored = sv->stored, duplicate = sv->duplicate, quarantined = sv->quarantined,
		 deferred = sv->deferred, maildir_moved = sv->maildir_moved;
	gw_spool_stats(sv->spool, &ss);
	gw_listener_stats(sv->listener, &ls);
	pthread_mutex_lock(&sv->snap_mu);
	sv->snap_spool = ss;
	sv->snap_listener = ls;
	pthread_mutex_unlock(&sv->snap_mu);
	char tmp[4200], owner[GW_NOTIFY_OWNER_MAX];   /* owner: this gateway, as claims name it */
	snprintf(tmp, sizeof(tmp), "%s.tmp", sv->status_path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	gw_notify_owner(owner);
	fprintf(f, "owner=%s\nlast_commit=%lld\n", owner, (long long)sv->last_commit);
	fprintf(f, "pid=%ld\nstarted=%lld\nupdated=%lld\nsessions=%" PRIu64 "\nconnections=%" PRIu64
		"\nconnections_refused=%" PRIu64 "\nmessages_accepted=%" PRIu64
		"\nmessages_refused=%" PRIu64 "\nspool_messages=%" PRIu64 "\nspool_bytes=%" PRIu64
		"\nspool_queued=%" PRIu64 "\nspool_commit_rounds=%" PRIu64 "\nstored=%" PRIu64
		"\nduplicate=%" PRIu64 "\nquarantined=%" PRIu64 "\ndeferred=%" PRIu64
		"\nmaildir_moved=%" PRIu64 "\n",
		(long)getpid(), (long long)sv->started, (long long)time(NULL), ls.sessions_now,
		ls.connections, ls.refused_connections, ls.messages_accepted, ls.messages_refused,
		ss.messages, ss.bytes, ss.queued, ss.rounds, stored, duplicate, quarantined, deferred,
		maildir_moved);
	if (fclose(f) == 0)
		rename(tmp, sv->status_path);
}

/* ---- Maildir intake ---- */

/* The maildir thread's own handles: an over-size file is quarantined there. */
struct maildir_ctx {
	struct serve *sv;
	struct gw_store *st;
	struct gw_quarantine *q;
	unsigned quarantined;
};

/* A file over the size limit: quarantined (io.too_large) with its first
 * octets, the SHA-256 and size of all of it; 0 once that is committed. */
static int maildir_too_large(void *ctx, const char *path, const char *name)
{
	struct maildir_ctx *mc = ctx;
	struct serve *sv = mc->sv;
	char source[GW_SPOOL_QID_MAX + 300];
	snprintf(source, sizeof(source), "maildir/%.280s", name);
	struct gw_item *it = gw_item_read_file(path, source, sv->maildir_max, (int64_t)time(NULL));
	if (it == NULL)
		return -1;
	if (mc->st == NULL || mc->q == NULL) {
		gw_item_fini(it);
		free(it);
		return -1;
	}
	int rc = -1;
	struct tm_error err = {0};
	/* over the limit still (it may have shrunk: then the spool takes it) */
	if (it->err.reason != NULL && strcmp(it->err.reason, "io.too_large") == 0) {
		struct gw_item *one[1] = { it };
		if (gw_pipeline_commit(NULL, mc->st, mc->q, one, 1, (int64_t)time(NULL), &err) !=
		    GW_STORE_OK || !it->done || it->outcome != GW_OUTCOME_QUARANTINED) {
			struct tm_logline l;
			tm_log_begin(&l, "gw maildir");
			tm_log_add(&l, "file", name);
			tm_log_add(&l, "event", "quarantine_failed");
			tm_log_add(&l, "reason", err.reason ? err.reason : it->err.reason);
			tm_log_add(&l, "detail", err.reason ? err.msg : it->err.msg);
			log_end(&l);
		} else {
			rc = 0;
			sv->quarantined++;
			mc->quarantined++;
			struct tm_logline l;
			tm_log_begin(&l, "gw message");
			tm_log_add(&l, "qid", it->source);
			tm_log_add(&l, "message_id", "-");
			tm_log_add(&l, "outcome", "quarantined:io.too_large");
			tm_log_add(&l, "device", "-");
			tm_log_add(&l, "report", "-");
			tm_log_add(&l, "quarantine", it->quarantine_id);
			tm_log_addf(&l, "size", "%" PRIu64, it->size);
			tm_log_addf(&l, "kept", "%zu", it->len);
			log_end(&l);
		}
	}
	gw_item_fini(it);
	free(it);
	return rc;
}

static void *maildir_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-maildir");
	struct serve *sv = arg;
	size_t max = sv->maildir_max;
	struct maildir_ctx mc = { .sv = sv };
	struct tm_error oerr = {0};
	struct gw_store_options so = sv->so;
	if (gw_store_open(&so, &mc.st, &oerr) != GW_STORE_OK ||
	    gw_quarantine_open(&so, &mc.q, &oerr) < 0)
	{
		/* over-size files stay in new/ until the quarantine opens */
		struct tm_logline l;
		tm_log_begin(&l, "gw maildir");
		tm_log_add(&l, "dir", sv->o->maildir);
		tm_log_add(&l, "event", "no_quarantine");
		tm_log_add(&l, "reason", oerr.reason);
		tm_log_add(&l, "detail", oerr.msg);
		log_end(&l);
	}
	for (;;) {
		pthread_mutex_lock(&sv->mu);
		bool stop = sv->stopping;
		pthread_mutex_unlock(&sv->mu);
		if (stop)
			break;
		unsigned moved = 0;
		struct tm_error err = {0};
		mc.quarantined = 0;
		int rc = gw_maildir_poll(sv->o->maildir, sv->spool, max, maildir_too_large, &mc,
					 &moved, &err);
		sv->maildir_moved += moved;
		if (moved > 0 || err.reason != NULL) {
			struct tm_logline l;
			tm_log_begin(&l, "gw maildir");
			tm_log_add(&l, "dir", sv->o->maildir);
			if (moved > 0)
				tm_log_addf(&l, "moved", "%u", moved);
			if (err.reason != NULL) {
				tm_log_add(&l, "reason", err.reason);
				tm_log_add(&l, "detail", err.msg);
			}
			log_end(&l);
		}
		if (rc == 0 && moved + mc.quarantined > 0)
			continue;
		struct timespec ts = { 0, 500000000L };
		nanosleep(&ts, NULL);
	}
	gw_quarantine_close(mc.q);
	gw_store_close(mc.st);
	return NULL;
}

/* ---- service timers: notifications and the silence check ---- */

/* Waits up to `seconds`; true when the daemon is stopping. */
static bool wait_or_stop(struct serve *sv, int seconds)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&sv->mu);
	while (!sv->stopping)
		if (pthread_cond_timedwait(&sv->stop_cv, &sv->mu, &until) != 0)
			break;
	bool stop = sv->stopping;
	pthread_mutex_unlock(&sv->mu);
	return stop;
}

/* A thread's own copy of the configuration, loaded again after each
 * successful SIGHUP (sv->reloads moved on since *seen). A file that no longer
 * loads keeps the copy it has; -1 only when there is none at all. */
static int follow_config(struct serve *sv, struct gw_config **cfg, unsigned *seen,
			 const char *tag)
{
	unsigned gen = sv->reloads;
	if (gen == *seen)
		return 0;
	struct gw_config *ncfg = NULL;
	struct tm_error err = {0};
	if (gw_config_load(sv->o->config_path, &ncfg, &err) == 0) {
		gw_config_free(*cfg);
		*cfg = ncfg;
	} else if (*cfg == NULL) {
		log_failed(tag, "failed", err.reason, err.msg);
		return -1;
	}
	*seen = gen;
	return 0;
}

/* Its own store handle and its own copy of the configuration (reloaded after
 * each successful SIGHUP), so that a slow relay or webhook never holds up
 * the listener or the pipeline. */
static void *service_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-service");
	struct serve *sv = arg;
	struct gw_store *st = NULL;
	struct gw_config *cfg = NULL;
	unsigned seen = (unsigned)-1;
	struct tm_error err = {0};
	struct gw_store_options so = sv->so;
	if (gw_store_open(&so, &st, &err) != GW_STORE_OK) {
		log_failed("gw service", "failed", err.reason, err.msg);
		return NULL;
	}
	time_t last_silence = 0, last_retention = 0;
	struct tm_logline rl;
	bool was_skipped = false;
	for (;;) {
		if (follow_config(sv, &cfg, &seen, "gw service") < 0)
			break;
		time_t now = time(NULL);
		tm_error_clear(&err);
		struct gw_notify_counts nk;
		if (gw_notify_run_once(st, cfg->service, (int64_t)now, &nk, &err) != GW_STORE_OK)
			log_failed("gw notify", "failed", err.reason, err.msg);
		else if (nk.mailed + nk.digests + nk.posted + nk.retried + nk.failed > 0) {
			struct tm_logline l;
			tm_log_begin(&l, "gw notify");
			tm_log_addf(&l, "mailed", "%zu", nk.mailed);
			tm_log_addf(&l, "digests", "%zu", nk.digests);
			tm_log_addf(&l, "posted", "%zu", nk.posted);
			tm_log_addf(&l, "retried", "%zu", nk.retried);
			tm_log_addf(&l, "failed", "%zu", nk.failed);
			log_end(&l);
		}
		if (now - last_silence >= cfg->service->silence_check_every) {
			struct gw_silence_counts sk;
			tm_error_clear(&err);
			if (gw_alerts_check_silence(st, cfg->service, (int64_t)now, &sk, &err) != GW_STORE_OK)
				log_failed("gw alerts", "silence_failed", err.reason, err.msg);
			else if ((sk.skipped && !was_skipped) || sk.silent + sk.never + sk.resolved +
				 sk.collectors_silent + sk.collectors_resolved > 0) {
				struct tm_logline l;
				tm_log_begin(&l, "gw alerts");
				tm_log_add(&l, "event", sk.skipped ? "silence_skipped" : "silence");
				tm_log_addf(&l, "silent", "%zu", sk.silent);
				tm_log_addf(&l, "never", "%zu", sk.never);
				tm_log_addf(&l, "resolved", "%zu", sk.resolved);
				tm_log_addf(&l, "collectors_silent", "%zu", sk.collectors_silent);
				tm_log_addf(&l, "folded", "%zu", sk.folded);
				tm_log_addf(&l, "collectors_resolved", "%zu", sk.collectors_resolved);
				log_end(&l);
			}
			last_silence = now;
			was_skipped = sk.skipped;
		}
		if (cfg->store_retention_months > 0 && now - last_retention >= 86400) {
			struct gw_retention_counts rk;   /* daily, from the start (retention.h) */
			tm_error_clear(&err);
			if (gw_retention_purge(st, cfg->store_retention_months, now, &rk, &err) != 0)
				log_failed("gw store", "retention_failed", err.reason, err.msg);
			else if (gw_retention_log(&rl, &rk))
				log_end(&rl);
			last_retention = now;
		}
		if (wait_or_stop(sv, (int)cfg->service->notify_every))
			break;
	}
	gw_config_free(cfg);
	gw_store_close(st);
	return NULL;
}

/* The forwarder (issue 17): its own store handle and configuration, as the
 * service thread; a pass every forward.every. A receiver that is down or
 * slow holds up nothing but this thread. */
static void forward_log(void *ctx, const char *line)
{
	log_line(ctx, line);
}

static void *forward_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-forward");
	struct serve *sv = arg;
	struct gw_store *st = NULL;
	struct gw_config *cfg = NULL;
	unsigned seen = (unsigned)-1;
	struct tm_error err = {0};
	struct gw_store_options so = sv->so;
	so.forward = true;
	if (gw_store_open(&so, &st, &err) != GW_STORE_OK) {
		log_failed("gw forward", "failed", err.reason, err.msg);
		return NULL;
	}
	for (;;) {
		if (follow_config(sv, &cfg, &seen, "gw forward") < 0)
			break;
		int64_t every = 5;
		if (cfg->forward != NULL) {
			struct gw_forward_run r = { .cfg = cfg->forward, .svc = cfg->service,
						    .log = forward_log };
			struct gw_forward_counts k;
			tm_error_clear(&err);
			if (gw_forward_run_once(st, &r, &k, &err) < 0)
				log_failed("gw forward", "failed", err.reason, err.msg);
			every = cfg->forward->every;
		}
		if (wait_or_stop(sv, (int)every))
			break;
	}
	gw_config_free(cfg);
	gw_store_close(st);
	return NULL;
}

/* ---- the fleet page's runtime metrics (on the web thread) ---- */

static void web_runtime(void *ctx, struct gw_web_runtime *rt)
{
	struct serve *sv = ctx;
	memset(rt, 0, sizeof(*rt));
	rt->started = sv->started;
	rt->stored = sv->stored;
	rt->duplicate = sv->duplicate;
	rt->quarantined = sv->quarantined;
	rt->deferred = sv->deferred;
	pthread_mutex_lock(&sv->snap_mu);
	struct gw_listener_stats ls = sv->snap_listener;
	struct gw_spool_stats ss = sv->snap_spool;
	pthread_mutex_unlock(&sv->snap_mu);
	rt->connections = ls.connections;
	rt->refused_connections = ls.refused_connections;
	rt->sessions_now = ls.sessions_now;
	rt->messages_accepted = ls.messages_accepted;
	rt->messages_refused = ls.messages_refused;
	for (size_t i = 0; i < ls.n_refusals && i < sizeof(rt->refusals) / sizeof(rt->refusals[0]); i++) {
		const struct tm_reason *r = tm_reason_lookup(ls.refusals[i].reason);
		snprintf(rt->refusals[i].reason, sizeof(rt->refusals[i].reason), "%s",
			 ls.refusals[i].reason);
		snprintf(rt->refusals[i].code, sizeof(rt->refusals[i].code), "%.3s",
			 r != NULL && r->smtp != NULL ? r->smtp : "");
		rt->refusals[i].n = ls.refusals[i].n;
		rt->n_refusals++;
	}
	rt->refusals_other = ls.refusals_other;
	for (size_t i = 0; i < ls.n_cmd_refusals && i < sizeof(rt->cmd_refusals) / sizeof(rt->cmd_refusals[0]);
	     i++) {
		const struct tm_reason *r = tm_reason_lookup(ls.cmd_refusals[i].reason);
		snprintf(rt->cmd_refusals[i].command, sizeof(rt->cmd_refusals[i].command), "%s",
			 ls.cmd_refusals[i].verb);
		snprintf(rt->cmd_refusals[i].reason, sizeof(rt->cmd_refusals[i].reason), "%s",
			 ls.cmd_refusals[i].reason);
		snprintf(rt->cmd_refusals[i].code, sizeof(rt->cmd_refusals[i].code), "%.3s",
			 r != NULL && r->smtp != NULL ? r->smtp : "");
		rt->cmd_refusals[i].n = ls.cmd_refusals[i].n;
		rt->n_cmd_refusals++;
	}
	rt->cmd_refusals_other = ls.cmd_refusals_other;
	rt->spool_messages = ss.messages;
	rt->spool_bytes = ss.bytes;
	rt->spool_queued = ss.queued;
	rt->spool_rounds = ss.rounds;
	rt->spool_accepted = ss.accepted;
	rt->spool_failed = ss.failed;
	for (size_t i = 0; i < GW_WEB_LATENCY_BUCKETS; i++)
		rt->latency_buckets[i] = sv->latency[i];
	rt->latency_over = sv->latency[GW_WEB_LATENCY_BUCKETS];
	rt->latency_sum = (double)sv->latency_ms_sum / 1000.0;
	memcpy(rt->round_buckets, ss.round_buckets, sizeof(rt->round_buckets));
	rt->round_sum = (double)ss.round_ns / 1e9;
	rt->batches_committed = sv->commits.committed;
	rt->batches_failed = sv->commits.failed;
	rt->retry_busy = sv->commits.retry_busy;
	rt->retry_unavailable = sv->commits.retry_unavailable;
	rt->retry_other = sv->commits.retry_other;
}

static void web_log(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

/* ---- setup and teardown ---- */

int gw_serve_run(const struct gw_serve_options *o, struct tm_error *err)
{
	struct serve sv = { .o = o, .cfg = o->cfg };
	pthread_mutex_init(&sv.mu, NULL);
	pthread_cond_init(&sv.stop_cv, NULL);
	pthread_mutex_init(&sv.snap_mu, NULL);
	atomic_init(&sv.reloads, 0);
	pthread_t pipe_th, maildir_th, service_th, forward_th;
	bool pipe_started = false, maildir_started = false, service_started = false;
	bool ready = false;
	bool forward_started = false;
	int rc = -1;
	const struct gw_config *cfg = o->cfg;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	sv.workers = o->workers ? o->workers : cfg->workers ? cfg->workers
			: (unsigned)(cores > 0 ? cores : 1);
	sv.started = time(NULL);
	sv.maildir_max = cfg->listen->max_message_size;
	sv.busy_timeout_ms = (int)(cfg->store_busy_timeout * 1000);
	sv.forward = cfg->forward != NULL;
	sv.store_backend = strdup(cfg->store_backend);
	sv.store_path = strdup(cfg->store_path);
	sv.state_dir = strdup(cfg->state_dir);
	sv.quarantine_dir = strdup(cfg->quarantine_dir);
	sv.store_conninfo = cfg->store_conninfo ? strdup(cfg->store_conninfo) : NULL;
	sv.store_password_file = cfg->store_password_file ? strdup(cfg->store_password_file) : NULL;
	sv.status_path = tm_path_join(cfg->state_dir, GW_SERVE_STATUS_FILE);
	sv.pipeline = calloc(1, sizeof(*sv.pipeline));
	if (sv.store_backend == NULL || sv.store_path == NULL || sv.state_dir == NULL ||
	    sv.status_path == NULL || sv.quarantine_dir == NULL || sv.pipeline == NULL ||
	    (cfg->store_conninfo != NULL && sv.store_conninfo == NULL) ||
	    (cfg->store_password_file != NULL && sv.store_password_file == NULL)) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		tm_error_set(err, "io.open", "%s: %s", cfg->state_dir, strerror(errno));
		goto out;
	}
	sv.so = (struct gw_store_options){
		.backend = sv.store_backend, .path = sv.store_path,
		.busy_timeout_ms = sv.busy_timeout_ms, .quarantine_dir = sv.quarantine_dir,
		.conninfo = sv.store_conninfo, .password_file = sv.store_password_file,
		.forward = sv.forward,
	};
	if (gw_store_open(&sv.so, &sv.writer, err) != GW_STORE_OK ||
	    gw_quarantine_open(&sv.so, &sv.quarantine, err) < 0 ||
	    gw_pipeline_init(sv.pipeline, cfg, err) < 0)
		goto out;
	struct gw_spool_options spo = {
		.dir = cfg->listen->spool_dir, .quota_bytes = cfg->listen->spool_quota_bytes,
		.quota_messages = cfg->listen->spool_quota_messages,
		.segment_size = GW_SPOOL_SEGMENT_SIZE,
	};
	if (gw_spool_open(&spo, &sv.spool, err) < 0)
		goto out;
	struct gw_spool_stats ss;
	gw_spool_stats(sv.spool, &ss);
	struct tm_logline l;
	tm_log_begin(&l, "gw serve");
	tm_log_add(&l, "event", "start");
	tm_log_addf(&l, "pid", "%ld", (long)getpid());
	tm_log_add(&l, "spool", cfg->listen->spool_dir);
	tm_log_addf(&l, "recovered", "%" PRIu64, ss.recovered);
	tm_log_addf(&l, "discarded", "%" PRIu64, ss.discarded);
	tm_log_addf(&l, "damaged", "%" PRIu64, ss.damaged);
	tm_log_addf(&l, "workers", "%u", sv.workers);
	log_end(&l);
	struct gw_listener_options lo = listener_options(&sv, cfg);
	lo.on_reload = on_reload;
	lo.on_tick = on_tick;
	if (gw_listener_new(&lo, &sv.listener, err) < 0)
		goto out;
	if (cfg->web != NULL) {
		/* the page reads its configuration once: a reload does not move it */
		const char *fwd[GW_FORWARD_MAX_ENDPOINTS];
		struct gw_web_options wo = {
			.cfg = cfg->web, .store = sv.so, .quarantine = true,
			.silence = cfg->service->silence, .estimate_after = cfg->service->estimate_after,
			.runtime = web_runtime, .runtime_ctx = &sv, .log = web_log,
			.fwd_endpoints = fwd,
			.n_fwd_endpoints = gw_forward_endpoint_names(cfg->forward, fwd),
		};
		gw_spool_stats(sv.spool, &sv.snap_spool);
		if (gw_web_new(&wo, &sv.web, err) < 0 || gw_web_start(sv.web, err) < 0)
			goto out;
	}
	if (pthread_create(&pipe_th, NULL, pipeline_main, &sv) != 0) {
		tm_error_set(err, "internal.library", "cannot start the pipeline thread");
		goto out;
	}
	pipe_started = true;
	if (o->config_path != NULL) {
		if (pthread_create(&service_th, NULL, service_main, &sv) != 0) {
			tm_error_set(err, "internal.library", "cannot start the service thread");
			goto out;
		}
		service_started = true;
		if (sv.forward) {
			if (pthread_create(&forward_th, NULL, forward_main, &sv) != 0) {
				tm_error_set(err, "internal.library", "cannot start the forwarder thread");
				goto out;
			}
			forward_started = true;
		}
	}
	if (o->maildir != NULL) {
		if (pthread_create(&maildir_th, NULL, maildir_main, &sv) != 0) {
			tm_error_set(err, "internal.library", "cannot start the maildir thread");
			goto out;
		}
		maildir_started = true;
	}
	on_tick(&sv);
	gw_sd_notify("READY=1"); /* listening, spool recovered, threads up */
	ready = true;
	gw_listener_run(sv.listener);
	rc = 0;
out:
	if (ready)
		gw_sd_notify("STOPPING=1");
	/* sessions are done; now the intake, then the in-flight pipeline work */
	pthread_mutex_lock(&sv.mu);
	sv.stopping = true;
	pthread_cond_broadcast(&sv.stop_cv);
	if (sv.spool != NULL)
		gw_spool_stop_consumers(sv.spool);
	pthread_mutex_unlock(&sv.mu);
	gw_web_free(sv.web);   /* stops its thread: nothing reads sv after this */
	sv.web = NULL;
	if (service_started)
		pthread_join(service_th, NULL);
	if (forward_started)
		pthread_join(forward_th, NULL);
	if (maildir_started)
		pthread_join(maildir_th, NULL);
	if (pipe_started)
		pthread_join(pipe_th, NULL);
	if (sv.listener != NULL)
		on_tick(&sv);
	gw_spool_close(sv.spool);
	gw_listener_free(sv.listener);
	if (rc == 0) {
		struct tm_logline sl;
		tm_log_begin(&sl, "gw serve");
		tm_log_add(&sl, "event", "stopped");
		tm_log_addf(&sl, "stored", "%" PRIu64, (uint64_t)sv.stored);
		tm_log_addf(&sl, "duplicate", "%" PRIu64, (uint64_t)sv.duplicate);
		tm_log_addf(&sl, "quarantined", "%" PRIu64, (uint64_t)sv.quarantined);
		tm_log_addf(&sl, "deferred", "%" PRIu64, (uint64_t)sv.deferred);
		log_end(&sl);
	}
	if (sv.next_pipeline != NULL) {
		gw_pipeline_fini(sv.next_pipeline);
		free(sv.next_pipeline);
		gw_config_free(sv.next_cfg);
	}
	if (sv.pipeline != NULL)
		gw_pipeline_fini(sv.pipeline);
	free(sv.pipeline);
	gw_quarantine_close(sv.quarantine);
	gw_store_close(sv.writer);
	gw_config_free(sv.cfg);
	free(sv.store_backend);
	free(sv.store_path);
	free(sv.state_dir);
	free(sv.quarantine_dir);
	free(sv.store_conninfo);
	free(sv.store_password_file);
	free(sv.status_path);
	pthread_cond_destroy(&sv.stop_cv);
	pthread_mutex_destroy(&sv.snap_mu);
	pthread_mutex_destroy(&sv.mu);
	return rc;
}

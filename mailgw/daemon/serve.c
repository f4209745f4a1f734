/* telemail-mailgw — the daemon: listener + spool + pipeline (see serve.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <telemail/error.h>
#include <telemail/log.h>
#include <telemail/path.h>

#include "config/config.h"
#include "config/config_forward.h"
#include "config/config_listen.h"
#include "config/config_service.h"
#include "smtp/listener.h"
#include "service/notify.h"
#include "ingest/pipeline.h"
#include "store/quarantine.h"
#include "ingest/replay.h"
#include "daemon/sd_notify.h"
#include "daemon/serve.h"
#include "daemon/serve_private.h"
#include "spool/spool.h"
#include "store/store.h"
#include "config/config_web.h"
#include "web/metrics.h"
#include "web/server.h"

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
		if (sv->store_down) {   /* the store is back: what it deferred may go now */
			sv->store_down = false;
			gw_spool_retry_now(sv->spool);
		}
		switch (it->outcome) {
		case GW_OUTCOME_STORED: sv->stored++; break;
		case GW_OUTCOME_DUPLICATE: sv->duplicate++; break;
		default: sv->quarantined++; break;
		}
	} else {
		bool store = it->err.reason != NULL && strncmp(it->err.reason, "store.", 6) == 0;
		if (store) {   /* one such message at a time tries again soon */
			gw_spool_retry_store(sv->spool, it->source);
			sv->store_down = true;
		} else {
			gw_spool_retry(sv->spool, it->source);
		}
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
			.runtime = web_runtime, .runtime_ctx = &sv, .log = log_line,
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
		if (pthread_create(&service_th, NULL, gw_serve_service_main, &sv) != 0) {
			tm_error_set(err, "internal.library", "cannot start the service thread");
			goto out;
		}
		service_started = true;
		if (sv.forward) {
			if (pthread_create(&forward_th, NULL, gw_serve_forward_main, &sv) != 0) {
				tm_error_set(err, "internal.library", "cannot start the forwarder thread");
				goto out;
			}
			forward_started = true;
		}
	}
	if (o->maildir != NULL) {
		if (pthread_create(&maildir_th, NULL, gw_serve_maildir_main, &sv) != 0) {
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

/* telemail-mailgw — the daemon's threads beside the listener and the
 * pipeline (serve_private.h): the Maildir poller, the service timers
 * (notifications, the silence check, the daily retention purge) and the
 * forwarder. Each opens its own store handle. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/error.h>
#include <telemail/log.h>

#include "service/alerts.h"
#include "config/config.h"
#include "config/config_forward.h"
#include "config/config_service.h"
#include "service/notify.h"
#include "ingest/pipeline.h"
#include "store/quarantine.h"
#include "store/retention.h"
#include "forward/forward.h"
#include "smtp/maildir.h"
#include "store/store.h"
#include "daemon/serve_private.h"

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

void *gw_serve_maildir_main(void *arg)
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

/* A thread's own store handle (the daemon's options; the forwarder's with
 * the outbox on); NULL, said in the log under `tag`, when it does not open. */
static struct gw_store *thread_store(struct serve *sv, const char *tag, bool forward)
{
	struct gw_store *st = NULL;
	struct tm_error err = {0};
	struct gw_store_options so = sv->so;
	so.forward = so.forward || forward;
	if (gw_store_open(&so, &st, &err) != GW_STORE_OK) {
		log_failed(tag, "failed", err.reason, err.msg);
		return NULL;
	}
	return st;
}

/* Its own store handle and its own copy of the configuration (reloaded after
 * each successful SIGHUP), so that a slow relay or webhook never holds up
 * the listener or the pipeline. */
void *gw_serve_service_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-service");
	struct serve *sv = arg;
	struct gw_store *st = thread_store(sv, "gw service", false);
	if (st == NULL)
		return NULL;
	struct gw_config *cfg = NULL;
	unsigned seen = (unsigned)-1;
	struct tm_error err = {0};
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
void *gw_serve_forward_main(void *arg)
{
	pthread_setname_np(pthread_self(), "tm-forward");
	struct serve *sv = arg;
	struct gw_store *st = thread_store(sv, "gw forward", true);
	if (st == NULL)
		return NULL;
	struct gw_config *cfg = NULL;
	unsigned seen = (unsigned)-1;
	struct tm_error err = {0};
	for (;;) {
		if (follow_config(sv, &cfg, &seen, "gw forward") < 0)
			break;
		int64_t every = 5;
		if (cfg->forward != NULL) {
			struct gw_forward_run r = { .cfg = cfg->forward, .svc = cfg->service,
						    .log = log_line };
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

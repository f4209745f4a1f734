/* telemail-mailgw — internal to daemon/: the daemon's shared state (struct
 * serve), its log helpers, and the threads serve_threads.c runs beside the
 * listener and the pipeline (the Maildir poller, the service timers, the
 * forwarder). Only serve.c and serve_threads.c include it. */
#ifndef GW_SERVE_PRIVATE_H
#define GW_SERVE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <telemail/log.h>

#include "config/config.h"
#include "daemon/serve.h"
#include "ingest/pipeline.h"
#include "ingest/replay.h"
#include "smtp/listener.h"
#include "spool/spool.h"
#include "store/quarantine.h"
#include "store/store.h"
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
	bool store_down;                /* an item was deferred for the store (writer thread only) */

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

static inline void log_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

static inline void log_end(struct tm_logline *l)
{
	log_line(NULL, tm_log_end(l));
}

/* `TAG event=EVENT reason=R detail=D`: a step that failed. */
static inline void log_failed(const char *tag, const char *event, const char *reason, const char *detail)
{
	struct tm_logline l;
	tm_log_begin(&l, tag);
	tm_log_add(&l, "event", event);
	tm_log_add(&l, "reason", reason);
	tm_log_add(&l, "detail", detail);
	log_end(&l);
}

/* The threads (serve_threads.c); each takes the struct serve. */
void *gw_serve_maildir_main(void *arg);
void *gw_serve_service_main(void *arg);
void *gw_serve_forward_main(void *arg);

#endif

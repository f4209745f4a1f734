/* telemail-mailgw — the daemon: listener + spool + pipeline (`serve`).
 *
 *   loop thread      listener (SMTP/LMTP sessions) → gw_spool_submit → 250
 *   spool thread     group commit (spool.c)
 *   pipeline thread  gw_replay_run_source over the spool: its worker pool
 *                    prepares, it commits in batches; on_result removes a
 *                    message from the spool only when its outcome is
 *                    committed (stored, duplicate, quarantined), else the
 *                    message is retried later with backoff
 *   maildir thread   (--maildir) moves delivered files into the spool; a
 *                    file over listen.max_message_size is quarantined
 *                    (io.too_large, its first octets kept: pipeline.h) on
 *                    the thread's own store and quarantine handles, then
 *                    removed
 *   service thread   every notify.every delivers due notifications
 *                    (gw_notify_run_once), every alerts.check_every raises
 *                    silent devices (gw_alerts_check_silence); its own
 *                    store handle and configuration copy
 *   web thread       (web: configured) the fleet page and /metrics
 *                    (web/server.h): its own event base and store handle;
 *                    /metrics reads the counters below, the listener's
 *                    and spool's as of the last tick (about a second old)
 *
 * The pipeline's threads (workers and writer) run at niceness
 * GW_SERVE_PIPELINE_NICE: on a busy machine the loop and spool threads, which
 * stand between a sender and its 250, get the CPU first; the spool holds the
 * backlog durably and the pipeline catches up when the senders pause.
 *
 * SIGTERM/SIGINT: stop accepting, finish sessions and in-flight work, exit.
 * SIGHUP: reload the configuration and keys (the registry lives in the
 * store and is always current); open sessions keep their settings. The
 * store, spool and listening addresses need a restart to change.
 * Logs: one key=value line per event on stderr. Every second the counters
 * go to <state_dir>/mailgw.status for `telemail-mailgw status`. */
#ifndef GW_SERVE_H
#define GW_SERVE_H

#include <stdbool.h>

struct gw_config;
struct tm_error;

struct gw_serve_options {
	const char *config_path;   /* for SIGHUP */
	struct gw_config *cfg;     /* loaded; ownership passes to gw_serve_run */
	const char *maildir;       /* NULL: no Maildir intake */
	unsigned workers;          /* 0: cfg->workers, or one per core */
};

/* Run until SIGTERM. 0 after a clean shutdown, -1 when it cannot start. */
int gw_serve_run(const struct gw_serve_options *o, struct tm_error *err);

/* The status file under the state directory. */
#define GW_SERVE_STATUS_FILE "mailgw.status"
#define GW_SERVE_PIPELINE_NICE 10

#endif

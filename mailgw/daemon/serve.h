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

/* Maildir intake (maildir.c): move each complete file of <dir>/new into the
 * spool (durably), then remove it. *moved counts them. A file larger than
 * max_size goes to too_large(ctx, path, name) instead, which returns 0 once
 * the file's outcome is committed (quarantined: the file is then removed),
 * or -1 (it stays, tried again at the next poll, and err says io.too_large
 * after the round). */
struct gw_spool;
typedef int (*gw_maildir_too_large_fn)(void *ctx, const char *path, const char *name);
int gw_maildir_poll(const char *dir, struct gw_spool *sp, size_t max_size,
		    gw_maildir_too_large_fn too_large, void *ctx, unsigned *moved,
		    struct tm_error *err);

#endif

/* telemail-mailgw — the SMTP and LMTP listeners: sockets, TLS and timers
 * around the session state machine (smtp_session.h), with libevent and
 * OpenSSL (bufferevent_openssl). libevent and OpenSSL types stay in
 * listener.c.
 *
 *   accept → client_networks (554) → connection limits (421) → session
 *   read → gw_smtp_session_feed → replies written in order (PIPELINING)
 *   MESSAGE → gw_spool_submit; the reply waits for the group commit
 *   STARTTLS → 220 flushed, unread plaintext dropped, TLS handshake on the
 *              same socket, session reset (EHLO again)
 *   timers: command and data timeouts restart on each complete line only,
 *           so a client sending one octet at a time cannot hold a session
 *   output: reading pauses while more than 256 KiB of replies are unsent
 *
 * One thread runs the event loop; the spool's callbacks come back to it
 * through a locked queue and a wake-up event. */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_listen_config;
struct gw_spool;
struct tm_error;

typedef void (*gw_listener_log_fn)(void *ctx, const char *line);

struct gw_listener_options {
	const struct gw_listen_config *cfg;   /* read at new/reload; copied */
	const char *const *mailboxes;         /* the gateway's recipients; copied */
	size_t n_mailboxes;
	struct gw_spool *spool;
	gw_listener_log_fn log;               /* one key=value line per event */
	void *log_ctx;
	void (*on_reload)(void *ctx);         /* SIGHUP, called on the loop thread */
	void (*on_tick)(void *ctx);           /* about once a second, on the loop thread */
	void *ctx;
};

/* Refusals by reason code (pointers into the reason table, whose entry
 * names the reply code): connections refused before a session, messages
 * refused in DATA or deferred by the spool. The first
 * GW_LISTENER_REFUSAL_KINDS reasons seen are counted; a later new one is
 * counted in refusals_other. */
#define GW_LISTENER_REFUSAL_KINDS 16

struct gw_listener_refusal {
	const char *reason;
	uint64_t n;
};

/* Refused command replies inside sessions, by command and reason (see
 * gw_smtp_session_take_refusals): the first GW_LISTENER_CMD_REFUSAL_KINDS
 * pairs seen are counted, later new ones in cmd_refusals_other. */
#define GW_LISTENER_CMD_REFUSAL_KINDS 32

struct gw_listener_cmd_refusal {
	const char *verb, *reason;   /* static */
	uint64_t n;
};

struct gw_listener_stats {
	uint64_t connections, refused_connections, sessions_now;
	uint64_t messages_accepted, messages_refused;
	struct gw_listener_refusal refusals[GW_LISTENER_REFUSAL_KINDS];
	size_t n_refusals;
	uint64_t refusals_other;
	struct gw_listener_cmd_refusal cmd_refusals[GW_LISTENER_CMD_REFUSAL_KINDS];
	size_t n_cmd_refusals;
	uint64_t cmd_refusals_other;
};

struct gw_listener;

/* Bind the sockets named by cfg (SMTP on address:port, LMTP on the unix
 * socket) and load the TLS certificate. Errors: io.open (bind, socket),
 * smime.key (certificate/key unusable). */
int gw_listener_new(const struct gw_listener_options *o, struct gw_listener **out,
		    struct tm_error *err);
/* Run the event loop until shutdown is complete (SIGTERM/SIGINT, or
 * gw_listener_shutdown). Returns 0. */
int gw_listener_run(struct gw_listener *l);
/* Stop accepting; sessions outside a transaction get 421 and close; the
 * rest finish or get 421 when timeouts.shutdown has passed. Safe from any
 * thread. */
void gw_listener_shutdown(struct gw_listener *l);
/* New settings (mailboxes, limits, timeouts, TLS certificate, networks) for
 * new sessions; open sessions keep theirs. Addresses and sockets do not
 * change (that needs a restart). Loop thread only (on_reload). */
int gw_listener_reload(struct gw_listener *l, const struct gw_listener_options *o,
		       struct tm_error *err);
void gw_listener_stats(const struct gw_listener *l, struct gw_listener_stats *st);
/* The bound SMTP port (useful with port 0 in tests); 0 when none. */
unsigned gw_listener_port(const struct gw_listener *l);
void gw_listener_free(struct gw_listener *l);

#endif

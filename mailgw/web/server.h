/* telemail-mailgw — the fleet page's HTTPS server: libevent's evhttp over
 * bufferevent_openssl, on an event base of its own (a thread of `serve`, or
 * the main thread of `telemail-mailgw web`). libevent and OpenSSL types stay
 * in server.c.
 *
 *   TLS 1.2 or 1.3 only, the listener's settings (no renegotiation); with
 *   web.client_ca, clients are asked for a certificate (optional: a token
 *   still works), verified against that CA, and mapped to a viewer by its
 *   SHA-256 in the tokens file (access.h).
 *   Authorization: Bearer TOKEN, or Basic with the token as the password
 *   (so a browser's own prompt, or https://user:TOKEN@host/, works without
 *   any script). No credential: 401 with WWW-Authenticate. /style.css is
 *   public; /metrics has its own rule (metrics.token_sha256, else loopback
 *   peers only).
 *   GET and HEAD only; limits: the request line and headers
 *   (web.max_request_size), the header count (web.max_headers: 431), no
 *   body, connections (web.max_connections: 503), web.timeout.
 *   Every answer: Content-Security-Policy default-src 'none'; style-src
 *   'self'; img-src 'self' data:; form-action 'self'; frame-ancestors
 *   'none'; base-uri 'none', X-Content-Type-Options nosniff, Referrer-Policy
 *   no-referrer, Cache-Control no-store.
 *   One key=value log line per request (method, path, status, tenant,
 *   milliseconds); never a token or a query string. The tokens file is read
 *   again when its modification time changes. */
#ifndef GW_WEB_SERVER_H
#define GW_WEB_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "web/metrics.h"

struct gw_web_config;
struct tm_error;

typedef void (*gw_web_log_fn)(void *ctx, const char *line);

struct gw_web_options {
	const struct gw_web_config *cfg;      /* copied */
	struct gw_store_options store;        /* the page's own store handle (read only) */
	bool quarantine;                      /* the quarantine page (store.quarantine_dir) */
	int64_t silence, estimate_after;      /* alerts.silence, billing.estimate_after */
	const char *const *fwd_endpoints;     /* forward.endpoints' names (copied) */
	size_t n_fwd_endpoints;               /* 0: forwarding off */
	gw_web_runtime_fn runtime;            /* NULL: no runtime metrics (standalone) */
	void *runtime_ctx;
	gw_web_log_fn log;
	void *log_ctx;
};

struct gw_web;

/* Bind the socket, load the certificate (and client CA), open the store
 * and the quarantine. io.open, smime.key, store.*. */
int gw_web_new(const struct gw_web_options *o, struct gw_web **out, struct tm_error *err);
/* The bound port (web.listen with port 0 in tests). */
unsigned gw_web_port(const struct gw_web *w);
/* Serve on the calling thread until gw_web_stop. */
int gw_web_run(struct gw_web *w);
/* Serve on a thread of its own (`tm-web`). */
int gw_web_start(struct gw_web *w, struct tm_error *err);
/* Stop serving (any thread); joins the thread gw_web_start started. */
void gw_web_stop(struct gw_web *w);
void gw_web_free(struct gw_web *w);

#endif

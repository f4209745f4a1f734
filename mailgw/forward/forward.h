/* telemail-mailgw — forwarding normalized records to the cloud store over
 * HTTPS (issue 17; DESIGN.md "Forwarding").
 *
 * What it promises. Every stored report, every alert transition (opened,
 * updated, resolved, acknowledged) and, per endpoint, each report's meter
 * reading reaches each configured endpoint that wants it at least once, as
 * a CloudEvents 1.0 JSON event whose `id` is the report id or the
 * transition id, so a receiver that deduplicates by id sees each event
 * once. The event was queued in the store transaction that stored its
 * record (store.h, the outbox): nothing stored is left unqueued, nothing
 * queued was not stored.
 *
 * How. Per endpoint, one pass (gw_forward_run_once; the daemon's forwarder
 * thread every forward.every, or `telemail-mailgw forward run-once`):
 * fan the new outbox events out into the endpoint's items (tenant subtree
 * and event filter), then claim batches (count and bytes bounded, leased,
 * never two batches of one device in flight, so a device's events arrive in
 * order) and POST each as application/cloudevents-batch+json or NDJSON,
 * gzip'd when configured, with an Idempotency-Key that stays the same on
 * every retry of that batch. A network error, a TLS failure, 408, 429 and
 * 5xx are transient: the batch waits a full-jitter exponential backoff
 * (Retry-After honoured) and blocks later events of its devices only. Any
 * other 4xx is permanent: the batch's items go to the dead-letter list with
 * the reply, and the rest flows on. TLS is always verified; tokens and keys
 * are never logged.
 *
 * Modules: forward.c (this: the queue logic), forward_event.c (the
 * CloudEvents encoder), forward_http.c (the sender over libcurl). */
#ifndef GW_FORWARD_H
#define GW_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>

#include "store/store.h"

struct gw_forward_config;
struct gw_forward_endpoint;
struct gw_service_config;
struct tm_error;

/* A log sink: one key=value line (telemail/log.h). NULL: no log. */
typedef void (*gw_forward_log_fn)(void *ctx, const char *line);

struct gw_forward_run {
	const struct gw_forward_config *cfg;
	const struct gw_service_config *svc;   /* for the forward_backlog alert; NULL: defaults */
	const char *owner;        /* lease owner (this process); NULL: host:pid */
	int64_t now;              /* 0: time(NULL) for each batch */
	size_t max_batches;       /* per endpoint and pass; 0: until nothing is due */
	gw_forward_log_fn log;
	void *log_ctx;
	volatile int *stop;       /* non-NULL and set: stop after the current batch */
};

struct gw_forward_counts {
	size_t queued;     /* items made by the fan-out */
	size_t batches;    /* POSTs */
	size_t sent;       /* items accepted */
	size_t retried;    /* batches to retry */
	size_t dead;       /* items dead-lettered */
};

/* One pass over every endpoint. 0 when the queue was walked (deliveries may
 * have failed and been rescheduled: see counts), -1 when the store failed. */
int gw_forward_run_once(struct gw_store *st, const struct gw_forward_run *r,
			struct gw_forward_counts *counts, struct tm_error *err);

/* ---- the parts, for the tests ---- */

/* CloudEvents of a batch: a JSON array, or one event per line (ndjson). */
int gw_forward_encode(const struct gw_fwd_item *items, size_t n, const char *gateway, bool ndjson,
		      struct tm_buf *out, struct tm_error *err);

/* The outcome of one POST. */
struct gw_forward_reply {
	long status;              /* HTTP status; 0: none (network or TLS error) */
	int64_t retry_after;      /* seconds from Retry-After (0: none) */
	char body[256];           /* the start of the reply (kept for the dead list) */
};

/* POST body to e; 0 (2xx), or -1 with err forward.unavailable / forward.tls
 * (transient) or forward.rejected / forward.secret (permanent). */
int gw_forward_post(const struct gw_forward_endpoint *e, const void *body, size_t len,
		    bool ndjson, const char *idempotency_key, struct gw_forward_reply *reply,
		    struct tm_error *err);

/* The wait before retry n (>= 1) of e: uniform in [1, min(max_backoff,
 * backoff * 2^(n-1))] seconds ("full jitter", floored at one second so a
 * pass never retakes the batch it just failed), at least retry_after. */
int64_t gw_forward_backoff(const struct gw_forward_endpoint *e, int64_t attempts,
			   int64_t retry_after);

#endif

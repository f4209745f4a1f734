/* telemail-mailgw — notifications of alert transitions to the service team.
 *
 * A durable queue (store table svc_notify): each alert transition (opened,
 * resolved) is queued once per configured channel, in the transaction that
 * made the transition (UNIQUE alert + event + channel: never queued twice).
 * `telemail-mailgw notify run-once` (the daemon calls it periodically)
 * delivers what is due:
 *
 *   email    critical alerts at once, one mail each, at most
 *            notify.throttle.max per kind per notify.throttle.per (more go
 *            into the digest); everything else in one digest mail once the
 *            oldest waiting entry is notify.digest_interval old. libesmtp,
 *            STARTTLS required and verified (CA file, host name) unless
 *            notify.email.starttls: off.
 *   webhook  one POST per notification, JSON body, header
 *            X-Telemail-Signature: sha256=<HMAC-SHA256 of the body, hex>
 *            keyed with the secret file's bytes, and X-Telemail-Delivery:
 *            <queue id> (stable across retries, for receivers to dedupe).
 *            A non-2xx answer or a transport error is retried with
 *            exponential backoff (notify.webhook.backoff doubled per attempt)
 *            until notify.webhook.retries attempts, then `failed`.
 *
 * A row is marked sent right after the target accepted it; a crash between
 * the two resends it once (at-least-once; the delivery id tells). */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct gw_service_config;
struct tm_error;

/* Queue the transition `event` ("opened" / "resolved") of alert a for every
 * configured channel (none configured: nothing). Inside the caller's
 * transaction. */
int gw_notify_enqueue(struct gw_store *st, const struct gw_service_config *svc,
		      const struct gw_alert_row *a, const char *event, int64_t now,
		      struct tm_error *err);

struct gw_notify_counts {
	size_t mailed;      /* immediate mails */
	size_t digests;     /* digest mails */
	size_t digested;    /* notifications carried by them */
	size_t posted;      /* webhook deliveries */
	size_t retried;     /* attempts that failed and will be retried */
	size_t failed;      /* gave up */
};

/* Deliver what is due at `now`. Returns 0 when the queue was walked (single
 * deliveries may have failed and been rescheduled: see counts), -1 when the
 * store failed. */
int gw_notify_run_once(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		       struct gw_notify_counts *counts, struct tm_error *err);

#endif

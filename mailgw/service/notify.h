/* telemail-mailgw — notifications of alert transitions to the service team.
 *
 * A durable queue (store table svc_notify): each alert transition (opened,
 * resolved) is queued once per configured channel (gw_notify_enqueue, in
 * alerts.c), in the transaction that made the transition (UNIQUE alert +
 * event + channel: never queued twice).
 * `telemail-mailgw notify run-once` (the daemon calls it periodically)
 * delivers what is due:
 *
 *   email    critical alerts at once, one mail each, at most
 *            notify.throttle.max per kind per notify.throttle.per (more go
 *            into the digest); everything else in one digest mail once the
 *            oldest waiting entry is notify.digest_interval old. Sent
 *            through the SMTP client (telemail/smtpc.h): STARTTLS required
 *            and verified (CA file, host name) unless notify.email.starttls: off.
 *   webhook  one POST per notification, JSON body, header
 *            X-Telemail-Signature: sha256=<HMAC-SHA256 of the body, hex>
 *            keyed with the secret file's bytes, and X-Telemail-Delivery:
 *            <queue id> (stable across retries, for receivers to dedupe).
 *
 * Each channel retries a failed delivery by its own policy
 * (gw_retry_policy: notify.email.* and notify.webhook.* retries, backoff,
 * max_backoff, give_up_after). E-mail by default never gives up by count:
 * 1 minute doubling to at most 10 minutes, for 7 days, so a relay down over
 * a long weekend loses nothing; the webhook by default 5 attempts (1 minute
 * doubling), or 7 days. While the relay cannot be reached (connect, TLS,
 * certificate), one run tries it once and counts the other due mails as
 * failed attempts too. A notification that ran out of its policy is
 * `failed`: counted by `telemail-mailgw status` (per channel: queued,
 * failed, oldest), raising the gateway alert notify_failing [channel]
 * (resolved once the channel has no failed one left), listed by
 * `notify list --failed` and queued again by `notify retry ID|--all`.
 *
 * A row is marked sent right after the target accepted it; a crash between
 * the two resends it once (at-least-once; the delivery id tells). */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct gw_service_config;
struct tm_error;

enum gw_notify_channel { GW_NOTIFY_EMAIL, GW_NOTIFY_WEBHOOK, GW_NOTIFY_CHANNELS };

/* "email", "webhook" (the svc_notify.channel values). */
const char *gw_notify_channel_name(enum gw_notify_channel ch);

/* The channel's retry policy, and the wait after the n-th failed attempt:
 * backoff * 2^(attempts-1), at most max_backoff. */
struct gw_retry_policy;
const struct gw_retry_policy *gw_notify_policy(const struct gw_service_config *svc,
					       enum gw_notify_channel ch);
int64_t gw_notify_backoff(const struct gw_retry_policy *p, int64_t attempts);

struct gw_notify_counts {
	size_t mailed;      /* immediate mails */
	size_t digests;     /* digest mails */
	size_t digested;    /* notifications carried by them */
	size_t posted;      /* webhook deliveries */
	size_t retried;     /* attempts that failed and will be retried */
	size_t failed;      /* gave up */
	size_t failed_by[GW_NOTIFY_CHANNELS];   /* the same, per channel */
	size_t claimed;     /* due notifications this run leased (the others: another
			     * gateway's, or none due) */
};

/* Deliver what is due at `now`. Several gateways on one database share the
 * queue out: a run first claims the due notifications for notify.lease
 * (gw_store_notify_claim: on PostgreSQL, SELECT … FOR UPDATE SKIP LOCKED, so
 * two gateways never hold the same row), delivers only what it claimed,
 * stops delivering before the lease runs out, and releases what it did
 * not deliver. A gateway killed mid-run leaves its claims to run out: then
 * any gateway takes them (a row it had sent but not yet marked is sent
 * again once: at least once, the delivery id tells). Returns 0 when the
 * queue was walked (single deliveries may have failed and been rescheduled:
 * see counts), -1 when the store failed. */
int gw_notify_run_once(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		       struct gw_notify_counts *counts, struct tm_error *err);

/* The claims' owner: this process, "host:pid". */
#define GW_NOTIFY_OWNER_MAX 256
void gw_notify_owner(char out[GW_NOTIFY_OWNER_MAX]);

/* What is waiting, per channel (index enum gw_notify_channel). */
struct gw_notify_channel_stats {
	size_t queued;           /* pending: will be tried */
	size_t failed;           /* given up */
	int64_t oldest_queued;   /* created_at of the oldest (0: none) */
	int64_t oldest_failed;
	char last_error[256];    /* of the newest one that has one */
};
int gw_notify_stats(struct gw_store *st, struct gw_notify_channel_stats out[GW_NOTIFY_CHANNELS],
		    struct tm_error *err);

/* Queue failed notification `id` again (0: every failed one), with a fresh
 * retry budget (attempts 0, created_at now), due at once; an audit entry
 * per notification (actor NULL: the local user), one transaction.
 * notify.not_found, notify.bad_state (not failed). */
int gw_notify_retry(struct gw_store *st, int64_t id, const char *actor, int64_t now,
		    size_t *requeued, struct tm_error *err);

#endif

/* telemail-mailgw — service alerts: what the service team acts on.
 *
 * Evaluated as each report is stored, in the same transaction as the
 * report (gw_alerts_on_stored, called by gw_pipeline_commit), and on a
 * timer for silence (gw_alerts_check_silence). Only a report that is the
 * device's newest seq is evaluated, so late and out-of-order mail never
 * raises a false alert. What the newest report said is kept per device as
 * marks (store ops mark_list / mark_set_many, or mark_get /
 * mark_set one at a time) to compare the next one against.
 *
 * Kinds (subject in brackets):
 *   supply_low [type/colorant#index]    level at or under the threshold
 *                                       (alerts.supply_low), or "some remaining"
 *   supply_empty [same]                 level 0                        (critical)
 *   supply_replaced [same]              level rose by >= 20 points: resolves
 *                                       the low / empty alerts (an event)
 *   supply_order [same]                 a replenishment order was opened
 *                                       (supply.h); resolved when the order is
 *                                       installed or cancelled
 *   meter_suspect [service/name]        a reading broke a meter rule (billing.h:
 *                                       backwards, too_fast); resolved when an
 *                                       operator accepts or excludes it
 *   condition [name]                    hrPrinterDetectedErrorState condition
 *                                       (critical for service-stopping ones)
 *   device_alert [code[/sub_code]]      a critical alert in the report (critical)
 *   part_life [part name]               used >= part_life_percent of rated life
 *   counter_reset [service/name]        a counter went backwards (event)
 *   counter_wrap [service/name]         a counter wrapped at 2^31 or 2^32 (event)
 *   firmware_changed [component]        a firmware version changed (event, info)
 *   outbox_gap [outbox]                 the agent lost reports from its outbox (event)
 *   device_silent [device]              no report for longer than alerts.silence
 *                                       while its collector (if any) keeps
 *                                       reporting: unreachable from it
 *   device_never_reported [device]      enrolled longer than alerts.silence ago,
 *                                       never reported (info)
 *   collector_silent [fingerprint]      serial "collector", the collector
 *                                       certificate's tenant: its heartbeat (its
 *                                       newest report with a collector section)
 *                                       is older than alerts.silence; its devices
 *                                       get no device_silent of their own while it
 *                                       is silent (alerts_silence.c)
 *   identity_conflict [certificates]    two certificates sign reports for the
 *                                       serial in overlapping spans of report time
 *                                       (both fingerprints in the detail; an event)
 *                                       (alerts_identity.c)
 *   notify_failing [email|webhook]      the gateway's own (serial "gateway", no
 *                                       tenant): a channel gave up notifications;
 *                                       resolved once none of it is failed
 *
 * Lifecycle: open → acknowledged → resolved; at most one active (open or
 * acknowledged) alert per device + kind + subject, counting repeats with
 * first / last seen. Conditions resolve themselves when a newer report no
 * longer shows them; events (marked above) are resolved by acknowledging.
 * Every open and resolve queues its notifications (notify.h) in the same
 * transaction. */
#ifndef GW_ALERTS_H
#define GW_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct gw_service_config;
struct tm_error;
struct tm_report;

/* Evaluating one report loads its device's marks and active alerts once (at
 * most these many), answers lookups from memory and writes only what changed
 * (a mark whose value stayed gets its seq set, in one statement for all).
 * A device with more, or an evaluation that would grow past them, falls back
 * to a store call per lookup and per write: the same rows, more statements. */
#define GW_ALERTS_MARKS_MAX 256
#define GW_ALERTS_ACTIVE_MAX 128

/* The pipeline hook, inside the batch transaction, after a put that
 * answered STORED: evaluates alerts when info->newest, and appends the
 * audit entry of the ingest. svc NULL: defaults. */
int gw_alerts_on_stored(struct gw_store *st, const struct gw_service_config *svc,
			const struct gw_store_record *rec, const struct gw_put_info *info,
			int64_t now, struct tm_error *err);

/* The same in steps, so that its reads go with the put (the pipeline):
 * prepare before the put, set rec->reads to gw_alerts_reads (a back end
 * may answer them in the put's last round trip), put, then run with the
 * put's info (it asks the reads itself when the put did not answer them),
 * free. rec must stay as it is from prepare to run. */
struct gw_alerts_prep;
int gw_alerts_prepare(struct gw_store *st, const struct gw_service_config *svc,
		      const struct gw_store_record *rec, int64_t now, struct gw_alerts_prep **out,
		      struct tm_error *err);
struct gw_report_reads *gw_alerts_reads(struct gw_alerts_prep *p);
int gw_alerts_run(struct gw_alerts_prep *p, const struct gw_put_info *info, struct tm_error *err);
void gw_alerts_prep_free(struct gw_alerts_prep *p);

struct gw_silence_counts {
	size_t silent, never, resolved;
	size_t collectors_silent;   /* collector_silent raised or counted again */
	size_t folded;              /* devices behind a silent collector: no alert of their own */
	size_t collectors_resolved;
	bool skipped;   /* another gateway holds the check: nothing done here */
};

/* Two levels of silence as of `now` (alerts_silence.c), one transaction:
 *   - a collector whose heartbeat (its newest report with a collector
 *     section) is older than alerts.silence is ONE alert, collector_silent,
 *     and the devices bound to it (and to no collector still reporting)
 *     get no device_silent / device_never_reported while it is silent;
 *   - any other device gets device_silent / device_never_reported as
 *     before (a device a reporting collector cannot reach);
 *   - both resolve when reports come again (here, and device_silent also
 *     as the device's report is stored, collector_silent as the
 *     collector's report with a collector section is).
 * A collector that never sent a collector section, or a revoked one, has
 * no heartbeat: its devices are judged one by one. The daemon calls this
 * periodically (`telemail-mailgw alerts check-silence`). It runs on one
 * gateway at a time: only where the store's singleton "silence" is held
 * (gw_store_try_singleton: on PostgreSQL the gateway that took it first
 * keeps it for as long as its connection lives; SQLite: always); elsewhere
 * counts->skipped and nothing is read or written. */
int gw_alerts_check_silence(struct gw_store *st, const struct gw_service_config *svc,
			    int64_t now, struct gw_silence_counts *counts, struct tm_error *err);

/* The pipeline hook's part for a stored report with a collector section
 * signed by `fingerprint`, generated at `at`: resolves that collector's
 * collector_silent, unless the report is older than alerts.silence (a late
 * one says nothing about now). Inside the caller's transaction. */
int gw_alerts_collector_heard(struct gw_store *st, const struct gw_service_config *svc,
			      const char *fingerprint, const char *tenant, int64_t at, int64_t now,
			      struct tm_error *err);

/* The pipeline hook's part for every stored report (late ones too), inside
 * the caller's transaction: keeps the span of report time the signer
 * certificate signed for the serial (the device's mark "cert:<fingerprint>")
 * and raises identity_conflict [certificates] (critical; an event: resolved
 * by acknowledging) when another certificate's span overlaps it. A renewed
 * certificate's span follows the old one's and raises nothing
 * (alerts_identity.c). */
struct gw_alerts_device;
/* dev non-NULL: the device's marks as loaded for the report's evaluation
 * (read and written there, one read and one write for both); NULL: the
 * store's. */
int gw_alerts_identity_on_stored(struct gw_store *st, const struct gw_service_config *svc,
				 const struct gw_store_record *rec, struct gw_alerts_device *dev,
				 int64_t now, struct tm_error *err);

/* Whom an alert set outside a report's evaluation is about. */
#define GW_ALERTS_COLLECTOR "collector"   /* the serial of collector_silent alerts */
struct gw_alerts_target {
	const char *serial;      /* a device, GW_ALERTS_COLLECTOR or GW_ALERTS_GATEWAY */
	const char *tenant;      /* "" for the gateway's own */
	const char *report_id;   /* NULL: none */
	int64_t seq;
	int64_t at;              /* first / last seen, resolved at */
	int64_t now;             /* the gateway clock (queue times) */
};

/* Inside the caller's transaction: raise (or count again) the alert of
 * kind and subject with severity and detail, or with severity NULL resolve
 * it if it is active; notifications and forwarding as for any alert. */
int gw_alerts_set(struct gw_store *st, const struct gw_service_config *svc,
		  const struct gw_alerts_target *t, const char *kind, const char *subject,
		  const char *severity, const char *detail, struct tm_error *err);

/* Acknowledge (events: resolve) alert `id`, with an audit entry, in one
 * transaction. alert.not_found; alert.bad_state when already resolved or
 * acknowledged. */
int gw_alerts_ack(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
		  const char *actor, int64_t now, struct tm_error *err);

/* notify_failing of `channel` (notify.c, after each run): raised, or its
 * repeat counted, when the run gave up `gave_up` > 0 notifications; resolved
 * when the channel has `failed` == 0 left. One transaction when it writes. */
#define GW_ALERTS_GATEWAY "gateway"
int gw_alerts_notify_failing(struct gw_store *st, const struct gw_service_config *svc,
			     const char *channel, size_t gave_up, size_t failed, const char *detail,
			     int64_t now, struct tm_error *err);

/* A gateway alert (serial GW_ALERTS_GATEWAY) of kind and subject: raised
 * (or its repeat counted) when `raise`, else resolved if active; one
 * transaction when it writes. notify_failing and forward_backlog. */
int gw_alerts_gateway_set(struct gw_store *st, const struct gw_service_config *svc,
			  const char *kind, const char *subject, bool raise, const char *detail,
			  int64_t now, struct tm_error *err);

/* Queue the transition `event` (opened, updated, resolved, acknowledged) of
 * alert a in the forwarding outbox, inside the caller's transaction (the
 * transition's own); nothing when forwarding is off or the alert has no
 * tenant (the gateway's own). The event id is the transition id
 * "alert-<id>-<event>" ("alert-<id>-updated-<count>" for a repeat);
 * alerts_forward.c. */
int gw_alerts_forward(struct gw_store *st, const struct gw_alert_row *a, const char *event,
		      int64_t now, struct tm_error *err);

/* Every alert (active_only: open and acknowledged), oldest first, as a
 * malloc'd array. */
int gw_alerts_list(struct gw_store *st, bool active_only, struct gw_alert_row **out, size_t *n,
		   struct tm_error *err);

#endif

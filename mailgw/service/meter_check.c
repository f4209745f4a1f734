/* telemail-mailgw — meter validation as reports arrive (see meter_check.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "service/meter_check.h"
#include "service/alerts_device.h"
#include "service/billing.h"
#include "service/notify_queue.h"
#include "store/audit.h"

static int raise(struct gw_store *st, const struct gw_service_config *svc,
		 const struct gw_store_record *rec, const char *counter, const char *detail,
		 int64_t at, int64_t now, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	struct gw_alerts_device dev;   /* nothing loaded: one store call per lookup */
	gw_alerts_device_init(&dev, st, r->serial, r->seq);
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_alerts_device_find(&dev, "meter_suspect", counter, &a, &found, err);
	if (rc == GW_STORE_OK && found) {
		if (at > a.last_seen)
			a.last_seen = at;
		a.count++;
		snprintf(a.detail, sizeof(a.detail), "%s", detail);
		snprintf(a.report_id, sizeof(a.report_id), "%s", r->id);
		rc = gw_alerts_device_repeat(&dev, &a, err);
	} else if (rc == GW_STORE_OK) {
		memset(&a, 0, sizeof(a));
		snprintf(a.serial, sizeof(a.serial), "%s", r->serial);
		snprintf(a.tenant, sizeof(a.tenant), "%s", rec->tenant);
		snprintf(a.kind, sizeof(a.kind), "meter_suspect");
		snprintf(a.subject, sizeof(a.subject), "%s", counter);
		snprintf(a.severity, sizeof(a.severity), "warning");
		snprintf(a.detail, sizeof(a.detail), "%s", detail);
		snprintf(a.report_id, sizeof(a.report_id), "%s", r->id);
		a.state = GW_ALERT_OPEN;
		a.first_seen = a.last_seen = at;
		a.count = 1;
		rc = gw_alerts_device_insert(&dev, &a, err);
		if (rc == GW_STORE_OK)
			rc = gw_notify_enqueue(st, svc, &a, "opened", now, err);
	}
	gw_alerts_device_fini(&dev);
	return rc;
}

/* One counter of the report: its steps from the reading before and to the
 * reading after. */
static int check_counter(struct gw_store *st, const struct gw_service_config *svc,
			 const struct gw_store_record *rec, int64_t at, int32_t nsec,
			 const char *service, const char *name, int64_t value, int64_t now,
			 struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	struct gw_meter_row prev, next;
	bool has_prev = false, has_next = false;
	int rc = gw_store_meter_adjacent(st, r->serial, service, name, at, nsec, r->seq, false,
					 &prev, &has_prev, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_meter_adjacent(st, r->serial, service, name, at, nsec, r->seq, true,
					     &next, &has_next, err);
	if (rc != GW_STORE_OK)
		return rc;
	char counter[GW_ALERT_SUBJECT_MAX], detail[GW_ALERT_DETAIL_MAX];
	snprintf(counter, sizeof(counter), "%.15s/%.100s", service, name);
	const char *rule;
	if (has_prev && (rule = gw_billing_check_step(prev.value, prev.at, value, at, GW_BILLING_PPM)) != NULL) {
		snprintf(detail, sizeof(detail),
			 "reading %.64s:%" PRId64 ":%.100s: %s (%" PRId64 " after %" PRId64 ")",
			 r->serial, r->seq, counter, rule, value, prev.value);
		rc = raise(st, svc, rec, counter, detail, at, now, err);
	}
	if (rc == GW_STORE_OK && has_next &&
	    (rule = gw_billing_check_step(value, at, next.value, next.at, GW_BILLING_PPM)) != NULL) {
		snprintf(detail, sizeof(detail),
			 "reading %.64s:%" PRId64 ":%.100s: %s (%" PRId64 " after %" PRId64 ")",
			 next.serial, next.seq, counter, rule, next.value, value);
		rc = raise(st, svc, rec, counter, detail, at, now, err);
	}
	return rc;
}

int gw_meter_check_on_stored(struct gw_store *st, const struct gw_service_config *svc,
			     const struct gw_store_record *rec, int64_t now, struct tm_error *err)
{
	static const char *const names[] = {
		"impressions", "impressions_monochrome", "impressions_full_color",
		"impressions_two_sided", "sheets", "sheets_two_sided", "images",
	};
	const struct tm_report *r = rec->report;
	if (!r->has_counters)
		return GW_STORE_OK;
	int64_t at;
	int32_t nsec;
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &at, &nsec, err) < 0)
		return GW_STORE_ERROR;
	int rc = GW_STORE_OK;
	for (int svc_i = 0; svc_i < TM_SVC_COUNT && rc == GW_STORE_OK; svc_i++) {
		if (!r->has_service[svc_i])
			continue;
		const struct tm_counter_set *c = &r->service[svc_i];
		const int64_t v[] = {
			c->impressions, c->impressions_monochrome, c->impressions_full_color,
			c->impressions_two_sided, c->sheets, c->sheets_two_sided, c->images,
		};
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]) && rc == GW_STORE_OK; k++)
			if (v[k] != TM_UNSET)
				rc = check_counter(st, svc, rec, at, nsec,
						   tm_counter_service_name((enum tm_counter_service)svc_i),
						   names[k], v[k], now, err);
	}
	for (size_t i = 0; i < r->n_vendor && rc == GW_STORE_OK; i++)
		rc = check_counter(st, svc, rec, at, nsec, "vendor", r->vendor[i].id,
				   r->vendor[i].value, now, err);
	return rc;
}

int gw_meter_check_settled(struct gw_store *st, const struct gw_service_config *svc,
			   const char *serial, const char *counter, int64_t now,
			   struct tm_error *err)
{
	struct gw_alerts_device dev;
	gw_alerts_device_init(&dev, st, serial, 0);
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_alerts_device_find(&dev, "meter_suspect", counter, &a, &found, err);
	if (rc == GW_STORE_OK && found) {
		a.state = GW_ALERT_RESOLVED;
		a.resolved_at = now;
		rc = gw_alerts_device_update(&dev, &a, err);
		if (rc == GW_STORE_OK)
			rc = gw_notify_enqueue(st, svc, &a, "resolved", now, err);
	}
	gw_alerts_device_fini(&dev);
	return rc;
}

int gw_meter_decide(struct gw_store *st, const struct gw_service_config *svc,
		    const char *reading, bool exclude, const char *actor, int64_t now,
		    struct tm_error *err)
{
	struct gw_meter_decision_row d = { .exclude = exclude, .at = now };
	const char *c1 = reading != NULL ? strchr(reading, ':') : NULL;
	const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	char *end = NULL;
	if (c2 != NULL) {
		d.seq = strtoll(c1 + 1, &end, 10);
	}
	if (c2 == NULL || end != c2 || d.seq < 1 || c1 == reading || (size_t)(c1 - reading) > GW_NAME_MAX ||
	    c2[1] == '\0' || strlen(c2 + 1) >= sizeof(d.counter))
		return tm_error_set(err, "billing.bad_reading",
				    "reading '%.100s': want SERIAL:SEQ:COUNTER (as billing flags it)",
				    reading != NULL ? reading : "");
	memcpy(d.serial, reading, (size_t)(c1 - reading));
	snprintf(d.counter, sizeof(d.counter), "%s", c2 + 1);
	char local[64];
	if (actor == NULL) {
		gw_audit_actor_local(local);
		actor = local;
	}
	snprintf(d.actor, sizeof(d.actor), "%s", actor);
	/* the counter is "service/name" ("vendor/101": service vendor, name 101) */
	char service[16];
	const char *slash = strchr(d.counter, '/');
	if (slash == NULL || (size_t)(slash - d.counter) >= sizeof(service))
		return tm_error_set(err, "billing.bad_reading", "reading '%.100s': no such reading",
				    reading);
	memcpy(service, d.counter, (size_t)(slash - d.counter));
	service[slash - d.counter] = '\0';
	struct gw_meter_row m;
	bool found = false;
	int rc = gw_store_meter_get(st, d.serial, d.seq, service, slash + 1, &m, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (!found)
		return tm_error_set(err, "billing.bad_reading", "reading '%.100s': no such reading",
				    reading);
	rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_store_meter_decision_set(st, &d, err);
	if (rc == GW_STORE_OK) {
		char object[160];
		snprintf(object, sizeof(object), "reading %.64s:%" PRId64 ":%.60s", d.serial, d.seq,
			 d.counter);
		rc = gw_audit_append(st, actor, exclude ? "meter.exclude" : "meter.accept", object,
				     m.tenant, NULL, NULL, now, err);
	}
	if (rc == GW_STORE_OK)
		rc = gw_meter_check_settled(st, svc, d.serial, d.counter, now, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

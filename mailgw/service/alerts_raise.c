/* telemail-mailgw — raising and resolving one alert (see alerts_private.h
 * and alerts.h, gw_alerts_set). */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>

#include "config/config_service.h"
#include "service/alerts.h"
#include "service/alerts_private.h"
#include "service/notify_queue.h"

static int sev_rank(const char *s)
{
	return strcmp(s, "critical") == 0 ? 2 : strcmp(s, "warning") == 0 ? 1 : 0;
}

/* Open an alert, or count a repeat of the active one. */
int gw_alerts_eval_raise(const struct gw_alerts_eval *e, const char *kind, const char *subject,
			 const char *severity, const char *detail)
{
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_alerts_device_find(e->dev, kind, subject, &a, &found, e->err);
	if (rc != GW_STORE_OK)
		return rc;
	if (found) {
		if (e->at > a.last_seen)
			a.last_seen = e->at;
		a.count++;
		if (sev_rank(severity) > sev_rank(a.severity))
			TEXT_COPY(a.severity, severity);
		TEXT_COPY(a.detail, detail);
		TEXT_COPY(a.report_id, e->report_id ? e->report_id : "");
		rc = gw_alerts_device_repeat(e->dev, &a, e->err);
		if (rc == GW_STORE_OK)
			rc = gw_alerts_forward(e->st, &a, "updated", e->now, e->err);
		return rc;
	}
	memset(&a, 0, sizeof(a));
	TEXT_COPY(a.serial, e->serial);
	TEXT_COPY(a.tenant, e->tenant);
	TEXT_COPY(a.kind, kind);
	TEXT_COPY(a.subject, subject);
	TEXT_COPY(a.severity, severity);
	TEXT_COPY(a.detail, detail);
	TEXT_COPY(a.report_id, e->report_id ? e->report_id : "");
	a.state = GW_ALERT_OPEN;
	a.first_seen = a.last_seen = e->at;
	a.count = 1;
	rc = gw_alerts_device_insert(e->dev, &a, e->err);
	if (rc == GW_STORE_OK)
		rc = gw_notify_enqueue(e->st, e->svc, &a, "opened", e->now, e->err);
	if (rc == GW_STORE_OK)
		rc = gw_alerts_forward(e->st, &a, "opened", e->now, e->err);
	return rc;
}

/* Resolve the active alert of this kind and subject, if there is one. */
int gw_alerts_eval_resolve(const struct gw_alerts_eval *e, const char *kind, const char *subject)
{
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_alerts_device_find(e->dev, kind, subject, &a, &found, e->err);
	if (rc != GW_STORE_OK || !found)
		return rc;
	a.state = GW_ALERT_RESOLVED;
	a.resolved_at = e->at;
	rc = gw_alerts_device_update(e->dev, &a, e->err);
	if (rc == GW_STORE_OK)
		rc = gw_notify_enqueue(e->st, e->svc, &a, "resolved", e->now, e->err);
	if (rc == GW_STORE_OK)
		rc = gw_alerts_forward(e->st, &a, "resolved", e->now, e->err);
	return rc;
}

/* ---- one alert of a device, a collector or the gateway, outside an evaluation ---- */

int gw_alerts_set(struct gw_store *st, const struct gw_service_config *svc,
		  const struct gw_alerts_target *t, const char *kind, const char *subject,
		  const char *severity, const char *detail, struct tm_error *err)
{
	struct gw_service_config defaults;
	if (svc == NULL) {
		gw_service_config_defaults(&defaults);
		svc = &defaults;
	}
	struct gw_alerts_device dev;   /* nothing loaded: one store call per lookup */
	gw_alerts_device_init(&dev, st, t->serial, t->seq);
	struct gw_alerts_eval e = {
		.st = st, .dev = &dev, .svc = svc, .serial = t->serial, .tenant = t->tenant,
		.report_id = t->report_id, .seq = t->seq, .at = t->at, .now = t->now, .err = err,
	};
	int rc = severity != NULL ? gw_alerts_eval_raise(&e, kind, subject, severity, detail)
				  : gw_alerts_eval_resolve(&e, kind, subject);
	gw_alerts_device_fini(&dev);
	return rc;
}

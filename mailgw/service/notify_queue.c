/* telemail-mailgw — an alert's transitions into the notification queue (see
 * notify_queue.h): what the alerts, the supply orders and the meter checks
 * raise, queued per configured channel for notify.c to deliver. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <telemail/error.h>

#include "config/config_service.h"
#include "service/notify_queue.h"
#include "store/store.h"

static int payload(const struct gw_alert_row *a, const char *event, char *out, size_t cap,
		   struct tm_error *err)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
			      "alert", (json_int_t)a->id, "event", event, "kind", a->kind,
			      "subject", a->subject, "severity", a->severity,
			      "state", gw_alert_state_name(a->state), "serial", a->serial,
			      "tenant", a->tenant, "detail", a->detail,
			      "first_seen", (json_int_t)a->first_seen,
			      "last_seen", (json_int_t)a->last_seen, "count", (json_int_t)a->count);
	if (j == NULL)
		return tm_error_set(err, "internal.nomem", "notify: cannot build the payload");
	size_t n = json_dumpb(j, out, cap - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (n == 0 || n >= cap - 1)
		return tm_error_set(err, "internal.bug", "notify: payload larger than %zu bytes", cap);
	out[n] = '\0';
	return 0;
}

int gw_notify_enqueue(struct gw_store *st, const struct gw_service_config *svc,
		      const struct gw_alert_row *a, const char *event, int64_t now,
		      struct tm_error *err)
{
	const char *channels[2];
	size_t nc = 0;
	if (svc == NULL)
		return GW_STORE_OK;
	if (svc->smtp_host != NULL)
		channels[nc++] = "email";
	if (svc->webhook_url != NULL)
		channels[nc++] = "webhook";
	if (nc == 0)
		return GW_STORE_OK;
	struct gw_notify_row n;
	memset(&n, 0, sizeof(n));
	n.alert_id = a->id;
	snprintf(n.event, sizeof(n.event), "%s", event);
	snprintf(n.kind, sizeof(n.kind), "%s", a->kind);
	snprintf(n.severity, sizeof(n.severity), "%s", a->severity);
	snprintf(n.tenant, sizeof(n.tenant), "%s", a->tenant);
	n.created_at = n.next_at = now;
	if (payload(a, event, n.payload, sizeof(n.payload), err) < 0)
		return GW_STORE_ERROR;
	for (size_t i = 0; i < nc; i++) {
		bool added;
		snprintf(n.channel, sizeof(n.channel), "%s", channels[i]);
		int rc = gw_store_notify_add(st, &n, &added, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	return GW_STORE_OK;
}

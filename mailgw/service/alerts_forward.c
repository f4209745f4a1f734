/* telemail-mailgw — alert transitions into the forwarding outbox (see
 * alerts.h, gw_alerts_forward). The event's data is the alert at the
 * transition, with the transition's name in "event". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <telemail/error.h>

#include "service/alerts.h"

int gw_alerts_forward(struct gw_store *st, const struct gw_alert_row *a, const char *event,
		      int64_t now, struct tm_error *err)
{
	if (!gw_store_forward_enabled(st) || a->tenant[0] == '\0')
		return GW_STORE_OK;
	char id[GW_FWD_ID_MAX], when[40];
	if (strcmp(event, "updated") == 0)
		snprintf(id, sizeof(id), "alert-%" PRId64 "-updated-%" PRId64, a->id, a->count);
	else
		snprintf(id, sizeof(id), "alert-%" PRId64 "-%s", a->id, event);
	int64_t at = strcmp(event, "opened") == 0 ? a->first_seen
		   : strcmp(event, "updated") == 0 ? a->last_seen
		   : strcmp(event, "resolved") == 0 ? a->resolved_at
		   : strcmp(event, "acknowledged") == 0 ? a->acked_at : now;
	gw_store_format_utc(at != 0 ? at : now, 0, when, sizeof(when));
	json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
			      "event", event, "alert", (json_int_t)a->id, "kind", a->kind,
			      "subject", a->subject, "severity", a->severity,
			      "state", gw_alert_state_name(a->state), "serial", a->serial,
			      "tenant", a->tenant, "detail", a->detail, "report_id", a->report_id,
			      "first_seen", (json_int_t)a->first_seen,
			      "last_seen", (json_int_t)a->last_seen, "count", (json_int_t)a->count);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (text == NULL)
		return tm_error_set(err, "internal.nomem", "alerts: cannot build the forward event");
	const struct gw_fwd_event_in ev = {
		.kind = GW_FWD_ALERT, .event_id = id, .tenant = a->tenant, .serial = a->serial,
		.time = when, .data = text, .data_len = strlen(text),
	};
	int rc = gw_store_forward_add(st, &ev, now, err);
	free(text);
	return rc;
}

/* telemail-mailgw — the CloudEvents 1.0 encoder of forwarded batches (see
 * forward.h). An event:
 *   {"specversion": "1.0", "id": "<report id | transition id>",
 *    "source": "telemail-mailgw://<gateway>/tenant/<tenant>",
 *    "type": "org.telemail.report.v1" | "org.telemail.alert.v1" | "org.telemail.meter.v1"
 *            | "org.telemail.supply_order.v1",
 *    "subject": "<device serial>", "time": "<RFC 3339>",
 *    "datacontenttype": "application/json", "data": {…}}
 * A meter event's id is the report id with ":meter" appended; its data is
 * {"report": id, "seq", "generated_at", "serial", "counters"} from the
 * report's canonical record. A supply order's event id is the transition's
 * ("supply-order-<transition id>"); its data is the order at the transition
 * (service/supply_forward.c). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "forward/forward.h"

static const char *type_name(enum gw_fwd_kind k)
{
	switch (k) {
	case GW_FWD_REPORT:
		return "org.telemail.report.v1";
	case GW_FWD_ALERT:
		return "org.telemail.alert.v1";
	case GW_FWD_METER:
		return "org.telemail.meter.v1";
	case GW_FWD_ORDER:
		return "org.telemail.supply_order.v1";
	}
	return "org.telemail.unknown.v1";
}

/* The meter reading of a report's canonical record (steals nothing). */
static json_t *meter_data(json_t *rec)
{
	json_t *rep = json_object_get(rec, "report");
	json_t *counters = json_object_get(rec, "counters");
	json_t *dev = json_object_get(rec, "device");
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O}", "report", json_object_get(rep, "id"),
			 "seq", json_object_get(rep, "seq"),
			 "generated_at", json_object_get(rep, "generated_at"),
			 "serial", json_object_get(dev, "serial"),
			 "counters", counters != NULL ? counters : json_null());
}

static json_t *event(const struct gw_fwd_item *it, const char *gateway, struct tm_error *err)
{
	json_error_t je;
	json_t *data = json_loadb(it->data, it->data_len, JSON_DECODE_ANY, &je);
	if (data == NULL) {
		tm_error_set(err, "internal.bug", "forward: event %s: stored data is not JSON: %s",
			     it->event_id, je.text);
		return NULL;
	}
	char id[GW_FWD_ID_MAX + 8], source[512];
	snprintf(id, sizeof(id), "%s%s", it->event_id, it->kind == GW_FWD_METER ? ":meter" : "");
	snprintf(source, sizeof(source), "telemail-mailgw://%s/tenant/%s", gateway, it->tenant);
	if (it->kind == GW_FWD_METER) {
		json_t *m = meter_data(data);
		json_decref(data);
		data = m;
	}
	json_t *ev = data == NULL ? NULL
		: json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0",
			    "id", id, "source", source, "type", type_name(it->kind),
			    "subject", it->serial, "time", it->time,
			    "datacontenttype", "application/json", "data", data);
	if (ev == NULL)
		tm_error_set(err, "internal.nomem", "forward: cannot build event %s", it->event_id);
	return ev;
}

static int dump_cb(const char *buf, size_t size, void *ctx)
{
	return tm_buf_append(ctx, buf, size);
}

int gw_forward_encode(const struct gw_fwd_item *items, size_t n, const char *gateway, bool ndjson,
		      struct tm_buf *out, struct tm_error *err)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	tm_buf_reset(out);
	if (!ndjson && tm_buf_append(out, "[", 1) < 0)
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *ev = event(&items[i], gateway, err);
		if (ev == NULL)
			return -1;
		int rc = (!ndjson && i > 0 ? tm_buf_append(out, ",", 1) : 0);
		if (rc == 0)
			rc = json_dump_callback(ev, dump_cb, out, flags);
		if (rc == 0 && ndjson)
			rc = tm_buf_append(out, "\n", 1);
		json_decref(ev);
		if (rc < 0)
			return tm_error_set(err, "internal.nomem", "forward: out of memory");
	}
	if (!ndjson && tm_buf_append(out, "]", 1) < 0)
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	return 0;
}

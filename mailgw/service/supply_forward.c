/* telemail-mailgw — supply order transitions into the forwarding outbox (see
 * supply.h, gw_supply_order_forward). The event's data is the order at the
 * transition, with the transition's own id, state, actor and detail. The
 * order states' names live here, below supply.c, which calls in. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <telemail/error.h>

#include "service/supply.h"

static const char *const order_state_names[] = { "open", "shipped", "installed", "cancelled" };

const char *gw_order_state_name(enum gw_order_state s)
{
	return (unsigned)s <= GW_ORDER_CANCELLED ? order_state_names[s] : "?";
}

int gw_supply_order_forward(struct gw_store *st, const struct gw_order_row *o,
			    const struct gw_order_event_row *ev, int64_t now, struct tm_error *err)
{
	if (!gw_store_forward_enabled(st) || o->tenant[0] == '\0')
		return GW_STORE_OK;
	char id[GW_FWD_ID_MAX], when[40], opened[40], updated[40];
	snprintf(id, sizeof(id), "supply-order-%" PRId64, ev->id);
	gw_store_format_utc(ev->at != 0 ? ev->at : now, 0, when, sizeof(when));
	gw_store_format_utc(o->opened_at, 0, opened, sizeof(opened));
	gw_store_format_utc(o->updated_at, 0, updated, sizeof(updated));
	json_t *j = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I,"
			      " s:s, s:s, s:s, s:s, s:s}",
			      "event", gw_order_state_name(ev->state), "order", (json_int_t)o->id,
			      "transition", (json_int_t)ev->id, "serial", o->serial,
			      "tenant", o->tenant, "supply", o->subject, "index", (json_int_t)o->idx,
			      "cartridge", (json_int_t)o->cartridge,
			      "state", gw_order_state_name(o->state), "reason", o->reason,
			      "level", (json_int_t)o->level, "days_left", (json_int_t)o->days_left,
			      "opened_at", opened, "updated_at", updated, "report_id", o->report_id,
			      "actor", ev->actor, "detail", ev->detail);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (text == NULL)
		return tm_error_set(err, "internal.nomem", "supply: cannot build the forward event");
	const struct gw_fwd_event_in fe = {
		.kind = GW_FWD_ORDER, .event_id = id, .tenant = o->tenant, .serial = o->serial,
		.time = when, .data = text, .data_len = strlen(text),
	};
	int rc = gw_store_forward_add(st, &fe, now, err);
	free(text);
	return rc;
}

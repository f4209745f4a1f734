/* telemail-mailgw — the store front: supply histories, order rules, orders, meter readings and decisions (issue 18) (see store.h). Each
 * call is passed to the back end; a back end that has not got the op yet
 * answers store.unsupported. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/store.h"
#include "store/store_private.h"

/* ---- supplies (issue 18) ---- */

int gw_store_supply_history(struct gw_store *st, const char *serial, int64_t idx, int64_t since,
			    gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err)
{
	if (st->ops->supply_history == NULL)
		return gw_store_unsupported(st, "supply_history", err);
	return st->ops->supply_history(st->be, serial, idx, since, cb, ctx, err);
}

int gw_store_supply_tail_get(struct gw_store *st, const char *serial, int64_t idx,
			     struct gw_supply_tail *out, bool *found, struct tm_error *err)
{
	*found = false;
	if (st->ops->supply_tail_get == NULL)
		return gw_store_unsupported(st, "supply_tail_get", err);
	return st->ops->supply_tail_get(st->be, serial, idx, out, found, err);
}

int gw_store_supply_before(struct gw_store *st, const char *serial, int64_t idx, int64_t at,
			   int32_t at_nsec, int64_t seq, struct gw_supply_hist_row *out, bool *found,
			   struct tm_error *err)
{
	*found = false;
	if (st->ops->supply_before == NULL)
		return gw_store_unsupported(st, "supply_before", err);
	return st->ops->supply_before(st->be, serial, idx, at, at_nsec, seq, out, found, err);
}

int gw_store_supply_forecast_set(struct gw_store *st, const char *serial, int64_t idx,
				 const struct gw_supply_forecast_row *f, struct tm_error *err)
{
	if (st->ops->supply_forecast_set == NULL)
		return gw_store_unsupported(st, "supply_forecast_set", err);
	return st->ops->supply_forecast_set(st->be, serial, idx, f, err);
}

int gw_store_supply_before_many(struct gw_store *st, const char *serial, size_t n,
				const int64_t *idx, int64_t at, int32_t at_nsec, int64_t seq,
				struct gw_supply_hist_row *out, bool *found, struct tm_error *err)
{
	for (size_t i = 0; i < n; i++)
		found[i] = false;
	int rc = GW_STORE_OK;
	if (st->ops->supply_before_many == NULL) {
		for (size_t i = 0; i < n && rc == GW_STORE_OK; i++)
			rc = gw_store_supply_before(st, serial, idx[i], at, at_nsec, seq, &out[i],
						    &found[i], err);
		return rc;
	}
	for (size_t i = 0; i < n && rc == GW_STORE_OK; i += GW_SUPPLY_BEFORE_MAX) {
		size_t k = n - i < GW_SUPPLY_BEFORE_MAX ? n - i : GW_SUPPLY_BEFORE_MAX;
		rc = st->ops->supply_before_many(st->be, serial, k, idx + i, at, at_nsec, seq, out + i,
						 found + i, err);
	}
	return rc;
}

int gw_store_supply_rule_get(struct gw_store *st, const char *tenant,
			     struct gw_supply_rule_row *out, bool *found, struct tm_error *err)
{
	*found = false;
	if (st->ops->supply_rule_get == NULL)
		return gw_store_unsupported(st, "supply_rule_get", err);
	return st->ops->supply_rule_get(st->be, tenant, out, found, err);
}

int gw_store_supply_rule_set(struct gw_store *st, const struct gw_supply_rule_row *r,
			     struct tm_error *err)
{
	if (st->ops->supply_rule_set == NULL)
		return gw_store_unsupported(st, "supply_rule_set", err);
	return st->ops->supply_rule_set(st->be, r, err);
}

int gw_store_order_insert(struct gw_store *st, struct gw_order_row *o, struct tm_error *err)
{
	if (st->ops->order_insert == NULL)
		return gw_store_unsupported(st, "order_insert", err);
	return st->ops->order_insert(st->be, o, err);
}

int gw_store_order_update(struct gw_store *st, const struct gw_order_row *o,
			  struct tm_error *err)
{
	if (st->ops->order_update == NULL)
		return gw_store_unsupported(st, "order_update", err);
	return st->ops->order_update(st->be, o, err);
}

int gw_store_order_get(struct gw_store *st, int64_t id, struct gw_order_row *out, bool *found,
		       struct tm_error *err)
{
	*found = false;
	if (st->ops->order_get == NULL)
		return gw_store_unsupported(st, "order_get", err);
	return st->ops->order_get(st->be, id, out, found, err);
}

int gw_store_order_find(struct gw_store *st, const char *serial, int64_t idx, int64_t cartridge,
			struct gw_order_row *out, bool *found, struct tm_error *err)
{
	*found = false;
	if (st->ops->order_find == NULL)
		return gw_store_unsupported(st, "order_find", err);
	return st->ops->order_find(st->be, serial, idx, cartridge, out, found, err);
}

int gw_store_order_list(struct gw_store *st, const char *serial, int64_t idx,
			gw_store_order_cb cb, void *ctx, struct tm_error *err)
{
	if (st->ops->order_list == NULL)
		return gw_store_unsupported(st, "order_list", err);
	return st->ops->order_list(st->be, serial, idx, cb, ctx, err);
}

int gw_store_order_event_insert(struct gw_store *st, struct gw_order_event_row *e,
				struct tm_error *err)
{
	if (st->ops->order_event_insert == NULL)
		return gw_store_unsupported(st, "order_event_insert", err);
	return st->ops->order_event_insert(st->be, e, err);
}

int gw_store_order_event_list(struct gw_store *st, int64_t order_id, gw_store_order_event_cb cb,
			      void *ctx, struct tm_error *err)
{
	if (st->ops->order_event_list == NULL)
		return gw_store_unsupported(st, "order_event_list", err);
	return st->ops->order_event_list(st->be, order_id, cb, ctx, err);
}

int gw_store_supply_list(struct gw_store *st, gw_store_supply_cb cb, void *ctx,
			 struct tm_error *err)
{
	return st->ops->supply_list(st->be, cb, ctx, err);
}

int gw_store_meter_decision_set(struct gw_store *st, const struct gw_meter_decision_row *d,
				struct tm_error *err)
{
	if (st->ops->meter_decision_set == NULL)
		return gw_store_unsupported(st, "meter_decision_set", err);
	return st->ops->meter_decision_set(st->be, d, err);
}

int gw_store_meter_decision_list(struct gw_store *st, gw_store_meter_decision_cb cb, void *ctx,
				 struct tm_error *err)
{
	if (st->ops->meter_decision_list == NULL)
		return gw_store_unsupported(st, "meter_decision_list", err);
	return st->ops->meter_decision_list(st->be, cb, ctx, err);
}

int gw_store_meter_get(struct gw_store *st, const char *serial, int64_t seq, const char *service,
		       const char *name, struct gw_meter_row *out, bool *found, struct tm_error *err)
{
	*found = false;
	if (st->ops->meter_get == NULL)
		return gw_store_unsupported(st, "meter_get", err);
	return st->ops->meter_get(st->be, serial, seq, service, name, out, found, err);
}

int gw_store_meter_adjacent(struct gw_store *st, const char *serial, const char *service,
			    const char *name, int64_t at, int32_t at_nsec, int64_t seq, bool after,
			    struct gw_meter_row *out, bool *found, struct tm_error *err)
{
	*found = false;
	if (st->ops->meter_adjacent == NULL)
		return gw_store_unsupported(st, "meter_adjacent", err);
	return st->ops->meter_adjacent(st->be, serial, service, name, at, at_nsec, seq, after, out,
				       found, err);
}

bool gw_store_report_reads_fit(struct gw_report_reads *rr)
{
	rr->stop[0] = rr->stop[1] = 0;
	bool fits = rr->n_supplies <= GW_SUPPLY_BEFORE_MAX && rr->n_asks <= GW_METER_ASKS_MAX;
	for (size_t i = 0; i < rr->n_supplies; i++)
		rr->found[i] = false;
	for (size_t a = 0; a < rr->n_asks && fits; a++) {
		fits = rr->asks[a].n <= GW_METER_ADJACENT_MAX;
		for (size_t i = 0; fits && i < rr->asks[a].n; i++)
			rr->asks[a].found[i] = false;
	}
	return fits;
}

int gw_store_report_reads(struct gw_store *st, const char *serial, struct gw_report_reads *rr,
			  struct tm_error *err)
{
	bool fits = gw_store_report_reads_fit(rr);
	if (st->ops->report_reads != NULL && fits)
		return st->ops->report_reads(st->be, serial, rr, err);
	int rc = GW_STORE_OK;
	if (rr->device)
		rc = gw_store_device_load(st, serial, rr->mark_cb, rr->alert_cb, rr->ctx, rr->stop,
					  err);
	if (rc == GW_STORE_OK && rr->n_supplies > 0)
		rc = gw_store_supply_before_many(st, serial, rr->n_supplies, rr->idx, rr->at,
						 rr->at_nsec, rr->seq, rr->before, rr->found, err);
	if (rc == GW_STORE_OK && rr->n_asks > 0)
		rc = gw_store_meter_adjacent_asks(st, serial, rr->n_asks, rr->asks, err);
	return rc;
}

int gw_store_meter_adjacent_asks(struct gw_store *st, const char *serial, size_t n_asks,
				 const struct gw_meter_ask *asks, struct tm_error *err)
{
	if (n_asks > GW_METER_ASKS_MAX)
		return tm_error_set(err, "internal.bug", "meter_adjacent_asks: %zu asks, at most %d",
				    n_asks, GW_METER_ASKS_MAX);
	int rc = GW_STORE_OK;   /* (each ask's bound and found checked there) */
	for (size_t a = 0; a < n_asks && rc == GW_STORE_OK; a++) {
		const struct gw_meter_ask *k = &asks[a];
		rc = gw_store_meter_adjacent_many(st, serial, k->n, k->keys, k->at, k->at_nsec, k->seq,
						  k->after, k->out, k->found, err);
	}
	return rc;
}

int gw_store_meter_adjacent_many(struct gw_store *st, const char *serial, size_t n,
				 const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
				 int64_t seq, bool after, struct gw_meter_row *out, bool *found,
				 struct tm_error *err)
{
	for (size_t i = 0; i < n; i++)
		found[i] = false;
	if (n > GW_METER_ADJACENT_MAX)
		return tm_error_set(err, "internal.bug", "meter_adjacent_many: %zu counters, at most %d",
				    n, GW_METER_ADJACENT_MAX);
	if (n == 0)
		return GW_STORE_OK;
	if (st->ops->meter_adjacent_many != NULL)
		return st->ops->meter_adjacent_many(st->be, serial, n, keys, at, at_nsec, seq, after,
						    out, found, err);
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < n && rc == GW_STORE_OK; i++)
		rc = gw_store_meter_adjacent(st, serial, keys[i].service, keys[i].name, at, at_nsec,
					     seq, after, &out[i], &found[i], err);
	return rc;
}


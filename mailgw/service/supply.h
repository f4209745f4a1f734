/* telemail-mailgw — supplies for the service team (issue 18): the forecast
 * of each supply from its stored history, replenishment orders, the order
 * rule of a tenant and the cartridge history.
 *
 * What it promises:
 *   - Forecasts are computed from the history as stored, ordered by report
 *     time (forecast.h): a late or out-of-order report is read in its place
 *     the next time anybody asks, and the order rule is evaluated again for
 *     every stored report (gw_supply_run, in the report's transaction)
 *     whose supply says something else than the report before it in time (a
 *     level or part number of its own): a device repeating itself costs one
 *     lookup per supply, not a read of its history. A report that moves a
 *     level reads the history from its current cartridge's start (or 90
 *     days back, if older), as the forecast kept before says it
 *     (gw_forecast_run_tail: the same forecast as the whole history's); the
 *     whole history when none was kept, the cartridge is the first, or the
 *     report is not newer than the cartridge's start.
 *   - The rule: order when days left <= lead_time, or the level <= floor
 *     (percent). A tenant's own rule (`orders rule`) wins over its parent's,
 *     up to the root; what nobody set is GW_SUPPLY_LEAD_TIME / GW_SUPPLY_FLOOR.
 *   - One order per cartridge (UNIQUE serial, supply, cartridge): no second
 *     order, whatever the first became, until the cartridge is replaced
 *     (forecast.h: a rise of 20 points over its lowest level, a new part
 *     number, or the agent's supply_replaced event for the supply). The
 *     replacement moves an open or shipped order to installed.
 *   - An order is a row; each transition (open, shipped, installed,
 *     cancelled) is a row of its own with an id, and an audit entry. Opening
 *     raises the alert supply_order [type/colorant#index] (its notification
 *     goes through the queue as any alert's); installed or cancelled resolves
 *     it. ship and cancel: order.not_found, order.bad_state. */
#ifndef GW_SUPPLY_H
#define GW_SUPPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service/forecast.h"
#include "store/store.h"

struct gw_service_config;
struct tm_error;

#define GW_SUPPLY_LEAD_TIME (10 * 86400)   /* built-in rule: order 10 days ahead … */
#define GW_SUPPLY_FLOOR 10                 /* … or at 10 % */
#define GW_SUPPLY_EARLY_PCT 5              /* replaced above this level: early (waste) */

const char *gw_order_state_name(enum gw_order_state s);

/* The pipeline's step (gw_alerts_on_stored), inside the batch transaction,
 * after a put that answered STORED: every supply of the report whose word
 * changed is forecast again and the order rule applied. In steps, so that
 * the caller reads the supplies' rows before the report together with its
 * other reads (gw_store_report_reads): prepare (p->n 0: a report without
 * supplies), answer p->before and p->found for p->idx
 * (gw_store_supply_before_many of the report's serial, p->at, p->nsec and
 * seq), run, free. */
struct gw_supply_prep {
	size_t n;
	int64_t *idx;
	int64_t at;
	int32_t nsec;
	struct gw_supply_hist_row *before;
	bool *found;
};
int gw_supply_prepare(const struct gw_store_record *rec, struct gw_supply_prep *p,
		      struct tm_error *err);
int gw_supply_run(struct gw_store *st, const struct gw_service_config *svc,
		  const struct gw_store_record *rec, const struct gw_supply_prep *p, int64_t now,
		  struct tm_error *err);
void gw_supply_prep_free(struct gw_supply_prep *p);

/* Is report r the agent's supply_replaced event for supply idx (trigger
 * cause supply_replaced, subject "supplies/<idx>")? Such a report starts a
 * new cartridge (forecast.h) and so installs the open order. */
bool gw_supply_replaced_by_agent(const struct tm_report *r, int64_t idx);

/* The forecast of supply idx of serial as of `as_of`; cartridges (may be
 * NULL): the cartridge history, malloc'd, *n_cart of them. */
int gw_supply_forecast(struct gw_store *st, const char *serial, int64_t idx, int64_t as_of,
		       struct gw_forecast *out, struct gw_fc_cartridge **cartridges,
		       size_t *n_cart, struct tm_error *err);

/* The forecast kept for a supply (k: made when its level last changed,
 * with its figures) as gw_supply_forecast would answer it as of `as_of`:
 * the days left counted from there. f's strings point into k. */
void gw_supply_forecast_kept(const struct gw_supply_forecast_row *k, int64_t as_of,
			     struct gw_forecast *f);

/* Forecast supply idx of serial from its whole history, as of its last
 * point, and keep that forecast (gw_store_supply_forecast_set), as the
 * pipeline does when the supply's level changes: for a store filled
 * without the pipeline (a benchmark's fleet). A supply without history
 * keeps nothing. */
int gw_supply_forecast_keep(struct gw_store *st, const char *serial, int64_t idx,
			    struct tm_error *err);

/* What a supply's replaced cartridges say: how many, how many early (left
 * above GW_SUPPLY_EARLY_PCT), and the level they left with, summed (waste
 * in percent of a cartridge: 130 is 1.3 cartridges thrown away). */
struct gw_supply_waste {
	size_t replaced, early;
	int64_t waste_pct;
};
void gw_supply_waste_add(const struct gw_fc_cartridge *c, size_t n, struct gw_supply_waste *w);

/* The rule in force for `tenant` (inherited), and which tenant set each
 * part ("" for the built-in default). */
struct gw_supply_rule {
	int64_t lead_time;
	int64_t floor;
	char lead_time_from[GW_NAME_MAX + 1];
	char floor_from[GW_NAME_MAX + 1];
};
int gw_supply_rule_get(struct gw_store *st, const char *tenant, struct gw_supply_rule *out,
		       struct tm_error *err);
/* Set (or with both -1, clear) a tenant's own rule; -1 keeps a part
 * inherited. Audited (supply.rule). registry.not_found for no such tenant. */
int gw_supply_rule_set(struct gw_store *st, const char *tenant, int64_t lead_time, int64_t floor,
		       const char *actor, int64_t now, struct tm_error *err);

/* Queue transition ev of order o in the forwarding outbox, inside the
 * caller's transaction (the transition's own); nothing when forwarding is
 * off. Event id "supply-order-<transition id>", type
 * org.telemail.supply_order.v1; supply_forward.c. */
int gw_supply_order_forward(struct gw_store *st, const struct gw_order_row *o,
			    const struct gw_order_event_row *ev, int64_t now, struct tm_error *err);

/* open → shipped; open|shipped → cancelled. Each one transaction, audited. */
int gw_supply_order_ship(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
			 const char *actor, int64_t now, struct tm_error *err);
int gw_supply_order_cancel(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
			   const char *actor, int64_t now, struct tm_error *err);

#endif

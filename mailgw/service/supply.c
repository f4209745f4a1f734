/* telemail-mailgw — supply forecasts, orders and the order rule (see supply.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "service/supply.h"
#include "service/alerts_device.h"
#include "service/notify_queue.h"
#include "registry/registry.h"
#include "store/audit.h"

#define HISTORY_MAX 100000   /* points of one supply read for a forecast */

/* ---- the history as forecast points ---- */

struct points {
	struct gw_fc_point *p;
	size_t n, cap;
	char type[32], colorant[64];
};

static int add_point(void *ctx, const struct gw_supply_hist_row *h)
{
	struct points *l = ctx;
	struct gw_fc_point *p = tm_array_grow(l->p, &l->cap, l->n, sizeof(*p), 64, HISTORY_MAX);
	if (p == NULL)
		return 1;   /* stops the walk: out of memory or past the cap */
	l->p = p;
	struct gw_fc_point *pt = &l->p[l->n++];
	memset(pt, 0, sizeof(*pt));
	pt->at = h->at;
	pt->seq = h->seq;
	pt->pct = gw_forecast_pct(h->level, h->max_capacity, h->unit);
	pt->pages = h->pages == TM_UNSET ? GW_FC_NO_PAGES : h->pages;
	pt->replaced = h->replaced;
	snprintf(pt->part, sizeof(pt->part), "%s", h->part_number);
	snprintf(l->type, sizeof(l->type), "%s", h->type);
	snprintf(l->colorant, sizeof(l->colorant), "%s", h->colorant);
	return 0;
}

/* The supply's points generated at `since` or later (GW_SUPPLY_SINCE_ALL:
 * all of them). */
static int load_points(struct gw_store *st, const char *serial, int64_t idx, int64_t since,
		       struct points *l, struct tm_error *err)
{
	memset(l, 0, sizeof(*l));
	int rc = gw_store_supply_history(st, serial, idx, since, add_point, l, err);
	if (rc > 0)
		rc = tm_error_set(err, "internal.nomem",
				  "supply history of %s#%" PRId64 ": out of memory or over %d points",
				  serial, idx, HISTORY_MAX);
	if (rc != GW_STORE_OK) {
		free(l->p);
		l->p = NULL;
	}
	return rc;
}

int gw_supply_forecast(struct gw_store *st, const char *serial, int64_t idx, int64_t as_of,
		       struct gw_forecast *out, struct gw_fc_cartridge **cartridges,
		       size_t *n_cart, struct tm_error *err)
{
	struct points l;
	int rc = load_points(st, serial, idx, GW_SUPPLY_SINCE_ALL, &l, err);
	if (rc != GW_STORE_OK)
		return rc;
	gw_forecast_run(l.p, l.n, as_of, out);
	if (cartridges != NULL) {
		*cartridges = NULL;
		*n_cart = 0;
		size_t nc = gw_forecast_cartridges(l.p, l.n, NULL, 0);
		if (nc > 0) {
			*cartridges = calloc(nc, sizeof(**cartridges));
			if (*cartridges == NULL) {
				free(l.p);
				return tm_error_set(err, "internal.nomem", "out of memory");
			}
			*n_cart = gw_forecast_cartridges(l.p, l.n, *cartridges, nc);
		}
	}
	free(l.p);
	return GW_STORE_OK;
}

void gw_supply_waste_add(const struct gw_fc_cartridge *c, size_t n, struct gw_supply_waste *w)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i].replaced_at == 0)
			continue;   /* the current cartridge */
		w->replaced++;
		if (c[i].last_pct > GW_SUPPLY_EARLY_PCT) {
			w->early++;
			w->waste_pct += c[i].last_pct;
		}
	}
}

/* ---- the rule ---- */

/* The rule of tenant: each setting from the nearest tenant up its chain
 * that sets it. The chain is read a tenant at a time (by key), not as the
 * whole tree: a provider's thousands of customers are not read at every
 * stored report that moves a supply. */
int gw_supply_rule_get(struct gw_store *st, const char *tenant, struct gw_supply_rule *out,
		       struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	out->lead_time = -1;
	out->floor = -1;
	int rc = GW_STORE_OK;
	struct gw_tenant_row t;
	snprintf(t.parent, sizeof(t.parent), "%s", tenant != NULL ? tenant : "");
	for (int depth = 0; rc == GW_STORE_OK && t.parent[0] != '\0' &&
	     depth <= GW_REGISTRY_MAX_DEPTH; depth++) {
		char name[GW_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", t.parent);
		struct gw_supply_rule_row r;
		bool found = false;
		rc = gw_store_supply_rule_get(st, name, &r, &found, err);
		if (rc == GW_STORE_OK && found) {
			if (out->lead_time < 0 && r.lead_time >= 0) {
				out->lead_time = r.lead_time;
				snprintf(out->lead_time_from, sizeof(out->lead_time_from), "%s", name);
			}
			if (out->floor < 0 && r.floor >= 0) {
				out->floor = r.floor;
				snprintf(out->floor_from, sizeof(out->floor_from), "%s", name);
			}
		}
		if (rc == GW_STORE_OK && (out->lead_time < 0 || out->floor < 0))
			rc = gw_store_tenant_get(st, name, &t, &found, err);
		else
			found = false;
		if (!found)
			t.parent[0] = '\0';
	}
	if (out->lead_time < 0)
		out->lead_time = GW_SUPPLY_LEAD_TIME;
	if (out->floor < 0)
		out->floor = GW_SUPPLY_FLOOR;
	return rc;
}

int gw_supply_rule_set(struct gw_store *st, const char *tenant, int64_t lead_time, int64_t floor,
		       const char *actor, int64_t now, struct tm_error *err)
{
	char local[64], object[160], text[160], before[GW_SHA256_HEX], after[GW_SHA256_HEX];
	if (actor == NULL) {
		gw_audit_actor_local(local);
		actor = local;
	}
	if (floor > 100)
		return tm_error_set(err, "supply.bad_value", "floor: %" PRId64 " is over 100 %%", floor);
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_registry_tenant_check(st, tenant, err);
	struct gw_supply_rule_row r = {0};
	bool found = false;
	if (rc == GW_STORE_OK)
		rc = gw_store_supply_rule_get(st, tenant, &r, &found, err);
	if (rc == GW_STORE_OK) {
		snprintf(text, sizeof(text), "lead_time=%" PRId64 " floor=%" PRId64,
			 found ? r.lead_time : -1, found ? r.floor : -1);
		gw_audit_digest(text, before);
		memset(&r, 0, sizeof(r));
		snprintf(r.tenant, sizeof(r.tenant), "%s", tenant);
		r.lead_time = lead_time;
		r.floor = floor;
		r.updated_at = now;
		rc = gw_store_supply_rule_set(st, &r, err);
	}
	if (rc == GW_STORE_OK) {
		snprintf(text, sizeof(text), "lead_time=%" PRId64 " floor=%" PRId64, lead_time, floor);
		gw_audit_digest(text, after);
		snprintf(object, sizeof(object), "supply rule %.64s %.60s", tenant, text);
		rc = gw_audit_append(st, actor, "supply.rule", object, tenant, found ? before : NULL,
				     lead_time < 0 && floor < 0 ? NULL : after, now, err);
	}
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

/* ---- orders ---- */

static void order_text(const struct gw_order_row *o, char *buf, size_t n)
{
	snprintf(buf, n, "order %" PRId64 " %s %s cartridge %" PRId64 " state=%s updated_at=%" PRId64,
		 o->id, o->serial, o->subject, o->cartridge, gw_order_state_name(o->state),
		 o->updated_at);
}

/* Record a transition: the new state on the row, a transition row, an audit
 * entry; resolve the order's alert when the order is over. */
static int transition(struct gw_store *st, const struct gw_service_config *svc,
		      struct gw_order_row *o, enum gw_order_state to, const char *actor,
		      const char *detail, int64_t at, int64_t now, struct tm_error *err)
{
	char text[512], before[GW_SHA256_HEX], after[GW_SHA256_HEX], object[160];
	order_text(o, text, sizeof(text));
	gw_audit_digest(text, before);
	o->state = to;
	o->updated_at = at;
	int rc = gw_store_order_update(st, o, err);
	struct gw_order_event_row ev = { .order_id = o->id, .state = to, .at = at };
	snprintf(ev.actor, sizeof(ev.actor), "%s", actor);
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
	if (rc == GW_STORE_OK)
		rc = gw_store_order_event_insert(st, &ev, err);
	if (rc == GW_STORE_OK)
		rc = gw_supply_order_forward(st, o, &ev, now, err);
	if (rc == GW_STORE_OK && (to == GW_ORDER_INSTALLED || to == GW_ORDER_CANCELLED)) {
		struct gw_alerts_device dev;   /* nothing loaded: one store call per lookup */
		gw_alerts_device_init(&dev, st, o->serial, 0);
		struct gw_alert_row a;
		bool found = false;
		rc = gw_alerts_device_find(&dev, "supply_order", o->subject, &a, &found, err);
		if (rc == GW_STORE_OK && found) {
			a.state = GW_ALERT_RESOLVED;
			a.resolved_at = at;
			rc = gw_alerts_device_update(&dev, &a, err);
			if (rc == GW_STORE_OK)
				rc = gw_notify_enqueue(st, svc, &a, "resolved", now, err);
		}
		gw_alerts_device_fini(&dev);
	}
	if (rc != GW_STORE_OK)
		return rc;
	order_text(o, text, sizeof(text));
	gw_audit_digest(text, after);
	snprintf(object, sizeof(object), "order %" PRId64 " %.64s %.60s %s", o->id, o->serial,
		 o->subject, gw_order_state_name(to));
	return gw_audit_append(st, actor, "order.transition", object, o->tenant, before, after, now,
			       err);
}

/* Open the order of the current cartridge, with its alert. */
static int open_order(struct gw_store *st, const struct gw_service_config *svc,
		      struct gw_order_row *o, const struct gw_supply_rule *rule, int64_t now,
		      struct tm_error *err)
{
	char detail[GW_ALERT_DETAIL_MAX], days[48];
	if (o->days_left >= 0)
		snprintf(days, sizeof(days), "%" PRId64 " days to empty", o->days_left);
	else
		snprintf(days, sizeof(days), "no forecast");
	int rc = gw_store_order_insert(st, o, err);
	if (rc != GW_STORE_OK)
		return rc;
	snprintf(detail, sizeof(detail),
		 "order %" PRId64 " %.60s: %" PRId64 " %%, %s (%s; lead time %" PRId64 " d, floor %" PRId64 " %%)",
		 o->id, o->subject, o->level, days, o->reason, rule->lead_time / 86400, rule->floor);
	struct gw_order_event_row ev = { .order_id = o->id, .state = GW_ORDER_OPEN, .at = o->opened_at };
	snprintf(ev.actor, sizeof(ev.actor), "pipeline");
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
	rc = gw_store_order_event_insert(st, &ev, err);
	if (rc == GW_STORE_OK)
		rc = gw_supply_order_forward(st, o, &ev, now, err);
	if (rc != GW_STORE_OK)
		return rc;

	struct gw_alerts_device dev;
	gw_alerts_device_init(&dev, st, o->serial, 0);
	struct gw_alert_row a;
	bool found = false;
	rc = gw_alerts_device_find(&dev, "supply_order", o->subject, &a, &found, err);
	if (rc == GW_STORE_OK && found) {   /* an older order's alert still active: count */
		a.last_seen = o->opened_at > a.last_seen ? o->opened_at : a.last_seen;
		a.count++;
		snprintf(a.detail, sizeof(a.detail), "%s", detail);
		rc = gw_alerts_device_repeat(&dev, &a, err);
	} else if (rc == GW_STORE_OK) {
		memset(&a, 0, sizeof(a));
		snprintf(a.serial, sizeof(a.serial), "%s", o->serial);
		snprintf(a.tenant, sizeof(a.tenant), "%s", o->tenant);
		snprintf(a.kind, sizeof(a.kind), "supply_order");
		snprintf(a.subject, sizeof(a.subject), "%s", o->subject);
		snprintf(a.severity, sizeof(a.severity), "warning");
		snprintf(a.detail, sizeof(a.detail), "%s", detail);
		snprintf(a.report_id, sizeof(a.report_id), "%s", o->report_id);
		a.state = GW_ALERT_OPEN;
		a.first_seen = a.last_seen = o->opened_at;
		a.count = 1;
		rc = gw_alerts_device_insert(&dev, &a, err);
		if (rc == GW_STORE_OK)
			rc = gw_notify_enqueue(st, svc, &a, "opened", now, err);
	}
	gw_alerts_device_fini(&dev);
	if (rc != GW_STORE_OK)
		return rc;
	o->alert_id = a.id;
	rc = gw_store_order_update(st, o, err);
	if (rc != GW_STORE_OK)
		return rc;
	char object[160];
	snprintf(object, sizeof(object), "order %" PRId64 " %.64s %.60s open", o->id, o->serial,
		 o->subject);
	return gw_audit_append(st, "pipeline", "order.open", object, o->tenant, NULL, NULL, now, err);
}

struct order_rows {
	struct gw_order_row *o;
	size_t n, cap;
};

static int add_order(void *ctx, const struct gw_order_row *o)
{
	struct order_rows *l = ctx;
	struct gw_order_row *p = tm_array_grow(l->o, &l->cap, l->n, sizeof(*p), 8, SIZE_MAX);
	if (p == NULL)
		return 1;
	l->o = p;
	l->o[l->n++] = *o;
	return 0;
}

/* The forecast as of the supply's last point, for readers that must not
 * read every history (the fleet page). */
static int keep_forecast(struct gw_store *st, const char *serial, int64_t idx,
			 const struct gw_forecast *fc, int64_t made_at, struct tm_error *err)
{
	struct gw_supply_forecast_row f = { .ok = fc->ok, .made_at = made_at };
	snprintf(f.reason, sizeof(f.reason), "%s", fc->reason != NULL ? fc->reason : "");
	snprintf(f.basis, sizeof(f.basis), "%s", fc->ok && fc->basis != NULL ? fc->basis : "");
	snprintf(f.confidence, sizeof(f.confidence), "%s",
		 fc->ok && fc->confidence_word != NULL ? fc->confidence_word : "");
	f.empty_at = fc->ok ? fc->empty_at : 0;
	f.figures = true;
	f.score = fc->ok ? fc->confidence : 0;
	f.pages_per_day = fc->ok ? fc->pages_per_day : 0;
	f.pct_per_day = fc->ok ? fc->pct_per_day : 0;
	f.weekday_pattern = fc->ok && fc->weekday_pattern;
	f.tail = (struct gw_supply_tail){ .made_at = made_at, .cart_key = fc->cartridge_key,
					  .cart_at = fc->cartridge_at,
					  .fine_levels = fc->fine_levels };
	return gw_store_supply_forecast_set(st, serial, idx, &f, err);
}

void gw_supply_forecast_kept(const struct gw_supply_forecast_row *k, int64_t as_of,
			     struct gw_forecast *f)
{
	memset(f, 0, sizeof(*f));
	f->ok = k->ok;
	f->reason = k->reason;
	f->basis = k->basis;
	f->confidence_word = k->confidence;
	f->confidence = k->score;
	f->empty_at = k->empty_at;
	double days = (double)(k->empty_at - as_of) / 86400.0;   /* as forecast.c counts them */
	f->days_left = days > 0 ? days : 0;
	f->pages_per_day = k->pages_per_day;
	f->pct_per_day = k->pct_per_day;
	f->weekday_pattern = k->weekday_pattern;
}

int gw_supply_forecast_keep(struct gw_store *st, const char *serial, int64_t idx,
			    struct tm_error *err)
{
	struct points l;
	int rc = load_points(st, serial, idx, GW_SUPPLY_SINCE_ALL, &l, err);
	if (rc == GW_STORE_OK && l.n > 0) {
		struct gw_forecast fc;
		gw_forecast_run(l.p, l.n, 0, &fc);   /* sorts: the last point is the newest */
		rc = keep_forecast(st, serial, idx, &fc, l.p[l.n - 1].at, err);
	}
	free(l.p);
	return rc;
}

/* The points a stored report's forecast reads (gw_forecast_run_tail): from
 * where the forecast kept for the supply says its current cartridge began,
 * or GW_FC_RATE_WINDOW before the newest point, whichever is older; the
 * whole history when nothing was kept, when the cartridge is the history's
 * first (all of it is the cartridge), or when the report (generated at
 * `at`) is not newer than the cartridge's start (a late report there may
 * move the cut). A year of reports a device, most of them before the
 * current cartridge, is not read again at every report that moves a level
 * (test/bench/bench_supply_tail.c). */
static int load_tail(struct gw_store *st, const char *serial, int64_t idx, int64_t at,
		     struct points *l, bool *fine_before, struct tm_error *err)
{
	struct gw_supply_tail t;
	bool kept = false;
	int rc = gw_store_supply_tail_get(st, serial, idx, &t, &kept, err);
	if (rc != GW_STORE_OK)
		return rc;
	int64_t since = GW_SUPPLY_SINCE_ALL;
	if (kept && t.cart_key != 0 && at > t.cart_at) {
		int64_t newest = at > t.made_at ? at : t.made_at;
		since = newest - GW_FC_RATE_WINDOW < t.cart_at ? newest - GW_FC_RATE_WINDOW
							       : t.cart_at;
	}
	rc = load_points(st, serial, idx, since, l, err);
	if (rc != GW_STORE_OK || since == GW_SUPPLY_SINCE_ALL)
		return rc;
	*fine_before = t.fine_levels;
	for (size_t i = 0; i < l->n; i++)
		l->p[i].start = l->p[i].seq == t.cart_key;
	return rc;
}

/* One supply of a stored report: close the orders of replaced cartridges,
 * keep its forecast, open the current cartridge's order when the rule says
 * so. */
static int evaluate_supply(struct gw_store *st, const struct gw_service_config *svc,
			   const struct gw_store_record *rec, int64_t idx, int64_t at,
			   const struct gw_supply_rule *rule, int64_t now, struct tm_error *err)
{
	const char *serial = rec->report->serial;
	struct points l = {0};
	bool fine_before = false;
	int rc = load_tail(st, serial, idx, at, &l, &fine_before, err);
	if (rc != GW_STORE_OK || l.n == 0)
		goto out;
	gw_forecast_sort(l.p, l.n);
	size_t nc = gw_forecast_cartridges(l.p, l.n, NULL, 0);
	struct gw_fc_cartridge *carts = calloc(nc, sizeof(*carts));
	if (carts == NULL) {
		rc = tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	gw_forecast_cartridges(l.p, l.n, carts, nc);
	const struct gw_fc_cartridge *cur = &carts[nc - 1];

	/* the orders of cartridges that were replaced are installed */
	struct order_rows orders = {0};
	rc = gw_store_order_list(st, serial, idx, add_order, &orders, err);
	if (rc > 0)
		rc = tm_error_set(err, "internal.nomem", "out of memory");
	bool have_current = false;
	for (size_t i = 0; i < orders.n && rc == GW_STORE_OK; i++) {
		struct gw_order_row *o = &orders.o[i];
		if (o->cartridge == cur->key) {
			have_current = true;
			continue;
		}
		if (o->state != GW_ORDER_OPEN && o->state != GW_ORDER_SHIPPED)
			continue;
		char detail[128] = "replaced";
		for (size_t c = 0; c + 1 < nc; c++)
			if (carts[c].key == o->cartridge)
				snprintf(detail, sizeof(detail), "replaced (%s) at %" PRId64 " %%",
					 carts[c].replaced_by, carts[c].last_pct);
		rc = transition(st, svc, o, GW_ORDER_INSTALLED, "pipeline", detail, cur->installed_at,
				now, err);
	}
	free(orders.o);

	/* the forecast, kept for the fleet page; then the rule, on the current
	 * cartridge */
	struct gw_forecast fc;
	gw_forecast_run_tail(l.p, l.n, fine_before, l.p[l.n - 1].at, &fc);
	if (rc == GW_STORE_OK)
		rc = keep_forecast(st, serial, idx, &fc, l.p[l.n - 1].at, err);
	if (rc == GW_STORE_OK && !have_current) {
		int64_t level = -1;
		for (size_t i = cur->first; i <= cur->last; i++)
			if (l.p[i].pct >= 0)
				level = l.p[i].pct;
		const char *reason = NULL;
		if (level >= 0 && level <= rule->floor)
			reason = "floor";
		else if (fc.ok && fc.days_left * 86400 <= (double)rule->lead_time)
			reason = "lead_time";
		if (reason != NULL) {
			struct gw_order_row o = {0};
			snprintf(o.serial, sizeof(o.serial), "%s", serial);
			snprintf(o.tenant, sizeof(o.tenant), "%s", rec->tenant);
			o.idx = idx;
			snprintf(o.subject, sizeof(o.subject), "%.40s%s%.40s#%" PRId64, l.type,
				 l.colorant[0] ? "/" : "", l.colorant, idx);
			o.cartridge = cur->key;
			o.state = GW_ORDER_OPEN;
			snprintf(o.reason, sizeof(o.reason), "%s", reason);
			o.level = level;
			o.days_left = fc.ok ? (int64_t)fc.days_left : -1;
			o.opened_at = o.updated_at = l.p[l.n - 1].at;
			snprintf(o.report_id, sizeof(o.report_id), "%s", rec->report->id);
			rc = open_order(st, svc, &o, rule, now, err);
		}
	}
	free(carts);
out:
	free(l.p);
	return rc;
}

/* Does the supply say what it said in the report before it in time (h:
 * the same level and part number)? Then nothing the rule reads has
 * changed, and the history need not be read again. */
static bool unchanged(const struct tm_supply *s, const struct gw_supply_hist_row *h)
{
	const char *part = s->part_number != NULL ? s->part_number : "";
	return gw_forecast_pct(h->level, h->max_capacity, h->unit) ==
		       gw_forecast_pct(s->level, s->max_capacity, s->unit) &&
	       strcmp(h->part_number, part) == 0;
}

bool gw_supply_replaced_by_agent(const struct tm_report *r, int64_t idx)
{
	char subject[32];
	snprintf(subject, sizeof(subject), "supplies/%" PRId64, idx);
	return r->trigger_cause != NULL && strcmp(r->trigger_cause, "supply_replaced") == 0 &&
	       r->trigger_subject != NULL && strcmp(r->trigger_subject, subject) == 0;
}

void gw_supply_prep_free(struct gw_supply_prep *p)
{
	free(p->idx);
	free(p->before);
	free(p->found);
	memset(p, 0, sizeof(*p));
}

int gw_supply_prepare(const struct gw_store_record *rec, struct gw_supply_prep *p,
		      struct tm_error *err)
{
	memset(p, 0, sizeof(*p));
	const struct tm_report *r = rec->report;
	if (r->n_supplies == 0)
		return GW_STORE_OK;
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &p->at, &p->nsec, err) < 0)
		return GW_STORE_ERROR;
	size_t n = r->n_supplies;
	p->before = calloc(n, sizeof(*p->before));
	p->found = calloc(n, sizeof(*p->found));
	p->idx = calloc(n, sizeof(*p->idx));
	if (p->before == NULL || p->found == NULL || p->idx == NULL) {
		gw_supply_prep_free(p);
		return tm_error_set(err, "internal.nomem", "supplies: out of memory");
	}
	for (size_t i = 0; i < n; i++)
		p->idx[i] = r->supplies[i].index;
	p->n = n;
	return GW_STORE_OK;
}

int gw_supply_run(struct gw_store *st, const struct gw_service_config *svc,
		  const struct gw_store_record *rec, const struct gw_supply_prep *p, int64_t now,
		  struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	struct gw_supply_rule rule;
	bool have_rule = false;
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < p->n && rc == GW_STORE_OK; i++) {
		if (!gw_supply_replaced_by_agent(r, r->supplies[i].index) && p->found[i] &&
		    unchanged(&r->supplies[i], &p->before[i]))
			continue;
		if (!have_rule) {
			rc = gw_supply_rule_get(st, rec->tenant, &rule, err);
			have_rule = rc == GW_STORE_OK;
		}
		if (rc == GW_STORE_OK)
			rc = evaluate_supply(st, svc, rec, r->supplies[i].index, p->at, &rule, now,
					     err);
	}
	return rc;
}

/* ---- ship, cancel ---- */

static int change(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
		  enum gw_order_state to, const char *actor, int64_t now, struct tm_error *err)
{
	char local[64];
	if (actor == NULL) {
		gw_audit_actor_local(local);
		actor = local;
	}
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	struct gw_order_row o;
	bool found = false;
	rc = gw_store_order_get(st, id, &o, &found, err);
	if (rc == GW_STORE_OK && !found)
		rc = tm_error_set(err, "order.not_found", "order %" PRId64 ": no such order", id);
	if (rc == GW_STORE_OK) {
		bool ok = to == GW_ORDER_SHIPPED ? o.state == GW_ORDER_OPEN
						 : o.state == GW_ORDER_OPEN || o.state == GW_ORDER_SHIPPED;
		if (!ok)
			rc = tm_error_set(err, "order.bad_state", "order %" PRId64 ": already %s", id,
					  gw_order_state_name(o.state));
	}
	if (rc == GW_STORE_OK)
		rc = transition(st, svc, &o, to, actor, to == GW_ORDER_SHIPPED ? "shipped" : "cancelled",
				now, now, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

int gw_supply_order_ship(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
			 const char *actor, int64_t now, struct tm_error *err)
{
	return change(st, svc, id, GW_ORDER_SHIPPED, actor, now, err);
}

int gw_supply_order_cancel(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
			   const char *actor, int64_t now, struct tm_error *err)
{
	return change(st, svc, id, GW_ORDER_CANCELLED, actor, now, err);
}

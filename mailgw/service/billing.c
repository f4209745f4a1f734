/* telemail-mailgw — meter readings for billing (see billing.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/array.h>
#include <telemail/buf.h>
#include <telemail/error.h>

#include "service/billing.h"
#include "service/billing_period.h"
#include "service/meter_rules.h"
#include "config/config_service.h"
#include "config/meter_models.h"
#include "registry/tenant_scope.h"

int gw_billing_period(const char *text, int64_t *start, int64_t *end, struct tm_error *err)
{
	int y, m;
	if (gw_billing_month(text, &y, &m, err) < 0)
		return -1;
	gw_billing_window(NULL, y, m, start, end);
	return 0;
}

void gw_billing_flags_text(unsigned flags, char *buf, size_t n)
{
	static const char *const names[] = {
		"estimated_opening", "estimated_closing", "first_reading", "reset", "wrapped", "open",
		"suspect",
	};
	size_t used = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & (1u << i)) {
			int w = snprintf(buf + used, n - used, "%s%s", used ? ";" : "", names[i]);
			if (w < 0 || (size_t)w >= n - used)
				return;
			used += (size_t)w;
		}
}

/* All readings of one device and counter, in time order. */
struct group {
	struct gw_meter_row *r;
	size_t n, cap;
	char counter[GW_BILLING_COUNTER_MAX];   /* as billed */
	char meaning[GW_BILLING_COUNTER_MAX];   /* the standard counter it is; "" unknown */
	char source[GW_BILLING_COUNTER_MAX];    /* the vendor code billed as counter; "" */
};

struct run {
	const struct gw_tenant_scope *scope;
	const struct gw_service_config *svc;    /* NULL: defaults */
	struct gw_meter_decision_row *dec;   /* operators' decisions, by serial, seq, counter */
	size_t n_dec, cap_dec;
	struct gw_device_row *devs;          /* manufacturer and model of each device */
	size_t n_devs, cap_devs;
	struct gw_tenant_row *tenants;       /* the tree, for the periods' inheritance */
	size_t n_tenants, cap_tenants;
	int year, month;
	int64_t now, estimate_after, stuck_after;
	unsigned margin;
	struct group *g;                     /* the current device's counters */
	size_t ng, cap_g, init_g;            /* init_g: slots set up (their arrays kept) */
	size_t next_g;                       /* the group after the last reading's, likely */
	struct gw_billing *out;
	size_t cap_lines;
	bool nomem;
};

static bool wrap_mod(int64_t before, int64_t after, int64_t *mod)
{
	static const int64_t mods[] = { INT64_C(1) << 31, INT64_C(1) << 32 };
	for (size_t i = 0; i < 2; i++)
		if (before < mods[i] && before >= mods[i] / 10 * 9 && after < mods[i] / 10) {
			*mod = mods[i];
			return true;
		}
	return false;
}

/* At full precision: a reading at boundary + 0.6 s is after the boundary. */
static bool at_or_before(const struct gw_meter_row *r, int64_t boundary)
{
	return gw_store_time_cmp(r->at, r->at_nsec, boundary, 0) <= 0;
}

/* Is the reading more than `limit` seconds before the boundary? With whole
 * seconds of difference d = boundary - at - limit, the exact age exceeds the
 * limit by d - fraction: true exactly when d >= 1, as the fraction is < 1 s. */
static bool older_than(const struct gw_meter_row *r, int64_t boundary, int64_t limit)
{
	return boundary - r->at - limit >= 1;
}

const char *gw_billing_check_step(int64_t a_value, int64_t a_at, int64_t b_value, int64_t b_at,
				  unsigned ppm)
{
	int64_t mod;
	if (b_value < a_value)
		return b_value < a_value / 10 || wrap_mod(a_value, b_value, &mod) ? NULL : "backwards";
	int64_t dt = b_at > a_at ? b_at - a_at : 0;
	if ((b_value - a_value) > (int64_t)ppm * (dt + 3600) / 60)
		return "too_fast";
	return NULL;
}

/* What a step from a to b bills; *how: 0 plain, GW_BILL_WRAPPED, GW_BILL_RESET. */
static int64_t step_usage(int64_t a, int64_t b, unsigned *how)
{
	int64_t mod;
	*how = 0;
	if (b >= a)
		return b - a;
	if (wrap_mod(a, b, &mod)) {
		*how = GW_BILL_WRAPPED;
		return mod - a + b;
	}
	if (b >= a / 10)
		return b - a;   /* backwards, not to near zero: no reset (suspect) */
	*how = GW_BILL_RESET;
	return b;           /* a new segment, counted from 0 */
}

static void reading_id(const struct gw_meter_row *r, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%" PRId64 ":%s/%s", r->serial, r->seq, r->service, r->name);
}

/* The decision on reading r: 0 none, 1 accepted, 2 excluded. */
static int decided(const struct run *u, const struct gw_meter_row *r)
{
	char counter[GW_BILLING_COUNTER_MAX];
	snprintf(counter, sizeof(counter), "%s/%s", r->service, r->name);
	for (size_t i = 0; i < u->n_dec; i++)
		if (u->dec[i].seq == r->seq && strcmp(u->dec[i].serial, r->serial) == 0 &&
		    strcmp(u->dec[i].counter, counter) == 0)
			return u->dec[i].exclude ? 2 : 1;
	return 0;
}

/* Append one row to a growable array of the run; 1 (stop) when out of memory. */
static int push(struct run *u, void *arr_p, size_t *cap, size_t *n, const void *row, size_t size)
{
	void *arr;
	memcpy(&arr, arr_p, sizeof(arr));
	char *p = tm_array_grow(arr, cap, *n, size, 16, SIZE_MAX);
	if (p == NULL) {
		u->nomem = true;
		return 1;
	}
	memcpy(p + *n * size, row, size);
	(*n)++;
	memcpy(arr_p, &p, sizeof(p));
	return 0;
}

/* The estimate at boundary t from reading i (t after it): the reading plus
 * its average volume over GW_BILLING_AVG_WINDOW before it, to the second,
 * rounded down (billing.h). */
static int64_t estimate_at(const struct group *g, size_t i, int64_t t)
{
	const struct gw_meter_row *last = &g->r[i];
	size_t k = i;
	while (k > 0 && last->at - g->r[k - 1].at <= GW_BILLING_AVG_WINDOW)
		k--;
	int64_t volume = 0, span = last->at - g->r[k].at, ahead = t - last->at;
	unsigned how;
	for (size_t j = k; j < i; j++)
		volume += step_usage(g->r[j].value, g->r[j + 1].value, &how);
	if (volume <= 0 || span <= 0 || ahead <= 0)
		return last->value;
	if (volume <= INT64_MAX / ahead)
		return last->value + volume * ahead / span;
	return last->value + (int64_t)((double)volume * (double)ahead / (double)span);
}

/* The value of group h at or before instant r (found false: none). */
static int64_t value_at(const struct group *h, const struct gw_meter_row *r, bool *found)
{
	int64_t v = 0;
	*found = false;
	for (size_t i = 0; i < h->n && gw_store_time_cmp(h->r[i].at, h->r[i].at_nsec, r->at, r->at_nsec) <= 0; i++) {
		v = h->r[i].value;
		*found = true;
	}
	return v;
}

/* Did a counter of the device that counts printing (another than g's) rise
 * between readings a and b of g? */
static bool printed_between(const struct run *u, const struct group *g,
			    const struct gw_meter_row *a, const struct gw_meter_row *b)
{
	for (size_t k = 0; k < u->ng; k++) {
		const struct group *h = &u->g[k];
		if (h == g || !gw_meter_counts_printing(h->meaning) ||
		    strcmp(h->meaning, g->meaning) == 0)
			continue;
		bool f0, f1;
		int64_t v0 = value_at(h, a, &f0), v1 = value_at(h, b, &f1);
		if (f0 && f1 && v1 > v0)
			return true;
	}
	return false;
}

/* The stuck rule over g's readings up to close (meter_rules.h): the reading
 * (after `open`) that completes an unsettled run, or g->n when none. */
static size_t stuck_at(const struct run *u, const struct group *g, size_t open, size_t close)
{
	if (!gw_meter_stuck_watched(g->meaning) || u->stuck_after <= 0)
		return g->n;
	size_t s = 0;
	bool settled = false;
	for (size_t j = 1; j <= close; j++) {
		if (g->r[j].value != g->r[s].value) {
			s = j;
			settled = false;
			continue;
		}
		if (decided(u, &g->r[j]) == 1)
			settled = true;   /* accepted: the whole run is */
		if (!settled && j > open && g->r[j].at - g->r[s].at >= u->stuck_after &&
		    printed_between(u, g, &g->r[s], &g->r[j]))
			return j;
	}
	return g->n;
}

static void suspect(struct gw_billing_line *l, const char *rule, const struct gw_meter_row *r)
{
	l->flags |= GW_BILL_SUSPECT;
	snprintf(l->suspect_rule, sizeof(l->suspect_rule), "%s", rule);
	reading_id(r, l->suspect_reading, sizeof(l->suspect_reading));
}

static const struct gw_device_row *device_of(const struct run *u, const char *serial)
{
	for (size_t i = 0; i < u->n_devs; i++)
		if (strcmp(u->devs[i].serial, serial) == 0)
			return &u->devs[i];
	return NULL;
}

/* One line of group g over [start, end]; false when g has nothing to bill. */
static bool bill_group(const struct run *u, const struct group *g, const struct gw_meter_rate *rate,
		       int64_t start, int64_t end, struct gw_billing_line *l)
{
	size_t n = g->n;   /* the readings at or before the end */
	while (n > 0 && !at_or_before(&g->r[n - 1], end))
		n--;
	if (n == 0)
		return false;
	memset(l, 0, sizeof(*l));
	size_t open = 0;
	bool have_open = false;
	for (size_t i = 0; i < n; i++)
		if (at_or_before(&g->r[i], start)) {
			open = i;
			have_open = true;
		}
	size_t close = n - 1;
	const struct gw_meter_row *last = &g->r[close];
	snprintf(l->tenant, sizeof(l->tenant), "%s", last->tenant);
	snprintf(l->serial, sizeof(l->serial), "%s", last->serial);
	snprintf(l->counter, sizeof(l->counter), "%s", g->counter);
	snprintf(l->source, sizeof(l->source), "%s", g->source);
	l->period_start = start;
	l->period_end = end;
	l->open_value = g->r[open].value;
	l->open_at = g->r[open].at;
	l->open_at_nsec = g->r[open].at_nsec;
	l->close_value = last->value;
	l->close_at = last->at;
	l->close_at_nsec = last->at_nsec;
	if (!have_open) {
		l->flags |= GW_BILL_FIRST;   /* opens with its first reading in the period */
	} else if (older_than(&g->r[open], start, u->estimate_after)) {
		l->flags |= GW_BILL_EST_OPEN;
		l->open_value = estimate_at(g, open, start);
		l->open_at = start;
		l->open_at_nsec = 0;
	}
	if (end > u->now) {
		l->flags |= GW_BILL_OPEN;   /* the latest so far: nothing is estimated */
	} else if (older_than(last, end, u->estimate_after)) {
		l->flags |= GW_BILL_EST_CLOSE;
		l->close_value = estimate_at(g, close, end);
		l->close_at = end;
		l->close_at_nsec = 0;
	}
	l->segments = 1;
	l->usage = (l->close_value - last->value) - (l->open_value - g->r[open].value);
	for (size_t i = open; i < close; i++) {
		const char *rule = gw_billing_check_step(g->r[i].value, g->r[i].at, g->r[i + 1].value,
							 g->r[i + 1].at, rate->ppm);
		if (rule != NULL && !(l->flags & GW_BILL_SUSPECT) && decided(u, &g->r[i + 1]) == 0) {
			suspect(l, rule, &g->r[i + 1]);
			l->suspect_model_rate = rate->model;
			l->suspect_ppm = rate->ppm;
		}
		unsigned how;
		l->usage += step_usage(g->r[i].value, g->r[i + 1].value, &how);
		l->flags |= how;
		if (how == GW_BILL_RESET)
			l->segments++;
	}
	size_t k = stuck_at(u, g, open, close);
	if (k < g->n && !(l->flags & GW_BILL_SUSPECT))
		suspect(l, "stuck", &g->r[k]);
	return true;
}

/* Name the device's groups: a vendor code its model maps to a standard
 * counter is billed as that counter, unless the device reports it itself. */
static void name_groups(struct run *u, const struct gw_meter_model *model)
{
	for (size_t k = 0; k < u->ng; k++) {
		struct group *g = &u->g[k];
		const struct gw_meter_row *r = &g->r[0];
		char buf[GW_BILLING_COUNTER_MAX];
		const char *meaning = gw_meter_meaning(model, r->service, r->name, buf, sizeof(buf));
		snprintf(g->counter, sizeof(g->counter), "%s/%s", r->service, r->name);
		snprintf(g->meaning, sizeof(g->meaning), "%s", meaning != NULL ? meaning : "");
		g->source[0] = '\0';
	}
	for (size_t k = 0; k < u->ng; k++) {
		struct group *g = &u->g[k];
		if (g->meaning[0] == '\0' || strcmp(g->meaning, g->counter) == 0)
			continue;
		bool direct = false;
		for (size_t j = 0; j < u->ng && !direct; j++)
			direct = strcmp(u->g[j].counter, g->meaning) == 0;
		if (direct)
			continue;
		memcpy(g->source, g->counter, sizeof(g->source));
		memcpy(g->counter, g->meaning, sizeof(g->counter));
	}
}

static int cmp_group(const void *a, const void *b)
{
	const struct gw_meter_row *x = &((const struct group *)a)->r[0];
	const struct gw_meter_row *y = &((const struct group *)b)->r[0];
	int c = strcmp(x->service, y->service);
	return c != 0 ? c : strcmp(x->name, y->name);
}

/* Bill the device whose readings are in u->g. */
static void flush(struct run *u)
{
	/* by service and name, whatever order the counters came in: the
	 * device's tenant is its first counter's */
	qsort(u->g, u->ng, sizeof(*u->g), cmp_group);
	size_t ng = 0;
	for (size_t k = 0; k < u->ng; k++) {
		struct group *g = &u->g[k];
		size_t kept = 0;   /* an excluded reading was never read */
		for (size_t i = 0; i < g->n; i++)
			if (u->n_dec == 0 || decided(u, &g->r[i]) != 2)
				g->r[kept++] = g->r[i];
		g->n = kept;
		if (g->n > 0 && k != ng) {   /* keep the groups with readings first */
			struct group t = u->g[ng];
			u->g[ng] = *g;
			*g = t;
		}
		if (u->g[ng].n > 0)
			ng++;
	}
	size_t all = u->ng;
	u->ng = ng;
	if (ng > 0 && gw_tenant_scope_has(u->scope, u->g[0].r[u->g[0].n - 1].tenant)) {
		const char *tenant = u->g[0].r[u->g[0].n - 1].tenant;
		const struct gw_device_row *d = device_of(u, u->g[0].r[0].serial);
		const struct gw_meter_model *model =
			gw_meter_models_find(u->svc != NULL ? u->svc->models : NULL,
					     d != NULL ? d->manufacturer : NULL, d != NULL ? d->model : NULL);
		struct gw_meter_rate rate;
		gw_meter_rate_of(model, u->margin, &rate);
		const struct gw_billing_period_rule *rule =
			gw_billing_rule_for(u->svc, u->tenants, u->n_tenants, tenant);
		int64_t start, end;
		gw_billing_window(rule, u->year, u->month, &start, &end);
		name_groups(u, model);
		for (size_t k = 0; k < ng && !u->nomem; k++) {
			struct gw_billing_line l;
			if (bill_group(u, &u->g[k], &rate, start, end, &l))
				push(u, &u->out->lines, &u->cap_lines, &u->out->n_lines, &l, sizeof(l));
		}
	}
	for (size_t k = 0; k < all; k++)
		u->g[k].n = 0;
	u->ng = 0;
}

/* The readings come device by device, a counter's in time order, a
 * device's counters possibly interleaved (gw_store_meter_range): each to
 * its counter's group, the device's last group first (meter_list gives a
 * counter's readings in a row). */
static int take_reading(void *ctx, const struct gw_meter_row *m)
{
	struct run *u = ctx;
	if (u->ng > 0 && strcmp(u->g[0].r[0].serial, m->serial) != 0)
		flush(u);
	if (u->nomem)
		return 1;
	struct group *g = NULL;
	for (size_t k = 0; k < u->ng && g == NULL; k++) {
		size_t i = (u->next_g + k) % u->ng;   /* reports list counters alike */
		if (strcmp(u->g[i].r[0].name, m->name) == 0 &&
		    strcmp(u->g[i].r[0].service, m->service) == 0) {
			g = &u->g[i];
			u->next_g = i + 1;
		}
	}
	if (g == NULL) {   /* the device's next counter */
		g = tm_array_grow(u->g, &u->cap_g, u->ng, sizeof(*g), 8, SIZE_MAX);
		if (g == NULL) {
			u->nomem = true;
			return 1;
		}
		u->g = g;
		if (u->ng == u->init_g) {
			memset(&u->g[u->ng], 0, sizeof(u->g[u->ng]));
			u->init_g++;
		}
		g = &u->g[u->ng++];
		u->next_g = u->ng;
		g->n = 0;
	}
	return push(u, &g->r, &g->cap, &g->n, m, sizeof(*m));
}

static int cmp_line(const void *a, const void *b)
{
	const struct gw_billing_line *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);
	if (c == 0)
		c = strcmp(x->serial, y->serial);
	return c != 0 ? c : strcmp(x->counter, y->counter);
}

static int totals(struct gw_billing *o)
{
	/* lines are sorted by tenant, serial, counter: gather per tenant + counter */
	for (size_t i = 0; i < o->n_lines; i++) {
		const struct gw_billing_line *l = &o->lines[i];
		struct gw_billing_total *t = NULL;
		for (size_t k = o->n_totals; k > 0 && t == NULL; k--) {
			struct gw_billing_total *c = &o->totals[k - 1];
			if (strcmp(c->tenant, l->tenant) != 0)
				break;
			if (strcmp(c->counter, l->counter) == 0)
				t = c;
		}
		if (t == NULL) {
			struct gw_billing_total *p = realloc(o->totals, (o->n_totals + 1) * sizeof(*p));
			if (p == NULL)
				return -1;
			o->totals = p;
			t = &o->totals[o->n_totals++];
			memset(t, 0, sizeof(*t));
			memcpy(t->tenant, l->tenant, sizeof(t->tenant));
			memcpy(t->counter, l->counter, sizeof(t->counter));
		}
		t->usage += l->usage;
		t->devices++;
	}
	return 0;
}

static int cmp_total(const void *a, const void *b)
{
	const struct gw_billing_total *x = a, *y = b;
	int c = strcmp(x->tenant, y->tenant);
	return c != 0 ? c : strcmp(x->counter, y->counter);
}

static int add_decision(void *ctx, const struct gw_meter_decision_row *d)
{
	struct run *u = ctx;
	return push(u, &u->dec, &u->cap_dec, &u->n_dec, d, sizeof(*d));
}

static int add_device(void *ctx, const struct gw_device_row *d)
{
	struct run *u = ctx;
	return push(u, &u->devs, &u->cap_devs, &u->n_devs, d, sizeof(*d));
}

static int add_tenant(void *ctx, const struct gw_tenant_row *t)
{
	struct run *u = ctx;
	return push(u, &u->tenants, &u->cap_tenants, &u->n_tenants, t, sizeof(*t));
}

/* What the run reads before the readings: decisions, devices, tenants. */
static int load(struct gw_store *st, struct run *u, struct tm_error *err)
{
	/* operators' decisions on suspect readings */
	int rc = gw_store_meter_decision_list(st, add_decision, u, err);
	if (rc == GW_STORE_OK && u->svc != NULL && u->svc->models != NULL)
		rc = gw_store_device_list(st, add_device, u, err);
	if (rc == GW_STORE_OK && u->svc != NULL && u->svc->n_periods > 0)
		rc = gw_store_tenant_list(st, add_tenant, u, err);
	return rc;
}

int gw_billing_run(struct gw_store *st, const struct gw_tenant_scope *scope, const char *period,
		   const struct gw_service_config *svc, int64_t now, struct gw_billing *out,
		   struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	struct run u = {
		.scope = scope, .svc = svc, .out = out, .now = now,
		.estimate_after = svc != NULL ? svc->estimate_after : 2 * 86400,
		.stuck_after = svc != NULL ? svc->stuck_after : 21 * 86400,
		.margin = svc != NULL ? svc->speed_margin : 150,
	};
	if (gw_billing_month(period, &u.year, &u.month, err) < 0)
		return GW_STORE_ERROR;
	int rc = load(st, &u, err);
	const struct gw_billing_period_rule *rule = gw_billing_rule_for(
		svc, u.tenants, u.n_tenants, scope->all || scope->n == 0 ? NULL : scope->names[0]);
	gw_billing_window(rule, u.year, u.month, &out->start, &out->end);
	gw_billing_rule_text(rule, out->basis, sizeof(out->basis));
	snprintf(out->period, sizeof(out->period), "%s", period);
	out->open = out->end > now;
	/* every tenant's period ends by the calendar month's end plus a day (read
	 * days are 1..28, zones within ±14 h): read up to there, each line cuts */
	int64_t cal_start, cal_end;
	gw_billing_window(NULL, u.year, u.month, &cal_start, &cal_end);
	/* and from the earliest start (a read day in the month before, a zone:
	 * within 32 days before the calendar month) less what the stuck rule
	 * looks back at, with the last reading before that: not every reading
	 * of the history (gw_store_meter_range, issue 16) */
	if (rc == GW_STORE_OK)
		rc = gw_store_meter_range(st, cal_start - 32 * 86400 - u.stuck_after,
					  cal_end + 86400, take_reading, &u, err);
	if (rc == GW_STORE_OK)
		flush(&u);
	for (size_t k = 0; k < u.init_g; k++)
		free(u.g[k].r);
	free(u.g);
	free(u.dec);
	free(u.devs);
	free(u.tenants);
	if (rc == 1 || u.nomem)
		rc = tm_error_set(err, "internal.nomem", "billing: out of memory");
	if (rc == GW_STORE_OK) {
		qsort(out->lines, out->n_lines, sizeof(*out->lines), cmp_line);
		if (totals(out) < 0)
			rc = tm_error_set(err, "internal.nomem", "billing: out of memory");
		else
			qsort(out->totals, out->n_totals, sizeof(*out->totals), cmp_total);
	}
	if (rc != GW_STORE_OK)
		gw_billing_fini(out);
	return rc;
}

int gw_billing_compute(struct gw_store *st, const struct gw_tenant_scope *scope,
		       const char *period, int64_t estimate_after, int64_t now,
		       struct gw_billing *out, struct tm_error *err)
{
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	svc.estimate_after = estimate_after;
	return gw_billing_run(st, scope, period, &svc, now, out, err);
}

void gw_billing_fini(struct gw_billing *b)
{
	free(b->lines);
	free(b->totals);
	b->lines = NULL;
	b->totals = NULL;
	b->n_lines = b->n_totals = 0;
}

void gw_billing_line_flags(const struct gw_billing_line *l, char *buf, size_t n)
{
	gw_billing_flags_text(l->flags, buf, n);
	size_t used = strlen(buf);
	if ((l->flags & GW_BILL_SUSPECT) && strcmp(l->suspect_rule, "too_fast") == 0)
		snprintf(buf + used, n - used, ";rule=too_fast;basis=%s;ppm=%u;reading=%s",
			 l->suspect_model_rate ? "model" : "default", l->suspect_ppm,
			 l->suspect_reading);
	else if (l->flags & GW_BILL_SUSPECT)
		snprintf(buf + used, n - used, ";rule=%s;reading=%s", l->suspect_rule,
			 l->suspect_reading);
	used = strlen(buf);
	if (l->source[0] != '\0')
		snprintf(buf + used, n - used, "%sfrom=%s", used > 0 ? ";" : "", l->source);
}

int gw_billing_csv(const struct gw_billing *b, struct tm_buf *out)
{
	char flags[GW_BILLING_FLAGS_MAX], oat[40], cat[40];
	int rc = tm_buf_append_str(out, "record,tenant,serial,counter,opening,opening_at,closing,"
				   "closing_at,usage,segments,flags\n");
	for (size_t i = 0; rc == 0 && i < b->n_lines; i++) {
		const struct gw_billing_line *l = &b->lines[i];
		gw_billing_line_flags(l, flags, sizeof(flags));
		gw_store_format_utc(l->open_at, l->open_at_nsec, oat, sizeof(oat));
		gw_store_format_utc(l->close_at, l->close_at_nsec, cat, sizeof(cat));
		rc = tm_buf_printf(out, "device,%s,%s,%s,%" PRId64 ",%s,%" PRId64 ",%s,%" PRId64 ",%u,%s\n",
				   l->tenant, l->serial, l->counter, l->open_value, oat, l->close_value,
				   cat, l->usage, l->segments, flags);
	}
	for (size_t i = 0; rc == 0 && i < b->n_totals; i++) {
		const struct gw_billing_total *t = &b->totals[i];
		rc = tm_buf_printf(out, "tenant_total,%s,,%s,,,,,%" PRId64 ",,devices=%zu\n", t->tenant,
				   t->counter, t->usage, t->devices);
	}
	return rc < 0 ? -1 : 0;
}

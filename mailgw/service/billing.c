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
#include "registry/tenant_scope.h"
#include "store/audit.h"

int gw_billing_period(const char *text, int64_t *start, int64_t *end, struct tm_error *err)
{
	int y = 0, m = 0;
	const char *t = text != NULL ? text : "";
	bool ok = strlen(t) == 7 && t[4] == '-';
	for (int i = 0; i < 7 && ok; i++)
		if (i != 4 && (t[i] < '0' || t[i] > '9'))
			ok = false;
	if (ok) {
		y = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
		m = (t[5] - '0') * 10 + (t[6] - '0');
		ok = y >= 1970 && m >= 1 && m <= 12;
	}
	if (!ok)
		return tm_error_set(err, "billing.bad_period",
				    "--period '%.40s': want a month as YYYY-MM (e.g. 2026-10)", t);
	struct tm a = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1 };
	struct tm b = { .tm_year = (m == 12 ? y + 1 : y) - 1900, .tm_mon = m % 12, .tm_mday = 1 };
	*start = (int64_t)timegm(&a);
	*end = (int64_t)timegm(&b);
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
};

struct run {
	const struct gw_tenant_scope *scope;
	struct gw_meter_decision_row *dec;   /* operators' decisions, by serial, seq, counter */
	size_t n_dec, cap_dec;
	int64_t start, end, estimate_after;
	bool open;     /* the period's end is still to come */
	struct group g;
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

static void flush(struct run *u)
{
	struct group *g = &u->g;
	size_t kept = 0;   /* an excluded reading was never read */
	for (size_t i = 0; i < g->n; i++)
		if (u->n_dec == 0 || decided(u, &g->r[i]) != 2)
			g->r[kept++] = g->r[i];
	g->n = kept;
	if (g->n == 0)
		return;
	const struct gw_meter_row *last = &g->r[g->n - 1];
	if (!gw_tenant_scope_has(u->scope, last->tenant)) {
		g->n = 0;
		return;
	}
	struct gw_billing_line l;
	memset(&l, 0, sizeof(l));
	size_t open = 0;
	bool have_open = false;
	for (size_t i = 0; i < g->n; i++)
		if (at_or_before(&g->r[i], u->start)) {
			open = i;
			have_open = true;
		}
	if (!have_open) {
		open = 0;   /* the first reading in the period */
		l.flags |= GW_BILL_FIRST;
	} else if (older_than(&g->r[open], u->start, u->estimate_after)) {
		l.flags |= GW_BILL_EST_OPEN;
	}
	size_t close = g->n - 1;   /* the store gave readings at or before the end only */
	if (u->open)
		l.flags |= GW_BILL_OPEN;   /* the latest so far: nothing is estimated */
	else if (older_than(&g->r[close], u->end, u->estimate_after))
		l.flags |= GW_BILL_EST_CLOSE;
	snprintf(l.tenant, sizeof(l.tenant), "%s", last->tenant);
	snprintf(l.serial, sizeof(l.serial), "%s", last->serial);
	snprintf(l.counter, sizeof(l.counter), "%s/%s", last->service, last->name);
	l.open_value = g->r[open].value;
	l.open_at = g->r[open].at;
	l.open_at_nsec = g->r[open].at_nsec;
	l.close_value = g->r[close].value;
	l.close_at = g->r[close].at;
	l.close_at_nsec = g->r[close].at_nsec;
	l.segments = 1;
	for (size_t i = open; i < close; i++) {
		const char *rule = gw_billing_check_step(g->r[i].value, g->r[i].at, g->r[i + 1].value,
							 g->r[i + 1].at, GW_BILLING_PPM);
		if (rule != NULL && !(l.flags & GW_BILL_SUSPECT) && decided(u, &g->r[i + 1]) == 0) {
			l.flags |= GW_BILL_SUSPECT;
			snprintf(l.suspect_rule, sizeof(l.suspect_rule), "%s", rule);
			reading_id(&g->r[i + 1], l.suspect_reading, sizeof(l.suspect_reading));
		}
		int64_t a = g->r[i].value, b = g->r[i + 1].value, mod;
		if (b >= a) {
			l.usage += b - a;
		} else if (wrap_mod(a, b, &mod)) {
			l.usage += mod - a + b;
			l.flags |= GW_BILL_WRAPPED;
		} else if (b >= a / 10) {
			l.usage += b - a;   /* backwards, not to near zero: no reset (suspect) */
		} else {
			l.usage += b;   /* a new segment, counted from 0 */
			l.segments++;
			l.flags |= GW_BILL_RESET;
		}
	}
	g->n = 0;
	struct gw_billing *o = u->out;
	struct gw_billing_line *p = tm_array_grow(o->lines, &u->cap_lines, o->n_lines, sizeof(*p),
						  64, SIZE_MAX);
	if (p == NULL) {
		u->nomem = true;
		return;
	}
	o->lines = p;
	o->lines[o->n_lines++] = l;
}

static int take_reading(void *ctx, const struct gw_meter_row *m)
{
	struct run *u = ctx;
	struct group *g = &u->g;
	if (g->n > 0 && (strcmp(g->r[0].serial, m->serial) != 0 ||
			 strcmp(g->r[0].service, m->service) != 0 ||
			 strcmp(g->r[0].name, m->name) != 0))
		flush(u);
	if (u->nomem)
		return 1;
	struct gw_meter_row *p = tm_array_grow(g->r, &g->cap, g->n, sizeof(*p), 64, SIZE_MAX);
	if (p == NULL) {
		u->nomem = true;
		return 1;
	}
	g->r = p;
	g->r[g->n++] = *m;
	return 0;
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
	struct gw_meter_decision_row *p = tm_array_grow(u->dec, &u->cap_dec, u->n_dec, sizeof(*p),
							 16, SIZE_MAX);
	if (p == NULL) {
		u->nomem = true;
		return 1;
	}
	u->dec = p;
	u->dec[u->n_dec++] = *d;
	return 0;
}

int gw_billing_compute(struct gw_store *st, const struct gw_tenant_scope *scope,
		       const char *period, int64_t estimate_after, int64_t now,
		       struct gw_billing *out, struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	struct run u = { .scope = scope, .estimate_after = estimate_after, .out = out };
	if (gw_billing_period(period, &u.start, &u.end, err) < 0)
		return GW_STORE_ERROR;
	u.open = u.end > now;
	snprintf(out->period, sizeof(out->period), "%s", period);
	out->start = u.start;
	out->end = u.end;
	out->open = u.open;
	/* operators' decisions on suspect readings (none kept on a store without them) */
	int rc = gw_store_has_orders(st) ? gw_store_meter_decision_list(st, add_decision, &u, err)
					 : GW_STORE_OK;
	if (rc == GW_STORE_OK)
		rc = gw_store_meter_range(st, u.start, u.end, take_reading, &u, err);
	if (rc == GW_STORE_OK)
		flush(&u);
	free(u.g.r);
	free(u.dec);
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
	if (l->flags & GW_BILL_SUSPECT) {
		size_t used = strlen(buf);
		snprintf(buf + used, n - used, ";rule=%s;reading=%s", l->suspect_rule,
			 l->suspect_reading);
	}
}

int gw_billing_csv(const struct gw_billing *b, struct tm_buf *out)
{
	char flags[128 + 16 + GW_BILLING_READING_MAX], oat[40], cat[40];
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

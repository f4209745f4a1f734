/* telemail-mailgw — supply forecasting (see forecast.h). */
#include <stdlib.h>
#include <string.h>

#include "service/forecast.h"

#define DAY 86400.0
#define PAIR_MAX_GAP (36 * 3600)   /* a pair of readings further apart says nothing of weekdays */
#define HORIZON_DAYS 3650          /* a forecast further out than ten years is no forecast */

int64_t gw_forecast_pct(int64_t level, int64_t max_capacity, const char *unit)
{
	if (level == GW_FC_LEVEL_SOME || level == GW_FC_LEVEL_UNKNOWN)
		return level;
	if (level < 0)
		return -1;
	if (max_capacity > 0)
		return level >= max_capacity ? 100 : level * 100 / max_capacity;
	if (unit != NULL && strcmp(unit, "percent") == 0)
		return level > 100 ? 100 : level;
	return level == 0 ? 0 : -1;
}

static int cmp_point(const void *a, const void *b)
{
	const struct gw_fc_point *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void gw_forecast_sort(struct gw_fc_point *p, size_t n)
{
	if (n > 1)
		qsort(p, n, sizeof(*p), cmp_point);
}

size_t gw_forecast_cartridges(const struct gw_fc_point *p, size_t n, struct gw_fc_cartridge *out,
			      size_t max)
{
	size_t count = 0;
	int64_t low = -1;          /* the current cartridge's lowest known level */
	const char *part = "";     /* its part number, once one was reported */
	struct gw_fc_cartridge cur = { .first = 0, .key = 0, .installed_pct = -1, .last_pct = -1,
				       .replaced_by = "", .pages = -1 };
	int64_t pages0 = GW_FC_NO_PAGES, pages_last = GW_FC_NO_PAGES, cum = 0, prev_pages = GW_FC_NO_PAGES;
	for (size_t i = 0; i < n; i++) {
		const struct gw_fc_point *pt = &p[i];
		/* cumulative pages: a counter that went back starts again from 0 */
		if (pt->pages != GW_FC_NO_PAGES) {
			if (prev_pages != GW_FC_NO_PAGES)
				cum += pt->pages >= prev_pages ? pt->pages - prev_pages : pt->pages;
			prev_pages = pt->pages;
		}
		const char *why = NULL;
		if (i > 0) {
			if (pt->replaced)
				why = "agent_event";
			else if (pt->pct >= 0 && low >= 0 && pt->pct >= low + GW_FC_REPLACE_JUMP)
				why = "level_jump";
			else if (pt->part[0] != '\0' && part[0] != '\0' && strcmp(pt->part, part) != 0)
				why = "part_number";
			else if (pt->start)   /* the rise above a lowest level before the tail */
				why = "level_jump";
		} else if (pt->start) {
			cur.key = pt->seq;
		}
		if (why != NULL) {
			cur.last = i - 1;
			cur.replaced_at = pt->at;
			cur.replaced_by = why;
			cur.last_pct = low;
			if (pages0 != GW_FC_NO_PAGES && prev_pages != GW_FC_NO_PAGES)
				cur.pages = cum - pages0;
			if (count < max)
				out[count] = cur;
			count++;
			cur = (struct gw_fc_cartridge){ .first = i, .key = pt->seq, .installed_at = pt->at,
							.installed_pct = -1, .last_pct = -1,
							.replaced_by = "", .pages = -1 };
			low = -1;
			part = "";
			pages0 = GW_FC_NO_PAGES;
		}
		if (i == 0)
			cur.installed_at = pt->at;
		if (pt->pages != GW_FC_NO_PAGES) {
			if (pages0 == GW_FC_NO_PAGES)
				pages0 = cum;
			pages_last = cum;
		}
		if (pt->pct >= 0) {
			if (cur.installed_pct < 0)
				cur.installed_pct = pt->pct;
			if (low < 0 || pt->pct < low)
				low = pt->pct;
		}
		if (pt->part[0] != '\0')
			part = pt->part;
	}
	if (n > 0) {
		cur.last = n - 1;
		cur.last_pct = low;
		if (pages0 != GW_FC_NO_PAGES)
			cur.pages = pages_last - pages0;
		if (count < max)
			out[count] = cur;
		count++;
	}
	return count;
}

/* Nearest whole second (no libm). */
static int64_t round_s(double v)
{
	return (int64_t)(v < 0 ? v - 0.5 : v + 0.5);
}

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b != 0) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
static int weekday(int64_t t)
{
	int64_t d = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	return (int)(((d + 4) % 7 + 7) % 7);
}

static bool weekend(int64_t t)
{
	int w = weekday(t);
	return w == 0 || w == 6;
}

struct fit {
	double slope, intercept, r2;
	size_t n;
};

/* Least squares of y over x; false when x does not spread. */
static bool fit_line(const double *x, const double *y, size_t n, struct fit *f)
{
	double sx = 0, sy = 0;
	for (size_t i = 0; i < n; i++) {
		sx += x[i];
		sy += y[i];
	}
	if (n < 2)
		return false;
	double mx = sx / (double)n, my = sy / (double)n, sxx = 0, sxy = 0, syy = 0;
	for (size_t i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx <= 0)
		return false;
	f->slope = sxy / sxx;
	f->intercept = my - f->slope * mx;
	f->r2 = syy > 0 ? sxy * sxy / (sxx * syy) : 1.0;
	f->n = n;
	return true;
}

/* Pages per day over the recent history, split by weekday and weekend. */
struct rates {
	double uniform, weekday, weekend;
	bool pattern, any;
};

static void page_rates(const struct gw_fc_point *p, const double *cum, const bool *has_cum,
		       size_t n, int64_t last_at, struct rates *r)
{
	memset(r, 0, sizeof(*r));
	double wd_pages = 0, wd_days = 0, we_pages = 0, we_days = 0, all_pages = 0, all_days = 0;
	size_t prev = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!has_cum[i] || p[i].at < last_at - GW_FC_RATE_WINDOW)
			continue;
		if (prev != SIZE_MAX && p[i].at > p[prev].at) {
			double d = cum[i] - cum[prev], days = (double)(p[i].at - p[prev].at) / DAY;
			all_pages += d;
			all_days += days;
			if (p[i].at - p[prev].at <= PAIR_MAX_GAP) {
				int64_t mid = p[prev].at + (p[i].at - p[prev].at) / 2;
				if (weekend(mid)) {
					we_pages += d;
					we_days += days;
				} else {
					wd_pages += d;
					wd_days += days;
				}
			}
		}
		prev = i;
	}
	if (all_days <= 0)
		return;
	r->any = true;
	r->uniform = all_pages / all_days;
	if (wd_days >= 3 && we_days >= 1) {
		double wd = wd_pages / wd_days, we = we_pages / we_days;
		if (wd > 0 && we < GW_FC_WEEKEND_SHARE * wd) {
			r->pattern = true;
			r->weekday = wd;
			r->weekend = we;
		}
	}
}

/* When `pages` more pages are printed, from t on. */
static int64_t empty_time(int64_t t, double pages, const struct rates *r, bool *beyond)
{
	*beyond = false;
	if (!r->pattern)
		return t + (int64_t)round_s(pages / r->uniform * DAY);
	for (int day = 0; day <= HORIZON_DAYS; day++) {
		int64_t next = (t / 86400 + 1) * 86400;
		double rate = weekend(t) ? r->weekend : r->weekday;
		double use = rate * (double)(next - t) / DAY;
		if (rate > 0 && use >= pages)
			return t + (int64_t)round_s(pages / rate * DAY);
		pages -= use;
		t = next;
	}
	*beyond = true;
	return t;
}

static void refuse(struct gw_forecast *f, const char *why)
{
	f->ok = false;
	f->reason = why;
	f->basis = "";
}

static void finish(struct gw_forecast *f, int64_t as_of, bool stepped, double r2, int64_t span)
{
	double days = (double)(f->empty_at - as_of) / DAY;
	f->days_left = days > 0 ? days : 0;
	double c = r2 < 0 ? 0 : r2 > 1 ? 1 : r2;
	if (f->points < 5)
		c *= 0.6;
	if (span < 7 * 86400)
		c *= 0.7;
	if (stepped)
		c *= 0.8;
	f->confidence = c;
	f->confidence_word = c >= 0.8 ? "high" : c >= 0.5 ? "medium" : "low";
	f->ok = true;
	f->reason = "";
}

static bool fine_level(int64_t pct)
{
	return pct > 0 && pct != 50 && pct < 100;
}

void gw_forecast_run(struct gw_fc_point *p, size_t n, int64_t as_of, struct gw_forecast *f)
{
	gw_forecast_run_tail(p, n, false, as_of, f);
}

void gw_forecast_run_tail(struct gw_fc_point *p, size_t n, bool fine_before, int64_t as_of,
			  struct gw_forecast *f)
{
	memset(f, 0, sizeof(*f));
	f->reason = "";
	f->basis = "";
	f->confidence_word = "low";
	gw_forecast_sort(p, n);

	bool any_known = false, any_sentinel = false, fine = fine_before;
	for (size_t i = 0; i < n; i++) {
		if (p[i].pct >= 0) {
			any_known = true;
			fine = fine || fine_level(p[i].pct);
		} else if (p[i].pct == GW_FC_LEVEL_SOME || p[i].pct == GW_FC_LEVEL_UNKNOWN) {
			any_sentinel = true;
		}
	}
	f->fine_levels = fine;
	bool coarse = !fine;

	/* the current cartridge */
	struct gw_fc_cartridge cart = {0};
	size_t nc = gw_forecast_cartridges(p, n, &cart, 1);
	if (nc > 1) {
		struct gw_fc_cartridge *all = malloc(nc * sizeof(*all));
		if (all == NULL) {
			refuse(f, "no_memory");
			return;
		}
		gw_forecast_cartridges(p, n, all, nc);
		cart = all[nc - 1];
		free(all);
	}
	f->cartridge_key = cart.key;
	f->cartridge_at = cart.installed_at;
	if (!any_known) {
		refuse(f, any_sentinel ? "sentinels_only" : "no_level");
		return;
	}

	/* cumulative pages over the points (a reset counts from 0): only their
	 * differences are read, so a tail reads as the whole history */
	double *cum = calloc(n, sizeof(double)), *x = calloc(n, sizeof(double)),
	       *y = calloc(n, sizeof(double));
	bool *has_cum = calloc(n, sizeof(bool));
	if (cum == NULL || x == NULL || y == NULL || has_cum == NULL) {
		refuse(f, "no_memory");
		goto out;
	}
	double c = 0;
	int64_t prev = GW_FC_NO_PAGES;
	for (size_t i = 0; i < n; i++) {
		if (p[i].pages == GW_FC_NO_PAGES)
			continue;
		if (prev != GW_FC_NO_PAGES)
			c += (double)(p[i].pages >= prev ? p[i].pages - prev : p[i].pages);
		prev = p[i].pages;
		cum[i] = c;
		has_cum[i] = true;
	}

	/* the cartridge's levels: distinct values, the sensor's step, repeats */
	int64_t first_level = -1, step = 0, last_level = -1, last_known = -1;
	bool distinct = false, repeats = false;
	for (size_t i = cart.first; i <= cart.last; i++) {
		if (p[i].pct < 0)
			continue;
		if (first_level < 0)
			first_level = p[i].pct;
		else if (p[i].pct != first_level)
			distinct = true;
		if (last_level >= 0) {
			if (p[i].pct == last_level)
				repeats = true;
			else
				step = gcd64(step, llabs(p[i].pct - last_level));
		}
		last_level = p[i].pct;
		last_known = (int64_t)i;
	}
	if (!distinct) {
		refuse(f, "too_few_levels");
		goto out;
	}
	if (coarse) {
		refuse(f, "coarse_sensor");
		goto out;
	}
	bool stepped = step >= 5 && repeats;
	f->step = (int)step;
	f->last_at = p[n - 1].at;

	/* the points of the fit: all known levels, or where a stepped sensor
	 * changed its level (the moment it reached it) */
	size_t m = 0, mp = 0;
	int64_t prev_level = -1;
	int64_t span_from = p[cart.first].at;
	for (size_t i = cart.first; i <= cart.last; i++) {
		if (p[i].pct < 0)
			continue;
		/* a stepped sensor: where it changed, not its first level (reached
		 * who knows when) */
		bool take = !stepped || (prev_level >= 0 && p[i].pct != prev_level);
		prev_level = p[i].pct;
		if (!take)
			continue;
		y[m] = (double)p[i].pct;
		if (has_cum[i])
			mp++;
		m++;
	}
	/* pages basis when every fitted point has a counter */
	struct rates r;
	page_rates(p, cum, has_cum, n, p[n - 1].at, &r);
	bool pages_basis = mp == m && r.any && r.uniform > 0;
	size_t k = 0;
	prev_level = -1;
	for (size_t i = cart.first; i <= cart.last; i++) {
		if (p[i].pct < 0)
			continue;
		bool take = !stepped || (prev_level >= 0 && p[i].pct != prev_level);
		prev_level = p[i].pct;
		if (!take)
			continue;
		x[k++] = pages_basis ? cum[i] : (double)(p[i].at - span_from) / DAY;
	}
	int64_t first_at = -1, last_at = -1;
	for (size_t i = cart.first; i <= cart.last; i++)
		if (p[i].pct >= 0) {
			if (first_at < 0)
				first_at = p[i].at;
			last_at = p[i].at;
		}
	if (last_at - first_at < GW_FC_MIN_SPAN) {   /* minutes of data say nothing of days */
		refuse(f, "short_history");
		goto out;
	}
	struct fit ft;
	if (m < 2) {   /* a stepped sensor that changed its level once */
		refuse(f, "too_few_levels");
		goto out;
	}
	if (!fit_line(x, y, m, &ft) || ft.slope >= 0) {
		refuse(f, "no_consumption");
		goto out;
	}
	f->points = m;

	/* the level now: the fit at the last point, within what the sensor says */
	size_t li = (size_t)last_known;
	double at_x = pages_basis ? cum[li] : (double)(p[li].at - span_from) / DAY;
	double level = (double)last_level;
	if (stepped) {   /* between the step it shows and the next one up */
		level = ft.intercept + ft.slope * at_x + (double)step / 2;
		if (level < (double)last_level)
			level = (double)last_level;
		if (level > (double)(last_level + step))
			level = (double)(last_level + step);
	}
	f->level = level;
	int64_t from = p[li].at;
	bool beyond = false;
	if (pages_basis) {
		f->basis = "pages";
		f->pct_per_page = -ft.slope;
		f->weekday_pattern = r.pattern;
		f->pages_per_day = r.pattern ? r.weekday : r.uniform;
		f->weekend_pages_per_day = r.pattern ? r.weekend : r.uniform;
		f->pct_per_day = f->pct_per_page *
				 (r.pattern ? (5 * r.weekday + 2 * r.weekend) / 7 : r.uniform);
		f->empty_at = empty_time(from, level / f->pct_per_page, &r, &beyond);
	} else {
		f->basis = "time";
		f->pct_per_day = -ft.slope;
		double days = level / f->pct_per_day;
		if (days > HORIZON_DAYS)
			beyond = true;
		else
			f->empty_at = from + (int64_t)round_s(days * DAY);
	}
	if (beyond) {
		refuse(f, "no_consumption");
		goto out;
	}
	finish(f, as_of, stepped, ft.r2, p[li].at - span_from);
out:
	free(cum);
	free(x);
	free(y);
	free(has_cum);
}

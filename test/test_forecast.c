/* Supply forecasting (mailgw/service/forecast.c), over generated histories
 * with known answers: steady use, weekday-only use, a heavy user, a 10 %
 * step sensor, a three-step sensor (100/50/0), sentinels only, a single
 * level, a replacement at 30 %, a shaken cartridge (+3), a late report, a
 * swapped board (the counter restarts) and a device without counters.
 * Each history is a true level falling linearly with the pages printed; the
 * report says what its sensor would. The tolerance of each test is stated
 * beside it. */
#include <string.h>

#include <criterion/criterion.h>

#include "service/forecast.h"

#define DAY 86400
#define T0 INT64_C(1791223200)   /* 2026-10-05T18:00:00Z, a Monday */
#define MAXP 400

/* no libm in the test binaries */
#define ABS(v) ((v) < 0 ? -(v) : (v))

/* One report a day at 18:00 for `days` days (day 0 included). Each day
 * prints wd (Mon–Fri) or we (Sat, Sun) pages; the level falls by ppp
 * percent per page from `start`; the sensor floors to a multiple of `step`
 * (1: exact percent). */
struct gen {
	int days;
	double start, ppp;
	long wd, we;
	int step;
	bool no_pages;
};

static size_t generate(const struct gen *g, struct gw_fc_point *p)
{
	double level = g->start;
	int64_t pages = 100000;
	size_t n = 0;
	for (int d = 0; d <= g->days; d++) {
		if (d > 0) {
			int dow = d % 7;   /* day 0 is a Monday: 5 and 6 are the weekend */
			long today = dow >= 5 ? g->we : g->wd;
			pages += today;
			level -= (double)today * g->ppp;
		}
		int64_t shown = (int64_t)(level < 0 ? 0 : level);
		shown -= shown % g->step;
		p[n] = (struct gw_fc_point){ .at = T0 + (int64_t)d * DAY, .seq = d + 1, .pct = shown,
					     .pages = g->no_pages ? GW_FC_NO_PAGES : pages };
		n++;
	}
	return n;
}

static void run(struct gw_fc_point *p, size_t n, struct gw_forecast *f)
{
	gw_forecast_run(p, n, p[n - 1].at > p[0].at ? p[n - 1].at : p[0].at, f);
}

/* as_of: the last report; 2 %/day for 20 days: 60 % left, 30 days (±1). */
Test(forecast, steady_use)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect_str_eq(f.basis, "pages");
	cr_expect(!f.weekday_pattern);
	cr_expect(ABS(f.days_left - 30) <= 1, "days_left %.2f, want 30 ± 1", f.days_left);
	cr_expect(ABS(f.pages_per_day - 200) < 1, "pages/day %.1f", f.pages_per_day);
	cr_expect(ABS(f.pct_per_page - 0.01) < 0.001, "pct/page %f", f.pct_per_page);
	cr_expect_str_eq(f.confidence_word, "high");
	cr_expect_eq(f.empty_at, p[n - 1].at + (int64_t)(f.days_left * DAY + 0.5));
}

/* 300 pages Mon–Fri, none at weekends, 3 %/weekday: after four weeks 40 %
 * is left, 13.3 weekdays: the empty date falls on the third Wednesday
 * (18 to 19 calendar days), not 13.3 calendar days as a flat rate would say. */
Test(forecast, weekday_only_use)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 28, .start = 100, .ppp = 0.01, .wd = 300, .we = 0, .step = 1 };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect(f.weekday_pattern);
	cr_expect(ABS(f.pages_per_day - 300) < 1, "weekday pages/day %.1f", f.pages_per_day);
	cr_expect(f.weekend_pages_per_day < 1, "weekend pages/day %.1f", f.weekend_pages_per_day);
	/* the last report is Monday 18:00 (day 28); 13.3 weekdays: 2 full weeks
	 * (10 weekdays, 14 days) then 3.3 more (Tue … Fri morning) */
	cr_expect(f.days_left >= 17 && f.days_left <= 19.5, "days_left %.2f, want 17..19.5",
		  f.days_left);
}

/* 2,000 pages a day at 0.005 %/page: 10 %/day, 50 % left after 5 days:
 * 5 days (±0.5). */
Test(forecast, heavy_user)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 5, .start = 100, .ppp = 0.005, .wd = 2000, .we = 2000, .step = 1 };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect(ABS(f.days_left - 5) <= 0.5, "days_left %.2f, want 5 ± 0.5", f.days_left);
}

/* A sensor that shows 10 % steps: 2 %/day for 25 days, truly 50 % left
 * (25 days); the sensor shows 50 for five days: ±2.5 days. */
Test(forecast, ten_percent_steps)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 27, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 10 };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect_eq(f.step, 10);
	/* day 27: truly 46 %, 23 days */
	cr_expect(ABS(f.days_left - 23) <= 2.5, "days_left %.2f, want 23 ± 2.5", f.days_left);
	cr_expect(f.confidence < 0.9, "a stepped sensor is less sure: %.2f", f.confidence);
}

/* 100 / 50 / 0 sensors cannot carry a forecast. */
Test(forecast, three_step_sensor_refused)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 40, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 50 };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	run(p, n, &f);
	cr_expect(!f.ok);
	cr_expect_str_eq(f.reason, "coarse_sensor");
}

Test(forecast, sentinels_only_refused)
{
	struct gw_fc_point p[3] = {
		{ .at = T0, .seq = 1, .pct = GW_FC_LEVEL_SOME, .pages = 10 },
		{ .at = T0 + DAY, .seq = 2, .pct = GW_FC_LEVEL_UNKNOWN, .pages = 200 },
		{ .at = T0 + 2 * DAY, .seq = 3, .pct = GW_FC_LEVEL_SOME, .pages = 400 },
	};
	struct gw_forecast f;
	run(p, 3, &f);
	cr_expect(!f.ok);
	cr_expect_str_eq(f.reason, "sentinels_only");
}

Test(forecast, one_level_refused)
{
	struct gw_fc_point p[3] = {
		{ .at = T0, .seq = 1, .pct = 80, .pages = 10 },
		{ .at = T0 + DAY, .seq = 2, .pct = 80, .pages = 200 },
		{ .at = T0 + 2 * DAY, .seq = 3, .pct = 80, .pages = 400 },
	};
	struct gw_forecast f;
	run(p, 3, &f);
	cr_expect(!f.ok);
	cr_expect_str_eq(f.reason, "too_few_levels");
	run(p, 1, &f);
	cr_expect_str_eq(f.reason, "too_few_levels");
}

/* Replaced at 30 % on day 35 (7,000 pages in), then 10 days at 2 %/day: the
 * first cartridge yielded 7,000 pages and left at 30; the forecast reads
 * the new cartridge only: 80 % left, 40 days (±1). */
Test(forecast, replacement_at_30_percent)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 35, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	size_t n = generate(&g, p);
	cr_assert_eq(p[n - 1].pct, 30);
	struct gen g2 = { .days = 10, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	struct gw_fc_point q[MAXP];
	size_t m = generate(&g2, q);
	for (size_t i = 0; i < m; i++) {   /* continue the same device */
		q[i].at += 36 * DAY;
		q[i].seq += 36;
		q[i].pages += 7200;
		p[n++] = q[i];
	}
	struct gw_fc_cartridge c[4];
	cr_assert_eq(gw_forecast_cartridges(p, n, c, 4), 2);
	cr_expect_str_eq(c[0].replaced_by, "level_jump");
	cr_expect_eq(c[0].last_pct, 30);
	cr_expect_eq(c[0].pages, 7200, "pages yielded %lld", (long long)c[0].pages);
	cr_expect_eq(c[1].key, 37);
	cr_expect_eq(c[1].installed_pct, 100);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect(ABS(f.days_left - 40) <= 1, "days_left %.2f, want 40 ± 1", f.days_left);
}

/* A shaken cartridge shows +3 for a day: the same cartridge, the same
 * forecast (±1 day). */
Test(forecast, shaken_cartridge_is_not_new)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	size_t n = generate(&g, p);
	p[15].pct += 3;
	struct gw_fc_cartridge c[2];
	cr_expect_eq(gw_forecast_cartridges(p, n, c, 2), 1);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect(ABS(f.days_left - 30) <= 1, "days_left %.2f", f.days_left);
}

/* A late report (day 10 arrives last) changes nothing: the history is read
 * in report-time order. */
Test(forecast, late_report_in_its_place)
{
	struct gw_fc_point p[MAXP], q[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	size_t n = generate(&g, p);
	memcpy(q, p, n * sizeof(*p));
	struct gw_fc_point late = q[10];
	memmove(&q[10], &q[11], (n - 11) * sizeof(*q));
	q[n - 1] = late;
	struct gw_forecast a, b;
	run(p, n, &a);
	gw_forecast_run(q, n, p[n - 1].at, &b);
	cr_assert(a.ok && b.ok);
	cr_expect_eq(a.empty_at, b.empty_at);
}

/* The board is swapped on day 10: the counter restarts at 50. Pages counted
 * from 0 again keep the rate: 30 days (±1). */
Test(forecast, swapped_board_counter_reset)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	size_t n = generate(&g, p);
	int64_t base = p[10].pages - 50;
	for (size_t i = 10; i < n; i++)
		p[i].pages -= base;
	cr_assert_eq(p[10].pages, 50);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect(ABS(f.days_left - 30) <= 1.5, "days_left %.2f, want 30 ± 1.5", f.days_left);
}

/* No counters at all: the level over time, 2 %/day: 30 days (±1). */
Test(forecast, time_basis_without_counters)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1,
			 .no_pages = true };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	run(p, n, &f);
	cr_assert(f.ok, "refused: %s", f.reason);
	cr_expect_str_eq(f.basis, "time");
	cr_expect(ABS(f.days_left - 30) <= 1, "days_left %.2f", f.days_left);
}

Test(forecast, level_in_percent)
{
	cr_expect_eq(gw_forecast_pct(250, 1000, NULL), 25);
	cr_expect_eq(gw_forecast_pct(40, INT64_MIN, "percent"), 40);
	cr_expect_eq(gw_forecast_pct(-3, 1000, NULL), GW_FC_LEVEL_SOME);
	cr_expect_eq(gw_forecast_pct(-2, 1000, NULL), GW_FC_LEVEL_UNKNOWN);
	cr_expect_eq(gw_forecast_pct(7, -2, "impressions"), -1);
}

/* Ten reports a minute apart (an agent catching up, a demo): no forecast
 * from minutes of data. */
Test(forecast, short_history_refused)
{
	struct gw_fc_point p[10];
	for (int i = 0; i < 10; i++)
		p[i] = (struct gw_fc_point){ .at = T0 + 60 * i, .seq = i + 1, .pct = 90 - 5 * i,
					     .pages = 1000 + 300 * i };
	struct gw_forecast f;
	run(p, 10, &f);
	cr_expect(!f.ok);
	cr_expect_str_eq(f.reason, "short_history");
}

/* ---- the history's tail (gw_forecast_run_tail) ---- */

/* A year-long history of one supply: cartridge A falls from 100 to 3 by
 * day 100, is shaken to 18 (the same cartridge) and falls to 15 by day
 * 149; cartridge B goes in on day 150 at 33 (30 above A's lowest: a cut)
 * and falls 0.5 a day to day 230, with a page counter throughout. */
static size_t year_of_two_cartridges(struct gw_fc_point *p)
{
	size_t n = 0;
	int64_t pages = 100000;
	for (int d = 0; d <= 230; d++) {
		double level = d <= 100 ? 100 - 0.97 * d : d < 150 ? 18 - (d - 101) * 3.0 / 48
								   : 33 - 0.5 * (d - 150);
		pages += 120 + 60 * (d % 3);
		p[n++] = (struct gw_fc_point){ .at = T0 + (int64_t)d * DAY, .seq = d + 1,
					       .pct = (int64_t)level, .pages = pages };
	}
	return n;
}

/* From the current cartridge's start or 90 days before the newest point,
 * whichever is older, the tail answers what the whole history does. Its
 * first points (days 140 to 149) say 15: B's 33 is only 18 above them, so
 * without the mark of its start the tail would not see the cut. */
Test(forecast, tail_answers_as_the_whole_history)
{
	struct gw_fc_point p[MAXP], q[MAXP];
	size_t n = year_of_two_cartridges(p);
	struct gw_forecast whole, tail;
	gw_forecast_run(p, n, p[n - 1].at, &whole);
	cr_assert(whole.ok, "refused: %s", whole.reason);
	cr_assert_eq(whole.cartridge_key, 151, "B's first report");
	cr_assert_eq(whole.cartridge_at, T0 + 150 * DAY);
	cr_assert(whole.fine_levels);

	int64_t since = p[n - 1].at - GW_FC_RATE_WINDOW;   /* day 140, before B */
	cr_assert_lt(since, whole.cartridge_at);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i].at >= since) {
			q[m] = p[i];
			q[m].start = q[m].seq == whole.cartridge_key;
			m++;
		}
	cr_assert_eq(m, 91);
	gw_forecast_run_tail(q, m, true, p[n - 1].at, &tail);
	cr_assert(tail.ok, "refused: %s", tail.reason);
	cr_expect_eq(tail.cartridge_key, whole.cartridge_key);
	cr_expect_eq(tail.cartridge_at, whole.cartridge_at);
	cr_expect_eq(tail.points, whole.points);
	cr_expect_str_eq(tail.basis, whole.basis);
	cr_expect(ABS(tail.level - whole.level) < 1e-9);
	cr_expect(ABS(tail.pct_per_page - whole.pct_per_page) < 1e-12);
	cr_expect(ABS(tail.pages_per_day - whole.pages_per_day) < 1e-9);
	cr_expect(ABS(tail.empty_at - whole.empty_at) <= 1, "%lld vs %lld",
		  (long long)tail.empty_at, (long long)whole.empty_at);

	/* unmarked, the tail takes days 140 to 230 for one cartridge */
	for (size_t i = 0; i < m; i++)
		q[i].start = false;
	gw_forecast_run_tail(q, m, true, p[n - 1].at, &tail);
	cr_expect_eq(tail.cartridge_key, 0);
	cr_expect_eq(tail.cartridge_at, T0 + 140 * DAY);
}

/* A mark on the tail's first point gives that cartridge its key (seq), as
 * the whole history's cut there would; later, the cartridge's cut is
 * there whatever the levels say. */
Test(forecast, start_mark_keys_and_cuts)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.01, .wd = 200, .we = 200, .step = 1 };
	size_t n = generate(&g, p);
	p[0].start = true;
	struct gw_fc_cartridge c[3];
	cr_assert_eq(gw_forecast_cartridges(p, n, c, 3), 1);
	cr_expect_eq(c[0].key, 1);
	p[12].start = true;   /* 100 - 24 = 76, lower than the day before */
	cr_assert_eq(gw_forecast_cartridges(p, n, c, 3), 2);
	cr_expect_eq(c[0].last, 11);
	cr_expect_str_eq(c[0].replaced_by, "level_jump");
	cr_expect_eq(c[1].key, 13);
	cr_expect_eq(c[1].installed_at, T0 + 12 * DAY);
}

/* A coarse sensor (100, 50, 0) is judged by every level ever seen: a tail
 * of 100/50/0 after fine levels (fine_before) is no coarse sensor. The
 * flag answers whatever the forecast says. */
Test(forecast, tail_remembers_fine_levels)
{
	struct gw_fc_point p[MAXP];
	struct gen g = { .days = 20, .start = 100, .ppp = 0.025, .wd = 200, .we = 200, .step = 50 };
	size_t n = generate(&g, p);
	struct gw_forecast f;
	gw_forecast_run_tail(p, n, false, p[n - 1].at, &f);
	cr_expect(!f.ok);
	cr_expect_str_eq(f.reason, "coarse_sensor");
	cr_expect(!f.fine_levels);
	gw_forecast_run_tail(p, n, true, p[n - 1].at, &f);
	cr_expect_str_neq(f.reason, "coarse_sensor");
	cr_expect(f.fine_levels);
	p[3].pct = 37;
	gw_forecast_run_tail(p, n, false, p[n - 1].at, &f);
	cr_expect(f.fine_levels);
	for (size_t i = 0; i < n; i++)
		p[i].pct = GW_FC_LEVEL_UNKNOWN;
	gw_forecast_run_tail(p, n, true, p[n - 1].at, &f);
	cr_expect_str_eq(f.reason, "sentinels_only");
	cr_expect(f.fine_levels, "kept from before");
	cr_expect_eq(f.cartridge_at, T0, "filled on a refusal too");
}

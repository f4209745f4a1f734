/* Meter readings for billing: the period, the boundary rule (last reading at
 * or before each boundary), `estimated` and `first_reading`, counters that
 * went backwards (segments) or wrapped, per-tenant sums, the tenant filter;
 * and the fleet scenario (test/scenario/fleet.h): months of simulated
 * reports with an outage, a toner replacement, a counter reset and a silent
 * device, asserting the alerts raised and the billing figures exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "service/billing.h"
#include "service/meter_check.h"
#include "common.h"
#include "config/config_service.h"
#include "scenario/bill.h"
#include "scenario/fleet.h"
#include "registry/tenant_scope.h"
#include "store_fixture.h"

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq", "acme", 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(billing, .init = setup, .fini = teardown);

/* "now" for the months billed here: every one of them is over */
#define NOW_LATER 1811808000   /* 2027-06-01T00:00:00Z */

static void bill_at(const char *viewer, const char *period, int64_t now, struct gw_billing *b)
{
	struct gw_tenant_scope scope;
	struct tm_error err = {0};
	cr_assert_eq(gw_tenant_scope_load(st, viewer, &scope, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_billing_compute(st, &scope, period, svc.estimate_after, now, b, &err),
		     GW_STORE_OK, "%s: %s", err.reason, err.msg);
	gw_tenant_scope_fini(&scope);
}

static void bill(const char *viewer, const char *period, struct gw_billing *b)
{
	bill_at(viewer, period, NOW_LATER, b);
}

Test(billing, period_boundaries_and_bad_periods)
{
	int64_t s, e;
	struct tm_error err = {0};
	cr_assert_eq(gw_billing_period("2026-10", &s, &e, &err), 0);
	cr_assert_eq(s, 1790812800);   /* 2026-10-01T00:00:00Z */
	cr_assert_eq(e, 1793491200);   /* 2026-11-01T00:00:00Z */
	cr_assert_eq(gw_billing_period("2026-12", &s, &e, &err), 0);
	cr_assert_eq(e - s, 31 * 86400, "December ends at the next year's first instant");
	const char *bad[] = { "2026-13", "2026-00", "2026-1", "26-10", "2026/10", "", "1969-12",
			      "2026-10-01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(gw_billing_period(bad[i], &s, &e, &err), -1, "%s", bad[i]);
		cr_assert_str_eq(err.reason, "billing.bad_period");
		cr_assert_not_null(strstr(err.msg, "want a month as YYYY-MM"), "%s", err.msg);
	}
}

/* Readings of one device at given days of 2026-10 (day 0 = 2026-09-30). */
static void readings(const char *serial, const int *day, const long long *value, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sc_report r;
		sc_report_init(&r, serial, (long long)i + 1, 1790726400 + (int64_t)day[i] * 86400);
		r.total = value[i];
		sc_ingest(st, &svc, &r, "acme-hq", r.at);
	}
}

Test(billing, boundary_rule_estimated_reset_and_wrap)
{
	sc_enroll(st, "R1", "acme-hq", 1);
	sc_enroll(st, "W1", "acme-hq", 2);
	sc_enroll(st, "E1", "acme-hq", 3);
	/* R1: 2026-09-30, 10-15 (reset to 40), 10-31, 11-01 00:00 exactly, 11-02 */
	readings("R1", (int[]){ 0, 15, 31, 32, 33 }, (long long[]){ 1000, 40, 540, 600, 700 }, 5);
	/* W1: wraps at 2^32 */
	readings("W1", (int[]){ 2, 20, 31 }, (long long[]){ 4294967000LL, 100, 300 }, 3);
	/* E1: last reading before the start is 5 days old; none near the end */
	readings("E1", (int[]){ -5, 10 }, (long long[]){ 10, 20 }, 2);

	struct gw_billing b;
	bill("acme", "2026-10", &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "R1", "total/impressions");
	/* closing: the reading at exactly 2026-11-01T00:00:00Z counts (at or before) */
	cr_assert_eq(l->open_value, 1000);
	cr_assert_eq(l->close_value, 600);
	cr_assert_eq(l->usage, 40 + 500 + 60, "segments: 1000→(reset)40→540→600");
	cr_assert_eq(l->segments, 2);
	cr_assert_eq(l->flags, GW_BILL_RESET);

	l = sc_bill_line(&b, "W1", "total/impressions");
	cr_assert_eq(l->usage, 4294967296LL - 4294967000LL + 100 + 200);
	cr_assert_eq(l->segments, 1);
	cr_assert_eq(l->flags, GW_BILL_FIRST | GW_BILL_WRAPPED, "first reading 2026-10-02 (after the start)");

	/* E1 opens at its 09-25 reading (no earlier one to average: 10 itself) and
	 * closes at an estimate: 20 + 10 pages in 15 days x 22 days = 34 (14.67 down) */
	l = sc_bill_line(&b, "E1", "total/impressions");
	cr_assert_eq(l->open_value, 10);
	cr_assert_eq(l->open_at, 1790812800, "estimated at the boundary");
	cr_assert_eq(l->close_value, 34);
	cr_assert_eq(l->close_at, 1793491200);
	cr_assert_eq(l->usage, 24);
	cr_assert_eq(l->flags, GW_BILL_EST_OPEN | GW_BILL_EST_CLOSE);
	char flags[128];
	gw_billing_flags_text(l->flags, flags, sizeof(flags));
	cr_assert_str_eq(flags, "estimated_opening;estimated_closing");

	const struct gw_billing_total *t = sc_bill_total(&b, "acme-hq", "total/impressions");
	cr_assert_eq(t->devices, 3);
	cr_assert_eq(t->usage, 600 + 4294967296LL - 4294967000LL + 300 + 24);
	gw_billing_fini(&b);
}

/* The store hands billing only the readings it uses (gw_store_meter_range,
 * issue 16): the period's and, per device and counter, the last one at or
 * before the start that an operator did not exclude. A device silent all
 * month still gets its line from that reading. */
Test(billing, the_opening_is_the_last_reading_not_excluded)
{
	sc_enroll(st, "X1", "acme-hq", 1);
	sc_enroll(st, "S1", "acme-hq", 2);
	/* X1: 09-21, 09-29, 09-30, 10-10, 11-01 00:00; S1: only 09-25 */
	readings("X1", (int[]){ -9, -1, 0, 10, 32 }, (long long[]){ 1000, 1100, 1150, 1300, 1500 }, 5);
	readings("S1", (int[]){ -5 }, (long long[]){ 70 }, 1);
	struct gw_billing b;
	bill("acme", "2026-10", &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "X1", "total/impressions");
	cr_expect_eq(l->open_value, 1150);
	cr_expect_eq(l->usage, 350);
	cr_expect_eq(l->flags, 0);
	l = sc_bill_line(&b, "S1", "total/impressions");
	cr_expect_eq(l->open_value, 70);
	cr_expect_eq(l->close_value, 70);
	cr_expect_eq(l->usage, 0);
	cr_expect_eq(l->flags, GW_BILL_EST_OPEN | GW_BILL_EST_CLOSE);
	gw_billing_fini(&b);
	struct tm_error err = {0};
	cr_assert_eq(gw_meter_decide(st, &svc, "X1:3:total/impressions", true, "user:op", 5, &err),
		     GW_STORE_OK, "%s", err.msg);
	bill("acme", "2026-10", &b);
	l = sc_bill_line(&b, "X1", "total/impressions");
	cr_expect_eq(l->open_value, 1100, "the excluded 1150 was never read: 09-29 opens");
	cr_expect_eq(l->usage, 400);
	cr_expect_eq(l->flags, 0);
	gw_billing_fini(&b);
}

/* A device's counters come interleaved, report by report (the SQLite back
 * end walks a device's reports in time order, issue 16): each counter's
 * readings still make its own line. A counter missing from the last report
 * before the start opens at its reading before that, found when the period
 * meets it. */
Test(billing, counters_interleaved_and_one_missing_before_the_start)
{
	sc_enroll(st, "M1", "acme-hq", 1);
	static const int day[] = { -10, -1, 10, 31 };   /* 31: 11-01 00:00, closes */
	static const long long total[] = { 100, 200, 300, 420 }, mono[] = { 50, -1, 150, 190 };
	for (size_t i = 0; i < 4; i++) {
		struct sc_report r;
		sc_report_init(&r, "M1", (long long)i + 1, 1790726400 + (int64_t)day[i] * 86400);
		r.total = total[i];
		r.mono = mono[i];
		sc_ingest(st, &svc, &r, "acme-hq", r.at);
	}
	struct gw_billing b;
	bill("acme", "2026-10", &b);
	cr_assert_eq(b.n_lines, 2);
	const struct gw_billing_line *l = sc_bill_line(&b, "M1", "total/impressions");
	cr_expect_eq(l->open_value, 200);
	cr_expect_eq(l->close_value, 420);
	cr_expect_eq(l->usage, 220);
	cr_expect_eq(l->flags, 0);
	l = sc_bill_line(&b, "M1", "total/impressions_monochrome");
	cr_expect_eq(l->open_value, 50, "the 09-20 reading: the 09-29 report had no mono counter");
	cr_expect_eq(l->close_value, 190);
	cr_expect_eq(l->usage, 140);
	cr_expect_eq(l->flags, GW_BILL_EST_OPEN, "its opening is 11 days old: at the start, as"
		     " no reading before it gives a volume");
	gw_billing_fini(&b);
}

/* ---- the fleet scenario ---- */

static void replay_fleet(void)
{
	struct tm_error err = {0};
	for (int dev = 1; dev <= 4; dev++) {
		char serial[8];
		snprintf(serial, sizeof(serial), "D%d", dev);
		sc_enroll(st, serial, dev == 3 ? "acme" : "acme-hq", dev);
	}
	for (int d = 0; d < FLEET_DAYS; d++) {
		for (int dev = 1; dev <= 4; dev++) {
			struct sc_report r;
			const char *tenant;
			if (fleet_report(dev, d, &r, &tenant))
				cr_assert_eq(sc_ingest(st, &svc, &r, tenant, r.at + 120), GW_PUT_STORED);
		}
		struct gw_silence_counts k;
		cr_assert_eq(gw_alerts_check_silence(st, &svc, fleet_at(d) + 6 * 3600, &k, &err),
			     GW_STORE_OK, "%s", err.msg);
	}
}

Test(billing, fleet_scenario_alerts_and_figures, .timeout = 120)
{
	replay_fleet();
	struct gw_alert_row a;
	cr_assert_eq(sc_count_alerts(st, NULL, NULL), 7, "exactly the alerts below");

	/* D1: toner low on d = 50 (10 %), seen 5 times, replaced on d = 55 */
	cr_assert(sc_alert(st, "D1", "supply_low", "toner/black#1", &a));
	cr_assert_eq(a.first_seen, fleet_at(50));
	cr_assert_eq(a.last_seen, fleet_at(54));
	cr_assert_eq(a.count, 5);
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert_eq(a.resolved_at, fleet_at(55));
	cr_assert(sc_alert(st, "D1", "supply_replaced", "toner/black#1", &a));
	cr_assert_str_eq(a.detail, "toner/black#1: replaced, 6 % -> 100 %");
	/* D1: its order (issue 18): at 10 % on d = 50, installed by the replacement */
	cr_assert(sc_alert(st, "D1", "supply_order", "toner/black#1", &a));
	cr_assert_eq(a.first_seen, fleet_at(50));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert_eq(a.resolved_at, fleet_at(55));

	/* D2: silent from the check of d = 46 (7 d 6 h after d = 39), back on d = 50 */
	cr_assert(sc_alert(st, "D2", "device_silent", "device", &a));
	cr_assert_eq(a.first_seen, fleet_at(46) + 6 * 3600);
	cr_assert_eq(a.count, 4);
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert_eq(a.resolved_at, fleet_at(50));
	/* D2: the board swap on d = 75 */
	cr_assert(sc_alert(st, "D2", "counter_reset", "total/impressions", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_eq(a.first_seen, fleet_at(75));
	cr_assert_str_eq(a.detail, "counter total/impressions went from 64800 to 50 (reset or board swap)");

	/* D3: silent since the check of d = 87, still open, counted daily */
	cr_assert(sc_alert(st, "D3", "device_silent", "device", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_eq(a.first_seen, fleet_at(87) + 6 * 3600);
	cr_assert_eq(a.count, FLEET_DAYS - 87);

	/* D4: never reported until d = 70 (kept apart from silent) */
	cr_assert(sc_alert(st, "D4", "device_never_reported", "device", &a));
	cr_assert_eq(a.count, 70);
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert_eq(a.resolved_at, fleet_at(70));
	cr_assert_not(sc_alert(st, "D4", "device_silent", NULL, &a));

	/* billing 2026-10 as seen by the provider-level tenant acme */
	struct gw_billing b;
	bill("acme", "2026-10", &b);
	cr_assert_eq(b.n_lines, 5);
	const struct gw_billing_line *l = sc_bill_line(&b, "D1", "total/impressions");
	cr_assert_eq(l->open_value, 17200);     /* d = 60, 2026-09-30T06:00Z */
	cr_assert_eq(l->close_value, 20920);    /* d = 91, 2026-10-31T06:00Z */
	cr_assert_eq(l->usage, 3720);
	cr_assert_eq(l->flags, 0);
	l = sc_bill_line(&b, "D1", "total/impressions_monochrome");
	cr_assert_eq(l->usage, 3100);
	l = sc_bill_line(&b, "D2", "total/impressions");
	cr_assert_eq(l->open_value, 62000);
	cr_assert_eq(l->close_value, 3250);
	cr_assert_eq(l->usage, 2800 + 50 + 3200);
	cr_assert_eq(l->segments, 2);
	cr_assert_eq(l->flags, GW_BILL_RESET);
	/* D3: last read 2026-10-20T06:00Z (11000), silent at the cut-off 11.75 days
	 * later: 50 a day over the 80 days before, 11000 + 587.5 rounded down */
	l = sc_bill_line(&b, "D3", "total/impressions");
	cr_assert_eq(l->open_value, 10000);
	cr_assert_eq(l->close_value, 11587);
	cr_assert_eq(l->close_at, 1793491200, "the estimate is at the cut-off");
	cr_assert_eq(l->usage, 1587);
	cr_assert_eq(l->flags, GW_BILL_EST_CLOSE);
	l = sc_bill_line(&b, "D4", "total/impressions");
	cr_assert_eq(l->open_value, 300);
	cr_assert_eq(l->usage, 210);
	cr_assert_eq(l->flags, GW_BILL_FIRST);

	cr_assert_eq(b.n_totals, 3);
	cr_assert_eq(sc_bill_total(&b, "acme-hq", "total/impressions")->usage, 3720 + 6050 + 210);
	cr_assert_eq(sc_bill_total(&b, "acme-hq", "total/impressions")->devices, 3);
	cr_assert_eq(sc_bill_total(&b, "acme-hq", "total/impressions_monochrome")->usage, 3100);
	cr_assert_eq(sc_bill_total(&b, "acme", "total/impressions")->usage, 1587);
	gw_billing_fini(&b);

	/* September for D2 spans the outage: no estimate, one segment */
	bill("acme-hq", "2026-09", &b);
	l = sc_bill_line(&b, "D2", "total/impressions");
	cr_assert_eq(l->open_value, 56000);   /* d = 30 */
	cr_assert_eq(l->close_value, 62000);  /* d = 60 */
	cr_assert_eq(l->usage, 6000);
	cr_assert_eq(l->flags, 0);
	for (size_t i = 0; i < b.n_lines; i++)
		cr_assert_str_neq(b.lines[i].serial, "D3", "acme-hq must not see its parent's D3");
	gw_billing_fini(&b);
}

/* ---- full precision (issue 14, item 8) ---- */

/* One reading per (generated_at, value), seq in the order given. */
static void readings_at(const char *serial, const char *const *at, const long long *value,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sc_report r;
		struct tm_error err = {0};
		int64_t t;
		cr_assert_eq(gw_store_parse_utc(at[i], "test", &t, &err), 0, "%s", err.msg);
		sc_report_init(&r, serial, (long long)i + 1, t);
		r.generated_at = at[i];
		r.total = value[i];
		sc_ingest(st, &svc, &r, "acme-hq", t);
	}
}

Test(billing, a_fraction_after_the_boundary_is_after_it)
{
	sc_enroll(st, "F1", "acme-hq", 1);
	/* 00:00:00.600 is after the boundary 2026-11-01T00:00:00Z; seq 5 and 6
	 * lie in one second, the earlier one (by its fraction) sent last */
	readings_at("F1", (const char *const[]){ "2026-09-30T12:00:00Z", "2026-10-31T12:00:00Z",
						   "2026-11-01T00:00:00.600Z", "2026-11-20T08:00:00Z",
						   "2026-11-29T08:00:00.750Z",
						   "2026-11-29T08:00:00.25Z" },
		    (long long[]){ 900, 1000, 1100, 1120, 1150, 1140 }, 6);
	struct gw_billing b;
	bill("acme", "2026-10", &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "F1", "total/impressions");
	cr_assert_eq(l->open_value, 900);
	cr_assert_eq(l->close_value, 1000, "the 00:00:00.600 reading belongs to November");
	cr_assert_eq(l->close_at, 1793448000);   /* 2026-10-31T12:00:00Z */
	cr_assert_eq(l->close_at_nsec, 0);
	cr_assert_eq(l->usage, 100);
	cr_assert_eq(l->flags, 0);
	gw_billing_fini(&b);

	bill("acme", "2026-11", &b);
	l = sc_bill_line(&b, "F1", "total/impressions");
	cr_assert_eq(l->open_value, 1000, "November opens where October closed");
	cr_assert_eq(l->open_at, 1793448000);
	cr_assert_eq(l->close_value, 1150, "08:00:00.750 is after 08:00:00.25, whatever the seq");
	cr_assert_eq(l->close_at, 1795939200);   /* 2026-11-29T08:00:00Z */
	cr_assert_eq(l->close_at_nsec, 750000000);
	cr_assert_eq(l->usage, 150, "1000 -> 1100 -> 1120 -> 1140 -> 1150: no reset");
	cr_assert_eq(l->segments, 1);
	cr_assert_eq(l->flags, 0);
	gw_billing_fini(&b);

	/* the device's latest state keeps the fraction of its newest seq */
	struct gw_device_row d;
	bool found;
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_device_get(st, "F1", &d, &found, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(found);
	cr_assert_eq(d.last_seq, 6);
	cr_assert_eq(d.last_seen, 1795939200);
	cr_assert_eq(d.last_seen_nsec, 250000000);

	char *out;
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-11 --format csv", &out),
		     0, "%s", out);
	cr_assert_not_null(strstr(out, "device,acme-hq,F1,total/impressions,1000,2026-10-31T12:00:00Z,"
				  "1150,2026-11-29T08:00:00.750Z,150,1,\n"), "%s", out);
	free(out);
}

Test(billing, the_time_helpers_keep_every_digit)
{
	int64_t t;
	int32_t ns;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_parse_utc_ns("2026-11-01T00:00:00.6Z", "t", &t, &ns, &err), 0);
	cr_assert_eq(t, 1793491200);
	cr_assert_eq(ns, 600000000);
	cr_assert_eq(gw_store_parse_utc_ns("2026-11-01T00:00:00.000000001Z", "t", &t, &ns, &err), 0);
	cr_assert_eq(ns, 1);
	cr_assert_gt(gw_store_time_cmp(1793491200, 600000000, 1793491200, 0), 0);
	cr_assert_lt(gw_store_time_cmp(1793491199, 999999999, 1793491200, 0), 0);
	char buf[40];
	gw_store_format_utc(1793491200, 600000000, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-01T00:00:00.600Z");
	gw_store_format_utc(1793491200, 1500, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-01T00:00:00.000001500Z");
	gw_store_format_utc(1793491200, 0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-01T00:00:00Z");
}

/* ---- the open period (issue 14, item 26) ---- */

#define NOV_20 1795132800   /* 2026-11-20T00:00:00Z */

Test(billing, the_month_under_way_is_open_and_closes_at_the_latest_reading)
{
	sc_enroll(st, "O1", "acme-hq", 1);
	sc_enroll(st, "O2", "acme-hq", 2);
	/* O1 reads daily; O2 last read on 11-10, ten days before "now" */
	readings("O1", (int[]){ 31, 40, 50 }, (long long[]){ 100, 190, 290 }, 3);
	readings("O2", (int[]){ 31, 41 }, (long long[]){ 500, 530 }, 2);
	struct gw_billing b;
	bill_at("acme", "2026-11", NOV_20, &b);
	cr_assert(b.open);
	const struct gw_billing_line *l = sc_bill_line(&b, "O1", "total/impressions");
	cr_assert_eq(l->close_value, 290, "the latest reading so far (2026-11-19)");
	cr_assert_eq(l->usage, 190);
	cr_assert_eq(l->flags, GW_BILL_OPEN, "open, never estimated_closing");
	l = sc_bill_line(&b, "O2", "total/impressions");
	cr_assert_eq(l->close_value, 530);
	cr_assert_eq(l->flags, GW_BILL_OPEN);
	char flags[128];
	gw_billing_flags_text(l->flags, flags, sizeof(flags));
	cr_assert_str_eq(flags, "open");
	gw_billing_fini(&b);

	/* once the month is over, the same readings close it, estimated where stale */
	bill_at("acme", "2026-11", 1796083200 /* 2026-12-01T00:00:00Z */, &b);
	cr_assert_not(b.open);
	cr_assert_eq(sc_bill_line(&b, "O1", "total/impressions")->flags, GW_BILL_EST_CLOSE);
	cr_assert_eq(sc_bill_line(&b, "O2", "total/impressions")->flags, GW_BILL_EST_CLOSE);
	gw_billing_fini(&b);
	/* and October, over before "now", is not open */
	bill_at("acme", "2026-10", NOV_20, &b);
	cr_assert_not(b.open);
	cr_assert_eq(sc_bill_line(&b, "O1", "total/impressions")->flags, GW_BILL_FIRST);
	gw_billing_fini(&b);
}

Test(billing, the_open_marker_in_every_format)
{
	sc_enroll(st, "O1", "acme-hq", 1);
	readings("O1", (int[]){ 31, 50 }, (long long[]){ 100, 290 }, 2);
	char *out;
	const char *at = "--at 2026-11-20T00:00:00Z";
	char args[200];
	snprintf(args, sizeof(args), "billing --tenant acme --period 2026-11 --format csv %s", at);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", args, &out), 0, "%s", out);
	cr_assert_str_eq(out,
		"record,tenant,serial,counter,opening,opening_at,closing,closing_at,usage,segments,flags\n"
		"device,acme-hq,O1,total/impressions,100,2026-10-31T00:00:00Z,290,2026-11-19T00:00:00Z,190,1,open\n"
		"tenant_total,acme-hq,,total/impressions,,,,,190,,devices=1\n");
	free(out);
	snprintf(args, sizeof(args), "billing --tenant acme --period 2026-11 --format json %s", at);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", args, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "\"open\": true"), "%s", out);
	cr_assert_not_null(strstr(out, "\"flags\": [\n        \"open\"\n      ]"), "%s", out);
	free(out);
	snprintf(args, sizeof(args), "billing --tenant acme --period 2026-11 %s", at);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", args, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "period 2026-11 is open: it closes at the latest reading so far\n"),
			   "%s", out);
	cr_assert_not_null(strstr(out, "  open\n"), "%s", out);
	cr_assert_null(strstr(out, "estimated"), "%s", out);
	free(out);
	/* over: no marker */
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-10 --format json "
				   "--at 2026-11-20T00:00:00Z",
			 &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "\"open\": false"), "%s", out);
	free(out);
}

/* ---- meter validation (issue 18) ---- */

Test(billing, step_rules)
{
	const int64_t day = 86400;
	/* a day at 200 ppm and an hour's allowance: up to 300,000 pages */
	cr_expect_null(gw_billing_check_step(1000, 0, 301000, day, GW_BILLING_PPM));
	cr_expect_str_eq(gw_billing_check_step(1000, 0, 301001, day, GW_BILLING_PPM), "too_fast");
	cr_expect_str_eq(gw_billing_check_step(1000, 0, 13001, 0, GW_BILLING_PPM), "too_fast");
	cr_expect_str_eq(gw_billing_check_step(5200, 0, 5100, day, GW_BILLING_PPM), "backwards");
	cr_expect_null(gw_billing_check_step(64800, 0, 50, day, GW_BILLING_PPM), "a reset: near zero");
	cr_expect_null(gw_billing_check_step(4294967000LL, 0, 100, day, GW_BILLING_PPM), "a wrap");
	cr_expect_null(gw_billing_check_step(1000, 0, 1000, 30 * day, GW_BILLING_PPM));
}

/* M1 reads 900,000 for a day between 1,200 and 1,400 (a glitch): the line is
 * suspect (too_fast) until an operator excludes the reading, which bills
 * 1,000 → 2,000; M2 goes back from 5,200 to 5,100 (not to near zero: no
 * reset): suspect (backwards), the step counted as it is, until accepted.
 * Both decisions are audited. */
Test(billing, suspect_readings_flagged_then_settled)
{
	sc_enroll(st, "M1", "acme-hq", 1);
	sc_enroll(st, "M2", "acme-hq", 2);
	readings("M1", (int[]){ 0, 5, 6, 7, 31 }, (long long[]){ 1000, 1200, 900000, 1400, 2000 }, 5);
	readings("M2", (int[]){ 0, 5, 6, 7, 31 }, (long long[]){ 5000, 5200, 5100, 5300, 6000 }, 5);
	/* the alerts, raised as the readings arrived */
	struct gw_alert_row al;
	cr_assert(sc_alert(st, "M1", "meter_suspect", "total/impressions", &al));
	cr_expect_eq(al.state, GW_ALERT_OPEN);
	cr_expect_eq(al.count, 1, "900000 after 1200 (too_fast); 1400 after 900000 is a reset");
	cr_expect_str_eq(al.detail, "reading M1:3:total/impressions: too_fast (900000 after 1200; "
			 "default rate 200 ppm)");
	cr_assert(sc_alert(st, "M2", "meter_suspect", "total/impressions", &al));
	cr_expect_str_eq(al.detail, "reading M2:3:total/impressions: backwards (5100 after 5200)");
	struct gw_billing b;
	bill("acme", "2026-10", &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "M1", "total/impressions");
	cr_assert(l->flags & GW_BILL_SUSPECT);
	cr_expect_str_eq(l->suspect_rule, "too_fast");
	cr_expect_str_eq(l->suspect_reading, "M1:3:total/impressions");
	l = sc_bill_line(&b, "M2", "total/impressions");
	cr_assert(l->flags & GW_BILL_SUSPECT);
	cr_expect_str_eq(l->suspect_rule, "backwards");
	cr_expect_str_eq(l->suspect_reading, "M2:3:total/impressions");
	char flags[128];
	gw_billing_flags_text(l->flags, flags, sizeof(flags));
	cr_expect_str_eq(flags, "suspect");
	cr_expect_eq(l->usage, 1000, "the step back counts as it is: 6000 - 5000");
	gw_billing_fini(&b);

	struct tm_error err = {0};
	cr_assert_eq(gw_meter_decide(st, &svc, "M1:3:total/impressions", true, "user:op", 5, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_meter_decide(st, &svc, "M2:3:total/impressions", false, "user:op", 5, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_expect_eq(gw_meter_decide(st, &svc, "M2:9:total/impressions", false, "user:op", 5, &err),
		     GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "billing.bad_reading");
	cr_expect_eq(gw_meter_decide(st, &svc, "M2-3-total", false, "user:op", 5, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "billing.bad_reading");
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "M1", "meter_suspect", "total/impressions", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED, "settled by the exclusion");
	bill("acme", "2026-10", &b);
	l = sc_bill_line(&b, "M1", "total/impressions");
	cr_expect_eq(l->flags, 0, "the glitch excluded: nothing left to flag");
	cr_expect_eq(l->usage, 1000);
	l = sc_bill_line(&b, "M2", "total/impressions");
	cr_expect_eq(l->flags, 0, "accepted as it is: no longer suspect");
	cr_expect_eq(l->usage, 1000);
	gw_billing_fini(&b);

	char *out = NULL;
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "audit", &out), 0, "%s", out);
	cr_expect_not_null(strstr(out, "meter.exclude"), "%s", out);
	cr_expect_not_null(strstr(out, "meter.accept"), "%s", out);
	free(out);
}

/* The command line: the rule and the reading in the flags; accept by id. */
Test(billing, cli_suspect_and_accept)
{
	sc_enroll(st, "M2", "acme-hq", 2);
	readings("M2", (int[]){ 0, 5, 6, 7, 31 }, (long long[]){ 5000, 5200, 5100, 5300, 6000 }, 5);
	char *out = NULL;
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-10 --format csv",
				   &out), 0, "%s", out);
	cr_expect_not_null(strstr(out, ",1000,1,suspect;rule=backwards;reading=M2:3:total/impressions\n"),
			   "%s", out);
	free(out);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing accept M2:3:total/impressions", &out), 0, "%s", out);
	cr_expect_str_eq(out, "reading M2:3:total/impressions accepted\n");
	free(out);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-10 --format csv",
				   &out), 0, "%s", out);
	cr_expect_null(strstr(out, "suspect"), "%s", out);
	free(out);
	cr_assert_neq(sc_mailgw_run(tmpdir, "", "billing exclude M2:99:total/impressions", &out), 0);
	cr_expect_not_null(strstr(out, "billing.bad_reading"), "%s", out);
	free(out);
}

/* `billing exclude` on the command line: M1's glitch excluded by its id,
 * the line no longer suspect and billed without it; the decision kept (a
 * second word on the same reading replaces the first) and audited. */
Test(billing, cli_exclude_settles_the_line)
{
	sc_enroll(st, "M1", "acme-hq", 1);
	readings("M1", (int[]){ 0, 5, 6, 7, 31 }, (long long[]){ 1000, 1200, 900000, 1400, 2000 }, 5);
	char *out = NULL;
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-10 --format csv",
				   &out), 0, "%s", out);
	/* 900000 after 1200 is too fast, 1400 after it a reset: two segments */
	cr_expect_not_null(strstr(out, ",901000,2,reset;suspect;rule=too_fast;basis=default;ppm=200;"
				  "reading=M1:3:total/impressions\n"), "%s", out);
	free(out);
	sc_mailgw_is(tmpdir, "billing accept M1:3:total/impressions", 0,
		     "reading M1:3:total/impressions accepted\n");
	sc_mailgw_is(tmpdir, "billing exclude M1:3:total/impressions", 0,
		     "reading M1:3:total/impressions excluded\n");
	cr_expect_eq(tm_store_q1("SELECT count(*) FROM meter_decisions"), 1, "one word per reading");
	char word[16];
	tm_store_qtext("SELECT decision FROM meter_decisions WHERE serial = 'M1' AND seq = 3",
		       word, sizeof(word));
	cr_expect_str_eq(word, "exclude", "the later word stands");
	struct gw_billing b;
	bill("acme", "2026-10", &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "M1", "total/impressions");
	cr_expect_eq(l->flags, 0, "the glitch excluded: nothing left to flag");
	cr_expect_eq(l->usage, 1000, "1000 -> 2000 without 900000");
	gw_billing_fini(&b);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "audit", &out), 0, "%s", out);
	cr_expect_not_null(strstr(out, "meter.accept"), "%s", out);
	cr_expect_not_null(strstr(out, "meter.exclude"), "%s", out);
	free(out);
	sc_mailgw_is(tmpdir, "billing exclude M1-3", 1,
		     "telemail-mailgw: billing exclude: billing.bad_reading: reading 'M1-3': want"
		     " SERIAL:SEQ:COUNTER (as billing flags it)\n");
}

/* A late reading is checked against both neighbours in report time: day 1's
 * 5,500 arrives after day 2's 5,400, which is now a step back. */
Test(billing, late_reading_checked_in_its_place)
{
	sc_enroll(st, "M3", "acme-hq", 3);
	readings("M3", (int[]){ 0, 2, 1 }, (long long[]){ 5000, 5400, 5500 }, 3);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "M3", "meter_suspect", "total/impressions", &a));
	cr_expect_str_eq(a.detail, "reading M3:2:total/impressions: backwards (5400 after 5500)");
}

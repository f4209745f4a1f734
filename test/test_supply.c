/* Supply orders end to end through the store (service/supply.c): reports
 * stored the way the pipeline stores them (sc_ingest: put + the alerts
 * hook), then the orders, their transitions, the alert and the audit.
 * Histories: 200 pages a day, 0.01 % a page (2 % a day) from 100 %, one
 * report a day at 18:00 — so with the default rule (10 days, 10 %) the
 * order comes on day 40, at 20 % with 10 days left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "common.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "service/supply.h"

#define DAY 86400
#define T0 INT64_C(1791223200)   /* 2026-10-05T18:00:00Z, a Monday */

static char *tmpdir;
static char dbpath[512];
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	snprintf(dbpath, sizeof(dbpath), "%s/telemail.db", tmpdir);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = dbpath };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq", "acme", 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "S1", "acme-hq", 1);
}

static void teardown(void)
{
	gw_store_close(st);
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(supply, .init = setup, .fini = teardown);

/* The report of day d (seq d + 1) at `level` percent. */
static void day(int d, long level, const char *part)
{
	struct sc_report r;
	sc_report_init(&r, "S1", d + 1, T0 + (int64_t)d * DAY);
	r.total = 100000 + 200LL * d;
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", level, 100 };
	r.supply_part[0] = part;
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme-hq", r.at + 60), GW_PUT_STORED);
}

/* Days from..to of steady use from 100 % on day `start`. */
static void steady(int from, int to, int start)
{
	for (int d = from; d <= to; d++)
		day(d, 100 - 2 * (d - start), NULL);
}

struct orders {
	struct gw_order_row o[16];
	size_t n;
};

static int keep_order(void *ctx, const struct gw_order_row *o)
{
	struct orders *l = ctx;
	if (l->n < 16)
		l->o[l->n++] = *o;
	return 0;
}

static struct orders orders(void)
{
	struct orders l = {0};
	struct tm_error err = {0};
	cr_assert_eq(gw_store_order_list(st, NULL, 0, keep_order, &l, &err), GW_STORE_OK, "%s",
		     err.msg);
	return l;
}

struct events {
	struct gw_order_event_row e[16];
	size_t n;
};

static int keep_event(void *ctx, const struct gw_order_event_row *e)
{
	struct events *l = ctx;
	if (l->n < 16)
		l->e[l->n++] = *e;
	return 0;
}

static struct events events(int64_t order)
{
	struct events l = {0};
	struct tm_error err = {0};
	cr_assert_eq(gw_store_order_event_list(st, order, keep_event, &l, &err), GW_STORE_OK);
	return l;
}

static long long q1(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	long long v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

Test(supply, one_order_when_days_left_reach_the_lead_time)
{
	steady(0, 39, 0);
	cr_assert_eq(orders().n, 0, "22 %% and 11 days left on day 39: no order yet");
	steady(40, 45, 0);   /* on to 10 %: still the one order */
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.o[0].state, GW_ORDER_OPEN);
	cr_expect_str_eq(l.o[0].reason, "lead_time");
	cr_expect_eq(l.o[0].level, 20);
	cr_expect(l.o[0].days_left >= 9 && l.o[0].days_left <= 10, "days_left %lld",
		  (long long)l.o[0].days_left);
	cr_expect_eq(l.o[0].opened_at, T0 + 40 * DAY);
	cr_expect_str_eq(l.o[0].subject, "toner/black#1");
	cr_expect_eq(l.o[0].cartridge, 0);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "S1", "supply_order", "toner/black#1", &a));
	cr_expect_eq(a.state, GW_ALERT_OPEN);
	cr_expect_eq(a.count, 1);
	cr_expect_eq(a.id, l.o[0].alert_id);
	cr_expect_eq(events(l.o[0].id).n, 1);
	cr_expect_eq(q1("SELECT count(*) FROM svc_audit WHERE action = 'order.open'"), 1);
}

Test(supply, forecast_from_the_stored_history)
{
	steady(0, 20, 0);
	struct gw_forecast f;
	struct gw_fc_cartridge *c = NULL;
	size_t nc = 0;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "S1", 1, T0 + 20 * DAY, &f, &c, &nc, &err), GW_STORE_OK);
	cr_assert(f.ok, "%s", f.reason);
	cr_expect_str_eq(f.basis, "pages");
	cr_expect(f.days_left >= 29 && f.days_left <= 31, "days_left %.2f", f.days_left);
	cr_expect_eq(nc, 1);
	free(c);
}

/* Replaced at 30 % on day 36: no order came (30 % and 15 days left); the
 * cartridge history says it left at 30 % (early: waste). */
Test(supply, replacement_at_30_percent_is_a_new_cartridge)
{
	steady(0, 35, 0);
	steady(36, 40, 36);
	struct gw_forecast f;
	struct gw_fc_cartridge *c = NULL;
	size_t nc = 0;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "S1", 1, T0 + 40 * DAY, &f, &c, &nc, &err), GW_STORE_OK);
	cr_assert_eq(nc, 2);
	cr_expect_eq(c[0].last_pct, 30);
	cr_expect_str_eq(c[0].replaced_by, "level_jump");
	cr_expect_eq(c[0].pages, 36 * 200);
	cr_expect_eq(c[1].key, 37);
	cr_expect(f.ok && f.days_left >= 45 && f.days_left <= 47, "days_left %.2f", f.days_left);
	struct gw_supply_waste w = {0};
	gw_supply_waste_add(c, nc, &w);
	cr_expect_eq(w.replaced, 1);
	cr_expect_eq(w.early, 1, "replaced at 30 %%: early");
	cr_expect_eq(w.waste_pct, 30);
	free(c);
	cr_expect_eq(orders().n, 0);
}

/* The order's cartridge is replaced on day 46: the order is installed, its
 * alert resolved; the new cartridge gets an order of its own when it runs
 * low in turn (day 86). */
Test(supply, replacement_installs_the_order_and_allows_the_next)
{
	steady(0, 45, 0);
	steady(46, 85, 46);
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.o[0].state, GW_ORDER_INSTALLED);
	struct events e = events(l.o[0].id);
	cr_assert_eq(e.n, 2);
	cr_expect_eq(e.e[0].state, GW_ORDER_OPEN);
	cr_expect_eq(e.e[1].state, GW_ORDER_INSTALLED);
	cr_expect(e.e[1].id > e.e[0].id);
	cr_expect_eq(e.e[1].at, T0 + 46 * DAY);
	cr_expect_str_eq(e.e[1].detail, "replaced (level_jump) at 10 %");
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "S1", "supply_order", "toner/black#1", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
	steady(86, 90, 46);
	l = orders();
	cr_assert_eq(l.n, 2);
	cr_expect_eq(l.o[1].cartridge, 47, "the cartridge that came with seq 47 (day 46)");
	cr_expect_eq(l.o[1].opened_at, T0 + 86 * DAY);
	cr_expect_eq(l.o[1].state, GW_ORDER_OPEN);
}

/* A shaken cartridge (+3 %) is not a replacement: the order stays open and
 * no second one comes. */
Test(supply, shaken_cartridge_keeps_its_order)
{
	steady(0, 41, 0);
	day(42, 100 - 2 * 41 + 3, NULL);   /* 21 % after 18 % */
	steady(43, 45, 0);
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.o[0].state, GW_ORDER_OPEN);
	cr_expect_eq(events(l.o[0].id).n, 1);
}

/* A new part number is a new cartridge even without a jump in level (here
 * a part-used one at 20 %: above the floor, one level, no forecast yet). */
Test(supply, part_number_change_is_a_replacement)
{
	for (int d = 0; d <= 40; d++)
		day(d, 100 - 2 * d, "TN-100");
	day(41, 20, "TN-200");
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.o[0].state, GW_ORDER_INSTALLED);
	cr_expect_str_eq(events(l.o[0].id).e[1].detail, "replaced (part_number) at 20 %");
}

/* Day 38's report arrives after day 41's: stored in its place, one order. */
Test(supply, late_report_changes_nothing)
{
	steady(0, 37, 0);
	steady(39, 41, 0);
	day(38, 100 - 2 * 38, NULL);
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.o[0].opened_at, T0 + 40 * DAY);
	struct gw_forecast f;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "S1", 1, T0 + 41 * DAY, &f, NULL, NULL, &err), GW_STORE_OK);
	cr_expect(f.ok && f.days_left >= 8.5 && f.days_left <= 9.5, "days_left %.2f", f.days_left);
}

/* The rule is inherited: acme orders 20 days ahead, so acme-hq's device
 * orders at 40 % (day 30); acme-hq's own floor wins over the default. */
Test(supply, rule_is_inherited_and_overridable)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_rule_set(st, "acme", 20 * DAY, -1, "test", 5, &err), GW_STORE_OK,
		     "%s", err.msg);
	cr_assert_eq(gw_supply_rule_set(st, "acme-hq", -1, 5, "test", 5, &err), GW_STORE_OK);
	struct gw_supply_rule r;
	cr_assert_eq(gw_supply_rule_get(st, "acme-hq", &r, &err), GW_STORE_OK);
	cr_expect_eq(r.lead_time, 20 * DAY);
	cr_expect_str_eq(r.lead_time_from, "acme");
	cr_expect_eq(r.floor, 5);
	cr_expect_str_eq(r.floor_from, "acme-hq");
	cr_assert_eq(gw_supply_rule_get(st, "acme", &r, &err), GW_STORE_OK);
	cr_expect_eq(r.floor, GW_SUPPLY_FLOOR);
	cr_expect_str_eq(r.floor_from, "");
	steady(0, 31, 0);
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.o[0].opened_at, T0 + 30 * DAY);
	cr_expect_eq(l.o[0].level, 40);
	cr_expect_eq(gw_supply_rule_set(st, "nobody", 1, 1, "test", 5, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "registry.not_found");
	cr_expect_eq(q1("SELECT count(*) FROM svc_audit WHERE action = 'supply.rule'"), 2);
}

Test(supply, ship_and_cancel_are_transitions_with_audit)
{
	steady(0, 40, 0);
	struct orders l = orders();
	cr_assert_eq(l.n, 1);
	int64_t id = l.o[0].id;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_order_ship(st, &svc, id, "user:op", T0 + 41 * DAY, &err), GW_STORE_OK,
		     "%s", err.msg);
	cr_expect_eq(gw_supply_order_ship(st, &svc, id, "user:op", T0 + 41 * DAY, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "order.bad_state");
	cr_assert_eq(gw_supply_order_cancel(st, &svc, id, "user:op", T0 + 42 * DAY, &err), GW_STORE_OK);
	cr_expect_eq(gw_supply_order_cancel(st, &svc, id, "user:op", T0 + 42 * DAY, &err),
		     GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "order.bad_state");
	cr_expect_eq(gw_supply_order_ship(st, &svc, 999, "user:op", T0, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "order.not_found");
	struct events e = events(id);
	cr_assert_eq(e.n, 3);
	cr_expect_eq(e.e[1].state, GW_ORDER_SHIPPED);
	cr_expect_str_eq(e.e[1].actor, "user:op");
	cr_expect_eq(e.e[2].state, GW_ORDER_CANCELLED);
	cr_expect_eq(q1("SELECT count(*) FROM svc_audit WHERE action = 'order.transition'"), 2);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "S1", "supply_order", "toner/black#1", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
	/* cancelled is still this cartridge's one order */
	steady(41, 45, 0);
	cr_expect_eq(orders().n, 1);
}

/* "Some remaining" only: no forecast (sentinels_only), no order. */
Test(supply, sentinels_give_no_forecast_and_no_order)
{
	for (int d = 0; d < 10; d++)
		day(d, -3, NULL);
	struct gw_forecast f;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "S1", 1, T0 + 10 * DAY, &f, NULL, NULL, &err), GW_STORE_OK);
	cr_expect(!f.ok);
	cr_expect_str_eq(f.reason, "sentinels_only");
	cr_expect_eq(orders().n, 0);
}

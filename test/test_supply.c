/* Supply orders end to end through the store (service/supply.c): reports
 * stored the way the pipeline stores them (sc_ingest: put + the alerts
 * hook), then the orders, their transitions, the alert and the audit; on
 * SQLite (suite supply) and on PostgreSQL (supply_pg, test/store_fixture.h).
 * Histories: 200 pages a day, 0.01 % a page (2 % a day) from 100 %, one
 * report a day at 18:00 — so with the default rule (10 days, 10 %) the
 * order comes on day 40, at 20 % with 10 days left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common.h"
#include "config/config_service.h"
#include "scenario/bill.h"
#include "scenario/ingest.h"
#include "service/supply.h"
#include "store_fixture.h"

#define DAY 86400
#define T0 INT64_C(1791223200)   /* 2026-10-05T18:00:00Z, a Monday */

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq", "acme", 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "S1", "acme-hq", 1);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(supply, .init = setup, .fini = teardown);

/* The report of day d (seq d + 1) of device serial of tenant at `level` percent. */
static void day_of(const char *serial, const char *tenant, int d, long level, const char *part)
{
	struct sc_report r;
	sc_report_init(&r, serial, d + 1, T0 + (int64_t)d * DAY);
	r.total = 100000 + 200LL * d;
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", level, 100 };
	r.supply_part[0] = part;
	cr_assert_eq(sc_ingest(st, &svc, &r, tenant, r.at + 60), GW_PUT_STORED);
}

/* The same for S1 of acme-hq. */
static void day(int d, long level, const char *part)
{
	day_of("S1", "acme-hq", d, level, part);
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
	return tm_store_q1(sql);
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

/* tenant's rule: acme's lead time, acme-hq's floor */
static void expect_acme_hq_rule(const char *tenant)
{
	struct tm_error err = {0};
	struct gw_supply_rule r;
	cr_assert_eq(gw_supply_rule_get(st, tenant, &r, &err), GW_STORE_OK, "%s", err.msg);
	cr_expect_eq(r.lead_time, 20 * DAY, "%s", tenant);
	cr_expect_str_eq(r.lead_time_from, "acme", "%s", tenant);
	cr_expect_eq(r.floor, 5, "%s", tenant);
	cr_expect_str_eq(r.floor_from, "acme-hq", "%s", tenant);
}

/* The rule is inherited: acme orders 20 days ahead, so acme-hq's device
 * orders at 40 % (day 30); acme-hq's own floor wins over the default. */
Test(supply, rule_is_inherited_and_overridable)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_rule_set(st, "acme", 20 * DAY, -1, "test", 5, &err), GW_STORE_OK,
		     "%s", err.msg);
	cr_assert_eq(gw_supply_rule_set(st, "acme-hq", -1, 5, "test", 5, &err), GW_STORE_OK);
	expect_acme_hq_rule("acme-hq");
	struct gw_supply_rule r;
	cr_assert_eq(gw_supply_rule_get(st, "acme", &r, &err), GW_STORE_OK);
	cr_expect_eq(r.floor, GW_SUPPLY_FLOOR);
	cr_expect_str_eq(r.floor_from, "");
	/* two levels up, past a tenant with no rule of its own */
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq-3f", "acme-hq", 100, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq-3f-b", "acme-hq-3f", 100, &err), 0, "%s",
		     err.msg);
	expect_acme_hq_rule("acme-hq-3f-b");
	cr_assert_eq(gw_supply_rule_get(st, "no-such-tenant", &r, &err), GW_STORE_OK);
	cr_expect_eq(r.lead_time, GW_SUPPLY_LEAD_TIME);
	cr_expect_str_eq(r.lead_time_from, "");
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

/* Two gateways store reports of S1 at once and both find no order for its
 * cartridge: the first opens it, the second's insert meets the key. On
 * PostgreSQL (READ COMMITTED: the second did not see the first's row) that
 * is store.busy, a retry, after which it finds the order; on SQLite the
 * second writer waits for the first before it reads, so a second insert is
 * a bug and fails. Either way: one order for the cartridge. */
Test(supply, one_order_per_cartridge_when_two_gateways_race)
{
	struct tm_error err = {0};
	struct gw_store *other = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &other, &err), GW_STORE_OK, "%s", err.msg);
	struct gw_order_row a = { .idx = 1, .cartridge = 0, .state = GW_ORDER_OPEN, .level = 9,
				  .days_left = -1, .opened_at = T0, .updated_at = T0 };
	snprintf(a.serial, sizeof(a.serial), "S1");
	snprintf(a.tenant, sizeof(a.tenant), "acme-hq");
	snprintf(a.subject, sizeof(a.subject), "toner/black#1");
	snprintf(a.reason, sizeof(a.reason), "floor");
	struct gw_order_row b = a, seen;
	bool found = true;
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_order_find(st, "S1", 1, 0, &seen, &found, &err), GW_STORE_OK);
	cr_assert(!found);
	cr_assert_eq(gw_store_order_insert(st, &a, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_order_find(other, "S1", 1, 0, &seen, &found, &err), GW_STORE_OK);
	cr_assert(!found, "the first gateway's order is not committed yet");
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	int rc = gw_store_order_insert(other, &b, &err);
	if (tm_sf.pg) {
		cr_assert_eq(rc, GW_STORE_RETRY);
		cr_assert_str_eq(err.reason, "store.busy");
		cr_assert_not_null(strstr(err.msg, "insert supply order: the order of S1#1 cartridge 0"
					  " was opened meanwhile; retry"), "%s", err.msg);
	} else {
		cr_assert_eq(rc, GW_STORE_ERROR);
		cr_assert_str_eq(err.reason, "store.failed");
		cr_assert_not_null(strstr(err.msg, "UNIQUE constraint failed"), "%s", err.msg);
	}
	cr_assert_eq(gw_store_order_find(other, "S1", 1, 0, &seen, &found, &err), GW_STORE_OK);
	cr_assert(found, "the retry finds the order the first gateway opened");
	cr_assert_eq(seen.id, a.id);
	cr_assert_str_eq(seen.reason, "floor");
	cr_assert_eq(orders().n, 1);
	gw_store_close(other);
}

/* A row read back is the row written, field by field, with the unset
 * values (no forecast, no alert, no report id, no transition detail). */
Test(supply, order_and_transition_rows_round_trip)
{
	struct tm_error err = {0};
	struct gw_order_row o = { .idx = 3, .cartridge = 17, .state = GW_ORDER_OPEN, .level = 12,
				  .days_left = -1, .opened_at = T0, .updated_at = T0 + 5 };
	snprintf(o.serial, sizeof(o.serial), "S1");
	snprintf(o.tenant, sizeof(o.tenant), "acme-hq");
	snprintf(o.subject, sizeof(o.subject), "toner/cyan#3");
	snprintf(o.reason, sizeof(o.reason), "floor");
	cr_assert_eq(gw_store_order_insert(st, &o, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(o.id > 0);
	struct gw_order_row g;
	bool found = false;
	cr_assert_eq(gw_store_order_get(st, o.id, &g, &found, &err), GW_STORE_OK);
	cr_assert(found);
	cr_expect_eq(g.idx, 3);
	cr_expect_eq(g.cartridge, 17);
	cr_expect_eq(g.state, GW_ORDER_OPEN);
	cr_expect_eq(g.level, 12);
	cr_expect_eq(g.days_left, -1);
	cr_expect_eq(g.opened_at, T0);
	cr_expect_eq(g.updated_at, T0 + 5);
	cr_expect_str_eq(g.report_id, "");
	cr_expect_eq(g.alert_id, 0);
	cr_expect_str_eq(g.subject, "toner/cyan#3");
	g.state = GW_ORDER_SHIPPED;
	g.updated_at = T0 + 9;
	g.alert_id = 42;
	cr_assert_eq(gw_store_order_update(st, &g, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_order_get(st, o.id, &g, &found, &err), GW_STORE_OK);
	cr_expect_eq(g.state, GW_ORDER_SHIPPED);
	cr_expect_eq(g.updated_at, T0 + 9);
	cr_expect_eq(g.alert_id, 42);
	cr_assert_eq(gw_store_order_get(st, o.id + 1, &g, &found, &err), GW_STORE_OK);
	cr_expect(!found);
	struct gw_order_event_row e = { .order_id = o.id, .state = GW_ORDER_SHIPPED, .at = T0 + 9 };
	snprintf(e.actor, sizeof(e.actor), "user:op");
	cr_assert_eq(gw_store_order_event_insert(st, &e, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(e.id > 0);
	struct events l = events(0);
	cr_assert_eq(l.n, 1);
	cr_expect_eq(l.e[0].id, e.id);
	cr_expect_eq(l.e[0].state, GW_ORDER_SHIPPED);
	cr_expect_str_eq(l.e[0].actor, "user:op");
	cr_expect_str_eq(l.e[0].detail, "");
	cr_expect_eq(events(o.id + 1).n, 0);
}

/* A rule row: set, replaced, one part unset, cleared (both -1). */
Test(supply, rule_rows_set_replace_clear)
{
	struct tm_error err = {0};
	struct gw_supply_rule_row r = { .lead_time = 5 * DAY, .floor = 7, .updated_at = 10 }, g;
	snprintf(r.tenant, sizeof(r.tenant), "acme");
	bool found = false;
	cr_assert_eq(gw_store_supply_rule_set(st, &r, &err), GW_STORE_OK, "%s", err.msg);
	r.lead_time = -1;
	r.updated_at = 11;
	cr_assert_eq(gw_store_supply_rule_set(st, &r, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_supply_rule_get(st, "acme", &g, &found, &err), GW_STORE_OK);
	cr_assert(found);
	cr_expect_eq(g.lead_time, -1, "inherits again");
	cr_expect_eq(g.floor, 7);
	cr_expect_eq(g.updated_at, 11);
	r.floor = -1;
	cr_assert_eq(gw_store_supply_rule_set(st, &r, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_supply_rule_get(st, "acme", &g, &found, &err), GW_STORE_OK);
	cr_expect(!found, "both parts inherited: no row");
	cr_expect_eq(q1("SELECT count(*) FROM supply_rules"), 0);
}

/* ---- the command line, on this test's back end ---- */

static int run(const char *args, char **out)
{
	return sc_mailgw_run(tmpdir, "", args, out);
}

/* `orders`: each tenant sees its own orders (and its children's); ship and
 * cancel move one on; a missing order or a second ship is refused with its
 * reason and exit status 1. */
Test(supply, cli_orders_by_tenant_ship_cancel)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "globex", NULL, 100, &err), 0, "%s", err.msg);
	sc_enroll(st, "G1", "globex", 2);
	steady(0, 40, 0);
	for (int d = 0; d <= 40; d++)
		day_of("G1", "globex", d, 100 - 2 * d, NULL);
	struct orders l = orders();
	cr_assert_eq(l.n, 2);
	int64_t s1 = strcmp(l.o[0].serial, "S1") == 0 ? l.o[0].id : l.o[1].id;
	int64_t g1 = s1 == l.o[0].id ? l.o[1].id : l.o[0].id;
	char *out = NULL, args[96], want[256];
	cr_assert_eq(run("orders list --tenant acme", &out), 0, "%s", out);
	snprintf(want, sizeof(want), "%5lld  acme-hq      S1             toner/black#1        open    "
		 "  lead_time    20    10  2026-11-14T18:00:00Z  2026-11-14T18:00:00Z\n", (long long)s1);
	cr_expect_not_null(strstr(out, want), "%s", out);
	cr_expect_null(strstr(out, "G1"), "acme does not see globex's order: %s", out);
	free(out);
	cr_assert_eq(run("orders --tenant globex --json", &out), 0, "%s", out);
	cr_expect_not_null(strstr(out, "\"serial\": \"G1\""), "%s", out);
	cr_expect_null(strstr(out, "S1"), "%s", out);
	free(out);
	cr_assert_eq(run("orders --tenant nobody", &out), 1, "%s", out);
	cr_expect_not_null(strstr(out, "registry.not_found"), "%s", out);
	free(out);

	snprintf(args, sizeof(args), "orders ship %lld", (long long)s1);
	snprintf(want, sizeof(want), "order %lld shipped\n", (long long)s1);
	sc_mailgw_is(tmpdir, args, 0, want);
	snprintf(want, sizeof(want), "telemail-mailgw: orders ship: order.bad_state: order %lld:"
		 " already shipped\n", (long long)s1);
	sc_mailgw_is(tmpdir, args, 1, want);
	snprintf(args, sizeof(args), "orders cancel %lld", (long long)g1);
	snprintf(want, sizeof(want), "order %lld cancelled\n", (long long)g1);
	sc_mailgw_is(tmpdir, args, 0, want);
	sc_mailgw_is(tmpdir, "orders ship 999", 1,
		     "telemail-mailgw: orders ship: order.not_found: order 999: no such order\n");
	sc_mailgw_is(tmpdir, "orders ship x9", 2,
		     "telemail-mailgw: orders ship ID: 'x9' is not an order id\n");

	cr_assert_eq(gw_store_order_get(st, s1, &l.o[0], &(bool){false}, &err), GW_STORE_OK);
	cr_expect_eq(l.o[0].state, GW_ORDER_SHIPPED);
	cr_assert_eq(gw_store_order_get(st, g1, &l.o[1], &(bool){false}, &err), GW_STORE_OK);
	cr_expect_eq(l.o[1].state, GW_ORDER_CANCELLED);
	cr_expect_eq(events(s1).n, 2);
	cr_expect_eq(q1("SELECT count(*) FROM svc_audit WHERE action = 'order.transition'"), 2);
}

/* `orders rule`, `orders cartridges` and `supplies` on the same history. */
Test(supply, cli_rule_cartridges_supplies)
{
	char *out = NULL;
	sc_mailgw_is(tmpdir, "orders rule --tenant acme --lead-time 20d", 0,
		     "tenant acme: lead_time 20d (acme), floor 10 % (default)\n");
	sc_mailgw_is(tmpdir, "orders rule --tenant acme-hq --floor 5", 0,
		     "tenant acme-hq: lead_time 20d (acme), floor 5 % (acme-hq)\n");
	sc_mailgw_is(tmpdir, "orders rule --tenant acme-hq --floor 101", 2,
		     "telemail-mailgw: --floor: '101' is not a percentage 0..100\n");
	sc_mailgw_is(tmpdir, "orders rule --tenant acme-hq --clear", 0,
		     "tenant acme-hq: lead_time 20d (acme), floor 10 % (default)\n");
	cr_expect_eq(q1("SELECT count(*) FROM svc_audit WHERE action = 'supply.rule'"), 3);

	steady(0, 35, 0);
	steady(36, 40, 36);
	cr_assert_eq(run("orders cartridges --tenant acme", &out), 0, "%s", out);
	cr_expect_not_null(strstr(out, "acme-hq      S1             toner/black#1          1  "
				  "2026-10-05T18:00:00Z   100  2026-11-10T18:00:00Z level_jump     30"
				  "     7200  early\n"), "%s", out);
	cr_expect_not_null(strstr(out, "acme-hq             1      1     0.30\n"), "%s", out);
	free(out);
	cr_assert_eq(run("supplies --tenant acme --format csv --at 2026-11-14T18:00:00Z", &out), 0,
		     "%s", out);
	cr_expect_not_null(strstr(out, "acme-hq,S1,1,toner,black,92,100,percent,46."), "%s", out);
	free(out);
}

/* `supplies` reads the forecast kept when the level last changed, days
 * counted from --at; --recompute makes it again from the whole history
 * (issue 16). Kept as the pipeline keeps it, it prints what --recompute
 * prints, to the last digit of every figure; moved by 5 days in the store,
 * the kept one shows; without its figures (a forecast kept before schema
 * SQLite v11 / PostgreSQL v14) or without a kept one (a copied store) the
 * history gives it. */
Test(supply, supplies_read_the_kept_forecast_or_recompute)
{
	steady(0, 30, 0);   /* 40 % on day 30, 2 % a day: empty on day 50, 2026-11-24 */
	static const char *const formats[] = { "csv", "json", "table" };
	char *kept = NULL, *again = NULL, args[160];
	for (size_t i = 0; i < 3; i++) {
		snprintf(args, sizeof(args), "supplies --tenant acme --format %s"
			 " --at 2026-11-14T18:00:00Z", formats[i]);
		cr_assert_eq(run(args, &kept), 0, "%s", kept);
		strcat(args, " --recompute");
		cr_assert_eq(run(args, &again), 0, "%s", again);
		cr_expect_str_eq(kept, again, "%s", formats[i]);
		free(kept);
		free(again);
	}
	const char *csv = "supplies --tenant acme --format csv --at 2026-11-14T18:00:00Z";
	const char *row = "acme-hq,S1,1,toner,black,40,100,percent,10.0,2026-11-24,pages,";
	cr_assert(tm_store_exec("UPDATE supply_forecasts SET empty_at = empty_at + 5 * 86400", NULL));
	cr_assert_eq(run(csv, &kept), 0, "%s", kept);
	cr_expect_not_null(strstr(kept, "acme-hq,S1,1,toner,black,40,100,percent,15.0,2026-11-29,"
				  "pages,"), "the kept one, days from --at: %s", kept);
	free(kept);
	snprintf(args, sizeof(args), "%s --recompute", csv);
	cr_assert_eq(run(args, &again), 0, "%s", again);
	cr_expect_not_null(strstr(again, row), "%s", again);
	free(again);
	cr_assert(tm_store_exec("UPDATE supply_forecasts SET score = NULL, pages_per_day = NULL,"
				" pct_per_day = NULL, weekday_pattern = NULL", NULL));
	cr_assert_eq(run(csv, &kept), 0, "%s", kept);
	cr_expect_not_null(strstr(kept, row), "kept without its figures: made again: %s", kept);
	free(kept);
	cr_assert(tm_store_exec("DELETE FROM supply_forecasts", NULL));
	cr_assert_eq(run(csv, &kept), 0, "%s", kept);
	cr_expect_not_null(strstr(kept, row), "none kept: made again: %s", kept);
	free(kept);
}

/* Every supply's row before a report in one call (one round trip on
 * PostgreSQL) answers what gw_store_supply_before answers for each: three
 * supplies, one the device never reported, one only in the later reports. */
Test(supply, the_rows_before_of_many_supplies_at_once)
{
	for (int d = 0; d < 3; d++) {
		struct sc_report r;
		sc_report_init(&r, "S1", d + 1, T0 + (int64_t)d * DAY);
		r.total = 100000 + 200LL * d;
		r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 90 - d, 100 };
		r.supplies[1] = (struct sc_supply){ 2, "toner", "cyan", 80 - 2 * d, 100 };
		r.supply_part[1] = "C-2";
		if (d > 0)
			r.supplies[2] = (struct sc_supply){ 4, "opc", NULL, 70 - 3 * d, 100 };
		cr_assert_eq(sc_ingest(st, &svc, &r, "acme-hq", r.at + 60), GW_PUT_STORED);
	}
	const int64_t idx[] = { 1, 2, 3, 4 };
	struct gw_supply_hist_row many[4];
	bool found[4];
	struct tm_error err = {0};
	for (int when = 1; when <= 3; when++) {   /* before the reports of day 1, 2 and after 2 */
		int64_t at = T0 + (int64_t)when * DAY;
		cr_assert_eq(gw_store_supply_before_many(st, "S1", 4, idx, at, 0, when + 1, many, found,
							 &err), GW_STORE_OK, "%s", err.msg);
		for (size_t i = 0; i < 4; i++) {
			struct gw_supply_hist_row one;
			bool one_found = false;
			cr_assert_eq(gw_store_supply_before(st, "S1", idx[i], at, 0, when + 1, &one,
							    &one_found, &err), GW_STORE_OK, "%s", err.msg);
			cr_assert_eq(found[i], one_found, "supply %lld at day %d", (long long)idx[i], when);
			if (!found[i])
				continue;
			cr_assert_eq(many[i].seq, when, "supply %lld: the report of day %d", (long long)idx[i],
				     when - 1);
			cr_assert_eq(many[i].level, one.level);
			cr_assert_str_eq(many[i].part_number, one.part_number);
			cr_assert_eq(many[i].pages, one.pages);
		}
		cr_assert(found[0] && found[1], "day %d", when);
		cr_assert_not(found[2], "supply 3 was never reported");
		cr_assert_eq(found[3], when >= 2, "supply 4 first comes on day 1");
	}
	cr_assert_eq(many[0].level, 88);
	cr_assert_eq(many[1].level, 76);
	cr_assert_str_eq(many[1].part_number, "C-2");
	cr_assert_eq(many[3].level, 64);
	/* more than a back end takes at once: the front splits, the answers
	 * stay in their places */
	enum { N = GW_SUPPLY_BEFORE_MAX + 6 };
	int64_t lots[N];
	struct gw_supply_hist_row rows[N];
	bool got[N];
	for (size_t i = 0; i < N; i++)
		lots[i] = idx[i % 4];
	cr_assert_eq(gw_store_supply_before_many(st, "S1", N, lots, T0 + 3 * DAY, 0, 4, rows, got,
						 &err), GW_STORE_OK, "%s", err.msg);
	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(got[i], found[i % 4], "entry %zu", i);
		if (got[i])
			cr_assert_eq(rows[i].level, many[i % 4].level, "entry %zu", i);
	}
	/* a newer report without a supply: that supply's row before is the
	 * newest report that lists it, further back */
	struct sc_report r4;
	sc_report_init(&r4, "S1", 4, T0 + 3 * DAY);
	r4.total = 100600;
	r4.supplies[0] = (struct sc_supply){ 1, "toner", "black", 87, 100 };
	cr_assert_eq(sc_ingest(st, &svc, &r4, "acme-hq", r4.at + 60), GW_PUT_STORED);
	cr_assert_eq(gw_store_supply_before_many(st, "S1", 4, idx, T0 + 4 * DAY, 0, 5, many, found,
						 &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(found[0] && found[1] && !found[2] && found[3]);
	cr_assert_eq(many[0].seq, 4, "supply 1: the newest report");
	cr_assert_eq(many[0].level, 87);
	cr_assert_eq(many[1].seq, 3, "supply 2: the report before the newest, which lacks it");
	cr_assert_eq(many[1].level, 76);
	cr_assert_eq(many[3].seq, 3);
	struct gw_supply_hist_row one;
	bool one_found = false;
	cr_assert_eq(gw_store_supply_before(st, "S1", 2, T0 + 4 * DAY, 0, 5, &one, &one_found, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(one_found);
	cr_assert_eq(one.seq, 3);
	cr_assert_str_eq(one.part_number, "C-2");
}

static int take_supply(void *ctx, const struct gw_supply_row *s)
{
	char *out = ctx;
	size_t len = strlen(out);
	snprintf(out + len, 512 - len, "%s#%lld seq %lld %s %lld%%;", s->serial, (long long)s->index,
		 (long long)s->seq, s->colorant, (long long)s->level);
	return 0;
}

/* The latest supplies follow the device's newest report: a supply it no
 * longer lists is gone, one it lists again is back, a late report changes
 * nothing. */
Test(supply, latest_supplies_are_the_newest_reports)
{
	const struct { long long seq; int at_day; long black, cyan; } rep[] = {
		{ 1, 0, 90, 80 }, { 2, 1, 85, -1 }, { 4, 3, 70, 60 }, { 3, 2, 10, 10 },
	};
	static const char *const want[] = {
		"S1#1 seq 1 black 90%;S1#2 seq 1 cyan 80%;",
		"S1#1 seq 2 black 85%;",
		"S1#1 seq 4 black 70%;S1#2 seq 4 cyan 60%;",
		"S1#1 seq 4 black 70%;S1#2 seq 4 cyan 60%;",
	};
	for (size_t i = 0; i < 4; i++) {
		struct sc_report r;
		sc_report_init(&r, "S1", rep[i].seq, T0 + (int64_t)rep[i].at_day * DAY);
		r.total = 1000 + rep[i].seq;
		r.supplies[0] = (struct sc_supply){ 1, "toner", "black", rep[i].black, 100 };
		if (rep[i].cyan >= 0)
			r.supplies[1] = (struct sc_supply){ 2, "toner", "cyan", rep[i].cyan, 100 };
		cr_assert_eq(sc_ingest(st, &svc, &r, "acme-hq", r.at + 60), GW_PUT_STORED);
		char got[512] = "";
		struct tm_error err = {0};
		cr_assert_eq(gw_store_supply_list(st, take_supply, got, &err), GW_STORE_OK, "%s",
			     err.msg);
		cr_assert_str_eq(got, want[i], "after seq %lld", rep[i].seq);
	}
}

/* ---- the history's tail ---- */

static struct gw_supply_tail tail_of(int64_t idx)
{
	struct gw_supply_tail t;
	bool found = false;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_supply_tail_get(st, "S1", idx, &t, &found, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert(found, "a tail kept for supply %lld", (long long)idx);
	return t;
}

/* Cartridge 1 from day 0 (0.7 % a day), cartridge 2 from day 100 (1 % a
 * day) to day `to`, but day 115. */
static void two_cartridges(int to)
{
	for (int d = 0; d <= to; d++)
		if (d != 115)
			day(d, d < 100 ? 100 - 7 * d / 10 : 100 - (d - 100), NULL);
}

/* A stored report that moves a level reads the supply's history from where
 * the kept forecast says the current cartridge began (or 90 days before
 * the newest point, if older), and keeps the same forecast as the whole
 * history gives; a report older than that cartridge's start reads the
 * whole history again. */
Test(supply, stored_report_reads_the_history_from_the_kept_cartridge)
{
	two_cartridges(130);
	struct gw_supply_tail t = tail_of(1);
	cr_expect_eq(t.cart_key, 101, "day 100's report");
	cr_expect_eq(t.cart_at, T0 + 100 * DAY);
	cr_expect_eq(t.made_at, T0 + 130 * DAY);
	cr_expect(t.fine_levels);
	struct gw_forecast whole;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "S1", 1, T0 + 130 * DAY, &whole, NULL, NULL, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(whole.ok, "%s", whole.reason);
	cr_expect_eq(whole.points, 30, "days 100 to 130 but 115");
	char sql[200];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM supply_forecasts WHERE serial = 'S1'"
		 " AND idx = 1 AND ok AND empty_at BETWEEN %lld AND %lld",
		 (long long)whole.empty_at - 1, (long long)whole.empty_at + 1);
	cr_expect_eq(q1(sql), 1, "the kept forecast is the whole history's");

	/* the kept start is read: told day 120 began a cartridge, the next
	 * report's forecast starts there */
	snprintf(sql, sizeof(sql), "UPDATE supply_forecasts SET cart_key = 121, cart_at = %lld",
		 (long long)(T0 + 120 * DAY));
	cr_assert(tm_store_exec(sql, NULL));
	day(131, 69, NULL);
	t = tail_of(1);
	cr_expect_eq(t.cart_key, 121, "the cut the tail was told of");
	cr_expect_eq(t.cart_at, T0 + 120 * DAY);
	cr_expect_eq(t.made_at, T0 + 131 * DAY);

	/* a late report before that start: the whole history again */
	day(115, 85, NULL);
	t = tail_of(1);
	cr_expect_eq(t.cart_key, 101);
	cr_expect_eq(t.cart_at, T0 + 100 * DAY);
	cr_expect_eq(t.made_at, T0 + 131 * DAY);
}

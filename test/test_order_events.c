/* The agent's replacement event and the order transitions forwarded
 * (issue 18: freshness and identity, items 3 and 4), through the store as
 * the pipeline stores reports (sc_ingest: put + the alerts hook).
 *
 * The history of test_supply.c: 200 pages a day, 2 % a day from 100 %, one
 * report a day at 18:00; the order opens on day 40 (20 %, 10 days left).
 * On day 46 the device says 25 %: 15 points over the lowest level (10 %),
 * under the 20 points a level jump needs. Only the agent's supply_replaced
 * event for supplies/1 makes that report a new cartridge.
 * On SQLite (suite order_events) and PostgreSQL (order_events_pg,
 * test/store_fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>

#include "common.h"
#include "config/config_service.h"
#include "forward/forward.h"
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
	st = tm_store_test_open(&tmpdir, true);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "S1", "acme", 1);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(order_events, .init = setup, .fini = teardown);

/* The report of day d (seq d + 1) at `level` percent, maybe the agent's event. */
static void day(int d, long level, const char *trigger, const char *subject)
{
	struct sc_report r;
	sc_report_init(&r, "S1", d + 1, T0 + (int64_t)d * DAY);
	r.total = 100000 + 200LL * d;
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", level, 100 };
	r.trigger = trigger;
	r.trigger_subject = subject;
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", r.at + 60), GW_PUT_STORED);
}

static void steady(int from, int to)
{
	for (int d = from; d <= to; d++)
		day(d, 100 - 2 * d, NULL, NULL);
}

static int keep_order(void *ctx, const struct gw_order_row *o)
{
	struct gw_order_row *out = ctx;
	*out = *o;   /* the newest (highest id) last */
	return 0;
}

static struct gw_order_row the_order(void)
{
	struct gw_order_row o = {0};
	struct tm_error err = {0};
	cr_assert_eq(gw_store_order_list(st, NULL, 0, keep_order, &o, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert_neq(o.id, 0, "no order");
	return o;
}

static size_t cartridges(struct gw_fc_cartridge **c)
{
	struct gw_forecast f;
	size_t nc = 0;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "S1", 1, T0 + 50 * DAY, &f, c, &nc, &err),
		     GW_STORE_OK, "%s", err.msg);
	return nc;
}

Test(order_events, the_agents_replacement_event_installs_the_order)
{
	steady(0, 45);
	cr_assert_eq(the_order().state, GW_ORDER_OPEN);
	day(46, 25, "supply_replaced", "supplies/1");
	struct gw_order_row o = the_order();
	cr_expect_eq(o.state, GW_ORDER_INSTALLED);
	cr_expect_eq(o.updated_at, T0 + 46 * DAY, "installed as of the event report");
	struct gw_fc_cartridge *c = NULL;
	size_t nc = cartridges(&c);
	cr_assert_eq(nc, 2, "the event starts a new cartridge");
	cr_expect_str_eq(c[0].replaced_by, "agent_event");
	cr_expect_eq(c[0].last_pct, 10);
	cr_expect_eq(c[1].key, 47, "the new cartridge begins with the event report (seq 47)");
	cr_expect_eq(c[1].installed_pct, 25);
	free(c);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "S1", "supply_order", "toner/black#1", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert(sc_alert(st, "S1", "supply_replaced", "toner/black#1", &a));
	cr_expect_str_eq(a.detail, "toner/black#1: replaced (the agent's event), 10 % -> 25 %");
	cr_assert(sc_alert(st, "S1", "supply_low", "toner/black#1", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
}

/* The same levels without the event: 15 points is no replacement. */
Test(order_events, without_the_event_the_same_levels_are_one_cartridge)
{
	steady(0, 45);
	day(46, 25, NULL, NULL);
	cr_expect_eq(the_order().state, GW_ORDER_OPEN);
	struct gw_fc_cartridge *c = NULL;
	cr_expect_eq(cartridges(&c), 1);
	free(c);
	struct gw_alert_row a;
	cr_expect_not(sc_alert(st, "S1", "supply_replaced", "toner/black#1", &a));
}

/* An event for another supply, or another cause, replaces nothing here. */
Test(order_events, an_event_for_another_supply_is_not_this_ones)
{
	steady(0, 45);
	day(46, 25, "supply_replaced", "supplies/2");
	cr_expect_eq(the_order().state, GW_ORDER_OPEN);
	day(47, 24, "supply_low", "supplies/1");
	cr_expect_eq(the_order().state, GW_ORDER_OPEN);
	struct gw_fc_cartridge *c = NULL;
	cr_expect_eq(cartridges(&c), 1);
	free(c);
}

/* ---- order transitions in the forwarding outbox ---- */

static unsigned want_kinds;

static unsigned filter(void *ctx, enum gw_fwd_kind kind, const char *tenant)
{
	(void)ctx;
	(void)tenant;
	return want_kinds & (unsigned)kind;
}

/* Fan out to `endpoint` the kinds it wants. */
static void fanout(const char *endpoint, unsigned kinds)
{
	struct tm_error err = {0};
	size_t added = 0;
	want_kinds = kinds;
	cr_assert_eq(gw_store_forward_fanout(st, endpoint, filter, NULL, T0 + 100 * DAY, 100000,
					     &added, &err), GW_STORE_OK, "%s", err.msg);
}

/* Claim everything due for `endpoint`. */
static size_t claim(const char *endpoint, struct gw_fwd_item **items)
{
	struct tm_error err = {0};
	size_t n = 0;
	cr_assert_eq(gw_store_forward_claim(st, endpoint, "test", 1000, 64u << 20, T0 + 100 * DAY,
					    300, items, &n, &err), GW_STORE_OK, "%s", err.msg);
	return n;
}

Test(order_events, order_transitions_are_forwarded_with_their_record)
{
	/* both endpoints have read the outbox once (a cursor each), so that
	 * neither one's pass drops what only the other wants */
	steady(0, 0);
	fanout("orders", GW_FWD_ORDER);
	steady(1, 1);
	fanout("alerts-only", GW_FWD_ALERT);
	steady(2, 45);
	struct gw_order_row o = the_order();
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_order_ship(st, &svc, o.id, "tester", T0 + 45 * DAY + 3600, &err),
		     GW_STORE_OK, "%s", err.msg);
	day(46, 25, "supply_replaced", "supplies/1");

	struct gw_fwd_item *it = NULL;
	fanout("orders", GW_FWD_ORDER);
	fanout("alerts-only", GW_FWD_ALERT);
	size_t n = claim("orders", &it);
	cr_assert_eq(n, 3, "opened, shipped, installed: %zu", n);
	const char *states[] = { "open", "shipped", "installed" };
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(it[i].kind, GW_FWD_ORDER);
		cr_expect_str_eq(it[i].serial, "S1");
		cr_expect_str_eq(it[i].tenant, "acme");
		char want[64];
		snprintf(want, sizeof(want), "\"event\":\"%s\",\"order\":%lld,", states[i],
			 (long long)o.id);
		cr_expect_not_null(strstr(it[i].data, want), "%s", it[i].data);
		cr_expect_not_null(strstr(it[i].data, "\"supply\":\"toner/black#1\""), "%s",
				   it[i].data);
	}
	cr_expect_str_eq(it[0].time, "2026-11-14T18:00:00Z", "opened with the day-40 report");
	cr_expect_not_null(strstr(it[1].data, "\"actor\":\"tester\""), "%s", it[1].data);
	cr_expect_not_null(strstr(it[2].data, "\"state\":\"installed\""), "%s", it[2].data);
	cr_expect_not_null(strstr(it[2].data, "replaced (agent_event) at 10 %"), "%s", it[2].data);

	/* the CloudEvent: its type, and its id the transition's */
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_forward_encode(it, 1, "gw1", true, &b, &err), 0, "%s", err.msg);
	tm_buf_append(&b, "", 1);
	cr_expect_not_null(strstr((const char *)b.data, "\"type\":\"org.telemail.supply_order.v1\""),
			   "%s", (const char *)b.data);
	cr_expect_not_null(strstr((const char *)b.data, "\"id\":\"supply-order-1\""), "%s",
			   (const char *)b.data);
	cr_expect_not_null(strstr((const char *)b.data, "\"subject\":\"S1\""), "%s",
			   (const char *)b.data);
	tm_buf_fini(&b);
	cr_assert_eq(gw_store_forward_done(st, "orders", it[0].batch, GW_FWD_SENT, 0, NULL,
					   T0 + 100 * DAY, &err), GW_STORE_OK, "%s", err.msg);
	gw_fwd_items_free(it, n);

	/* an endpoint that does not ask for them gets none */
	n = claim("alerts-only", &it);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(it[i].kind, GW_FWD_ALERT, "item %zu: kind %d", i, it[i].kind);
	cr_expect(n > 0, "the order's alert transitions are there");
	gw_fwd_items_free(it, n);
}

Test(order_events, a_cancelled_order_is_forwarded_and_a_failed_transition_is_not)
{
	steady(0, 40);
	struct gw_order_row o = the_order();
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_order_cancel(st, &svc, o.id, "tester", T0 + 41 * DAY, &err),
		     GW_STORE_OK, "%s", err.msg);
	/* cancelling again fails: order.bad_state, and nothing more is queued */
	cr_assert_eq(gw_supply_order_cancel(st, &svc, o.id, "tester", T0 + 42 * DAY, &err),
		     GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "order.bad_state");
	struct gw_fwd_item *it = NULL;
	fanout("orders", GW_FWD_ORDER);
	size_t n = claim("orders", &it);
	cr_assert_eq(n, 2);
	cr_expect_not_null(strstr(it[0].data, "\"event\":\"open\""), "%s", it[0].data);
	cr_expect_not_null(strstr(it[1].data, "\"event\":\"cancelled\""), "%s", it[1].data);
	cr_expect_str_eq(it[1].time, "2026-11-15T18:00:00Z");
	gw_fwd_items_free(it, n);
}

/* The two levels of silence (issue 18, item 1; service/alerts_silence.c):
 * a collector that stopped reporting is one collector_silent alert, not a
 * device_silent per device behind it; a device its reporting collector
 * cannot reach is its own device_silent; a device in power save that
 * reports is not silent; both resolve when reports come again. Runs on
 * SQLite (suite silence) and PostgreSQL (silence_pg). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "store_fixture.h"

#define DAY 86400
#define T0 1790000000   /* 2026-09-21T14:13:20Z */

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;
static char fp_col[GW_SHA256_HEX];   /* acme's collector: P1, P2, P3 */

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	gw_service_config_defaults(&svc);   /* alerts.silence 7 days */
	static const char *const devs[] = { "P1", "P2", "P3" };
	sc_enroll_collector(st, 0xc0, "acme", devs, 3, fp_col);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(silence, .init = setup, .fini = teardown);

/* A report of `serial` signed by the collector at `at`, received at `recv`;
 * with_section: it carries the collector section (the heartbeat). */
static void via_collector(const char *serial, long long seq, int64_t at, int64_t recv,
			  bool with_section)
{
	struct sc_report r;
	sc_report_init(&r, serial, seq, at);
	r.fingerprint = fp_col;
	r.collector_devices = with_section ? 3 : 0;
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", recv), GW_PUT_STORED);
}

static struct gw_silence_counts check(int64_t now)
{
	struct gw_silence_counts k;
	struct tm_error err = {0};
	cr_assert_eq(gw_alerts_check_silence(st, &svc, now, &k, &err), GW_STORE_OK, "%s: %s",
		     err.reason, err.msg);
	return k;
}

/* One cycle of the collector at day d: P1 carries the section. */
static void cycle(int d, long long seq)
{
	via_collector("P1", seq, T0 + d * DAY, T0 + d * DAY + 60, true);
	via_collector("P2", seq, T0 + d * DAY, T0 + d * DAY + 60, false);
	via_collector("P3", seq, T0 + d * DAY, T0 + d * DAY + 60, false);
}

Test(silence, a_silent_collector_is_one_alert_not_one_per_device)
{
	cycle(0, 1);
	struct gw_silence_counts k = check(T0 + 7 * DAY);
	cr_expect_eq(k.collectors_silent, 0, "exactly 7 days is not longer than 7 days");
	cr_expect_eq(k.silent, 0);

	k = check(T0 + 8 * DAY);
	cr_expect_eq(k.collectors_silent, 1);
	cr_expect_eq(k.folded, 3, "P1, P2, P3 are behind it");
	cr_expect_eq(k.silent, 0);
	cr_expect_eq(sc_count_alerts(st, NULL, "device_silent"), 0);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, GW_ALERTS_COLLECTOR, "collector_silent", fp_col, &a));
	cr_expect_eq(a.state, GW_ALERT_OPEN);
	cr_expect_str_eq(a.tenant, "acme");
	cr_expect_str_eq(a.severity, "warning");
	cr_expect_str_eq(a.detail,
			 "collector 0000000000000000: last collector report generated "
			 "2026-09-21T14:13:20Z (8 days ago); its 3 devices are not alerted one by "
			 "one while it is silent");

	/* the next check counts it again: still one alert */
	k = check(T0 + 8 * DAY + 600);
	cr_expect_eq(k.collectors_silent, 1);
	cr_expect_eq(sc_count_alerts(st, GW_ALERTS_COLLECTOR, "collector_silent"), 1);
	cr_assert(sc_alert(st, GW_ALERTS_COLLECTOR, "collector_silent", fp_col, &a));
	cr_expect_eq(a.count, 2);

	/* the collector is back (its report with the section), but reads only P1 */
	via_collector("P1", 2, T0 + 9 * DAY, T0 + 9 * DAY + 60, true);
	cr_assert(sc_alert(st, GW_ALERTS_COLLECTOR, "collector_silent", fp_col, &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED, "resolved as its report is stored");
	cr_expect_eq(a.resolved_at, T0 + 9 * DAY);

	/* now P2 and P3 are unreachable from a collector that reports: their own alerts */
	k = check(T0 + 9 * DAY + 3600);
	cr_expect_eq(k.collectors_silent, 0);
	cr_expect_eq(k.folded, 0);
	cr_expect_eq(k.silent, 2);
	cr_expect(sc_alert(st, "P2", "device_silent", "device", &a) && a.state == GW_ALERT_OPEN);
	cr_expect(sc_alert(st, "P3", "device_silent", "device", &a) && a.state == GW_ALERT_OPEN);
	cr_expect_not(sc_alert(st, "P1", "device_silent", "device", &a));

	/* P2 reports again: resolved */
	via_collector("P2", 2, T0 + 10 * DAY, T0 + 10 * DAY + 60, false);
	cr_assert(sc_alert(st, "P2", "device_silent", "device", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert(sc_alert(st, "P3", "device_silent", "device", &a));
	cr_expect_eq(a.state, GW_ALERT_OPEN);
}

Test(silence, the_check_resolves_a_collector_heard_from_again)
{
	cycle(0, 1);
	check(T0 + 8 * DAY);
	/* a report of the collector arrives, but the hook's resolution is not what
	 * this test looks at: the check alone sees the fresh heartbeat */
	cycle(9, 2);
	struct gw_silence_counts k = check(T0 + 9 * DAY + 60);
	cr_expect_eq(k.collectors_silent, 0);
	cr_expect_eq(k.silent, 0);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, GW_ALERTS_COLLECTOR, "collector_silent", fp_col, &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
	cr_expect_eq(sc_count_alerts(st, NULL, "device_silent"), 0);
}

Test(silence, a_device_unreachable_from_a_reporting_collector_is_its_own_alert)
{
	cycle(0, 1);
	for (int d = 1; d <= 8; d++)
		via_collector("P1", d + 1, T0 + d * DAY, T0 + d * DAY + 60, true);
	struct gw_silence_counts k = check(T0 + 8 * DAY + 3600);
	cr_expect_eq(k.collectors_silent, 0);
	cr_expect_eq(k.folded, 0);
	cr_expect_eq(k.silent, 2, "P2 and P3");
	cr_expect_eq(sc_count_alerts(st, GW_ALERTS_COLLECTOR, "collector_silent"), 0);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "P3", "device_silent", "device", &a));
	cr_expect_str_eq(a.detail, "last report generated 2026-09-21T14:13:20Z (8 days ago)");
}

Test(silence, a_late_collector_report_resolves_nothing)
{
	cycle(0, 1);
	check(T0 + 8 * DAY);
	/* generated on day 1, arriving on day 9: eight days old */
	via_collector("P1", 2, T0 + 1 * DAY, T0 + 9 * DAY, true);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, GW_ALERTS_COLLECTOR, "collector_silent", fp_col, &a));
	cr_expect_eq(a.state, GW_ALERT_OPEN);
	struct gw_silence_counts k = check(T0 + 9 * DAY);
	cr_expect_eq(k.collectors_silent, 1, "its heartbeat is day 1: still silent");
	cr_expect_eq(k.folded, 3);
}

Test(silence, a_collector_without_a_heartbeat_leaves_its_devices_alone)
{
	/* reports signed by the collector, none with a collector section */
	via_collector("P1", 1, T0, T0 + 60, false);
	via_collector("P2", 1, T0, T0 + 60, false);
	struct gw_silence_counts k = check(T0 + 8 * DAY);
	cr_expect_eq(k.collectors_silent, 0);
	cr_expect_eq(k.folded, 0);
	cr_expect_eq(k.silent, 2);
	cr_expect_eq(k.never, 1, "P3 never reported");
	cr_expect_eq(sc_count_alerts(st, GW_ALERTS_COLLECTOR, NULL), 0);
}

Test(silence, a_revoked_collector_has_no_heartbeat)
{
	cycle(0, 1);
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_revoke(st, fp_col, T0 + DAY, &err), GW_STORE_OK, "%s", err.msg);
	struct gw_silence_counts k = check(T0 + 8 * DAY);
	cr_expect_eq(k.collectors_silent, 0);
	cr_expect_eq(k.silent, 3);
}

/* hrPrinterStatus has no "off": a device in power save says `other` (or
 * `unknown`); a device that reports that way is not silent and raises
 * nothing. */
Test(silence, a_sleeping_device_that_reports_is_not_silent)
{
	sc_enroll(st, "XK9", "acme", 9);
	for (int d = 0; d <= 8; d++) {
		struct sc_report r;
		sc_report_init(&r, "XK9", d + 1, T0 + d * DAY);
		r.state = d % 2 ? "other" : "unknown";
		cr_assert_eq(sc_ingest(st, &svc, &r, "acme", T0 + d * DAY + 60), GW_PUT_STORED);
	}
	cycle(8, 1);
	struct gw_silence_counts k = check(T0 + 8 * DAY + 3600);
	cr_expect_eq(k.silent, 0);
	cr_expect_eq(k.never, 0);
	cr_expect_eq(sc_count_alerts(st, "XK9", NULL), 0);
}

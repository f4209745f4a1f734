/* Device identity (issue 18, item 2): a device keeps its history when its
 * IP or MAC address changes (keyed by serial and certificate); two
 * certificates signing for one serial at once raise identity_conflict with
 * both fingerprints, a renewed certificate does not; a collector reporting
 * an enrolled device that is not bound to it is device.moved (quarantined
 * by the pipeline: test/eml/replay/18-collector-unbound). Runs on SQLite
 * (suite identity) and PostgreSQL (identity_pg). */
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
static char fp_a[GW_SHA256_HEX], fp_b[GW_SHA256_HEX];

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "other", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "XK1", "acme", 0xa);   /* certificate A */
	sc_enroll(st, "XK1", "acme", 0xb);   /* certificate B: the same serial (a renewal) */
	snprintf(fp_a, sizeof(fp_a), "%064x", 0xa);
	snprintf(fp_b, sizeof(fp_b), "%064x", 0xb);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(identity, .init = setup, .fini = teardown);

static void report(const char *fp, long long seq, int64_t at, int64_t recv)
{
	struct sc_report r;
	sc_report_init(&r, "XK1", seq, at);
	r.fingerprint = fp;
	r.total = 1000 + seq;
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", recv), GW_PUT_STORED);
}

static long long q1(const char *sql)
{
	char v[64];
	cr_assert(tm_store_query(sql, v, sizeof(v)), "%s", sql);
	return atoll(v);
}

Test(identity, a_new_ip_and_mac_keep_the_history)
{
	struct sc_report r;
	sc_report_init(&r, "XK1", 1, T0);
	r.fingerprint = fp_a;
	r.ip = "192.0.2.10";
	r.mac = "00:00:5e:00:53:01";
	r.total = 1000;
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 80, 100 };
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", T0 + 60), GW_PUT_STORED);
	sc_report_init(&r, "XK1", 2, T0 + DAY);
	r.fingerprint = fp_a;
	r.ip = "198.51.100.7";   /* moved to another subnet, a new network card */
	r.mac = "00:00:5e:00:53:99";
	r.total = 1200;
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 78, 100 };
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", T0 + DAY + 60), GW_PUT_STORED);

	struct gw_device_row d;
	bool found = false;
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_device_get(st, "XK1", &d, &found, &err), GW_STORE_OK);
	cr_assert(found);
	cr_expect_eq(d.last_seq, 2);
	cr_expect_str_eq(d.tenant, "acme");
	cr_expect_eq(q1("SELECT count(*) FROM devices"), 1, "one device, not a new one per address");
	cr_expect_eq(q1("SELECT count(*) FROM reports WHERE serial = 'XK1'"), 2);
	char ip[64], mac[64];
	cr_assert(tm_store_query("SELECT ip FROM devices WHERE serial = 'XK1'", ip, sizeof(ip)));
	cr_expect_str_eq(ip, "198.51.100.7");
	cr_assert(tm_store_query("SELECT mac FROM devices WHERE serial = 'XK1'", mac, sizeof(mac)));
	cr_expect_str_eq(mac, "00:00:5e:00:53:99");
	/* the counters of both addresses are one history: no reset, no alert */
	cr_expect_eq(sc_count_alerts(st, "XK1", NULL), 0);
}

Test(identity, a_renewed_certificate_takes_over_without_a_conflict)
{
	for (int d = 0; d <= 5; d++)
		report(fp_a, d + 1, T0 + d * DAY, T0 + d * DAY + 60);
	for (int d = 6; d <= 10; d++)
		report(fp_b, d + 1, T0 + d * DAY, T0 + d * DAY + 60);
	/* a late report of the old certificate, generated before the switch */
	report(fp_a, 100, T0 + 5 * DAY + 3600, T0 + 11 * DAY);
	cr_expect_eq(sc_count_alerts(st, "XK1", "identity_conflict"), 0);
}

Test(identity, two_certificates_at_once_are_flagged_with_both_fingerprints)
{
	for (int d = 0; d <= 5; d++)
		report(fp_a, d + 1, T0 + d * DAY, T0 + d * DAY + 60);
	cr_expect_eq(sc_count_alerts(st, "XK1", "identity_conflict"), 0);
	report(fp_b, 100, T0 + 3 * DAY + 1, T0 + 6 * DAY);   /* inside A's span */
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "XK1", "identity_conflict", "certificates", &a));
	cr_expect_eq(a.state, GW_ALERT_OPEN);
	cr_expect_str_eq(a.severity, "critical");
	char want[GW_ALERT_DETAIL_MAX];
	snprintf(want, sizeof(want), "two certificates sign for this serial at once: %s and %s",
		 fp_a, fp_b);
	cr_expect_str_eq(a.detail, want);
	cr_expect_str_eq(a.tenant, "acme");

	/* they go on interleaving: the same alert, counted */
	report(fp_a, 7, T0 + 6 * DAY, T0 + 6 * DAY + 60);
	cr_assert(sc_alert(st, "XK1", "identity_conflict", "certificates", &a));
	cr_expect_eq(a.count, 2);
	cr_expect_eq(sc_count_alerts(st, "XK1", "identity_conflict"), 1);

	/* an event: acknowledging resolves it */
	struct tm_error err = {0};
	cr_assert_eq(gw_alerts_ack(st, &svc, a.id, "user:tech", T0 + 7 * DAY, &err), GW_STORE_OK,
		     "%s", err.msg);
	cr_assert(sc_alert(st, "XK1", "identity_conflict", "certificates", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
}

Test(identity, the_conflict_does_not_depend_on_arrival_order)
{
	report(fp_b, 100, T0 + 3 * DAY, T0 + 3 * DAY + 60);
	cr_expect_eq(sc_count_alerts(st, "XK1", "identity_conflict"), 0, "B alone");
	report(fp_a, 1, T0, T0 + 6 * DAY);            /* A's, older than B's, arriving late */
	cr_expect_eq(sc_count_alerts(st, "XK1", "identity_conflict"), 0,
		     "A before B: a switch so far");
	report(fp_a, 2, T0 + 5 * DAY, T0 + 6 * DAY);  /* A after B: both at once */
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "XK1", "identity_conflict", "certificates", &a));
	char want[GW_ALERT_DETAIL_MAX];
	snprintf(want, sizeof(want), "two certificates sign for this serial at once: %s and %s",
		 fp_b, fp_a);
	cr_expect_str_eq(a.detail, want);
}

/* ---- a collector reporting what is not bound to it ---- */

Test(identity, a_collector_reporting_another_sites_device_is_device_moved)
{
	char c1[GW_SHA256_HEX], c2[GW_SHA256_HEX], tenant[GW_NAME_MAX + 1];
	const char *const q1s[] = { "Q1" }, *const p1s[] = { "P1" };
	sc_enroll_collector(st, 0xc1, "other", q1s, 1, c1);   /* another tenant's site */
	sc_enroll_collector(st, 0xc2, "acme", p1s, 1, c2);    /* acme's other collector */
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_check(st, c1, "Q1", NULL, tenant, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_expect_str_eq(tenant, "other");

	cr_assert_eq(gw_registry_check(st, c1, "XK1", NULL, tenant, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "device.moved");
	char want[400];
	snprintf(want, sizeof(want), "report serial XK1 belongs to tenant 'acme', not to collector "
		 "%s of tenant 'other': kept in quarantine until it is enrolled under this collector",
		 c1);
	cr_expect_str_eq(err.msg, want);

	/* the same tenant, another collector's device */
	cr_assert_eq(gw_registry_check(st, c2, "XK1", NULL, tenant, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "device.moved");
	snprintf(want, sizeof(want), "report serial XK1 of tenant 'acme' is enrolled under another "
		 "certificate, not under collector %s: kept in quarantine until it is enrolled under "
		 "this collector", c2);
	cr_expect_str_eq(err.msg, want);

	/* a serial nobody enrolled stays device.mismatch */
	cr_assert_eq(gw_registry_check(st, c1, "NOBODY", NULL, tenant, &err), GW_STORE_ERROR);
	cr_expect_str_eq(err.reason, "device.mismatch");
}

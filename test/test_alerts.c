/* Service alerts: evaluated as reports are stored (same transaction), out of
 * order reports ignored, supplies low / empty / replaced, conditions and
 * critical report alerts that come and go, part life, counter reset and
 * wrap, firmware change, outbox gap, silence kept apart from "never
 * reported", acknowledge, the `alerts:` configuration. Real SQLite files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "service/alerts_device.h"
#include "common.h"
#include "config/config.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "store_fixture.h"

#define DAY 86400
#define T0 1790000000   /* 2026-09-21 */

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "XK1", "acme", 1);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(alerts, .init = setup, .fini = teardown);

static void toner(struct sc_report *r, long level)
{
	r->supplies[0] = (struct sc_supply){ 1, "toner", "black", level, 100 };
}

Test(alerts, supply_low_empty_and_replaced)
{
	struct sc_report r;
	struct gw_alert_row a;
	sc_report_init(&r, "XK1", 1, T0);
	toner(&r, 40);
	sc_ingest(st, &svc, &r, "acme", T0);
	cr_assert_eq(sc_count_alerts(st, "XK1", NULL), 0, "40 %% is not low");

	sc_report_init(&r, "XK1", 2, T0 + DAY);
	toner(&r, 10);   /* at the default threshold: low */
	sc_ingest(st, &svc, &r, "acme", T0 + DAY);
	cr_assert(sc_alert(st, "XK1", "supply_low", "toner/black#1", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_str_eq(a.severity, "warning");
	cr_assert_eq(a.first_seen, T0 + DAY);
	cr_assert_not_null(strstr(a.detail, "10 %"), "%s", a.detail);

	sc_report_init(&r, "XK1", 3, T0 + 2 * DAY);
	toner(&r, -3);   /* "some remaining" still counts as low: the same alert, counted */
	sc_ingest(st, &svc, &r, "acme", T0 + 2 * DAY);
	cr_assert(sc_alert(st, "XK1", "supply_low", "toner/black#1", &a));
	cr_assert_eq(a.count, 2);
	cr_assert_eq(a.last_seen, T0 + 2 * DAY);
	cr_assert_eq(sc_count_alerts(st, "XK1", "supply_low"), 1, "one active alert per subject");

	sc_report_init(&r, "XK1", 4, T0 + 3 * DAY);
	toner(&r, 0);
	sc_ingest(st, &svc, &r, "acme", T0 + 3 * DAY);
	cr_assert(sc_alert(st, "XK1", "supply_empty", "toner/black#1", &a));
	cr_assert_str_eq(a.severity, "critical");
	cr_assert_eq(a.state, GW_ALERT_OPEN);

	sc_report_init(&r, "XK1", 5, T0 + 4 * DAY);
	toner(&r, 100);   /* a new cartridge */
	sc_ingest(st, &svc, &r, "acme", T0 + 4 * DAY);
	cr_assert(sc_alert(st, "XK1", "supply_low", "toner/black#1", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert_eq(a.resolved_at, T0 + 4 * DAY);
	cr_assert(sc_alert(st, "XK1", "supply_empty", "toner/black#1", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert(sc_alert(st, "XK1", "supply_replaced", "toner/black#1", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED, "a replacement is an event, recorded resolved");
	cr_assert_not_null(strstr(a.detail, "0 % -> 100 %"), "%s", a.detail);
}

Test(alerts, out_of_order_reports_raise_nothing)
{
	struct sc_report r;
	struct gw_alert_row a;
	sc_report_init(&r, "XK1", 10, T0 + 10 * DAY);
	toner(&r, 80);
	r.total = 5000;
	sc_ingest(st, &svc, &r, "acme", T0 + 10 * DAY);
	/* a late report from before: low toner and a smaller counter, seq 9 */
	sc_report_init(&r, "XK1", 9, T0 + 9 * DAY);
	toner(&r, 5);
	r.total = 4000;
	r.conditions = "[jammed]";
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", T0 + 11 * DAY), GW_PUT_STORED);
	cr_assert_eq(sc_count_alerts(st, "XK1", NULL), 0, "a late report must not raise alerts");
	/* the next newer report compares with seq 10, not with the late seq 9 */
	sc_report_init(&r, "XK1", 11, T0 + 11 * DAY);
	toner(&r, 79);
	r.total = 5100;
	sc_ingest(st, &svc, &r, "acme", T0 + 11 * DAY);
	cr_assert_eq(sc_count_alerts(st, "XK1", NULL), 0);
	cr_assert_not(sc_alert(st, "XK1", "supply_replaced", NULL, &a));
}

Test(alerts, conditions_and_critical_report_alerts_come_and_go)
{
	struct sc_report r;
	struct gw_alert_row a;
	sc_report_init(&r, "XK1", 1, T0);
	r.conditions = "[jammed, lowPaper]";
	r.critical_alert = "SC-542";
	sc_ingest(st, &svc, &r, "acme", T0);
	cr_assert(sc_alert(st, "XK1", "condition", "jammed", &a));
	cr_assert_str_eq(a.severity, "critical");
	cr_assert(sc_alert(st, "XK1", "condition", "lowPaper", &a));
	cr_assert_str_eq(a.severity, "warning");
	cr_assert(sc_alert(st, "XK1", "device_alert", "SC-542", &a));
	cr_assert_str_eq(a.severity, "critical");
	cr_assert_not_null(strstr(a.detail, "service call"), "%s", a.detail);

	sc_report_init(&r, "XK1", 2, T0 + 3600);
	r.conditions = "[lowPaper]";
	sc_ingest(st, &svc, &r, "acme", T0 + 3600);
	cr_assert(sc_alert(st, "XK1", "condition", "jammed", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert(sc_alert(st, "XK1", "condition", "lowPaper", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_eq(a.count, 2);
	/* no alerts section at all: the report says nothing about alerts */
	cr_assert(sc_alert(st, "XK1", "device_alert", "SC-542", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
}

Test(alerts, part_life_counter_reset_wrap_firmware_outbox_gap)
{
	struct sc_report r;
	struct gw_alert_row a;
	sc_report_init(&r, "XK1", 1, T0);
	r.total = 2100000000;   /* near 2^31 */
	r.mono = 500000;
	r.fw = "4.2.1";
	r.fuser_used = 89999;   /* just under 90 % */
	sc_ingest(st, &svc, &r, "acme", T0);
	cr_assert_eq(sc_count_alerts(st, "XK1", NULL), 0);

	sc_report_init(&r, "XK1", 2, T0 + DAY);
	r.total = 1000;         /* wrapped at 2^31 */
	r.mono = 400000;        /* went backwards: reset */
	r.fw = "4.3.0";
	r.fuser_used = 90000;
	r.outbox_gap = 3;
	sc_ingest(st, &svc, &r, "acme", T0 + DAY);
	cr_assert(sc_alert(st, "XK1", "part_life", "fuser", &a));
	cr_assert_not_null(strstr(a.detail, "used 90000 of rated 100000 (90 %)"), "%s", a.detail);
	cr_assert(sc_alert(st, "XK1", "counter_wrap", "total/impressions", &a));
	cr_assert_not_null(strstr(a.detail, "from 2100000000 to 1000"), "%s", a.detail);
	cr_assert(sc_alert(st, "XK1", "counter_reset", "total/impressions_monochrome", &a));
	cr_assert(sc_alert(st, "XK1", "firmware_changed", "controller", &a));
	cr_assert_str_eq(a.detail, "controller firmware 4.2.1 -> 4.3.0");
	cr_assert(sc_alert(st, "XK1", "outbox_gap", "outbox", &a));
	cr_assert_not_null(strstr(a.detail, "dropped 3 report(s)"), "%s", a.detail);

	sc_report_init(&r, "XK1", 3, T0 + 2 * DAY);
	r.fuser_used = 10;      /* a new fuser */
	sc_ingest(st, &svc, &r, "acme", T0 + 2 * DAY);
	cr_assert(sc_alert(st, "XK1", "part_life", "fuser", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
}

Test(alerts, silence_never_reported_and_back)
{
	struct tm_error err = {0};
	struct gw_silence_counts k;
	struct gw_alert_row a;
	sc_enroll(st, "XK2", "acme", 2);   /* enrolled at 1000, never reports */
	struct sc_report r;
	sc_report_init(&r, "XK1", 1, T0);
	sc_ingest(st, &svc, &r, "acme", T0);

	cr_assert_eq(gw_alerts_check_silence(st, &svc, T0 + 7 * DAY, &k, &err), GW_STORE_OK);
	cr_assert_eq(k.silent, 0, "exactly 7 days is not longer than 7 days");
	cr_assert_eq(k.never, 1);
	cr_assert(sc_alert(st, "XK2", "device_never_reported", "device", &a));
	cr_assert_str_eq(a.severity, "info");
	cr_assert_not(sc_alert(st, "XK2", "device_silent", NULL, &a), "never reported is not silent");

	cr_assert_eq(gw_alerts_check_silence(st, &svc, T0 + 8 * DAY, &k, &err), GW_STORE_OK);
	cr_assert_eq(k.silent, 1);
	cr_assert(sc_alert(st, "XK1", "device_silent", "device", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_not_null(strstr(a.detail, "(8 days ago)"), "%s", a.detail);
	cr_assert_eq(sc_count_alerts(st, "XK2", "device_never_reported"), 1, "counted, not repeated");

	sc_report_init(&r, "XK1", 2, T0 + 9 * DAY);
	sc_ingest(st, &svc, &r, "acme", T0 + 9 * DAY);
	cr_assert(sc_alert(st, "XK1", "device_silent", "device", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	cr_assert_eq(a.resolved_at, T0 + 9 * DAY);
}

Test(alerts, acknowledge_and_its_errors)
{
	struct tm_error err = {0};
	struct gw_alert_row a;
	struct sc_report r;
	sc_report_init(&r, "XK1", 1, T0);
	r.conditions = "[doorOpen]";
	r.fw = "1";
	sc_ingest(st, &svc, &r, "acme", T0);
	sc_report_init(&r, "XK1", 2, T0 + 60);
	r.conditions = "[doorOpen]";
	r.fw = "2";
	sc_ingest(st, &svc, &r, "acme", T0 + 60);
	cr_assert(sc_alert(st, "XK1", "condition", "doorOpen", &a));
	cr_assert_eq(gw_alerts_ack(st, &svc, a.id, "user:tech", T0 + 100, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(sc_alert(st, "XK1", "condition", "doorOpen", &a));
	cr_assert_eq(a.state, GW_ALERT_ACKED);
	cr_assert_str_eq(a.acked_by, "user:tech");
	cr_assert_eq(a.acked_at, T0 + 100);

	cr_assert_eq(gw_alerts_ack(st, &svc, a.id, "user:tech", T0 + 101, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "alert.bad_state");
	cr_assert_not_null(strstr(err.msg, "already acknowledged"), "%s", err.msg);
	cr_assert_eq(gw_alerts_ack(st, &svc, 9999, NULL, T0, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "alert.not_found");
	cr_assert_str_eq(err.msg, "alert 9999: no such alert");

	/* an event is resolved by acknowledging it */
	cr_assert(sc_alert(st, "XK1", "firmware_changed", "controller", &a));
	cr_assert_eq(gw_alerts_ack(st, &svc, a.id, "user:tech", T0 + 102, &err), GW_STORE_OK);
	cr_assert(sc_alert(st, "XK1", "firmware_changed", "controller", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
}

Test(alerts, evaluated_in_the_reports_transaction)
{
	/* a rolled-back batch leaves neither the report nor its alerts */
	struct sc_report sr;
	sc_report_init(&sr, "XK1", 1, T0);
	sr.conditions = "[jammed]";
	struct tm_buf y, j;
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	tm_buf_init(&y);
	tm_buf_init(&j);
	sc_yaml(&sr, &y);
	cr_assert_eq(tm_report_read(y.data, y.len, NULL, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_report_normalize(r, &j, &err), 0);
	char raw[GW_SHA256_HEX];
	tm_sha256_hex(y.data, y.len, raw);
	struct gw_store_record rec = {
		.report = r, .json = (const char *)j.data, .json_len = j.len, .tenant = "acme",
		.raw_sha256 = raw, .received_at = T0,
	};
	struct gw_put_info info;
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	cr_assert_eq(gw_store_put(st, &rec, &info, &err), GW_STORE_OK);
	cr_assert_eq(gw_alerts_on_stored(st, &svc, &rec, &info, T0, &err), GW_STORE_OK);
	cr_assert_eq(sc_count_alerts(st, "XK1", "condition"), 1);
	gw_store_rollback(st);
	cr_assert_eq(sc_count_alerts(st, "XK1", NULL), 0);
	tm_report_free(r);
	tm_buf_fini(&y);
	tm_buf_fini(&j);
}

/* ---- configuration ---- */

static const char cfg_head[] =
	"gateway:\n  mailboxes: [t@gw.example]\n  keys: [{cert: gw.pem, key: gw.key}]\n"
	"trust:\n  ca_file: ca.pem\n";

static int parse_cfg(const char *tail, struct gw_config **out, struct tm_error *err)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s%s", cfg_head, tail);
	return gw_config_parse((const uint8_t *)buf, strlen(buf), "mailgw.yaml", "/etc/telemail",
			       out, err);
}

Test(alerts, thresholds_by_type_and_colorant)
{
	struct gw_config *cfg = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse_cfg("alerts:\n  silence: 3d\n  part_life_percent: 95\n  supply_low:\n"
			       "    default: 12\n    toner: 15\n    toner/black: 5\n", &cfg, &err), 0,
		     "%s", err.msg);
	const struct gw_service_config *s = cfg->service;
	cr_assert_eq(s->silence, 3 * DAY);
	cr_assert_eq(s->part_life_percent, 95);
	cr_assert_eq(gw_service_supply_threshold(s, "toner", "black"), 5);
	cr_assert_eq(gw_service_supply_threshold(s, "toner", "cyan"), 15);
	cr_assert_eq(gw_service_supply_threshold(s, "wasteToner", NULL), 12);

	struct sc_report r;
	struct gw_alert_row a;
	sc_report_init(&r, "XK1", 1, T0);
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 8, 100 };
	r.supplies[1] = (struct sc_supply){ 2, "toner", "cyan", 14, 100 };
	sc_ingest(st, s, &r, "acme", T0);
	cr_assert_not(sc_alert(st, "XK1", "supply_low", "toner/black#1", &a), "8 %% > 5 %%");
	cr_assert(sc_alert(st, "XK1", "supply_low", "toner/cyan#2", &a), "14 %% <= 15 %%");
	gw_config_free(cfg);
}

Test(alerts, config_errors_name_line_and_key)
{
	struct gw_config *cfg = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse_cfg("alerts:\n  supply_low:\n    toner: 101\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_str_eq(err.msg, "mailgw.yaml:8: alerts.supply_low.toner: 101 is out of range 0..100");
	cr_assert_eq(parse_cfg("alerts:\n  silense: 7d\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.unknown_key");
	cr_assert_str_eq(err.msg, "mailgw.yaml:7: alerts.silense: unknown key");
	cr_assert_eq(parse_cfg("alerts:\n  silence: 7 days\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "alerts.silence: '7 days' is not a duration"), "%s", err.msg);
	cr_assert_eq(parse_cfg("alerts:\n  supply_low:\n    /black: 5\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "want a supply type or type/colorant"), "%s", err.msg);
	cr_assert_null(cfg);
}

/* ---- one load per evaluation: marks and active alerts held in memory ---- */

static void put_mark(const char *serial, const char *key, int64_t seq, int64_t ival)
{
	struct tm_error err = {0};
	struct gw_mark_row m = { .seq = seq, .has_ival = true, .ival = ival };
	cr_assert_eq(gw_store_mark_set(st, serial, key, &m, &err), GW_STORE_OK, "%s",
		     err.msg);
}

static bool get_mark(const char *key, struct gw_mark_row *m)
{
	struct tm_error err = {0};
	bool found = false;
	cr_assert_eq(gw_store_mark_get(st, "XK1", key, m, &found, &err), GW_STORE_OK,
		     "%s", err.msg);
	return found;
}

/* Two reports: the second resets a counter, changes firmware and has a new
 * toner (each found only by comparing with the first report's marks). */
static void reset_fw_replaced(void)
{
	struct sc_report r;
	struct gw_alert_row a;
	struct gw_mark_row m;
	sc_report_init(&r, "XK1", 1, T0);
	r.total = 5000;
	r.fw = "1.0";
	toner(&r, 40);
	sc_ingest(st, &svc, &r, "acme", T0);
	sc_report_init(&r, "XK1", 2, T0 + DAY);
	r.total = 100;
	r.fw = "2.0";
	toner(&r, 100);
	sc_ingest(st, &svc, &r, "acme", T0 + DAY);
	cr_assert(sc_alert(st, "XK1", "supply_replaced", "toner/black#1", &a));
	cr_assert_not_null(strstr(a.detail, "40 % -> 100 %"), "%s", a.detail);
	cr_assert(sc_alert(st, "XK1", "counter_reset", "total/impressions", &a));
	cr_assert_not_null(strstr(a.detail, "from 5000 to 100"), "%s", a.detail);
	cr_assert(sc_alert(st, "XK1", "firmware_changed", "controller", &a));
	cr_assert(get_mark("ctr:total/impressions", &m));
	cr_assert_eq(m.ival, 100);
	cr_assert_eq(m.seq, 2);
	cr_assert(get_mark("fw:controller", &m));
	cr_assert_str_eq(m.tval, "2.0");
	cr_assert_eq(m.seq, 2);
	cr_assert(get_mark("supply#1", &m));
	cr_assert_eq(m.ival, 100);
}

Test(alerts, marks_beyond_the_cap_evaluate_from_the_store)
{
	/* keys that sort before the real ones: a load cut at the cap would hold
	 * these and miss the counter, firmware and supply marks */
	char key[32];
	for (int i = 0; i < GW_ALERTS_MARKS_MAX + 10; i++) {
		snprintf(key, sizeof(key), "aaa#%04d", i);
		put_mark("XK1", key, 0, i);
	}
	reset_fw_replaced();
	struct gw_mark_row m;
	cr_assert(get_mark("aaa#0007", &m));
	cr_assert_eq(m.seq, 0, "a mark the report does not speak of stays as it was");
	cr_assert_eq(m.ival, 7);
}

Test(alerts, a_device_growing_past_the_cap_mid_evaluation)
{
	/* two short of the cap: the first report's third new mark (firmware,
	 * after supply and counter) does not fit; the two before it must be
	 * written too, or the second report finds nothing to compare with */
	char key[32];
	for (int i = 0; i < GW_ALERTS_MARKS_MAX - 2; i++) {
		snprintf(key, sizeof(key), "aaa#%04d", i);
		put_mark("XK1", key, 0, i);
	}
	reset_fw_replaced();
}

Test(alerts, active_alerts_beyond_the_cap_are_found_in_the_store)
{
	struct tm_error err = {0};
	for (int i = 0; i < GW_ALERTS_ACTIVE_MAX + 5; i++) {
		struct gw_alert_row a = { .state = GW_ALERT_OPEN, .first_seen = T0, .last_seen = T0,
					  .count = 1 };
		snprintf(a.serial, sizeof(a.serial), "XK1");
		snprintf(a.tenant, sizeof(a.tenant), "acme");
		snprintf(a.kind, sizeof(a.kind), "filler");
		snprintf(a.subject, sizeof(a.subject), "f%03d", i);
		snprintf(a.severity, sizeof(a.severity), "info");
		cr_assert_eq(gw_store_alert_insert(st, &a, &err), GW_STORE_OK, "%s", err.msg);
	}
	struct sc_report r;
	struct gw_alert_row a;
	for (int seq = 1; seq <= 3; seq++) {
		/* the open alert is newer than every filler: a held list cut at the cap
		 * misses it, inserts a second one and the unique index refuses that */
		sc_report_init(&r, "XK1", seq, T0 + seq * DAY);
		toner(&r, 10 - seq);
		sc_ingest(st, &svc, &r, "acme", T0 + seq * DAY);
	}
	cr_assert(sc_alert(st, "XK1", "supply_low", "toner/black#1", &a));
	cr_assert_eq(a.count, 3);
	cr_assert_eq(sc_count_alerts(st, "XK1", "supply_low"), 1);
	cr_assert_eq(sc_count_alerts(st, "XK1", "filler"), GW_ALERTS_ACTIVE_MAX + 5);
}

Test(alerts, raised_and_resolved_in_one_evaluation_twice)
{
	struct sc_report r;
	struct gw_alert_row a;
	long levels[] = { 5, 100, 5, 100 };
	for (int i = 0; i < 4; i++) {
		sc_report_init(&r, "XK1", i + 1, T0 + i * DAY);
		toner(&r, levels[i]);
		sc_ingest(st, &svc, &r, "acme", T0 + i * DAY);
	}
	/* each replacement is a row of its own, opened and resolved by its report */
	cr_assert_eq(sc_count_alerts(st, "XK1", "supply_replaced"), 2);
	cr_assert_eq(sc_count_alerts(st, "XK1", "supply_low"), 2);
	struct gw_alert_row *rows = NULL;
	size_t n = 0;
	struct tm_error err = {0};
	cr_assert_eq(gw_alerts_list(st, true, &rows, &n, &err), GW_STORE_OK);
	cr_assert_eq(n, 0, "nothing stays active");
	free(rows);
	cr_assert(sc_alert(st, "XK1", "supply_replaced", "toner/black#1", &a));
	cr_assert_eq(a.count, 1);
	cr_assert_eq(a.resolved_at, T0 + 3 * DAY);
}

Test(alerts, a_first_report_and_its_repeat)
{
	struct sc_report r;
	struct gw_alert_row a;
	struct gw_mark_row m;
	struct tm_error err = {0};
	for (int seq = 1; seq <= 3; seq++) {
		sc_report_init(&r, "XK1", seq, T0 + seq * 60);
		r.total = 5000;
		r.mono = 4000;
		r.fw = "1.0";
		r.conditions = "[doorOpen]";
		toner(&r, 7);
		sc_ingest(st, &svc, &r, "acme", T0 + seq * 60);
		/* a mark whose value the repeats leave as it is keeps the seq of
		 * the report that set it */
		cr_assert(get_mark("ctr:total/impressions_monochrome", &m));
		cr_assert_eq(m.seq, 1);
		cr_assert_eq(m.ival, 4000);
		cr_assert(get_mark("fw:controller", &m));
		cr_assert_eq(m.seq, 1);
		cr_assert(!m.has_ival);
		cr_assert(get_mark("conditions", &m));
		cr_assert_str_eq(m.tval, "doorOpen");
		cr_assert_eq(m.seq, 1);
		cr_assert(sc_alert(st, "XK1", "condition", "doorOpen", &a));
		cr_assert_eq(a.count, seq);
		if (seq == 1)
			cr_assert_eq(gw_alerts_ack(st, &svc, a.id, "user:tech", T0 + 90, &err), GW_STORE_OK);
	}
	/* a repeat counts and keeps what acknowledging wrote */
	cr_assert_eq(a.state, GW_ALERT_ACKED);
	cr_assert_str_eq(a.acked_by, "user:tech");
	cr_assert_eq(a.last_seen, T0 + 180);
	cr_assert(sc_alert(st, "XK1", "supply_low", "toner/black#1", &a));
	cr_assert_eq(a.count, 3);
	cr_assert_eq(a.first_seen, T0 + 60);
}

Test(alerts, a_changed_mark_is_compared_with_next_time)
{
	struct sc_report r;
	struct gw_alert_row a;
	static const long long totals[] = { 5000, 6000, 5500 };
	static const char *const fw[] = { "1.0", "2.0", "2.0" };
	for (int i = 0; i < 3; i++) {
		sc_report_init(&r, "XK1", i + 1, T0 + i * DAY);
		r.total = totals[i];
		r.fw = fw[i];
		sc_ingest(st, &svc, &r, "acme", T0 + i * DAY);
	}
	cr_assert(sc_alert(st, "XK1", "counter_reset", "total/impressions", &a));
	cr_assert_not_null(strstr(a.detail, "from 6000 to 5500"), "%s", a.detail);
	cr_assert(sc_alert(st, "XK1", "firmware_changed", "controller", &a));
	cr_assert_eq(a.count, 1, "2.0 again is no change");
	struct gw_mark_row m;
	cr_assert(get_mark("fw:controller", &m));
	cr_assert_eq(m.seq, 2, "set by report 2, the same in report 3");
	cr_assert(get_mark("ctr:total/impressions", &m));
	cr_assert_eq(m.seq, 3);
	cr_assert_eq(m.ival, 5500);
}

Test(alerts, the_held_copy_follows_every_write)
{
	struct tm_error err = {0};
	struct gw_alerts_device d;
	struct gw_alert_row a = { .serial = "XK1", .tenant = "acme", .kind = "condition",
				  .subject = "jammed", .severity = "critical", .state = GW_ALERT_OPEN,
				  .first_seen = T0, .last_seen = T0, .count = 1 };
	struct gw_alert_row got, again = a;
	bool found = false;
	gw_alerts_device_init(&d, st, "XK1", 1);
	cr_assert_eq(gw_alerts_device_load(&d, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(d.marks_held && d.active_held);
	cr_assert_eq(gw_alerts_device_insert(&d, &a, &err), GW_STORE_OK);
	cr_assert_eq(gw_alerts_device_find(&d, "condition", "jammed", &got, &found, &err), GW_STORE_OK);
	cr_assert(found && got.id == a.id);
	a.state = GW_ALERT_RESOLVED;
	a.resolved_at = T0;
	cr_assert_eq(gw_alerts_device_update(&d, &a, &err), GW_STORE_OK);
	cr_assert_eq(gw_alerts_device_find(&d, "condition", "jammed", &got, &found, &err), GW_STORE_OK);
	cr_assert(!found, "resolved is no longer active");
	/* raised again in the same evaluation: a row of its own, then counted */
	cr_assert_eq(gw_alerts_device_insert(&d, &again, &err), GW_STORE_OK);
	cr_assert_neq(again.id, a.id);
	again.count = 2;
	cr_assert_eq(gw_alerts_device_repeat(&d, &again, &err), GW_STORE_OK);
	cr_assert_eq(gw_alerts_device_find(&d, "condition", "jammed", &got, &found, &err), GW_STORE_OK);
	cr_assert(found && got.id == again.id && got.count == 2);

	/* a mark set is seen by the next lookup, and written by the flush */
	struct gw_mark_row m = { .seq = 1, .has_ival = true, .ival = 42 }, buf;
	const struct gw_mark_row *p = NULL;
	cr_assert_eq(gw_alerts_device_mark_set(&d, "k", &m, &err), GW_STORE_OK);
	cr_assert_eq(gw_alerts_device_mark_get(&d, "k", &buf, &p, &err), GW_STORE_OK);
	cr_assert(p != NULL && p->ival == 42);
	cr_assert_not(get_mark("k", &buf), "nothing written before the flush");
	cr_assert_eq(gw_alerts_device_flush(&d, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(get_mark("k", &buf) && buf.ival == 42 && buf.seq == 1);
	gw_alerts_device_fini(&d);
}

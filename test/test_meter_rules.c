/* Meters an ERP accepts (issue 18): the meter models file (rated speed,
 * vendor meter codes) and its errors, too_fast at a model's rate against
 * the default, two vendors' codes billed as one standard counter, the
 * stuck meter, contract periods (read day 20 in Europe/Berlin across the
 * October DST change, inherited down the tenant tree), the time zone
 * reader, and the estimated read at a cut-off with its exact value and its
 * flag in CSV and JSON. Generated histories with known answers, on SQLite
 * and (suite meter_rules_pg) PostgreSQL, the alerts raised as reports
 * arrive and the operators' decisions included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common.h"
#include "config/config.h"
#include "config/config_service.h"
#include "config/meter_models.h"
#include "config/tzfile.h"
#include "registry/tenant_scope.h"
#include "scenario/bill.h"
#include "scenario/ingest.h"
#include "service/billing.h"
#include "service/billing_period.h"
#include "service/meter_check.h"
#include "store_fixture.h"

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;
static char models_path[600];

/* Two vendors, a rated speed (60 ppm: 90 with the 150 % margin) and the
 * same standard counter under two vendors' codes. */
static const char models_yaml[] =
	"models:\n"
	"  - vendor: Canon\n"
	"    model: \"iR C1\"\n"
	"    ppm: 60\n"
	"    meters:\n"
	"      \"101\": total/impressions\n"
	"      \"108\": total/impressions_monochrome\n"
	"  - vendor: Ricoh\n"
	"    model: \"IM R1\"\n"
	"    meters:\n"
	"      K-BW: total/impressions_monochrome\n";

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq", "acme", 100, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "other", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	snprintf(models_path, sizeof(models_path), "%s/models.yaml", tmpdir);
	tm_test_write(models_path, models_yaml, strlen(models_yaml));
	cr_assert_eq(gw_meter_models_load(models_path, &svc.models, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	gw_meter_models_free(svc.models);
	for (size_t i = 0; i < svc.n_periods; i++) {
		gw_tz_free(svc.periods[i].tz);
		free(svc.periods[i].time_zone);
	}
	free(svc.periods);
	tm_store_test_close(st, tmpdir);
}

TestSuite(meter_rules, .init = setup, .fini = teardown);

#define DAY 86400
#define SEP30 1790726400   /* 2026-09-30T00:00:00Z: day 0 of the histories */
#define OCT01 1790812800
#define NOV01 1793491200
#define LATER 1811808000   /* 2027-06-01: every month billed here is over */

/* One report: device make and model (NULL: none), status (NULL: none) and
 * the counters mapping's body as YAML. */
static void report(const char *serial, long long seq, int64_t at, const char *make,
		   const char *model, const char *state, const char *counters, const char *tenant)
{
	struct sc_report r;
	sc_report_init(&r, serial, seq, at);
	char when[32], key[96], h[GW_SHA256_HEX];
	sc_utc(at, when);
	snprintf(key, sizeof(key), "%s:%lld", serial, seq);
	tm_sha256_hex(key, strlen(key), h);
	struct tm_buf y;
	tm_buf_init(&y);
	tm_buf_printf(&y, "schema_version: 1\nreport:\n  id: \"%.8s-%.4s-%.4s-%.4s-%.12s\"\n"
		      "  seq: %lld\n  kind: periodic\n  generated_at: \"%s\"\n"
		      "  agent: telemail-agent/0.1.0\ndevice:\n  serial: %s\n",
		      h, h + 8, h + 12, h + 16, h + 20, seq, when, serial);
	if (make != NULL)
		tm_buf_printf(&y, "  manufacturer: \"%s\"\n", make);
	tm_buf_printf(&y, "  model: \"%s\"\n", model != NULL ? model : "XK-4500 MFP");
	if (state != NULL)
		tm_buf_printf(&y, "status:\n  state: %s\n", state);
	tm_buf_printf(&y, "counters:\n%s", counters);
	sc_ingest_yaml(st, &svc, &y, tenant, NULL, at);
	tm_buf_fini(&y);
}

static void bill(const char *viewer, const char *period, int64_t now, struct gw_billing *b)
{
	struct gw_tenant_scope scope;
	struct tm_error err = {0};
	cr_assert_eq(gw_tenant_scope_load(st, viewer, &scope, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_billing_run(st, &scope, period, &svc, now, b, &err), GW_STORE_OK, "%s: %s",
		     err.reason, err.msg);
	gw_tenant_scope_fini(&scope);
}

static bool has_line(const struct gw_billing *b, const char *serial, const char *counter)
{
	for (size_t i = 0; i < b->n_lines; i++)
		if (strcmp(b->lines[i].serial, serial) == 0 && strcmp(b->lines[i].counter, counter) == 0)
			return true;
	return false;
}

static char *flags_of(const struct gw_billing_line *l)
{
	static char f[GW_BILLING_FLAGS_MAX];
	gw_billing_line_flags(l, f, sizeof(f));
	return f;
}

/* ---- the models file ---- */

Test(meter_rules, the_shipped_models_file_reads)
{
	char *path = tm_test_src("../data/models.yaml");
	struct gw_meter_models *m = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_meter_models_load(path, &m, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(m->n, 6);
	const struct gw_meter_model *e = gw_meter_models_find(m, "CANON", "imagerunner advance dx c5840i");
	cr_assert_not_null(e, "vendor and model compare without case");
	cr_assert_eq(e->ppm, 40);
	cr_assert_str_eq(gw_meter_model_counter(e, "101"), "total/impressions");
	cr_assert_null(gw_meter_model_counter(e, "999"));
	cr_assert_null(gw_meter_models_find(m, "Canon", "no such model"));
	cr_assert_null(gw_meter_models_find(m, NULL, "imageRUNNER ADVANCE DX C5840i"));
	gw_meter_models_free(m);
	free(path);
}

/* Every fault names the file, the line and the field, with its reason. */
Test(meter_rules, models_file_errors_name_file_line_and_field)
{
	static const struct {
		const char *yaml, *reason, *msg;
	} bad[] = {
		{ "models:\n  - vendor: A\n    model: B\n    ppm: 1001\n", "config.bad_value",
		  "m.yaml:4: models[0].ppm: 1001 is out of range 0..1000" },
		{ "models:\n  - vendor: A\n    model: B\n    meters:\n      \"101\": total/pages\n",
		  "config.bad_value", "m.yaml:5: models[0].meters.101: 'total/pages' is no standard "
		  "counter (want service/name, e.g. total/impressions_monochrome)" },
		{ "models:\n  - vendor: A\n    model: B\n    meters:\n      \"1 01\": total/sheets\n",
		  "config.bad_value", "m.yaml:5: models[0].meters.1 01: a meter code is 1 to 32 of "
		  "A-Z a-z 0-9 . _ -" },
		{ "models:\n  - vendor: A\n    model: B\n    speed: 40\n", "config.unknown_key", NULL },
		{ "models:\n  - vendor: A\n    ppm: 40\n", "config.missing_key", NULL },
		{ "models:\n  - {vendor: A, model: B}\n  - {vendor: a, model: b}\n", "config.bad_value",
		  "m.yaml:3: models[1]: a b is listed twice (first as models[0])" },
		{ "models:\n  - vendor: A\n   model: B\n", "config.syntax", NULL },
		{ "- vendor: A\n", "config.bad_value", "m.yaml:1: (top level): want a mapping with models:" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gw_meter_models *m = NULL;
		struct tm_error err = {0};
		cr_assert_eq(gw_meter_models_parse((const uint8_t *)bad[i].yaml, strlen(bad[i].yaml),
						   "m.yaml", &m, &err), -1, "%zu", i);
		cr_assert_null(m);
		cr_expect_str_eq(err.reason, bad[i].reason, "%zu: %s", i, err.msg);
		if (bad[i].msg != NULL)
			cr_expect_str_eq(err.msg, bad[i].msg, "%zu", i);
		else
			cr_expect_eq(strncmp(err.msg, "m.yaml:", 7), 0, "%zu: %s", i, err.msg);
	}
}

static int parse_config(const char *billing, struct gw_config **cfg, struct tm_error *err)
{
	char yaml[2048];
	int n = snprintf(yaml, sizeof(yaml),
			 "gateway:\n  mailboxes: [t@gw.example]\n  keys: [{cert: gw.pem, key: gw.key}]\n"
			 "trust:\n  ca_file: ca.pem\nbilling:\n%s", billing);
	return gw_config_parse((const uint8_t *)yaml, (size_t)n, "mailgw.yaml", tmpdir, cfg, err);
}

Test(meter_rules, billing_keys_read_and_refused)
{
	struct gw_config *cfg = NULL;
	struct tm_error err = {0};
	char good[1024];
	snprintf(good, sizeof(good), "  stuck_after: 14d\n  speed_margin: 120\n  models_file: %s\n"
		 "  periods:\n    - {tenant: acme, read_day: 20, time_zone: Europe/Berlin}\n"
		 "    - {tenant: other, read_day: 1}\n", models_path);
	cr_assert_eq(parse_config(good, &cfg, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(cfg->service->stuck_after, 14 * DAY);
	cr_assert_eq(cfg->service->speed_margin, 120);
	cr_assert_eq(cfg->service->models->n, 2);
	cr_assert_eq(cfg->service->n_periods, 2);
	cr_assert_eq(cfg->service->periods[0].read_day, 20);
	cr_assert_str_eq(gw_tz_name(cfg->service->periods[0].tz), "Europe/Berlin");
	cr_assert_null(cfg->service->periods[1].tz, "no zone: UTC");
	gw_config_free(cfg);

	static const struct {
		const char *billing, *reason, *msg;
	} bad[] = {
		{ "  periods:\n    - {tenant: acme, read_day: 29}\n", "config.bad_value",
		  "mailgw.yaml:8: billing.periods[0].read_day: 29 is out of range 1..28" },
		{ "  periods:\n    - {tenant: acme, read_day: 20, time_zone: Mars/Olympus_Mons}\n",
		  "billing.time_zone", "mailgw.yaml:8: billing.periods[0].time_zone: time zone "
		  "'Mars/Olympus_Mons': /usr/share/zoneinfo/Mars/Olympus_Mons is missing or unreadable "
		  "(is tzdata installed?)" },
		{ "  periods:\n    - {tenant: acme, read_day: 20, time_zone: ../etc/passwd}\n",
		  "billing.time_zone", "mailgw.yaml:8: billing.periods[0].time_zone: time zone "
		  "'../etc/passwd': want a tz database name such as Europe/Berlin" },
		{ "  periods:\n    - {tenant: acme, read_day: 20}\n    - {tenant: acme, read_day: 5}\n",
		  "config.bad_value", "mailgw.yaml:9: billing.periods[1].tenant: tenant 'acme' has an "
		  "entry already (periods[0])" },
		{ "  stuck_after: 2h\n", "config.bad_value", NULL },
		{ "  speed_margin: 99\n", "config.bad_value",
		  "mailgw.yaml:7: billing.speed_margin: 99 is out of range 100..1000" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse_config(bad[i].billing, &cfg, &err), -1, "%zu", i);
		cr_expect_str_eq(err.reason, bad[i].reason, "%zu: %s", i, err.msg);
		if (bad[i].msg != NULL)
			cr_expect_str_eq(err.msg, bad[i].msg, "%zu: %s", i, err.msg);
	}
	/* a models file that is not there, or wrong, is named with the fault */
	cr_assert_eq(parse_config("  models_file: nope.yaml\n", &cfg, &err), -1);
	cr_expect_str_eq(err.reason, "io.open", "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "nope.yaml"), "%s", err.msg);
	char path[700], conf[800];
	snprintf(path, sizeof(path), "%s/bad-models.yaml", tmpdir);
	const char *bad_models = "models:\n  - {vendor: A, model: B, ppm: fast}\n";
	tm_test_write(path, bad_models, strlen(bad_models));
	snprintf(conf, sizeof(conf), "  models_file: %s\n", path);
	cr_assert_eq(parse_config(conf, &cfg, &err), -1);
	cr_expect_str_eq(err.reason, "config.bad_value", "%s", err.msg);
	char want[800];
	snprintf(want, sizeof(want), "%s:2: models[0].ppm: must be an integer, not string", path);
	cr_expect_str_eq(err.msg, want);
}

/* ---- time zones ---- */

Test(meter_rules, europe_berlin_from_the_tz_database)
{
	struct gw_tz *z = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_tz_load("Europe/Berlin", &z, &err), 0, "%s", err.msg);
	/* 2026: CEST from 03-29T01:00Z to 10-25T01:00Z */
	cr_expect_eq(gw_tz_offset(z, 1774745999), 3600);   /* 2026-03-29T00:59:59Z */
	cr_expect_eq(gw_tz_offset(z, 1774746000), 7200);   /* 2026-03-29T01:00:00Z */
	cr_expect_eq(gw_tz_offset(z, 1792889999), 7200);   /* 2026-10-25T00:59:59Z */
	cr_expect_eq(gw_tz_offset(z, 1792890000), 3600);   /* 2026-10-25T01:00:00Z */
	/* past the file's transitions (2037): the footer's rule */
	cr_expect_eq(gw_tz_offset(z, 2224800000), 7200);   /* 2040-07-02 */
	cr_expect_eq(gw_tz_offset(z, 2240000000), 3600);   /* 2040-12-25 */
	/* midnights on both sides of the change, and the hour that is skipped */
	cr_expect_eq(gw_tz_local_to_utc(z, 1792454400), 1792447200);   /* 10-20 00:00 = 10-19T22:00Z */
	cr_expect_eq(gw_tz_local_to_utc(z, 1795132800), 1795129200);   /* 11-20 00:00 = 11-19T23:00Z */
	cr_expect_eq(gw_tz_local_to_utc(z, 1774751400), 1774747800);   /* 03-29 02:30 (gap): 01:30Z */
	cr_expect_eq(gw_tz_local_to_utc(z, 1792895400), 1792888200);   /* 10-25 02:30 (twice): 00:30Z */
	gw_tz_free(z);
	/* the south: DST from October to April, past 2037 by the footer's rule */
	cr_assert_eq(gw_tz_load("Australia/Sydney", &z, &err), 0, "%s", err.msg);
	cr_expect_eq(gw_tz_offset(z, 2210198400), 11 * 3600);   /* 2040-01-15: AEDT */
	cr_expect_eq(gw_tz_offset(z, 2225923200), 10 * 3600);   /* 2040-07-15: AEST */
	gw_tz_free(z);
	/* no transitions at all, a <+14> name: the footer alone */
	cr_assert_eq(gw_tz_load("Etc/GMT-14", &z, &err), 0, "%s", err.msg);
	cr_expect_eq(gw_tz_offset(z, 1782864000), 14 * 3600);
	cr_expect_eq(gw_tz_local_to_utc(z, 1782864000), 1782864000 - 14 * 3600);
	gw_tz_free(z);
	cr_assert_eq(gw_tz_load("UTC", &z, &err), 0, "%s", err.msg);
	cr_expect_eq(gw_tz_offset(z, 1792890000), 0);
	gw_tz_free(z);
	cr_assert_eq(gw_tz_load("Europe/Nowhere", &z, &err), -1);
	cr_expect_str_eq(err.reason, "billing.time_zone");
	cr_assert_eq(gw_tz_load("/etc/passwd", &z, &err), -1);
	cr_expect_str_eq(err.msg, "time zone '/etc/passwd': want a tz database name such as Europe/Berlin");
	/* a file that is not TZif, under $TZDIR */
	char dir[700], file[800], want[1000];
	snprintf(dir, sizeof(dir), "%s/zones/Bad", tmpdir);
	cr_assert_eq(tm_test_sh("mkdir -p '%s'", dir), 0);
	snprintf(file, sizeof(file), "%s/Zone", dir);
	tm_test_write(file, "TZif2 but nothing more", 22);
	snprintf(dir, sizeof(dir), "%s/zones", tmpdir);
	setenv("TZDIR", dir, 1);
	cr_assert_eq(gw_tz_load("Bad/Zone", &z, &err), -1);
	unsetenv("TZDIR");
	cr_expect_str_eq(err.reason, "billing.time_zone");
	snprintf(want, sizeof(want), "time zone 'Bad/Zone': %s is not a TZif file (version 2 or later)",
		 file);
	cr_expect_str_eq(err.msg, want);
}

/* ---- contract periods ---- */

static void add_period(const char *tenant, int day, const char *zone)
{
	struct tm_error err = {0};
	svc.periods = realloc(svc.periods, (svc.n_periods + 1) * sizeof(*svc.periods));
	struct gw_billing_period_rule *p = &svc.periods[svc.n_periods++];
	memset(p, 0, sizeof(*p));
	p->tenant = (char *)tenant;
	p->read_day = day;
	if (zone != NULL) {
		p->time_zone = strdup(zone);
		cr_assert_eq(gw_tz_load(zone, &p->tz, &err), 0, "%s", err.msg);
	}
}

static const char *totals_yaml(long long v)
{
	static char y[64];
	snprintf(y, sizeof(y), "  total:\n    impressions: %lld\n", v);
	return y;
}

/* acme reads on the 20th, Europe/Berlin; acme-hq inherits it; `other` has
 * calendar months. 2026-11 for acme runs from 10-20 00:00 CEST
 * (10-19T22:00Z) to 11-20 00:00 CET (11-19T23:00Z): the DST change of
 * 10-25 makes it an hour longer than 31 days. */
Test(meter_rules, read_day_20_in_berlin_across_the_dst_change)
{
	add_period("acme", 20, "Europe/Berlin");
	sc_enroll(st, "P1", "acme-hq", 1);
	sc_enroll(st, "P2", "other", 2);
	const int64_t start = 1792447200, end = 1795129200;
	/* P1: 30 min before and after each boundary */
	const int64_t at[] = { start - 1800, start + 1800, end - 1800, end + 1800 };
	const long long v[] = { 1000, 1010, 1500, 1510 };
	for (int i = 0; i < 4; i++) {
		report("P1", i + 1, at[i], NULL, NULL, NULL, totals_yaml(v[i]), "acme-hq");
		report("P2", i + 1, at[i], NULL, NULL, NULL, totals_yaml(v[i]), "other");
	}
	report("P2", 5, NOV01 - 60, NULL, NULL, NULL, totals_yaml(1200), "other");
	struct gw_billing b;
	bill(NULL, "2026-11", LATER, &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "P1", "total/impressions");
	cr_assert_eq(l->period_start, start);
	cr_assert_eq(l->period_end, end);
	cr_assert_eq(end - start, 31 * DAY + 3600, "an hour longer: CEST to CET");
	cr_assert_eq(l->open_value, 1000, "10-19T21:30Z is 23:30 in Berlin: before the read day");
	cr_assert_eq(l->close_value, 1500, "11-19T22:30Z is 23:30 in Berlin: before the read day");
	cr_assert_eq(l->usage, 500);
	cr_assert_eq(l->flags, 0);
	/* the calendar month for `other`: 11-01..12-01 UTC; opens at 10-31T23:59Z */
	l = sc_bill_line(&b, "P2", "total/impressions");
	cr_assert_eq(l->period_start, NOV01);
	cr_assert_eq(l->open_value, 1200);
	cr_assert_eq(l->flags, GW_BILL_EST_CLOSE, "its last reading is 11 days before 12-01");
	gw_billing_fini(&b);

	bill("acme", "2026-11", LATER, &b);
	cr_assert_eq(b.start, start);
	cr_assert_eq(b.end, end);
	cr_assert_str_eq(b.basis, "read day 20, Europe/Berlin");
	cr_assert_eq(b.n_lines, 1);
	gw_billing_fini(&b);

	/* the command line: the period and its basis */
	char *out;
	cr_assert_eq(sc_mailgw_run(tmpdir, "billing:\n  periods:\n    - {tenant: acme, read_day: 20, time_zone: Europe/Berlin}\n",
			 "billing --tenant acme-hq --period 2026-11", &out), 0, "%s", out);
	cr_assert_eq(strstr(out, "period 2026-11 (read day 20, Europe/Berlin): 2026-10-19T22:00:00Z to "
			     "2026-11-19T23:00:00Z\n"), out, "%s", out);
	free(out);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant other --period 2026-11 --format json", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "\"basis\": \"calendar month, UTC\",\n  \"start\": \"2026-11-01T00:00:00Z\""),
			   "%s", out);
	free(out);
}

/* ---- rated speed ---- */

/* F1 is a Canon iR C1 (60 ppm, 90 with the margin): 140,000 pages in a day
 * is more than 90 x 1,500 min = 135,000. F2's model is unknown: 200 ppm,
 * 300,000 in a day and an hour; 140,000 passes, 400,000 does not. */
Test(meter_rules, too_fast_at_the_model_rate_and_at_the_default)
{
	sc_enroll(st, "F1", "acme-hq", 1);
	sc_enroll(st, "F2", "acme-hq", 2);
	const long long f1[] = { 1000, 141000, 141100 }, f2[] = { 1000, 141000, 541000 };
	for (int d = 0; d < 3; d++) {
		report("F1", d + 1, SEP30 + (d + 1) * DAY, "Canon", "iR C1", NULL, totals_yaml(f1[d]),
		       "acme-hq");
		report("F2", d + 1, SEP30 + (d + 1) * DAY, "Canon", "iR X9", NULL, totals_yaml(f2[d]),
		       "acme-hq");
	}
	struct gw_billing b;
	bill("acme", "2026-10", LATER, &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "F1", "total/impressions");
	cr_assert_str_eq(flags_of(l), "estimated_closing;suspect;rule=too_fast;"
			 "basis=model;ppm=90;reading=F1:2:total/impressions");
	l = sc_bill_line(&b, "F2", "total/impressions");
	cr_assert_str_eq(flags_of(l), "estimated_closing;suspect;rule=too_fast;"
			 "basis=default;ppm=200;reading=F2:3:total/impressions");
	gw_billing_fini(&b);
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "F1", "meter_suspect", "total/impressions", &a));
	cr_expect_str_eq(a.detail, "reading F1:2:total/impressions: too_fast (141000 after 1000; "
			 "model rate 90 ppm)");
	cr_assert(sc_alert(st, "F2", "meter_suspect", "total/impressions", &a));
	cr_expect_str_eq(a.detail, "reading F2:3:total/impressions: too_fast (541000 after 141000; "
			 "default rate 200 ppm)");
	cr_expect_eq(sc_count_alerts(st, NULL, "meter_suspect"), 2);
}

/* ---- vendor codes ---- */

/* V1 (Canon, code 108) and V2 (Ricoh, code K-BW) both count black
 * impressions: billed as total/impressions_monochrome, summed into one
 * total. V3 (Canon) reports the standard counter itself: that one is
 * billed, its code 108 stays a line of its own. V4's model is unknown: its
 * 108 means nothing and stays vendor/108. */
Test(meter_rules, two_vendors_codes_give_one_standard_counter)
{
	static const struct {
		const char *serial, *make, *model, *code;
		long long base, per_day;
		bool standard;   /* also total/impressions_monochrome itself (code's value + 7) */
	} dev[] = {
		{ "V1", "Canon", "iR C1", "\"108\"", 1000, 100, false },
		{ "V2", "RICOH", "im r1", "K-BW", 5000, 40, false },
		{ "V3", "Canon", "iR C1", "\"108\"", 300, 10, true },
		{ "V4", "Brother", "HL-1", "\"108\"", 70, 1, false },
	};
	for (int i = 0; i < 4; i++) {
		sc_enroll(st, dev[i].serial, "acme-hq", i + 1);
		for (int d = 0; d <= 32; d += 4) {   /* days 0, 4 … 32: 09-30 to 11-01 */
			char c[200];
			long long v = dev[i].base + dev[i].per_day * d;
			int n = 0;
			if (dev[i].standard)
				n = snprintf(c, sizeof(c), "  total:\n    impressions_monochrome: %lld\n", v + 7);
			snprintf(c + n, sizeof(c) - (size_t)n, "  vendor:\n    - {id: %s, value: %lld}\n",
				 dev[i].code, v);
			report(dev[i].serial, d / 4 + 1, SEP30 + d * DAY, dev[i].make, dev[i].model, NULL,
			       c, "acme-hq");
		}
	}
	struct gw_billing b;
	bill("acme", "2026-10", LATER, &b);
	cr_assert_eq(b.n_lines, 5);
	const struct gw_billing_line *l = sc_bill_line(&b, "V1", "total/impressions_monochrome");
	cr_assert_eq(l->usage, 3200);
	cr_assert_str_eq(l->source, "vendor/108");
	cr_assert_str_eq(flags_of(l), "from=vendor/108");
	l = sc_bill_line(&b, "V2", "total/impressions_monochrome");
	cr_assert_eq(l->usage, 1280);
	cr_assert_str_eq(flags_of(l), "from=vendor/K-BW");
	l = sc_bill_line(&b, "V3", "total/impressions_monochrome");
	cr_assert_eq(l->usage, 320);
	cr_assert_str_eq(l->source, "");
	cr_assert_eq(sc_bill_line(&b, "V3", "vendor/108")->usage, 320);
	cr_assert_eq(sc_bill_line(&b, "V4", "vendor/108")->usage, 32);
	cr_assert_not(has_line(&b, "V4", "total/impressions_monochrome"));
	const struct gw_billing_total *t = sc_bill_total(&b, "acme-hq", "total/impressions_monochrome");
	cr_assert_eq(t->devices, 3);
	cr_assert_eq(t->usage, 3200 + 1280 + 320);
	gw_billing_fini(&b);

	char *out, conf[800];
	snprintf(conf, sizeof(conf), "billing:\n  models_file: %s\n", models_path);
	cr_assert_eq(sc_mailgw_run(tmpdir, conf, "billing --tenant acme --period 2026-10 --format csv", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "\ndevice,acme-hq,V2,total/impressions_monochrome,5000,"
				  "2026-09-30T00:00:00Z,6280,2026-11-01T00:00:00Z,1280,1,from=vendor/K-BW\n"),
			   "%s", out);
	cr_assert_not_null(strstr(out, "\ntenant_total,acme-hq,,total/impressions_monochrome,,,,,4800,,"
				  "devices=3\n"), "%s", out);
	free(out);
}

/* ---- the stuck meter ---- */

/* Daily from 09-30 (day 0): S1's total stays 5000 while its copy counter
 * rises by 10 a day; S2's total stays too, but nothing else moves (an idle
 * device); S3's stays while its status says printing and S4's while its
 * toner falls a point a day (both seen at arrival only: billing reads
 * counters). stuck_after is 21 days: S1's run of 5000 from day 0 is stuck
 * at day 21 (seq 22). */
static void stuck_history(int days)
{
	for (int d = 0; d < days; d++) {
		char c[256];
		snprintf(c, sizeof(c), "  total:\n    impressions: 5000\n  copy:\n    impressions: %d\n",
			 100 + 10 * d);
		report("S1", d + 1, SEP30 + d * DAY, NULL, NULL, NULL, c, "acme-hq");
		report("S2", d + 1, SEP30 + d * DAY, NULL, NULL, NULL,
		       "  total:\n    impressions: 800\n  copy:\n    impressions: 40\n", "acme-hq");
		report("S3", d + 1, SEP30 + d * DAY, NULL, NULL, "printing", totals_yaml(70), "acme-hq");
		snprintf(c, sizeof(c), "  total:\n    impressions: 900\nsupplies:\n  - {index: 1, "
			 "type: toner, colorant: black, unit: percent, max_capacity: 100, level: %d}\n",
			 90 - d);
		report("S4", d + 1, SEP30 + d * DAY, NULL, NULL, NULL, c, "acme-hq");
	}
}

Test(meter_rules, a_stuck_total_while_the_device_prints)
{
	sc_enroll(st, "S1", "acme-hq", 1);
	sc_enroll(st, "S2", "acme-hq", 2);
	sc_enroll(st, "S3", "acme-hq", 3);
	sc_enroll(st, "S4", "acme-hq", 4);
	stuck_history(31);   /* through 10-30 */
	struct gw_billing b;
	bill("acme", "2026-10", LATER, &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "S1", "total/impressions");
	cr_assert_eq(l->usage, 0);
	cr_assert_str_eq(flags_of(l), "suspect;rule=stuck;reading=S1:22:total/impressions");
	cr_assert_eq(sc_bill_line(&b, "S1", "copy/impressions")->flags, 0);
	cr_assert_eq(sc_bill_line(&b, "S2", "total/impressions")->flags, 0, "idle: not stuck");
	cr_assert_eq(sc_bill_line(&b, "S3", "total/impressions")->flags, 0, "billing reads counters only");
	cr_assert_eq(sc_bill_line(&b, "S4", "total/impressions")->flags, 0, "billing reads counters only");
	gw_billing_fini(&b);

	struct gw_alert_row a;
	cr_assert(sc_alert(st, "S1", "meter_suspect", "total/impressions", &a));
	cr_expect_eq(a.first_seen, SEP30 + 21 * DAY);
	cr_expect_eq(a.count, 10, "days 21 to 30");
	cr_expect_str_eq(a.detail, "reading S1:31:total/impressions: stuck (5000 for 21 days; "
			 "copy/impressions rose 190 -> 400)");
	cr_assert(sc_alert(st, "S3", "meter_suspect", "total/impressions", &a));
	cr_expect_str_eq(a.detail, "reading S3:31:total/impressions: stuck (70 for 21 days; "
			 "status printing)");
	cr_assert(sc_alert(st, "S4", "meter_suspect", "total/impressions", &a));
	cr_expect_eq(a.first_seen, SEP30 + 21 * DAY);
	cr_expect_str_eq(a.detail, "reading S4:31:total/impressions: stuck (900 for 21 days; "
			 "supply #1 fell 81 -> 60)");
	cr_expect_not(sc_alert(st, "S2", "meter_suspect", NULL, &a));

	/* accepting the flagged reading settles the whole run, in billing and
	 * for the reports still to come */
	struct tm_error err = {0};
	cr_assert_eq(gw_meter_decide(st, &svc, "S1:22:total/impressions", false, "user:op", 5, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(sc_alert(st, "S1", "meter_suspect", "total/impressions", &a));
	cr_expect_eq(a.state, GW_ALERT_RESOLVED);
	report("S1", 32, SEP30 + 31 * DAY,  NULL, NULL, NULL,
	       "  total:\n    impressions: 5000\n  copy:\n    impressions: 410\n", "acme-hq");
	cr_expect_eq(sc_count_alerts(st, "S1", "meter_suspect"), 1, "no new alert for a settled run");
	bill("acme", "2026-10", LATER, &b);
	cr_assert_eq(sc_bill_line(&b, "S1", "total/impressions")->flags, 0);
	gw_billing_fini(&b);
}

/* Two watched counters stand still, but only one of them was read 21 days
 * ago: S5's total impressions stay 5000 from day 0, its total sheets stay
 * 5000 from day 15 (a counter the agent began to send), while its copy
 * counter rises. The readings of 21 days before are asked for both at once
 * (one store call): the impressions are stuck, the sheets have no reading
 * that old and are not (were the answers crossed, 5000 would be). */
Test(meter_rules, stuck_asks_the_old_readings_of_several_counters_at_once)
{
	sc_enroll(st, "S5", "acme-hq", 5);
	for (int d = 0; d <= 25; d++) {
		char c[256];
		snprintf(c, sizeof(c), "  total:\n    impressions: 5000\n%s  copy:\n"
			 "    impressions: %d\n", d >= 15 ? "    sheets: 5000\n" : "", 100 + 10 * d);
		report("S5", d + 1, SEP30 + d * DAY, NULL, NULL, NULL, c, "acme-hq");
	}
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "S5", "meter_suspect", "total/impressions", &a));
	cr_expect_eq(a.first_seen, SEP30 + 21 * DAY);
	cr_expect_eq(a.count, 5, "days 21 to 25");
	cr_expect_not(sc_alert(st, "S5", "meter_suspect", "total/sheets", &a));
	cr_expect_eq(sc_count_alerts(st, "S5", "meter_suspect"), 1);
}

/* ---- the estimated cut-off read ---- */

/* X1 reads 1000 + 100 a day at 00:00 from 09-30 (day 0) to 10-10 (2000),
 * then is silent until 11-30 (3500). October closes at an estimate: 100 a
 * day (1000 in the 10 days before) for the 22 days to 11-01: 4200. A
 * reading after the cut-off does not change October; November opens at the
 * same 4200 and carries the difference (3500 - 4200: a credit). */
Test(meter_rules, the_estimated_read_at_the_cut_off)
{
	sc_enroll(st, "X1", "acme-hq", 1);
	for (int d = 0; d <= 10; d++)
		report("X1", d + 1, SEP30 + d * DAY, NULL, NULL, NULL, totals_yaml(1000 + 100 * d),
		       "acme-hq");
	struct gw_billing b;
	bill("acme", "2026-10", LATER, &b);
	const struct gw_billing_line *l = sc_bill_line(&b, "X1", "total/impressions");
	cr_assert_eq(l->open_value, 1100);
	cr_assert_eq(l->close_value, 4200);
	cr_assert_eq(l->close_at, NOV01);
	cr_assert_eq(l->usage, 3100);
	cr_assert_eq(l->flags, GW_BILL_EST_CLOSE);
	gw_billing_fini(&b);

	report("X1", 12, SEP30 + 61 * DAY, NULL, NULL, NULL, totals_yaml(3500), "acme-hq");
	bill("acme", "2026-10", LATER, &b);
	l = sc_bill_line(&b, "X1", "total/impressions");
	cr_assert_eq(l->close_value, 4200, "a closed period keeps its estimate");
	cr_assert_eq(l->usage, 3100);
	gw_billing_fini(&b);
	bill("acme", "2026-11", LATER, &b);
	l = sc_bill_line(&b, "X1", "total/impressions");
	cr_assert_eq(l->open_value, 4200);
	cr_assert_eq(l->open_at, NOV01);
	cr_assert_eq(l->close_value, 3500);
	cr_assert_eq(l->usage, -700);
	cr_assert_eq(l->flags, GW_BILL_EST_OPEN);
	gw_billing_fini(&b);

	char *out;
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-10 --format csv", &out), 0, "%s", out);
	cr_assert_str_eq(out,
		"record,tenant,serial,counter,opening,opening_at,closing,closing_at,usage,segments,flags\n"
		"device,acme-hq,X1,total/impressions,1100,2026-10-01T00:00:00Z,4200,2026-11-01T00:00:00Z,"
		"3100,1,estimated_closing\n"
		"tenant_total,acme-hq,,total/impressions,,,,,3100,,devices=1\n");
	free(out);
	cr_assert_eq(sc_mailgw_run(tmpdir, "", "billing --tenant acme --period 2026-11 --format json", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "\"opening\": 4200,\n      \"opening_at\": \"2026-11-01T00:00:00Z\""),
			   "%s", out);
	cr_assert_not_null(strstr(out, "\"usage\": -700,"), "%s", out);
	cr_assert_not_null(strstr(out, "\"flags\": [\n        \"estimated_opening\"\n      ],\n"
				  "      \"period_start\": \"2026-11-01T00:00:00Z\",\n"
				  "      \"period_end\": \"2026-12-01T00:00:00Z\""), "%s", out);
	free(out);
}

/* A counter the neighbouring report lacks: its reading further away (on
 * PostgreSQL the neighbouring report's packed counters answer the others),
 * each row the same as gw_store_meter_adjacent's, field by field. */
Test(meter_rules, a_neighbour_further_away_than_the_next_report)
{
	sc_enroll(st, "Q2", "acme-hq", 2);
	report("Q2", 1, SEP30, "Canon", "iR C1", NULL,
	       "  total:\n    impressions: 100\n  vendor:\n    - {id: \"108\", value: 40}\n",
	       "acme-hq");
	report("Q2", 2, SEP30 + DAY, "Canon", "iR C1", NULL, "  total:\n    impressions: 110\n",
	       "acme-hq");
	report("Q2", 3, SEP30 + 2 * DAY, "Canon", "iR C1", NULL, "  total:\n    impressions: 120\n",
	       "acme-hq");
	const struct gw_meter_key keys[] = { { "vendor", "108" }, { "total", "impressions" } };
	/* before report 3: 108 from report 1, total from report 2; after
	 * report 1: total from report 2, no 108 */
	const struct { int64_t at; int64_t seq; bool after; bool found[2]; int64_t want_seq[2]; } q[] = {
		{ SEP30 + 2 * DAY, 3, false, { true, true }, { 1, 2 } },
		{ SEP30, 1, true, { false, true }, { 0, 2 } },
	};
	for (size_t t = 0; t < 2; t++) {
		struct gw_meter_row rows[2];
		bool found[2];
		struct tm_error err = {0};
		cr_assert_eq(gw_store_meter_adjacent_many(st, "Q2", 2, keys, q[t].at, 0, q[t].seq,
							  q[t].after, rows, found, &err),
			     GW_STORE_OK, "%s", err.msg);
		for (size_t i = 0; i < 2; i++) {
			cr_assert_eq(found[i], q[t].found[i], "query %zu, %s", t, keys[i].name);
			struct gw_meter_row one;
			bool one_found = false;
			cr_assert_eq(gw_store_meter_adjacent(st, "Q2", keys[i].service, keys[i].name,
							     q[t].at, 0, q[t].seq, q[t].after, &one,
							     &one_found, &err), GW_STORE_OK, "%s", err.msg);
			cr_assert_eq(one_found, found[i]);
			if (!found[i])
				continue;
			cr_assert_eq(rows[i].seq, q[t].want_seq[i], "query %zu, %s", t, keys[i].name);
			cr_assert_str_eq(rows[i].serial, one.serial);
			cr_assert_str_eq(rows[i].tenant, "acme-hq");
			cr_assert_str_eq(rows[i].tenant, one.tenant);
			cr_assert_eq(rows[i].seq, one.seq);
			cr_assert_eq(rows[i].at, one.at);
			cr_assert_eq(rows[i].at_nsec, one.at_nsec);
			cr_assert_str_eq(rows[i].service, one.service);
			cr_assert_str_eq(rows[i].name, one.name);
			cr_assert_eq(rows[i].value, one.value);
		}
	}
}

/* Every counter's neighbours in one call (the meter check's, one round trip
 * on PostgreSQL) answer what gw_store_meter_adjacent answers for each: a
 * standard counter, vendor codes, a counter the device never reported,
 * and a name with the characters an array literal must escape. */
Test(meter_rules, the_neighbours_of_many_counters_at_once)
{
	sc_enroll(st, "Q1", "acme-hq", 1);
	for (int d = 0; d < 3; d++) {
		char c[200];
		snprintf(c, sizeof(c), "  total:\n    impressions: %d\n  vendor:\n"
			 "    - {id: \"108\", value: %d}\n    - {id: K.b-W_1, value: %d}\n",
			 1000 + d * 10, 500 + d, 70 + d * 2);
		report("Q1", d + 1, SEP30 + d * DAY, "Canon", "iR C1", NULL, c, "acme-hq");
	}
	const struct gw_meter_key keys[] = {
		{ "total", "impressions" }, { "vendor", "108" }, { "vendor", "K.b-W_1" },
		{ "vendor", "nothing" }, { "vendor", "a\"b\\c,{d}" },
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	const int64_t want_prev[] = { 1000, 500, 70 }, want_next[] = { 1020, 502, 74 };
	for (int after = 0; after < 2; after++) {
		struct gw_meter_row rows[5];
		bool found[5];
		struct tm_error err = {0};
		cr_assert_eq(gw_store_meter_adjacent_many(st, "Q1", n, keys, SEP30 + DAY, 0, 2,
							  after != 0, rows, found, &err),
			     GW_STORE_OK, "%s", err.msg);
		for (size_t i = 0; i < n; i++) {
			struct gw_meter_row one;
			bool one_found = false;
			cr_assert_eq(gw_store_meter_adjacent(st, "Q1", keys[i].service, keys[i].name,
							     SEP30 + DAY, 0, 2, after != 0, &one,
							     &one_found, &err), GW_STORE_OK, "%s", err.msg);
			cr_assert_eq(found[i], one_found, "%s/%s", keys[i].service, keys[i].name);
			if (i >= 3) {
				cr_assert_not(found[i], "%s/%s: never reported", keys[i].service,
					      keys[i].name);
				continue;
			}
			cr_assert(found[i], "%s/%s", keys[i].service, keys[i].name);
			cr_assert_eq(rows[i].value, after ? want_next[i] : want_prev[i], "%s/%s",
				     keys[i].service, keys[i].name);
			cr_assert_eq(rows[i].seq, after ? 3 : 1);
			cr_assert_eq(rows[i].value, one.value);
			cr_assert_str_eq(rows[i].name, keys[i].name);
		}
	}
	struct gw_meter_row many[GW_METER_ADJACENT_MAX + 1];
	bool found[GW_METER_ADJACENT_MAX + 1];
	struct gw_meter_key more[GW_METER_ADJACENT_MAX + 1];
	for (size_t i = 0; i < GW_METER_ADJACENT_MAX + 1; i++)
		more[i] = keys[0];
	struct tm_error err = {0};
	cr_assert_neq(gw_store_meter_adjacent_many(st, "Q1", GW_METER_ADJACENT_MAX + 1, more,
						   SEP30 + DAY, 0, 2, false, many, found, &err),
		      GW_STORE_OK);
	cr_assert_str_eq(err.reason, "internal.bug");
}

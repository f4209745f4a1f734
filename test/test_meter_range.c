/* What billing reads (gw_store_meter_range, issue 16), on both back ends
 * alike: for each device and counter with a reading in the period (since,
 * until] or in the device's last report at or before since, its readings
 * of the period in time order, preceded by its last reading at or before
 * since that an operator did not exclude. The PostgreSQL back end reads a
 * period's reports with their counters packed in their rows, reaching back
 * a week before since for the openings: the devices and counters whose
 * opening lies further back, or was excluded, are the cases here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <telemail/buf.h>

#include "common.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "service/meter_check.h"
#include "store/postgresql/store_pg.h"
#include "store_fixture.h"

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	gw_service_config_defaults(&svc);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(meter_range, .init = setup, .fini = teardown);

#define SINCE 1790726400   /* 2026-09-30T00:00:00Z */
#define UNTIL (SINCE + 10 * 86400)
#define DAY 86400

/* One report of serial: seq, at SINCE + offset seconds, its total and
 * monochrome impressions (mono < 0: none). */
static void report(const char *serial, long long seq, int64_t offset, long long total,
		   long long mono)
{
	static int enrolled;
	if (seq == 1)
		sc_enroll(st, serial, "acme", ++enrolled);
	struct sc_report r;
	sc_report_init(&r, serial, seq, SINCE + offset);
	r.total = total;
	r.mono = mono;
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", r.at), GW_PUT_STORED);
}

/* The readings handed over, as "serial service/name: seq:value ..." a
 * counter, in the order each counter's came (counters of a device may
 * interleave), and whether each device's came together. */
struct seen {
	char lines[16][320];
	size_t n;
	char devices[8][GW_NAME_MAX + 1];
	size_t n_devices;
	bool apart;   /* a device's readings came in two runs */
	int stop_after;   /* > 0: the callback stops at that reading */
	int calls;
};

static int take(void *ctx, const struct gw_meter_row *m)
{
	struct seen *s = ctx;
	s->calls++;
	if (s->n_devices == 0 || strcmp(s->devices[s->n_devices - 1], m->serial) != 0) {
		for (size_t i = 0; i < s->n_devices; i++)
			s->apart |= strcmp(s->devices[i], m->serial) == 0;
		cr_assert_lt(s->n_devices, 8);
		snprintf(s->devices[s->n_devices++], sizeof(s->devices[0]), "%s", m->serial);
	}
	char key[160];
	snprintf(key, sizeof(key), "%s %s/%s:", m->serial, m->service, m->name);
	size_t i = 0;
	while (i < s->n && strncmp(s->lines[i], key, strlen(key)) != 0)
		i++;
	if (i == s->n) {
		cr_assert_lt(s->n, 16);
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s", key);
	}
	size_t len = strlen(s->lines[i]);
	snprintf(s->lines[i] + len, sizeof(s->lines[0]) - len, " %lld:%lld", (long long)m->seq,
		 (long long)m->value);
	return s->stop_after > 0 && s->calls == s->stop_after;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The readings of (SINCE, UNTIL], each counter's a line, sorted. */
static void read_range(struct seen *s)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_store_meter_range(st, SINCE, UNTIL, take, s, &err), s->stop_after > 0,
		     "%s", err.msg);
	qsort(s->lines, s->n, sizeof(s->lines[0]), cmp_line);
}

static void expect_lines(const struct seen *s, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n && i < s->n; i++)
		cr_expect_str_eq(s->lines[i], want[i]);
	cr_expect_eq(s->n, n, "%zu counters' lines", s->n);
	cr_expect_not(s->apart, "each device's readings together");
}

Test(meter_range, openings_near_far_excluded_and_devices_silent)
{
	/* A: all near the start (an opening within the week before it); its
	 * monochrome counter missing from a report, a report after the period */
	report("A", 1, -20 * DAY, 100, 50);
	report("A", 2, -10 * DAY, 200, -1);
	report("A", 3, -2 * DAY, 300, 150);
	report("A", 4, 1 * DAY, 400, 160);
	report("A", 5, 11 * DAY, 999, 999);
	/* B: silent for the three weeks before the start; its last report
	 * before it lacks the monochrome counter, whose opening is older */
	report("B", 1, -30 * DAY, 10, 5);
	report("B", 2, -20 * DAY, 20, -1);
	report("B", 3, 2 * DAY, 30, 7);
	/* C, and Z after every device the read meets: nothing since 40 days
	 * before the start, their openings alone */
	report("C", 1, -40 * DAY, 99, -1);
	report("Z", 1, -40 * DAY, 7, -1);
	/* D: its first report in the period: no opening */
	report("D", 1, 1 * DAY, 5, -1);
	/* E: its last report before the start excluded by an operator, and a
	 * reading at the start exactly (at or before it: an opening) */
	report("E", 1, -3 * DAY, 70, -1);
	report("E", 2, -1 * DAY, 80, -1);
	report("E", 3, 0, 85, -1);
	report("E", 4, 1 * DAY, 90, -1);
	struct tm_error err = {0};
	cr_assert_eq(gw_meter_decide(st, &svc, "E:3:total/impressions", true, "user:op", 5, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_meter_decide(st, &svc, "E:2:total/impressions", true, "user:op", 5, &err),
		     GW_STORE_OK, "%s", err.msg);

	struct seen s = {0};
	read_range(&s);
	static const char *const want[] = {
		"A total/impressions: 3:300 4:400",
		"A total/impressions_monochrome: 3:150 4:160",
		"B total/impressions: 2:20 3:30",
		"B total/impressions_monochrome: 1:5 3:7",
		"C total/impressions: 1:99",
		"D total/impressions: 1:5",
		"E total/impressions: 1:70 4:90",
		"Z total/impressions: 1:7",
	};
	expect_lines(&s, want, sizeof(want) / sizeof(want[0]));
	cr_expect_eq(s.n_devices, 6);
}

/* A report half a second after the start is of the period, also for a
 * device whose last report before the start is looked up on its own (a
 * reading at the start exactly, to the second, is before it: above). */
Test(meter_range, a_fraction_after_the_start_is_in_the_period)
{
	report("F", 1, -10 * DAY, 100, -1);
	struct sc_report r;
	sc_report_init(&r, "F", 2, SINCE);
	r.generated_at = "2026-09-30T00:00:00.5Z";
	r.total = 110;
	cr_assert_eq(sc_ingest(st, &svc, &r, "acme", SINCE), GW_PUT_STORED);
	struct seen s = {0};
	read_range(&s);
	static const char *const want[] = { "F total/impressions: 1:100 2:110" };
	expect_lines(&s, want, 1);
}

/* A counter only in an earlier report before the start, in neither the
 * last one before it nor the period: not read. */
Test(meter_range, a_counter_gone_before_the_start_is_not_read)
{
	report("G", 1, -5 * DAY, 100, 40);
	report("G", 2, -1 * DAY, 110, -1);
	report("G", 3, 1 * DAY, 120, -1);
	struct seen s = {0};
	read_range(&s);
	static const char *const want[] = { "G total/impressions: 2:110 3:120" };
	expect_lines(&s, want, 1);
}

/* The callback's stop ends the read (and answers its value); the store
 * serves the next call. */
Test(meter_range, the_callback_stops_the_read)
{
	for (int d = 0; d < 3; d++) {
		char serial[8];
		snprintf(serial, sizeof(serial), "S%d", d);
		report(serial, 1, -DAY, 10, -1);
		report(serial, 2, DAY, 20, -1);
	}
	struct seen s = { .stop_after = 3 };
	read_range(&s);
	cr_expect_eq(s.calls, 3);
	struct seen all = {0};
	read_range(&all);
	cr_expect_eq(all.calls, 6);
}

/* A counter's name with a space, a '%' and a newline (the report schema
 * allows none; a store's rows may still hold one): read back as it is. On
 * PostgreSQL the row's packed counters escape them, the put's (C) and the
 * migration's and store copy's (SQL) alike. */
Test(meter_range, names_with_spaces_and_newlines_read_back)
{
	report("Q", 1, -DAY, 10, -1);
	report("Q", 2, DAY, 20, -1);
	cr_assert(tm_store_exec(
		"INSERT INTO counters (report, service, name, value) SELECT id, 'vendor',"
		" 'a b%c' || char(10) || 'd', 5 * seq FROM reports WHERE serial = 'Q'",
		"INSERT INTO counters (report, service, name, value) SELECT id, 'vendor',"
		" E'a b%c\\nd', 5 * seq FROM reports WHERE serial = 'Q';"
		"UPDATE reports SET meters = NULL WHERE serial = 'Q';" GW_PG_METERS_FILL));
	struct seen s = {0};
	read_range(&s);
	static const char *const want[] = {
		"Q total/impressions: 1:10 2:20",
		"Q vendor/a b%c\nd: 1:5 2:10",
	};
	expect_lines(&s, want, 2);
	if (!tm_sf.pg)
		return;
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_pg_meters_add(&b, "total", "impressions", 10), 0);
	cr_assert_eq(gw_pg_meters_add(&b, "vendor", "a b%c\nd", 5), 0);
	cr_assert_str_eq((const char *)b.data, "total impressions 10\nvendor a%20b%25c%0Ad 5");
	char sql_made[128];
	tm_store_qtext("SELECT meters FROM reports WHERE serial = 'Q' AND seq = 1", sql_made,
		       sizeof(sql_made));
	cr_assert_str_eq(sql_made, (const char *)b.data, "the put's packing is the SQL's");
	tm_buf_fini(&b);
}

/* A report stored without packed counters (PostgreSQL: by a gateway older
 * than schema v15 still running beside a newer one) is read from its
 * counters: the same readings, and the same neighbours for the meter
 * check. */
Test(meter_range, reports_without_packed_counters_read_from_their_counters)
{
	report("O", 1, -2 * DAY, 100, 40);
	report("O", 2, 1 * DAY, 150, 60);
	report("O", 3, 2 * DAY, 170, 70);
	cr_assert(tm_store_exec("SELECT 1", "UPDATE reports SET meters = NULL WHERE serial = 'O'"));
	if (tm_sf.pg)
		cr_assert_eq(tm_store_q1("SELECT count(*) FROM reports WHERE meters IS NULL"), 3);
	struct seen s = {0};
	read_range(&s);
	static const char *const want[] = {
		"O total/impressions: 1:100 2:150 3:170",
		"O total/impressions_monochrome: 1:40 2:60 3:70",
	};
	expect_lines(&s, want, 2);
	const struct gw_meter_key keys[] = { { "total", "impressions" },
					     { "total", "impressions_monochrome" } };
	struct gw_meter_row rows[2];
	bool found[2];
	struct tm_error err = {0};
	cr_assert_eq(gw_store_meter_adjacent_many(st, "O", 2, keys, SINCE + DAY, 0, 2, false, rows,
						  found, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(found[0] && found[1]);
	cr_expect_eq(rows[0].value, 100);
	cr_expect_eq(rows[1].value, 40);
	cr_expect_eq(rows[1].seq, 1);
}

/* PostgreSQL: a report's packed counters that do not parse (a hand-edited
 * row) fail the read with store.failed naming the report, billing's and
 * the meter check's alike; nothing is handed over from it. */
Test(meter_range, malformed_packed_counters_name_the_report)
{
	TM_PG_ONLY();
	report("M", 1, -DAY, 100, -1);
	report("M", 2, DAY, 110, -1);
	cr_assert(tm_store_exec(NULL, "UPDATE reports SET meters = 'total impressions'"
				" WHERE serial = 'M' AND seq = 2"));
	struct seen s = {0};
	struct tm_error err = {0};
	cr_assert_eq(gw_store_meter_range(st, SINCE, UNTIL, take, &s, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.failed");
	cr_assert_str_eq(err.msg, "meter readings: report M seq 2: its packed counters"
			 " (reports.meters) are malformed");
	cr_assert_eq(s.calls, 1, "the opening of seq 1 only");
	const struct gw_meter_key keys[] = { { "total", "impressions" } };
	struct gw_meter_row rows[1];
	bool found[1];
	struct tm_error err2 = {0};
	cr_assert_eq(gw_store_meter_adjacent_many(st, "M", 1, keys, SINCE - DAY, 0, 1, true, rows,
						  found, &err2), GW_STORE_ERROR);
	cr_assert_str_eq(err2.reason, "store.failed");
	cr_assert_str_eq(err2.msg, err.msg);
}

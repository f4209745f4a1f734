/* Tests of normalization (parser/report/normalize.c): the exact canonical record,
 * sentinel and percent mapping, UTC conversion, rejected times. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

#include "common.h"

static struct tm_report *read_file_ok(const char *rel)
{
	char *path = tm_test_src(rel);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	cr_assert_eq(tm_report_read(b.data, b.len, NULL, &r, &err), 0, "%s: %s", rel, err.msg);
	tm_buf_fini(&b);
	free(path);
	return r;
}

/* normalize r, return malloc'd JSON text */
static char *norm_ok(const struct tm_report *r)
{
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	cr_assert_eq(tm_report_normalize(r, &b, &err), 0, "%s: %s", err.reason, err.msg);
	size_t len;
	return (char *)tm_buf_take(&b, &len);
}

static void assert_has(const char *json, const char *part)
{
	cr_assert(strstr(json, part) != NULL, "record lacks %s:\n%s", part, json);
}

Test(normalize, exact_record)
{
	struct tm_report *r = read_file_ok("reports/good/event-supply-low.yaml");
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	tm_buf_append_str(&b, ">");
	cr_assert_eq(tm_report_normalize(r, &b, &err), 0, "%s", err.msg);
	const char *want =
		">{\"alerts\":[{\"code\":\"markerTonerAlmostEmpty\",\"group\":\"markerSupplies\","
		"\"location\":2,\"severity\":\"warning\",\"time\":\"2024-11-05T09:41:00Z\"}],"
		"\"device\":{\"serial\":\"XK100001\"},"
		"\"report\":{\"agent\":\"telemail-agent/0.1.0\",\"generated_at\":\"2024-11-05T09:41:07Z\","
		"\"id\":\"c2e4a6b8-1d3f-4a5c-9e7b-0f2d4c6a8e13\",\"kind\":\"event\",\"outbox_gap\":2,"
		"\"seq\":1043,\"trigger\":{\"cause\":\"supply_low\",\"subject\":\"supplies/2\"}},"
		"\"schema_version\":1,"
		"\"status\":{\"conditions\":[\"lowToner\"],\"since\":\"2024-11-05T09:41:00Z\","
		"\"state\":\"printing\"},"
		"\"supplies\":[{\"colorant\":\"cyan\",\"index\":2,\"level\":5,\"level_state\":\"value\","
		"\"max_capacity\":100,\"max_capacity_state\":\"value\",\"part_number\":\"TN-4520C\","
		"\"percent\":5,\"type\":\"tonerCartridge\",\"unit\":\"percent\"}]}";
	cr_assert_str_eq((const char *)b.data, want);
	tm_buf_fini(&b);
	tm_report_free(r);
}

Test(normalize, minimal_record_and_defaults)
{
	struct tm_report *r = read_file_ok("reports/good/mono-minimal.yaml");
	char *j = norm_ok(r);
	cr_assert_str_eq(j, "{\"device\":{\"serial\":\"MP-0042\"},\"report\":{\"agent\":"
			 "\"telemail-agent/0.1.0\",\"generated_at\":\"2024-11-05T08:30:00Z\","
			 "\"id\":\"0b7d2f14-5e6a-4f3b-9c1d-2a8e4b6f7c90\",\"kind\":\"status\","
			 "\"outbox_gap\":0,\"seq\":1},\"schema_version\":1}");
	free(j);
	tm_report_free(r);
}

Test(normalize, full_record_sections)
{
	struct tm_report *r = read_file_ok("reports/good/color-mfp-full.yaml");
	char *j = norm_ok(r);
	assert_has(j, "\"firmware\":{\"controller\":\"4.2.1 (build 20240918)\",\"engine\":\"E-12.07\","
		   "\"scanner\":\"S-3.1.0\"}");
	assert_has(j, "\"since\":\"2024-11-05T04:12:44Z\"");
	assert_has(j, "\"scan\":{\"images\":95210}");
	assert_has(j, "\"vendor\":[{\"id\":\"101\",\"name\":\"Total\",\"unit\":\"impressions\","
		   "\"value\":1284033}");
	/* 33750 / 120000 = 28.1 % */
	assert_has(j, "\"level\":33750,\"level_state\":\"value\",\"max_capacity\":120000,"
		   "\"max_capacity_state\":\"value\",\"part_number\":\"WT-450\",\"percent\":28,");
	/* 184220 / 250000 = 73.7 % */
	assert_has(j, "{\"life_used_percent\":74,\"name\":\"transfer belt\"");
	assert_has(j, "\"time\":\"2024-11-04T22:03:10.250Z\"");
	assert_has(j, "\"diagnostics\":{\"board_revision\":\"rev C\",\"drum_rotations\":8123344,"
		   "\"duplex_unit_present\":true,\"fixing_temp_c\":182.5,\"humidity_pct\":41.0,"
		   "\"jam_count_30d\":3}");
	cr_assert_null(strchr(j, '\n'), "compact, no trailing newline");
	/* stable byte for byte */
	char *again = norm_ok(r);
	cr_assert_str_eq(j, again);
	free(again);
	free(j);
	tm_report_free(r);
}

/* ---- supplies: sentinels and percent --------------------------------------------- */

struct supply_case {
	int64_t max_capacity;
	int64_t level;
	char want[160];
};

ParameterizedTestParameters(normalize, supply_mapping)
{
	static struct supply_case cases[] = {
		{ 100, 62, "\"level\":62,\"level_state\":\"value\",\"max_capacity\":100,\"max_capacity_state\":\"value\",\"percent\":62" },
		{ 100, -1, "\"level\":null,\"level_state\":\"other\",\"max_capacity\":100,\"max_capacity_state\":\"value\",\"percent\":null" },
		{ 100, -2, "\"level\":null,\"level_state\":\"unknown\",\"max_capacity\":100,\"max_capacity_state\":\"value\",\"percent\":null" },
		{ 100, -3, "\"level\":null,\"level_state\":\"some_remaining\",\"max_capacity\":100,\"max_capacity_state\":\"value\",\"percent\":null" },
		{ -1, 40, "\"level\":40,\"level_state\":\"value\",\"max_capacity\":null,\"max_capacity_state\":\"no_restriction\",\"percent\":null" },
		{ -2, 40, "\"level\":40,\"level_state\":\"value\",\"max_capacity\":null,\"max_capacity_state\":\"unknown\",\"percent\":null" },
		{ TM_UNSET, 40, "\"level\":40,\"level_state\":\"value\",\"max_capacity\":null,\"max_capacity_state\":\"unknown\",\"percent\":null" },
		{ 0, 0, "\"level\":0,\"level_state\":\"value\",\"max_capacity\":0,\"max_capacity_state\":\"value\",\"percent\":null" },
		{ 3, 1, "\"percent\":33" },            /* 33.3 */
		{ 3, 2, "\"percent\":67" },            /* 66.7 rounds up */
		{ 200, 1, "\"percent\":1" },           /* 0.5 rounds half up */
		{ 201, 1, "\"percent\":0" },           /* 0.497 */
		{ 100, 0, "\"percent\":0" },
		{ 100, 150, "\"percent\":100" },       /* overfilled: capped */
		{ 2147483647, 2147483646, "\"percent\":100" },
		{ 2147483647, 1, "\"percent\":0" },
	};
	return cr_make_param_array(struct supply_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct supply_case *c, normalize, supply_mapping)
{
	struct tm_report *r = read_file_ok("reports/good/mono-minimal.yaml");
	r->has_supplies = true;
	r->supplies = calloc(1, sizeof(*r->supplies));
	r->n_supplies = 1;
	r->supplies[0].index = 1;
	r->supplies[0].type = strdup("toner");
	r->supplies[0].max_capacity = c->max_capacity;
	r->supplies[0].level = c->level;
	char *j = norm_ok(r);
	assert_has(j, c->want);
	free(j);
	tm_report_free(r);
}

Test(normalize, part_life)
{
	struct tm_report *r = read_file_ok("reports/good/mono-minimal.yaml");
	int64_t used[] = { 120, 5, 7, 1 };
	int64_t life[] = { 100, 0, TM_UNSET, 3 };
	r->has_parts = true;
	r->parts = calloc(4, sizeof(*r->parts));
	r->n_parts = 4;
	for (int i = 0; i < 4; i++) {
		r->parts[i].name = strdup("p");
		r->parts[i].used = used[i];
		r->parts[i].rated_life = life[i];
	}
	char *j = norm_ok(r);
	assert_has(j, "\"parts\":[{\"life_used_percent\":120,\"name\":\"p\",\"rated_life\":100,\"used\":120},"
		   "{\"life_used_percent\":null,\"name\":\"p\",\"rated_life\":0,\"used\":5},"
		   "{\"life_used_percent\":null,\"name\":\"p\",\"used\":7},"
		   "{\"life_used_percent\":33,\"name\":\"p\",\"rated_life\":3,\"used\":1}]");
	free(j);
	tm_report_free(r);
}

Test(normalize, floats_shortest_and_unicode)
{
	struct tm_report *r = read_file_ok("reports/good/mono-minimal.yaml");
	r->has_diagnostics = true;
	r->diagnostics = calloc(3, sizeof(*r->diagnostics));
	r->n_diagnostics = 3;
	r->diagnostics[0] = (struct tm_diag){ .name = strdup("a"), .type = TM_DIAG_FLOAT, .f = 0.1 };
	r->diagnostics[1] = (struct tm_diag){ .name = strdup("b"), .type = TM_DIAG_FLOAT, .f = 182.5 };
	r->diagnostics[2] = (struct tm_diag){ .name = strdup("c"), .type = TM_DIAG_STRING,
					      .s = strdup("caf\xc3\xa9 \"q\"\n") };
	char *j = norm_ok(r);
	assert_has(j, "\"diagnostics\":{\"a\":0.1,\"b\":182.5,\"c\":\"caf\xc3\xa9 \\\"q\\\"\\n\"}");
	free(j);
	/* one float needing 17 digits raises the precision; values still read back exactly */
	r->diagnostics[1].f = 1.0 / 3.0;
	j = norm_ok(r);
	const char *p = strstr(j, "\"b\":");
	cr_assert_not_null(p);
	cr_assert_eq(strtod(p + 4, NULL), 1.0 / 3.0, "%s", j);
	free(j);
	r->diagnostics[0].f = NAN;
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.bad_number");
	cr_assert_str_eq(err.msg, "diagnostics/a: not a finite number");
	tm_buf_fini(&b);
	tm_report_free(r);
}

Test(normalize, rejects_collapsing_keys_and_bad_times)
{
	struct tm_report *r = read_file_ok("reports/good/color-mfp-full.yaml");
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);

	free(r->firmware[2].component);
	r->firmware[2].component = strdup("controller");
	cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_str_eq(err.msg, "device/firmware/2: component 'controller' appears twice");
	free(r->firmware[2].component);
	r->firmware[2].component = strdup("scanner");

	free(r->alerts[1].time);
	r->alerts[1].time = strdup("2024-02-30T00:00:00Z");
	cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_str_eq(err.msg, "alerts/time: time '2024-02-30T00:00:00Z': day out of range for the month");
	cr_assert_eq(b.len, 0, "nothing appended on error");
	tm_buf_fini(&b);
	tm_report_free(r);
}

/* Invalid UTF-8 anywhere (a value, an array element, a map key) is
 * report.encoding naming the field; the first one written decides. */
Test(normalize, invalid_utf8_named)
{
	static const struct {
		const char *bytes;
	} bad[] = { { "\xc3" }, { "\xc0\xaf" }, { "\xed\xa0\x80" }, { "\xf4\x90\x80\x80" }, { "\xff" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tm_report *r = read_file_ok("reports/good/color-mfp-full.yaml");
		struct tm_buf b;
		struct tm_error err = {0};
		tm_buf_init(&b);
		free(r->model);
		r->model = strdup(bad[i].bytes);
		cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
		cr_assert_str_eq(err.reason, "report.encoding");
		cr_assert_str_eq(err.msg, "device/model: string is not valid UTF-8");
		free(r->model);
		r->model = strdup("ok");
		free(r->firmware[1].component);
		r->firmware[1].component = strdup(bad[i].bytes);
		cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
		cr_assert_str_eq(err.reason, "report.encoding");
		cr_assert_str_eq(err.msg, "device/firmware: string is not valid UTF-8");
		free(r->firmware[1].component);
		r->firmware[1].component = strdup("engine");
		free(r->conditions[0]);
		r->conditions[0] = strdup(bad[i].bytes);
		cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
		cr_assert_str_eq(err.msg, "status/conditions: string is not valid UTF-8");
		cr_assert_eq(b.len, 0, "nothing appended on error");
		tm_buf_fini(&b);
		tm_report_free(r);
	}
}

/* Map keys (firmware components, diagnostic names) come out sorted however
 * they were listed, and a repeat is named by its second place. */
Test(normalize, map_keys_sorted_and_repeats_named)
{
	struct tm_report *r = read_file_ok("reports/good/mono-minimal.yaml");
	r->has_diagnostics = true;
	r->diagnostics = calloc(4, sizeof(*r->diagnostics));
	r->n_diagnostics = 4;
	const char *names[] = { "zeta", "alpha", "mid", "alpha2" };
	for (int i = 0; i < 4; i++)
		r->diagnostics[i] = (struct tm_diag){ .name = strdup(names[i]), .type = TM_DIAG_INT, .i = i };
	char *j = norm_ok(r);
	assert_has(j, "\"diagnostics\":{\"alpha\":1,\"alpha2\":3,\"mid\":2,\"zeta\":0}");
	free(j);
	free(r->diagnostics[3].name);
	r->diagnostics[3].name = strdup("zeta");
	free(r->diagnostics[2].name);
	r->diagnostics[2].name = strdup("alpha");
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	cr_assert_eq(tm_report_normalize(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_str_eq(err.msg, "diagnostics/alpha: name appears twice");
	tm_buf_fini(&b);
	tm_report_free(r);
}

/* ---- time ------------------------------------------------------------------------ */

struct time_case {
	char in[48];
	char out[32];
	int64_t unix_seconds;
};

ParameterizedTestParameters(normalize, time_good)
{
	static struct time_case cases[] = {
		{ "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", 0 },
		{ "2000-01-01T00:00:00+00:00", "2000-01-01T00:00:00Z", 946684800 },
		{ "2024-11-05T06:00:00Z", "2024-11-05T06:00:00Z", 1730786400 },
		{ "2024-11-05T07:00:00+01:00", "2024-11-05T06:00:00Z", 1730786400 },
		{ "2024-11-05T00:30:00-05:30", "2024-11-05T06:00:00Z", 1730786400 },
		{ "2024-12-31T23:30:00-01:00", "2025-01-01T00:30:00Z", 1735691400 },   /* new year */
		{ "2025-01-01T00:15:00+02:00", "2024-12-31T22:15:00Z", 1735683300 },   /* back a year */
		{ "2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z", 1709249400 },   /* leap day */
		{ "2023-03-01T00:30:00+01:00", "2023-02-28T23:30:00Z", 1677627000 },   /* no leap day */
		{ "2000-02-29T12:00:00Z", "2000-02-29T12:00:00Z", 951825600 },         /* 400-year rule */
		{ "2024-02-29T23:59:60Z", "2024-02-29T23:59:59Z", 1709251199 },        /* leap second */
		{ "2024-11-05T06:00:00.5Z", "2024-11-05T06:00:00.500Z", 1730786400 },
		{ "2024-11-05T06:00:00.123456789+00:00", "2024-11-05T06:00:00.123Z", 1730786400 },
		{ "2024-11-05T06:00:00.0009Z", "2024-11-05T06:00:00.000Z", 1730786400 },
		{ "2024-11-05T06:00:00-00:00", "2024-11-05T06:00:00Z", 1730786400 },
		{ "1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z", -1 },
		{ "0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z", -62167219200LL },
		{ "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", 253402300799LL },
		{ "2024-06-01T00:00:00+23:59", "2024-05-31T00:01:00Z", 1717113660 },
	};
	return cr_make_param_array(struct time_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct time_case *c, normalize, time_good)
{
	char out[32];
	int64_t secs = 0;
	struct tm_error err = {0};
	cr_assert_eq(tm_time_to_utc(c->in, out, &secs, &err), 0, "%s: %s", c->in, err.msg);
	cr_assert_str_eq(out, c->out, "%s", c->in);
	cr_assert_eq(secs, c->unix_seconds, "%s: %lld", c->in, (long long)secs);
}

struct bad_time {
	char in[48];
	char why[48];
};

ParameterizedTestParameters(normalize, time_bad)
{
	static struct bad_time cases[] = {
		/* the reader's grammar row by row is test_time.c's (tm_time_parse);
		 * here, that tm_time_to_utc passes its answer on */
		{ "2023-02-29T00:00:00Z", "day out of range" },
		{ "2024-11-05T06:00:00.1234567890Z", "1 to 9 digits" },
		{ "0000-01-01T00:30:00+01:00", "outside years 0000-9999" },
		{ "", "not an RFC 3339" },
	};
	return cr_make_param_array(struct bad_time, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_time *c, normalize, time_bad)
{
	char out[32] = "untouched";
	struct tm_error err = {0};
	cr_assert_eq(tm_time_to_utc(c->in, out, NULL, &err), -1, "accepted '%s'", c->in);
	cr_assert_str_eq(err.reason, "report.schema");
	char want[80];
	snprintf(want, sizeof(want), "time '%s': ", c->in);
	cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "'%s' does not name the text", err.msg);
	cr_assert(strstr(err.msg, c->why) != NULL, "'%s' lacks '%s'", err.msg, c->why);
}

Test(normalize, time_long_input_is_cut_in_the_message)
{
	char in[300];
	memset(in, '9', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	struct tm_error err = {0};
	cr_assert_eq(tm_time_to_utc(in, NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_lt(strlen(err.msg), 200);
	cr_assert_eq(tm_time_to_utc(NULL, NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
}

/* A collector's section: sorted keys, the list in the report's order, absent
 * serial and detail left out. */
Test(normalize, collector_section)
{
	struct tm_report *r = read_file_ok("reports/good/collector-unreachable.yaml");
	char *j = norm_ok(r);
	cr_assert_str_eq(j, "{\"collector\":{\"devices\":3,\"unreachable\":["
			 "{\"address\":\"192.0.2.41:161\",\"detail\":\"no answer from 192.0.2.41:161 within 8000 ms\","
			 "\"reason\":\"collect.unavailable\",\"since\":\"2024-04-30T08:00:00Z\"},"
			 "{\"address\":\"192.0.2.42:161\",\"reason\":\"collect.serial_clash\",\"serial\":\"XK100002\","
			 "\"since\":\"2024-05-01T08:00:00Z\"}],\"unreachable_count\":2},"
			 "\"device\":{\"serial\":\"XK100001\"},\"report\":{\"agent\":\"telemail-agent/0.1.0\","
			 "\"generated_at\":\"2024-05-01T08:00:00Z\",\"id\":\"3c1d7e9a-5b2f-4a6c-8d0e-1f2a3b4c5d6e\","
			 "\"kind\":\"status\",\"outbox_gap\":0,\"seq\":12,\"trigger\":{\"cause\":\"schedule\"}},"
			 "\"schema_version\":1,\"status\":{\"conditions\":[],\"state\":\"idle\"}}");
	char *again = norm_ok(r);
	cr_assert_str_eq(again, j);
	free(again);
	free(j);
	tm_report_free(r);
}

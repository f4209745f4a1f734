/* telemail/time.h: the one RFC 3339 reader and the one UTC writer that the
 * report, the canonical record, the store, the command lines and the agent
 * share — what each accepts and refuses with the exact reason, the instant it
 * reads, and the text it writes, fraction by fraction. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/error.h>
#include <telemail/time.h>

struct good {
	char in[48];
	int64_t sec;
	int32_t nsec;
	int32_t offset;
	int frac_digits;
	bool zulu;
};

ParameterizedTestParameters(time, parse_good)
{
	static struct good cases[] = {
		{ "1970-01-01T00:00:00Z", 0, 0, 0, 0, true },
		{ "2025-03-01T10:00:00.250Z", 1740823200, 250000000, 0, 3, true },
		{ "2026-11-01T00:00:00.6Z", 1793491200, 600000000, 0, 1, true },
		{ "2026-11-01T00:00:00.000000001Z", 1793491200, 1, 0, 9, true },
		{ "2024-02-29T12:00:00Z", 1709208000, 0, 0, 0, true },
		{ "2024-06-01T02:00:00+02:00", 1717200000, 0, 7200, 0, false },
		{ "2024-05-31T23:00:00-01:00", 1717200000, 0, -3600, 0, false },
		{ "2024-06-01T00:00:00+00:00", 1717200000, 0, 0, 0, false },
		/* a leap second is :59 (POSIX time has none); the store's own reader
		 * made it the next minute's :00 through timegm() */
		{ "2016-12-31T23:59:60Z", 1483228799, 0, 0, 0, true },
		{ "0000-01-01T00:00:00Z", -62167219200LL, 0, 0, 0, true },
		{ "9999-12-31T23:59:59.999999999Z", 253402300799LL, 999999999, 0, 9, true },
	};
	return cr_make_param_array(struct good, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct good *c, time, parse_good)
{
	struct tm_time t;
	struct tm_error err = {0};
	cr_assert_eq(tm_time_parse(c->in, &t, &err), 0, "%s: %s", c->in, err.msg);
	cr_assert_eq(t.sec, c->sec, "%s: %lld", c->in, (long long)t.sec);
	cr_assert_eq(t.nsec, c->nsec, "%s: %d", c->in, (int)t.nsec);
	cr_assert_eq(t.offset, c->offset, "%s", c->in);
	cr_assert_eq(t.frac_digits, c->frac_digits, "%s", c->in);
	cr_assert_eq(t.zulu, c->zulu, "%s", c->in);
}

struct bad {
	char in[48];
	char why[48];
};

/* The first rows are what the store's own reader (gw_store_parse_utc_ns)
 * accepted and the report's (tm_time_to_utc) refused: timegm() rolled an
 * impossible day into the next month. One reader, one answer: refused. */
ParameterizedTestParameters(time, parse_bad)
{
	static struct bad cases[] = {
		{ "2025-02-30T00:00:00Z", "day out of range" },
		{ "2023-02-29T00:00:00Z", "day out of range" },
		{ "2024-04-31T00:00:00Z", "day out of range" },
		{ "1900-02-29T00:00:00Z", "day out of range" },
		{ "2024-01-00T00:00:00Z", "day out of range" },
		{ "2024-13-01T00:00:00Z", "month out of range" },
		{ "2024-00-10T00:00:00Z", "month out of range" },
		{ "2024-11-05T24:00:00Z", "time of day out of range" },
		{ "2024-11-05T12:60:00Z", "time of day out of range" },
		{ "2024-11-05T12:00:61Z", "time of day out of range" },
		{ "2024-11-05T06:00:00+24:00", "offset is out of range" },
		{ "2024-11-05T06:00:00+01:60", "offset is out of range" },
		{ "2024-11-05T06:00:00.Z", "1 to 9 digits" },
		{ "2024-11-05T06:00:00.1234567890Z", "1 to 9 digits" },
		{ "0000-01-01T00:30:00+01:00", "outside years 0000-9999" },
		{ "9999-12-31T23:59:59-00:01", "outside years 0000-9999" },
		{ "2024-11-05 06:00:00Z", "not an RFC 3339" },
		{ "2024-11-05t06:00:00z", "not an RFC 3339" },
		{ "2024-11-05T06:00:00", "not an RFC 3339" },
		{ "2024-11-05T06:00:00+0100", "not an RFC 3339" },
		{ "2024-11-05T06:00:00Zjunk", "not an RFC 3339" },
		{ "2024-11-5T06:00:00Z", "not an RFC 3339" },
		{ "+2024-11-05T06:00:00Z", "not an RFC 3339" },
		{ "", "not an RFC 3339" },
	};
	return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *c, time, parse_bad)
{
	struct tm_time t = { .sec = 42 };
	struct tm_error err = {0};
	cr_assert_eq(tm_time_parse(c->in, &t, &err), -1, "accepted '%s'", c->in);
	cr_assert_str_eq(err.reason, "report.schema");
	char want[80];
	snprintf(want, sizeof(want), "time '%s': ", c->in);
	cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "'%s' does not name the text", err.msg);
	cr_assert(strstr(err.msg, c->why) != NULL, "'%s' lacks '%s'", err.msg, c->why);
	cr_assert_eq(t.sec, 42, "a refused time must leave the result alone");
}

Test(time, parse_null_and_long)
{
	struct tm_error err = {0};
	cr_assert_eq(tm_time_parse(NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_str_eq(err.msg, "time: missing");
	char in[300];
	memset(in, '9', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	cr_assert_eq(tm_time_parse(in, NULL, &err), -1);
	cr_assert_lt(strlen(err.msg), 200);
}

struct fmt {
	int64_t sec;
	int32_t nsec;
	int digits;
	char out[40];
	int rc;
};

ParameterizedTestParameters(time, format)
{
	static struct fmt cases[] = {
		{ 0, 0, 0, "1970-01-01T00:00:00Z", 0 },
		{ 1793491200, 600000000, TM_TIME_FRAC_SHORTEST, "2026-11-01T00:00:00.600Z", 0 },
		{ 1793491200, 1500, TM_TIME_FRAC_SHORTEST, "2026-11-01T00:00:00.000001500Z", 0 },
		{ 1793491200, 1000, TM_TIME_FRAC_SHORTEST, "2026-11-01T00:00:00.000001Z", 0 },
		{ 1793491200, 0, TM_TIME_FRAC_SHORTEST, "2026-11-01T00:00:00Z", 0 },
		{ 1793491200, -1, TM_TIME_FRAC_SHORTEST, "2026-11-01T00:00:00Z", 0 },
		{ 1793491200, 1000000000, TM_TIME_FRAC_SHORTEST, "2026-11-01T00:00:00Z", 0 },
		/* fixed digits truncate: the canonical record keeps milliseconds */
		{ 1793491200, 999999999, 3, "2026-11-01T00:00:00.999Z", 0 },
		{ 1793491200, 0, 3, "2026-11-01T00:00:00.000Z", 0 },
		{ 1793491200, 123456789, 6, "2026-11-01T00:00:00.123456Z", 0 },
		{ 1793491200, 123456789, 9, "2026-11-01T00:00:00.123456789Z", 0 },
		{ 1793491200, 123456789, 0, "2026-11-01T00:00:00Z", 0 },
		{ -1, 0, 0, "1969-12-31T23:59:59Z", 0 },
		{ -62167219200LL, 0, 0, "0000-01-01T00:00:00Z", 0 },
		{ 253402300799LL, 0, 0, "9999-12-31T23:59:59Z", 0 },
		/* what a four-digit year cannot hold comes out as the seconds */
		{ 253402300800LL, 0, 0, "253402300800", -1 },
		{ -62167219201LL, 0, 0, "-62167219201", -1 },
		{ INT64_MAX, 0, 0, "9223372036854775807", -1 },
	};
	return cr_make_param_array(struct fmt, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct fmt *c, time, format)
{
	char buf[TM_TIME_TEXT_MAX];
	cr_assert_eq(tm_time_format_ns(c->sec, c->nsec, c->digits, buf, sizeof(buf)), c->rc,
		     "%lld", (long long)c->sec);
	cr_assert_str_eq(buf, c->out);
	if (c->digits == 0) {
		char b2[TM_TIME_TEXT_MAX];
		cr_assert_eq(tm_time_format(c->sec, b2, sizeof(b2)), c->rc);
		cr_assert_str_eq(b2, c->out);
	}
}

/* A buffer too small for the date holds the seconds (cut as snprintf cuts). */
Test(time, format_small_buffer)
{
	char buf[21];
	cr_assert_eq(tm_time_format(1793491200, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "2026-11-01T00:00:00Z");
	cr_assert_eq(tm_time_format_ns(1793491200, 5000000, 3, buf, sizeof(buf)), -1);
	cr_assert_str_eq(buf, "1793491200");
	char tiny[4];
	cr_assert_eq(tm_time_format(1793491200, tiny, sizeof(tiny)), -1);
	cr_assert_str_eq(tiny, "179");
	cr_assert_eq(tm_time_format(0, tiny, 0), -1);
}

/* What the writer writes, the reader reads back to the same instant. */
Test(time, round_trip)
{
	static const int64_t secs[] = { 0, 951782400, 1709208000, 4102444799, -62167219200LL,
					253402300799LL };
	static const int32_t ns[] = { 0, 1, 1000, 250000000, 999999999 };
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
		for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
			char buf[TM_TIME_TEXT_MAX];
			struct tm_time t;
			struct tm_error err = {0};
			cr_assert_eq(tm_time_format_ns(secs[i], ns[k], TM_TIME_FRAC_SHORTEST, buf,
						       sizeof(buf)), 0);
			cr_assert_eq(tm_time_parse(buf, &t, &err), 0, "%s: %s", buf, err.msg);
			cr_assert_eq(t.sec, secs[i], "%s", buf);
			cr_assert_eq(t.nsec, ns[k], "%s", buf);
		}
}

Test(time, civil_days)
{
	cr_assert_eq(tm_time_days_from_civil(1970, 1, 1), 0);
	cr_assert_eq(tm_time_days_from_civil(2000, 3, 1), 11017);
	for (int64_t z = -800000; z <= 3000000; z += 997) {
		int64_t y;
		int m, d;
		tm_time_civil_from_days(z, &y, &m, &d);
		cr_assert_eq(tm_time_days_from_civil(y, m, d), z, "%lld", (long long)z);
	}
}

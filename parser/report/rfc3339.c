/* telemail — RFC 3339 date-times to UTC (tm_time_to_utc, see
 * telemail/normalize.h): the reader checks a report's times with it, the
 * canonical record writes them with it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/normalize.h>

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int tm_time_to_utc(const char *text, char out[32], int64_t *unix_seconds, struct tm_error *err)
{
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
	int ms = 0, has_frac = 0;
	const char *p = text;
	const char *why = "not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.f](Z|+hh:mm))";

	if (text == NULL)
		return tm_error_set(err, "report.schema", "time: missing");
	if (strnlen(text, 64) >= 64)
		goto bad;
	if (digits(p, 4, &y) < 0 || p[4] != '-' || digits(p + 5, 2, &mo) < 0 || p[7] != '-' ||
	    digits(p + 8, 2, &d) < 0 || p[10] != 'T' || digits(p + 11, 2, &h) < 0 ||
	    p[13] != ':' || digits(p + 14, 2, &mi) < 0 || p[16] != ':' ||
	    digits(p + 17, 2, &s) < 0)
		goto bad;
	p += 19;
	if (*p == '.') {
		int n = 0;
		p++;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 9) {
			why = "the fraction of a second must have 1 to 9 digits";
			goto bad;
		}
		for (int i = 0; i < 3; i++)
			ms = ms * 10 + (i < n ? p[i] - '0' : 0);
		has_frac = 1;
		p += n;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (digits(p + 1, 2, &oh) < 0 || p[3] != ':' || digits(p + 4, 2, &om) < 0)
			goto bad;
		if (oh > 23 || om > 59) {
			why = "the offset is out of range";
			goto bad;
		}
		p += 6;
	} else {
		goto bad;
	}
	if (*p != '\0')
		goto bad;
	if (mo < 1 || mo > 12) {
		why = "month out of range";
		goto bad;
	}
	if (d < 1 || d > days_in_month(y, mo)) {
		why = "day out of range for the month";
		goto bad;
	}
	if (h > 23 || mi > 59 || s > 60) {
		why = "time of day out of range";
		goto bad;
	}
	if (s == 60)
		s = 59; /* a leap second: POSIX time has none */

	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t rem = t - days * 86400;
	int64_t uy;
	int um, ud;
	civil_from_days(days, &uy, &um, &ud);
	if (uy < 0 || uy > 9999) {
		why = "the time in UTC is outside years 0000-9999";
		goto bad;
	}
	if (out != NULL) {
		int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d", (int)uy, um, ud,
				 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
		if (has_frac)
			snprintf(out + n, 32 - (size_t)n, ".%03dZ", ms);
		else
			snprintf(out + n, 32 - (size_t)n, "Z");
	}
	if (unix_seconds != NULL)
		*unix_seconds = t;
	return 0;
bad:
	return tm_error_set(err, "report.schema", "time '%.64s': %s", text, why);
}

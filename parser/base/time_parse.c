/* telemail — the one RFC 3339 reader (telemail/time.h). */
#include <string.h>

#include <telemail/error.h>
#include <telemail/time.h>

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

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int tm_time_parse(const char *text, struct tm_time *out, struct tm_error *err)
{
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0, nd = 0;
	int32_t frac = 0;
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
		p++;
		while (p[nd] >= '0' && p[nd] <= '9')
			nd++;
		if (nd == 0 || nd > 9) {
			why = "the fraction of a second must have 1 to 9 digits";
			goto bad;
		}
		for (int i = 0; i < 9; i++)   /* ".6" is 600000000 ns */
			frac = frac * 10 + (i < nd ? p[i] - '0' : 0);
		p += nd;
	}
	bool zulu = *p == 'Z';
	if (zulu) {
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

	int32_t offset = sign * (oh * 3600 + om * 60);
	int64_t t = tm_time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
	/* the instant in UTC must still be a four-digit year */
	if (t < tm_time_days_from_civil(0, 1, 1) * 86400 ||
	    t >= tm_time_days_from_civil(10000, 1, 1) * 86400) {
		why = "the time in UTC is outside years 0000-9999";
		goto bad;
	}
	if (out != NULL)
		*out = (struct tm_time){ .sec = t, .nsec = frac, .offset = offset,
					 .frac_digits = nd, .zulu = zulu };
	return 0;
bad:
	return tm_error_set(err, "report.schema", "time '%.64s': %s", text, why);
}

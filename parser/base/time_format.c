/* telemail — the one UTC writer (telemail/time.h). */
#include <inttypes.h>
#include <stdio.h>

#include <telemail/time.h>

int tm_time_format_ns(int64_t sec, int32_t nsec, int digits, char *buf, size_t n)
{
	int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	int64_t rem = sec - days * 86400;
	int64_t y;
	int m, d;
	if (n == 0)
		return -1;
	if (nsec < 0 || nsec > 999999999)
		nsec = 0;
	if (digits == TM_TIME_FRAC_SHORTEST)
		digits = nsec == 0 ? 0 : nsec % 1000000 == 0 ? 3 : nsec % 1000 == 0 ? 6 : 9;
	else if (digits != 3 && digits != 6 && digits != 9)
		digits = 0;
	tm_time_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || n < (size_t)(21 + (digits ? digits + 1 : 0))) {
		snprintf(buf, n, "%" PRId64, sec);
		return -1;
	}
	int w = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d, (int)(rem / 3600),
			 (int)(rem / 60 % 60), (int)(rem % 60));
	if (digits == 3)
		snprintf(buf + w, n - (size_t)w, ".%03" PRId32 "Z", nsec / 1000000);
	else if (digits == 6)
		snprintf(buf + w, n - (size_t)w, ".%06" PRId32 "Z", nsec / 1000);
	else if (digits == 9)
		snprintf(buf + w, n - (size_t)w, ".%09" PRId32 "Z", nsec);
	else
		snprintf(buf + w, n - (size_t)w, "Z");
	return 0;
}

int tm_time_format(int64_t sec, char *buf, size_t n)
{
	return tm_time_format_ns(sec, 0, 0, buf, n);
}

/* telemail — RFC 3339 date-times to UTC (tm_time_to_utc, see
 * telemail/normalize.h): the reader checks a report's times with it, the
 * canonical record writes them with it. The grammar and the calendar are
 * telemail/time.h's (parser/base). */
#include <stdint.h>

#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/time.h>

int tm_time_to_utc(const char *text, char out[32], int64_t *unix_seconds, struct tm_error *err)
{
	struct tm_time t;
	if (tm_time_parse(text, &t, err) < 0)
		return -1;
	if (out != NULL)
		tm_time_format_ns(t.sec, t.nsec, t.frac_digits ? 3 : 0, out, 32);
	if (unix_seconds != NULL)
		*unix_seconds = t.sec;
	return 0;
}

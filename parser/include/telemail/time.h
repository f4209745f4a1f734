/* telemail — time as both programs write and read it.
 *
 * One RFC 3339 reader and one UTC writer for the report, the canonical
 * record, the store, the command lines and the agent. A time is Unix seconds
 * (UTC, no leap seconds) plus nanoseconds. What this module promises:
 *   - tm_time_parse reads "YYYY-MM-DDTHH:MM:SS[.f](Z|+hh:mm|-hh:mm)" and
 *     nothing else: 1 to 9 fraction digits, a real calendar day, hour 00-23,
 *     minute 00-59, second 00-60 (a leap second counts as :59, POSIX time has
 *     none), an offset up to ±23:59, and the instant in UTC within years
 *     0000-9999. Errors: report.schema, "time '<text>': <why>".
 *   - tm_time_format writes "YYYY-MM-DDTHH:MM:SSZ" (UTC); a time it cannot
 *     write so (outside years 0000-9999, or a buffer too small for it)
 *     comes out as decimal seconds and the call returns -1.
 * Each function is in a file of its own (parser/base/time_*.c), so that a
 * program linked with --gc-sections keeps only what it calls. */
#ifndef TELEMAIL_TIME_H
#define TELEMAIL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" and its NUL. */
#define TM_TIME_TEXT_MAX 32

struct tm_time {
	int64_t sec;       /* Unix seconds, UTC */
	int32_t nsec;      /* 0 to 999999999 */
	int32_t offset;    /* the offset as written, in seconds east of UTC (0 for Z) */
	int frac_digits;   /* digits of the fraction as written, 0 when none */
	bool zulu;         /* written with Z (not +00:00) */
};

/* Read an RFC 3339 date-time (above). text may be NULL ("time: missing"). */
int tm_time_parse(const char *text, struct tm_time *out, struct tm_error *err);

/* The fraction tm_time_format_ns writes: TM_TIME_FRAC_SHORTEST writes none
 * for nsec 0, else the shortest of 3, 6 or 9 digits that holds nsec exactly;
 * 0, 3, 6 or 9 write that many digits (truncated, never rounded). */
#define TM_TIME_FRAC_SHORTEST (-1)

/* "YYYY-MM-DDTHH:MM:SSZ". Returns 0, or -1 when it wrote the seconds instead. */
int tm_time_format(int64_t sec, char *buf, size_t n);
/* "YYYY-MM-DDTHH:MM:SS[.f]Z" with the fraction chosen by digits (above); an
 * nsec outside 0-999999999 counts as 0. Returns 0 or -1 as tm_time_format. */
int tm_time_format_ns(int64_t sec, int32_t nsec, int digits, char *buf, size_t n);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t tm_time_days_from_civil(int64_t y, int m, int d);
void tm_time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif

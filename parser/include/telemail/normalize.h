/* telemail — normalization of a report to the canonical record (JSON).
 *
 * The canonical record is what the gateway stores and forwards: compact JSON
 * with sorted keys (stable byte for byte), timestamps in UTC
 * ("YYYY-MM-DDTHH:MM:SSZ", fractions kept to milliseconds when present),
 * units named, supply levels turned into a named state plus a number
 * (level_state: "value" | "other" | "unknown" | "some_remaining", and
 * percent when max_capacity > 0), counters keyed by service. The JSON is
 * written by parser/report/json_emit.c, without a JSON library. */
#ifndef TELEMAIL_NORMALIZE_H
#define TELEMAIL_NORMALIZE_H

#include <stdint.h>

struct tm_buf;
struct tm_error;
struct tm_report;

/* Append the canonical JSON record (no trailing newline) to out. */
int tm_report_normalize(const struct tm_report *r, struct tm_buf *out, struct tm_error *err);

/* RFC 3339 (Z or ±hh:mm offset, optional fraction) → UTC "…Z" text and Unix
 * seconds. Errors: report.schema with the bad text in the message. */
int tm_time_to_utc(const char *rfc3339, char out[32], int64_t *unix_seconds,
		   struct tm_error *err);

#endif

/* telemail-mailgw — time zones from the system's tz database, without the process's
 * TZ: a zone is read from its TZif file (RFC 8536) into an object of its
 * own, so that any thread may ask any zone at any time (setenv("TZ") and
 * localtime_r would change the whole process under the other threads).
 *
 * What this module promises:
 * - gw_tz_load reads $TZDIR/NAME, or /usr/share/zoneinfo/NAME (Debian:
 *   tzdata): version 2 and later (64-bit times), with its footer, the POSIX
 *   TZ rule for instants after the last transition in the file ("slim"
 *   files end early and rely on it; its M-month.week.day form is what the
 *   tz database writes). A name is letters, digits and "_+-" in parts
 *   joined by "/", no part starting with "."; anything else, a file that is
 *   missing or not TZif is billing.time_zone with the name in the message.
 * - gw_tz_offset: seconds east of UTC at an instant.
 * - gw_tz_local_to_utc: the instant of a wall-clock time of the zone (given
 *   as the seconds it would be in UTC). In a gap (the hour skipped in
 *   spring) the wall time is read with the offset before the change, so it
 *   falls after the gap; in an overlap (the hour repeated in autumn), the
 *   first of the two instants. Midnights, which billing asks, lie in
 *   neither in the zones of the tz database but a few. */
#ifndef GW_TZFILE_H
#define GW_TZFILE_H

#include <stdint.h>

struct tm_error;
struct gw_tz;

#define GW_TZ_NAME_MAX 64

int gw_tz_load(const char *name, struct gw_tz **out, struct tm_error *err);
void gw_tz_free(struct gw_tz *z);
const char *gw_tz_name(const struct gw_tz *z);
int32_t gw_tz_offset(const struct gw_tz *z, int64_t utc);
int64_t gw_tz_local_to_utc(const struct gw_tz *z, int64_t local);

#endif

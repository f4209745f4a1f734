/* telemail-agent — event detection: compare a fresh snapshot with what was
 * already reported (struct ag_state) and name what changed. */
#ifndef AG_EVENTS_H
#define AG_EVENTS_H

#include <stddef.h>

struct ag_config;
struct ag_state;
struct tm_report;

struct ag_event {
	const char *cause;     /* schema trigger cause: supply_low, supply_empty, … */
	char subject[128];     /* e.g. "supplies/1", an alert code, a condition */
};

/* Fill up to `max` events and update `st` for those (each crossing fires
 * once; a supply re-arms when it rises `hysteresis` points above its
 * threshold). Changes beyond `max` stay pending for the next call. */
size_t ag_events_detect(const struct ag_config *c, struct ag_state *st,
			const struct tm_report *snap, struct ag_event *ev, size_t max);

/* Supply level in percent of max capacity; -1 when not computable
 * (sentinels -1/-2/-3, unknown capacity). */
int ag_supply_percent(int64_t level, int64_t max_capacity, const char *unit);

#endif

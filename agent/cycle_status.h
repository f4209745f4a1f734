/* telemail-agent — what the last collection cycle saw: how many devices are
 * configured and which could not be read, with the reason and since when
 * (issue 14 item 15). Kept in <state_dir>/collector.status after each cycle,
 * listed by `telemail-agent status`, and carried to the gateway as the
 * report's `collector` section (role collector, first report of a cycle). */
#ifndef AG_CYCLE_STATUS_H
#define AG_CYCLE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

struct tm_error;
struct tm_report;
struct ag_config;
struct ag_collected;

#define AG_CYCLE_STATUS_FILE "collector.status"

struct ag_cycle_device {
	char address[AG_SOURCE_MAX];   /* host:port or the snapshot's path */
	char serial[65];               /* "" when not known */
	bool failed;
	char reason[65];               /* failed: the reason code */
	int64_t since;                 /* failed: Unix seconds, first failure of this run */
	char detail[257];              /* failed: printable ASCII, may be "" */
};

struct ag_cycle_status {
	int64_t at;                    /* when the cycle ran (Unix seconds); 0: never */
	size_t n;                      /* devices, in configuration order */
	struct ag_cycle_device *d;
};

void ag_cycle_status_init(struct ag_cycle_status *cs);
void ag_cycle_status_fini(struct ag_cycle_status *cs);

/* Read <state_dir>/collector.status (absent: an empty status, at = 0). */
int ag_cycle_status_load(const char *state_dir, struct ag_cycle_status *cs, struct tm_error *err);
/* Write it (replaced atomically). */
int ag_cycle_status_save(const char *state_dir, const struct ag_cycle_status *cs, struct tm_error *err);

/* Note device i of the configuration: failed with `err` (NULL: read fine),
 * `serial` (may be NULL) when the device told it; `prev` is the status
 * before this cycle (keeps `since` and a serial seen before). */
int ag_cycle_status_note(struct ag_cycle_status *cs, const struct ag_config *cfg, size_t i,
			 const char *serial, const struct tm_error *err,
			 const struct ag_cycle_status *prev, int64_t now);

/* Device i (noted before) failed after all (a serial clash found later). */
void ag_cycle_status_fail(struct ag_cycle_status *cs, size_t i, const struct tm_error *err,
			  const struct ag_cycle_status *prev, int64_t now);

size_t ag_cycle_status_failed(const struct ag_cycle_status *cs);

/* Put the collector section into r (replacing one there): the failed
 * devices sorted by address, at most TM_UNREACHABLE_MAX of them. */
int ag_cycle_status_attach(const struct ag_cycle_status *cs, struct tm_report *r, struct tm_error *err);
/* Take it out again. */
void ag_cycle_status_detach(struct tm_report *r);

#endif

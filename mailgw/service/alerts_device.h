/* telemail-mailgw — internal to alerts.c: what one evaluation knows of its
 * device, its marks and its active alerts.
 *
 * Loaded (gw_alerts_device_load) it holds up to GW_ALERTS_MARKS_MAX marks
 * and GW_ALERTS_ACTIVE_MAX active alerts in memory, answers lookups from
 * there and stays in step with every write, so a later lookup in the same
 * evaluation sees what an earlier step wrote:
 *   - alerts are written at once (their ids and notifications follow in the
 *     order they always did);
 *   - marks are written by gw_alerts_device_flush: the rows that are new or
 *     hold another value, in one multi-row write; a mark that keeps its
 *     value keeps its row (and the seq of the report that set it).
 * Not loaded (the silence check), or past a cap, every lookup and write is
 * one store call, as it always was. Memory that cannot be had also means
 * the store-call path, never an error or a wrong answer. */
#ifndef GW_ALERTS_DEVICE_H
#define GW_ALERTS_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct tm_error;
struct gw_alerts_mark_slot;

struct gw_alerts_device {
	struct gw_store *st;
	const char *serial;               /* borrowed */
	int64_t seq;                      /* the report's: the seq of every mark it writes */
	struct gw_alerts_mark_slot *marks;
	size_t n_marks, cap_marks;
	bool marks_held;                  /* every mark of the device is in marks[] */
	struct gw_alert_row *active;
	size_t n_active, cap_active;
	bool active_held;                 /* every active alert of the device is in active[] */
};

/* Nothing held: every call goes to the store. */
void gw_alerts_device_init(struct gw_alerts_device *d, struct gw_store *st, const char *serial,
			   int64_t seq);
/* Read the device's marks and active alerts (each set only when it fits its cap). */
int gw_alerts_device_load(struct gw_alerts_device *d, struct tm_error *err);
/* The same in two steps, for a caller that reads the device with other
 * reads at once (gw_store_report_reads): the reads' device part set up
 * (rr->device and its callbacks), then, after them, what they held. */
void gw_alerts_device_load_ask(struct gw_alerts_device *d, struct gw_report_reads *rr);
void gw_alerts_device_loaded(struct gw_alerts_device *d, const int stop[2]);
/* Drops what was not flushed. */
void gw_alerts_device_fini(struct gw_alerts_device *d);

/* The mark of `key`: *out points at *buf or at the held copy (valid until
 * the next mark_set or flush), NULL when there is none. */
int gw_alerts_device_mark_get(struct gw_alerts_device *d, const char *key,
			      struct gw_mark_row *buf, const struct gw_mark_row **out,
			      struct tm_error *err);
/* Every mark of the device, held or the store's, as gw_store_mark_list
 * walks them (a callback's non-zero stops the walk). */
int gw_alerts_device_mark_walk(struct gw_alerts_device *d, gw_store_mark_cb cb, void *ctx,
			       struct tm_error *err);
/* Set the mark of `key` (m->seq is the evaluation's seq). */
int gw_alerts_device_mark_set(struct gw_alerts_device *d, const char *key,
			      const struct gw_mark_row *m, struct tm_error *err);
/* Write the marks set since the last flush. */
int gw_alerts_device_flush(struct gw_alerts_device *d, struct tm_error *err);

/* The active alert of (kind, subject), as alert_find_active answers. */
int gw_alerts_device_find(struct gw_alerts_device *d, const char *kind, const char *subject,
			  struct gw_alert_row *out, bool *found, struct tm_error *err);
/* alert_insert (fills a->id) / alert_update / alert_repeat (a found alert
 * counted again: only severity, detail, last_seen, count and report_id
 * differ from the stored row), and keep the held copy in step. */
int gw_alerts_device_insert(struct gw_alerts_device *d, struct gw_alert_row *a,
			    struct tm_error *err);
int gw_alerts_device_update(struct gw_alerts_device *d, const struct gw_alert_row *a,
			    struct tm_error *err);
int gw_alerts_device_repeat(struct gw_alerts_device *d, const struct gw_alert_row *a,
			    struct tm_error *err);

#endif

/* telemail-mailgw — the meter rules billing and the arrival check share
 * (issue 18), besides the step rules of billing.h (backwards, too_fast):
 *
 * Rated speed. too_fast allows a device its model's rated speed (the models
 * file, config/meter_models.h) times billing.speed_margin percent (default
 * 150: duplex, a counter that counts a large sheet twice), plus an hour;
 * a model not in the file, or without ppm, gets GW_BILLING_PPM (200). The
 * flag says which: basis=model or basis=default, and the ppm used.
 *
 * Stuck. A total (total/impressions or total/sheets, or a vendor code the
 * model's map makes one) that stays the same for billing.stuck_after
 * (default 21 days) while the device prints is suspect with rule `stuck`.
 * "Prints": a counter that counts printing (impressions or sheets of
 * total, print, copy or fax; never scan or images, never an unmapped
 * vendor code) rose over the same time; at arrival also the report's
 * status `printing`, or a supply whose level fell (consumption), where
 * the store keeps supply histories. The flagged reading is the first at
 * which the run had lasted stuck_after with such activity; `billing accept`
 * on it settles the whole run (the counter may really not count: a scan
 * station), `exclude` drops that reading and the next one of the run is
 * flagged instead. */
#ifndef GW_METER_RULES_H
#define GW_METER_RULES_H

#include <stdbool.h>
#include <stddef.h>

struct gw_meter_model;

/* The speed too_fast allows a device. */
struct gw_meter_rate {
	unsigned ppm;       /* pages a minute allowed */
	bool model;         /* from the model's rated speed (else the default) */
};

void gw_meter_rate_of(const struct gw_meter_model *m, unsigned margin_percent,
		      struct gw_meter_rate *out);

/* Does a standard counter ("service/name") count printing? */
bool gw_meter_counts_printing(const char *counter);
/* Is it a total the stuck rule watches? */
bool gw_meter_stuck_watched(const char *counter);

/* The standard counter a report's counter is on a model: service/name
 * itself for the standard ones, the map's for a vendor code ("vendor/101"),
 * NULL for an unmapped vendor code. */
const char *gw_meter_meaning(const struct gw_meter_model *m, const char *service,
			     const char *name, char *buf, size_t n);

#endif

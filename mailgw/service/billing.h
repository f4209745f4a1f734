/* telemail-mailgw — meter readings for cost-per-click billing.
 *
 * A reading is one counter value of one stored report (table counters:
 * service + name, or vendor + id), at the report's generated_at. For a
 * period (a calendar month, UTC) and each device and counter:
 *
 *   opening = the last reading at or before the period's start;
 *   closing = the last reading at or before the period's end (the first
 *             instant of the next month);
 *   "at or before" is at full precision: a reading at 00:00:00.600 is after
 *   the boundary 00:00:00 (it closes nothing and opens nothing there);
 *   a period whose end is still in the future (`now` before it) is `open`:
 *   every line says so and closes at the latest reading so far, never
 *   `estimated_closing` (the end has not come);
 *   a boundary reading older than billing.estimate_after (default 2d)
 *   before its boundary is flagged `estimated`; a device with no reading
 *   at or before the start opens with its first reading in the period
 *   (`first_reading`); one with no reading at or before the end is not
 *   billed.
 *   usage = the sum over consecutive readings from opening to closing of
 *   (next - previous); a counter that went backwards to near zero (below a
 *   tenth of what it was) starts a new segment counted from 0 (`reset`),
 *   one that wrapped at 2^31 or 2^32 counts through the wrap (`wrapped`);
 *   a step back that is neither counts as it is (negative) and makes the
 *   line `suspect` (below).
 *
 * Meter validation (issue 18): each step from one reading to the next in
 * the billed range is checked, and the line is flagged `suspect` with the
 * rule the first unsettled step broke and that reading's id
 * ("SERIAL:SEQ:COUNTER"):
 *   backwards  the counter went down, and not to near zero (below a tenth
 *              of what it was: that is a reset, a swapped board) nor
 *              through a wrap;
 *   too_fast   it rose by more than the device could print in the time:
 *              GW_BILLING_PPM pages a minute, plus an hour's allowance.
 * An operator settles a reading (gw_meter_decide in meter_check.h, audited): `accept`
 * counts it as it is, without the flag; `exclude` bills as if it had never
 * been read.
 *
 * Per tenant and counter the usages are summed. README.md "Billing" has a
 * worked example. */
#ifndef GW_BILLING_H
#define GW_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct gw_service_config;
struct gw_tenant_scope;
struct tm_buf;
struct tm_error;

#define GW_BILLING_COUNTER_MAX 96

enum {
	GW_BILL_EST_OPEN = 1 << 0,     /* estimated_opening */
	GW_BILL_EST_CLOSE = 1 << 1,    /* estimated_closing */
	GW_BILL_FIRST = 1 << 2,        /* first_reading */
	GW_BILL_RESET = 1 << 3,        /* reset */
	GW_BILL_WRAPPED = 1 << 4,      /* wrapped */
	GW_BILL_OPEN = 1 << 5,         /* open: the period has not ended yet */
	GW_BILL_SUSPECT = 1 << 6,      /* suspect: a reading broke a rule (suspect_rule) */
};

#define GW_BILLING_PPM 200             /* rated speed when the model's is not known */
#define GW_BILLING_READING_MAX 192     /* "SERIAL:SEQ:COUNTER" */

struct gw_billing_line {
	char tenant[GW_NAME_MAX + 1];
	char serial[GW_NAME_MAX + 1];
	char counter[GW_BILLING_COUNTER_MAX];   /* "total/impressions", "vendor/101" */
	int64_t open_value, open_at;    /* at: Unix seconds, */
	int32_t open_at_nsec;           /* and the reading's fraction */
	int64_t close_value, close_at;
	int32_t close_at_nsec;
	int64_t usage;
	unsigned segments;
	unsigned flags;
	char suspect_rule[16];                        /* backwards | too_fast */
	char suspect_reading[GW_BILLING_READING_MAX]; /* the reading that broke it */
};

struct gw_billing_total {
	char tenant[GW_NAME_MAX + 1];
	char counter[GW_BILLING_COUNTER_MAX];
	int64_t usage;
	size_t devices;
};

struct gw_billing {
	char period[8];         /* YYYY-MM */
	int64_t start, end;     /* Unix seconds, [start, end] boundaries */
	bool open;              /* end is after `now`: closings are the latest so far */
	struct gw_billing_line *lines;   /* by tenant, serial, counter */
	size_t n_lines;
	struct gw_billing_total *totals; /* by tenant, counter */
	size_t n_totals;
};

/* "YYYY-MM" (year 1970..9999) → its boundaries. billing.bad_period. */
int gw_billing_period(const char *text, int64_t *start, int64_t *end, struct tm_error *err);

/* Compute the period for the devices in scope, as of `now` (Unix seconds:
 * a period that ends after it is open). */
int gw_billing_compute(struct gw_store *st, const struct gw_tenant_scope *scope,
		       const char *period, int64_t estimate_after, int64_t now,
		       struct gw_billing *out, struct tm_error *err);
void gw_billing_fini(struct gw_billing *b);

/* The rule a step from reading a to reading b breaks, or NULL. */
const char *gw_billing_check_step(int64_t a_value, int64_t a_at, int64_t b_value, int64_t b_at,
				  unsigned ppm);

/* The CSV of `billing --format csv` and of the fleet page's download: a
 * header line, a `device` line per billing line, a `tenant_total` line per
 * total. Tenant names, serials and counters never hold a comma or a quote
 * (their grammars), so no field needs quoting. 0, or -1 out of memory. */
int gw_billing_csv(const struct gw_billing *b, struct tm_buf *out);

/* The line's flags, and for a suspect one the rule and the reading:
 * "suspect;rule=too_fast;reading=D2:15:total/impressions". */
void gw_billing_line_flags(const struct gw_billing_line *l, char *buf, size_t n);
/* "estimated_opening;reset", "open" etc. ("" when none). */
void gw_billing_flags_text(unsigned flags, char *buf, size_t n);

#endif

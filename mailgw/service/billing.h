/* telemail-mailgw — meter readings for cost-per-click billing.
 *
 * A reading is one counter value of one stored report (table counters:
 * service + name, or vendor + id), at the report's generated_at. For a
 * period (a calendar month in UTC, or the tenant's contract period:
 * billing_period.h) and each device and counter:
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
 *   before its boundary is replaced by an estimate at the boundary, flagged
 *   `estimated_opening` / `estimated_closing`: the reading plus its average
 *   daily volume times the time to the boundary, the average taken over the
 *   readings of the GW_BILLING_AVG_WINDOW before it (usage / time, to the
 *   second, rounded down to whole pages; no earlier reading in the window:
 *   the reading itself). The estimate uses readings at or before the
 *   boundary only, and the next period opens with the same estimate, so a
 *   reading made after a cut-off never changes a closed period: it carries
 *   the difference into the next one (a credit when the device printed
 *   less than its average); a device with no reading
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
 *              its rate (meter_rules.h: the model's rated speed times
 *              billing.speed_margin, else GW_BILLING_PPM) pages a minute,
 *              plus an hour's allowance; the flag names the basis;
 *   stuck      a total stayed the same for billing.stuck_after while the
 *              device printed (meter_rules.h).
 * Vendor meter codes that the device's model maps to a standard counter
 * (config/meter_models.h) are billed as that counter (the flag from=
 * names the code), so that devices of different vendors sum into one
 * total; when the device reports the standard counter itself, that one is
 * billed and the code stays a line of its own (never counted twice).
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
#define GW_BILLING_AVG_WINDOW (90 * 86400)  /* an estimate's average daily volume: over this */
#define GW_BILLING_READING_MAX 192     /* "SERIAL:SEQ:COUNTER" */
#define GW_BILLING_FLAGS_MAX (256 + GW_BILLING_READING_MAX + 96)   /* gw_billing_line_flags */

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
	char suspect_rule[16];                        /* backwards | too_fast | stuck */
	char suspect_reading[GW_BILLING_READING_MAX]; /* the reading that broke it */
	bool suspect_model_rate;                      /* too_fast: basis model (else default) */
	unsigned suspect_ppm;                         /* too_fast: the rate allowed */
	char source[GW_BILLING_COUNTER_MAX];          /* "vendor/108" billed as counter; "" */
	int64_t period_start, period_end;             /* this line's tenant's period */
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
	char basis[96];         /* the viewer's period: "calendar month, UTC", "read day 20, …" */
	struct gw_billing_line *lines;   /* by tenant, serial, counter */
	size_t n_lines;
	struct gw_billing_total *totals; /* by tenant, counter */
	size_t n_totals;
};

/* "YYYY-MM" (year 1970..9999) → its boundaries. billing.bad_period. */
int gw_billing_period(const char *text, int64_t *start, int64_t *end, struct tm_error *err);

/* Compute the period for the devices in scope, as of `now` (Unix seconds:
 * a period that ends after it is open), with the billing section of svc
 * (estimate_after, stuck_after, speed_margin, the models, the periods; NULL:
 * the defaults). start/end of out are the viewer's (scope's first tenant). */
int gw_billing_run(struct gw_store *st, const struct gw_tenant_scope *scope, const char *period,
		   const struct gw_service_config *svc, int64_t now, struct gw_billing *out,
		   struct tm_error *err);
/* The same with the defaults but estimate_after: calendar months, no models
 * file (the fleet page, which keeps no service configuration). */
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

/* The line's flags, and for a suspect one the rule (for too_fast its basis
 * and rate) and the reading, and a mapped code's source:
 * "suspect;rule=too_fast;basis=model;ppm=60;reading=D2:15:total/impressions;from=vendor/101". */
void gw_billing_line_flags(const struct gw_billing_line *l, char *buf, size_t n);
/* "estimated_opening;reset", "open" etc. ("" when none). */
void gw_billing_flags_text(unsigned flags, char *buf, size_t n);

#endif

/* telemail-mailgw — supply forecasting: when a toner runs out, from what the
 * device said about it so far. A pure module: no SQL, no clock, no I/O; it
 * reads an array of points (one per report that carried the supply) and
 * answers with numbers and stable reason words.
 *
 * What it promises:
 *   - The points are ordered by report time (then seq) before anything is
 *     read, so a late or out-of-order report is one more point in its place.
 *   - Cartridges: the history is cut where a cartridge was replaced: the
 *     level rose by at least GW_FC_REPLACE_JUMP points above the lowest level
 *     the cartridge had reported (a shaken cartridge, +3, is the same one), or
 *     the supply's part number changed, or the agent said so (a report that
 *     is its supply_replaced event for the supply), or an earlier reading
 *     of the whole history found a cut there (a point marked `start`). Only the current cartridge's points
 *     feed the level fit; the page counter of the whole history feeds the
 *     pages per day.
 *   - Page counters: a counter that went backwards (a board swap) starts again
 *     from 0, as billing counts it, so cumulative pages never go back.
 *   - Basis "pages": level fitted against cumulative pages (share per page),
 *     times pages per day from the counter, with a weekday/weekend rate when
 *     the history shows one (weekends under GW_FC_WEEKEND_SHARE of weekdays).
 *     Basis "time": level fitted against time, when no page counter came.
 *   - It refuses, with a reason word, when the data cannot carry a forecast:
 *       no_level         no point has a level at all
 *       sentinels_only   only "unknown" (-2) / "some remaining" (-3)
 *       too_few_levels   fewer than two distinct levels on the cartridge
 *       coarse_sensor    every level ever seen is 100, 50 or 0
 *       short_history    the cartridge's levels span less than GW_FC_MIN_SPAN
 *       no_consumption   the level does not go down (or no pages are printed)
 *   - confidence 0..1 (the fit's R², less for few points, a short span or a
 *     stepped sensor) and a word: high (>= 0.8), medium (>= 0.5), low. */
#ifndef GW_FORECAST_H
#define GW_FORECAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_FC_REPLACE_JUMP 20      /* points above the cartridge's lowest level */
#define GW_FC_MIN_SPAN 86400       /* seconds of level history a forecast needs */
#define GW_FC_WEEKEND_SHARE 0.3    /* weekend rate under this share of weekdays: a pattern */
#define GW_FC_RATE_WINDOW (90 * 86400)   /* pages per day: the last 90 days of the counter */
#define GW_FC_LEVEL_UNKNOWN (-2)   /* as RFC 3805 says it */
#define GW_FC_LEVEL_SOME (-3)
#define GW_FC_NO_PAGES INT64_MIN   /* a point without a page counter */

/* One report's word on one supply. */
struct gw_fc_point {
	int64_t at;          /* the report's generated time, Unix seconds */
	int64_t seq;
	int64_t pct;         /* level in percent 0..100, or -1 / -2 / -3 (gw_forecast_pct) */
	int64_t pages;       /* the device's total impressions then; GW_FC_NO_PAGES */
	char part[64];       /* the supply's part number, "" when not reported */
	bool replaced;       /* the agent reported the supply replaced in this report */
	bool start;          /* a cartridge is known to start here (a tail's reading, below) */
};

/* A level in percent of capacity from the report's level, capacity and unit
 * (-3 "some remaining", -2 unknown, -1 no restriction or no capacity). */
int64_t gw_forecast_pct(int64_t level, int64_t max_capacity, const char *unit);

/* One cartridge of the history. */
struct gw_fc_cartridge {
	size_t first, last;        /* point indexes (after sorting), inclusive */
	int64_t key;               /* seq of the first point; 0 for the first cartridge */
	int64_t installed_at;      /* time of its first point */
	int64_t installed_pct;     /* first known level (-1 when none) */
	int64_t last_pct;          /* its lowest known level before it left (-1 none) */
	int64_t replaced_at;       /* time of the next cartridge's first point; 0: current */
	const char *replaced_by;   /* "agent_event" | "level_jump" | "part_number" | "" (current) */
	int64_t pages;             /* pages printed while it was in (-1: no counter) */
};

struct gw_forecast {
	bool ok;
	const char *reason;        /* "" when ok, else a word above */
	const char *basis;         /* "pages" | "time" | "" */
	double level;              /* estimated level at the last point (percent) */
	int64_t last_at;           /* the last point's time */
	int64_t empty_at;          /* expected empty time (Unix seconds) */
	double days_left;          /* from as_of to empty_at, >= 0 */
	double pct_per_page;       /* basis pages */
	double pct_per_day;        /* basis time; pages: the mean over a week */
	double pages_per_day;      /* uniform rate, or the weekday rate with a pattern */
	double weekend_pages_per_day;
	bool weekday_pattern;
	int step;                  /* the sensor's step (gcd of level changes) */
	size_t points;             /* points the level fit used */
	double confidence;
	const char *confidence_word;
	/* what a later reading of the history's tail needs (gw_forecast_run_tail),
	 * filled whether or not there is a forecast */
	int64_t cartridge_key;     /* the current cartridge's key (gw_fc_cartridge) */
	int64_t cartridge_at;      /* its first point's time */
	bool fine_levels;          /* a level other than 0, 50 or 100 was seen */
};

/* Sort points by (at, seq), in place. */
void gw_forecast_sort(struct gw_fc_point *p, size_t n);

/* Cut sorted points into cartridges; at most max written, the count of all
 * returned (the last one is the current cartridge). */
size_t gw_forecast_cartridges(const struct gw_fc_point *p, size_t n, struct gw_fc_cartridge *out,
			      size_t max);

/* Forecast the current cartridge as of `as_of` (Unix seconds; days_left is
 * counted from there). Sorts p. Always fills *out; out->ok says whether
 * there is a forecast, out->reason why not. */
void gw_forecast_run(struct gw_fc_point *p, size_t n, int64_t as_of, struct gw_forecast *out);

/* The same from the history's tail: the points from the current
 * cartridge's first one (marked `start` unless it is the history's first)
 * or from GW_FC_RATE_WINDOW before the newest, whichever is older, with
 * what an earlier reading saw before them (fine_before: a level other than
 * 0, 50 or 100). Answers as gw_forecast_run does on the whole history when
 * the tail holds the current cartridge from its first point: a `start`
 * point begins a cartridge whatever the points before it say (from the
 * tail alone their lowest level is not known), the rates read only the
 * window, and the page counter is read as differences. A report older
 * than the kept cartridge's start may move it: read the whole history then
 * (supply.c). */
void gw_forecast_run_tail(struct gw_fc_point *p, size_t n, bool fine_before, int64_t as_of,
			  struct gw_forecast *out);

#endif

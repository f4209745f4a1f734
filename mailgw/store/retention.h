/* telemail-mailgw — retention (issue 16): records older than
 * `store.retention` months are purged, audited.
 *
 * What it promises:
 * - The cutoff is the first instant (UTC) of the month `months` calendar
 *   months before the current one: with 25 months in December 2026 the
 *   cutoff is 2024-11-01T00:00:00Z, so at least `months` whole months are
 *   always kept beside the current one.
 * - What goes: reports received before the cutoff (by the gateway's clock,
 *   received_at: a device's clock can make a record neither immortal nor
 *   instantly old) with all their rows (JSON, counters, supplies, parts,
 *   alerts, diagnostics, firmware), and message-log rows received before
 *   the cutoff. What stays: the registry, each device's latest supplies and
 *   newest-report facts, service alerts, notifications, orders, the
 *   quarantine (it has its own purge, `quarantine purge`) and the audit
 *   log, which is never purged.
 * - One run is one transaction of at most GW_RETENTION_BATCH reports and as
 *   many message-log rows, with one audit entry (action retention.purge)
 *   naming the cutoff and what it removed; a run that removed nothing is
 *   not audited. gw_retention_purge runs until nothing is left.
 * - SQLite deletes the rows. PostgreSQL (schema version 12) keeps a
 *   partition per month of the reports and their lists and drops those of
 *   every month before the cutoff in the first run, whatever their number
 *   of reports (all counted in that run's entry), then deletes what is left
 *   before the cutoff as SQLite does (store_pg_retention.c). */
#ifndef GW_RETENTION_H
#define GW_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct tm_error;

#define GW_RETENTION_BATCH 5000
#define GW_RETENTION_MAX_MONTHS 1200

/* The cutoff (Unix seconds) of `months` (>= 1) at `now`. */
int64_t gw_retention_cutoff(int months, int64_t now);

struct gw_retention_counts {
	int64_t cutoff;
	int64_t reports;      /* with their rows */
	int64_t messages;     /* message-log rows */
	int runs;             /* transactions (each audited when it removed something) */
};

/* Purge everything older than the cutoff of `months` at `now`, run after
 * run; counts summed. An enum gw_store_rc (store.unsupported when the back
 * end has no purge). */
int gw_retention_purge(struct gw_store *st, int months, int64_t now,
		       struct gw_retention_counts *out, struct tm_error *err);

/* The daemon's line of a purge that removed something ("gw store
 * event=retention before=… reports=… messages=…"), begun in
 * *l; false (nothing begun) when it removed nothing. */
struct tm_logline;
bool gw_retention_log(struct tm_logline *l, const struct gw_retention_counts *k);

#endif

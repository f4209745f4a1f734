/* telemail-mailgw — moving a store into another back end (issue 16):
 * `telemail-mailgw store copy --to CONNINFO`, an SQLite store into an empty
 * PostgreSQL database.
 *
 * What it promises:
 * - Every table the two back ends share, the quarantine included, is
 *   copied row for row with its values as they are: report ids and the
 *   generated ids of reports, alerts and notifications, the audit chain's
 *   rows (so `audit verify` passes on the target with the source's head).
 * - The target must be empty (no row in any of those tables), else
 *   store.not_empty naming the first table that holds rows; its schema is
 *   the caller's (open it migrated).
 * - One transaction on the target: after a failure at any point (the
 *   connection lost, a constraint, a count that does not match) nothing
 *   of the copy is there. Foreign keys are checked at its commit.
 * - Bounded memory: rows are read as a stream and written in batches of at
 *   most GW_COPY_BATCH_ROWS rows or GW_COPY_BATCH_BYTES octets (one
 *   quarantined message may be larger: up to GW_QUARANTINE_MAX_RAW).
 * - Counted: per table the rows in the source (in the snapshot read), the
 *   rows copied and the rows on the target before the commit; any two that
 *   differ fail the copy (store.failed naming the table and the counts).
 *
 * The source is read in one read transaction (a consistent snapshot of the
 * SQLite database; its quarantine is a database of its own, read entry by
 * entry beside it). */
#ifndef GW_STORE_COPY_H
#define GW_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

struct gw_store;
struct gw_quarantine;
struct tm_error;

#define GW_COPY_BATCH_ROWS 256
#define GW_COPY_BATCH_BYTES (4u << 20)
#define GW_COPY_TABLES_MAX 32

struct gw_copy_count {
	const char *table;
	int64_t source;    /* rows in the source */
	int64_t copied;    /* rows read and written */
	int64_t target;    /* rows on the target, counted before the commit */
};

struct gw_copy_result {
	size_t n;
	struct gw_copy_count t[GW_COPY_TABLES_MAX];
};

/* Copy `from` (its quarantine: fromq) into the empty store `to`. An enum
 * gw_store_rc; out holds the counts of the tables done so far. */
int gw_store_copy(struct gw_store *from, struct gw_quarantine *fromq, struct gw_store *to,
		  struct gw_copy_result *out, struct tm_error *err);

#endif

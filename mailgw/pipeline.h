/* telemail-mailgw — the path of one message, from raw bytes to an outcome.
 *
 *   stage 1, gw_pipeline_prepare (any worker thread, CPU-bound):
 *     SHA-256 of the raw message → S/MIME open (MIME limits, decrypt, verify)
 *     → report read (YAML limits, schema v1) → future-timestamp check →
 *     identity binding (registry: fingerprint → role → serials → tenant) →
 *     canonical JSON
 *   stage 2, gw_pipeline_commit (the one writer thread, batched):
 *     one transaction for many items: put (stored / duplicate / conflict),
 *     quarantine (raw kept, reason recorded) or defer, and the message log.
 *
 * Every item ends in exactly one outcome: stored, duplicate,
 * quarantined:<reason> or deferred:<reason>. Stage 1 never writes except
 * for auto-enrollment; stage 2 writes everything of a batch in one
 * transaction, so a crash leaves either all of it or none of it, and
 * replaying the same messages afterwards changes nothing. */
#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "store.h"

struct gw_config;
struct gw_quarantine;
struct tm_keyring;
struct tm_report;
struct tm_trust;

/* Read-only after init; shared by all worker threads. */
struct gw_pipeline {
	const struct gw_config *cfg;
	struct tm_keyring *keys;
	struct tm_trust *trust;
};

/* Load the gateway keys and the trust anchors named by the configuration. */
int gw_pipeline_init(struct gw_pipeline *p, const struct gw_config *cfg, struct tm_error *err);
void gw_pipeline_fini(struct gw_pipeline *p);

/* One message on its way through. */
struct gw_item {
	/* in */
	char source[512];          /* file name or queue id, for output and logs */
	uint8_t *raw;              /* owned */
	size_t len;
	int64_t received_at;       /* Unix seconds */

	/* stage 1 */
	char raw_sha256[GW_SHA256_HEX];
	char message_id[GW_MESSAGE_ID_MAX + 1];
	char serial[GW_NAME_MAX + 1];      /* signer's, then the report's; "" unknown */
	char report_id[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	char fingerprint[GW_SHA256_HEX];
	struct tm_report *report;          /* NULL when stage 1 failed */
	struct tm_buf json;
	struct tm_error err;               /* reason set: stage 1 (or 2) failed */

	/* stage 2 */
	enum gw_outcome outcome;
	char quarantine_id[GW_SHA256_HEX];
	bool done;                         /* an outcome was committed */
};

/* Takes ownership of raw (malloc'd). */
void gw_item_init(struct gw_item *it, const char *source, uint8_t *raw, size_t len,
		  int64_t received_at);
void gw_item_fini(struct gw_item *it);

/* Stage 1. `reader` is this thread's own store handle (registry lookups).
 * Never fails as a call: the item's err says what went wrong. */
void gw_pipeline_prepare(const struct gw_pipeline *p, struct gw_store *reader,
			 struct gw_item *it, int64_t now);

/* Stage 2: commit a batch in one transaction. On GW_STORE_OK every item has
 * its outcome (done = true). On GW_STORE_RETRY the transaction was rolled
 * back and no item is done: try the batch again later (or report them
 * deferred). GW_STORE_ERROR: the same, for a failure a retry will not mend. */
int gw_pipeline_commit(const struct gw_pipeline *p, struct gw_store *st,
		       struct gw_quarantine *q, struct gw_item **items, size_t n, int64_t now,
		       struct tm_error *err);

/* "stored", "duplicate", "quarantined:<reason>", "deferred:<reason>". */
void gw_item_outcome_text(const struct gw_item *it, char *buf, size_t n);

#endif

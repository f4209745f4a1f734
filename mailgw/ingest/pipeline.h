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
 * replaying the same messages afterwards changes nothing. Inside the batch
 * each item is a savepoint of its own: an item that fails alone (not the
 * store as a whole) is undone alone and quarantined with that failure's
 * reason (or, when even that fails, left deferred); the others commit.
 *
 * An over-size message (larger than the reader's limit, or than the
 * quarantine's GW_QUARANTINE_MAX_RAW) is never held whole: its item keeps
 * the first GW_ITEM_KEEP_OVERSIZE octets (raw, len), the SHA-256 and the
 * size of the whole message (raw_sha256, size), and is quarantined under
 * that SHA-256 with the kept octets and the full size. */
#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "store/store.h"

struct gw_config;
struct gw_quarantine;
struct tm_keyring;
struct tm_report;
struct tm_trust;

/* Octets kept of an over-size message (see above). */
#define GW_ITEM_KEEP_OVERSIZE (64u << 10)

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
	uint64_t size;             /* of the whole message: > len when only its
				    * first len octets are held (over-size) */
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
	bool undone;                       /* its commit and quarantine failed
					    * alone (err): not done, deferred */
};

/* Takes ownership of raw (malloc'd; NULL with len 0: none, e.g. unreadable). */
void gw_item_init(struct gw_item *it, const char *source, uint8_t *raw, size_t len,
		  int64_t received_at);
void gw_item_fini(struct gw_item *it);

/* A message file as a new item (malloc'd; NULL when out of memory), its
 * source `source`. A file of up to max octets is read whole; a larger one
 * becomes an over-size item (the first GW_ITEM_KEEP_OVERSIZE octets, the
 * SHA-256 and size of the whole file; err io.too_large: quarantined). A
 * file that cannot be read gives an item whose err says why (io.open,
 * io.read, internal.nomem: deferred). */
struct gw_item *gw_item_read_file(const char *path, const char *source, size_t max,
				  int64_t received_at);

/* Fill raw_sha256 from the octets held when stage 1 did not (an item that
 * came with its err set). */
void gw_item_ensure_sha256(struct gw_item *it);

/* Stage 1. `reader` is this thread's own store handle (registry lookups).
 * Never fails as a call: the item's err says what went wrong. */
void gw_pipeline_prepare(const struct gw_pipeline *p, struct gw_store *reader,
			 struct gw_item *it, int64_t now);

/* Stage 2: commit a batch in one transaction. On GW_STORE_OK every item has
 * its outcome (done = true), except one whose own commit and quarantine
 * both failed (not done, err says why: deferred). On GW_STORE_RETRY the
 * transaction was rolled back and no item is done: try the batch again
 * later (or report them deferred). GW_STORE_ERROR: the same, for a failure
 * of the store a retry will not mend. */
int gw_pipeline_commit(const struct gw_pipeline *p, struct gw_store *st,
		       struct gw_quarantine *q, struct gw_item **items, size_t n, int64_t now,
		       struct tm_error *err);

/* "stored", "duplicate", "quarantined:<reason>", "deferred:<reason>". */
void gw_item_outcome_text(const struct gw_item *it, char *buf, size_t n);

#endif

/* telemail-mailgw — the quarantine area: messages kept aside with their reason.
 *
 * One directory; each quarantined message is two files named by its id (the
 * SHA-256 of the raw message, 64 hex digits, so quarantining the same
 * message again after a crash lands on the same entry):
 *
 *   <id>.eml    the raw message, byte for byte
 *   <id>.json   {"id","reason","detail","message_id","raw_sha256","size",
 *                "received_at","quarantined_at","serial","report_id"}
 *
 * Each file is written to a temporary name, fsync'd, renamed, and the
 * directory fsync'd (in a batch: one flush for all the files' data, the
 * renames, one flush of the directory); the .json is written last and
 * removed first, so an
 * entry exists exactly when its .json does (a lone .eml or temporary file
 * left by a crash is ignored by list and cleaned by purge).
 *
 * The message-log row ("quarantined", reason) is the caller's: the pipeline
 * writes it with gw_store_log after gw_quarantine_put returns.
 *
 * Release is: gw_quarantine_get (raw bytes) → run the pipeline again → when
 * the outcome is not "quarantined", gw_quarantine_remove. (A message that is
 * quarantined again lands on the same id and must stay.)
 *
 * Ids given by a person may be a unique prefix of at least
 * GW_QUARANTINE_MIN_PREFIX hex digits. */
#ifndef GW_QUARANTINE_H
#define GW_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/error.h>

#include "store.h"

struct tm_buf;

#define GW_QUARANTINE_MAX_RAW (32u << 20)    /* bytes of one raw message (io.too_large) */
#define GW_QUARANTINE_MAX_META (64u << 10)   /* bytes of one .json (io.too_large) */
#define GW_QUARANTINE_MAX_ENTRIES 1000000    /* entries one list walks (io.too_large) */
#define GW_QUARANTINE_MIN_PREFIX 8

struct gw_quarantine_meta {
	char id[GW_SHA256_HEX];
	char reason[64];                  /* reason code */
	char detail[TM_ERROR_MSG_MAX];    /* human message */
	char message_id[GW_MESSAGE_ID_MAX + 1];
	char raw_sha256[GW_SHA256_HEX];
	char serial[GW_NAME_MAX + 1];     /* "" when not known (e.g. undecryptable) */
	char report_id[GW_NAME_MAX + 1];  /* "" when not known */
	uint64_t size;
	int64_t received_at;
	int64_t quarantined_at;
};

struct gw_quarantine;

/* Open (creating the directory, mode 0700, when absent). */
int gw_quarantine_open(const char *dir, struct gw_quarantine **out, struct tm_error *err);
void gw_quarantine_close(struct gw_quarantine *q);

/* Batches (the pipeline's commit): between begin and end, put writes its
 * files under temporary names without flushing; end with keep flushes the
 * data of all of them at once (syncfs), renames them (each .eml before its
 * .json) and flushes the directory: two flushes a batch instead of four a
 * message. Until end has returned 0 nothing of the batch is durable, so the
 * caller commits the batch's message-log rows only after it; end without
 * keep (or failing) removes the temporary files. */
void gw_quarantine_batch_begin(struct gw_quarantine *q);
int gw_quarantine_batch_end(struct gw_quarantine *q, bool keep, struct tm_error *err);

/* Keep a message. meta->raw_sha256 (64 lower-case hex, computed by the
 * caller) becomes the id; reason must be a known reason code; id, size and
 * quarantined_at (= now) are filled in. Putting the same message again
 * replaces the entry's metadata (new reason), keeping the first
 * quarantined_at; for the same reason and detail it writes nothing (the
 * entry already holds exactly that). */
int gw_quarantine_put(struct gw_quarantine *q, const uint8_t *raw, size_t len,
		      const struct gw_quarantine_meta *meta, int64_t now, char id_out[GW_SHA256_HEX],
		      struct tm_error *err);

/* Read one entry; raw may be NULL (metadata only). Errors:
 * quarantine.bad_id (malformed, ambiguous prefix), quarantine.not_found. */
int gw_quarantine_get(struct gw_quarantine *q, const char *id, struct gw_quarantine_meta *meta,
		      struct tm_buf *raw, struct tm_error *err);

/* Every entry, in id order. A non-zero callback result stops the walk and is returned. */
typedef int (*gw_quarantine_cb)(void *ctx, const struct gw_quarantine_meta *m);
int gw_quarantine_list(struct gw_quarantine *q, gw_quarantine_cb cb, void *ctx,
		       struct tm_error *err);

int gw_quarantine_remove(struct gw_quarantine *q, const char *id, struct tm_error *err);

/* Remove entries quarantined before `cutoff` (Unix seconds), and crash
 * leftovers (lone .eml, temporary files) last modified before it. */
int gw_quarantine_purge(struct gw_quarantine *q, int64_t cutoff, size_t *removed,
			struct tm_error *err);

#endif

/* telemail-mailgw — the quarantine: messages kept aside with their reason.
 *
 * A part of the store interface: the front is in store.c, and the back end
 * named by the store options decides where the quarantine lives (SQLite:
 * a directory of its own holding quarantine.db, see
 * store/sqlite/store_sqlite_quarantine.c; PostgreSQL: a table). An entry
 * is keyed by its id (the SHA-256 of the raw message, 64 hex digits, so
 * quarantining the same message again after a crash lands on the same
 * entry) and holds the raw message byte for byte and its reason, detail,
 * message_id, serial, report_id, size, received_at and quarantined_at. An
 * over-size message (see pipeline.h) is kept as its first octets only: raw
 * is shorter than size, and the id is the SHA-256 of the whole message;
 * such an entry can be shown but not released.
 *
 * A put is durable when it returns, or in a batch when
 * gw_quarantine_batch_end has returned 0: a batch is one transaction, one
 * flush for all its messages (a file or two per message cost a flush each,
 * and on a file system without a journal the creation of each new file
 * grows slower the more files were recently deleted).
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

#include "store/store.h"

struct tm_buf;

#define GW_QUARANTINE_MAX_RAW (32u << 20)    /* bytes of one raw message (io.too_large) */
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
	uint64_t size;                    /* of the whole message (>= the octets kept) */
	int64_t received_at;
	int64_t quarantined_at;
};

struct gw_quarantine;

/* Open the quarantine of the back end named by o->backend (SQLite: in
 * o->quarantine_dir, creating the directory, mode 0700, when absent;
 * config.bad_value for an unknown back end or an empty directory, io.open
 * when it cannot be opened). */
int gw_quarantine_open(const struct gw_store_options *o, struct gw_quarantine **out,
		       struct tm_error *err);
void gw_quarantine_close(struct gw_quarantine *q);

/* Batches (the pipeline's commit): the puts between begin and end are one
 * transaction; end with keep commits it (one flush), end without keep (or
 * a failing end) rolls it back. The caller commits the batch's message-log
 * rows only after end returned 0. */
void gw_quarantine_batch_begin(struct gw_quarantine *q);
int gw_quarantine_batch_end(struct gw_quarantine *q, bool keep, struct tm_error *err);

/* Keep a message (raw, len: all of it, or the first octets of an over-size
 * one, meta->size then being the whole message's size; a meta->size below
 * len counts as len). meta->raw_sha256 (64 lower-case hex, computed by the
 * caller over the whole message) becomes the id; reason must be a known
 * reason code; id and quarantined_at (= now) are filled in. Putting the same message again
 * replaces the entry's metadata (new reason), keeping the first
 * quarantined_at; for the same reason, detail and octets nothing changes
 * (not even received_at: the entry already holds exactly that). */
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

/* Remove the entries quarantined before `cutoff` (Unix seconds). */
int gw_quarantine_purge(struct gw_quarantine *q, int64_t cutoff, size_t *removed,
			struct tm_error *err);

/* ---- the back end's side (called by store.c only) ----
 * A back end's quarantine: its own state (q), opened from the store
 * options. store.c checks and cleans what comes in (the id's form, the
 * reason code, the size limit, printable metadata); the back end keeps it.
 * put: meta->id is not read, meta->size is already at least len; resolve:
 * a well-formed full id or prefix to the full id (quarantine.not_found,
 * quarantine.bad_id when ambiguous); get: a full id, *found false when
 * there is no such entry; list: at most GW_QUARANTINE_MAX_ENTRIES
 * (io.too_large beyond). */
struct gw_quarantine_ops {
	int (*open)(const struct gw_store_options *o, void **q, struct tm_error *err);
	void (*close)(void *q);   /* rolls back an open batch */
	void (*batch_begin)(void *q);
	int (*batch_end)(void *q, bool keep, struct tm_error *err);
	int (*put)(void *q, const uint8_t *raw, size_t len, const struct gw_quarantine_meta *meta,
		   int64_t now, struct tm_error *err);
	int (*resolve)(void *q, const char *id, char full[GW_SHA256_HEX], struct tm_error *err);
	int (*get)(void *q, const char *id, struct gw_quarantine_meta *meta, struct tm_buf *raw,
		   bool *found, struct tm_error *err);
	int (*list)(void *q, gw_quarantine_cb cb, void *ctx, struct tm_error *err);
	int (*remove)(void *q, const char *id, struct tm_error *err);
	int (*purge)(void *q, int64_t cutoff, size_t *removed, struct tm_error *err);
};

#endif

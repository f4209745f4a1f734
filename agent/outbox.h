/* telemail-agent — the durable outbox.
 *
 * <dir>/queue/<16 hex digits>-<kind>.eml   sealed messages, oldest first
 * <dir>/failed/<name> + <name>.reply       refused with 5xx, kept with the reply
 *                                          (never retried by itself: `outbox retry`)
 * <dir>/tmp/                               items being written
 * <dir>/status                             counters, last success/error, gap
 *
 * An item is written to tmp/, fsync'd, renamed into queue/ and the
 * directory fsync'd before any send is attempted; it leaves queue/ only
 * after the relay answered 2xx (or 5xx: moved to failed/). A crash at any
 * point loses nothing (a message may be sent twice; the gateway dedupes). */
#ifndef AG_OUTBOX_H
#define AG_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct tm_buf;
struct tm_error;

enum ag_item_kind {
	AG_ITEM_EVENT = 'e',
	AG_ITEM_PERIODIC = 'p',
	AG_ITEM_STATUS = 's',
	AG_ITEM_TEST = 't',
};

#define AG_OUTBOX_MAX_ITEM (1u << 20)   /* one sealed message */

struct ag_outbox_item {
	char name[32];
	uint64_t no;
	char kind;
	uint64_t size;
};

struct ag_outbox_status {
	size_t depth;
	uint64_t bytes;
	uint64_t sent;
	uint64_t rejected;       /* moved aside after 5xx */
	uint64_t dropped;        /* given way when the outbox was full (all time) */
	uint64_t gap;            /* dropped since the last report that carried the number */
	int64_t last_success;    /* Unix seconds, 0: never */
	int64_t last_error_at;
	char last_error[256];
	size_t failed;           /* items in failed/ */
	int64_t last_rejected_at; /* the last 5xx, kept apart from transient errors */
	char last_rejected[256];
};

struct ag_outbox;

int ag_outbox_open(const char *dir, size_t max_count, uint64_t max_bytes,
		   struct ag_outbox **out, struct tm_error *err);
void ag_outbox_close(struct ag_outbox *ob);

/* Queue a message durably. When the outbox is full, the oldest periodic /
 * status / test items give way first (counted in the gap); events are kept:
 * when only events fill it, a new non-event item is itself dropped (counted),
 * and a new event fails with outbox.full. *dropped (may be NULL) gets the
 * number dropped by this call. */
int ag_outbox_push(struct ag_outbox *ob, enum ag_item_kind kind, const uint8_t *msg,
		   size_t len, size_t *dropped, struct tm_error *err);
/* Items oldest first (malloc'd array; free it). */
int ag_outbox_list(struct ag_outbox *ob, struct ag_outbox_item **items, size_t *n,
		   struct tm_error *err);
/* Items of failed/ (refused with 5xx), oldest first. */
int ag_outbox_list_failed(struct ag_outbox *ob, struct ag_outbox_item **items, size_t *n,
			  struct tm_error *err);
/* The relay's reply kept beside a failed item ("" when none); 0 or -1. */
int ag_outbox_reply(struct ag_outbox *ob, const struct ag_outbox_item *it, char *out, size_t len);
/* A failed item (ID: its name, with or without .eml) back into queue/ in its
 * place. Errors: outbox.not_found, io.*. */
int ag_outbox_retry(struct ag_outbox *ob, const char *id, struct tm_error *err);
/* Remove an item from queue/ or failed/. Errors: outbox.not_found, io.*. */
int ag_outbox_drop(struct ag_outbox *ob, const char *id, struct tm_error *err);
/* The number the next item will get (items queued from now on are >= it). */
uint64_t ag_outbox_next_no(struct ag_outbox *ob);
int ag_outbox_read(struct ag_outbox *ob, const struct ag_outbox_item *it, struct tm_buf *out,
		   struct tm_error *err);
/* After 2xx. */
int ag_outbox_done(struct ag_outbox *ob, const struct ag_outbox_item *it, struct tm_error *err);
/* After 5xx: moved to failed/ with the relay's reply beside it. */
int ag_outbox_reject(struct ag_outbox *ob, const struct ag_outbox_item *it, const char *reply,
		     struct tm_error *err);
/* Record an attempt that failed for now (4xx, connection, TLS). */
int ag_outbox_note_error(struct ag_outbox *ob, const char *msg, struct tm_error *err);

int ag_outbox_status(struct ag_outbox *ob, struct ag_outbox_status *st, struct tm_error *err);
/* The gap to put in the next report, and after that report is queued,
 * ag_outbox_gap_consume(ob, value) subtracts what it carried. */
uint64_t ag_outbox_gap(struct ag_outbox *ob);
int ag_outbox_gap_consume(struct ag_outbox *ob, uint64_t n, struct tm_error *err);

/* Exponential backoff with full jitter: a delay in [0, min(cap, base·2^attempt)]. */
int64_t ag_backoff_delay(unsigned attempt, int64_t base, int64_t cap, uint32_t rnd);

#endif

/* telemail-mailgw — the durable spool between the SMTP listener and the
 * pipeline.
 *
 *   <dir>/tmp/<segment>      a new segment file being written (discarded at
 *                            the next start: incomplete)
 *   <dir>/new/<segment>      durable: its messages wait for the pipeline
 *   <dir>/damaged/<segment>  found damaged at a start, kept for inspection
 *   <dir>/free/<file>        done segments (at most 64), written over in place
 *                            by later rounds instead of creating and deleting
 *                            files; never read as messages
 *
 * Group commit: one spool thread takes every message submitted since its
 * last round (up to max_batch) and makes them all durable together. Only
 * then does each submitter's callback say so (and only then may the
 * listener answer 250). A failure at any step fails every message of the
 * round. The cost of a round barely depends on how many messages it holds,
 * so concurrent sessions share it. A round goes
 *   - into the log file (segment_size > 0, the daemon's way, when the round
 *     fits into an empty one): a segment file of segment_size octets, made
 *     ready before any round is written into it — a file of free/ (or a new
 *     tmp/<segment>) gets the magic line "TMSPOOL2\n" and zeros up to its
 *     size, is fdatasync'd, renamed into new/<segment>, and new/ is fsync'd.
 *     Each round is then written over the zeros just after the round before
 *     and the file fdatasync'd: ONE flush per round, of the round's octets
 *     only (the file's name, size and blocks are already durable, nothing of
 *     them changes). When a round does not fit any more, the next file is
 *     made ready; the full one goes when all its messages are done. A round
 *     that failed is zeroed again (as far as the disk lets) and its file
 *     takes no more rounds.
 *   - else into a round file of its own ("TMSPOOL1\n"): a file of free/ (or
 *     a new tmp/<segment>) is written, fdatasync'd, renamed into
 *     new/<segment>, and new/ is fsync'd; a failure leaves no file behind.
 *
 * After the magic line, per message a 24-octet frame head (little-endian:
 * u32 length, u32 CRC-32 of the message, i64 arrival time in seconds, u32
 * index in the file, u32 CRC-32 of the head's first 20 octets) and the
 * message's octets; each round ends with an end head (length 0xffffffff,
 * the number of frames so far in place of the CRC, time 0, index = that
 * number, its own head CRC). In a round file what follows the end head is
 * left over from an earlier round of the same file and is never read; a
 * round file without an end head (written before it existed) ends at the
 * last octet. In a log file the next round's frames follow the end head,
 * numbered on, up to zeros (never written) or the end of the file; frames
 * not followed by an end head are a round cut short by a crash (never
 * acknowledged) and are not queued. A message's queue id is
 * "<segment>.<index>"; a segment (file) name is 24 hex digits.
 *
 * Quota: message octets and messages held (committed and being written). A
 * submit beyond it fails at once with spool.full (452): back-pressure.
 * ENOSPC or EDQUOT → spool.no_space (452); any other write/sync/rename
 * error → spool.io (451). Never a success unless durable.
 *
 * The consumer (the pipeline) takes messages in queue order; each is read
 * from its segment and its CRC checked (a mismatch: io.read, the message
 * stays and is retried). A taken message stays until gw_spool_done (its
 * outcome is committed), or goes back with gw_spool_retry (backoff). A
 * segment is removed when all its messages are done; which ones are done is
 * not written down, so after a crash a partly done segment is queued whole
 * again (the pipeline sees those as duplicates).
 *
 * At start: tmp/ is emptied; a file of free/ that is also linked in new/ (a
 * crash on a file system without a journal) leaves free/; every file in
 * new/ is read and every frame verified. A valid segment is queued (a log
 * file that never got a round goes to free/). A truncated or corrupt one
 * (disks lie), or a log file whose last round was cut short, has its valid
 * frames written again as a new segment and queued (those before a
 * truncated or broken frame head and, in a log file, before its last end
 * head; a frame whose head is sound but whose octets fail their CRC is
 * skipped), and moves to damaged/ whole. A segment renamed by hand (its
 * name too long for queue ids) is copied the same way. Nothing in new/ is
 * deleted at start. A file in new/ that does not begin with the magic line
 * (a message dropped there by hand) is one message, its queue id the file
 * name. */
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

#define GW_SPOOL_QID_MAX 32          /* queue id + NUL */
#define GW_SPOOL_MAX_BATCH 1024
#define GW_SPOOL_MAX_MESSAGE (64u << 20)
#define GW_SPOOL_SEGMENT_SIZE (256u << 10) /* the daemon's log files */

/* Test hook: called before each system call the spool makes on the way to
 * durability; a non-zero errno return makes that call fail with it. */
enum gw_spool_op { GW_SPOOL_OP_WRITE, GW_SPOOL_OP_SYNC, GW_SPOOL_OP_RENAME, GW_SPOOL_OP_DIRSYNC };
typedef int (*gw_spool_fault_fn)(void *ctx, enum gw_spool_op op);

struct gw_spool_options {
	const char *dir;            /* created (0700) when absent */
	uint64_t quota_bytes;       /* 0: no limit */
	uint64_t quota_messages;    /* 0: no limit */
	unsigned max_batch;         /* messages per group commit (0: 256) */
	uint64_t segment_size;      /* > 0: rounds go into log files of this many
				     * octets (at most GW_SEG_POOL_FILE_MAX); 0:
				     * every round is a round file */
	int64_t retry_base;         /* seconds before the first retry (0: 5); doubles, at most 1h */
	int64_t store_probe;        /* gw_spool_retry_store: one message waits at most this
				     * many seconds (0: GW_SPOOL_STORE_PROBE) */
	gw_spool_fault_fn fault;    /* NULL in production */
	void *fault_ctx;
};

/* The time of a round (its writes and flushes, from the first write to
 * the last flush; the callbacks are not counted), upper bounds in seconds. */
#define GW_SPOOL_ROUND_BUCKETS 10
extern const double gw_spool_round_bounds[GW_SPOOL_ROUND_BUCKETS];

struct gw_spool_stats {
	uint64_t messages, bytes;   /* held now (committed + being written) */
	uint64_t queued;            /* waiting to be taken */
	uint64_t accepted, failed;  /* submits made durable / refused or failed */
	uint64_t rounds;            /* group commits */
	uint64_t round_buckets[GW_SPOOL_ROUND_BUCKETS + 1];  /* rounds per bucket (not cumulative; the last: over) */
	uint64_t round_ns;          /* the rounds' time, summed (nanoseconds) */
	uint64_t recovered;         /* at open: messages found in new/ and queued */
	uint64_t discarded;         /* at open: incomplete files removed from tmp/ */
	uint64_t damaged;           /* at open: damaged segments moved to damaged/ */
};

struct gw_spool;

/* Open (create) the spool, discard tmp/, queue new/, start the spool thread. */
int gw_spool_open(const struct gw_spool_options *o, struct gw_spool **out, struct tm_error *err);
/* Finish the submits under way, stop the thread, wake the consumers. */
void gw_spool_close(struct gw_spool *sp);

/* Called on the spool thread: qid when durable (err NULL), or the error. */
typedef void (*gw_spool_done_cb)(void *ctx, const char *qid, const struct tm_error *err);

/* Queue a message for durable writing. `data` is borrowed until the
 * callback ran. Returns -1 without calling back on spool.full (quota) or
 * when the spool is closing (spool.io). */
int gw_spool_submit(struct gw_spool *sp, const uint8_t *data, size_t len, gw_spool_done_cb cb,
		    void *ctx, struct tm_error *err);
/* Called on the spool thread once all the callbacks of a round have run
 * (the listener wakes its loop once for them all, not once per message).
 * NULL: none. */
typedef void (*gw_spool_round_fn)(void *ctx);
void gw_spool_on_round(struct gw_spool *sp, gw_spool_round_fn fn, void *ctx);

/* The same, waiting for the result. */
int gw_spool_put(struct gw_spool *sp, const uint8_t *data, size_t len,
		 char qid[GW_SPOOL_QID_MAX], struct tm_error *err);

/* Consumers (any thread). Waits for a queued message: 1 with qid, its bytes
 * (malloc'd: free them) and its arrival time; 0 when stopped. A message that
 * cannot be read or fails its checksum gives 1 with *data NULL and err set
 * (io.open, io.read). */
int gw_spool_take(struct gw_spool *sp, char qid[GW_SPOOL_QID_MAX], uint8_t **data,
		  size_t *len, int64_t *received_at, struct tm_error *err);
/* The outcome is committed: the message is done; its segment file is
 * removed with the last of its messages. */
int gw_spool_done(struct gw_spool *sp, const char *qid, struct tm_error *err);
/* Not this time: queue it again after a backoff (doubling per attempt). */
void gw_spool_retry(struct gw_spool *sp, const char *qid);
/* Not this time, because the store is away: the backoff of gw_spool_retry,
 * but while no other message is due within store_probe seconds this one
 * waits no longer than that. So one message at a time probes the store
 * (not all of them: each try costs the message's decryption again), and
 * when the store is back its final outcome lets the rest go at once
 * (gw_spool_retry_now): a gateway whose every message waits on the store,
 * with no new mail to commit, drains within store_probe of the store's
 * return, not at the end of backoffs grown up to an hour during the
 * outage. */
#define GW_SPOOL_STORE_PROBE 30
void gw_spool_retry_store(struct gw_spool *sp, const char *qid);
/* Whatever waits out a backoff may be taken now, its backoff started over
 * (a failure after it waits the first backoff again): the store is back
 * after an outage, and what it deferred need not wait up to an hour for its
 * turn. */
void gw_spool_retry_now(struct gw_spool *sp);
/* Make gw_spool_take return 0 (now and from now on), e.g. at shutdown. */
void gw_spool_stop_consumers(struct gw_spool *sp);
/* Let consumers take again after a stop (e.g. a configuration reload). */
void gw_spool_resume_consumers(struct gw_spool *sp);

void gw_spool_stats(struct gw_spool *sp, struct gw_spool_stats *st);

/* Count the messages (frames) and their octets in new/, and the incomplete
 * files in tmp/, of a spool directory without opening it (the `status`
 * command; messages already done in a partly done segment still count). */
int gw_spool_scan(const char *dir, uint64_t *messages, uint64_t *bytes, uint64_t *incomplete,
		  struct tm_error *err);

#endif

/* telemail-mailgw — the spool's segment files (internal to the spool).
 *
 * Two layouts (spool.h describes both): a round file (TMSPOOL1), one
 * group-commit round written, flushed and renamed into new/ on its own; and
 * a log file (TMSPOOL2), made ready ahead (zeroed, flushed, renamed into
 * new/, new/ flushed) and then given one round after another, each written
 * over the zeros in place and flushed once. Both are the magic line, then
 * per message a 24-octet frame head and the message's octets, each round
 * closed by an end head. This module writes segments durably, reads them
 * back frame by frame with their checksums, sets a damaged one aside, and
 * counts the messages of a spool directory (gw_spool_scan); spool.c keeps
 * the queue. */
#ifndef GW_SPOOL_SEGMENT_H
#define GW_SPOOL_SEGMENT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

struct tm_error;

#define GW_SEG_MAGIC "TMSPOOL1\n"  /* a round file */
#define GW_SEG_MAGIC2 "TMSPOOL2\n" /* a log file */
#define GW_SEG_MAGIC_LEN 9u
#define GW_SEG_HEAD 24u /* frame head: len, crc, received_at, index, head crc */
#define GW_SEG_END_LEN 0xffffffffu /* the length field of the end head */
#define GW_SEG_NAME_LEN 24 /* hex digits; a queue id adds "." and at most 4 digits */

/* Where one message lies in its file. */
struct gw_seg_frame {
	uint64_t off;         /* of its first octet */
	uint64_t len;
	uint32_t crc;         /* CRC-32 (IEEE 802.3, as zlib's) of its octets */
	int64_t received_at;  /* seconds since the epoch */
};

/* One message for gw_seg_commit (borrowed). */
struct gw_seg_msg {
	const uint8_t *data;
	size_t len;
	int64_t received_at;
};

/* Segment files whose messages are all done wait in <spool>/free/ to be
 * written again, instead of being deleted and created: a file system
 * without a journal looks for a free inode past the recently deleted ones,
 * which costs more the more files were deleted in the last minutes. A
 * pooled file is written over in place, not truncated: its blocks stay
 * allocated, so the data flush of a round that fits in them writes the
 * round's octets and no block map or size (freeing the blocks and
 * allocating them again cost as much as the flush itself). The end head
 * says where the round ends. A file larger than GW_SEG_POOL_FILE_MAX is
 * deleted, not pooled: the pool holds at most GW_SEG_POOL_MAX of them. */
#define GW_SEG_POOL_MAX 64
#define GW_SEG_POOL_FILE_MAX (1u << 20)
struct gw_seg_pool {
	pthread_mutex_t mu;
	size_t n;
	char names[GW_SEG_POOL_MAX][NAME_MAX + 1];
};

/* The spool's directories and its fault hook. */
struct gw_seg_dirs {
	int tmp_fd, new_fd, free_fd;
	struct gw_seg_pool *pool;   /* NULL: segments are created and deleted */
	gw_spool_fault_fn fault;
	void *fault_ctx;
};

/* Take the files of free/ (d->free_fd, open) into a new pool (files beyond
 * GW_SEG_POOL_MAX are removed). */
int gw_seg_pool_open(struct gw_seg_dirs *d, struct tm_error *err);
void gw_seg_pool_close(struct gw_seg_dirs *d);

/* A segment whose messages are all done leaves new/: into the pool while it
 * has room (and the file is at most GW_SEG_POOL_FILE_MAX octets), else
 * deleted. 0, or -1 with errno (ENOENT counts as done). */
int gw_seg_retire(const struct gw_seg_dirs *d, const char *name);

enum gw_seg_kind {
	GW_SEG_RAW,     /* does not start with the magic: one message, the whole file */
	GW_SEG_WHOLE,   /* the magic, then valid frames up to the end head (or the last octet) */
	GW_SEG_DAMAGED, /* the magic, valid frames, then a truncated or corrupt one (or none) */
	GW_SEG_EMPTY,   /* a log file that never got a round: zeros after the magic */
};

uint32_t gw_seg_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Write the messages and the end head into a pooled file of free/ (written
 * over from its first octet, where it lies) or a new file tmp/<name>,
 * fdatasync it, rename it to new/<name> and fsync new/: 0 when durable
 * (frames[i] says where message i lies). On
 * failure no file is left, err says spool.no_space (ENOSPC, EDQUOT),
 * spool.io or internal.nomem. */
int gw_seg_commit(const struct gw_seg_dirs *d, const char *name, const struct gw_seg_msg *m,
		  size_t n, struct gw_seg_frame *frames, struct tm_error *err);

/* A log file open for its next rounds (fd -1: none). */
struct gw_seg_log {
	int fd;
	char name[NAME_MAX + 1];
	uint64_t off;     /* where the next round goes (just after the last end head) */
	uint64_t cap;     /* the file's size */
	uint32_t frames;  /* frames so far: the next one's index */
};

/* Make a log file of `cap` octets ready as new/<name>: a pooled file of
 * free/ (or a new tmp/<name>) gets the magic and zeros up to cap, is
 * fdatasync'd, renamed into new/ and new/ fsync'd; it stays open in *lg.
 * Errors as gw_seg_commit's (no file is left). */
int gw_seg_log_arm(const struct gw_seg_dirs *d, const char *name, uint64_t cap,
		   struct gw_seg_log *lg, struct tm_error *err);

/* Whether a round of n messages of `bytes` octets fits in lg (false when
 * none is open): its frames, its end head, at most GW_SPOOL_MAX_BATCH frames
 * in the file. */
bool gw_seg_log_fits(const struct gw_seg_log *lg, size_t n, uint64_t bytes);

/* One round into lg: the frames and an end head written over the zeros at
 * lg->off, then fdatasync (the file's blocks and size were flushed when it
 * was made ready: this flush carries only the round's octets). 0 when
 * durable (frames[i] says where message i lies). A file no longer linked
 * (removed from new/ by hand) fails the round. On failure the round's
 * octets are zeroed again (as far as the disk lets), lg is closed and err
 * says spool.io (or spool.no_space). */
int gw_seg_log_append(const struct gw_seg_dirs *d, struct gw_seg_log *lg,
		      const struct gw_seg_msg *m, size_t n, struct gw_seg_frame *frames,
		      struct tm_error *err);

/* No more rounds into lg (the file stays in new/). */
void gw_seg_log_close(struct gw_seg_log *lg);

/* Read the frames of a spool file open as fd, `size` octets long. With
 * `verify` each message's CRC is checked too (all octets are read), else only
 * the frame heads. *n and *bytes: the valid frames and their octets; *frames
 * (when not NULL): them, malloc'd. In a round file the end head ends the
 * walk (what follows it is not read); one without an end head ends at
 * `size`. In a log file the walk goes on after each end head and ends at
 * zeros or at `size`; only frames followed by an end head count, and frames
 * after the last end head or any other octets there (a round cut short by a
 * crash, never acknowledged) make it damaged. A truncated or broken head
 * ends the walk (the frames before it are valid); a frame whose head is
 * sound but whose octets fail their CRC is left out and the walk goes on. A
 * read error counts as damage there. Returns the kind, or -1
 * (internal.nomem). */
int gw_seg_load(int fd, uint64_t size, bool verify, struct gw_seg_frame **frames, size_t *n,
		uint64_t *bytes, struct tm_error *err);

/* Read one message's octets (malloc'd, never NULL on success) and, with
 * `check`, verify its CRC: io.read on a short read or a mismatch. */
int gw_seg_read(int fd, const struct gw_seg_frame *f, bool check, const char *qid,
		uint8_t **data, struct tm_error *err);

/* A damaged segment new/<name> (open as fd): its n valid frames are
 * written again as the segment new/<new_name> (new_frames say where), then
 * the file moves to <spool_dir>/damaged/, kept for inspection. */
int gw_seg_rescue(const struct gw_seg_dirs *d, const char *spool_dir, int fd, const char *name,
		  const struct gw_seg_frame *fr, size_t n, const char *new_name,
		  struct gw_seg_frame *new_frames, struct tm_error *err);

#endif

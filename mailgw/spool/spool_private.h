/* telemail-mailgw — the spool's internals, shared by spool.c (the queue,
 * open and recovery, consumers) and spool_commit.c (producers and the
 * group-commit thread). Not for other modules: spool.h is the interface. */
#ifndef GW_SPOOL_INTERNAL_H
#define GW_SPOOL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"
#include "spool/spool_segment.h"

/* A submit on its way to durability. */
struct pending {
	struct pending *next;
	const uint8_t *data;
	size_t len;
	int64_t received_at;
	gw_spool_done_cb cb;
	void *ctx;
	char qid[GW_SPOOL_QID_MAX];
};

/* A durable message known to the queue: one frame of a segment. */
struct entry {
	struct entry *next, *prev; /* in ready or delayed */
	struct entry *hnext;       /* in the index of taken messages */
	struct segment *seg;
	struct gw_seg_frame f;
	char qid[GW_SPOOL_QID_MAX];
	int64_t not_before;
	unsigned attempts;
};

/* A log file that takes rounds: it goes when it takes no more (sealed) and
 * none of its rounds is left. */
struct logfile {
	char name[GW_SPOOL_QID_MAX];
	size_t rounds;               /* rounds with messages not done yet */
	bool sealed;
};

/* A group of messages known to the queue: a file of new/ (a round file, a
 * log file found at start, a raw message) or one round of the log file
 * being written (file != NULL). It goes when its last message is done, and
 * its file with it (a log file: when that was its last round). */
struct segment {
	struct segment *next, *prev; /* every live segment */
	char name[GW_SPOOL_QID_MAX]; /* its file's name */
	bool raw;
	struct logfile *file;        /* NULL: the file is the segment's alone */
	uint32_t first;              /* the index of its first frame in the file */
	size_t n, left;              /* messages, and those not done yet */
	struct entry e[];
};

struct list {
	struct entry *head, *tail;
	size_t n;
};

/* Taken messages by queue id: gw_spool_done and gw_spool_retry find them
 * without a scan. */
struct qid_index {
	struct entry **tab;
	size_t cap, n;
};

struct gw_spool {
	struct gw_spool_options o;
	char *dir;
	struct gw_seg_dirs dirs; /* tmp/ and new/, the fault hook */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;   /* the spool thread waits for submits */
	pthread_cond_t ready_cv;  /* consumers wait for queued messages */
	struct pending *pend_head, *pend_tail;
	struct list ready, delayed;
	int64_t probe_at;               /* a message deferred for the store is due then */
	struct qid_index taken;
	struct segment *segs;
	gw_spool_round_fn round_fn; /* under mu */
	void *round_ctx;
	struct gw_seg_log log;   /* the spool thread's log file (segment_size > 0) */
	struct logfile *logf;    /* its queue side (under mu) */
	bool closing, consumers_stopped;
	uint32_t counter;
	struct gw_spool_stats st;
};

/* The queue of segments (spool_queue.c). Append e to a list of the queue. */
void gw_spool_list_push(struct list *l, struct entry *e);
/* Put a segment on the spool's list of segments. */
void gw_spool_seg_link(struct gw_spool *sp, struct segment *g);
/* A segment of n entries, all to do. */
struct segment *gw_spool_seg_new(size_t n);
/* Queue the messages of a durable segment (under the lock, or at open). */
void gw_spool_seg_queue(struct gw_spool *sp, struct segment *g, const struct gw_seg_frame *fr);
/* A new segment (file) name: 24 hex digits. */
void gw_spool_seg_name(struct gw_spool *sp, char name[GW_SPOOL_QID_MAX]);
/* "<segment>.<index>". */
void gw_spool_qid(char qid[GW_SPOOL_QID_MAX], const char *seg, size_t i);
int64_t gw_spool_now(void);
/* The group-commit thread (spool_commit.c). */
void *gw_spool_thread(void *arg);

#endif

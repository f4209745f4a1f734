/* telemail-mailgw — run many messages through the pipeline with a worker pool
 * and one batching store writer (the `replay` command; the SMTP spool feeds
 * the same machinery).
 *
 *   workers (N threads, each with its own store handle for registry reads)
 *      read file → gw_pipeline_prepare → bounded queue
 *   writer (the calling thread, the one store handle that writes)
 *      takes up to batch_size items (waiting GW_REPLAY_LINGER_MS at most
 *      for a full batch) → gw_pipeline_commit → on_result
 *
 * Memory is bounded: at most queue_cap items are in flight. */
#ifndef GW_REPLAY_H
#define GW_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/pipeline.h"

struct gw_quarantine;

#define GW_REPLAY_MAX_FILE (32u << 20) /* bytes read of one message file */
#define GW_REPLAY_MAX_FILES 10000000   /* files one replay expands to */
#define GW_REPLAY_LINGER_MS 20         /* the writer's wait for a full batch */

struct gw_replay_counts {
	size_t stored, duplicate, quarantined, deferred;
};

/* What the writer's batch commits met (serve's /metrics). Owned by the
 * caller, counted by the writer thread, read from any thread. */
struct gw_replay_commit_stats {
	_Atomic uint64_t committed;          /* batches committed */
	_Atomic uint64_t failed;             /* batches given up (their items deferred) */
	_Atomic uint64_t retry_busy;         /* tries answered RETRY store.busy */
	_Atomic uint64_t retry_unavailable;  /* … store.unavailable */
	_Atomic uint64_t retry_other;        /* … another reason */
};

/* Called on the writer thread for each item once its outcome is known. */
typedef void (*gw_replay_result_cb)(void *ctx, const struct gw_item *it);

struct gw_replay {
	const struct gw_pipeline *pipeline;
	struct gw_store_options store_opts;  /* workers open their own handles with it */
	struct gw_store *writer;             /* the caller's handle; the only one that commits */
	struct gw_quarantine *quarantine;
	unsigned workers;                    /* >= 1 */
	unsigned batch_size;                 /* >= 1 */
	int nice;                            /* > 0: workers and writer run at this niceness */
	gw_replay_result_cb on_result;
	void *ctx;
	struct gw_replay_commit_stats *commit_stats;   /* NULL: not counted */
};

/* Expand files and directories (regular files, names not starting with '.',
 * not ending in .expect; directories sorted, not recursive) into a list. */
int gw_replay_expand(char **paths, size_t n, char ***files_out, size_t *n_out,
		     struct tm_error *err);
void gw_replay_files_free(char **files, size_t n);

/* Where items come from. next() is called from the worker threads at the
 * same time and must be thread-safe: it returns 1 with a new item (malloc'd,
 * gw_item_init'd; an item whose err is set skips stage 1 and is deferred or
 * quarantined by its reason), 0 when the source is exhausted or shutting
 * down (the pool then drains what is in flight and returns), or -1 when it
 * could not make an item (out of memory: err; the source has kept what it
 * was about to hand over, e.g. a spool message goes back to the spool):
 * the workers stop taking, the pool drains what is in flight and the run
 * returns -1 with that err. */
struct gw_source {
	int (*next)(void *ctx, struct gw_item **out, struct tm_error *err);
	void *ctx;
};

/* Run a source through the pipeline; on_result sees every item once, on the
 * writer thread, after its outcome is committed (it->done) or failed to
 * commit (not done: the item must be kept and tried again later). -1 (err)
 * when the pool could not start, or a source's next() failed (after the
 * items in flight got their outcome). */
int gw_replay_run_source(const struct gw_replay *r, const struct gw_source *src,
			 struct gw_replay_counts *counts, struct tm_error *err);

/* Run the files through the pipeline. Returns 0 when every file got an
 * outcome (whatever it was), -1 on a setup failure or when out of memory
 * (err: internal.nomem naming the first file left without an outcome). A
 * file over GW_REPLAY_MAX_FILE is an over-size item (see pipeline.h). */
int gw_replay_run(const struct gw_replay *r, char **files, size_t n,
		  struct gw_replay_counts *counts, struct tm_error *err);

/* One message, synchronously, on the caller's store handle (quarantine
 * release, tests). The item's outcome is filled in. */
int gw_replay_one(const struct gw_replay *r, struct gw_item *it, struct tm_error *err);

#endif

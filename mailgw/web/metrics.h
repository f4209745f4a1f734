/* telemail-mailgw — /metrics: the Prometheus text exposition format
 * (version 0.0.4), with OpenMetrics' naming: units in names (_seconds,
 * _bytes), counters end in _total, every family has # HELP and # TYPE.
 *
 * Two sources: what `serve` counts while it runs (struct gw_web_runtime,
 * absent for the standalone `web` command: those families are then left
 * out) and what the store says now (the message log by outcome and reason,
 * devices by silence, open alerts by kind, the notification queue). The
 * forwarding queue's families come from the store too, one series per
 * configured endpoint (none when forwarding is off). */
#ifndef GW_WEB_METRICS_H
#define GW_WEB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

struct tm_buf;
struct gw_web_source;

/* Pipeline latency (arrival → committed outcome), upper bounds in seconds. */
#define GW_WEB_LATENCY_BUCKETS 10
extern const double gw_web_latency_bounds[GW_WEB_LATENCY_BUCKETS];

struct gw_web_runtime {
	int64_t started;                      /* Unix seconds */
	uint64_t stored, duplicate, quarantined, deferred;
	uint64_t connections, refused_connections, sessions_now;
	uint64_t messages_accepted, messages_refused;
	struct {
		char reason[64];       /* reason code */
		char code[4];          /* its SMTP reply code ("421") */
		uint64_t n;
	} refusals[16];
	size_t n_refusals;
	uint64_t refusals_other;
	struct {
		char command[12];      /* "RCPT", "unknown", "line", "session" ... */
		char reason[64];
		char code[4];
		uint64_t n;
	} cmd_refusals[32];
	size_t n_cmd_refusals;
	uint64_t cmd_refusals_other;
	uint64_t spool_messages, spool_bytes, spool_queued, spool_rounds;
	uint64_t spool_accepted, spool_failed;
	uint64_t round_buckets[GW_SPOOL_ROUND_BUCKETS + 1];   /* per bucket; the last: over */
	double round_sum;                     /* seconds */
	uint64_t batches_committed, batches_failed;           /* the writer's commits */
	uint64_t retry_busy, retry_unavailable, retry_other;  /* its tries answered RETRY */
	uint64_t latency_buckets[GW_WEB_LATENCY_BUCKETS];   /* not cumulative: per bucket */
	uint64_t latency_over;                /* beyond the last bound */
	double latency_sum;                   /* seconds */
};

/* Fill a runtime snapshot (called on the web thread; the provider copies
 * its counters). */
typedef void (*gw_web_runtime_fn)(void *ctx, struct gw_web_runtime *out);

/* Write the exposition. rt NULL: the store's families only. -1 when the
 * store could not be read (what was written so far stays). */
int gw_web_metrics(const struct gw_web_source *src, const struct gw_web_runtime *rt,
		   struct tm_buf *out);

/* The bucket of a latency (seconds): 0..GW_WEB_LATENCY_BUCKETS (the last: over). */
size_t gw_web_latency_bucket(double seconds);

#endif

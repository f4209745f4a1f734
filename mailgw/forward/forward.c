/* telemail-mailgw — the forwarder's queue logic (see forward.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/log.h>

#include "config/config_forward.h"
#include "forward/forward.h"
#include "registry/tenant_scope.h"
#include "service/alerts.h"

_Static_assert(GW_FORWARD_REPORT == (unsigned)GW_FWD_REPORT &&
	       GW_FORWARD_ALERT == (unsigned)GW_FWD_ALERT &&
	       GW_FORWARD_METER == (unsigned)GW_FWD_METER &&
	       GW_FORWARD_ORDER == (unsigned)GW_FWD_ORDER,
	       "config_forward.h's event bits are store.h's enum gw_fwd_kind");

#define FANOUT_MAX 10000   /* outbox events read per fan-out transaction */

int64_t gw_forward_backoff(const struct gw_forward_endpoint *e, int64_t attempts,
			   int64_t retry_after)
{
	int64_t cap = e->backoff;
	for (int64_t i = 1; i < attempts && cap < e->max_backoff; i++)
		cap *= 2;
	if (cap > e->max_backoff)
		cap = e->max_backoff;
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) * 2654435761u;
	/* full jitter, 1..cap: at least a second (a pass also stops once a
	 * retry it set falls due: endpoint_pass) */
	int64_t wait = 1 + (int64_t)(r % (uint64_t)cap);
	return wait < retry_after ? retry_after : wait;
}

/* ---- the endpoint's filter ---- */

struct filter {
	const struct gw_forward_endpoint *e;
	struct gw_tenant_scope scopes[GW_FORWARD_MAX_TENANTS];
	size_t n_scopes;
};

static unsigned want(void *ctx, enum gw_fwd_kind kind, const char *tenant)
{
	const struct filter *f = ctx;
	bool in = f->e->n_tenants == 0;
	for (size_t i = 0; i < f->n_scopes && !in; i++)
		in = gw_tenant_scope_has(&f->scopes[i], tenant);
	if (!in)
		return 0;
	if (kind == GW_FWD_REPORT)
		return f->e->kinds & (GW_FORWARD_REPORT | GW_FORWARD_METER);
	return f->e->kinds & (unsigned)kind;
}

static int filter_load(struct gw_store *st, const struct gw_forward_endpoint *e, struct filter *f,
		       struct tm_error *err)
{
	memset(f, 0, sizeof(*f));
	f->e = e;
	for (size_t i = 0; i < e->n_tenants; i++) {
		struct tm_error e2 = {0};
		if (gw_tenant_scope_load(st, e->tenants[i], &f->scopes[f->n_scopes], &e2) < 0) {
			if (e2.reason != NULL && strcmp(e2.reason, "registry.not_found") == 0)
				continue;   /* not (yet) a tenant: nothing of it to forward */
			*err = e2;
			return -1;
		}
		f->n_scopes++;
	}
	return 0;
}

static void filter_fini(struct filter *f)
{
	for (size_t i = 0; i < f->n_scopes; i++)
		gw_tenant_scope_fini(&f->scopes[i]);
}

/* ---- one endpoint ---- */

static void log_batch(const struct gw_forward_run *r, const struct gw_forward_endpoint *e,
		      const struct gw_fwd_item *items, size_t n, const char *outcome,
		      const struct gw_forward_reply *reply, const struct tm_error *why,
		      int64_t next_in)
{
	if (r->log == NULL)
		return;
	struct tm_logline l;
	tm_log_begin(&l, "gw forward");
	tm_log_add(&l, "endpoint", e->name);
	tm_log_add(&l, "batch", items[0].batch);
	tm_log_addf(&l, "events", "%zu", n);
	tm_log_add(&l, "first", items[0].event_id);
	tm_log_add(&l, "outcome", outcome);
	if (reply != NULL && reply->status != 0)
		tm_log_addf(&l, "status", "%ld", reply->status);
	if (why != NULL) {
		tm_log_add(&l, "reason", why->reason ? why->reason : "?");
		tm_log_add(&l, "detail", why->msg);
	}
	if (next_in >= 0)
		tm_log_addf(&l, "retry_in", "%" PRId64 "s", next_in);
	r->log(r->log_ctx, tm_log_end(&l));
}

static int64_t now_of(const struct gw_forward_run *r)
{
	return r->now != 0 ? r->now : (int64_t)time(NULL);
}

/* One batch claimed and sent; *retry_at is lowered to the time its retry
 * falls due when it failed for now. */
static int one_batch(struct gw_store *st, const struct gw_forward_run *r,
		     const struct gw_forward_endpoint *e, const char *owner, bool *more,
		     int64_t *retry_at, struct gw_forward_counts *c, struct tm_error *err)
{
	struct gw_fwd_item *items = NULL;
	size_t n = 0;
	int64_t now = now_of(r);
	*more = false;
	int rc = gw_store_forward_claim(st, e->name, owner, e->batch_max_events, e->batch_max_bytes,
					now, e->lease, &items, &n, err);
	if (rc != GW_STORE_OK || n == 0)
		return rc;
	*more = true;
	struct tm_buf body;
	tm_buf_init(&body);
	struct gw_forward_reply reply = {0};
	struct tm_error why = {0};
	int sent = gw_forward_encode(items, n, r->cfg->gateway, e->ndjson, &body, &why);
	if (sent == 0)
		sent = gw_forward_post(e, body.data, body.len, e->ndjson, items[0].batch, &reply, &why);
	tm_buf_fini(&body);
	c->batches++;
	now = now_of(r);
	if (sent == 0) {
		rc = gw_store_forward_done(st, e->name, items[0].batch, GW_FWD_SENT, 0, NULL, now, err);
		if (rc == GW_STORE_OK) {
			c->sent += n;
			log_batch(r, e, items, n, "sent", &reply, NULL, -1);
		}
	} else {
		char text[GW_FWD_ERROR_MAX];
		snprintf(text, sizeof(text), "%s: %s", why.reason ? why.reason : "?", why.msg);
		int64_t attempts = items[0].attempts + 1;
		bool permanent = why.reason == NULL || !tm_reason_is_transient(why.reason);
		bool gave_up = e->retries > 0 && attempts >= (int64_t)e->retries;
		if (permanent || gave_up) {
			rc = gw_store_forward_done(st, e->name, items[0].batch, GW_FWD_DEAD, 0, text,
						   now, err);
			if (rc == GW_STORE_OK) {
				c->dead += n;
				log_batch(r, e, items, n, "dead", &reply, &why, -1);
			}
		} else {
			int64_t wait = gw_forward_backoff(e, attempts, reply.retry_after);
			rc = gw_store_forward_done(st, e->name, items[0].batch, GW_FWD_RETRY,
						   now + wait, text, now, err);
			if (rc == GW_STORE_OK) {
				c->retried++;
				if (now + wait < *retry_at)
					*retry_at = now + wait;
				log_batch(r, e, items, n, "retry", &reply, &why, wait);
			}
		}
	}
	gw_fwd_items_free(items, n);
	return rc;
}

static int backlog(struct gw_store *st, const struct gw_forward_run *r,
		   const struct gw_forward_endpoint *e, struct tm_error *err)
{
	struct gw_fwd_stats s;
	int rc = gw_store_forward_stats(st, e->name, &s, err);
	if (rc != GW_STORE_OK)
		return rc;
	int64_t now = now_of(r);
	bool late = s.queued > 0 && (now - s.oldest_queued >= e->backlog_alert ||
				     (e->backlog_alert_events > 0 && s.queued >= e->backlog_alert_events));
	char detail[GW_ALERT_DETAIL_MAX];
	snprintf(detail, sizeof(detail), "%zu events waiting, the oldest for %" PRId64 " s; %.120s",
		 s.queued, s.queued ? now - s.oldest_queued : 0, s.last_error);
	return gw_alerts_gateway_set(st, r->svc, "forward_backlog", e->name, late, detail, now, err);
}

static int endpoint_pass(struct gw_store *st, const struct gw_forward_run *r,
			 const struct gw_forward_endpoint *e, const char *owner,
			 struct gw_forward_counts *c, struct tm_error *err)
{
	struct filter f;
	if (filter_load(st, e, &f, err) < 0)
		return -1;
	int rc = GW_STORE_OK;
	for (int i = 0; i < 1000 && rc == GW_STORE_OK; i++) {
		size_t added = 0;
		rc = gw_store_forward_fanout(st, e->name, want, &f, now_of(r), FANOUT_MAX, &added, err);
		c->queued += added;
		if (added == 0)
			break;
	}
	filter_fini(&f);
	/* a pass never takes a batch it failed again: it ends when the first
	 * retry it set falls due (times are whole seconds, and a send can
	 * take the clock past one) */
	bool more = true;
	int64_t retry_at = INT64_MAX;
	for (size_t b = 0; rc == GW_STORE_OK && more; b++) {
		if ((r->max_batches > 0 && b >= r->max_batches) || (r->stop != NULL && *r->stop) ||
		    now_of(r) >= retry_at)
			break;
		rc = one_batch(st, r, e, owner, &more, &retry_at, c, err);
	}
	if (rc == GW_STORE_OK)
		rc = backlog(st, r, e, err);
	return rc;
}

int gw_forward_run_once(struct gw_store *st, const struct gw_forward_run *r,
			struct gw_forward_counts *counts, struct tm_error *err)
{
	memset(counts, 0, sizeof(*counts));
	if (r->cfg == NULL)
		return 0;
	char owner[320];
	if (r->owner != NULL) {
		snprintf(owner, sizeof(owner), "%s", r->owner);
	} else {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		snprintf(owner, sizeof(owner), "%s:%ld", host, (long)getpid());
	}
	for (size_t i = 0; i < r->cfg->n_endpoints; i++)
		if (endpoint_pass(st, r, &r->cfg->endpoints[i], owner, counts, err) != GW_STORE_OK)
			return -1;
	return 0;
}

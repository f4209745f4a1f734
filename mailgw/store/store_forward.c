/* telemail-mailgw — the store front: the forwarding outbox (issue 17) (see store.h). Each
 * call is passed to the back end; a back end that has not got the op yet
 * answers store.unsupported. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/store.h"
#include "store/store_private.h"

/* ---- forwarding (issue 17) ---- */

static const char *const fwd_kind_names[] = {
	[GW_FWD_REPORT] = "report", [GW_FWD_ALERT] = "alert", [GW_FWD_METER] = "meter",
	[GW_FWD_ORDER] = "supply_order",
};

const char *gw_fwd_kind_name(enum gw_fwd_kind k)
{
	if ((unsigned)k >= sizeof(fwd_kind_names) / sizeof(fwd_kind_names[0]) ||
	    fwd_kind_names[k] == NULL)
		return "?";
	return fwd_kind_names[k];
}

void gw_fwd_items_free(struct gw_fwd_item *items, size_t n)
{
	if (items == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(items[i].data);
	free(items);
}

bool gw_store_forward_enabled(const struct gw_store *st)
{
	return st->forward;
}

int gw_store_forward_add(struct gw_store *st, const struct gw_fwd_event_in *ev, int64_t now,
			 struct tm_error *err)
{
	if (!st->forward)
		return GW_STORE_OK;
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: forward event outside a transaction");
	if ((ev->kind != GW_FWD_REPORT && ev->kind != GW_FWD_ALERT && ev->kind != GW_FWD_ORDER) ||
	    !short_text(ev->event_id, GW_FWD_ID_MAX - 1) || !short_text(ev->tenant, GW_NAME_MAX) ||
	    !short_text(ev->serial, GW_NAME_MAX) || !short_text(ev->time, 39) || ev->data == NULL ||
	    ev->data_len == 0 || ev->data_len > (size_t)0x7fffffff)
		return tm_error_set(err, "internal.bug", "store: bad forward event '%.40s'",
				    ev->event_id != NULL ? ev->event_id : "");
	if (st->ops->fwd_add == NULL)
		return gw_store_unsupported(st, "fwd_add", err);
	return st->ops->fwd_add(st->be, ev, now, err);
}

/* Run one back-end call in a transaction of its own. */
#define IN_TX(st, err, call)                                  \
	do {                                                  \
		int rc_ = gw_store_begin((st), (err));        \
		if (rc_ != GW_STORE_OK)                       \
			return rc_;                           \
		rc_ = (call);                                 \
		if (rc_ == GW_STORE_OK)                       \
			rc_ = gw_store_commit((st), (err));   \
		if (rc_ != GW_STORE_OK)                       \
			gw_store_rollback(st);                \
		return rc_;                                   \
	} while (0)

int gw_store_forward_fanout(struct gw_store *st, const char *endpoint, gw_fwd_filter_cb filter,
			    void *ctx, int64_t now, size_t max, size_t *added, struct tm_error *err)
{
	*added = 0;
	IN_TX(st, err, st->ops->fwd_fanout(st->be, endpoint, filter, ctx, now, max, added, err));
}

int gw_store_forward_claim(struct gw_store *st, const char *endpoint, const char *owner,
			   size_t max_items, size_t max_bytes, int64_t now, int64_t lease,
			   struct gw_fwd_item **out, size_t *n, struct tm_error *err)
{
	*out = NULL;
	*n = 0;
	if (max_items == 0)
		return tm_error_set(err, "internal.bug", "store: claim of 0 items");
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = st->ops->fwd_claim(st->be, endpoint, owner, max_items, max_bytes, now, lease, out, n,
				err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK) {
		gw_store_rollback(st);
		gw_fwd_items_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int gw_store_forward_done(struct gw_store *st, const char *endpoint, const char *batch,
			  enum gw_fwd_fate fate, int64_t next_at, const char *error, int64_t now,
			  struct tm_error *err)
{
	IN_TX(st, err, st->ops->fwd_done(st->be, endpoint, batch, fate, next_at, error, now, err));
}

int gw_store_forward_stats(struct gw_store *st, const char *endpoint, struct gw_fwd_stats *out,
			   struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (st->ops->fwd_stats == NULL)
		return gw_store_unsupported(st, "fwd_stats", err);
	return st->ops->fwd_stats(st->be, endpoint, out, err);
}

int gw_store_forward_dead_list(struct gw_store *st, struct gw_fwd_item **out, size_t *n,
			       struct tm_error *err)
{
	*out = NULL;
	*n = 0;
	if (st->ops->fwd_dead_list == NULL)
		return gw_store_unsupported(st, "fwd_dead_list", err);
	return st->ops->fwd_dead_list(st->be, out, n, err);
}

int gw_store_forward_dead_retry(struct gw_store *st, int64_t id, int64_t now, size_t *changed,
				struct tm_error *err)
{
	*changed = 0;
	IN_TX(st, err, st->ops->fwd_dead_retry(st->be, id, now, changed, err));
}

int gw_store_forward_dead_drop(struct gw_store *st, int64_t id, size_t *changed,
			       struct tm_error *err)
{
	*changed = 0;
	IN_TX(st, err, st->ops->fwd_dead_drop(st->be, id, changed, err));
}

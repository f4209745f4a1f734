/* telemail-mailgw — the store front: what several gateways on one database
 * share out among themselves (issue 16): notification claims, one-at-a-time
 * jobs, the shared state's counts (see store.h). A back end that has not
 * got the op answers store.unsupported. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <telemail/error.h>

#include "store/store.h"
#include "store/store_private.h"

#define OWNER_MAX 255   /* bytes of a claim's owner ("host:pid") */
#define SINGLETON_MAX 64

int gw_store_notify_claim(struct gw_store *st, const char *owner, int64_t now, int64_t lease,
			  size_t max, gw_store_notify_cb cb, void *ctx, struct tm_error *err)
{
	if (!short_text(owner, OWNER_MAX) || lease <= 0 || max == 0)
		return tm_error_set(err, "internal.bug", "store: bad notification claim (owner '%.40s',"
				    " lease %lld, max %zu)", owner != NULL ? owner : "", (long long)lease,
				    max);
	if (st->ops->notify_claim == NULL)
		return gw_store_unsupported(st, "notify_claim", err);
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = st->ops->notify_claim(st->be, owner, now, lease, max, cb, ctx, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

int gw_store_notify_release(struct gw_store *st, const char *owner, struct tm_error *err)
{
	if (!short_text(owner, OWNER_MAX))
		return tm_error_set(err, "internal.bug", "store: release without an owner");
	if (st->ops->notify_release == NULL)
		return gw_store_unsupported(st, "notify_release", err);
	return st->ops->notify_release(st->be, owner, err);
}

int gw_store_try_singleton(struct gw_store *st, const char *name, bool *got,
			   struct tm_error *err)
{
	*got = false;
	if (!short_text(name, SINGLETON_MAX))
		return tm_error_set(err, "internal.bug", "store: a singleton needs a name");
	if (st->in_batch)
		return tm_error_set(err, "internal.bug", "store: singleton %s asked inside a batch",
				    name);
	if (st->ops->try_singleton == NULL)
		return gw_store_unsupported(st, "try_singleton", err);
	return st->ops->try_singleton(st->be, name, got, err);
}

int gw_store_shared_counts(struct gw_store *st, int64_t now, struct gw_store_shared_counts *out,
			   struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (st->ops->shared_counts == NULL)
		return gw_store_unsupported(st, "shared_counts", err);
	return st->ops->shared_counts(st->be, now, out, err);
}

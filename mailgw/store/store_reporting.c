/* telemail-mailgw — the store front: reporting roles (issue 16; see
 * store.h and docs/sql-views.md). A back end without them (SQLite: the
 * views and row-level security are PostgreSQL's) answers store.unsupported. */
#include <stdbool.h>
#include <string.h>

#include <telemail/error.h>

#include "store/store.h"
#include "store/store_private.h"

/* PostgreSQL's names are at most 63 bytes (NAMEDATALEN - 1). */
#define ROLE_MAX 63

static int check_role(const char *role, struct tm_error *err)
{
	if (!short_text(role, ROLE_MAX))
		return tm_error_set(err, "store.no_role", "role '%.80s': want 1 to %d bytes",
				    role != NULL ? role : "", ROLE_MAX);
	return 0;
}

int gw_store_reporting_grant(struct gw_store *st, const char *role, const char *tenant,
			     struct tm_error *err)
{
	if (st->ops->reporting_grant == NULL)
		return gw_store_unsupported(st, "reporting roles (views with row-level security)",
					    err);
	if (check_role(role, err) < 0)
		return GW_STORE_ERROR;
	if (tenant != NULL) {
		struct gw_tenant_row t;
		bool found = false;
		int rc = gw_store_tenant_get(st, tenant, &t, &found, err);
		if (rc != GW_STORE_OK)
			return rc;
		if (!found)
			return tm_error_set(err, "registry.not_found", "tenant '%.64s': not in the "
					    "registry", tenant);
	}
	return st->ops->reporting_grant(st->be, role, tenant, err);
}

int gw_store_reporting_revoke(struct gw_store *st, const char *role, bool *found,
			      struct tm_error *err)
{
	*found = false;
	if (st->ops->reporting_revoke == NULL)
		return gw_store_unsupported(st, "reporting roles (views with row-level security)",
					    err);
	if (check_role(role, err) < 0)
		return GW_STORE_ERROR;
	return st->ops->reporting_revoke(st->be, role, found, err);
}

/* telemail-mailgw — the PostgreSQL back end's reporting roles (issue 16):
 * a login role given the read-only views of docs/sql-views.md, scoped by
 * row-level security to a tenant's subtree (or, an operator's, to every
 * tenant). The grant itself is the schema's function
 * telemail_grant_reporting (migration 9), so that a DBA can run the same
 * SQL by hand. */
#include <string.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

/* A role of the cluster by that name? store.no_role when there is none. */
static int role_exists(struct gw_pg_conn *c, const char *role, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, role);
	PGresult *r;
	int rc = gw_pg_exec(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", &p, &r, "find role",
			    err);
	if (rc != GW_STORE_OK)
		return rc;
	bool found = PQntuples(r) == 1;
	PQclear(r);
	if (!found) {
		tm_error_set(err, "store.no_role",
			     "%s: there is no role '%s': create it first (CREATE ROLE %s LOGIN ...)",
			     c->where, role, role);
		return GW_STORE_ERROR;
	}
	return GW_STORE_OK;
}

int gw_pg_reporting_grant(void *s, const char *role, const char *tenant, struct tm_error *err)
{
	struct gw_pg *g = s;
	int rc = role_exists(&g->c, role, err);
	if (rc != GW_STORE_OK)
		return rc;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, role);
	gw_pg_text(&p, tenant);
	return gw_pg_exec(&g->c, "SELECT telemail_grant_reporting($1, $2)", &p, NULL,
			  "grant reporting", err);
}

int gw_pg_reporting_revoke(void *s, const char *role, bool *found, struct tm_error *err)
{
	struct gw_pg *g = s;
	int rc = role_exists(&g->c, role, err);
	if (rc != GW_STORE_OK)
		return rc;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, role);
	PGresult *r;
	rc = gw_pg_exec(&g->c, "SELECT 1 FROM reporting_logins WHERE role = $1", &p, &r,
			"find reporting role", err);
	if (rc != GW_STORE_OK)
		return rc;
	*found = PQntuples(r) == 1;
	PQclear(r);
	return gw_pg_exec(&g->c, "SELECT telemail_revoke_reporting($1)", &p, NULL,
			  "revoke reporting", err);
}

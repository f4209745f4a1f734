/* telemail-mailgw — the PostgreSQL back end's reporting roles (issue 16):
 * a login role given the read-only views of docs/sql-views.md, scoped by
 * row-level security to a tenant's subtree (or, an operator's, to every
 * tenant). The grant itself is the schema's function
 * telemail_grant_reporting (migrations 9 and 10), so that a DBA can run the
 * same SQL by hand. */
#include <string.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

/* Run one of the schema's functions on an existing role (store.no_role when
 * the cluster has none of that name); *yes: its boolean answer. */
static int call(struct gw_pg_conn *c, const char *sql, int nargs, const char *role,
		const char *tenant, bool *yes, const char *what, struct tm_error *err)
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
	if (nargs == 2)
		gw_pg_text(&p, tenant);
	rc = gw_pg_exec(c, sql, &p, &r, what, err);
	if (rc != GW_STORE_OK)
		return rc;
	*yes = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_reporting_grant(void *s, const char *role, const char *tenant, struct tm_error *err)
{
	struct gw_pg *g = s;
	bool granted;
	return call(&g->c, "SELECT telemail_grant_reporting($1, $2)", 2, role, tenant, &granted,
		    "grant reporting", err);
}

int gw_pg_reporting_revoke(void *s, const char *role, bool *found, struct tm_error *err)
{
	struct gw_pg *g = s;
	return call(&g->c, "SELECT telemail_revoke_reporting($1)", 1, role, NULL, found,
		    "revoke reporting", err);
}

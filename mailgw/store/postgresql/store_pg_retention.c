/* telemail-mailgw — the PostgreSQL back end's retention (issue 16; the
 * rules are store/retention.h's, the statements store/retention_sql.h's,
 * shared with SQLite), in the caller's transaction. */
#include <stdlib.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"
#include "store/retention_sql.h"

int gw_pg_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err)
{
	struct gw_pg *g = s;
	int rc = GW_STORE_OK;
	for (size_t i = 0; rc == GW_STORE_OK && i < GW_RETENTION_N_SQL; i++) {
		struct gw_pg_params p;
		gw_pg_params_init(&p);
		gw_pg_int(&p, (long long)cutoff);
		gw_pg_int(&p, (long long)max);
		PGresult *r;
		rc = gw_pg_exec(&g->c, gw_retention_sql[i], &p, &r, "retention purge", err);
		if (rc != GW_STORE_OK)
			break;
		long long n = strtoll(PQcmdTuples(r), NULL, 10);
		if (i == GW_RETENTION_N_SQL - 2)
			out->reports = n;
		else if (i == GW_RETENTION_N_SQL - 1)
			out->messages = n;
		PQclear(r);
	}
	return rc;
}

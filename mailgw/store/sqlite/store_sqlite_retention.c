/* telemail-mailgw — the SQLite back end's retention (issue 16; the rules
 * are store/retention.h's, the statements store/retention_sql.h's, shared
 * with PostgreSQL), in the caller's transaction. */
#include <telemail/error.h>

#include "store/retention_sql.h"
#include "store/sqlite/store_sqlite.h"

int gw_sq_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err)
{
	struct gw_sq *q = s;
	int rc = GW_STORE_OK;
	for (size_t i = 0; rc == GW_STORE_OK && i < GW_RETENTION_N_SQL; i++) {
		sqlite3_stmt *st = NULL;
		int r = sqlite3_prepare_v2(q->db, gw_retention_sql[i], -1, &st, NULL);
		if (r == SQLITE_OK) {
			sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, "$1"), cutoff);
			sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, "$2"), max);
			r = sqlite3_step(st);
		}
		if (r != SQLITE_DONE)
			rc = gw_sq_fail(q, r, "retention purge", err);
		else if (i == GW_RETENTION_N_SQL - 2)
			out->reports = sqlite3_changes(q->db);
		else if (i == GW_RETENTION_N_SQL - 1)
			out->messages = sqlite3_changes(q->db);
		sqlite3_finalize(st);
	}
	return rc;
}

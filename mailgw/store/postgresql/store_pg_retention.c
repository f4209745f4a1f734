/* telemail-mailgw — the PostgreSQL back end's retention (issue 16; the
 * rules are store/retention.h's): the oldest reports received before the
 * cutoff with their rows, and message-log rows received before it, deleted
 * in the caller's transaction. */
#include <stdlib.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

#define OLD_REPORTS \
	"(SELECT id FROM reports WHERE received_at < $1 ORDER BY received_at, id LIMIT $2)"

/* the report's rows first: they refer to it */
static const char *const deletes[] = {
	"DELETE FROM report_json WHERE report IN " OLD_REPORTS,
	"DELETE FROM counters WHERE report IN " OLD_REPORTS,
	"DELETE FROM supplies WHERE report IN " OLD_REPORTS,
	"DELETE FROM parts WHERE report IN " OLD_REPORTS,
	"DELETE FROM alerts WHERE report IN " OLD_REPORTS,
	"DELETE FROM diagnostics WHERE report IN " OLD_REPORTS,
	"DELETE FROM firmware WHERE report IN " OLD_REPORTS,
	"DELETE FROM reports WHERE id IN " OLD_REPORTS,
	"DELETE FROM message_log WHERE (raw_sha256, message_id) IN (SELECT raw_sha256, "
	"message_id FROM message_log WHERE received_at < $1 ORDER BY received_at LIMIT $2)",
};
#define N_DELETES (sizeof(deletes) / sizeof(deletes[0]))

int gw_pg_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err)
{
	struct gw_pg *g = s;
	int rc = GW_STORE_OK;
	for (size_t i = 0; rc == GW_STORE_OK && i < N_DELETES; i++) {
		struct gw_pg_params p;
		gw_pg_params_init(&p);
		gw_pg_int(&p, (long long)cutoff);
		gw_pg_int(&p, (long long)max);
		PGresult *r;
		rc = gw_pg_exec(&g->c, deletes[i], &p, &r, "retention purge", err);
		if (rc != GW_STORE_OK)
			break;
		long long n = strtoll(PQcmdTuples(r), NULL, 10);
		if (i == N_DELETES - 2)
			out->reports = n;
		else if (i == N_DELETES - 1)
			out->messages = n;
		PQclear(r);
	}
	return rc;
}

/* telemail-mailgw — the SQLite back end's retention (issue 16; the rules
 * are store/retention.h's): the oldest reports received before the cutoff
 * with their rows, and message-log rows received before it, deleted in the
 * caller's transaction. */
#include <telemail/error.h>

#include "store/sqlite/store_sqlite.h"

#define OLD_REPORTS \
	"(SELECT id FROM reports WHERE received_at < ?1 ORDER BY received_at, id LIMIT ?2)"

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
	"message_id FROM message_log WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
};
#define N_DELETES (sizeof(deletes) / sizeof(deletes[0]))

int gw_sq_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err)
{
	struct gw_sq *q = s;
	int rc = GW_STORE_OK;
	for (size_t i = 0; rc == GW_STORE_OK && i < N_DELETES; i++) {
		sqlite3_stmt *st = NULL;
		int r = sqlite3_prepare_v2(q->db, deletes[i], -1, &st, NULL);
		if (r == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, cutoff);
			sqlite3_bind_int64(st, 2, max);
			r = sqlite3_step(st);
		}
		if (r != SQLITE_DONE)
			rc = gw_sq_fail(q, r, "retention purge", err);
		else if (i == N_DELETES - 2)
			out->reports = sqlite3_changes(q->db);
		else if (i == N_DELETES - 1)
			out->messages = sqlite3_changes(q->db);
		sqlite3_finalize(st);
	}
	return rc;
}

/* telemail-mailgw — internal: the statements of a retention run, one list
 * for both back ends (store_sqlite_retention.c, store_pg_retention.c), the
 * same SQL on each: $1 is the cutoff, $2 the most reports or message-log
 * rows one run removes (SQLite reads $1 and $2 as parameters 1 and 2). The
 * report's rows go first, as they refer to it; the last two statements'
 * row counts are the reports and the message-log rows removed. */
#ifndef GW_RETENTION_SQL_H
#define GW_RETENTION_SQL_H

#include <stddef.h>

#define GW_RETENTION_OLD_REPORTS \
	"(SELECT id FROM reports WHERE received_at < $1 ORDER BY received_at, id LIMIT $2)"

static const char *const gw_retention_sql[] = {
	"DELETE FROM report_json WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM counters WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM supplies WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM parts WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM alerts WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM diagnostics WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM firmware WHERE report IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM reports WHERE id IN " GW_RETENTION_OLD_REPORTS,
	"DELETE FROM message_log WHERE (raw_sha256, message_id) IN (SELECT raw_sha256, "
	"message_id FROM message_log WHERE received_at < $1 ORDER BY received_at LIMIT $2)",
};
#define GW_RETENTION_N_SQL (sizeof(gw_retention_sql) / sizeof(gw_retention_sql[0]))

#endif

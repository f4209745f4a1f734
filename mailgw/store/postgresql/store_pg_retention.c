/* telemail-mailgw — the PostgreSQL back end's retention (issue 16; the
 * rules are store/retention.h's), in the caller's transaction.
 *
 * Schema version 12 keeps a partition per month of the reports and their
 * lists (store_pg_partition.c): the months wholly before the cutoff (it is
 * always the first second of a month) go by dropping their partitions, the
 * lists' first, then the reports', and their keys in report_keys; their
 * reports are counted before. The whole months are dropped in one run,
 * whatever max says (a drop costs the same for any number of rows). Then
 * the statements shared with SQLite (store/retention_sql.h) remove, at most
 * max at a time, what is left before the cutoff: reports whose received_at
 * no longer matches their month (changed by hand; their keys go with them,
 * by report_keys_gone) and the message log, which is not partitioned. */
#include <stdio.h>
#include <stdlib.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"
#include "store/retention_sql.h"

/* the partitioned tables, the lists before the reports they belong to */
static const char *const month_tables[] = {
	"report_json", "counters", "supplies", "parts", "alerts", "diagnostics", "firmware",
	"reports",
};
#define N_MONTH_TABLES (sizeof(month_tables) / sizeof(month_tables[0]))

/* Drop month m's partitions (they exist: the catalogue named them);
 * *n: its reports. */
static int drop_month(struct gw_pg *g, int64_t m, int64_t *n, struct tm_error *err)
{
	char sql[256], sfx[48];
	snprintf(sfx, sizeof(sfx), "_%04lld_%02lld", (long long)(m / 12), (long long)(m % 12 + 1));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM reports%s", sfx);
	PGresult *r;
	int rc = gw_pg_exec(&g->c, sql, NULL, &r, "retention: count a month", err);
	if (rc != GW_STORE_OK)
		return rc;
	*n = gw_pg_col_int(r, 0, 0);
	PQclear(r);
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, (long long)(m << GW_PG_MONTH_SHIFT));
	gw_pg_int(&p, (long long)((m + 1) << GW_PG_MONTH_SHIFT));
	rc = gw_pg_exec(&g->c, "DELETE FROM report_keys WHERE id >= $1::bigint AND id < $2::bigint",
			&p, NULL, "retention: a month's keys", err);
	for (size_t i = 0; rc == GW_STORE_OK && i < N_MONTH_TABLES; i++) {
		snprintf(sql, sizeof(sql), "DROP TABLE %s%s", month_tables[i], sfx);
		rc = gw_pg_exec(&g->c, sql, NULL, NULL, "retention: drop a month", err);
	}
	return rc;
}

/* The months before month `before` that have partitions, oldest first,
 * dropped; *n: their reports. */
static int drop_months(struct gw_pg *g, int64_t before, int64_t *n, struct tm_error *err)
{
	*n = 0;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, (long long)before);
	PGresult *r;
	int rc = gw_pg_exec(&g->c,
		"SELECT m FROM (SELECT substr(c.relname, 9, 4)::bigint * 12"
		"  + substr(c.relname, 14, 2)::bigint - 1 AS m"
		"  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
		"  WHERE i.inhparent = 'reports'::regclass"
		"    AND c.relname ~ '^reports_[0-9]{4}_[0-9]{2}$') x"
		" WHERE m < $1::bigint ORDER BY m",
		&p, &r, "retention: old months", err);
	if (rc != GW_STORE_OK)
		return rc;
	int rows = PQntuples(r);
	if (rows > 0) {
		/* in the order a put takes them, so that a put waits for the drop
		 * (and the drop for a put) rather than deadlocking */
		rc = gw_pg_exec(&g->c, "LOCK TABLE report_keys, reports, report_json, counters,"
				" supplies, parts, alerts, diagnostics, firmware IN ACCESS EXCLUSIVE MODE",
				NULL, NULL, "retention: lock the partitioned tables", err);
		/* this connection's known months may name one dropped now */
		gw_pg_months_forget(g);
	}
	for (int i = 0; rc == GW_STORE_OK && i < rows; i++) {
		int64_t k = 0;
		rc = drop_month(g, gw_pg_col_int(r, i, 0), &k, err);
		*n += k;
	}
	PQclear(r);
	return rc;
}

int gw_pg_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err)
{
	struct gw_pg *g = s;
	int64_t dropped = 0;
	int rc = drop_months(g, gw_pg_month_of(cutoff), &dropped, err);
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
			out->reports = dropped + n;
		else if (i == GW_RETENTION_N_SQL - 1)
			out->messages = n;
		PQclear(r);
	}
	return rc;
}

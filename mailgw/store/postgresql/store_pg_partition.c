/* telemail-mailgw — the PostgreSQL back end's monthly partitions (issue 16,
 * schema version 12): a report's month, and the partitions of a month made
 * before the first report of that month is put. Made in the caller's
 * transaction by telemail_month_partitions (store_pg_schema.c), which takes
 * an advisory lock so that two gateways do not make the same month's at
 * once. A connection remembers the last few months it made or saw, so that
 * a put asks the server only at a new month; a rollback forgets them (it
 * may have undone what this transaction made). */
#include <stdio.h>

#include <telemail/error.h>
#include <telemail/time.h>

#include "store/postgresql/store_pg.h"

int64_t gw_pg_month_of(int64_t t)
{
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t y;
	int m, d;
	tm_time_civil_from_days(days, &y, &m, &d);
	return y * 12 + (m - 1);
}

const char *gw_pg_into_month(char buf[GW_PG_INTO_MAX], const char *table, long long rid,
			     const char *rest)
{
	long long m = rid >> GW_PG_MONTH_SHIFT;
	snprintf(buf, GW_PG_INTO_MAX, "INSERT INTO %s_%04lld_%02lld %s", table, m / 12, m % 12 + 1,
		 rest);
	return buf;
}

void gw_pg_months_forget(struct gw_pg *s)
{
	s->n_months = 0;
	s->next_month = 0;
}

int gw_pg_month_ready(struct gw_pg *s, int64_t m, struct tm_error *err)
{
	for (size_t i = 0; i < s->n_months; i++)
		if (s->months[i] == m)
			return GW_STORE_OK;
	if (m < 0 || m >= (INT64_C(1) << (63 - GW_PG_MONTH_SHIFT)) - 1)
		return tm_error_set(err, "store.failed", "%s: received at month %lld: out of the"
				    " range of report ids", s->c.where, (long long)m);
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, (long long)m);
	int rc = gw_pg_exec(&s->c, "SELECT telemail_month_partitions($1::bigint)", &p, NULL,
			    "month partitions", err);
	if (rc != GW_STORE_OK)
		return rc;
	s->months[s->next_month] = m;
	s->next_month = (s->next_month + 1) % GW_PG_MONTHS_KNOWN;
	if (s->n_months < GW_PG_MONTHS_KNOWN)
		s->n_months++;
	return GW_STORE_OK;
}

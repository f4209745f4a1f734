/* telemail-mailgw — retention: the cutoff, the runs, their audit entries
 * (see retention.h). The back end removes the rows (ops->retention_purge). */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/log.h>
#include <telemail/time.h>

#include "store/audit.h"
#include "store/retention.h"
#include "store/store_private.h"

int64_t gw_retention_cutoff(int months, int64_t now)
{
	int64_t days = now >= 0 ? now / 86400 : -((-now + 86399) / 86400);
	int64_t y;
	int m, d;
	tm_time_civil_from_days(days, &y, &m, &d);
	int64_t index = y * 12 + (m - 1) - months;   /* months since year 0 */
	int64_t cy = index >= 0 ? index / 12 : -((-index + 11) / 12);
	int cm = (int)(index - cy * 12) + 1;
	return tm_time_days_from_civil(cy, cm, 1) * 86400;
}

/* One transaction: at most GW_RETENTION_BATCH of each, and its audit entry. */
static int run_once(struct gw_store *st, int months, int64_t cutoff, int64_t now,
		    struct gw_retention_removed *rm, struct tm_error *err)
{
	memset(rm, 0, sizeof(*rm));
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = st->ops->retention_purge(st->be, cutoff, GW_RETENTION_BATCH, rm, err);
	if (rc == GW_STORE_OK && rm->reports + rm->messages > 0) {
		char at[TM_TIME_TEXT_MAX], object[160];
		tm_time_format(cutoff, at, sizeof(at));
		snprintf(object, sizeof(object),
			 "retention %d month%s: before %s: %lld reports, %lld message-log rows",
			 months, months == 1 ? "" : "s", at, (long long)rm->reports, (long long)rm->messages);
		rc = gw_audit_append(st, NULL, "retention.purge", object, NULL, NULL, NULL, now,
				     err);
	}
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

int gw_retention_purge(struct gw_store *st, int months, int64_t now,
		       struct gw_retention_counts *out, struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (st->ops->retention_purge == NULL)
		return gw_store_unsupported(st, "retention purge", err);
	if (months < 1 || months > GW_RETENTION_MAX_MONTHS)
		return tm_error_set(err, "config.bad_value",
				    "store.retention: %d months: want 1 to %d", months,
				    GW_RETENTION_MAX_MONTHS);
	out->cutoff = gw_retention_cutoff(months, now);
	for (;;) {
		struct gw_retention_removed rm;
		int rc = run_once(st, months, out->cutoff, now, &rm, err);
		if (rc != GW_STORE_OK)
			return rc;
		out->runs++;
		out->reports += rm.reports;
		out->messages += rm.messages;
		if (rm.reports < GW_RETENTION_BATCH && rm.messages < GW_RETENTION_BATCH)
			return GW_STORE_OK;
	}
}

bool gw_retention_log(struct tm_logline *l, const struct gw_retention_counts *k)
{
	if (k->reports + k->messages == 0)
		return false;
	char cut[TM_TIME_TEXT_MAX];
	tm_time_format(k->cutoff, cut, sizeof(cut));
	tm_log_begin(l, "gw store");
	tm_log_add(l, "event", "retention");
	tm_log_add(l, "before", cut);
	tm_log_addf(l, "reports", "%lld", (long long)k->reports);
	tm_log_addf(l, "messages", "%lld", (long long)k->messages);
	return true;
}

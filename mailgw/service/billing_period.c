/* telemail-mailgw — billing periods (see billing_period.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/time.h>

#include "service/billing_period.h"
#include "config/config_service.h"
#include "config/tzfile.h"

#define TREE_DEPTH_MAX 64   /* a tenant tree deeper than this is a loop: stop */

int gw_billing_month(const char *text, int *year, int *month, struct tm_error *err)
{
	const char *t = text != NULL ? text : "";
	bool ok = strlen(t) == 7 && t[4] == '-';
	for (int i = 0; i < 7 && ok; i++)
		if (i != 4 && (t[i] < '0' || t[i] > '9'))
			ok = false;
	int y = 0, m = 0;
	if (ok) {
		y = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
		m = (t[5] - '0') * 10 + (t[6] - '0');
		ok = y >= 1970 && m >= 1 && m <= 12;
	}
	if (!ok)
		return tm_error_set(err, "billing.bad_period",
				    "--period '%.40s': want a month as YYYY-MM (e.g. 2026-10)", t);
	*year = y;
	*month = m;
	return 0;
}

/* 00:00 of day d of y-m on the rule's wall clock. */
static int64_t read_day_at(const struct gw_billing_period_rule *rule, int y, int m, int d)
{
	int64_t local = tm_time_days_from_civil(y, m, d) * 86400;
	return rule != NULL && rule->tz != NULL ? gw_tz_local_to_utc(rule->tz, local) : local;
}

void gw_billing_window(const struct gw_billing_period_rule *rule, int year, int month,
		       int64_t *start, int64_t *end)
{
	if (rule == NULL) {   /* the calendar month: from its 1st to the next one's */
		*start = read_day_at(NULL, year, month, 1);
		*end = read_day_at(NULL, month == 12 ? year + 1 : year, month % 12 + 1, 1);
		return;
	}
	int d = (int)rule->read_day;
	*start = read_day_at(rule, month == 1 ? year - 1 : year, month == 1 ? 12 : month - 1, d);
	*end = read_day_at(rule, year, month, d);
}

const struct gw_billing_period_rule *gw_billing_rule_for(const struct gw_service_config *svc,
							 const struct gw_tenant_row *tenants,
							 size_t n_tenants, const char *tenant)
{
	if (svc == NULL || svc->n_periods == 0)
		return NULL;
	const char *t = tenant;
	for (int depth = 0; t != NULL && t[0] != '\0' && depth < TREE_DEPTH_MAX; depth++) {
		for (size_t i = 0; i < svc->n_periods; i++)
			if (strcmp(svc->periods[i].tenant, t) == 0)
				return &svc->periods[i];
		const char *parent = NULL;
		for (size_t i = 0; i < n_tenants && parent == NULL; i++)
			if (strcmp(tenants[i].name, t) == 0)
				parent = tenants[i].parent;
		t = parent;
	}
	return NULL;
}

void gw_billing_rule_text(const struct gw_billing_period_rule *rule, char *buf, size_t n)
{
	if (rule == NULL)
		snprintf(buf, n, "calendar month, UTC");
	else
		snprintf(buf, n, "read day %lld, %s", (long long)rule->read_day,
			 rule->time_zone != NULL ? rule->time_zone : "UTC");
}

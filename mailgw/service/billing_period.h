/* telemail-mailgw — billing periods (issue 18): which instants a month's
 * bill runs between, for a tenant.
 *
 * Without a rule a period is a calendar month in UTC: 2026-11 runs from
 * 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z. A tenant's contract
 * (billing.periods: read_day D, time_zone Z) makes period YYYY-MM the one
 * that ends on that month's read day: from 00:00 of day D of the month
 * before to 00:00 of day D of YYYY-MM, wall-clock time in Z (read_day 1 in
 * UTC is the calendar month). A tenant without an entry takes its nearest
 * ancestor's; the root's default is the calendar month. Midnight in Z is
 * found from the tz database's file for Z (config/tzfile.h), not from the
 * process's TZ, so a DST change between the two read days makes the period
 * an hour shorter or longer, as the wall clock says. */
#ifndef GW_BILLING_PERIOD_H
#define GW_BILLING_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct gw_billing_period_rule;
struct gw_service_config;
struct tm_error;

/* "YYYY-MM" (year 1970..9999) → year and month. billing.bad_period. */
int gw_billing_month(const char *text, int *year, int *month, struct tm_error *err);

/* The boundaries of month y-m under rule (NULL: the calendar month, UTC). */
void gw_billing_window(const struct gw_billing_period_rule *rule, int year, int month,
		       int64_t *start, int64_t *end);

/* The rule of tenant: its own entry, else its nearest ancestor's (parents:
 * the tenant tree, as gw_store_tenant_list gives it), else NULL. */
const struct gw_billing_period_rule *gw_billing_rule_for(const struct gw_service_config *svc,
							 const struct gw_tenant_row *tenants,
							 size_t n_tenants, const char *tenant);

/* "calendar month, UTC" or "read day 20, Europe/Berlin" */
void gw_billing_rule_text(const struct gw_billing_period_rule *rule, char *buf, size_t n);

#endif

/* telemail-mailgw — billing on the fleet page: a month per tenant with its
 * flags (service/billing.c computes it, as `billing` does), and the same
 * as CSV. ?period=YYYY-MM (default: this month) &tenant=T (default: the
 * viewer's tenant; a tenant outside the scope is 404). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <telemail/error.h>

#include "registry/tenant_scope.h"
#include "service/billing.h"
#include "store/store.h"
#include "web/html.h"
#include "web/page_private.h"

int gw_page_billing(const struct gw_web_source *src, const struct gw_web_request *rq,
		    bool csv, struct gw_web_response *rs)
{
	struct gw_tenant_scope viewer_scope, scope;
	if (!gw_page_scope(src, rq, rs, &viewer_scope))
		return rs->status;
	const char *tenant = gw_web_param(rq, "tenant"), *period = gw_web_param(rq, "period");
	if (tenant == NULL || tenant[0] == '\0')
		tenant = rq->viewer.tenant;
	bool visible = gw_tenant_scope_has(&viewer_scope, tenant);
	gw_tenant_scope_fini(&viewer_scope);
	if (!visible)
		return gw_page_error(rs, rq, 404, "no such tenant");
	char month[8];
	if (period == NULL || period[0] == '\0') {
		time_t now = (time_t)src->now;
		struct tm tmv;
		gmtime_r(&now, &tmv);
		strftime(month, sizeof(month), "%Y-%m", &tmv);
		period = month;
	}
	struct tm_error err = {0};
	int64_t start, end;
	if (gw_billing_period(period, &start, &end, &err) < 0)
		return gw_page_error(rs, rq, 400, err.msg);
	struct gw_billing bill;
	memset(&bill, 0, sizeof(bill));
	if (gw_tenant_scope_load(src->st, tenant, &scope, &err) < 0)
		return gw_page_error(rs, rq, 404, "no such tenant");
	int rc = gw_billing_compute(src->st, &scope, period, src->estimate_after, src->now,
				    &bill, &err);
	gw_tenant_scope_fini(&scope);
	if (rc < 0)
		return gw_page_error(rs, rq, 500, "billing could not be computed");
	struct tm_buf *b = &rs->body;
	if (csv) {
		rs->status = 200;
		rs->content_type = "text/csv; charset=utf-8";
		snprintf(rs->disposition, sizeof(rs->disposition),
			 "attachment; filename=\"billing-%s-%s.csv\"", tenant, bill.period);
		if (gw_billing_csv(&bill, b) < 0)
			rs->status = 500;
		gw_billing_fini(&bill);
		return rs->status;
	}
	char title[96];
	snprintf(title, sizeof(title), "Billing %s", bill.period);
	gw_page_begin(rs, rq, title);
	tm_buf_append_str(b, "<form class=\"filter\" method=\"get\" action=\"/billing\">"
			  "<label>Tenant <input name=\"tenant\" size=\"12\" value=\"");
	gw_html_text(b, tenant);
	tm_buf_append_str(b, "\"></label><label>Month <input name=\"period\" size=\"7\" value=\"");
	gw_html_text(b, bill.period);
	tm_buf_append_str(b, "\"></label><button type=\"submit\">Show</button> <a href=\"/billing.csv?tenant=");
	gw_html_url(b, tenant);
	tm_buf_append_str(b, "&amp;period=");
	gw_html_url(b, bill.period);
	tm_buf_append_str(b, "\" id=\"csv\">CSV</a></form>\n");
	if (bill.open)
		tm_buf_append_str(b, "<p id=\"open\">This month is open: it closes at the latest "
				  "reading so far.</p>\n");
	tm_buf_append_str(b, "<h2>Totals</h2><table id=\"totals\"><thead><tr><th>Tenant</th>"
			  "<th>Counter</th><th>Usage</th><th>Devices</th></tr></thead><tbody>");
	for (size_t i = 0; i < bill.n_totals; i++) {
		const struct gw_billing_total *t = &bill.totals[i];
		tm_buf_append_str(b, "<tr><td>");
		gw_html_text(b, t->tenant);
		tm_buf_append_str(b, "</td><td>");
		gw_html_text(b, t->counter);
		tm_buf_printf(b, "</td><td class=\"num usage\">%lld</td><td class=\"num\">%zu</td></tr>",
			      (long long)t->usage, t->devices);
	}
	tm_buf_append_str(b, "</tbody></table>\n<h2>Devices</h2><table id=\"lines\"><thead><tr>"
			  "<th>Tenant</th><th>Serial</th><th>Counter</th><th>Opening</th>"
			  "<th>Closing</th><th>Usage</th><th>Flags</th></tr></thead><tbody>");
	for (size_t i = 0; i < bill.n_lines; i++) {
		const struct gw_billing_line *l = &bill.lines[i];
		char flags[128];
		gw_billing_flags_text(l->flags, flags, sizeof(flags));
		tm_buf_append_str(b, "<tr><td>");
		gw_html_text(b, l->tenant);
		tm_buf_append_str(b, "</td><td>");
		gw_html_text(b, l->serial);
		tm_buf_append_str(b, "</td><td>");
		gw_html_text(b, l->counter);
		tm_buf_printf(b, "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
			      "<td class=\"num\">%lld</td><td>", (long long)l->open_value,
			      (long long)l->close_value, (long long)l->usage);
		gw_html_text(b, flags[0] ? flags : "-");
		tm_buf_append_str(b, "</td></tr>");
	}
	tm_buf_append_str(b, "</tbody></table>\n");
	gw_billing_fini(&bill);
	return gw_page_end(rs);
}

/* telemail-mailgw — a device's page: identity, firmware, counters, supply
 * levels and page volume as server-drawn charts, its alerts and its recent
 * reports. A device outside the viewer's scope is 404, as one that does not
 * exist: guessing serials tells nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "service/alerts.h"
#include "store/store.h"
#include "web/html.h"
#include "web/page_private.h"
#include "web/svg.h"

#define HISTORY_DAYS 90
#define MAX_SERIES 8
#define MAX_POINTS 4096     /* per series: older points beyond are not drawn */
#define RECENT_REPORTS 20

struct found {
	struct gw_web_device_row d;
	bool found;
};

static int got_device(void *ctx, const struct gw_web_device_row *d)
{
	struct found *f = ctx;
	f->d = *d;
	f->found = true;
	return 1;
}

/* the supply series: one per supply index, percent of max_capacity */
struct series_set {
	struct gw_svg_series s[MAX_SERIES];
	struct gw_svg_point *pts[MAX_SERIES];
	size_t cap[MAX_SERIES];
	int64_t keys[MAX_SERIES];
	char labels[MAX_SERIES][128];
	size_t n;
	bool nomem;
	bool volume;           /* counters: draw pages between readings */
	int64_t prev_value;
	bool have_prev;
};

static int add_point(struct series_set *ss, int64_t key, const char *label, int64_t x, int64_t y)
{
	size_t k = 0;
	while (k < ss->n && ss->keys[k] != key)
		k++;
	if (k == ss->n) {
		if (ss->n == MAX_SERIES)
			return 0;
		ss->keys[k] = key;
		snprintf(ss->labels[k], sizeof(ss->labels[k]), "%s", label);
		ss->s[k].label = ss->labels[k];
		ss->n++;
	}
	if (ss->s[k].n >= MAX_POINTS)
		return 0;
	struct gw_svg_point *p = tm_array_grow(ss->pts[k], &ss->cap[k], ss->s[k].n, sizeof(*p), 64,
					       MAX_POINTS);
	if (p == NULL) {
		ss->nomem = true;
		return 1;
	}
	ss->pts[k] = p;
	ss->s[k].points = p;
	p[ss->s[k].n++] = (struct gw_svg_point){ x, y };
	return 0;
}

static int supply_point(void *ctx, const struct gw_web_point *p)
{
	if (p->value < 0)
		return 0;   /* unknown, other, some remaining: no level to draw */
	int64_t pct = p->max_capacity != TM_UNSET && p->max_capacity > 0
			      ? p->value * 100 / p->max_capacity : p->value;
	return add_point(ctx, p->key, p->label, p->at, pct > 100 ? 100 : pct);
}

static int counter_point(void *ctx, const struct gw_web_point *p)
{
	struct series_set *ss = ctx;
	int64_t prev = ss->prev_value;
	bool had = ss->have_prev;
	ss->prev_value = p->value;
	ss->have_prev = true;
	if (!had)
		return 0;
	/* pages since the previous reading; a counter that went backwards (a
	 * board swap) starts again from its new value */
	return add_point(ss, 0, "pages between reports", p->at,
			 p->value >= prev ? p->value - prev : p->value);
}

static void series_fini(struct series_set *ss)
{
	for (size_t i = 0; i < MAX_SERIES; i++)
		free(ss->pts[i]);
}

struct tbuf_ctx {
	struct tm_buf *b;
	size_t n;
};

static int firmware_row(void *ctx, const struct gw_web_firmware_row *f)
{
	struct tbuf_ctx *t = ctx;
	tm_buf_append_str(t->b, "<tr><td>");
	gw_html_text(t->b, f->component);
	tm_buf_append_str(t->b, "</td><td>");
	gw_html_text(t->b, f->version);
	tm_buf_append_str(t->b, "</td></tr>");
	t->n++;
	return 0;
}

static int counter_row(void *ctx, const struct gw_web_point *p)
{
	struct tbuf_ctx *t = ctx;
	tm_buf_append_str(t->b, "<tr><td>");
	gw_html_text(t->b, p->label);
	tm_buf_printf(t->b, "</td><td class=\"num\">%lld</td></tr>", (long long)p->value);
	t->n++;
	return 0;
}

static int report_row(void *ctx, const struct gw_web_report_row *r)
{
	struct tbuf_ctx *t = ctx;
	char gen[32], rec[32];
	gw_page_time(r->generated_at, gen, sizeof(gen));
	gw_page_time(r->received_at, rec, sizeof(rec));
	tm_buf_printf(t->b, "<tr><td class=\"num\">%lld</td><td>", (long long)r->seq);
	gw_html_text(t->b, r->report_id);
	tm_buf_append_str(t->b, "</td><td>");
	gw_html_text(t->b, r->kind);
	tm_buf_printf(t->b, "</td><td>%s</td><td>%s</td><td>", gen, rec);
	gw_html_text(t->b, r->state[0] ? r->state : "-");
	tm_buf_append_str(t->b, "</td></tr>");
	t->n++;
	return 0;
}

static int supply_row(void *ctx, const struct gw_supply_row *s)
{
	struct tbuf_ctx *t = ctx;
	tm_buf_printf(t->b, "<tr><td class=\"num\">%lld</td><td>", (long long)s->index);
	gw_html_text(t->b, s->type);
	tm_buf_append_str(t->b, "</td><td>");
	gw_html_text(t->b, s->colorant);
	tm_buf_append_str(t->b, "</td><td>");
	gw_html_text(t->b, s->description);
	tm_buf_printf(t->b, "</td><td class=\"num\">%lld</td><td class=\"num\">", (long long)s->level);
	if (s->max_capacity != TM_UNSET)
		tm_buf_printf(t->b, "%lld", (long long)s->max_capacity);
	tm_buf_append_str(t->b, "</td></tr>");
	t->n++;
	return 0;
}

static void ident(struct tm_buf *b, const char *label, const char *value)
{
	tm_buf_append_str(b, "<dt>");
	tm_buf_append_str(b, label);
	tm_buf_append_str(b, "</dt><dd>");
	gw_html_text(b, value[0] ? value : "-");
	tm_buf_append_str(b, "</dd>");
}

int gw_page_device(const struct gw_web_source *src, const struct gw_web_request *rq,
		   const char *serial, struct gw_web_response *rs)
{
	struct gw_tenant_scope scope;
	if (!gw_page_scope(src, rq, rs, &scope))
		return rs->status;
	struct found f = {0};
	struct tm_error err = {0};
	int rc = gw_store_web_devices(src->st, serial, got_device, &f, &err);
	bool visible = f.found && gw_tenant_scope_has(&scope, f.d.tenant);
	gw_tenant_scope_fini(&scope);
	if (rc != GW_STORE_OK)
		return gw_page_error(rs, rq, 500, "the store could not be read");
	if (!visible)
		return gw_page_error(rs, rq, 404, "no such device");
	const struct gw_web_device_row *d = &f.d;
	struct tm_buf *b = &rs->body;
	char title[GW_NAME_MAX + 16], seen[32], received[32], enrolled[32];
	snprintf(title, sizeof(title), "Device %s", d->serial);
	gw_page_begin(rs, rq, title);
	gw_page_time(d->last_seen, seen, sizeof(seen));
	gw_page_time(d->last_received, received, sizeof(received));
	gw_page_time(d->enrolled_at, enrolled, sizeof(enrolled));
	const char *silence = gw_web_silence(d->last_seq, d->last_seen, src->now, src->silence);
	tm_buf_append_str(b, "<dl class=\"ident\" id=\"identity\">");
	ident(b, "Serial", d->serial);
	ident(b, "Tenant", d->tenant);
	ident(b, "Name", d->name);
	ident(b, "Manufacturer", d->manufacturer);
	ident(b, "Model", d->model);
	ident(b, "Location", d->location);
	ident(b, "IP address", d->ip);
	ident(b, "State", d->state);
	ident(b, "Last seen", seen);
	ident(b, "Last received", received);
	ident(b, "Silence", silence);
	ident(b, "Enrolled", enrolled);
	tm_buf_append_str(b, "</dl>\n");

	struct tbuf_ctx t = { .b = b };
	tm_buf_append_str(b, "<h2>Firmware</h2><table id=\"firmware\"><thead><tr><th>Component</th>"
			  "<th>Version</th></tr></thead><tbody>");
	if (rc == GW_STORE_OK)
		rc = gw_store_web_firmware(src->st, d->serial, firmware_row, &t, &err);
	tm_buf_append_str(b, "</tbody></table>\n<h2>Counters</h2><table id=\"counters\"><thead><tr>"
			  "<th>Counter</th><th>Value</th></tr></thead><tbody>");
	if (rc == GW_STORE_OK)
		rc = gw_store_web_counters(src->st, d->serial, counter_row, &t, &err);
	tm_buf_append_str(b, "</tbody></table>\n<h2>Supplies</h2><table id=\"supplies\"><thead><tr>"
			  "<th>#</th><th>Type</th><th>Colorant</th><th>Description</th><th>Level</th>"
			  "<th>Max</th></tr></thead><tbody>");
	if (rc == GW_STORE_OK)
		rc = gw_store_web_supplies(src->st, d->serial, supply_row, &t, &err);
	tm_buf_append_str(b, "</tbody></table>\n");

	/* the charts: the last HISTORY_DAYS days of the device's own reports */
	int64_t since = (d->last_seen ? d->last_seen : src->now) - (int64_t)HISTORY_DAYS * 86400;
	struct series_set sup = {0}, vol = { .volume = true };
	if (rc == GW_STORE_OK)
		rc = gw_store_web_supply_history(src->st, d->serial, since, supply_point, &sup, &err);
	if (rc == GW_STORE_OK)
		rc = gw_store_web_counter_history(src->st, d->serial, since, counter_point, &vol, &err);
	tm_buf_printf(b, "<h2>Supply levels (last %d days)</h2>\n", HISTORY_DAYS);
	struct gw_svg_chart sc = { .title = "supply levels", .y_min = 0, .y_max = 100, .y_unit = "%" };
	gw_svg_line_chart(b, &sc, sup.s, sup.n);
	tm_buf_printf(b, "\n<h2>Page volume (last %d days)</h2>\n", HISTORY_DAYS);
	struct gw_svg_chart vc = { .title = "page volume", .y_unit = "" };
	gw_svg_line_chart(b, &vc, vol.s, vol.n);
	bool nomem = sup.nomem || vol.nomem;
	series_fini(&sup);
	series_fini(&vol);

	/* alerts: the active ones, then the resolved ones, newest first */
	struct gw_alert_row *alerts = NULL;
	size_t n_alerts = 0;
	if (rc == GW_STORE_OK)
		rc = gw_alerts_list(src->st, false, &alerts, &n_alerts, &err);
	tm_buf_append_str(b, "\n<h2>Alerts</h2><table id=\"alerts\"><thead><tr><th>Kind</th>"
			  "<th>Subject</th><th>Severity</th><th>State</th><th>First seen</th>"
			  "<th>Last seen</th><th>Count</th><th>Detail</th></tr></thead><tbody>");
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = n_alerts; i-- > 0;) {
			const struct gw_alert_row *a = &alerts[i];
			if (strcmp(a->serial, d->serial) != 0 ||
			    (a->state == GW_ALERT_RESOLVED) != (pass == 1))
				continue;
			char first[32], last[32];
			gw_page_time(a->first_seen, first, sizeof(first));
			gw_page_time(a->last_seen, last, sizeof(last));
			tm_buf_append_str(b, "<tr><td>");
			gw_html_text(b, a->kind);
			tm_buf_append_str(b, "</td><td>");
			gw_html_text(b, a->subject);
			tm_buf_append_str(b, "</td><td>");
			gw_html_text(b, a->severity);
			tm_buf_append_str(b, "</td><td>");
			gw_html_text(b, gw_alert_state_name(a->state));
			tm_buf_printf(b, "</td><td>%s</td><td>%s</td><td class=\"num\">%lld</td><td>",
				      first, last, (long long)a->count);
			gw_html_text(b, a->detail);
			tm_buf_append_str(b, "</td></tr>");
		}
	free(alerts);
	tm_buf_printf(b, "</tbody></table>\n<h2>Recent reports</h2><table id=\"reports\"><thead><tr>"
		      "<th>Seq</th><th>Report id</th><th>Kind</th><th>Generated</th><th>Received</th>"
		      "<th>State</th></tr></thead><tbody>");
	if (rc == GW_STORE_OK)
		rc = gw_store_web_reports(src->st, d->serial, RECENT_REPORTS, report_row, &t, &err);
	tm_buf_append_str(b, "</tbody></table>\n");
	if (rc != GW_STORE_OK || nomem)
		return gw_page_error(rs, rq, 500, "the store could not be read");
	return gw_page_end(rs);
}

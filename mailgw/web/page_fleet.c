/* telemail-mailgw — the fleet page: every device in the viewer's scope with
 * its state, last seen, silence, supplies and open alerts; filters and
 * sorting are query parameters (links and a GET form: no script). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "service/alerts.h"
#include "store/store.h"
#include "web/html.h"
#include "web/page_private.h"

#define SUPPLIES_PER_ROW 8

struct fleet_row {
	struct gw_web_device_row d;
	const char *silence;
	struct gw_supply_row supplies[SUPPLIES_PER_ROW];
	size_t n_supplies;
	size_t n_alerts;
	char alert_kinds[96];   /* "supply_low, device_silent" (cut) */
};

struct fleet {
	const struct gw_web_source *src;
	const struct gw_tenant_scope *scope;
	const char *tenant, *state;   /* filters; NULL: all */
	struct fleet_row *rows;
	size_t n, cap;
	bool nomem;
};

static int add_device(void *ctx, const struct gw_web_device_row *d)
{
	struct fleet *f = ctx;
	if (!gw_tenant_scope_has(f->scope, d->tenant))
		return 0;
	if (f->tenant != NULL && strcmp(f->tenant, d->tenant) != 0)
		return 0;
	const char *silence = gw_web_silence(d->last_seq, d->last_seen, f->src->now,
					     f->src->silence);
	if (f->state != NULL && strcmp(f->state, d->state) != 0 && strcmp(f->state, silence) != 0)
		return 0;
	struct fleet_row *grown = tm_array_grow(f->rows, &f->cap, f->n, sizeof(*grown), 64, SIZE_MAX);
	if (grown == NULL) {
		f->nomem = true;
		return 1;
	}
	f->rows = grown;
	struct fleet_row *r = &f->rows[f->n++];
	memset(r, 0, sizeof(*r));
	r->d = *d;
	r->silence = silence;
	return 0;
}

static int by_serial(const void *key, const void *elem)
{
	return strcmp(key, ((const struct fleet_row *)elem)->d.serial);
}

/* rows are in serial order until sorted for display */
static struct fleet_row *find(struct fleet *f, const char *serial)
{
	return f->n == 0 ? NULL : bsearch(serial, f->rows, f->n, sizeof(*f->rows), by_serial);
}

static int add_supply(void *ctx, const struct gw_supply_row *s)
{
	struct fleet_row *r = find(ctx, s->serial);
	if (r != NULL && r->n_supplies < SUPPLIES_PER_ROW)
		r->supplies[r->n_supplies++] = *s;
	return 0;
}

/* sorting: one key, ascending or descending, then by serial */
struct order {
	const char *key;
	bool desc;
};

static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const struct fleet_row *x = a, *y = b;
	const char *sort_key = ((const struct order *)ctx)->key;
	int c = 0;
	if (strcmp(sort_key, "tenant") == 0)
		c = strcmp(x->d.tenant, y->d.tenant);
	else if (strcmp(sort_key, "state") == 0)
		c = strcmp(x->d.state, y->d.state);
	else if (strcmp(sort_key, "silence") == 0)
		c = strcmp(x->silence, y->silence);
	else if (strcmp(sort_key, "last_seen") == 0)
		c = x->d.last_seen < y->d.last_seen ? -1 : x->d.last_seen > y->d.last_seen;
	else if (strcmp(sort_key, "alerts") == 0)
		c = x->n_alerts < y->n_alerts ? -1 : x->n_alerts > y->n_alerts;
	else if (strcmp(sort_key, "location") == 0)
		c = strcmp(x->d.location, y->d.location);
	if (((const struct order *)ctx)->desc)
		c = -c;
	return c != 0 ? c : strcmp(x->d.serial, y->d.serial);
}

static const char *const sort_keys[] = {
	"serial", "tenant", "location", "state", "last_seen", "silence", "alerts", NULL,
};

/* A column header that sorts by key (and flips the order when it already does). */
static void header(struct tm_buf *b, const struct fleet *f, const char *key, const char *label,
		   const char *cur, bool desc)
{
	tm_buf_append_str(b, "<th><a href=\"/?sort=");
	tm_buf_append_str(b, key);
	tm_buf_append_str(b, strcmp(cur, key) == 0 && !desc ? "&amp;order=desc" : "&amp;order=asc");
	if (f->tenant != NULL) {
		tm_buf_append_str(b, "&amp;tenant=");
		gw_html_url(b, f->tenant);
	}
	if (f->state != NULL) {
		tm_buf_append_str(b, "&amp;state=");
		gw_html_url(b, f->state);
	}
	tm_buf_append_str(b, "\">");
	tm_buf_append_str(b, label);
	if (strcmp(cur, key) == 0)
		tm_buf_append_str(b, desc ? " ▼" : " ▲");
	tm_buf_append_str(b, "</a></th>");
}

/* Days left from the supply's kept forecast (made when its level last
 * changed), counted from now; the dates in the title. */
static void days_left(struct tm_buf *b, const struct gw_supply_forecast_row *f, int64_t now)
{
	if (f->made_at == 0 || !f->ok)
		return;
	int64_t left = f->empty_at > now ? (f->empty_at - now) / 86400 : 0;
	char empty[TM_TIME_TEXT_MAX], made[TM_TIME_TEXT_MAX], title[160];
	tm_time_format(f->empty_at, empty, sizeof(empty));
	tm_time_format(f->made_at, made, sizeof(made));
	snprintf(title, sizeof(title), "empty about %.10s; forecast of %.10s (%s, %s confidence)",
		 empty, made, f->basis, f->confidence);
	tm_buf_append_str(b, " <span class=\"days\" title=\"");
	gw_html_text(b, title);
	tm_buf_printf(b, "\">%lld d left</span>", (long long)left);
}

static void supply_cell(struct tm_buf *b, const struct fleet_row *r, int64_t now)
{
	for (size_t i = 0; i < r->n_supplies; i++) {
		const struct gw_supply_row *s = &r->supplies[i];
		const char *label = s->colorant[0] ? s->colorant : s->type;
		tm_buf_append_str(b, i ? "<br>" : "");
		gw_html_text(b, label);
		if (s->level >= 0 && s->max_capacity != TM_UNSET && s->max_capacity > 0) {
			long long pct = (long long)(s->level * 100 / s->max_capacity);
			tm_buf_printf(b, " <meter min=\"0\" max=\"100\" low=\"15\" value=\"%lld\">"
				      "</meter> <span class=\"%s\">%lld%%</span>", pct,
				      pct <= 10 ? "low" : "level", pct);
		} else if (s->level == -3) {
			tm_buf_append_str(b, " some remaining");
		} else if (s->level < 0) {
			tm_buf_append_str(b, " unknown");
		} else {
			tm_buf_printf(b, " %lld", (long long)s->level);
		}
		days_left(b, &s->fc, now);
	}
}

int gw_page_fleet(const struct gw_web_source *src, const struct gw_web_request *rq,
		  struct gw_web_response *rs)
{
	struct gw_tenant_scope scope;
	if (!gw_page_scope(src, rq, rs, &scope))
		return rs->status;
	struct fleet f = { .src = src, .scope = &scope };
	f.tenant = gw_web_param(rq, "tenant");
	f.state = gw_web_param(rq, "state");
	if (f.tenant != NULL && f.tenant[0] == '\0')
		f.tenant = NULL;
	if (f.state != NULL && f.state[0] == '\0')
		f.state = NULL;
	const char *sort = gw_web_param(rq, "sort"), *order = gw_web_param(rq, "order");
	bool known = sort == NULL;
	for (size_t i = 0; sort_keys[i] != NULL && !known; i++)
		known = strcmp(sort, sort_keys[i]) == 0;
	if (!known) {
		gw_tenant_scope_fini(&scope);
		return gw_page_error(rs, rq, 400, "sort: one of serial, tenant, location, state, "
				     "last_seen, silence, alerts");
	}
	/* a tenant outside the scope is answered as a tenant without devices would be,
	 * so the filter tells nothing about the tree beyond the viewer's subtree */
	struct tm_error err = {0};
	struct gw_alert_row *alerts = NULL;
	size_t n_alerts = 0;
	int rc = gw_store_web_devices(src->st, NULL, add_device, &f, &err);
	if (rc == GW_STORE_OK && !f.nomem)
		rc = gw_store_web_supplies(src->st, NULL, add_supply, &f, &err);
	if (rc == GW_STORE_OK && !f.nomem)
		rc = gw_alerts_list(src->st, true, &alerts, &n_alerts, &err);
	if (rc != GW_STORE_OK || f.nomem) {
		free(f.rows);
		free(alerts);
		gw_tenant_scope_fini(&scope);
		return gw_page_error(rs, rq, 500, "the store could not be read");
	}
	for (size_t i = 0; i < n_alerts; i++) {
		struct fleet_row *r = find(&f, alerts[i].serial);
		if (r == NULL || alerts[i].state != GW_ALERT_OPEN)
			continue;
		size_t used = strlen(r->alert_kinds);
		if (strstr(r->alert_kinds, alerts[i].kind) == NULL && used + strlen(alerts[i].kind) + 3 <
		    sizeof(r->alert_kinds))
			snprintf(r->alert_kinds + used, sizeof(r->alert_kinds) - used, "%s%s",
				 used ? ", " : "", alerts[i].kind);
		r->n_alerts++;
	}
	free(alerts);
	struct order ord = { sort != NULL ? sort : "serial", order != NULL && strcmp(order, "desc") == 0 };
	const char *sort_key = ord.key;
	bool sort_desc = ord.desc;
	if (f.n > 1)
		qsort_r(f.rows, f.n, sizeof(*f.rows), cmp_rows, &ord);

	struct tm_buf *b = &rs->body;
	gw_page_begin(rs, rq, "Fleet");
	/* the filters: a plain GET form */
	tm_buf_append_str(b, "<form class=\"filter\" method=\"get\" action=\"/\">"
			  "<label>Tenant <select name=\"tenant\"><option value=\"\">all</option>");
	for (size_t i = 0; i < scope.n; i++) {
		tm_buf_append_str(b, "<option");
		if (f.tenant != NULL && strcmp(f.tenant, scope.names[i]) == 0)
			tm_buf_append_str(b, " selected");
		tm_buf_append_str(b, ">");
		gw_html_text(b, scope.names[i]);
		tm_buf_append_str(b, "</option>");
	}
	tm_buf_append_str(b, "</select></label><label>State <input name=\"state\" size=\"10\" value=\"");
	gw_html_text(b, f.state);
	tm_buf_append_str(b, "\" placeholder=\"silent, idle …\"></label>"
			  "<button type=\"submit\">Filter</button></form>\n");
	tm_buf_printf(b, "<p id=\"count\">%zu device%s</p>\n", f.n, f.n == 1 ? "" : "s");
	tm_buf_append_str(b, "<table id=\"fleet\"><thead><tr>");
	header(b, &f, "serial", "Serial", sort_key, sort_desc);
	tm_buf_append_str(b, "<th>Name</th>");
	header(b, &f, "tenant", "Tenant", sort_key, sort_desc);
	tm_buf_append_str(b, "<th>Model</th>");
	header(b, &f, "location", "Location", sort_key, sort_desc);
	header(b, &f, "state", "State", sort_key, sort_desc);
	header(b, &f, "last_seen", "Last seen", sort_key, sort_desc);
	header(b, &f, "silence", "Silence", sort_key, sort_desc);
	tm_buf_append_str(b, "<th>Supplies</th>");
	header(b, &f, "alerts", "Open alerts", sort_key, sort_desc);
	tm_buf_append_str(b, "</tr></thead><tbody>\n");
	for (size_t i = 0; i < f.n; i++) {
		const struct fleet_row *r = &f.rows[i];
		char seen[32];
		gw_page_time(r->d.last_seen, seen, sizeof(seen));
		tm_buf_append_str(b, "<tr data-serial=\"");
		gw_html_text(b, r->d.serial);
		tm_buf_append_str(b, "\"><td><a href=\"/device/");
		gw_html_url(b, r->d.serial);
		tm_buf_append_str(b, "\">");
		gw_html_text(b, r->d.serial);
		tm_buf_append_str(b, "</a></td><td>");
		gw_html_text(b, r->d.name);
		tm_buf_append_str(b, "</td><td>");
		gw_html_text(b, r->d.tenant);
		tm_buf_append_str(b, "</td><td>");
		gw_html_text(b, r->d.model);
		tm_buf_append_str(b, "</td><td class=\"location\">");
		gw_html_text(b, r->d.location);
		tm_buf_append_str(b, "</td><td>");
		gw_html_text(b, r->d.state[0] ? r->d.state : "-");
		tm_buf_printf(b, "</td><td>%s</td><td class=\"%s\">%s</td><td>", seen, r->silence,
			      r->silence);
		supply_cell(b, r, src->now);
		tm_buf_printf(b, "</td><td class=\"num\">%zu", r->n_alerts);
		if (r->n_alerts) {
			tm_buf_append_str(b, " (");
			gw_html_text(b, r->alert_kinds);
			tm_buf_append_str(b, ")");
		}
		tm_buf_append_str(b, "</td></tr>\n");
	}
	tm_buf_append_str(b, "</tbody></table>\n");
	free(f.rows);
	gw_tenant_scope_fini(&scope);
	return gw_page_end(rs);
}

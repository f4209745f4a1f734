/* telemail-mailgw — the pages' router and what they share (see page.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <telemail/error.h>

#include "registry/tenant_scope.h"
#include "web/html.h"
#include "web/page.h"
#include "web/page_private.h"

/* The one style sheet, served as /style.css (no inline style: the CSP says
 * style-src 'self'). */
static const char style_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}\n"
	"nav{background:#1d3557;color:#fff;padding:8px 16px}\n"
	"nav a{color:#fff;margin-right:16px;text-decoration:none}\n"
	"nav .viewer{float:right;opacity:.8}\n"
	"main{padding:12px 16px}\n"
	"h1{font-size:20px;margin:4px 0 12px}\n"
	"h2{font-size:16px;margin:18px 0 6px}\n"
	"table{border-collapse:collapse;background:#fff;margin-bottom:12px}\n"
	"th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\n"
	"th{background:#e9ecef}\n"
	"th a{color:#222}\n"
	"td.num{text-align:right}\n"
	".silent{color:#b00;font-weight:bold}.never{color:#777}.reporting{color:#070}\n"
	".low{color:#b00}\n"
	"meter{width:60px}\n"
	"form.filter{margin-bottom:10px}\n"
	"form.filter label{margin-right:10px}\n"
	".chart{display:block;margin:6px 0}\n"
	"dl.ident{display:grid;grid-template-columns:max-content auto;gap:2px 12px}\n"
	"dl.ident dt{font-weight:bold}dl.ident dd{margin:0}\n";

const char *gw_web_param(const struct gw_web_request *rq, const char *key)
{
	for (size_t i = 0; i < rq->n_params; i++)
		if (strcmp(rq->params[i].key, key) == 0)
			return rq->params[i].value;
	return NULL;
}

const char *gw_web_silence(int64_t last_seq, int64_t last_seen, int64_t now, int64_t silence)
{
	if (last_seq == 0)
		return "never";
	return now - last_seen > silence ? "silent" : "reporting";
}

void gw_page_time(int64_t t, char *buf, size_t n)
{
	if (t == 0) {
		snprintf(buf, n, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tmv;
	gmtime_r(&tt, &tmv);
	strftime(buf, n, "%Y-%m-%d %H:%MZ", &tmv);
}

void gw_page_begin(struct gw_web_response *rs, const struct gw_web_request *rq, const char *title)
{
	struct tm_buf *b = &rs->body;
	rs->status = 200;
	rs->content_type = "text/html; charset=utf-8";
	tm_buf_append_str(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			  "<meta name=\"viewport\" content=\"width=device-width\">"
			  "<link rel=\"stylesheet\" href=\"/style.css\"><title>");
	gw_html_text(b, title);
	tm_buf_append_str(b, " — telemail</title></head><body><nav><a href=\"/\">Fleet</a>"
			  "<a href=\"/billing\">Billing</a>");
	if (rq->viewer.operator)
		tm_buf_append_str(b, "<a href=\"/quarantine\">Quarantine</a>");
	tm_buf_append_str(b, "<span class=\"viewer\">tenant ");
	gw_html_text(b, rq->viewer.tenant);
	if (rq->viewer.operator)
		tm_buf_append_str(b, " (operator)");
	tm_buf_append_str(b, "</span></nav><main><h1>");
	gw_html_text(b, title);
	tm_buf_append_str(b, "</h1>\n");
}

int gw_page_end(struct gw_web_response *rs)
{
	tm_buf_append_str(&rs->body, "</main></body></html>\n");
	if (rs->body.data == NULL) {   /* out of memory on the way */
		rs->status = 500;
		rs->content_type = "text/plain; charset=utf-8";
	}
	return rs->status;
}

int gw_page_error(struct gw_web_response *rs, const struct gw_web_request *rq, int status,
		  const char *message)
{
	tm_buf_reset(&rs->body);
	const char *title = status == 404 ? "Not found" : status == 403 ? "Forbidden"
			    : status == 400 ? "Bad request" : "Error";
	gw_page_begin(rs, rq, title);
	tm_buf_append_str(&rs->body, "<p class=\"error\">");
	gw_html_text(&rs->body, message);
	tm_buf_append_str(&rs->body, "</p>");
	gw_page_end(rs);
	rs->status = status;
	return status;
}

bool gw_page_scope(const struct gw_web_source *src, const struct gw_web_request *rq,
		   struct gw_web_response *rs, struct gw_tenant_scope *scope)
{
	struct tm_error err = {0};
	if (gw_tenant_scope_load(src->st, rq->viewer.operator ? NULL : rq->viewer.tenant, scope,
				 &err) == 0)
		return true;
	if (strncmp(err.reason, "registry.", 9) == 0)
		gw_page_error(rs, rq, 403, "your tenant is not known to this gateway");
	else
		gw_page_error(rs, rq, 500, "the store could not be read");
	return false;
}

int gw_web_handle(const struct gw_web_source *src, const struct gw_web_request *rq,
		  struct gw_web_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	tm_buf_init(&rs->body);
	const char *p = rq->path;
	if (strcmp(p, "/style.css") == 0) {
		rs->status = 200;
		rs->content_type = "text/css; charset=utf-8";
		tm_buf_append(&rs->body, style_css, sizeof(style_css) - 1);
		return rs->status;
	}
	if (strcmp(p, "/") == 0 || strcmp(p, "/fleet") == 0)
		return gw_page_fleet(src, rq, rs);
	char serial[GW_NAME_MAX + 1];
	int end = 0;
	if (sscanf(p, "/device/%64[^/]%n", serial, &end) == 1 && end > 0 && p[end] == '\0')
		return gw_page_device(src, rq, serial, rs);
	if (strcmp(p, "/billing") == 0)
		return gw_page_billing(src, rq, false, rs);
	if (strcmp(p, "/billing.csv") == 0)
		return gw_page_billing(src, rq, true, rs);
	if (strcmp(p, "/quarantine") == 0)
		return gw_page_quarantine(src, rq, rs);
	return gw_page_error(rs, rq, 404, "no such page");
}

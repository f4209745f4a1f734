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

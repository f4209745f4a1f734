/* telemail-mailgw — the fleet page's routes: a path to its page (see page.h). */
#include <stdio.h>
#include <string.h>

#include <telemail/buf.h>

#include "web/page.h"
#include "web/page_private.h"

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

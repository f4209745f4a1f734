/* telemail-mailgw — the fleet page's pages: one request in, one response
 * out, with no HTTP library in sight (server.c speaks HTTP; this part reads
 * the store and writes HTML). Every page is read-only and scoped to the
 * viewer's tenant subtree (registry/tenant_scope.h): a viewer never sees a
 * sibling's or a parent's device, and a device outside the scope is 404,
 * the same answer as a serial that does not exist.
 *
 *   /                   the fleet: devices with state, last seen, silence,
 *                       supplies, open alerts; ?tenant=T&state=S&sort=K&order=asc|desc
 *   /device/SERIAL      identity, firmware, counters, supply and page charts
 *                       (inline SVG), alerts, recent reports
 *   /billing            a month per tenant: ?period=YYYY-MM&tenant=T
 *   /billing.csv        the same as CSV (service/billing.c's writer)
 *   /quarantine         operators only: reasons and details, never bodies
 *   /style.css          the style sheet (the CSP allows 'self' only)
 *
 * Every device-supplied string goes through gw_html_text (web/html.h). */
#ifndef GW_WEB_PAGE_H
#define GW_WEB_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>

#include "web/access.h"

struct gw_store;
struct gw_quarantine;

#define GW_WEB_MAX_PARAMS 16

struct gw_web_param {
	const char *key, *value;   /* decoded */
};

struct gw_web_request {
	const char *path;          /* decoded, without the query */
	struct gw_web_param params[GW_WEB_MAX_PARAMS];
	size_t n_params;
	struct gw_web_viewer viewer;
};

struct gw_web_response {
	int status;                /* 200, 400, 403, 404, 500 */
	const char *content_type;
	char disposition[128];     /* Content-Disposition; "" none */
	struct tm_buf body;
};

/* What the pages read; one per thread (the store handle is the thread's). */
struct gw_web_source {
	struct gw_store *st;
	struct gw_quarantine *q;   /* NULL: the quarantine page says it has none */
	int64_t silence;           /* alerts.silence: seconds before a device is silent */
	int64_t estimate_after;    /* billing.estimate_after */
	int64_t now;               /* Unix seconds */
	const char *const *fwd_endpoints;   /* forward.endpoints' names (/metrics) */
	size_t n_fwd_endpoints;             /* 0: forwarding off */
};

/* Answer a request of an authenticated viewer. rs->body is initialised here;
 * the caller frees it with tm_buf_fini. Returns rs->status. */
int gw_web_handle(const struct gw_web_source *src, const struct gw_web_request *rq,
		  struct gw_web_response *rs);

/* The value of a query parameter, NULL when absent. */
const char *gw_web_param(const struct gw_web_request *rq, const char *key);

/* The device's silence as the fleet page shows it: "never" (no report yet),
 * "silent" (last seen more than `silence` seconds before now) or "reporting". */
const char *gw_web_silence(int64_t last_seq, int64_t last_seen, int64_t now, int64_t silence);

#endif

/* telemail-mailgw — what the page files share (page_*.c). */
#ifndef GW_WEB_PAGE_PRIVATE_H
#define GW_WEB_PAGE_PRIVATE_H

#include <stdbool.h>

#include "registry/tenant_scope.h"
#include "web/page.h"

/* <!doctype html> … <body><nav>…</nav><main>; title escaped. */
void gw_page_begin(struct gw_web_response *rs, const struct gw_web_request *rq, const char *title);
/* </main></body></html>; returns rs->status. */
int gw_page_end(struct gw_web_response *rs);
/* A short HTML page with a message (escaped); returns status. */
int gw_page_error(struct gw_web_response *rs, const struct gw_web_request *rq, int status,
		  const char *message);
/* The viewer's scope (operators: everything). false: the viewer's tenant
 * does not exist (403 written). */
bool gw_page_scope(const struct gw_web_source *src, const struct gw_web_request *rq,
		   struct gw_web_response *rs, struct gw_tenant_scope *scope);
/* "2026-11-21 08:00Z", or "-" for 0. */
void gw_page_time(int64_t t, char *buf, size_t n);

int gw_page_fleet(const struct gw_web_source *src, const struct gw_web_request *rq,
		  struct gw_web_response *rs);
int gw_page_device(const struct gw_web_source *src, const struct gw_web_request *rq,
		   const char *serial, struct gw_web_response *rs);
int gw_page_billing(const struct gw_web_source *src, const struct gw_web_request *rq,
		    bool csv, struct gw_web_response *rs);
int gw_page_quarantine(const struct gw_web_source *src, const struct gw_web_request *rq,
		       struct gw_web_response *rs);

#endif

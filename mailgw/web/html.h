/* telemail-mailgw — HTML output of the fleet page: the one escaping
 * function. Every string that did not come from this program (a device's
 * name, location, model, alert text, a tenant name, a query parameter) goes
 * into a page through gw_html_text, in element text and in quoted attribute
 * values alike: & < > " ' become character references, and control
 * characters other than tab and newline become U+FFFD, so a value can
 * neither open an element nor leave its attribute. */
#ifndef GW_WEB_HTML_H
#define GW_WEB_HTML_H

#include <stddef.h>

struct tm_buf;

/* Append s escaped (NULL: nothing). 0, or -1 when out of memory. */
int gw_html_text(struct tm_buf *b, const char *s);
/* Append the first n octets of s escaped. */
int gw_html_textn(struct tm_buf *b, const char *s, size_t n);
/* Append s percent-encoded for a URL path segment or query value
 * (unreserved characters of RFC 3986 kept). */
int gw_html_url(struct tm_buf *b, const char *s);

#endif

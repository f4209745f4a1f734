/* telemail-mailgw — HTML escaping (see html.h). */
#include <string.h>

#include <telemail/buf.h>

#include "web/html.h"

int gw_html_textn(struct tm_buf *b, const char *s, size_t n)
{
	size_t run = 0;   /* octets since the last escape, appended in one go */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep = NULL;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				rep = "\xef\xbf\xbd";   /* U+FFFD */
		}
		if (rep == NULL) {
			run++;
			continue;
		}
		if (tm_buf_append(b, s + i - run, run) < 0 || tm_buf_append_str(b, rep) < 0)
			return -1;
		run = 0;
	}
	return tm_buf_append(b, s + n - run, run);
}

int gw_html_text(struct tm_buf *b, const char *s)
{
	return s == NULL ? 0 : gw_html_textn(b, s, strlen(s));
}

int gw_html_url(struct tm_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (tm_buf_append(b, s, 1) < 0)
				return -1;
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			if (tm_buf_append(b, e, 3) < 0)
				return -1;
		}
	}
	return 0;
}

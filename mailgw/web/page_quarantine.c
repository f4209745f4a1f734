/* telemail-mailgw — the quarantine on the fleet page, for operators only:
 * each entry's reason, details and sizes; never the raw message (the
 * quarantine has no tenant of its own: a message that could not be bound
 * belongs to nobody yet, so only an operator sees the list). */
#include <inttypes.h>
#include <string.h>

#include <telemail/error.h>

#include "store/quarantine.h"
#include "web/html.h"
#include "web/page_private.h"

#define QUARANTINE_ROWS_MAX 1000

struct qctx {
	struct tm_buf *b;
	size_t n;
};

static int q_row(void *ctx, const struct gw_quarantine_meta *m)
{
	struct qctx *q = ctx;
	if (q->n++ >= QUARANTINE_ROWS_MAX)
		return 1;
	char rec[32], qat[32];
	gw_page_time(m->received_at, rec, sizeof(rec));
	gw_page_time(m->quarantined_at, qat, sizeof(qat));
	tm_buf_append_str(q->b, "<tr><td><code>");
	gw_html_textn(q->b, m->id, 16);
	tm_buf_append_str(q->b, "…</code></td><td>");
	gw_html_text(q->b, m->reason);
	tm_buf_append_str(q->b, "</td><td>");
	gw_html_text(q->b, m->detail);
	tm_buf_append_str(q->b, "</td><td>");
	gw_html_text(q->b, m->serial[0] ? m->serial : "-");
	tm_buf_append_str(q->b, "</td><td>");
	gw_html_text(q->b, m->message_id);
	tm_buf_printf(q->b, "</td><td class=\"num\">%" PRIu64 "</td><td>%s</td><td>%s</td></tr>",
		      m->size, rec, qat);
	return 0;
}

int gw_page_quarantine(const struct gw_web_source *src, const struct gw_web_request *rq,
		       struct gw_web_response *rs)
{
	if (!rq->viewer.operator)
		return gw_page_error(rs, rq, 403, "the quarantine is for operators only");
	gw_page_begin(rs, rq, "Quarantine");
	struct tm_buf *b = &rs->body;
	if (src->q == NULL) {
		tm_buf_append_str(b, "<p>No quarantine is open here.</p>");
		return gw_page_end(rs);
	}
	tm_buf_append_str(b, "<table id=\"quarantine\"><thead><tr><th>Id</th><th>Reason</th>"
			  "<th>Detail</th><th>Device</th><th>Message-ID</th><th>Size</th>"
			  "<th>Received</th><th>Quarantined</th></tr></thead><tbody>");
	struct qctx q = { .b = b };
	struct tm_error err = {0};
	int rc = gw_quarantine_list(src->q, q_row, &q, &err);
	tm_buf_append_str(b, "</tbody></table>\n");
	if (q.n > QUARANTINE_ROWS_MAX)
		tm_buf_printf(b, "<p>The first %d entries; `telemail-mailgw quarantine list` has all.</p>",
			      QUARANTINE_ROWS_MAX);
	if (rc < 0)
		return gw_page_error(rs, rq, 500, "the quarantine could not be read");
	return gw_page_end(rs);
}

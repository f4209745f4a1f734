/* telemail-agent — report builder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "build.h"

int ag_uuid4(char out[37], struct tm_error *err)
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
		if (r <= 0)
			return tm_error_set(err, "internal.library", "getrandom failed");
		got += (size_t)r;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

static int set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = NULL;
	if (s == NULL)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -1;
}

int ag_report_finish(struct tm_report *r, const struct ag_report_meta *m, struct tm_error *err)
{
	char id[37], at[32];
	if (ag_uuid4(id, err) != 0)
		return -1;
	tm_time_format(m->now ? m->now : (int64_t)time(NULL), at, sizeof(at));
	r->seq = m->seq;
	r->kind = m->kind;
	r->outbox_gap = m->outbox_gap;
	if (set_str(&r->id, id) != 0 || set_str(&r->generated_at, at) != 0 ||
	    set_str(&r->agent, AG_AGENT_NAME) != 0 || set_str(&r->trigger_cause, m->cause) != 0 ||
	    set_str(&r->trigger_subject, m->cause ? m->subject : NULL) != 0)
		return tm_error_set(err, "internal.nomem", "out of memory");
	return 0;
}

int ag_report_yaml(const struct tm_report *r, struct tm_buf *out, struct tm_error *err)
{
	size_t start = out->len;
	struct tm_report *back = NULL;
	if (tm_report_write_yaml(r, out, err) != 0)
		return -1;
	int rc = tm_report_read(out->data + start, out->len - start, NULL, &back, err);
	tm_report_free(back);
	if (rc != 0) {
		out->len = start;
		tm_error_prefix(err, "built report fails its own check");
	}
	return rc;
}

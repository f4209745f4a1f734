/* telemail-agent — report builder: the report section (id, seq, kind,
 * time, agent, trigger, outbox gap) on top of collected device data, and the
 * check that the result is a valid report before anything is sealed. */
#ifndef AG_BUILD_H
#define AG_BUILD_H

#include <stdint.h>

#include <telemail/report.h>

struct tm_buf;
struct tm_error;

#define AG_AGENT_NAME "telemail-agent/0.1.0"

struct ag_report_meta {
	enum tm_report_kind kind;
	int64_t seq;
	const char *cause;     /* NULL: no trigger */
	const char *subject;   /* may be NULL */
	int64_t outbox_gap;    /* TM_UNSET: absent */
	int64_t now;           /* Unix seconds; 0: now */
};

/* A random (version 4) UUID in lower-case hex. */
int ag_uuid4(char out[37], struct tm_error *err);
/* Set the report section of r (replacing what was there). */
int ag_report_finish(struct tm_report *r, const struct ag_report_meta *m, struct tm_error *err);
/* Deterministic YAML, read back through the schema: a report the gateway
 * would refuse is never produced (errors report.* from the check). */
int ag_report_yaml(const struct tm_report *r, struct tm_buf *out, struct tm_error *err);

#endif

/* telemail-agent — the jobs the commands run: collect → detect events →
 * build → seal → queue durably; flush the outbox over SMTP. */
#ifndef AG_AGENT_H
#define AG_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/report.h>

#include "submit.h"

struct tm_buf;
struct tm_error;
struct ag_config;

struct ag_agent {
	const struct ag_config *cfg;
	struct tm_identity *id;
	struct tm_certlist *gw;
	struct ag_outbox *ob;
	/* Operator log, one key=value line per event (NULL: silent). Set by main.c. */
	void (*log)(const char *line);
	/* Set (by a signal handler) to stop between sessions; NULL: never. */
	const volatile sig_atomic_t *stop;
	/* When only_kind is set (an enum ag_item_kind), a flush sends only the
	 * items of that kind numbered from only_from (the communication test
	 * sends its own report and nothing else); 0: everything. */
	char only_kind;
	uint64_t only_from;
};

/* Load the identity, the gateway certificates and open the outbox. */
int ag_agent_open(const struct ag_config *cfg, struct ag_agent **out, struct tm_error *err);
void ag_agent_close(struct ag_agent *a);

/* Collect device `ci`, and queue a report of `kind` (cause may be NULL)
 * plus, when `events`, one event report per detected change. *queued (may
 * be NULL) gets the number of reports queued. */
int ag_agent_collect(struct ag_agent *a, size_t ci, enum tm_report_kind kind, const char *cause,
		     bool events, size_t *queued, struct tm_error *err);
/* Collect every device (SNMP devices concurrently) and queue as above;
 * one log line per device. Returns the number of devices that failed. */
size_t ag_agent_collect_all(struct ag_agent *a, enum tm_report_kind kind, const char *cause,
			    bool events, size_t *queued);
/* The YAML of the report that would be sent now (no seq is used up). */
int ag_agent_show(const struct ag_config *cfg, size_t ci, enum tm_report_kind kind,
		  struct tm_buf *out, struct tm_error *err);
/* Send what is queued, oldest first, until empty or the relays defer. */
struct ag_flush_result {
	size_t sent, rejected, left;
};
int ag_agent_flush(struct ag_agent *a, struct ag_flush_result *res, ag_step_fn step, void *arg,
		   struct tm_error *err);

#endif

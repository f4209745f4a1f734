/* telemail-agent — jobs: collect, build, seal, queue; flush. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/log.h>
#include <telemail/report.h>
#include <telemail/smime.h>

#include "agent.h"
#include "build.h"
#include "collect.h"
#include "config.h"
#include "cycle_status.h"
#include "events.h"
#include "outbox.h"
#include "state.h"

#define MAX_EVENTS_PER_RUN 8

int ag_agent_open(const struct ag_config *cfg, struct ag_agent **out, struct tm_error *err)
{
	struct ag_agent *a = calloc(1, sizeof(*a));
	*out = NULL;
	if (a == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	a->cfg = cfg;
	if (tm_identity_load(cfg->cert, cfg->key, cfg->chain, &a->id, err) != 0)
		goto fail;
	a->gw = tm_certlist_new();
	if (a->gw == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_gw_certs; i++)
		if (tm_certlist_add_file(a->gw, cfg->gw_certs[i], err) != 0)
			goto fail;
	if (ag_outbox_open(cfg->outbox_dir, cfg->outbox_max_count, cfg->outbox_max_bytes, &a->ob, err) != 0)
		goto fail;
	*out = a;
	return 0;
fail:
	ag_agent_close(a);
	return -1;
}

void ag_agent_close(struct ag_agent *a)
{
	if (a == NULL)
		return;
	tm_identity_free(a->id);
	tm_certlist_free(a->gw);
	ag_outbox_close(a->ob);
	free(a);
}

static enum ag_item_kind item_kind(enum tm_report_kind k)
{
	switch (k) {
	case TM_KIND_EVENT: return AG_ITEM_EVENT;
	case TM_KIND_STATUS: return AG_ITEM_STATUS;
	case TM_KIND_TEST: return AG_ITEM_TEST;
	default: return AG_ITEM_PERIODIC;
	}
}

/* What one collection cycle saw: each collector's source and serial (NULL:
 * failed or not collected), to tell serial clashes; and the cycle's status
 * (NULL: none) that the next report queued carries as its collector section. */
struct cycle {
	const struct ag_config *cfg;
	const char *const *serials;
	const struct ag_cycle_status *status;
	bool carried;
};

/* Build one report on top of the collected data, seal it and queue it. */
static int queue_one(struct ag_agent *a, struct cycle *cy, struct ag_state *st, struct tm_report *r,
		     enum tm_report_kind kind, const char *cause, const char *subject,
		     struct tm_error *err)
{
	bool carry = cy != NULL && cy->status != NULL && !cy->carried;
	struct tm_buf yaml, msg;
	tm_buf_init(&yaml);
	tm_buf_init(&msg);
	int rc = -1;
	int64_t seq;
	uint64_t gap = ag_outbox_gap(a->ob);
	if (ag_state_next_seq(a->cfg->state_dir, st, &seq, err) != 0)
		goto out;
	struct ag_report_meta m = { kind, seq, cause, subject, gap > 0 ? (int64_t)gap : TM_UNSET, 0 };
	if (carry && ag_cycle_status_attach(cy->status, r, err) != 0)
		goto out;
	if (ag_report_finish(r, &m, err) != 0 || ag_report_yaml(r, &yaml, err) != 0)
		goto out;
	struct tm_seal_opts so = {
		.signer = a->id, .recipients = a->gw, .detached = a->cfg->detached,
		.from = a->cfg->mailbox, .to = a->cfg->gw_mailbox,
	};
	if (tm_smime_seal(&so, yaml.data, yaml.len, &msg, err) != 0)
		goto out;
	if (ag_outbox_push(a->ob, item_kind(kind), msg.data, msg.len, NULL, err) != 0)
		goto out;
	if (ag_outbox_gap_consume(a->ob, gap, err) != 0)
		goto out;
	if (carry)
		cy->carried = true;
	rc = 0;
out:
	if (carry)
		ag_cycle_status_detach(r);
	tm_buf_fini(&yaml);
	tm_buf_fini(&msg);
	return rc;
}

/* Counter32 readings → 64-bit totals with the device's wrap state. */
static void apply_counters(struct ag_state *st, struct ag_collected *c, bool same_source)
{
	for (size_t i = 0; i < c->n_raw; i++)
		if (c->raw[i].dst != NULL)
			*c->raw[i].dst = ag_state_counter_total(st, c->raw[i].key, c->raw[i].raw, same_source);
}

/* Where collector k reads its device: "host:port" or the snapshot's path. */
static void source_of(const struct ag_collector_config *k, char out[AG_SOURCE_MAX])
{
	if (k->type == AG_COLLECT_SNMP)
		snprintf(out, AG_SOURCE_MAX, "%s:%d", k->host, k->port);
	else
		snprintf(out, AG_SOURCE_MAX, "%s", k->path);
}

/* Another source reporting `serial` in this cycle (NULL: none). */
static const char *cycle_other(const struct cycle *cy, size_t self, const char *serial, char buf[AG_SOURCE_MAX])
{
	char me[AG_SOURCE_MAX];
	source_of(&cy->cfg->collectors[self], me);
	for (size_t j = 0; cy->serials && j < cy->cfg->n_collectors; j++) {
		if (j == self || cy->serials[j] == NULL || strcmp(cy->serials[j], serial) != 0)
			continue;
		source_of(&cy->cfg->collectors[j], buf);
		if (strcmp(buf, me) != 0)
			return buf;
	}
	return NULL;
}

/* The other side of a recorded clash is gone: not configured any more, or
 * read in this cycle with another serial (or none). */
static bool clash_gone(const struct cycle *cy, const struct ag_state *st, const char *me)
{
	const char *other = strcmp(st->clash[0], me) == 0 ? st->clash[1] : st->clash[0];
	char src[AG_SOURCE_MAX];
	for (size_t j = 0; j < cy->cfg->n_collectors; j++) {
		source_of(&cy->cfg->collectors[j], src);
		if (strcmp(src, other) == 0 &&
		    (cy->serials == NULL || (cy->serials[j] != NULL && strcmp(cy->serials[j], st->serial) == 0) ||
		     cy->serials[j] == NULL))
			return false;
	}
	return true;
}

/* The serial clash checks (issue 14 item 12) on a loaded state: 0 when the
 * reading may be used (*same: from the source of the last one). */
static int check_source(const struct cycle *cy, size_t ci, struct ag_state *st, bool *same, struct tm_error *err)
{
	char me[AG_SOURCE_MAX], buf[AG_SOURCE_MAX];
	source_of(&cy->cfg->collectors[ci], me);
	const char *other = cycle_other(cy, ci, st->serial, buf);
	if (other != NULL)
		ag_state_clash(st, me, other);
	bool alone = other == NULL && (st->clash[0][0] == '\0' || clash_gone(cy, st, me));
	return ag_state_source(st, me, alone, same, err);
}

/* Detect events and queue the reports of one collected device. */
static int process(struct ag_agent *a, struct cycle *cy, size_t ci, struct ag_collected *c,
		   enum tm_report_kind kind, const char *cause, bool events, size_t *queued, struct tm_error *err)
{
	struct tm_report *r = c->r;
	struct ag_state st;
	ag_state_init(&st);
	size_t q = 0;
	int rc = -1;
	bool same = false;
	if (r->serial == NULL) {
		tm_error_set(err, "collect.format", "the device has no serial");
		goto out;
	}
	if (ag_state_load(a->cfg->state_dir, r->serial, &st, err) != 0)
		goto out;
	if (check_source(cy, ci, &st, &same, err) != 0) {
		struct tm_error serr = { 0 };
		ag_state_save(a->cfg->state_dir, &st, &serr);   /* the clash is remembered */
		goto out;
	}
	apply_counters(&st, c, same);
	bool saved = false;
	if (events && a->cfg->events) {
		struct ag_event ev[MAX_EVENTS_PER_RUN];
		size_t ne = ag_events_detect(a->cfg, &st, r, ev, MAX_EVENTS_PER_RUN);
		for (size_t i = 0; i < ne; i++) {
			if (queue_one(a, cy, &st, r, TM_KIND_EVENT, ev[i].cause, ev[i].subject, err) != 0)
				goto out;
			q++;
			saved = true;
		}
	}
	if ((int)kind >= 0) {
		if (queue_one(a, cy, &st, r, kind, cause, NULL, err) != 0)
			goto out;
		q++;
		saved = true;
	}
	if (!saved && ag_state_save(a->cfg->state_dir, &st, err) != 0)
		goto out;
	rc = 0;
out:
	if (queued)
		*queued = q;
	ag_state_fini(&st);
	return rc;
}

int ag_agent_collect(struct ag_agent *a, size_t ci, enum tm_report_kind kind, const char *cause,
		     bool events, size_t *queued, struct tm_error *err)
{
	struct ag_collected c;
	memset(&c, 0, sizeof(c));
	if (queued)
		*queued = 0;
	if (ci >= a->cfg->n_collectors)
		return tm_error_set(err, "internal.bug", "collector %zu out of range", ci);
	int rc = ag_collect(&a->cfg->collectors[ci], &c, err);
	struct cycle cy = { a->cfg, NULL, NULL, false };
	if (rc == 0)
		rc = process(a, &cy, ci, &c, kind, cause, events, queued, err);
	ag_collected_fini(&c);
	return rc;
}

static void log_collect(struct ag_agent *a, size_t i, const struct ag_collected *c, size_t q,
			const struct tm_error *err)
{
	if (a->log == NULL)
		return;
	const struct ag_collector_config *k = &a->cfg->collectors[i];
	/* the serial and the error's text come from the device: escaped values */
	struct tm_logline l;
	tm_log_begin(&l, "collect");
	tm_log_addf(&l, "collector", "%zu", i);
	if (err == NULL) {
		tm_log_add(&l, "device", c->r && c->r->serial ? c->r->serial : "?");
		tm_log_addf(&l, "queued", "%zu", q);
		tm_log_addf(&l, "dropped", "%u", c->dropped);
	} else {
		tm_log_add(&l, "source", k->type == AG_COLLECT_FILE ? k->path : k->host);
		tm_log_add(&l, "reason", err->reason ? err->reason : "?");
		tm_log_addf(&l, "dropped", "%u", c ? c->dropped : 0);
		tm_log_add(&l, "detail", err->msg);
	}
	a->log(tm_log_end(&l));
}

static void log_status(struct ag_agent *a, const struct tm_error *err)
{
	if (a->log == NULL)
		return;
	char line[512];
	snprintf(line, sizeof(line), "collect status=%s reason=%s: %s", AG_CYCLE_STATUS_FILE,
		 err->reason ? err->reason : "?", err->msg);
	a->log(line);
}

/* Process device i of a collected cycle: log it, count it, note it in the
 * cycle's status. */
static void process_one(struct ag_agent *a, struct cycle *cy, size_t i, struct ag_collected *c,
			enum tm_report_kind kind, const char *cause, bool events,
			struct ag_cycle_status *now_st, const struct ag_cycle_status *prev,
			int64_t now, size_t *failed, size_t *total)
{
	struct tm_error err = { 0 };
	size_t q = 0;
	if (c->r == NULL) {
		log_collect(a, i, c, 0, &c->err);
		(*failed)++;
	} else if (process(a, cy, i, c, kind, cause, events, &q, &err) != 0) {
		log_collect(a, i, c, q, &err);
		if (i < now_st->n)
			ag_cycle_status_fail(now_st, i, &err, prev, now);
		(*failed)++;
	} else {
		log_collect(a, i, c, q, NULL);
	}
	*total += q;
}

/* The cycle's status: every device noted in configuration order (those that
 * failed to collect as failed), saved to <state_dir>/collector.status. A
 * collector's cycle carries it on a report: the first device read is
 * processed last, and its first report queued carries the status of all the
 * others (issue 14 item 15). */
size_t ag_agent_collect_all(struct ag_agent *a, enum tm_report_kind kind, const char *cause,
			    bool events, size_t *queued)
{
	size_t n = a->cfg->n_collectors, failed = 0, total = 0;
	struct ag_collected *cs = calloc(n, sizeof(*cs));
	if (cs == NULL) {
		struct tm_error e = { 0 };
		tm_error_set(&e, "internal.nomem", "out of memory");
		log_collect(a, 0, NULL, 0, &e);
		return n;
	}
	ag_collect_many(a->cfg->collectors, n, cs);
	const char **serials = calloc(n, sizeof(*serials));
	for (size_t i = 0; serials && i < n; i++)
		serials[i] = cs[i].r ? cs[i].r->serial : NULL;
	int64_t now = (int64_t)time(NULL);
	struct ag_cycle_status prev, st;
	struct tm_error serr = { 0 };
	ag_cycle_status_init(&st);
	if (ag_cycle_status_load(a->cfg->state_dir, &prev, &serr) != 0)
		log_status(a, &serr);   /* since and old serials are lost, no more */
	st.at = now;
	bool noted = true;
	for (size_t i = 0; i < n && noted; i++)
		noted = ag_cycle_status_note(&st, a->cfg, i, cs[i].r ? cs[i].r->serial : NULL,
					     cs[i].r ? NULL : &cs[i].err, &prev, now) == 0;
	size_t carrier = n;
	if (noted && a->cfg->role == AG_ROLE_COLLECTOR)
		for (size_t i = 0; i < n && carrier == n; i++)
			if (cs[i].r != NULL)
				carrier = i;
	struct cycle cy = { a->cfg, serials, NULL, false };
	for (size_t i = 0; i < n; i++)
		if (i != carrier)
			process_one(a, &cy, i, &cs[i], kind, cause, events, &st, &prev, now, &failed, &total);
	if (carrier < n) {
		cy.status = &st;
		process_one(a, &cy, carrier, &cs[carrier], kind, cause, events, &st, &prev, now, &failed, &total);
	}
	tm_error_clear(&serr);
	if (noted && ag_cycle_status_save(a->cfg->state_dir, &st, &serr) != 0)
		log_status(a, &serr);
	ag_cycle_status_fini(&st);
	ag_cycle_status_fini(&prev);
	for (size_t i = 0; i < n; i++)
		ag_collected_fini(&cs[i]);
	free(serials);
	free(cs);
	if (queued)
		*queued = total;
	return failed;
}

int ag_agent_show(const struct ag_config *cfg, size_t ci, enum tm_report_kind kind,
		  struct tm_buf *out, struct tm_error *err)
{
	struct ag_collected c;
	memset(&c, 0, sizeof(c));
	struct ag_state st;
	ag_state_init(&st);
	int rc = -1;
	if (ci >= cfg->n_collectors) {
		tm_error_set(err, "internal.bug", "collector %zu out of range", ci);
		goto out;
	}
	if (ag_collect(&cfg->collectors[ci], &c, err) != 0)
		goto out;
	if (c.r->serial == NULL) {
		tm_error_set(err, "collect.format", "the device has no serial");
		goto out;
	}
	if (ag_state_load(cfg->state_dir, c.r->serial, &st, err) != 0)
		goto out;
	struct cycle cy = { cfg, NULL, NULL, false };
	bool same = false;
	if (check_source(&cy, ci, &st, &same, err) != 0)
		goto out;
	apply_counters(&st, &c, same);   /* the state is not saved: show changes nothing */
	struct ag_report_meta m = { kind, st.seq + 1, kind == TM_KIND_TEST ? "test" : "manual", NULL, TM_UNSET, 0 };
	if (ag_report_finish(c.r, &m, err) != 0 || ag_report_yaml(c.r, out, err) != 0)
		goto out;
	rc = 0;
out:
	ag_state_fini(&st);
	ag_collected_fini(&c);
	return rc;
}

int ag_agent_flush(struct ag_agent *a, struct ag_flush_result *res, ag_step_fn step, void *arg,
		   struct tm_error *err)
{
	struct ag_outbox_item *items = NULL;
	struct ag_send_msg *msgs = NULL;
	struct tm_buf *bufs = NULL;
	size_t n = 0, batch = a->cfg->smtp.batch;
	int rc = -1;
	memset(res, 0, sizeof(*res));
	if (ag_outbox_list(a->ob, &items, &n, err) != 0)
		goto out;
	if (a->only_kind) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (items[i].kind == a->only_kind && items[i].no >= a->only_from)
				items[k++] = items[i];
		n = k;
	}
	msgs = calloc(batch, sizeof(*msgs));
	bufs = calloc(batch, sizeof(*bufs));
	if (msgs == NULL || bufs == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	size_t pos = 0;
	bool stop = false;
	while (pos < n && !stop && !(a->stop && *a->stop)) {
		size_t k = n - pos < batch ? n - pos : batch;
		for (size_t i = 0; i < k; i++) {
			tm_buf_init(&bufs[i]);
			if (ag_outbox_read(a->ob, &items[pos + i], &bufs[i], err) != 0) {
				for (size_t j = 0; j <= i; j++)
					tm_buf_fini(&bufs[j]);
				goto out;
			}
			msgs[i].data = bufs[i].data;
			msgs[i].len = bufs[i].len;
		}
		struct tm_error serr = { 0 };
		int src = ag_submit(&a->cfg->smtp, a->cfg->gw_mailbox, msgs, k, step, arg, &serr);
		int frc = 0;
		for (size_t i = 0; i < k; i++) {
			const struct ag_outbox_item *it = &items[pos + i];
			if (frc == 0 && msgs[i].result == AG_SEND_OK) {
				frc = ag_outbox_done(a->ob, it, err);
				res->sent++;
			} else if (frc == 0 && msgs[i].result == AG_SEND_REJECTED) {
				if (a->log) { /* the relay's reply text: a peer's, escaped */
					struct tm_logline l;
					tm_log_begin(&l, "outbox");
					tm_log_add(&l, "item", it->name);
					tm_log_add(&l, "outcome", "rejected");
					tm_log_add(&l, "reply", msgs[i].reply);
					a->log(tm_log_end(&l));
				}
				frc = ag_outbox_reject(a->ob, it, msgs[i].reply, err);
				res->rejected++;
			} else {
				stop = true;
			}
			tm_buf_fini(&bufs[i]);
		}
		if (frc != 0)
			goto out;
		if (serr.reason != NULL) {
			ag_outbox_note_error(a->ob, serr.msg, NULL);
			if (src != 0 || stop) {
				if (err)
					*err = serr;
				stop = true;
			}
		}
		pos += k;
	}
	struct ag_outbox_status os;
	if (ag_outbox_status(a->ob, &os, err) != 0)
		goto out;
	res->left = os.depth;
	rc = (res->left > 0 && stop) ? -1 : 0;
	if (rc != 0 && err && err->reason == NULL)
		tm_error_set(err, "smtp.transient", "%zu messages left in the outbox", res->left);
out:
	free(items);
	free(msgs);
	free(bufs);
	return rc;
}

/* telemail-mailgw — service alerts (see alerts.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <telemail/array.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "service/alerts.h"
#include "service/alerts_private.h"
#include "service/notify_queue.h"
#include "service/alerts_device.h"
#include "store/audit.h"
#include "config/config_service.h"
#include "service/supply.h"
#include "service/meter_check.h"

#define REPLACED_JUMP 20   /* percentage points a level must rise to count as a replacement */

static bool is_event_kind(const char *kind)
{
	static const char *const events[] = {
		"supply_replaced", "counter_reset", "counter_wrap", "firmware_changed", "outbox_gap",
		"identity_conflict",
	};
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (strcmp(kind, events[i]) == 0)
			return true;
	return false;
}

/* ---- notifications of a transition (notify.c delivers them) ---- */



/* The mark of `key` (NULL: none): *out points at *buf or at the held copy. */
static int mark_get(const struct gw_alerts_eval *e, const char *key, struct gw_mark_row *buf,
		    const struct gw_mark_row **out)
{
	return gw_alerts_device_mark_get(e->dev, key, buf, out, e->err);
}

static int mark_set_int(const struct gw_alerts_eval *e, const char *key, int64_t v)
{
	struct gw_mark_row m = { .seq = e->seq, .has_ival = true, .ival = v };
	return gw_alerts_device_mark_set(e->dev, key, &m, e->err);
}

static int mark_set_text(const struct gw_alerts_eval *e, const char *key, const char *v)
{
	struct gw_mark_row m = { .seq = e->seq };
	TEXT_COPY(m.tval, v);
	return gw_alerts_device_mark_set(e->dev, key, &m, e->err);
}

/* ---- supplies ---- */

/* The level as a percentage of capacity; -3 for "some remaining"; -1 when
 * unknown. */
static int64_t supply_pct(const struct tm_supply *s)
{
	if (s->level == TM_LEVEL_SOME_REMAINING)
		return -3;
	if (s->level < 0)
		return -1;
	if (s->max_capacity > 0)
		return s->level >= s->max_capacity ? 100 : s->level * 100 / s->max_capacity;
	if (s->unit != NULL && strcmp(s->unit, "percent") == 0)
		return s->level > 100 ? 100 : s->level;
	return s->level == 0 ? 0 : -1;
}

static int eval_supply(const struct gw_alerts_eval *e, const struct tm_supply *s)
{
	char subject[GW_ALERT_SUBJECT_MAX], key[64], detail[GW_ALERT_DETAIL_MAX];
	snprintf(subject, sizeof(subject), "%.40s%s%.40s#%" PRId64, s->type,
		 s->colorant ? "/" : "", s->colorant ? s->colorant : "", s->index);
	snprintf(key, sizeof(key), "supply#%" PRId64, s->index);
	int64_t pct = supply_pct(s);
	if (pct == -1)
		return GW_STORE_OK;   /* no usable level: nothing to say */
	unsigned thr = gw_service_supply_threshold(e->svc, s->type, s->colorant);
	struct gw_mark_row buf;
	const struct gw_mark_row *prev;
	int rc = mark_get(e, key, &buf, &prev);
	if (rc != GW_STORE_OK)
		return rc;
	if (pct == -3)
		snprintf(detail, sizeof(detail), "%s: some remaining (low threshold %u %%)", subject, thr);
	else if (pct <= (int64_t)thr)
		snprintf(detail, sizeof(detail), "%s: %" PRId64 " %% (low threshold %u %%)", subject,
			 pct, thr);
	if (pct == 0) {
		rc = gw_alerts_eval_raise(e, "supply_empty", subject, "critical", detail);
		if (rc == GW_STORE_OK)
			rc = gw_alerts_eval_raise(e, "supply_low", subject, "warning", detail);
	} else if (pct == -3 || pct <= (int64_t)thr) {
		rc = gw_alerts_eval_raise(e, "supply_low", subject, "warning", detail);
		if (rc == GW_STORE_OK)
			rc = gw_alerts_eval_resolve(e, "supply_empty", subject);
	} else {
		/* above the threshold: a jump up is a replacement */
		int64_t before = prev == NULL || !prev->has_ival ? -1 : prev->ival == -3 ? thr : prev->ival;
		bool told = gw_supply_replaced_by_agent(e->report, s->index);
		if ((before >= 0 && pct >= before + REPLACED_JUMP) || told) {
			char d[GW_ALERT_DETAIL_MAX];
			if (before >= 0)
				snprintf(d, sizeof(d), "%s: replaced%s, %" PRId64 " %% -> %" PRId64 " %%",
					 subject, told ? " (the agent's event)" : "", before, pct);
			else
				snprintf(d, sizeof(d), "%s: replaced (the agent's event), now %" PRId64 " %%",
					 subject, pct);
			struct gw_alerts_eval ev = *e;
			rc = gw_alerts_eval_raise(&ev, "supply_replaced", subject, "info", d);
			if (rc == GW_STORE_OK)
				rc = gw_alerts_eval_resolve(e, "supply_replaced", subject);
		}
		if (rc == GW_STORE_OK)
			rc = gw_alerts_eval_resolve(e, "supply_low", subject);
		if (rc == GW_STORE_OK)
			rc = gw_alerts_eval_resolve(e, "supply_empty", subject);
	}
	if (rc == GW_STORE_OK)
		rc = mark_set_int(e, key, pct);
	return rc;
}

/* ---- conditions and the report's critical alerts: sets that come and go ---- */

static const char *condition_severity(const char *c)
{
	static const char *const critical[] = {
		"noToner", "noPaper", "jammed", "offline", "serviceRequested", "doorOpen",
		"markerSupplyMissing", "outputFull", "inputTrayMissing", "outputTrayMissing",
	};
	for (size_t i = 0; i < sizeof(critical) / sizeof(critical[0]); i++)
		if (strcmp(c, critical[i]) == 0)
			return "critical";
	return "warning";
}

/* Is `name` a line of the newline-separated list? */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p += len + (nl != NULL);
	}
	return false;
}

/* Resolve what the previous set held and the new one does not, then
 * remember the new set (as much of it as fits in a mark). */
static int settle_set(const struct gw_alerts_eval *e, const char *key, const char *kind, const char *now_set)
{
	struct gw_mark_row buf;
	const struct gw_mark_row *prev;
	int rc = mark_get(e, key, &buf, &prev);
	if (rc != GW_STORE_OK)
		return rc;
	for (const char *p = prev != NULL ? prev->tval : ""; *p && rc == GW_STORE_OK; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char name[GW_ALERT_SUBJECT_MAX];
		snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1), p);
		if (!in_list(now_set, name))
			rc = gw_alerts_eval_resolve(e, kind, name);
		p += len + (nl != NULL);
	}
	if (rc == GW_STORE_OK)
		rc = mark_set_text(e, key, now_set);
	return rc;
}

static void set_add(char *set, size_t cap, const char *name)
{
	size_t used = strlen(set), n = strlen(name);
	if (used + n + 2 > cap || in_list(set, name))
		return;   /* bounded: what does not fit is not tracked for resolution */
	if (used > 0)
		set[used++] = '\n';
	memcpy(set + used, name, n + 1);
}

static int eval_conditions(const struct gw_alerts_eval *e, const struct tm_report *r)
{
	char set[sizeof(((struct gw_mark_row *)0)->tval)] = "";
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < r->n_conditions && rc == GW_STORE_OK; i++) {
		char detail[GW_ALERT_DETAIL_MAX];
		snprintf(detail, sizeof(detail), "device reports condition %s (state %s)",
			 r->conditions[i], r->state ? r->state : "?");
		rc = gw_alerts_eval_raise(e, "condition", r->conditions[i],
				 condition_severity(r->conditions[i]), detail);
		set_add(set, sizeof(set), r->conditions[i]);
	}
	return rc == GW_STORE_OK ? settle_set(e, "conditions", "condition", set) : rc;
}

static int eval_report_alerts(const struct gw_alerts_eval *e, const struct tm_report *r)
{
	char set[sizeof(((struct gw_mark_row *)0)->tval)] = "";
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < r->n_alerts && rc == GW_STORE_OK; i++) {
		const struct tm_alert *a = &r->alerts[i];
		if (a->severity == NULL || strcmp(a->severity, "critical") != 0)
			continue;
		char subject[GW_ALERT_SUBJECT_MAX], detail[GW_ALERT_DETAIL_MAX];
		snprintf(subject, sizeof(subject), "%.60s%s%.60s", a->code, a->sub_code ? "/" : "",
			 a->sub_code ? a->sub_code : "");
		snprintf(detail, sizeof(detail), "critical alert %s: %.100s", subject,
			 a->description ? a->description : "(no description)");
		rc = gw_alerts_eval_raise(e, "device_alert", subject, "critical", detail);
		set_add(set, sizeof(set), subject);
	}
	return rc == GW_STORE_OK ? settle_set(e, "device_alerts", "device_alert", set) : rc;
}

/* ---- parts, counters, firmware ---- */

static int eval_part(const struct gw_alerts_eval *e, const struct tm_part *p)
{
	if (p->rated_life == TM_UNSET || p->rated_life <= 0 || p->used < 0)
		return GW_STORE_OK;
	char subject[GW_ALERT_SUBJECT_MAX], detail[GW_ALERT_DETAIL_MAX];
	text_cat(subject, sizeof(subject), 0, p->name, 120);
	/* used * 100 >= pct * rated, in 128-bit-safe order: compare per mille */
	long double share = (long double)p->used * 100.0L / (long double)p->rated_life;
	if (share >= (long double)e->svc->part_life_percent) {
		snprintf(detail, sizeof(detail), "%s: used %" PRId64 " of rated %" PRId64 " (%.0Lf %%)",
			 subject, p->used, p->rated_life, share);
		return gw_alerts_eval_raise(e, "part_life", subject, "warning", detail);
	}
	return gw_alerts_eval_resolve(e, "part_life", subject);
}

static bool wrapped(int64_t before, int64_t after)
{
	static const int64_t mods[] = { INT64_C(1) << 31, INT64_C(1) << 32 };
	for (size_t i = 0; i < 2; i++)
		if (before < mods[i] && before >= mods[i] / 10 * 9 && after < mods[i] / 10)
			return true;
	return false;
}

static int eval_counter(const struct gw_alerts_eval *e, const char *name, int64_t value)
{
	char key[96], detail[GW_ALERT_DETAIL_MAX];
	text_cat(key, sizeof(key), text_cat(key, sizeof(key), 0, "ctr:", 4), name, 80);
	struct gw_mark_row buf;
	const struct gw_mark_row *prev;
	int rc = mark_get(e, key, &buf, &prev);
	if (rc != GW_STORE_OK)
		return rc;
	if (prev != NULL && prev->has_ival && value < prev->ival) {
		bool wrap = wrapped(prev->ival, value);
		snprintf(detail, sizeof(detail), "counter %s went from %" PRId64 " to %" PRId64 " (%s)",
			 name, prev->ival, value, wrap ? "wrapped" : "reset or board swap");
		rc = gw_alerts_eval_raise(e, wrap ? "counter_wrap" : "counter_reset", name, "warning", detail);
	}
	return rc == GW_STORE_OK ? mark_set_int(e, key, value) : rc;
}

static int eval_counters(const struct gw_alerts_eval *e, const struct tm_report *r)
{
	static const char *const names[] = {
		"impressions", "impressions_monochrome", "impressions_full_color",
		"impressions_two_sided", "sheets", "sheets_two_sided", "images",
	};
	int rc = GW_STORE_OK;
	for (int svc = 0; svc < TM_SVC_COUNT && rc == GW_STORE_OK; svc++) {
		if (!r->has_service[svc])
			continue;
		const struct tm_counter_set *c = &r->service[svc];
		const int64_t v[] = {
			c->impressions, c->impressions_monochrome, c->impressions_full_color,
			c->impressions_two_sided, c->sheets, c->sheets_two_sided, c->images,
		};
		for (size_t k = 0; k < 7 && rc == GW_STORE_OK; k++) {
			if (v[k] == TM_UNSET)
				continue;
			char name[64];
			size_t n = TEXT_COPY(name, tm_counter_service_name((enum tm_counter_service)svc));
			text_cat(name, sizeof(name), text_cat(name, sizeof(name), n, "/", 1), names[k],
				 SIZE_MAX);
			rc = eval_counter(e, name, v[k]);
		}
	}
	for (size_t i = 0; i < r->n_vendor && rc == GW_STORE_OK; i++) {
		char name[96];
		text_cat(name, sizeof(name), TEXT_COPY(name, "vendor/"), r->vendor[i].id, 80);
		rc = eval_counter(e, name, r->vendor[i].value);
	}
	return rc;
}

static int eval_firmware(const struct gw_alerts_eval *e, const struct tm_firmware *f)
{
	char key[96], detail[GW_ALERT_DETAIL_MAX];
	text_cat(key, sizeof(key), text_cat(key, sizeof(key), 0, "fw:", 3), f->component, 80);
	struct gw_mark_row buf;
	const struct gw_mark_row *prev;
	int rc = mark_get(e, key, &buf, &prev);
	if (rc != GW_STORE_OK)
		return rc;
	if (prev != NULL && strcmp(prev->tval, f->version) != 0) {
		snprintf(detail, sizeof(detail), "%.40s firmware %.90s -> %.90s", f->component,
			 prev->tval, f->version);
		rc = gw_alerts_eval_raise(e, "firmware_changed", f->component, "info", detail);
	}
	return rc == GW_STORE_OK ? mark_set_text(e, key, f->version) : rc;
}

static int evaluate(const struct gw_alerts_eval *e, const struct tm_report *r)
{
	int rc = gw_alerts_eval_resolve(e, "device_silent", "device");
	if (rc == GW_STORE_OK)
		rc = gw_alerts_eval_resolve(e, "device_never_reported", "device");
	if (rc == GW_STORE_OK && r->outbox_gap != TM_UNSET && r->outbox_gap > 0) {
		char d[GW_ALERT_DETAIL_MAX];
		snprintf(d, sizeof(d), "the agent dropped %" PRId64 " report(s) from its outbox before seq %" PRId64,
			 r->outbox_gap, r->seq);
		rc = gw_alerts_eval_raise(e, "outbox_gap", "outbox", "warning", d);
	}
	for (size_t i = 0; i < r->n_supplies && rc == GW_STORE_OK; i++)
		rc = eval_supply(e, &r->supplies[i]);
	if (rc == GW_STORE_OK && r->has_status)
		rc = eval_conditions(e, r);
	if (rc == GW_STORE_OK && r->has_alerts)
		rc = eval_report_alerts(e, r);
	for (size_t i = 0; i < r->n_parts && rc == GW_STORE_OK; i++)
		rc = eval_part(e, &r->parts[i]);
	if (rc == GW_STORE_OK && r->has_counters)
		rc = eval_counters(e, r);
	for (size_t i = 0; i < r->n_firmware && rc == GW_STORE_OK; i++)
		rc = eval_firmware(e, &r->firmware[i]);
	return rc;
}

/* A stored report's evaluation between its reads and its run (alerts.h). */
struct gw_alerts_prep {
	struct gw_store *st;
	const struct gw_service_config *svc;
	struct gw_service_config defaults;   /* svc when the caller gave none */
	const struct gw_store_record *rec;
	int64_t now;
	struct gw_alerts_device dev;
	struct gw_supply_prep sp;
	struct gw_meter_prep *mp;
	struct gw_report_reads rr;
};

void gw_alerts_prep_free(struct gw_alerts_prep *p)
{
	if (p == NULL)
		return;
	gw_alerts_device_fini(&p->dev);
	gw_supply_prep_free(&p->sp);
	gw_meter_check_free(p->mp);
	free(p);
}

int gw_alerts_prepare(struct gw_store *st, const struct gw_service_config *svc,
		      const struct gw_store_record *rec, int64_t now, struct gw_alerts_prep **out,
		      struct tm_error *err)
{
	*out = NULL;
	struct gw_alerts_prep *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "alerts: out of memory");
	if (svc == NULL) {
		gw_service_config_defaults(&p->defaults);
		svc = &p->defaults;
	}
	const struct tm_report *r = rec->report;
	p->st = st;
	p->svc = svc;
	p->rec = rec;
	p->now = now;
	gw_alerts_device_init(&p->dev, st, r->serial, r->seq);
	/* what the evaluations read of the report's device, asked at once (one
	 * round trip on a server; with the put's last one where the store can):
	 * its marks and active alerts, its supplies' words before the report,
	 * its counters' neighbours. None of them reads what the put or an
	 * evaluation before it writes. */
	int rc = gw_supply_prepare(rec, &p->sp, err);
	if (rc == GW_STORE_OK)
		rc = gw_meter_check_prepare(st, p->svc, rec, now, &p->mp, err);
	if (rc != GW_STORE_OK) {
		gw_alerts_prep_free(p);
		return rc;
	}
	struct gw_report_reads *rr = &p->rr;
	rr->seq = r->seq;
	gw_alerts_device_load_ask(&p->dev, rr);
	rr->n_supplies = p->sp.n;
	rr->idx = p->sp.idx;
	rr->at = p->sp.at;
	rr->at_nsec = p->sp.nsec;
	rr->before = p->sp.before;
	rr->found = p->sp.found;
	if (p->mp != NULL)
		rr->asks = gw_meter_check_asks(p->mp, &rr->n_asks);
	*out = p;
	return GW_STORE_OK;
}

struct gw_report_reads *gw_alerts_reads(struct gw_alerts_prep *p)
{
	return p != NULL ? &p->rr : NULL;
}

int gw_alerts_run(struct gw_alerts_prep *p, const struct gw_put_info *info, struct tm_error *err)
{
	struct gw_store *st = p->st;
	const struct gw_service_config *svc = p->svc;
	const struct gw_store_record *rec = p->rec;
	const struct tm_report *r = rec->report;
	int64_t now = p->now;
	int rc = GW_STORE_OK;
	if (info->result != GW_PUT_STORED)
		return GW_STORE_OK;
	if (r->has_collector) {   /* the collector's heartbeat */
		int64_t at;
		if (gw_store_parse_utc(r->generated_at, "report/generated_at", &at, err) < 0)
			return GW_STORE_ERROR;
		rc = gw_alerts_collector_heard(st, svc, rec->fingerprint, rec->tenant, at, now, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	struct gw_report_reads *rr = &p->rr;
	if (!rr->answered) {   /* not with the put: now (the device only for a newest report) */
		rr->device = info->newest;
		rc = gw_store_report_reads(st, r->serial, rr, err);
	}
	if (rc == GW_STORE_OK && !info->newest) {   /* a late report: its signer's span only */
		rc = gw_alerts_identity_on_stored(st, svc, rec, NULL, now, err);
	} else if (rc == GW_STORE_OK) {
		struct gw_alerts_eval e = {
			.st = st, .dev = &p->dev, .svc = svc, .serial = r->serial,
			.tenant = rec->tenant, .report_id = r->id, .report = r, .seq = r->seq,
			.now = now, .err = err,
		};
		gw_alerts_device_loaded(&p->dev, rr->stop);
		if (gw_store_parse_utc(r->generated_at, "report/generated_at", &e.at, err) < 0)
			rc = GW_STORE_ERROR;
		if (rc == GW_STORE_OK)   /* the signer's span, on the marks just read */
			rc = gw_alerts_identity_on_stored(st, svc, rec, &p->dev, now, err);
		if (rc == GW_STORE_OK)
			rc = evaluate(&e, r);
		if (rc == GW_STORE_OK)
			rc = gw_alerts_device_flush(&p->dev, err);
	}
	/* supply forecasts and orders: every stored report, late ones too
	 * (the history is read in report-time order) */
	if (rc == GW_STORE_OK)
		rc = gw_supply_run(st, svc, rec, &p->sp, now, err);
	if (rc == GW_STORE_OK && p->mp != NULL)   /* and its meter readings checked (issue 18) */
		rc = gw_meter_check_run(p->mp, err);
	if (rc != GW_STORE_OK)
		return rc;
	char object[160], after[GW_SHA256_HEX];
	snprintf(object, sizeof(object), "report %.64s device %.64s seq %" PRId64, r->id, r->serial,
		 r->seq);
	tm_sha256_hex(rec->json, rec->json_len, after);
	return gw_audit_append(st, "pipeline", "ingest", object, rec->tenant, NULL, after, now, err);
}

int gw_alerts_on_stored(struct gw_store *st, const struct gw_service_config *svc,
			const struct gw_store_record *rec, const struct gw_put_info *info,
			int64_t now, struct tm_error *err)
{
	if (info->result != GW_PUT_STORED)
		return GW_STORE_OK;
	struct gw_alerts_prep *p;
	int rc = gw_alerts_prepare(st, svc, rec, now, &p, err);
	if (rc == GW_STORE_OK)
		rc = gw_alerts_run(p, info, err);
	gw_alerts_prep_free(p);
	return rc;
}

/* ---- the notifier's own alert ---- */

int gw_alerts_notify_failing(struct gw_store *st, const struct gw_service_config *svc,
			     const char *channel, size_t gave_up, size_t failed, const char *detail,
			     int64_t now, struct tm_error *err)
{
	if (gave_up == 0 && failed > 0)
		return GW_STORE_OK;
	return gw_alerts_gateway_set(st, svc, "notify_failing", channel, gave_up > 0, detail, now,
				     err);
}

int gw_alerts_gateway_set(struct gw_store *st, const struct gw_service_config *svc,
			  const char *kind, const char *subject, bool raise, const char *detail,
			  int64_t now, struct tm_error *err)
{
	struct gw_alert_row a;
	bool found = false;
	if (!raise) {   /* resolve the alert, if there is one */
		int rc = gw_store_alert_find_active(st, GW_ALERTS_GATEWAY, kind, subject, &a, &found,
						    err);
		if (rc != GW_STORE_OK || !found)
			return rc;
	}
	const struct gw_alerts_target t = {
		.serial = GW_ALERTS_GATEWAY, .tenant = "", .at = now, .now = now,
	};
	int rc = gw_store_begin(st, err);
	if (rc == GW_STORE_OK) {
		rc = gw_alerts_set(st, svc, &t, kind, subject, raise ? "warning" : NULL, detail, err);
		if (rc == GW_STORE_OK)
			rc = gw_store_commit(st, err);
		if (rc != GW_STORE_OK)
			gw_store_rollback(st);
	}
	return rc;
}

/* ---- acknowledge, list ---- */

static void alert_state_text(const struct gw_alert_row *a, char *buf, size_t n)
{
	snprintf(buf, n, "alert %" PRId64 " %s %s %s %s state=%s acked_at=%" PRId64 " resolved_at=%" PRId64,
		 a->id, a->serial, a->kind, a->subject, a->severity, gw_alert_state_name(a->state),
		 a->acked_at, a->resolved_at);
}

static int ack_in_tx(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
		     const char *actor, int64_t now, struct tm_error *err)
{
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_store_alert_get(st, id, &a, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (!found)
		return tm_error_set(err, "alert.not_found", "alert %" PRId64 ": no such alert", id);
	if (a.state != GW_ALERT_OPEN)
		return tm_error_set(err, "alert.bad_state", "alert %" PRId64 ": already %s", id,
				    gw_alert_state_name(a.state));
	char text[512], before[GW_SHA256_HEX], after[GW_SHA256_HEX], object[160];
	alert_state_text(&a, text, sizeof(text));
	gw_audit_digest(text, before);
	a.acked_at = now;
	snprintf(a.acked_by, sizeof(a.acked_by), "%s", actor);
	bool event = is_event_kind(a.kind);
	a.state = event ? GW_ALERT_RESOLVED : GW_ALERT_ACKED;
	if (event)
		a.resolved_at = now;
	rc = gw_store_alert_update(st, &a, err);
	if (rc == GW_STORE_OK && event)
		rc = gw_notify_enqueue(st, svc, &a, "resolved", now, err);
	if (rc == GW_STORE_OK)
		rc = gw_alerts_forward(st, &a, "acknowledged", now, err);
	if (rc != GW_STORE_OK)
		return rc;
	alert_state_text(&a, text, sizeof(text));
	gw_audit_digest(text, after);
	snprintf(object, sizeof(object), "alert %" PRId64 " %.64s %.31s %.40s", a.id, a.serial, a.kind,
		 a.subject);
	return gw_audit_append(st, actor, "alert.ack", object, a.tenant, before, after, now, err);
}

int gw_alerts_ack(struct gw_store *st, const struct gw_service_config *svc, int64_t id,
		  const char *actor, int64_t now, struct tm_error *err)
{
	struct gw_service_config defaults;
	char local[64];
	if (svc == NULL) {
		gw_service_config_defaults(&defaults);
		svc = &defaults;
	}
	if (actor == NULL) {
		gw_audit_actor_local(local);
		actor = local;
	}
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = ack_in_tx(st, svc, id, actor, now, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

struct alert_rows {
	struct gw_alert_row *rows;
	size_t n, cap;
};

static int collect_alert(void *ctx, const struct gw_alert_row *a)
{
	struct alert_rows *l = ctx;
	struct gw_alert_row *p = tm_array_grow(l->rows, &l->cap, l->n, sizeof(*p), 64, SIZE_MAX);
	if (p == NULL)
		return 1;   /* stops the walk: out of memory */
	l->rows = p;
	l->rows[l->n++] = *a;
	return 0;
}

int gw_alerts_list(struct gw_store *st, bool active_only, struct gw_alert_row **out, size_t *n,
		   struct tm_error *err)
{
	struct alert_rows l = {0};
	int rc = gw_store_alert_list(st, active_only, collect_alert, &l, err);
	if (rc != GW_STORE_OK) {
		free(l.rows);
		return rc > 0 ? tm_error_set(err, "internal.nomem", "out of memory") : rc;
	}
	*out = l.rows;
	*n = l.n;
	return GW_STORE_OK;
}

/* telemail-mailgw — meter validation as reports arrive (see meter_check.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "service/meter_check.h"
#include "service/alerts_device.h"
#include "service/billing.h"
#include "service/meter_rules.h"
#include "config/config_service.h"
#include "config/meter_models.h"
#include "service/notify_queue.h"
#include "store/audit.h"

static int raise(struct gw_store *st, const struct gw_service_config *svc,
		 const struct gw_store_record *rec, const char *counter, const char *detail,
		 int64_t at, int64_t now, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	struct gw_alerts_device dev;   /* nothing loaded: one store call per lookup */
	gw_alerts_device_init(&dev, st, r->serial, r->seq);
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_alerts_device_find(&dev, "meter_suspect", counter, &a, &found, err);
	if (rc == GW_STORE_OK && found) {
		if (at > a.last_seen)
			a.last_seen = at;
		a.count++;
		snprintf(a.detail, sizeof(a.detail), "%s", detail);
		snprintf(a.report_id, sizeof(a.report_id), "%s", r->id);
		rc = gw_alerts_device_repeat(&dev, &a, err);
	} else if (rc == GW_STORE_OK) {
		memset(&a, 0, sizeof(a));
		snprintf(a.serial, sizeof(a.serial), "%s", r->serial);
		snprintf(a.tenant, sizeof(a.tenant), "%s", rec->tenant);
		snprintf(a.kind, sizeof(a.kind), "meter_suspect");
		snprintf(a.subject, sizeof(a.subject), "%s", counter);
		snprintf(a.severity, sizeof(a.severity), "warning");
		snprintf(a.detail, sizeof(a.detail), "%s", detail);
		snprintf(a.report_id, sizeof(a.report_id), "%s", r->id);
		a.state = GW_ALERT_OPEN;
		a.first_seen = a.last_seen = at;
		a.count = 1;
		rc = gw_alerts_device_insert(&dev, &a, err);
		if (rc == GW_STORE_OK)
			rc = gw_notify_enqueue(st, svc, &a, "opened", now, err);
	}
	gw_alerts_device_fini(&dev);
	return rc;
}

/* What one report's check knows besides the counter. */
struct check {
	struct gw_store *st;
	const struct gw_service_config *svc;
	const struct gw_store_record *rec;
	const struct gw_meter_model *model;
	struct gw_meter_rate rate;
	int64_t at, now;
	int32_t nsec;
};

static void step_detail(const struct check *k, const char *serial, int64_t seq, const char *counter,
			const char *rule, int64_t value, int64_t before, char *buf, size_t n)
{
	if (strcmp(rule, "too_fast") == 0)
		snprintf(buf, n, "reading %.64s:%" PRId64 ":%.100s: too_fast (%" PRId64 " after %" PRId64
			 "; %s rate %u ppm)", serial, seq, counter, value, before,
			 k->rate.model ? "model" : "default", k->rate.ppm);
	else
		snprintf(buf, n, "reading %.64s:%" PRId64 ":%.100s: %s (%" PRId64 " after %" PRId64 ")",
			 serial, seq, counter, rule, value, before);
}

/* An accepted decision on a reading of this run (the same value, not after
 * this report: the counter did not move in between) settles it
 * (meter_rules.h). */
struct settled_ctx {
	struct gw_store *st;
	const char *serial, *counter;
	int64_t value, until;
	bool settled;
	int rc;
	struct tm_error *err;
};

static int find_settled(void *ctx, const struct gw_meter_decision_row *d)
{
	struct settled_ctx *x = ctx;
	if (d->exclude || strcmp(d->serial, x->serial) != 0 || strcmp(d->counter, x->counter) != 0)
		return 0;
	const char *slash = strchr(d->counter, '/');
	char service[16];
	if (slash == NULL || (size_t)(slash - d->counter) >= sizeof(service))
		return 0;
	memcpy(service, d->counter, (size_t)(slash - d->counter));
	service[slash - d->counter] = '\0';
	struct gw_meter_row m;
	bool found = false;
	x->rc = gw_store_meter_get(x->st, d->serial, d->seq, service, slash + 1, &m, &found, x->err);
	if (x->rc != GW_STORE_OK)
		return 1;
	if (found && m.value == x->value && m.at <= x->until)
		x->settled = true;
	return x->settled ? 1 : 0;
}

/* Did counter service/name (the standard counter `what`) rise from its
 * reading at or before `old` to `value`? 1 yes (why says so), 0 no. */
static int rose(const struct check *k, const char *meaning, const char *service, const char *name,
		const char *what, int64_t value, const struct gw_meter_row *old, char *why, size_t n,
		struct tm_error *err)
{
	if (value == TM_UNSET || what == NULL || !gw_meter_counts_printing(what) ||
	    strcmp(what, meaning) == 0)
		return 0;
	struct gw_meter_row then;
	bool found = false;
	int rc = gw_store_meter_adjacent(k->st, k->rec->report->serial, service, name, old->at,
					 old->at_nsec, INT64_MAX, false, &then, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (!found || value <= then.value)
		return 0;
	snprintf(why, n, "%s/%s rose %" PRId64 " -> %" PRId64, service, name, then.value, value);
	return 1;
}

/* Did a supply of the report fall since the reading `old`? 1 yes (why
 * says which), 0 no. One store call for the report's supplies. */
static int supply_fell(const struct check *k, const struct gw_meter_row *old, char *why, size_t n,
		       struct tm_error *err)
{
	const struct tm_report *r = k->rec->report;
	size_t m = 0;
	for (size_t i = 0; i < r->n_supplies; i++)
		m += r->supplies[i].level >= 0;
	if (m == 0)
		return 0;
	int64_t *idx = calloc(m, sizeof(*idx));
	const struct tm_supply **sup = calloc(m, sizeof(*sup));
	struct gw_supply_hist_row *then = calloc(m, sizeof(*then));
	bool *found = calloc(m, sizeof(*found));
	int rc = GW_STORE_OK;
	if (idx == NULL || sup == NULL || then == NULL || found == NULL)
		rc = tm_error_set(err, "internal.nomem", "meter check: out of memory");
	for (size_t i = 0, j = 0; rc == GW_STORE_OK && i < r->n_supplies; i++)
		if (r->supplies[i].level >= 0) {
			sup[j] = &r->supplies[i];
			idx[j++] = r->supplies[i].index;
		}
	if (rc == GW_STORE_OK)
		rc = gw_store_supply_before_many(k->st, r->serial, m, idx, old->at, old->at_nsec,
						 INT64_MAX, then, found, err);
	for (size_t i = 0; rc == GW_STORE_OK && i < m; i++)
		if (found[i] && then[i].level > sup[i]->level) {
			snprintf(why, n, "supply #%" PRId64 " fell %" PRId64 " -> %" PRId64,
				 sup[i]->index, then[i].level, sup[i]->level);
			rc = 1;
		}
	free(idx);
	free(sup);
	free(then);
	free(found);
	return rc;
}

/* Did the device print between the reading `old` and this report? The
 * status says printing, a counter that counts printing rose (a vendor code
 * as the model maps it), a supply fell. */
static int printed_since(const struct check *k, const char *meaning, const struct gw_meter_row *old,
			 char *why, size_t n, struct tm_error *err)
{
	const struct tm_report *r = k->rec->report;
	if (r->has_status && r->state != NULL && strcmp(r->state, "printing") == 0) {
		snprintf(why, n, "status printing");
		return 1;
	}
	int rc = 0;
	for (int s = 0; s < TM_SVC_COUNT && rc == 0; s++) {
		if (!r->has_service[s])
			continue;
		const struct tm_counter_set *c = &r->service[s];
		const struct { const char *name; int64_t v; } v[] = {
			{ "impressions", c->impressions }, { "impressions_monochrome", c->impressions_monochrome },
			{ "impressions_full_color", c->impressions_full_color },
			{ "impressions_two_sided", c->impressions_two_sided }, { "sheets", c->sheets },
			{ "sheets_two_sided", c->sheets_two_sided },
		};
		const char *svc = tm_counter_service_name((enum tm_counter_service)s);
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]) && rc == 0; i++) {
			char what[GW_BILLING_COUNTER_MAX];
			snprintf(what, sizeof(what), "%s/%s", svc, v[i].name);
			rc = rose(k, meaning, svc, v[i].name, what, v[i].v, old, why, n, err);
		}
	}
	for (size_t i = 0; i < r->n_vendor && rc == 0; i++)
		rc = rose(k, meaning, "vendor", r->vendor[i].id,
			  gw_meter_model_counter(k->model, r->vendor[i].id), r->vendor[i].value, old,
			  why, n, err);
	if (rc == 0)
		rc = supply_fell(k, old, why, n, err);
	return rc;
}

/* Does the stuck rule watch counter service/name (meter_rules.h)? Its
 * meaning in *meaning (buf), NULL when it has none. */
static bool stuck_watched(const struct check *k, const char *service, const char *name,
			  char *buf, size_t n, const char **meaning)
{
	*meaning = gw_meter_meaning(k->model, service, name, buf, n);
	/* (stuck_after is at least a day when read from a file) */
	return *meaning != NULL && gw_meter_stuck_watched(*meaning) && k->svc->stuck_after > 0;
}

/* The stuck rule for one counter of the report (meter_rules.h), whose
 * reading stuck_after ago is old (the newest at or before then). */
static int check_stuck(const struct check *k, const char *service, const char *name,
		       const char *meaning, int64_t value, const struct gw_meter_row *old,
		       struct tm_error *err)
{
	const struct tm_report *r = k->rec->report;
	if (old->value != value)
		return GW_STORE_OK;
	char why[160];
	int rc = printed_since(k, meaning, old, why, sizeof(why), err);
	if (rc <= 0)
		return rc;
	char counter[GW_ALERT_SUBJECT_MAX], detail[GW_ALERT_DETAIL_MAX];
	snprintf(counter, sizeof(counter), "%.15s/%.100s", service, name);
	struct settled_ctx x = { .st = k->st, .serial = r->serial, .counter = counter,
				 .value = value, .until = k->at, .err = err };
	rc = gw_store_meter_decision_list(k->st, find_settled, &x, err);
	if (rc > 0)
		rc = x.rc;
	if (rc != GW_STORE_OK || x.settled)
		return rc;
	snprintf(detail, sizeof(detail),
		 "reading %.64s:%" PRId64 ":%.60s: stuck (%" PRId64 " for %" PRId64 " days; %.80s)",
		 r->serial, r->seq, counter, value, (k->at - old->at) / 86400, why);
	return raise(k->st, k->svc, k->rec, counter, detail, k->at, k->now, err);
}

/* One counter of the report: its steps from the reading before (prev,
 * NULL when none) and to the reading after (next, likewise), and the stuck
 * rule on the reading stuck_after ago (old: NULL when the rule does not
 * apply or there is none). */
static int check_counter(const struct check *k, const char *service, const char *name,
			 int64_t value, const struct gw_meter_row *prev,
			 const struct gw_meter_row *next, const struct gw_meter_row *old,
			 struct tm_error *err)
{
	const struct tm_report *r = k->rec->report;
	int rc = GW_STORE_OK;
	char counter[GW_ALERT_SUBJECT_MAX], detail[GW_ALERT_DETAIL_MAX];
	snprintf(counter, sizeof(counter), "%.15s/%.100s", service, name);
	const char *rule;
	if (prev != NULL && (rule = gw_billing_check_step(prev->value, prev->at, value, k->at,
							  k->rate.ppm)) != NULL) {
		step_detail(k, r->serial, r->seq, counter, rule, value, prev->value, detail,
			    sizeof(detail));
		rc = raise(k->st, k->svc, k->rec, counter, detail, k->at, k->now, err);
	}
	if (rc == GW_STORE_OK && next != NULL &&
	    (rule = gw_billing_check_step(value, k->at, next->value, next->at, k->rate.ppm)) != NULL) {
		step_detail(k, next->serial, next->seq, counter, rule, next->value, value, detail,
			    sizeof(detail));
		rc = raise(k->st, k->svc, k->rec, counter, detail, k->at, k->now, err);
	}
	char buf[GW_BILLING_COUNTER_MAX];
	const char *meaning;
	if (rc == GW_STORE_OK && old != NULL && stuck_watched(k, service, name, buf, sizeof(buf),
							       &meaning))
		rc = check_stuck(k, service, name, meaning, value, old, err);
	return rc;
}

/* The report's counters, in the order they are checked. */
struct counters {
	size_t n;
	struct gw_meter_key key[GW_METER_ADJACENT_MAX];
	int64_t value[GW_METER_ADJACENT_MAX];
};

static void counters_of(const struct tm_report *r, struct counters *c)
{
	static const char *const names[] = {
		"impressions", "impressions_monochrome", "impressions_full_color",
		"impressions_two_sided", "sheets", "sheets_two_sided", "images",
	};
	c->n = 0;
	for (int svc_i = 0; svc_i < TM_SVC_COUNT; svc_i++) {
		if (!r->has_service[svc_i])
			continue;
		const struct tm_counter_set *s = &r->service[svc_i];
		const int64_t v[] = {
			s->impressions, s->impressions_monochrome, s->impressions_full_color,
			s->impressions_two_sided, s->sheets, s->sheets_two_sided, s->images,
		};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]) && c->n < GW_METER_ADJACENT_MAX; i++)
			if (v[i] != TM_UNSET) {
				c->key[c->n] = (struct gw_meter_key){
					tm_counter_service_name((enum tm_counter_service)svc_i), names[i] };
				c->value[c->n++] = v[i];
			}
	}
	for (size_t i = 0; i < r->n_vendor && c->n < GW_METER_ADJACENT_MAX; i++) {
		c->key[c->n] = (struct gw_meter_key){ "vendor", r->vendor[i].id };
		c->value[c->n++] = r->vendor[i].value;
	}
}

/* The report's counters the stuck rule watches (those that did not move
 * since prev, when prev is not NULL): their keys in stuck, their indexes
 * in c in stuck_of; how many. */
static size_t watched(const struct check *k, const struct counters *c,
		      const struct gw_meter_row *prev, const bool *has_prev,
		      struct gw_meter_key *stuck, size_t *stuck_of)
{
	size_t ns = 0;
	for (size_t i = 0; i < c->n; i++) {
		char buf[GW_BILLING_COUNTER_MAX];
		const char *meaning;
		if ((prev == NULL || (has_prev[i] && prev[i].value == c->value[i])) &&
		    stuck_watched(k, c->key[i].service, c->key[i].name, buf, sizeof(buf), &meaning)) {
			stuck_of[ns] = i;
			stuck[ns++] = c->key[i];
		}
	}
	return ns;
}

/* A report's check between the reads it asks and its run (meter_check.h). */
struct gw_meter_prep {
	struct check k;
	struct counters c;
	struct gw_meter_row *rows;     /* four a counter: before, after, then, as asked */
	struct gw_meter_row *prev, *next, *old, *got;
	bool has_prev[GW_METER_ADJACENT_MAX], has_next[GW_METER_ADJACENT_MAX];
	bool has_old[GW_METER_ADJACENT_MAX], had[GW_METER_ADJACENT_MAX];
	struct gw_meter_key stuck[GW_METER_ADJACENT_MAX];
	size_t stuck_of[GW_METER_ADJACENT_MAX], ns;
	bool remote;
	struct gw_meter_ask asks[3];
};

int gw_meter_check_prepare(struct gw_store *st, const struct gw_service_config *svc,
			   const struct gw_store_record *rec, int64_t now,
			   struct gw_meter_prep **out, struct tm_error *err)
{
	*out = NULL;
	const struct tm_report *r = rec->report;
	if (!r->has_counters)
		return GW_STORE_OK;
	struct gw_meter_prep *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "meter check: out of memory");
	struct check *k = &p->k;
	*k = (struct check){ .st = st, .svc = svc, .rec = rec, .now = now };
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &k->at, &k->nsec, err) < 0) {
		free(p);
		return GW_STORE_ERROR;
	}
	k->model = gw_meter_models_find(svc->models, r->manufacturer, r->model);
	gw_meter_rate_of(k->model, svc->speed_margin, &k->rate);
	struct counters *c = &p->c;
	counters_of(r, c);
	/* a row is some 450 bytes: as many as the report has counters, not
	 * GW_METER_ADJACENT_MAX */
	size_t m = c->n > 0 ? c->n : 1;
	p->rows = calloc(4 * m, sizeof(*p->rows));
	if (p->rows == NULL) {
		free(p);
		return tm_error_set(err, "internal.nomem", "meter check: out of memory");
	}
	p->prev = p->rows;
	p->next = p->prev + m;
	p->old = p->next + m;
	p->got = p->old + m;
	/* every counter's neighbours: one ask for the report, not two a
	 * counter; on a server, with the readings stuck_after ago of every
	 * counter the stuck rule watches, moved or not (one round trip, not
	 * two); in process those are asked at the run, for the counters that
	 * did not move only */
	p->remote = gw_store_remote(st);
	if (p->remote)
		p->ns = watched(k, c, NULL, NULL, p->stuck, p->stuck_of);
	p->asks[0] = (struct gw_meter_ask){ c->n, c->key, k->at, k->nsec, r->seq, false, p->prev,
					    p->has_prev };
	p->asks[1] = (struct gw_meter_ask){ c->n, c->key, k->at, k->nsec, r->seq, true, p->next,
					    p->has_next };
	p->asks[2] = (struct gw_meter_ask){ p->ns, p->stuck, k->at - svc->stuck_after, k->nsec,
					    INT64_MAX, false, p->got, p->had };
	*out = p;
	return GW_STORE_OK;
}

const struct gw_meter_ask *gw_meter_check_asks(const struct gw_meter_prep *p, size_t *n)
{
	*n = p->remote ? 3 : 2;
	return p->asks;
}

int gw_meter_check_run(struct gw_meter_prep *p, struct tm_error *err)
{
	struct check *k = &p->k;
	const struct counters *c = &p->c;
	int rc = GW_STORE_OK;
	if (!p->remote && (p->ns = watched(k, c, p->prev, p->has_prev, p->stuck, p->stuck_of)) > 0) {
		p->asks[2].n = p->ns;
		rc = gw_store_meter_adjacent_asks(k->st, k->rec->report->serial, 1, &p->asks[2], err);
	}
	/* the stuck rule reads the old reading of a watched counter that did
	 * not move since the reading before */
	for (size_t j = 0; rc == GW_STORE_OK && j < p->ns; j++) {
		size_t i = p->stuck_of[j];
		if (p->had[j] && p->has_prev[i] && p->prev[i].value == c->value[i]) {
			p->old[i] = p->got[j];
			p->has_old[i] = true;
		}
	}
	for (size_t i = 0; rc == GW_STORE_OK && i < c->n; i++)
		rc = check_counter(k, c->key[i].service, c->key[i].name, c->value[i],
				   p->has_prev[i] ? &p->prev[i] : NULL,
				   p->has_next[i] ? &p->next[i] : NULL,
				   p->has_old[i] ? &p->old[i] : NULL, err);
	return rc;
}

void gw_meter_check_free(struct gw_meter_prep *p)
{
	if (p == NULL)
		return;
	free(p->rows);
	free(p);
}

int gw_meter_check_settled(struct gw_store *st, const struct gw_service_config *svc,
			   const char *serial, const char *counter, int64_t now,
			   struct tm_error *err)
{
	struct gw_alerts_device dev;
	gw_alerts_device_init(&dev, st, serial, 0);
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_alerts_device_find(&dev, "meter_suspect", counter, &a, &found, err);
	if (rc == GW_STORE_OK && found) {
		a.state = GW_ALERT_RESOLVED;
		a.resolved_at = now;
		rc = gw_alerts_device_update(&dev, &a, err);
		if (rc == GW_STORE_OK)
			rc = gw_notify_enqueue(st, svc, &a, "resolved", now, err);
	}
	gw_alerts_device_fini(&dev);
	return rc;
}

int gw_meter_decide(struct gw_store *st, const struct gw_service_config *svc,
		    const char *reading, bool exclude, const char *actor, int64_t now,
		    struct tm_error *err)
{
	struct gw_meter_decision_row d = { .exclude = exclude, .at = now };
	const char *c1 = reading != NULL ? strchr(reading, ':') : NULL;
	const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	char *end = NULL;
	if (c2 != NULL) {
		d.seq = strtoll(c1 + 1, &end, 10);
	}
	if (c2 == NULL || end != c2 || d.seq < 1 || c1 == reading || (size_t)(c1 - reading) > GW_NAME_MAX ||
	    c2[1] == '\0' || strlen(c2 + 1) >= sizeof(d.counter))
		return tm_error_set(err, "billing.bad_reading",
				    "reading '%.100s': want SERIAL:SEQ:COUNTER (as billing flags it)",
				    reading != NULL ? reading : "");
	memcpy(d.serial, reading, (size_t)(c1 - reading));
	snprintf(d.counter, sizeof(d.counter), "%s", c2 + 1);
	char local[64];
	if (actor == NULL) {
		gw_audit_actor_local(local);
		actor = local;
	}
	snprintf(d.actor, sizeof(d.actor), "%s", actor);
	/* the counter is "service/name" ("vendor/101": service vendor, name 101) */
	char service[16];
	const char *slash = strchr(d.counter, '/');
	if (slash == NULL || (size_t)(slash - d.counter) >= sizeof(service))
		return tm_error_set(err, "billing.bad_reading", "reading '%.100s': no such reading",
				    reading);
	memcpy(service, d.counter, (size_t)(slash - d.counter));
	service[slash - d.counter] = '\0';
	struct gw_meter_row m;
	bool found = false;
	int rc = gw_store_meter_get(st, d.serial, d.seq, service, slash + 1, &m, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (!found)
		return tm_error_set(err, "billing.bad_reading", "reading '%.100s': no such reading",
				    reading);
	rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_store_meter_decision_set(st, &d, err);
	if (rc == GW_STORE_OK) {
		char object[160];
		snprintf(object, sizeof(object), "reading %.64s:%" PRId64 ":%.60s", d.serial, d.seq,
			 d.counter);
		rc = gw_audit_append(st, actor, exclude ? "meter.exclude" : "meter.accept", object,
				     m.tenant, NULL, NULL, now, err);
	}
	if (rc == GW_STORE_OK)
		rc = gw_meter_check_settled(st, svc, d.serial, d.counter, now, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

/* telemail — struct tm_report → the canonical record (compact JSON with
 * sorted keys, written by json_emit.c).
 *
 * Record layout (keys sorted when written; "?" marks a member that is left
 * out when the report has no value for it — absent is omitted, never null,
 * except where null is written below):
 *
 * {"schema_version": 1,
 *  "report":   {"id", "seq", "kind", "generated_at" (UTC), "agent",
 *               "trigger"?: {"cause", "subject"?},
 *               "outbox_gap" (0 when absent)},
 *  "device":   {"serial", "manufacturer"?, "model"?, "name"?, "location"?,
 *               "ip"?, "mac"?, "firmware"?: {component: version, ...}},
 *  "status"?:  {"state", "conditions": [...] (always, may be []), "since"? (UTC)},
 *  "counters"?: {"total"?: {...}, "print"?, "copy"?, "scan"?, "fax"?
 *               (each {counter: value} with only the counters reported),
 *               "vendor"?: [{"id", "name"?, "unit"?, "value"}]},
 *  "supplies"?: [{"index", "type", "colorant"?, "description"?, "unit"?,
 *               "max_capacity" (number >= 0, else null),
 *               "max_capacity_state" ("value" | "no_restriction" (-1) |
 *                                     "unknown" (-2 or not reported)),
 *               "level" (number >= 0, else null),
 *               "level_state" ("value" | "other" (-1) | "unknown" (-2) |
 *                              "some_remaining" (-3)),
 *               "percent" (0..100 when level >= 0 and max_capacity > 0:
 *                          round half up of level*100/max_capacity, capped
 *                          at 100; else null),
 *               "part_number"?}],
 *  "parts"?:   [{"name", "used", "rated_life"?, "unit"?,
 *               "life_used_percent" (round half up of used*100/rated_life
 *                  when rated_life > 0, not capped: a part past its life
 *                  shows > 100; else null)}],
 *  "alerts"?:  [{"code", "sub_code"?, "severity", "group"?, "location"?,
 *               "description"?, "time"? (UTC), "counter"?}],
 *  "diagnostics"?: {name: value, ...},
 *  "collector"?: {"devices", "unreachable_count",
 *               "unreachable": [{"address", "serial"?, "reason", "since" (UTC),
 *                                "detail"?}] (in the report's order, may be [])}}
 *
 * A section is present when the report had it (status, counters, lists and
 * diagnostics follow the model's has_* flags; an empty list stays []).
 * Times go through tm_time_to_utc: "YYYY-MM-DDTHH:MM:SSZ", plus ".mmm" when
 * the source had a fraction (truncated to milliseconds). Floats (only in
 * diagnostics) are printed with the smallest precision that reproduces every
 * float of the record exactly, so the bytes depend on the values only.
 * Two firmware entries for one component, or two diagnostics with one name,
 * would collapse in a JSON object: report.schema instead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "report/json_emit.h"

/* ---- record building ------------------------------------------------------------ */

/* Members are written in the order below (which decides which error comes
 * first when a report has several); the writer puts each object's keys in
 * order when it closes. */

static void opt_str(struct tm_je *j, const char *k, const char *s, const char *path)
{
	if (s != NULL) {
		tm_je_key(j, k, path);
		tm_je_str(j, s, path);
	}
}

static void opt_int(struct tm_je *j, const char *k, int64_t i)
{
	if (i != TM_UNSET) {
		tm_je_key(j, k, k);
		tm_je_int(j, i);
	}
}

static void key_str(struct tm_je *j, const char *k, const char *s, const char *path)
{
	tm_je_key(j, k, path);
	tm_je_str(j, s != NULL ? s : "", path);
}

static void key_int(struct tm_je *j, const char *k, int64_t i)
{
	tm_je_key(j, k, k);
	tm_je_int(j, i);
}

static void key_int_or_null(struct tm_je *j, const char *k, int64_t i, bool cond)
{
	tm_je_key(j, k, k);
	if (cond)
		tm_je_int(j, i);
	else
		tm_je_null(j);
}

static void key_utc(struct tm_je *j, const char *k, const char *t, const char *path)
{
	char buf[32];
	if (j->failed)
		return;
	if (tm_time_to_utc(t, buf, NULL, j->err) < 0) {
		tm_error_prefix(j->err, "%s", path);
		j->failed = true;
		return;
	}
	tm_je_key(j, k, path);
	tm_je_str(j, buf, path);
}

/* round half up of a*100/b, for a >= 0, b > 0 */
static int64_t percent_of(int64_t a, int64_t b)
{
	if (a > INT64_MAX / 100)
		return (int64_t)((double)a * 100.0 / (double)b + 0.5);
	int64_t q = a * 100 / b;
	int64_t r = a * 100 % b;
	return r >= b - r ? q + 1 : q;
}

/* The smallest i whose key equals that of an earlier item (n when none):
 * what a JSON object would collapse. Sorted, so many items stay cheap. */
struct keyed {
	const char *key;
	size_t i;
};

static int by_key_then_index(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

static int first_repeat(struct tm_je *j, size_t n, const char *(*key)(const void *, size_t),
			const void *items, size_t *out)
{
	*out = n;
	if (n < 2)
		return 0;
	struct keyed *k = malloc(n * sizeof(*k));
	if (k == NULL)
		return tm_je_fail(j, "internal.nomem", "normalize: out of memory");
	for (size_t i = 0; i < n; i++)
		k[i] = (struct keyed){ .key = key(items, i), .i = i };
	qsort(k, n, sizeof(*k), by_key_then_index);
	for (size_t i = 1; i < n; i++)
		if (strcmp(k[i - 1].key, k[i].key) == 0 && k[i].i < *out &&
		    (i < 2 || strcmp(k[i - 2].key, k[i].key) != 0))
			*out = k[i].i; /* the second of its group */
	free(k);
	return 0;
}

static void report_part(struct tm_je *j, const struct tm_report *r)
{
	const char *kind = tm_report_kind_name(r->kind);
	tm_je_key(j, "report", "report");
	tm_je_obj_begin(j);
	key_str(j, "id", r->id, "report/id");
	key_int(j, "seq", r->seq);
	key_str(j, "kind", kind, "report/kind");
	key_utc(j, "generated_at", r->generated_at, "report/generated_at");
	key_str(j, "agent", r->agent, "report/agent");
	if (r->trigger_cause != NULL) {
		tm_je_key(j, "trigger", "report/trigger");
		tm_je_obj_begin(j);
		key_str(j, "cause", r->trigger_cause, "report/trigger/cause");
		opt_str(j, "subject", r->trigger_subject, "report/trigger/subject");
		tm_je_obj_end(j);
	}
	key_int(j, "outbox_gap", r->outbox_gap == TM_UNSET ? 0 : r->outbox_gap);
	tm_je_obj_end(j);
}

static const char *firmware_key(const void *items, size_t i)
{
	const struct tm_firmware *f = (const struct tm_firmware *)items + i;
	return f->component ? f->component : "";
}

static void device_part(struct tm_je *j, const struct tm_report *r)
{
	tm_je_key(j, "device", "device");
	tm_je_obj_begin(j);
	key_str(j, "serial", r->serial, "device/serial");
	opt_str(j, "manufacturer", r->manufacturer, "device/manufacturer");
	opt_str(j, "model", r->model, "device/model");
	opt_str(j, "name", r->name, "device/name");
	opt_str(j, "location", r->location, "device/location");
	opt_str(j, "ip", r->ip, "device/ip");
	opt_str(j, "mac", r->mac, "device/mac");
	if (r->n_firmware > 0) {
		size_t twice;
		if (first_repeat(j, r->n_firmware, firmware_key, r->firmware, &twice) < 0)
			return;
		tm_je_key(j, "firmware", "device/firmware");
		tm_je_obj_begin(j);
		for (size_t i = 0; i < r->n_firmware && !j->failed; i++) {
			const char *comp = firmware_key(r->firmware, i);
			if (i == twice) {
				tm_je_fail(j, "report.schema",
					   "device/firmware/%zu: component '%.64s' appears twice", i, comp);
				break;
			}
			key_str(j, comp, r->firmware[i].version, "device/firmware");
		}
		tm_je_obj_end(j);
	}
	tm_je_obj_end(j);
}

static void status_part(struct tm_je *j, const struct tm_report *r)
{
	tm_je_key(j, "status", "status");
	tm_je_obj_begin(j);
	key_str(j, "state", r->state, "status/state");
	tm_je_key(j, "conditions", "status/conditions");
	tm_je_arr_begin(j);
	for (size_t i = 0; i < r->n_conditions; i++)
		tm_je_str(j, r->conditions[i] ? r->conditions[i] : "", "status/conditions");
	tm_je_arr_end(j);
	if (r->status_since != NULL)
		key_utc(j, "since", r->status_since, "status/since");
	tm_je_obj_end(j);
}

static void counters_part(struct tm_je *j, const struct tm_report *r)
{
	tm_je_key(j, "counters", "counters");
	tm_je_obj_begin(j);
	for (int s = 0; s < TM_SVC_COUNT; s++) {
		if (!r->has_service[s])
			continue;
		const struct tm_counter_set *cs = &r->service[s];
		tm_je_key(j, tm_counter_service_name((enum tm_counter_service)s), "counters");
		tm_je_obj_begin(j);
		opt_int(j, "impressions", cs->impressions);
		opt_int(j, "impressions_monochrome", cs->impressions_monochrome);
		opt_int(j, "impressions_full_color", cs->impressions_full_color);
		opt_int(j, "impressions_two_sided", cs->impressions_two_sided);
		opt_int(j, "sheets", cs->sheets);
		opt_int(j, "sheets_two_sided", cs->sheets_two_sided);
		opt_int(j, "images", cs->images);
		tm_je_obj_end(j);
	}
	if (r->n_vendor > 0) {
		tm_je_key(j, "vendor", "counters/vendor");
		tm_je_arr_begin(j);
		for (size_t i = 0; i < r->n_vendor; i++) {
			const struct tm_vendor_counter *v = &r->vendor[i];
			tm_je_obj_begin(j);
			key_str(j, "id", v->id, "counters/vendor/id");
			opt_str(j, "name", v->name, "counters/vendor/name");
			opt_str(j, "unit", v->unit, "counters/vendor/unit");
			key_int(j, "value", v->value);
			tm_je_obj_end(j);
		}
		tm_je_arr_end(j);
	}
	tm_je_obj_end(j);
}

static void supply(struct tm_je *j, const void *p)
{
	static const char *const level_states[] = { "some_remaining", "unknown", "other" };
	const struct tm_supply *s = p;
	tm_je_obj_begin(j);
	key_int(j, "index", s->index);
	key_str(j, "type", s->type, "supplies/type");
	opt_str(j, "colorant", s->colorant, "supplies/colorant");
	opt_str(j, "description", s->description, "supplies/description");
	opt_str(j, "unit", s->unit, "supplies/unit");
	key_int_or_null(j, "max_capacity", s->max_capacity, s->max_capacity >= 0);
	key_str(j, "max_capacity_state",
		s->max_capacity >= 0 ? "value" :
		s->max_capacity == TM_LEVEL_OTHER ? "no_restriction" : "unknown", "supplies");
	key_int_or_null(j, "level", s->level, s->level >= 0);
	const char *ls = "unknown";
	if (s->level >= 0)
		ls = "value";
	else if (s->level >= TM_LEVEL_SOME_REMAINING)
		ls = level_states[s->level - TM_LEVEL_SOME_REMAINING];
	key_str(j, "level_state", ls, "supplies");
	bool has_pct = s->level >= 0 && s->max_capacity > 0;
	int64_t pct = 0;
	if (has_pct) {
		pct = s->level >= s->max_capacity ? 100 : percent_of(s->level, s->max_capacity);
		if (pct > 100)
			pct = 100;
	}
	key_int_or_null(j, "percent", pct, has_pct);
	opt_str(j, "part_number", s->part_number, "supplies/part_number");
	tm_je_obj_end(j);
}

static void part(struct tm_je *j, const void *q)
{
	const struct tm_part *p = q;
	tm_je_obj_begin(j);
	key_str(j, "name", p->name, "parts/name");
	key_int(j, "used", p->used);
	opt_int(j, "rated_life", p->rated_life);
	opt_str(j, "unit", p->unit, "parts/unit");
	bool has = p->rated_life != TM_UNSET && p->rated_life > 0 && p->used >= 0;
	key_int_or_null(j, "life_used_percent", has ? percent_of(p->used, p->rated_life) : 0, has);
	tm_je_obj_end(j);
}

static void alert(struct tm_je *j, const void *p)
{
	const struct tm_alert *a = p;
	tm_je_obj_begin(j);
	key_str(j, "code", a->code, "alerts/code");
	opt_str(j, "sub_code", a->sub_code, "alerts/sub_code");
	key_str(j, "severity", a->severity, "alerts/severity");
	opt_str(j, "group", a->group, "alerts/group");
	opt_int(j, "location", a->location);
	opt_str(j, "description", a->description, "alerts/description");
	if (a->time != NULL)
		key_utc(j, "time", a->time, "alerts/time");
	opt_int(j, "counter", a->counter);
	tm_je_obj_end(j);
}

static void unreachable(struct tm_je *j, const void *p)
{
	const struct tm_unreachable *u = p;
	tm_je_obj_begin(j);
	key_str(j, "address", u->address, "collector/unreachable/address");
	opt_str(j, "serial", u->serial, "collector/unreachable/serial");
	key_str(j, "reason", u->reason, "collector/unreachable/reason");
	key_utc(j, "since", u->since, "collector/unreachable/since");
	opt_str(j, "detail", u->detail, "collector/unreachable/detail");
	tm_je_obj_end(j);
}

static void list(struct tm_je *j, const char *key, size_t n, const void *items, size_t size,
		 void (*one)(struct tm_je *, const void *))
{
	tm_je_key(j, key, key);
	tm_je_arr_begin(j);
	for (size_t i = 0; i < n && !j->failed; i++)
		one(j, (const char *)items + i * size);
	tm_je_arr_end(j);
}

/* Smallest "%.Ng" precision that reproduces d. */
static int shortest_prec(double d)
{
	char tmp[40];
	for (int prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			return prec;
	}
	return 17;
}

static const char *diag_key(const void *items, size_t i)
{
	const struct tm_diag *d = (const struct tm_diag *)items + i;
	return d->name ? d->name : "";
}

static void diagnostics_part(struct tm_je *j, const struct tm_report *r)
{
	/* one precision for every real of the record: the bytes depend on the
	 * values only */
	int prec = 1;
	for (size_t i = 0; i < r->n_diagnostics; i++) {
		const struct tm_diag *d = &r->diagnostics[i];
		int p = d->type == TM_DIAG_FLOAT && isfinite(d->f) ? shortest_prec(d->f) : 0;
		if (p > prec)
			prec = p;
	}
	size_t twice;
	if (first_repeat(j, r->n_diagnostics, diag_key, r->diagnostics, &twice) < 0)
		return;
	tm_je_key(j, "diagnostics", "diagnostics");
	tm_je_obj_begin(j);
	for (size_t i = 0; i < r->n_diagnostics && !j->failed; i++) {
		const struct tm_diag *d = &r->diagnostics[i];
		const char *name = diag_key(r->diagnostics, i);
		if (i == twice) {
			tm_je_fail(j, "report.schema", "diagnostics/%.64s: name appears twice", name);
			break;
		}
		if (d->type == TM_DIAG_FLOAT && !isfinite(d->f)) {
			tm_je_fail(j, "report.bad_number", "diagnostics/%.64s: not a finite number", name);
			break;
		}
		tm_je_key(j, name, "diagnostics");
		switch (d->type) {
		case TM_DIAG_STRING:
			tm_je_str(j, d->s ? d->s : "", "diagnostics");
			break;
		case TM_DIAG_INT:
			tm_je_int(j, d->i);
			break;
		case TM_DIAG_FLOAT:
			tm_je_real(j, d->f, prec);
			break;
		case TM_DIAG_BOOL:
			tm_je_bool(j, d->b);
			break;
		}
	}
	tm_je_obj_end(j);
}

int tm_report_normalize(const struct tm_report *r, struct tm_buf *out, struct tm_error *err)
{
	struct tm_je j;
	tm_je_init(&j, out, err);
	tm_je_obj_begin(&j);
	key_int(&j, "schema_version", TM_SCHEMA_VERSION);
	report_part(&j, r);
	device_part(&j, r);
	if (r->has_status)
		status_part(&j, r);
	if (r->has_counters)
		counters_part(&j, r);
	if (r->has_supplies)
		list(&j, "supplies", r->n_supplies, r->supplies, sizeof(*r->supplies), supply);
	if (r->has_parts)
		list(&j, "parts", r->n_parts, r->parts, sizeof(*r->parts), part);
	if (r->has_alerts)
		list(&j, "alerts", r->n_alerts, r->alerts, sizeof(*r->alerts), alert);
	if (r->has_diagnostics)
		diagnostics_part(&j, r);
	if (r->has_collector) {
		tm_je_key(&j, "collector", "collector");
		tm_je_obj_begin(&j);
		key_int(&j, "devices", r->collector_devices);
		key_int(&j, "unreachable_count", r->unreachable_count);
		list(&j, "unreachable", r->n_unreachable, r->unreachable, sizeof(*r->unreachable), unreachable);
		tm_je_obj_end(&j);
	}
	tm_je_obj_end(&j);
	return tm_je_finish(&j);
}

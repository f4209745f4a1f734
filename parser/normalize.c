/* telemail — struct tm_report → the canonical record (compact JSON, jansson).
 *
 * Record layout (keys sorted by json_dumps; "?" marks a member that is left
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
 *  "diagnostics"?: {name: value, ...}}
 *
 * A section is present when the report had it (status, counters, lists and
 * diagnostics follow the model's has_* flags; an empty list stays []).
 * Times go through tm_time_to_utc: "YYYY-MM-DDTHH:MM:SSZ", plus ".mmm" when
 * the source had a fraction (truncated to milliseconds). Floats (only in
 * diagnostics) are printed with the smallest precision that reproduces every
 * float of the record exactly, so the bytes depend on the values only.
 * Two firmware entries for one component, or two diagnostics with one name,
 * would collapse in a JSON object: report.schema instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

/* ---- time ------------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int tm_time_to_utc(const char *text, char out[32], int64_t *unix_seconds, struct tm_error *err)
{
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
	int ms = 0, has_frac = 0;
	const char *p = text;
	const char *why = "not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.f](Z|+hh:mm))";

	if (text == NULL)
		return tm_error_set(err, "report.schema", "time: missing");
	if (strnlen(text, 64) >= 64)
		goto bad;
	if (digits(p, 4, &y) < 0 || p[4] != '-' || digits(p + 5, 2, &mo) < 0 || p[7] != '-' ||
	    digits(p + 8, 2, &d) < 0 || p[10] != 'T' || digits(p + 11, 2, &h) < 0 ||
	    p[13] != ':' || digits(p + 14, 2, &mi) < 0 || p[16] != ':' ||
	    digits(p + 17, 2, &s) < 0)
		goto bad;
	p += 19;
	if (*p == '.') {
		int n = 0;
		p++;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 9) {
			why = "the fraction of a second must have 1 to 9 digits";
			goto bad;
		}
		for (int i = 0; i < 3; i++)
			ms = ms * 10 + (i < n ? p[i] - '0' : 0);
		has_frac = 1;
		p += n;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (digits(p + 1, 2, &oh) < 0 || p[3] != ':' || digits(p + 4, 2, &om) < 0)
			goto bad;
		if (oh > 23 || om > 59) {
			why = "the offset is out of range";
			goto bad;
		}
		p += 6;
	} else {
		goto bad;
	}
	if (*p != '\0')
		goto bad;
	if (mo < 1 || mo > 12) {
		why = "month out of range";
		goto bad;
	}
	if (d < 1 || d > days_in_month(y, mo)) {
		why = "day out of range for the month";
		goto bad;
	}
	if (h > 23 || mi > 59 || s > 60) {
		why = "time of day out of range";
		goto bad;
	}
	if (s == 60)
		s = 59; /* a leap second: POSIX time has none */

	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t rem = t - days * 86400;
	int64_t uy;
	int um, ud;
	civil_from_days(days, &uy, &um, &ud);
	if (uy < 0 || uy > 9999) {
		why = "the time in UTC is outside years 0000-9999";
		goto bad;
	}
	if (out != NULL) {
		int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d", (int)uy, um, ud,
				 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
		if (has_frac)
			snprintf(out + n, 32 - (size_t)n, ".%03dZ", ms);
		else
			snprintf(out + n, 32 - (size_t)n, "Z");
	}
	if (unix_seconds != NULL)
		*unix_seconds = t;
	return 0;
bad:
	return tm_error_set(err, "report.schema", "time '%.64s': %s", text, why);
}

/* ---- record building ------------------------------------------------------------ */

struct norm {
	struct tm_error *err;
	int failed;
	int float_prec; /* JSON_REAL_PRECISION for the whole record */
};

static json_t *nomem(struct norm *c)
{
	if (!c->failed)
		tm_error_set(c->err, "internal.nomem", "normalize: out of memory");
	c->failed = 1;
	return NULL;
}

/* Sets o[k] = v (takes v); a NULL v means a failure already recorded. */
static void set(struct norm *c, json_t *o, const char *k, json_t *v)
{
	if (v == NULL) {
		c->failed = 1;
		return;
	}
	if (json_object_set_new(o, k, v) < 0)
		nomem(c);
}

static void append(struct norm *c, json_t *a, json_t *v)
{
	if (v == NULL) {
		c->failed = 1;
		return;
	}
	if (json_array_append_new(a, v) < 0)
		nomem(c);
}

static json_t *str(struct norm *c, const char *s, const char *path)
{
	json_t *v = json_string(s);
	if (v == NULL && !c->failed) {
		c->failed = 1;
		tm_error_set(c->err, "report.encoding", "%s: string is not valid UTF-8", path);
	}
	return v;
}

static json_t *num(struct norm *c, int64_t i)
{
	json_t *v = json_integer((json_int_t)i);
	return v ? v : nomem(c);
}

static json_t *obj(struct norm *c)
{
	json_t *v = json_object();
	return v ? v : nomem(c);
}

static json_t *arr(struct norm *c)
{
	json_t *v = json_array();
	return v ? v : nomem(c);
}

static json_t *null_or(struct norm *c, int64_t i, int cond)
{
	return cond ? num(c, i) : json_null();
}

static void opt_str(struct norm *c, json_t *o, const char *k, const char *s, const char *path)
{
	if (s != NULL && o != NULL)
		set(c, o, k, str(c, s, path));
}

static void opt_int(struct norm *c, json_t *o, const char *k, int64_t i)
{
	if (i != TM_UNSET && o != NULL)
		set(c, o, k, num(c, i));
}

static json_t *utc(struct norm *c, const char *t, const char *path)
{
	char buf[32];
	if (tm_time_to_utc(t, buf, NULL, c->err) < 0) {
		if (!c->failed)
			tm_error_prefix(c->err, "%s", path);
		c->failed = 1;
		return NULL;
	}
	return str(c, buf, path);
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

static json_t *report_part(struct norm *c, const struct tm_report *r)
{
	json_t *o = obj(c);
	if (o == NULL)
		return NULL;
	set(c, o, "id", str(c, r->id ? r->id : "", "report/id"));
	set(c, o, "seq", num(c, r->seq));
	set(c, o, "kind", str(c, tm_report_kind_name(r->kind) ? tm_report_kind_name(r->kind) : "",
			      "report/kind"));
	set(c, o, "generated_at", utc(c, r->generated_at, "report/generated_at"));
	set(c, o, "agent", str(c, r->agent ? r->agent : "", "report/agent"));
	if (r->trigger_cause != NULL) {
		json_t *t = obj(c);
		if (t != NULL) {
			set(c, t, "cause", str(c, r->trigger_cause, "report/trigger/cause"));
			opt_str(c, t, "subject", r->trigger_subject, "report/trigger/subject");
		}
		set(c, o, "trigger", t);
	}
	set(c, o, "outbox_gap", num(c, r->outbox_gap == TM_UNSET ? 0 : r->outbox_gap));
	return o;
}

static json_t *device_part(struct norm *c, const struct tm_report *r)
{
	json_t *o = obj(c);
	if (o == NULL)
		return NULL;
	set(c, o, "serial", str(c, r->serial ? r->serial : "", "device/serial"));
	opt_str(c, o, "manufacturer", r->manufacturer, "device/manufacturer");
	opt_str(c, o, "model", r->model, "device/model");
	opt_str(c, o, "name", r->name, "device/name");
	opt_str(c, o, "location", r->location, "device/location");
	opt_str(c, o, "ip", r->ip, "device/ip");
	opt_str(c, o, "mac", r->mac, "device/mac");
	if (r->n_firmware > 0) {
		json_t *fw = obj(c);
		for (size_t i = 0; fw != NULL && i < r->n_firmware && !c->failed; i++) {
			const char *comp = r->firmware[i].component ? r->firmware[i].component : "";
			if (json_object_get(fw, comp) != NULL) {
				c->failed = 1;
				tm_error_set(c->err, "report.schema",
					     "device/firmware/%zu: component '%.64s' appears twice", i, comp);
				break;
			}
			set(c, fw, comp, str(c, r->firmware[i].version ? r->firmware[i].version : "",
					     "device/firmware"));
		}
		set(c, o, "firmware", fw);
	}
	return o;
}

static json_t *status_part(struct norm *c, const struct tm_report *r)
{
	json_t *o = obj(c);
	json_t *conds = arr(c);
	if (o == NULL || conds == NULL) {
		json_decref(o);
		json_decref(conds);
		return NULL;
	}
	set(c, o, "state", str(c, r->state ? r->state : "", "status/state"));
	for (size_t i = 0; i < r->n_conditions; i++)
		append(c, conds, str(c, r->conditions[i] ? r->conditions[i] : "", "status/conditions"));
	set(c, o, "conditions", conds);
	if (r->status_since != NULL)
		set(c, o, "since", utc(c, r->status_since, "status/since"));
	return o;
}

static json_t *counters_part(struct norm *c, const struct tm_report *r)
{
	json_t *o = obj(c);
	if (o == NULL)
		return NULL;
	for (int s = 0; s < TM_SVC_COUNT; s++) {
		if (!r->has_service[s])
			continue;
		const struct tm_counter_set *cs = &r->service[s];
		json_t *so = obj(c);
		opt_int(c, so, "impressions", cs->impressions);
		opt_int(c, so, "impressions_monochrome", cs->impressions_monochrome);
		opt_int(c, so, "impressions_full_color", cs->impressions_full_color);
		opt_int(c, so, "impressions_two_sided", cs->impressions_two_sided);
		opt_int(c, so, "sheets", cs->sheets);
		opt_int(c, so, "sheets_two_sided", cs->sheets_two_sided);
		opt_int(c, so, "images", cs->images);
		set(c, o, tm_counter_service_name((enum tm_counter_service)s), so);
	}
	if (r->n_vendor > 0) {
		json_t *va = arr(c);
		for (size_t i = 0; va != NULL && i < r->n_vendor; i++) {
			const struct tm_vendor_counter *v = &r->vendor[i];
			json_t *vo = obj(c);
			if (vo != NULL) {
				set(c, vo, "id", str(c, v->id ? v->id : "", "counters/vendor/id"));
				opt_str(c, vo, "name", v->name, "counters/vendor/name");
				opt_str(c, vo, "unit", v->unit, "counters/vendor/unit");
				set(c, vo, "value", num(c, v->value));
			}
			append(c, va, vo);
		}
		set(c, o, "vendor", va);
	}
	return o;
}

static json_t *supply(struct norm *c, const struct tm_supply *s)
{
	static const char *const level_states[] = { "some_remaining", "unknown", "other" };
	json_t *o = obj(c);
	if (o == NULL)
		return NULL;
	set(c, o, "index", num(c, s->index));
	set(c, o, "type", str(c, s->type ? s->type : "", "supplies/type"));
	opt_str(c, o, "colorant", s->colorant, "supplies/colorant");
	opt_str(c, o, "description", s->description, "supplies/description");
	opt_str(c, o, "unit", s->unit, "supplies/unit");
	set(c, o, "max_capacity", null_or(c, s->max_capacity, s->max_capacity >= 0));
	set(c, o, "max_capacity_state",
	    json_string(s->max_capacity >= 0 ? "value" :
			s->max_capacity == TM_LEVEL_OTHER ? "no_restriction" : "unknown"));
	set(c, o, "level", null_or(c, s->level, s->level >= 0));
	const char *ls = "unknown";
	if (s->level >= 0)
		ls = "value";
	else if (s->level >= TM_LEVEL_SOME_REMAINING)
		ls = level_states[s->level - TM_LEVEL_SOME_REMAINING];
	set(c, o, "level_state", json_string(ls));
	int has_pct = s->level >= 0 && s->max_capacity > 0;
	int64_t pct = 0;
	if (has_pct) {
		pct = s->level >= s->max_capacity ? 100 : percent_of(s->level, s->max_capacity);
		if (pct > 100)
			pct = 100;
	}
	set(c, o, "percent", null_or(c, pct, has_pct));
	opt_str(c, o, "part_number", s->part_number, "supplies/part_number");
	return o;
}

static json_t *part(struct norm *c, const struct tm_part *p)
{
	json_t *o = obj(c);
	if (o == NULL)
		return NULL;
	set(c, o, "name", str(c, p->name ? p->name : "", "parts/name"));
	set(c, o, "used", num(c, p->used));
	opt_int(c, o, "rated_life", p->rated_life);
	opt_str(c, o, "unit", p->unit, "parts/unit");
	int has = p->rated_life != TM_UNSET && p->rated_life > 0 && p->used >= 0;
	set(c, o, "life_used_percent",
	    null_or(c, has ? percent_of(p->used, p->rated_life) : 0, has));
	return o;
}

static json_t *alert(struct norm *c, const struct tm_alert *a)
{
	json_t *o = obj(c);
	if (o == NULL)
		return NULL;
	set(c, o, "code", str(c, a->code ? a->code : "", "alerts/code"));
	opt_str(c, o, "sub_code", a->sub_code, "alerts/sub_code");
	set(c, o, "severity", str(c, a->severity ? a->severity : "", "alerts/severity"));
	opt_str(c, o, "group", a->group, "alerts/group");
	opt_int(c, o, "location", a->location);
	opt_str(c, o, "description", a->description, "alerts/description");
	if (a->time != NULL)
		set(c, o, "time", utc(c, a->time, "alerts/time"));
	opt_int(c, o, "counter", a->counter);
	return o;
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

static json_t *diagnostics_part(struct norm *c, const struct tm_report *r)
{
	json_t *o = obj(c);
	for (size_t i = 0; o != NULL && i < r->n_diagnostics && !c->failed; i++) {
		const struct tm_diag *d = &r->diagnostics[i];
		const char *name = d->name ? d->name : "";
		json_t *v = NULL;
		if (json_object_get(o, name) != NULL) {
			c->failed = 1;
			tm_error_set(c->err, "report.schema", "diagnostics/%.64s: name appears twice", name);
			break;
		}
		switch (d->type) {
		case TM_DIAG_STRING:
			v = str(c, d->s ? d->s : "", "diagnostics");
			break;
		case TM_DIAG_INT:
			v = num(c, d->i);
			break;
		case TM_DIAG_FLOAT:
			v = json_real(d->f); /* NULL for inf/NaN */
			if (v == NULL) {
				c->failed = 1;
				tm_error_set(c->err, "report.bad_number", "diagnostics/%.64s: not a finite number",
					     name);
			} else if (shortest_prec(d->f) > c->float_prec) {
				c->float_prec = shortest_prec(d->f);
			}
			break;
		case TM_DIAG_BOOL:
			v = json_boolean(d->b);
			break;
		}
		set(c, o, name, v);
	}
	return o;
}

static json_t *list(struct norm *c, size_t n, const void *items, size_t size,
		    json_t *(*one)(struct norm *, const void *))
{
	json_t *a = arr(c);
	for (size_t i = 0; a != NULL && i < n && !c->failed; i++)
		append(c, a, one(c, (const char *)items + i * size));
	return a;
}

static json_t *supply_v(struct norm *c, const void *p) { return supply(c, p); }
static json_t *part_v(struct norm *c, const void *p) { return part(c, p); }
static json_t *alert_v(struct norm *c, const void *p) { return alert(c, p); }

static int dump_to_buf(const char *chunk, size_t n, void *ctx)
{
	return tm_buf_append(ctx, chunk, n) < 0 ? -1 : 0;
}

int tm_report_normalize(const struct tm_report *r, struct tm_buf *out, struct tm_error *err)
{
	struct norm c = { .err = err, .float_prec = 1 };
	json_t *root = json_object();
	int rc = -1;

	if (root == NULL) {
		nomem(&c);
		goto out;
	}
	set(&c, root, "schema_version", num(&c, TM_SCHEMA_VERSION));
	set(&c, root, "report", report_part(&c, r));
	set(&c, root, "device", device_part(&c, r));
	if (r->has_status)
		set(&c, root, "status", status_part(&c, r));
	if (r->has_counters)
		set(&c, root, "counters", counters_part(&c, r));
	if (r->has_supplies)
		set(&c, root, "supplies", list(&c, r->n_supplies, r->supplies, sizeof(*r->supplies), supply_v));
	if (r->has_parts)
		set(&c, root, "parts", list(&c, r->n_parts, r->parts, sizeof(*r->parts), part_v));
	if (r->has_alerts)
		set(&c, root, "alerts", list(&c, r->n_alerts, r->alerts, sizeof(*r->alerts), alert_v));
	if (r->has_diagnostics)
		set(&c, root, "diagnostics", diagnostics_part(&c, r));
	if (c.failed)
		goto out;
	/* straight into out: no string of jansson's own to grow and copy */
	size_t start = out->len;
	if (json_dump_callback(root, dump_to_buf, out,
			       JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(c.float_prec)) != 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		nomem(&c);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* telemail — struct tm_report → deterministic YAML.
 *
 * Hand-printed (no emitter state to configure, so the bytes depend on the
 * model only):
 *   - "---" first, LF line ends, a trailing newline, two-space indentation;
 *   - keys in the order of the properties in schemas/telemail-report-v1.yaml;
 *     diagnostics in model order, their names double-quoted (a name such as
 *     "true" or "null" must stay a string key);
 *   - every string value double-quoted. Escaped: '"', '\\', C0 controls and
 *     DEL, C1 controls (U+0080..U+009F, including NEL), U+2028, U+2029,
 *     U+FEFF, U+FFFE, U+FFFF: the characters YAML 1.1 readers (PyYAML,
 *     libyaml) treat as line breaks or refuse as non-printable. All other
 *     UTF-8 is written as is;
 *   - integers plain; floats in the shortest "%.{1..17}g" form that reads
 *     back to the same double, always with a '.' and a signed exponent
 *     ("1.0e+20") so YAML 1.1 readers also see a float;
 *   - empty lists "[]", an empty map "{}"; optional strings that are NULL and
 *     integers that are TM_UNSET are left out, as are empty firmware,
 *     conditions and vendor lists (the model cannot tell them from absent).
 * A missing required value (id NULL, seq TM_UNSET ...) is report.missing_field;
 * a string that is not valid UTF-8 is report.encoding: the writer never
 * produces a document that cannot be read back. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "report/report_fields.h"

struct writer {
	struct tm_buf *b;
	struct tm_error *err;
	int failed;
	int indent;   /* columns of the keys being written */
	int dash;     /* the next key opens a list item: "- " at indent - 2 */
};

static void put(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct writer *w, const char *fmt, ...)
{
	if (w->failed)
		return;
	char small[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small)) {
		w->failed = 1;
		tm_error_set(w->err, "internal.bug", "YAML writer: line fragment too long");
		return;
	}
	if (tm_buf_append(w->b, small, (size_t)n) < 0) {
		w->failed = 1;
		tm_error_set(w->err, "internal.nomem", "YAML writer: out of memory");
	}
}

static void put_raw(struct writer *w, const char *p, size_t n)
{
	if (w->failed)
		return;
	if (tm_buf_append(w->b, p, n) < 0) {
		w->failed = 1;
		tm_error_set(w->err, "internal.nomem", "YAML writer: out of memory");
	}
}

static void fail(struct writer *w, const char *reason, const char *path, const char *what)
{
	if (w->failed)
		return;
	w->failed = 1;
	tm_error_set(w->err, reason, "%s: %s", path, what);
}

/* Starts "key: " on a new line (or "- key: " for the first key of an item). */
static void key(struct writer *w, const char *k)
{
	if (w->dash) {
		put(w, "%*s- ", w->indent - 2, "");
		w->dash = 0;
	} else {
		put(w, "%*s", w->indent, "");
	}
	put(w, "%s:", k);
}

/* Decodes one UTF-8 character; 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t n;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		*cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		*cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		*cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 3 && *cp < 0x800) || (n == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)) ||
	    (*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return n;
}

/* A double-quoted scalar (path names the field for errors). */
static void quoted(struct writer *w, const char *s, const char *path)
{
	const unsigned char *p = (const unsigned char *)s;
	put_raw(w, "\"", 1);
	while (*p && !w->failed) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);
		if (n == 0) {
			fail(w, "report.encoding", path, "string is not valid UTF-8");
			return;
		}
		if (cp == '"' || cp == '\\') {
			put(w, "\\%c", (char)cp);
		} else if (cp == '\n') {
			put_raw(w, "\\n", 2);
		} else if (cp == '\t') {
			put_raw(w, "\\t", 2);
		} else if (cp == '\r') {
			put_raw(w, "\\r", 2);
		} else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
			put(w, "\\x%02X", (unsigned)cp);
		} else if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE ||
			   cp == 0xFFFF) {
			put(w, "\\u%04X", (unsigned)cp);
		} else {
			put_raw(w, (const char *)p, n);
		}
		p += n;
	}
	put_raw(w, "\"", 1);
}

static void str_field(struct writer *w, const char *k, const char *v, int required,
		      const char *path)
{
	if (v == NULL) {
		if (required) {
			char p[160];
			snprintf(p, sizeof(p), "%s/%s", path, k);
			fail(w, "report.missing_field", p, "required value is not set");
		}
		return;
	}
	char p[160];
	snprintf(p, sizeof(p), "%s/%s", path, k);
	key(w, k);
	put_raw(w, " ", 1);
	quoted(w, v, p);
	put_raw(w, "\n", 1);
}

static void int_field(struct writer *w, const char *k, int64_t v, int required, const char *path)
{
	if (v == TM_UNSET) {
		if (required) {
			char p[160];
			snprintf(p, sizeof(p), "%s/%s", path, k);
			fail(w, "report.missing_field", p, "required value is not set");
		}
		return;
	}
	key(w, k);
	put(w, " %" PRId64 "\n", v);
}

/* Shortest round-trippable float text that every YAML reader types as float. */
static int format_float(double d, char out[40])
{
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* mantissa needs a '.'; "1e+20" → "1.0e+20", "3" → "3.0" */
	const char *e = strchr(tmp, 'e');
	size_t mlen = e ? (size_t)(e - tmp) : strlen(tmp);
	int has_dot = memchr(tmp, '.', mlen) != NULL;
	return snprintf(out, 40, "%.*s%s%s", (int)mlen, tmp, has_dot ? "" : ".0", e ? e : "");
}

static void write_report_section(struct writer *w, const struct tm_report *r)
{
	put(w, "report:\n");
	w->indent = 2;
	str_field(w, "id", r->id, 1, "report");
	int_field(w, "seq", r->seq, 1, "report");
	const char *kind = tm_report_kind_name(r->kind);
	if (kind == NULL)
		fail(w, "report.schema", "report/kind", "not a known report kind");
	str_field(w, "kind", kind, 1, "report");
	str_field(w, "generated_at", r->generated_at, 1, "report");
	str_field(w, "agent", r->agent, 1, "report");
	if (r->trigger_cause != NULL) {
		key(w, "trigger");
		put(w, "\n");
		w->indent = 4;
		str_field(w, "cause", r->trigger_cause, 1, "report/trigger");
		str_field(w, "subject", r->trigger_subject, 0, "report/trigger");
		w->indent = 2;
	} else if (r->trigger_subject != NULL) {
		fail(w, "report.missing_field", "report/trigger/cause", "a trigger subject needs a cause");
	}
	int_field(w, "outbox_gap", r->outbox_gap, 0, "report");
}

static void write_device(struct writer *w, const struct tm_report *r)
{
	put(w, "device:\n");
	w->indent = 2;
	str_field(w, "serial", r->serial, 1, "device");
	str_field(w, "manufacturer", r->manufacturer, 0, "device");
	str_field(w, "model", r->model, 0, "device");
	str_field(w, "name", r->name, 0, "device");
	str_field(w, "location", r->location, 0, "device");
	str_field(w, "ip", r->ip, 0, "device");
	str_field(w, "mac", r->mac, 0, "device");
	if (r->n_firmware == 0)
		return;
	key(w, "firmware");
	put(w, "\n");
	for (size_t i = 0; i < r->n_firmware; i++) {
		char p[64];
		snprintf(p, sizeof(p), "device/firmware/%zu", i);
		w->indent = 6;
		w->dash = 1;
		str_field(w, "component", r->firmware[i].component, 1, p);
		str_field(w, "version", r->firmware[i].version, 1, p);
	}
	w->indent = 2;
}

static void write_status(struct writer *w, const struct tm_report *r)
{
	put(w, "status:\n");
	w->indent = 2;
	str_field(w, "state", r->state, 1, "status");
	if (r->n_conditions > 0) {
		key(w, "conditions");
		put(w, "\n");
		for (size_t i = 0; i < r->n_conditions; i++) {
			char p[64];
			snprintf(p, sizeof(p), "status/conditions/%zu", i);
			if (r->conditions[i] == NULL) {
				fail(w, "report.missing_field", p, "condition is not set");
				return;
			}
			put(w, "    - ");
			quoted(w, r->conditions[i], p);
			put(w, "\n");
		}
	}
	str_field(w, "since", r->status_since, 0, "status");
}

/* The members of obj in table order (path: for errors about them). */
static void write_fields(struct writer *w, const struct tm_report_fields *t, const void *obj,
			 const char *path)
{
	for (size_t j = 0; j < t->n; j++) {
		const struct tm_report_field *f = &t->f[j];
		const char *at = (const char *)obj + f->off;
		if (f->is_int)
			int_field(w, f->key, *(const int64_t *)(const void *)at, f->required, path);
		else
			str_field(w, f->key, *(char *const *)(const void *)at, f->required, path);
	}
}

static int counter_set_empty(const struct tm_counter_set *c)
{
	for (size_t j = 0; j < tm_counter_set_fields.n; j++)
		if (*(const int64_t *)(const void *)((const char *)c +
						     tm_counter_set_fields.f[j].off) != TM_UNSET)
			return 0;
	return 1;
}

static void write_counters(struct writer *w, const struct tm_report *r)
{
	int any = r->n_vendor > 0;
	for (int s = 0; s < TM_SVC_COUNT; s++)
		any |= r->has_service[s];
	if (!any) {
		put(w, "counters: {}\n");
		return;
	}
	put(w, "counters:\n");
	for (int s = 0; s < TM_SVC_COUNT; s++) {
		if (!r->has_service[s])
			continue;
		w->indent = 2;
		key(w, tm_counter_service_name((enum tm_counter_service)s));
		if (counter_set_empty(&r->service[s])) {
			put(w, " {}\n");
			continue;
		}
		put(w, "\n");
		w->indent = 4;
		write_fields(w, &tm_counter_set_fields, &r->service[s], "");
	}
	w->indent = 2;
	if (r->n_vendor == 0)
		return;
	key(w, "vendor");
	put(w, "\n");
	for (size_t i = 0; i < r->n_vendor; i++) {
		char p[64];
		snprintf(p, sizeof(p), "counters/vendor/%zu", i);
		w->indent = 6;
		w->dash = 1;
		write_fields(w, &tm_vendor_fields, &r->vendor[i], p);
	}
}

/* A top-level list of structs described by t ("name: []" when empty). */
static void write_list(struct writer *w, const char *name, const struct tm_report_fields *t,
		       const void *items, size_t n)
{
	if (n == 0) {
		put(w, "%s: []\n", name);
		return;
	}
	put(w, "%s:\n", name);
	for (size_t i = 0; i < n; i++) {
		char p[64];
		snprintf(p, sizeof(p), "%s/%zu", name, i);
		w->indent = 4;
		w->dash = 1;
		write_fields(w, t, (const char *)items + i * t->size, p);
	}
}

static void write_diagnostics(struct writer *w, const struct tm_report *r)
{
	if (r->n_diagnostics == 0) {
		put(w, "diagnostics: {}\n");
		return;
	}
	put(w, "diagnostics:\n");
	for (size_t i = 0; i < r->n_diagnostics && !w->failed; i++) {
		const struct tm_diag *d = &r->diagnostics[i];
		char p[128];
		snprintf(p, sizeof(p), "diagnostics/%zu", i);
		if (d->name == NULL) {
			fail(w, "report.missing_field", p, "diagnostic name is not set");
			return;
		}
		put(w, "  ");
		quoted(w, d->name, p);
		put(w, ": ");
		switch (d->type) {
		case TM_DIAG_STRING:
			if (d->s == NULL) {
				fail(w, "report.missing_field", p, "diagnostic string value is not set");
				return;
			}
			quoted(w, d->s, p);
			break;
		case TM_DIAG_INT:
			put(w, "%" PRId64, d->i);
			break;
		case TM_DIAG_FLOAT: {
			char f[40];
			if (!isfinite(d->f)) {
				fail(w, "report.bad_number", p, "diagnostic value is not finite");
				return;
			}
			format_float(d->f, f);
			put(w, "%s", f);
			break;
		}
		case TM_DIAG_BOOL:
			put(w, "%s", d->b ? "true" : "false");
			break;
		default:
			fail(w, "internal.bug", p, "unknown diagnostic type");
			return;
		}
		put(w, "\n");
	}
}

static void write_collector(struct writer *w, const struct tm_report *r)
{
	put(w, "collector:\n");
	w->indent = 2;
	int_field(w, "devices", r->collector_devices, 1, "collector");
	int_field(w, "unreachable_count", r->unreachable_count, 1, "collector");
	if (r->n_unreachable == 0) {
		put(w, "  unreachable: []\n");
		return;
	}
	put(w, "  unreachable:\n");
	for (size_t i = 0; i < r->n_unreachable; i++) {
		char p[64];
		snprintf(p, sizeof(p), "collector/unreachable/%zu", i);
		w->indent = 6;
		w->dash = 1;
		write_fields(w, &tm_unreachable_fields, &r->unreachable[i], p);
	}
}

int tm_report_write_yaml(const struct tm_report *r, struct tm_buf *out, struct tm_error *err)
{
	struct writer w = { .b = out, .err = err };
	size_t start = out->len;

	put(&w, "---\nschema_version: %d\n", TM_SCHEMA_VERSION);
	write_report_section(&w, r);
	write_device(&w, r);
	if (r->has_status)
		write_status(&w, r);
	if (r->has_counters)
		write_counters(&w, r);
	if (r->has_supplies)
		write_list(&w, "supplies", &tm_supply_fields, r->supplies, r->n_supplies);
	if (r->has_parts)
		write_list(&w, "parts", &tm_part_fields, r->parts, r->n_parts);
	if (r->has_alerts)
		write_list(&w, "alerts", &tm_alert_fields, r->alerts, r->n_alerts);
	if (r->has_diagnostics)
		write_diagnostics(&w, r);
	if (r->has_collector)
		write_collector(&w, r);
	if (w.failed) {
		/* nothing half-written stays behind */
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

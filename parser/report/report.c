/* telemail — the report model: lifecycle, tree → struct, reading (equality:
 * report_equal.c).
 *
 * tm_report_from_node expects a tree that passed schema v1, but it checks
 * every node it touches anyway and never trusts the shape: a surprising type
 * is report.wrong_type, a missing required field report.missing_field, a key
 * it does not know report.unknown_field (so nothing is dropped silently), an
 * integer the model cannot hold (TM_UNSET) or a wrong enum report.schema.
 * Paths in messages use the schema validator's form: "supplies/2/level". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/schema.h>

#include "report/report_fields.h"

#define PATH_MAX_LEN 160

static const char *const kind_names[] = { "periodic", "event", "status", "test" };
static const char *const service_names[TM_SVC_COUNT] = { "total", "print", "copy", "scan", "fax" };

const char *tm_report_kind_name(enum tm_report_kind k)
{
	if ((unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[k];
	return NULL;
}

int tm_report_kind_parse(const char *s, enum tm_report_kind *out)
{
	for (size_t i = 0; s != NULL && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum tm_report_kind)i;
			return 0;
		}
	}
	return -1;
}

const char *tm_counter_service_name(enum tm_counter_service s)
{
	if ((unsigned)s < TM_SVC_COUNT)
		return service_names[s];
	return NULL;
}

void tm_counter_set_init(struct tm_counter_set *c)
{
	c->impressions = TM_UNSET;
	c->impressions_monochrome = TM_UNSET;
	c->impressions_full_color = TM_UNSET;
	c->impressions_two_sided = TM_UNSET;
	c->sheets = TM_UNSET;
	c->sheets_two_sided = TM_UNSET;
	c->images = TM_UNSET;
}

struct tm_report *tm_report_new(void)
{
	struct tm_report *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->seq = TM_UNSET;
	r->kind = TM_KIND_PERIODIC;
	r->outbox_gap = TM_UNSET;
	r->collector_devices = TM_UNSET;
	r->unreachable_count = TM_UNSET;
	for (int i = 0; i < TM_SVC_COUNT; i++)
		tm_counter_set_init(&r->service[i]);
	return r;
}

void tm_report_free(struct tm_report *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->generated_at);
	free(r->agent);
	free(r->trigger_cause);
	free(r->trigger_subject);
	free(r->serial);
	free(r->manufacturer);
	free(r->model);
	free(r->name);
	free(r->location);
	free(r->ip);
	free(r->mac);
	for (size_t i = 0; i < r->n_firmware; i++) {
		free(r->firmware[i].component);
		free(r->firmware[i].version);
	}
	free(r->firmware);
	free(r->state);
	for (size_t i = 0; i < r->n_conditions; i++)
		free(r->conditions[i]);
	free(r->conditions);
	free(r->status_since);
	for (size_t i = 0; i < r->n_vendor; i++) {
		free(r->vendor[i].id);
		free(r->vendor[i].name);
		free(r->vendor[i].unit);
	}
	free(r->vendor);
	for (size_t i = 0; i < r->n_supplies; i++) {
		struct tm_supply *s = &r->supplies[i];
		free(s->type);
		free(s->colorant);
		free(s->description);
		free(s->unit);
		free(s->part_number);
	}
	free(r->supplies);
	for (size_t i = 0; i < r->n_parts; i++) {
		free(r->parts[i].name);
		free(r->parts[i].unit);
	}
	free(r->parts);
	for (size_t i = 0; i < r->n_alerts; i++) {
		struct tm_alert *a = &r->alerts[i];
		free(a->code);
		free(a->sub_code);
		free(a->severity);
		free(a->group);
		free(a->description);
		free(a->time);
	}
	free(r->alerts);
	for (size_t i = 0; i < r->n_diagnostics; i++) {
		free(r->diagnostics[i].name);
		free(r->diagnostics[i].s);
	}
	free(r->diagnostics);
	for (size_t i = 0; i < r->n_unreachable; i++) {
		struct tm_unreachable *u = &r->unreachable[i];
		free(u->address);
		free(u->serial);
		free(u->reason);
		free(u->since);
		free(u->detail);
	}
	free(r->unreachable);
	free(r);
}

/* ---- tree → model ----------------------------------------------------------- */

static int wrong_type(const struct tm_node *n, const char *path, const char *want,
		      struct tm_error *err)
{
	return tm_error_set(err, "report.wrong_type", "%s: must be %s, not %s (line %u)",
			    path, want, tm_node_type_name(n->type), n->line);
}

static int need(const struct tm_node *n, enum tm_node_type t, const char *path, struct tm_error *err)
{
	if (n->type != t)
		return wrong_type(n, path, t == TM_NODE_MAP ? "an object" :
				  t == TM_NODE_SEQ ? "an array" :
				  t == TM_NODE_STRING ? "a string" : "an integer", err);
	return 0;
}

/* The path of a member, for error messages: base/key, cut (never overrun)
 * at PATH_MAX_LEN - 1 characters. Made for every field read, so by hand: a
 * snprintf here was a tenth of reading a report. */
static void join(char *dst, const char *base, const char *key)
{
	size_t o = strnlen(base, PATH_MAX_LEN - 1);
	memmove(dst, base, o);
	if (o > 0 && o < PATH_MAX_LEN - 1)
		dst[o++] = '/';
	size_t k = strnlen(key, PATH_MAX_LEN - 1 - o);
	memcpy(dst + o, key, k);
	dst[o + k] = '\0';
}

static void join_index(char *dst, const char *base, size_t i)
{
	char digits[24];
	size_t n = sizeof(digits) - 1;
	digits[n] = '\0';
	do {
		digits[--n] = (char)('0' + i % 10);
		i /= 10;
	} while (i > 0);
	join(dst, base, digits + n);
}

static int unknown_field(const char *path, const char *key, struct tm_error *err)
{
	return tm_error_set(err, "report.unknown_field", "%s%s%.64s: unknown field", path,
			    *path ? "/" : "", key);
}

/* Every key of map is in known (NULL-terminated). */
static int known_keys(const struct tm_node *map, const char *path, const char *const *known,
		      struct tm_error *err)
{
	for (size_t i = 0; i < map->u.map.n; i++) {
		const char *k = map->u.map.pairs[i].key;
		const char *const *p = known;
		while (*p != NULL && strcmp(*p, k) != 0)
			p++;
		if (*p == NULL)
			return unknown_field(path, k, err);
	}
	return 0;
}

/* A string field: absent → *out stays NULL (or missing_field when required). */
static int get_str(const struct tm_node *map, const char *path, const char *key, int required,
		   char **out, struct tm_error *err)
{
	char p[PATH_MAX_LEN];
	join(p, path, key);
	const struct tm_node *n = tm_node_get(map, key);
	if (n == NULL) {
		if (required)
			return tm_error_set(err, "report.missing_field", "%s: required field is missing", p);
		return 0;
	}
	if (need(n, TM_NODE_STRING, p, err) < 0)
		return -1;
	*out = strdup(n->u.str.s);
	if (*out == NULL)
		return tm_error_set(err, "internal.nomem", "%s: out of memory", p);
	return 0;
}

/* An integer field: absent → *out stays TM_UNSET (or missing_field). */
static int get_int(const struct tm_node *map, const char *path, const char *key, int required,
		   int64_t *out, struct tm_error *err)
{
	char p[PATH_MAX_LEN];
	join(p, path, key);
	const struct tm_node *n = tm_node_get(map, key);
	if (n == NULL) {
		if (required)
			return tm_error_set(err, "report.missing_field", "%s: required field is missing", p);
		return 0;
	}
	/* JSON Schema 2020-12: a number with a zero fraction is an integer (1.0 == 1) */
	if (n->type == TM_NODE_FLOAT && n->u.f >= -9007199254740992.0 &&
	    n->u.f <= 9007199254740992.0 && n->u.f == (double)(int64_t)n->u.f) {
		*out = (int64_t)n->u.f;
		return 0;
	}
	if (need(n, TM_NODE_INT, p, err) < 0)
		return -1;
	if (n->u.i == TM_UNSET)
		return tm_error_set(err, "report.schema", "%s: %lld is out of range", p,
				    (long long)n->u.i);
	*out = n->u.i;
	return 0;
}

/* An optional array field: absent → *out NULL, n 0. Returns the node or NULL. */
static int get_seq(const struct tm_node *map, const char *path, const char *key,
		   const struct tm_node **out, struct tm_error *err)
{
	char p[PATH_MAX_LEN];
	join(p, path, key);
	*out = tm_node_get(map, key);
	if (*out != NULL && need(*out, TM_NODE_SEQ, p, err) < 0)
		return -1;
	return 0;
}

/* calloc for n elements, never NULL for n == 0 (so "has, but empty" is clear). */
static void *alloc_array(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

static int nomem(struct tm_error *err, const char *path)
{
	return tm_error_set(err, "internal.nomem", "%s: out of memory", path);
}

static int read_report_section(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	static const char *const keys[] = { "id", "seq", "kind", "generated_at", "agent", "trigger",
					    "outbox_gap", NULL };
	const char *path = "report";
	char *kind = NULL;
	int rc = -1;

	if (need(n, TM_NODE_MAP, path, err) < 0 || known_keys(n, path, keys, err) < 0)
		goto out;
	if (get_str(n, path, "id", 1, &r->id, err) < 0 ||
	    get_int(n, path, "seq", 1, &r->seq, err) < 0 ||
	    get_str(n, path, "kind", 1, &kind, err) < 0 ||
	    get_str(n, path, "generated_at", 1, &r->generated_at, err) < 0 ||
	    get_str(n, path, "agent", 1, &r->agent, err) < 0 ||
	    get_int(n, path, "outbox_gap", 0, &r->outbox_gap, err) < 0)
		goto out;
	if (tm_report_kind_parse(kind, &r->kind) < 0) {
		tm_error_set(err, "report.schema", "report/kind: '%.32s' is not one of periodic, event, status, test",
			     kind);
		goto out;
	}
	const struct tm_node *t = tm_node_get(n, "trigger");
	if (t != NULL) {
		static const char *const tkeys[] = { "cause", "subject", NULL };
		if (need(t, TM_NODE_MAP, "report/trigger", err) < 0 ||
		    known_keys(t, "report/trigger", tkeys, err) < 0 ||
		    get_str(t, "report/trigger", "cause", 1, &r->trigger_cause, err) < 0 ||
		    get_str(t, "report/trigger", "subject", 0, &r->trigger_subject, err) < 0)
			goto out;
	}
	rc = 0;
out:
	free(kind);
	return rc;
}

static int read_device(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	static const char *const keys[] = { "serial", "manufacturer", "model", "name", "location",
					    "ip", "mac", "firmware", NULL };
	static const char *const fkeys[] = { "component", "version", NULL };
	const char *path = "device";
	const struct tm_node *fw;

	if (need(n, TM_NODE_MAP, path, err) < 0 || known_keys(n, path, keys, err) < 0 ||
	    get_str(n, path, "serial", 1, &r->serial, err) < 0 ||
	    get_str(n, path, "manufacturer", 0, &r->manufacturer, err) < 0 ||
	    get_str(n, path, "model", 0, &r->model, err) < 0 ||
	    get_str(n, path, "name", 0, &r->name, err) < 0 ||
	    get_str(n, path, "location", 0, &r->location, err) < 0 ||
	    get_str(n, path, "ip", 0, &r->ip, err) < 0 ||
	    get_str(n, path, "mac", 0, &r->mac, err) < 0 ||
	    get_seq(n, path, "firmware", &fw, err) < 0)
		return -1;
	if (fw == NULL)
		return 0;
	r->firmware = alloc_array(fw->u.seq.n, sizeof(*r->firmware));
	if (r->firmware == NULL)
		return nomem(err, "device/firmware");
	for (size_t i = 0; i < fw->u.seq.n; i++) {
		char p[PATH_MAX_LEN];
		snprintf(p, sizeof(p), "device/firmware/%zu", i);
		const struct tm_node *it = fw->u.seq.items[i];
		r->n_firmware = i + 1;
		if (need(it, TM_NODE_MAP, p, err) < 0 || known_keys(it, p, fkeys, err) < 0 ||
		    get_str(it, p, "component", 1, &r->firmware[i].component, err) < 0 ||
		    get_str(it, p, "version", 1, &r->firmware[i].version, err) < 0)
			return -1;
	}
	return 0;
}

static int read_status(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	static const char *const keys[] = { "state", "conditions", "since", NULL };
	const struct tm_node *c;

	r->has_status = true;
	if (need(n, TM_NODE_MAP, "status", err) < 0 || known_keys(n, "status", keys, err) < 0 ||
	    get_str(n, "status", "state", 1, &r->state, err) < 0 ||
	    get_str(n, "status", "since", 0, &r->status_since, err) < 0 ||
	    get_seq(n, "status", "conditions", &c, err) < 0)
		return -1;
	if (c == NULL)
		return 0;
	r->conditions = alloc_array(c->u.seq.n, sizeof(*r->conditions));
	if (r->conditions == NULL)
		return nomem(err, "status/conditions");
	for (size_t i = 0; i < c->u.seq.n; i++) {
		char p[PATH_MAX_LEN];
		join_index(p, "status/conditions", i);
		if (need(c->u.seq.items[i], TM_NODE_STRING, p, err) < 0)
			return -1;
		r->conditions[i] = strdup(c->u.seq.items[i]->u.str.s);
		if (r->conditions[i] == NULL)
			return nomem(err, p);
		r->n_conditions = i + 1;
	}
	return 0;
}

/* A map whose keys are all fields of obj: each read in table order. */
static int read_fields(const struct tm_node *n, const char *path,
		       const struct tm_report_fields *t, void *obj, struct tm_error *err)
{
	if (need(n, TM_NODE_MAP, path, err) < 0)
		return -1;
	for (size_t i = 0; i < n->u.map.n; i++) {
		const char *k = n->u.map.pairs[i].key;
		size_t j = 0;
		while (j < t->n && strcmp(t->f[j].key, k) != 0)
			j++;
		if (j == t->n)
			return unknown_field(path, k, err);
	}
	for (size_t j = 0; j < t->n; j++) {
		const struct tm_report_field *f = &t->f[j];
		void *at = (char *)obj + f->off;
		if (f->is_int ? get_int(n, path, f->key, f->required, at, err) < 0
			      : get_str(n, path, f->key, f->required, at, err) < 0)
			return -1;
	}
	return 0;
}

/* A sequence of such maps into a new array, handed over in *items also on
 * failure; *count grows with each element begun, so freeing the report
 * frees what was read. */
static int read_list(const struct tm_node *n, const char *path,
		     const struct tm_report_fields *t, void **items, size_t *count,
		     struct tm_error *err)
{
	if (need(n, TM_NODE_SEQ, path, err) < 0)
		return -1;
	char *a = alloc_array(n->u.seq.n, t->size);
	if ((*items = a) == NULL)
		return nomem(err, path);
	for (size_t i = 0; i < n->u.seq.n; i++) {
		char p[PATH_MAX_LEN];
		char *obj = a + i * t->size;
		join_index(p, path, i);
		for (size_t j = 0; j < t->n; j++)
			if (t->f[j].is_int)
				*(int64_t *)(void *)(obj + t->f[j].off) = TM_UNSET;
		*count = i + 1;
		if (read_fields(n->u.seq.items[i], p, t, obj, err) < 0)
			return -1;
	}
	return 0;
}

static int read_counters(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	static const char *const keys[] = { "total", "print", "copy", "scan", "fax", "vendor", NULL };
	const struct tm_node *v;

	r->has_counters = true;
	if (need(n, TM_NODE_MAP, "counters", err) < 0 || known_keys(n, "counters", keys, err) < 0)
		return -1;
	for (int s = 0; s < TM_SVC_COUNT; s++) {
		const struct tm_node *set = tm_node_get(n, service_names[s]);
		char p[PATH_MAX_LEN];
		if (set == NULL)
			continue;
		join(p, "counters", service_names[s]);
		r->has_service[s] = true;
		tm_counter_set_init(&r->service[s]);
		if (read_fields(set, p, &tm_counter_set_fields, &r->service[s], err) < 0)
			return -1;
	}
	if (get_seq(n, "counters", "vendor", &v, err) < 0)
		return -1;
	if (v == NULL)
		return 0;
	void *a = NULL;
	int rc = read_list(v, "counters/vendor", &tm_vendor_fields, &a, &r->n_vendor, err);
	r->vendor = a;
	return rc;
}

static int read_supplies(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	r->has_supplies = true;
	void *a = NULL;
	int rc = read_list(n, "supplies", &tm_supply_fields, &a, &r->n_supplies, err);
	r->supplies = a;
	return rc;
}

static int read_parts(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	r->has_parts = true;
	void *a = NULL;
	int rc = read_list(n, "parts", &tm_part_fields, &a, &r->n_parts, err);
	r->parts = a;
	return rc;
}

static int read_alerts(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	r->has_alerts = true;
	void *a = NULL;
	int rc = read_list(n, "alerts", &tm_alert_fields, &a, &r->n_alerts, err);
	r->alerts = a;
	return rc;
}

static int read_collector(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	static const char *const keys[] = { "devices", "unreachable_count", "unreachable", NULL };
	const struct tm_node *v;
	r->has_collector = true;
	if (need(n, TM_NODE_MAP, "collector", err) < 0 || known_keys(n, "collector", keys, err) < 0 ||
	    get_int(n, "collector", "devices", 1, &r->collector_devices, err) < 0 ||
	    get_int(n, "collector", "unreachable_count", 1, &r->unreachable_count, err) < 0 ||
	    get_seq(n, "collector", "unreachable", &v, err) < 0)
		return -1;
	if (v == NULL)
		return tm_error_set(err, "report.missing_field", "collector/unreachable: required field is missing");
	void *a = NULL;
	int rc = read_list(v, "collector/unreachable", &tm_unreachable_fields, &a, &r->n_unreachable, err);
	r->unreachable = a;
	return rc;
}

static int read_diagnostics(const struct tm_node *n, struct tm_report *r, struct tm_error *err)
{
	r->has_diagnostics = true;
	if (need(n, TM_NODE_MAP, "diagnostics", err) < 0)
		return -1;
	r->diagnostics = alloc_array(n->u.map.n, sizeof(*r->diagnostics));
	if (r->diagnostics == NULL)
		return nomem(err, "diagnostics");
	for (size_t i = 0; i < n->u.map.n; i++) {
		const struct tm_node_pair *pair = &n->u.map.pairs[i];
		const struct tm_node *v = pair->value;
		struct tm_diag *d = &r->diagnostics[i];
		char p[PATH_MAX_LEN];
		join(p, "diagnostics", pair->key);
		r->n_diagnostics = i + 1;
		d->name = strdup(pair->key);
		if (d->name == NULL)
			return nomem(err, p);
		switch (v->type) {
		case TM_NODE_STRING:
			d->type = TM_DIAG_STRING;
			d->s = strdup(v->u.str.s);
			if (d->s == NULL)
				return nomem(err, p);
			break;
		case TM_NODE_INT:
			d->type = TM_DIAG_INT;
			d->i = v->u.i;
			break;
		case TM_NODE_FLOAT:
			d->type = TM_DIAG_FLOAT;
			d->f = v->u.f;
			break;
		case TM_NODE_BOOL:
			d->type = TM_DIAG_BOOL;
			d->b = v->u.b;
			break;
		default:
			return wrong_type(v, p, "a string, integer, number or boolean", err);
		}
	}
	return 0;
}

int tm_report_from_node(const struct tm_node *root, struct tm_report **out, struct tm_error *err)
{
	static const char *const keys[] = { "schema_version", "report", "device", "status",
					    "counters", "supplies", "parts", "alerts",
					    "diagnostics", "collector", NULL };
	struct tm_report *r = NULL;
	int rc = -1;
	const struct tm_node *n;

	*out = NULL;
	if (root == NULL) {
		tm_error_set(err, "report.empty", "no document");
		goto out;
	}
	if (root->type != TM_NODE_MAP) {
		wrong_type(root, "(root)", "an object", err);
		goto out;
	}
	if (known_keys(root, "", keys, err) < 0)
		goto out;
	r = tm_report_new();
	if (r == NULL) {
		nomem(err, "(root)");
		goto out;
	}
	int64_t version = TM_UNSET;
	if (get_int(root, "", "schema_version", 1, &version, err) < 0)
		goto out;
	if (version != TM_SCHEMA_VERSION) {
		tm_error_set(err, "report.schema", "schema_version: %lld is not %d", (long long)version,
			     TM_SCHEMA_VERSION);
		goto out;
	}
	if ((n = tm_node_get(root, "report")) == NULL) {
		tm_error_set(err, "report.missing_field", "report: required field is missing");
		goto out;
	}
	if (read_report_section(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "device")) == NULL) {
		tm_error_set(err, "report.missing_field", "device: required field is missing");
		goto out;
	}
	if (read_device(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "status")) != NULL && read_status(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "counters")) != NULL && read_counters(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "supplies")) != NULL && read_supplies(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "parts")) != NULL && read_parts(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "alerts")) != NULL && read_alerts(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "diagnostics")) != NULL && read_diagnostics(n, r, err) < 0)
		goto out;
	if ((n = tm_node_get(root, "collector")) != NULL && read_collector(n, r, err) < 0)
		goto out;
	*out = r;
	r = NULL;
	rc = 0;
out:
	tm_report_free(r);
	return rc;
}

/* ---- rules the schema cannot express ------------------------------------------ */

static int check_time(const char *text, const char *path, struct tm_error *err)
{
	char utc[32];
	int64_t secs;
	struct tm_error terr = {0};
	if (text == NULL || tm_time_to_utc(text, utc, &secs, &terr) == 0)
		return 0;
	return tm_error_set(err, "report.semantics", "%s: not a valid date and time (%s)", path,
			    terr.msg);
}

int tm_report_check(const struct tm_report *r, struct tm_error *err)
{
	/* The schema's patterns check the shape of a timestamp only:
	 * "2025-25-01T08:00:00Z" has the shape and is no date. */
	if (check_time(r->generated_at, "report/generated_at", err) < 0 ||
	    check_time(r->status_since, "status/since", err) < 0)
		return -1;
	for (size_t i = 0; i < r->n_alerts; i++) {
		char p[48];
		snprintf(p, sizeof(p), "alerts/%zu/time", i);
		if (check_time(r->alerts[i].time, p, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < r->n_unreachable; i++) {
		char p[64];
		snprintf(p, sizeof(p), "collector/unreachable/%zu/since", i);
		if (check_time(r->unreachable[i].since, p, err) < 0)
			return -1;
	}
	/* The record keys firmware by component: one version each. */
	for (size_t i = 0; i < r->n_firmware; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(r->firmware[k].component, r->firmware[i].component) == 0)
				return tm_error_set(err, "report.semantics",
						    "device/firmware/%zu/component: '%s' appears twice (also item %zu)",
						    i, r->firmware[i].component, k);
	return 0;
}

int tm_report_read(const uint8_t *buf, size_t len, const struct tm_schema *schema,
		   struct tm_report **out, struct tm_error *err)
{
	struct tm_node *root = NULL;
	int rc = -1;

	*out = NULL;
	if (schema == NULL && tm_schema_report_v1(&schema, err) < 0)
		goto out;
	if (tm_yaml_read(buf, len, &TM_YAML_REPORT_LIMITS, &root, err) < 0)
		goto out;
	if (tm_schema_validate(schema, root, err) < 0)
		goto out;
	if (tm_report_from_node(root, out, err) < 0)
		goto out;
	if (tm_report_check(*out, err) < 0) {
		tm_report_free(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	tm_node_free(root);
	return rc;
}

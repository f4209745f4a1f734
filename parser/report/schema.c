/* telemail — JSON Schema 2020-12 validation of a document tree.
 *
 * A schema is read with tm_yaml_read (configuration limits) and compiled
 * into struct sch nodes: "$ref" resolved to pointers, every "pattern"
 * compiled once (POSIX ERE), keyword values type-checked. Compiling is in
 * parser/report/schema_load.c; this file validates. The compiled schema is read
 * only, so several threads may validate against one schema at once.
 *
 * Order of checks at one instance node (the first failure wins, so errors
 * come in document order): $ref, allOf, type, const, enum, then by instance
 * type — string: minLength, maxLength, pattern; number: minimum,
 * exclusiveMinimum, maximum, exclusiveMaximum; array: minItems, maxItems,
 * then each item in order (items, then uniqueItems against earlier items);
 * object: minProperties, maxProperties, required, then each member in
 * document order (personal-data name, propertyNames, properties or
 * additionalProperties) — and last not, anyOf, oneOf. */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/schema.h>

#include "report/schema_private.h"

struct vctx {
	const struct tm_schema *schema;
	struct tm_error *err;
	unsigned evals;  /* nested schema evaluations in progress */
	bool naming;     /* validating a property name (propertyNames) */
};

/* ---- paths and messages ---- */

static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len >= cap - 1)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

static void put_seg(char *out, size_t cap, size_t *len, const struct tm_seg *s, bool slash)
{
	if (s == NULL)
		return;
	put_seg(out, cap, len, s->up, slash);
	if (s->up != NULL || slash)
		put(out, cap, len, "/", 1);
	if (s->key != NULL) {
		put(out, cap, len, s->key, strlen(s->key));
	} else {
		char num[24];
		int n = snprintf(num, sizeof(num), "%zu", s->idx);
		put(out, cap, len, num, (size_t)n);
	}
}

void tm_seg_format(const struct tm_seg *s, bool schema_path, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	if (schema_path)
		put(out, cap, &len, "#", 1);
	else if (s == NULL)
		put(out, cap, &len, "(root)", 6);
	put_seg(out, cap, &len, s, schema_path);
}

static int fail(const struct vctx *c, const struct tm_seg *at, const char *reason,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(const struct vctx *c, const struct tm_seg *at, const char *reason,
		const char *fmt, ...)
{
	char path[TM_ERROR_MSG_MAX], rule[TM_ERROR_MSG_MAX];
	tm_seg_format(at, false, path, sizeof(path));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	return tm_error_set(c->err, reason, "%s: %s%s", path, c->naming ? "field name " : "",
			    rule);
}

/* A value as text for a message: scalars as written, collections elided. */
void tm_schema_value_text(const struct tm_node *n, char *out, size_t cap)
{
	switch (n->type) {
	case TM_NODE_NULL: snprintf(out, cap, "null"); break;
	case TM_NODE_BOOL: snprintf(out, cap, "%s", n->u.b ? "true" : "false"); break;
	case TM_NODE_INT: snprintf(out, cap, "%lld", (long long)n->u.i); break;
	case TM_NODE_FLOAT:
		/* the shortest of %.15g / %.17g that reads back the same */
		snprintf(out, cap, "%.15g", n->u.f);
		if (strtod(out, NULL) != n->u.f)
			snprintf(out, cap, "%.17g", n->u.f);
		break;
	case TM_NODE_STRING: snprintf(out, cap, "%s", n->u.str.s); break;
	case TM_NODE_SEQ: snprintf(out, cap, "[...]"); break;
	case TM_NODE_MAP: snprintf(out, cap, "{...}"); break;
	}
}

/* ---- numbers and JSON equality ---- */

static bool is_number(const struct tm_node *n)
{
	return n->type == TM_NODE_INT || n->type == TM_NODE_FLOAT;
}

/* A float with no fraction is an integer in JSON Schema 2020-12. */
bool tm_schema_float_is_integer(double f)
{
	if (f != f || f - f != 0)  /* NaN or infinite */
		return false;
	if (f >= 9223372036854775808.0 || f <= -9223372036854775808.0)
		return true;       /* beyond 2^63 every double is integral */
	return (double)(int64_t)f == f;
}

/* Sign of (i - f), exactly; 2 when unordered (NaN). */
static int cmp_int_float(int64_t i, double f)
{
	if (f != f)
		return 2;
	if (f >= 9223372036854775808.0)
		return -1;
	if (f < -9223372036854775808.0)
		return 1;
	int64_t t = (int64_t)f;       /* truncated toward zero, exact */
	if (i != t)
		return i < t ? -1 : 1;
	double frac = f - (double)t;  /* exact */
	return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

/* Sign of (a - b) for two numeric nodes, exactly; 2 when unordered. */
int tm_schema_num_cmp(const struct tm_node *a, const struct tm_node *b)
{
	if (a->type == TM_NODE_INT && b->type == TM_NODE_INT)
		return a->u.i < b->u.i ? -1 : (a->u.i > b->u.i ? 1 : 0);
	if (a->type == TM_NODE_INT)
		return cmp_int_float(a->u.i, b->u.f);
	if (b->type == TM_NODE_INT) {
		int r = cmp_int_float(b->u.i, a->u.f);
		return r == 2 ? 2 : -r;
	}
	if (a->u.f != a->u.f || b->u.f != b->u.f)
		return 2;
	return a->u.f < b->u.f ? -1 : (a->u.f > b->u.f ? 1 : 0);
}

static const struct tm_node *map_find(const struct tm_node *map, const char *key, size_t len)
{
	for (size_t i = 0; i < map->u.map.n; i++) {
		const struct tm_node_pair *p = &map->u.map.pairs[i];
		if (p->key_len == len && memcmp(p->key, key, len) == 0)
			return p->value;
	}
	return NULL;
}

/* 1 equal, 0 different, -1 nested deeper than the limit. */
int tm_schema_json_equal(const struct tm_node *a, const struct tm_node *b, unsigned depth)
{
	if (depth > TM_SCHEMA_MAX_INSTANCE_DEPTH)
		return -1;
	if (is_number(a) && is_number(b))
		return tm_schema_num_cmp(a, b) == 0;
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case TM_NODE_NULL:
		return 1;
	case TM_NODE_BOOL:
		return a->u.b == b->u.b;
	case TM_NODE_STRING:
		return a->u.str.len == b->u.str.len &&
		       memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case TM_NODE_SEQ:
		if (a->u.seq.n != b->u.seq.n)
			return 0;
		for (size_t i = 0; i < a->u.seq.n; i++) {
			int r = tm_schema_json_equal(a->u.seq.items[i], b->u.seq.items[i], depth + 1);
			if (r != 1)
				return r;
		}
		return 1;
	case TM_NODE_MAP:
		if (a->u.map.n != b->u.map.n)
			return 0;
		for (size_t i = 0; i < a->u.map.n; i++) {
			const struct tm_node_pair *p = &a->u.map.pairs[i];
			const struct tm_node *v = map_find(b, p->key, p->key_len);
			if (v == NULL)
				return 0;
			int r = tm_schema_json_equal(p->value, v, depth + 1);
			if (r != 1)
				return r;
		}
		return 1;
	default:
		return 0;
	}
}

static unsigned long utf8_code_points(const char *s, size_t len)
{
	unsigned long n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* Does the property name look like personal data? The pattern
 * (x-telemail-pii-names) is matched against the name normalised the way
 * people spell one word several ways: lower case, and a camelCase boundary
 * (a capital after a lower-case letter or a digit) made a "_", so that
 * eMail, E-Mail, e_mail and email all read as e[_.-]?mail and operatorName as
 * operator_name. Separators stay as they are: the pattern takes any of
 * "_", "." and "-" between parts, and a lower-case name reads as itself
 * (the JSON Schema check of diagnostics names gives the same verdict). */
int tm_schema_pii_name(const struct tm_schema *s, const char *key, size_t len)
{
	if (s->n_known_ready) {
		struct sch_known k = { .name = key, .len = len };
		size_t lo = 0, hi = s->n_known;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct sch_known *m = &s->known[mid];
			size_t n = m->len < len ? m->len : len;
			int c = memcmp(m->name, k.name, n);
			if (c == 0)
				c = (m->len > len) - (m->len < len);
			if (c == 0)
				return m->pii;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	char small[256];
	char *low = len < sizeof(small) / 2 ? small : malloc(2 * len + 1);
	if (low == NULL)
		return -1;
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = key[i];
		bool upper = ch >= 'A' && ch <= 'Z';
		if (upper && i > 0 &&
		    ((key[i - 1] >= 'a' && key[i - 1] <= 'z') || (key[i - 1] >= '0' && key[i - 1] <= '9')))
			low[w++] = '_';
		low[w++] = upper ? (char)(ch - 'A' + 'a') : ch;
	}
	low[w] = '\0';
	int hit = regexec(&s->pii, low, 0, NULL, 0) == 0;
	if (low != small)
		free(low);
	return hit;
}

static int pii_name(const struct vctx *c, const char *key, size_t len, bool *hit)
{
	int v = tm_schema_pii_name(c->schema, key, len);
	if (v < 0)
		return tm_error_set(c->err, "internal.nomem", "lower-casing a field name");
	*hit = v == 1;
	return 0;
}

/* ---- validation ---- */

static int validate(struct vctx *c, const struct sch *s, const struct tm_node *n,
		    const struct tm_seg *at, unsigned depth);

static bool type_ok(unsigned types, const struct tm_node *n)
{
	switch (n->type) {
	case TM_NODE_NULL: return types & TM_T_NULL;
	case TM_NODE_BOOL: return types & TM_T_BOOLEAN;
	case TM_NODE_INT: return types & (TM_T_INTEGER | TM_T_NUMBER);
	case TM_NODE_FLOAT:
		return (types & TM_T_NUMBER) ||
		       ((types & TM_T_INTEGER) && tm_schema_float_is_integer(n->u.f));
	case TM_NODE_STRING: return types & TM_T_STRING;
	case TM_NODE_SEQ: return types & TM_T_ARRAY;
	case TM_NODE_MAP: return types & TM_T_OBJECT;
	}
	return false;
}

static int check_type(struct vctx *c, const struct sch *s, const struct tm_node *n,
		      const struct tm_seg *at)
{
	if (type_ok(s->types, n))
		return 0;
	char want[160];
	size_t len = 0;
	want[0] = '\0';
	for (size_t i = 0; i < s->n_type_names; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == s->n_type_names ? " or " : ", ");
		put(want, sizeof(want), &len, sep, strlen(sep));
		put(want, sizeof(want), &len, s->type_names[i], strlen(s->type_names[i]));
	}
	return fail(c, at, "report.wrong_type", "must be %s, got %s", want, tm_node_type_name(n->type));
}

static int check_enum(struct vctx *c, const struct sch *s, const struct tm_node *n,
		      const struct tm_seg *at)
{
	const struct tm_node *e = s->enum_values;
	for (size_t i = 0; i < e->u.seq.n; i++) {
		int r = tm_schema_json_equal(n, e->u.seq.items[i], 0);
		if (r == 1)
			return 0;
		if (r < 0)
			return fail(c, at, "report.too_deep", "nested deeper than %d levels",
				    TM_SCHEMA_MAX_INSTANCE_DEPTH);
	}
	/* list the allowed values, eliding the tail of a long list */
	char list[200], one[64];
	size_t len = 0;
	list[0] = '\0';
	for (size_t i = 0; i < e->u.seq.n; i++) {
		tm_schema_value_text(e->u.seq.items[i], one, sizeof(one));
		if (len + strlen(one) + 2 > 160) {
			char tail[40];
			int k = snprintf(tail, sizeof(tail), ", ... (%zu values)", e->u.seq.n);
			put(list, sizeof(list), &len, tail, (size_t)k);
			break;
		}
		if (i > 0)
			put(list, sizeof(list), &len, ", ", 2);
		put(list, sizeof(list), &len, one, strlen(one));
	}
	return fail(c, at, "report.schema", "must be one of %s", list);
}

static int check_string(struct vctx *c, const struct sch *s, const struct tm_node *n,
			const struct tm_seg *at)
{
	if (s->min_length >= 0 || s->max_length >= 0) {
		unsigned long cp = utf8_code_points(n->u.str.s, n->u.str.len);
		if (s->min_length >= 0 && cp < (unsigned long)s->min_length)
			return fail(c, at, "report.schema", "must be at least %lld characters",
				    (long long)s->min_length);
		if (s->max_length >= 0 && cp > (unsigned long)s->max_length)
			return fail(c, at, "report.schema", "must be at most %lld characters",
				    (long long)s->max_length);
	}
	if (s->pattern != NULL && (s->simple != NULL ? !tm_sch_simple_match(s->simple, n->u.str.s)
						     : regexec(&s->re, n->u.str.s, 0, NULL, 0) != 0))
		return fail(c, at, "report.schema", "must match pattern %s", s->pattern);
	return 0;
}

static int check_number(struct vctx *c, const struct sch *s, const struct tm_node *n,
			const struct tm_seg *at)
{
	static const struct { const char *op; int lo, hi; } rule[4] = {
		{ ">=", 0, 1 }, { ">", 1, 1 }, { "<=", -1, 0 }, { "<", -1, -1 },
	};
	const struct tm_node *bound[4] = { s->minimum, s->xminimum, s->maximum, s->xmaximum };
	for (int k = 0; k < 4; k++) {
		if (bound[k] == NULL)
			continue;
		int r = tm_schema_num_cmp(n, bound[k]);
		if (r == 2 || r < rule[k].lo || r > rule[k].hi) {
			char v[64];
			tm_schema_value_text(bound[k], v, sizeof(v));
			return fail(c, at, "report.schema", "must be %s %s", rule[k].op, v);
		}
	}
	return 0;
}

static int check_array(struct vctx *c, const struct sch *s, const struct tm_node *n,
		       const struct tm_seg *at, unsigned depth)
{
	size_t cnt = n->u.seq.n;
	if (s->min_items >= 0 && cnt < (uint64_t)s->min_items)
		return fail(c, at, "report.schema", "must have at least %lld items",
			    (long long)s->min_items);
	if (s->max_items >= 0 && cnt > (uint64_t)s->max_items)
		return fail(c, at, "report.schema", "must have at most %lld items",
			    (long long)s->max_items);
	for (size_t i = 0; i < cnt; i++) {
		const struct tm_node *item = n->u.seq.items[i];
		struct tm_seg seg = { .up = at, .idx = i };
		if (s->items != NULL && validate(c, s->items, item, &seg, depth + 1) < 0)
			return -1;
		for (size_t j = 0; s->unique && j < i; j++) {
			int r = tm_schema_json_equal(item, n->u.seq.items[j], 0);
			if (r < 0)
				return fail(c, &seg, "report.too_deep", "nested deeper than %d levels",
					    TM_SCHEMA_MAX_INSTANCE_DEPTH);
			if (r == 1)
				return fail(c, &seg, "report.schema",
					    "must be unique, repeats item %zu", j);
		}
	}
	return 0;
}

static int check_object(struct vctx *c, const struct sch *s, const struct tm_node *n,
			const struct tm_seg *at, unsigned depth)
{
	size_t cnt = n->u.map.n;
	if (s->min_properties >= 0 && cnt < (uint64_t)s->min_properties)
		return fail(c, at, "report.schema", "must have at least %lld field%s",
			    (long long)s->min_properties, s->min_properties == 1 ? "" : "s");
	if (s->max_properties >= 0 && cnt > (uint64_t)s->max_properties)
		return fail(c, at, "report.schema", "must have at most %lld field%s",
			    (long long)s->max_properties, s->max_properties == 1 ? "" : "s");
	for (size_t i = 0; i < s->n_required; i++)
		if (map_find(n, s->required[i]->u.str.s, s->required[i]->u.str.len) == NULL)
			return fail(c, at, "report.missing_field", "missing required field '%s'",
				    s->required[i]->u.str.s);
	for (size_t i = 0; i < cnt; i++) {
		const struct tm_node_pair *p = &n->u.map.pairs[i];
		struct tm_seg seg = { .up = at, .key = p->key };
		if (c->schema->has_pii) {
			bool hit = false;
			if (pii_name(c, p->key, p->key_len, &hit) < 0)
				return -1;
			if (hit)
				return fail(c, &seg, "report.pii_field",
					    "field name looks like personal data");
		}
		if (s->property_names != NULL) {
			struct tm_node name = { .type = TM_NODE_STRING };
			name.u.str.s = p->key;
			name.u.str.len = p->key_len;
			bool was = c->naming;
			c->naming = true;
			int rc = validate(c, s->property_names, &name, &seg, depth + 1);
			c->naming = was;
			if (rc < 0)
				return -1;
		}
		const struct sch *sub = NULL;
		for (size_t k = 0; k < s->n_props && sub == NULL; k++)
			if (s->props[k].len == p->key_len &&
			    memcmp(s->props[k].name, p->key, p->key_len) == 0)
				sub = s->props[k].s;
		if (sub == NULL && s->additional != NULL) {
			if (s->additional->boolean == 0)
				return fail(c, &seg, "report.unknown_field", "unknown field");
			sub = s->additional;
		}
		if (sub != NULL && validate(c, sub, p->value, &seg, depth + 1) < 0)
			return -1;
	}
	return 0;
}

/* Evaluate a subschema without reporting its failure: 1 valid, 0 invalid,
 * -1 an error that must not be swallowed (personal data, limits, memory). */
static int probe(struct vctx *c, const struct sch *s, const struct tm_node *n,
		 const struct tm_seg *at, unsigned depth)
{
	struct tm_error sub = {0};
	struct vctx cc = *c;
	cc.err = &sub;
	if (validate(&cc, s, n, at, depth) == 0)
		return 1;
	const char *r = sub.reason;
	if (strcmp(r, "report.pii_field") == 0 || strncmp(r, "internal.", 9) == 0 ||
	    strcmp(r, "report.too_deep") == 0 || strncmp(r, "schema.", 7) == 0) {
		if (c->err != NULL)
			*c->err = sub;
		return -1;
	}
	return 0;
}

static int check_applicators(struct vctx *c, const struct sch *s, const struct tm_node *n,
			     const struct tm_seg *at, unsigned depth)
{
	int r;
	if (s->not_ != NULL) {
		if ((r = probe(c, s->not_, n, at, depth)) < 0)
			return -1;
		if (r == 1)
			return fail(c, at, "report.schema", "must not match the schema in not");
	}
	if (s->n_any_of > 0) {
		bool any = false;
		for (size_t i = 0; i < s->n_any_of && !any; i++) {
			if ((r = probe(c, s->any_of[i], n, at, depth)) < 0)
				return -1;
			any = r == 1;
		}
		if (!any)
			return fail(c, at, "report.schema", "must match at least one schema in anyOf");
	}
	if (s->n_one_of > 0) {
		size_t matched = 0;
		for (size_t i = 0; i < s->n_one_of; i++) {
			if ((r = probe(c, s->one_of[i], n, at, depth)) < 0)
				return -1;
			matched += (size_t)r;
		}
		if (matched != 1)
			return fail(c, at, "report.schema",
				    "must match exactly one schema in oneOf, matched %zu", matched);
	}
	return 0;
}

static int validate(struct vctx *c, const struct sch *s, const struct tm_node *n,
		    const struct tm_seg *at, unsigned depth)
{
	int rc = -1;
	if (depth > TM_SCHEMA_MAX_INSTANCE_DEPTH)
		return fail(c, at, "report.too_deep", "nested deeper than %d levels",
			    TM_SCHEMA_MAX_INSTANCE_DEPTH);
	if (c->evals >= TM_SCHEMA_MAX_EVALS)
		return fail(c, at, "schema.invalid",
			    "schema evaluation nested deeper than %d ($ref cycle?)",
			    TM_SCHEMA_MAX_EVALS);
	c->evals++;
	if (s->boolean == 1) {
		rc = 0;
		goto out;
	}
	if (s->boolean == 0) {
		fail(c, at, "report.schema", "not allowed here (false schema)");
		goto out;
	}
	if (s->ref != NULL && validate(c, s->ref, n, at, depth) < 0)
		goto out;
	for (size_t i = 0; i < s->n_all_of; i++)
		if (validate(c, s->all_of[i], n, at, depth) < 0)
			goto out;
	if (s->types != 0 && check_type(c, s, n, at) < 0)
		goto out;
	if (s->const_value != NULL) {
		int r = tm_schema_json_equal(n, s->const_value, 0);
		char v[64];
		tm_schema_value_text(s->const_value, v, sizeof(v));
		if (r < 0) {
			fail(c, at, "report.too_deep", "nested deeper than %d levels",
			     TM_SCHEMA_MAX_INSTANCE_DEPTH);
			goto out;
		}
		if (r == 0) {
			fail(c, at, "report.schema", "must be %s", v);
			goto out;
		}
	}
	if (s->enum_values != NULL && check_enum(c, s, n, at) < 0)
		goto out;
	switch (n->type) {
	case TM_NODE_STRING:
		if (check_string(c, s, n, at) < 0)
			goto out;
		break;
	case TM_NODE_INT:
	case TM_NODE_FLOAT:
		if (check_number(c, s, n, at) < 0)
			goto out;
		break;
	case TM_NODE_SEQ:
		if (check_array(c, s, n, at, depth) < 0)
			goto out;
		break;
	case TM_NODE_MAP:
		if (check_object(c, s, n, at, depth) < 0)
			goto out;
		break;
	default:
		break;
	}
	if (check_applicators(c, s, n, at, depth) < 0)
		goto out;
	rc = 0;
out:
	c->evals--;
	return rc;
}

/* Is there an e-mail address in the string (addr-spec roughly: a local
 * part, "@", a domain of two or more labels whose last is letters only)?
 * "fw@1.2.3" and "a@b" are not addresses; "Alice <alice@example.com>" has
 * one. */
static bool email_in(const char *v, size_t len)
{
	for (size_t at = 1; at + 1 < len; at++) {
		if (v[at] != '@' || strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789._%+-", v[at - 1]) == NULL || v[at - 1] == '\0')
			continue;
		size_t i = at + 1, labels = 0, last_alpha = 0, label_len = 0;
		bool alpha = true;
		for (; i <= len; i++) {
			char ch = i < len ? v[i] : '\0';
			bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
			if (letter || (ch >= '0' && ch <= '9') || ch == '-') {
				label_len++;
				alpha = alpha && letter;
				continue;
			}
			if (label_len == 0)
				break;
			labels++;
			last_alpha = alpha && label_len >= 2;
			label_len = 0;
			alpha = true;
			if (ch != '.')
				break;
		}
		if (labels >= 2 && last_alpha)
			return true;
	}
	return false;
}

/* Property names anywhere in the tree, also below parts the schema does not
 * descend into (it finds what validation could not see); and string values
 * that hold an e-mail address (report.pii_value): no field of a device
 * report is meant to carry one, so free-form ones (diagnostics, location,
 * alert texts) must not smuggle one in. */
static int pii_scan(struct vctx *c, const struct tm_node *n, const struct tm_seg *at,
		    unsigned depth)
{
	if (depth > TM_SCHEMA_MAX_INSTANCE_DEPTH)
		return fail(c, at, "report.too_deep", "nested deeper than %d levels",
			    TM_SCHEMA_MAX_INSTANCE_DEPTH);
	if (n->type == TM_NODE_STRING && email_in(n->u.str.s, n->u.str.len))
		return fail(c, at, "report.pii_value",
			    "the value holds an e-mail address (personal data)");
	if (n->type == TM_NODE_SEQ) {
		for (size_t i = 0; i < n->u.seq.n; i++) {
			struct tm_seg seg = { .up = at, .idx = i };
			if (pii_scan(c, n->u.seq.items[i], &seg, depth + 1) < 0)
				return -1;
		}
	} else if (n->type == TM_NODE_MAP) {
		for (size_t i = 0; i < n->u.map.n; i++) {
			const struct tm_node_pair *p = &n->u.map.pairs[i];
			struct tm_seg seg = { .up = at, .key = p->key };
			bool hit = false;
			if (pii_name(c, p->key, p->key_len, &hit) < 0)
				return -1;
			if (hit)
				return fail(c, &seg, "report.pii_field",
					    "field name looks like personal data");
			if (pii_scan(c, p->value, &seg, depth + 1) < 0)
				return -1;
		}
	}
	return 0;
}

int tm_schema_validate(const struct tm_schema *s, const struct tm_node *instance,
		       struct tm_error *err)
{
	if (s == NULL || instance == NULL)
		return tm_error_set(err, "internal.bug", "tm_schema_validate: NULL argument");
	struct vctx c = { .schema = s, .err = err };
	if (validate(&c, s->root, instance, NULL, 0) < 0)
		return -1;
	if (s->has_pii && pii_scan(&c, instance, NULL, 0) < 0)
		return -1;
	return 0;
}

/* telemail — loading a JSON Schema 2020-12 document into struct sch.
 *
 * The schema is read with tm_yaml_read (configuration limits), then each
 * keyword is checked and compiled: "$ref" to a pointer (local "#/$defs/NAME"
 * only), each "pattern" with regcomp(REG_EXTENDED | REG_NOSUB) once. A
 * keyword outside the supported list is schema.unsupported; a malformed
 * keyword value is schema.invalid. Both name the path in the schema.
 *
 * Patterns are ECMA-262 in JSON Schema and POSIX ERE here. The common subset
 * (literals, ".", "[...]" ranges, "^", "$", "|", "()", "?", "*", "+",
 * "{m,n}", escaped punctuation outside brackets) means the same in both;
 * anything else (\d, \w, backslashes inside brackets, "(?", lazy
 * quantifiers, POSIX [:classes:]) is refused as schema.unsupported rather
 * than matched differently.
 *
 * Compiling recurses along the schema tree, whose depth the YAML reader
 * already caps (TM_YAML_CONFIG_LIMITS.max_depth). */
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/schema.h>

#include "report/schema_private.h"

#define DIALECT "https://json-schema.org/draft/2020-12/schema"
#define PII_KEYWORD "x-telemail-pii-names"

struct cctx {
	struct tm_schema *s;
	struct tm_error *err;
};

enum kw {
	KW_SCHEMA, KW_ID, KW_DEFS, KW_REF, KW_TEXT, KW_FORMAT, KW_TYPE, KW_ENUM, KW_CONST,
	KW_PROPERTIES, KW_REQUIRED, KW_ADDITIONAL, KW_PROPERTY_NAMES, KW_MIN_PROPERTIES,
	KW_MAX_PROPERTIES, KW_ITEMS, KW_MIN_ITEMS, KW_MAX_ITEMS, KW_UNIQUE, KW_MINIMUM,
	KW_MAXIMUM, KW_XMINIMUM, KW_XMAXIMUM, KW_MIN_LENGTH, KW_MAX_LENGTH, KW_PATTERN,
	KW_NOT, KW_ANY_OF, KW_ALL_OF, KW_ONE_OF,
};

static const struct { const char *name; enum kw kw; } keywords[] = {
	{ "$schema", KW_SCHEMA }, { "$id", KW_ID }, { "$defs", KW_DEFS }, { "$ref", KW_REF },
	{ "$comment", KW_TEXT }, { "title", KW_TEXT }, { "description", KW_TEXT },
	{ "format", KW_FORMAT }, { "type", KW_TYPE }, { "enum", KW_ENUM }, { "const", KW_CONST },
	{ "properties", KW_PROPERTIES }, { "required", KW_REQUIRED },
	{ "additionalProperties", KW_ADDITIONAL }, { "propertyNames", KW_PROPERTY_NAMES },
	{ "minProperties", KW_MIN_PROPERTIES }, { "maxProperties", KW_MAX_PROPERTIES },
	{ "items", KW_ITEMS }, { "minItems", KW_MIN_ITEMS }, { "maxItems", KW_MAX_ITEMS },
	{ "uniqueItems", KW_UNIQUE }, { "minimum", KW_MINIMUM }, { "maximum", KW_MAXIMUM },
	{ "exclusiveMinimum", KW_XMINIMUM }, { "exclusiveMaximum", KW_XMAXIMUM },
	{ "minLength", KW_MIN_LENGTH }, { "maxLength", KW_MAX_LENGTH }, { "pattern", KW_PATTERN },
	{ "not", KW_NOT }, { "anyOf", KW_ANY_OF }, { "allOf", KW_ALL_OF }, { "oneOf", KW_ONE_OF },
};

static const struct { const char *name; unsigned bit; } type_names[] = {
	{ "null", TM_T_NULL }, { "boolean", TM_T_BOOLEAN }, { "integer", TM_T_INTEGER },
	{ "number", TM_T_NUMBER }, { "string", TM_T_STRING }, { "array", TM_T_ARRAY },
	{ "object", TM_T_OBJECT },
};

static int bad(struct cctx *c, const char *reason, const struct tm_seg *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(struct cctx *c, const char *reason, const struct tm_seg *at, const char *fmt, ...)
{
	char path[TM_ERROR_MSG_MAX], msg[TM_ERROR_MSG_MAX];
	tm_seg_format(at, true, path, sizeof(path));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_error_set(c->err, reason, "%s: %s", path, msg);
}

static int nomem(struct cctx *c)
{
	return tm_error_set(c->err, "internal.nomem", "out of memory while compiling the schema");
}

static struct sch *sch_new(struct cctx *c)
{
	struct tm_schema *s = c->s;
	if (s->n_all == s->cap_all) {
		size_t cap = s->cap_all ? 2 * s->cap_all : 32;
		struct sch **all = realloc(s->all, cap * sizeof(*all));
		if (all == NULL)
			return NULL;
		s->all = all;
		s->cap_all = cap;
	}
	struct sch *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->boolean = -1;
	n->min_properties = n->max_properties = -1;
	n->min_items = n->max_items = -1;
	n->min_length = n->max_length = -1;
	s->all[s->n_all++] = n;
	return n;
}

static int compile(struct cctx *c, const struct tm_node *n, const struct tm_seg *at,
		   struct sch *into);

static int sub(struct cctx *c, const struct tm_node *n, const struct tm_seg *at,
	       struct sch **out)
{
	struct sch *s = sch_new(c);
	if (s == NULL)
		return nomem(c);
	*out = s;
	return compile(c, n, at, s);
}

static int sub_list(struct cctx *c, const struct tm_node *n, const struct tm_seg *at,
		    struct sch ***out, size_t *count)
{
	if (n->type != TM_NODE_SEQ || n->u.seq.n == 0)
		return bad(c, "schema.invalid", at, "must be a non-empty array of schemas");
	*out = calloc(n->u.seq.n, sizeof(**out));
	if (*out == NULL)
		return nomem(c);
	*count = n->u.seq.n;
	for (size_t i = 0; i < n->u.seq.n; i++) {
		struct tm_seg seg = { .up = at, .idx = i };
		if (sub(c, n->u.seq.items[i], &seg, &(*out)[i]) < 0)
			return -1;
	}
	return 0;
}

/* A non-negative integer keyword value (2020-12 also allows 5.0). */
static int count_value(struct cctx *c, const struct tm_node *n, const struct tm_seg *at,
		       int64_t *out)
{
	if (n->type == TM_NODE_INT && n->u.i >= 0) {
		*out = n->u.i;
		return 0;
	}
	if (n->type == TM_NODE_FLOAT && n->u.f >= 0 && n->u.f < 9223372036854775808.0 &&
	    tm_schema_float_is_integer(n->u.f)) {
		*out = (int64_t)n->u.f;
		return 0;
	}
	return bad(c, "schema.invalid", at, "must be a non-negative integer");
}

/* Refuse ECMA-262 syntax that POSIX ERE would read differently. */
static int pattern_portable(struct cctx *c, const char *p, const struct tm_seg *at)
{
	bool in_class = false;
	for (size_t i = 0; p[i] != '\0'; i++) {
		char ch = p[i];
		if (in_class) {
			if (ch == '\\')
				return bad(c, "schema.unsupported", at,
					   "pattern has a backslash inside [...] at offset %zu", i);
			if (ch == '[' && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '='))
				return bad(c, "schema.unsupported", at,
					   "pattern has a POSIX class [%c at offset %zu", p[i + 1], i);
			if (ch == ']')
				in_class = false;
			continue;
		}
		if (ch == '\\') {
			if (p[i + 1] == '\0')
				return bad(c, "schema.invalid", at, "pattern ends with a backslash");
			if (strchr("\\^$.|?*+()[]{}", p[i + 1]) == NULL)
				return bad(c, "schema.unsupported", at,
					   "pattern escape \\%c at offset %zu is not portable", p[i + 1], i);
			i++;
		} else if (ch == '[') {
			in_class = true;
			if (p[i + 1] == '^')
				i++;
			if (p[i + 1] == ']')
				return bad(c, "schema.unsupported", at,
					   "pattern has ']' first in [...] at offset %zu", i);
		} else if (ch == '(' && p[i + 1] == '?') {
			return bad(c, "schema.unsupported", at,
				   "pattern group syntax (? at offset %zu", i);
		} else if ((ch == '*' || ch == '+' || ch == '?' || ch == '}') && p[i + 1] == '?') {
			return bad(c, "schema.unsupported", at,
				   "pattern lazy quantifier at offset %zu", i);
		}
	}
	if (in_class)
		return bad(c, "schema.invalid", at, "pattern has an unterminated [...]");
	return 0;
}

static int compile_regex(struct cctx *c, const struct tm_node *v, const struct tm_seg *at,
			 regex_t *re)
{
	if (v->type != TM_NODE_STRING)
		return bad(c, "schema.invalid", at, "must be a string (a regular expression)");
	if (pattern_portable(c, v->u.str.s, at) < 0)
		return -1;
	int rc = regcomp(re, v->u.str.s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char why[128];
		regerror(rc, re, why, sizeof(why));
		return bad(c, "schema.invalid", at, "pattern does not compile: %s", why);
	}
	return 0;
}

static int compile_ref(struct cctx *c, const struct tm_node *v, const struct tm_seg *at,
		       struct sch *into)
{
	static const char prefix[] = "#/$defs/";
	if (v->type != TM_NODE_STRING)
		return bad(c, "schema.invalid", at, "must be a string");
	const char *r = v->u.str.s;
	if (strncmp(r, prefix, sizeof(prefix) - 1) != 0 || strchr(r + sizeof(prefix) - 1, '/'))
		return bad(c, "schema.unsupported", at,
			   "reference '%s' (only local #/$defs/NAME references)", r);
	/* decode the JSON Pointer escapes ~1 and ~0 */
	char name[TM_ERROR_MSG_MAX];
	size_t k = 0;
	for (const char *p = r + sizeof(prefix) - 1; *p != '\0' && k < sizeof(name) - 1; p++) {
		if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
			name[k++] = p[1] == '0' ? '~' : '/';
			p++;
		} else {
			name[k++] = *p;
		}
	}
	name[k] = '\0';
	for (size_t i = 0; i < c->s->n_defs; i++)
		if (strcmp(c->s->defs[i].name, name) == 0) {
			into->ref = c->s->defs[i].s;
			return 0;
		}
	return bad(c, "schema.invalid", at, "reference '%s' names no entry in $defs", r);
}

static int compile_type(struct cctx *c, const struct tm_node *v, const struct tm_seg *at,
			struct sch *into)
{
	size_t n = v->type == TM_NODE_SEQ ? v->u.seq.n : 1;
	if ((v->type != TM_NODE_SEQ && v->type != TM_NODE_STRING) || n == 0)
		return bad(c, "schema.invalid", at, "must be a type name or a non-empty array of them");
	for (size_t i = 0; i < n; i++) {
		const struct tm_node *t = v->type == TM_NODE_SEQ ? v->u.seq.items[i] : v;
		unsigned bit = 0;
		for (size_t k = 0; t->type == TM_NODE_STRING && k < 7; k++)
			if (strcmp(t->u.str.s, type_names[k].name) == 0)
				bit = type_names[k].bit;
		if (bit == 0)
			return bad(c, "schema.invalid", at, "unknown type name at index %zu", i);
		if (into->types & bit)
			return bad(c, "schema.invalid", at, "type '%s' listed twice", t->u.str.s);
		into->types |= bit;
		into->type_names[into->n_type_names++] = t->u.str.s;
	}
	return 0;
}

static int compile_properties(struct cctx *c, const struct tm_node *v, const struct tm_seg *at,
			      struct sch *into)
{
	if (v->type != TM_NODE_MAP)
		return bad(c, "schema.invalid", at, "must be an object of schemas");
	if (v->u.map.n > 0 && (into->props = calloc(v->u.map.n, sizeof(*into->props))) == NULL)
		return nomem(c);
	for (size_t i = 0; i < v->u.map.n; i++) {
		const struct tm_node_pair *p = &v->u.map.pairs[i];
		struct tm_seg seg = { .up = at, .key = p->key };
		into->props[i].name = p->key;
		into->props[i].len = p->key_len;
		into->n_props++;
		if (sub(c, p->value, &seg, &into->props[i].s) < 0)
			return -1;
	}
	return 0;
}

static int compile_required(struct cctx *c, const struct tm_node *v, const struct tm_seg *at,
			    struct sch *into)
{
	if (v->type != TM_NODE_SEQ)
		return bad(c, "schema.invalid", at, "must be an array of strings");
	if (v->u.seq.n > 0 && (into->required = calloc(v->u.seq.n, sizeof(*into->required))) == NULL)
		return nomem(c);
	for (size_t i = 0; i < v->u.seq.n; i++) {
		const struct tm_node *f = v->u.seq.items[i];
		if (f->type != TM_NODE_STRING)
			return bad(c, "schema.invalid", at, "item %zu is not a string", i);
		for (size_t k = 0; k < i; k++)
			if (tm_schema_json_equal(f, v->u.seq.items[k], 0) == 1)
				return bad(c, "schema.invalid", at, "'%s' is listed twice", f->u.str.s);
		into->required[into->n_required++] = f;
	}
	return 0;
}

static int compile_keyword(struct cctx *c, enum kw kw, const struct tm_node *v,
			   const struct tm_seg *at, bool root, struct sch *into)
{
	switch (kw) {
	case KW_SCHEMA:
		if (v->type != TM_NODE_STRING)
			return bad(c, "schema.invalid", at, "must be a string");
		if (strcmp(v->u.str.s, DIALECT) != 0 && strcmp(v->u.str.s, DIALECT "#") != 0)
			return bad(c, "schema.unsupported", at, "dialect '%s' (only " DIALECT ")",
				   v->u.str.s);
		return 0;
	case KW_ID:
	case KW_DEFS:
		if (!root)
			return bad(c, "schema.unsupported", at, "only at the root of the schema");
		if (kw == KW_ID && v->type != TM_NODE_STRING)
			return bad(c, "schema.invalid", at, "must be a string");
		return 0;  /* $defs were compiled before the root */
	case KW_REF:
		return compile_ref(c, v, at, into);
	case KW_TEXT:
	case KW_FORMAT:
		if (v->type != TM_NODE_STRING)
			return bad(c, "schema.invalid", at, "must be a string");
		return 0;
	case KW_TYPE:
		return compile_type(c, v, at, into);
	case KW_ENUM:
		if (v->type != TM_NODE_SEQ)
			return bad(c, "schema.invalid", at, "must be an array");
		into->enum_values = v;
		return 0;
	case KW_CONST:
		into->const_value = v;
		return 0;
	case KW_PROPERTIES:
		return compile_properties(c, v, at, into);
	case KW_REQUIRED:
		return compile_required(c, v, at, into);
	case KW_ADDITIONAL:
		return sub(c, v, at, &into->additional);
	case KW_PROPERTY_NAMES:
		return sub(c, v, at, &into->property_names);
	case KW_ITEMS:
		if (v->type == TM_NODE_SEQ)
			return bad(c, "schema.invalid", at,
				   "must be one schema (2020-12; an array here is prefixItems)");
		return sub(c, v, at, &into->items);
	case KW_NOT:
		return sub(c, v, at, &into->not_);
	case KW_MIN_PROPERTIES: return count_value(c, v, at, &into->min_properties);
	case KW_MAX_PROPERTIES: return count_value(c, v, at, &into->max_properties);
	case KW_MIN_ITEMS: return count_value(c, v, at, &into->min_items);
	case KW_MAX_ITEMS: return count_value(c, v, at, &into->max_items);
	case KW_MIN_LENGTH: return count_value(c, v, at, &into->min_length);
	case KW_MAX_LENGTH: return count_value(c, v, at, &into->max_length);
	case KW_UNIQUE:
		if (v->type != TM_NODE_BOOL)
			return bad(c, "schema.invalid", at, "must be true or false");
		into->unique = v->u.b;
		return 0;
	case KW_MINIMUM:
	case KW_MAXIMUM:
	case KW_XMINIMUM:
	case KW_XMAXIMUM:
		if (v->type != TM_NODE_INT && v->type != TM_NODE_FLOAT)
			return bad(c, "schema.invalid", at, "must be a number");
		*(kw == KW_MINIMUM ? &into->minimum : kw == KW_MAXIMUM ? &into->maximum :
		  kw == KW_XMINIMUM ? &into->xminimum : &into->xmaximum) = v;
		return 0;
	case KW_PATTERN:
		if (compile_regex(c, v, at, &into->re) < 0)
			return -1;
		into->pattern = v->u.str.s;
		struct sch_simple simple;
		if (tm_sch_simple_compile(into->pattern, &simple) &&
		    (into->simple = malloc(sizeof(simple))) != NULL)
			*into->simple = simple; /* no memory: regexec alone, as correct */
		return 0;
	case KW_ANY_OF: return sub_list(c, v, at, &into->any_of, &into->n_any_of);
	case KW_ALL_OF: return sub_list(c, v, at, &into->all_of, &into->n_all_of);
	case KW_ONE_OF: return sub_list(c, v, at, &into->one_of, &into->n_one_of);
	}
	return tm_error_set(c->err, "internal.bug", "schema keyword %d not handled", (int)kw);
}

static int compile(struct cctx *c, const struct tm_node *n, const struct tm_seg *at,
		   struct sch *into)
{
	if (n->type == TM_NODE_BOOL) {
		into->boolean = n->u.b ? 1 : 0;
		return 0;
	}
	if (n->type != TM_NODE_MAP)
		return bad(c, "schema.invalid", at, "a schema must be an object or a boolean, not %s",
			   tm_node_type_name(n->type));
	bool root = at == NULL;
	for (size_t i = 0; i < n->u.map.n; i++) {
		const struct tm_node_pair *p = &n->u.map.pairs[i];
		struct tm_seg seg = { .up = at, .key = p->key };
		if (strncmp(p->key, "x-", 2) == 0) {
			if (!root || strcmp(p->key, PII_KEYWORD) != 0)
				continue;  /* annotation */
			if (compile_regex(c, p->value, &seg, &c->s->pii) < 0)
				return -1;
			c->s->has_pii = true;
			continue;
		}
		size_t k = 0;
		while (k < sizeof(keywords) / sizeof(keywords[0]) &&
		       strcmp(keywords[k].name, p->key) != 0)
			k++;
		if (k == sizeof(keywords) / sizeof(keywords[0])) {
			char path[TM_ERROR_MSG_MAX];
			tm_seg_format(at, true, path, sizeof(path));
			return tm_error_set(c->err, "schema.unsupported",
					    "unsupported keyword '%s' at %s", p->key, path);
		}
		if (compile_keyword(c, keywords[k].kw, p->value, &seg, root, into) < 0)
			return -1;
	}
	return 0;
}

/* $defs first (all entries exist before any body is compiled, so
 * references between them, even recursive ones, resolve at once). */
static int compile_defs(struct cctx *c, const struct tm_node *root)
{
	const struct tm_node *defs = root->type == TM_NODE_MAP ? tm_node_get(root, "$defs") : NULL;
	if (defs == NULL)
		return 0;
	struct tm_seg dseg = { .key = "$defs" };
	if (defs->type != TM_NODE_MAP)
		return bad(c, "schema.invalid", &dseg, "must be an object of schemas");
	if (defs->u.map.n == 0)
		return 0;
	c->s->defs = calloc(defs->u.map.n, sizeof(*c->s->defs));
	if (c->s->defs == NULL)
		return nomem(c);
	for (size_t i = 0; i < defs->u.map.n; i++) {
		struct sch *d = sch_new(c);
		if (d == NULL)
			return nomem(c);
		c->s->defs[i].name = defs->u.map.pairs[i].key;
		c->s->defs[i].s = d;
		c->s->n_defs++;
	}
	for (size_t i = 0; i < defs->u.map.n; i++) {
		struct tm_seg seg = { .up = &dseg, .key = defs->u.map.pairs[i].key };
		if (compile(c, defs->u.map.pairs[i].value, &seg, c->s->defs[i].s) < 0)
			return -1;
	}
	return 0;
}

void tm_schema_free(struct tm_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_all; i++) {
		struct sch *n = s->all[i];
		if (n->pattern != NULL)
			regfree(&n->re);
		free(n->simple);
		free(n->props);
		free(n->required);
		free(n->any_of);
		free(n->all_of);
		free(n->one_of);
		free(n);
	}
	if (s->has_pii)
		regfree(&s->pii);
	free(s->known);
	free(s->all);
	free(s->defs);
	tm_node_free(s->tree);
	free(s);
}

static int known_cmp(const void *a, const void *b)
{
	const struct sch_known *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);
	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int index_known_names(struct tm_schema *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_all; i++)
		n += s->all[i]->n_props;
	if (n == 0)
		return 0;
	s->known = calloc(n, sizeof(*s->known));
	if (s->known == NULL)
		return -1;
	for (size_t i = 0; i < s->n_all; i++)
		for (size_t k = 0; k < s->all[i]->n_props; k++) {
			const struct sch_prop *p = &s->all[i]->props[k];
			s->known[s->n_known++] = (struct sch_known){ .name = p->name, .len = p->len };
		}
	qsort(s->known, s->n_known, sizeof(*s->known), known_cmp);
	size_t w = 0;
	for (size_t i = 0; i < s->n_known; i++)
		if (w == 0 || known_cmp(&s->known[w - 1], &s->known[i]) != 0)
			s->known[w++] = s->known[i];
	s->n_known = w;
	s->n_known_ready = false; /* verdicts below use the regex path */
	for (size_t i = 0; i < s->n_known; i++) {
		int v = tm_schema_pii_name(s, s->known[i].name, s->known[i].len);
		if (v < 0)
			return -1;
		s->known[i].pii = v == 1;
	}
	s->n_known_ready = true;
	return 0;
}

int tm_schema_load(const uint8_t *buf, size_t len, struct tm_schema **out, struct tm_error *err)
{
	struct tm_error rerr = {0};
	struct tm_schema *s = NULL;
	struct cctx c = { .err = err };
	int rc = -1;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory loading a schema");
		goto out;
	}
	c.s = s;
	if (tm_yaml_read(buf, len, &TM_YAML_CONFIG_LIMITS, &s->tree, &rerr) < 0) {
		tm_error_set(err, "schema.invalid", "schema is not readable (%s): %s",
			     rerr.reason ? rerr.reason : "?", rerr.msg);
		goto out;
	}
	if (compile_defs(&c, s->tree) < 0)
		goto out;
	if ((s->root = sch_new(&c)) == NULL) {
		nomem(&c);
		goto out;
	}
	if (compile(&c, s->tree, NULL, s->root) < 0)
		goto out;
	if (s->has_pii && index_known_names(s) < 0) {
		nomem(&c);
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	tm_schema_free(s);
	return rc;
}

int tm_schema_load_file(const char *path, struct tm_schema **out, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	int rc = tm_buf_read_file(&b, path, TM_SCHEMA_MAX_FILE, err);
	if (rc == 0)
		rc = tm_schema_load(b.data, b.len, out, err);
	else
		*out = NULL;
	if (rc < 0)
		tm_error_prefix(err, "%s", path);
	tm_buf_fini(&b);
	return rc;
}

/* ---- the compiled-in report schema v1, loaded once ---- */

extern const unsigned char tm_schema_report_v1_text[];
extern const unsigned long tm_schema_report_v1_text_len;

static pthread_once_t v1_once = PTHREAD_ONCE_INIT;
static struct tm_schema *v1_schema;  /* written once under v1_once, then read only */
static struct tm_error v1_error;

static void v1_load(void)
{
	if (tm_schema_load(tm_schema_report_v1_text, tm_schema_report_v1_text_len, &v1_schema,
			   &v1_error) < 0)
		v1_schema = NULL;
}

int tm_schema_report_v1(const struct tm_schema **out, struct tm_error *err)
{
	*out = NULL;
	if (pthread_once(&v1_once, v1_load) != 0)
		return tm_error_set(err, "internal.library", "pthread_once failed");
	if (v1_schema == NULL) {
		if (err != NULL)
			*err = v1_error;
		tm_error_prefix(err, "compiled-in schema v1");
		return -1;
	}
	*out = v1_schema;
	return 0;
}

/* telemail — configuration maps: one reader for every section table
 * (telemail/config_map.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <telemail/buf.h>
#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/mailbox.h>
#include <telemail/path.h>
#include <telemail/node.h>

#define PATH_MAX_LEN 256

static const char nomem[] = "out of memory";

int tm_conf_fail(const struct tm_conf_ctx *c, const struct tm_node *at, const char *reason,
		 const char *path, const char *fmt, ...)
{
	char msg[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned line = at != NULL && at->line > 0 ? at->line : 1u;
	const char *p = path[0] != '\0' ? path : "(top level)";
	if (c->file != NULL)
		return tm_error_set(c->err, reason, "%s:%u: %s: %s", c->file, line, p, msg);
	return tm_error_set(c->err, reason, "line %u: %s: %s", line, p, msg);
}

#define BAD(c, at, path, ...) tm_conf_fail(c, at, "config.bad_value", path, __VA_ARGS__)

static void child(char *out, const char *parent, const char *key)
{
	snprintf(out, PATH_MAX_LEN, "%s%s%.100s", parent, parent[0] != '\0' ? "." : "", key);
}

static int want(const struct tm_conf_ctx *c, const struct tm_node *n, enum tm_node_type t,
		const char *path)
{
	if (n->type == t)
		return 0;
	const char *w = t == TM_NODE_MAP ? "a mapping" : t == TM_NODE_SEQ ? "a list" :
			t == TM_NODE_STRING ? "a string" : t == TM_NODE_BOOL ? "true or false" :
			"an integer";
	return BAD(c, n, path, "must be %s, not %s", w, tm_node_type_name(n->type));
}

int tm_conf_string(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		   size_t max, char **out)
{
	if (want(c, n, TM_NODE_STRING, path) < 0)
		return -1;
	if (n->u.str.len == 0)
		return BAD(c, n, path, "must not be empty");
	if (n->u.str.len > max)
		return BAD(c, n, path, "longer than %zu bytes", max);
	for (size_t i = 0; i < n->u.str.len; i++)
		if ((unsigned char)n->u.str.s[i] < 0x20 || n->u.str.s[i] == 0x7f)
			return BAD(c, n, path, "holds a control character");
	char *s = strdup(n->u.str.s);
	if (s == NULL)
		return tm_error_set(c->err, "internal.nomem", nomem);
	free(*out);
	*out = s;
	return 0;
}

static int absolute(const struct tm_conf_ctx *c, char **p)
{
	char *r = tm_path_resolve(c->base, *p);
	if (r == NULL)
		return tm_error_set(c->err, "internal.nomem", nomem);
	free(*p);
	*p = r;
	return 0;
}

int tm_conf_duration(const char *text, int64_t *seconds, struct tm_error *err)
{
	const char *p = text != NULL ? text : "";
	int64_t v = 0;
	size_t nd = 0;
	for (; *p >= '0' && *p <= '9'; p++, nd++) {
		if (v > TM_CONF_MAX_DURATION)
			break;
		v = v * 10 + (*p - '0');
	}
	int64_t unit = 0;
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: break;
	}
	if (nd == 0 || unit == 0 || p[1] != '\0')
		return tm_error_set(err, "config.bad_value",
				    "'%.40s' is not a duration (a number and s, m, h or d: 90s, 10m, 7d)",
				    text != NULL ? text : "");
	if (v > TM_CONF_MAX_DURATION / unit)
		return tm_error_set(err, "config.bad_value", "'%.40s' is longer than %lld days", text,
				    TM_CONF_MAX_DURATION / 86400);
	*seconds = v * unit;
	return 0;
}

/* ---- fields ---- */

static void *field(void *obj, const struct tm_conf_entry *e)
{
	return (char *)obj + e->offset;
}

static void store_int(void *f, size_t size, int64_t v)
{
	switch (size) {
	case 1: { int8_t x = (int8_t)v; memcpy(f, &x, 1); break; }
	case 2: { int16_t x = (int16_t)v; memcpy(f, &x, 2); break; }
	case 4: { int32_t x = (int32_t)v; memcpy(f, &x, 4); break; }
	default: memcpy(f, &v, 8); break;
	}
}

static int enum_lookup(const struct tm_conf_entry *e, const char *s, int *out)
{
	for (const struct tm_conf_choice *ch = e->choices; ch->name != NULL; ch++)
		if ((e->flags & TM_CONF_NOCASE) ? strcasecmp(ch->name, s) == 0 :
		    strcmp(ch->name, s) == 0) {
			*out = ch->value;
			return 0;
		}
	return -1;
}

static size_t string_max(const struct tm_conf_entry *e, enum tm_conf_type t)
{
	return t == TM_CONF_PATH ? TM_CONF_MAX_PATH : t == TM_CONF_ADDRESS ? 254 :
	       e->type == TM_CONF_STRING && e->max > 0 ? (size_t)e->max : 4096;
}

/* A string, path or address into *out. */
static int read_text(const struct tm_conf_ctx *c, const struct tm_conf_entry *e,
		     enum tm_conf_type t, const struct tm_node *n, const char *path, char **out)
{
	if (tm_conf_string(c, n, path, string_max(e, t), out) < 0)
		return -1;
	if (t == TM_CONF_PATH)
		return absolute(c, out);
	if (t == TM_CONF_ADDRESS && !tm_mailbox_ok(*out))
		return BAD(c, n, path, "'%s' is not a mailbox (local@domain)", *out);
	return 0;
}

static int read_duration(const struct tm_conf_ctx *c, const struct tm_conf_entry *e,
			 const struct tm_node *n, const char *path, int64_t *out)
{
	int64_t v = 0;
	char text[48];
	if ((c->flags & TM_CONF_INT_SECONDS) && n->type == TM_NODE_INT) {
		v = n->u.i;
		snprintf(text, sizeof(text), "%llds", (long long)v);
	} else {
		if (want(c, n, TM_NODE_STRING, path) < 0)
			return -1;
		struct tm_error de = {0};
		const char *s = n->u.str.s;
		char withunit[48];
		size_t len = strspn(s, "0123456789");
		if ((c->flags & TM_CONF_INT_SECONDS) && len > 0 && s[len] == '\0' && len < 40) {
			snprintf(withunit, sizeof(withunit), "%ss", s);   /* "90" is 90s */
			s = withunit;
		}
		if (tm_conf_duration(s, &v, &de) < 0)
			return BAD(c, n, path, "%s", de.msg);
		snprintf(text, sizeof(text), "%.40s", n->u.str.s);
	}
	if (v < e->min || v > e->max)
		return BAD(c, n, path, "%s is out of range %llds..%llds", text, (long long)e->min,
			   (long long)e->max);
	*out = v;
	return 0;
}

static int read_list(const struct tm_conf_ctx *c, const struct tm_conf_entry *e,
		     const struct tm_node *n, const char *path, void *obj)
{
	if (want(c, n, TM_NODE_SEQ, path) < 0)
		return -1;
	size_t cnt = n->u.seq.n;
	if ((int64_t)cnt < e->min || (int64_t)cnt > e->max)
		return BAD(c, n, path, "%zu entries; want %lld to %lld", cnt, (long long)e->min,
			   (long long)e->max);
	size_t *count = (size_t *)((char *)obj + e->count_offset);
	char *items;
	size_t isz = e->of == TM_CONF_SECTION ? e->elem_size : sizeof(char *);
	if (e->flags & TM_CONF_INLINE) {
		items = field(obj, e);
	} else {
		items = calloc(cnt, isz);
		if (items == NULL)
			return tm_error_set(c->err, "internal.nomem", nomem);
		memcpy(field(obj, e), &items, sizeof(items));
	}
	*count = 0;
	for (size_t i = 0; i < cnt; i++) {
		char p[PATH_MAX_LEN + 24];
		snprintf(p, sizeof(p), "%.*s[%zu]", PATH_MAX_LEN - 1, path, i);
		void *it = items + i * isz;
		*count = i + 1;
		if (e->of == TM_CONF_SECTION) {
			if (tm_conf_defaults(e->section, it, c->err) < 0 ||
			    tm_conf_read(c, e->section, n->u.seq.items[i], p, it) < 0)
				return -1;
		} else if (read_text(c, e, e->of, n->u.seq.items[i], p, it) < 0) {
			return -1;
		}
	}
	return 0;
}

static void *section_obj(const struct tm_conf_entry *e, void *obj)
{
	void *f = field(obj, e);
	if (e->flags & TM_CONF_POINTER) {
		void *p;
		memcpy(&p, f, sizeof(p));
		return p;
	}
	return f;
}

static int read_value(const struct tm_conf_ctx *c, const struct tm_conf_entry *e,
		      const struct tm_node *n, const char *path, void *obj)
{
	void *f = field(obj, e);
	int64_t v = 0;
	int ev;
	switch (e->type) {
	case TM_CONF_STRING:
	case TM_CONF_PATH:
	case TM_CONF_ADDRESS:
		return read_text(c, e, e->type, n, path, f);
	case TM_CONF_BOOL:
		if (want(c, n, TM_NODE_BOOL, path) < 0)
			return -1;
		*(bool *)f = n->u.b;
		return 0;
	case TM_CONF_INT:
	case TM_CONF_SIZE:
		if (want(c, n, TM_NODE_INT, path) < 0)
			return -1;
		if (n->u.i < e->min || n->u.i > e->max)
			return BAD(c, n, path, "%lld is out of range %lld..%lld", (long long)n->u.i,
				   (long long)e->min, (long long)e->max);
		store_int(f, e->size, n->u.i);
		return 0;
	case TM_CONF_DURATION:
		if (read_duration(c, e, n, path, &v) < 0)
			return -1;
		store_int(f, e->size, v);
		return 0;
	case TM_CONF_ENUM:
		if (want(c, n, TM_NODE_STRING, path) < 0)
			return -1;
		if (enum_lookup(e, n->u.str.s, &ev) == 0) {
			store_int(f, e->size, ev);
			return 0;
		}
		if (e->what != NULL)
			return BAD(c, n, path, "'%.80s' %s", n->u.str.s, e->what);
		{
			char w[160] = "want ";
			for (const struct tm_conf_choice *ch = e->choices; ch->name != NULL; ch++)
				snprintf(w + strlen(w), sizeof(w) - strlen(w), "%s%s",
					 ch == e->choices ? "" : ch[1].name == NULL ? " or " : ", ",
					 ch->name);
			return BAD(c, n, path, "%s", w);
		}
	case TM_CONF_LIST:
		return read_list(c, e, n, path, obj);
	case TM_CONF_SECTION:
		return tm_conf_read(c, e->section, n, path, section_obj(e, obj));
	case TM_CONF_CUSTOM:
		return e->read(c, n, path, obj);
	}
	return 0;
}

int tm_conf_read(const struct tm_conf_ctx *c, const struct tm_conf_section *s,
		 const struct tm_node *n, const char *path, void *obj)
{
	char p[PATH_MAX_LEN];
	if (want(c, n, TM_NODE_MAP, path) < 0)
		return -1;
	for (size_t i = 0; i < n->u.map.n; i++) {
		const char *k = n->u.map.pairs[i].key;
		size_t j = 0;
		while (j < s->n && strcmp(s->entries[j].key, k) != 0)
			j++;
		if (j == s->n) {
			child(p, path, k);
			return tm_conf_fail(c, n->u.map.pairs[i].value, "config.unknown_key", p,
					    "unknown key");
		}
	}
	for (size_t j = 0; j < s->n; j++) {
		const struct tm_conf_entry *e = &s->entries[j];
		const struct tm_node *v = tm_node_get(n, e->key);
		child(p, path, e->key);
		if (v != NULL && v->type == TM_NODE_NULL && (c->flags & TM_CONF_NULL_ABSENT))
			v = NULL;
		if (v == NULL) {
			if (e->flags & TM_CONF_REQUIRED)
				return tm_conf_fail(c, n, "config.missing_key", p, "missing");
			continue;
		}
		if (read_value(c, e, v, p, obj) < 0)
			return -1;
	}
	return s->check != NULL ? s->check(c, n, path, obj) : 0;
}

/* ---- defaults ---- */

int tm_conf_defaults(const struct tm_conf_section *s, void *obj, struct tm_error *err)
{
	for (size_t j = 0; j < s->n; j++) {
		const struct tm_conf_entry *e = &s->entries[j];
		void *f = field(obj, e);
		int64_t v;
		int ev;
		if (e->type == TM_CONF_SECTION) {
			void *o = section_obj(e, obj);
			if (o != NULL && tm_conf_defaults(e->section, o, err) < 0)
				return -1;
			continue;
		}
		if (e->def == NULL || (e->flags & TM_CONF_DEF_DOC))
			continue;
		switch (e->type) {
		case TM_CONF_STRING:
		case TM_CONF_PATH:
		case TM_CONF_ADDRESS: {
			char *d = strdup(e->def);
			if (d == NULL)
				return tm_error_set(err, "internal.nomem", nomem);
			free(*(char **)f);
			*(char **)f = d;
			break;
		}
		case TM_CONF_BOOL:
			*(bool *)f = strcmp(e->def, "true") == 0;
			break;
		case TM_CONF_INT:
		case TM_CONF_SIZE:
			store_int(f, e->size, strtoll(e->def, NULL, 10));
			break;
		case TM_CONF_DURATION:
			if (tm_conf_duration(e->def, &v, err) < 0)
				return -1;
			store_int(f, e->size, v);
			break;
		case TM_CONF_ENUM:
			if (enum_lookup(e, e->def, &ev) < 0)
				return tm_error_set(err, "internal.bug", "%s: default '%s' is no choice",
						    e->key, e->def);
			store_int(f, e->size, ev);
			break;
		default:
			break;
		}
	}
	return 0;
}

void tm_conf_release(const struct tm_conf_section *s, void *obj)
{
	for (size_t j = 0; obj != NULL && j < s->n; j++) {
		const struct tm_conf_entry *e = &s->entries[j];
		void *f = field(obj, e);
		switch (e->type) {
		case TM_CONF_STRING:
		case TM_CONF_PATH:
		case TM_CONF_ADDRESS:
			free(*(char **)f);
			*(char **)f = NULL;
			break;
		case TM_CONF_SECTION:
			tm_conf_release(e->section, section_obj(e, obj));
			break;
		case TM_CONF_LIST: {
			size_t *count = (size_t *)((char *)obj + e->count_offset);
			char *items = (e->flags & TM_CONF_INLINE) ? (char *)f : *(char **)f;
			size_t isz = e->of == TM_CONF_SECTION ? e->elem_size : sizeof(char *);
			for (size_t i = 0; items != NULL && i < *count; i++) {
				if (e->of == TM_CONF_SECTION)
					tm_conf_release(e->section, items + i * isz);
				else
					free(((char **)(void *)items)[i]);
			}
			if (!(e->flags & TM_CONF_INLINE)) {
				free(items);
				*(char **)f = NULL;
			}
			*count = 0;
			break;
		}
		default:
			break;
		}
	}
}

/* ---- the documented defaults ---- */

static const char *type_name(const struct tm_conf_entry *e)
{
	static const char *const names[] = {
		[TM_CONF_STRING] = "string", [TM_CONF_PATH] = "path", [TM_CONF_ADDRESS] = "address",
		[TM_CONF_BOOL] = "bool", [TM_CONF_INT] = "int", [TM_CONF_SIZE] = "size",
		[TM_CONF_DURATION] = "duration", [TM_CONF_ENUM] = "enum", [TM_CONF_LIST] = "list",
		[TM_CONF_SECTION] = "section", [TM_CONF_CUSTOM] = "custom",
	};
	if (e->type == TM_CONF_CUSTOM && e->type_name != NULL)
		return e->type_name;
	if (e->type == TM_CONF_LIST)
		return e->of == TM_CONF_PATH ? "list(path)" : e->of == TM_CONF_ADDRESS ?
		       "list(address)" : e->of == TM_CONF_SECTION ? "list(section)" : "list(string)";
	return names[e->type];
}

static void dur_text(char *out, size_t cap, int64_t s)
{
	if (s != 0 && s % 86400 == 0)
		snprintf(out, cap, "%lldd", (long long)(s / 86400));
	else if (s != 0 && s % 3600 == 0)
		snprintf(out, cap, "%lldh", (long long)(s / 3600));
	else if (s != 0 && s % 60 == 0)
		snprintf(out, cap, "%lldm", (long long)(s / 60));
	else
		snprintf(out, cap, "%llds", (long long)s);
}

static void limits_text(const struct tm_conf_entry *e, char *out, size_t cap)
{
	char a[32], b[32];
	out[0] = '-';
	out[1] = '\0';
	switch (e->type) {
	case TM_CONF_INT:
	case TM_CONF_SIZE:
		snprintf(out, cap, "%lld..%lld", (long long)e->min, (long long)e->max);
		break;
	case TM_CONF_DURATION:
		dur_text(a, sizeof(a), e->min);
		dur_text(b, sizeof(b), e->max);
		snprintf(out, cap, "%s..%s", a, b);
		break;
	case TM_CONF_STRING:
	case TM_CONF_PATH:
	case TM_CONF_ADDRESS:
		snprintf(out, cap, "1..%zu bytes", string_max(e, e->type));
		break;
	case TM_CONF_LIST:
		snprintf(out, cap, "%lld..%lld items", (long long)e->min, (long long)e->max);
		break;
	case TM_CONF_ENUM:
		out[0] = '\0';
		for (const struct tm_conf_choice *ch = e->choices; ch->name != NULL; ch++)
			snprintf(out + strlen(out), cap - strlen(out), "%s%s",
				 ch == e->choices ? "" : "|", ch->name);
		break;
	default:
		break;
	}
}

static int describe(const struct tm_conf_section *s, const char *prefix, bool tsv,
		    struct tm_buf *out)
{
	for (size_t j = 0; j < s->n; j++) {
		const struct tm_conf_entry *e = &s->entries[j];
		char key[PATH_MAX_LEN], lim[160];
		snprintf(key, sizeof(key), "%s%s", prefix, e->key);
		if (e->type == TM_CONF_SECTION) {
			strncat(key, ".", sizeof(key) - strlen(key) - 1);
			if (describe(e->section, key, tsv, out) < 0)
				return -1;
			continue;
		}
		limits_text(e, lim, sizeof(lim));
		const char *def = e->def != NULL ? e->def :
				  (e->flags & TM_CONF_REQUIRED) ? "(required)" : "-";
		const char *desc = e->desc != NULL ? e->desc : "";
		int rc = tsv ? tm_buf_printf(out, "%s\t%s\t%s\t%s\t%s\n", key, type_name(e), def, lim, desc)
			     : tm_buf_printf(out, "%-34s %-14s %-24s %-18s %s\n", key, type_name(e), def, lim,
					     desc);
		if (rc < 0)
			return -1;
		if (e->type == TM_CONF_LIST && e->of == TM_CONF_SECTION) {
			strncat(key, "[].", sizeof(key) - strlen(key) - 1);
			if (describe(e->section, key, tsv, out) < 0)
				return -1;
		}
	}
	return 0;
}

int tm_conf_describe(const struct tm_conf_section *s, const char *prefix, struct tm_buf *out)
{
	return describe(s, prefix, false, out);
}

int tm_conf_describe_tsv(const struct tm_conf_section *s, const char *prefix, struct tm_buf *out)
{
	return describe(s, prefix, true, out);
}

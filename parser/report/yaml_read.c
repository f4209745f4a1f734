/* telemail — YAML bytes → struct tm_node tree, with hard limits (libyaml).
 *
 * The only file that knows libyaml's parser. It streams parse events
 * (yaml_parser_parse) and builds the tree itself, so every limit is checked
 * before the node it guards is built: an alias bomb is refused at its first
 * anchor, a deep nest at the first collection past the depth limit.
 *
 * Refused, never expanded or guessed:
 *   anchors and aliases          report.alias
 *   explicit tags (also "!!str") report.tag
 *   a second document            report.multiple_documents
 *   duplicate mapping keys       report.duplicate_key
 *   keys that are not plain strings (collections, null/bool/number, "<<")
 *                                report.bad_key
 *   invalid UTF-8, NUL bytes (in the input or from an escape), control
 *   characters libyaml rejects   report.encoding
 *
 * Scalar typing follows the YAML 1.2 core schema for plain scalars only; a
 * quoted or block scalar is always a string. Numbers out of int64 range,
 * floats that overflow, and .inf/.nan are report.bad_number (JSON has no
 * infinity or NaN). Keys count as nodes for max_nodes. Messages start with
 * "line L, column C: " (1-based). No knowledge of reports lives here: the
 * same reader loads configuration files. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <telemail/error.h>
#include <telemail/node.h>

const struct tm_yaml_limits TM_YAML_REPORT_LIMITS = {
	.max_bytes = 256u * 1024u,
	.max_depth = 12,
	.max_nodes = 20000,
	.max_string = 4096,
	.max_items = 1024,
};

const struct tm_yaml_limits TM_YAML_CONFIG_LIMITS = {
	.max_bytes = 1024u * 1024u,
	.max_depth = 16,
	.max_nodes = 100000,
	.max_string = 4096,
	.max_items = 10000,
};

/* One open collection. */
struct frame {
	struct tm_node *node;
	size_t cap;         /* allocated items / pairs */
	char *key;          /* map: the key waiting for its value (owned) */
	size_t key_len;
};

struct reader {
	const struct tm_yaml_limits *lim;
	struct tm_error *err;
	struct frame *stack;
	size_t depth;       /* open collections */
	size_t stack_cap;
	size_t nodes;
	struct tm_node *root;
	int root_empty;     /* the document is one empty plain scalar ("---" alone) */
};

/* ---- bytes ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_seq(const uint8_t *p, size_t left)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0; /* overlong or beyond Unicode */
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return 0; /* UTF-16 surrogate */
	return n;
}

/* 1-based line and column of a byte offset (columns count bytes). */
static void position(const uint8_t *buf, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Every byte valid UTF-8, no NUL. Returns the offset of the first bad byte
 * or len when all is well. */
static size_t check_bytes(const uint8_t *buf, size_t len, int *is_nul)
{
	size_t i = 0;
	while (i < len) {
		if (buf[i] == 0) {
			*is_nul = 1;
			return i;
		}
		size_t n = utf8_seq(buf + i, len - i);
		if (n == 0) {
			*is_nul = 0;
			return i;
		}
		i += n;
	}
	return len;
}

/* ---- scalar typing (YAML 1.2 core schema) --------------------------------- */

static int is_digits(const char *s, const char *digits)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (strchr(digits, *s) == NULL)
			return 0;
	return 1;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int is_core_float(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	size_t intd = 0, fracd = 0;
	while (*s >= '0' && *s <= '9') {
		s++;
		intd++;
	}
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			s++;
			fracd++;
		}
	}
	if (intd == 0 && fracd == 0)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		size_t expd = 0;
		while (*s >= '0' && *s <= '9') {
			s++;
			expd++;
		}
		if (expd == 0)
			return 0;
	}
	return *s == '\0';
}

/* Only a plain scalar starting with one of these can be a null, a boolean,
 * an infinity, a NaN or a number; every other one is a string. */
#define TYPED_FIRST_CHARS "~nNtTfF.+-0123456789"

static int one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* Types a plain scalar into n (string already in n->u.str). Returns 0, or
 * -1 with report.bad_number. The string is freed when the type changes. */
static int type_plain(struct tm_node *n, struct tm_error *err)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					    "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	char *s = n->u.str.s;
	/* most plain scalars are words: only these first characters can start
	 * a null, a boolean, an infinity, a NaN or a number */
	if (s[0] != '\0' && strchr(TYPED_FIRST_CHARS, s[0]) == NULL)
		return 0;

	if (one_of(s, nulls)) {
		free(s);
		n->type = TM_NODE_NULL;
		return 0;
	}
	if (one_of(s, trues) || one_of(s, falses)) {
		int b = one_of(s, trues);
		free(s);
		n->type = TM_NODE_BOOL;
		n->u.b = b;
		return 0;
	}
	if (one_of(s, infs) || one_of(s, nans))
		return tm_error_set(err, "report.bad_number",
				    "line %u, column %u: '%s' is not a finite number (JSON has no infinity or NaN)",
				    n->line, n->col, s);

	int base = 0;
	const char *digits = s;
	if ((s[0] == '-' || s[0] == '+') && is_digits(s + 1, "0123456789")) {
		base = 10;
	} else if (is_digits(s, "0123456789")) {
		base = 10;
	} else if (strncmp(s, "0x", 2) == 0 && is_digits(s + 2, "0123456789abcdefABCDEF")) {
		base = 16;
		digits = s + 2;
	} else if (strncmp(s, "0o", 2) == 0 && is_digits(s + 2, "01234567")) {
		base = 8;
		digits = s + 2;
	}
	if (base != 0) {
		errno = 0;
		char *end = NULL;
		int64_t v;
		if (base == 10) {
			long long ll = strtoll(digits, &end, 10);
			v = (int64_t)ll;
		} else {
			unsigned long long u = strtoull(digits, &end, base);
			if (errno == 0 && u > (unsigned long long)INT64_MAX)
				errno = ERANGE;
			v = (int64_t)u;
		}
		if (errno != 0 || end == NULL || *end != '\0')
			return tm_error_set(err, "report.bad_number",
					    "line %u, column %u: integer '%.64s' is out of range (64-bit signed)",
					    n->line, n->col, s);
		free(s);
		n->type = TM_NODE_INT;
		n->u.i = v;
		return 0;
	}
	if (is_core_float(s)) {
		errno = 0;
		char *end = NULL;
		double d = strtod(s, &end);
		if (end == NULL || *end != '\0' || !isfinite(d) || (errno == ERANGE && fabs(d) > 1.0))
			return tm_error_set(err, "report.bad_number",
					    "line %u, column %u: number '%.64s' is out of range",
					    n->line, n->col, s);
		free(s);
		n->type = TM_NODE_FLOAT;
		n->u.f = d;
		return 0;
	}
	return 0; /* a string */
}

/* ---- tree building -------------------------------------------------------- */

static struct frame *top(struct reader *r)
{
	return r->depth ? &r->stack[r->depth - 1] : NULL;
}

static int nomem(struct reader *r)
{
	return tm_error_set(r->err, "internal.nomem", "out of memory while reading YAML");
}

/* Counts a node and checks the limit. */
static int count_node(struct reader *r, const yaml_mark_t *m)
{
	if (r->nodes >= r->lim->max_nodes)
		return tm_error_set(r->err, "report.too_many_nodes",
				    "line %zu, column %zu: more than %zu nodes",
				    m->line + 1, m->column + 1, r->lim->max_nodes);
	r->nodes++;
	return 0;
}

/* One more entry in the open collection f: the item limit. */
static int count_item(struct reader *r, struct frame *f, const yaml_mark_t *m)
{
	size_t n = f->node->type == TM_NODE_SEQ ? f->node->u.seq.n : f->node->u.map.n;
	if (n >= r->lim->max_items)
		return tm_error_set(r->err, "report.list_too_long",
				    "line %zu, column %zu: more than %zu entries in one %s",
				    m->line + 1, m->column + 1, r->lim->max_items,
				    f->node->type == TM_NODE_SEQ ? "list" : "mapping");
	return 0;
}

/* Hangs a finished-or-open value node under the current collection (or makes
 * it the root). Takes ownership of n in every case. */
static int attach(struct reader *r, struct tm_node *n, const yaml_mark_t *m)
{
	struct frame *f = top(r);
	if (f == NULL) {
		r->root = n;
		return 0;
	}
	if (count_item(r, f, m) < 0) {
		tm_node_free(n);
		return -1;
	}
	if (f->node->type == TM_NODE_SEQ) {
		if (f->node->u.seq.n == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 4;
			struct tm_node **p = realloc(f->node->u.seq.items, cap * sizeof(*p));
			if (p == NULL) {
				tm_node_free(n);
				return nomem(r);
			}
			f->node->u.seq.items = p;
			f->cap = cap;
		}
		f->node->u.seq.items[f->node->u.seq.n++] = n;
		return 0;
	}
	if (f->node->u.map.n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;
		struct tm_node_pair *p = realloc(f->node->u.map.pairs, cap * sizeof(*p));
		if (p == NULL) {
			tm_node_free(n);
			return nomem(r);
		}
		f->node->u.map.pairs = p;
		f->cap = cap;
	}
	struct tm_node_pair *pair = &f->node->u.map.pairs[f->node->u.map.n++];
	pair->key = f->key;
	pair->key_len = f->key_len;
	pair->value = n;
	f->key = NULL;
	f->key_len = 0;
	return 0;
}

static int check_props(struct reader *r, const yaml_char_t *anchor, const yaml_char_t *tag,
		       const yaml_mark_t *m)
{
	if (anchor != NULL)
		return tm_error_set(r->err, "report.alias",
				    "line %zu, column %zu: anchor '&%.64s' (anchors and aliases are not allowed)",
				    m->line + 1, m->column + 1, (const char *)anchor);
	if (tag != NULL)
		return tm_error_set(r->err, "report.tag",
				    "line %zu, column %zu: explicit tag '%.64s' is not allowed",
				    m->line + 1, m->column + 1, (const char *)tag);
	return 0;
}

static const char *plain_kind(enum tm_node_type t)
{
	switch (t) {
	case TM_NODE_NULL:
		return "null";
	case TM_NODE_BOOL:
		return "a boolean";
	case TM_NODE_INT:
		return "an integer";
	default:
		return "a number";
	}
}

/* A mapping key arrives as a scalar while the map waits for a key. */
static int take_key(struct reader *r, struct frame *f, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	/* a plain key that cannot be typed as anything but a string (the common
	 * case: a word) needs no probe; see type_plain for the first characters */
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (s[0] == '\0' || strchr(TYPED_FIRST_CHARS "<", s[0]) != NULL)) {
		struct tm_node probe = { .type = TM_NODE_STRING };
		probe.u.str.s = (char *)s;
		probe.u.str.len = len;
		probe.line = (unsigned)(m->line + 1);
		probe.col = (unsigned)(m->column + 1);
		/* type a copy so the event's value stays untouched */
		char *copy = strdup(s);
		if (copy == NULL)
			return nomem(r);
		probe.u.str.s = copy;
		struct tm_error scratch = {0};
		int rc = type_plain(&probe, &scratch);
		if (rc == 0 && probe.type == TM_NODE_STRING)
			free(copy);
		if (rc < 0 || probe.type != TM_NODE_STRING) {
			if (rc < 0)
				free(copy);
			return tm_error_set(r->err, "report.bad_key",
					    "line %zu, column %zu: key '%.64s' is not a string but %s (quote it)",
					    m->line + 1, m->column + 1, s,
					    rc < 0 ? "a number" : plain_kind(probe.type));
		}
		if (strcmp(s, "<<") == 0)
			return tm_error_set(r->err, "report.bad_key",
					    "line %zu, column %zu: merge key '<<' is not allowed",
					    m->line + 1, m->column + 1);
	}
	for (size_t i = 0; i < f->node->u.map.n; i++) {
		const struct tm_node_pair *p = &f->node->u.map.pairs[i];
		if (p->key_len == len && memcmp(p->key, s, len) == 0)
			return tm_error_set(r->err, "report.duplicate_key",
					    "line %zu, column %zu: duplicate key '%.64s'",
					    m->line + 1, m->column + 1, s);
	}
	f->key = malloc(len + 1);
	if (f->key == NULL)
		return nomem(r);
	memcpy(f->key, s, len + 1);
	f->key_len = len;
	return 0;
}

static int on_scalar(struct reader *r, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (check_props(r, ev->data.scalar.anchor, ev->data.scalar.tag, m) < 0)
		return -1;
	if (count_node(r, m) < 0)
		return -1;
	if (len > r->lim->max_string)
		return tm_error_set(r->err, "report.string_too_long",
				    "line %zu, column %zu: string of %zu bytes (limit %zu)",
				    m->line + 1, m->column + 1, len, r->lim->max_string);
	/* an escape ("\0", "\x00", "\u0000") can put a NUL into the value */
	int is_nul = 0;
	size_t bad = check_bytes((const uint8_t *)s, len, &is_nul);
	if (bad != len)
		return tm_error_set(r->err, "report.encoding",
				    "line %zu, column %zu: string holds %s at byte %zu",
				    m->line + 1, m->column + 1,
				    is_nul ? "a NUL character" : "invalid UTF-8", bad);

	struct frame *f = top(r);
	if (f != NULL && f->node->type == TM_NODE_MAP && f->key == NULL)
		return take_key(r, f, ev);

	struct tm_node *n = calloc(1, sizeof(*n));
	char *copy = malloc(len + 1);
	if (n == NULL || copy == NULL) {
		free(n);
		free(copy);
		return nomem(r);
	}
	memcpy(copy, s, len + 1);
	if (f == NULL && len == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		r->root_empty = 1;
	n->type = TM_NODE_STRING;
	n->line = (unsigned)(m->line + 1);
	n->col = (unsigned)(m->column + 1);
	n->u.str.s = copy;
	n->u.str.len = len;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && type_plain(n, r->err) < 0) {
		tm_node_free(n);
		return -1;
	}
	return attach(r, n, m);
}

static int on_collection_start(struct reader *r, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	int is_map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;

	if (check_props(r, anchor, tag, m) < 0)
		return -1;
	struct frame *f = top(r);
	if (f != NULL && f->node->type == TM_NODE_MAP && f->key == NULL)
		return tm_error_set(r->err, "report.bad_key",
				    "line %zu, column %zu: a %s cannot be a mapping key",
				    m->line + 1, m->column + 1, is_map ? "mapping" : "list");
	if (count_node(r, m) < 0)
		return -1;
	if (r->depth >= r->lim->max_depth)
		return tm_error_set(r->err, "report.too_deep",
				    "line %zu, column %zu: nesting deeper than %u levels",
				    m->line + 1, m->column + 1, r->lim->max_depth);
	if (r->depth == r->stack_cap) {
		size_t cap = r->stack_cap ? r->stack_cap * 2 : 8;
		struct frame *p = realloc(r->stack, cap * sizeof(*p));
		if (p == NULL)
			return nomem(r);
		r->stack = p;
		r->stack_cap = cap;
	}
	struct tm_node *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return nomem(r);
	n->type = is_map ? TM_NODE_MAP : TM_NODE_SEQ;
	n->line = (unsigned)(m->line + 1);
	n->col = (unsigned)(m->column + 1);
	if (attach(r, n, m) < 0)
		return -1;
	r->stack[r->depth++] = (struct frame){ .node = n };
	return 0;
}

static void on_collection_end(struct reader *r)
{
	if (r->depth > 0) {
		struct frame *f = &r->stack[--r->depth];
		free(f->key); /* never set after a well-formed mapping; defensive */
	}
}

static int syntax_error(struct reader *r, const yaml_parser_t *p, const uint8_t *buf)
{
	size_t line, col;
	if (p->error == YAML_READER_ERROR) {
		position(buf, p->problem_offset, &line, &col);
		return tm_error_set(r->err, "report.encoding", "line %zu, column %zu: %s",
				    line, col, p->problem ? p->problem : "unreadable character");
	}
	if (p->error == YAML_MEMORY_ERROR)
		return nomem(r);
	line = p->problem_mark.line + 1;
	col = p->problem_mark.column + 1;
	if (p->context != NULL)
		return tm_error_set(r->err, "report.syntax", "line %zu, column %zu: %s (%s, line %zu)",
				    line, col, p->problem ? p->problem : "syntax error", p->context,
				    p->context_mark.line + 1);
	return tm_error_set(r->err, "report.syntax", "line %zu, column %zu: %s", line, col,
			    p->problem ? p->problem : "syntax error");
}

int tm_yaml_read(const uint8_t *buf, size_t len, const struct tm_yaml_limits *lim,
		 struct tm_node **out, struct tm_error *err)
{
	struct reader r = { .lim = lim ? lim : &TM_YAML_REPORT_LIMITS, .err = err };
	yaml_parser_t parser;
	int parser_ok = 0;
	int rc = -1;
	int docs = 0;
	int done = 0;

	*out = NULL;
	if (len > r.lim->max_bytes) {
		tm_error_set(err, "report.too_large", "line 1, column 1: document of %zu bytes (limit %zu)",
			     len, r.lim->max_bytes);
		goto out;
	}
	int is_nul = 0;
	size_t bad = check_bytes(buf, len, &is_nul);
	if (bad != len) {
		size_t line, col;
		position(buf, bad, &line, &col);
		tm_error_set(err, "report.encoding", "line %zu, column %zu: %s at byte %zu", line, col,
			     is_nul ? "NUL byte" : "invalid UTF-8", bad);
		goto out;
	}
	if (!yaml_parser_initialize(&parser)) {
		nomem(&r);
		goto out;
	}
	parser_ok = 1;
	yaml_parser_set_input_string(&parser, len ? buf : (const unsigned char *)"", len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(&r, &parser, buf);
			goto out;
		}
		int erc = 0;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				erc = tm_error_set(err, "report.multiple_documents",
						   "line %zu, column %zu: a second YAML document starts here",
						   ev.start_mark.line + 1, ev.start_mark.column + 1);
			break;
		case YAML_ALIAS_EVENT:
			erc = tm_error_set(err, "report.alias",
					   "line %zu, column %zu: alias '*%.64s' (anchors and aliases are not allowed)",
					   ev.start_mark.line + 1, ev.start_mark.column + 1,
					   (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			erc = on_scalar(&r, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			erc = on_collection_start(&r, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			on_collection_end(&r);
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (erc < 0)
			goto out;
	}
	if (r.root == NULL || r.root_empty) {
		tm_error_set(err, "report.empty", "line 1, column 1: the document is empty");
		goto out;
	}
	*out = r.root;
	r.root = NULL;
	rc = 0;
out:
	while (r.depth > 0)
		on_collection_end(&r);
	free(r.stack);
	tm_node_free(r.root);
	if (parser_ok)
		yaml_parser_delete(&parser);
	return rc;
}

/* Tests of the YAML reader (parser/report/yaml_read.c, parser/report/node.c): typing,
 * every reason code, every limit just below and just above. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/error.h>
#include <telemail/node.h>

#include "common.h"

static struct tm_node *read_ok(const char *text, const struct tm_yaml_limits *lim)
{
	struct tm_error err = {0};
	struct tm_node *n = NULL;
	int rc = tm_yaml_read((const uint8_t *)text, strlen(text), lim, &n, &err);
	cr_assert_eq(rc, 0, "'%s': %s: %s", text, err.reason, err.msg);
	cr_assert_not_null(n);
	return n;
}

/* Reads bytes that must fail; returns the error for further checks. */
static struct tm_error read_bad_n(const void *buf, size_t len, const struct tm_yaml_limits *lim,
				  const char *reason)
{
	struct tm_error err = {0};
	struct tm_node *n = (struct tm_node *)1;
	int rc = tm_yaml_read(buf, len, lim, &n, &err);
	cr_assert_eq(rc, -1, "expected %s, got success", reason);
	cr_assert_null(n, "*out must be NULL on error");
	cr_assert_str_eq(err.reason, reason, "message: %s", err.msg);
	return err;
}

static struct tm_error read_bad(const char *text, const char *reason)
{
	return read_bad_n(text, strlen(text), &TM_YAML_REPORT_LIMITS, reason);
}

static void assert_msg_has(const struct tm_error *err, const char *part)
{
	cr_assert(strstr(err->msg, part) != NULL, "message '%s' lacks '%s'", err->msg, part);
}

/* ---- typing ------------------------------------------------------------------ */

/* Criterion runs each case in a fresh process: parameters hold arrays, not pointers. */
struct typing {
	char text[40];             /* the value after "v: " */
	enum tm_node_type type;
	int64_t i;                 /* INT, BOOL */
	double f;                  /* FLOAT */
	char s[40];                /* STRING */
};

ParameterizedTestParameters(yaml, typing)
{
	static struct typing cases[] = {
		{ "", TM_NODE_NULL, 0, 0, "" },
		{ "~", TM_NODE_NULL, 0, 0, "" },
		{ "null", TM_NODE_NULL, 0, 0, "" },
		{ "Null", TM_NODE_NULL, 0, 0, "" },
		{ "NULL", TM_NODE_NULL, 0, 0, "" },
		{ "nULL", TM_NODE_STRING, 0, 0, "nULL" },
		{ "true", TM_NODE_BOOL, 1, 0, "" },
		{ "True", TM_NODE_BOOL, 1, 0, "" },
		{ "TRUE", TM_NODE_BOOL, 1, 0, "" },
		{ "false", TM_NODE_BOOL, 0, 0, "" },
		{ "False", TM_NODE_BOOL, 0, 0, "" },
		{ "FALSE", TM_NODE_BOOL, 0, 0, "" },
		/* YAML 1.1 booleans are strings in 1.2 */
		{ "yes", TM_NODE_STRING, 0, 0, "yes" },
		{ "no", TM_NODE_STRING, 0, 0, "no" },
		{ "on", TM_NODE_STRING, 0, 0, "on" },
		{ "off", TM_NODE_STRING, 0, 0, "off" },
		{ "0", TM_NODE_INT, 0, 0, "" },
		{ "-0", TM_NODE_INT, 0, 0, "" },
		{ "+17", TM_NODE_INT, 17, 0, "" },
		{ "-42", TM_NODE_INT, -42, 0, "" },
		{ "007", TM_NODE_INT, 7, 0, "" },
		{ "9007199254740991", TM_NODE_INT, 9007199254740991LL, 0, "" },
		{ "9223372036854775807", TM_NODE_INT, INT64_MAX, 0, "" },
		{ "-9223372036854775808", TM_NODE_INT, INT64_MIN, 0, "" },
		{ "0x1F", TM_NODE_INT, 31, 0, "" },
		{ "0xff", TM_NODE_INT, 255, 0, "" },
		{ "0o17", TM_NODE_INT, 15, 0, "" },
		{ "0x", TM_NODE_STRING, 0, 0, "0x" },
		{ "0o8", TM_NODE_STRING, 0, 0, "0o8" },
		{ "0b101", TM_NODE_STRING, 0, 0, "0b101" },
		{ "1_000", TM_NODE_STRING, 0, 0, "1_000" },
		{ "12:30", TM_NODE_STRING, 0, 0, "12:30" },
		{ "1.5", TM_NODE_FLOAT, 0, 1.5, "" },
		{ "-2.25", TM_NODE_FLOAT, 0, -2.25, "" },
		{ ".5", TM_NODE_FLOAT, 0, 0.5, "" },
		{ "1.", TM_NODE_FLOAT, 0, 1.0, "" },
		{ "1e3", TM_NODE_FLOAT, 0, 1000.0, "" },
		{ "1.0e+20", TM_NODE_FLOAT, 0, 1e20, "" },
		{ "2.5E-3", TM_NODE_FLOAT, 0, 0.0025, "" },
		{ "1e", TM_NODE_STRING, 0, 0, "1e" },
		{ ".", TM_NODE_STRING, 0, 0, "." },
		{ "2024-11-05T06:00:00Z", TM_NODE_STRING, 0, 0, "2024-11-05T06:00:00Z" },
		{ "\"1\"", TM_NODE_STRING, 0, 0, "1" },
		{ "'true'", TM_NODE_STRING, 0, 0, "true" },
		{ "\"null\"", TM_NODE_STRING, 0, 0, "null" },
		{ "''", TM_NODE_STRING, 0, 0, "" },
		{ "\"\\u00e9\\t\"", TM_NODE_STRING, 0, 0, "\xc3\xa9\t" },
		{ "|\n  42\n", TM_NODE_STRING, 0, 0, "42\n" },
		{ ">-\n  true\n", TM_NODE_STRING, 0, 0, "true" },
	};
	return cr_make_param_array(struct typing, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct typing *c, yaml, typing)
{
	char doc[128];
	snprintf(doc, sizeof(doc), "v: %s\n", c->text);
	struct tm_node *root = read_ok(doc, &TM_YAML_REPORT_LIMITS);
	const struct tm_node *v = tm_node_get(root, "v");
	cr_assert_not_null(v);
	cr_assert_eq(v->type, c->type, "'%s': type %s, want %s", c->text, tm_node_type_name(v->type),
		     tm_node_type_name(c->type));
	switch (c->type) {
	case TM_NODE_INT:
		cr_assert_eq(v->u.i, c->i, "'%s'", c->text);
		break;
	case TM_NODE_BOOL:
		cr_assert_eq(v->u.b, c->i != 0, "'%s'", c->text);
		break;
	case TM_NODE_FLOAT:
		cr_assert_eq(v->u.f, c->f, "'%s': %.17g", c->text, v->u.f);
		break;
	case TM_NODE_STRING:
		cr_assert_str_eq(v->u.str.s, c->s);
		cr_assert_eq(v->u.str.len, strlen(c->s));
		break;
	default:
		break;
	}
	tm_node_free(root);
}

Test(yaml, tree_shape_and_positions)
{
	const char *doc = "a: 1\nb:\n  - x\n  - {c: d}\ne: [1, 2]\n";
	struct tm_node *root = read_ok(doc, &TM_YAML_REPORT_LIMITS);
	cr_assert_eq(root->type, TM_NODE_MAP);
	cr_assert_eq(root->u.map.n, 3);
	cr_assert_str_eq(root->u.map.pairs[0].key, "a");
	cr_assert_str_eq(root->u.map.pairs[2].key, "e");
	const struct tm_node *b = tm_node_get(root, "b");
	cr_assert_eq(b->type, TM_NODE_SEQ);
	cr_assert_eq(b->u.seq.n, 2);
	cr_assert_eq(b->u.seq.items[0]->line, 3);
	cr_assert_eq(b->u.seq.items[0]->col, 5);
	const struct tm_node *c = tm_node_get(b->u.seq.items[1], "c");
	cr_assert_str_eq(c->u.str.s, "d");
	cr_assert_null(tm_node_get(root, "zz"));
	cr_assert_null(tm_node_get(b, "c"), "tm_node_get on a list is NULL");
	cr_assert_null(tm_node_get(NULL, "a"));
	tm_node_free(root);
	tm_node_free(NULL);
}

Test(yaml, type_names)
{
	cr_assert_str_eq(tm_node_type_name(TM_NODE_NULL), "null");
	cr_assert_str_eq(tm_node_type_name(TM_NODE_BOOL), "boolean");
	cr_assert_str_eq(tm_node_type_name(TM_NODE_INT), "integer");
	cr_assert_str_eq(tm_node_type_name(TM_NODE_FLOAT), "number");
	cr_assert_str_eq(tm_node_type_name(TM_NODE_STRING), "string");
	cr_assert_str_eq(tm_node_type_name(TM_NODE_SEQ), "array");
	cr_assert_str_eq(tm_node_type_name(TM_NODE_MAP), "object");
}

Test(yaml, root_scalar_and_bom)
{
	struct tm_node *n = read_ok("null\n", &TM_YAML_REPORT_LIMITS);
	cr_assert_eq(n->type, TM_NODE_NULL, "a document holding null is not empty");
	tm_node_free(n);
	n = read_ok("\xef\xbb\xbf" "a: b\n", &TM_YAML_REPORT_LIMITS);
	cr_assert_str_eq(tm_node_get(n, "a")->u.str.s, "b");
	tm_node_free(n);
	n = read_ok("---\na: 1\n...\n", &TM_YAML_REPORT_LIMITS);
	tm_node_free(n);
}

/* ---- rejected documents: one table per family -------------------------------------- */

struct bad {
	char text[40];
	char reason[32];
	char msg[72];      /* a part of the message */
};

ParameterizedTestParameters(yaml, rejected)
{
	static struct bad cases[] = {
		{ "", "report.empty", "empty" },
		{ "# only a comment\n", "report.empty", "empty" },
		{ "---\n", "report.empty", "empty" },
		{ "---\n...\n", "report.empty", "empty" },
		{ "a: [1, 2\n", "report.syntax", "line 2, column 1" },
		{ "a: b\n c: d\n", "report.syntax", "line 2" },
		{ "a: 'x\n", "report.syntax", "line 2" },
		{ "\ta: 1\n", "report.syntax", "line 1, column 1" },
		{ "a: &x 1\nb: *x\n", "report.alias", "line 1, column 4: anchor '&x'" },
		{ "a: [*x]\n", "report.alias", "alias '*x'" },
		{ "a: &m {k: v}\n", "report.alias", "anchor '&m'" },
		{ "a: !!str 1\n", "report.tag", "line 1, column 4: explicit tag 'tag:yaml.org,2002:str'" },
		{ "a: !custom x\n", "report.tag", "'!custom'" },
		{ "a: ! x\n", "report.tag", "'!'" },
		{ "a: !!map {k: v}\n", "report.tag", "tag:yaml.org,2002:map" },
		{ "!!seq [1]\n", "report.tag", "line 1, column 1" },
		{ "a: 1\n---\nb: 2\n", "report.multiple_documents", "line 2, column 1" },
		{ "a: 1\n...\n---\nb: 2\n", "report.multiple_documents", "line 3" },
		{ "a: 1\nb: 2\na: 3\n", "report.duplicate_key", "line 3, column 1: duplicate key 'a'" },
		{ "m: {x: 1, \"x\": 2}\n", "report.duplicate_key", "duplicate key 'x'" },
		{ "1: a\n", "report.bad_key", "key '1' is not a string but an integer" },
		{ "true: a\n", "report.bad_key", "a boolean" },
		{ "~: a\n", "report.bad_key", "null" },
		{ "?\n: a\n", "report.bad_key", "key '' is not a string but null" },
		{ "1.5: a\n", "report.bad_key", "a number" },
		{ "99999999999999999999: a\n", "report.bad_key", "a number" },
		{ "[a]: b\n", "report.bad_key", "a list cannot be a mapping key" },
		{ "? {a: b}\n: c\n", "report.bad_key", "a mapping cannot be a mapping key" },
		{ "<<: {a: b}\n", "report.bad_key", "merge key '<<'" },
		{ "a: .inf\n", "report.bad_number", "'.inf' is not a finite number" },
		{ "a: -.Inf\n", "report.bad_number", "not a finite number" },
		{ "a: .NaN\n", "report.bad_number", "not a finite number" },
		{ "a: 9223372036854775808\n", "report.bad_number", "integer '9223372036854775808' is out of range" },
		{ "a: -9223372036854775809\n", "report.bad_number", "out of range" },
		{ "a: 0x8000000000000000\n", "report.bad_number", "out of range" },
		{ "a: 1e999\n", "report.bad_number", "number '1e999' is out of range" },
		{ "a: \"\\0\"\n", "report.encoding", "line 1, column 4: string holds a NUL character" },
		{ "a: \"x\\x00y\"\n", "report.encoding", "NUL character at byte 1" },
		{ "a: \"\\u0000\"\n", "report.encoding", "NUL" },
		{ "a: \"\x01\"\n", "report.encoding", "line 1, column 5" },
		{ "a: x\x7f\n", "report.encoding", "line 1, column 5: control characters" },
	};
	return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *c, yaml, rejected)
{
	cr_log_info("case: %s", c->text);
	struct tm_error err = read_bad(c->text, c->reason);
	assert_msg_has(&err, c->msg);
}

Test(yaml, accepted_neighbours_of_rejected)
{
	/* the same shapes, just legal: shows the table above rejects for the stated reason */
	tm_node_free(read_ok("\"1\": a\n\"true\": b\n\"~\": c\n", &TM_YAML_REPORT_LIMITS));
	tm_node_free(read_ok("\"<<\": x\n", &TM_YAML_REPORT_LIMITS));
	tm_node_free(read_ok("a: \"!!str 1\"\nb: \"&x\"\nc: \"*x\"\n", &TM_YAML_REPORT_LIMITS));
	tm_node_free(read_ok("a: \".inf\"\nb: \"9223372036854775808\"\n", &TM_YAML_REPORT_LIMITS));
	tm_node_free(read_ok("a: 1\n...\n", &TM_YAML_REPORT_LIMITS));
}

/* ---- raw bytes -------------------------------------------------------------------- */

struct bytes {
	char bytes[16];
	size_t len;
	char msg[48];
};

ParameterizedTestParameters(yaml, encoding)
{
	static struct bytes cases[] = {
		{ "a: b\0c\n", 7, "line 1, column 5: NUL byte at byte 4" },
		{ "a: 1\nb: \xff\n", 10, "line 2, column 4: invalid UTF-8 at byte 8" },
		{ "a: \xc3\n", 5, "invalid UTF-8 at byte 3" },
		{ "a: \xc0\xaf\n", 6, "invalid UTF-8" },             /* overlong '/' */
		{ "a: \xe0\x80\xaf\n", 7, "invalid UTF-8" },         /* overlong, 3 bytes */
		{ "a: \xed\xa0\x80\n", 7, "invalid UTF-8" },         /* surrogate U+D800 */
		{ "a: \xf4\x90\x80\x80\n", 8, "invalid UTF-8" },     /* beyond U+10FFFF */
		{ "a: \xe2\x82\n", 6, "invalid UTF-8" },             /* truncated at the end */
		{ "\xff\xfe" "a\0:\0", 6, "byte 0" },                  /* UTF-16 */
	};
	return cr_make_param_array(struct bytes, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bytes *c, yaml, encoding)
{
	struct tm_error err = read_bad_n(c->bytes, c->len, &TM_YAML_REPORT_LIMITS, "report.encoding");
	assert_msg_has(&err, c->msg);
}

Test(yaml, valid_utf8_of_every_length)
{
	struct tm_node *n = read_ok("a: \"\xc2\xa9 \xe2\x82\xac \xf0\x9f\x96\xa8\"\n", &TM_YAML_REPORT_LIMITS);
	cr_assert_str_eq(tm_node_get(n, "a")->u.str.s, "\xc2\xa9 \xe2\x82\xac \xf0\x9f\x96\xa8");
	tm_node_free(n);
}

/* ---- limits: each just below (accepted) and just above (refused) --------------- */

static const struct tm_yaml_limits small = {
	.max_bytes = 64, .max_depth = 3, .max_nodes = 8, .max_string = 5, .max_items = 3,
};
/* the item limit alone (a 4-entry mapping is 9 nodes) */
static const struct tm_yaml_limits few_items = {
	.max_bytes = 64, .max_depth = 3, .max_nodes = 100, .max_string = 5, .max_items = 3,
};

Test(yaml, default_limits)
{
	cr_assert_eq(TM_YAML_REPORT_LIMITS.max_bytes, 256u * 1024u);
	cr_assert_eq(TM_YAML_REPORT_LIMITS.max_depth, 12);
	cr_assert_eq(TM_YAML_REPORT_LIMITS.max_nodes, 20000);
	cr_assert_eq(TM_YAML_REPORT_LIMITS.max_string, 4096);
	cr_assert_eq(TM_YAML_REPORT_LIMITS.max_items, 1024);
	cr_assert_eq(TM_YAML_CONFIG_LIMITS.max_bytes, 1024u * 1024u);
	cr_assert_eq(TM_YAML_CONFIG_LIMITS.max_depth, 16);
	cr_assert_eq(TM_YAML_CONFIG_LIMITS.max_nodes, 100000);
	cr_assert_eq(TM_YAML_CONFIG_LIMITS.max_string, 4096);
	cr_assert_eq(TM_YAML_CONFIG_LIMITS.max_items, 10000);
}

Test(yaml, limit_bytes)
{
	char doc[80];
	memset(doc, ' ', sizeof(doc));
	memcpy(doc, "a: 1\n#", 6);
	struct tm_error err = {0};
	struct tm_node *n = NULL;
	cr_assert_eq(tm_yaml_read((uint8_t *)doc, 64, &small, &n, &err), 0, "%s", err.msg);
	tm_node_free(n);
	err = read_bad_n(doc, 65, &small, "report.too_large");
	assert_msg_has(&err, "document of 65 bytes (limit 64)");
}

Test(yaml, limit_depth)
{
	tm_node_free(read_ok("a: {b: [1]}\n", &small));        /* 3 levels */
	struct tm_error err = read_bad_n("a: {b: [[1]]}\n", 14, &small, "report.too_deep");
	assert_msg_has(&err, "line 1, column 9: nesting deeper than 3 levels");
	/* the default: 12 levels fine, 13 refused */
	char doc[64];
	snprintf(doc, sizeof(doc), "%.12s%.12s", "[[[[[[[[[[[[", "]]]]]]]]]]]]");
	tm_node_free(read_ok(doc, &TM_YAML_REPORT_LIMITS));
	snprintf(doc, sizeof(doc), "%.13s%.13s", "[[[[[[[[[[[[[", "]]]]]]]]]]]]]");
	read_bad(doc, "report.too_deep");
}

Test(yaml, limit_depth_streams)
{
	/* a nest far deeper than any limit, and unterminated: refused at depth 13,
	 * before libyaml sees the (missing) end */
	size_t len = 200000;
	char *doc = malloc(len);
	cr_assert_not_null(doc);
	memset(doc, '[', len);
	struct tm_error err = read_bad_n(doc, len, &TM_YAML_CONFIG_LIMITS, "report.too_deep");
	assert_msg_has(&err, "column 17: nesting deeper than 16 levels");
	free(doc);
}

Test(yaml, limit_nodes)
{
	/* root map + 3 keys + 3 values = 7; + "[x]" item: 8 */
	tm_node_free(read_ok("a: 1\nb: 2\nc: [x]\n", &small));
	struct tm_error err = read_bad_n("a: 1\nb: 2\nc: [x, y]\n", 20, &small, "report.too_many_nodes");
	assert_msg_has(&err, "line 3, column 8: more than 8 nodes");
}

Test(yaml, limit_string)
{
	tm_node_free(read_ok("abcde: \"12345\"\n", &small));
	struct tm_error err = read_bad_n("a: \"123456\"\n", 12, &small, "report.string_too_long");
	assert_msg_has(&err, "line 1, column 4: string of 6 bytes (limit 5)");
	err = read_bad_n("abcdef: 1\n", 10, &small, "report.string_too_long");
	assert_msg_has(&err, "line 1, column 1");
	/* bytes, not characters: "ééé" is 6 bytes */
	read_bad_n("a: \xc3\xa9\xc3\xa9\xc3\xa9\n", 10, &small, "report.string_too_long");
}

Test(yaml, limit_items)
{
	tm_node_free(read_ok("[1, 2, 3]", &few_items));
	struct tm_error err = read_bad_n("[1, 2, 3, 4]", 12, &few_items, "report.list_too_long");
	assert_msg_has(&err, "line 1, column 11: more than 3 entries in one list");
	tm_node_free(read_ok("{a: 1, b: 2, c: 3}", &few_items));
	err = read_bad_n("{a: 1, b: 2, c: 3, d: 4}", 24, &few_items, "report.list_too_long");
	assert_msg_has(&err, "entries in one mapping");
}

Test(yaml, limit_items_default)
{
	/* 1024 items fine, 1025 refused */
	char *doc = malloc(1025 * 3 + 8);
	cr_assert_not_null(doc);
	for (int n = 1024; n <= 1025; n++) {
		size_t p = 0;
		doc[p++] = '[';
		for (int i = 0; i < n; i++) {
			doc[p++] = '1';
			doc[p++] = i + 1 < n ? ',' : ']';
		}
		doc[p] = '\0';
		if (n == 1024)
			tm_node_free(read_ok(doc, &TM_YAML_REPORT_LIMITS));
		else
			read_bad(doc, "report.list_too_long");
	}
	free(doc);
}

Test(yaml, billion_laughs)
{
	/* the classic: ten levels of ten aliases each, 10^9 strings if expanded */
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_append_str(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (char c = 'b'; c <= 'j'; c++)
		tm_buf_printf(&b, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1, c - 1,
			      c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	struct tm_error err = read_bad_n(b.data, b.len, &TM_YAML_CONFIG_LIMITS, "report.alias");
	assert_msg_has(&err, "line 1, column 4: anchor '&a'");
	tm_buf_fini(&b);

	/* an alias to an anchor never defined is refused as an alias, not looked up */
	err = read_bad("[*a, *a]\n", "report.alias");
	assert_msg_has(&err, "line 1, column 2");
}

Test(yaml, error_on_second_document_after_limit_checks)
{
	/* a valid first document, then garbage: the second document is the error */
	struct tm_error err = read_bad("a: 1\n--- [\n", "report.multiple_documents");
	assert_msg_has(&err, "line 2, column 1");
}

Test(yaml, null_limits_mean_report_limits)
{
	struct tm_error err = {0};
	struct tm_node *n = NULL;
	cr_assert_eq(tm_yaml_read((const uint8_t *)"[[[[[[[[[[[[[1]]]]]]]]]]]]]", 27, NULL, &n, &err), -1);
	cr_assert_str_eq(err.reason, "report.too_deep");
}

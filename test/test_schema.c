/* The JSON Schema 2020-12 validator: the bad and good report corpora against
 * the compiled-in schema v1, then each keyword on small inline schemas,
 * schema loading errors, limits, and concurrent use of the shared v1 schema. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/schema.h>

#include "common.h"

/* ---- helpers ---- */

static struct tm_node *read_yaml(const char *text, size_t max_depth)
{
	struct tm_yaml_limits lim = TM_YAML_REPORT_LIMITS;
	lim.max_depth = (unsigned)max_depth;
	struct tm_error err = {0};
	struct tm_node *n = NULL;
	int rc = tm_yaml_read((const uint8_t *)text, strlen(text), &lim, &n, &err);
	cr_assert_eq(rc, 0, "instance does not read: %s: %s", err.reason, err.msg);
	return n;
}

static struct tm_schema *load(const char *text)
{
	struct tm_error err = {0};
	struct tm_schema *s = NULL;
	int rc = tm_schema_load((const uint8_t *)text, strlen(text), &s, &err);
	cr_assert_eq(rc, 0, "schema does not load: %s: %s", err.reason, err.msg);
	cr_assert_not_null(s);
	return s;
}

/* Validate inst against schema; returns rc, err filled. */
static int check(const char *schema, const char *inst, struct tm_error *err)
{
	struct tm_schema *s = load(schema);
	struct tm_node *n = read_yaml(inst, 12);
	tm_error_clear(err);
	int rc = tm_schema_validate(s, n, err);
	tm_node_free(n);
	tm_schema_free(s);
	return rc;
}

static void ok(const char *schema, const char *inst)
{
	struct tm_error err = {0};
	int rc = check(schema, inst, &err);
	cr_expect_eq(rc, 0, "%s | %s: unexpected %s: %s", schema, inst,
		     err.reason ? err.reason : "-", err.msg);
}

static void bad(const char *schema, const char *inst, const char *reason, const char *msg)
{
	struct tm_error err = {0};
	int rc = check(schema, inst, &err);
	cr_expect_eq(rc, -1, "%s | %s: accepted", schema, inst);
	if (rc == 0)
		return;
	cr_expect_str_eq(err.reason, reason, "%s | %s: %s", schema, inst, err.msg);
	cr_expect_str_eq(err.msg, msg, "%s | %s: got '%s'", schema, inst, err.msg);
}

static void load_fails(const char *schema, const char *reason, const char *msg)
{
	struct tm_error err = {0};
	struct tm_schema *s = (struct tm_schema *)1;
	int rc = tm_schema_load((const uint8_t *)schema, strlen(schema), &s, &err);
	cr_expect_eq(rc, -1, "%s: loaded", schema);
	cr_expect_null(s);
	if (rc == 0) {
		tm_schema_free(s);
		return;
	}
	cr_expect_str_eq(err.reason, reason, "%s: %s", schema, err.msg);
	cr_expect_str_eq(err.msg, msg, "%s: got '%s'", schema, err.msg);
}

static int validate_v1_file(const char *path, struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	struct tm_node *n = NULL;
	const struct tm_schema *s = NULL;
	int rc = tm_yaml_read(b.data, b.len, &TM_YAML_REPORT_LIMITS, &n, err);
	if (rc == 0)
		rc = tm_schema_report_v1(&s, err);
	if (rc == 0)
		rc = tm_schema_validate(s, n, err);
	tm_node_free(n);
	tm_buf_fini(&b);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.yaml file names in test/<dir>. */
static size_t list_yaml(const char *dir, char ***out)
{
	char *path = tm_test_src(dir);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	size_t n = 0, cap = 0;
	char **names = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			cr_assert_not_null(names);
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	free(path);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	*out = names;
	return n;
}

/* ---- the corpora against schema v1 ---- */

Test(schema, bad_corpus_gives_the_expected_reason_and_message)
{
	char **names;
	size_t n = list_yaml("reports/bad", &names);
	cr_assert_geq(n, 40, "only %zu bad reports", n);
	for (size_t i = 0; i < n; i++) {
		char rel[512];
		snprintf(rel, sizeof(rel), "reports/bad/%s", names[i]);
		char *path = tm_test_src(rel);
		struct tm_buf b;
		tm_buf_init(&b);
		tm_test_read(path, &b);
		/* first line: "# expect: <reason.code> <exact message>" */
		char *line = (char *)b.data;
		char *nl = strchr(line, '\n');
		cr_assert_not_null(nl, "%s: no first line", names[i]);
		*nl = '\0';
		cr_assert(strncmp(line, "# expect: ", 10) == 0, "%s: no '# expect:' line", names[i]);
		char *reason = line + 10;
		char *sp = strchr(reason, ' ');
		cr_assert_not_null(sp, "%s: expect line has no message", names[i]);
		*sp = '\0';
		char *msg = sp + 1;

		struct tm_error err = {0};
		int rc = validate_v1_file(path, &err);
		cr_expect_eq(rc, -1, "%s: accepted", names[i]);
		if (rc < 0) {
			cr_expect_str_eq(err.reason, reason, "%s: %s", names[i], err.msg);
			cr_expect_str_eq(err.msg, msg, "%s: got '%s'", names[i], err.msg);
		}
		tm_buf_fini(&b);
		free(path);
		free(names[i]);
	}
	free(names);
}

Test(schema, good_corpus_validates)
{
	char **names;
	size_t n = list_yaml("reports/good", &names);
	cr_assert_geq(n, 2, "only %zu good reports", n);
	for (size_t i = 0; i < n; i++) {
		char rel[512];
		snprintf(rel, sizeof(rel), "reports/good/%s", names[i]);
		char *path = tm_test_src(rel);
		struct tm_error err = {0};
		int rc = validate_v1_file(path, &err);
		cr_expect_eq(rc, 0, "%s: %s: %s", names[i], err.reason ? err.reason : "-", err.msg);
		free(path);
		free(names[i]);
	}
	free(names);
}

/* ---- keywords, one by one ---- */

Test(schema, type_names_and_integer_floats)
{
	ok("{type: 'null'}", "null");
	ok("{type: boolean}", "false");
	ok("{type: string}", "'1'");
	ok("{type: array}", "[]");
	ok("{type: object}", "{}");
	ok("{type: number}", "1");
	ok("{type: number}", "1.5");
	ok("{type: integer}", "7");
	ok("{type: integer}", "1.0");          /* 2020-12: zero fraction is an integer */
	ok("{type: integer}", "-3.0e2");
	bad("{type: integer}", "1.5", "report.wrong_type", "(root): must be integer, got number");
	bad("{type: integer}", "'7'", "report.wrong_type", "(root): must be integer, got string");
	bad("{type: string}", "null", "report.wrong_type", "(root): must be string, got null");
	bad("{type: object}", "[1]", "report.wrong_type", "(root): must be object, got array");
	bad("{type: array}", "{a: 1}", "report.wrong_type", "(root): must be array, got object");
	bad("{type: boolean}", "'true'", "report.wrong_type", "(root): must be boolean, got string");
	bad("{type: 'null'}", "0", "report.wrong_type", "(root): must be null, got integer");
	ok("{type: [string, 'null']}", "null");
	bad("{type: [string, integer, boolean]}", "{}", "report.wrong_type",
	    "(root): must be string, integer or boolean, got object");
	bad("{type: [string, integer]}", "2.5", "report.wrong_type",
	    "(root): must be string or integer, got number");
}

Test(schema, enum_and_const_use_json_equality)
{
	ok("{enum: [1, two, null]}", "1.0");          /* 1 == 1.0 */
	ok("{enum: [1.0]}", "1");
	ok("{enum: [[1, 2], {a: 1, b: 2}]}", "{b: 2.0, a: 1}");  /* key order does not matter */
	ok("{enum: [[1, 2]]}", "[1.0, 2]");
	ok("{enum: [true]}", "true");
	bad("{enum: [[1, 2]]}", "[2, 1]", "report.schema", "(root): must be one of [...]");
	bad("{enum: [1, two, null]}", "'1'", "report.schema", "(root): must be one of 1, two, null");
	bad("{enum: [true]}", "1", "report.schema", "(root): must be one of true");
	bad("{enum: [0.5]}", "0.25", "report.schema", "(root): must be one of 0.5");
	ok("{const: 1}", "1.0");
	ok("{const: {a: [x]}}", "{a: [x]}");
	bad("{const: 1}", "2", "report.schema", "(root): must be 1");
	bad("{const: 1}", "'1'", "report.schema", "(root): must be 1");
	bad("{const: {a: [x]}}", "{a: [x], b: 1}", "report.schema", "(root): must be {...}");
}

Test(schema, enum_message_elides_a_long_list)
{
	bad("{enum: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, "
	    "cccccccccccccccccccccccccccccc, dddddddddddddddddddddddddddddd, "
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee, ffffffffffffffffffffffffffffff]}", "z",
	    "report.schema",
	    "(root): must be one of aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, "
	    "cccccccccccccccccccccccccccccc, dddddddddddddddddddddddddddddd, "
	    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee, ... (6 values)");
}

Test(schema, string_length_counts_code_points)
{
	/* "é" is 2 bytes, "€" 3, "𝄞" 4: lengths in code points, not bytes */
	ok("{maxLength: 3}", "'ééé'");
	ok("{maxLength: 2}", "'€𝄞'");
	ok("{minLength: 3, maxLength: 3}", "'a€𝄞'");
	bad("{maxLength: 3}", "'éééé'", "report.schema", "(root): must be at most 3 characters");
	bad("{minLength: 3}", "'𝄞𝄞'", "report.schema", "(root): must be at least 3 characters");
	ok("{minLength: 0, maxLength: 0}", "''");
	ok("{maxLength: 1}", "5");                   /* applies to strings only */
}

Test(schema, pattern_is_an_unanchored_search)
{
	ok("{pattern: 'b+'}", "abbc");
	ok("{pattern: '^a'}", "abc");
	bad("{pattern: '^b'}", "abc", "report.schema", "(root): must match pattern ^b");
	bad("{pattern: '^[0-9]{2}$'}", "'123'", "report.schema",
	    "(root): must match pattern ^[0-9]{2}$");
	ok("{pattern: '\\.'}", "'a.b'");            /* escaped dot is a literal dot */
	bad("{pattern: '\\.'}", "'ab'", "report.schema", "(root): must match pattern \\.");
	ok("{pattern: x}", "12");                     /* applies to strings only */
}

Test(schema, numeric_bounds_compare_exactly)
{
	ok("{minimum: -3, maximum: 5}", "-3");
	ok("{minimum: -3, maximum: 5}", "5.0");
	bad("{minimum: -3}", "-4", "report.schema", "(root): must be >= -3");
	bad("{minimum: -3}", "-3.5", "report.schema", "(root): must be >= -3");
	bad("{maximum: 5}", "5.000001", "report.schema", "(root): must be <= 5");
	bad("{exclusiveMinimum: 0}", "0", "report.schema", "(root): must be > 0");
	ok("{exclusiveMinimum: 0}", "0.001");
	bad("{exclusiveMaximum: 0.5}", "0.5", "report.schema", "(root): must be < 0.5");
	ok("{exclusiveMaximum: 0.5}", "0");
	/* 2^53 and beyond: no rounding through double */
	ok("{maximum: 9007199254740991}", "9007199254740991");
	bad("{maximum: 9007199254740991}", "9007199254740992", "report.schema",
	    "(root): must be <= 9007199254740991");
	bad("{maximum: 9007199254740991}", "9007199254740992.0", "report.schema",
	    "(root): must be <= 9007199254740991");
	bad("{maximum: 9007199254740992.0}", "9007199254740993", "report.schema",
	    "(root): must be <= 9007199254740992");
	ok("{minimum: 9223372036854775807}", "9223372036854775807");
	bad("{minimum: 9223372036854775807}", "9223372036854775806", "report.schema",
	    "(root): must be >= 9223372036854775807");
	bad("{maximum: -9223372036854775808}", "-9223372036854775807", "report.schema",
	    "(root): must be <= -9223372036854775808");
	ok("{maximum: 1}", "'9'");                  /* applies to numbers only */
}

Test(schema, arrays)
{
	ok("{items: {type: integer}, minItems: 1, maxItems: 2}", "[1, 2]");
	bad("{minItems: 1}", "[]", "report.schema", "(root): must have at least 1 items");
	bad("{maxItems: 2}", "[1, 2, 3]", "report.schema", "(root): must have at most 2 items");
	bad("{items: {type: integer}}", "[1, x]", "report.wrong_type",
	    "1: must be integer, got string");
	ok("{uniqueItems: true}", "[1, '1', [1], {a: 1}, true]");
	bad("{uniqueItems: true}", "[1, 2, 1.0]", "report.schema",
	    "2: must be unique, repeats item 0");
	bad("{uniqueItems: true}", "[{a: 1, b: 2}, {b: 2, a: 1}]", "report.schema",
	    "1: must be unique, repeats item 0");
	ok("{uniqueItems: false}", "[1, 1]");
	/* items are checked in order: the earlier defect wins */
	bad("{uniqueItems: true, items: {type: integer}}", "[1, 1, x]", "report.schema",
	    "1: must be unique, repeats item 0");
}

Test(schema, objects)
{
	const char *s = "{type: object, required: [a, b], additionalProperties: false,"
			" properties: {a: {type: integer}, b: {type: object, properties:"
			" {c: {type: string}}, additionalProperties: {type: integer}}}}";
	ok(s, "{a: 1, b: {c: x, d: 2}}");
	bad(s, "{a: 1}", "report.missing_field", "(root): missing required field 'b'");
	bad(s, "{b: {}}", "report.missing_field", "(root): missing required field 'a'");
	bad(s, "{a: 1, b: {}, e: 1}", "report.unknown_field", "e: unknown field");
	bad(s, "{a: 1, b: {c: x, d: y}}", "report.wrong_type", "b/d: must be integer, got string");
	bad(s, "{a: x, b: {}}", "report.wrong_type", "a: must be integer, got string");
	bad("{minProperties: 1}", "{}", "report.schema", "(root): must have at least 1 field");
	bad("{maxProperties: 2}", "{a: 1, b: 2, c: 3}", "report.schema",
	    "(root): must have at most 2 fields");
	bad("{propertyNames: {pattern: '^[a-z]+$'}}", "{ok: 1, Bad: 2}", "report.schema",
	    "Bad: field name must match pattern ^[a-z]+$");
	bad("{propertyNames: {maxLength: 2}}", "{abc: 1}", "report.schema",
	    "abc: field name must be at most 2 characters");
	ok("{required: [a]}", "[1]");                 /* applies to objects only */
}

Test(schema, ref_defs_and_boolean_schemas)
{
	const char *tree = "{$defs: {node: {type: object, additionalProperties: false,"
			   " properties: {v: {$ref: '#/$defs/leaf'}, kids: {type: array,"
			   " items: {$ref: '#/$defs/node'}}}}, leaf: {type: integer, minimum: 0}},"
			   " $ref: '#/$defs/node'}";
	ok(tree, "{v: 1, kids: [{v: 2}, {kids: [{v: 3}]}]}");
	bad(tree, "{v: 1, kids: [{v: 2}, {kids: [{v: -3}]}]}", "report.schema",
	    "kids/1/kids/0/v: must be >= 0");
	bad(tree, "{kids: [{w: 1}]}", "report.unknown_field", "kids/0/w: unknown field");
	ok("{$defs: {'a/b': {type: integer}}, $ref: '#/$defs/a~1b'}", "1");
	ok("true", "{any: [thing]}");
	bad("false", "1", "report.schema", "(root): not allowed here (false schema)");
	bad("{items: false}", "[1]", "report.schema", "0: not allowed here (false schema)");
	ok("{items: false}", "[]");
}

Test(schema, applicators)
{
	ok("{allOf: [{type: integer}, {minimum: 1}]}", "2");
	bad("{allOf: [{type: integer}, {minimum: 1}]}", "0", "report.schema",
	    "(root): must be >= 1");
	ok("{anyOf: [{type: string}, {minimum: 1}]}", "x");
	bad("{anyOf: [{type: string}, {minimum: 1}]}", "0", "report.schema",
	    "(root): must match at least one schema in anyOf");
	ok("{oneOf: [{type: integer}, {type: string}]}", "1");
	bad("{oneOf: [{type: integer}, {type: number}]}", "1", "report.schema",
	    "(root): must match exactly one schema in oneOf, matched 2");
	bad("{oneOf: [{type: integer}, {type: 'null'}]}", "x", "report.schema",
	    "(root): must match exactly one schema in oneOf, matched 0");
	ok("{not: {type: string}}", "1");
	bad("{not: {type: string}}", "x", "report.schema", "(root): must not match the schema in not");
	bad("{properties: {a: {not: {const: 0}}}}", "{a: 0.0}", "report.schema",
	    "a: must not match the schema in not");
}

/* ---- personal data in field names ---- */

#define PII "x-telemail-pii-names: 'user|owner|e-?mail|job'\n"

Test(schema, pii_names_come_before_unknown_fields_and_are_case_blind)
{
	const char *s = PII "type: object\nadditionalProperties: false\n"
			"properties: {a: {type: object}, free: true, any: {anyOf: [{type: object}]}}\n";
	bad(s, "{owner: x}", "report.pii_field", "owner: field name looks like personal data");
	bad(s, "{a: {UserName: x}}", "report.pii_field",
	    "a/UserName: field name looks like personal data");
	bad(s, "{a: {E-Mail: x}}", "report.pii_field", "a/E-Mail: field name looks like personal data");
	/* below a part the schema does not look into */
	bad(s, "{free: [{deep: {printjob: 1}}]}", "report.pii_field",
	    "free/0/deep/printjob: field name looks like personal data");
	/* inside anyOf the personal-data finding is not swallowed */
	bad(s, "{any: {email: 1}}", "report.pii_field", "any/email: field name looks like personal data");
	ok(s, "{a: {colour: x}, free: {deep: 1}}");
}

Test(schema, pii_long_field_name)
{
	/* longer than the validator's on-stack buffer: lower-cased without truncation */
	const char *s = PII "type: object\n";
	char inst[400], msg[400];
	char name[260];
	memset(name, 'k', 250);
	memcpy(name + 250, "OWNER", 6);
	snprintf(inst, sizeof(inst), "{%s: 1}", name);
	snprintf(msg, sizeof(msg), "%s: field name looks like personal data", name);
	bad(s, inst, "report.pii_field", msg);
	ok(s, "{kkkkkkkkkk: 1}");
	/* without the annotation nothing is a personal-data name */
	ok("{type: object}", "{owner: 1}");
}

/* ---- loading schemas ---- */

Test(schema, unsupported_keywords_are_refused_with_their_path)
{
	load_fails("{if: {type: string}}", "schema.unsupported", "unsupported keyword 'if' at #");
	load_fails("{properties: {a: {patternProperties: {x: true}}}}", "schema.unsupported",
		   "unsupported keyword 'patternProperties' at #/properties/a");
	load_fails("{$defs: {d: {prefixItems: [true]}}}", "schema.unsupported",
		   "unsupported keyword 'prefixItems' at #/$defs/d");
	load_fails("{anyOf: [true, {multipleOf: 2}]}", "schema.unsupported",
		   "unsupported keyword 'multipleOf' at #/anyOf/1");
	load_fails("{default: 1}", "schema.unsupported", "unsupported keyword 'default' at #");
	load_fails("{$ref: 'other.yaml#/$defs/x'}", "schema.unsupported",
		   "#/$ref: reference 'other.yaml#/$defs/x' (only local #/$defs/NAME references)");
	load_fails("{$schema: 'http://json-schema.org/draft-07/schema#'}", "schema.unsupported",
		   "#/$schema: dialect 'http://json-schema.org/draft-07/schema#' "
		   "(only https://json-schema.org/draft/2020-12/schema)");
	load_fails("{items: {$defs: {a: true}}}", "schema.unsupported",
		   "#/items/$defs: only at the root of the schema");
	load_fails("{pattern: '^\\d+$'}", "schema.unsupported",
		   "#/pattern: pattern escape \\d at offset 1 is not portable");
	load_fails("{pattern: '[\\s]'}", "schema.unsupported",
		   "#/pattern: pattern has a backslash inside [...] at offset 1");
	load_fails("{pattern: '(?i)abc'}", "schema.unsupported",
		   "#/pattern: pattern group syntax (? at offset 0");
	load_fails("{pattern: 'a+?'}", "schema.unsupported",
		   "#/pattern: pattern lazy quantifier at offset 1");
	load_fails("{pattern: '[[:alpha:]]'}", "schema.unsupported",
		   "#/pattern: pattern has a POSIX class [: at offset 1");
}

Test(schema, malformed_keyword_values_are_invalid)
{
	load_fails("{type: int}", "schema.invalid", "#/type: unknown type name at index 0");
	load_fails("{type: [string, string]}", "schema.invalid", "#/type: type 'string' listed twice");
	load_fails("{type: []}", "schema.invalid",
		   "#/type: must be a type name or a non-empty array of them");
	load_fails("{minLength: -1}", "schema.invalid", "#/minLength: must be a non-negative integer");
	load_fails("{maxItems: 1.5}", "schema.invalid", "#/maxItems: must be a non-negative integer");
	load_fails("{minimum: '1'}", "schema.invalid", "#/minimum: must be a number");
	load_fails("{required: a}", "schema.invalid", "#/required: must be an array of strings");
	load_fails("{required: [a, 1]}", "schema.invalid", "#/required: item 1 is not a string");
	load_fails("{required: [a, a]}", "schema.invalid", "#/required: 'a' is listed twice");
	load_fails("{enum: a}", "schema.invalid", "#/enum: must be an array");
	load_fails("{uniqueItems: 1}", "schema.invalid", "#/uniqueItems: must be true or false");
	load_fails("{properties: [a]}", "schema.invalid", "#/properties: must be an object of schemas");
	load_fails("{items: [true]}", "schema.invalid",
		   "#/items: must be one schema (2020-12; an array here is prefixItems)");
	load_fails("{anyOf: []}", "schema.invalid", "#/anyOf: must be a non-empty array of schemas");
	load_fails("{properties: {a: 5}}", "schema.invalid",
		   "#/properties/a: a schema must be an object or a boolean, not integer");
	load_fails("{$ref: '#/$defs/nope'}", "schema.invalid",
		   "#/$ref: reference '#/$defs/nope' names no entry in $defs");
	load_fails("{pattern: 'a\\'}", "schema.invalid", "#/pattern: pattern ends with a backslash");
	load_fails("{pattern: '[ab'}", "schema.invalid", "#/pattern: pattern has an unterminated [...]");
	load_fails("{title: 1}", "schema.invalid", "#/title: must be a string");
	load_fails("{$defs: [1]}", "schema.invalid", "#/$defs: must be an object of schemas");
	load_fails("x-telemail-pii-names: 5", "schema.invalid",
		   "#/x-telemail-pii-names: must be a string (a regular expression)");
	load_fails("'just a string'", "schema.invalid",
		   "#: a schema must be an object or a boolean, not string");
}

Test(schema, unreadable_schema_text_is_invalid)
{
	struct tm_error err = {0};
	struct tm_schema *s = NULL;
	const char *text = "{a: [1, 2";
	cr_assert_eq(tm_schema_load((const uint8_t *)text, strlen(text), &s, &err), -1);
	cr_assert_null(s);
	cr_assert_str_eq(err.reason, "schema.invalid");
	cr_assert(strncmp(err.msg, "schema is not readable (report.syntax): line ", 45) == 0,
		  "%s", err.msg);
	/* regcomp's own words (C library text) follow the fixed prefix */
	text = "{pattern: '(a'}";
	cr_assert_eq(tm_schema_load((const uint8_t *)text, strlen(text), &s, &err), -1);
	cr_assert_str_eq(err.reason, "schema.invalid");
	cr_assert(strncmp(err.msg, "#/pattern: pattern does not compile: ", 37) == 0, "%s", err.msg);
	/* aliases are refused by the reader, also in schemas */
	text = "{$defs: {a: &x {type: string}}, properties: {b: *x}}";
	cr_assert_eq(tm_schema_load((const uint8_t *)text, strlen(text), &s, &err), -1);
	cr_assert_str_eq(err.reason, "schema.invalid");
	cr_assert(strstr(err.msg, "(report.alias)") != NULL, "%s", err.msg);
}

Test(schema, annotations_are_accepted_and_ignored)
{
	ok("{$schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'urn:x',"
	   " $comment: c, title: t, description: d, format: date-time, x-anything: [1, {a: 2}],"
	   " properties: {a: {x-telemail-pii-names: user, format: email}}}",
	   "{a: 'not-an-email', user: 1}");
}

/* ---- files, limits, the shared v1 schema ---- */

Test(schema, load_file_and_its_size_limit)
{
	char *dir = tm_test_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/s.yaml", dir);
	const char *text = "type: integer\nmaximum: 3\n";
	tm_test_write(path, text, strlen(text));
	struct tm_error err = {0};
	struct tm_schema *s = NULL;
	cr_assert_eq(tm_schema_load_file(path, &s, &err), 0, "%s", err.msg);
	struct tm_node *n = read_yaml("4", 12);
	cr_expect_eq(tm_schema_validate(s, n, &err), -1);
	cr_expect_str_eq(err.msg, "(root): must be <= 3");
	tm_node_free(n);
	tm_schema_free(s);

	/* 1 MiB is the limit; one byte more is refused before parsing */
	size_t big = (1u << 20) + 1;
	char *blob = malloc(big);
	cr_assert_not_null(blob);
	memset(blob, ' ', big);
	memcpy(blob, "type: integer", 13);
	tm_test_write(path, blob, big);
	free(blob);
	s = (struct tm_schema *)1;
	cr_expect_eq(tm_schema_load_file(path, &s, &err), -1);
	cr_expect_null(s);
	cr_expect_str_eq(err.reason, "io.too_large");
	cr_expect(strstr(err.msg, path) == err.msg, "%s", err.msg);

	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	cr_expect_eq(tm_schema_load_file(path, &s, &err), -1);
	cr_expect_str_eq(err.reason, "io.open");
	cr_expect(strstr(err.msg, "missing.yaml") != NULL, "%s", err.msg);
	tm_test_rmtree(dir);
	free(dir);
}

/* n nested one-element lists: [[[...]]] */
static char *nested_lists(size_t n)
{
	char *t = malloc(2 * n + 1);
	cr_assert_not_null(t);
	memset(t, '[', n);
	memset(t + n, ']', n);
	t[2 * n] = '\0';
	return t;
}

Test(schema, instance_depth_limit)
{
	/* a recursive schema that follows every level */
	const char *text = "{$defs: {l: {type: array, items: {$ref: '#/$defs/l'}}}, $ref: '#/$defs/l'}";
	struct tm_schema *s = load(text);
	struct tm_error err = {0};
	char *t = nested_lists(65);            /* innermost list at depth 64: allowed */
	struct tm_node *n = read_yaml(t, 100);
	cr_expect_eq(tm_schema_validate(s, n, &err), 0, "%s", err.msg);
	tm_node_free(n);
	free(t);
	t = nested_lists(66);
	n = read_yaml(t, 100);
	cr_expect_eq(tm_schema_validate(s, n, &err), -1);
	cr_expect_str_eq(err.reason, "report.too_deep");
	cr_expect(strstr(err.msg, ": nested deeper than 64 levels") != NULL, "%s", err.msg);
	cr_expect(strncmp(err.msg, "0/0/0/", 6) == 0, "%s", err.msg);
	tm_node_free(n);
	free(t);
	tm_schema_free(s);
}

Test(schema, ref_cycle_is_caught_while_validating)
{
	bad("{$defs: {a: {$ref: '#/$defs/b'}, b: {$ref: '#/$defs/a'}}, $ref: '#/$defs/a'}", "1",
	    "schema.invalid", "(root): schema evaluation nested deeper than 512 ($ref cycle?)");
}

struct v1_run {
	const struct tm_schema *got;
	int rc;
};

static void *v1_thread(void *arg)
{
	struct v1_run *r = arg;
	struct tm_error err = {0};
	r->rc = tm_schema_report_v1(&r->got, &err);
	if (r->rc == 0) {
		char *path = tm_test_src("reports/good/full.yaml");
		r->rc = validate_v1_file(path, &err);
		free(path);
	}
	return NULL;
}

Test(schema, v1_is_loaded_once_and_shared_between_threads)
{
	enum { N = 8 };
	pthread_t th[N];
	struct v1_run run[N];
	memset(run, 0, sizeof(run));
	for (int i = 0; i < N; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, v1_thread, &run[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(run[i].rc, 0, "thread %d", i);
		cr_expect_not_null(run[i].got);
		cr_expect_eq(run[i].got, run[0].got, "thread %d got another schema", i);
	}
}

Test(schema, null_arguments_and_free_null)
{
	tm_schema_free(NULL);
	struct tm_error err = {0};
	cr_expect_eq(tm_schema_validate(NULL, NULL, &err), -1);
	cr_expect_str_eq(err.reason, "internal.bug");
	/* no error struct: still a clean -1 */
	struct tm_schema *s = load("{type: string}");
	struct tm_node *n = read_yaml("1", 12);
	cr_expect_eq(tm_schema_validate(s, n, NULL), -1);
	tm_node_free(n);
	tm_schema_free(s);
}

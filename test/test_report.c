/* Tests of the report model (parser/report.c) and its YAML writer
 * (parser/report_write.c): good files, tree → model errors, equality, exact
 * writer output, and the round-trip property over seeded random reports. */
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/node.h>
#include <telemail/report.h>

#include "common.h"

#define MAX_SAFE 9007199254740991LL

static struct tm_report *read_file_ok(const char *rel)
{
	char *path = tm_test_src(rel);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	int rc = tm_report_read(b.data, b.len, NULL, &r, &err);
	cr_assert_eq(rc, 0, "%s: %s: %s", rel, err.reason, err.msg);
	tm_buf_fini(&b);
	free(path);
	return r;
}

static void write_ok(const struct tm_report *r, struct tm_buf *out)
{
	struct tm_error err = {0};
	int rc = tm_report_write_yaml(r, out, &err);
	cr_assert_eq(rc, 0, "%s: %s", err.reason, err.msg);
}

/* write, read back through the schema, compare, write again: same bytes */
static void assert_round_trip(const struct tm_report *r, const char *what)
{
	struct tm_buf a, b;
	tm_buf_init(&a);
	tm_buf_init(&b);
	write_ok(r, &a);
	struct tm_error err = {0};
	struct tm_report *back = NULL;
	int rc = tm_report_read(a.data, a.len, NULL, &back, &err);
	cr_assert_eq(rc, 0, "%s: re-read failed: %s: %s\n%s", what, err.reason, err.msg, a.data);
	cr_assert(tm_report_equal(r, back), "%s: model differs after the round trip\n%s", what, a.data);
	write_ok(back, &b);
	cr_assert_eq(a.len, b.len, "%s: second write differs in length", what);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "%s: second write differs\n%s\n---\n%s", what,
		     a.data, b.data);
	tm_report_free(back);
	tm_buf_fini(&a);
	tm_buf_fini(&b);
}

/* ---- names and lifecycle ------------------------------------------------------ */

Test(report, names)
{
	enum tm_report_kind k;
	const char *kinds[] = { "periodic", "event", "status", "test" };
	for (int i = 0; i < 4; i++) {
		cr_assert_str_eq(tm_report_kind_name((enum tm_report_kind)i), kinds[i]);
		cr_assert_eq(tm_report_kind_parse(kinds[i], &k), 0);
		cr_assert_eq((int)k, i);
	}
	cr_assert_eq(tm_report_kind_parse("Periodic", &k), -1);
	cr_assert_eq(tm_report_kind_parse(NULL, &k), -1);
	cr_assert_null(tm_report_kind_name((enum tm_report_kind)7));
	cr_assert_str_eq(tm_counter_service_name(TM_SVC_TOTAL), "total");
	cr_assert_str_eq(tm_counter_service_name(TM_SVC_FAX), "fax");
	cr_assert_null(tm_counter_service_name(TM_SVC_COUNT));
}

Test(report, new_is_unset)
{
	struct tm_report *r = tm_report_new();
	cr_assert_not_null(r);
	cr_assert_eq(r->seq, TM_UNSET);
	cr_assert_eq(r->outbox_gap, TM_UNSET);
	cr_assert_eq(r->service[TM_SVC_SCAN].images, TM_UNSET);
	cr_assert_eq(r->service[TM_SVC_TOTAL].impressions, TM_UNSET);
	cr_assert_not(r->has_status || r->has_counters || r->has_supplies);
	tm_report_free(r);
	tm_report_free(NULL);
}

/* ---- good files ------------------------------------------------------------------- */

Test(report, read_color_mfp)
{
	struct tm_report *r = read_file_ok("reports/good/color-mfp-full.yaml");
	cr_assert_str_eq(r->id, "3f6c1a2e-9b4d-4c1e-8a7f-0d2b5e6c7a81");
	cr_assert_eq(r->seq, 1042);
	cr_assert_eq(r->kind, TM_KIND_PERIODIC);
	cr_assert_str_eq(r->trigger_cause, "schedule");
	cr_assert_null(r->trigger_subject);
	cr_assert_eq(r->outbox_gap, 0);
	cr_assert_str_eq(r->serial, "XK100001");
	cr_assert_eq(r->n_firmware, 3);
	cr_assert_str_eq(r->firmware[0].version, "4.2.1 (build 20240918)");
	cr_assert(r->has_status);
	cr_assert_eq(r->n_conditions, 1);
	cr_assert_str_eq(r->conditions[0], "lowToner");
	cr_assert_str_eq(r->status_since, "2024-11-05T05:12:44+01:00");
	cr_assert(r->has_service[TM_SVC_TOTAL] && r->has_service[TM_SVC_FAX]);
	cr_assert_eq(r->service[TM_SVC_TOTAL].impressions, 1284033);
	cr_assert_eq(r->service[TM_SVC_TOTAL].images, TM_UNSET);
	cr_assert_eq(r->service[TM_SVC_SCAN].images, 95210);
	cr_assert_eq(r->n_vendor, 3);
	cr_assert_str_eq(r->vendor[1].name, "Total (large)");
	cr_assert_eq(r->n_supplies, 5);
	cr_assert_eq(r->supplies[1].level, 8);
	cr_assert_null(r->supplies[4].colorant);
	cr_assert_eq(r->n_parts, 3);
	cr_assert_eq(r->parts[2].rated_life, 200000);
	cr_assert_eq(r->n_alerts, 2);
	cr_assert_str_eq(r->alerts[1].sub_code, "02");
	cr_assert_eq(r->alerts[1].location, TM_UNSET);
	cr_assert_eq(r->n_diagnostics, 6);
	cr_assert_eq(r->diagnostics[0].type, TM_DIAG_FLOAT);
	cr_assert_eq(r->diagnostics[0].f, 182.5);
	cr_assert_eq(r->diagnostics[1].type, TM_DIAG_INT);
	cr_assert_eq(r->diagnostics[3].type, TM_DIAG_FLOAT, "41.0 stays a float");
	cr_assert_eq(r->diagnostics[4].type, TM_DIAG_STRING);
	cr_assert_eq(r->diagnostics[5].type, TM_DIAG_BOOL);
	cr_assert(r->diagnostics[5].b);
	assert_round_trip(r, "color-mfp-full");
	tm_report_free(r);
}

Test(report, read_minimal_and_lists)
{
	struct tm_report *r = read_file_ok("reports/good/mono-minimal.yaml");
	cr_assert_not(r->has_status || r->has_counters || r->has_supplies || r->has_parts ||
		      r->has_alerts || r->has_diagnostics);
	cr_assert_null(r->trigger_cause);
	cr_assert_eq(r->outbox_gap, TM_UNSET);
	cr_assert_null(r->manufacturer);
	assert_round_trip(r, "mono-minimal");
	tm_report_free(r);

	r = read_file_ok("reports/good/test-kind.yaml");
	cr_assert_eq(r->kind, TM_KIND_TEST);
	cr_assert(r->has_counters && r->has_alerts && r->has_diagnostics);
	cr_assert_eq(r->n_alerts, 0);
	cr_assert_not(r->has_service[TM_SVC_TOTAL]);
	assert_round_trip(r, "test-kind");
	tm_report_free(r);
}

Test(report, read_sentinels_and_event)
{
	struct tm_report *r = read_file_ok("reports/good/supply-sentinels.yaml");
	cr_assert_eq(r->supplies[0].max_capacity, TM_LEVEL_UNKNOWN);
	cr_assert_eq(r->supplies[0].level, TM_LEVEL_SOME_REMAINING);
	cr_assert_eq(r->supplies[1].level, TM_LEVEL_OTHER);
	cr_assert_eq(r->supplies[4].max_capacity, TM_UNSET);
	cr_assert(r->has_status);
	cr_assert_eq(r->n_conditions, 0);
	assert_round_trip(r, "supply-sentinels");
	tm_report_free(r);

	r = read_file_ok("reports/good/event-supply-low.yaml");
	cr_assert_eq(r->kind, TM_KIND_EVENT);
	cr_assert_str_eq(r->trigger_subject, "supplies/2");
	cr_assert_eq(r->outbox_gap, 2);
	assert_round_trip(r, "event-supply-low");
	tm_report_free(r);
}

/* ---- tree → model, without the schema ---------------------------------------------- */

#define HEAD "schema_version: 1\nreport: {id: \"3f6c1a2e-9b4d-4c1e-8a7f-0d2b5e6c7a81\", seq: 1, " \
	"kind: periodic, generated_at: \"2024-01-01T00:00:00Z\", agent: a}\ndevice: {serial: X}\n"

struct tree_case {
	char yaml[320];
	char reason[32];
	char msg[64];
};

ParameterizedTestParameters(report, from_node_rejects)
{
	static struct tree_case cases[] = {
		{ "[1]", "report.wrong_type", "(root): must be an object, not array" },
#define R1 "schema_version: 1\ndevice: {serial: X}\nreport: {"
		{ R1 "seq: 1}", "report.missing_field", "report/id" },
		{ R1 "id: x, seq: 1, kind: weekly, generated_at: t, agent: a}", "report.schema", "report/kind: 'weekly'" },
		{ R1 "id: x, seq: 1, kind: event, generated_at: t, agent: a, trigger: {subject: s}}",
		  "report.missing_field", "report/trigger/cause" },
		{ R1 "id: x, seq: \"1\", kind: event, generated_at: t, agent: a}", "report.wrong_type", "report/seq" },
#undef R1
		{ "schema_version: 1\ndevice: {serial: X}\n", "report.missing_field", "report: required" },
		{ "schema_version: 2\n", "report.schema", "schema_version: 2 is not 1" },
		{ "schema_version: \"1\"\n", "report.wrong_type", "schema_version: must be an integer" },
		{ HEAD "extra: 1\n", "report.unknown_field", "extra: unknown field" },
		{ HEAD "status: []\n", "report.wrong_type", "status: must be an object, not array" },
		{ HEAD "status: {conditions: []}\n", "report.missing_field", "status/state: required" },
		{ HEAD "status: {state: idle, conditions: [1]}\n", "report.wrong_type", "status/conditions/0" },
		{ HEAD "supplies: [{index: 1, type: toner}]\n", "report.missing_field", "supplies/0/level" },
		{ HEAD "supplies: [{index: 1, type: toner, level: x}]\n", "report.wrong_type",
		  "supplies/0/level: must be an integer, not string" },
		{ HEAD "supplies: [{index: 1, type: toner, level: -9223372036854775808}]\n", "report.schema",
		  "supplies/0/level" },
		{ HEAD "supplies: {}\n", "report.wrong_type", "supplies: must be an array" },
		{ HEAD "parts: [{name: p, used: 1, colour: red}]\n", "report.unknown_field", "parts/0/colour" },
		{ HEAD "alerts: [{code: c, severity: 1}]\n", "report.wrong_type", "alerts/0/severity" },
		{ HEAD "counters: {total: {sheets: 1.5}}\n", "report.wrong_type", "counters/total/sheets" },
		{ HEAD "counters: {vendor: [{id: \"1\"}]}\n", "report.missing_field", "counters/vendor/0/value" },
		{ HEAD "diagnostics: {a: [1]}\n", "report.wrong_type", "diagnostics/a" },
		{ HEAD "diagnostics: {a: null}\n", "report.wrong_type", "diagnostics/a" },
	};
	return cr_make_param_array(struct tree_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct tree_case *c, report, from_node_rejects)
{
	struct tm_error err = {0};
	struct tm_node *root = NULL;
	cr_assert_eq(tm_yaml_read((const uint8_t *)c->yaml, strlen(c->yaml), NULL, &root, &err), 0,
		     "%s", err.msg);
	struct tm_report *r = (struct tm_report *)1;
	cr_assert_eq(tm_report_from_node(root, &r, &err), -1, "accepted: %s", c->yaml);
	cr_assert_null(r);
	cr_assert_str_eq(err.reason, c->reason, "%s", err.msg);
	cr_assert(strstr(err.msg, c->msg) != NULL, "'%s' lacks '%s'", err.msg, c->msg);
	tm_node_free(root);
}

Test(report, from_node_without_tree)
{
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	cr_assert_eq(tm_report_from_node(NULL, &r, &err), -1);
	cr_assert_str_eq(err.reason, "report.empty");
}

Test(report, read_passes_errors_through)
{
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	const char *syn = "report: [\n";
	cr_assert_eq(tm_report_read((const uint8_t *)syn, strlen(syn), NULL, &r, &err), -1);
	cr_assert_str_eq(err.reason, "report.syntax");
	cr_assert_null(r);
	const char *unk = HEAD "toner_level: 5\n";
	cr_assert_eq(tm_report_read((const uint8_t *)unk, strlen(unk), NULL, &r, &err), -1);
	cr_assert_str_eq(err.reason, "report.unknown_field", "%s", err.msg);
	cr_assert(strstr(err.msg, "toner_level") != NULL, "%s", err.msg);
	const char *pii = HEAD "diagnostics: {last_user: 5}\n";
	cr_assert_eq(tm_report_read((const uint8_t *)pii, strlen(pii), NULL, &r, &err), -1);
	cr_assert_str_eq(err.reason, "report.pii_field", "%s", err.msg);
}

/* ---- equality ------------------------------------------------------------------- */

Test(report, equal_notices_each_part)
{
	struct tm_report *a = read_file_ok("reports/good/color-mfp-full.yaml");
	struct tm_report *b = read_file_ok("reports/good/color-mfp-full.yaml");
	cr_assert(tm_report_equal(a, b));
	cr_assert(tm_report_equal(a, a));
	cr_assert_not(tm_report_equal(a, NULL));
	cr_assert(tm_report_equal(NULL, NULL));

	b->supplies[4].level++;
	cr_assert_not(tm_report_equal(a, b), "supply level");
	b->supplies[4].level--;
	b->diagnostics[0].f = -b->diagnostics[0].f;
	cr_assert_not(tm_report_equal(a, b), "diagnostic float");
	b->diagnostics[0].f = -b->diagnostics[0].f;
	b->service[TM_SVC_FAX].images = TM_UNSET;
	cr_assert_not(tm_report_equal(a, b), "counter");
	b->service[TM_SVC_FAX].images = a->service[TM_SVC_FAX].images;
	free(b->alerts[1].sub_code);
	b->alerts[1].sub_code = NULL;
	cr_assert_not(tm_report_equal(a, b), "NULL against a string");
	b->alerts[1].sub_code = strdup("02");
	b->n_conditions = 0;
	cr_assert_not(tm_report_equal(a, b), "list length");
	b->n_conditions = 1;
	b->has_parts = false;
	cr_assert_not(tm_report_equal(a, b), "presence of a list");
	b->has_parts = true;
	cr_assert(tm_report_equal(a, b), "restored");
	tm_report_free(a);
	tm_report_free(b);
}

/* ---- writer: exact bytes --------------------------------------------------------- */

static struct tm_report *small_report(void)
{
	struct tm_report *r = tm_report_new();
	r->id = strdup("00000000-0000-4000-8000-000000000001");
	r->seq = 7;
	r->kind = TM_KIND_EVENT;
	r->generated_at = strdup("2024-02-29T23:59:60Z");
	r->agent = strdup("telemail-agent/0.1.0");
	r->trigger_cause = strdup("alert");
	r->serial = strdup("A-1");
	r->location = strdup(" Hall \"B\": #3 \\ \t\n\x01\x7f\xc2\x85\xe2\x80\xa8\xef\xbb\xbf\xc3\xa9\xf0\x9f\x96\xa8 ");
	r->has_supplies = true;
	r->has_diagnostics = true;
	r->diagnostics = calloc(4, sizeof(*r->diagnostics));
	r->n_diagnostics = 4;
	const char *names[] = { "true", "t.big", "t.neg0", "t.third" };
	double vals[] = { 3.0, 1e20, -0.0, 1.0 / 3.0 };
	for (int i = 0; i < 4; i++) {
		r->diagnostics[i].name = strdup(names[i]);
		r->diagnostics[i].type = TM_DIAG_FLOAT;
		r->diagnostics[i].f = vals[i];
	}
	return r;
}

Test(report, writer_exact_output)
{
	struct tm_report *r = small_report();
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_append_str(&b, "kept>");
	write_ok(r, &b);
	const char *want =
		"kept>---\n"
		"schema_version: 1\n"
		"report:\n"
		"  id: \"00000000-0000-4000-8000-000000000001\"\n"
		"  seq: 7\n"
		"  kind: \"event\"\n"
		"  generated_at: \"2024-02-29T23:59:60Z\"\n"
		"  agent: \"telemail-agent/0.1.0\"\n"
		"  trigger:\n"
		"    cause: \"alert\"\n"
		"device:\n"
		"  serial: \"A-1\"\n"
		"  location: \" Hall \\\"B\\\": #3 \\\\ \\t\\n\\x01\\x7F\\x85\\u2028\\uFEFF\xc3\xa9\xf0\x9f\x96\xa8 \"\n"
		"supplies: []\n"
		"diagnostics:\n"
		"  \"true\": 3.0\n"
		"  \"t.big\": 1.0e+20\n"
		"  \"t.neg0\": -0.0\n"
		"  \"t.third\": 0.3333333333333333\n";
	cr_assert_str_eq((const char *)b.data, want);
	tm_buf_fini(&b);

	/* and it reads back (without the schema: "true" is no valid diagnostics name) */
	tm_buf_init(&b);
	write_ok(r, &b);
	struct tm_node *root = NULL;
	struct tm_error err = {0};
	cr_assert_eq(tm_yaml_read(b.data, b.len, NULL, &root, &err), 0, "%s", err.msg);
	struct tm_report *back = NULL;
	cr_assert_eq(tm_report_from_node(root, &back, &err), 0, "%s", err.msg);
	cr_assert(tm_report_equal(r, back));
	cr_assert(signbit(back->diagnostics[2].f), "-0.0 keeps its sign");
	tm_report_free(back);
	tm_node_free(root);
	tm_buf_fini(&b);
	tm_report_free(r);
}

Test(report, writer_refuses_incomplete_models)
{
	struct tm_report *r = small_report();
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	tm_buf_append_str(&b, "kept");

	free(r->id);
	r->id = NULL;
	cr_assert_eq(tm_report_write_yaml(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.missing_field");
	cr_assert_str_eq(err.msg, "report/id: required value is not set");
	cr_assert_eq(b.len, 4, "nothing half-written is left");
	cr_assert_str_eq((const char *)b.data, "kept");
	r->id = strdup("x");

	r->seq = TM_UNSET;
	cr_assert_eq(tm_report_write_yaml(r, &b, &err), -1);
	cr_assert_str_eq(err.msg, "report/seq: required value is not set");
	r->seq = 1;

	free(r->location);
	r->location = strdup("bad \xc3\x28 utf-8");
	cr_assert_eq(tm_report_write_yaml(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.encoding");
	cr_assert_str_eq(err.msg, "device/location: string is not valid UTF-8");

	free(r->location);
	r->location = NULL;
	r->diagnostics[1].f = INFINITY;
	cr_assert_eq(tm_report_write_yaml(r, &b, &err), -1);
	cr_assert_str_eq(err.reason, "report.bad_number");
	cr_assert(strstr(err.msg, "diagnostics/1") != NULL, "%s", err.msg);
	r->diagnostics[1].f = 2.0;

	cr_assert_eq(tm_report_write_yaml(r, &b, &err), 0, "%s", err.msg);
	tm_buf_fini(&b);
	tm_report_free(r);
}

/* ---- the round-trip property ------------------------------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *g)
{
	/* xorshift64* */
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 2685821657736338717ULL;
}

static int64_t range(struct rng *g, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next(g) % (uint64_t)(hi - lo + 1));
}

#define coin(g) ((int)(next(g) & 1))
#define PICK(g, list) ((list)[next(g) % (sizeof(list) / sizeof((list)[0]))])

/* a string over an alphabet, length lo..hi */
static char *from_alphabet(struct rng *g, const char *alpha, int lo, int hi)
{
	int n = (int)range(g, lo, hi);
	char *s = malloc((size_t)n + 1);
	size_t al = strlen(alpha);
	for (int i = 0; i < n; i++)
		s[i] = alpha[next(g) % al];
	s[n] = '\0';
	return s;
}

/* free text with everything a YAML writer can get wrong, at most max bytes */
static char *awkward(struct rng *g, size_t max)
{
	static const char *const bits[] = {
		"a", "Zz", " ", "  lead", "trail  ", "\"", "'", "\\", ":", ": ", " #", "#", "- ", "? ",
		"[", "]", "{", "}", ",", "&a", "*a", "!tag", "!!str", "%", "@", "`", "|", ">", "---",
		"...", "null", "true", "yes", "~", "0x1F", "1e3", "2024-01-01T00:00:00Z", "\t", "\n",
		"\r\n", "\x01", "\x1b", "\x7f", "\xc2\x85", "\xc2\xa0", "\xe2\x80\xa8", "\xe2\x80\xa9",
		"\xef\xbb\xbf", "\xef\xbf\xbd", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
		"\xf0\x9f\x96\xa8", "\xef\xbf\xbe", "\\n", "\\x41", "=",
	};
	size_t cap = max + 1;
	char *s = malloc(cap);
	size_t len = 0;
	int parts = (int)range(g, 0, 12);
	for (int i = 0; i < parts; i++) {
		const char *b = PICK(g, bits);
		size_t bl = strlen(b);
		if (len + bl > max)
			break;
		memcpy(s + len, b, bl);
		len += bl;
	}
	s[len] = '\0';
	return s;
}

#define maybe_text(g, max) (coin(g) ? awkward((g), (max)) : NULL)

static char *timestamp(struct rng *g, int utc_only)
{
	char buf[48];
	int y = (int)range(g, 1970, 2099), mo = (int)range(g, 1, 12), d = (int)range(g, 1, 28);
	int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d,
			 (int)range(g, 0, 23), (int)range(g, 0, 59), (int)range(g, 0, 60));
	if (coin(g)) {
		int digits = (int)range(g, 1, 9);
		buf[n++] = '.';
		for (int i = 0; i < digits; i++)
			buf[n++] = (char)('0' + range(g, 0, 9));
		buf[n] = '\0';
	}
	if (utc_only || coin(g))
		snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
	else
		snprintf(buf + n, sizeof(buf) - (size_t)n, "%c%02d:%02d", coin(g) ? '+' : '-',
			 (int)range(g, 0, 14), (int)range(g, 0, 59));
	return strdup(buf);
}

static int64_t edge_count(struct rng *g)
{
	uint64_t k = next(g) % 4;
	return k == 0 ? 0 : k == 1 ? MAX_SAFE : range(g, 0, MAX_SAFE);
}

#define opt_count(g) (coin(g) ? TM_UNSET : edge_count(g))

static double random_double(struct rng *g)
{
	static const double specials[] = { 0.0, -0.0, 0.1, 1.0 / 3.0, 1e20, -1e-7, 5e-324,
					   1.7976931348623157e308, 100.0, 9007199254740993.0 };
	if (coin(g))
		return specials[next(g) % (sizeof(specials) / sizeof(specials[0]))];
	for (;;) {
		uint64_t bits = next(g);
		double d;
		memcpy(&d, &bits, sizeof(d));
		if (isfinite(d))
			return d;
	}
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static const char *const kinds_c[] = { "schedule", "manual", "supply_low", "alert", "part_life" };
static const char *const states[] = { "other", "unknown", "idle", "printing", "warmup" };
static const char *const conds[] = { "lowPaper", "noPaper", "lowToner", "noToner", "doorOpen",
				     "jammed", "offline", "serviceRequested", "inputTrayMissing" };
static const char *const supply_types[] = { "toner", "tonerCartridge", "wasteToner", "ink", "opc" };
static const char *const supply_units[] = { "percent", "impressions", "tenthsOfMilliliters", "items" };
static const char *const part_units[] = { "impressions", "sheets", "hours", "rotations", "count" };
static const char *const vendor_units[] = { "impressions", "sheets", "images", "count" };
static const char *const severities[] = { "critical", "warning", "info" };
static const char *const groups[] = { "generalPrinter", "cover", "input", "markerSupplies" };

static void random_counters(struct rng *g, struct tm_report *r)
{
	r->has_counters = true;
	for (int s = 0; s < TM_SVC_COUNT; s++) {
		if (!coin(g))
			continue;
		struct tm_counter_set *c = &r->service[s];
		r->has_service[s] = true;
		c->impressions = opt_count(g);
		c->impressions_monochrome = opt_count(g);
		c->impressions_full_color = opt_count(g);
		c->impressions_two_sided = opt_count(g);
		c->sheets = opt_count(g);
		c->sheets_two_sided = opt_count(g);
		c->images = edge_count(g); /* one always set: minProperties 1 */
	}
	r->n_vendor = (size_t)range(g, 0, 3);
	r->vendor = calloc(r->n_vendor + 1, sizeof(*r->vendor));
	for (size_t i = 0; i < r->n_vendor; i++) {
		r->vendor[i].id = from_alphabet(g, ALNUM "._-", 1, 32);
		r->vendor[i].name = maybe_text(g, 256);
		r->vendor[i].unit = coin(g) ? strdup(PICK(g, vendor_units)) : NULL;
		r->vendor[i].value = edge_count(g);
	}
}

static void random_lists(struct rng *g, struct tm_report *r)
{
	if ((r->has_supplies = coin(g))) {
		r->n_supplies = (size_t)range(g, 0, 4);
		r->supplies = calloc(r->n_supplies + 1, sizeof(*r->supplies));
		for (size_t i = 0; i < r->n_supplies; i++) {
			struct tm_supply *s = &r->supplies[i];
			s->index = range(g, 1, 65535);
			s->type = strdup(PICK(g, supply_types));
			s->colorant = coin(g) ? from_alphabet(g, ALNUM " _-", 1, 32) : NULL;
			s->description = maybe_text(g, 256);
			s->unit = coin(g) ? strdup(PICK(g, supply_units)) : NULL;
			s->max_capacity = coin(g) ? TM_UNSET : range(g, -2, 2147483647);
			s->level = coin(g) ? range(g, -3, -1) : range(g, 0, 2147483647);
			s->part_number = coin(g) ? from_alphabet(g, ALNUM "._/ -", 1, 64) : NULL;
		}
	}
	if ((r->has_parts = coin(g))) {
		r->n_parts = (size_t)range(g, 0, 3);
		r->parts = calloc(r->n_parts + 1, sizeof(*r->parts));
		for (size_t i = 0; i < r->n_parts; i++) {
			r->parts[i].name = from_alphabet(g, ALNUM "._/() -", 1, 64);
			r->parts[i].used = edge_count(g);
			r->parts[i].rated_life = opt_count(g);
			r->parts[i].unit = coin(g) ? strdup(PICK(g, part_units)) : NULL;
		}
	}
	if ((r->has_alerts = coin(g))) {
		r->n_alerts = (size_t)range(g, 0, 3);
		r->alerts = calloc(r->n_alerts + 1, sizeof(*r->alerts));
		for (size_t i = 0; i < r->n_alerts; i++) {
			struct tm_alert *a = &r->alerts[i];
			a->code = from_alphabet(g, ALNUM "._:-", 1, 32);
			a->sub_code = coin(g) ? from_alphabet(g, ALNUM "._:-", 1, 32) : NULL;
			a->severity = strdup(PICK(g, severities));
			a->group = coin(g) ? strdup(PICK(g, groups)) : NULL;
			a->location = coin(g) ? TM_UNSET : range(g, -2, 2147483647);
			a->description = maybe_text(g, 256);
			a->time = coin(g) ? timestamp(g, 0) : NULL;
			a->counter = opt_count(g);
		}
	}
}

static int pii_name(const char *name)
{
	regex_t re;
	int rc = regcomp(&re, "user|owner|e-?mail|mail_?addr|document|doc_?name|job|file_?name|"
			 "filename|author|account|login|person|phone", REG_EXTENDED | REG_NOSUB);
	cr_assert_eq(rc, 0);
	int hit = regexec(&re, name, 0, NULL, 0) == 0;
	regfree(&re);
	return hit;
}

static void random_diagnostics(struct rng *g, struct tm_report *r)
{
	r->has_diagnostics = true;
	size_t want = (size_t)range(g, 0, 8);
	r->diagnostics = calloc(want + 1, sizeof(*r->diagnostics));
	while (r->n_diagnostics < want) {
		char *name = from_alphabet(g, "abcdefghijklmnopqrstuvwxyz0123456789_.", 1, 24);
		name[0] = (char)('a' + next(g) % 26);
		int dup = pii_name(name);
		for (size_t i = 0; i < r->n_diagnostics && !dup; i++)
			dup = strcmp(r->diagnostics[i].name, name) == 0;
		if (dup) {
			free(name);
			continue;
		}
		struct tm_diag *d = &r->diagnostics[r->n_diagnostics++];
		d->name = name;
		d->type = (enum tm_diag_type)range(g, 0, 3);
		switch (d->type) {
		case TM_DIAG_STRING:
			d->s = awkward(g, 256);
			break;
		case TM_DIAG_INT:
			d->i = coin(g) ? (int64_t)next(g) : range(g, -3, 3);
			break;
		case TM_DIAG_FLOAT:
			d->f = random_double(g);
			break;
		case TM_DIAG_BOOL:
			d->b = coin(g);
			break;
		}
	}
}

static struct tm_report *random_report(struct rng *g)
{
	static const char hex[] = "0123456789abcdef";
	struct tm_report *r = tm_report_new();
	char id[37];
	for (int i = 0; i < 36; i++)
		id[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[next(g) % 16];
	id[36] = '\0';
	r->id = strdup(id);
	r->seq = coin(g) ? (coin(g) ? 1 : MAX_SAFE) : range(g, 1, MAX_SAFE);
	r->kind = (enum tm_report_kind)range(g, 0, 3);
	r->generated_at = timestamp(g, 1);
	r->agent = from_alphabet(g, ALNUM "._+/-", 1, 64);
	if (coin(g)) {
		r->trigger_cause = strdup(PICK(g, kinds_c));
		r->trigger_subject = maybe_text(g, 128);
	}
	r->outbox_gap = opt_count(g);

	r->serial = from_alphabet(g, ALNUM "._-", 1, 64);
	r->manufacturer = maybe_text(g, 256);
	r->model = maybe_text(g, 256);
	r->name = maybe_text(g, 256);
	r->location = maybe_text(g, 256);
	r->ip = coin(g) ? strdup(coin(g) ? "192.0.2.41" : "2001:db8::1") : NULL;
	r->mac = coin(g) ? strdup("00:1b:2c:3d:4e:5f") : NULL;
	r->n_firmware = (size_t)range(g, 0, 3);
	r->firmware = calloc(r->n_firmware + 1, sizeof(*r->firmware));
	for (size_t i = 0; i < r->n_firmware; i++) {
		r->firmware[i].component = from_alphabet(g, ALNUM "._ -", 1, 64);
		r->firmware[i].version = from_alphabet(g, ALNUM "._+: ()/-", 1, 64);
	}
	if ((r->has_status = coin(g))) {
		r->state = strdup(PICK(g, states));
		size_t nc = sizeof(conds) / sizeof(conds[0]);
		size_t start = next(g) % nc;
		r->n_conditions = (size_t)range(g, 0, 4);
		r->conditions = calloc(r->n_conditions + 1, sizeof(char *));
		for (size_t i = 0; i < r->n_conditions; i++)
			r->conditions[i] = strdup(conds[(start + i) % nc]); /* distinct */
		r->status_since = coin(g) ? timestamp(g, 0) : NULL;
	}
	if (coin(g))
		random_counters(g, r);
	random_lists(g, r);
	if (coin(g))
		random_diagnostics(g, r);
	return r;
}

Test(report, round_trip_property, .timeout = 240)
{
	struct rng g = { .s = 0x7e1e3a11c0ffee01ULL };
	int n = 600;
	for (int i = 0; i < n; i++) {
		struct tm_report *r = random_report(&g);
		char what[32];
		snprintf(what, sizeof(what), "random report %d", i);
		assert_round_trip(r, what);
		tm_report_free(r);
	}
}

/* PyYAML (YAML 1.1, a different implementation) must read the writer's output
 * to the very same values as tm_yaml_read. The test dumps our reading as JSON
 * (floats as their bit pattern) and Python compares, types included. */
static void json_string(struct tm_buf *b, const char *s)
{
	tm_buf_append_str(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == '"' || *p == '\\')
			tm_buf_printf(b, "\\u%04x", *p);
		else
			tm_buf_append(b, p, 1);
	}
	tm_buf_append_str(b, "\"");
}

static void json_tree(struct tm_buf *b, const struct tm_node *n)
{
	switch (n->type) {
	case TM_NODE_NULL:
	case TM_NODE_BOOL:
		tm_buf_append_str(b, n->type == TM_NODE_NULL ? "null" : n->u.b ? "true" : "false");
		break;
	case TM_NODE_INT:
		tm_buf_printf(b, "%" PRId64, n->u.i);
		break;
	case TM_NODE_FLOAT: {
		int64_t bits;
		memcpy(&bits, &n->u.f, sizeof(bits));
		tm_buf_printf(b, "{\"$f\":%" PRId64 "}", bits);
		break;
	}
	case TM_NODE_STRING:
		json_string(b, n->u.str.s);
		break;
	case TM_NODE_SEQ:
	case TM_NODE_MAP: {
		int map = n->type == TM_NODE_MAP;
		size_t count = map ? n->u.map.n : n->u.seq.n;
		tm_buf_append_str(b, map ? "{" : "[");
		for (size_t i = 0; i < count; i++) {
			tm_buf_append_str(b, i ? "," : "");
			if (map) {
				json_string(b, n->u.map.pairs[i].key);
				tm_buf_append_str(b, ":");
			}
			json_tree(b, map ? n->u.map.pairs[i].value : n->u.seq.items[i]);
		}
		tm_buf_append_str(b, map ? "}" : "]");
		break;
	}
	}
}

static const char agree_py[] =
	"import json, struct, sys, glob, yaml\n"
	"def conv(v):\n"
	"    if isinstance(v, float): return {'$f': struct.unpack('<q', struct.pack('<d', v))[0]}\n"
	"    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}\n"
	"    if isinstance(v, list): return [conv(x) for x in v]\n"
	"    return v\n"
	"n = 0\n"
	"for f in sorted(glob.glob(sys.argv[1] + '/*.yaml')):\n"
	"    with open(f, 'rb') as fh: py = json.dumps(conv(yaml.safe_load(fh)))\n"
	"    with open(f[:-5] + '.json', encoding='utf-8') as fh: ours = json.dumps(json.load(fh))\n"
	"    if py != ours: sys.exit('%s:\\nPyYAML: %s\\nours:   %s' % (f, py, ours))\n"
	"    n += 1\n"
	"print('agree', n)\n"
	"sys.exit(0 if n > 0 else 1)\n";

Test(report, pyyaml_reads_the_same_values, .timeout = 240)
{
	char *dir = tm_test_tmpdir();
	struct rng g = { .s = 0x5eed0fca11ab1e55ULL };
	for (int i = 0; i < 80; i++) {
		struct tm_report *r = random_report(&g);
		struct tm_buf y, j;
		tm_buf_init(&y);
		tm_buf_init(&j);
		write_ok(r, &y);
		struct tm_node *root = NULL;
		struct tm_error err = {0};
		cr_assert_eq(tm_yaml_read(y.data, y.len, NULL, &root, &err), 0, "%s", err.msg);
		json_tree(&j, root);
		char path[256];
		snprintf(path, sizeof(path), "%s/r%03d.yaml", dir, i);
		tm_test_write(path, y.data, y.len);
		snprintf(path, sizeof(path), "%s/r%03d.json", dir, i);
		tm_test_write(path, j.data, j.len);
		tm_node_free(root);
		tm_buf_fini(&y);
		tm_buf_fini(&j);
		tm_report_free(r);
	}
	char script[256];
	snprintf(script, sizeof(script), "%s/agree.py", dir);
	tm_test_write(script, agree_py, strlen(agree_py));
	int st = tm_test_sh("python3 '%s' '%s' >&2", script, dir);
	cr_assert_eq(st, 0, "PyYAML reads the writer's output differently (see the log); files in %s", dir);
	tm_test_rmtree(dir);
	free(dir);
}

/* JSON Schema 2020-12 counts 1.0 as an integer; so must the model (the
 * schema-agree test found the gap against python-jsonschema). */
Test(report, integer_valued_floats_are_integers)
{
	const char *y = "schema_version: 1.0\n"
			"report: {id: \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", seq: 7.0, kind: \"test\",\n"
			"         generated_at: \"2026-11-21T08:00:00Z\", agent: \"t/1\"}\n"
			"device: {serial: \"XK1\"}\n"
			"supplies: [{index: 1.0, type: \"toner\", level: -3.0}]\n";
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	cr_assert_eq(tm_report_read((const uint8_t *)y, strlen(y), NULL, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(r->seq, 7);
	cr_assert_eq(r->supplies[0].index, 1);
	cr_assert_eq(r->supplies[0].level, TM_LEVEL_SOME_REMAINING);
	tm_report_free(r);
	const char *frac = "schema_version: 1\n"
			   "report: {id: \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", seq: 7.5, kind: \"test\",\n"
			   "         generated_at: \"2026-11-21T08:00:00Z\", agent: \"t/1\"}\n"
			   "device: {serial: \"XK1\"}\n";
	cr_assert_eq(tm_report_read((const uint8_t *)frac, strlen(frac), NULL, &r, &err), -1);
	cr_assert_str_eq(err.reason, "report.wrong_type");
	cr_assert(strstr(err.msg, "report/seq") != NULL, "%s", err.msg);
}

/* Found by fuzz_report: a timestamp of the right shape but no real date
 * passed the schema's pattern and then failed normalization. It is now
 * refused while reading, naming the field. */
Test(report, impossible_dates_are_refused_while_reading)
{
	static const char *const cases[][2] = {
		{ "report: {id: \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", seq: 1, kind: \"test\", generated_at: \"2025-25-01T08:00:00Z\", agent: \"t/1\"}\n",
		  "report/generated_at: not a valid date and time" },
		{ "report: {id: \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", seq: 1, kind: \"test\", generated_at: \"2025-01-01T08:00:00Z\", agent: \"t/1\"}\n"
		  "status: {state: \"idle\", since: \"2025-02-30T00:00:00+01:00\"}\n",
		  "status/since: not a valid date and time" },
		{ "report: {id: \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", seq: 1, kind: \"test\", generated_at: \"2025-01-01T08:00:00Z\", agent: \"t/1\"}\n"
		  "alerts: [{code: \"jam\", severity: \"warning\", time: \"2025-01-01T24:00:00Z\"}]\n",
		  "alerts/0/time: not a valid date and time" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char y[1024];
		snprintf(y, sizeof(y), "schema_version: 1\ndevice: {serial: \"XK1\"}\n%s", cases[i][0]);
		struct tm_error err = {0};
		struct tm_report *r = NULL;
		cr_assert_eq(tm_report_read((const uint8_t *)y, strlen(y), NULL, &r, &err), -1, "case %zu", i);
		cr_assert_str_eq(err.reason, "report.semantics", "case %zu: %s", i, err.msg);
		cr_assert(strstr(err.msg, cases[i][1]) != NULL, "case %zu: %s", i, err.msg);
		cr_assert_null(r);
	}
}

/* Found by fuzz_report: two firmware entries for one component passed the
 * schema and then failed normalization (the record keys firmware by
 * component). Refused while reading. */
Test(report, firmware_component_twice_is_refused_while_reading)
{
	const char *y = "schema_version: 1\n"
			"report: {id: \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", seq: 1, kind: \"test\",\n"
			"         generated_at: \"2026-11-21T08:00:00Z\", agent: \"t/1\"}\n"
			"device:\n  serial: \"XK1\"\n  firmware:\n"
			"    - {component: \"engine\", version: \"1\"}\n"
			"    - {component: \"controller\", version: \"2\"}\n"
			"    - {component: \"engine\", version: \"3\"}\n";
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	cr_assert_eq(tm_report_read((const uint8_t *)y, strlen(y), NULL, &r, &err), -1);
	cr_assert_str_eq(err.reason, "report.semantics");
	cr_assert_str_eq(err.msg, "device/firmware/2/component: 'engine' appears twice (also item 0)");
}

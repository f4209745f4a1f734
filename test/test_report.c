/* Tests of the report model (parser/report/report.c) and its YAML writer
 * (parser/report/report_write.c): good files, tree → model errors, equality, exact
 * writer output, rules beyond the schema. The round-trip property over
 * seeded random reports is in test_report_property.c. */
#include <math.h>
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
	tm_test_report_round_trip(r, "color-mfp-full");
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
	tm_test_report_round_trip(r, "mono-minimal");
	tm_report_free(r);

	r = read_file_ok("reports/good/test-kind.yaml");
	cr_assert_eq(r->kind, TM_KIND_TEST);
	cr_assert(r->has_counters && r->has_alerts && r->has_diagnostics);
	cr_assert_eq(r->n_alerts, 0);
	cr_assert_not(r->has_service[TM_SVC_TOTAL]);
	tm_test_report_round_trip(r, "test-kind");
	tm_report_free(r);
}

Test(report, read_collector_section)
{
	struct tm_report *r = read_file_ok("reports/good/collector-unreachable.yaml");
	cr_assert(r->has_collector);
	cr_assert_eq(r->collector_devices, 3);
	cr_assert_eq(r->unreachable_count, 2);
	cr_assert_eq(r->n_unreachable, 2);
	cr_assert_str_eq(r->unreachable[0].address, "192.0.2.41:161");
	cr_assert_null(r->unreachable[0].serial);
	cr_assert_str_eq(r->unreachable[0].reason, "collect.unavailable");
	cr_assert_str_eq(r->unreachable[0].since, "2024-04-30T08:00:00Z");
	cr_assert_str_eq(r->unreachable[1].serial, "XK100002");
	cr_assert_null(r->unreachable[1].detail);
	tm_test_report_round_trip(r, "collector-unreachable");
	struct tm_report *b = read_file_ok("reports/good/collector-unreachable.yaml");
	cr_assert(tm_report_equal(r, b));
	free(b->unreachable[1].reason);
	b->unreachable[1].reason = strdup("collect.snmp");
	cr_assert_not(tm_report_equal(r, b));
	tm_report_free(b);
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
	tm_test_report_round_trip(r, "supply-sentinels");
	tm_report_free(r);

	r = read_file_ok("reports/good/event-supply-low.yaml");
	cr_assert_eq(r->kind, TM_KIND_EVENT);
	cr_assert_str_eq(r->trigger_subject, "supplies/2");
	cr_assert_eq(r->outbox_gap, 2);
	tm_test_report_round_trip(r, "event-supply-low");
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
	tm_test_report_write(r, &b);
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
	tm_test_report_write(r, &b);
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

/* ---- personal data, however it is spelled (issue 14) ------------------------- */

static void read_expect(const char *yaml, const char *reason, const char *what)
{
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	int rc = tm_report_read((const uint8_t *)yaml, strlen(yaml), NULL, &r, &err);
	if (reason == NULL) {
		cr_assert_eq(rc, 0, "%s: %s: %s", what, err.reason, err.msg);
		tm_report_free(r);
		return;
	}
	cr_assert_eq(rc, -1, "%s was accepted", what);
	cr_assert_str_eq(err.reason, reason, "%s: %s", what, err.msg);
	cr_assert_null(r);
}

Test(report, pii_names_after_normalising_case_separators_and_camel_case)
{
	/* each was stored before: the pattern only knew e-?mail and lower case */
	const char *const refused[] = { "e_mail", "eMail", "E-Mail", "EMail", "email", "mail",
					"contact_mail", "operator_name", "operatorName", "operator",
					"employee", "employee_id", "cardholder", "cardHolder",
					"card_holder", "first_name", "surname", "mail_to" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y), HEAD "diagnostics: {\"%s\": \"x\"}\n", refused[i]);
		read_expect(y, "report.pii_field", refused[i]);
	}
	/* device data that only looks alike (documented in the schema) */
	const char *const kept[] = { "mail_sent", "mail_count", "mailbox_full",
				     "operator_panel_locked", "fuser.temperature", "hostname" };
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y), HEAD "diagnostics: {\"%s\": 3}\n", kept[i]);
		read_expect(y, NULL, kept[i]);
	}
}

Test(report, an_email_address_value_is_personal_data)
{
	read_expect(HEAD "diagnostics: {note: \"alice@example.com\"}\n", "report.pii_value",
		    "an address in diagnostics");
	read_expect(HEAD "diagnostics: {note: \"last by Alice <alice.b+x@mail.example.co>\"}\n",
		    "report.pii_value", "an address inside a text");
	const char *loc = "schema_version: 1\nreport: {id: \"3f6c1a2e-9b4d-4c1e-8a7f-0d2b5e6c7a81\", "
			  "seq: 1, kind: periodic, generated_at: \"2024-01-01T00:00:00Z\", agent: a}\n"
			  "device: {serial: X, location: \"desk of bob@corp.example\"}\n";
	read_expect(loc, "report.pii_value", "an address in device.location");
	/* not addresses: a version after @, a bare @ */
	read_expect(HEAD "diagnostics: {pkg: \"fw@1.2.3\", at: \"a@b\", x: \"@example.com\"}\n", NULL,
		    "look-alikes");
}

/* telemail-agent collection: the file collector and its format, seq state,
 * event detection with hysteresis, and the report builder's self-check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "build.h"
#include "collect.h"
#include "common.h"
#include "config.h"
#include "events.h"
#include "state.h"

static struct tm_report *snap(const char *yaml)
{
	struct tm_report *r = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_snapshot_parse((const uint8_t *)yaml, strlen(yaml), &r, &err), 0,
		     "%s: %s", err.reason, err.msg);
	return r;
}

Test(agent_collect, example_snapshot_reads_exactly)
{
	char *p = tm_test_src("../examples/device-state.yaml");
	struct tm_report *r = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_collect_file(p, &r, &err), 0, "%s", err.msg);
	cr_expect_str_eq(r->serial, "XK100001");
	cr_expect_str_eq(r->location, "Building A, 3rd floor, print room");
	cr_expect_eq(r->n_supplies, 5);
	cr_expect_eq(r->supplies[4].level, TM_LEVEL_SOME_REMAINING);
	cr_expect_eq(r->service[TM_SVC_TOTAL].impressions, 152340);
	cr_expect_eq(r->n_parts, 2);
	tm_report_free(r);
	free(p);
}

Test(agent_collect, simulator_output_is_a_valid_snapshot)
{
	char *d = tm_test_tmpdir();
	char *sim = tm_test_src("../examples/simulator");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' '%s/s.yaml' --seed 7 --steps 25", sim, d), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/s.yaml", d);
	struct tm_report *r = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_collect_file(p, &r, &err), 0, "%s", err.msg);
	cr_expect_eq(r->n_supplies, 4);
	cr_expect_gt(r->service[TM_SVC_TOTAL].impressions, 12000);
	tm_report_free(r);
	tm_test_rmtree(d);
	free(d);
	free(sim);
}

struct bad_snap {
	const char *yaml;
	const char *needle;
};

static const struct bad_snap bad_snaps[] = {
	{ "device: {serial: A1}\nprinter: {}\n", "unknown section 'printer'" },
	{ "status: {state: idle}\n", "device section" },
	{ "device: {serial: A1}\nsupplies: [{index: 1, type: toner, level: -4}]\n", "supplies/0/level" },
	{ "device: {serial: A1}\nsupplies: [{index: 1, type: paint, level: 5}]\n", "supplies/0/type" },
	{ "device: {serial: 'bad serial'}\n", "device/serial" },
	{ "device: {serial: A1}\ndiagnostics: {owner_name: x}\n", "report.pii_field" },
	{ "device: [serial\n", "report.syntax" },
	{ "- a\n- b\n", "mapping of sections" },
	{ "device: {serial: A1}\nreport: {}\n", "unknown section 'report'" },
};

Test(agent_collect, bad_snapshots_are_refused_with_the_path)
{
	for (size_t i = 0; i < sizeof(bad_snaps) / sizeof(bad_snaps[0]); i++) {
		struct tm_report *r = NULL;
		struct tm_error err = { 0 };
		const char *y = bad_snaps[i].yaml;
		cr_assert_eq(ag_snapshot_parse((const uint8_t *)y, strlen(y), &r, &err), -1, "accepted %s", y);
		cr_assert_null(r);
		cr_assert_str_eq(err.reason, "collect.format", "%s", y);
		cr_assert_not_null(strstr(err.msg, bad_snaps[i].needle), "'%s' lacks '%s'", err.msg,
				   bad_snaps[i].needle);
	}
}

Test(agent_collect, missing_or_huge_file)
{
	struct tm_report *r = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_collect_file("/nonexistent/state.yaml", &r, &err), -1);
	cr_assert_str_eq(err.reason, "collect.unavailable");
	/* the OS reason survives the wrapping */
	cr_assert_str_eq(err.msg, "cannot read the snapshot: /nonexistent/state.yaml: No such file or directory");
	char *d = tm_test_tmpdir();
	cr_assert_eq(tm_test_sh("head -c %u /dev/zero | tr '\\0' '#' > '%s/big.yaml'", AG_SNAPSHOT_MAX_BYTES + 1, d), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/big.yaml", d);
	cr_assert_eq(ag_collect_file(p, &r, &err), -1);
	cr_assert_str_eq(err.reason, "collect.format");
	cr_assert_not_null(strstr(err.msg, "larger than"), "%s", err.msg);
	tm_test_rmtree(d);
	free(d);
}

Test(agent_collect, seq_is_monotonic_across_restarts_and_state_is_checked)
{
	char *d = tm_test_tmpdir();
	struct ag_state st;
	struct tm_error err = { 0 };
	int64_t seq;
	ag_state_init(&st);
	cr_assert_eq(ag_state_load(d, "XK1", &st, &err), 0);
	cr_assert_eq(ag_state_next_seq(d, &st, &seq, &err), 0);
	cr_expect_eq(seq, 1);
	cr_assert_eq(ag_state_next_seq(d, &st, &seq, &err), 0);
	cr_expect_eq(seq, 2);
	ag_state_list_add(st.alerts, &st.n_alerts, "jam//4");
	cr_assert_eq(ag_state_save(d, &st, &err), 0);
	ag_state_fini(&st);
	ag_state_init(&st);
	cr_assert_eq(ag_state_load(d, "XK1", &st, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_state_next_seq(d, &st, &seq, &err), 0);
	cr_expect_eq(seq, 3);
	cr_expect_eq(st.n_alerts, 1);
	ag_state_fini(&st);

	/* a truncated file (power cut during a non-atomic copy) is refused, not reset to 0 */
	cr_assert_eq(tm_test_sh("head -n 3 '%s/XK1.state' > '%s/XK1.cut' && mv '%s/XK1.cut' '%s/XK1.state'", d, d, d, d), 0);
	ag_state_init(&st);
	cr_assert_eq(ag_state_load(d, "XK1", &st, &err), -1);
	cr_assert_str_eq(err.reason, "state.corrupt");
	cr_assert_not_null(strstr(err.msg, "truncated"), "%s", err.msg);
	cr_assert_eq(ag_state_load(d, "../etc", &st, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	ag_state_fini(&st);
	tm_test_rmtree(d);
	free(d);
}

static struct ag_config *cfg(void)
{
	const char *t = "identity: {certificate: d.pem, key: d.key, mailbox: a@b.example}\n"
			"gateway: {mailbox: gw@g.example, certificates: [gw.pem]}\n"
			"smtp: {relays: [h], ca_file: ca.pem}\n"
			"outbox: {directory: ob}\nstate_directory: st\n"
			"collectors: [{type: file, path: s.yaml}]\n"
			"thresholds: {supply_low: 10, supply_low_by: {black: 20}, hysteresis: 5, part_life_warning: 90}\n";
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_config_parse((const uint8_t *)t, strlen(t), "/x", &c, &err), 0, "%s", err.msg);
	return c;
}

static size_t detect(struct ag_config *c, struct ag_state *st, const char *yaml, struct ag_event *ev)
{
	struct tm_report *r = snap(yaml);
	size_t n = ag_events_detect(c, st, r, ev, 8);
	tm_report_free(r);
	return n;
}

#define SUP(lvl) "device: {serial: A1}\nsupplies: [{index: 1, type: toner, colorant: black, max_capacity: 200, level: " lvl "}]\n"

Test(agent_collect, supply_threshold_fires_once_with_hysteresis)
{
	struct ag_config *c = cfg();
	struct ag_state st;
	ag_state_init(&st);
	struct ag_event ev[8];
	cr_expect_eq(detect(c, &st, SUP("100"), ev), 0);          /* 50 % */
	cr_assert_eq(detect(c, &st, SUP("40"), ev), 1);           /* 20 % ≤ black 20 */
	cr_expect_str_eq(ev[0].cause, "supply_low");
	cr_expect_str_eq(ev[0].subject, "supplies/1");
	cr_expect_eq(detect(c, &st, SUP("38"), ev), 0);           /* still low: once */
	cr_expect_eq(detect(c, &st, SUP("44"), ev), 0);           /* 22 %: inside hysteresis */
	cr_expect_eq(detect(c, &st, SUP("40"), ev), 0);           /* back to 20 %: not again */
	cr_assert_eq(detect(c, &st, SUP("0"), ev), 1);
	cr_expect_str_eq(ev[0].cause, "supply_empty");
	cr_assert_eq(detect(c, &st, SUP("200"), ev), 1);          /* replaced: 100 % */
	cr_expect_str_eq(ev[0].cause, "supply_replaced");
	cr_assert_eq(detect(c, &st, SUP("30"), ev), 1);           /* a new crossing fires again */
	cr_expect_str_eq(ev[0].cause, "supply_low");
	cr_expect_eq(detect(c, &st, SUP("-3"), ev), 0);           /* sentinels never fire */
	cr_expect_eq(detect(c, &st, SUP("-2"), ev), 0);
	ag_state_fini(&st);
	ag_config_free(c);
}

#define PART(lvl, part) "device: {serial: A1}\nsupplies: [{index: 1, type: toner, colorant: black, " \
	"max_capacity: 200, level: " lvl ", part_number: \"" part "\"}]\n"

/* A new part number is a new cartridge: supply_replaced, even at a level
 * that never went low (an early swap) and even below the old level; the
 * part number survives a restart (the state file). */
Test(agent_collect, a_new_part_number_is_a_replacement)
{
	struct ag_config *c = cfg();
	struct ag_state st;
	ag_state_init(&st);
	struct ag_event ev[8];
	cr_expect_eq(detect(c, &st, PART("120", "TN-512K"), ev), 0);   /* first seen */
	cr_expect_eq(detect(c, &st, PART("110", "TN-512K"), ev), 0);
	cr_assert_eq(detect(c, &st, PART("100", "TN-512K HY"), ev), 1);  /* swapped at 55 %: 50 % */
	cr_expect_str_eq(ev[0].cause, "supply_replaced");
	cr_expect_str_eq(ev[0].subject, "supplies/1");
	cr_expect_eq(detect(c, &st, PART("98", "TN-512K HY"), ev), 0);
	cr_expect_eq(detect(c, &st, SUP("96"), ev), 0, "no part number said: nothing new");

	char *d = tm_test_tmpdir();
	struct tm_error err = { 0 };
	snprintf(st.serial, sizeof(st.serial), "A1");
	cr_assert_eq(ag_state_save(d, &st, &err), 0, "%s", err.msg);
	struct ag_state back;
	ag_state_init(&back);
	cr_assert_eq(ag_state_load(d, "A1", &back, &err), 0, "%s", err.msg);
	cr_assert_eq(back.n_supplies, 1);
	cr_expect_str_eq(back.supplies[0].part, "TN-512K HY");
	cr_assert_eq(detect(c, &back, PART("200", "TN-512K"), ev), 1, "after a restart too");
	cr_expect_str_eq(ev[0].cause, "supply_replaced");
	ag_state_fini(&back);
	tm_test_rmtree(d);
	free(d);
	ag_state_fini(&st);
	ag_config_free(c);
}

Test(agent_collect, alerts_conditions_parts_and_firmware)
{
	struct ag_config *c = cfg();
	struct ag_state st;
	ag_state_init(&st);
	struct ag_event ev[8];
	const char *base = "device: {serial: A1, firmware: [{component: controller, version: '1.0'}]}\n";
	char y[1024];
	cr_expect_eq(detect(c, &st, base, ev), 0);      /* first firmware seen: no event */
	snprintf(y, sizeof(y), "%salerts: [{code: jam, severity: warning, location: 4}]\n"
		 "status: {state: idle, conditions: [jammed]}\n", base);
	cr_assert_eq(detect(c, &st, y, ev), 2);
	cr_expect_str_eq(ev[0].cause, "alert");
	cr_expect_str_eq(ev[0].subject, "jam");
	cr_expect_str_eq(ev[1].cause, "state_change");
	cr_expect_str_eq(ev[1].subject, "jammed");
	cr_expect_eq(detect(c, &st, y, ev), 0);         /* same alert again: nothing */
	cr_expect_eq(detect(c, &st, base, ev), 0);      /* cleared */
	cr_expect_eq(detect(c, &st, y, ev), 2);         /* back: fires again */
	snprintf(y, sizeof(y), "%sparts: [{name: fuser, used: 271000, rated_life: 300000}]\n", base);
	cr_assert_eq(detect(c, &st, y, ev), 1);
	cr_expect_str_eq(ev[0].cause, "part_life");
	cr_expect_eq(detect(c, &st, y, ev), 0);
	const char *fw2 = "device: {serial: A1, firmware: [{component: controller, version: '1.1'}]}\n";
	cr_assert_eq(detect(c, &st, fw2, ev), 1);
	cr_expect_str_eq(ev[0].cause, "firmware_change");
	ag_state_fini(&st);
	ag_config_free(c);
}

Test(agent_collect, built_report_is_valid_and_carries_meta)
{
	struct tm_report *r = snap("device: {serial: A1}\nsupplies: [{index: 1, type: toner, level: 5}]\n");
	struct ag_report_meta m = { TM_KIND_EVENT, 42, "supply_low", "supplies/1", 3, 1700000000 };
	struct tm_error err = { 0 };
	cr_assert_eq(ag_report_finish(r, &m, &err), 0);
	struct tm_buf y;
	tm_buf_init(&y);
	cr_assert_eq(ag_report_yaml(r, &y, &err), 0, "%s", err.msg);
	struct tm_report *back = NULL;
	cr_assert_eq(tm_report_read(y.data, y.len, NULL, &back, &err), 0, "%s", err.msg);
	cr_expect_eq(back->seq, 42);
	cr_expect_eq(back->kind, TM_KIND_EVENT);
	cr_expect_eq(back->outbox_gap, 3);
	cr_expect_str_eq(back->trigger_cause, "supply_low");
	cr_expect_str_eq(back->generated_at, "2023-11-14T22:13:20Z");
	cr_expect_eq(strlen(back->id), 36);
	cr_expect_eq(back->id[14], '4');
	/* a model that breaks the schema is never written out */
	free(r->serial);
	r->serial = strdup("no spaces allowed");
	tm_buf_reset(&y);
	cr_assert_eq(ag_report_yaml(r, &y, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_not_null(strstr(err.msg, "serial"), "%s", err.msg);
	cr_expect_eq(y.len, 0);
	tm_report_free(back);
	tm_report_free(r);
	tm_buf_fini(&y);
}

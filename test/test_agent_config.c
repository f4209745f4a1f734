/* telemail-agent configuration: defaults, relative paths, and every refusal
 * with its exact reason code and the key it names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/error.h>

#include "common.h"
#include "config.h"

#define BASE_IDENTITY "identity: {certificate: d.pem, key: d.key, mailbox: a@b.example}\n"
#define BASE_GATEWAY "gateway: {mailbox: gw@g.example, certificates: [gw.pem]}\n"
#define BASE_SMTP "smtp: {relays: [{host: 127.0.0.1, port: 2525}], ca_file: ca.pem}\n"
#define BASE_REST "outbox: {directory: ob}\nstate_directory: st\ncollectors: [{type: file, path: s.yaml}]\n"
#define BASE BASE_IDENTITY BASE_GATEWAY BASE_SMTP BASE_REST

static int parse(const char *text, struct ag_config **c, struct tm_error *err)
{
	return ag_config_parse((const uint8_t *)text, strlen(text), "/etc/tm", c, err);
}

Test(agent_config, minimal_gets_safe_defaults_and_resolved_paths)
{
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(parse(BASE, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_str_eq(c->cert, "/etc/tm/d.pem");
	cr_expect_str_eq(c->gw_certs[0], "/etc/tm/gw.pem");
	cr_expect_str_eq(c->outbox_dir, "/etc/tm/ob");
	cr_expect_eq(c->smtp.tls, AG_TLS_REQUIRED);
	cr_expect_eq(c->smtp.port, 25);
	cr_expect_eq(c->smtp.relays[0].port, 2525);
	cr_expect_str_eq(c->smtp.envelope_sender, "a@b.example");
	cr_expect_eq(c->every_counters, 8 * 3600);
	cr_expect_eq(c->supply_low, 10);
	cr_expect_eq(ag_config_supply_low(c, "toner", "black"), 10);
	ag_config_free(c);
}

Test(agent_config, durations_thresholds_and_example_file)
{
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	const char *t = BASE "schedule: {counters: 4h, jitter: 90s, heartbeat: 0}\n"
			"thresholds: {supply_low: 12, supply_low_by: {black: 20, wasteToner: 3}}\n";
	cr_assert_eq(parse(t, &c, &err), 0, "%s", err.msg);
	cr_expect_eq(c->every_counters, 4 * 3600);
	cr_expect_eq(c->jitter, 90);
	cr_expect_eq(c->every_heartbeat, 0);
	cr_expect_eq(ag_config_supply_low(c, "toner", "black"), 20);
	cr_expect_eq(ag_config_supply_low(c, "wasteToner", NULL), 3);
	cr_expect_eq(ag_config_supply_low(c, "toner", "cyan"), 12);
	ag_config_free(c);

	char *ex = tm_test_src("../examples/agent.yaml");
	cr_assert_eq(ag_config_load(ex, &c, &err), 0, "examples/agent.yaml: %s", err.msg);
	cr_expect_eq(c->smtp.n_relays, 2);
	cr_expect_eq(c->smtp.auth, AG_AUTH_PLAIN);
	ag_config_free(c);
	free(ex);
}

/* The example's commented SNMP collectors, switched on (collector role), are valid. */
Test(agent_config, example_snmp_collectors_parse)
{
	char *ex = tm_test_src("../examples/agent.yaml");
	char *d = tm_test_tmpdir();
	cr_assert_eq(tm_test_sh("sed -e 's/^  role: device /  role: collector /' -e 's/^  # - type: snmp/  - type: snmp/' "
				"-e 's/^  #   \\([a-z_]*:\\)/    \\1/' '%s' > '%s/agent.yaml'", ex, d), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/agent.yaml", d);
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_config_load(p, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(c->n_collectors, 3);
	const struct ag_collector_config *v2 = &c->collectors[1], *v3 = &c->collectors[2];
	cr_expect_eq(v2->type, AG_COLLECT_SNMP);
	cr_expect_eq(v2->version, 2);
	cr_expect_str_eq(v2->community, "public");
	cr_expect_eq(v2->timeout_ms, 2000);
	cr_expect_str_eq(v2->serial, "XK100002");
	cr_expect_eq(v3->version, 3);
	cr_expect_str_eq(v3->auth_protocol, "SHA-256");
	cr_expect_str_eq(v3->priv_protocol, "AES");
	cr_expect_str_eq(v3->priv_password_file, "/etc/telemail/snmp-priv");
	ag_config_free(c);
	tm_test_rmtree(d);
	free(d);
	free(ex);
}

struct bad_case {
	const char *text;
	const char *reason;
	const char *needle;
};

static struct bad_case bad_cases[] = {
	{ BASE "extra: 1\n", "config.unknown_key", "line 7: extra: unknown key" },
	{ BASE_GATEWAY BASE_SMTP BASE_REST, "config.missing_key", "identity: missing" },
	{ "identity: {certificate: d.pem, key: d.key, mailbox: nobody}\n" BASE_GATEWAY BASE_SMTP BASE_REST,
	  "config.bad_value", "identity.mailbox" },
	{ BASE_IDENTITY BASE_GATEWAY "smtp: {relays: [{host: h}]}\n" BASE_REST, "config.missing_key", "smtp.ca_file" },
	{ BASE_IDENTITY BASE_GATEWAY "smtp: {relays: [{host: h}], starttls: false}\n" BASE_REST,
	  "config.bad_value", "plain: true" },
	{ BASE_IDENTITY BASE_GATEWAY "smtp: {relays: [{host: h}], starttls: false, plain: true, auth: {username: u, password_file: p}}\n" BASE_REST,
	  "config.bad_value", "only allowed over TLS" },
	{ BASE_IDENTITY BASE_GATEWAY "smtp: {relays: [a, b, c, d, e, f], ca_file: ca.pem}\n" BASE_REST,
	  "config.bad_value", "at most 5 relays" },
	{ BASE_IDENTITY BASE_GATEWAY "smtp: {relays: [{host: h, port: 70000}], ca_file: ca.pem}\n" BASE_REST,
	  "config.bad_value", "smtp.relays[0].port: 70000 is out of range 1..65535" },
	{ BASE_IDENTITY BASE_GATEWAY "smtp: {relays: [{host: h}], ca_file: ca.pem, auth: {mechanism: CRAM-MD5, username: u, password_file: p}}\n" BASE_REST,
	  "config.bad_value", "PLAIN or LOGIN" },
	{ BASE "schedule: {counters: 5x}\n", "config.bad_value", "schedule.counters: '5x' is not a duration" },
	{ BASE "schedule: {counters: 0s}\n", "config.bad_value", "schedule.counters: 0s is out of range 1s..2678400s" },
	{ BASE_IDENTITY BASE_GATEWAY BASE_SMTP "outbox: {directory: ob}\nstate_directory: st\ncollectors: [{type: snmp, host: h, community: c, auth_protocol: MD5}]\n",
	  "config.bad_value", "auth_protocol: must be SHA" },
	{ BASE "thresholds: {supply_low: 101}\n", "config.bad_value", "thresholds.supply_low" },
	{ BASE "thresholds: {supply_low_by: {black: high}}\n", "config.bad_value", "supply_low_by.black" },
	{ BASE_IDENTITY BASE_GATEWAY BASE_SMTP "outbox: {directory: ob}\nstate_directory: st\ncollectors: [{type: file, path: a}, {type: file, path: b}]\n",
	  "config.bad_value", "exactly one collector" },
	{ BASE_IDENTITY BASE_GATEWAY BASE_SMTP "outbox: {directory: ob}\nstate_directory: st\ncollectors: [{type: snmp, host: h, version: 3, user: u}]\n",
	  "config.missing_key", "authPriv" },
	{ BASE_IDENTITY BASE_GATEWAY BASE_SMTP "outbox: {directory: ob}\nstate_directory: st\ncollectors: [{type: snmp, host: h}]\n",
	  "config.missing_key", "community" },
	{ BASE_IDENTITY "gateway: {mailbox: gw@g.example, certificates: []}\n" BASE_SMTP BASE_REST,
	  "config.bad_value", "gateway.certificates" },
	{ BASE "outbox: {directory: x}\n", "config.syntax", "duplicate" },
	{ BASE "smtp: [unclosed\n", "config.syntax", "line " },
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))
static int bad_index[N_BAD];

/* Criterion runs each case in a fresh process: pass the table index, not pointers. */
ParameterizedTestParameters(agent_config, refusals)
{
	for (size_t i = 0; i < N_BAD; i++)
		bad_index[i] = (int)i;
	return cr_make_param_array(int, bad_index, N_BAD);
}

ParameterizedTest(int *ix, agent_config, refusals)
{
	const struct bad_case *bc = &bad_cases[*ix];
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(parse(bc->text, &c, &err), -1, "accepted: %s", bc->text);
	cr_assert_null(c);
	cr_assert_str_eq(err.reason, bc->reason, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, bc->needle), "message '%s' lacks '%s'", err.msg, bc->needle);
	/* a configuration error carries no report reason code */
	cr_assert_null(strstr(err.msg, "report."), "%s", err.msg);
}

Test(agent_config, file_errors_name_the_file)
{
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_config_load("/nonexistent/agent.yaml", &c, &err), -1);
	cr_assert_str_eq(err.reason, "io.open");
	char *d = tm_test_tmpdir();
	char p[512];
	snprintf(p, sizeof(p), "%s/a.yaml", d);
	tm_test_write(p, BASE "smtp2: 1\n", strlen(BASE "smtp2: 1\n"));
	cr_assert_eq(ag_config_load(p, &c, &err), -1);
	cr_assert_str_eq(err.reason, "config.unknown_key");
	cr_assert_not_null(strstr(err.msg, "a.yaml"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "line 7"), "%s", err.msg);
	tm_test_rmtree(d);
	free(d);
}

/* A configuration of n SNMP devices with the given outbox line. */
static char *fleet(size_t n, const char *outbox)
{
	size_t cap = 256 + n * 96 + strlen(BASE_IDENTITY BASE_GATEWAY BASE_SMTP) + strlen(outbox);
	char *t = malloc(cap);
	cr_assert_not_null(t);
	int w = snprintf(t, cap, "identity: {role: collector, certificate: d.pem, key: d.key, mailbox: a@b.example}\n"
			 "%s%sstate_directory: st\ncollectors:\n", BASE_GATEWAY BASE_SMTP, outbox);
	for (size_t i = 0; i < n; i++)
		w += snprintf(t + w, cap - (size_t)w, "  - {type: snmp, host: 10.0.%zu.%zu, community: public}\n",
			      i / 250, i % 250 + 1);
	return t;
}

/* Issue 14 item 15: the default outbox holds three days of the scheduled
 * reports of every device (counters every 8 h: 9, heartbeats every hour:
 * 72, so 81 per device): 81,000 for 1,000 devices, not one cycle of 1,000. */
Test(agent_config, default_outbox_holds_three_days_of_the_fleet)
{
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	char *t = fleet(1000, "outbox: {directory: ob}\n");
	cr_assert_eq(parse(t, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_eq(ag_config_outbox_need(c), 81000);
	cr_expect_eq(c->outbox_max_count, 81000);
	cr_expect_eq(c->outbox_max_bytes, 81000ull * 8192);
	char w[512];
	cr_expect_eq(ag_config_outbox_warning(c, w, sizeof(w)), 0, "%s", w);
	ag_config_free(c);
	free(t);

	/* one device: the fixed defaults are already more */
	cr_assert_eq(parse(BASE, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_eq(c->outbox_max_count, 1000);
	cr_expect_eq(c->outbox_max_bytes, 64u << 20);
	ag_config_free(c);
}

/* An explicit size that holds less than three days: check-config's warning. */
Test(agent_config, explicit_small_outbox_gets_a_warning)
{
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	char *t = fleet(1000, "outbox: {directory: ob, max_count: 1000}\n");
	cr_assert_eq(parse(t, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_eq(c->outbox_max_count, 1000);
	char w[512];
	cr_assert_eq(ag_config_outbox_warning(c, w, sizeof(w)), 1);
	cr_expect_str_eq(w, "outbox (max_count 1000, max_bytes 663552000) holds less than three days of "
			    "scheduled reports for 1000 devices: 81000 reports, about 663552000 bytes; older "
			    "reports would be dropped while the relay is down");
	ag_config_free(c);
	free(t);

	t = fleet(1000, "outbox: {directory: ob, max_count: 81000, max_bytes: 700000000}\n");
	cr_assert_eq(parse(t, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_eq(ag_config_outbox_warning(c, w, sizeof(w)), 0, "%s", w);
	ag_config_free(c);
	free(t);
}

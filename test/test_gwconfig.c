/* The gateway configuration: the documented example loads; every bad key
 * gives its exact reason and a "file:line: path: message" text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "config/config.h"
#include "config/config_forward.h"

static int parse(const char *yaml, struct gw_config **cfg, struct tm_error *err)
{
	return gw_config_parse((const uint8_t *)yaml, strlen(yaml), "mailgw.yaml", "/etc/telemail",
			       cfg, err);
}

#define MINIMAL                                   \
	"gateway:\n"                              \
	"  mailboxes: [telemetry@gw.example]\n"   \
	"  keys:\n"                               \
	"    - cert: gw.crt\n"                    \
	"      key: gw.key\n"                     \
	"trust:\n"                                \
	"  ca_file: ca.pem\n"

Test(gwconfig, the_documented_example_loads)
{
	char *path = tm_test_src("../examples/mailgw.yaml");
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_config_load(path, &c, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_str_eq(c->state_dir, "/var/lib/telemail");
	cr_assert_eq(c->n_mailboxes, 1);
	cr_assert_str_eq(c->mailboxes[0], "telemetry@gw.example.net");
	cr_assert_eq(c->n_keys, 2, "two keys: rotation");
	cr_assert_str_eq(c->keys[1].key, "/etc/telemail/gw-2024.key");
	cr_assert_str_eq(c->ca_file, "/etc/telemail/device-ca.pem");
	cr_assert_str_eq(c->crl_file, "/etc/telemail/device-ca.crl");
	cr_assert(!c->allow_cbc);
	cr_assert_eq(c->max_future_skew, 600);
	cr_assert_eq(c->max_message_age, 30 * 86400);
	cr_assert_null(c->auto_enroll_tenant);
	cr_assert_str_eq(c->store_backend, "sqlite");
	cr_assert_str_eq(c->store_path, "/var/lib/telemail/telemail.db");
	cr_assert_eq(c->batch_size, 64);
	cr_assert_eq(c->store_busy_timeout, 5);
	cr_assert_eq(c->workers, 0);
	cr_assert_str_eq(c->quarantine_dir, "/var/lib/telemail/quarantine");
	cr_assert_str_eq(c->file, path);
	gw_config_free(c);
	free(path);
}

Test(gwconfig, defaults_and_relative_paths)
{
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse(MINIMAL, &c, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c->state_dir, "/var/lib/telemail");
	cr_assert_str_eq(c->store_path, "/var/lib/telemail/telemail.db");
	cr_assert_str_eq(c->quarantine_dir, "/var/lib/telemail/quarantine");
	cr_assert_str_eq(c->keys[0].cert, "/etc/telemail/gw.crt");
	cr_assert_str_eq(c->ca_file, "/etc/telemail/ca.pem");
	cr_assert_null(c->crl_file);
	cr_assert_eq(c->max_future_skew, 600);
	cr_assert_eq(c->max_message_age, 30 * 86400);
	cr_assert_eq(c->batch_size, 64);
	gw_config_free(c);
	cr_assert_eq(parse(MINIMAL "  max_message_age: 5d\n", &c, &err), 0, "%s", err.msg);
	cr_assert_eq(c->max_message_age, 5 * 86400);
	gw_config_free(c);

	cr_assert_eq(parse(MINIMAL "state_dir: state\nauto_enroll: {tenant: unassigned}\n"
			   "max_future_skew: 90s\nworkers: 8\nallow_cbc: true\n"
			   "store: {batch_size: 500, busy_timeout: 1m}\n", &c, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c->state_dir, "/etc/telemail/state");
	cr_assert_str_eq(c->store_path, "/etc/telemail/state/telemail.db");
	cr_assert_str_eq(c->auto_enroll_tenant, "unassigned");
	cr_assert_eq(c->max_future_skew, 90);
	cr_assert_eq(c->workers, 8);
	cr_assert(c->allow_cbc);
	cr_assert_eq(c->batch_size, 500);
	cr_assert_eq(c->store_busy_timeout, 60);
	gw_config_free(c);
}

Test(gwconfig, load_resolves_paths_against_the_files_directory)
{
	char *dir = tm_test_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/mailgw.yaml", dir);
	tm_test_write(path, MINIMAL, strlen(MINIMAL));
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_config_load(path, &c, &err), 0, "%s", err.msg);
	char want[600];
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	cr_assert_str_eq(c->ca_file, want);
	gw_config_free(c);

	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	cr_assert_eq(gw_config_load(path, &c, &err), -1);
	cr_assert_str_eq(err.reason, "io.open");
	cr_assert_null(c);
	tm_test_rmtree(dir);
	free(dir);
}

struct bad {
	const char *yaml;
	const char *reason;
	const char *msg;   /* the whole message */
};

/* The table lives at file scope; the parameters are indices into it
 * (Criterion may run each case in a fresh process image). */
static const struct bad bad_cases[] = {
	{ MINIMAL "colour: blue\n", "config.unknown_key",
	  "mailgw.yaml:8: colour: unknown key" },
	{ MINIMAL "store:\n  backend: sqlite\n  pth: x.db\n", "config.unknown_key",
	  "mailgw.yaml:10: store.pth: unknown key" },
	{ "gateway:\n  mailboxes: [a@b]\n  keys:\n    - cert: a\n      key: b\n"
	  "    - cert: c\n      kee: d\ntrust: {ca_file: ca}\n", "config.unknown_key",
	  "mailgw.yaml:7: gateway.keys[1].kee: unknown key" },
	{ "gateway:\n  mailboxes: [a@b]\n  keys:\n    - cert: a\n      key: b\n"
	  "    - key: d\ntrust: {ca_file: ca}\n", "config.missing_key",
	  "mailgw.yaml:6: gateway.keys[1].cert: missing" },
	{ "gateway:\n  mailboxes: [a@b]\n  keys: []\ntrust: {ca_file: ca}\n",
	  "config.bad_value", "mailgw.yaml:3: gateway.keys: 0 entries; want 1 to 16" },
	{ "gateway:\n  mailboxes: [a@b]\ntrust: {ca_file: ca}\n", "config.missing_key",
	  "mailgw.yaml:2: gateway.keys: missing" },
	{ "trust: {ca_file: ca}\n", "config.missing_key", "mailgw.yaml:1: gateway: missing" },
	{ "gateway:\n  mailboxes: [a@b]\n  keys: [{cert: a, key: b}]\ntrust: {}\n",
	  "config.missing_key", "mailgw.yaml:4: trust.ca_file: missing" },
	{ "gateway:\n  mailboxes: [nobody]\n  keys: [{cert: a, key: b}]\ntrust: {ca_file: c}\n",
	  "config.bad_value",
	  "mailgw.yaml:2: gateway.mailboxes[0]: 'nobody' is not a mailbox (local@domain)" },
	{ "gateway:\n  mailboxes: a@b\n  keys: [{cert: a, key: b}]\ntrust: {ca_file: c}\n",
	  "config.bad_value", "mailgw.yaml:2: gateway.mailboxes: must be a list, not string" },
	{ MINIMAL "allow_cbc: yes\n", "config.bad_value",
	  "mailgw.yaml:8: allow_cbc: must be true or false, not string" },
	{ MINIMAL "max_future_skew: 10\n", "config.bad_value",
	  "mailgw.yaml:8: max_future_skew: must be a string, not integer" },
	{ MINIMAL "max_future_skew: 10 minutes\n", "config.bad_value",
	  "mailgw.yaml:8: max_future_skew: '10 minutes' is not a duration (a number and s, m, h or d: 90s, 10m, 7d)" },
	{ MINIMAL "max_future_skew: 8d\n", "config.bad_value",
	  "mailgw.yaml:8: max_future_skew: 8d is out of range 0s..604800s" },
	{ MINIMAL "  max_message_age: 30s\n", "config.bad_value",
	  "mailgw.yaml:8: trust.max_message_age: 30s is out of range 60s..315360000s" },
	{ MINIMAL "  max_message_age: 3651d\n", "config.bad_value",
	  "mailgw.yaml:8: trust.max_message_age: '3651d' is longer than 3650 days" },
	{ MINIMAL "workers: 1000\n", "config.bad_value",
	  "mailgw.yaml:8: workers: 1000 is out of range 0..256" },
	{ MINIMAL "store: {batch_size: 0}\n", "config.bad_value",
	  "mailgw.yaml:8: store.batch_size: 0 is out of range 1..10000" },
	{ MINIMAL "store: {backend: oracle}\n", "config.bad_value",
	  "mailgw.yaml:8: store.backend: 'oracle' is not a store back end (this version has: sqlite, postgresql)" },
	{ MINIMAL "store: {backend: postgresql}\n", "config.missing_key",
	  "mailgw.yaml:8: store.conninfo: missing: the postgresql back end needs a conninfo, e.g. \"host=/run/postgresql dbname=telemail user=telemail\"" },
	{ MINIMAL "store: {conninfo: \"dbname=x\"}\n", "config.bad_value",
	  "mailgw.yaml:8: store: conninfo and password_file are for backend: postgresql" },
	{ MINIMAL "store: {busy_timeout: 0s}\n", "config.bad_value",
	  "mailgw.yaml:8: store.busy_timeout: 0s is out of range 1s..600s" },
	{ MINIMAL "auto_enroll: {tenant: Big Corp}\n", "config.bad_value",
	  "mailgw.yaml:8: auto_enroll.tenant: 'Big Corp' is not a tenant name (1 to 64 characters: lower-case letters, digits, '.', '_' and '-', beginning with a letter or digit)" },
	{ MINIMAL "auto_enroll: {}\n", "config.missing_key",
	  "mailgw.yaml:8: auto_enroll.tenant: missing" },
	{ MINIMAL "state_dir: \"\"\n", "config.bad_value",
	  "mailgw.yaml:8: state_dir: must not be empty" },
	{ "- just\n- a list\n", "config.bad_value",
	  "mailgw.yaml:1: (top level): must be a mapping, not array" },
	{ MINIMAL "forward: {endpoints: [{name: cloud, url: \"http://cloud.example/in\"}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints[0].url: http:// sends in the clear: "
	  "want https:// (or allow_http: true, for a loopback receiver only)" },
	{ MINIMAL "forward: {endpoints: [{name: cloud, url: \"http://10.0.0.1/in\", allow_http: true}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints[0].url: http:// only to a loopback "
	  "address (127.0.0.0/8, [::1], localhost)" },
	{ MINIMAL "forward: {endpoints: [{name: Cloud, url: \"https://c.example\"}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints[0].name: 'Cloud' is not a name ([a-z0-9][a-z0-9._-]*)" },
	{ MINIMAL "forward: {endpoints: [{name: a, url: \"https://c.example\"}, {name: a, url: \"https://d.example\"}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints: name 'a' used twice" },
	{ MINIMAL "forward: {endpoints: [{name: a, url: \"https://c.example\", format: xml}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints[0].format: want batch or ndjson" },
	{ MINIMAL "forward: {endpoints: [{name: a, url: \"https://c.example\", client_cert: c.pem}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints[0]: client_cert and client_key go together" },
	{ MINIMAL "forward: {endpoints: [{name: a, url: \"https://c.example\", timeout: 10m}]}\n",
	  "config.bad_value", "mailgw.yaml:8: forward.endpoints[0].lease: 300s must be longer than timeout (600s)" },
	{ MINIMAL "forward: {}\n", "config.missing_key", "mailgw.yaml:8: forward.endpoints: missing" },
	{ "gateway: [\n", "config.syntax", NULL },
	{ MINIMAL "trust: {ca_file: again}\n", "config.syntax", NULL },
	{ "", "config.syntax", NULL },
};
#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))
static int bad_index[N_BAD];

ParameterizedTestParameters(gwconfig, bad_configurations)
{
	for (size_t i = 0; i < N_BAD; i++)
		bad_index[i] = (int)i;
	return cr_make_param_array(int, bad_index, N_BAD);
}

ParameterizedTest(int *ix, gwconfig, bad_configurations)
{
	const struct bad *b = &bad_cases[*ix];
	struct gw_config *c = (struct gw_config *)1;
	struct tm_error err = {0};
	cr_assert_eq(parse(b->yaml, &c, &err), -1, "accepted:\n%s", b->yaml);
	cr_assert_null(c);
	cr_assert_str_eq(err.reason, b->reason, "%s", err.msg);
	if (b->msg != NULL)
		cr_assert_str_eq(err.msg, b->msg);
	else
		cr_assert_eq(strncmp(err.msg, "mailgw.yaml:", 12), 0, "%s", err.msg);
}

Test(gwconfig, a_very_long_path_is_refused)
{
	size_t n = GW_CONFIG_MAX_PATH + 200;
	char *yaml = malloc(n + 200);
	cr_assert_not_null(yaml);
	int k = snprintf(yaml, n + 200, MINIMAL "state_dir: /");
	memset(yaml + k, 'a', GW_CONFIG_MAX_PATH + 1);
	strcpy(yaml + k + GW_CONFIG_MAX_PATH + 1, "\n");
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse(yaml, &c, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_str_eq(err.msg, "mailgw.yaml:8: state_dir: longer than 1024 bytes");
	free(yaml);
}

Test(gwconfig, durations)
{
	struct { const char *text; int64_t want; } ok[] = {
		{ "90s", 90 }, { "10m", 600 }, { "2h", 7200 }, { "7d", 604800 }, { "0s", 0 },
		{ "3650d", 3650LL * 86400 },
	};
	struct tm_error err = {0};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t v = -1;
		cr_assert_eq(gw_config_duration(ok[i].text, &v, &err), 0, "%s", ok[i].text);
		cr_assert_eq(v, ok[i].want, "%s", ok[i].text);
	}
	const char *bad[] = { "", "10", "m", "10x", "-5m", "1.5h", "10m ", "3651d",
			      "99999999999999999999999d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		cr_assert_eq(gw_config_duration(bad[i], &v, &err), -1, "'%s'", bad[i]);
		cr_assert_str_eq(err.reason, "config.bad_value");
		cr_assert_not_null(strstr(err.msg, bad[i]), "%s", err.msg);
	}
}

/* check-config --defaults prints the tables the reader uses. */
Test(gwconfig, defaults_are_documented_by_the_tables)
{
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_config_describe(&b, false), 0);
	cr_assert_eq(tm_buf_append(&b, "", 1), 0);
	const char *s = (const char *)b.data;
	const char *want[] = {
		"trust.max_message_age              duration       30d                      1m..3650d          "
		"a signing time older than the arrival by more is refused\n",
		"notify.email.max_backoff           duration       10m                      1s..3650d          "
		"the longest wait between attempts\n",
		"notify.webhook.max_backoff         duration       1d                       1s..3650d          "
		"the longest wait between attempts\n",
		"store.batch_size                   int            64                       1..10000           "
		"outcomes committed in one transaction\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_not_null(strstr(s, want[i]), "no line\n%s", want[i]);
	tm_buf_fini(&b);
}

/* forward: absent, no forwarding; present, the table's defaults and the file's values. */
Test(gwconfig, forward_section)
{
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse(MINIMAL, &c, &err), 0, "%s", err.msg);
	cr_assert_null(c->forward);
	gw_config_free(c);
	cr_assert_eq(parse(MINIMAL "forward:\n  gateway: gw1\n  endpoints:\n"
			   "    - {name: cloud, url: \"https://cloud.example/in\", ca_file: ca.pem,\n"
			   "       format: ndjson, gzip: true, tenants: [acme], events: [report, meter]}\n"
			   "    - {name: local, url: \"http://127.0.0.1:8080/in\", allow_http: true}\n",
			   &c, &err), 0, "%s", err.msg);
	cr_assert_not_null(c->forward);
	cr_assert_str_eq(c->forward->gateway, "gw1");
	cr_assert_eq(c->forward->every, 5);
	cr_assert_eq(c->forward->n_endpoints, 2);
	const struct gw_forward_endpoint *e = &c->forward->endpoints[0];
	cr_assert_str_eq(e->name, "cloud");
	cr_assert_str_eq(e->ca_file, "/etc/telemail/ca.pem");
	cr_assert(e->ndjson);
	cr_assert(e->gzip);
	cr_assert_eq(e->n_tenants, 1);
	cr_assert_str_eq(e->tenants[0], "acme");
	cr_assert_eq(e->kinds, GW_FORWARD_REPORT | GW_FORWARD_METER);
	cr_assert_eq(e->batch_max_events, 100);
	cr_assert_eq(e->lease, 300);
	e = &c->forward->endpoints[1];
	cr_assert_str_eq(e->name, "local");
	cr_assert(!e->ndjson);
	cr_assert_eq(e->kinds, GW_FORWARD_REPORT | GW_FORWARD_ALERT);
	cr_assert_eq(e->max_backoff, 600);
	gw_config_free(c);
}

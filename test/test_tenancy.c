/* Tenancy: every query command of the real telemail-mailgw binary (devices,
 * alerts, supplies, meters, billing, audit) with --tenant T shows T and its
 * descendants only: a child never sees its parent or a sibling.
 *
 *   provider ── customer-a ── site-a1
 *            └─ customer-b
 * one device in each (P1, A1, S1, B1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "common.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "store_fixture.h"

#define T0 1790000000   /* 2026-09-21T...Z */

static char *tmpdir;
static char cfgpath[600];

static const char *const tenants[][2] = {
	{ "provider", NULL }, { "customer-a", "provider" }, { "site-a1", "customer-a" },
	{ "customer-b", "provider" },
};
static const char *const devices[][2] = {
	{ "P1", "provider" }, { "A1", "customer-a" }, { "S1", "site-a1" }, { "B1", "customer-b" },
};

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	tm_store_fixture_setup(tmpdir, "telemail.db");
	char db[512], yaml[2048];
	snprintf(db, sizeof(db), "%s/telemail.db", tmpdir);
	snprintf(cfgpath, sizeof(cfgpath), "%s/mailgw.yaml", tmpdir);
	int n = snprintf(yaml, sizeof(yaml),
			 "state_dir: %s\ngateway:\n  mailboxes: [t@gw.example]\n"
			 "  keys: [{cert: gw.pem, key: gw.key}]\ntrust:\n  ca_file: ca.pem\n%s%s%s",
			 tmpdir, tm_sf.pg ? "store: {backend: postgresql, conninfo: \"" : "",
			 tm_sf.pg ? tm_sf.conninfo : "", tm_sf.pg ? "\"}\n" : "");
	tm_test_write(cfgpath, yaml, (size_t)n);

	struct gw_store *st;
	struct tm_error err = {0};
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(gw_registry_tenant_add(st, tenants[i][0], tenants[i][1], 100, &err), 0,
			     "%s", err.msg);
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	for (int i = 0; i < 4; i++) {
		sc_enroll(st, devices[i][0], devices[i][1], i + 1);
		for (int k = 0; k < 2; k++) {   /* one reading before and one inside 2026-10 */
			struct sc_report r;
			int64_t at = T0 + k * 20 * 86400;
			sc_report_init(&r, devices[i][0], k + 1, at);
			r.total = 1000 * (i + 1) + 500 * k;
			r.conditions = "[jammed]";
			r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 5, 100 };
			sc_ingest(st, &svc, &r, devices[i][1], at);
		}
	}
	gw_store_close(st);
}

static void teardown(void)
{
	tm_store_fixture_teardown();
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

/* Run a command, return its exit status and output (malloc'd). */
static int run(const char *args, char **out)
{
	char outpath[700];
	snprintf(outpath, sizeof(outpath), "%s/out.txt", tmpdir);
	int rc = tm_test_sh("'%s/mailgw/telemail-mailgw' -c '%s' %s > '%s' 2>&1",
			    getenv("TM_BUILDDIR"), cfgpath, args, outpath);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(outpath, &b);
	*out = b.len ? (char *)tm_buf_take(&b, &(size_t){0}) : strdup("");
	tm_buf_fini(&b);
	return rc;
}

/* Plain arrays: Criterion may run a parameter in a fresh process image,
 * where pointers from the parameter table would not hold. */
struct view {
	char tenant[32];
	char visible[32];   /* device serials T sees, e.g. "A1 S1" */
};

static const char *const queries[] = {
	"devices --json", "alerts --json", "alerts --open --json", "supplies --json", "meters --json",
	"billing --period 2026-10 --format json", "billing --period 2026-10 --format csv",
	"audit --json",
};

static void check_view(const struct view *v)
{
	for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
		char args[256], *out;
		snprintf(args, sizeof(args), "%s --tenant %s", queries[q], v->tenant);
		cr_assert_eq(run(args, &out), 0, "%s: %s", args, out);
		for (int i = 0; i < 4; i++) {
			char needle[64];
			const char *serial = devices[i][0];
			bool want = strstr(v->visible, serial) != NULL;
			/* JSON: "serial": "A1"; CSV: ,A1,; audit: device A1 in the object */
			if (strstr(queries[q], "audit") != NULL)
				snprintf(needle, sizeof(needle), "device %s ", serial);
			else if (strstr(queries[q], "csv") != NULL)
				snprintf(needle, sizeof(needle), ",%s,", serial);
			else
				snprintf(needle, sizeof(needle), "\"serial\": \"%s\"", serial);
			if (want)
				cr_assert_not_null(strstr(out, needle), "%s: %s must see %s:\n%s", args,
						   v->tenant, serial, out);
			else
				cr_assert_null(strstr(out, needle), "%s: %s must not see %s:\n%s", args,
					       v->tenant, serial, out);
		}
		free(out);
	}
}

ParameterizedTestParameters(tenancy, every_query_command_is_filtered)
{
	static struct view views[] = {
		{ "provider", "P1 A1 S1 B1" },
		{ "customer-a", "A1 S1" },
		{ "site-a1", "S1" },
		{ "customer-b", "B1" },
	};
	return cr_make_param_array(struct view, views, sizeof(views) / sizeof(views[0]));
}

ParameterizedTest(struct view *v, tenancy, every_query_command_is_filtered, .init = setup,
		  .fini = teardown)
{
	check_view(v);
}

Test(tenancy, table_output_is_filtered_too, .init = setup, .fini = teardown)
{
	char *out;
	cr_assert_eq(run("alerts --tenant customer-b", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "B1"), "%s", out);
	cr_assert_null(strstr(out, "A1"), "%s", out);
	cr_assert_null(strstr(out, "P1"), "%s", out);
	free(out);
	cr_assert_eq(run("billing --tenant site-a1 --period 2026-10", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "S1"), "%s", out);
	cr_assert_null(strstr(out, "customer-a "), "a child never sees its parent:\n%s", out);
	free(out);
}

/* One message, one exit status, from every command that takes a tenant
 * (issue 14, item 24). */
static const char *const tenant_cmds[] = {   /* each followed by the name */
	"alerts --tenant ", "alerts --open --tenant ", "supplies --tenant ", "meters --tenant ",
	"audit --tenant ", "billing --period 2026-10 --tenant ", "devices --tenant ",
	"enroll --cert CERT --tenant ", "tenant add newco --parent ",
};

static void refused_alike(const char *name, const char *line)
{
	char *cert = tm_test_pki("dev-XK100001.pem");
	for (size_t i = 0; i < sizeof(tenant_cmds) / sizeof(tenant_cmds[0]); i++) {
		char args[512], *out;
		if (strncmp(tenant_cmds[i], "enroll", 6) == 0)
			snprintf(args, sizeof(args), "enroll --cert '%s' --tenant %s", cert, name);
		else
			snprintf(args, sizeof(args), "%s%s", tenant_cmds[i], name);
		cr_assert_eq(run(args, &out), 1, "%s: %s", args, out);
		const char *opt = strstr(args, "--parent") != NULL ? "--parent" : "--tenant";
		char want[512];
		snprintf(want, sizeof(want), "telemail-mailgw: %s: %s\n", opt, line);
		cr_assert_str_eq(out, want, "%s", args);
		free(out);
	}
	free(cert);
}

Test(tenancy, unknown_tenant_is_refused, .init = setup, .fini = teardown)
{
	refused_alike("ghost", "registry.not_found: tenant 'ghost': no such tenant "
			       "(`tenant list` shows them; `tenant add` adds one)");
}

Test(tenancy, a_bad_tenant_name_is_explained_in_words, .init = setup, .fini = teardown)
{
	refused_alike("Ghost!", "registry.bad_value: tenant 'Ghost!': not a tenant name (1 to 64 "
				"characters: lower-case letters, digits, '.', '_' and '-', beginning "
				"with a letter or digit)");
}

Test(tenancy, billing_requires_tenant_and_period, .init = setup, .fini = teardown)
{
	char *out;
	cr_assert_eq(run("billing --period 2026-10", &out), 2, "%s", out);
	cr_assert_not_null(strstr(out, "billing --tenant T --period YYYY-MM"), "%s", out);
	free(out);
	cr_assert_eq(run("billing --tenant provider --period 2026-13", &out), 2, "%s", out);
	cr_assert_not_null(strstr(out, "billing.bad_period: --period '2026-13'"), "%s", out);
	free(out);
}

/* Issue 14 item 15: a collector's unreachable devices, stored from its
 * report's collector section, in `devices` with the state unreachable,
 * scoped like the registered devices. */
static void put_collector(const char *serial, const char *tenant, const char *fp, int n,
			  const char *address, const char *dead_serial)
{
	struct gw_store *st;
	struct tm_error err = {0};
	char db[512], id[48], json[64], sha[65];
	snprintf(db, sizeof(db), "%s/telemail.db", tmpdir);
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	struct tm_report *r = tm_report_new();
	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", 900 + n);
	r->id = strdup(id);
	r->seq = 50;
	r->kind = TM_KIND_STATUS;
	r->generated_at = strdup("2026-10-01T08:00:00Z");
	r->agent = strdup("telemail-agent/0.1.0");
	r->serial = strdup(serial);
	r->has_collector = true;
	r->collector_devices = 2;
	r->unreachable_count = 1;
	r->n_unreachable = 1;
	r->unreachable = calloc(1, sizeof(*r->unreachable));
	r->unreachable[0].address = strdup(address);
	r->unreachable[0].serial = strdup(dead_serial);
	r->unreachable[0].reason = strdup("collect.unavailable");
	r->unreachable[0].since = strdup("2026-09-30T07:00:00Z");
	r->unreachable[0].detail = strdup("no answer");
	snprintf(json, sizeof(json), "{\"id\":\"%s\"}", id);
	snprintf(sha, sizeof(sha), "%064d", 900 + n);
	struct gw_store_record rec = { .report = r, .json = json, .json_len = strlen(json),
				       .tenant = tenant, .fingerprint = fp, .message_id = "",
				       .received_at = T0 + 30 * 86400, .raw_sha256 = sha };
	struct gw_put_info info;
	cr_assert_eq(gw_store_put(st, &rec, &info, &err), GW_STORE_OK, "%s", err.msg);
	tm_report_free(r);
	gw_store_close(st);
}

Test(tenancy, unreachable_devices_are_listed_and_scoped, .init = setup, .fini = teardown)
{
	put_collector("S1", "site-a1", "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", 1,
		      "192.0.2.11:161", "DEADS1");
	put_collector("B1", "customer-b", "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1", 2,
		      "192.0.2.12:161", "DEADB1");
	char *out;
	cr_assert_eq(run("devices --tenant customer-b", &out), 0, "%s", out);
	char want[512];
	snprintf(want, sizeof(want), "\n%-16s %-12s %8s  %-20s  %-20s  %-10s %s\n", "DEADB1", "customer-b", "-",
		 "-", "-", "unreachable",
		 "192.0.2.12:161 reason=collect.unavailable since=2026-09-30T07:00:00Z: no answer");
	cr_assert_not_null(strstr(out, want), "want:%s\ngot:\n%s", want, out);
	cr_assert_null(strstr(out, "DEADS1"), "a sibling's collector:\n%s", out);
	free(out);
	cr_assert_eq(run("devices --json --tenant customer-a", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "\"serial\": \"DEADS1\",\n    \"tenant\": \"site-a1\",\n"
				  "    \"state\": \"unreachable\",\n    \"address\": \"192.0.2.11:161\",\n"
				  "    \"reason\": \"collect.unavailable\",\n"
				  "    \"since\": \"2026-09-30T07:00:00Z\",\n    \"detail\": \"no answer\""), "%s", out);
	cr_assert_null(strstr(out, "DEADB1"), "%s", out);
	free(out);
	cr_assert_eq(run("devices --tenant site-a1", &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "DEADS1"), "%s", out);
	free(out);
	cr_assert_eq(run("devices", &out), 0, "%s", out);
	cr_assert(strstr(out, "DEADS1") && strstr(out, "DEADB1"), "%s", out);
	free(out);
}

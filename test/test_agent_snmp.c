/* telemail-agent `snmp` collector against a real snmpd on 127.0.0.1 (the
 * Printer-MIB / HOST-RESOURCES values are served by `override` lines the
 * test writes): v2c and v3 authPriv, sentinel levels, hex and UTF-8
 * strings, missing objects left out, a Counter32 wrap across restarts, a
 * dead device that times out alone, many devices at once, wrong v3 keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "agent.h"
#include "collect.h"
#include "common.h"
#include "config.h"
#include "outbox.h"
#include "state.h"

static char *dir;

static void setup(void)
{
	dir = tm_test_tmpdir();
}

static void teardown(void)
{
	char *srv = tm_test_src("agent/servers.py");
	for (int i = 0; i < 3; i++)
		tm_test_sh("/usr/bin/python3 '%s' stop '%s/snmpd%d'", srv, dir, i);
	for (int i = 0; i < 8; i++)
		tm_test_sh("/usr/bin/python3 '%s' stop '%s/fake%d'", srv, dir, i);
	free(srv);
	tm_test_rmtree(dir);
	free(dir);
}

TestSuite(agent_snmp, .init = setup, .fini = teardown, .timeout = 120);

#define PRT "override .1.3.6.1.2.1.43."
#define HR "override .1.3.6.1.2.1.25.3."

/* The printer the tests serve: hrDeviceIndex 1. Supply 1 black toner
 * (UTF-8 description sent as raw bytes), supply 2 waste toner (description
 * not UTF-8: hex; capacity unknown -2, level some-remaining -3; no unit, no
 * colorant), supply 3 (level -1 "other", no capacity, no description),
 * supply 4 has a level but no type (left out, never invented); one alert. */
static const char *printer_body(unsigned long lifecount)
{
	static char b[4096];
	snprintf(b, sizeof(b),
		 "rocommunity public 127.0.0.1\n"
		 "createUser telemail SHA \"authpass123\" AES \"privpass123\"\n"
		 "rouser telemail priv\n"
		 "sysName printer-one\n"
		 "sysLocation Building A, room 101\n"
		 HR "2.1.3.1 octet_str \"ACME LaserJet 9000\"\n"
		 HR "5.1.1.1 integer 4\n"
		 HR "5.1.2.1 octet_str 0x0480\n"
		 PRT "5.1.1.17.1 octet_str \"XK100001\"\n"
		 PRT "10.2.1.3.1.1 integer 7\n"
		 PRT "10.2.1.4.1.1 counter %lu\n"
		 PRT "11.1.1.3.1.1 integer 1\n"
		 PRT "11.1.1.5.1.1 integer 3\n"
		 PRT "11.1.1.6.1.1 octet_str 0x546f6e6572204b20e282ac\n"
		 PRT "11.1.1.7.1.1 integer 19\n"
		 PRT "11.1.1.8.1.1 integer 100\n"
		 PRT "11.1.1.9.1.1 integer 42\n"
		 PRT "11.1.1.5.1.2 integer 4\n"
		 PRT "11.1.1.6.1.2 octet_str 0xfffe01\n"
		 PRT "11.1.1.8.1.2 integer -2\n"
		 PRT "11.1.1.9.1.2 integer -3\n"
		 PRT "11.1.1.5.1.3 integer 9\n"
		 PRT "11.1.1.9.1.3 integer -1\n"
		 PRT "11.1.1.9.1.4 integer 50\n"
		 PRT "12.1.1.4.1.1 octet_str \"black\"\n"
		 PRT "18.1.1.2.1.7 integer 3\n"
		 PRT "18.1.1.4.1.7 integer 13\n"
		 PRT "18.1.1.6.1.7 integer 5\n"
		 PRT "18.1.1.7.1.7 integer 8\n"
		 PRT "18.1.1.8.1.7 octet_str \"Paper jam in tray 2\"\n",
		 lifecount);
	return b;
}

static int read_int(const char *kind, int n, const char *file);

/* Start snmpd in dir/snmpd<n> with the body (on `port`, 0: a free one); returns its UDP port. */
static int start_snmpd_on(int n, const char *body, int port)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/body%d.conf", dir, n);
	tm_test_write(p, body, strlen(body));
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' snmpd '%s/snmpd%d' '%s' %d", srv, dir, n, p, port), 0,
		     "cannot start snmpd");
	free(srv);
	return read_int("snmpd", n, "port");
}

/* The number in dir/<kind><n>/<file>. */
static int read_int(const char *kind, int n, const char *file)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s%d/%s", dir, kind, n, file);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	int v = atoi((char *)b.data);
	tm_buf_fini(&b);
	return v;
}

/* Start test/agent/fake_snmp.py in dir/fake<n> (MODE SERIAL LIFECOUNT); its UDP port. */
static int start_fake_on(int n, const char *mode, const char *serial, unsigned long life, int port)
{
	char *fake = tm_test_src("agent/fake_snmp.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' '%s/fake%d' %s %s %lu %d", fake, dir, n, mode, serial, life, port),
		     0, "cannot start the fake device");
	free(fake);
	return read_int("fake", n, "port");
}

static int start_fake(int n, const char *mode, const char *serial, unsigned long life)
{
	return start_fake_on(n, mode, serial, life, 0);
}

static void stop_fake(int n)
{
	char *srv = tm_test_src("agent/servers.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s/fake%d'", srv, dir, n);
	free(srv);
}

static int start_snmpd(int n, const char *body)
{
	return start_snmpd_on(n, body, 0);
}

static void stop_snmpd(int n)
{
	char *srv = tm_test_src("agent/servers.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s/snmpd%d'", srv, dir, n);
	free(srv);
}

static int dead_port(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/free", dir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
				"s.bind((\"127.0.0.1\",0));print(s.getsockname()[1])' > '%s'", p), 0);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	int port = atoi((char *)b.data);
	tm_buf_fini(&b);
	return port;
}

/* An agent configuration (collector role) with the given collectors list. */
static struct ag_config *make_cfg(const char *collectors)
{
	char *pki = tm_test_pki("");
	char p[512];
	snprintf(p, sizeof(p), "%s/auth", dir);
	tm_test_write(p, "authpass123\n", 12);
	snprintf(p, sizeof(p), "%s/priv", dir);
	tm_test_write(p, "privpass123\n", 12);
	snprintf(p, sizeof(p), "%s/wrong", dir);
	tm_test_write(p, "not-the-password\n", 17);
	size_t cap = strlen(collectors) + 2048;
	char *text = malloc(cap);
	snprintf(text, cap,
		 "identity: {role: collector, certificate: %sdev-XK100001.pem, key: %sdev-XK100001.key, mailbox: xk100001@devices.example}\n"
		 "gateway: {mailbox: telemail@gateway.example, certificates: [%sgw-ec.pem]}\n"
		 "smtp: {relays: [{host: 127.0.0.1, port: 9}], starttls: false, plain: true}\n"
		 "outbox: {directory: outbox}\nstate_directory: state\n"
		 "collectors:\n%s",
		 pki, pki, pki, collectors);
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_config_parse((const uint8_t *)text, strlen(text), dir, &c, &err), 0, "%s", err.msg);
	snprintf(p, sizeof(p), "%s/agent.yaml", dir);   /* for the telemail-agent binary */
	tm_test_write(p, text, strlen(text));
	free(text);
	free(pki);
	return c;
}

static const struct tm_supply *supply(const struct tm_report *r, int64_t index)
{
	for (size_t i = 0; i < r->n_supplies; i++)
		if (r->supplies[i].index == index)
			return &r->supplies[i];
	return NULL;
}

static void check_printer(const struct ag_collected *c)
{
	const struct tm_report *r = c->r;
	cr_assert_not_null(r, "%s: %s", c->err.reason, c->err.msg);
	cr_expect_str_eq(r->serial, "XK100001");
	cr_expect_str_eq(r->name, "printer-one");
	cr_expect_str_eq(r->location, "Building A, room 101");
	cr_expect_str_eq(r->model, "ACME LaserJet 9000");
	cr_expect_str_eq(r->ip, "127.0.0.1");
	cr_expect_null(r->manufacturer);
	cr_expect_null(r->mac);
	cr_assert(r->has_status);
	cr_expect_str_eq(r->state, "printing");
	cr_assert_eq(r->n_conditions, 2);   /* 0x0480: bits 5 and 8 */
	cr_expect_str_eq(r->conditions[0], "jammed");
	cr_expect_str_eq(r->conditions[1], "inputTrayMissing");
	cr_assert(r->has_counters);
	cr_expect_eq(r->service[TM_SVC_TOTAL].impressions, 4294967000LL);
	cr_expect_eq(r->service[TM_SVC_TOTAL].sheets, TM_UNSET);
	cr_assert_eq(c->n_raw, 1);
	cr_expect_str_eq(c->raw[0].key, "prtMarkerLifeCount.1.1");

	cr_assert_eq(r->n_supplies, 3, "supply 4 has no type: it must be left out");
	const struct tm_supply *s = supply(r, 1);
	cr_assert_not_null(s);
	cr_expect_str_eq(s->type, "toner");
	cr_expect_str_eq(s->colorant, "black");
	cr_expect_str_eq(s->description, "Toner K \xe2\x82\xac");
	cr_expect_str_eq(s->unit, "percent");
	cr_expect_eq(s->max_capacity, 100);
	cr_expect_eq(s->level, 42);
	s = supply(r, 2);
	cr_assert_not_null(s);
	cr_expect_str_eq(s->type, "wasteToner");
	cr_expect_str_eq(s->description, "fffe01");
	cr_expect_eq(s->max_capacity, TM_LEVEL_UNKNOWN);
	cr_expect_eq(s->level, TM_LEVEL_SOME_REMAINING);
	cr_expect_null(s->unit);
	cr_expect_null(s->colorant);
	s = supply(r, 3);
	cr_assert_not_null(s);
	cr_expect_str_eq(s->type, "opc");
	cr_expect_eq(s->level, TM_LEVEL_OTHER);
	cr_expect_eq(s->max_capacity, TM_UNSET);
	cr_expect_null(s->description);
	cr_expect_null(supply(r, 4));

	cr_assert_eq(r->n_alerts, 1);
	cr_expect_str_eq(r->alerts[0].code, "jam");
	cr_expect_str_eq(r->alerts[0].severity, "critical");
	cr_expect_str_eq(r->alerts[0].group, "mediaPath");
	cr_expect_eq(r->alerts[0].location, 5);
	cr_expect_str_eq(r->alerts[0].description, "Paper jam in tray 2");
	cr_expect_null(r->alerts[0].time);
	cr_expect(!r->has_parts);
	cr_expect(!r->has_diagnostics);
}

Test(agent_snmp, v2c_v3_and_a_dead_device_concurrently)
{
	int port = start_snmpd(0, printer_body(4294967000UL));
	int dead = dead_port();
	char coll[4096];
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 3000}\n"
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 500, retries: 1, serial: DEAD1}\n"
		 "  - {type: snmp, host: 127.0.0.1, port: %d, version: 3, user: telemail, auth_protocol: SHA,"
		 " auth_password_file: auth, priv_protocol: AES, priv_password_file: priv, timeout_ms: 3000}\n",
		 port, dead, port);
	struct ag_config *c = make_cfg(coll);
	struct ag_collected out[3];
	time_t t0 = time(NULL);
	ag_collect_many(c->collectors, 3, out);
	time_t took = time(NULL) - t0;
	check_printer(&out[0]);
	check_printer(&out[2]);
	cr_assert_null(out[1].r);
	cr_assert_str_eq(out[1].err.reason, "collect.unavailable", "%s", out[1].err.msg);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%d: no answer within 500 ms", dead);
	cr_assert_not_null(strstr(out[1].err.msg, want), "%s", out[1].err.msg);
	/* a bound, not a timing: the dead device's 2 × 500 ms, far below the others' 3 s timeouts */
	cr_expect_lt(took, 30);
	for (int i = 0; i < 3; i++)
		ag_collected_fini(&out[i]);
	ag_config_free(c);
}

Test(agent_snmp, many_devices_from_one_collector)
{
	int port = start_snmpd(0, printer_body(7));
	int dead = dead_port();
	struct tm_buf coll;
	tm_buf_init(&coll);
	const size_t n = 100;   /* more than AG_SNMP_INFLIGHT: several windows */
	for (size_t i = 0; i < n; i++)
		tm_buf_printf(&coll, "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: %d}\n",
			      i % 10 == 9 ? dead : port, i % 10 == 9 ? 300 : 5000);
	struct ag_config *c = make_cfg((const char *)coll.data);
	struct ag_collected *out = calloc(n, sizeof(*out));
	ag_collect_many(c->collectors, n, out);
	size_t ok = 0, unavailable = 0;
	for (size_t i = 0; i < n; i++) {
		if (out[i].r != NULL) {
			ok++;
			cr_expect_str_eq(out[i].r->serial, "XK100001");
			cr_expect_eq(out[i].r->n_supplies, 3);
		} else {
			cr_expect_eq(i % 10, 9, "device %zu failed: %s", i, out[i].err.msg);
			if (strcmp(out[i].err.reason, "collect.unavailable") == 0)
				unavailable++;
		}
		ag_collected_fini(&out[i]);
	}
	cr_expect_eq(ok, 90);
	cr_expect_eq(unavailable, 10);
	free(out);
	tm_buf_fini(&coll);
	ag_config_free(c);
}

Test(agent_snmp, wrong_v3_password_is_a_clear_error_without_the_password)
{
	int port = start_snmpd(0, printer_body(7));
	char coll[1024];
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, version: 3, user: telemail,"
		 " auth_password_file: wrong, priv_password_file: priv, timeout_ms: 3000}\n", port);
	struct ag_config *c = make_cfg(coll);
	struct ag_collected out;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_collect(&c->collectors[0], &out, &err), -1);
	cr_assert_str_eq(err.reason, "collect.snmp", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "SNMPv3"), "%s", err.msg);
	cr_assert_null(strstr(err.msg, "not-the-password"));
	ag_collected_fini(&out);
	ag_config_free(c);
}

/* Counter32 near 2^32, then wrapped: the report's total keeps rising. */
Test(agent_snmp, counter32_wrap_keeps_the_total_rising_across_restarts)
{
	struct tm_error err = { 0 };
	int port = start_snmpd(0, printer_body(4294967000UL));
	char coll[256];
	snprintf(coll, sizeof(coll), "  - {type: snmp, host: 127.0.0.1, port: %d, community: public}\n", port);
	struct ag_config *c = make_cfg(coll);
	struct ag_agent *a;
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_agent_collect(a, 0, TM_KIND_PERIODIC, "manual", true, NULL, &err), 0, "%s", err.msg);
	ag_agent_close(a);
	ag_config_free(c);
	stop_snmpd(0);

	/* the counter wrapped: 2^32 + 200 (the same device: the same address and port) */
	port = start_snmpd_on(1, printer_body(200), port);
	snprintf(coll, sizeof(coll), "  - {type: snmp, host: 127.0.0.1, port: %d, community: public}\n", port);
	c = make_cfg(coll);
	struct tm_buf y;
	tm_buf_init(&y);
	cr_assert_eq(ag_agent_show(c, 0, TM_KIND_PERIODIC, &y, &err), 0, "%s", err.msg);
	cr_assert_not_null(strstr((char *)y.data, "impressions: 4294967496\n"), "%s", (char *)y.data);
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(ag_agent_collect(a, 0, TM_KIND_PERIODIC, "manual", true, NULL, &err), 0, "%s", err.msg);
	ag_agent_close(a);
	ag_config_free(c);
	stop_snmpd(1);
	cr_assert_eq(tm_test_sh("grep -qx 'counter prtMarkerLifeCount.1.1 200 1' '%s/state/XK100001.state'", dir), 0);

	/* and again, still rising after a restart of the agent */
	port = start_snmpd_on(2, printer_body(900), port);
	snprintf(coll, sizeof(coll), "  - {type: snmp, host: 127.0.0.1, port: %d, community: public}\n", port);
	c = make_cfg(coll);
	tm_buf_reset(&y);
	cr_assert_eq(ag_agent_show(c, 0, TM_KIND_PERIODIC, &y, &err), 0, "%s", err.msg);
	cr_assert_not_null(strstr((char *)y.data, "impressions: 4294968196\n"), "%s", (char *)y.data);
	tm_buf_fini(&y);
	ag_config_free(c);
}

Test(agent_snmp, octet_strings_utf8_or_hex)
{
	struct {
		const char *in;
		size_t n;
		const char *want;
	} cases[] = {
		{ "printer", 7, "printer" },
		{ "printer\0\0", 9, "printer" },           /* trailing NULs dropped */
		{ "\xe2\x82\xac 5", 5, "\xe2\x82\xac 5" },  /* UTF-8 kept */
		{ "\xff\xfe\x01", 3, "fffe01" },            /* not UTF-8: hex */
		{ "a\nb", 3, "610a62" },                    /* control character: hex */
		{ "\xc0\xaf", 2, "c0af" },                  /* overlong: hex */
		{ "\xe2\x82", 2, "e282" },                  /* truncated sequence: hex */
		{ "", 0, "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = ag_snmp_text((const uint8_t *)cases[i].in, cases[i].n);
		cr_assert_not_null(s);
		cr_expect_str_eq(s, cases[i].want, "case %zu", i);
		free(s);
	}
}

Test(agent_snmp, counter_state_counts_wraps)
{
	struct ag_state st;
	ag_state_init(&st);
	cr_expect_eq(ag_state_counter_total(&st, "c", 4000000000u, true), 4000000000LL);
	cr_expect_eq(ag_state_counter_total(&st, "c", 4100000000u, true), 4100000000LL);
	cr_expect_eq(ag_state_counter_total(&st, "c", 5, true), 4294967296LL + 5);
	cr_expect_eq(ag_state_counter_total(&st, "c", 5, true), 4294967296LL + 5);
	/* a drop that is no wrap (not from the top tenth into the bottom tenth): a reset, no 2^32 more */
	cr_expect_eq(ag_state_counter_total(&st, "c", 4, true), 4294967296LL + 4);
	cr_expect_eq(ag_state_counter_total(&st, "c", 4200000000u, true), 4294967296LL + 4200000000LL);
	cr_expect_eq(ag_state_counter_total(&st, "c", 1000000000u, true), 4294967296LL + 1000000000LL);
	cr_expect_eq(ag_state_counter_total(&st, "c", 4200000000u, true), 4294967296LL + 4200000000LL);
	/* from the top into the bottom, but from another source: not a wrap either */
	cr_expect_eq(ag_state_counter_total(&st, "c", 6, false), 4294967296LL + 6);
	cr_expect_eq(ag_state_counter_total(&st, "c", 4200000000u, true), 4294967296LL + 4200000000LL);
	cr_expect_eq(ag_state_counter_total(&st, "c", 4, true), 2 * 4294967296LL + 4);
	cr_expect_eq(ag_state_counter_total(&st, "d", 1, true), 1);
	char *d = tm_test_tmpdir();
	snprintf(st.serial, sizeof(st.serial), "X1");
	struct tm_error err = { 0 };
	cr_assert_eq(ag_state_save(d, &st, &err), 0, "%s", err.msg);
	struct ag_state back;
	ag_state_init(&back);
	cr_assert_eq(ag_state_load(d, "X1", &back, &err), 0, "%s", err.msg);
	cr_expect_eq(ag_state_counter_total(&back, "c", 6, true), 2 * 4294967296LL + 6);
	ag_state_fini(&back);
	ag_state_fini(&st);
	tm_test_rmtree(d);
	free(d);
}

/* A device that answers with more variables than the limit fails alone, clearly. */
Test(agent_snmp, too_many_variables_is_a_limit_not_a_truncation)
{
	struct tm_buf body;
	tm_buf_init(&body);
	tm_buf_append_str(&body, "rocommunity public 127.0.0.1\nsysName big\n");
	for (int i = 1; i <= AG_SNMP_MAX_VARBINDS + 1; i++)
		tm_buf_printf(&body, PRT "18.1.1.8.1.%d octet_str \"alert %d\"\n", i, i);
	int port = start_snmpd(0, (const char *)body.data);
	tm_buf_fini(&body);
	char coll[256];
	snprintf(coll, sizeof(coll), "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 5000}\n", port);
	struct ag_config *c = make_cfg(coll);
	struct ag_collected out;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_collect(&c->collectors[0], &out, &err), -1);
	cr_assert_str_eq(err.reason, "collect.snmp", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "more than 3000 variables"), "%s", err.msg);
	ag_collected_fini(&out);
	ag_config_free(c);
}

/* Issue 14 item 11: only a Response to the request in flight, from the
 * device's address and port, with its community, is taken. A trap (from
 * another port, another community), a Response from another port, with
 * another community or another request-id, and the agent's own GETBULK
 * echoed back are each dropped and counted; the device then counts as
 * unreachable, never reported with what it sent. The honest fake proves
 * its data would be taken. */
Test(agent_snmp, hostile_answers_are_dropped_counted_and_the_device_unreachable)
{
	static const struct {
		const char *mode, *why;
	} cases[] = {
		{ "good", NULL },
		{ "trap", "not a Response PDU" },
		{ "wrongport", "from another address or port" },
		{ "community", "another community or version" },
		{ "echo", "not a Response PDU" },
		{ "reqid", "no request waits for it (another request-id, or not SNMP)" },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	char coll[N * 160] = "";
	for (int i = 0; i < N; i++) {
		int port = start_fake(i, cases[i].mode, "FAKE0001", 1000);
		snprintf(coll + strlen(coll), sizeof(coll) - strlen(coll),
			 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 500, retries: 1}\n",
			 port);
	}
	struct ag_config *c = make_cfg(coll);
	struct ag_collected out[N];
	ag_collect_many(c->collectors, N, out);
	cr_assert_not_null(out[0].r, "the honest fake: %s", out[0].err.msg);
	cr_assert_str_eq(out[0].r->name, "INJECTED-BY-TRAP");
	cr_assert_str_eq(out[0].r->serial, "FAKE0001");
	cr_assert_eq(out[0].dropped, 0);
	for (int i = 1; i < N; i++) {
		cr_assert_null(out[i].r, "%s: reported with the injected data", cases[i].mode);
		cr_assert_str_eq(out[i].err.reason, "collect.unavailable", "%s: %s", cases[i].mode, out[i].err.msg);
		/* one hostile answer per request: each request (and its retry) seen, each answer dropped */
		int seen = read_int("fake", i, "requests");
		cr_assert_eq(seen, 2, "%s: %d requests", cases[i].mode, seen);
		cr_assert_eq(out[i].dropped, 2, "%s: dropped %u", cases[i].mode, out[i].dropped);
		cr_assert_str_eq(out[i].dropped_why, cases[i].why, "%s", cases[i].mode);
		char want[160];
		snprintf(want, sizeof(want), "2 datagrams dropped (last: %.60s)", cases[i].why);
		cr_assert_not_null(strstr(out[i].err.msg, want), "%s: %s", cases[i].mode, out[i].err.msg);
	}
	for (int i = 0; i < N; i++)
		ag_collected_fini(&out[i]);
	ag_config_free(c);
}

static char logged[4096];

static void keep_log(const char *line)
{
	snprintf(logged + strlen(logged), sizeof(logged) - strlen(logged), "%s\n", line);
}

/* Every hostile answer at once, through the agent: nothing is queued, the
 * log line says the device was unreachable and how many datagrams were dropped. */
Test(agent_snmp, hostile_device_is_never_queued_and_the_log_counts_the_drops)
{
	struct tm_error err = { 0 };
	int port = start_fake(0, "all", "FAKE0001", 1000);
	char coll[256];
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 500, retries: 0}\n", port);
	struct ag_config *c = make_cfg(coll);
	struct ag_agent *a;
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	logged[0] = '\0';
	a->log = keep_log;
	size_t q = 99;
	cr_assert_eq(ag_agent_collect_all(a, TM_KIND_PERIODIC, "manual", true, &q), 1);
	cr_assert_eq(q, 0);
	cr_assert_not_null(strstr(logged, "reason=collect.unavailable"), "%s", logged);
	cr_assert_not_null(strstr(logged, " dropped=5 detail="), "%s", logged);
	cr_assert_null(strstr(logged, "INJECTED"), "%s", logged);
	struct ag_outbox_status os;
	cr_assert_eq(ag_outbox_status(a->ob, &os, &err), 0, "%s", err.msg);
	cr_assert_eq(os.depth, 0, "something was queued");
	ag_agent_close(a);
	ag_config_free(c);
}

/* One cycle through the agent: the number of devices that failed; the log in `logged`. */
static size_t cycle(struct ag_config *c, size_t *queued)
{
	struct tm_error err = { 0 };
	struct ag_agent *a;
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	logged[0] = '\0';
	a->log = keep_log;
	size_t failed = ag_agent_collect_all(a, TM_KIND_PERIODIC, "manual", false, queued);
	ag_agent_close(a);
	return failed;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Issue 14 item 12: two devices reporting one serial in the same cycle are
 * both held back (collect.serial_clash, logged), their counters never mixed;
 * once one of them is gone (removed from the configuration), the other is
 * reported again, with its own counter and no wrap. */
Test(agent_snmp, two_devices_with_one_serial_in_a_cycle_are_held_back)
{
	int pa = start_fake(0, "good", "TWIN0001", 4294967000UL);
	int pb = start_fake(1, "good", "TWIN0001", 100);
	char coll[512];
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 500, retries: 0}\n"
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 500, retries: 0}\n", pa, pb);
	struct ag_config *c = make_cfg(coll);
	size_t q = 99;
	cr_assert_eq(cycle(c, &q), 2, "%s", logged);
	cr_assert_eq(q, 0);
	cr_assert_eq(count(logged, "reason=collect.serial_clash"), 2, "%s", logged);
	cr_assert_eq(tm_test_sh("grep -q '^counter' '%s/state/TWIN0001.state'", dir), 1, "a counter was taken");
	char sa[32], sb[32];
	snprintf(sa, sizeof(sa), "127.0.0.1:%d", pa);
	snprintf(sb, sizeof(sb), "127.0.0.1:%d", pb);
	bool ab = strcmp(sa, sb) < 0;
	cr_assert_eq(tm_test_sh("grep -qx 'clash %s %s' '%s/state/TWIN0001.state'", ab ? sa : sb, ab ? sb : sa, dir), 0);
	/* still both there: still held back */
	cr_assert_eq(cycle(c, &q), 2, "%s", logged);
	ag_config_free(c);

	/* device B is taken out of the configuration: A alone is reported, its own counter, no wrap */
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 500, retries: 0}\n", pa);
	c = make_cfg(coll);
	struct tm_buf y;
	tm_buf_init(&y);
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_show(c, 0, TM_KIND_PERIODIC, &y, &err), 0, "%s", err.msg);
	cr_assert_not_null(strstr((char *)y.data, "impressions: 4294967000\n"), "%s", (char *)y.data);
	tm_buf_fini(&y);
	cr_assert_eq(cycle(c, &q), 0, "%s", logged);
	cr_assert_eq(q, 1);
	cr_assert_eq(tm_test_sh("grep -q '^clash' '%s/state/TWIN0001.state'", dir), 1, "the clash was not cleared");
	cr_assert_eq(tm_test_sh("grep -qx 'counter prtMarkerLifeCount.1.1 4294967000 0' '%s/state/TWIN0001.state'", dir), 0);
	ag_config_free(c);
}

/* Issue 14 item 12: two devices with one serial that answer in turns (never
 * in the same cycle). Before: each alternation was a Counter32 wrap, 2^32
 * pages more per cycle. Now: the first change of address is a move (no
 * wrap counted across it); the serial coming back from the address before
 * is a clash, held back while both devices are configured. */
Test(agent_snmp, one_serial_taking_turns_between_two_addresses_is_a_clash_not_a_wrap)
{
	int pa = start_fake(0, "good", "TWIN0002", 4294967000UL);
	int pb = dead_port();
	char coll[512];
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 300, retries: 0}\n"
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 300, retries: 0}\n", pa, pb);
	struct ag_config *c = make_cfg(coll);
	size_t q = 0;
	cr_assert_eq(cycle(c, &q), 1, "%s", logged);      /* A reported, B unreachable */
	cr_assert_eq(q, 1);

	stop_fake(0);
	start_fake_on(1, "good", "TWIN0002", 100, pb);   /* now B answers, A does not */
	struct tm_buf y;
	tm_buf_init(&y);
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_show(c, 1, TM_KIND_PERIODIC, &y, &err), 0, "%s", err.msg);
	cr_assert_not_null(strstr((char *)y.data, "impressions: 100\n"), "a wrap was counted: %s", (char *)y.data);
	tm_buf_fini(&y);
	cr_assert_eq(cycle(c, &q), 1, "%s", logged);
	cr_assert_eq(q, 1);

	stop_fake(1);
	start_fake_on(2, "good", "TWIN0002", 4294967100UL, pa);   /* A again */
	cr_assert_eq(cycle(c, &q), 2, "%s", logged);
	cr_assert_eq(q, 0);
	cr_assert_eq(count(logged, "reason=collect.serial_clash"), 1, "%s", logged);
	cr_assert_not_null(strstr(logged, "went back from"), "%s", logged);
	cr_assert_eq(tm_test_sh("grep -qx 'counter prtMarkerLifeCount.1.1 100 0' '%s/state/TWIN0002.state'", dir), 0,
		     "the counters moved");
	/* A again while B is configured (and silent): still held back */
	cr_assert_eq(cycle(c, &q), 2, "%s", logged);
	cr_assert_eq(q, 0);
	ag_config_free(c);
}

/* The YAML of every queued report (decrypted, verified), in dir/queued. */
static void queued_yaml(void)
{
	char *pki = tm_test_pki("");
	cr_assert_eq(tm_test_sh("cd '%s/outbox/queue' && for f in $(ls | sort); do "
				"openssl cms -decrypt -in \"$f\" -recip '%sgw-ec.pem' -inkey '%sgw-ec.key' | "
				"openssl cms -verify -noverify 2>/dev/null | tr -d '\\r' | sed '1,/^$/d' | "
				"base64 -d; done > '%s/queued'", dir, pki, pki, dir), 0);
	free(pki);
}

/* `telemail-agent status`, its lines from "last_cycle:" on, in dir/status.out. */
static void agent_status(void)
{
	const char *bd = getenv("TM_BUILDDIR");
	cr_assert_eq(tm_test_sh("cd '%s' && '%s/agent/telemail-agent' -c agent.yaml status | "
				"sed -n '/^last_cycle:/,$p' > status.out", dir, bd ? bd : ".."), 0);
}

/* Issue 14 item 15: a collector with a live device (snmpd) and a dead one (a
 * closed UDP port). The cycle's report says which device could not be read,
 * why and since when; `status` lists it; the next cycle keeps its since;
 * once the device answers it is listed no more. */
Test(agent_snmp, unreachable_device_reported_listed_and_cleared)
{
	int port = start_snmpd(0, printer_body(1000));
	int dead = dead_port();
	char coll[512];
	snprintf(coll, sizeof(coll),
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 3000}\n"
		 "  - {type: snmp, host: 127.0.0.1, port: %d, community: public, timeout_ms: 300, retries: 0, serial: DEAD1}\n",
		 port, dead);
	struct ag_config *c = make_cfg(coll);
	size_t q = 99;
	cr_assert_eq(cycle(c, &q), 1, "%s", logged);
	cr_assert_eq(q, 1);
	/* the state file: exact, but for the time */
	cr_assert_eq(tm_test_sh("cd '%s/state' && sed 's/\\t/|/g' collector.status > cs && "
				"grep -qx 'at|[0-9]*' cs && grep -qx 'ok|127.0.0.1:%d|XK100001' cs && "
				"grep -qx 'failed|127.0.0.1:%d|DEAD1|collect.unavailable|[0-9]*|snmp 127.0.0.1:%d: no answer within 300 ms (0 retries)' cs && "
				"test $(wc -l < cs) -eq 3", dir, port, dead, dead), 0);
	queued_yaml();
	char want[1024];
	time_t since = 0;
	cr_assert_eq(tm_test_sh("sed -n 's/^failed\t[^\t]*\t[^\t]*\t[^\t]*\t\\([0-9]*\\)\t.*/\\1/p' "
				"'%s/state/collector.status' > '%s/since'", dir, dir), 0);
	struct tm_buf b;
	tm_buf_init(&b);
	snprintf(want, sizeof(want), "%s/since", dir);
	tm_test_read(want, &b);
	since = (time_t)atoll((char *)b.data);
	tm_buf_fini(&b);
	cr_assert_gt(since, 0);
	char st[32];
	struct tm tmv;
	strftime(st, sizeof(st), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&since, &tmv));
	snprintf(want, sizeof(want),
		 "collector:\n  devices: 2\n  unreachable_count: 1\n  unreachable:\n"
		 "    - address: \"127.0.0.1:%d\"\n      serial: \"DEAD1\"\n"
		 "      reason: \"collect.unavailable\"\n      since: \"%s\"\n"
		 "      detail: \"snmp 127.0.0.1:%d: no answer within 300 ms (0 retries)\"\n", dead, st, dead);
	char p[600];
	snprintf(p, sizeof(p), "%s/queued", dir);
	tm_buf_init(&b);
	tm_test_read(p, &b);
	cr_assert_not_null(strstr((char *)b.data, want), "want:\n%s\ngot:\n%s", want, (char *)b.data);
	tm_buf_fini(&b);
	agent_status();
	snprintf(want, sizeof(want), "grep -c . '%s/status.out' | grep -qx 4 && "
		 "sed -n 2,4p '%s/status.out' | tr '\\n' '|' | grep -qx 'devices: 2|unreachable: 1|"
		 "  device address=127.0.0.1:%d serial=DEAD1 reason=collect.unavailable since=%s detail=\"snmp 127.0.0.1:%d: no answer within 300 ms (0 retries)\"|'",
		 dir, dir, dead, st, dead);
	cr_assert_eq(tm_test_sh("%s", want), 0, "status:\n%s", "see status.out");

	/* still dead a cycle later: the same since */
	sleep(1);
	cr_assert_eq(cycle(c, &q), 1, "%s", logged);
	agent_status();
	snprintf(want, sizeof(want), "grep -q 'since=%s ' '%s/status.out'", st, dir);
	cr_assert_eq(tm_test_sh("%s", want), 0);

	/* the device answers again: no longer listed, the report says so */
	char body[4096];
	snprintf(body, sizeof(body), "%s", printer_body(50));
	char *ser = strstr(body, "\"XK100001\"");
	cr_assert_not_null(ser);
	memcpy(ser, "\"DEAD1\"   ", 10);   /* another device: its own serial */
	start_snmpd_on(1, body, dead);
	tm_test_sh("rm -f '%s'/outbox/queue/*", dir);
	cr_assert_eq(cycle(c, &q), 0, "%s", logged);
	agent_status();
	snprintf(want, sizeof(want), "sed -n 2,3p '%s/status.out' | tr '\\n' '|' | grep -qx 'devices: 2|unreachable: 0|' && "
		 "test $(grep -c . '%s/status.out') -eq 3", dir, dir);
	cr_assert_eq(tm_test_sh("%s", want), 0);
	queued_yaml();
	snprintf(want, sizeof(want), "grep -c '^collector:' '%s/queued' | grep -qx 1 && "
		 "grep -A3 '^collector:' '%s/queued' | tr '\\n' '|' | "
		 "grep -qx 'collector:|  devices: 2|  unreachable_count: 0|  unreachable: \\[\\]|'", dir, dir);
	cr_assert_eq(tm_test_sh("%s", want), 0, "the section of the cleared cycle");
	ag_config_free(c);
}

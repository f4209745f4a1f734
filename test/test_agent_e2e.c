/* End to end on loopback: telemail-agent `once` → STARTTLS (the relay
 * certificate checked against the site CA and 127.0.0.1) → the real
 * `telemail-mailgw serve` → spool → pipeline → a stored record, whose
 * meter reading is the one in the device-state snapshot. Uses the gateway
 * fixtures of test/eml (configuration, registry, PKI). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"

static char *dir;
static pid_t gw_pid;

static void setup(void)
{
	dir = tm_test_tmpdir();
	gw_pid = 0;
}

static void teardown(void)
{
	if (gw_pid > 0) {
		kill(gw_pid, SIGKILL);
		waitpid(gw_pid, NULL, 0);
	}
	tm_test_rmtree(dir);
	free(dir);
}

TestSuite(agent_e2e, .init = setup, .fini = teardown, .timeout = 150);

static const char *builddir(void)
{
	const char *b = getenv("TM_BUILDDIR");
	return b ? b : "..";
}

/* The port from the newest "event=listening proto=smtp" line (bounded wait). */
static unsigned gw_port(const char *log)
{
	for (int i = 0; i < 600; i++) {
		struct tm_buf b;
		tm_buf_init(&b);
		struct tm_error err = { 0 };
		unsigned port = 0;
		if (tm_buf_read_file(&b, log, 16u << 20, &err) == 0 && b.data != NULL) {
			const char *p = strstr((char *)b.data, "event=listening proto=smtp");
			const char *q = p ? strstr(p, "port=") : NULL;
			if (q != NULL && strchr(q, '\n') != NULL)
				port = (unsigned)atoi(q + 5);
		}
		tm_buf_fini(&b);
		if (port != 0)
			return port;
		int st;
		cr_assert_eq(waitpid(gw_pid, &st, WNOHANG), 0, "the gateway exited; see %s", log);
		usleep(50000);
	}
	cr_assert_fail("the gateway did not start listening");
	return 0;
}

static bool wait_sh(int seconds, const char *cond)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (tm_test_sh("%s", cond) == 0)
			return true;
		usleep(100000);
	}
	return false;
}

Test(agent_e2e, agent_to_mailgw_serve_over_starttls_is_stored)
{
	char gwbin[600];
	snprintf(gwbin, sizeof(gwbin), "%s/mailgw/telemail-mailgw", builddir());
	struct stat sb;
	if (stat(gwbin, &sb) != 0)
		cr_skip_test("telemail-mailgw is not built");
	char *eml = tm_test_src("eml");
	char *srv = tm_test_src("agent/servers.py");

	/* the gateway: the fixtures' configuration and registry, STARTTLS with a
	 * relay certificate for 127.0.0.1 issued by the site CA */
	cr_assert_eq(tm_test_sh("cd '%s' && cp '%s/mailgw-test.yaml' mailgw.yaml && ln -s '%s/pki' pki && "
				"printf 'state_dir: state\\n' >> mailgw.yaml && "
				"/usr/bin/python3 '%s' certs tls '%s/pki' && "
				"printf 'listen:\\n  smtp: 127.0.0.1:0\\n  hostname: gw.test\\n  require_tls: true\\n"
				"  tls: {cert: tls/right.pem, key: tls/right.key}\\n' >> mailgw.yaml && "
				"grep -v '^#' '%s/registry.setup' | grep . | while read l; do "
				"'%s' -c mailgw.yaml $l >/dev/null || exit 1; done",
				dir, eml, eml, srv, eml, eml, gwbin), 0, "gateway setup");
	char log[600];
	snprintf(log, sizeof(log), "%s/serve.log", dir);
	gw_pid = fork();
	cr_assert_geq(gw_pid, 0);
	if (gw_pid == 0) {
		char cmd[2000];
		snprintf(cmd, sizeof(cmd), "cd '%s' && exec '%s' -c mailgw.yaml serve > '%s' 2>&1", dir, gwbin, log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	unsigned port = gw_port(log);

	/* the agent: the enrolled device XK100001, the gateway's S/MIME certificate */
	static const char snap[] =
		"device: {serial: XK100001, manufacturer: Example Imaging, model: XK-4500 MFP}\n"
		"status: {state: idle}\n"
		"counters: {total: {impressions: 424242, sheets: 300001}}\n"
		"supplies:\n"
		"  - {index: 1, type: toner, colorant: black, unit: percent, max_capacity: 100, level: 64}\n";
	char state[600];
	snprintf(state, sizeof(state), "%s/state.yaml", dir);
	tm_test_write(state, snap, sizeof(snap) - 1);
	char text[4096];
	int n = snprintf(text, sizeof(text),
		 "identity: {certificate: pki/dev-XK100001.pem, key: pki/dev-XK100001.key, mailbox: xk100001@devices.example}\n"
		 "gateway: {mailbox: telemail@gateway.example, certificates: [pki/gw-ec.pem]}\n"
		 "smtp: {relays: [{host: 127.0.0.1, port: %u}], ca_file: pki/ca.pem, timeout: 30}\n"
		 "outbox: {directory: agent/outbox}\nstate_directory: agent/state\n"
		 "collectors: [{type: file, path: '%s'}]\n", port, state);
	char cfg[600];
	snprintf(cfg, sizeof(cfg), "%s/agent.yaml", dir);
	tm_test_write(cfg, text, (size_t)n);
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' -c '%s' test > '%s/agent.out' 2>&1", builddir(), cfg, dir), 0,
		     "the agent's communication test failed (see agent.out)");
	cr_assert_eq(tm_test_sh("grep -q 'tls ok TLSv1.3' '%s/agent.out'", dir), 0);
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' -c '%s' once >> '%s/agent.out' 2>&1", builddir(), cfg, dir), 0);
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' -c '%s' status | grep -q '^outbox_depth: 0'", builddir(), cfg), 0);

	/* both reports end as stored records (bounded wait for the pipeline) */
	char cond[1200];
	snprintf(cond, sizeof(cond), "cd '%s' && '%s' -c mailgw.yaml meters --json 2>/dev/null | grep -q 424242",
		 dir, gwbin);
	cr_assert(wait_sh(60, cond), "no stored meter reading of XK100001; see %s", log);
	snprintf(cond, sizeof(cond), "cd '%s' && '%s' -c mailgw.yaml supplies --json 2>/dev/null | grep -q XK100001",
		 dir, gwbin);
	cr_assert(wait_sh(30, cond), "no stored supplies of XK100001");
	cr_expect_eq(tm_test_sh("grep -q 'outcome=stored' '%s'", log), 0);
	cr_expect_neq(tm_test_sh("grep -q 'outcome=quarantined' '%s'", log), 0);

	kill(gw_pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 300 && gw_pid > 0; i++) {
		if (waitpid(gw_pid, &st, WNOHANG) == gw_pid)
			gw_pid = 0;
		else
			usleep(100000);
	}
	cr_expect_eq(gw_pid, 0, "the gateway did not stop");
	free(eml);
	free(srv);
}

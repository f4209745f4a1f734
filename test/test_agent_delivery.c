/* telemail-agent delivery guarantees with real peers on 127.0.0.1:
 * SIGKILL in the middle of DATA loses nothing; an outage queues reports and
 * delivers them all, in order, when the relay is back; AUTH over TLS with a
 * password from a file (right one delivers, wrong one is smtp.auth and keeps
 * the report), and the password never shows in logs or `test` output. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "agent.h"
#include "common.h"
#include "config.h"
#include "outbox.h"

#define PASSWORD "s3cret-Pa55word!"

static char *dir;

static void setup(void)
{
	dir = tm_test_tmpdir();
}

static void teardown(void)
{
	char *srv = tm_test_src("agent/servers.py");
	const char *subs[] = { "slow", "sink", "auth", "plain", "reject" };
	for (size_t i = 0; i < 5; i++)
		tm_test_sh("/usr/bin/python3 '%s' stop '%s/%s'", srv, dir, subs[i]);
	free(srv);
	tm_test_rmtree(dir);
	free(dir);
}

TestSuite(agent_delivery, .init = setup, .fini = teardown, .timeout = 150);

static int read_int(const char *path)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	int v = atoi((char *)b.data);
	tm_buf_fini(&b);
	return v;
}

/* Start servers.py MODE in dir/name; returns the port. */
static int start_peer(const char *mode, const char *name, const char *args)
{
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' %s '%s/%s' %s", srv, mode, dir, name, args), 0,
		     "cannot start %s", name);
	free(srv);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s/port", dir, name);
	return read_int(p);
}

static void stop_peer(const char *name)
{
	char *srv = tm_test_src("agent/servers.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s/%s'", srv, dir, name);
	free(srv);
}

static int dead_port(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/free", dir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind((\"127.0.0.1\",0));"
				"print(s.getsockname()[1])' > '%s'", p), 0);
	return read_int(p);
}

/* Write dir/agent.yaml: one file collector, the relay on `port`; `smtp_extra`
 * adds keys to the smtp section (TLS, AUTH). */
static void write_cfg(int port, const char *smtp_extra)
{
	char *pki = tm_test_pki("");
	char *src = tm_test_src("../examples/device-state.yaml");
	cr_assert_eq(tm_test_sh("test -f '%s/state.yaml' || cp '%s' '%s/state.yaml'", dir, src, dir), 0);
	char text[4096];
	int n = snprintf(text, sizeof(text),
		 "identity: {certificate: %sdev-XK100001.pem, key: %sdev-XK100001.key, mailbox: xk100001@devices.example}\n"
		 "gateway: {mailbox: telemail@gateway.example, certificates: [%sgw-ec.pem]}\n"
		 "smtp: {relays: [{host: 127.0.0.1, port: %d}], timeout: 30, batch: 2, %s}\n"
		 "outbox: {directory: outbox}\nstate_directory: state\n"
		 "collectors: [{type: file, path: state.yaml}]\n",
		 pki, pki, pki, port, smtp_extra ? smtp_extra : "starttls: false, plain: true");
	char p[512];
	snprintf(p, sizeof(p), "%s/agent.yaml", dir);
	tm_test_write(p, text, (size_t)n);
	free(pki);
	free(src);
}

static struct ag_config *load_cfg(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/agent.yaml", dir);
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_config_load(p, &c, &err), 0, "%s: %s", err.reason, err.msg);
	return c;
}

/* Queue n periodic reports (in process). */
static void queue(size_t n)
{
	struct ag_config *c = load_cfg();
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ag_agent_collect(a, 0, TM_KIND_PERIODIC, "manual", false, NULL, &err), 0,
			     "%s: %s", err.reason, err.msg);
	ag_agent_close(a);
	ag_config_free(c);
}

static int depth(void)
{
	return tm_test_sh("exit $(ls '%s/outbox/queue' | wc -l)", dir);
}

static int agent(const char *cmd)
{
	const char *bd = getenv("TM_BUILDDIR");
	return tm_test_sh("'%s/agent/telemail-agent' -c '%s/agent.yaml' %s >> '%s/agent.out' 2>&1",
			  bd ? bd : "..", dir, cmd, dir);
}

/* The report seqs in the captured mails of peer `name`, in arrival order
 * (the files are numbered 0001.eml, 0002.eml, … by the peer). */
static size_t delivered_seqs(const char *name, long *seqs, size_t max)
{
	char *pki = tm_test_pki("");
	cr_assert_eq(tm_test_sh("cd '%s/%s/mail' && for f in $(ls | sort); do "
				"openssl cms -decrypt -in \"$f\" -recip '%sgw-ec.pem' -inkey '%sgw-ec.key' | "
				"openssl cms -verify -CAfile '%sca.pem' 2>/dev/null | tr -d '\\r' | sed '1,/^$/d' | "
				"base64 -d | sed -n 's/^  seq: \\([0-9]*\\).*/\\1/p'; done > '%s/seqs'",
				dir, name, pki, pki, pki, dir), 0);
	free(pki);
	char p[512];
	snprintf(p, sizeof(p), "%s/seqs", dir);
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	size_t n = 0;
	while (n < max && fscanf(f, "%ld", &seqs[n]) == 1)
		n++;
	fclose(f);
	return n;
}

Test(agent_delivery, sigkill_in_the_middle_of_data_loses_nothing)
{
	int slow = start_peer("slow", "slow", "60");
	write_cfg(slow, NULL);
	queue(3);
	cr_assert_eq(depth(), 3);
	/* the Message-IDs of what is queued */
	cr_assert_eq(tm_test_sh("grep -h '^Message-ID:' '%s'/outbox/queue/*.eml | tr -d '\\r' | sort > '%s/queued-ids'",
				dir, dir), 0);

	const char *bd = getenv("TM_BUILDDIR");
	char exe[512], cfg[512], out[512];
	snprintf(exe, sizeof(exe), "%s/agent/telemail-agent", bd ? bd : "..");
	snprintf(cfg, sizeof(cfg), "%s/agent.yaml", dir);
	snprintf(out, sizeof(out), "%s/flush1.out", dir);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		FILE *o = freopen(out, "w", stderr);
		(void)o;
		execl(exe, "telemail-agent", "-c", cfg, "flush", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	/* bounded wait until the relay is inside DATA */
	char marker[512];
	snprintf(marker, sizeof(marker), "%s/slow/in-data", dir);
	struct stat sb;
	int waited = 0;
	while (stat(marker, &sb) != 0 && waited < 1200) {
		usleep(50000);
		waited++;
	}
	cr_assert_eq(stat(marker, &sb), 0, "the agent never reached DATA");
	/* power cut: the agent and its session child, at once */
	kill(-pid, SIGKILL);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	stop_peer("slow");

	/* nothing lost: everything is still queued, and the queue is readable */
	cr_assert_eq(depth(), 3);
	cr_assert_eq(tm_test_sh("test -z \"$(ls '%s/outbox/tmp' 2>/dev/null)\"", dir), 0);

	/* restart against a normal relay: all delivered (a duplicate is allowed), outbox empty */
	int plain = start_peer("tls", "plain", "- -");
	write_cfg(plain, NULL);
	cr_assert_eq(agent("flush"), 0);
	cr_assert_eq(depth(), 0);
	cr_assert_eq(tm_test_sh("cat '%s'/plain/mail/*.eml | grep '^Message-ID:' | tr -d '\\r' | sort -u > '%s/got-ids' && "
				"comm -23 '%s/queued-ids' '%s/got-ids' | wc -l | grep -qx 0", dir, dir, dir, dir), 0,
		     "a queued report was not delivered");
	cr_assert_eq(tm_test_sh("test $(wc -l < '%s/queued-ids') -eq 3", dir), 0);
	cr_assert_eq(agent("status | grep -q '^outbox_depth: 0'"), 0);
}

Test(agent_delivery, outage_then_everything_in_order)
{
	int dead = dead_port();
	write_cfg(dead, NULL);
	queue(3);
	cr_assert_neq(agent("flush"), 0);   /* relay down: reports stay */
	queue(2);
	cr_assert_neq(agent("once"), 0);    /* one more collected, still down */
	cr_assert_eq(depth(), 6);
	cr_assert_eq(tm_test_sh("grep -q 'reason=smtp.connect' '%s/agent.out'", dir), 0);

	int port = start_peer("tls", "plain", "- -");
	write_cfg(port, NULL);
	cr_assert_eq(agent("flush"), 0);
	cr_assert_eq(depth(), 0);
	long seqs[16];
	size_t n = delivered_seqs("plain", seqs, 16);
	cr_assert_eq(n, 6, "delivered %zu", n);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(seqs[i], (long)i + 1, "mail %zu carries seq %ld", i + 1, seqs[i]);
}

static int start_auth_relay(const char *mechs)
{
	char *pki = tm_test_pki("");
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' certs '%s/certs' '%s'", srv, dir, pki), 0);
	char args[1024];
	snprintf(args, sizeof(args), "'%s/certs/right.pem' '%s/certs/right.key' xk100001 '%s' %s", dir, dir,
		 PASSWORD, mechs);
	int port = start_peer("auth", "auth", args);
	free(pki);
	free(srv);
	return port;
}

static void write_auth_cfg(int port, const char *mech, const char *password)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/smtp-password", dir);
	tm_test_write(p, password, strlen(password));
	chmod(p, 0600);
	char *ca = tm_test_pki("ca.pem");
	char extra[1024];
	snprintf(extra, sizeof(extra),
		 "ca_file: %s, auth: {mechanism: %s, username: xk100001, password_file: smtp-password}", ca, mech);
	write_cfg(port, extra);
	free(ca);
}

static void auth_case(const char *mech)
{
	/* libESMTP takes the first password mechanism the relay offers: offer only this one */
	int port = start_auth_relay(mech);
	write_auth_cfg(port, mech, PASSWORD "\n");
	cr_assert_eq(agent("test"), 0);
	cr_assert_eq(tm_test_sh("grep -q 'test: OK' '%s/agent.out'", dir), 0);
	cr_assert_eq(tm_test_sh("grep -q 'auth ok' '%s/agent.out'", dir), 0);
	cr_assert_eq(tm_test_sh("test $(ls '%s/auth/mail' | wc -l) -eq 1", dir), 0);
	cr_assert_eq(tm_test_sh("grep -qx '%s ok' '%s/auth/auth.log'", mech, dir), 0,
		     "the relay did not see AUTH %s", mech);
	/* the password, its base64 (AUTH PLAIN / LOGIN) never in the output */
	cr_assert_neq(tm_test_sh("grep -q '%s' '%s/agent.out'", PASSWORD, dir), 0);
	cr_assert_neq(tm_test_sh("grep -qF \"$(printf '%%s' '%s' | base64)\" '%s/agent.out'", PASSWORD, dir), 0);
	cr_assert_neq(tm_test_sh("grep -qF \"$(printf '\\0xk100001\\0%%s' '%s' | base64)\" '%s/agent.out'", PASSWORD, dir), 0);
}

Test(agent_delivery, auth_plain_over_tls_delivers)
{
	auth_case("PLAIN");
}

Test(agent_delivery, auth_login_over_tls_delivers)
{
	auth_case("LOGIN");
}

Test(agent_delivery, wrong_password_is_smtp_auth_and_nothing_is_lost)
{
	int port = start_auth_relay("LOGIN,PLAIN");
	write_auth_cfg(port, "PLAIN", "not-" PASSWORD "\n");
	queue(2);
	cr_assert_neq(agent("flush"), 0);
	cr_assert_eq(tm_test_sh("grep -q 'reason=smtp.auth' '%s/agent.out'", dir), 0);
	cr_assert_eq(depth(), 2);
	cr_assert_eq(tm_test_sh("test -z \"$(ls '%s/auth/mail')\"", dir), 0);
	cr_assert_neq(agent("test"), 0);
	cr_assert_neq(tm_test_sh("grep -q '%s' '%s/agent.out'", PASSWORD, dir), 0, "the password shows in the output");
	const char *bd = getenv("TM_BUILDDIR");
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' -c '%s/agent.yaml' status > '%s/status.out' 2>&1",
				bd ? bd : "..", dir, dir), 0);
	cr_assert_neq(tm_test_sh("grep -rq '%s' '%s/outbox' '%s/agent.out' '%s/status.out' 2>/dev/null", PASSWORD, dir, dir, dir), 0);
	cr_assert_eq(tm_test_sh("grep -q 'smtp.auth\\|AUTH' '%s/agent.out'", dir), 0);
	/* right password again: the kept reports go out */
	write_auth_cfg(port, "PLAIN", PASSWORD "\n");
	cr_assert_eq(agent("flush"), 0);
	cr_assert_eq(depth(), 0);
}

/* smtp.auth.mechanism is honoured: the relay offers LOGIN first
 * (AUTH LOGIN PLAIN), the agent uses PLAIN, the one configured. */
Test(agent_delivery, auth_mechanism_setting_is_honoured)
{
	int port = start_auth_relay("LOGIN,PLAIN");
	write_auth_cfg(port, "PLAIN", PASSWORD "\n");
	cr_assert_eq(agent("test"), 0);
	cr_assert_eq(tm_test_sh("grep -q 'AUTH LOGIN PLAIN' '%s/agent.out'", dir), 0, "the relay offers both");
	cr_assert_eq(tm_test_sh("test \"$(cat '%s/auth/auth.log')\" = 'PLAIN ok'", dir), 0,
		     "the relay saw another mechanism than PLAIN");
}

/* A refused AUTH ends the session with that relay: no MAIL FROM follows,
 * one AUTH attempt, and the error says what to check. */
Test(agent_delivery, refused_auth_sends_nothing_more)
{
	int port = start_auth_relay("LOGIN,PLAIN");
	write_auth_cfg(port, "LOGIN", "not-" PASSWORD "\n");
	cr_assert_neq(agent("test"), 0);
	cr_assert_eq(tm_test_sh("test \"$(cat '%s/auth/auth.log')\" = 'LOGIN refused'", dir), 0);
	cr_assert_eq(tm_test_sh("grep -q 'C: AUTH' '%s/agent.out'", dir), 0);
	cr_assert_neq(tm_test_sh("grep -q 'C: MAIL' '%s/agent.out'", dir), 0, "MAIL FROM after a refused AUTH");
	cr_assert_eq(tm_test_sh("grep -q '^test: FAILED at send: smtp.auth: .*AUTH LOGIN refused: 535.*"
				"check smtp.auth username and password_file' '%s/agent.out'", dir), 0);
}

/* Run the agent with stdout and stderr apart (dir/out, dir/err). */
static int agent_split(const char *cmd)
{
	const char *bd = getenv("TM_BUILDDIR");
	return tm_test_sh("'%s/agent/telemail-agent' -c '%s/agent.yaml' %s > '%s/out' 2> '%s/err'",
			  bd ? bd : "..", dir, cmd, dir, dir);
}

static int failed_count(void)
{
	return tm_test_sh("exit $(ls '%s/outbox/failed' | grep -c 'eml$')", dir);
}

Test(agent_delivery, help_and_version)
{
	const char *bd = getenv("TM_BUILDDIR");
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' --help > '%s/out' 2> '%s/err'", bd, dir, dir), 0);
	cr_assert_eq(tm_test_sh("head -1 '%s/out' | grep -qx 'usage: telemail-agent \\[-c CONFIG\\] COMMAND' && "
				"grep -q 'outbox retry ID|--all' '%s/out' && grep -q 'failed/' '%s/out' && "
				"test ! -s '%s/err'", dir, dir, dir, dir), 0, "--help: the usage on stdout");
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' --version > '%s/out'", bd, dir), 0);
	cr_assert_eq(tm_test_sh("grep -qx 'telemail-agent [0-9][0-9.]*' '%s/out'", dir), 0);
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' --bogus > /dev/null 2>&1", bd), 2);
}

/* Configuration errors: exit 2 and a config.* reason code. */
Test(agent_delivery, config_errors_exit_2_with_config_codes)
{
	write_cfg(dead_port(), NULL);
	cr_assert_eq(tm_test_sh("printf 'smtp: [unclosed\\n' >> '%s/agent.yaml'", dir), 0);
	cr_assert_eq(agent_split("check-config"), 2);
	cr_assert_eq(tm_test_sh("grep -q 'reason=config.syntax' '%s/err' && ! grep -q 'report\\.' '%s/err'", dir, dir), 0);
	write_cfg(dead_port(), "starttls: false");
	cr_assert_eq(agent_split("once"), 2);
	cr_assert_eq(tm_test_sh("grep -q 'reason=config.bad_value.*plain: true' '%s/err'", dir), 0);
}

/* The test's verdict: each step, then 'test: FAILED at send: <cause>' and
 * exit 1; the failed test report is not left queued; the backlog stays. */
Test(agent_delivery, failed_test_says_where_and_leaves_nothing)
{
	write_cfg(dead_port(), NULL);
	queue(2);
	cr_assert_eq(agent_split("test"), 1);
	cr_assert_eq(tm_test_sh("grep -qx 'open: ok (identity, gateway certificates, outbox)' '%s/out' && "
				"grep -qx 'collect: ok, 1 test report(s) sealed and queued' '%s/out' && "
				"grep -q '^send: failed: smtp.connect: ' '%s/out'", dir, dir, dir), 0);
	cr_assert_eq(tm_test_sh("tail -1 '%s/out' | grep -q '^test: FAILED at send: smtp.connect: 127.0.0.1:[0-9]*: Connection refused$'",
				dir), 0);
	cr_assert_eq(depth(), 2, "the test report stayed queued, or the backlog went");
	cr_assert_eq(tm_test_sh("ls '%s/outbox/queue' | grep -c -- '-t.eml' | grep -qx 0", dir), 0);
	/* a collection failure is a step too */
	cr_assert_eq(tm_test_sh("mv '%s/state.yaml' '%s/state.away'", dir, dir), 0);
	cr_assert_eq(agent_split("test"), 1);
	cr_assert_eq(tm_test_sh("tail -1 '%s/out' | grep -q '^test: FAILED at collect: collect.unavailable: "
				"cannot read the snapshot: .*No such file or directory$'", dir), 0);
	cr_assert_eq(tm_test_sh("mv '%s/state.away' '%s/state.yaml'", dir, dir), 0);
}

/* test sends only the test report; test --flush sends the backlog too. */
Test(agent_delivery, test_sends_only_its_report_unless_flush)
{
	int port = start_peer("tls", "plain", "- -");
	write_cfg(port, NULL);
	queue(2);
	cr_assert_eq(agent_split("test"), 0);
	cr_assert_eq(tm_test_sh("tail -1 '%s/out' | grep -qx 'test: OK'", dir), 0);
	cr_assert_eq(tm_test_sh("grep -q '^send: the test report only; the reports queued before it stay' '%s/out'", dir), 0);
	cr_assert_eq(depth(), 2);
	cr_assert_eq(tm_test_sh("test $(ls '%s/plain/mail' | wc -l) -eq 1", dir), 0);
	cr_assert_eq(agent_split("test --flush"), 0);
	cr_assert_eq(tm_test_sh("grep -q '^send: the test report and the 2 report(s) queued before it (--flush)' '%s/out'", dir), 0);
	cr_assert_eq(depth(), 0);
	cr_assert_eq(tm_test_sh("test $(ls '%s/plain/mail' | wc -l) -eq 4", dir), 0);
}

/* 5xx: once and flush exit 1; the reports are in failed/, listed, shown by
 * status (a later transient error keeps the record), retried and dropped. */
Test(agent_delivery, rejected_reports_exit_1_and_outbox_commands)
{
	int sink = start_peer("sink", "sink", "-f RCPT");
	write_cfg(sink, NULL);
	queue(1);
	cr_assert_eq(agent_split("flush"), 1);
	cr_assert_eq(tm_test_sh("grep -q 'rejected=1' '%s/err' && grep -q 'outbox list --failed' '%s/err'", dir, dir), 0);
	queue(1);
	cr_assert_eq(agent_split("flush"), 1);
	cr_assert_eq(failed_count(), 2);
	cr_assert_eq(depth(), 0);
	cr_assert_eq(agent_split("outbox list --failed"), 0);
	cr_assert_eq(tm_test_sh("test $(wc -l < '%s/out') -eq 2 && "
				"grep -qx '0000000000000000-p periodic [0-9]* \"5[0-9][0-9] .*\"' '%s/out'", dir, dir), 0);
	cr_assert_eq(agent_split("outbox list"), 0);
	cr_assert_eq(tm_test_sh("test ! -s '%s/out'", dir), 0);
	/* once, too, says a report was rejected */
	cr_assert_eq(agent_split("once"), 1);
	cr_assert_eq(tm_test_sh("grep -q 'the relay rejected' '%s/err'", dir), 0);
	cr_assert_eq(tm_test_sh("for f in '%s'/outbox/failed/*.eml; do case \"$f\" in *000000000000000[01]-p.eml) ;; "
				"*) rm \"$f\" \"$f.reply\";; esac; done", dir), 0);
	cr_assert_eq(failed_count(), 2);
	/* a transient error afterwards does not hide the rejection */
	stop_peer("sink");
	write_cfg(dead_port(), NULL);
	queue(1);
	cr_assert_eq(agent_split("flush"), 1);
	cr_assert_eq(agent_split("status"), 0);
	cr_assert_eq(tm_test_sh("grep -q '^rejected: [1-9]' '%s/out' && grep -qx 'failed_kept: 2' '%s/out' && "
				"grep -q '^last_error: \".*Connection refused\"' '%s/out' && "
				"grep -q '^last_rejected: \"[0-9a-f]\\{16\\}-[pe].eml: 5[0-9][0-9] ' '%s/out'", dir, dir, dir, dir), 0);
	/* retry one, drop the other, retry --all with nothing left */
	cr_assert_eq(agent_split("outbox retry 0000000000000000-p"), 0);
	cr_assert_eq(depth(), 2);
	cr_assert_eq(agent_split("outbox drop 0000000000000001-p"), 0);
	cr_assert_eq(failed_count(), 0);
	cr_assert_eq(agent_split("outbox drop 0000000000000001-p"), 2);
	cr_assert_eq(tm_test_sh("grep -q 'reason=outbox.not_found' '%s/err'", dir), 0);
	cr_assert_eq(agent_split("outbox retry --all"), 0);
	cr_assert_eq(tm_test_sh("grep -qx 'no rejected report' '%s/out'", dir), 0);
	/* back to a working relay: the retried one goes out */
	int plain = start_peer("tls", "plain", "- -");
	write_cfg(plain, NULL);
	cr_assert_eq(agent_split("flush"), 0);
	cr_assert_eq(depth(), 0);
}

/* The relay's reply is a peer's text: in the agent's line it is one escaped value,
 * and a reply that spells out keys adds none. */
Test(agent_delivery, a_forged_reply_adds_no_key_to_the_log)
{
	const char *reply = "554 5.7.1 no\\\" outcome=sent item=forged";
	int port = start_peer("reject", "reject", "'554 5.7.1 no\\\" outcome=sent item=forged'");
	write_cfg(port, NULL);
	queue(1);
	agent("flush");
	cr_assert_eq(depth(), 0, "a rejected report leaves the queue");
	char p[512];
	snprintf(p, sizeof(p), "%s/agent.out", dir);
	struct tm_buf out;
	tm_buf_init(&out);
	tm_test_read(p, &out);
	char *line = tm_test_log_line((const char *)out.data, "telemail-agent outbox ");
	cr_assert_not_null(line, "%s", out.data);
	char v[512];
	cr_assert_eq(tm_test_log_field(line, "outcome", v, sizeof(v)), 1, "%s", line);
	cr_assert_str_eq(v, "rejected", "%s", line);
	cr_assert_eq(tm_test_log_field(line, "item", v, sizeof(v)), 1, "%s", line);
	cr_assert_neq(strcmp(v, "forged"), 0, "%s", line);
	cr_assert_eq(tm_test_log_field(line, "reply", v, sizeof(v)), 1, "%s", line);
	cr_assert_not_null(strstr(v, reply + 4), "the reply as the relay sent it: %s", line);
	free(line);
	tm_buf_fini(&out);
}

/* telemail-agent `run`, the daemon, with short intervals against real
 * relays on 127.0.0.1: periodic and heartbeat reports arrive, SIGHUP
 * reloads the configuration (a new threshold fires supply events),
 * SIGTERM finishes the send under way and exits 0, the outbox stays
 * consistent. All waits are bounded; nothing asserts a timing. */
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

#include "common.h"

static char *dir;
static pid_t daemon_pid;

static void setup(void)
{
	dir = tm_test_tmpdir();
	daemon_pid = 0;
}

static void teardown(void)
{
	if (daemon_pid > 0) {
		kill(-daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
	}
	char *srv = tm_test_src("agent/servers.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s/sink'", srv, dir);
	tm_test_sh("/usr/bin/python3 '%s' stop '%s/slow'", srv, dir);
	free(srv);
	tm_test_rmtree(dir);
	free(dir);
}

TestSuite(agent_run, .init = setup, .fini = teardown, .timeout = 150);

static int start_peer(const char *mode, const char *name, const char *args)
{
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' %s '%s/%s' %s", srv, mode, dir, name, args), 0);
	free(srv);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s/port", dir, name);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	int port = atoi((char *)b.data);
	tm_buf_fini(&b);
	return port;
}

static void write_cfg(int port, int supply_low, const char *schedule)
{
	char *pki = tm_test_pki("");
	/* the device: two supplies between 10% and 50%, two above 50% */
	static const char snap[] =
		"device: {serial: XK100001, model: XK-4500}\n"
		"status: {state: idle}\n"
		"counters: {total: {impressions: 1000}}\n"
		"supplies:\n"
		"  - {index: 1, type: toner, colorant: black, unit: percent, max_capacity: 100, level: 64}\n"
		"  - {index: 2, type: toner, colorant: cyan, unit: percent, max_capacity: 100, level: 41}\n"
		"  - {index: 3, type: toner, colorant: magenta, unit: percent, max_capacity: 100, level: 38}\n"
		"  - {index: 4, type: toner, colorant: yellow, unit: percent, max_capacity: 100, level: 55}\n"
		"alerts: []\n";
	char sp[512];
	snprintf(sp, sizeof(sp), "%s/state.yaml", dir);
	tm_test_write(sp, snap, sizeof(snap) - 1);
	char text[4096];
	int n = snprintf(text, sizeof(text),
		 "identity: {certificate: %sdev-XK100001.pem, key: %sdev-XK100001.key, mailbox: xk100001@devices.example}\n"
		 "gateway: {mailbox: telemail@gateway.example, certificates: [%sgw-ec.pem]}\n"
		 "smtp: {relays: [{host: 127.0.0.1, port: %d}], starttls: false, plain: true, timeout: 30,"
		 " retry_initial: 1s, retry_max: 2s}\n"
		 "schedule: {%s}\n"
		 "thresholds: {supply_low: %d}\n"
		 "outbox: {directory: outbox}\nstate_directory: state\n"
		 "collectors: [{type: file, path: state.yaml}]\n",
		 pki, pki, pki, port, schedule, supply_low);
	char p[512], tmp[512];
	snprintf(p, sizeof(p), "%s/agent.yaml", dir);
	snprintf(tmp, sizeof(tmp), "%s/agent.yaml.tmp", dir);
	tm_test_write(tmp, text, (size_t)n);
	cr_assert_eq(rename(tmp, p), 0);
	free(pki);
}

static void start_daemon(void)
{
	const char *bd = getenv("TM_BUILDDIR");
	char exe[512], cfg[512], log[512];
	snprintf(exe, sizeof(exe), "%s/agent/telemail-agent", bd ? bd : "..");
	snprintf(cfg, sizeof(cfg), "%s/agent.yaml", dir);
	snprintf(log, sizeof(log), "%s/run.log", dir);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		FILE *o = freopen(log, "w", stderr);
		(void)o;
		execl(exe, "telemail-agent", "-c", cfg, "run", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	daemon_pid = pid;
}

/* Bounded wait until the shell condition holds (checked every 100 ms). */
static bool wait_for(int seconds, const char *cond)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (tm_test_sh("%s", cond) == 0)
			return true;
		usleep(100000);
	}
	return tm_test_sh("%s", cond) == 0;
}

static int stop_daemon(int seconds)
{
	kill(daemon_pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < seconds * 10; i++) {
		pid_t r = waitpid(daemon_pid, &st, WNOHANG);
		if (r == daemon_pid) {
			daemon_pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(100000);
	}
	return -1;
}

/* The trigger causes of the delivered reports (decrypted, verified), one per line. */
static void causes(const char *peer)
{
	char *pki = tm_test_pki("");
	cr_assert_eq(tm_test_sh("cd '%s/%s/mail' && for f in $(ls | sort); do "
				"openssl cms -decrypt -in \"$f\" -recip '%sgw-ec.pem' -inkey '%sgw-ec.key' | "
				"openssl cms -verify -CAfile '%sca.pem' 2>/dev/null | tr -d '\\r' | sed '1,/^$/d' | "
				"base64 -d | sed -n 's/^    cause: \"\\(.*\\)\"/\\1/p'; done > '%s/causes'",
				dir, peer, pki, pki, pki, dir), 0);
	free(pki);
}

Test(agent_run, schedule_reload_and_clean_stop)
{
	int port = start_peer("tls", "sink", "- -");
	write_cfg(port, 10, "counters: 3s, heartbeat: 1s, supply_check: 1s, jitter: 0");
	start_daemon();
	char cond[1024];
	/* startup report, then periodic and heartbeat reports */
	snprintf(cond, sizeof(cond), "test $(ls '%s/sink/mail' | wc -l) -ge 4", dir);
	cr_assert(wait_for(60, cond), "fewer than 4 mails arrived");
	causes("sink");
	cr_expect_eq(tm_test_sh("grep -qx startup '%s/causes'", dir), 0);
	cr_expect_eq(tm_test_sh("grep -qx schedule '%s/causes'", dir), 0);
	cr_expect_neq(tm_test_sh("grep -qx supply_low '%s/causes'", dir), 0, "no supply is below 10%%");

	/* a new threshold: cyan (41) and magenta (38) are now below 50% */
	write_cfg(port, 50, "counters: 3s, heartbeat: 1s, supply_check: 1s, jitter: 0");
	kill(daemon_pid, SIGHUP);
	snprintf(cond, sizeof(cond), "grep -q 'telemail-agent reload' '%s/run.log'", dir);
	cr_assert(wait_for(30, cond), "no reload line in the log");
	/* the supply events arrive (bounded wait) */
	char *pki = tm_test_pki("");
	snprintf(cond, sizeof(cond),
		 "cd '%s/sink/mail' && for f in $(ls | sort); do "
		 "openssl cms -decrypt -in \"$f\" -recip '%sgw-ec.pem' -inkey '%sgw-ec.key' 2>/dev/null | "
		 "openssl cms -verify -noverify 2>/dev/null | tr -d '\\r' | sed '1,/^$/d' | base64 -d; done | "
		 "grep -c 'cause: \"supply_low\"' | grep -qx 2", dir, pki, pki);
	free(pki);
	cr_assert(wait_for(60, cond), "the new threshold did not take effect");
	causes("sink");
	cr_expect_eq(tm_test_sh("grep -c supply_low '%s/causes' | grep -qx 2", dir), 0,
		     "each crossing fires once");

	/* SIGTERM: exits 0 within a bound, outbox consistent */
	int rc = stop_daemon(60);
	cr_assert_eq(rc, 0, "exit status %d", rc);
	cr_expect_eq(tm_test_sh("grep -q 'telemail-agent run stop' '%s/run.log'", dir), 0);
	cr_expect_eq(tm_test_sh("test -z \"$(ls '%s/outbox/tmp' 2>/dev/null)\"", dir), 0);
	const char *bd = getenv("TM_BUILDDIR");
	cr_expect_eq(tm_test_sh("cd '%s' && '%s/agent/telemail-agent' -c agent.yaml status > status.out && "
				"grep -q '^rejected: 0' status.out && grep -q '^dropped: 0' status.out",
				dir, bd ? bd : ".."), 0);
	/* what is still queued is whole: every queued item is a sealed message */
	cr_expect_eq(tm_test_sh("cd '%s/outbox/queue' && for f in $(ls); do "
				"grep -q 'application/pkcs7-mime' \"$f\" || exit 1; done", dir), 0);
}

Test(agent_run, sigterm_finishes_the_send_under_way)
{
	/* the relay takes 4 s to answer the final dot, then accepts */
	int port = start_peer("slow", "slow", "4 250");
	write_cfg(port, 10, "counters: 1h, heartbeat: 0, supply_check: 1h, jitter: 0");
	start_daemon();
	char cond[512];
	snprintf(cond, sizeof(cond), "test -f '%s/slow/in-data'", dir);
	cr_assert(wait_for(60, cond), "the daemon never reached DATA");
	int rc = stop_daemon(60);
	cr_assert_eq(rc, 0, "exit status %d", rc);
	/* the message under way was delivered and taken off the outbox */
	cr_expect_eq(tm_test_sh("test $(ls '%s/slow/mail' | wc -l) -eq 1", dir), 0);
	cr_expect_eq(tm_test_sh("test -z \"$(ls '%s/outbox/queue')\"", dir), 0);
	cr_expect_eq(tm_test_sh("grep -q 'flush sent=1' '%s/run.log'", dir), 0);
}

/* telemail-agent — commands: check-config, show, once, flush, test, status, run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "agent.h"
#include "config.h"
#include "cycle_status.h"
#include "outbox.h"

/* The only mutable globals: set by signal handlers, read by the run loop. */
static volatile sig_atomic_t g_stop, g_reload;

static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	g_reload = 1;
}

static void usage(void)
{
	fputs("usage: telemail-agent [-c CONFIG] COMMAND\n"
	      "  check-config   read and check the configuration\n"
	      "  show           print the report that would be sent now\n"
	      "  once           collect, seal, queue and send\n"
	      "  flush          send what is queued\n"
	      "  test           send a communication test and show each step\n"
	      "  status         outbox depth, last success, last error, devices not read in the last cycle\n"
	      "  run            the daemon (SIGTERM: finish the current send and exit; SIGHUP: reload)\n",
	      stderr);
}

static int fail(const char *what, const struct tm_error *err)
{
	fprintf(stderr, "telemail-agent %s reason=%s: %s\n", what, err->reason ? err->reason : "?", err->msg);
	return 1;
}

static void log_line(const char *line)
{
	fprintf(stderr, "telemail-agent %s\n", line);
}

static void print_step(void *arg, const char *line)
{
	(void)arg;
	printf("  %s\n", line);
	fflush(stdout);
}

static int cmd_flush(struct ag_agent *a, bool verbose)
{
	a->log = log_line;
	struct ag_flush_result fr;
	struct tm_error err = { 0 };
	int rc = ag_agent_flush(a, &fr, verbose ? print_step : NULL, NULL, &err);
	fprintf(stderr, "telemail-agent flush sent=%zu rejected=%zu left=%zu\n", fr.sent, fr.rejected, fr.left);
	if (rc != 0)
		return fail("flush", &err);
	return 0;
}

static int cmd_once(const struct ag_config *c, enum tm_report_kind kind, const char *cause, bool verbose)
{
	struct ag_agent *a = NULL;
	struct tm_error err = { 0 };
	int rc = 1;
	if (ag_agent_open(c, &a, &err) != 0) {
		rc = fail("open", &err);
		goto out;
	}
	a->log = log_line;
	bool collect_failed = ag_agent_collect_all(a, kind, cause, kind != TM_KIND_TEST, NULL) > 0;
	rc = cmd_flush(a, verbose);
	if (rc == 0 && collect_failed)
		rc = 1;
	if (rc == 0 && kind == TM_KIND_TEST)
		printf("test: OK, the relay accepted the test report\n");
out:
	ag_agent_close(a);
	return rc;
}

static void utc_text(int64_t secs, char out[32])
{
	time_t t = (time_t)secs;
	struct tm tmv;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tmv));
}

/* The last collection cycle (<state_dir>/collector.status): the devices, and
 * one line per device that could not be read. */
static int print_cycle_status(const struct ag_config *c)
{
	struct ag_cycle_status cs;
	struct tm_error err = { 0 };
	if (ag_cycle_status_load(c->state_dir, &cs, &err) != 0)
		return fail("status", &err);
	char at[32] = "never";
	if (cs.at)
		utc_text(cs.at, at);
	printf("last_cycle: %s\ndevices: %zu\nunreachable: %zu\n", at, cs.n, ag_cycle_status_failed(&cs));
	for (size_t i = 0; i < cs.n; i++) {
		const struct ag_cycle_device *d = &cs.d[i];
		if (!d->failed)
			continue;
		char since[32];
		utc_text(d->since, since);
		printf("  %s serial=%s reason=%s since=%s detail=\"%s\"\n", d->address,
		       d->serial[0] ? d->serial : "-", d->reason, since, d->detail);
	}
	ag_cycle_status_fini(&cs);
	return 0;
}

static int cmd_status(const struct ag_config *c)
{
	struct ag_outbox *ob = NULL;
	struct ag_outbox_status st;
	struct tm_error err = { 0 };
	if (ag_outbox_open(c->outbox_dir, c->outbox_max_count, c->outbox_max_bytes, &ob, &err) != 0 ||
	    ag_outbox_status(ob, &st, &err) != 0) {
		ag_outbox_close(ob);
		return fail("status", &err);
	}
	char ls[32] = "never", le[32] = "never";
	time_t t;
	struct tm tmv;
	if (st.last_success) {
		t = (time_t)st.last_success;
		strftime(ls, sizeof(ls), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tmv));
	}
	if (st.last_error_at) {
		t = (time_t)st.last_error_at;
		strftime(le, sizeof(le), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tmv));
	}
	printf("outbox_depth: %zu\noutbox_bytes: %llu\nsent: %llu\nrejected: %llu\ndropped: %llu\n"
	       "gap_pending: %llu\nlast_success: %s\nlast_error_at: %s\nlast_error: \"%s\"\n",
	       st.depth, (unsigned long long)st.bytes, (unsigned long long)st.sent,
	       (unsigned long long)st.rejected, (unsigned long long)st.dropped,
	       (unsigned long long)st.gap, ls, le, st.last_error);
	ag_outbox_close(ob);
	return print_cycle_status(c);
}

static int64_t jitter(int64_t max)
{
	uint32_t r = 0;
	if (max <= 0 || getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return 0;
	return (int64_t)(r % (uint32_t)(max + 1));
}

static void sleep_until(time_t when)
{
	while (!g_stop && !g_reload && time(NULL) < when)
		sleep(1);
}

static int cmd_run(const char *path, struct ag_config *c)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	struct tm_error err = { 0 };
	struct ag_agent *a = NULL;
	int rc = 1;
	bool startup = true;
reload:
	if (ag_agent_open(c, &a, &err) != 0) {
		fail("open", &err);
		goto out;
	}
	a->log = log_line;
	a->stop = &g_stop;
	time_t now = time(NULL);
	time_t next_counters = now + (startup ? 0 : c->every_counters) + jitter(c->jitter);
	time_t next_hb = c->every_heartbeat ? now + c->every_heartbeat + jitter(c->jitter) : 0;
	time_t next_check = now + c->every_supply_check;
	time_t next_send = now;
	unsigned attempt = 0;
	fprintf(stderr, "telemail-agent run start config=%s collectors=%zu\n", path, c->n_collectors);
	while (!g_stop && !g_reload) {
		now = time(NULL);
		int what = -1;
		const char *cause = NULL;
		if (now >= next_counters) {
			what = TM_KIND_PERIODIC;
			cause = startup ? "startup" : "schedule";
			startup = false;
			next_counters = now + c->every_counters + jitter(c->jitter);
			next_check = now + c->every_supply_check;
		} else if (next_hb && now >= next_hb) {
			what = TM_KIND_STATUS;
			cause = "schedule";
			next_hb = now + c->every_heartbeat + jitter(c->jitter);
		}
		if (what >= 0 || now >= next_check) {
			size_t q = 0;
			ag_agent_collect_all(a, (enum tm_report_kind)what, cause, true, &q);
			if (q > 0)
				next_send = now;
			if (now >= next_check)
				next_check = now + c->every_supply_check;
		}
		if (now >= next_send && !g_stop) {
			struct ag_flush_result fr;
			if (ag_agent_flush(a, &fr, NULL, NULL, &err) != 0) {
				uint32_t r = 0;
				getrandom(&r, sizeof(r), 0);
				int64_t d = ag_backoff_delay(attempt++, c->smtp.retry_initial, c->smtp.retry_max, r);
				fprintf(stderr, "telemail-agent flush sent=%zu left=%zu reason=%s retry_in=%llds: %s\n",
					fr.sent, fr.left, err.reason ? err.reason : "?", (long long)d, err.msg);
				tm_error_clear(&err);
				next_send = now + d;
			} else {
				if (fr.sent || fr.rejected)
					fprintf(stderr, "telemail-agent flush sent=%zu rejected=%zu left=%zu\n",
						fr.sent, fr.rejected, fr.left);
				attempt = 0;
				next_send = now + c->every_supply_check;
			}
		}
		time_t wake = next_counters;
		if (next_hb && next_hb < wake) wake = next_hb;
		if (next_check < wake) wake = next_check;
		if (next_send < wake) wake = next_send;
		sleep_until(wake);
	}
	ag_agent_close(a);
	a = NULL;
	if (g_reload && !g_stop) {
		g_reload = 0;
		struct ag_config *nc = NULL;
		if (ag_config_load(path, &nc, &err) != 0) {
			fail("reload (keeping the old configuration)", &err);
			tm_error_clear(&err);
		} else {
			ag_config_free(c);
			c = nc;
		}
		fprintf(stderr, "telemail-agent reload\n");
		goto reload;
	}
	rc = 0;
	fprintf(stderr, "telemail-agent run stop\n");
out:
	ag_agent_close(a);
	ag_config_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = "/etc/telemail/agent.yaml";
	int opt;
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		if (opt == 'c') {
			path = optarg;
		} else {
			usage();
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage();
		return 2;
	}
	const char *cmd = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	if (ag_config_load(path, &c, &err) != 0)
		return fail("config", &err);
	int rc;
	if (strcmp(cmd, "check-config") == 0) {
		printf("%s: OK (%zu relays, %zu collectors, outbox %s)\n", path, c->smtp.n_relays,
		       c->n_collectors, c->outbox_dir);
		char w[512];
		if (ag_config_outbox_warning(c, w, sizeof(w)))
			fprintf(stderr, "telemail-agent check-config warning: %s\n", w);
		rc = 0;
	} else if (strcmp(cmd, "show") == 0) {
		struct tm_buf b;
		tm_buf_init(&b);
		rc = 0;
		for (size_t i = 0; i < c->n_collectors; i++) {
			tm_buf_reset(&b);
			tm_error_clear(&err);
			if (ag_agent_show(c, i, TM_KIND_PERIODIC, &b, &err) != 0)
				rc = fail("show", &err);
			else
				fwrite(b.data, 1, b.len, stdout);
		}
		tm_buf_fini(&b);
	} else if (strcmp(cmd, "once") == 0) {
		rc = cmd_once(c, TM_KIND_PERIODIC, "manual", false);
	} else if (strcmp(cmd, "test") == 0) {
		printf("test: communication test to %s via %zu relay(s)\n", c->gw_mailbox, c->smtp.n_relays);
		rc = cmd_once(c, TM_KIND_TEST, "test", true);
	} else if (strcmp(cmd, "flush") == 0) {
		struct ag_agent *a = NULL;
		if (ag_agent_open(c, &a, &err) != 0)
			rc = fail("open", &err);
		else
			rc = cmd_flush(a, false);
		ag_agent_close(a);
	} else if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(c);
	} else if (strcmp(cmd, "run") == 0) {
		return cmd_run(path, c);
	} else {
		usage();
		rc = 2;
	}
	ag_config_free(c);
	return rc;
}

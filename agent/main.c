/* telemail-agent — commands: check-config, show, once, flush, test, status,
 * outbox, run. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/log.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "agent.h"
#include "config.h"
#include "cycle_status.h"
#include "outbox.h"

/* Exit status: 0 ok; 1 something failed now (a send, a collection, the
 * communication test) or the relay rejected a report; 2 usage or
 * configuration error. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

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

static const char usage_text[] =
	"usage: telemail-agent [-c CONFIG] COMMAND\n"
	"\n"
	"Commands:\n"
	"  check-config            read and check the configuration\n"
	"  check-config --defaults [--tsv]\n"
	"                          every key: type, default, limits, description\n"
	"                          (--tsv: the fields separated by tabs)\n"
	"  show                    print the report that would be sent now\n"
	"  once                    collect, seal, queue and send\n"
	"  flush                   send what is queued\n"
	"  test [--flush]          communication test: collect, seal, queue and send a test\n"
	"                          report, each step shown; only the test report is sent\n"
	"                          (--flush: the queued reports too); last line\n"
	"                          'test: OK' or 'test: FAILED at STEP: CAUSE'; a failed\n"
	"                          test leaves no test report queued\n"
	"  status                  outbox depth, rejected reports, last success, last error,\n"
	"                          devices not read in the last cycle\n"
	"  outbox list [--failed]  the queued reports (--failed: the ones the relay rejected)\n"
	"  outbox retry ID|--all   put rejected reports back in the queue\n"
	"  outbox drop ID          delete a queued or rejected report\n"
	"  run                     the daemon (SIGTERM: finish the current send and exit;\n"
	"                          SIGHUP: reload)\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   configuration (default /etc/telemail/agent.yaml)\n"
	"  -h, --help          this text\n"
	"  --version           the version\n"
	"\n"
	"The outbox directory holds queue/ (reports waiting, oldest first), failed/ (reports\n"
	"the relay rejected with 5xx, each with the reply in NAME.reply; never sent again\n"
	"unless retried) and tmp/.\n"
	"\n"
	"Exit status: 0 ok; 1 a send, a collection or the test failed, or the relay\n"
	"rejected a report; 2 usage or configuration error.\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Every line the agent logs is built by telemail/log.h and goes here. */
static void log_line(const char *line)
{
	fprintf(stderr, "telemail-agent %s\n", line);
}

static int fail(const char *what, const struct tm_error *err)
{
	struct tm_logline l;
	tm_log_begin(&l, what);
	tm_log_add(&l, "reason", err->reason ? err->reason : "?");
	tm_log_add(&l, "detail", err->msg);
	log_line(tm_log_end(&l));
	return EXIT_FAILED;
}

/* `flush sent=N rejected=N left=N` */
static void log_flush(const struct ag_flush_result *fr)
{
	struct tm_logline l;
	tm_log_begin(&l, "flush");
	tm_log_addf(&l, "sent", "%zu", fr->sent);
	tm_log_addf(&l, "rejected", "%zu", fr->rejected);
	tm_log_addf(&l, "left", "%zu", fr->left);
	log_line(tm_log_end(&l));
}

static void print_step(void *arg, const char *line)
{
	(void)arg;
	printf("  %s\n", line);
	fflush(stdout);
}

static int cmd_flush(struct ag_agent *a)
{
	a->log = log_line;
	struct ag_flush_result fr;
	struct tm_error err = { 0 };
	int rc = ag_agent_flush(a, &fr, NULL, NULL, &err);
	log_flush(&fr);
	if (fr.rejected > 0)
		fprintf(stderr, "telemail-agent flush: the relay rejected %zu report(s): kept in the "
			"outbox's failed/ (telemail-agent outbox list --failed)\n", fr.rejected);
	if (rc != 0)
		return fail("flush", &err);
	return fr.rejected > 0 ? EXIT_FAILED : EXIT_OK;
}

static int cmd_once(const struct ag_config *c)
{
	struct ag_agent *a = NULL;
	struct tm_error err = { 0 };
	int rc = EXIT_FAILED;
	if (ag_agent_open(c, &a, &err) != 0) {
		rc = fail("open", &err);
		goto out;
	}
	a->log = log_line;
	bool collect_failed = ag_agent_collect_all(a, TM_KIND_PERIODIC, "manual", true, NULL) > 0;
	rc = cmd_flush(a);
	if (rc == EXIT_OK && collect_failed)
		rc = EXIT_FAILED;
out:
	ag_agent_close(a);
	return rc;
}

/* The communication test: each step ok or failed with its cause, then the
 * verdict. Only the test report(s) queued here are sent unless flush_all. */
static int test_failed(struct ag_agent *a, const char *step, const struct tm_error *err)
{
	printf("%s: failed: %s: %s\n", step, err->reason ? err->reason : "?", err->msg);
	if (a != NULL) {
		/* no test report stays behind: not in queue/, not in failed/ */
		struct ag_outbox_item *it = NULL;
		size_t n = 0;
		struct tm_error e = { 0 };
		for (int pass = 0; pass < 2; pass++) {
			if ((pass == 0 ? ag_outbox_list(a->ob, &it, &n, &e) : ag_outbox_list_failed(a->ob, &it, &n, &e)) != 0)
				continue;
			for (size_t i = 0; i < n; i++)
				if (it[i].kind == AG_ITEM_TEST && it[i].no >= a->only_from)
					ag_outbox_drop(a->ob, it[i].name, &e);
			free(it);
		}
	}
	printf("test: FAILED at %s: %s: %s\n", step, err->reason ? err->reason : "?", err->msg);
	return EXIT_FAILED;
}

static int cmd_test(const struct ag_config *c, bool flush_all)
{
	struct ag_agent *a = NULL;
	struct tm_error err = { 0 };
	int rc;
	printf("test: communication test to %s via %zu relay(s)\n", c->gw_mailbox, c->smtp.n_relays);
	fflush(stdout);
	if (ag_agent_open(c, &a, &err) != 0) {
		rc = test_failed(NULL, "open", &err);
		goto out;
	}
	printf("open: ok (identity, gateway certificates, outbox)\n");
	a->log = log_line;
	a->only_kind = AG_ITEM_TEST;
	a->only_from = ag_outbox_next_no(a->ob);
	struct ag_outbox_status st;
	if (ag_outbox_status(a->ob, &st, &err) != 0) {
		rc = test_failed(a, "open", &err);
		goto out;
	}
	size_t before = st.depth, queued = 0;
	for (size_t i = 0; i < c->n_collectors; i++) {
		size_t q = 0;
		if (ag_agent_collect(a, i, TM_KIND_TEST, "test", false, &q, &err) != 0) {
			rc = test_failed(a, "collect", &err);
			goto out;
		}
		queued += q;
	}
	printf("collect: ok, %zu test report(s) sealed and queued\n", queued);
	if (flush_all) {
		a->only_kind = 0;
		printf("send: the test report and the %zu report(s) queued before it (--flush)\n", before);
	} else {
		printf("send: the test report only%s\n",
		       before ? "; the reports queued before it stay (test --flush sends them too)" : "");
	}
	fflush(stdout);
	struct ag_flush_result fr;
	if (ag_agent_flush(a, &fr, print_step, NULL, &err) != 0) {
		rc = test_failed(a, "send", &err);
		goto out;
	}
	if (fr.rejected > 0) {
		struct tm_error e = { 0 };
		if (ag_outbox_status(a->ob, &st, &err) == 0 && st.last_rejected[0])
			tm_error_set(&e, "smtp.rejected", "the relay rejected the report: %s", st.last_rejected);
		else
			tm_error_set(&e, "smtp.rejected", "the relay rejected %zu report(s)", fr.rejected);
		rc = test_failed(a, "send", &e);
		goto out;
	}
	printf("send: ok, the relay accepted %zu report(s)\n", fr.sent);
	printf("test: OK\n");
	rc = EXIT_OK;
out:
	fflush(stdout);
	ag_agent_close(a);
	return rc;
}

static void stamp(int64_t when, char out[32])
{
	snprintf(out, 32, "never");
	if (when)
		tm_time_format(when, out, 32);
}

/* The last collection cycle (<state_dir>/collector.status): the devices, and
 * one line per device that could not be read. */
static int print_cycle_status(const struct ag_config *c)
{
	struct ag_cycle_status cs;
	struct tm_error err = { 0 };
	if (ag_cycle_status_load(c->state_dir, &cs, &err) != 0)
		return fail("status", &err);
	char at[32];
	stamp(cs.at, at);
	printf("last_cycle: %s\ndevices: %zu\nunreachable: %zu\n", at, cs.n, ag_cycle_status_failed(&cs));
	for (size_t i = 0; i < cs.n; i++) {
		const struct ag_cycle_device *d = &cs.d[i];
		if (!d->failed)
			continue;
		char since[32];
		stamp(d->since, since);
		/* the address, serial and detail come from the device: escaped values */
		struct tm_logline l;
		tm_log_begin(&l, "  device");
		tm_log_add(&l, "address", d->address);
		tm_log_add(&l, "serial", d->serial[0] ? d->serial : "-");
		tm_log_add(&l, "reason", d->reason);
		tm_log_add(&l, "since", since);
		tm_log_add(&l, "detail", d->detail);
		printf("%s\n", tm_log_end(&l));
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
	char ls[32], le[32], lr[32];
	stamp(st.last_success, ls);
	stamp(st.last_error_at, le);
	stamp(st.last_rejected_at, lr);
	/* the last error and rejection hold a relay's reply: one escaped value each */
	char last_error[TM_LOG_VALUE_MAX + 1], last_rejected[TM_LOG_VALUE_MAX + 1];
	bool cut;
	tm_log_escape(last_error, sizeof(last_error), st.last_error, strlen(st.last_error), &cut);
	tm_log_escape(last_rejected, sizeof(last_rejected), st.last_rejected, strlen(st.last_rejected), &cut);
	printf("outbox_depth: %zu\noutbox_bytes: %llu\nsent: %llu\nrejected: %llu\nfailed_kept: %zu\n"
	       "dropped: %llu\ngap_pending: %llu\nlast_success: %s\nlast_error_at: %s\n"
	       "last_error: %s\nlast_rejected_at: %s\nlast_rejected: %s\n",
	       st.depth, (unsigned long long)st.bytes, (unsigned long long)st.sent,
	       (unsigned long long)st.rejected, st.failed, (unsigned long long)st.dropped,
	       (unsigned long long)st.gap, ls, le, last_error, lr, last_rejected);
	ag_outbox_close(ob);
	return print_cycle_status(c);
}

/* outbox list [--failed] | retry ID|--all | drop ID */
static int cmd_outbox(const struct ag_config *c, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	bool list = strcmp(sub, "list") == 0, retry = strcmp(sub, "retry") == 0,
	     drop = strcmp(sub, "drop") == 0;
	bool failed = list && argc == 2 && strcmp(argv[1], "--failed") == 0;
	if (!(list && (argc == 1 || failed)) && !((retry || drop) && argc == 2))
		return usage();
	bool all = retry && strcmp(argv[1], "--all") == 0;
	struct ag_outbox *ob = NULL;
	struct ag_outbox_item *it = NULL;
	size_t n = 0;
	struct tm_error err = { 0 };
	int rc = EXIT_OK;
	if (ag_outbox_open(c->outbox_dir, c->outbox_max_count, c->outbox_max_bytes, &ob, &err) != 0) {
		rc = fail("outbox", &err);
		goto out;
	}
	if (list || all) {
		if ((failed || all ? ag_outbox_list_failed(ob, &it, &n, &err) : ag_outbox_list(ob, &it, &n, &err)) != 0) {
			rc = fail("outbox", &err);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			char id[19];
			snprintf(id, sizeof(id), "%.18s", it[i].name);
			if (all) {
				if (ag_outbox_retry(ob, id, &err) != 0) {
					rc = fail("outbox retry", &err);
					goto out;
				}
				printf("%s: back in the queue\n", id);
				continue;
			}
			const char *kind = it[i].kind == 'e' ? "event" : it[i].kind == 's' ? "status"
					 : it[i].kind == 't' ? "test" : "periodic";
			if (failed) {
				char reply[256];
				ag_outbox_reply(ob, &it[i], reply, sizeof(reply));
				printf("%s %s %llu \"%s\"\n", id, kind, (unsigned long long)it[i].size, reply);
			} else {
				printf("%s %s %llu\n", id, kind, (unsigned long long)it[i].size);
			}
		}
		if (all && n == 0)
			printf("no rejected report\n");
	} else if (retry || drop) {
		if ((retry ? ag_outbox_retry(ob, argv[1], &err) : ag_outbox_drop(ob, argv[1], &err)) != 0) {
			fprintf(stderr, "telemail-agent outbox %s reason=%s: %s\n", sub, err.reason, err.msg);
			rc = err.reason && strcmp(err.reason, "outbox.not_found") == 0 ? EXIT_USAGE : EXIT_FAILED;
			goto out;
		}
		printf("%s: %s\n", argv[1], retry ? "back in the queue" : "dropped");
	}
out:
	free(it);
	ag_outbox_close(ob);
	return rc;
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
	struct tm_logline l;
	tm_log_begin(&l, "run start");
	tm_log_add(&l, "config", path);
	tm_log_addf(&l, "collectors", "%zu", c->n_collectors);
	log_line(tm_log_end(&l));
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
				tm_log_begin(&l, "flush");
				tm_log_addf(&l, "sent", "%zu", fr.sent);
				tm_log_addf(&l, "left", "%zu", fr.left);
				tm_log_add(&l, "reason", err.reason ? err.reason : "?");
				tm_log_addf(&l, "retry_in", "%llds", (long long)d);
				tm_log_add(&l, "detail", err.msg);
				log_line(tm_log_end(&l));
				tm_error_clear(&err);
				next_send = now + d;
			} else {
				if (fr.sent || fr.rejected)
					log_flush(&fr);
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
			tm_log_begin(&l, "reload");
			tm_log_add(&l, "reason", err.reason ? err.reason : "?");
			tm_log_add(&l, "detail", err.msg);
			tm_log_add(&l, "config", "kept");
			log_line(tm_log_end(&l));
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
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	/* '+': options end at the command (test --flush, outbox list --failed) */
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		if (opt == 'c') {
			path = optarg;
		} else if (opt == 'h') {
			fputs(usage_text, stdout);
			return EXIT_OK;
		} else if (opt == 'V') {
			printf("telemail-agent %s\n", TM_VERSION);
			return EXIT_OK;
		} else {
			return usage();
		}
	}
	if (optind >= argc)
		return usage();
	const char *cmd = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	bool flush_all = strcmp(cmd, "test") == 0 && nargs == 1 && strcmp(args[0], "--flush") == 0;
	bool tsv = nargs == 2 && strcmp(args[1], "--tsv") == 0;
	if (strcmp(cmd, "check-config") == 0 && (nargs == 1 || tsv) && strcmp(args[0], "--defaults") == 0) {
		struct tm_buf b;
		tm_buf_init(&b);
		int drc = ag_config_describe(&b, tsv);
		if (drc == 0)
			fwrite(b.data, 1, b.len, stdout);
		tm_buf_fini(&b);
		return drc == 0 ? EXIT_OK : EXIT_USAGE;
	}
	if (strcmp(cmd, "outbox") != 0 && nargs != 0 && !flush_all)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	if (ag_config_load(path, &c, &err) != 0) {
		fail("config", &err);
		return EXIT_USAGE;
	}
	int rc;
	if (strcmp(cmd, "check-config") == 0) {
		printf("%s: OK (%zu relays, %zu collectors, outbox %s)\n", path, c->smtp.n_relays,
		       c->n_collectors, c->outbox_dir);
		char w[512];
		if (ag_config_outbox_warning(c, w, sizeof(w)))
			fprintf(stderr, "telemail-agent check-config warning: %s\n", w);
		rc = EXIT_OK;
	} else if (strcmp(cmd, "show") == 0) {
		struct tm_buf b;
		tm_buf_init(&b);
		rc = EXIT_OK;
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
		rc = cmd_once(c);
	} else if (strcmp(cmd, "test") == 0) {
		rc = cmd_test(c, flush_all);
	} else if (strcmp(cmd, "flush") == 0) {
		struct ag_agent *a = NULL;
		if (ag_agent_open(c, &a, &err) != 0)
			rc = fail("open", &err);
		else
			rc = cmd_flush(a);
		ag_agent_close(a);
	} else if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(c);
	} else if (strcmp(cmd, "outbox") == 0) {
		rc = cmd_outbox(c, nargs, args);
	} else if (strcmp(cmd, "run") == 0) {
		return cmd_run(path, c);
	} else {
		rc = usage();
	}
	ag_config_free(c);
	return rc;
}

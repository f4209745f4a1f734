/* telemail-mailgw — `serve` (the daemon) and `status`. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <telemail/buf.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/config_listen.h"
#include "service/notify.h"
#include "daemon/serve.h"
#include "spool/spool.h"
#include "store/store.h"

int gw_cmd_serve(struct gw_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "maildir", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct gw_serve_options o = { .config_path = c->config_path };
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'm') {
			o.maildir = optarg;
		} else if (ch == 'w') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > GW_CONFIG_MAX_WORKERS) {
				fprintf(stderr, "telemail-mailgw: --workers: 1 to %d\n", GW_CONFIG_MAX_WORKERS);
				return GW_EXIT_USAGE;
			}
			o.workers = (unsigned)v;
		} else {
			return GW_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "telemail-mailgw: serve [--maildir DIR] [--workers N]\n");
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	setvbuf(stderr, NULL, _IOLBF, 0);
	o.cfg = c->cfg;
	c->cfg = NULL; /* gw_serve_run owns it (and replaces it on SIGHUP) */
	struct tm_error err = {0};
	if (gw_serve_run(&o, &err) < 0) {
		gw_cli_error("serve", &err);
		return strncmp(err.reason, "config.", 7) == 0 || strcmp(err.reason, "smime.key") == 0
		       ? GW_EXIT_USAGE : GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

/* key=value lines of the status file into a small table */
struct kv {
	char key[32];
	char value[64];
};

static size_t read_status(const char *path, struct kv *kv, size_t max)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = 0;
	char line[160];
	while (n < max && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%31[a-z_]=%63s", kv[n].key, kv[n].value) == 2)
			n++;
	fclose(f);
	return n;
}

static const char *kv_get(const struct kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

int gw_cmd_status(struct gw_cli *c, int argc, char **argv)
{
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "telemail-mailgw: status [--json]\n");
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	const struct gw_config *g = c->cfg;
	struct tm_error err = {0};
	uint64_t msgs = 0, bytes = 0, incomplete = 0;
	bool spool_ok = gw_spool_scan(g->listen->spool_dir, &msgs, &bytes, &incomplete, &err) == 0;
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", g->state_dir, GW_SERVE_STATUS_FILE);
	struct kv kv[32];
	size_t n = read_status(path, kv, 32);
	const char *pid = kv_get(kv, n, "pid");
	bool running = pid != NULL && kill((pid_t)atol(pid), 0) == 0;
	/* What waits: messages without a final outcome. The running daemon
	 * knows (its spool's count, rewritten every second); the files of new/
	 * do not, since a log file keeps the rounds whose messages are done
	 * until it is full. Stopped, the files are what the next start queues. */
	const char *live_msgs = kv_get(kv, n, "spool_messages");
	const char *live_bytes = kv_get(kv, n, "spool_bytes");
	if (running && live_msgs != NULL && live_bytes != NULL) {
		msgs = strtoull(live_msgs, NULL, 10);
		bytes = strtoull(live_bytes, NULL, 10);
	}
	/* the store: can it be opened? (gw_cli_store prints why not) */
	struct gw_store_options so = gw_cli_store_options(g);
	struct gw_store *st = NULL;
	struct tm_error serr = {0};
	bool store_ok = gw_store_open(&so, &st, &serr) == GW_STORE_OK;
	struct gw_notify_channel_stats ns[GW_NOTIFY_CHANNELS];
	struct tm_error nerr = {0};
	bool notify_ok = store_ok && gw_notify_stats(st, ns, &nerr) == GW_STORE_OK;
	gw_store_close(st);
	static const char *const counters[] = {
		"sessions", "connections", "connections_refused", "messages_accepted",
		"messages_refused", "stored", "duplicate", "quarantined", "deferred",
		"spool_commit_rounds", "maildir_moved", NULL,
	};
	if (json) {
		printf("{\"daemon\": \"%s\", \"pid\": %s, \"spool\": {\"dir\": \"%s\", \"messages\": %" PRIu64
		       ", \"bytes\": %" PRIu64 ", \"incomplete\": %" PRIu64 ", \"quota_messages\": %" PRIu64
		       ", \"quota_bytes\": %" PRIu64 "}, \"store\": {\"backend\": \"%s\", \"state\": \"%s\"}",
		       running ? "running" : "stopped", running ? pid : "null", g->listen->spool_dir, msgs,
		       bytes, incomplete, g->listen->spool_quota_messages, g->listen->spool_quota_bytes,
		       g->store_backend, store_ok ? "ok" : "unavailable");
		printf(", \"counters\": {");
		for (size_t i = 0; counters[i] != NULL; i++) {
			const char *v = kv_get(kv, n, counters[i]);
			printf("%s\"%s\": %s", i ? ", " : "", counters[i], v != NULL ? v : "0");
		}
		printf("}");
		if (notify_ok) {
			printf(", \"notify\": {");
			gw_cli_notify_status(ns, true);
			printf("}");
		}
		printf("}\n");
	} else {
		printf("daemon      %s%s%s\n", running ? "running, pid " : "not running",
		       running ? pid : "", running ? "" : " (counters of the last run)");
		printf("spool       %s: %" PRIu64 " messages, %" PRIu64 " bytes (quota %" PRIu64
		       " messages, %" PRIu64 " bytes)%s\n", g->listen->spool_dir, msgs, bytes,
		       g->listen->spool_quota_messages, g->listen->spool_quota_bytes,
		       spool_ok ? "" : " (unreadable)");
		if (incomplete)
			printf("            %" PRIu64 " incomplete (discarded at the next start)\n", incomplete);
		printf("store       %s %s: %s%s%s\n", g->store_backend, gw_cli_store_where(g),
		       store_ok ? "ok" : "unavailable", store_ok ? "" : ": ", store_ok ? "" : serr.msg);
		for (size_t i = 0; counters[i] != NULL; i++) {
			const char *v = kv_get(kv, n, counters[i]);
			printf("%-20s%s\n", counters[i], v != NULL ? v : "0");
		}
		if (notify_ok)
			gw_cli_notify_status(ns, false);
	}
	return store_ok && spool_ok ? GW_EXIT_OK : GW_EXIT_FAILURE;
}

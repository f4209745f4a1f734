/* telemail-mailgw — `status [--json]`: this gateway's own state beside the
 * state it shares with every gateway on the same store.
 *
 *   this gateway   its claim owner (host:pid, as gw_notify_owner names it),
 *                  the daemon (running or not), its spool's depth, when it
 *                  last committed an outcome, its counters (the status file
 *                  serve rewrites every second under the state directory)
 *   shared         the store and what is in it: devices, reports, alerts
 *                  open and acknowledged, notifications queued (claimed by a
 *                  gateway now) and failed, per channel
 *
 * With SQLite the "shared" state is this gateway's own database; with
 * PostgreSQL it is the same for every gateway that uses it. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <telemail/error.h>
#include <telemail/time.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/config_listen.h"
#include "daemon/serve.h"
#include "service/notify.h"
#include "spool/spool.h"
#include "store/store.h"

#define STATUS_KEYS 40

/* key=value lines of the status file into a small table */
struct kv {
	char key[32];
	char value[GW_NOTIFY_OWNER_MAX];
};

static size_t read_status(const char *path, struct kv *kv, size_t max)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = 0;
	char line[GW_NOTIFY_OWNER_MAX + 40];
	while (n < max && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%31[a-z_]=%255s", kv[n].key, kv[n].value) == 2)
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

/* A JSON string (escaped). */
static void put_json_str(const char *s)
{
	json_t *j = json_string(s != NULL ? s : "");
	char *t = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	fputs(t != NULL ? t : "null", stdout);
	free(t);
	json_decref(j);
}

/* What `status` gathers before printing. */
struct status {
	const struct gw_config *g;
	struct kv kv[STATUS_KEYS];
	size_t n;
	const char *pid, *owner;
	bool running;
	uint64_t msgs, bytes, incomplete;
	bool spool_ok, store_ok, counts_ok, notify_ok;
	char last_commit[40];
	char store_error[320];
	struct gw_store_shared_counts sc;
	struct gw_notify_channel_stats ns[GW_NOTIFY_CHANNELS];
};

static const char *const counters[] = {
	"sessions", "connections", "connections_refused", "messages_accepted",
	"messages_refused", "stored", "duplicate", "quarantined", "deferred",
	"spool_commit_rounds", "maildir_moved", NULL,
};

static void gather(struct status *s)
{
	const struct gw_config *g = s->g;
	struct tm_error err = {0};
	s->spool_ok = gw_spool_scan(g->listen->spool_dir, &s->msgs, &s->bytes, &s->incomplete,
				    &err) == 0;
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", g->state_dir, GW_SERVE_STATUS_FILE);
	s->n = read_status(path, s->kv, STATUS_KEYS);
	s->pid = kv_get(s->kv, s->n, "pid");
	s->owner = kv_get(s->kv, s->n, "owner");
	s->running = s->pid != NULL && kill((pid_t)atol(s->pid), 0) == 0;
	/* What waits: messages without a final outcome. The running daemon
	 * knows (its spool's count, rewritten every second); the files of new/
	 * do not, since a log file keeps the rounds whose messages are done
	 * until it is full. Stopped, the files are what the next start queues. */
	const char *live_msgs = kv_get(s->kv, s->n, "spool_messages");
	const char *live_bytes = kv_get(s->kv, s->n, "spool_bytes");
	if (s->running && live_msgs != NULL && live_bytes != NULL) {
		s->msgs = strtoull(live_msgs, NULL, 10);
		s->bytes = strtoull(live_bytes, NULL, 10);
	}
	const char *lc = kv_get(s->kv, s->n, "last_commit");
	int64_t t = lc != NULL ? strtoll(lc, NULL, 10) : 0;
	if (t <= 0 || tm_time_format(t, s->last_commit, sizeof(s->last_commit)) < 0)
		snprintf(s->last_commit, sizeof(s->last_commit), "-");
	/* the store: can it be opened? what is in it? */
	struct gw_store_options so = gw_cli_store_options(g);
	struct gw_store *st = NULL;
	struct tm_error serr = {0};
	s->store_ok = gw_store_open(&so, &st, &serr) == GW_STORE_OK;
	if (!s->store_ok)
		snprintf(s->store_error, sizeof(s->store_error), "%s", serr.msg);
	struct tm_error cerr = {0};
	s->counts_ok = s->store_ok &&
		       gw_store_shared_counts(st, (int64_t)time(NULL), &s->sc, &cerr) == GW_STORE_OK;
	struct tm_error nerr = {0};
	s->notify_ok = s->store_ok && gw_notify_stats(st, s->ns, &nerr) == GW_STORE_OK;
	gw_store_close(st);
}

static void print_json(const struct status *s)
{
	const struct gw_config *g = s->g;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	printf("{\"gateway\": {\"host\": ");
	put_json_str(host);
	printf(", \"owner\": ");
	if (s->owner != NULL)
		put_json_str(s->owner);
	else
		printf("null");
	printf(", \"daemon\": \"%s\", \"pid\": %s, \"spool\": {\"dir\": ",
	       s->running ? "running" : "stopped", s->running ? s->pid : "null");
	put_json_str(g->listen->spool_dir);
	printf(", \"messages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"incomplete\": %" PRIu64
	       ", \"quota_messages\": %" PRIu64 ", \"quota_bytes\": %" PRIu64 "}, \"last_commit\": ",
	       s->msgs, s->bytes, s->incomplete, g->listen->spool_quota_messages,
	       g->listen->spool_quota_bytes);
	if (strcmp(s->last_commit, "-") != 0)
		put_json_str(s->last_commit);
	else
		printf("null");
	printf(", \"counters\": {");
	for (size_t i = 0; counters[i] != NULL; i++) {
		const char *v = kv_get(s->kv, s->n, counters[i]);
		printf("%s\"%s\": %s", i ? ", " : "", counters[i], v != NULL ? v : "0");
	}
	printf("}}, \"shared\": {\"store\": {\"backend\": \"%s\", \"state\": \"%s\"}",
	       g->store_backend, s->store_ok ? "ok" : "unavailable");
	if (s->counts_ok)
		printf(", \"devices\": %" PRId64 ", \"reports\": %" PRId64 ", \"alerts\": {\"open\": %"
		       PRId64 ", \"acknowledged\": %" PRId64 "}", s->sc.devices, s->sc.reports,
		       s->sc.alerts_open, s->sc.alerts_acked);
	if (s->notify_ok) {
		printf(", \"notify\": {");
		if (s->counts_ok)
			printf("\"queued\": %" PRId64 ", \"claimed\": %" PRId64 ", \"failed\": %" PRId64
			       ", ", s->sc.notify_pending, s->sc.notify_claimed, s->sc.notify_failed);
		gw_cli_notify_status(s->ns, true);
		printf("}");
	}
	printf("}}\n");
}

static void print_text(const struct status *s)
{
	const struct gw_config *g = s->g;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	printf("this gateway: %s%s%s\n", s->owner != NULL ? s->owner : host,
	       s->owner != NULL ? "" : " (no status file yet)",
	       s->running || s->owner == NULL ? "" : " (its last run)");
	printf("daemon      %s%s%s\n", s->running ? "running, pid " : "not running",
	       s->running ? s->pid : "", s->running ? "" : " (counters of the last run)");
	printf("spool       %s: %" PRIu64 " messages, %" PRIu64 " bytes (quota %" PRIu64
	       " messages, %" PRIu64 " bytes)%s\n", g->listen->spool_dir, s->msgs, s->bytes,
	       g->listen->spool_quota_messages, g->listen->spool_quota_bytes,
	       s->spool_ok ? "" : " (unreadable)");
	if (s->incomplete)
		printf("            %" PRIu64 " incomplete (discarded at the next start)\n",
		       s->incomplete);
	printf("last commit %s\n", s->last_commit);
	for (size_t i = 0; counters[i] != NULL; i++) {
		const char *v = kv_get(s->kv, s->n, counters[i]);
		printf("%-20s%s\n", counters[i], v != NULL ? v : "0");
	}
	printf("shared state: %s\n", strcmp(g->store_backend, "postgresql") == 0
	       ? "the database every gateway on it uses" : "this gateway's own store");
	printf("store       %s %s: %s%s%s\n", g->store_backend, gw_cli_store_where(g),
	       s->store_ok ? "ok" : "unavailable", s->store_ok ? "" : ": ",
	       s->store_ok ? "" : s->store_error);
	if (s->counts_ok) {
		printf("devices     %" PRId64 "\nreports     %" PRId64 "\n", s->sc.devices,
		       s->sc.reports);
		printf("alerts      %" PRId64 " open, %" PRId64 " acknowledged\n", s->sc.alerts_open,
		       s->sc.alerts_acked);
		printf("notify      %" PRId64 " queued (%" PRId64 " claimed by a gateway now), %"
		       PRId64 " failed\n", s->sc.notify_pending, s->sc.notify_claimed,
		       s->sc.notify_failed);
	}
	if (s->notify_ok)
		gw_cli_notify_status(s->ns, false);
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
	struct status *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		fprintf(stderr, "telemail-mailgw: status: out of memory\n");
		return GW_EXIT_FAILURE;
	}
	s->g = c->cfg;
	gather(s);
	if (json)
		print_json(s);
	else
		print_text(s);
	int rc = s->store_ok && s->spool_ok ? GW_EXIT_OK : GW_EXIT_FAILURE;
	free(s);
	return rc;
}

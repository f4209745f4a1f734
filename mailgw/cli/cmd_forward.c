/* telemail-mailgw — `forward`: the forwarding queue (issue 17).
 *   forward status [--json]       per endpoint: queued, oldest age, sent, retries, dead
 *   forward run-once              one pass: fan out, send what is due
 *   forward dead list [--json]    the dead-letter list, with each reply
 *   forward dead retry ID|--all   queue dead items again
 *   forward dead drop ID|--all    forget dead items */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <telemail/error.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/config_forward.h"
#include "forward/forward.h"
#include "store/store.h"

static const char usage[] =
	"usage: telemail-mailgw forward status [--json] | run-once | dead list [--json] |\n"
	"       dead retry ID|--all | dead drop ID|--all\n";

static int need_forward(struct gw_cli *c)
{
	if (gw_cli_store(c) < 0)
		return -1;
	if (c->cfg->forward == NULL) {
		fprintf(stderr, "telemail-mailgw: forward: no forward: section in %s\n",
			c->config_path);
		return -1;
	}
	return 0;
}

static void log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

static int cmd_status(struct gw_cli *c, bool json)
{
	const struct gw_forward_config *f = c->cfg->forward;
	int64_t now = (int64_t)time(NULL);
	json_t *arr = json ? json_array() : NULL;
	for (size_t i = 0; i < f->n_endpoints; i++) {
		const struct gw_forward_endpoint *e = &f->endpoints[i];
		struct gw_fwd_stats s;
		struct tm_error err = {0};
		if (gw_store_forward_stats(c->store, e->name, &s, &err) != GW_STORE_OK) {
			gw_cli_error("forward status", &err);
			json_decref(arr);
			return GW_EXIT_FAILURE;
		}
		int64_t age = s.queued ? now - s.oldest_queued : 0;
		if (json) {
			json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}",
				"endpoint", e->name, "url", e->url, "queued", (json_int_t)s.queued,
				"oldest_age", (json_int_t)age, "sent", (json_int_t)s.sent,
				"retries", (json_int_t)s.retries, "dead", (json_int_t)s.dead,
				"last_error", s.last_error));
			continue;
		}
		printf("%s %s\n", e->name, e->url);
		printf("  queued      %zu (oldest %" PRId64 " s)\n", s.queued, age);
		printf("  sent        %" PRId64 "\n", s.sent);
		printf("  retries     %" PRId64 "\n", s.retries);
		printf("  dead        %zu\n", s.dead);
		if (s.last_error[0] != '\0')
			printf("  last error  %s\n", s.last_error);
	}
	if (json) {
		char *t = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", t != NULL ? t : "[]");
		free(t);
		json_decref(arr);
	}
	return GW_EXIT_OK;
}

static int cmd_run_once(struct gw_cli *c)
{
	struct gw_forward_run r = { .cfg = c->cfg->forward, .svc = c->cfg->service,
				    .log = log_stderr };
	struct gw_forward_counts k;
	struct tm_error err = {0};
	if (gw_forward_run_once(c->store, &r, &k, &err) < 0) {
		gw_cli_error("forward run-once", &err);
		return GW_EXIT_FAILURE;
	}
	printf("queued %zu, batches %zu, sent %zu, retried %zu, dead %zu\n", k.queued, k.batches,
	       k.sent, k.retried, k.dead);
	return k.retried + k.dead > 0 ? GW_EXIT_REJECTED : GW_EXIT_OK;
}

static int cmd_dead_list(struct gw_cli *c, bool json)
{
	struct gw_fwd_item *items;
	size_t n;
	struct tm_error err = {0};
	if (gw_store_forward_dead_list(c->store, &items, &n, &err) != GW_STORE_OK) {
		gw_cli_error("forward dead list", &err);
		return GW_EXIT_FAILURE;
	}
	json_t *arr = json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		const struct gw_fwd_item *it = &items[i];
		if (json)
			json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:s}",
				"id", (json_int_t)it->id, "endpoint", it->endpoint,
				"event_id", it->event_id, "type", gw_fwd_kind_name(it->kind),
				"serial", it->serial, "tenant", it->tenant,
				"attempts", (json_int_t)it->attempts, "error", it->last_error));
		else
			printf("%" PRId64 " %s %s %s %s attempts=%" PRId64 " %s\n", it->id, it->endpoint,
			       gw_fwd_kind_name(it->kind), it->event_id, it->serial, it->attempts,
			       it->last_error);
	}
	if (json) {
		char *t = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", t != NULL ? t : "[]");
		free(t);
		json_decref(arr);
	}
	gw_fwd_items_free(items, n);
	return GW_EXIT_OK;
}

static int cmd_dead_change(struct gw_cli *c, bool retry, const char *which)
{
	int64_t id = 0;
	if (strcmp(which, "--all") != 0) {
		char *end;
		long long v = strtoll(which, &end, 10);
		if (*end != '\0' || v <= 0) {
			fputs(usage, stderr);
			return GW_EXIT_USAGE;
		}
		id = v;
	}
	size_t changed = 0;
	struct tm_error err = {0};
	int rc = retry ? gw_store_forward_dead_retry(c->store, id, (int64_t)time(NULL), &changed, &err)
		       : gw_store_forward_dead_drop(c->store, id, &changed, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error(retry ? "forward dead retry" : "forward dead drop", &err);
		return err.reason != NULL && strcmp(err.reason, "forward.not_found") == 0
			       ? GW_EXIT_REJECTED : GW_EXIT_FAILURE;
	}
	printf("%s %zu\n", retry ? "queued again" : "dropped", changed);
	return GW_EXIT_OK;
}

int gw_cmd_forward(struct gw_cli *c, int argc, char **argv)
{
	bool json = argc > 2 && strcmp(argv[argc - 1], "--json") == 0;
	int nargs = json ? argc - 1 : argc;
	if (nargs < 2) {
		fputs(usage, stderr);
		return GW_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (need_forward(c) < 0)
		return GW_EXIT_USAGE;
	if (strcmp(sub, "status") == 0 && nargs == 2)
		return cmd_status(c, json);
	if (strcmp(sub, "run-once") == 0 && nargs == 2 && !json)
		return cmd_run_once(c);
	if (strcmp(sub, "dead") == 0 && nargs >= 3) {
		if (strcmp(argv[2], "list") == 0 && nargs == 3)
			return cmd_dead_list(c, json);
		if ((strcmp(argv[2], "retry") == 0 || strcmp(argv[2], "drop") == 0) && nargs == 4 &&
		    !json)
			return cmd_dead_change(c, strcmp(argv[2], "retry") == 0, argv[3]);
	}
	fputs(usage, stderr);
	return GW_EXIT_USAGE;
}

/* telemail-mailgw — `replay` and `quarantine`: messages through the pipeline. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <telemail/buf.h>
#include <telemail/log.h>
#include <telemail/time.h>

#include "store/audit.h"
#include "cli/cli.h"
#include "config/config.h"
#include "store/quarantine.h"
#include "ingest/replay.h"

struct out_ctx {
	bool json;
	json_t *list;   /* --json: the messages, printed at the end */
};

static void print_result(void *vctx, const struct gw_item *it)
{
	struct out_ctx *o = vctx;
	char outcome[96];
	gw_item_outcome_text(it, outcome, sizeof(outcome));
	bool ok = it->done && (it->outcome == GW_OUTCOME_STORED || it->outcome == GW_OUTCOME_DUPLICATE);
	if (o->json) {
		json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "file", it->source,
				      "message_id", it->message_id, "outcome",
				      gw_outcome_name(it->done ? it->outcome : GW_OUTCOME_DEFERRED),
				      "device", it->serial, "report_id", it->report_id, "sha256",
				      it->raw_sha256);
		if (m != NULL && !ok) {
			json_object_set_new(m, "reason", json_string(it->err.reason ? it->err.reason
										 : "store.unavailable"));
			json_object_set_new(m, "detail", json_string(it->err.msg));
		}
		if (m != NULL && it->quarantine_id[0])
			json_object_set_new(m, "quarantine_id", json_string(it->quarantine_id));
		json_array_append_new(o->list, m);
		return;
	}
	/* the same line as the daemon's, with the file in place of the queue id */
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_add(&l, "file", it->source);
	tm_log_add(&l, "message_id", it->message_id[0] ? it->message_id : "-");
	tm_log_add(&l, "outcome", outcome);
	tm_log_add(&l, "device", it->serial[0] ? it->serial : "-");
	tm_log_add(&l, "report", it->report_id[0] ? it->report_id : "-");
	if (!ok)
		tm_log_add(&l, "detail", it->err.msg);
	puts(tm_log_end(&l));
}

static int setup_replay(struct gw_cli *c, struct gw_pipeline *p, struct gw_replay *r,
			unsigned workers, struct out_ctx *o)
{
	struct tm_error err = {0};
	if (gw_cli_store(c) < 0 || gw_cli_quarantine(c) < 0)
		return GW_EXIT_FAILURE;
	if (gw_pipeline_init(p, c->cfg, &err) < 0) {
		gw_cli_error("configuration", &err);
		return GW_EXIT_USAGE;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	*r = (struct gw_replay){
		.pipeline = p,
		.store_opts = gw_cli_store_options(c->cfg),
		.writer = c->store, .quarantine = c->quarantine,
		.workers = workers ? workers : c->cfg->workers ? c->cfg->workers
					    : (unsigned)(cores > 0 ? cores : 1),
		.batch_size = c->cfg->batch_size, .on_result = print_result, .ctx = o,
	};
	return GW_EXIT_OK;
}

int gw_cmd_replay(struct gw_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "workers", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned workers = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j') {
			c->json = true;
		} else if (ch == 'w') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > GW_CONFIG_MAX_WORKERS) {
				fprintf(stderr, "telemail-mailgw: --workers: 1 to %d\n", GW_CONFIG_MAX_WORKERS);
				return GW_EXIT_USAGE;
			}
			workers = (unsigned)v;
		} else {
			return GW_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "telemail-mailgw: replay needs FILE or DIR arguments\n");
		return GW_EXIT_USAGE;
	}
	struct tm_error err = {0};
	char **files = NULL;
	size_t n = 0;
	if (gw_replay_expand(argv + optind, (size_t)(argc - optind), &files, &n, &err) < 0) {
		gw_cli_error("replay", &err);
		return GW_EXIT_USAGE;
	}
	struct out_ctx o = { .json = c->json, .list = c->json ? json_array() : NULL };
	struct gw_pipeline p = {0};
	struct gw_replay r;
	struct gw_replay_counts k = {0};
	int rc = setup_replay(c, &p, &r, workers, &o);
	if (rc != GW_EXIT_OK)
		goto out;
	if (gw_replay_run(&r, files, n, &k, &err) < 0) {
		gw_cli_error("replay", &err);
		rc = GW_EXIT_FAILURE;
		goto out;
	}
	size_t total = k.stored + k.duplicate + k.quarantined + k.deferred;
	if (c->json) {
		json_t *doc = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "messages", o.list,
					"summary", "messages", (json_int_t)total, "stored",
					(json_int_t)k.stored, "duplicate", (json_int_t)k.duplicate,
					"quarantined", (json_int_t)k.quarantined, "deferred",
					(json_int_t)k.deferred);
		o.list = NULL;
		if (doc != NULL)
			json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(doc);
	} else {
		printf("replay: %zu messages: %zu stored, %zu duplicate, %zu quarantined, %zu deferred\n",
		       total, k.stored, k.duplicate, k.quarantined, k.deferred);
	}
	rc = (k.quarantined || k.deferred) ? GW_EXIT_REJECTED : GW_EXIT_OK;
out:
	json_decref(o.list);
	gw_pipeline_fini(&p);
	gw_replay_files_free(files, n);
	return rc;
}

/* ---- quarantine ---- */

static json_t *meta_json(const struct gw_quarantine_meta *m)
{
	char rat[32], qat[32];
	tm_time_format(m->received_at, rat, sizeof(rat));
	tm_time_format(m->quarantined_at, qat, sizeof(qat));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "id", m->id, "reason",
			 m->reason, "detail", m->detail, "message_id", m->message_id, "device",
			 m->serial, "report_id", m->report_id, "size", (json_int_t)m->size,
			 "received_at", rat, "quarantined_at", qat);
}

static int list_cb(void *ctx, const struct gw_quarantine_meta *m)
{
	json_t *list = ctx;
	if (list != NULL) {
		json_array_append_new(list, meta_json(m));
		return 0;
	}
	char qat[32];
	tm_time_format(m->quarantined_at, qat, sizeof(qat));
	printf("%.12s  %-20s  %-28s  %-12s  %s\n", m->id, qat, m->reason,
	       m->serial[0] ? m->serial : "-", m->detail);
	return 0;
}

static int q_list(struct gw_cli *c)
{
	struct tm_error err = {0};
	json_t *list = c->json ? json_array() : NULL;
	if (!c->json)
		printf("%-12s  %-20s  %-28s  %-12s  %s\n", "ID", "QUARANTINED", "REASON", "DEVICE",
		       "DETAIL");
	int rc = gw_quarantine_list(c->quarantine, list_cb, list, &err);
	if (rc == 0 && list != NULL) {
		json_dumpf(list, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	json_decref(list);
	if (rc < 0) {
		gw_cli_error("quarantine", &err);
		return GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

/* One entry with its raw message; prints the error itself. */
static int q_get(struct gw_cli *c, const char *id, struct gw_quarantine_meta *m,
		 struct tm_buf *raw)
{
	struct tm_error err = {0};
	tm_buf_init(raw);
	if (gw_quarantine_get(c->quarantine, id, m, raw, &err) < 0) {
		gw_cli_error(id, &err);
		tm_buf_fini(raw);
		return -1;
	}
	return 0;
}

static int q_show(struct gw_cli *c, const char *id)
{
	struct gw_quarantine_meta m;
	struct tm_buf raw;
	if (q_get(c, id, &m, &raw) < 0)
		return GW_EXIT_REJECTED;
	json_t *j = meta_json(&m);
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (raw.len < m.size) /* an over-size message: its first octets */
		printf("\n--- raw message (the first %zu of %" PRIu64 " bytes) ---\n", raw.len,
		       m.size);
	else
		printf("\n--- raw message (%zu bytes) ---\n", raw.len);
	fwrite(raw.data, 1, raw.len, stdout);
	tm_buf_fini(&raw);
	return GW_EXIT_OK;
}

/* The audit entry of a release (the message left the quarantine). */
static int audit_quarantine(struct gw_cli *c, const char *action,
			    const struct gw_quarantine_meta *m, const struct gw_item *it)
{
	struct tm_error err = {0};
	char object[160], outcome[96];
	gw_item_outcome_text(it, outcome, sizeof(outcome));
	snprintf(object, sizeof(object), "quarantine %.16s device %.40s outcome %.40s", m->id,
		 m->serial[0] ? m->serial : "-", outcome);
	if (gw_cli_store(c) < 0)
		return -1;
	if (gw_audit_append(c->store, NULL, action, object, it->tenant, m->raw_sha256, NULL,
			    (int64_t)time(NULL), &err) != GW_STORE_OK) {
		gw_cli_error("audit", &err);
		return -1;
	}
	return 0;
}

static int q_release(struct gw_cli *c, const char *id)
{
	struct tm_error err = {0};
	struct gw_quarantine_meta m;
	struct tm_buf raw;
	if (q_get(c, id, &m, &raw) < 0)
		return GW_EXIT_REJECTED;
	if (raw.len < m.size) {
		fprintf(stderr, "telemail-mailgw: %.12s: io.too_large: only the first %zu of %" PRIu64
			" octets of this message were kept; it cannot be released\n", m.id, raw.len,
			m.size);
		tm_buf_fini(&raw);
		return GW_EXIT_REJECTED;
	}
	struct out_ctx o = { .json = false };
	struct gw_pipeline p = {0};
	struct gw_replay r;
	int rc = setup_replay(c, &p, &r, 1, &o);
	if (rc == GW_EXIT_OK) {
		size_t len;
		uint8_t *bytes = tm_buf_take(&raw, &len);
		char src[80];
		snprintf(src, sizeof(src), "quarantine/%.12s", m.id);
		struct gw_item it;
		gw_item_init(&it, src, bytes, len, m.received_at);
		gw_replay_one(&r, &it, &err);
		bool again = !it.done || it.outcome == GW_OUTCOME_QUARANTINED;
		if (!again && gw_quarantine_remove(c->quarantine, m.id, &err) < 0) {
			gw_cli_error("quarantine remove", &err);
			rc = GW_EXIT_FAILURE;
		} else if (!again && audit_quarantine(c, "quarantine.release", &m, &it) < 0) {
			rc = GW_EXIT_FAILURE;
		} else {
			rc = again ? GW_EXIT_REJECTED : GW_EXIT_OK;
		}
		gw_item_fini(&it);
	}
	gw_pipeline_fini(&p);
	tm_buf_fini(&raw);
	return rc;
}

static int q_purge(struct gw_cli *c, const char *age)
{
	struct tm_error err = {0};
	int64_t secs;
	if (gw_config_duration(age, &secs, &err) < 0) {
		gw_cli_error("--older-than", &err);
		return GW_EXIT_USAGE;
	}
	size_t removed = 0;
	if (gw_quarantine_purge(c->quarantine, (int64_t)time(NULL) - secs, &removed, &err) < 0) {
		gw_cli_error("purge", &err);
		return GW_EXIT_FAILURE;
	}
	printf("quarantine: purged %zu entries older than %s\n", removed, age);
	if (removed > 0) {
		char object[160];
		snprintf(object, sizeof(object), "quarantine purge %zu entries older than %.40s", removed,
			 age);
		if (gw_cli_store(c) < 0 ||
		    gw_audit_append(c->store, NULL, "quarantine.purge", object, NULL, NULL, NULL,
				    (int64_t)time(NULL), &err) != GW_STORE_OK) {
			gw_cli_error("audit", &err);
			return GW_EXIT_FAILURE;
		}
	}
	return GW_EXIT_OK;
}

int gw_cmd_quarantine(struct gw_cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
	if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "release") != 0 &&
	    strcmp(sub, "purge") != 0) {
		fprintf(stderr, "telemail-mailgw: quarantine list | show ID | release ID | purge --older-than D\n");
		return GW_EXIT_USAGE;
	}
	if (gw_cli_quarantine(c) < 0)
		return GW_EXIT_FAILURE;
	if (strcmp(sub, "list") == 0)
		return q_list(c);
	if (strcmp(sub, "purge") == 0) {
		if (argc == 4 && strcmp(argv[2], "--older-than") == 0)
			return q_purge(c, argv[3]);
		fprintf(stderr, "telemail-mailgw: quarantine purge --older-than D (e.g. 30d)\n");
		return GW_EXIT_USAGE;
	}
	if (argc != 3) {
		fprintf(stderr, "telemail-mailgw: quarantine %s ID\n", sub);
		return GW_EXIT_USAGE;
	}
	return strcmp(sub, "show") == 0 ? q_show(c, argv[2]) : q_release(c, argv[2]);
}

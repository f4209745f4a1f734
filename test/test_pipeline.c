/* The gateway pipeline against the committed .eml fixtures (test/eml/replay):
 * every fixture, in order, through the code the daemon runs (gw_replay_one:
 * gw_pipeline_prepare + gw_pipeline_commit) against a fresh SQLite store and
 * quarantine; its outcome, reason, device and report id compared with
 * NN-name.expect; quarantined messages kept byte for byte; the real
 * `telemail-mailgw replay --json` over the whole directory; `quarantine
 * release` after enrolling the unknown device. The registry comes from
 * test/eml/registry.setup, run through the real command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "common.h"
#include "config/config.h"
#include "ingest/pipeline.h"
#include "store/quarantine.h"
#include "registry/registry.h"
#include "ingest/replay.h"
#include "store/store.h"

#define MAX_FIXTURES 200

/* One NN-name.expect. */
struct expect {
	char outcome[32];
	char reason[64];
	char device[GW_NAME_MAX + 1];
	char report_id[GW_NAME_MAX + 1];
};

/* A temporary gateway: tmp/pki → test/eml/pki, tmp/mailgw.yaml (the fixture
 * configuration plus state_dir), tmp/state. */
struct env {
	char *tmp;
	char cfg[600];
	char state[600];
	char gw[600];          /* the telemail-mailgw binary */
	char fixtures[600];    /* test/eml/replay */
};

static void env_init(struct env *e)
{
	e->tmp = tm_test_tmpdir();
	char *pki = tm_test_src("eml/pki");
	char *fx = tm_test_src("eml/replay");
	char *yaml = tm_test_src("eml/mailgw-test.yaml");
	const char *build = getenv("TM_BUILDDIR");
	cr_assert_not_null(build, "TM_BUILDDIR is not set (run through meson test)");
	snprintf(e->gw, sizeof(e->gw), "%s/mailgw/telemail-mailgw", build);
	snprintf(e->fixtures, sizeof(e->fixtures), "%s", fx);
	snprintf(e->cfg, sizeof(e->cfg), "%s/mailgw.yaml", e->tmp);
	snprintf(e->state, sizeof(e->state), "%s/state", e->tmp);
	char link[700];
	snprintf(link, sizeof(link), "%s/pki", e->tmp);
	cr_assert_eq(symlink(pki, link), 0, "symlink %s: %s", link, strerror(errno));
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(yaml, &b);
	tm_buf_printf(&b, "state_dir: %s\n", e->state);
	tm_test_write(e->cfg, b.data, b.len);
	tm_buf_fini(&b);
	free(pki), free(fx), free(yaml);
}

static void env_fini(struct env *e)
{
	tm_test_rmtree(e->tmp);
	free(e->tmp);
}

/* Run `telemail-mailgw -c CFG <args>` in tmp; its exit status. */
static int gw_run(const struct env *e, const char *args)
{
	return tm_test_sh("cd '%s' && '%s' -c mailgw.yaml %s", e->tmp, e->gw, args);
}

/* Every command line of test/eml/registry.setup, in order. */
static void registry_setup(const struct env *e)
{
	char *path = tm_test_src("eml/registry.setup");
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		char args[1100];
		snprintf(args, sizeof(args), "%s >/dev/null", line);
		cr_assert_eq(gw_run(e, args), 0, "registry.setup: '%s' failed", line);
		n++;
	}
	fclose(f);
	free(path);
	cr_assert_gt(n, 5, "registry.setup has too few commands");
}

static void read_expect(const char *eml, struct expect *x)
{
	char path[700];
	size_t l = strlen(eml);
	cr_assert(l > 4 && strcmp(eml + l - 4, ".eml") == 0, "%s: a fixture is named NN-name.eml", eml);
	snprintf(path, sizeof(path), "%.*s.expect", (int)(l - 4), eml);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: every fixture needs an .expect (%s)", path, strerror(errno));
	memset(x, 0, sizeof(*x));
	char line[256];
	unsigned seen = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		char *v = strstr(line, ": ");
		cr_assert_not_null(v, "%s: line '%s' is not 'key: value'", path, line);
		*v = '\0';
		v += 2;
		if (strcmp(line, "outcome") == 0)
			snprintf(x->outcome, sizeof(x->outcome), "%s", v), seen |= 1;
		else if (strcmp(line, "reason") == 0)
			snprintf(x->reason, sizeof(x->reason), "%s", v), seen |= 2;
		else if (strcmp(line, "device") == 0)
			snprintf(x->device, sizeof(x->device), "%s", v), seen |= 4;
		else if (strcmp(line, "report_id") == 0)
			snprintf(x->report_id, sizeof(x->report_id), "%s", v), seen |= 8;
		else
			cr_assert_fail("%s: unknown key '%s'", path, line);
	}
	fclose(f);
	cr_assert_eq(seen, 15u, "%s: needs outcome, reason, device and report_id", path);
	enum gw_outcome o;
	cr_assert_eq(gw_outcome_parse(x->outcome, &o), 0, "%s: bad outcome '%s'", path, x->outcome);
	if (strcmp(x->reason, "-") != 0)
		cr_assert_not_null(tm_reason_lookup(x->reason), "%s: unknown reason '%s'", path,
				   x->reason);
}

static const char *dash(const char *s)
{
	return s != NULL && s[0] ? s : "-";
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static void fixture_files(const struct env *e, char ***files, size_t *n)
{
	char *dirs[1] = { (char *)e->fixtures };
	struct tm_error err = {0};
	cr_assert_eq(gw_replay_expand(dirs, 1, files, n, &err), 0, "%s", err.msg);
	cr_assert_gt(*n, 30, "only %zu fixtures in %s", *n, e->fixtures);
	cr_assert_lt(*n, MAX_FIXTURES);
}

static int64_t db_count(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", db);
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(h));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

/* ---- in process: the daemon's code path, one fixture at a time ---- */

struct gateway {
	struct gw_config *cfg;
	struct gw_store *st;
	struct gw_quarantine *q;
	struct gw_pipeline p;
	struct gw_replay r;
};

static void gateway_open(const struct env *e, struct gateway *g)
{
	struct tm_error err = {0};
	memset(g, 0, sizeof(*g));
	cr_assert_eq(gw_config_load(e->cfg, &g->cfg, &err), 0, "%s: %s", err.reason, err.msg);
	struct gw_store_options so = { .backend = g->cfg->store_backend,
				       .path = g->cfg->store_path, .busy_timeout_ms = 5000,
				       .quarantine_dir = g->cfg->quarantine_dir };
	cr_assert_eq(gw_store_open(&so, &g->st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_quarantine_open(&so, &g->q, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_pipeline_init(&g->p, g->cfg, &err), 0, "%s: %s", err.reason, err.msg);
	g->r = (struct gw_replay){ .pipeline = &g->p, .store_opts = so, .writer = g->st,
				   .quarantine = g->q, .workers = 1, .batch_size = 1 };
}

static void gateway_close(struct gateway *g)
{
	gw_pipeline_fini(&g->p);
	gw_quarantine_close(g->q);
	gw_store_close(g->st);
	gw_config_free(g->cfg);
}

/* Replay one file; compare with its .expect (expect_again: a second replay,
 * where every stored report is a duplicate). */
static void replay_fixture(struct gateway *g, const char *file, bool again)
{
	struct expect x;
	read_expect(file, &x);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(file, &b);
	size_t len;
	uint8_t *raw = tm_buf_take(&b, &len);
	cr_assert_not_null(raw);
	struct gw_item it;
	gw_item_init(&it, file, raw, len, (int64_t)time(NULL));
	struct tm_error err = {0};
	cr_assert_eq(gw_replay_one(&g->r, &it, &err), 0, "%s", err.msg);
	const char *name = base_name(file);
	cr_assert(it.done, "%s: no outcome committed (%s)", name, dash(it.err.reason));

	const char *want = again && strcmp(x.outcome, "stored") == 0 ? "duplicate" : x.outcome;
	bool ok = it.outcome == GW_OUTCOME_STORED || it.outcome == GW_OUTCOME_DUPLICATE;
	cr_expect_str_eq(gw_outcome_name(it.outcome), want, "%s: outcome", name);
	cr_expect_str_eq(ok ? "-" : dash(it.err.reason), x.reason, "%s: reason (%s)", name,
			 it.err.msg);
	cr_expect_str_eq(dash(it.serial), x.device, "%s: device", name);
	cr_expect_str_eq(dash(it.report_id), x.report_id, "%s: report_id", name);

	/* the message log says the same */
	struct gw_msglog_row row;
	bool found = false;
	cr_assert_eq(gw_store_msglog_get(g->st, it.raw_sha256, it.message_id, &row, &found, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(found, "%s: no message-log row", name);
	/* a message whose report was stored from these very bytes keeps saying
	 * "stored" (a replay, or a byte-identical copy: the same message) */
	const char *logged = x.outcome;
	struct gw_report_ref ref;
	bool have_ref = false;
	if (!ok || gw_store_report_get(g->st, x.report_id, &ref, &have_ref, &err) != GW_STORE_OK)
		have_ref = false;
	if (have_ref && strcmp(ref.raw_sha256, it.raw_sha256) == 0)
		logged = "stored";
	cr_expect_str_eq(gw_outcome_name(row.outcome), logged, "%s: message log", name);

	if (it.outcome == GW_OUTCOME_QUARANTINED) {
		cr_expect_str_eq(row.reason, x.reason, "%s: message-log reason", name);
		cr_expect_str_eq(it.quarantine_id, it.raw_sha256, "%s: quarantine id", name);
		struct tm_buf kept;
		tm_buf_init(&kept);
		struct gw_quarantine_meta m;
		cr_assert_eq(gw_quarantine_get(g->q, it.quarantine_id, &m, &kept, &err), 0, "%s",
			     err.msg);
		cr_expect(kept.len == it.len && memcmp(kept.data, it.raw, it.len) == 0,
			  "%s: the quarantined copy differs from the message", name);
		tm_buf_fini(&kept);
		cr_expect_str_eq(m.reason, x.reason, "%s: quarantine reason", name);
		cr_expect_str_eq(m.detail, it.err.msg, "%s: quarantine detail", name);
		cr_expect_gt(strlen(m.detail), 10, "%s: a human message names what was wrong", name);
	} else {
		found = false;
		cr_assert_eq(gw_store_report_get(g->st, x.report_id, &ref, &found, &err), GW_STORE_OK,
			     "%s", err.msg);
		cr_expect(found, "%s: report %s not in the store", name, x.report_id);
		if (found)
			cr_expect_str_eq(ref.serial, x.device, "%s: stored serial", name);
	}
	gw_item_fini(&it);
}

static struct env E;

static void setup(void)
{
	env_init(&E);
	registry_setup(&E);
}

static void teardown(void)
{
	env_fini(&E);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 120);

static void device_seq(struct gateway *g, const char *serial, int64_t seq, const char *report_id)
{
	struct gw_device_row d;
	bool found = false;
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_device_get(g->st, serial, &d, &found, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert(found, "device %s", serial);
	cr_expect_eq(d.last_seq, seq, "%s: last_seq %lld, want %lld", serial, (long long)d.last_seq,
		     (long long)seq);
	cr_expect_str_eq(d.last_report_id, report_id, "%s: last_report_id", serial);
}

Test(pipeline, fixtures_in_order)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	struct gateway g;
	gateway_open(&E, &g);
	size_t stored = 0, messages = 0;
	for (size_t i = 0; i < n; i++) {
		struct expect x;
		read_expect(files[i], &x);
		stored += strcmp(x.outcome, "stored") == 0;
		replay_fixture(&g, files[i], false);
	}
	/* 14-duplicate-copy is 02 byte for byte: one message-log row for both */
	messages = n - 1;
	char *db = strdup(g.cfg->store_path);

	/* late and out of order: seq 104 arrived after 106 and did not move last_seq back */
	device_seq(&g, "XK100001", 106, "7e1a0000-0000-4000-8000-000000000106");
	device_seq(&g, "XK100002", 204, "7e1a0000-0000-4000-8000-000000000204");
	device_seq(&g, "MP-0042", 1, "7e1a0000-0000-4000-8000-000000004201");
	cr_expect_eq(db_count(db, "SELECT count(*) FROM reports WHERE report_id = "
			      "'7e1a0000-0000-4000-8000-000000000104'"), 1);

	int64_t reports = db_count(db, "SELECT count(*) FROM reports");
	int64_t log = db_count(db, "SELECT count(*) FROM message_log");
	cr_expect_eq(reports, (int64_t)stored, "reports rows %lld, stored fixtures %zu",
		     (long long)reports, stored);
	cr_expect_eq(log, (int64_t)messages, "message_log rows %lld, messages %zu", (long long)log,
		     messages);

	/* all of it again: stored ones are duplicates now, the rest as before, nothing new */
	for (size_t i = 0; i < n; i++)
		replay_fixture(&g, files[i], true);
	cr_expect_eq(db_count(db, "SELECT count(*) FROM reports"), reports);
	cr_expect_eq(db_count(db, "SELECT count(*) FROM message_log"), log);
	device_seq(&g, "XK100001", 106, "7e1a0000-0000-4000-8000-000000000106");

	free(db);
	gateway_close(&g);
	gw_replay_files_free(files, n);
}

/* ---- the real binary ---- */

static json_t *run_json(const struct env *e, const char *args, int *status)
{
	char out[700], cmd[2000];
	snprintf(out, sizeof(out), "%s/out.json", e->tmp);
	snprintf(cmd, sizeof(cmd), "%s > '%s'", args, out);
	*status = gw_run(e, cmd);
	json_error_t jerr;
	json_t *doc = json_load_file(out, 0, &jerr);
	cr_assert_not_null(doc, "%s: not JSON: %s (line %d)", args, jerr.text, jerr.line);
	return doc;
}

static size_t summary(const json_t *doc, const char *key)
{
	json_t *v = json_object_get(json_object_get(doc, "summary"), key);
	cr_assert(json_is_integer(v), "summary.%s", key);
	return (size_t)json_integer_value(v);
}

static const char *jstr(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));
	return s != NULL ? s : "";
}

Test(pipeline, binary_replay_json_and_release)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	size_t want[4] = {0};
	const char *names[4] = { "stored", "duplicate", "quarantined", "deferred" };
	char unknown_sha[GW_SHA256_HEX] = "", tampered_sha[GW_SHA256_HEX] = "";
	for (size_t i = 0; i < n; i++) {
		struct expect x;
		read_expect(files[i], &x);
		enum gw_outcome o;
		cr_assert_eq(gw_outcome_parse(x.outcome, &o), 0);
		want[o]++;
		struct tm_buf b;
		tm_buf_init(&b);
		tm_test_read(files[i], &b);
		if (strcmp(x.reason, "device.unknown") == 0)
			tm_sha256_hex(b.data, b.len, unknown_sha);
		if (strcmp(x.reason, "smime.tampered") == 0)
			tm_sha256_hex(b.data, b.len, tampered_sha);
		tm_buf_fini(&b);
	}
	cr_assert(unknown_sha[0] && tampered_sha[0], "the fixtures lack device.unknown or smime.tampered");

	char args[900];
	snprintf(args, sizeof(args), "replay --json --workers 1 '%s'", E.fixtures);
	int status;
	json_t *doc = run_json(&E, args, &status);
	cr_expect_eq(status, 1, "replay with quarantined messages exits 1, not %d", status);
	cr_expect_eq(summary(doc, "messages"), n);
	for (int k = 0; k < 4; k++)
		cr_expect_eq(summary(doc, names[k]), want[k], "summary.%s: %zu, want %zu", names[k],
			     summary(doc, names[k]), want[k]);
	/* one worker: results come in file order; each matches its .expect */
	json_t *msgs = json_object_get(doc, "messages");
	cr_assert_eq(json_array_size(msgs), n);
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(msgs, i);
		struct expect x;
		read_expect(files[i], &x);
		const char *name = base_name(files[i]);
		cr_expect_str_eq(base_name(jstr(m, "file")), name);
		cr_expect_str_eq(jstr(m, "outcome"), x.outcome, "%s", name);
		cr_expect_str_eq(dash(jstr(m, "reason")), x.reason, "%s", name);
		cr_expect_str_eq(dash(jstr(m, "device")), x.device, "%s", name);
		cr_expect_str_eq(dash(jstr(m, "report_id")), x.report_id, "%s", name);
	}
	json_decref(doc);

	char db[700];
	snprintf(db, sizeof(db), "%s/telemail.db", E.state);
	int64_t reports = db_count(db, "SELECT count(*) FROM reports");
	cr_assert_eq(reports, (int64_t)want[GW_OUTCOME_STORED]);

	/* a message that is still bad stays in quarantine */
	snprintf(args, sizeof(args), "quarantine release %.12s >/dev/null", tampered_sha);
	cr_expect_eq(gw_run(&E, args), 1, "releasing a tampered message must fail");
	/* enroll the unknown device, release its report: stored, and gone from quarantine */
	snprintf(args, sizeof(args), "quarantine release %.12s >/dev/null", unknown_sha);
	cr_expect_eq(gw_run(&E, args), 1, "release before enrollment is refused again");
	cr_assert_eq(gw_run(&E, "enroll --cert pki/dev-XK300001.pem --tenant acme >/dev/null"), 0);
	cr_expect_eq(gw_run(&E, args), 0, "release after enrollment stores the report");
	cr_expect_eq(db_count(db, "SELECT count(*) FROM reports"), reports + 1);
	cr_expect_eq(db_count(db, "SELECT count(*) FROM reports WHERE serial = 'XK300001'"), 1);
	char sql[300];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM message_log WHERE raw_sha256 = '%s' AND outcome = 'stored'",
		 unknown_sha);
	cr_expect_eq(db_count(db, sql), 1, "the message log says stored after the release");
	/* the registry changes and the release are in the audit log (issue 14, item 25) */
	cr_expect_eq(db_count(db, "SELECT count(*) FROM svc_audit WHERE action = 'tenant.add'"
			      " AND object = 'tenant acme-east parent acme'"), 1);
	cr_expect_eq(db_count(db, "SELECT count(*) FROM svc_audit WHERE action = 'quarantine.release'"),
		     1, "one release succeeded; the two refused ones changed nothing");
	cr_expect_eq(gw_run(&E, "audit verify >/dev/null"), 0);

	doc = run_json(&E, "quarantine list --json", &status);
	cr_expect_eq(status, 0);
	cr_assert(json_is_array(doc));
	bool has_unknown = false, has_tampered = false;
	for (size_t i = 0; i < json_array_size(doc); i++) {
		const char *id = jstr(json_array_get(doc, i), "id");
		has_unknown |= strcmp(id, unknown_sha) == 0;
		has_tampered |= strcmp(id, tampered_sha) == 0;
	}
	cr_expect(!has_unknown, "the released message is still in quarantine");
	cr_expect(has_tampered, "the tampered message left quarantine");
	cr_expect_eq(json_array_size(doc), want[GW_OUTCOME_QUARANTINED] - 1);
	json_decref(doc);
	gw_replay_files_free(files, n);
}

/* Counts do not depend on the order the workers finish in. */
Test(pipeline, binary_replay_two_workers)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	size_t want[4] = {0};
	for (size_t i = 0; i < n; i++) {
		struct expect x;
		enum gw_outcome o;
		read_expect(files[i], &x);
		cr_assert_eq(gw_outcome_parse(x.outcome, &o), 0);
		want[o]++;
	}
	char args[900];
	snprintf(args, sizeof(args), "replay --json --workers 2 '%s'", E.fixtures);
	int status;
	json_t *doc = run_json(&E, args, &status);
	cr_expect_eq(status, 1);
	cr_expect_eq(summary(doc, "messages"), n);
	cr_expect_eq(summary(doc, "stored"), want[GW_OUTCOME_STORED]);
	cr_expect_eq(summary(doc, "duplicate"), want[GW_OUTCOME_DUPLICATE]);
	cr_expect_eq(summary(doc, "quarantined"), want[GW_OUTCOME_QUARANTINED]);
	cr_expect_eq(summary(doc, "deferred"), 0);
	json_decref(doc);
	gw_replay_files_free(files, n);
}

/* Only the fixtures that must be accepted: exit 0. */
Test(pipeline, binary_replay_good_only_exits_0)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	struct tm_buf args;
	tm_buf_init(&args);
	tm_buf_append_str(&args, "replay");
	size_t good = 0;
	for (size_t i = 0; i < n; i++) {
		struct expect x;
		read_expect(files[i], &x);
		if (strcmp(x.outcome, "stored") == 0 || strcmp(x.outcome, "duplicate") == 0) {
			tm_buf_printf(&args, " '%s'", files[i]);
			good++;
		}
	}
	cr_assert_gt(good, 10);
	tm_buf_printf(&args, " > '%s/out.txt'", E.tmp);
	cr_expect_eq(gw_run(&E, (const char *)args.data), 0, "replay of good fixtures exits 0");
	char path[700];
	snprintf(path, sizeof(path), "%s/out.txt", E.tmp);
	struct tm_buf out;
	tm_buf_init(&out);
	tm_test_read(path, &out);
	char line[200];
	snprintf(line, sizeof(line), "replay: %zu messages: ", good);
	cr_expect_not_null(strstr((const char *)out.data, line), "summary line: %s", out.data);
	cr_expect_not_null(strstr((const char *)out.data, " 0 quarantined, 0 deferred"));
	tm_buf_fini(&out);
	tm_buf_fini(&args);
	gw_replay_files_free(files, n);
}

/* deferred: the store is locked by another writer. The item gets no outcome
 * (it must be kept and tried again: "deferred:store.busy"); once the lock is
 * gone the same message is stored. */
Test(pipeline, locked_store_defers_then_stores)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	struct expect x;
	read_expect(files[0], &x);
	cr_assert_str_eq(x.outcome, "stored", "the first fixture is a good report");

	struct gateway g;
	gateway_open(&E, &g);
	struct tm_error err = {0};
	struct gw_store *fast = NULL;
	struct gw_store_options so = { .backend = "sqlite", .path = g.cfg->store_path,
				       .busy_timeout_ms = 20 };
	cr_assert_eq(gw_store_open(&so, &fast, &err), GW_STORE_OK, "%s", err.msg);
	g.r.writer = fast;

	sqlite3 *lock = NULL;
	cr_assert_eq(sqlite3_open(g.cfg->store_path, &lock), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(files[0], &b);
	size_t len;
	uint8_t *raw = tm_buf_take(&b, &len);
	struct gw_item it;
	gw_item_init(&it, files[0], raw, len, (int64_t)time(NULL));
	cr_assert_eq(gw_replay_one(&g.r, &it, &err), 0);
	cr_expect(!it.done, "a locked store gave an outcome");
	cr_expect_str_eq(dash(it.err.reason), "store.busy");
	char text[96];
	gw_item_outcome_text(&it, text, sizeof(text));
	cr_expect_str_eq(text, "deferred:store.busy");
	gw_item_fini(&it);

	cr_assert_eq(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);
	tm_buf_init(&b);
	tm_test_read(files[0], &b);
	raw = tm_buf_take(&b, &len);
	gw_item_init(&it, files[0], raw, len, (int64_t)time(NULL));
	cr_assert_eq(gw_replay_one(&g.r, &it, &err), 0);
	cr_expect(it.done);
	cr_expect_str_eq(gw_outcome_name(it.outcome), "stored");
	cr_expect_str_eq(it.report_id, x.report_id);
	gw_item_fini(&it);

	gw_store_close(fast);
	gateway_close(&g);
	gw_replay_files_free(files, n);
}

/* Issue 14, item 5: a file over GW_REPLAY_MAX_FILE (50 MB) replayed with a
 * good message. It used to hold the batch hostage (its quarantine failed,
 * the batch was rolled back five times: both deferred, nothing logged). The
 * good one is stored; the big one is quarantined with io.too_large, kept as
 * its first 64 KiB under the SHA-256 of the whole file with its full size,
 * and both have their message-log row. */
Test(pipeline, oversize_file_does_not_hold_its_batch, .timeout = 240)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	struct expect x;
	read_expect(files[0], &x);
	cr_assert_str_eq(x.outcome, "stored", "the first fixture is a good report");
	const size_t big = 50u << 20;
	cr_assert_gt(big, GW_REPLAY_MAX_FILE);
	char dir[700], path[800], sha[GW_SHA256_HEX];
	snprintf(dir, sizeof(dir), "%s/in", E.tmp);
	cr_assert_eq(mkdir(dir, 0700), 0);
	uint8_t *bytes = malloc(big);
	cr_assert_not_null(bytes);
	for (size_t i = 0; i < big; i++)
		bytes[i] = (uint8_t)("Subject: big\r\n"[i % 14]);
	tm_sha256_hex(bytes, big, sha);
	snprintf(path, sizeof(path), "%s/b-big.eml", dir);
	tm_test_write(path, bytes, big);
	cr_assert_eq(tm_test_sh("cp '%s' '%s/a-good.eml'", files[0], dir), 0);

	int status;
	json_t *doc = run_json(&E, "replay --json in", &status);
	cr_expect_eq(status, 1, "exit 1: not all stored");
	cr_expect_eq(summary(doc, "stored"), 1);
	cr_expect_eq(summary(doc, "quarantined"), 1);
	cr_expect_eq(summary(doc, "deferred"), 0);
	json_t *msgs = json_object_get(doc, "messages");
	cr_assert_eq(json_array_size(msgs), 2);
	json_t *good = json_array_get(msgs, 0), *bad = json_array_get(msgs, 1);
	cr_expect_str_eq(jstr(good, "outcome"), "stored");
	cr_expect_str_eq(jstr(good, "report_id"), x.report_id);
	cr_expect_str_eq(jstr(bad, "outcome"), "quarantined");
	cr_expect_str_eq(jstr(bad, "reason"), "io.too_large");
	cr_expect_str_eq(jstr(bad, "sha256"), sha);
	cr_expect_str_eq(jstr(bad, "quarantine_id"), sha);
	cr_expect_not_null(strstr(jstr(bad, "detail"), "52428800 octets, more than the 33554432-octet "
					    "limit; the first 65536 octets are kept"), "%s",
			   jstr(bad, "detail"));
	json_decref(doc);

	/* the message log: a row each */
	char db[700], sql[300];
	snprintf(db, sizeof(db), "%s/telemail.db", E.state);
	cr_expect_eq(db_count(db, "SELECT count(*) FROM message_log"), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM message_log WHERE raw_sha256 = '%s' AND "
		 "outcome = 'quarantined' AND reason = 'io.too_large' AND quarantine_id = '%s'", sha, sha);
	cr_expect_eq(db_count(db, sql), 1);

	/* the quarantine entry: the head, the full size; shown, never released */
	struct gateway g;
	gateway_open(&E, &g);
	struct gw_quarantine_meta m;
	struct tm_buf kept;
	tm_buf_init(&kept);
	struct tm_error err = {0};
	cr_assert_eq(gw_quarantine_get(g.q, sha, &m, &kept, &err), 0, "%s", err.msg);
	cr_expect_eq(m.size, big);
	cr_expect_str_eq(m.reason, "io.too_large");
	cr_expect_eq(kept.len, GW_ITEM_KEEP_OVERSIZE);
	cr_expect(memcmp(kept.data, bytes, GW_ITEM_KEEP_OVERSIZE) == 0, "the kept head differs");
	gateway_close(&g);
	snprintf(sql, sizeof(sql), "quarantine show %.16s > show.out && grep -q 'raw message (the "
		 "first 65536 of 52428800 bytes)' show.out", sha);
	cr_expect_eq(gw_run(&E, sql), 0, "quarantine show");
	snprintf(sql, sizeof(sql), "quarantine release %.16s 2> rel.err; test $? = 1 && grep -q "
		 "'io.too_large: only the first 65536 of 52428800 octets' rel.err", sha);
	cr_expect_eq(gw_run(&E, sql), 0, "quarantine release refuses a kept head");
	tm_buf_fini(&kept);
	free(bytes);
	gw_replay_files_free(files, n);
}

/* ---- out of memory (issue 14, item 10) ----
 * This test binary is linked with -Wl,--wrap=malloc: the gateway's own
 * allocations go through __wrap_malloc, which fails the allocation of an
 * item (sizeof(struct gw_item), a size nothing else asks for) once armed. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static _Atomic long item_allocs_left = -1; /* -1: never fail */
void *__wrap_malloc(size_t n)
{
	if (n == sizeof(struct gw_item) && item_allocs_left >= 0 && item_allocs_left-- == 0)
		return NULL;
	return __real_malloc(n);
}

/* The replay's worker pool out of memory for an item: it used to abort();
 * now the items before it get their outcome and the run returns
 * internal.nomem naming the file left without one. */
Test(pipeline, replay_out_of_memory_is_an_error_not_abort)
{
	char **files;
	size_t n;
	fixture_files(&E, &files, &n);
	struct gateway g;
	gateway_open(&E, &g);
	struct gw_replay_counts k;
	struct tm_error err = {0};
	item_allocs_left = 2; /* the third item cannot be made */
	int rc = gw_replay_run(&g.r, files, 5, &k, &err);
	item_allocs_left = -1;
	cr_expect_eq(rc, -1);
	cr_expect_str_eq(dash(err.reason), "internal.nomem");
	cr_expect_not_null(strstr(err.msg, base_name(files[2])), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "out of memory"), "%s", err.msg);
	cr_expect_eq(k.stored + k.duplicate + k.quarantined + k.deferred, 2,
		     "the two items made got their outcome");
	gateway_close(&g);
	gw_replay_files_free(files, n);
}

/* generated_at must agree with the signing time (issue 14): a report
 * cannot claim another time than its signature, either way. */
Test(pipeline, generated_at_agrees_with_the_signing_time)
{
	const char *y = "schema_version: 1\nreport: {id: \"3f6c1a2e-9b4d-4c1e-8a7f-0d2b5e6c7a81\", "
			"seq: 1, kind: periodic, generated_at: \"2026-12-01T00:00:00Z\", agent: a}\n"
			"device: {serial: X}\n";
	struct tm_report *r = NULL;
	struct tm_error err = {0};
	cr_assert_eq(tm_report_read((const uint8_t *)y, strlen(y), NULL, &r, &err), 0, "%s", err.msg);
	const int64_t gen = 1796083200; /* 2026-12-01T00:00:00Z */
	cr_assert_eq(gw_store_check_signing_time(r, gen + 600, 600, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_store_check_signing_time(r, gen - 600, 600, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_store_check_signing_time(r, gen + 601, 600, &err), -1);
	cr_assert_str_eq(err.reason, "report.signing_time");
	cr_assert_not_null(strstr(err.msg, "before the signing time"), "%s", err.msg);
	tm_error_clear(&err);
	cr_assert_eq(gw_store_check_signing_time(r, gen - 5 * 86400, 600, &err), -1);
	cr_assert_str_eq(err.reason, "report.signing_time");
	cr_assert_not_null(strstr(err.msg, "after the signing time"), "%s", err.msg);
	tm_error_clear(&err);
	cr_assert_eq(gw_store_check_signing_time(r, INT64_MIN, 600, &err), -1);
	cr_assert_str_eq(err.reason, "report.signing_time");
	tm_report_free(r);
}

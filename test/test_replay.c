/* Crash safety of `telemail-mailgw replay` (mailgw/ingest/replay.c + the store's
 * batches): a corpus of a few hundred sealed reports (with resends of the
 * same report) is replayed by the real binary in a child process that is
 * killed with SIGKILL at several moments; after each kill the store must be
 * consistent (every stored report has its "stored" message-log row, device
 * facts follow the newest stored seq); a replay to completion then stores
 * every report exactly once with one message-log row per message, and a
 * third replay stores nothing and changes no row count. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/smime.h>

#include "common.h"
#include "registry/registry.h"
#include "scenario/sealed.h"
#include "store/store.h"

#define DEVICES 3
#define PER_DEVICE 90            /* distinct reports per device */
#define RESENDS 30               /* the same report sealed again (a new message) */
#define MESSAGES (DEVICES * PER_DEVICE + RESENDS)

struct corpus {
	char *tmp;
	char cfg[600], db[600], dir[600], gw[600];
};

/* generated_at of every report: the corpus is sealed now, and the gateway
 * wants generated_at within its skew of the signing time (one value, so a
 * resend is the same report). */
static char generated_at[32];

static void report_yaml(struct tm_buf *b, int dev, int seq)
{
	if (generated_at[0] == '\0') {
		time_t now = time(NULL);
		struct tm tmv;
		gmtime_r(&now, &tmv);
		strftime(generated_at, sizeof(generated_at), "%Y-%m-%dT%H:%M:%SZ", &tmv);
	}
	sc_sealed_yaml(b, dev, seq, generated_at);
}

static void make_corpus(struct corpus *c)
{
	c->tmp = tm_test_tmpdir();
	const char *build = getenv("TM_BUILDDIR");
	cr_assert_not_null(build, "TM_BUILDDIR is not set (run through meson test)");
	snprintf(c->gw, sizeof(c->gw), "%s/mailgw/telemail-mailgw", build);
	snprintf(c->cfg, sizeof(c->cfg), "%s/mailgw.yaml", c->tmp);
	snprintf(c->db, sizeof(c->db), "%s/state/telemail.db", c->tmp);
	snprintf(c->dir, sizeof(c->dir), "%s/in", c->tmp);
	cr_assert_eq(mkdir(c->dir, 0700), 0);
	char state[700];
	snprintf(state, sizeof(state), "%s/state", c->tmp);
	cr_assert_eq(mkdir(state, 0700), 0);

	char *pki = tm_test_pki("");
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_printf(&b,
		      "state_dir: %s\n"
		      "gateway:\n"
		      "  mailboxes: [telemail@gateway.example]\n"
		      "  keys:\n"
		      "    - cert: %sgw-ec.pem\n"
		      "      key: %sgw-ec.key\n"
		      "trust:\n"
		      "  ca_file: %sca.pem\n"
		      "store:\n"
		      "  batch_size: 8\n"
		      "workers: 2\n",
		      state, pki, pki, pki);
	tm_test_write(c->cfg, b.data, b.len);

	/* the registry */
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options so = { .backend = "sqlite", .path = c->db };
	cr_assert_eq(gw_store_open(&so, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 1717200000, &err), GW_STORE_OK, "%s",
		     err.msg);
	struct tm_identity *ids[DEVICES] = {0};
	for (int d = 0; d < DEVICES; d++) {
		char pem[700], key[700];
		snprintf(pem, sizeof(pem), "%sdev-XK10000%d.pem", pki, d + 1);
		snprintf(key, sizeof(key), "%sdev-XK10000%d.key", pki, d + 1);
		cr_assert_eq(gw_registry_enroll_file(st, pem, GW_ROLE_DEVICE, "acme", NULL, 0,
						     1717200000, &err),
			     GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(tm_identity_load(pem, key, NULL, &ids[d], &err), 0, "%s", err.msg);
	}
	gw_store_close(st);

	/* the messages: file names in a shuffled but fixed order, resends last-ish */
	struct tm_certlist *to = tm_certlist_new();
	char gwpem[700];
	snprintf(gwpem, sizeof(gwpem), "%sgw-ec.pem", pki);
	cr_assert_eq(tm_certlist_add_file(to, gwpem, &err), 0, "%s", err.msg);
	struct tm_buf msg;
	tm_buf_init(&msg);
	for (int i = 0; i < MESSAGES; i++) {
		int dev, seq;
		if (i < DEVICES * PER_DEVICE) {
			dev = 1 + i % DEVICES;
			seq = 1 + i / DEVICES;
		} else { /* a resend of an earlier report */
			int k = (i - DEVICES * PER_DEVICE) * 7;
			dev = 1 + k % DEVICES;
			seq = 1 + k / DEVICES;
		}
		report_yaml(&b, dev, seq);
		char from[64];
		snprintf(from, sizeof(from), "xk10000%d@devices.example", dev);
		struct tm_seal_opts o = { .signer = ids[dev - 1], .recipients = to,
					  .detached = (i % 3) == 0, .from = from,
					  .to = "telemail@gateway.example" };
		tm_buf_reset(&msg);
		cr_assert_eq(tm_smime_seal(&o, b.data, b.len, &msg, &err), 0, "%s", err.msg);
		char path[700];
		/* (i * 127) % MESSAGES spreads each device's seqs and the resends over the run */
		snprintf(path, sizeof(path), "%s/m%04d.eml", c->dir, (i * 127) % MESSAGES);
		tm_test_write(path, msg.data, msg.len);
	}
	for (int d = 0; d < DEVICES; d++)
		tm_identity_free(ids[d]);
	tm_certlist_free(to);
	tm_buf_fini(&msg);
	tm_buf_fini(&b);
	free(pki);
}

static int64_t q1(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", db);
	sqlite3_busy_timeout(h, 5000);
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(h));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(h));
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

/* What must hold after any crash. */
static void check_consistent(const char *db, const char *when)
{
	cr_expect_eq(q1(db, "SELECT count(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM "
			    "message_log m WHERE m.raw_sha256 = r.raw_sha256 AND m.outcome = 'stored'"
			    " AND m.report_id = r.report_id)"),
		     0, "%s: a stored report without its 'stored' message-log row", when);
	cr_expect_eq(q1(db, "SELECT count(*) FROM message_log m WHERE m.outcome = 'stored' AND NOT "
			    "EXISTS (SELECT 1 FROM reports r WHERE r.report_id = m.report_id)"),
		     0, "%s: a 'stored' message-log row without its report", when);
	cr_expect_eq(q1(db, "SELECT count(*) FROM message_log WHERE outcome NOT IN ('stored', "
			    "'duplicate')"),
		     0, "%s: an outcome other than stored or duplicate", when);
	cr_expect_eq(q1(db, "SELECT count(*) FROM reports r LEFT JOIN report_json j ON j.report = "
			    "r.id WHERE j.report IS NULL"),
		     0, "%s: a report without its JSON", when);
	cr_expect_eq(q1(db, "SELECT count(*) FROM devices d WHERE d.last_seq IS NOT (SELECT "
			    "max(seq) FROM reports r WHERE r.serial = d.serial)"),
		     0, "%s: a device's last_seq is not its newest stored seq", when);
	cr_expect_leq(q1(db, "SELECT count(*) FROM reports"), DEVICES * PER_DEVICE, "%s", when);
}

/* Start `replay` in a child; kill it after delay_ms (0: let it finish).
 * Returns the wait status; stdout goes to out (may be NULL: /dev/null). */
static int run_replay(const struct corpus *c, int delay_ms, const char *out)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(126);
		execl(c->gw, c->gw, "-c", c->cfg, "replay", "--workers", "2", c->dir, (char *)NULL);
		_exit(127);
	}
	if (delay_ms > 0) {
		struct timespec ts = { delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

Test(replay, sigkill_then_replay_stores_each_report_once, .timeout = 120)
{
	struct corpus c;
	make_corpus(&c);

	static const int delays[] = { 40, 120, 250, 400, 650 };
	int partial = 0;
	for (size_t k = 0; k < sizeof(delays) / sizeof(delays[0]); k++) {
		int st = run_replay(&c, delays[k], NULL);
		char when[64];
		snprintf(when, sizeof(when), "after SIGKILL at %d ms", delays[k]);
		if (WIFSIGNALED(st)) {
			cr_assert_eq(WTERMSIG(st), SIGKILL);
			struct stat sb;
			if (stat(c.db, &sb) == 0) {
				check_consistent(c.db, when);
				int64_t n = q1(c.db, "SELECT count(*) FROM reports");
				partial += n > 0 && n < DEVICES * PER_DEVICE;
				cr_log_info("%s: %lld of %d reports stored", when, (long long)n,
					    DEVICES * PER_DEVICE);
			}
		} else {
			cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replay %s: status %d", when,
				  st);
			cr_log_info("replay finished before the SIGKILL at %d ms", delays[k]);
		}
	}
	cr_expect_gt(partial, 0, "no kill landed in the middle of a replay: nothing was proved");

	/* to completion */
	char out[700];
	snprintf(out, sizeof(out), "%s/out.txt", c.tmp);
	int st = run_replay(&c, 0, out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replay to completion: status %d", st);
	check_consistent(c.db, "after the complete replay");
	int64_t reports = q1(c.db, "SELECT count(*) FROM reports");
	int64_t log = q1(c.db, "SELECT count(*) FROM message_log");
	cr_expect_eq(reports, DEVICES * PER_DEVICE, "every report stored exactly once");
	cr_expect_eq(q1(c.db, "SELECT count(DISTINCT report_id) FROM reports"), reports);
	cr_expect_eq(log, MESSAGES, "one message-log row per message");
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM message_log WHERE outcome = 'stored'"),
		     DEVICES * PER_DEVICE);
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM message_log WHERE outcome = 'duplicate'"),
		     RESENDS);
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM devices WHERE last_seq = 90"), DEVICES);
	int64_t counters = q1(c.db, "SELECT count(*) FROM counters");

	/* a third replay: nothing new */
	st = run_replay(&c, 0, out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "third replay: status %d", st);
	struct tm_buf o;
	tm_buf_init(&o);
	tm_test_read(out, &o);
	char want[128];
	snprintf(want, sizeof(want), "replay: %d messages: 0 stored, %d duplicate, 0 quarantined, 0 deferred",
		 MESSAGES, MESSAGES);
	cr_expect_not_null(strstr((const char *)o.data, want), "third replay summary: %s",
			   (const char *)o.data + (o.len > 120 ? o.len - 120 : 0));
	tm_buf_fini(&o);
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM reports"), reports);
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM message_log"), log);
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM counters"), counters);
	cr_expect_eq(q1(c.db, "SELECT count(*) FROM message_log WHERE outcome = 'stored'"),
		     DEVICES * PER_DEVICE);

	tm_test_rmtree(c.tmp);
	free(c.tmp);
}

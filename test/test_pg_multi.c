/* Several gateways, one database, and the faults they must survive (issue
 * 16): two real `telemail-mailgw serve` processes (each its own spool and
 * state directory, SMTP on a loopback port of its own) on one PostgreSQL
 * database of the fixture's server (test/pg_fixture.sh), a real webhook
 * receiver (test/notify/receiver.py) counting each delivery.
 *
 * A corpus of sealed reports from three devices goes half to each gateway
 * first and then to the other as well (a sender's MTA resending through the
 * other MX), in three phases:
 *   1. one gateway is killed with SIGKILL in the middle and started again
 *      (what it could not take is given to it again once it is back);
 *      every device's last report of the phase reports a jam: one alert
 *      per device, one webhook notification per alert;
 *   2. the gateways' database connections are cut (pg_terminate_backend by
 *      application_name) again and again while batches are in flight;
 *   3. the server is stopped hard (pg_ctl stop -m immediate) while mail
 *      arrives, and started again on the same data directory.
 * Then: every acknowledged report is stored exactly once, with all its rows
 * (no partial batch), every message's log row says stored or duplicate,
 * nothing is in the quarantine, the alerts were raised once and each
 * notification was delivered once, the gateways accepted (250) all along
 * and deferred with store.unavailable while the server was away, `audit
 * verify` passes, and `status` shows each gateway's own state beside the
 * same shared state. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/smime.h>
#include <telemail/smtpc.h>

#include "common.h"
#include "registry/registry.h"
#include "scenario/sealed.h"
#include "scenario/webhook.h"
#include "store/store.h"
#include "store_fixture.h"

#define DEVICES 3
#define PER_DEVICE 40             /* seqs 1..40 */
#define PHASE1 20                 /* seqs 1..20; seq 20 reports a jam */
#define PHASE2 30                 /* seqs 21..30: connections cut */
#define MESSAGES (DEVICES * PER_DEVICE)
#define MAILBOX "telemail@gateway.example"

struct gw {
	char name[8];
	char dir[600], conf[700], log[700], spool[700];
	pid_t pid;
	unsigned port;
};

static char *tmp;
static char bin[600], hook_dir[700];
static struct gw gws[2];
static struct tm_buf msgs[MESSAGES];    /* index: (seq - 1) * DEVICES + (dev - 1) */
static char generated_at[32];

/* ---- the corpus ---- */

static void report_yaml(struct tm_buf *b, int dev, int seq)
{
	sc_sealed_yaml(b, dev, seq, generated_at);
	if (seq >= PHASE1)   /* jammed from the last report of phase 1 on: one alert */
		tm_buf_printf(b, "status:\n  state: idle\n  conditions: [jammed]\n");
}

static void make_corpus(void)
{
	time_t now = time(NULL);
	struct tm tmv;
	gmtime_r(&now, &tmv);
	strftime(generated_at, sizeof(generated_at), "%Y-%m-%dT%H:%M:%SZ", &tmv);
	char *pki = tm_test_pki("");
	struct tm_error err = {0};
	struct tm_certlist *to = tm_certlist_new();
	char pem[700], key[700];
	snprintf(pem, sizeof(pem), "%sgw-ec.pem", pki);
	cr_assert_eq(tm_certlist_add_file(to, pem, &err), 0, "%s", err.msg);
	struct tm_buf y;
	tm_buf_init(&y);
	for (int dev = 1; dev <= DEVICES; dev++) {
		struct tm_identity *id = NULL;
		snprintf(pem, sizeof(pem), "%sdev-XK10000%d.pem", pki, dev);
		snprintf(key, sizeof(key), "%sdev-XK10000%d.key", pki, dev);
		cr_assert_eq(tm_identity_load(pem, key, NULL, &id, &err), 0, "%s", err.msg);
		for (int seq = 1; seq <= PER_DEVICE; seq++) {
			report_yaml(&y, dev, seq);
			char from[64];
			snprintf(from, sizeof(from), "xk10000%d@devices.example", dev);
			struct tm_seal_opts o = { .signer = id, .recipients = to,
						  .detached = seq % 3 == 0, .from = from, .to = MAILBOX };
			struct tm_buf *m = &msgs[(seq - 1) * DEVICES + dev - 1];
			tm_buf_init(m);
			cr_assert_eq(tm_smime_seal(&o, y.data, y.len, m, &err), 0, "%s", err.msg);
		}
		tm_identity_free(id);
	}
	tm_buf_fini(&y);
	tm_certlist_free(to);
	free(pki);
}

/* ---- the database ---- */

static long long q1(const char *sql)
{
	return tm_store_q1(sql);
}

static void registry(void)
{
	/* The fixture's server trades durability for speed (synchronous_commit
	 * off): a commit could then be lost in the hard stop below after the
	 * gateway took its message out of its spool. This database commits as
	 * a production server does (the WAL written before COMMIT returns). */
	char sql[160];
	snprintf(sql, sizeof(sql), "ALTER DATABASE %s SET synchronous_commit = on", tm_sf.dbname);
	tm_store_pg_admin(sql);
	char *pki = tm_test_pki("");
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options so = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&so, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 1717200000, &err), GW_STORE_OK, "%s",
		     err.msg);
	for (int d = 1; d <= DEVICES; d++) {
		char pem[700];
		snprintf(pem, sizeof(pem), "%sdev-XK10000%d.pem", pki, d);
		/* enrolled now: not silent, not "never reported" (alerts.silence is 7d) */
		cr_assert_eq(gw_registry_enroll_file(st, pem, GW_ROLE_DEVICE, "acme", NULL, 0,
						     (int64_t)time(NULL), &err), GW_STORE_OK, "%s",
			     err.msg);
	}
	gw_store_close(st);
	free(pki);
}

/* ---- the gateways ---- */

static void configure(struct gw *g, const char *name, const char *hook_url, const char *secret)
{
	char *pki = tm_test_pki("");
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->dir, sizeof(g->dir), "%s/%s", tmp, name);
	snprintf(g->conf, sizeof(g->conf), "%s/mailgw.yaml", g->dir);
	snprintf(g->log, sizeof(g->log), "%s/serve.log", g->dir);
	snprintf(g->spool, sizeof(g->spool), "%s/state/spool", g->dir);
	cr_assert_eq(mkdir(g->dir, 0700), 0);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_printf(&b,
		      "state_dir: %s/state\n"
		      "gateway:\n"
		      "  mailboxes: [" MAILBOX "]\n"
		      "  keys: [{cert: %sgw-ec.pem, key: %sgw-ec.key}]\n"
		      "trust:\n"
		      "  ca_file: %sca.pem\n"
		      "store:\n"
		      "  backend: postgresql\n"
		      "  conninfo: \"%s application_name=telemail-%s\"\n"
		      "  batch_size: 8\n"
		      "  busy_timeout: 2s\n"
		      "workers: 2\n"
		      "listen:\n"
		      "  smtp: 127.0.0.1:0\n"
		      "  hostname: %s.test\n"
		      "alerts:\n"
		      "  check_every: 1s\n"
		      "notify:\n"
		      "  every: 1s\n"
		      "  lease: 6s\n"
		      "  webhook: {url: \"%s\", secret_file: %s, timeout: 3s}\n",
		      g->dir, pki, pki, pki, tm_sf.conninfo, name, name, hook_url, secret);
	tm_test_write(g->conf, b.data, b.len);
	tm_buf_fini(&b);
	free(pki);
}

static bool log_has(const struct gw *g, const char *needle)
{
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	bool found = tm_buf_read_file(&b, g->log, 64u << 20, &err) == 0 && b.data != NULL &&
		     strstr((char *)b.data, needle) != NULL;
	tm_buf_fini(&b);
	return found;
}

/* The end of both gateways' logs, for a failure's message. */
static const char *log_tails(void)
{
	static char out[6000];
	size_t k = 0;
	out[0] = '\0';
	for (int i = 0; i < 2; i++) {
		struct tm_buf b;
		struct tm_error err = {0};
		tm_buf_init(&b);
		if (tm_buf_read_file(&b, gws[i].log, 64u << 20, &err) == 0 && b.data != NULL) {
			size_t from = b.len > 2500 ? b.len - 2500 : 0;
			k += (size_t)snprintf(out + k, sizeof(out) - k, "\n--- %s:\n%.*s", gws[i].name,
					      (int)(b.len - from), (char *)b.data + from);
		}
		tm_buf_fini(&b);
		if (k >= sizeof(out))
			break;
	}
	return out;
}

static const char *alert_text(void)
{
	static char out[4000];
	tm_store_query("SELECT string_agg(serial || ' ' || kind || ' ' || subject || ' ' || state"
		       " || ' ' || count, '; ' ORDER BY id) FROM svc_alerts", out, sizeof(out));
	return out;
}

/* How many lines of the gateway's log hold `needle`. */
static int log_count(const struct gw *g, const char *needle)
{
	struct tm_buf b;
	struct tm_error err = {0};
	tm_buf_init(&b);
	int n = 0;
	if (tm_buf_read_file(&b, g->log, 64u << 20, &err) == 0 && b.data != NULL)
		for (const char *p = (char *)b.data; (p = strstr(p, needle)) != NULL; p++)
			n++;
	tm_buf_fini(&b);
	return n;
}

static void start_gw(struct gw *g)
{
	/* the log is kept across a restart (appended): what the killed run said stays */
	g->pid = fork();
	cr_assert_neq(g->pid, -1);
	if (g->pid == 0) {   /* serve logs to stderr: the gateway's log, appended */
		int fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execl(bin, bin, "-c", g->conf, "serve", (char *)NULL);
		_exit(127);
	}
	g->port = 0;
	char mark[64];
	snprintf(mark, sizeof(mark), "event=start pid=%ld", (long)g->pid);
	for (int i = 0; i < 400 && g->port == 0; i++) {
		struct tm_buf b;
		struct tm_error err = {0};
		tm_buf_init(&b);
		if (tm_buf_read_file(&b, g->log, 64u << 20, &err) == 0 && b.data != NULL) {
			const char *me = strstr((char *)b.data, mark);
			const char *p = me ? strstr(me, "event=listening proto=smtp") : NULL;
			const char *port = p ? strstr(p, "port=") : NULL;
			if (port != NULL && strchr(port, '\n') != NULL)
				g->port = (unsigned)atoi(port + 5);
		}
		tm_buf_fini(&b);
		int st;
		cr_assert_eq(waitpid(g->pid, &st, WNOHANG), 0, "%s exited at start", g->name);
		if (g->port == 0)
			usleep(50000);
	}
	cr_assert_neq(g->port, 0, "%s did not start listening", g->name);
}

static void kill_gw(struct gw *g, int sig)
{
	kill(g->pid, sig);
	int st = 0;
	cr_assert_eq(waitpid(g->pid, &st, 0), g->pid);
	if (sig == SIGTERM)
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %d", g->name, st);
	else
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sig);
	g->pid = 0;
}

/* Deliver messages idx[0..n) to gateway g in one SMTP session; ok[i] set
 * for each the gateway acknowledged (250). False when no session ran. */
static bool deliver(const struct gw *g, const int *idx, size_t n, bool *ok)
{
	static const char *const rcpt[] = { MAILBOX };
	struct tm_smtpc_msg m[16];
	cr_assert_leq(n, 16);
	for (size_t i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].from = "xk100001@devices.example";
		m[i].rcpt = rcpt;
		m[i].n_rcpt = 1;
		m[i].data = msgs[idx[i]].data;
		m[i].len = msgs[idx[i]].len;
	}
	struct tm_smtpc_config cfg = { .host = "127.0.0.1", .port = g->port, .helo = "mx.test",
				       .starttls = false, .timeout = 20 };
	struct tm_error err = {0};
	if (g->pid == 0 || tm_smtpc_send(&cfg, m, n, &err) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		ok[i] = m[i].code == 250;
	return true;
}

/* ---- helpers ---- */

static void env_file(const char *name, char *out, size_t cap)
{
	const char *v = getenv(name);
	cr_assert_not_null(v, "%s: run through test/pg_fixture.sh", name);
	snprintf(out, cap, "%s", v);
}

static bool wait_for(const char *sql, long long want, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (q1(sql) == want)
			return true;
		usleep(100000);
	}
	return false;
}

/* Both spools drained: nothing waits in either gateway. */
static long spool_messages(const struct gw *g)
{
	char path[800];
	snprintf(path, sizeof(path), "%s/state/mailgw.status", g->dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[300];
	long v = -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "spool_messages=", 15) == 0)
			v = atol(line + 15);
	fclose(f);
	return v;
}

static bool drained(int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (spool_messages(&gws[0]) == 0 && spool_messages(&gws[1]) == 0)
			return true;
		usleep(100000);
	}
	return false;
}

/* Messages of seqs [from, to] (1-based), every device, in order. */
struct batch {
	int idx[MESSAGES];
	size_t n;
};

static struct batch seqs(int from, int to)
{
	struct batch b = {0};
	for (int seq = from; seq <= to; seq++)
		for (int dev = 1; dev <= DEVICES; dev++)
			b.idx[b.n++] = (seq - 1) * DEVICES + dev - 1;
	return b;
}

static int acked[MESSAGES];        /* 250s per message, from either gateway */
static bool owed[2][MESSAGES];     /* not taken by that gateway: give it again */

/* Each message to gateway `first(i)`, then to the other; in sessions of 8. */
static void send_both(const struct batch *b, size_t from, size_t to)
{
	for (int round = 0; round < 2; round++)
		for (size_t k = from; k < to; k += 8) {
			size_t n = to - k < 8 ? to - k : 8;
			for (int gi = 0; gi < 2; gi++) {
				int idx[8];
				size_t m = 0;
				for (size_t i = k; i < k + n; i++)
					if ((int)((b->idx[i] + round) % 2) == gi)
						idx[m++] = b->idx[i];
				if (m == 0)
					continue;
				bool ok[8] = {0};
				deliver(&gws[gi], idx, m, ok);
				for (size_t i = 0; i < m; i++) {
					acked[idx[i]] += ok[i];
					owed[gi][idx[i]] = !ok[i];
				}
			}
		}
}

/* What a gateway could not take while it was down: given to it again. */
static void pay_owed(int gi)
{
	int idx[8];
	size_t m = 0;
	for (int i = 0; i <= MESSAGES; i++) {
		if (m == 8 || (i == MESSAGES && m > 0)) {
			bool ok[8] = {0};
			cr_assert(deliver(&gws[gi], idx, m, ok), "%s takes mail again", gws[gi].name);
			for (size_t k = 0; k < m; k++) {
				cr_assert(ok[k], "%s acknowledges message %d", gws[gi].name, idx[k]);
				acked[idx[k]]++;
				owed[gi][idx[k]] = false;
			}
			m = 0;
		}
		if (i < MESSAGES && owed[gi][i])
			idx[m++] = i;
	}
}

/* Cut every connection of the gateways, again and again, on a thread. */
static atomic_bool cutting;
static atomic_int cuts;

static void *cutter(void *arg)
{
	(void)arg;
	PGconn *c = tm_store_pg_connect("postgres");
	while (cutting) {
		PGresult *r = PQexec(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
				     " WHERE application_name LIKE 'telemail-gw%'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			cuts += atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
		usleep(30000);
	}
	PQfinish(c);
	return NULL;
}

static int mailgw(const struct gw *g, const char *args, struct tm_buf *out)
{
	char path[800];
	snprintf(path, sizeof(path), "%s/cli.out", g->dir);
	int rc = tm_test_sh("'%s' -c '%s' %s > '%s' 2>&1", bin, g->conf, args, path);
	tm_buf_reset(out);
	tm_test_read(path, out);
	return rc;
}

static void setup(void)
{
	tmp = tm_test_tmpdir();
	tm_store_fixture_setup(tmp, "unused.db");
	const char *b = getenv("TM_BUILDDIR");
	snprintf(bin, sizeof(bin), "%s/mailgw/telemail-mailgw", b ? b : ".");
	snprintf(hook_dir, sizeof(hook_dir), "%s/hook", tmp);
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++)
		if (gws[i].pid > 0) {
			kill(gws[i].pid, SIGKILL);
			waitpid(gws[i].pid, NULL, 0);
		}
	sc_webhook_stop(hook_dir);
	for (int i = 0; i < MESSAGES; i++)
		tm_buf_fini(&msgs[i]);
	tm_store_fixture_teardown();
	if (getenv("TM_PG_MULTI_KEEP") != NULL) {   /* debugging a failure: the logs stay */
		fprintf(stderr, "pg_multi: kept %s\n", tmp);
		free(tmp);
		return;
	}
	tm_test_rmtree(tmp);
	free(tmp);
}

TestSuite(pg_multi, .init = setup, .fini = teardown);

Test(pg_multi, two_gateways_one_database_through_kills_cuts_and_a_server_stop, .timeout = 240)
{
	cr_assert(tm_sf.pg, "run through test/pg_fixture.sh");
	char pg_ctl[600];
	env_file("TM_PG_CTL", pg_ctl, sizeof(pg_ctl));
	make_corpus();
	registry();

	/* the receiver of the notifications, and the two gateways */
	char secret[700], url[128];
	sc_webhook_start(hook_dir, url, sizeof(url));
	snprintf(secret, sizeof(secret), "%s/hook.secret", tmp);
	tm_test_write(secret, "s3cret\n", 7);
	configure(&gws[0], "gwA", url, secret);
	configure(&gws[1], "gwB", url, secret);
	start_gw(&gws[0]);
	start_gw(&gws[1]);

	/* 1. half of phase 1, gwA killed, the other half, gwA back */
	struct batch p1 = seqs(1, PHASE1);
	send_both(&p1, 0, p1.n / 2);
	kill_gw(&gws[0], SIGKILL);
	send_both(&p1, p1.n / 2, p1.n);
	start_gw(&gws[0]);
	pay_owed(0);
	for (size_t i = 0; i < p1.n; i++)
		cr_assert_geq(acked[p1.idx[i]], 1, "message %d acknowledged", p1.idx[i]);
	cr_assert(wait_for("SELECT count(*) FROM reports", DEVICES * PHASE1, 60),
		  "phase 1 stored: %lld", q1("SELECT count(*) FROM reports"));
	cr_assert(wait_for("SELECT count(*) FROM svc_notify WHERE state = 'sent'", DEVICES, 60),
		  "the notifications sent (a killed gateway's claims run out in notify.lease):"
		  " alerts %s, notifications %lld, pending %lld, claimed %lld%s",
		  alert_text(), q1("SELECT count(*) FROM svc_notify"),
		  q1("SELECT count(*) FROM svc_notify WHERE state = 'pending'"),
		  q1("SELECT count(*) FROM svc_notify WHERE claim_until > 0"), log_tails());

	/* 2. connections cut while batches are in flight */
	struct batch p2 = seqs(PHASE1 + 1, PHASE2);
	pthread_t th;
	cutting = true;
	cr_assert_eq(pthread_create(&th, NULL, cutter, NULL), 0);
	send_both(&p2, 0, p2.n);
	usleep(1500000);
	cutting = false;
	pthread_join(th, NULL);
	cr_log_info("connections cut: %d", (int)cuts);
	cr_assert_gt(cuts, 0, "no connection was cut: nothing was proved");
	cr_assert(wait_for("SELECT count(*) FROM reports", DEVICES * PHASE2, 60),
		  "phase 2 stored: %lld%s", q1("SELECT count(*) FROM reports"), log_tails());
	int cut_batches = 0;
	for (int i = 0; i < 2; i++)
		cut_batches += log_count(&gws[i], "deferred:store.unavailable");
	cr_log_info("messages deferred by a cut connection: %d", cut_batches);
	cr_assert_gt(cut_batches, 0, "no batch met a cut connection: nothing was proved");
	for (size_t i = 0; i < p2.n; i++)
		cr_assert_eq(acked[p2.idx[i]], 2, "both gateways took message %d", p2.idx[i]);

	/* 3. the server stopped hard while mail arrives, then started again */
	cr_assert_eq(tm_test_sh("'%s' stop -m immediate >/dev/null", pg_ctl), 0);
	struct batch p3 = seqs(PHASE2 + 1, PER_DEVICE);
	send_both(&p3, 0, p3.n);
	for (size_t i = 0; i < p3.n; i++)
		cr_assert_eq(acked[p3.idx[i]], 2, "accepted (250) with the server down: message %d",
			     p3.idx[i]);
	int before[2];
	for (int i = 0; i < 2; i++)
		before[i] = log_count(&gws[i], "deferred:store.unavailable");
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 100 && log_count(&gws[i], "deferred:store.unavailable") ==
					   before[i]; k++)
			usleep(100000);
	cr_assert_eq(tm_test_sh("'%s' start >/dev/null", pg_ctl), 0);
	time_t restarted = time(NULL);
	bool all = wait_for("SELECT count(*) FROM reports", MESSAGES, 90);
	char dbg[2000] = "";
	if (!all)
		tm_store_query("SELECT string_agg(coalesce(report_id, '?') || ':' || outcome || ':' ||"
			       " coalesce(reason, '') || '@' || (updated_at - (SELECT min(updated_at)"
			       " FROM message_log)), ' ' ORDER BY updated_at) FROM message_log"
			       " WHERE outcome NOT IN ('stored', 'duplicate')", dbg, sizeof(dbg));
	cr_assert(all, "every report stored: %lld of %d; restarted +%ld, now +%ld: %s",
		  q1("SELECT count(*) FROM reports"), MESSAGES,
		  (long)(restarted - q1("SELECT min(updated_at) FROM message_log")),
		  (long)(time(NULL) - q1("SELECT min(updated_at) FROM message_log")), dbg);
	cr_assert(drained(60), "both spools drained%s", log_tails());

	/* every acknowledged report stored exactly once, with all its rows */
	for (int i = 0; i < MESSAGES; i++)
		cr_assert_geq(acked[i], 1, "message %d", i);
	cr_assert_eq(q1("SELECT count(DISTINCT report_id) FROM reports"), MESSAGES);
	cr_assert_eq(q1("SELECT count(*) FROM (SELECT serial, seq FROM reports GROUP BY serial, seq"
			" HAVING count(*) > 1) d"), 0);
	cr_assert_eq(q1("SELECT count(*) FROM counters"), MESSAGES, "one counter row per report");
	cr_assert_eq(q1("SELECT count(*) FROM reports r LEFT JOIN report_json j ON j.report = r.id"
			" WHERE j.report IS NULL"), 0, "a report without its JSON");
	cr_assert_eq(q1("SELECT count(*) FROM reports r WHERE NOT EXISTS (SELECT 1 FROM message_log m"
			" WHERE m.raw_sha256 = r.raw_sha256 AND m.outcome = 'stored'"
			" AND m.report_id = r.report_id)"), 0, "a report without its 'stored' log row");
	cr_assert_eq(q1("SELECT count(*) FROM message_log WHERE outcome = 'stored'"), MESSAGES);
	cr_assert_eq(q1("SELECT count(*) FROM message_log WHERE outcome NOT IN ('stored',"
			" 'duplicate')"), 0, "nothing quarantined, nothing left deferred");
	cr_assert_eq(q1("SELECT count(*) FROM message_log"), MESSAGES, "one row per message");
	cr_assert_eq(q1("SELECT count(*) FROM quarantine"), 0);
	cr_assert_eq(q1("SELECT count(*) FROM devices WHERE last_seq = 40"), DEVICES);
	for (int i = 0; i < 2; i++)
		cr_assert_gt(log_count(&gws[i], "deferred:store.unavailable"), before[i],
			     "%s deferred while the server was down", gws[i].name);

	/* the alerts raised once, each notification delivered once */
	cr_assert_eq(q1("SELECT count(*) FROM svc_alerts"), DEVICES, "one jam alert per device");
	cr_assert_eq(q1("SELECT count(*) FROM svc_alerts WHERE kind = 'condition' AND"
			" subject = 'jammed' AND state = 'open' AND count BETWEEN 1 AND 21"), DEVICES,
		     "open, and a report seen by both gateways counted once at most (21 reports"
		     " say jammed; one that came after a newer seq is not evaluated)");
	cr_assert_eq(q1("SELECT count(*) FROM svc_notify"), DEVICES);
	cr_assert(wait_for("SELECT count(*) FROM svc_notify WHERE state = 'sent'", DEVICES, 30));
	int seen[SC_WEBHOOK_IDS];
	size_t n = sc_webhook_deliveries(hook_dir, seen);
	cr_assert_eq(n, DEVICES, "the receiver got %zu deliveries", n);
	for (int i = 0; i < SC_WEBHOOK_IDS; i++)
		cr_assert_leq(seen[i], 1, "notification %d delivered %d times", i, seen[i]);
	cr_assert(log_has(&gws[0], "event=silence_skipped") ||
		  log_has(&gws[1], "event=silence_skipped"),
		  "the silence check ran on one gateway, the other skipped it");

	/* the audit chain, and status: each its own, the shared state the same */
	struct tm_buf out;
	tm_buf_init(&out);
	cr_assert_eq(mailgw(&gws[1], "audit verify", &out), 0, "%s", out.data);
	json_t *st[2];
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(mailgw(&gws[i], "status --json", &out), 0, "%s", out.data);
		st[i] = json_loads((char *)out.data, 0, NULL);
		cr_assert_not_null(st[i], "%s", out.data);
		json_t *shared = json_object_get(st[i], "shared");
		cr_assert_eq(json_integer_value(json_object_get(shared, "reports")), MESSAGES);
		cr_assert_eq(json_integer_value(json_object_get(shared, "devices")), DEVICES);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(shared, "alerts"),
								"open")), DEVICES);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(shared, "notify"),
								"queued")), 0);
		json_t *own = json_object_get(st[i], "gateway");
		cr_assert_str_eq(json_string_value(json_object_get(own, "daemon")), "running");
		cr_assert_eq(json_integer_value(json_object_get(own, "pid")), gws[i].pid);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(own, "spool"),
								"messages")), 0);
		cr_assert_not_null(json_string_value(json_object_get(own, "last_commit")));
	}
	cr_assert_str_neq(json_string_value(json_object_get(json_object_get(st[0], "gateway"), "owner")),
			  json_string_value(json_object_get(json_object_get(st[1], "gateway"), "owner")));
	json_decref(st[0]);
	json_decref(st[1]);
	cr_assert_eq(mailgw(&gws[0], "status", &out), 0, "%s", out.data);
	cr_assert_not_null(strstr((char *)out.data, "shared state: the database every gateway on it"
				  " uses\n"), "%s", out.data);
	char want[64];
	snprintf(want, sizeof(want), "\nreports     %d\n", MESSAGES);
	cr_assert_not_null(strstr((char *)out.data, want), "%s", out.data);
	tm_buf_fini(&out);
	kill_gw(&gws[0], SIGTERM);
	kill_gw(&gws[1], SIGTERM);
}

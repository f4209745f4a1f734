/* Several gateways on one database (issue 16; store/store_shared.c and the
 * back ends' claims): notification claims exclusive until their lease runs
 * out, rows another transaction holds skipped rather than waited for
 * (PostgreSQL's SKIP LOCKED), two processes delivering one queue to a real
 * webhook receiver each notification once, the silence check on one
 * gateway at a time (an advisory lock that lives with its connection), a
 * concurrent raise of one alert counted once, and the shared state's
 * counts. Each runs on SQLite (suite shared) and on PostgreSQL (shared_pg);
 * what only makes sense with a server to share is marked PG_ONLY(). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common.h"
#include "config/config_service.h"
#include "service/alerts.h"
#include "service/notify.h"
#include "scenario/ingest.h"
#include "scenario/webhook.h"
#include "store_fixture.h"

#define T0 1790000000
#define DEVICES 12

#define PG_ONLY()                                                                   \
	do {                                                                        \
		if (!tm_sf.pg)                                                      \
			cr_skip_test("PostgreSQL only: a server several gateways share"); \
	} while (0)

static char *tmpdir;
static struct gw_store *st;
static struct gw_service_config svc;
static char url[128], secret[600], hook_dir[600];

static struct gw_store *open_store(void)
{
	struct tm_error err = {0};
	struct gw_store *s = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &s, &err), GW_STORE_OK, "%s", err.msg);
	return s;
}

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	tm_store_fixture_setup(tmpdir, "telemail.db");
	snprintf(secret, sizeof(secret), "%s/webhook.secret", tmpdir);
	snprintf(hook_dir, sizeof(hook_dir), "%s/hook", tmpdir);
	tm_test_write(secret, "s3cret\n", 7);
	st = open_store();
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	for (int i = 1; i <= DEVICES; i++) {
		char serial[16];
		snprintf(serial, sizeof(serial), "XK%d", i);
		sc_enroll(st, serial, "acme", i);
	}
}

static void teardown(void)
{
	sc_webhook_stop(hook_dir);
	gw_store_close(st);
	tm_store_fixture_teardown();
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(shared, .init = setup, .fini = teardown);

/* Every device reports a jam (critical): one webhook notification each. */
static void jam_all(void)
{
	static char u[] = "http://127.0.0.1:9/x";
	if (svc.webhook_url == NULL) {
		svc.webhook_url = u;
		svc.webhook_secret_file = secret;
	}
	for (int i = 1; i <= DEVICES; i++) {
		char serial[16];
		snprintf(serial, sizeof(serial), "XK%d", i);
		struct sc_report r;
		sc_report_init(&r, serial, 1, T0 + 1);
		r.conditions = "[jammed]";
		sc_ingest(st, &svc, &r, "acme", T0);
	}
}

struct ids {
	int64_t id[64];
	size_t n;
};

static int collect_id(void *ctx, const struct gw_notify_row *n)
{
	struct ids *l = ctx;
	cr_assert_lt(l->n, 64);
	l->id[l->n++] = n->id;
	return 0;
}

static struct ids claim(struct gw_store *s, const char *owner, int64_t now, int64_t lease)
{
	struct ids l = {0};
	struct tm_error err = {0};
	cr_assert_eq(gw_store_notify_claim(s, owner, now, lease, 100, collect_id, &l, &err),
		     GW_STORE_OK, "%s: %s", err.reason, err.msg);
	return l;
}

/* The notification `id` as the store has it. */
struct find_ctx {
	int64_t id;
	struct gw_notify_row row;
	bool found;
};

static int find_row(void *ctx, const struct gw_notify_row *n)
{
	struct find_ctx *f = ctx;
	if (n->id == f->id) {
		f->row = *n;
		f->found = true;
	}
	return 0;
}

static struct gw_notify_row get_row(int64_t id)
{
	struct find_ctx f = { .id = id };
	struct tm_error err = {0};
	cr_assert_eq(gw_store_notify_list(st, GW_NOTIFY_LIST_ALL, find_row, &f, &err), GW_STORE_OK);
	cr_assert(f.found, "notification %lld", (long long)id);
	return f.row;
}

Test(shared, notify_claims_are_exclusive_until_the_lease_runs_out)
{
	jam_all();
	struct gw_store *b = open_store();   /* a second gateway's handle */
	struct ids a1 = claim(st, "gw-a:1", T0, 60);
	cr_assert_eq(a1.n, DEVICES, "every due notification, oldest first");
	for (size_t i = 1; i < a1.n; i++)
		cr_assert_lt(a1.id[i - 1], a1.id[i]);
	cr_assert_eq(claim(b, "gw-b:2", T0 + 30, 60).n, 0, "held by gw-a");
	cr_assert_eq(claim(st, "gw-a:1", T0 + 30, 60).n, DEVICES,
		     "its owner may claim its rows again (the lease is now until T0 + 90)");

	/* gw-a delivers the oldest (the update ends that row's claim) and is
	 * killed: its other claims stay until the lease runs out */
	struct gw_notify_row n = get_row(a1.id[0]);
	n.state = GW_NOTIFY_SENT;
	n.sent_at = T0 + 31;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_notify_update(st, &n, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(claim(b, "gw-b:2", T0 + 89, 60).n, 0, "not before the lease ran out");
	struct ids b1 = claim(b, "gw-b:2", T0 + 90, 60);
	cr_assert_eq(b1.n, DEVICES - 1, "a lease run out: claimable again, the sent one not");
	cr_assert_eq(b1.id[0], a1.id[1]);
	cr_assert_eq(claim(st, "gw-a:1", T0 + 91, 60).n, 0, "now gw-b's");

	/* gw-b releases what it did not deliver: free for anybody at once */
	cr_assert_eq(gw_store_notify_release(b, "gw-b:2", &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(claim(st, "gw-c:3", T0 + 92, 60).n, DEVICES - 1);

	/* not due yet (next_at after now): not claimed */
	n = get_row(a1.id[1]);
	n.next_at = T0 + 1000;
	cr_assert_eq(gw_store_notify_update(st, &n, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(claim(b, "gw-b:2", T0 + 200, 60).n, DEVICES - 2);

	/* a bad claim is refused before the back end sees it */
	struct ids l = {0};
	cr_assert_eq(gw_store_notify_claim(st, "", T0, 60, 10, collect_id, &l, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "internal.bug");
	cr_assert_eq(gw_store_notify_claim(st, "gw-a:1", T0, 0, 10, collect_id, &l, &err),
		     GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "internal.bug");
	gw_store_close(b);
}

Test(shared, rows_another_transaction_holds_are_skipped_not_waited_for)
{
	PG_ONLY();
	jam_all();
	struct ids all = claim(st, "gw-a:1", T0, 1);   /* ids; the lease runs out at T0 + 1 */
	cr_assert_eq(all.n, DEVICES);
	/* another gateway's claiming transaction, still open, holds the oldest row */
	PGconn *c = tm_store_pg_connect(tm_sf.dbname);
	char sql[160];
	snprintf(sql, sizeof(sql), "BEGIN; SELECT id FROM svc_notify WHERE id = %lld FOR UPDATE",
		 (long long)all.id[0]);
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	time_t t0 = time(NULL);
	struct ids got = claim(st, "gw-b:2", T0 + 10, 60);
	cr_assert_eq(got.n, DEVICES - 1, "every row but the held one, without store.busy");
	cr_assert_eq(got.id[0], all.id[1]);
	cr_log_info("claimed beside a held row in %lds", (long)(time(NULL) - t0));
	r = PQexec(c, "COMMIT");
	PQclear(r);
	PQfinish(c);
	struct ids rest = claim(st, "gw-c:3", T0 + 11, 60);
	cr_assert_eq(rest.n, 1, "the held row, once its transaction ended");
	cr_assert_eq(rest.id[0], all.id[0]);
}

static void start_receiver(void)
{
	sc_webhook_start(hook_dir, url, sizeof(url));
	svc.webhook_url = url;
	svc.webhook_secret_file = secret;
}

Test(shared, two_processes_deliver_each_notification_once)
{
	start_receiver();
	jam_all();
	/* two gateways' service threads at the same moment: a child process with
	 * its own store handle (its own claim owner, host:pid) and this one */
	fflush(NULL);
	pid_t kid[2];
	for (int k = 0; k < 2; k++) {
		kid[k] = fork();
		cr_assert_neq(kid[k], -1);
		if (kid[k] == 0) {
			struct gw_store *mine = NULL;
			struct tm_error err = {0};
			struct gw_store_options o = tm_store_options(NULL);
			struct gw_notify_counts c;
			if (gw_store_open(&o, &mine, &err) != GW_STORE_OK ||
			    gw_notify_run_once(mine, &svc, T0 + 10, &c, &err) != GW_STORE_OK)
				_exit(1);
			gw_store_close(mine);
			_exit(c.posted <= DEVICES ? 0 : 2);
		}
	}
	for (int k = 0; k < 2; k++) {
		int status;
		cr_assert_eq(waitpid(kid[k], &status, 0), kid[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: %d", k, status);
	}
	int per_id[SC_WEBHOOK_IDS];
	cr_assert_eq(sc_webhook_deliveries(hook_dir, per_id), DEVICES,
		     "each notification posted once in all");
	for (int i = 0; i < SC_WEBHOOK_IDS; i++)
		cr_assert_leq(per_id[i], 1, "delivery %d posted %d times", i, per_id[i]);
	struct gw_store_shared_counts sc;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_shared_counts(st, T0 + 10, &sc, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(sc.notify_pending, 0);
	cr_assert_eq(sc.notify_claimed, 0, "a finished run leaves no claim behind");
}

Test(shared, silence_check_runs_on_one_gateway_at_a_time)
{
	svc.silence = 86400;
	struct gw_store *b = open_store();
	struct gw_silence_counts ka, kb;
	struct tm_error err = {0};
	cr_assert_eq(gw_alerts_check_silence(st, &svc, T0, &ka, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_not(ka.skipped);
	cr_assert_eq(ka.never, DEVICES, "enrolled long ago, never reported");
	cr_assert_eq(gw_alerts_check_silence(b, &svc, T0 + 600, &kb, &err), GW_STORE_OK, "%s",
		     err.msg);
	if (!tm_sf.pg) {
		cr_assert_not(kb.skipped, "SQLite: one gateway, it always runs the check");
		gw_store_close(b);
		return;
	}
	cr_assert(kb.skipped, "the first gateway holds the check");
	cr_assert_eq(kb.never + kb.silent + kb.resolved, 0);
	cr_assert_eq(gw_alerts_check_silence(st, &svc, T0 + 600, &ka, &err), GW_STORE_OK);
	cr_assert_not(ka.skipped, "and keeps it, round after round");
	/* one lock, not a stack of them: closing the holder frees it */
	PGconn *c = tm_store_pg_connect(tm_sf.dbname);
	PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
			     " AND objsubid = 2 AND granted");
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "1");
	PQclear(r);
	gw_store_close(st);   /* the gateway stops (or is killed: its connection ends) */
	st = open_store();
	cr_assert_eq(gw_alerts_check_silence(b, &svc, T0 + 1200, &kb, &err), GW_STORE_OK);
	cr_assert_not(kb.skipped, "the lock went with its connection: the next gateway runs it");
	cr_assert_eq(gw_alerts_check_silence(st, &svc, T0 + 1200, &ka, &err), GW_STORE_OK);
	cr_assert(ka.skipped);
	r = PQexec(c, "SELECT count(*) FROM svc_alerts WHERE kind = 'device_never_reported'");
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "12", "raised once per device, never twice");
	PQclear(r);
	PQfinish(c);
	gw_store_close(b);
}

/* Another gateway's transaction inserting the same alert, on its own thread. */
struct racer {
	struct gw_store *st;
	struct gw_alert_row a;
	int rc;
	struct tm_error err;
};

static void *race_insert(void *arg)
{
	struct racer *r = arg;
	r->rc = gw_store_begin(r->st, &r->err);
	if (r->rc == GW_STORE_OK)
		r->rc = gw_store_alert_insert(r->st, &r->a, &r->err);   /* waits for the first */
	if (r->rc == GW_STORE_OK)
		r->rc = gw_store_commit(r->st, &r->err);
	else
		gw_store_rollback(r->st);
	return NULL;
}

static void alert_of(struct gw_alert_row *a, int64_t at)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->serial, sizeof(a->serial), "XK1");
	snprintf(a->tenant, sizeof(a->tenant), "acme");
	snprintf(a->kind, sizeof(a->kind), "supply_low");
	snprintf(a->subject, sizeof(a->subject), "toner/black#1");
	snprintf(a->severity, sizeof(a->severity), "warning");
	snprintf(a->detail, sizeof(a->detail), "at %lld", (long long)at);
	a->state = GW_ALERT_OPEN;
	a->first_seen = a->last_seen = at;
	a->count = 1;
}

Test(shared, a_concurrent_raise_of_one_alert_is_counted_once)
{
	PG_ONLY();
	struct gw_alert_row first;
	struct tm_error err = {0};
	alert_of(&first, T0);
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	cr_assert_eq(gw_store_alert_insert(st, &first, &err), GW_STORE_OK, "%s", err.msg);
	/* the other gateway found no active alert either, and inserts its own */
	struct racer r = { .st = open_store() };
	alert_of(&r.a, T0 + 5);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, race_insert, &r), 0);
	usleep(300000);   /* let it reach the unique index and wait there */
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	pthread_join(th, NULL);
	cr_assert_eq(r.rc, GW_STORE_OK, "%s: %s", r.err.reason, r.err.msg);
	cr_assert_eq(r.a.id, first.id, "the same alert");
	cr_assert_eq(r.a.count, 2, "counted as a repeat");
	cr_assert_eq(r.a.last_seen, T0 + 5);
	cr_assert_eq(r.a.first_seen, T0);
	gw_store_close(r.st);
	char v[32];
	cr_assert(tm_store_query("SELECT count(*) FROM svc_alerts WHERE kind = 'supply_low'", v,
				 sizeof(v)));
	cr_assert_str_eq(v, "1", "raised once");
}

Test(shared, counts_of_the_shared_state)
{
	jam_all();
	struct gw_store_shared_counts sc;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_shared_counts(st, T0, &sc, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(sc.devices, DEVICES);
	cr_assert_eq(sc.reports, DEVICES);
	cr_assert_eq(sc.alerts_open, DEVICES);
	cr_assert_eq(sc.alerts_acked, 0);
	cr_assert_eq(sc.notify_pending, DEVICES);
	cr_assert_eq(sc.notify_claimed, 0);
	cr_assert_eq(claim(st, "gw-a:1", T0, 60).n, DEVICES);
	cr_assert_eq(gw_store_shared_counts(st, T0 + 59, &sc, &err), GW_STORE_OK);
	cr_assert_eq(sc.notify_claimed, DEVICES);
	cr_assert_eq(gw_store_shared_counts(st, T0 + 60, &sc, &err), GW_STORE_OK);
	cr_assert_eq(sc.notify_claimed, 0, "the lease ran out");
	cr_assert_eq(sc.notify_failed, 0);
}

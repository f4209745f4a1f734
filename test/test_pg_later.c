/* The PostgreSQL back end's statements sent ahead (gw_pg_exec_later,
 * store_pg_pipe.c): inside a transaction a write whose result is not
 * wanted is not waited for; the next statement that is waited for carries
 * it, and a failure among them fails that wait, named by the failed
 * statement; a rollback still runs; the store's item whose write failed is
 * the one that fails, in the store and in the pipeline's batch. Runs only
 * under test/pg_fixture.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/digest.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

#include "ingest/pipeline.h"
#include "registry/registry.h"
#include "scenario/ingest.h" /* before the fixture's global err */
#include "store/audit.h"
#include "store/quarantine.h"

#include "pg_conn_fixture.h"

#define T0_LATER 1790000000 /* 2026-09-21 */

static void setup(void)
{
	tm_pg_conn_setup();
	cr_assert(tm_store_exec("", "CREATE TABLE t (k integer PRIMARY KEY, v text)"));
}

TestSuite(pg_later, .init = setup, .fini = tm_pg_conn_teardown);

static void begin(void)
{
	cr_assert_eq(gw_pg_exec(&conn, "BEGIN", NULL, NULL, "begin", &err), GW_STORE_OK, "%s",
		     err.msg);
	conn.in_tx = true;
}

static int insert_later(int k, const char *v, const char *what)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, k);
	gw_pg_text(&p, v);
	return gw_pg_exec_later(&conn, "INSERT INTO t (k, v) VALUES ($1, $2)", &p, what, &err);
}

/* count(*) of t as this connection sees it (a statement waited for) */
static long long count_t(int *rc)
{
	PGresult *r = NULL;
	*rc = gw_pg_exec(&conn, "SELECT count(*) FROM t", NULL, &r, "count", &err);
	long long n = *rc == GW_STORE_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

Test(pg_later, sent_ahead_in_a_transaction_and_carried_by_the_next_read)
{
	begin();
	cr_assert_eq(insert_later(1, "a", "first"), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(insert_later(2, "b", "second"), GW_STORE_OK, "%s", err.msg);
	/* not waited for: still in the connection's own pipe */
	cr_assert_eq(conn.pipe, &conn.later);
	cr_assert_eq(conn.later.n, 3, "one Parse of the statement and two executions, got %d",
		     conn.later.n);
	int rc;
	cr_assert_eq(count_t(&rc), 2);
	cr_assert_eq(rc, GW_STORE_OK, "%s", err.msg);
	cr_assert_null(conn.pipe, "the read synced the pipe");
	PGresult *r = NULL;
	cr_assert_eq(gw_pg_exec(&conn, "COMMIT", NULL, &r, "commit", &err), GW_STORE_OK);
	cr_assert_str_eq(PQcmdStatus(r), "COMMIT");
	PQclear(r);
	conn.in_tx = false;
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM t"), 2);
}

Test(pg_later, outside_a_transaction_it_is_waited_for)
{
	cr_assert_eq(insert_later(1, "a", "first"), GW_STORE_OK, "%s", err.msg);
	cr_assert_null(conn.pipe);
	cr_assert_eq(insert_later(1, "again", "the same key"), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.failed");
	cr_assert(strstr(err.msg, ": the same key: duplicate key value") != NULL, "%s", err.msg);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM t"), 1);
}

Test(pg_later, a_failure_sent_ahead_fails_the_next_wait_and_names_itself)
{
	begin();
	cr_assert_eq(insert_later(1, "a", "first"), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(insert_later(1, "b", "the same key"), GW_STORE_OK, "not waited for: %s",
		     err.msg);
	int rc;
	cr_assert_eq(count_t(&rc), -1);
	cr_assert_eq(rc, GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.failed");
	cr_assert(strstr(err.msg, ": the same key: duplicate key value") != NULL,
		  "the failed statement is named, not the read: %s", err.msg);
	cr_assert_null(conn.pipe);
	/* the transaction failed: a rollback, then the connection serves again */
	cr_assert_eq(gw_pg_exec(&conn, "ROLLBACK", NULL, NULL, "rollback", &err), GW_STORE_OK,
		     "%s", err.msg);
	conn.in_tx = false;
	cr_assert_eq(count_t(&rc), 0);
	cr_assert_eq(rc, GW_STORE_OK, "%s", err.msg);
}

Test(pg_later, a_rollback_to_a_savepoint_runs_after_a_failure_sent_ahead)
{
	begin();
	cr_assert_eq(insert_later(1, "kept", "first"), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_pg_exec_later(&conn, "SAVEPOINT item", NULL, "item savepoint", &err),
		     GW_STORE_OK);
	cr_assert_eq(insert_later(2, "undone", "second"), GW_STORE_OK);
	cr_assert_eq(insert_later(1, "fails", "the same key"), GW_STORE_OK);
	/* the rollback is not skipped with the failed pipe: it runs after it */
	cr_assert_eq(gw_pg_exec(&conn, "ROLLBACK TO SAVEPOINT item; RELEASE SAVEPOINT item", NULL,
				NULL, "item rollback", &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_null(conn.pipe);
	cr_assert_eq(insert_later(3, "after", "third"), GW_STORE_OK, "%s", err.msg);
	PGresult *r = NULL;
	cr_assert_eq(gw_pg_exec(&conn, "COMMIT", NULL, &r, "commit", &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert_str_eq(PQcmdStatus(r), "COMMIT");
	PQclear(r);
	conn.in_tx = false;
	char v[64];
	tm_store_qtext("SELECT string_agg(k || '=' || v, ',' ORDER BY k) FROM t", v, sizeof(v));
	cr_assert_str_eq(v, "1=kept,3=after");
}

Test(pg_later, a_pipe_begun_by_the_caller_takes_them_along)
{
	begin();
	cr_assert_eq(insert_later(1, "a", "first"), GW_STORE_OK, "%s", err.msg);
	struct gw_pg_pipe pp;
	cr_assert_eq(gw_pg_pipe_begin(&conn, &pp, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(conn.pipe, &pp);
	cr_assert_eq(pp.n, 2, "the Parse and the insert sent ahead, got %d", pp.n);
	int slot = -1;
	cr_assert_eq(gw_pg_pipe_send(&conn, "SELECT count(*) FROM t", NULL, true, "count", &slot,
				     &err), GW_STORE_OK);
	cr_assert_eq(gw_pg_pipe_sync(&conn, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_str_eq(PQgetvalue(pp.res[slot], 0, 0), "1");
	gw_pg_pipe_clear(&pp);
	cr_assert_null(conn.pipe);
	cr_assert_eq(gw_pg_exec(&conn, "ROLLBACK", NULL, NULL, "rollback", &err), GW_STORE_OK);
	conn.in_tx = false;
}

Test(pg_later, a_full_pipe_is_waited_for)
{
	begin();
	int sent = 0;
	for (int k = 1; k <= GW_PG_PIPE_MAX; k++) {
		cr_assert_eq(insert_later(k, "x", "insert"), GW_STORE_OK, "row %d: %s", k, err.msg);
		sent++;
		cr_assert(conn.pipe == NULL || conn.later.n <= GW_PG_PIPE_MAX, "overfull: %d",
			  conn.later.n);
	}
	int rc;
	cr_assert_eq(count_t(&rc), sent);
	cr_assert_eq(rc, GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_pg_exec(&conn, "ROLLBACK", NULL, NULL, "rollback", &err), GW_STORE_OK);
	conn.in_tx = false;
}

/* ---- the store: an item's failure sent ahead is that item's ---- */

Test(pg_later, the_item_whose_write_failed_is_the_one_that_fails)
{
	struct gw_store *st = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	o.schema = GW_STORE_SCHEMA_MIGRATE;
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	/* an alert's update fails when its detail says so */
	cr_assert(tm_store_exec("", "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
				" $$BEGIN IF NEW.detail = 'boom' THEN RAISE EXCEPTION 'boom refused';"
				" END IF; RETURN NEW; END$$;"
				"CREATE TRIGGER boom BEFORE UPDATE ON svc_alerts FOR EACH ROW"
				" EXECUTE FUNCTION boom()"));
	struct gw_alert_row a = { .state = GW_ALERT_OPEN, .first_seen = 1, .last_seen = 1,
				  .count = 1 };
	strcpy(a.serial, "XK1");
	strcpy(a.tenant, "acme");
	strcpy(a.kind, "supply_low");
	strcpy(a.subject, "supplies/1");
	strcpy(a.severity, "warning");
	strcpy(a.detail, "first");
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_alert_insert(st, &a, &err), GW_STORE_OK, "%s", err.msg);
	static const char *const details[] = { "second", "boom", "fourth" };
	int ends[3];
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(gw_store_item_begin(st, &err), GW_STORE_OK, "%s", err.msg);
		strcpy(a.detail, details[i]);
		a.count = 2 + i;
		a.last_seen = 2 + i;
		/* sent ahead: the failure is not known yet */
		cr_assert_eq(gw_store_alert_repeat(st, &a, &err), GW_STORE_OK, "%s", err.msg);
		struct tm_error ierr = {0};
		ends[i] = gw_store_item_end(st, true, &ierr);
		if (i == 1) {
			cr_assert_str_eq(ierr.reason, "store.failed");
			cr_assert(strstr(ierr.msg, ": update alert: boom refused") != NULL, "%s",
				  ierr.msg);
			cr_assert_eq(gw_store_item_end(st, false, &err), GW_STORE_OK, "%s", err.msg);
		}
	}
	cr_assert_eq(ends[0], GW_STORE_OK);
	cr_assert_eq(ends[1], GW_STORE_ERROR);
	cr_assert_eq(ends[2], GW_STORE_OK);
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	char v[96];
	tm_store_qtext("SELECT detail || ' ' || count FROM svc_alerts", v, sizeof(v));
	cr_assert_str_eq(v, "fourth 4");
	gw_store_close(st);
}

/* An item as stage 1 leaves it: report i of XK1 as sr says, read and
 * normalized. */
static struct gw_item *item_from(const struct sc_report *sr, int i)
{
	struct tm_buf y;
	tm_buf_init(&y);
	sc_yaml(sr, &y);
	struct gw_item *it = calloc(1, sizeof(*it));
	cr_assert_not_null(it);
	size_t len;
	uint8_t *raw = tm_buf_take(&y, &len);
	gw_item_init(it, "test", raw, len, T0_LATER + i * 3600);
	cr_assert_eq(tm_report_read(it->raw, it->len, NULL, &it->report, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_report_normalize(it->report, &it->json, &err), 0, "%s", err.msg);
	snprintf(it->serial, sizeof(it->serial), "%s", it->report->serial);
	snprintf(it->report_id, sizeof(it->report_id), "%s", it->report->id);
	snprintf(it->tenant, sizeof(it->tenant), "acme");
	tm_buf_fini(&y);
	return it;
}

/* Report i of XK1: its counter. */
static struct gw_item *item_of(int i)
{
	struct sc_report sr;
	sc_report_init(&sr, "XK1", i, T0_LATER + i * 3600);
	sr.total = 1000 + 10 * i;
	return item_from(&sr, i);
}

/* Report i of XK1: its counter and its toner's level. */
static struct gw_item *item_with_toner(int i)
{
	struct sc_report sr;
	sc_report_init(&sr, "XK1", i, T0_LATER + i * 3600);
	sr.total = 1000 + 10 * i;
	sr.supplies[0] = (struct sc_supply){ .index = 1, .type = "toner", .colorant = "black",
					     .level = 90 - i, .max = 100 };
	return item_from(&sr, i);
}

/* A store and a quarantine on the server, tenant acme with XK1 enrolled. */
static void open_acme(struct gw_store **st, struct gw_quarantine **q)
{
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_quarantine_open(&o, q, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(*st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	sc_enroll(*st, "XK1", "acme", 1);
}

/* The three items through the pipeline in one batch: the first and the
 * third stored, the second quarantined with store.failed naming what. */
static void commit_middle_kept_aside(struct gw_store *st, struct gw_quarantine *q,
				     struct gw_item **items, const char *what)
{
	cr_assert_eq(gw_pipeline_commit(NULL, st, q, items, 3, T0_LATER + 86400, &err), GW_STORE_OK,
		     "%s", err.msg);
	static const enum gw_outcome want[] = { GW_OUTCOME_STORED, GW_OUTCOME_QUARANTINED,
						GW_OUTCOME_STORED };
	for (int i = 0; i < 3; i++) {
		cr_assert(items[i]->done, "item %d", i);
		cr_assert_eq(items[i]->outcome, want[i], "item %d: %s", i,
			     gw_outcome_name(items[i]->outcome));
	}
	cr_assert_str_eq(items[1]->err.reason, "store.failed");
	cr_assert(strstr(items[1]->err.msg, what) != NULL, "%s", items[1]->err.msg);
}

static void free_items(struct gw_item **items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		gw_item_fini(items[i]);
		free(items[i]);
	}
}

Test(pg_later, in_a_batch_the_item_whose_audit_append_failed_alone_is_kept_aside)
{
	struct gw_store *st = NULL;
	struct gw_quarantine *q = NULL;
	open_acme(&st, &q);
	struct gw_item *items[3];
	for (int i = 0; i < 3; i++)
		items[i] = item_of(i + 1);
	/* the audit chain refuses the second report's entry (sent ahead) */
	char sql[600];
	snprintf(sql, sizeof(sql),
		 "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
		 " $$BEGIN IF NEW.object LIKE 'report %s %%' THEN RAISE EXCEPTION 'boom refused';"
		 " END IF; RETURN NEW; END$$;"
		 "CREATE TRIGGER boom BEFORE INSERT ON svc_audit FOR EACH ROW EXECUTE FUNCTION boom()",
		 items[1]->report_id);
	cr_assert(tm_store_exec("", sql));
	commit_middle_kept_aside(st, q, items, ": append audit entry: boom refused");
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM reports"), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM reports WHERE report_id = '%s'",
		 items[1]->report_id);
	cr_assert_eq(tm_store_q1(sql), 0);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM quarantine WHERE reason = 'store.failed'"), 1);
	/* the chain goes on from the first report's entry to the third's */
	struct gw_audit_verify v;
	cr_assert_eq(gw_audit_verify(st, NULL, &v, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM svc_audit WHERE action = 'ingest'"), 2);
	free_items(items, 3);
	gw_quarantine_close(q);
	gw_store_close(st);
}

/* A stored report's latest supplies are sent ahead with the put's release
 * (store_pg_put.c): when the server refuses them, the item of that report
 * fails alone, undone whole (its report too), and the items around it are
 * stored; the device's latest supplies are the third report's. */
Test(pg_later, in_a_batch_the_item_whose_latest_supplies_failed_alone_is_kept_aside)
{
	struct gw_store *st = NULL;
	struct gw_quarantine *q = NULL;
	open_acme(&st, &q);
	struct gw_item *items[3];
	for (int i = 0; i < 3; i++)
		items[i] = item_with_toner(i + 1);
	cr_assert(tm_store_exec("", "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
				" $$BEGIN IF NEW.seq = 2 THEN RAISE EXCEPTION 'boom refused';"
				" END IF; RETURN NEW; END$$;"
				"CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON latest_supplies"
				" FOR EACH ROW EXECUTE FUNCTION boom()"));
	commit_middle_kept_aside(st, q, items, ": insert supply: boom refused");
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM reports"), 2);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM reports WHERE seq = 2"), 0);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM supplies"), 2, "the second's rows undone");
	cr_assert_eq(tm_store_q1("SELECT seq * 1000 + level FROM latest_supplies"), 3087);
	cr_assert_eq(tm_store_q1("SELECT last_seq FROM devices WHERE serial = 'XK1'"), 3);
	free_items(items, 3);
	gw_quarantine_close(q);
	gw_store_close(st);
}

/* A session takes report ids from the sequence ahead, GW_PG_IDS at a time:
 * its first put takes them in a round trip of its own, a later put more in
 * its pipe when a quarter are left; forty reports stored one by one get
 * forty ids in their month's range from two takes. A put rolled back
 * leaves its id unused, and the next one is stored. */
#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"
/* the numbers the sequence gave so far */
#define SEQ_TAKEN "SELECT last_value - CASE WHEN is_called THEN 0 ELSE 1 END FROM reports_id_seq"

Test(pg_later, report_ids_taken_ahead)
{
	struct gw_store *st = NULL;
	struct gw_quarantine *q = NULL;
	open_acme(&st, &q);
	long long seq0 = tm_store_q1(SEQ_TAKEN);
	enum { N = 40 };
	for (int i = 1; i <= N; i++) {
		struct gw_item *it = item_of(i);
		cr_assert_eq(gw_pipeline_commit(NULL, st, q, &it, 1, T0_LATER + 86400, &err),
			     GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(it->outcome, GW_OUTCOME_STORED, "report %d: %s", i, it->err.msg);
		free_items(&it, 1);
		if (i == 1)
			cr_assert_eq(tm_store_q1(SEQ_TAKEN) - seq0,
				     GW_PG_IDS, "the first put took %d numbers ahead", GW_PG_IDS);
	}
	cr_assert_eq(tm_store_q1("SELECT count(DISTINCT id) FROM reports"), N);
	char sql[300];
	int64_t m = gw_pg_month_of(T0_LATER + 3600);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM reports WHERE id >> %d = %lld",
		 GW_PG_MONTH_SHIFT, (long long)m);
	cr_assert_eq(tm_store_q1(sql), N, "every id in its month");
	/* taken again, in a put's pipe, when a quarter were left (after 24) */
	cr_assert_eq(tm_store_q1(SEQ_TAKEN) - seq0, 2 * GW_PG_IDS);
	/* a batch rolled back: its report's id is a gap; the next is stored */
	struct gw_item *it = item_of(N + 1);
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_item_begin(st, &err), GW_STORE_OK, "%s", err.msg);
	struct gw_store_record rec = { .report = it->report, .json = (const char *)it->json.data,
				       .json_len = it->json.len, .tenant = "acme",
				       .received_at = T0_LATER + 3600,
				       .raw_sha256 = ZERO64, .fingerprint = ZERO64 };
	struct gw_put_info info = {0};
	cr_assert_eq(gw_store_put(st, &rec, &info, &err), GW_STORE_OK, "%s", err.msg);
	gw_store_rollback(st);
	cr_assert_eq(gw_pipeline_commit(NULL, st, q, &it, 1, T0_LATER + 86400, &err), GW_STORE_OK,
		     "%s", err.msg);
	cr_assert_eq(it->outcome, GW_OUTCOME_STORED, "%s", it->err.msg);
	cr_assert_eq(tm_store_q1("SELECT count(DISTINCT id) FROM reports"), N + 1);
	free_items(&it, 1);
	gw_quarantine_close(q);
	gw_store_close(st);
}

/* A put names its month's partitions (gw_pg_into_month). A batch that made
 * a month's partitions and rolled back took them along; the statements
 * the session prepared against them stay: the next put of that month, on
 * the same connection, makes the partitions again and is stored. */
Test(pg_later, a_month_made_in_a_rolled_back_batch_is_made_again)
{
	struct gw_store *st = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	sc_enroll(st, "XK1", "acme", 1);
	struct gw_item *it = item_of(1);
	struct gw_store_record rec = {
		.report = it->report, .json = (const char *)it->json.data, .json_len = it->json.len,
		.tenant = "acme", .raw_sha256 = "", .received_at = 1893456000, /* 2030-01-01 */
	};
	gw_item_ensure_sha256(it);
	rec.raw_sha256 = it->raw_sha256;
	struct gw_put_info info;
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_put(st, &rec, &info, &err), GW_STORE_OK, "round %d: %s: %s",
			     round, err.reason, err.msg);
		cr_assert_eq(info.result, GW_PUT_STORED, "round %d", round);
		if (round == 0)
			gw_store_rollback(st);
		else
			cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	}
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM reports_2030_01"), 1);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM counters_2030_01 c JOIN reports_2030_01 r"
				 " ON r.id = c.report"), tm_store_q1("SELECT count(*) FROM counters"));
	cr_assert_gt(tm_store_q1("SELECT count(*) FROM counters"), 0);
	gw_item_fini(it);
	free(it);
	gw_store_close(st);
}

/* (Over 800 lines: one test file per module, STYLE.md.)
 *
 * The store interface and its back ends: migrations, put/commit,
 * duplicates, conflicts, out-of-order reports, batches, crash safety, the
 * message log, transient failures. Run twice (test/meson.build): on real
 * SQLite files in a temporary dir (suite store) and on a real PostgreSQL
 * started by test/pg_fixture.sh (suite store_pg), see store_fixture.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "common.h"
#include "registry/registry.h"
#include "store/audit.h"
#include "store/store.h"
#include "store_fixture.h"

/* The schema versions this program knows (a row per migration) and the
 * tables of a fresh PostgreSQL schema. */
#define SQ_VERSION 13
#define SQ_VERSION_S "13"
#define PG_VERSION 16
#define PG_VERSION_S "16"
#define PG_TABLES 38

/* SQL that takes the forecast's tail (SQLite v13, PostgreSQL v16) away */
#define TAIL_DROP                                                                  \
	"ALTER TABLE supply_forecasts DROP COLUMN cart_key;"                        \
	"ALTER TABLE supply_forecasts DROP COLUMN cart_at;"                         \
	"ALTER TABLE supply_forecasts DROP COLUMN fine_levels;"

/* ---- fixtures ---- */

static char *tmpdir;
static char dbpath[512];

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	snprintf(dbpath, sizeof(dbpath), "%s/telemail.db", tmpdir);
	tm_store_fixture_setup(tmpdir, "telemail.db");
}

static void teardown(void)
{
	tm_store_fixture_teardown();
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(store, .init = setup, .fini = teardown);

static struct gw_store *open_store(void)
{
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s: %s", err.reason, err.msg);
	return st;
}

static struct gw_store *open_with_tenant(void)
{
	struct gw_store *st = open_store();
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 1000, &err), 0, "%s", err.msg);
	return st;
}

static long long q1(const char *sql)
{
	return tm_store_q1(sql);
}

static void qtext(const char *sql, char *out, size_t cap)
{
	tm_store_qtext(sql, out, cap);
}

/* A report with every list filled, its JSON stand-in and a record. */
struct item {
	struct tm_report *r;
	char json[4096];   /* (a_long_json_is_compressed_with_lz4 fills it) */
	char sha[GW_SHA256_HEX];
	char msgid[64];
	struct gw_store_record rec;
};

static char *dup_s(const char *s)
{
	char *p = strdup(s);
	cr_assert_not_null(p);
	return p;
}

static void item_init(struct item *it, long long n, const char *serial, int64_t seq,
		      int64_t level)
{
	memset(it, 0, sizeof(*it));
	struct tm_report *r = tm_report_new();
	cr_assert_not_null(r);
	char id[48];
	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012llx", n);
	r->id = dup_s(id);
	r->seq = seq;
	r->kind = TM_KIND_PERIODIC;
	r->generated_at = dup_s("2025-03-01T10:00:00Z");
	r->agent = dup_s("telemail-agent/0.1.0");
	r->serial = dup_s(serial);
	r->model = dup_s("XK-100");
	r->has_status = true;
	r->state = dup_s("idle");
	r->has_counters = true;
	r->has_service[TM_SVC_TOTAL] = true;
	r->service[TM_SVC_TOTAL].impressions = 1000 + seq;
	r->service[TM_SVC_TOTAL].sheets = 600 + seq;
	r->has_service[TM_SVC_PRINT] = true;
	r->service[TM_SVC_PRINT].impressions = 700 + seq;
	r->n_vendor = 1;
	r->vendor = calloc(1, sizeof(*r->vendor));
	r->vendor[0].id = dup_s("xk.clicks.a3");
	r->vendor[0].value = 42;
	r->has_supplies = true;
	r->n_supplies = 2;
	r->supplies = calloc(2, sizeof(*r->supplies));
	for (int i = 0; i < 2; i++) {
		r->supplies[i].index = i + 1;
		r->supplies[i].type = dup_s("toner");
		r->supplies[i].colorant = dup_s(i == 0 ? "black" : "cyan");
		r->supplies[i].max_capacity = 100;
		r->supplies[i].level = level + i;
	}
	r->has_parts = true;
	r->n_parts = 1;
	r->parts = calloc(1, sizeof(*r->parts));
	r->parts[0].name = dup_s("fuser");
	r->parts[0].used = 5000;
	r->parts[0].rated_life = 100000;
	r->has_alerts = true;
	r->n_alerts = 1;
	r->alerts = calloc(1, sizeof(*r->alerts));
	r->alerts[0].code = dup_s("tonerLow");
	r->alerts[0].severity = dup_s("warning");
	r->alerts[0].location = TM_UNSET;
	r->alerts[0].counter = TM_UNSET;
	r->has_diagnostics = true;
	r->n_diagnostics = 4;
	r->diagnostics = calloc(4, sizeof(*r->diagnostics));
	r->diagnostics[0] = (struct tm_diag){ .name = dup_s("fuser.temp"), .type = TM_DIAG_FLOAT, .f = 180.5 };
	r->diagnostics[1] = (struct tm_diag){ .name = dup_s("jams"), .type = TM_DIAG_INT, .i = 3 };
	r->diagnostics[2] = (struct tm_diag){ .name = dup_s("mode"), .type = TM_DIAG_STRING, .s = dup_s("123") };
	r->diagnostics[3] = (struct tm_diag){ .name = dup_s("duplex"), .type = TM_DIAG_BOOL, .b = true };
	r->n_firmware = 1;
	r->firmware = calloc(1, sizeof(*r->firmware));
	r->firmware[0].component = dup_s("main");
	r->firmware[0].version = dup_s("1.2.3");
	it->r = r;
	snprintf(it->json, sizeof(it->json), "{\"id\":\"%s\",\"seq\":%lld,\"level\":%lld}", id,
		 (long long)seq, (long long)level);
	snprintf(it->sha, sizeof(it->sha), "%064llx", n);
	snprintf(it->msgid, sizeof(it->msgid), "msg%lld@dev.example", n);
	it->rec = (struct gw_store_record){
		.report = r, .json = it->json, .json_len = strlen(it->json), .tenant = "acme",
		.fingerprint = NULL, .message_id = it->msgid, .received_at = 2000 + n,
		.raw_sha256 = it->sha,
	};
}

static void item_fini(struct item *it)
{
	tm_report_free(it->r);
}

static struct gw_put_info put_ok(struct gw_store *st, struct item *it)
{
	struct tm_error err = {0};
	struct gw_put_info info;
	int rc = gw_store_put(st, &it->rec, &info, &err);
	cr_assert_eq(rc, GW_STORE_OK, "put: %s: %s", err.reason, err.msg);
	return info;
}

/* ---- migrations ---- */

Test(store, migrates_from_empty_and_reopens_idempotently)
{
	struct gw_store *st = open_store();
	cr_assert_str_eq(gw_store_backend(st), tm_sf.pg ? "postgresql" : "sqlite");
	struct tm_error err = {0};
	int in_db = -1, known = -1;
	cr_assert_eq(gw_store_schema_version(st, &in_db, &known, &err), GW_STORE_OK, "%s", err.msg);
	/* SQLite: v5 forwarding, v6 supplies, v7 the report-time index with seq,
	 * v8 notification claims, v9 the retention index, v10 supply
	 * forecasts, v11 their figures, v12 the report-time index with the
	 * tenant, v13 the forecast's tail; PostgreSQL: v5 notification claims, v6
	 * forwarding, then v8 deferrable keys, v9 row-level security, v10 the
	 * reporting views, v11 the retention index (versions 7 to 10), supplies
	 * (version 11), the monthly partitions (12), supply forecasts (13),
	 * their figures (14), reports' counters packed (15) and the forecast's
	 * tail (16) */
	cr_assert_eq(in_db, tm_sf.pg ? PG_VERSION : SQ_VERSION);
	cr_assert_eq(known, tm_sf.pg ? PG_VERSION : SQ_VERSION);
	gw_store_close(st);
	if (tm_sf.pg) {
		const char *tables = "SELECT count(*) FROM information_schema.tables"
				     " WHERE table_schema = 'public'";
		cr_assert_eq(q1(tables), PG_TABLES, "v1: 14 and the quarantine; v2: 4; v4: 2; telemail_schema; "
			     "reporting_logins and 5 views; forwarding: 4; supplies: 4; report_keys;"
			     " supply_forecasts");
		cr_assert_eq(q1("SELECT count(*) FROM telemail_schema"), PG_VERSION, "a row per migration");
		cr_assert_eq(q1("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
				" AND condeferrable AND NOT condeferred AND conrelid::regclass::text"
				" IN ('supply_rules', 'supply_orders', 'supply_order_events')"), 3,
			     "the supply tables' keys: deferrable, checked at once by default");
		gw_store_close(open_store());
		cr_assert_eq(q1(tables), PG_TABLES);
		cr_assert_eq(q1("SELECT max(version) FROM telemail_schema"), PG_VERSION);
		return;
	}
	cr_assert_eq(q1("PRAGMA user_version"), SQ_VERSION);
	cr_assert_eq(q1("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
			"('tenants','certificates','devices','cert_devices','reports','report_json',"
			"'counters','supplies','latest_supplies','parts','alerts','diagnostics',"
			"'firmware','message_log')"), 14);
	char mode[16];
	qtext("PRAGMA journal_mode", mode, sizeof(mode));
	cr_assert_str_eq(mode, "wal");
	long long tables = q1("SELECT count(*) FROM sqlite_master");
	st = open_store();   /* again: nothing to migrate, nothing changes */
	gw_store_close(st);
	cr_assert_eq(q1("PRAGMA user_version"), SQ_VERSION);
	cr_assert_eq(q1("SELECT count(*) FROM sqlite_master"), tables);
}

/* v3: a database of v2 gets the fractions of its reports from their text */
Test(store, migration_v3_keeps_the_fraction_of_stored_reports)
{
	TM_SQLITE_ONLY();   /* PostgreSQL's v3 had no reports to migrate */
	gw_store_close(open_with_tenant());
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	/* back to v2's shape, with two reports written by a v2 gateway */
	cr_assert_eq(sqlite3_exec(db,
		"PRAGMA foreign_keys = OFF; BEGIN;"
		"ALTER TABLE svc_notify DROP COLUMN claim_owner;"
		"ALTER TABLE svc_notify DROP COLUMN claim_until;"
		"DROP TABLE fwd_stat; DROP TABLE fwd_item; DROP TABLE fwd_cursor; DROP TABLE fwd_event;"
		"DROP TABLE meter_decisions; DROP TABLE supply_order_events; DROP TABLE supply_orders;"
		"DROP TABLE supply_rules; DROP TABLE supply_forecasts;"
		"DROP TABLE collector_unreachable; DROP TABLE collector_status;"
		"DROP INDEX reports_serial_time; DROP INDEX reports_received;"
		"ALTER TABLE reports DROP COLUMN generated_nsec;"
		"ALTER TABLE devices DROP COLUMN last_seen_nsec;"
		"CREATE INDEX reports_serial_time ON reports(serial, generated_unix);"
		"INSERT INTO devices (serial, tenant, enrolled_at, last_seq, last_seen)"
		" VALUES ('D1', 'acme', 1, 2, 1793491200);"
		"INSERT INTO reports (report_id, serial, seq, tenant, kind, generated_at, generated_unix,"
		" received_at, raw_sha256) VALUES"
		" ('r1', 'D1', 1, 'acme', 'periodic', '2026-10-31T12:00:00Z', 1793448000, 1, 'x'),"
		" ('r2', 'D1', 2, 'acme', 'periodic', '2026-11-01T00:00:00.6Z', 1793491200, 1, 'y');"
		"PRAGMA user_version = 2; COMMIT;", NULL, NULL, NULL), SQLITE_OK, "%s",
		sqlite3_errmsg(db));
	sqlite3_close(db);
	gw_store_close(open_store());
	cr_assert_eq(q1("PRAGMA user_version"), SQ_VERSION);
	cr_assert_eq(q1("SELECT generated_nsec FROM reports WHERE report_id = 'r1'"), 0);
	cr_assert_eq(q1("SELECT generated_nsec FROM reports WHERE report_id = 'r2'"), 600000000);
	cr_assert_eq(q1("SELECT last_seen_nsec FROM devices WHERE serial = 'D1'"), 600000000);
}

/* v12 (PostgreSQL): a database of v11 with reports gets them into monthly
 * partitions, each id re-encoded as (month received << 40) | its old id,
 * the lists and report_keys following; the reporting views and a reporting
 * role's grants made again; the audit chain untouched; puts go on (a new
 * report after the old ids, a conflict found through report_keys). */
extern const char *const *const gw_pg_migrations[];

#define MONTH_ID(y, m, low) ((((long long)(y) * 12 + (m) - 1) << 40) | (low))

Test(store, migration_v12_moves_reports_into_monthly_partitions)
{
	TM_PG_ONLY();
	for (int v = 0; v < 11; v++)
		for (size_t k = 0; gw_pg_migrations[v][k] != NULL; k++)
			cr_assert(tm_store_exec(NULL, gw_pg_migrations[v][k]), "migration %d", v + 1);
	char role[96], sql[1024];
	snprintf(role, sizeof(role), "%s_bi", tm_sf.dbname);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE telemail_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL);"
		 "INSERT INTO telemail_schema SELECT v, 0 FROM generate_series(1, 11) v;"
		 "CREATE ROLE %s", role);
	cr_assert(tm_store_exec(NULL, sql));
	/* as v11 is: a tenant added by a gateway (audited), two reports */
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	o.schema = GW_STORE_SCHEMA_AS_IS;
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 1000, &err), 0, "%s", err.msg);
	gw_store_close(st);
	snprintf(sql, sizeof(sql), "SELECT telemail_grant_reporting('%s', NULL)", role);
	cr_assert(tm_store_exec(NULL, sql));
	cr_assert(tm_store_exec(NULL,
		"INSERT INTO devices (serial, tenant, enrolled_at, last_seq) VALUES ('XK1', 'acme', 1, 2);"
		"INSERT INTO reports (report_id, serial, seq, tenant, kind, generated_at, generated_unix,"
		" received_at, raw_sha256) VALUES"
		" ('r1', 'XK1', 1, 'acme', 'periodic', '2024-03-15T00:00:00Z', 1710460800, 1710460800, 'x'),"
		" ('r2', 'XK1', 2, 'acme', 'periodic', '2026-11-02T00:00:00Z', 1793577600, 1793577600, 'y');"
		"INSERT INTO report_json SELECT id, '{}' FROM reports;"
		"INSERT INTO counters SELECT id, 'total', 'impressions', 100 * seq, NULL FROM reports;"
		"INSERT INTO supplies SELECT id, 0, 'toner', 'black', NULL, NULL, 100, 50, NULL FROM reports;"
		"INSERT INTO alerts (report, n, code, severity) SELECT id, 0, 'c1', 'warning' FROM reports"
		" WHERE seq = 2;"));
	cr_assert_eq(q1("SELECT max(id) FROM reports"), 2);

	st = open_store();   /* migrates */
	int in_db = 0, known = 0;
	cr_assert_eq(gw_store_schema_version(st, &in_db, &known, &err), GW_STORE_OK);
	cr_assert_eq(in_db, PG_VERSION, "12 and those after it");
	cr_assert_eq(q1("SELECT id FROM reports WHERE report_id = 'r1'"), MONTH_ID(2024, 3, 1));
	cr_assert_eq(q1("SELECT id FROM reports WHERE report_id = 'r2'"), MONTH_ID(2026, 11, 2));
	cr_assert_eq(q1("SELECT count(*) FROM reports_2024_03"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM reports_2026_11"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM report_keys k JOIN reports r USING (id, report_id,"
			" serial, seq)"), 2);
	cr_assert_eq(q1("SELECT sum(c.value) FROM counters c JOIN reports r ON r.id = c.report"), 300);
	cr_assert_eq(q1("SELECT count(*) FROM reports WHERE meters = 'total impressions ' || 100 * seq"),
		     2, "v15: each report's counters packed in its row");
	cr_assert_eq(q1("SELECT count(*) FROM report_json j JOIN reports r ON r.id = j.report"), 2);
	cr_assert_eq(q1("SELECT count(*) FROM supplies_2024_03"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM alerts a JOIN reports r ON r.id = a.report"
			" WHERE r.report_id = 'r2'"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_v11'"), 0,
		     "the old tables, indexes and sequence are gone");
	cr_assert_eq(q1("SELECT count(*) FROM reporting_meter_readings"), 2);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM unnest(ARRAY['reports', 'counters', 'reporting_meter_readings',"
		 " 'reporting_billing_lines']) t WHERE has_table_privilege('%s', t, 'SELECT')", role);
	cr_assert_eq(q1(sql), 4, "the reporting role reads the tables and views made again");
	cr_assert_eq(q1("SELECT count(*) FROM pg_policies WHERE tablename IN ('reports', 'counters')"),
		     2);

	struct gw_audit_verify av;
	cr_assert_eq(gw_audit_verify(st, NULL, &av, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_geq(av.entries, 1, "the tenant's entry");

	/* a new report: after the old ids, in its month's partition */
	struct item it;
	item_init(&it, 3, "XK1", 3, 40);
	cr_assert_eq(put_ok(st, &it).result, GW_PUT_STORED);
	item_fini(&it);
	cr_assert_eq(q1("SELECT id FROM reports WHERE seq = 3"), MONTH_ID(1970, 1, 3));
	/* another report id for XK1's seq 1: the conflict, through report_keys */
	item_init(&it, 4, "XK1", 1, 40);
	cr_assert_eq(put_ok(st, &it).result, GW_PUT_CONFLICT);
	item_fini(&it);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 3);
	gw_store_close(st);
	snprintf(sql, sizeof(sql), "DROP OWNED BY %s; DROP ROLE %s", role, role);
	cr_assert(tm_store_exec(NULL, sql));
}

/* SQLite v12 (issue 16): the report-time index ends with the tenant, so
 * that billing's walk over a month's reports reads the index alone. */
Test(store, migration_v12_puts_the_tenant_in_the_report_time_index)
{
	TM_SQLITE_ONLY();   /* PostgreSQL's billing reads meter_list */
	gw_store_close(open_with_tenant());
	cr_assert(tm_store_exec("DROP INDEX reports_serial_time; CREATE INDEX reports_serial_time"
				" ON reports(serial, generated_unix, generated_nsec, seq);"
				TAIL_DROP " PRAGMA user_version = 11;", NULL));
	cr_assert_eq(q1("SELECT count(*) FROM pragma_index_info('reports_serial_time')"), 4);
	gw_store_close(open_store());   /* migrates */
	cr_assert_eq(q1("PRAGMA user_version"), SQ_VERSION);
	char col[96];
	qtext("SELECT group_concat(name, ',') FROM (SELECT name FROM"
	      " pragma_index_info('reports_serial_time') ORDER BY seqno)", col, sizeof(col));
	cr_assert_str_eq(col, "serial,generated_unix,generated_nsec,seq,tenant");
}

/* SQLite v11, PostgreSQL v14 (issue 16): a forecast kept before has no
 * figures (NULL: `supplies` makes it again from the history); one kept
 * after has them. SQLite v13, PostgreSQL v16: nor a tail (the next
 * forecast reads the whole history); one kept after has it. */
Test(store, migration_v11_v14_adds_the_kept_forecasts_figures)
{
	gw_store_close(open_with_tenant());
	const char *drop = "ALTER TABLE supply_forecasts DROP COLUMN score;"
			   "ALTER TABLE supply_forecasts DROP COLUMN pages_per_day;"
			   "ALTER TABLE supply_forecasts DROP COLUMN pct_per_day;"
			   "ALTER TABLE supply_forecasts DROP COLUMN weekday_pattern;" TAIL_DROP;
	char sq[512], pg[1024];
	snprintf(sq, sizeof(sq), "%s PRAGMA user_version = 10;", drop);
	/* PostgreSQL: back to v13, v15 undone too */
	snprintf(pg, sizeof(pg), "%s DELETE FROM telemail_schema WHERE version >= 14;"
		 " ALTER TABLE reports DROP COLUMN meters; DROP INDEX reports_generated;"
		 " DROP FUNCTION telemail_meter_esc(text);", drop);
	cr_assert(tm_store_exec(sq, pg));
	cr_assert(tm_store_exec("INSERT INTO supply_forecasts (serial, idx, ok, reason, basis,"
				" confidence, empty_at, made_at)"
				" VALUES ('D1', 1, 1, '', 'pages', 'high', 1793491200, 1790812800)",
				"INSERT INTO supply_forecasts (serial, idx, ok, reason, basis,"
				" confidence, empty_at, made_at)"
				" VALUES ('D1', 1, true, '', 'pages', 'high', 1793491200, 1790812800)"));
	struct gw_store *st = open_store();   /* migrates */
	int in_db = 0, known = 0;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_schema_version(st, &in_db, &known, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(in_db, tm_sf.pg ? PG_VERSION : SQ_VERSION);
	cr_assert_eq(q1("SELECT count(*) FROM supply_forecasts WHERE serial = 'D1' AND empty_at ="
			" 1793491200 AND score IS NULL AND weekday_pattern IS NULL"), 1);
	struct gw_supply_tail t;
	bool found = true;
	cr_assert_eq(gw_store_supply_tail_get(st, "D1", 1, &t, &found, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert(!found, "a forecast kept before the tail has none");
	struct gw_supply_forecast_row f = { .ok = true, .empty_at = 1793491200, .made_at = 1790899200,
					    .figures = true, .score = 0.8125, .pages_per_day = 212.5,
					    .pct_per_day = 0.1, .weekday_pattern = true,
					    .tail = { .cart_key = 41, .cart_at = 1790000000,
						      .fine_levels = true } };
	cr_assert_eq(gw_store_supply_forecast_set(st, "D1", 1, &f, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_supply_tail_get(st, "D1", 1, &t, &found, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert(found);
	cr_assert_eq(t.made_at, 1790899200);
	cr_assert_eq(t.cart_key, 41);
	cr_assert_eq(t.cart_at, 1790000000);
	cr_assert(t.fine_levels);
	cr_assert_eq(gw_store_supply_tail_get(st, "D1", 2, &t, &found, &err), GW_STORE_OK, "%s",
		     err.msg);
	cr_assert(!found, "no forecast kept for supply 2");
	gw_store_close(st);
	cr_assert_eq(q1("SELECT count(*) FROM supply_forecasts WHERE score = 0.8125 AND"
			" pages_per_day = 212.5 AND pct_per_day = 0.1 AND weekday_pattern"), 1,
		     "0.1 (no binary fraction) to the last bit");
}

Test(store, refuses_a_schema_newer_than_it_knows)
{
	gw_store_close(open_store());
	cr_assert(tm_store_exec("PRAGMA user_version = 99",
				"INSERT INTO telemail_schema VALUES (99, 0)"));
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_ERROR);
	cr_assert_null(st);
	cr_assert_str_eq(err.reason, "store.version");
	/* both back ends say the same (gw_store_refuse_newer) */
	cr_assert_not_null(strstr(err.msg, tm_sf.pg ? "schema version 99 is newer than this program's " PG_VERSION_S ": it was written by a newer telemail-mailgw"
				  : "schema version 99 is newer than this program's " SQ_VERSION_S ": it was written by "
				  "a newer telemail-mailgw"), "%s", err.msg);
	/* as it is: opens, and says which versions */
	o.schema = GW_STORE_SCHEMA_AS_IS;
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	int in_db, known;
	cr_assert_eq(gw_store_schema_version(st, &in_db, &known, &err), GW_STORE_OK);
	cr_assert_eq(in_db, 99);
	cr_assert_eq(known, tm_sf.pg ? PG_VERSION : SQ_VERSION);
	cr_assert_eq(gw_store_migrate(st, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.version");
	gw_store_close(st);
}

Test(store, unknown_backend_and_unopenable_path)
{
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options o = { .backend = "oracle", .path = dbpath };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "'oracle'"), "%s", err.msg);

	char bad[600];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/t.db", tmpdir);
	o = (struct gw_store_options){ .path = bad };
	if (tm_sf.pg) {   /* no server behind that socket directory */
		snprintf(bad, sizeof(bad), "host=%s/no/such/dir dbname=x", tmpdir);
		o = (struct gw_store_options){ .backend = "postgresql", .conninfo = bad };
	}
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_RETRY);
	cr_assert_str_eq(err.reason, "store.unavailable");
	cr_assert_not_null(strstr(err.msg, "/no/such/dir"), "%s", err.msg);
	cr_assert(tm_reason_is_transient(err.reason));
}

/* ---- put ---- */

Test(store, put_writes_every_relational_row_and_the_message_log)
{
	struct gw_store *st = open_with_tenant();
	struct item it;
	item_init(&it, 1, "XK100001", 7, 40);
	struct tm_error err = {0};
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	struct gw_put_info info = put_ok(st, &it);
	cr_assert_eq(info.result, GW_PUT_STORED);
	cr_assert(info.newest);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 0, "visible before commit");
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);

	cr_assert_eq(q1("SELECT count(*) FROM reports WHERE report_id = "
			"'00000000-0000-4000-8000-000000000001' AND serial = 'XK100001' AND seq = 7 "
			"AND tenant = 'acme' AND kind = 'periodic'"), 1);
	cr_assert_eq(q1("SELECT generated_unix FROM reports"), 1740823200);
	cr_assert_eq(q1("SELECT count(*) FROM report_json WHERE json LIKE '{\"id\":%'"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM counters"), 4);   /* total x2, print x1, vendor x1 */
	cr_assert_eq(q1("SELECT value FROM counters WHERE service = 'total' AND name = 'impressions'"),
		     1007);
	cr_assert_eq(q1("SELECT value FROM counters WHERE service = 'vendor' AND name = 'xk.clicks.a3'"),
		     42);
	cr_assert_eq(q1("SELECT count(*) FROM supplies"), 2);
	cr_assert_eq(q1("SELECT count(*) FROM parts WHERE name = 'fuser' AND rated_life = 100000"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM alerts WHERE code = 'tonerLow' AND location IS NULL"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM firmware WHERE version = '1.2.3'"), 1);
	/* diagnostics keep their type: "123" stays text */
	if (!tm_sf.pg) {   /* SQLite keeps the value's type; PostgreSQL its text and type */
		cr_assert_eq(q1("SELECT count(*) FROM diagnostics WHERE name = 'mode' AND typeof(value) = 'text'"), 1);
		cr_assert_eq(q1("SELECT count(*) FROM diagnostics WHERE name = 'fuser.temp' AND typeof(value) = 'real'"), 1);
	} else {
		cr_assert_eq(q1("SELECT count(*) FROM diagnostics WHERE name = 'mode' AND type = 'string'"), 1);
		cr_assert_eq(q1("SELECT count(*) FROM diagnostics WHERE name = 'fuser.temp' AND type = 'float'"
				" AND value::float8 > 0"), 1);
	}
	cr_assert_eq(q1("SELECT value FROM diagnostics WHERE name = 'duplex'"), 1);
	cr_assert_eq(q1("SELECT last_seq FROM devices WHERE serial = 'XK100001'"), 7);
	cr_assert_eq(q1("SELECT count(*) FROM latest_supplies WHERE serial = 'XK100001'"), 2);

	struct gw_msglog_row row;
	bool found;
	cr_assert_eq(gw_store_msglog_get(st, it.sha, it.msgid, &row, &found, &err), GW_STORE_OK);
	cr_assert(found);
	cr_assert_eq(row.outcome, GW_OUTCOME_STORED);
	cr_assert_str_eq(row.report_id, it.r->id);
	cr_assert_eq(row.received_at, 2001);

	struct gw_report_ref ref;
	cr_assert_eq(gw_store_report_get(st, it.r->id, &ref, &found, &err), GW_STORE_OK);
	cr_assert(found);
	cr_assert_str_eq(ref.serial, "XK100001");
	cr_assert_eq(ref.seq, 7);
	cr_assert_str_eq(ref.raw_sha256, it.sha);
	cr_assert_eq(gw_store_report_get(st, "00000000-0000-4000-8000-0000000000ff", &ref, &found,
					 &err), GW_STORE_OK);
	cr_assert(!found);
	item_fini(&it);
	gw_store_close(st);
}

Test(store, same_id_again_is_a_duplicate_stored_once)
{
	struct gw_store *st = open_with_tenant();
	struct item a;
	item_init(&a, 1, "XK100001", 1, 50);
	cr_assert_eq(put_ok(st, &a).result, GW_PUT_STORED);
	/* the same raw message replayed (after a crash) */
	struct gw_put_info info = put_ok(st, &a);
	cr_assert_eq(info.result, GW_PUT_DUPLICATE);
	cr_assert(info.same_message);
	/* the same report resent in another mail */
	struct item b;
	item_init(&b, 1, "XK100001", 1, 50);
	snprintf(b.sha, sizeof(b.sha), "%064x", 0xbeef);
	snprintf(b.msgid, sizeof(b.msgid), "resend@dev.example");
	info = put_ok(st, &b);
	cr_assert_eq(info.result, GW_PUT_DUPLICATE);
	cr_assert(!info.same_message);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM counters"), 4);
	cr_assert_eq(q1("SELECT count(*) FROM message_log"), 2);
	cr_assert_eq(q1("SELECT count(*) FROM message_log WHERE outcome = 'stored'"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM message_log WHERE outcome = 'duplicate' AND "
			"message_id = 'resend@dev.example'"), 1);
	item_fini(&a);
	item_fini(&b);
	gw_store_close(st);
}

Test(store, same_id_with_other_content_is_a_conflict)
{
	struct gw_store *st = open_with_tenant();
	struct item a, b;
	item_init(&a, 1, "XK100001", 1, 50);
	item_init(&b, 1, "XK100001", 1, 49);   /* same id, other supply level → other JSON */
	snprintf(b.sha, sizeof(b.sha), "%064x", 0xb);
	put_ok(st, &a);
	struct tm_error err = {0};
	struct gw_put_info info;
	cr_assert_eq(gw_store_put(st, &b.rec, &info, &err), GW_STORE_OK);
	cr_assert_eq(info.result, GW_PUT_CONFLICT);
	cr_assert_str_eq(err.reason, "report.conflict");
	cr_assert_not_null(strstr(err.msg, "00000000-0000-4000-8000-000000000001"), "%s", err.msg);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM message_log"), 1, "a conflict is logged by the caller");
	cr_assert_eq(q1("SELECT level FROM supplies WHERE idx = 1"), 50);
	item_fini(&a);
	item_fini(&b);
	gw_store_close(st);
}

Test(store, same_device_and_seq_under_another_id_is_a_conflict)
{
	struct gw_store *st = open_with_tenant();
	struct item a, b;
	item_init(&a, 1, "XK100001", 5, 50);
	item_init(&b, 2, "XK100001", 5, 50);
	put_ok(st, &a);
	struct tm_error err = {0};
	struct gw_put_info info;
	cr_assert_eq(gw_store_put(st, &b.rec, &info, &err), GW_STORE_OK);
	cr_assert_eq(info.result, GW_PUT_CONFLICT);
	cr_assert_str_eq(info.existing_id, a.r->id);
	cr_assert_str_eq(err.reason, "report.conflict");
	cr_assert_not_null(strstr(err.msg, "seq 5"), "%s", err.msg);
	/* another device may use the same seq */
	struct item c;
	item_init(&c, 3, "XK100002", 5, 50);
	cr_assert_eq(put_ok(st, &c).result, GW_PUT_STORED);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 2);
	item_fini(&a);
	item_fini(&b);
	item_fini(&c);
	gw_store_close(st);
}

Test(store, out_of_order_reports_keep_derived_facts_of_the_newest_seq)
{
	struct gw_store *st = open_with_tenant();
	struct item it[4];
	item_init(&it[0], 3, "XK100001", 3, 30);
	item_init(&it[1], 1, "XK100001", 1, 90);
	item_init(&it[2], 2, "XK100001", 2, 60);
	item_init(&it[3], 5, "XK100001", 5, 10);
	cr_assert(put_ok(st, &it[0]).newest);
	cr_assert(!put_ok(st, &it[1]).newest);   /* late */
	cr_assert(!put_ok(st, &it[2]).newest);   /* late */
	cr_assert_eq(q1("SELECT last_seq FROM devices WHERE serial = 'XK100001'"), 3);
	char id[64];
	qtext("SELECT last_report_id FROM devices", id, sizeof(id));
	cr_assert_str_eq(id, it[0].r->id);
	cr_assert_eq(q1("SELECT level FROM latest_supplies WHERE serial = 'XK100001' AND idx = 1"), 30);
	cr_assert_eq(q1("SELECT seq FROM latest_supplies WHERE idx = 2"), 3);
	/* last_received follows the newest arrival whatever its seq */
	cr_assert_eq(q1("SELECT last_received FROM devices"), 2003);
	cr_assert(put_ok(st, &it[3]).newest);
	cr_assert_eq(q1("SELECT last_seq FROM devices"), 5);
	cr_assert_eq(q1("SELECT level FROM latest_supplies WHERE idx = 1"), 10);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 4);
	cr_assert_eq(q1("SELECT count(*) FROM supplies"), 8, "every report keeps its own rows");
	for (int i = 0; i < 4; i++)
		item_fini(&it[i]);
	gw_store_close(st);
}

Test(store, a_batch_of_1000_commits_in_one_transaction_and_rollback_drops_it)
{
	struct gw_store *st = open_with_tenant();
	struct tm_error err = {0};
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	cr_assert(gw_store_in_batch(st));
	for (int i = 0; i < 1000; i++) {
		struct item it;
		char serial[16];
		snprintf(serial, sizeof(serial), "XK%06d", i % 50);
		item_init(&it, i + 1, serial, i / 50 + 1, i % 100);
		cr_assert_eq(put_ok(st, &it).result, GW_PUT_STORED);
		item_fini(&it);
	}
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(!gw_store_in_batch(st));
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 1000);
	cr_assert_eq(q1("SELECT count(*) FROM devices"), 50);
	cr_assert_eq(q1("SELECT count(*) FROM message_log WHERE outcome = 'stored'"), 1000);

	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	for (int i = 0; i < 10; i++) {
		struct item it;
		item_init(&it, 5000 + i, "XK999999", i + 1, 5);
		put_ok(st, &it);
		item_fini(&it);
	}
	gw_store_rollback(st);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 1000);
	cr_assert_eq(q1("SELECT count(*) FROM devices WHERE serial = 'XK999999'"), 0);
	gw_store_close(st);
}

Test(store, a_bad_record_fails_alone_and_the_batch_goes_on)
{
	struct gw_store *st = open_with_tenant();
	struct tm_error err = {0};
	struct gw_put_info info;
	struct item good, dup_idx, bad_sha, no_tenant;
	item_init(&good, 1, "XK100001", 1, 50);
	item_init(&dup_idx, 2, "XK100001", 2, 50);
	dup_idx.r->supplies[1].index = 1;
	item_init(&bad_sha, 3, "XK100001", 3, 50);
	bad_sha.rec.raw_sha256 = "not-hex";
	item_init(&no_tenant, 4, "XK100002", 1, 50);
	no_tenant.rec.tenant = "nobody";   /* not in tenants: the foreign key refuses */

	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	cr_assert_eq(gw_store_put(st, &dup_idx.rec, &info, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_str_eq(err.msg, "supplies/1/index: 1 already used by supplies/0");
	cr_assert_eq(gw_store_put(st, &bad_sha.rec, &info, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "internal.bug");
	cr_assert_not_null(strstr(err.msg, "raw_sha256"));
	cr_assert_eq(gw_store_put(st, &no_tenant.rec, &info, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.failed");
	cr_assert_not_null(strcasestr(err.msg, "FOREIGN KEY"), "%s", err.msg);
	cr_assert_eq(put_ok(st, &good).result, GW_PUT_STORED);
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(q1("SELECT count(*) FROM reports"), 1);
	cr_assert_eq(q1("SELECT count(*) FROM devices"), 1, "nothing of the failed put is left");
	cr_assert_eq(q1("SELECT count(*) FROM message_log"), 1);
	item_fini(&good);
	item_fini(&dup_idx);
	item_fini(&bad_sha);
	item_fini(&no_tenant);
	gw_store_close(st);
}

/* ---- message log ---- */

Test(store, message_log_upserts_and_stored_is_final)
{
	struct gw_store *st = open_with_tenant();
	struct tm_error err = {0};
	char sha[GW_SHA256_HEX];
	snprintf(sha, sizeof(sha), "%064x", 0x77);
	struct gw_msglog_entry e = {
		.raw_sha256 = sha, .message_id = "m1@x", .received_at = 500,
		.outcome = GW_OUTCOME_DEFERRED, .reason = "store.busy", .detail = "locked",
	};
	cr_assert_eq(gw_store_log(st, &e, &err), GW_STORE_OK, "%s", err.msg);
	e.outcome = GW_OUTCOME_QUARANTINED;
	e.reason = "device.unknown";
	e.quarantine_id = sha;
	e.received_at = 900;   /* the first receipt time stays */
	cr_assert_eq(gw_store_log(st, &e, &err), GW_STORE_OK);
	struct gw_msglog_row row;
	bool found;
	cr_assert_eq(gw_store_msglog_get(st, sha, "m1@x", &row, &found, &err), GW_STORE_OK);
	cr_assert(found);
	cr_assert_eq(row.outcome, GW_OUTCOME_QUARANTINED);
	cr_assert_str_eq(row.reason, "device.unknown");
	cr_assert_str_eq(row.quarantine_id, sha);
	cr_assert_eq(row.received_at, 500);

	/* a stored message stays stored whatever is logged later */
	struct item it;
	item_init(&it, 9, "XK100001", 1, 50);
	put_ok(st, &it);
	e = (struct gw_msglog_entry){ .raw_sha256 = it.sha, .message_id = it.msgid,
		.received_at = 1, .outcome = GW_OUTCOME_DUPLICATE };
	cr_assert_eq(gw_store_log(st, &e, &err), GW_STORE_OK);
	cr_assert_eq(gw_store_msglog_get(st, it.sha, it.msgid, &row, &found, &err), GW_STORE_OK);
	cr_assert_eq(row.outcome, GW_OUTCOME_STORED);
	cr_assert_eq(gw_store_msglog_get(st, it.sha, "other@x", &row, &found, &err), GW_STORE_OK);
	cr_assert(!found);

	e.raw_sha256 = "xyz";
	cr_assert_eq(gw_store_log(st, &e, &err), -1);
	cr_assert_str_eq(err.reason, "internal.bug");
	item_fini(&it);
	gw_store_close(st);
}

/* ---- transient failures ---- */

Test(store, a_locked_database_answers_retry_with_store_busy)
{
	TM_SQLITE_ONLY();   /* PostgreSQL: rows lock, not the database (store_pg tests) */
	struct gw_store *st = open_with_tenant();
	gw_store_close(st);
	sqlite3 *other;
	cr_assert_eq(sqlite3_open(dbpath, &other), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	struct tm_error err = {0};
	struct gw_store_options o = { .path = dbpath, .busy_timeout_ms = 50 };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_RETRY);
	cr_assert_str_eq(err.reason, "store.busy");
	cr_assert(tm_reason_is_transient(err.reason));
	cr_assert(!gw_store_in_batch(st));
	struct item it;
	item_init(&it, 1, "XK100001", 1, 50);
	struct gw_put_info info;
	cr_assert_eq(gw_store_put(st, &it.rec, &info, &err), GW_STORE_RETRY);
	cr_assert_str_eq(err.reason, "store.busy");

	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	cr_assert_eq(put_ok(st, &it).result, GW_PUT_STORED);   /* the retry works */
	item_fini(&it);
	gw_store_close(st);
}

/* Two gateways' batches of the same devices: the first locks their rows at
 * its start and holds them to its end; the second waits (here: its lock
 * timeout, store.busy) and goes on once the first committed. SQLite: one
 * writer at a time, nothing to lock. */
Test(store, lock_devices_holds_the_rows_to_the_batch_end)
{
	struct gw_store *a = open_with_tenant();
	struct tm_error err = {0};
	struct item it;
	item_init(&it, 1, "XK100001", 1, 50);
	cr_assert_eq(put_ok(a, &it).result, GW_PUT_STORED);   /* the device's row */
	item_fini(&it);
	const char *serials[] = { "XK100002", "XK100001", "", "XK100001" };
	cr_assert_eq(gw_store_lock_devices(a, serials, 4, &err), GW_STORE_ERROR,
		     "outside a batch");
	cr_assert_str_eq(err.reason, "internal.bug");
	cr_assert_eq(gw_store_begin(a, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_lock_devices(a, serials, 4, &err), GW_STORE_OK, "%s", err.msg);
	if (tm_sf.pg) {
		struct gw_store *b = NULL;
		struct gw_store_options o = tm_store_options(NULL);
		o.busy_timeout_ms = 100;
		cr_assert_eq(gw_store_open(&o, &b, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_begin(b, &err), GW_STORE_OK, "%s", err.msg);
		const char *one[] = { "XK100001" };
		cr_assert_eq(gw_store_lock_devices(b, one, 1, &err), GW_STORE_RETRY);
		cr_assert_str_eq(err.reason, "store.busy");
		gw_store_rollback(b);
		cr_assert_eq(gw_store_commit(a, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_begin(b, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_lock_devices(b, one, 1, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_commit(b, &err), GW_STORE_OK, "%s", err.msg);
		gw_store_close(b);
	} else {
		cr_assert_eq(gw_store_commit(a, &err), GW_STORE_OK, "%s", err.msg);
	}
	gw_store_close(a);
}

/* ---- crash safety ---- */

#define CRASH_BATCH 100

static void child_writer(int ready_fd)
{
	struct tm_error err = {0};
	struct gw_store *st = NULL;
	struct gw_store_options o = tm_store_options(NULL);
	if (gw_store_open(&o, &st, &err) != GW_STORE_OK)
		_exit(2);
	for (long long b = 0;; b++) {
		if (gw_store_begin(st, &err) != GW_STORE_OK)
			_exit(3);
		for (int i = 0; i < CRASH_BATCH; i++) {
			struct item it;
			long long n = b * CRASH_BATCH + i + 1;
			char serial[16];
			snprintf(serial, sizeof(serial), "XK%06lld", n % 7);
			item_init(&it, n, serial, n, n % 100);
			struct gw_put_info info;
			if (gw_store_put(st, &it.rec, &info, &err) != GW_STORE_OK)
				_exit(4);
			item_fini(&it);
			if (b == 2 && i == CRASH_BATCH / 2 && write(ready_fd, "x", 1) != 1)
				_exit(5);
		}
		if (gw_store_commit(st, &err) != GW_STORE_OK)
			_exit(6);
	}
}

Test(store, a_crash_mid_batch_leaves_whole_batches_only_and_replay_changes_nothing)
{
	gw_store_close(open_with_tenant());
	for (int round = 0; round < 4; round++) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			close(p[0]);
			child_writer(p[1]);
		}
		close(p[1]);
		char c;
		cr_assert_eq(read(p[0], &c, 1), 1, "the writer did not get going");
		close(p[0]);
		/* kill it at a different point each round (mid-put, mid-commit …) */
		struct timespec ts = { 0, round * 3000000L };
		nanosleep(&ts, NULL);
		cr_assert_eq(kill(pid, SIGKILL), 0);
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status), "the writer exited by itself: %d", WEXITSTATUS(status));

		if (!tm_sf.pg) {
			char ok[32];
			qtext("PRAGMA integrity_check", ok, sizeof(ok));
			cr_assert_str_eq(ok, "ok");
		}
		/* open (recovers the WAL) and look */
		struct gw_store *st = open_store();
		long long n = q1("SELECT count(*) FROM reports");
		cr_assert_geq(n, 2 * CRASH_BATCH, "round %d", round);
		cr_assert_eq(n % CRASH_BATCH, 0, "round %d: %lld reports: half a batch", round, n);
		cr_assert_eq(q1("SELECT count(*) FROM counters"), 4 * n, "half a record");
		cr_assert_eq(q1("SELECT count(*) FROM supplies"), 2 * n);
		cr_assert_eq(q1("SELECT count(*) FROM report_json"), n);
		cr_assert_eq(q1("SELECT count(*) FROM message_log WHERE outcome = 'stored'"), n);
		cr_assert_eq(q1("SELECT max(seq) FROM reports"), n);

		/* re-processing the same messages changes nothing */
		char before[128], after[128];
		const char *digest = tm_sf.pg ?
			"SELECT count(*) || '/' || sum(received_at) || '/' || "
			"sum(updated_at) || '/' || string_agg(outcome, '' ORDER BY raw_sha256) "
			"FROM message_log" :
			"SELECT count(*) || '/' || sum(received_at) || '/' || "
			"sum(updated_at) || '/' || group_concat(outcome, '') FROM message_log";
		qtext(digest, before, sizeof(before));
		long long dev_before = q1("SELECT sum(last_seq) + sum(last_received) FROM devices");
		struct tm_error err = {0};
		cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
		for (long long k = 1; k <= n; k++) {
			struct item it;
			char serial[16];
			snprintf(serial, sizeof(serial), "XK%06lld", k % 7);
			item_init(&it, k, serial, k, k % 100);
			struct gw_put_info info = put_ok(st, &it);
			cr_assert_eq(info.result, GW_PUT_DUPLICATE);
			cr_assert(info.same_message);
			item_fini(&it);
		}
		cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK);
		qtext(digest, after, sizeof(after));
		cr_assert_str_eq(before, after);
		cr_assert_eq(q1("SELECT count(*) FROM reports"), n);
		cr_assert_eq(q1("SELECT sum(last_seq) + sum(last_received) FROM devices"), dev_before);
		gw_store_close(st);
		/* next round starts after what is there */
#define CLEAR_ROWS "DELETE FROM counters; DELETE FROM supplies; DELETE FROM parts;" \
		   "DELETE FROM alerts; DELETE FROM diagnostics; DELETE FROM firmware;" \
		   "DELETE FROM report_json; DELETE FROM reports;" \
		   "DELETE FROM latest_supplies; DELETE FROM devices;" \
		   "DELETE FROM message_log;"
		cr_assert(tm_store_exec("PRAGMA foreign_keys = OFF; BEGIN;" CLEAR_ROWS "COMMIT;",
					CLEAR_ROWS));
	}
}

/* ---- helpers ---- */

Test(store, future_reports_are_refused_beyond_the_skew)
{
	struct item it;
	item_init(&it, 1, "XK100001", 1, 50);
	struct tm_error err = {0};
	int64_t gen = 1740823200;   /* 2025-03-01T10:00:00Z */
	cr_assert_eq(gw_store_check_future(it.r, gen - 600, 600, &err), 0);
	cr_assert_eq(gw_store_check_future(it.r, gen + 86400, 600, &err), 0, "late is normal");
	cr_assert_eq(gw_store_check_future(it.r, gen - 601, 600, &err), -1);
	cr_assert_str_eq(err.reason, "report.future");
	cr_assert_str_eq(err.msg, "report/generated_at: 2025-03-01T10:00:00Z is 601 s ahead of the "
			 "gateway clock (allowed skew 600 s)");
	/* at full precision: half a second beyond the skew is beyond it */
	char *keep = it.r->generated_at;
	char half[] = "2025-03-01T10:00:00.5Z";
	it.r->generated_at = half;
	cr_assert_eq(gw_store_check_future(it.r, gen - 600, 600, &err), -1);
	cr_assert_str_eq(err.reason, "report.future");
	cr_assert_eq(gw_store_check_future(it.r, gen - 599, 600, &err), 0);
	it.r->generated_at = keep;
	int64_t t;
	cr_assert_eq(gw_store_parse_utc("2025-03-01T10:00:00.250Z", "x", &t, &err), 0);
	cr_assert_eq(t, gen);
	cr_assert_eq(gw_store_parse_utc("2025-03-01T10:00:00+01:00", "report/generated_at", &t, &err), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_not_null(strstr(err.msg, "report/generated_at: '2025-03-01T10:00:00+01:00'"));
	item_fini(&it);
}

/* PostgreSQL: a report's JSON long enough to be compressed (over 2 KB) is
 * compressed with LZ4 (the gateway's sessions choose it where the server
 * has it, as Debian's has), not pglz, the server's default. */
Test(store, a_long_json_is_compressed_with_lz4)
{
	TM_PG_ONLY();
	struct gw_store *st = open_with_tenant();
	struct item it;
	item_init(&it, 1, "XK100001", 1, 40);
	size_t n = snprintf(it.json, sizeof(it.json), "{\"id\":\"%s\",\"pad\":\"", it.r->id);
	for (int i = 0; n + 40 < sizeof(it.json) && i < 120; i++)
		n += snprintf(it.json + n, sizeof(it.json) - n, "counter %03d of the device; ", i);
	snprintf(it.json + n, sizeof(it.json) - n, "\"}");
	it.rec.json_len = strlen(it.json);
	cr_assert_gt(it.rec.json_len, 3000, "%zu bytes: make item.json longer", it.rec.json_len);
	cr_assert_eq(put_ok(st, &it).result, GW_PUT_STORED);
	gw_store_close(st);
	char method[16];
	qtext("SELECT pg_column_compression(json) FROM report_json", method, sizeof(method));
	cr_assert_str_eq(method, "lz4");
	item_fini(&it);
}

/* ---- lists longer than one multi-row statement; the bulk service ops ---- */

Test(store, lists_longer_than_one_statement_keep_every_row_and_value)
{
	struct gw_store *st = open_with_tenant();
	struct item it;
	item_init(&it, 1, "XK100001", 1, 40);
	struct tm_report *r = it.r;
	/* 3 PWG + 70 vendor counters (32 + 32 + 9 rows), 40 supplies, 33 parts */
	r->vendor = realloc(r->vendor, 70 * sizeof(*r->vendor));
	r->supplies = realloc(r->supplies, 40 * sizeof(*r->supplies));
	r->parts = realloc(r->parts, 33 * sizeof(*r->parts));
	for (int i = 1; i < 70; i++) {
		char id[8];
		snprintf(id, sizeof(id), "v%02d", i);
		r->vendor[i] = (struct tm_vendor_counter){ .id = dup_s(id), .value = i * 1000 + 7,
							   .unit = i % 2 ? dup_s("count") : NULL };
	}
	for (int i = 2; i < 40; i++)
		r->supplies[i] = (struct tm_supply){ .index = i + 1, .type = dup_s("toner"),
						     .max_capacity = i % 3 == 0 ? TM_UNSET : 100, .level = i };
	for (int i = 1; i < 33; i++) {
		char name[8];
		snprintf(name, sizeof(name), "p%02d", i);
		r->parts[i] = (struct tm_part){ .name = dup_s(name), .used = i,
						.rated_life = i % 2 ? TM_UNSET : 1000 };
	}
	r->n_vendor = 70, r->n_supplies = 40, r->n_parts = 33;
	put_ok(st, &it);
	cr_assert_eq(q1("SELECT count(*) FROM counters"), 73);
	cr_assert_eq(q1("SELECT sum(value) FROM counters WHERE service = 'vendor'"),
		     42 + 69 * 7 + 1000LL * 69 * 70 / 2);
	cr_assert_eq(q1("SELECT value FROM counters WHERE name = 'v33'"), 33007);
	cr_assert_eq(q1("SELECT count(*) FROM counters WHERE unit IS NULL"), 3 + 35);
	cr_assert_eq(q1("SELECT count(*) FROM supplies WHERE level = idx - 1"), 40 - 2);
	cr_assert_eq(q1("SELECT count(*) FROM supplies WHERE max_capacity IS NULL"), 13);
	cr_assert_eq(q1("SELECT count(*) FROM latest_supplies WHERE max_capacity IS NULL"), 13);
	cr_assert_eq(q1("SELECT sum(level * idx) FROM latest_supplies WHERE seq = 1"),
		     q1("SELECT sum(level * idx) FROM supplies"));
	cr_assert_eq(q1("SELECT count(*) FROM parts WHERE rated_life IS NULL"), 16);
	cr_assert_eq(q1("SELECT used FROM parts WHERE n = 32 AND name = 'p32'"), 32);
	cr_assert_eq(q1("SELECT last_received FROM devices"), 2001);
	item_fini(&it);
	gw_store_close(st);
}

struct mark_walk { size_t n, inexact; char last[GW_MARK_KEY_MAX]; bool ordered; };

static int walk_mark(void *ctx, const struct gw_mark_entry *m)
{
	struct mark_walk *w = ctx;
	w->ordered = w->ordered && strcmp(w->last, m->key) < 0;
	snprintf(w->last, sizeof(w->last), "%s", m->key);
	w->n++;
	w->inexact += m->inexact;
	return 0;
}

static int walk_alert(void *ctx, const struct gw_alert_row *a)
{
	return (void)a, (*(size_t *)ctx)++, 0;
}

/* device_load's callbacks: marks counted (a stop after `stop_after`
 * of them, 0: never), active alerts counted */
struct load_walk { size_t marks, alerts, stop_after; };

static int load_mark(void *ctx, const struct gw_mark_entry *m)
{
	struct load_walk *w = ctx;
	(void)m;
	return ++w->marks == w->stop_after ? 7 : 0;
}

static int load_alert(void *ctx, const struct gw_alert_row *a)
{
	(void)a;
	((struct load_walk *)ctx)->alerts++;
	return 0;
}

Test(store, marks_and_active_alerts_in_bulk)
{
	struct gw_store *st = open_with_tenant();
	struct tm_error err = {0};
	static struct gw_mark_entry e[40];
	const struct gw_mark_entry *p[40];
	for (int i = 0; i < 40; i++) {   /* two statements' worth, keys in falling order */
		snprintf(e[i].key, sizeof(e[i].key), "k%02d", 39 - i);
		e[i].m = (struct gw_mark_row){ .seq = 5, .has_ival = i % 2 == 0, .ival = i * 3 };
		if (i % 2)
			snprintf(e[i].m.tval, sizeof(e[i].m.tval), "t%d", i);
		p[i] = &e[i];
	}
	cr_assert_eq(gw_store_mark_set_many(st, "XK1", p, 40, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(q1("SELECT count(*) FROM svc_marks WHERE tval IS NULL AND ival IS NOT NULL"), 20);
	cr_assert_eq(q1("SELECT count(*) FROM svc_marks WHERE tval = 't' || (39 - CAST(substr(key, 2) AS INTEGER))"), 20);
	/* a mark written again with its value keeps the seq that set it */
	for (int i = 0; i < 40; i++)
		e[i].m.seq = 9;
	e[0].m.ival = 1000;   /* k39: a new value */
	cr_assert_eq(gw_store_mark_set_many(st, "XK1", p, 40, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(q1("SELECT count(*) FROM svc_marks WHERE seq = 9"), 1);
	cr_assert_eq(q1("SELECT seq FROM svc_marks WHERE key = 'k39'"), 9);
	e[0].m.ival = 0;
	cr_assert_eq(gw_store_mark_set(st, "XK1", "k39", &e[0].m, &err), GW_STORE_OK, "%s", err.msg);
	e[0].m.seq = 11;
	cr_assert_eq(gw_store_mark_set(st, "XK1", "k39", &e[0].m, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(q1("SELECT seq FROM svc_marks WHERE key = 'k39'"), 9, "the one-row path keeps it too");
	cr_assert_eq(q1("SELECT sum(ival) FROM svc_marks"), 3 * (0 + 38) * 20 / 2);

	/* rows that do not read back as written: too long a key, '' and a real */
	/* (PostgreSQL's ival is an integer column: its 'z-real' is exact) */
	cr_assert(tm_store_exec("INSERT INTO svc_marks VALUES ('XK1', 'y' || printf('%.120c', 'y'),"
				" 1, NULL, NULL), ('XK1', 'z-empty', 1, NULL, ''),"
				" ('XK1', 'z-real', 1, 2.5, NULL), ('XK2', 'a', 1, 1, NULL)",
				"INSERT INTO svc_marks VALUES ('XK1', 'y' || repeat('y', 120),"
				" 1, NULL, NULL), ('XK1', 'z-empty', 1, NULL, ''),"
				" ('XK1', 'z-real', 1, 2, NULL), ('XK2', 'a', 1, 1, NULL)"));
	struct mark_walk w = { .ordered = true };
	cr_assert_eq(gw_store_mark_list(st, "XK1", walk_mark, &w, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert(w.n == 43 && w.ordered, "only XK1's marks, in key order");
	cr_assert_eq(w.inexact, tm_sf.pg ? 2 : 3);

	/* the active alerts of one device; a repeat writes only what it changes */
	struct gw_alert_row a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct gw_alert_row){ .state = i == 1 ? GW_ALERT_RESOLVED : GW_ALERT_OPEN,
					      .first_seen = 10, .last_seen = 10, .count = 1,
					      .kind = "k", .subject = "s", .severity = "warning",
					      .tenant = "acme" };
		snprintf(a[i].serial, sizeof(a[i].serial), "%s", i == 3 ? "XK2" : "XK1");
		a[i].kind[1] = (char)('0' + i);
		cr_assert_eq(gw_store_alert_insert(st, &a[i], &err), GW_STORE_OK, "%s", err.msg);
	}
	size_t na = 0;
	cr_assert_eq(gw_store_alert_list_device(st, "XK1", walk_alert, &na, &err), GW_STORE_OK);
	cr_assert_eq(na, 2, "the active ones of XK1 only");

	/* both at once (one round trip on PostgreSQL): the same rows, and
	 * which walk a callback stopped */
	struct load_walk lw = {0};
	int stop[2] = { -1, -1 };
	cr_assert_eq(gw_store_device_load(st, "XK1", load_mark, load_alert, &lw, stop, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(lw.marks == 43 && lw.alerts == 2 && stop[0] == 0 && stop[1] == 0);
	lw = (struct load_walk){ .stop_after = 5 };
	cr_assert_eq(gw_store_device_load(st, "XK1", load_mark, load_alert, &lw, stop, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(lw.marks == 5 && stop[0] == 7, "the marks' walk stopped: %zu, %d", lw.marks,
		  stop[0]);
	cr_assert(lw.alerts == 2 && stop[1] == 0, "the alerts walked all the same");
	lw = (struct load_walk){0};
	cr_assert_eq(gw_store_device_load(st, "XK9", load_mark, load_alert, &lw, stop, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert(lw.marks == 0 && lw.alerts == 0 && stop[0] == 0 && stop[1] == 0);
	bool found = false;
	struct gw_alert_row u = { .id = a[0].id, .count = 7, .last_seen = 11, .severity = "critical",
				   .detail = "d2", .report_id = "r2", .state = GW_ALERT_RESOLVED,
				   .resolved_at = 99 };   /* state, resolved_at: not a repeat's */
	cr_assert_eq(gw_store_alert_repeat(st, &u, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_alert_get(st, a[0].id, &u, &found, &err), GW_STORE_OK);
	cr_assert(found && u.count == 7 && u.last_seen == 11 && u.first_seen == 10);
	cr_assert(strcmp(u.severity, "critical") == 0 && strcmp(u.detail, "d2") == 0 &&
		  strcmp(u.report_id, "r2") == 0 && strcmp(u.kind, "k0") == 0);
	cr_assert(u.state == GW_ALERT_OPEN && u.resolved_at == 0);
	gw_store_close(st);
}

/* ---- collectors' unreachable devices (issue 14 item 15) ---- */

static void add_unreachable(struct tm_report *r, const char *generated, const char *address,
			    const char *serial)
{
	free(r->generated_at);
	r->generated_at = dup_s(generated);
	r->has_collector = true;
	r->collector_devices = 2;
	r->unreachable_count = address != NULL;
	if (address == NULL)
		return;
	r->n_unreachable = 1;
	r->unreachable = calloc(1, sizeof(*r->unreachable));
	r->unreachable[0].address = dup_s(address);
	r->unreachable[0].serial = serial ? dup_s(serial) : NULL;
	r->unreachable[0].reason = dup_s("collect.unavailable");
	r->unreachable[0].since = dup_s("2025-03-01T09:00:00Z");
	r->unreachable[0].detail = dup_s("no answer");
}

static int keep_unreachable(void *ctx, const struct gw_unreachable_row *u)
{
	char *out = ctx;
	snprintf(out + strlen(out), 1024 - strlen(out), "%s %s %s %s %s %lld %s %lld\n", u->tenant,
		 u->fingerprint, u->address, u->serial[0] ? u->serial : "-", u->reason,
		 (long long)u->since, u->detail, (long long)u->reported_at);
	return 0;
}

static void unreachable_rows(struct gw_store *st, char out[1024])
{
	struct tm_error err = {0};
	out[0] = '\0';
	cr_assert_eq(gw_store_unreachable_list(st, keep_unreachable, out, &err), GW_STORE_OK, "%s", err.msg);
}

/* The newest collector section replaces the list; an older one arriving
 * late changes nothing; one with no device listed empties it. */
Test(store, collector_unreachable_newest_wins)
{
	struct gw_store *st = open_with_tenant();
	struct item a, b, c;
	char rows[1024];
	item_init(&a, 1, "XK1", 1, 50);
	item_init(&b, 2, "XK1", 2, 50);
	item_init(&c, 3, "XK1", 3, 50);
	static const char fp[] = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
	a.rec.fingerprint = b.rec.fingerprint = c.rec.fingerprint = fp;
	add_unreachable(a.r, "2025-03-01T10:00:00Z", "192.0.2.9:161", "XK9");
	add_unreachable(b.r, "2025-03-01T12:00:00Z", NULL, NULL);
	add_unreachable(c.r, "2025-03-01T11:00:00Z", "192.0.2.8:161", NULL);
	put_ok(st, &a);
	unreachable_rows(st, rows);
	cr_assert_str_eq(rows, "acme c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00 192.0.2.9:161 XK9 collect.unavailable 1740819600 no answer 1740823200\n");
	put_ok(st, &b);   /* newer, nothing unreachable */
	unreachable_rows(st, rows);
	cr_assert_str_eq(rows, "");
	put_ok(st, &c);   /* older than b: ignored */
	unreachable_rows(st, rows);
	cr_assert_str_eq(rows, "");
	cr_assert_eq(q1("SELECT unreachable_count FROM collector_status WHERE fingerprint = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00'"), 0);
	item_fini(&a);
	item_fini(&b);
	item_fini(&c);
	gw_store_close(st);
}

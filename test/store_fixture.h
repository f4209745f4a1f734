/* The store tests' back end: one test source, two fixtures.
 *
 * TM_TEST_BACKEND=postgresql (set by test/pg_fixture.sh, which also starts
 * the server and sets TM_PG_HOST, its socket directory, and TM_PG_USER)
 * runs a test against PostgreSQL: each test gets a database of its own,
 * created at setup and dropped at teardown. Otherwise SQLite: a file in the
 * test's temporary directory. tm_store_q1 / tm_store_qtext / tm_store_exec
 * run SQL on the test's database whichever it is; a test whose assertions
 * only make sense for SQLite (PRAGMA, sqlite_master, a second writer's
 * lock) starts with TM_SQLITE_ONLY(), one only for PostgreSQL with TM_PG_ONLY(). */
#ifndef TM_TEST_STORE_FIXTURE_H
#define TM_TEST_STORE_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "common.h"
#include "registry/registry.h"
#include "store/store.h"

struct tm_store_fixture {
	bool pg;
	char path[512];        /* sqlite */
	char dbname[64];       /* postgresql */
	char conninfo[600];
};

static struct tm_store_fixture tm_sf;

#define TM_SQLITE_ONLY()                                                            \
	do {                                                                        \
		if (tm_sf.pg)                                                       \
			cr_skip_test("SQLite only (its file, PRAGMAs or locking)"); \
	} while (0)

#define TM_PG_ONLY()                                                                \
	do {                                                                        \
		if (!tm_sf.pg)                                                      \
			cr_skip_test("PostgreSQL only (its schema's own versions)"); \
	} while (0)

static inline bool tm_store_is_pg(void)
{
	const char *b = getenv("TM_TEST_BACKEND");
	return b != NULL && strcmp(b, "postgresql") == 0;
}

static inline PGconn *tm_store_pg_connect(const char *dbname)
{
	char ci[600];
	snprintf(ci, sizeof(ci), "host=%s user=%s dbname=%s", getenv("TM_PG_HOST"),
		 getenv("TM_PG_USER"), dbname);
	PGconn *c = PQconnectdb(ci);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s: %s", ci, PQerrorMessage(c));
	return c;
}

static inline void tm_store_pg_admin(const char *sql)
{
	PGconn *c = tm_store_pg_connect("postgres");
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* A fresh store for this test: a file in dir, or a database of its own. */
static inline void tm_store_fixture_setup(const char *dir, const char *file)
{
	memset(&tm_sf, 0, sizeof(tm_sf));
	tm_sf.pg = tm_store_is_pg();
	snprintf(tm_sf.path, sizeof(tm_sf.path), "%s/%s", dir, file);
	if (!tm_sf.pg)
		return;
	static unsigned n;
	snprintf(tm_sf.dbname, sizeof(tm_sf.dbname), "t%ld_%u", (long)getpid(), n++);
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", tm_sf.dbname);
	tm_store_pg_admin(sql);
	snprintf(tm_sf.conninfo, sizeof(tm_sf.conninfo), "host=%s user=%s dbname=%s",
		 getenv("TM_PG_HOST"), getenv("TM_PG_USER"), tm_sf.dbname);
}

static inline void tm_store_fixture_teardown(void)
{
	if (!tm_sf.pg || tm_sf.dbname[0] == '\0')
		return;
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", tm_sf.dbname);
	tm_store_pg_admin(sql);
}

/* The options of this test's store (quarantine_dir: the SQLite quarantine's). */
static inline struct gw_store_options tm_store_options(const char *quarantine_dir)
{
	struct gw_store_options o = {
		.backend = tm_sf.pg ? "postgresql" : "sqlite",
		.path = tm_sf.path,
		.conninfo = tm_sf.pg ? tm_sf.conninfo : NULL,
		.busy_timeout_ms = 2000,
		.quarantine_dir = quarantine_dir,
	};
	return o;
}

/* The service suites' store: a fresh temporary directory (*dir, removed
 * by tm_store_test_close), this test's store open on it (forward: with the
 * forwarding outbox, gw_store_options.forward) and the tenant acme. */
static inline struct gw_store *tm_store_test_open(char **dir, bool forward)
{
	*dir = tm_test_tmpdir();
	tm_store_fixture_setup(*dir, "telemail.db");
	struct tm_error err = {0};
	struct gw_store_options o = tm_store_options(NULL);
	o.forward = forward;
	struct gw_store *st = NULL;
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	return st;
}

static inline void tm_store_test_close(struct gw_store *st, char *dir)
{
	gw_store_close(st);
	tm_store_fixture_teardown();
	tm_test_rmtree(dir);
	free(dir);
}

/* The configuration file's store section for this test ("" for SQLite,
 * whose default is the file under state_dir). */
static inline const char *tm_store_yaml(void)
{
	static char y[700];
	if (!tm_sf.pg)
		return "";
	snprintf(y, sizeof(y), "store: {backend: postgresql, conninfo: \"%s\"}\n", tm_sf.conninfo);
	return y;
}

/* Run SQL on the test's database: the first row's first column as text. */
static inline bool tm_store_query(const char *sql, char *out, size_t cap)
{
	if (tm_sf.pg) {
		PGconn *c = tm_store_pg_connect(tm_sf.dbname);
		PGresult *r = PQexec(c, sql);
		ExecStatusType st = PQresultStatus(r);
		cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
			  PQerrorMessage(c));
		bool row = st == PGRES_TUPLES_OK && PQntuples(r) > 0;
		if (out != NULL)
			snprintf(out, cap, "%s", row ? PQgetvalue(r, 0, 0) : "");
		PQclear(r);
		PQfinish(c);
		return row;
	}
	sqlite3 *db;
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_open(tm_sf.path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	int rc = sqlite3_step(s);
	cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
	if (out != NULL) {
		const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
		snprintf(out, cap, "%s", t != NULL ? (const char *)t : "");
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc == SQLITE_ROW;
}

static inline long long tm_store_q1(const char *sql)
{
	char v[64];
	cr_assert(tm_store_query(sql, v, sizeof(v)), "%s: no row", sql);
	return strtoll(v, NULL, 10);
}

static inline void tm_store_qtext(const char *sql, char *out, size_t cap)
{
	cr_assert(tm_store_query(sql, out, cap), "%s: no row", sql);
}

/* Statements without rows; sqlite_sql for SQLite, pg_sql for PostgreSQL
 * (NULL: the same). Returns whether they succeeded. */
static inline bool tm_store_exec(const char *sqlite_sql, const char *pg_sql)
{
	if (tm_sf.pg) {
		PGconn *c = tm_store_pg_connect(tm_sf.dbname);
		PGresult *r = PQexec(c, pg_sql != NULL ? pg_sql : sqlite_sql);
		bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		PQfinish(c);
		return ok;
	}
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(tm_sf.path, &db), SQLITE_OK);
	bool ok = sqlite3_exec(db, sqlite_sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

#endif

/* The PostgreSQL back end's prepared statements (store_pg_stmt.c): a
 * statement with parameters is parsed once a session and executed by name;
 * a Parse the server skipped (a pipe that failed before it) or a session
 * lost does not leave the cache naming a statement the session lacks.
 * Runs only under test/pg_fixture.sh (a server of its own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_conn_fixture.h"

TestSuite(pg_stmt, .init = tm_pg_conn_setup, .fini = tm_pg_conn_teardown);

/* How many statements this session has prepared with text like pattern. */
static long prepared_like(const char *pattern)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, pattern);
	PGresult *r;
	/* sent as text: the count must not see itself */
	cr_assert_eq(gw_pg_exec(&conn, "SELECT count(*) FROM pg_prepared_statements"
				" WHERE statement LIKE $1 AND statement NOT LIKE '%pg_prepared%'",
				&p, &r, "count", &err), GW_STORE_OK, "%s", err.msg);
	long n = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

static long long add_one(long long v)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, v);
	PGresult *r;
	int rc = gw_pg_exec(&conn, "SELECT $1::bigint + 1 AS stmt_test", &p, &r, "add", &err);
	cr_assert_eq(rc, GW_STORE_OK, "%s", err.msg);
	long long out = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

Test(pg_stmt, prepared_once_executed_by_name)
{
	cr_assert_eq(add_one(1), 2);
	cr_assert_eq(add_one(41), 42);
	cr_assert_eq(add_one(-1), 0);
	cr_assert_eq(prepared_like("%stmt_test%"), 1, "one Parse for three executions");
	cr_assert_eq(conn.n_stmts, 2, "the counting statement and the added one");
}

Test(pg_stmt, statement_without_parameters_is_not_prepared)
{
	PGresult *r;
	cr_assert_eq(gw_pg_exec(&conn, "SELECT 7 AS stmt_plain", NULL, &r, "plain", &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "7");
	PQclear(r);
	cr_assert_eq(prepared_like("%stmt_plain%"), 0);
}

/* A pipe whose first statement fails: the server skips the Parse sent
 * after it; the cache must not believe the session has that statement. */
Test(pg_stmt, parse_skipped_in_a_failed_pipe_is_sent_again)
{
	struct gw_pg_pipe pipe;
	cr_assert_eq(gw_pg_pipe_begin(&conn, &pipe, &err), GW_STORE_OK, "%s", err.msg);
	struct gw_pg_params zero, one;
	gw_pg_params_init(&zero);
	gw_pg_int(&zero, 0);
	gw_pg_params_init(&one);
	gw_pg_int(&one, 1);
	cr_assert_eq(gw_pg_pipe_send(&conn, "SELECT 1 / $1::integer AS stmt_div", &zero, false,
				     "divide", NULL, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_pg_pipe_send(&conn, "SELECT $1::bigint + 1 AS stmt_test", &one, false,
				     "add", NULL, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(conn.n_stmts, 2, "both were new: a Parse for each");
	cr_assert_eq(gw_pg_pipe_sync(&conn, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.failed");
	cr_assert(strstr(err.msg, "divide") != NULL, "%s", err.msg);
	gw_pg_pipe_clear(&pipe);
	cr_assert_eq(conn.stmts[1].state, GW_PG_STMT_NONE, "skipped: not prepared");
	char skipped_name[sizeof(conn.stmts[1].name)];
	memcpy(skipped_name, conn.stmts[1].name, sizeof(skipped_name));
	cr_assert_str_neq(skipped_name, "tm2", "renamed: a name is never sent twice");
	/* the skipped one is sent again, under its new name, and runs */
	cr_assert_eq(add_one(9), 10);
	cr_assert_eq(conn.stmts[1].state, GW_PG_STMT_READY);
	cr_assert_str_eq(conn.stmts[1].name, skipped_name);
	cr_assert_eq(prepared_like("%stmt_test%"), 1);
	/* the division's Parse came before the failure (its execution) */
	cr_assert_eq(conn.stmts[0].state, GW_PG_STMT_READY);
	cr_assert_eq(prepared_like("%stmt_div%"), 1);
}

/* The session lost (the server ended it): the next statement reconnects
 * and prepares again on the new session. */
Test(pg_stmt, new_session_prepares_again)
{
	cr_assert_eq(add_one(1), 2);
	PGconn *admin = tm_store_pg_connect(tm_sf.dbname);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(conn.conn));
	PGresult *r = PQexec(admin, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(admin));
	PQclear(r);
	PQfinish(admin);
	/* the first statement after finds the session gone */
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, 5);
	int rc = gw_pg_exec(&conn, "SELECT $1::bigint + 1 AS stmt_test", &p, &r, "add", &err);
	if (rc == GW_STORE_RETRY) {
		cr_assert_str_eq(err.reason, "store.unavailable");
		cr_assert_eq(add_one(5), 6, "then it reconnects");
	} else {
		cr_assert_eq(rc, GW_STORE_OK, "%s", err.msg);
		cr_assert_str_eq(PQgetvalue(r, 0, 0), "6");
		PQclear(r);
	}
	cr_assert_eq(prepared_like("%stmt_test%"), 1, "prepared on the new session");
}

/* gw_pg_walk_stream: rows one at a time; a callback's stop ends the walk
 * (the rest read and dropped) and a failure mid-stream is the walk's; the
 * session goes on after either. */
struct counted {
	long long n, sum, stop_at;
};

static void fill_int(const PGresult *r, int i, void *row)
{
	*(long long *)row = atoll(PQgetvalue(r, i, 0));
}

static int add_row(void *cb, void *ctx, void *row)
{
	(void)cb;
	struct counted *k = ctx;
	k->n++;
	k->sum += *(long long *)row;
	return k->stop_at > 0 && k->n == k->stop_at ? 7 : 0;
}

static int walk(struct gw_pg *s, const char *sql, long long upto, struct counted *k)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, upto);
	long long row;
	return gw_pg_walk_stream(s, sql, &p, fill_int, &row, add_row, NULL, k, "walk", &err);
}

Test(pg_stmt, walk_stream_stops_and_fails_cleanly)
{
	struct gw_pg s;
	memset(&s, 0, sizeof(s));
	s.c = conn;
	struct counted k = {0};
	cr_assert_eq(walk(&s, "SELECT g FROM generate_series(1, $1::bigint) g", 100000, &k),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(k.n, 100000);
	cr_assert_eq(k.sum, 100000LL * 100001 / 2);
	k = (struct counted){ .stop_at = 10 };
	cr_assert_eq(walk(&s, "SELECT g FROM generate_series(1, $1::bigint) g", 1000, &k), 7,
		     "the callback's stop is the walk's answer");
	cr_assert_eq(k.n, 10);
	cr_assert_eq(k.sum, 55);
	k = (struct counted){0};
	cr_assert_eq(walk(&s, "SELECT 10 / (5 - g)::integer FROM generate_series(1, $1::bigint) g",
			  9, &k), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "store.failed");
	cr_assert_eq(k.n, 4, "the rows before the failure were walked");
	conn = s.c;   /* the cache may have grown */
	cr_assert_eq(add_one(41), 42, "the session goes on");
}

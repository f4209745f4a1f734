/* telemail-mailgw — the PostgreSQL back end: statements and their rows.
 *
 * gw_pg_exec sends one statement (prepared once a session when it has
 * parameters, store_pg_stmt.c; into the open pipe when there is one,
 * store_pg_pipe.c); gw_pg_exec_safe wraps it in a savepoint; put_rows
 * writes a list as multi-row INSERTs; the walks hand a result's rows to a
 * callback, the streamed one as the server sends them. Split out of
 * store_pg.c (connecting, migrations, the ops table), which had grown past
 * 800 lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

/* ---- statements ---- */

void gw_pg_note_tx(struct gw_pg_conn *c, const char *sql)
{
	static const char *const moves[] = { "BEGIN", "COMMIT", "ROLLBACK" };
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		if (strncmp(sql, moves[i], strlen(moves[i])) == 0) {
			c->tx_epoch++;
			return;
		}
}

/* Ready to send sql outside a pipe: connected (outside a transaction, a
 * lost session is made again) and sql's prepared statement on c, prepared
 * now when the session lacks it; *out NULL: send it as text (no
 * parameters, or the cache is full). */
static int ready_to_send(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
			 const char *what, struct gw_pg_stmt **out, struct tm_error *err)
{
	*out = NULL;
	if (!c->in_tx) {
		int rc = gw_pg_ready(c, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	struct gw_pg_stmt *stmt = p != NULL ? gw_pg_stmt_of(c, sql, p->n) : NULL;
	*out = stmt;
	if (stmt == NULL || stmt->state == GW_PG_STMT_READY)
		return GW_STORE_OK;
	PGresult *r = PQprepare(c->conn, stmt->name, sql, p->n, NULL);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	gw_pg_stmt_settle(c, stmt, ok);
	int rc = ok ? GW_STORE_OK : gw_pg_fail(c, r, what, err);
	PQclear(r);
	return rc;
}

/* sql waited for at the end of what was sent ahead: one sync for all. */
static int join_later(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		      PGresult **res, const char *what, struct tm_error *err)
{
	struct gw_pg_pipe *pp = &c->later;
	int slot = -1;
	int rc = gw_pg_pipe_send(c, sql, p, res != NULL, what, &slot, err);
	if (rc == GW_STORE_OK) {
		rc = gw_pg_pipe_sync(c, err);
	} else { /* not sent: what was, read to its end */
		struct tm_error ignored = {0};
		gw_pg_pipe_sync(c, &ignored);
	}
	if (rc == GW_STORE_OK && res != NULL) {
		*res = pp->res[slot];
		pp->res[slot] = NULL;
	}
	gw_pg_pipe_clear(pp);
	return rc;
}

int gw_pg_exec(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
	       PGresult **res, const char *what, struct tm_error *err)
{
	if (res != NULL)
		*res = NULL;
	if (c->pipe == &c->later) {
		/* a rollback runs also when what was sent ahead failed; a text of
		 * several statements cannot go into a pipe: both after a sync */
		bool rollback = strncmp(sql, "ROLLBACK", 8) == 0;
		if (p == NULL && (rollback || strchr(sql, ';') != NULL)) {
			struct tm_error ignored = {0};
			int frc = gw_pg_later_flush(c, rollback ? &ignored : err);
			if (frc != GW_STORE_OK && !rollback)
				return frc;
		} else {
			return join_later(c, sql, p, res, what, err);
		}
	}
	if (c->pipe != NULL) {
		if (res != NULL)
			return tm_error_set(err, "internal.bug", "%s: %s: a result in a pipe",
					    c->where, what);
		return gw_pg_pipe_send(c, sql, p, false, what, NULL, err);
	}
	if (p == NULL) /* (into a pipe, gw_pg_pipe_send notes it) */
		gw_pg_note_tx(c, sql);
	struct gw_pg_stmt *stmt;
	int prc = ready_to_send(c, sql, p, what, &stmt, err);
	if (prc != GW_STORE_OK)
		return prc;
	PGresult *r = p == NULL ? PQexec(c->conn, sql)
		    : stmt != NULL ? PQexecPrepared(c->conn, stmt->name, p->n, p->v, p->len, p->fmt, 0)
				   : PQexecParams(c->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (res != NULL)
			*res = r;
		else
			PQclear(r);
		return GW_STORE_OK;
	}
	int rc = gw_pg_fail(c, r, what, err);
	PQclear(r);
	return rc;
}

char *gw_pg_text_array(size_t n, const char *(*get)(const void *ctx, size_t i), const void *ctx)
{
	size_t len = 3;
	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(get(ctx, i)) + 3;
	char *a = malloc(len), *o = a;
	if (a == NULL)
		return NULL;
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ',';
		*o++ = '"';
		for (const char *c = get(ctx, i); *c != '\0'; c++) {
			if (*c == '\\' || *c == '"')
				*o++ = '\\';
			*o++ = *c;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return a;
}

int gw_pg_exec_safe(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		    PGresult **res, const char *what, struct tm_error *err)
{
	if (!c->in_tx)
		return gw_pg_exec(c, sql, p, res, what, err);
	int rc = gw_pg_exec(c, "SAVEPOINT stmt", NULL, NULL, "savepoint", err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_pg_exec(c, sql, p, res, what, err);
	if (rc == GW_STORE_ERROR)
		gw_pg_exec(c, "ROLLBACK TO SAVEPOINT stmt", NULL, NULL, "rollback", NULL);
	if (rc != GW_STORE_RETRY) {
		struct tm_error ignored = {0};
		int r2 = gw_pg_exec(c, "RELEASE SAVEPOINT stmt", NULL, NULL, "release", &ignored);
		if (r2 == GW_STORE_RETRY && rc == GW_STORE_OK) {
			*err = ignored;
			rc = r2;
		}
	}
	return rc;
}

static int put_rows(struct gw_pg_conn *c, const char *head, int cols, const char *tail, size_t n,
		    gw_pg_bind_row_fn bind, const void *ctx, bool later, const char *what,
		    struct tm_error *err)
{
	struct gw_pg_params *p = malloc(sizeof(*p));
	char *sql = malloc(strlen(head) + (tail != NULL ? strlen(tail) : 0) +
			   GW_PG_ROWS_MAX * ((size_t)cols * 7 + 4) + 2);
	int rc = GW_STORE_OK;
	if (p == NULL || sql == NULL)
		rc = tm_error_set(err, "internal.nomem", "store: out of memory");
	for (size_t done = 0; rc == GW_STORE_OK && done < n;) {
		size_t k = n - done < GW_PG_ROWS_MAX ? n - done : GW_PG_ROWS_MAX;
		gw_pg_params_init(p);
		size_t len = (size_t)sprintf(sql, "%s", head);
		for (size_t i = 0; i < k; i++) {
			len += (size_t)sprintf(sql + len, "%s(", i == 0 ? " " : ", ");
			for (int col = 0; col < cols; col++)
				len += (size_t)sprintf(sql + len, "%s$%d", col ? ", " : "",
						       p->n + col + 1);
			sql[len++] = ')';
			sql[len] = '\0';
			bind(p, ctx, done + i);
		}
		if (tail != NULL)
			strcpy(sql + len, tail);
		rc = later ? gw_pg_exec_later(c, sql, p, what, err)
			   : gw_pg_exec(c, sql, p, NULL, what, err);
		done += k;
	}
	free(sql);
	free(p);
	return rc;
}

int gw_pg_put_rows(struct gw_pg_conn *c, const char *head, int cols, const char *tail, size_t n,
		   gw_pg_bind_row_fn bind, const void *ctx, const char *what, struct tm_error *err)
{
	return put_rows(c, head, cols, tail, n, bind, ctx, false, what, err);
}

int gw_pg_put_rows_later(struct gw_pg_conn *c, const char *head, int cols, const char *tail,
			 size_t n, gw_pg_bind_row_fn bind, const void *ctx, const char *what,
			 struct tm_error *err)
{
	return put_rows(c, head, cols, tail, n, bind, ctx, true, what, err);
}

/* ---- rows ---- */

int gw_pg_walk_result(const PGresult *r, gw_pg_fill_fn fill, void *row,
		      int (*call)(void *cb, void *ctx, void *row), void *cb, void *ctx)
{
	int stop = 0;
	for (int i = 0; i < PQntuples(r) && stop == 0; i++) {
		fill(r, i, row);
		stop = call(cb, ctx, row);
	}
	return stop;
}

int gw_pg_walk(struct gw_pg *s, const char *sql, const struct gw_pg_params *p, gw_pg_fill_fn fill,
	       void *row, int (*call)(void *cb, void *ctx, void *row), void *cb, void *ctx,
	       const char *what, struct tm_error *err)
{
	PGresult *r;
	int rc = gw_pg_exec(&s->c, sql, p, &r, what, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_pg_walk_result(r, fill, row, call, cb, ctx);
	PQclear(r);
	return rc;
}

int gw_pg_walk_stream(struct gw_pg *s, const char *sql, const struct gw_pg_params *p,
		      gw_pg_fill_fn fill, void *row, int (*call)(void *cb, void *ctx, void *row),
		      void *cb, void *ctx, const char *what, struct tm_error *err)
{
	struct gw_pg_conn *c = &s->c;
	int rc = gw_pg_later_flush(c, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (c->pipe != NULL)
		return tm_error_set(err, "internal.bug", "%s: %s: a walk in a pipe", c->where, what);
	struct gw_pg_stmt *stmt;
	rc = ready_to_send(c, sql, p, what, &stmt, err);
	if (rc != GW_STORE_OK)
		return rc;
	int ok = stmt != NULL ? PQsendQueryPrepared(c->conn, stmt->name, p->n, p->v, p->len, p->fmt, 0)
			      : PQsendQueryParams(c->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
	if (ok != 1)
		return gw_pg_fail(c, NULL, what, err);
	if (PQsetSingleRowMode(c->conn) != 1)
		rc = gw_pg_fail(c, NULL, what, err);
	/* every result to the end, also after a failure or a callback's stop */
	int stop = 0;
	PGresult *r;
	while ((r = PQgetResult(c->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE) {
			if (rc == GW_STORE_OK && stop == 0) {
				fill(r, 0, row);
				stop = call(cb, ctx, row);
			}
		} else if (st != PGRES_TUPLES_OK && rc == GW_STORE_OK) {
			rc = gw_pg_fail(c, r, what, err);
		}
		PQclear(r);
	}
	return rc != GW_STORE_OK ? rc : stop;
}

int gw_pg_get_one(struct gw_pg *s, const char *sql, const struct gw_pg_params *p,
		  gw_pg_fill_fn fill, void *out, bool *found, const char *what,
		  struct tm_error *err)
{
	PGresult *r;
	*found = false;
	int rc = gw_pg_exec(&s->c, sql, p, &r, what, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (PQntuples(r) > 0) {
		fill(r, 0, out);
		*found = true;
	}
	PQclear(r);
	return GW_STORE_OK;
}

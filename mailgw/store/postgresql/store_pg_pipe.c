/* telemail-mailgw — the PostgreSQL back end: pipelining (libpq's pipeline
 * mode). The statements of one step are sent one after the other without
 * waiting for their answers, and the answers are read at one sync: a new
 * report's put is one round trip to the server instead of one per
 * statement (issue 16:
 * on a busy machine each round trip waits for both processes to be
 * scheduled, and that, not the server's work, was most of a put's time).
 *
 * While a pipe is open on a connection (c->pipe), gw_pg_exec of a statement
 * whose result is not wanted sends it into the pipe; a statement whose
 * result is wanted goes through gw_pg_pipe_send with keep. At the sync the
 * first failed statement gives the error (as gw_pg_fail maps it); the
 * server skipped every statement after it (PGRES_PIPELINE_ABORTED).
 *
 * Statements sent ahead (gw_pg_exec_later) use a pipe of the connection's
 * own, c->later, left open until a statement is waited for (store_pg.h). */
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

int gw_pg_pipe_begin(struct gw_pg_conn *c, struct gw_pg_pipe *pp, struct tm_error *err)
{
	if (c->pipe == &c->later && pp != &c->later) {
		if (c->later.n <= GW_PG_PIPE_MAX / 8) {
			*pp = c->later; /* what was sent ahead goes with this pipe's sync */
			c->pipe = pp;
			return GW_STORE_OK;
		}
		int rc = gw_pg_pipe_sync(c, err); /* too much for the caller's room */
		if (rc != GW_STORE_OK)
			return rc;
	}
	memset(pp, 0, sizeof(*pp));
	pp->failed = -1;
	if (c->pipe != NULL)
		return tm_error_set(err, "internal.bug", "%s: a pipe is open already", c->where);
	if (!c->in_tx) {
		int rc = gw_pg_ready(c, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	if (PQenterPipelineMode(c->conn) != 1)
		return gw_pg_fail(c, NULL, "pipeline mode", err);
	c->pipe = pp;
	return GW_STORE_OK;
}

int gw_pg_pipe_send(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		    bool keep, const char *what, int *slot, struct tm_error *err)
{
	struct gw_pg_pipe *pp = c->pipe;
	if (pp == NULL || pp->n == GW_PG_PIPE_MAX)
		return tm_error_set(err, "internal.bug", "%s: %s: %s", c->where, what,
				    pp == NULL ? "no pipe open" : "too many statements in one pipe");
	if (p == NULL)
		gw_pg_note_tx(c, sql);
	struct gw_pg_stmt *stmt = p != NULL ? gw_pg_stmt_of(c, sql, p->n) : NULL;
	if (stmt != NULL && stmt->state == GW_PG_STMT_NONE) {
		/* its Parse first, in the pipe, when there is room for both */
		if (pp->n + 1 == GW_PG_PIPE_MAX) {
			stmt = NULL;
		} else {
			if (PQsendPrepare(c->conn, stmt->name, sql, p->n, NULL) != 1)
				return gw_pg_fail(c, NULL, what, err);
			stmt->state = GW_PG_STMT_SENT;
			pp->what[pp->n] = what;
			pp->keep[pp->n] = false;
			pp->parse[pp->n] = stmt;
			pp->n++;
		}
	}
	int ok = p == NULL ? PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0)
		 : stmt != NULL ? PQsendQueryPrepared(c->conn, stmt->name, p->n, p->v, p->len, p->fmt, 0)
				: PQsendQueryParams(c->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
	if (ok != 1)
		return gw_pg_fail(c, NULL, what, err);
	pp->what[pp->n] = what;
	pp->keep[pp->n] = keep;
	pp->parse[pp->n] = NULL;
	if (slot != NULL)
		*slot = pp->n;
	pp->n++;
	return GW_STORE_OK;
}

int gw_pg_pipe_sync(struct gw_pg_conn *c, struct tm_error *err)
{
	struct gw_pg_pipe *pp = c->pipe;
	if (pp == NULL)
		return tm_error_set(err, "internal.bug", "%s: no pipe open", c->where);
	c->pipe = NULL;
	int rc = GW_STORE_OK;
	if (PQpipelineSync(c->conn) != 1)
		rc = gw_pg_fail(c, NULL, "pipeline sync", err);
	/* each statement's result, then NULL; at the end the sync's own */
	for (int i = 0; rc == GW_STORE_OK && i < pp->n; i++) {
		PGresult *r = PQgetResult(c->conn);
		if (r == NULL) {
			rc = gw_pg_fail(c, NULL, pp->what[i], err);
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		if (pp->parse[i] != NULL)
			gw_pg_stmt_settle(c, pp->parse[i], st == PGRES_COMMAND_OK);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (pp->keep[i])
				pp->res[i] = r;
			else
				PQclear(r);
		} else if (st == PGRES_PIPELINE_ABORTED) {
			PQclear(r);   /* skipped after an earlier failure */
		} else if (pp->failed < 0) {
			pp->failed = i;
			rc = gw_pg_fail(c, r, pp->what[i], err);
			PQclear(r);
		} else {
			PQclear(r);
		}
		/* the NULL that ends this statement's results */
		while ((r = PQgetResult(c->conn)) != NULL) {
			if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
				PQclear(r);
				break;
			}
			PQclear(r);
		}
	}
	/* the rest after a failure, up to the sync */
	if (rc != GW_STORE_OK && c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK) {
		for (int guard = 0; guard < 4 * GW_PG_PIPE_MAX + 8; guard++) {
			PGresult *r = PQgetResult(c->conn);
			if (r == NULL)
				continue;
			bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
			PQclear(r);
			if (sync)
				break;
		}
	} else if (rc == GW_STORE_OK) {
		PGresult *r = PQgetResult(c->conn);
		if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
			rc = gw_pg_fail(c, r, "pipeline sync", err);
		PQclear(r);
	}
	/* a Parse whose answer was not read: the server skipped it, or the
	 * session is gone */
	for (int i = 0; i < pp->n; i++)
		if (pp->parse[i] != NULL && pp->parse[i]->state == GW_PG_STMT_SENT)
			gw_pg_stmt_settle(c, pp->parse[i], false);
	if (c->conn != NULL && PQpipelineStatus(c->conn) != PQ_PIPELINE_OFF &&
	    PQexitPipelineMode(c->conn) != 1 && rc == GW_STORE_OK)
		rc = gw_pg_fail(c, NULL, "leave pipeline mode", err);
	return rc;
}

void gw_pg_pipe_clear(struct gw_pg_pipe *pp)
{
	for (int i = 0; i < pp->n; i++) {
		PQclear(pp->res[i]);
		pp->res[i] = NULL;
	}
}

/* ---- statements sent ahead ---- */

int gw_pg_exec_later(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		     const char *what, struct tm_error *err)
{
	/* outside a transaction, or into a pipe the caller opened: as ever */
	if (!c->in_tx || (c->pipe != NULL && c->pipe != &c->later))
		return gw_pg_exec(c, sql, p, NULL, what, err);
	if (c->pipe == NULL) {
		int rc = gw_pg_pipe_begin(c, &c->later, err);
		if (rc != GW_STORE_OK)
			return rc;
	} else if (c->later.n + 2 >= GW_PG_PIPE_MAX) {
		return gw_pg_exec(c, sql, p, NULL, what, err); /* full: this one is waited for */
	}
	return gw_pg_pipe_send(c, sql, p, false, what, NULL, err);
}

int gw_pg_later_flush(struct gw_pg_conn *c, struct tm_error *err)
{
	if (c->pipe == NULL || c->pipe != &c->later)
		return GW_STORE_OK;
	return gw_pg_pipe_sync(c, err);
}

/* telemail-mailgw — the PostgreSQL back end: prepared statements (issue 16).
 *
 * The server parses and plans every statement sent as text, each time: in a
 * profile of `replay` (perf on the server, its statement log) parse and bind
 * (the planning) were as long as the execution, most of the server's CPU a
 * message. A connection therefore prepares each statement with parameters
 * the first time it sends it and executes it by name afterwards (the
 * server's plan cache: custom plans at first, a generic one when it costs
 * no more). The cache is keyed by the statement's text, so a caller changes
 * nothing; it is bounded (GW_PG_STMTS_MAX texts a connection, then text as
 * before), which holds the multi-row INSERTs whose text depends on their
 * row count.
 *
 * Prepared statements live as long as the session, whatever becomes of the
 * transaction. A Parse the server did not confirm (a pipe that failed
 * before it, a lost connection) leaves the statement unprepared under a new
 * name, so a name is never sent twice; a new session forgets them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgresql/store_pg.h"

static uint64_t text_hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);   /* FNV-1a */
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static void rename_stmt(struct gw_pg_conn *c, struct gw_pg_stmt *s)
{
	snprintf(s->name, sizeof(s->name), "tm%u", ++c->stmt_serial);
	s->state = GW_PG_STMT_NONE;
}

struct gw_pg_stmt *gw_pg_stmt_of(struct gw_pg_conn *c, const char *sql, int nparams)
{
	uint64_t h = text_hash(sql);
	for (size_t i = 0; i < c->n_stmts; i++) {
		struct gw_pg_stmt *s = &c->stmts[i];
		if (s->hash == h && s->nparams == nparams && strcmp(s->sql, sql) == 0)
			return s;
	}
	if (c->n_stmts == GW_PG_STMTS_MAX)
		return NULL;   /* full: sent as text */
	if (c->stmts == NULL) {
		c->stmts = calloc(GW_PG_STMTS_MAX, sizeof(*c->stmts));
		if (c->stmts == NULL)
			return NULL;
	}
	char *copy = strdup(sql);
	if (copy == NULL)
		return NULL;
	struct gw_pg_stmt *s = &c->stmts[c->n_stmts++];
	s->hash = h;
	s->sql = copy;
	s->nparams = nparams;
	rename_stmt(c, s);
	return s;
}

void gw_pg_stmt_settle(struct gw_pg_conn *c, struct gw_pg_stmt *s, bool prepared)
{
	if (prepared)
		s->state = GW_PG_STMT_READY;
	else if (s->state != GW_PG_STMT_READY)
		rename_stmt(c, s);
}

void gw_pg_stmts_forget(struct gw_pg_conn *c)
{
	for (size_t i = 0; i < c->n_stmts; i++)
		rename_stmt(c, &c->stmts[i]);
}

void gw_pg_stmts_free(struct gw_pg_conn *c)
{
	for (size_t i = 0; i < c->n_stmts; i++)
		free(c->stmts[i].sql);
	free(c->stmts);
	c->stmts = NULL;
	c->n_stmts = 0;
}

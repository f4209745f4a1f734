/* telemail-mailgw — the PostgreSQL back end's side of `store copy` (issue
 * 16): tables counted, rows written as multi-row INSERTs in the caller's
 * transaction, the foreign keys checked at its commit (they are DEFERRABLE
 * from schema version 8 on), the identities' sequences moved past the ids
 * copied. The tables and columns are store_copy.c's constants. */
#include <stdio.h>
#include <stdlib.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

int gw_pg_table_count(void *s, const char *table, int64_t *n, struct tm_error *err)
{
	struct gw_pg *g = s;
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	PGresult *r;
	int rc = gw_pg_exec(&g->c, sql, NULL, &r, table, err);
	if (rc != GW_STORE_OK)
		return rc;
	*n = gw_pg_col_int(r, 0, 0);
	PQclear(r);
	return GW_STORE_OK;
}

struct rows_ctx {
	const struct gw_cell *rows;
	int ncols;
	char (*real)[32];   /* the text of REAL cells, one slot per parameter */
};

static void bind_cells(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct rows_ctx *c = ctx;
	for (int k = 0; k < c->ncols; k++) {
		const struct gw_cell *v = &c->rows[i * (size_t)c->ncols + (size_t)k];
		switch (v->kind) {
		case GW_CELL_NULL:
			gw_pg_text(p, NULL);
			break;
		case GW_CELL_INT:
			gw_pg_int(p, (long long)v->i);
			break;
		case GW_CELL_REAL:
			/* as the PostgreSQL back end writes a float diagnostic */
			snprintf(c->real[p->n], sizeof(c->real[0]), "%.17g", v->r);
			gw_pg_text(p, c->real[p->n]);
			break;
		case GW_CELL_TEXT:
			gw_pg_text(p, v->p);
			break;
		case GW_CELL_BYTES:
			gw_pg_bytes(p, v->p, v->len);
			break;
		}
	}
}

int gw_pg_table_write(void *s, const struct gw_table_spec *t, const struct gw_cell *rows,
		      size_t nrows, struct tm_error *err)
{
	struct gw_pg *g = s;
	char head[1024];
	snprintf(head, sizeof(head), "INSERT INTO %s (%s)%s VALUES", t->name, t->cols,
		 t->identity ? " OVERRIDING SYSTEM VALUE" : "");
	/* a statement's parameters stay within GW_PG_PARAMS_MAX */
	size_t per = (size_t)(GW_PG_PARAMS_MAX / t->ncols);
	if (per > GW_PG_ROWS_MAX)
		per = GW_PG_ROWS_MAX;
	struct rows_ctx c = { .ncols = t->ncols, .real = malloc(GW_PG_PARAMS_MAX * sizeof(*c.real)) };
	if (c.real == NULL)
		return tm_error_set(err, "internal.nomem", "store copy: out of memory");
	int rc = GW_STORE_OK;
	for (size_t done = 0; rc == GW_STORE_OK && done < nrows; done += per) {
		size_t k = nrows - done < per ? nrows - done : per;
		c.rows = rows + done * (size_t)t->ncols;
		rc = gw_pg_put_rows(&g->c, head, t->ncols, NULL, k, bind_cells, &c, t->name, err);
	}
	free(c.real);
	return rc;
}

int gw_pg_copy_begin(void *s, struct tm_error *err)
{
	struct gw_pg *g = s;
	return gw_pg_exec(&g->c, "SET CONSTRAINTS ALL DEFERRED", NULL, NULL, "defer keys", err);
}

int gw_pg_copy_end(void *s, const struct gw_table_spec *tables, size_t n, struct tm_error *err)
{
	struct gw_pg *g = s;
	int rc = GW_STORE_OK;
	for (size_t i = 0; rc == GW_STORE_OK && i < n; i++) {
		if (!tables[i].identity)
			continue;
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s"
			 " HAVING max(id) IS NOT NULL", tables[i].name, tables[i].name);
		rc = gw_pg_exec(&g->c, sql, NULL, NULL, tables[i].name, err);
	}
	/* the keys now, so that a broken one is named here, not by the commit */
	if (rc == GW_STORE_OK)
		rc = gw_pg_exec(&g->c, "SET CONSTRAINTS ALL IMMEDIATE", NULL, NULL, "check keys",
				err);
	return rc;
}

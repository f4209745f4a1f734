/* telemail-mailgw — the PostgreSQL back end's side of `store copy` (issue
 * 16): tables counted, rows written as multi-row INSERTs in the caller's
 * transaction, the foreign keys checked at its commit (they are DEFERRABLE
 * from schema version 8 on), the identities' sequences moved past the ids
 * copied. The tables and columns are store_copy.c's constants.
 *
 * Months (schema version 12): a report copied gets the id of its month,
 * (month of received_at << 40) | the low 40 bits of its id in the source
 * (an SQLite id, or one of PostgreSQL's already of that month), and its
 * month's partitions; the lists' rows follow their report's new id (a row
 * of a report not copied is refused), report_keys is filled from the
 * reports, and reports_id_seq moved past the low bits copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* the columns of store_copy.c's reports that make the new id */
#define COPY_REPORT_ID 0
#define COPY_REPORT_RECEIVED 8

static const char *const list_tables[] = {
	"report_json", "counters", "supplies", "parts", "alerts", "diagnostics", "firmware",
};

static bool is_list(const char *name)
{
	for (size_t i = 0; i < sizeof(list_tables) / sizeof(list_tables[0]); i++)
		if (strcmp(name, list_tables[i]) == 0)
			return true;
	return false;
}

static int cmp_old(const void *a, const void *b)
{
	const struct gw_pg_id_map *x = a, *y = b;
	return x->old < y->old ? -1 : x->old > y->old;
}

/* reports: each row's id made its month's, remembered; the partitions */
static int renumber_reports(struct gw_pg *g, struct gw_cell *cells, size_t nrows, int ncols,
			    struct tm_error *err)
{
	if (g->n_copy_ids + nrows > g->cap_copy_ids) {
		size_t cap = g->cap_copy_ids > 0 ? g->cap_copy_ids : 1024;
		while (cap < g->n_copy_ids + nrows)
			cap *= 2;
		struct gw_pg_id_map *m = realloc(g->copy_ids, cap * sizeof(*m));
		if (m == NULL)
			return tm_error_set(err, "internal.nomem", "store copy: out of memory");
		g->copy_ids = m;
		g->cap_copy_ids = cap;
	}
	for (size_t i = 0; i < nrows; i++) {
		struct gw_cell *id = &cells[i * (size_t)ncols + COPY_REPORT_ID];
		const struct gw_cell *at = &cells[i * (size_t)ncols + COPY_REPORT_RECEIVED];
		if (id->kind != GW_CELL_INT || at->kind != GW_CELL_INT || id->i < 0)
			return tm_error_set(err, "store.failed", "store copy: reports: a row without"
					    " an id or a reception time");
		int64_t m = gw_pg_month_of(at->i);
		int rc = gw_pg_month_ready(g, m, err);
		if (rc != GW_STORE_OK)
			return rc;
		struct gw_pg_id_map *e = &g->copy_ids[g->n_copy_ids++];
		e->old = id->i;
		e->new = (m << GW_PG_MONTH_SHIFT) | (id->i & GW_PG_ID_LOW_MASK);
		id->i = e->new;
	}
	return GW_STORE_OK;
}

/* a list's rows: their report's new id */
static int renumber_list(struct gw_pg *g, const char *table, struct gw_cell *cells, size_t nrows,
			 int ncols, struct tm_error *err)
{
	for (size_t i = 1; i < g->n_copy_ids; i++)
		if (g->copy_ids[i - 1].old > g->copy_ids[i].old) {
			qsort(g->copy_ids, g->n_copy_ids, sizeof(g->copy_ids[0]), cmp_old);
			break;
		}
	for (size_t i = 0; i < nrows; i++) {
		struct gw_cell *rep = &cells[i * (size_t)ncols];
		struct gw_pg_id_map key = { .old = rep->i }, *e = NULL;
		if (rep->kind == GW_CELL_INT && g->n_copy_ids > 0)
			e = bsearch(&key, g->copy_ids, g->n_copy_ids, sizeof(key), cmp_old);
		if (e == NULL)
			return tm_error_set(err, "store.failed", "store copy: %s: a row of report %lld,"
					    " which the source's reports do not hold", table,
					    (long long)rep->i);
		rep->i = e->new;
	}
	return GW_STORE_OK;
}

int gw_pg_table_write(void *s, const struct gw_table_spec *t, const struct gw_cell *given,
		      size_t nrows, struct tm_error *err)
{
	struct gw_pg *g = s;
	const struct gw_cell *rows = given;
	struct gw_cell *own = NULL;
	bool reports = strcmp(t->name, "reports") == 0;
	if (reports || is_list(t->name)) {
		size_t n = nrows * (size_t)t->ncols;
		own = malloc((n > 0 ? n : 1) * sizeof(*own));
		if (own == NULL)
			return tm_error_set(err, "internal.nomem", "store copy: out of memory");
		memcpy(own, given, n * sizeof(*own));
		int rc = reports ? renumber_reports(g, own, nrows, t->ncols, err)
				 : renumber_list(g, t->name, own, nrows, t->ncols, err);
		if (rc != GW_STORE_OK) {
			free(own);
			return rc;
		}
		rows = own;
	}
	char head[1024];
	snprintf(head, sizeof(head), "INSERT INTO %s (%s)%s VALUES", t->name, t->cols,
		 t->identity ? " OVERRIDING SYSTEM VALUE" : "");
	/* a statement's parameters stay within GW_PG_PARAMS_MAX */
	size_t per = (size_t)(GW_PG_PARAMS_MAX / t->ncols);
	if (per > GW_PG_ROWS_MAX)
		per = GW_PG_ROWS_MAX;
	struct rows_ctx c = { .ncols = t->ncols, .real = malloc(GW_PG_PARAMS_MAX * sizeof(*c.real)) };
	if (c.real == NULL) {
		free(own);
		return tm_error_set(err, "internal.nomem", "store copy: out of memory");
	}
	int rc = GW_STORE_OK;
	for (size_t done = 0; rc == GW_STORE_OK && done < nrows; done += per) {
		size_t k = nrows - done < per ? nrows - done : per;
		c.rows = rows + done * (size_t)t->ncols;
		rc = gw_pg_put_rows(&g->c, head, t->ncols, NULL, k, bind_cells, &c, t->name, err);
	}
	free(c.real);
	free(own);
	return rc;
}

int gw_pg_copy_begin(void *s, struct tm_error *err)
{
	struct gw_pg *g = s;
	g->n_copy_ids = 0;
	return gw_pg_exec(&g->c, "SET CONSTRAINTS ALL DEFERRED", NULL, NULL, "defer keys", err);
}

int gw_pg_copy_end(void *s, const struct gw_table_spec *tables, size_t n, struct tm_error *err)
{
	struct gw_pg *g = s;
	free(g->copy_ids);
	g->copy_ids = NULL;
	g->n_copy_ids = g->cap_copy_ids = 0;
	/* the reports' keys (a report id or a device's seq twice fails here) */
	int rc = gw_pg_exec(&g->c, "INSERT INTO report_keys (report_id, serial, seq, id)"
			    " SELECT report_id, serial, seq, id FROM reports", NULL, NULL,
			    "report keys", err);
	for (size_t i = 0; rc == GW_STORE_OK && i < n; i++) {
		if (!tables[i].identity)
			continue;
		/* a report's id: the month's bits above the sequence's */
		const char *id = strcmp(tables[i].name, "reports") == 0 ? "id & 1099511627775" : "id";
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "SELECT setval(pg_get_serial_sequence('%s', 'id'), max(%s)) FROM %s"
			 " HAVING max(id) IS NOT NULL", tables[i].name, id, tables[i].name);
		rc = gw_pg_exec(&g->c, sql, NULL, NULL, tables[i].name, err);
	}
	/* each report's counters packed in its row, as a put writes them */
	if (rc == GW_STORE_OK)
		rc = gw_pg_exec(&g->c, GW_PG_METERS_FILL, NULL, NULL, "reports' meters", err);
	/* the keys now, so that a broken one is named here, not by the commit */
	if (rc == GW_STORE_OK)
		rc = gw_pg_exec(&g->c, "SET CONSTRAINTS ALL IMMEDIATE", NULL, NULL, "check keys",
				err);
	return rc;
}

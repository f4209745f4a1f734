/* telemail-mailgw — the SQLite back end's side of `store copy` (issue 16):
 * a table's rows counted and read as a stream, each value with the type
 * SQLite holds it in. The tables and columns are store_copy.c's constants. */
#include <stdio.h>
#include <stdlib.h>

#include <telemail/error.h>

#include "store/sqlite/store_sqlite.h"

int gw_sq_table_count(void *s, const char *table, int64_t *n, struct tm_error *err)
{
	struct gw_sq *q = s;
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int out = GW_STORE_OK;
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		out = gw_sq_fail(q, rc, table, err);
	sqlite3_finalize(st);
	return out;
}

int gw_sq_table_read(void *s, const struct gw_table_spec *t, gw_store_row_cb cb, void *ctx,
		     struct tm_error *err)
{
	struct gw_sq *q = s;
	char sql[1024];
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->cols, t->name, t->order);
	struct gw_cell *row = calloc((size_t)t->ncols, sizeof(*row));
	if (row == NULL)
		return tm_error_set(err, "internal.nomem", "store copy: out of memory");
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL), out = GW_STORE_OK;
	if (rc != SQLITE_OK)
		out = gw_sq_fail(q, rc, t->name, err);
	while (out == GW_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < t->ncols; c++) {
			struct gw_cell *v = &row[c];
			*v = (struct gw_cell){ .kind = GW_CELL_NULL };
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				v->kind = GW_CELL_INT;
				v->i = sqlite3_column_int64(st, c);
				break;
			case SQLITE_FLOAT:
				v->kind = GW_CELL_REAL;
				v->r = sqlite3_column_double(st, c);
				break;
			case SQLITE_TEXT:
				v->kind = GW_CELL_TEXT;
				v->p = sqlite3_column_text(st, c);
				v->len = (size_t)sqlite3_column_bytes(st, c);
				break;
			case SQLITE_BLOB:
				v->kind = GW_CELL_BYTES;
				v->p = sqlite3_column_blob(st, c);
				v->len = (size_t)sqlite3_column_bytes(st, c);
				break;
			default:
				break;
			}
		}
		out = cb(ctx, row, err);
	}
	if (out == GW_STORE_OK && rc != SQLITE_DONE)
		out = gw_sq_fail(q, rc, t->name, err);
	sqlite3_finalize(st);
	free(row);
	return out;
}

/* telemail-mailgw — SQLite back end: the read-only queries of the fleet page
 * and the metrics (issue 19). Each call prepares its statement, walks the
 * rows into the caller's callback and finalizes it: the page is read
 * rarely and never inside a batch. */
#include <string.h>

#include <sqlite3.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/store.h"
#include "store/sqlite/store_sqlite.h"

/* cb points at the caller's callback (a function pointer is no object pointer) */
typedef int (*row_fn)(sqlite3_stmt *s, const void *cb, void *ctx);

/* Prepare sql, bind ?1 (text, NULL when absent) and ?2 (integer), then call
 * row() for each row until it returns non-zero. */
static int walk(struct gw_sq *q, const char *sql, const char *text, int64_t num, row_fn row,
		const void *cb, void *ctx, const char *what, struct tm_error *err)
{
	sqlite3_stmt *s = NULL;
	int src = sqlite3_prepare_v2(q->db, sql, -1, &s, NULL);
	if (src != SQLITE_OK)
		return gw_sq_fail(q, src, what, err);
	int rc = GW_STORE_OK;
	if (sqlite3_bind_parameter_count(s) >= 1)
		gw_sq_bind_text(s, 1, text);
	if (sqlite3_bind_parameter_count(s) >= 2)
		gw_sq_bind_int(s, 2, num);
	for (;;) {
		src = sqlite3_step(s);
		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = gw_sq_fail(q, src, what, err);
			break;
		}
		if (row(s, cb, ctx) != 0)
			break;
	}
	sqlite3_finalize(s);
	return rc;
}

static int64_t col_int(sqlite3_stmt *s, int col, int64_t null_value)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? null_value : sqlite3_column_int64(s, col);
}

/* ---- devices ---- */

static int device_row(sqlite3_stmt *s, const void *cb, void *ctx)
{
	struct gw_web_device_row d;
	memset(&d, 0, sizeof(d));
	gw_sq_col_text(s, 0, d.serial, sizeof(d.serial));
	gw_sq_col_text(s, 1, d.tenant, sizeof(d.tenant));
	d.enrolled_at = col_int(s, 2, 0);
	d.last_seq = col_int(s, 3, 0);
	d.last_seen = col_int(s, 4, 0);
	d.last_received = col_int(s, 5, 0);
	gw_sq_col_text(s, 6, d.manufacturer, sizeof(d.manufacturer));
	gw_sq_col_text(s, 7, d.model, sizeof(d.model));
	gw_sq_col_text(s, 8, d.name, sizeof(d.name));
	gw_sq_col_text(s, 9, d.location, sizeof(d.location));
	gw_sq_col_text(s, 10, d.ip, sizeof(d.ip));
	gw_sq_col_text(s, 11, d.state, sizeof(d.state));
	return (*(const gw_store_web_device_cb *)cb)(ctx, &d);
}

int gw_sq_web_devices(void *state, const char *serial, gw_store_web_device_cb cb, void *ctx,
		      struct tm_error *err)
{
	return walk(state,
		    "SELECT serial, tenant, enrolled_at, last_seq, last_seen, last_received,"
		    " manufacturer, model, name, location, ip, state FROM devices"
		    " WHERE ?1 IS NULL OR serial = ?1 ORDER BY serial",
		    serial, 0, device_row, (const void *)&cb, ctx, "list devices", err);
}

/* ---- supplies ---- */

void gw_sq_supply_row(sqlite3_stmt *s, struct gw_supply_row *r)
{
	memset(r, 0, sizeof(*r));
	gw_sq_col_text(s, 0, r->serial, sizeof(r->serial));
	gw_sq_col_text(s, 1, r->tenant, sizeof(r->tenant));
	r->seq = sqlite3_column_int64(s, 2);
	r->index = sqlite3_column_int64(s, 3);
	gw_sq_col_text(s, 4, r->type, sizeof(r->type));
	gw_sq_col_text(s, 5, r->colorant, sizeof(r->colorant));
	gw_sq_col_text(s, 6, r->description, sizeof(r->description));
	gw_sq_col_text(s, 7, r->unit, sizeof(r->unit));
	r->max_capacity = col_int(s, 8, TM_UNSET);
	r->level = sqlite3_column_int64(s, 9);
	if (sqlite3_column_type(s, 15) == SQLITE_NULL)
		return;   /* no forecast made */
	r->fc.ok = sqlite3_column_int64(s, 10) != 0;
	gw_sq_col_text(s, 11, r->fc.reason, sizeof(r->fc.reason));
	gw_sq_col_text(s, 12, r->fc.basis, sizeof(r->fc.basis));
	gw_sq_col_text(s, 13, r->fc.confidence, sizeof(r->fc.confidence));
	r->fc.empty_at = sqlite3_column_int64(s, 14);
	r->fc.made_at = sqlite3_column_int64(s, 15);
	r->fc.figures = sqlite3_column_type(s, 16) != SQLITE_NULL;   /* kept since v11 */
	r->fc.score = sqlite3_column_double(s, 16);
	r->fc.pages_per_day = sqlite3_column_double(s, 17);
	r->fc.pct_per_day = sqlite3_column_double(s, 18);
	r->fc.weekday_pattern = sqlite3_column_int64(s, 19) != 0;
}

static int supply_row(sqlite3_stmt *s, const void *cb, void *ctx)
{
	struct gw_supply_row r;
	gw_sq_supply_row(s, &r);
	return (*(const gw_store_supply_cb *)cb)(ctx, &r);
}

int gw_sq_web_supplies(void *state, const char *serial, gw_store_supply_cb cb, void *ctx,
		       struct tm_error *err)
{
	return walk(state, GW_SQ_SUPPLY_SQL " WHERE ?1 IS NULL OR l.serial = ?1 ORDER BY l.serial, l.idx",
		    serial, 0, supply_row, (const void *)&cb, ctx, "list supplies", err);
}

/* ---- history ---- */

static int point_row(sqlite3_stmt *s, const void *cb, void *ctx)
{
	struct gw_web_point p;
	memset(&p, 0, sizeof(p));
	p.at = sqlite3_column_int64(s, 0);
	p.key = sqlite3_column_int64(s, 1);
	p.value = sqlite3_column_int64(s, 2);
	p.max_capacity = col_int(s, 3, TM_UNSET);
	gw_sq_col_text(s, 4, p.label, sizeof(p.label));
	return (*(const gw_store_web_point_cb *)cb)(ctx, &p);
}

int gw_sq_web_supply_history(void *state, const char *serial, int64_t since,
			     gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	return walk(state,
		    "SELECT r.generated_unix, s.idx, s.level, s.max_capacity,"
		    " COALESCE(s.colorant, s.type) FROM reports r JOIN supplies s ON s.report = r.id"
		    " WHERE r.serial = ?1 AND r.generated_unix >= ?2"
		    " ORDER BY s.idx, r.generated_unix, r.seq",
		    serial, since, point_row, (const void *)&cb, ctx, "supply history", err);
}

int gw_sq_web_counter_history(void *state, const char *serial, int64_t since,
			      gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	return walk(state,
		    "SELECT r.generated_unix, 0, c.value, NULL, 'total/impressions'"
		    " FROM reports r JOIN counters c ON c.report = r.id"
		    " WHERE r.serial = ?1 AND r.generated_unix >= ?2 AND c.service = 'total'"
		    " AND c.name = 'impressions' ORDER BY r.generated_unix, r.seq",
		    serial, since, point_row, (const void *)&cb, ctx, "counter history", err);
}

/* ---- reports and firmware ---- */

static int report_row(sqlite3_stmt *s, const void *cb, void *ctx)
{
	struct gw_web_report_row r;
	memset(&r, 0, sizeof(r));
	gw_sq_col_text(s, 0, r.report_id, sizeof(r.report_id));
	r.seq = sqlite3_column_int64(s, 1);
	gw_sq_col_text(s, 2, r.kind, sizeof(r.kind));
	r.generated_at = sqlite3_column_int64(s, 3);
	r.received_at = sqlite3_column_int64(s, 4);
	gw_sq_col_text(s, 5, r.state, sizeof(r.state));
	return (*(const gw_store_web_report_cb *)cb)(ctx, &r);
}

int gw_sq_web_reports(void *state, const char *serial, int64_t limit, gw_store_web_report_cb cb,
		      void *ctx, struct tm_error *err)
{
	return walk(state,
		    "SELECT report_id, seq, kind, generated_unix, received_at, state FROM reports"
		    " WHERE serial = ?1 ORDER BY seq DESC LIMIT ?2",
		    serial, limit, report_row, (const void *)&cb, ctx, "list reports", err);
}

static int firmware_row(sqlite3_stmt *s, const void *cb, void *ctx)
{
	struct gw_web_firmware_row f;
	memset(&f, 0, sizeof(f));
	gw_sq_col_text(s, 0, f.component, sizeof(f.component));
	gw_sq_col_text(s, 1, f.version, sizeof(f.version));
	return (*(const gw_store_web_firmware_cb *)cb)(ctx, &f);
}

int gw_sq_web_firmware(void *state, const char *serial, gw_store_web_firmware_cb cb, void *ctx,
		       struct tm_error *err)
{
	return walk(state,
		    "SELECT f.component, f.version FROM devices d"
		    " JOIN reports r ON r.serial = d.serial AND r.seq = d.last_seq"
		    " JOIN firmware f ON f.report = r.id WHERE d.serial = ?1 ORDER BY f.n",
		    serial, 0, firmware_row, (const void *)&cb, ctx, "list firmware", err);
}

int gw_sq_web_counters(void *state, const char *serial, gw_store_web_point_cb cb, void *ctx,
		       struct tm_error *err)
{
	return walk(state,
		    "SELECT r.generated_unix, 0, c.value, NULL, c.service || '/' || c.name"
		    " FROM devices d JOIN reports r ON r.serial = d.serial AND r.seq = d.last_seq"
		    " JOIN counters c ON c.report = r.id WHERE d.serial = ?1"
		    " ORDER BY c.service, c.name",
		    serial, 0, point_row, (const void *)&cb, ctx, "list counters", err);
}

/* ---- the message log ---- */

static int outcome_row(sqlite3_stmt *s, const void *cb, void *ctx)
{
	struct gw_web_outcome_row o;
	memset(&o, 0, sizeof(o));
	char name[32];
	gw_sq_col_text(s, 0, name, sizeof(name));
	if (gw_outcome_parse(name, &o.outcome) < 0)
		return 0;   /* a row of a newer version: not counted */
	gw_sq_col_text(s, 1, o.reason, sizeof(o.reason));
	o.count = sqlite3_column_int64(s, 2);
	return (*(const gw_store_web_outcome_cb *)cb)(ctx, &o);
}

int gw_sq_web_outcomes(void *state, gw_store_web_outcome_cb cb, void *ctx, struct tm_error *err)
{
	return walk(state,
		    "SELECT outcome, COALESCE(reason, ''), count(*) FROM message_log"
		    " GROUP BY outcome, COALESCE(reason, '') ORDER BY 1, 2",
		    NULL, 0, outcome_row, (const void *)&cb, ctx, "count outcomes", err);
}

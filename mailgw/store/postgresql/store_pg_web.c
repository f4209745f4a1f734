/* telemail-mailgw — PostgreSQL back end: the read-only queries of the fleet
 * page and the metrics (issue 19), the same rows in the same order as
 * SQLite's (store/sqlite/store_sqlite_web.c); and `supplies`' list, the
 * same supply rows with their kept forecasts by tenant (issue 16). Every device is listed; the
 * caller keeps what the viewer's tenant scope holds (registry/
 * tenant_scope.h), on both back ends alike. Text is ordered byte-wise
 * (COLLATE "C"), as SQLite orders it, whatever the database's collation.
 *
 * The indexes they use: devices by serial (the fleet: one pass over a
 * tenant's 1,000 devices and their latest_supplies, two statements, not
 * one per device), reports by (serial, seq) for a device's newest reports
 * and by (serial, generated_unix, …) for its history, and each row table's
 * primary key (report, …). */
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/postgresql/store_pg.h"

/* cb points at the caller's callback (a function pointer is no object pointer) */
typedef int (*row_fn)(const PGresult *r, int i, const void *cb, void *ctx);

/* Run sql with p, then row() for each row until it returns non-zero. */
static int walk(struct gw_pg *s, const char *sql, const struct gw_pg_params *p, row_fn row,
		const void *cb, void *ctx, const char *what, struct tm_error *err)
{
	PGresult *r;
	int rc = gw_pg_exec(&s->c, sql, p, &r, what, err);
	if (rc != GW_STORE_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++)
		if (row(r, i, cb, ctx) != 0)
			break;
	PQclear(r);
	return GW_STORE_OK;
}

/* serial alone, or serial and a number */
static struct gw_pg_params *params(struct gw_pg_params *p, const char *serial, bool with_num,
				   int64_t num)
{
	gw_pg_params_init(p);
	if (serial != NULL)
		gw_pg_text(p, serial);
	if (with_num)
		gw_pg_int(p, num);
	return p;
}

static int64_t col_int(const PGresult *r, int i, int col, int64_t null_value)
{
	return PQgetisnull(r, i, col) ? null_value : gw_pg_col_int(r, i, col);
}

/* ---- devices ---- */

static int device_row(const PGresult *r, int i, const void *cb, void *ctx)
{
	struct gw_web_device_row d;
	memset(&d, 0, sizeof(d));
	gw_pg_col_text(r, i, 0, d.serial, sizeof(d.serial));
	gw_pg_col_text(r, i, 1, d.tenant, sizeof(d.tenant));
	d.enrolled_at = gw_pg_col_int(r, i, 2);
	d.last_seq = gw_pg_col_int(r, i, 3);
	d.last_seen = gw_pg_col_int(r, i, 4);
	d.last_received = gw_pg_col_int(r, i, 5);
	gw_pg_col_text(r, i, 6, d.manufacturer, sizeof(d.manufacturer));
	gw_pg_col_text(r, i, 7, d.model, sizeof(d.model));
	gw_pg_col_text(r, i, 8, d.name, sizeof(d.name));
	gw_pg_col_text(r, i, 9, d.location, sizeof(d.location));
	gw_pg_col_text(r, i, 10, d.ip, sizeof(d.ip));
	gw_pg_col_text(r, i, 11, d.state, sizeof(d.state));
	return (*(const gw_store_web_device_cb *)cb)(ctx, &d);
}

#define DEVICE_SQL                                                                   \
	"SELECT serial, tenant, enrolled_at, last_seq, last_seen, last_received,"   \
	" manufacturer, model, name, location, ip, state FROM devices"

int gw_pg_web_devices(void *state, const char *serial, gw_store_web_device_cb cb, void *ctx,
		      struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state, serial != NULL ? DEVICE_SQL " WHERE serial = $1"
					  : DEVICE_SQL " ORDER BY serial COLLATE \"C\"",
		    params(&p, serial, false, 0), device_row, (const void *)&cb, ctx,
		    "list devices", err);
}

/* ---- supplies ---- */

/* A supply of its device's newest report and its kept forecast (NULLs
 * when none was made; its figures NULL when kept before version 14). */
static void supply_fill(const PGresult *r, int i, void *out)
{
	struct gw_supply_row *s = out;
	memset(s, 0, sizeof(*s));
	gw_pg_col_text(r, i, 0, s->serial, sizeof(s->serial));
	gw_pg_col_text(r, i, 1, s->tenant, sizeof(s->tenant));
	s->seq = gw_pg_col_int(r, i, 2);
	s->index = gw_pg_col_int(r, i, 3);
	gw_pg_col_text(r, i, 4, s->type, sizeof(s->type));
	gw_pg_col_text(r, i, 5, s->colorant, sizeof(s->colorant));
	gw_pg_col_text(r, i, 6, s->description, sizeof(s->description));
	gw_pg_col_text(r, i, 7, s->unit, sizeof(s->unit));
	s->max_capacity = col_int(r, i, 8, TM_UNSET);
	s->level = gw_pg_col_int(r, i, 9);
	if (PQgetisnull(r, i, 15))
		return;   /* no forecast made */
	s->fc.ok = strcmp(PQgetvalue(r, i, 10), "t") == 0;
	gw_pg_col_text(r, i, 11, s->fc.reason, sizeof(s->fc.reason));
	gw_pg_col_text(r, i, 12, s->fc.basis, sizeof(s->fc.basis));
	gw_pg_col_text(r, i, 13, s->fc.confidence, sizeof(s->fc.confidence));
	s->fc.empty_at = gw_pg_col_int(r, i, 14);
	s->fc.made_at = gw_pg_col_int(r, i, 15);
	s->fc.figures = !PQgetisnull(r, i, 16);
	if (!s->fc.figures)
		return;
	s->fc.score = strtod(PQgetvalue(r, i, 16), NULL);
	s->fc.pages_per_day = strtod(PQgetvalue(r, i, 17), NULL);
	s->fc.pct_per_day = strtod(PQgetvalue(r, i, 18), NULL);
	s->fc.weekday_pattern = strcmp(PQgetvalue(r, i, 19), "t") == 0;
}

static int supply_row(const PGresult *r, int i, const void *cb, void *ctx)
{
	struct gw_supply_row s;
	supply_fill(r, i, &s);
	return (*(const gw_store_supply_cb *)cb)(ctx, &s);
}

static int call_supply(void *cb, void *ctx, void *row)
{
	return (*(gw_store_supply_cb *)cb)(ctx, row);
}

#define SUPPLY_SQL                                                                   \
	"SELECT l.serial, d.tenant, l.seq, l.idx, l.type, l.colorant, l.description,"  \
	" l.unit, l.max_capacity, l.level, f.ok, f.reason, f.basis, f.confidence,"     \
	" f.empty_at, f.made_at, f.score, f.pages_per_day, f.pct_per_day,"             \
	" f.weekday_pattern FROM latest_supplies l"                                    \
	" JOIN devices d ON d.serial = l.serial"                                       \
	" LEFT JOIN supply_forecasts f ON f.serial = l.serial AND f.idx = l.idx"

/* `supplies` (gw_store_supply_list): by tenant, serial, index; a stop of
 * the callback comes back (the web's walk drops it). */
int gw_pg_supply_list(void *state, gw_store_supply_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_supply_row row;
	return gw_pg_walk(state, SUPPLY_SQL " ORDER BY d.tenant COLLATE \"C\","
			  " l.serial COLLATE \"C\", l.idx", NULL, supply_fill, &row, call_supply, &cb,
			  ctx, "list supplies", err);
}

int gw_pg_web_supplies(void *state, const char *serial, gw_store_supply_cb cb, void *ctx,
		       struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state, serial != NULL ? SUPPLY_SQL " WHERE l.serial = $1 ORDER BY l.idx"
					  : SUPPLY_SQL " ORDER BY l.serial COLLATE \"C\", l.idx",
		    params(&p, serial, false, 0), supply_row, (const void *)&cb, ctx,
		    "list supplies", err);
}

/* ---- history ---- */

static int point_row(const PGresult *r, int i, const void *cb, void *ctx)
{
	struct gw_web_point pt;
	memset(&pt, 0, sizeof(pt));
	pt.at = gw_pg_col_int(r, i, 0);
	pt.key = gw_pg_col_int(r, i, 1);
	pt.value = gw_pg_col_int(r, i, 2);
	pt.max_capacity = col_int(r, i, 3, TM_UNSET);
	gw_pg_col_text(r, i, 4, pt.label, sizeof(pt.label));
	return (*(const gw_store_web_point_cb *)cb)(ctx, &pt);
}

int gw_pg_web_supply_history(void *state, const char *serial, int64_t since,
			     gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state,
		    "SELECT r.generated_unix, s.idx, s.level, s.max_capacity,"
		    " coalesce(s.colorant, s.type) FROM reports r JOIN supplies s ON s.report = r.id"
		    " WHERE r.serial = $1 AND r.generated_unix >= $2"
		    " ORDER BY s.idx, r.generated_unix, r.seq",
		    params(&p, serial, true, since), point_row, (const void *)&cb, ctx,
		    "supply history", err);
}

int gw_pg_web_counter_history(void *state, const char *serial, int64_t since,
			      gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state,
		    "SELECT r.generated_unix, 0, c.value, NULL, 'total/impressions'"
		    " FROM reports r JOIN counters c ON c.report = r.id"
		    " WHERE r.serial = $1 AND r.generated_unix >= $2 AND c.service = 'total'"
		    " AND c.name = 'impressions' ORDER BY r.generated_unix, r.seq",
		    params(&p, serial, true, since), point_row, (const void *)&cb, ctx,
		    "counter history", err);
}

/* ---- reports, firmware, counters ---- */

static int report_row(const PGresult *r, int i, const void *cb, void *ctx)
{
	struct gw_web_report_row w;
	memset(&w, 0, sizeof(w));
	gw_pg_col_text(r, i, 0, w.report_id, sizeof(w.report_id));
	w.seq = gw_pg_col_int(r, i, 1);
	gw_pg_col_text(r, i, 2, w.kind, sizeof(w.kind));
	w.generated_at = gw_pg_col_int(r, i, 3);
	w.received_at = gw_pg_col_int(r, i, 4);
	gw_pg_col_text(r, i, 5, w.state, sizeof(w.state));
	return (*(const gw_store_web_report_cb *)cb)(ctx, &w);
}

int gw_pg_web_reports(void *state, const char *serial, int64_t limit, gw_store_web_report_cb cb,
		      void *ctx, struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state,
		    "SELECT report_id, seq, kind, generated_unix, received_at, state FROM reports"
		    " WHERE serial = $1 ORDER BY seq DESC LIMIT $2",
		    params(&p, serial, true, limit), report_row, (const void *)&cb, ctx,
		    "list reports", err);
}

static int firmware_row(const PGresult *r, int i, const void *cb, void *ctx)
{
	struct gw_web_firmware_row f;
	memset(&f, 0, sizeof(f));
	gw_pg_col_text(r, i, 0, f.component, sizeof(f.component));
	gw_pg_col_text(r, i, 1, f.version, sizeof(f.version));
	return (*(const gw_store_web_firmware_cb *)cb)(ctx, &f);
}

/* a device's newest report: its reports row by (serial, seq) */
#define NEWEST_REPORT \
	" FROM devices d JOIN reports r ON r.serial = d.serial AND r.seq = d.last_seq"

int gw_pg_web_firmware(void *state, const char *serial, gw_store_web_firmware_cb cb, void *ctx,
		       struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state,
		    "SELECT f.component, f.version" NEWEST_REPORT
		    " JOIN firmware f ON f.report = r.id WHERE d.serial = $1 ORDER BY f.n",
		    params(&p, serial, false, 0), firmware_row, (const void *)&cb, ctx,
		    "list firmware", err);
}

int gw_pg_web_counters(void *state, const char *serial, gw_store_web_point_cb cb, void *ctx,
		       struct tm_error *err)
{
	struct gw_pg_params p;
	return walk(state,
		    "SELECT r.generated_unix, 0, c.value, NULL, c.service || '/' || c.name"
		    NEWEST_REPORT " JOIN counters c ON c.report = r.id WHERE d.serial = $1"
		    " ORDER BY c.service COLLATE \"C\", c.name COLLATE \"C\"",
		    params(&p, serial, false, 0), point_row, (const void *)&cb, ctx,
		    "list counters", err);
}

/* ---- the message log ---- */

static int outcome_row(const PGresult *r, int i, const void *cb, void *ctx)
{
	struct gw_web_outcome_row o;
	memset(&o, 0, sizeof(o));
	char name[32];
	gw_pg_col_text(r, i, 0, name, sizeof(name));
	if (gw_outcome_parse(name, &o.outcome) < 0)
		return 0;   /* a row of a newer version: not counted */
	gw_pg_col_text(r, i, 1, o.reason, sizeof(o.reason));
	o.count = gw_pg_col_int(r, i, 2);
	return (*(const gw_store_web_outcome_cb *)cb)(ctx, &o);
}

int gw_pg_web_outcomes(void *state, gw_store_web_outcome_cb cb, void *ctx, struct tm_error *err)
{
	return walk(state,
		    "SELECT outcome, coalesce(reason, ''), count(*) FROM message_log"
		    " GROUP BY outcome, coalesce(reason, '')"
		    " ORDER BY outcome COLLATE \"C\", coalesce(reason, '') COLLATE \"C\"",
		    NULL, outcome_row, (const void *)&cb, ctx, "count outcomes", err);
}

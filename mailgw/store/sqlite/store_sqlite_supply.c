/* telemail-mailgw — the SQLite back end's supply rows (issue 18): a supply's
 * history with the page counter of each report, the tenants' order rules,
 * replenishment orders and their transitions, the operators' decisions on
 * suspect meter readings. The rules live in
 * service/forecast.c and service/supply.c; these only read and write rows. */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/sqlite/store_sqlite.h"

enum supply_stmt {
	SU_HISTORY,
	SU_BEFORE,
	SU_RULE_GET,
	SU_RULE_SET,
	SU_RULE_DELETE,
	SU_ORDER_INSERT,
	SU_ORDER_UPDATE,
	SU_ORDER_GET,
	SU_ORDER_FIND,
	SU_ORDER_LIST_ALL,
	SU_ORDER_LIST_SUPPLY,
	SU_EVENT_INSERT,
	SU_EVENT_LIST,
	SU_EVENT_LIST_ALL,
	SU_DECISION_SET,
	SU_DECISION_LIST,
	SU_METER_GET,
	SU_METER_BEFORE,
	SU_METER_AFTER,
	SU_FORECAST_SET,
	SU_TAIL_GET,
	SU_COUNT_
};

_Static_assert(SU_COUNT_ <= GW_SQ_SUPPLY_MAX, "grow GW_SQ_SUPPLY_MAX");

/* Is the report the agent's word that this supply (?2) was replaced? Its
 * trigger, read from the canonical record of event reports only. */
#define REPLACED_COL                                                                  \
	"(r.trigger_cause = 'supply_replaced' AND (SELECT json_extract(j.json,"          \
	" '$.report.trigger.subject') FROM report_json j WHERE j.report = r.id)"         \
	" = 'supplies/' || ?2)"

#define ORDER_COLS                                                                   \
	"id, serial, tenant, idx, subject, cartridge, state, reason, level, days_left," \
	" opened_at, updated_at, report_id, alert_id"

static const char *const su_sql[SU_COUNT_] = {
	[SU_HISTORY] =
		"SELECT r.seq, r.generated_unix, r.generated_nsec, s.level, s.max_capacity, s.unit,"
		" s.part_number, c.value, s.type, s.colorant, " REPLACED_COL
		" FROM reports r JOIN supplies s ON s.report = r.id AND s.idx = ?2"
		" LEFT JOIN counters c ON c.report = r.id AND c.service = 'total'"
		"  AND c.name = 'impressions'"
		" WHERE r.serial = ?1 AND r.generated_unix >= ?3"
		" ORDER BY r.generated_unix, r.generated_nsec, r.seq",
	[SU_BEFORE] =
		"SELECT r.seq, r.generated_unix, r.generated_nsec, s.level, s.max_capacity, s.unit,"
		" s.part_number, c.value, s.type, s.colorant, " REPLACED_COL
		" FROM reports r JOIN supplies s ON s.report = r.id AND s.idx = ?2"
		" LEFT JOIN counters c ON c.report = r.id AND c.service = 'total'"
		"  AND c.name = 'impressions'"
		" WHERE r.serial = ?1 AND (r.generated_unix, r.generated_nsec, r.seq) < (?3, ?4, ?5)"
		" ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1",
	[SU_RULE_GET] = "SELECT tenant, lead_time, floor, updated_at FROM supply_rules WHERE tenant = ?1",
	[SU_RULE_SET] = "INSERT INTO supply_rules (tenant, lead_time, floor, updated_at)"
			" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant) DO UPDATE SET"
			" lead_time = excluded.lead_time, floor = excluded.floor,"
			" updated_at = excluded.updated_at",
	[SU_RULE_DELETE] = "DELETE FROM supply_rules WHERE tenant = ?1",
	[SU_ORDER_INSERT] =
		"INSERT INTO supply_orders (serial, tenant, idx, subject, cartridge, state, reason,"
		" level, days_left, opened_at, updated_at, report_id, alert_id)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[SU_ORDER_UPDATE] = "UPDATE supply_orders SET state = ?2, updated_at = ?3, alert_id = ?4"
			    " WHERE id = ?1",
	[SU_ORDER_GET] = "SELECT " ORDER_COLS " FROM supply_orders WHERE id = ?1",
	[SU_ORDER_FIND] = "SELECT " ORDER_COLS " FROM supply_orders"
			  " WHERE serial = ?1 AND idx = ?2 AND cartridge = ?3",
	[SU_ORDER_LIST_ALL] = "SELECT " ORDER_COLS " FROM supply_orders ORDER BY id",
	[SU_ORDER_LIST_SUPPLY] = "SELECT " ORDER_COLS " FROM supply_orders"
				 " WHERE serial = ?1 AND idx = ?2 ORDER BY id",
	[SU_EVENT_INSERT] = "INSERT INTO supply_order_events (order_id, state, at, actor, detail)"
			    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[SU_EVENT_LIST] = "SELECT id, order_id, state, at, actor, detail FROM supply_order_events"
			  " WHERE order_id = ?1 ORDER BY id",
	[SU_EVENT_LIST_ALL] = "SELECT id, order_id, state, at, actor, detail FROM supply_order_events"
			      " ORDER BY id",
	[SU_DECISION_SET] = "INSERT OR REPLACE INTO meter_decisions (serial, seq, counter, decision,"
			    " actor, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SU_DECISION_LIST] = "SELECT serial, seq, counter, decision, actor, at FROM meter_decisions"
			     " ORDER BY serial, seq, counter",
	[SU_METER_GET] = "SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name,"
			 " c.value, r.generated_nsec FROM reports r JOIN counters c ON c.report = r.id"
			 " WHERE r.serial = ?1 AND r.seq = ?2 AND c.service = ?3 AND c.name = ?4",
	[SU_METER_BEFORE] = "SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name,"
			    " c.value, r.generated_nsec FROM reports r JOIN counters c ON c.report = r.id"
			    " WHERE r.serial = ?1 AND c.service = ?2 AND c.name = ?3"
			    " AND (r.generated_unix, r.generated_nsec, r.seq) < (?4, ?5, ?6)"
			    " ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1",
	[SU_METER_AFTER] = "SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name,"
			   " c.value, r.generated_nsec FROM reports r JOIN counters c ON c.report = r.id"
			   " WHERE r.serial = ?1 AND c.service = ?2 AND c.name = ?3"
			   " AND (r.generated_unix, r.generated_nsec, r.seq) > (?4, ?5, ?6)"
			   " ORDER BY r.generated_unix, r.generated_nsec, r.seq LIMIT 1",
	[SU_FORECAST_SET] = "INSERT OR REPLACE INTO supply_forecasts (serial, idx, ok, reason, basis,"
			    " confidence, empty_at, made_at, score, pages_per_day, pct_per_day,"
			    " weekday_pattern, cart_key, cart_at, fine_levels)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	[SU_TAIL_GET] = "SELECT made_at, cart_key, cart_at, fine_levels FROM supply_forecasts"
			" WHERE serial = ?1 AND idx = ?2 AND cart_at IS NOT NULL",
};

static const char *const order_states[] = { "open", "shipped", "installed", "cancelled" };

static sqlite3_stmt *stmt(struct gw_sq *q, enum supply_stmt which, struct tm_error *err)
{
	return gw_sq_cached(q, &q->supply[which], su_sql[which], err);
}

static enum gw_order_state state_of(sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	for (size_t i = 0; t != NULL && i < sizeof(order_states) / sizeof(order_states[0]); i++)
		if (strcmp(t, order_states[i]) == 0)
			return (enum gw_order_state)i;
	return GW_ORDER_OPEN;
}

static const char *state_name(enum gw_order_state st)
{
	return (unsigned)st <= GW_ORDER_CANCELLED ? order_states[st] : "open";
}

static int64_t opt_int(sqlite3_stmt *s, int col, int64_t unset)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? unset : sqlite3_column_int64(s, col);
}

/* ---- history ---- */

static void hist_row(sqlite3_stmt *s, struct gw_supply_hist_row *h)
{
	memset(h, 0, sizeof(*h));
	h->seq = sqlite3_column_int64(s, 0);
	h->at = sqlite3_column_int64(s, 1);
	h->at_nsec = (int32_t)sqlite3_column_int64(s, 2);
	h->level = sqlite3_column_int64(s, 3);
	h->max_capacity = opt_int(s, 4, TM_UNSET);
	gw_sq_col_text(s, 5, h->unit, sizeof(h->unit));
	gw_sq_col_text(s, 6, h->part_number, sizeof(h->part_number));
	h->pages = opt_int(s, 7, TM_UNSET);
	h->replaced = sqlite3_column_int64(s, 10) != 0;
	gw_sq_col_text(s, 8, h->type, sizeof(h->type));
	gw_sq_col_text(s, 9, h->colorant, sizeof(h->colorant));
}

int gw_sq_supply_history(void *state, const char *serial, int64_t idx, int64_t since,
			 gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_HISTORY, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_int(s, 2, idx);
	gw_sq_bind_int(s, 3, since);
	WALK(q, s, struct gw_supply_hist_row, hist_row, "supply history");
}

int gw_sq_supply_before(void *state, const char *serial, int64_t idx, int64_t at, int32_t at_nsec,
			int64_t seq, struct gw_supply_hist_row *out, bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_BEFORE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_int(s, 2, idx);
	gw_sq_bind_int(s, 3, at);
	gw_sq_bind_int(s, 4, at_nsec);
	gw_sq_bind_int(s, 5, seq);
	GET_ONE(q, s, hist_row, out, found, "supply before");
}

/* ---- rules ---- */

static void rule_row(sqlite3_stmt *s, struct gw_supply_rule_row *r)
{
	memset(r, 0, sizeof(*r));
	gw_sq_col_text(s, 0, r->tenant, sizeof(r->tenant));
	r->lead_time = opt_int(s, 1, -1);
	r->floor = opt_int(s, 2, -1);
	r->updated_at = sqlite3_column_int64(s, 3);
}

int gw_sq_supply_rule_get(void *state, const char *tenant, struct gw_supply_rule_row *out,
			  bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_RULE_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, tenant);
	GET_ONE(q, s, rule_row, out, found, "get supply rule");
}

int gw_sq_supply_rule_set(void *state, const struct gw_supply_rule_row *r, struct tm_error *err)
{
	struct gw_sq *q = state;
	bool clear = r->lead_time < 0 && r->floor < 0;
	sqlite3_stmt *s = stmt(q, clear ? SU_RULE_DELETE : SU_RULE_SET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->tenant);
	if (!clear) {
		gw_sq_bind_opt_int(s, 2, r->lead_time, -1);
		gw_sq_bind_opt_int(s, 3, r->floor, -1);
		gw_sq_bind_int(s, 4, r->updated_at);
	}
	return gw_sq_step_done(q, s, "set supply rule", err);
}

/* ---- orders ---- */

static void order_row(sqlite3_stmt *s, struct gw_order_row *o)
{
	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(s, 0);
	gw_sq_col_text(s, 1, o->serial, sizeof(o->serial));
	gw_sq_col_text(s, 2, o->tenant, sizeof(o->tenant));
	o->idx = sqlite3_column_int64(s, 3);
	gw_sq_col_text(s, 4, o->subject, sizeof(o->subject));
	o->cartridge = sqlite3_column_int64(s, 5);
	o->state = state_of(s, 6);
	gw_sq_col_text(s, 7, o->reason, sizeof(o->reason));
	o->level = sqlite3_column_int64(s, 8);
	o->days_left = opt_int(s, 9, -1);
	o->opened_at = sqlite3_column_int64(s, 10);
	o->updated_at = sqlite3_column_int64(s, 11);
	gw_sq_col_text(s, 12, o->report_id, sizeof(o->report_id));
	o->alert_id = opt_int(s, 13, 0);
}

int gw_sq_order_insert(void *state, struct gw_order_row *o, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_ORDER_INSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, o->serial);
	gw_sq_bind_text(s, 2, o->tenant);
	gw_sq_bind_int(s, 3, o->idx);
	gw_sq_bind_text(s, 4, o->subject);
	gw_sq_bind_int(s, 5, o->cartridge);
	gw_sq_bind_text(s, 6, state_name(o->state));
	gw_sq_bind_text(s, 7, o->reason);
	gw_sq_bind_int(s, 8, o->level);
	gw_sq_bind_opt_int(s, 9, o->days_left, -1);
	gw_sq_bind_int(s, 10, o->opened_at);
	gw_sq_bind_int(s, 11, o->updated_at);
	gw_sq_bind_text(s, 12, o->report_id[0] ? o->report_id : NULL);
	gw_sq_bind_opt_int(s, 13, o->alert_id, 0);
	int rc = gw_sq_step_done(q, s, "insert supply order", err);
	if (rc == GW_STORE_OK)
		o->id = sqlite3_last_insert_rowid(q->db);
	return rc;
}

int gw_sq_order_update(void *state, const struct gw_order_row *o, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_ORDER_UPDATE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, o->id);
	gw_sq_bind_text(s, 2, state_name(o->state));
	gw_sq_bind_int(s, 3, o->updated_at);
	gw_sq_bind_opt_int(s, 4, o->alert_id, 0);
	return gw_sq_step_done(q, s, "update supply order", err);
}

int gw_sq_order_get(void *state, int64_t id, struct gw_order_row *out, bool *found,
		    struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_ORDER_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, id);
	GET_ONE(q, s, order_row, out, found, "get supply order");
}

int gw_sq_order_find(void *state, const char *serial, int64_t idx, int64_t cartridge,
		     struct gw_order_row *out, bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_ORDER_FIND, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_int(s, 2, idx);
	gw_sq_bind_int(s, 3, cartridge);
	GET_ONE(q, s, order_row, out, found, "find supply order");
}

int gw_sq_order_list(void *state, const char *serial, int64_t idx, gw_store_order_cb cb, void *ctx,
		     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, serial != NULL ? SU_ORDER_LIST_SUPPLY : SU_ORDER_LIST_ALL, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	if (serial != NULL) {
		gw_sq_bind_text(s, 1, serial);
		gw_sq_bind_int(s, 2, idx);
	}
	WALK(q, s, struct gw_order_row, order_row, "list supply orders");
}

/* ---- transitions ---- */

static void event_row(sqlite3_stmt *s, struct gw_order_event_row *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(s, 0);
	e->order_id = sqlite3_column_int64(s, 1);
	e->state = state_of(s, 2);
	e->at = sqlite3_column_int64(s, 3);
	gw_sq_col_text(s, 4, e->actor, sizeof(e->actor));
	gw_sq_col_text(s, 5, e->detail, sizeof(e->detail));
}

int gw_sq_order_event_insert(void *state, struct gw_order_event_row *e, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_EVENT_INSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, e->order_id);
	gw_sq_bind_text(s, 2, state_name(e->state));
	gw_sq_bind_int(s, 3, e->at);
	gw_sq_bind_text(s, 4, e->actor);
	gw_sq_bind_text(s, 5, e->detail[0] ? e->detail : NULL);
	int rc = gw_sq_step_done(q, s, "insert supply order transition", err);
	if (rc == GW_STORE_OK)
		e->id = sqlite3_last_insert_rowid(q->db);
	return rc;
}

int gw_sq_order_event_list(void *state, int64_t order_id, gw_store_order_event_cb cb, void *ctx,
			   struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, order_id != 0 ? SU_EVENT_LIST : SU_EVENT_LIST_ALL, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	if (order_id != 0)
		gw_sq_bind_int(s, 1, order_id);
	WALK(q, s, struct gw_order_event_row, event_row, "list supply order transitions");
}

/* ---- meter decisions ---- */

static void decision_row(sqlite3_stmt *s, struct gw_meter_decision_row *d)
{
	memset(d, 0, sizeof(*d));
	gw_sq_col_text(s, 0, d->serial, sizeof(d->serial));
	d->seq = sqlite3_column_int64(s, 1);
	gw_sq_col_text(s, 2, d->counter, sizeof(d->counter));
	const char *t = (const char *)sqlite3_column_text(s, 3);
	d->exclude = t != NULL && strcmp(t, "exclude") == 0;
	gw_sq_col_text(s, 4, d->actor, sizeof(d->actor));
	d->at = sqlite3_column_int64(s, 5);
}

int gw_sq_meter_decision_set(void *state, const struct gw_meter_decision_row *d,
			     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_DECISION_SET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, d->serial);
	gw_sq_bind_int(s, 2, d->seq);
	gw_sq_bind_text(s, 3, d->counter);
	gw_sq_bind_text(s, 4, d->exclude ? "exclude" : "accept");
	gw_sq_bind_text(s, 5, d->actor);
	gw_sq_bind_int(s, 6, d->at);
	return gw_sq_step_done(q, s, "set meter decision", err);
}

int gw_sq_supply_forecast_set(void *state, const char *serial, int64_t idx,
			      const struct gw_supply_forecast_row *f, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_FORECAST_SET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_int(s, 2, idx);
	gw_sq_bind_int(s, 3, f->ok);
	gw_sq_bind_text(s, 4, f->reason);
	gw_sq_bind_text(s, 5, f->basis);
	gw_sq_bind_text(s, 6, f->confidence);
	gw_sq_bind_int(s, 7, f->empty_at);
	gw_sq_bind_int(s, 8, f->made_at);
	sqlite3_bind_double(s, 9, f->score);
	sqlite3_bind_double(s, 10, f->pages_per_day);
	sqlite3_bind_double(s, 11, f->pct_per_day);
	gw_sq_bind_int(s, 12, f->weekday_pattern);
	gw_sq_bind_int(s, 13, f->tail.cart_key);
	gw_sq_bind_int(s, 14, f->tail.cart_at);
	gw_sq_bind_int(s, 15, f->tail.fine_levels);
	return gw_sq_step_done(q, s, "set supply forecast", err);
}

static void tail_row(sqlite3_stmt *s, struct gw_supply_tail *t)
{
	t->made_at = sqlite3_column_int64(s, 0);
	t->cart_key = sqlite3_column_int64(s, 1);
	t->cart_at = sqlite3_column_int64(s, 2);
	t->fine_levels = sqlite3_column_int64(s, 3) != 0;
}

int gw_sq_supply_tail_get(void *state, const char *serial, int64_t idx, struct gw_supply_tail *out,
			  bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_TAIL_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_int(s, 2, idx);
	GET_ONE(q, s, tail_row, out, found, "get supply tail");
}

int gw_sq_meter_decision_list(void *state, gw_store_meter_decision_cb cb, void *ctx,
			      struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_DECISION_LIST, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_meter_decision_row, decision_row, "list meter decisions");
}

int gw_sq_meter_get(void *state, const char *serial, int64_t seq, const char *service,
		    const char *name, struct gw_meter_row *out, bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SU_METER_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_int(s, 2, seq);
	gw_sq_bind_text(s, 3, service);
	gw_sq_bind_text(s, 4, name);
	GET_ONE(q, s, gw_sq_meter_row, out, found, "get meter reading");
}

int gw_sq_meter_adjacent(void *state, const char *serial, const char *service, const char *name,
			 int64_t at, int32_t at_nsec, int64_t seq, bool after, struct gw_meter_row *out,
			 bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, after ? SU_METER_AFTER : SU_METER_BEFORE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_text(s, 2, service);
	gw_sq_bind_text(s, 3, name);
	gw_sq_bind_int(s, 4, at);
	gw_sq_bind_int(s, 5, at_nsec);
	gw_sq_bind_int(s, 6, seq);
	GET_ONE(q, s, gw_sq_meter_row, out, found, "adjacent meter reading");
}

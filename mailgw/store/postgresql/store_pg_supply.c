/* telemail-mailgw — the PostgreSQL back end's supply rows (issue 18), as the
 * SQLite back end's (store_sqlite_supply.c): a supply's history with the
 * page counter of each report, the tenants' order rules, replenishment
 * orders and their transitions, the operators' decisions on suspect meter
 * readings. The rules live in service/forecast.c, service/supply.c and
 * service/billing.c; these only read and write rows.
 *
 * Several gateways: one order per cartridge is UNIQUE (serial, idx,
 * cartridge). Two gateways that store reports of one device at once can
 * both find no order for its cartridge (READ COMMITTED: neither sees the
 * other's uncommitted row); the second insert then waits for the first
 * transaction and fails on the key. That is store.busy (RETRY), not an
 * error: the batch is rolled back and tried again, and then finds the
 * order the other gateway opened — one order, as on SQLite, where the
 * second writer waits for the first before it reads. Text is ordered
 * COLLATE "C" where SQLite orders by bytes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/postgresql/store_pg.h"

#define ORDER_COLS                                                                   \
	"id, serial, tenant, idx, subject, cartridge, state, reason, level, days_left," \
	" opened_at, updated_at, report_id, alert_id"
#define EVENT_COLS "id, order_id, state, at, actor, detail"
/* A supply's rows, the supply's index given by IDX (an SQL expression) */
#define HIST_COLS                                                                        \
	"SELECT r.seq, r.generated_unix, r.generated_nsec, s.level, s.max_capacity, s.unit,"  \
	" s.part_number, c.value, s.type, s.colorant,"                                       \
	" (r.trigger_cause = 'supply_replaced' AND (SELECT j.json::jsonb"                     \
	"  #>> '{report,trigger,subject}' FROM report_json j WHERE j.report = r.id)"           \
	"  = 'supplies/' || s.idx::text) IS TRUE"
/* Each report's supply and page counter by their keys (a LATERAL with a
 * LIMIT: always probes of each report's partition). Written as joins, a
 * generic plan made while the month's partitions had no statistics yet (a
 * fresh store: every estimate one row) read every month's supplies and
 * counters once for every report: 250 ms for a history of 270 reports
 * (bench_supply_tail). */
#define HIST_JOIN(IDX)                                                                   \
	" JOIN LATERAL (SELECT * FROM supplies s WHERE s.report = r.id AND s.idx = " IDX       \
	"  LIMIT 1) s ON true"                                                                \
	" LEFT JOIN LATERAL (SELECT c.value FROM counters c WHERE c.report = r.id"           \
	"  AND c.service = 'total' AND c.name = 'impressions' LIMIT 1) c ON true"
#define HIST_SELECT_OF(IDX) HIST_COLS " FROM reports r" HIST_JOIN(IDX) " WHERE r.serial = $1"
/* The supply's row in the device's newest report before T that lists it.
 * That report is found first, walking the device's reports newest first
 * and asking each for its supply by key (a subplan: its LIMIT keeps a
 * generic plan from making it a join), then its rows are read by their
 * keys. Written as the join of HIST_SELECT_OF, a generic plan scanned
 * every month's supplies for it: 2.8 s a call on a year of 1,000 devices,
 * where this is about 2 ms (issue 16; docs/benchmarks-postgresql.md). */
#define HIST_BEFORE_OF(IDX, T)                                                           \
	HIST_COLS " FROM (SELECT r.id, r.seq, r.generated_unix, r.generated_nsec,"            \
	" r.trigger_cause FROM reports r WHERE r.serial = $1 AND (SELECT 1 FROM supplies s"   \
	" WHERE s.report = r.id AND s.idx = " IDX " LIMIT 1) IS NOT NULL"                      \
	GW_PG_REPORT_BEFORE(T) ") r" HIST_JOIN(IDX)
#define HIST_SELECT HIST_SELECT_OF("$2")
#define METER_SELECT                                                                     \
	"SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name, c.value,"    \
	" r.generated_nsec FROM reports r JOIN counters c ON c.report = r.id"

#define UNIQUE_VIOLATION "23505"

static const char *const order_states[] = { "open", "shipped", "installed", "cancelled" };

static enum gw_order_state state_of(const PGresult *r, int i, int col)
{
	const char *t = PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col);
	for (size_t k = 0; t != NULL && k < sizeof(order_states) / sizeof(order_states[0]); k++)
		if (strcmp(t, order_states[k]) == 0)
			return (enum gw_order_state)k;
	return GW_ORDER_OPEN;
}

static const char *state_name(enum gw_order_state st)
{
	return (unsigned)st <= GW_ORDER_CANCELLED ? order_states[st] : "open";
}

static int64_t opt_int(const PGresult *r, int i, int col, int64_t unset)
{
	return PQgetisnull(r, i, col) ? unset : gw_pg_col_int(r, i, col);
}

/* An INSERT … RETURNING id: the new row's id into *id. */
static int insert_id(struct gw_pg *s, const char *sql, const struct gw_pg_params *p, int64_t *id,
		     const char *what, struct tm_error *err)
{
	PGresult *r;
	int rc = gw_pg_exec(&s->c, sql, p, &r, what, err);
	if (rc == GW_STORE_OK) {
		*id = gw_pg_col_int(r, 0, 0);
		PQclear(r);
	}
	return rc;
}

/* ---- history ---- */

static void hist_row(const PGresult *r, int i, void *out)
{
	struct gw_supply_hist_row *h = out;
	memset(h, 0, sizeof(*h));
	h->seq = gw_pg_col_int(r, i, 0);
	h->at = gw_pg_col_int(r, i, 1);
	h->at_nsec = (int32_t)gw_pg_col_int(r, i, 2);
	h->level = gw_pg_col_int(r, i, 3);
	h->max_capacity = opt_int(r, i, 4, TM_UNSET);
	gw_pg_col_text(r, i, 5, h->unit, sizeof(h->unit));
	gw_pg_col_text(r, i, 6, h->part_number, sizeof(h->part_number));
	h->pages = opt_int(r, i, 7, TM_UNSET);
	gw_pg_col_text(r, i, 8, h->type, sizeof(h->type));
	gw_pg_col_text(r, i, 9, h->colorant, sizeof(h->colorant));
	h->replaced = !PQgetisnull(r, i, 10) && strcmp(PQgetvalue(r, i, 10), "t") == 0;
}

static int call_hist(void *cb, void *ctx, void *row)
{
	return (*(gw_store_supply_hist_cb *)cb)(ctx, row);
}

int gw_pg_supply_history(void *state, const char *serial, int64_t idx, int64_t since,
			 gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, idx);
	gw_pg_int(&p, since);
	struct gw_supply_hist_row row;
	/* the session runs without JIT: the partitions' join is estimated at
	 * millions of rows, and PostgreSQL compiled this query of a few hundred
	 * each time, 0.6 s of 0.6 s for a supply of 155 days (issue 16). And
	 * planned once: left to choose, the server planned it at every call
	 * (1 ms on a year's twelve monthly partitions, as long as running it),
	 * where the generic plan walks the same indexes. The two SETs go with
	 * the walk's round trip inside a transaction (sent ahead). */
	struct gw_pg *s = state;
	int rc = gw_pg_exec_later(&s->c, "SET plan_cache_mode = force_generic_plan", NULL,
				  "supply history plan", err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_walk(state, HIST_SELECT " AND r.generated_unix >= $3"
				" ORDER BY r.generated_unix, r.generated_nsec, r.seq",
				&p, hist_row, &row, call_hist, &cb, ctx, "supply history", err);
	struct tm_error reset_err = {0};
	int r2 = gw_pg_exec_later(&s->c, "RESET plan_cache_mode", NULL, "supply history plan",
				  &reset_err);
	if (rc == GW_STORE_OK && r2 != GW_STORE_OK) {
		*err = reset_err;
		rc = r2;
	}
	return rc;
}

int gw_pg_supply_before(void *state, const char *serial, int64_t idx, int64_t at, int32_t at_nsec,
			int64_t seq, struct gw_supply_hist_row *out, bool *found,
			struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, idx);
	gw_pg_int(&p, at);
	gw_pg_int(&p, at_nsec);
	gw_pg_int(&p, seq);
	return gw_pg_get_one(state, HIST_BEFORE_OF("$2", "$3, $4, $5"), &p, hist_row, out, found,
			     "supply before", err);
}

/* The answers of a statement over n keys whose column col is the key's
 * ordinal (1..n): each row read into out[ordinal - 1] (elements of size
 * bytes), found[ordinal - 1] set; a key without a row is left as it was. */
static void by_ordinal(const PGresult *r, int col, size_t n, gw_pg_fill_fn fill, void *out,
		       size_t size, bool *found)
{
	for (int row = 0; row < PQntuples(r); row++) {
		int64_t i = gw_pg_col_int(r, row, col);
		if (i < 1 || (uint64_t)i > n)
			continue;
		fill(r, row, (char *)out + (size_t)(i - 1) * size);
		found[i - 1] = true;
	}
}

/* Every supply's row before in one statement: a LATERAL per supply, each
 * the same index walk as gw_pg_supply_before's. The supplies are a VALUES
 * list of parameters, not an array: the server then plans the statement
 * once (its generic plan knows how many there are) where, given an array,
 * it planned it again at every call (a quarter of a millisecond, more with
 * every month's partition). Sent into c's open pipe (*slot: its result)
 * or waited for (*res); n at most GW_SUPPLY_BEFORE_MAX. */
static int before_many(struct gw_pg_conn *c, const char *serial, size_t n, const int64_t *idx,
		       int64_t at, int32_t at_nsec, int64_t seq, int *slot, PGresult **res,
		       struct tm_error *err)
{
	static const char head[] = "SELECT h.*, k.i FROM (VALUES";
	static const char tail[] = ") AS k(idx, i) CROSS JOIN LATERAL ("
		HIST_BEFORE_OF("k.idx", "$2, $3, $4") ") h";
	char sql[sizeof(head) + sizeof(tail) + GW_SUPPLY_BEFORE_MAX * 24];
	size_t o = (size_t)snprintf(sql, sizeof(sql), "%s", head);
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, at);
	gw_pg_int(&p, at_nsec);
	gw_pg_int(&p, seq);
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, "%s($%zu::bigint, %zu)",
				      i > 0 ? ", " : " ", i + 5, i + 1);
		gw_pg_int(&p, idx[i]);
	}
	snprintf(sql + o, sizeof(sql) - o, "%s", tail);
	if (slot != NULL)
		return gw_pg_pipe_send(c, sql, &p, true, "supplies before", slot, err);
	return gw_pg_exec(c, sql, &p, res, "supplies before", err);
}

int gw_pg_supply_before_send(struct gw_pg_conn *c, const char *serial, size_t n,
			     const int64_t *idx, int64_t at, int32_t at_nsec, int64_t seq,
			     int *slot, struct tm_error *err)
{
	return before_many(c, serial, n, idx, at, at_nsec, seq, slot, NULL, err);
}

void gw_pg_supply_before_take(const PGresult *r, size_t n, struct gw_supply_hist_row *out,
			      bool *found)
{
	by_ordinal(r, 11, n, hist_row, out, sizeof(*out), found);
}

int gw_pg_supply_before_many(void *state, const char *serial, size_t n, const int64_t *idx,
			     int64_t at, int32_t at_nsec, int64_t seq,
			     struct gw_supply_hist_row *out, bool *found, struct tm_error *err)
{
	struct gw_pg *s = state;
	if (n > GW_SUPPLY_BEFORE_MAX)
		n = GW_SUPPLY_BEFORE_MAX;
	PGresult *r;
	int rc = before_many(&s->c, serial, n, idx, at, at_nsec, seq, NULL, &r, err);
	if (rc != GW_STORE_OK)
		return rc;
	gw_pg_supply_before_take(r, n, out, found);
	PQclear(r);
	return GW_STORE_OK;
}

/* ---- rules ---- */

static void rule_row(const PGresult *r, int i, void *out)
{
	struct gw_supply_rule_row *u = out;
	memset(u, 0, sizeof(*u));
	gw_pg_col_text(r, i, 0, u->tenant, sizeof(u->tenant));
	u->lead_time = opt_int(r, i, 1, -1);
	u->floor = opt_int(r, i, 2, -1);
	u->updated_at = gw_pg_col_int(r, i, 3);
}

int gw_pg_supply_rule_get(void *state, const char *tenant, struct gw_supply_rule_row *out,
			  bool *found, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, tenant);
	return gw_pg_get_one(state, "SELECT tenant, lead_time, floor, updated_at FROM supply_rules"
			     " WHERE tenant = $1", &p, rule_row, out, found, "get supply rule", err);
}

int gw_pg_supply_rule_set(void *state, const struct gw_supply_rule_row *r, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, r->tenant);
	if (r->lead_time < 0 && r->floor < 0)
		return gw_pg_exec(&s->c, "DELETE FROM supply_rules WHERE tenant = $1", &p, NULL,
				  "set supply rule", err);
	gw_pg_opt_int(&p, r->lead_time, -1);
	gw_pg_opt_int(&p, r->floor, -1);
	gw_pg_int(&p, r->updated_at);
	return gw_pg_exec(&s->c,
		"INSERT INTO supply_rules (tenant, lead_time, floor, updated_at)"
		" VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE SET"
		" lead_time = excluded.lead_time, floor = excluded.floor,"
		" updated_at = excluded.updated_at", &p, NULL, "set supply rule", err);
}

/* ---- orders ---- */

static void order_row(const PGresult *r, int i, void *out)
{
	struct gw_order_row *o = out;
	memset(o, 0, sizeof(*o));
	o->id = gw_pg_col_int(r, i, 0);
	gw_pg_col_text(r, i, 1, o->serial, sizeof(o->serial));
	gw_pg_col_text(r, i, 2, o->tenant, sizeof(o->tenant));
	o->idx = gw_pg_col_int(r, i, 3);
	gw_pg_col_text(r, i, 4, o->subject, sizeof(o->subject));
	o->cartridge = gw_pg_col_int(r, i, 5);
	o->state = state_of(r, i, 6);
	gw_pg_col_text(r, i, 7, o->reason, sizeof(o->reason));
	o->level = gw_pg_col_int(r, i, 8);
	o->days_left = opt_int(r, i, 9, -1);
	o->opened_at = gw_pg_col_int(r, i, 10);
	o->updated_at = gw_pg_col_int(r, i, 11);
	gw_pg_col_text(r, i, 12, o->report_id, sizeof(o->report_id));
	o->alert_id = opt_int(r, i, 13, 0);
}

static int call_order(void *cb, void *ctx, void *row)
{
	return (*(gw_store_order_cb *)cb)(ctx, row);
}

int gw_pg_order_insert(void *state, struct gw_order_row *o, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, o->serial);
	gw_pg_text(&p, o->tenant);
	gw_pg_int(&p, o->idx);
	gw_pg_text(&p, o->subject);
	gw_pg_int(&p, o->cartridge);
	gw_pg_text(&p, state_name(o->state));
	gw_pg_text(&p, o->reason);
	gw_pg_int(&p, o->level);
	gw_pg_opt_int(&p, o->days_left, -1);
	gw_pg_int(&p, o->opened_at);
	gw_pg_int(&p, o->updated_at);
	gw_pg_opt_text(&p, o->report_id);
	gw_pg_opt_int(&p, o->alert_id, 0);
	int rc = insert_id(s,
		"INSERT INTO supply_orders (serial, tenant, idx, subject, cartridge, state, reason,"
		" level, days_left, opened_at, updated_at, report_id, alert_id)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
		&p, &o->id, "insert supply order", err);
	if (rc == GW_STORE_ERROR && strcmp(s->c.last_sqlstate, UNIQUE_VIOLATION) == 0) {
		rc = GW_STORE_RETRY;   /* another gateway opened it first: see the top */
		tm_error_set(err, "store.busy",
			     "%s: insert supply order: the order of %s#%lld cartridge %lld was"
			     " opened meanwhile; retry", s->c.where, o->serial, (long long)o->idx,
			     (long long)o->cartridge);
	}
	return rc;
}

int gw_pg_order_update(void *state, const struct gw_order_row *o, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, o->id);
	gw_pg_text(&p, state_name(o->state));
	gw_pg_int(&p, o->updated_at);
	gw_pg_opt_int(&p, o->alert_id, 0);
	return gw_pg_exec(&s->c, "UPDATE supply_orders SET state = $2, updated_at = $3,"
			  " alert_id = $4 WHERE id = $1", &p, NULL, "update supply order", err);
}

int gw_pg_order_get(void *state, int64_t id, struct gw_order_row *out, bool *found,
		    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, id);
	return gw_pg_get_one(state, "SELECT " ORDER_COLS " FROM supply_orders WHERE id = $1", &p,
			     order_row, out, found, "get supply order", err);
}

int gw_pg_order_find(void *state, const char *serial, int64_t idx, int64_t cartridge,
		     struct gw_order_row *out, bool *found, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, idx);
	gw_pg_int(&p, cartridge);
	return gw_pg_get_one(state, "SELECT " ORDER_COLS " FROM supply_orders WHERE serial = $1"
			     " AND idx = $2 AND cartridge = $3", &p, order_row, out, found,
			     "find supply order", err);
}

int gw_pg_order_list(void *state, const char *serial, int64_t idx, gw_store_order_cb cb,
		     void *ctx, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	if (serial != NULL) {
		gw_pg_text(&p, serial);
		gw_pg_int(&p, idx);
	}
	struct gw_order_row row;
	return gw_pg_walk(state, serial != NULL ? "SELECT " ORDER_COLS " FROM supply_orders"
						  " WHERE serial = $1 AND idx = $2 ORDER BY id"
						: "SELECT " ORDER_COLS " FROM supply_orders ORDER BY id",
			  serial != NULL ? &p : NULL, order_row, &row, call_order, &cb, ctx,
			  "list supply orders", err);
}

/* ---- transitions ---- */

static void event_row(const PGresult *r, int i, void *out)
{
	struct gw_order_event_row *e = out;
	memset(e, 0, sizeof(*e));
	e->id = gw_pg_col_int(r, i, 0);
	e->order_id = gw_pg_col_int(r, i, 1);
	e->state = state_of(r, i, 2);
	e->at = gw_pg_col_int(r, i, 3);
	gw_pg_col_text(r, i, 4, e->actor, sizeof(e->actor));
	gw_pg_col_text(r, i, 5, e->detail, sizeof(e->detail));
}

static int call_event(void *cb, void *ctx, void *row)
{
	return (*(gw_store_order_event_cb *)cb)(ctx, row);
}

int gw_pg_order_event_insert(void *state, struct gw_order_event_row *e, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, e->order_id);
	gw_pg_text(&p, state_name(e->state));
	gw_pg_int(&p, e->at);
	gw_pg_text(&p, e->actor);
	gw_pg_opt_text(&p, e->detail);
	return insert_id(s, "INSERT INTO supply_order_events (order_id, state, at, actor, detail)"
			 " VALUES ($1, $2, $3, $4, $5) RETURNING id", &p, &e->id,
			 "insert supply order transition", err);
}

int gw_pg_order_event_list(void *state, int64_t order_id, gw_store_order_event_cb cb, void *ctx,
			   struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	if (order_id != 0)
		gw_pg_int(&p, order_id);
	struct gw_order_event_row row;
	return gw_pg_walk(state, order_id != 0 ? "SELECT " EVENT_COLS " FROM supply_order_events"
						 " WHERE order_id = $1 ORDER BY id"
					       : "SELECT " EVENT_COLS " FROM supply_order_events"
						 " ORDER BY id",
			  order_id != 0 ? &p : NULL, event_row, &row, call_event, &cb, ctx,
			  "list supply order transitions", err);
}

/* ---- meter decisions ---- */

static void decision_row(const PGresult *r, int i, void *out)
{
	struct gw_meter_decision_row *d = out;
	memset(d, 0, sizeof(*d));
	gw_pg_col_text(r, i, 0, d->serial, sizeof(d->serial));
	d->seq = gw_pg_col_int(r, i, 1);
	gw_pg_col_text(r, i, 2, d->counter, sizeof(d->counter));
	d->exclude = !PQgetisnull(r, i, 3) && strcmp(PQgetvalue(r, i, 3), "exclude") == 0;
	gw_pg_col_text(r, i, 4, d->actor, sizeof(d->actor));
	d->at = gw_pg_col_int(r, i, 5);
}

static int call_decision(void *cb, void *ctx, void *row)
{
	return (*(gw_store_meter_decision_cb *)cb)(ctx, row);
}

int gw_pg_meter_decision_set(void *state, const struct gw_meter_decision_row *d,
			     struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, d->serial);
	gw_pg_int(&p, d->seq);
	gw_pg_text(&p, d->counter);
	gw_pg_text(&p, d->exclude ? "exclude" : "accept");
	gw_pg_text(&p, d->actor);
	gw_pg_int(&p, d->at);
	return gw_pg_exec(&s->c,
		"INSERT INTO meter_decisions (serial, seq, counter, decision, actor, at)"
		" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (serial, seq, counter) DO UPDATE SET"
		" decision = excluded.decision, actor = excluded.actor, at = excluded.at",
		&p, NULL, "set meter decision", err);
}

int gw_pg_supply_forecast_set(void *state, const char *serial, int64_t idx,
			      const struct gw_supply_forecast_row *f, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, idx);
	gw_pg_text(&p, f->ok ? "true" : "false");
	gw_pg_text(&p, f->reason);
	gw_pg_text(&p, f->basis);
	gw_pg_text(&p, f->confidence);
	gw_pg_int(&p, f->empty_at);
	gw_pg_int(&p, f->made_at);
	char num[3][32];   /* to the last bit: read back, the same double */
	snprintf(num[0], sizeof(num[0]), "%.17g", f->score);
	snprintf(num[1], sizeof(num[1]), "%.17g", f->pages_per_day);
	snprintf(num[2], sizeof(num[2]), "%.17g", f->pct_per_day);
	for (size_t i = 0; i < 3; i++)
		gw_pg_text(&p, num[i]);
	gw_pg_text(&p, f->weekday_pattern ? "true" : "false");
	gw_pg_int(&p, f->tail.cart_key);
	gw_pg_int(&p, f->tail.cart_at);
	gw_pg_text(&p, f->tail.fine_levels ? "true" : "false");
	return gw_pg_exec(&s->c,
		"INSERT INTO supply_forecasts (serial, idx, ok, reason, basis, confidence, empty_at,"
		" made_at, score, pages_per_day, pct_per_day, weekday_pattern, cart_key, cart_at,"
		" fine_levels)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
		" ON CONFLICT (serial, idx) DO UPDATE"
		" SET ok = excluded.ok, reason = excluded.reason, basis = excluded.basis,"
		" confidence = excluded.confidence, empty_at = excluded.empty_at,"
		" made_at = excluded.made_at, score = excluded.score,"
		" pages_per_day = excluded.pages_per_day, pct_per_day = excluded.pct_per_day,"
		" weekday_pattern = excluded.weekday_pattern, cart_key = excluded.cart_key,"
		" cart_at = excluded.cart_at, fine_levels = excluded.fine_levels",
		&p, NULL, "set supply forecast", err);
}

static void tail_row(const PGresult *r, int i, void *out)
{
	struct gw_supply_tail *t = out;
	t->made_at = gw_pg_col_int(r, i, 0);
	t->cart_key = gw_pg_col_int(r, i, 1);
	t->cart_at = gw_pg_col_int(r, i, 2);
	t->fine_levels = strcmp(PQgetvalue(r, i, 3), "t") == 0;
}

int gw_pg_supply_tail_get(void *state, const char *serial, int64_t idx, struct gw_supply_tail *out,
			  bool *found, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, idx);
	return gw_pg_get_one(state, "SELECT made_at, cart_key, cart_at, fine_levels"
			     " FROM supply_forecasts WHERE serial = $1 AND idx = $2"
			     " AND cart_at IS NOT NULL", &p, tail_row, out, found,
			     "get supply tail", err);
}

int gw_pg_meter_decision_list(void *state, gw_store_meter_decision_cb cb, void *ctx,
			      struct tm_error *err)
{
	struct gw_meter_decision_row row;
	return gw_pg_walk(state, "SELECT serial, seq, counter, decision, actor, at"
			  " FROM meter_decisions"
			  " ORDER BY serial COLLATE \"C\", seq, counter COLLATE \"C\"", NULL,
			  decision_row, &row, call_decision, &cb, ctx, "list meter decisions", err);
}

int gw_pg_meter_get(void *state, const char *serial, int64_t seq, const char *service,
		    const char *name, struct gw_meter_row *out, bool *found, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_int(&p, seq);
	gw_pg_text(&p, service);
	gw_pg_text(&p, name);
	return gw_pg_get_one(state, METER_SELECT " WHERE r.serial = $1 AND r.seq = $2"
			     " AND c.service = $3 AND c.name = $4", &p, gw_pg_meter_row, out, found,
			     "get meter reading", err);
}

int gw_pg_meter_adjacent(void *state, const char *serial, const char *service, const char *name,
			 int64_t at, int32_t at_nsec, int64_t seq, bool after, struct gw_meter_row *out,
			 bool *found, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_text(&p, service);
	gw_pg_text(&p, name);
	gw_pg_int(&p, at);
	gw_pg_int(&p, at_nsec);
	gw_pg_int(&p, seq);
	return gw_pg_get_one(state, GW_PG_REPORT_NEXT(after,
		METER_SELECT " WHERE r.serial = $1 AND c.service = $2 AND c.name = $3",
		"$4, $5, $6", ""), &p, gw_pg_meter_row, out, found, "adjacent meter reading", err);
}

static const char *key_service(const void *ctx, size_t i)
{
	return ((const struct gw_meter_key *)ctx)[i].service;
}

static const char *key_name(const void *ctx, size_t i)
{
	return ((const struct gw_meter_key *)ctx)[i].name;
}

/* Every counter's neighbour in one statement: a LATERAL per counter, each
 * the same index walk as gw_pg_meter_adjacent's (the counters the
 * neighbouring report lacks, store_pg_meter.c). */
int gw_pg_meter_adjacent_joined(void *state, const char *serial, size_t n,
			      const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
			      int64_t seq, bool after, struct gw_meter_row *out, bool *found,
			      struct tm_error *err)
{
	struct gw_pg *s = state;
	char *services = gw_pg_text_array(n, key_service, keys);
	char *names = gw_pg_text_array(n, key_name, keys);
	if (services == NULL || names == NULL) {
		free(services);
		free(names);
		return tm_error_set(err, "internal.nomem", "adjacent meter readings: out of memory");
	}
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_text(&p, services);
	gw_pg_text(&p, names);
	gw_pg_int(&p, at);
	gw_pg_int(&p, at_nsec);
	gw_pg_int(&p, seq);
	PGresult *r;
	int rc = gw_pg_exec(&s->c, GW_PG_REPORT_NEXT(after,
		"SELECT m.*, k.i FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS"
		" k(service, name, i) CROSS JOIN LATERAL (" METER_SELECT
		" WHERE r.serial = $1 AND c.service = k.service AND c.name = k.name",
		"$4, $5, $6", ") m"), &p, &r, "adjacent meter readings", err);
	free(services);
	free(names);
	if (rc != GW_STORE_OK)
		return rc;
	by_ordinal(r, 8, n, gw_pg_meter_row, out, sizeof(*out), found);
	PQclear(r);
	return GW_STORE_OK;
}

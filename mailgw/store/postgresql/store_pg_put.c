/* telemail-mailgw — the PostgreSQL back end: putting one record (the
 * report, its JSON, its relational rows, the device's derived facts and the
 * message-log row, inside a SAVEPOINT) and the message log.
 *
 * Round trips count here: a new report is one pipe, one round trip (the
 * savepoint, the device row, the report's keys, row and JSON in one
 * statement, each list one multi-row INSERT of up to GW_PG_ROWS_MAX rows,
 * the message log, the service side's reads); its id comes from numbers of
 * the sequence taken ahead; what follows only the device's newest seq (the
 * latest supplies) and the savepoint's release are sent ahead, with the
 * next statement waited for.
 *
 * A report already there, and several gateways: the report's keys
 * (report_keys: its id, its device and seq) are inserted ON CONFLICT DO
 * NOTHING, and the report and its JSON only when they were; a check after
 * them fails the pipe when they were not. The put then rolls back to its
 * savepoint and looks the report up (by id or by device and seq; another
 * gateway's copy that committed while ours waited on the unique key is
 * visible then): the same content is a duplicate, other content a
 * conflict. A duplicate thus costs two round trips more than a new
 * report, where a lookup before every put cost every report one.
 *
 * Months (schema version 12): the report's id carries the month it was
 * received in, and that month's partitions are made before its first put
 * (store_pg_partition.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/report.h>

#include "store/postgresql/store_pg.h"

static const char *const kind_names[] = {
	[TM_KIND_PERIODIC] = "periodic", [TM_KIND_EVENT] = "event",
	[TM_KIND_STATUS] = "status", [TM_KIND_TEST] = "test",
};

static const char *const service_names[TM_SVC_COUNT] = {
	[TM_SVC_TOTAL] = "total", [TM_SVC_PRINT] = "print", [TM_SVC_COPY] = "copy",
	[TM_SVC_SCAN] = "scan", [TM_SVC_FAX] = "fax",
};

static const char *const counter_names[] = {
	"impressions", "impressions_monochrome", "impressions_full_color",
	"impressions_two_sided", "sheets", "sheets_two_sided", "images",
};

#define N_COUNTER_NAMES (sizeof(counter_names) / sizeof(counter_names[0]))

struct list_ctx {
	long long rid;
	const struct tm_report *r;
};

/* ---- counters ---- */

struct counter_ctx {
	long long rid;
	const struct tm_report *r;
	size_t n_std;
	struct {
		const char *service, *name;
		int64_t value;
	} std[TM_SVC_COUNT * N_COUNTER_NAMES];
};

static void bind_counter(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct counter_ctx *c = ctx;
	gw_pg_int(p, c->rid);
	if (i < c->n_std) {
		gw_pg_text(p, c->std[i].service);
		gw_pg_text(p, c->std[i].name);
		gw_pg_int(p, c->std[i].value);
		gw_pg_text(p, NULL);
		return;
	}
	const struct tm_vendor_counter *v = &c->r->vendor[i - c->n_std];
	gw_pg_text(p, "vendor");
	gw_pg_text(p, v->id);
	gw_pg_int(p, v->value);
	gw_pg_text(p, v->unit);
}

/* The report's counters: the standard ones in cc->std, the vendor's after */
static void collect_counters(long long rid, const struct tm_report *r, struct counter_ctx *cc)
{
	cc->rid = rid;
	cc->r = r;
	cc->n_std = 0;
	for (int svc = 0; svc < TM_SVC_COUNT; svc++) {
		if (!r->has_service[svc])
			continue;
		const struct tm_counter_set *set = &r->service[svc];
		const int64_t v[N_COUNTER_NAMES] = {
			set->impressions, set->impressions_monochrome, set->impressions_full_color,
			set->impressions_two_sided, set->sheets, set->sheets_two_sided, set->images,
		};
		for (size_t k = 0; k < N_COUNTER_NAMES; k++) {
			if (v[k] == TM_UNSET)
				continue;
			cc->std[cc->n_std].service = service_names[svc];
			cc->std[cc->n_std].name = counter_names[k];
			cc->std[cc->n_std].value = v[k];
			cc->n_std++;
		}
	}
}

/* The counters packed for the report's row (reports.meters); -1: out of memory. */
static int pack_counters(const struct counter_ctx *cc, struct tm_buf *b)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < cc->n_std; i++)
		rc = gw_pg_meters_add(b, cc->std[i].service, cc->std[i].name, cc->std[i].value);
	for (size_t i = 0; rc == 0 && i < cc->r->n_vendor; i++)
		rc = gw_pg_meters_add(b, "vendor", cc->r->vendor[i].id, cc->r->vendor[i].value);
	return rc;
}

static int put_counters(struct gw_pg_conn *c, const struct counter_ctx *cc, struct tm_error *err)
{
	char head[GW_PG_INTO_MAX];
	return gw_pg_put_rows(c, gw_pg_into_month(head, "counters", cc->rid,
			      "(report, service, name, value, unit) VALUES"),
			      5, NULL, cc->n_std + cc->r->n_vendor, bind_counter, cc,
			      "insert counter", err);
}

/* ---- supplies ---- */

struct supply_ctx {
	long long rid;
	const char *serial;
	int64_t seq;
	const struct tm_supply *v;
};

static void bind_supply_tail(struct gw_pg_params *p, const struct tm_supply *sp)
{
	gw_pg_text(p, sp->type);
	gw_pg_text(p, sp->colorant);
	gw_pg_text(p, sp->description);
	gw_pg_text(p, sp->unit);
	gw_pg_opt_int(p, sp->max_capacity, TM_UNSET);
	gw_pg_int(p, sp->level);
	gw_pg_text(p, sp->part_number);
}

static void bind_supply(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct supply_ctx *c = ctx;
	gw_pg_int(p, c->rid);
	gw_pg_int(p, c->v[i].index);
	bind_supply_tail(p, &c->v[i]);
}

static void bind_latest_supply(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct supply_ctx *c = ctx;
	gw_pg_text(p, c->serial);
	gw_pg_int(p, c->v[i].index);
	gw_pg_int(p, c->seq);
	bind_supply_tail(p, &c->v[i]);
}

/* ---- parts, alerts, diagnostics, firmware ---- */

static void bind_part(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	const struct tm_part *pt = &c->r->parts[i];
	gw_pg_int(p, c->rid);
	gw_pg_int(p, (long long)i);
	gw_pg_text(p, pt->name);
	gw_pg_int(p, pt->used);
	gw_pg_opt_int(p, pt->rated_life, TM_UNSET);
	gw_pg_text(p, pt->unit);
}

static void bind_alert(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	const struct tm_alert *a = &c->r->alerts[i];
	gw_pg_int(p, c->rid);
	gw_pg_int(p, (long long)i);
	gw_pg_text(p, a->code);
	gw_pg_text(p, a->sub_code);
	gw_pg_text(p, a->severity);
	gw_pg_text(p, a->group);
	gw_pg_opt_int(p, a->location, TM_UNSET);
	gw_pg_text(p, a->description);
	gw_pg_text(p, a->time);
	gw_pg_opt_int(p, a->counter, TM_UNSET);
}

/* a float's text lives in the parameters' own number slots */
static void bind_diag(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	const struct tm_diag *d = &c->r->diagnostics[i];
	gw_pg_int(p, c->rid);
	gw_pg_text(p, d->name);
	switch (d->type) {
	case TM_DIAG_STRING:
		gw_pg_text(p, "string");
		gw_pg_text(p, d->s);
		break;
	case TM_DIAG_INT:
		gw_pg_text(p, "int");
		gw_pg_int(p, d->i);
		break;
	case TM_DIAG_FLOAT:
		gw_pg_text(p, "float");
		gw_pg_int(p, 0);
		snprintf(p->num[p->n - 1], sizeof(p->num[0]), "%.17g", d->f);
		break;
	case TM_DIAG_BOOL:
		gw_pg_text(p, "bool");
		gw_pg_text(p, d->b ? "1" : "0");   /* as SQLite keeps it */
		break;
	}
}

static void bind_firmware(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	gw_pg_int(p, c->rid);
	gw_pg_int(p, (long long)i);
	gw_pg_text(p, c->r->firmware[i].component);
	gw_pg_text(p, c->r->firmware[i].version);
}

static int put_lists(struct gw_pg_conn *c, long long rid, const struct tm_report *r,
		     struct tm_error *err)
{
	const struct supply_ctx sc = { .rid = rid, .v = r->supplies };
	const struct list_ctx lc = { .rid = rid, .r = r };
	char head[GW_PG_INTO_MAX];
	int rc = gw_pg_put_rows(c, gw_pg_into_month(head, "supplies", rid,
		"(report, idx, type, colorant, description, unit, max_capacity, level, part_number)"
		" VALUES"), 9, NULL, r->n_supplies, bind_supply, &sc, "insert supply", err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_put_rows(c, gw_pg_into_month(head, "parts", rid,
				    "(report, n, name, used, rated_life, unit) VALUES"),
				    6, NULL, r->n_parts, bind_part, &lc, "insert part", err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_put_rows(c, gw_pg_into_month(head, "alerts", rid,
			"(report, n, code, sub_code, severity, grp, location, description, time,"
			" counter) VALUES"), 10, NULL, r->n_alerts, bind_alert, &lc, "insert alert", err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_put_rows(c, gw_pg_into_month(head, "diagnostics", rid,
				    "(report, name, type, value) VALUES"), 4,
				    NULL, r->n_diagnostics, bind_diag, &lc, "insert diagnostic", err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_put_rows(c, gw_pg_into_month(head, "firmware", rid,
				    "(report, n, component, version) VALUES"),
				    4, NULL, r->n_firmware, bind_firmware, &lc, "insert firmware", err);
	return rc;
}

/* The device's row, in the put's pipe: inserted when the device has none
 * yet, its last_received moved on, and, when the report is its newest seq
 * so far, the newest report's facts; one statement, so one new version of
 * the row a report (was an upsert, then an update: two versions, and two
 * checks of the tenant's key, as the row is the transaction's own). Its
 * answer in slot *upd: whether the device's newest seq is now the
 * report's. */
static int put_device_row(struct gw_pg_conn *c, const struct gw_store_record *rec,
			  int64_t generated, int32_t generated_nsec, int *upd, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, r->serial);
	gw_pg_int(&p, r->seq);
	gw_pg_text(&p, r->id);
	gw_pg_int(&p, generated);
	gw_pg_text(&p, r->manufacturer);
	gw_pg_text(&p, r->model);
	gw_pg_text(&p, r->name);
	gw_pg_text(&p, r->location);
	gw_pg_text(&p, r->ip);
	gw_pg_text(&p, r->mac);
	gw_pg_text(&p, r->has_status ? r->state : NULL);
	gw_pg_int(&p, generated_nsec);
	gw_pg_text(&p, rec->tenant);
	gw_pg_int(&p, rec->received_at);
#define NEWEST "d.last_seq IS NULL OR d.last_seq < $2"
	return gw_pg_pipe_send(c,
		"INSERT INTO devices AS d (serial, tenant, enrolled_at, last_received, last_seq,"
		" last_report_id, last_seen, last_seen_nsec, manufacturer, model, name, location,"
		" ip, mac, state)"
		" VALUES ($1, $13, $14::bigint, GREATEST(0, $14::bigint), $2, $3, $4, $12, $5, $6,"
		" $7, $8, $9, $10, $11)"
		" ON CONFLICT (serial) DO UPDATE"
		" SET last_received = GREATEST(COALESCE(d.last_received, 0), $14::bigint),"
		" last_seq = CASE WHEN " NEWEST " THEN $2 ELSE d.last_seq END,"
		" last_report_id = CASE WHEN " NEWEST " THEN $3 ELSE d.last_report_id END,"
		" last_seen = CASE WHEN " NEWEST " THEN $4 ELSE d.last_seen END,"
		" last_seen_nsec = CASE WHEN " NEWEST " THEN $12 ELSE d.last_seen_nsec END,"
		" manufacturer = CASE WHEN " NEWEST " THEN $5 ELSE d.manufacturer END,"
		" model = CASE WHEN " NEWEST " THEN $6 ELSE d.model END,"
		" name = CASE WHEN " NEWEST " THEN $7 ELSE d.name END,"
		" location = CASE WHEN " NEWEST " THEN $8 ELSE d.location END,"
		" ip = CASE WHEN " NEWEST " THEN $9 ELSE d.ip END,"
		" mac = CASE WHEN " NEWEST " THEN $10 ELSE d.mac END,"
		" state = CASE WHEN " NEWEST " THEN COALESCE($11, d.state) ELSE d.state END"
		" RETURNING d.last_seq = $2",
		&p, true, "device row", upd, err);
#undef NEWEST
}

/* The device's latest supplies (the report is its newest seq and lists
 * them), sent ahead. */
static int put_latest_supplies(struct gw_pg_conn *c, const struct tm_report *r,
			       struct tm_error *err)
{
	/* the report's supplies over the rows of the same index (an update of
	 * a row in place: no index entry, no foreign-key check), then those it
	 * no longer lists gone; was a delete of them all and an insert */
	const struct supply_ctx lc = { .serial = r->serial, .seq = r->seq, .v = r->supplies };
	int rc = gw_pg_put_rows_later(c,
		"INSERT INTO latest_supplies AS l (serial, idx, seq, type, colorant, description,"
		" unit, max_capacity, level, part_number) VALUES", 10,
		" ON CONFLICT (serial, idx) DO UPDATE SET seq = excluded.seq, type = excluded.type,"
		" colorant = excluded.colorant, description = excluded.description,"
		" unit = excluded.unit, max_capacity = excluded.max_capacity,"
		" level = excluded.level, part_number = excluded.part_number",
		r->n_supplies, bind_latest_supply, &lc, "insert supply", err);
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, r->serial);
	gw_pg_int(&p, r->seq);
	if (rc == GW_STORE_OK)
		rc = gw_pg_exec_later(c, "DELETE FROM latest_supplies WHERE serial = $1 AND seq <> $2",
				      &p, "clear latest supplies", err);
	return rc;
}

static int msglog_upsert(struct gw_pg_conn *c, const struct gw_msglog_entry *e,
			 struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, e->raw_sha256);
	gw_pg_text(&p, e->message_id != NULL ? e->message_id : "");
	gw_pg_int(&p, e->received_at);
	gw_pg_int(&p, (long long)time(NULL));
	gw_pg_text(&p, gw_outcome_name(e->outcome));
	gw_pg_text(&p, e->reason);
	gw_pg_text(&p, e->detail);
	gw_pg_text(&p, e->report_id);
	gw_pg_text(&p, e->quarantine_id);
	return gw_pg_exec(c,
		"INSERT INTO message_log AS m (raw_sha256, message_id, received_at, updated_at,"
		" outcome, reason, detail, report_id, quarantine_id)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
		" ON CONFLICT (raw_sha256, message_id) DO UPDATE SET updated_at = excluded.updated_at,"
		" outcome = excluded.outcome, reason = excluded.reason, detail = excluded.detail,"
		" report_id = COALESCE(excluded.report_id, m.report_id),"
		" quarantine_id = COALESCE(excluded.quarantine_id, m.quarantine_id)"
		" WHERE m.outcome <> 'stored' AND (m.outcome <> excluded.outcome"
		" OR m.reason IS DISTINCT FROM excluded.reason)",
		&p, NULL, "message log", err);
}

/* Is the report already here (by its id, or by device and seq)? The query,
 * and what its answer says (sets info->result when it is there). */
static const char find_sql[] =
	"SELECT r.report_id, r.serial, r.seq, r.raw_sha256, j.json, r.report_id = $1"
	" FROM report_keys k JOIN reports r ON r.id = k.id JOIN report_json j ON j.report = k.id"
	" WHERE k.report_id = $1 OR (k.serial = $2 AND k.seq = $3)"
	" ORDER BY k.report_id = $1 DESC LIMIT 1";

static void find_params(struct gw_pg_params *p, const struct tm_report *r)
{
	gw_pg_params_init(p);
	gw_pg_text(p, r->id);
	gw_pg_text(p, r->serial);
	gw_pg_int(p, r->seq);
}

static void found(const PGresult *res, const struct gw_store_record *rec,
		  struct gw_put_info *info, bool *exists)
{
	const struct tm_report *r = rec->report;
	*exists = PQntuples(res) == 1;
	if (!*exists)
		return;
	bool by_id = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
	const char *json = PQgetvalue(res, 0, 4);
	size_t jlen = (size_t)PQgetlength(res, 0, 4);
	bool same = by_id && strcmp(PQgetvalue(res, 0, 1), r->serial) == 0 &&
		    gw_pg_col_int(res, 0, 2) == r->seq && jlen == rec->json_len &&
		    memcmp(json, rec->json, jlen) == 0;
	info->result = same ? GW_PUT_DUPLICATE : GW_PUT_CONFLICT;
	info->same_message = same && strcmp(PQgetvalue(res, 0, 3), rec->raw_sha256) == 0;
	if (!same)
		gw_pg_col_text(res, 0, 0, info->existing_id, sizeof(info->existing_id));
}

/* One round trip on its own (after the put found the report's keys there). */
static int find_existing(struct gw_pg_conn *c, const struct gw_store_record *rec,
			 struct gw_put_info *info, bool *exists, struct tm_error *err)
{
	*exists = false;
	struct gw_pg_params p;
	find_params(&p, rec->report);
	PGresult *res;
	int rc = gw_pg_exec(c, find_sql, &p, &res, "look up report", err);
	if (rc != GW_STORE_OK)
		return rc;
	found(res, rec, info, exists);
	PQclear(res);
	return GW_STORE_OK;
}

/* What the put knows before its round trip. */
struct put_plan {
	int64_t month;          /* received in (gw_pg_month_of) */
	long long rid;          /* the report row's id: the month, a number of its sequence */
	int64_t generated;
	int32_t generated_nsec;
};

/* Report ids: numbers of reports_id_seq taken GW_PG_IDS at a time, in the
 * put's pipe while a quarter are left (one round trip of their own only
 * for a session's first put), so that a put knows its id before its pipe.
 * A sequence's numbers are not transactional: one taken and not used (a
 * put rolled back, a session ended) is a gap, as it was with nextval in
 * the put. */
#define IDS_TEXT(n) #n
#define IDS_N(n) IDS_TEXT(n)
static const char ids_sql[] =
	"SELECT nextval('reports_id_seq') FROM generate_series(1, " IDS_N(GW_PG_IDS) ")";

static void ids_add(struct gw_pg *s, const PGresult *r)
{
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		return;
	if (s->id_next > 0) {   /* what is left to the front */
		memmove(s->ids, s->ids + s->id_next, (s->n_ids - s->id_next) * sizeof(s->ids[0]));
		s->n_ids -= s->id_next;
		s->id_next = 0;
	}
	for (int i = 0; i < PQntuples(r) && s->n_ids < 2 * GW_PG_IDS; i++)
		s->ids[s->n_ids++] = gw_pg_col_int(r, i, 0);
}

static int ids_take(struct gw_pg *s, struct tm_error *err)
{
	PGresult *r;
	int rc = gw_pg_exec(&s->c, ids_sql, NULL, &r, "report ids", err);
	if (rc != GW_STORE_OK)
		return rc;
	ids_add(s, r);
	PQclear(r);
	return s->n_ids > s->id_next ? GW_STORE_OK
				     : tm_error_set(err, "store.failed", "%s: report ids: none",
						    s->c.where);
}

/* The put's round trip: the savepoint, the device row (inserted, or
 * locked and updated), the report, its JSON and lists, the message log and
 * the service side's reads (and more report ids when few are left).
 * *lost_race: the report's keys were there, its own or another gateway's
 * copy (inserted meanwhile): the pipe failed at its check, all is undone
 * to the savepoint by the caller. */
static int insert_report(struct gw_pg *s, const struct gw_store_record *rec,
			 const struct put_plan *plan, struct gw_put_info *info, bool *lost_race,
			 struct tm_error *err)
{
	struct gw_pg_conn *c = &s->c;
	const struct tm_report *r = rec->report;
	*lost_race = false;
	struct gw_pg_pipe pp;
	int rc = gw_pg_pipe_begin(c, &pp, err);
	if (rc != GW_STORE_OK)
		return rc;
	struct gw_pg_params *p = malloc(sizeof(*p));
	if (p == NULL)
		rc = tm_error_set(err, "internal.nomem", "store: out of memory");
	int s_rep = -1, s_upd = -1, s_ids = -1;
	if (rc == GW_STORE_OK)
		rc = gw_pg_exec(c, "SAVEPOINT put", NULL, NULL, "savepoint", err);
	if (rc == GW_STORE_OK && s->n_ids - s->id_next <= GW_PG_IDS / 4)
		rc = gw_pg_pipe_send(c, ids_sql, NULL, true, "report ids", &s_ids, err);
	struct counter_ctx cc;
	collect_counters(plan->rid, r, &cc);
	struct tm_buf meters;
	tm_buf_init(&meters);
	if (rc == GW_STORE_OK && pack_counters(&cc, &meters) < 0)
		rc = tm_error_set(err, "internal.nomem", "store: out of memory");
	if (rc == GW_STORE_OK)
		rc = put_device_row(c, rec, plan->generated, plan->generated_nsec, &s_upd, err);
	if (rc == GW_STORE_OK) {
		gw_pg_params_init(p);
		gw_pg_text(p, r->id);
		gw_pg_text(p, r->serial);
		gw_pg_int(p, r->seq);
		gw_pg_text(p, rec->tenant);
		gw_pg_text(p, kind_names[r->kind]);
		gw_pg_text(p, r->generated_at);
		gw_pg_int(p, plan->generated);
		gw_pg_int(p, rec->received_at);
		gw_pg_text(p, rec->fingerprint);
		gw_pg_text(p, rec->message_id != NULL ? rec->message_id : "");
		gw_pg_text(p, rec->raw_sha256);
		gw_pg_text(p, r->trigger_cause);
		gw_pg_opt_int(p, r->outbox_gap, TM_UNSET);
		gw_pg_text(p, r->has_status ? r->state : NULL);
		gw_pg_int(p, plan->generated_nsec);
		gw_pg_bytes(p, rec->json, rec->json_len);   /* text, sent as its bytes */
		gw_pg_int(p, plan->rid);
		gw_pg_text(p, meters.len > 0 ? (const char *)meters.data : NULL);
		/* the month's partitions named (gw_pg_into_month) */
		char into_r[GW_PG_INTO_MAX], into_j[GW_PG_INTO_MAX], sql[1400];
		snprintf(sql, sizeof(sql),
			"WITH k AS (INSERT INTO report_keys (report_id, serial, seq, id)"
			" VALUES ($1, $2, $3::bigint, $17::bigint) ON CONFLICT DO NOTHING RETURNING id),"
			" r AS (%s) %s",
			gw_pg_into_month(into_r, "reports", plan->rid,
				"(id, report_id, serial, seq, tenant, kind,"
				" generated_at, generated_unix, received_at, signer, message_id, raw_sha256,"
				" trigger_cause, outbox_gap, state, generated_nsec, meters)"
				" SELECT k.id, $1, $2, $3::bigint, $4, $5, $6, $7::bigint, $8::bigint, $9, $10,"
				" $11, $12, $13::bigint, $14, $15::bigint, $18 FROM k RETURNING id"),
			gw_pg_into_month(into_j, "report_json", plan->rid,
				"(report, json) SELECT id, $16::text FROM r RETURNING report"));
		rc = gw_pg_pipe_send(c, sql, p, true, "insert report", &s_rep, err);
	}
	/* no report inserted (another writer's copy won): this fails, and the
	 * server skips the rest of the pipe (the lists, the release), as the
	 * lists have no foreign key to the report (schema version 12) */
	if (rc == GW_STORE_OK) {
		gw_pg_params_init(p);
		gw_pg_int(p, plan->rid);
		rc = gw_pg_pipe_send(c, "SELECT 1 / count(*)::integer FROM report_keys WHERE id = $1",
				     p, false, "report inserted", NULL, err);
	}
	tm_buf_fini(&meters);   /* sent */
	if (rc == GW_STORE_OK)
		rc = put_counters(c, &cc, err);
	if (rc == GW_STORE_OK)
		rc = put_lists(c, plan->rid, r, err);
	if (rc == GW_STORE_OK) {
		struct gw_msglog_entry e = {
			.raw_sha256 = rec->raw_sha256, .message_id = rec->message_id,
			.received_at = rec->received_at, .outcome = GW_OUTCOME_STORED,
			.report_id = r->id,
		};
		rc = msglog_upsert(c, &e, err);
	}
	free(p);
	/* what the caller reads after a put that stores the report (it reads
	 * nothing the put writes): in this round trip */
	struct gw_report_reads *rr = rec->reads;
	struct gw_pg_reads_slots sl;
	bool reads = false;
	if (rc == GW_STORE_OK && rr != NULL && gw_store_report_reads_fit(rr) &&
	    pp.n + GW_PG_READS_SLOTS <= GW_PG_PIPE_MAX) {
		rc = gw_pg_report_reads_send(c, r->serial, rr, &sl, err);
		reads = rc == GW_STORE_OK;
	}
	struct tm_error serr = {0};
	int src = gw_pg_pipe_sync(c, rc == GW_STORE_OK ? err : &serr);
	if (rc == GW_STORE_OK)
		rc = src;
	/* the report's insert answered no row: another writer's copy won (the
	 * check after it failed; all is undone) */
	if (rc != GW_STORE_RETRY && s_rep >= 0 && pp.res[s_rep] != NULL &&
	    PQntuples(pp.res[s_rep]) == 0) {
		*lost_race = true;
		rc = GW_STORE_OK;
		tm_error_clear(err);
	} else if (rc == GW_STORE_OK) {
		info->newest = PQntuples(pp.res[s_upd]) == 1 &&
			       strcmp(PQgetvalue(pp.res[s_upd], 0, 0), "t") == 0;
		info->result = GW_PUT_STORED;
		if (rc == GW_STORE_OK && reads) {
			rc = gw_pg_report_reads_take(s, r->serial, rr, &sl, pp.res, err);
			rr->answered = rc == GW_STORE_OK;
		}
	}
	if (s_ids >= 0)
		ids_add(s, pp.res[s_ids]);
	gw_pg_pipe_clear(&pp);
	return rc;
}

/* The forwarding outbox's entry of a report just stored: in the put's
 * savepoint, so the report is never stored without it nor it without the
 * report. */
static int queue_forward(struct gw_pg *s, const struct gw_store_record *rec, struct tm_error *err)
{
	const struct gw_fwd_event_in ev = {
		.kind = GW_FWD_REPORT, .event_id = rec->report->id, .tenant = rec->tenant,
		.serial = rec->report->serial, .time = rec->report->generated_at,
		.data = rec->json, .data_len = rec->json_len,
	};
	return gw_pg_fwd_add(s, &ev, rec->received_at, err);
}

static const char *nth(const void *ctx, size_t i)
{
	return ((const char *const *)ctx)[i];
}

/* The devices' rows in the order of their serials (LockRows above the
 * sort), held to the batch's end: every gateway takes them in this order,
 * so that batches of the same devices queue instead of deadlocking (each
 * put's own FOR UPDATE then finds the row held). A device not there yet
 * has no row to lock; its first put inserts it. */
int gw_pg_lock_devices(void *state, const char *const *serials, size_t n, struct tm_error *err)
{
	struct gw_pg *s = state;
	char *arr = gw_pg_text_array(n, nth, serials);
	if (arr == NULL)
		return tm_error_set(err, "internal.nomem", "lock devices: out of memory");
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, arr);
	int rc = gw_pg_exec(&s->c, "SELECT 1 FROM devices WHERE serial = ANY($1::text[])"
			    " ORDER BY serial FOR UPDATE", &p, NULL, "lock devices", err);
	free(arr);
	return rc;
}

int gw_pg_put(void *state, const struct gw_store_record *rec, struct gw_put_info *info,
	      struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_conn *c = &s->c;
	const struct tm_report *r = rec->report;
	struct put_plan plan = { 0 };
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &plan.generated,
				  &plan.generated_nsec, err) < 0)
		return GW_STORE_ERROR;
	if ((unsigned)r->kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return tm_error_set(err, "report.schema", "report/kind: out of range");
	/* the month's partitions: before the put's savepoint, so that a put
	 * rolled back to it leaves them to the others */
	plan.month = gw_pg_month_of(rec->received_at);
	int rc = gw_pg_month_ready(s, plan.month, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (s->n_ids == s->id_next)
		rc = ids_take(s, err);
	if (rc != GW_STORE_OK)
		return rc;
	plan.rid = (long long)((uint64_t)plan.month << GW_PG_MONTH_SHIFT) |
		   (s->ids[s->id_next++] & GW_PG_ID_LOW_MASK);
	bool released = false, lost_race = false, exists = false;
	rc = insert_report(s, rec, &plan, info, &lost_race, err);
	if (rc == GW_STORE_OK && !lost_race) {
		/* stored: what follows the device's newest seq, sent ahead (with
		 * the next statement waited for: the collector's, the outbox's,
		 * or the item's release, which is this item's) */
		if (info->newest && r->has_supplies)
			rc = put_latest_supplies(c, r, err);
		if (rc == GW_STORE_OK && r->has_collector)
			rc = gw_pg_put_collector(c, rec, plan.generated, err);
		if (rc == GW_STORE_OK && s->forward)
			rc = queue_forward(s, rec, err);
		if (rc == GW_STORE_OK)
			rc = gw_pg_exec_later(c, "RELEASE SAVEPOINT put", NULL, "release", err);
		released = rc == GW_STORE_OK;
		goto out;
	}
	if (rc == GW_STORE_OK) {
		/* its keys were there: this gateway's copy, or another's that
		 * committed first; undo the device row's update and look (now
		 * the other's is visible) */
		rc = gw_pg_exec(c, "ROLLBACK TO SAVEPOINT put", NULL, NULL, "rollback", err);
		if (rc == GW_STORE_OK)
			rc = find_existing(c, rec, info, &exists, err);
		if (rc == GW_STORE_OK && !exists) {
			tm_error_set(err, "store.busy",
				     "%s: report %s: stored by another writer and gone again",
				     c->where, r->id);
			rc = GW_STORE_RETRY;
		}
	}
	if (rc != GW_STORE_OK || !exists)
		goto out;
	if (info->result == GW_PUT_CONFLICT) {
		tm_error_set(err, "report.conflict",
			     "report %s (device %s seq %lld) conflicts with stored report %s",
			     r->id, r->serial, (long long)r->seq, info->existing_id);
		goto out;   /* nothing written; the result says CONFLICT, rc stays OK */
	}
	struct gw_msglog_entry e = {
		.raw_sha256 = rec->raw_sha256,
		.message_id = rec->message_id,
		.received_at = rec->received_at,
		.outcome = GW_OUTCOME_DUPLICATE,
		.report_id = r->id,
	};
	rc = msglog_upsert(c, &e, err);
out:
	if (rc == GW_STORE_ERROR)
		gw_pg_exec(c, "ROLLBACK TO SAVEPOINT put", NULL, NULL, "rollback", NULL);
	if (rc != GW_STORE_RETRY && !released)
		gw_pg_exec(c, "RELEASE SAVEPOINT put", NULL, NULL, "release", NULL);
	return rc;
}

int gw_pg_log(void *state, const struct gw_msglog_entry *e, struct tm_error *err)
{
	struct gw_pg *s = state;
	return msglog_upsert(&s->c, e, err);
}

int gw_pg_msglog_get(void *state, const char *raw_sha256, const char *message_id,
		     struct gw_msglog_row *out, bool *found, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, raw_sha256);
	gw_pg_text(&p, message_id);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT raw_sha256, message_id, received_at, updated_at, outcome, reason, detail,"
		" report_id, quarantine_id FROM message_log WHERE raw_sha256 = $1 AND message_id = $2",
		&p, &r, "read message log", err);
	if (rc != GW_STORE_OK)
		return rc;
	if (PQntuples(r) == 1) {
		char outcome[16];
		memset(out, 0, sizeof(*out));
		gw_pg_col_text(r, 0, 0, out->raw_sha256, sizeof(out->raw_sha256));
		gw_pg_col_text(r, 0, 1, out->message_id, sizeof(out->message_id));
		out->received_at = gw_pg_col_int(r, 0, 2);
		out->updated_at = gw_pg_col_int(r, 0, 3);
		gw_pg_col_text(r, 0, 4, outcome, sizeof(outcome));
		gw_outcome_parse(outcome, &out->outcome);
		gw_pg_col_text(r, 0, 5, out->reason, sizeof(out->reason));
		gw_pg_col_text(r, 0, 6, out->detail, sizeof(out->detail));
		gw_pg_col_text(r, 0, 7, out->report_id, sizeof(out->report_id));
		gw_pg_col_text(r, 0, 8, out->quarantine_id, sizeof(out->quarantine_id));
		*found = true;
	}
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_report_get(void *state, const char *report_id, struct gw_report_ref *out, bool *found,
		     struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, report_id);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT r.report_id, r.serial, r.seq, r.raw_sha256, r.tenant, r.received_at"
		" FROM report_keys k JOIN reports r ON r.id = k.id WHERE k.report_id = $1",
		&p, &r, "look up report", err);
	if (rc != GW_STORE_OK)
		return rc;
	if (PQntuples(r) == 1) {
		memset(out, 0, sizeof(*out));
		gw_pg_col_text(r, 0, 0, out->report_id, sizeof(out->report_id));
		gw_pg_col_text(r, 0, 1, out->serial, sizeof(out->serial));
		out->seq = gw_pg_col_int(r, 0, 2);
		gw_pg_col_text(r, 0, 3, out->raw_sha256, sizeof(out->raw_sha256));
		gw_pg_col_text(r, 0, 4, out->tenant, sizeof(out->tenant));
		out->received_at = gw_pg_col_int(r, 0, 5);
		*found = true;
	}
	PQclear(r);
	return GW_STORE_OK;
}

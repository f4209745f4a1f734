/* telemail-mailgw — the SQLite back end: putting one record (the report,
 * its JSON, its relational rows, the device's derived facts and the
 * message-log row, inside a SAVEPOINT) and the message log.
 *
 * The per-report lists (counters, supplies, parts, alerts, diagnostics,
 * firmware, latest supplies) go in as multi-row INSERTs of up to
 * GW_SQ_ROWS_MAX rows: the same rows, values and constraints as one INSERT
 * per row, with a statement's fixed cost paid once per list. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/sqlite/store_sqlite.h"

/* Names as in the schema (kept here so the store does not depend on the
 * report codec's object file). */
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

/* The per-report lists, one multi-row INSERT each. */
static const struct gw_sq_rows lists[SQR_COUNT_] = {
	[SQR_COUNTER] = { SQR_COUNTER,
		"INSERT INTO counters (report, service, name, value, unit) VALUES", 5 },
	[SQR_SUPPLY] = { SQR_SUPPLY,
		"INSERT INTO supplies (report, idx, type, colorant, description, unit, max_capacity,"
		" level, part_number) VALUES", 9 },
	[SQR_LATEST_SUPPLY] = { SQR_LATEST_SUPPLY,
		"INSERT INTO latest_supplies (serial, idx, seq, type, colorant, description, unit,"
		" max_capacity, level, part_number) VALUES", 10 },
	[SQR_PART] = { SQR_PART,
		"INSERT INTO parts (report, n, name, used, rated_life, unit) VALUES", 6 },
	[SQR_ALERT] = { SQR_ALERT,
		"INSERT INTO alerts (report, n, code, sub_code, severity, grp, location, description,"
		" time, counter) VALUES", 10 },
	[SQR_DIAG] = { SQR_DIAG, "INSERT INTO diagnostics (report, name, type, value) VALUES", 4 },
	[SQR_FIRMWARE] = { SQR_FIRMWARE,
		"INSERT INTO firmware (report, n, component, version) VALUES", 4 },
};

/* What the row binders of one report share. */
struct list_ctx {
	sqlite3_int64 rid;          /* reports.id */
	const struct tm_report *r;
};

/* ---- counters: the PWG sets first, then the vendor counters ---- */

struct counter_ctx {
	sqlite3_int64 rid;
	const struct tm_report *r;
	size_t n_std;
	struct {
		const char *service, *name;
		int64_t value;
	} std[TM_SVC_COUNT * N_COUNTER_NAMES];
};

static void bind_counter(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct counter_ctx *c = ctx;
	gw_sq_bind_int(s, p, c->rid);
	if (i < c->n_std) {
		gw_sq_bind_text(s, p + 1, c->std[i].service);
		gw_sq_bind_text(s, p + 2, c->std[i].name);
		gw_sq_bind_int(s, p + 3, c->std[i].value);
		return;   /* unit: NULL */
	}
	const struct tm_vendor_counter *v = &c->r->vendor[i - c->n_std];
	gw_sq_bind_text(s, p + 1, "vendor");
	gw_sq_bind_text(s, p + 2, v->id);
	gw_sq_bind_int(s, p + 3, v->value);
	gw_sq_bind_text(s, p + 4, v->unit);
}

static int put_counters(struct gw_sq *q, sqlite3_int64 rid, const struct tm_report *r,
			struct tm_error *err)
{
	struct counter_ctx c = { .rid = rid, .r = r };
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
			c.std[c.n_std].service = service_names[svc];
			c.std[c.n_std].name = counter_names[k];
			c.std[c.n_std].value = v[k];
			c.n_std++;
		}
	}
	return gw_sq_put_rows(q, &lists[SQR_COUNTER], c.n_std + r->n_vendor, bind_counter, &c,
			      "insert counter", err);
}

/* ---- supplies: the report's, and the device's latest ---- */

struct supply_ctx {
	sqlite3_int64 rid;          /* supplies; 0 for latest_supplies */
	const char *serial;         /* latest_supplies */
	int64_t seq;
	const struct tm_supply *v;
};

static void bind_supply_tail(sqlite3_stmt *s, int p, const struct tm_supply *sp)
{
	gw_sq_bind_text(s, p, sp->type);
	gw_sq_bind_text(s, p + 1, sp->colorant);
	gw_sq_bind_text(s, p + 2, sp->description);
	gw_sq_bind_text(s, p + 3, sp->unit);
	gw_sq_bind_opt_int(s, p + 4, sp->max_capacity, TM_UNSET);
	gw_sq_bind_int(s, p + 5, sp->level);
	gw_sq_bind_text(s, p + 6, sp->part_number);
}

static void bind_supply(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct supply_ctx *c = ctx;
	gw_sq_bind_int(s, p, c->rid);
	gw_sq_bind_int(s, p + 1, c->v[i].index);
	bind_supply_tail(s, p + 2, &c->v[i]);
}

static void bind_latest_supply(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct supply_ctx *c = ctx;
	gw_sq_bind_text(s, p, c->serial);
	gw_sq_bind_int(s, p + 1, c->v[i].index);
	gw_sq_bind_int(s, p + 2, c->seq);
	bind_supply_tail(s, p + 3, &c->v[i]);
}

/* ---- parts, alerts, diagnostics, firmware ---- */

static void bind_part(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	const struct tm_part *pt = &c->r->parts[i];
	gw_sq_bind_int(s, p, c->rid);
	gw_sq_bind_int(s, p + 1, (long long)i);
	gw_sq_bind_text(s, p + 2, pt->name);
	gw_sq_bind_int(s, p + 3, pt->used);
	gw_sq_bind_opt_int(s, p + 4, pt->rated_life, TM_UNSET);
	gw_sq_bind_text(s, p + 5, pt->unit);
}

static void bind_alert(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	const struct tm_alert *a = &c->r->alerts[i];
	gw_sq_bind_int(s, p, c->rid);
	gw_sq_bind_int(s, p + 1, (long long)i);
	gw_sq_bind_text(s, p + 2, a->code);
	gw_sq_bind_text(s, p + 3, a->sub_code);
	gw_sq_bind_text(s, p + 4, a->severity);
	gw_sq_bind_text(s, p + 5, a->group);
	gw_sq_bind_opt_int(s, p + 6, a->location, TM_UNSET);
	gw_sq_bind_text(s, p + 7, a->description);
	gw_sq_bind_text(s, p + 8, a->time);
	gw_sq_bind_opt_int(s, p + 9, a->counter, TM_UNSET);
}

static void bind_diag(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	const struct tm_diag *d = &c->r->diagnostics[i];
	gw_sq_bind_int(s, p, c->rid);
	gw_sq_bind_text(s, p + 1, d->name);
	switch (d->type) {
	case TM_DIAG_STRING:
		gw_sq_bind_text(s, p + 2, "string");
		gw_sq_bind_text(s, p + 3, d->s);
		break;
	case TM_DIAG_INT:
		gw_sq_bind_text(s, p + 2, "int");
		gw_sq_bind_int(s, p + 3, d->i);
		break;
	case TM_DIAG_FLOAT:
		gw_sq_bind_text(s, p + 2, "float");
		sqlite3_bind_double(s, p + 3, d->f);
		break;
	case TM_DIAG_BOOL:
		gw_sq_bind_text(s, p + 2, "bool");
		gw_sq_bind_int(s, p + 3, d->b ? 1 : 0);
		break;
	}
}

static void bind_firmware(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct list_ctx *c = ctx;
	gw_sq_bind_int(s, p, c->rid);
	gw_sq_bind_int(s, p + 1, (long long)i);
	gw_sq_bind_text(s, p + 2, c->r->firmware[i].component);
	gw_sq_bind_text(s, p + 3, c->r->firmware[i].version);
}

static int put_lists(struct gw_sq *q, sqlite3_int64 rid, const struct tm_report *r,
		     struct tm_error *err)
{
	const struct supply_ctx sc = { .rid = rid, .v = r->supplies };
	const struct list_ctx lc = { .rid = rid, .r = r };
	int rc = gw_sq_put_rows(q, &lists[SQR_SUPPLY], r->n_supplies, bind_supply, &sc, "insert supply",
				err);
	if (rc == GW_STORE_OK)
		rc = gw_sq_put_rows(q, &lists[SQR_PART], r->n_parts, bind_part, &lc, "insert part", err);
	if (rc == GW_STORE_OK)
		rc = gw_sq_put_rows(q, &lists[SQR_ALERT], r->n_alerts, bind_alert, &lc, "insert alert", err);
	if (rc == GW_STORE_OK)
		rc = gw_sq_put_rows(q, &lists[SQR_DIAG], r->n_diagnostics, bind_diag, &lc,
				    "insert diagnostic", err);
	if (rc == GW_STORE_OK)
		rc = gw_sq_put_rows(q, &lists[SQR_FIRMWARE], r->n_firmware, bind_firmware, &lc,
				    "insert firmware", err);
	return rc;
}

/* The facts that follow only the device's newest seq (the device row itself
 * and its last_received were written by SQ_DEVICE_ENSURE). */
static int put_device_facts(struct gw_sq *q, const struct gw_store_record *rec,
			    int64_t generated, int32_t generated_nsec, bool *newest,
			    struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_DEVICE_NEWEST, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->serial);
	gw_sq_bind_int(s, 2, r->seq);
	gw_sq_bind_text(s, 3, r->id);
	gw_sq_bind_int(s, 4, generated);
	gw_sq_bind_text(s, 5, r->manufacturer);
	gw_sq_bind_text(s, 6, r->model);
	gw_sq_bind_text(s, 7, r->name);
	gw_sq_bind_text(s, 8, r->location);
	gw_sq_bind_text(s, 9, r->ip);
	gw_sq_bind_text(s, 10, r->mac);
	gw_sq_bind_text(s, 11, r->has_status ? r->state : NULL);
	gw_sq_bind_int(s, 12, generated_nsec);
	int rc = gw_sq_step_done(q, s, "update device newest", err);
	if (rc != GW_STORE_OK)
		return rc;
	*newest = sqlite3_changes(q->db) == 1;
	if (!*newest || !r->has_supplies)
		return GW_STORE_OK;

	s = gw_sq_stmt(q, SQ_LATEST_SUPPLY_CLEAR, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->serial);
	rc = gw_sq_step_done(q, s, "clear latest supplies", err);
	const struct supply_ctx lc = { .serial = r->serial, .seq = r->seq, .v = r->supplies };
	if (rc == GW_STORE_OK)
		rc = gw_sq_put_rows(q, &lists[SQR_LATEST_SUPPLY], r->n_supplies, bind_latest_supply, &lc,
				    "insert supply", err);
	return rc;
}

static int msglog_upsert(struct gw_sq *q, const struct gw_msglog_entry *e, struct tm_error *err)
{
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_MSGLOG_UPSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, e->raw_sha256);
	gw_sq_bind_text(s, 2, e->message_id != NULL ? e->message_id : "");
	gw_sq_bind_int(s, 3, e->received_at);
	gw_sq_bind_int(s, 4, (long long)time(NULL));
	gw_sq_bind_text(s, 5, gw_outcome_name(e->outcome));
	gw_sq_bind_text(s, 6, e->reason);
	gw_sq_bind_text(s, 7, e->detail);
	gw_sq_bind_text(s, 8, e->report_id);
	gw_sq_bind_text(s, 9, e->quarantine_id);
	return gw_sq_step_done(q, s, "message log", err);
}

/* Is the report already here? Sets info->result when it is. */
static int find_existing(struct gw_sq *q, const struct gw_store_record *rec,
			 struct gw_put_info *info, bool *exists, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	*exists = false;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_REPORT_BY_ID, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *serial = (const char *)sqlite3_column_text(s, 0);
		const void *json = sqlite3_column_blob(s, 3);
		size_t jlen = (size_t)sqlite3_column_bytes(s, 3);
		const char *raw = (const char *)sqlite3_column_text(s, 2);
		bool same = serial != NULL && strcmp(serial, r->serial) == 0 &&
			    sqlite3_column_int64(s, 1) == r->seq && jlen == rec->json_len &&
			    json != NULL && memcmp(json, rec->json, jlen) == 0;
		info->result = same ? GW_PUT_DUPLICATE : GW_PUT_CONFLICT;
		info->same_message = same && raw != NULL && strcmp(raw, rec->raw_sha256) == 0;
		if (!same)
			snprintf(info->existing_id, sizeof(info->existing_id), "%s", r->id);
		sqlite3_reset(s);
		*exists = true;
		return GW_STORE_OK;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "look up report id", err);

	s = gw_sq_stmt(q, SQ_REPORT_BY_SEQ, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->serial);
	gw_sq_bind_int(s, 2, r->seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		info->result = GW_PUT_CONFLICT;
		gw_sq_col_text(s, 0, info->existing_id, sizeof(info->existing_id));
		*exists = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "look up device seq", err);
	return GW_STORE_OK;
}

static int insert_report(struct gw_sq *q, const struct gw_store_record *rec,
			 struct gw_put_info *info, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	int64_t generated;
	int32_t generated_nsec;
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &generated,
				  &generated_nsec, err) < 0)
		return GW_STORE_ERROR;

	sqlite3_stmt *s = gw_sq_stmt(q, SQ_DEVICE_ENSURE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->serial);
	gw_sq_bind_text(s, 2, rec->tenant);
	gw_sq_bind_int(s, 3, rec->received_at);
	int rc = gw_sq_step_done(q, s, "device row", err);
	if (rc != GW_STORE_OK)
		return rc;

	s = gw_sq_stmt(q, SQ_REPORT_INSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->id);
	gw_sq_bind_text(s, 2, r->serial);
	gw_sq_bind_int(s, 3, r->seq);
	gw_sq_bind_text(s, 4, rec->tenant);
	if ((unsigned)r->kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return tm_error_set(err, "report.schema", "report/kind: out of range");
	gw_sq_bind_text(s, 5, kind_names[r->kind]);
	gw_sq_bind_text(s, 6, r->generated_at);
	gw_sq_bind_int(s, 7, generated);
	gw_sq_bind_int(s, 8, rec->received_at);
	gw_sq_bind_text(s, 9, rec->fingerprint);
	gw_sq_bind_text(s, 10, rec->message_id != NULL ? rec->message_id : "");
	gw_sq_bind_text(s, 11, rec->raw_sha256);
	gw_sq_bind_text(s, 12, r->trigger_cause);
	gw_sq_bind_opt_int(s, 13, r->outbox_gap, TM_UNSET);
	gw_sq_bind_text(s, 14, r->has_status ? r->state : NULL);
	gw_sq_bind_int(s, 15, generated_nsec);
	rc = gw_sq_step_done(q, s, "insert report", err);
	if (rc != GW_STORE_OK)
		return rc;
	sqlite3_int64 rid = sqlite3_last_insert_rowid(q->db);

	s = gw_sq_stmt(q, SQ_JSON_INSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, rid);
	sqlite3_bind_text(s, 2, rec->json, (int)rec->json_len, SQLITE_STATIC);
	rc = gw_sq_step_done(q, s, "insert report JSON", err);
	if (rc == GW_STORE_OK)
		rc = put_counters(q, rid, r, err);
	if (rc == GW_STORE_OK)
		rc = put_lists(q, rid, r, err);
	if (rc == GW_STORE_OK)
		rc = put_device_facts(q, rec, generated, generated_nsec, &info->newest, err);
	if (rc == GW_STORE_OK)
		rc = gw_sq_put_collector(q, rec, generated, err);
	if (rc == GW_STORE_OK && q->forward) {   /* the outbox: in this very savepoint */
		const struct gw_fwd_event_in ev = {
			.kind = GW_FWD_REPORT, .event_id = r->id, .tenant = rec->tenant,
			.serial = r->serial, .time = r->generated_at, .data = rec->json,
			.data_len = rec->json_len,
		};
		rc = gw_sq_fwd_add(q, &ev, rec->received_at, err);
	}
	if (rc == GW_STORE_OK)
		info->result = GW_PUT_STORED;
	return rc;
}

int gw_sq_put(void *state, const struct gw_store_record *rec, struct gw_put_info *info,
	      struct tm_error *err)
{
	struct gw_sq *q = state;
	if (rec->json_len > (size_t)0x7fffffff)
		return tm_error_set(err, "internal.bug", "store: JSON too large");
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_SAVEPOINT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	int rc = gw_sq_step_done(q, s, "savepoint", err);
	if (rc != GW_STORE_OK)
		return rc;
	bool exists;
	rc = find_existing(q, rec, info, &exists, err);
	if (rc != GW_STORE_OK)
		goto out;
	if (exists && info->result == GW_PUT_CONFLICT) {
		tm_error_set(err, "report.conflict",
			     "report %s (device %s seq %lld) conflicts with stored report %s",
			     rec->report->id, rec->report->serial, (long long)rec->report->seq,
			     info->existing_id);
		goto out;   /* nothing written; the result says CONFLICT, rc stays OK */
	}
	if (!exists) {
		rc = insert_report(q, rec, info, err);
		if (rc != GW_STORE_OK)
			goto out;
	}
	struct gw_msglog_entry e = {
		.raw_sha256 = rec->raw_sha256,
		.message_id = rec->message_id,
		.received_at = rec->received_at,
		.outcome = info->result == GW_PUT_STORED ? GW_OUTCOME_STORED : GW_OUTCOME_DUPLICATE,
		.report_id = rec->report->id,
	};
	rc = msglog_upsert(q, &e, err);
out:
	if (rc != GW_STORE_OK)
		sqlite3_exec(q->db, "ROLLBACK TO put", NULL, NULL, NULL);
	/* as ever, the outcome of RELEASE is not the put's: err keeps its reason */
	s = gw_sq_stmt(q, SQ_RELEASE, NULL);
	if (s != NULL) {
		sqlite3_step(s);
		sqlite3_reset(s);
	} else {
		sqlite3_exec(q->db, "RELEASE put", NULL, NULL, NULL);
	}
	return rc;
}

int gw_sq_log(void *state, const struct gw_msglog_entry *e, struct tm_error *err)
{
	return msglog_upsert(state, e, err);
}

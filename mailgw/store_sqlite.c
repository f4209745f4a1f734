/* telemail-mailgw — the SQLite store back end (the embedded default).
 *
 * One database file, WAL journal, synchronous=FULL (a commit that returned
 * is on disk), foreign keys on, versioned migrations (PRAGMA user_version).
 * A batch is one BEGIN IMMEDIATE … COMMIT; each put runs inside a SAVEPOINT
 * so that a failing record leaves nothing behind while the batch goes on.
 * The savepoints' journal lives in memory (temp_store = MEMORY): in a temp
 * file it cost a write system call per page changed, twenty per record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store_sqlite.h"

static const char *const sq_sql[SQ_COUNT_] = {
	[SQ_REPORT_BY_ID] =
		"SELECT r.serial, r.seq, r.raw_sha256, j.json, r.tenant, r.received_at, r.report_id"
		" FROM reports r JOIN report_json j ON j.report = r.id WHERE r.report_id = ?1",
	[SQ_REPORT_BY_SEQ] = "SELECT report_id FROM reports WHERE serial = ?1 AND seq = ?2",
	[SQ_REPORT_INSERT] =
		"INSERT INTO reports (report_id, serial, seq, tenant, kind, generated_at,"
		" generated_unix, received_at, signer, message_id, raw_sha256, trigger_cause,"
		" outbox_gap, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[SQ_JSON_INSERT] = "INSERT INTO report_json (report, json) VALUES (?1, ?2)",
	[SQ_COUNTER_INSERT] =
		"INSERT INTO counters (report, service, name, value, unit) VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQ_SUPPLY_INSERT] =
		"INSERT INTO supplies (report, idx, type, colorant, description, unit, max_capacity,"
		" level, part_number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[SQ_PART_INSERT] =
		"INSERT INTO parts (report, n, name, used, rated_life, unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_ALERT_INSERT] =
		"INSERT INTO alerts (report, n, code, sub_code, severity, grp, location, description,"
		" time, counter) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SQ_DIAG_INSERT] = "INSERT INTO diagnostics (report, name, type, value) VALUES (?1, ?2, ?3, ?4)",
	[SQ_FIRMWARE_INSERT] =
		"INSERT INTO firmware (report, n, component, version) VALUES (?1, ?2, ?3, ?4)",
	[SQ_DEVICE_ENSURE] =
		"INSERT INTO devices (serial, tenant, enrolled_at) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (serial) DO NOTHING",
	[SQ_DEVICE_SEEN] =
		"UPDATE devices SET last_received = MAX(COALESCE(last_received, 0), ?2) WHERE serial = ?1",
	[SQ_DEVICE_NEWEST] =
		"UPDATE devices SET last_seq = ?2, last_report_id = ?3, last_seen = ?4,"
		" manufacturer = ?5, model = ?6, name = ?7, location = ?8, ip = ?9, mac = ?10,"
		" state = COALESCE(?11, state)"
		" WHERE serial = ?1 AND (last_seq IS NULL OR last_seq < ?2)",
	[SQ_LATEST_SUPPLY_CLEAR] = "DELETE FROM latest_supplies WHERE serial = ?1",
	[SQ_LATEST_SUPPLY_INSERT] =
		"INSERT INTO latest_supplies (serial, idx, seq, type, colorant, description, unit,"
		" max_capacity, level, part_number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SQ_MSGLOG_UPSERT] =
		"INSERT INTO message_log (raw_sha256, message_id, received_at, updated_at, outcome,"
		" reason, detail, report_id, quarantine_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (raw_sha256, message_id) DO UPDATE SET updated_at = excluded.updated_at,"
		" outcome = excluded.outcome, reason = excluded.reason, detail = excluded.detail,"
		" report_id = COALESCE(excluded.report_id, report_id),"
		" quarantine_id = COALESCE(excluded.quarantine_id, quarantine_id)"
		" WHERE message_log.outcome <> 'stored' AND (message_log.outcome <> excluded.outcome"
		" OR message_log.reason IS NOT excluded.reason)",
	[SQ_MSGLOG_GET] =
		"SELECT raw_sha256, message_id, received_at, updated_at, outcome, reason, detail,"
		" report_id, quarantine_id FROM message_log WHERE raw_sha256 = ?1 AND message_id = ?2",
	[SQ_TENANT_ADD] = "INSERT INTO tenants (name, parent, created_at) VALUES (?1, ?2, ?3)",
	[SQ_TENANT_GET] = "SELECT name, parent, created_at FROM tenants WHERE name = ?1",
	[SQ_TENANT_SET_PARENT] = "UPDATE tenants SET parent = ?2 WHERE name = ?1",
	[SQ_TENANT_LIST] = "SELECT name, parent, created_at FROM tenants ORDER BY name",
	[SQ_CERT_ADD] =
		"INSERT INTO certificates (fingerprint, role, tenant, serial, subject, not_after,"
		" enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQ_CERT_GET] =
		"SELECT fingerprint, role, tenant, serial, subject, not_after, enrolled_at, revoked_at,"
		" (SELECT count(*) FROM cert_devices d WHERE d.fingerprint = c.fingerprint)"
		" FROM certificates c WHERE fingerprint = ?1",
	[SQ_CERT_REVOKE] =
		"UPDATE certificates SET revoked_at = ?2 WHERE fingerprint = ?1 AND revoked_at IS NULL",
	[SQ_CERT_LIST] =
		"SELECT fingerprint, role, tenant, serial, subject, not_after, enrolled_at, revoked_at,"
		" (SELECT count(*) FROM cert_devices d WHERE d.fingerprint = c.fingerprint)"
		" FROM certificates c ORDER BY tenant, enrolled_at, fingerprint",
	[SQ_BINDING_ADD] =
		"INSERT INTO cert_devices (fingerprint, serial) VALUES (?1, ?2)"
		" ON CONFLICT DO NOTHING",
	[SQ_BINDING_HAS] = "SELECT 1 FROM cert_devices WHERE fingerprint = ?1 AND serial = ?2",
	[SQ_DEVICE_ADD] = "INSERT INTO devices (serial, tenant, enrolled_at) VALUES (?1, ?2, ?3)",
	[SQ_DEVICE_GET] =
		"SELECT serial, tenant, enrolled_at, last_seq, last_report_id, last_seen,"
		" last_received, model, state FROM devices WHERE serial = ?1",
	[SQ_DEVICE_LIST] =
		"SELECT serial, tenant, enrolled_at, last_seq, last_report_id, last_seen,"
		" last_received, model, state FROM devices ORDER BY tenant, serial",
};

/* ---- helpers shared with store_sqlite_registry.c ---- */

int gw_sq_fail(struct gw_sq *q, int sqlite_rc, const char *what, struct tm_error *err)
{
	const char *msg = q != NULL && q->db != NULL ? sqlite3_errmsg(q->db) : sqlite3_errstr(sqlite_rc);
	switch (sqlite_rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		tm_error_set(err, "store.busy", "sqlite: %s: %s", what, msg);
		return GW_STORE_RETRY;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
	case SQLITE_NOMEM:
		tm_error_set(err, "store.unavailable", "sqlite: %s: %s", what, msg);
		return GW_STORE_RETRY;
	default:
		tm_error_set(err, "store.failed", "sqlite: %s: %s", what, msg);
		return GW_STORE_ERROR;
	}
}

sqlite3_stmt *gw_sq_cached(struct gw_sq *q, sqlite3_stmt **slot, const char *sql,
			   struct tm_error *err)
{
	sqlite3_stmt *s = *slot;
	if (s == NULL) {
		int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
		if (rc != SQLITE_OK) {
			gw_sq_fail(q, rc, "prepare", err);
			return NULL;
		}
		*slot = s;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

sqlite3_stmt *gw_sq_stmt(struct gw_sq *q, enum gw_sq_stmt which, struct tm_error *err)
{
	return gw_sq_cached(q, &q->stmt[which], sq_sql[which], err);
}

int gw_sq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

int gw_sq_bind_int(sqlite3_stmt *s, int i, long long v)
{
	return sqlite3_bind_int64(s, i, v);
}

int gw_sq_bind_opt_int(sqlite3_stmt *s, int i, long long v, long long unset)
{
	if (v == unset)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_int64(s, i, v);
}

void gw_sq_col_text(sqlite3_stmt *s, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	if (t == NULL) {
		out[0] = '\0';
		return;
	}
	snprintf(out, cap, "%s", (const char *)t);
}

static int exec(struct gw_sq *q, const char *sql, const char *what, struct tm_error *err)
{
	int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return gw_sq_fail(q, rc, what, err);
	return GW_STORE_OK;
}

/* Run a cached statement that returns no rows. */
int gw_sq_step_done(struct gw_sq *q, sqlite3_stmt *s, const char *what, struct tm_error *err)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, what, err);
	return GW_STORE_OK;
}

/* ---- open, migrate, close ---- */

static int user_version(struct gw_sq *q, int *v, struct tm_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return gw_sq_fail(q, rc, "read schema version", err);
	}
	*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return GW_STORE_OK;
}

static int migrate(struct gw_sq *q, const char *path, struct tm_error *err)
{
	int v, rc = user_version(q, &v, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (v == (int)gw_sq_n_migrations)
		return GW_STORE_OK;
	rc = exec(q, "BEGIN IMMEDIATE", "begin migration", err);
	if (rc != GW_STORE_OK)
		return rc;
	/* read again under the write lock: another process may have migrated */
	rc = user_version(q, &v, err);
	if (rc != GW_STORE_OK)
		goto out;
	if (v > (int)gw_sq_n_migrations) {
		rc = GW_STORE_ERROR;
		tm_error_set(err, "store.version",
			     "%s: schema version %d is newer than this program's %zu", path, v,
			     gw_sq_n_migrations);
		goto out;
	}
	for (; v < (int)gw_sq_n_migrations; v++) {
		rc = exec(q, gw_sq_migrations[v], "migration", err);
		if (rc != GW_STORE_OK) {
			tm_error_prefix(err, "%s: migration %d", path, v + 1);
			goto out;
		}
		char bump[64];
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		rc = exec(q, bump, "set schema version", err);
		if (rc != GW_STORE_OK)
			goto out;
	}
	rc = exec(q, "COMMIT", "commit migration", err);
out:
	if (rc != GW_STORE_OK)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static void sq_close(void *state)
{
	struct gw_sq *q = state;
	if (q == NULL)
		return;
	for (int i = 0; i < SQ_COUNT_; i++)
		sqlite3_finalize(q->stmt[i]);
	for (int i = 0; i < GW_SQ_SVC_MAX; i++)
		sqlite3_finalize(q->svc[i]);
	if (q->in_tx)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(q->db);
	free(q);
}

static int sq_open(const struct gw_store_options *o, void **state, struct tm_error *err)
{
	*state = NULL;
	if (o->path == NULL || o->path[0] == '\0')
		return tm_error_set(err, "config.bad_value", "store.path: empty");
	struct gw_sq *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return tm_error_set(err, "internal.nomem", "store: out of memory");
	int rc = sqlite3_open_v2(o->path, &q->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		rc = gw_sq_fail(q, rc, "open", err);
		tm_error_prefix(err, "%s", o->path);
		goto out;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
	/* journal_mode answers with a row; the others are silent */
	rc = exec(q, "PRAGMA journal_mode = WAL", "journal_mode", err);
	if (rc == GW_STORE_OK)
		rc = exec(q, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
			  "PRAGMA temp_store = MEMORY", "pragmas", err);
	if (rc != GW_STORE_OK) {
		tm_error_prefix(err, "%s", o->path);
		goto out;
	}
	rc = migrate(q, o->path, err);
out:
	if (rc != GW_STORE_OK) {
		sq_close(q);
		return rc;
	}
	*state = q;
	return GW_STORE_OK;
}

/* ---- transactions ---- */

static int sq_begin(void *state, struct tm_error *err)
{
	struct gw_sq *q = state;
	int rc = exec(q, "BEGIN IMMEDIATE", "begin", err);
	if (rc == GW_STORE_OK)
		q->in_tx = true;
	return rc;
}

static int sq_commit(void *state, struct tm_error *err)
{
	struct gw_sq *q = state;
	int rc = exec(q, "COMMIT", "commit", err);
	if (rc == GW_STORE_OK)
		q->in_tx = false;
	return rc;
}

static void sq_rollback(void *state)
{
	struct gw_sq *q = state;
	if (sqlite3_get_autocommit(q->db) == 0)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	q->in_tx = false;
}

/* ---- records ---- */

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

static int put_counters(struct gw_sq *q, sqlite3_int64 rid, const struct tm_report *r,
			struct tm_error *err)
{
	for (int svc = 0; svc < TM_SVC_COUNT; svc++) {
		if (!r->has_service[svc])
			continue;
		const struct tm_counter_set *c = &r->service[svc];
		const int64_t v[] = {
			c->impressions, c->impressions_monochrome, c->impressions_full_color,
			c->impressions_two_sided, c->sheets, c->sheets_two_sided, c->images,
		};
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
			if (v[k] == TM_UNSET)
				continue;
			sqlite3_stmt *s = gw_sq_stmt(q, SQ_COUNTER_INSERT, err);
			if (s == NULL)
				return GW_STORE_ERROR;
			gw_sq_bind_int(s, 1, rid);
			gw_sq_bind_text(s, 2, service_names[svc]);
			gw_sq_bind_text(s, 3, counter_names[k]);
			gw_sq_bind_int(s, 4, v[k]);
			int rc = gw_sq_step_done(q, s, "insert counter", err);
			if (rc != GW_STORE_OK)
				return rc;
		}
	}
	for (size_t i = 0; i < r->n_vendor; i++) {
		sqlite3_stmt *s = gw_sq_stmt(q, SQ_COUNTER_INSERT, err);
		if (s == NULL)
			return GW_STORE_ERROR;
		gw_sq_bind_int(s, 1, rid);
		gw_sq_bind_text(s, 2, "vendor");
		gw_sq_bind_text(s, 3, r->vendor[i].id);
		gw_sq_bind_int(s, 4, r->vendor[i].value);
		gw_sq_bind_text(s, 5, r->vendor[i].unit);
		int rc = gw_sq_step_done(q, s, "insert vendor counter", err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	return GW_STORE_OK;
}

static int put_supply(struct gw_sq *q, enum gw_sq_stmt which, sqlite3_int64 key,
		      const char *serial, int64_t seq, const struct tm_supply *sp,
		      struct tm_error *err)
{
	sqlite3_stmt *s = gw_sq_stmt(q, which, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	int i = 1;
	if (which == SQ_LATEST_SUPPLY_INSERT) {
		gw_sq_bind_text(s, i++, serial);
		gw_sq_bind_int(s, i++, sp->index);
		gw_sq_bind_int(s, i++, seq);
	} else {
		gw_sq_bind_int(s, i++, key);
		gw_sq_bind_int(s, i++, sp->index);
	}
	gw_sq_bind_text(s, i++, sp->type);
	gw_sq_bind_text(s, i++, sp->colorant);
	gw_sq_bind_text(s, i++, sp->description);
	gw_sq_bind_text(s, i++, sp->unit);
	gw_sq_bind_opt_int(s, i++, sp->max_capacity, TM_UNSET);
	gw_sq_bind_int(s, i++, sp->level);
	gw_sq_bind_text(s, i++, sp->part_number);
	return gw_sq_step_done(q, s, "insert supply", err);
}

static int put_lists(struct gw_sq *q, sqlite3_int64 rid, const struct tm_report *r,
		     struct tm_error *err)
{
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < r->n_supplies && rc == GW_STORE_OK; i++)
		rc = put_supply(q, SQ_SUPPLY_INSERT, rid, NULL, 0, &r->supplies[i], err);
	for (size_t i = 0; i < r->n_parts && rc == GW_STORE_OK; i++) {
		sqlite3_stmt *s = gw_sq_stmt(q, SQ_PART_INSERT, err);
		if (s == NULL)
			return GW_STORE_ERROR;
		const struct tm_part *p = &r->parts[i];
		gw_sq_bind_int(s, 1, rid);
		gw_sq_bind_int(s, 2, (long long)i);
		gw_sq_bind_text(s, 3, p->name);
		gw_sq_bind_int(s, 4, p->used);
		gw_sq_bind_opt_int(s, 5, p->rated_life, TM_UNSET);
		gw_sq_bind_text(s, 6, p->unit);
		rc = gw_sq_step_done(q, s, "insert part", err);
	}
	for (size_t i = 0; i < r->n_alerts && rc == GW_STORE_OK; i++) {
		sqlite3_stmt *s = gw_sq_stmt(q, SQ_ALERT_INSERT, err);
		if (s == NULL)
			return GW_STORE_ERROR;
		const struct tm_alert *a = &r->alerts[i];
		gw_sq_bind_int(s, 1, rid);
		gw_sq_bind_int(s, 2, (long long)i);
		gw_sq_bind_text(s, 3, a->code);
		gw_sq_bind_text(s, 4, a->sub_code);
		gw_sq_bind_text(s, 5, a->severity);
		gw_sq_bind_text(s, 6, a->group);
		gw_sq_bind_opt_int(s, 7, a->location, TM_UNSET);
		gw_sq_bind_text(s, 8, a->description);
		gw_sq_bind_text(s, 9, a->time);
		gw_sq_bind_opt_int(s, 10, a->counter, TM_UNSET);
		rc = gw_sq_step_done(q, s, "insert alert", err);
	}
	for (size_t i = 0; i < r->n_diagnostics && rc == GW_STORE_OK; i++) {
		sqlite3_stmt *s = gw_sq_stmt(q, SQ_DIAG_INSERT, err);
		if (s == NULL)
			return GW_STORE_ERROR;
		const struct tm_diag *d = &r->diagnostics[i];
		gw_sq_bind_int(s, 1, rid);
		gw_sq_bind_text(s, 2, d->name);
		switch (d->type) {
		case TM_DIAG_STRING:
			gw_sq_bind_text(s, 3, "string");
			gw_sq_bind_text(s, 4, d->s);
			break;
		case TM_DIAG_INT:
			gw_sq_bind_text(s, 3, "int");
			gw_sq_bind_int(s, 4, d->i);
			break;
		case TM_DIAG_FLOAT:
			gw_sq_bind_text(s, 3, "float");
			sqlite3_bind_double(s, 4, d->f);
			break;
		case TM_DIAG_BOOL:
			gw_sq_bind_text(s, 3, "bool");
			gw_sq_bind_int(s, 4, d->b ? 1 : 0);
			break;
		}
		rc = gw_sq_step_done(q, s, "insert diagnostic", err);
	}
	for (size_t i = 0; i < r->n_firmware && rc == GW_STORE_OK; i++) {
		sqlite3_stmt *s = gw_sq_stmt(q, SQ_FIRMWARE_INSERT, err);
		if (s == NULL)
			return GW_STORE_ERROR;
		gw_sq_bind_int(s, 1, rid);
		gw_sq_bind_int(s, 2, (long long)i);
		gw_sq_bind_text(s, 3, r->firmware[i].component);
		gw_sq_bind_text(s, 4, r->firmware[i].version);
		rc = gw_sq_step_done(q, s, "insert firmware", err);
	}
	return rc;
}

/* The device row and the facts that follow only its newest seq. */
static int put_device_facts(struct gw_sq *q, const struct gw_store_record *rec,
			    int64_t generated, bool *newest, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_DEVICE_SEEN, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, r->serial);
	gw_sq_bind_int(s, 2, rec->received_at);
	int rc = gw_sq_step_done(q, s, "update device last_received", err);
	if (rc != GW_STORE_OK)
		return rc;

	s = gw_sq_stmt(q, SQ_DEVICE_NEWEST, err);
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
	rc = gw_sq_step_done(q, s, "update device newest", err);
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
	for (size_t i = 0; i < r->n_supplies && rc == GW_STORE_OK; i++)
		rc = put_supply(q, SQ_LATEST_SUPPLY_INSERT, 0, r->serial, r->seq, &r->supplies[i],
				err);
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
	if (gw_store_parse_utc(r->generated_at, "report/generated_at", &generated, err) < 0)
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
		rc = put_device_facts(q, rec, generated, &info->newest, err);
	if (rc == GW_STORE_OK)
		info->result = GW_PUT_STORED;
	return rc;
}

static int sq_put(void *state, const struct gw_store_record *rec, struct gw_put_info *info,
		  struct tm_error *err)
{
	struct gw_sq *q = state;
	if (rec->json_len > (size_t)0x7fffffff)
		return tm_error_set(err, "internal.bug", "store: JSON too large");
	int rc = exec(q, "SAVEPOINT put", "savepoint", err);
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
	sqlite3_exec(q->db, "RELEASE put", NULL, NULL, NULL);
	return rc;
}

static int sq_log(void *state, const struct gw_msglog_entry *e, struct tm_error *err)
{
	return msglog_upsert(state, e, err);
}

static int sq_msglog_get(void *state, const char *raw_sha256, const char *message_id,
			 struct gw_msglog_row *out, bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_MSGLOG_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, raw_sha256);
	gw_sq_bind_text(s, 2, message_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		char outcome[16];
		memset(out, 0, sizeof(*out));
		gw_sq_col_text(s, 0, out->raw_sha256, sizeof(out->raw_sha256));
		gw_sq_col_text(s, 1, out->message_id, sizeof(out->message_id));
		out->received_at = sqlite3_column_int64(s, 2);
		out->updated_at = sqlite3_column_int64(s, 3);
		gw_sq_col_text(s, 4, outcome, sizeof(outcome));
		gw_outcome_parse(outcome, &out->outcome);
		gw_sq_col_text(s, 5, out->reason, sizeof(out->reason));
		gw_sq_col_text(s, 6, out->detail, sizeof(out->detail));
		gw_sq_col_text(s, 7, out->report_id, sizeof(out->report_id));
		gw_sq_col_text(s, 8, out->quarantine_id, sizeof(out->quarantine_id));
		*found = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "read message log", err);
	return GW_STORE_OK;
}

static int sq_report_get(void *state, const char *report_id, struct gw_report_ref *out,
			 bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_REPORT_BY_ID, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, report_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		gw_sq_col_text(s, 6, out->report_id, sizeof(out->report_id));
		gw_sq_col_text(s, 0, out->serial, sizeof(out->serial));
		out->seq = sqlite3_column_int64(s, 1);
		gw_sq_col_text(s, 2, out->raw_sha256, sizeof(out->raw_sha256));
		gw_sq_col_text(s, 4, out->tenant, sizeof(out->tenant));
		out->received_at = sqlite3_column_int64(s, 5);
		*found = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "look up report", err);
	return GW_STORE_OK;
}

const struct gw_store_ops gw_store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.put = sq_put,
	.log = sq_log,
	.msglog_get = sq_msglog_get,
	.report_get = sq_report_get,
	.tenant_add = gw_sq_tenant_add,
	.tenant_get = gw_sq_tenant_get,
	.tenant_set_parent = gw_sq_tenant_set_parent,
	.tenant_list = gw_sq_tenant_list,
	.cert_add = gw_sq_cert_add,
	.cert_get = gw_sq_cert_get,
	.cert_revoke = gw_sq_cert_revoke,
	.cert_list = gw_sq_cert_list,
	.binding_add = gw_sq_binding_add,
	.binding_has = gw_sq_binding_has,
	.device_add = gw_sq_device_add,
	.device_get = gw_sq_device_get,
	.device_list = gw_sq_device_list,
	.alert_find_active = gw_sq_alert_find_active,
	.alert_insert = gw_sq_alert_insert,
	.alert_update = gw_sq_alert_update,
	.alert_get = gw_sq_alert_get,
	.alert_list = gw_sq_alert_list,
	.mark_get = gw_sq_mark_get,
	.mark_set = gw_sq_mark_set,
	.notify_add = gw_sq_notify_add,
	.notify_update = gw_sq_notify_update,
	.notify_list = gw_sq_notify_list,
	.audit_last = gw_sq_audit_last,
	.audit_insert = gw_sq_audit_insert,
	.audit_list = gw_sq_audit_list,
	.meter_list = gw_sq_meter_list,
	.supply_list = gw_sq_supply_list,
};

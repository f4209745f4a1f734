/* telemail-mailgw — the SQLite store back end (the embedded default).
 *
 * One database file, WAL journal, synchronous=FULL (a commit that returned
 * is on disk), foreign keys on, versioned migrations (PRAGMA user_version).
 * A batch is one BEGIN IMMEDIATE … COMMIT; each put runs inside a SAVEPOINT
 * so that a failing record leaves nothing behind while the batch goes on.
 * The savepoints' journal lives in memory (temp_store = MEMORY): in a temp
 * file it cost a write system call per page changed, twenty per record.
 * The put itself is in store_sqlite_put.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/sqlite/store_sqlite.h"

static const char *const sq_sql[SQ_COUNT_] = {
	[SQ_REPORT_BY_ID] =
		"SELECT r.serial, r.seq, r.raw_sha256, j.json, r.tenant, r.received_at, r.report_id"
		" FROM reports r JOIN report_json j ON j.report = r.id WHERE r.report_id = ?1",
	[SQ_REPORT_BY_SEQ] = "SELECT report_id FROM reports WHERE serial = ?1 AND seq = ?2",
	[SQ_REPORT_INSERT] =
		"INSERT INTO reports (report_id, serial, seq, tenant, kind, generated_at,"
		" generated_unix, received_at, signer, message_id, raw_sha256, trigger_cause,"
		" outbox_gap, state, generated_nsec)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	[SQ_JSON_INSERT] = "INSERT INTO report_json (report, json) VALUES (?1, ?2)",
	/* the device row, and last_received as the newest received_at of any report */
	[SQ_DEVICE_ENSURE] =
		"INSERT INTO devices (serial, tenant, enrolled_at, last_received)"
		" VALUES (?1, ?2, ?3, MAX(0, ?3))"
		" ON CONFLICT (serial) DO UPDATE SET last_received = MAX(COALESCE(last_received, 0), ?3)",
	[SQ_DEVICE_NEWEST] =
		"UPDATE devices SET last_seq = ?2, last_report_id = ?3, last_seen = ?4, last_seen_nsec = ?12,"
		" manufacturer = ?5, model = ?6, name = ?7, location = ?8, ip = ?9, mac = ?10,"
		" state = COALESCE(?11, state)"
		" WHERE serial = ?1 AND (last_seq IS NULL OR last_seq < ?2)",
	[SQ_LATEST_SUPPLY_CLEAR] = "DELETE FROM latest_supplies WHERE serial = ?1",
	[SQ_MSGLOG_UPSERT] =
		"INSERT INTO message_log (raw_sha256, message_id, received_at, updated_at, outcome,"
		" reason, detail, report_id, quarantine_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (raw_sha256, message_id) DO UPDATE SET updated_at = excluded.updated_at,"
		" outcome = excluded.outcome, reason = excluded.reason, detail = excluded.detail,"
		" report_id = COALESCE(excluded.report_id, report_id),"
		" quarantine_id = COALESCE(excluded.quarantine_id, quarantine_id)"
		" WHERE message_log.outcome <> 'stored' AND (message_log.outcome <> excluded.outcome"
		" OR message_log.reason IS NOT excluded.reason)",
	[SQ_SAVEPOINT] = "SAVEPOINT put",
	[SQ_RELEASE] = "RELEASE put",
	[SQ_ITEM_SAVEPOINT] = "SAVEPOINT item",
	[SQ_ITEM_RELEASE] = "RELEASE item",
	[SQ_ITEM_ROLLBACK] = "ROLLBACK TO item",
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
		" last_received, model, state, last_seen_nsec, manufacturer FROM devices WHERE serial = ?1",
	[SQ_DEVICE_LIST] =
		"SELECT serial, tenant, enrolled_at, last_seq, last_report_id, last_seen,"
		" last_received, model, state, last_seen_nsec, manufacturer FROM devices ORDER BY tenant, serial",
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
	size_t n = t != NULL ? strnlen((const char *)t, cap - 1) : 0;
	memcpy(out, t != NULL ? (const char *)t : "", n);   /* as snprintf "%s" would, cheaper */
	out[n] = '\0';
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

/* ---- statements of many rows ---- */

sqlite3_stmt *gw_sq_rows_stmt(struct gw_sq *q, const struct gw_sq_rows *spec, size_t n,
			      struct tm_error *err)
{
	if (n < 1 || n > GW_SQ_ROWS_MAX || spec->cols < 1 || (unsigned)spec->set >= SQR_COUNT_) {
		tm_error_set(err, "internal.bug", "store: %zu rows of %d columns", n, spec->cols);
		return NULL;
	}
	sqlite3_stmt **slot = &q->rows[spec->set][n - 1];
	if (*slot != NULL)
		return gw_sq_cached(q, slot, NULL, err);
	/* "(?, ?, ?)" per row: 3 bytes a column and 4 for the parentheses and ", " */
	const char *tail = spec->tail != NULL ? spec->tail : "";
	size_t hl = strlen(spec->head), tl = strlen(tail);
	size_t cap = hl + tl + n * ((size_t)spec->cols * 3 + 4) + 2;
	char *sql = malloc(cap);
	if (sql == NULL) {
		tm_error_set(err, "internal.nomem", "store: out of memory");
		return NULL;
	}
	size_t len = hl;
	memcpy(sql, spec->head, hl);
	for (size_t r = 0; r < n; r++) {
		sql[len++] = r == 0 ? ' ' : ',';
		if (r > 0)
			sql[len++] = ' ';
		if (spec->cols > 1)
			sql[len++] = '(';
		for (int c = 0; c < spec->cols; c++) {
			if (c > 0) {
				sql[len++] = ',';
				sql[len++] = ' ';
			}
			sql[len++] = '?';
		}
		if (spec->cols > 1)
			sql[len++] = ')';
	}
	memcpy(sql + len, tail, tl + 1);
	sqlite3_stmt *s = gw_sq_cached(q, slot, sql, err);
	free(sql);
	return s;
}

int gw_sq_put_rows(struct gw_sq *q, const struct gw_sq_rows *spec, size_t n,
		   gw_sq_bind_row_fn bind, const void *ctx, const char *what, struct tm_error *err)
{
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < GW_SQ_ROWS_MAX ? n - done : GW_SQ_ROWS_MAX;
		sqlite3_stmt *s = gw_sq_rows_stmt(q, spec, k, err);
		if (s == NULL)
			return GW_STORE_ERROR;
		for (size_t i = 0; i < k; i++)
			bind(s, spec->head_params + 1 + (int)i * spec->cols, ctx, done + i);
		int rc = gw_sq_step_done(q, s, what, err);
		if (rc != GW_STORE_OK)
			return rc;
		done += k;
	}
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
	int v = 0, rc = user_version(q, &v, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (v == (int)gw_sq_n_migrations)
		return GW_STORE_OK;
	if (v > (int)gw_sq_n_migrations)
		return gw_store_refuse_newer(path, v, (int)gw_sq_n_migrations, err);
	rc = exec(q, "BEGIN IMMEDIATE", "begin migration", err);
	if (rc != GW_STORE_OK)
		return rc;
	/* read again under the write lock: another process may have migrated */
	rc = user_version(q, &v, err);
	if (rc != GW_STORE_OK)
		goto out;
	if (v > (int)gw_sq_n_migrations) {
		rc = gw_store_refuse_newer(path, v, (int)gw_sq_n_migrations, err);
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
	for (int i = 0; i < GW_SQ_FWD_MAX; i++)
		sqlite3_finalize(q->fwd[i]);
	for (int i = 0; i < GW_SQ_SUPPLY_MAX; i++)
		sqlite3_finalize(q->supply[i]);
	for (int i = 0; i < GW_SQ_METER_MAX; i++)
		sqlite3_finalize(q->meter[i]);
	for (int i = 0; i < SQR_COUNT_; i++)
		for (int n = 0; n < GW_SQ_ROWS_MAX; n++)
			sqlite3_finalize(q->rows[i][n]);
	if (q->in_tx)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(q->db);
	free(q->path);
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
	q->forward = o->forward;
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
	/* journal_mode answers with a row; the others are silent. Reads map
	 * the file (up to SQLite's usual cap, 2 GiB) instead of a pread and a
	 * copy per page: a month's billing reads some 100,000 pages (issue 16) */
	rc = exec(q, "PRAGMA journal_mode = WAL", "journal_mode", err);
	if (rc == GW_STORE_OK)
		rc = exec(q, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
			  "PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 2147418112", "pragmas", err);
	if (rc != GW_STORE_OK) {
		tm_error_prefix(err, "%s", o->path);
		goto out;
	}
	if (o->schema == GW_STORE_SCHEMA_MIGRATE)
		rc = migrate(q, o->path, err);
	if (rc == GW_STORE_OK && (q->path = strdup(o->path)) == NULL)
		rc = tm_error_set(err, "internal.nomem", "store: out of memory");
out:
	if (rc != GW_STORE_OK) {
		sq_close(q);
		return rc;
	}
	*state = q;
	return GW_STORE_OK;
}

static int sq_schema_version(void *state, int *in_db, int *known, struct tm_error *err)
{
	*known = (int)gw_sq_n_migrations;
	return user_version(state, in_db, err);
}

static int sq_migrate(void *state, struct tm_error *err)
{
	struct gw_sq *q = state;
	return migrate(q, q->path, err);
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

/* A cached statement without rows. */
static int step_cached(struct gw_sq *q, enum gw_sq_stmt which, const char *what,
		       struct tm_error *err)
{
	sqlite3_stmt *s = gw_sq_stmt(q, which, err);
	return s == NULL ? GW_STORE_ERROR : gw_sq_step_done(q, s, what, err);
}

static int sq_item_begin(void *state, struct tm_error *err)
{
	return step_cached(state, SQ_ITEM_SAVEPOINT, "item savepoint", err);
}

/* Undo: ROLLBACK TO leaves the savepoint open, RELEASE closes it. A
 * transaction that SQLite rolled back by itself (a full disk, an I/O
 * error) has no such savepoint any more: the error ends the batch. */
static int sq_item_end(void *state, bool keep, struct tm_error *err)
{
	struct gw_sq *q = state;
	int rc = GW_STORE_OK;
	if (!keep)
		rc = step_cached(q, SQ_ITEM_ROLLBACK, "item rollback", err);
	if (rc == GW_STORE_OK)
		rc = step_cached(q, SQ_ITEM_RELEASE, "item release", err);
	return rc;
}

/* ---- records (put and log: store_sqlite_put.c) ---- */

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
	.item_begin = sq_item_begin,
	.item_end = sq_item_end,
	.put = gw_sq_put,
	.log = gw_sq_log,
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
	.unreachable_list = gw_sq_unreachable_list,
	.alert_find_active = gw_sq_alert_find_active,
	.alert_insert = gw_sq_alert_insert,
	.alert_update = gw_sq_alert_update,
	.alert_get = gw_sq_alert_get,
	.alert_list = gw_sq_alert_list,
	.mark_get = gw_sq_mark_get,
	.mark_set = gw_sq_mark_set,
	.alert_repeat = gw_sq_alert_repeat,
	.alert_list_device = gw_sq_alert_list_device,
	.mark_list = gw_sq_mark_list,
	.mark_set_many = gw_sq_mark_set_many,
	.notify_add = gw_sq_notify_add,
	.notify_update = gw_sq_notify_update,
	.notify_list = gw_sq_notify_list,
	.audit_last = gw_sq_audit_last,
	.audit_insert = gw_sq_audit_insert,
	.audit_list = gw_sq_audit_list,
	.meter_list = gw_sq_meter_list,
	.meter_range = gw_sq_meter_range,
	.supply_list = gw_sq_supply_list,
	.schema_version = sq_schema_version,
	.migrate = sq_migrate,
	.quarantine = &gw_sq_quarantine_ops,
	.fwd_add = gw_sq_fwd_add,
	.fwd_fanout = gw_sq_fwd_fanout,
	.fwd_claim = gw_sq_fwd_claim,
	.fwd_done = gw_sq_fwd_done,
	.fwd_stats = gw_sq_fwd_stats,
	.fwd_dead_list = gw_sq_fwd_dead_list,
	.fwd_dead_retry = gw_sq_fwd_dead_retry,
	.fwd_dead_drop = gw_sq_fwd_dead_drop,
	.supply_history = gw_sq_supply_history,
	.supply_tail_get = gw_sq_supply_tail_get,
	.supply_rule_get = gw_sq_supply_rule_get,
	.supply_rule_set = gw_sq_supply_rule_set,
	.order_insert = gw_sq_order_insert,
	.order_update = gw_sq_order_update,
	.order_get = gw_sq_order_get,
	.order_find = gw_sq_order_find,
	.order_list = gw_sq_order_list,
	.order_event_insert = gw_sq_order_event_insert,
	.order_event_list = gw_sq_order_event_list,
	.meter_decision_set = gw_sq_meter_decision_set,
	.meter_decision_list = gw_sq_meter_decision_list,
	.meter_get = gw_sq_meter_get,
	.meter_adjacent = gw_sq_meter_adjacent,
	.supply_forecast_set = gw_sq_supply_forecast_set,
	.supply_before = gw_sq_supply_before,
	.web_devices = gw_sq_web_devices,
	.web_supplies = gw_sq_web_supplies,
	.web_supply_history = gw_sq_web_supply_history,
	.web_counter_history = gw_sq_web_counter_history,
	.web_reports = gw_sq_web_reports,
	.web_firmware = gw_sq_web_firmware,
	.web_counters = gw_sq_web_counters,
	.web_outcomes = gw_sq_web_outcomes,
	.collector_bindings = gw_sq_collector_bindings,
	.table_count = gw_sq_table_count,
	.table_read = gw_sq_table_read,
	.retention_purge = gw_sq_retention_purge,
	.notify_claim = gw_sq_notify_claim,
	.notify_release = gw_sq_notify_release,
	.try_singleton = gw_sq_try_singleton,
	.shared_counts = gw_sq_shared_counts,
};

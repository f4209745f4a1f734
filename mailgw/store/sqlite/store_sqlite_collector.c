/* telemail-mailgw — SQLite back end: what collectors said about the devices
 * they could not read (issue 14 item 15). A report with a collector section
 * replaces the collector's row and its list when it is newer (generated_at)
 * than the one stored; an older one, arriving late, changes nothing. */
#include <string.h>

#include <sqlite3.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/store.h"
#include "store/sqlite/store_sqlite.h"

static int prepare(struct gw_sq *q, const char *sql, sqlite3_stmt **s, struct tm_error *err)
{
	int rc = sqlite3_prepare_v2(q->db, sql, -1, s, NULL);
	return rc == SQLITE_OK ? GW_STORE_OK : gw_sq_fail(q, rc, "prepare collector statement", err);
}

/* Run sql with the fingerprint bound to ?1 (no row expected). */
static int exec_fp(struct gw_sq *q, const char *sql, const char *fp, const char *what,
		   struct tm_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc = prepare(q, sql, &s, err);
	if (rc == GW_STORE_OK) {
		gw_sq_bind_text(s, 1, fp);
		rc = gw_sq_step_done(q, s, what, err);
	}
	sqlite3_finalize(s);
	return rc;
}

int gw_sq_put_collector(struct gw_sq *q, const struct gw_store_record *rec, int64_t generated,
			struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	if (!r->has_collector)
		return GW_STORE_OK;
	sqlite3_stmt *s = NULL;
	int rc = prepare(q,
		"INSERT INTO collector_status (fingerprint, tenant, serial, report_id, generated_unix,"
		" devices, unreachable_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (fingerprint) DO UPDATE SET tenant = excluded.tenant,"
		" serial = excluded.serial, report_id = excluded.report_id,"
		" generated_unix = excluded.generated_unix, devices = excluded.devices,"
		" unreachable_count = excluded.unreachable_count"
		" WHERE excluded.generated_unix >= collector_status.generated_unix", &s, err);
	if (rc != GW_STORE_OK)
		return rc;
	gw_sq_bind_text(s, 1, rec->fingerprint);
	gw_sq_bind_text(s, 2, rec->tenant);
	gw_sq_bind_text(s, 3, r->serial);
	gw_sq_bind_text(s, 4, r->id);
	gw_sq_bind_int(s, 5, generated);
	gw_sq_bind_int(s, 6, r->collector_devices);
	gw_sq_bind_int(s, 7, r->unreachable_count);
	rc = gw_sq_step_done(q, s, "collector status", err);
	sqlite3_finalize(s);
	if (rc != GW_STORE_OK || sqlite3_changes(q->db) == 0)
		return rc;   /* an older report: the newer list stays */
	rc = exec_fp(q, "DELETE FROM collector_unreachable WHERE fingerprint = ?1", rec->fingerprint,
		     "clear unreachable devices", err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = prepare(q, "INSERT OR REPLACE INTO collector_unreachable (fingerprint, address, serial,"
		     " reason, since_unix, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s, err);
	for (size_t i = 0; rc == GW_STORE_OK && i < r->n_unreachable; i++) {
		const struct tm_unreachable *u = &r->unreachable[i];
		int64_t since;
		if (gw_store_parse_utc(u->since, "collector/unreachable/since", &since, err) < 0) {
			rc = GW_STORE_ERROR;
			break;
		}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		gw_sq_bind_text(s, 1, rec->fingerprint);
		gw_sq_bind_text(s, 2, u->address);
		gw_sq_bind_text(s, 3, u->serial);
		gw_sq_bind_text(s, 4, u->reason);
		gw_sq_bind_int(s, 5, since);
		gw_sq_bind_text(s, 6, u->detail);
		rc = gw_sq_step_done(q, s, "insert unreachable device", err);
	}
	sqlite3_finalize(s);
	return rc;
}

int gw_sq_unreachable_list(void *state, gw_store_unreachable_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = NULL;
	int rc = prepare(q,
		"SELECT c.tenant, c.fingerprint, u.address, u.serial, u.reason, u.since_unix, u.detail,"
		" c.generated_unix FROM collector_unreachable u JOIN collector_status c USING (fingerprint)"
		" ORDER BY c.tenant, u.address, c.fingerprint", &s, err);
	if (rc != GW_STORE_OK)
		return rc;
	for (;;) {
		int src = sqlite3_step(s);
		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = gw_sq_fail(q, src, "list unreachable devices", err);
			break;
		}
		struct gw_unreachable_row u;
		memset(&u, 0, sizeof(u));
		gw_sq_col_text(s, 0, u.tenant, sizeof(u.tenant));
		gw_sq_col_text(s, 1, u.fingerprint, sizeof(u.fingerprint));
		gw_sq_col_text(s, 2, u.address, sizeof(u.address));
		gw_sq_col_text(s, 3, u.serial, sizeof(u.serial));
		gw_sq_col_text(s, 4, u.reason, sizeof(u.reason));
		u.since = sqlite3_column_int64(s, 5);
		gw_sq_col_text(s, 6, u.detail, sizeof(u.detail));
		u.reported_at = sqlite3_column_int64(s, 7);
		if (cb(ctx, &u) != 0)
			break;
	}
	sqlite3_finalize(s);
	return rc;
}

#define BINDINGS_SQL                                                                      \
	"SELECT c.fingerprint, c.tenant, b.serial, COALESCE(s.generated_unix, 0),"       \
	" COALESCE(c.revoked_at, 0) FROM certificates c"                                  \
	" JOIN cert_devices b ON b.fingerprint = c.fingerprint"                           \
	" LEFT JOIN collector_status s ON s.fingerprint = c.fingerprint"                  \
	" WHERE c.role = 'collector' ORDER BY c.fingerprint, b.serial"

int gw_sq_collector_bindings(void *state, gw_store_collector_binding_cb cb, void *ctx,
			     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = NULL;
	int rc = prepare(q, BINDINGS_SQL, &s, err);
	if (rc != GW_STORE_OK)
		return rc;
	for (;;) {
		int src = sqlite3_step(s);
		if (src == SQLITE_DONE)
			break;
		if (src != SQLITE_ROW) {
			rc = gw_sq_fail(q, src, "list collector bindings", err);
			break;
		}
		struct gw_collector_binding_row b;
		memset(&b, 0, sizeof(b));
		gw_sq_col_text(s, 0, b.fingerprint, sizeof(b.fingerprint));
		gw_sq_col_text(s, 1, b.tenant, sizeof(b.tenant));
		gw_sq_col_text(s, 2, b.serial, sizeof(b.serial));
		b.heartbeat = sqlite3_column_int64(s, 3);
		b.revoked_at = sqlite3_column_int64(s, 4);
		if (cb(ctx, &b) != 0) {
			rc = 1;
			break;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

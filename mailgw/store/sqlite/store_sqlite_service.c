/* telemail-mailgw — the SQLite back end's service rows: alerts and their
 * evaluation marks, the durable notification queue, the audit log and the
 * latest supplies (issue 6; meter readings: store_sqlite_meter.c). The
 * rules live in alerts.c, notify.c and audit.c; these only read and write
 * rows. */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/sqlite/store_sqlite.h"

enum svc_stmt {
	SV_ALERT_FIND,
	SV_ALERT_INSERT,
	SV_ALERT_UPDATE,
	SV_ALERT_GET,
	SV_ALERT_LIST_ALL,
	SV_ALERT_LIST_ACTIVE,
	SV_MARK_GET,
	SV_MARK_SET,
	SV_ALERT_LIST_DEVICE,
	SV_ALERT_REPEAT,
	SV_MARK_LIST,
	SV_NOTIFY_ADD,
	SV_NOTIFY_UPDATE,
	SV_NOTIFY_LIST_ALL,
	SV_NOTIFY_LIST_PENDING,
	SV_NOTIFY_LIST_UNSENT,
	SV_NOTIFY_LIST_FAILED,
	SV_AUDIT_LAST,
	SV_AUDIT_INSERT,
	SV_AUDIT_LIST,
	SV_SUPPLY_LIST,
	SV_NOTIFY_CLAIM,
	SV_NOTIFY_CLAIMED,
	SV_NOTIFY_RELEASE,
	SV_SHARED_COUNTS,
	SV_COUNT_
};

_Static_assert(SV_COUNT_ <= GW_SQ_SVC_MAX, "grow GW_SQ_SVC_MAX");

#define ALERT_COLS                                                                   \
	"id, serial, tenant, kind, subject, severity, state, detail, first_seen, last_seen," \
	" count, report_id, acked_at, acked_by, resolved_at"
#define NOTIFY_COLS                                                                  \
	"id, alert_id, event, channel, kind, severity, tenant, payload, state, attempts,"   \
	" next_at, created_at, sent_at, last_error"
#define AUDIT_COLS                                                                   \
	"seq, time, actor, action, object, tenant, before_digest, after_digest, prev_hash, hash"

/* A mark keeps the seq of the report that set its value. */
#define MARK_CHANGED " WHERE ival IS NOT excluded.ival OR tval IS NOT excluded.tval"

static const char *const sv_sql[SV_COUNT_] = {
	[SV_ALERT_FIND] = "SELECT " ALERT_COLS " FROM svc_alerts"
			  " WHERE serial = ?1 AND kind = ?2 AND subject = ?3 AND state <> 'resolved'",
	[SV_ALERT_INSERT] =
		"INSERT INTO svc_alerts (serial, tenant, kind, subject, severity, state, detail,"
		" first_seen, last_seen, count, report_id, acked_at, acked_by, resolved_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[SV_ALERT_UPDATE] =
		"UPDATE svc_alerts SET severity = ?2, state = ?3, detail = ?4, last_seen = ?5,"
		" count = ?6, report_id = ?7, acked_at = ?8, acked_by = ?9, resolved_at = ?10"
		" WHERE id = ?1",
	[SV_ALERT_GET] = "SELECT " ALERT_COLS " FROM svc_alerts WHERE id = ?1",
	[SV_ALERT_LIST_ALL] = "SELECT " ALERT_COLS " FROM svc_alerts ORDER BY id",
	[SV_ALERT_LIST_ACTIVE] =
		"SELECT " ALERT_COLS " FROM svc_alerts WHERE state <> 'resolved' ORDER BY id",
	[SV_MARK_GET] = "SELECT seq, ival, tval FROM svc_marks WHERE serial = ?1 AND key = ?2",
	[SV_MARK_SET] =
		"INSERT INTO svc_marks (serial, key, seq, ival, tval) VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (serial, key) DO UPDATE SET seq = excluded.seq, ival = excluded.ival,"
		" tval = excluded.tval" MARK_CHANGED,
	/* no ORDER BY: svc_alerts_active answers it without a sort */
	[SV_ALERT_LIST_DEVICE] = "SELECT " ALERT_COLS " FROM svc_alerts"
				 " WHERE serial = ?1 AND state <> 'resolved'",
	[SV_ALERT_REPEAT] =
		"UPDATE svc_alerts SET severity = ?2, detail = ?3, last_seen = ?4, count = ?5,"
		" report_id = ?6 WHERE id = ?1",
	[SV_MARK_LIST] = "SELECT key, seq, ival, tval FROM svc_marks WHERE serial = ?1 ORDER BY key",
	[SV_NOTIFY_ADD] =
		"INSERT INTO svc_notify (alert_id, event, channel, kind, severity, tenant, payload,"
		" state, attempts, next_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending',"
		" 0, ?8, ?9) ON CONFLICT (alert_id, event, channel) DO NOTHING",
	[SV_NOTIFY_UPDATE] =
		"UPDATE svc_notify SET state = ?2, attempts = ?3, next_at = ?4, sent_at = ?5,"
		" last_error = ?6, created_at = ?7, claim_owner = NULL, claim_until = 0 WHERE id = ?1",
	[SV_NOTIFY_LIST_ALL] = "SELECT " NOTIFY_COLS " FROM svc_notify ORDER BY id",
	[SV_NOTIFY_LIST_PENDING] =
		"SELECT " NOTIFY_COLS " FROM svc_notify WHERE state = 'pending' ORDER BY id",
	[SV_NOTIFY_LIST_UNSENT] =
		"SELECT " NOTIFY_COLS " FROM svc_notify WHERE state IN ('pending', 'failed') ORDER BY id",
	[SV_NOTIFY_LIST_FAILED] =
		"SELECT " NOTIFY_COLS " FROM svc_notify WHERE state = 'failed' ORDER BY id",
	[SV_AUDIT_LAST] = "SELECT " AUDIT_COLS " FROM svc_audit ORDER BY seq DESC LIMIT 1",
	[SV_AUDIT_INSERT] =
		"INSERT INTO svc_audit (" AUDIT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SV_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM svc_audit ORDER BY seq",
	/* at full precision: at or before ?1 (whole seconds) is before it, or on
	 * it with no fraction; ordered by the whole instant, then seq */
	[SV_SUPPLY_LIST] = GW_SQ_SUPPLY_SQL " ORDER BY d.tenant, l.serial, l.idx",
	/* several gateways (issue 16): in the caller's write transaction, so
	 * that no other writer comes between the claim and its read-back */
	[SV_NOTIFY_CLAIM] =
		"UPDATE svc_notify SET claim_owner = ?1, claim_until = ?2 + ?3 WHERE id IN"
		" (SELECT id FROM svc_notify WHERE state = 'pending' AND next_at <= ?2 AND"
		" (claim_until <= ?2 OR claim_owner = ?1) ORDER BY id LIMIT ?4)",
	[SV_NOTIFY_CLAIMED] = "SELECT " NOTIFY_COLS " FROM svc_notify WHERE state = 'pending'"
			      " AND claim_owner = ?1 AND claim_until = ?2 + ?3 ORDER BY id",
	[SV_NOTIFY_RELEASE] =
		"UPDATE svc_notify SET claim_owner = NULL, claim_until = 0 WHERE claim_owner = ?1",
	[SV_SHARED_COUNTS] =
		"SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM reports),"
		" (SELECT count(*) FROM svc_alerts WHERE state = 'open'),"
		" (SELECT count(*) FROM svc_alerts WHERE state = 'acknowledged'),"
		" (SELECT count(*) FROM svc_notify WHERE state = 'pending'),"
		" (SELECT count(*) FROM svc_notify WHERE state = 'pending' AND claim_until > ?1),"
		" (SELECT count(*) FROM svc_notify WHERE state = 'failed')",
};

static sqlite3_stmt *stmt(struct gw_sq *q, enum svc_stmt which, struct tm_error *err)
{
	return gw_sq_cached(q, &q->svc[which], sv_sql[which], err);
}

/* A statement of one device: ?1 bound to its serial. */
static sqlite3_stmt *stmt_of(struct gw_sq *q, enum svc_stmt which, const char *serial,
			     struct tm_error *err)
{
	sqlite3_stmt *s = stmt(q, which, err);
	if (s != NULL)
		gw_sq_bind_text(s, 1, serial);
	return s;
}

/* ---- alerts ---- */

static const char *const alert_states[] = { "open", "acknowledged", "resolved" };

static void alert_row(sqlite3_stmt *s, struct gw_alert_row *a)
{
	char state[16];
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(s, 0);
	gw_sq_col_text(s, 1, a->serial, sizeof(a->serial));
	gw_sq_col_text(s, 2, a->tenant, sizeof(a->tenant));
	gw_sq_col_text(s, 3, a->kind, sizeof(a->kind));
	gw_sq_col_text(s, 4, a->subject, sizeof(a->subject));
	gw_sq_col_text(s, 5, a->severity, sizeof(a->severity));
	gw_sq_col_text(s, 6, state, sizeof(state));
	a->state = strcmp(state, "resolved") == 0 ? GW_ALERT_RESOLVED :
		   strcmp(state, "acknowledged") == 0 ? GW_ALERT_ACKED : GW_ALERT_OPEN;
	gw_sq_col_text(s, 7, a->detail, sizeof(a->detail));
	a->first_seen = sqlite3_column_int64(s, 8);
	a->last_seen = sqlite3_column_int64(s, 9);
	a->count = sqlite3_column_int64(s, 10);
	gw_sq_col_text(s, 11, a->report_id, sizeof(a->report_id));
	a->acked_at = sqlite3_column_int64(s, 12);
	gw_sq_col_text(s, 13, a->acked_by, sizeof(a->acked_by));
	a->resolved_at = sqlite3_column_int64(s, 14);
}

static int get_alert(struct gw_sq *q, sqlite3_stmt *s, struct gw_alert_row *out, bool *found,
		     struct tm_error *err)
{
	*found = false;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		alert_row(s, out);
		*found = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "read alert", err);
	return GW_STORE_OK;
}

int gw_sq_alert_find_active(void *state, const char *serial, const char *kind,
			    const char *subject, struct gw_alert_row *out, bool *found,
			    struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_ALERT_FIND, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_text(s, 2, kind);
	gw_sq_bind_text(s, 3, subject);
	return get_alert(q, s, out, found, err);
}

static const char *opt_text(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

int gw_sq_alert_insert(void *state, struct gw_alert_row *a, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_ALERT_INSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, a->serial);
	gw_sq_bind_text(s, 2, a->tenant);
	gw_sq_bind_text(s, 3, a->kind);
	gw_sq_bind_text(s, 4, a->subject);
	gw_sq_bind_text(s, 5, a->severity);
	gw_sq_bind_text(s, 6, alert_states[a->state]);
	gw_sq_bind_text(s, 7, opt_text(a->detail));
	gw_sq_bind_int(s, 8, a->first_seen);
	gw_sq_bind_int(s, 9, a->last_seen);
	gw_sq_bind_int(s, 10, a->count);
	gw_sq_bind_text(s, 11, opt_text(a->report_id));
	gw_sq_bind_opt_int(s, 12, a->acked_at, 0);
	gw_sq_bind_text(s, 13, opt_text(a->acked_by));
	gw_sq_bind_opt_int(s, 14, a->resolved_at, 0);
	int rc = gw_sq_step_done(q, s, "insert alert", err);
	if (rc == GW_STORE_OK)
		a->id = sqlite3_last_insert_rowid(q->db);
	return rc;
}

int gw_sq_alert_update(void *state, const struct gw_alert_row *a, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_ALERT_UPDATE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, a->id);
	gw_sq_bind_text(s, 2, a->severity);
	gw_sq_bind_text(s, 3, alert_states[a->state]);
	gw_sq_bind_text(s, 4, opt_text(a->detail));
	gw_sq_bind_int(s, 5, a->last_seen);
	gw_sq_bind_int(s, 6, a->count);
	gw_sq_bind_text(s, 7, opt_text(a->report_id));
	gw_sq_bind_opt_int(s, 8, a->acked_at, 0);
	gw_sq_bind_text(s, 9, opt_text(a->acked_by));
	gw_sq_bind_opt_int(s, 10, a->resolved_at, 0);
	return gw_sq_step_done(q, s, "update alert", err);
}

int gw_sq_alert_repeat(void *state, const struct gw_alert_row *a, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_ALERT_REPEAT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, a->id);
	gw_sq_bind_text(s, 2, a->severity);
	gw_sq_bind_text(s, 3, opt_text(a->detail));
	gw_sq_bind_int(s, 4, a->last_seen);
	gw_sq_bind_int(s, 5, a->count);
	gw_sq_bind_text(s, 6, opt_text(a->report_id));
	return gw_sq_step_done(q, s, "update alert", err);
}

int gw_sq_alert_get(void *state, int64_t id, struct gw_alert_row *out, bool *found,
		    struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_ALERT_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, id);
	return get_alert(q, s, out, found, err);
}

/* Listing: each row to the callback; a non-zero callback result stops. */
int gw_sq_alert_list(void *state, bool active_only, gw_store_alert_cb cb, void *ctx,
		     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, active_only ? SV_ALERT_LIST_ACTIVE : SV_ALERT_LIST_ALL, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_alert_row, alert_row, "list alerts");
}

/* ---- marks ---- */

int gw_sq_mark_get(void *state, const char *serial, const char *key, struct gw_mark_row *out,
		   bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_MARK_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_text(s, 2, key);
	*found = false;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->seq = sqlite3_column_int64(s, 0);
		out->has_ival = sqlite3_column_type(s, 1) != SQLITE_NULL;
		out->ival = sqlite3_column_int64(s, 1);
		gw_sq_col_text(s, 2, out->tval, sizeof(out->tval));
		*found = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "read mark", err);
	return GW_STORE_OK;
}

int gw_sq_mark_set(void *state, const char *serial, const char *key, const struct gw_mark_row *m,
		   struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_MARK_SET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_text(s, 2, key);
	gw_sq_bind_int(s, 3, m->seq);
	if (m->has_ival)
		gw_sq_bind_int(s, 4, m->ival);
	gw_sq_bind_text(s, 5, opt_text(m->tval));
	return gw_sq_step_done(q, s, "write mark", err);
}

/* ---- one device's marks at once ---- */

int gw_sq_alert_list_device(void *state, const char *serial, gw_store_alert_cb cb, void *ctx,
			    struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt_of(q, SV_ALERT_LIST_DEVICE, serial, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_alert_row, alert_row, "list the device's alerts");
}

/* Copy a text column (NULL: ""); false when the copy is not exact: longer
 * than cap - 1 bytes, or not text, or '' (SV_MARK_SET writes "" as NULL). */
static bool col_text_exact(sqlite3_stmt *s, int col, char *out, size_t cap, bool null_ok)
{
	int type = sqlite3_column_type(s, col);
	gw_sq_col_text(s, col, out, cap);
	if (type == SQLITE_NULL)
		return null_ok;
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	return type == SQLITE_TEXT && n > 0 && n < cap;
}

static void mark_entry(sqlite3_stmt *s, struct gw_mark_entry *e)
{
	memset(e, 0, sizeof(*e));
	bool exact = col_text_exact(s, 0, e->key, sizeof(e->key), false);
	e->m.seq = sqlite3_column_int64(s, 1);
	int itype = sqlite3_column_type(s, 2);
	e->m.has_ival = itype != SQLITE_NULL;
	e->m.ival = sqlite3_column_int64(s, 2);
	exact = col_text_exact(s, 3, e->m.tval, sizeof(e->m.tval), true) && exact &&
		(itype == SQLITE_NULL || itype == SQLITE_INTEGER);
	e->inexact = !exact;
}

int gw_sq_mark_list(void *state, const char *serial, gw_store_mark_cb cb, void *ctx,
		    struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt_of(q, SV_MARK_LIST, serial, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_mark_entry, mark_entry, "list marks");
}

/* The same row as SV_MARK_SET writes, many at a time. */
static const struct gw_sq_rows mark_set_rows = {
	SQR_MARK_SET, "INSERT INTO svc_marks (serial, key, seq, ival, tval) VALUES", 5,
	" ON CONFLICT (serial, key) DO UPDATE SET seq = excluded.seq, ival = excluded.ival,"
	" tval = excluded.tval" MARK_CHANGED, 0,
};

struct marks_ctx {
	const char *serial;
	const struct gw_mark_entry *const *marks;
};

static void bind_mark(sqlite3_stmt *s, int p, const void *ctx, size_t i)
{
	const struct marks_ctx *c = ctx;
	const struct gw_mark_entry *e = c->marks[i];
	gw_sq_bind_text(s, p, c->serial);
	gw_sq_bind_text(s, p + 1, e->key);
	gw_sq_bind_int(s, p + 2, e->m.seq);
	if (e->m.has_ival)
		gw_sq_bind_int(s, p + 3, e->m.ival);
	gw_sq_bind_text(s, p + 4, opt_text(e->m.tval));
}

int gw_sq_mark_set_many(void *state, const char *serial, const struct gw_mark_entry *const *marks,
			size_t n, struct tm_error *err)
{
	const struct marks_ctx c = { serial, marks };
	return gw_sq_put_rows(state, &mark_set_rows, n, bind_mark, &c, "write marks", err);
}

/* ---- notification queue ---- */

static const char *const notify_states[] = { "pending", "sent", "failed" };

static void notify_row(sqlite3_stmt *s, struct gw_notify_row *n)
{
	char state[16];
	memset(n, 0, sizeof(*n));
	n->id = sqlite3_column_int64(s, 0);
	n->alert_id = sqlite3_column_int64(s, 1);
	gw_sq_col_text(s, 2, n->event, sizeof(n->event));
	gw_sq_col_text(s, 3, n->channel, sizeof(n->channel));
	gw_sq_col_text(s, 4, n->kind, sizeof(n->kind));
	gw_sq_col_text(s, 5, n->severity, sizeof(n->severity));
	gw_sq_col_text(s, 6, n->tenant, sizeof(n->tenant));
	gw_sq_col_text(s, 7, n->payload, sizeof(n->payload));
	gw_sq_col_text(s, 8, state, sizeof(state));
	n->state = strcmp(state, "sent") == 0 ? GW_NOTIFY_SENT :
		   strcmp(state, "failed") == 0 ? GW_NOTIFY_FAILED : GW_NOTIFY_PENDING;
	n->attempts = sqlite3_column_int64(s, 9);
	n->next_at = sqlite3_column_int64(s, 10);
	n->created_at = sqlite3_column_int64(s, 11);
	n->sent_at = sqlite3_column_int64(s, 12);
	gw_sq_col_text(s, 13, n->last_error, sizeof(n->last_error));
}

int gw_sq_notify_add(void *state, const struct gw_notify_row *n, bool *added,
		     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_NOTIFY_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, n->alert_id);
	gw_sq_bind_text(s, 2, n->event);
	gw_sq_bind_text(s, 3, n->channel);
	gw_sq_bind_text(s, 4, n->kind);
	gw_sq_bind_text(s, 5, n->severity);
	gw_sq_bind_text(s, 6, n->tenant);
	gw_sq_bind_text(s, 7, n->payload);
	gw_sq_bind_int(s, 8, n->next_at);
	gw_sq_bind_int(s, 9, n->created_at);
	int rc = gw_sq_step_done(q, s, "queue notification", err);
	*added = rc == GW_STORE_OK && sqlite3_changes(q->db) == 1;
	return rc;
}

int gw_sq_notify_update(void *state, const struct gw_notify_row *n, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_NOTIFY_UPDATE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, n->id);
	gw_sq_bind_text(s, 2, notify_states[n->state]);
	gw_sq_bind_int(s, 3, n->attempts);
	gw_sq_bind_int(s, 4, n->next_at);
	gw_sq_bind_opt_int(s, 5, n->sent_at, 0);
	gw_sq_bind_text(s, 6, opt_text(n->last_error));
	gw_sq_bind_int(s, 7, n->created_at);
	return gw_sq_step_done(q, s, "update notification", err);
}

int gw_sq_notify_list(void *state, enum gw_notify_which which, gw_store_notify_cb cb, void *ctx,
		      struct tm_error *err)
{
	static const enum svc_stmt by_which[] = {
		[GW_NOTIFY_LIST_ALL] = SV_NOTIFY_LIST_ALL,
		[GW_NOTIFY_LIST_PENDING] = SV_NOTIFY_LIST_PENDING,
		[GW_NOTIFY_LIST_UNSENT] = SV_NOTIFY_LIST_UNSENT,
		[GW_NOTIFY_LIST_FAILED] = SV_NOTIFY_LIST_FAILED,
	};
	struct gw_sq *q = state;
	if ((unsigned)which >= sizeof(by_which) / sizeof(by_which[0]))
		return tm_error_set(err, "internal.bug", "notify_list: bad selection %d", (int)which);
	sqlite3_stmt *s = stmt(q, by_which[which], err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_notify_row, notify_row, "list notifications");
}

/* ---- several gateways (issue 16): claims and counts ---- */

int gw_sq_notify_claim(void *state, const char *owner, int64_t now, int64_t lease, size_t max,
		       gw_store_notify_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_NOTIFY_CLAIM, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, owner);
	gw_sq_bind_int(s, 2, now);
	gw_sq_bind_int(s, 3, lease);
	gw_sq_bind_int(s, 4, (long long)max);
	int rc = gw_sq_step_done(q, s, "claim notifications", err);
	if (rc != GW_STORE_OK)
		return rc;
	if ((s = stmt(q, SV_NOTIFY_CLAIMED, err)) == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, owner);
	gw_sq_bind_int(s, 2, now);
	gw_sq_bind_int(s, 3, lease);
	WALK(q, s, struct gw_notify_row, notify_row, "read claimed notifications");
}

int gw_sq_notify_release(void *state, const char *owner, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_NOTIFY_RELEASE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, owner);
	return gw_sq_step_done(q, s, "release notifications", err);
}

/* One gateway per SQLite file: whatever must run once runs here. */
int gw_sq_try_singleton(void *state, const char *name, bool *got, struct tm_error *err)
{
	(void)state;
	(void)name;
	(void)err;
	*got = true;
	return GW_STORE_OK;
}

int gw_sq_shared_counts(void *state, int64_t now, struct gw_store_shared_counts *out,
			struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_SHARED_COUNTS, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, now);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t *v[] = { &out->devices, &out->reports, &out->alerts_open, &out->alerts_acked,
				 &out->notify_pending, &out->notify_claimed, &out->notify_failed };
		for (int i = 0; i < 7; i++)
			*v[i] = sqlite3_column_int64(s, i);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? GW_STORE_OK : gw_sq_fail(q, rc, "count the shared state", err);
}

/* ---- audit ---- */

static void audit_row(sqlite3_stmt *s, struct gw_audit_row *a)
{
	memset(a, 0, sizeof(*a));
	a->seq = sqlite3_column_int64(s, 0);
	a->time = sqlite3_column_int64(s, 1);
	gw_sq_col_text(s, 2, a->actor, sizeof(a->actor));
	gw_sq_col_text(s, 3, a->action, sizeof(a->action));
	gw_sq_col_text(s, 4, a->object, sizeof(a->object));
	gw_sq_col_text(s, 5, a->tenant, sizeof(a->tenant));
	gw_sq_col_text(s, 6, a->before_digest, sizeof(a->before_digest));
	gw_sq_col_text(s, 7, a->after_digest, sizeof(a->after_digest));
	gw_sq_col_text(s, 8, a->prev_hash, sizeof(a->prev_hash));
	gw_sq_col_text(s, 9, a->hash, sizeof(a->hash));
}

int gw_sq_audit_last(void *state, struct gw_audit_row *out, bool *found, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_AUDIT_LAST, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	*found = false;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		audit_row(s, out);
		*found = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "read audit log", err);
	return GW_STORE_OK;
}

int gw_sq_audit_insert(void *state, const struct gw_audit_row *a, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_AUDIT_INSERT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, a->seq);
	gw_sq_bind_int(s, 2, a->time);
	gw_sq_bind_text(s, 3, a->actor);
	gw_sq_bind_text(s, 4, a->action);
	gw_sq_bind_text(s, 5, a->object);
	gw_sq_bind_text(s, 6, opt_text(a->tenant));
	gw_sq_bind_text(s, 7, opt_text(a->before_digest));
	gw_sq_bind_text(s, 8, opt_text(a->after_digest));
	gw_sq_bind_text(s, 9, a->prev_hash);
	gw_sq_bind_text(s, 10, a->hash);
	return gw_sq_step_done(q, s, "append audit entry", err);
}

int gw_sq_audit_list(void *state, gw_store_audit_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_AUDIT_LIST, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_audit_row, audit_row, "list audit log");
}

/* ---- supplies (meters: store_sqlite_meter.c) ---- */

int gw_sq_supply_list(void *state, gw_store_supply_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, SV_SUPPLY_LIST, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	WALK(q, s, struct gw_supply_row, gw_sq_supply_row, "list supplies");
}

/* telemail-mailgw — the PostgreSQL back end's service rows: alerts and their
 * evaluation marks, the notification queue, the audit log, meter readings
 * and latest supplies. The rules live in alerts.c, notify.c, audit.c and
 * billing.c; these only read and write rows.
 *
 * The audit chain has one head for every gateway: audit_last takes a
 * transaction-scoped advisory lock before reading it, so that appends from
 * several gateways are serialised (the next one reads the head only after
 * this transaction committed its entry) and the chain stays one chain.
 * Holding the lock, a transaction keeps the head it read and wrote, until a
 * rollback (of a savepoint too: it may release the lock) or its end. */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/postgresql/store_pg.h"

#define ALERT_COLS                                                                   \
	"id, serial, tenant, kind, subject, severity, state, detail, first_seen, last_seen," \
	" count, report_id, acked_at, acked_by, resolved_at"
#define NOTIFY_COLS                                                                  \
	"id, alert_id, event, channel, kind, severity, tenant, payload, state, attempts,"   \
	" next_at, created_at, sent_at, last_error"
#define AUDIT_COLS                                                                   \
	"seq, time, actor, action, object, tenant, before_digest, after_digest, prev_hash, hash"
#define AUDIT_LOCK "7454656c61756474"   /* the audit chain's advisory lock key */

/* A mark keeps the seq of the report that set its value. */
#define MARK_UPSERT                                                                  \
	" ON CONFLICT (serial, key) DO UPDATE SET seq = excluded.seq, ival = excluded.ival," \
	" tval = excluded.tval WHERE svc_marks.ival IS DISTINCT FROM excluded.ival"        \
	" OR svc_marks.tval IS DISTINCT FROM excluded.tval"

/* ---- alerts ---- */

static const char *const alert_states[] = { "open", "acknowledged", "resolved" };

/* a device's active alerts; its marks in key order */
#define DEVICE_ALERTS_SQL \
	"SELECT " ALERT_COLS " FROM svc_alerts WHERE serial = $1 AND state <> 'resolved'"
#define MARKS_SQL "SELECT key, seq, ival, tval FROM svc_marks WHERE serial = $1 ORDER BY key"

static void alert_row(const PGresult *r, int i, void *out)
{
	struct gw_alert_row *a = out;
	char state[16];
	memset(a, 0, sizeof(*a));
	a->id = gw_pg_col_int(r, i, 0);
	gw_pg_col_text(r, i, 1, a->serial, sizeof(a->serial));
	gw_pg_col_text(r, i, 2, a->tenant, sizeof(a->tenant));
	gw_pg_col_text(r, i, 3, a->kind, sizeof(a->kind));
	gw_pg_col_text(r, i, 4, a->subject, sizeof(a->subject));
	gw_pg_col_text(r, i, 5, a->severity, sizeof(a->severity));
	gw_pg_col_text(r, i, 6, state, sizeof(state));
	a->state = strcmp(state, "resolved") == 0 ? GW_ALERT_RESOLVED :
		   strcmp(state, "acknowledged") == 0 ? GW_ALERT_ACKED : GW_ALERT_OPEN;
	gw_pg_col_text(r, i, 7, a->detail, sizeof(a->detail));
	a->first_seen = gw_pg_col_int(r, i, 8);
	a->last_seen = gw_pg_col_int(r, i, 9);
	a->count = gw_pg_col_int(r, i, 10);
	gw_pg_col_text(r, i, 11, a->report_id, sizeof(a->report_id));
	a->acked_at = gw_pg_col_int(r, i, 12);
	gw_pg_col_text(r, i, 13, a->acked_by, sizeof(a->acked_by));
	a->resolved_at = gw_pg_col_int(r, i, 14);
}

static int get_alert(struct gw_pg *s, const char *sql, const struct gw_pg_params *p,
		     struct gw_alert_row *out, bool *found, struct tm_error *err)
{
	return gw_pg_get_one(s, sql, p, alert_row, out, found, "read alert", err);
}

static int call_alert(void *cb, void *ctx, void *row)
{
	return (*(gw_store_alert_cb *)cb)(ctx, row);
}

int gw_pg_alert_find_active(void *state, const char *serial, const char *kind,
			    const char *subject, struct gw_alert_row *out, bool *found,
			    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_text(&p, kind);
	gw_pg_text(&p, subject);
	return get_alert(state, "SELECT " ALERT_COLS " FROM svc_alerts WHERE serial = $1 AND"
			 " kind = $2 AND subject = $3 AND state <> 'resolved'", &p, out, found, err);
}

/* Gateways evaluating reports of one device at the same moment may both
 * find no active alert and insert one: the second insert waits for the
 * first's transaction on the unique index of active alerts, then counts a
 * repeat of that alert instead (raised once; its notifications are queued
 * once by their own unique key). */
int gw_pg_alert_insert(void *state, struct gw_alert_row *a, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, a->serial);
	gw_pg_text(&p, a->tenant);
	gw_pg_text(&p, a->kind);
	gw_pg_text(&p, a->subject);
	gw_pg_text(&p, a->severity);
	gw_pg_text(&p, alert_states[a->state]);
	gw_pg_opt_text(&p, a->detail);
	gw_pg_int(&p, a->first_seen);
	gw_pg_int(&p, a->last_seen);
	gw_pg_int(&p, a->count);
	gw_pg_opt_text(&p, a->report_id);
	gw_pg_opt_int(&p, a->acked_at, 0);
	gw_pg_opt_text(&p, a->acked_by);
	gw_pg_opt_int(&p, a->resolved_at, 0);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"INSERT INTO svc_alerts (serial, tenant, kind, subject, severity, state, detail,"
		" first_seen, last_seen, count, report_id, acked_at, acked_by, resolved_at)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
		" ON CONFLICT (serial, kind, subject) WHERE state <> 'resolved' DO UPDATE SET"
		" count = svc_alerts.count + excluded.count,"
		" last_seen = greatest(svc_alerts.last_seen, excluded.last_seen),"
		" detail = excluded.detail, report_id = excluded.report_id"
		" RETURNING " ALERT_COLS, &p, &r, "insert alert", err);
	if (rc == GW_STORE_OK) {
		alert_row(r, 0, a);   /* the row as it is now: new, or the other's counted */
		PQclear(r);
	}
	return rc;
}

int gw_pg_alert_update(void *state, const struct gw_alert_row *a, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, a->id);
	gw_pg_text(&p, a->severity);
	gw_pg_text(&p, alert_states[a->state]);
	gw_pg_opt_text(&p, a->detail);
	gw_pg_int(&p, a->last_seen);
	gw_pg_int(&p, a->count);
	gw_pg_opt_text(&p, a->report_id);
	gw_pg_opt_int(&p, a->acked_at, 0);
	gw_pg_opt_text(&p, a->acked_by);
	gw_pg_opt_int(&p, a->resolved_at, 0);
	return gw_pg_exec_later(&s->c,
		"UPDATE svc_alerts SET severity = $2, state = $3, detail = $4, last_seen = $5,"
		" count = $6, report_id = $7, acked_at = $8, acked_by = $9, resolved_at = $10"
		" WHERE id = $1", &p, "update alert", err);
}

int gw_pg_alert_repeat(void *state, const struct gw_alert_row *a, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, a->id);
	gw_pg_text(&p, a->severity);
	gw_pg_opt_text(&p, a->detail);
	gw_pg_int(&p, a->last_seen);
	gw_pg_int(&p, a->count);
	gw_pg_opt_text(&p, a->report_id);
	return gw_pg_exec_later(&s->c,
		"UPDATE svc_alerts SET severity = $2, detail = $3, last_seen = $4, count = $5,"
		" report_id = $6 WHERE id = $1", &p, "update alert", err);
}

int gw_pg_alert_get(void *state, int64_t id, struct gw_alert_row *out, bool *found,
		    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, id);
	return get_alert(state, "SELECT " ALERT_COLS " FROM svc_alerts WHERE id = $1", &p, out,
			 found, err);
}

int gw_pg_alert_list(void *state, bool active_only, gw_store_alert_cb cb, void *ctx,
		     struct tm_error *err)
{
	struct gw_alert_row row;
	return gw_pg_walk(state, active_only ? "SELECT " ALERT_COLS " FROM svc_alerts"
					 " WHERE state <> 'resolved' ORDER BY id"
				       : "SELECT " ALERT_COLS " FROM svc_alerts ORDER BY id",
		    NULL, alert_row, &row, call_alert, &cb, ctx, "list alerts", err);
}

int gw_pg_alert_list_device(void *state, const char *serial, gw_store_alert_cb cb, void *ctx,
			    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	struct gw_alert_row row;
	return gw_pg_walk(state, DEVICE_ALERTS_SQL, &p, alert_row, &row, call_alert, &cb, ctx,
			  "list the device's alerts", err);
}

/* ---- marks ---- */

int gw_pg_mark_get(void *state, const char *serial, const char *key, struct gw_mark_row *out,
		   bool *found, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_text(&p, key);
	PGresult *r;
	*found = false;
	int rc = gw_pg_exec(&s->c, "SELECT seq, ival, tval FROM svc_marks WHERE serial = $1"
			    " AND key = $2", &p, &r, "read mark", err);
	if (rc != GW_STORE_OK)
		return rc;
	if (PQntuples(r) > 0) {
		memset(out, 0, sizeof(*out));
		out->seq = gw_pg_col_int(r, 0, 0);
		out->has_ival = !PQgetisnull(r, 0, 1);
		out->ival = gw_pg_col_int(r, 0, 1);
		gw_pg_col_text(r, 0, 2, out->tval, sizeof(out->tval));
		*found = true;
	}
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_mark_set(void *state, const char *serial, const char *key, const struct gw_mark_row *m,
		   struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_text(&p, key);
	gw_pg_int(&p, m->seq);
	if (m->has_ival)
		gw_pg_int(&p, m->ival);
	else
		gw_pg_text(&p, NULL);
	gw_pg_opt_text(&p, m->tval);
	return gw_pg_exec(&s->c, "INSERT INTO svc_marks (serial, key, seq, ival, tval)"
			  " VALUES ($1, $2, $3, $4, $5)" MARK_UPSERT, &p, NULL, "write mark", err);
}

/* A mark as listed; inexact when the copy is not the stored row (a key or
 * text longer than the copy holds, or '' written as NULL). */
static void mark_entry(const PGresult *r, int i, void *out)
{
	struct gw_mark_entry *e = out;
	memset(e, 0, sizeof(*e));
	gw_pg_col_text(r, i, 0, e->key, sizeof(e->key));
	size_t kl = (size_t)PQgetlength(r, i, 0);
	bool exact = kl > 0 && kl < sizeof(e->key);
	e->m.seq = gw_pg_col_int(r, i, 1);
	e->m.has_ival = !PQgetisnull(r, i, 2);
	e->m.ival = gw_pg_col_int(r, i, 2);
	gw_pg_col_text(r, i, 3, e->m.tval, sizeof(e->m.tval));
	if (!PQgetisnull(r, i, 3)) {
		size_t tl = (size_t)PQgetlength(r, i, 3);
		exact = exact && tl > 0 && tl < sizeof(e->m.tval);
	}
	e->inexact = !exact;
}

static int call_mark(void *cb, void *ctx, void *row)
{
	return (*(gw_store_mark_cb *)cb)(ctx, row);
}

int gw_pg_mark_list(void *state, const char *serial, gw_store_mark_cb cb, void *ctx,
		    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	struct gw_mark_entry row;
	return gw_pg_walk(state, MARKS_SQL, &p, mark_entry, &row, call_mark, &cb, ctx, "list marks",
			  err);
}

int gw_pg_device_load_send(struct gw_pg_conn *c, const char *serial, int slot[2],
			   struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	int rc = gw_pg_pipe_send(c, MARKS_SQL, &p, true, "list marks", &slot[0], err);
	if (rc == GW_STORE_OK)
		rc = gw_pg_pipe_send(c, DEVICE_ALERTS_SQL, &p, true, "list the device's alerts",
				     &slot[1], err);
	return rc;
}

void gw_pg_device_load_take(const PGresult *marks, const PGresult *alerts,
			    gw_store_mark_cb mark_cb, gw_store_alert_cb alert_cb, void *ctx,
			    int stop[2])
{
	struct gw_mark_entry m;
	struct gw_alert_row a;
	stop[0] = gw_pg_walk_result(marks, mark_entry, &m, call_mark, &mark_cb, ctx);
	stop[1] = gw_pg_walk_result(alerts, alert_row, &a, call_alert, &alert_cb, ctx);
}

/* The two in one pipe: the report's reads with the device only
 * (store_pg_reads.c). */
int gw_pg_device_load(void *state, const char *serial, gw_store_mark_cb mark_cb,
		      gw_store_alert_cb alert_cb, void *ctx, int stop[2], struct tm_error *err)
{
	struct gw_report_reads rr = { .device = true, .mark_cb = mark_cb, .alert_cb = alert_cb,
				      .ctx = ctx };
	int rc = gw_pg_report_reads(state, serial, &rr, err);
	stop[0] = rr.stop[0];
	stop[1] = rr.stop[1];
	return rc;
}

struct marks_ctx {
	const char *serial;
	const struct gw_mark_entry *const *marks;
};

static void bind_mark(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct marks_ctx *c = ctx;
	const struct gw_mark_entry *e = c->marks[i];
	gw_pg_text(p, c->serial);
	gw_pg_text(p, e->key);
	gw_pg_int(p, e->m.seq);
	if (e->m.has_ival)
		gw_pg_int(p, e->m.ival);
	else
		gw_pg_text(p, NULL);
	gw_pg_opt_text(p, e->m.tval);
}

int gw_pg_mark_set_many(void *state, const char *serial, const struct gw_mark_entry *const *marks,
			size_t n, struct tm_error *err)
{
	struct gw_pg *s = state;
	const struct marks_ctx c = { serial, marks };
	return gw_pg_put_rows(&s->c, "INSERT INTO svc_marks (serial, key, seq, ival, tval) VALUES",
			      5, MARK_UPSERT, n, bind_mark, &c, "write marks", err);
}

/* ---- notification queue ---- */

static const char *const notify_states[] = { "pending", "sent", "failed" };

static void notify_row(const PGresult *r, int i, void *out)
{
	struct gw_notify_row *n = out;
	char state[16];
	memset(n, 0, sizeof(*n));
	n->id = gw_pg_col_int(r, i, 0);
	n->alert_id = gw_pg_col_int(r, i, 1);
	gw_pg_col_text(r, i, 2, n->event, sizeof(n->event));
	gw_pg_col_text(r, i, 3, n->channel, sizeof(n->channel));
	gw_pg_col_text(r, i, 4, n->kind, sizeof(n->kind));
	gw_pg_col_text(r, i, 5, n->severity, sizeof(n->severity));
	gw_pg_col_text(r, i, 6, n->tenant, sizeof(n->tenant));
	gw_pg_col_text(r, i, 7, n->payload, sizeof(n->payload));
	gw_pg_col_text(r, i, 8, state, sizeof(state));
	n->state = strcmp(state, "sent") == 0 ? GW_NOTIFY_SENT :
		   strcmp(state, "failed") == 0 ? GW_NOTIFY_FAILED : GW_NOTIFY_PENDING;
	n->attempts = gw_pg_col_int(r, i, 9);
	n->next_at = gw_pg_col_int(r, i, 10);
	n->created_at = gw_pg_col_int(r, i, 11);
	n->sent_at = gw_pg_col_int(r, i, 12);
	gw_pg_col_text(r, i, 13, n->last_error, sizeof(n->last_error));
}

static int call_notify(void *cb, void *ctx, void *row)
{
	return (*(gw_store_notify_cb *)cb)(ctx, row);
}

int gw_pg_notify_add(void *state, const struct gw_notify_row *n, bool *added,
		     struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, n->alert_id);
	gw_pg_text(&p, n->event);
	gw_pg_text(&p, n->channel);
	gw_pg_text(&p, n->kind);
	gw_pg_text(&p, n->severity);
	gw_pg_text(&p, n->tenant);
	gw_pg_text(&p, n->payload);
	gw_pg_int(&p, n->next_at);
	gw_pg_int(&p, n->created_at);
	PGresult *r;
	*added = false;
	int rc = gw_pg_exec(&s->c,
		"INSERT INTO svc_notify (alert_id, event, channel, kind, severity, tenant, payload,"
		" state, attempts, next_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending',"
		" 0, $8, $9) ON CONFLICT (alert_id, event, channel) DO NOTHING",
		&p, &r, "queue notification", err);
	if (rc == GW_STORE_OK) {
		*added = strcmp(PQcmdTuples(r), "1") == 0;
		PQclear(r);
	}
	return rc;
}

int gw_pg_notify_update(void *state, const struct gw_notify_row *n, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, n->id);
	gw_pg_text(&p, notify_states[n->state]);
	gw_pg_int(&p, n->attempts);
	gw_pg_int(&p, n->next_at);
	gw_pg_opt_int(&p, n->sent_at, 0);
	gw_pg_opt_text(&p, n->last_error);
	gw_pg_int(&p, n->created_at);
	return gw_pg_exec(&s->c,
		"UPDATE svc_notify SET state = $2, attempts = $3, next_at = $4, sent_at = $5,"
		" last_error = $6, created_at = $7, claim_owner = NULL, claim_until = 0"
		" WHERE id = $1", &p, NULL, "update notification", err);
}

int gw_pg_notify_list(void *state, enum gw_notify_which which, gw_store_notify_cb cb, void *ctx,
		      struct tm_error *err)
{
	static const char *const by_which[] = {
		[GW_NOTIFY_LIST_ALL] = "SELECT " NOTIFY_COLS " FROM svc_notify ORDER BY id",
		[GW_NOTIFY_LIST_PENDING] =
			"SELECT " NOTIFY_COLS " FROM svc_notify WHERE state = 'pending' ORDER BY id",
		[GW_NOTIFY_LIST_UNSENT] = "SELECT " NOTIFY_COLS " FROM svc_notify"
					  " WHERE state IN ('pending', 'failed') ORDER BY id",
		[GW_NOTIFY_LIST_FAILED] =
			"SELECT " NOTIFY_COLS " FROM svc_notify WHERE state = 'failed' ORDER BY id",
	};
	if ((unsigned)which >= sizeof(by_which) / sizeof(by_which[0]))
		return tm_error_set(err, "internal.bug", "notify_list: bad selection %d", (int)which);
	struct gw_notify_row row;
	return gw_pg_walk(state, by_which[which], NULL, notify_row, &row, call_notify, &cb, ctx,
		    "list notifications", err);
}

/* ---- several gateways (issue 16): claims, singletons, counts ---- */

int gw_pg_notify_claim(void *state, const char *owner, int64_t now, int64_t lease, size_t max,
		       gw_store_notify_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, owner);
	gw_pg_int(&p, now);
	gw_pg_int(&p, lease);
	gw_pg_int(&p, (long long)max);
	struct gw_notify_row row;
	/* rows another gateway's claim holds locked are skipped, not waited for */
	return gw_pg_walk(state,
		"WITH due AS (SELECT id AS due_id FROM svc_notify WHERE state = 'pending'"
		" AND next_at <= $2 AND (claim_until <= $2 OR claim_owner = $1) ORDER BY id LIMIT $4"
		" FOR UPDATE SKIP LOCKED),"
		" claimed AS (UPDATE svc_notify SET claim_owner = $1, claim_until = $2 + $3 FROM due"
		" WHERE id = due_id RETURNING " NOTIFY_COLS ")"
		" SELECT * FROM claimed ORDER BY id", &p, notify_row, &row, call_notify, &cb, ctx,
		"claim notifications", err);
}

int gw_pg_notify_release(void *state, const char *owner, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, owner);
	return gw_pg_exec(&s->c, "UPDATE svc_notify SET claim_owner = NULL, claim_until = 0"
			  " WHERE claim_owner = $1", &p, NULL, "release notifications", err);
}

/* The singletons' advisory locks: (SINGLETON_CLASS, FNV-1a of the name).
 * Session locks stack when taken again, so a lock this session holds
 * already (pg_locks) is not taken a second time. */
#define SINGLETON_CLASS 1953328243   /* "tmls" */

static int32_t name_key(const char *name)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 16777619u;
	return (int32_t)h;
}

int gw_pg_try_singleton(void *state, const char *name, bool *got, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, SINGLETON_CLASS);
	gw_pg_int(&p, name_key(name));
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
		" AND pid = pg_backend_pid() AND granted AND objsubid = 2"
		" AND classid = $1::int4::oid AND objid = $2::int4::oid) THEN true"
		" ELSE pg_try_advisory_lock($1::int4, $2::int4) END", &p, &r, "try singleton", err);
	if (rc != GW_STORE_OK)
		return rc;
	*got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_shared_counts(void *state, int64_t now, struct gw_store_shared_counts *out,
			struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, now);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM reports),"
		" (SELECT count(*) FROM svc_alerts WHERE state = 'open'),"
		" (SELECT count(*) FROM svc_alerts WHERE state = 'acknowledged'),"
		" (SELECT count(*) FROM svc_notify WHERE state = 'pending'),"
		" (SELECT count(*) FROM svc_notify WHERE state = 'pending' AND claim_until > $1),"
		" (SELECT count(*) FROM svc_notify WHERE state = 'failed')",
		&p, &r, "count the shared state", err);
	if (rc != GW_STORE_OK)
		return rc;
	int64_t *v[] = { &out->devices, &out->reports, &out->alerts_open, &out->alerts_acked,
			 &out->notify_pending, &out->notify_claimed, &out->notify_failed };
	for (int i = 0; i < 7 && PQntuples(r) == 1; i++)
		*v[i] = gw_pg_col_int(r, 0, i);
	PQclear(r);
	return GW_STORE_OK;
}

/* ---- audit ---- */

static void audit_row(const PGresult *r, int i, void *out)
{
	struct gw_audit_row *a = out;
	memset(a, 0, sizeof(*a));
	a->seq = gw_pg_col_int(r, i, 0);
	a->time = gw_pg_col_int(r, i, 1);
	gw_pg_col_text(r, i, 2, a->actor, sizeof(a->actor));
	gw_pg_col_text(r, i, 3, a->action, sizeof(a->action));
	gw_pg_col_text(r, i, 4, a->object, sizeof(a->object));
	gw_pg_col_text(r, i, 5, a->tenant, sizeof(a->tenant));
	gw_pg_col_text(r, i, 6, a->before_digest, sizeof(a->before_digest));
	gw_pg_col_text(r, i, 7, a->after_digest, sizeof(a->after_digest));
	gw_pg_col_text(r, i, 8, a->prev_hash, sizeof(a->prev_hash));
	gw_pg_col_text(r, i, 9, a->hash, sizeof(a->hash));
}

static int call_audit(void *cb, void *ctx, void *row)
{
	return (*(gw_store_audit_cb *)cb)(ctx, row);
}

int gw_pg_audit_last(void *state, struct gw_audit_row *out, bool *found, struct tm_error *err)
{
	struct gw_pg *s = state;
	*found = false;
	/* a batch appends once a report: the lock and the head it read (and
	 * then wrote) hold while nothing was rolled back */
	if (s->c.in_tx && s->audit_cached && s->audit_epoch == s->c.tx_epoch) {
		*found = s->audit_found;
		if (s->audit_found)
			*out = s->audit_head;
		return GW_STORE_OK;
	}
	/* in a transaction (an append): held until it ends, one appender at a time */
	if (s->c.in_tx) {
		int rc = gw_pg_exec(&s->c, "SELECT pg_advisory_xact_lock(x'" AUDIT_LOCK "'::bigint)",
				    NULL, NULL, "lock the audit chain", err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	int rc = gw_pg_get_one(s, "SELECT " AUDIT_COLS " FROM svc_audit ORDER BY seq DESC LIMIT 1",
			       NULL, audit_row, out, found, "read audit log", err);
	s->audit_cached = rc == GW_STORE_OK && s->c.in_tx;
	if (s->audit_cached) {
		s->audit_epoch = s->c.tx_epoch;
		s->audit_found = *found;
		if (*found)
			s->audit_head = *out;
	}
	return rc;
}

int gw_pg_audit_insert(void *state, const struct gw_audit_row *a, struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, a->seq);
	gw_pg_int(&p, a->time);
	gw_pg_text(&p, a->actor);
	gw_pg_text(&p, a->action);
	gw_pg_text(&p, a->object);
	gw_pg_opt_text(&p, a->tenant);
	gw_pg_opt_text(&p, a->before_digest);
	gw_pg_opt_text(&p, a->after_digest);
	gw_pg_text(&p, a->prev_hash);
	gw_pg_text(&p, a->hash);
	/* sent ahead (a failure fails the item at its end, and the rollback
	 * moves tx_epoch on, which drops the head kept below) */
	int rc = gw_pg_exec_later(&s->c, "INSERT INTO svc_audit (" AUDIT_COLS ")"
				  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", &p,
				  "append audit entry", err);
	if (rc != GW_STORE_OK)
		s->audit_cached = false;
	else if (s->audit_cached && s->audit_epoch == s->c.tx_epoch) {
		s->audit_head = *a;
		s->audit_found = true;
	}
	return rc;
}

int gw_pg_audit_list(void *state, gw_store_audit_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_audit_row row;
	return gw_pg_walk(state, "SELECT " AUDIT_COLS " FROM svc_audit ORDER BY seq", NULL, audit_row,
		    &row, call_audit, &cb, ctx, "list audit log", err);
}

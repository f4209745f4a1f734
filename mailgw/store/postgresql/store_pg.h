/* telemail-mailgw — internal: the PostgreSQL back end's shared state.
 * Only store_pg*.c include libpq-fe.h.
 *
 * One connection per store handle (a handle is one thread's). Every
 * statement goes through gw_pg_exec, which maps a failure to the store's
 * codes: the server down or the connection lost is store.unavailable
 * (RETRY: the caller rolls the batch back and tries it again whole; the
 * next call outside a transaction reconnects), a serialisation failure,
 * deadlock or lock timeout is store.busy (RETRY), anything else
 * store.failed (ERROR). */
#ifndef GW_STORE_PG_H
#define GW_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store.h"

/* The parameters of one statement (text format unless a length is given). */
#define GW_PG_PARAMS_MAX 512

struct gw_pg_params {
	int n;
	const char *v[GW_PG_PARAMS_MAX];
	int len[GW_PG_PARAMS_MAX];
	int fmt[GW_PG_PARAMS_MAX];
	char num[GW_PG_PARAMS_MAX][24];
};

/* ---- pipelining (store_pg_pipe.c) ----
 * Between gw_pg_pipe_begin and gw_pg_pipe_sync, gw_pg_exec (and
 * gw_pg_put_rows) send statements whose result is not wanted without
 * waiting; gw_pg_pipe_send with keep sends one whose result is wanted, read
 * at the sync into res[slot] (gw_pg_pipe_clear frees them). The sync
 * answers the first failed statement's error (failed: its slot; the server
 * skipped the statements after it). */
#define GW_PG_PIPE_MAX 64
struct gw_pg_pipe {
	int n;
	const char *what[GW_PG_PIPE_MAX];
	bool keep[GW_PG_PIPE_MAX];
	PGresult *res[GW_PG_PIPE_MAX];
	struct gw_pg_stmt *parse[GW_PG_PIPE_MAX]; /* the slot is this statement's Parse */
	int failed;             /* slot of the first failed statement, -1 none */
};

/* A connection: its parameters (kept for reconnecting; the password is
 * among them, never printed) and where it goes, for messages. */
/* A statement this connection prepares (store_pg_stmt.c). */
#define GW_PG_STMTS_MAX 256
enum { GW_PG_STMT_NONE, GW_PG_STMT_SENT, GW_PG_STMT_READY };
struct gw_pg_stmt {
	uint64_t hash;
	char *sql;
	int nparams;
	int state;              /* GW_PG_STMT_*: SENT, in a pipe not yet synced */
	char name[16];
};

struct gw_pg_conn {
	PGconn *conn;
	const char **keys;
	const char **vals;
	char *storage;          /* the strings keys/vals point into */
	char where[160];        /* "postgresql host=… dbname=…", no password */
	int busy_timeout_ms;
	bool in_tx;
	char last_sqlstate[6];  /* of the last failed statement ("" when none) */
	struct gw_pg_pipe *pipe; /* open pipe (store_pg_pipe.c), else NULL */
	/* statements sent ahead (gw_pg_exec_later): open while pipe == &later */
	struct gw_pg_pipe later;
	struct gw_pg_stmt *stmts; /* prepared on this session (store_pg_stmt.c) */
	size_t n_stmts;
	unsigned stmt_serial;   /* the last name given */
	/* counts BEGIN, COMMIT and every ROLLBACK (to a savepoint too): what
	 * this transaction read or locked is still so while it is unchanged */
	unsigned tx_epoch;
};

/* Called with each statement sent without parameters: a transaction
 * boundary, or a rollback that may have undone writes and locks, moves
 * c->tx_epoch on. */
void gw_pg_note_tx(struct gw_pg_conn *c, const char *sql);

/* A text[] literal of n strings (get(ctx, i)): each quoted, its \ and "
 * escaped. NULL when out of memory; free() it. */
char *gw_pg_text_array(size_t n, const char *(*get)(const void *ctx, size_t i), const void *ctx);

/* The cache entry of sql (with nparams parameters) on c, made when new;
 * NULL when the cache is full (send the text). Its state says whether the
 * session has it; settle it with the server's answer to its Parse. */
struct gw_pg_stmt *gw_pg_stmt_of(struct gw_pg_conn *c, const char *sql, int nparams);
void gw_pg_stmt_settle(struct gw_pg_conn *c, struct gw_pg_stmt *s, bool prepared);
/* a new session has none of them; at disconnect, free them */
void gw_pg_stmts_forget(struct gw_pg_conn *c);
void gw_pg_stmts_free(struct gw_pg_conn *c);

/* The months whose partitions this connection made or saw, in its
 * transaction or before it (forgotten at a rollback, which may undo them). */
#define GW_PG_MONTHS_KNOWN 8

/* store copy: the ids of the copied reports, old and month-encoded, in the
 * order written (store_pg_copy.c) */
struct gw_pg_id_map {
	int64_t old, new;
};

/* Report ids taken from the sequence at a time (store_pg_put.c); a
 * session holds at most twice as many (a take while a quarter are left). */
#define GW_PG_IDS 32

struct gw_pg {
	struct gw_pg_conn c;
	bool in_item;
	bool forward;   /* options.forward: put queues its report event */
	int64_t months[GW_PG_MONTHS_KNOWN];
	size_t n_months, next_month;
	/* the audit chain's head while this transaction holds its lock
	 * (store_pg_service.c): valid at audit_epoch == c.tx_epoch */
	bool audit_cached, audit_found;
	unsigned audit_epoch;
	struct gw_audit_row audit_head;
	struct gw_pg_id_map *copy_ids;
	size_t n_copy_ids, cap_copy_ids;
	/* numbers of reports_id_seq taken ahead for report ids (store_pg_put.c) */
	long long ids[2 * GW_PG_IDS];
	size_t id_next, n_ids;
};

/* ---- monthly partitions (store_pg_partition.c; schema version 12) ----
 * A report's id is (month << GW_PG_MONTH_SHIFT) | a number of reports_id_seq,
 * month = the UTC year * 12 + month - 1 of its received_at; reports and
 * its lists have a partition per month, [month << 40, (month + 1) << 40). */
#define GW_PG_MONTH_SHIFT 40
#define GW_PG_ID_LOW_MASK ((INT64_C(1) << GW_PG_MONTH_SHIFT) - 1)

int64_t gw_pg_month_of(int64_t unix_time);
/* "INSERT INTO <table>_<YYYY>_<MM> <rest>" into buf: the partition of the
 * month of report id rid, as telemail_month_partitions names it. A put
 * writes into the month's partitions itself (its month ready, above): the
 * server then skips finding the partition for each statement. */
#define GW_PG_INTO_MAX 512
const char *gw_pg_into_month(char buf[GW_PG_INTO_MAX], const char *table, long long rid,
			     const char *rest);
/* The partitions of month m there (made when missing, in the caller's
 * transaction, under an advisory lock; remembered by the connection). */
int gw_pg_month_ready(struct gw_pg *s, int64_t m, struct tm_error *err);
/* Forget the months known (a rollback may have undone their partitions). */
void gw_pg_months_forget(struct gw_pg *s);

/* schema: versioned migrations (store_pg_schema.c) */
/* a migration: its statements in parts, NULL-terminated */
extern const char *const *const gw_pg_migrations[];
extern const size_t gw_pg_n_migrations;

/* the quarantine as a table (store_pg_quarantine.c) */
extern const struct gw_quarantine_ops gw_pg_quarantine_ops;

/* ---- connection (store_pg.c) ---- */

/* Connect with o's conninfo and password_file: refuses a password in the
 * conninfo and a remote host without sslmode=verify-full (config.bad_value,
 * explained), store.unavailable when the server cannot be reached. */
int gw_pg_connect(struct gw_pg_conn *c, const struct gw_store_options *o, struct tm_error *err);
void gw_pg_disconnect(struct gw_pg_conn *c);
/* Outside a transaction: reconnect when the connection was lost. */
int gw_pg_ready(struct gw_pg_conn *c, struct tm_error *err);
/* Bring the database to the newest schema (an advisory lock: one gateway
 * migrates, the others wait and find it done). */
int gw_pg_migrate(struct gw_pg_conn *c, struct tm_error *err);
int gw_pg_schema_version(struct gw_pg_conn *c, int *in_db, struct tm_error *err);

/* ---- statements (parameters, results: store_pg.c; sending, walking
 * rows: store_pg_exec.c) ---- */

void gw_pg_params_init(struct gw_pg_params *p);
void gw_pg_text(struct gw_pg_params *p, const char *v);          /* NULL: SQL NULL */
void gw_pg_opt_text(struct gw_pg_params *p, const char *v);      /* NULL or "": SQL NULL */
void gw_pg_int(struct gw_pg_params *p, long long v);
void gw_pg_opt_int(struct gw_pg_params *p, long long v, long long unset);
void gw_pg_bytes(struct gw_pg_params *p, const void *v, size_t len);  /* binary */

/* Run sql; *res (when res is not NULL) holds the result on success (PQclear
 * it). GW_STORE_OK, or gw_pg_fail's code. */
int gw_pg_exec(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
	       PGresult **res, const char *what, struct tm_error *err);
/* The same with a savepoint around it inside a transaction, so that a
 * failing statement (a unique key) does not end the transaction: PostgreSQL
 * aborts a transaction at its first error, SQLite does not. */
int gw_pg_exec_safe(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		    PGresult **res, const char *what, struct tm_error *err);
/* Map a failed result (NULL: no result at all) to RETRY or ERROR. */
int gw_pg_fail(struct gw_pg_conn *c, const PGresult *r, const char *what, struct tm_error *err);
/* The SQLSTATE of a failed result ("" when none). */
const char *gw_pg_sqlstate(const PGresult *r);

/* column helpers: "" / 0 for NULL */
void gw_pg_col_text(const PGresult *r, int row, int col, char *out, size_t cap);
long long gw_pg_col_int(const PGresult *r, int row, int col);

/* ---- pipelining (store_pg_pipe.c; struct gw_pg_pipe above) ---- */
int gw_pg_pipe_begin(struct gw_pg_conn *c, struct gw_pg_pipe *pp, struct tm_error *err);
int gw_pg_pipe_send(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		    bool keep, const char *what, int *slot, struct tm_error *err);
int gw_pg_pipe_sync(struct gw_pg_conn *c, struct tm_error *err);
void gw_pg_pipe_clear(struct gw_pg_pipe *pp);

/* Statements sent ahead: inside a transaction, a write whose result is not
 * wanted goes into a pipe of the connection's own (c->later) and is not
 * waited for; the next statement that is waited for (gw_pg_exec: a read,
 * RELEASE of an item, COMMIT) joins that pipe and its sync answers for all
 * of them (the first failure, named by its `what`), one round trip where
 * there were several. A pipe the caller begins takes them along; a
 * ROLLBACK, a text of several statements or a streamed walk syncs them
 * first. Outside a transaction: gw_pg_exec. The item's RELEASE is always
 * waited for, so a failure sent ahead is the failure of its own item. */
int gw_pg_exec_later(struct gw_pg_conn *c, const char *sql, const struct gw_pg_params *p,
		     const char *what, struct tm_error *err);
/* Sync what was sent ahead (none: OK). */
int gw_pg_later_flush(struct gw_pg_conn *c, struct tm_error *err);

/* Rows of a list: one multi-row INSERT per up to GW_PG_ROWS_MAX rows.
 * head ends with VALUES; tail follows the rows (NULL: none). bind adds the
 * `cols` parameters of row i. */
#define GW_PG_ROWS_MAX 32
typedef void (*gw_pg_bind_row_fn)(struct gw_pg_params *p, const void *ctx, size_t i);
int gw_pg_put_rows(struct gw_pg_conn *c, const char *head, int cols, const char *tail, size_t n,
		   gw_pg_bind_row_fn bind, const void *ctx, const char *what, struct tm_error *err);
/* The same, each statement sent ahead (gw_pg_exec_later). */
int gw_pg_put_rows_later(struct gw_pg_conn *c, const char *head, int cols, const char *tail,
			 size_t n, gw_pg_bind_row_fn bind, const void *ctx, const char *what,
			 struct tm_error *err);

/* Rows of a SELECT: fill makes row i of r into *row. walk hands every row
 * to call(cb, ctx, row) and stops at (and returns) a non-zero result;
 * get_one fills *out with the first row, *found false when there is none. */
typedef void (*gw_pg_fill_fn)(const PGresult *r, int i, void *row);
/* walk's rows of a result at hand (one read in a pipe) */
int gw_pg_walk_result(const PGresult *r, gw_pg_fill_fn fill, void *row,
		      int (*call)(void *cb, void *ctx, void *row), void *cb, void *ctx);
int gw_pg_walk(struct gw_pg *s, const char *sql, const struct gw_pg_params *p, gw_pg_fill_fn fill,
	       void *row, int (*call)(void *cb, void *ctx, void *row), void *cb, void *ctx,
	       const char *what, struct tm_error *err);
/* gw_pg_walk for a big read (p non-NULL): the rows one at a time as the
 * server sends them (libpq's single-row mode), not the whole result in
 * memory at once (billing's readings: 660 MB for a year of 1,000 devices). */
int gw_pg_walk_stream(struct gw_pg *s, const char *sql, const struct gw_pg_params *p,
		      gw_pg_fill_fn fill, void *row, int (*call)(void *cb, void *ctx, void *row),
		      void *cb, void *ctx, const char *what, struct tm_error *err);
int gw_pg_get_one(struct gw_pg *s, const char *sql, const struct gw_pg_params *p,
		  gw_pg_fill_fn fill, void *out, bool *found, const char *what,
		  struct tm_error *err);

/* ---- records (store_pg_put.c) ---- */
int gw_pg_lock_devices(void *s, const char *const *serials, size_t n, struct tm_error *err);
int gw_pg_put(void *s, const struct gw_store_record *r, struct gw_put_info *info,
	      struct tm_error *err);
int gw_pg_log(void *s, const struct gw_msglog_entry *e, struct tm_error *err);
int gw_pg_msglog_get(void *s, const char *raw_sha256, const char *message_id,
		     struct gw_msglog_row *out, bool *found, struct tm_error *err);
int gw_pg_report_get(void *s, const char *report_id, struct gw_report_ref *out, bool *found,
		     struct tm_error *err);

/* ---- collectors (store_pg_collector.c) ---- */
int gw_pg_put_collector(struct gw_pg_conn *c, const struct gw_store_record *rec,
			int64_t generated, struct tm_error *err);
int gw_pg_unreachable_list(void *s, gw_store_unreachable_cb cb, void *ctx, struct tm_error *err);
int gw_pg_collector_bindings(void *s, gw_store_collector_binding_cb cb, void *ctx,
			     struct tm_error *err);

/* ---- registry (store_pg_registry.c) ---- */
int gw_pg_tenant_add(void *s, const char *name, const char *parent, int64_t now,
		     struct tm_error *err);
int gw_pg_tenant_get(void *s, const char *name, struct gw_tenant_row *out, bool *found,
		     struct tm_error *err);
int gw_pg_tenant_set_parent(void *s, const char *name, const char *parent, struct tm_error *err);
int gw_pg_tenant_list(void *s, gw_store_tenant_cb cb, void *ctx, struct tm_error *err);
int gw_pg_cert_add(void *s, const struct gw_cert_row *c, struct tm_error *err);
int gw_pg_cert_get(void *s, const char *fingerprint, struct gw_cert_row *out, bool *found,
		   struct tm_error *err);
int gw_pg_cert_revoke(void *s, const char *fingerprint, int64_t at, struct tm_error *err);
int gw_pg_cert_list(void *s, gw_store_cert_cb cb, void *ctx, struct tm_error *err);
int gw_pg_binding_add(void *s, const char *fingerprint, const char *serial, struct tm_error *err);
int gw_pg_binding_has(void *s, const char *fingerprint, const char *serial, bool *found,
		      struct tm_error *err);
int gw_pg_device_add(void *s, const char *serial, const char *tenant, int64_t now,
		     struct tm_error *err);
int gw_pg_signer_get(void *s, const char *fingerprint, const char *serial,
		     struct gw_signer_rows *out, struct tm_error *err);
int gw_pg_device_get(void *s, const char *serial, struct gw_device_row *out, bool *found,
		     struct tm_error *err);
int gw_pg_device_list(void *s, gw_store_device_cb cb, void *ctx, struct tm_error *err);

/* ---- service (store_pg_service.c) ---- */
int gw_pg_alert_find_active(void *s, const char *serial, const char *kind, const char *subject,
			    struct gw_alert_row *out, bool *found, struct tm_error *err);
int gw_pg_alert_insert(void *s, struct gw_alert_row *a, struct tm_error *err);
int gw_pg_alert_update(void *s, const struct gw_alert_row *a, struct tm_error *err);
int gw_pg_alert_get(void *s, int64_t id, struct gw_alert_row *out, bool *found,
		    struct tm_error *err);
int gw_pg_alert_list(void *s, bool active_only, gw_store_alert_cb cb, void *ctx,
		     struct tm_error *err);
int gw_pg_mark_get(void *s, const char *serial, const char *key, struct gw_mark_row *out,
		   bool *found, struct tm_error *err);
int gw_pg_mark_set(void *s, const char *serial, const char *key, const struct gw_mark_row *m,
		   struct tm_error *err);
int gw_pg_alert_repeat(void *s, const struct gw_alert_row *a, struct tm_error *err);
int gw_pg_alert_list_device(void *s, const char *serial, gw_store_alert_cb cb, void *ctx,
			    struct tm_error *err);
int gw_pg_device_load(void *s, const char *serial, gw_store_mark_cb mark_cb,
		      gw_store_alert_cb alert_cb, void *ctx, int stop[2], struct tm_error *err);
/* device_load's two statements sent into c's open pipe (slot: their
 * results), and their results walked (store_pg_reads.c) */
int gw_pg_device_load_send(struct gw_pg_conn *c, const char *serial, int slot[2],
			   struct tm_error *err);
void gw_pg_device_load_take(const PGresult *marks, const PGresult *alerts,
			    gw_store_mark_cb mark_cb, gw_store_alert_cb alert_cb, void *ctx,
			    int stop[2]);
int gw_pg_mark_list(void *s, const char *serial, gw_store_mark_cb cb, void *ctx,
		    struct tm_error *err);
int gw_pg_mark_set_many(void *s, const char *serial, const struct gw_mark_entry *const *marks,
			size_t n, struct tm_error *err);
int gw_pg_notify_add(void *s, const struct gw_notify_row *n, bool *added, struct tm_error *err);
int gw_pg_notify_update(void *s, const struct gw_notify_row *n, struct tm_error *err);
int gw_pg_notify_list(void *s, enum gw_notify_which which, gw_store_notify_cb cb, void *ctx,
		      struct tm_error *err);
int gw_pg_audit_last(void *s, struct gw_audit_row *out, bool *found, struct tm_error *err);
int gw_pg_audit_insert(void *s, const struct gw_audit_row *a, struct tm_error *err);
int gw_pg_audit_list(void *s, gw_store_audit_cb cb, void *ctx, struct tm_error *err);
int gw_pg_supply_list(void *s, gw_store_supply_cb cb, void *ctx, struct tm_error *err);
/* several gateways (issue 16; store_pg_service.c) */
int gw_pg_notify_claim(void *s, const char *owner, int64_t now, int64_t lease, size_t max,
		       gw_store_notify_cb cb, void *ctx, struct tm_error *err);
int gw_pg_notify_release(void *s, const char *owner, struct tm_error *err);
int gw_pg_try_singleton(void *s, const char *name, bool *got, struct tm_error *err);
int gw_pg_shared_counts(void *s, int64_t now, struct gw_store_shared_counts *out,
			struct tm_error *err);

/* ---- store copy's side (store_pg_copy.c) ---- */
int gw_pg_table_count(void *s, const char *table, int64_t *n, struct tm_error *err);
int gw_pg_table_write(void *s, const struct gw_table_spec *t, const struct gw_cell *rows,
		      size_t nrows, struct tm_error *err);
int gw_pg_copy_begin(void *s, struct tm_error *err);
int gw_pg_copy_end(void *s, const struct gw_table_spec *tables, size_t n, struct tm_error *err);

/* ---- reporting roles (store_pg_reporting.c) ---- */
int gw_pg_reporting_grant(void *s, const char *role, const char *tenant, struct tm_error *err);
int gw_pg_reporting_revoke(void *s, const char *role, bool *found, struct tm_error *err);

/* ---- retention (store_pg_retention.c) ---- */
int gw_pg_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err);

/* ---- forwarding's outbox (store_pg_forward.c) ---- */
int gw_pg_fwd_add(void *s, const struct gw_fwd_event_in *ev, int64_t now, struct tm_error *err);
int gw_pg_fwd_fanout(void *s, const char *endpoint, gw_fwd_filter_cb filter, void *ctx,
		     int64_t now, size_t max, size_t *added, struct tm_error *err);
int gw_pg_fwd_claim(void *s, const char *endpoint, const char *owner, size_t max_items,
		    size_t max_bytes, int64_t now, int64_t lease, struct gw_fwd_item **out,
		    size_t *n, struct tm_error *err);
int gw_pg_fwd_done(void *s, const char *endpoint, const char *batch, enum gw_fwd_fate fate,
		   int64_t next_at, const char *error, int64_t now, struct tm_error *err);
int gw_pg_fwd_stats(void *s, const char *endpoint, struct gw_fwd_stats *out,
		    struct tm_error *err);
int gw_pg_fwd_dead_list(void *s, struct gw_fwd_item **out, size_t *n, struct tm_error *err);
int gw_pg_fwd_dead_retry(void *s, int64_t id, int64_t now, size_t *changed,
			 struct tm_error *err);
int gw_pg_fwd_dead_drop(void *s, int64_t id, size_t *changed, struct tm_error *err);

/* ---- web reads (store_pg_web.c) ---- */
int gw_pg_web_devices(void *s, const char *serial, gw_store_web_device_cb cb, void *ctx,
		      struct tm_error *err);
int gw_pg_web_supplies(void *s, const char *serial, gw_store_supply_cb cb, void *ctx,
		       struct tm_error *err);
int gw_pg_web_supply_history(void *s, const char *serial, int64_t since,
			     gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
int gw_pg_web_counter_history(void *s, const char *serial, int64_t since,
			      gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
int gw_pg_web_reports(void *s, const char *serial, int64_t limit, gw_store_web_report_cb cb,
		      void *ctx, struct tm_error *err);
int gw_pg_web_firmware(void *s, const char *serial, gw_store_web_firmware_cb cb, void *ctx,
		       struct tm_error *err);
int gw_pg_web_counters(void *s, const char *serial, gw_store_web_point_cb cb, void *ctx,
		       struct tm_error *err);
int gw_pg_web_outcomes(void *s, gw_store_web_outcome_cb cb, void *ctx, struct tm_error *err);

/* A device's one report just before (after) an instant and seq, given as
 * three SQL values "at, at_nsec, seq": appended to a WHERE on reports r,
 * which the report-time index answers in one walk. NEWEST_FIRST alone
 * orders r newest first and keeps one. */
#define GW_PG_NEWEST_FIRST " ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1"
#define GW_PG_REPORT_BEFORE(t) \
	" AND (r.generated_unix, r.generated_nsec, r.seq) < (" t ")" GW_PG_NEWEST_FIRST
#define GW_PG_REPORT_AFTER(t) \
	" AND (r.generated_unix, r.generated_nsec, r.seq) > (" t ")" \
	" ORDER BY r.generated_unix, r.generated_nsec, r.seq LIMIT 1"
/* head, the report just after (after) or before t, then tail: the two
 * statements, the one chosen at run time */
#define GW_PG_REPORT_NEXT(after, head, t, tail) \
	((after) ? head GW_PG_REPORT_AFTER(t) tail : head GW_PG_REPORT_BEFORE(t) tail)

/* ---- meter readings (store_pg_meter.c) ---- */
/* A meter reading of a SELECT serial, tenant, seq, generated_unix, service,
 * name, value, generated_nsec (row i of r into a struct gw_meter_row). */
void gw_pg_meter_row(const PGresult *r, int i, void *out);
int gw_pg_meter_list(void *s, bool latest, int64_t until, gw_store_meter_cb cb, void *ctx,
		     struct tm_error *err);
int gw_pg_meter_range(void *s, int64_t since, int64_t until, gw_store_meter_cb cb, void *ctx,
		      struct tm_error *err);
/* The neighbours of n counters (meter_adjacent_many): from the
 * neighbouring report's packed counters, the counters it lacks by
 * gw_pg_meter_adjacent_joined (store_pg_supply.c: a LATERAL each). */
/* one ask's first statement sent into c's open pipe (*slot), and the ask
 * answered from its result (a round trip more for counters its
 * neighbouring report lacks) */
int gw_pg_meter_adjacent_send(struct gw_pg_conn *c, const char *serial,
			      const struct gw_meter_ask *k, int *slot, struct tm_error *err);
int gw_pg_meter_adjacent_take(struct gw_pg *s, const char *serial, const struct gw_meter_ask *k,
			      const PGresult *r, struct tm_error *err);
int gw_pg_meter_adjacent_many(void *s, const char *serial, size_t n,
			      const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
			      int64_t seq, bool after, struct gw_meter_row *out, bool *found,
			      struct tm_error *err);
/* A report's counters packed in its row (reports.meters, schema v15), as
 * billing's read takes them: a line "service name value" each, '%', ' '
 * and a newline of a name written %25, %20 and %0A (the SQL function
 * telemail_meter_esc); NULL: no counters. Append one; -1: out of memory. */
struct tm_buf;
int gw_pg_meters_add(struct tm_buf *b, const char *service, const char *name, int64_t value);
/* The next counter of packed text *p into m's service, name and value: 1,
 * 0 at the end, -1 malformed. */
int gw_pg_meters_next(const char **p, struct gw_meter_row *m);
/* Report r's counters packed, made from its counters table rows (as the
 * put packs them) */
#define GW_PG_METERS_OF_COUNTERS \
	"(SELECT string_agg(telemail_meter_esc(c.service) || ' ' || telemail_meter_esc(c.name)" \
	" || ' ' || c.value, E'\\n' ORDER BY c.service COLLATE \"C\", c.name COLLATE \"C\")" \
	" FROM counters c WHERE c.report = r.id)"
/* reports.meters of the reports r where it is NULL (migration 15, store
 * copy) */
#define GW_PG_METERS_FILL "UPDATE reports r SET meters = " GW_PG_METERS_OF_COUNTERS \
	" WHERE r.meters IS NULL"
/* What a read takes as report r's packed counters: a report a gateway
 * older than schema v15 stored beside a newer one (no meters) has them
 * made from its counters */
#define GW_PG_METERS_READ "COALESCE(r.meters, " GW_PG_METERS_OF_COUNTERS ")"

/* ---- supplies, orders, meter decisions (store_pg_supply.c) ---- */
int gw_pg_supply_history(void *s, const char *serial, int64_t idx, int64_t since,
			 gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err);
int gw_pg_supply_tail_get(void *s, const char *serial, int64_t idx, struct gw_supply_tail *out,
			  bool *found, struct tm_error *err);
int gw_pg_supply_before(void *s, const char *serial, int64_t idx, int64_t at, int32_t at_nsec,
			int64_t seq, struct gw_supply_hist_row *out, bool *found,
			struct tm_error *err);
int gw_pg_supply_before_many(void *s, const char *serial, size_t n, const int64_t *idx,
			     int64_t at, int32_t at_nsec, int64_t seq,
			     struct gw_supply_hist_row *out, bool *found, struct tm_error *err);
/* supply_before_many's statement sent into c's open pipe (*slot; n at most
 * GW_SUPPLY_BEFORE_MAX), and its result read into out and found */
int gw_pg_supply_before_send(struct gw_pg_conn *c, const char *serial, size_t n,
			     const int64_t *idx, int64_t at, int32_t at_nsec, int64_t seq,
			     int *slot, struct tm_error *err);
void gw_pg_supply_before_take(const PGresult *r, size_t n, struct gw_supply_hist_row *out,
			      bool *found);
/* the reads of a stored report at once (store_pg_reads.c); sent into c's
 * open pipe (the put's, sl: where their results are, at most
 * GW_PG_READS_SLOTS statements) and taken from its results */
int gw_pg_report_reads(void *s, const char *serial, struct gw_report_reads *rr,
		       struct tm_error *err);
struct gw_pg_reads_slots {
	int dev[2], sup, ask[GW_METER_ASKS_MAX];
};
#define GW_PG_READS_SLOTS (2 * (3 + GW_METER_ASKS_MAX))   /* each with its Parse */
int gw_pg_report_reads_send(struct gw_pg_conn *c, const char *serial,
			    const struct gw_report_reads *rr, struct gw_pg_reads_slots *sl,
			    struct tm_error *err);
int gw_pg_report_reads_take(struct gw_pg *s, const char *serial, struct gw_report_reads *rr,
			    const struct gw_pg_reads_slots *sl, PGresult *const *res,
			    struct tm_error *err);
int gw_pg_supply_rule_get(void *s, const char *tenant, struct gw_supply_rule_row *out,
			  bool *found, struct tm_error *err);
int gw_pg_supply_rule_set(void *s, const struct gw_supply_rule_row *r, struct tm_error *err);
int gw_pg_order_insert(void *s, struct gw_order_row *o, struct tm_error *err);
int gw_pg_order_update(void *s, const struct gw_order_row *o, struct tm_error *err);
int gw_pg_order_get(void *s, int64_t id, struct gw_order_row *out, bool *found,
		    struct tm_error *err);
int gw_pg_order_find(void *s, const char *serial, int64_t idx, int64_t cartridge,
		     struct gw_order_row *out, bool *found, struct tm_error *err);
int gw_pg_order_list(void *s, const char *serial, int64_t idx, gw_store_order_cb cb, void *ctx,
		     struct tm_error *err);
int gw_pg_order_event_insert(void *s, struct gw_order_event_row *e, struct tm_error *err);
int gw_pg_order_event_list(void *s, int64_t order_id, gw_store_order_event_cb cb, void *ctx,
			   struct tm_error *err);
int gw_pg_supply_forecast_set(void *s, const char *serial, int64_t idx,
			      const struct gw_supply_forecast_row *f, struct tm_error *err);
int gw_pg_meter_decision_set(void *s, const struct gw_meter_decision_row *d,
			     struct tm_error *err);
int gw_pg_meter_decision_list(void *s, gw_store_meter_decision_cb cb, void *ctx,
			      struct tm_error *err);
int gw_pg_meter_get(void *s, const char *serial, int64_t seq, const char *service,
		    const char *name, struct gw_meter_row *out, bool *found, struct tm_error *err);
int gw_pg_meter_adjacent(void *s, const char *serial, const char *service, const char *name,
			 int64_t at, int32_t at_nsec, int64_t seq, bool after, struct gw_meter_row *out,
			 bool *found, struct tm_error *err);
int gw_pg_meter_adjacent_joined(void *s, const char *serial, size_t n,
			      const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
			      int64_t seq, bool after, struct gw_meter_row *out, bool *found,
			      struct tm_error *err);

#endif

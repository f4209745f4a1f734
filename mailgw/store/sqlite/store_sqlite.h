/* telemail-mailgw — internal: the SQLite back end's shared state.
 * Only store_sqlite*.c include sqlite3.h. */
#ifndef GW_STORE_SQLITE_H
#define GW_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "store/store.h"

/* Prepared statements, cached per connection (index into gw_sq_sql). */
enum gw_sq_stmt {
	SQ_REPORT_BY_ID,
	SQ_REPORT_BY_SEQ,
	SQ_REPORT_INSERT,
	SQ_JSON_INSERT,
	SQ_DEVICE_ENSURE,
	SQ_DEVICE_NEWEST,
	SQ_LATEST_SUPPLY_CLEAR,
	SQ_MSGLOG_UPSERT,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ITEM_SAVEPOINT,
	SQ_ITEM_RELEASE,
	SQ_ITEM_ROLLBACK,
	SQ_MSGLOG_GET,
	SQ_TENANT_ADD,
	SQ_TENANT_GET,
	SQ_TENANT_SET_PARENT,
	SQ_TENANT_LIST,
	SQ_CERT_ADD,
	SQ_CERT_GET,
	SQ_CERT_REVOKE,
	SQ_CERT_LIST,
	SQ_BINDING_ADD,
	SQ_BINDING_HAS,
	SQ_DEVICE_ADD,
	SQ_DEVICE_GET,
	SQ_DEVICE_LIST,
	SQ_COUNT_
};

#define GW_SQ_SVC_MAX 32
#define GW_SQ_FWD_MAX 24
#define GW_SQ_SUPPLY_MAX 24   /* store_sqlite_supply.c's statements */
#define GW_SQ_METER_MAX 8     /* store_sqlite_meter.c's */

/* Statements that write up to GW_SQ_ROWS_MAX rows at once (a multi-row
 * INSERT, or an IN list), prepared once per row count. 32 rows of at most 10
 * columns (320 parameters) stay far below SQLITE_LIMIT_VARIABLE_NUMBER (32766). */
#define GW_SQ_ROWS_MAX 32

enum gw_sq_rowset {
	SQR_COUNTER,
	SQR_SUPPLY,
	SQR_LATEST_SUPPLY,
	SQR_PART,
	SQR_ALERT,
	SQR_DIAG,
	SQR_FIRMWARE,
	SQR_MARK_SET,
	SQR_COUNT_
};

/* head, then n groups of `cols` parameters ("(?, ?)", or a bare "?" when
 * cols is 1, for IN lists), then tail (NULL: none). The head_params
 * parameters numbered in head (?1, ?2 …) come first; the rows' follow. */
struct gw_sq_rows {
	enum gw_sq_rowset set;
	const char *head;
	int cols;
	const char *tail;
	int head_params;
};

struct gw_sq {
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ_COUNT_];
	sqlite3_stmt *svc[GW_SQ_SVC_MAX];   /* store_sqlite_service.c's own statement cache */
	sqlite3_stmt *supply[GW_SQ_SUPPLY_MAX];   /* store_sqlite_supply.c's */
	sqlite3_stmt *meter[GW_SQ_METER_MAX];     /* store_sqlite_meter.c's */
	sqlite3_stmt *rows[SQR_COUNT_][GW_SQ_ROWS_MAX];   /* [set][n - 1] */
	sqlite3_stmt *fwd[GW_SQ_FWD_MAX];   /* store_sqlite_forward.c's own statement cache */
	bool in_tx;
	bool forward;   /* options.forward: put queues its report event */
	char *path;   /* the database file, for messages and migrate */
};

/* the quarantine's own database (store_sqlite_quarantine.c) */
extern const struct gw_quarantine_ops gw_sq_quarantine_ops;

/* schema: versioned migrations (store_sqlite_schema.c) */
extern const char *const gw_sq_migrations[];
extern const size_t gw_sq_n_migrations;

/* A cached statement, reset and with bindings cleared (NULL: err filled). */
sqlite3_stmt *gw_sq_stmt(struct gw_sq *q, enum gw_sq_stmt which, struct tm_error *err);
/* A statement prepared once into *slot (persistent), reset and unbound. */
sqlite3_stmt *gw_sq_cached(struct gw_sq *q, sqlite3_stmt **slot, const char *sql,
			   struct tm_error *err);
/* Step a statement that returns no row; reset it. GW_STORE_OK or gw_sq_fail's code. */
int gw_sq_step_done(struct gw_sq *q, sqlite3_stmt *s, const char *what, struct tm_error *err);
/* The statement of `spec` for n rows (1 <= n <= GW_SQ_ROWS_MAX), reset and unbound. */
sqlite3_stmt *gw_sq_rows_stmt(struct gw_sq *q, const struct gw_sq_rows *spec, size_t n,
			      struct tm_error *err);
/* Bind row i of the caller's list from parameter `first` on. */
typedef void (*gw_sq_bind_row_fn)(sqlite3_stmt *s, int first, const void *ctx, size_t i);
/* Write n rows (any number) with spec's statements, GW_SQ_ROWS_MAX at a time. */
int gw_sq_put_rows(struct gw_sq *q, const struct gw_sq_rows *spec, size_t n,
		   gw_sq_bind_row_fn bind, const void *ctx, const char *what, struct tm_error *err);
/* Map a SQLite result code to RETRY (busy/locked/full/io) or ERROR, filling err. */
int gw_sq_fail(struct gw_sq *q, int sqlite_rc, const char *what, struct tm_error *err);

/* bind helpers: NULL text binds SQL NULL; TM_UNSET / 0-as-unset handled by callers */
int gw_sq_bind_text(sqlite3_stmt *s, int i, const char *v);
int gw_sq_bind_int(sqlite3_stmt *s, int i, long long v);
int gw_sq_bind_opt_int(sqlite3_stmt *s, int i, long long v, long long unset);
/* copy column text into a fixed buffer ("" for NULL, cut at cap - 1) */
void gw_sq_col_text(sqlite3_stmt *s, int col, char *out, size_t cap);

/* records: put and the message log (store_sqlite_put.c) */
int gw_sq_put(void *s, const struct gw_store_record *r, struct gw_put_info *info,
	      struct tm_error *err);
int gw_sq_log(void *s, const struct gw_msglog_entry *e, struct tm_error *err);

/* collectors' unreachable devices (store_sqlite_collector.c) */
int gw_sq_put_collector(struct gw_sq *q, const struct gw_store_record *rec, int64_t generated,
			struct tm_error *err);
int gw_sq_unreachable_list(void *s, gw_store_unreachable_cb cb, void *ctx, struct tm_error *err);
int gw_sq_collector_bindings(void *s, gw_store_collector_binding_cb cb, void *ctx,
			     struct tm_error *err);

/* registry ops (store_sqlite_registry.c) */
int gw_sq_tenant_add(void *s, const char *name, const char *parent, int64_t now,
		     struct tm_error *err);
int gw_sq_tenant_get(void *s, const char *name, struct gw_tenant_row *out, bool *found,
		     struct tm_error *err);
int gw_sq_tenant_set_parent(void *s, const char *name, const char *parent, struct tm_error *err);
int gw_sq_tenant_list(void *s, gw_store_tenant_cb cb, void *ctx, struct tm_error *err);
int gw_sq_cert_add(void *s, const struct gw_cert_row *c, struct tm_error *err);
int gw_sq_cert_get(void *s, const char *fingerprint, struct gw_cert_row *out, bool *found,
		   struct tm_error *err);
int gw_sq_cert_revoke(void *s, const char *fingerprint, int64_t at, struct tm_error *err);
int gw_sq_cert_list(void *s, gw_store_cert_cb cb, void *ctx, struct tm_error *err);
int gw_sq_binding_add(void *s, const char *fingerprint, const char *serial, struct tm_error *err);
int gw_sq_binding_has(void *s, const char *fingerprint, const char *serial, bool *found,
		      struct tm_error *err);
int gw_sq_device_add(void *s, const char *serial, const char *tenant, int64_t now,
		     struct tm_error *err);
int gw_sq_device_get(void *s, const char *serial, struct gw_device_row *out, bool *found,
		     struct tm_error *err);
int gw_sq_device_list(void *s, gw_store_device_cb cb, void *ctx, struct tm_error *err);

/* service ops (store_sqlite_service.c) */
int gw_sq_alert_find_active(void *s, const char *serial, const char *kind, const char *subject,
			    struct gw_alert_row *out, bool *found, struct tm_error *err);
int gw_sq_alert_insert(void *s, struct gw_alert_row *a, struct tm_error *err);
int gw_sq_alert_update(void *s, const struct gw_alert_row *a, struct tm_error *err);
int gw_sq_alert_get(void *s, int64_t id, struct gw_alert_row *out, bool *found,
		    struct tm_error *err);
int gw_sq_alert_list(void *s, bool active_only, gw_store_alert_cb cb, void *ctx,
		     struct tm_error *err);
int gw_sq_mark_get(void *s, const char *serial, const char *key, struct gw_mark_row *out,
		   bool *found, struct tm_error *err);
int gw_sq_mark_set(void *s, const char *serial, const char *key, const struct gw_mark_row *m,
		   struct tm_error *err);
int gw_sq_alert_repeat(void *s, const struct gw_alert_row *a, struct tm_error *err);
int gw_sq_alert_list_device(void *s, const char *serial, gw_store_alert_cb cb, void *ctx,
			    struct tm_error *err);
int gw_sq_mark_list(void *s, const char *serial, gw_store_mark_cb cb, void *ctx,
		    struct tm_error *err);
int gw_sq_mark_set_many(void *s, const char *serial, const struct gw_mark_entry *const *marks,
			size_t n, struct tm_error *err);
int gw_sq_notify_add(void *s, const struct gw_notify_row *n, bool *added, struct tm_error *err);
int gw_sq_notify_update(void *s, const struct gw_notify_row *n, struct tm_error *err);
int gw_sq_notify_list(void *s, enum gw_notify_which which, gw_store_notify_cb cb, void *ctx,
		      struct tm_error *err);
int gw_sq_audit_last(void *s, struct gw_audit_row *out, bool *found, struct tm_error *err);
int gw_sq_audit_insert(void *s, const struct gw_audit_row *a, struct tm_error *err);
int gw_sq_audit_list(void *s, gw_store_audit_cb cb, void *ctx, struct tm_error *err);
int gw_sq_meter_list(void *s, bool latest, int64_t until, gw_store_meter_cb cb, void *ctx,
		     struct tm_error *err);
int gw_sq_supply_list(void *s, gw_store_supply_cb cb, void *ctx, struct tm_error *err);
int gw_sq_meter_range(void *s, int64_t since, int64_t until, gw_store_meter_cb cb, void *ctx,
		      struct tm_error *err);

/* forwarding: the outbox (store_sqlite_forward.c) */
int gw_sq_fwd_add(void *s, const struct gw_fwd_event_in *ev, int64_t now, struct tm_error *err);
int gw_sq_fwd_fanout(void *s, const char *endpoint, gw_fwd_filter_cb filter, void *ctx,
		     int64_t now, size_t max, size_t *added, struct tm_error *err);
int gw_sq_fwd_claim(void *s, const char *endpoint, const char *owner, size_t max_items,
		    size_t max_bytes, int64_t now, int64_t lease, struct gw_fwd_item **out,
		    size_t *n, struct tm_error *err);
int gw_sq_fwd_done(void *s, const char *endpoint, const char *batch, enum gw_fwd_fate fate,
		   int64_t next_at, const char *error, int64_t now, struct tm_error *err);
int gw_sq_fwd_stats(void *s, const char *endpoint, struct gw_fwd_stats *out,
		    struct tm_error *err);
int gw_sq_fwd_dead_list(void *s, struct gw_fwd_item **out, size_t *n, struct tm_error *err);
int gw_sq_fwd_dead_retry(void *s, int64_t id, int64_t now, size_t *changed, struct tm_error *err);
int gw_sq_fwd_dead_drop(void *s, int64_t id, size_t *changed, struct tm_error *err);
/* supply history, order rules, orders, meter decisions (store_sqlite_supply.c) */
int gw_sq_supply_history(void *s, const char *serial, int64_t idx, int64_t since,
			 gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err);
int gw_sq_supply_tail_get(void *s, const char *serial, int64_t idx, struct gw_supply_tail *out,
			  bool *found, struct tm_error *err);
int gw_sq_supply_before(void *s, const char *serial, int64_t idx, int64_t at, int32_t at_nsec,
			int64_t seq, struct gw_supply_hist_row *out, bool *found, struct tm_error *err);
int gw_sq_supply_rule_get(void *s, const char *tenant, struct gw_supply_rule_row *out,
			  bool *found, struct tm_error *err);
int gw_sq_supply_rule_set(void *s, const struct gw_supply_rule_row *r, struct tm_error *err);
int gw_sq_order_insert(void *s, struct gw_order_row *o, struct tm_error *err);
int gw_sq_order_update(void *s, const struct gw_order_row *o, struct tm_error *err);
int gw_sq_order_get(void *s, int64_t id, struct gw_order_row *out, bool *found,
		    struct tm_error *err);
int gw_sq_order_find(void *s, const char *serial, int64_t idx, int64_t cartridge,
		     struct gw_order_row *out, bool *found, struct tm_error *err);
int gw_sq_order_list(void *s, const char *serial, int64_t idx, gw_store_order_cb cb, void *ctx,
		     struct tm_error *err);
int gw_sq_order_event_insert(void *s, struct gw_order_event_row *e, struct tm_error *err);
int gw_sq_order_event_list(void *s, int64_t order_id, gw_store_order_event_cb cb, void *ctx,
			   struct tm_error *err);
int gw_sq_supply_forecast_set(void *s, const char *serial, int64_t idx,
			      const struct gw_supply_forecast_row *f, struct tm_error *err);
int gw_sq_meter_decision_set(void *s, const struct gw_meter_decision_row *d, struct tm_error *err);
int gw_sq_meter_decision_list(void *s, gw_store_meter_decision_cb cb, void *ctx,
			      struct tm_error *err);
int gw_sq_meter_get(void *s, const char *serial, int64_t seq, const char *service, const char *name,
		    struct gw_meter_row *out, bool *found, struct tm_error *err);
int gw_sq_meter_adjacent(void *s, const char *serial, const char *service, const char *name,
			 int64_t at, int32_t at_nsec, int64_t seq, bool after, struct gw_meter_row *out,
			 bool *found, struct tm_error *err);
/* web reads (store_sqlite_web.c) */
int gw_sq_web_devices(void *s, const char *serial, gw_store_web_device_cb cb, void *ctx,
		      struct tm_error *err);
int gw_sq_web_supplies(void *s, const char *serial, gw_store_supply_cb cb, void *ctx,
		       struct tm_error *err);
int gw_sq_web_supply_history(void *s, const char *serial, int64_t since,
			     gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
int gw_sq_web_counter_history(void *s, const char *serial, int64_t since,
			      gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
int gw_sq_web_reports(void *s, const char *serial, int64_t limit, gw_store_web_report_cb cb,
		      void *ctx, struct tm_error *err);
int gw_sq_web_firmware(void *s, const char *serial, gw_store_web_firmware_cb cb, void *ctx,
		       struct tm_error *err);
int gw_sq_web_counters(void *s, const char *serial, gw_store_web_point_cb cb, void *ctx,
		       struct tm_error *err);
int gw_sq_web_outcomes(void *s, gw_store_web_outcome_cb cb, void *ctx, struct tm_error *err);
/* several gateways (issue 16; store_sqlite_service.c) */
int gw_sq_notify_claim(void *s, const char *owner, int64_t now, int64_t lease, size_t max,
		       gw_store_notify_cb cb, void *ctx, struct tm_error *err);
int gw_sq_notify_release(void *s, const char *owner, struct tm_error *err);
int gw_sq_try_singleton(void *s, const char *name, bool *got, struct tm_error *err);
int gw_sq_shared_counts(void *s, int64_t now, struct gw_store_shared_counts *out,
			struct tm_error *err);

/* The row walkers of the per-concern files: step s to its end, handing
 * each row (filled by fill) to cb(ctx, row), or take its one row into
 * *out (found). Both return from the calling function; they expect q, s,
 * cb/ctx (WALK) and err in scope. */
#define WALK(q, s, rowtype, fill, what)                          \
	do {                                                     \
		int rc_;                                         \
		while ((rc_ = sqlite3_step(s)) == SQLITE_ROW) {  \
			rowtype row_;                            \
			fill(s, &row_);                          \
			int stop_ = cb(ctx, &row_);              \
			if (stop_ != 0) {                        \
				sqlite3_reset(s);                \
				return stop_;                    \
			}                                        \
		}                                                \
		sqlite3_reset(s);                                \
		if (rc_ != SQLITE_DONE)                          \
			return gw_sq_fail(q, rc_, what, err);    \
		return GW_STORE_OK;                              \
	} while (0)

/* One row into *out: GW_STORE_OK with *found, or the failure. */
#define GET_ONE(q, s, fill, out, found, what)                    \
	do {                                                     \
		int rc_ = sqlite3_step(s);                       \
		if (rc_ == SQLITE_ROW) {                         \
			fill(s, out);                            \
			*(found) = true;                         \
		}                                                \
		sqlite3_reset(s);                                \
		if (rc_ != SQLITE_ROW && rc_ != SQLITE_DONE)     \
			return gw_sq_fail(q, rc_, what, err);    \
		return GW_STORE_OK;                              \
	} while (0)

/* A meter reading of a SELECT serial, tenant, seq, generated_unix, service,
 * name, value, generated_nsec. */
void gw_sq_meter_row(sqlite3_stmt *s, struct gw_meter_row *m);
/* Each device's latest supplies with their kept forecasts, the columns
 * gw_sq_supply_row reads (store_sqlite_web.c; supply_list orders them by
 * tenant, the fleet page by serial). */
#define GW_SQ_SUPPLY_SQL                                                                \
	"SELECT l.serial, d.tenant, l.seq, l.idx, l.type, l.colorant, l.description, l.unit," \
	" l.max_capacity, l.level, f.ok, f.reason, f.basis, f.confidence, f.empty_at,"      \
	" f.made_at, f.score, f.pages_per_day, f.pct_per_day, f.weekday_pattern"            \
	" FROM latest_supplies l JOIN devices d ON d.serial = l.serial"                     \
	" LEFT JOIN supply_forecasts f ON f.serial = l.serial AND f.idx = l.idx"
void gw_sq_supply_row(sqlite3_stmt *s, struct gw_supply_row *r);

/* store copy's reads (store_sqlite_copy.c) */
int gw_sq_table_count(void *s, const char *table, int64_t *n, struct tm_error *err);
int gw_sq_table_read(void *s, const struct gw_table_spec *t, gw_store_row_cb cb, void *ctx,
		     struct tm_error *err);

/* retention (store_sqlite_retention.c) */
int gw_sq_retention_purge(void *s, int64_t cutoff, int64_t max, struct gw_retention_removed *out,
			  struct tm_error *err);

#endif

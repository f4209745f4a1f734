/* telemail-mailgw — the store interface: where records, the message log and
 * the device registry live.
 *
 * Over 800 lines, on purpose: this is the whole contract between the gateway
 * and a back end (the rows, the ops table, the typed front functions), kept
 * in one header so that a new back end is one table to fill in.
 *
 * A back end is a table of function pointers (struct gw_store_ops), in the
 * style of a Fluent Bit output plugin: every write answers OK, RETRY (a
 * transient failure: roll the batch back and try it again later; reason
 * store.busy / store.unavailable) or ERROR (this record or call is bad, or
 * the back end failed in a way a retry will not mend). Two back ends:
 * SQLite (store/sqlite/, the embedded default) and PostgreSQL
 * (store/postgresql/, several gateways sharing one database).
 *
 * Threads: one struct gw_store is used by one thread at a time. Open one per
 * thread (workers read the registry through their own handle; the writer
 * thread owns the handle that commits). With SQLite in WAL mode readers never
 * block the writer; with PostgreSQL each handle is one connection.
 *
 * Schema versions: each back end applies numbered migrations; version N
 * means the same tables in both. Opening migrates to the newest this
 * program knows (GW_STORE_SCHEMA_MIGRATE) and refuses a database whose
 * version is newer (store.version, worded once by gw_store_refuse_newer).
 *
 * Batching: the writer calls gw_store_begin, then gw_store_put (and
 * gw_store_log) for many records, then gw_store_commit. Each put is atomic on
 * its own (a failing put leaves nothing of that record), and the batch is
 * atomic as a whole: after a crash at any point either every record of the
 * batch is visible or none is. A put writes the report's rows and the
 * message-log row of its message in the same transaction.
 *
 * Idempotence: putting the same record again reports GW_PUT_DUPLICATE and
 * changes nothing (the message-log row of a stored message stays "stored"). */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;
struct tm_report;
struct gw_quarantine_ops;

/* Return codes of every store call. */
enum gw_store_rc {
	GW_STORE_OK = 0,
	GW_STORE_ERROR = -1,   /* permanent for this call, or a back-end failure */
	GW_STORE_RETRY = -2,   /* transient: roll back, retry later (err: store.busy/unavailable) */
};

/* What a put did with the record. */
enum gw_put_result {
	GW_PUT_STORED,      /* new: the report and its rows were written */
	GW_PUT_DUPLICATE,   /* the same report id with the same content is already stored */
	GW_PUT_CONFLICT,    /* report.conflict: same id with other content, or same
			     * (serial, seq) under another id; nothing was written */
};

/* The final state of a received message (DESIGN.md "Outcomes"). */
enum gw_outcome {
	GW_OUTCOME_STORED,
	GW_OUTCOME_DUPLICATE,
	GW_OUTCOME_QUARANTINED,
	GW_OUTCOME_DEFERRED,
};
const char *gw_outcome_name(enum gw_outcome o);
int gw_outcome_parse(const char *s, enum gw_outcome *out);

#define GW_SHA256_HEX 65      /* 64 lower-case hex digits + NUL */
#define GW_MESSAGE_ID_MAX 255 /* Message-ID without <>, bytes */
#define GW_NAME_MAX 64        /* tenant names, serials */

/* One record in: everything the pipeline learned about one report. All
 * pointers are borrowed for the duration of the call. */
struct gw_store_record {
	const struct tm_report *report;   /* the parsed model (report.id, seq, serial set) */
	const char *json;                 /* its canonical JSON (tm_report_normalize) */
	size_t json_len;
	const char *tenant;               /* from gw_registry_check */
	const char *fingerprint;          /* signer certificate SHA-256, hex */
	const char *message_id;           /* without <>, "" when the message had none */
	int64_t received_at;              /* Unix seconds */
	const char *raw_sha256;           /* SHA-256 of the raw message, 64 lower-case hex */
	/* NULL, or what the caller reads after a put that stores the record
	 * (service/alerts.c): a back end may answer it in the put's last round
	 * trip (PostgreSQL), and then sets reads->answered */
	struct gw_report_reads *reads;
};

/* What put says about the record besides its result. */
struct gw_put_info {
	enum gw_put_result result;
	bool same_message;     /* DUPLICATE: the stored copy came from this very raw
				* message (a replay after a crash), not from a resend */
	bool newest;           /* STORED: it is now the device's newest seq (derived
				* facts such as last_seen and latest supplies were updated) */
	char existing_id[GW_NAME_MAX + 1]; /* CONFLICT: the report id already stored */
};

/* One message-log row, keyed by (raw_sha256, message_id). */
struct gw_msglog_entry {
	const char *raw_sha256;
	const char *message_id;   /* "" when absent */
	int64_t received_at;
	enum gw_outcome outcome;
	const char *reason;       /* reason code; NULL for stored/duplicate */
	const char *detail;       /* human message; may be NULL */
	const char *report_id;    /* may be NULL */
	const char *quarantine_id;/* may be NULL */
};

/* A message-log row read back (owned copies). */
struct gw_msglog_row {
	char raw_sha256[GW_SHA256_HEX];
	char message_id[GW_MESSAGE_ID_MAX + 1];
	int64_t received_at;
	int64_t updated_at;
	enum gw_outcome outcome;
	char reason[64];
	char detail[320];
	char report_id[GW_NAME_MAX + 1];
	char quarantine_id[GW_SHA256_HEX];
};

/* A stored report's identity (dedupe lookups). */
struct gw_report_ref {
	char report_id[GW_NAME_MAX + 1];
	char serial[GW_NAME_MAX + 1];
	int64_t seq;
	char tenant[GW_NAME_MAX + 1];
	char raw_sha256[GW_SHA256_HEX];
	int64_t received_at;
};

/* ---- registry rows (the registry logic is in registry.c) ---- */

enum gw_cert_role { GW_ROLE_DEVICE, GW_ROLE_COLLECTOR };

struct gw_tenant_row {
	char name[GW_NAME_MAX + 1];
	char parent[GW_NAME_MAX + 1];   /* "" for a root tenant */
	int64_t created_at;
};

struct gw_cert_row {
	char fingerprint[GW_SHA256_HEX];
	enum gw_cert_role role;
	char tenant[GW_NAME_MAX + 1];
	char serial[GW_NAME_MAX + 1];   /* the subject serialNumber ("" when none) */
	char subject[256];
	int64_t not_after;              /* 0 when unknown */
	int64_t enrolled_at;
	int64_t revoked_at;             /* 0 when not revoked */
	size_t n_devices;               /* bindings (collectors) */
};

struct gw_device_row {
	char serial[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	int64_t enrolled_at;
	int64_t last_seq;        /* 0 when no report yet */
	char last_report_id[GW_NAME_MAX + 1];
	int64_t last_seen;       /* generated_at of the newest seq, Unix seconds; 0 none */
	int32_t last_seen_nsec;  /* and its fraction of a second, 0..999999999 */
	int64_t last_received;   /* newest received_at of any report; 0 none */
	char model[128];
	char state[32];
	char manufacturer[128];  /* of the newest report ("" none) */
};

typedef int (*gw_store_tenant_cb)(void *ctx, const struct gw_tenant_row *t);
typedef int (*gw_store_cert_cb)(void *ctx, const struct gw_cert_row *c);
typedef int (*gw_store_device_cb)(void *ctx, const struct gw_device_row *d);

/* A device a collector could not read, from the newest report of that
 * collector (certificate) that carried a collector section. */
struct gw_unreachable_row {
	char tenant[GW_NAME_MAX + 1];        /* the collector's */
	char fingerprint[GW_SHA256_HEX];     /* the collector's certificate */
	char address[257];
	char serial[GW_NAME_MAX + 1];        /* "" when not known */
	char reason[65];
	int64_t since;                       /* Unix seconds */
	char detail[257];
	int64_t reported_at;                 /* generated_at of that report */
};
/* A non-zero result stops the walk. */
typedef int (*gw_store_unreachable_cb)(void *ctx, const struct gw_unreachable_row *u);

/* A device bound to a collector certificate, with the collector's
 * heartbeat: the generated_at of its newest report that carried a
 * collector section (0: none yet). The silence check (issue 18) reads it. */
struct gw_collector_binding_row {
	char fingerprint[GW_SHA256_HEX];     /* the collector's certificate */
	char tenant[GW_NAME_MAX + 1];        /* the certificate's */
	char serial[GW_NAME_MAX + 1];        /* a device bound to it */
	int64_t heartbeat;                   /* Unix seconds; 0: no collector report yet */
	int64_t revoked_at;                  /* 0: not revoked */
};
typedef int (*gw_store_collector_binding_cb)(void *ctx, const struct gw_collector_binding_row *b);


/* ---- service rows: alerts, marks, notification queue, audit, meters (issue 6) ---- */

enum gw_alert_state { GW_ALERT_OPEN, GW_ALERT_ACKED, GW_ALERT_RESOLVED };
/* "open", "acknowledged", "resolved" */
const char *gw_alert_state_name(enum gw_alert_state s);

#define GW_ALERT_KIND_MAX 32
#define GW_ALERT_SUBJECT_MAX 128
#define GW_ALERT_DETAIL_MAX 256

/* One service alert. At most one row per (serial, kind, subject) is active
 * (open or acknowledged). Times are Unix seconds. */
struct gw_alert_row {
	int64_t id;
	char serial[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	char kind[GW_ALERT_KIND_MAX];
	char subject[GW_ALERT_SUBJECT_MAX];
	char severity[16];             /* critical | warning | info */
	enum gw_alert_state state;
	char detail[GW_ALERT_DETAIL_MAX];
	int64_t first_seen, last_seen, count;
	char report_id[GW_NAME_MAX + 1];   /* the report that raised or last touched it */
	int64_t acked_at;              /* 0: not acknowledged */
	char acked_by[64];
	int64_t resolved_at;           /* 0: not resolved */
};

/* What alert evaluation remembers of a device's newest report (key such as
 * "supply#2", "ctr:total/impressions", "fw:engine"); seq: the report whose
 * evaluation set the value (a report that finds the same value leaves the
 * row as it is). */
struct gw_mark_row {
	int64_t seq;
	bool has_ival;
	int64_t ival;
	char tval[1024];
};

#define GW_MARK_KEY_MAX 96   /* bytes of a mark key, with its NUL */

/* A mark with its key, as listed and written in bulk (mark_list,
 * mark_set_many). inexact (listing only): the stored row does
 * not read back as this copy (a key or text longer than the copy holds, a
 * value of another type), so no write may be skipped as "the same". */
struct gw_mark_entry {
	char key[GW_MARK_KEY_MAX];
	struct gw_mark_row m;
	bool inexact;
};

enum gw_notify_state { GW_NOTIFY_PENDING, GW_NOTIFY_SENT, GW_NOTIFY_FAILED };

/* Which rows notify_list walks, oldest (lowest id) first. */
enum gw_notify_which {
	GW_NOTIFY_LIST_ALL,
	GW_NOTIFY_LIST_PENDING,   /* still to be delivered */
	GW_NOTIFY_LIST_UNSENT,    /* pending and failed */
	GW_NOTIFY_LIST_FAILED,    /* given up: `notify retry` queues them again */
};

/* One notification in the durable queue: UNIQUE (alert_id, event, channel),
 * so one alert transition is queued (and so sent) once per channel. */
struct gw_notify_row {
	int64_t id;
	int64_t alert_id;
	char event[16];                /* opened | resolved */
	char channel[16];              /* email | webhook */
	char kind[GW_ALERT_KIND_MAX];
	char severity[16];
	char tenant[GW_NAME_MAX + 1];
	char payload[2048];            /* JSON of the alert at the transition */
	enum gw_notify_state state;
	int64_t attempts;
	int64_t next_at;               /* not before this time */
	int64_t created_at;            /* queued at (again, by `notify retry`) */
	int64_t sent_at;               /* 0: not sent */
	char last_error[256];
};

/* One audit log entry (hash chain: hash = SHA-256 over the canonical
 * serialization including prev_hash; see audit.h). */
struct gw_audit_row {
	int64_t seq;
	int64_t time;
	char actor[64];
	char action[32];
	char object[160];
	char tenant[GW_NAME_MAX + 1];
	char before_digest[GW_SHA256_HEX];   /* "" when there was nothing before */
	char after_digest[GW_SHA256_HEX];    /* "" when nothing is left after */
	char prev_hash[GW_SHA256_HEX];
	char hash[GW_SHA256_HEX];
};

/* One counter reading (a counters row with its report's time). service is
 * total/print/copy/scan/fax or "vendor" (name = the vendor counter id). */
struct gw_meter_row {
	char serial[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	int64_t seq;
	int64_t at;                    /* generated_at, Unix seconds (the whole ones) */
	int32_t at_nsec;               /* and its fraction, 0..999999999: full precision */
	char service[16];
	char name[GW_NAME_MAX + 1];
	int64_t value;
};

/* A counter of a device: service and name as in gw_meter_row. */
struct gw_meter_key {
	const char *service;
	const char *name;
};

/* Where the forecast kept for a supply lets the next one start reading its
 * history (service/supply.c, forecast.h's gw_forecast_run_tail): the
 * current cartridge, and what the points before it said. */
struct gw_supply_tail {
	int64_t made_at;               /* the newest point read then */
	int64_t cart_key;              /* the current cartridge's key: its first report's
					* seq, 0 for the history's first cartridge */
	int64_t cart_at;               /* that report's generated time */
	bool fine_levels;              /* a level other than 0, 50, 100 seen up to made_at */
};

/* A supply's forecast as made when its level last changed (service/
 * supply.c; days left are counted from empty_at by the reader). */
struct gw_supply_forecast_row {
	bool ok;
	char reason[32];               /* "" when ok */
	char basis[16];                /* pages | time | "" */
	char confidence[16];           /* high | medium | low | "" */
	int64_t empty_at;              /* expected empty (Unix seconds) when ok */
	int64_t made_at;               /* the last point's time */
	/* the figures `supplies` prints besides (SQLite v11, PostgreSQL v14);
	 * figures false: kept before they were, so not all of it is known */
	bool figures;
	double score;                  /* the confidence, 0 to 1 */
	double pages_per_day, pct_per_day;
	bool weekday_pattern;
	struct gw_supply_tail tail;    /* written always; read by supply_tail_get */
};

/* A supply of a device as of its newest report. */
struct gw_supply_row {
	char serial[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	int64_t seq;
	int64_t index;
	char type[32];
	char colorant[64];
	char description[128];
	char unit[32];
	int64_t max_capacity;          /* TM_UNSET when not reported */
	int64_t level;
	struct gw_supply_forecast_row fc;   /* fc.made_at 0: none made yet */
};

typedef int (*gw_store_alert_cb)(void *ctx, const struct gw_alert_row *a);
typedef int (*gw_store_notify_cb)(void *ctx, const struct gw_notify_row *n);
typedef int (*gw_store_audit_cb)(void *ctx, const struct gw_audit_row *a);
typedef int (*gw_store_meter_cb)(void *ctx, const struct gw_meter_row *m);
typedef int (*gw_store_supply_cb)(void *ctx, const struct gw_supply_row *s);
typedef int (*gw_store_mark_cb)(void *ctx, const struct gw_mark_entry *m);

/* ---- forwarding: the transactional outbox (issue 17; logic in mailgw/forward/) ----
 *
 * An event (a stored report, an alert transition) is written to the outbox
 * in the transaction that writes its record, when the store was opened with
 * options.forward. Per endpoint, gw_store_forward_fanout turns the events
 * the endpoint wants into items (a report event may give a `report` and a
 * `meter` item); gw_store_forward_claim leases a batch of due items; the
 * sender reports the batch's fate with gw_store_forward_done. */
/* ---- web reads: the fleet page and the metrics (issue 19) ---- */

/* A device with what its newest report said about it. */
struct gw_web_device_row {
	char serial[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	int64_t enrolled_at;
	int64_t last_seq;              /* 0 when no report yet */
	int64_t last_seen;             /* generated_at of the newest seq; 0 none */
	int64_t last_received;         /* 0 none */
	char manufacturer[128];
	char model[128];
	char name[128];
	char location[256];
	char ip[64];
	char state[32];
};

/* One point of a device's history: a supply's level (key = the supply
 * index) or a counter's value (key 0), at a report's generated_at. */
struct gw_web_point {
	int64_t at;
	int64_t key;
	int64_t value;
	int64_t max_capacity;          /* supplies: TM_UNSET when not reported */
	char label[128];               /* supplies: colorant, else type */
};

/* A stored report of a device, newest first. */
struct gw_web_report_row {
	char report_id[GW_NAME_MAX + 1];
	int64_t seq;
	char kind[32];
	int64_t generated_at;
	int64_t received_at;
	char state[32];
};

/* A firmware component of the device's newest report. */
struct gw_web_firmware_row {
	char component[128];
	char version[128];
};

/* How many message-log rows end in each (outcome, reason). */
struct gw_web_outcome_row {
	enum gw_outcome outcome;
	char reason[64];               /* "" for stored/duplicate */
	int64_t count;
};

typedef int (*gw_store_web_device_cb)(void *ctx, const struct gw_web_device_row *d);
typedef int (*gw_store_web_point_cb)(void *ctx, const struct gw_web_point *p);
typedef int (*gw_store_web_report_cb)(void *ctx, const struct gw_web_report_row *r);
typedef int (*gw_store_web_firmware_cb)(void *ctx, const struct gw_web_firmware_row *f);
typedef int (*gw_store_web_outcome_cb)(void *ctx, const struct gw_web_outcome_row *o);

/* ---- the back-end interface ---- */

enum gw_fwd_kind { GW_FWD_REPORT = 1, GW_FWD_ALERT = 2, GW_FWD_METER = 4, GW_FWD_ORDER = 8 };
/* report | alert | meter | supply_order */
const char *gw_fwd_kind_name(enum gw_fwd_kind k);

#define GW_FWD_ID_MAX 96        /* event id, bytes */
#define GW_FWD_BATCH_KEY 33     /* 32 hex digits + NUL */
#define GW_FWD_ERROR_MAX 512    /* last error / the receiver's reply kept */

/* One event in (borrowed pointers). kind is GW_FWD_REPORT, GW_FWD_ALERT or
 * GW_FWD_ORDER (a supply order's transition). */
struct gw_fwd_event_in {
	enum gw_fwd_kind kind;
	const char *event_id;    /* report id, or the transition id */
	const char *tenant;
	const char *serial;      /* the device ("gateway" for the gateway's own alerts) */
	const char *time;        /* RFC 3339 UTC */
	const char *data;        /* JSON */
	size_t data_len;
};

/* An item of a claimed batch, or of the dead-letter list (owned copies). */
struct gw_fwd_item {
	int64_t id;                       /* the item's id (dead list, retry, drop) */
	char endpoint[GW_NAME_MAX + 1];
	int64_t seq;                      /* the outbox event's sequence number */
	enum gw_fwd_kind kind;
	char event_id[GW_FWD_ID_MAX];
	char tenant[GW_NAME_MAX + 1];
	char serial[GW_NAME_MAX + 1];
	char time[40];
	char *data;                       /* JSON, NUL-terminated (malloc'd) */
	size_t data_len;
	int64_t attempts;
	int64_t queued_at;
	char batch[GW_FWD_BATCH_KEY];     /* "" when not in a batch */
	char last_error[GW_FWD_ERROR_MAX];
};
void gw_fwd_items_free(struct gw_fwd_item *items, size_t n);

/* Which kinds of an event an endpoint wants (0: none). */
typedef unsigned (*gw_fwd_filter_cb)(void *ctx, enum gw_fwd_kind kind, const char *tenant);

/* How a batch ended. */
enum gw_fwd_fate {
	GW_FWD_SENT,        /* accepted: the items are gone (counted as sent) */
	GW_FWD_RETRY,       /* transient: same batch (same key) again at next_at */
	GW_FWD_DEAD,        /* permanent: the items go to the dead-letter list */
};

struct gw_fwd_stats {
	size_t queued;             /* items waiting (in a batch or not) */
	int64_t oldest_queued;     /* queued_at of the oldest; 0: none */
	int64_t sent;              /* items delivered, ever */
	int64_t retries;           /* failed attempts (batches), ever */
	size_t dead;               /* items in the dead-letter list */
	char last_error[GW_FWD_ERROR_MAX];   /* of the newest queued item that has one */
};

/* ---- supplies: history, the order rule, orders and their transitions (issue 18) ---- */

/* One report's word on one supply, with the device's total impressions of
 * the same report (pages TM_UNSET when it had none). */
struct gw_supply_hist_row {
	int64_t seq;
	int64_t at;                    /* generated_at, Unix seconds */
	int32_t at_nsec;
	int64_t level;
	int64_t max_capacity;          /* TM_UNSET when not reported */
	char unit[32];
	char part_number[64];
	int64_t pages;
	char type[32];
	char colorant[64];
	bool replaced;                 /* the report is the agent's supply_replaced event
					* for this supply (trigger subject supplies/<idx>) */
};

/* A tenant's own order rule; -1 where it inherits (from its parent, up to
 * the built-in default). */
struct gw_supply_rule_row {
	char tenant[GW_NAME_MAX + 1];
	int64_t lead_time;             /* seconds */
	int64_t floor;                 /* percent */
	int64_t updated_at;
};

enum gw_order_state { GW_ORDER_OPEN, GW_ORDER_SHIPPED, GW_ORDER_INSTALLED, GW_ORDER_CANCELLED };

/* A replenishment order: one per cartridge (UNIQUE serial, idx, cartridge). */
struct gw_order_row {
	int64_t id;
	char serial[GW_NAME_MAX + 1];
	char tenant[GW_NAME_MAX + 1];
	int64_t idx;
	char subject[GW_ALERT_SUBJECT_MAX];   /* type/colorant#index, as alerts name it */
	int64_t cartridge;             /* seq of the report the cartridge began with; 0: the first */
	enum gw_order_state state;
	char reason[16];               /* lead_time | floor */
	int64_t level;                 /* percent when ordered */
	int64_t days_left;             /* whole days when ordered; -1: no forecast */
	int64_t opened_at, updated_at;
	char report_id[GW_NAME_MAX + 1];
	int64_t alert_id;              /* its supply_order alert (notifications); 0 none */
};

/* One transition of an order, a row with an id of its own (forwarded as an
 * event by id). */
struct gw_order_event_row {
	int64_t id;
	int64_t order_id;
	enum gw_order_state state;
	int64_t at;
	char actor[64];
	char detail[256];
};

/* An operator's decision on one meter reading (billing accept|exclude). */
struct gw_meter_decision_row {
	char serial[GW_NAME_MAX + 1];
	int64_t seq;
	char counter[96];              /* "total/impressions", "vendor/101" */
	bool exclude;                  /* false: accepted as it is */
	char actor[64];
	int64_t at;
};

typedef int (*gw_store_meter_decision_cb)(void *ctx, const struct gw_meter_decision_row *d);
typedef int (*gw_store_supply_hist_cb)(void *ctx, const struct gw_supply_hist_row *h);
typedef int (*gw_store_order_cb)(void *ctx, const struct gw_order_row *o);
typedef int (*gw_store_order_event_cb)(void *ctx, const struct gw_order_event_row *e);

/* ---- moving a store: a table's rows in transit (issue 16; store_copy.h) ---- */

/* One value of a row: as the source holds it (SQLite keeps a value's own
 * type). Text is NUL-terminated; p and len are borrowed for the call. */
enum gw_cell_kind { GW_CELL_NULL, GW_CELL_INT, GW_CELL_REAL, GW_CELL_TEXT, GW_CELL_BYTES };
struct gw_cell {
	enum gw_cell_kind kind;
	int64_t i;
	double r;
	const void *p;
	size_t len;
};

/* A table both back ends have, with the same name and columns (the
 * statements are built from these constants, never from input). order:
 * the ORDER BY of a read; identity: the first column is the table's
 * generated id (a write keeps the source's ids). */
struct gw_table_spec {
	const char *name;
	const char *cols;      /* "a, b, c" */
	int ncols;
	const char *order;
	bool identity;
};

/* What one retention run removed (retention.h). */
struct gw_retention_removed {
	int64_t reports;      /* reports, with their rows */
	int64_t messages;     /* message-log rows */
};

/* A row read: ncols cells. A non-zero result stops the walk. */
typedef int (*gw_store_row_cb)(void *ctx, const struct gw_cell *row, struct tm_error *err);

/* ---- several gateways on one database (issue 16) ---- */

/* The shared state as counted in the database (`status`). */
struct gw_store_shared_counts {
	int64_t devices;
	int64_t reports;
	int64_t alerts_open, alerts_acked;
	int64_t notify_pending;        /* pending, claimed or not */
	int64_t notify_claimed;        /* pending and leased to a gateway now */
	int64_t notify_failed;
};

/* ---- the back-end interface ---- */

/* What opening does with the schema. */
enum gw_store_schema_mode {
	GW_STORE_SCHEMA_MIGRATE = 0,  /* migrate to the newest known; refuse a newer one */
	GW_STORE_SCHEMA_AS_IS,        /* touch nothing (`store status`, `store migrate`) */
};

struct gw_store_options {
	const char *backend;     /* "sqlite" (default) or "postgresql" */
	const char *path;        /* sqlite: the database file (created when absent) */
	int busy_timeout_ms;     /* wait this long for a lock before RETRY (<= 0: 5000) */
	const char *quarantine_dir; /* sqlite: the quarantine's directory (quarantine.h) */
	bool forward;            /* forwarding configured: put and the alert transitions
				  * queue their events in the outbox (issue 17) */
	const char *conninfo;    /* postgresql: libpq conninfo, without a password */
	const char *password_file; /* postgresql: the password's file (NULL: none) */
	enum gw_store_schema_mode schema;
};

struct gw_meter_ask;     /* below, with gw_store_meter_adjacent_asks */
struct gw_report_reads;  /* below, with gw_store_report_reads */
struct gw_signer_rows;   /* below, with gw_store_signer_get */

/* A back end is a folder and this table. Only store.c calls it (through the
 * gw_store_* functions below), as OpenSMTPD's queue_backend.c is the only
 * caller of a queue back end; nothing else sees the back end's state.
 *
 * Every function gets the back end's own state. Each returns an enum
 * gw_store_rc and fills err on failure. `found` outputs are false (and the
 * row untouched) when there is no such row. */
struct gw_store_ops {
	const char *name;
	bool remote;   /* each call waits for a server (gw_store_remote) */
	int (*open)(const struct gw_store_options *o, void **state, struct tm_error *err);
	void (*close)(void *state);

	/* transactions (one level; puts inside use their own savepoints) */
	int (*begin)(void *s, struct tm_error *err);
	int (*commit)(void *s, struct tm_error *err);
	void (*rollback)(void *s);
	/* one item of a batch: a savepoint; item_end keeps it or undoes it
	 * (an error: the batch's transaction is gone, roll it back) */
	int (*item_begin)(void *s, struct tm_error *err);
	int (*item_end)(void *s, bool keep, struct tm_error *err);
	/* the rows of these devices locked for the rest of the batch, in the
	 * order of their serials; NULL: nothing to lock (one writer) */
	int (*lock_devices)(void *s, const char *const *serials, size_t n, struct tm_error *err);

	/* records */
	int (*put)(void *s, const struct gw_store_record *r, struct gw_put_info *info,
		   struct tm_error *err);
	int (*log)(void *s, const struct gw_msglog_entry *e, struct tm_error *err);
	int (*msglog_get)(void *s, const char *raw_sha256, const char *message_id,
			  struct gw_msglog_row *out, bool *found, struct tm_error *err);
	int (*report_get)(void *s, const char *report_id, struct gw_report_ref *out,
			  bool *found, struct tm_error *err);

	/* registry primitives */
	int (*tenant_add)(void *s, const char *name, const char *parent, int64_t now,
			  struct tm_error *err);
	int (*tenant_get)(void *s, const char *name, struct gw_tenant_row *out, bool *found,
			  struct tm_error *err);
	int (*tenant_set_parent)(void *s, const char *name, const char *parent,
				 struct tm_error *err);
	int (*tenant_list)(void *s, gw_store_tenant_cb cb, void *ctx, struct tm_error *err);
	int (*cert_add)(void *s, const struct gw_cert_row *c, struct tm_error *err);
	int (*cert_get)(void *s, const char *fingerprint, struct gw_cert_row *out, bool *found,
			struct tm_error *err);
	int (*cert_revoke)(void *s, const char *fingerprint, int64_t at, struct tm_error *err);
	int (*cert_list)(void *s, gw_store_cert_cb cb, void *ctx, struct tm_error *err);
	int (*binding_add)(void *s, const char *fingerprint, const char *serial,
			   struct tm_error *err);
	int (*binding_has)(void *s, const char *fingerprint, const char *serial, bool *found,
			   struct tm_error *err);
	int (*device_add)(void *s, const char *serial, const char *tenant, int64_t now,
			  struct tm_error *err);
	/* cert_get, device_get and binding_has of one signer at once; NULL:
	 * the front asks them in turn (binding_has for a collector only) */
	int (*signer_get)(void *s, const char *fingerprint, const char *serial,
			  struct gw_signer_rows *out, struct tm_error *err);
	int (*device_get)(void *s, const char *serial, struct gw_device_row *out, bool *found,
			  struct tm_error *err);
	int (*device_list)(void *s, gw_store_device_cb cb, void *ctx, struct tm_error *err);
	/* devices collectors could not read, by tenant then address */
	int (*unreachable_list)(void *s, gw_store_unreachable_cb cb, void *ctx, struct tm_error *err);

	/* service (store_sqlite_service.c; logic in alerts.c, notify.c, audit.c,
	 * billing.c). Listing callbacks: a non-zero result stops the walk. */
	int (*alert_find_active)(void *s, const char *serial, const char *kind, const char *subject,
				 struct gw_alert_row *out, bool *found, struct tm_error *err);
	int (*alert_insert)(void *s, struct gw_alert_row *a, struct tm_error *err); /* fills id */
	int (*alert_update)(void *s, const struct gw_alert_row *a, struct tm_error *err);
	int (*alert_get)(void *s, int64_t id, struct gw_alert_row *out, bool *found,
			 struct tm_error *err);
	int (*alert_list)(void *s, bool active_only, gw_store_alert_cb cb, void *ctx,
			  struct tm_error *err);
	int (*mark_get)(void *s, const char *serial, const char *key, struct gw_mark_row *out,
			bool *found, struct tm_error *err);
	int (*mark_set)(void *s, const char *serial, const char *key, const struct gw_mark_row *m,
			struct tm_error *err);
	/* For one device's evaluation (alerts.c loads once, writes what
	 * changed): alert_update of a repeat, writing only what a repeat changes
	 * (severity, detail, last_seen, count, report_id); the device's active
	 * alerts, in no set order; its marks in key order; mark_set of n marks
	 * with distinct keys. */
	int (*alert_repeat)(void *s, const struct gw_alert_row *a, struct tm_error *err);
	int (*alert_list_device)(void *s, const char *serial, gw_store_alert_cb cb, void *ctx,
				 struct tm_error *err);
	int (*mark_list)(void *s, const char *serial, gw_store_mark_cb cb, void *ctx,
			 struct tm_error *err);
	int (*mark_set_many)(void *s, const char *serial, const struct gw_mark_entry *const *marks,
			     size_t n, struct tm_error *err);
	/* mark_list, then alert_list_device, at once (one round trip on a
	 * server); stop[0], stop[1]: each walk's callback's stop (0: to the
	 * end). NULL: the front calls the two. */
	int (*device_load)(void *s, const char *serial, gw_store_mark_cb mark_cb,
			   gw_store_alert_cb alert_cb, void *ctx, int stop[2], struct tm_error *err);
	int (*notify_add)(void *s, const struct gw_notify_row *n, bool *added, struct tm_error *err);
	int (*notify_update)(void *s, const struct gw_notify_row *n, struct tm_error *err);
	int (*notify_list)(void *s, enum gw_notify_which which, gw_store_notify_cb cb, void *ctx,
			   struct tm_error *err);
	int (*audit_last)(void *s, struct gw_audit_row *out, bool *found, struct tm_error *err);
	int (*audit_insert)(void *s, const struct gw_audit_row *a, struct tm_error *err);
	int (*audit_list)(void *s, gw_store_audit_cb cb, void *ctx, struct tm_error *err);
	/* latest: the readings of each device's newest report only; else every
	 * reading with at <= until, ordered by serial, service, name, at, seq */
	int (*meter_list)(void *s, bool latest, int64_t until, gw_store_meter_cb cb, void *ctx,
			  struct tm_error *err);
	/* billing's readings (gw_store_meter_range); NULL: meter_list's */
	int (*meter_range)(void *s, int64_t since, int64_t until, gw_store_meter_cb cb, void *ctx,
			   struct tm_error *err);
	int (*supply_list)(void *s, gw_store_supply_cb cb, void *ctx, struct tm_error *err);

	/* schema versions: the database's (0: empty) and the newest this
	 * program knows; migrate brings the database to the newest (refusing
	 * a newer one with gw_store_refuse_newer) */
	int (*schema_version)(void *s, int *in_db, int *known, struct tm_error *err);
	int (*migrate)(void *s, struct tm_error *err);

	/* the quarantine: a state of its own (quarantine.h) */
	const struct gw_quarantine_ops *quarantine;
	/* forwarding (store_sqlite_forward.c); each runs inside the front's
	 * transaction (add: the caller's) */
	int (*fwd_add)(void *s, const struct gw_fwd_event_in *ev, int64_t now, struct tm_error *err);
	int (*fwd_fanout)(void *s, const char *endpoint, gw_fwd_filter_cb filter, void *ctx,
			  int64_t now, size_t max, size_t *added, struct tm_error *err);
	int (*fwd_claim)(void *s, const char *endpoint, const char *owner, size_t max_items,
			 size_t max_bytes, int64_t now, int64_t lease, struct gw_fwd_item **out,
			 size_t *n, struct tm_error *err);
	int (*fwd_done)(void *s, const char *endpoint, const char *batch, enum gw_fwd_fate fate,
			int64_t next_at, const char *error, int64_t now, struct tm_error *err);
	int (*fwd_stats)(void *s, const char *endpoint, struct gw_fwd_stats *out,
			 struct tm_error *err);
	int (*fwd_dead_list)(void *s, struct gw_fwd_item **out, size_t *n, struct tm_error *err);
	/* id 0: every dead item; *changed: how many */
	int (*fwd_dead_retry)(void *s, int64_t id, int64_t now, size_t *changed, struct tm_error *err);
	int (*fwd_dead_drop)(void *s, int64_t id, size_t *changed, struct tm_error *err);
	/* supplies (store_sqlite_supply.c; logic in forecast.c and supply.c) */
	int (*supply_history)(void *s, const char *serial, int64_t idx, int64_t since,
			      gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err);
	int (*supply_tail_get)(void *s, const char *serial, int64_t idx,
			       struct gw_supply_tail *out, bool *found, struct tm_error *err);
	int (*supply_rule_get)(void *s, const char *tenant, struct gw_supply_rule_row *out,
			       bool *found, struct tm_error *err);
	int (*supply_rule_set)(void *s, const struct gw_supply_rule_row *r, struct tm_error *err);
	int (*order_insert)(void *s, struct gw_order_row *o, struct tm_error *err);   /* fills id */
	int (*order_update)(void *s, const struct gw_order_row *o, struct tm_error *err);
	int (*order_get)(void *s, int64_t id, struct gw_order_row *out, bool *found,
			 struct tm_error *err);
	int (*order_find)(void *s, const char *serial, int64_t idx, int64_t cartridge,
			  struct gw_order_row *out, bool *found, struct tm_error *err);
	int (*order_list)(void *s, const char *serial, int64_t idx, gw_store_order_cb cb, void *ctx,
			  struct tm_error *err);
	int (*order_event_insert)(void *s, struct gw_order_event_row *e, struct tm_error *err);
	int (*order_event_list)(void *s, int64_t order_id, gw_store_order_event_cb cb, void *ctx,
				struct tm_error *err);
	int (*meter_decision_set)(void *s, const struct gw_meter_decision_row *d,
				  struct tm_error *err);
	int (*meter_decision_list)(void *s, gw_store_meter_decision_cb cb, void *ctx,
				   struct tm_error *err);
	int (*meter_get)(void *s, const char *serial, int64_t seq, const char *service,
			 const char *name, struct gw_meter_row *out, bool *found, struct tm_error *err);
	int (*meter_adjacent)(void *s, const char *serial, const char *service, const char *name,
			      int64_t at, int32_t at_nsec, int64_t seq, bool after,
			      struct gw_meter_row *out, bool *found, struct tm_error *err);
	/* meter_adjacent for n counters of one device at once (one round trip
	 * on a server); NULL: the front asks meter_adjacent n times */
	int (*meter_adjacent_many)(void *s, const char *serial, size_t n,
				   const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
				   int64_t seq, bool after, struct gw_meter_row *out, bool *found,
				   struct tm_error *err);
	/* the three reads of gw_report_reads at once (within the fronts'
	 * limits: at most GW_SUPPLY_BEFORE_MAX supplies, GW_METER_ASKS_MAX
	 * asks); NULL: the front makes the three calls */
	int (*report_reads)(void *s, const char *serial, struct gw_report_reads *rr,
			    struct tm_error *err);
	int (*supply_before)(void *s, const char *serial, int64_t idx, int64_t at, int32_t at_nsec,
			     int64_t seq, struct gw_supply_hist_row *out, bool *found,
			     struct tm_error *err);
	int (*supply_forecast_set)(void *s, const char *serial, int64_t idx,
				   const struct gw_supply_forecast_row *f, struct tm_error *err);
	/* supply_before for n supplies of one device at once; NULL: the front
	 * asks supply_before n times */
	int (*supply_before_many)(void *s, const char *serial, size_t n, const int64_t *idx,
				  int64_t at, int32_t at_nsec, int64_t seq,
				  struct gw_supply_hist_row *out, bool *found, struct tm_error *err);
	/* web reads (store_sqlite_web.c; used by web/). serial NULL: every
	 * device. A non-zero result of a callback stops the walk. */
	int (*web_devices)(void *s, const char *serial, gw_store_web_device_cb cb, void *ctx,
			   struct tm_error *err);
	int (*web_supplies)(void *s, const char *serial, gw_store_supply_cb cb, void *ctx,
			    struct tm_error *err);
	int (*web_supply_history)(void *s, const char *serial, int64_t since,
				  gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
	int (*web_counter_history)(void *s, const char *serial, int64_t since,
				   gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
	int (*web_reports)(void *s, const char *serial, int64_t limit, gw_store_web_report_cb cb,
			   void *ctx, struct tm_error *err);
	int (*web_firmware)(void *s, const char *serial, gw_store_web_firmware_cb cb, void *ctx,
			    struct tm_error *err);
	int (*web_counters)(void *s, const char *serial, gw_store_web_point_cb cb, void *ctx,
			    struct tm_error *err);
	int (*web_outcomes)(void *s, gw_store_web_outcome_cb cb, void *ctx, struct tm_error *err);
	/* collectors and their devices, with each collector's heartbeat
	 * (store_*_collector.c; the silence check) */
	int (*collector_bindings)(void *s, gw_store_collector_binding_cb cb, void *ctx,
				  struct tm_error *err);
	/* moving a store (issue 16; store_copy.c is the only caller): rows
	 * counted, read in spec->order, written in the caller's transaction;
	 * copy_begin defers the target's foreign keys to the commit, copy_end
	 * moves each identity's sequence past the ids written */
	int (*table_count)(void *s, const char *table, int64_t *n, struct tm_error *err);
	int (*table_read)(void *s, const struct gw_table_spec *t, gw_store_row_cb cb, void *ctx,
			  struct tm_error *err);
	int (*table_write)(void *s, const struct gw_table_spec *t, const struct gw_cell *rows,
			   size_t nrows, struct tm_error *err);
	int (*copy_begin)(void *s, struct tm_error *err);
	int (*copy_end)(void *s, const struct gw_table_spec *tables, size_t n, struct tm_error *err);
	/* reporting roles (issue 16; docs/sql-views.md): `role` reads the
	 * reporting views, scoped to tenant's subtree (NULL: every tenant);
	 * revoke: *found false when it had no grant. store.no_role when the
	 * database has no such role. */
	int (*reporting_grant)(void *s, const char *role, const char *tenant, struct tm_error *err);
	int (*reporting_revoke)(void *s, const char *role, bool *found, struct tm_error *err);
	/* retention (issue 16; retention.c is the only caller), in the
	 * caller's transaction: reports received before cutoff (at most max of
	 * them, oldest first) with their rows, and at most max message-log rows
	 * received before it */
	int (*retention_purge)(void *s, int64_t cutoff, int64_t max,
			       struct gw_retention_removed *out, struct tm_error *err);
	/* several gateways on one database (issue 16; store_*_service.c).
	 * notify_claim: inside the front's transaction, lease up to max due
	 * pending notifications (next_at <= now; unclaimed, lease run out, or
	 * already owner's) to owner until now + lease, and walk them by id;
	 * PostgreSQL skips rows another transaction holds (SKIP LOCKED).
	 * notify_update ends a claim; notify_release ends every claim of owner.
	 * try_singleton: *got when this handle holds (or now took) the named
	 * job; SQLite: always. shared_counts: the shared state's counts. */
	int (*notify_claim)(void *s, const char *owner, int64_t now, int64_t lease, size_t max,
			    gw_store_notify_cb cb, void *ctx, struct tm_error *err);
	int (*notify_release)(void *s, const char *owner, struct tm_error *err);
	int (*try_singleton)(void *s, const char *name, bool *got, struct tm_error *err);
	int (*shared_counts)(void *s, int64_t now, struct gw_store_shared_counts *out,
			     struct tm_error *err);
};

/* The SQLite back end (store/sqlite/store_sqlite.c). */
extern const struct gw_store_ops gw_store_sqlite_ops;
/* The PostgreSQL back end (store/postgresql/store_pg.c). */
extern const struct gw_store_ops gw_store_pg_ops;

/* store.version: the database's schema is newer than this program's. The
 * one wording of both back ends; `where` names the database. */
int gw_store_refuse_newer(const char *where, int in_db, int known, struct tm_error *err);

/* ---- the handle everybody uses ---- */

struct gw_store;

/* Open the back end named by o->backend (store.unavailable when it cannot be
 * opened, config.bad_value for an unknown back end). */
int gw_store_open(const struct gw_store_options *o, struct gw_store **out, struct tm_error *err);
void gw_store_close(struct gw_store *st);   /* rolls back an open batch */
const char *gw_store_backend(const struct gw_store *st);
/* Does each store call wait for a server (PostgreSQL: a round trip)? Then
 * a caller asks at once what it may need (gw_store_report_reads)
 * rather than waiting twice; in process (SQLite) it asks only for what it
 * needs. */
bool gw_store_remote(const struct gw_store *st);
/* The schema version in the database (0: none yet) and the newest known. */
int gw_store_schema_version(struct gw_store *st, int *in_db, int *known, struct tm_error *err);
/* Migrate to the newest known version (store.version when the database's is newer). */
int gw_store_migrate(struct gw_store *st, struct tm_error *err);

int gw_store_begin(struct gw_store *st, struct tm_error *err);
int gw_store_commit(struct gw_store *st, struct tm_error *err);
void gw_store_rollback(struct gw_store *st);
bool gw_store_in_batch(const struct gw_store *st);
/* One item inside a batch (a savepoint): its writes are kept with the batch
 * (keep) or undone alone (not keep), so that one message that fails does
 * not take the others of its batch with it. Not nested; inside a batch
 * only. An error (RETRY or ERROR) means the batch cannot go on: roll it
 * back. */
int gw_store_item_begin(struct gw_store *st, struct tm_error *err);
int gw_store_item_end(struct gw_store *st, bool keep, struct tm_error *err);
/* At a batch's start, the devices its items will write (serials, repeats
 * and "" allowed): on a shared server their rows are locked now, in one
 * order for every gateway, so that two gateways' batches with the same
 * devices wait for each other instead of deadlocking. */
int gw_store_lock_devices(struct gw_store *st, const char *const *serials, size_t n,
			  struct tm_error *err);

/* Validates the record (ids, hex, lengths, repeated supply index or vendor
 * counter id: ERROR with report.schema or internal.bug naming the field)
 * before the back end sees it. Outside a batch the put runs in a
 * transaction of its own.
 *
 * Returns OK with info->result STORED or DUPLICATE (the message-log row is
 * written in the same transaction: "stored" / "duplicate"), or OK with
 * CONFLICT and err filled (report.conflict naming both report ids; nothing
 * written: the caller quarantines and logs). ERROR: this record failed and
 * left nothing behind; the batch may go on. RETRY: roll the batch back. */
int gw_store_put(struct gw_store *st, const struct gw_store_record *r, struct gw_put_info *info,
		 struct tm_error *err);
/* Insert or update the message-log row. A row that says "stored" keeps
 * saying so (replaying a stored message changes nothing). */
int gw_store_log(struct gw_store *st, const struct gw_msglog_entry *e, struct tm_error *err);
int gw_store_msglog_get(struct gw_store *st, const char *raw_sha256, const char *message_id,
			struct gw_msglog_row *out, bool *found, struct tm_error *err);
int gw_store_report_get(struct gw_store *st, const char *report_id, struct gw_report_ref *out,
			bool *found, struct tm_error *err);
/* The devices collectors could not read (newest report of each collector). */
int gw_store_unreachable_list(struct gw_store *st, gw_store_unreachable_cb cb, void *ctx,
			      struct tm_error *err);
/* Every (collector certificate, bound device), by fingerprint then serial. */
int gw_store_collector_bindings(struct gw_store *st, gw_store_collector_binding_cb cb, void *ctx,
				struct tm_error *err);

/* ---- the registry's rows (the logic is in registry/registry.c) ----
 * Like every store call: an enum gw_store_rc, err filled on failure; a
 * `found` output is false (the row untouched) when there is no such row;
 * a listing callback's non-zero result stops the walk. */
int gw_store_tenant_add(struct gw_store *st, const char *name, const char *parent, int64_t now,
			struct tm_error *err);
int gw_store_tenant_get(struct gw_store *st, const char *name, struct gw_tenant_row *out,
			bool *found, struct tm_error *err);
int gw_store_tenant_set_parent(struct gw_store *st, const char *name, const char *parent,
			       struct tm_error *err);
int gw_store_tenant_list(struct gw_store *st, gw_store_tenant_cb cb, void *ctx,
			 struct tm_error *err);
int gw_store_cert_add(struct gw_store *st, const struct gw_cert_row *c, struct tm_error *err);
int gw_store_cert_get(struct gw_store *st, const char *fingerprint, struct gw_cert_row *out,
		      bool *found, struct tm_error *err);
int gw_store_cert_revoke(struct gw_store *st, const char *fingerprint, int64_t at,
			 struct tm_error *err);
int gw_store_cert_list(struct gw_store *st, gw_store_cert_cb cb, void *ctx, struct tm_error *err);
int gw_store_binding_add(struct gw_store *st, const char *fingerprint, const char *serial,
			 struct tm_error *err);
int gw_store_binding_has(struct gw_store *st, const char *fingerprint, const char *serial,
			 bool *found, struct tm_error *err);
int gw_store_device_add(struct gw_store *st, const char *serial, const char *tenant, int64_t now,
			struct tm_error *err);
int gw_store_device_get(struct gw_store *st, const char *serial, struct gw_device_row *out,
			bool *found, struct tm_error *err);
int gw_store_device_list(struct gw_store *st, gw_store_device_cb cb, void *ctx,
			 struct tm_error *err);
/* What the identity binding reads of a message's signer (registry.c's
 * gw_registry_check), at once: one round trip on a server. The certificate
 * of fingerprint, the device row of serial, and for a collector's
 * certificate whether serial is bound to it (bound: false otherwise). */
struct gw_signer_rows {
	struct gw_cert_row cert;
	bool cert_found;
	struct gw_device_row device;
	bool device_found;
	bool bound;
};
int gw_store_signer_get(struct gw_store *st, const char *fingerprint, const char *serial,
			struct gw_signer_rows *out, struct tm_error *err);

/* ---- the service's rows (logic in service/alerts.c, service/notify.c,
 * store/audit.c, service/billing.c) ---- */
/* alerts: insert fills a->id; at most one active row per (serial, kind, subject) */
int gw_store_alert_find_active(struct gw_store *st, const char *serial, const char *kind,
			       const char *subject, struct gw_alert_row *out, bool *found,
			       struct tm_error *err);
int gw_store_alert_insert(struct gw_store *st, struct gw_alert_row *a, struct tm_error *err);
int gw_store_alert_update(struct gw_store *st, const struct gw_alert_row *a, struct tm_error *err);
int gw_store_alert_get(struct gw_store *st, int64_t id, struct gw_alert_row *out, bool *found,
		       struct tm_error *err);
int gw_store_alert_list(struct gw_store *st, bool active_only, gw_store_alert_cb cb, void *ctx,
			struct tm_error *err);
/* One device's evaluation (alerts loads once, writes what changed): repeat
 * is an update writing only what a repeat changes (severity, detail,
 * last_seen, count, report_id); list_device walks the device's active
 * alerts in no set order. */
int gw_store_alert_repeat(struct gw_store *st, const struct gw_alert_row *a, struct tm_error *err);
int gw_store_alert_list_device(struct gw_store *st, const char *serial, gw_store_alert_cb cb,
			       void *ctx, struct tm_error *err);
/* marks: mark_list walks the device's marks in key order; mark_set_many
 * writes n marks with distinct keys */
int gw_store_mark_get(struct gw_store *st, const char *serial, const char *key,
		      struct gw_mark_row *out, bool *found, struct tm_error *err);
int gw_store_mark_set(struct gw_store *st, const char *serial, const char *key,
		      const struct gw_mark_row *m, struct tm_error *err);
int gw_store_mark_list(struct gw_store *st, const char *serial, gw_store_mark_cb cb, void *ctx,
		       struct tm_error *err);
int gw_store_mark_set_many(struct gw_store *st, const char *serial,
			   const struct gw_mark_entry *const *marks, size_t n,
			   struct tm_error *err);
/* gw_store_mark_list and gw_store_alert_list_device of one device, in one
 * round trip on a server: GW_STORE_OK or an error; stop[0] and stop[1] say
 * whether each walk's callback stopped it (non-zero) or it ran to its end. */
int gw_store_device_load(struct gw_store *st, const char *serial, gw_store_mark_cb mark_cb,
			 gw_store_alert_cb alert_cb, void *ctx, int stop[2], struct tm_error *err);
/* the notification queue: notify_add sets *added false when the (alert,
 * event, channel) is queued already */
int gw_store_notify_add(struct gw_store *st, const struct gw_notify_row *n, bool *added,
			struct tm_error *err);
int gw_store_notify_update(struct gw_store *st, const struct gw_notify_row *n,
			   struct tm_error *err);
int gw_store_notify_list(struct gw_store *st, enum gw_notify_which which, gw_store_notify_cb cb,
			 void *ctx, struct tm_error *err);
/* the audit chain's rows (the chain itself is audit.h's) */
int gw_store_audit_last(struct gw_store *st, struct gw_audit_row *out, bool *found,
			struct tm_error *err);
int gw_store_audit_insert(struct gw_store *st, const struct gw_audit_row *a, struct tm_error *err);
int gw_store_audit_list(struct gw_store *st, gw_store_audit_cb cb, void *ctx, struct tm_error *err);
/* latest: the readings of each device's newest report only; else every
 * reading with at <= until, ordered by serial, service, name, at, seq */
int gw_store_meter_list(struct gw_store *st, bool latest, int64_t until, gw_store_meter_cb cb,
			void *ctx, struct tm_error *err);
/* What billing a period (since, until] reads: for each device and counter
 * with a reading in the period or in the device's last report at or before
 * since, its readings in the period and its last reading at or before since
 * (one an operator excluded does not count). A device's readings come
 * together, devices in any order; a counter's readings in time order (at,
 * at_nsec, seq), its counters possibly interleaved (a back end walks a
 * device's reports in time order, issue 16). A back end without it answers
 * meter_list's every reading up to until (an order of that kind too). */
int gw_store_meter_range(struct gw_store *st, int64_t since, int64_t until, gw_store_meter_cb cb,
			 void *ctx, struct tm_error *err);
/* each device's supplies as of its newest report */
int gw_store_supply_list(struct gw_store *st, gw_store_supply_cb cb, void *ctx,
			 struct tm_error *err);

/* ---- forwarding (issue 17): the outbox's front; see the types above ---- */

/* Is the outbox on (options.forward)? */
bool gw_store_forward_enabled(const struct gw_store *st);
/* Queue one event inside the caller's transaction (the record's own);
 * nothing when the outbox is off. */
int gw_store_forward_add(struct gw_store *st, const struct gw_fwd_event_in *ev, int64_t now,
			 struct tm_error *err);
/* One transaction: make items for `endpoint` from up to `max` outbox events
 * it has not seen yet, as filter says; *added items made. */
int gw_store_forward_fanout(struct gw_store *st, const char *endpoint, gw_fwd_filter_cb filter,
			    void *ctx, int64_t now, size_t max, size_t *added, struct tm_error *err);
/* One transaction: lease a batch for `owner` until now + lease. A batch
 * whose earlier attempt failed is taken again as it was (same key: the
 * Idempotency-Key of a retry is the first attempt's), else a new one of the
 * oldest due items, at most max_items and max_bytes of data (at least one
 * item), none of a device that has items in another batch still waiting
 * (so a device's events go out in order). *n == 0: nothing due. The batch
 * key is in every item's `batch`. Free with gw_fwd_items_free. */
int gw_store_forward_claim(struct gw_store *st, const char *endpoint, const char *owner,
			   size_t max_items, size_t max_bytes, int64_t now, int64_t lease,
			   struct gw_fwd_item **out, size_t *n, struct tm_error *err);
/* One transaction: the fate of a claimed batch (error: kept with the
 * items; for DEAD, the receiver's reply). */
int gw_store_forward_done(struct gw_store *st, const char *endpoint, const char *batch,
			  enum gw_fwd_fate fate, int64_t next_at, const char *error, int64_t now,
			  struct tm_error *err);
int gw_store_forward_stats(struct gw_store *st, const char *endpoint, struct gw_fwd_stats *out,
			   struct tm_error *err);
/* The dead-letter list, by endpoint then id. */
int gw_store_forward_dead_list(struct gw_store *st, struct gw_fwd_item **out, size_t *n,
			       struct tm_error *err);
/* Queue dead item `id` (0: all) again / forget it. forward.not_found when
 * id names no dead item. */
int gw_store_forward_dead_retry(struct gw_store *st, int64_t id, int64_t now, size_t *changed,
				struct tm_error *err);
int gw_store_forward_dead_drop(struct gw_store *st, int64_t id, size_t *changed,
			       struct tm_error *err);
/* ---- supplies (issue 18): typed fronts of the back end's supply rows ---- */

/* Every report's word on supply `idx` of `serial` generated at `since` or
 * later (Unix seconds; GW_SUPPLY_SINCE_ALL: the whole history), ordered by
 * report time (then seq), with the report's total impressions. */
#define GW_SUPPLY_SINCE_ALL INT64_MIN
int gw_store_supply_history(struct gw_store *st, const char *serial, int64_t idx, int64_t since,
			    gw_store_supply_hist_cb cb, void *ctx, struct tm_error *err);
/* The tail the forecast kept for the supply (gw_store_supply_forecast_set):
 * *found false when none was kept, or one before the tail was (schema:
 * SQLite v13, PostgreSQL v16). */
int gw_store_supply_tail_get(struct gw_store *st, const char *serial, int64_t idx,
			     struct gw_supply_tail *out, bool *found, struct tm_error *err);
/* The supply's word in the report just before (at, at_nsec, then seq) in
 * report time. */
int gw_store_supply_before(struct gw_store *st, const char *serial, int64_t idx, int64_t at,
			   int32_t at_nsec, int64_t seq, struct gw_supply_hist_row *out, bool *found,
			   struct tm_error *err);
/* Keep the supply's forecast (replacing the one before). */
int gw_store_supply_forecast_set(struct gw_store *st, const char *serial, int64_t idx,
				 const struct gw_supply_forecast_row *f, struct tm_error *err);
/* gw_store_supply_before for n supplies of the device: out[i] and found[i]
 * answer idx[i]. A back end's supply_before_many is asked for at most
 * GW_SUPPLY_BEFORE_MAX at a time (the front splits). */
#define GW_SUPPLY_BEFORE_MAX 64
int gw_store_supply_before_many(struct gw_store *st, const char *serial, size_t n,
				const int64_t *idx, int64_t at, int32_t at_nsec, int64_t seq,
				struct gw_supply_hist_row *out, bool *found, struct tm_error *err);
/* A tenant's own rule (found false: it has none). */
int gw_store_supply_rule_get(struct gw_store *st, const char *tenant,
			     struct gw_supply_rule_row *out, bool *found, struct tm_error *err);
/* Insert or replace a tenant's rule; lead_time and floor both -1 removes it. */
int gw_store_supply_rule_set(struct gw_store *st, const struct gw_supply_rule_row *r,
			     struct tm_error *err);
int gw_store_order_insert(struct gw_store *st, struct gw_order_row *o, struct tm_error *err);
/* state, updated_at and alert_id of order o->id */
int gw_store_order_update(struct gw_store *st, const struct gw_order_row *o,
			  struct tm_error *err);
int gw_store_order_get(struct gw_store *st, int64_t id, struct gw_order_row *out, bool *found,
		       struct tm_error *err);
/* The order of one cartridge, whatever its state. */
int gw_store_order_find(struct gw_store *st, const char *serial, int64_t idx, int64_t cartridge,
			struct gw_order_row *out, bool *found, struct tm_error *err);
/* Orders by id; serial NULL: all of them, else that supply's (idx). */
int gw_store_order_list(struct gw_store *st, const char *serial, int64_t idx,
			gw_store_order_cb cb, void *ctx, struct tm_error *err);
int gw_store_order_event_insert(struct gw_store *st, struct gw_order_event_row *e,
				struct tm_error *err);
/* An order's transitions by id; order_id 0: every order's. */
int gw_store_order_event_list(struct gw_store *st, int64_t order_id, gw_store_order_event_cb cb,
			      void *ctx, struct tm_error *err);

/* Each device's supplies as of its newest report, by tenant, serial, index. */
int gw_store_supply_list(struct gw_store *st, gw_store_supply_cb cb, void *ctx,
			 struct tm_error *err);
/* Insert or replace the decision on one reading; every decision, by
 * serial, seq, counter. */
int gw_store_meter_decision_set(struct gw_store *st, const struct gw_meter_decision_row *d,
				struct tm_error *err);
int gw_store_meter_decision_list(struct gw_store *st, gw_store_meter_decision_cb cb, void *ctx,
				 struct tm_error *err);

/* One reading: counter service/name of the report seq of serial. */
int gw_store_meter_get(struct gw_store *st, const char *serial, int64_t seq, const char *service,
		       const char *name, struct gw_meter_row *out, bool *found, struct tm_error *err);

/* The reading of the same counter just before (after: just after) the
 * instant (at, at_nsec, then seq) of report seq, by report time. */
int gw_store_meter_adjacent(struct gw_store *st, const char *serial, const char *service,
			    const char *name, int64_t at, int32_t at_nsec, int64_t seq, bool after,
			    struct gw_meter_row *out, bool *found, struct tm_error *err);

/* gw_store_meter_adjacent for n counters of the device (at most
 * GW_METER_ADJACENT_MAX): out[i] and found[i] answer keys[i]. */
#define GW_METER_ADJACENT_MAX 256
int gw_store_meter_adjacent_many(struct gw_store *st, const char *serial, size_t n,
				 const struct gw_meter_key *keys, int64_t at, int32_t at_nsec,
				 int64_t seq, bool after, struct gw_meter_row *out, bool *found,
				 struct tm_error *err);

/* Several gw_store_meter_adjacent_many of one device: at most
 * GW_METER_ASKS_MAX asks, each answered in its out and found as
 * gw_store_meter_adjacent_many answers. On a server they go in one round
 * trip as a part of gw_store_report_reads (below); asked alone, one at a
 * time. */
struct gw_meter_ask {
	size_t n;                          /* at most GW_METER_ADJACENT_MAX */
	const struct gw_meter_key *keys;
	int64_t at;
	int32_t at_nsec;
	int64_t seq;
	bool after;
	struct gw_meter_row *out;
	bool *found;
};
#define GW_METER_ASKS_MAX 4
int gw_store_meter_adjacent_asks(struct gw_store *st, const char *serial, size_t n_asks,
				 const struct gw_meter_ask *asks, struct tm_error *err);

/* What the service side reads of a stored report before it evaluates it
 * (service/alerts.c), asked at once: one round trip on a server. Each part
 * is answered as its own call answers it: the device's marks and open
 * alerts (gw_store_device_load; device false: not read), the supplies'
 * rows before the report (gw_store_supply_before_many of idx at at,
 * at_nsec, seq; n_supplies 0: none), the meter check's asks
 * (gw_store_meter_adjacent_asks; n_asks 0: none). */
struct gw_report_reads {
	bool device;
	gw_store_mark_cb mark_cb;
	gw_store_alert_cb alert_cb;
	void *ctx;
	int stop[2];                       /* as gw_store_device_load's */
	size_t n_supplies;
	const int64_t *idx;
	int64_t at;
	int32_t at_nsec;
	int64_t seq;
	struct gw_supply_hist_row *before;
	bool *found;
	size_t n_asks;
	const struct gw_meter_ask *asks;
	bool answered;                     /* set by a put that answered them */
};
int gw_store_report_reads(struct gw_store *st, const char *serial, struct gw_report_reads *rr,
			  struct tm_error *err);
/* Are rr's parts within the limits a back end's report_reads takes (at
 * most GW_SUPPLY_BEFORE_MAX supplies, GW_METER_ASKS_MAX asks of at most
 * GW_METER_ADJACENT_MAX counters)? Sets what it answers to not found. */
bool gw_store_report_reads_fit(struct gw_report_reads *rr);

/* ---- web reads: the fleet page and the metrics (issue 19) ----
 * Read-only; the caller filters by tenant scope (registry/tenant_scope.h).
 * serial NULL: every device (devices ordered by serial). */
int gw_store_web_devices(struct gw_store *st, const char *serial, gw_store_web_device_cb cb,
			 void *ctx, struct tm_error *err);
/* Supplies as of each device's newest report, by serial then index. */
int gw_store_web_supplies(struct gw_store *st, const char *serial, gw_store_supply_cb cb,
			  void *ctx, struct tm_error *err);
/* A device's supply levels (key = index) and its total impressions (key 0)
 * per report generated at or after `since`, oldest first. */
int gw_store_web_supply_history(struct gw_store *st, const char *serial, int64_t since,
				gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
int gw_store_web_counter_history(struct gw_store *st, const char *serial, int64_t since,
				 gw_store_web_point_cb cb, void *ctx, struct tm_error *err);
/* A device's newest `limit` reports, newest first. */
int gw_store_web_reports(struct gw_store *st, const char *serial, int64_t limit,
			 gw_store_web_report_cb cb, void *ctx, struct tm_error *err);
/* The firmware components of a device's newest report. */
int gw_store_web_firmware(struct gw_store *st, const char *serial, gw_store_web_firmware_cb cb,
			  void *ctx, struct tm_error *err);
/* The counters of a device's newest report (label "service/name", key 0). */
int gw_store_web_counters(struct gw_store *st, const char *serial, gw_store_web_point_cb cb,
			  void *ctx, struct tm_error *err);
/* Message-log rows counted by outcome and reason. */
int gw_store_web_outcomes(struct gw_store *st, gw_store_web_outcome_cb cb, void *ctx,
			  struct tm_error *err);

/* ---- reporting roles (issue 16; store_reporting.c, docs/sql-views.md) ----
 * PostgreSQL only (store.unsupported on SQLite). Grant `role` (an existing
 * login role: store.no_role otherwise) the reporting views, scoped to
 * tenant's subtree (registry.not_found for an unknown tenant), or to every
 * tenant when tenant is NULL (an operator); granting again replaces the
 * scope. Revoke: *found false when the role had no grant. */
int gw_store_reporting_grant(struct gw_store *st, const char *role, const char *tenant,
			     struct tm_error *err);
int gw_store_reporting_revoke(struct gw_store *st, const char *role, bool *found,
			      struct tm_error *err);
/* ---- several gateways on one database (issue 16; store_shared.c) ---- */

/* One transaction: lease up to `max` due notifications (state pending,
 * next_at <= now, not leased to another owner until after now) to `owner`
 * until now + lease, and walk them oldest first. On PostgreSQL the rows are
 * picked with FOR UPDATE SKIP LOCKED, so that gateways claiming at the same
 * moment get disjoint sets; a lease that runs out (its gateway was killed)
 * makes the rows claimable again. gw_store_notify_update ends a row's claim;
 * release ends every claim `owner` still holds (what a run did not get to). */
int gw_store_notify_claim(struct gw_store *st, const char *owner, int64_t now, int64_t lease,
			  size_t max, gw_store_notify_cb cb, void *ctx, struct tm_error *err);
int gw_store_notify_release(struct gw_store *st, const char *owner, struct tm_error *err);
/* Work that must run on one gateway at a time (`name`: "silence"): *got
 * when this handle holds it. PostgreSQL: a session advisory lock, held
 * until the handle's connection ends (a gateway stopped or killed, or the
 * connection lost, frees it for the next one that asks); asking again while
 * holding it answers true and takes nothing more. SQLite (one gateway):
 * always true. Outside a transaction. */
int gw_store_try_singleton(struct gw_store *st, const char *name, bool *got,
			   struct tm_error *err);
/* The shared state's counts as of now. */
int gw_store_shared_counts(struct gw_store *st, int64_t now, struct gw_store_shared_counts *out,
			   struct tm_error *err);

/* The back end's ops and state, for registry.c. */
const struct gw_store_ops *gw_store_ops_get0(const struct gw_store *st);
void *gw_store_state_get0(const struct gw_store *st);

/* ---- shared helpers ---- */

/* "YYYY-MM-DDTHH:MM:SS[.f]Z" (1 to 9 fraction digits) → Unix seconds, the
 * fraction dropped (report.schema naming `what`). Where instants are compared
 * or stored, use gw_store_parse_utc_ns: a report's time has the precision its
 * device gave, and 00:00:00.600 is after the boundary 00:00:00. */
int gw_store_parse_utc(const char *text, const char *what, int64_t *out, struct tm_error *err);
/* report.signing_time when generated_at and the signature's signing time
 * differ by more than max_skew (seconds) either way: a device signs what it
 * just generated, so a report cannot claim another time than its signature. */
int gw_store_check_signing_time(const struct tm_report *r, int64_t signing_time,
				int64_t max_skew, struct tm_error *err);
/* The same at full precision: whole seconds and nanoseconds (0..999999999). */
int gw_store_parse_utc_ns(const char *text, const char *what, int64_t *sec, int32_t *nsec,
			  struct tm_error *err);
/* Order two instants (sec, nsec): < 0, 0, > 0. */
int gw_store_time_cmp(int64_t a_sec, int32_t a_nsec, int64_t b_sec, int32_t b_nsec);
/* "YYYY-MM-DDTHH:MM:SSZ", with ".mmm", ".uuuuuu" or ".nnnnnnnnn" when the
 * instant has a fraction (as many digits as it needs, by threes). n >= 32. */
void gw_store_format_utc(int64_t sec, int32_t nsec, char *buf, size_t n);
/* report.future when generated_at > now + max_skew (seconds), at full
 * precision: 0.5 s beyond the allowed skew is beyond it. */
int gw_store_check_future(const struct tm_report *r, int64_t now, int64_t max_skew,
			  struct tm_error *err);
/* 64 lower-case hex digits? */
bool gw_store_is_sha256_hex(const char *s);

#endif

/* telemail-mailgw — the store interface: where records, the message log and
 * the device registry live.
 *
 * A back end is a table of function pointers (struct gw_store_ops), in the
 * style of a Fluent Bit output plugin: every write answers OK, RETRY (a
 * transient failure: roll the batch back and try it again later; reason
 * store.busy / store.unavailable) or ERROR (this record or call is bad, or
 * the back end failed in a way a retry will not mend). SQLite
 * (store_sqlite.c) is the only back end in this version; another (PostgreSQL
 * is planned) would plug in the same way.
 *
 * Threads: one struct gw_store is used by one thread at a time. Open one per
 * thread (workers read the registry through their own handle; the writer
 * thread owns the handle that commits). With SQLite in WAL mode readers never
 * block the writer.
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


/* ---- service rows: alerts, marks, notification queue, audit, meters (issue 6) ---- */

enum gw_alert_state { GW_ALERT_OPEN, GW_ALERT_ACKED, GW_ALERT_RESOLVED };

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
};

typedef int (*gw_store_alert_cb)(void *ctx, const struct gw_alert_row *a);
typedef int (*gw_store_notify_cb)(void *ctx, const struct gw_notify_row *n);
typedef int (*gw_store_audit_cb)(void *ctx, const struct gw_audit_row *a);
typedef int (*gw_store_meter_cb)(void *ctx, const struct gw_meter_row *m);
typedef int (*gw_store_supply_cb)(void *ctx, const struct gw_supply_row *s);
typedef int (*gw_store_mark_cb)(void *ctx, const struct gw_mark_entry *m);

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

struct gw_store_options {
	const char *backend;     /* "sqlite" */
	const char *path;        /* sqlite: the database file (created when absent) */
	int busy_timeout_ms;     /* wait this long for a lock before RETRY (<= 0: 5000) */
};

/* Every function gets the back end's own state. Each returns an enum
 * gw_store_rc and fills err on failure. `found` outputs are false (and the
 * row untouched) when there is no such row. */
struct gw_store_ops {
	const char *name;
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
	int (*supply_list)(void *s, gw_store_supply_cb cb, void *ctx, struct tm_error *err);

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
};

/* The SQLite back end (store_sqlite.c). */
extern const struct gw_store_ops gw_store_sqlite_ops;

/* ---- the handle everybody uses ---- */

struct gw_store;

/* Open the back end named by o->backend (store.unavailable when it cannot be
 * opened, config.bad_value for an unknown back end). */
int gw_store_open(const struct gw_store_options *o, struct gw_store **out, struct tm_error *err);
void gw_store_close(struct gw_store *st);   /* rolls back an open batch */
const char *gw_store_backend(const struct gw_store *st);

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

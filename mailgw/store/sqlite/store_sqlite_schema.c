/* telemail-mailgw — the SQLite schema as versioned migrations.
 *
 * gw_sq_migrations[i] takes the database from PRAGMA user_version i to i+1.
 * Each runs in one transaction with the version bump. Never edit a shipped
 * migration: append a new one. Times are Unix seconds (INTEGER); a report's
 * generated time adds its fraction in nanoseconds (v3). */
#include <stddef.h>

#include "store/sqlite/store_sqlite.h"

static const char v1[] =
	/* registry: tenants form a tree (parent sees children) */
	"CREATE TABLE tenants ("
	"  name TEXT PRIMARY KEY,"
	"  parent TEXT REFERENCES tenants(name),"
	"  created_at INTEGER NOT NULL,"
	"  CHECK (parent IS NULL OR parent <> name));"
	"CREATE INDEX tenants_parent ON tenants(parent);"

	/* enrolled signer certificates */
	"CREATE TABLE certificates ("
	"  fingerprint TEXT PRIMARY KEY,"
	"  role TEXT NOT NULL CHECK (role IN ('device', 'collector')),"
	"  tenant TEXT NOT NULL REFERENCES tenants(name),"
	"  serial TEXT,"
	"  subject TEXT,"
	"  not_after INTEGER,"
	"  enrolled_at INTEGER NOT NULL,"
	"  revoked_at INTEGER);"

	/* devices, with the derived facts of their newest report */
	"CREATE TABLE devices ("
	"  serial TEXT PRIMARY KEY,"
	"  tenant TEXT NOT NULL REFERENCES tenants(name),"
	"  enrolled_at INTEGER NOT NULL,"
	"  last_seq INTEGER,"
	"  last_report_id TEXT,"
	"  last_seen INTEGER,"
	"  last_received INTEGER,"
	"  manufacturer TEXT, model TEXT, name TEXT, location TEXT, ip TEXT, mac TEXT,"
	"  state TEXT);"
	"CREATE INDEX devices_tenant ON devices(tenant);"

	/* collector → the devices it may report for */
	"CREATE TABLE cert_devices ("
	"  fingerprint TEXT NOT NULL REFERENCES certificates(fingerprint),"
	"  serial TEXT NOT NULL REFERENCES devices(serial),"
	"  PRIMARY KEY (fingerprint, serial)) WITHOUT ROWID;"

	/* reports: one row each; UNIQUE(report id) and UNIQUE(device, seq) */
	"CREATE TABLE reports ("
	"  id INTEGER PRIMARY KEY,"
	"  report_id TEXT NOT NULL UNIQUE,"
	"  serial TEXT NOT NULL REFERENCES devices(serial),"
	"  seq INTEGER NOT NULL,"
	"  tenant TEXT NOT NULL REFERENCES tenants(name),"
	"  kind TEXT NOT NULL,"
	"  generated_at TEXT NOT NULL,"
	"  generated_unix INTEGER NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  signer TEXT,"
	"  message_id TEXT,"
	"  raw_sha256 TEXT NOT NULL,"
	"  trigger_cause TEXT,"
	"  outbox_gap INTEGER,"
	"  state TEXT,"
	"  UNIQUE (serial, seq));"
	"CREATE INDEX reports_tenant_time ON reports(tenant, generated_unix);"

	"CREATE TABLE report_json ("
	"  report INTEGER PRIMARY KEY REFERENCES reports(id),"
	"  json TEXT NOT NULL);"

	/* counters: service is total/print/copy/scan/fax or 'vendor' (name = vendor id) */
	"CREATE TABLE counters ("
	"  report INTEGER NOT NULL REFERENCES reports(id),"
	"  service TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  unit TEXT,"
	"  PRIMARY KEY (report, service, name)) WITHOUT ROWID;"

	"CREATE TABLE supplies ("
	"  report INTEGER NOT NULL REFERENCES reports(id),"
	"  idx INTEGER NOT NULL,"
	"  type TEXT NOT NULL, colorant TEXT, description TEXT, unit TEXT,"
	"  max_capacity INTEGER, level INTEGER NOT NULL, part_number TEXT,"
	"  PRIMARY KEY (report, idx)) WITHOUT ROWID;"

	/* the device's supplies as of its newest seq */
	"CREATE TABLE latest_supplies ("
	"  serial TEXT NOT NULL REFERENCES devices(serial),"
	"  idx INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  type TEXT NOT NULL, colorant TEXT, description TEXT, unit TEXT,"
	"  max_capacity INTEGER, level INTEGER NOT NULL, part_number TEXT,"
	"  PRIMARY KEY (serial, idx)) WITHOUT ROWID;"

	"CREATE TABLE parts ("
	"  report INTEGER NOT NULL REFERENCES reports(id),"
	"  n INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  used INTEGER NOT NULL, rated_life INTEGER, unit TEXT,"
	"  PRIMARY KEY (report, n)) WITHOUT ROWID;"

	"CREATE TABLE alerts ("
	"  report INTEGER NOT NULL REFERENCES reports(id),"
	"  n INTEGER NOT NULL,"
	"  code TEXT NOT NULL, sub_code TEXT, severity TEXT NOT NULL, grp TEXT,"
	"  location INTEGER, description TEXT, time TEXT, counter INTEGER,"
	"  PRIMARY KEY (report, n)) WITHOUT ROWID;"

	/* value keeps its type: TEXT, INTEGER, REAL, or INTEGER 0/1 for booleans */
	"CREATE TABLE diagnostics ("
	"  report INTEGER NOT NULL REFERENCES reports(id),"
	"  name TEXT NOT NULL,"
	"  type TEXT NOT NULL CHECK (type IN ('string', 'int', 'float', 'bool')),"
	"  value,"
	"  PRIMARY KEY (report, name)) WITHOUT ROWID;"

	"CREATE TABLE firmware ("
	"  report INTEGER NOT NULL REFERENCES reports(id),"
	"  n INTEGER NOT NULL,"
	"  component TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  PRIMARY KEY (report, n)) WITHOUT ROWID;"

	/* every message's outcome */
	"CREATE TABLE message_log ("
	"  raw_sha256 TEXT NOT NULL,"
	"  message_id TEXT NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  outcome TEXT NOT NULL CHECK (outcome IN ('stored', 'duplicate', 'quarantined', 'deferred')),"
	"  reason TEXT, detail TEXT, report_id TEXT, quarantine_id TEXT,"
	"  PRIMARY KEY (raw_sha256, message_id)) WITHOUT ROWID;"
	"CREATE INDEX message_log_received ON message_log(received_at);";


/* v2 (issue 6): service alerts, alert-evaluation marks, the durable
 * notification queue, the audit log (append-only: triggers refuse UPDATE and
 * DELETE), and an index for meter readings by device and time. */
static const char v2[] =
	"CREATE TABLE svc_alerts ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  tenant TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),"
	"  state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),"
	"  detail TEXT,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  report_id TEXT,"
	"  acked_at INTEGER, acked_by TEXT, resolved_at INTEGER);"
	"CREATE UNIQUE INDEX svc_alerts_active ON svc_alerts(serial, kind, subject)"
	"  WHERE state <> 'resolved';"
	"CREATE INDEX svc_alerts_tenant ON svc_alerts(tenant, state);"

	"CREATE TABLE svc_marks ("
	"  serial TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  ival INTEGER, tval TEXT,"
	"  PRIMARY KEY (serial, key)) WITHOUT ROWID;"

	"CREATE TABLE svc_notify ("
	"  id INTEGER PRIMARY KEY,"
	"  alert_id INTEGER NOT NULL REFERENCES svc_alerts(id),"
	"  event TEXT NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  severity TEXT NOT NULL,"
	"  tenant TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  sent_at INTEGER, last_error TEXT,"
	"  UNIQUE (alert_id, event, channel));"
	"CREATE INDEX svc_notify_pending ON svc_notify(state, next_at);"

	"CREATE TABLE svc_audit ("
	"  seq INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  object TEXT NOT NULL,"
	"  tenant TEXT,"
	"  before_digest TEXT, after_digest TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL);"
	"CREATE TRIGGER svc_audit_no_update BEFORE UPDATE ON svc_audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER svc_audit_no_delete BEFORE DELETE ON svc_audit"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"

	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix);";

/* v3 (issue 14): report times at full precision. generated_unix keeps the
 * whole seconds; generated_nsec the fraction the device gave (".6" is
 * 600000000), so that 00:00:00.600 sorts and compares after 00:00:00. The
 * same for the device's last_seen. Existing rows get theirs from the text. */
static const char v3[] =
	"ALTER TABLE reports ADD COLUMN generated_nsec INTEGER NOT NULL DEFAULT 0;"
	"UPDATE reports SET generated_nsec = CAST(substr(substr(generated_at, 21,"
	"  length(generated_at) - 21) || '000000000', 1, 9) AS INTEGER)"
	"  WHERE substr(generated_at, 20, 1) = '.';"
	"ALTER TABLE devices ADD COLUMN last_seen_nsec INTEGER NOT NULL DEFAULT 0;"
	"UPDATE devices SET last_seen_nsec = COALESCE((SELECT r.generated_nsec FROM reports r"
	"  WHERE r.serial = devices.serial AND r.seq = devices.last_seq), 0);"
	"DROP INDEX reports_serial_time;"
	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix, generated_nsec);";

/* v4 (issue 14 item 15): what each collector (by certificate) said in the
 * newest report that carried a collector section, and the devices it could
 * not read then. */
static const char v4[] =
	"CREATE TABLE collector_status ("
	"  fingerprint TEXT PRIMARY KEY,"
	"  tenant TEXT NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  report_id TEXT NOT NULL,"
	"  generated_unix INTEGER NOT NULL,"
	"  devices INTEGER NOT NULL,"
	"  unreachable_count INTEGER NOT NULL);"
	"CREATE TABLE collector_unreachable ("
	"  fingerprint TEXT NOT NULL REFERENCES collector_status(fingerprint),"
	"  address TEXT NOT NULL,"
	"  serial TEXT,"
	"  reason TEXT NOT NULL,"
	"  since_unix INTEGER NOT NULL,"
	"  detail TEXT,"
	"  PRIMARY KEY (fingerprint, address));";

/* v5 (issue 17): forwarding's transactional outbox. fwd_event holds each
 * event (written with its record); fwd_cursor how far each endpoint's
 * fan-out has read; fwd_item what each endpoint still has to deliver (or
 * gave up: state 'dead', the reply kept), claimed in batches with a lease
 * (batch, lease_owner, lease_until); fwd_stat the counts `forward status`
 * shows. */
static const char v5[] =
	"CREATE TABLE fwd_event ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  event_id TEXT NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  tenant TEXT NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  time TEXT NOT NULL,"
	"  data BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE fwd_cursor ("
	"  endpoint TEXT PRIMARY KEY,"
	"  last_seq INTEGER NOT NULL);"
	"CREATE TABLE fwd_item ("
	"  id INTEGER PRIMARY KEY,"
	"  endpoint TEXT NOT NULL,"
	"  seq INTEGER NOT NULL REFERENCES fwd_event(seq),"
	"  kind INTEGER NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'dead')),"
	"  batch TEXT,"
	"  lease_owner TEXT,"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  queued_at INTEGER NOT NULL,"
	"  last_error TEXT,"
	"  UNIQUE (endpoint, seq, kind));"
	"CREATE INDEX fwd_item_due ON fwd_item(endpoint, state, seq);"
	"CREATE INDEX fwd_item_batch ON fwd_item(endpoint, batch);"
	"CREATE INDEX fwd_item_serial ON fwd_item(endpoint, serial, batch);"
	"CREATE INDEX fwd_item_seq ON fwd_item(seq);"
	"CREATE TABLE fwd_stat ("
	"  endpoint TEXT PRIMARY KEY,"
	"  sent INTEGER NOT NULL DEFAULT 0,"
	"  retries INTEGER NOT NULL DEFAULT 0);";

/* v6 (issue 18): supply replenishment. A tenant's own order rule (NULL
 * where it inherits); orders, one per cartridge of a supply (cartridge: the
 * seq of the report it began with, 0 for the first one known); and each
 * order's transitions as rows with their own ids (forwarded as events); and
 * the operators' decisions on suspect meter readings. */
static const char v6[] =
	"CREATE TABLE supply_rules ("
	"  tenant TEXT PRIMARY KEY REFERENCES tenants(name),"
	"  lead_time INTEGER,"
	"  floor INTEGER,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE supply_orders ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL REFERENCES devices(serial),"
	"  tenant TEXT NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  cartridge INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('open', 'shipped', 'installed', 'cancelled')),"
	"  reason TEXT NOT NULL,"
	"  level INTEGER NOT NULL,"
	"  days_left INTEGER,"
	"  opened_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  report_id TEXT,"
	"  alert_id INTEGER,"
	"  UNIQUE (serial, idx, cartridge));"
	"CREATE TABLE supply_order_events ("
	"  id INTEGER PRIMARY KEY,"
	"  order_id INTEGER NOT NULL REFERENCES supply_orders(id),"
	"  state TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  detail TEXT);"
	"CREATE INDEX supply_order_events_order ON supply_order_events(order_id);"
	/* an operator's word on a suspect meter reading (billing accept|exclude) */
	"CREATE TABLE meter_decisions ("
	"  serial TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  counter TEXT NOT NULL,"
	"  decision TEXT NOT NULL CHECK (decision IN ('accept', 'exclude')),"
	"  actor TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  PRIMARY KEY (serial, seq, counter)) WITHOUT ROWID;";

/* v7: the report-time index ends with seq, as every query that walks a
 * device's reports in report time orders them (time, then seq): a meter or
 * supply reading next to another is one index seek, also among reports of
 * the same instant. */
static const char v7[] =
	"DROP INDEX reports_serial_time;"
	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix, generated_nsec, seq);";

/* v8 (issue 16, several gateways): a notification's claim, the gateway
 * (owner) that leased it and until when (0: not claimed). */
static const char v8[] =
	"ALTER TABLE svc_notify ADD COLUMN claim_owner TEXT;"
	"ALTER TABLE svc_notify ADD COLUMN claim_until INTEGER NOT NULL DEFAULT 0;";

/* v9 (issue 16): retention deletes the
 * reports received before a cutoff, oldest first. */
static const char v9[] =
	"CREATE INDEX reports_received ON reports(received_at, id);";

/* v10 (issues 18, 19): each supply's forecast as made when its level last
 * changed (service/supply.c), so the fleet page shows days left without
 * reading every supply's history. */
static const char v10[] =
	"CREATE TABLE supply_forecasts ("
	"  serial TEXT NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  ok INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  basis TEXT NOT NULL,"
	"  confidence TEXT NOT NULL,"
	"  empty_at INTEGER NOT NULL,"
	"  made_at INTEGER NOT NULL,"
	"  PRIMARY KEY (serial, idx)) WITHOUT ROWID;";

/* v11 (issue 16): the kept forecast's figures that `supplies` prints, so
 * that it need not read each supply's history; NULL in a forecast kept
 * before (read as no forecast kept: made again from the history). */
static const char v11[] =
	"ALTER TABLE supply_forecasts ADD COLUMN score REAL;"
	"ALTER TABLE supply_forecasts ADD COLUMN pages_per_day REAL;"
	"ALTER TABLE supply_forecasts ADD COLUMN pct_per_day REAL;"
	"ALTER TABLE supply_forecasts ADD COLUMN weekday_pattern INTEGER;";

/* v12 (issue 16): the report-time index carries the tenant, so that
 * billing's walk over a month of reports (store_sqlite_meter.c) reads the
 * index alone, not each report's row too (the tenant is all it took from
 * there): for a year of 1,000 devices, 240,000 seeks into the reports. */
static const char v12[] =
	"DROP INDEX reports_serial_time;"
	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix, generated_nsec, seq,"
	" tenant);";

/* v13: where the kept forecast lets the next one start reading the
 * supply's history (store.h's gw_supply_tail); NULL in a forecast kept
 * before: the next one reads the whole history. */
static const char v13[] =
	"ALTER TABLE supply_forecasts ADD COLUMN cart_key INTEGER;"
	"ALTER TABLE supply_forecasts ADD COLUMN cart_at INTEGER;"
	"ALTER TABLE supply_forecasts ADD COLUMN fine_levels INTEGER;";

const char *const gw_sq_migrations[] = {
	v1,
	v2,
	v3,
	v4,
	v5,
	v6,
	v7,
	v8,
	v9,
	v10,
	v11,
	v12,
	v13,
};

const size_t gw_sq_n_migrations = sizeof(gw_sq_migrations) / sizeof(gw_sq_migrations[0]);

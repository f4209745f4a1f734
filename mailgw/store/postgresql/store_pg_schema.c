/* telemail-mailgw — the PostgreSQL schema as versioned migrations.
 *
 * gw_pg_migrations[i] takes the database from version i to i+1 (the
 * version is max(version) of telemail_schema, a row per migration
 * applied). Version N holds the same tables as the SQLite back end's
 * version N (store/sqlite/store_sqlite_schema.c), so that "schema version
 * N" means one thing; the quarantine is a table here (version 1). Each
 * migration runs in one transaction with its row, under an advisory lock.
 * Never edit a shipped migration: append a new one. Times are Unix seconds
 * (bigint). */
#include <stddef.h>

#include "store/postgresql/store_pg.h"

static const char v1[] =
	/* registry: tenants form a tree (parent sees children) */
	"CREATE TABLE tenants ("
	"  name text PRIMARY KEY,"
	"  parent text REFERENCES tenants(name),"
	"  created_at bigint NOT NULL,"
	"  CHECK (parent IS NULL OR parent <> name));"
	"CREATE INDEX tenants_parent ON tenants(parent);"

	"CREATE TABLE certificates ("
	"  fingerprint text PRIMARY KEY,"
	"  role text NOT NULL CHECK (role IN ('device', 'collector')),"
	"  tenant text NOT NULL REFERENCES tenants(name),"
	"  serial text,"
	"  subject text,"
	"  not_after bigint,"
	"  enrolled_at bigint NOT NULL,"
	"  revoked_at bigint);"

	"CREATE TABLE devices ("
	"  serial text PRIMARY KEY,"
	"  tenant text NOT NULL REFERENCES tenants(name),"
	"  enrolled_at bigint NOT NULL,"
	"  last_seq bigint,"
	"  last_report_id text,"
	"  last_seen bigint,"
	"  last_received bigint,"
	"  manufacturer text, model text, name text, location text, ip text, mac text,"
	"  state text);"
	"CREATE INDEX devices_tenant ON devices(tenant);"

	"CREATE TABLE cert_devices ("
	"  fingerprint text NOT NULL REFERENCES certificates(fingerprint),"
	"  serial text NOT NULL REFERENCES devices(serial),"
	"  PRIMARY KEY (fingerprint, serial));"

	/* UNIQUE(report id) and UNIQUE(device, seq): the same report at two
	 * gateways at once is stored once, the loser sees it as a duplicate */
	"CREATE TABLE reports ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  report_id text NOT NULL UNIQUE,"
	"  serial text NOT NULL REFERENCES devices(serial),"
	"  seq bigint NOT NULL,"
	"  tenant text NOT NULL REFERENCES tenants(name),"
	"  kind text NOT NULL,"
	"  generated_at text NOT NULL,"
	"  generated_unix bigint NOT NULL,"
	"  received_at bigint NOT NULL,"
	"  signer text,"
	"  message_id text,"
	"  raw_sha256 text NOT NULL,"
	"  trigger_cause text,"
	"  outbox_gap bigint,"
	"  state text,"
	"  UNIQUE (serial, seq));"
	"CREATE INDEX reports_tenant_time ON reports(tenant, generated_unix);"

	"CREATE TABLE report_json ("
	"  report bigint PRIMARY KEY REFERENCES reports(id),"
	"  json text NOT NULL);"

	"CREATE TABLE counters ("
	"  report bigint NOT NULL REFERENCES reports(id),"
	"  service text NOT NULL,"
	"  name text NOT NULL,"
	"  value bigint NOT NULL,"
	"  unit text,"
	"  PRIMARY KEY (report, service, name));"

	"CREATE TABLE supplies ("
	"  report bigint NOT NULL REFERENCES reports(id),"
	"  idx bigint NOT NULL,"
	"  type text NOT NULL, colorant text, description text, unit text,"
	"  max_capacity bigint, level bigint NOT NULL, part_number text,"
	"  PRIMARY KEY (report, idx));"

	"CREATE TABLE latest_supplies ("
	"  serial text NOT NULL REFERENCES devices(serial),"
	"  idx bigint NOT NULL,"
	"  seq bigint NOT NULL,"
	"  type text NOT NULL, colorant text, description text, unit text,"
	"  max_capacity bigint, level bigint NOT NULL, part_number text,"
	"  PRIMARY KEY (serial, idx));"

	"CREATE TABLE parts ("
	"  report bigint NOT NULL REFERENCES reports(id),"
	"  n bigint NOT NULL,"
	"  name text NOT NULL,"
	"  used bigint NOT NULL, rated_life bigint, unit text,"
	"  PRIMARY KEY (report, n));"

	"CREATE TABLE alerts ("
	"  report bigint NOT NULL REFERENCES reports(id),"
	"  n bigint NOT NULL,"
	"  code text NOT NULL, sub_code text, severity text NOT NULL, grp text,"
	"  location bigint, description text, time text, counter bigint,"
	"  PRIMARY KEY (report, n));"

	/* value as text in the type's canonical form */
	"CREATE TABLE diagnostics ("
	"  report bigint NOT NULL REFERENCES reports(id),"
	"  name text NOT NULL,"
	"  type text NOT NULL CHECK (type IN ('string', 'int', 'float', 'bool')),"
	"  value text,"
	"  PRIMARY KEY (report, name));"

	"CREATE TABLE firmware ("
	"  report bigint NOT NULL REFERENCES reports(id),"
	"  n bigint NOT NULL,"
	"  component text NOT NULL,"
	"  version text NOT NULL,"
	"  PRIMARY KEY (report, n));"

	"CREATE TABLE message_log ("
	"  raw_sha256 text NOT NULL,"
	"  message_id text NOT NULL,"
	"  received_at bigint NOT NULL,"
	"  updated_at bigint NOT NULL,"
	"  outcome text NOT NULL CHECK (outcome IN ('stored', 'duplicate', 'quarantined', 'deferred')),"
	"  reason text, detail text, report_id text, quarantine_id text,"
	"  PRIMARY KEY (raw_sha256, message_id));"
	"CREATE INDEX message_log_received ON message_log(received_at);"

	/* the quarantine: a table here (SQLite keeps a database of its own) */
	"CREATE TABLE quarantine ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  reason text NOT NULL, detail text NOT NULL, message_id text NOT NULL,"
	"  serial text NOT NULL, report_id text NOT NULL, size bigint NOT NULL,"
	"  received_at bigint NOT NULL, quarantined_at bigint NOT NULL,"
	"  raw bytea NOT NULL);"
	"CREATE INDEX quarantine_time ON quarantine(quarantined_at);";

/* v2: service alerts, marks, the notification queue, the audit log
 * (append-only: a trigger refuses UPDATE and DELETE). */
static const char v2[] =
	"CREATE TABLE svc_alerts ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  serial text NOT NULL,"
	"  tenant text NOT NULL,"
	"  kind text NOT NULL,"
	"  subject text NOT NULL,"
	"  severity text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),"
	"  state text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),"
	"  detail text,"
	"  first_seen bigint NOT NULL,"
	"  last_seen bigint NOT NULL,"
	"  count bigint NOT NULL,"
	"  report_id text,"
	"  acked_at bigint, acked_by text, resolved_at bigint);"
	"CREATE UNIQUE INDEX svc_alerts_active ON svc_alerts(serial, kind, subject)"
	"  WHERE state <> 'resolved';"
	"CREATE INDEX svc_alerts_tenant ON svc_alerts(tenant, state);"

	"CREATE TABLE svc_marks ("
	"  serial text NOT NULL,"
	"  key text COLLATE \"C\" NOT NULL,"
	"  seq bigint NOT NULL,"
	"  ival bigint, tval text,"
	"  PRIMARY KEY (serial, key));"

	"CREATE TABLE svc_notify ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  alert_id bigint NOT NULL REFERENCES svc_alerts(id),"
	"  event text NOT NULL,"
	"  channel text NOT NULL,"
	"  kind text NOT NULL,"
	"  severity text NOT NULL,"
	"  tenant text NOT NULL,"
	"  payload text NOT NULL,"
	"  state text NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),"
	"  attempts bigint NOT NULL DEFAULT 0,"
	"  next_at bigint NOT NULL,"
	"  created_at bigint NOT NULL,"
	"  sent_at bigint, last_error text,"
	"  UNIQUE (alert_id, event, channel));"
	"CREATE INDEX svc_notify_pending ON svc_notify(state, next_at);"

	"CREATE TABLE svc_audit ("
	"  seq bigint PRIMARY KEY,"
	"  time bigint NOT NULL,"
	"  actor text NOT NULL,"
	"  action text NOT NULL,"
	"  object text NOT NULL,"
	"  tenant text,"
	"  before_digest text, after_digest text,"
	"  prev_hash text NOT NULL,"
	"  hash text NOT NULL);"
	"CREATE FUNCTION svc_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	"  $$BEGIN RAISE EXCEPTION 'the audit log is append-only'; END$$;"
	"CREATE TRIGGER svc_audit_no_change BEFORE UPDATE OR DELETE ON svc_audit"
	"  FOR EACH ROW EXECUTE FUNCTION svc_audit_append_only();"
	"CREATE TRIGGER svc_audit_no_truncate BEFORE TRUNCATE ON svc_audit"
	"  FOR EACH STATEMENT EXECUTE FUNCTION svc_audit_append_only();"

	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix);";

/* v3: report times at full precision (the fraction in nanoseconds). */
static const char v3[] =
	"ALTER TABLE reports ADD COLUMN generated_nsec bigint NOT NULL DEFAULT 0;"
	"ALTER TABLE devices ADD COLUMN last_seen_nsec bigint NOT NULL DEFAULT 0;"
	"DROP INDEX reports_serial_time;"
	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix, generated_nsec);";

/* v4: what each collector said in its newest report with a collector
 * section, and the devices it could not read then. */
static const char v4[] =
	"CREATE TABLE collector_status ("
	"  fingerprint text PRIMARY KEY,"
	"  tenant text NOT NULL,"
	"  serial text NOT NULL,"
	"  report_id text NOT NULL,"
	"  generated_unix bigint NOT NULL,"
	"  devices bigint NOT NULL,"
	"  unreachable_count bigint NOT NULL);"
	"CREATE TABLE collector_unreachable ("
	"  fingerprint text NOT NULL REFERENCES collector_status(fingerprint),"
	"  address text NOT NULL,"
	"  serial text,"
	"  reason text NOT NULL,"
	"  since_unix bigint NOT NULL,"
	"  detail text,"
	"  PRIMARY KEY (fingerprint, address));";

/* v5 (issue 16, several gateways): a notification's claim, the gateway
 * (owner) that leased it and until when (0: not claimed). */
static const char v5[] =
	"ALTER TABLE svc_notify ADD COLUMN claim_owner text;"
	"ALTER TABLE svc_notify ADD COLUMN claim_until bigint NOT NULL DEFAULT 0;";

/* v8 (issue 16, `store copy`): every foreign key DEFERRABLE INITIALLY
 * IMMEDIATE: checked after each statement as before, unless a transaction
 * defers them to its commit (SET CONSTRAINTS ALL DEFERRED), as the copy of
 * a store does, so that a table may be filled in any order (a tenant
 * before its parent). Self-contained: it finds the keys in the catalogue. */
static const char v8[] =
	"DO $$DECLARE k record; BEGIN"
	"  FOR k IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint"
	"    WHERE contype = 'f' AND NOT condeferrable"
	"      AND connamespace = current_schema()::regnamespace LOOP"
	"    EXECUTE format('ALTER TABLE %s ALTER CONSTRAINT %I DEFERRABLE INITIALLY IMMEDIATE',"
	"                   k.tbl, k.conname);"
	"  END LOOP;"
	"END$$;";

/* v9 (issue 16): row-level security by the tenant tree for the roles that
 * reporting tools log in as (the views are v10's; docs/sql-views.md). reporting_logins maps a login role to the tenant
 * whose subtree it sees (NULL: an operator, every tenant); the policies
 * allow SELECT only, to rows of those tenants; a role with no row sees
 * nothing. The tables' owner (the gateways' user) is not subject to them
 * (ENABLE, not FORCE). The views run with their invoker's rights
 * (security_invoker), so the policies of the tables beneath apply to the
 * reporting role. telemail_visible_tenants is SECURITY DEFINER (it reads
 * the tenant tree the role cannot) with a fixed search_path, and answers
 * only for a role the session's login is (or is a member of). */
static const char v9[] =
	"CREATE TABLE reporting_logins ("
	"  role name PRIMARY KEY,"
	"  tenant text REFERENCES tenants(name) DEFERRABLE INITIALLY IMMEDIATE,"
	"  granted_at bigint NOT NULL);"

	"CREATE FUNCTION telemail_visible_tenants(who name) RETURNS SETOF text"
	"  LANGUAGE sql STABLE SECURITY DEFINER AS $$"
	"  WITH RECURSIVE sub(name) AS ("
	"    SELECT t.name FROM tenants t JOIN reporting_logins l ON l.role = who"
	"      WHERE (l.tenant IS NULL OR t.name = l.tenant)"
	"        AND pg_has_role(session_user, who, 'MEMBER')"
	"    UNION"
	"    SELECT c.name FROM tenants c JOIN sub ON c.parent = sub.name)"
	"  SELECT name FROM sub $$;"
	"DO $$BEGIN EXECUTE format('ALTER FUNCTION telemail_visible_tenants(name)"
	"  SET search_path = %I, pg_temp', current_schema()); END$$;"

	"ALTER TABLE devices ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON devices FOR SELECT USING"
	"  (tenant = ANY (ARRAY(SELECT telemail_visible_tenants(current_user))));"
	"ALTER TABLE reports ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON reports FOR SELECT USING"
	"  (tenant = ANY (ARRAY(SELECT telemail_visible_tenants(current_user))));"
	"ALTER TABLE svc_alerts ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON svc_alerts FOR SELECT USING"
	"  (tenant = ANY (ARRAY(SELECT telemail_visible_tenants(current_user))));"
	/* rows without a tenant of their own: visible with their report / device */
	"ALTER TABLE counters ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON counters FOR SELECT USING"
	"  (EXISTS (SELECT 1 FROM reports r WHERE r.id = counters.report));"
	"ALTER TABLE latest_supplies ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON latest_supplies FOR SELECT USING"
	"  (EXISTS (SELECT 1 FROM devices d WHERE d.serial = latest_supplies.serial));";

/* v10 (issue 16): the reporting views (docs/sql-views.md: columns, meaning,
 * example queries) and the functions that grant and revoke them. A view's
 * rows are those its reader may see under v9's policies. */
static const char v10[] =
	"CREATE VIEW reporting_devices WITH (security_invoker = true) AS"
	"  SELECT d.serial, d.tenant, to_timestamp(d.enrolled_at) AS enrolled_at,"
	"    d.manufacturer, d.model, d.name, d.location, d.ip, d.state,"
	"    d.last_seq, d.last_report_id,"
	"    to_timestamp((d.last_seen + d.last_seen_nsec / 1e9)::float8) AS last_seen,"
	"    to_timestamp(d.last_received) AS last_received"
	"  FROM devices d;"

	"CREATE VIEW reporting_supplies WITH (security_invoker = true) AS"
	"  SELECT s.serial, d.tenant, s.idx AS supply_index, s.type, s.colorant,"
	"    s.description, s.unit, s.max_capacity, s.level,"
	"    CASE WHEN s.max_capacity > 0 AND s.level >= 0"
	"      THEN round(100.0 * s.level / s.max_capacity, 1) END AS level_percent,"
	"    s.part_number, s.seq AS report_seq"
	"  FROM latest_supplies s JOIN devices d ON d.serial = s.serial;"

	"CREATE VIEW reporting_meter_readings WITH (security_invoker = true) AS"
	"  SELECT r.serial, r.tenant, r.seq AS report_seq, r.report_id,"
	"    to_timestamp((r.generated_unix + r.generated_nsec / 1e9)::float8) AS read_at,"
	"    c.service, c.name AS counter, c.value, c.unit"
	"  FROM counters c JOIN reports r ON r.id = c.report;"

	"CREATE VIEW reporting_alerts WITH (security_invoker = true) AS"
	"  SELECT a.id, a.serial, a.tenant, a.kind, a.subject, a.severity, a.state, a.detail,"
	"    to_timestamp(a.first_seen) AS first_seen, to_timestamp(a.last_seen) AS last_seen,"
	"    a.count, to_timestamp(a.acked_at) AS acked_at, a.acked_by,"
	"    to_timestamp(a.resolved_at) AS resolved_at"
	"  FROM svc_alerts a;"

	/* a month's opening is the previous month's closing (the first
	 * reading when there is none); usage = closing - opening */
	"CREATE VIEW reporting_billing_lines WITH (security_invoker = true) AS"
	"  SELECT tenant, serial, service, counter, period, readings,"
	"    coalesce(lag(closing) OVER w, first_value) AS opening, closing,"
	"    closing - coalesce(lag(closing) OVER w, first_value) AS usage"
	"  FROM (SELECT r.tenant, r.serial, c.service, c.name AS counter,"
	"      to_char(to_timestamp(r.generated_unix) AT TIME ZONE 'UTC', 'YYYY-MM') AS period,"
	"      count(*) AS readings,"
	"      (array_agg(c.value ORDER BY r.generated_unix, r.generated_nsec, r.seq))[1]"
	"        AS first_value,"
	"      (array_agg(c.value ORDER BY r.generated_unix DESC, r.generated_nsec DESC,"
	"        r.seq DESC))[1] AS closing"
	"    FROM counters c JOIN reports r ON r.id = c.report"
	"    GROUP BY 1, 2, 3, 4, 5) m"
	"  WINDOW w AS (PARTITION BY serial, service, counter ORDER BY period);"

	/* what `store grant-reporting` / `store revoke-reporting` run; revoke
	 * answers whether the role had a grant */
	"CREATE FUNCTION telemail_grant_reporting(who name, scope text) RETURNS boolean"
	"  LANGUAGE plpgsql AS $$BEGIN"
	"  INSERT INTO reporting_logins (role, tenant, granted_at)"
	"    VALUES (who, scope, extract(epoch FROM now())::bigint)"
	"    ON CONFLICT (role) DO UPDATE SET tenant = EXCLUDED.tenant,"
	"      granted_at = EXCLUDED.granted_at;"
	"  EXECUTE format('GRANT SELECT ON devices, reports, counters, latest_supplies,"
	"    svc_alerts, reporting_devices, reporting_supplies, reporting_meter_readings,"
	"    reporting_alerts, reporting_billing_lines TO %I', who);"
	"  RETURN true;"
	"  END$$;"
	"CREATE FUNCTION telemail_revoke_reporting(who name) RETURNS boolean"
	"  LANGUAGE plpgsql AS $$DECLARE had boolean; BEGIN"
	"  DELETE FROM reporting_logins WHERE role = who;"
	"  had := FOUND;"
	"  EXECUTE format('REVOKE SELECT ON devices, reports, counters, latest_supplies,"
	"    svc_alerts, reporting_devices, reporting_supplies, reporting_meter_readings,"
	"    reporting_alerts, reporting_billing_lines FROM %I', who);"
	"  RETURN had;"
	"  END$$;";

/* v11 (issue 16): retention deletes the reports received before a
 * cutoff, oldest first. */
static const char v11[] =
	"CREATE INDEX reports_received ON reports(received_at, id);";
/* v6 (issue 17): forwarding's transactional outbox, the tables of SQLite's
 * v5 (fwd_event, fwd_cursor, fwd_item, fwd_stat; store_pg_forward.c says
 * how several gateways share them). fwd_event.seq is handed out in the order of the events'
 * writes; a write holds the outbox's shared advisory lock from before its
 * seq until its commit, so that a fan-out can learn a seq below which every
 * event is committed. */
static const char v_fwd_outbox[] =
	"CREATE TABLE fwd_event ("
	"  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  event_id text NOT NULL,"
	"  kind integer NOT NULL,"
	"  tenant text NOT NULL,"
	"  serial text NOT NULL,"
	"  time text NOT NULL,"
	"  data bytea NOT NULL,"
	"  created_at bigint NOT NULL);"
	"CREATE TABLE fwd_cursor ("
	"  endpoint text PRIMARY KEY,"
	"  last_seq bigint NOT NULL);"
	"CREATE TABLE fwd_item ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  endpoint text NOT NULL,"
	"  seq bigint NOT NULL REFERENCES fwd_event(seq),"
	"  kind integer NOT NULL,"
	"  serial text NOT NULL,"
	"  bytes bigint NOT NULL,"
	"  state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'dead')),"
	"  batch text,"
	"  lease_owner text,"
	"  lease_until bigint NOT NULL DEFAULT 0,"
	"  next_at bigint NOT NULL DEFAULT 0,"
	"  attempts bigint NOT NULL DEFAULT 0,"
	"  queued_at bigint NOT NULL,"
	"  last_error text,"
	"  UNIQUE (endpoint, seq, kind));"
	"CREATE INDEX fwd_item_due ON fwd_item(endpoint, state, seq);"
	"CREATE INDEX fwd_item_batch ON fwd_item(endpoint, batch);"
	"CREATE INDEX fwd_item_serial ON fwd_item(endpoint, serial, batch);"
	"CREATE INDEX fwd_item_seq ON fwd_item(seq);"
	/* the few items in batches: each claim looks for one to take again and
	 * for the devices that have one, however long the queue behind them */
	"CREATE INDEX fwd_item_leased ON fwd_item(endpoint, seq) INCLUDE (serial)"
	"  WHERE state = 'queued' AND batch IS NOT NULL;"
	"CREATE TABLE fwd_stat ("
	"  endpoint text PRIMARY KEY,"
	"  sent bigint NOT NULL DEFAULT 0,"
	"  retries bigint NOT NULL DEFAULT 0);";

/* v7 (issue 18): supply replenishment, as SQLite's v6 and v7 together. A
 * tenant's own order rule (NULL where it inherits); orders, one per
 * cartridge of a supply (cartridge: the seq of the report it began with, 0
 * for the first one known); each order's transitions as rows with ids of
 * their own; the operators' decisions on suspect meter readings. And the
 * report-time index ending with seq, as every walk through a device's
 * reports orders them (time, then seq): a supply's history (`supplies`,
 * one per supply of each device) and the reading next to another are
 * index scans. Self-contained (the index dropped if it exists), so that it
 * stays right wherever it lands in the list; its foreign keys DEFERRABLE
 * INITIALLY IMMEDIATE (checked after each statement unless a transaction
 * defers them), as main's v8 makes every other key. */
static const char v7_supply[] =
	"CREATE TABLE supply_rules ("
	"  tenant text PRIMARY KEY REFERENCES tenants(name) DEFERRABLE INITIALLY IMMEDIATE,"
	"  lead_time bigint,"
	"  floor bigint,"
	"  updated_at bigint NOT NULL);"
	"CREATE TABLE supply_orders ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  serial text NOT NULL REFERENCES devices(serial) DEFERRABLE INITIALLY IMMEDIATE,"
	"  tenant text NOT NULL,"
	"  idx bigint NOT NULL,"
	"  subject text NOT NULL,"
	"  cartridge bigint NOT NULL,"
	"  state text NOT NULL CHECK (state IN ('open', 'shipped', 'installed', 'cancelled')),"
	"  reason text NOT NULL,"
	"  level bigint NOT NULL,"
	"  days_left bigint,"
	"  opened_at bigint NOT NULL,"
	"  updated_at bigint NOT NULL,"
	"  report_id text,"
	"  alert_id bigint,"
	"  UNIQUE (serial, idx, cartridge));"
	"CREATE TABLE supply_order_events ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  order_id bigint NOT NULL REFERENCES supply_orders(id) DEFERRABLE INITIALLY IMMEDIATE,"
	"  state text NOT NULL,"
	"  at bigint NOT NULL,"
	"  actor text NOT NULL,"
	"  detail text);"
	"CREATE INDEX supply_order_events_order ON supply_order_events(order_id);"
	"CREATE TABLE meter_decisions ("
	"  serial text NOT NULL,"
	"  seq bigint NOT NULL,"
	"  counter text NOT NULL,"
	"  decision text NOT NULL CHECK (decision IN ('accept', 'exclude')),"
	"  actor text NOT NULL,"
	"  at bigint NOT NULL,"
	"  PRIMARY KEY (serial, seq, counter));"
	"DROP INDEX IF EXISTS reports_serial_time;"
	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix, generated_nsec, seq);";

/* v12 (issue 16, growth): the reports and their lists partitioned by the
 * month they were received in. A report's id carries that month: id =
 * (month << 40) | a number of the sequence reports_id_seq, month = the UTC
 * year * 12 + the month - 1 of received_at (telemail_report_month). reports
 * and each list are PARTITION BY RANGE on the id (the lists on `report`),
 * one partition per month, [month << 40, (month + 1) << 40), named
 * <table>_YYYY_MM and made by the first put of a month
 * (telemail_month_partitions, under an advisory lock); no DEFAULT partition.
 * Retention drops a month's partitions whole (store_pg_retention.c), so the
 * lists have no foreign key to reports (one would make every new month's
 * partitions lock out the other gateways' puts until the batch commits):
 * the put writes a report and its lists in one transaction, and retention
 * drops them together. The
 * keys that hold no month (a report id once; device and seq once) live in
 * report_keys, unpartitioned: the put inserts there first, its ON CONFLICT
 * DO NOTHING is the check for another gateway's copy. The message log stays
 * unpartitioned (its key is the message, whatever the month). The rows of a
 * v11 database move over with ids re-encoded (old id | month << 40); the
 * views and policies on reports and counters are made again as they were,
 * and the reporting roles granted them again. */
static const char v12_tables[] =
	"DROP VIEW reporting_billing_lines;"
	"DROP VIEW reporting_meter_readings;"
	/* the old tables (and their indexes) step aside */
	"DO $$DECLARE t text; i record; BEGIN"
	"  FOREACH t IN ARRAY ARRAY['reports', 'report_json', 'counters', 'supplies', 'parts',"
	"      'alerts', 'diagnostics', 'firmware'] LOOP"
	"    FOR i IN SELECT indexrelid::regclass::text AS name FROM pg_index"
	"      WHERE indrelid = t::regclass LOOP"
	"      EXECUTE format('ALTER INDEX %I RENAME TO %I', i.name, i.name || '_v11');"
	"    END LOOP;"
	"    EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_v11');"
	"  END LOOP;"
	"END$$;"
	"ALTER SEQUENCE reports_id_seq RENAME TO reports_id_seq_v11;"

	"CREATE FUNCTION telemail_report_month(received_at bigint) RETURNS bigint"
	"  LANGUAGE sql IMMUTABLE AS $$"
	"  SELECT extract(year FROM to_timestamp(received_at) AT TIME ZONE 'UTC')::bigint * 12"
	"    + extract(month FROM to_timestamp(received_at) AT TIME ZONE 'UTC')::bigint - 1 $$;"

	"CREATE TABLE reports ("
	"  id bigint NOT NULL PRIMARY KEY,"
	"  report_id text NOT NULL,"
	"  serial text NOT NULL REFERENCES devices(serial) DEFERRABLE INITIALLY IMMEDIATE,"
	"  seq bigint NOT NULL,"
	"  tenant text NOT NULL REFERENCES tenants(name) DEFERRABLE INITIALLY IMMEDIATE,"
	"  kind text NOT NULL,"
	"  generated_at text NOT NULL,"
	"  generated_unix bigint NOT NULL,"
	"  received_at bigint NOT NULL,"
	"  signer text,"
	"  message_id text,"
	"  raw_sha256 text NOT NULL,"
	"  trigger_cause text,"
	"  outbox_gap bigint,"
	"  state text,"
	"  generated_nsec bigint NOT NULL DEFAULT 0) PARTITION BY RANGE (id);"
	"CREATE SEQUENCE reports_id_seq AS bigint OWNED BY reports.id;"
	"CREATE INDEX reports_report_id ON reports(report_id);"
	"CREATE INDEX reports_tenant_time ON reports(tenant, generated_unix);"
	"CREATE INDEX reports_serial_time ON reports(serial, generated_unix, generated_nsec, seq);"
	"CREATE INDEX reports_received ON reports(received_at, id);"

	"CREATE TABLE report_keys ("
	"  report_id text PRIMARY KEY,"
	"  serial text NOT NULL,"
	"  seq bigint NOT NULL,"
	"  id bigint NOT NULL UNIQUE,"
	"  UNIQUE (serial, seq));"
	/* a report deleted (by retention's rows of a month not dropped, or by
	 * hand) takes its keys along; a dropped partition fires no trigger:
	 * retention deletes its months' keys itself */
	"CREATE FUNCTION telemail_report_keys_gone() RETURNS trigger LANGUAGE plpgsql AS"
	"  $$BEGIN DELETE FROM report_keys WHERE id = OLD.id; RETURN NULL; END$$;"
	"CREATE TRIGGER report_keys_gone AFTER DELETE ON reports"
	"  FOR EACH ROW EXECUTE FUNCTION telemail_report_keys_gone();";

static const char v12_lists[] =
	"CREATE TABLE report_json ("
	"  report bigint PRIMARY KEY,"
	"  json text NOT NULL) PARTITION BY RANGE (report);"
	"CREATE TABLE counters ("
	"  report bigint NOT NULL,"
	"  service text NOT NULL,"
	"  name text NOT NULL,"
	"  value bigint NOT NULL,"
	"  unit text,"
	"  PRIMARY KEY (report, service, name)) PARTITION BY RANGE (report);"
	"CREATE TABLE supplies ("
	"  report bigint NOT NULL,"
	"  idx bigint NOT NULL,"
	"  type text NOT NULL, colorant text, description text, unit text,"
	"  max_capacity bigint, level bigint NOT NULL, part_number text,"
	"  PRIMARY KEY (report, idx)) PARTITION BY RANGE (report);"
	"CREATE TABLE parts ("
	"  report bigint NOT NULL,"
	"  n bigint NOT NULL,"
	"  name text NOT NULL,"
	"  used bigint NOT NULL, rated_life bigint, unit text,"
	"  PRIMARY KEY (report, n)) PARTITION BY RANGE (report);"
	"CREATE TABLE alerts ("
	"  report bigint NOT NULL,"
	"  n bigint NOT NULL,"
	"  code text NOT NULL, sub_code text, severity text NOT NULL, grp text,"
	"  location bigint, description text, time text, counter bigint,"
	"  PRIMARY KEY (report, n)) PARTITION BY RANGE (report);"
	"CREATE TABLE diagnostics ("
	"  report bigint NOT NULL,"
	"  name text NOT NULL,"
	"  type text NOT NULL CHECK (type IN ('string', 'int', 'float', 'bool')),"
	"  value text,"
	"  PRIMARY KEY (report, name)) PARTITION BY RANGE (report);"
	"CREATE TABLE firmware ("
	"  report bigint NOT NULL,"
	"  n bigint NOT NULL,"
	"  component text NOT NULL,"
	"  version text NOT NULL,"
	"  PRIMARY KEY (report, n)) PARTITION BY RANGE (report);"

	/* a month's partitions, if they are not there yet: made, then
	 * attached (ATTACH locks the parent SHARE UPDATE EXCLUSIVE, CREATE …
	 * PARTITION OF would lock out its readers until the put's commit);
	 * the lock: two gateways making the same month's at once */
	"CREATE FUNCTION telemail_month_partitions(m bigint) RETURNS void"
	"  LANGUAGE plpgsql AS $$DECLARE t text; p text; sfx text; BEGIN"
	"  sfx := format('_%s_%s', lpad((m / 12)::text, 4, '0'), lpad((m % 12 + 1)::text, 2, '0'));"
	/* there already (the lists are made before the reports): no lock */
	"  IF to_regclass('reports' || sfx) IS NOT NULL THEN RETURN; END IF;"
	"  PERFORM pg_advisory_xact_lock(x'74656c656d6d6f6e'::bigint);"
	"  FOREACH t IN ARRAY ARRAY['report_json', 'counters', 'supplies', 'parts', 'alerts',"
	"      'diagnostics', 'firmware', 'reports'] LOOP"
	"    p := t || sfx;"
	"    CONTINUE WHEN to_regclass(quote_ident(p)) IS NOT NULL;"
	"    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',"
	"      p, t);"
	"    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',"
	"      t, p, m << 40, (m + 1) << 40);"
	"  END LOOP;"
	"  END$$;"

	"";

/* the rows of v11, re-numbered */
static const char v12_rows[] =
	"CREATE TEMP TABLE report_renumber ON COMMIT DROP AS"
	"  SELECT id AS old, telemail_report_month(received_at) << 40 | id AS new"
	"  FROM reports_v11;"
	"ALTER TABLE report_renumber ADD PRIMARY KEY (old);"
	"SELECT telemail_month_partitions(m) FROM"
	"  (SELECT DISTINCT new >> 40 AS m FROM report_renumber) x;"
	"INSERT INTO reports (id, report_id, serial, seq, tenant, kind, generated_at,"
	"  generated_unix, received_at, signer, message_id, raw_sha256, trigger_cause, outbox_gap,"
	"  state, generated_nsec)"
	"  SELECT n.new, r.report_id, r.serial, r.seq, r.tenant, r.kind, r.generated_at,"
	"    r.generated_unix, r.received_at, r.signer, r.message_id, r.raw_sha256,"
	"    r.trigger_cause, r.outbox_gap, r.state, r.generated_nsec"
	"  FROM reports_v11 r JOIN report_renumber n ON n.old = r.id;"
	"INSERT INTO report_keys (report_id, serial, seq, id)"
	"  SELECT report_id, serial, seq, id FROM reports;"
	"INSERT INTO report_json SELECT n.new, x.json"
	"  FROM report_json_v11 x JOIN report_renumber n ON n.old = x.report;"
	"INSERT INTO counters SELECT n.new, x.service, x.name, x.value, x.unit"
	"  FROM counters_v11 x JOIN report_renumber n ON n.old = x.report;"
	"INSERT INTO supplies SELECT n.new, x.idx, x.type, x.colorant, x.description, x.unit,"
	"  x.max_capacity, x.level, x.part_number"
	"  FROM supplies_v11 x JOIN report_renumber n ON n.old = x.report;"
	"INSERT INTO parts SELECT n.new, x.n, x.name, x.used, x.rated_life, x.unit"
	"  FROM parts_v11 x JOIN report_renumber n ON n.old = x.report;"
	"INSERT INTO alerts SELECT n.new, x.n, x.code, x.sub_code, x.severity, x.grp, x.location,"
	"  x.description, x.time, x.counter"
	"  FROM alerts_v11 x JOIN report_renumber n ON n.old = x.report;"
	"INSERT INTO diagnostics SELECT n.new, x.name, x.type, x.value"
	"  FROM diagnostics_v11 x JOIN report_renumber n ON n.old = x.report;"
	"INSERT INTO firmware SELECT n.new, x.n, x.component, x.version"
	"  FROM firmware_v11 x JOIN report_renumber n ON n.old = x.report;"
	"SELECT setval('reports_id_seq', max(old)) FROM report_renumber HAVING max(old) IS NOT NULL;"
	"DROP TABLE report_json_v11, counters_v11, supplies_v11, parts_v11, alerts_v11,"
	"  diagnostics_v11, firmware_v11, reports_v11;"

	"";

/* v9's policies and v10's views, as they were */
static const char v12_views[] =
	"ALTER TABLE reports ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON reports FOR SELECT USING"
	"  (tenant = ANY (ARRAY(SELECT telemail_visible_tenants(current_user))));"
	"ALTER TABLE counters ENABLE ROW LEVEL SECURITY;"
	"CREATE POLICY reporting_scope ON counters FOR SELECT USING"
	"  (EXISTS (SELECT 1 FROM reports r WHERE r.id = counters.report));"
	"CREATE VIEW reporting_meter_readings WITH (security_invoker = true) AS"
	"  SELECT r.serial, r.tenant, r.seq AS report_seq, r.report_id,"
	"    to_timestamp((r.generated_unix + r.generated_nsec / 1e9)::float8) AS read_at,"
	"    c.service, c.name AS counter, c.value, c.unit"
	"  FROM counters c JOIN reports r ON r.id = c.report;"
	"CREATE VIEW reporting_billing_lines WITH (security_invoker = true) AS"
	"  SELECT tenant, serial, service, counter, period, readings,"
	"    coalesce(lag(closing) OVER w, first_value) AS opening, closing,"
	"    closing - coalesce(lag(closing) OVER w, first_value) AS usage"
	"  FROM (SELECT r.tenant, r.serial, c.service, c.name AS counter,"
	"      to_char(to_timestamp(r.generated_unix) AT TIME ZONE 'UTC', 'YYYY-MM') AS period,"
	"      count(*) AS readings,"
	"      (array_agg(c.value ORDER BY r.generated_unix, r.generated_nsec, r.seq))[1]"
	"        AS first_value,"
	"      (array_agg(c.value ORDER BY r.generated_unix DESC, r.generated_nsec DESC,"
	"        r.seq DESC))[1] AS closing"
	"    FROM counters c JOIN reports r ON r.id = c.report"
	"    GROUP BY 1, 2, 3, 4, 5) m"
	"  WINDOW w AS (PARTITION BY serial, service, counter ORDER BY period);"
	"DO $$DECLARE l record; BEGIN"
	"  FOR l IN SELECT role FROM reporting_logins"
	"    WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) LOOP"
	"    EXECUTE format('GRANT SELECT ON reports, counters, reporting_meter_readings,"
	"      reporting_billing_lines TO %I', l.role);"
	"  END LOOP;"
	"END$$;";

/* a migration in parts (each a string C compilers must support, under
 * 4095 characters), run in order in its one transaction */
/* version 13 (issues 18, 19; SQLite v10): each supply's forecast as made
 * when its level last changed, for the fleet page's days left. */
static const char v13_forecasts[] =
	"CREATE TABLE supply_forecasts ("
	"  serial text NOT NULL,"
	"  idx bigint NOT NULL,"
	"  ok boolean NOT NULL,"
	"  reason text NOT NULL,"
	"  basis text NOT NULL,"
	"  confidence text NOT NULL,"
	"  empty_at bigint NOT NULL,"
	"  made_at bigint NOT NULL,"
	"  PRIMARY KEY (serial, idx));";

/* version 14 (issue 16; SQLite v11): the kept forecast's figures that
 * `supplies` prints, so that it need not read each supply's history; NULL
 * in a forecast kept before (read as none kept: made again). */
static const char v14_figures[] =
	"ALTER TABLE supply_forecasts ADD COLUMN score double precision,"
	"  ADD COLUMN pages_per_day double precision, ADD COLUMN pct_per_day double precision,"
	"  ADD COLUMN weekday_pattern boolean;";

/* version 15 (issue 16, PostgreSQL only): each report's counters packed in
 * its row, which billing's read of a period takes instead of joining the
 * counters (store_pg_meter.c), and the reports' generated times summarized
 * by block ranges (BRIN: the reports are partitioned by their reception's
 * month, and a period's are found by their generation's) */
static const char v15_esc[] =
	"CREATE FUNCTION telemail_meter_esc(t text) RETURNS text"
	" LANGUAGE sql IMMUTABLE STRICT"
	" AS $$ SELECT replace(replace(replace(t, '%', '%25'), ' ', '%20'), E'\\n', '%0A') $$;"
	"ALTER TABLE reports ADD COLUMN meters text;";
static const char v15_fill[] = GW_PG_METERS_FILL ";";
static const char v15_index[] =
	"CREATE INDEX reports_generated ON reports USING brin (generated_unix)"
	" WITH (autosummarize = on);";

/* version 16 (issue 16; SQLite v13): where the kept forecast lets the next
 * one start reading the supply's history (store.h's gw_supply_tail); NULL
 * in a forecast kept before: the next one reads the whole history. */
static const char v16_tail[] =
	"ALTER TABLE supply_forecasts ADD COLUMN cart_key bigint, ADD COLUMN cart_at bigint,"
	"  ADD COLUMN fine_levels boolean;";

#define ONE(sql) ((const char *const[]){ sql, NULL })
static const char *const v12[] = { v12_tables, v12_lists, v12_rows, v12_views, NULL };
static const char *const v15[] = { v15_esc, v15_fill, v15_index, NULL };

const char *const *const gw_pg_migrations[] = {
	ONE(v1),
	ONE(v2),
	ONE(v3),
	ONE(v4),
	ONE(v5),
	ONE(v_fwd_outbox),   /* v6 */
	ONE(v8),
	ONE(v9),
	ONE(v10),
	ONE(v11),
	ONE(v7_supply),      /* version 11: supplies (SQLite v6, v7) */
	v12,                 /* version 12: monthly partitions (PostgreSQL only) */
	ONE(v13_forecasts),  /* version 13: supply forecasts (SQLite v10) */
	ONE(v14_figures),    /* version 14: their figures (SQLite v11) */
	v15,                 /* version 15: reports' counters packed (PostgreSQL only) */
	ONE(v16_tail),       /* version 16: the forecast's tail (SQLite v13) */
};

const size_t gw_pg_n_migrations = sizeof(gw_pg_migrations) / sizeof(gw_pg_migrations[0]);

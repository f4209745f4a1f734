#!/usr/bin/env python3
"""`telemail-mailgw store copy --to CONNINFO` (issue 16), end to end.

An SQLite store filled by the .eml fixtures (pgtest.fill_sqlite) is copied
into a fresh PostgreSQL database: the command's exit status and its table of
counts, the counts of every table on both sides, the audit chain verified on
the target (`audit verify` of a configuration naming the PostgreSQL database,
with the source's head), the identities going on after the copied ids, and a
gateway of the PostgreSQL configuration still working (a tenant added, the
chain verified again). The refusals: a target with rows (store.not_empty, exit
2, nothing written), a server that cannot be reached (store.unavailable, exit
3, the password never shown), a password in the conninfo (config.bad_value,
exit 2), a copy failing half-way (nothing of it left on the target).
Run by pg_fixture.sh (suite store_copy_pg).
"""
import hashlib
import os
import re
import sqlite3

from pgtest import (check, conninfo, create_db, done, fill_sqlite, gateway_dir, mailgw,
                    pg_config, pg_counts, psql, sqlite_counts, TABLES)

d = gateway_dir()
cfg = fill_sqlite(d)
src = sqlite_counts(d)
check(src["reports"] == 12 and src["quarantine"] == 23 and src["svc_notify"] > 0
      and src["svc_audit"] > 0 and src["counters"] > 0,
      f"the source holds the fixtures' data: {src}")
pwfile = os.path.join(d, "db.password")
with open(pwfile, "w") as f:
    f.write("Pw-never-shown-7731\n")
os.chmod(pwfile, 0o600)

# ---- the copy into a database without a schema ----
create_db("copy1")
rc, out, err = mailgw(cfg, "store", "copy", "--to", conninfo("copy1"), "--password-file", pwfile)
check(rc == 0, f"store copy exits 0 (rc={rc}, stderr={err!r})")
printed = {}
for line in out.splitlines():
    m = re.fullmatch(r"(\w+)\s+(\d+)\s+(\d+)\s+(\d+)", line)
    if m:
        printed[m.group(1)] = tuple(int(x) for x in m.group(2, 3, 4))
check(list(printed) == TABLES, f"one line per table, in order: {list(printed)}")
check(all(printed.get(t) == (src[t],) * 3 for t in TABLES),
      "each line says source = copied = target = the SQLite count")
total = sum(src.values())
check(f"store copy: {total} rows in {len(TABLES)} tables, counts verified; audit chain of "
      f"{src['svc_audit']} entries verified on the target, head " in out,
      "the summary line names the rows, the tables and the chain")
dst = pg_counts("copy1")
check(dst == src, f"every table holds as many rows on PostgreSQL as in SQLite: {dst}")
check(psql("copy1", "SELECT max(version) FROM telemail_schema")[1] ==
      psql("copy1", "SELECT count(*) FROM telemail_schema")[1],
      "the target was initialised to the current schema")
for t, col in (("reports", "report_id"), ("svc_audit", "hash"), ("message_log", "outcome")):
    pg = psql("copy1", f"SELECT string_agg({col}, ',' ORDER BY {col}) FROM {t}")[1]
    lite = sqlite3.connect(os.path.join(d, "state", "telemail.db")).execute(
        f"SELECT group_concat({col}, ',') FROM (SELECT {col} FROM {t} ORDER BY {col})"
    ).fetchone()[0]
    check(pg == lite, f"{t}.{col}: the same values on both sides")
raw_pg = psql("copy1", "SELECT md5(string_agg(raw, ''::bytea ORDER BY id)) FROM quarantine")[1]
qdb = sqlite3.connect(os.path.join(d, "state", "quarantine", "quarantine.db"))
raw_lite = hashlib.md5(b"".join(r[0] for r in qdb.execute(
    "SELECT raw FROM quarantine ORDER BY id"))).hexdigest()
check(raw_pg == raw_lite, "the quarantined messages are the same bytes")

# the chain, through a gateway of the PostgreSQL configuration
rc, lite_out, _ = mailgw(cfg, "audit", "verify")
head = re.search(r"[0-9a-f]{64}", lite_out).group(0)
pgcfg = pg_config(d, "copy1")
rc, out, err = mailgw(pgcfg, "audit", "verify", "--head", head)
check(rc == 0, f"audit verify --head <the source's head> passes on the target ({out!r} {err!r})")
# a report's id: its month (received_at) above the 40 bits of the sequence
ids = psql("copy1", "SELECT nextval(pg_get_serial_sequence('reports', 'id')) > "
           "max(id & ((1::bigint << 40) - 1)) FROM reports")[1]
check(ids == "t", "the reports' sequence goes on after the copied ids")
ids = psql("copy1", "SELECT count(*) FROM reports WHERE id >> 40 <> extract(year FROM "
           "to_timestamp(received_at) AT TIME ZONE 'UTC') * 12 + extract(month FROM "
           "to_timestamp(received_at) AT TIME ZONE 'UTC') - 1")[1]
check(ids == "0", f"each report's id carries the month it was received in ({ids})")
keys = psql("copy1", "SELECT count(*) FROM report_keys k JOIN reports r USING (id, report_id,"
            " serial, seq)")[1]
check(int(keys) == src["reports"], f"a report_keys row per report ({keys})")
lists = psql("copy1", "SELECT (SELECT count(*) FROM counters c WHERE NOT EXISTS (SELECT 1 FROM "
             "reports r WHERE r.id = c.report)) + (SELECT count(*) FROM report_json j WHERE NOT "
             "EXISTS (SELECT 1 FROM reports r WHERE r.id = j.report))")[1]
check(lists == "0", "the counters and the JSON follow their reports' new ids")
# billing reads the counters packed in each report's row (schema v15): the copy fills them
nulls = psql("copy1", "SELECT count(*) FROM reports r WHERE r.meters IS NULL AND EXISTS "
             "(SELECT 1 FROM counters c WHERE c.report = r.id)")[1]
check(nulls == "0", f"each copied report with counters has them packed ({nulls} without)")
months = psql("copy1", "SELECT string_agg(DISTINCT to_char(to_timestamp(generated_unix) AT TIME "
              "ZONE 'UTC', 'YYYY-MM'), ' ') FROM reports")[1].split()
check(len(months) > 0, f"the fixtures' reports fall in months: {months}")
for month in months:
    lite = mailgw(cfg, "billing", "--tenant", "acme", "--period", month, "--format", "csv",
                  "--at", "2030-01-01T00:00:00Z")
    pg = mailgw(pgcfg, "billing", "--tenant", "acme", "--period", month, "--format", "csv",
                "--at", "2030-01-01T00:00:00Z")
    check(lite[0] == 0 and lite[1].count("\n") > 1 and pg == lite,
          f"billing of {month}: the same CSV from the copy as from the source"
          + ("" if pg == lite else f" ({lite!r} {pg!r})"))
ids = psql("copy1", "SELECT nextval(pg_get_serial_sequence('svc_alerts', 'id')) > max(id) "
           "FROM svc_alerts")[1]
check(ids == "t", "the alerts' identity goes on after the copied ids")
rc, out, err = mailgw(pgcfg, "tenant", "add", "newco", "--parent", "acme")
check(rc == 0, f"the PostgreSQL gateway adds a tenant after the copy ({err!r})")
rc, out, err = mailgw(pgcfg, "audit", "verify")
check(rc == 0 and f"entries={src['svc_audit'] + 1} " in out,
      f"the chain verifies with the new entry appended ({out!r})")

# ---- refusals ----
rc, out, err = mailgw(cfg, "store", "copy", "--to", conninfo("copy1"))
check(rc == 2, f"a target with rows: exit 2 (rc={rc})")
check(err == "telemail-mailgw: store copy: store.not_empty: the target's table tenants already "
      "holds 3 rows: store copy fills an empty database only (a new one, or one `store init` "
      "made)\n", f"store.not_empty names the table and its rows: {err!r}")
check(pg_counts("copy1")["reports"] == src["reports"], "nothing was added to it")

rc, out, err = mailgw(cfg, "store", "copy", "--to", "host=/nonexistent/tm-sock user=telemail "
                      "dbname=nowhere", "--password-file", pwfile)
check(rc == 3, f"a server that cannot be reached: exit 3 (rc={rc})")
check(err.startswith("telemail-mailgw: store copy: target: store.unavailable: postgresql "
                     "host=/nonexistent/tm-sock dbname=nowhere user=telemail: connect: ")
      and "/nonexistent/tm-sock/.s.PGSQL.5432" in err,
      f"store.unavailable names the server and libpq's reason: {err!r}")
check("Pw-never-shown" not in out + err, "the password is not printed")

rc, out, err = mailgw(cfg, "store", "copy", "--to", conninfo("copy1") + " password=Hunter2-x")
check(rc == 2 and err.startswith("telemail-mailgw: store copy: target: config.bad_value: "
                                  "store.conninfo: holds a password"),
      f"a password in the conninfo: config.bad_value, exit 2 ({rc}, {err!r})")
check("Hunter2-x" not in out + err, "that password is not printed either")

rc, out, err = mailgw(cfg, "store", "copy")
check(rc == 2 and err.startswith("usage: telemail-mailgw store copy --to CONNINFO"),
      f"no --to: the usage, exit 2 ({rc}, {err!r})")

# a copy failing half-way (the target refuses audit rows) leaves nothing
create_db("copy2")
rc, _, err = mailgw(pg_config(d, "copy2"), "store", "init")
check(rc == 0, f"store init makes the schema of copy2 ({err!r})")
psql("copy2", "CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS "
     "$$BEGIN RAISE EXCEPTION 'test: no audit rows here'; END$$; "
     "CREATE TRIGGER no_audit BEFORE INSERT ON svc_audit FOR EACH ROW "
     "EXECUTE FUNCTION no_audit()")
rc, out, err = mailgw(cfg, "store", "copy", "--to", conninfo("copy2"))
check(rc == 3 and "store.failed" in err and "test: no audit rows here" in err,
      f"the failing table stops the copy: exit 3, store.failed with the server's words "
      f"({rc}, {err!r})")
check(all(v == 0 for v in pg_counts("copy2").values()),
      "one transaction: no table of copy2 holds a row")
done()

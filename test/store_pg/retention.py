#!/usr/bin/env python3
"""store.retention and `telemail-mailgw store purge` (issue 16), on both back ends.

The fixtures' store (pgtest.fill_sqlite) is copied into PostgreSQL; on each
back end the same rows are then moved into old months (received in March
2024, and one report and one message-log row on either side of the cutoff).
`store purge --at 2026-12-07T12:00:00Z` with `retention: 25 months` must
remove exactly the reports received before 2024-11-01T00:00:00Z with every
row of theirs, and the message-log rows received before it, keep all the
rest, add one audit entry saying so (the chain still verifying), and remove
nothing the second time (no audit entry either). Also: the cutoff at other
dates and months, retention off, and the configuration's refusals.
Run by pg_fixture.sh (suite retention_pg).
"""
import calendar
import os
import signal
import socket
import sqlite3
import subprocess
import time

from pgtest import (check, conninfo, create_db, done, fill_sqlite, gateway_dir, mailgw,
                    pg_config, psql, MAILGW)

CHILDREN = ["report_json", "counters", "supplies", "parts", "alerts", "diagnostics", "firmware"]
KEPT = ["tenants", "devices", "latest_supplies", "svc_alerts", "svc_notify", "svc_marks"]
OLD, CUTOFF = 1710460800, 1730419200   # 2024-03-15, 2024-11-01T00:00:00Z
AT = "2026-12-07T12:00:00Z"

d = gateway_dir("  retention: 25 months\n")
cfg = fill_sqlite(d)

# the same rows aged on both sides: the 4 oldest reports in March 2024, the
# 5th one second before the cutoff, the 6th at the cutoff (kept)
AGE = [
    f"UPDATE reports SET received_at = {OLD} WHERE id IN "
    "(SELECT id FROM reports ORDER BY id LIMIT 4)",
    f"UPDATE reports SET received_at = {CUTOFF - 1} WHERE id = "
    "(SELECT id FROM reports ORDER BY id LIMIT 1 OFFSET 4)",
    f"UPDATE reports SET received_at = {CUTOFF} WHERE id = "
    "(SELECT id FROM reports ORDER BY id LIMIT 1 OFFSET 5)",
    f"UPDATE message_log SET received_at = {OLD} WHERE raw_sha256 IN "
    "(SELECT raw_sha256 FROM message_log ORDER BY raw_sha256 LIMIT 6)",
    f"UPDATE message_log SET received_at = {CUTOFF - 1} WHERE raw_sha256 = "
    "(SELECT raw_sha256 FROM message_log ORDER BY raw_sha256 LIMIT 1 OFFSET 6)",
    f"UPDATE message_log SET received_at = {CUTOFF} WHERE raw_sha256 = "
    "(SELECT raw_sha256 FROM message_log ORDER BY raw_sha256 LIMIT 1 OFFSET 7)",
]
# aged in SQLite, then copied: on PostgreSQL each report lands in the
# partition of the month it was received in (schema version 12)
lite = sqlite3.connect(os.path.join(d, "state", "telemail.db"))
for sql in AGE:
    lite.execute(sql)
lite.commit()
create_db("ret")
rc, _, err = mailgw(cfg, "store", "copy", "--to", conninfo("ret"))
check(rc == 0, f"store copy into ret ({err!r})")
pgcfg = pg_config(d, "ret")
PARTITIONED = ["reports"] + CHILDREN
PARTS_2024 = ("SELECT coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '') FROM pg_inherits i"
              " JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r'"
              " AND c.relname LIKE '%\\_2024\\_%'")


def months_2024(*months):
    return ",".join(sorted(f"{t}_2024_{m}" for t in PARTITIONED for m in months))


def q_lite(sql):
    return lite.execute(sql).fetchone()[0]


def q_pg(sql):
    return int(psql("ret", sql)[1])


for name, config, q in (("sqlite", cfg, q_lite), ("postgresql", pgcfg, q_pg)):
    old_ids = "(SELECT id FROM reports WHERE received_at < %d)" % CUTOFF
    before = {t: q(f"SELECT count(*) FROM {t}") for t in ["reports", "message_log"] + CHILDREN + KEPT}
    old_rows = {t: q(f"SELECT count(*) FROM {t} WHERE report IN {old_ids}") for t in CHILDREN}
    audit_before = q("SELECT count(*) FROM svc_audit")
    check(old_rows["report_json"] == 5 and old_rows["counters"] > 0,
          f"{name}: the aged reports have rows of their own: {old_rows}")

    if name == "postgresql":
        parts = psql("ret", PARTS_2024)[1]
        check(parts == months_2024("03", "10", "11"),
              f"postgresql: a partition per month received in, of each table: {parts!r}")
        check(q("SELECT count(*) FROM reports_2024_03") == 4
              and q("SELECT count(*) FROM reports_2024_10") == 1
              and q("SELECT count(*) FROM reports_2024_11") == 1
              and q("SELECT count(*) FROM report_keys") == before["reports"],
              "postgresql: 4 reports in March 2024, one in October, one in November, and "
              "a key row each")
        check(q("SELECT count(*) FROM counters_2024_03") + q("SELECT count(*) FROM counters_2024_10")
              == old_rows["counters"] > 0, "postgresql: the old reports' counters in their months")
        kept_counters = q("SELECT count(*) FROM counters_2024_11")

    rc, out, err = mailgw(config, "store", "purge", "--at", AT)
    check(rc == 0 and out == "store purge: retention 25 months: received before "
          "2024-11-01T00:00:00Z: 5 reports (with their rows), 7 message-log rows removed\n",
          f"{name}: store purge says what it removed: {rc} {out!r} {err!r}")
    check(q("SELECT count(*) FROM reports") == before["reports"] - 5
          and q(f"SELECT count(*) FROM reports WHERE received_at < {CUTOFF}") == 0
          and q(f"SELECT count(*) FROM reports WHERE received_at = {CUTOFF}") == 1,
          f"{name}: the 5 reports before the cutoff are gone, the one at it is kept")
    for t in CHILDREN:
        check(q(f"SELECT count(*) FROM {t}") == before[t] - old_rows[t],
              f"{name}: {t}: exactly the purged reports' {old_rows[t]} rows are gone")
    check(q("SELECT count(*) FROM message_log") == before["message_log"] - 7
          and q(f"SELECT count(*) FROM message_log WHERE received_at = {CUTOFF}") == 1,
          f"{name}: 7 message-log rows gone, the one at the cutoff kept")
    for t in KEPT:
        check(q(f"SELECT count(*) FROM {t}") == before[t], f"{name}: {t} untouched")
    if name == "postgresql":
        parts = psql("ret", PARTS_2024)[1]
        check(parts == months_2024("11"), f"postgresql: the partitions of March and October "
              f"2024 dropped, November's kept: {parts!r}")
        check(q("SELECT count(*) FROM reports_2024_11") == 1
              and q("SELECT count(*) FROM counters_2024_11") == kept_counters
              and q("SELECT count(*) FROM report_keys") == before["reports"] - 5,
              "postgresql: November's report and its counters kept; the dropped reports' keys gone")
    check(q("SELECT count(*) FROM svc_audit") == audit_before + 1,
          f"{name}: one audit entry for the run")
    obj = (lite.execute("SELECT action || ' ' || object FROM svc_audit ORDER BY seq DESC")
           .fetchone()[0] if name == "sqlite" else
           psql("ret", "SELECT action || ' ' || object FROM svc_audit ORDER BY seq DESC LIMIT 1")[1])
    check(obj == "retention.purge retention 25 months: before 2024-11-01T00:00:00Z: 5 reports, "
          "7 message-log rows", f"{name}: the entry names the cutoff and the counts: {obj!r}")
    rc, out, err = mailgw(config, "audit", "verify")
    check(rc == 0, f"{name}: audit verify: {out!r}")

    rc, out, err = mailgw(config, "store", "purge", "--at", AT)
    check(rc == 0 and out.endswith(": 0 reports (with their rows), 0 message-log rows removed\n")
          and q("SELECT count(*) FROM svc_audit") == audit_before + 1,
          f"{name}: again: nothing removed, nothing audited ({out!r})")

# the cutoff: the month `months` months before the current one, UTC
e = gateway_dir("  retention: 1 month\n")
for months, at, want in (("1 month", "2026-01-15T00:00:00Z", "2025-12-01T00:00:00Z"),
                         ("13 months", "2026-01-01T00:00:00Z", "2024-12-01T00:00:00Z"),
                         ("12 months", "2026-12-31T23:59:59Z", "2025-12-01T00:00:00Z"),
                         ("1200 months", "2026-03-01T00:00:00Z", "1926-03-01T00:00:00Z")):
    with open(os.path.join(e, "gw.yaml")) as f:
        text = f.read()
    path = os.path.join(e, "cut.yaml")
    with open(path, "w") as f:
        f.write(text.replace("  retention: 1 month\n", f"  retention: {months}\n"))
    rc, out, err = mailgw(path, "store", "purge", "--at", at)
    check(rc == 0 and f"received before {want}:" in out, f"{months} at {at}: {want} ({out!r} {err!r})")

off = gateway_dir()
rc, out, err = mailgw(os.path.join(off, "gw.yaml"), "store", "purge")
check(rc == 0 and out == "store purge: store.retention is off: nothing to purge\n",
      f"retention off: nothing purged ({out!r})")

for bad in ("0 months", "25 weeks", "1201 months", "2 month", "-3 months", "25months"):
    b = gateway_dir(f"  retention: {bad}\n")
    rc, out, err = mailgw(os.path.join(b, "gw.yaml"), "check-config")
    check(rc == 2 and "config.bad_value" in err and "store.retention" in err
          and f"'{bad}': want off, or N months with N from 1 to 1200 (e.g. 25 months)" in err,
          f"retention {bad!r} refused: {err.strip()!r}")
# serve purges by itself, at its start and then daily (by today's clock:
# the cutoff 25 months before this month): on PostgreSQL, 3 reports and 4
# message-log rows aged before it, one of each at it
now = time.gmtime()
index = now.tm_year * 12 + (now.tm_mon - 1) - 25
CUT_NOW = int(calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)))
for sql in (f"UPDATE reports SET received_at = {CUT_NOW - 86400} WHERE id IN "
            "(SELECT id FROM reports ORDER BY id LIMIT 3)",
            f"UPDATE reports SET received_at = {CUT_NOW} WHERE id = "
            "(SELECT id FROM reports ORDER BY id LIMIT 1 OFFSET 3)",
            f"UPDATE message_log SET received_at = {CUT_NOW - 1} WHERE raw_sha256 IN "
            "(SELECT raw_sha256 FROM message_log ORDER BY raw_sha256 LIMIT 4)",
            f"UPDATE message_log SET received_at = {CUT_NOW} WHERE raw_sha256 = "
            "(SELECT raw_sha256 FROM message_log ORDER BY raw_sha256 LIMIT 1 OFFSET 4)"):
    psql("ret", sql)
reports_before = q_pg("SELECT count(*) FROM reports")
cut_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(CUT_NOW))
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
with open(pgcfg) as f:
    text = f.read()
serve_cfg = os.path.join(d, "serve.yaml")
with open(serve_cfg, "w") as f:
    f.write(text + f"listen:\n  smtp: 127.0.0.1:{port}\n")
proc = subprocess.Popen([MAILGW, "-c", serve_cfg, "serve"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, text=True, cwd=d)
line = None
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    got = proc.stderr.readline()
    if not got:
        break
    if "event=retention" in got:
        line = got
        break
proc.send_signal(signal.SIGTERM)
try:
    proc.communicate(timeout=30)
except subprocess.TimeoutExpired:
    proc.kill()
    proc.communicate()
check(line is not None and f"gw store event=retention before={cut_text} reports=3 "
      "messages=4" in line, f"serve's service thread purged and said so: {line!r}")
check(q_pg("SELECT count(*) FROM reports") == reports_before - 3
      and q_pg(f"SELECT count(*) FROM reports WHERE received_at = {CUT_NOW}") == 1
      and q_pg(f"SELECT count(*) FROM message_log WHERE received_at < {CUT_NOW}") == 0
      and q_pg(f"SELECT count(*) FROM message_log WHERE received_at = {CUT_NOW}") == 1,
      "the rows before the cutoff are gone, those at it kept")
rc, out, err = mailgw(pgcfg, "audit", "verify")
check(rc == 0, f"audit verify after serve's purge: {out!r}")

rc, out, err = mailgw(cfg, "store", "purge", "--at", "yesterday")
check(rc == 2 and "report.schema" in err and "--at" in err, f"a bad --at: {rc} {err!r}")
done()

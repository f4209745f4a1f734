#!/usr/bin/env python3
"""The reporting views and their row-level security (issue 16), with psql
sessions as the reporting roles, over the fixture's unix socket.

The fixtures' store (pgtest.fill_sqlite) with a wider tenant tree:
acme > acme-east > acme-east-lab, acme > acme-west (XK300001 enrolled there),
and a root globex; copied into PostgreSQL (store copy), plus a device of
acme-east-lab and one of globex. Then each reporting role's psql session
reads the five views: a tenant sees its own and its descendants' rows, never
a sibling's or a parent's; an operator role sees every tenant; a role with
SELECT but no grant sees nothing; writes are refused; a revoked role reads
nothing. Each view's rows for a role are compared with the same view read by
the owner and filtered by the expected tenants. The bad grants: an unknown
role (store.no_role), an unknown tenant (registry.not_found), SQLite
(store.unsupported), with their exact messages and exit statuses.
Run by pg_fixture.sh (suite reporting_pg).
"""
import os

from pgtest import (check, conninfo, create_db, done, fill_sqlite, gateway_dir, mailgw,
                    pg_config, psql)

VIEWS = {
    "reporting_devices": "serial",
    "reporting_supplies": "serial || '#' || supply_index",
    "reporting_meter_readings": "serial || '/' || report_seq || '/' || service || '/' || counter",
    "reporting_alerts": "id::text",
    "reporting_billing_lines": "serial || '/' || service || '/' || counter || '/' || period",
}

d = gateway_dir()
cfg = fill_sqlite(d)
old = os.getcwd()
os.chdir(d)
for args in (["tenant", "add", "acme-east-lab", "--parent", "acme-east"],
             ["tenant", "add", "acme-west", "--parent", "acme"],
             ["tenant", "add", "globex"],
             ["enroll", "--cert", "pki/dev-XK300001.pem", "--tenant", "acme-west"]):
    rc, _, err = mailgw(cfg, *args)
    check(rc == 0, f"{' '.join(args)} ({err!r})")
os.chdir(old)
create_db("rep")
rc, _, err = mailgw(cfg, "store", "copy", "--to", conninfo("rep"))
check(rc == 0, f"store copy into rep ({err!r})")
pgcfg = pg_config(d, "rep")
psql("rep", "INSERT INTO devices (serial, tenant, enrolled_at) VALUES "
     "('LAB-1', 'acme-east-lab', 1700000000), ('GLX-1', 'globex', 1700000000)")
for role in ("bi_east", "bi_lab", "bi_acme", "bi_ops", "bi_none", "bi_gone"):
    psql("postgres", f"CREATE ROLE {role} LOGIN")

for role, scope in (("bi_east", "acme-east"), ("bi_lab", "acme-east-lab"),
                    ("bi_acme", "acme"), ("bi_ops", "--operator"), ("bi_gone", "acme")):
    rc, out, err = mailgw(pgcfg, "store", "grant-reporting", role, scope)
    want = (f"store: role {role} reads the reporting views, every tenant (operator)\n"
            if scope == "--operator" else
            f"store: role {role} reads the reporting views, scoped to tenant {scope}\n")
    check(rc == 0 and out == want, f"grant-reporting {role} {scope}: {out!r} {err!r}")

TREE = {
    "bi_east": {"acme-east", "acme-east-lab"},
    "bi_lab": {"acme-east-lab"},
    "bi_acme": {"acme", "acme-east", "acme-east-lab", "acme-west"},
    "bi_ops": {"acme", "acme-east", "acme-east-lab", "acme-west", "globex"},
}


def keys(view, user=None, where="true"):
    rc, out, err = psql("rep", f"SELECT {VIEWS[view]} FROM {view} WHERE {where} "
                        f"ORDER BY 1", user=user, check_rc=False)
    if rc != 0:
        return ("error", err)
    return out.splitlines()


devices = {r: keys("reporting_devices", r) for r in TREE}
check(devices["bi_east"] == ["LAB-1", "XK100002"],
      f"acme-east sees its device and its child's, not acme's nor acme-west's: "
      f"{devices['bi_east']}")
check(devices["bi_lab"] == ["LAB-1"], f"acme-east-lab sees its own only: {devices['bi_lab']}")
check("XK300001" in devices["bi_acme"] and "LAB-1" in devices["bi_acme"]
      and "GLX-1" not in devices["bi_acme"],
      f"acme sees its whole subtree, not the root globex: {devices['bi_acme']}")
owner_all = keys("reporting_devices")
check(devices["bi_ops"] == owner_all and "GLX-1" in owner_all,
      "the operator role sees every device, as the owner does")

for role, tenants in TREE.items():
    inlist = ", ".join(f"'{t}'" for t in sorted(tenants))
    for view in VIEWS:
        mine = keys(view, role)
        want = keys(view, None, f"tenant IN ({inlist})")
        check(mine == want, f"{role}: {view}: {len(mine)} rows, those of its tenants")
non_empty = [v for v in VIEWS if keys(v, None, "tenant IN ('acme-east')")]
check(non_empty == ["reporting_devices", "reporting_meter_readings", "reporting_alerts",
                    "reporting_billing_lines"],
      f"acme-east has rows in the views compared (not a vacuous comparison): {non_empty}")
check(len(keys("reporting_supplies", "bi_acme")) > 0, "acme's supplies are compared too")
rc, out, err = psql("rep", "SELECT count(*) FROM telemail_visible_tenants('bi_ops')",
                    user="bi_east")
check(out == "0", f"bi_east cannot ask for the operator's tenants: {out}")
alerts_all = keys("reporting_alerts")
check(len(alerts_all) > len(keys("reporting_alerts", "bi_east")),
      "the owner sees alerts that acme-east does not")

# writes are refused; tables outside the views are not readable at all
for sql, what in (("UPDATE devices SET state = 'x'", "permission denied for table devices"),
                  ("INSERT INTO reporting_devices (serial, tenant) VALUES ('X1', 'acme-east')",
                   "permission denied for view reporting_devices"),
                  ("DELETE FROM svc_alerts", "permission denied for table svc_alerts"),
                  ("SELECT count(*) FROM message_log", "permission denied for table message_log"),
                  ("SELECT count(*) FROM reporting_logins",
                   "permission denied for table reporting_logins")):
    rc, out, err = psql("rep", sql, user="bi_east", check_rc=False)
    check(rc != 0 and f"ERROR:  {what}" in err, f"bi_east: {sql}: {err!r}")

# SELECT without a grant of telemail's: the policies show nothing
psql("rep", "GRANT SELECT ON devices, reporting_devices TO bi_none")
check(keys("reporting_devices", "bi_none") == [],
      "a role with SELECT but no reporting grant sees no row")

# revoke
rc, out, err = mailgw(pgcfg, "store", "revoke-reporting", "bi_gone")
check(rc == 0 and out == "store: role bi_gone no longer reads the reporting views\n",
      f"revoke-reporting bi_gone: {out!r}")
check(keys("reporting_devices", "bi_gone")[0] == "error",
      "the revoked role cannot read the view any more")
rc, out, err = mailgw(pgcfg, "store", "revoke-reporting", "bi_gone")
check(rc == 0 and out == "store: role bi_gone had no reporting grant\n",
      f"revoke again: {out!r}")

# the bad grants
where = f"postgresql host={os.environ['TM_PG_HOST']} dbname=rep user={os.environ['TM_PG_USER']}"
rc, out, err = mailgw(pgcfg, "store", "grant-reporting", "ghost", "acme")
check(rc == 2 and err == "telemail-mailgw: store grant-reporting: store.no_role: "
      f"{where}: there is no role 'ghost': create it first (CREATE ROLE ghost LOGIN ...)\n",
      f"an unknown role: store.no_role, exit 2: {rc} {err!r}")
rc, out, err = mailgw(pgcfg, "store", "grant-reporting", "bi_none", "nosuch")
check(rc == 2 and err == "telemail-mailgw: store grant-reporting: registry.not_found: "
      "tenant 'nosuch': not in the registry\n", f"an unknown tenant: {rc} {err!r}")
check(keys("reporting_devices", "bi_none") == [], "and nothing was granted")
rc, out, err = mailgw(cfg, "store", "grant-reporting", "bi_none", "acme")
check(rc == 2 and err == "telemail-mailgw: store grant-reporting: store.unsupported: the "
      "sqlite store has no reporting roles (views with row-level security) in this version\n",
      f"SQLite: store.unsupported: {rc} {err!r}")

# every grant and revoke is in the chain, and the chain holds
rc, out, err = mailgw(pgcfg, "audit", "--json")
check(out.count('"reporting.grant"') == 5 and out.count('"reporting.revoke"') == 1,
      "five grants and one revoke audited (the second revoke changed nothing)")
rc, out, err = mailgw(pgcfg, "audit", "verify")
check(rc == 0, f"audit verify on the target: {out!r}")
done()

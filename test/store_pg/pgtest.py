"""What the PostgreSQL end-to-end tests of test/store_pg share (issue 16).

They run under test/pg_fixture.sh (TM_PG_HOST: the server's socket
directory, TM_PG_USER: its superuser) and drive the real telemail-mailgw of
the build (TM_BUILDDIR). A gateway state is made as the .eml fixtures expect
it (test/eml: registry.setup, then every replay/*.eml, then the silence
check with a webhook channel configured, so that alerts queue
notifications): records, message log, quarantine, alerts, notifications,
meter readings and the audit chain, all real.
"""
import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

SRC = os.environ["TM_SRCDIR"]
MAILGW = os.path.join(os.environ["TM_BUILDDIR"], "mailgw", "telemail-mailgw")
PG_HOST = os.environ["TM_PG_HOST"]
PG_USER = os.environ["TM_PG_USER"]
EML = os.path.join(SRC, "test", "eml")

# every table store copy moves (store_copy.c), the quarantine last
TABLES = ["tenants", "certificates", "devices", "cert_devices", "reports", "report_json",
          "counters", "supplies", "latest_supplies", "parts", "alerts", "diagnostics",
          "firmware", "message_log", "svc_alerts", "svc_marks", "svc_notify", "svc_audit",
          "collector_status", "collector_unreachable", "quarantine"]

failures = 0


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures += 1


def done():
    if failures:
        sys.exit(f"{failures} check(s) failed")
    print("all checks passed")


def conninfo(db, user=None):
    return f"host={PG_HOST} user={user or PG_USER} dbname={db}"


def psql(db, sql, user=None, check_rc=True):
    """Run sql with psql (unaligned, tuples only); (rc, stdout, stderr)."""
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-d", conninfo(db, user), "-c", sql],
                       capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        sys.exit(f"FAIL: psql {sql!r}: {p.stderr}")
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def create_db(name):
    psql("postgres", f"CREATE DATABASE {name}")


def mailgw(cfg, *args, env=None):
    p = subprocess.run([MAILGW, "-c", cfg, *args], capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def gateway_dir(store_extra=""):
    """A directory with `pki` (the fixtures') and gw.yaml (SQLite, a webhook
    channel that is never reached: notifications stay queued; store_extra:
    more lines of the store section)."""
    d = tempfile.mkdtemp(prefix="tm-storepg.")
    atexit.register(shutil.rmtree, d, True)
    os.symlink(os.path.join(EML, "pki"), os.path.join(d, "pki"))
    with open(os.path.join(EML, "mailgw-test.yaml")) as f:
        base = f.read()
    secret = os.path.join(d, "webhook.secret")
    with open(secret, "w") as f:
        f.write("a-webhook-secret\n")
    os.chmod(secret, 0o600)
    with open(os.path.join(d, "gw.yaml"), "w") as f:
        f.write(base.replace("  backend: sqlite\n", "  backend: sqlite\n" + store_extra)
                + f"state_dir: {d}/state\n"
                f"notify:\n  webhook:\n    url: \"http://127.0.0.1:9/hook\"\n"
                f"    secret_file: {secret}\n")
    return d


def pg_config(d, db, extra=""):
    """gw.yaml's twin on PostgreSQL database db."""
    with open(os.path.join(d, "gw.yaml")) as f:
        text = f.read().replace("  backend: sqlite\n",
                                f"  backend: postgresql\n  conninfo: \"{conninfo(db)}\"\n" + extra)
    path = os.path.join(d, f"gw-{db}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def fill_sqlite(d):
    """The fixtures' registry, every replay fixture, the silence check."""
    cfg = os.path.join(d, "gw.yaml")
    old = os.getcwd()
    os.chdir(d)
    try:
        with open(os.path.join(EML, "registry.setup")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    rc, _, err = mailgw(cfg, *line.split(" "))
                    if rc != 0:
                        sys.exit(f"FAIL: {line}: {err}")
        replay = os.path.join(EML, "replay")
        emls = sorted(os.path.join(replay, n) for n in os.listdir(replay) if n.endswith(".eml"))
        rc, out, err = mailgw(cfg, "replay", *emls)
        if rc not in (0, 1):
            sys.exit(f"FAIL: replay: {err}")
        rc, out, err = mailgw(cfg, "alerts", "check-silence")
        if rc != 0:
            sys.exit(f"FAIL: check-silence: {err}")
    finally:
        os.chdir(old)
    return cfg


def sqlite_counts(d):
    db = sqlite3.connect(os.path.join(d, "state", "telemail.db"))
    q = sqlite3.connect(os.path.join(d, "state", "quarantine", "quarantine.db"))
    out = {}
    for t in TABLES:
        c = q if t == "quarantine" else db
        out[t] = c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    return out


def pg_counts(db):
    return {t: int(psql(db, f"SELECT count(*) FROM {t}")[1]) for t in TABLES}

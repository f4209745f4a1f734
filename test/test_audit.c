/* The audit log: an entry for every ingest, enroll, revoke and alert
 * acknowledge, in the transaction of the change; append-only in the store;
 * a hash chain that `audit verify` checks, naming the entry that was
 * edited, deleted or reordered. Real SQLite files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "store/audit.h"
#include "common.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "store_fixture.h"

#define T0 1790000000

static char *tmpdir;
static char dbpath[512];
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	snprintf(dbpath, sizeof(dbpath), "%s/telemail.db", tmpdir);
	gw_service_config_defaults(&svc);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(audit, .init = setup, .fini = teardown);

struct rows {
	struct gw_audit_row r[64];
	size_t n;
};

static int collect(void *ctx, const struct gw_audit_row *a)
{
	struct rows *l = ctx;
	if (l->n < 64)
		l->r[l->n++] = *a;
	return 0;
}

static void entries(struct rows *l)
{
	struct tm_error err = {0};
	l->n = 0;
	cr_assert_eq(gw_store_audit_list(st, collect, l, &err), GW_STORE_OK, "%s", err.msg);
}

/* after setup's tenant add: enroll XK1, three reports (one with a condition),
 * ack it, revoke: 7 entries */
static void history(void)
{
	struct tm_error err = {0};
	sc_enroll(st, "XK1", "acme", 7);
	for (int i = 1; i <= 3; i++) {
		struct sc_report r;
		sc_report_init(&r, "XK1", i, T0 + i * 3600);
		r.conditions = i == 3 ? "[jammed]" : "[]";
		sc_ingest(st, &svc, &r, "acme", T0 + i * 3600);
	}
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "XK1", "condition", "jammed", &a));
	cr_assert_eq(gw_alerts_ack(st, &svc, a.id, "user:tech", T0 + 5 * 3600, &err), GW_STORE_OK);
	char fp[GW_SHA256_HEX];
	snprintf(fp, sizeof(fp), "%064x", 7);
	cr_assert_eq(gw_registry_revoke(st, fp, T0 + 6 * 3600, &err), GW_STORE_OK, "%s", err.msg);
	/* revoking again changes nothing and writes nothing */
	cr_assert_eq(gw_registry_revoke(st, fp, T0 + 7 * 3600, &err), GW_STORE_OK, "%s", err.msg);
}

/* SQL on the test's store (either back end): must it succeed? */
static void sql(const char *stmt, int want)
{
	bool ok = tm_store_exec(stmt, NULL);
	cr_assert_eq(ok, want == SQLITE_OK, "%s: %s", stmt, ok ? "succeeded" : "failed");
}

Test(audit, every_change_is_chained)
{
	history();
	struct rows l;
	entries(&l);
	cr_assert_eq(l.n, 7);
	const char *actions[] = { "tenant.add", "enroll", "ingest", "ingest", "ingest", "alert.ack",
				  "revoke" };
	for (size_t i = 0; i < l.n; i++) {
		cr_assert_eq(l.r[i].seq, (int64_t)i + 1);
		cr_assert_str_eq(l.r[i].action, actions[i]);
		cr_assert_str_eq(l.r[i].tenant, "acme");
		char h[GW_SHA256_HEX];
		gw_audit_hash(&l.r[i], h);
		cr_assert_str_eq(h, l.r[i].hash);
		if (i > 0)
			cr_assert_str_eq(l.r[i].prev_hash, l.r[i - 1].hash);
	}
	cr_assert_str_eq(l.r[0].prev_hash,
			 "0000000000000000000000000000000000000000000000000000000000000000");
	cr_assert_str_eq(l.r[2].actor, "pipeline");
	cr_assert_eq(strlen(l.r[2].after_digest), 64, "ingest records the report's digest");
	cr_assert_str_eq(l.r[2].before_digest, "");
	cr_assert_not_null(strstr(l.r[2].object, "device XK1 seq 1"), "%s", l.r[2].object);
	cr_assert_str_eq(l.r[5].actor, "user:tech");
	cr_assert_str_neq(l.r[5].before_digest, l.r[5].after_digest);
	cr_assert_eq(l.r[6].time, T0 + 6 * 3600);
	cr_assert_not_null(strstr(l.r[1].actor, ":"), "a local user or uid: %s", l.r[1].actor);

	struct gw_audit_verify v;
	struct tm_error err = {0};
	cr_assert_eq(gw_audit_verify(st, NULL, &v, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(v.entries, 7);
	cr_assert_str_eq(v.head, l.r[6].hash);
	cr_assert_eq(gw_audit_verify(st, l.r[6].hash, &v, &err), GW_STORE_OK);
}

Test(audit, the_store_refuses_update_and_delete)
{
	history();
	sql("UPDATE svc_audit SET actor = 'someone' WHERE seq = 2", SQLITE_CONSTRAINT);
	sql("DELETE FROM svc_audit WHERE seq = 6", SQLITE_CONSTRAINT);
}

static void tamper(const char *stmt)
{
	if (tm_sf.pg)
		sql("DROP TRIGGER svc_audit_no_change ON svc_audit", SQLITE_OK);
	else
		sql("DROP TRIGGER svc_audit_no_update; DROP TRIGGER svc_audit_no_delete", SQLITE_OK);
	sql(stmt, SQLITE_OK);
}

static void verify_fails(const char *needle)
{
	struct gw_audit_verify v;
	struct tm_error err = {0};
	cr_assert_eq(gw_audit_verify(st, NULL, &v, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "audit.broken");
	cr_assert_not_null(strstr(err.msg, needle), "%s", err.msg);
}

Test(audit, verify_detects_an_edited_entry)
{
	history();
	tamper("UPDATE svc_audit SET object = 'report x device XK9 seq 1' WHERE seq = 2");
	verify_fails("entry 2: hash does not match its contents (the entry was edited)");
}

Test(audit, verify_detects_an_edit_that_rehashes_the_entry)
{
	/* recomputing the edited entry's own hash breaks the link to the next one */
	history();
	struct rows l;
	entries(&l);
	struct gw_audit_row e = l.r[2];
	snprintf(e.actor, sizeof(e.actor), "someone");
	gw_audit_hash(&e, e.hash);
	char stmt[512];
	snprintf(stmt, sizeof(stmt), "UPDATE svc_audit SET actor = 'someone', hash = '%s' WHERE seq = 3",
		 e.hash);
	tamper(stmt);
	verify_fails("entry 4: prev_hash does not match the hash of the entry before it");
}

Test(audit, verify_detects_a_deleted_entry)
{
	history();
	tamper("DELETE FROM svc_audit WHERE seq = 3");
	verify_fails("entry 4: expected seq 3 here (an entry was deleted or moved)");
}

Test(audit, verify_detects_reordered_entries)
{
	history();
	tamper("UPDATE svc_audit SET seq = -1 WHERE seq = 2; UPDATE svc_audit SET seq = 2 WHERE seq = 3;"
	       "UPDATE svc_audit SET seq = 3 WHERE seq = -1");
	verify_fails("entry 2: prev_hash does not match the hash of the entry before it "
		     "(entries were reordered or deleted)");
}

Test(audit, verify_with_head_detects_truncation)
{
	history();
	struct rows l;
	entries(&l);
	char head[GW_SHA256_HEX];
	memcpy(head, l.r[6].hash, sizeof(head));
	tamper("DELETE FROM svc_audit WHERE seq = 7");
	struct gw_audit_verify v;
	struct tm_error err = {0};
	cr_assert_eq(gw_audit_verify(st, NULL, &v, &err), GW_STORE_OK, "without a head it cannot tell");
	cr_assert_eq(gw_audit_verify(st, head, &v, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "audit.broken");
	cr_assert_not_null(strstr(err.msg, "entries after it were removed"), "%s", err.msg);
}

Test(audit, rolled_back_with_the_change)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK);
	cr_assert_eq(gw_audit_append(st, "user:x", "enroll", "certificate x", "acme", NULL, NULL, T0,
				     &err), GW_STORE_OK);
	gw_store_rollback(st);
	struct rows l;
	entries(&l);
	cr_assert_eq(l.n, 1, "setup's tenant add only");
	cr_assert_eq(gw_audit_append(st, NULL, "x", "y", NULL, NULL, NULL, T0, &err), GW_STORE_OK);
	entries(&l);
	cr_assert_eq(l.n, 2);
	cr_assert_eq(l.r[1].seq, 2);

	/* a registry change that fails leaves no entry behind */
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, T0, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.exists");
	cr_assert_eq(gw_registry_tenant_set_parent(st, "acme", "ghost", T0, &err), GW_STORE_ERROR);
	entries(&l);
	cr_assert_eq(l.n, 2);
}

/* A batch appends once a report; the PostgreSQL back end keeps the head
 * it read and wrote while it holds the chain's lock. An item rolled back
 * in the middle takes its entry (and maybe the lock) with it: the next
 * append must chain to the entry before, and the chain verify. */
Test(audit, item_rolled_back_between_appends)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK, "%s", err.msg);
	const char *objects[] = { "kept 1", "rolled back", "kept 2", "kept 3" };
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(gw_store_item_begin(st, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_audit_append(st, "user:x", "test", objects[i], NULL, NULL, NULL,
					     T0 + i, &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_item_end(st, i != 1, &err), GW_STORE_OK, "%s", err.msg);
	}
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	/* and after the commit, in a transaction of its own */
	cr_assert_eq(gw_audit_append(st, "user:x", "test", "after", NULL, NULL, NULL, T0 + 9, &err),
		     GW_STORE_OK, "%s", err.msg);
	struct rows l;
	entries(&l);
	cr_assert_eq(l.n, 5, "setup's tenant add, three kept, one after");
	const char *want[] = { "kept 1", "kept 2", "kept 3", "after" };
	for (size_t i = 1; i < 5; i++) {
		cr_assert_eq(l.r[i].seq, (int64_t)i + 1);
		cr_assert_str_eq(l.r[i].object, want[i - 1]);
		cr_assert_str_eq(l.r[i].prev_hash, l.r[i - 1].hash);
	}
	struct gw_audit_verify v;
	cr_assert_eq(gw_audit_verify(st, l.r[4].hash, &v, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(v.entries, 5);
}

Test(audit, field_limits_are_explicit)
{
	struct tm_error err = {0};
	char big[200];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(gw_audit_append(st, "user:x", "enroll", big, NULL, NULL, NULL, T0, &err),
		     GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "internal.bug");
	cr_assert_str_eq(err.msg, "audit: object longer than 159 bytes");
}

/* Every change of the registry is in the log (issue 14, item 25): tenants
 * added and moved, enrolments, revocations; the chain still verifies. */
Test(audit, every_registry_change_is_audited)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme-hq", "acme", T0, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "globex", NULL, T0 + 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_set_parent(st, "globex", "acme", T0 + 2, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(gw_registry_tenant_set_parent(st, "globex", NULL, T0 + 3, &err), 0, "%s",
		     err.msg);
	sc_enroll(st, "XK1", "acme-hq", 7);
	char fp[GW_SHA256_HEX];
	snprintf(fp, sizeof(fp), "%064x", 7);
	cr_assert_eq(gw_registry_revoke(st, fp, T0 + 4, &err), GW_STORE_OK, "%s", err.msg);

	struct rows l;
	entries(&l);
	cr_assert_eq(l.n, 7);
	static const struct {
		const char *action, *object, *tenant, *before, *after;
		int64_t time;
	} want[] = {
		{ "tenant.add", "tenant acme parent -", "acme", "", "acme -", 100 },
		{ "tenant.add", "tenant acme-hq parent acme", "acme-hq", "", "acme-hq acme", T0 },
		{ "tenant.add", "tenant globex parent -", "globex", "", "globex -", T0 + 1 },
		{ "tenant.move", "tenant globex parent - -> acme", "globex", "globex -", "globex acme",
		  T0 + 2 },
		{ "tenant.move", "tenant globex parent acme -> -", "globex", "globex acme", "globex -",
		  T0 + 3 },
		{ "enroll", "certificate 0000000000000000 role device device XK1", "acme-hq", "", NULL,
		  1000 },
		{ "revoke", "certificate 0000000000000000 role device device XK1", "acme-hq", NULL, NULL,
		  T0 + 4 },
	};
	for (size_t i = 0; i < l.n; i++) {
		const struct gw_audit_row *a = &l.r[i];
		cr_assert_str_eq(a->action, want[i].action, "entry %zu", i + 1);
		cr_assert_str_eq(a->object, want[i].object, "entry %zu", i + 1);
		cr_assert_str_eq(a->tenant, want[i].tenant, "entry %zu", i + 1);
		cr_assert_eq(a->time, want[i].time, "entry %zu", i + 1);
		char d[GW_SHA256_HEX];
		if (want[i].before != NULL) {
			if (want[i].before[0] == '\0')
				d[0] = '\0';
			else
				gw_audit_digest(want[i].before, d);
			cr_assert_str_eq(a->before_digest, d, "entry %zu", i + 1);
		}
		if (want[i].after != NULL) {
			gw_audit_digest(want[i].after, d);
			cr_assert_str_eq(a->after_digest, d, "entry %zu", i + 1);
		}
	}
	struct gw_audit_verify v;
	cr_assert_eq(gw_audit_verify(st, NULL, &v, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(v.entries, 7);
	cr_assert_str_eq(v.head, l.r[6].hash);
}

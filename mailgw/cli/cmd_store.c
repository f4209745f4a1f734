/* telemail-mailgw — store init | migrate | status: the store's schema
 * version, for both back ends.
 *
 *   init     create the schema (an empty database) or bring it up to date
 *   migrate  bring an existing schema to the version this program knows,
 *            saying from which to which
 *   status   the back end, the version this program knows and the one in
 *            the database, and whether this program can run against it
 *   copy     --to CONNINFO [--password-file FILE]: the SQLite store of the
 *            configuration into an empty PostgreSQL database (store_copy.h),
 *            the counts per table, then the audit chain verified there
 *   purge    [--at TIME]: what store.retention keeps no longer, removed
 *            now (serve does it daily), audited (store/retention.h)
 *   grant-reporting ROLE TENANT|--operator, revoke-reporting ROLE:
 *            a PostgreSQL login role reads the reporting views, scoped to
 *            a tenant's subtree (docs/sql-views.md); audited
 *
 * A gateway migrates by itself when it opens the store; these commands let
 * an operator do it (or look) first, e.g. before several gateways of a new
 * version start against one PostgreSQL. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "config/config.h"
#include "store/audit.h"
#include "store/retention.h"
#include "store/store.h"
#include "store/store_copy.h"

static int open_as_is(struct gw_cli *c, struct gw_store **st)
{
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	struct gw_store_options o = gw_cli_store_options(c->cfg);
	o.schema = GW_STORE_SCHEMA_AS_IS;
	struct tm_error err = {0};
	int rc = gw_store_open(&o, st, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("store", &err);
		return rc == GW_STORE_RETRY ? GW_EXIT_FAILURE : GW_EXIT_USAGE;
	}
	return GW_EXIT_OK;
}

static int store_rc_exit(int rc, const struct tm_error *err)
{
	if (rc == GW_STORE_RETRY)
		return GW_EXIT_FAILURE;
	if (err->reason != NULL && (strcmp(err->reason, "store.not_empty") == 0 ||
				    strncmp(err->reason, "config.", 7) == 0))
		return GW_EXIT_USAGE;
	return GW_EXIT_FAILURE;
}

static int copy_usage(void)
{
	fputs("usage: telemail-mailgw store copy --to CONNINFO [--password-file FILE]\n", stderr);
	return GW_EXIT_USAGE;
}

/* store copy --to CONNINFO [--password-file FILE] */
static int cmd_copy(struct gw_cli *c, int argc, char **argv)
{
	const char *to = NULL, *password_file = NULL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strcmp(argv[i], "--password-file") == 0 && i + 1 < argc)
			password_file = argv[++i];
		else
			return copy_usage();
	}
	if (to == NULL)
		return copy_usage();
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	const struct gw_config *g = c->cfg;
	if (strcmp(g->store_backend, "sqlite") != 0) {
		fprintf(stderr, "telemail-mailgw: store copy: the configuration's store is %s: "
			"store copy moves an SQLite store into PostgreSQL\n", g->store_backend);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_store(c) < 0 || gw_cli_quarantine(c) < 0)
		return GW_EXIT_FAILURE;
	struct gw_store_options o = gw_cli_store_options(g);
	o.backend = "postgresql";
	o.conninfo = to;
	o.password_file = password_file;
	o.forward = false;
	o.schema = GW_STORE_SCHEMA_MIGRATE;
	struct tm_error err = {0};
	struct gw_store *target = NULL;
	int rc = gw_store_open(&o, &target, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("store copy: target", &err);
		return store_rc_exit(rc, &err);
	}
	struct gw_copy_result res;
	rc = gw_store_copy(c->store, c->quarantine, target, &res, &err);
	if (rc != GW_STORE_OK) {
		gw_store_close(target);
		gw_cli_error("store copy", &err);
		return store_rc_exit(rc, &err);
	}
	/* the chain on the target, against the source's head */
	struct gw_audit_verify src, dst;
	if (gw_audit_verify(c->store, NULL, &src, &err) < 0 ||
	    gw_audit_verify(target, src.head[0] != '\0' ? src.head : NULL, &dst, &err) < 0) {
		gw_store_close(target);
		gw_cli_error("store copy: audit verify", &err);
		return GW_EXIT_FAILURE;
	}
	gw_store_close(target);
	int64_t total = 0;
	printf("store copy: %s -> postgresql %s\n", g->store_path, to);
	printf("%-22s %10s %10s %10s\n", "table", "source", "copied", "target");
	for (size_t i = 0; i < res.n; i++) {
		printf("%-22s %10lld %10lld %10lld\n", res.t[i].table, (long long)res.t[i].source,
		       (long long)res.t[i].copied, (long long)res.t[i].target);
		total += res.t[i].copied;
	}
	printf("store copy: %lld rows in %zu tables, counts verified; audit chain of %zu entries "
	       "verified on the target%s%s\n", (long long)total, res.n, dst.entries,
	       dst.head[0] != '\0' ? ", head " : "", dst.head);
	return GW_EXIT_OK;
}

_Static_assert(GW_CONFIG_MAX_RETENTION == GW_RETENTION_MAX_MONTHS,
	       "store.retention's limit is the purge's");

/* store purge [--at TIME] */
static int cmd_purge(struct gw_cli *c, int argc, char **argv)
{
	const char *at = NULL;
	if (argc == 4 && strcmp(argv[2], "--at") == 0)
		at = argv[3];
	else if (argc != 2) {
		fputs("usage: telemail-mailgw store purge [--at TIME]\n", stderr);
		return GW_EXIT_USAGE;
	}
	struct tm_error err = {0};
	int64_t now = (int64_t)time(NULL);
	if (at != NULL && gw_store_parse_utc(at, "--at", &now, &err) < 0) {
		gw_cli_error("store purge", &err);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	int months = c->cfg->store_retention_months;
	if (months == 0) {
		printf("store purge: store.retention is off: nothing to purge\n");
		return GW_EXIT_OK;
	}
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct gw_retention_counts k;
	int rc = gw_retention_purge(c->store, months, now, &k, &err);
	if (rc != GW_STORE_OK) {
		gw_cli_error("store purge", &err);
		return GW_EXIT_FAILURE;
	}
	char cut[40];
	gw_store_format_utc(k.cutoff, 0, cut, sizeof(cut));
	printf("store purge: retention %d month%s: received before %s: %lld reports (with their "
	       "rows), %lld message-log rows removed\n", months, months == 1 ? "" : "s", cut,
	       (long long)k.reports, (long long)k.messages);
	return GW_EXIT_OK;
}

/* store grant-reporting ROLE TENANT|--operator | store revoke-reporting ROLE */
static int cmd_reporting(struct gw_cli *c, int argc, char **argv, bool grant)
{
	if (grant ? argc != 4 : argc != 3) {
		fputs(grant ? "usage: telemail-mailgw store grant-reporting ROLE TENANT|--operator\n"
			    : "usage: telemail-mailgw store revoke-reporting ROLE\n", stderr);
		return GW_EXIT_USAGE;
	}
	const char *role = argv[2];
	const char *tenant = grant && strcmp(argv[3], "--operator") != 0 ? argv[3] : NULL;
	if (gw_cli_store(c) < 0)
		return GW_EXIT_FAILURE;
	struct tm_error err = {0};
	bool found = true;
	char object[128];
	snprintf(object, sizeof(object), "reporting role %.63s%s", role,
		 grant && tenant == NULL ? " (operator: every tenant)" : "");
	int rc = gw_store_begin(c->store, &err);
	if (rc == GW_STORE_OK)
		rc = grant ? gw_store_reporting_grant(c->store, role, tenant, &err)
			   : gw_store_reporting_revoke(c->store, role, &found, &err);
	if (rc == GW_STORE_OK && found)
		rc = gw_audit_append(c->store, NULL, grant ? "reporting.grant" : "reporting.revoke",
				     object, tenant, NULL, NULL, (int64_t)time(NULL), &err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(c->store, &err);
	if (rc != GW_STORE_OK) {
		gw_store_rollback(c->store);
		gw_cli_error(grant ? "store grant-reporting" : "store revoke-reporting", &err);
		return rc == GW_STORE_RETRY || strcmp(err.reason, "store.failed") == 0
			       ? GW_EXIT_FAILURE : GW_EXIT_USAGE;
	}
	if (grant)
		printf("store: role %s reads the reporting views, %s%s\n", role,
		       tenant != NULL ? "scoped to tenant " : "every tenant (operator)",
		       tenant != NULL ? tenant : "");
	else
		printf("store: role %s %s\n", role,
		       found ? "no longer reads the reporting views" : "had no reporting grant");
	return GW_EXIT_OK;
}

int gw_cmd_store(struct gw_cli *c, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	if (strcmp(sub, "copy") == 0)
		return cmd_copy(c, argc, argv);
	if (strcmp(sub, "purge") == 0)
		return cmd_purge(c, argc, argv);
	if (strcmp(sub, "grant-reporting") == 0 || strcmp(sub, "revoke-reporting") == 0)
		return cmd_reporting(c, argc, argv, sub[0] == 'g');
	bool init = strcmp(sub, "init") == 0, migrate = strcmp(sub, "migrate") == 0;
	bool status = strcmp(sub, "status") == 0;
	if (argc != 2 || !(init || migrate || status)) {
		fputs("usage: telemail-mailgw store init | migrate | status\n"
		      "       telemail-mailgw store copy --to CONNINFO [--password-file FILE]\n"
		      "       telemail-mailgw store purge [--at TIME]\n"
		      "       telemail-mailgw store grant-reporting ROLE TENANT|--operator\n"
		      "       telemail-mailgw store revoke-reporting ROLE\n", stderr);
		return GW_EXIT_USAGE;
	}
	struct gw_store *st = NULL;
	int rc = open_as_is(c, &st);
	if (rc != GW_EXIT_OK)
		return rc;
	struct tm_error err = {0};
	int in_db = 0, known = 0;
	if (gw_store_schema_version(st, &in_db, &known, &err) != GW_STORE_OK) {
		gw_cli_error("store", &err);
		gw_store_close(st);
		return GW_EXIT_FAILURE;
	}
	const struct gw_config *g = c->cfg;
	if (status) {
		const char *verdict = in_db == known ? "up to date" :
				      in_db > known ? "newer than this program: it refuses to run" :
				      in_db == 0 ? "empty: `store init` (or the first start) creates it" :
				      "older: `store migrate` (or the first start) brings it up to date";
		if (c->json)
			printf("{\"backend\": \"%s\", \"known\": %d, \"database\": %d, \"ok\": %s}\n",
			       g->store_backend, known, in_db, in_db <= known ? "true" : "false");
		else
			printf("backend     %s %s\nknown       schema version %d\ndatabase    schema "
			       "version %d (%s)\n", g->store_backend, gw_cli_store_where(g), known,
			       in_db, verdict);
		gw_store_close(st);
		return in_db <= known ? GW_EXIT_OK : GW_EXIT_FAILURE;
	}
	if (init && in_db != 0 && in_db <= known) {
		printf("store: %s %s: already at schema version %d%s\n", g->store_backend,
		       gw_cli_store_where(g), in_db, in_db < known ? " (run store migrate)" : "");
		gw_store_close(st);
		return GW_EXIT_OK;
	}
	rc = gw_store_migrate(st, &err);
	gw_store_close(st);
	if (rc != GW_STORE_OK) {
		gw_cli_error("store", &err);
		return rc == GW_STORE_RETRY ? GW_EXIT_FAILURE : GW_EXIT_USAGE;
	}
	if (in_db == known)
		printf("store: %s: schema version %d, nothing to do\n", g->store_backend, known);
	else
		printf("store: %s: schema version %d -> %d\n", g->store_backend, in_db, known);
	return GW_EXIT_OK;
}

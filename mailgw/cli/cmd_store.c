/* telemail-mailgw — store init | migrate | status: the store's schema
 * version, for both back ends.
 *
 *   init     create the schema (an empty database) or bring it up to date
 *   migrate  bring an existing schema to the version this program knows,
 *            saying from which to which
 *   status   the back end, the version this program knows and the one in
 *            the database, and whether this program can run against it
 *
 * A gateway migrates by itself when it opens the store; these commands let
 * an operator do it (or look) first, e.g. before several gateways of a new
 * version start against one PostgreSQL. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "store/store.h"

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

int gw_cmd_store(struct gw_cli *c, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	bool init = strcmp(sub, "init") == 0, migrate = strcmp(sub, "migrate") == 0;
	bool status = strcmp(sub, "status") == 0;
	if (argc != 2 || !(init || migrate || status)) {
		fputs("usage: telemail-mailgw store init | migrate | status\n", stderr);
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

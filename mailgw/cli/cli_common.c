/* telemail-mailgw — what the commands share (see cli.h): the configuration,
 * the store and the quarantine, opened on demand, and the error line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "config/config.h"
#include "store/quarantine.h"
#include "store/store.h"

void gw_cli_error(const char *what, const struct tm_error *err)
{
	fprintf(stderr, "telemail-mailgw: %s: %s: %s\n", what, err->reason ? err->reason : "?",
		err->msg);
}

struct gw_store_options gw_cli_store_options(const struct gw_config *g)
{
	return (struct gw_store_options){
		.backend = g->store_backend, .path = g->store_path,
		.busy_timeout_ms = (int)(g->store_busy_timeout * 1000),
		.quarantine_dir = g->quarantine_dir,
		.conninfo = g->store_conninfo, .password_file = g->store_password_file,
		.forward = g->forward != NULL,
	};
}

const char *gw_cli_store_where(const struct gw_config *g)
{
	/* the conninfo holds no password (the back end refuses one) */
	return strcmp(g->store_backend, "postgresql") == 0 && g->store_conninfo != NULL
		       ? g->store_conninfo : g->store_path;
}

int gw_cli_config(struct gw_cli *c)
{
	if (c->cfg != NULL)
		return 0;
	struct tm_error err = {0};
	if (gw_config_load(c->config_path, &c->cfg, &err) < 0) {
		gw_cli_error("configuration", &err);
		return -1;
	}
	return 0;
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "telemail-mailgw: %s: %s\n", dir, strerror(errno));
	return -1;
}

int gw_cli_store(struct gw_cli *c)
{
	if (c->store != NULL)
		return 0;
	if (gw_cli_config(c) < 0 || make_dir(c->cfg->state_dir) < 0)
		return -1;
	struct gw_store_options o = gw_cli_store_options(c->cfg);
	struct tm_error err = {0};
	if (gw_store_open(&o, &c->store, &err) != GW_STORE_OK) {
		gw_cli_error("store", &err);
		return -1;
	}
	return 0;
}

int gw_cli_quarantine(struct gw_cli *c)
{
	if (c->quarantine != NULL)
		return 0;
	if (gw_cli_config(c) < 0 || make_dir(c->cfg->state_dir) < 0)
		return -1;
	struct gw_store_options o = gw_cli_store_options(c->cfg);
	struct tm_error err = {0};
	if (gw_quarantine_open(&o, &c->quarantine, &err) < 0) {
		gw_cli_error("quarantine", &err);
		return -1;
	}
	return 0;
}

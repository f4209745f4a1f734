/* telemail-mailgw — what the command implementations share (cli_common.c). */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <stdbool.h>

#include <telemail/error.h>

#include "store/store.h"

struct gw_config;
struct gw_store;
struct gw_quarantine;

struct gw_cli {
	const char *config_path;
	struct gw_config *cfg;      /* loaded on demand */
	struct gw_store *store;     /* opened on demand */
	struct gw_quarantine *quarantine;
	bool json;                  /* --json */
};

/* Exit codes. */
#define GW_EXIT_OK 0
#define GW_EXIT_REJECTED 1   /* some input was refused / not all stored */
#define GW_EXIT_USAGE 2      /* bad command line or configuration */
#define GW_EXIT_FAILURE 3    /* the store or the file system failed */

/* Load the configuration (once); print the error and return -1. */
int gw_cli_config(struct gw_cli *c);
/* Open the store / quarantine named by the configuration (creating the
 * state directory when absent). */
int gw_cli_store(struct gw_cli *c);
int gw_cli_quarantine(struct gw_cli *c);
/* The store options of a configuration (the strings are the config's). */
struct gw_store_options gw_cli_store_options(const struct gw_config *g);
/* Where the store is, for people: the SQLite file or the conninfo. */
const char *gw_cli_store_where(const struct gw_config *g);
/* Print "telemail-mailgw: <what>: <reason>: <message>" to stderr. */
void gw_cli_error(const char *what, const struct tm_error *err);

int gw_cmd_replay(struct gw_cli *c, int argc, char **argv);
int gw_cmd_store(struct gw_cli *c, int argc, char **argv);
int gw_cmd_quarantine(struct gw_cli *c, int argc, char **argv);
int gw_cmd_enroll(struct gw_cli *c, int argc, char **argv);
int gw_cmd_revoke(struct gw_cli *c, int argc, char **argv);
int gw_cmd_devices(struct gw_cli *c, int argc, char **argv);
int gw_cmd_tenant(struct gw_cli *c, int argc, char **argv);
/* cmd_service.c (issue 6) */
int gw_cmd_alerts(struct gw_cli *c, int argc, char **argv);
int gw_cmd_supplies(struct gw_cli *c, int argc, char **argv);
int gw_cmd_meters(struct gw_cli *c, int argc, char **argv);
int gw_cmd_billing(struct gw_cli *c, int argc, char **argv);
int gw_cmd_audit(struct gw_cli *c, int argc, char **argv);
int gw_cmd_notify(struct gw_cli *c, int argc, char **argv);
struct gw_notify_channel_stats;
/* status's lines (json: the members of its "notify" object) per channel */
void gw_cli_notify_status(const struct gw_notify_channel_stats *s, bool json);
/* cmd_forward.c (issue 17) */
int gw_cmd_forward(struct gw_cli *c, int argc, char **argv);
/* cmd_supply.c (issue 18) */
int gw_cmd_orders(struct gw_cli *c, int argc, char **argv);
/* cmd_serve.c (issue 5) */
int gw_cmd_serve(struct gw_cli *c, int argc, char **argv);
int gw_cmd_status(struct gw_cli *c, int argc, char **argv);
int gw_cmd_web(struct gw_cli *c, int argc, char **argv);

#endif

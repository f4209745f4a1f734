/* telemail-mailgw — `serve` (the daemon); `status` is cmd_status.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <telemail/buf.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/config_listen.h"
#include "service/notify.h"
#include "daemon/serve.h"
#include "spool/spool.h"
#include "store/store.h"

int gw_cmd_serve(struct gw_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "maildir", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct gw_serve_options o = { .config_path = c->config_path };
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'm') {
			o.maildir = optarg;
		} else if (ch == 'w') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > GW_CONFIG_MAX_WORKERS) {
				fprintf(stderr, "telemail-mailgw: --workers: 1 to %d\n", GW_CONFIG_MAX_WORKERS);
				return GW_EXIT_USAGE;
			}
			o.workers = (unsigned)v;
		} else {
			return GW_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "telemail-mailgw: serve [--maildir DIR] [--workers N]\n");
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	setvbuf(stderr, NULL, _IOLBF, 0);
	o.cfg = c->cfg;
	c->cfg = NULL; /* gw_serve_run owns it (and replaces it on SIGHUP) */
	struct tm_error err = {0};
	if (gw_serve_run(&o, &err) < 0) {
		gw_cli_error("serve", &err);
		return strncmp(err.reason, "config.", 7) == 0 || strcmp(err.reason, "smime.key") == 0
		       ? GW_EXIT_USAGE : GW_EXIT_FAILURE;
	}
	return GW_EXIT_OK;
}

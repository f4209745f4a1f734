/* telemail-mailgw — `web` (the fleet page on its own, without `serve`) and
 * `web token add` (a new viewer token, printed once, its hash appended to
 * the tokens file). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/path.h>

#include "cli/cli.h"
#include "config/config.h"
#include "config/config_forward.h"
#include "config/config_service.h"
#include "config/config_web.h"
#include "registry/registry.h"
#include "web/access.h"
#include "web/server.h"

static void log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

static int token_add(struct gw_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "operator", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "web token add --tenant T [--operator]";
	const char *tenant = NULL;
	bool op = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 't')
			tenant = optarg;
		else if (ch == 'o')
			op = true;
		else
			return GW_EXIT_USAGE;
	}
	if (tenant == NULL || optind != argc) {
		fprintf(stderr, "telemail-mailgw: %s\n", usage);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0 || gw_cli_store(c) < 0)
		return GW_EXIT_USAGE;
	struct tm_error err = {0};
	if (gw_registry_tenant_check(c->store, tenant, &err) != 0) {
		gw_cli_error("web token add", &err);
		return GW_EXIT_REJECTED;
	}
	char *file = c->cfg->web != NULL ? strdup(c->cfg->web->tokens_file)
					 : tm_path_join(c->cfg->state_dir, "web-tokens");
	char token[64];
	int rc = file == NULL ? -1 : gw_web_token_add(file, tenant, op, token, sizeof(token), &err);
	if (rc < 0) {
		if (file == NULL)
			fprintf(stderr, "telemail-mailgw: out of memory\n");
		else
			gw_cli_error("web token add", &err);
		free(file);
		return GW_EXIT_FAILURE;
	}
	/* the only time the token is shown: the file keeps its hash */
	printf("%s\n", token);
	fprintf(stderr, "telemail-mailgw: token for tenant %s%s added to %s (shown once; "
		"send it as Authorization: Bearer TOKEN, or as the password of a browser's prompt)\n",
		tenant, op ? " (operator)" : "", file);
	memset(token, 0, sizeof(token));
	free(file);
	return GW_EXIT_OK;
}

int gw_cmd_web(struct gw_cli *c, int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "token") == 0 && strcmp(argv[2], "add") == 0)
		return token_add(c, argc - 2, argv + 2);
	if (argc != 1) {
		fprintf(stderr, "telemail-mailgw: web | web token add --tenant T [--operator]\n");
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	const struct gw_config *cfg = c->cfg;
	if (cfg->web == NULL) {
		fprintf(stderr, "telemail-mailgw: web: the configuration has no web: section "
			"(web: {listen: 127.0.0.1:8443, tls: {cert: …, key: …}})\n");
		return GW_EXIT_USAGE;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* the web thread inherits the mask */
	const char *fwd[GW_FORWARD_MAX_ENDPOINTS];
	struct gw_web_options o = {
		.cfg = cfg->web, .store = gw_cli_store_options(cfg), .quarantine = true,
		.silence = cfg->service->silence,
		.estimate_after = cfg->service->estimate_after, .log = log_stderr,
		.fwd_endpoints = fwd,
		.n_fwd_endpoints = gw_forward_endpoint_names(cfg->forward, fwd),
	};
	struct gw_web *w = NULL;
	struct tm_error err = {0};
	if (gw_web_new(&o, &w, &err) < 0 || gw_web_start(w, &err) < 0) {
		gw_web_free(w);
		gw_cli_error("web", &err);
		return strncmp(err.reason, "config.", 7) == 0 || strcmp(err.reason, "smime.key") == 0
		       ? GW_EXIT_USAGE : GW_EXIT_FAILURE;
	}
	int sig = 0;
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		;   /* the tokens file is read again on its own when it changes */
	gw_web_free(w);
	fprintf(stderr, "gw web event=stopped\n");
	return GW_EXIT_OK;
}

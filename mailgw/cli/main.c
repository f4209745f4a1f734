/* telemail-mailgw — the gateway's command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "config/config.h"
#include "ingest/quarantine.h"
#include "store/store.h"

#define DEFAULT_CONFIG "/etc/telemail/mailgw.yaml"

static const char usage_text[] =
	"usage: telemail-mailgw [-c CONFIG] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  check-config                    read and check the configuration; print a summary\n"
	"  replay [--json] [--workers N] FILE|DIR...\n"
	"                                  run messages (.eml files) through the gateway's\n"
	"                                  pipeline: one line per message and a summary;\n"
	"                                  exit 0 when all were stored or duplicate\n"
	"  quarantine list [--json]        the quarantined messages with their reasons\n"
	"  quarantine show ID              one entry: reason, details, the raw message\n"
	"  quarantine release ID           run it through the pipeline again (e.g. after\n"
	"                                  enrolling the device); removed unless quarantined again\n"
	"  quarantine purge --older-than D remove entries older than D (e.g. 30d)\n"
	"  enroll --cert FILE --tenant T [--role device|collector] [--serial S]...\n"
	"                                  enroll a signer certificate (a collector lists the\n"
	"                                  devices it may report for)\n"
	"  revoke --cert FILE | --fingerprint HEX\n"
	"                                  refuse reports signed by this certificate\n"
	"  devices [--json] [--tenant T]   the enrolled devices (T and its descendants)\n"
	"  tenant add T [--parent P]       add a tenant (a customer, a site) under P\n"
	"  tenant list [--json]            the tenant tree\n"
	"  alerts [--open] [--tenant T] [--json]\n"
	"                                  service alerts (open, acknowledged, resolved)\n"
	"  alerts ack ID                   acknowledge an alert (events: resolve it)\n"
	"  alerts check-silence            raise device_silent / device_never_reported\n"
	"  supplies [--tenant T] [--json]  supply levels as of each device's newest report\n"
	"  meters [--tenant T] [--json]    counter readings of each device's newest report\n"
	"  billing --tenant T --period YYYY-MM [--format table|csv|json] [--at TIME]\n"
	"                                  opening, closing and usage per device and counter;\n"
	"                                  a month not over yet (as of --at, default now) is\n"
	"                                  open: it closes at the latest reading so far\n"
	"  audit [--tenant T] [--json]     the audit log; audit verify [--head HASH] checks it\n"
	"  notify run-once                 deliver due notifications (e-mail, webhook)\n"
	"  notify list [--failed] [--json] notifications not sent yet (queued, failed)\n"
	"  notify retry ID|--all           queue failed notifications again\n"
	"  serve [--maildir DIR] [--workers N]\n"
	"                                  the daemon: SMTP/LMTP listener, durable spool,\n"
	"                                  pipeline, notifications and silence checks\n"
	"                                  (SIGTERM stops, SIGHUP reloads)\n"
	"  web                             the fleet page and /metrics over HTTPS on their own\n"
	"                                  (serve runs them too when the configuration has web:)\n"
	"  web token add --tenant T [--operator]\n"
	"                                  a new token for the page, printed once; its SHA-256\n"
	"                                  goes into the tokens file\n"
	"  status [--json]                 spool depth, outcomes counted, store state,\n"
	"                                  notifications queued and failed per channel\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   configuration (default $TELEMAIL_MAILGW_CONFIG or " DEFAULT_CONFIG ")\n"
	"  -h, --help          this text\n"
	"  --version           the version\n"
	"\n"
	"Exit status: 0 ok, 1 some input was refused, 2 usage or configuration error,\n"
	"3 the store or the file system failed.\n";

void gw_cli_error(const char *what, const struct tm_error *err)
{
	fprintf(stderr, "telemail-mailgw: %s: %s: %s\n", what, err->reason ? err->reason : "?",
		err->msg);
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
	struct gw_store_options o = {
		.backend = c->cfg->store_backend, .path = c->cfg->store_path,
		.busy_timeout_ms = (int)(c->cfg->store_busy_timeout * 1000),
	};
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
	struct tm_error err = {0};
	if (gw_quarantine_open(c->cfg->quarantine_dir, &c->quarantine, &err) < 0) {
		gw_cli_error("quarantine", &err);
		return -1;
	}
	return 0;
}

static int cmd_check_config(struct gw_cli *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fputs(usage_text, stderr);
		return GW_EXIT_USAGE;
	}
	if (gw_cli_config(c) < 0)
		return GW_EXIT_USAGE;
	const struct gw_config *g = c->cfg;
	printf("%s: ok\n", c->config_path);
	printf("  state_dir       %s\n", g->state_dir);
	printf("  mailboxes       %zu (first: %s)\n", g->n_mailboxes, g->mailboxes[0]);
	printf("  gateway keys    %zu\n", g->n_keys);
	printf("  trust           %s%s%s\n", g->ca_file, g->crl_file ? ", CRL " : "",
	       g->crl_file ? g->crl_file : "");
	printf("  store           %s %s (batch %u)\n", g->store_backend, g->store_path, g->batch_size);
	printf("  quarantine      %s\n", g->quarantine_dir);
	printf("  allow_cbc       %s\n", g->allow_cbc ? "yes (AES-CBC accepted from older senders)" : "no");
	printf("  auto_enroll     %s\n", g->auto_enroll_tenant ? g->auto_enroll_tenant : "off");
	return GW_EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(struct gw_cli *c, int argc, char **argv);
} commands[] = {
	{ "check-config", cmd_check_config },
	{ "replay", gw_cmd_replay },
	{ "quarantine", gw_cmd_quarantine },
	{ "enroll", gw_cmd_enroll },
	{ "revoke", gw_cmd_revoke },
	{ "devices", gw_cmd_devices },
	{ "tenant", gw_cmd_tenant },
	{ "alerts", gw_cmd_alerts },
	{ "supplies", gw_cmd_supplies },
	{ "meters", gw_cmd_meters },
	{ "billing", gw_cmd_billing },
	{ "audit", gw_cmd_audit },
	{ "notify", gw_cmd_notify },
	{ "serve", gw_cmd_serve },
	{ "status", gw_cmd_status },
	{ "web", gw_cmd_web },
};

int main(int argc, char **argv)
{
	struct gw_cli c = { .config_path = getenv("TELEMAIL_MAILGW_CONFIG") };
	if (c.config_path == NULL)
		c.config_path = DEFAULT_CONFIG;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return GW_EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("telemail-mailgw %s\n", TM_VERSION);
			return GW_EXIT_OK;
		}
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			c.config_path = argv[++i];
			continue;
		}
		fprintf(stderr, "telemail-mailgw: unknown option %s\n", argv[i]);
		fputs(usage_text, stderr);
		return GW_EXIT_USAGE;
	}
	if (i == argc) {
		fputs(usage_text, stderr);
		return GW_EXIT_USAGE;
	}
	int rc = -1;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0) {
			optind = 1; /* each command parses its own options from its argv */
			rc = commands[k].fn(&c, argc - i, argv + i);
			break;
		}
	if (rc < 0) {
		fprintf(stderr, "telemail-mailgw: unknown command '%s'\n", argv[i]);
		fputs(usage_text, stderr);
		rc = GW_EXIT_USAGE;
	}
	gw_quarantine_close(c.quarantine);
	gw_store_close(c.store);
	gw_config_free(c.cfg);
	return rc;
}

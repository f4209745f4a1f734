/* telemail-mailgw — the gateway's command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>

#include "cli/cli.h"
#include "config/config.h"
#include "store/quarantine.h"
#include "store/store.h"

#define DEFAULT_CONFIG "/etc/telemail/mailgw.yaml"

/* In parts: one string literal would be longer than C99 promises to compile. */
static const char *const usage_text[] = {
	"usage: telemail-mailgw [-c CONFIG] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  check-config                    read and check the configuration; print a summary\n"
	"  check-config --defaults [--tsv] every key: type, default, limits, description\n"
	"                                  (--tsv: the fields separated by tabs)\n"
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
	"  alerts check-silence            raise collector_silent / device_silent / device_never_reported\n",
	"  supplies [--tenant T] [--format table|csv|json] [--json] [--at TIME] [--recompute]\n"
	"                                  supply levels as of each device's newest report,\n"
	"                                  days left and empty date (or why there is none):\n"
	"                                  the forecast kept when the level last changed, days\n"
	"                                  counted from now (--at); --recompute: each made again\n"
	"                                  from the supply's whole history\n"
	"  orders [list] [--tenant T] [--json]\n"
	"                                  replenishment orders, one per cartridge\n"
	"  orders ship ID | orders cancel ID\n"
	"                                  move an order on (audited)\n"
	"  orders rule --tenant T [--lead-time D] [--floor N] [--clear]\n"
	"                                  a tenant's order rule (inherited; audited)\n"
	"  orders cartridges [--tenant T] [--json]\n"
	"                                  each supply's cartridges; early replacements per tenant\n"
	"  meters [--tenant T] [--json]    counter readings of each device's newest report\n"
	"  billing --tenant T --period YYYY-MM [--format table|csv|json] [--at TIME]\n"
	"                                  opening, closing and usage per device and counter\n"
	"                                  over the calendar month (UTC) or the tenant's period\n"
	"                                  ending on its read day (billing.periods); estimated\n"
	"                                  reads where a device was silent at a cut-off;\n"
	"                                  a month not over yet (as of --at, default now) is\n"
	"                                  open: it closes at the latest reading so far\n"
	"  billing accept|exclude READING  settle a reading flagged suspect (audited)\n"
	"  audit [--tenant T] [--json]     the audit log; audit verify [--head HASH] checks it\n",
	"  notify run-once                 deliver due notifications (e-mail, webhook)\n"
	"  notify list [--failed] [--json] notifications not sent yet (queued, failed)\n"
	"  notify retry ID|--all           queue failed notifications again\n"
	"  forward status [--json]         forwarding per endpoint: queued, oldest, sent, retries, dead\n"
	"  forward run-once                forward what is due (CloudEvents over HTTPS)\n"
	"  forward dead list [--json]      batches the receiver refused, with its reply\n"
	"  forward dead retry ID|--all     queue dead-lettered events again\n"
	"  forward dead drop ID|--all      forget dead-lettered events\n"
	"  serve [--maildir DIR] [--workers N]\n"
	"                                  the daemon: SMTP/LMTP listener, durable spool,\n"
	"                                  pipeline, notifications and silence checks\n"
	"                                  (SIGTERM stops, SIGHUP reloads)\n"
	"  store init | migrate | status   the store's schema: create, migrate, versions\n"
	"  store copy --to CONNINFO [--password-file FILE]\n"
	"                                  move the SQLite store into an empty PostgreSQL\n"
	"                                  database (one transaction; counts per table)\n"
	"  store purge [--at TIME]         remove what store.retention keeps no longer (audited)\n"
	"  store grant-reporting ROLE TENANT|--operator, store revoke-reporting ROLE\n"
	"                                  (PostgreSQL) a login role reads the reporting\n"
	"                                  views, scoped to TENANT and its descendants\n"
	"  web                             the fleet page and /metrics over HTTPS on their own\n"
	"                                  (serve runs them too when the configuration has web:)\n"
	"  web token add --tenant T [--operator]\n"
	"                                  a new token for the page, printed once; its SHA-256\n"
	"                                  goes into the tokens file\n"
	"  status [--json]                 this gateway: spool depth, last commit, outcomes\n"
	"                                  counted; the shared state: store, devices, reports,\n"
	"                                  alerts, notifications queued, claimed and failed\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   configuration (default $TELEMAIL_MAILGW_CONFIG or " DEFAULT_CONFIG ")\n"
	"  -h, --help          this text\n"
	"  --version           the version\n"
	"\n"
	"Exit status: 0 ok, 1 some input was refused, 2 usage or configuration error,\n"
	"3 the store or the file system failed.\n",
};

static void usage(FILE *f)
{
	for (size_t i = 0; i < sizeof(usage_text) / sizeof(usage_text[0]); i++)
		fputs(usage_text[i], f);
}

static int cmd_check_config(struct gw_cli *c, int argc, char **argv)
{
	bool tsv = argc == 3 && strcmp(argv[2], "--tsv") == 0;
	if ((argc == 2 || tsv) && strcmp(argv[1], "--defaults") == 0) {
		struct tm_buf b;
		tm_buf_init(&b);
		int rc = gw_config_describe(&b, tsv);
		if (rc == 0)
			fwrite(b.data, 1, b.len, stdout);
		tm_buf_fini(&b);
		return rc == 0 ? GW_EXIT_OK : GW_EXIT_USAGE;
	}
	if (argc != 1) {
		usage(stderr);
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
	printf("  store           %s %s (batch %u)\n", g->store_backend, gw_cli_store_where(g),
	       g->batch_size);
	printf("  quarantine      %s\n", g->quarantine_dir);
	printf("  allow_cbc       %s\n", g->allow_cbc ? "yes (AES-CBC accepted from older senders)" : "no");
	printf("  auto_enroll     %s\n", g->auto_enroll_tenant ? g->auto_enroll_tenant : "off");
	if (strcmp(g->store_backend, "postgresql") != 0)
		return GW_EXIT_OK;
	/* a shared database: can this gateway reach it, and run against its schema? */
	struct gw_store_options o = gw_cli_store_options(g);
	o.schema = GW_STORE_SCHEMA_AS_IS;
	struct gw_store *st = NULL;
	struct tm_error err = {0};
	int in_db = 0, known = 0;
	if (gw_store_open(&o, &st, &err) != GW_STORE_OK ||
	    gw_store_schema_version(st, &in_db, &known, &err) != GW_STORE_OK) {
		gw_store_close(st);
		gw_cli_error("store", &err);
		return GW_EXIT_FAILURE;
	}
	gw_store_close(st);
	printf("  store schema    version %d in the database, %d known%s\n", in_db, known,
	       in_db == known ? "" : in_db > known ? ": NEWER, this gateway refuses to run" :
	       in_db == 0 ? ": empty (created at the first start or by store init)" :
	       ": older (migrated at the first start or by store migrate)");
	return in_db > known ? GW_EXIT_FAILURE : GW_EXIT_OK;
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
	{ "orders", gw_cmd_orders },
	{ "meters", gw_cmd_meters },
	{ "billing", gw_cmd_billing },
	{ "audit", gw_cmd_audit },
	{ "notify", gw_cmd_notify },
	{ "forward", gw_cmd_forward },
	{ "serve", gw_cmd_serve },
	{ "store", gw_cmd_store },
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
			usage(stdout);
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
		usage(stderr);
		return GW_EXIT_USAGE;
	}
	if (i == argc) {
		usage(stderr);
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
		usage(stderr);
		rc = GW_EXIT_USAGE;
	}
	gw_quarantine_close(c.quarantine);
	gw_store_close(c.store);
	gw_config_free(c.cfg);
	return rc;
}

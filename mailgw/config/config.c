/* telemail-mailgw — the gateway configuration: YAML tree → struct gw_config,
 * read by the shared reader (telemail/config_map.h) from the tables below and
 * those of config_listen.c and config_service.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/path.h>
#include <telemail/node.h>

#include "config/config.h"
#include "config/config_listen.h"
#include "config/config_service.h"
#include "config/config_forward.h"
#include "config/config_web.h"
#include "registry/registry.h"

#define CFG(member) TM_CONF_FIELD(struct gw_config, member)
#define MAXD GW_CONFIG_MAX_DURATION

int gw_config_duration(const char *text, int64_t *seconds, struct tm_error *err)
{
	return tm_conf_duration(text, seconds, err);
}

static const struct tm_conf_entry key_keys[] = {
	TM_CONF_KEY("cert", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0,
	  TM_CONF_FIELD(struct gw_config_key, cert), "PEM certificate devices encrypt to"),
	TM_CONF_KEY("key", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0,
	  TM_CONF_FIELD(struct gw_config_key, key), "its PEM private key"),
};
static const struct tm_conf_section key_section = TM_CONF_TABLE(key_keys, NULL);

static const struct tm_conf_entry gateway_keys[] = {
	TM_CONF_KEY("mailboxes", TM_CONF_LIST, NULL, TM_CONF_REQUIRED, 1, GW_CONFIG_MAX_MAILBOXES,
	  CFG(mailboxes), "the gateway's mailboxes (local@domain)", .of = TM_CONF_ADDRESS,
	  .count_offset = offsetof(struct gw_config, n_mailboxes)),
	TM_CONF_KEY("keys", TM_CONF_LIST, NULL, TM_CONF_REQUIRED, 1, GW_CONFIG_MAX_KEYS, CFG(keys),
	  "decryption keys (several while keys rotate)", .of = TM_CONF_SECTION,
	  .count_offset = offsetof(struct gw_config, n_keys),
	  .elem_size = sizeof(struct gw_config_key), .section = &key_section),
};
static const struct tm_conf_section gateway_section = TM_CONF_TABLE(gateway_keys, NULL);

static const struct tm_conf_entry trust_keys[] = {
	TM_CONF_KEY("ca_file", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, CFG(ca_file),
	  "the site CA(s) that issue device certificates (PEM)"),
	TM_CONF_KEY("crl_file", TM_CONF_PATH, NULL, 0, 0, 0, CFG(crl_file),
	  "a CRL (PEM), checked as of the arrival"),
	TM_CONF_KEY("max_message_age", TM_CONF_DURATION, "30d", 0, 60, MAXD, CFG(max_message_age),
	  "a signing time older than the arrival by more is refused"),
};
static const struct tm_conf_section trust_section = TM_CONF_TABLE(trust_keys, NULL);

/* store.retention: "off", or "N months" / "1 month" with N 1..1200. */
static int check_retention(const struct tm_conf_ctx *c, const struct tm_node *n,
			   struct gw_config *cfg)
{
	const char *t = cfg->store_retention;
	cfg->store_retention_months = 0;
	if (t == NULL || strcmp(t, "off") == 0)
		return 0;
	char *end = NULL;
	long v = strtol(t, &end, 10);
	bool ok = end != t && t[0] >= '0' && t[0] <= '9' && v >= 1 && v <= GW_CONFIG_MAX_RETENTION &&
		  (strcmp(end, " months") == 0 || (v == 1 && strcmp(end, " month") == 0));
	if (!ok)
		return tm_conf_fail(c, tm_node_get(n, "retention"), "config.bad_value",
				    "store.retention", "'%.40s': want off, or N months with N from "
				    "1 to %d (e.g. 25 months)", t, GW_CONFIG_MAX_RETENTION);
	cfg->store_retention_months = (int)v;
	return 0;
}

static int check_store(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		       void *obj)
{
	const struct gw_config *cfg = obj;
	(void)path;
	bool pg = strcmp(cfg->store_backend, "postgresql") == 0;
	if (!pg && strcmp(cfg->store_backend, "sqlite") != 0)
		return tm_conf_fail(c, tm_node_get(n, "backend"), "config.bad_value", "store.backend",
				    "'%s' is not a store back end (this version has: sqlite, "
				    "postgresql)", cfg->store_backend);
	if (pg && cfg->store_conninfo == NULL)
		return tm_conf_fail(c, n, "config.missing_key", "store.conninfo",
				    "missing: the postgresql back end needs a conninfo, e.g. "
				    "\"host=/run/postgresql dbname=telemail user=telemail\"");
	if (!pg && (cfg->store_conninfo != NULL || cfg->store_password_file != NULL))
		return tm_conf_fail(c, tm_node_get(n, cfg->store_conninfo ? "conninfo" : "password_file"),
				    "config.bad_value", "store",
				    "conninfo and password_file are for backend: postgresql");
	return check_retention(c, n, (struct gw_config *)obj);
}

static const struct tm_conf_entry store_keys[] = {
	TM_CONF_KEY("backend", TM_CONF_STRING, "sqlite", 0, 0, 32, CFG(store_backend),
	  "the store back end: sqlite (one gateway) or postgresql (several gateways, one database)"),
	TM_CONF_KEY("path", TM_CONF_PATH, "<state_dir>/telemail.db", TM_CONF_DEF_DOC, 0, 0, CFG(store_path),
	  "the SQLite database"),
	TM_CONF_KEY("conninfo", TM_CONF_STRING, NULL, 0, 0, 1024, CFG(store_conninfo),
	  "postgresql: libpq connection string without the password; a remote host needs "
	  "sslmode=verify-full"),
	TM_CONF_KEY("password_file", TM_CONF_PATH, NULL, 0, 0, 0, CFG(store_password_file),
	  "postgresql: a file holding the password (one line, not world-readable)"),
	TM_CONF_KEY("batch_size", TM_CONF_INT, "64", 0, 1, GW_CONFIG_MAX_BATCH, CFG(batch_size),
	  "outcomes committed in one transaction"),
	TM_CONF_KEY("busy_timeout", TM_CONF_DURATION, "5s", 0, 1, GW_CONFIG_MAX_BUSY_TIMEOUT,
	  CFG(store_busy_timeout), "how long a writer waits for a lock"),
	TM_CONF_KEY("retention", TM_CONF_STRING, "off", 0, 0, 32, CFG(store_retention),
	  "off, or N months: reports and message-log rows received before the month N months "
	  "before the current one are purged (daily by serve, or store purge), audited"),
};
static const struct tm_conf_section store_section = TM_CONF_TABLE(store_keys, check_store);

static int check_auto_enroll(const struct tm_conf_ctx *c, const struct tm_node *n,
			     const char *path, void *obj)
{
	const struct gw_config *cfg = obj;
	(void)path;
	if (!gw_registry_tenant_name_ok(cfg->auto_enroll_tenant))
		return tm_conf_fail(c, tm_node_get(n, "tenant"), "config.bad_value",
				    "auto_enroll.tenant",
				    "'%s' is not a tenant name (" GW_REGISTRY_TENANT_RULE ")",
				    cfg->auto_enroll_tenant);
	return 0;
}

static const struct tm_conf_entry auto_enroll_keys[] = {
	TM_CONF_KEY("tenant", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 64, CFG(auto_enroll_tenant),
	  "unknown signers from the site CA are enrolled under this tenant"),
};
static const struct tm_conf_section auto_enroll_section =
	TM_CONF_TABLE(auto_enroll_keys, check_auto_enroll);

#define SUB(name, member, sec) \
	TM_CONF_KEY(name, TM_CONF_SECTION, NULL, TM_CONF_POINTER, 0, 0, CFG(member), NULL, \
		    .section = &(sec))

static const struct tm_conf_entry root_keys[] = {
	TM_CONF_KEY("state_dir", TM_CONF_PATH, "/var/lib/telemail", 0, 0, 0, CFG(state_dir),
	  "the gateway's one directory of state"),
	TM_CONF_KEY("gateway", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
	  .section = &gateway_section),
	TM_CONF_KEY("trust", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
	  .section = &trust_section),
	TM_CONF_KEY("allow_cbc", TM_CONF_BOOL, "false", 0, 0, 0, CFG(allow_cbc),
	  "accept AES-CBC enveloped-data from older senders"),
	TM_CONF_KEY("max_future_skew", TM_CONF_DURATION, "10m", 0, 0, GW_CONFIG_MAX_SKEW, CFG(max_future_skew),
	  "how far generated_at and the signing time may lie ahead"),
	TM_CONF_KEY("auto_enroll", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL,
	  .section = &auto_enroll_section),
	TM_CONF_KEY("store", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL, .section = &store_section),
	TM_CONF_KEY("workers", TM_CONF_INT, "0", 0, 0, GW_CONFIG_MAX_WORKERS, CFG(workers),
	  "worker threads (0: one per core)"),
	TM_CONF_KEY("quarantine_dir", TM_CONF_PATH, "<state_dir>/quarantine", TM_CONF_DEF_DOC, 0, 0,
	  CFG(quarantine_dir), "raw messages kept with their reason"),
	SUB("alerts", service, gw_conf_alerts),
	SUB("billing", service, gw_conf_billing),
	SUB("notify", service, gw_conf_notify),
	SUB("listen", listen, gw_conf_listen),
	SUB("spool", listen, gw_conf_spool),
	SUB("forward", forward, gw_conf_forward),
	SUB("web", web, gw_conf_web),
	SUB("metrics", web, gw_conf_metrics),
};
static const struct tm_conf_section root_section = TM_CONF_TABLE(root_keys, NULL);

int gw_config_describe(struct tm_buf *out, bool tsv)
{
	return tsv ? tm_conf_describe_tsv(&root_section, "", out) : tm_conf_describe(&root_section, "", out);
}

/* The defaults under state_dir, once the file has named it. */
static int defaults(struct gw_config *cfg, struct tm_error *err)
{
	if (cfg->store_path == NULL)
		cfg->store_path = tm_path_join(cfg->state_dir, "telemail.db");
	if (cfg->quarantine_dir == NULL)
		cfg->quarantine_dir = tm_path_join(cfg->state_dir, "quarantine");
	if (cfg->listen->spool_dir == NULL)
		cfg->listen->spool_dir = tm_path_join(cfg->state_dir, "spool");
	if (cfg->store_path == NULL || cfg->quarantine_dir == NULL || cfg->listen->spool_dir == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	return 0;
}

static struct gw_config *config_new(struct tm_error *err)
{
	struct gw_config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->service = malloc(sizeof(*cfg->service))) == NULL ||
	    (cfg->listen = calloc(1, sizeof(*cfg->listen))) == NULL) {
		gw_config_free(cfg);
		tm_error_set(err, "internal.nomem", "out of memory");
		return NULL;
	}
	gw_service_config_defaults(cfg->service);
	/* forward: read into a struct of its own, dropped again when the file has none */
	if (gw_config_forward_new(&cfg->forward, err) < 0) {
		gw_config_free(cfg);
		return NULL;
	}
	/* web: and metrics: likewise (one struct, dropped when there is no web:) */
	if (gw_config_web_new(&cfg->web, err) < 0) {
		gw_config_free(cfg);
		return NULL;
	}
	if (gw_config_listen_defaults(cfg->listen) < 0) {
		gw_config_free(cfg);
		tm_error_set(err, "internal.nomem", "out of memory");
		return NULL;
	}
	if (tm_conf_defaults(&root_section, cfg, err) < 0) {
		gw_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int gw_config_parse(const uint8_t *buf, size_t len, const char *name, const char *base_dir,
		    struct gw_config **out, struct tm_error *err)
{
	struct tm_conf_ctx c = { .file = name != NULL ? name : "(config)", .base = base_dir,
				 .err = err };
	struct tm_node *root = NULL;
	struct gw_config *cfg = NULL;
	int rc = -1;
	*out = NULL;
	struct tm_error yerr = {0};
	if (tm_yaml_read(buf, len, &TM_YAML_CONFIG_LIMITS, &root, &yerr) < 0) {
		gw_config_syntax_error(c.file, &yerr, err);
		goto out;
	}
	if ((cfg = config_new(err)) == NULL)
		goto out;
	if ((cfg->file = strdup(c.file)) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (tm_conf_read(&c, &root_section, root, "", cfg) < 0 || defaults(cfg, err) < 0 ||
	    gw_service_config_finish(cfg->service, err) < 0)
		goto out;
	if (tm_node_get(root, "forward") == NULL) {
		gw_config_forward_free(cfg->forward);
		cfg->forward = NULL;
	} else if (gw_config_forward_finish(cfg->forward, err) < 0) {
		goto out;
	}
	const struct tm_node *metrics = tm_node_get(root, "metrics");
	if (tm_node_get(root, "web") == NULL) {
		if (metrics != NULL) {
			tm_error_set(err, "config.missing_key", "%s:%u: metrics: needs a web: section "
				     "(/metrics is served by the web listener)", c.file, metrics->line);
			goto out;
		}
		gw_config_web_free(cfg->web);
		cfg->web = NULL;
	} else if (gw_config_web_finish(cfg->web, cfg->state_dir, err) < 0) {
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	gw_config_free(cfg);
	tm_node_free(root);
	return rc;
}

int gw_config_load(const char *path, struct gw_config **out, struct tm_error *err)
{
	struct tm_buf b;
	char *dir = NULL;
	int rc = -1;
	*out = NULL;
	tm_buf_init(&b);
	if (tm_buf_read_file(&b, path, TM_YAML_CONFIG_LIMITS.max_bytes, err) < 0)
		goto out;
	const char *slash = strrchr(path, '/');
	dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") :
	      strndup(path, (size_t)(slash - path));
	if (dir == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	char *abs = realpath(dir, NULL);   /* relative paths become absolute */
	if (abs != NULL) {
		free(dir);
		dir = abs;
	}
	rc = gw_config_parse(b.data, b.len, path, dir, out, err);
out:
	free(dir);
	tm_buf_fini(&b);
	return rc;
}

void gw_config_free(struct gw_config *c)
{
	if (c == NULL)
		return;
	/* the service sections first: their own free knows what the generic
	 * release does not (billing.periods' loaded time zones) */
	gw_config_service_free(c->service);
	c->service = NULL;
	tm_conf_release(&root_section, c);
	free(c->file);
	gw_config_listen_free(c->listen);
	gw_config_forward_free(c->forward);
	gw_config_web_free(c->web);
	free(c);
}

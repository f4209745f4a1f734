/* telemail-mailgw — the gateway configuration: YAML tree → struct gw_config. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/mailbox.h>
#include <telemail/node.h>
#include <telemail/path.h>

#include "config/config.h"
#include "config/config_listen.h"
#include "config/config_service.h"
#include "config/config_web.h"
#include "registry/registry.h"

struct ctx {
	const char *name;      /* file name for messages */
	const char *base;      /* directory for relative paths */
	struct tm_error *err;
};

/* "name:line: path: message" */
__attribute__((format(printf, 5, 6)))
static int fail(const struct ctx *c, const struct tm_node *at, const char *reason,
		const char *path, const char *fmt, ...)
{
	char msg[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_error_set(c->err, reason, "%s:%u: %s: %s", c->name, at != NULL ? at->line : 1u,
			    path, msg);
}

static char *child_path(const char *parent, const char *key)
{
	size_t n = strlen(parent) + strlen(key) + 2;
	char *p = malloc(n);
	if (p != NULL)
		snprintf(p, n, "%s%s%s", parent, parent[0] ? "." : "", key);
	return p;
}

/* Unknown keys are errors; known ones are looked up by the caller. */
static int check_keys(const struct ctx *c, const struct tm_node *map, const char *path,
		      const char *const *allowed)
{
	for (size_t i = 0; i < map->u.map.n; i++) {
		const char *k = map->u.map.pairs[i].key;
		bool ok = false;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok) {
			char *p = child_path(path, k);
			int rc = fail(c, map->u.map.pairs[i].value, "config.unknown_key",
				      p != NULL ? p : k, "unknown key");
			free(p);
			return rc;
		}
	}
	return 0;
}

static const struct tm_node *get(const struct tm_node *map, const char *key)
{
	for (size_t i = 0; i < map->u.map.n; i++)
		if (strcmp(map->u.map.pairs[i].key, key) == 0)
			return map->u.map.pairs[i].value;
	return NULL;
}

static int want_type(const struct ctx *c, const struct tm_node *n, enum tm_node_type t,
		     const char *path)
{
	if (n->type == t)
		return 0;
	const char *want = t == TM_NODE_MAP ? "a mapping" : t == TM_NODE_SEQ ? "a list" :
			   t == TM_NODE_STRING ? "a string" : t == TM_NODE_BOOL ? "true or false" :
			   "an integer";
	return fail(c, n, "config.bad_value", path, "must be %s, not %s", want,
		    tm_node_type_name(n->type));
}

/* A map child that must be there. */
static int need(const struct ctx *c, const struct tm_node *map, const char *key,
		const char *path, const struct tm_node **out)
{
	*out = get(map, key);
	if (*out != NULL)
		return 0;
	char *p = child_path(path, key);
	int rc = fail(c, map, "config.missing_key", p != NULL ? p : key, "missing");
	free(p);
	return rc;
}

static int get_string(const struct ctx *c, const struct tm_node *n, const char *path,
		      size_t max, char **out)
{
	if (want_type(c, n, TM_NODE_STRING, path) < 0)
		return -1;
	if (n->u.str.len == 0)
		return fail(c, n, "config.bad_value", path, "must not be empty");
	if (n->u.str.len > max)
		return fail(c, n, "config.bad_value", path, "longer than %zu bytes", max);
	free(*out);
	*out = strdup(n->u.str.s);
	if (*out == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

/* A file or directory name, made absolute against the config's directory. */
static int get_path(const struct ctx *c, const struct tm_node *n, const char *path, char **out)
{
	char *s = NULL;
	if (get_string(c, n, path, GW_CONFIG_MAX_PATH, &s) < 0)
		return -1;
	free(*out);
	*out = tm_path_resolve(c->base, s);
	free(s);
	if (*out == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

static int get_uint(const struct ctx *c, const struct tm_node *n, const char *path, int64_t min,
		    int64_t max, unsigned *out)
{
	if (want_type(c, n, TM_NODE_INT, path) < 0)
		return -1;
	if (n->u.i < min || n->u.i > max)
		return fail(c, n, "config.bad_value", path, "%lld is out of range %lld..%lld",
			    (long long)n->u.i, (long long)min, (long long)max);
	*out = (unsigned)n->u.i;
	return 0;
}

int gw_config_duration(const char *text, int64_t *seconds, struct tm_error *err)
{
	const char *p = text != NULL ? text : "";
	int64_t v = 0;
	size_t nd = 0;
	for (; *p >= '0' && *p <= '9'; p++, nd++) {
		if (v > GW_CONFIG_MAX_DURATION)
			break;
		v = v * 10 + (*p - '0');
	}
	int64_t unit = 0;
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: break;
	}
	if (nd == 0 || unit == 0 || p[1] != '\0')
		return tm_error_set(err, "config.bad_value",
				    "'%.40s' is not a duration (a number and s, m, h or d: 90s, 10m, 7d)",
				    text != NULL ? text : "");
	if (v > GW_CONFIG_MAX_DURATION / unit)
		return tm_error_set(err, "config.bad_value", "'%.40s' is longer than %lld days", text,
				    GW_CONFIG_MAX_DURATION / 86400);
	*seconds = v * unit;
	return 0;
}

static int get_duration(const struct ctx *c, const struct tm_node *n, const char *path,
			int64_t max, int64_t *out)
{
	if (want_type(c, n, TM_NODE_STRING, path) < 0)
		return -1;
	struct tm_error e = {0};
	int64_t v;
	if (gw_config_duration(n->u.str.s, &v, &e) < 0)
		return fail(c, n, "config.bad_value", path, "%s", e.msg);
	if (v > max)
		return fail(c, n, "config.bad_value", path, "%s is more than the limit of %lld s",
			    n->u.str.s, (long long)max);
	*out = v;
	return 0;
}

static int read_gateway(const struct ctx *c, const struct tm_node *g, struct gw_config *cfg)
{
	static const char *const keys[] = { "mailboxes", "keys", NULL };
	static const char *const key_keys[] = { "cert", "key", NULL };
	const struct tm_node *n;
	char path[96];
	if (want_type(c, g, TM_NODE_MAP, "gateway") < 0 || check_keys(c, g, "gateway", keys) < 0)
		return -1;

	if (need(c, g, "mailboxes", "gateway", &n) < 0 ||
	    want_type(c, n, TM_NODE_SEQ, "gateway.mailboxes") < 0)
		return -1;
	if (n->u.seq.n == 0 || n->u.seq.n > GW_CONFIG_MAX_MAILBOXES)
		return fail(c, n, "config.bad_value", "gateway.mailboxes",
			    "%zu entries; want 1 to %d", n->u.seq.n, GW_CONFIG_MAX_MAILBOXES);
	cfg->mailboxes = calloc(n->u.seq.n, sizeof(char *));
	if (cfg->mailboxes == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *m = n->u.seq.items[i];
		snprintf(path, sizeof(path), "gateway.mailboxes[%zu]", i);
		if (get_string(c, m, path, 254, &cfg->mailboxes[i]) < 0)
			return -1;
		cfg->n_mailboxes++;
		if (!tm_mailbox_ok(m->u.str.s))
			return fail(c, m, "config.bad_value", path,
				    "'%s' is not a mailbox (local@domain)", m->u.str.s);
	}

	if (need(c, g, "keys", "gateway", &n) < 0 || want_type(c, n, TM_NODE_SEQ, "gateway.keys") < 0)
		return -1;
	if (n->u.seq.n == 0 || n->u.seq.n > GW_CONFIG_MAX_KEYS)
		return fail(c, n, "config.bad_value", "gateway.keys", "%zu entries; want 1 to %d",
			    n->u.seq.n, GW_CONFIG_MAX_KEYS);
	cfg->keys = calloc(n->u.seq.n, sizeof(*cfg->keys));
	if (cfg->keys == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *k = n->u.seq.items[i], *v;
		snprintf(path, sizeof(path), "gateway.keys[%zu]", i);
		cfg->n_keys++;
		if (want_type(c, k, TM_NODE_MAP, path) < 0 || check_keys(c, k, path, key_keys) < 0)
			return -1;
		char sub[112];
		snprintf(sub, sizeof(sub), "%s.cert", path);
		if (need(c, k, "cert", path, &v) < 0 || get_path(c, v, sub, &cfg->keys[i].cert) < 0)
			return -1;
		snprintf(sub, sizeof(sub), "%s.key", path);
		if (need(c, k, "key", path, &v) < 0 || get_path(c, v, sub, &cfg->keys[i].key) < 0)
			return -1;
	}
	return 0;
}

static int read_trust(const struct ctx *c, const struct tm_node *t, struct gw_config *cfg)
{
	static const char *const keys[] = { "ca_file", "crl_file", "max_message_age", NULL };
	const struct tm_node *n;
	if (want_type(c, t, TM_NODE_MAP, "trust") < 0 || check_keys(c, t, "trust", keys) < 0)
		return -1;
	if (need(c, t, "ca_file", "trust", &n) < 0 || get_path(c, n, "trust.ca_file", &cfg->ca_file) < 0)
		return -1;
	n = get(t, "crl_file");
	if (n != NULL && get_path(c, n, "trust.crl_file", &cfg->crl_file) < 0)
		return -1;
	n = get(t, "max_message_age");
	if (n != NULL && get_duration(c, n, "trust.max_message_age", GW_CONFIG_MAX_DURATION,
				      &cfg->max_message_age) < 0)
		return -1;
	if (n != NULL && cfg->max_message_age < 60)
		return fail(c, n, "config.bad_value", "trust.max_message_age",
			    "%s is less than the minimum of 60 s", n->u.str.s);
	return 0;
}

static int read_store(const struct ctx *c, const struct tm_node *s, struct gw_config *cfg)
{
	static const char *const keys[] = { "backend", "path", "batch_size", "busy_timeout", NULL };
	const struct tm_node *n;
	if (want_type(c, s, TM_NODE_MAP, "store") < 0 || check_keys(c, s, "store", keys) < 0)
		return -1;
	if ((n = get(s, "backend")) != NULL) {
		if (get_string(c, n, "store.backend", 32, &cfg->store_backend) < 0)
			return -1;
		if (strcmp(cfg->store_backend, "sqlite") != 0)
			return fail(c, n, "config.bad_value", "store.backend",
				    "'%s' is not a store back end (this version has: sqlite)",
				    cfg->store_backend);
	}
	if ((n = get(s, "path")) != NULL && get_path(c, n, "store.path", &cfg->store_path) < 0)
		return -1;
	if ((n = get(s, "batch_size")) != NULL &&
	    get_uint(c, n, "store.batch_size", 1, GW_CONFIG_MAX_BATCH, &cfg->batch_size) < 0)
		return -1;
	if ((n = get(s, "busy_timeout")) != NULL &&
	    get_duration(c, n, "store.busy_timeout", GW_CONFIG_MAX_BUSY_TIMEOUT,
			 &cfg->store_busy_timeout) < 0)
		return -1;
	if (cfg->store_busy_timeout == 0 && n != NULL)
		return fail(c, n, "config.bad_value", "store.busy_timeout", "must be at least 1s");
	return 0;
}

static int read_root(const struct ctx *c, const struct tm_node *root, struct gw_config *cfg)
{
	static const char *const keys[] = {
		"state_dir", "gateway", "trust", "allow_cbc", "max_future_skew", "auto_enroll",
		"store", "workers", "quarantine_dir",
		"alerts", "billing", "notify",   /* config_service.c */
		"listen", "spool",               /* config_listen.c */
		"web", "metrics",                /* config_web.c */
		NULL,
	};
	const struct tm_node *n;
	if (root->type != TM_NODE_MAP)
		return fail(c, root, "config.bad_value", "(top level)", "must be a mapping, not %s",
			    tm_node_type_name(root->type));
	if (check_keys(c, root, "", keys) < 0)
		return -1;
	if ((n = get(root, "state_dir")) != NULL && get_path(c, n, "state_dir", &cfg->state_dir) < 0)
		return -1;
	if (need(c, root, "gateway", "", &n) < 0 || read_gateway(c, n, cfg) < 0)
		return -1;
	if (need(c, root, "trust", "", &n) < 0 || read_trust(c, n, cfg) < 0)
		return -1;
	if ((n = get(root, "allow_cbc")) != NULL) {
		if (want_type(c, n, TM_NODE_BOOL, "allow_cbc") < 0)
			return -1;
		cfg->allow_cbc = n->u.b;
	}
	if ((n = get(root, "max_future_skew")) != NULL &&
	    get_duration(c, n, "max_future_skew", GW_CONFIG_MAX_SKEW, &cfg->max_future_skew) < 0)
		return -1;
	if ((n = get(root, "auto_enroll")) != NULL) {
		static const char *const ae_keys[] = { "tenant", NULL };
		const struct tm_node *t;
		if (want_type(c, n, TM_NODE_MAP, "auto_enroll") < 0 ||
		    check_keys(c, n, "auto_enroll", ae_keys) < 0 ||
		    need(c, n, "tenant", "auto_enroll", &t) < 0 ||
		    get_string(c, t, "auto_enroll.tenant", 64, &cfg->auto_enroll_tenant) < 0)
			return -1;
		if (!gw_registry_tenant_name_ok(cfg->auto_enroll_tenant))
			return fail(c, t, "config.bad_value", "auto_enroll.tenant",
				    "'%s' is not a tenant name (^[a-z0-9][a-z0-9._-]{0,63}$)",
				    cfg->auto_enroll_tenant);
	}
	if ((n = get(root, "store")) != NULL && read_store(c, n, cfg) < 0)
		return -1;
	if ((n = get(root, "workers")) != NULL &&
	    get_uint(c, n, "workers", 0, GW_CONFIG_MAX_WORKERS, &cfg->workers) < 0)
		return -1;
	if ((n = get(root, "quarantine_dir")) != NULL &&
	    get_path(c, n, "quarantine_dir", &cfg->quarantine_dir) < 0)
		return -1;
	if (gw_config_service_read(root, c->name, c->base, &cfg->service, c->err) < 0)
		return -1;
	return 0;
}

static int defaults(struct gw_config *cfg, struct tm_error *err)
{
	if (cfg->state_dir == NULL)
		cfg->state_dir = strdup("/var/lib/telemail");
	if (cfg->state_dir != NULL && cfg->store_backend == NULL)
		cfg->store_backend = strdup("sqlite");
	if (cfg->state_dir != NULL && cfg->store_path == NULL)
		cfg->store_path = tm_path_join(cfg->state_dir, "telemail.db");
	if (cfg->state_dir != NULL && cfg->quarantine_dir == NULL)
		cfg->quarantine_dir = tm_path_join(cfg->state_dir, "quarantine");
	if (cfg->state_dir == NULL || cfg->store_backend == NULL || cfg->store_path == NULL ||
	    cfg->quarantine_dir == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	return 0;
}

static struct gw_config *config_new(void)
{
	struct gw_config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return NULL;
	cfg->max_future_skew = 600;
	cfg->max_message_age = 30 * 86400;
	cfg->batch_size = 64;
	cfg->store_busy_timeout = 5;
	return cfg;
}

int gw_config_parse(const uint8_t *buf, size_t len, const char *name, const char *base_dir,
		    struct gw_config **out, struct tm_error *err)
{
	struct ctx c = { .name = name != NULL ? name : "(config)", .base = base_dir, .err = err };
	struct tm_node *root = NULL;
	struct gw_config *cfg = NULL;
	int rc = -1;
	*out = NULL;
	struct tm_error yerr = {0};
	if (tm_yaml_read(buf, len, &TM_YAML_CONFIG_LIMITS, &root, &yerr) < 0) {
		unsigned line, col;
		int used = 0;
		if (sscanf(yerr.msg, "line %u, column %u: %n", &line, &col, &used) == 2 && used > 0)
			tm_error_set(err, "config.syntax", "%s:%u: column %u: %s", c.name, line, col,
				     yerr.msg + used);
		else
			tm_error_set(err, "config.syntax", "%s: %s", c.name, yerr.msg);
		goto out;
	}
	cfg = config_new();
	if (cfg == NULL || (cfg->file = strdup(c.name)) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (read_root(&c, root, cfg) < 0 || defaults(cfg, err) < 0 ||
	    gw_config_listen_read(root, c.name, c.base, cfg, err) < 0 ||
	    gw_config_web_read(root, c.name, c.base, cfg, err) < 0)
		goto out;
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
	free(c->file);
	free(c->state_dir);
	for (size_t i = 0; i < c->n_mailboxes; i++)
		free(c->mailboxes[i]);
	free(c->mailboxes);
	for (size_t i = 0; i < c->n_keys; i++) {
		free(c->keys[i].cert);
		free(c->keys[i].key);
	}
	free(c->keys);
	free(c->ca_file);
	free(c->crl_file);
	free(c->auto_enroll_tenant);
	free(c->store_backend);
	free(c->store_path);
	free(c->quarantine_dir);
	gw_config_service_free(c->service);
	gw_config_listen_free(c->listen);
	gw_config_web_free(c->web);
	free(c);
}

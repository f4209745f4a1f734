/* telemail-mailgw — `forward:` of the configuration (see config_forward.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <telemail/error.h>
#include <telemail/node.h>

#include "config/config.h"
#include "config/config_forward.h"
#include "config/config_util.h"
#include "registry/registry.h"

void gw_forward_endpoint_defaults(struct gw_forward_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	e->kinds = GW_FORWARD_REPORT | GW_FORWARD_ALERT;
	e->batch_max_events = 100;
	e->batch_max_bytes = 1024 * 1024;
	e->timeout = 30;
	e->connect_timeout = 10;
	e->lease = 300;
	e->backoff = 5;
	e->max_backoff = 600;
	e->backlog_alert = 3600;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > GW_FORWARD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  (i > 0 && (ch == '.' || ch == '_' || ch == '-'));
		if (!ok)
			return false;
	}
	return true;
}

/* The host of an http:// URL names this machine (127.0.0.0/8, [::1], localhost)? */
static bool loopback_url(const char *url)
{
	const char *h = url + strlen("http://");
	static const char *const hosts[] = { "localhost", "[::1]", "127." };
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		size_t n = strlen(hosts[i]);
		if (strncmp(h, hosts[i], n) != 0)
			continue;
		if (i == 2)
			h += n;
		else
			return h[n] == '\0' || h[n] == ':' || h[n] == '/';
		/* 127.x.y.z: digits and dots only up to the port or path */
		for (; *h != '\0' && *h != ':' && *h != '/'; h++)
			if (!((*h >= '0' && *h <= '9') || *h == '.'))
				return false;
		return true;
	}
	return false;
}

static int read_events(const struct gw_cfgctx *c, const struct tm_node *n, const char *path,
		       unsigned *kinds)
{
	static const char *const names[] = { "report", "alert", "meter" };
	if (n->type != TM_NODE_SEQ || n->u.seq.n == 0)
		return gw_cfg_bad(c, n, path, "want a list of report, alert, meter");
	*kinds = 0;
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *v = n->u.seq.items[i];
		unsigned k = 0;
		for (size_t j = 0; j < 3 && v->type == TM_NODE_STRING; j++)
			if (strcmp(v->u.str.s, names[j]) == 0)
				k = 1u << j;
		if (k == 0)
			return gw_cfg_bad(c, v, path, "want report, alert or meter");
		*kinds |= k;
	}
	return 0;
}

static int read_tenants(const struct gw_cfgctx *c, const struct tm_node *n, const char *path,
			struct gw_forward_endpoint *e)
{
	if (n->type != TM_NODE_SEQ || n->u.seq.n == 0 || n->u.seq.n > GW_FORWARD_MAX_TENANTS)
		return gw_cfg_bad(c, n, path, "want a list of 1..%d tenant names",
				  GW_FORWARD_MAX_TENANTS);
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *v = n->u.seq.items[i];
		if (gw_cfg_str(c, v, path, 64, &e->tenants[i]) < 0)
			return -1;
		e->n_tenants++;
		if (!gw_registry_tenant_name_ok(e->tenants[i]))
			return gw_cfg_bad(c, v, path, "'%s' is not a tenant name", e->tenants[i]);
	}
	return 0;
}

static int read_endpoint(const struct gw_cfgctx *c, const struct tm_node *n, size_t idx,
			 struct gw_forward_endpoint *e)
{
	static const char *const keys[] = {
		"name", "url", "allow_http", "ca_file", "client_cert", "client_key", "token_file",
		"hmac_secret_file", "proxy", "format", "gzip", "tenants", "events",
		"batch_max_events", "batch_max_bytes", "timeout", "connect_timeout", "lease",
		"backoff", "max_backoff", "retries", "backlog_alert", NULL,
	};
	char path[96], base[48];
	const struct tm_node *v;
	char *text = NULL;
	snprintf(base, sizeof(base), "forward.endpoints[%zu]", idx);
	if (gw_cfg_want_map(c, n, base, keys) < 0)
		return -1;
#define P(key) (snprintf(path, sizeof(path), "%s.%s", base, (key)), path)
	if ((v = gw_cfg_get(n, "name")) == NULL || (v = gw_cfg_get(n, "url")) == NULL)
		return gw_cfg_bad(c, n, base, "name and url are required");
	if (gw_cfg_str(c, gw_cfg_get(n, "name"), P("name"), GW_FORWARD_NAME_MAX, &text) < 0)
		return -1;
	snprintf(e->name, sizeof(e->name), "%s", text);
	free(text);
	if (!name_ok(e->name))
		return gw_cfg_bad(c, gw_cfg_get(n, "name"), path,
				  "'%s' is not a name ([a-z0-9][a-z0-9._-]*)", e->name);
	if ((v = gw_cfg_get(n, "allow_http")) != NULL) {
		if (v->type != TM_NODE_BOOL)
			return gw_cfg_bad(c, v, P("allow_http"), "want true or false");
		e->allow_http = v->u.b;
	}
	v = gw_cfg_get(n, "url");
	if (gw_cfg_str(c, v, P("url"), 2048, &e->url) < 0)
		return -1;
	if (strncmp(e->url, "https://", 8) != 0) {
		if (strncmp(e->url, "http://", 7) != 0)
			return gw_cfg_bad(c, v, path, "want an https:// URL");
		if (!e->allow_http)
			return gw_cfg_bad(c, v, path, "http:// sends in the clear: want https:// "
				    "(or allow_http: true, for a loopback receiver only)");
		if (!loopback_url(e->url))
			return gw_cfg_bad(c, v, path, "http:// only to a loopback address "
				    "(127.0.0.0/8, [::1], localhost)");
	}
	static const char *const files[] = { "ca_file", "client_cert", "client_key", "token_file",
					     "hmac_secret_file" };
	char **dst[] = { &e->ca_file, &e->client_cert, &e->client_key, &e->token_file,
			 &e->hmac_secret_file };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if ((v = gw_cfg_get(n, files[i])) != NULL && gw_cfg_path(c, v, P(files[i]), dst[i]) < 0)
			return -1;
	if ((e->client_cert == NULL) != (e->client_key == NULL))
		return gw_cfg_bad(c, n, base, "client_cert and client_key go together");
	if ((v = gw_cfg_get(n, "proxy")) != NULL && gw_cfg_str(c, v, P("proxy"), 1024, &e->proxy) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "format")) != NULL) {
		if (v->type != TM_NODE_STRING ||
		    (strcmp(v->u.str.s, "batch") != 0 && strcmp(v->u.str.s, "ndjson") != 0))
			return gw_cfg_bad(c, v, P("format"), "want batch or ndjson");
		e->ndjson = strcmp(v->u.str.s, "ndjson") == 0;
	}
	if ((v = gw_cfg_get(n, "gzip")) != NULL) {
		if (v->type != TM_NODE_BOOL)
			return gw_cfg_bad(c, v, P("gzip"), "want true or false");
		e->gzip = v->u.b;
	}
	if ((v = gw_cfg_get(n, "tenants")) != NULL && read_tenants(c, v, P("tenants"), e) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "events")) != NULL && read_events(c, v, P("events"), &e->kinds) < 0)
		return -1;
	if (((v = gw_cfg_get(n, "batch_max_events")) != NULL &&
	     gw_cfg_uint(c, v, P("batch_max_events"), 1, 10000, &e->batch_max_events) < 0) ||
	    ((v = gw_cfg_get(n, "batch_max_bytes")) != NULL &&
	     gw_cfg_uint(c, v, P("batch_max_bytes"), 1024, 64 * 1024 * 1024, &e->batch_max_bytes) < 0) ||
	    ((v = gw_cfg_get(n, "timeout")) != NULL &&
	     gw_cfg_dur(c, v, P("timeout"), 1, 3600, &e->timeout) < 0) ||
	    ((v = gw_cfg_get(n, "connect_timeout")) != NULL &&
	     gw_cfg_dur(c, v, P("connect_timeout"), 1, 3600, &e->connect_timeout) < 0) ||
	    ((v = gw_cfg_get(n, "lease")) != NULL &&
	     gw_cfg_dur(c, v, P("lease"), 1, 86400, &e->lease) < 0) ||
	    ((v = gw_cfg_get(n, "backoff")) != NULL &&
	     gw_cfg_dur(c, v, P("backoff"), 1, GW_CONFIG_MAX_DURATION, &e->backoff) < 0) ||
	    ((v = gw_cfg_get(n, "max_backoff")) != NULL &&
	     gw_cfg_dur(c, v, P("max_backoff"), 1, GW_CONFIG_MAX_DURATION, &e->max_backoff) < 0) ||
	    ((v = gw_cfg_get(n, "retries")) != NULL &&
	     gw_cfg_uint(c, v, P("retries"), 0, 1000000, &e->retries) < 0) ||
	    ((v = gw_cfg_get(n, "backlog_alert")) != NULL &&
	     gw_cfg_dur(c, v, P("backlog_alert"), 1, GW_CONFIG_MAX_DURATION, &e->backlog_alert) < 0))
		return -1;
	if (e->max_backoff < e->backoff)
		return gw_cfg_bad(c, n, P("max_backoff"), "%llds is shorter than backoff (%llds)",
				  (long long)e->max_backoff, (long long)e->backoff);
	if (e->lease <= e->timeout)
		return gw_cfg_bad(c, n, P("lease"), "%llds must be longer than timeout (%llds)",
				  (long long)e->lease, (long long)e->timeout);
#undef P
	return 0;
}

static void endpoint_free(struct gw_forward_endpoint *e)
{
	free(e->url);
	free(e->ca_file);
	free(e->client_cert);
	free(e->client_key);
	free(e->token_file);
	free(e->hmac_secret_file);
	free(e->proxy);
	for (size_t i = 0; i < e->n_tenants; i++)
		free(e->tenants[i]);
}

static int read_forward(const struct gw_cfgctx *c, const struct tm_node *n,
			struct gw_forward_config *f)
{
	static const char *const keys[] = { "gateway", "every", "endpoints", NULL };
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "forward", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "gateway")) != NULL &&
	    gw_cfg_str(c, v, "forward.gateway", 255, &f->gateway) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "every")) != NULL &&
	    gw_cfg_dur(c, v, "forward.every", 1, 86400, &f->every) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "endpoints")) == NULL || v->type != TM_NODE_SEQ || v->u.seq.n == 0 ||
	    v->u.seq.n > GW_FORWARD_MAX_ENDPOINTS)
		return gw_cfg_bad(c, v != NULL ? v : n, "forward.endpoints",
				  "want a list of 1..%d endpoints", GW_FORWARD_MAX_ENDPOINTS);
	for (size_t i = 0; i < v->u.seq.n; i++) {
		struct gw_forward_endpoint *e = &f->endpoints[i];
		gw_forward_endpoint_defaults(e);
		f->n_endpoints++;
		if (read_endpoint(c, v->u.seq.items[i], i, e) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->endpoints[j].name, e->name) == 0)
				return gw_cfg_bad(c, v->u.seq.items[i], "forward.endpoints",
						  "name '%s' used twice", e->name);
	}
	if (f->gateway == NULL) {
		char host[256] = "";
		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		if ((f->gateway = strdup(host)) == NULL)
			return tm_error_set(c->err, "internal.nomem", "out of memory");
	}
	return 0;
}

int gw_config_forward_read(const struct tm_node *root, const char *name, const char *base_dir,
			   struct gw_forward_config **out, struct tm_error *err)
{
	struct gw_cfgctx c = { .name = name, .base = base_dir, .err = err };
	const struct tm_node *v;
	*out = NULL;
	if (root == NULL || root->type != TM_NODE_MAP || (v = gw_cfg_get(root, "forward")) == NULL)
		return 0;
	struct gw_forward_config *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	f->every = 5;
	if (read_forward(&c, v, f) < 0) {
		gw_config_forward_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

void gw_config_forward_free(struct gw_forward_config *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_endpoints; i++)
		endpoint_free(&f->endpoints[i]);
	free(f->gateway);
	free(f);
}

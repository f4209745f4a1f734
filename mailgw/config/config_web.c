/* telemail-mailgw — `web:` and `metrics:` configuration (see config_web.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/node.h>

#include "config/config.h"
#include "config/config_util.h"
#include "config/config_web.h"

/* "127.0.0.1:8443", "[::1]:8443" */
static int read_listen(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_web_config *w)
{
	if (n->type != TM_NODE_STRING)
		return gw_cfg_bad(c, n, "web.listen", "must be ADDRESS:PORT");
	const char *s = n->u.str.s, *colon = strrchr(s, ':');
	char addr[64];
	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(addr))
		return gw_cfg_bad(c, n, "web.listen", "'%.80s' is not ADDRESS:PORT ([::1]:8443 for IPv6)", s);
	size_t al = (size_t)(colon - s);
	if (s[0] == '[') {
		if (al < 3 || s[al - 1] != ']')
			return gw_cfg_bad(c, n, "web.listen", "'%.80s': IPv6 addresses go in brackets", s);
		memcpy(addr, s + 1, al - 2);
		addr[al - 2] = '\0';
	} else {
		memcpy(addr, s, al);
		addr[al] = '\0';
	}
	uint8_t tmp[16];
	if (inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, tmp) != 1)
		return gw_cfg_bad(c, n, "web.listen", "'%s' is not an IP address", addr);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
		return gw_cfg_bad(c, n, "web.listen", "'%s' is not a port (0..65535)", colon + 1);
	w->port = (unsigned)port;
	free(w->address);
	if ((w->address = strdup(addr)) == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

static int read_web(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_web_config *w)
{
	static const char *const keys[] = {
		"listen", "tls", "client_ca", "tokens_file", "max_connections", "max_request_size",
		"max_headers", "timeout", NULL,
	};
	static const char *const tls_keys[] = { "cert", "key", NULL };
	const struct tm_node *v, *t;
	if (gw_cfg_want_map(c, n, "web", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "listen")) != NULL && read_listen(c, v, w) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "tls")) == NULL)
		return tm_error_set(c->err, "config.missing_key", "%s:%u: web.tls: missing (the page "
				    "is served over HTTPS only)", c->name, n->line);
	if (gw_cfg_want_map(c, v, "web.tls", tls_keys) < 0)
		return -1;
	if ((t = gw_cfg_get(v, "cert")) == NULL || gw_cfg_path(c, t, "web.tls.cert", &w->tls_cert) < 0)
		return t == NULL ? tm_error_set(c->err, "config.missing_key",
						"%s:%u: web.tls.cert: missing", c->name, v->line) : -1;
	if ((t = gw_cfg_get(v, "key")) == NULL || gw_cfg_path(c, t, "web.tls.key", &w->tls_key) < 0)
		return t == NULL ? tm_error_set(c->err, "config.missing_key",
						"%s:%u: web.tls.key: missing", c->name, v->line) : -1;
	if ((v = gw_cfg_get(n, "client_ca")) != NULL && gw_cfg_path(c, v, "web.client_ca", &w->client_ca) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "tokens_file")) != NULL &&
	    gw_cfg_path(c, v, "web.tokens_file", &w->tokens_file) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_connections")) != NULL &&
	    gw_cfg_uint(c, v, "web.max_connections", 1, GW_WEB_MAX_CONNECTIONS, &w->max_connections) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_request_size")) != NULL &&
	    gw_cfg_uint(c, v, "web.max_request_size", 1024, GW_WEB_MAX_REQUEST_SIZE, &w->max_request_size) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_headers")) != NULL &&
	    gw_cfg_uint(c, v, "web.max_headers", 4, GW_WEB_MAX_HEADERS, &w->max_headers) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "timeout")) != NULL && gw_cfg_dur(c, v, "web.timeout", 1, 3600, &w->timeout) < 0)
		return -1;
	return 0;
}

static int read_metrics(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_web_config *w)
{
	static const char *const keys[] = { "token_sha256", NULL };
	const struct tm_node *v;
	if (gw_cfg_want_map(c, n, "metrics", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "token_sha256")) != NULL) {
		if (v->type != TM_NODE_STRING || strlen(v->u.str.s) != 64 ||
		    strspn(v->u.str.s, "0123456789abcdef") != 64)
			return gw_cfg_bad(c, v, "metrics.token_sha256",
					  "must be 64 lower-case hex digits (sha256sum of the token)");
		memcpy(w->metrics_token_sha256, v->u.str.s, 65);
	}
	return 0;
}

int gw_config_web_read(const struct tm_node *root, const char *name, const char *base_dir,
		       struct gw_config *cfg, struct tm_error *err)
{
	struct gw_cfgctx c = { .name = name, .base = base_dir, .err = err };
	const struct tm_node *web = gw_cfg_get(root, "web"), *metrics = gw_cfg_get(root, "metrics");
	if (web == NULL && metrics == NULL)
		return 0;
	if (web == NULL)
		return tm_error_set(err, "config.missing_key", "%s:%u: metrics: needs a web: section "
				    "(/metrics is served by the web listener)", name, metrics->line);
	struct gw_web_config *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	cfg->web = w;
	w->address = strdup("127.0.0.1");
	w->port = 8443;
	w->max_connections = 64;
	w->max_request_size = 16384;
	w->max_headers = 32;
	w->timeout = 30;
	size_t len = strlen(cfg->state_dir) + sizeof("/web-tokens");
	if ((w->tokens_file = malloc(len)) != NULL)
		snprintf(w->tokens_file, len, "%s/web-tokens", cfg->state_dir);
	if (w->address == NULL || w->tokens_file == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	if (read_web(&c, web, w) < 0)
		return -1;
	if (metrics != NULL && read_metrics(&c, metrics, w) < 0)
		return -1;
	return 0;
}

void gw_config_web_free(struct gw_web_config *w)
{
	if (w == NULL)
		return;
	free(w->address);
	free(w->tls_cert);
	free(w->tls_key);
	free(w->client_ca);
	free(w->tokens_file);
	free(w);
}

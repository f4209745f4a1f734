/* telemail-mailgw — `web:` and `metrics:` configuration (see config_web.h),
 * declared as tables for the shared reader (telemail/config_map.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

#include "config/config_listen.h"
#include "config/config_web.h"

#define WEB(member) TM_CONF_FIELD(struct gw_web_config, member)

/* "127.0.0.1:8443", "[::1]:8443" */
static int read_listen(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		       void *obj)
{
	struct gw_web_config *w = obj;
	return gw_config_address_port(c, n, path, "[::1]:8443", &w->address, &w->port);
}

static int read_metrics_token(const struct tm_conf_ctx *c, const struct tm_node *n,
			      const char *path, void *obj)
{
	struct gw_web_config *w = obj;
	if (n->type != TM_NODE_STRING || strlen(n->u.str.s) != 64 ||
	    strspn(n->u.str.s, "0123456789abcdef") != 64)
		return tm_conf_fail(c, n, "config.bad_value", path,
				    "must be 64 lower-case hex digits (sha256sum of the token)");
	memcpy(w->metrics_token_sha256, n->u.str.s, 65);
	return 0;
}

static const struct tm_conf_entry tls_keys[] = {
	TM_CONF_KEY("cert", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, WEB(tls_cert),
	  "the page's certificate (PEM)"),
	TM_CONF_KEY("key", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, WEB(tls_key),
	  "its private key (PEM)"),
};
static const struct tm_conf_section tls_section = TM_CONF_TABLE(tls_keys, NULL);

static const struct tm_conf_entry web_keys[] = {
	TM_CONF_KEY("listen", TM_CONF_CUSTOM, "127.0.0.1:8443", TM_CONF_DEF_DOC, 0, 0,
	  TM_CONF_NOFIELD, "ADDRESS:PORT of the page (port 0: any free port, logged)",
	  .read = read_listen, .type_name = "address"),
	TM_CONF_KEY("tls", TM_CONF_SECTION, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD, NULL,
	  .section = &tls_section),
	TM_CONF_KEY("client_ca", TM_CONF_PATH, NULL, 0, 0, 0, WEB(client_ca),
	  "ask for client certificates issued by these CAs (mutual TLS)"),
	TM_CONF_KEY("tokens_file", TM_CONF_PATH, "<state_dir>/web-tokens", TM_CONF_DEF_DOC, 0, 0,
	  WEB(tokens_file), "viewers: TENANT sha256hex [operator] per line"),
	TM_CONF_KEY("max_connections", TM_CONF_INT, "64", 0, 1, GW_WEB_MAX_CONNECTIONS,
	  WEB(max_connections), "connections at once"),
	TM_CONF_KEY("max_request_size", TM_CONF_SIZE, "16384", 0, 1024, GW_WEB_MAX_REQUEST_SIZE,
	  WEB(max_request_size), "octets of the request line and headers"),
	TM_CONF_KEY("max_headers", TM_CONF_INT, "32", 0, 4, GW_WEB_MAX_HEADERS, WEB(max_headers),
	  "header fields of a request"),
	TM_CONF_KEY("timeout", TM_CONF_DURATION, "30s", 0, 1, 3600, WEB(timeout),
	  "a request must be read and answered in this"),
};
const struct tm_conf_section gw_conf_web = TM_CONF_TABLE(web_keys, NULL);

static const struct tm_conf_entry metrics_keys[] = {
	TM_CONF_KEY("token_sha256", TM_CONF_CUSTOM, NULL, 0, 0, 0, TM_CONF_NOFIELD,
	  "/metrics wants this bearer token (none: loopback peers only)",
	  .read = read_metrics_token, .type_name = "sha256"),
};
const struct tm_conf_section gw_conf_metrics = TM_CONF_TABLE(metrics_keys, NULL);

int gw_config_web_new(struct gw_web_config **out, struct tm_error *err)
{
	struct gw_web_config *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	w->port = 8443;
	if ((w->address = strdup("127.0.0.1")) == NULL) {
		free(w);
		return tm_error_set(err, "internal.nomem", "out of memory");
	}
	if (tm_conf_defaults(&gw_conf_web, w, err) < 0) {
		gw_config_web_free(w);
		return -1;
	}
	*out = w;
	return 0;
}

int gw_config_web_finish(struct gw_web_config *w, const char *state_dir, struct tm_error *err)
{
	if (w->tokens_file == NULL) {
		size_t len = strlen(state_dir) + sizeof("/web-tokens");
		if ((w->tokens_file = malloc(len)) == NULL)
			return tm_error_set(err, "internal.nomem", "out of memory");
		snprintf(w->tokens_file, len, "%s/web-tokens", state_dir);
	}
	return 0;
}

void gw_config_web_free(struct gw_web_config *w)
{
	if (w == NULL)
		return;
	free(w->address);
	tm_conf_release(&gw_conf_web, w);
	free(w);
}

/* telemail-mailgw — the `web:` and `metrics:` sections of the configuration
 * (the fleet page and /metrics, served by `serve` and by `web`). Both are
 * optional; `serve` starts the page only when `web:` is present. Errors
 * follow config.h: "file:line: web.key: message".
 *
 *   web:
 *     listen: 127.0.0.1:8443            # ADDRESS:PORT (port 0: any free port, logged)
 *     tls: {cert: web.pem, key: web.key}   # required: the page is HTTPS only
 *     client_ca: clients-ca.pem         # optional: ask for client certificates
 *     tokens_file: web-tokens           # default <state_dir>/web-tokens (access.h)
 *     max_connections: 64
 *     max_request_size: 16384           # octets of the request line and headers
 *     max_headers: 32
 *     timeout: 30s                      # a request must be read and answered in this
 *   metrics:
 *     token_sha256: HEX                 # optional: /metrics wants this bearer token;
 *                                       # without it /metrics answers loopback peers only */
#ifndef GW_CONFIG_WEB_H
#define GW_CONFIG_WEB_H

#include <stdbool.h>
#include <stdint.h>

struct gw_config;
struct tm_error;
struct tm_node;

#define GW_WEB_MAX_CONNECTIONS 10000
#define GW_WEB_MAX_REQUEST_SIZE (1u << 20)
#define GW_WEB_MAX_HEADERS 256

struct gw_web_config {
	char *address;             /* default "127.0.0.1" */
	unsigned port;             /* default 8443; 0: any free port */
	char *tls_cert, *tls_key;  /* PEM (required) */
	char *client_ca;           /* PEM; NULL: no client certificates asked */
	char *tokens_file;         /* default <state_dir>/web-tokens */
	unsigned max_connections;  /* default 64 */
	unsigned max_request_size; /* default 16 KiB */
	unsigned max_headers;      /* default 32 */
	int64_t timeout;           /* seconds; default 30 */
	char metrics_token_sha256[65];   /* "" : loopback peers only */
};

/* The sections' tables (config.c reads them as `web:` and `metrics:`). */
struct tm_conf_section;
extern const struct tm_conf_section gw_conf_web, gw_conf_metrics;
/* A config with the tables' defaults, before the file is read. */
int gw_config_web_new(struct gw_web_config **out, struct tm_error *err);
/* After the file is read: the defaults under state_dir. */
int gw_config_web_finish(struct gw_web_config *w, const char *state_dir, struct tm_error *err);
void gw_config_web_free(struct gw_web_config *w);

#endif

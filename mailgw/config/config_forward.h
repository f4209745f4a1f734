/* telemail-mailgw — the `forward:` section of the configuration (issue 17):
 * where stored records and alert transitions are sent over HTTPS, as
 * CloudEvents, and how (mailgw/forward/forward.h). Absent: no forwarding
 * (the store queues nothing). Errors follow config.h. */
#ifndef GW_CONFIG_FORWARD_H
#define GW_CONFIG_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;
struct tm_node;

#define GW_FORWARD_MAX_ENDPOINTS 8
#define GW_FORWARD_MAX_TENANTS 64
#define GW_FORWARD_NAME_MAX 64

/* events: the bits of store.h's enum gw_fwd_kind (forward.c checks they agree) */
#define GW_FORWARD_REPORT 1u
#define GW_FORWARD_ALERT 2u
#define GW_FORWARD_METER 4u
#define GW_FORWARD_ORDER 8u   /* supply order transitions */

/* One receiver. Defaults in gw_forward_endpoint_defaults. */
struct gw_forward_endpoint {
	char name[GW_FORWARD_NAME_MAX + 1];   /* [a-z0-9][a-z0-9._-]*: the queue's name */
	char *url;                 /* https://… (http:// only with allow_http, to loopback) */
	bool allow_http;           /* default false */
	char *ca_file;             /* trust for the receiver (default: the system store) */
	char *client_cert;         /* mTLS: PEM certificate and key (both or neither) */
	char *client_key;
	char *token_file;          /* "Authorization: Bearer <the file's one line>" */
	char *hmac_secret_file;    /* X-Telemail-Signature: sha256=<HMAC of the body> */
	char *proxy;               /* an HTTP(S) proxy URL; NULL: none (the environment is ignored) */
	bool ndjson;               /* format: batch (application/cloudevents-batch+json, default) | ndjson */
	bool gzip;                 /* Content-Encoding: gzip; default false */
	char *tenants[GW_FORWARD_MAX_TENANTS];   /* subtree roots; none: every tenant */
	size_t n_tenants;
	unsigned kinds;            /* GW_FORWARD_* bits; default report + alert */
	unsigned batch_max_events; /* default 100 (1..10000) */
	unsigned batch_max_bytes;  /* default 1 MiB of event data (1 KiB..64 MiB) */
	int64_t timeout;           /* whole request; default 30s */
	int64_t connect_timeout;   /* default 10s */
	int64_t lease;             /* a claimed batch is this gateway's for; default 5m */
	int64_t backoff;           /* first retry waits up to; default 5s */
	int64_t max_backoff;       /* default 10m */
	unsigned retries;          /* failed attempts before dead-lettering; default 0: never */
	int64_t backlog_alert;     /* oldest queued item older than this: alert forward_backlog; default 1h */
	unsigned backlog_alert_events;   /* or this many queued: alert forward_backlog; default 0: off */
};

struct gw_forward_config {
	char *gateway;             /* this gateway's name in `source`; default: the host name */
	int64_t every;             /* serve's forwarder pass; default 5s */
	struct gw_forward_endpoint *endpoints;   /* n_endpoints of them (1..GW_FORWARD_MAX_ENDPOINTS) */
	size_t n_endpoints;
};

void gw_forward_endpoint_defaults(struct gw_forward_endpoint *e);

/* The section's table (config.c reads it as `forward:`; --defaults prints it). */
struct tm_conf_section;
extern const struct tm_conf_section gw_conf_forward;
/* A config with the table's defaults, before the file is read. */
int gw_config_forward_new(struct gw_forward_config **out, struct tm_error *err);
/* After the file is read: the defaults computed at run time (the host name). */
int gw_config_forward_finish(struct gw_forward_config *f, struct tm_error *err);
void gw_config_forward_free(struct gw_forward_config *f);
/* The endpoints' names into out[0..GW_FORWARD_MAX_ENDPOINTS) (pointers into
 * f); how many. f NULL (forwarding off): 0. */
size_t gw_forward_endpoint_names(const struct gw_forward_config *f,
				 const char *out[GW_FORWARD_MAX_ENDPOINTS]);

#endif

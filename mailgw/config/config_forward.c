/* telemail-mailgw — `forward:` of the configuration (see config_forward.h),
 * declared as tables for the shared reader (telemail/config_map.h): the same
 * tables give the defaults, the checks and the lines of --defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

#include "config/config_forward.h"
#include "registry/registry.h"

#define EP(member) TM_CONF_FIELD(struct gw_forward_endpoint, member)
#define FWD(member) TM_CONF_FIELD(struct gw_forward_config, member)

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

/* name: [a-z0-9][a-z0-9._-]*, the queue's name (an array in the struct). */
static int read_name(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		     void *obj)
{
	struct gw_forward_endpoint *e = obj;
	char *text = NULL;
	if (tm_conf_string(c, n, path, GW_FORWARD_NAME_MAX, &text) < 0)
		return -1;
	bool ok = name_ok(text);
	snprintf(e->name, sizeof(e->name), "%s", text);
	free(text);
	if (!ok)
		return tm_conf_fail(c, n, "config.bad_value", path,
				    "'%s' is not a name ([a-z0-9][a-z0-9._-]*)", e->name);
	return 0;
}

/* events: a list of report, alert, meter, supply_order. */
static int read_events(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		       void *obj)
{
	struct gw_forward_endpoint *e = obj;
	static const char *const names[] = { "report", "alert", "meter", "supply_order" };
	if (n->type != TM_NODE_SEQ || n->u.seq.n == 0)
		return tm_conf_fail(c, n, "config.bad_value", path,
				    "want a list of report, alert, meter, supply_order");
	e->kinds = 0;
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *v = n->u.seq.items[i];
		unsigned k = 0;
		for (size_t j = 0; j < sizeof(names) / sizeof(names[0]) && v->type == TM_NODE_STRING; j++)
			if (strcmp(v->u.str.s, names[j]) == 0)
				k = 1u << j;
		if (k == 0)
			return tm_conf_fail(c, v, "config.bad_value", path,
					    "want report, alert, meter or supply_order");
		e->kinds |= k;
	}
	return 0;
}

static const struct tm_conf_choice formats[] = {
	{ "batch", 0 }, { "ndjson", 1 }, { NULL, 0 },
};

/* Rules across an endpoint's keys. */
static int check_endpoint(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			  void *obj)
{
	const struct gw_forward_endpoint *e = obj;
	char p[160];
	snprintf(p, sizeof(p), "%s.url", path);
	const struct tm_node *u = tm_node_get(n, "url");
	if (strncmp(e->url, "https://", 8) != 0) {
		if (strncmp(e->url, "http://", 7) != 0)
			return tm_conf_fail(c, u, "config.bad_value", p, "want an https:// URL");
		if (!e->allow_http)
			return tm_conf_fail(c, u, "config.bad_value", p,
					    "http:// sends in the clear: want https:// (or "
					    "allow_http: true, for a loopback receiver only)");
		if (!loopback_url(e->url))
			return tm_conf_fail(c, u, "config.bad_value", p,
					    "http:// only to a loopback address (127.0.0.0/8, "
					    "[::1], localhost)");
	}
	if ((e->client_cert == NULL) != (e->client_key == NULL))
		return tm_conf_fail(c, n, "config.bad_value", path,
				    "client_cert and client_key go together");
	for (size_t i = 0; i < e->n_tenants; i++)
		if (!gw_registry_tenant_name_ok(e->tenants[i])) {
			snprintf(p, sizeof(p), "%s.tenants[%zu]", path, i);
			return tm_conf_fail(c, n, "config.bad_value", p, "'%s' is not a tenant name (" GW_REGISTRY_TENANT_RULE ")",
					    e->tenants[i]);
		}
	if (e->max_backoff < e->backoff) {
		snprintf(p, sizeof(p), "%s.max_backoff", path);
		return tm_conf_fail(c, n, "config.bad_value", p,
				    "%llds is shorter than backoff (%llds)",
				    (long long)e->max_backoff, (long long)e->backoff);
	}
	if (e->lease <= e->timeout) {
		snprintf(p, sizeof(p), "%s.lease", path);
		return tm_conf_fail(c, n, "config.bad_value", p,
				    "%llds must be longer than timeout (%llds)", (long long)e->lease,
				    (long long)e->timeout);
	}
	return 0;
}

static const struct tm_conf_entry endpoint_keys[] = {
	TM_CONF_KEY("name", TM_CONF_CUSTOM, NULL, TM_CONF_REQUIRED, 0, 0, TM_CONF_NOFIELD,
	  "the queue's name ([a-z0-9][a-z0-9._-]*)", .read = read_name, .type_name = "name"),
	TM_CONF_KEY("url", TM_CONF_STRING, NULL, TM_CONF_REQUIRED, 0, 2048, EP(url),
	  "the receiver: https://… (http:// only with allow_http, to loopback)"),
	TM_CONF_KEY("allow_http", TM_CONF_BOOL, "false", 0, 0, 0, EP(allow_http),
	  "allow an http:// URL to a loopback receiver"),
	TM_CONF_KEY("ca_file", TM_CONF_PATH, "(the system store)", TM_CONF_DEF_DOC, 0, 0,
	  EP(ca_file), "CA(s) that verify the receiver's certificate (PEM)"),
	TM_CONF_KEY("client_cert", TM_CONF_PATH, NULL, 0, 0, 0, EP(client_cert),
	  "mutual TLS: this gateway's certificate (PEM, with client_key)"),
	TM_CONF_KEY("client_key", TM_CONF_PATH, NULL, 0, 0, 0, EP(client_key),
	  "mutual TLS: its private key (PEM)"),
	TM_CONF_KEY("token_file", TM_CONF_PATH, NULL, 0, 0, 0, EP(token_file),
	  "Authorization: Bearer <the file's one line>"),
	TM_CONF_KEY("hmac_secret_file", TM_CONF_PATH, NULL, 0, 0, 0, EP(hmac_secret_file),
	  "X-Telemail-Signature: sha256=<HMAC of the body>"),
	TM_CONF_KEY("proxy", TM_CONF_STRING, NULL, 0, 0, 1024, EP(proxy),
	  "an HTTP(S) proxy URL (the environment is ignored)"),
	TM_CONF_KEY("format", TM_CONF_ENUM, "batch", 0, 0, 0, EP(ndjson),
	  "batch (application/cloudevents-batch+json) or ndjson", .choices = formats),
	TM_CONF_KEY("gzip", TM_CONF_BOOL, "false", 0, 0, 0, EP(gzip),
	  "Content-Encoding: gzip"),
	TM_CONF_KEY("tenants", TM_CONF_LIST, NULL, TM_CONF_INLINE, 1, GW_FORWARD_MAX_TENANTS,
	  EP(tenants), "subtree roots forwarded (none: every tenant)", .of = TM_CONF_STRING,
	  .count_offset = offsetof(struct gw_forward_endpoint, n_tenants)),
	TM_CONF_KEY("events", TM_CONF_CUSTOM, "[report, alert]", TM_CONF_DEF_DOC, 0, 0,
	  TM_CONF_NOFIELD, "which events: report, alert, meter, supply_order", .read = read_events,
	  .type_name = "list(enum)"),
	TM_CONF_KEY("batch_max_events", TM_CONF_INT, "100", 0, 1, 10000, EP(batch_max_events),
	  "events in one batch at most"),
	TM_CONF_KEY("batch_max_bytes", TM_CONF_SIZE, "1048576", 0, 1024, 64 * 1024 * 1024,
	  EP(batch_max_bytes), "event data in one batch at most"),
	TM_CONF_KEY("timeout", TM_CONF_DURATION, "30s", 0, 1, 3600, EP(timeout),
	  "one request, whole"),
	TM_CONF_KEY("connect_timeout", TM_CONF_DURATION, "10s", 0, 1, 3600, EP(connect_timeout),
	  "the connection"),
	TM_CONF_KEY("lease", TM_CONF_DURATION, "5m", 0, 1, 86400, EP(lease),
	  "a claimed batch is this gateway's for (longer than timeout)"),
	TM_CONF_KEY("backoff", TM_CONF_DURATION, "5s", 0, 1, TM_CONF_MAX_DURATION, EP(backoff),
	  "the first retry waits up to (full jitter, doubling)"),
	TM_CONF_KEY("max_backoff", TM_CONF_DURATION, "10m", 0, 1, TM_CONF_MAX_DURATION,
	  EP(max_backoff), "the longest wait between retries"),
	TM_CONF_KEY("retries", TM_CONF_INT, "0", 0, 0, 1000000, EP(retries),
	  "failed attempts before a batch is dead-lettered (0: never)"),
	TM_CONF_KEY("backlog_alert", TM_CONF_DURATION, "1h", 0, 1, TM_CONF_MAX_DURATION,
	  EP(backlog_alert), "oldest queued event older than this: alert forward_backlog"),
	TM_CONF_KEY("backlog_alert_events", TM_CONF_INT, "0", 0, 0, 100000000,
	  EP(backlog_alert_events), "this many events queued or more: alert forward_backlog (0: off)"),
};
static const struct tm_conf_section endpoint_section =
	TM_CONF_TABLE(endpoint_keys, check_endpoint);

/* Endpoint names are the queues' names: each once. */
static int check_forward(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			 void *obj)
{
	const struct gw_forward_config *f = obj;
	for (size_t i = 0; i < f->n_endpoints; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->endpoints[j].name, f->endpoints[i].name) == 0)
				return tm_conf_fail(c, tm_node_get(n, "endpoints"),
						    "config.bad_value", "forward.endpoints",
						    "name '%s' used twice", f->endpoints[i].name);
	(void)path;
	return 0;
}

static const struct tm_conf_entry forward_keys[] = {
	TM_CONF_KEY("gateway", TM_CONF_STRING, "(the host name)", TM_CONF_DEF_DOC, 0, 255,
	  FWD(gateway), "this gateway's name in the events' source"),
	TM_CONF_KEY("every", TM_CONF_DURATION, "5s", 0, 1, 86400, FWD(every),
	  "serve's forwarding pass"),
	TM_CONF_KEY("endpoints", TM_CONF_LIST, NULL, TM_CONF_REQUIRED, 1, GW_FORWARD_MAX_ENDPOINTS,
	  FWD(endpoints), "the receivers", .of = TM_CONF_SECTION,
	  .count_offset = offsetof(struct gw_forward_config, n_endpoints),
	  .elem_size = sizeof(struct gw_forward_endpoint), .section = &endpoint_section),
};
const struct tm_conf_section gw_conf_forward = TM_CONF_TABLE(forward_keys, check_forward);

void gw_forward_endpoint_defaults(struct gw_forward_endpoint *e)
{
	struct tm_error err = {0};
	memset(e, 0, sizeof(*e));
	e->kinds = GW_FORWARD_REPORT | GW_FORWARD_ALERT;
	/* the table's own defaults: numbers and names only, nothing to allocate */
	if (tm_conf_defaults(&endpoint_section, e, &err) < 0)
		abort(); /* a default in the table does not read: a broken invariant */
}

int gw_config_forward_new(struct gw_forward_config **out, struct tm_error *err)
{
	struct gw_forward_config *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	if (tm_conf_defaults(&gw_conf_forward, f, err) < 0) {
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

int gw_config_forward_finish(struct gw_forward_config *f, struct tm_error *err)
{
	for (size_t i = 0; i < f->n_endpoints; i++)
		if (f->endpoints[i].kinds == 0)
			f->endpoints[i].kinds = GW_FORWARD_REPORT | GW_FORWARD_ALERT;
	if (f->gateway == NULL) {
		char host[256] = "";
		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		if ((f->gateway = strdup(host)) == NULL)
			return tm_error_set(err, "internal.nomem", "out of memory");
	}
	return 0;
}

size_t gw_forward_endpoint_names(const struct gw_forward_config *f,
				 const char *out[GW_FORWARD_MAX_ENDPOINTS])
{
	size_t n = 0;
	for (; f != NULL && n < f->n_endpoints && n < GW_FORWARD_MAX_ENDPOINTS; n++)
		out[n] = f->endpoints[n].name;
	return n;
}

void gw_config_forward_free(struct gw_forward_config *f)
{
	if (f == NULL)
		return;
	tm_conf_release(&gw_conf_forward, f);   /* the endpoints and their strings too */
	free(f);
}

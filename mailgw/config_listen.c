/* telemail-mailgw — `listen:` and `spool:` configuration (see config_listen.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <telemail/error.h>
#include <telemail/node.h>

#include "config.h"
#include "config_listen.h"

struct lctx {
	const char *name;
	const char *base;
	struct tm_error *err;
};

__attribute__((format(printf, 4, 5)))
static int fail(const struct lctx *c, const struct tm_node *at, const char *path,
		const char *fmt, ...)
{
	char msg[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_error_set(c->err, "config.bad_value", "%s:%u: %s: %s", c->name,
			    at != NULL ? at->line : 1u, path, msg);
}

static const struct tm_node *get(const struct tm_node *map, const char *key)
{
	if (map == NULL || map->type != TM_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->u.map.n; i++)
		if (strcmp(map->u.map.pairs[i].key, key) == 0)
			return map->u.map.pairs[i].value;
	return NULL;
}

static int want_map(const struct lctx *c, const struct tm_node *n, const char *path,
		    const char *const *keys)
{
	if (n->type != TM_NODE_MAP)
		return fail(c, n, path, "must be a mapping, not %s", tm_node_type_name(n->type));
	for (size_t i = 0; i < n->u.map.n; i++) {
		bool ok = false;
		for (const char *const *k = keys; *k != NULL && !ok; k++)
			ok = strcmp(*k, n->u.map.pairs[i].key) == 0;
		if (!ok)
			return tm_error_set(c->err, "config.unknown_key", "%s:%u: %s.%s: unknown key",
					    c->name, n->u.map.pairs[i].value->line, path,
					    n->u.map.pairs[i].key);
	}
	return 0;
}

static int get_str(const struct lctx *c, const struct tm_node *n, const char *path, size_t max,
		   char **out)
{
	if (n->type != TM_NODE_STRING)
		return fail(c, n, path, "must be a string, not %s", tm_node_type_name(n->type));
	if (n->u.str.len == 0 || n->u.str.len > max)
		return fail(c, n, path, "must be 1 to %zu bytes", max);
	free(*out);
	if ((*out = strdup(n->u.str.s)) == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

static int get_path(const struct lctx *c, const struct tm_node *n, const char *path, char **out)
{
	char *s = NULL;
	if (get_str(c, n, path, GW_CONFIG_MAX_PATH, &s) < 0)
		return -1;
	free(*out);
	if (s[0] == '/' || c->base == NULL || c->base[0] == '\0') {
		*out = s;
		return 0;
	}
	size_t len = strlen(c->base) + strlen(s) + 2;
	*out = malloc(len);
	if (*out != NULL)
		snprintf(*out, len, "%s/%s", c->base, s);
	free(s);
	return *out != NULL ? 0 : tm_error_set(c->err, "internal.nomem", "out of memory");
}

static int get_int(const struct lctx *c, const struct tm_node *n, const char *path, int64_t min,
		   int64_t max, int64_t *out)
{
	if (n->type != TM_NODE_INT)
		return fail(c, n, path, "must be an integer, not %s", tm_node_type_name(n->type));
	if (n->u.i < min || n->u.i > max)
		return fail(c, n, path, "%lld is out of range %lld..%lld", (long long)n->u.i,
			    (long long)min, (long long)max);
	*out = n->u.i;
	return 0;
}

static int get_uint(const struct lctx *c, const struct tm_node *n, const char *path,
		    int64_t min, int64_t max, unsigned *out)
{
	int64_t v;
	if (get_int(c, n, path, min, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int get_dur(const struct lctx *c, const struct tm_node *n, const char *path, int64_t min,
		   int64_t max, int64_t *out)
{
	if (n->type != TM_NODE_STRING)
		return fail(c, n, path, "must be a duration such as 90s or 5m");
	struct tm_error e = {0};
	int64_t v;
	if (gw_config_duration(n->u.str.s, &v, &e) < 0)
		return fail(c, n, path, "%s", e.msg);
	if (v < min || v > max)
		return fail(c, n, path, "%s is out of range %llds..%llds", n->u.str.s, (long long)min,
			    (long long)max);
	*out = v;
	return 0;
}

int gw_cidr_parse(const char *text, struct gw_cidr *out)
{
	char buf[64];
	if (strlen(text) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", text);
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash != NULL) {
		char *end;
		*slash = '\0';
		prefix = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0')
			return -1;
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		if (prefix > 32)
			return -1;
		out->prefix = prefix < 0 ? 32 : (unsigned)prefix;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		if (prefix > 128)
			return -1;
		out->prefix = prefix < 0 ? 128 : (unsigned)prefix;
	} else {
		return -1;
	}
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool gw_cidr_match(const struct gw_cidr *list, size_t n, const void *sockaddr)
{
	const struct sockaddr *sa = sockaddr;
	uint8_t v4[4], v6[16];
	bool is4 = false, is6 = false;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sockaddr)->sin_addr, 4);
		is4 = true;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(v6, &((const struct sockaddr_in6 *)sockaddr)->sin6_addr, 16);
		is6 = true;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(v6, mapped, 12) == 0) {
			memcpy(v4, v6 + 12, 4);
			is4 = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (list[i].family == AF_INET && is4 && prefix_eq(list[i].addr, v4, list[i].prefix))
			return true;
		if (list[i].family == AF_INET6 && is6 && prefix_eq(list[i].addr, v6, list[i].prefix))
			return true;
	}
	return false;
}

/* "127.0.0.1:2525", "[::1]:2525", "off" */
static int read_smtp(const struct lctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	if (n->type != TM_NODE_STRING)
		return fail(c, n, "listen.smtp", "must be ADDRESS:PORT or off");
	const char *s = n->u.str.s;
	free(l->smtp_address);
	l->smtp_address = NULL;
	if (strcmp(s, "off") == 0)
		return 0;
	const char *colon = strrchr(s, ':');
	char addr[64];
	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(addr))
		return fail(c, n, "listen.smtp", "'%.80s' is not ADDRESS:PORT ([::1]:2525 for IPv6)", s);
	size_t al = (size_t)(colon - s);
	if (s[0] == '[') {
		if (al < 3 || s[al - 1] != ']')
			return fail(c, n, "listen.smtp", "'%.80s': IPv6 addresses go in brackets", s);
		memcpy(addr, s + 1, al - 2);
		addr[al - 2] = '\0';
	} else {
		memcpy(addr, s, al);
		addr[al] = '\0';
	}
	uint8_t tmp[16];
	if (inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, tmp) != 1)
		return fail(c, n, "listen.smtp", "'%s' is not an IP address", addr);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
		return fail(c, n, "listen.smtp", "'%s' is not a port (0..65535; 0: any free port, logged)", colon + 1);
	l->smtp_port = (unsigned)port;
	if ((l->smtp_address = strdup(addr)) == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

static int read_networks(const struct lctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	if (n->type != TM_NODE_SEQ)
		return fail(c, n, "listen.client_networks", "must be a list of CIDR blocks");
	if (n->u.seq.n == 0 || n->u.seq.n > GW_LISTEN_MAX_NETWORKS)
		return fail(c, n, "listen.client_networks", "%zu entries; want 1 to %d", n->u.seq.n,
			    GW_LISTEN_MAX_NETWORKS);
	l->n_networks = 0;
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *e = n->u.seq.items[i];
		char path[64];
		snprintf(path, sizeof(path), "listen.client_networks[%zu]", i);
		if (e->type != TM_NODE_STRING || gw_cidr_parse(e->u.str.s, &l->networks[i]) < 0)
			return fail(c, e, path, "'%.60s' is not an address block (192.0.2.0/24, ::1/128)",
				    e->type == TM_NODE_STRING ? e->u.str.s : "?");
		l->n_networks++;
	}
	return 0;
}

static int read_listen(const struct lctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	static const char *const keys[] = {
		"smtp", "lmtp", "hostname", "tls", "require_tls", "client_networks",
		"max_connections", "max_per_address", "max_recipients", "max_message_size",
		"timeouts", NULL,
	};
	static const char *const tls_keys[] = { "cert", "key", NULL };
	static const char *const to_keys[] = { "command", "data", "shutdown", NULL };
	const struct tm_node *v, *t;
	int64_t size;
	if (want_map(c, n, "listen", keys) < 0)
		return -1;
	if ((v = get(n, "smtp")) != NULL && read_smtp(c, v, l) < 0)
		return -1;
	if ((v = get(n, "lmtp")) != NULL) {
		if (get_path(c, v, "listen.lmtp", &l->lmtp_socket) < 0)
			return -1;
		if (strlen(l->lmtp_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(c, v, "listen.lmtp", "a socket path is at most %zu bytes",
				    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	if ((v = get(n, "hostname")) != NULL && get_str(c, v, "listen.hostname", 253, &l->hostname) < 0)
		return -1;
	if ((v = get(n, "tls")) != NULL) {
		if (want_map(c, v, "listen.tls", tls_keys) < 0)
			return -1;
		if ((t = get(v, "cert")) == NULL || get_path(c, t, "listen.tls.cert", &l->tls_cert) < 0)
			return t == NULL ? tm_error_set(c->err, "config.missing_key",
							"%s:%u: listen.tls.cert: missing", c->name, v->line) : -1;
		if ((t = get(v, "key")) == NULL || get_path(c, t, "listen.tls.key", &l->tls_key) < 0)
			return t == NULL ? tm_error_set(c->err, "config.missing_key",
							"%s:%u: listen.tls.key: missing", c->name, v->line) : -1;
	}
	if ((v = get(n, "require_tls")) != NULL) {
		if (v->type != TM_NODE_BOOL)
			return fail(c, v, "listen.require_tls", "must be true or false");
		l->require_tls = v->u.b;
	}
	if ((v = get(n, "client_networks")) != NULL && read_networks(c, v, l) < 0)
		return -1;
	if ((v = get(n, "max_connections")) != NULL &&
	    get_uint(c, v, "listen.max_connections", 1, GW_LISTEN_MAX_CONNECTIONS, &l->max_connections) < 0)
		return -1;
	if ((v = get(n, "max_per_address")) != NULL &&
	    get_uint(c, v, "listen.max_per_address", 1, GW_LISTEN_MAX_CONNECTIONS, &l->max_per_address) < 0)
		return -1;
	if ((v = get(n, "max_recipients")) != NULL &&
	    get_uint(c, v, "listen.max_recipients", 1, GW_LISTEN_MAX_RECIPIENTS, &l->max_recipients) < 0)
		return -1;
	if ((v = get(n, "max_message_size")) != NULL) {
		if (get_int(c, v, "listen.max_message_size", 1024, GW_LISTEN_MAX_MESSAGE_SIZE, &size) < 0)
			return -1;
		l->max_message_size = (size_t)size;
	}
	if ((v = get(n, "timeouts")) != NULL) {
		if (want_map(c, v, "listen.timeouts", to_keys) < 0)
			return -1;
		if ((t = get(v, "command")) != NULL &&
		    get_dur(c, t, "listen.timeouts.command", 1, 3600, &l->timeout_command) < 0)
			return -1;
		if ((t = get(v, "data")) != NULL &&
		    get_dur(c, t, "listen.timeouts.data", 1, 3600, &l->timeout_data) < 0)
			return -1;
		if ((t = get(v, "shutdown")) != NULL &&
		    get_dur(c, t, "listen.timeouts.shutdown", 0, 3600, &l->timeout_shutdown) < 0)
			return -1;
	}
	if (l->require_tls && l->tls_cert == NULL)
		return fail(c, n, "listen.require_tls", "needs listen.tls (a certificate and key)");
	return 0;
}

static int read_spool(const struct lctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	static const char *const keys[] = { "dir", "quota_bytes", "quota_messages", NULL };
	const struct tm_node *v;
	int64_t x;
	if (want_map(c, n, "spool", keys) < 0)
		return -1;
	if ((v = get(n, "dir")) != NULL && get_path(c, v, "spool.dir", &l->spool_dir) < 0)
		return -1;
	if ((v = get(n, "quota_bytes")) != NULL) {
		if (get_int(c, v, "spool.quota_bytes", 0, INT64_MAX, &x) < 0)
			return -1;
		l->spool_quota_bytes = (uint64_t)x;
	}
	if ((v = get(n, "quota_messages")) != NULL) {
		if (get_int(c, v, "spool.quota_messages", 0, INT64_MAX, &x) < 0)
			return -1;
		l->spool_quota_messages = (uint64_t)x;
	}
	return 0;
}

static int defaults(struct gw_listen_config *l, const struct gw_config *cfg, struct tm_error *err)
{
	l->smtp_address = strdup("127.0.0.1");
	l->smtp_port = 2525;
	char host[256] = "localhost";
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	l->hostname = strdup(host);
	gw_cidr_parse("127.0.0.0/8", &l->networks[0]);
	gw_cidr_parse("::1/128", &l->networks[1]);
	l->n_networks = 2;
	l->max_connections = 100;
	l->max_per_address = 20;
	l->max_recipients = 10;
	l->max_message_size = 1u << 20;
	l->timeout_command = 300;
	l->timeout_data = 180;
	l->timeout_shutdown = 30;
	l->spool_quota_bytes = 1ull << 30;
	l->spool_quota_messages = 100000;
	size_t n = strlen(cfg->state_dir) + 7;
	if ((l->spool_dir = malloc(n)) != NULL)
		snprintf(l->spool_dir, n, "%s/spool", cfg->state_dir);
	if (l->smtp_address == NULL || l->hostname == NULL || l->spool_dir == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	return 0;
}

int gw_config_listen_read(const struct tm_node *root, const char *name, const char *base_dir,
			  struct gw_config *cfg, struct tm_error *err)
{
	struct lctx c = { .name = name, .base = base_dir, .err = err };
	struct gw_listen_config *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	cfg->listen = l;
	if (defaults(l, cfg, err) < 0)
		return -1;
	const struct tm_node *n;
	if ((n = get(root, "listen")) != NULL && read_listen(&c, n, l) < 0)
		return -1;
	if ((n = get(root, "spool")) != NULL && read_spool(&c, n, l) < 0)
		return -1;
	return 0;
}

void gw_config_listen_free(struct gw_listen_config *l)
{
	if (l == NULL)
		return;
	free(l->smtp_address);
	free(l->lmtp_socket);
	free(l->hostname);
	free(l->tls_cert);
	free(l->tls_key);
	free(l->spool_dir);
	free(l);
}

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

#include "config/config.h"
#include "config/config_util.h"
#include "config/config_listen.h"

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
static int read_smtp(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	if (n->type != TM_NODE_STRING)
		return gw_cfg_bad(c, n, "listen.smtp", "must be ADDRESS:PORT or off");
	const char *s = n->u.str.s;
	free(l->smtp_address);
	l->smtp_address = NULL;
	if (strcmp(s, "off") == 0)
		return 0;
	const char *colon = strrchr(s, ':');
	char addr[64];
	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(addr))
		return gw_cfg_bad(c, n, "listen.smtp", "'%.80s' is not ADDRESS:PORT ([::1]:2525 for IPv6)", s);
	size_t al = (size_t)(colon - s);
	if (s[0] == '[') {
		if (al < 3 || s[al - 1] != ']')
			return gw_cfg_bad(c, n, "listen.smtp", "'%.80s': IPv6 addresses go in brackets", s);
		memcpy(addr, s + 1, al - 2);
		addr[al - 2] = '\0';
	} else {
		memcpy(addr, s, al);
		addr[al] = '\0';
	}
	uint8_t tmp[16];
	if (inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, tmp) != 1)
		return gw_cfg_bad(c, n, "listen.smtp", "'%s' is not an IP address", addr);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
		return gw_cfg_bad(c, n, "listen.smtp", "'%s' is not a port (0..65535; 0: any free port, logged)", colon + 1);
	l->smtp_port = (unsigned)port;
	if ((l->smtp_address = strdup(addr)) == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	return 0;
}

static int read_networks(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	if (n->type != TM_NODE_SEQ)
		return gw_cfg_bad(c, n, "listen.client_networks", "must be a list of CIDR blocks");
	if (n->u.seq.n == 0 || n->u.seq.n > GW_LISTEN_MAX_NETWORKS)
		return gw_cfg_bad(c, n, "listen.client_networks", "%zu entries; want 1 to %d", n->u.seq.n,
			    GW_LISTEN_MAX_NETWORKS);
	l->n_networks = 0;
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *e = n->u.seq.items[i];
		char path[64];
		snprintf(path, sizeof(path), "listen.client_networks[%zu]", i);
		if (e->type != TM_NODE_STRING || gw_cidr_parse(e->u.str.s, &l->networks[i]) < 0)
			return gw_cfg_bad(c, e, path, "'%.60s' is not an address block (192.0.2.0/24, ::1/128)",
				    e->type == TM_NODE_STRING ? e->u.str.s : "?");
		l->n_networks++;
	}
	return 0;
}

static int read_listen(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_listen_config *l)
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
	if (gw_cfg_want_map(c, n, "listen", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "smtp")) != NULL && read_smtp(c, v, l) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "lmtp")) != NULL) {
		if (gw_cfg_path(c, v, "listen.lmtp", &l->lmtp_socket) < 0)
			return -1;
		if (strlen(l->lmtp_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return gw_cfg_bad(c, v, "listen.lmtp", "a socket path is at most %zu bytes",
				    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	if ((v = gw_cfg_get(n, "hostname")) != NULL &&
	    gw_cfg_str(c, v, "listen.hostname", 253, &l->hostname) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "tls")) != NULL) {
		if (gw_cfg_want_map(c, v, "listen.tls", tls_keys) < 0)
			return -1;
		if ((t = gw_cfg_get(v, "cert")) == NULL || gw_cfg_path(c, t, "listen.tls.cert", &l->tls_cert) < 0)
			return t == NULL ? tm_error_set(c->err, "config.missing_key",
							"%s:%u: listen.tls.cert: missing", c->name, v->line) : -1;
		if ((t = gw_cfg_get(v, "key")) == NULL || gw_cfg_path(c, t, "listen.tls.key", &l->tls_key) < 0)
			return t == NULL ? tm_error_set(c->err, "config.missing_key",
							"%s:%u: listen.tls.key: missing", c->name, v->line) : -1;
	}
	if ((v = gw_cfg_get(n, "require_tls")) != NULL) {
		if (v->type != TM_NODE_BOOL)
			return gw_cfg_bad(c, v, "listen.require_tls", "must be true or false");
		l->require_tls = v->u.b;
	}
	if ((v = gw_cfg_get(n, "client_networks")) != NULL && read_networks(c, v, l) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_connections")) != NULL &&
	    gw_cfg_uint(c, v, "listen.max_connections", 1, GW_LISTEN_MAX_CONNECTIONS, &l->max_connections) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_per_address")) != NULL &&
	    gw_cfg_uint(c, v, "listen.max_per_address", 1, GW_LISTEN_MAX_CONNECTIONS, &l->max_per_address) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_recipients")) != NULL &&
	    gw_cfg_uint(c, v, "listen.max_recipients", 1, GW_LISTEN_MAX_RECIPIENTS, &l->max_recipients) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "max_message_size")) != NULL) {
		if (gw_cfg_int(c, v, "listen.max_message_size", 1024, GW_LISTEN_MAX_MESSAGE_SIZE, &size) < 0)
			return -1;
		l->max_message_size = (size_t)size;
	}
	if ((v = gw_cfg_get(n, "timeouts")) != NULL) {
		if (gw_cfg_want_map(c, v, "listen.timeouts", to_keys) < 0)
			return -1;
		if ((t = gw_cfg_get(v, "command")) != NULL &&
		    gw_cfg_dur(c, t, "listen.timeouts.command", 1, 3600, &l->timeout_command) < 0)
			return -1;
		if ((t = gw_cfg_get(v, "data")) != NULL &&
		    gw_cfg_dur(c, t, "listen.timeouts.data", 1, 3600, &l->timeout_data) < 0)
			return -1;
		if ((t = gw_cfg_get(v, "shutdown")) != NULL &&
		    gw_cfg_dur(c, t, "listen.timeouts.shutdown", 0, 3600, &l->timeout_shutdown) < 0)
			return -1;
	}
	if (l->require_tls && l->tls_cert == NULL)
		return gw_cfg_bad(c, n, "listen.require_tls", "needs listen.tls (a certificate and key)");
	return 0;
}

static int read_spool(const struct gw_cfgctx *c, const struct tm_node *n, struct gw_listen_config *l)
{
	static const char *const keys[] = { "dir", "quota_bytes", "quota_messages", NULL };
	const struct tm_node *v;
	int64_t x;
	if (gw_cfg_want_map(c, n, "spool", keys) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "dir")) != NULL && gw_cfg_path(c, v, "spool.dir", &l->spool_dir) < 0)
		return -1;
	if ((v = gw_cfg_get(n, "quota_bytes")) != NULL) {
		if (gw_cfg_int(c, v, "spool.quota_bytes", 0, INT64_MAX, &x) < 0)
			return -1;
		l->spool_quota_bytes = (uint64_t)x;
	}
	if ((v = gw_cfg_get(n, "quota_messages")) != NULL) {
		if (gw_cfg_int(c, v, "spool.quota_messages", 0, INT64_MAX, &x) < 0)
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
	struct gw_cfgctx c = { .name = name, .base = base_dir, .err = err };
	struct gw_listen_config *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	cfg->listen = l;
	if (defaults(l, cfg, err) < 0)
		return -1;
	const struct tm_node *n;
	if ((n = gw_cfg_get(root, "listen")) != NULL && read_listen(&c, n, l) < 0)
		return -1;
	if ((n = gw_cfg_get(root, "spool")) != NULL && read_spool(&c, n, l) < 0)
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

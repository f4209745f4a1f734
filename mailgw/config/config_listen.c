/* telemail-mailgw — `listen:` and `spool:` configuration (see config_listen.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <telemail/config_map.h>
#include <telemail/error.h>
#include <telemail/node.h>

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

#define LST(member) TM_CONF_FIELD(struct gw_listen_config, member)

int gw_config_address_port(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			   const char *example, char **address, unsigned *port)
{
	if (n->type != TM_NODE_STRING)
		return tm_conf_fail(c, n, "config.bad_value", path, "must be ADDRESS:PORT");
	const char *s = n->u.str.s;
	const char *colon = strrchr(s, ':');
	char addr[64];
	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(addr))
		return tm_conf_fail(c, n, "config.bad_value", path,
				    "'%.80s' is not ADDRESS:PORT (%s for IPv6)", s, example);
	size_t al = (size_t)(colon - s);
	if (s[0] == '[') {
		if (al < 3 || s[al - 1] != ']')
			return tm_conf_fail(c, n, "config.bad_value", path,
					    "'%.80s': IPv6 addresses go in brackets", s);
		memcpy(addr, s + 1, al - 2);
		addr[al - 2] = '\0';
	} else {
		memcpy(addr, s, al);
		addr[al] = '\0';
	}
	uint8_t tmp[16];
	if (inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, tmp) != 1)
		return tm_conf_fail(c, n, "config.bad_value", path, "'%s' is not an IP address", addr);
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		return tm_conf_fail(c, n, "config.bad_value", path,
				    "'%s' is not a port (0..65535; 0: any free port, logged)", colon + 1);
	char *a = strdup(addr);
	if (a == NULL)
		return tm_error_set(c->err, "internal.nomem", "out of memory");
	free(*address);
	*address = a;
	*port = (unsigned)p;
	return 0;
}

/* listen.smtp: "127.0.0.1:2525", "[::1]:2525", "off" */
static int read_smtp(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		     void *obj)
{
	struct gw_listen_config *l = obj;
	if (n->type != TM_NODE_STRING)
		return tm_conf_fail(c, n, "config.bad_value", path, "must be ADDRESS:PORT or off");
	free(l->smtp_address);
	l->smtp_address = NULL;
	if (strcmp(n->u.str.s, "off") == 0)
		return 0;
	return gw_config_address_port(c, n, path, "[::1]:2525", &l->smtp_address, &l->smtp_port);
}

/* listen.client_networks: a list of CIDR blocks. */
static int read_networks(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			 void *obj)
{
	struct gw_listen_config *l = obj;
	if (n->type != TM_NODE_SEQ)
		return tm_conf_fail(c, n, "config.bad_value", path, "must be a list of CIDR blocks");
	if (n->u.seq.n == 0 || n->u.seq.n > GW_LISTEN_MAX_NETWORKS)
		return tm_conf_fail(c, n, "config.bad_value", path, "%zu entries; want 1 to %d",
				    n->u.seq.n, GW_LISTEN_MAX_NETWORKS);
	l->n_networks = 0;
	for (size_t i = 0; i < n->u.seq.n; i++) {
		const struct tm_node *e = n->u.seq.items[i];
		char at[64];
		snprintf(at, sizeof(at), "%s[%zu]", path, i);
		if (e->type != TM_NODE_STRING || gw_cidr_parse(e->u.str.s, &l->networks[i]) < 0)
			return tm_conf_fail(c, e, "config.bad_value", at,
					    "'%.60s' is not an address block (192.0.2.0/24, ::1/128)",
					    e->type == TM_NODE_STRING ? e->u.str.s : "?");
		l->n_networks++;
	}
	return 0;
}

static int check_tls(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
		     void *obj)
{
	(void)c, (void)n, (void)path;
	((struct gw_listen_config *)obj)->tls_set = true;
	return 0;
}

static int check_listen(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			void *obj)
{
	struct gw_listen_config *l = obj;
	const struct tm_node *v = tm_node_get(n, "lmtp");
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	(void)path;
	if (v != NULL && strlen(l->lmtp_socket) > max)
		return tm_conf_fail(c, v, "config.bad_value", "listen.lmtp",
				    "a socket path is at most %zu bytes", max);
	if (l->require_tls && !l->tls_set)
		return tm_conf_fail(c, n, "config.bad_value", "listen.require_tls",
				    "needs listen.tls (a certificate and key)");
	return 0;
}

static const struct tm_conf_entry tls_keys[] = {
	TM_CONF_KEY("cert", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, LST(tls_cert),
	  "PEM certificate (chain) for STARTTLS"),
	TM_CONF_KEY("key", TM_CONF_PATH, NULL, TM_CONF_REQUIRED, 0, 0, LST(tls_key), "its PEM private key"),
};
static const struct tm_conf_section tls_section = TM_CONF_TABLE(tls_keys, check_tls);

static const struct tm_conf_entry timeout_keys[] = {
	TM_CONF_KEY("command", TM_CONF_DURATION, "5m", 0, 1, 3600, LST(timeout_command),
	  "waiting for a command (RFC 5321 4.5.3.2.7)"),
	TM_CONF_KEY("data", TM_CONF_DURATION, "3m", 0, 1, 3600, LST(timeout_data),
	  "waiting for a block of DATA (4.5.3.2.5)"),
	TM_CONF_KEY("shutdown", TM_CONF_DURATION, "30s", 0, 0, 3600, LST(timeout_shutdown),
	  "SIGTERM waits this long for open sessions"),
};
static const struct tm_conf_section timeout_section = TM_CONF_TABLE(timeout_keys, NULL);

static const struct tm_conf_entry listen_keys[] = {
	TM_CONF_KEY("smtp", TM_CONF_CUSTOM, "127.0.0.1:2525", 0, 0, 0, TM_CONF_NOFIELD,
	  "SMTP listener: ADDRESS:PORT ([::1]:25), port 0 any free port, or off",
	  .read = read_smtp, .type_name = "address:port"),
	TM_CONF_KEY("lmtp", TM_CONF_PATH, NULL, 0, 0, 0, LST(lmtp_socket),
	  "LMTP listener on this unix socket (none by default)"),
	TM_CONF_KEY("hostname", TM_CONF_STRING, "(the host name)", TM_CONF_DEF_DOC, 0, 253, LST(hostname),
	  "the name in the greeting and EHLO reply"),
	TM_CONF_KEY("tls", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL, .section = &tls_section),
	TM_CONF_KEY("require_tls", TM_CONF_BOOL, "false", 0, 0, 0, LST(require_tls),
	  "refuse MAIL before STARTTLS (needs listen.tls)"),
	TM_CONF_KEY("client_networks", TM_CONF_CUSTOM, "[127.0.0.0/8, ::1/128]", 0, 0, 0, TM_CONF_NOFIELD,
	  "peers allowed to connect (CIDR blocks, at most 64)",
	  .read = read_networks, .type_name = "list(cidr)"),
	TM_CONF_KEY("max_connections", TM_CONF_INT, "100", 0, 1, GW_LISTEN_MAX_CONNECTIONS,
	  LST(max_connections), "open sessions at once"),
	TM_CONF_KEY("max_per_address", TM_CONF_INT, "20", 0, 1, GW_LISTEN_MAX_CONNECTIONS,
	  LST(max_per_address), "open sessions from one address"),
	TM_CONF_KEY("max_recipients", TM_CONF_INT, "10", 0, 1, GW_LISTEN_MAX_RECIPIENTS, LST(max_recipients),
	  "RCPT per message"),
	TM_CONF_KEY("max_message_size", TM_CONF_SIZE, "1048576", 0, 1024, GW_LISTEN_MAX_MESSAGE_SIZE,
	  LST(max_message_size), "bytes of one message (SIZE)"),
	TM_CONF_KEY("timeouts", TM_CONF_SECTION, NULL, 0, 0, 0, TM_CONF_NOFIELD, NULL, .section = &timeout_section),
};
const struct tm_conf_section gw_conf_listen = TM_CONF_TABLE(listen_keys, check_listen);

static const struct tm_conf_entry spool_keys[] = {
	TM_CONF_KEY("dir", TM_CONF_PATH, "<state_dir>/spool", TM_CONF_DEF_DOC, 0, 0, LST(spool_dir),
	  "the durable spool behind every 250"),
	TM_CONF_KEY("quota_bytes", TM_CONF_SIZE, "1073741824", 0, 0, INT64_MAX, LST(spool_quota_bytes),
	  "bytes held before new mail is deferred (0: none)"),
	TM_CONF_KEY("quota_messages", TM_CONF_SIZE, "100000", 0, 0, INT64_MAX, LST(spool_quota_messages),
	  "messages held before new mail is deferred (0: none)"),
};
const struct tm_conf_section gw_conf_spool = TM_CONF_TABLE(spool_keys, NULL);

int gw_config_listen_defaults(struct gw_listen_config *l)
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
	if (l->smtp_address == NULL || l->hostname == NULL)
		return -1;
	return 0;
}

void gw_config_listen_free(struct gw_listen_config *l)
{
	if (l == NULL)
		return;
	tm_conf_release(&gw_conf_listen, l);
	tm_conf_release(&gw_conf_spool, l);
	free(l->smtp_address);
	free(l);
}

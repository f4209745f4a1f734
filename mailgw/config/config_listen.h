/* telemail-mailgw — the `listen:` and `spool:` sections of the configuration
 * (telemail-mailgw serve). Both are optional; absent keys take the defaults
 * below. Errors follow config.h: "file:line: listen.key: message". */
#ifndef GW_CONFIG_LISTEN_H
#define GW_CONFIG_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_conf_section;

#define GW_LISTEN_MAX_NETWORKS 64
#define GW_LISTEN_MAX_CONNECTIONS 10000
#define GW_LISTEN_MAX_RECIPIENTS 1000
#define GW_LISTEN_MAX_MESSAGE_SIZE (32u << 20)

/* An address block of client_networks. */
struct gw_cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* network order; 4 bytes used for AF_INET */
	unsigned prefix;
};

struct gw_listen_config {
	bool tls_set;                /* listen.tls was given */
	char *smtp_address;          /* default "127.0.0.1"; NULL when smtp: off */
	unsigned smtp_port;          /* default 2525; 0: any free port (logged) */
	char *lmtp_socket;           /* unix socket path; NULL: no LMTP listener */
	char *hostname;              /* default: the host name */
	char *tls_cert, *tls_key;    /* PEM; NULL: no STARTTLS */
	bool require_tls;            /* default false */
	struct gw_cidr networks[GW_LISTEN_MAX_NETWORKS]; /* default 127.0.0.0/8, ::1/128 */
	size_t n_networks;
	unsigned max_connections;    /* default 100 */
	unsigned max_per_address;    /* default 20 */
	unsigned max_recipients;     /* default 10 */
	size_t max_message_size;     /* default 1 MiB (the MIME limit) */
	int64_t timeout_command;     /* default 5m (RFC 5321 4.5.3.2.7) */
	int64_t timeout_data;        /* default 3m (4.5.3.2.5: per data block) */
	int64_t timeout_shutdown;    /* default 30s: SIGTERM waits this long for sessions */

	char *spool_dir;             /* default <state_dir>/spool */
	uint64_t spool_quota_bytes;  /* default 1 GiB; 0: none */
	uint64_t spool_quota_messages; /* default 100000; 0: none */
};

/* The sections' tables (telemail/config_map.h), read by the top level
 * (config.c) into its struct gw_listen_config. */
extern const struct tm_conf_section gw_conf_listen, gw_conf_spool;

/* The defaults the tables only document: listen.smtp, the host name, the
 * loopback client networks (spool.dir, <state_dir>/spool, is config.c's). */
int gw_config_listen_defaults(struct gw_listen_config *l);
void gw_config_listen_free(struct gw_listen_config *l);

/* "192.0.2.0/24", "2001:db8::/32", "::1" (a host) → block. */
int gw_cidr_parse(const char *text, struct gw_cidr *out);
/* Is the address (struct sockaddr_in / _in6, IPv4-mapped IPv6 as IPv4) inside? */
bool gw_cidr_match(const struct gw_cidr *list, size_t n, const void *sockaddr);

/* "ADDRESS:PORT" ("[v6]:PORT") into *address (replaced) and *port, or
 * config.bad_value naming path; example is shown for IPv6 ("[::1]:2525"). */
struct tm_conf_ctx;
struct tm_node;
int gw_config_address_port(const struct tm_conf_ctx *c, const struct tm_node *n, const char *path,
			   const char *example, char **address, unsigned *port);

#endif

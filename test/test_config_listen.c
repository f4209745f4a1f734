/* The listen: and spool: sections of the gateway configuration
 * (mailgw/config/config_listen.c): defaults, values, client networks, errors. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <criterion/criterion.h>

#include <telemail/error.h>

#include "common.h"
#include "config/config.h"
#include "config/config_listen.h"

#define BASE_CONF "gateway:\n  mailboxes: [t@gw.example]\n  keys: [{cert: c, key: k}]\n" \
		  "trust: {ca_file: ca}\nstate_dir: /st\n"

Test(config_listen, defaults_and_values)
{
	const char *y = BASE_CONF;
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_config_parse((const uint8_t *)y, strlen(y), "m.yaml", "/etc/t", &c, &err), 0,
		     "%s", err.msg);
	const struct gw_listen_config *l = c->listen;
	cr_assert_str_eq(l->smtp_address, "127.0.0.1");
	cr_assert_eq(l->smtp_port, 2525);
	cr_assert_null(l->lmtp_socket);
	cr_assert_null(l->tls_cert);
	cr_assert_eq(l->n_networks, 2);
	cr_assert_eq(l->max_message_size, 1048576);
	cr_assert_eq(l->timeout_command, 300);
	cr_assert_eq(l->timeout_data, 180);
	cr_assert_str_eq(l->spool_dir, "/st/spool");
	gw_config_free(c);
	y = BASE_CONF "listen:\n  smtp: '[::1]:25'\n  lmtp: run/l.sock\n  tls: {cert: a.pem, key: a.key}\n"
	    "  require_tls: true\n  client_networks: [10.0.0.0/8, '2001:db8::/32']\n"
	    "  max_message_size: 4096\n  timeouts: {command: 1m, data: 90s}\n"
	    "spool: {dir: sp, quota_bytes: 0, quota_messages: 5}\n";
	cr_assert_eq(gw_config_parse((const uint8_t *)y, strlen(y), "m.yaml", "/etc/t", &c, &err), 0,
		     "%s", err.msg);
	l = c->listen;
	cr_assert_str_eq(l->smtp_address, "::1");
	cr_assert_eq(l->smtp_port, 25);
	cr_assert_str_eq(l->lmtp_socket, "/etc/t/run/l.sock");
	cr_assert_str_eq(l->tls_cert, "/etc/t/a.pem");
	cr_assert(l->require_tls);
	cr_assert_eq(l->timeout_data, 90);
	cr_assert_str_eq(l->spool_dir, "/etc/t/sp");
	cr_assert_eq(l->spool_quota_bytes, 0);
	cr_assert_eq(l->spool_quota_messages, 5);
	struct sockaddr_in in = { .sin_family = AF_INET };
	inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
	cr_assert(gw_cidr_match(l->networks, l->n_networks, &in));
	inet_pton(AF_INET, "11.1.2.3", &in.sin_addr);
	cr_assert_not(gw_cidr_match(l->networks, l->n_networks, &in));
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "::ffff:10.9.9.9", &in6.sin6_addr); /* IPv4-mapped */
	cr_assert(gw_cidr_match(l->networks, l->n_networks, &in6));
	inet_pton(AF_INET6, "2001:db9::1", &in6.sin6_addr);
	cr_assert_not(gw_cidr_match(l->networks, l->n_networks, &in6));
	gw_config_free(c);
}

static const struct {
	const char *yaml;
	const char *reason;
	const char *msg;
} bad_listen[] = {
	{ "listen: {smtp: '127.0.0.1'}\n", "config.bad_value",
	  "m.yaml:6: listen.smtp: '127.0.0.1' is not ADDRESS:PORT" },
	{ "listen: {smtp: '127.0.0.1:70000'}\n", "config.bad_value", "listen.smtp: '70000' is not a port" },
	{ "listen: {smtp: 'gw.example:25'}\n", "config.bad_value", "'gw.example' is not an IP address" },
	{ "listen: {client_networks: [10.0.0.0/33]}\n", "config.bad_value",
	  "listen.client_networks[0]: '10.0.0.0/33' is not an address block" },
	{ "listen: {max_message_size: 100}\n", "config.bad_value",
	  "listen.max_message_size: 100 is out of range 1024..33554432" },
	{ "listen: {require_tls: true}\n", "config.bad_value", "listen.require_tls: needs listen.tls" },
	{ "listen: {tls: {cert: a}}\n", "config.missing_key", "listen.tls.key: missing" },
	{ "listen: {timeouts: {command: 0s}}\n", "config.bad_value", "listen.timeouts.command: 0s is out of range" },
	{ "listen: {smpt: 1}\n", "config.unknown_key", "m.yaml:6: listen.smpt: unknown key" },
	{ "spool: {quota_bytes: -1}\n", "config.bad_value", "spool.quota_bytes: -1 is out of range" },
	{ "listen: {max_connections: 0}\n", "config.bad_value", "listen.max_connections: 0 is out of range" },
};

Test(config_listen, errors_name_line_and_key)
{
	for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
		char y[1024];
		snprintf(y, sizeof(y), BASE_CONF "%s", bad_listen[i].yaml);
		struct gw_config *c = NULL;
		struct tm_error err = {0};
		cr_assert_eq(gw_config_parse((const uint8_t *)y, strlen(y), "m.yaml", NULL, &c, &err), -1,
			     "%s", bad_listen[i].yaml);
		cr_assert_str_eq(err.reason, bad_listen[i].reason, "%s: %s", bad_listen[i].yaml, err.msg);
		cr_assert_not_null(strstr(err.msg, bad_listen[i].msg), "%s", err.msg);
		cr_assert_null(c);
	}
}

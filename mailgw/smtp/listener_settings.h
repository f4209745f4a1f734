/* telemail-mailgw — what the listener's sessions share under one
 * configuration (internal to listener.c and listener_settings.c). */
#ifndef GW_LISTENER_SETTINGS_H
#define GW_LISTENER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config/config_listen.h"
#include "smtp/listener.h"
#include "smtp/smtp_session.h"

struct tm_error;

/* What sessions started under one configuration share (reference counted:
 * a reload makes a new one; open sessions keep theirs). Loop thread only. */
struct gw_listener_settings {
	unsigned refs;
	struct gw_smtp_config smtp, lmtp;
	char *hostname;
	char **mailboxes;
	size_t n_mailboxes;
	SSL_CTX *tls;
	bool require_tls;
	struct gw_cidr networks[GW_LISTEN_MAX_NETWORKS];
	size_t n_networks;
	unsigned max_connections, max_per_address;
	int64_t timeout_command, timeout_data, timeout_shutdown;
};

/* From the listener's options: the hostname, mailboxes, TLS context (TLS 1.2
 * and later, no renegotiation), limits and timeouts; refs = 1. */
struct gw_listener_settings *gw_listener_settings_new(const struct gw_listener_options *o,
						      struct tm_error *err);
/* Drop a reference; the last one frees. NULL does nothing. */
void gw_listener_settings_unref(struct gw_listener_settings *s);

#endif

/* telemail-mailgw — the listener's shared settings (see listener_settings.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <telemail/error.h>

#include "smtp/listener_settings.h"

void gw_listener_settings_unref(struct gw_listener_settings *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	for (size_t i = 0; i < s->n_mailboxes; i++)
		free(s->mailboxes[i]);
	free(s->mailboxes);
	free(s->hostname);
	SSL_CTX_free(s->tls);
	free(s);
}

static SSL_CTX *tls_ctx(const char *cert, const char *key, struct tm_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tm_error_set(err, "internal.library", "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		unsigned long e = ERR_get_error();
		char buf[160];
		ERR_error_string_n(e, buf, sizeof(buf));
		ERR_clear_error();
		tm_error_set(err, "smime.key", "listen.tls: %s / %s: %s", cert, key, buf);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

struct gw_listener_settings *gw_listener_settings_new(const struct gw_listener_options *o,
						      struct tm_error *err)
{
	const struct gw_listen_config *c = o->cfg;
	struct gw_listener_settings *s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto nomem;
	s->refs = 1;
	if ((s->hostname = strdup(c->hostname)) == NULL ||
	    (s->mailboxes = calloc(o->n_mailboxes ? o->n_mailboxes : 1, sizeof(char *))) == NULL)
		goto nomem;
	for (; s->n_mailboxes < o->n_mailboxes; s->n_mailboxes++)
		if ((s->mailboxes[s->n_mailboxes] = strdup(o->mailboxes[s->n_mailboxes])) == NULL)
			goto nomem;
	if (c->tls_cert != NULL && (s->tls = tls_ctx(c->tls_cert, c->tls_key, err)) == NULL) {
		gw_listener_settings_unref(s);
		return NULL;
	}
	s->require_tls = c->require_tls;
	memcpy(s->networks, c->networks, sizeof(s->networks));
	s->n_networks = c->n_networks;
	s->max_connections = c->max_connections;
	s->max_per_address = c->max_per_address;
	s->timeout_command = c->timeout_command;
	s->timeout_data = c->timeout_data;
	s->timeout_shutdown = c->timeout_shutdown;
	s->smtp = (struct gw_smtp_config){
		.hostname = s->hostname, .tls_available = s->tls != NULL,
		.require_tls = c->require_tls, .mailboxes = (const char *const *)s->mailboxes,
		.n_mailboxes = s->n_mailboxes, .max_message_size = c->max_message_size,
		.max_recipients = c->max_recipients,
	};
	s->lmtp = s->smtp; /* local delivery over a unix socket: no TLS */
	s->lmtp.lmtp = true;
	s->lmtp.tls_available = false;
	s->lmtp.require_tls = false;
	return s;
nomem:
	gw_listener_settings_unref(s);
	tm_error_set(err, "internal.nomem", "out of memory");
	return NULL;
}

/* telemail — the SMTP client: one session to one relay (libESMTP, OpenSSL).
 *
 * What this module promises to its callers (the agent's submission and the
 * gateway's e-mail notifier):
 *
 *   - One session per call: connect, EHLO, STARTTLS when asked, AUTH when
 *     asked, then every message in order, QUIT. The socket has TCP_NODELAY
 *     (the end of DATA is not held back by Nagle against a delayed ACK).
 *   - STARTTLS, when asked, is required: a relay that does not offer it is
 *     smtp.tls, never a silent downgrade. TLS 1.2 or 1.3, nothing older; the
 *     relay's certificate is verified against ca_file (or the system store)
 *     and must name the host (a DNS name, or the IP address for an IP
 *     literal). Any certificate error ends the session (smtp.certificate)
 *     before a command is sent over the channel.
 *   - TLS 1.3 session tickets that arrive after the handshake are read
 *     before EHLO is written, so that libESMTP does not take them for a
 *     reply and stall (a bounded wait: a relay may send none).
 *   - AUTH uses the configured mechanism only, never another one the relay
 *     offers. After a refused AUTH, or when the relay does not offer the
 *     mechanism, nothing more is sent to the relay: the connection is cut
 *     before MAIL FROM (smtp.auth).
 *   - What the relay may send is bounded: after max_reply_bytes read, the
 *     connection is cut (smtp.protocol).
 *   - Each message gets the relay's answer to it (code and text); the call
 *     says whether the session itself failed, with a reason: smtp.connect
 *     (nothing read from the relay), smtp.tls, smtp.certificate, smtp.auth,
 *     smtp.protocol.
 *   - The protocol steps are shown through a callback for the communication
 *     test, one line each, never a password or AUTH data.
 *
 * libESMTP and OpenSSL types stay inside the module: bytes and the structs
 * below cross its border. The module never prints and never exits. A
 * session blocks its thread; sessions in different threads do not share
 * state. libtelemail does not link libESMTP: this is libtelemail_smtpc. */
#ifndef TM_SMTPC_H
#define TM_SMTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

/* One line per protocol step (connect, TLS, AUTH, commands, replies). */
typedef void (*tm_smtpc_step_fn)(void *arg, const char *line);

struct tm_smtpc_config {
	const char *host;             /* the relay: a DNS name or an IP literal */
	unsigned port;
	const char *helo;             /* NULL: gethostname() */
	bool starttls;                /* true: required and verified; false: plain SMTP */
	const char *ca_file;          /* NULL: the system store */
	const char *auth_mechanism;   /* "PLAIN" or "LOGIN"; NULL: no AUTH */
	const char *username;
	const char *password;         /* the secret's bytes, NUL-terminated */
	int64_t timeout;              /* seconds, for each protocol step */
	size_t max_reply_bytes;       /* bytes read from the relay in the session; 0: no cap */
	tm_smtpc_step_fn step;        /* may be NULL */
	void *step_arg;
};

struct tm_smtpc_msg {
	const char *from;             /* reverse path */
	const char *const *rcpt;      /* the recipients */
	size_t n_rcpt;
	const uint8_t *data;          /* the whole RFC 5322 message, CRLF */
	size_t len;
	int code;                     /* out: the relay's answer to it, 0 when none */
	char reply[256];              /* out: the text of that answer */
};

/* Run one session to cfg->host and send msgs[0..n). Every message gets the
 * relay's answer: a refused MAIL FROM, else the answer to its recipients
 * when all were refused, else the answer to its data (0: none came).
 * Returns 0 when the session ran to its end (each message's answer says the
 * rest), -1 when it failed (err: smtp.connect, smtp.tls, smtp.certificate,
 * smtp.auth, smtp.protocol; answers gathered before the failure are kept). */
int tm_smtpc_send(const struct tm_smtpc_config *cfg, struct tm_smtpc_msg *msgs, size_t n,
		  struct tm_error *err);

#endif

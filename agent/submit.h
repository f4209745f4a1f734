/* telemail-agent — SMTP submission through the SMTP client (telemail/smtpc.h).
 *
 * Each session runs in a child process (fork) so that a hostile or broken
 * relay cannot hold the agent: the session is cut after max_reply_bytes
 * read from the relay (very long lines, endless continuations) and the
 * parent kills the child at a hard deadline. STARTTLS is the SMTP client's
 * (TLS 1.2+, the configured CA only, peer verification on, host name
 * checked); a certificate error ends the session. */
#ifndef AG_SUBMIT_H
#define AG_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

struct tm_error;
struct ag_smtp_config;

enum ag_send_result { AG_SEND_PENDING = 0, AG_SEND_OK, AG_SEND_RETRY, AG_SEND_REJECTED };

struct ag_send_msg {
	const uint8_t *data;      /* whole RFC 5322 message, CRLF */
	size_t len;
	enum ag_send_result result;
	int code;                 /* SMTP reply code, 0 when none */
	char reply[256];          /* the relay's reply (for 5xx kept beside the item) */
};

/* Called with one line per protocol step (resolve, connect, TLS, AUTH,
 * reply) for the communication test; may be NULL. */
typedef void (*ag_step_fn)(void *arg, const char *line);

/* Send the messages to `rcpt`, failing over between the relays in order:
 * a relay that cannot be reached, offers no STARTTLS, shows a bad
 * certificate, refuses AUTH, or answers 4xx, hands over to the next one.
 * On return every message has a result (OK, RETRY or REJECTED for 5xx).
 * Returns 0 when at least one message reached a final state (OK or
 * REJECTED), -1 when none did (err: the last relay's failure: smtp.connect,
 * smtp.tls, smtp.certificate, smtp.auth, smtp.transient, smtp.protocol). */
int ag_submit(const struct ag_smtp_config *s, const char *rcpt, struct ag_send_msg *msgs,
	      size_t n, ag_step_fn step, void *arg, struct tm_error *err);

#endif

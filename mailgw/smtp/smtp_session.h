/* telemail-mailgw — one SMTP or LMTP session as a pure state machine.
 *
 * No I/O, no clock, no sockets: bytes go in (gw_smtp_session_feed), reply
 * bytes come out (gw_smtp_session_output), and the caller acts on events:
 *
 *   GW_SMTP_EV_MESSAGE   a message is complete (only <CRLF>.<CRLF> ends DATA):
 *                        take it with gw_smtp_session_message(), make it
 *                        durable, then call gw_smtp_session_spooled() with
 *                        the result; the session answers 250 (one per
 *                        recipient under LMTP) or the 4xx of the error.
 *                        Until then feed() consumes nothing (pipelined
 *                        commands wait in the caller's input buffer).
 *   GW_SMTP_EV_STARTTLS  the 220 is in the output: send it, DISCARD every
 *                        byte already received after the STARTTLS line
 *                        (CVE-2011-0411: they were sent in plaintext), do
 *                        the handshake, then gw_smtp_session_tls_started()
 *                        (the session forgets EHLO and the envelope) or
 *                        gw_smtp_session_tls_failed(). Bytes fed meanwhile
 *                        are dropped, never executed.
 *   GW_SMTP_EV_CLOSE     send the output, then close the connection.
 *
 * Limits (RFC 5321 4.5.3.1): command lines 512 octets, text lines 1000
 * octets (CRLF included), message size (announced in SIZE, checked at MAIL
 * and while reading DATA: 552), recipients, errors and junk commands per
 * session. Smuggling (CVE-2023-51764 class): a bare CR or a bare LF in DATA
 * makes the whole message (up to the real <CRLF>.<CRLF>) rejected; a bare
 * LF or CR ending a command line is refused the same way.
 *
 * Each refusal records a reason code from the table (smtpd.*) that the
 * caller logs and tests match: gw_smtp_session_last_reason(). */
#ifndef GW_SMTP_SESSION_H
#define GW_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm_error;

#define GW_SMTP_CMD_LINE_MAX 512     /* octets, CRLF included (RFC 5321 4.5.3.1.4) */
#define GW_SMTP_TEXT_LINE_MAX 1000   /* octets, CRLF included (RFC 5321 4.5.3.1.6) */
#define GW_SMTP_PATH_MAX 256         /* reverse/forward path, octets (4.5.3.1.3) */
#define GW_SMTP_HELO_MAX 255         /* the EHLO/HELO/LHLO name kept for logs, octets */
#define GW_SMTP_MAX_ERRORS 10        /* refused commands before 421 */
#define GW_SMTP_MAX_JUNK 100         /* NOOP/VRFY/RSET/HELP... before 421 */

enum gw_smtp_state {
	GW_SMTP_INIT,      /* greeting sent, waiting for EHLO/HELO (LHLO) */
	GW_SMTP_READY,     /* after EHLO: no transaction */
	GW_SMTP_MAIL,      /* MAIL accepted, waiting for RCPT */
	GW_SMTP_RCPT,      /* at least one RCPT accepted */
	GW_SMTP_DATA,      /* reading message text */
	GW_SMTP_SPOOLING,  /* message complete, waiting for gw_smtp_session_spooled() */
	GW_SMTP_TLS,       /* STARTTLS answered, waiting for the handshake */
	GW_SMTP_CLOSED,    /* QUIT or a fatal error: nothing more is read */
};

enum gw_smtp_event {
	GW_SMTP_EV_NONE,
	GW_SMTP_EV_MESSAGE,
	GW_SMTP_EV_STARTTLS,
	GW_SMTP_EV_CLOSE,
};

/* What a session may do; borrowed by the session for its whole life. */
struct gw_smtp_config {
	const char *hostname;          /* in the greeting and the EHLO reply */
	bool lmtp;                     /* LHLO instead of EHLO/HELO; one reply per RCPT */
	bool tls_available;            /* offer STARTTLS (a certificate is configured) */
	bool require_tls;              /* 530 for transactions before STARTTLS */
	const char *const *mailboxes;  /* accepted recipients (case-insensitive) */
	size_t n_mailboxes;
	size_t max_message_size;       /* octets of message text, after dot-unstuffing */
	unsigned max_recipients;       /* per transaction (>= 1) */
};

struct gw_smtp_session;

/* A new session; the 220 greeting is in the output. `tls_active`: the
 * connection is TLS from the start. NULL when out of memory. */
struct gw_smtp_session *gw_smtp_session_new(const struct gw_smtp_config *cfg, bool tls_active);
void gw_smtp_session_free(struct gw_smtp_session *s);

/* Consume input. Returns the number of octets used (the rest must be fed
 * again, except after GW_SMTP_EV_STARTTLS, where it must be discarded) and
 * sets *ev. Stops at the first event. */
size_t gw_smtp_session_feed(struct gw_smtp_session *s, const uint8_t *in, size_t len,
			    enum gw_smtp_event *ev);

/* Reply octets produced so far (borrowed), and forget them once sent. */
const uint8_t *gw_smtp_session_output(const struct gw_smtp_session *s, size_t *len);
void gw_smtp_session_output_clear(struct gw_smtp_session *s);

/* GW_SMTP_EV_MESSAGE: the message text (CRLF line ends, dots unstuffed) and
 * envelope, borrowed until gw_smtp_session_spooled(). */
const uint8_t *gw_smtp_session_message(const struct gw_smtp_session *s, size_t *len);
/* The client's EHLO/HELO/LHLO name, as it gave it ("" before one): a peer's text. */
const char *gw_smtp_session_helo(const struct gw_smtp_session *s);
const char *gw_smtp_session_mail_from(const struct gw_smtp_session *s);
size_t gw_smtp_session_rcpt_count(const struct gw_smtp_session *s);

/* The message was made durable (err NULL, `qid` the queue id for the
 * reply) or not (err: its reason's 4xx/5xx is the reply). */
void gw_smtp_session_spooled(struct gw_smtp_session *s, const char *qid,
			     const struct tm_error *err);

void gw_smtp_session_tls_started(struct gw_smtp_session *s);
void gw_smtp_session_tls_failed(struct gw_smtp_session *s);

/* The caller gives up on the client: reply (e.g. "421 4.4.2 timeout")
 * appended, state CLOSED, last reason set. */
void gw_smtp_session_abort(struct gw_smtp_session *s, const char *reason, const char *text);

enum gw_smtp_state gw_smtp_session_state(const struct gw_smtp_session *s);
const char *gw_smtp_session_state_name(enum gw_smtp_state st);

/* Every change of state goes through one place, which calls the owner's
 * trace hook after the change (a state entered again, such as RCPT after
 * RCPT, is not a change). `cause` is a fixed text of the session, never
 * the peer's: the verb of the command table that made the change ("EHLO",
 * "MAIL", "RSET", "QUIT" ...), an event ("end_of_data", "spooled",
 * "tls_started", "tls_failed"), or the reason code that closed the session
 * ("smtpd.too_many_errors", the caller's abort reason). The hook must not
 * call back into the session. NULL removes it. */
typedef void (*gw_smtp_trace_fn)(void *ctx, enum gw_smtp_state from, enum gw_smtp_state to,
				 const char *cause);
void gw_smtp_session_set_trace(struct gw_smtp_session *s, gw_smtp_trace_fn fn, void *ctx);
bool gw_smtp_session_tls_active(const struct gw_smtp_session *s);
/* The last refusal's reason code (NULL when none) and human text. */
const char *gw_smtp_session_last_reason(const struct gw_smtp_session *s);
const char *gw_smtp_session_last_detail(const struct gw_smtp_session *s);
/* Complete lines seen (commands and text): the caller's timers restart on progress. */
uint64_t gw_smtp_session_lines(const struct gw_smtp_session *s);
/* Refused command replies since the last call, by command and reason: the
 * verb of the command table ("RCPT", "DATA" for the end of a refused
 * message ...), "unknown" for a verb not in it (the peer's text is never a
 * label), "line" for a line that is no command (too long, bare CR or LF,
 * NUL), "session" for a limit that closed the session. Up to
 * GW_SMTP_CMD_REFUSALS pairs are kept between calls; refusals of further
 * pairs are counted in *other. */
#define GW_SMTP_CMD_REFUSALS 16
struct gw_smtp_cmd_refusal {
	const char *verb;      /* static */
	const char *reason;    /* the reason table's code */
	unsigned n;
};
size_t gw_smtp_session_take_refusals(struct gw_smtp_session *s,
				     struct gw_smtp_cmd_refusal out[GW_SMTP_CMD_REFUSALS],
				     unsigned *other);
/* Messages accepted and refused in this session. */
void gw_smtp_session_counts(const struct gw_smtp_session *s, unsigned *accepted,
			    unsigned *refused);

#endif

/* The SMTP/LMTP session state machine, driven without sockets: commands,
 * limits, the smuggling and STARTTLS-injection attacks, slow clients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "smtp/smtp_session.h"

static const char *const boxes[] = { "telemetry@gw.example.net", "second@gw.example.net" };

static struct gw_smtp_config base_cfg(void)
{
	return (struct gw_smtp_config){
		.hostname = "gw.example.net", .tls_available = true, .mailboxes = boxes,
		.n_mailboxes = 2, .max_message_size = 4096, .max_recipients = 3,
	};
}

/* A fake peer: feeds input in chunks of `step` octets (0: all at once),
 * spools messages into `msgs` (or fails them with `spool_err`), does a fake
 * TLS switch (discarding the unread rest of the chunk, as the listener does). */
struct drive {
	struct gw_smtp_session *s;
	struct tm_buf out;
	struct tm_buf msgs;          /* every spooled message, separated by "|" */
	unsigned n_msgs, n_tls, n_close;
	size_t step;
	const char *spool_err;       /* reason code: the spool refuses */
	char greeting[128];
};

static void drive_init(struct drive *d, const struct gw_smtp_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->s = gw_smtp_session_new(cfg, false);
	cr_assert_not_null(d->s);
	tm_buf_init(&d->out);
	tm_buf_init(&d->msgs);
	size_t n;
	const uint8_t *g = gw_smtp_session_output(d->s, &n);
	cr_assert(n > 4 && n < sizeof(d->greeting));
	memcpy(d->greeting, g, n);
	gw_smtp_session_output_clear(d->s);
}

static void drive_fini(struct drive *d)
{
	gw_smtp_session_free(d->s);
	tm_buf_fini(&d->out);
	tm_buf_fini(&d->msgs);
}

static void take_output(struct drive *d)
{
	size_t n;
	const uint8_t *o = gw_smtp_session_output(d->s, &n);
	tm_buf_append(&d->out, o, n);
	gw_smtp_session_output_clear(d->s);
}

/* Feed `in`; returns the output produced by this call (in d->out, reset first). */
static const char *feed(struct drive *d, const char *in, size_t len)
{
	tm_buf_reset(&d->out);
	take_output(d);
	size_t pos = 0;
	int guard = 0;
	while (pos < len && guard++ < 1000000) {
		size_t chunk = d->step ? (len - pos < d->step ? len - pos : d->step) : len - pos;
		size_t off = 0;
		while (off < chunk) {
			enum gw_smtp_event ev;
			size_t used = gw_smtp_session_feed(d->s, (const uint8_t *)in + pos + off,
							   chunk - off, &ev);
			off += used;
			take_output(d);
			if (ev == GW_SMTP_EV_MESSAGE) {
				size_t ml;
				const uint8_t *m = gw_smtp_session_message(d->s, &ml);
				tm_buf_append(&d->msgs, m, ml);
				tm_buf_append_str(&d->msgs, "|");
				struct tm_error e = {0};
				if (d->spool_err != NULL) {
					tm_error_set(&e, d->spool_err, "spool says no");
					gw_smtp_session_spooled(d->s, NULL, &e);
				} else {
					d->n_msgs++;
					gw_smtp_session_spooled(d->s, "Q1", NULL);
				}
				take_output(d);
			} else if (ev == GW_SMTP_EV_STARTTLS) {
				d->n_tls++;
				off = chunk; /* the rest of this read is plaintext injection: dropped */
				gw_smtp_session_tls_started(d->s);
			} else if (ev == GW_SMTP_EV_CLOSE) {
				d->n_close++;
				return (const char *)(d->out.data ? d->out.data : (uint8_t *)"");
			} else if (used == 0) {
				cr_assert_fail("no progress in state %s",
					       gw_smtp_session_state_name(gw_smtp_session_state(d->s)));
			}
		}
		pos += chunk;
	}
	return (const char *)(d->out.data ? d->out.data : (uint8_t *)"");
}

static const char *feeds(struct drive *d, const char *in)
{
	return feed(d, in, strlen(in));
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

#define ENVELOPE "EHLO dev.example\r\nMAIL FROM:<xk1@dev.example>\r\n" \
		 "RCPT TO:<telemetry@gw.example.net>\r\nDATA\r\n"

Test(smtp_session, greeting_and_ehlo_extensions)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	cr_assert_str_eq(d.greeting, "220 gw.example.net ESMTP telemail\r\n");
	const char *o = feeds(&d, "EHLO dev.example\r\n");
	cr_assert_not_null(strstr(o, "250-gw.example.net\r\n"), "%s", o);
	cr_assert_not_null(strstr(o, "250-PIPELINING\r\n"));
	cr_assert_not_null(strstr(o, "250-SIZE 4096\r\n"));
	cr_assert_not_null(strstr(o, "250-STARTTLS\r\n"));
	cr_assert_not_null(strstr(o, "250-8BITMIME\r\n"));
	cr_assert_not_null(strstr(o, "250 ENHANCEDSTATUSCODES\r\n"));
	o = feeds(&d, "HELO dev.example\r\n");
	cr_assert_str_eq(o, "250 gw.example.net\r\n");
	o = feeds(&d, "VRFY root\r\nNOOP\r\nRSET\r\nQUIT\r\nNOOP\r\n");
	cr_assert(strncmp(o, "252 2.5.0", 9) == 0, "%s", o);
	cr_assert_not_null(strstr(o, "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0"), "%s", o);
	cr_assert_eq(count(o, "\r\n"), 4, "nothing after QUIT: %s", o);
	cr_assert_eq(d.n_close, 1);
	drive_fini(&d);
}

Test(smtp_session, one_message_with_dot_unstuffing)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = feeds(&d, ENVELOPE "Subject: t\r\n\r\n..dot\r\nline\r\n.\r\n");
	cr_assert_not_null(strstr(o, "354 "), "%s", o);
	cr_assert_not_null(strstr(o, "250 2.0.0 Ok: queued as Q1\r\n"), "%s", o);
	cr_assert_eq(d.n_msgs, 1);
	cr_assert_str_eq((char *)d.msgs.data, "Subject: t\r\n\r\n.dot\r\nline\r\n|");
	cr_assert_eq(gw_smtp_session_state(d.s), GW_SMTP_READY);
	drive_fini(&d);
}

Test(smtp_session, pipelined_commands_answered_in_order)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	feeds(&d, "EHLO dev.example\r\n");
	const char *o = feeds(&d, "MAIL FROM:<a@b> SIZE=100 BODY=8BITMIME\r\n"
				  "RCPT TO:<nobody@elsewhere.example>\r\n"
				  "RCPT TO:<TELEMETRY@gw.example.net>\r\nDATA\r\nx\r\n.\r\n"
				  "MAIL FROM:<>\r\nRCPT TO:<second@gw.example.net>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n");
	cr_assert_str_eq(o, "250 2.1.0 Ok\r\n"
			    "550 5.7.1 <nobody@elsewhere.example>: Recipient address rejected: not a "
			    "mailbox of this gateway (no relaying)\r\n"
			    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
			    "250 2.0.0 Ok: queued as Q1\r\n"
			    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
			    "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n");
	cr_assert_eq(d.n_msgs, 2);
	cr_assert_str_eq((char *)d.msgs.data, "x\r\n|y\r\n|");
	drive_fini(&d);
}

Test(smtp_session, never_an_open_relay)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = feeds(&d, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n");
	cr_assert_not_null(strstr(o, "550 5.7.1 <victim@example.com>: Recipient address rejected"), "%s", o);
	cr_assert_not_null(strstr(o, "554 5.5.1 No valid recipients"), "%s", o);
	cr_assert_eq(d.n_msgs, 0);
	/* a source-routed or quoted twist of a gateway mailbox is not the mailbox */
	o = feeds(&d, "RCPT TO:<@relay:telemetry@gw.example.net>\r\nRCPT TO:<telemetry@gw.example.net@evil>\r\n");
	cr_assert_eq(count(o, "550 5.7.1"), 2, "%s", o);
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.relay_denied");
	drive_fini(&d);
}

Test(smtp_session, size_limit_at_mail_and_in_data)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = feeds(&d, "EHLO x\r\nMAIL FROM:<a@b> SIZE=4097\r\n");
	cr_assert_not_null(strstr(o, "552 5.3.4 message size 4097 exceeds the limit of 4096 octets"), "%s", o);
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.too_large");
	o = feeds(&d, "MAIL FROM:<a@b> SIZE=4096\r\nRCPT TO:<telemetry@gw.example.net>\r\nDATA\r\n");
	cr_assert_not_null(strstr(o, "354"), "%s", o);
	char line[101];
	memset(line, 'a', 98);
	memcpy(line + 98, "\r\n", 3);
	for (int i = 0; i < 41; i++) /* 41 * 100 = 4100 > 4096 */
		feeds(&d, line);
	o = feeds(&d, ".\r\n");
	cr_assert_str_eq(o, "552 5.3.4 Message size exceeds the limit of 4096 octets\r\n");
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.too_large");
	cr_assert_eq(d.n_msgs, 0, "nothing spooled");
	/* exactly at the limit is fine */
	feeds(&d, "MAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\nDATA\r\n");
	for (int i = 0; i < 40; i++)
		feeds(&d, line);
	char tail[97];
	memset(tail, 'b', 94);
	memcpy(tail + 94, "\r\n", 3);
	feeds(&d, tail);
	o = feeds(&d, ".\r\n");
	cr_assert_str_eq(o, "250 2.0.0 Ok: queued as Q1\r\n");
	cr_assert_eq(d.msgs.len, 4097);
	drive_fini(&d);
}

Test(smtp_session, endless_data_after_refusal_closes)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	feeds(&d, ENVELOPE);
	char line[1001];
	memset(line, 'z', 998);
	memcpy(line + 998, "\r\n", 3);
	const char *o = "";
	for (int i = 0; i < 100 && d.n_close == 0; i++)
		o = feeds(&d, line);
	cr_assert_eq(d.n_close, 1, "the session gives up on a client that keeps sending");
	cr_assert_str_eq(o, "552 5.3.4 Message size exceeds the limit; closing\r\n");
	drive_fini(&d);
}

Test(smtp_session, command_line_limit_512)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	char cmd[600];
	/* "NOOP " + 505 x + CRLF = 512 octets: accepted */
	memcpy(cmd, "NOOP ", 5);
	memset(cmd + 5, 'x', 505);
	memcpy(cmd + 510, "\r\n", 3);
	cr_assert_str_eq(feeds(&d, cmd), "250 2.0.0 Ok\r\n");
	memset(cmd + 5, 'x', 506);
	memcpy(cmd + 511, "\r\n", 3);
	cr_assert_str_eq(feeds(&d, cmd), "500 5.5.2 line too long (at most 512 octets)\r\n");
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.line_too_long");
	cr_assert_str_eq(feeds(&d, "NOOP\r\n"), "250 2.0.0 Ok\r\n", "the session goes on");
	drive_fini(&d);
}

Test(smtp_session, text_line_limit_1000)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	feeds(&d, ENVELOPE);
	char line[1100];
	memset(line, 'q', 999);
	memcpy(line + 999, "\r\n", 3); /* 1001 octets */
	feeds(&d, line);
	const char *o = feeds(&d, ".\r\n");
	cr_assert_str_eq(o, "554 5.6.0 a text line is longer than 1000 octets\r\n");
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.text_line");
	cr_assert_eq(d.n_msgs, 0);
	drive_fini(&d);
}

/* SMTP smuggling: each vector is a fake end of data the attacker hopes some
 * hop takes for <CRLF>.<CRLF>; behind it hides a second message. */
struct smuggle {
	const char *name;
	const char *fake_end;
};

static struct smuggle smuggling_vectors[] = {
	{ "lf-dot-lf", "\n.\n" },
	{ "lf-dot-crlf", "\n.\r\n" },
	{ "crlf-dot-lf", "\r\n.\n" },
	{ "cr-dot-cr", "\r.\r" },
	{ "cr-dot-crlf", "\r.\r\n" },
	{ "crlf-dot-cr", "\r\n.\r" },
	{ "crlf-dot-cr-lf-split", "\r\n.\rX\n" },
	{ "lf-lf-dot", "\n\n.\r\n" },
	{ "nul-dot", "\r\n.\0\r\n" },
};

#define N_VECTORS (sizeof(smuggling_vectors) / sizeof(smuggling_vectors[0]))
static int vector_ix[N_VECTORS];

/* (indexes as parameters: the test runs in another process) */
ParameterizedTestParameters(smtp_session, smuggling_is_refused)
{
	for (size_t i = 0; i < N_VECTORS; i++)
		vector_ix[i] = (int)i;
	return cr_make_param_array(int, vector_ix, N_VECTORS);
}

ParameterizedTest(int *ix, smtp_session, smuggling_is_refused)
{
	const struct smuggle *v = &smuggling_vectors[*ix];
	static const size_t steps[] = { 0, 1, 3 };
	for (size_t k = 0; k < 3; k++) {
		struct gw_smtp_config cfg = base_cfg();
		struct drive d;
		drive_init(&d, &cfg);
		d.step = steps[k];
		struct tm_buf in;
		tm_buf_init(&in);
		tm_buf_append_str(&in, ENVELOPE "Subject: outer\r\n\r\nouter body");
		size_t vl = strcmp(v->name, "nul-dot") == 0 ? 6 : strlen(v->fake_end);
		tm_buf_append(&in, v->fake_end, vl);
		tm_buf_append_str(&in, "MAIL FROM:<ceo@victim.example>\r\n"
				  "RCPT TO:<telemetry@gw.example.net>\r\nDATA\r\n"
				  "Subject: smuggled\r\n\r\nhidden\r\n.\r\n");
		const char *o = feed(&d, (const char *)in.data, in.len);
		bool nul = strcmp(v->name, "nul-dot") == 0;
		if (nul) {
			/* ".\0" is a text line, not an end: the smuggled "MAIL" is text and
			 * the whole thing is one message, ended by the real <CRLF>.<CRLF> */
			cr_assert_eq(d.n_msgs, 1, "%s", v->name);
			cr_assert_not_null(memmem(d.msgs.data, d.msgs.len, "MAIL FROM:<ceo", 14));
		} else {
			cr_assert_eq(d.n_msgs, 0, "%s (step %zu): a message was spooled", v->name, steps[k]);
			cr_assert_not_null(strstr(o, "554 5.5.2 bare <CR> or <LF> in the message"),
					   "%s: %s", v->name, o);
			cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.bare_newline");
		}
		/* the hidden MAIL was never executed as a command */
		cr_assert_eq(count(o, "250 2.1.0"), 1, "%s: %s", v->name, o);
		cr_assert_eq(count(o, "354 "), 1, "%s: %s", v->name, o);
		/* the session is usable afterwards */
		o = feeds(&d, "MAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\nDATA\r\nok\r\n.\r\n");
		cr_assert_not_null(strstr(o, "250 2.0.0 Ok: queued"), "%s: %s", v->name, o);
		tm_buf_fini(&in);
		drive_fini(&d);
	}
}

Test(smtp_session, bare_lf_ending_a_command_is_refused)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = feeds(&d, "EHLO x\nNOOP\r\n");
	cr_assert_str_eq(o, "554 5.5.2 bare <CR> or <LF> in a command; lines end with <CR><LF>\r\n"
			    "250 2.0.0 Ok\r\n");
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.bare_newline");
	o = feeds(&d, "MAIL FROM:<a@b>\r\n");
	cr_assert(strncmp(o, "503 5.5.1", 9) == 0, "the bare-LF EHLO did not count: %s", o);
	drive_fini(&d);
}

Test(smtp_session, starttls_injection_is_discarded)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	feeds(&d, "EHLO x\r\n");
	/* CVE-2011-0411: commands in the same packet as STARTTLS */
	enum gw_smtp_event ev;
	const char *pkt = "STARTTLS\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<telemetry@gw.example.net>\r\n";
	size_t used = gw_smtp_session_feed(d.s, (const uint8_t *)pkt, strlen(pkt), &ev);
	cr_assert_eq(ev, GW_SMTP_EV_STARTTLS);
	cr_assert_eq(used, 10, "stops right after the STARTTLS line");
	size_t n;
	const uint8_t *out = gw_smtp_session_output(d.s, &n);
	cr_assert_eq(n, 30);
	cr_assert(memcmp(out, "220 2.0.0 Ready to start TLS\r\n", 30) == 0);
	gw_smtp_session_output_clear(d.s);
	/* a careless caller that feeds the rest anyway: dropped, no reply */
	used = gw_smtp_session_feed(d.s, (const uint8_t *)pkt + 10, strlen(pkt) - 10, &ev);
	cr_assert_eq(used, strlen(pkt) - 10);
	cr_assert_eq(ev, GW_SMTP_EV_NONE);
	gw_smtp_session_output(d.s, &n);
	cr_assert_eq(n, 0);
	gw_smtp_session_tls_started(d.s);
	cr_assert(gw_smtp_session_tls_active(d.s));
	cr_assert_eq(gw_smtp_session_state(d.s), GW_SMTP_INIT, "EHLO is required again");
	const char *o = feeds(&d, "MAIL FROM:<a@b>\r\n");
	cr_assert_str_eq(o, "503 5.5.1 send EHLO/HELO first\r\n");
	o = feeds(&d, "EHLO x\r\n");
	cr_assert_null(strstr(o, "STARTTLS"), "not offered twice: %s", o);
	o = feeds(&d, "STARTTLS\r\n");
	cr_assert_str_eq(o, "502 5.5.1 STARTTLS not available: TLS is already active\r\n");
	drive_fini(&d);
}

Test(smtp_session, starttls_rules)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	cr_assert_str_eq(feeds(&d, "STARTTLS\r\n"), "503 5.5.1 send EHLO/HELO first\r\n");
	feeds(&d, "EHLO x\r\n");
	cr_assert_str_eq(feeds(&d, "STARTTLS now\r\n"), "501 5.5.4 Syntax: STARTTLS (no arguments)\r\n");
	feeds(&d, "MAIL FROM:<a@b>\r\n");
	cr_assert_str_eq(feeds(&d, "STARTTLS\r\n"), "503 5.5.1 STARTTLS inside a mail transaction\r\n");
	drive_fini(&d);
	cfg.tls_available = false;
	drive_init(&d, &cfg);
	cr_assert_null(strstr(feeds(&d, "EHLO x\r\n"), "STARTTLS"));
	cr_assert_str_eq(feeds(&d, "STARTTLS\r\n"), "502 5.5.1 STARTTLS not available\r\n");
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.tls_unavailable");
	drive_fini(&d);
}

Test(smtp_session, require_tls_refuses_mail_before_starttls)
{
	struct gw_smtp_config cfg = base_cfg();
	cfg.require_tls = true;
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = feeds(&d, "EHLO x\r\nMAIL FROM:<a@b>\r\nVRFY x\r\nNOOP\r\n");
	cr_assert_not_null(strstr(o, "530 5.7.0 Must issue a STARTTLS command first\r\n"
				     "530 5.7.0 Must issue a STARTTLS command first\r\n250 2.0.0 Ok\r\n"), "%s", o);
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.tls_required");
	o = feeds(&d, "STARTTLS\r\nEHLO x\r\n" "MAIL FROM:<a@b>\r\n");
	cr_assert_eq(d.n_tls, 1);
	cr_assert_eq(count(o, "250 2.1.0"), 0, "the injected MAIL was dropped: %s", o);
	o = feeds(&d, "EHLO x\r\nMAIL FROM:<a@b>\r\n");
	cr_assert_not_null(strstr(o, "250 2.1.0 Ok"), "%s", o);
	drive_fini(&d);
}

Test(smtp_session, one_octet_at_a_time_gives_the_same_result)
{
	struct gw_smtp_config cfg = base_cfg();
	const char *in = ENVELOPE "a\r\n..b\r\n.\r\nMAIL FROM:<x@y>\r\nRSET\r\nQUIT\r\n";
	struct drive a, b;
	drive_init(&a, &cfg);
	drive_init(&b, &cfg);
	b.step = 1;
	char *oa = strdup(feeds(&a, in));
	const char *ob = feeds(&b, in);
	cr_assert_str_eq(oa, ob);
	cr_assert_str_eq((char *)a.msgs.data, (char *)b.msgs.data);
	cr_assert_str_eq((char *)b.msgs.data, "a\r\n.b\r\n|");
	cr_assert_eq(b.n_close, 1);
	free(oa);
	drive_fini(&a);
	drive_fini(&b);
}

Test(smtp_session, too_many_errors_and_junk_close)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = "";
	for (int i = 0; i < 20 && d.n_close == 0; i++)
		o = feeds(&d, "BOGUS\r\n");
	cr_assert_eq(d.n_close, 1);
	cr_assert_str_eq(o, "500 5.5.1 BOGUS: command not recognized\r\n"
			    "421 4.7.0 Error: too many errors\r\n");
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.too_many_errors");
	drive_fini(&d);
	drive_init(&d, &cfg);
	for (int i = 0; i < 200 && d.n_close == 0; i++)
		o = feeds(&d, "NOOP\r\n");
	cr_assert_eq(d.n_close, 1, "endless NOOPs end");
	cr_assert_str_eq(o, "250 2.0.0 Ok\r\n421 4.7.0 Error: too many commands without mail\r\n");
	drive_fini(&d);
}

Test(smtp_session, recipients_limit_and_sequence)
{
	struct gw_smtp_config cfg = base_cfg();
	cfg.max_recipients = 2;
	struct drive d;
	drive_init(&d, &cfg);
	const char *o = feeds(&d, "EHLO x\r\nRCPT TO:<telemetry@gw.example.net>\r\nDATA\r\n"
				  "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\n");
	cr_assert_not_null(strstr(o, "503 5.5.1 need MAIL before RCPT\r\n"
				     "503 5.5.1 need RCPT before DATA\r\n250 2.1.0 Ok\r\n"
				     "503 5.5.1 nested MAIL command\r\n"), "%s", o);
	o = feeds(&d, "RCPT TO:<telemetry@gw.example.net>\r\nRCPT TO:<second@gw.example.net>\r\n"
		      "RCPT TO:<telemetry@gw.example.net>\r\n");
	cr_assert_str_eq(o, "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients (at most 2)\r\n");
	o = feeds(&d, "MAIL FROM:a@b\r\nMAIL FROM:<a@b> FOO=1\r\nRCPT TO:<a b@c>\r\n");
	cr_assert_not_null(strstr(o, "503 5.5.1 nested"), "%s", o);
	feeds(&d, "RSET\r\n");
	o = feeds(&d, "MAIL FROM:a@b\r\nMAIL FROM:<a@b> FOO=1\r\nMAIL FROM:<a@b> SIZE=x\r\n");
	cr_assert_str_eq(o, "501 5.5.4 Syntax: FROM:<address> (angle brackets required)\r\n"
			    "555 5.5.4 MAIL parameter FOO=1 not supported\r\n"
			    "501 5.5.4 SIZE=x is not a number\r\n");
	drive_fini(&d);
}

Test(smtp_session, spool_failure_is_a_4xx_never_250)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	d.spool_err = "spool.full";
	const char *o = feeds(&d, ENVELOPE "x\r\n.\r\n");
	cr_assert_not_null(strstr(o, "452 4.3.1 Message not accepted: spool says no\r\n"), "%s", o);
	cr_assert_null(strstr(o, "250 2.0.0"));
	d.spool_err = "spool.io";
	o = feeds(&d, "MAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\nDATA\r\nx\r\n.\r\n");
	cr_assert_not_null(strstr(o, "451 4.3.0 Message not accepted"), "%s", o);
	unsigned acc, ref;
	gw_smtp_session_counts(d.s, &acc, &ref);
	cr_assert_eq(acc, 0);
	cr_assert_eq(ref, 2);
	drive_fini(&d);
}

Test(smtp_session, waits_while_spooling)
{
	struct gw_smtp_config cfg = base_cfg();
	struct gw_smtp_session *s = gw_smtp_session_new(&cfg, false);
	const char *in = ENVELOPE "x\r\n.\r\nQUIT\r\n";
	enum gw_smtp_event ev;
	size_t used = gw_smtp_session_feed(s, (const uint8_t *)in, strlen(in), &ev);
	cr_assert_eq(ev, GW_SMTP_EV_MESSAGE);
	cr_assert_eq(used, strlen(in) - 6, "QUIT stays unread");
	cr_assert_eq(gw_smtp_session_feed(s, (const uint8_t *)"QUIT\r\n", 6, &ev), 0);
	cr_assert_eq(ev, GW_SMTP_EV_NONE);
	gw_smtp_session_output_clear(s);
	gw_smtp_session_spooled(s, "ABC", NULL);
	cr_assert_eq(gw_smtp_session_feed(s, (const uint8_t *)"QUIT\r\n", 6, &ev), 6);
	cr_assert_eq(ev, GW_SMTP_EV_CLOSE);
	size_t n;
	const uint8_t *o = gw_smtp_session_output(s, &n);
	cr_assert_eq(n, strlen("250 2.0.0 Ok: queued as ABC\r\n221 2.0.0 Bye\r\n"));
	cr_assert(memcmp(o, "250 2.0.0 Ok: queued as ABC\r\n221 2.0.0 Bye\r\n", n) == 0);
	gw_smtp_session_free(s);
}

Test(smtp_session, lmtp_one_reply_per_recipient)
{
	struct gw_smtp_config cfg = base_cfg();
	cfg.lmtp = true;
	struct drive d;
	drive_init(&d, &cfg);
	cr_assert_str_eq(d.greeting, "220 gw.example.net LMTP telemail\r\n");
	const char *o = feeds(&d, "EHLO x\r\n");
	cr_assert_str_eq(o, "500 5.5.1 EHLO: command not recognized (this is LMTP: LHLO)\r\n");
	o = feeds(&d, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\n"
		      "RCPT TO:<second@gw.example.net>\r\nDATA\r\nx\r\n.\r\n");
	cr_assert_eq(count(o, "250 2.0.0 Ok: queued as Q1\r\n"), 2, "%s", o);
	cr_assert_eq(d.n_msgs, 1, "spooled once");
	d.spool_err = "spool.no_space";
	o = feeds(&d, "MAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\n"
		      "RCPT TO:<second@gw.example.net>\r\nDATA\r\nx\r\n.\r\n");
	cr_assert_eq(count(o, "452 4.3.1"), 2, "%s", o);
	drive_fini(&d);
}

Test(smtp_session, abort_from_caller)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	feeds(&d, "EHLO x\r\n");
	gw_smtp_session_output_clear(d.s);
	gw_smtp_session_abort(d.s, "smtpd.timeout", "Error: timeout exceeded");
	size_t n;
	const uint8_t *o = gw_smtp_session_output(d.s, &n);
	cr_assert_eq(n, strlen("421 4.4.2 Error: timeout exceeded\r\n"));
	cr_assert(memcmp(o, "421 4.4.2 Error: timeout exceeded\r\n", n) == 0);
	cr_assert_eq(gw_smtp_session_state(d.s), GW_SMTP_CLOSED);
	cr_assert_str_eq(gw_smtp_session_last_reason(d.s), "smtpd.timeout");
	drive_fini(&d);
}

/* ---- every state change goes through enter_state(), and the owner sees it ---- */

/* The trace hook writes "from>to(cause) " for each change. */
static void record_state(void *ctx, enum gw_smtp_state from, enum gw_smtp_state to,
			 const char *cause)
{
	struct tm_buf *b = ctx;
	char line[96];
	int n = snprintf(line, sizeof(line), "%s>%s(%s) ", gw_smtp_session_state_name(from),
			 gw_smtp_session_state_name(to), cause);
	cr_assert(n > 0 && (size_t)n < sizeof(line));
	tm_buf_append(b, line, (size_t)n);
}

/* The states a conversation goes through, as the trace hook saw them. */
static char *trace_of(struct gw_smtp_config *cfg, const char *spool_err, const char *in)
{
	struct drive d;
	struct tm_buf trace;
	tm_buf_init(&trace);
	drive_init(&d, cfg);
	d.spool_err = spool_err;
	gw_smtp_session_set_trace(d.s, record_state, &trace);
	feeds(&d, in);
	tm_buf_append(&trace, "", 1);
	char *t = strdup((char *)trace.data);
	tm_buf_fini(&trace);
	drive_fini(&d);
	return t;
}

Test(smtp_session, trace_of_a_normal_session)
{
	struct gw_smtp_config cfg = base_cfg();
	char *t = trace_of(&cfg, NULL, ENVELOPE "x\r\n.\r\n"
			   "MAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\n"
			   "RCPT TO:<second@gw.example.net>\r\nDATA\r\ny\r\n.\r\nNOOP\r\nQUIT\r\n");
	cr_assert_str_eq(t, "init>ready(EHLO) ready>mail(MAIL) mail>rcpt(RCPT) rcpt>data(DATA) "
			    "data>spooling(end_of_data) spooling>ready(spooled) "
			    "ready>mail(MAIL) mail>rcpt(RCPT) rcpt>data(DATA) "
			    "data>spooling(end_of_data) spooling>ready(spooled) ready>closed(QUIT) ");
	free(t);
	cfg.lmtp = true;
	t = trace_of(&cfg, NULL, "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\n"
		     "DATA\r\nx\r\n.\r\nQUIT\r\n");
	cr_assert_str_eq(t, "init>ready(LHLO) ready>mail(MAIL) mail>rcpt(RCPT) rcpt>data(DATA) "
			    "data>spooling(end_of_data) spooling>ready(spooled) ready>closed(QUIT) ");
	free(t);
}

Test(smtp_session, trace_of_a_starttls_session)
{
	struct gw_smtp_config cfg = base_cfg();
	cfg.require_tls = true;
	/* the MAIL in the STARTTLS packet is dropped: it makes no change */
	char *t = trace_of(&cfg, NULL, "EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n");
	cr_assert_str_eq(t, "init>ready(EHLO) ready>tls(STARTTLS) tls>init(tls_started) ");
	free(t);
	struct drive d;
	struct tm_buf trace;
	tm_buf_init(&trace);
	drive_init(&d, &cfg);
	gw_smtp_session_set_trace(d.s, record_state, &trace);
	feeds(&d, "EHLO x\r\nSTARTTLS\r\n");
	feeds(&d, ENVELOPE "x\r\n.\r\nQUIT\r\n");
	tm_buf_append(&trace, "", 1);
	cr_assert_str_eq((char *)trace.data,
			 "init>ready(EHLO) ready>tls(STARTTLS) tls>init(tls_started) "
			 "init>ready(EHLO) ready>mail(MAIL) mail>rcpt(RCPT) rcpt>data(DATA) "
			 "data>spooling(end_of_data) spooling>ready(spooled) ready>closed(QUIT) ");
	drive_fini(&d);
	/* a failed handshake closes */
	tm_buf_reset(&trace);
	drive_init(&d, &cfg);
	gw_smtp_session_set_trace(d.s, record_state, &trace);
	enum gw_smtp_event ev;
	const char *in = "EHLO x\r\nSTARTTLS\r\n";
	gw_smtp_session_feed(d.s, (const uint8_t *)in, strlen(in), &ev);
	cr_assert_eq(ev, GW_SMTP_EV_STARTTLS);
	gw_smtp_session_tls_failed(d.s);
	tm_buf_append(&trace, "", 1);
	cr_assert_str_eq((char *)trace.data,
			 "init>ready(EHLO) ready>tls(STARTTLS) tls>closed(tls_failed) ");
	drive_fini(&d);
	tm_buf_fini(&trace);
}

Test(smtp_session, trace_of_rset)
{
	struct gw_smtp_config cfg = base_cfg();
	/* RSET before EHLO stays in init; in a transaction it goes back to ready;
	 * EHLO inside a transaction resets it too */
	char *t = trace_of(&cfg, NULL, "RSET\r\nEHLO x\r\nMAIL FROM:<a@b>\r\nRSET\r\nRSET\r\n"
			   "MAIL FROM:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\nRSET\r\n"
			   "MAIL FROM:<a@b>\r\nEHLO y\r\n");
	cr_assert_str_eq(t, "init>ready(EHLO) ready>mail(MAIL) mail>ready(RSET) "
			    "ready>mail(MAIL) mail>rcpt(RCPT) rcpt>ready(RSET) "
			    "ready>mail(MAIL) mail>ready(EHLO) ");
	free(t);
}

Test(smtp_session, trace_of_errors)
{
	struct gw_smtp_config cfg = base_cfg();
	/* a refused command changes nothing; a refused message goes back to ready
	 * without spooling; a spool failure goes through spooling */
	char *t = trace_of(&cfg, NULL, "MAIL FROM:<a@b>\r\nEHLO x\r\nDATA\r\n"
			   "MAIL FROM:<a@b>\r\nRCPT TO:<a@b>\r\nRCPT TO:<telemetry@gw.example.net>\r\n"
			   "DATA\r\nbare\nlf\r\n.\r\n");
	cr_assert_str_eq(t, "init>ready(EHLO) ready>mail(MAIL) mail>rcpt(RCPT) rcpt>data(DATA) "
			    "data>ready(end_of_data) ");
	free(t);
	t = trace_of(&cfg, "spool.io", ENVELOPE "x\r\n.\r\n");
	cr_assert_str_eq(t, "init>ready(EHLO) ready>mail(MAIL) mail>rcpt(RCPT) rcpt>data(DATA) "
			    "data>spooling(end_of_data) spooling>ready(spooled) ");
	free(t);
	/* too many errors: closed, the reason is the cause */
	t = trace_of(&cfg, NULL, "EHLO x\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\n"
		     "BOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\n");
	cr_assert_str_eq(t, "init>ready(EHLO) ready>closed(smtpd.too_many_errors) ");
	free(t);
	/* the caller's abort */
	struct drive d;
	struct tm_buf trace;
	tm_buf_init(&trace);
	drive_init(&d, &cfg);
	gw_smtp_session_set_trace(d.s, record_state, &trace);
	feeds(&d, ENVELOPE);
	gw_smtp_session_abort(d.s, "smtpd.timeout", "Error: timeout exceeded");
	gw_smtp_session_abort(d.s, "smtpd.timeout", "Error: timeout exceeded");
	tm_buf_append(&trace, "", 1);
	cr_assert_str_eq((char *)trace.data, "init>ready(EHLO) ready>mail(MAIL) mail>rcpt(RCPT) "
					     "rcpt>data(DATA) data>closed(smtpd.timeout) ");
	drive_fini(&d);
	tm_buf_fini(&trace);
}

/* The rule above holds by construction: outside enter_state() no line of
 * the session assigns its state field. */
Test(smtp_session, state_changes_only_in_enter_state)
{
	const char *src = getenv("TM_SRCDIR");
	cr_assert_not_null(src);
	char path[4096];
	snprintf(path, sizeof(path), "%s/mailgw/smtp/smtp_session.c", src);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	char line[1024];
	unsigned lineno = 0, assignments = 0;
	bool in_enter_state = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strncmp(line, "static void enter_state(", 24) == 0)
			in_enter_state = true;
		else if (line[0] == '}')
			in_enter_state = false;
		for (const char *p = strstr(line, "state"); p != NULL; p = strstr(p + 1, "state")) {
			if (p < line + 2 || !(p[-1] == '.' || (p[-1] == '>' && p[-2] == '-')))
				continue; /* only the field: s->state, x.state */
			const char *q = p + 5;
			while (*q == ' ' || *q == '\t')
				q++;
			if (q[0] != '=' || q[1] == '=')
				continue;
			assignments++;
			cr_expect(in_enter_state, "smtp_session.c:%u assigns the state outside "
				  "enter_state(): %s", lineno, line);
		}
	}
	fclose(f);
	cr_assert_eq(assignments, 1, "the one assignment, in enter_state()");
}

/* Refused replies by command (for /metrics): the verb of the command
 * table, never the peer's text; taking them empties the list. */
static unsigned refusals_of(const struct gw_smtp_cmd_refusal *r, size_t n, const char *verb,
			    const char *reason)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].verb, verb) == 0 && strcmp(r[i].reason, reason) == 0)
			return r[i].n;
	return 0;
}

Test(smtp_session, refusals_by_command)
{
	struct gw_smtp_config cfg = base_cfg();
	struct drive d;
	drive_init(&d, &cfg);
	d.spool_err = "spool.full";
	feeds(&d, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<victim@example.com>\r\n"
		  "RCPT TO:<other@example.com>\r\nXYZZY<script>\r\nrcpt to:<x@y>\r\n"
		  "RCPT TO:<telemetry@gw.example.net>\r\nDATA\r\nx\r\n.\r\n");
	char longline[600];
	memset(longline, 'A', sizeof(longline));
	memcpy(longline + sizeof(longline) - 2, "\r\n", 2);
	feed(&d, longline, sizeof(longline));
	struct gw_smtp_cmd_refusal r[GW_SMTP_CMD_REFUSALS];
	unsigned other = 99;
	size_t n = gw_smtp_session_take_refusals(d.s, r, &other);
	cr_assert_eq(n, 4, "RCPT, unknown, DATA (the spool's 452), line: %zu", n);
	cr_assert_eq(other, 0);
	cr_assert_eq(refusals_of(r, n, "RCPT", "smtpd.relay_denied"), 3, "lower-case rcpt is RCPT");
	cr_assert_eq(refusals_of(r, n, "unknown", "smtpd.unknown_command"), 1);
	cr_assert_eq(refusals_of(r, n, "DATA", "spool.full"), 1);
	cr_assert_eq(refusals_of(r, n, "line", "smtpd.line_too_long"), 1);
	n = gw_smtp_session_take_refusals(d.s, r, &other);
	cr_assert_eq(n, 0, "taken: empty");
	gw_smtp_session_abort(d.s, "smtpd.timeout", "Error: timeout exceeded");
	n = gw_smtp_session_take_refusals(d.s, r, &other);
	cr_assert_eq(n, 1);
	cr_assert_eq(refusals_of(r, n, "session", "smtpd.timeout"), 1);
	drive_fini(&d);
}

/* telemail-mailgw — the SMTP/LMTP session state machine (see smtp_session.h).
 *
 * Over 800 lines, on purpose: the command table, its handlers and
 * enter_state() are one state machine; the table is read best beside the
 * handlers it names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "smtp/smtp_session.h"

/* Octets of DATA read past the size limit before the session gives up on
 * the client (it keeps sending what was already refused). */
#define DATA_DISCARD_FACTOR 4

struct gw_smtp_session {
	const struct gw_smtp_config *cfg;
	enum gw_smtp_state state;   /* changed only by enter_state() */
	gw_smtp_trace_fn trace;     /* the owner's hook (NULL: none) */
	void *trace_ctx;
	bool tls_active;
	bool helo_seen;         /* EHLO/HELO/LHLO accepted (since the last TLS switch) */
	bool esmtp;             /* EHLO/LHLO rather than HELO */
	char helo[GW_SMTP_HELO_MAX + 1]; /* the name the client gave ("" none yet), for logs */

	struct tm_buf out;      /* replies not yet sent */

	/* the line being read (commands: 512, text: 1000 octets) */
	uint8_t line[GW_SMTP_TEXT_LINE_MAX];
	size_t line_len;
	size_t line_total;      /* octets of this line including those past the limit */
	bool line_bare_cr;      /* a CR not followed by LF inside this line */
	bool line_last_cr;      /* the last octet seen was CR */

	/* the transaction */
	char mail_from[GW_SMTP_PATH_MAX + 1];
	size_t n_rcpt;
	struct tm_buf msg;
	size_t data_total;      /* octets of text read, kept or not */
	bool data_prev_crlf;    /* the previous text line ended with CRLF */
	const char *data_reason;/* the message is refused for this reason */

	unsigned errors, junk;
	unsigned accepted, refused;
	const char *verb_now;   /* the command being answered (see take_refusals) */
	struct gw_smtp_cmd_refusal pend[GW_SMTP_CMD_REFUSALS];
	size_t n_pend;
	unsigned pend_other;
	uint64_t lines;
	const char *last_reason;
	char last_detail[TM_ERROR_MSG_MAX];
};

static const char *const state_names[] = {
	[GW_SMTP_INIT] = "init", [GW_SMTP_READY] = "ready", [GW_SMTP_MAIL] = "mail",
	[GW_SMTP_RCPT] = "rcpt", [GW_SMTP_DATA] = "data", [GW_SMTP_SPOOLING] = "spooling",
	[GW_SMTP_TLS] = "tls", [GW_SMTP_CLOSED] = "closed",
};

const char *gw_smtp_session_state_name(enum gw_smtp_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

/* Every change of state goes through here. `cause` says what made it: a
 * verb of the command table, an event ("end_of_data", "spooled",
 * "tls_started", "tls_failed") or the reason code that closed the session.
 * The owner's hook sees real changes only, after the fact. */
static void enter_state(struct gw_smtp_session *s, enum gw_smtp_state to, const char *cause)
{
	enum gw_smtp_state from = s->state;
	s->state = to;
	if (s->trace != NULL && from != to)
		s->trace(s->trace_ctx, from, to, cause);
}

void gw_smtp_session_set_trace(struct gw_smtp_session *s, gw_smtp_trace_fn fn, void *ctx)
{
	s->trace = fn;
	s->trace_ctx = ctx;
}

/* ---- replies ---- */

__attribute__((format(printf, 2, 3)))
static void reply(struct gw_smtp_session *s, const char *fmt, ...)
{
	char line[GW_SMTP_CMD_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	/* out of memory: the reply is lost and the caller's timeout ends the session */
	(void)tm_buf_append(&s->out, line, (size_t)n + 2);
}

/* Count the last refusal under the command being answered. */
static void note_refusal(struct gw_smtp_session *s)
{
	const char *verb = s->verb_now != NULL ? s->verb_now : "line";
	for (size_t i = 0; i < s->n_pend; i++)
		if (strcmp(s->pend[i].verb, verb) == 0 && strcmp(s->pend[i].reason, s->last_reason) == 0) {
			s->pend[i].n++;
			return;
		}
	if (s->n_pend == GW_SMTP_CMD_REFUSALS)
		s->pend_other++;
	else
		s->pend[s->n_pend++] = (struct gw_smtp_cmd_refusal){ verb, s->last_reason, 1 };
}

/* A refusal: the reply is the reason's SMTP code and enhanced status from
 * the table followed by the detail. Counts as an error. */
__attribute__((format(printf, 3, 4)))
static void refuse(struct gw_smtp_session *s, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_detail, sizeof(s->last_detail), fmt, ap);
	va_end(ap);
	const struct tm_reason *r = tm_reason_lookup(reason);
	s->last_reason = r != NULL ? r->code : "internal.bug";
	reply(s, "%s %s", r != NULL ? r->smtp : "451 4.3.0", s->last_detail);
	s->errors++;
	note_refusal(s);
}

size_t gw_smtp_session_take_refusals(struct gw_smtp_session *s,
				     struct gw_smtp_cmd_refusal out[GW_SMTP_CMD_REFUSALS],
				     unsigned *other)
{
	size_t n = s->n_pend;
	memcpy(out, s->pend, n * sizeof(*out));
	*other = s->pend_other;
	s->n_pend = 0;
	s->pend_other = 0;
	return n;
}

static void clear_transaction(struct gw_smtp_session *s)
{
	s->mail_from[0] = '\0';
	s->n_rcpt = 0;
	s->data_total = 0;
	s->data_reason = NULL;
	tm_buf_fini(&s->msg);
	tm_buf_init(&s->msg);
}

static void close_with(struct gw_smtp_session *s, const char *reason, const char *text)
{
	refuse(s, reason, "%s", text);
	enter_state(s, GW_SMTP_CLOSED, reason);
}

/* ---- lifecycle ---- */

struct gw_smtp_session *gw_smtp_session_new(const struct gw_smtp_config *cfg, bool tls_active)
{
	struct gw_smtp_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->tls_active = tls_active;
	enter_state(s, GW_SMTP_INIT, "new");
	tm_buf_init(&s->out);
	tm_buf_init(&s->msg);
	reply(s, "220 %s %s telemail", cfg->hostname, cfg->lmtp ? "LMTP" : "ESMTP");
	return s;
}

void gw_smtp_session_free(struct gw_smtp_session *s)
{
	if (s == NULL)
		return;
	tm_buf_fini(&s->out);
	tm_buf_fini(&s->msg);
	free(s);
}

const uint8_t *gw_smtp_session_output(const struct gw_smtp_session *s, size_t *len)
{
	*len = s->out.len;
	return s->out.data;
}

void gw_smtp_session_output_clear(struct gw_smtp_session *s)
{
	tm_buf_reset(&s->out);
}

/* ---- commands ---- */

/* "FROM:" / "TO:" then <path> then optional parameters. Returns a pointer to
 * the parameters (maybe "") or NULL on a syntax error (reply sent). */
static const char *parse_path(struct gw_smtp_session *s, const char *arg, const char *kw,
			      bool allow_empty, char *path, size_t path_max)
{
	size_t kl = strlen(kw);
	if (strncasecmp(arg, kw, kl) != 0) {
		refuse(s, "smtpd.syntax", "Syntax: %s<address>", kw);
		return NULL;
	}
	const char *p = arg + kl;
	while (*p == ' ')
		p++; /* tolerated: "MAIL FROM: <a@b>" */
	if (*p != '<') {
		refuse(s, "smtpd.syntax", "Syntax: %s<address> (angle brackets required)", kw);
		return NULL;
	}
	const char *end = strchr(p, '>');
	if (end == NULL) {
		refuse(s, "smtpd.syntax", "Syntax: missing '>' in the address");
		return NULL;
	}
	size_t n = (size_t)(end - p - 1);
	if (n >= path_max) {
		refuse(s, "smtpd.syntax", "the address is longer than %zu octets", path_max - 1);
		return NULL;
	}
	for (const char *q = p + 1; q < end; q++)
		if ((unsigned char)*q <= ' ' || *q == '<' || *q == 0x7f) {
			refuse(s, "smtpd.syntax", "the address holds a space or control character");
			return NULL;
		}
	if (n == 0 && !allow_empty) {
		refuse(s, "smtpd.syntax", "an empty address is not a recipient");
		return NULL;
	}
	memcpy(path, p + 1, n);
	path[n] = '\0';
	p = end + 1;
	if (*p != '\0' && *p != ' ') {
		refuse(s, "smtpd.syntax", "Syntax: unexpected text after '>'");
		return NULL;
	}
	while (*p == ' ')
		p++;
	return p;
}

/* One row of the command table (below, after the handlers). */
struct smtp_command;
/* `verb` as the client wrote it (replies quote it so); `arg` trimmed. */
typedef void (*smtp_command_fn)(struct gw_smtp_session *s, const struct smtp_command *c,
				const char *verb, const char *arg);

#define CMD_SMTP        0x1u  /* a command of SMTP */
#define CMD_LMTP        0x2u  /* a command of LMTP */
#define CMD_BEFORE_TLS  0x4u  /* allowed before STARTTLS when TLS is required (530 otherwise) */
#define CMD_JUNK        0x8u  /* moves no mail: counts towards GW_SMTP_MAX_JUNK */

#define IN(st) (1u << GW_SMTP_##st)
#define IN_ANY (IN(INIT) | IN(READY) | IN(MAIL) | IN(RCPT)) /* every state that reads commands */

struct smtp_command {
	const char *verb;          /* upper case; matched without regard to case */
	unsigned flags;            /* CMD_* */
	unsigned states;           /* the states it is valid in: IN(...) */
	const char *out_of_state;  /* the 503's text in another state, once EHLO was seen */
	smtp_command_fn handler;
};

static bool need_helo(struct gw_smtp_session *s)
{
	if (s->helo_seen)
		return true;
	refuse(s, "smtpd.sequence", "send %s first", s->cfg->lmtp ? "LHLO" : "EHLO/HELO");
	return false;
}

static bool need_tls(struct gw_smtp_session *s)
{
	if (!s->cfg->require_tls || s->tls_active)
		return true;
	refuse(s, "smtpd.tls_required", "Must issue a STARTTLS command first");
	return false;
}

/* The command's row says in which states it is valid; its handler checks
 * that where its order of checks puts it (the order decides which reply a
 * line with several faults gets, and the replies are the wire's). Before
 * EHLO the 503 asks for it, after it says what is out of order. */
static bool in_state(struct gw_smtp_session *s, const struct smtp_command *c)
{
	if ((c->states & (1u << s->state)) != 0)
		return true;
	if (need_helo(s))
		refuse(s, "smtpd.sequence", "%s", c->out_of_state);
	return false;
}

/* EHLO, HELO, LHLO: the table lets each in only under its protocol. */
static void cmd_hello(struct gw_smtp_session *s, const struct smtp_command *c,
		      const char *verb, const char *arg)
{
	if (arg[0] == '\0' || strchr(arg, ' ') != NULL) {
		refuse(s, "smtpd.syntax", "Syntax: %s domain", verb);
		return;
	}
	if (s->state != GW_SMTP_INIT && s->state != GW_SMTP_READY)
		clear_transaction(s); /* EHLO in a transaction resets it (RFC 5321 4.1.4) */
	s->helo_seen = true;
	snprintf(s->helo, sizeof(s->helo), "%.*s", GW_SMTP_HELO_MAX, arg); /* longer: cut, logs only */
	s->esmtp = strcmp(c->verb, "HELO") != 0;
	enter_state(s, GW_SMTP_READY, c->verb);
	if (!s->esmtp) {
		reply(s, "250 %s", s->cfg->hostname);
		return;
	}
	reply(s, "250-%s", s->cfg->hostname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %zu", s->cfg->max_message_size);
	if (s->cfg->tls_available && !s->tls_active)
		reply(s, "250-STARTTLS");
	reply(s, "250-8BITMIME");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void cmd_mail(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)verb;
	if (!in_state(s, c))
		return;
	char path[GW_SMTP_PATH_MAX + 1];
	const char *params = parse_path(s, arg, "FROM:", true, path, sizeof(path));
	if (params == NULL)
		return;
	while (*params != '\0') {
		const char *sp = strchr(params, ' ');
		size_t n = sp != NULL ? (size_t)(sp - params) : strlen(params);
		if (!s->esmtp) {
			refuse(s, "smtpd.syntax", "MAIL parameters need EHLO");
			return;
		}
		if (n > 5 && strncasecmp(params, "SIZE=", 5) == 0) {
			char *end;
			unsigned long long v = strtoull(params + 5, &end, 10);
			if (end != params + n || params[5] < '0' || params[5] > '9') {
				refuse(s, "smtpd.syntax", "SIZE=%.*s is not a number", (int)(n - 5 < 20 ? n - 5 : 20),
				       params + 5);
				return;
			}
			if (v > s->cfg->max_message_size) {
				refuse(s, "smtpd.too_large", "message size %llu exceeds the limit of %zu octets",
				       v, s->cfg->max_message_size);
				return;
			}
		} else if (!((n == 9 && strncasecmp(params, "BODY=7BIT", 9) == 0) ||
			     (n == 13 && strncasecmp(params, "BODY=8BITMIME", 13) == 0))) {
			refuse(s, "smtpd.parameter", "MAIL parameter %.*s not supported",
			       (int)(n < 40 ? n : 40), params);
			return;
		}
		params += n;
		while (*params == ' ')
			params++;
	}
	snprintf(s->mail_from, sizeof(s->mail_from), "%s", path);
	s->n_rcpt = 0;
	enter_state(s, GW_SMTP_MAIL, c->verb);
	reply(s, "250 2.1.0 Ok");
}

static bool is_gateway_mailbox(const struct gw_smtp_config *cfg, const char *addr)
{
	for (size_t i = 0; i < cfg->n_mailboxes; i++)
		if (strcasecmp(cfg->mailboxes[i], addr) == 0)
			return true;
	return false;
}

static void cmd_rcpt(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)verb;
	if (!in_state(s, c))
		return;
	char path[GW_SMTP_PATH_MAX + 1];
	const char *params = parse_path(s, arg, "TO:", false, path, sizeof(path));
	if (params == NULL)
		return;
	if (*params != '\0') {
		refuse(s, "smtpd.parameter", "RCPT parameters are not supported");
		return;
	}
	if (!is_gateway_mailbox(s->cfg, path)) {
		refuse(s, "smtpd.relay_denied", "<%s>: Recipient address rejected: not a mailbox of "
		       "this gateway (no relaying)", path);
		return;
	}
	if (s->n_rcpt >= s->cfg->max_recipients) {
		refuse(s, "smtpd.too_many_recipients", "Too many recipients (at most %u)",
		       s->cfg->max_recipients);
		return;
	}
	s->n_rcpt++;
	enter_state(s, GW_SMTP_RCPT, c->verb);
	reply(s, "250 2.1.5 Ok");
}

static void cmd_data(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)verb;
	if (!need_helo(s))
		return;
	if (arg[0] != '\0') {
		refuse(s, "smtpd.syntax", "Syntax: DATA (no arguments)");
		return;
	}
	if (s->state == GW_SMTP_MAIL) {
		refuse(s, "smtpd.no_recipients", "No valid recipients");
		return;
	}
	if (!in_state(s, c))
		return;
	tm_buf_reset(&s->msg);
	s->data_total = 0;
	s->data_reason = NULL;
	s->data_prev_crlf = true; /* the DATA line itself ended with CRLF */
	enter_state(s, GW_SMTP_DATA, c->verb);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void cmd_starttls(struct gw_smtp_session *s, const struct smtp_command *c,
			 const char *verb, const char *arg)
{
	(void)verb;
	if (!s->cfg->tls_available || s->tls_active) {
		refuse(s, "smtpd.tls_unavailable", "STARTTLS not available%s",
		       s->tls_active ? ": TLS is already active" : "");
		return;
	}
	if (arg[0] != '\0') {
		refuse(s, "smtpd.syntax", "Syntax: STARTTLS (no arguments)");
		return;
	}
	if (!in_state(s, c))
		return;
	reply(s, "220 2.0.0 Ready to start TLS");
	enter_state(s, GW_SMTP_TLS, c->verb);
}

static void cmd_rset(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)verb, (void)arg;
	clear_transaction(s);
	if (s->state != GW_SMTP_INIT)
		enter_state(s, s->helo_seen ? GW_SMTP_READY : GW_SMTP_INIT, c->verb);
	reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)c, (void)verb, (void)arg;
	reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)verb, (void)arg;
	reply(s, "221 2.0.0 Bye");
	enter_state(s, GW_SMTP_CLOSED, c->verb);
}

static void cmd_vrfy(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)c, (void)verb, (void)arg;
	reply(s, "252 2.5.0 Cannot VRFY user, but will accept mail for the gateway mailboxes");
}

static void cmd_help(struct gw_smtp_session *s, const struct smtp_command *c,
		     const char *verb, const char *arg)
{
	(void)c, (void)verb, (void)arg;
	reply(s, "214 2.0.0 %s", s->cfg->lmtp ? "LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY"
		: "EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS");
}

#define CMD_BOTH (CMD_SMTP | CMD_LMTP)

/* Every command the session knows (RFC 5321, RFC 2033 for LHLO, RFC 3207).
 * A verb not here, or not of this protocol, is refused with 500; before
 * STARTTLS, when TLS is required, anything not CMD_BEFORE_TLS (unknown
 * verbs included) gets 530 first. The states are checked by the handler
 * (in_state); IN_ANY: valid wherever commands are read. */
static const struct smtp_command commands[] = {
	{ "EHLO", CMD_SMTP | CMD_BEFORE_TLS, IN_ANY, NULL, cmd_hello },
	{ "HELO", CMD_SMTP | CMD_BEFORE_TLS, IN_ANY, NULL, cmd_hello },
	{ "LHLO", CMD_LMTP | CMD_BEFORE_TLS, IN_ANY, NULL, cmd_hello },
	{ "MAIL", CMD_BOTH, IN(READY), "nested MAIL command", cmd_mail },
	{ "RCPT", CMD_BOTH, IN(MAIL) | IN(RCPT), "need MAIL before RCPT", cmd_rcpt },
	{ "DATA", CMD_BOTH, IN(RCPT), "need RCPT before DATA", cmd_data },
	{ "RSET", CMD_BOTH | CMD_BEFORE_TLS | CMD_JUNK, IN_ANY, NULL, cmd_rset },
	{ "NOOP", CMD_BOTH | CMD_BEFORE_TLS | CMD_JUNK, IN_ANY, NULL, cmd_noop },
	{ "QUIT", CMD_BOTH | CMD_BEFORE_TLS, IN_ANY, NULL, cmd_quit },
	{ "VRFY", CMD_BOTH | CMD_JUNK, IN_ANY, NULL, cmd_vrfy },
	{ "HELP", CMD_BOTH | CMD_JUNK, IN_ANY, NULL, cmd_help },
	{ "STARTTLS", CMD_BOTH | CMD_BEFORE_TLS, IN(READY), "STARTTLS inside a mail transaction",
	  cmd_starttls },
};

static const struct smtp_command *find_command(const char *verb)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].verb, verb) == 0)
			return &commands[i];
	return NULL;
}

/* One complete command line (CRLF removed). */
static void command(struct gw_smtp_session *s, char *line)
{
	char *arg = line;
	while (*arg != '\0' && *arg != ' ')
		arg++;
	char verb[16];
	size_t vl = (size_t)(arg - line);
	s->verb_now = "unknown";
	if (vl == 0 || vl >= sizeof(verb)) {
		refuse(s, "smtpd.unknown_command", "command not recognized");
		return;
	}
	memcpy(verb, line, vl);
	verb[vl] = '\0';
	while (*arg == ' ')
		arg++;
	size_t al = strlen(arg);
	while (al > 0 && arg[al - 1] == ' ')
		arg[--al] = '\0';

	const struct smtp_command *c = find_command(verb);
	if (c != NULL && (c->flags & (s->cfg->lmtp ? CMD_LMTP : CMD_SMTP)) != 0)
		s->verb_now = c->verb;
	if ((c == NULL || (c->flags & CMD_BEFORE_TLS) == 0) && !need_tls(s))
		return;
	if (c == NULL) {
		refuse(s, "smtpd.unknown_command", "%s: command not recognized", verb);
		return;
	}
	if ((c->flags & (s->cfg->lmtp ? CMD_LMTP : CMD_SMTP)) == 0) {
		refuse(s, "smtpd.unknown_command", "%s: command not recognized%s", verb,
		       s->cfg->lmtp ? " (this is LMTP: LHLO)" : "");
		return;
	}
	if ((c->flags & CMD_JUNK) != 0)
		s->junk++;
	c->handler(s, c, verb, arg);
}

/* ---- input ---- */

static void end_of_data(struct gw_smtp_session *s)
{
	s->lines++;
	if (s->data_reason == NULL) {
		enter_state(s, GW_SMTP_SPOOLING, "end_of_data");
		return;
	}
	const char *r = s->data_reason;
	s->verb_now = "DATA";
	if (strcmp(r, "smtpd.bare_newline") == 0)
		refuse(s, r, "bare <CR> or <LF> in the message; only <CR><LF>.<CR><LF> ends DATA");
	else if (strcmp(r, "smtpd.too_large") == 0)
		refuse(s, r, "Message size exceeds the limit of %zu octets", s->cfg->max_message_size);
	else
		refuse(s, r, "a text line is longer than %d octets", GW_SMTP_TEXT_LINE_MAX);
	for (size_t i = 1; s->cfg->lmtp && i < s->n_rcpt; i++)
		reply(s, "%s %s", tm_reason_lookup(r)->smtp, s->last_detail);
	s->refused++;
	clear_transaction(s);
	enter_state(s, GW_SMTP_READY, "end_of_data");
}

/* The message will be refused at its end; what was kept is dropped now. */
static void data_refuse(struct gw_smtp_session *s, const char *reason)
{
	if (s->data_reason == NULL)
		s->data_reason = reason;
	tm_buf_fini(&s->msg);
	tm_buf_init(&s->msg);
}

/* One complete text line in DATA: line[0..len) ends with LF. The whole
 * line was scanned for bare CRs by the caller. */
static void text_line(struct gw_smtp_session *s, const uint8_t *line, size_t len, bool crlf)
{
	bool was_crlf = s->data_prev_crlf;
	s->data_prev_crlf = crlf && !s->line_bare_cr;
	if (!crlf || s->line_bare_cr) {
		s->data_total += s->line_total;
		data_refuse(s, "smtpd.bare_newline");
		return;
	}
	if (was_crlf && len == 3 && line[0] == '.') {
		end_of_data(s);
		return;
	}
	s->lines++;
	if (s->line_total > GW_SMTP_TEXT_LINE_MAX) {
		s->data_total += s->line_total;
		data_refuse(s, "smtpd.text_line");
		return;
	}
	if (was_crlf && line[0] == '.') { /* dot-stuffing (RFC 5321 4.5.2) */
		line++;
		len--;
	}
	s->data_total += len;
	if (s->data_reason != NULL)
		return;
	if (s->msg.len + len > s->cfg->max_message_size) {
		data_refuse(s, "smtpd.too_large");
		return;
	}
	if (tm_buf_append(&s->msg, line, len) < 0)
		data_refuse(s, "smtpd.too_large"); /* no memory for it: the same to the client */
}

static void command_line(struct gw_smtp_session *s, bool crlf)
{
	s->lines++;
	s->verb_now = "line";
	if (s->line_total > GW_SMTP_CMD_LINE_MAX) {
		refuse(s, "smtpd.line_too_long", "line too long (at most %d octets)",
		       GW_SMTP_CMD_LINE_MAX);
		return;
	}
	if (!crlf || s->line_bare_cr) {
		refuse(s, "smtpd.bare_newline", "bare <CR> or <LF> in a command; lines end with <CR><LF>");
		return;
	}
	char cmd[GW_SMTP_CMD_LINE_MAX];
	size_t n = s->line_len - 2;
	for (size_t i = 0; i < n; i++)
		if (s->line[i] == '\0') {
			refuse(s, "smtpd.syntax", "NUL octet in a command");
			return;
		}
	memcpy(cmd, s->line, n);
	cmd[n] = '\0';
	command(s, cmd);
}

static void check_limits(struct gw_smtp_session *s)
{
	if (s->state == GW_SMTP_CLOSED)
		return;
	s->verb_now = "session";
	if (s->errors > GW_SMTP_MAX_ERRORS)
		close_with(s, "smtpd.too_many_errors", "Error: too many errors");
	else if (s->junk > GW_SMTP_MAX_JUNK)
		close_with(s, "smtpd.too_many_errors", "Error: too many commands without mail");
	else if (s->state == GW_SMTP_DATA && s->data_total + s->line_total >
		 (size_t)DATA_DISCARD_FACTOR * s->cfg->max_message_size + GW_SMTP_TEXT_LINE_MAX)
		close_with(s, "smtpd.too_large", "Message size exceeds the limit; closing");
}

size_t gw_smtp_session_feed(struct gw_smtp_session *s, const uint8_t *in, size_t len,
			    enum gw_smtp_event *ev)
{
	*ev = GW_SMTP_EV_NONE;
	size_t pos = 0;
	if (s->state == GW_SMTP_TLS)
		return len; /* plaintext sent behind STARTTLS: dropped, never executed */
	while (pos < len) {
		if (s->state == GW_SMTP_CLOSED) {
			*ev = GW_SMTP_EV_CLOSE;
			return len;
		}
		if (s->state == GW_SMTP_SPOOLING)
			return pos;
		bool data = s->state == GW_SMTP_DATA;
		size_t cap = data ? GW_SMTP_TEXT_LINE_MAX : GW_SMTP_CMD_LINE_MAX;
		const uint8_t *lf = memchr(in + pos, '\n', len - pos);
		size_t seg = lf != NULL ? (size_t)(lf - (in + pos)) + 1 : len - pos;
		/* bare CRs: a CR followed by anything but LF (across reads too) */
		bool crlf = false;
		for (size_t i = 0; i < seg; i++) {
			uint8_t c = in[pos + i];
			if (c == '\n')
				crlf = s->line_last_cr;
			else if (s->line_last_cr)
				s->line_bare_cr = true;
			s->line_last_cr = c == '\r';
		}
		size_t keep = s->line_len < cap ? cap - s->line_len : 0;
		if (keep > seg)
			keep = seg;
		memcpy(s->line + s->line_len, in + pos, keep);
		s->line_len += keep;
		s->line_total += seg;
		pos += seg;
		if (lf == NULL)
			break;
		/* a complete line: it ends with LF, CRLF when the octet before was CR */
		if (data)
			text_line(s, s->line, s->line_len, crlf);
		else
			command_line(s, crlf);
		s->line_len = 0;
		s->line_total = 0;
		s->line_bare_cr = false;
		s->line_last_cr = false;
		check_limits(s);
		if (s->state == GW_SMTP_SPOOLING) {
			*ev = GW_SMTP_EV_MESSAGE;
			return pos;
		}
		if (s->state == GW_SMTP_TLS) {
			*ev = GW_SMTP_EV_STARTTLS;
			return pos;
		}
		if (s->state == GW_SMTP_CLOSED) {
			*ev = GW_SMTP_EV_CLOSE;
			return pos;
		}
	}
	if (s->state == GW_SMTP_DATA)
		check_limits(s);
	if (s->state == GW_SMTP_CLOSED)
		*ev = GW_SMTP_EV_CLOSE;
	return pos;
}

/* ---- events back from the caller ---- */

const uint8_t *gw_smtp_session_message(const struct gw_smtp_session *s, size_t *len)
{
	*len = s->msg.len;
	return s->msg.data != NULL ? s->msg.data : (const uint8_t *)"";
}

const char *gw_smtp_session_helo(const struct gw_smtp_session *s)
{
	return s->helo;
}

const char *gw_smtp_session_mail_from(const struct gw_smtp_session *s)
{
	return s->mail_from;
}

size_t gw_smtp_session_rcpt_count(const struct gw_smtp_session *s)
{
	return s->n_rcpt;
}

void gw_smtp_session_spooled(struct gw_smtp_session *s, const char *qid,
			     const struct tm_error *err)
{
	if (s->state != GW_SMTP_SPOOLING)
		return;
	size_t n = s->cfg->lmtp ? s->n_rcpt : 1;
	if (err == NULL || err->reason == NULL) {
		for (size_t i = 0; i < n; i++)
			reply(s, "250 2.0.0 Ok: queued as %s", qid != NULL ? qid : "?");
		s->accepted++;
	} else {
		const struct tm_reason *r = tm_reason_lookup(err->reason);
		s->last_reason = r != NULL ? r->code : "internal.bug";
		snprintf(s->last_detail, sizeof(s->last_detail), "%s", err->msg);
		for (size_t i = 0; i < n; i++)
			reply(s, "%s Message not accepted: %s", r != NULL ? r->smtp : "451 4.3.0",
			      err->msg);
		s->refused++;
		s->verb_now = "DATA";
		note_refusal(s);
	}
	clear_transaction(s);
	enter_state(s, GW_SMTP_READY, "spooled");
}

void gw_smtp_session_tls_started(struct gw_smtp_session *s)
{
	if (s->state != GW_SMTP_TLS)
		return;
	/* RFC 3207 4.2: forget everything learned before the handshake */
	clear_transaction(s);
	s->tls_active = true;
	s->helo_seen = false;
	s->helo[0] = '\0';
	s->esmtp = false;
	s->line_len = s->line_total = 0;
	s->line_bare_cr = s->line_last_cr = false;
	enter_state(s, GW_SMTP_INIT, "tls_started");
}

void gw_smtp_session_tls_failed(struct gw_smtp_session *s)
{
	s->last_reason = "smtpd.tls_failed";
	snprintf(s->last_detail, sizeof(s->last_detail), "TLS handshake failed");
	enter_state(s, GW_SMTP_CLOSED, "tls_failed");
}

void gw_smtp_session_abort(struct gw_smtp_session *s, const char *reason, const char *text)
{
	if (s->state == GW_SMTP_CLOSED)
		return;
	s->verb_now = "session";
	close_with(s, reason, text);
}

enum gw_smtp_state gw_smtp_session_state(const struct gw_smtp_session *s)
{
	return s->state;
}

bool gw_smtp_session_tls_active(const struct gw_smtp_session *s)
{
	return s->tls_active;
}

const char *gw_smtp_session_last_reason(const struct gw_smtp_session *s)
{
	return s->last_reason;
}

const char *gw_smtp_session_last_detail(const struct gw_smtp_session *s)
{
	return s->last_detail;
}

uint64_t gw_smtp_session_lines(const struct gw_smtp_session *s)
{
	return s->lines;
}

void gw_smtp_session_counts(const struct gw_smtp_session *s, unsigned *accepted,
			    unsigned *refused)
{
	*accepted = s->accepted;
	*refused = s->refused;
}

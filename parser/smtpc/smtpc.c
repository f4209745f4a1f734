/* telemail — the SMTP client over libESMTP and OpenSSL (see telemail/smtpc.h).
 * libESMTP and OpenSSL types stay in this file. */
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>      /* before libesmtp.h: it declares smtp_starttls_set_ctx then */
#include <openssl/x509v3.h>
#include <auth-client.h>
#include <libesmtp.h>

#include <telemail/error.h>
#include <telemail/log.h>
#include <telemail/smtpc.h>

#define STEP_MAX 400   /* bytes of one step line */

/* One session. */
struct session {
	const struct tm_smtpc_config *cfg;
	char hostport[300];
	int fd;                        /* the session's socket, -1 until found */
	size_t read_bytes;
	char reason[32];               /* the first failure is the cause */
	char why[256];
	bool auth_sent, auth_ok, tls_ok, cut;
	char rline[512];               /* the relay's line being assembled */
	size_t rlen;
};

/* A step line for the communication test: one line, control bytes blanked. */
__attribute__((format(printf, 2, 3)))
static void step(struct session *s, const char *fmt, ...)
{
	if (s->cfg->step == NULL)
		return;
	char line[STEP_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	s->cfg->step(s->cfg->step_arg, line);
}

__attribute__((format(printf, 3, 4)))
static void fail(struct session *s, const char *reason, const char *fmt, ...)
{
	if (s->reason[0] != '\0')
		return;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static bool ip_literal(const char *host)
{
	unsigned char ip[16];
	return inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
}

/* Cut the connection: the socket is replaced by /dev/null under the same
 * descriptor, so whatever libESMTP writes next reaches nobody, its next
 * read ends the session, and no descriptor number is freed while libESMTP
 * still holds it. */
static void cut(struct session *s)
{
	if (s->cut || s->fd < 0)
		return;
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup3(nul, s->fd, O_CLOEXEC);
		close(nul);
	}
	s->cut = true;
}

/* ---- AUTH: the configured mechanism only ---- */

/* The mechanism of the session running in this thread (NULL: any). */
static _Thread_local const char *auth_only;

/* libESMTP 1.1 takes the first mechanism the relay offers that has a
 * plug-in, and has no call to restrict them (the plug-in flags cannot tell
 * PLAIN from LOGIN). It selects each candidate through this public
 * function, called through the PLT, so the program's definition is the one
 * it reaches: every name but the configured one is refused, then the call
 * goes on to the library's own. */
typedef int (*set_mechanism_fn)(auth_context_t, const char *);
int auth_set_mechanism(auth_context_t context, const char *name);
int auth_set_mechanism(auth_context_t context, const char *name)
{
	static set_mechanism_fn next;
	if (next == NULL)
		*(void **)&next = dlsym(RTLD_NEXT, "auth_set_mechanism");
	if (next == NULL || name == NULL || (auth_only != NULL && strcasecmp(name, auth_only) != 0))
		return 0;
	return next(context, name);
}

static int interact_cb(auth_client_request_t req, char **result, int fields, void *arg)
{
	struct session *s = arg;
	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = (char *)s->cfg->username;
		else if (req[i].flags & AUTH_PASS)
			result[i] = (char *)s->cfg->password;
		else
			return 0;
	}
	return 1;
}

/* ---- what goes over the wire ---- */

/* The relay's lines, one at a time: shown for the test; AUTH's outcome. */
static void server_line(struct session *s, const char *l)
{
	step(s, "reply S: %.200s", l);
	if (!s->auth_sent || strlen(l) < 4 || l[3] != ' ')
		return;
	if (strncmp(l, "235", 3) == 0) {
		s->auth_ok = true;
		s->auth_sent = false;
		step(s, "auth ok");
	} else if (l[0] == '4' || l[0] == '5') {
		s->auth_sent = false;
		fail(s, "smtp.auth",
		     "%s: AUTH %s refused: %.120s (check smtp.auth username and password_file;"
		     " nothing more is sent to this relay)", s->cfg->host, auth_only, l);
	}
}

static void monitor_cb(const char *buf, int len, int writing, void *arg)
{
	struct session *s = arg;
	if (s->cut)
		return;
	if (writing && s->cfg->auth_mechanism != NULL && !s->auth_ok && len >= 4 &&
	    strncasecmp(buf, "MAIL", 4) == 0) {
		/* libESMTP goes on to MAIL FROM after a refused (or absent) AUTH:
		 * cut before it is written; nothing more goes to this relay */
		fail(s, "smtp.auth", "%s: the relay offers no AUTH %s (smtp.auth.mechanism)",
		     s->cfg->host, auth_only);
		cut(s);
		return;
	}
	if (writing) {
		if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0) {
			s->auth_sent = true;
			step(s, "auth C: AUTH %.5s… (credentials not shown)", buf + 5);
		} else if (s->cfg->step != NULL && !s->auth_sent && len >= 4 && writing == 1) {
			char w[80];
			int k = len < 70 ? len : 70;
			memcpy(w, buf, (size_t)k);
			w[k] = '\0';
			w[strcspn(w, "\r\n")] = '\0';
			if (strncasecmp(w, "MAIL", 4) == 0 || strncasecmp(w, "RCPT", 4) == 0 ||
			    strncasecmp(w, "EHLO", 4) == 0 || strncasecmp(w, "STARTTLS", 8) == 0 ||
			    strncasecmp(w, "DATA", 4) == 0 || strncasecmp(w, "QUIT", 4) == 0)
				step(s, "C: %s", w);
		}
		return;
	}
	s->read_bytes += (size_t)len;
	if (s->cfg->max_reply_bytes > 0 && s->read_bytes > s->cfg->max_reply_bytes) {
		/* this is the cause, whatever came before */
		s->reason[0] = '\0';
		fail(s, "smtp.protocol", "%s: the relay sent more than %zu bytes of replies in one session",
		     s->cfg->host, s->cfg->max_reply_bytes);
		cut(s);
		return;
	}
	for (int i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '\n') {
			if (s->rlen > 0 && s->rline[s->rlen - 1] == '\r')
				s->rlen--;
			s->rline[s->rlen] = '\0';
			server_line(s, s->rline);
			s->rlen = 0;
		} else if (s->rlen < sizeof(s->rline) - 1) {
			s->rline[s->rlen++] = ch;
		}
	}
}

/* libESMTP owns *ctx (it frees it after the message): a malloc'd "handed out" flag. */
static const char *msg_cb(void **ctx, int *len, void *arg)
{
	const struct tm_smtpc_msg *m = arg;
	if (*ctx == NULL && (*ctx = calloc(1, sizeof(int))) == NULL)
		return NULL;
	int *done = *ctx;
	if (len == NULL) {     /* rewind */
		*done = 0;
		return NULL;
	}
	if (*done) {
		*len = 0;
		return NULL;
	}
	*done = 1;
	*len = (int)m->len;
	return (const char *)m->data;
}

/* ---- the socket and TLS ---- */

/* TCP_NODELAY on the session's socket. libESMTP 1.1 has no socket or
 * connect hook and SMTP_EV_CONNECT carries no descriptor, so the socket is
 * found: the connected TCP socket whose peer port is the relay's (STARTTLS
 * then names it exactly). Without it a small write that follows another
 * (the end of DATA) waits for the relay's delayed ACK (Nagle), about 40 ms
 * per message. Returns 1 when the option is on, 0 otherwise. */
static int set_nodelay(struct session *s)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return 0;
	int on = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && !on) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || fd < 0 || fd == dirfd(d))
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int type = 0;
		socklen_t tl = sizeof(type);
		if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
		    getpeername((int)fd, (struct sockaddr *)&ss, &sl) != 0)
			continue;
		int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
			 : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : -1;
		if (port != (int)s->cfg->port)
			continue;
		s->fd = (int)fd;
		int one = 1, v = 0;
		socklen_t vl = sizeof(v);
		if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
		    getsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0 && v != 0)
			on = 1;
	}
	closedir(d);
	return on;
}

/* TLS 1.3: the relay sends its session tickets after the handshake. When
 * they arrive before libESMTP 1.1 has flushed the EHLO that follows
 * STARTTLS, it reads first, SSL_read finds no application data in them,
 * and it then waits for a reply to a command it has not sent: the session
 * stalls until its timeout (seen against telemail-mailgw serve). So the
 * tickets are taken here, in the handshake's event, before EHLO is queued
 * (SSL_peek takes no application data): a wait for the first (bounded: a
 * relay may send none), then a shorter one for each further one, at most
 * TICKET_MAX records. */
#define TICKET_WAIT_MS 1000   /* for the first ticket */
#define TICKET_NEXT_MS 100    /* for one more */
#define TICKET_MAX 8

static void take_tickets(SSL *ssl)
{
	if (ssl == NULL || SSL_version(ssl) < TLS1_3_VERSION)
		return;
	struct pollfd p = { .fd = SSL_get_rfd(ssl), .events = POLLIN };
	int wait_ms = TICKET_WAIT_MS;
	for (int i = 0; i < TICKET_MAX && p.fd >= 0; i++) {
		if (poll(&p, 1, wait_ms) != 1)
			return;
		char b;
		int r = SSL_peek(ssl, &b, 1);
		if (r > 0 || SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
			return;   /* application data (or an error): libESMTP reads it */
		wait_ms = TICKET_NEXT_MS;
	}
}

static void event_cb(smtp_session_t session, int ev, void *arg, ...)
{
	struct session *s = arg;
	const char *host = s->cfg->host;
	va_list ap;
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_CONNECT: {
		int nodelay = set_nodelay(s);
		step(s, "connect ok %s tcp_nodelay=%s", host, nodelay ? "on" : "off");
		break;
	}
	case SMTP_EV_STARTTLS_OK: {
		SSL *ssl = va_arg(ap, SSL *);
		const char *cipher = va_arg(ap, const char *);
		s->tls_ok = true;
		if (ssl != NULL && SSL_get_fd(ssl) >= 0)
			s->fd = SSL_get_fd(ssl);
		take_tickets(ssl);
		if (s->cfg->step != NULL && ssl != NULL) {
			char subj[256] = "?";
			X509 *peer = SSL_get1_peer_certificate(ssl);
			if (peer) {
				X509_NAME_oneline(X509_get_subject_name(peer), subj, sizeof(subj));
				X509_free(peer);
			}
			char qsubj[TM_LOG_VALUE_MAX + 1]; /* the relay's subject: one escaped value */
			bool cut_short;
			tm_log_escape(qsubj, sizeof(qsubj), subj, strlen(subj), &cut_short);
			step(s, "tls ok %s %s peer=%s", SSL_get_version(ssl), cipher ? cipher : "", qsubj);
		}
		break;
	}
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		long vr = va_arg(ap, long);
		int *ok = va_arg(ap, int *);
		*ok = 0;
		fail(s, "smtp.certificate", "%s: certificate refused: %s", host,
		     X509_verify_cert_error_string(vr));
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		int *ok = va_arg(ap, int *);
		/* libESMTP matches names only. For an IP literal the handshake already
		 * checked the certificate's IP address (X509_VERIFY_PARAM_set1_ip_asc,
		 * verification failures abort the handshake), so that check stands. */
		if (ev == SMTP_EV_WRONG_PEER_CERTIFICATE && s->reason[0] == '\0' && ip_literal(host)) {
			*ok = 1;
			break;
		}
		*ok = 0;
		fail(s, "smtp.certificate", "%s: %s", host,
		     ev == SMTP_EV_NO_PEER_CERTIFICATE ? "no peer certificate"
						       : "certificate does not match the host name");
		break;
	}
	case SMTP_EV_WEAK_CIPHER: {
		(void)va_arg(ap, int);
		int *ok = va_arg(ap, int *);
		*ok = 0;
		fail(s, "smtp.tls", "%s: weak cipher", host);
		break;
	}
	case SMTP_EV_EXTNA_STARTTLS:
		fail(s, "smtp.tls", "%s: the relay does not offer STARTTLS (required)", host);
		break;
	default:
		break;
	}
	va_end(ap);
	(void)session;
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	if (!ok) {
		SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
		struct session *s = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
		if (s != NULL)
			fail(s, "smtp.certificate", "%s: certificate refused: %s", s->cfg->host,
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	}
	return ok;
}

static SSL_CTX *make_ctx(struct session *s)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		fail(s, "smtp.tls", "%s: cannot set up TLS", s->cfg->host);
		return NULL;
	}
	/* TLS 1.2 and 1.3, nothing older */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	const char *ca = s->cfg->ca_file;
	if ((ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL)
			: SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		fail(s, "smtp.certificate", "%s: cannot load the CA file", ca ? ca : "(system store)");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_app_data(ctx, s);
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
	if (ip_literal(s->cfg->host))
		X509_VERIFY_PARAM_set1_ip_asc(vp, s->cfg->host);
	else
		X509_VERIFY_PARAM_set1_host(vp, s->cfg->host, 0);
	return ctx;
}

/* ---- one session ---- */

static void set_answer(struct tm_smtpc_msg *m, const smtp_status_t *st)
{
	m->code = st ? st->code : 0;
	snprintf(m->reply, sizeof(m->reply), "%s", st && st->text ? st->text : "");
	m->reply[strcspn(m->reply, "\r\n")] = '\0';
}

/* The relay's answer to one message: a refused MAIL FROM, else the answer
 * to its recipients when all were refused, else the answer to its data. */
static void answer(struct tm_smtpc_msg *m, smtp_message_t mm, smtp_recipient_t *rv)
{
	const smtp_status_t *st = smtp_reverse_path_status(mm);
	if (st != NULL && st->code >= 400) {
		set_answer(m, st);
		return;
	}
	const smtp_status_t *first = NULL;
	size_t refused = 0;
	for (size_t i = 0; i < m->n_rcpt; i++) {
		const smtp_status_t *r = smtp_recipient_status(rv[i]);
		if (r != NULL && r->code >= 400) {
			refused++;
			if (first == NULL)
				first = r;
		}
	}
	if (m->n_rcpt > 0 && refused == m->n_rcpt)
		set_answer(m, first);
	else
		set_answer(m, smtp_message_transfer_status(mm));
}

int tm_smtpc_send(const struct tm_smtpc_config *cfg, struct tm_smtpc_msg *msgs, size_t n,
		  struct tm_error *err)
{
	struct session s = { .cfg = cfg, .fd = -1 };
	snprintf(s.hostport, sizeof(s.hostport), "%s:%u", cfg->host, cfg->port);
	for (size_t i = 0; i < n; i++) {
		msgs[i].code = 0;
		msgs[i].reply[0] = '\0';
	}
	smtp_session_t sess = smtp_create_session();
	SSL_CTX *ctx = NULL;
	auth_context_t actx = NULL;
	smtp_message_t *mv = calloc(n + 1, sizeof(*mv));
	smtp_recipient_t **rv = calloc(n + 1, sizeof(*rv));
	if (sess == NULL || mv == NULL || rv == NULL) {
		fail(&s, "smtp.protocol", "%s: out of memory", s.hostport);
		goto out;
	}
	step(&s, "resolve %s", s.hostport);
	smtp_set_server(sess, s.hostport);
	if (cfg->helo != NULL)
		smtp_set_hostname(sess, cfg->helo);
	long ms = (long)cfg->timeout * 1000;
	for (int w = Timeout_GREETING; w <= Timeout_DATA2; w++)
		smtp_set_timeout(sess, w | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
	smtp_set_eventcb(sess, event_cb, &s);
	smtp_set_monitorcb(sess, monitor_cb, &s, 0);
	if (cfg->starttls) {
		if ((ctx = make_ctx(&s)) == NULL)
			goto out;
		smtp_starttls_set_ctx(sess, ctx);
		smtp_starttls_enable(sess, Starttls_REQUIRED);
	} else {
		smtp_starttls_enable(sess, Starttls_DISABLED);
	}
	auth_only = cfg->auth_mechanism;
	if (cfg->auth_mechanism != NULL) {
		auth_client_init();
		if ((actx = auth_create_context()) == NULL) {
			fail(&s, "smtp.auth", "%s: cannot set up AUTH", s.hostport);
			goto out;
		}
		auth_set_mechanism_flags(actx, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(actx, interact_cb, &s);
		smtp_auth_set_context(sess, actx);
	}
	for (size_t i = 0; i < n; i++) {
		mv[i] = smtp_add_message(sess);
		rv[i] = calloc(msgs[i].n_rcpt + 1, sizeof(*rv[i]));
		if (mv[i] == NULL || rv[i] == NULL) {
			fail(&s, "smtp.protocol", "%s: out of memory", s.hostport);
			goto out;
		}
		smtp_set_reverse_path(mv[i], msgs[i].from);
		for (size_t k = 0; k < msgs[i].n_rcpt; k++)
			rv[i][k] = smtp_add_recipient(mv[i], msgs[i].rcpt[k]);
		smtp_set_messagecb(mv[i], msg_cb, &msgs[i]);
	}
	int started = smtp_start_session(sess);
	if (!started && s.reason[0] == '\0') {
		char eb[128];
		smtp_strerror(smtp_errno(), eb, sizeof(eb));
		unsigned long e = ERR_peek_error();
		if (e != 0 && cfg->starttls && !s.tls_ok)
			fail(&s, "smtp.tls", "%s: TLS: %s", s.hostport,
			     ERR_reason_error_string(e) ? ERR_reason_error_string(e) : eb);
		else if (s.read_bytes == 0)
			fail(&s, "smtp.connect", "%s: %s", s.hostport, eb);
		else
			fail(&s, "smtp.protocol", "%s: %s", s.hostport, eb);
	}
	if (cfg->auth_mechanism != NULL && !s.auth_ok)
		fail(&s, "smtp.auth", "%s: AUTH was not completed (not offered or refused)", s.hostport);
	for (size_t i = 0; i < n; i++)
		answer(&msgs[i], mv[i], rv[i]);
out:
	auth_only = NULL;
	if (rv != NULL)
		for (size_t i = 0; i < n; i++)
			free(rv[i]);
	free(rv);
	free(mv);
	if (sess != NULL)
		smtp_destroy_session(sess);
	if (actx != NULL)
		auth_destroy_context(actx);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (s.reason[0] == '\0')
		return 0;
	for (char *p = s.why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	tm_error_set(err, s.reason, "%s", s.why);
	return -1;
}

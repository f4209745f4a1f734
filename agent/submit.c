/* telemail-agent — SMTP submission (libesmtp), one child process per relay
 * session (see submit.h). The child reports over a pipe, one line each:
 *   step <text>            progress for the communication test
 *   fail <reason> <text>   the session failed before any message was final
 *   msg <i> <code> <text>  the relay's answer to message i
 * OpenSSL types stay in this file (the SSL_CTX for STARTTLS). */
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <auth-client.h>
#include <libesmtp.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/log.h>

#include "config.h"
#include "submit.h"

#define LINE_MAX_OUT 400

/* smtp.auth.mechanism, for the session of this child process (set once,
 * before the session starts; each session runs in a child of its own). */
static const char *auth_only;

struct child {
	int fd;                        /* pipe to the parent */
	const struct ag_smtp_config *s;
	const char *host;
	int port;
	bool verbose;
	size_t read_bytes;
	char reason[32];               /* first failure reason seen */
	char why[256];
	bool auth_sent, auth_ok, auth_failed;
	bool tls_ok;
	char password[256];
	struct ag_send_msg *msgs;
	size_t n;
	char rline[512];               /* current server line being assembled (monitor) */
	size_t rlen;
};

static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void emit(struct child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct child *c, const char *fmt, ...)
{
	char line[LINE_MAX_OUT];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	clean(line);
	size_t n = strlen(line);
	line[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(c->fd, line + off, n - off);
		if (w <= 0 && errno != EINTR)
			return;
		if (w > 0)
			off += (size_t)w;
	}
}

static void fail(struct child *c, const char *reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct child *c, const char *reason, const char *fmt, ...)
{
	if (c->reason[0])
		return;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

/* Server lines, one at a time: replies are shown for the test, AUTH
 * outcome is tracked; the byte cap bounds what a hostile relay can make us hold. */
static void server_line(struct child *c, const char *l)
{
	if (c->verbose)
		emit(c, "step reply S: %.200s", l);
	if (c->auth_sent && strlen(l) >= 4 && l[3] == ' ') {
		if (strncmp(l, "235", 3) == 0) {
			c->auth_ok = true;
			c->auth_sent = false;
			if (c->verbose)
				emit(c, "step auth ok");
		} else if (l[0] == '4' || l[0] == '5') {
			c->auth_failed = true;
			c->auth_sent = false;
			fail(c, "smtp.auth",
			     "%s: AUTH %s refused: %.120s (check smtp.auth username and password_file;"
			     " nothing more is sent to this relay)", c->host, auth_only, l);
		}
	}
}

static void monitor_cb(const char *buf, int len, int writing, void *arg)
{
	struct child *c = arg;
	if (writing && c->s->auth != AG_AUTH_NONE && !c->auth_ok && len >= 4 &&
	    strncasecmp(buf, "MAIL", 4) == 0) {
		/* libESMTP goes on to MAIL FROM after a refused (or absent) AUTH:
		 * stop here, before it is written; nothing more goes to this relay */
		if (!c->reason[0])
			fail(c, "smtp.auth", "%s: the relay offers no AUTH %s (smtp.auth.mechanism)",
			     c->host, auth_only);
		emit(c, "fail %s %s", c->reason, c->why);
		_exit(0);
	}
	if (writing) {
		if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0) {
			c->auth_sent = true;
			if (c->verbose)
				emit(c, "step auth C: AUTH %.5s… (credentials not shown)", buf + 5);
		} else if (c->verbose && !c->auth_sent && len >= 4 && writing == 1) {
			char w[80];
			int k = len < 70 ? len : 70;
			memcpy(w, buf, (size_t)k);
			w[k] = '\0';
			char *e = strpbrk(w, "\r\n");
			if (e)
				*e = '\0';
			if (strncasecmp(w, "MAIL", 4) == 0 || strncasecmp(w, "RCPT", 4) == 0 ||
			    strncasecmp(w, "EHLO", 4) == 0 || strncasecmp(w, "STARTTLS", 8) == 0 ||
			    strncasecmp(w, "DATA", 4) == 0 || strncasecmp(w, "QUIT", 4) == 0)
				emit(c, "step C: %s", w);
		}
		return;
	}
	c->read_bytes += (size_t)len;
	if (c->read_bytes > c->s->max_reply_bytes) {
		emit(c, "fail smtp.protocol %s: the relay sent more than %zu bytes of replies in one session",
		     c->host, c->s->max_reply_bytes);
		_exit(3);
	}
	for (int i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '\n') {
			if (c->rlen > 0 && c->rline[c->rlen - 1] == '\r')
				c->rlen--;
			c->rline[c->rlen] = '\0';
			server_line(c, c->rline);
			c->rlen = 0;
		} else if (c->rlen < sizeof(c->rline) - 1) {
			c->rline[c->rlen++] = ch;
		}
	}
}

/* TCP_NODELAY on the session's socket. libESMTP 1.1 has no socket or
 * connect hook and SMTP_EV_CONNECT carries no descriptor, so the socket is
 * found in this (forked, single-session) child: the connected TCP socket
 * whose peer port is the relay's. Without it a small write that follows
 * another (the end of DATA) waits for the relay's delayed ACK (Nagle),
 * about 40 ms per message. Returns 1 when the option is on, 0 otherwise. */
static int set_nodelay(struct child *c)
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
		if (port != c->port)
			continue;
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
 * tickets are taken here, in the handshake's event: a wait for the first
 * flight (bounded: a relay may send none), then whatever else has already
 * arrived. */
#define TICKET_WAIT_MS 300
static void take_tickets(SSL *ssl)
{
	if (SSL_version(ssl) < TLS1_3_VERSION)
		return;
	int fd = SSL_get_rfd(ssl);
	int wait_ms = TICKET_WAIT_MS;
	for (int i = 0; i < 8 && fd >= 0; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, wait_ms) <= 0)
			return;
		char b;
		int r = SSL_peek(ssl, &b, 1);
		if (r > 0 || SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
			return;   /* application data (or an error): libESMTP reads it */
		wait_ms = 0;
	}
}

static void event_cb(smtp_session_t session, int ev, void *arg, ...)
{
	struct child *c = arg;
	va_list ap;
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_CONNECT: {
		int nodelay = set_nodelay(c);
		if (c->verbose)
			emit(c, "step connect ok %s tcp_nodelay=%s", c->host, nodelay ? "on" : "off");
		break;
	}
	case SMTP_EV_STARTTLS_OK: {
		SSL *ssl = va_arg(ap, SSL *);
		const char *cipher = va_arg(ap, const char *);
		c->tls_ok = true;
		take_tickets(ssl);
		if (c->verbose) {
			char subj[256] = "?";
			X509 *peer = SSL_get1_peer_certificate(ssl);
			if (peer) {
				X509_NAME_oneline(X509_get_subject_name(peer), subj, sizeof(subj));
				X509_free(peer);
			}
			char qsubj[TM_LOG_VALUE_MAX + 1]; /* the relay's subject: one escaped value */
			bool cut;
			tm_log_escape(qsubj, sizeof(qsubj), subj, strlen(subj), &cut);
			emit(c, "step tls ok %s %s peer=%s", SSL_get_version(ssl), cipher ? cipher : "", qsubj);
		}
		break;
	}
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		long vr = va_arg(ap, long);
		int *ok = va_arg(ap, int *);
		*ok = 0;
		fail(c, "smtp.certificate", "%s: certificate refused: %s", c->host,
		     X509_verify_cert_error_string(vr));
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		int *ok = va_arg(ap, int *);
		unsigned char ip[16];
		/* libESMTP matches names only. For an IP literal the handshake already
		 * checked the certificate's IP address (X509_VERIFY_PARAM_set1_ip_asc,
		 * verification failures abort the handshake), so that check stands. */
		if (ev == SMTP_EV_WRONG_PEER_CERTIFICATE && !c->reason[0] &&
		    (inet_pton(AF_INET, c->host, ip) == 1 || inet_pton(AF_INET6, c->host, ip) == 1)) {
			*ok = 1;
			break;
		}
		*ok = 0;
		fail(c, "smtp.certificate", "%s: %s", c->host,
		     ev == SMTP_EV_NO_PEER_CERTIFICATE ? "no peer certificate" : "certificate does not match the host name");
		break;
	}
	case SMTP_EV_WEAK_CIPHER: {
		(void)va_arg(ap, int);
		int *ok = va_arg(ap, int *);
		*ok = 0;
		fail(c, "smtp.tls", "%s: weak cipher", c->host);
		break;
	}
	case SMTP_EV_EXTNA_STARTTLS:
		fail(c, "smtp.tls", "%s: the relay does not offer STARTTLS (required)", c->host);
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
		struct child *c = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
		if (c != NULL)
			fail(c, "smtp.certificate", "%s: certificate refused: %s", c->host,
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	}
	return ok;
}

static SSL_CTX *make_ctx(struct child *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	/* TLS 1.2 and 1.3, nothing lower */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, 0);
	if (SSL_CTX_load_verify_locations(ctx, c->s->ca_file, NULL) != 1) {
		fail(c, "smtp.certificate", "%s: cannot load the CA file", c->s->ca_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_app_data(ctx, c);
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
	unsigned char ip[16];
	if (inet_pton(AF_INET, c->host, ip) == 1 || inet_pton(AF_INET6, c->host, ip) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(vp, c->host);
	else
		X509_VERIFY_PARAM_set1_host(vp, c->host, 0);
	return ctx;
}

/* libESMTP owns *ctx (it frees it after the message): a malloc'd "handed out" flag. */
static const char *msg_cb(void **ctx, int *len, void *arg)
{
	struct ag_send_msg *m = arg;
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

/* libESMTP 1.1 takes the first mechanism the relay offers that has a
 * plug-in, and has no call to restrict them (the plug-in flags cannot tell
 * PLAIN from LOGIN). It selects each candidate through this public
 * function, called through the PLT, so the agent's definition is the one
 * it reaches: every name but the configured one is refused, then the call
 * goes on to the library's own. */
typedef int (*set_mechanism_fn)(auth_context_t, const char *);
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
	struct child *c = arg;
	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = c->s->username;
		else if (req[i].flags & AUTH_PASS)
			result[i] = c->password;
		else
			return 0;
	}
	return 1;
}

static int read_password(struct child *c)
{
	FILE *f = fopen(c->s->password_file, "r");
	if (f == NULL) {
		fail(c, "smtp.auth", "%s: cannot read the password file", c->s->password_file);
		return -1;
	}
	size_t n = fread(c->password, 1, sizeof(c->password) - 1, f);
	fclose(f);
	c->password[n] = '\0';
	c->password[strcspn(c->password, "\r\n")] = '\0';
	return 0;
}

static void child_main(struct child *c, const char *rcpt)
{
	smtp_session_t sess = smtp_create_session();
	SSL_CTX *ctx = NULL;
	auth_context_t actx = NULL;
	smtp_message_t *mv = NULL;
	smtp_recipient_t *rv = NULL;
	char hostport[300];
	int port = 25;
	for (size_t i = 0; i < c->s->n_relays; i++)
		if (c->s->relays[i].host == c->host)
			port = c->s->relays[i].port ? c->s->relays[i].port : c->s->port;
	c->port = port;
	snprintf(hostport, sizeof(hostport), "%s:%d", c->host, port);
	if (c->verbose)
		emit(c, "step resolve %s", hostport);
	smtp_set_server(sess, hostport);
	char helo[256];
	if (c->s->helo)
		snprintf(helo, sizeof(helo), "%s", c->s->helo);
	else if (gethostname(helo, sizeof(helo)) != 0)
		snprintf(helo, sizeof(helo), "telemail-agent");
	helo[sizeof(helo) - 1] = '\0';
	smtp_set_hostname(sess, helo);
	long ms = (long)c->s->timeout * 1000;
	for (int w = Timeout_GREETING; w <= Timeout_DATA2; w++)
		smtp_set_timeout(sess, w | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
	smtp_set_eventcb(sess, event_cb, c);
	smtp_set_monitorcb(sess, monitor_cb, c, 0);
	if (c->s->tls == AG_TLS_REQUIRED) {
		ctx = make_ctx(c);
		if (ctx == NULL)
			goto out;
		smtp_starttls_set_ctx(sess, ctx);
		smtp_starttls_enable(sess, Starttls_REQUIRED);
	} else {
		smtp_starttls_enable(sess, Starttls_DISABLED);
	}
	if (c->s->auth != AG_AUTH_NONE) {
		if (read_password(c) != 0)
			goto out;
		auth_only = c->s->auth == AG_AUTH_LOGIN ? "LOGIN" : "PLAIN";
		auth_client_init();
		actx = auth_create_context();
		auth_set_mechanism_flags(actx, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(actx, interact_cb, c);
		smtp_auth_set_context(sess, actx);
	}
	mv = calloc(c->n, sizeof(*mv));
	rv = calloc(c->n, sizeof(*rv));
	if (mv == NULL || rv == NULL) {
		fail(c, "smtp.protocol", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->n; i++) {
		mv[i] = smtp_add_message(sess);
		smtp_set_reverse_path(mv[i], c->s->envelope_sender);
		rv[i] = smtp_add_recipient(mv[i], rcpt);
		smtp_set_messagecb(mv[i], msg_cb, &c->msgs[i]);
	}
	int started = smtp_start_session(sess);
	if (!started && !c->reason[0]) {
		char eb[128];
		smtp_strerror(smtp_errno(), eb, sizeof(eb));
		unsigned long e = ERR_peek_error();
		if (e != 0 && c->s->tls == AG_TLS_REQUIRED && !c->tls_ok)
			fail(c, "smtp.tls", "%s: TLS: %s", hostport,
			     ERR_reason_error_string(e) ? ERR_reason_error_string(e) : eb);
		else if (c->read_bytes == 0)
			fail(c, "smtp.connect", "%s: %s", hostport, eb);
		else
			fail(c, "smtp.protocol", "%s: %s", hostport, eb);
	}
	if (c->s->auth != AG_AUTH_NONE && !c->auth_ok)
		fail(c, "smtp.auth", "%s: AUTH was not completed (not offered or refused)", hostport);
	for (size_t i = 0; i < c->n; i++) {
		const smtp_status_t *st = smtp_reverse_path_status(mv[i]);
		int code = st ? st->code : 0;
		const char *text = st && st->text ? st->text : "";
		if (code < 400) {
			const smtp_status_t *r = smtp_recipient_status(rv[i]);
			if (r && r->code >= 400) {
				code = r->code;
				text = r->text ? r->text : "";
			} else {
				const smtp_status_t *t = smtp_message_transfer_status(mv[i]);
				code = t ? t->code : 0;
				text = t && t->text ? t->text : "";
			}
		}
		if (code != 0)
			emit(c, "msg %zu %d %.200s", i, code, text);
	}
out:
	if (c->reason[0])
		emit(c, "fail %s %s", c->reason, c->why);
	free(mv);
	free(rv);
	smtp_destroy_session(sess);
	if (actx)
		auth_destroy_context(actx);
	SSL_CTX_free(ctx);
}

/* Parent side: run one session against one relay; fill results of the
 * messages still pending. Returns 0 when the session ran, -1 with err. */
static int run_relay(const struct ag_smtp_config *s, const char *host, const char *rcpt,
		     struct ag_send_msg *msgs, size_t n, ag_step_fn step, void *arg,
		     struct tm_error *err)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return tm_error_set(err, "internal.library", "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return tm_error_set(err, "internal.library", "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);
		struct child c;
		memset(&c, 0, sizeof(c));
		c.fd = pfd[1];
		c.s = s;
		c.host = host;
		c.verbose = step != NULL;
		c.msgs = msgs;
		c.n = n;
		child_main(&c, rcpt);
		_exit(0);
	}
	close(pfd[1]);
	/* hard deadline for the whole session */
	int64_t budget_ms = (int64_t)s->timeout * 1000 * (int64_t)(6 + 2 * n);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct tm_buf acc;
	tm_buf_init(&acc);
	bool killed = false, session_failed = false;
	char reason[32] = "", why[300] = "";
	for (;;) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int64_t el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= budget_ms) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int pr = poll(&p, 1, (int)(budget_ms - el));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		char buf[4096];
		ssize_t r = read(pfd[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (acc.len + (size_t)r > (1u << 20)) {   /* the child is ours, but stay bounded */
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		tm_buf_append(&acc, buf, (size_t)r);
		char *nl;
		while (acc.len > 0 && (nl = memchr(acc.data, '\n', acc.len)) != NULL) {
			*nl = '\0';
			char *line = (char *)acc.data;
			if (strncmp(line, "step ", 5) == 0 && step) {
				step(arg, line + 5);
			} else if (strncmp(line, "msg ", 4) == 0) {
				size_t i;
				int code, off = 0;
				if (sscanf(line + 4, "%zu %d %n", &i, &code, &off) >= 2 && i < n &&
				    msgs[i].result == AG_SEND_PENDING) {
					msgs[i].code = code;
					snprintf(msgs[i].reply, sizeof(msgs[i].reply), "%d %s", code, line + 4 + off);
					if (code >= 200 && code < 300)
						msgs[i].result = AG_SEND_OK;
					else if (code >= 500 && code < 600)
						msgs[i].result = AG_SEND_REJECTED;
				}
			} else if (strncmp(line, "fail ", 5) == 0 && !session_failed) {
				session_failed = true;
				sscanf(line + 5, "%31s", reason);
				const char *w = strchr(line + 5, ' ');
				snprintf(why, sizeof(why), "%s", w ? w + 1 : "");
			}
			size_t used = (size_t)(nl - (char *)acc.data) + 1;
			memmove(acc.data, acc.data + used, acc.len - used);
			acc.len -= used;
		}
	}
	close(pfd[0]);
	int wst;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	tm_buf_fini(&acc);
	if (session_failed) {
		/* a refused AUTH or TLS/certificate failure: a 5xx seen after it is not trusted
		 * to be about the message; only 2xx answers stand */
		for (size_t i = 0; i < n; i++)
			if (msgs[i].result == AG_SEND_REJECTED) {
				msgs[i].result = AG_SEND_PENDING;
				msgs[i].code = 0;
			}
		if (tm_reason_lookup(reason) == NULL)
			snprintf(reason, sizeof(reason), "smtp.protocol");
		return tm_error_set(err, reason, "%s", why);
	}
	if (killed)
		return tm_error_set(err, "smtp.protocol", "%s: session exceeded its deadline of %lld s",
				    host, (long long)(budget_ms / 1000));
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		return tm_error_set(err, "smtp.protocol", "%s: session ended abnormally", host);
	return 0;
}

int ag_submit(const struct ag_smtp_config *s, const char *rcpt, struct ag_send_msg *msgs,
	      size_t n, ag_step_fn step, void *arg, struct tm_error *err)
{
	for (size_t i = 0; i < n; i++) {
		msgs[i].result = AG_SEND_PENDING;
		msgs[i].code = 0;
		msgs[i].reply[0] = '\0';
	}
	bool any_final = false;
	struct tm_error last = { 0 };
	for (size_t r = 0; r < s->n_relays; r++) {
		size_t pending = 0;
		for (size_t i = 0; i < n; i++)
			if (msgs[i].result == AG_SEND_PENDING || msgs[i].result == AG_SEND_RETRY)
				pending++;
		if (pending == 0)
			break;
		/* the messages still pending go to this relay, in order */
		struct ag_send_msg *sub = calloc(pending, sizeof(*sub));
		size_t *map = calloc(pending, sizeof(*map));
		if (sub == NULL || map == NULL) {
			free(sub);
			free(map);
			return tm_error_set(err, "internal.nomem", "out of memory");
		}
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (msgs[i].result == AG_SEND_PENDING || msgs[i].result == AG_SEND_RETRY) {
				sub[k].data = msgs[i].data;
				sub[k].len = msgs[i].len;
				map[k++] = i;
			}
		if (step)
			step(arg, "relay try");
		tm_error_clear(&last);
		int rc = run_relay(s, s->relays[r].host, rcpt, sub, k, step, arg, &last);
		bool any_transient = false;
		for (size_t j = 0; j < k; j++) {
			struct ag_send_msg *m = &msgs[map[j]];
			m->code = sub[j].code;
			memcpy(m->reply, sub[j].reply, sizeof(m->reply));
			if (sub[j].result == AG_SEND_OK || sub[j].result == AG_SEND_REJECTED) {
				m->result = sub[j].result;
				any_final = true;
			} else {
				m->result = AG_SEND_RETRY;
				any_transient = true;
			}
		}
		free(sub);
		free(map);
		if (rc == 0 && any_transient && last.reason == NULL) {
			const char *reply = NULL;
			for (size_t j = 0; j < n && reply == NULL; j++)
				if (msgs[j].result == AG_SEND_RETRY && msgs[j].reply[0])
					reply = msgs[j].reply;
			if (reply != NULL)
				tm_error_set(&last, "smtp.transient", "%s: %s", s->relays[r].host, reply);
			else
				tm_error_set(&last, "smtp.protocol",
					     "%s: no final answer to the message (timeout or connection lost)",
					     s->relays[r].host);
		}
		if (rc == 0 && !any_transient)
			break;
	}
	for (size_t i = 0; i < n; i++)
		if (msgs[i].result == AG_SEND_PENDING)
			msgs[i].result = AG_SEND_RETRY;
	if (!any_final) {
		if (err) {
			if (last.reason)
				*err = last;
			else
				tm_error_set(err, "smtp.connect", "no relay accepted a session");
		}
		return -1;
	}
	if (err && last.reason)
		*err = last;
	return 0;
}

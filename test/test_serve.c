/* (Over 800 lines: one test file per module, STYLE.md; each case starts the
 * real daemon, and the shared start/stop/log helpers are most of the rest.)
 *
 * telemail-mailgw serve, the real daemon on loopback: swaks, raw clients for
 * the attacks, STARTTLS, limits, LMTP, Maildir, SIGHUP, spool recovery,
 * Postfix smtp-source load, and kill -9 under load (every 250 kept). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/ssl.h>

#include <telemail/buf.h>
#include <telemail/digest.h>

#include "common.h"
#include "config/config.h"
#include "smtp/listener.h"
#include "spool/spool.h"

#define MAILBOX "telemail@gateway.example"

struct gw {
	char *dir;       /* tmp dir: mailgw.yaml, pki link, state/ */
	char log[600];
	char conf[600];
	char bin[600];
	pid_t pid;
	unsigned port;
};

static struct gw G;

static void fini(void)
{
	if (G.pid > 0) {
		kill(G.pid, SIGKILL);
		waitpid(G.pid, NULL, 0);
	}
	tm_test_rmtree(G.dir);
	free(G.dir);
}

/* A state directory with the .eml fixtures' configuration and registry,
 * plus `extra` YAML (listen:, spool: ...). */
static void setup_gw(const char *extra)
{
	memset(&G, 0, sizeof(G));
	G.dir = tm_test_tmpdir();
	const char *b = getenv("TM_BUILDDIR");
	snprintf(G.bin, sizeof(G.bin), "%s/mailgw/telemail-mailgw", b ? b : ".");
	snprintf(G.conf, sizeof(G.conf), "%s/mailgw.yaml", G.dir);
	snprintf(G.log, sizeof(G.log), "%s/serve.log", G.dir);
	char *eml = tm_test_src("eml");
	cr_assert_eq(tm_test_sh("cp '%s/mailgw-test.yaml' '%s' && ln -s '%s/pki' '%s/pki' && "
				"printf 'state_dir: state\\n' >> '%s'", eml, G.conf, eml, G.dir, G.conf), 0);
	FILE *f = fopen(G.conf, "a");
	cr_assert_not_null(f);
	fputs(extra, f);
	fclose(f);
	cr_assert_eq(tm_test_sh("cd '%s' && grep -v '^#' '%s/registry.setup' | grep . | "
				"while read l; do '%s' -c mailgw.yaml $l >/dev/null || exit 1; done",
				G.dir, eml, G.bin), 0, "registry setup");
	free(eml);
}

#define LISTEN_TLS "listen:\n  smtp: 127.0.0.1:0\n  hostname: gw.test\n" \
		   "  tls: {cert: pki/gw-ec.pem, key: pki/gw-ec.key}\n"

static bool log_has(const char *needle)
{
	struct tm_buf b;
	tm_buf_init(&b);
	struct tm_error err = {0};
	bool found = tm_buf_read_file(&b, G.log, 64u << 20, &err) == 0 && b.data != NULL &&
		     strstr((char *)b.data, needle) != NULL;
	tm_buf_fini(&b);
	return found;
}

/* Wait (bounded) for a line in the daemon's log. */
static bool wait_log(const char *needle, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		if (log_has(needle))
			return true;
		usleep(50000);
	}
	return false;
}

static void start_gw(const char *args)
{
	unlink(G.log); /* no line of an earlier run may be taken for this one */
	G.pid = fork();
	cr_assert_neq(G.pid, -1);
	if (G.pid == 0) {
		char cmd[2000];
		snprintf(cmd, sizeof(cmd), "cd '%s' && exec '%s' -c mailgw.yaml serve %s >'%s' 2>&1",
			 G.dir, G.bin, args ? args : "", G.log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	G.port = 0;
	for (int i = 0; i < 600 && G.port == 0; i++) {
		struct tm_buf b;
		tm_buf_init(&b);
		struct tm_error err = {0};
		if (tm_buf_read_file(&b, G.log, 64u << 20, &err) == 0 && b.data != NULL) {
			/* the newest "listening" line */
			const char *p = NULL, *q = (char *)b.data;
			while ((q = strstr(q, "event=listening proto=smtp")) != NULL)
				p = q++;
			const char *port = p ? strstr(p, "port=") : NULL;
			const char *nl = port ? strchr(port, '\n') : NULL;
			if (nl != NULL && nl - port > 5)
				G.port = (unsigned)atoi(port + 5);
		}
		tm_buf_fini(&b);
		if (G.port == 0) {
			int st;
			if (waitpid(G.pid, &st, WNOHANG) != 0) {
				struct tm_buf lb;
				struct tm_error le = {0};
				tm_buf_init(&lb);
				tm_buf_read_file(&lb, G.log, 64u << 20, &le);
				const char *tail = lb.len > 800 ? (char *)lb.data + lb.len - 800
								: lb.data ? (char *)lb.data : "";
				cr_assert_fail("the daemon exited; the end of its log:\n%s", tail);
			}
			usleep(50000);
		}
	}
	cr_assert_neq(G.port, 0, "the daemon did not start listening");
}

/* SIGTERM and wait (bounded); returns the exit status. */
static int stop_gw(void)
{
	kill(G.pid, SIGTERM);
	int st = -1;
	for (int i = 0; i < 600; i++) {
		if (waitpid(G.pid, &st, WNOHANG) == G.pid) {
			G.pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		usleep(50000);
	}
	kill(G.pid, SIGKILL);
	waitpid(G.pid, NULL, 0);
	G.pid = 0;
	cr_assert_fail("the daemon did not stop on SIGTERM");
	return -1;
}

/* A value of the daemon's status file. */
static long status_value(const char *key)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/state/mailgw.status", G.dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[160];
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == '=')
			v = atol(line + kl + 1);
	fclose(f);
	return v;
}

static bool wait_status(const char *key, long want, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		if (status_value(key) >= want)
			return true;
		usleep(50000);
	}
	return false;
}

/* ---- a raw client ---- */

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)G.port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		cr_assert_gt(w, 0, "send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Read into `out` (appending) until it holds `until` (NULL: EOF) or the
 * time runs out. */
static bool read_until(int fd, struct tm_buf *out, const char *until, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (until != NULL && out->data != NULL && strstr((char *)out->data, until) != NULL)
			return true;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		char buf[4096];
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			return until == NULL;
		tm_buf_append(out, buf, (size_t)r);
	}
	return false;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay ? strstr(hay, needle) : NULL; p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static int swaks(struct tm_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int swaks(struct tm_buf *out, const char *fmt, ...)
{
	char args[1500], cmd[2500], path[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/swaks.out", G.dir);
	snprintf(cmd, sizeof(cmd), "timeout 60 swaks --server 127.0.0.1:%u --helo dev.example "
		 "--from xk1@devices.example %s >'%s' 2>&1", G.port, args, path);
	int st = system(cmd);
	tm_buf_reset(out);
	tm_test_read(path, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TestSuite(serve, .fini = fini, .timeout = 240);

Test(serve, swaks_pipelining_delivers_to_the_store)
{
	setup_gw(LISTEN_TLS);
	start_gw(NULL);
	struct tm_buf o;
	tm_buf_init(&o);
	char *eml = tm_test_src("eml/replay/01-ec-opaque.eml");
	int rc = swaks(&o, "--to " MAILBOX " --pipeline --data @%s", eml);
	cr_assert_eq(rc, 0, "%s", o.data);
	cr_assert_not_null(strstr((char *)o.data, "250-PIPELINING"));
	cr_assert_not_null(strstr((char *)o.data, "250-STARTTLS"));
	cr_assert_not_null(strstr((char *)o.data, "250 2.0.0 Ok: queued as "), "%s", o.data);
	cr_assert(wait_status("stored", 1, 60), "stored: %ld", status_value("stored"));
	cr_assert(wait_log("outcome=stored device=XK100001", 10));
	/* the pipeline's threads (a worker at least, and the writer) run at
	 * niceness 10; the main thread, which runs the listener, at 0 */
	cr_assert_eq(tm_test_sh("test \"$(awk '{print $19}' /proc/%ld/task/*/stat | grep -cx 10)\" -ge 2 && "
				"test \"$(awk '{print $19}' /proc/%ld/stat)\" = 0",
				(long)G.pid, (long)G.pid), 0, "thread priorities");
	/* the same message again: a duplicate, stored once */
	cr_assert_eq(swaks(&o, "--to " MAILBOX " --data @%s", eml), 0);
	cr_assert(wait_status("duplicate", 1, 60));
	cr_assert_eq(stop_gw(), 0);
	cr_assert(log_has("gw serve event=stopped stored=1 duplicate=1"));
	/* status after the daemon stopped: empty spool, counters of the last run */
	cr_assert_eq(tm_test_sh("cd '%s' && '%s' -c mailgw.yaml status > st.out && "
				"grep -q 'not running' st.out && grep -q 'spool .* 0 messages' st.out && "
				"grep -q '^stored  *1$' st.out && grep -q 'store .*: ok' st.out",
				G.dir, G.bin), 0);
	free(eml);
	tm_buf_fini(&o);
}

/* swaks as the client over STARTTLS: with require_tls, plain MAIL gets 530
 * and the same message over TLS is accepted and stored. */
Test(serve, swaks_starttls_and_require_tls)
{
	setup_gw(LISTEN_TLS "  require_tls: true\n");
	start_gw(NULL);
	struct tm_buf o;
	tm_buf_init(&o);
	char *eml = tm_test_src("eml/replay/01-ec-opaque.eml");
	cr_assert_neq(swaks(&o, "--to " MAILBOX " --data @%s", eml), 0);
	cr_assert_not_null(strstr((char *)o.data, "530 5.7.0"), "%s", o.data);
	int rc = swaks(&o, "--to " MAILBOX " --tls --data @%s", eml);
	cr_assert_eq(rc, 0, "%s", o.data);
	cr_assert_not_null(strstr((char *)o.data, "220 2.0.0 Ready to start TLS"), "%s", o.data);
	cr_assert_not_null(strstr((char *)o.data, "TLS started"), "%s", o.data);
	cr_assert_not_null(strstr((char *)o.data, "250 2.0.0 Ok: queued as "), "%s", o.data);
	cr_assert(wait_status("stored", 1, 60), "stored: %ld", status_value("stored"));
	cr_assert(log_has("event=tls version=TLSv1."));
	cr_assert_eq(stop_gw(), 0);
	free(eml);
	tm_buf_fini(&o);
}

Test(serve, swaks_wrong_recipient_and_size_limit)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n  max_message_size: 2048\n");
	start_gw(NULL);
	struct tm_buf o;
	tm_buf_init(&o);
	cr_assert_neq(swaks(&o, "--to victim@elsewhere.example"), 0);
	cr_assert_not_null(strstr((char *)o.data, "550 5.7.1 <victim@elsewhere.example>: Recipient "
					     "address rejected"), "%s", o.data);
	cr_assert_neq(swaks(&o, "--to " MAILBOX " --body \"$(yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -n 60)\""), 0);
	cr_assert_not_null(strstr((char *)o.data, "250-SIZE 2048"), "%s", o.data);
	cr_assert_not_null(strstr((char *)o.data, "552 5.3.4 Message size exceeds the limit of 2048"),
			   "%s", o.data);
	/* VRFY is answered 252, never a directory of mailboxes */
	int fd = dial();
	struct tm_buf r;
	tm_buf_init(&r);
	cr_assert(read_until(fd, &r, "220 ", 20));
	send_all(fd, "EHLO x\r\nVRFY root\r\nQUIT\r\n", 25);
	cr_assert(read_until(fd, &r, NULL, 20));
	cr_assert_not_null(strstr((char *)r.data, "252 2.5.0"), "%s", r.data);
	close(fd);
	cr_assert_eq(status_value("messages_accepted") <= 0, 1);
	cr_assert_eq(stop_gw(), 0);
	tm_buf_fini(&o);
	tm_buf_fini(&r);
}

/* A log line cannot be forged: the Message-ID (outside the encryption), the EHLO name
 * and MAIL FROM are a peer's text that spells out keys; each is one escaped value, and
 * the message's line has one outcome=, the real one (quarantined, device unknown). */
#define FORGED_MSGID "<x outcome=stored device=XK100001 report=abc x@y>"
Test(serve, forged_message_id_and_envelope_add_no_key_to_the_log)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n");
	start_gw(NULL);
	/* 16-unknown-device: quarantined (device.unknown), with the forged Message-ID */
	char *src = tm_test_src("eml/replay/16-unknown-device.eml");
	struct tm_buf eml, msg;
	tm_buf_init(&eml);
	tm_buf_init(&msg);
	tm_test_read(src, &eml);
	free(src);
	const char *mid = strstr((char *)eml.data, "\r\nMessage-ID: ");
	cr_assert_not_null(mid);
	const char *eol = strstr(mid + 2, "\r\n");
	tm_buf_append(&msg, eml.data, (size_t)(mid - (char *)eml.data));
	tm_buf_append_str(&msg, "\r\nMessage-ID: " FORGED_MSGID);
	tm_buf_append_str(&msg, eol);

	int fd = dial();
	struct tm_buf r;
	tm_buf_init(&r);
	cr_assert(read_until(fd, &r, "220 ", 20));
	/* a space cannot even reach the log: the session refuses it */
	const char *spaced = "EHLO x outcome=stored\r\n";
	send_all(fd, spaced, strlen(spaced));
	cr_assert(read_until(fd, &r, "501 ", 20), "%s", r.data);
	const char *env = "EHLO dev\"outcome=stored\r\nMAIL FROM:<dev\"=outcome=stored@x>\r\n"
			  "RCPT TO:<" MAILBOX ">\r\nDATA\r\n";
	send_all(fd, env, strlen(env));
	cr_assert(read_until(fd, &r, "354 ", 20), "%s", r.data);
	send_all(fd, (const char *)msg.data, msg.len);
	send_all(fd, ".\r\nQUIT\r\n", strlen(".\r\nQUIT\r\n"));
	cr_assert(read_until(fd, &r, NULL, 30));
	close(fd);
	cr_assert_not_null(strstr((char *)r.data, "queued as"), "%s", r.data);
	cr_assert(wait_log("gw message ", 30));
	cr_assert_eq(stop_gw(), 0);

	struct tm_buf log;
	tm_buf_init(&log);
	tm_test_read(G.log, &log);
	char v[600];
	char *line = tm_test_log_line((char *)log.data, "gw message ");
	cr_assert_not_null(line);
	cr_assert_eq(tm_test_log_field(line, "outcome", v, sizeof(v)), 1, "one outcome: %s", line);
	cr_assert_eq(strncmp(v, "quarantined", 11), 0, "the real outcome: %s", line);
	cr_assert_eq(tm_test_log_field(line, "device", v, sizeof(v)), 1, "%s", line);
	cr_assert_str_eq(v, "XK300001", "%s", line);
	cr_assert_eq(tm_test_log_field(line, "report", v, sizeof(v)), 1, "%s", line);
	cr_assert_neq(strcmp(v, "abc"), 0, "%s", line);
	cr_assert_eq(tm_test_log_field(line, "message_id", v, sizeof(v)), 1, "%s", line);
	cr_assert_not_null(strstr(v, "x outcome=stored device=XK100001 report=abc x@y"),
			   "the Message-ID, whole, as one value: %s", line);
	cr_assert_not_null(strstr(line, "message_id=\""), "quoted: %s", line);
	free(line);

	line = tm_test_log_line((char *)log.data, "event=message");
	cr_assert_not_null(line);
	cr_assert_eq(tm_test_log_field(line, "result", v, sizeof(v)), 1, "%s", line);
	cr_assert_str_eq(v, "queued");
	cr_assert_eq(tm_test_log_field(line, "helo", v, sizeof(v)), 1, "%s", line);
	cr_assert_str_eq(v, "dev\"outcome=stored", "%s", line);
	cr_assert_eq(tm_test_log_field(line, "from", v, sizeof(v)), 1, "%s", line);
	cr_assert_str_eq(v, "<dev\"=outcome=stored@x>", "%s", line);
	cr_assert_eq(tm_test_log_field(line, "outcome", v, sizeof(v)), 0, "%s", line);
	cr_assert_not_null(strstr(line, " helo=\"dev\\\"outcome=stored\""), "escaped: %s", line);
	free(line);
	tm_buf_fini(&log);
	tm_buf_fini(&r);
	tm_buf_fini(&msg);
	tm_buf_fini(&eml);
}

/* SMTP smuggling over a real socket: \n.\n then a hidden message. */
Test(serve, smuggled_message_is_never_accepted)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n");
	start_gw(NULL);
	int fd = dial();
	struct tm_buf r;
	tm_buf_init(&r);
	cr_assert(read_until(fd, &r, "220 ", 20));
	const char *env = "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<" MAILBOX ">\r\nDATA\r\n";
	send_all(fd, env, strlen(env));
	cr_assert(read_until(fd, &r, "354 ", 20), "%s", r.data);
	const char *body = "Subject: outer\r\n\r\nouter\n.\nMAIL FROM:<ceo@victim.example>\r\n"
			   "RCPT TO:<" MAILBOX ">\r\nDATA\r\nSubject: smuggled\r\n\r\nhidden\r\n.\r\nQUIT\r\n";
	send_all(fd, body, strlen(body));
	cr_assert(read_until(fd, &r, NULL, 30));
	close(fd);
	cr_assert_not_null(strstr((char *)r.data, "554 5.5.2 bare <CR> or <LF> in the message"), "%s", r.data);
	cr_assert_eq(count((char *)r.data, "250 2.1.0"), 1, "%s", r.data);
	cr_assert_eq(count((char *)r.data, "queued as"), 0, "%s", r.data);
	cr_assert(wait_log("event=message result=refused reason=smtpd.bare_newline", 10));
	cr_assert(wait_log("refused=1 last_reason=smtpd.bare_newline", 10));
	cr_assert_eq(stop_gw(), 0);
	cr_assert_eq(tm_test_sh("test -z \"$(ls -A '%s/state/spool/new')\"", G.dir), 0, "nothing spooled");
	tm_buf_fini(&r);
}

/* STARTTLS with plaintext injected behind it in the same packet. */
Test(serve, starttls_injection_and_tls_session)
{
	setup_gw(LISTEN_TLS);
	start_gw(NULL);
	int fd = dial();
	struct tm_buf r;
	tm_buf_init(&r);
	cr_assert(read_until(fd, &r, "220 ", 20));
	send_all(fd, "EHLO x\r\n", 8);
	cr_assert(read_until(fd, &r, "250 ENHANCEDSTATUSCODES\r\n", 20));
	tm_buf_reset(&r);
	const char *pkt = "STARTTLS\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<" MAILBOX ">\r\n";
	send_all(fd, pkt, strlen(pkt));
	/* exactly the 220 comes back in plaintext, nothing for the injected lines */
	char buf[64];
	size_t got = 0;
	while (got < 30) {
		ssize_t n = recv(fd, buf + got, 30 - got, 0);
		cr_assert_gt(n, 0);
		got += (size_t)n;
	}
	cr_assert(memcmp(buf, "220 2.0.0 Ready to start TLS\r\n", 30) == 0);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	cr_assert_eq(SSL_connect(ssl), 1, "the handshake was not disturbed by the injected bytes");
	cr_assert_geq(SSL_version(ssl), TLS1_2_VERSION);
	const char *after = "MAIL FROM:<a@b>\r\nEHLO x\r\nQUIT\r\n";
	SSL_write(ssl, after, (int)strlen(after));
	for (int i = 0; i < 100; i++) {
		int n = SSL_read(ssl, buf, sizeof(buf) - 1);
		if (n <= 0)
			break;
		tm_buf_append(&r, buf, (size_t)n);
	}
	const char *o = (char *)r.data;
	cr_assert(strncmp(o, "503 5.5.1 send EHLO/HELO first\r\n", 32) == 0,
		  "state reset after the handshake; the injected MAIL never ran: %s", o);
	cr_assert_null(strstr(o, "STARTTLS"), "not offered inside TLS: %s", o);
	cr_assert_not_null(strstr(o, "221 2.0.0 Bye"), "%s", o);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	cr_assert(wait_log("event=tls version=TLSv1.", 10));
	cr_assert_eq(stop_gw(), 0);
	tm_buf_fini(&r);
}

Test(serve, require_tls_networks_and_connection_limits)
{
	setup_gw(LISTEN_TLS "  require_tls: true\n  max_per_address: 2\n");
	start_gw(NULL);
	struct tm_buf o;
	tm_buf_init(&o);
	swaks(&o, "--to " MAILBOX);
	cr_assert_not_null(strstr((char *)o.data, "530 5.7.0 Must issue a STARTTLS command first"),
			   "%s", o.data);
	int a = dial(), b = dial();
	struct tm_buf r;
	tm_buf_init(&r);
	cr_assert(read_until(a, &r, "220 ", 20));
	cr_assert(read_until(b, &r, "220 gw.test ESMTP telemail\r\n220 ", 20));
	int c = dial();
	tm_buf_reset(&r);
	cr_assert(read_until(c, &r, NULL, 20));
	cr_assert_str_eq((char *)r.data, "421 4.7.0 Too many connections, try later\r\n");
	close(a), close(b), close(c);
	cr_assert_eq(stop_gw(), 0);

	setup_gw("listen:\n  smtp: 127.0.0.1:0\n  client_networks: [192.0.2.0/24, '2001:db8::/32']\n");
	start_gw(NULL);
	int d = dial();
	tm_buf_reset(&r);
	cr_assert(read_until(d, &r, NULL, 20));
	cr_assert_str_eq((char *)r.data, "554 5.7.1 Access denied: not in client_networks\r\n");
	close(d);
	cr_assert(wait_log("event=refused peer=127.0.0.1 reason=smtpd.access_denied", 10));
	cr_assert_eq(stop_gw(), 0);
	tm_buf_fini(&o);
	tm_buf_fini(&r);
}

/* A client sending one octet at a time is served; a silent one is timed
 * out; the daemon keeps serving others meanwhile. */
Test(serve, slow_and_silent_clients)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n  timeouts: {command: 2s, data: 2s}\n");
	start_gw(NULL);
	int silent = dial();
	int slow = dial();
	struct tm_buf r, s;
	tm_buf_init(&r);
	tm_buf_init(&s);
	const char *script = "EHLO slow\r\nMAIL FROM:<a@b>\r\nRCPT TO:<" MAILBOX ">\r\nDATA\r\n"
			     "Subject: slow\r\n\r\none octet at a time\r\n.\r\nQUIT\r\n";
	for (const char *p = script; *p; p++) {
		send_all(slow, p, 1);
		usleep(2000);
	}
	cr_assert(read_until(slow, &s, NULL, 30));
	cr_assert_not_null(strstr((char *)s.data, "250 2.0.0 Ok: queued as"), "%s", s.data);
	/* meanwhile the silent one was cut: 421 after its 2 s */
	cr_assert(read_until(silent, &r, NULL, 30));
	cr_assert_not_null(strstr((char *)r.data, "421 4.4.2 Error: timeout exceeded"), "%s", r.data);
	close(silent);
	close(slow);
	/* a slowloris on one line: the line never completes, the timer is not reset */
	int loris = dial();
	tm_buf_reset(&r);
	cr_assert(read_until(loris, &r, "220 ", 10));
	for (int i = 0; i < 40; i++) {
		if (send(loris, "N", 1, MSG_NOSIGNAL) <= 0)
			break;
		usleep(100000);
	}
	cr_assert(read_until(loris, &r, NULL, 30));
	cr_assert_not_null(strstr((char *)r.data, "421 4.4.2"), "%s", r.data);
	close(loris);
	cr_assert_eq(stop_gw(), 0);
	tm_buf_fini(&r);
	tm_buf_fini(&s);
}

Test(serve, spool_quota_gives_452)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\nspool:\n  quota_bytes: 100\n");
	start_gw(NULL);
	struct tm_buf o;
	tm_buf_init(&o);
	cr_assert_neq(swaks(&o, "--to " MAILBOX " --body 'a body longer than one hundred octets, "
				"a body longer than one hundred octets, a body longer than 100'"), 0);
	cr_assert_not_null(strstr((char *)o.data, "452 4.3.1 Message not accepted: the spool holds 0 "
					     "octets (quota 100)"), "%s", o.data);
	cr_assert_eq(stop_gw(), 0);
	cr_assert(log_has("result=deferred reason=spool.full"));
	tm_buf_fini(&o);
}

Test(serve, lmtp_unix_socket)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n  lmtp: lmtp.sock\n");
	start_gw(NULL);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/lmtp.sock", G.dir);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	struct tm_buf r;
	tm_buf_init(&r);
	cr_assert(read_until(fd, &r, "220 ", 20));
	cr_assert_not_null(strstr((char *)r.data, "LMTP"), "%s", r.data);
	char *eml = tm_test_src("eml/replay/02-ec-detached.eml");
	struct tm_buf m;
	tm_buf_init(&m);
	tm_test_read(eml, &m);
	const char *env = "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<" MAILBOX ">\r\nRCPT TO:<" MAILBOX ">\r\nDATA\r\n";
	send_all(fd, env, strlen(env));
	cr_assert(read_until(fd, &r, "354 ", 20), "%s", r.data);
	/* the fixture has CRLF or LF line ends: send CRLF, dot-stuffed */
	struct tm_buf d;
	tm_buf_init(&d);
	bool bol = true;
	for (size_t i = 0; i < m.len; i++) {
		if (bol && m.data[i] == '.')
			tm_buf_append(&d, ".", 1);
		if (m.data[i] == '\n' && (i == 0 || m.data[i - 1] != '\r'))
			tm_buf_append(&d, "\r", 1);
		tm_buf_append(&d, &m.data[i], 1);
		bol = m.data[i] == '\n';
	}
	tm_buf_append_str(&d, bol ? ".\r\nQUIT\r\n" : "\r\n.\r\nQUIT\r\n");
	send_all(fd, (char *)d.data, d.len);
	cr_assert(read_until(fd, &r, NULL, 30));
	cr_assert_eq(count((char *)r.data, "250 2.0.0 Ok: queued as"), 2, "one reply per recipient: %s", r.data);
	close(fd);
	cr_assert(wait_status("stored", 1, 60));
	cr_assert_eq(stop_gw(), 0);
	cr_assert_eq(tm_test_sh("test ! -e '%s/lmtp.sock'", G.dir), 0, "socket removed at exit");
	free(eml);
	tm_buf_fini(&m);
	tm_buf_fini(&d);
	tm_buf_fini(&r);
}

Test(serve, maildir_intake_and_spool_recovery)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n");
	char *eml = tm_test_src("eml/replay");
	/* a complete spool file and an incomplete one, left by a crash */
	cr_assert_eq(tm_test_sh("mkdir -p '%s/state/spool/new' '%s/state/spool/tmp' '%s/md/new' "
				"'%s/md/tmp' '%s/md/cur' && cp '%s/01-ec-opaque.eml' '%s/state/spool/new/0001' && "
				"printf 'half a mess' > '%s/state/spool/tmp/0002' && "
				"cp '%s/03-rsa-gw-opaque.eml' '%s/md/new/1700000000.1.host'",
				G.dir, G.dir, G.dir, G.dir, G.dir, eml, G.dir, G.dir, eml, G.dir), 0);
	char args[700];
	snprintf(args, sizeof(args), "--maildir '%s/md'", G.dir);
	start_gw(args);
	cr_assert(wait_log("recovered=1 discarded=1", 10));
	cr_assert(wait_status("stored", 2, 60), "stored %ld", status_value("stored"));
	cr_assert_eq(tm_test_sh("test -z \"$(ls -A '%s/md/new')\"", G.dir), 0, "moved out of the Maildir");
	cr_assert_eq(stop_gw(), 0);
	cr_assert_eq(tm_test_sh("test -z \"$(ls -A '%s/state/spool/new' '%s/state/spool/tmp' | grep -v :)\"",
				G.dir, G.dir), 0, "spool empty");
	free(eml);
}

/* Issue 14, item 13: a Maildir file over listen.max_message_size gets its
 * outcome like any bad message (quarantined, io.too_large, its first octets
 * and the SHA-256 and size of all of it kept) and leaves new/; it used to
 * stay there, logged every half second. A good message beside it is stored. */
Test(serve, maildir_oversize_file_is_quarantined)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n  max_message_size: 20000\n");
	char *eml = tm_test_src("eml/replay");
	cr_assert_eq(tm_test_sh("mkdir -p '%s/md/new' '%s/md/tmp' '%s/md/cur' && "
				"cp '%s/01-ec-opaque.eml' '%s/md/new/1700000000.1.host' && "
				"head -c 100000 /dev/zero | tr '\\0' x > '%s/md/new/1700000000.2.host'",
				G.dir, G.dir, G.dir, eml, G.dir, G.dir), 0);
	struct tm_buf big;
	tm_buf_init(&big);
	char path[700], sha[65];
	snprintf(path, sizeof(path), "%s/md/new/1700000000.2.host", G.dir);
	tm_test_read(path, &big);
	cr_assert_eq(big.len, 100000);
	tm_sha256_hex(big.data, big.len, sha);
	char args[700];
	snprintf(args, sizeof(args), "--maildir '%s/md'", G.dir);
	start_gw(args);
	cr_assert(wait_status("quarantined", 1, 30), "quarantined %ld", status_value("quarantined"));
	cr_assert(wait_status("stored", 1, 60), "stored %ld", status_value("stored"));
	char line[300];
	snprintf(line, sizeof(line), "gw message qid=maildir/1700000000.2.host message_id=- "
		 "outcome=quarantined:io.too_large device=- report=- quarantine=%s size=100000 "
		 "kept=65536", sha);
	cr_assert(wait_log(line, 10), "no outcome line: %s", line);
	cr_assert_eq(tm_test_sh("test -z \"$(ls -A '%s/md/new')\"", G.dir), 0, "left in new/");
	usleep(1200000); /* two polls more: nothing about it is logged again */
	cr_assert(!log_has("reason=io.too_large detail"), "the file is still reported");
	cr_assert_eq(status_value("quarantined"), 1);
	cr_assert_eq(stop_gw(), 0);
	/* the quarantine entry, and its message-log row */
	cr_assert_eq(tm_test_sh("cd '%s' && '%s' -c mailgw.yaml quarantine show %.16s > q.out && "
				"grep -q '\"reason\": \"io.too_large\"' q.out && "
				"grep -q '\"size\": 100000' q.out && "
				"grep -q 'raw message (the first 65536 of 100000 bytes)' q.out && "
				"test \"$(sqlite3 state/telemail.db \"SELECT outcome || ' ' || reason || ' ' || "
				"quarantine_id FROM message_log WHERE raw_sha256 = '%s'\")\" = "
				"'quarantined io.too_large %s'", G.dir, G.bin, sha, sha, sha), 0);
	tm_buf_fini(&big);
	free(eml);
}

/* Issue 14, item 7: `status` shows what waits (messages without a final
 * outcome). Once every accepted message has its outcome the spool depth is
 * 0, though their log file (256 KiB, far from full) is still in new/. */
Test(serve, status_depth_is_zero_once_every_message_has_its_outcome)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n");
	start_gw(NULL);
	struct tm_buf o;
	tm_buf_init(&o);
	char *eml = tm_test_src("eml/replay");
	static const char *const msgs[] = { "01-ec-opaque.eml", "02-ec-detached.eml",
					    "03-rsa-gw-opaque.eml" };
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(swaks(&o, "--to " MAILBOX " --data @%s/%s", eml, msgs[i]), 0, "%s", o.data);
	cr_assert(wait_status("stored", 3, 60), "stored %ld", status_value("stored"));
	cr_assert_eq(status_value("spool_messages"), 0);
	cr_assert_eq(tm_test_sh("test -n \"$(ls -A '%s/state/spool/new')\"", G.dir), 0,
		     "the log file that holds the done messages is in new/");
	cr_assert_eq(tm_test_sh("cd '%s' && '%s' -c mailgw.yaml status > st.out && "
				"grep -q 'running, pid' st.out && grep -q 'spool .*: 0 messages, 0 bytes' st.out && "
				"'%s' -c mailgw.yaml status --json > st.json && "
				"grep -q '\"messages\": 0, \"bytes\": 0' st.json", G.dir, G.bin, G.bin), 0,
		     "status while running");
	cr_assert_eq(stop_gw(), 0);
	cr_assert_eq(tm_test_sh("cd '%s' && '%s' -c mailgw.yaml status > st.out && "
				"grep -q 'not running' st.out && grep -q 'spool .*: 0 messages' st.out",
				G.dir, G.bin), 0, "status after the stop");
	free(eml);
	tm_buf_fini(&o);
}

Test(serve, sighup_reloads_mailboxes_without_dropping_sessions)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n");
	start_gw(NULL);
	int held = dial();
	struct tm_buf r, o;
	tm_buf_init(&r);
	tm_buf_init(&o);
	cr_assert(read_until(held, &r, "220 ", 20));
	send_all(held, "EHLO x\r\n", 8);
	cr_assert(read_until(held, &r, "250 ENHANCEDSTATUSCODES\r\n", 20));
	swaks(&o, "--to new@gateway.example --quit-after RCPT");
	cr_assert_not_null(strstr((char *)o.data, "550 5.7.1"), "%s", o.data);
	cr_assert_eq(tm_test_sh("sed -i 's/^    - telemail@gateway.example$/    - telemail@gateway.example\\n"
				"    - new@gateway.example/' '%s' && grep -q new@gateway '%s'", G.conf, G.conf), 0);
	kill(G.pid, SIGHUP);
	cr_assert(wait_log("event=reloaded keys=2 mailboxes=2", 30));
	cr_assert_eq(swaks(&o, "--to new@gateway.example --quit-after RCPT"), 0, "%s", o.data);
	/* the session opened before the reload is still there */
	tm_buf_reset(&r);
	send_all(held, "NOOP\r\nQUIT\r\n", 12);
	cr_assert(read_until(held, &r, NULL, 20));
	cr_assert_str_eq((char *)r.data, "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	close(held);
	/* a broken configuration: logged, the old one stays */
	cr_assert_eq(tm_test_sh("echo 'bogus_key: 1' >> '%s'", G.conf), 0);
	kill(G.pid, SIGHUP);
	cr_assert(wait_log("event=reload_failed reason=config.unknown_key", 30));
	cr_assert_eq(swaks(&o, "--to new@gateway.example --quit-after RCPT"), 0, "%s", o.data);
	cr_assert_eq(stop_gw(), 0);
	tm_buf_fini(&r);
	tm_buf_fini(&o);
}

/* Postfix smtp-source: 20 concurrent sessions, 400 junk messages (not
 * S/MIME: each ends quarantined). Every one is accounted for. */
Test(serve, smtp_source_concurrent_load)
{
	setup_gw("listen:\n  smtp: 127.0.0.1:0\n  max_per_address: 100\n");
	start_gw(NULL);
	int rc = tm_test_sh("timeout 120 /usr/sbin/smtp-source -s 20 -m 400 -l 1024 -f dev@devices.example "
			    "-t " MAILBOX " 127.0.0.1:%u", G.port);
	cr_assert_eq(rc, 0);
	cr_assert(wait_status("quarantined", 400, 120), "quarantined %ld", status_value("quarantined"));
	cr_assert_eq(status_value("messages_accepted"), 400);
	cr_assert_eq(stop_gw(), 0);
	cr_assert_eq(tm_test_sh("test $(sqlite3 '%s/state/quarantine/quarantine.db' "
				"'SELECT count(*) FROM quarantine') -ge 1", G.dir), 0);
}

/* ---- kill -9 under load ---- */

struct load {
	atomic_bool stop;
	atomic_uint acked;
	unsigned port;
	pthread_mutex_t mu;
	struct tm_buf shas;       /* "sha\n" of every message that got 250 */
};

/* Buffered reply reader: one whole reply (its last line decides). */
struct rd {
	int fd;
	char buf[4096];
	size_t n;
};

static bool rd_reply(struct rd *r, const char *want)
{
	for (;;) {
		char *eol;
		while ((eol = memchr(r->buf, '\n', r->n)) != NULL) {
			size_t ll = (size_t)(eol - r->buf) + 1;
			bool last = ll >= 5 && r->buf[3] == ' ';
			bool ok = last && strncmp(r->buf, want, strlen(want)) == 0;
			memmove(r->buf, r->buf + ll, r->n - ll);
			r->n -= ll;
			if (last)
				return ok;
		}
		if (r->n == sizeof(r->buf))
			return false;
		ssize_t got = recv(r->fd, r->buf + r->n, sizeof(r->buf) - r->n, 0);
		if (got <= 0)
			return false;
		r->n += (size_t)got;
	}
}

static void *load_client(void *arg)
{
	struct load *ld = arg;
	static atomic_uint seq;
	struct rd r;
	while (!ld->stop) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)ld->port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		struct timeval tv = { 10, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			close(fd);
			usleep(20000);
			continue;
		}
		r.fd = fd;
		r.n = 0;
		if (!rd_reply(&r, "220") || send(fd, "EHLO load\r\n", 11, MSG_NOSIGNAL) != 11 ||
		    !rd_reply(&r, "250")) {
			close(fd);
			continue;
		}
		for (int k = 0; k < 20 && !ld->stop; k++) {
			char msg[256];
			unsigned n = ++seq;
			int ml = snprintf(msg, sizeof(msg), "Message-ID: <load-%u@devices.example>\r\n"
					  "Subject: junk %u\r\n\r\nnot S/MIME: quarantined %u\r\n", n, n, n);
			const char *env = "MAIL FROM:<dev@devices.example>\r\nRCPT TO:<" MAILBOX ">\r\nDATA\r\n";
			if (send(fd, env, strlen(env), MSG_NOSIGNAL) < 0 || !rd_reply(&r, "250") ||
			    !rd_reply(&r, "250") || !rd_reply(&r, "354"))
				break;
			if (send(fd, msg, (size_t)ml, MSG_NOSIGNAL) < 0 ||
			    send(fd, ".\r\n", 3, MSG_NOSIGNAL) < 0)
				break;
			if (!rd_reply(&r, "250 2.0.0 Ok: queued"))
				break;
			char hex[TM_SHA256_HEX_LEN + 1];
			tm_sha256_hex(msg, (size_t)ml, hex);
			pthread_mutex_lock(&ld->mu);
			tm_buf_append_str(&ld->shas, hex);
			tm_buf_append_str(&ld->shas, "\n");
			pthread_mutex_unlock(&ld->mu);
			ld->acked++;
		}
		close(fd);
	}
	return NULL;
}

/* A free port below Linux's ephemeral range (32768 and up): the port the
 * kernel hands to bind(0) or connect() in another test running beside this
 * one can never be the one the daemon is about to bind, again and again. */
static unsigned free_port(void)
{
	srand((unsigned)getpid());
	for (int tries = 0; tries < 200; tries++) {
		unsigned port = 20000u + (unsigned)(rand() % 12000);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	cr_assert_fail("no free port between 20000 and 32000");
	return 0;
}

Test(serve, kill_9_under_load_loses_no_accepted_message)
{
	unsigned port = free_port();
	char extra[200];
	snprintf(extra, sizeof(extra), "listen:\n  smtp: 127.0.0.1:%u\n  max_per_address: 50\n", port);
	setup_gw(extra);
	struct load ld = { .port = port };
	atomic_init(&ld.stop, false);
	atomic_init(&ld.acked, 0);
	pthread_mutex_init(&ld.mu, NULL);
	tm_buf_init(&ld.shas);
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, load_client, &ld);
	for (int round = 0; round < 3; round++) {
		start_gw(NULL);
		unsigned before = ld.acked;
		/* let it accept some, then crash it hard */
		for (int i = 0; i < 500 && ld.acked < before + 150; i++)
			usleep(20000);
		usleep((useconds_t)(rand() % 200000));
		kill(G.pid, SIGKILL);
		waitpid(G.pid, NULL, 0);
		G.pid = 0;
	}
	ld.stop = true;
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	unsigned acked = ld.acked;
	cr_assert_gt(acked, 50, "the load got through: %u", acked);
	/* restart: what is in the spool is processed */
	char st[700];
	snprintf(st, sizeof(st), "%s/state/mailgw.status", G.dir);
	unlink(st); /* the killed daemon's last counters must not count */
	start_gw(NULL);
	bool drained = false;
	for (int i = 0; i < 1200 && !drained; i++) {
		drained = status_value("pid") == (long)G.pid && status_value("spool_messages") == 0;
		usleep(100000);
	}
	cr_assert(drained, "the spool drains after the restart");
	cr_assert_eq(stop_gw(), 0);
	char out[700];
	snprintf(out, sizeof(out), "%s/log.rows", G.dir);
	cr_assert_eq(tm_test_sh("sqlite3 '%s/state/telemail.db' \"SELECT raw_sha256 || ' ' || outcome "
				"FROM message_log\" > '%s'", G.dir, out), 0);
	struct tm_buf rows;
	tm_buf_init(&rows);
	tm_test_read(out, &rows);
	unsigned missing = 0, checked = 0;
	for (char *p = (char *)ld.shas.data; p != NULL && *p; p = strchr(p, '\n') + 1) {
		char want[80];
		snprintf(want, sizeof(want), "%.64s quarantined\n", p);
		checked++;
		if (strstr((char *)rows.data, want) == NULL)
			missing++;
		if (strchr(p, '\n') == NULL)
			break;
		cr_assert_eq(tm_test_sh("test $(sqlite3 '%s/state/quarantine/quarantine.db' "
					"\"SELECT count(*) FROM quarantine WHERE id = '%.64s'\") = 1",
					G.dir, p), 0, "quarantine entry of an accepted message: %.64s", p);
	}
	cr_assert_eq(checked, acked);
	cr_assert_eq(missing, 0, "%u of %u messages that got 250 are not in the message log", missing,
		     acked);
	/* exactly once: one row per message (the key is the raw hash + message id) */
	cr_assert_eq(tm_test_sh("test $(sqlite3 '%s/state/telemail.db' \"SELECT count(*) FROM message_log "
				"WHERE outcome != 'quarantined'\") -eq 0", G.dir), 0);
	tm_buf_fini(&rows);
	tm_buf_fini(&ld.shas);
}

/* telemail-agent → telemail-mailgw over STARTTLS on loopback, end to end:
 * collected, sealed, queued, sent (TLS verified against the site CA), spooled,
 * opened, verified, stored. */
/* agent → gateway over verified STARTTLS → stored record; with `notify`,
 * the daemon's service thread then delivers the alert the report raised
 * (a jammed device: a critical condition) to a local webhook receiver. */
Test(serve, agent_to_gateway_over_starttls)
{
	const char *b = getenv("TM_BUILDDIR");
	char agent[600];
	snprintf(agent, sizeof(agent), "%s/agent/telemail-agent", b ? b : ".");
	if (access(agent, X_OK) != 0)
		cr_skip_test("telemail-agent is not built");
	memset(&G, 0, sizeof(G));
	G.dir = tm_test_tmpdir();
	snprintf(G.bin, sizeof(G.bin), "%s/mailgw/telemail-mailgw", b ? b : ".");
	snprintf(G.conf, sizeof(G.conf), "%s/mailgw.yaml", G.dir);
	snprintf(G.log, sizeof(G.log), "%s/serve.log", G.dir);
	char *pki = tm_test_pki("");
	char *servers = tm_test_src("agent/servers.py");
	char *state = tm_test_src("../examples/device-state.yaml");
	/* the relay certificate of the gateway: site CA, SAN IP:127.0.0.1 */
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' certs '%s/tls' '%s'", servers, G.dir, pki), 0);
	FILE *f = fopen(G.conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "state_dir: %s/state\n"
		"gateway:\n  mailboxes: [telemail@gateway.example]\n"
		"  keys: [{cert: %sgw-ec.pem, key: %sgw-ec.key}]\n"
		"trust: {ca_file: %sca.pem}\nauto_enroll: {tenant: fleet}\nworkers: 1\n"
		"listen:\n  smtp: 127.0.0.1:0\n  hostname: localhost\n  require_tls: true\n"
		"  tls: {cert: %s/tls/right.pem, key: %s/tls/right.key}\n"
		"web:\n  listen: 127.0.0.1:0\n  tls: {cert: %sgw-tls.pem, key: %sgw-tls.key}\n",
		G.dir, pki, pki, pki, G.dir, G.dir, pki, pki);
	/* a webhook receiver for the notifications */
	char *rx = tm_test_src("notify/receiver.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' start '%s/hook' 0", rx, G.dir), 0);
	char portfile[700];
	snprintf(portfile, sizeof(portfile), "%s/hook/port", G.dir);
	struct tm_buf pb;
	tm_buf_init(&pb);
	tm_test_read(portfile, &pb);
	fprintf(f, "notify:\n  every: 1s\n  webhook: {url: \"http://127.0.0.1:%d/telemail\", "
		"secret_file: %s/hook.secret}\n", atoi((char *)pb.data), G.dir);
	tm_buf_fini(&pb);
	fclose(f);
	char secret[700];
	snprintf(secret, sizeof(secret), "%s/hook.secret", G.dir);
	tm_test_write(secret, "s3cret\n", 7);
	/* the device is jammed */
	cr_assert_eq(tm_test_sh("sed 's/^  conditions: \\[\\]/  conditions: [jammed]/' '%s' > '%s/state.yaml'"
				" && grep -q 'conditions: \\[jammed\\]' '%s/state.yaml'", state, G.dir,
				G.dir), 0);
	cr_assert_eq(tm_test_sh("'%s' -c '%s' tenant add fleet > /dev/null", G.bin, G.conf), 0);
	start_gw(NULL);
	char acfg[700];
	snprintf(acfg, sizeof(acfg), "%s/agent.yaml", G.dir);
	f = fopen(acfg, "w");
	cr_assert_not_null(f);
	fprintf(f, "identity: {certificate: %sdev-XK100001.pem, key: %sdev-XK100001.key, "
		"mailbox: xk100001@devices.example}\n"
		"gateway: {mailbox: telemail@gateway.example, certificates: [%sgw-ec.pem]}\n"
		"smtp: {relays: [{host: 127.0.0.1, port: %u}], ca_file: %sca.pem, timeout: 60}\n"
		"outbox: {directory: %s/outbox}\nstate_directory: %s/astate\n"
		"collectors: [{type: file, path: %s/state.yaml}]\n",
		pki, pki, pki, G.port, pki, G.dir, G.dir, G.dir);
	fclose(f);
	int rc = tm_test_sh("'%s' -c '%s' once > '%s/agent.out' 2>&1", agent, acfg, G.dir);
	cr_assert_eq(rc, 0, "telemail-agent once failed: see %s/agent.out", G.dir);
	cr_assert(wait_status("stored", 1, 60), "stored %ld", status_value("stored"));
	cr_assert(wait_log("outcome=stored device=XK100001", 10));
	cr_assert(log_has("event=tls version=TLSv1."), "the agent used STARTTLS");
	/* the service thread posts the critical alert (bounded wait) */
	bool posted = false;
	for (int i = 0; i < 300 && !posted; i++) {
		posted = tm_test_sh("grep -l 'jammed' '%s'/hook/req-*.json > /dev/null 2>&1", G.dir) == 0;
		if (!posted)
			usleep(100000);
	}
	cr_assert(posted, "no webhook notification for the jammed device; log: %s", G.log);
	cr_assert_eq(tm_test_sh("grep -qi 'x-telemail-signature' '%s'/hook/req-*.json", G.dir), 0);
	cr_assert(wait_log("gw notify mailed=0 digests=0 posted=", 10), "the delivery is logged");
	/* /metrics from loopback: the spool's round and the writer's batch were
	 * counted (the runtime families of serve), and promtool accepts it all */
	cr_assert(wait_log("gw web event=listening", 10));
	cr_assert_eq(tm_test_sh("port=$(sed -n 's/.*gw web event=listening.* port=\\([0-9]*\\).*/\\1/p' "
				"'%s' | head -n 1) && curl -sf -k \"https://127.0.0.1:$port/metrics\" "
				"> '%s/metrics.txt' && promtool check metrics < '%s/metrics.txt'",
				G.log, G.dir, G.dir), 0, "/metrics (promtool: apt-get install prometheus)");
	cr_assert_eq(tm_test_sh("grep -Eq '^telemail_spool_commit_round_seconds_count [1-9]' '%s/metrics.txt' && "
				"grep -Eq '^telemail_spool_commit_round_seconds_bucket\\{le=\"\\+Inf\"\\} [1-9]' "
				"'%s/metrics.txt' && "
				"grep -Eq '^telemail_store_batches_total\\{result=\"committed\"\\} [1-9]' '%s/metrics.txt' && "
				"grep -q '^telemail_store_retries_total{reason=\"store.busy\"} 0$' '%s/metrics.txt'",
				G.dir, G.dir, G.dir, G.dir), 0, "round and batch counted: %s/metrics.txt", G.dir);
	cr_assert_eq(stop_gw(), 0);
	tm_test_sh("/usr/bin/python3 '%s' stop '%s/hook'", rx, G.dir);
	free(rx);
	free(pki);
	free(servers);
	free(state);
}

/* The listener in this process, its loop on a thread: the socket it
 * accepted for our connection (found among our own descriptors by its two
 * ports) has TCP_NODELAY, read back with getsockopt. */
static void *listener_thread(void *arg)
{
	gw_listener_run(arg);
	return NULL;
}

static int accepted_fd(unsigned lport, unsigned pport)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_in a, p;
		socklen_t al = sizeof(a), pl = sizeof(p);
		if (getsockname(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET &&
		    getpeername(fd, (struct sockaddr *)&p, &pl) == 0 &&
		    ntohs(a.sin_port) == lport && ntohs(p.sin_port) == pport)
			return fd;
	}
	return -1;
}

Test(serve, accepted_smtp_socket_has_tcp_nodelay)
{
	memset(&G, 0, sizeof(G));
	G.dir = tm_test_tmpdir();
	const char *y = "gateway:\n  mailboxes: [t@gw.example]\n  keys: [{cert: c, key: k}]\n"
			"trust: {ca_file: ca}\nstate_dir: /st\nlisten:\n  smtp: 127.0.0.1:0\n";
	struct gw_config *cfg = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_config_parse((const uint8_t *)y, strlen(y), "m.yaml", G.dir, &cfg, &err), 0,
		     "%s", err.msg);
	char sd[600];
	snprintf(sd, sizeof(sd), "%s/spool", G.dir);
	struct gw_spool_options so = { .dir = sd };
	struct gw_spool *sp = NULL;
	cr_assert_eq(gw_spool_open(&so, &sp, &err), 0, "%s", err.msg);
	struct gw_listener_options lo = {
		.cfg = cfg->listen, .mailboxes = (const char *const *)cfg->mailboxes,
		.n_mailboxes = cfg->n_mailboxes, .spool = sp,
	};
	struct gw_listener *l = NULL;
	cr_assert_eq(gw_listener_new(&lo, &l, &err), 0, "%s", err.msg);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, listener_thread, l), 0);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)gw_listener_port(l)) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	char greet[256];
	cr_assert_gt(read(s, greet, sizeof(greet)), 0);   /* accepted: the session greeted */
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&me, &ml), 0);
	int fd = accepted_fd(gw_listener_port(l), ntohs(me.sin_port));
	cr_assert_geq(fd, 0, "the accepted socket is not found");
	int v = 0;
	socklen_t vl = sizeof(v);
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	cr_assert_neq(v, 0, "TCP_NODELAY is off on the accepted socket");
	close(s);
	gw_listener_shutdown(l);
	pthread_join(th, NULL);
	gw_listener_free(l);
	gw_spool_close(sp);
	gw_config_free(cfg);
}

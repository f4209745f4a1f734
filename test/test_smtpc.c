/* The SMTP client (telemail/smtpc.h) against real peers on 127.0.0.1
 * (test/agent/servers.py: aiosmtpd with STARTTLS required, a TLS 1.3-only
 * one, one requiring AUTH, an endless greeting): delivery over STARTTLS
 * with each step shown, the certificate's name checked, an untrusted
 * certificate refused, AUTH with the configured mechanism only and nothing
 * more after a refused one, a relay down, the reply cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/smtpc.h>

#include "common.h"

#define PASSWORD "s3cret-relay-pw"

static char *dir;

static void setup(void)
{
	dir = tm_test_tmpdir();
}

static void teardown(void)
{
	char *srv = tm_test_src("agent/servers.py");
	const char *subs[] = { "tls", "tls13", "auth", "hostile" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		tm_test_sh("/usr/bin/python3 '%s' stop '%s/%s'", srv, dir, subs[i]);
	free(srv);
	tm_test_rmtree(dir);
	free(dir);
}

TestSuite(smtpc, .init = setup, .fini = teardown, .timeout = 120);

static int read_int(const char *path)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	tm_buf_append(&b, "", 1);
	int v = atoi((char *)b.data);
	tm_buf_fini(&b);
	return v;
}

/* The relay certificates: right (test CA, names 127.0.0.1 and localhost),
 * wrong (self-signed, same names), misnamed (test CA, names only
 * relay.example). */
static void make_certs(void)
{
	char *pki = tm_test_pki("");
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' certs '%s/certs' '%s'", srv, dir, pki), 0);
	cr_assert_eq(tm_test_sh("cd '%s/certs' && printf 'subjectAltName=DNS:relay.example\\n"
				"extendedKeyUsage=serverAuth\\n' > misnamed.cnf && "
				"openssl x509 -req -in right.csr -CA '%sca.pem' -CAkey '%sca.key' "
				"-CAserial ca.srl -days 30 -extfile misnamed.cnf -out misnamed.pem 2>/dev/null && "
				"cp right.key misnamed.key", dir, pki, pki), 0);
	free(pki);
	free(srv);
}

/* Start servers.py MODE in dir/MODE with ARGS; returns its port. */
static unsigned start_peer(const char *mode, const char *args)
{
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' %s '%s/%s' %s", srv, mode, dir, mode, args), 0,
		     "cannot start %s", mode);
	free(srv);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s/port", dir, mode);
	return (unsigned)read_int(p);
}

static unsigned start_tls(const char *mode, const char *cert)
{
	make_certs();
	char args[1024];
	snprintf(args, sizeof(args), "'%s/certs/%s.pem' '%s/certs/%s.key'", dir, cert, dir, cert);
	return start_peer(mode, args);
}

static unsigned start_auth(const char *mechs)
{
	make_certs();
	char args[1024];
	snprintf(args, sizeof(args), "'%s/certs/right.pem' '%s/certs/right.key' xk100001 '%s' %s", dir,
		 dir, PASSWORD, mechs);
	return start_peer("auth", args);
}

static int count_mail(const char *peer)
{
	return tm_test_sh("exit $(ls '%s/%s/mail' | wc -l)", dir, peer);
}

/* The steps of a session, one line each. */
struct steps {
	char text[16384];
	size_t len;
};

static void keep_step(void *arg, const char *line)
{
	struct steps *st = arg;
	int n = snprintf(st->text + st->len, sizeof(st->text) - st->len, "%s\n", line);
	if (n > 0 && (size_t)n < sizeof(st->text) - st->len)
		st->len += (size_t)n;
}

static const char *const rcpt[] = { "telemail@gateway.example" };
static const char body[] = "From: <xk100001@devices.example>\r\nTo: <telemail@gateway.example>\r\n"
			   "Subject: smtpc test\r\nMessage-ID: <smtpc.1@devices.example>\r\n\r\n"
			   "marker-7f3a\r\n";

static struct tm_smtpc_config config(const char *host, unsigned port, struct steps *st)
{
	static char ca[512];
	char *p = tm_test_pki("ca.pem");
	snprintf(ca, sizeof(ca), "%s", p);
	free(p);
	return (struct tm_smtpc_config){ .host = host, .port = port, .helo = "smtpc.test",
					 .starttls = true, .ca_file = ca, .timeout = 30,
					 .max_reply_bytes = 65536, .step = st ? keep_step : NULL,
					 .step_arg = st };
}

static int send1(const struct tm_smtpc_config *cfg, struct tm_smtpc_msg *m, struct tm_error *err)
{
	*m = (struct tm_smtpc_msg){ .from = "xk100001@devices.example", .rcpt = rcpt, .n_rcpt = 1,
				    .data = (const uint8_t *)body, .len = strlen(body) };
	return tm_smtpc_send(cfg, m, 1, err);
}

/* One message to a relay requiring AUTH (offering OFFER) with MECH and PASSWORD. */
static int send_auth(const char *offer, const char *mech, const char *password, struct steps *st,
		     struct tm_smtpc_msg *m, struct tm_error *err)
{
	struct tm_smtpc_config cfg = config("127.0.0.1", start_auth(offer), st);
	cfg.auth_mechanism = mech;
	cfg.username = "xk100001";
	cfg.password = password;
	return send1(&cfg, m, err);
}

Test(smtpc, starttls_delivers_and_shows_each_step)
{
	unsigned port = start_tls("tls", "right");
	struct steps st = { .len = 0 };
	struct tm_smtpc_config cfg = config("127.0.0.1", port, &st);
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send1(&cfg, &m, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(m.code, 250, "%d %s", m.code, m.reply);
	cr_assert_not_null(strstr(m.reply, "queued"), "%s", m.reply);
	cr_assert_eq(count_mail("tls"), 1);
	cr_assert_eq(tm_test_sh("grep -q marker-7f3a '%s/tls/mail/0001.eml'", dir), 0);
	const char *want[] = { "resolve 127.0.0.1:", "\nconnect ok 127.0.0.1 tcp_nodelay=on\n",
			       "\nC: EHLO smtpc.test\n", "\nC: STARTTLS\n", "\ntls ok TLSv1.",
			       "CN=relay right", "\nC: MAIL FROM:<xk100001@devices.example>",
			       "\nC: DATA\n", "\nreply S: 250 2.0.0 queued\n" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_not_null(strstr(st.text, want[i]), "no '%s' in:\n%s", want[i], st.text);
}

Test(smtpc, several_messages_in_one_session_each_get_their_answer)
{
	unsigned port = start_tls("tls", "right");
	struct tm_smtpc_config cfg = config("localhost", port, NULL);
	struct tm_smtpc_msg m[3];
	for (size_t i = 0; i < 3; i++)
		m[i] = (struct tm_smtpc_msg){ .from = "xk100001@devices.example", .rcpt = rcpt,
					      .n_rcpt = 1, .data = (const uint8_t *)body,
					      .len = strlen(body) };
	struct tm_error err = { 0 };
	cr_assert_eq(tm_smtpc_send(&cfg, m, 3, &err), 0, "%s: %s", err.reason, err.msg);
	for (size_t i = 0; i < 3; i++)
		cr_expect_eq(m[i].code, 250, "message %zu: %d %s", i, m[i].code, m[i].reply);
	cr_assert_eq(count_mail("tls"), 3);
}

/* The relay's certificate is from the trusted CA but names another host:
 * refused, for an IP literal (its IP address is checked) and for a DNS name. */
struct misnamed_case {
	char host[32];   /* inline: Criterion copies the parameters to another process */
};

ParameterizedTestParameters(smtpc, a_certificate_for_another_host_is_refused)
{
	static struct misnamed_case cases[] = { { "127.0.0.1" }, { "localhost" } };
	return cr_make_param_array(struct misnamed_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct misnamed_case *c, smtpc, a_certificate_for_another_host_is_refused)
{
	unsigned port = start_tls("tls", "misnamed");
	struct steps st = { .len = 0 };
	struct tm_smtpc_config cfg = config(c->host, port, &st);
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send1(&cfg, &m, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.certificate", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, c->host), "%s", err.msg);
	cr_assert_eq(m.code, 0);
	cr_assert_eq(count_mail("tls"), 0);
	cr_assert_null(strstr(st.text, "C: MAIL"), "%s", st.text);
}

Test(smtpc, an_untrusted_certificate_is_refused)
{
	unsigned port = start_tls("tls", "wrong");
	struct tm_smtpc_config cfg = config("127.0.0.1", port, NULL);
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send1(&cfg, &m, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.certificate", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "certificate refused"), "%s", err.msg);
	cr_assert_eq(count_mail("tls"), 0);
}

/* Python's ssl with minimum_version TLSv1_3: the session is TLS 1.3, its
 * tickets are read before EHLO, and the mail is delivered (a stall would
 * run into the timeout: smtp.protocol). */
Test(smtpc, a_tls13_only_relay_delivers)
{
	unsigned port = start_tls("tls13", "right");
	struct steps st = { .len = 0 };
	struct tm_smtpc_config cfg = config("127.0.0.1", port, &st);
	cfg.timeout = 10;
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send1(&cfg, &m, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(m.code, 250, "%d %s", m.code, m.reply);
	cr_assert_not_null(strstr(st.text, "\ntls ok TLSv1.3 "), "%s", st.text);
	cr_assert_eq(count_mail("tls13"), 1);
}

/* The relay offers LOGIN and PLAIN: the session uses the configured one
 * and no other (the relay logs each AUTH it sees). */
struct mech_case {
	char mech[16];
};

ParameterizedTestParameters(smtpc, auth_uses_the_configured_mechanism)
{
	static struct mech_case cases[] = { { "LOGIN" }, { "PLAIN" } };
	return cr_make_param_array(struct mech_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct mech_case *c, smtpc, auth_uses_the_configured_mechanism)
{
	struct steps st = { .len = 0 };
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send_auth("LOGIN,PLAIN", c->mech, PASSWORD, &st, &m, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(m.code, 250, "%d %s", m.code, m.reply);
	cr_assert_eq(count_mail("auth"), 1);
	char want[64];
	snprintf(want, sizeof(want), "%s ok\n", c->mech);
	struct tm_buf log;
	tm_buf_init(&log);
	char p[512];
	snprintf(p, sizeof(p), "%s/auth/auth.log", dir);
	tm_test_read(p, &log);
	tm_buf_append(&log, "", 1);
	cr_assert_str_eq((char *)log.data, want, "the relay saw: %s", (char *)log.data);
	tm_buf_fini(&log);
	cr_assert_not_null(strstr(st.text, "\nauth ok\n"), "%s", st.text);
	/* never the password in a step */
	cr_assert_null(strstr(st.text, PASSWORD), "%s", st.text);
}

/* A refused AUTH: smtp.auth, and nothing more goes to the relay (no MAIL). */
Test(smtpc, a_refused_auth_sends_nothing_more)
{
	struct steps st = { .len = 0 };
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send_auth("PLAIN", "PLAIN", "not-" PASSWORD, &st, &m, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.auth", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "AUTH PLAIN refused: 535"), "%s", err.msg);
	cr_assert_eq(m.code, 0, "%d %s", m.code, m.reply);
	cr_assert_null(strstr(st.text, "C: MAIL"), "%s", st.text);
	/* the relay would answer a MAIL FROM without AUTH with 530 */
	cr_assert_null(strstr(st.text, "S: 530"), "%s", st.text);
	cr_assert_eq(count_mail("auth"), 0);
	cr_assert_eq(tm_test_sh("grep -qx 'PLAIN refused' '%s/auth/auth.log'", dir), 0);
}

/* The relay does not offer the configured mechanism: no other is tried. */
Test(smtpc, a_mechanism_not_offered_is_smtp_auth_and_no_other_is_tried)
{
	struct steps st = { .len = 0 };
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send_auth("LOGIN", "PLAIN", PASSWORD, &st, &m, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.auth", "%s", err.msg);
	cr_assert_null(strstr(st.text, "auth C: AUTH"), "%s", st.text);
	cr_assert_null(strstr(st.text, "C: MAIL"), "%s", st.text);
	/* the relay would answer a MAIL FROM without AUTH with 530 */
	cr_assert_null(strstr(st.text, "S: 530"), "%s", st.text);
	cr_assert_eq(count_mail("auth"), 0);
	cr_assert_neq(tm_test_sh("test -s '%s/auth/auth.log'", dir), 0, "the relay saw an AUTH");
}

Test(smtpc, a_relay_down_is_smtp_connect)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/free", dir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 -c 'import socket;s=socket.socket();"
				"s.bind((\"127.0.0.1\",0));print(s.getsockname()[1])' > '%s'", p), 0);
	struct tm_smtpc_config cfg = config("127.0.0.1", (unsigned)read_int(p), NULL);
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send1(&cfg, &m, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.connect", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "127.0.0.1:"), "%s", err.msg);
}

/* An endless greeting: cut after max_reply_bytes (or by libESMTP's own bound). */
Test(smtpc, an_endless_reply_is_cut_off)
{
	unsigned port = start_peer("hostile", "");
	struct tm_smtpc_config cfg = config("127.0.0.1", port, NULL);
	cfg.starttls = false;
	cfg.max_reply_bytes = 4096;
	struct tm_smtpc_msg m;
	struct tm_error err = { 0 };
	cr_assert_eq(send1(&cfg, &m, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.protocol", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "more than 4096 bytes"), "%s", err.msg);
}

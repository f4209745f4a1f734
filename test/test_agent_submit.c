/* telemail-agent submission against real peers on 127.0.0.1: Postfix
 * smtp-sink (accept, 4xx, 5xx, outage, failover), aiosmtpd with STARTTLS
 * (right certificate accepted, wrong one refused), a hostile relay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "agent.h"
#include "common.h"
#include "config.h"
#include "outbox.h"

static char *dir;

static void setup(void)
{
	dir = tm_test_tmpdir();
}

static void teardown(void)
{
	char *srv = tm_test_src("agent/servers.py");
	const char *subs[] = { "sink", "sink2", "tls", "tls13", "hostile" };
	for (size_t i = 0; i < 5; i++)
		tm_test_sh("/usr/bin/python3 '%s' stop '%s/%s'", srv, dir, subs[i]);
	free(srv);
	tm_test_rmtree(dir);
	free(dir);
}

TestSuite(agent_submit, .init = setup, .fini = teardown, .timeout = 120);

/* Start a peer in dir/<name>; returns its port. */
static int start_peer(const char *name, const char *args)
{
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' %s '%s/%s' %s", srv,
				strncmp(name, "sink", 4) == 0 ? "sink" : name, dir, name, args), 0,
		     "cannot start %s", name);
	free(srv);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s/port", dir, name);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	int port = atoi((char *)b.data);
	tm_buf_fini(&b);
	return port;
}

static int free_port(void)
{
	/* a port nobody listens on: bind, read, close */
	char p[512];
	snprintf(p, sizeof(p), "%s/free", dir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind((\"127.0.0.1\",0));print(s.getsockname()[1])' > '%s'", p), 0);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	int port = atoi((char *)b.data);
	tm_buf_fini(&b);
	return port;
}

/* Generous protocol timeouts: the machine may be busy (sanitizers, parallel builds). */
static struct ag_config *make_cfg(const char *relays, bool tls)
{
	char *pki = tm_test_pki("");
	char text[4096];
	snprintf(text, sizeof(text),
		 "identity: {certificate: %sdev-XK100001.pem, key: %sdev-XK100001.key, mailbox: xk100001@devices.example}\n"
		 "gateway: {mailbox: telemail@gateway.example, certificates: [%sgw-ec.pem, %sgw-rsa.pem]}\n"
		 "smtp: {relays: [%s], %s timeout: 30, batch: 2}\n"
		 "outbox: {directory: %s/outbox}\nstate_directory: %s/state\n"
		 "collectors: [{type: file, path: %s/state.yaml}]\n",
		 pki, pki, pki, pki, relays,
		 tls ? "ca_file: ca.pem," : "starttls: false, plain: true,", dir, dir, dir);
	char *src = tm_test_src("../examples/device-state.yaml");
	cr_assert_eq(tm_test_sh("cp '%s' '%s/state.yaml'", src, dir), 0);
	free(src);
	struct ag_config *c = NULL;
	struct tm_error err = { 0 };
	char cfgdir[600];
	snprintf(cfgdir, sizeof(cfgdir), "%s", pki);
	cr_assert_eq(ag_config_parse((const uint8_t *)text, strlen(text), cfgdir, &c, &err), 0, "%s", err.msg);
	free(pki);
	return c;
}

static void queue(struct ag_agent *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tm_error err = { 0 };
		size_t q = 0;
		cr_assert_eq(ag_agent_collect(a, 0, TM_KIND_PERIODIC, "manual", false, &q, &err), 0,
			     "%s: %s", err.reason, err.msg);
		cr_assert_eq(q, 1);
	}
}

static int count_mail(const char *peer)
{
	return tm_test_sh("exit $(ls '%s/%s/mail' | wc -l)", dir, peer);
}

static size_t depth(struct ag_agent *a)
{
	struct ag_outbox_status st;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_status(a->ob, &st, &err), 0);
	return st.depth;
}

Test(agent_submit, sink_accepts_all_in_batches_and_mail_opens_with_openssl)
{
	char relays[128];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", start_peer("sink", ""));
	struct ag_config *c = make_cfg(relays, false);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	queue(a, 3);
	struct ag_flush_result fr;
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_eq(fr.sent, 3);
	cr_expect_eq(fr.left, 0);
	cr_expect_eq(count_mail("sink"), 3);
	char *pki = tm_test_pki("");
	/* every captured message: openssl cms -decrypt, then -verify against the site CA */
	cr_assert_eq(tm_test_sh("cd '%s/sink/mail' && for f in *; do grep -v '^X-' \"$f\" > /tmp/$$.eml && "
				"openssl cms -decrypt -in /tmp/$$.eml -recip '%sgw-rsa.pem' -inkey '%sgw-rsa.key' 2>/dev/null | "
				"openssl cms -verify -CAfile '%sca.pem' 2>/dev/null | grep -q '^Content-Type: application/yaml' || exit 1; done; rm -f /tmp/$$.eml",
				dir, pki, pki, pki), 0);
	free(pki);
	ag_agent_close(a);
	ag_config_free(c);
}

Test(agent_submit, soft_reject_keeps_everything_queued)
{
	char relays[128];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", start_peer("sink", "-r RCPT"));
	struct ag_config *c = make_cfg(relays, false);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0);
	queue(a, 2);
	struct ag_flush_result fr;
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.transient", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "4"), "%s", err.msg);
	cr_expect_eq(fr.sent, 0);
	cr_expect_eq(depth(a), 2);
	struct ag_outbox_status st;
	cr_assert_eq(ag_outbox_status(a->ob, &st, &err), 0);
	cr_expect_neq(st.last_error_at, 0);
	ag_agent_close(a);
	ag_config_free(c);
}

Test(agent_submit, hard_reject_moves_aside_with_the_reply)
{
	char relays[128];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", start_peer("sink", "-f RCPT"));
	struct ag_config *c = make_cfg(relays, false);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0);
	queue(a, 2);
	struct ag_flush_result fr;
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), 0, "%s", err.msg);
	cr_expect_eq(fr.rejected, 2);
	cr_expect_eq(depth(a), 0);
	cr_expect_eq(tm_test_sh("grep -q '^5[0-9][0-9]' '%s'/outbox/failed/*-p.eml.reply", dir), 0);
	cr_expect_eq(tm_test_sh("test $(ls '%s'/outbox/failed/*-p.eml | wc -l) -eq 2", dir), 0);
	ag_agent_close(a);
	ag_config_free(c);
}

Test(agent_submit, failover_and_outage_then_everything_in_order)
{
	int dead = free_port();
	char relays[160];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", dead);
	struct ag_config *c = make_cfg(relays, false);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0);
	queue(a, 3);
	struct ag_flush_result fr;
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.connect", "%s", err.msg);
	cr_expect_eq(depth(a), 3);
	queue(a, 1);
	ag_agent_close(a);
	ag_config_free(c);

	/* the relay is back as the second of two relays: the first is still down */
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}, {host: 127.0.0.1, port: %d}", dead,
		 start_peer("sink", ""));
	c = make_cfg(relays, false);
	cr_assert_eq(ag_agent_open(c, &a, &err), 0);
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), 0, "%s: %s", err.reason, err.msg);
	cr_expect_eq(fr.sent, 4);
	cr_expect_eq(depth(a), 0);
	cr_expect_eq(count_mail("sink"), 4);
	ag_agent_close(a);
	ag_config_free(c);
}

/* The protocol steps of a flush, one line each, kept for the assertions. */
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

/* A flush over STARTTLS to servers.py MODE (tls or tls13) showing certname;
 * the steps seen go to *steps (may be NULL). */
static void tls_case_mode(const char *mode, const char *certname, const char *want_reason, int want_sent,
			  struct steps *steps)
{
	char *pki = tm_test_pki("");
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' certs '%s/certs' '%s'", srv, dir, pki), 0);
	char args[1024];
	snprintf(args, sizeof(args), "'%s/certs/%s.pem' '%s/certs/%s.key'", dir, certname, dir, certname);
	char relays[128];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", start_peer(mode, args));
	struct ag_config *c = make_cfg(relays, true);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0, "%s", err.msg);
	queue(a, 1);
	struct ag_flush_result fr;
	int rc = ag_agent_flush(a, &fr, steps ? keep_step : NULL, steps, &err);
	if (want_reason) {
		cr_assert_eq(rc, -1);
		cr_assert_str_eq(err.reason, want_reason, "%s", err.msg);
		cr_expect_eq(depth(a), 1);
		cr_expect_eq(count_mail(mode), 0);
	} else {
		cr_assert_eq(rc, 0, "%s: %s", err.reason, err.msg);
		cr_expect_eq(fr.sent, (size_t)want_sent);
		cr_expect_eq(count_mail(mode), want_sent);
	}
	ag_agent_close(a);
	ag_config_free(c);
	free(pki);
	free(srv);
}

static void tls_case(const char *certname, const char *want_reason, int want_sent)
{
	tls_case_mode("tls", certname, want_reason, want_sent, NULL);
}

/* A relay that speaks TLS 1.3 only (Python ssl, minimum_version TLSv1_3):
 * delivered over TLS 1.3 (the agent allows 1.2 and 1.3, nothing lower). */
Test(agent_submit, starttls_to_a_tls13_only_relay_delivers)
{
	struct steps st = { .len = 0 };
	tls_case_mode("tls13", "right", NULL, 1, &st);
	cr_assert_not_null(strstr(st.text, "\ntls ok TLSv1.3 "), "%s", st.text);
}

/* The session's socket has TCP_NODELAY (read back with getsockopt in the
 * session and shown in the connect step), so the end of DATA is not held
 * by Nagle's algorithm against the relay's delayed ACK. */
Test(agent_submit, session_socket_has_tcp_nodelay)
{
	struct steps st = { .len = 0 };
	tls_case_mode("tls", "right", NULL, 1, &st);
	cr_assert_not_null(strstr(st.text, "\nconnect ok 127.0.0.1 tcp_nodelay=on\n"), "%s", st.text);
}

Test(agent_submit, starttls_with_the_right_certificate_delivers)
{
	tls_case("right", NULL, 1);
}

Test(agent_submit, starttls_with_a_wrong_certificate_is_refused)
{
	tls_case("wrong", "smtp.certificate", 0);
}

Test(agent_submit, no_starttls_offered_is_no_silent_downgrade)
{
	char relays[128];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", start_peer("sink", ""));
	struct ag_config *c = make_cfg(relays, true);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0);
	queue(a, 1);
	struct ag_flush_result fr;
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.tls", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "STARTTLS"), "%s", err.msg);
	cr_expect_eq(count_mail("sink"), 0);
	cr_expect_eq(depth(a), 1);
	ag_agent_close(a);
	ag_config_free(c);
}

Test(agent_submit, hostile_endless_reply_is_cut_off)
{
	char relays[128];
	snprintf(relays, sizeof(relays), "{host: 127.0.0.1, port: %d}", start_peer("hostile", ""));
	struct ag_config *c = make_cfg(relays, false);
	struct ag_agent *a;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_agent_open(c, &a, &err), 0);
	queue(a, 1);
	struct ag_flush_result fr;
	cr_assert_eq(ag_agent_flush(a, &fr, NULL, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smtp.protocol", "%s", err.msg);
	/* cut off by libESMTP's own response bound or by ours (max_reply_bytes) */
	char hp[64];
	snprintf(hp, sizeof(hp), "127.0.0.1:");
	cr_assert_not_null(strstr(err.msg, hp), "%s", err.msg);
	cr_assert(strstr(err.msg, "Unterminated server response") || strstr(err.msg, "more than 65536 bytes"),
		  "%s", err.msg);
	cr_expect_eq(depth(a), 1);
	ag_agent_close(a);
	ag_config_free(c);
}

Test(agent_submit, test_command_prints_each_step)
{
	int port = start_peer("sink", "");
	char *pki = tm_test_pki("");
	char *src = tm_test_src("../examples/device-state.yaml");
	char cfgp[600];
	snprintf(cfgp, sizeof(cfgp), "%s/agent.yaml", dir);
	char text[2048];
	int n = snprintf(text, sizeof(text),
		 "identity: {certificate: %sdev-XK100001.pem, key: %sdev-XK100001.key, mailbox: xk100001@devices.example}\n"
		 "gateway: {mailbox: telemail@gateway.example, certificates: [%sgw-ec.pem]}\n"
		 "smtp: {relays: [{host: 127.0.0.1, port: %d}], starttls: false, plain: true, timeout: 5}\n"
		 "outbox: {directory: outbox}\nstate_directory: state\n"
		 "collectors: [{type: file, path: %s}]\n", pki, pki, pki, port, src);
	tm_test_write(cfgp, text, (size_t)n);
	const char *bd = getenv("TM_BUILDDIR");
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' -c '%s' test > '%s/out' 2>&1", bd ? bd : "..", cfgp, dir), 0);
	cr_expect_eq(tm_test_sh("grep -q 'resolve 127.0.0.1:%d' '%s/out'", port, dir), 0);
	cr_expect_eq(tm_test_sh("grep -q 'connect ok' '%s/out'", dir), 0);
	cr_expect_eq(tm_test_sh("grep -q 'S: 250' '%s/out'", dir), 0);
	cr_expect_eq(tm_test_sh("grep -q 'test: OK' '%s/out'", dir), 0);
	cr_expect_eq(count_mail("sink"), 1);
	cr_assert_eq(tm_test_sh("'%s/agent/telemail-agent' -c '%s' status | grep -q '^sent: 1'", bd ? bd : "..", cfgp), 0);
	free(pki);
	free(src);
}

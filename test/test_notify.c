/* Notifications: the durable queue (one row per alert transition and
 * channel, kept across restarts), the webhook (a real local HTTP receiver:
 * JSON body, HMAC-SHA256 signature, retries with backoff, giving up), and
 * e-mail through Postfix's smtp-sink (immediate for critical, a digest for
 * the rest, throttled per kind; STARTTLS required refused by a relay that
 * does not offer it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common.h"
#include "config.h"
#include "config_service.h"
#include "notify.h"
#include "scenario/ingest.h"

#define T0 1790000000

static char *tmpdir;
static char dbpath[512];
static struct gw_store *st;
static struct gw_service_config svc;
static char url[128], secret[600], relay_dir[600], hook_dir[600];

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	snprintf(dbpath, sizeof(dbpath), "%s/telemail.db", tmpdir);
	snprintf(secret, sizeof(secret), "%s/webhook.secret", tmpdir);
	snprintf(relay_dir, sizeof(relay_dir), "%s/relay", tmpdir);
	snprintf(hook_dir, sizeof(hook_dir), "%s/hook", tmpdir);
	tm_test_write(secret, "s3cret\n", 7);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = dbpath };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "XK1", "acme", 1);
	sc_enroll(st, "XK2", "acme", 2);
	sc_enroll(st, "XK3", "acme", 3);
}

static void teardown(void)
{
	char *rx = tm_test_src("notify/receiver.py"), *srv = tm_test_src("agent/servers.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", rx, hook_dir);
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", srv, relay_dir);
	free(rx);
	free(srv);
	gw_store_close(st);
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(notify, .init = setup, .fini = teardown);

static int read_port(const char *dir)
{
	char p[700];
	snprintf(p, sizeof(p), "%s/port", dir);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	int port = atoi((char *)b.data);
	tm_buf_fini(&b);
	return port;
}

static void start_receiver(int fail_first)
{
	char *rx = tm_test_src("notify/receiver.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' start '%s' %d", rx, hook_dir, fail_first), 0);
	free(rx);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/telemail", read_port(hook_dir));
	svc.webhook_url = url;
	svc.webhook_secret_file = secret;
}

static void start_sink(void)
{
	char *srv = tm_test_src("agent/servers.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' sink '%s'", srv, relay_dir), 0);
	free(srv);
	static char host[] = "127.0.0.1", from[] = "telemail@gw.example", to[] = "service@example.net";
	svc.smtp_host = host;
	svc.smtp_port = (unsigned)read_port(relay_dir);
	svc.starttls = 0;
	svc.mail_from = from;
	svc.mail_to[0] = to;
	svc.n_mail_to = 1;
	svc.smtp_timeout = 20;
}

/* A condition on a device: `jammed` is critical, `lowPaper` a warning. */
static void condition(const char *serial, long long seq, const char *cond)
{
	struct sc_report r;
	sc_report_init(&r, serial, seq, T0 + seq);
	r.conditions = cond;
	sc_ingest(st, &svc, &r, "acme", T0);
}

struct rows {
	struct gw_notify_row r[32];
	size_t n;
};

static int collect(void *ctx, const struct gw_notify_row *n)
{
	struct rows *l = ctx;
	if (l->n < 32)
		l->r[l->n++] = *n;
	return 0;
}

static void queue(struct rows *l)
{
	struct tm_error err = {0};
	l->n = 0;
	cr_assert_eq(gw_store_ops_get0(st)->notify_list(gw_store_state_get0(st), false, collect, l,
							&err), GW_STORE_OK);
}

static struct gw_notify_counts run(int64_t now)
{
	struct gw_notify_counts k;
	struct tm_error err = {0};
	cr_assert_eq(gw_notify_run_once(st, &svc, now, &k, &err), GW_STORE_OK, "%s", err.msg);
	return k;
}

static int count_files(const char *dir, const char *pattern)
{
	return tm_test_sh("exit $(ls '%s' | grep -c '%s')", dir, pattern);
}

Test(notify, hmac_sha256_known_answer)
{
	char out[65];
	/* RFC 4231 test case 2 */
	const char *data = "what do ya want for nothing?";
	tm_hmac_sha256_hex("Jefe", 4, data, strlen(data), out);
	cr_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(notify, queued_once_per_transition_and_channel)
{
	static char u[] = "http://127.0.0.1:9/x", h[] = "127.0.0.1", f[] = "a@b.example";
	svc.webhook_url = u;
	svc.webhook_secret_file = secret;
	svc.smtp_host = h;
	svc.mail_from = f;
	condition("XK1", 1, "[jammed]");
	condition("XK1", 2, "[jammed]");   /* a repeat: no transition */
	struct rows l;
	queue(&l);
	cr_assert_eq(l.n, 2, "opened: one email, one webhook");
	cr_assert_str_eq(l.r[0].event, "opened");
	cr_assert_str_eq(l.r[0].channel, "email");
	cr_assert_str_eq(l.r[1].channel, "webhook");
	cr_assert_str_eq(l.r[1].kind, "condition");
	cr_assert_not_null(strstr(l.r[1].payload, "\"subject\":\"jammed\""), "%s", l.r[1].payload);

	/* the same transition again is refused by the store */
	struct gw_alert_row a;
	struct tm_error err = {0};
	cr_assert(sc_alert(st, "XK1", "condition", "jammed", &a));
	cr_assert_eq(gw_notify_enqueue(st, &svc, &a, "opened", T0, &err), GW_STORE_OK);
	queue(&l);
	cr_assert_eq(l.n, 2);

	condition("XK1", 3, "[]");   /* resolved */
	queue(&l);
	cr_assert_eq(l.n, 4);
	cr_assert_str_eq(l.r[3].event, "resolved");
}

Test(notify, webhook_signed_json_sent_once)
{
	start_receiver(0);
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0 + 10);
	cr_assert_eq(k.posted, 1);
	k = run(T0 + 20);
	cr_assert_eq(k.posted, 0, "never sent twice");
	cr_assert_eq(count_files(hook_dir, "^req-"), 1);

	char p[700];
	snprintf(p, sizeof(p), "%s/req-0001.json", hook_dir);
	json_t *j = json_load_file(p, 0, NULL);
	cr_assert_not_null(j);
	const char *body = json_string_value(json_object_get(j, "body"));
	json_t *h = json_object_get(j, "headers");
	char want[80], sig[65];
	tm_hmac_sha256_hex("s3cret", 6, body, strlen(body), sig);
	snprintf(want, sizeof(want), "sha256=%s", sig);
	cr_assert_str_eq(json_string_value(json_object_get(h, "x-telemail-signature")), want);
	cr_assert_str_eq(json_string_value(json_object_get(h, "content-type")), "application/json");
	cr_assert_str_eq(json_string_value(json_object_get(h, "x-telemail-event")), "opened");
	json_t *b = json_loads(body, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(b, "kind")), "condition");
	cr_assert_str_eq(json_string_value(json_object_get(b, "serial")), "XK1");
	cr_assert_str_eq(json_string_value(json_object_get(b, "severity")), "critical");
	json_decref(b);
	json_decref(j);
}

Test(notify, webhook_retries_with_backoff_then_succeeds)
{
	start_receiver(2);   /* 503 twice */
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.retried, 1);
	struct rows l;
	queue(&l);
	cr_assert_eq(l.r[0].next_at, T0 + 60);
	cr_assert_not_null(strstr(l.r[0].last_error, "notify.webhook: "), "%s", l.r[0].last_error);
	cr_assert_not_null(strstr(l.r[0].last_error, "answered HTTP 503"), "%s", l.r[0].last_error);
	k = run(T0 + 59);
	cr_assert_eq(k.retried + k.posted, 0, "not before the backoff");
	k = run(T0 + 60);
	cr_assert_eq(k.retried, 1);
	queue(&l);
	cr_assert_eq(l.r[0].next_at, T0 + 60 + 120, "the backoff doubles");
	k = run(T0 + 180);
	cr_assert_eq(k.posted, 1);
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_SENT);
	cr_assert_eq(l.r[0].attempts, 2);
	cr_assert_eq(count_files(hook_dir, "^req-"), 3);
}

Test(notify, webhook_gives_up_after_its_retries)
{
	start_receiver(100);
	svc.webhook_retries = 2;
	condition("XK1", 1, "[jammed]");
	run(T0);
	struct gw_notify_counts k = run(T0 + 3600);
	cr_assert_eq(k.failed, 1);
	struct rows l;
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_FAILED);
	cr_assert_eq(run(T0 + 7200).retried, 0, "a failed notification is not tried again");
}

Test(notify, queue_survives_a_restart_while_the_target_is_down)
{
	static char down[] = "http://127.0.0.1:9/unreachable";
	svc.webhook_url = down;
	svc.webhook_secret_file = secret;
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.retried, 1);
	/* the daemon restarts: a new handle on the same database */
	gw_store_close(st);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = dbpath };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK);
	start_receiver(0);
	k = run(T0 + 3600);
	cr_assert_eq(k.posted, 1);
	cr_assert_eq(count_files(hook_dir, "^req-"), 1);
}

Test(notify, webhook_secret_missing_is_retried_with_its_reason)
{
	static char nofile[] = "/nonexistent/secret";
	start_receiver(0);
	svc.webhook_secret_file = nofile;
	condition("XK1", 1, "[jammed]");
	cr_assert_eq(run(T0).retried, 1);
	struct rows l;
	queue(&l);
	cr_assert_not_null(strstr(l.r[0].last_error, "notify.secret: /nonexistent/secret"), "%s",
			   l.r[0].last_error);
	cr_assert_eq(count_files(hook_dir, "^req-"), 0);
}

static char mail_dir[700];

static int mails(void)
{
	snprintf(mail_dir, sizeof(mail_dir), "%s/mail", relay_dir);
	return count_files(mail_dir, ".");
}

Test(notify, email_critical_at_once_the_rest_in_a_digest)
{
	start_sink();
	condition("XK1", 1, "[jammed, lowPaper]");   /* critical + warning */
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.mailed, 1);
	cr_assert_eq(k.digests, 0, "the digest waits digest_interval");
	cr_assert_eq(mails(), 1);
	cr_assert_eq(tm_test_sh("grep -q 'Subject: \\[telemail\\] CRITICAL condition XK1 jammed' '%s'/*",
				mail_dir), 0);
	k = run(T0 + 3600);
	cr_assert_eq(k.digests, 1);
	cr_assert_eq(k.digested, 1);
	cr_assert_eq(mails(), 2);
	cr_assert_eq(tm_test_sh("grep -q 'Subject: \\[telemail\\] digest: 1 alert notification$' '%s'/*",
				mail_dir), 0);
	cr_assert_eq(tm_test_sh("grep -q 'warning condition on XK1 (tenant acme): lowPaper' '%s'/*",
				mail_dir), 0);
	k = run(T0 + 7200);
	cr_assert_eq(k.mailed + k.digests, 0, "nothing twice");
}

Test(notify, email_throttled_per_kind)
{
	start_sink();
	svc.throttle_max = 2;
	svc.digest_interval = 0;
	condition("XK1", 1, "[jammed]");
	condition("XK2", 1, "[jammed]");
	condition("XK3", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.mailed, 2, "at most 2 per 2 h for kind condition");
	cr_assert_eq(k.digests, 1);
	cr_assert_eq(k.digested, 1, "the third went into the digest");
	cr_assert_eq(mails(), 3);
}

Test(notify, email_starttls_required_but_not_offered)
{
	start_sink();
	svc.starttls = 1;
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.mailed, 0);
	cr_assert_eq(k.retried, 1);
	struct rows l;
	queue(&l);
	cr_assert_not_null(strstr(l.r[0].last_error,
				  "smtp.tls: 127.0.0.1: the relay does not offer STARTTLS (required)"),
			   "%s", l.r[0].last_error);
	cr_assert_eq(mails(), 0);
}

/* A STARTTLS relay (aiosmtpd) with a certificate from the test CA ("right")
 * or a self-signed one ("wrong"); the notifier trusts the test CA only. */
static void start_tls_relay(const char *which)
{
	char *srv = tm_test_src("agent/servers.py");
	char *pki = tm_test_pki("");
	char certs[700];
	snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' certs '%s' '%s'", srv, certs, pki), 0);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' tls '%s' '%s/%s.pem' '%s/%s.key'", srv,
				relay_dir, certs, which, certs, which), 0);
	free(srv);
	static char host[] = "127.0.0.1", from[] = "telemail@gw.example", to[] = "service@example.net";
	static char ca[700];
	snprintf(ca, sizeof(ca), "%sca.pem", pki);
	free(pki);
	svc.smtp_host = host;
	svc.smtp_port = (unsigned)read_port(relay_dir);
	svc.starttls = 1;
	svc.smtp_ca_file = ca;
	svc.mail_from = from;
	svc.mail_to[0] = to;
	svc.n_mail_to = 1;
	svc.smtp_timeout = 20;
}

Test(notify, email_over_verified_starttls)
{
	start_tls_relay("right");
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.mailed, 1);
	cr_assert_eq(k.retried, 0);
	cr_assert_eq(mails(), 1);
}

Test(notify, email_starttls_with_a_wrong_certificate_is_refused)
{
	start_tls_relay("wrong");
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	cr_assert_eq(k.mailed, 0);
	cr_assert_eq(k.retried, 1);
	struct rows l;
	queue(&l);
	cr_assert_not_null(strstr(l.r[0].last_error, "smtp.certificate"), "%s", l.r[0].last_error);
	cr_assert_eq(mails(), 0, "nothing is sent over an unverified channel");
}

/* ---- configuration ---- */

static int parse_cfg(const char *tail, struct gw_config **out, struct tm_error *err)
{
	char buf[2048];
	snprintf(buf, sizeof(buf),
		 "gateway:\n  mailboxes: [t@gw.example]\n  keys: [{cert: gw.pem, key: gw.key}]\n"
		 "trust:\n  ca_file: ca.pem\n%s", tail);
	return gw_config_parse((const uint8_t *)buf, strlen(buf), "mailgw.yaml", "/etc/telemail",
			       out, err);
}

Test(notify, configuration)
{
	struct gw_config *cfg = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: mail.example.net:587\n"
			       "    from: telemail@gw.example\n    to: [svc@example.net]\n"
			       "    ca_file: relay-ca.pem\n  throttle: {max: 3, per: 1h}\n"
			       "  webhook:\n    url: https://hooks.example.net/t\n"
			       "    secret_file: hook.secret\n    retries: 7\n", &cfg, &err), 0,
		     "%s", err.msg);
	const struct gw_service_config *s = cfg->service;
	cr_assert_str_eq(s->smtp_host, "mail.example.net");
	cr_assert_eq(s->smtp_port, 587);
	cr_assert_eq(s->starttls, 1, "STARTTLS is required by default");
	cr_assert_str_eq(s->smtp_ca_file, "/etc/telemail/relay-ca.pem");
	cr_assert_eq(s->throttle_max, 3);
	cr_assert_eq(s->throttle_per, 3600);
	cr_assert_str_eq(s->webhook_secret_file, "/etc/telemail/hook.secret");
	cr_assert_eq(s->webhook_retries, 7);
	cr_assert_eq(s->notify_every, 60, "serve delivers every minute by default");
	cr_assert_eq(s->silence_check_every, 600, "and checks for silence every 10 minutes");
	gw_config_free(cfg);

	cr_assert_eq(parse_cfg("notify:\n  every: 5s\nalerts:\n  check_every: 1h\n", &cfg, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(cfg->service->notify_every, 5);
	cr_assert_eq(cfg->service->silence_check_every, 3600);
	gw_config_free(cfg);
	cr_assert_eq(parse_cfg("notify:\n  every: 0s\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_str_eq(err.msg, "mailgw.yaml:7: notify.every: 0s is out of range 1s..315360000s");

	cr_assert_eq(parse_cfg("notify:\n  email:\n    from: a@b.example\n    to: [c@d.example]\n",
			       &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.missing_key");
	cr_assert_str_eq(err.msg, "mailgw.yaml:8: notify.email.relay: missing");
	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: m.example:99999\n    from: a@b.example\n"
			       "    to: [c@d.example]\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "notify.email.relay: want host or host:port"), "%s", err.msg);
	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: m.example\n    starttls: maybe\n"
			       "    from: a@b.example\n    to: [c@d.example]\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "notify.email.starttls: want required or off"), "%s", err.msg);
	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: m.example\n    from: a@b.example\n"
			       "    to: [\"c@d.example\\r\\nBcc: x@y\"]\n", &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "notify.email.to[0]: holds a control character"), "%s",
			   err.msg);
	cr_assert_eq(parse_cfg("notify:\n  webhook:\n    url: ftp://x\n    secret_file: s\n", &cfg,
			       &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_not_null(strstr(err.msg, "notify.webhook.url: want an http:// or https:// URL"), "%s",
			   err.msg);
}

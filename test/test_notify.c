/* Notifications: the durable queue (one row per alert transition and
 * channel, kept across restarts), the webhook (a real local HTTP receiver:
 * JSON body, HMAC-SHA256 signature, retries with backoff, giving up), and
 * e-mail through Postfix's smtp-sink (immediate for critical, a digest for
 * the rest, throttled per kind; STARTTLS required refused by a relay that
 * does not offer it). E-mail's own retry policy against a real relay
 * (test/notify/relay.py) that is down for days and comes back on its port;
 * giving up, seen in `status`, the notify_failing alert, `notify list
 * --failed` and `notify retry` (the real binary); a TLS 1.3-only relay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common.h"
#include "config/config.h"
#include "config/config_service.h"
#include "service/alerts.h"
#include "service/notify_queue.h"
#include "service/notify.h"
#include "scenario/ingest.h"
#include "store_fixture.h"

#define T0 1790000000

static char *tmpdir;
static char dbpath[512];
static struct gw_store *st;
static struct gw_service_config svc;
static char url[128], secret[600], relay_dir[600], hook_dir[600];

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	snprintf(dbpath, sizeof(dbpath), "%s/telemail.db", tmpdir);
	snprintf(secret, sizeof(secret), "%s/webhook.secret", tmpdir);
	snprintf(relay_dir, sizeof(relay_dir), "%s/relay", tmpdir);
	snprintf(hook_dir, sizeof(hook_dir), "%s/hook", tmpdir);
	tm_test_write(secret, "s3cret\n", 7);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "XK1", "acme", 1);
	sc_enroll(st, "XK2", "acme", 2);
	sc_enroll(st, "XK3", "acme", 3);
}

static void teardown(void)
{
	char *rx = tm_test_src("notify/receiver.py"), *srv = tm_test_src("agent/servers.py");
	char *rl = tm_test_src("notify/relay.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", rx, hook_dir);
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", srv, relay_dir);
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", rl, relay_dir);
	free(rx);
	free(srv);
	free(rl);
	tm_store_test_close(st, tmpdir);
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
	cr_assert_eq(gw_store_notify_list(st, GW_NOTIFY_LIST_ALL, collect, l, &err),
		     GW_STORE_OK);
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
	svc.webhook_retry.retries = 2;
	condition("XK1", 1, "[jammed]");
	run(T0);
	struct gw_notify_counts k = run(T0 + 3600);
	cr_assert_eq(k.failed, 1);
	cr_assert_eq(k.failed_by[GW_NOTIFY_WEBHOOK], 1);
	struct rows l;
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_FAILED);
	run(T0 + 7200);
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_FAILED);
	cr_assert_eq(l.r[0].attempts, 2, "a failed notification is not tried again");
	cr_assert_eq(l.n, 2, "and the notify_failing alert it raised is queued");
	cr_assert_str_eq(l.r[1].kind, "notify_failing");
	cr_assert_eq(l.r[1].attempts, 1);
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
	struct gw_store_options o = tm_store_options(NULL);
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
	cr_assert_eq(s->webhook_retry.retries, 7);
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
	/* notify.lease: 5m by default; longer than either channel's timeout */
	cr_assert_eq(parse_cfg("notify:\n  lease: 20s\n  webhook: {url: http://h.example/,"
			       " secret_file: s, timeout: 5s}\n  email: {relay: m.example, from: a@b.example,"
			       " to: [c@d.example], timeout: 19s}\n", &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg->service->notify_lease, 20);
	gw_config_free(cfg);
	cr_assert_eq(parse_cfg("alerts: {check_every: 1h}\n", &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg->service->notify_lease, 300);
	gw_config_free(cfg);
	cr_assert_eq(parse_cfg("notify:\n  lease: 2s\n", &cfg, &err), 0, "no channel: any lease");
	gw_config_free(cfg);
	cr_assert_eq(parse_cfg("notify:\n  lease: 30s\n  email: {relay: m.example, from: a@b.example,"
			       " to: [c@d.example]}\n", &cfg, &err), -1, "email's timeout: 30s");
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_str_eq(err.msg, "mailgw.yaml:7: notify.lease: 30s must be longer than the "
			 "channels' timeouts (30s)");
	cr_assert_eq(parse_cfg("notify:\n  lease: 2d\n", &cfg, &err), -1);
	cr_assert_str_eq(err.msg, "mailgw.yaml:7: notify.lease: 2d is out of range 1s..86400s");

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

Test(notify, retry_policies_configured_per_channel)
{
	struct gw_config *cfg = NULL;
	struct tm_error err = {0};
	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: m.example\n    from: a@b.example\n"
			       "    to: [c@d.example]\n", &cfg, &err), 0, "%s", err.msg);
	const struct gw_retry_policy *e = &cfg->service->email_retry;
	const struct gw_retry_policy *w = &cfg->service->webhook_retry;
	/* the defaults: e-mail outlasts a relay outage over a long weekend */
	cr_assert_eq(e->retries, 0, "no limit by count");
	cr_assert_eq(e->backoff, 60);
	cr_assert_eq(e->max_backoff, 600);
	cr_assert_eq(e->give_up_after, 7 * 86400);
	cr_assert_eq(w->retries, 5);
	cr_assert_eq(w->backoff, 60);
	cr_assert_eq(w->max_backoff, 86400);
	cr_assert_eq(w->give_up_after, 7 * 86400);
	static const int64_t waits[] = { 60, 120, 240, 480, 600, 600, 600 };
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		cr_assert_eq(gw_notify_backoff(e, (int64_t)i + 1), waits[i], "attempt %zu", i + 1);
	gw_config_free(cfg);

	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: m.example\n    from: a@b.example\n"
			       "    to: [c@d.example]\n    retries: 10\n    backoff: 30s\n"
			       "    max_backoff: 1h\n    give_up_after: 3d\n  webhook:\n"
			       "    url: https://h.example/t\n    secret_file: s\n    give_up_after: 0s\n",
			       &cfg, &err), 0, "%s", err.msg);
	e = &cfg->service->email_retry;
	cr_assert_eq(e->retries, 10);
	cr_assert_eq(e->backoff, 30);
	cr_assert_eq(e->max_backoff, 3600);
	cr_assert_eq(e->give_up_after, 3 * 86400);
	cr_assert_eq(cfg->service->webhook_retry.give_up_after, 0, "0: no limit by age");
	cr_assert_eq(cfg->service->webhook_retry.retries, 5);
	gw_config_free(cfg);

	cr_assert_eq(parse_cfg("notify:\n  email:\n    relay: m.example\n    from: a@b.example\n"
			       "    to: [c@d.example]\n    backoff: 10m\n    max_backoff: 1m\n",
			       &cfg, &err), -1);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert_str_eq(err.msg, "mailgw.yaml:12: notify.email.max_backoff: 60s is shorter than "
		     "backoff (600s)");
}

/* A relay on a port chosen now, started later (relay.py): until then the
 * port refuses connections, as a relay that is down. */
static int relay_port;

static void relay_down(void)
{
	char *rl = tm_test_src("notify/relay.py"), p[700];
	snprintf(p, sizeof(p), "%s/chosen-port", tmpdir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' port > '%s'", rl, p), 0);
	free(rl);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	relay_port = atoi((char *)b.data);
	tm_buf_fini(&b);
	static char host[] = "127.0.0.1", from[] = "telemail@gw.example", to[] = "service@example.net";
	svc.smtp_host = host;
	svc.smtp_port = (unsigned)relay_port;
	svc.starttls = 0;
	svc.mail_from = from;
	svc.mail_to[0] = to;
	svc.n_mail_to = 1;
	svc.smtp_timeout = 20;
}

static void relay_up(const char *tls_args)
{
	char *rl = tm_test_src("notify/relay.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' start '%s' %d %s", rl, relay_dir, relay_port,
				tls_args), 0);
	free(rl);
}

static int relay_mails(void)
{
	return tm_test_sh("exit $(ls '%s/mail' | grep -c '\\.eml$')", relay_dir);
}

static struct gw_notify_channel_stats email_stats(void)
{
	struct gw_notify_channel_stats s[GW_NOTIFY_CHANNELS];
	struct tm_error err = {0};
	cr_assert_eq(gw_notify_stats(st, s, &err), GW_STORE_OK, "%s", err.msg);
	return s[GW_NOTIFY_EMAIL];
}

Test(notify, email_relay_down_over_a_weekend_loses_nothing)
{
	relay_down();   /* the default e-mail policy (setup) */
	condition("XK1", 1, "[jammed, lowPaper]");   /* a critical mail, a digest entry */
	int64_t now = T0, prev_wait = 0;
	size_t runs = 0;
	struct rows l;
	while (now < T0 + 3 * 86400) {   /* Friday evening to Monday evening */
		struct gw_notify_counts k = run(now);
		cr_assert_eq(k.failed, 0, "nothing given up at +%llds", (long long)(now - T0));
		cr_assert_eq(k.mailed + k.digests, 0);
		queue(&l);
		cr_assert_eq(l.n, 2);
		int64_t next = l.r[0].next_at;
		cr_assert_eq(l.r[0].state, GW_NOTIFY_PENDING);
		cr_assert_not_null(strstr(l.r[0].last_error, "smtp.connect: 127.0.0.1:"), "%s",
				   l.r[0].last_error);
		int64_t wait = next - now;
		cr_assert(wait == 60 || wait == 2 * prev_wait || wait == 600,
			  "wait %lld after %lld", (long long)wait, (long long)prev_wait);
		cr_assert_leq(wait, 600, "the e-mail backoff is capped at 10 minutes");
		prev_wait = wait;
		now = next;
		runs++;
	}
	cr_assert_eq(l.r[0].attempts, (int64_t)runs);
	cr_assert_eq(l.r[1].state, GW_NOTIFY_PENDING, "the digest entry waits too");
	cr_assert_gt(l.r[1].attempts, 400);
	struct gw_notify_channel_stats s = email_stats();
	cr_assert_eq(s.queued, 2);
	cr_assert_eq(s.failed, 0);
	cr_assert_eq(s.oldest_queued, T0);
	cr_assert_eq(relay_mails(), 0);

	relay_up("");   /* Monday: the relay is back on its port */
	struct gw_notify_counts k = run(now);
	cr_assert_eq(k.mailed, 1);
	cr_assert_eq(k.digests, 1);
	cr_assert_eq(k.digested, 1);
	cr_assert_eq(k.retried + k.failed, 0);
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_SENT);
	cr_assert_eq(l.r[1].state, GW_NOTIFY_SENT);
	cr_assert_eq(relay_mails(), 2);
	cr_assert_eq(tm_test_sh("grep -q 'Subject: \\[telemail\\] CRITICAL condition XK1 jammed' "
				"'%s/mail/0001.eml'", relay_dir), 0);
	s = email_stats();
	cr_assert_eq(s.queued + s.failed, 0);
}

/* The real binary on the test's database: its exit status and output. */
static int mailgw(const char *args, struct tm_buf *out)
{
	char cfg[700], outpath[700], yaml[2048];
	snprintf(cfg, sizeof(cfg), "%s/mailgw.yaml", tmpdir);
	snprintf(outpath, sizeof(outpath), "%s/out.txt", tmpdir);
	int n = snprintf(yaml, sizeof(yaml),
			 "state_dir: %s\ngateway:\n  mailboxes: [t@gw.example]\n"
			 "  keys: [{cert: gw.pem, key: gw.key}]\ntrust:\n  ca_file: ca.pem\n"
			 "notify:\n  email:\n    relay: 127.0.0.1:%d\n    starttls: off\n"
			 "    from: telemail@gw.example\n    to: [service@example.net]\n%s",
			 tmpdir, relay_port, tm_store_yaml());
	tm_test_write(cfg, yaml, (size_t)n);
	int rc = tm_test_sh("'%s/mailgw/telemail-mailgw' -c '%s' %s > '%s' 2>&1",
			    getenv("TM_BUILDDIR"), cfg, args, outpath);
	tm_buf_reset(out);
	tm_test_read(outpath, out);
	tm_buf_append(out, "", 1);
	return rc;
}

Test(notify, email_given_up_is_seen_listed_alerted_and_retried)
{
	relay_down();
	svc.email_retry = (struct gw_retry_policy){ .backoff = 60, .max_backoff = 60,
						    .give_up_after = 300 };
	condition("XK1", 1, "[jammed]");
	for (int64_t t = T0; t < T0 + 300; t += 60)
		cr_assert_eq(run(t).retried, 1, "+%llds", (long long)(t - T0));
	struct gw_notify_counts k = run(T0 + 300);
	cr_assert_eq(k.failed, 1);
	cr_assert_eq(k.failed_by[GW_NOTIFY_EMAIL], 1);
	struct rows l;
	queue(&l);
	int64_t id = l.r[0].id;
	cr_assert_eq(l.r[0].state, GW_NOTIFY_FAILED);
	cr_assert_eq(l.r[0].attempts, 6);
	cr_assert_not_null(strstr(l.r[0].last_error, "smtp.connect: "), "%s", l.r[0].last_error);

	/* the alert, queued itself (e-mail is the only channel) */
	struct gw_alert_row a;
	cr_assert(sc_alert(st, "gateway", "notify_failing", "email", &a));
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_str_eq(a.severity, "warning");
	cr_assert_str_eq(a.tenant, "");
	cr_assert_not_null(strstr(a.detail, "1 email notification given up (1 failed in all, see "
				  "notify list --failed): smtp.connect: "), "%s", a.detail);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.r[1].kind, "notify_failing");
	cr_assert_eq(l.r[1].state, GW_NOTIFY_PENDING);

	struct gw_notify_channel_stats s = email_stats();
	cr_assert_eq(s.failed, 1);
	cr_assert_eq(s.oldest_failed, T0);
	cr_assert_eq(s.queued, 1);
	cr_assert_eq(s.oldest_queued, T0 + 300);

	struct tm_buf out;
	tm_buf_init(&out);
	mailgw("status", &out);
	cr_assert_not_null(strstr((char *)out.data, "notify email    queued 1 (oldest 2026-09-21T"
				  "14:18:20Z), failed 1 (oldest 2026-09-21T14:13:20Z); last error: "
				  "smtp.connect: "), "%s", out.data);
	cr_assert_not_null(strstr((char *)out.data, "notify webhook  queued 0 (oldest -), failed 0"),
			   "%s", out.data);
	mailgw("status --json", &out);
	json_t *j = json_loads((char *)out.data, 0, NULL);
	cr_assert_not_null(j, "%s", out.data);
	json_t *e = json_object_get(json_object_get(json_object_get(j, "shared"), "notify"),
				    "email");
	cr_assert_eq(json_integer_value(json_object_get(e, "failed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(e, "queued")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(e, "oldest_failed")), "2026-09-21T14:13:20Z");
	json_decref(j);

	cr_assert_eq(mailgw("notify list --failed --json", &out), 0, "%s", out.data);
	j = json_loads((char *)out.data, 0, NULL);
	cr_assert_eq(json_array_size(j), 1, "%s", out.data);
	json_t *f = json_array_get(j, 0);
	cr_assert_eq(json_integer_value(json_object_get(f, "id")), id);
	cr_assert_str_eq(json_string_value(json_object_get(f, "channel")), "email");
	cr_assert_str_eq(json_string_value(json_object_get(f, "state")), "failed");
	cr_assert_str_eq(json_string_value(json_object_get(f, "kind")), "condition");
	cr_assert_eq(json_integer_value(json_object_get(f, "attempts")), 6);
	json_decref(j);
	cr_assert_eq(mailgw("notify list", &out), 0);
	cr_assert_eq(tm_test_sh("exit $(grep -c -E '^ +[0-9]+  email ' '%s/out.txt')", tmpdir), 2,
		     "queued and failed: %s", out.data);

	/* a failed notification is not tried again by itself */
	k = run(T0 + 400);   /* (the alert's own notification waits for the digest) */
	cr_assert_eq(k.retried + k.failed + k.mailed + k.digests, 0);
	queue(&l);
	cr_assert_eq(l.r[0].attempts, 6);

	cr_assert_eq(mailgw("notify retry 999", &out), 1);
	cr_assert_not_null(strstr((char *)out.data, "notify.not_found"), "%s", out.data);
	char args[64];
	snprintf(args, sizeof(args), "notify retry %lld", (long long)l.r[1].id);
	cr_assert_eq(mailgw(args, &out), 1);
	cr_assert_not_null(strstr((char *)out.data, "notify.bad_state"), "%s", out.data);

	relay_up("");
	snprintf(args, sizeof(args), "notify retry %lld", (long long)id);
	cr_assert_eq(mailgw(args, &out), 0, "%s", out.data);
	cr_assert_str_eq((char *)out.data, "notify retry: queued=1\n");
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_PENDING);
	cr_assert_eq(l.r[0].attempts, 0, "a fresh retry budget");
	k = run(l.r[0].next_at);
	cr_assert_eq(k.mailed, 1, "sent once the relay is up");
	cr_assert_eq(k.digests, 1, "with the alert's notification in a digest");
	queue(&l);
	cr_assert_eq(l.r[0].state, GW_NOTIFY_SENT);
	cr_assert_eq(relay_mails(), 2);
	cr_assert_eq(tm_test_sh("grep -q 'Subject: \\[telemail\\] CRITICAL condition XK1 jammed' "
				"'%s/mail/0001.eml'", relay_dir), 0);
	cr_assert(sc_alert(st, "gateway", "notify_failing", "email", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED, "nothing failed any more");
	s = email_stats();
	cr_assert_eq(s.failed, 0);
	cr_assert_eq(mailgw("audit", &out), 0);
	cr_assert_not_null(strstr((char *)out.data, "notify.retry"), "%s", out.data);
	cr_assert_eq(mailgw("notify retry --all", &out), 0);
	cr_assert_str_eq((char *)out.data, "notify retry: queued=0\n");
	tm_buf_fini(&out);
}

Test(notify, email_over_a_tls13_only_relay)
{
	relay_down();
	char *srv = tm_test_src("agent/servers.py"), *pki = tm_test_pki("");
	char certs[700], args[1600];
	snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' certs '%s' '%s'", srv, certs, pki), 0);
	snprintf(args, sizeof(args), "'%s/right.pem' '%s/right.key' tls1.3", certs, certs);
	relay_up(args);
	static char ca[700];
	snprintf(ca, sizeof(ca), "%sca.pem", pki);
	free(srv);
	free(pki);
	svc.starttls = 1;
	svc.smtp_ca_file = ca;
	condition("XK1", 1, "[jammed]");
	struct gw_notify_counts k = run(T0);
	struct rows l;
	queue(&l);
	cr_assert_eq(k.mailed, 1, "%s", l.r[0].last_error);
	cr_assert_eq(k.retried, 0);
	cr_assert_eq(relay_mails(), 1);
	cr_assert_eq(tm_test_sh("grep -qx 'TLSv1.3' '%s/mail/0001.tls'", relay_dir), 0);
}

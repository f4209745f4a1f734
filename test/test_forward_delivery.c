/* Forwarding's delivery policy with the test's clock (issue 17), against
 * the real HTTPS receiver (test/forward/receiver.py): the forward_backlog
 * gateway alert (not before the oldest queued event is backlog_alert old,
 * opened at that age with its notification queued, repeated while the
 * queue stays late, resolved with a notification once it drains), and by
 * the count queued (backlog_alert_events); a receiver that is down
 * (connection refused) for many passes and then back (nothing lost, order
 * per device kept); Retry-After as an HTTP date. The cases of test_forward.c (503 outage, 429 in seconds, 400, reset,
 * slow answer, wrong host) are not repeated here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common.h"
#include "config/config.h"
#include "config/config_forward.h"
#include "config/config_service.h"
#include "forward/forward.h"
#include "forward/fwd_rx.h"
#include "scenario/ingest.h"

#define T0 1790000000

static char *tmpdir;
static char rxdir[600], url[128];
static struct gw_store *st;
static struct gw_service_config svc;
static struct gw_forward_config fcfg;
static struct gw_forward_endpoint fep[1];

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	snprintf(rxdir, sizeof(rxdir), "%s/rx", tmpdir);
	char db[700];
	snprintf(db, sizeof(db), "%s/telemail.db", tmpdir);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db, .forward = true };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	static char hook[] = "http://127.0.0.1:9/hook";   /* queued, never sent here */
	svc.webhook_url = hook;
	sc_enroll(st, "XK1", "acme", 1);
	sc_enroll(st, "XK2", "acme", 2);
	memset(&fcfg, 0, sizeof(fcfg));
	fcfg.gateway = "gw-test";
	fcfg.endpoints = fep;
	fcfg.n_endpoints = 1;
	struct gw_forward_endpoint *e = &fep[0];
	gw_forward_endpoint_defaults(e);
	snprintf(e->name, sizeof(e->name), "cloud");
	snprintf(url, sizeof(url), "https://127.0.0.1:9/events");   /* nothing listens */
	e->url = url;
	e->ca_file = tm_test_pki("ca.pem");
	e->batch_max_events = 2;
	e->timeout = 2;
	e->connect_timeout = 2;
	e->lease = 10;
	e->backoff = 1;
	e->max_backoff = 4;
	e->backlog_alert = 300;
}

static void teardown(void)
{
	fwd_rx_stop(rxdir);
	free(fep[0].ca_file);
	gw_store_close(st);
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(forward_delivery, .init = setup, .fini = teardown, .timeout = 120);

static void ingest(const char *serial, long long seq)
{
	fwd_ingest(st, &svc, serial, seq, T0);
}

static struct gw_forward_counts pass(int64_t now)
{
	struct gw_forward_run r = { .cfg = &fcfg, .svc = &svc, .now = now, .owner = "test" };
	struct gw_forward_counts k;
	struct tm_error err = {0};
	cr_assert_eq(gw_forward_run_once(st, &r, &k, &err), 0, "%s: %s", err.reason, err.msg);
	return k;
}

struct rows {
	struct gw_notify_row r[16];
	size_t n;
};

static int collect(void *ctx, const struct gw_notify_row *n)
{
	struct rows *l = ctx;
	if (l->n < 16)
		l->r[l->n++] = *n;
	return 0;
}

static void notifications(struct rows *l)
{
	struct tm_error err = {0};
	l->n = 0;
	cr_assert_eq(gw_store_notify_list(st, GW_NOTIFY_LIST_ALL, collect, l, &err), GW_STORE_OK);
}

Test(forward_delivery, backlog_alert_opens_at_its_age_and_resolves_when_drained)
{
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	fwd_rx_put(rxdir, "plan", "[{\"status\":503},{\"status\":503},{\"status\":503},"
		   "{\"status\":503},{\"status\":503},{\"status\":503},{\"status\":503},"
		   "{\"status\":503}]");
	fep[0].max_backoff = 1;   /* every retry waits 1 s: each pass below tries both */
	ingest("XK1", 1);
	ingest("XK1", 2);
	ingest("XK2", 1);
	struct gw_alert_row a;
	struct rows l;
	/* queued at T0 + 1000 (the fan-out); late from T0 + 1300 */
	cr_assert_eq(pass(T0 + 1000).retried, 2, "XK1's batch and XK2's");
	cr_assert(!sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &a));
	cr_assert_eq(pass(T0 + 1299).retried, 2);
	cr_assert(!sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &a),
		  "299 s: not yet");
	notifications(&l);
	cr_assert_eq(l.n, 0);

	cr_assert_eq(pass(T0 + 1300).retried, 2);
	cr_assert(sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &a), "300 s: late");
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_str_eq(a.severity, "warning");
	cr_assert_str_eq(a.tenant, "");
	cr_assert_eq(a.first_seen, T0 + 1300);
	cr_assert_eq(a.count, 1);
	cr_assert_str_eq(a.detail, "3 events waiting, the oldest for 300 s; "
			 "forward.unavailable: cloud: answered HTTP 503");
	notifications(&l);
	cr_assert_eq(l.n, 1);
	cr_assert_eq(l.r[0].alert_id, a.id);
	cr_assert_str_eq(l.r[0].event, "opened");
	cr_assert_str_eq(l.r[0].kind, "forward_backlog");
	cr_assert_str_eq(l.r[0].channel, "webhook");
	cr_assert_eq(l.r[0].state, GW_NOTIFY_PENDING);

	/* still late: the same alert, counted again; no second notification */
	cr_assert_eq(pass(T0 + 1310).retried, 2, "requests 7 and 8, the plan's last");
	struct gw_alert_row b;
	cr_assert(sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &b));
	cr_assert_eq(b.id, a.id);
	cr_assert_eq(b.state, GW_ALERT_OPEN);
	cr_assert_eq(b.count, 2);
	cr_assert_str_eq(b.detail, "3 events waiting, the oldest for 310 s; "
			 "forward.unavailable: cloud: answered HTTP 503");
	notifications(&l);
	cr_assert_eq(l.n, 1);

	/* the plan is spent: 200 from here; the queue drains, the alert resolves */
	struct gw_forward_counts k = pass(T0 + 1320);
	cr_assert_eq(k.sent, 3);
	cr_assert(sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &b));
	cr_assert_eq(b.id, a.id);
	cr_assert_eq(b.state, GW_ALERT_RESOLVED);
	cr_assert_eq(b.resolved_at, T0 + 1320);
	notifications(&l);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.r[1].event, "resolved");
	cr_assert_str_eq(l.r[1].kind, "forward_backlog");
	cr_assert_eq(l.r[1].alert_id, a.id);
	/* an empty queue opens nothing, however late the clock */
	pass(T0 + 99999);
	cr_assert(sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &b));
	cr_assert_eq(b.state, GW_ALERT_RESOLVED);
	notifications(&l);
	cr_assert_eq(l.n, 2);
}

Test(forward_delivery, backlog_alert_by_count_opens_at_the_limit)
{
	fep[0].backlog_alert = 3600;
	fep[0].backlog_alert_events = 3;
	ingest("XK1", 1);
	ingest("XK1", 2);
	struct gw_alert_row a;
	struct rows l;
	cr_assert_eq(pass(T0 + 1000).retried, 1, "nothing listens");
	cr_assert(!sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &a), "2 < 3");
	ingest("XK2", 1);
	cr_assert_eq(pass(T0 + 1010).queued, 1);
	cr_assert(sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &a), "3 waiting");
	cr_assert_eq(a.state, GW_ALERT_OPEN);
	cr_assert_eq(a.first_seen, T0 + 1010);
	static const char want[] = "3 events waiting, the oldest for 10 s; "
				   "forward.unavailable: cloud: ";
	cr_assert_eq(strncmp(a.detail, want, sizeof(want) - 1), 0, "%s", a.detail);
	notifications(&l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.r[0].event, "opened");
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	cr_assert_eq(pass(T0 + 1020).sent, 3);
	cr_assert(sc_alert(st, GW_ALERTS_GATEWAY, "forward_backlog", "cloud", &a));
	cr_assert_eq(a.state, GW_ALERT_RESOLVED);
	notifications(&l);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.r[1].event, "resolved");
}

Test(forward_delivery, receiver_down_for_many_passes_then_back)
{
	for (int seq = 1; seq <= 5; seq++) {
		ingest("XK1", seq);
		ingest("XK2", seq);
	}
	int64_t now = T0 + 1000;
	for (int i = 0; i < 12; i++, now += 10) {
		struct gw_forward_counts k = pass(now);
		cr_assert_eq(k.sent, 0);
		cr_assert_eq(k.retried, 1, "the first batch (XK1 and XK2 seq 1) holds both "
			     "devices back: %zu", k.retried);
	}
	struct gw_fwd_stats s;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_eq(s.queued, 10);
	cr_assert_eq(s.retries, 12);
	cr_assert_not_null(strstr(s.last_error, "forward.unavailable: cloud: "), "%s", s.last_error);
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	for (int i = 0; i < 10; i++, now += 10)
		pass(now);
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_eq(s.queued, 0);
	cr_assert_eq(s.sent, 10);
	cr_assert_eq(s.dead, 0);
	json_t *evs = fwd_rx_events(rxdir);
	cr_assert_eq(json_array_size(evs), 10, "each once: nothing reached it while down");
	fwd_check_device(evs, "XK1", 5);
	fwd_check_device(evs, "XK2", 5);
	json_decref(evs);
}

Test(forward_delivery, retry_after_as_an_http_date)
{
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	/* the header's date is the real clock's; the pass's clock is the test's:
	 * the wait is the date minus the real now (about an hour) */
	char plan[256], date[64];
	time_t at = time(NULL) + 3600;
	struct tm tmv;
	gmtime_r(&at, &tmv);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tmv);
	snprintf(plan, sizeof(plan), "[{\"status\":429,\"retry_after\":\"%s\"}]", date);
	fwd_rx_put(rxdir, "plan", plan);
	ingest("XK1", 1);
	cr_assert_eq(pass(T0 + 100).retried, 1);
	cr_assert_eq(pass(T0 + 100 + 3500).batches, 0, "not before the date");
	cr_assert_eq(fwd_rx_requests(rxdir), 1);
	cr_assert_eq(pass(T0 + 100 + 3601).sent, 1);
	cr_assert_eq(fwd_rx_requests(rxdir), 2);
}

/* backlog_alert_events: 0 (off) by default, a count up to 100,000,000. */
Test(forward_delivery, backlog_alert_events_limits)
{
	struct gw_forward_endpoint d;
	gw_forward_endpoint_defaults(&d);
	cr_assert_eq(d.backlog_alert_events, 0);
	static const char *const vals[] = { "100000000", "100000001", "-1" };
	for (size_t i = 0; i < 3; i++) {
		char buf[1024];
		snprintf(buf, sizeof(buf),
			 "gateway:\n  mailboxes: [t@gw.example]\n  keys: [{cert: gw.pem, key: gw.key}]\n"
			 "trust:\n  ca_file: ca.pem\nforward:\n  endpoints:\n"
			 "    - {name: cloud, url: https://cloud.example/e, backlog_alert_events: %s}\n",
			 vals[i]);
		struct gw_config *cfg = NULL;
		struct tm_error err = {0};
		int rc = gw_config_parse((const uint8_t *)buf, strlen(buf), "mailgw.yaml",
					 "/etc/telemail", &cfg, &err);
		if (i == 0) {
			cr_assert_eq(rc, 0, "%s", err.msg);
			cr_assert_eq(cfg->forward->endpoints[0].backlog_alert_events, 100000000);
		} else {
			cr_assert_lt(rc, 0);
			cr_assert_str_eq(err.reason, "config.bad_value");
			char want[256];
			snprintf(want, sizeof(want), "mailgw.yaml:8: forward.endpoints[0]."
				 "backlog_alert_events: %s is out of range 0..100000000", vals[i]);
			cr_assert_str_eq(err.msg, want);
		}
		gw_config_free(cfg);
	}
}

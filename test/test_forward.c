/* Forwarding (issue 17): the outbox written with the record, batches to a
 * real HTTPS receiver (test/forward/receiver.py, TLS with the test PKI) that
 * fails as told: an outage through many retries (nothing lost, order per
 * device kept), 429 with Retry-After, a permanent 400 (dead-lettered, the
 * rest flows on), a reset mid-body, a slow answer past the timeout, a
 * server certificate for another host name (nothing sent, a clear error),
 * and the default policy. Short retry policies; the clock is the test's.
 * On SQLite (suite forward) and PostgreSQL (forward_pg, test/store_fixture.h),
 * where two gateways also race on one outbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "common.h"
#include "config/config_forward.h"
#include "config/config_service.h"
#include "forward/forward.h"
#include "scenario/ingest.h"
#include "store_fixture.h"

#define T0 1790000000

static char *tmpdir, *rxdir;
static struct gw_store *st;
static struct gw_service_config svc;
static struct gw_forward_config fcfg;
static struct gw_forward_endpoint fep[1];
static char url[128];

static void start_receiver(const char *cert)
{
	char *script = tm_test_src("forward/receiver.py");
	char *c = tm_test_pki(cert), *k;
	char key[512];
	snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(c) - 4), c);
	k = key;
	cr_assert_eq(tm_test_sh("python3 %s start %s %s %s", script, rxdir, c, k), 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/port", rxdir);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	snprintf(url, sizeof(url), "https://127.0.0.1:%.*s/events", (int)b.len, (char *)b.data);
	tm_buf_fini(&b);
	free(script);
	free(c);
}

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, true);
	struct tm_error err = {0};
	rxdir = malloc(600);
	snprintf(rxdir, 600, "%s/rx", tmpdir);
	cr_assert_eq(gw_registry_tenant_add(st, "other", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "XK1", "acme", 1);
	sc_enroll(st, "XK2", "acme", 2);
	sc_enroll(st, "XK9", "other", 9);
	memset(&fcfg, 0, sizeof(fcfg));
	fcfg.gateway = "gw-test";
	fcfg.endpoints = fep;
	fcfg.n_endpoints = 1;
	struct gw_forward_endpoint *e = &fcfg.endpoints[0];
	gw_forward_endpoint_defaults(e);
	snprintf(e->name, sizeof(e->name), "cloud");
	e->url = url;
	e->ca_file = tm_test_pki("ca.pem");
	e->batch_max_events = 3;
	e->timeout = 2;
	e->connect_timeout = 2;
	e->lease = 10;
	e->backoff = 1;
	e->max_backoff = 4;
}

static void teardown(void)
{
	char *script = tm_test_src("forward/receiver.py");
	tm_test_sh("python3 %s stop %s", script, rxdir);
	free(script);
	free(fcfg.endpoints[0].ca_file);
	tm_store_test_close(st, tmpdir);
	free(rxdir);
}

TestSuite(forward, .init = setup, .fini = teardown, .timeout = 120);

static void plan(const char *json)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/plan", rxdir);
	tm_test_write(path, json, strlen(json));
}

static void ingest(const char *serial, long long seq, const char *tenant)
{
	struct sc_report r;
	sc_report_init(&r, serial, seq, T0 + seq * 60);
	r.total = 1000 + seq;
	cr_assert_eq(sc_ingest(st, &svc, &r, tenant, T0 + seq * 60), GW_PUT_STORED);
}

static void log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

static struct gw_forward_counts pass(int64_t now)
{
	struct gw_forward_run r = { .cfg = &fcfg, .svc = &svc, .now = now, .owner = "test",
				    .log = log_stderr };
	struct gw_forward_counts k;
	struct tm_error err = {0};
	cr_assert_eq(gw_forward_run_once(st, &r, &k, &err), 0, "%s: %s", err.reason, err.msg);
	return k;
}

/* The events the receiver accepted (2xx), in arrival order. */
static json_t *received(void)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/events.ndjson", rxdir);
	json_t *arr = json_array();
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return arr;
	char line[65536];
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t je;
		json_t *e = json_loads(line, 0, &je);
		cr_assert_not_null(e, "%s", je.text);
		json_array_append_new(arr, e);
	}
	fclose(f);
	return arr;
}

static size_t requests(void)
{
	size_t n = 0;
	char path[700];
	for (;; n++) {
		snprintf(path, sizeof(path), "%s/req-%04zu.json", rxdir, n + 1);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			return n;
		fclose(f);
	}
}

static json_t *request(size_t n)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/req-%04zu.json", rxdir, n);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	cr_assert_not_null(j, "%s: %s", path, je.text);
	return j;
}

/* Every report event of every device exactly once by id, in seq order per
 * device; returns how many distinct report events. */
static size_t check_reports(json_t *evs, size_t want_per_device, const char *const *serials,
			    size_t n_serials)
{
	size_t distinct = 0;
	for (size_t d = 0; d < n_serials; d++) {
		long long last = 0;
		for (size_t i = 0; i < json_array_size(evs); i++) {
			json_t *e = json_array_get(evs, i);
			if (strcmp(json_string_value(json_object_get(e, "type")), "org.telemail.report.v1") != 0 ||
			    strcmp(json_string_value(json_object_get(e, "subject")), serials[d]) != 0)
				continue;
			long long seq = json_integer_value(json_object_get(
				json_object_get(json_object_get(e, "data"), "report"), "seq"));
			cr_assert(seq >= last, "%s: seq %lld after %lld", serials[d], seq, last);
			if (seq > last)
				distinct++;
			last = seq;
		}
		cr_assert_eq(last, (long long)want_per_device, "%s: last seq", serials[d]);
	}
	return distinct;
}

Test(forward, event_format_and_headers)
{
	start_receiver("gw-tls.pem");
	ingest("XK1", 1, "acme");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.sent, 1);
	cr_assert_eq(k.batches, 1);
	json_t *evs = received();
	cr_assert_eq(json_array_size(evs), 1);
	json_t *e = json_array_get(evs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "specversion")), "1.0");
	cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "org.telemail.report.v1");
	cr_assert_str_eq(json_string_value(json_object_get(e, "source")),
			 "telemail-mailgw://gw-test/tenant/acme");
	cr_assert_str_eq(json_string_value(json_object_get(e, "subject")), "XK1");
	cr_assert_str_eq(json_string_value(json_object_get(e, "datacontenttype")), "application/json");
	json_t *data = json_object_get(e, "data");
	cr_assert_str_eq(json_string_value(json_object_get(e, "id")),
			 json_string_value(json_object_get(json_object_get(data, "report"), "id")));
	json_t *rq = request(1);
	json_t *h = json_object_get(rq, "headers");
	cr_assert_str_eq(json_string_value(json_object_get(h, "content-type")),
			 "application/cloudevents-batch+json");
	cr_assert_eq(strlen(json_string_value(json_object_get(h, "idempotency-key"))), 32);
	json_decref(rq);
	json_decref(evs);
	struct gw_fwd_stats s;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_eq(s.queued, 0);
	cr_assert_eq(s.sent, 1);
	cr_assert_eq(s.dead, 0);
}

Test(forward, outage_through_many_retries_loses_nothing_keeps_order)
{
	start_receiver("gw-tls.pem");
	plan("[{\"status\":503},{\"status\":503},{\"status\":502},{\"status\":500},"
	     "{\"status\":503},{\"status\":504},{\"status\":503},{\"status\":503}]");
	const char *const serials[] = { "XK1", "XK2" };
	for (int seq = 1; seq <= 5; seq++) {
		ingest("XK1", seq, "acme");
		ingest("XK2", seq, "acme");
	}
	int64_t now = T0 + 1000;
	for (int i = 0; i < 40; i++, now += 10)   /* 10 s apart: past any backoff (max 4 s) */
		pass(now);
	json_t *evs = received();
	cr_assert_eq(check_reports(evs, 5, serials, 2), 10, "every event, once per id");
	json_decref(evs);
	/* a retried batch kept its Idempotency-Key */
	json_t *r1 = request(1), *r2 = request(2);
	json_t *first_ids = json_object_get(r1, "events");
	cr_assert_gt(json_array_size(first_ids), 0);
	cr_assert_gt(requests(), 8);
	json_decref(r1);
	json_decref(r2);
	struct gw_fwd_stats s;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_eq(s.queued, 0);
	cr_assert_eq(s.sent, 10);
	cr_assert_eq(s.retries, 8);
	cr_assert_eq(s.dead, 0);
}

Test(forward, retry_keeps_the_idempotency_key)
{
	start_receiver("gw-tls.pem");
	plan("[{\"status\":503}]");
	ingest("XK1", 1, "acme");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.retried, 1);
	cr_assert_eq(k.sent, 0);
	k = pass(T0 + 200);
	cr_assert_eq(k.sent, 1);
	json_t *a = request(1), *b = request(2);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "headers"), "idempotency-key")),
			 json_string_value(json_object_get(json_object_get(b, "headers"), "idempotency-key")));
	json_decref(a);
	json_decref(b);
}

Test(forward, too_many_requests_honours_retry_after)
{
	start_receiver("gw-tls.pem");
	plan("[{\"status\":429,\"retry_after\":\"120\"}]");
	ingest("XK1", 1, "acme");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.retried, 1);
	k = pass(T0 + 100 + 60);   /* within Retry-After: nothing tried */
	cr_assert_eq(k.batches, 0);
	cr_assert_eq(requests(), 1);
	k = pass(T0 + 100 + 121);
	cr_assert_eq(k.sent, 1);
	cr_assert_eq(requests(), 2);
}

Test(forward, permanent_400_dead_letters_that_batch_the_rest_flows)
{
	start_receiver("gw-tls.pem");
	plan("[{\"status\":400,\"body\":\"schema says no\"}]");
	fcfg.endpoints[0].batch_max_events = 2;
	for (int seq = 1; seq <= 4; seq++)
		ingest("XK1", seq, "acme");
	struct gw_forward_counts k = pass(T0 + 1000);
	cr_assert_eq(k.dead, 2);
	cr_assert_eq(k.sent, 2, "the later events of the same device flow on");
	struct gw_fwd_item *items;
	size_t n;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_dead_list(st, &items, &n, &err), GW_STORE_OK);
	cr_assert_eq(n, 2);
	cr_assert_not_null(strstr(items[0].last_error, "forward.rejected"), "%s", items[0].last_error);
	cr_assert_not_null(strstr(items[0].last_error, "HTTP 400: schema says no"), "%s",
			   items[0].last_error);
	/* retry them: they arrive */
	size_t changed;
	cr_assert_eq(gw_store_forward_dead_retry(st, 0, T0 + 2000, &changed, &err), GW_STORE_OK);
	cr_assert_eq(changed, 2);
	gw_fwd_items_free(items, n);
	k = pass(T0 + 2000);
	cr_assert_eq(k.sent, 2);
	json_t *evs = received();
	cr_assert_eq(json_array_size(evs), 4);
	json_decref(evs);
	cr_assert_eq(gw_store_forward_dead_drop(st, 77, &changed, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "forward.not_found");
}

Test(forward, reset_mid_body_and_slow_answer_are_retried)
{
	start_receiver("gw-tls.pem");
	plan("[{\"reset\":true},{\"sleep\":4}]");   /* timeout is 2 s */
	ingest("XK1", 1, "acme");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.retried, 1);
	k = pass(T0 + 200);
	cr_assert_eq(k.retried, 1);
	struct gw_fwd_stats s;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_not_null(strstr(s.last_error, "forward.unavailable"), "[%s] queued=%zu retries=%lld", s.last_error, s.queued, (long long)s.retries);
	k = pass(T0 + 300);
	cr_assert_eq(k.sent, 1);
	json_t *evs = received();
	/* the slow answer was stored by the receiver (200 after the client gave
	 * up) and again on the retry: at least once, deduplicated by id */
	cr_assert_geq(json_array_size(evs), 1);
	const char *id = json_string_value(json_object_get(json_array_get(evs, 0), "id"));
	for (size_t i = 1; i < json_array_size(evs); i++)
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(evs, i), "id")), id);
	json_decref(evs);
}

Test(forward, wrong_host_name_sends_nothing_says_why)
{
	start_receiver("gw-ec.pem");   /* a certificate without 127.0.0.1 */
	ingest("XK1", 1, "acme");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.retried, 1);
	cr_assert_eq(k.sent, 0);
	cr_assert_eq(requests(), 0, "nothing reached the receiver");
	struct gw_fwd_stats s;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_eq(s.queued, 1);
	cr_assert_not_null(strstr(s.last_error, "forward.tls"), "%s", s.last_error);
}

Test(forward, tenant_subtree_and_event_filter)
{
	start_receiver("gw-tls.pem");
	fcfg.endpoints[0].tenants[0] = "acme";
	fcfg.endpoints[0].n_tenants = 1;
	fcfg.endpoints[0].kinds = GW_FORWARD_METER;
	ingest("XK1", 1, "acme");
	ingest("XK9", 1, "other");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.sent, 1);
	json_t *evs = received();
	cr_assert_eq(json_array_size(evs), 1);
	json_t *e = json_array_get(evs, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "org.telemail.meter.v1");
	cr_assert_str_eq(json_string_value(json_object_get(e, "subject")), "XK1");
	cr_assert_not_null(strstr(json_string_value(json_object_get(e, "id")), ":meter"));
	cr_assert_not_null(json_object_get(json_object_get(e, "data"), "counters"));
	json_decref(evs);
	fcfg.endpoints[0].tenants[0] = NULL;
	fcfg.endpoints[0].n_tenants = 0;
}

Test(forward, nothing_queued_when_forwarding_is_off)
{
	gw_store_close(st);
	struct tm_error err = {0};
	struct gw_store_options o = tm_store_options(NULL);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	ingest("XK1", 1, "acme");
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM fwd_event"), 0);
	start_receiver("gw-tls.pem");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.queued, 0);
	cr_assert_eq(k.sent, 0);
}

/* The reports and alerts of every tenant, as the endpoint's default filter. */
static unsigned reports_and_alerts(void *ctx, enum gw_fwd_kind kind, const char *tenant)
{
	(void)ctx;
	(void)tenant;
	return (unsigned)kind & (GW_FWD_REPORT | GW_FWD_ALERT);
}

/* Another gateway (a handle of its own, owner gw-other) has leased a batch
 * of XK1 and not answered: this gateway sends XK2's events, none of XK1's,
 * not even the later ones; once the lease ran out it takes that batch over
 * with the same Idempotency-Key, and XK1's events follow in order. */
Test(forward, a_lease_held_elsewhere_holds_that_device_back)
{
	start_receiver("gw-tls.pem");
	for (int seq = 1; seq <= 4; seq++)
		ingest("XK1", seq, "acme");
	for (int seq = 1; seq <= 3; seq++)
		ingest("XK2", seq, "acme");
	struct gw_store *other;
	struct tm_error err = {0};
	struct gw_store_options o = tm_store_options(NULL);
	o.forward = true;
	cr_assert_eq(gw_store_open(&o, &other, &err), GW_STORE_OK, "%s", err.msg);
	size_t added = 0;
	cr_assert_eq(gw_store_forward_fanout(other, "cloud", reports_and_alerts, NULL, T0 + 1000,
					     100, &added, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(added, 7);
	struct gw_fwd_item *held;
	size_t n;
	cr_assert_eq(gw_store_forward_claim(other, "cloud", "gw-other", 1, 0, T0 + 1000, 10, &held,
					    &n, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(held[0].serial, "XK1");
	char key[GW_FWD_BATCH_KEY];
	snprintf(key, sizeof(key), "%s", held[0].batch);
	gw_fwd_items_free(held, n);

	struct gw_forward_counts k = pass(T0 + 1005);   /* the lease runs until +1010 */
	cr_assert_eq(k.sent, 3, "XK2's three");
	json_t *evs = received();
	cr_assert_eq(json_array_size(evs), 3);
	for (size_t i = 0; i < json_array_size(evs); i++)
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(evs, i), "subject")),
				 "XK2", "XK1 waits for the batch held elsewhere");
	json_decref(evs);
	size_t before = requests();

	k = pass(T0 + 1011);   /* the lease ran out: taken over, then the rest */
	cr_assert_eq(k.sent, 4);
	json_t *rq = request(before + 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rq, "headers"),
							   "idempotency-key")), key);
	json_decref(rq);
	evs = received();
	const char *const xk1[] = { "XK1" }, *const xk2[] = { "XK2" };
	cr_assert_eq(check_reports(evs, 4, xk1, 1), 4, "each of XK1's once, in order");
	cr_assert_eq(check_reports(evs, 3, xk2, 1), 3);
	json_decref(evs);
	gw_store_close(other);
}

/* A write that drew its event's number first but commits last is not
 * passed over: the fan-out waits for every write under way (here, in one
 * thread, until its lock wait runs out: store.busy, and nothing moved),
 * then takes both events in their order. PostgreSQL: SQLite has one writer
 * at a time, so there the numbers are drawn in commit order anyway. */
Test(forward, an_event_committed_late_is_not_passed_over)
{
	if (!tm_sf.pg)
		cr_skip_test("SQLite's writers commit in the order of their events");
	struct gw_store *w[2];
	struct tm_error err = {0};
	struct gw_store_options o = tm_store_options(NULL);
	o.forward = true;
	static const char *const ids[2] = { "ev-first-drawn", "ev-first-committed" };
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(gw_store_open(&o, &w[i], &err), GW_STORE_OK, "%s", err.msg);
		const struct gw_fwd_event_in ev = {
			.kind = GW_FWD_REPORT, .event_id = ids[i], .tenant = "acme",
			.serial = i ? "XK2" : "XK1", .time = "2026-09-21T14:13:20Z",
			.data = "{}", .data_len = 2,
		};
		cr_assert_eq(gw_store_begin(w[i], &err), GW_STORE_OK, "%s", err.msg);
		cr_assert_eq(gw_store_forward_add(w[i], &ev, T0, &err), GW_STORE_OK, "%s", err.msg);
	}
	cr_assert_eq(gw_store_commit(w[1], &err), GW_STORE_OK, "%s", err.msg);
	size_t added = 0;
	cr_assert_eq(gw_store_forward_fanout(st, "cloud", reports_and_alerts, NULL, T0, 100, &added,
					     &err), GW_STORE_RETRY);
	cr_assert_str_eq(err.reason, "store.busy", "%s", err.msg);
	cr_assert_eq(added, 0);
	cr_assert_eq(gw_store_commit(w[0], &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_store_forward_fanout(st, "cloud", reports_and_alerts, NULL, T0, 100, &added,
					     &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(added, 2);
	struct gw_fwd_item *items;
	size_t n;
	cr_assert_eq(gw_store_forward_claim(st, "cloud", "test", 10, 0, T0, 10, &items, &n, &err),
		     GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(items[0].event_id, "ev-first-drawn");
	cr_assert_str_eq(items[1].event_id, "ev-first-committed");
	cr_assert_str_eq(items[0].data, "{}");
	gw_fwd_items_free(items, n);
	gw_store_close(w[0]);
	gw_store_close(w[1]);
}

/* The real binary twice at once on one outbox (PostgreSQL: gateways share
 * it there), a receiver slow enough that both are at work: every event
 * arrives once by id, each device's in order. */
static void run_gateways(const char *const names[2])
{
	char cmd[4096];
	size_t len = 0;
	for (int g = 0; g < 2; g++) {
		char cfg[700];
		snprintf(cfg, sizeof(cfg), "%s/%s.yaml", tmpdir, names[g]);
		char yaml[2048];
		char *ca = tm_test_pki("ca.pem");
		int n = snprintf(yaml, sizeof(yaml),
			"state_dir: %s/%s\ngateway:\n  mailboxes: [t@gw.example]\n"
			"  keys: [{cert: gw.pem, key: gw.key}]\ntrust:\n  ca_file: ca.pem\n"
			"forward:\n  gateway: %s\n  endpoints:\n    - name: cloud\n"
			"      url: %s\n      ca_file: %s\n      batch_max_events: 2\n"
			"      lease: 5m\n%s",
			tmpdir, names[g], names[g], url, ca, tm_store_yaml());
		free(ca);
		tm_test_write(cfg, yaml, (size_t)n);
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
			"mkdir -p '%s/%s' && '%s/mailgw/telemail-mailgw' -c '%s' forward run-once "
			"> '%s/%s.out' 2>&1 & ", tmpdir, names[g], getenv("TM_BUILDDIR"), cfg,
			tmpdir, names[g]);
	}
	snprintf(cmd + len, sizeof(cmd) - len, "wait");
	cr_assert_eq(tm_test_sh("%s", cmd), 0);
	for (int g = 0; g < 2; g++) {
		char path[700];
		snprintf(path, sizeof(path), "%s/%s.out", tmpdir, names[g]);
		struct tm_buf out;
		tm_buf_init(&out);
		tm_test_read(path, &out);
		fprintf(stderr, "%s: %.*s", names[g], (int)out.len, (char *)out.data);
		tm_buf_fini(&out);
	}
}

Test(forward, two_gateways_race_on_one_outbox)
{
	if (!tm_sf.pg)
		cr_skip_test("several gateways share one outbox on PostgreSQL");
	start_receiver("gw-tls.pem");
	/* every request waits a little: both gateways are at work at once */
	char slow[64 * 16 + 3];
	size_t len = (size_t)snprintf(slow, sizeof(slow), "[");
	for (int i = 0; i < 64; i++)
		len += (size_t)snprintf(slow + len, sizeof(slow) - len, "%s{\"sleep\":0.1}",
					i ? "," : "");
	snprintf(slow + len, sizeof(slow) - len, "]");
	plan(slow);
	/* eight devices, batches of two: while one gateway holds a batch, the
	 * other has devices of its own to claim */
	const char *const serials[] = { "XK1", "XK2", "XK3", "XK4", "XK5", "XK6", "XK7", "XK8" };
	for (int d = 2; d < 8; d++)
		sc_enroll(st, serials[d], "acme", 10 + d);
	for (int seq = 1; seq <= 6; seq++)
		for (int d = 0; d < 8; d++)
			ingest(serials[d], seq, "acme");
	const char *const names[2] = { "gw-a", "gw-b" };
	run_gateways(names);
	json_t *evs = received();
	size_t by[2] = { 0, 0 };
	for (size_t i = 0; i < json_array_size(evs); i++) {
		const char *src = json_string_value(json_object_get(json_array_get(evs, i), "source"));
		by[strstr(src, "//gw-b/") != NULL]++;
	}
	fprintf(stderr, "events sent by gw-a %zu, by gw-b %zu\n", by[0], by[1]);
	/* no failure, no lease lost: not even a duplicate */
	cr_assert_eq(check_reports(evs, 6, serials, 8), 48, "every report event once, in order");
	for (size_t i = 0; i < json_array_size(evs); i++)
		for (size_t j = i + 1; j < json_array_size(evs); j++)
			cr_assert_str_neq(
				json_string_value(json_object_get(json_array_get(evs, i), "id")),
				json_string_value(json_object_get(json_array_get(evs, j), "id")),
				"event %zu again at %zu", i, j);
	json_decref(evs);
	struct gw_fwd_stats s;
	struct tm_error err = {0};
	cr_assert_eq(gw_store_forward_stats(st, "cloud", &s, &err), GW_STORE_OK);
	cr_assert_eq(s.queued, 0);
	cr_assert_eq(s.sent, (int64_t)(by[0] + by[1]));
	cr_assert_eq(s.retries, 0);
	cr_assert_eq(tm_store_q1("SELECT count(*) FROM fwd_event"), 0, "all done: the outbox is empty");
}

Test(forward, default_policy)
{
	struct gw_forward_endpoint e;
	gw_forward_endpoint_defaults(&e);
	cr_assert_eq(e.kinds, GW_FORWARD_REPORT | GW_FORWARD_ALERT);
	cr_assert_eq(e.batch_max_events, 100);
	cr_assert_eq(e.batch_max_bytes, 1024 * 1024);
	cr_assert_eq(e.timeout, 30);
	cr_assert_eq(e.lease, 300);
	cr_assert_eq(e.backoff, 5);
	cr_assert_eq(e.max_backoff, 600);
	cr_assert_eq(e.retries, 0, "never dead-lettered for being down");
	cr_assert_eq(e.backlog_alert, 3600);
	for (int i = 0; i < 200; i++) {
		int64_t w = gw_forward_backoff(&e, 1, 0);
		cr_assert(w >= 1 && w <= 5, "full jitter in [1, 5]: %lld", (long long)w);
		w = gw_forward_backoff(&e, 30, 0);
		cr_assert(w >= 1 && w <= 600);
		cr_assert_geq(gw_forward_backoff(&e, 1, 90), 90, "Retry-After wins");
	}
}

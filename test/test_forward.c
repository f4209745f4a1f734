/* Forwarding (issue 17): the outbox written with the record, batches to a
 * real HTTPS receiver (test/forward/receiver.py, TLS with the test PKI) that
 * fails as told: an outage through many retries (nothing lost, order per
 * device kept), 429 with Retry-After, a permanent 400 (dead-lettered, the
 * rest flows on), a reset mid-body, a slow answer past the timeout, a
 * server certificate for another host name (nothing sent, a clear error),
 * and the default policy. Short retry policies; the clock is the test's. */
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
	tmpdir = tm_test_tmpdir();
	char db[512];
	snprintf(db, sizeof(db), "%s/telemail.db", tmpdir);
	rxdir = malloc(600);
	snprintf(rxdir, 600, "%s/rx", tmpdir);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db, .forward = true };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
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
	gw_store_close(st);
	tm_test_rmtree(tmpdir);
	free(tmpdir);
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
	char db[512];
	snprintf(db, sizeof(db), "%s/telemail.db", tmpdir);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db, .forward = false };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	ingest("XK1", 1, "acme");
	size_t added = 99;
	struct gw_forward_endpoint *e = &fcfg.endpoints[0];
	(void)e;
	start_receiver("gw-tls.pem");
	struct gw_forward_counts k = pass(T0 + 100);
	cr_assert_eq(k.queued, 0);
	cr_assert_eq(k.sent, 0);
	(void)added;
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

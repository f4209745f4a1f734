/* web: the fleet page's parts without HTTP — the one escaping function, the
 * viewer tokens, the tenant scoping of every page (a sibling's or parent's
 * device is 404, like a serial that does not exist), the SVG chart's points,
 * the billing page and the /metrics exposition.
 *
 *   provider ── customer-a ── site-a1
 *            └─ customer-b
 * devices P1 (provider), A1 (customer-a), S1 (site-a1, its location is
 * <script>alert(1)</script>), B1 (customer-b). The pages over a store run on
 * SQLite (suite web) and PostgreSQL (web_pg, test/store_fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/time.h>

#include "common.h"
#include "config/config_service.h"
#include "service/supply.h"
#include "store/quarantine.h"
#include "scenario/ingest.h"
#include "store_fixture.h"
#include "web/access.h"
#include "web/html.h"
#include "web/metrics.h"
#include "web/page.h"
#include "web/svg.h"

#define T0 1790000000   /* 2026-09-21T14:13:20Z */
#define XSS "<script>alert(1)</script>"

/* ---- escaping ---- */

struct esc_case {
	char in[64], out[96];   /* arrays: Criterion copies parameters into another process */
};

ParameterizedTestParameters(web, html_escape)
{
	static struct esc_case cases[] = {
		{ "plain text", "plain text" },
		{ XSS, "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "a & b", "a &amp; b" },
		{ "\" onmouseover=\"x", "&quot; onmouseover=&quot;x" },
		{ "it's", "it&#39;s" },
		{ "tab\tand\nline", "tab\tand\nline" },
		{ "bell\x07", "bell\xef\xbf\xbd" },
		{ "del\x7f", "del\xef\xbf\xbd" },
		{ "Gebäude 2 — 3. OG", "Gebäude 2 — 3. OG" },
		{ "&lt;", "&amp;lt;" },
		{ "", "" },
	};
	return cr_make_param_array(struct esc_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct esc_case *c, web, html_escape)
{
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_html_text(&b, c->in), 0);
	cr_assert_str_eq(b.len ? (const char *)b.data : "", c->out, "escape(%s)", c->in);
	tm_buf_fini(&b);
}

Test(web, html_escape_null_and_url)
{
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_html_text(&b, NULL), 0);
	cr_assert_eq(b.len, 0);
	gw_html_url(&b, "XK 1/2?&\"<");
	cr_assert_str_eq((const char *)b.data, "XK%201%2F2%3F%26%22%3C");
	tm_buf_fini(&b);
}

/* ---- tokens ---- */

static void hash(const char *token, char out[GW_SHA256_HEX])
{
	tm_sha256_hex(token, strlen(token), out);
}

Test(web, token_check)
{
	char h1[GW_SHA256_HEX], h2[GW_SHA256_HEX], text[512];
	hash("secret-a", h1);
	hash("secret-op", h2);
	snprintf(text, sizeof(text), "# viewers\n\ncustomer-a %s\nprovider %s operator\n"
		 "site-a1 cert:%064d\n", h1, h2, 7);
	struct gw_web_access a;
	struct tm_error err = {0};
	cr_assert_eq(gw_web_access_parse(text, strlen(text), "tokens", &a, &err), 0, "%s", err.msg);
	cr_assert_eq(a.n, 3);
	struct gw_web_viewer v;
	cr_assert(gw_web_access_token(&a, "secret-a", 8, &v));
	cr_assert_str_eq(v.tenant, "customer-a");
	cr_assert_not(v.operator);
	cr_assert(gw_web_access_token(&a, "secret-op", 9, &v));
	cr_assert_str_eq(v.tenant, "provider");
	cr_assert(v.operator);
	cr_assert_not(gw_web_access_token(&a, "secret-b", 8, &v));
	cr_assert_not(gw_web_access_token(&a, "secret-", 7, &v));
	cr_assert_not(gw_web_access_token(&a, "", 0, &v));
	cr_assert_not(gw_web_access_token(&a, h1, 64, &v), "the hash itself is no token");
	char cert[GW_SHA256_HEX];
	snprintf(cert, sizeof(cert), "%064d", 7);
	cr_assert(gw_web_access_cert(&a, cert, &v));
	cr_assert_str_eq(v.tenant, "site-a1");
	cr_assert_not(gw_web_access_token(&a, cert, 64, &v), "a cert line is no token line");
	gw_web_access_fini(&a);
}

struct bad_line {
	char text[160];
	char needle[32];
};

ParameterizedTestParameters(web, token_file_bad_lines)
{
	static struct bad_line cases[] = {
		{ "acme\n", "tokens:1:" },
		{ "acme abc\n", "tokens:1: the hash" },
		{ "# ok\nacme 0000000000000000000000000000000000000000000000000000000000000000 admin\n",
		  "tokens:2:" },
		{ "Acme! 0000000000000000000000000000000000000000000000000000000000000000\n",
		  "not a tenant name" },
		{ "acme 00000000000000000000000000000000000000000000000000000000000000AA\n", "the hash" },
		{ "acme 0000000000000000000000000000000000000000000000000000000000000000 operator x\n",
		  "tokens:1:" },
	};
	return cr_make_param_array(struct bad_line, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_line *c, web, token_file_bad_lines)
{
	struct gw_web_access a;
	struct tm_error err = {0};
	cr_assert_lt(gw_web_access_parse(c->text, strlen(c->text), "tokens", &a, &err), 0);
	cr_assert_str_eq(err.reason, "config.bad_value");
	cr_assert(strstr(err.msg, c->needle) != NULL, "%s", err.msg);
	cr_assert_eq(a.n, 0);
}

Test(web, token_add_prints_once_and_stores_the_hash)
{
	char *dir = tm_test_tmpdir(), path[600], token[64], again[64];
	snprintf(path, sizeof(path), "%s/web-tokens", dir);
	struct tm_error err = {0};
	cr_assert_eq(gw_web_token_add(path, "customer-a", false, token, sizeof(token), &err), 0,
		     "%s", err.msg);
	cr_assert_eq(gw_web_token_add(path, "provider", true, again, sizeof(again), &err), 0);
	cr_assert_eq(strlen(token), 43, "32 random octets in base64url: %s", token);
	cr_assert_str_neq(token, again);
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	struct tm_buf file;
	tm_buf_init(&file);
	tm_test_read(path, &file);
	cr_assert(strstr((const char *)file.data, token) == NULL, "the token itself is not kept");
	struct gw_web_access a;
	cr_assert_eq(gw_web_access_load(path, &a, &err), 0, "%s", err.msg);
	struct gw_web_viewer v;
	cr_assert(gw_web_access_token(&a, token, strlen(token), &v));
	cr_assert_str_eq(v.tenant, "customer-a");
	cr_assert(gw_web_access_token(&a, again, strlen(again), &v));
	cr_assert(v.operator);
	cr_assert_lt(gw_web_token_add(path, "No Tenant", false, token, sizeof(token), &err), 0);
	gw_web_access_fini(&a);
	tm_buf_fini(&file);
	tm_test_rmtree(dir);
	free(dir);
}

/* ---- the SVG chart ---- */

Test(web, svg_points_of_a_known_series)
{
	/* 600 x 200: the plot spans x 60 .. 590 and y 170 (value 0) .. 20 (value 100) */
	static const struct gw_svg_point pts[] = { { 1000, 0 }, { 1050, 50 }, { 1100, 100 }, { 1075, 10 } };
	struct gw_svg_series s = { .label = "black <toner>", .points = pts, .n = 4 };
	struct gw_svg_chart c = { .title = "levels", .y_min = 0, .y_max = 100, .y_unit = "%" };
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_svg_line_chart(&b, &c, &s, 1), 0);
	const char *svg = (const char *)b.data;
	cr_assert(strstr(svg, "points=\"60.0,170.0 325.0,95.0 590.0,20.0 457.5,155.0\"") != NULL,
		  "%s", svg);
	cr_assert(strstr(svg, "black &lt;toner&gt;") != NULL);
	cr_assert(strstr(svg, "<toner>") == NULL, "labels are escaped");
	cr_assert(strncmp(svg, "<svg ", 5) == 0);
	cr_assert(strstr(svg, "<script") == NULL);
	tm_buf_fini(&b);
}

Test(web, svg_auto_range_and_no_data)
{
	static const struct gw_svg_point pts[] = { { 0, 200 }, { 10, 400 } };
	struct gw_svg_series s = { .label = "pages", .points = pts, .n = 2 };
	struct gw_svg_chart c = { .title = "pages", .width = 300, .height = 130 };
	struct tm_buf b;
	tm_buf_init(&b);
	gw_svg_line_chart(&b, &c, &s, 1);
	/* y from 0 to the maximum 400: 200 is half way between 100 (y of 0) and 20 */
	cr_assert(strstr((const char *)b.data, "points=\"60.0,60.0 290.0,20.0\"") != NULL, "%s",
		  (const char *)b.data);
	tm_buf_reset(&b);
	gw_svg_line_chart(&b, &c, &s, 0);
	cr_assert(strstr((const char *)b.data, "no data") != NULL);
	cr_assert(strstr((const char *)b.data, "<polyline") == NULL);
	tm_buf_fini(&b);
}

/* ---- the pages over a store ---- */

static char *tmpdir;
static struct gw_store *st;
static struct gw_quarantine *quar;

static const char *const tenants[][2] = {
	{ "provider", NULL }, { "customer-a", "provider" }, { "site-a1", "customer-a" },
	{ "customer-b", "provider" },
};
static const char *const devices[][2] = {
	{ "P1", "provider" }, { "A1", "customer-a" }, { "S1", "site-a1" }, { "B1", "customer-b" },
};

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	tm_store_fixture_setup(tmpdir, "telemail.db");
	char qdir[512];
	snprintf(qdir, sizeof(qdir), "%s/quarantine", tmpdir);
	struct tm_error err = {0};
	struct gw_store_options o = tm_store_options(qdir);
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_quarantine_open(&o, &quar, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(gw_registry_tenant_add(st, tenants[i][0], tenants[i][1], 100, &err), 0,
			     "%s", err.msg);
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	for (int i = 0; i < 4; i++) {
		sc_enroll(st, devices[i][0], devices[i][1], i + 1);
		for (int k = 0; k < 3; k++) {
			struct sc_report r;
			int64_t at = T0 + k * 10 * 86400;
			sc_report_init(&r, devices[i][0], k + 1, at);
			r.total = 1000 * (i + 1) + 500 * k;
			r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 60 - 25 * k, 100 };
			r.location = i == 2 ? XSS : "Building 2";
			r.name = "mfp";
			sc_ingest(st, &svc, &r, devices[i][1], at);
		}
	}
	sc_enroll(st, "N1", "customer-b", 9);   /* never reported */
}

static void teardown(void)
{
	gw_quarantine_close(quar);
	gw_store_close(st);
	tm_store_fixture_teardown();
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

static int get(const char *tenant, bool op, const char *path, const char *query_key,
	       const char *query_value, struct gw_web_response *rs)
{
	struct gw_web_source src = { .st = st, .q = quar, .now = T0 + 21 * 86400,
				     .silence = 7 * 86400, .estimate_after = 2 * 86400 };
	struct gw_web_request rq = { .path = path };
	snprintf(rq.viewer.tenant, sizeof(rq.viewer.tenant), "%s", tenant);
	rq.viewer.operator = op;
	if (query_key != NULL) {
		rq.params[0] = (struct gw_web_param){ query_key, query_value };
		rq.n_params = 1;
	}
	return gw_web_handle(&src, &rq, rs);
}

static bool has(const struct gw_web_response *rs, const char *needle)
{
	return rs->body.data != NULL && strstr((const char *)rs->body.data, needle) != NULL;
}

static size_t count(const struct gw_web_response *rs, const char *needle)
{
	size_t n = 0;
	for (const char *p = (const char *)rs->body.data; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(web, fleet_is_scoped_to_the_viewer, .init = setup, .fini = teardown)
{
	struct gw_web_response rs;
	cr_assert_eq(get("customer-a", false, "/", NULL, NULL, &rs), 200);
	cr_assert(has(&rs, "<tr data-serial=\"A1\">"));
	cr_assert(has(&rs, "<tr data-serial=\"S1\">"));
	cr_assert_not(has(&rs, "data-serial=\"P1\""), "the parent's device");
	cr_assert_not(has(&rs, "data-serial=\"B1\""), "a sibling's device");
	cr_assert_not(has(&rs, "<option>provider</option>"), "the parent tenant is not offered");
	cr_assert_eq(count(&rs, "<tr data-serial="), 2);
	tm_buf_fini(&rs.body);

	cr_assert_eq(get("provider", false, "/", NULL, NULL, &rs), 200);
	cr_assert_eq(count(&rs, "<tr data-serial="), 5);
	cr_assert(has(&rs, "<td class=\"never\">never</td>"), "N1 never reported");
	tm_buf_fini(&rs.body);
}

/* Days left on the fleet page: the forecast kept when the level last
 * changed (service/supply.c), counted from the page's now; the same figure
 * and empty date as the forecast made from the whole history now. */
Test(web, fleet_shows_days_left_from_the_kept_forecast, .init = setup, .fini = teardown)
{
	struct gw_web_source src = { .now = T0 + 21 * 86400 };
	struct gw_forecast f;
	struct tm_error err = {0};
	cr_assert_eq(gw_supply_forecast(st, "A1", 1, src.now, &f, NULL, NULL, &err), GW_STORE_OK,
		     "%s", err.msg);
	cr_assert(f.ok, "%s", f.reason);
	char empty[TM_TIME_TEXT_MAX], want[200];
	tm_time_format(f.empty_at, empty, sizeof(empty));
	snprintf(want, sizeof(want), "<span class=\"days\" title=\"empty about %.10s; forecast of "
		 "2026-10-11 (%s, %s confidence)\">%lld d left</span>", empty, f.basis,
		 f.confidence_word, (long long)(f.empty_at - src.now) / 86400);
	struct gw_web_response rs;
	cr_assert_eq(get("customer-a", false, "/", NULL, NULL, &rs), 200);
	cr_assert_eq(count(&rs, want), 2, "A1 and S1 (the same history): %s in %s", want,
		     (const char *)rs.body.data);
	tm_buf_fini(&rs.body);
	/* a supply whose forecast cannot be made shows none */
	struct sc_report r;
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	sc_enroll(st, "U1", "customer-a", 20);
	sc_report_init(&r, "U1", 1, T0);
	r.supplies[0] = (struct sc_supply){ 1, "toner", "black", -3, 100 };
	sc_ingest(st, &svc, &r, "customer-a", T0);
	cr_assert_eq(get("customer-a", false, "/", NULL, NULL, &rs), 200);
	cr_assert(has(&rs, "<tr data-serial=\"U1\">"));
	cr_assert_eq(count(&rs, "d left</span>"), 2, "U1's sentinel level has no forecast");
	tm_buf_fini(&rs.body);
}

Test(web, fleet_filters_and_sorts, .init = setup, .fini = teardown)
{
	struct gw_web_response rs;
	cr_assert_eq(get("provider", false, "/", "tenant", "customer-b", &rs), 200);
	cr_assert_eq(count(&rs, "<tr data-serial="), 2, "B1 and N1");
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("provider", false, "/", "state", "never", &rs), 200);
	cr_assert_eq(count(&rs, "<tr data-serial="), 1);
	cr_assert(has(&rs, "data-serial=\"N1\""));
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("customer-a", false, "/", "tenant", "customer-b", &rs), 200);
	cr_assert_eq(count(&rs, "<tr data-serial="), 0, "a tenant outside the scope shows nothing");
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("provider", false, "/", "sort", "serial';drop", &rs), 400);
	tm_buf_fini(&rs.body);
}

Test(web, device_location_is_text, .init = setup, .fini = teardown)
{
	struct gw_web_response rs;
	cr_assert_eq(get("site-a1", false, "/", NULL, NULL, &rs), 200);
	cr_assert(has(&rs, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	cr_assert_not(has(&rs, "<script"));
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("site-a1", false, "/device/S1", NULL, NULL, &rs), 200);
	cr_assert(has(&rs, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	cr_assert_not(has(&rs, "<script"));
	tm_buf_fini(&rs.body);
}

struct guess {
	char viewer[32], serial[16];
	int status;
};

ParameterizedTestParameters(web, device_url_guessing)
{
	static struct guess cases[] = {
		{ "customer-a", "A1", 200 }, { "customer-a", "S1", 200 },
		{ "customer-a", "B1", 404 },   /* a sibling's */
		{ "customer-a", "P1", 404 },   /* the parent's */
		{ "site-a1", "A1", 404 },      /* the parent's */
		{ "customer-a", "ZZ9", 404 },  /* no such device */
		{ "customer-b", "N1", 200 },
		{ "provider", "S1", 200 },
	};
	return cr_make_param_array(struct guess, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct guess *g, web, device_url_guessing, .init = setup, .fini = teardown)
{
	char path[64];
	snprintf(path, sizeof(path), "/device/%s", g->serial);
	struct gw_web_response rs;
	cr_assert_eq(get(g->viewer, false, path, NULL, NULL, &rs), g->status, "%s as %s",
		     path, g->viewer);
	if (g->status == 404) {
		/* the same answer as for a serial that does not exist: nothing to tell apart */
		struct gw_web_response none;
		get(g->viewer, false, "/device/ZZ9", NULL, NULL, &none);
		cr_assert_eq(rs.body.len, none.body.len);
		cr_assert_eq(memcmp(rs.body.data, none.body.data, rs.body.len), 0);
		tm_buf_fini(&none.body);
	}
	tm_buf_fini(&rs.body);
}

Test(web, device_page_has_its_charts, .init = setup, .fini = teardown)
{
	struct gw_web_response rs;
	cr_assert_eq(get("customer-a", false, "/device/A1", NULL, NULL, &rs), 200);
	cr_assert_eq(count(&rs, "<svg "), 2);
	/* levels 60, 35, 10 % over 20 days: x 60, 325, 590; y 170 - 1.5 * level */
	cr_assert(has(&rs, "points=\"60.0,80.0 325.0,117.5 590.0,155.0\""), "%s", rs.body.data);
	/* pages between reports: 500 and 500 */
	cr_assert(has(&rs, "<polyline class=\"series\" data-series=\"0\""));
	cr_assert(has(&rs, "<td>total/impressions</td><td class=\"num\">3000</td>"));
	cr_assert_eq(count(&rs, "<tr><td class=\"num\">"), 3 + 1, "three reports and one supply");
	tm_buf_fini(&rs.body);
}

Test(web, unknown_viewer_and_quarantine, .init = setup, .fini = teardown)
{
	struct gw_web_response rs;
	cr_assert_eq(get("nobody", false, "/", NULL, NULL, &rs), 403);
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("provider", false, "/quarantine", NULL, NULL, &rs), 403);
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("provider", true, "/quarantine", NULL, NULL, &rs), 200);
	cr_assert(has(&rs, "<table id=\"quarantine\">"));
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("provider", false, "/nope", NULL, NULL, &rs), 404);
	tm_buf_fini(&rs.body);
}

Test(web, billing_page_and_csv, .init = setup, .fini = teardown)
{
	struct gw_web_response rs;
	cr_assert_eq(get("customer-a", false, "/billing", "period", "2026-10", &rs), 200);
	/* A1: 2000, 2500, 3000 and S1: 3000, 3500, 4000 on 2026-09-21, 10-01, 10-11 (14:13Z):
	 * the open month runs from the September reading to the latest */
	cr_assert(has(&rs, "<td>customer-a</td><td>total/impressions</td><td class=\"num usage\">1000</td>"),
		  "%s", rs.body.data);
	cr_assert(has(&rs, "<td>site-a1</td><td>total/impressions</td><td class=\"num usage\">1000</td>"));
	cr_assert_not(has(&rs, "customer-b"));
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("customer-a", false, "/billing.csv", "period", "2026-10", &rs), 200);
	cr_assert_str_eq(rs.content_type, "text/csv; charset=utf-8");
	cr_assert(has(&rs, "record,tenant,serial,counter,"));
	cr_assert(has(&rs, "tenant_total,customer-a,,total/impressions,,,,,1000,,devices=1"));
	cr_assert(strstr(rs.disposition, "billing-customer-a-2026-10.csv") != NULL);
	tm_buf_fini(&rs.body);
	cr_assert_eq(get("customer-a", false, "/billing", "tenant", "customer-b", &rs), 404);
	tm_buf_fini(&rs.body);
}

Test(web, metrics_exposition, .init = setup, .fini = teardown)
{
	const char *endpoints[] = { "cloud" };
	struct gw_web_source src = { .st = st, .now = T0 + 21 * 86400, .silence = 7 * 86400,
				     .fwd_endpoints = endpoints, .n_fwd_endpoints = 1 };
	struct gw_web_runtime rt = { .started = T0, .stored = 12, .spool_rounds = 3,
				     .round_sum = 0.0125, .batches_committed = 5, .retry_busy = 2 };
	rt.round_buckets[1] = 2;                        /* ≤ 1 ms */
	rt.round_buckets[GW_SPOOL_ROUND_BUCKETS] = 1;   /* over the last bound */
	rt.latency_buckets[0] = 2;
	rt.latency_over = 1;
	snprintf(rt.refusals[0].reason, sizeof(rt.refusals[0].reason), "smtpd.too_many_connections");
	snprintf(rt.refusals[0].code, sizeof(rt.refusals[0].code), "421");
	rt.refusals[0].n = 2;
	rt.n_refusals = 1;
	snprintf(rt.cmd_refusals[0].command, sizeof(rt.cmd_refusals[0].command), "RCPT");
	snprintf(rt.cmd_refusals[0].reason, sizeof(rt.cmd_refusals[0].reason), "smtpd.relay_denied");
	snprintf(rt.cmd_refusals[0].code, sizeof(rt.cmd_refusals[0].code), "550");
	rt.cmd_refusals[0].n = 4;
	rt.n_cmd_refusals = 1;
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(gw_web_metrics(&src, &rt, &b), 0);
	const char *m = (const char *)b.data;
	cr_assert(strstr(m, "# TYPE telemail_messages_total counter\n") != NULL);
	cr_assert(strstr(m, "telemail_messages_total{outcome=\"stored\"} 12\n") != NULL);
	cr_assert(strstr(m, "telemail_devices{silence=\"reporting\"} 4\n") != NULL, "%s", m);
	cr_assert(strstr(m, "telemail_devices{silence=\"silent\"} 0\n") != NULL);
	cr_assert(strstr(m, "telemail_devices{silence=\"never\"} 1\n") != NULL);
	cr_assert(strstr(m, "telemail_pipeline_latency_seconds_bucket{le=\"0.5\"} 2\n") != NULL);
	cr_assert(strstr(m, "telemail_smtp_refusals_total{reason=\"smtpd.too_many_connections\","
			 "code=\"421\"} 2\n") != NULL, "%s", m);
	cr_assert(strstr(m, "telemail_pipeline_latency_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
	cr_assert(strstr(m, "telemail_smtp_command_refusals_total{command=\"RCPT\","
			 "reason=\"smtpd.relay_denied\",code=\"550\"} 4\n") != NULL, "%s", m);
	cr_assert(strstr(m, "command=\"other\"") == NULL, "nothing over the limit");
	cr_assert(strstr(m, "telemail_alerts_open{kind=\"supply_low\"} 4\n") != NULL, "%s", m);
	/* the spool's rounds: cumulative buckets, the sum, the count */
	cr_assert(strstr(m, "# TYPE telemail_spool_commit_round_seconds histogram\n") != NULL);
	cr_assert(strstr(m, "telemail_spool_commit_round_seconds_bucket{le=\"0.0005\"} 0\n") != NULL);
	cr_assert(strstr(m, "telemail_spool_commit_round_seconds_bucket{le=\"0.001\"} 2\n") != NULL);
	cr_assert(strstr(m, "telemail_spool_commit_round_seconds_bucket{le=\"1\"} 2\n") != NULL, "%s", m);
	cr_assert(strstr(m, "telemail_spool_commit_round_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
	cr_assert(strstr(m, "telemail_spool_commit_round_seconds_sum 0.012500\n") != NULL);
	cr_assert(strstr(m, "telemail_spool_commit_round_seconds_count 3\n") != NULL);
	cr_assert(strstr(m, "telemail_store_batches_total{result=\"committed\"} 5\n") != NULL);
	cr_assert(strstr(m, "telemail_store_retries_total{reason=\"store.busy\"} 2\n") != NULL);
	/* the forwarding queue of the configured endpoint (empty here) */
	cr_assert(strstr(m, "telemail_forward_queued_events{endpoint=\"cloud\"} 0\n") != NULL, "%s", m);
	cr_assert(strstr(m, "telemail_forward_dead_events{endpoint=\"cloud\"} 0\n") != NULL);
	cr_assert(strstr(m, "# TYPE telemail_forward_sent_events_total counter\n") != NULL);
	tm_buf_reset(&b);
	src.now = T0 + 30 * 86400;   /* ten days after the last reports */
	cr_assert_eq(gw_web_metrics(&src, NULL, &b), 0);
	m = (const char *)b.data;
	cr_assert(strstr(m, "telemail_devices{silence=\"silent\"} 4\n") != NULL, "%s", m);
	cr_assert(strstr(m, "telemail_messages_total") == NULL, "no runtime: no serve counters");
	src.n_fwd_endpoints = 0;
	tm_buf_reset(&b);
	cr_assert_eq(gw_web_metrics(&src, NULL, &b), 0);
	cr_assert(strstr((const char *)b.data, "telemail_forward_") == NULL, "forwarding off: no family");
	tm_buf_fini(&b);
}

/* ---- the web: and metrics: sections ---- */

#include "config/config.h"
#include "config/config_web.h"

#define CFG_HEAD "state_dir: /var/lib/t\ngateway: {mailboxes: [a@gw.example], " \
		 "keys: [{cert: /k/gw.pem, key: /k/gw.key}]}\ntrust: {ca_file: /k/ca.pem}\n"

Test(web, config_sections)
{
	static const char yaml[] = CFG_HEAD
		"web:\n  listen: \"[::1]:9443\"\n  tls: {cert: w.pem, key: w.key}\n"
		"  max_headers: 10\n  timeout: 5s\n"
		"metrics: {token_sha256: \"" "0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef\"}\n";
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_config_parse((const uint8_t *)yaml, sizeof(yaml) - 1, "t.yaml", "/etc/t", &c,
				     &err), 0, "%s", err.msg);
	cr_assert_not_null(c->web);
	cr_assert_str_eq(c->web->address, "::1");
	cr_assert_eq(c->web->port, 9443);
	cr_assert_str_eq(c->web->tls_cert, "/etc/t/w.pem");
	cr_assert_str_eq(c->web->tokens_file, "/var/lib/t/web-tokens");
	cr_assert_eq(c->web->max_headers, 10);
	cr_assert_eq(c->web->max_connections, 64);
	cr_assert_eq(c->web->timeout, 5);
	cr_assert_eq(strlen(c->web->metrics_token_sha256), 64);
	gw_config_free(c);
	static const char none[] = CFG_HEAD;
	cr_assert_eq(gw_config_parse((const uint8_t *)none, sizeof(none) - 1, "t.yaml", NULL, &c,
				     &err), 0);
	cr_assert_null(c->web, "no web: section, no page");
	gw_config_free(c);
}

struct bad_cfg {
	char yaml[200];
	char reason[32];
	char needle[64];
};

ParameterizedTestParameters(web, config_bad)
{
	static struct bad_cfg cases[] = {
		{ "web: {listen: \"127.0.0.1:80\"}\n", "config.missing_key", "t.yaml:4: web.tls: missing" },
		{ "web: {listen: \"localhost:80\", tls: {cert: a, key: b}}\n", "config.bad_value",
		  "web.listen: 'localhost' is not an IP address" },
		{ "web: {listen: \"127.0.0.1:99999\", tls: {cert: a, key: b}}\n", "config.bad_value",
		  "web.listen" },
		{ "web: {tls: {cert: a, key: b}, max_headers: 1000}\n", "config.bad_value", "web.max_headers" },
		{ "web: {tls: {cert: a, key: b}, port: 1}\n", "config.unknown_key", "web.port" },
		{ "metrics: {token_sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n",
		  "config.missing_key", "metrics: needs a web: section" },
		{ "web: {tls: {cert: a, key: b}}\nmetrics: {token_sha256: ABC}\n", "config.bad_value",
		  "metrics.token_sha256" },
	};
	return cr_make_param_array(struct bad_cfg, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_cfg *b, web, config_bad)
{
	char yaml[600];
	int n = snprintf(yaml, sizeof(yaml), "%s%s", CFG_HEAD, b->yaml);
	struct gw_config *c = NULL;
	struct tm_error err = {0};
	cr_assert_lt(gw_config_parse((const uint8_t *)yaml, (size_t)n, "t.yaml", NULL, &c, &err), 0);
	cr_assert_str_eq(err.reason, b->reason, "%s", err.msg);
	cr_assert(strstr(err.msg, b->needle) != NULL, "%s", err.msg);
}

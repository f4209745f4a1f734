/* web end to end: the real `telemail-mailgw serve` with web: on loopback
 * over HTTPS, a known data set in its store, and headless Chromium loading
 * each page (--dump-dom). Chromium trusts exactly the test certificate
 * (--ignore-certificate-errors-spki-list with its SPKI hash) and sends the
 * token as the password of the URL (https://v:TOKEN@host/: Basic, after
 * the 401 challenge). The DOM is checked; a screenshot per page is kept in
 * the build directory (test/web-screenshots/). Chromium, curl and openssl
 * missing is a failure, not a skip.
 *
 *   provider ── customer-a ── site-a1
 *            └─ customer-b
 *   A1 (customer-a): 40 daily reports, black toner 90 % → 12 %, 300 pages a day
 *   S1 (site-a1): location <script>alert(1)</script>
 *   B1 (customer-b) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>

#include "common.h"
#include "config/config_service.h"
#include "scenario/ingest.h"
#include "web/access.h"

#define XSS "<script>alert(1)</script>"
#define DAYS 40

static struct {
	char *dir;
	char bin[600], conf[700], log[700], shots[700], spki[64];
	char tok_a[64], tok_b[64], tok_op[64];
	pid_t pid;
	unsigned port;
	int64_t now;
} G;

static void data_set(const char *db)
{
	struct gw_store *st;
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	static const char *const tenants[][2] = {
		{ "provider", NULL }, { "customer-a", "provider" }, { "site-a1", "customer-a" },
		{ "customer-b", "provider" },
	};
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(gw_registry_tenant_add(st, tenants[i][0], tenants[i][1], 100, &err), 0);
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	sc_enroll(st, "A1", "customer-a", 1);
	sc_enroll(st, "S1", "site-a1", 2);
	sc_enroll(st, "B1", "customer-b", 3);
	int64_t day0 = (G.now / 86400 - DAYS) * 86400 + 6 * 3600;
	for (int d = 0; d < DAYS; d++) {
		struct sc_report r;
		sc_report_init(&r, "A1", d + 1, day0 + d * 86400);
		r.total = 10000 + 300 * d;
		r.supplies[0] = (struct sc_supply){ 1, "toner", "black", 90 - 2 * d, 100 };
		r.location = "Building 2, floor 3";
		r.name = "front desk";
		r.fw = "4.2.1";
		sc_ingest(st, &svc, &r, "customer-a", r.at + 5);
	}
	for (int d = 0; d < 3; d++) {
		struct sc_report r;
		sc_report_init(&r, "S1", d + 1, day0 + (DAYS - 3 + d) * 86400);
		r.total = 500 + 10 * d;
		r.location = XSS;
		sc_ingest(st, &svc, &r, "site-a1", r.at + 5);
		sc_report_init(&r, "B1", d + 1, day0 + (DAYS - 3 + d) * 86400);
		r.total = 7000 + 100 * d;
		r.location = "other customer";
		sc_ingest(st, &svc, &r, "customer-b", r.at + 5);
	}
	gw_store_close(st);
}

static void setup(void)
{
	memset(&G, 0, sizeof(G));
	G.now = (int64_t)time(NULL);
	G.dir = tm_test_tmpdir();
	const char *b = getenv("TM_BUILDDIR");
	snprintf(G.bin, sizeof(G.bin), "%s/mailgw/telemail-mailgw", b ? b : ".");
	const char *tb = getenv("TM_TEST_BUILDDIR");
	snprintf(G.shots, sizeof(G.shots), "%s/web-screenshots", tb ? tb : ".");
	mkdir(G.shots, 0755);
	snprintf(G.conf, sizeof(G.conf), "%s/mailgw.yaml", G.dir);
	snprintf(G.log, sizeof(G.log), "%s/serve.log", G.dir);
	char *pki = tm_test_pki("");
	char yaml[2048];
	int n = snprintf(yaml, sizeof(yaml),
		"state_dir: %s\ngateway:\n  mailboxes: [t@gw.example]\n"
		"  keys: [{cert: %sgw-ec.pem, key: %sgw-ec.key}]\ntrust:\n  ca_file: %sca.pem\n"
		"listen:\n  smtp: 127.0.0.1:0\n"
		"web:\n  listen: 127.0.0.1:0\n  tls: {cert: %sgw-tls.pem, key: %sgw-tls.key}\n"
		"  client_ca: %sca.pem\n",
		G.dir, pki, pki, pki, pki, pki, pki);
	tm_test_write(G.conf, yaml, (size_t)n);
	char db[600], tokens[600];
	snprintf(db, sizeof(db), "%s/telemail.db", G.dir);
	snprintf(tokens, sizeof(tokens), "%s/web-tokens", G.dir);
	data_set(db);
	struct tm_error err = {0};
	cr_assert_eq(gw_web_token_add(tokens, "customer-a", false, G.tok_a, sizeof(G.tok_a), &err), 0);
	cr_assert_eq(gw_web_token_add(tokens, "customer-b", false, G.tok_b, sizeof(G.tok_b), &err), 0);
	cr_assert_eq(gw_web_token_add(tokens, "provider", true, G.tok_op, sizeof(G.tok_op), &err), 0);
	/* the SPKI hash Chromium pins: exactly this certificate's key */
	char cmd[4000];
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%sgw-tls.pem' -pubkey -noout | openssl pkey "
		 "-pubin -outform der | openssl dgst -sha256 -binary | base64", pki);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(G.spki, sizeof(G.spki), p));
	G.spki[strcspn(G.spki, "\n")] = '\0';
	cr_assert_eq(pclose(p), 0, "openssl is needed");
	cr_assert_eq(strlen(G.spki), 44);
	cr_assert_eq(tm_test_sh("chromium --version >/dev/null 2>&1"), 0,
		     "chromium is needed (apt-get install chromium)");
	free(pki);

	G.pid = fork();
	cr_assert_neq(G.pid, -1);
	if (G.pid == 0) {
		snprintf(cmd, sizeof(cmd), "exec '%s' -c '%s' serve >'%s' 2>&1", G.bin, G.conf, G.log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400 && G.port == 0; i++) {
		struct tm_buf lb;
		tm_buf_init(&lb);
		if (tm_buf_read_file(&lb, G.log, 1u << 20, &err) == 0 && lb.data != NULL) {
			const char *l = strstr((char *)lb.data, "gw web event=listening");
			const char *port = l ? strstr(l, "port=") : NULL;
			if (port != NULL && strchr(port, '\n') != NULL)
				G.port = (unsigned)atoi(port + 5);
		}
		tm_buf_fini(&lb);
		if (G.port == 0)
			usleep(50000);
	}
	cr_assert_neq(G.port, 0, "serve did not start its web listener");
}

static void teardown(void)
{
	if (G.pid > 0) {
		kill(G.pid, SIGTERM);
		int st;
		waitpid(G.pid, &st, 0);
	}
	tm_test_rmtree(G.dir);
	free(G.dir);
}

/* Load a page in headless Chromium; the DOM (malloc'd), a screenshot kept. */
static char *chrome(const char *token, const char *path, const char *shot)
{
	char url[400], cmd[2400];
	if (token != NULL)
		snprintf(url, sizeof(url), "https://v:%s@127.0.0.1:%u%s", token, G.port, path);
	else
		snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", G.port, path);
	const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
			    "--disable-background-networking --disable-component-update --disable-sync "
			    "--disable-dev-shm-usage";
	char profile[700];
	snprintf(profile, sizeof(profile), "%s/chrome-%s", G.dir, shot);
	snprintf(cmd, sizeof(cmd), "timeout 90 chromium %s --user-data-dir='%s' "
		 "--ignore-certificate-errors-spki-list=%s --dump-dom '%s' 2>/dev/null",
		 flags, profile, G.spki, url);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	struct tm_buf dom;
	tm_buf_init(&dom);
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		tm_buf_append(&dom, chunk, n);
	cr_assert_eq(pclose(p), 0, "chromium --dump-dom %s failed", path);
	snprintf(cmd, sizeof(cmd), "cd '%s' && timeout 90 chromium %s --user-data-dir='%s-shot' "
		 "--ignore-certificate-errors-spki-list=%s --hide-scrollbars --window-size=1280,900 "
		 "--screenshot='%s/%s.png' '%s' >/dev/null 2>&1",
		 G.dir, flags, profile, G.spki, G.shots, shot, url);
	cr_assert_eq(tm_test_sh("%s", cmd), 0, "chromium --screenshot %s", path);
	tm_buf_append(&dom, "", 1);
	return (char *)tm_buf_take(&dom, &n);
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

Test(web_e2e, pages_in_a_browser, .init = setup, .fini = teardown, .timeout = 600)
{
	/* the fleet, as customer-a: its device and its site's, not customer-b's */
	char *dom = chrome(G.tok_a, "/", "fleet");
	cr_assert(strstr(dom, "<table id=\"fleet\">") != NULL, "%s", dom);
	cr_assert_eq(count(dom, "<tr data-serial="), 2, "%s", dom);
	cr_assert(strstr(dom, "<tr data-serial=\"A1\">") != NULL);
	cr_assert(strstr(dom, "<tr data-serial=\"S1\">") != NULL);
	cr_assert(strstr(dom, "B1") == NULL, "customer-b's device is not shown");
	/* the location is text: no script element in the DOM */
	cr_assert(strstr(dom, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
	cr_assert(strstr(dom, "<script") == NULL, "%s", dom);
	cr_assert(strstr(dom, "<td class=\"reporting\">reporting</td>") != NULL);
	free(dom);

	/* a device: identity, two charts with the supply's points */
	dom = chrome(G.tok_a, "/device/A1", "device");
	cr_assert(strstr(dom, "<dd>front desk</dd>") != NULL, "%s", dom);
	cr_assert(strstr(dom, "<td>controller</td><td>4.2.1</td>") != NULL);
	cr_assert_eq(count(dom, "<svg "), 2);
	cr_assert_eq(count(dom, "<polyline"), 2);
	/* 40 levels, the first at 90 % (y 170 - 1.5 * 90 = 35) and the last at 12 % (y 152) */
	const char *pts = strstr(dom, "points=\"60.0,35.0 ");
	cr_assert_not_null(pts, "%s", dom);
	cr_assert(strstr(pts, " 590.0,152.0\"") != NULL);
	const char *end = strchr(pts + 8, '"');
	size_t spaces = 0;
	for (const char *c = pts + 8; c < end; c++)
		spaces += *c == ' ';
	cr_assert_eq(spaces + 1, DAYS, "one point per report");
	free(dom);

	/* a device of another tenant by URL guessing: 404, like no device */
	dom = chrome(G.tok_a, "/device/B1", "device-404");
	cr_assert(strstr(dom, "no such device") != NULL, "%s", dom);
	cr_assert(strstr(dom, "other customer") == NULL);
	free(dom);

	/* billing: this month's totals of customer-a and site-a1 */
	dom = chrome(G.tok_a, "/billing", "billing");
	cr_assert(strstr(dom, "<table id=\"totals\">") != NULL, "%s", dom);
	cr_assert_eq(count(dom, "<td class=\"num usage\">"), 2, "%s", dom);
	cr_assert(strstr(dom, "<td>site-a1</td><td>total/impressions</td>") != NULL);
	free(dom);

	/* customer-b sees its device and not customer-a's */
	dom = chrome(G.tok_b, "/", "fleet-customer-b");
	cr_assert_eq(count(dom, "<tr data-serial="), 1, "%s", dom);
	cr_assert(strstr(dom, "<tr data-serial=\"B1\">") != NULL);
	free(dom);

	/* the operator sees every tenant's devices */
	dom = chrome(G.tok_op, "/?sort=tenant", "fleet-operator");
	cr_assert_eq(count(dom, "<tr data-serial="), 3, "%s", dom);
	free(dom);

	/* the operator's quarantine page */
	dom = chrome(G.tok_op, "/quarantine", "quarantine");
	cr_assert(strstr(dom, "<table id=\"quarantine\">") != NULL, "%s", dom);
	free(dom);

	/* no token, a wrong token: refused (Chromium shows nothing for a 401 whose
	 * Basic challenge it cannot prompt for; the server's log says 401) */
	dom = chrome(NULL, "/", "no-token");
	cr_assert(strstr(dom, "<table") == NULL, "%s", dom);
	cr_assert(strstr(dom, "A1") == NULL);
	free(dom);
	dom = chrome("wrong-token", "/", "wrong-token");
	cr_assert(strstr(dom, "<table") == NULL, "%s", dom);
	free(dom);
	cr_assert_eq(tm_test_sh("test $(grep -c 'path=/ status=401 tenant=-' '%s') -ge 6", G.log), 0,
		     "every load without a valid token was answered 401");
	cr_assert_eq(tm_test_sh("curl -s -k https://127.0.0.1:%u/ | grep -q '^401 Unauthorized'",
				G.port), 0);
}

Test(web_e2e, headers_metrics_and_client_certificates, .init = setup, .fini = teardown,
     .timeout = 300)
{
	/* headers of every answer */
	char cmd[2000];
	snprintf(cmd, sizeof(cmd), "curl -s -D - -o /dev/null --cacert '%s/pki/ca.pem' "
		 "-H 'Authorization: Bearer %s' https://localhost:%u/ | tr -d '\\r' | "
		 "grep -q \"^Content-Security-Policy: default-src 'none'; style-src 'self'; img-src "
		 "'self' data:\"", getenv("TM_TEST_BUILDDIR"), G.tok_a, G.port);
	cr_assert_eq(tm_test_sh("%s", cmd), 0, "CSP");
	/* the limits: GET and HEAD only, no NUL in a path, 16 query parameters, 32 headers;
	 * plain HTTP gets no answer */
	static const struct { const char *args, *path, *code; } lim[] = {
		{ "-X POST", "/", "501" },
		{ "-I", "/", "200" },
		{ "", "/device/%00A1", "400" },
		{ "", "/?a0=1&a1=1&a2=1&a3=1&a4=1&a5=1&a6=1&a7=1&a8=1&a9=1&b0=1&b1=1&b2=1&b3=1&b4=1&b5=1&b6=1",
		  "400" },
		{ "-H X-1:1 -H X-2:1 -H X-3:1 -H X-4:1 -H X-5:1 -H X-6:1 -H X-7:1 -H X-8:1 -H X-9:1 "
		  "-H X-10:1 -H X-11:1 -H X-12:1 -H X-13:1 -H X-14:1 -H X-15:1 -H X-16:1 -H X-17:1 "
		  "-H X-18:1 -H X-19:1 -H X-20:1 -H X-21:1 -H X-22:1 -H X-23:1 -H X-24:1 -H X-25:1 "
		  "-H X-26:1 -H X-27:1 -H X-28:1 -H X-29:1 -H X-30:1 -H X-31:1 -H X-32:1", "/", "431" },
	};
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++)
		cr_assert_eq(tm_test_sh("curl -s -k %s -H 'Authorization: Bearer %s' -o /dev/null "
					"-w '%%{http_code}' 'https://127.0.0.1:%u%s' | grep -qx %s",
					lim[i].args, G.tok_a, G.port, lim[i].path, lim[i].code), 0,
			     "curl %s %s: want %s", lim[i].args, lim[i].path, lim[i].code);
	cr_assert_neq(tm_test_sh("curl -s -m 5 -o /dev/null http://127.0.0.1:%u/", G.port), 0);
	/* TLS 1.1 is refused */
	cr_assert_neq(tm_test_sh("curl -s -k --tlsv1.1 --tls-max 1.1 -o /dev/null "
				 "https://127.0.0.1:%u/ 2>/dev/null", G.port), 0);
	/* /metrics from loopback, checked by promtool */
	cr_assert_eq(tm_test_sh("curl -sf -k https://127.0.0.1:%u/metrics > '%s/metrics.txt' && "
				"promtool check metrics < '%s/metrics.txt'", G.port, G.dir, G.dir), 0,
		     "promtool check metrics (apt-get install prometheus)");
	cr_assert_eq(tm_test_sh("grep -q '^telemail_devices{silence=\"reporting\"} 3$' '%s/metrics.txt'",
				G.dir), 0);
	/* a client certificate from the CA, listed for site-a1 */
	cr_assert_eq(tm_test_sh(
		"cd '%s' && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout viewer.key -subj /CN=viewer -out viewer.csr 2>/dev/null && "
		"printf 'extendedKeyUsage=clientAuth\\n' > ext && "
		"openssl x509 -req -in viewer.csr -CA '%s/pki/ca.pem' -CAkey '%s/pki/ca.key' "
		"-CAcreateserial -CAserial viewer.srl -days 2 -extfile ext -out viewer.pem 2>/dev/null && "
		"printf 'site-a1 cert:%%s\\n' $(openssl x509 -in viewer.pem -outform der | sha256sum | "
		"cut -c1-64) >> web-tokens", G.dir, getenv("TM_TEST_BUILDDIR"), getenv("TM_TEST_BUILDDIR")),
		0);
	snprintf(cmd, sizeof(cmd), "curl -s -k --cert '%s/viewer.pem' --key '%s/viewer.key' "
		 "https://127.0.0.1:%u/ | grep -c '<tr data-serial=' | grep -qx 1", G.dir, G.dir, G.port);
	cr_assert_eq(tm_test_sh("%s", cmd), 0, "the certificate's viewer sees site-a1 only");
	cr_assert_eq(tm_test_sh("curl -s -k -o /dev/null -w '%%{http_code}' https://127.0.0.1:%u/ | "
				"grep -qx 401", G.port), 0, "neither certificate nor token");
	/* the token never reaches the log */
	struct tm_buf lb;
	struct tm_error err = {0};
	tm_buf_init(&lb);
	cr_assert_eq(tm_buf_read_file(&lb, G.log, 1u << 20, &err), 0);
	cr_assert(strstr((char *)lb.data, G.tok_a) == NULL);
	cr_assert(strstr((char *)lb.data, "status=200 tenant=site-a1") != NULL, "%s", lb.data);
	tm_buf_fini(&lb);
}

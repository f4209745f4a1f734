/* The fleet page's server time: the fleet page of a tenant of 1,000 devices
 * (each with 5 reports, 4 supplies, a low-toner alert on some), a device
 * page, and /metrics, rendered by the same code the HTTPS server calls
 * (gw_web_handle, gw_web_metrics), without TLS and the network. Goals:
 * the fleet page under 200 ms, /metrics under 20 ms. Prints figures; asserts
 * nothing about speed. Under test/pg_fixture.sh (benchmark web_pg) the same
 * on PostgreSQL: the fixture's server, its database "postgres". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "bench_common.h"
#include "bench_store.h"
#include "config/config_service.h"
#include "store/store.h"
#include "web/metrics.h"
#include "web/page.h"

#define T0 1790000000

static void die(const char *what, const struct tm_error *err)
{
	bench_die("bench_web", what, err);
}

static void put(struct gw_store *st, const struct gw_service_config *svc, const char *serial,
		int seq, const char *tenant)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_printf(&b, "device: {serial: %s, model: \"ColorMFP 5500\", location: \"Building %d\"}\n"
		      "status: {state: idle}\ncounters: {total: {impressions: %d}}\nsupplies:\n"
		      "  - {index: 1, type: toner, colorant: black, unit: percent, max_capacity: 100, level: %d}\n"
		      "  - {index: 2, type: toner, colorant: cyan, unit: percent, max_capacity: 100, level: 50}\n"
		      "  - {index: 3, type: toner, colorant: magenta, unit: percent, max_capacity: 100, level: 40}\n"
		      "  - {index: 4, type: toner, colorant: yellow, unit: percent, max_capacity: 100, level: 30}\n",
		      serial, seq, 1000 * seq, serial[strlen(serial) - 1] == '0' ? 5 : 80 - seq);
	bench_store_report(st, svc, serial, seq, T0 + (int64_t)seq * 86400, tenant,
			   (const char *)b.data, "bench_web");
	tm_buf_fini(&b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* median and worst of `runs` calls, milliseconds */
static void time_it(const char *what, const struct gw_web_source *src, const char *path,
		    const char *sort, bool metrics, int runs)
{
	double t[64];
	size_t bytes = 0;
	for (int i = 0; i < runs; i++) {
		struct gw_web_request rq = { .path = path };
		snprintf(rq.viewer.tenant, sizeof(rq.viewer.tenant), "big");
		if (sort != NULL) {
			rq.params[0] = (struct gw_web_param){ "sort", sort };
			rq.n_params = 1;
		}
		struct gw_web_response rs;
		struct tm_buf mb;
		tm_buf_init(&mb);
		double t0 = bench_now();
		int status = metrics ? (gw_web_metrics(src, NULL, &mb) == 0 ? 200 : 500)
				     : gw_web_handle(src, &rq, &rs);
		t[i] = (bench_now() - t0) * 1000.0;
		bytes = metrics ? mb.len : rs.body.len;
		if (!metrics)
			tm_buf_fini(&rs.body);
		tm_buf_fini(&mb);
		if (status != 200) {
			fprintf(stderr, "bench_web: %s: status %d\n", what, status);
			exit(1);
		}
	}
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
	printf("%-40s median %7.2f ms  worst %7.2f ms  (%zu octets, %d runs)\n", what,
	       t[runs / 2], t[runs - 1], bytes, runs);
}

int main(int argc, char **argv)
{
	int devices = argc > 1 ? atoi(argv[1]) : 1000;
	char dir[] = "/tmp/tmbench-web.XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 2;
	char db[256];
	snprintf(db, sizeof(db), "%s/telemail.db", dir);
	struct gw_store *st;
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db };
	char conninfo[600];
	bench_store_pg(&o, conninfo, sizeof(conninfo));
	if (gw_store_open(&o, &st, &err) != GW_STORE_OK)
		die("open", &err);
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	bench_store_tenants(st, "bench_web");
	double t0 = bench_now();
	for (int i = 0; i < devices + 100; i++)
		bench_store_enroll(st, i, i < devices ? "big" : "other", "bench_web");
	if (gw_store_begin(st, &err) != GW_STORE_OK)
		die("begin", &err);
	for (int i = 0; i < devices + 100; i++) {
		char serial[32];
		snprintf(serial, sizeof(serial), "XK%06d", i);
		for (int s = 1; s <= 5; s++)
			put(st, &svc, serial, s, i < devices ? "big" : "other");
	}
	if (gw_store_commit(st, &err) != GW_STORE_OK)
		die("commit", &err);
	printf("bench_web: %s: %d devices of tenant big (+100 of a sibling), 5 reports each, "
	       "stored in %.1f s\n", gw_store_backend(st), devices, bench_now() - t0);
	struct gw_web_source src = { .st = st, .now = T0 + 6 * 86400, .silence = 7 * 86400,
				     .estimate_after = 2 * 86400 };
	time_it("fleet page (1,000 devices; goal < 200 ms)", &src, "/", NULL, false, 21);
	time_it("fleet page sorted by last seen", &src, "/", "last_seen", false, 11);
	time_it("device page (charts, alerts, reports)", &src, "/device/XK000007", NULL, false, 21);
	time_it("/metrics (goal < 20 ms)", &src, "/metrics", NULL, true, 21);
	gw_store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}

/* `supplies` for a tenant of 1,000 devices (issue 18): each device with
 * REPORTS daily reports of 4 toner supplies falling at its own pace and a
 * page counter, a sibling tenant of 100 devices beside it; then what
 * `telemail-mailgw supplies --recompute --tenant big` does (the viewer's
 * scope, each device's supplies as of its newest report, a forecast from
 * each supply's history; `supplies` without --recompute prints the kept
 * forecasts, and does this only for a supply without one), timed on SQLite and, run under test/pg_fixture.sh, on
 * PostgreSQL, side by side with their ratio. Prints figures; asserts
 * nothing about speed.
 *
 *   bench_supplies [DEVICES [REPORTS]]   (1000 and 30; meson runs 1000 and 10) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "bench_common.h"
#include "bench_store.h"
#include "registry/tenant_scope.h"
#include "service/forecast.h"
#include "service/supply.h"
#include "store/store.h"

#define PROG "bench_supplies"
#define T0 1790000000
#define DAY 86400
#define SIBLINGS 100
#define RUNS 7

static void die(const char *what, const struct tm_error *err)
{
	bench_die(PROG, what, err);
}

/* Report seq of device i: its pages and each supply's fall per day differ
 * from device to device. */
static void put(struct gw_store *st, int i, int seq, const char *tenant)
{
	int levels[4];
	for (int k = 0; k < 4; k++) {
		int level = 100 - seq * (1 + (i + k) % 3);
		levels[k] = level > 0 ? level : 0;
	}
	bench_store_toners(st, NULL, i, seq, T0 + (int64_t)seq * DAY, tenant,
			   100000 + seq * (100 + 50 * (i % 7)), levels, PROG);
}

static void load(struct gw_store *st, int devices, int reports)
{
	struct tm_error err = {0};
	bench_store_tenants(st, PROG);
	for (int i = 0; i < devices + SIBLINGS; i++) {
		const char *tenant = i < devices ? "big" : "other";
		bench_store_enroll(st, i, tenant, PROG);
		if (gw_store_begin(st, &err) != GW_STORE_OK)
			die("begin", &err);
		for (int seq = 1; seq <= reports; seq++)
			put(st, i, seq, tenant);
		if (gw_store_commit(st, &err) != GW_STORE_OK)
			die("commit", &err);
	}
}

struct scan {
	const struct gw_tenant_scope *scope;
	struct gw_store *st;
	int64_t now;
	size_t supplies, forecasts;
	int rc;
	struct tm_error *err;
};

/* What `supplies` does for each row: in the viewer's scope, a forecast. */
static int forecast_one(void *ctx, const struct gw_supply_row *s)
{
	struct scan *x = ctx;
	if (!gw_tenant_scope_has(x->scope, s->tenant))
		return 0;
	struct gw_forecast f;
	x->rc = gw_supply_forecast(x->st, s->serial, s->index, x->now, &f, NULL, NULL, x->err);
	if (x->rc != GW_STORE_OK)
		return 1;
	x->supplies++;
	x->forecasts += f.ok;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct figures {
	double load_s, median_ms, worst_ms;
	size_t supplies, forecasts;
};

static struct figures measure(const struct gw_store_options *o, int devices, int reports)
{
	struct figures fig = {0};
	struct gw_store *st;
	struct tm_error err = {0};
	if (gw_store_open(o, &st, &err) != GW_STORE_OK)
		die("open", &err);
	double t0 = bench_now();
	load(st, devices, reports);
	fig.load_s = bench_now() - t0;
	double t[RUNS];
	for (int r = 0; r < RUNS; r++) {
		struct gw_tenant_scope scope;
		double t1 = bench_now();
		if (gw_tenant_scope_load(st, "big", &scope, &err) != 0)
			die("scope", &err);
		struct scan x = { .scope = &scope, .st = st, .now = T0 + (int64_t)(reports + 1) * DAY,
				  .err = &err };
		int rc = gw_store_supply_list(st, forecast_one, &x, &err);
		if (rc > 0)
			rc = x.rc;
		gw_tenant_scope_fini(&scope);
		if (rc != GW_STORE_OK)
			die("supplies", &err);
		t[r] = (bench_now() - t1) * 1000.0;
		fig.supplies = x.supplies;
		fig.forecasts = x.forecasts;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	fig.median_ms = t[RUNS / 2];
	fig.worst_ms = t[RUNS - 1];
	gw_store_close(st);
	return fig;
}

static void print(const char *backend, const struct figures *f, int devices, int reports)
{
	printf("%-10s %d devices x %d reports stored in %.1f s; supplies --tenant big: "
	       "median %8.1f ms  worst %8.1f ms  (%zu supplies, %zu forecasts, %.3f ms a supply)\n",
	       backend, devices + SIBLINGS, reports, f->load_s, f->median_ms, f->worst_ms,
	       f->supplies, f->forecasts, f->supplies ? f->median_ms / (double)f->supplies : 0.0);
	fflush(stdout);   /* each back end's line as soon as it is measured */
}

int main(int argc, char **argv)
{
	int devices = argc > 1 ? atoi(argv[1]) : 1000;
	int reports = argc > 2 ? atoi(argv[2]) : 30;
	if (devices < 1 || reports < 2) {
		fprintf(stderr, "usage: %s [DEVICES [REPORTS >= 2]]\n", PROG);
		return 2;
	}
	char dir[] = "/tmp/tmbench-supplies.XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 2;
	char db[256];
	snprintf(db, sizeof(db), "%s/telemail.db", dir);
	struct gw_store_options sq = { .path = db };
	struct figures s = measure(&sq, devices, reports);
	print("sqlite", &s, devices, reports);

	char conninfo[600];
	struct gw_store_options pg;
	if (bench_store_pg(&pg, conninfo, sizeof(conninfo))) {
		struct figures p = measure(&pg, devices, reports);
		print("postgresql", &p, devices, reports);
		printf("postgresql / sqlite: supplies %.2fx, storing %.2fx\n",
		       s.median_ms > 0 ? p.median_ms / s.median_ms : 0.0,
		       s.load_s > 0 ? p.load_s / s.load_s : 0.0);
	} else {
		printf("postgresql: not measured (run under test/pg_fixture.sh)\n");
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}

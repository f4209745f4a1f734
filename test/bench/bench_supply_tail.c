/* A stored report that moves its toner levels, on devices with a long
 * history (issue 18, found in issue 16's year-old fleet): the pipeline's
 * supply forecast reads the history from the current cartridge's start, or
 * 90 days back, whichever is older (service/supply.c, the kept tail),
 * beside the same report when the whole history is read (what it did
 * before; measured by telling the kept forecast that the cartridge is the
 * history's first, which reads all of it). SQLite and, run under
 * test/pg_fixture.sh, PostgreSQL, in the same run. Prints figures and the
 * ratio; asserts nothing about speed.
 *
 *   bench_supply_tail [DEVICES [REPORTS [ROUNDS]]]   (20, 1095, 10)
 *
 * Each device reports every 8 hours (1,095 reports: a year); each of its
 * four toners falls one percent a report from its own phase and is
 * replaced near empty (a cartridge of about 33 days), the page counter
 * grows. The history is put without the pipeline, each supply's forecast
 * kept from its whole history (gw_supply_forecast_keep); then ROUNDS
 * reports a device go through the pipeline's hook, each its own
 * transaction, devices taking turns between the two ways (swapped every
 * round). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "bench_common.h"
#include "bench_store.h"
#include "config/config_service.h"
#include "service/supply.h"
#include "store/store.h"

#define PROG "bench_supply_tail"
#define T0 1760000000
#define EVERY (8 * 3600)
#define TONERS 4
#define MAX_ROUNDS 50
#define BATCH 32        /* reports a transaction while the history is stored */

static void die(const char *what, const struct tm_error *err)
{
	bench_die(PROG, what, err);
}

/* Report seq of device i: every toner one percent lower than the report
 * before, from 100 down to 2, then a new cartridge. */
static void report(struct gw_store *st, const struct gw_service_config *svc, int i, int seq)
{
	int levels[TONERS];
	for (int k = 0; k < TONERS; k++)
		levels[k] = 100 - (seq + 17 * k + 7 * i) % 99;
	bench_store_toners(st, svc, i, seq, T0 + (int64_t)seq * EVERY, "big",
			   100000 + seq * (40 + 10 * (i % 5)), levels, PROG);
}

static void load(struct gw_store *st, int devices, int reports)
{
	struct tm_error err = {0};
	bench_store_tenants(st, PROG);
	for (int i = 0; i < devices; i++) {
		char serial[32];
		snprintf(serial, sizeof(serial), "XK%06d", i);
		bench_store_enroll(st, i, "big", PROG);
		if (gw_store_begin(st, &err) != GW_STORE_OK)
			die("begin", &err);
		for (int seq = 1; seq <= reports; seq++) {
			report(st, NULL, i, seq);
			/* a batch's transaction, as the pipeline's: one of a
			 * thousand reports would leave PostgreSQL a thousand
			 * versions of each latest_supplies row to walk */
			if (seq % BATCH == 0 && (gw_store_commit(st, &err) != GW_STORE_OK ||
						 gw_store_begin(st, &err) != GW_STORE_OK))
				die("commit", &err);
		}
		for (int k = 1; k <= TONERS; k++)
			if (gw_supply_forecast_keep(st, serial, k, &err) != GW_STORE_OK)
				die("keep forecast", &err);
		if (gw_store_commit(st, &err) != GW_STORE_OK)
			die("commit", &err);
	}
}

/* The kept forecasts of device i say its cartridges are the history's
 * first: the next report's forecasts read the whole history. */
static void forget_tail(struct gw_store *st, int i)
{
	char serial[32];
	snprintf(serial, sizeof(serial), "XK%06d", i);
	struct tm_error err = {0};
	for (int k = 1; k <= TONERS; k++) {
		struct gw_supply_forecast_row f = { .made_at = T0, .tail = { .cart_at = T0 } };
		if (gw_store_supply_forecast_set(st, serial, k, &f, &err) != GW_STORE_OK)
			die("forget tail", &err);
	}
}

struct figures {
	double load_s;
	double ms[2];   /* median ms a report: [0] the tail, [1] the whole history */
};

static struct figures measure(const struct gw_store_options *o, int devices, int reports,
			      int rounds)
{
	struct figures fig = {0};
	struct gw_store *st;
	struct tm_error err = {0};
	if (gw_store_open(o, &st, &err) != GW_STORE_OK)
		die("open", &err);
	struct gw_service_config svc;
	gw_service_config_defaults(&svc);
	double t0 = bench_now();
	load(st, devices, reports);
	fig.load_s = bench_now() - t0;
	size_t cap = (size_t)devices * (size_t)rounds, n[2] = { 0, 0 };
	double *t[2] = { calloc(cap, sizeof(double)), calloc(cap, sizeof(double)) };
	if (t[0] == NULL || t[1] == NULL)
		exit(2);
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < devices; i++) {
			int way = (i + r) % 2;
			if (way == 1)
				forget_tail(st, i);
			double t1 = bench_now();
			if (gw_store_begin(st, &err) != GW_STORE_OK)
				die("begin", &err);
			report(st, &svc, i, reports + 1 + r);
			if (gw_store_commit(st, &err) != GW_STORE_OK)
				die("commit", &err);
			t[way][n[way]++] = (bench_now() - t1) * 1000.0;
		}
	}
	for (int w = 0; w < 2; w++) {
		fig.ms[w] = bench_median(t[w], n[w]);
		free(t[w]);
	}
	gw_store_close(st);
	return fig;
}

static void print(const char *backend, const struct figures *f, int devices, int reports)
{
	printf("%-10s %d devices x %d reports (%.1f s to store): a report moving 4 toners:"
	       " the tail %7.2f ms, the whole history %7.2f ms (median), ratio %.1fx\n",
	       backend, devices, reports, f->load_s, f->ms[0], f->ms[1],
	       f->ms[0] > 0 ? f->ms[1] / f->ms[0] : 0.0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int devices = argc > 1 ? atoi(argv[1]) : 20;
	int reports = argc > 2 ? atoi(argv[2]) : 1095;
	int rounds = argc > 3 ? atoi(argv[3]) : 10;
	if (devices < 2 || reports < 2 || rounds < 2 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [DEVICES >= 2 [REPORTS >= 2 [ROUNDS 2..%d]]]\n", PROG,
			MAX_ROUNDS);
		return 2;
	}
	printf("%s: a cartridge lasts 99 reports (33 days); the tail reads about 270 of a"
	       " supply's %d points (90 days), the whole history all of them\n", PROG,
	       reports + rounds);
	char dir[] = "/tmp/tmbench-tail.XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 2;
	char db[256];
	snprintf(db, sizeof(db), "%s/telemail.db", dir);
	struct gw_store_options sq = { .path = db };
	struct figures s = measure(&sq, devices, reports, rounds);
	print("sqlite", &s, devices, reports);

	char conninfo[600];
	struct gw_store_options pg;
	if (bench_store_pg(&pg, conninfo, sizeof(conninfo))) {
		struct figures p = measure(&pg, devices, reports, rounds);
		print("postgresql", &p, devices, reports);
	} else {
		printf("postgresql: not measured (run under test/pg_fixture.sh)\n");
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}

/* Benchmark (issue 16): fleet scale. A synthetic year of a fleet (default
 * 1,000 devices in 10 customer tenants under one provider, three reports a
 * day: about 1.1 M reports) written through the store interface
 * (gw_store_put in big transactions, as the gateway's writer does, without
 * sealing), on SQLite and, under test/pg_fixture.sh, on PostgreSQL. Then
 * the real telemail-mailgw binary answers, on each back end:
 *
 *   billing --tenant provider --period 2025-06   the whole fleet, a month (goal < 1 s;
 *                                                with fewer DAYS, the month of day DAYS*5/12)
 *   devices --tenant c03                         one tenant (goal < 100 ms)
 *   supplies --tenant c03                        one tenant (goal < 100 ms)
 *
 * (median wall time of 5 runs each, beside `tenant list`, what any command
 * costs: start, configuration, store open), and the bytes per stored
 * report (SQLite: the database file; PostgreSQL: pg_database_size). Last,
 * what a year behind costs the gateway's ingest: `telemail-mailgw replay
 * --workers 2` of 1,000 sealed reports of a collector's 100 devices into
 * the year's store beside the same into a fresh store of the back end
 * (msg/s and their ratio; report ids and serials of their own each run,
 * so that a kept fleet takes them as new: the collector, enrolled under a
 * tenant of its own, `ingest`, gains 100 devices a run, up to
 * registry.limit's 2,000).
 *
 *   bench_fleet [DEVICES [DAYS [sqlite|postgresql|both]]]   (default 1000 365 both)
 *   BENCH_FLEET_BATCH=N: reports a transaction (default 64)
 *   BENCH_FLEET_DIR=D: keep the fleet in D (made when absent) and use it
 *     again: a back end's store found there is measured, not generated
 *     again (PostgreSQL: with a server that outlives the run, TM_PG_HOST
 *     and TM_PG_USER pointing at it; its database is fleet's). The puts
 *     bypass the pipeline that keeps each supply's forecast: the bench
 *     keeps those missing (all, after generating; those of an older
 *     build's store, without their figures) each run.
 *
 * The fleet behaves like one: each device has a daily volume of its own
 * (a few dozen to a few thousand pages), less at weekends, most of it in
 * the morning slot; colour models print a share in colour; the toners go
 * down with the pages printed (black with all, the colours with colour
 * pages) and are replaced near empty; a few devices are off for a week.
 * Generation is split over WRITERS processes by device (SQLite 1,
 * PostgreSQL 2: two gateways' writers), each committing BATCH reports per
 * transaction. Prints figures; asserts nothing about speed; exits 1 when
 * a command failed. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

#include "bench_common.h"
#include "bench_pg.h"
#include "registry/registry.h"
#include "service/supply.h"
#include "store/store.h"

#define YEAR_START 1735689600   /* 2025-01-01T00:00:00Z */
#define TENANTS 10
#define RUNS 5
/* reports a transaction: the gateway's default batch (store.batch_size 64);
 * on PostgreSQL each put is a savepoint, and a transaction of more than 64
 * subtransactions overflows the server's per-session cache of them */
#define BATCH 64
#define PG_DB "bench_fleet"

static void die(const char *what, const struct tm_error *err)
{
	bench_die("bench_fleet", what, err);
}

/* A small deterministic generator (splitmix64). */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* uniform in [0, 1) from (a, b, c) */
static double unit(uint64_t a, uint64_t b, uint64_t c)
{
	return (double)(mix(mix(mix(a) ^ b) ^ c) >> 11) / 9007199254740992.0;
}

struct device {
	char serial[16], tenant[16], fp[65];
	bool color;
	double volume;                 /* pages a working day */
	double color_share;
	int64_t seq, total, mono, colour, print, copy, scan;
	double used[4];                /* pages on the current cartridge */
	struct tm_report *rep;         /* the template, changed report by report */
};

static const double capacity[4] = { 12000, 8000, 8000, 8000 };   /* pages at 5 % */

static void device_init(struct device *d, int i, int devices)
{
	snprintf(d->serial, sizeof(d->serial), "FL%06d", i);
	snprintf(d->tenant, sizeof(d->tenant), "c%02d", i * TENANTS / devices);
	snprintf(d->fp, sizeof(d->fp), "%064x", i + 1);
	d->color = unit((uint64_t)i, 1, 0) < 0.7;
	/* log-uniform 40 .. 3000 pages a day */
	d->volume = 40.0 * exp(unit((uint64_t)i, 2, 0) * log(75.0));
	d->color_share = d->color ? 0.1 + 0.4 * unit((uint64_t)i, 3, 0) : 0;
	d->total = (int64_t)(d->volume * 400 * unit((uint64_t)i, 4, 0));   /* not new */
	d->colour = (int64_t)((double)d->total * d->color_share);
	d->mono = d->total - d->colour;
	d->print = d->total * 3 / 4;
	d->copy = d->total - d->print;
	d->scan = d->total / 5;
	for (int k = 0; k < 4; k++)
		d->used[k] = capacity[k] * unit((uint64_t)i, 5, (uint64_t)k);
	struct tm_buf y;
	struct tm_error err = {0};
	tm_buf_init(&y);
	tm_buf_printf(&y,
		"schema_version: 1\nreport:\n  id: \"00000000-0000-4000-8000-000000000000\"\n"
		"  seq: 1\n  kind: periodic\n  generated_at: \"2025-01-01T00:00:00Z\"\n"
		"  agent: telemail-agent/0.1.0\n  trigger: {cause: schedule}\n"
		"device:\n  serial: %s\n  manufacturer: Example Imaging\n  model: \"%s\"\n"
		"  name: mfp-%d\n  location: \"Building %d, floor %d\"\n  ip: 10.%d.%d.%d\n"
		"  firmware:\n    - {component: controller, version: \"4.2.%d\"}\n"
		"    - {component: engine, version: E-12.07}\n"
		"status: {state: idle}\n"
		"counters:\n  total: {impressions: 1, impressions_monochrome: 1%s}\n"
		"  print: {impressions: 1}\n  copy: {impressions: 1}\n  scan: {images: 1}\n"
		"supplies:\n"
		"  - {index: 1, type: tonerCartridge, colorant: black, description: Black Toner,"
		" unit: percent, max_capacity: 100, level: 50, part_number: TN-4520K}\n",
		d->serial, d->color ? "ColorMFP C4520i" : "MonoMFP M3300", i, i % 40, i % 7,
		i / 65536 % 256, i / 256 % 256, i % 256, i % 9,
		d->color ? ", impressions_full_color: 0" : "");
	if (d->color)
		tm_buf_printf(&y,
			"  - {index: 2, type: tonerCartridge, colorant: cyan, description: Cyan Toner,"
			" unit: percent, max_capacity: 100, level: 50, part_number: TN-4520C}\n"
			"  - {index: 3, type: tonerCartridge, colorant: magenta, description: Magenta"
			" Toner, unit: percent, max_capacity: 100, level: 50, part_number: TN-4520M}\n"
			"  - {index: 4, type: tonerCartridge, colorant: yellow, description: Yellow"
			" Toner, unit: percent, max_capacity: 100, level: 50, part_number: TN-4520Y}\n");
	if (tm_report_read(y.data, y.len, NULL, &d->rep, &err) < 0)
		die("template", &err);
	tm_buf_fini(&y);
}

/* The report of device d in slot s (3 a day), or false when it is off. */
static bool next_report(struct device *d, int i, int slot, int64_t *at, int32_t *nsec)
{
	int day = slot / 3, part = slot % 3;
	if (i % 97 == 0 && day >= 100 && day < 107)
		return false;   /* off for a week: it reports again after */
	static const int hour[3] = { 6, 14, 22 };
	static const double share[3] = { 0.05, 0.6, 0.35 };   /* pages since the last slot */
	int64_t midnight = YEAR_START + (int64_t)day * 86400;
	int wday = (int)((midnight / 86400 + 4) % 7);         /* 0 Sunday */
	double u = unit((uint64_t)i, (uint64_t)slot, 7);
	double pages = d->volume * share[part] * (wday == 0 || wday == 6 ? 0.2 : 1.0) *
		       (0.7 + 0.6 * u);
	if (i % 97 == 0 && day == 107 && part == 0)
		pages += d->volume * 2;   /* what it printed while it could not report */
	int64_t p = (int64_t)pages;
	int64_t c = (int64_t)((double)p * d->color_share);
	d->seq++;
	d->total += p;
	d->colour += c;
	d->mono += p - c;
	d->print += p * 3 / 4;
	d->copy += p - p * 3 / 4;
	d->scan += p / 5;
	d->used[0] += (double)p;
	for (int k = 1; k < 4; k++)
		d->used[k] += (double)c * (0.8 + 0.4 * unit((uint64_t)i, (uint64_t)slot, (uint64_t)k));
	*at = midnight + hour[part] * 3600 + (int64_t)(unit((uint64_t)i, 9, 0) * 900);
	*nsec = (int32_t)(unit((uint64_t)i, (uint64_t)slot, 11) * 1000) * 1000000;
	return true;
}

static void fill(struct device *d, int i, int slot, int64_t at, int32_t nsec)
{
	struct tm_report *r = d->rep;
	char id[40], when[40];
	snprintf(id, sizeof(id), "%08x-%04x-4%03x-8%03x-%012x", (unsigned)i, (unsigned)slot & 0xffff,
		 (unsigned)(slot >> 16) & 0xfff, 0u, (unsigned)(i * 4096 + slot));
	gw_store_format_utc(at, nsec, when, sizeof(when));
	free(r->id);
	free(r->generated_at);
	r->id = strdup(id);
	r->generated_at = strdup(when);
	if (r->id == NULL || r->generated_at == NULL)
		exit(2);
	r->seq = d->seq;
	r->service[TM_SVC_TOTAL].impressions = d->total;
	r->service[TM_SVC_TOTAL].impressions_monochrome = d->mono;
	if (d->color)
		r->service[TM_SVC_TOTAL].impressions_full_color = d->colour;
	r->service[TM_SVC_PRINT].impressions = d->print;
	r->service[TM_SVC_COPY].impressions = d->copy;
	r->service[TM_SVC_SCAN].images = d->scan;
	for (size_t k = 0; k < r->n_supplies; k++) {
		double left = 100.0 - 100.0 * d->used[k] / capacity[k];
		if (left < 2) {   /* replaced near empty */
			d->used[k] = 0;
			left = 100;
		}
		r->supplies[k].level = (int64_t)left;
	}
}

struct gen {
	const struct gw_store_options *o;
	int devices, days, writers, w;
	size_t batch;
};

/* Writer w of g->writers: the devices i with i % writers == w, slot by
 * slot, BATCH reports a transaction. */
static size_t generate(const struct gen *g)
{
	struct gw_store *st;
	struct tm_error err = {0};
	if (gw_store_open(g->o, &st, &err) != GW_STORE_OK)
		die("open", &err);
	struct device *dv = calloc((size_t)g->devices, sizeof(*dv));
	if (dv == NULL)
		exit(2);
	for (int i = g->w; i < g->devices; i += g->writers)
		device_init(&dv[i], i, g->devices);
	struct tm_buf json;
	tm_buf_init(&json);
	size_t n = 0, in_batch = 0;
	for (int slot = 0; slot < g->days * 3; slot++)
		for (int i = g->w; i < g->devices; i += g->writers) {
			int64_t at;
			int32_t nsec;
			if (!next_report(&dv[i], i, slot, &at, &nsec))
				continue;
			fill(&dv[i], i, slot, at, nsec);
			tm_buf_reset(&json);
			if (tm_report_normalize(dv[i].rep, &json, &err) < 0)
				die("normalize", &err);
			char raw[65], mid[80];
			tm_sha256_hex(dv[i].rep->id, strlen(dv[i].rep->id), raw);
			snprintf(mid, sizeof(mid), "%s@%s.fleet.example", dv[i].rep->id, dv[i].serial);
			struct gw_store_record rec = {
				.report = dv[i].rep, .json = (const char *)json.data,
				.json_len = json.len, .tenant = dv[i].tenant, .fingerprint = dv[i].fp,
				.message_id = mid, .received_at = at + 30 + (int64_t)(i % 600),
				.raw_sha256 = raw,
			};
			if (in_batch == 0 && gw_store_begin(st, &err) != GW_STORE_OK)
				die("begin", &err);
			struct gw_put_info info;
			if (gw_store_put(st, &rec, &info, &err) != GW_STORE_OK ||
			    info.result != GW_PUT_STORED)
				die("put", &err);
			n++;
			if (++in_batch == g->batch) {
				if (gw_store_commit(st, &err) != GW_STORE_OK)
					die("commit", &err);
				in_batch = 0;
			}
		}
	if (in_batch > 0 && gw_store_commit(st, &err) != GW_STORE_OK)
		die("commit", &err);
	for (int i = g->w; i < g->devices; i += g->writers)
		tm_report_free(dv[i].rep);
	free(dv);
	tm_buf_fini(&json);
	gw_store_close(st);
	return n;
}

/* The tenants and devices (one store handle, one transaction each). */
static void registry(const struct gw_store_options *o, int devices)
{
	struct gw_store *st;
	struct tm_error err = {0};
	if (gw_store_open(o, &st, &err) != GW_STORE_OK)
		die("open", &err);
	if (gw_registry_tenant_add(st, "provider", NULL, YEAR_START, &err) < 0)
		die("tenant", &err);
	for (int t = 0; t < TENANTS; t++) {
		char name[16];
		snprintf(name, sizeof(name), "c%02d", t);
		if (gw_registry_tenant_add(st, name, "provider", YEAR_START, &err) < 0)
			die("tenant", &err);
	}
	for (int i = 0; i < devices; i++) {
		struct device d;
		snprintf(d.serial, sizeof(d.serial), "FL%06d", i);
		snprintf(d.tenant, sizeof(d.tenant), "c%02d", i * TENANTS / devices);
		snprintf(d.fp, sizeof(d.fp), "%064x", i + 1);
		struct gw_enrollment e = { .fingerprint = d.fp, .role = GW_ROLE_DEVICE,
					   .tenant = d.tenant, .cert_serial = d.serial,
					   .subject = "CN=fleet device" };
		if (gw_registry_enroll(st, &e, YEAR_START, &err) < 0)
			die("enroll", &err);
	}
	gw_store_close(st);
}

struct supply_key {
	char serial[GW_NAME_MAX + 1];
	int64_t idx;
};

struct supply_keys {
	struct supply_key *k;
	size_t n, cap, all;
};

/* A supply without a kept forecast with its figures (a store of an older
 * build: they came with SQLite v11 / PostgreSQL v14). */
static int add_supply(void *ctx, const struct gw_supply_row *s)
{
	struct supply_keys *l = ctx;
	l->all++;
	if (s->fc.made_at != 0 && s->fc.figures)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->k = realloc(l->k, l->cap * sizeof(*l->k));
		if (l->k == NULL)
			exit(2);
	}
	snprintf(l->k[l->n].serial, sizeof(l->k[l->n].serial), "%s", s->serial);
	l->k[l->n++].idx = s->index;
	return 0;
}

/* Every supply's forecast kept, as the gateway's pipeline keeps it when a
 * level changes (the puts above bypass the pipeline), but for those kept
 * before; supplies kept now, *all of them, seconds. */
static size_t keep_forecasts(const struct gw_store_options *o, size_t *all, double *seconds)
{
	double t0 = bench_now();
	struct gw_store *st;
	struct tm_error err = {0};
	if (gw_store_open(o, &st, &err) != GW_STORE_OK)
		die("open", &err);
	struct supply_keys l = {0};
	if (gw_store_supply_list(st, add_supply, &l, &err) != GW_STORE_OK)
		die("supply list", &err);
	if (gw_store_begin(st, &err) != GW_STORE_OK)
		die("begin", &err);
	for (size_t i = 0; i < l.n; i++)
		if (gw_supply_forecast_keep(st, l.k[i].serial, l.k[i].idx, &err) != GW_STORE_OK)
			die("keep forecast", &err);
	if (gw_store_commit(st, &err) != GW_STORE_OK)
		die("commit", &err);
	gw_store_close(st);
	free(l.k);
	*seconds = bench_now() - t0;
	*all = l.all;
	return l.n;
}

/* Generate with `writers` processes; reports written, seconds. */
static size_t fill_store(const struct gw_store_options *o, int devices, int days, int writers,
			 size_t batch, double *seconds)
{
	double t0 = bench_now();
	pid_t pid[8];
	int fds[8][2];
	for (int w = 0; w < writers; w++) {
		if (pipe(fds[w]) != 0)
			exit(2);
		pid[w] = fork();
		if (pid[w] < 0)
			exit(2);
		if (pid[w] == 0) {
			struct gen g = { o, devices, days, writers, w, batch };
			size_t n = generate(&g);
			_exit(write(fds[w][1], &n, sizeof(n)) == (ssize_t)sizeof(n) ? 0 : 2);
		}
		close(fds[w][1]);
	}
	size_t total = 0;
	for (int w = 0; w < writers; w++) {
		size_t n = 0;
		int st = 0;
		if (read(fds[w][0], &n, sizeof(n)) != (ssize_t)sizeof(n) ||
		    waitpid(pid[w], &st, 0) != pid[w] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench_fleet: writer %d failed\n", w);
			exit(2);
		}
		close(fds[w][0]);
		total += n;
	}
	*seconds = bench_now() - t0;
	return total;
}

/* Median wall time of RUNS runs of the CLI; *ok false when one failed;
 * out: the last run's output. */
static double cli_ms(const char *gw, const char *cfg, const char *const *args, const char *out,
		     bool *ok)
{
	double t[RUNS];
	char *argv[16];
	size_t k = 0;
	argv[k++] = (char *)gw;
	argv[k++] = "-c";
	argv[k++] = (char *)cfg;
	for (size_t i = 0; args[i] != NULL && k < 15; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
	for (int r = 0; r < RUNS; r++) {
		struct bench_child c;
		bench_run(argv, out, &c);
		t[r] = c.seconds * 1000.0;
		if (!bench_child_ok(&c)) {
			*ok = false;
			fprintf(stderr, "bench_fleet: %s failed (status %d; its output: %s)\n", args[0],
				c.status, out);
		}
	}
	return bench_median(t, RUNS);
}

static size_t lines_of(const char *file)
{
	FILE *f = fopen(file, "r");
	size_t n = 0;
	int ch;
	while (f != NULL && (ch = fgetc(f)) != EOF)
		n += ch == '\n';
	if (f != NULL)
		fclose(f);
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* One back end: fill, then the queries. */
/* The corpus of the ingest part (made once a run, in main). */
struct ingest {
	const char *dir;
	size_t n, devices;
	unsigned salt;
};

/* replay of the ingest corpus into the store of cfg: msg/s; *ok false when
 * it did not store every message. */
static double replay_rate(const char *gw, const char *cfg, const char *pki,
			  const struct ingest *in, const char *out, bool *ok)
{
	/* a tenant of its own, so that the fleet's tenants measured above stay
	 * as generated (made by the first run of a kept fleet) */
	char *tenant[] = { (char *)gw, "-c", (char *)cfg, "tenant", "add", "ingest", NULL };
	struct bench_child t;
	bench_run(tenant, NULL, &t);
	bench_enroll_collector(gw, cfg, pki, "ingest", in->devices, in->salt);
	char *argv[] = { (char *)gw, "-c", (char *)cfg, "replay", "--workers", "2", (char *)in->dir,
			 NULL };
	struct bench_child c;
	bench_run(argv, out, &c);
	char sum[200];
	bench_summary_line(out, "replay: ", sum, sizeof(sum));
	char want[64];
	snprintf(want, sizeof(want), "%zu stored,", in->n);
	if (!bench_child_ok(&c) || strstr(sum, want) == NULL) {
		fprintf(stderr, "bench_fleet: replay: [%s]\n", sum);
		*ok = false;
	}
	return (double)in->n / c.seconds;
}

/* Ingest into the year's store (cfg) beside a fresh store of the back end. */
static bool ingest(const char *gw, const char *tmp, const char *pki, bool pg, const char *cfg,
		   const struct ingest *in)
{
	char fresh_state[600], fresh_cfg[600], yaml[800], out[700], db[64];
	snprintf(fresh_state, sizeof(fresh_state), "%s/%s-fresh", tmp, pg ? "pg" : "sqlite");
	snprintf(fresh_cfg, sizeof(fresh_cfg), "%s/%s-fresh.yaml", tmp, pg ? "pg" : "sqlite");
	snprintf(out, sizeof(out), "%s/replay.txt", tmp);
	snprintf(db, sizeof(db), "fleet_fresh_%u", in->salt);
	yaml[0] = '\0';
	if (pg) {
		bench_pg_createdb(db);
		bench_pg_store_yaml(db, yaml, sizeof(yaml));
	}
	bench_gw_config(fresh_cfg, fresh_state, pki, yaml);
	bool ok = true;
	double year = replay_rate(gw, cfg, pki, in, out, &ok);
	double fresh = replay_rate(gw, fresh_cfg, pki, in, out, &ok);
	printf("  replay --workers 2 of %zu sealed reports (a collector's %zu devices): into this"
	       " store %.0f msg/s, into a fresh one %.0f msg/s: %.2f%s\n", in->n, in->devices, year,
	       fresh, year / fresh, ok ? "" : "  FAILED");
	if (pg) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db);
		bench_pg_q1("postgres", sql);
	}
	char rm[700];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", fresh_state);
	if (system(rm) != 0)
		fprintf(stderr, "bench_fleet: could not remove %s\n", fresh_state);
	return ok;
}

static bool one_backend(const char *gw, const char *tmp, const char *pki, bool pg, int devices,
			int days, const struct ingest *in)
{
	char state[600], cfg[600], db[700], qdir[700], yaml[800], conninfo[600], out[700];
	snprintf(state, sizeof(state), "%s/%s", tmp, pg ? "pg" : "sqlite");
	snprintf(cfg, sizeof(cfg), "%s/%s.yaml", tmp, pg ? "pg" : "sqlite");
	snprintf(db, sizeof(db), "%s/telemail.db", state);
	snprintf(qdir, sizeof(qdir), "%s/quarantine", state);
	snprintf(out, sizeof(out), "%s/out.txt", tmp);
	char made[700];   /* there when the store was generated to the end */
	snprintf(made, sizeof(made), "%s/generated", state);
	bool again = file_size(made) > 0;
	if (again && pg)   /* a server of its own (test/pg_fixture.sh) took the database with it */
		again = bench_pg_q1("postgres", "SELECT count(*) FROM pg_database WHERE datname = '"
				    PG_DB "'") == 1;
	if (!again && mkdir(state, 0700) != 0 && errno != EEXIST) {
		perror(state);
		exit(2);
	}
	yaml[0] = '\0';
	if (pg) {
		if (!again)
			bench_pg_createdb(PG_DB);
		bench_pg_store_yaml(PG_DB, yaml, sizeof(yaml));
		bench_pg_conninfo(PG_DB, conninfo, sizeof(conninfo));
	}
	bench_gw_config(cfg, state, pki, yaml);
	struct gw_store_options o = { .backend = pg ? "postgresql" : "sqlite", .path = db,
				      .conninfo = pg ? conninfo : NULL, .busy_timeout_ms = 60000,
				      .quarantine_dir = qdir };
	int writers = pg ? 2 : 1;
	const char *be = getenv("BENCH_FLEET_BATCH");
	size_t batch = be != NULL && atoi(be) > 0 ? (size_t)atoi(be) : BATCH;
	const char *name = pg ? "PostgreSQL" : "SQLite";
	double secs;
	size_t n;
	if (again) {
		FILE *f = fopen(made, "r");
		if (f == NULL || fscanf(f, "%zu", &n) != 1)
			exit(2);
		fclose(f);
		printf("\n%s: %zu reports of %d devices over %d days, generated before (%s)\n", name,
		       n, devices, days, state);
	} else {
		registry(&o, devices);
		n = fill_store(&o, devices, days, writers, batch, &secs);
		printf("\n%s: %zu reports of %d devices over %d days written in %.1f s (%.0f reports/s,"
		       " %d writer%s, %zu reports a transaction)\n", name, n, devices, days, secs,
		       (double)n / secs, writers, writers > 1 ? "s" : "", batch);
		FILE *f = fopen(made, "w");
		if (f == NULL || fprintf(f, "%zu\n", n) < 0 || fclose(f) != 0)
			exit(2);
	}
	/* every run: a store generated by an older build gets this build's */
	size_t all, ns = keep_forecasts(&o, &all, &secs);
	printf("  %zu supplies' forecasts kept in %.1f s (what the pipeline keeps; %zu supplies)\n",
	       ns, secs, all);

	bool ok = true;
	static const char *const base[] = { "tenant", "list", NULL };
	/* the month of day days * 5 / 12: June of a year, January of 60 days */
	char period[16];
	time_t mid = (time_t)(YEAR_START + (int64_t)(days * 5 / 12) * 86400);
	struct tm tmv;
	strftime(period, sizeof(period), "%Y-%m", gmtime_r(&mid, &tmv));
	const char *const bill[] = { "billing", "--tenant", "provider", "--period", period,
				     "--format", "csv", NULL };
	static const char *const devs[] = { "devices", "--tenant", "c03", NULL };
	static const char *const sup[] = { "supplies", "--tenant", "c03", "--format", "csv", NULL };
	double t_base = cli_ms(gw, cfg, base, out, &ok);
	printf("  %-52s %8.1f ms\n", "tenant list (start, configuration, store open)", t_base);
	bool bok = true, dok = true, sok = true;
	double t_bill = cli_ms(gw, cfg, bill, out, &bok);
	size_t bill_lines = lines_of(out);
	char what[80];
	snprintf(what, sizeof(what), "billing --tenant provider --period %s", period);
	printf("  %-52s %8.1f ms  (%6.1f ms beyond tenant list)  %zu lines  (goal < 1000 ms)%s\n",
	       what, t_bill, t_bill - t_base, bill_lines, bok ? "" : "  FAILED");
	double t_dev = cli_ms(gw, cfg, devs, out, &dok);
	size_t dev_lines = lines_of(out);
	printf("  %-52s %8.1f ms  (%6.1f ms beyond tenant list)  %zu lines  (goal < 100 ms)%s\n",
	       "devices --tenant c03", t_dev, t_dev - t_base, dev_lines, dok ? "" : "  FAILED");
	double t_sup = cli_ms(gw, cfg, sup, out, &sok);
	size_t sup_lines = lines_of(out);
	printf("  %-52s %8.1f ms  (%6.1f ms beyond tenant list)  %zu lines  (goal < 100 ms)%s\n",
	       "supplies --tenant c03", t_sup, t_sup - t_base, sup_lines,
	       sok ? "" : "  FAILED (see above: not measurable here)");
	ok = ok && bok && dok;   /* supplies may be unsupported by a back end */

	double bytes;
	if (pg) {
		bytes = (double)bench_pg_q1(PG_DB, "SELECT pg_database_size(current_database())");
		printf("  database size %.1f MiB (pg_database_size)", bytes / 1048576.0);
	} else {
		char wal[800];
		snprintf(wal, sizeof(wal), "%s-wal", db);
		bytes = (double)file_size(db) + (double)file_size(wal);
		printf("  database size %.1f MiB (the file and its WAL)", bytes / 1048576.0);
	}
	printf(": %.0f bytes per stored report\n", bytes / (double)n);
	return ingest(gw, tmp, pki, pg, cfg, in) && ok;
}

static void corpus_fn(void *arg, void *out)
{
	struct tm_error err = {0};
	size_t *sizes = out;
	if (bench_corpus_write(arg, NULL, &sizes[0], &sizes[1], NULL, &err) < 0)
		die("the ingest corpus", &err);
}

int main(int argc, char **argv)
{
	int devices = argc > 1 ? atoi(argv[1]) : 1000;
	int days = argc > 2 ? atoi(argv[2]) : 365;
	if (devices < TENANTS)
		devices = 1000;
	if (days < 1 || days > 365)
		days = 365;   /* fewer than 62: the month billed is January, not over */
	/* absolute: the configurations name it, and a relative name in one
	 * is taken from that file's directory */
	char *pki_rel = bench_path("TM_TEST_BUILDDIR", "test", "pki");
	char *pki = realpath(pki_rel, NULL);
	if (pki == NULL) {
		perror(pki_rel);
		return 2;
	}
	free(pki_rel);
	char *gw = bench_path("TM_BUILDDIR", ".", "mailgw/telemail-mailgw");
	char tmpl[] = "/tmp/tm-bench-fleet.XXXXXX";
	const char *keep = getenv("BENCH_FLEET_DIR");
	if (keep != NULL && mkdir(keep, 0700) != 0 && errno != EEXIST) {
		perror(keep);
		exit(2);
	}
	char *tmp = keep != NULL ? (char *)keep : bench_tmpdir("bench_fleet", tmpl);
	time_t now = time(NULL);
	printf("bench_fleet: %d devices in %d tenants, 3 reports a day for %d days, %ld cores, %s",
	       devices, TENANTS, days, sysconf(_SC_NPROCESSORS_ONLN), ctime(&now));
	const char *which = argc > 3 ? argv[3] : "both";
	/* the ingest part's corpus, new each run */
	char cdir[600], rm[700];
	snprintf(cdir, sizeof(cdir), "%s/ingest-corpus", tmp);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", cdir);
	if (system(rm) != 0 || mkdir(cdir, 0700) != 0) {
		perror(cdir);
		exit(2);
	}
	char *sample = bench_path("TM_TESTDIR", "test", "reports/good/color-mfp-full.yaml");
	struct ingest in = { .dir = cdir, .n = 1000, .devices = 100,
			     .salt = 1 + (unsigned)(now % 65535) };
	struct bench_corpus corpus = { .n = in.n, .k = in.devices, .dir = cdir, .pki = pki,
				       .sample = sample, .collector = true, .salt = in.salt };
	size_t sizes[2];
	bench_in_child(corpus_fn, &corpus, sizes, sizeof(sizes), "making the ingest corpus");
	bool ok = true;
	if (strcmp(which, "postgresql") != 0)
		ok = one_backend(gw, tmp, pki, false, devices, days, &in);
	if (strcmp(which, "sqlite") == 0)
		;
	else if (bench_pg_present())
		ok = one_backend(gw, tmp, pki, true, devices, days, &in) && ok;
	else
		printf("\nPostgreSQL: not measured (run under test/pg_fixture.sh)\n");
	if (keep == NULL)
		bench_cleanup("bench_fleet", tmp);
	free(pki), free(gw), free(sample);
	return ok ? 0 : 1;
}

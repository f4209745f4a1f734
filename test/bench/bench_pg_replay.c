/* Benchmark (issue 16): `telemail-mailgw replay` (the real binary) of one
 * corpus of sealed reports into PostgreSQL beside the same into SQLite, in
 * the same run; then two gateways on one PostgreSQL database beside one.
 *
 *   bench_pg_replay [N [WORKERS [ROUNDS]]]   (default 4000 messages, 2, 3)
 *
 * Run under test/pg_fixture.sh (the server the tests use: a unix socket,
 * fsync and synchronous_commit off; SQLite runs with its own defaults here,
 * see the output's first lines).
 *
 * 1. PostgreSQL and SQLite in alternating pairs (PG first in odd rounds,
 *    SQLite first in even ones), each replay into a fresh store: msg/s of
 *    each, their medians and the ratio PG / SQLite (goal >= 0.8), with the
 *    CPU seconds per message of the replay process and of the server, and
 *    the bound they set: the replay and the server share the machine's
 *    cores, so their CPU a message caps PostgreSQL's rate, and the ratio.
 *    1b. The same for a collector's mail: the test PKI's collector
 *    reporting for 100 devices taking turns (a site's usual traffic: many
 *    devices, a few reports each, rather than two devices' long runs).
 *    1c. The same as 1 with the server on a core of its own: the server
 *    (its postmaster and every backend) pinned to the last core, the bench
 *    and the replays it starts to the others (sched_setaffinity; as root or
 *    as the server's user, else skipped): the shape of a deployment, where
 *    the gateways share a server on a machine of its own.
 * 2. Two gateways on one database: two replay processes at once, half the
 *    corpus each, beside one process with all of it, in the same rounds.
 *    Halved two ways: by device (each device's mail reaches one gateway)
 *    and by arrival (both gateways get both devices' mail, so their batches
 *    meet on the devices' rows). Printed: msg/s, the ratio two / one, the
 *    CPU of each process and of the server, and what the server's sessions
 *    were doing (pg_stat_activity and pg_locks sampled every 20 ms).
 *
 * The corpus of 1 and 2 comes from two test devices taking turns. Prints figures;
 * asserts nothing about speed; exits 1 when a replay did not store every
 * message, 77 without a PostgreSQL server. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <telemail/error.h>

#include "bench_common.h"
#include "bench_pg.h"

#define MAX_ROUNDS 9
#define COLLECTOR_DEVICES ((size_t)100) /* part 1b's collector's devices */

static void die(const char *what, const struct tm_error *err)
{
	bench_die("bench_pg_replay", what, err);
}

struct ctx {
	const char *gw, *tmp, *pki, *sample;
	size_t n;
	char workers[16];
	unsigned nrun;
	size_t collector;        /* the corpus's devices behind the collector (0: two devices) */
};

struct result {
	double rate, wall;
	double cpu[2];           /* user + system of each replay process */
	double server_cpu;       /* PostgreSQL's, over the run */
	long long deadlocks;
	bool ok;
	char summary[2][200];
	struct bench_pg_waits waits;
};

/* A fresh store (SQLite: a state directory; PostgreSQL: a database) with
 * the two devices enrolled; *db gets the database's name. */
static void fresh(struct ctx *x, bool pg, char *cfg, size_t cfg_n, char *db, size_t db_n)
{
	char state[600], yaml[800];
	x->nrun++;
	snprintf(state, sizeof(state), "%s/state-%u", x->tmp, x->nrun);
	snprintf(cfg, cfg_n, "%s/mailgw-%u.yaml", x->tmp, x->nrun);
	snprintf(db, db_n, "bench_replay_%u", x->nrun);
	yaml[0] = '\0';
	if (pg) {
		bench_pg_createdb(db);
		bench_pg_store_yaml(db, yaml, sizeof(yaml));
	}
	bench_gw_config(cfg, state, x->pki, yaml);
	char *tenant[] = { (char *)x->gw, "-c", cfg, "tenant", "add", "acme", NULL };
	bench_must(tenant);
	if (x->collector > 0) { /* the collector, enrolled for its devices */
		bench_enroll_collector(x->gw, cfg, x->pki, "acme", x->collector, 0);
		return;
	}
	for (int d = 1; d <= 2; d++) {
		char pem[600];
		snprintf(pem, sizeof(pem), "%s/dev-XK10000%d.pem", x->pki, d);
		char *enroll[] = { (char *)x->gw, "-c", cfg, "enroll", "--cert", pem, "--tenant",
				   "acme", NULL };
		bench_must(enroll);
	}
}

/* One replay process per directory, all at once, into a fresh store. */
static void replay(struct ctx *x, bool pg, const char *const *dirs, size_t ndirs,
		   struct result *res)
{
	char cfg[600], db[64], out[2][600];
	memset(res, 0, sizeof(*res));
	fresh(x, pg, cfg, sizeof(cfg), db, sizeof(db));
	struct bench_pg_sampler *smp = pg ? bench_pg_sampler_start(db, 20) : NULL;
	double srv0 = pg ? bench_pg_server_cpu() : 0;
	pid_t pid[2];
	double t0 = bench_now();
	for (size_t i = 0; i < ndirs; i++) {
		snprintf(out[i], sizeof(out[i]), "%s/out-%u-%zu.txt", x->tmp, x->nrun, i);
		char *argv[] = { (char *)x->gw, "-c", cfg, "replay", "--workers", x->workers,
				 (char *)dirs[i], NULL };
		pid[i] = bench_spawn(argv, out[i]);
	}
	res->ok = true;
	for (size_t i = 0; i < ndirs; i++) {
		struct bench_child c;
		bench_reap(pid[i], t0, &c);
		res->cpu[i] = c.cpu_user + c.cpu_sys;
		res->ok = res->ok && bench_child_ok(&c);
		if (c.seconds > res->wall)
			res->wall = c.seconds;
		bench_summary_line(out[i], "replay: ", res->summary[i], sizeof(res->summary[i]));
	}
	res->rate = (double)x->n / res->wall;
	if (pg) {
		bench_pg_sampler_stop(smp, &res->waits);
		res->deadlocks = bench_pg_q1(db, "SELECT deadlocks FROM pg_stat_database"
					     " WHERE datname = current_database()");
		/* a backend's CPU is counted once the postmaster reaped it: wait
		 * for the run's sessions to end, then for the reaping */
		char q[160];
		snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'", db);
		for (int i = 0; i < 100 && bench_pg_q1("postgres", q) > 0; i++)
			usleep(20000);
		usleep(100000);
		res->server_cpu = bench_pg_server_cpu() - srv0;
	}
	if (!res->ok)
		fprintf(stderr, "bench_pg_replay: a replay failed: [%s] [%s]\n", res->summary[0],
			res->summary[1]);
}

static void corpus_fn(void *arg, void *out)
{
	const struct bench_corpus *c = arg;
	size_t *sizes = out;
	struct tm_error err = {0};
	if (bench_corpus_write(c, NULL, &sizes[0], &sizes[1], NULL, &err) < 0)
		die("corpus", &err);
}

/* Hard links of the corpus: into a if pick(i), else into b. */
static void split(const char *in, const char *a, const char *b, size_t n, bool by_device)
{
	if (mkdir(a, 0700) != 0 || mkdir(b, 0700) != 0) {
		perror("bench_pg_replay: mkdir");
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		char from[700], to[700];
		bool first = by_device ? i % 2 == 0 : i < n / 2;
		bench_eml_path(from, sizeof(from), in, i);
		bench_eml_path(to, sizeof(to), first ? a : b, i);
		if (link(from, to) != 0) {
			perror(to);
			exit(2);
		}
	}
}

static void add_waits(struct bench_pg_waits *sum, const struct bench_pg_waits *w)
{
	sum->samples += w->samples;
	sum->active += w->active;
	sum->ungranted += w->ungranted;
	for (size_t i = 0; i < w->n; i++) {
		size_t k = 0;
		while (k < sum->n && strcmp(sum->kind[k].what, w->kind[i].what) != 0)
			k++;
		if (k == sum->n) {
			if (sum->n == BENCH_PG_WAIT_KINDS)
				continue;
			sum->kind[sum->n++] = w->kind[i];
		} else {
			sum->kind[k].count += w->kind[i].count;
		}
	}
}

/* The round whose rate is the median of rounds r[0..k) (its CPU figures
 * belong together). */
static const struct result *median_round(const struct result *r, size_t k)
{
	double v[MAX_ROUNDS];
	for (size_t i = 0; i < k; i++)
		v[i] = r[i].rate;
	double m = bench_median(v, k);
	const struct result *best = &r[0];
	for (size_t i = 1; i < k; i++)
		if ((r[i].rate - m) * (r[i].rate - m) < (best->rate - m) * (best->rate - m))
			best = &r[i];
	return best;
}

static void print_cpu(const char *what, const struct result *r, size_t procs, size_t n)
{
	printf("  %-28s %6.0f msg/s  wall %6.2f s;  CPU: replay", what, r->rate, r->wall);
	for (size_t i = 0; i < procs; i++)
		printf(" %s%.2f s", i ? "+ " : "", r->cpu[i]);
	if (r->server_cpu > 0)
		printf(", PostgreSQL server %.2f s", r->server_cpu);
	printf("  (%.0f us replay + %.0f us server per message)\n",
	       1e6 * (r->cpu[0] + r->cpu[1]) / (double)n, 1e6 * r->server_cpu / (double)n);
}

/* ---- 1c: the server on a core of its own ---- */

/* Split: the server on the last core, this process (and the replays it
 * starts) on the others; or everything back on every core. */
static bool split_cores(bool on)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t all, last, rest;
	CPU_ZERO(&all);
	CPU_ZERO(&last);
	CPU_ZERO(&rest);
	for (long i = 0; i < cores && i < CPU_SETSIZE; i++) {
		CPU_SET((int)i, &all);
		CPU_SET((int)i, i == cores - 1 ? &last : &rest);
	}
	if (!on) {
		bool ok = bench_pg_server_affinity(&all);
		return sched_setaffinity(0, sizeof(all), &all) == 0 && ok;
	}
	return cores >= 2 && bench_pg_server_affinity(&last) &&
	       sched_setaffinity(0, sizeof(rest), &rest) == 0;
}

/* Part 1: replay of corpus `in` into PostgreSQL beside SQLite, in
 * alternating pairs; prints each round, the medians, the ratio and the
 * bound the CPU a message sets. False: a replay did not store everything. */
static bool beside_sqlite(struct ctx *x, const char *in, size_t rounds, bool split)
{
	const char *all[] = { in };
	struct result pg[MAX_ROUNDS], sq[MAX_ROUNDS];
	bool ok = true;
	for (size_t r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			replay(x, true, all, 1, &pg[r]);
			replay(x, false, all, 1, &sq[r]);
		} else {
			replay(x, false, all, 1, &sq[r]);
			replay(x, true, all, 1, &pg[r]);
		}
		ok = ok && pg[r].ok && sq[r].ok;
		printf("  round %zu (%s first): PostgreSQL %6.0f msg/s, SQLite %6.0f msg/s, ratio %.2f\n",
		       r + 1, r % 2 == 0 ? "PG" : "SQLite", pg[r].rate, sq[r].rate,
		       pg[r].rate / sq[r].rate);
	}
	const struct result *pgm = median_round(pg, rounds), *sqm = median_round(sq, rounds);
	print_cpu("PostgreSQL (median round)", pgm, 1, x->n);
	print_cpu("SQLite (median round)", sqm, 1, x->n);
	printf("  [%s] [%s]\n", pgm->summary[0], sqm->summary[0]);
	printf("  ratio PostgreSQL / SQLite (medians): %.2f (goal >= 0.80)\n", pgm->rate / sqm->rate);
	/* what the machine's cores allow: the replay and the server share them */
	double pg_us = 1e6 * (pgm->cpu[0] + pgm->cpu[1] + pgm->server_cpu) / (double)x->n;
	double pg_replay_us = 1e6 * (pgm->cpu[0] + pgm->cpu[1]) / (double)x->n;
	double sq_us = 1e6 * (sqm->cpu[0] + sqm->cpu[1]) / (double)x->n;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (!split) {
		double bound = pg_us > 0 ? (double)cores * 1e6 / pg_us : 0;
		printf("  CPU a message: PostgreSQL %.0f us (replay %.0f + server %.0f), SQLite %.0f us;"
		       " on %ld cores shared by both, PostgreSQL at most %.0f msg/s: a ratio of at"
		       " most %.2f beside SQLite's %.0f msg/s\n", pg_us, pg_replay_us,
		       pg_us - pg_replay_us, sq_us, cores, bound, bound / sqm->rate, sqm->rate);
	} else {   /* the replay on cores - 1, the server on one */
		double server_us = pg_us - pg_replay_us;
		double by_replay = pg_replay_us > 0 ? (double)(cores - 1) * 1e6 / pg_replay_us : 0;
		double by_server = server_us > 0 ? 1e6 / server_us : 0;
		double bound = by_server > 0 && by_server < by_replay ? by_server : by_replay;
		printf("  CPU a message: PostgreSQL replay %.0f us on %ld core(s), server %.0f us on"
		       " its own; SQLite %.0f us: PostgreSQL at most %.0f msg/s (bound by the %s):"
		       " a ratio of at most %.2f beside SQLite's %.0f msg/s; the server busy %.0f %%"
		       " of the wall time\n", pg_replay_us, cores - 1, server_us, sq_us, bound,
		       bound == by_server ? "server" : "replay", bound / sqm->rate, sqm->rate,
		       pgm->wall > 0 ? 100.0 * pgm->server_cpu / pgm->wall : 0.0);
	}
	printf("  where PostgreSQL's sessions were (median round):\n");
	bench_pg_waits_print(&pgm->waits, "    ");
	return ok;
}

int main(int argc, char **argv)
{
	struct ctx x = { 0 };
	x.n = argc > 1 ? strtoul(argv[1], NULL, 10) : 4000;
	unsigned workers = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2;
	size_t rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 3;
	if (x.n < 2)
		x.n = 4000;
	if (workers == 0)
		workers = 2;
	if (rounds == 0 || rounds > MAX_ROUNDS)
		rounds = 3;
	snprintf(x.workers, sizeof(x.workers), "%u", workers);
	if (!bench_pg_present()) {
		fprintf(stderr, "bench_pg_replay: no PostgreSQL server: run under test/pg_fixture.sh\n");
		return 77;
	}
	char *pki = bench_path("TM_TEST_BUILDDIR", "test", "pki");
	char *sample = bench_path("TM_TESTDIR", "test", "reports/good/color-mfp-full.yaml");
	char *gw = bench_path("TM_BUILDDIR", ".", "mailgw/telemail-mailgw");
	x.gw = gw, x.pki = pki, x.sample = sample;
	char tmpl[] = "/tmp/tm-bench-pg-replay.XXXXXX";
	x.tmp = bench_tmpdir("bench_pg_replay", tmpl);
	char in[600], in_col[600], mix_a[600], mix_b[600], dev_a[600], dev_b[600];
	snprintf(in, sizeof(in), "%s/in", x.tmp);
	snprintf(in_col, sizeof(in_col), "%s/collector", x.tmp);
	snprintf(mix_a, sizeof(mix_a), "%s/arrival-a", x.tmp);
	snprintf(mix_b, sizeof(mix_b), "%s/arrival-b", x.tmp);
	snprintf(dev_a, sizeof(dev_a), "%s/device-a", x.tmp);
	snprintf(dev_b, sizeof(dev_b), "%s/device-b", x.tmp);
	if (mkdir(in, 0700) != 0 || mkdir(in_col, 0700) != 0) {
		perror(in);
		return 2;
	}
	struct bench_corpus corpus = { .n = x.n, .k = 2, .dir = in, .pki = pki, .sample = sample };
	size_t sizes[2] = { 0, 0 };   /* bytes, report size */
	bench_in_child(corpus_fn, &corpus, sizes, sizeof(sizes), "making the corpus");
	struct bench_corpus col = { .n = x.n, .k = COLLECTOR_DEVICES, .dir = in_col, .pki = pki,
				    .sample = sample, .collector = true };
	size_t col_sizes[2] = { 0, 0 };
	bench_in_child(corpus_fn, &col, col_sizes, sizeof(col_sizes), "making the collector's corpus");
	split(in, mix_a, mix_b, x.n, false);
	split(in, dev_a, dev_b, x.n, true);

	printf("bench_pg_replay: %zu messages (%zu bytes on average, report %zu bytes) from 2 devices,"
	       " replay --workers %u, %zu rounds, %ld cores\n", x.n, sizes[0] / x.n, sizes[1],
	       workers, rounds, sysconf(_SC_NPROCESSORS_ONLN));
	printf("  PostgreSQL: test/pg_fixture.sh's server (unix socket; fsync, synchronous_commit,"
	       " full_page_writes off); SQLite: the gateway's own settings (WAL)\n");

	/* 1. PostgreSQL beside SQLite, alternating pairs: two devices' mail,
	 * then a collector's */
	const char *all[] = { in };
	printf("\n1. replay into PostgreSQL beside SQLite (each into a fresh store)\n");
	bool ok = beside_sqlite(&x, in, rounds, false);
	printf("\n1b. the same for a collector's mail: %zu messages from one collector for %zu"
	       " devices (%zu reports each, taking turns)\n", x.n, COLLECTOR_DEVICES,
	       x.n / COLLECTOR_DEVICES);
	x.collector = COLLECTOR_DEVICES;
	ok = beside_sqlite(&x, in_col, rounds, false) && ok;
	x.collector = 0;
	printf("\n1c. as 1, with the server on a core of its own (the last) and the replays on the"
	       " others\n");
	if (split_cores(true)) {
		ok = beside_sqlite(&x, in, rounds, true) && ok;
	} else {
		printf("  skipped: fewer than 2 cores, or the server's processes cannot be moved"
		       " (run as root or as the server's user)\n");
	}
	if (!split_cores(false))
		printf("  (the server's processes could not all be moved back to every core)\n");

	/* 2. two gateways on one database beside one */
	const char *by_dev[] = { dev_a, dev_b }, *by_arr[] = { mix_a, mix_b };
	struct result one[MAX_ROUNDS], two_d[MAX_ROUNDS], two_a[MAX_ROUNDS];
	struct bench_pg_waits w_one = { 0 }, w_d = { 0 }, w_a = { 0 };
	long long dl_d = 0, dl_a = 0;
	printf("\n2. two gateways (replay processes) on one PostgreSQL database beside one,"
	       " %zu messages in all\n", x.n);
	for (size_t r = 0; r < rounds; r++) {
		replay(&x, true, all, 1, &one[r]);
		replay(&x, true, by_dev, 2, &two_d[r]);
		replay(&x, true, by_arr, 2, &two_a[r]);
		ok = ok && one[r].ok && two_d[r].ok && two_a[r].ok;
		add_waits(&w_one, &one[r].waits);
		add_waits(&w_d, &two_d[r].waits);
		add_waits(&w_a, &two_a[r].waits);
		dl_d += two_d[r].deadlocks;
		dl_a += two_a[r].deadlocks;
		printf("  round %zu: one %6.0f msg/s; two, by device %6.0f msg/s (%.2f);"
		       " two, by arrival %6.0f msg/s (%.2f)\n", r + 1, one[r].rate, two_d[r].rate,
		       two_d[r].rate / one[r].rate, two_a[r].rate, two_a[r].rate / one[r].rate);
	}
	const struct result *om = median_round(one, rounds), *dm = median_round(two_d, rounds),
			    *am = median_round(two_a, rounds);
	print_cpu("one gateway", om, 1, x.n);
	print_cpu("two, halved by device", dm, 2, x.n);
	print_cpu("two, halved by arrival", am, 2, x.n);
	printf("  [%s]\n  [%s] [%s]\n  [%s] [%s]\n", om->summary[0], dm->summary[0], dm->summary[1],
	       am->summary[0], am->summary[1]);
	printf("  ratio two / one (medians): by device %.2f, by arrival %.2f;"
	       " deadlocks detected: %lld by device, %lld by arrival (all rounds)\n",
	       dm->rate / om->rate, am->rate / om->rate, dl_d, dl_a);
	printf("  where the server's sessions were, all rounds (pg_stat_activity every 20 ms):\n");
	printf("   one gateway:\n");
	bench_pg_waits_print(&w_one, "    ");
	printf("   two, halved by device:\n");
	bench_pg_waits_print(&w_d, "    ");
	printf("   two, halved by arrival:\n");
	bench_pg_waits_print(&w_a, "    ");

	bench_cleanup("bench_pg_replay", x.tmp);
	free(pki), free(sample), free(gw);
	return ok ? 0 : 1;
}

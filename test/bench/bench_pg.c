/* What the PostgreSQL benchmarks share (see bench_pg.h). */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <libpq-fe.h>

#include "bench_pg.h"

bool bench_pg_present(void)
{
	return getenv("TM_PG_HOST") != NULL && getenv("TM_PG_USER") != NULL;
}

void bench_pg_conninfo(const char *dbname, char *buf, size_t n)
{
	snprintf(buf, n, "host=%s user=%s dbname=%s", getenv("TM_PG_HOST"), getenv("TM_PG_USER"),
		 dbname);
}

void bench_pg_store_yaml(const char *dbname, char *buf, size_t n)
{
	char ci[600];
	bench_pg_conninfo(dbname, ci, sizeof(ci));
	snprintf(buf, n, "store: {backend: postgresql, conninfo: \"%s\"}\n", ci);
}

static PGconn *connect_db(const char *dbname)
{
	char ci[600];
	bench_pg_conninfo(dbname, ci, sizeof(ci));
	PGconn *c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "bench: %s: %s", ci, PQerrorMessage(c));
		exit(2);
	}
	return c;
}

static PGresult *must_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	return r;
}

void bench_pg_createdb(const char *name)
{
	PGconn *c = connect_db("postgres");
	char sql[200];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	PQclear(must_exec(c, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	PQclear(must_exec(c, sql));
	PQfinish(c);
}

long long bench_pg_q1(const char *dbname, const char *sql)
{
	PGconn *c = connect_db(dbname);
	PGresult *r = must_exec(c, sql);
	long long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
								  : 0;
	PQclear(r);
	PQfinish(c);
	return v;
}

/* utime + stime (+ cutime + cstime when children) of /proc/pid/stat, in ticks */
static long long proc_ticks(long pid, bool children, long *ppid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');   /* the command may hold spaces */
	if (p == NULL)
		return -1;
	char state;
	long pp;
	unsigned long long ut, st;
	long long cut, cst;
	/* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime */
	if (sscanf(p + 2, "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &state,
		   &pp, &ut, &st, &cut, &cst) != 6)
		return -1;
	if (ppid != NULL)
		*ppid = pp;
	return (long long)(ut + st) + (children ? cut + cst : 0);
}

/* The postmaster of the fixture's server, 0 when it is not found. */
static long postmaster_pid(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/data/postmaster.pid", getenv("TM_PG_HOST"));
	FILE *f = fopen(path, "r");
	long pm = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pm) != 1)
		pm = 0;
	fclose(f);
	return pm;
}

/* fn(pid, its ticks without children, ctx) for each child of pm running
 * now; a non-zero answer stops the walk and comes back. */
static int each_child(long pm, int (*fn)(long pid, long long ticks, void *ctx), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int stop = 0;
	while (stop == 0 && d != NULL && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		long pp = 0;
		if (*end != '\0' || pid <= 0 || pid == pm)
			continue;
		long long t = proc_ticks(pid, false, &pp);
		if (t >= 0 && pp == pm)
			stop = fn(pid, t, ctx);
	}
	if (d != NULL)
		closedir(d);
	return stop;
}

static int add_ticks(long pid, long long ticks, void *ctx)
{
	*(long long *)ctx += ticks;
	return 0;
}

double bench_pg_server_cpu(void)
{
	long pm = postmaster_pid();
	if (pm <= 0)
		return -1;
	long long ticks = proc_ticks(pm, true, NULL);
	each_child(pm, add_ticks, &ticks);
	return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* 1: a child that could not be moved and still runs (one that ended
 * meanwhile is no failure) */
static int move_child(long pid, long long ticks, void *ctx)
{
	const cpu_set_t *set = ctx;
	return sched_setaffinity((pid_t)pid, sizeof(*set), set) != 0 && kill((pid_t)pid, 0) == 0;
}

bool bench_pg_server_affinity(const cpu_set_t *set)
{
	long pm = postmaster_pid();
	return pm > 0 && sched_setaffinity((pid_t)pm, sizeof(*set), set) == 0 &&
	       each_child(pm, move_child, (void *)set) == 0;
}

struct bench_pg_sampler {
	pthread_t th;
	atomic_bool stop;
	unsigned interval_ms;
	char dbname[64];
	struct bench_pg_waits w;
};

static void count_kind(struct bench_pg_waits *w, const char *what, size_t k)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->kind[i].what, what) == 0) {
			w->kind[i].count += k;
			return;
		}
	if (w->n == BENCH_PG_WAIT_KINDS)
		return;
	snprintf(w->kind[w->n].what, sizeof(w->kind[0].what), "%s", what);
	w->kind[w->n++].count = k;
}

static void *sampler(void *arg)
{
	struct bench_pg_sampler *s = arg;
	PGconn *c = connect_db(s->dbname);
	const char *sql =
		"SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)"
		" FROM pg_stat_activity WHERE datname = current_database()"
		" AND pid <> pg_backend_pid() AND state = 'active' GROUP BY 1;"
		"SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
		" WHERE NOT l.granted AND d.datname = current_database()";
	struct timespec ts = { .tv_sec = s->interval_ms / 1000,
			       .tv_nsec = (long)(s->interval_ms % 1000) * 1000000L };
	while (!atomic_load(&s->stop)) {
		if (PQsendQuery(c, sql)) {
			PGresult *r;
			int which = 0;
			while ((r = PQgetResult(c)) != NULL) {
				if (PQresultStatus(r) == PGRES_TUPLES_OK) {
					for (int i = 0; which == 0 && i < PQntuples(r); i++) {
						size_t k = strtoul(PQgetvalue(r, i, 1), NULL, 10);
						count_kind(&s->w, PQgetvalue(r, i, 0), k);
						s->w.active += k;
					}
					if (which == 1 && PQntuples(r) == 1)
						s->w.ungranted += strtoul(PQgetvalue(r, 0, 0), NULL, 10);
				}
				which++;
				PQclear(r);
			}
			s->w.samples++;
		}
		nanosleep(&ts, NULL);
	}
	PQfinish(c);
	return NULL;
}

struct bench_pg_sampler *bench_pg_sampler_start(const char *dbname, unsigned interval_ms)
{
	struct bench_pg_sampler *s = calloc(1, sizeof(*s));
	if (s == NULL)
		exit(2);
	atomic_init(&s->stop, false);
	s->interval_ms = interval_ms > 0 ? interval_ms : 50;
	snprintf(s->dbname, sizeof(s->dbname), "%s", dbname);
	if (pthread_create(&s->th, NULL, sampler, s) != 0) {
		perror("bench: pthread_create");
		exit(2);
	}
	return s;
}

void bench_pg_sampler_stop(struct bench_pg_sampler *s, struct bench_pg_waits *out)
{
	atomic_store(&s->stop, true);
	pthread_join(s->th, NULL);
	*out = s->w;
	free(s);
}

static int cmp_kind(const void *a, const void *b)
{
	size_t x = ((const struct bench_pg_wait_kind *)a)->count;
	size_t y = ((const struct bench_pg_wait_kind *)b)->count;
	return x > y ? -1 : x < y;
}

void bench_pg_waits_print(const struct bench_pg_waits *w, const char *indent)
{
	struct bench_pg_waits c = *w;
	qsort(c.kind, c.n, sizeof(c.kind[0]), cmp_kind);
	printf("%s%zu samples, %.2f active sessions on average, %.2f lock requests waiting on average\n",
	       indent, c.samples, c.samples ? (double)c.active / (double)c.samples : 0,
	       c.samples ? (double)c.ungranted / (double)c.samples : 0);
	for (size_t i = 0; i < c.n && i < 8; i++)
		printf("%s  %-36s %5.1f %% of active session samples\n", indent, c.kind[i].what,
		       c.active ? 100.0 * (double)c.kind[i].count / (double)c.active : 0);
}

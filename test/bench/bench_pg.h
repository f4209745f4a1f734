/* What the PostgreSQL benchmarks share: the server of test/pg_fixture.sh
 * (TM_PG_HOST, its socket directory, and TM_PG_USER), a database per run,
 * the server's CPU time, and a sampler of what the server's sessions wait
 * for (pg_stat_activity, pg_locks). Benchmarks print; they assert nothing. */
#ifndef TM_BENCH_PG_H
#define TM_BENCH_PG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

/* Is a fixture server there (TM_PG_HOST and TM_PG_USER set)? */
bool bench_pg_present(void);
/* "host=… user=… dbname=NAME" */
void bench_pg_conninfo(const char *dbname, char *buf, size_t n);
/* The gateway configuration's store section for database NAME. */
void bench_pg_store_yaml(const char *dbname, char *buf, size_t n);
/* CREATE DATABASE name (dropped first when there); exits on failure. */
void bench_pg_createdb(const char *name);
/* The first column of the first row of sql on database dbname, as a
 * number (exits on failure). */
long long bench_pg_q1(const char *dbname, const char *sql);

/* CPU seconds (user + system) the server has used so far: the postmaster,
 * the backends it has reaped and those still running. */
double bench_pg_server_cpu(void);
/* The server's processes (its postmaster, so the backends it starts
 * later, and its children now) on the CPUs of set; false when one could
 * not be moved (another user's, without the privilege). */
bool bench_pg_server_affinity(const cpu_set_t *set);

/* What the sessions of one database were doing, sampled every interval_ms
 * by a thread of its own (its own connection, left out of the counts). */
#define BENCH_PG_WAIT_KINDS 24
struct bench_pg_wait_kind {
	char what[64];             /* "CPU" or wait_event_type:wait_event */
	size_t count;
};
struct bench_pg_waits {
	size_t samples;            /* how often it looked */
	size_t active;             /* sessions found active, summed over samples */
	size_t ungranted;          /* pg_locks rows not granted, summed over samples */
	size_t n;
	struct bench_pg_wait_kind kind[BENCH_PG_WAIT_KINDS];
};
struct bench_pg_sampler;
struct bench_pg_sampler *bench_pg_sampler_start(const char *dbname, unsigned interval_ms);
/* Stop and hand back what was seen (frees the sampler). */
void bench_pg_sampler_stop(struct bench_pg_sampler *s, struct bench_pg_waits *out);
/* Print the waits as "    what  share of active samples" lines. */
void bench_pg_waits_print(const struct bench_pg_waits *w, const char *indent);

#endif

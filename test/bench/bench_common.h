/* What the benchmarks share: paths, a clock, the sealed corpus and the bare
 * OpenSSL decrypt + verify baseline (what any S/MIME gateway must do at the
 * least). Benchmarks print figures; they assert nothing about speed. */
#ifndef TM_BENCH_COMMON_H
#define TM_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <telemail/buf.h>
#include <telemail/error.h>

struct tm_identity;
struct tm_certlist;

/* $env/rel (fallback when $env is unset); malloc'd, exits on failure. */
char *bench_path(const char *env, const char *fallback, const char *rel);
/* Monotonic seconds. */
double bench_now(void);
/* Print "<prog>: <what>: <reason>: <message>" and exit(2). */
void bench_die(const char *prog, const char *what, const struct tm_error *err)
	__attribute__((noreturn));

/* n distinct reports made from the sample report file (id and seq vary:
 * ids 5f2c0000-0000-4000-8000-<12 hex digits of i>, seq i + 1), sealed by
 * `signer` to `to`, half opaque and half detached. msgs[n] must be
 * zeroed; each is tm_buf_init'ed here. *yaml_len gets the report's size. */
int bench_seal_corpus(const char *sample, const struct tm_identity *signer,
		      const struct tm_certlist *to, size_t n, struct tm_buf *msgs,
		      size_t *yaml_len, struct tm_error *err);

/* The same with k signers taking turns: message i is signed by
 * signers[i % k] for device serials[i % k] (NULL: the sample's serial),
 * seq i / k + 1; half of each device's messages are detached. */
int bench_seal_corpus_k(const char *sample, const struct tm_identity *const *signers,
			const char *const *serials, size_t k, unsigned salt,
			const struct tm_certlist *to, size_t n, struct tm_buf *msgs,
			size_t *yaml_len, struct tm_error *err);

/* A corpus of n sealed reports written to dir as m000000.eml …, from k
 * devices of the test PKI (1..3: XK100001 …) taking turns, sealed to the
 * EC gateway key; with collector set, from the test PKI's collector for k
 * devices (serials bench_collector_serial(), 1 to BENCH_COLLECTOR_MAX). */
struct bench_corpus {
	size_t n, k;
	const char *dir, *pki, *sample;
	bool collector;
	unsigned salt;          /* 0, or report ids and collector serials of their own */
};
#define BENCH_COLLECTOR_MAX 1000
/* The serial of a collector corpus's device d (0-based): XC000001 …, with
 * a salt XC<salt, 5 digits>00001 … (a store that keeps earlier runs' reports). */
void bench_collector_serial(char *buf, size_t size, unsigned salt, size_t d);
/* Enroll the test PKI's collector for devices 0..n-1 of salt under tenant
 * (the real binary, configuration cfg); exits on failure. */
void bench_enroll_collector(const char *gw, const char *cfg, const char *pki, const char *tenant,
			    size_t n, unsigned salt);
void bench_eml_path(char *buf, size_t size, const char *dir, size_t i);
/* msgs (n zeroed buffers, or NULL) keeps the messages for the caller;
 * *bytes: their total size; *seal_rate (may be NULL): msg/s of sealing. */
int bench_corpus_write(const struct bench_corpus *c, struct tm_buf *msgs, size_t *bytes,
		       size_t *yaml_len, double *seal_rate, struct tm_error *err);

/* ---- child processes (the real binaries) ---- */

struct bench_child {
	int status;
	double seconds;          /* wall clock */
	long maxrss_kb;
	double cpu_user, cpu_sys;   /* seconds, from wait4 */
};
/* fork + exec argv with stdout to `out` (NULL: /dev/null); exits on failure. */
pid_t bench_spawn(char *const argv[], const char *out);
/* wait4 for pid; seconds counted from t0 (bench_now()). */
void bench_reap(pid_t pid, double t0, struct bench_child *c);
void bench_run(char *const argv[], const char *out, struct bench_child *c);
bool bench_child_ok(const struct bench_child *c);
/* bench_run, and exit(2) unless it exits 0. */
void bench_must(char *const argv[]);
/* Run fn(arg, out) in a child and copy its `size` octets of out back (a
 * replay's ru_maxrss counts what its parent held before exec, so big
 * things are made in children). Exits on failure. */
void bench_in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t size,
		    const char *what);
/* A gateway configuration: state_dir, the test PKI's EC key and CA, then
 * store_yaml (a `store:` section, or NULL/"": SQLite under state_dir). */
void bench_gw_config(const char *cfg, const char *state, const char *pki, const char *store_yaml);
/* The first line of file `out` starting with prefix ("" when none). */
void bench_summary_line(const char *out, const char *prefix, char *buf, size_t n);
/* The median of v[n] (sorts v). */
int bench_cmp_double(const void *a, const void *b);
double bench_median(double *v, size_t n);

/* mkdtemp(tmpl) or exit(2); bench_cleanup removes it (TM_BENCH_KEEP set:
 * keeps it and says where). */
char *bench_tmpdir(const char *prog, char *tmpl);
void bench_cleanup(const char *prog, const char *tmp);

/* The bare baseline: gateway certificate + key, CA file. */
struct bench_bare;
struct bench_bare *bench_bare_new(const char *gw_pem, const char *gw_key, const char *ca_pem);
void bench_bare_free(struct bench_bare *b);
/* 1 when the message decrypts and verifies. Thread-safe. */
int bench_bare_open(const struct bench_bare *b, const uint8_t *msg, size_t len);
/* Messages per second of bench_bare_open over msgs with `threads` threads
 * taking messages in turn; *ok counts the good ones. */
double bench_bare_rate(const struct bench_bare *b, const struct tm_buf *msgs, size_t n,
		       unsigned threads, size_t *ok);

#endif

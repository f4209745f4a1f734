/* What the benchmarks share: paths, a clock, the sealed corpus and the bare
 * OpenSSL decrypt + verify baseline (what any S/MIME gateway must do at the
 * least). Benchmarks print figures; they assert nothing about speed. */
#ifndef TM_BENCH_COMMON_H
#define TM_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

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

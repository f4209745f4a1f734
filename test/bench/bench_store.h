/* What the store benchmarks share (bench_web, bench_supplies): a report
 * stored the way the pipeline's stage 2 stores it. Links gwcore. */
#ifndef TM_BENCH_STORE_H
#define TM_BENCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_store;
struct gw_store_options;
struct gw_service_config;

/* Store report `seq` of device `serial` of `tenant`, generated at `at`
 * (Unix seconds; received then too): a report header with an id made from
 * serial and seq, then `body` (the YAML of its device, status, counters,
 * supplies … sections), put and, when svc is not NULL, the alerts hook.
 * Exits (bench_die as prog) on failure. */
void bench_store_report(struct gw_store *st, const struct gw_service_config *svc,
			const char *serial, int seq, int64_t at, const char *tenant,
			const char *body, const char *prog);

/* Store report seq of device XK<i, six digits> (bench_store_enroll) of
 * tenant, generated at `at`: idle, total impressions `pages`, four toners
 * (black, cyan, magenta, yellow; supplies 1 to 4) at levels[0..3] percent.
 * Exits on failure. */
void bench_store_toners(struct gw_store *st, const struct gw_service_config *svc, int i,
			int seq, int64_t at, const char *tenant, long pages, const int levels[4],
			const char *prog);

/* Under test/pg_fixture.sh (TM_TEST_BACKEND=postgresql): *o set to the
 * fixture server's database postgres (conninfo written to buf, which o
 * points into), true; else false and o untouched. */
bool bench_store_pg(struct gw_store_options *o, char *buf, size_t n);

/* The tenants of a benchmark's fleet: provider and its children big (the
 * tenant measured) and other (a sibling beside it). Exits on failure. */
void bench_store_tenants(struct gw_store *st, const char *prog);

/* Enroll device XK<i, six digits> in tenant, with a certificate
 * fingerprint of its own. Exits on failure. */
void bench_store_enroll(struct gw_store *st, int i, const char *tenant, const char *prog);

#endif

/* What the store benchmarks share (bench_web, bench_supplies): a report
 * stored the way the pipeline's stage 2 stores it. Links gwcore. */
#ifndef TM_BENCH_STORE_H
#define TM_BENCH_STORE_H

#include <stdint.h>

struct gw_store;
struct gw_service_config;

/* Store report `seq` of device `serial` of `tenant`, generated at `at`
 * (Unix seconds; received then too): a report header with an id made from
 * serial and seq, then `body` (the YAML of its device, status, counters,
 * supplies … sections), put and, when svc is not NULL, the alerts hook.
 * Exits (bench_die as prog) on failure. */
void bench_store_report(struct gw_store *st, const struct gw_service_config *svc,
			const char *serial, int seq, int64_t at, const char *tenant,
			const char *body, const char *prog);

/* The tenants of a benchmark's fleet: provider and its children big (the
 * tenant measured) and other (a sibling beside it). Exits on failure. */
void bench_store_tenants(struct gw_store *st, const char *prog);

/* Enroll device XK<i, six digits> in tenant, with a certificate
 * fingerprint of its own. Exits on failure. */
void bench_store_enroll(struct gw_store *st, int i, const char *tenant, const char *prog);

#endif

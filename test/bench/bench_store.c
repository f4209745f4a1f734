/* What the store benchmarks share (see bench_store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

#include "bench_common.h"
#include "bench_store.h"
#include "registry/registry.h"
#include "service/alerts.h"
#include "store/store.h"

void bench_store_report(struct gw_store *st, const struct gw_service_config *svc,
			const char *serial, int seq, int64_t at, const char *tenant,
			const char *body, const char *prog)
{
	struct tm_buf y, j;
	struct tm_error err = {0};
	tm_buf_init(&y);
	tm_buf_init(&j);
	char key[96], h[65], when[32];
	snprintf(key, sizeof(key), "%s:%d", serial, seq);   /* a stable id per report */
	tm_sha256_hex(key, strlen(key), h);
	time_t tt = (time_t)at;
	struct tm tmv;
	gmtime_r(&tt, &tmv);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tmv);
	tm_buf_printf(&y, "schema_version: 1\nreport:\n  id: \"%.8s-%.4s-%.4s-%.4s-%.12s\"\n"
		      "  seq: %d\n  kind: periodic\n  generated_at: \"%s\"\n  agent: bench\n%s",
		      h, h + 8, h + 12, h + 16, h + 20, seq, when, body);
	struct tm_report *r = NULL;
	if (tm_report_read(y.data, y.len, NULL, &r, &err) < 0 || tm_report_normalize(r, &j, &err) < 0)
		bench_die(prog, "report", &err);
	char raw[65];
	tm_sha256_hex(y.data, y.len, raw);
	struct gw_store_record rec = {
		.report = r, .json = (const char *)j.data, .json_len = j.len, .tenant = tenant,
		.fingerprint = "", .message_id = "", .received_at = at, .raw_sha256 = raw,
	};
	struct gw_put_info info;
	struct gw_alerts_prep *ap = NULL;   /* as the pipeline: the hook's reads with the put */
	if (svc != NULL && gw_alerts_prepare(st, svc, &rec, at, &ap, &err) != GW_STORE_OK)
		bench_die(prog, "prepare", &err);
	rec.reads = gw_alerts_reads(ap);
	if (gw_store_put(st, &rec, &info, &err) != GW_STORE_OK ||
	    (ap != NULL && gw_alerts_run(ap, &info, &err) != GW_STORE_OK))
		bench_die(prog, "put", &err);
	gw_alerts_prep_free(ap);
	tm_report_free(r);
	tm_buf_fini(&y);
	tm_buf_fini(&j);
}

void bench_store_enroll(struct gw_store *st, int i, const char *tenant, const char *prog)
{
	char serial[32], fp[65];
	struct tm_error err = {0};
	snprintf(serial, sizeof(serial), "XK%06d", i);
	snprintf(fp, sizeof(fp), "%064x", i + 1);
	struct gw_enrollment e = { .fingerprint = fp, .role = GW_ROLE_DEVICE, .tenant = tenant,
				   .cert_serial = serial, .subject = "CN=device" };
	if (gw_registry_enroll(st, &e, 1, &err) < 0)
		bench_die(prog, "enroll", &err);
}

void bench_store_toners(struct gw_store *st, const struct gw_service_config *svc, int i,
			int seq, int64_t at, const char *tenant, long pages, const int levels[4],
			const char *prog)
{
	static const char *const colorant[] = { "black", "cyan", "magenta", "yellow" };
	char serial[32];
	snprintf(serial, sizeof(serial), "XK%06d", i);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_printf(&b, "device: {serial: %s}\nstatus: {state: idle}\n"
		      "counters: {total: {impressions: %ld}}\nsupplies:\n", serial, pages);
	for (int k = 0; k < 4; k++)
		tm_buf_printf(&b, "  - {index: %d, type: toner, colorant: %s, unit: percent,"
			      " max_capacity: 100, level: %d}\n", k + 1, colorant[k], levels[k]);
	bench_store_report(st, svc, serial, seq, at, tenant, (const char *)b.data, prog);
	tm_buf_fini(&b);
}

bool bench_store_pg(struct gw_store_options *o, char *buf, size_t n)
{
	const char *backend = getenv("TM_TEST_BACKEND");
	if (backend == NULL || strcmp(backend, "postgresql") != 0)
		return false;
	snprintf(buf, n, "host=%s user=%s dbname=postgres", getenv("TM_PG_HOST"),
		 getenv("TM_PG_USER"));
	*o = (struct gw_store_options){ .backend = "postgresql", .conninfo = buf,
					.busy_timeout_ms = 5000 };
	return true;
}

void bench_store_tenants(struct gw_store *st, const char *prog)
{
	struct tm_error err = {0};
	if (gw_registry_tenant_add(st, "provider", NULL, 1, &err) < 0 ||
	    gw_registry_tenant_add(st, "big", "provider", 1, &err) < 0 ||
	    gw_registry_tenant_add(st, "other", "provider", 1, &err) < 0)
		bench_die(prog, "tenant", &err);
}

/* Test helpers for the service tests (alerts, billing, audit, notify,
 * tenancy): build a report from a few facts, and store it the way the
 * pipeline's stage 2 does (put + gw_alerts_on_stored in one transaction).
 * Header-only (static inline) so each test file stays one file. */
#ifndef TM_TEST_SCENARIO_INGEST_H
#define TM_TEST_SCENARIO_INGEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>

#include "service/alerts.h"
#include "registry/registry.h"
#include "store/store.h"

#define SC_MAX_SUPPLIES 8

struct sc_supply {
	int index;
	const char *type;      /* NULL: unused slot */
	const char *colorant;
	long level;            /* -3 some remaining */
	long max;
};

/* What one simulated report says. Zero / NULL fields are left out. */
struct sc_report {
	const char *serial;
	long long seq;
	int64_t at;                     /* generated_at, Unix seconds */
	const char *generated_at;       /* non-NULL: verbatim instead of at (fractions) */
	long long total;                /* total impressions (< 0: no counters) */
	long long mono, color;          /* < 0: left out */
	struct sc_supply supplies[SC_MAX_SUPPLIES];
	const char *supply_part[SC_MAX_SUPPLIES];   /* part_number of supplies[i], or NULL */
	const char *conditions;         /* "[jammed, doorOpen]" or NULL */
	const char *critical_alert;     /* code of a critical alert, or NULL */
	const char *fw;                 /* controller version, or NULL */
	long long fuser_used;           /* < 0 or 0: no parts (rated 100000) */
	long long outbox_gap;           /* > 0: reported */
	const char *name, *location;    /* device name and location, or NULL (no '"' or '\\') */
	const char *trigger;            /* trigger cause (an event report), or NULL */
	const char *trigger_subject;    /* its subject ("supplies/1"), or NULL */
	const char *fingerprint;        /* the signer's, or NULL ("") */
	const char *ip, *mac;           /* device ip and mac, or NULL */
	const char *state;              /* status state without conditions, or NULL */
	int collector_devices;          /* > 0: a collector section (devices, none unreachable) */
};

static inline void sc_report_init(struct sc_report *r, const char *serial, long long seq,
				  int64_t at)
{
	memset(r, 0, sizeof(*r));
	r->serial = serial;
	r->seq = seq;
	r->at = at;
	r->total = r->mono = r->color = -1;
}

static inline void sc_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tmv;
	gmtime_r(&tt, &tmv);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}

static inline void sc_yaml(const struct sc_report *r, struct tm_buf *b)
{
	char when[32], key[96], h[GW_SHA256_HEX];
	sc_utc(r->at, when);
	if (r->generated_at != NULL)
		snprintf(when, sizeof(when), "%s", r->generated_at);
	snprintf(key, sizeof(key), "%s:%lld", r->serial, r->seq);   /* a stable id per report */
	tm_sha256_hex(key, strlen(key), h);
	tm_buf_printf(b, "schema_version: 1\nreport:\n  id: \"%.8s-%.4s-%.4s-%.4s-%.12s\"\n"
		      "  seq: %lld\n  kind: %s\n  generated_at: \"%s\"\n"
		      "  agent: telemail-agent/0.1.0\n",
		      h, h + 8, h + 12, h + 16, h + 20, r->seq, r->trigger ? "event" : "periodic", when);
	if (r->trigger != NULL) {
		tm_buf_printf(b, "  trigger: {cause: %s", r->trigger);
		if (r->trigger_subject != NULL)
			tm_buf_printf(b, ", subject: \"%s\"", r->trigger_subject);
		tm_buf_printf(b, "}\n");
	}
	if (r->outbox_gap > 0)
		tm_buf_printf(b, "  outbox_gap: %lld\n", r->outbox_gap);
	tm_buf_printf(b, "device:\n  serial: %s\n  model: \"XK-4500 MFP\"\n", r->serial);
	if (r->name != NULL)
		tm_buf_printf(b, "  name: \"%s\"\n", r->name);
	if (r->location != NULL)
		tm_buf_printf(b, "  location: \"%s\"\n", r->location);
	if (r->ip != NULL)
		tm_buf_printf(b, "  ip: \"%s\"\n", r->ip);
	if (r->mac != NULL)
		tm_buf_printf(b, "  mac: \"%s\"\n", r->mac);
	if (r->fw != NULL)
		tm_buf_printf(b, "  firmware:\n    - {component: controller, version: \"%s\"}\n", r->fw);
	if (r->conditions != NULL)
		tm_buf_printf(b, "status:\n  state: %s\n  conditions: %s\n",
			      r->state != NULL ? r->state : "idle", r->conditions);
	else if (r->state != NULL)
		tm_buf_printf(b, "status:\n  state: %s\n", r->state);
	if (r->total >= 0) {
		tm_buf_printf(b, "counters:\n  total:\n    impressions: %lld\n", r->total);
		if (r->mono >= 0)
			tm_buf_printf(b, "    impressions_monochrome: %lld\n", r->mono);
		if (r->color >= 0)
			tm_buf_printf(b, "    impressions_full_color: %lld\n", r->color);
	}
	bool any = false;
	for (int i = 0; i < SC_MAX_SUPPLIES; i++) {
		const struct sc_supply *s = &r->supplies[i];
		if (s->type == NULL)
			continue;
		if (!any)
			tm_buf_printf(b, "supplies:\n");
		any = true;
		tm_buf_printf(b, "  - {index: %d, type: %s, ", s->index, s->type);
		if (s->colorant != NULL)
			tm_buf_printf(b, "colorant: %s, ", s->colorant);
		if (r->supply_part[i] != NULL)
			tm_buf_printf(b, "part_number: \"%s\", ", r->supply_part[i]);
		tm_buf_printf(b, "unit: percent, max_capacity: %ld, level: %ld}\n", s->max, s->level);
	}
	if (r->fuser_used > 0)
		tm_buf_printf(b, "parts:\n  - {name: fuser, used: %lld, rated_life: 100000, unit: impressions}\n",
			      r->fuser_used);
	if (r->critical_alert != NULL)
		tm_buf_printf(b, "alerts:\n  - {code: %s, severity: critical, group: generalPrinter, "
			      "description: \"service call\"}\n", r->critical_alert);
	if (r->collector_devices > 0)
		tm_buf_printf(b, "collector: {devices: %d, unreachable_count: 0, unreachable: []}\n",
			      r->collector_devices);
}

/* Store one report's YAML as the pipeline does (signed by the certificate of
 * `fingerprint`, NULL: none); returns the put result. */
static inline enum gw_put_result sc_ingest_yaml(struct gw_store *st,
						const struct gw_service_config *svc,
						const struct tm_buf *y, const char *tenant,
						const char *fingerprint, int64_t received_at)
{
	struct tm_buf j;
	struct tm_error err = {0};
	struct tm_report *r = NULL;
	tm_buf_init(&j);
	cr_assert_eq(tm_report_read(y->data, y->len, NULL, &r, &err), 0, "%s: %s\n%s", err.reason,
		     err.msg, (const char *)y->data);
	cr_assert_eq(tm_report_normalize(r, &j, &err), 0, "%s", err.msg);
	char raw[GW_SHA256_HEX];
	tm_sha256_hex(y->data, y->len, raw);
	struct gw_store_record rec = {
		.report = r, .json = (const char *)j.data, .json_len = j.len, .tenant = tenant,
		.fingerprint = fingerprint != NULL ? fingerprint : "", .message_id = "",
		.received_at = received_at, .raw_sha256 = raw,
	};
	struct gw_put_info info;
	cr_assert_eq(gw_store_begin(st, &err), GW_STORE_OK, "%s", err.msg);
	/* as the pipeline: the hook's reads prepared, asked with the put */
	struct gw_alerts_prep *ap = NULL;
	cr_assert_eq(gw_alerts_prepare(st, svc, &rec, received_at, &ap, &err), GW_STORE_OK, "%s",
		     err.msg);
	rec.reads = gw_alerts_reads(ap);
	cr_assert_eq(gw_store_put(st, &rec, &info, &err), GW_STORE_OK, "%s: %s", err.reason, err.msg);
	if (info.result == GW_PUT_STORED)
		cr_assert_eq(gw_alerts_run(ap, &info, &err), GW_STORE_OK, "%s: %s", err.reason,
			     err.msg);
	gw_alerts_prep_free(ap);
	cr_assert_eq(gw_store_commit(st, &err), GW_STORE_OK, "%s", err.msg);
	tm_report_free(r);
	tm_buf_fini(&j);
	return info.result;
}

/* Store one report as the pipeline does; returns the put result. */
static inline enum gw_put_result sc_ingest(struct gw_store *st,
					   const struct gw_service_config *svc,
					   const struct sc_report *sr, const char *tenant,
					   int64_t received_at)
{
	struct tm_buf y;
	tm_buf_init(&y);
	sc_yaml(sr, &y);
	enum gw_put_result res = sc_ingest_yaml(st, svc, &y, tenant, sr->fingerprint, received_at);
	tm_buf_fini(&y);
	return res;
}

/* Enroll a device under a tenant with a made-up fingerprint. */
static inline void sc_enroll(struct gw_store *st, const char *serial, const char *tenant, int n)
{
	char fp[GW_SHA256_HEX];
	struct tm_error err = {0};
	snprintf(fp, sizeof(fp), "%064x", n);
	struct gw_enrollment e = {
		.fingerprint = fp, .role = GW_ROLE_DEVICE, .tenant = tenant, .cert_serial = serial,
		.subject = "CN=device",
	};
	cr_assert_eq(gw_registry_enroll(st, &e, 1000, &err), 0, "%s: %s", err.reason, err.msg);
}

/* Enroll a collector for serials under a tenant with a made-up fingerprint
 * (%064x of n, written to fp). */
static inline void sc_enroll_collector(struct gw_store *st, int n, const char *tenant,
				       const char *const *serials, size_t ns,
				       char fp[GW_SHA256_HEX])
{
	struct tm_error err = {0};
	snprintf(fp, GW_SHA256_HEX, "%064x", n);
	struct gw_enrollment e = {
		.fingerprint = fp, .role = GW_ROLE_COLLECTOR, .tenant = tenant,
		.subject = "CN=collector", .serials = serials, .n_serials = ns,
	};
	cr_assert_eq(gw_registry_enroll(st, &e, 1000, &err), 0, "%s: %s", err.reason, err.msg);
}

/* The active (or, with any = true, newest) alert of a kind and subject. */
static inline bool sc_alert(struct gw_store *st, const char *serial, const char *kind,
			    const char *subject, struct gw_alert_row *out)
{
	struct gw_alert_row *rows = NULL;
	size_t n = 0;
	struct tm_error err = {0};
	bool found = false;
	cr_assert_eq(gw_alerts_list(st, false, &rows, &n, &err), GW_STORE_OK, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].serial, serial) == 0 && strcmp(rows[i].kind, kind) == 0 &&
		    (subject == NULL || strcmp(rows[i].subject, subject) == 0)) {
			*out = rows[i];   /* the newest one wins */
			found = true;
		}
	free(rows);
	return found;
}

static inline size_t sc_count_alerts(struct gw_store *st, const char *serial, const char *kind)
{
	struct gw_alert_row *rows = NULL;
	size_t n = 0, k = 0;
	struct tm_error err = {0};
	cr_assert_eq(gw_alerts_list(st, false, &rows, &n, &err), GW_STORE_OK, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		if ((serial == NULL || strcmp(rows[i].serial, serial) == 0) &&
		    (kind == NULL || strcmp(rows[i].kind, kind) == 0))
			k++;
	free(rows);
	return k;
}

#endif

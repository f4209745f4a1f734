/* telemail-mailgw — the silence check: two levels, the collector and the
 * device (see alerts.h, gw_alerts_check_silence). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>
#include <telemail/time.h>

#include "config/config_service.h"
#include "service/alerts.h"
#include "service/alerts_private.h"

struct dev_rows {
	struct gw_device_row *rows;
	size_t n, cap;
};

static int collect_device(void *ctx, const struct gw_device_row *d)
{
	struct dev_rows *l = ctx;
	struct gw_device_row *p = tm_array_grow(l->rows, &l->cap, l->n, sizeof(*p), 64, SIZE_MAX);
	if (p == NULL)
		return 1;   /* stops the walk: out of memory */
	l->rows = p;
	l->rows[l->n++] = *d;
	return 0;
}

/* The collectors' bindings that have a heartbeat (a collector section
 * received, certificate not revoked), by fingerprint as listed. */
struct bind_rows {
	struct gw_collector_binding_row *rows;
	size_t n, cap;
};

static int collect_binding(void *ctx, const struct gw_collector_binding_row *b)
{
	struct bind_rows *l = ctx;
	if (b->heartbeat == 0 || b->revoked_at != 0)
		return 0;   /* no heartbeat to judge it by: its devices stand alone */
	struct gw_collector_binding_row *p = tm_array_grow(l->rows, &l->cap, l->n, sizeof(*p), 64,
							   SIZE_MAX);
	if (p == NULL)
		return 1;
	l->rows = p;
	l->rows[l->n++] = *b;
	return 0;
}

static int by_serial(const void *a, const void *b)
{
	const struct gw_collector_binding_row *x = a, *y = b;
	return strcmp(x->serial, y->serial);
}

static bool collector_silent(const struct gw_collector_binding_row *b, int64_t now,
			     int64_t silence)
{
	return now - b->heartbeat > silence;
}

/* Is the device behind collectors that are all silent? (bindings sorted by
 * serial) */
static bool folded(const struct bind_rows *by_dev, const char *serial, int64_t now,
		   int64_t silence)
{
	if (by_dev->n == 0)
		return false;   /* (bsearch wants an array, even of none) */
	struct gw_collector_binding_row key;
	snprintf(key.serial, sizeof(key.serial), "%s", serial);
	const struct gw_collector_binding_row *hit = bsearch(&key, by_dev->rows, by_dev->n,
							     sizeof(key), by_serial);
	if (hit == NULL)
		return false;
	const struct gw_collector_binding_row *lo = hit, *end = by_dev->rows + by_dev->n;
	while (lo > by_dev->rows && strcmp(lo[-1].serial, serial) == 0)
		lo--;
	for (; lo < end && strcmp(lo->serial, serial) == 0; lo++)
		if (!collector_silent(lo, now, silence))
			return false;   /* a collector still reports: the device is its own case */
	return true;
}

static int check_device(struct gw_store *st, const struct gw_service_config *svc,
			const struct gw_device_row *d, int64_t now, struct gw_silence_counts *c,
			struct tm_error *err)
{
	char detail[GW_ALERT_DETAIL_MAX], when[32];
	const struct gw_alerts_target t = {
		.serial = d->serial, .tenant = d->tenant, .seq = d->last_seq, .at = now, .now = now,
	};
	int64_t silence = svc->silence;
	if (d->last_seq == 0) {
		if (now - d->enrolled_at <= silence)
			return GW_STORE_OK;
		tm_time_format(d->enrolled_at, when, sizeof(when));
		snprintf(detail, sizeof(detail), "enrolled %s, never reported", when);
		c->never++;
		return gw_alerts_set(st, svc, &t, "device_never_reported", "device", "info", detail,
				     err);
	}
	if (now - d->last_seen > silence) {
		tm_time_format(d->last_seen, when, sizeof(when));
		snprintf(detail, sizeof(detail), "last report generated %s (%" PRId64 " days ago)", when,
			 (now - d->last_seen) / 86400);
		c->silent++;
		return gw_alerts_set(st, svc, &t, "device_silent", "device", "warning", detail, err);
	}
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_store_alert_find_active(st, d->serial, "device_silent", "device", &a, &found,
					    err);
	if (rc == GW_STORE_OK && found) {
		c->resolved++;
		rc = gw_alerts_set(st, svc, &t, "device_silent", "device", NULL, NULL, err);
	}
	return rc;
}

/* One collector: its bindings b[0..n) (the same fingerprint). */
static int check_collector(struct gw_store *st, const struct gw_service_config *svc,
			   const struct gw_collector_binding_row *b, size_t n, int64_t now,
			   struct gw_silence_counts *c, struct tm_error *err)
{
	const struct gw_alerts_target t = {
		.serial = GW_ALERTS_COLLECTOR, .tenant = b->tenant, .at = now, .now = now,
	};
	if (collector_silent(b, now, svc->silence)) {
		char detail[GW_ALERT_DETAIL_MAX], when[32];
		tm_time_format(b->heartbeat, when, sizeof(when));
		snprintf(detail, sizeof(detail),
			 "collector %.16s: last collector report generated %s (%" PRId64 " days ago);"
			 " its %zu devices are not alerted one by one while it is silent", b->fingerprint,
			 when, (now - b->heartbeat) / 86400, n);
		c->collectors_silent++;
		return gw_alerts_set(st, svc, &t, "collector_silent", b->fingerprint, "warning", detail,
				     err);
	}
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_store_alert_find_active(st, GW_ALERTS_COLLECTOR, "collector_silent",
					    b->fingerprint, &a, &found, err);
	if (rc == GW_STORE_OK && found) {
		c->collectors_resolved++;
		rc = gw_alerts_set(st, svc, &t, "collector_silent", b->fingerprint, NULL, NULL, err);
	}
	return rc;
}

int gw_alerts_check_silence(struct gw_store *st, const struct gw_service_config *svc,
			    int64_t now, struct gw_silence_counts *counts, struct tm_error *err)
{
	struct gw_service_config defaults;
	if (svc == NULL) {
		gw_service_config_defaults(&defaults);
		svc = &defaults;
	}
	memset(counts, 0, sizeof(*counts));
	bool got = false;   /* one gateway at a time (store.h gw_store_try_singleton) */
	int rc = gw_store_try_singleton(st, "silence", &got, err);
	if (rc != GW_STORE_OK || !got) {
		counts->skipped = rc == GW_STORE_OK;
		return rc;
	}
	struct dev_rows l = {0};
	struct bind_rows by_fp = {0}, by_dev = {0};
	rc = gw_store_device_list(st, collect_device, &l, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_collector_bindings(st, collect_binding, &by_fp, err);
	if (rc == GW_STORE_OK && by_fp.n > 0) {
		by_dev.rows = malloc(by_fp.n * sizeof(*by_dev.rows));
		if (by_dev.rows == NULL) {
			rc = 1;
		} else {
			memcpy(by_dev.rows, by_fp.rows, by_fp.n * sizeof(*by_dev.rows));
			by_dev.n = by_fp.n;
			qsort(by_dev.rows, by_dev.n, sizeof(*by_dev.rows), by_serial);
		}
	}
	if (rc != GW_STORE_OK) {
		if (rc > 0)
			rc = tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		goto out;
	for (size_t i = 0; i < by_fp.n && rc == GW_STORE_OK; ) {
		size_t j = i;
		while (j < by_fp.n && strcmp(by_fp.rows[j].fingerprint, by_fp.rows[i].fingerprint) == 0)
			j++;
		rc = check_collector(st, svc, &by_fp.rows[i], j - i, now, counts, err);
		i = j;
	}
	for (size_t i = 0; i < l.n && rc == GW_STORE_OK; i++) {
		if (folded(&by_dev, l.rows[i].serial, now, svc->silence)) {
			counts->folded++;
			continue;   /* its collector's alert speaks for it */
		}
		rc = check_device(st, svc, &l.rows[i], now, counts, err);
	}
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
out:
	free(l.rows);
	free(by_fp.rows);
	free(by_dev.rows);
	return rc;
}

int gw_alerts_collector_heard(struct gw_store *st, const struct gw_service_config *svc,
			      const char *fingerprint, const char *tenant, int64_t at, int64_t now,
			      struct tm_error *err)
{
	struct gw_service_config defaults;
	if (svc == NULL) {
		gw_service_config_defaults(&defaults);
		svc = &defaults;
	}
	if (fingerprint == NULL || fingerprint[0] == '\0' || now - at > svc->silence)
		return GW_STORE_OK;   /* a late report proves nothing about now */
	struct gw_alert_row a;
	bool found = false;
	int rc = gw_store_alert_find_active(st, GW_ALERTS_COLLECTOR, "collector_silent", fingerprint,
					    &a, &found, err);
	if (rc != GW_STORE_OK || !found)
		return rc;
	const struct gw_alerts_target t = {
		.serial = GW_ALERTS_COLLECTOR, .tenant = tenant, .at = at, .now = now,
	};
	return gw_alerts_set(st, svc, &t, "collector_silent", fingerprint, NULL, NULL, err);
}

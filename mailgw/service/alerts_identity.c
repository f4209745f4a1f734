/* telemail-mailgw — one serial, two signers: the identity_conflict alert
 * (see alerts.h, gw_alerts_identity_on_stored).
 *
 * Per device and signer certificate a mark "cert:<fingerprint>" keeps the
 * span of report time the certificate signed for the serial (ival: the
 * earliest generated_at, tval: the latest, in decimal seconds). A renewed
 * certificate takes over where the old one stopped: the spans follow each
 * other, at most touching. Two devices with one serial (a clone, a swapped
 * board reporting the old serial, a copied key) interleave: their spans
 * overlap, whatever order the mail arrives in. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "service/alerts.h"
#include "service/alerts_private.h"

#define CERT_MARK "cert:"
#define SIGNERS_MAX 16   /* signers of one serial compared; more are not read */

struct span {
	char fingerprint[GW_SHA256_HEX];
	int64_t first, last;
};

struct spans {
	struct span s[SIGNERS_MAX];
	size_t n;
};

static int collect_span(void *ctx, const struct gw_mark_entry *m)
{
	struct spans *l = ctx;
	size_t pre = strlen(CERT_MARK);
	if (strncmp(m->key, CERT_MARK, pre) != 0 || !m->m.has_ival || l->n == SIGNERS_MAX)
		return 0;
	struct span *sp = &l->s[l->n];
	if (!gw_store_is_sha256_hex(m->key + pre))
		return 0;
	memcpy(sp->fingerprint, m->key + pre, GW_SHA256_HEX);
	sp->first = m->m.ival;
	char *end = NULL;
	long long last = strtoll(m->m.tval, &end, 10);
	if (end == m->m.tval || *end != '\0')
		return 0;   /* not a span this file wrote */
	sp->last = last;
	l->n++;
	return 0;
}

/* Do the spans share more than an end point? */
static bool overlap(const struct span *a, const struct span *b)
{
	return !(a->last <= b->first || b->last <= a->first);
}

int gw_alerts_identity_on_stored(struct gw_store *st, const struct gw_service_config *svc,
				 const struct gw_store_record *rec, struct gw_alerts_device *dev,
				 int64_t now, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	if (rec->fingerprint == NULL || !gw_store_is_sha256_hex(rec->fingerprint))
		return GW_STORE_OK;   /* no signer to tell apart (a test's record) */
	int64_t at;
	if (gw_store_parse_utc(r->generated_at, "report/generated_at", &at, err) < 0)
		return GW_STORE_ERROR;
	struct spans l = {0};
	int rc = dev != NULL ? gw_alerts_device_mark_walk(dev, collect_span, &l, err)
			     : gw_store_mark_list(st, r->serial, collect_span, &l, err);
	if (rc != GW_STORE_OK)
		return rc < 0 ? rc : GW_STORE_OK;
	struct span me = { .first = at, .last = at };
	memcpy(me.fingerprint, rec->fingerprint, GW_SHA256_HEX);
	const struct span *mine = NULL, *other = NULL;
	for (size_t i = 0; i < l.n && mine == NULL; i++)
		if (strcmp(l.s[i].fingerprint, me.fingerprint) == 0)
			mine = &l.s[i];
	if (mine != NULL) {
		me.first = mine->first < me.first ? mine->first : me.first;
		me.last = mine->last > me.last ? mine->last : me.last;
	}
	for (size_t i = 0; i < l.n && other == NULL; i++)
		if (&l.s[i] != mine && overlap(&me, &l.s[i]))
			other = &l.s[i];
	/* the span grows when it must: a report inside it changes nothing */
	bool grew = mine == NULL || mine->first != me.first || mine->last != me.last;
	if (grew) {
		char key[GW_MARK_KEY_MAX];
		struct gw_mark_row m = { .seq = r->seq, .has_ival = true, .ival = me.first };
		snprintf(key, sizeof(key), CERT_MARK "%s", me.fingerprint);
		snprintf(m.tval, sizeof(m.tval), "%" PRId64, me.last);
		rc = dev != NULL ? gw_alerts_device_mark_set(dev, key, &m, err)
				 : gw_store_mark_set(st, r->serial, key, &m, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	if (other == NULL)
		return GW_STORE_OK;
	char detail[GW_ALERT_DETAIL_MAX];
	snprintf(detail, sizeof(detail),
		 "two certificates sign for this serial at once: %s and %s", other->fingerprint,
		 me.fingerprint);
	const struct gw_alerts_target t = {
		.serial = r->serial, .tenant = rec->tenant, .report_id = r->id, .seq = r->seq,
		.at = at, .now = now,
	};
	rc = gw_alerts_set(st, svc, &t, "identity_conflict", "certificates", "critical", detail,
			   err);
	/* raised past dev's held alerts (rare): write its marks, hold afresh */
	if (rc == GW_STORE_OK && dev != NULL)
		rc = gw_alerts_device_flush(dev, err);
	if (rc == GW_STORE_OK && dev != NULL)
		rc = gw_alerts_device_load(dev, err);
	return rc;
}

/* telemail-mailgw — internal to the alerts files (alerts.c, alerts_raise.c,
 * alerts_silence.c, alerts_identity.c): what one evaluation has at hand,
 * and the one place an alert is raised or resolved (alerts_raise.c), so
 * that the files above it call down into it and never into each other. */
#ifndef GW_ALERTS_PRIVATE_H
#define GW_ALERTS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "service/alerts_device.h"

struct gw_service_config;
struct tm_error;
struct tm_report;

/* What evaluating one report needs at hand. */
struct gw_alerts_eval {
	struct gw_store *st;
	struct gw_alerts_device *dev;   /* the device's marks and active alerts */
	const struct gw_service_config *svc;
	const char *serial;
	const char *tenant;
	const char *report_id;
	const struct tm_report *report;   /* the report evaluated (NULL: the silence check) */
	int64_t seq;
	int64_t at;    /* the report's generated_at (or the check's now) */
	int64_t now;   /* the gateway clock (queue times) */
	struct tm_error *err;
};

/* snprintf(dst + len, cap - len, "%.*s", max, src) without the formatter:
 * at most max bytes of src, cut to what fits; the new length. len < cap. */
static inline size_t text_cat(char *dst, size_t cap, size_t len, const char *src, size_t max)
{
	size_t n = strnlen(src, max);
	if (n > cap - 1 - len)
		n = cap - 1 - len;
	memcpy(dst + len, src, n);
	dst[len + n] = '\0';
	return len + n;
}

#define TEXT_COPY(dst, src) text_cat((dst), sizeof(dst), 0, (src), SIZE_MAX)

/* Open an alert, or count a repeat of the active one; notifications and the
 * forwarding outbox follow. */
int gw_alerts_eval_raise(const struct gw_alerts_eval *e, const char *kind, const char *subject,
			 const char *severity, const char *detail);
/* Resolve the active alert of this kind and subject, if there is one. */
int gw_alerts_eval_resolve(const struct gw_alerts_eval *e, const char *kind, const char *subject);

#endif

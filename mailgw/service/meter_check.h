/* telemail-mailgw — meter validation as reports arrive (issue 18).
 *
 * For each counter of a stored report (late ones too), the step from the
 * reading just before it in report time and the step to the reading just
 * after it are checked with billing's rules (gw_billing_check_step:
 * backwards, too_fast). A step that breaks one raises the alert
 * meter_suspect [service/name] (warning) naming the reading
 * (SERIAL:SEQ:COUNTER) and the rule; `billing accept|exclude READING`
 * resolves it (gw_meter_check_settled). Billing flags the same reading
 * `suspect` until then. */
#ifndef GW_METER_CHECK_H
#define GW_METER_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct gw_service_config;
struct tm_error;

/* The pipeline's step (gw_alerts_on_stored), inside the batch
 * transaction, in steps so that the caller asks the store for the check's
 * readings together with its other reads (gw_store_report_reads: one round
 * trip on a server): prepare (*out NULL: a report without counters, nothing
 * to check), answer the asks (gw_meter_check_asks; they point into the
 * prep), run, free. */
struct gw_meter_prep;
int gw_meter_check_prepare(struct gw_store *st, const struct gw_service_config *svc,
			   const struct gw_store_record *rec, int64_t now,
			   struct gw_meter_prep **out, struct tm_error *err);
const struct gw_meter_ask *gw_meter_check_asks(const struct gw_meter_prep *p, size_t *n);
int gw_meter_check_run(struct gw_meter_prep *p, struct tm_error *err);
void gw_meter_check_free(struct gw_meter_prep *p);

/* An operator settled a reading of `counter` ("total/impressions") of
 * serial: resolve its meter_suspect alert, if one is active. */
int gw_meter_check_settled(struct gw_store *st, const struct gw_service_config *svc,
			   const char *serial, const char *counter, int64_t now,
			   struct tm_error *err);

/* Settle reading "SERIAL:SEQ:COUNTER" (exclude: bill without it; else
 * accept it as it is), audited (meter.accept / meter.exclude) in one
 * transaction, resolving the reading's meter_suspect alert (meter_check.h).
 * billing.bad_reading for an id that is no stored reading. */
int gw_meter_decide(struct gw_store *st, const struct gw_service_config *svc,
		    const char *reading, bool exclude, const char *actor, int64_t now,
		    struct tm_error *err);

#endif

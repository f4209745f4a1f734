/* telemail-mailgw — the store front: the fleet page's and the metrics' reads (issue 19) (see store.h). Each
 * call is passed to the back end; a back end that has not got the op yet
 * answers store.unsupported. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/store.h"
#include "store/store_private.h"

/* ---- web reads (issue 19) ---- */

int gw_store_web_devices(struct gw_store *st, const char *serial, gw_store_web_device_cb cb,
			 void *ctx, struct tm_error *err)
{
	if (st->ops->web_devices == NULL)
		return gw_store_unsupported(st, "web_devices", err);
	return st->ops->web_devices(st->be, serial, cb, ctx, err);
}

int gw_store_web_supplies(struct gw_store *st, const char *serial, gw_store_supply_cb cb,
			  void *ctx, struct tm_error *err)
{
	if (st->ops->web_supplies == NULL)
		return gw_store_unsupported(st, "web_supplies", err);
	return st->ops->web_supplies(st->be, serial, cb, ctx, err);
}

int gw_store_web_supply_history(struct gw_store *st, const char *serial, int64_t since,
				gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	if (st->ops->web_supply_history == NULL)
		return gw_store_unsupported(st, "web_supply_history", err);
	return st->ops->web_supply_history(st->be, serial, since, cb, ctx, err);
}

int gw_store_web_counter_history(struct gw_store *st, const char *serial, int64_t since,
				 gw_store_web_point_cb cb, void *ctx, struct tm_error *err)
{
	if (st->ops->web_counter_history == NULL)
		return gw_store_unsupported(st, "web_counter_history", err);
	return st->ops->web_counter_history(st->be, serial, since, cb, ctx, err);
}

int gw_store_web_reports(struct gw_store *st, const char *serial, int64_t limit,
			 gw_store_web_report_cb cb, void *ctx, struct tm_error *err)
{
	if (st->ops->web_reports == NULL)
		return gw_store_unsupported(st, "web_reports", err);
	return st->ops->web_reports(st->be, serial, limit, cb, ctx, err);
}

int gw_store_web_firmware(struct gw_store *st, const char *serial, gw_store_web_firmware_cb cb,
			  void *ctx, struct tm_error *err)
{
	if (st->ops->web_firmware == NULL)
		return gw_store_unsupported(st, "web_firmware", err);
	return st->ops->web_firmware(st->be, serial, cb, ctx, err);
}

int gw_store_web_counters(struct gw_store *st, const char *serial, gw_store_web_point_cb cb,
			  void *ctx, struct tm_error *err)
{
	if (st->ops->web_counters == NULL)
		return gw_store_unsupported(st, "web_counters", err);
	return st->ops->web_counters(st->be, serial, cb, ctx, err);
}

int gw_store_web_outcomes(struct gw_store *st, gw_store_web_outcome_cb cb, void *ctx,
			  struct tm_error *err)
{
	if (st->ops->web_outcomes == NULL)
		return gw_store_unsupported(st, "web_outcomes", err);
	return st->ops->web_outcomes(st->be, cb, ctx, err);
}


/* telemail-mailgw — the PostgreSQL back end: what the service side reads of
 * a stored report, at once (gw_store_report_reads, store.h): the device's
 * marks and open alerts, the supplies' rows before the report and the meter
 * check's neighbours go into one pipe, one round trip, where asked one after
 * the other they were three (issue 16: a message's round trips, each a
 * wake-up of the gateway and of the server); the put sends them into its
 * last pipe when the record carries them (store_pg_put.c). The statements
 * are those of their own calls (store_pg_service.c, store_pg_supply.c,
 * store_pg_meter.c), sent and read there. */
#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

int gw_pg_report_reads_send(struct gw_pg_conn *c, const char *serial,
			    const struct gw_report_reads *rr, struct gw_pg_reads_slots *sl,
			    struct tm_error *err)
{
	int rc = GW_STORE_OK;
	sl->dev[0] = sl->dev[1] = sl->sup = -1;
	if (rr->device)
		rc = gw_pg_device_load_send(c, serial, sl->dev, err);
	if (rc == GW_STORE_OK && rr->n_supplies > 0)
		rc = gw_pg_supply_before_send(c, serial, rr->n_supplies, rr->idx, rr->at, rr->at_nsec,
					      rr->seq, &sl->sup, err);
	for (size_t a = 0; a < rr->n_asks; a++) {
		sl->ask[a] = -1;
		if (rc == GW_STORE_OK && rr->asks[a].n > 0)
			rc = gw_pg_meter_adjacent_send(c, serial, &rr->asks[a], &sl->ask[a], err);
	}
	return rc;
}

int gw_pg_report_reads_take(struct gw_pg *s, const char *serial, struct gw_report_reads *rr,
			    const struct gw_pg_reads_slots *sl, PGresult *const *res,
			    struct tm_error *err)
{
	if (rr->device)
		gw_pg_device_load_take(res[sl->dev[0]], res[sl->dev[1]], rr->mark_cb, rr->alert_cb,
				       rr->ctx, rr->stop);
	if (rr->n_supplies > 0)
		gw_pg_supply_before_take(res[sl->sup], rr->n_supplies, rr->before, rr->found);
	int rc = GW_STORE_OK;
	for (size_t a = 0; rc == GW_STORE_OK && a < rr->n_asks; a++)
		if (sl->ask[a] >= 0)
			rc = gw_pg_meter_adjacent_take(s, serial, &rr->asks[a], res[sl->ask[a]], err);
	return rc;
}

int gw_pg_report_reads(void *state, const char *serial, struct gw_report_reads *rr,
		       struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_conn *c = &s->c;
	struct gw_pg_pipe pp;
	int rc = gw_pg_pipe_begin(c, &pp, err);
	if (rc != GW_STORE_OK)
		return rc;
	struct gw_pg_reads_slots sl;
	rc = gw_pg_report_reads_send(c, serial, rr, &sl, err);
	struct tm_error serr = {0};
	int src = gw_pg_pipe_sync(c, rc == GW_STORE_OK ? err : &serr);
	if (rc == GW_STORE_OK)
		rc = src;
	if (rc == GW_STORE_OK)
		rc = gw_pg_report_reads_take(s, serial, rr, &sl, pp.res, err);
	gw_pg_pipe_clear(&pp);
	return rc;
}

/* telemail-mailgw — the notification queue's door for what raises alerts.
 *
 * gw_notify_enqueue queues the transition `event` ("opened" / "resolved") of
 * alert a for every configured channel (none configured: nothing), for
 * notify.c to deliver. Inside the caller's transaction: the queue entry is
 * written with the alert row or not at all. */
#ifndef GW_NOTIFY_QUEUE_H
#define GW_NOTIFY_QUEUE_H

#include <stdint.h>

struct gw_alert_row;
struct gw_service_config;
struct gw_store;
struct tm_error;

int gw_notify_enqueue(struct gw_store *st, const struct gw_service_config *svc,
		      const struct gw_alert_row *a, const char *event, int64_t now,
		      struct tm_error *err);

#endif

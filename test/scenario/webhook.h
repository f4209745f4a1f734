/* Test helpers: the local webhook receiver (test/notify/receiver.py) as
 * the notification tests start and read it. Header-only (static inline). */
#ifndef TM_TEST_SCENARIO_WEBHOOK_H
#define TM_TEST_SCENARIO_WEBHOOK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <telemail/buf.h>

#include "common.h"

#define SC_WEBHOOK_IDS 64   /* delivery ids counted: 1..63 */

/* Start the receiver keeping its requests in dir; its URL into url. */
static inline void sc_webhook_start(const char *dir, char *url, size_t cap)
{
	char *rx = tm_test_src("notify/receiver.py");
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' start '%s' 0", rx, dir), 0);
	free(rx);
	char p[800];
	snprintf(p, sizeof(p), "%s/port", dir);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(p, &b);
	snprintf(url, cap, "http://127.0.0.1:%d/telemail", atoi((char *)b.data));
	tm_buf_fini(&b);
}

static inline void sc_webhook_stop(const char *dir)
{
	char *rx = tm_test_src("notify/receiver.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", rx, dir);
	free(rx);
}

/* The requests the receiver got, and per_id[k]: how many carried the
 * delivery id k (X-Telemail-Delivery). */
static inline size_t sc_webhook_deliveries(const char *dir, int per_id[SC_WEBHOOK_IDS])
{
	memset(per_id, 0, SC_WEBHOOK_IDS * sizeof(*per_id));
	size_t n = 0;
	for (int i = 1; i < 10000; i++) {
		char p[800];
		snprintf(p, sizeof(p), "%s/req-%04d.json", dir, i);
		json_t *j = json_load_file(p, 0, NULL);
		if (j == NULL)
			break;
		const char *id = json_string_value(
			json_object_get(json_object_get(j, "headers"), "x-telemail-delivery"));
		cr_assert_not_null(id, "%s: no delivery id", p);
		int k = atoi(id);
		cr_assert(k > 0 && k < SC_WEBHOOK_IDS, "delivery id %s", id);
		per_id[k]++;
		n++;
		json_decref(j);
	}
	return n;
}

#endif

/* telemail-mailgw — the SQLite back end's meter readings, as billing
 * (service/billing.c) and `meters` read them: every reading up to a time,
 * the latest, and a billing period's (meter_range, issue 16). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/array.h>
#include <telemail/error.h>

#include "store/sqlite/store_sqlite.h"

enum meter_stmt {
	ME_ALL,
	ME_LATEST,
	ME_DEVICES,
	ME_LAST,
	ME_OPEN,
	ME_PERIOD,
	ME_COUNT_
};

_Static_assert(ME_COUNT_ <= GW_SQ_METER_MAX, "grow GW_SQ_METER_MAX");

#define AT_OR_BEFORE(t) \
	" (r.generated_unix < " t " OR (r.generated_unix = " t " AND r.generated_nsec = 0))"
#define METER_COLS \
	"SELECT r.serial, r.tenant, r.seq, r.generated_unix, c.service, c.name, c.value," \
	" r.generated_nsec FROM reports r"

/* meter_range (gw_sq_meter_range) goes device by device: the counters of
 * its last report at or before since (?2); its readings in the period
 * (since, until] (?2, ?3) by the report-time index (serial,
 * generated_unix, generated_nsec, seq) in time order, a report's counters
 * by their key: no sort (the index's columns to the end, tenant and the
 * rowid r.id, make its order a total one, which SQLite needs to take a
 * report's counters in key order without sorting them; the index alone
 * answers, schema v12); and for each counter met, its last reading at or
 * before since that an operator did not exclude (one index seek from the
 * newest down). The devices' walk replaced one statement that sorted the
 * whole period by counter (issue 16). */
static const char *const me_sql[ME_COUNT_] = {
	[ME_ALL] = METER_COLS " JOIN counters c ON c.report = r.id"
		" WHERE" AT_OR_BEFORE("?1")
		" ORDER BY r.serial, c.service, c.name, r.generated_unix, r.generated_nsec, r.seq",
	[ME_LATEST] = METER_COLS " JOIN devices d ON r.serial = d.serial AND r.seq = d.last_seq"
		" JOIN counters c ON c.report = r.id ORDER BY r.serial, c.service, c.name",
	[ME_DEVICES] = "SELECT serial FROM devices ORDER BY serial",
	[ME_LAST] =
		"SELECT c.service, c.name FROM counters c WHERE c.report = (SELECT r.id FROM reports r"
		" WHERE r.serial = ?1 AND" AT_OR_BEFORE("?2")
		" ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1)"
		" ORDER BY c.service, c.name",
	[ME_OPEN] = METER_COLS " CROSS JOIN counters c WHERE r.serial = ?1 AND" AT_OR_BEFORE("?2")
		" AND c.report = r.id AND c.service = ?3 AND c.name = ?4"
		" AND NOT EXISTS (SELECT 1 FROM meter_decisions m WHERE m.serial = r.serial"
		" AND m.seq = r.seq AND m.counter = c.service || '/' || c.name"
		" AND m.decision = 'exclude')"
		" ORDER BY r.generated_unix DESC, r.generated_nsec DESC, r.seq DESC LIMIT 1",
	[ME_PERIOD] = METER_COLS " CROSS JOIN counters c WHERE r.serial = ?1"
		" AND (r.generated_unix > ?2 OR (r.generated_unix = ?2 AND r.generated_nsec > 0))"
		" AND" AT_OR_BEFORE("?3") " AND c.report = r.id"
		" ORDER BY r.generated_unix, r.generated_nsec, r.seq, r.tenant, r.id, c.service, c.name",
};

static sqlite3_stmt *stmt(struct gw_sq *q, enum meter_stmt which, struct tm_error *err)
{
	return gw_sq_cached(q, &q->meter[which], me_sql[which], err);
}

void gw_sq_meter_row(sqlite3_stmt *s, struct gw_meter_row *m)
{
	memset(m, 0, sizeof(*m));
	gw_sq_col_text(s, 0, m->serial, sizeof(m->serial));
	gw_sq_col_text(s, 1, m->tenant, sizeof(m->tenant));
	m->seq = sqlite3_column_int64(s, 2);
	m->at = sqlite3_column_int64(s, 3);
	gw_sq_col_text(s, 4, m->service, sizeof(m->service));
	gw_sq_col_text(s, 5, m->name, sizeof(m->name));
	m->value = sqlite3_column_int64(s, 6);
	m->at_nsec = (int32_t)sqlite3_column_int64(s, 7);
}

int gw_sq_meter_list(void *state, bool latest, int64_t until, gw_store_meter_cb cb, void *ctx,
		     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, latest ? ME_LATEST : ME_ALL, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	if (!latest)
		gw_sq_bind_int(s, 1, until);
	WALK(q, s, struct gw_meter_row, gw_sq_meter_row, "list meter readings");
}

/* A counter of the device being walked. */
struct counter_name {
	char service[16];
	char name[GW_NAME_MAX + 1];
};

/* One device's walk: the counters given their opening so far. */
struct range_walk {
	struct gw_sq *q;
	const char *serial;
	int64_t since;
	gw_store_meter_cb cb;
	void *ctx;
	struct counter_name *met;
	size_t n, cap;
	size_t next;   /* where the counter after the last one met is, likely */
};

/* Counter service/name met for the first time in this device: its last
 * reading at or before since (not excluded), when there is one, to the
 * callback. 0, the callback's stop, or a failure. */
static int meet(struct range_walk *w, const char *service, const char *name, struct tm_error *err)
{
	/* a device's reports list the same counters in the same order: the
	 * one after the last is tried first */
	for (size_t k = 0; k < w->n; k++) {
		size_t i = (w->next + k) % w->n;
		if (strcmp(w->met[i].name, name) == 0 && strcmp(w->met[i].service, service) == 0) {
			w->next = i + 1;
			return 0;
		}
	}
	struct counter_name *m = tm_array_grow(w->met, &w->cap, w->n, sizeof(*m), 16, SIZE_MAX);
	if (m == NULL)
		return tm_error_set(err, "internal.nomem", "meter readings: out of memory");
	w->met = m;
	snprintf(m[w->n].service, sizeof(m[w->n].service), "%s", service);
	snprintf(m[w->n].name, sizeof(m[w->n].name), "%s", name);
	w->n++;
	w->next = w->n;
	struct gw_sq *q = w->q;
	sqlite3_stmt *s = stmt(q, ME_OPEN, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, w->serial);
	gw_sq_bind_int(s, 2, w->since);
	gw_sq_bind_text(s, 3, service);
	gw_sq_bind_text(s, 4, name);
	gw_store_meter_cb cb = w->cb;
	void *ctx = w->ctx;
	WALK(q, s, struct gw_meter_row, gw_sq_meter_row, "list meter readings");
}

/* Step s to its end: each row to meet (names) or to meet and the callback
 * (readings). */
static int walk_rows(struct range_walk *w, sqlite3_stmt *s, bool readings, struct tm_error *err)
{
	int rc = GW_STORE_OK, src;
	while (rc == GW_STORE_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
		struct gw_meter_row m;
		if (readings) {
			gw_sq_meter_row(s, &m);
		} else {
			gw_sq_col_text(s, 0, m.service, sizeof(m.service));
			gw_sq_col_text(s, 1, m.name, sizeof(m.name));
		}
		rc = meet(w, m.service, m.name, err);
		if (rc == GW_STORE_OK && readings)
			rc = w->cb(w->ctx, &m);
	}
	sqlite3_reset(s);
	if (rc == GW_STORE_OK && src != SQLITE_DONE)
		return gw_sq_fail(w->q, src, "list meter readings", err);
	return rc;
}

int gw_sq_meter_range(void *state, int64_t since, int64_t until, gw_store_meter_cb cb, void *ctx,
		      struct tm_error *err)
{
	struct range_walk w = { .q = state, .since = since, .cb = cb, .ctx = ctx };
	sqlite3_stmt *d = stmt(w.q, ME_DEVICES, err);
	if (d == NULL)
		return GW_STORE_ERROR;
	int rc = GW_STORE_OK, src;
	while (rc == GW_STORE_OK && (src = sqlite3_step(d)) == SQLITE_ROW) {
		char serial[GW_NAME_MAX + 1];
		gw_sq_col_text(d, 0, serial, sizeof(serial));
		w.serial = serial;
		w.n = w.next = 0;
		/* the openings of its last report's counters, then its readings
		 * in the period, a counter met there first preceded by its opening */
		sqlite3_stmt *s = stmt(w.q, ME_LAST, err);
		if (s == NULL) {
			rc = GW_STORE_ERROR;
			break;
		}
		gw_sq_bind_text(s, 1, serial);
		gw_sq_bind_int(s, 2, since);
		rc = walk_rows(&w, s, false, err);
		if (rc == GW_STORE_OK && (s = stmt(w.q, ME_PERIOD, err)) == NULL)
			rc = GW_STORE_ERROR;
		if (rc == GW_STORE_OK) {
			gw_sq_bind_text(s, 1, serial);
			gw_sq_bind_int(s, 2, since);
			gw_sq_bind_int(s, 3, until);
			rc = walk_rows(&w, s, true, err);
		}
	}
	sqlite3_reset(d);
	if (rc == GW_STORE_OK && src != SQLITE_DONE)
		rc = gw_sq_fail(w.q, src, "list meter readings", err);
	free(w.met);
	return rc;
}

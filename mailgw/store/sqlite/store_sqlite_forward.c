/* telemail-mailgw — the SQLite back end: forwarding's transactional outbox
 * (issue 17; the contract is in store.h, the logic in mailgw/forward/).
 *
 * fwd_event  one row per event, written in the record's own transaction
 * fwd_cursor per endpoint, the last event its fan-out has read
 * fwd_item   per endpoint and event (and kind), what is still to deliver or
 *            was given up ('dead', the reply kept); a claimed batch shares
 *            `batch` (the Idempotency-Key) and a lease (owner, until)
 * fwd_stat   per endpoint, items sent and failed attempts, ever
 *
 * A claim is one statement that picks the oldest due items of devices with
 * nothing in flight, then marks them; on PostgreSQL the same is a
 * `SELECT … FOR UPDATE SKIP LOCKED` under the endpoint's advisory lock (the
 * "no other batch of this device" rule needs the claims of one endpoint to
 * be serialized; the sending is not). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include <telemail/error.h>

#include "store/sqlite/store_sqlite.h"

enum fwd_stmt {
	F_ADD,
	F_CURSOR_GET,
	F_CURSOR_SET,
	F_EVENTS_AFTER,
	F_ITEM_ADD,
	F_GC_RANGE,
	F_CLAIM_OLD,
	F_LEASE,
	F_CANDIDATES,
	F_SET_BATCH,
	F_LOAD_BATCH,
	F_DEL_BATCH,
	F_GC_ONE,
	F_STAT_ADD,
	F_RETRY,
	F_DEAD,
	F_ST_QUEUED,
	F_ST_DEAD,
	F_ST_COUNTS,
	F_ST_ERROR,
	F_DEAD_LIST,
	F_DEAD_RETRY,
	F_DEAD_DROP,
	F_COUNT_
};

#define ITEM_COLS \
	"i.id, i.endpoint, i.seq, i.kind, e.event_id, e.tenant, e.serial, e.time, e.data," \
	" i.attempts, i.queued_at, i.batch, i.last_error"

static const char *const fwd_sql[F_COUNT_] = {
	[F_ADD] = "INSERT INTO fwd_event (event_id, kind, tenant, serial, time, data, created_at)"
		  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[F_CURSOR_GET] = "SELECT last_seq FROM fwd_cursor WHERE endpoint = ?1",
	[F_CURSOR_SET] = "INSERT INTO fwd_cursor (endpoint, last_seq) VALUES (?1, ?2)"
			 " ON CONFLICT (endpoint) DO UPDATE SET last_seq = excluded.last_seq",
	[F_EVENTS_AFTER] = "SELECT seq, kind, tenant, serial, length(data) FROM fwd_event"
			   " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[F_ITEM_ADD] = "INSERT OR IGNORE INTO fwd_item (endpoint, seq, kind, serial, bytes, queued_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* events of (?1, ?2] every endpoint has read and none still needs */
	[F_GC_RANGE] = "DELETE FROM fwd_event WHERE seq > ?1 AND seq <= ?2"
		       " AND seq <= (SELECT MIN(last_seq) FROM fwd_cursor)"
		       " AND NOT EXISTS (SELECT 1 FROM fwd_item i WHERE i.seq = fwd_event.seq)",
	[F_CLAIM_OLD] = "SELECT batch FROM fwd_item WHERE endpoint = ?1 AND state = 'queued'"
			" AND batch IS NOT NULL AND next_at <= ?2 AND lease_until <= ?2"
			" ORDER BY seq LIMIT 1",
	[F_LEASE] = "UPDATE fwd_item SET lease_owner = ?3, lease_until = ?4"
		    " WHERE endpoint = ?1 AND batch = ?2 AND state = 'queued'",
	[F_CANDIDATES] = "SELECT i.id, i.bytes FROM fwd_item i WHERE i.endpoint = ?1"
			 " AND i.state = 'queued' AND i.batch IS NULL AND i.next_at <= ?2"
			 " AND NOT EXISTS (SELECT 1 FROM fwd_item b WHERE b.endpoint = i.endpoint"
			 "   AND b.serial = i.serial AND b.state = 'queued' AND b.batch IS NOT NULL)"
			 " ORDER BY i.seq, i.kind LIMIT ?3",
	[F_SET_BATCH] = "UPDATE fwd_item SET batch = ?2, lease_owner = ?3, lease_until = ?4"
			" WHERE id = ?1",
	[F_LOAD_BATCH] = "SELECT " ITEM_COLS " FROM fwd_item i JOIN fwd_event e ON e.seq = i.seq"
			 " WHERE i.endpoint = ?1 AND i.batch = ?2 AND i.state = 'queued'"
			 " ORDER BY i.seq, i.kind",
	[F_DEL_BATCH] = "DELETE FROM fwd_item WHERE endpoint = ?1 AND batch = ?2 AND state = 'queued'"
			" RETURNING seq",
	[F_GC_ONE] = "DELETE FROM fwd_event WHERE seq = ?1"
		     " AND seq <= (SELECT MIN(last_seq) FROM fwd_cursor)"
		     " AND NOT EXISTS (SELECT 1 FROM fwd_item i WHERE i.seq = ?1)",
	[F_STAT_ADD] = "INSERT INTO fwd_stat (endpoint, sent, retries) VALUES (?1, ?2, ?3)"
		       " ON CONFLICT (endpoint) DO UPDATE SET sent = sent + excluded.sent,"
		       " retries = retries + excluded.retries",
	[F_RETRY] = "UPDATE fwd_item SET attempts = attempts + 1, next_at = ?3, lease_owner = NULL,"
		    " lease_until = 0, last_error = ?4"
		    " WHERE endpoint = ?1 AND batch = ?2 AND state = 'queued'",
	[F_DEAD] = "UPDATE fwd_item SET state = 'dead', attempts = attempts + 1, lease_owner = NULL,"
		   " lease_until = 0, last_error = ?3"
		   " WHERE endpoint = ?1 AND batch = ?2 AND state = 'queued'",
	[F_ST_QUEUED] = "SELECT COUNT(*), MIN(queued_at) FROM fwd_item"
			" WHERE endpoint = ?1 AND state = 'queued'",
	[F_ST_DEAD] = "SELECT COUNT(*) FROM fwd_item WHERE endpoint = ?1 AND state = 'dead'",
	[F_ST_COUNTS] = "SELECT sent, retries FROM fwd_stat WHERE endpoint = ?1",
	[F_ST_ERROR] = "SELECT last_error FROM fwd_item WHERE endpoint = ?1 AND state = 'queued'"
		       " AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
	[F_DEAD_LIST] = "SELECT " ITEM_COLS " FROM fwd_item i JOIN fwd_event e ON e.seq = i.seq"
			" WHERE i.state = 'dead' ORDER BY i.endpoint, i.id",
	[F_DEAD_RETRY] = "UPDATE fwd_item SET state = 'queued', batch = NULL, lease_owner = NULL,"
			 " lease_until = 0, next_at = 0, attempts = 0, last_error = NULL,"
			 " queued_at = ?2 WHERE state = 'dead' AND (?1 = 0 OR id = ?1)",
	[F_DEAD_DROP] = "DELETE FROM fwd_item WHERE state = 'dead' AND (?1 = 0 OR id = ?1)",
};

static sqlite3_stmt *stmt(struct gw_sq *q, enum fwd_stmt which, struct tm_error *err)
{
	return gw_sq_cached(q, &q->fwd[which], fwd_sql[which], err);
}

int gw_sq_fwd_add(void *state, const struct gw_fwd_event_in *ev, int64_t now,
		  struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, F_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, ev->event_id);
	gw_sq_bind_int(s, 2, ev->kind);
	gw_sq_bind_text(s, 3, ev->tenant);
	gw_sq_bind_text(s, 4, ev->serial);
	gw_sq_bind_text(s, 5, ev->time);
	sqlite3_bind_blob(s, 6, ev->data, (int)ev->data_len, SQLITE_STATIC);
	gw_sq_bind_int(s, 7, now);
	return gw_sq_step_done(q, s, "queue forward event", err);
}

/* ---- fan-out ---- */

struct fan_ev {
	int64_t seq;
	enum gw_fwd_kind kind;
	char tenant[GW_NAME_MAX + 1];
	char serial[GW_NAME_MAX + 1];
	int64_t bytes;
};

int gw_sq_fwd_fanout(void *state, const char *endpoint, gw_fwd_filter_cb filter, void *ctx,
		     int64_t now, size_t max, size_t *added, struct tm_error *err)
{
	struct gw_sq *q = state;
	int64_t cursor = 0;
	sqlite3_stmt *s = stmt(q, F_CURSOR_GET, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, endpoint);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		cursor = sqlite3_column_int64(s, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "forward cursor", err);

	if (max == 0 || max > 100000)
		max = 100000;
	struct fan_ev *evs = calloc(max, sizeof(*evs));
	if (evs == NULL)
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	size_t n = 0;
	if ((s = stmt(q, F_EVENTS_AFTER, err)) == NULL) {
		rc = GW_STORE_ERROR;
		goto out;
	}
	gw_sq_bind_int(s, 1, cursor);
	gw_sq_bind_int(s, 2, (long long)max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < max) {
		evs[n].seq = sqlite3_column_int64(s, 0);
		evs[n].kind = (enum gw_fwd_kind)sqlite3_column_int(s, 1);
		gw_sq_col_text(s, 2, evs[n].tenant, sizeof(evs[n].tenant));
		gw_sq_col_text(s, 3, evs[n].serial, sizeof(evs[n].serial));
		evs[n].bytes = sqlite3_column_int64(s, 4);
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = gw_sq_fail(q, rc, "forward events", err);
		goto out;
	}
	rc = GW_STORE_OK;
	for (size_t i = 0; i < n && rc == GW_STORE_OK; i++) {
		unsigned kinds = filter(ctx, evs[i].kind, evs[i].tenant);
		for (unsigned k = GW_FWD_REPORT; k <= GW_FWD_ORDER && rc == GW_STORE_OK; k <<= 1) {
			if (!(kinds & k))
				continue;
			if ((s = stmt(q, F_ITEM_ADD, err)) == NULL) {
				rc = GW_STORE_ERROR;
				break;
			}
			gw_sq_bind_text(s, 1, endpoint);
			gw_sq_bind_int(s, 2, evs[i].seq);
			gw_sq_bind_int(s, 3, k);
			gw_sq_bind_text(s, 4, evs[i].serial);
			gw_sq_bind_int(s, 5, evs[i].bytes);
			gw_sq_bind_int(s, 6, now);
			rc = gw_sq_step_done(q, s, "queue forward item", err);
			if (rc == GW_STORE_OK)
				*added += (size_t)sqlite3_changes(q->db);
		}
	}
	if (rc != GW_STORE_OK || n == 0)
		goto out;
	if ((s = stmt(q, F_CURSOR_SET, err)) == NULL) {
		rc = GW_STORE_ERROR;
		goto out;
	}
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_int(s, 2, evs[n - 1].seq);
	rc = gw_sq_step_done(q, s, "forward cursor", err);
	if (rc == GW_STORE_OK && (s = stmt(q, F_GC_RANGE, err)) == NULL)
		rc = GW_STORE_ERROR;
	if (rc == GW_STORE_OK) {
		gw_sq_bind_int(s, 1, cursor);
		gw_sq_bind_int(s, 2, evs[n - 1].seq);
		rc = gw_sq_step_done(q, s, "forward events done", err);
	}
out:
	free(evs);
	return rc;
}

/* ---- claims ---- */

static int read_item(sqlite3_stmt *s, struct gw_fwd_item *it, struct tm_error *err)
{
	memset(it, 0, sizeof(*it));
	it->id = sqlite3_column_int64(s, 0);
	gw_sq_col_text(s, 1, it->endpoint, sizeof(it->endpoint));
	it->seq = sqlite3_column_int64(s, 2);
	it->kind = (enum gw_fwd_kind)sqlite3_column_int(s, 3);
	gw_sq_col_text(s, 4, it->event_id, sizeof(it->event_id));
	gw_sq_col_text(s, 5, it->tenant, sizeof(it->tenant));
	gw_sq_col_text(s, 6, it->serial, sizeof(it->serial));
	gw_sq_col_text(s, 7, it->time, sizeof(it->time));
	const void *d = sqlite3_column_blob(s, 8);
	it->data_len = (size_t)sqlite3_column_bytes(s, 8);
	it->data = malloc(it->data_len + 1);
	if (it->data == NULL)
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	if (it->data_len > 0)
		memcpy(it->data, d, it->data_len);
	it->data[it->data_len] = '\0';
	it->attempts = sqlite3_column_int64(s, 9);
	it->queued_at = sqlite3_column_int64(s, 10);
	gw_sq_col_text(s, 11, it->batch, sizeof(it->batch));
	gw_sq_col_text(s, 12, it->last_error, sizeof(it->last_error));
	return 0;
}

/* Step s to its end, each row an item appended to *out. */
static int read_items(struct gw_sq *q, sqlite3_stmt *s, struct gw_fwd_item **out, size_t *n,
		      struct tm_error *err)
{
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct gw_fwd_item *p = realloc(*out, nc * sizeof(*p));
			if (p == NULL) {
				sqlite3_reset(s);
				return tm_error_set(err, "internal.nomem", "forward: out of memory");
			}
			*out = p;
			cap = nc;
		}
		if (read_item(s, &(*out)[*n], err) < 0) {
			free((*out)[*n].data);
			sqlite3_reset(s);
			return GW_STORE_ERROR;
		}
		(*n)++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? GW_STORE_OK : gw_sq_fail(q, rc, "forward items", err);
}

static int load_batch(struct gw_sq *q, const char *endpoint, const char *batch,
		      struct gw_fwd_item **out, size_t *n, struct tm_error *err)
{
	sqlite3_stmt *s = stmt(q, F_LOAD_BATCH, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_text(s, 2, batch);
	return read_items(q, s, out, n, err);
}

static int new_key(char key[GW_FWD_BATCH_KEY], struct tm_error *err)
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return tm_error_set(err, "internal.library", "forward: getrandom failed");
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(key + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int gw_sq_fwd_claim(void *state, const char *endpoint, const char *owner, size_t max_items,
		    size_t max_bytes, int64_t now, int64_t lease, struct gw_fwd_item **out,
		    size_t *n, struct tm_error *err)
{
	struct gw_sq *q = state;
	char batch[GW_FWD_BATCH_KEY] = "";
	/* 1. a batch that failed before, due again (or whose lease ran out) */
	sqlite3_stmt *s = stmt(q, F_CLAIM_OLD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_int(s, 2, now);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		gw_sq_col_text(s, 0, batch, sizeof(batch));
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, "forward claim", err);
	if (batch[0] != '\0') {
		if ((s = stmt(q, F_LEASE, err)) == NULL)
			return GW_STORE_ERROR;
		gw_sq_bind_text(s, 1, endpoint);
		gw_sq_bind_text(s, 2, batch);
		gw_sq_bind_text(s, 3, owner);
		gw_sq_bind_int(s, 4, now + lease);
		rc = gw_sq_step_done(q, s, "forward lease", err);
		return rc == GW_STORE_OK ? load_batch(q, endpoint, batch, out, n, err) : rc;
	}

	/* 2. a new batch of the oldest due items of devices with none in flight */
	int64_t *ids = calloc(max_items, sizeof(*ids));
	if (ids == NULL)
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	size_t k = 0;
	size_t bytes = 0;
	if ((s = stmt(q, F_CANDIDATES, err)) == NULL) {
		free(ids);
		return GW_STORE_ERROR;
	}
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_int(s, 2, now);
	gw_sq_bind_int(s, 3, (long long)max_items);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && k < max_items) {
		size_t b = (size_t)sqlite3_column_int64(s, 1);
		if (k > 0 && max_bytes > 0 && bytes + b > max_bytes)
			break;
		ids[k++] = sqlite3_column_int64(s, 0);
		bytes += b;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(ids);
		return gw_sq_fail(q, rc, "forward claim", err);
	}
	rc = GW_STORE_OK;
	if (k > 0 && new_key(batch, err) < 0)
		rc = GW_STORE_ERROR;
	for (size_t i = 0; i < k && rc == GW_STORE_OK; i++) {
		if ((s = stmt(q, F_SET_BATCH, err)) == NULL) {
			rc = GW_STORE_ERROR;
			break;
		}
		gw_sq_bind_int(s, 1, ids[i]);
		gw_sq_bind_text(s, 2, batch);
		gw_sq_bind_text(s, 3, owner);
		gw_sq_bind_int(s, 4, now + lease);
		rc = gw_sq_step_done(q, s, "forward claim", err);
	}
	free(ids);
	if (rc != GW_STORE_OK || k == 0)
		return rc;
	return load_batch(q, endpoint, batch, out, n, err);
}

static int stat_add(struct gw_sq *q, const char *endpoint, int64_t sent, int64_t retries,
		    struct tm_error *err)
{
	sqlite3_stmt *s = stmt(q, F_STAT_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_int(s, 2, sent);
	gw_sq_bind_int(s, 3, retries);
	return gw_sq_step_done(q, s, "forward counts", err);
}

static int done_sent(struct gw_sq *q, const char *endpoint, const char *batch,
		     struct tm_error *err)
{
	sqlite3_stmt *s = stmt(q, F_DEL_BATCH, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_text(s, 2, batch);
	int64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			int64_t *p = realloc(seqs, cap * sizeof(*p));
			if (p == NULL) {
				sqlite3_reset(s);
				free(seqs);
				return tm_error_set(err, "internal.nomem", "forward: out of memory");
			}
			seqs = p;
		}
		seqs[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(seqs);
		return gw_sq_fail(q, rc, "forward sent", err);
	}
	rc = GW_STORE_OK;
	for (size_t i = 0; i < n && rc == GW_STORE_OK; i++) {
		if ((s = stmt(q, F_GC_ONE, err)) == NULL) {
			rc = GW_STORE_ERROR;
			break;
		}
		gw_sq_bind_int(s, 1, seqs[i]);
		rc = gw_sq_step_done(q, s, "forward event done", err);
	}
	free(seqs);
	if (rc == GW_STORE_OK)
		rc = stat_add(q, endpoint, (int64_t)n, 0, err);
	return rc;
}

int gw_sq_fwd_done(void *state, const char *endpoint, const char *batch, enum gw_fwd_fate fate,
		   int64_t next_at, const char *error, int64_t now, struct tm_error *err)
{
	struct gw_sq *q = state;
	(void)now;
	if (fate == GW_FWD_SENT)
		return done_sent(q, endpoint, batch, err);
	sqlite3_stmt *s = stmt(q, fate == GW_FWD_RETRY ? F_RETRY : F_DEAD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, endpoint);
	gw_sq_bind_text(s, 2, batch);
	if (fate == GW_FWD_RETRY) {
		gw_sq_bind_int(s, 3, next_at);
		gw_sq_bind_text(s, 4, error);
	} else {
		gw_sq_bind_text(s, 3, error);
	}
	int rc = gw_sq_step_done(q, s, "forward failed batch", err);
	if (rc == GW_STORE_OK)
		rc = stat_add(q, endpoint, 0, 1, err);
	return rc;
}

int gw_sq_fwd_stats(void *state, const char *endpoint, struct gw_fwd_stats *out,
		    struct tm_error *err)
{
	struct gw_sq *q = state;
	static const enum fwd_stmt which[] = { F_ST_QUEUED, F_ST_DEAD, F_ST_COUNTS, F_ST_ERROR };
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		sqlite3_stmt *s = stmt(q, which[i], err);
		if (s == NULL)
			return GW_STORE_ERROR;
		gw_sq_bind_text(s, 1, endpoint);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			switch (which[i]) {
			case F_ST_QUEUED:
				out->queued = (size_t)sqlite3_column_int64(s, 0);
				out->oldest_queued = sqlite3_column_int64(s, 1);
				break;
			case F_ST_DEAD:
				out->dead = (size_t)sqlite3_column_int64(s, 0);
				break;
			case F_ST_COUNTS:
				out->sent = sqlite3_column_int64(s, 0);
				out->retries = sqlite3_column_int64(s, 1);
				break;
			default:
				gw_sq_col_text(s, 0, out->last_error, sizeof(out->last_error));
				break;
			}
			rc = SQLITE_DONE;
		}
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return gw_sq_fail(q, rc, "forward status", err);
	}
	return GW_STORE_OK;
}

int gw_sq_fwd_dead_list(void *state, struct gw_fwd_item **out, size_t *n, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = stmt(q, F_DEAD_LIST, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	int rc = read_items(q, s, out, n, err);
	if (rc != GW_STORE_OK) {
		gw_fwd_items_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

static int dead_change(struct gw_sq *q, enum fwd_stmt which, int64_t id, int64_t now,
		       size_t *changed, struct tm_error *err)
{
	sqlite3_stmt *s = stmt(q, which, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_int(s, 1, id);
	if (which == F_DEAD_RETRY)
		gw_sq_bind_int(s, 2, now);
	int rc = gw_sq_step_done(q, s, "forward dead letters", err);
	if (rc != GW_STORE_OK)
		return rc;
	*changed = (size_t)sqlite3_changes(q->db);
	if (id != 0 && *changed == 0)
		return tm_error_set(err, "forward.not_found", "dead letter %lld: no such item",
				    (long long)id);
	return GW_STORE_OK;
}

int gw_sq_fwd_dead_retry(void *state, int64_t id, int64_t now, size_t *changed,
			 struct tm_error *err)
{
	return dead_change(state, F_DEAD_RETRY, id, now, changed, err);
}

int gw_sq_fwd_dead_drop(void *state, int64_t id, size_t *changed, struct tm_error *err)
{
	return dead_change(state, F_DEAD_DROP, id, 0, changed, err);
}

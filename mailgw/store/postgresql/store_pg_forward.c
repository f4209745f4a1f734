/* telemail-mailgw — the PostgreSQL back end: forwarding's transactional
 * outbox (issue 17; the contract is in store.h, the logic in
 * mailgw/forward/). The same tables and the same meaning as SQLite's
 * (store/sqlite/store_sqlite_forward.c); what differs is that several
 * gateways share them, each with its own forwarder:
 *
 * - Writes. An identity hands out fwd_event.seq when the row is written,
 *   not when it commits, so a fan-out that read "every seq after my
 *   cursor" could pass a seq whose transaction commits later and never
 *   see that event. A write therefore holds the outbox's advisory lock in
 *   shared mode from before its seq until its commit (writers do not wait
 *   for each other), and a fan-out takes the same lock exclusively, for a
 *   moment, inside a savepoint: once it has it, no write is under way,
 *   and the highest seq it then sees is a bound below which every event
 *   is committed (or gone). It reads only up to that bound; rolling back
 *   to the savepoint gives the lock up at once.
 * - Fan-outs of one endpoint are serialized by the endpoint's advisory
 *   lock, so its cursor only moves forward and its items are made once.
 * - Claims of one endpoint are serialized by another advisory lock of the
 *   endpoint: the rule "no new batch of a device that has items in another
 *   batch" needs each claim to see the batches the claims before it made,
 *   whichever gateway made them, so a device's later event is never sent
 *   while its earlier one is leased to another gateway. The rows are taken
 *   `FOR UPDATE SKIP LOCKED`: a batch whose fate another gateway is
 *   writing right now is passed over, not waited for. Sending is not
 *   serialized: each gateway POSTs the batch it leased.
 * - A batch is re-leased (same key) once its lease ran out: a gateway that
 *   died mid-send loses its batches to the others.
 * - An event goes once every endpoint's cursor has passed it and no item
 *   needs it. An endpoint new to the configuration has no cursor yet: its
 *   first fan-out may meet an event another gateway is deleting just then,
 *   and fail on the item's reference to it (store.failed, nothing kept);
 *   the next pass goes on without that event, as it would on SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

/* Advisory lock keys (the two-integer form): the outbox's write lock, and
 * per endpoint (its name's hashtext) the fan-out's and the claim's. */
#define OUTBOX_LOCK "1953326640, 0"   /* 0x746d6630, "tmf0" */
#define FANOUT_LOCK "1953326641"      /* "tmf1" */
#define CLAIM_LOCK "1953326642"       /* "tmf2" */

#define ITEM_COLS \
	"i.id, i.endpoint, i.seq, i.kind, e.event_id, e.tenant, e.serial, e.time, e.data," \
	" i.attempts, i.queued_at, i.batch, i.last_error"
#define ITEM_FROM " FROM fwd_item i JOIN fwd_event e ON e.seq = i.seq"

#define FANOUT_CAP 100000   /* events read per fan-out at most, as SQLite's */

int gw_pg_fwd_add(void *state, const struct gw_fwd_event_in *ev, int64_t now,
		  struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, ev->event_id);
	gw_pg_int(&p, ev->kind);
	gw_pg_text(&p, ev->tenant);
	gw_pg_text(&p, ev->serial);
	gw_pg_text(&p, ev->time);
	gw_pg_bytes(&p, ev->data, ev->data_len);
	gw_pg_int(&p, now);
	/* the lock is taken (the CTE's row) before the row's seq is drawn */
	return gw_pg_exec(&s->c,
		"WITH l AS (SELECT pg_advisory_xact_lock_shared(" OUTBOX_LOCK "))"
		" INSERT INTO fwd_event (event_id, kind, tenant, serial, time, data, created_at)"
		" SELECT $1, $2::integer, $3, $4, $5, $6::bytea, $7::bigint FROM l",
		&p, NULL, "queue forward event", err);
}

/* ---- fan-out ---- */

/* The highest seq below which every event is committed (see the top). */
static int committed_bound(struct gw_pg *s, int64_t *bound, struct tm_error *err)
{
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SAVEPOINT fwd_bound;"
		" SELECT pg_advisory_xact_lock(" OUTBOX_LOCK ");"
		" SELECT coalesce(max(seq), 0) FROM fwd_event",
		NULL, &r, "forward bound", err);
	if (rc != GW_STORE_OK)
		return rc;
	*bound = gw_pg_col_int(r, 0, 0);
	PQclear(r);
	return gw_pg_exec(&s->c, "ROLLBACK TO SAVEPOINT fwd_bound; RELEASE SAVEPOINT fwd_bound",
			  NULL, NULL, "forward bound", err);
}

static int lock_endpoint(struct gw_pg *s, const char *key, const char *endpoint,
			 struct tm_error *err)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%s, hashtext($1))", key);
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	return gw_pg_exec(&s->c, sql, &p, NULL, "forward lock", err);
}

/* The items of the events in r that the endpoint wants, one statement. */
static int add_items(struct gw_pg *s, const char *endpoint, const PGresult *r,
		     gw_fwd_filter_cb filter, void *ctx, int64_t now, size_t *added,
		     struct tm_error *err)
{
	int n = PQntuples(r);
	/* "{seq,...}" and "{kind,...}": at most 4 items an event, 21 digits each */
	size_t cap = (size_t)n * 4 * 22 + 3;
	char *seqs = malloc(cap), *kinds = malloc(cap);
	int rc = GW_STORE_OK;
	if (seqs == NULL || kinds == NULL) {
		rc = tm_error_set(err, "internal.nomem", "forward: out of memory");
		goto out;
	}
	size_t ls = 0, lk = 0, k = 0;
	seqs[ls++] = '{';
	kinds[lk++] = '{';
	for (int i = 0; i < n; i++) {
		char tenant[GW_NAME_MAX + 1];
		gw_pg_col_text(r, i, 2, tenant, sizeof(tenant));
		unsigned want = filter(ctx, (enum gw_fwd_kind)gw_pg_col_int(r, i, 1), tenant);
		for (unsigned kind = GW_FWD_REPORT; kind <= GW_FWD_ORDER; kind <<= 1) {
			if (!(want & kind))
				continue;
			ls += (size_t)snprintf(seqs + ls, cap - ls, "%s%s", k ? "," : "",
					       PQgetvalue(r, i, 0));
			lk += (size_t)snprintf(kinds + lk, cap - lk, "%s%u", k ? "," : "", kind);
			k++;
		}
	}
	if (k == 0)
		goto out;
	snprintf(seqs + ls, cap - ls, "}");
	snprintf(kinds + lk, cap - lk, "}");
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_text(&p, seqs);
	gw_pg_text(&p, kinds);
	gw_pg_int(&p, now);
	PGresult *res;
	/* in the events' order (then kind), so that ids follow it too */
	rc = gw_pg_exec(&s->c,
		"INSERT INTO fwd_item (endpoint, seq, kind, serial, bytes, queued_at)"
		" SELECT $1, e.seq, w.kind, e.serial, octet_length(e.data), $4::bigint"
		" FROM unnest($2::bigint[], $3::integer[]) AS w(seq, kind)"
		" JOIN fwd_event e ON e.seq = w.seq ORDER BY e.seq, w.kind"
		" ON CONFLICT (endpoint, seq, kind) DO NOTHING",
		&p, &res, "queue forward items", err);
	if (rc == GW_STORE_OK) {
		*added += (size_t)strtoull(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
out:
	free(seqs);
	free(kinds);
	return rc;
}

int gw_pg_fwd_fanout(void *state, const char *endpoint, gw_fwd_filter_cb filter, void *ctx,
		     int64_t now, size_t max, size_t *added, struct tm_error *err)
{
	struct gw_pg *s = state;
	int64_t bound = 0;
	/* the bound first, before this transaction holds anything a writer may wait for */
	int rc = committed_bound(s, &bound, err);
	if (rc == GW_STORE_OK)
		rc = lock_endpoint(s, FANOUT_LOCK, endpoint, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (max == 0 || max > FANOUT_CAP)
		max = FANOUT_CAP;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	PGresult *r;
	rc = gw_pg_exec(&s->c, "SELECT last_seq FROM fwd_cursor WHERE endpoint = $1", &p, &r,
			"forward cursor", err);
	if (rc != GW_STORE_OK)
		return rc;
	int64_t from = PQntuples(r) > 0 ? gw_pg_col_int(r, 0, 0) : 0;
	PQclear(r);
	/* a range of the primary key, however many events wait for other endpoints */
	gw_pg_params_init(&p);
	gw_pg_int(&p, from);
	gw_pg_int(&p, bound);
	gw_pg_int(&p, (long long)max);
	rc = gw_pg_exec(&s->c,
		"SELECT seq, kind, tenant FROM fwd_event WHERE seq > $1 AND seq <= $2"
		" ORDER BY seq LIMIT $3",
		&p, &r, "forward events", err);
	if (rc != GW_STORE_OK)
		return rc;
	int n = PQntuples(r);
	if (n > 0)
		rc = add_items(s, endpoint, r, filter, ctx, now, added, err);
	if (rc != GW_STORE_OK || n == 0) {
		PQclear(r);
		return rc;
	}
	int64_t to = gw_pg_col_int(r, n - 1, 0);
	PQclear(r);
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_int(&p, to);
	rc = gw_pg_exec(&s->c,
		"INSERT INTO fwd_cursor (endpoint, last_seq) VALUES ($1, $2)"
		" ON CONFLICT (endpoint) DO UPDATE SET last_seq = excluded.last_seq",
		&p, NULL, "forward cursor", err);
	if (rc != GW_STORE_OK)
		return rc;
	/* events of (from, to] every endpoint has read and none still needs */
	gw_pg_params_init(&p);
	gw_pg_int(&p, from);
	gw_pg_int(&p, to);
	return gw_pg_exec(&s->c,
		"DELETE FROM fwd_event e WHERE e.seq > $1 AND e.seq <= $2"
		" AND e.seq <= (SELECT min(last_seq) FROM fwd_cursor)"
		" AND NOT EXISTS (SELECT 1 FROM fwd_item i WHERE i.seq = e.seq)",
		&p, NULL, "forward events done", err);
}

/* ---- claims ---- */

static int read_item(const PGresult *r, int i, struct gw_fwd_item *it, struct tm_error *err)
{
	memset(it, 0, sizeof(*it));
	it->id = gw_pg_col_int(r, i, 0);
	gw_pg_col_text(r, i, 1, it->endpoint, sizeof(it->endpoint));
	it->seq = gw_pg_col_int(r, i, 2);
	it->kind = (enum gw_fwd_kind)gw_pg_col_int(r, i, 3);
	gw_pg_col_text(r, i, 4, it->event_id, sizeof(it->event_id));
	gw_pg_col_text(r, i, 5, it->tenant, sizeof(it->tenant));
	gw_pg_col_text(r, i, 6, it->serial, sizeof(it->serial));
	gw_pg_col_text(r, i, 7, it->time, sizeof(it->time));
	size_t len = 0;
	unsigned char *d = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 8), &len);
	it->data = d != NULL ? malloc(len + 1) : NULL;
	if (it->data == NULL) {
		PQfreemem(d);
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	}
	memcpy(it->data, d, len);
	it->data[len] = '\0';
	it->data_len = len;
	PQfreemem(d);
	it->attempts = gw_pg_col_int(r, i, 9);
	it->queued_at = gw_pg_col_int(r, i, 10);
	gw_pg_col_text(r, i, 11, it->batch, sizeof(it->batch));
	gw_pg_col_text(r, i, 12, it->last_error, sizeof(it->last_error));
	return 0;
}

/* Run sql; its rows (ITEM_COLS) become *out, *n. */
static int read_items(struct gw_pg *s, const char *sql, const struct gw_pg_params *p,
		      struct gw_fwd_item **out, size_t *n, struct tm_error *err)
{
	PGresult *r;
	int rc = gw_pg_exec(&s->c, sql, p, &r, "forward items", err);
	if (rc != GW_STORE_OK)
		return rc;
	int rows = PQntuples(r);
	if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
		rc = tm_error_set(err, "internal.nomem", "forward: out of memory");
	for (int i = 0; i < rows && rc == GW_STORE_OK; i++) {
		if (read_item(r, i, &(*out)[i], err) < 0)
			rc = GW_STORE_ERROR;
		else
			(*n)++;
	}
	PQclear(r);
	return rc;
}

static int load_batch(struct gw_pg *s, const char *endpoint, const char *batch,
		      struct gw_fwd_item **out, size_t *n, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_text(&p, batch);
	return read_items(s, "SELECT " ITEM_COLS ITEM_FROM
			  " WHERE i.endpoint = $1 AND i.batch = $2 AND i.state = 'queued'"
			  " ORDER BY i.seq, i.kind", &p, out, n, err);
}

/* 1. a batch that failed before and is due again, or whose lease ran out */
static int claim_old(struct gw_pg *s, const char *endpoint, const char *owner, int64_t now,
		     int64_t lease, char batch[GW_FWD_BATCH_KEY], struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_int(&p, now);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT batch FROM fwd_item WHERE endpoint = $1 AND state = 'queued'"
		" AND batch IS NOT NULL AND next_at <= $2 AND lease_until <= $2"
		" ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
		&p, &r, "forward claim", err);
	if (rc != GW_STORE_OK)
		return rc;
	if (PQntuples(r) > 0)
		gw_pg_col_text(r, 0, 0, batch, GW_FWD_BATCH_KEY);
	PQclear(r);
	if (batch[0] == '\0')
		return GW_STORE_OK;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_text(&p, batch);
	gw_pg_text(&p, owner);
	gw_pg_int(&p, now + lease);
	return gw_pg_exec(&s->c, "UPDATE fwd_item SET lease_owner = $3, lease_until = $4"
			  " WHERE endpoint = $1 AND batch = $2 AND state = 'queued'",
			  &p, NULL, "forward lease", err);
}

/* 2. a new batch of the oldest due items of devices with none in flight */
static int claim_new(struct gw_pg *s, const char *endpoint, const char *owner, size_t max_items,
		     size_t max_bytes, int64_t now, int64_t lease, char batch[GW_FWD_BATCH_KEY],
		     struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_int(&p, now);
	gw_pg_int(&p, (long long)max_items);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT i.id, i.bytes FROM fwd_item i WHERE i.endpoint = $1"
		" AND i.state = 'queued' AND i.batch IS NULL AND i.next_at <= $2"
		" AND NOT EXISTS (SELECT 1 FROM fwd_item b WHERE b.endpoint = i.endpoint"
		"   AND b.serial = i.serial AND b.state = 'queued' AND b.batch IS NOT NULL)"
		" ORDER BY i.seq, i.kind LIMIT $3 FOR UPDATE OF i SKIP LOCKED",
		&p, &r, "forward claim", err);
	if (rc != GW_STORE_OK)
		return rc;
	int rows = PQntuples(r), k = 0;
	size_t bytes = 0;
	/* "{id,...}" of the items taken: the prefix within max_bytes */
	char *ids = malloc((size_t)rows * 22 + 3);
	if (ids == NULL) {
		PQclear(r);
		return tm_error_set(err, "internal.nomem", "forward: out of memory");
	}
	size_t len = 0;
	ids[len++] = '{';
	for (; k < rows; k++) {
		size_t b = (size_t)gw_pg_col_int(r, k, 1);
		if (k > 0 && max_bytes > 0 && bytes + b > max_bytes)
			break;
		bytes += b;
		len += (size_t)sprintf(ids + len, "%s%s", k ? "," : "", PQgetvalue(r, k, 0));
	}
	ids[len++] = '}';
	ids[len] = '\0';
	PQclear(r);
	/* the batch's key: 32 hex digits of a UUID (version 4: random), as
	 * SQLite's back end makes them */
	if (k > 0) {
		gw_pg_params_init(&p);
		gw_pg_text(&p, ids);
		gw_pg_text(&p, owner);
		gw_pg_int(&p, now + lease);
		rc = gw_pg_exec(&s->c, "UPDATE fwd_item SET batch = k.key, lease_owner = $2,"
				" lease_until = $3 FROM (SELECT replace(gen_random_uuid()::text, '-', '')"
				" AS key) k WHERE id = ANY($1::bigint[]) RETURNING batch",
				&p, &r, "forward claim", err);
		if (rc == GW_STORE_OK) {
			if (PQntuples(r) > 0)
				gw_pg_col_text(r, 0, 0, batch, GW_FWD_BATCH_KEY);
			PQclear(r);
		}
	}
	free(ids);
	return rc;
}

int gw_pg_fwd_claim(void *state, const char *endpoint, const char *owner, size_t max_items,
		    size_t max_bytes, int64_t now, int64_t lease, struct gw_fwd_item **out,
		    size_t *n, struct tm_error *err)
{
	struct gw_pg *s = state;
	char batch[GW_FWD_BATCH_KEY] = "";
	int rc = lock_endpoint(s, CLAIM_LOCK, endpoint, err);
	if (rc == GW_STORE_OK)
		rc = claim_old(s, endpoint, owner, now, lease, batch, err);
	if (rc == GW_STORE_OK && batch[0] == '\0')
		rc = claim_new(s, endpoint, owner, max_items, max_bytes, now, lease, batch, err);
	if (rc != GW_STORE_OK || batch[0] == '\0')
		return rc;
	return load_batch(s, endpoint, batch, out, n, err);
}

static int stat_add(struct gw_pg *s, const char *endpoint, int64_t sent, int64_t retries,
		    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_int(&p, sent);
	gw_pg_int(&p, retries);
	return gw_pg_exec(&s->c, "INSERT INTO fwd_stat (endpoint, sent, retries) VALUES ($1, $2, $3)"
			  " ON CONFLICT (endpoint) DO UPDATE SET sent = fwd_stat.sent + excluded.sent,"
			  " retries = fwd_stat.retries + excluded.retries",
			  &p, NULL, "forward counts", err);
}

/* The batch's items go; so do their events where every endpoint is done. */
static int done_sent(struct gw_pg *s, const char *endpoint, const char *batch,
		     struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_text(&p, batch);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"WITH gone AS (DELETE FROM fwd_item WHERE endpoint = $1 AND batch = $2"
		"   AND state = 'queued' RETURNING id, seq),"
		" old AS (DELETE FROM fwd_event e WHERE e.seq IN (SELECT seq FROM gone)"
		"   AND e.seq <= (SELECT min(last_seq) FROM fwd_cursor)"
		"   AND NOT EXISTS (SELECT 1 FROM fwd_item i WHERE i.seq = e.seq"
		"     AND i.id NOT IN (SELECT id FROM gone)))"
		" SELECT count(*) FROM gone",
		&p, &r, "forward sent", err);
	if (rc != GW_STORE_OK)
		return rc;
	int64_t n = gw_pg_col_int(r, 0, 0);
	PQclear(r);
	return stat_add(s, endpoint, n, 0, err);
}

int gw_pg_fwd_done(void *state, const char *endpoint, const char *batch, enum gw_fwd_fate fate,
		   int64_t next_at, const char *error, int64_t now, struct tm_error *err)
{
	struct gw_pg *s = state;
	(void)now;
	if (fate == GW_FWD_SENT)
		return done_sent(s, endpoint, batch, err);
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	gw_pg_text(&p, batch);
	gw_pg_text(&p, error);
	if (fate == GW_FWD_RETRY)
		gw_pg_int(&p, next_at);
	int rc = gw_pg_exec(&s->c, fate == GW_FWD_RETRY
		? "UPDATE fwd_item SET attempts = attempts + 1, next_at = $4, lease_owner = NULL,"
		  " lease_until = 0, last_error = $3"
		  " WHERE endpoint = $1 AND batch = $2 AND state = 'queued'"
		: "UPDATE fwd_item SET state = 'dead', attempts = attempts + 1, lease_owner = NULL,"
		  " lease_until = 0, last_error = $3"
		  " WHERE endpoint = $1 AND batch = $2 AND state = 'queued'",
		&p, NULL, "forward failed batch", err);
	if (rc == GW_STORE_OK)
		rc = stat_add(s, endpoint, 0, 1, err);
	return rc;
}

int gw_pg_fwd_stats(void *state, const char *endpoint, struct gw_fwd_stats *out,
		    struct tm_error *err)
{
	struct gw_pg *s = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, endpoint);
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT (SELECT count(*) FROM fwd_item WHERE endpoint = $1 AND state = 'queued'),"
		" (SELECT min(queued_at) FROM fwd_item WHERE endpoint = $1 AND state = 'queued'),"
		" (SELECT count(*) FROM fwd_item WHERE endpoint = $1 AND state = 'dead'),"
		" (SELECT sent FROM fwd_stat WHERE endpoint = $1),"
		" (SELECT retries FROM fwd_stat WHERE endpoint = $1),"
		" (SELECT last_error FROM fwd_item WHERE endpoint = $1 AND state = 'queued'"
		"   AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1)",
		&p, &r, "forward status", err);
	if (rc != GW_STORE_OK)
		return rc;
	out->queued = (size_t)gw_pg_col_int(r, 0, 0);
	out->oldest_queued = gw_pg_col_int(r, 0, 1);
	out->dead = (size_t)gw_pg_col_int(r, 0, 2);
	out->sent = gw_pg_col_int(r, 0, 3);
	out->retries = gw_pg_col_int(r, 0, 4);
	gw_pg_col_text(r, 0, 5, out->last_error, sizeof(out->last_error));
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_fwd_dead_list(void *state, struct gw_fwd_item **out, size_t *n, struct tm_error *err)
{
	int rc = read_items(state, "SELECT " ITEM_COLS ITEM_FROM " WHERE i.state = 'dead'"
			    " ORDER BY i.endpoint COLLATE \"C\", i.id", NULL, out, n, err);
	if (rc != GW_STORE_OK) {
		gw_fwd_items_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* now < 0: not a parameter of sql */
static int dead_change(struct gw_pg *s, const char *sql, int64_t id, int64_t now,
		       size_t *changed, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, id);
	if (now >= 0)
		gw_pg_int(&p, now);
	PGresult *r;
	int rc = gw_pg_exec(&s->c, sql, &p, &r, "forward dead letters", err);
	if (rc != GW_STORE_OK)
		return rc;
	*changed = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (id != 0 && *changed == 0)
		return tm_error_set(err, "forward.not_found", "dead letter %lld: no such item",
				    (long long)id);
	return GW_STORE_OK;
}

int gw_pg_fwd_dead_retry(void *state, int64_t id, int64_t now, size_t *changed,
			 struct tm_error *err)
{
	return dead_change(state,
		"UPDATE fwd_item SET state = 'queued', batch = NULL, lease_owner = NULL,"
		" lease_until = 0, next_at = 0, attempts = 0, last_error = NULL,"
		" queued_at = $2 WHERE state = 'dead' AND ($1::bigint = 0 OR id = $1)",
		id, now < 0 ? 0 : now, changed, err);
}

int gw_pg_fwd_dead_drop(void *state, int64_t id, size_t *changed, struct tm_error *err)
{
	return dead_change(state,
		"DELETE FROM fwd_item WHERE state = 'dead' AND ($1::bigint = 0 OR id = $1)",
		id, -1, changed, err);
}

/* telemail-mailgw — the PostgreSQL back end's quarantine: a table of the
 * shared database (the contract is store/quarantine.h; store.c is its only
 * caller), so that a message quarantined at one gateway is listed,
 * shown, released or purged at any. A connection of its own; a batch is
 * one transaction (begun at its first put). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "store/quarantine.h"
#include "store/postgresql/store_pg.h"

struct pg_quarantine {
	struct gw_pg_conn c;
	bool batched;   /* between batch_begin and batch_end */
};

#define META_COLUMNS \
	"id, reason, detail, message_id, serial, report_id, size, received_at, quarantined_at"

/* The quarantine's failures are io.* codes (quarantine.h); a server that
 * cannot be reached stays store.unavailable, a transient one. */
static int q_fail(int rc, const char *reason, struct tm_error *err)
{
	if (rc == GW_STORE_RETRY)
		return -1;
	if (err != NULL && err->reason != NULL && strcmp(err->reason, "store.failed") == 0)
		err->reason = reason;
	return -1;
}

static int q_open(const struct gw_store_options *o, void **out, struct tm_error *err)
{
	*out = NULL;
	struct pg_quarantine *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	int rc = gw_pg_connect(&q->c, o, err);
	if (rc == GW_STORE_OK && o->schema == GW_STORE_SCHEMA_MIGRATE)
		rc = gw_pg_migrate(&q->c, err);
	if (rc != GW_STORE_OK) {
		tm_error_prefix(err, "quarantine");
		gw_pg_disconnect(&q->c);
		free(q);
		return -1;
	}
	*out = q;
	return 0;
}

static int q_batch_end(void *state, bool keep, struct tm_error *err)
{
	struct pg_quarantine *q = state;
	q->batched = false;
	if (!q->c.in_tx)
		return 0;
	if (keep) {
		PGresult *r;
		int rc = gw_pg_exec(&q->c, "COMMIT", NULL, &r, "quarantine commit", err);
		q->c.in_tx = false;
		if (rc != GW_STORE_OK)
			return q_fail(rc, "io.write", err);
		bool ok = strcmp(PQcmdStatus(r), "COMMIT") == 0;
		PQclear(r);
		if (!ok)
			return tm_error_set(err, "io.write", "%s: quarantine batch rolled back",
					    q->c.where);
		return 0;
	}
	if (q->c.conn != NULL && PQstatus(q->c.conn) == CONNECTION_OK)
		PQclear(PQexec(q->c.conn, "ROLLBACK"));
	q->c.in_tx = false;
	return 0;
}

static void q_close(void *state)
{
	struct pg_quarantine *q = state;
	if (q == NULL)
		return;
	q_batch_end(q, false, NULL);
	gw_pg_disconnect(&q->c);
	free(q);
}

static void q_batch_begin(void *state)
{
	struct pg_quarantine *q = state;
	q->batched = true;
}

static int q_put(void *state, const uint8_t *raw, size_t len,
		 const struct gw_quarantine_meta *meta, int64_t now, struct tm_error *err)
{
	struct pg_quarantine *q = state;
	if (q->batched && !q->c.in_tx) {
		int rc = gw_pg_exec(&q->c, "BEGIN", NULL, NULL, "quarantine begin", err);
		if (rc != GW_STORE_OK)
			return q_fail(rc, "io.write", err);
		q->c.in_tx = true;
	}
	struct gw_pg_params *p = malloc(sizeof(*p));
	if (p == NULL)
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	gw_pg_params_init(p);
	gw_pg_text(p, meta->id);
	gw_pg_text(p, meta->reason);
	gw_pg_text(p, meta->detail);
	gw_pg_text(p, meta->message_id);
	gw_pg_text(p, meta->serial);
	gw_pg_text(p, meta->report_id);
	gw_pg_int(p, (long long)meta->size);
	gw_pg_int(p, meta->received_at);
	gw_pg_int(p, now);
	gw_pg_bytes(p, raw, len);
	/* the same message again: new metadata, the first quarantined_at; for
	 * the same reason, detail and octets nothing changes */
	int rc = gw_pg_exec(&q->c,
		"INSERT INTO quarantine AS q (" META_COLUMNS ", raw)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
		" ON CONFLICT (id) DO UPDATE SET reason = excluded.reason,"
		" detail = excluded.detail, message_id = excluded.message_id,"
		" serial = excluded.serial, report_id = excluded.report_id, size = excluded.size,"
		" received_at = excluded.received_at, raw = excluded.raw"
		" WHERE q.reason <> excluded.reason OR q.detail <> excluded.detail"
		" OR q.raw <> excluded.raw", p, NULL, "quarantine put", err);
	free(p);
	return rc == GW_STORE_OK ? 0 : q_fail(rc, "io.write", err);
}

static void row_meta(const PGresult *r, int i, struct gw_quarantine_meta *m)
{
	memset(m, 0, sizeof(*m));
	gw_pg_col_text(r, i, 0, m->id, sizeof(m->id));
	gw_pg_col_text(r, i, 1, m->reason, sizeof(m->reason));
	gw_pg_col_text(r, i, 2, m->detail, sizeof(m->detail));
	gw_pg_col_text(r, i, 3, m->message_id, sizeof(m->message_id));
	gw_pg_col_text(r, i, 4, m->serial, sizeof(m->serial));
	gw_pg_col_text(r, i, 5, m->report_id, sizeof(m->report_id));
	snprintf(m->raw_sha256, sizeof(m->raw_sha256), "%s", m->id);
	m->size = (uint64_t)gw_pg_col_int(r, i, 6);
	m->received_at = gw_pg_col_int(r, i, 7);
	m->quarantined_at = gw_pg_col_int(r, i, 8);
}

static int q_resolve(void *state, const char *in, char id[GW_SHA256_HEX], struct tm_error *err)
{
	struct pg_quarantine *q = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, in);
	PGresult *r;
	int rc = gw_pg_exec(&q->c, "SELECT id FROM quarantine WHERE starts_with(id, $1)"
			    " ORDER BY id LIMIT 2", &p, &r, "quarantine lookup", err);
	if (rc != GW_STORE_OK)
		return q_fail(rc, "io.read", err);
	int matches = PQntuples(r);
	if (matches > 0)
		gw_pg_col_text(r, 0, 0, id, GW_SHA256_HEX);
	PQclear(r);
	if (matches == 0)
		return tm_error_set(err, "quarantine.not_found", "quarantine id '%s': no such entry in %s",
				    in, q->c.where);
	if (matches > 1)
		return tm_error_set(err, "quarantine.bad_id",
				    "quarantine id '%s': ambiguous, more than one entry starts with it", in);
	return 0;
}

static int q_get(void *state, const char *id, struct gw_quarantine_meta *meta,
		 struct tm_buf *raw, bool *found, struct tm_error *err)
{
	struct pg_quarantine *q = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, id);
	PGresult *r;
	int rc = gw_pg_exec(&q->c, raw != NULL ? "SELECT " META_COLUMNS ", raw FROM quarantine WHERE id = $1"
					      : "SELECT " META_COLUMNS " FROM quarantine WHERE id = $1",
			    &p, &r, "quarantine get", err);
	if (rc != GW_STORE_OK)
		return q_fail(rc, "io.read", err);
	rc = 0;
	if (PQntuples(r) == 1) {
		row_meta(r, 0, meta);
		*found = true;
		if (raw != NULL) {
			size_t n = 0;
			unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 9), &n);
			if (b == NULL || tm_buf_append(raw, b, n) < 0)
				rc = tm_error_set(err, "internal.nomem", "quarantine: out of memory");
			PQfreemem(b);
		}
	}
	PQclear(r);
	return rc;
}

static int q_list(void *state, gw_quarantine_cb cb, void *ctx, struct tm_error *err)
{
	struct pg_quarantine *q = state;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_int(&p, (long long)GW_QUARANTINE_MAX_ENTRIES + 1);
	PGresult *r;
	int rc = gw_pg_exec(&q->c, "SELECT " META_COLUMNS " FROM quarantine ORDER BY id LIMIT $1", &p,
			    &r, "quarantine list", err);
	if (rc != GW_STORE_OK)
		return q_fail(rc, "io.read", err);
	rc = 0;
	if (PQntuples(r) > GW_QUARANTINE_MAX_ENTRIES)
		rc = tm_error_set(err, "io.too_large", "%s: more than %d quarantine entries",
				  q->c.where, GW_QUARANTINE_MAX_ENTRIES);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct gw_quarantine_meta m;
		row_meta(r, i, &m);
		rc = cb(ctx, &m);
	}
	PQclear(r);
	return rc;
}

static int delete_where(struct pg_quarantine *q, const char *sql, const char *text, int64_t num,
			size_t *n, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	if (text != NULL)
		gw_pg_text(&p, text);
	else
		gw_pg_int(&p, num);
	PGresult *r;
	int rc = gw_pg_exec(&q->c, sql, &p, &r, "quarantine remove", err);
	if (rc != GW_STORE_OK)
		return q_fail(rc, "io.write", err);
	if (n != NULL)
		*n = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

static int q_remove(void *state, const char *id, struct tm_error *err)
{
	return delete_where(state, "DELETE FROM quarantine WHERE id = $1", id, 0, NULL, err);
}

static int q_purge(void *state, int64_t cutoff, size_t *removed, struct tm_error *err)
{
	return delete_where(state, "DELETE FROM quarantine WHERE quarantined_at < $1", NULL, cutoff,
			    removed, err);
}

const struct gw_quarantine_ops gw_pg_quarantine_ops = {
	.open = q_open,
	.close = q_close,
	.batch_begin = q_batch_begin,
	.batch_end = q_batch_end,
	.put = q_put,
	.resolve = q_resolve,
	.get = q_get,
	.list = q_list,
	.remove = q_remove,
	.purge = q_purge,
};

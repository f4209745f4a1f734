/* telemail-mailgw — PostgreSQL back end: what collectors said about the
 * devices they could not read. A report with a collector section replaces
 * the collector's row and its list when it is newer (generated_at) than the
 * one stored; an older one, arriving late, changes nothing. */
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>

#include "store/postgresql/store_pg.h"

struct unreachable_ctx {
	const char *fingerprint;
	const struct tm_report *r;
	const int64_t *since;
	const size_t *keep;   /* the rows to write: the last of each address */
};

static void bind_unreachable(struct gw_pg_params *p, const void *ctx, size_t i)
{
	const struct unreachable_ctx *c = ctx;
	size_t k = c->keep[i];
	const struct tm_unreachable *u = &c->r->unreachable[k];
	gw_pg_text(p, c->fingerprint);
	gw_pg_text(p, u->address);
	gw_pg_text(p, u->serial);
	gw_pg_text(p, u->reason);
	gw_pg_int(p, c->since[k]);
	gw_pg_text(p, u->detail);
}

int gw_pg_put_collector(struct gw_pg_conn *c, const struct gw_store_record *rec,
			int64_t generated, struct tm_error *err)
{
	const struct tm_report *r = rec->report;
	if (!r->has_collector)
		return GW_STORE_OK;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, rec->fingerprint);
	gw_pg_text(&p, rec->tenant);
	gw_pg_text(&p, r->serial);
	gw_pg_text(&p, r->id);
	gw_pg_int(&p, generated);
	gw_pg_int(&p, r->collector_devices);
	gw_pg_int(&p, r->unreachable_count);
	PGresult *res;
	int rc = gw_pg_exec(c,
		"INSERT INTO collector_status AS s (fingerprint, tenant, serial, report_id,"
		" generated_unix, devices, unreachable_count) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		" ON CONFLICT (fingerprint) DO UPDATE SET tenant = excluded.tenant,"
		" serial = excluded.serial, report_id = excluded.report_id,"
		" generated_unix = excluded.generated_unix, devices = excluded.devices,"
		" unreachable_count = excluded.unreachable_count"
		" WHERE excluded.generated_unix >= s.generated_unix", &p, &res, "collector status", err);
	if (rc != GW_STORE_OK)
		return rc;
	bool changed = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!changed)
		return GW_STORE_OK;   /* an older report: the newer list stays */
	gw_pg_params_init(&p);
	gw_pg_text(&p, rec->fingerprint);
	rc = gw_pg_exec(c, "DELETE FROM collector_unreachable WHERE fingerprint = $1", &p, NULL,
			"clear unreachable devices", err);
	if (rc != GW_STORE_OK || r->n_unreachable == 0)
		return rc;
	int64_t *since = calloc(r->n_unreachable, sizeof(*since));
	size_t *keep = calloc(r->n_unreachable, sizeof(*keep)), n = 0;
	if (since == NULL || keep == NULL) {
		rc = tm_error_set(err, "internal.nomem", "store: out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n_unreachable; i++) {
		if (gw_store_parse_utc(r->unreachable[i].since, "collector/unreachable/since",
				       &since[i], err) < 0) {
			rc = GW_STORE_ERROR;
			goto out;
		}
		/* a repeated address: the last one wins, as INSERT OR REPLACE did */
		bool later = false;
		for (size_t j = i + 1; j < r->n_unreachable && !later; j++)
			later = strcmp(r->unreachable[i].address, r->unreachable[j].address) == 0;
		if (!later)
			keep[n++] = i;
	}
	const struct unreachable_ctx uc = { rec->fingerprint, r, since, keep };
	rc = gw_pg_put_rows(c, "INSERT INTO collector_unreachable (fingerprint, address, serial,"
			    " reason, since_unix, detail) VALUES", 6, NULL, n, bind_unreachable, &uc,
			    "insert unreachable device", err);
out:
	free(since);
	free(keep);
	return rc;
}

static void unreachable_row(const PGresult *r, int i, struct gw_unreachable_row *u)
{
	memset(u, 0, sizeof(*u));
	gw_pg_col_text(r, i, 0, u->tenant, sizeof(u->tenant));
	gw_pg_col_text(r, i, 1, u->fingerprint, sizeof(u->fingerprint));
	gw_pg_col_text(r, i, 2, u->address, sizeof(u->address));
	gw_pg_col_text(r, i, 3, u->serial, sizeof(u->serial));
	gw_pg_col_text(r, i, 4, u->reason, sizeof(u->reason));
	u->since = gw_pg_col_int(r, i, 5);
	gw_pg_col_text(r, i, 6, u->detail, sizeof(u->detail));
	u->reported_at = gw_pg_col_int(r, i, 7);
}

int gw_pg_unreachable_list(void *state, gw_store_unreachable_cb cb, void *ctx, struct tm_error *err)
{
	struct gw_pg *s = state;
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT c.tenant, c.fingerprint, u.address, u.serial, u.reason, u.since_unix, u.detail,"
		" c.generated_unix FROM collector_unreachable u JOIN collector_status c USING (fingerprint)"
		" ORDER BY c.tenant COLLATE \"C\", u.address COLLATE \"C\", c.fingerprint COLLATE \"C\"",
		NULL, &r, "list unreachable devices", err);
	if (rc != GW_STORE_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		struct gw_unreachable_row u;
		unreachable_row(r, i, &u);
		if (cb(ctx, &u) != 0)
			break;
	}
	PQclear(r);
	return GW_STORE_OK;
}

int gw_pg_collector_bindings(void *state, gw_store_collector_binding_cb cb, void *ctx,
			     struct tm_error *err)
{
	struct gw_pg *s = state;
	PGresult *r;
	int rc = gw_pg_exec(&s->c,
		"SELECT c.fingerprint, c.tenant, b.serial, COALESCE(st.generated_unix, 0),"
		" COALESCE(c.revoked_at, 0) FROM certificates c"
		" JOIN cert_devices b ON b.fingerprint = c.fingerprint"
		" LEFT JOIN collector_status st ON st.fingerprint = c.fingerprint"
		" WHERE c.role = 'collector'"
		" ORDER BY c.fingerprint COLLATE \"C\", b.serial COLLATE \"C\"",
		NULL, &r, "list collector bindings", err);
	if (rc != GW_STORE_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		struct gw_collector_binding_row b;
		memset(&b, 0, sizeof(b));
		gw_pg_col_text(r, i, 0, b.fingerprint, sizeof(b.fingerprint));
		gw_pg_col_text(r, i, 1, b.tenant, sizeof(b.tenant));
		gw_pg_col_text(r, i, 2, b.serial, sizeof(b.serial));
		b.heartbeat = gw_pg_col_int(r, i, 3);
		b.revoked_at = gw_pg_col_int(r, i, 4);
		if (cb(ctx, &b) != 0) {
			rc = 1;
			break;
		}
	}
	PQclear(r);
	return rc;
}

/* telemail-mailgw — the PostgreSQL back end's registry primitives (tenants,
 * certificates, device bindings). The rules are in registry.c; these only
 * read and write rows. A write that may hit a key runs under a savepoint
 * (gw_pg_exec_safe): its failure leaves the transaction usable, as in
 * SQLite. */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>

#include "store/postgresql/store_pg.h"

#define CERT_COLS                                                                      \
	"fingerprint, role, tenant, serial, subject, not_after, enrolled_at, revoked_at," \
	" (SELECT count(*) FROM cert_devices d WHERE d.fingerprint = c.fingerprint)"
#define DEVICE_COLS                                                                    \
	"serial, tenant, enrolled_at, last_seq, last_report_id, last_seen, last_received," \
	" model, state, last_seen_nsec, manufacturer"

/* A registry write: a key already there, a missing row it refers to. */
static int write(struct gw_pg *s, const char *sql, const struct gw_pg_params *p, PGresult **res,
		 const char *what, struct tm_error *err)
{
	struct tm_error e = {0};
	int rc = gw_pg_exec_safe(&s->c, sql, p, res, what, &e);
	if (rc != GW_STORE_ERROR) {
		if (rc != GW_STORE_OK)
			*err = e;
		return rc;
	}
	const char *state = s->c.last_sqlstate;
	if (strcmp(state, "23505") == 0)
		return tm_error_set(err, "registry.exists", "%s: already in the registry", what);
	if (strcmp(state, "23503") == 0)
		return tm_error_set(err, "registry.not_found", "%s: refers to a missing row", what);
	if (strncmp(state, "23", 2) == 0)
		return tm_error_set(err, "registry.bad_value", "%s: %s", what, e.msg);
	*err = e;
	return rc;
}

static void tenant_row(const PGresult *r, int i, struct gw_tenant_row *t)
{
	memset(t, 0, sizeof(*t));
	gw_pg_col_text(r, i, 0, t->name, sizeof(t->name));
	gw_pg_col_text(r, i, 1, t->parent, sizeof(t->parent));
	t->created_at = gw_pg_col_int(r, i, 2);
}

static void cert_row(const PGresult *r, int i, struct gw_cert_row *c)
{
	char role[16];
	memset(c, 0, sizeof(*c));
	gw_pg_col_text(r, i, 0, c->fingerprint, sizeof(c->fingerprint));
	gw_pg_col_text(r, i, 1, role, sizeof(role));
	c->role = strcmp(role, "collector") == 0 ? GW_ROLE_COLLECTOR : GW_ROLE_DEVICE;
	gw_pg_col_text(r, i, 2, c->tenant, sizeof(c->tenant));
	gw_pg_col_text(r, i, 3, c->serial, sizeof(c->serial));
	gw_pg_col_text(r, i, 4, c->subject, sizeof(c->subject));
	c->not_after = gw_pg_col_int(r, i, 5);
	c->enrolled_at = gw_pg_col_int(r, i, 6);
	c->revoked_at = gw_pg_col_int(r, i, 7);
	c->n_devices = (size_t)gw_pg_col_int(r, i, 8);
}

static void device_row(const PGresult *r, int i, struct gw_device_row *d)
{
	memset(d, 0, sizeof(*d));
	gw_pg_col_text(r, i, 0, d->serial, sizeof(d->serial));
	gw_pg_col_text(r, i, 1, d->tenant, sizeof(d->tenant));
	d->enrolled_at = gw_pg_col_int(r, i, 2);
	d->last_seq = gw_pg_col_int(r, i, 3);
	gw_pg_col_text(r, i, 4, d->last_report_id, sizeof(d->last_report_id));
	d->last_seen = gw_pg_col_int(r, i, 5);
	d->last_received = gw_pg_col_int(r, i, 6);
	gw_pg_col_text(r, i, 7, d->model, sizeof(d->model));
	gw_pg_col_text(r, i, 8, d->state, sizeof(d->state));
	d->last_seen_nsec = (int32_t)gw_pg_col_int(r, i, 9);
	gw_pg_col_text(r, i, 10, d->manufacturer, sizeof(d->manufacturer));
}

/* a certificate by fingerprint, a device by serial, a collector's binding */
#define CERT_SQL "SELECT " CERT_COLS " FROM certificates c WHERE fingerprint = $1"
#define DEVICE_SQL "SELECT " DEVICE_COLS " FROM devices WHERE serial = $1"
#define BINDING_SQL "SELECT 1 FROM cert_devices WHERE fingerprint = $1 AND serial = $2"

/* One-row lookup by one or two text keys. */
static int get_one(struct gw_pg *s, const char *sql, const char *k1, const char *k2,
		   PGresult **res, bool *found, const char *what, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, k1);
	if (k2 != NULL)
		gw_pg_text(&p, k2);
	*found = false;
	int rc = gw_pg_exec(&s->c, sql, &p, res, what, err);
	if (rc == GW_STORE_OK)
		*found = PQntuples(*res) > 0;
	return rc;
}

int gw_pg_tenant_add(void *state, const char *name, const char *parent, int64_t now,
		     struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, name);
	gw_pg_opt_text(&p, parent);
	gw_pg_int(&p, now);
	return write(state, "INSERT INTO tenants (name, parent, created_at) VALUES ($1, $2, $3)", &p,
		     NULL, "tenant", err);
}

int gw_pg_tenant_get(void *state, const char *name, struct gw_tenant_row *out, bool *found,
		     struct tm_error *err)
{
	PGresult *r;
	int rc = get_one(state, "SELECT name, parent, created_at FROM tenants WHERE name = $1", name,
			 NULL, &r, found, "read tenant", err);
	if (rc == GW_STORE_OK) {
		if (*found)
			tenant_row(r, 0, out);
		PQclear(r);
	}
	return rc;
}

int gw_pg_tenant_set_parent(void *state, const char *name, const char *parent,
			    struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, name);
	gw_pg_opt_text(&p, parent);
	PGresult *r;
	int rc = write(state, "UPDATE tenants SET parent = $2 WHERE name = $1", &p, &r,
		       "tenant parent", err);
	if (rc != GW_STORE_OK)
		return rc;
	bool none = strcmp(PQcmdTuples(r), "0") == 0;
	PQclear(r);
	if (none)
		return tm_error_set(err, "registry.not_found", "tenant '%s': not in the registry",
				    name);
	return GW_STORE_OK;
}

int gw_pg_cert_add(void *state, const struct gw_cert_row *c, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, c->fingerprint);
	gw_pg_text(&p, c->role == GW_ROLE_COLLECTOR ? "collector" : "device");
	gw_pg_text(&p, c->tenant);
	gw_pg_opt_text(&p, c->serial);
	gw_pg_opt_text(&p, c->subject);
	gw_pg_opt_int(&p, c->not_after, 0);
	gw_pg_int(&p, c->enrolled_at);
	return write(state,
		     "INSERT INTO certificates (fingerprint, role, tenant, serial, subject, not_after,"
		     " enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", &p, NULL, "certificate",
		     err);
}

int gw_pg_cert_get(void *state, const char *fingerprint, struct gw_cert_row *out, bool *found,
		   struct tm_error *err)
{
	PGresult *r;
	int rc = get_one(state, CERT_SQL, fingerprint, NULL, &r, found, "read certificate", err);
	if (rc == GW_STORE_OK) {
		if (*found)
			cert_row(r, 0, out);
		PQclear(r);
	}
	return rc;
}

int gw_pg_cert_revoke(void *state, const char *fingerprint, int64_t at, struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, fingerprint);
	gw_pg_int(&p, at);
	return write(state,
		     "UPDATE certificates SET revoked_at = $2 WHERE fingerprint = $1"
		     " AND revoked_at IS NULL", &p, NULL, "revoke certificate", err);
}

int gw_pg_binding_add(void *state, const char *fingerprint, const char *serial,
		      struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, fingerprint);
	gw_pg_text(&p, serial);
	return write(state,
		     "INSERT INTO cert_devices (fingerprint, serial) VALUES ($1, $2)"
		     " ON CONFLICT DO NOTHING", &p, NULL, "device binding", err);
}

int gw_pg_binding_has(void *state, const char *fingerprint, const char *serial, bool *found,
		      struct tm_error *err)
{
	PGresult *r;
	int rc = get_one(state, BINDING_SQL, fingerprint, serial, &r, found, "read device binding",
			 err);
	if (rc == GW_STORE_OK)
		PQclear(r);
	return rc;
}

int gw_pg_device_add(void *state, const char *serial, const char *tenant, int64_t now,
		     struct tm_error *err)
{
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	gw_pg_text(&p, tenant);
	gw_pg_int(&p, now);
	return write(state, "INSERT INTO devices (serial, tenant, enrolled_at) VALUES ($1, $2, $3)",
		     &p, NULL, "device", err);
}

int gw_pg_device_get(void *state, const char *serial, struct gw_device_row *out, bool *found,
		     struct tm_error *err)
{
	PGresult *r;
	int rc = get_one(state, DEVICE_SQL, serial, NULL, &r, found, "read device", err);
	if (rc == GW_STORE_OK) {
		if (*found)
			device_row(r, 0, out);
		PQclear(r);
	}
	return rc;
}

/* The three lookups of cert_get, device_get and binding_has in one pipe. */
int gw_pg_signer_get(void *state, const char *fingerprint, const char *serial,
		     struct gw_signer_rows *out, struct tm_error *err)
{
	struct gw_pg_conn *c = &((struct gw_pg *)state)->c;
	struct gw_pg_pipe pp;
	int rc = gw_pg_pipe_begin(c, &pp, err);
	if (rc != GW_STORE_OK)
		return rc;
	int s_cert = -1, s_dev = -1, s_bind = -1;
	struct gw_pg_params p;
	gw_pg_params_init(&p);
	gw_pg_text(&p, fingerprint);
	rc = gw_pg_pipe_send(c, CERT_SQL, &p, true, "read certificate", &s_cert, err);
	gw_pg_params_init(&p);
	gw_pg_text(&p, serial);
	if (rc == GW_STORE_OK)
		rc = gw_pg_pipe_send(c, DEVICE_SQL, &p, true, "read device", &s_dev, err);
	gw_pg_params_init(&p);
	gw_pg_text(&p, fingerprint);
	gw_pg_text(&p, serial);
	if (rc == GW_STORE_OK)
		rc = gw_pg_pipe_send(c, BINDING_SQL, &p, true, "read device binding", &s_bind, err);
	struct tm_error serr = {0};
	int src = gw_pg_pipe_sync(c, rc == GW_STORE_OK ? err : &serr);
	if (rc == GW_STORE_OK)
		rc = src;
	if (rc == GW_STORE_OK) {
		if ((out->cert_found = PQntuples(pp.res[s_cert]) > 0))
			cert_row(pp.res[s_cert], 0, &out->cert);
		if ((out->device_found = PQntuples(pp.res[s_dev]) > 0))
			device_row(pp.res[s_dev], 0, &out->device);
		out->bound = out->cert_found && out->cert.role != GW_ROLE_DEVICE &&
			     PQntuples(pp.res[s_bind]) > 0;
	}
	gw_pg_pipe_clear(&pp);
	return rc;
}

/* Listing: each row to the callback; a non-zero result stops the walk and
 * is returned. Byte order (COLLATE "C"), as SQLite sorts. */
#define LIST(sql, rowtype, fill, what)                                                 \
	struct gw_pg *s = state;                                                       \
	PGresult *r;                                                                   \
	int rc = gw_pg_exec(&s->c, sql, NULL, &r, what, err);                          \
	if (rc != GW_STORE_OK)                                                         \
		return rc;                                                             \
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {                            \
		rowtype row;                                                           \
		fill(r, i, &row);                                                      \
		rc = cb(ctx, &row);                                                    \
	}                                                                              \
	PQclear(r);                                                                    \
	return rc;

int gw_pg_tenant_list(void *state, gw_store_tenant_cb cb, void *ctx, struct tm_error *err)
{
	LIST("SELECT name, parent, created_at FROM tenants ORDER BY name COLLATE \"C\"",
	     struct gw_tenant_row, tenant_row, "list tenants")
}

int gw_pg_cert_list(void *state, gw_store_cert_cb cb, void *ctx, struct tm_error *err)
{
	LIST("SELECT " CERT_COLS " FROM certificates c"
	     " ORDER BY tenant COLLATE \"C\", enrolled_at, fingerprint COLLATE \"C\"",
	     struct gw_cert_row, cert_row, "list certificates")
}

int gw_pg_device_list(void *state, gw_store_device_cb cb, void *ctx, struct tm_error *err)
{
	LIST("SELECT " DEVICE_COLS " FROM devices ORDER BY tenant COLLATE \"C\", serial COLLATE \"C\"",
	     struct gw_device_row, device_row, "list devices")
}

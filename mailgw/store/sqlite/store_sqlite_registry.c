/* telemail-mailgw — the SQLite back end's registry primitives (tenants,
 * certificates, device bindings). The rules (roles, cycles, limits) are in
 * registry.c; these only read and write rows. */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>

#include "store/sqlite/store_sqlite.h"

static int step_write(struct gw_sq *q, sqlite3_stmt *s, const char *what, struct tm_error *err)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return GW_STORE_OK;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		int ext = rc;
		if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
			tm_error_set(err, "registry.exists", "%s: already in the registry", what);
		else if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
			tm_error_set(err, "registry.not_found", "%s: refers to a missing row", what);
		else
			tm_error_set(err, "registry.bad_value", "%s: %s", what, sqlite3_errmsg(q->db));
		return GW_STORE_ERROR;
	}
	return gw_sq_fail(q, rc, what, err);
}

static void tenant_row(sqlite3_stmt *s, struct gw_tenant_row *t)
{
	memset(t, 0, sizeof(*t));
	gw_sq_col_text(s, 0, t->name, sizeof(t->name));
	gw_sq_col_text(s, 1, t->parent, sizeof(t->parent));
	t->created_at = sqlite3_column_int64(s, 2);
}

static void cert_row(sqlite3_stmt *s, struct gw_cert_row *c)
{
	char role[16];
	memset(c, 0, sizeof(*c));
	gw_sq_col_text(s, 0, c->fingerprint, sizeof(c->fingerprint));
	gw_sq_col_text(s, 1, role, sizeof(role));
	c->role = strcmp(role, "collector") == 0 ? GW_ROLE_COLLECTOR : GW_ROLE_DEVICE;
	gw_sq_col_text(s, 2, c->tenant, sizeof(c->tenant));
	gw_sq_col_text(s, 3, c->serial, sizeof(c->serial));
	gw_sq_col_text(s, 4, c->subject, sizeof(c->subject));
	c->not_after = sqlite3_column_int64(s, 5);
	c->enrolled_at = sqlite3_column_int64(s, 6);
	c->revoked_at = sqlite3_column_int64(s, 7);
	c->n_devices = (size_t)sqlite3_column_int64(s, 8);
}

static void device_row(sqlite3_stmt *s, struct gw_device_row *d)
{
	memset(d, 0, sizeof(*d));
	gw_sq_col_text(s, 0, d->serial, sizeof(d->serial));
	gw_sq_col_text(s, 1, d->tenant, sizeof(d->tenant));
	d->enrolled_at = sqlite3_column_int64(s, 2);
	d->last_seq = sqlite3_column_int64(s, 3);
	gw_sq_col_text(s, 4, d->last_report_id, sizeof(d->last_report_id));
	d->last_seen = sqlite3_column_int64(s, 5);
	d->last_seen_nsec = (int32_t)sqlite3_column_int64(s, 9);
	d->last_received = sqlite3_column_int64(s, 6);
	gw_sq_col_text(s, 7, d->model, sizeof(d->model));
	gw_sq_col_text(s, 8, d->state, sizeof(d->state));
	gw_sq_col_text(s, 10, d->manufacturer, sizeof(d->manufacturer));
}

/* One-row lookup by a text key; `fill` copies the row. */
static int get_one(struct gw_sq *q, enum gw_sq_stmt which, const char *k1, const char *k2,
		   void (*fill)(sqlite3_stmt *, void *), void *out, bool *found,
		   const char *what, struct tm_error *err)
{
	sqlite3_stmt *s = gw_sq_stmt(q, which, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, k1);
	if (k2 != NULL)
		gw_sq_bind_text(s, 2, k2);
	*found = false;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (fill != NULL)
			fill(s, out);
		*found = true;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return gw_sq_fail(q, rc, what, err);
	return GW_STORE_OK;
}

static void fill_tenant(sqlite3_stmt *s, void *out)
{
	tenant_row(s, out);
}

static void fill_cert(sqlite3_stmt *s, void *out)
{
	cert_row(s, out);
}

static void fill_device(sqlite3_stmt *s, void *out)
{
	device_row(s, out);
}

int gw_sq_tenant_add(void *state, const char *name, const char *parent, int64_t now,
		     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_TENANT_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, name);
	gw_sq_bind_text(s, 2, parent != NULL && parent[0] != '\0' ? parent : NULL);
	gw_sq_bind_int(s, 3, now);
	return step_write(q, s, "tenant", err);
}

int gw_sq_tenant_get(void *state, const char *name, struct gw_tenant_row *out, bool *found,
		     struct tm_error *err)
{
	return get_one(state, SQ_TENANT_GET, name, NULL, fill_tenant, out, found, "read tenant",
		       err);
}

int gw_sq_tenant_set_parent(void *state, const char *name, const char *parent,
			    struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_TENANT_SET_PARENT, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, name);
	gw_sq_bind_text(s, 2, parent != NULL && parent[0] != '\0' ? parent : NULL);
	int rc = step_write(q, s, "tenant parent", err);
	if (rc == GW_STORE_OK && sqlite3_changes(q->db) == 0)
		return tm_error_set(err, "registry.not_found", "tenant '%s': not in the registry",
				    name);
	return rc;
}

int gw_sq_cert_add(void *state, const struct gw_cert_row *c, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_CERT_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, c->fingerprint);
	gw_sq_bind_text(s, 2, c->role == GW_ROLE_COLLECTOR ? "collector" : "device");
	gw_sq_bind_text(s, 3, c->tenant);
	gw_sq_bind_text(s, 4, c->serial[0] != '\0' ? c->serial : NULL);
	gw_sq_bind_text(s, 5, c->subject[0] != '\0' ? c->subject : NULL);
	gw_sq_bind_opt_int(s, 6, c->not_after, 0);
	gw_sq_bind_int(s, 7, c->enrolled_at);
	return step_write(q, s, "certificate", err);
}

int gw_sq_cert_get(void *state, const char *fingerprint, struct gw_cert_row *out, bool *found,
		   struct tm_error *err)
{
	return get_one(state, SQ_CERT_GET, fingerprint, NULL, fill_cert, out, found,
		       "read certificate", err);
}

int gw_sq_cert_revoke(void *state, const char *fingerprint, int64_t at, struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_CERT_REVOKE, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, fingerprint);
	gw_sq_bind_int(s, 2, at);
	return step_write(q, s, "revoke certificate", err);
}

int gw_sq_binding_add(void *state, const char *fingerprint, const char *serial,
		      struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_BINDING_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, fingerprint);
	gw_sq_bind_text(s, 2, serial);
	return step_write(q, s, "device binding", err);
}

int gw_sq_binding_has(void *state, const char *fingerprint, const char *serial, bool *found,
		      struct tm_error *err)
{
	return get_one(state, SQ_BINDING_HAS, fingerprint, serial, NULL, NULL, found,
		       "read device binding", err);
}

int gw_sq_device_add(void *state, const char *serial, const char *tenant, int64_t now,
		     struct tm_error *err)
{
	struct gw_sq *q = state;
	sqlite3_stmt *s = gw_sq_stmt(q, SQ_DEVICE_ADD, err);
	if (s == NULL)
		return GW_STORE_ERROR;
	gw_sq_bind_text(s, 1, serial);
	gw_sq_bind_text(s, 2, tenant);
	gw_sq_bind_int(s, 3, now);
	return step_write(q, s, "device", err);
}

int gw_sq_device_get(void *state, const char *serial, struct gw_device_row *out, bool *found,
		     struct tm_error *err)
{
	return get_one(state, SQ_DEVICE_GET, serial, NULL, fill_device, out, found, "read device",
		       err);
}

/* Listing: each row goes to the callback; a non-zero callback result stops
 * the walk and is returned. */
#define LIST_BODY(which, rowtype, fillrow, what)                                  \
	struct gw_sq *q = state;                                                  \
	sqlite3_stmt *s = gw_sq_stmt(q, which, err);                              \
	if (s == NULL)                                                            \
		return GW_STORE_ERROR;                                            \
	int rc;                                                                   \
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {                            \
		rowtype row;                                                      \
		fillrow(s, &row);                                                 \
		int stop = cb(ctx, &row);                                         \
		if (stop != 0) {                                                  \
			sqlite3_reset(s);                                         \
			return stop;                                              \
		}                                                                 \
	}                                                                         \
	sqlite3_reset(s);                                                         \
	if (rc != SQLITE_DONE)                                                    \
		return gw_sq_fail(q, rc, what, err);                              \
	return GW_STORE_OK;

int gw_sq_tenant_list(void *state, gw_store_tenant_cb cb, void *ctx, struct tm_error *err)
{
	LIST_BODY(SQ_TENANT_LIST, struct gw_tenant_row, tenant_row, "list tenants")
}

int gw_sq_cert_list(void *state, gw_store_cert_cb cb, void *ctx, struct tm_error *err)
{
	LIST_BODY(SQ_CERT_LIST, struct gw_cert_row, cert_row, "list certificates")
}

int gw_sq_device_list(void *state, gw_store_device_cb cb, void *ctx, struct tm_error *err)
{
	LIST_BODY(SQ_DEVICE_LIST, struct gw_device_row, device_row, "list devices")
}

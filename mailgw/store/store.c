/* telemail-mailgw — store dispatch and shared helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/report.h>
#include <telemail/time.h>

#include "store/quarantine.h"
#include "store/store.h"
#include "store/store_private.h"

static const struct gw_store_ops *const backends[] = {
	&gw_store_sqlite_ops,
	&gw_store_pg_ops,
};

static const char *const outcome_names[] = {
	[GW_OUTCOME_STORED] = "stored",
	[GW_OUTCOME_DUPLICATE] = "duplicate",
	[GW_OUTCOME_QUARANTINED] = "quarantined",
	[GW_OUTCOME_DEFERRED] = "deferred",
};

static const char *const alert_state_names[] = { "open", "acknowledged", "resolved" };

const char *gw_alert_state_name(enum gw_alert_state s)
{
	return (unsigned)s <= GW_ALERT_RESOLVED ? alert_state_names[s] : "?";
}

const char *gw_outcome_name(enum gw_outcome o)
{
	if ((unsigned)o >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "?";
	return outcome_names[o];
}

int gw_outcome_parse(const char *s, enum gw_outcome *out)
{
	for (size_t i = 0; i < sizeof(outcome_names) / sizeof(outcome_names[0]); i++)
		if (s != NULL && strcmp(s, outcome_names[i]) == 0) {
			*out = (enum gw_outcome)i;
			return 0;
		}
	return -1;
}

/* The back end named by o->backend ("sqlite" when none). */
static const struct gw_store_ops *find_backend(const struct gw_store_options *o,
					       struct tm_error *err)
{
	const char *name = o->backend != NULL ? o->backend : "sqlite";
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	tm_error_set(err, "config.bad_value", "store.backend: unknown back end '%s'", name);
	return NULL;
}

int gw_store_open(const struct gw_store_options *o, struct gw_store **out, struct tm_error *err)
{
	*out = NULL;
	const struct gw_store_ops *ops = find_backend(o, err);
	if (ops == NULL)
		return GW_STORE_ERROR;
	struct gw_store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return tm_error_set(err, "internal.nomem", "store: out of memory");
	st->ops = ops;
	st->forward = o->forward;
	int rc = ops->open(o, &st->be, err);
	if (rc != GW_STORE_OK) {
		free(st);
		return rc;
	}
	*out = st;
	return GW_STORE_OK;
}

void gw_store_close(struct gw_store *st)
{
	if (st == NULL)
		return;
	if (st->in_batch)
		st->ops->rollback(st->be);
	st->ops->close(st->be);
	free(st);
}

const char *gw_store_backend(const struct gw_store *st)
{
	return st->ops->name;
}

bool gw_store_remote(const struct gw_store *st)
{
	return st->ops->remote;
}

int gw_store_schema_version(struct gw_store *st, int *in_db, int *known, struct tm_error *err)
{
	return st->ops->schema_version(st->be, in_db, known, err);
}

int gw_store_migrate(struct gw_store *st, struct tm_error *err)
{
	if (st->in_batch)
		return tm_error_set(err, "internal.bug", "store: migrate inside a batch");
	return st->ops->migrate(st->be, err);
}

int gw_store_refuse_newer(const char *where, int in_db, int known, struct tm_error *err)
{
	tm_error_set(err, "store.version",
		     "%s: schema version %d is newer than this program's %d: it was written by a "
		     "newer telemail-mailgw; run that version (or restore a backup of version %d)",
		     where, in_db, known, known);
	return GW_STORE_ERROR;
}

bool gw_store_in_batch(const struct gw_store *st)
{
	return st->in_batch;
}

int gw_store_begin(struct gw_store *st, struct tm_error *err)
{
	if (st->in_batch)
		return tm_error_set(err, "internal.bug", "store: begin inside an open batch");
	int rc = st->ops->begin(st->be, err);
	if (rc == GW_STORE_OK)
		st->in_batch = true;
	return rc;
}

int gw_store_commit(struct gw_store *st, struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: commit without begin");
	int rc = st->ops->commit(st->be, err);
	if (rc == GW_STORE_OK)
		st->in_batch = false;
	/* a failed commit leaves the batch open: the caller rolls back */
	return rc;
}

void gw_store_rollback(struct gw_store *st)
{
	if (!st->in_batch)
		return;
	st->ops->rollback(st->be);
	st->in_batch = false;
}

int gw_store_item_begin(struct gw_store *st, struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: item outside a batch");
	return st->ops->item_begin(st->be, err);
}

int gw_store_item_end(struct gw_store *st, bool keep, struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: item outside a batch");
	return st->ops->item_end(st->be, keep, err);
}

int gw_store_lock_devices(struct gw_store *st, const char *const *serials, size_t n,
			  struct tm_error *err)
{
	if (!st->in_batch)
		return tm_error_set(err, "internal.bug", "store: lock devices outside a batch");
	if (st->ops->lock_devices == NULL || n == 0)
		return GW_STORE_OK;
	return st->ops->lock_devices(st->be, serials, n, err);
}

bool gw_store_is_sha256_hex(const char *s)
{
	if (s == NULL)
		return false;
	size_t i = 0;
	for (; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* The relational rows are keyed by supply index and vendor counter id; the
 * schema does not make those unique, so a repeat is refused here by name
 * rather than lost to a primary key. */
static int check_unique_keys(const struct tm_report *rep, struct tm_error *err)
{
	for (size_t i = 0; i < rep->n_supplies; i++)
		for (size_t j = i + 1; j < rep->n_supplies; j++)
			if (rep->supplies[i].index == rep->supplies[j].index)
				return tm_error_set(err, "report.schema",
						    "supplies/%zu/index: %lld already used by supplies/%zu",
						    j, (long long)rep->supplies[j].index, i);
	for (size_t i = 0; i < rep->n_vendor; i++)
		for (size_t j = i + 1; j < rep->n_vendor; j++)
			if (rep->vendor[i].id != NULL && rep->vendor[j].id != NULL &&
			    strcmp(rep->vendor[i].id, rep->vendor[j].id) == 0)
				return tm_error_set(err, "report.schema",
						    "counters/vendor/%zu/id: '%s' already used by counters/vendor/%zu",
						    j, rep->vendor[j].id, i);
	for (size_t i = 0; i < rep->n_diagnostics; i++)
		for (size_t j = i + 1; j < rep->n_diagnostics; j++)
			if (strcmp(rep->diagnostics[i].name, rep->diagnostics[j].name) == 0)
				return tm_error_set(err, "report.schema",
						    "diagnostics/%s: appears twice", rep->diagnostics[j].name);
	return 0;
}

static int check_record(const struct gw_store_record *r, struct tm_error *err)
{
	const struct tm_report *rep = r->report;
	if (rep == NULL || r->json == NULL || r->json_len == 0)
		return tm_error_set(err, "internal.bug", "store: record without report or JSON");
	if (!short_text(rep->id, GW_NAME_MAX))
		return tm_error_set(err, "report.schema", "report/id: missing or longer than %d bytes",
				    GW_NAME_MAX);
	if (!short_text(rep->serial, GW_NAME_MAX))
		return tm_error_set(err, "report.schema",
				    "device/serial: missing or longer than %d bytes", GW_NAME_MAX);
	if (rep->seq < 1)
		return tm_error_set(err, "report.schema", "report/seq: must be >= 1");
	if (!short_text(rep->generated_at, 40))
		return tm_error_set(err, "report.schema", "report/generated_at: missing");
	if (!short_text(r->tenant, GW_NAME_MAX))
		return tm_error_set(err, "internal.bug", "store: record without tenant");
	if (!gw_store_is_sha256_hex(r->raw_sha256))
		return tm_error_set(err, "internal.bug", "store: raw_sha256 is not 64 hex digits");
	if (r->fingerprint != NULL && r->fingerprint[0] != '\0' &&
	    !gw_store_is_sha256_hex(r->fingerprint))
		return tm_error_set(err, "internal.bug", "store: fingerprint is not 64 hex digits");
	if (r->message_id != NULL && strnlen(r->message_id, GW_MESSAGE_ID_MAX + 1) > GW_MESSAGE_ID_MAX)
		return tm_error_set(err, "internal.bug", "store: message id longer than %d bytes",
				    GW_MESSAGE_ID_MAX);
	return check_unique_keys(rep, err);
}

int gw_store_put(struct gw_store *st, const struct gw_store_record *r, struct gw_put_info *info,
		 struct tm_error *err)
{
	memset(info, 0, sizeof(*info));
	if (check_record(r, err) < 0)
		return GW_STORE_ERROR;
	if (st->in_batch)
		return st->ops->put(st->be, r, info, err);
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = st->ops->put(st->be, r, info, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

int gw_store_log(struct gw_store *st, const struct gw_msglog_entry *e, struct tm_error *err)
{
	if (!gw_store_is_sha256_hex(e->raw_sha256))
		return tm_error_set(err, "internal.bug", "store: log: raw_sha256 is not 64 hex digits");
	if (e->message_id != NULL && strnlen(e->message_id, GW_MESSAGE_ID_MAX + 1) > GW_MESSAGE_ID_MAX)
		return tm_error_set(err, "internal.bug", "store: log: message id too long");
	if ((unsigned)e->outcome > GW_OUTCOME_DEFERRED)
		return tm_error_set(err, "internal.bug", "store: log: bad outcome");
	return st->ops->log(st->be, e, err);
}

int gw_store_msglog_get(struct gw_store *st, const char *raw_sha256, const char *message_id,
			struct gw_msglog_row *out, bool *found, struct tm_error *err)
{
	*found = false;
	return st->ops->msglog_get(st->be, raw_sha256, message_id != NULL ? message_id : "", out,
				   found, err);
}

int gw_store_report_get(struct gw_store *st, const char *report_id, struct gw_report_ref *out,
			bool *found, struct tm_error *err)
{
	*found = false;
	return st->ops->report_get(st->be, report_id, out, found, err);
}

int gw_store_unreachable_list(struct gw_store *st, gw_store_unreachable_cb cb, void *ctx,
			      struct tm_error *err)
{
	return st->ops->unreachable_list(st->be, cb, ctx, err);
}

int gw_store_collector_bindings(struct gw_store *st, gw_store_collector_binding_cb cb, void *ctx,
				struct tm_error *err)
{
	if (st->ops->collector_bindings == NULL)
		return gw_store_unsupported(st, "collector_bindings", err);
	return st->ops->collector_bindings(st->be, cb, ctx, err);
}

int gw_store_tenant_add(struct gw_store *st, const char *name, const char *parent, int64_t now,
			struct tm_error *err)
{
	return st->ops->tenant_add(st->be, name, parent, now, err);
}

int gw_store_tenant_get(struct gw_store *st, const char *name, struct gw_tenant_row *out,
			bool *found, struct tm_error *err)
{
	return st->ops->tenant_get(st->be, name, out, found, err);
}

int gw_store_tenant_set_parent(struct gw_store *st, const char *name, const char *parent,
			       struct tm_error *err)
{
	return st->ops->tenant_set_parent(st->be, name, parent, err);
}

int gw_store_tenant_list(struct gw_store *st, gw_store_tenant_cb cb, void *ctx,
			 struct tm_error *err)
{
	return st->ops->tenant_list(st->be, cb, ctx, err);
}

int gw_store_cert_add(struct gw_store *st, const struct gw_cert_row *c, struct tm_error *err)
{
	return st->ops->cert_add(st->be, c, err);
}

int gw_store_cert_get(struct gw_store *st, const char *fingerprint, struct gw_cert_row *out,
		      bool *found, struct tm_error *err)
{
	return st->ops->cert_get(st->be, fingerprint, out, found, err);
}

int gw_store_cert_revoke(struct gw_store *st, const char *fingerprint, int64_t at,
			 struct tm_error *err)
{
	return st->ops->cert_revoke(st->be, fingerprint, at, err);
}

int gw_store_cert_list(struct gw_store *st, gw_store_cert_cb cb, void *ctx, struct tm_error *err)
{
	return st->ops->cert_list(st->be, cb, ctx, err);
}

int gw_store_binding_add(struct gw_store *st, const char *fingerprint, const char *serial,
			 struct tm_error *err)
{
	return st->ops->binding_add(st->be, fingerprint, serial, err);
}

int gw_store_binding_has(struct gw_store *st, const char *fingerprint, const char *serial,
			 bool *found, struct tm_error *err)
{
	return st->ops->binding_has(st->be, fingerprint, serial, found, err);
}

int gw_store_device_add(struct gw_store *st, const char *serial, const char *tenant, int64_t now,
			struct tm_error *err)
{
	return st->ops->device_add(st->be, serial, tenant, now, err);
}

int gw_store_device_get(struct gw_store *st, const char *serial, struct gw_device_row *out,
			bool *found, struct tm_error *err)
{
	return st->ops->device_get(st->be, serial, out, found, err);
}

int gw_store_signer_get(struct gw_store *st, const char *fingerprint, const char *serial,
			struct gw_signer_rows *out, struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (st->ops->signer_get != NULL)
		return st->ops->signer_get(st->be, fingerprint, serial, out, err);
	int rc = gw_store_cert_get(st, fingerprint, &out->cert, &out->cert_found, err);
	if (rc == GW_STORE_OK)
		rc = gw_store_device_get(st, serial, &out->device, &out->device_found, err);
	if (rc == GW_STORE_OK && out->cert_found && out->cert.role != GW_ROLE_DEVICE)
		rc = gw_store_binding_has(st, fingerprint, serial, &out->bound, err);
	return rc;
}

int gw_store_device_list(struct gw_store *st, gw_store_device_cb cb, void *ctx,
			 struct tm_error *err)
{
	return st->ops->device_list(st->be, cb, ctx, err);
}

int gw_store_alert_find_active(struct gw_store *st, const char *serial, const char *kind,
			       const char *subject, struct gw_alert_row *out, bool *found,
			       struct tm_error *err)
{
	return st->ops->alert_find_active(st->be, serial, kind, subject, out, found, err);
}

int gw_store_alert_insert(struct gw_store *st, struct gw_alert_row *a, struct tm_error *err)
{
	return st->ops->alert_insert(st->be, a, err);
}

int gw_store_alert_update(struct gw_store *st, const struct gw_alert_row *a, struct tm_error *err)
{
	return st->ops->alert_update(st->be, a, err);
}

int gw_store_alert_get(struct gw_store *st, int64_t id, struct gw_alert_row *out, bool *found,
		       struct tm_error *err)
{
	return st->ops->alert_get(st->be, id, out, found, err);
}

int gw_store_alert_list(struct gw_store *st, bool active_only, gw_store_alert_cb cb, void *ctx,
			struct tm_error *err)
{
	return st->ops->alert_list(st->be, active_only, cb, ctx, err);
}

int gw_store_mark_get(struct gw_store *st, const char *serial, const char *key,
		      struct gw_mark_row *out, bool *found, struct tm_error *err)
{
	return st->ops->mark_get(st->be, serial, key, out, found, err);
}

int gw_store_mark_set(struct gw_store *st, const char *serial, const char *key,
		      const struct gw_mark_row *m, struct tm_error *err)
{
	return st->ops->mark_set(st->be, serial, key, m, err);
}

int gw_store_alert_repeat(struct gw_store *st, const struct gw_alert_row *a, struct tm_error *err)
{
	return st->ops->alert_repeat(st->be, a, err);
}

int gw_store_alert_list_device(struct gw_store *st, const char *serial, gw_store_alert_cb cb,
			       void *ctx, struct tm_error *err)
{
	return st->ops->alert_list_device(st->be, serial, cb, ctx, err);
}

int gw_store_mark_list(struct gw_store *st, const char *serial, gw_store_mark_cb cb, void *ctx,
		       struct tm_error *err)
{
	return st->ops->mark_list(st->be, serial, cb, ctx, err);
}

int gw_store_device_load(struct gw_store *st, const char *serial, gw_store_mark_cb mark_cb,
			 gw_store_alert_cb alert_cb, void *ctx, int stop[2], struct tm_error *err)
{
	stop[0] = stop[1] = 0;
	if (st->ops->device_load != NULL)
		return st->ops->device_load(st->be, serial, mark_cb, alert_cb, ctx, stop, err);
	int rc = gw_store_mark_list(st, serial, mark_cb, ctx, err);
	if (rc < 0)
		return rc;
	stop[0] = rc;
	rc = gw_store_alert_list_device(st, serial, alert_cb, ctx, err);
	if (rc < 0)
		return rc;
	stop[1] = rc;
	return GW_STORE_OK;
}

int gw_store_mark_set_many(struct gw_store *st, const char *serial,
			   const struct gw_mark_entry *const *marks, size_t n, struct tm_error *err)
{
	return st->ops->mark_set_many(st->be, serial, marks, n, err);
}

int gw_store_notify_add(struct gw_store *st, const struct gw_notify_row *n, bool *added,
			struct tm_error *err)
{
	return st->ops->notify_add(st->be, n, added, err);
}

int gw_store_notify_update(struct gw_store *st, const struct gw_notify_row *n, struct tm_error *err)
{
	return st->ops->notify_update(st->be, n, err);
}

int gw_store_notify_list(struct gw_store *st, enum gw_notify_which which, gw_store_notify_cb cb,
			 void *ctx, struct tm_error *err)
{
	return st->ops->notify_list(st->be, which, cb, ctx, err);
}

int gw_store_audit_last(struct gw_store *st, struct gw_audit_row *out, bool *found,
			struct tm_error *err)
{
	return st->ops->audit_last(st->be, out, found, err);
}

int gw_store_audit_insert(struct gw_store *st, const struct gw_audit_row *a, struct tm_error *err)
{
	return st->ops->audit_insert(st->be, a, err);
}

int gw_store_audit_list(struct gw_store *st, gw_store_audit_cb cb, void *ctx, struct tm_error *err)
{
	return st->ops->audit_list(st->be, cb, ctx, err);
}

int gw_store_meter_list(struct gw_store *st, bool latest, int64_t until, gw_store_meter_cb cb,
			void *ctx, struct tm_error *err)
{
	return st->ops->meter_list(st->be, latest, until, cb, ctx, err);
}

int gw_store_meter_range(struct gw_store *st, int64_t since, int64_t until, gw_store_meter_cb cb,
			 void *ctx, struct tm_error *err)
{
	if (st->ops->meter_range == NULL)
		return st->ops->meter_list(st->be, false, until, cb, ctx, err);
	return st->ops->meter_range(st->be, since, until, cb, ctx, err);
}

/* ---- the quarantine (quarantine.h) ---- */

struct gw_quarantine {
	const struct gw_quarantine_ops *ops;
	void *be;
};

int gw_quarantine_open(const struct gw_store_options *o, struct gw_quarantine **out,
		       struct tm_error *err)
{
	*out = NULL;
	const struct gw_store_ops *ops = find_backend(o, err);
	if (ops == NULL)
		return -1;
	struct gw_quarantine *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return tm_error_set(err, "internal.nomem", "quarantine: out of memory");
	q->ops = ops->quarantine;
	if (q->ops->open(o, &q->be, err) < 0) {
		free(q);
		return -1;
	}
	*out = q;
	return 0;
}

void gw_quarantine_close(struct gw_quarantine *q)
{
	if (q == NULL)
		return;
	q->ops->close(q->be);
	free(q);
}

void gw_quarantine_batch_begin(struct gw_quarantine *q)
{
	if (q != NULL)
		q->ops->batch_begin(q->be);
}

int gw_quarantine_batch_end(struct gw_quarantine *q, bool keep, struct tm_error *err)
{
	if (q == NULL)
		return 0;
	return q->ops->batch_end(q->be, keep, err);
}

/* Metadata fields may quote bad input: keep printable ASCII, '?' for the rest. */
static void clean(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; p != NULL && *p != '\0' && n + 1 < cap; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[n] = '\0';
}

int gw_quarantine_put(struct gw_quarantine *q, const uint8_t *raw, size_t len,
		      const struct gw_quarantine_meta *meta, int64_t now, char id_out[GW_SHA256_HEX],
		      struct tm_error *err)
{
	if (!gw_store_is_sha256_hex(meta->raw_sha256))
		return tm_error_set(err, "internal.bug", "quarantine: raw_sha256 is not 64 hex digits");
	if (tm_reason_lookup(meta->reason) == NULL)
		return tm_error_set(err, "internal.bug", "quarantine: unknown reason code '%.60s'",
				    meta->reason);
	if (len > GW_QUARANTINE_MAX_RAW)
		return tm_error_set(err, "io.too_large",
				    "quarantine: message of %zu bytes is over the %u-byte limit", len,
				    GW_QUARANTINE_MAX_RAW);
	struct gw_quarantine_meta c;   /* the id and printable copies */
	memcpy(c.id, meta->raw_sha256, GW_SHA256_HEX);
	memcpy(c.raw_sha256, meta->raw_sha256, GW_SHA256_HEX);
	memcpy(c.reason, meta->reason, sizeof(c.reason));
	clean(meta->detail, c.detail, sizeof(c.detail));
	clean(meta->message_id, c.message_id, sizeof(c.message_id));
	clean(meta->serial, c.serial, sizeof(c.serial));
	clean(meta->report_id, c.report_id, sizeof(c.report_id));
	c.size = meta->size > len ? meta->size : len;
	c.received_at = meta->received_at;
	c.quarantined_at = now;
	int rc = q->ops->put(q->be, raw, len, &c, now, err);
	if (rc == 0 && id_out != NULL)
		snprintf(id_out, GW_SHA256_HEX, "%s", meta->raw_sha256);
	return rc;
}

/* A full id or a unique prefix of one, to the full id. */
static int resolve(struct gw_quarantine *q, const char *in, char id[GW_SHA256_HEX],
		   struct tm_error *err)
{
	size_t n = in != NULL ? strnlen(in, 65) : 0;
	bool hex = true;
	for (size_t i = 0; i < n; i++)
		hex = hex && ((in[i] >= '0' && in[i] <= '9') || (in[i] >= 'a' && in[i] <= 'f'));
	if (n < GW_QUARANTINE_MIN_PREFIX || n > 64 || !hex)
		return tm_error_set(err, "quarantine.bad_id",
				    "quarantine id '%.70s': want %d to 64 lower-case hex digits",
				    in != NULL ? in : "", GW_QUARANTINE_MIN_PREFIX);
	return q->ops->resolve(q->be, in, id, err);
}

int gw_quarantine_get(struct gw_quarantine *q, const char *id, struct gw_quarantine_meta *meta,
		      struct tm_buf *raw, struct tm_error *err)
{
	char full[GW_SHA256_HEX];
	bool found = false;
	if (resolve(q, id, full, err) < 0 || q->ops->get(q->be, full, meta, raw, &found, err) < 0)
		return -1;
	if (!found)
		return tm_error_set(err, "quarantine.not_found", "quarantine id '%s': removed meanwhile",
				    id);
	return 0;
}

int gw_quarantine_list(struct gw_quarantine *q, gw_quarantine_cb cb, void *ctx,
		       struct tm_error *err)
{
	return q->ops->list(q->be, cb, ctx, err);
}

int gw_quarantine_remove(struct gw_quarantine *q, const char *id, struct tm_error *err)
{
	char full[GW_SHA256_HEX];
	if (resolve(q, id, full, err) < 0)
		return -1;
	return q->ops->remove(q->be, full, err);
}

int gw_quarantine_purge(struct gw_quarantine *q, int64_t cutoff, size_t *removed,
			struct tm_error *err)
{
	*removed = 0;
	return q->ops->purge(q->be, cutoff, removed, err);
}

/* The one RFC 3339 reader, held to UTC ("Z"): a stored time is never local. */
int gw_store_parse_utc_ns(const char *text, const char *what, int64_t *sec, int32_t *nsec,
			  struct tm_error *err)
{
	struct tm_time t;
	if (tm_time_parse(text, &t, NULL) < 0 || !t.zulu)
		return tm_error_set(err, "report.schema", "%s: '%.40s' is not a UTC timestamp",
				    what, text != NULL ? text : "");
	*sec = t.sec;
	*nsec = t.nsec;
	return 0;
}

int gw_store_check_signing_time(const struct tm_report *r, int64_t signing_time,
				int64_t max_skew, struct tm_error *err)
{
	int64_t t;
	if (gw_store_parse_utc(r->generated_at, "report/generated_at", &t, err) < 0)
		return -1;
	if (signing_time == INT64_MIN)
		return tm_error_set(err, "report.signing_time", "the signature has no signing time");
	int64_t d = t > signing_time ? t - signing_time : signing_time - t;
	if (d > max_skew)
		return tm_error_set(err, "report.signing_time",
				    "report/generated_at: %s is %lld s %s the signing time "
				    "(allowed skew %lld s)",
				    r->generated_at, (long long)d,
				    t > signing_time ? "after" : "before", (long long)max_skew);
	return 0;
}

int gw_store_parse_utc(const char *text, const char *what, int64_t *out, struct tm_error *err)
{
	int32_t nsec;
	return gw_store_parse_utc_ns(text, what, out, &nsec, err);
}

int gw_store_time_cmp(int64_t a_sec, int32_t a_nsec, int64_t b_sec, int32_t b_nsec)
{
	if (a_sec != b_sec)
		return a_sec < b_sec ? -1 : 1;
	return a_nsec < b_nsec ? -1 : a_nsec > b_nsec ? 1 : 0;
}

void gw_store_format_utc(int64_t sec, int32_t nsec, char *buf, size_t n)
{
	tm_time_format_ns(sec, nsec, TM_TIME_FRAC_SHORTEST, buf, n);
}

int gw_store_check_future(const struct tm_report *r, int64_t now, int64_t max_skew,
			  struct tm_error *err)
{
	int64_t t;
	int32_t ns;
	if (gw_store_parse_utc_ns(r->generated_at, "report/generated_at", &t, &ns, err) < 0)
		return -1;
	if (gw_store_time_cmp(t, ns, now + max_skew, 0) > 0)
		return tm_error_set(err, "report.future",
				    "report/generated_at: %s is %lld s ahead of the gateway clock "
				    "(allowed skew %lld s)",
				    r->generated_at, (long long)(t - now), (long long)max_skew);
	return 0;
}

int gw_store_unsupported(const struct gw_store *st, const char *op, struct tm_error *err)
{
	tm_error_set(err, "store.unsupported", "the %s store has no %s in this version",
		     st->ops->name, op);
	return GW_STORE_ERROR;
}

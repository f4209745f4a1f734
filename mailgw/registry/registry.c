/* telemail-mailgw — the device registry (rules; rows are in the store). */
#include <stdio.h>
#include <string.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "store/audit.h"
#include "registry/registry.h"


bool gw_registry_tenant_name_ok(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
		if (!alnum && (n == 0 || (*p != '.' && *p != '_' && *p != '-')))
			return false;
	}
	return n <= GW_NAME_MAX;
}

bool gw_registry_serial_ok(const char *serial)
{
	if (serial == NULL || serial[0] == '\0')
		return false;
	size_t n = 0;
	for (const char *p = serial; *p; p++, n++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return n <= GW_NAME_MAX;
}

int gw_registry_fingerprint_norm(const char *in, char out[GW_SHA256_HEX], struct tm_error *err)
{
	size_t n = 0;
	for (const char *p = in != NULL ? in : ""; *p; p++) {
		char c = *p;
		if (c == ':')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n == 64)
			return tm_error_set(err, "registry.bad_value",
					    "fingerprint '%.80s': not a SHA-256 in hex", in);
		out[n++] = c;
	}
	out[n] = '\0';
	if (n != 64)
		return tm_error_set(err, "registry.bad_value",
				    "fingerprint '%.80s': %zu hex digits, want 64", in != NULL ? in : "", n);
	return 0;
}

/* The one wording of each tenant error, for every command and option. */
int gw_registry_tenant_bad_name(const char *name, struct tm_error *err)
{
	return tm_error_set(err, "registry.bad_value",
			    "tenant '%.80s': not a tenant name (" GW_REGISTRY_TENANT_RULE ")",
			    name != NULL ? name : "");
}

int gw_registry_tenant_unknown(const char *name, struct tm_error *err)
{
	return tm_error_set(err, "registry.not_found",
			    "tenant '%.80s': no such tenant (`tenant list` shows them; "
			    "`tenant add` adds one)", name != NULL ? name : "");
}

int gw_registry_tenant_check(struct gw_store *st, const char *name, struct tm_error *err)
{
	if (!gw_registry_tenant_name_ok(name))
		return gw_registry_tenant_bad_name(name, err);
	struct gw_tenant_row t;
	bool found = false;
	int rc = gw_store_tenant_get(st, name, &t, &found, err);
	if (rc == GW_STORE_OK && !found)
		rc = gw_registry_tenant_unknown(name, err);
	return rc;
}

const char *gw_registry_role_name(enum gw_cert_role r)
{
	return r == GW_ROLE_COLLECTOR ? "collector" : "device";
}

int gw_registry_role_parse(const char *s, enum gw_cert_role *out, struct tm_error *err)
{
	if (s != NULL && strcmp(s, "device") == 0)
		*out = GW_ROLE_DEVICE;
	else if (s != NULL && strcmp(s, "collector") == 0)
		*out = GW_ROLE_COLLECTOR;
	else
		return tm_error_set(err, "registry.bad_value",
				    "role '%.40s': want device or collector", s != NULL ? s : "");
	return 0;
}

/* ---- tenants ---- */

/* Walk from `start` to the root; *depth = levels walked, *hit = `target`
 * met on the way (start included). */
static int walk_up(struct gw_store *st, const char *start, const char *target, unsigned *depth,
		   bool *hit, struct tm_error *err)
{
	char cur[GW_NAME_MAX + 1];
	snprintf(cur, sizeof(cur), "%s", start);
	*depth = 0;
	*hit = false;
	while (cur[0] != '\0') {
		if (target != NULL && strcmp(cur, target) == 0)
			*hit = true;
		if (++*depth > GW_REGISTRY_MAX_DEPTH + 1)
			return tm_error_set(err, "registry.tenant_cycle",
					    "tenant '%s': the tree above it is deeper than %d levels",
					    start, GW_REGISTRY_MAX_DEPTH);
		struct gw_tenant_row t;
		bool found;
		int rc = gw_store_tenant_get(st, cur, &t, &found, err);
		if (rc != GW_STORE_OK)
			return rc;
		if (!found)
			return gw_registry_tenant_unknown(cur, err);
		snprintf(cur, sizeof(cur), "%s", t.parent);
	}
	return GW_STORE_OK;
}

/* Run a registry change and its audit entry in one transaction: the one of
 * an open batch, else one of their own. */
static int begin_change(struct gw_store *st, bool *own, struct tm_error *err)
{
	*own = !gw_store_in_batch(st);
	return *own ? gw_store_begin(st, err) : GW_STORE_OK;
}

static int end_change(struct gw_store *st, bool own, int rc, struct tm_error *err)
{
	if (own && rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (own && rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

/* The audit entry of a tenant added (before NULL) or moved: the tenant and
 * its parent before and after, as digests of "name parent". */
static int audit_tenant(struct gw_store *st, const char *action, const char *name,
			const char *before_parent, const char *after_parent, int64_t now,
			struct tm_error *err)
{
	char object[200], facts[160], before[GW_SHA256_HEX], after[GW_SHA256_HEX];
	const char *ap = after_parent != NULL && after_parent[0] ? after_parent : "-";
	if (before_parent == NULL) {
		snprintf(object, sizeof(object), "tenant %s parent %s", name, ap);
	} else {
		const char *bp = before_parent[0] ? before_parent : "-";
		snprintf(object, sizeof(object), "tenant %s parent %s -> %s", name, bp, ap);
		snprintf(facts, sizeof(facts), "%s %s", name, bp);
		gw_audit_digest(facts, before);
	}
	snprintf(facts, sizeof(facts), "%s %s", name, ap);
	gw_audit_digest(facts, after);
	return gw_audit_append(st, NULL, action, object, name,
			       before_parent != NULL ? before : NULL, after, now, err);
}

static int tenant_add_in_tx(struct gw_store *st, const char *name, const char *parent,
			    int64_t now, struct tm_error *err)
{
	if (!gw_registry_tenant_name_ok(name))
		return gw_registry_tenant_bad_name(name, err);
	if (parent != NULL && parent[0] != '\0') {
		if (strcmp(parent, name) == 0)
			return tm_error_set(err, "registry.tenant_cycle",
					    "tenant '%s': cannot be its own parent", name);
		/* the parent's own errors, worded as for any tenant */
		int rc = gw_registry_tenant_check(st, parent, err);
		if (rc != GW_STORE_OK)
			return rc;
		unsigned depth;
		bool hit;
		rc = walk_up(st, parent, NULL, &depth, &hit, err);
		if (rc != GW_STORE_OK)
			return rc;
		if (depth + 1 > GW_REGISTRY_MAX_DEPTH)
			return tm_error_set(err, "registry.tenant_cycle",
					    "tenant '%s': would be level %u, the limit is %d", name,
					    depth + 1, GW_REGISTRY_MAX_DEPTH);
	}
	int rc = gw_store_tenant_add(st, name, parent, now, err);
	if (rc != GW_STORE_OK && err != NULL && err->reason != NULL &&
	    strcmp(err->reason, "registry.exists") == 0)
		tm_error_set(err, "registry.exists", "tenant '%s': already in the registry", name);
	if (rc == GW_STORE_OK)
		rc = audit_tenant(st, "tenant.add", name, NULL, parent, now, err);
	return rc;
}

int gw_registry_tenant_add(struct gw_store *st, const char *name, const char *parent, int64_t now,
			   struct tm_error *err)
{
	bool own;
	int rc = begin_change(st, &own, err);
	if (rc == GW_STORE_OK)
		rc = tenant_add_in_tx(st, name, parent, now, err);
	return end_change(st, own, rc, err);
}

static int set_parent_in_tx(struct gw_store *st, const char *name, const char *parent,
			    int64_t now, struct tm_error *err)
{
	struct gw_tenant_row t;
	bool found;
	int rc = gw_store_tenant_get(st, name != NULL ? name : "", &t, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (!found)
		return gw_registry_tenant_unknown(name, err);
	if (parent != NULL && parent[0] != '\0') {
		rc = gw_registry_tenant_check(st, parent, err);
		if (rc != GW_STORE_OK)
			return rc;
		unsigned depth;
		bool hit;
		rc = walk_up(st, parent, name, &depth, &hit, err);
		if (rc != GW_STORE_OK)
			return rc;
		if (hit)
			return tm_error_set(err, "registry.tenant_cycle",
					    "tenant '%s': '%s' is itself or below it; that would be a cycle",
					    name, parent);
		/* the tenant's own new level must fit; its subtree is not measured
		 * here (a walk from a too-deep descendant reports tenant_cycle) */
		if (depth + 1 > GW_REGISTRY_MAX_DEPTH)
			return tm_error_set(err, "registry.tenant_cycle",
					    "tenant '%s': would be level %u, the limit is %d", name,
					    depth + 1, GW_REGISTRY_MAX_DEPTH);
	}
	rc = gw_store_tenant_set_parent(st, name, parent, err);
	if (rc == GW_STORE_OK)
		rc = audit_tenant(st, "tenant.move", name, t.parent, parent, now, err);
	return rc;
}

int gw_registry_tenant_set_parent(struct gw_store *st, const char *name, const char *parent,
				  int64_t now, struct tm_error *err)
{
	bool own;
	int rc = begin_change(st, &own, err);
	if (rc == GW_STORE_OK)
		rc = set_parent_in_tx(st, name, parent, now, err);
	return end_change(st, own, rc, err);
}

int gw_registry_tenant_visible(struct gw_store *st, const char *viewer, const char *tenant,
			       bool *visible, struct tm_error *err)
{
	unsigned depth;
	*visible = false;
	return walk_up(st, tenant, viewer, &depth, visible, err);
}

/* ---- enrollment ---- */

#define SERIAL_RULE "not a device serial (1 to 64 characters: letters, digits, '.', '_' and '-')"

static int check_enrollment(const struct gw_enrollment *e, struct tm_error *err)
{
	if (!gw_registry_tenant_name_ok(e->tenant))
		return gw_registry_tenant_bad_name(e->tenant, err);
	if (e->role != GW_ROLE_DEVICE && e->role != GW_ROLE_COLLECTOR)
		return tm_error_set(err, "registry.bad_value", "role: out of range");
	if (e->cert_serial != NULL && e->cert_serial[0] != '\0' &&
	    !gw_registry_serial_ok(e->cert_serial))
		return tm_error_set(err, "registry.bad_value",
				    "certificate serialNumber '%.80s': " SERIAL_RULE,
				    e->cert_serial);
	if (e->n_serials > GW_REGISTRY_MAX_DEVICES)
		return tm_error_set(err, "registry.limit",
				    "%zu devices in one enrollment; a collector may have at most %d",
				    e->n_serials, GW_REGISTRY_MAX_DEVICES);
	for (size_t i = 0; i < e->n_serials; i++)
		if (!gw_registry_serial_ok(e->serials[i]))
			return tm_error_set(err, "registry.bad_value",
					    "serial '%.80s': " SERIAL_RULE,
					    e->serials[i] != NULL ? e->serials[i] : "");
	if (e->role == GW_ROLE_DEVICE) {
		if (e->cert_serial == NULL || e->cert_serial[0] == '\0')
			return tm_error_set(err, "registry.bad_value",
					    "a device certificate needs a subject serialNumber");
		for (size_t i = 0; i < e->n_serials; i++)
			if (strcmp(e->serials[i], e->cert_serial) != 0)
				return tm_error_set(err, "registry.bad_value",
						    "serial '%s': a device certificate reports only for "
						    "its own serial '%s' (use --role collector)",
						    e->serials[i], e->cert_serial);
	}
	return 0;
}

/* A device exists in `tenant` afterwards (created if new). */
static int ensure_device(struct gw_store *st, const char *serial, const char *tenant, int64_t now,
			 struct tm_error *err)
{
	struct gw_device_row d;
	bool found;
	int rc = gw_store_device_get(st, serial, &d, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (found) {
		if (strcmp(d.tenant, tenant) != 0)
			return tm_error_set(err, "registry.conflict",
					    "device %s: belongs to tenant '%s', not '%s'", serial,
					    d.tenant, tenant);
		return GW_STORE_OK;
	}
	return gw_store_device_add(st, serial, tenant, now, err);
}

static int enroll_in_tx(struct gw_store *st, const struct gw_enrollment *e, const char *fp,
			int64_t now, struct tm_error *err)
{
	struct gw_tenant_row t;
	struct gw_cert_row c;
	bool found;
	int rc = gw_store_tenant_get(st, e->tenant, &t, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (!found)
		return gw_registry_tenant_unknown(e->tenant, err);
	rc = gw_store_cert_get(st, fp, &c, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (found) {
		if (c.revoked_at != 0)
			return tm_error_set(err, "registry.conflict",
					    "certificate %s: revoked; it cannot be enrolled again", fp);
		if (c.role != e->role || strcmp(c.tenant, e->tenant) != 0)
			return tm_error_set(err, "registry.conflict",
					    "certificate %s: already enrolled as %s in tenant '%s'", fp,
					    gw_registry_role_name(c.role), c.tenant);
	} else {
		memset(&c, 0, sizeof(c));
		snprintf(c.fingerprint, sizeof(c.fingerprint), "%s", fp);
		c.role = e->role;
		snprintf(c.tenant, sizeof(c.tenant), "%s", e->tenant);
		snprintf(c.serial, sizeof(c.serial), "%s", e->cert_serial != NULL ? e->cert_serial : "");
		snprintf(c.subject, sizeof(c.subject), "%s", e->subject != NULL ? e->subject : "");
		c.not_after = e->not_after;
		c.enrolled_at = now;
		rc = gw_store_cert_add(st, &c, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	if (e->role == GW_ROLE_DEVICE)
		return ensure_device(st, e->cert_serial, e->tenant, now, err);
	for (size_t i = 0; i < e->n_serials; i++) {
		rc = ensure_device(st, e->serials[i], e->tenant, now, err);
		if (rc == GW_STORE_OK)
			rc = gw_store_binding_add(st, fp, e->serials[i], err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	rc = gw_store_cert_get(st, fp, &c, &found, err);
	if (rc != GW_STORE_OK)
		return rc;
	if (c.n_devices > GW_REGISTRY_MAX_DEVICES)
		return tm_error_set(err, "registry.limit",
				    "collector %s: %zu devices; at most %d may be enrolled under one "
				    "collector", fp, c.n_devices, GW_REGISTRY_MAX_DEVICES);
	return GW_STORE_OK;
}

/* The audit entry of an enrollment: what was enrolled, digest of the facts. */
static int audit_enroll(struct gw_store *st, const struct gw_enrollment *e, const char *fp,
			int64_t now, struct tm_error *err)
{
	char object[160], facts[512], after[GW_SHA256_HEX];
	const char *dev = e->role == GW_ROLE_DEVICE ? e->cert_serial
			  : e->n_serials > 0 ? e->serials[0] : "-";
	snprintf(object, sizeof(object), "certificate %.16s role %s device %.64s%s", fp,
		 gw_registry_role_name(e->role), dev,
		 e->role == GW_ROLE_COLLECTOR && e->n_serials > 1 ? " and more" : "");
	int n = snprintf(facts, sizeof(facts), "%s %s %s %s", fp, gw_registry_role_name(e->role),
			 e->tenant, e->cert_serial != NULL ? e->cert_serial : "");
	for (size_t i = 0; i < e->n_serials && n > 0 && (size_t)n < sizeof(facts); i++)
		n += snprintf(facts + n, sizeof(facts) - (size_t)n, " %s", e->serials[i]);
	gw_audit_digest(facts, after);
	return gw_audit_append(st, NULL, "enroll", object, e->tenant, NULL, after, now, err);
}

int gw_registry_enroll(struct gw_store *st, const struct gw_enrollment *e, int64_t now,
		       struct tm_error *err)
{
	char fp[GW_SHA256_HEX];
	if (gw_registry_fingerprint_norm(e->fingerprint, fp, err) < 0 || check_enrollment(e, err) < 0)
		return GW_STORE_ERROR;
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = enroll_in_tx(st, e, fp, now, err);
	if (rc == GW_STORE_OK)
		rc = audit_enroll(st, e, fp, now, err);   /* same transaction */
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

int gw_registry_enroll_file(struct gw_store *st, const char *pem_file, enum gw_cert_role role,
			    const char *tenant, const char *const *serials, size_t n_serials,
			    int64_t now, struct tm_error *err)
{
	struct tm_cert_info info;
	if (tm_cert_info_file(pem_file, &info, err) < 0)
		return GW_STORE_ERROR;
	struct gw_enrollment e = {
		.fingerprint = info.fingerprint,
		.role = role,
		.tenant = tenant,
		.cert_serial = info.serial,
		.subject = info.subject,
		.not_after = info.not_after,
		.serials = serials,
		.n_serials = n_serials,
	};
	int rc = gw_registry_enroll(st, &e, now, err);
	if (rc != GW_STORE_OK)
		tm_error_prefix(err, "%s", pem_file);
	return rc;
}

int gw_registry_revoke(struct gw_store *st, const char *fingerprint, int64_t at,
		       struct tm_error *err)
{
	char fp[GW_SHA256_HEX];
	if (gw_registry_fingerprint_norm(fingerprint, fp, err) < 0)
		return GW_STORE_ERROR;
	struct gw_cert_row c;
	bool found;
	int rc = gw_store_begin(st, err);
	if (rc != GW_STORE_OK)
		return rc;
	rc = gw_store_cert_get(st, fp, &c, &found, err);
	if (rc == GW_STORE_OK && !found)
		rc = tm_error_set(err, "registry.not_found", "certificate %s: not enrolled", fp);
	if (rc == GW_STORE_OK)
		rc = gw_store_cert_revoke(st, fp, at, err);
	if (rc == GW_STORE_OK && c.revoked_at == 0) {
		/* the audit entry, in the same transaction (revoking again changes nothing) */
		char object[160], before[GW_SHA256_HEX], after[GW_SHA256_HEX], facts[160];
		snprintf(object, sizeof(object), "certificate %.16s role %s device %.64s", fp,
			 gw_registry_role_name(c.role), c.serial[0] ? c.serial : "-");
		snprintf(facts, sizeof(facts), "%s revoked_at=0", fp);
		gw_audit_digest(facts, before);
		snprintf(facts, sizeof(facts), "%s revoked_at=%lld", fp, (long long)at);
		gw_audit_digest(facts, after);
		rc = gw_audit_append(st, NULL, "revoke", object, c.tenant, before, after, at, err);
	}
	if (rc == GW_STORE_OK)
		rc = gw_store_commit(st, err);
	if (rc != GW_STORE_OK)
		gw_store_rollback(st);
	return rc;
}

/* ---- the check ---- */

static int auto_enroll_signer(struct gw_store *st, const char *fp,
			      const struct gw_registry_auto *a, struct tm_error *err)
{
	struct gw_enrollment e = {
		.fingerprint = fp,
		.role = GW_ROLE_DEVICE,
		.tenant = a->tenant,
		.cert_serial = a->cert_serial,
		.subject = a->subject,
	};
	int rc = gw_registry_enroll(st, &e, a->now, err);
	/* another worker may have enrolled it a moment ago: that is fine */
	if (rc == GW_STORE_ERROR && err != NULL && err->reason != NULL &&
	    strcmp(err->reason, "registry.exists") == 0) {
		tm_error_clear(err);
		rc = GW_STORE_OK;
	}
	if (rc == GW_STORE_ERROR)
		tm_error_prefix(err, "auto-enrollment into tenant '%s'", a->tenant);
	return rc;
}

/* A collector reports a serial not enrolled under it: device.moved when the
 * serial is an enrolled device (it belongs to another collector or
 * certificate, maybe of another tenant: a printer moved between sites, or a
 * collector reading what is not its own), else device.mismatch. */
static int not_bound(const char *fp, const struct gw_signer_rows *sr, const char *report_serial,
		     struct tm_error *err)
{
	const struct gw_device_row *d = &sr->device;
	if (!sr->device_found)
		return tm_error_set(err, "device.mismatch",
				    "report serial %.64s is not enrolled under collector %s",
				    report_serial, fp);
	if (strcmp(d->tenant, sr->cert.tenant) != 0)
		return tm_error_set(err, "device.moved",
				    "report serial %.64s belongs to tenant '%s', not to collector %s of "
				    "tenant '%s': kept in quarantine until it is enrolled under this "
				    "collector", report_serial, d->tenant, fp, sr->cert.tenant);
	return tm_error_set(err, "device.moved",
			    "report serial %.64s of tenant '%s' is enrolled under another "
			    "certificate, not under collector %s: kept in quarantine until it is "
			    "enrolled under this collector", report_serial, d->tenant, fp);
}

/* gw_registry_check on the signer's rows. */
static int check_signer(const char *fp, const char *report_serial,
			const struct gw_signer_rows *sr, char tenant_out[GW_NAME_MAX + 1],
			struct tm_error *err)
{
	const struct gw_cert_row *c = &sr->cert;
	if (!sr->cert_found)
		return tm_error_set(err, "device.unknown",
				    "signer certificate %s (device %s) is not enrolled", fp,
				    report_serial != NULL ? report_serial : "?");
	if (c->revoked_at != 0)
		return tm_error_set(err, "smime.signer_revoked",
				    "signer certificate %s was revoked in the registry at %lld", fp,
				    (long long)c->revoked_at);
	if (report_serial == NULL || report_serial[0] == '\0')
		return tm_error_set(err, "device.mismatch", "the report names no device serial");
	if (c->role == GW_ROLE_DEVICE) {
		if (strcmp(c->serial, report_serial) != 0)
			return tm_error_set(err, "device.mismatch",
					    "report serial %.64s is not the signer's serial %s",
					    report_serial, c->serial);
	} else if (!sr->bound) {
		return not_bound(fp, sr, report_serial, err);
	}
	snprintf(tenant_out, GW_NAME_MAX + 1, "%s", sr->device_found ? sr->device.tenant : c->tenant);
	return GW_STORE_OK;
}

int gw_registry_check(struct gw_store *st, const char *fingerprint, const char *report_serial,
		      const struct gw_registry_auto *auto_enroll, char tenant_out[GW_NAME_MAX + 1],
		      struct tm_error *err)
{
	char fp[GW_SHA256_HEX];
	tenant_out[0] = '\0';
	if (gw_registry_fingerprint_norm(fingerprint, fp, err) < 0)
		return GW_STORE_ERROR;
	/* the signer's certificate, the report's device and their binding at
	 * once (one round trip on a server) */
	const char *serial = report_serial != NULL ? report_serial : "";
	struct gw_signer_rows sr;
	int rc = gw_store_signer_get(st, fp, serial, &sr, err);
	if (rc == GW_STORE_OK && !sr.cert_found && auto_enroll != NULL &&
	    auto_enroll->tenant != NULL && auto_enroll->tenant[0] != '\0') {
		rc = auto_enroll_signer(st, fp, auto_enroll, err);
		if (rc == GW_STORE_OK)   /* the rows it made */
			rc = gw_store_signer_get(st, fp, serial, &sr, err);
	}
	if (rc == GW_STORE_OK)
		rc = check_signer(fp, report_serial, &sr, tenant_out, err);
	return rc;
}

/* ---- listings ---- */

int gw_registry_list_tenants(struct gw_store *st, gw_store_tenant_cb cb, void *ctx,
			     struct tm_error *err)
{
	return gw_store_tenant_list(st, cb, ctx, err);
}

int gw_registry_list_certs(struct gw_store *st, gw_store_cert_cb cb, void *ctx,
			   struct tm_error *err)
{
	return gw_store_cert_list(st, cb, ctx, err);
}

int gw_registry_list_devices(struct gw_store *st, gw_store_device_cb cb, void *ctx,
			     struct tm_error *err)
{
	return gw_store_device_list(st, cb, ctx, err);
}

int gw_registry_cert_get(struct gw_store *st, const char *fingerprint, struct gw_cert_row *out,
			 bool *found, struct tm_error *err)
{
	char fp[GW_SHA256_HEX];
	*found = false;
	if (gw_registry_fingerprint_norm(fingerprint, fp, err) < 0)
		return GW_STORE_ERROR;
	return gw_store_cert_get(st, fp, out, found, err);
}

int gw_registry_device_get(struct gw_store *st, const char *serial, struct gw_device_row *out,
			   bool *found, struct tm_error *err)
{
	*found = false;
	return gw_store_device_get(st, serial, out, found, err);
}

/* telemail-mailgw — the device registry: tenants, enrolled signer
 * certificates and the devices each may report for (identity binding,
 * wire contract rule 6).
 *
 *   certificate fingerprint → role → device serial(s) → tenant
 *
 * Role device: the certificate reports only for its own subject serialNumber.
 * Role collector: one agent host watching many devices; it reports for the
 * devices enrolled under it (at most GW_REGISTRY_MAX_DEVICES), and only those.
 * A device belongs to exactly one tenant. Tenants form a tree: a parent sees
 * its children, never the reverse and never a sibling.
 *
 * The rows live in the store (struct gw_store_ops registry primitives), so
 * every back end carries the registry with the records. */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct tm_error;

#define GW_REGISTRY_MAX_DEVICES 2000   /* devices bound to one collector (registry.limit) */
#define GW_REGISTRY_MAX_DEPTH 16       /* levels in the tenant tree (registry.tenant_cycle) */

/* Names. Tenant: ^[a-z0-9][a-z0-9._-]{0,63}$. Serial: the report schema's
 * ^[A-Za-z0-9._-]{1,64}$. Fingerprint: SHA-256 hex, upper or lower case,
 * with or without ':' separators; normalized to 64 lower-case digits. */
bool gw_registry_tenant_name_ok(const char *name);
/* What a tenant name is, in words (for every message that refuses one). */
#define GW_REGISTRY_TENANT_RULE "1 to 64 characters: lower-case letters, digits, '.', '_' " \
	"and '-', beginning with a letter or digit"
bool gw_registry_serial_ok(const char *serial);
int gw_registry_fingerprint_norm(const char *in, char out[GW_SHA256_HEX], struct tm_error *err);
const char *gw_registry_role_name(enum gw_cert_role r);
int gw_registry_role_parse(const char *s, enum gw_cert_role *out, struct tm_error *err);

/* ---- tenants ---- */

/* The one wording of the two tenant errors, for every command that takes a
 * tenant (--tenant, --parent, enrollment, the query filters):
 *   registry.bad_value  "tenant 'X': not a tenant name (1 to 64 characters: …)"
 *   registry.not_found  "tenant 'X': no such tenant (`tenant list` shows them; …)"
 * gw_registry_tenant_check: is `name` a tenant? (one of the two, or a store
 * error). */
int gw_registry_tenant_bad_name(const char *name, struct tm_error *err);
int gw_registry_tenant_unknown(const char *name, struct tm_error *err);
int gw_registry_tenant_check(struct gw_store *st, const char *name, struct tm_error *err);

/* parent NULL or "": a root tenant. Errors: registry.bad_value (name),
 * registry.exists, registry.not_found (parent), registry.tenant_cycle (own
 * parent, or deeper than GW_REGISTRY_MAX_DEPTH). Audited (tenant.add) in the
 * same transaction: the open batch's, or one of its own. */
int gw_registry_tenant_add(struct gw_store *st, const char *name, const char *parent, int64_t now,
			   struct tm_error *err);
/* Move a tenant under another (or to the root with NULL); refuses cycles.
 * Audited (tenant.move, the parent before and after) likewise. */
int gw_registry_tenant_set_parent(struct gw_store *st, const char *name, const char *parent,
				  int64_t now, struct tm_error *err);
/* May `viewer` see data of `tenant`? (itself or one of its descendants) */
int gw_registry_tenant_visible(struct gw_store *st, const char *viewer, const char *tenant,
			       bool *visible, struct tm_error *err);

/* ---- certificates ---- */

/* What enrollment needs to know of a certificate (from its PEM file: the
 * lead's tm_cert_info_file, or gw_registry_enroll_file below). */
struct gw_enrollment {
	const char *fingerprint;     /* SHA-256 of the certificate DER */
	enum gw_cert_role role;
	const char *tenant;
	const char *cert_serial;     /* subject serialNumber; required for role device */
	const char *subject;         /* one line; may be NULL */
	int64_t not_after;           /* Unix seconds; 0 unknown */
	const char *const *serials;  /* collector: devices it may report for */
	size_t n_serials;            /* device role: 0, or 1 equal to cert_serial */
};

/* Enroll (in one transaction): the certificate, its devices (created in the
 * tenant when new) and, for a collector, the bindings. Enrolling the same
 * certificate again with the same role and tenant adds devices and is
 * otherwise a no-op. Errors: registry.bad_value, registry.not_found
 * (tenant), registry.conflict (other role/tenant, revoked certificate, a
 * device owned by another tenant), registry.limit. Must not be called
 * inside an open batch (store.c: internal.bug). */
int gw_registry_enroll(struct gw_store *st, const struct gw_enrollment *e, int64_t now,
		       struct tm_error *err);

/* The same from a PEM certificate file (fingerprint, serial, subject and
 * not_after read by libtelemail's tm_cert_info_file). */
int gw_registry_enroll_file(struct gw_store *st, const char *pem_file, enum gw_cert_role role,
			    const char *tenant, const char *const *serials, size_t n_serials,
			    int64_t now, struct tm_error *err);

/* Mark revoked at `at` (registry.not_found when not enrolled; revoking
 * again keeps the first time). */
int gw_registry_revoke(struct gw_store *st, const char *fingerprint, int64_t at,
		       struct tm_error *err);

/* ---- the check every report goes through ---- */

/* Auto-enrollment (configuration auto_enroll.tenant): a valid signer that is
 * not enrolled is enrolled as role device in `tenant`. */
struct gw_registry_auto {
	const char *tenant;
	const char *cert_serial;   /* the signer subject's serialNumber */
	const char *subject;
	int64_t now;
};

/* May the signer with this fingerprint report for report_serial? On
 * success tenant_out holds the device's tenant. Errors (GW_STORE_ERROR):
 * device.unknown (not enrolled, and no auto-enrollment), device.mismatch
 * (serial not covered), device.moved (a collector reports a serial that is
 * enrolled, but not under it: another collector's or another tenant's
 * device), smime.signer_revoked; GW_STORE_RETRY for transient
 * store failures. auto_enroll NULL: off. */
int gw_registry_check(struct gw_store *st, const char *fingerprint, const char *report_serial,
		      const struct gw_registry_auto *auto_enroll, char tenant_out[GW_NAME_MAX + 1],
		      struct tm_error *err);

/* ---- listings (for the `devices` and `tenant` commands) ---- */
int gw_registry_list_tenants(struct gw_store *st, gw_store_tenant_cb cb, void *ctx,
			     struct tm_error *err);
int gw_registry_list_certs(struct gw_store *st, gw_store_cert_cb cb, void *ctx,
			   struct tm_error *err);
int gw_registry_list_devices(struct gw_store *st, gw_store_device_cb cb, void *ctx,
			     struct tm_error *err);
int gw_registry_cert_get(struct gw_store *st, const char *fingerprint, struct gw_cert_row *out,
			 bool *found, struct tm_error *err);
int gw_registry_device_get(struct gw_store *st, const char *serial, struct gw_device_row *out,
			   bool *found, struct tm_error *err);

#endif

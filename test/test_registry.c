/* The device registry: tenants (a tree), enrollment of device and collector
 * certificates, the identity check every report goes through, revocation,
 * auto-enrollment, limits. Real SQLite files in a temporary dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <telemail/error.h>

#include "common.h"
#include "registry/registry.h"
#include "store/store.h"
#include "store_fixture.h"

static char *tmpdir;
static struct gw_store *st;

static void setup(void)
{
	st = tm_store_test_open(&tmpdir, false);
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "globex", NULL, 100, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	tm_store_test_close(st, tmpdir);
}

TestSuite(registry, .init = setup, .fini = teardown);

/* fingerprint n: 64 hex digits */
static const char *fp(int n, char buf[GW_SHA256_HEX])
{
	snprintf(buf, GW_SHA256_HEX, "%064x", n);
	return buf;
}

static void enroll_device(const char *fingerprint, const char *serial, const char *tenant)
{
	struct tm_error err = {0};
	struct gw_enrollment e = {
		.fingerprint = fingerprint, .role = GW_ROLE_DEVICE, .tenant = tenant,
		.cert_serial = serial, .subject = "CN=device",
	};
	cr_assert_eq(gw_registry_enroll(st, &e, 200, &err), 0, "%s: %s", err.reason, err.msg);
}

static int check(const char *fingerprint, const char *serial, char tenant[GW_NAME_MAX + 1],
		 struct tm_error *err)
{
	return gw_registry_check(st, fingerprint, serial, NULL, tenant, err);
}

/* ---- tenants ---- */

Test(registry, tenant_tree_add_and_parent_validation)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme-east", "acme", 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme-east.berlin", "acme-east", 1, &err), 0);

	cr_assert_eq(gw_registry_tenant_add(st, "initech", "ghost", 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.not_found");
	cr_assert_str_eq(err.msg, "tenant 'ghost': no such tenant (`tenant list` shows them; "
			 "`tenant add` adds one)");

	cr_assert_eq(gw_registry_tenant_add(st, "loop", "loop", 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.tenant_cycle");
	cr_assert_not_null(strstr(err.msg, "'loop': cannot be its own parent"));

	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.exists");
	cr_assert_str_eq(err.msg, "tenant 'acme': already in the registry");

	const char *bad[] = { "Acme", "acme corp", "-acme", "", "a/b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(gw_registry_tenant_add(st, bad[i], NULL, 1, &err), -1, "%s", bad[i]);
		cr_assert_str_eq(err.reason, "registry.bad_value", "%s", bad[i]);
		char want[300];
		snprintf(want, sizeof(want), "tenant '%s': not a tenant name (1 to 64 characters: "
			 "lower-case letters, digits, '.', '_' and '-', beginning with a letter or "
			 "digit)", bad[i]);
		cr_assert_str_eq(err.msg, want);
	}
	char longname[80];
	memset(longname, 'a', 65);
	longname[65] = '\0';
	cr_assert_eq(gw_registry_tenant_add(st, longname, NULL, 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.bad_value");

	/* moving a tenant below its own descendant would be a cycle */
	cr_assert_eq(gw_registry_tenant_set_parent(st, "acme", "acme-east.berlin", 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.tenant_cycle");
	cr_assert_not_null(strstr(err.msg, "cycle"), "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_set_parent(st, "acme", "acme", 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.tenant_cycle");
	cr_assert_eq(gw_registry_tenant_set_parent(st, "ghost", "acme", 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.not_found");
	/* a legal move */
	cr_assert_eq(gw_registry_tenant_set_parent(st, "globex", "acme", 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_set_parent(st, "globex", NULL, 1, &err), 0, "%s", err.msg);
}

Test(registry, a_parent_sees_its_children_never_the_reverse_nor_a_sibling)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_registry_tenant_add(st, "acme-east", "acme", 1, &err), 0);
	cr_assert_eq(gw_registry_tenant_add(st, "acme-west", "acme", 1, &err), 0);
	cr_assert_eq(gw_registry_tenant_add(st, "acme-east.b", "acme-east", 1, &err), 0);
	struct { const char *viewer, *tenant; bool want; } t[] = {
		{ "acme", "acme", true },
		{ "acme", "acme-east", true },
		{ "acme", "acme-east.b", true },
		{ "acme-east", "acme-east.b", true },
		{ "acme-east", "acme", false },
		{ "acme-east", "acme-west", false },
		{ "acme-east.b", "acme-east", false },
		{ "globex", "acme-east", false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool vis = !t[i].want;
		cr_assert_eq(gw_registry_tenant_visible(st, t[i].viewer, t[i].tenant, &vis, &err), 0);
		cr_assert_eq(vis, t[i].want, "%s sees %s", t[i].viewer, t[i].tenant);
	}
}

Test(registry, the_tenant_tree_depth_is_limited)
{
	struct tm_error err = {0};
	char name[16], parent[16] = "acme";   /* acme is level 1 */
	for (int lvl = 2; lvl <= GW_REGISTRY_MAX_DEPTH; lvl++) {
		snprintf(name, sizeof(name), "l%d", lvl);
		cr_assert_eq(gw_registry_tenant_add(st, name, parent, 1, &err), 0, "level %d: %s", lvl,
			     err.msg);
		snprintf(parent, sizeof(parent), "%s", name);
	}
	cr_assert_eq(gw_registry_tenant_add(st, "toodeep", parent, 1, &err), -1);
	cr_assert_str_eq(err.reason, "registry.tenant_cycle");
	cr_assert_not_null(strstr(err.msg, "would be level 17, the limit is 16"), "%s", err.msg);
}

/* ---- devices ---- */

Test(registry, a_device_certificate_reports_only_for_its_own_serial)
{
	char f[GW_SHA256_HEX], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	enroll_device(fp(1, f), "XK100001", "acme");
	cr_assert_eq(check(f, "XK100001", tenant, &err), 0, "%s", err.msg);
	cr_assert_str_eq(tenant, "acme");

	cr_assert_eq(check(f, "XK100002", tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "device.mismatch");
	cr_assert_str_eq(err.msg, "report serial XK100002 is not the signer's serial XK100001");
	cr_assert_str_eq(tenant, "");

	/* the fingerprint as people write it: upper case with colons */
	char colons[100] = "";
	for (int i = 0; i < 32; i++)
		snprintf(colons + strlen(colons), sizeof(colons) - strlen(colons), "%s%02X",
			 i ? ":" : "", i == 31 ? 1 : 0);
	cr_assert_eq(check(colons, "XK100001", tenant, &err), 0, "%s", err.msg);

	struct gw_device_row d;
	bool found;
	cr_assert_eq(gw_registry_device_get(st, "XK100001", &d, &found, &err), 0);
	cr_assert(found);
	cr_assert_str_eq(d.tenant, "acme");
}

Test(registry, an_unknown_signer_is_device_unknown_unless_auto_enrolled)
{
	char f[GW_SHA256_HEX], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	cr_assert_eq(check(fp(9, f), "XK100009", tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "device.unknown");
	cr_assert_not_null(strstr(err.msg, f), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "is not enrolled"), "%s", err.msg);

	struct gw_registry_auto a = { .tenant = "ghost", .cert_serial = "XK100009", .now = 300 };
	cr_assert_eq(gw_registry_check(st, f, "XK100009", &a, tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.not_found");
	cr_assert_not_null(strstr(err.msg, "auto-enrollment into tenant 'ghost'"), "%s", err.msg);

	a.tenant = "globex";
	cr_assert_eq(gw_registry_check(st, f, "XK100009", &a, tenant, &err), 0, "%s", err.msg);
	cr_assert_str_eq(tenant, "globex");
	struct gw_cert_row c;
	bool found;
	cr_assert_eq(gw_registry_cert_get(st, f, &c, &found, &err), 0);
	cr_assert(found);
	cr_assert_eq(c.role, GW_ROLE_DEVICE);
	cr_assert_str_eq(c.serial, "XK100009");
	cr_assert_eq(c.enrolled_at, 300);
	/* auto-enrolled certificates are bound like any other */
	cr_assert_eq(gw_registry_check(st, f, "XK100010", &a, tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "device.mismatch");
}

Test(registry, a_revoked_certificate_is_refused)
{
	char f[GW_SHA256_HEX], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	enroll_device(fp(2, f), "XK100002", "acme");
	cr_assert_eq(gw_registry_revoke(st, f, 5000, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_registry_revoke(st, f, 6000, &err), 0, "revoking again is fine");
	cr_assert_eq(check(f, "XK100002", tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "smime.signer_revoked");
	cr_assert_not_null(strstr(err.msg, "revoked in the registry at 5000"), "%s", err.msg);

	struct gw_enrollment e = { .fingerprint = f, .role = GW_ROLE_DEVICE, .tenant = "acme",
				   .cert_serial = "XK100002" };
	cr_assert_eq(gw_registry_enroll(st, &e, 1, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.conflict");
	cr_assert_not_null(strstr(err.msg, "revoked"), "%s", err.msg);

	char g[GW_SHA256_HEX];
	cr_assert_eq(gw_registry_revoke(st, fp(77, g), 1, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.not_found");
	cr_assert_eq(gw_registry_revoke(st, "abc", 1, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.bad_value");
	cr_assert_not_null(strstr(err.msg, "3 hex digits, want 64"), "%s", err.msg);
}

/* ---- collectors ---- */

Test(registry, a_collector_reports_for_its_devices_and_only_those)
{
	char f[GW_SHA256_HEX], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	const char *devs[] = { "XK200001", "XK200002", "XK200003" };
	struct gw_enrollment e = { .fingerprint = fp(3, f), .role = GW_ROLE_COLLECTOR,
				   .tenant = "acme", .cert_serial = "HOST-1", .serials = devs,
				   .n_serials = 3 };
	cr_assert_eq(gw_registry_enroll(st, &e, 1, &err), 0, "%s", err.msg);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(check(f, devs[i], tenant, &err), 0, "%s", err.msg);
		cr_assert_str_eq(tenant, "acme");
	}
	cr_assert_eq(check(f, "XK200004", tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "device.mismatch");
	cr_assert_not_null(strstr(err.msg, "XK200004 is not enrolled under collector"), "%s", err.msg);
	cr_assert_eq(check(f, "HOST-1", tenant, &err), GW_STORE_ERROR, "its own serial is no device");
	cr_assert_str_eq(err.reason, "device.mismatch");

	/* enrolling again adds devices */
	const char *more[] = { "XK200004", "XK200001" };
	e.serials = more;
	e.n_serials = 2;
	cr_assert_eq(gw_registry_enroll(st, &e, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(check(f, "XK200004", tenant, &err), 0);
	struct gw_cert_row c;
	bool found;
	cr_assert_eq(gw_registry_cert_get(st, f, &c, &found, &err), 0);
	cr_assert_eq(c.n_devices, 4);

	/* the same certificate in another role or tenant */
	e.role = GW_ROLE_DEVICE;
	e.n_serials = 0;
	cr_assert_eq(gw_registry_enroll(st, &e, 3, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.conflict");
	cr_assert_not_null(strstr(err.msg, "already enrolled as collector in tenant 'acme'"), "%s",
			   err.msg);
	e.role = GW_ROLE_COLLECTOR;
	e.tenant = "globex";
	cr_assert_eq(gw_registry_enroll(st, &e, 3, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.conflict");
}

Test(registry, a_device_belongs_to_one_tenant)
{
	char f[GW_SHA256_HEX], g[GW_SHA256_HEX];
	struct tm_error err = {0};
	enroll_device(fp(4, f), "XK300001", "acme");
	const char *devs[] = { "XK300002", "XK300001" };
	struct gw_enrollment e = { .fingerprint = fp(5, g), .role = GW_ROLE_COLLECTOR,
				   .tenant = "globex", .serials = devs, .n_serials = 2 };
	cr_assert_eq(gw_registry_enroll(st, &e, 1, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.conflict");
	cr_assert_str_eq(err.msg, "device XK300001: belongs to tenant 'acme', not 'globex'");
	/* the whole enrollment was rolled back */
	struct gw_cert_row c;
	bool found = true;
	cr_assert_eq(gw_registry_cert_get(st, g, &c, &found, &err), 0);
	cr_assert(!found);
	struct gw_device_row d;
	cr_assert_eq(gw_registry_device_get(st, "XK300002", &d, &found, &err), 0);
	cr_assert(!found);
}

Test(registry, a_collector_takes_a_thousand_devices_and_the_limit_is_enforced)
{
	char f[GW_SHA256_HEX], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	enum { N = GW_REGISTRY_MAX_DEVICES + 1 };
	static char names[N][16];
	static const char *ptr[N];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "SN%06d", i);
		ptr[i] = names[i];
	}
	struct gw_enrollment e = { .fingerprint = fp(6, f), .role = GW_ROLE_COLLECTOR,
				   .tenant = "acme", .serials = ptr, .n_serials = 1000 };
	cr_assert_eq(gw_registry_enroll(st, &e, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(check(f, "SN000999", tenant, &err), 0);
	cr_assert_eq(check(f, "SN001000", tenant, &err), GW_STORE_ERROR);

	e.n_serials = N;   /* in one call */
	cr_assert_eq(gw_registry_enroll(st, &e, 1, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.limit");
	cr_assert_not_null(strstr(err.msg, "2001 devices in one enrollment"), "%s", err.msg);

	e.serials = ptr + 1000;   /* in total: 1000 + 1001 */
	e.n_serials = 1001;
	cr_assert_eq(gw_registry_enroll(st, &e, 1, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.limit");
	cr_assert_not_null(strstr(err.msg, "2001 devices; at most 2000"), "%s", err.msg);
	cr_assert_eq(check(f, "SN001000", tenant, &err), GW_STORE_ERROR, "rolled back");
}

Test(registry, bad_enrollments_name_what_is_wrong)
{
	char f[GW_SHA256_HEX];
	struct tm_error err = {0};
	const char *other[] = { "XK400002" };
	const char *badser[] = { "XK 1" };
	struct {
		struct gw_enrollment e;
		const char *reason, *msg;
	} t[] = {
		{ { .fingerprint = fp(7, f), .role = GW_ROLE_DEVICE, .tenant = "acme" },
		  "registry.bad_value", "a device certificate needs a subject serialNumber" },
		{ { .fingerprint = f, .role = GW_ROLE_DEVICE, .tenant = "acme",
		    .cert_serial = "XK400001", .serials = other, .n_serials = 1 },
		  "registry.bad_value", "serial 'XK400002': a device certificate reports only for its own serial 'XK400001'" },
		{ { .fingerprint = f, .role = GW_ROLE_COLLECTOR, .tenant = "acme",
		    .serials = badser, .n_serials = 1 },
		  "registry.bad_value", "serial 'XK 1': not a device serial (1 to 64 characters: "
		  "letters, digits, '.', '_' and '-')" },
		{ { .fingerprint = f, .role = GW_ROLE_DEVICE, .tenant = "nowhere",
		    .cert_serial = "XK400001" },
		  "registry.not_found", "tenant 'nowhere': no such tenant (`tenant list` shows them; "
		  "`tenant add` adds one)" },
		{ { .fingerprint = "zz", .role = GW_ROLE_DEVICE, .tenant = "acme",
		    .cert_serial = "XK400001" },
		  "registry.bad_value", "fingerprint 'zz': not a SHA-256 in hex" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_eq(gw_registry_enroll(st, &t[i].e, 1, &err), GW_STORE_ERROR, "case %zu", i);
		cr_assert_str_eq(err.reason, t[i].reason, "case %zu", i);
		cr_assert_not_null(strstr(err.msg, t[i].msg), "case %zu: %s", i, err.msg);
	}
	enum gw_cert_role r;
	cr_assert_eq(gw_registry_role_parse("collector", &r, &err), 0);
	cr_assert_eq(r, GW_ROLE_COLLECTOR);
	cr_assert_eq(gw_registry_role_parse("printer", &r, &err), -1);
	cr_assert_str_eq(err.reason, "registry.bad_value");
}

/* ---- real certificates from the test PKI ---- */

static void cert_facts(const char *name, char fpr[GW_SHA256_HEX], char serial[65])
{
	X509 *x = tm_test_pki_cert(name);
	unsigned char md[32];
	unsigned int n = 0;
	cr_assert_eq(X509_digest(x, EVP_sha256(), md, &n), 1);
	for (unsigned i = 0; i < n; i++)
		snprintf(fpr + 2 * i, 3, "%02x", md[i]);
	X509_NAME *subj = X509_get_subject_name(x);
	cr_assert_gt(X509_NAME_get_text_by_NID(subj, NID_serialNumber, serial, 65), 0);
	X509_free(x);
}

Test(registry, enrollment_with_the_facts_of_a_real_device_certificate)
{
	char f[GW_SHA256_HEX], serial[65], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	cert_facts("dev-XK100001.pem", f, serial);
	cr_assert_str_eq(serial, "XK100001");
	enroll_device(f, serial, "acme");
	cr_assert_eq(check(f, "XK100001", tenant, &err), 0, "%s", err.msg);

	char g[GW_SHA256_HEX], s2[65];
	cert_facts("dev-XK100002.pem", g, s2);
	cr_assert_eq(check(g, "XK100002", tenant, &err), GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "device.unknown");
}

Test(registry, enroll_file_reads_fingerprint_and_serial_from_the_pem)
{
	char f[GW_SHA256_HEX], serial[65], tenant[GW_NAME_MAX + 1];
	struct tm_error err = {0};
	char *pem = tm_test_pki("dev-XK100003.pem");
	cr_assert_eq(gw_registry_enroll_file(st, pem, GW_ROLE_DEVICE, "acme", NULL, 0, 7, &err), 0,
		     "%s: %s", err.reason, err.msg);
	cert_facts("dev-XK100003.pem", f, serial);
	cr_assert_eq(check(f, "XK100003", tenant, &err), 0, "%s", err.msg);
	struct gw_cert_row c;
	bool found;
	cr_assert_eq(gw_registry_cert_get(st, f, &c, &found, &err), 0);
	cr_assert(found);
	cr_assert_gt(c.not_after, 0);
	cr_assert_not_null(strstr(c.subject, "XK100003"), "%s", c.subject);
	free(pem);

	pem = tm_test_pki("dev-noserial.pem");
	cr_assert_eq(gw_registry_enroll_file(st, pem, GW_ROLE_DEVICE, "acme", NULL, 0, 7, &err),
		     GW_STORE_ERROR);
	cr_assert_str_eq(err.reason, "registry.bad_value");
	cr_assert_not_null(strstr(err.msg, "dev-noserial.pem: a device certificate needs a subject "
				  "serialNumber"), "%s", err.msg);
	free(pem);
}

/* ---- listings ---- */

static int count_cb(void *ctx, const void *row)
{
	(void)row;
	++*(int *)ctx;
	return 0;
}

static int tenant_cb(void *ctx, const struct gw_tenant_row *t)
{
	return count_cb(ctx, t);
}

static int cert_cb(void *ctx, const struct gw_cert_row *c)
{
	return count_cb(ctx, c);
}

static int device_cb(void *ctx, const struct gw_device_row *d)
{
	return strcmp(d->serial, "XK500002") == 0 ? 7 : count_cb(ctx, d);
}

Test(registry, listings_walk_every_row_and_stop_when_asked)
{
	char f[GW_SHA256_HEX], g[GW_SHA256_HEX];
	struct tm_error err = {0};
	enroll_device(fp(10, f), "XK500001", "acme");
	enroll_device(fp(11, g), "XK500002", "globex");
	int n = 0;
	cr_assert_eq(gw_registry_list_tenants(st, tenant_cb, &n, &err), 0);
	cr_assert_eq(n, 2);
	n = 0;
	cr_assert_eq(gw_registry_list_certs(st, cert_cb, &n, &err), 0);
	cr_assert_eq(n, 2);
	n = 0;
	cr_assert_eq(gw_registry_list_devices(st, device_cb, &n, &err), 7, "the callback stops it");
	cr_assert_eq(n, 1);
}

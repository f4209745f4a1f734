/* Interoperability with the openssl command line (wire contract v1, item 5):
 *   (a) a mail made with `openssl cms -sign` then `openssl cms -encrypt
 *       -aes-256-gcm` opens with tm_smime_open;
 *   (b) a mail made with tm_smime_seal opens with `openssl cms -decrypt`
 *       then `openssl cms -verify`.
 * Both directions for the EC and the RSA gateway key, opaque and detached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "common.h"
#include "smime/mime.h"

static const char YAML[] =
	"schema_version: 1\n"
	"report:\n"
	"  id: \"0b6f3c52-41d7-4c8e-9a35-1f2e3d4c5b6a\"\n"
	"  seq: 12\n"
	"  kind: periodic\n"
	"device:\n"
	"  serial: XK100001\n"
	"  location: \"copy room (east) – 2nd floor\"\n";

struct ctx {
	char *dir;
	char *pki;
	struct tm_keyring *keys;
	struct tm_trust *trust;
};

static void ctx_init(struct ctx *c, const char *gw)
{
	c->dir = tm_test_tmpdir();
	c->pki = tm_test_pki("");
	struct tm_error err = {0};
	char cert[512], key[512], ca[512];
	snprintf(cert, sizeof(cert), "%s%s.pem", c->pki, gw);
	snprintf(key, sizeof(key), "%s%s.key", c->pki, gw);
	snprintf(ca, sizeof(ca), "%sca.pem", c->pki);
	c->keys = tm_keyring_new();
	cr_assert_eq(tm_keyring_add_files(c->keys, cert, key, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_trust_load(ca, NULL, &c->trust, &err), 0, "%s", err.msg);
}

static void ctx_fini(struct ctx *c)
{
	tm_keyring_free(c->keys);
	tm_trust_free(c->trust);
	tm_test_rmtree(c->dir);
	free(c->dir);
	free(c->pki);
}

/* The report with CRLF line ends: a clear-signed (detached) entity must be
 * canonical before it is signed (RFC 8551 3.1.1), or the transport changes
 * the signed bytes; openssl cms -sign -binary signs the bytes as they are. */
static void crlf_yaml(struct tm_buf *out)
{
	for (const char *p = YAML; *p; p++) {
		if (*p == '\n')
			tm_buf_append(out, "\r", 1);
		tm_buf_append(out, p, 1);
	}
}

/* (a) openssl sign + encrypt → m.eml in the temp dir; the report is sent
 * with LF line ends in opaque signed-data (bytes preserved) and CRLF in
 * multipart/signed. `want` gets the report as it must come out. */
static void openssl_make(const struct ctx *c, const char *gw, bool detached, const char *cipher,
			 struct tm_buf *want)
{
	char entity[512];
	snprintf(entity, sizeof(entity), "%s/entity", c->dir);
	struct tm_buf e;
	tm_buf_init(&e);
	tm_buf_append_str(&e, "Content-Type: application/yaml\r\n\r\n");
	if (detached)
		crlf_yaml(want);
	else
		tm_buf_append_str(want, YAML);
	tm_buf_append(&e, want->data, want->len);
	tm_test_write(entity, e.data, e.len);
	tm_buf_fini(&e);
	cr_assert_eq(tm_test_sh("cd '%s' && openssl cms -sign %s -binary -md sha256 "
				"-signer '%sdev-XK100001.pem' -inkey '%sdev-XK100001.key' "
				"-outform SMIME -in entity -out signed.eml",
				c->dir, detached ? "" : "-nodetach", c->pki, c->pki),
		     0);
	const char *keyopt = strcmp(gw, "gw-rsa") == 0 ? "-keyopt rsa_padding_mode:oaep" : "";
	cr_assert_eq(tm_test_sh("cd '%s' && openssl cms -encrypt %s -recip '%s%s.pem' %s "
				"-from xk100001@devices.example -to telemail@gateway.example "
				"-subject 'telemail report' -in signed.eml -out m.eml",
				c->dir, cipher, c->pki, gw, keyopt),
		     0);
}

static int open_file(const struct ctx *c, bool allow_cbc, struct tm_opened *op,
		     struct tm_error *err)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/m.eml", c->dir);
	struct tm_buf msg;
	tm_buf_init(&msg);
	tm_test_read(path, &msg);
	struct tm_open_opts oo = { .keys = c->keys, .trust = c->trust, .allow_cbc = allow_cbc };
	int rc = tm_smime_open(&oo, msg.data, msg.len, op, err);
	tm_buf_fini(&msg);
	return rc;
}

static void openssl_to_telemail(const char *gw, bool detached)
{
	struct ctx c;
	ctx_init(&c, gw);
	struct tm_buf want;
	tm_buf_init(&want);
	openssl_make(&c, gw, detached, "-aes-256-gcm", &want);
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	cr_assert_eq(open_file(&c, false, &op, &err), 0, "%s/%d: %s: %s", gw, detached, err.reason,
		     err.msg);
	cr_assert_eq(op.content.len, want.len, "%zu octets: %s", op.content.len,
		     (char *)op.content.data);
	cr_assert_eq(memcmp(op.content.data, want.data, want.len), 0);
	tm_buf_fini(&want);
	cr_assert_str_eq(op.serial, "XK100001");
	cr_assert_eq(op.detached, detached);
	cr_assert(!op.cbc);
	cr_assert_neq(op.signing_time, INT64_MIN);
	tm_opened_fini(&op);
	ctx_fini(&c);
}

Test(interop, openssl_to_telemail_ec_opaque) { openssl_to_telemail("gw-ec", false); }
Test(interop, openssl_to_telemail_ec_detached) { openssl_to_telemail("gw-ec", true); }
Test(interop, openssl_to_telemail_rsa_opaque) { openssl_to_telemail("gw-rsa", false); }
Test(interop, openssl_to_telemail_rsa_detached) { openssl_to_telemail("gw-rsa", true); }

Test(interop, openssl_cbc_mail_needs_allow_cbc)
{
	struct ctx c;
	ctx_init(&c, "gw-ec");
	struct tm_buf want;
	tm_buf_init(&want);
	openssl_make(&c, "gw-ec", false, "-aes-256-cbc", &want);
	tm_buf_fini(&want);
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	cr_assert_eq(open_file(&c, false, &op, &err), -1);
	cr_assert_str_eq(err.reason, "smime.cbc_not_allowed");
	cr_assert_not_null(strstr(err.msg, "aes-256-cbc"), "%s", err.msg);
	cr_assert_eq(open_file(&c, true, &op, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert(op.cbc);
	cr_assert_eq(op.content.len, strlen(YAML));
	cr_assert_eq(memcmp(op.content.data, YAML, op.content.len), 0);
	tm_opened_fini(&op);
	ctx_fini(&c);
}

/* The content key is AES-256: a key agreement that wraps it with a 128- or
 * 192-bit KEK (openssl cms -wrap) is refused, whichever path decrypts. */
static void openssl_weak_wrap(const char *wrap)
{
	struct ctx c;
	ctx_init(&c, "gw-ec");
	struct tm_buf want;
	tm_buf_init(&want);
	char cipher[64];
	snprintf(cipher, sizeof(cipher), "-aes-256-gcm -wrap %s", wrap);
	openssl_make(&c, "gw-ec", false, cipher, &want);
	tm_buf_fini(&want);
	struct tm_opened op;
	tm_opened_init(&op);
	struct tm_error err = {0};
	cr_assert_eq(open_file(&c, false, &op, &err), -1, "%s was accepted", wrap);
	cr_assert_str_eq(err.reason, "smime.weak_cipher");
	cr_assert_not_null(strstr(err.msg, wrap), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "only aes256-wrap"), "%s", err.msg);
	tm_opened_fini(&op);
	ctx_fini(&c);
}

Test(interop, openssl_aes128_wrap_is_refused) { openssl_weak_wrap("id-aes128-wrap"); }
Test(interop, openssl_aes192_wrap_is_refused) { openssl_weak_wrap("id-aes192-wrap"); }

/* (b) tm_smime_seal → openssl cms -decrypt → openssl cms -verify */
static void telemail_to_openssl(const char *gw, const char *dev, bool detached)
{
	struct ctx c;
	ctx_init(&c, gw);
	struct tm_error err = {0};
	struct tm_identity *id = NULL;
	struct tm_certlist *to = tm_certlist_new();
	char cert[512], key[512];
	snprintf(cert, sizeof(cert), "%s%s.pem", c.pki, dev);
	snprintf(key, sizeof(key), "%s%s.key", c.pki, dev);
	cr_assert_eq(tm_identity_load(cert, key, NULL, &id, &err), 0, "%s", err.msg);
	snprintf(cert, sizeof(cert), "%s%s.pem", c.pki, gw);
	cr_assert_eq(tm_certlist_add_file(to, cert, &err), 0, "%s", err.msg);
	struct tm_seal_opts so = { .signer = id, .recipients = to, .detached = detached,
				   .from = "xk100001@devices.example",
				   .to = "telemail@gateway.example" };
	struct tm_buf msg;
	tm_buf_init(&msg);
	cr_assert_eq(tm_smime_seal(&so, (const uint8_t *)YAML, strlen(YAML), &msg, &err), 0,
		     "%s", err.msg);
	char path[512];
	snprintf(path, sizeof(path), "%s/m.eml", c.dir);
	tm_test_write(path, msg.data, msg.len);

	cr_assert_eq(tm_test_sh("cd '%s' && openssl cms -decrypt -recip '%s%s.pem' -inkey '%s%s.key' "
				"-in m.eml -out inner.eml",
				c.dir, c.pki, gw, c.pki, gw),
		     0, "openssl cms -decrypt failed");
	cr_assert_eq(tm_test_sh("cd '%s' && openssl cms -verify -CAfile '%sca.pem' -in inner.eml "
				"-out content 2>/dev/null",
				c.dir, c.pki),
		     0, "openssl cms -verify failed");
	/* the content is the application/yaml entity; its body is the report */
	snprintf(path, sizeof(path), "%s/content", c.dir);
	struct tm_buf content;
	tm_buf_init(&content);
	tm_test_read(path, &content);
	struct tm_mime_entity e;
	tm_mime_entity_init(&e);
	cr_assert_eq(tm_mime_parse(content.data, content.len, false, NULL, &e, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(e.content_type, "application/yaml");
	cr_assert_eq(e.body.len, strlen(YAML));
	cr_assert_eq(memcmp(e.body.data, YAML, e.body.len), 0);
	/* openssl saw the structure we meant to send */
	if (detached)
		cr_assert_eq(tm_test_sh("grep -q 'multipart/signed' '%s/inner.eml'", c.dir), 0);
	else
		cr_assert_eq(tm_test_sh("grep -q 'smime-type=signed-data' '%s/inner.eml'", c.dir), 0);
	tm_mime_entity_fini(&e);
	tm_buf_fini(&content);
	tm_buf_fini(&msg);
	tm_identity_free(id);
	tm_certlist_free(to);
	ctx_fini(&c);
}

Test(interop, telemail_to_openssl_ec_opaque) { telemail_to_openssl("gw-ec", "dev-XK100001", false); }
Test(interop, telemail_to_openssl_ec_detached) { telemail_to_openssl("gw-ec", "dev-XK100001", true); }
Test(interop, telemail_to_openssl_rsa_opaque) { telemail_to_openssl("gw-rsa", "dev-XK100001", false); }
Test(interop, telemail_to_openssl_rsa_detached) { telemail_to_openssl("gw-rsa", "dev-rsa-XK100001", true); }

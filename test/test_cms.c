/* CMS layer: SignedData and AuthEnvelopedData with OpenSSL 3 (parser/smime/cms*.c).
 * Every bad input asserts the exact reason code and part of the message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "smime/cms.h"
#include "common.h"

static const char CONTENT[] = "Content-Type: application/yaml\r\n\r\nschema_version: 1\r\n";

/* ---- fixtures ------------------------------------------------------------ */

/* Paths of <name>.pem and <name>.key in the test PKI. */
struct pair {
	char cert[512], key[512];
};

static struct pair pki_pair(const char *name)
{
	struct pair p;
	char *dir = tm_test_pki("");
	snprintf(p.cert, sizeof(p.cert), "%s%s.pem", dir, name);
	snprintf(p.key, sizeof(p.key), "%s%s.key", dir, name);
	free(dir);
	return p;
}

static struct tm_identity *load_identity(const char *name)
{
	struct pair p = pki_pair(name);
	struct tm_identity *id = NULL;
	struct tm_error err = {0};
	cr_assert_eq(tm_identity_load(p.cert, p.key, NULL, &id, &err), 0, "%s: %s", name, err.msg);
	return id;
}

static struct tm_certlist *load_certlist(const char *a, const char *b)
{
	struct tm_certlist *cl = tm_certlist_new();
	cr_assert_not_null(cl);
	struct tm_error err = {0};
	const char *names[] = { a, b };
	for (size_t i = 0; i < 2; i++) {
		if (names[i] == NULL)
			continue;
		struct pair p = pki_pair(names[i]);
		cr_assert_eq(tm_certlist_add_file(cl, p.cert, &err), 0, "%s: %s", p.cert, err.msg);
	}
	return cl;
}

static void keyring_add(struct tm_keyring *kr, const char *name)
{
	struct pair p = pki_pair(name);
	struct tm_error err = {0};
	cr_assert_eq(tm_keyring_add_files(kr, p.cert, p.key, &err), 0, "%s: %s", name, err.msg);
}

static struct tm_keyring *load_keyring(const char *name)
{
	struct tm_keyring *kr = tm_keyring_new();
	cr_assert_not_null(kr);
	keyring_add(kr, name);
	return kr;
}

static void sign_with(const char *name, bool detached, struct tm_buf *der)
{
	struct tm_identity *id = load_identity(name);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_sign(id, (const uint8_t *)CONTENT, strlen(CONTENT), detached, der, &err),
		     0, "%s", err.msg);
	tm_identity_free(id);
}

/* Verify a signature by `name` made just now; returns the rc, fills err. */
static int verify_signed_by(const char *name, bool with_crl, struct tm_error *err)
{
	struct tm_buf der, content;
	tm_buf_init(&der);
	tm_buf_init(&content);
	sign_with(name, false, &der);
	struct tm_trust *t = tm_test_trust(with_crl);
	struct tm_signer_info si = { .signing_time = 0 };
	tm_buf_init(&si.der);
	int rc = tm_cms_verify(t, der.data, der.len, NULL, 0, 0, 0, &content, &si, err);
	cr_assert_eq(ERR_peek_error(), 0, "OpenSSL error queue left non-empty");
	tm_buf_fini(&si.der);
	tm_buf_fini(&der);
	tm_buf_fini(&content);
	tm_trust_free(t);
	return rc;
}

static void encrypt_to(const char *a, const char *b, const void *data, size_t len,
		       struct tm_buf *der)
{
	struct tm_certlist *cl = load_certlist(a, b);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_encrypt(cl, data, len, der, &err), 0, "%s", err.msg);
	tm_certlist_free(cl);
}

static int decrypt_with(const char *key, const struct tm_buf *der, bool allow_cbc,
			struct tm_buf *out, bool *cbc, struct tm_error *err)
{
	struct tm_keyring *kr = load_keyring(key);
	int rc = tm_cms_decrypt(kr, der->data, der->len, allow_cbc, out, cbc, err);
	cr_assert_eq(ERR_peek_error(), 0, "OpenSSL error queue left non-empty");
	tm_keyring_free(kr);
	return rc;
}

/* ---- SignedData ---------------------------------------------------------- */

static void sign_verify_roundtrip(const char *name, bool detached)
{
	struct tm_buf der, content;
	tm_buf_init(&der);
	tm_buf_init(&content);
	sign_with(name, detached, &der);
	struct tm_trust *t = tm_test_trust(true);
	struct tm_signer_info si;
	memset(&si, 0, sizeof(si));
	tm_buf_init(&si.der);
	struct tm_error err = {0};
	int64_t now = (int64_t)time(NULL);
	int rc = tm_cms_verify(t, der.data, der.len, detached ? (const uint8_t *)CONTENT : NULL,
			       detached ? strlen(CONTENT) : 0, 0, 0, &content, &si, &err);
	cr_assert_eq(rc, 0, "%s: %s: %s", name, err.reason, err.msg);
	cr_assert_eq(content.len, strlen(CONTENT)); /* detached: the bytes given */
	cr_assert_eq(memcmp(content.data, CONTENT, content.len), 0);
	cr_assert_str_eq(si.serial, "XK100001");
	cr_assert_eq(strlen(si.fingerprint), 64);
	cr_assert_eq(strspn(si.fingerprint, "0123456789abcdef"), 64);
	cr_assert_not_null(strstr(si.subject, "CN=device XK100001"), "%s", si.subject);
	cr_assert_not_null(strstr(si.subject, "serialNumber=XK100001"), "%s", si.subject);
	cr_assert(si.signing_time >= now - 60 && si.signing_time <= now + 60);
	cr_assert_gt(si.der.len, 100);
	cr_assert_eq(si.der.data[0], 0x30);
	tm_buf_fini(&si.der);
	tm_buf_fini(&der);
	tm_buf_fini(&content);
	tm_trust_free(t);
}

Test(cms, sign_verify_ec_opaque) { sign_verify_roundtrip("dev-XK100001", false); }
Test(cms, sign_verify_ec_detached) { sign_verify_roundtrip("dev-XK100001", true); }
Test(cms, sign_verify_rsa_opaque) { sign_verify_roundtrip("dev-rsa-XK100001", false); }
Test(cms, sign_verify_rsa_detached) { sign_verify_roundtrip("dev-rsa-XK100001", true); }

/* `openssl cms -cmsout -print` of a DER structure. */
static void cms_print(const struct tm_buf *der, struct tm_buf *text)
{
	char *dir = tm_test_tmpdir();
	char path[256], out[256];
	snprintf(path, sizeof(path), "%s/c.der", dir);
	snprintf(out, sizeof(out), "%s/print.txt", dir);
	tm_test_write(path, der->data, der->len);
	cr_assert_eq(tm_test_sh("openssl cms -cmsout -print -inform DER -in '%s' > '%s'", path, out), 0);
	tm_test_read(out, text);
	tm_test_rmtree(dir);
	free(dir);
}

Test(cms, signature_uses_sha256_and_signing_time)
{
	struct tm_buf der, p;
	tm_buf_init(&der);
	tm_buf_init(&p);
	sign_with("dev-XK100001", false, &der);
	cms_print(&der, &p);
	cr_assert_not_null(strstr((char *)p.data, "sha256"));
	cr_assert_not_null(strstr((char *)p.data, "signingTime"));
	tm_buf_fini(&p);
	tm_buf_fini(&der);
}

Test(cms, untrusted_signer)
{
	struct tm_error err = {0};
	cr_assert_eq(verify_signed_by("dev-untrusted", false, &err), -1);
	cr_assert_str_eq(err.reason, "smime.untrusted_signer");
	cr_assert_not_null(strstr(err.msg, "trusted CA"), "%s", err.msg);
}

Test(cms, expired_signer)
{
	struct tm_error err = {0};
	cr_assert_eq(verify_signed_by("dev-expired", false, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signer_expired");
	cr_assert_not_null(strstr(err.msg, "depth 0"), "%s", err.msg);
}

Test(cms, signer_without_eku_email_protection)
{
	struct tm_error err = {0};
	cr_assert_eq(verify_signed_by("dev-noeku", false, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signer_eku");
	cr_assert_not_null(strstr(err.msg, "emailProtection"), "%s", err.msg);
}

Test(cms, signer_without_digital_signature)
{
	struct tm_error err = {0};
	cr_assert_eq(verify_signed_by("dev-nodigsig", false, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signer_key_usage");
	cr_assert_not_null(strstr(err.msg, "digitalSignature"), "%s", err.msg);
}

Test(cms, revoked_signer_with_crl)
{
	struct tm_error err = {0};
	cr_assert_eq(verify_signed_by("dev-revoked", true, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signer_revoked");
	cr_assert_not_null(strstr(err.msg, "revoked"), "%s", err.msg);
	/* the same certificate passes when no CRL is configured: the CRL decides */
	tm_error_clear(&err);
	cr_assert_eq(verify_signed_by("dev-revoked", false, &err), 0, "%s", err.msg);
	/* and a good device passes with the CRL */
	cr_assert_eq(verify_signed_by("dev-XK100002", true, &err), 0, "%s", err.msg);
}

Test(cms, signer_without_subject_serial)
{
	struct tm_error err = {0};
	cr_assert_eq(verify_signed_by("dev-noserial", false, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signer_no_serial");
	cr_assert_not_null(strstr(err.msg, "serialNumber"), "%s", err.msg);
}

Test(cms, detached_signature_over_modified_content)
{
	struct tm_buf der, content;
	tm_buf_init(&der);
	tm_buf_init(&content);
	sign_with("dev-XK100001", true, &der);
	struct tm_trust *t = tm_test_trust(false);
	struct tm_signer_info si = { .signing_time = 0 };
	tm_buf_init(&si.der);
	struct tm_error err = {0};
	char changed[sizeof(CONTENT)];
	memcpy(changed, CONTENT, sizeof(CONTENT));
	changed[strlen(changed) - 3] = '2'; /* schema_version: 2 */
	int rc = tm_cms_verify(t, der.data, der.len, (const uint8_t *)changed, strlen(changed), 0, 0,
			       &content, &si, &err);
	cr_assert_eq(rc, -1);
	cr_assert_str_eq(err.reason, "smime.bad_signature");
	cr_assert_not_null(strstr(err.msg, "detached"), "%s", err.msg);
	cr_assert_eq(ERR_peek_error(), 0);
	/* one more byte at the end is a change too (CMS_BINARY: no canonicalization) */
	tm_error_clear(&err);
	char longer[sizeof(CONTENT) + 1];
	snprintf(longer, sizeof(longer), "%s ", CONTENT);
	rc = tm_cms_verify(t, der.data, der.len, (const uint8_t *)longer, strlen(longer), 0, 0,
			   &content, &si, &err);
	cr_assert_eq(rc, -1);
	cr_assert_str_eq(err.reason, "smime.bad_signature");
	tm_buf_fini(&si.der);
	tm_buf_fini(&der);
	tm_buf_fini(&content);
	tm_trust_free(t);
}

static int verify_at(const struct tm_buf *der, int64_t now, struct tm_error *err)
{
	struct tm_trust *t = tm_test_trust(false);
	struct tm_signer_info si = { .signing_time = 0 };
	tm_buf_init(&si.der);
	int rc = tm_cms_verify(t, der->data, der->len, NULL, 0, now, 0, NULL, &si, err);
	tm_buf_fini(&si.der);
	tm_trust_free(t);
	return rc;
}

Test(cms, signing_time_in_the_future)
{
	struct tm_buf der;
	tm_buf_init(&der);
	sign_with("dev-XK100001", false, &der);
	struct tm_error err = {0};
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(verify_at(&der, now - 86400, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signing_time");
	cr_assert_not_null(strstr(err.msg, "300 s after"), "%s", err.msg);
	/* within the allowed skew it passes */
	cr_assert_eq(verify_at(&der, now - 200, &err), 0, "%s: %s", err.reason, err.msg);
	tm_buf_fini(&der);
}

/* SignedData built by hand: no signer, or two. */
static void build_signed(const char *const *names, size_t n, struct tm_buf *der)
{
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
	cr_assert_not_null(cms);
	for (size_t i = 0; i < n; i++) {
		struct pair pp = pki_pair(names[i]);
		BIO *cb = BIO_new_file(pp.cert, "r"), *kb = BIO_new_file(pp.key, "r");
		X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
		EVP_PKEY *pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
		cr_assert(x != NULL && pk != NULL);
		cr_assert_not_null(CMS_add1_signer(cms, x, pk, EVP_sha256(), CMS_BINARY));
		X509_free(x);
		EVP_PKEY_free(pk);
		BIO_free(cb);
		BIO_free(kb);
	}
	BIO *in = BIO_new_mem_buf(CONTENT, (int)strlen(CONTENT));
	if (n > 0) {
		cr_assert_eq(CMS_final(cms, in, NULL, CMS_BINARY), 1);
	} else {
		/* OpenSSL 3.0's CMS_final refuses a SignedData without signers:
		 * put the content in by hand, it is what CMS_final would do. */
		ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
		cr_assert_not_null(pos);
		if (*pos == NULL)
			*pos = ASN1_OCTET_STRING_new();
		cr_assert_not_null(*pos);
		cr_assert_eq(ASN1_OCTET_STRING_set(*pos, (const unsigned char *)CONTENT,
						   (int)strlen(CONTENT)), 1);
	}
	unsigned char *p = NULL;
	int len = i2d_CMS_ContentInfo(cms, &p);
	cr_assert_gt(len, 0);
	tm_buf_append(der, p, (size_t)len);
	OPENSSL_free(p);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
}

Test(cms, no_signer)
{
	struct tm_buf der;
	tm_buf_init(&der);
	build_signed(NULL, 0, &der);
	struct tm_error err = {0};
	cr_assert_eq(verify_at(&der, 0, &err), -1);
	cr_assert_str_eq(err.reason, "smime.no_signer");
	cr_assert_not_null(strstr(err.msg, "no SignerInfo"), "%s", err.msg);
	tm_buf_fini(&der);
}

Test(cms, multiple_signers)
{
	const char *const two[] = { "dev-XK100001", "dev-XK100002" };
	struct tm_buf der;
	tm_buf_init(&der);
	build_signed(two, 2, &der);
	struct tm_error err = {0};
	cr_assert_eq(verify_at(&der, 0, &err), -1);
	cr_assert_str_eq(err.reason, "smime.multiple_signers");
	cr_assert_not_null(strstr(err.msg, "2 SignerInfos"), "%s", err.msg);
	/* the hand-built single-signer variant is fine: the builder is not the cause */
	tm_buf_reset(&der);
	build_signed(two, 1, &der);
	cr_assert_eq(verify_at(&der, 0, &err), 0, "%s", err.msg);
	tm_buf_fini(&der);
}

Test(cms, verify_rejects_garbage_and_envelopes)
{
	struct tm_error err = {0};
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01 };
	struct tm_buf der;
	tm_buf_init(&der);
	tm_buf_append(&der, junk, sizeof(junk));
	cr_assert_eq(verify_at(&der, 0, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed");
	cr_assert_not_null(strstr(err.msg, "cannot parse"), "%s", err.msg);
	tm_buf_reset(&der);
	encrypt_to("gw-ec", NULL, "x", 1, &der);
	cr_assert_eq(verify_at(&der, 0, &err), -1);
	cr_assert_str_eq(err.reason, "smime.not_signed");
	cr_assert_not_null(strstr(err.msg, "not signedData"), "%s", err.msg);
	/* an opaque signature verified as detached is malformed */
	tm_buf_reset(&der);
	sign_with("dev-XK100001", false, &der);
	struct tm_trust *t = tm_test_trust(false);
	struct tm_signer_info si = { .signing_time = 0 };
	tm_buf_init(&si.der);
	cr_assert_eq(tm_cms_verify(t, der.data, der.len, (const uint8_t *)"x", 1, 0, 0, NULL, &si, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed");
	cr_assert_not_null(strstr(err.msg, "also carries content"), "%s", err.msg);
	tm_buf_fini(&si.der);
	tm_trust_free(t);
	tm_buf_fini(&der);
}

/* ---- AuthEnvelopedData ---------------------------------------------------- */

static void encrypt_decrypt(const char *to_a, const char *to_b, const char *key)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	encrypt_to(to_a, to_b, CONTENT, strlen(CONTENT), &der);
	struct tm_error err = {0};
	bool cbc = true;
	cr_assert_eq(decrypt_with(key, &der, false, &out, &cbc, &err), 0, "%s: %s: %s", key,
		     err.reason, err.msg);
	cr_assert_eq(out.len, strlen(CONTENT));
	cr_assert_eq(memcmp(out.data, CONTENT, out.len), 0);
	cr_assert(!cbc);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

Test(cms, encrypt_decrypt_ec) { encrypt_decrypt("gw-ec", NULL, "gw-ec"); }
Test(cms, encrypt_decrypt_rsa) { encrypt_decrypt("gw-rsa", NULL, "gw-rsa"); }
Test(cms, two_recipients_either_key_opens)
{
	encrypt_decrypt("gw-ec", "gw-rsa", "gw-ec");
	encrypt_decrypt("gw-ec", "gw-rsa", "gw-rsa");
	encrypt_decrypt("gw-rsa", "gw-ec", "gw-ec");
}

Test(cms, envelope_is_authenveloped_gcm_with_oaep)
{
	struct tm_buf der, p;
	tm_buf_init(&der);
	tm_buf_init(&p);
	encrypt_to("gw-ec", "gw-rsa", CONTENT, strlen(CONTENT), &der);
	cms_print(&der, &p);
	const char *s = (const char *)p.data;
	cr_assert_not_null(strstr(s, "id-smime-ct-authEnvelopedData"), "%s", s);
	cr_assert_not_null(strstr(s, "aes-256-gcm"), "%s", s);
	cr_assert_not_null(strstr(s, "rsaesOaep"), "%s", s);
	cr_assert_not_null(strstr(s, "dhSinglePass-stdDH"), "%s", s); /* ECDH */
	tm_buf_fini(&p);
	tm_buf_fini(&der);
}

Test(cms, wrong_recipient)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	encrypt_to("gw-other", NULL, CONTENT, strlen(CONTENT), &der);
	struct tm_error err = {0};
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.wrong_recipient");
	cr_assert_not_null(strstr(err.msg, "1 gateway certificates"), "%s", err.msg);
	cr_assert_eq(out.len, 0);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

/* Our envelopes end with the mac: OCTET STRING, 16 octets. */
static size_t mac_offset(const struct tm_buf *der)
{
	cr_assert_gt(der->len, 40);
	size_t at = der->len - 18;
	cr_assert(der->data[at] == 0x04 && der->data[at + 1] == 0x10, "mac not at the end");
	return at;
}

Test(cms, flipped_ciphertext_byte_is_tampered)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	encrypt_to("gw-ec", NULL, CONTENT, strlen(CONTENT), &der);
	der.data[mac_offset(&der) - 1] ^= 0x01; /* last ciphertext octet */
	struct tm_error err = {0};
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.tampered");
	cr_assert_not_null(strstr(err.msg, "AES-GCM authentication failed"), "%s", err.msg);
	cr_assert_eq(out.len, 0, "no plaintext may come out of a failed GCM check");
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

Test(cms, flipped_tag_byte_is_tampered)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	encrypt_to("gw-rsa", NULL, CONTENT, strlen(CONTENT), &der);
	der.data[der.len - 1] ^= 0x80;
	struct tm_error err = {0};
	cr_assert_eq(decrypt_with("gw-rsa", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.tampered");
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

/* Re-encode one header with a new content length. */
static void put_header(struct tm_buf *out, int constructed, size_t clen, int tag, int cls)
{
	unsigned char hdr[16], *p = hdr;
	ASN1_put_object(&p, constructed, (int)clen, tag, cls);
	tm_buf_append(out, hdr, (size_t)(p - hdr));
}

struct hdr {
	size_t off, hlen, clen;
	int tag, cls;
};

static struct hdr read_header(const struct tm_buf *der, size_t off)
{
	const unsigned char *p = der->data + off;
	long len;
	struct hdr h = { .off = off };
	int r = ASN1_get_object(&p, &len, &h.tag, &h.cls, (long)(der->len - off));
	cr_assert_eq(r, V_ASN1_CONSTRUCTED, "expected a definite constructed element");
	h.hlen = (size_t)(p - (der->data + off));
	h.clen = (size_t)len;
	return h;
}

static size_t object_size(size_t clen, int tag)
{
	return (size_t)ASN1_object_size(1, (int)clen, tag);
}

/* Rewrite our DER envelope so the mac is `keep` octets: ContentInfo, its
 * [0] and the AuthEnvelopedData SEQUENCE get their lengths fixed. */
static void shorten_mac(const struct tm_buf *der, size_t keep, struct tm_buf *out)
{
	size_t mac = mac_offset(der);
	size_t cut = 16 - keep;
	struct hdr ci = read_header(der, 0);
	size_t oid_total = 2 + der->data[ci.hlen + 1];
	struct hdr x0 = read_header(der, ci.hlen + oid_total);
	struct hdr aed = read_header(der, x0.off + x0.hlen);
	cr_assert_eq(aed.off + aed.hlen + aed.clen, der->len, "AED must be last");
	size_t aed_clen = aed.clen - cut;
	size_t x0_clen = object_size(aed_clen, V_ASN1_SEQUENCE);
	size_t ci_clen = oid_total + object_size(x0_clen, 0);
	put_header(out, 1, ci_clen, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	tm_buf_append(out, der->data + ci.hlen, oid_total);
	put_header(out, 1, x0_clen, 0, V_ASN1_CONTEXT_SPECIFIC);
	put_header(out, 1, aed_clen, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	size_t body = aed.off + aed.hlen;
	tm_buf_append(out, der->data + body, mac - body);
	uint8_t mh[2] = { 0x04, (uint8_t)keep };
	tm_buf_append(out, mh, 2);
	tm_buf_append(out, der->data + mac + 2, keep);
}

Test(cms, truncated_gcm_tag)
{
	struct tm_buf der, shortened, out;
	tm_buf_init(&der);
	tm_buf_init(&shortened);
	tm_buf_init(&out);
	encrypt_to("gw-ec", NULL, CONTENT, strlen(CONTENT), &der);
	shorten_mac(&der, 8, &shortened);
	cr_assert_eq(shortened.len, der.len - 8);
	/* the rewritten envelope is well-formed CMS (OpenSSL parses it) */
	const unsigned char *p = shortened.data;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)shortened.len);
	cr_assert_not_null(cms, "the test helper made broken DER");
	cr_assert_eq(p, shortened.data + shortened.len);
	CMS_ContentInfo_free(cms);
	struct tm_error err = {0};
	cr_assert_eq(decrypt_with("gw-ec", &shortened, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.truncated_tag");
	cr_assert_not_null(strstr(err.msg, "8 octets"), "%s", err.msg);
	/* the helper with keep = 16 changes nothing and decrypts */
	tm_buf_reset(&shortened);
	shorten_mac(&der, 16, &shortened);
	cr_assert_eq(shortened.len, der.len);
	cr_assert_eq(memcmp(shortened.data, der.data, der.len), 0);
	tm_buf_fini(&der);
	tm_buf_fini(&shortened);
	tm_buf_fini(&out);
}

/* Encrypt with the openssl command line (other ciphers than ours). */
static void cli_encrypt(const char *cipher, const char *recip, struct tm_buf *der)
{
	char *dir = tm_test_tmpdir();
	char in[256], outp[256];
	snprintf(in, sizeof(in), "%s/in", dir);
	snprintf(outp, sizeof(outp), "%s/out.der", dir);
	tm_test_write(in, CONTENT, strlen(CONTENT));
	char *r = tm_test_pki(recip);
	cr_assert_eq(tm_test_sh("openssl cms -encrypt -binary %s -outform DER -recip '%s' -in '%s' -out '%s'",
				cipher, r, in, outp),
		     0);
	tm_test_read(outp, der);
	free(r);
	tm_test_rmtree(dir);
	free(dir);
}

Test(cms, cbc_only_when_allowed)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	cli_encrypt("-aes-256-cbc", "gw-ec.pem", &der);
	struct tm_error err = {0};
	bool cbc = false;
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, &cbc, &err), -1);
	cr_assert_str_eq(err.reason, "smime.cbc_not_allowed");
	cr_assert_not_null(strstr(err.msg, "aes-256-cbc"), "%s", err.msg);
	cr_assert_eq(decrypt_with("gw-ec", &der, true, &out, &cbc, &err), 0, "%s", err.msg);
	cr_assert(cbc);
	cr_assert_eq(out.len, strlen(CONTENT));
	cr_assert_eq(memcmp(out.data, CONTENT, out.len), 0);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

Test(cms, weak_ciphers)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	struct tm_error err = {0};
	cli_encrypt("-des3", "gw-rsa.pem", &der);
	cr_assert_eq(decrypt_with("gw-rsa", &der, true, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.weak_cipher");
	cr_assert_not_null(strstr(err.msg, "des-ede3-cbc"), "%s", err.msg);
	tm_buf_reset(&der);
	cli_encrypt("-aes-128-gcm", "gw-ec.pem", &der);
	cr_assert_eq(decrypt_with("gw-ec", &der, true, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.weak_cipher");
	cr_assert_not_null(strstr(err.msg, "aes-128-gcm"), "%s", err.msg);
	/* allow_cbc promises AES-256-CBC: shorter CBC keys are refused (issue 14) */
	for (const char *const *c = (const char *const[]){ "-aes-128-cbc", "-aes-192-cbc", NULL };
	     *c != NULL; c++) {
		tm_buf_reset(&der);
		cli_encrypt(*c, "gw-ec.pem", &der);
		cr_assert_eq(decrypt_with("gw-ec", &der, true, &out, NULL, &err), -1, "%s", *c);
		cr_assert_str_eq(err.reason, "smime.weak_cipher", "%s: %s", *c, err.msg);
		cr_assert_not_null(strstr(err.msg, *c + 1), "%s", err.msg);
	}
	/* the CLI's aes-256-gcm (full tag) opens */
	tm_buf_reset(&der);
	cli_encrypt("-aes-256-gcm", "gw-ec.pem", &der);
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(out.len, strlen(CONTENT));
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

Test(cms, rsa_pkcs1v15_key_transport_opens)
{
	/* older senders use RSA PKCS#1 v1.5 key transport (the CLI default) */
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	cli_encrypt("-aes-256-gcm", "gw-rsa.pem", &der);
	struct tm_error err = {0};
	cr_assert_eq(decrypt_with("gw-rsa", &der, false, &out, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(out.len, strlen(CONTENT));
	cr_assert_eq(memcmp(out.data, CONTENT, out.len), 0);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

Test(cms, decrypt_rejects_garbage_signed_and_trailing_data)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	struct tm_error err = {0};
	tm_buf_append(&der, "\x30\x80\x06", 3);
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed");
	cr_assert_not_null(strstr(err.msg, "offset"), "%s", err.msg);
	tm_buf_reset(&der);
	sign_with("dev-XK100001", false, &der);
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.not_encrypted");
	cr_assert_not_null(strstr(err.msg, "signedData"), "%s", err.msg);
	tm_buf_reset(&der);
	encrypt_to("gw-ec", NULL, "x", 1, &der);
	tm_buf_append(&der, "\0", 1);
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed");
	cr_assert_not_null(strstr(err.msg, "1 octets of trailing data"), "%s", err.msg);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

Test(cms, nesting_limit_of_the_envelope_walk)
{
	/* ContentInfo (indefinite) { authEnvelopedData OID, [0] { SEQ { 40 nested
	 * indefinite SEQUENCEs } } }: deeper than the walk allows. */
	static const uint8_t head[] = { 0x30, 0x80, 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7,
					0x0d, 0x01, 0x09, 0x10, 0x01, 0x17, 0xa0, 0x80 };
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	tm_buf_append(&der, head, sizeof(head));
	for (int i = 0; i < 40; i++)
		tm_buf_append(&der, "\x30\x80", 2);
	for (int i = 0; i < 42; i++)
		tm_buf_append(&der, "\0\0", 2);
	struct tm_error err = {0};
	cr_assert_eq(decrypt_with("gw-ec", &der, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed");
	cr_assert_not_null(strstr(err.msg, "deeper than 32"), "%s", err.msg);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

/* ---- handles -------------------------------------------------------------- */

Test(cms, identity_key_must_match_certificate)
{
	char *c = tm_test_pki("dev-XK100001.pem"), *k = tm_test_pki("dev-XK100002.key");
	struct tm_identity *id = NULL;
	struct tm_error err = {0};
	cr_assert_eq(tm_identity_load(c, k, NULL, &id, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "does not belong"), "%s", err.msg);
	cr_assert_null(id);
	cr_assert_eq(tm_identity_load(c, "/nonexistent/key.pem", NULL, &id, &err), -1);
	cr_assert_str_eq(err.reason, "io.open");
	cr_assert_not_null(strstr(err.msg, "/nonexistent/key.pem"), "%s", err.msg);
	/* a certificate file used as key file: no key in it */
	cr_assert_eq(tm_identity_load(c, c, NULL, &id, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "no usable private key"), "%s", err.msg);
	cr_assert_eq(ERR_peek_error(), 0);
	free(c);
	free(k);
}

Test(cms, keyring_limit)
{
	struct tm_keyring *kr = tm_keyring_new();
	for (int i = 0; i < 16; i++)
		keyring_add(kr, "gw-ec");
	cr_assert_eq(tm_keyring_count(kr), 16);
	char *c = tm_test_pki("gw-rsa.pem"), *k = tm_test_pki("gw-rsa.key");
	struct tm_error err = {0};
	cr_assert_eq(tm_keyring_add_files(kr, c, k, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "already holds 16"), "%s", err.msg);
	free(c);
	free(k);
	tm_keyring_free(kr);
}

Test(cms, certlist_limit_and_count)
{
	struct tm_certlist *cl = tm_certlist_new();
	char *c = tm_test_pki("gw-ec.pem");
	struct tm_error err = {0};
	for (int i = 0; i < 16; i++)
		cr_assert_eq(tm_certlist_add_file(cl, c, &err), 0, "%s", err.msg);
	cr_assert_eq(tm_certlist_count(cl), 16);
	cr_assert_eq(tm_certlist_add_file(cl, c, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "more than 16 recipient"), "%s", err.msg);
	free(c);
	tm_certlist_free(cl);
	/* an empty list cannot encrypt */
	cl = tm_certlist_new();
	struct tm_buf der;
	tm_buf_init(&der);
	cr_assert_eq(tm_cms_encrypt(cl, (const uint8_t *)"x", 1, &der, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "no recipient"), "%s", err.msg);
	tm_certlist_free(cl);
	tm_buf_fini(&der);
}

Test(cms, trust_needs_a_ca_and_a_readable_crl)
{
	struct tm_trust *t = NULL;
	struct tm_error err = {0};
	char *key = tm_test_pki("ca.key"), *ca = tm_test_pki("ca.pem");
	cr_assert_eq(tm_trust_load(key, NULL, &t, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "no PEM certificate"), "%s", err.msg);
	cr_assert_eq(tm_trust_load(ca, ca, &t, &err), -1);
	cr_assert_str_eq(err.reason, "smime.key");
	cr_assert_not_null(strstr(err.msg, "CRL 1"), "%s", err.msg);
	cr_assert_null(t);
	free(key);
	free(ca);
}

Test(cms, free_null_is_a_no_op)
{
	tm_identity_free(NULL);
	tm_certlist_free(NULL);
	tm_keyring_free(NULL);
	tm_trust_free(NULL);
	cr_assert_eq(tm_certlist_count(NULL), 0);
	cr_assert_eq(tm_keyring_count(NULL), 0);
}

/* (Over 800 lines: one test file per module, STYLE.md; most of it is the
 * DER builder of the crafted shapes.)
 *
 * The fast path of CMS decryption (parser/smime/cms_kari.c): ECDH recipients and
 * AES-256-GCM with EVP primitives. What it proves: where the fast path says
 * "done", OpenSSL's CMS (the general path) opens the same message to the same
 * bytes; everything else is "not done", leaves nothing behind, and
 * tm_cms_decrypt then gives the same verdict as before (reason codes). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "smime/cms.h"
#include "smime/cms_private.h"
#include "common.h"

static const char CONTENT[] = "Content-Type: application/yaml\r\n\r\nschema_version: 1\r\n";

/* ---- keys, sealing and the reference ------------------------------------------- */

/* Absolute path of <name><ext>: a test PKI name, or a path as it is. */
static char *key_path(const char *name, const char *ext)
{
	char rel[512];
	snprintf(rel, sizeof(rel), "%s%s", name, ext);
	return name[0] == '/' ? strdup(rel) : tm_test_pki(rel);
}

/* A keyring of the pairs named, in order (up to 3, NULL ends). */
static struct tm_keyring *ring(const char *a, const char *b, const char *c)
{
	struct tm_keyring *kr = tm_keyring_new();
	const char *names[] = { a, b, c };
	for (size_t i = 0; i < 3 && names[i] != NULL; i++) {
		char *cert = key_path(names[i], ".pem"), *key = key_path(names[i], ".key");
		struct tm_error err = {0};
		cr_assert_eq(tm_keyring_add_files(kr, cert, key, &err), 0, "%s: %s", cert, err.msg);
		free(cert);
		free(key);
	}
	return kr;
}

/* AuthEnvelopedData by tm_cms_encrypt (what the agent sends) to the names. */
static void seal(const char *a, const char *b, struct tm_buf *der)
{
	struct tm_certlist *cl = tm_certlist_new();
	const char *names[] = { a, b };
	struct tm_error err = {0};
	for (size_t i = 0; i < 2 && names[i] != NULL; i++) {
		char *cert = key_path(names[i], ".pem");
		cr_assert_eq(tm_certlist_add_file(cl, cert, &err), 0, "%s: %s", cert, err.msg);
		free(cert);
	}
	cr_assert_eq(tm_cms_encrypt(cl, (const uint8_t *)CONTENT, strlen(CONTENT), der, &err), 0,
		     "%s", err.msg);
	tm_certlist_free(cl);
}

/* AuthEnvelopedData by the openssl command line, with extra options. */
static void cli_seal(const char *recip, const char *opts, struct tm_buf *der)
{
	char *dir = tm_test_tmpdir(), *r = key_path(recip, ".pem");
	char in[256], out[256];
	snprintf(in, sizeof(in), "%s/in", dir);
	snprintf(out, sizeof(out), "%s/out.der", dir);
	tm_test_write(in, CONTENT, strlen(CONTENT));
	/* options after -recip: -keyopt applies to the recipient before it */
	cr_assert_eq(tm_test_sh("openssl cms -encrypt -binary -aes-256-gcm -outform DER "
				"-recip '%s' %s -in '%s' -out '%s'", r, opts, in, out),
		     0, "%s", opts);
	tm_test_read(out, der);
	free(r);
	tm_test_rmtree(dir);
	free(dir);
}

/* The certificate (<name>.pem) or the private key (<name>.key) of a pair. */
static void *read_pem(const char *name, bool key)
{
	char *path = key_path(name, key ? ".key" : ".pem");
	BIO *b = BIO_new_file(path, "r");
	cr_assert_not_null(b, "%s", path);
	void *x = key ? (void *)PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
		      : (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);
	cr_assert_not_null(x, "%s", path);
	BIO_free(b);
	free(path);
	return x;
}

/* The reference: OpenSSL's CMS alone, given the key and its certificate. */
static int reference_open(const char *name, const struct tm_buf *der, struct tm_buf *out)
{
	EVP_PKEY *key = read_pem(name, true);
	X509 *cert = read_pem(name, false);
	const unsigned char *p = der->data;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der->len);
	BIO *b = BIO_new(BIO_s_mem());
	int rc = cms != NULL && p == der->data + der->len &&
			 CMS_decrypt(cms, key, cert, NULL, b, CMS_BINARY) == 1 ? 0 : -1;
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	if (rc == 0)
		tm_buf_append(out, data, (size_t)n);
	BIO_free(b);
	CMS_ContentInfo_free(cms);
	X509_free(cert);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

/* The fast path does it, and the result is the reference's and tm_cms_decrypt's. */
static void opens_fast(struct tm_keyring *kr, const char *key, const struct tm_buf *der,
		       const char *what)
{
	struct tm_buf fast, ref, full;
	tm_buf_init(&fast);
	tm_buf_init(&ref);
	tm_buf_init(&full);
	tm_buf_append(&fast, "kept", 4); /* appended to, as the general path does */
	cr_assert_eq(tm_cms_kari_decrypt(kr, der->data, der->len, &fast), 1,
		     "%s: the fast path did not do it", what);
	cr_assert_eq(ERR_peek_error(), 0, "%s: OpenSSL error queue left non-empty", what);
	cr_assert_eq(reference_open(key, der, &ref), 0, "%s: OpenSSL cannot open it", what);
	struct tm_error err = {0};
	bool cbc = true;
	cr_assert_eq(tm_cms_decrypt(kr, der->data, der->len, false, &full, &cbc, &err), 0, "%s: %s",
		     what, err.msg);
	cr_assert(!cbc);
	cr_assert_eq(fast.len, 4 + ref.len, "%s", what);
	cr_assert_eq(memcmp(fast.data, "kept", 4), 0);
	cr_assert_eq(memcmp(fast.data + 4, ref.data, ref.len), 0, "%s: other bytes", what);
	cr_assert_eq(fast.data[fast.len], '\0');
	cr_assert_eq(full.len, ref.len);
	cr_assert_eq(memcmp(full.data, ref.data, ref.len), 0);
	tm_buf_fini(&fast);
	tm_buf_fini(&ref);
	tm_buf_fini(&full);
}

/* The fast path does not do it and leaves nothing behind; tm_cms_decrypt
 * gives `reason` (NULL: it opens, as the reference does). */
static void declines(struct tm_keyring *kr, const char *key, const struct tm_buf *der,
		     const char *reason, const char *what)
{
	struct tm_buf out, ref;
	tm_buf_init(&out);
	tm_buf_init(&ref);
	tm_buf_append(&out, "kept", 4);
	cr_assert_eq(tm_cms_kari_decrypt(kr, der->data, der->len, &out), 0, "%s: done", what);
	cr_assert_eq(out.len, 4, "%s", what);
	cr_assert_str_eq((const char *)out.data, "kept");
	cr_assert_eq(ERR_peek_error(), 0, "%s: OpenSSL error queue left non-empty", what);
	tm_buf_reset(&out);
	struct tm_error err = {0};
	int rc = tm_cms_decrypt(kr, der->data, der->len, false, &out, NULL, &err);
	if (reason == NULL) {
		cr_assert_eq(rc, 0, "%s: %s: %s", what, err.reason, err.msg);
		cr_assert_eq(reference_open(key, der, &ref), 0, "%s", what);
		cr_assert_eq(out.len, ref.len, "%s", what);
		cr_assert_eq(memcmp(out.data, ref.data, ref.len), 0, "%s", what);
	} else {
		cr_assert_eq(rc, -1, "%s: opened", what);
		cr_assert_str_eq(err.reason, reason, "%s: %s", what, err.msg);
		cr_assert_eq(out.len, 0, "%s", what);
	}
	tm_buf_fini(&out);
	tm_buf_fini(&ref);
}

/* ---- messages made by the agent and by the openssl command line ------------------ */

Test(cms_kari, agent_message_opens_fast)
{
	struct tm_buf der;
	tm_buf_init(&der);
	seal("gw-ec", NULL, &der);
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	opens_fast(kr, "gw-ec", &der, "agent");
	tm_keyring_free(kr);
	/* the key that opens it need not come first, nor the recipient */
	kr = ring("gw-other", "gw-rsa", "gw-ec");
	opens_fast(kr, "gw-ec", &der, "third key");
	tm_buf_reset(&der);
	seal("gw-other", "gw-ec", &der);
	opens_fast(kr, "gw-other", &der, "two recipients, the first key");
	tm_keyring_free(kr);
	kr = ring("gw-ec", NULL, NULL);
	opens_fast(kr, "gw-ec", &der, "two recipients, the second");
	tm_keyring_free(kr);
	tm_buf_fini(&der);
}

Test(cms_kari, openssl_command_line_messages_open_fast)
{
	static const char *const opts[] = {
		"",
		"-keyid",                                       /* rKeyId: the SKI */
		"-stream",                                      /* BER, chunked content */
		"-keyopt ecdh_kdf_md:sha256",
		"-keyopt ecdh_kdf_md:sha384",
		"-keyopt ecdh_kdf_md:sha512 -wrap aes256-wrap",
	};
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct tm_buf der;
		tm_buf_init(&der);
		cli_seal("gw-ec", opts[i], &der);
		opens_fast(kr, "gw-ec", &der, opts[i]);
		tm_buf_fini(&der);
	}
	/* a 128- or 192-bit wrap of the 256-bit content key: refused (issue 14) */
	static const char *const weak[] = { "-wrap aes192-wrap", "-wrap aes128-wrap" };
	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		struct tm_buf der;
		tm_buf_init(&der);
		cli_seal("gw-ec", weak[i], &der);
		declines(kr, "gw-ec", &der, "smime.weak_cipher", weak[i]);
		tm_buf_fini(&der);
	}
	tm_keyring_free(kr);
}

Test(cms_kari, other_shapes_take_the_general_path)
{
	struct tm_buf der;
	tm_buf_init(&der);
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	cli_seal("gw-ec", "-aes-256-cbc", &der); /* the later option wins */
	declines(kr, "gw-ec", &der, "smime.cbc_not_allowed", "CBC");
	tm_buf_reset(&der);
	seal("gw-ec", "gw-rsa", &der); /* a key transport RecipientInfo too */
	declines(kr, "gw-ec", &der, NULL, "ktri and kari");
	tm_keyring_free(kr);
	kr = ring("gw-rsa", NULL, NULL);
	declines(kr, "gw-rsa", &der, NULL, "RSA key");
	tm_buf_reset(&der);
	cli_seal("gw-rsa", "", &der);
	declines(kr, "gw-rsa", &der, NULL, "RSA PKCS#1 v1.5");
	tm_keyring_free(kr);
	tm_buf_fini(&der);
}

Test(cms_kari, not_ours_is_never_tried)
{
	struct tm_buf der;
	tm_buf_init(&der);
	seal("gw-other", NULL, &der);
	struct tm_keyring *kr = ring("gw-ec", "gw-rsa", NULL);
	declines(kr, "gw-ec", &der, "smime.wrong_recipient", "another gateway's");
	struct tm_buf out;
	tm_buf_init(&out);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_decrypt(kr, der.data, der.len, false, &out, NULL, &err), -1);
	cr_assert_str_eq(err.msg, "none of the 1 RecipientInfos names one of the 2 gateway "
				  "certificates");
	tm_buf_fini(&out);
	tm_keyring_free(kr);
	tm_buf_fini(&der);
}

/* Curves: P-384 and P-521 (prime order) open fast; brainpool is not in the
 * table and takes the general path. */
Test(cms_kari, curves)
{
	static const char *const curves[] = { "P-384", "P-521", "brainpoolP256r1" };
	char *dir = tm_test_tmpdir();
	for (size_t i = 0; i < 3; i++) {
		char name[512];
		snprintf(name, sizeof(name), "%s/%s", dir, curves[i]);
		cr_assert_eq(tm_test_sh("openssl req -x509 -newkey ec -nodes -pkeyopt "
					"ec_paramgen_curve:%s -keyout '%s.key' -out '%s.pem' "
					"-subj /CN=gw -days 2 2>/dev/null", curves[i], name, name),
			     0);
		struct tm_buf der;
		tm_buf_init(&der);
		seal(name, NULL, &der);
		struct tm_keyring *kr = ring("gw-ec", name, NULL);
		if (i < 2)
			opens_fast(kr, name, &der, curves[i]);
		else
			declines(kr, name, &der, NULL, curves[i]);
		tm_keyring_free(kr);
		tm_buf_fini(&der);
	}
	tm_test_rmtree(dir);
	free(dir);
}

/* ---- crafted messages: every field the fast path reads --------------------------- */

static size_t find(const struct tm_buf *der, const void *pattern, size_t n);

/* A DER builder: an element's contents are built in a buffer, then wrapped. */
static void der_wrap(struct tm_buf *b, uint8_t tag, bool indefinite)
{
	struct tm_buf w;
	tm_buf_init(&w);
	uint8_t h[10] = { tag };
	size_t n = 1, len = b->len;
	if (indefinite) {
		h[n++] = 0x80;
	} else if (len < 0x80) {
		h[n++] = (uint8_t)len;
	} else {
		size_t k = len > 0xffff ? 3 : len > 0xff ? 2 : 1;
		h[n++] = (uint8_t)(0x80 | k);
		while (k-- > 0)
			h[n++] = (uint8_t)(len >> (8 * k));
	}
	tm_buf_append(&w, h, n);
	tm_buf_append(&w, b->data, b->len);
	if (indefinite)
		tm_buf_append(&w, "\0\0", 2);
	tm_buf_fini(b);
	*b = w;
}

/* Append the element tag { p[0..n) } to b. */
static void der_put(struct tm_buf *b, uint8_t tag, const void *p, size_t n)
{
	struct tm_buf t;
	tm_buf_init(&t);
	tm_buf_append(&t, p, n);
	der_wrap(&t, tag, false);
	tm_buf_append(b, t.data, t.len);
	tm_buf_fini(&t);
}

/* Append c wrapped in tag to b; c is emptied. */
static void der_add(struct tm_buf *b, uint8_t tag, struct tm_buf *c, bool indefinite)
{
	der_wrap(c, tag, indefinite);
	tm_buf_append(b, c->data, c->len);
	tm_buf_fini(c);
}

static const uint8_t SCHEME_OIDS[][9] = {
	{ 0x2b, 0x81, 0x05, 0x10, 0x86, 0x48, 0x3f, 0x00, 0x02 }, /* stdDH-sha1kdf: 9 octets */
	{ 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x01 },                   /* stdDH-sha256kdf: 6 */
	{ 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x03 },                   /* stdDH-sha512kdf */
	{ 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x00 },                   /* stdDH-sha224kdf */
	{ 0x2b, 0x81, 0x04, 0x01, 0x0e, 0x01 },                   /* cofactorDH-sha256kdf */
};
static const char *const SCHEME_MDS[] = { "SHA1", "SHA2-256", "SHA2-512", "SHA2-224", "SHA2-256" };
static const char *const WRAP_NAMES[] = { "AES-128-WRAP", "AES-192-WRAP", "AES-256-WRAP" };
static const uint8_t WRAP_LAST[] = { 0x05, 0x19, 0x2d };
static const uint8_t OID_DATA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };
static const uint8_t OID_CONTENT_TYPE[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03 };

struct craft {
	const char *name;
	bool fast;             /* the fast path must do it; else: */
	const char *reason;    /* tm_cms_decrypt's verdict (NULL: it opens) */
	bool as_openssl;       /* the verdict is this OpenSSL's: opens where its CMS opens
				  it, else smime.malformed (versions differ) */
	size_t scheme, wrap;   /* indices: SCHEME_OIDS, WRAP_NAMES */
	bool ukm;              /* with user keying material of ukm_len octets */
	size_t ukm_len;
	bool by_ski;
	size_t nonce_len;      /* 0: 12 */
	size_t chunk;          /* constructed encryptedContent of chunks this long (0: primitive) */
	bool indefinite;       /* indefinite lengths outside the RecipientInfos */
	int orig_params;       /* originator key's parameters: 0 absent, 1 NULL, 2 the curve */
	bool wrap_null;        /* NULL parameters in the KeyWrapAlgorithm */
	bool icv_absent;       /* aes-ICVlen left to its DEFAULT */
	bool originator_info, auth_attrs, unauth_attrs;
	int other_rek;         /* a RecipientEncryptedKey before ours: 1 another certificate,
				  2 an issuer that is no Name, 3 a serial with a padding octet,
				  4 our certificate, its issuer as a PrintableString, a bad key */
};

/* An ephemeral key on the certificate's curve: its point and Z. */
static void craft_agree(X509 *cert, struct tm_buf *point, uint8_t *z, size_t *z_len)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert), *eph = NULL;
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	cr_assert(kc != NULL && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &eph) == 1);
	EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	cr_assert(EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, pub) == 1 &&
		  EVP_PKEY_derive(dc, z, z_len) == 1);
	unsigned char *enc = NULL;
	size_t n = EVP_PKEY_get1_encoded_public_key(eph, &enc);
	cr_assert_gt(n, 0);
	tm_buf_append(point, "", 1); /* no unused bits */
	tm_buf_append(point, enc, n);
	OPENSSL_free(enc);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_free(eph);
}

/* KEK by OpenSSL's own X9.63 KDF (not the fast path's). */
static void craft_kek(const struct craft *o, const uint8_t *z, size_t z_len,
		      const struct tm_buf *walg, const uint8_t *ukm, uint8_t *kek, size_t kek_len)
{
	struct tm_buf si, t;
	tm_buf_init(&si);
	tm_buf_init(&t);
	tm_buf_append(&si, walg->data, walg->len);
	if (o->ukm) {
		der_put(&t, 0x04, ukm, o->ukm_len);
		der_add(&si, 0xa0, &t, false);
	}
	const uint8_t bits[4] = { 0, 0, (uint8_t)(kek_len * 8 >> 8), (uint8_t)(kek_len * 8) };
	der_put(&t, 0x04, bits, 4);
	der_add(&si, 0xa2, &t, false);
	der_wrap(&si, 0x30, false);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 (char *)SCHEME_MDS[o->scheme], 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, si.data, si.len),
		OSSL_PARAM_construct_end(),
	};
	cr_assert_eq(EVP_KDF_derive(kctx, kek, kek_len, p), 1);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	tm_buf_fini(&si);
}

/* An AuthEnvelopedData to the certificate `to`, built field by field. */
static void craft(const struct craft *o, const char *to, struct tm_buf *der)
{
	X509 *cert = read_pem(to, false);
	struct tm_buf walg, point, t, u, v;
	tm_buf_init(&walg);
	tm_buf_init(&point);
	tm_buf_init(&t);
	tm_buf_init(&u);
	tm_buf_init(&v);
	static const uint8_t wrap_oid[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01 };
	uint8_t oid[9], z[80], kek[32], cek[32], ek[48], ukm[300], nonce[64], tag[16];
	memcpy(oid, wrap_oid, 8);
	oid[8] = WRAP_LAST[o->wrap];
	der_put(&walg, 0x06, oid, 9);
	if (o->wrap_null)
		der_put(&walg, 0x05, NULL, 0);
	der_wrap(&walg, 0x30, false);
	size_t z_len = sizeof(z), kek_len = 16 + 8 * o->wrap;
	size_t nonce_len = o->nonce_len ? o->nonce_len : 12;
	craft_agree(cert, &point, z, &z_len);
	cr_assert(RAND_bytes(ukm, sizeof(ukm)) == 1 && RAND_bytes(cek, 32) == 1 &&
		  RAND_bytes(nonce, sizeof(nonce)) == 1);
	craft_kek(o, z, z_len, &walg, ukm, kek, kek_len);
	int n = 0, m = 0;
	EVP_CIPHER *wc = EVP_CIPHER_fetch(NULL, WRAP_NAMES[o->wrap], NULL);
	EVP_CIPHER *gc = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	cr_assert(EVP_EncryptInit_ex2(cc, wc, kek, NULL, NULL) == 1 &&
		  EVP_EncryptUpdate(cc, ek, &n, cek, 32) == 1 && n == 40);
	/* authAttrs: one contentType attribute; the AAD is its DER as a SET OF */
	struct tm_buf attrs;
	tm_buf_init(&attrs);
	der_put(&t, 0x06, OID_CONTENT_TYPE, sizeof(OID_CONTENT_TYPE));
	der_put(&u, 0x06, OID_DATA, sizeof(OID_DATA));
	der_add(&t, 0x31, &u, false);
	der_add(&attrs, 0x30, &t, false);
	tm_buf_append(&t, attrs.data, attrs.len);
	der_wrap(&t, 0x31, false);
	uint8_t *ct = malloc(sizeof(CONTENT));
	cr_assert(EVP_CIPHER_CTX_reset(cc) == 1 &&
		  EVP_EncryptInit_ex2(cc, gc, NULL, NULL, NULL) == 1 &&
		  EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_IVLEN, (int)nonce_len, NULL) == 1 &&
		  EVP_EncryptInit_ex2(cc, NULL, cek, nonce, NULL) == 1);
	if (o->auth_attrs)
		cr_assert_eq(EVP_EncryptUpdate(cc, NULL, &m, t.data, (int)t.len), 1);
	tm_buf_fini(&t);
	cr_assert(EVP_EncryptUpdate(cc, ct, &n, (const uint8_t *)CONTENT, (int)strlen(CONTENT)) ==
			  1 &&
		  EVP_EncryptFinal_ex(cc, ct + n, &m) == 1 &&
		  EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);

	/* the KeyAgreeRecipientInfo */
	struct tm_buf kari, alg;
	tm_buf_init(&kari);
	tm_buf_init(&alg);
	der_put(&kari, 0x02, "\x03", 1);
	static const uint8_t ecpk[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
	der_put(&alg, 0x06, ecpk, sizeof(ecpk));
	if (o->orig_params == 1)
		der_put(&alg, 0x05, NULL, 0);
	if (o->orig_params == 2) {
		static const uint8_t p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
		der_put(&alg, 0x06, p256, sizeof(p256));
	}
	der_add(&t, 0x30, &alg, false);
	der_put(&t, 0x03, point.data, point.len);
	der_add(&u, 0xa1, &t, false);
	der_add(&kari, 0xa0, &u, false);
	if (o->ukm) {
		der_put(&t, 0x04, ukm, o->ukm_len);
		der_add(&kari, 0xa1, &t, false);
	}
	der_put(&t, 0x06, SCHEME_OIDS[o->scheme], o->scheme == 0 ? 9 : 6);
	tm_buf_append(&t, walg.data, walg.len);
	der_add(&kari, 0x30, &t, false);
	if (o->by_ski) {
		const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
		der_put(&u, 0x04, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
		der_add(&t, 0xa0, &u, false);
	} else {
		unsigned char *p = NULL;
		int k = i2d_X509_NAME(X509_get_issuer_name(cert), &p);
		tm_buf_append(&u, p, (size_t)k);
		OPENSSL_free(p);
		p = NULL;
		k = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &p);
		tm_buf_append(&u, p, (size_t)k);
		OPENSSL_free(p);
		der_add(&t, 0x30, &u, false);
	}
	der_put(&t, 0x04, ek, 40);
	struct tm_buf reks;
	tm_buf_init(&reks);
	if (o->other_rek > 0) {
		/* the same issuer and another serial, an issuer SEQUENCE { 0 }, or 00 01 */
		static const uint8_t not_a_name[] = { 0x30, 0x03, 0x02, 0x01, 0x00 },
				     org_utf8[] = { 0x55, 0x04, 0x0a, 0x0c };
		unsigned char *p = NULL;
		int k = i2d_X509_NAME(X509_get_issuer_name(cert), &p);
		if (o->other_rek == 2)
			tm_buf_append(&v, not_a_name, sizeof(not_a_name));
		else
			tm_buf_append(&v, p, (size_t)k);
		OPENSSL_free(p);
		if (o->other_rek == 4) {
			v.data[find(&v, org_utf8, sizeof(org_utf8)) - 1] = 0x13;
			p = NULL;
			k = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &p);
			tm_buf_append(&v, p, (size_t)k);
			OPENSSL_free(p);
		} else {
			der_put(&v, 0x02, "\x00\x01", o->other_rek == 3 ? 2 : 1);
		}
		der_add(&u, 0x30, &v, false);
		ek[0] ^= o->other_rek == 4 ? 1 : 0;
		der_put(&u, 0x04, ek, 40);
		ek[0] ^= o->other_rek == 4 ? 1 : 0;
		der_add(&reks, 0x30, &u, false);
	}
	der_add(&reks, 0x30, &t, false);
	der_add(&kari, 0x30, &reks, false);

	/* the envelope */
	struct tm_buf aed, eci;
	tm_buf_init(&aed);
	tm_buf_init(&eci);
	der_put(&aed, 0x02, "\x00", 1);
	if (o->originator_info)
		der_put(&aed, 0xa0, NULL, 0);
	der_add(&t, 0xa1, &kari, false);
	der_add(&aed, 0x31, &t, false);
	der_put(&eci, 0x06, OID_DATA, sizeof(OID_DATA));
	static const uint8_t gcm[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e };
	der_put(&t, 0x06, gcm, sizeof(gcm));
	der_put(&u, 0x04, nonce, nonce_len);
	if (!o->icv_absent)
		der_put(&u, 0x02, "\x10", 1);
	der_add(&t, 0x30, &u, false);
	der_add(&eci, 0x30, &t, false);
	size_t ct_len = strlen(CONTENT);
	if (o->chunk == 0) {
		der_put(&eci, 0x80, ct, ct_len);
	} else {
		for (size_t at = 0; at < ct_len; at += o->chunk)
			der_put(&t, 0x04, ct + at, ct_len - at < o->chunk ? ct_len - at : o->chunk);
		der_add(&eci, 0xa0, &t, o->indefinite);
	}
	der_add(&aed, 0x30, &eci, o->indefinite);
	if (o->auth_attrs)
		der_add(&aed, 0xa1, &attrs, false);
	der_put(&aed, 0x04, tag, 16);
	if (o->unauth_attrs) {
		tm_buf_append(&t, attrs.data, attrs.len);
		der_add(&aed, 0xa2, &t, false);
	}
	static const uint8_t aed_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10,
					   0x01, 0x17 };
	der_put(der, 0x06, aed_oid, sizeof(aed_oid));
	der_add(&t, 0x30, &aed, o->indefinite);
	der_add(der, 0xa0, &t, o->indefinite);
	der_wrap(der, 0x30, o->indefinite);

	free(ct);
	tm_buf_fini(&attrs);
	tm_buf_fini(&walg);
	tm_buf_fini(&point);
	tm_buf_fini(&t);
	tm_buf_fini(&u);
	EVP_CIPHER_CTX_free(cc);
	EVP_CIPHER_free(wc);
	EVP_CIPHER_free(gc);
	X509_free(cert);
}

Test(cms_kari, crafted_shapes)
{
	static const struct craft cases[] = {
		{ .name = "plain", .fast = true, .wrap = 2 },
		{ .name = "ukm", .fast = true, .wrap = 2, .ukm = true, .ukm_len = 64 },
		{ .name = "ukm of 96", .fast = true, .wrap = 2, .ukm = true, .ukm_len = 96,
		  .scheme = 1 },
		{ .name = "empty ukm", .fast = true, .wrap = 2, .ukm = true },
		{ .name = "aes128-wrap", .reason = "smime.weak_cipher", .wrap = 0 },
		{ .name = "aes192-wrap", .reason = "smime.weak_cipher", .wrap = 1 },
		{ .name = "ukm of 97: beyond the cap", .ukm = true, .ukm_len = 97, .wrap = 2 },
		{ .name = "ski, sha512", .fast = true, .by_ski = true, .scheme = 2, .wrap = 2 },
		/* OpenSSL 3.0's CMS opens 12-octet nonces only */
		{ .name = "nonce 16", .reason = "smime.tampered", .wrap = 2, .nonce_len = 16 },
		{ .name = "nonce 8", .reason = "smime.tampered", .wrap = 2, .nonce_len = 8 },
		{ .name = "nonce 1", .reason = "smime.tampered", .wrap = 2, .nonce_len = 1 },
		{ .name = "nonce 17", .reason = "smime.tampered", .wrap = 2, .nonce_len = 17 },
		{ .name = "nonce 64", .reason = "smime.tampered", .wrap = 2, .nonce_len = 64 },
		{ .name = "chunks of 7, BER", .fast = true, .wrap = 2, .chunk = 7,
		  .indefinite = true },
		{ .name = "chunks of 1", .fast = true, .wrap = 2, .chunk = 1 },
		{ .name = "sha224", .fast = true, .wrap = 2, .scheme = 3 },
		{ .name = "cofactor scheme", .wrap = 2, .scheme = 4 },
		{ .name = "another recipient first", .fast = true, .wrap = 2, .other_rek = 1 },
		{ .name = "an issuer that is no Name", .reason = "smime.malformed", .wrap = 2,
		  .other_rek = 2 },
		{ .name = "a padded serial", .reason = "smime.malformed", .wrap = 2,
		  .other_rek = 3 },
		{ .name = "our issuer otherwise encoded first", .reason = "smime.decrypt_failed",
		  .wrap = 2, .other_rek = 4 },
		{ .name = "originator NULL parameters", .fast = true, .wrap = 2, .orig_params = 1 },
		{ .name = "originator curve parameters", .wrap = 2, .orig_params = 2 },
		{ .name = "key wrap NULL parameters", .wrap = 2, .wrap_null = true },
		{ .name = "aes-ICVlen absent", .reason = "smime.tampered", .wrap = 2,
		  .icv_absent = true },
		{ .name = "originatorInfo", .wrap = 2, .originator_info = true },
		/* OpenSSL 3.0.19 (Debian 3.0.19-1~deb12u2) no longer parses these two,
		 * earlier 3.0 releases open them: either way, as OpenSSL does */
		{ .name = "authAttrs", .wrap = 2, .auth_attrs = true, .as_openssl = true },
		{ .name = "unauthAttrs", .wrap = 2, .unauth_attrs = true, .as_openssl = true },
	};
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tm_buf der, ref;
		tm_buf_init(&der);
		tm_buf_init(&ref);
		craft(&cases[i], "gw-ec", &der);
		const char *reason = cases[i].reason;
		if (cases[i].as_openssl && reference_open("gw-ec", &der, &ref) < 0)
			reason = "smime.malformed";
		if (cases[i].fast)
			opens_fast(kr, "gw-ec", &der, cases[i].name);
		else
			declines(kr, "gw-ec", &der, reason, cases[i].name);
		tm_buf_fini(&der);
		tm_buf_fini(&ref);
	}
	tm_keyring_free(kr);
}

/* ---- altered and truncated messages ------------------------------------------- */

/* Where a field of one of our envelopes starts: after the first `pattern`. */
static size_t find(const struct tm_buf *der, const void *pattern, size_t n)
{
	for (size_t i = 0; i + n <= der->len; i++)
		if (memcmp(der->data + i, pattern, n) == 0)
			return i + n;
	cr_assert_fail("pattern not found");
	return 0;
}

Test(cms_kari, altered_fields_get_the_general_paths_verdict)
{
	static const uint8_t point[] = { 0x03, 0x42, 0x00, 0x04 }, ek[] = { 0x04, 0x28 },
			     nonce[] = { 0x01, 0x2e, 0x30, 0x11, 0x04, 0x0c };
	struct tm_buf der;
	tm_buf_init(&der);
	seal("gw-ec", NULL, &der);
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	const struct {
		const char *what, *reason;
		size_t at;
	} flips[] = {
		{ "originator point", "smime.decrypt_failed",
		  find(&der, point, sizeof(point)) + 7 },
		{ "encrypted key", "smime.decrypt_failed", find(&der, ek, sizeof(ek)) + 3 },
		{ "nonce", "smime.tampered", find(&der, nonce, sizeof(nonce)) + 5 },
		{ "ciphertext", "smime.tampered", der.len - 19 },
		{ "tag", "smime.tampered", der.len - 1 },
	};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		der.data[flips[i].at] ^= 0x01;
		declines(kr, "gw-ec", &der, flips[i].reason, flips[i].what);
		der.data[flips[i].at] ^= 0x01;
	}
	opens_fast(kr, "gw-ec", &der, "restored");
	tm_keyring_free(kr);
	tm_buf_fini(&der);
}

/* Any octet changed anywhere: "done" only where OpenSSL opens it too, to the
 * same bytes (a change GCM does not cover, such as the contentType). */
static void flip_everywhere(const struct tm_buf *orig, uint8_t mask)
{
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	struct tm_buf der, fast, ref;
	tm_buf_init(&der);
	tm_buf_init(&fast);
	tm_buf_init(&ref);
	tm_buf_append(&der, orig->data, orig->len);
	for (size_t i = 0; i < der.len; i++) {
		der.data[i] ^= mask;
		tm_buf_reset(&fast);
		if (tm_cms_kari_decrypt(kr, der.data, der.len, &fast) == 1) {
			tm_buf_reset(&ref);
			cr_assert_eq(reference_open("gw-ec", &der, &ref), 0, "offset %zu: done", i);
			cr_assert_eq(fast.len, ref.len, "offset %zu", i);
			cr_assert_eq(memcmp(fast.data, ref.data, ref.len), 0, "offset %zu", i);
		} else {
			cr_assert_eq(fast.len, 0, "offset %zu", i);
		}
		cr_assert_eq(ERR_peek_error(), 0, "offset %zu: OpenSSL error queue", i);
		der.data[i] ^= mask;
	}
	tm_buf_fini(&der);
	tm_buf_fini(&fast);
	tm_buf_fini(&ref);
	tm_keyring_free(kr);
}

Test(cms_kari, any_octet_changed)
{
	struct tm_buf der;
	tm_buf_init(&der);
	seal("gw-ec", NULL, &der);
	flip_everywhere(&der, 0x01);
	flip_everywhere(&der, 0x80);
	tm_buf_reset(&der);
	cli_seal("gw-ec", "-stream -keyid", &der);
	flip_everywhere(&der, 0x01);
	flip_everywhere(&der, 0xff);
	tm_buf_fini(&der);
}

Test(cms_kari, truncated_at_every_offset)
{
	struct tm_buf der, out;
	tm_buf_init(&der);
	tm_buf_init(&out);
	cli_seal("gw-ec", "-stream", &der);
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	for (size_t n = 0; n < der.len; n++) {
		/* a copy of exactly n octets, so that ASan sees a read beyond it */
		uint8_t *cut = malloc(n + 1);
		memcpy(cut, der.data, n);
		cr_assert_eq(tm_cms_kari_decrypt(kr, cut, n, &out), 0, "%zu octets", n);
		struct tm_error err = {0};
		cr_assert_eq(tm_cms_decrypt(kr, cut, n, false, &out, NULL, &err), -1, "%zu octets",
			     n);
		cr_assert_str_eq(err.reason, "smime.malformed", "%zu octets: %s", n, err.msg);
		cr_assert_eq(out.len, 0);
		free(cut);
	}
	tm_keyring_free(kr);
	tm_buf_fini(&der);
	tm_buf_fini(&out);
}

/* Worker threads share the keyring (and the algorithms fetched once). */
struct worker {
	const struct tm_keyring *kr;
	const struct tm_buf *der;
	int done;
	bool same;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	w->same = true;
	for (int i = 0; i < 25; i++) {
		struct tm_buf out;
		tm_buf_init(&out);
		w->done += tm_cms_kari_decrypt(w->kr, w->der->data, w->der->len, &out);
		w->same = w->same && out.len == strlen(CONTENT) &&
			  memcmp(out.data, CONTENT, out.len) == 0;
		tm_buf_fini(&out);
	}
	return NULL;
}

Test(cms_kari, threads_share_the_keyring)
{
	struct tm_buf der;
	tm_buf_init(&der);
	seal("gw-other", "gw-ec", &der);
	struct tm_keyring *kr = ring("gw-ec", NULL, NULL);
	pthread_t th[4];
	struct worker w[4];
	for (size_t i = 0; i < 4; i++) {
		w[i] = (struct worker){ .kr = kr, .der = &der };
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (size_t i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].done, 25, "thread %zu", i);
		cr_assert(w[i].same, "thread %zu", i);
	}
	tm_keyring_free(kr);
	tm_buf_fini(&der);
}

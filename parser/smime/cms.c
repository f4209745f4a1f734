/* telemail — CMS (RFC 5652) with OpenSSL 3: the key and certificate handles
 * of telemail/smime.h, SignedData creation and AuthEnvelopedData creation.
 * Decryption is in cms_decrypt.c, verification in cms_verify.c.
 *
 * Every public function starts and ends with an empty OpenSSL error queue
 * (the queue is per thread; a worker must never see another call's errors).
 * Nothing here prints, logs or keeps global state. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <telemail/error.h>

#include "smime/cms.h"
#include "smime/cms_private.h"

/* ---- shared helpers ---------------------------------------------------- */

void tm_cms_ossl_reason(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	if (e == 0) {
		snprintf(buf, n, "no detail");
		return;
	}
	const char *r = ERR_reason_error_string(e);
	if (r != NULL)
		snprintf(buf, n, "%s", r);
	else
		ERR_error_string_n(e, buf, n);
}

int tm_cms_bio_to_buf(BIO *b, struct tm_buf *out, struct tm_error *err)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n < 0)
		return tm_error_set(err, "internal.library", "memory BIO has no data");
	if (tm_buf_append(out, p, (size_t)n) < 0)
		return tm_error_set(err, "internal.nomem", "out of memory (%ld bytes)", n);
	return 0;
}

/* A password callback that refuses: an encrypted key file is an error, and
 * OpenSSL must never prompt on a terminal from inside a library. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static BIO *open_file(const char *path, struct tm_error *err)
{
	if (path == NULL) {
		tm_error_set(err, "internal.bug", "no file name given");
		return NULL;
	}
	BIO *b = BIO_new_file(path, "rb");
	if (b == NULL)
		tm_error_set(err, "io.open", "%s: cannot open", path);
	return b;
}

int tm_cms_read_certs(const char *path, size_t max, STACK_OF(X509) **out, struct tm_error *err)
{
	int rc = -1;
	STACK_OF(X509) *sk = NULL;
	BIO *b = open_file(path, err);
	if (b == NULL)
		goto out;
	sk = sk_X509_new_null();
	if (sk == NULL) {
		tm_error_set(err, "internal.nomem", "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		X509 *x = PEM_read_bio_X509(b, NULL, no_password, NULL);
		if (x == NULL)
			break;
		if ((size_t)sk_X509_num(sk) >= max) {
			X509_free(x);
			tm_error_set(err, "smime.key", "%s: more than %zu certificates", path, max);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			tm_error_set(err, "internal.nomem", "%s: out of memory", path);
			goto out;
		}
	}
	/* The loop ends at end of file (PEM_R_NO_START_LINE) or on a broken block. */
	unsigned long e = ERR_peek_last_error();
	if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		char why[128];
		tm_cms_ossl_reason(why, sizeof(why));
		tm_error_set(err, "smime.key", "%s: certificate %d is unreadable: %s", path,
			     sk_X509_num(sk) + 1, why);
		goto out;
	}
	if (sk_X509_num(sk) == 0) {
		tm_error_set(err, "smime.key", "%s: no PEM certificate found", path);
		goto out;
	}
	*out = sk;
	sk = NULL;
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

static int read_key(const char *path, EVP_PKEY **out, struct tm_error *err)
{
	BIO *b = open_file(path, err);
	if (b == NULL)
		return -1;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
	BIO_free(b);
	if (k == NULL) {
		char why[128];
		tm_cms_ossl_reason(why, sizeof(why));
		ERR_clear_error();
		return tm_error_set(err, "smime.key",
				    "%s: no usable private key (encrypted keys are not supported): %s",
				    path, why);
	}
	*out = k;
	return 0;
}

/* Load a certificate (the first of the file) and its private key; the key
 * must belong to the certificate. Extra certificates of the file go to
 * *rest when rest != NULL. */
static int load_pair(const char *cert_file, const char *key_file, X509 **cert, EVP_PKEY **key,
		     STACK_OF(X509) **rest, struct tm_error *err)
{
	int rc = -1;
	STACK_OF(X509) *sk = NULL;
	EVP_PKEY *k = NULL;
	if (tm_cms_read_certs(cert_file, 1 + TM_CMS_MAX_CHAIN, &sk, err) < 0)
		goto out;
	if (read_key(key_file, &k, err) < 0)
		goto out;
	X509 *leaf = sk_X509_value(sk, 0);
	if (X509_check_private_key(leaf, k) != 1) {
		tm_error_set(err, "smime.key", "%s: the key does not belong to the certificate in %s",
			     key_file, cert_file);
		goto out;
	}
	if (rest == NULL && sk_X509_num(sk) > 1) {
		tm_error_set(err, "smime.key", "%s: expected one certificate, found %d", cert_file,
			     sk_X509_num(sk));
		goto out;
	}
	*cert = sk_X509_shift(sk);
	*key = k;
	k = NULL;
	if (rest != NULL) {
		*rest = sk;
		sk = NULL;
	}
	rc = 0;
out:
	EVP_PKEY_free(k);
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return rc;
}

/* ---- identity ---------------------------------------------------------- */

int tm_identity_load(const char *cert_file, const char *key_file, const char *chain_file,
		     struct tm_identity **out, struct tm_error *err)
{
	int rc = -1;
	STACK_OF(X509) *more = NULL;
	struct tm_identity *id = calloc(1, sizeof(*id));
	ERR_clear_error();
	if (id == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (load_pair(cert_file, key_file, &id->cert, &id->key, &id->chain, err) < 0)
		goto out;
	if (chain_file != NULL) {
		if (tm_cms_read_certs(chain_file, TM_CMS_MAX_CHAIN, &more, err) < 0)
			goto out;
		while (sk_X509_num(more) > 0) {
			if (sk_X509_num(id->chain) >= TM_CMS_MAX_CHAIN) {
				tm_error_set(err, "smime.key", "%s: more than %d chain certificates",
					     chain_file, TM_CMS_MAX_CHAIN);
				goto out;
			}
			X509 *x = sk_X509_shift(more);
			if (!sk_X509_push(id->chain, x)) {
				X509_free(x);
				tm_error_set(err, "internal.nomem", "out of memory");
				goto out;
			}
		}
	}
	*out = id;
	id = NULL;
	rc = 0;
out:
	sk_X509_pop_free(more, X509_free);
	tm_identity_free(id);
	ERR_clear_error();
	return rc;
}

void tm_identity_free(struct tm_identity *id)
{
	if (id == NULL)
		return;
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	sk_X509_pop_free(id->chain, X509_free);
	free(id);
}

/* ---- recipient certificates -------------------------------------------- */

struct tm_certlist *tm_certlist_new(void)
{
	struct tm_certlist *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return NULL;
	cl->certs = sk_X509_new_null();
	if (cl->certs == NULL) {
		free(cl);
		return NULL;
	}
	return cl;
}

int tm_certlist_add_file(struct tm_certlist *cl, const char *pem_file, struct tm_error *err)
{
	int rc = -1;
	STACK_OF(X509) *sk = NULL;
	ERR_clear_error();
	if (tm_cms_read_certs(pem_file, TM_CMS_MAX_KEYS, &sk, err) < 0)
		goto out;
	if ((size_t)(sk_X509_num(cl->certs) + sk_X509_num(sk)) > TM_CMS_MAX_KEYS) {
		tm_error_set(err, "smime.key", "%s: more than %d recipient certificates in all",
			     pem_file, TM_CMS_MAX_KEYS);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(sk); i++) {
		EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(sk, i));
		if (pk == NULL || !(EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "EC"))) {
			tm_error_set(err, "smime.key", "%s: certificate %d: key is neither RSA nor EC",
				     pem_file, i + 1);
			goto out;
		}
	}
	while (sk_X509_num(sk) > 0) {
		X509 *x = sk_X509_shift(sk);
		if (!sk_X509_push(cl->certs, x)) {
			X509_free(x);
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return rc;
}

size_t tm_certlist_count(const struct tm_certlist *cl)
{
	return cl == NULL ? 0 : (size_t)sk_X509_num(cl->certs);
}

void tm_certlist_free(struct tm_certlist *cl)
{
	if (cl == NULL)
		return;
	sk_X509_pop_free(cl->certs, X509_free);
	free(cl);
}

/* ---- decryption keys --------------------------------------------------- */

struct tm_keyring *tm_keyring_new(void)
{
	return calloc(1, sizeof(struct tm_keyring));
}

int tm_keyring_add_files(struct tm_keyring *kr, const char *cert_file, const char *key_file,
			 struct tm_error *err)
{
	ERR_clear_error();
	if (kr->n >= TM_CMS_MAX_KEYS)
		return tm_error_set(err, "smime.key", "%s: the keyring already holds %d keys",
				    cert_file, TM_CMS_MAX_KEYS);
	struct tm_keyring_entry *e = &kr->items[kr->n];
	if (load_pair(cert_file, key_file, &e->cert, &e->key, NULL, err) < 0)
		return -1;
	kr->n++;
	return 0;
}

size_t tm_keyring_count(const struct tm_keyring *kr)
{
	return kr == NULL ? 0 : kr->n;
}

void tm_keyring_free(struct tm_keyring *kr)
{
	if (kr == NULL)
		return;
	for (size_t i = 0; i < kr->n; i++) {
		X509_free(kr->items[i].cert);
		EVP_PKEY_free(kr->items[i].key);
	}
	free(kr);
}

/* ---- trust anchors ----------------------------------------------------- */

static int load_crls(X509_STORE *st, const char *path, struct tm_error *err)
{
	int rc = -1, n = 0;
	BIO *b = open_file(path, err);
	if (b == NULL)
		goto out;
	for (;;) {
		X509_CRL *c = PEM_read_bio_X509_CRL(b, NULL, no_password, NULL);
		if (c == NULL)
			break;
		if (n >= TM_CMS_MAX_CRLS) {
			X509_CRL_free(c);
			tm_error_set(err, "smime.key", "%s: more than %d CRLs", path, TM_CMS_MAX_CRLS);
			goto out;
		}
		int ok = X509_STORE_add_crl(st, c);
		X509_CRL_free(c);
		if (!ok) {
			tm_error_set(err, "internal.library", "%s: CRL %d cannot be added", path, n + 1);
			goto out;
		}
		n++;
	}
	unsigned long e = ERR_peek_last_error();
	if (n == 0 || (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
				   ERR_GET_REASON(e) == PEM_R_NO_START_LINE))) {
		char why[128];
		tm_cms_ossl_reason(why, sizeof(why));
		tm_error_set(err, "smime.key", "%s: CRL %d is missing or unreadable: %s", path, n + 1,
			     why);
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

int tm_trust_load(const char *ca_file, const char *crl_file, struct tm_trust **out,
		  struct tm_error *err)
{
	int rc = -1;
	STACK_OF(X509) *cas = NULL;
	struct tm_trust *t = calloc(1, sizeof(*t));
	ERR_clear_error();
	if (t == NULL || (t->store = X509_STORE_new()) == NULL ||
	    (t->certs = tm_cms_certcache_new()) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (tm_cms_read_certs(ca_file, TM_CMS_MAX_ANCHORS, &cas, err) < 0)
		goto out;
	for (int i = 0; i < sk_X509_num(cas); i++) {
		if (!X509_STORE_add_cert(t->store, sk_X509_value(cas, i))) {
			tm_error_set(err, "internal.library", "%s: certificate %d cannot be added",
				     ca_file, i + 1);
			goto out;
		}
	}
	if (crl_file != NULL) {
		if (load_crls(t->store, crl_file, err) < 0)
			goto out;
		t->check_crl = true;
	}
	if ((t->chains = tm_cms_chainmemo_new(t->store)) == NULL ||
	    (t->check_crl && (t->crl_chains = tm_cms_chainmemo_new(t->store)) == NULL)) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	*out = t;
	t = NULL;
	rc = 0;
out:
	sk_X509_pop_free(cas, X509_free);
	tm_trust_free(t);
	ERR_clear_error();
	return rc;
}

void tm_trust_free(struct tm_trust *t)
{
	if (t == NULL)
		return;
	X509_STORE_free(t->store);
	tm_cms_certcache_free(t->certs);
	tm_cms_chainmemo_free(t->chains);
	tm_cms_chainmemo_free(t->crl_chains);
	free(t);
}

/* ---- finishing a CMS structure ------------------------------------------ */

/* CMS_final over the content, then DER into `der`. Takes cms (frees it).
 * `what` names the operation in the error ("signing", "encryption"). */
static int final_der(CMS_ContentInfo *cms, const uint8_t *data, size_t len, unsigned int flags,
		     const char *what, struct tm_buf *der, struct tm_error *err)
{
	int rc = -1;
	char why[128];
	BIO *in = BIO_new_mem_buf(data, (int)len), *out = BIO_new(BIO_s_mem());
	if (in != NULL && out != NULL && CMS_final(cms, in, NULL, flags) &&
	    i2d_CMS_bio(out, cms))
		rc = tm_cms_bio_to_buf(out, der, err);
	else {
		tm_cms_ossl_reason(why, sizeof(why));
		tm_error_set(err, "internal.library", "CMS %s failed: %s", what, why);
	}
	BIO_free(in);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}

static int setup_failed(CMS_ContentInfo *cms, const char *what, struct tm_error *err)
{
	char why[128];
	tm_cms_ossl_reason(why, sizeof(why));
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return tm_error_set(err, "internal.library", "CMS %s failed: %s", what, why);
}

/* ---- SignedData -------------------------------------------------------- */

int tm_cms_sign(const struct tm_identity *id, const uint8_t *data, size_t len, bool detached,
		struct tm_buf *der, struct tm_error *err)
{
	/* CMS_BINARY: the bytes are signed exactly as given (no CRLF rewriting). */
	unsigned int flags = CMS_BINARY | CMS_PARTIAL | (detached ? CMS_DETACHED : 0);
	ERR_clear_error();
	if (id == NULL || (data == NULL && len > 0) || len > INT_MAX)
		return tm_error_set(err, "internal.bug", "tm_cms_sign: bad arguments");
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, id->chain, NULL, flags);
	/* Signed attributes: contentType, messageDigest, signingTime and
	 * SMIMECapabilities (OpenSSL's defaults); the signer certificate is
	 * included. RSA keys sign with PKCS#1 v1.5, EC keys with ECDSA. */
	if (cms == NULL || CMS_add1_signer(cms, id->cert, id->key, EVP_sha256(), CMS_BINARY) == NULL)
		return setup_failed(cms, "signing", err);
	return final_der(cms, data, len, flags, "signing", der, err);
}

/* ---- AuthEnvelopedData ------------------------------------------------- */

static int add_recipient(CMS_ContentInfo *cms, X509 *cert)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	if (pk == NULL)
		return -1;
	if (!EVP_PKEY_is_a(pk, "RSA"))
		/* EC: key agreement (ECDH, ephemeral-static), OpenSSL's default. */
		return CMS_add1_recipient_cert(cms, cert, 0) != NULL ? 0 : -1;
	/* RSA: key transport with RSAES-OAEP (SHA-256, MGF1-SHA-256). */
	CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, CMS_KEY_PARAM);
	if (ri == NULL)
		return -1;
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
	if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
		return -1;
	return 0;
}

int tm_cms_encrypt(const struct tm_certlist *to, const uint8_t *data, size_t len,
		   struct tm_buf *der, struct tm_error *err)
{
	ERR_clear_error();
	if (to == NULL || (data == NULL && len > 0) || len > INT_MAX)
		return tm_error_set(err, "internal.bug", "tm_cms_encrypt: bad arguments");
	if (sk_X509_num(to->certs) == 0)
		return tm_error_set(err, "smime.key", "no recipient certificate to encrypt to");
	/* An AEAD cipher makes OpenSSL 3 produce AuthEnvelopedData. */
	CMS_ContentInfo *cms = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL);
	if (cms == NULL)
		return setup_failed(cms, "encryption", err);
	for (int i = 0; i < sk_X509_num(to->certs); i++) {
		if (add_recipient(cms, sk_X509_value(to->certs, i)) < 0) {
			char why[128];
			tm_cms_ossl_reason(why, sizeof(why));
			CMS_ContentInfo_free(cms);
			ERR_clear_error();
			return tm_error_set(err, "smime.key", "recipient certificate %d is unusable: %s",
					    i + 1, why);
		}
	}
	return final_der(cms, data, len, CMS_BINARY, "encryption", der, err);
}

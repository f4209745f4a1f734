/* CMS verification and time: the signing time is the signer's word, so it
 * is required, bounded by the arrival, signed with a strong digest, and
 * revocation is the gateway's knowledge as of the arrival
 * (parser/smime/cms_verify.c). Messages are built here with the OpenSSL CMS API,
 * because `openssl cms -sign` cannot set the signingTime. */
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
#define DAY 86400

/* 2020-06-01T00:00:00Z: inside dev-expired's validity (2020-01-01 .. 2021-01-01). */
#define IN_2020 1590969600

/* SignedData over CONTENT by the test PKI's <name>, digest md; signing_time
 * the signingTime attribute (0: OpenSSL's, the clock); attrs false: no
 * signed attributes at all. */
static void sign_custom(const char *name, const EVP_MD *md, bool attrs, int64_t signing_time,
			struct tm_buf *der)
{
	char *dir = tm_test_pki("");
	char cert[512], key[512];
	snprintf(cert, sizeof(cert), "%s%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s%s.key", dir, name);
	free(dir);
	BIO *cb = BIO_new_file(cert, "r"), *kb = BIO_new_file(key, "r");
	X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	cr_assert(x != NULL && pk != NULL, "%s", name);
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
	cr_assert_not_null(cms);
	unsigned flags = CMS_BINARY | (attrs ? 0 : CMS_NOATTR);
	CMS_SignerInfo *si = CMS_add1_signer(cms, x, pk, md, flags);
	cr_assert_not_null(si);
	if (attrs && signing_time != 0) {
		ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)signing_time);
		cr_assert_not_null(t);
		cr_assert_eq(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, t->type, t, -1),
			     1);
		ASN1_TIME_free(t);
	}
	BIO *in = BIO_new_mem_buf(CONTENT, (int)strlen(CONTENT));
	cr_assert_eq(CMS_final(cms, in, NULL, CMS_BINARY), 1);
	unsigned char *p = NULL;
	int len = i2d_CMS_ContentInfo(cms, &p);
	cr_assert_gt(len, 0);
	tm_buf_append(der, p, (size_t)len);
	OPENSSL_free(p);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(cb);
	BIO_free(kb);
}

/* Verify with arrival `now` and the default age bound (30 days). */
static int verify(const struct tm_buf *der, int64_t now, bool with_crl, struct tm_error *err,
		  int64_t *signing_time)
{
	struct tm_trust *t = tm_test_trust(with_crl);
	struct tm_signer_info si;
	memset(&si, 0, sizeof(si));
	tm_buf_init(&si.der);
	tm_error_clear(err);
	int rc = tm_cms_verify(t, der->data, der->len, NULL, 0, now, 0, NULL, &si, err);
	cr_assert_eq(ERR_peek_error(), 0, "OpenSSL error queue left non-empty");
	if (signing_time != NULL)
		*signing_time = si.signing_time;
	tm_buf_fini(&si.der);
	tm_trust_free(t);
	return rc;
}

/* The attack of issue 14: a key whose certificate expired in 2021 signs
 * today with a signingTime inside its validity. Before the age bound it
 * verified (the chain was checked at the signer's time, and nothing
 * bounded it); now it is refused with its own reason, before any chain. */
Test(cms_time, expired_key_backdating_its_signing_time_is_refused)
{
	struct tm_buf der;
	tm_buf_init(&der);
	sign_custom("dev-expired", EVP_sha256(), true, IN_2020, &der);
	struct tm_error err = {0};
	int64_t now = (int64_t)time(NULL);
	cr_assert_eq(verify(&der, now, false, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.signing_time_old");
	cr_assert_not_null(strstr(err.msg, "2020-06-01T00:00:00Z"), "%s", err.msg);
	cr_assert_eq(verify(&der, now, true, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.signing_time_old");
	tm_buf_fini(&der);
}

Test(cms_time, a_device_offline_five_days_is_accepted)
{
	struct tm_buf der;
	tm_buf_init(&der);
	int64_t now = (int64_t)time(NULL);
	sign_custom("dev-XK100001", EVP_sha256(), true, now - 5 * DAY, &der);
	struct tm_error err = {0};
	int64_t st = 0;
	cr_assert_eq(verify(&der, now, true, &err, &st), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(st, now - 5 * DAY);
	/* 31 days: past the default bound of 30 */
	cr_assert_eq(verify(&der, now + 26 * DAY, false, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.signing_time_old");
	tm_buf_fini(&der);
}

Test(cms_time, the_age_bound_is_the_callers)
{
	struct tm_buf der;
	tm_buf_init(&der);
	int64_t now = (int64_t)time(NULL);
	sign_custom("dev-XK100001", EVP_sha256(), true, now - 2 * DAY, &der);
	struct tm_trust *t = tm_test_trust(false);
	struct tm_signer_info si;
	memset(&si, 0, sizeof(si));
	tm_buf_init(&si.der);
	struct tm_error err = {0};
	cr_assert_eq(tm_cms_verify(t, der.data, der.len, NULL, 0, now, DAY, NULL, &si, &err), -1);
	cr_assert_str_eq(err.reason, "smime.signing_time_old");
	tm_error_clear(&err);
	cr_assert_eq(tm_cms_verify(t, der.data, der.len, NULL, 0, now, 3 * DAY, NULL, &si, &err),
		     0, "%s", err.msg);
	tm_buf_fini(&si.der);
	tm_trust_free(t);
	tm_buf_fini(&der);
}

Test(cms_time, sha1_signature_is_a_weak_digest)
{
	struct tm_buf der;
	tm_buf_init(&der);
	sign_custom("dev-XK100001", EVP_sha1(), true, 0, &der);
	struct tm_error err = {0};
	cr_assert_eq(verify(&der, 0, false, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.weak_digest");
	cr_assert_not_null(strstr(err.msg, "sha1"), "%s", err.msg);
	tm_buf_fini(&der);
}

Test(cms_time, sha1_rsa_signature_is_a_weak_digest)
{
	struct tm_buf der;
	tm_buf_init(&der);
	sign_custom("dev-rsa-XK100001", EVP_sha1(), true, 0, &der);
	struct tm_error err = {0};
	cr_assert_eq(verify(&der, 0, false, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.weak_digest");
	tm_buf_fini(&der);
}

Test(cms_time, sha384_and_sha512_are_accepted)
{
	const EVP_MD *mds[] = { EVP_sha384(), EVP_sha512() };
	for (size_t i = 0; i < 2; i++) {
		struct tm_buf der;
		tm_buf_init(&der);
		sign_custom("dev-XK100001", mds[i], true, 0, &der);
		struct tm_error err = {0};
		cr_assert_eq(verify(&der, 0, false, &err, NULL), 0, "%s: %s", err.reason, err.msg);
		tm_buf_fini(&der);
	}
}

Test(cms_time, no_signed_attributes_is_refused)
{
	struct tm_buf der;
	tm_buf_init(&der);
	sign_custom("dev-XK100001", EVP_sha256(), false, 0, &der);
	struct tm_error err = {0};
	cr_assert_eq(verify(&der, 0, false, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.no_signing_time");
	cr_assert_not_null(strstr(err.msg, "no signed attributes"), "%s", err.msg);
	tm_buf_fini(&der);
}

/* Revocation is applied at the arrival, whatever the signing time says:
 * a revoked key backdating its signature inside the bound is still
 * revoked. */
Test(cms_time, revoked_key_backdating_is_still_revoked)
{
	struct tm_buf der;
	tm_buf_init(&der);
	int64_t now = (int64_t)time(NULL);
	sign_custom("dev-revoked", EVP_sha256(), true, now - 20 * DAY, &der);
	struct tm_error err = {0};
	cr_assert_eq(verify(&der, now, false, &err, NULL), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(verify(&der, now, true, &err, NULL), -1);
	cr_assert_str_eq(err.reason, "smime.signer_revoked");
	tm_buf_fini(&der);
}

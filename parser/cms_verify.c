/* telemail — CMS SignedData verification with OpenSSL 3.
 *
 * Order of the checks (each failure has its own reason code):
 *   parse → exactly one SignerInfo → signer certificate present → signing
 *   time not in the future → EKU emailProtection → keyUsage digitalSignature
 *   → chain to the trust anchors at the signing time (CRLs when configured)
 *   → subject serialNumber → the signature itself.
 * A chain's success is remembered for the times at which it would come out
 * the same (cms_chainmemo.c); everything else runs on every message.
 * EKU and keyUsage are checked on the signer certificate before the chain,
 * so their failures get a specific reason instead of a generic "unsuitable
 * purpose" from the X.509 verifier (which still checks S/MIME signing). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <telemail/error.h>

#include "cms.h"
#include "cms_int.h"

/* A signing time later than now + this is refused (clock skew allowance). */
#define TM_SIGNING_TIME_SKEW 300
#define TM_SERIAL_MAX 64

/* Accept a CRL issued after the signing time: the verification time is the
 * signing time, and a CRL newer than that is better information, not an
 * error. Every other verdict stands. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CRL_NOT_YET_VALID)
		return 1;
	return ok;
}

static int signing_time(CMS_SignerInfo *si, int64_t *out, struct tm_error *err)
{
	*out = INT64_MIN;
	int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	if (idx < 0)
		return 0;
	if (CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, idx) >= 0)
		return tm_error_set(err, "smime.malformed", "CMS: two signingTime attributes");
	X509_ATTRIBUTE *a = CMS_signed_get_attr(si, idx);
	ASN1_TYPE *ty = a != NULL && X509_ATTRIBUTE_count(a) == 1 ? X509_ATTRIBUTE_get0_type(a, 0)
								   : NULL;
	struct tm tmv;
	if (ty == NULL || (ty->type != V_ASN1_UTCTIME && ty->type != V_ASN1_GENERALIZEDTIME) ||
	    ASN1_TIME_to_tm(ty->value.utctime, &tmv) != 1)
		return tm_error_set(err, "smime.malformed", "CMS: the signingTime attribute is not a valid time");
	time_t t = timegm(&tmv);
	if (t == (time_t)-1)
		return tm_error_set(err, "smime.malformed", "CMS: the signingTime is out of range");
	*out = (int64_t)t;
	return 0;
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tmv;
	if (gmtime_r(&tt, &tmv) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tmv) == 0)
		snprintf(buf, n, "%lld", (long long)t);
}

/* EKU and keyUsage of the signer certificate itself. */
static int check_usage(X509 *x, struct tm_error *err)
{
	uint32_t flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID)
		return tm_error_set(err, "smime.untrusted_signer",
				    "the signer certificate has invalid extensions");
	if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(x) & XKU_SMIME))
		return tm_error_set(err, "smime.signer_eku",
				    "the signer certificate's extendedKeyUsage %s emailProtection",
				    (flags & EXFLAG_XKUSAGE) ? "lacks" : "is absent, so it lacks");
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
		return tm_error_set(err, "smime.signer_key_usage",
				    "the signer certificate's keyUsage lacks digitalSignature");
	return 0;
}

static int check_chain(const struct tm_trust *t, CMS_ContentInfo *cms, X509 *signer,
		       int64_t at, struct tm_error *err)
{
	int rc = -1;
	STACK_OF(X509) *certs = CMS_get1_certs(cms); /* may be NULL: none included */
	X509_STORE_CTX *ctx = NULL;
	char when[32];
	if (tm_cms_chainmemo_hit(t->chains, signer, certs, at)) {
		rc = 0; /* the same verdict as verifying again (see cms_chainmemo.c) */
		goto out;
	}
	ctx = X509_STORE_CTX_new();
	fmt_time(at, when, sizeof(when));
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, t->store, signer, certs)) {
		tm_error_set(err, "internal.nomem", "cannot set up certificate verification");
		goto out;
	}
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, (time_t)at);
	if (t->check_crl)
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	if (!X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN)) {
		tm_error_set(err, "internal.library", "cannot set the S/MIME signing purpose");
		goto out;
	}
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	if (X509_verify_cert(ctx) == 1) {
		tm_cms_chainmemo_put(t->chains, signer, certs, at);
		rc = 0;
		goto out;
	}
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	const char *es = X509_verify_cert_error_string(e);
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		tm_error_set(err, "smime.signer_expired",
			     "certificate at chain depth %d is not valid at %s (%s): %s", depth, when,
			     depth == 0 ? "the signer" : "an issuer", es);
		break;
	case X509_V_ERR_CERT_REVOKED:
		tm_error_set(err, "smime.signer_revoked",
			     "certificate at chain depth %d is revoked (CRL check): %s", depth, es);
		break;
	default:
		tm_error_set(err, "smime.untrusted_signer",
			     "the signer certificate does not chain to a trusted CA at %s: %s (depth %d)",
			     when, es, depth);
		break;
	}
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int tm_cms_subject_serial(X509 *x, char *out, struct tm_error *err)
{
	const X509_NAME *nm = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(nm, NID_serialNumber, -1);
	if (i < 0)
		return tm_error_set(err, "smime.signer_no_serial",
				    "the signer certificate subject has no serialNumber attribute");
	if (X509_NAME_get_index_by_NID(nm, NID_serialNumber, i) >= 0)
		return tm_error_set(err, "smime.signer_no_serial",
				    "the signer certificate subject has two serialNumber attributes");
	unsigned char *u = NULL;
	int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
	int rc = 0;
	if (n < 1 || n > TM_SERIAL_MAX) {
		rc = tm_error_set(err, "smime.signer_no_serial",
				  "the signer subject serialNumber is %d octets (1..%d allowed)", n,
				  TM_SERIAL_MAX);
		goto out;
	}
	for (int k = 0; k < n; k++) {
		if (u[k] < 0x21 || u[k] > 0x7e) {
			rc = tm_error_set(err, "smime.signer_no_serial",
					  "the signer subject serialNumber has octet 0x%02x at %d "
					  "(printable ASCII only)",
					  u[k], k);
			goto out;
		}
	}
	memcpy(out, u, (size_t)n);
	out[n] = '\0';
out:
	OPENSSL_free(u);
	return rc;
}

int tm_cms_cert_ids(X509 *x, char fingerprint[65], char *subject, size_t subject_len,
		    struct tm_error *err)
{
	int rc = -1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL || !X509_digest(x, EVP_sha256(), md, &mdlen) || mdlen != 32) {
		tm_error_set(err, "internal.library", "cannot hash the certificate");
		goto out;
	}
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < mdlen; i++) {
		fingerprint[2 * i] = hex[md[i] >> 4];
		fingerprint[2 * i + 1] = hex[md[i] & 15];
	}
	fingerprint[2 * mdlen] = '\0';
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0) {
		tm_error_set(err, "internal.library", "cannot print the certificate subject");
		goto out;
	}
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n < 0 || (size_t)n >= subject_len) {
		tm_error_set(err, "smime.malformed", "the certificate subject is longer than %zu octets",
			     subject_len - 1);
		goto out;
	}
	memcpy(subject, p, (size_t)n);
	subject[n] = '\0';
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

/* f: the facts kept with a cached certificate, or NULL (worked out here). */
static int fill_signer(X509 *x, const struct tm_cms_cert_facts *f, struct tm_signer_info *si,
		       struct tm_error *err)
{
	if (f != NULL) { /* worked out when the cache parsed it */
		memcpy(si->fingerprint, f->fingerprint, sizeof(si->fingerprint));
		memcpy(si->subject, f->subject, sizeof(si->subject));
		if (tm_buf_append(&si->der, f->der, f->der_len) < 0)
			return tm_error_set(err, "internal.nomem", "out of memory");
		return 0;
	}
	unsigned char *der = NULL;
	if (tm_cms_cert_ids(x, si->fingerprint, si->subject, sizeof(si->subject), err) < 0)
		return -1;
	int dlen = i2d_X509(x, &der);
	if (dlen <= 0)
		return tm_error_set(err, "internal.library", "cannot encode the signer certificate");
	int rc = tm_buf_append(&si->der, der, (size_t)dlen);
	OPENSSL_free(der);
	if (rc < 0)
		return tm_error_set(err, "internal.nomem", "out of memory");
	return 0;
}

int tm_cms_verify(const struct tm_trust *t, const uint8_t *der, size_t len,
		  const uint8_t *detached, size_t dlen, int64_t now,
		  struct tm_buf *content_out, struct tm_signer_info *signer,
		  struct tm_error *err)
{
	int rc = -1;
	CMS_ContentInfo *cms = NULL;
	BIO *dcont = NULL, *ob = NULL;
	char why[128];
	ERR_clear_error();
	if (t == NULL || signer == NULL || der == NULL || len > LONG_MAX || dlen > INT_MAX ||
	    (detached == NULL && dlen > 0)) {
		tm_error_set(err, "internal.bug", "tm_cms_verify: bad arguments");
		goto out;
	}
	if (now == 0)
		now = (int64_t)time(NULL);
	const unsigned char *q = der + len;
	cms = tm_cms_certcache_d2i(t->certs, der, len);
	if (cms == NULL) {
		q = der;
		cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
	}
	if (cms == NULL || q != der + len) {
		tm_cms_ossl_reason(why, sizeof(why));
		tm_error_set(err, "smime.malformed", "CMS: cannot parse the signed data: %s",
			     cms == NULL ? why : "trailing data");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		char text[80];
		OBJ_obj2txt(text, sizeof(text), CMS_get0_type(cms), 0);
		tm_error_set(err, "smime.not_signed", "CMS content type is %s, not signedData", text);
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		tm_error_set(err, "smime.malformed", "CMS: the signed content type is not id-data");
		goto out;
	}
	bool is_detached = CMS_is_detached(cms) == 1;
	if (detached != NULL && !is_detached) {
		tm_error_set(err, "smime.malformed",
			     "CMS: the detached signature also carries content");
		goto out;
	}
	if (detached == NULL && is_detached) {
		tm_error_set(err, "smime.malformed", "CMS: the signed data carries no content");
		goto out;
	}

	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	int nsi = sis == NULL ? 0 : sk_CMS_SignerInfo_num(sis);
	if (nsi == 0) {
		tm_error_set(err, "smime.no_signer", "the signed data has no SignerInfo");
		goto out;
	}
	if (nsi > 1) {
		tm_error_set(err, "smime.multiple_signers",
			     "the signed data has %d SignerInfos, exactly one is accepted", nsi);
		goto out;
	}
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
	X509 *x = NULL;
	CMS_set1_signers_certs(cms, NULL, 0);
	ERR_clear_error();
	CMS_SignerInfo_get0_algs(si, NULL, &x, NULL, NULL);
	if (x == NULL) {
		tm_error_set(err, "smime.untrusted_signer",
			     "the signer certificate is not included in the signed data");
		goto out;
	}

	int64_t st;
	if (signing_time(si, &st, err) < 0)
		goto out;
	if (st != INT64_MIN && st > now + TM_SIGNING_TIME_SKEW) {
		char a[32], b[32];
		fmt_time(st, a, sizeof(a));
		fmt_time(now, b, sizeof(b));
		tm_error_set(err, "smime.signing_time",
			     "signingTime %s is more than %d s after the verification time %s", a,
			     TM_SIGNING_TIME_SKEW, b);
		goto out;
	}
	if (check_usage(x, err) < 0)
		goto out;
	if (check_chain(t, cms, x, st != INT64_MIN ? st : now, err) < 0)
		goto out;
	const struct tm_cms_cert_facts *facts = tm_cms_cert_facts_get0(x);
	if (facts != NULL && facts->serial[0] != '\0')
		memcpy(signer->serial, facts->serial, sizeof(signer->serial));
	else if (tm_cms_subject_serial(x, signer->serial, err) < 0)
		goto out;

	if (detached != NULL && (dcont = BIO_new_mem_buf(detached, (int)dlen)) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if ((ob = BIO_new(BIO_s_mem())) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	ERR_clear_error();
	if (CMS_verify(cms, NULL, NULL, dcont, ob, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		tm_cms_ossl_reason(why, sizeof(why));
		tm_error_set(err, "smime.bad_signature",
			     "the signature does not match the %s content: %s",
			     detached != NULL ? "detached" : "enclosed", why);
		goto out;
	}
	if (fill_signer(x, facts, signer, err) < 0)
		goto out;
	signer->signing_time = st;
	if (content_out != NULL && tm_cms_bio_to_buf(ob, content_out, err) < 0)
		goto out;
	rc = 0;
out:
	BIO_free(dcont);
	BIO_free(ob);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}

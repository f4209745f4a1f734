/* telemail — CMS SignedData verification with OpenSSL 3.
 *
 * Order of the checks (each failure has its own reason code):
 *   parse → exactly one SignerInfo → signer certificate present → digest
 *   and signature algorithms SHA-2 (smime.weak_digest) → signed attributes
 *   with a signing time (smime.no_signing_time) → signing time not in the
 *   future and not older than max_age before `now`, the arrival
 *   (smime.signing_time, smime.signing_time_old) → EKU emailProtection →
 *   keyUsage digitalSignature → chain to the trust anchors at the signing
 *   time → revocation (CRLs when configured) at `now` → subject
 *   serialNumber → the signature itself.
 * The signing time is the signer's word: it only chooses the time at which
 * validity dates are compared, inside a window that ends at the arrival
 * (a device that was offline reports late, never years late), and the
 * CRLs, which are the gateway's knowledge, are always applied as of now.
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
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <telemail/error.h>
#include <telemail/time.h>

#include "smime/cms.h"
#include "smime/cms_private.h"

/* A signing time later than now + this is refused (clock skew allowance). */
#define TM_SIGNING_TIME_SKEW 300

/* The revocation pass runs at `now` (the arrival) over a chain whose
 * validity was checked at the signing time: the certificates' own dates
 * are not its business (a certificate that expired after the message was
 * signed is fine). A CRL issued after `now` is better information, not an
 * error. Every other verdict stands (a revoked certificate, a CRL that
 * expired before now, a bad CRL signature). */
static int revocation_cb(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return ok;
	switch (X509_STORE_CTX_get_error(ctx)) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return 1;
	default:
		return ok;
	}
}

/* Digests a signature may use: SHA-2 of 256 bits and more (SHA-1 and MD5
 * have practical collisions; SHA-224 is below the 128-bit level the rest
 * of the suite has). */
static bool strong_digest(int nid)
{
	switch (nid) {
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
	case NID_sha3_256:
	case NID_sha3_384:
	case NID_sha3_512:
		return true;
	default:
		return false;
	}
}

/* The digestAlgorithm and, where the signatureAlgorithm names a hash of its
 * own (sha1WithRSAEncryption, ecdsa-with-SHA1, RSASSA-PSS parameters), that
 * hash too: OpenSSL hashes the signed attributes with the first and may
 * take the second from the signature's parameters. */
static int check_digest(CMS_SignerInfo *si, struct tm_error *err)
{
	X509_ALGOR *dig = NULL, *sig = NULL;
	char text[80];
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	const ASN1_OBJECT *o = NULL;
	if (dig != NULL)
		X509_ALGOR_get0(&o, NULL, NULL, dig);
	if (o == NULL || !strong_digest(OBJ_obj2nid(o))) {
		if (o == NULL || OBJ_obj2txt(text, sizeof(text), o, 0) <= 0)
			snprintf(text, sizeof(text), "no algorithm");
		return tm_error_set(err, "smime.weak_digest",
				    "the signature's digestAlgorithm is %s; SHA-256 or stronger "
				    "is required", text);
	}
	o = NULL;
	int ptype = V_ASN1_UNDEF;
	const void *pval = NULL;
	if (sig != NULL)
		X509_ALGOR_get0(&o, &ptype, &pval, sig);
	int snid = o != NULL ? OBJ_obj2nid(o) : NID_undef, hnid = NID_undef, pknid = NID_undef;
	if (snid == NID_rsassaPss) {
		RSA_PSS_PARAMS *pss = ptype == V_ASN1_SEQUENCE
			? ASN1_item_unpack(pval, ASN1_ITEM_rptr(RSA_PSS_PARAMS))
			: NULL;
		/* absent hashAlgorithm: SHA-1 (RFC 4055 3.1) */
		hnid = pss != NULL && pss->hashAlgorithm != NULL
			       ? OBJ_obj2nid(pss->hashAlgorithm->algorithm) : NID_sha1;
		RSA_PSS_PARAMS_free(pss);
	} else if (!OBJ_find_sigid_algs(snid, &hnid, &pknid)) {
		hnid = NID_undef; /* rsaEncryption, id-ecPublicKey, Ed25519: no hash of its own */
	}
	if (hnid != NID_undef && !strong_digest(hnid)) {
		OBJ_obj2txt(text, sizeof(text), o, 0);
		return tm_error_set(err, "smime.weak_digest",
				    "the signatureAlgorithm %s uses %s; SHA-256 or stronger is "
				    "required", text, OBJ_nid2sn(hnid));
	}
	return 0;
}

static int signing_time(CMS_SignerInfo *si, int64_t *out, struct tm_error *err)
{
	*out = INT64_MIN;
	if (CMS_signed_get_attr_count(si) <= 0)
		return tm_error_set(err, "smime.no_signing_time",
				    "the SignerInfo has no signed attributes, so no signing time");
	int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	if (idx < 0)
		return tm_error_set(err, "smime.no_signing_time",
				    "the signed attributes have no signingTime");
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

/* One X509_verify_cert of the signer with the message's certificates at
 * `at`: the chain and validity dates (crl false), or revocation (crl true:
 * CRL checks on the whole chain, the certificates' own dates ignored). A
 * success is remembered in memo for the times at which it stands. */
static int verify_at(const struct tm_trust *t, struct tm_cms_chainmemo *memo, STACK_OF(X509) *certs,
		     X509 *signer, int64_t at, bool crl, struct tm_error *err)
{
	int rc = -1;
	char when[32];
	if (tm_cms_chainmemo_hit(memo, signer, certs, at))
		return 0; /* the same verdict as verifying again (see cms_chainmemo.c) */
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	tm_time_format(at, when, sizeof(when));
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, t->store, signer, certs)) {
		tm_error_set(err, "internal.nomem", "cannot set up certificate verification");
		goto out;
	}
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, (time_t)at);
	if (crl) {
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
		X509_STORE_CTX_set_verify_cb(ctx, revocation_cb);
	}
	if (!X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN)) {
		tm_error_set(err, "internal.library", "cannot set the S/MIME signing purpose");
		goto out;
	}
	if (X509_verify_cert(ctx) == 1) {
		tm_cms_chainmemo_put(memo, signer, certs, at);
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
			     "certificate at chain depth %d is revoked (CRL check at %s): %s", depth,
			     when, es);
		break;
	default:
		tm_error_set(err, "smime.untrusted_signer",
			     "the signer certificate does not chain to a trusted CA at %s%s: %s "
			     "(depth %d)",
			     when, crl ? " (CRL check)" : "", es, depth);
		break;
	}
out:
	X509_STORE_CTX_free(ctx);
	return rc;
}

/* The chain and its validity at the signing time st; revocation at now. */
static int check_chain(const struct tm_trust *t, CMS_ContentInfo *cms, X509 *signer,
		       int64_t st, int64_t now, struct tm_error *err)
{
	STACK_OF(X509) *certs = CMS_get1_certs(cms); /* may be NULL: none included */
	int rc = verify_at(t, t->chains, certs, signer, st, false, err);
	if (rc == 0 && t->check_crl)
		rc = verify_at(t, t->crl_chains, certs, signer, now, true, err);
	sk_X509_pop_free(certs, X509_free);
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
		  const uint8_t *detached, size_t dlen, int64_t now, int64_t max_age,
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
	if (max_age <= 0)
		max_age = TM_SMIME_DEFAULT_MAX_AGE;
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

	if (check_digest(si, err) < 0)
		goto out;
	int64_t st;
	if (signing_time(si, &st, err) < 0)
		goto out;
	char a[32], b[32];
	tm_time_format(st, a, sizeof(a));
	tm_time_format(now, b, sizeof(b));
	if (st > now + TM_SIGNING_TIME_SKEW) {
		tm_error_set(err, "smime.signing_time",
			     "signingTime %s is more than %d s after the verification time %s", a,
			     TM_SIGNING_TIME_SKEW, b);
		goto out;
	}
	if (st < now - max_age) {
		tm_error_set(err, "smime.signing_time_old",
			     "signingTime %s is more than %lld s (trust.max_message_age) before the "
			     "arrival %s", a, (long long)max_age, b);
		goto out;
	}
	if (check_usage(x, err) < 0)
		goto out;
	if (check_chain(t, cms, x, st, now, err) < 0)
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

/* telemail — CMS decryption with OpenSSL 3: AuthEnvelopedData (AES-256-GCM)
 * and, only when the configuration allows it, EnvelopedData (AES-CBC).
 *
 * Before OpenSSL decrypts anything, a TLV walk over the DER (ASN1_get_object)
 * checks the content type, the content-encryption algorithm and the length of
 * the GCM tag: OpenSSL accepts tags shorter than 16 octets, which weakens GCM
 * (RFC 5084 allows 12..16; we require 16, as every sender we know writes).
 * Then the RecipientInfos are matched against the keyring, and CMS_decrypt is
 * always given the certificate of the matching key, so OpenSSL never takes
 * its "try every RecipientInfo" path (the MMA countermeasure).
 *
 * Between the checks and OpenSSL's CMS, the common shape (ECDH to one of our
 * EC keys, as OpenSSL and the agent write it) is tried on a fast path
 * (cms_kari.c) that only ever succeeds: everything else, and every verdict,
 * is left to the path below. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <telemail/error.h>

#include "smime/cms.h"
#include "smime/cms_private.h"

/* RFC 5084: the tag ("mac") of AES-GCM; anything shorter is refused. */
#define TM_GCM_TAG_LEN 16

/* An OBJECT IDENTIFIER element → NID (NID_undef for unknown OIDs). */
static int oid_nid(const struct tm_cms_tlv *t, char *text, size_t n)
{
	const unsigned char *q = t->start;
	ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &q, (long)t->total);
	if (o == NULL)
		return -1;
	int nid = OBJ_obj2nid(o);
	OBJ_obj2txt(text, (int)n, o, 0);
	ASN1_OBJECT_free(o);
	return nid;
}

/* EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
 *                                     encryptedContent [0] IMPLICIT OPTIONAL } */
static int walk_eci(const struct tm_cms_tlv *eci, const uint8_t *base,
		    struct tm_cms_envelope *ei, struct tm_error *err)
{
	const uint8_t *p = eci->content, *end = eci->content + eci->clen;
	struct tm_cms_tlv t;
	if (tm_cms_tlv_read(p, end, base, 3, &t, err) < 0)
		return -1;
	if (!tm_cms_tlv_universal(&t, V_ASN1_OBJECT))
		return tm_error_set(err, "smime.malformed",
				    "CMS: encryptedContentInfo has no contentType (offset %td)",
				    p - base);
	p += t.total;
	if (tm_cms_tlv_read(p, end, base, 3, &t, err) < 0)
		return -1;
	if (!tm_cms_tlv_universal(&t, V_ASN1_SEQUENCE))
		return tm_error_set(err, "smime.malformed",
				    "CMS: no contentEncryptionAlgorithm (offset %td)", p - base);
	const unsigned char *q = t.start;
	X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &q, (long)t.total);
	if (alg == NULL)
		return tm_error_set(err, "smime.malformed",
				    "CMS: bad contentEncryptionAlgorithm (offset %td)", p - base);
	const ASN1_OBJECT *aobj = NULL;
	X509_ALGOR_get0(&aobj, NULL, NULL, alg);
	ei->cipher_nid = OBJ_obj2nid(aobj);
	OBJ_obj2txt(ei->cipher_text, sizeof(ei->cipher_text), aobj, 0);
	X509_ALGOR_free(alg);
	p += t.total;
	if (p < end) {
		if (tm_cms_tlv_read(p, end, base, 3, &t, err) < 0)
			return -1;
		ei->has_content = tm_cms_tlv_context(&t, 0);
	}
	return 0;
}

int tm_cms_walk_envelope(const uint8_t *der, size_t len, struct tm_cms_envelope *ei,
			 struct tm_error *err)
{
	const uint8_t *end = der + len;
	struct tm_cms_tlv ci, t, inner, env;
	char text[80];
	memset(ei, 0, sizeof(*ei));
	if (tm_cms_tlv_read(der, end, der, 0, &ci, err) < 0)
		return -1;
	if (!tm_cms_tlv_universal(&ci, V_ASN1_SEQUENCE) || !ci.constructed)
		return tm_error_set(err, "smime.malformed", "CMS: not a ContentInfo SEQUENCE");
	if (ci.total != len)
		return tm_error_set(err, "smime.malformed",
				    "CMS: %zu octets of trailing data after the ContentInfo",
				    len - ci.total);
	const uint8_t *p = ci.content, *cend = ci.content + ci.clen;
	if (tm_cms_tlv_read(p, cend, der, 1, &t, err) < 0)
		return -1;
	if (!tm_cms_tlv_universal(&t, V_ASN1_OBJECT))
		return tm_error_set(err, "smime.malformed", "CMS: ContentInfo has no contentType");
	ei->type_nid = oid_nid(&t, text, sizeof(text));
	if (ei->type_nid < 0)
		return tm_error_set(err, "smime.malformed", "CMS: bad contentType OID");
	if (ei->type_nid != NID_id_smime_ct_authEnvelopedData &&
	    ei->type_nid != NID_pkcs7_enveloped)
		return tm_error_set(err, "smime.not_encrypted",
				    "CMS content type is %s, not authEnvelopedData", text);
	p += t.total;
	if (tm_cms_tlv_read(p, cend, der, 1, &inner, err) < 0)
		return -1;
	if (!tm_cms_tlv_context(&inner, 0) || !inner.constructed)
		return tm_error_set(err, "smime.malformed", "CMS: ContentInfo has no [0] content");
	if (tm_cms_tlv_read(inner.content, inner.content + inner.clen, der, 2, &env, err) < 0)
		return -1;
	if (!tm_cms_tlv_universal(&env, V_ASN1_SEQUENCE) || !env.constructed)
		return tm_error_set(err, "smime.malformed", "CMS: the envelope is not a SEQUENCE");
	ei->bare = !t.constructed && p + inner.total == cend && env.total == inner.clen;

	/* version, [0] originatorInfo, SET recipientInfos, SEQUENCE
	 * encryptedContentInfo, [1] authAttrs, OCTET STRING mac, [2] ... */
	bool seen_eci = false;
	p = env.content;
	const uint8_t *eend = env.content + env.clen;
	while (p < eend) {
		if (tm_cms_tlv_read(p, eend, der, 3, &t, err) < 0)
			return -1;
		if (ei->nfields < TM_CMS_ENV_FIELDS)
			ei->fields[ei->nfields] = t;
		ei->nfields++;
		if (!seen_eci && tm_cms_tlv_universal(&t, V_ASN1_SEQUENCE)) {
			if (walk_eci(&t, der, ei, err) < 0)
				return -1;
			seen_eci = true;
		} else if (seen_eci && tm_cms_tlv_universal(&t, V_ASN1_OCTET_STRING) && !ei->has_mac) {
			if (t.constructed)
				return tm_error_set(err, "smime.malformed",
						    "CMS: the mac is a constructed OCTET STRING (offset %td)",
						    p - der);
			ei->has_mac = true;
			ei->mac_len = t.clen;
		}
		p += t.total;
	}
	if (!seen_eci)
		return tm_error_set(err, "smime.malformed", "CMS: no encryptedContentInfo");
	if (!ei->has_content)
		return tm_error_set(err, "smime.malformed",
				    "CMS: no encryptedContent (detached ciphertext is not supported)");
	if (ei->type_nid == NID_id_smime_ct_authEnvelopedData && !ei->has_mac)
		return tm_error_set(err, "smime.malformed", "CMS: authEnvelopedData has no mac");
	return 0;
}

int tm_cms_kari_decrypt(const struct tm_keyring *kr, const uint8_t *der, size_t len,
			struct tm_buf *out)
{
	struct tm_cms_envelope env;
	ERR_set_mark();
	int rc = der != NULL && tm_cms_walk_envelope(der, len, &env, NULL) == 0 ?
			 tm_cms_kari_open(kr, &env, out) : 0;
	ERR_pop_to_mark();
	return rc;
}

static int check_algorithms(const struct tm_cms_envelope *ei, bool allow_cbc, bool *was_cbc,
			    struct tm_error *err)
{
	if (ei->type_nid == NID_id_smime_ct_authEnvelopedData) {
		if (ei->cipher_nid != NID_aes_256_gcm)
			return tm_error_set(err, "smime.weak_cipher",
					    "authEnvelopedData uses %s, not aes-256-gcm",
					    ei->cipher_text);
		if (ei->mac_len != TM_GCM_TAG_LEN)
			return tm_error_set(err, "smime.truncated_tag",
					    "the GCM tag (mac) is %zu octets, %d required",
					    ei->mac_len, TM_GCM_TAG_LEN);
		*was_cbc = false;
		return 0;
	}
	/* AES-256-CBC only: the configuration promises 256-bit content keys,
	 * and a shorter CBC key is refused whether CBC is allowed or not. */
	if (ei->cipher_nid != NID_aes_256_cbc)
		return tm_error_set(err, "smime.weak_cipher",
				    "envelopedData uses %s; only aes-256-gcm (authEnvelopedData) "
				    "and, where allowed, aes-256-cbc are accepted",
				    ei->cipher_text);
	if (!allow_cbc)
		return tm_error_set(err, "smime.cbc_not_allowed",
				    "envelopedData with %s (CBC is malleable); only authEnvelopedData "
				    "with aes-256-gcm is accepted",
				    ei->cipher_text);
	*was_cbc = true;
	return 0;
}

/* The RecipientInfo of the message that names this certificate, or NULL. */
static CMS_RecipientInfo *names_cert(STACK_OF(CMS_RecipientInfo) *ris, X509 *cert)
{
	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
				return ri;
			break;
		case CMS_RECIPINFO_AGREE: {
			STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
					    sk_CMS_RecipientEncryptedKey_value(reks, j), cert) == 0)
					return ri;
			break;
		}
		default:
			break; /* KEK, password, other: never ours */
		}
	}
	return NULL;
}

/* A key agreement wraps the 256-bit content key with the KEK it derives:
 * only id-aes256-wrap keeps the key's strength (a 128-bit wrap would make
 * AES-256 worth 128 bits). The ECDH algorithm's parameters are the wrap's
 * AlgorithmIdentifier (RFC 5753 7.1.2). */
static int check_wrap(CMS_RecipientInfo *ri, struct tm_error *err)
{
	if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_AGREE)
		return 0; /* key transport (RSA): no wrap */
	X509_ALGOR *alg = NULL;
	ASN1_OCTET_STRING *ukm = NULL;
	const ASN1_OBJECT *obj = NULL;
	int ptype = 0;
	const void *pval = NULL;
	X509_ALGOR *wrap = NULL;
	int nid = NID_undef;
	if (CMS_RecipientInfo_kari_get0_alg(ri, &alg, &ukm) == 1 && alg != NULL) {
		X509_ALGOR_get0(&obj, &ptype, &pval, alg);
		if (ptype == V_ASN1_SEQUENCE && pval != NULL) {
			const ASN1_STRING *seq = pval;
			const unsigned char *p = ASN1_STRING_get0_data(seq);
			wrap = d2i_X509_ALGOR(NULL, &p, ASN1_STRING_length(seq));
			if (wrap != NULL)
				nid = OBJ_obj2nid(wrap->algorithm);
			X509_ALGOR_free(wrap);
		}
	}
	if (nid == NID_id_aes256_wrap)
		return 0;
	return tm_error_set(err, "smime.weak_cipher",
			    "the key agreement wraps the content key with %s; only aes256-wrap is "
			    "accepted", nid != NID_undef ? OBJ_nid2sn(nid) : "an unknown algorithm");
}

int tm_cms_decrypt(const struct tm_keyring *kr, const uint8_t *der, size_t len, bool allow_cbc,
		   struct tm_buf *out, bool *was_cbc, struct tm_error *err)
{
	int rc = -1;
	CMS_ContentInfo *cms = NULL;
	BIO *ob = NULL;
	struct tm_cms_envelope ei;
	bool cbc = false;
	char why[128];
	ERR_clear_error();
	if (kr == NULL || der == NULL || len > LONG_MAX) {
		tm_error_set(err, "internal.bug", "tm_cms_decrypt: bad arguments");
		goto out;
	}
	if (tm_cms_walk_envelope(der, len, &ei, err) < 0)
		goto out;
	if (check_algorithms(&ei, allow_cbc, &cbc, err) < 0)
		goto out;
	/* The common shape (ECDH to one of our keys) without the generic
	 * machinery; anything else, and every failure, takes the path below. */
	if (!cbc && tm_cms_kari_open(kr, &ei, out) == 1) {
		if (was_cbc != NULL)
			*was_cbc = false;
		rc = 0;
		goto out;
	}
	const unsigned char *q = der;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
	if (cms == NULL || q != der + len) {
		tm_cms_ossl_reason(why, sizeof(why));
		tm_error_set(err, "smime.malformed", "CMS: cannot parse the envelope: %s", why);
		goto out;
	}
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	if (ris == NULL || sk_CMS_RecipientInfo_num(ris) == 0) {
		tm_error_set(err, "smime.malformed", "CMS: the envelope has no RecipientInfo");
		goto out;
	}
	/* Try each key whose certificate a RecipientInfo names; OpenSSL only
	 * ever sees the matching certificate. */
	const struct tm_keyring_entry *used = NULL;
	size_t matched = 0;
	for (size_t i = 0; i < kr->n && used == NULL; i++) {
		const struct tm_keyring_entry *e = &kr->items[i];
		CMS_RecipientInfo *ri = names_cert(ris, e->cert);
		if (ri == NULL)
			continue;
		if (check_wrap(ri, err) < 0)
			goto out;
		matched++;
		if (CMS_decrypt_set1_pkey_and_peer(cms, e->key, e->cert, NULL) == 1)
			used = e;
		else
			tm_cms_ossl_reason(why, sizeof(why));
		ERR_clear_error();
	}
	if (matched == 0) {
		tm_error_set(err, "smime.wrong_recipient",
			     "none of the %d RecipientInfos names one of the %zu gateway certificates",
			     sk_CMS_RecipientInfo_num(ris), kr->n);
		goto out;
	}
	if (used == NULL) {
		tm_error_set(err, "smime.decrypt_failed",
			     "the content-encryption key cannot be recovered with the matching key: %s",
			     why);
		goto out;
	}
	ob = BIO_new(BIO_s_mem());
	if (ob == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	/* pk NULL: the key is already set; cert given: no "try every recipient". */
	if (CMS_decrypt(cms, NULL, used->cert, NULL, ob, CMS_BINARY) != 1) {
		tm_cms_ossl_reason(why, sizeof(why));
		if (!cbc)
			tm_error_set(err, "smime.tampered",
				     "AES-GCM authentication failed: the ciphertext, nonce or tag "
				     "was altered (%s)",
				     why);
		else
			tm_error_set(err, "smime.decrypt_failed", "AES-CBC decryption failed: %s", why);
		goto out;
	}
	if (tm_cms_bio_to_buf(ob, out, err) < 0)
		goto out;
	if (was_cbc != NULL)
		*was_cbc = cbc;
	rc = 0;
out:
	BIO_free(ob);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}

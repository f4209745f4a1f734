/* telemail — the fast path of CMS decryption (see cms_private.h): AuthEnvelopedData
 * (RFC 5083, AES-256-GCM of RFC 5084) whose key is agreed with ECDH (RFC 5652
 * 6.2.2, RFC 5753: dhSinglePass-stdDH, ANSI X9.63 KDF, AES key wrap of RFC 3394),
 * done with EVP primitives. OpenSSL's CMS fetches its algorithms and builds
 * its contexts for each message, decodes the originator key with the generic
 * decoders and validates it in full (one more scalar multiplication, n*Q);
 * on a curve of prime order a point on the curve, which decoding checks, is
 * all ECDH needs. Here the algorithms are fetched once and the point is set
 * on a copy of our key's parameters.
 *
 * It only ever succeeds: for a shape it does not know, a recipient not ours or
 * any failure it answers "not done" and tm_cms_decrypt runs the OpenSSL path,
 * which gives every verdict. It parses strictly (each container consumed
 * exactly; class, tag and form of each element checked; the issuer names it
 * does not compare parsed by OpenSSL) so as to accept nothing OpenSSL refuses.
 * As in cms_decrypt.c, only a keyring entry whose certificate a
 * RecipientEncryptedKey names is tried (the MMA countermeasure). */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "smime/cms_private.h"

#define KARI_MAX_REKS 16  /* RecipientEncryptedKeys of one message, in all */
#define KARI_MAX_UKM 96   /* octets of ukm: every length of the SharedInfo is short */
#define KARI_NONCE_LEN 12 /* the GCM nonce: OpenSSL 3.0's CMS opens no other length */
#define KARI_TAG_LEN 16   /* the GCM tag (mac), as check_algorithms requires */
#define KARI_CEK_LEN 32   /* AES-256 */
#define KARI_MAX_FIELD 66 /* octets of a coordinate (P-521) */
#define KARI_MAX_KEK 32

#define UNIV V_ASN1_UNIVERSAL
#define CTX V_ASN1_CONTEXT_SPECIFIC

/* OBJECT IDENTIFIER contents. */
static const uint8_t OID_DATA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };
static const uint8_t OID_AES256_GCM[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e };
static const uint8_t OID_EC_PUBKEY[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };

/* dhSinglePass-stdDH-<hash>kdf-scheme (SEC 1 C.4, RFC 5753 7.1.4): the
 * KDF's hash. SHA-1 is what OpenSSL writes by default. */
static const struct scheme {
	uint8_t oid[9];
	size_t oid_len;
	const char *md;
} SCHEMES[] = {
	{ { 0x2b, 0x81, 0x05, 0x10, 0x86, 0x48, 0x3f, 0x00, 0x02 }, 9, "SHA1" },
	{ { 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x00 }, 6, "SHA2-224" },
	{ { 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x01 }, 6, "SHA2-256" },
	{ { 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x02 }, 6, "SHA2-384" },
	{ { 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x03 }, 6, "SHA2-512" },
};
#define N_SCHEMES (sizeof(SCHEMES) / sizeof(SCHEMES[0]))

/* KeyWrapAlgorithm: id-aesNNN-wrap with absent parameters (RFC 3565 2.3.2),
 * the whole AlgorithmIdentifier (it goes into the SharedInfo as it is) but
 * for the last octet of the OID. */
#define WRAP_DER_LEN 13
static const uint8_t WRAP_DER[WRAP_DER_LEN - 1] = { 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86,
						    0x48, 0x01, 0x65, 0x03, 0x04, 0x01 };
static const struct wrap {
	uint8_t oid_last;
	size_t kek_len;
	const char *cipher;
} WRAPS[] = { { 0x2d, 32, "AES-256-WRAP" } }; /* only this one: cms_decrypt.c check_wrap */
#define N_WRAPS (sizeof(WRAPS) / sizeof(WRAPS[0]))

/* Curves of prime order (cofactor 1, FIPS 186-4 D.1.2), where a point on the
 * curve other than infinity is a valid public key (SP 800-56A 5.6.2.3.4). */
static const struct curve {
	int nid;
	size_t field_len;
} CURVES[] = {
	{ NID_X9_62_prime256v1, 32 },
	{ NID_secp384r1, 48 },
	{ NID_secp521r1, 66 },
};

/* Fetched once for the process, read-only afterwards and never freed: the
 * per-message fetch is part of what the generic path costs. NULL when a
 * provider lacks one (then that shape is not done here). */
static struct {
	EVP_CIPHER *gcm;
	EVP_CIPHER *wrap[N_WRAPS];
	EVP_MD *md[N_SCHEMES];
} algs;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void algs_fetch(void)
{
	algs.gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	for (size_t i = 0; i < N_WRAPS; i++)
		algs.wrap[i] = EVP_CIPHER_fetch(NULL, WRAPS[i].cipher, NULL);
	for (size_t i = 0; i < N_SCHEMES; i++)
		algs.md[i] = EVP_MD_fetch(NULL, SCHEMES[i].md, NULL);
}

/* ---- strict parsing -------------------------------------------------------- */

/* The contents of one element, read element by element. */
struct cur {
	const uint8_t *p, *end;
};

static struct cur inside(const struct tm_cms_tlv *t)
{
	return (struct cur){ t->content, t->content + t->clen };
}

static bool done(const struct cur *c)
{
	return c->p == c->end;
}

static bool is(const struct tm_cms_tlv *t, int cls, int tag, bool constructed)
{
	return (cls == UNIV ? tm_cms_tlv_universal(t, tag) : tm_cms_tlv_context(t, tag)) &&
	       t->constructed == constructed;
}

/* The next element, if it has this class, tag and form (then it is consumed). */
static bool take(struct cur *c, int cls, int tag, bool constructed, struct tm_cms_tlv *t)
{
	if (tm_cms_tlv_read(c->p, c->end, c->p, 4, t, NULL) < 0 || !is(t, cls, tag, constructed))
		return false;
	c->p += t->total;
	return true;
}

/* The next element, if it is constructed and holds exactly one element of
 * the inner class, tag and form (then t is that one and both are consumed). */
static bool take_one(struct cur *c, int cls, int tag, int icls, int itag, bool iconstructed,
		     struct tm_cms_tlv *t)
{
	struct cur was = *c, in = { NULL, NULL };
	struct tm_cms_tlv outer;
	if (take(c, cls, tag, true, &outer))
		in = inside(&outer);
	if (in.p != NULL && take(&in, icls, itag, iconstructed, t) && done(&in))
		return true;
	*c = was;
	return false;
}

static bool same(const struct tm_cms_tlv *t, const uint8_t *b, size_t n)
{
	return t->clen == n && memcmp(t->content, b, n) == 0;
}

static bool small_int(const struct tm_cms_tlv *t, uint8_t v)
{
	return t->clen == 1 && t->content[0] == v;
}

/* INTEGER contents in the minimal form OpenSSL insists on: no octet that
 * only repeats the sign of the next one. */
static bool int_minimal(const struct tm_cms_tlv *t)
{
	const uint8_t *c = t->content;
	if (t->clen < 2)
		return t->clen == 1;
	return !(c[0] == 0x00 && !(c[1] & 0x80)) && !(c[0] == 0xff && (c[1] & 0x80));
}

/* One KeyAgreeRecipientInfo, as far as the key agreement needs it. */
struct kari {
	const uint8_t *point;   /* the originator's public key */
	size_t point_len;
	const uint8_t *ukm;     /* NULL when absent */
	size_t ukm_len;
	size_t scheme, wrap;    /* indices into SCHEMES and WRAPS */
};

struct rek {
	struct kari ka;         /* of its KeyAgreeRecipientInfo */
	bool by_ski;
	struct tm_cms_tlv issuer, serial, ski, ek;
};

struct msg {
	const uint8_t *nonce, *mac;
	struct tm_cms_tlv content; /* encryptedContent [0] */
	size_t ct_len;             /* its octets (the chunks' for a constructed one) */
	size_t nrek;
	struct rek reks[KARI_MAX_REKS];
};

/* originator [0] { [1] OriginatorPublicKey { { id-ecPublicKey [NULL] }, BIT STRING } } */
static bool parse_originator(struct cur *c, struct kari *ka)
{
	struct cur k, a;
	struct tm_cms_tlv opk, alg, oid, key, null;
	if (!take_one(c, CTX, 0, CTX, 1, true, &opk))
		return false;
	k = inside(&opk);
	if (!take(&k, UNIV, V_ASN1_SEQUENCE, true, &alg) ||
	    !take(&k, UNIV, V_ASN1_BIT_STRING, false, &key) || !done(&k))
		return false;
	a = inside(&alg);
	if (!take(&a, UNIV, V_ASN1_OBJECT, false, &oid) ||
	    !same(&oid, OID_EC_PUBKEY, sizeof(OID_EC_PUBKEY)))
		return false;
	/* parameters absent or NULL: our key's curve (a named one: not handled) */
	if (!done(&a) && (!take(&a, UNIV, V_ASN1_NULL, false, &null) || null.clen != 0))
		return false;
	if (!done(&a) || key.clen < 2 || key.content[0] != 0) /* no unused bits */
		return false;
	ka->point = key.content + 1;
	ka->point_len = key.clen - 1;
	return true;
}

/* rid (issuerAndSerialNumber, or [0] rKeyId with the SKI alone), encryptedKey */
static bool parse_rek(const struct tm_cms_tlv *t, struct rek *r)
{
	struct cur c = inside(t), d;
	struct tm_cms_tlv rid;
	r->by_ski = take_one(&c, CTX, 0, UNIV, V_ASN1_OCTET_STRING, false, &r->ski);
	if (!r->by_ski) {
		if (!take(&c, UNIV, V_ASN1_SEQUENCE, true, &rid))
			return false;
		d = inside(&rid);
		if (!take(&d, UNIV, V_ASN1_SEQUENCE, true, &r->issuer) ||
		    !take(&d, UNIV, V_ASN1_INTEGER, false, &r->serial) || !done(&d) ||
		    !int_minimal(&r->serial))
			return false;
	}
	return take(&c, UNIV, V_ASN1_OCTET_STRING, false, &r->ek) && done(&c);
}

/* [1] KeyAgreeRecipientInfo { 3, originator, [1] ukm OPTIONAL,
 * keyEncryptionAlgorithm { scheme, KeyWrapAlgorithm }, recipientEncryptedKeys } */
static bool parse_kari(const struct tm_cms_tlv *ri, struct msg *m)
{
	struct cur c = inside(ri), d;
	struct tm_cms_tlv t, u;
	struct kari ka = { .ukm = NULL };
	if (!take(&c, UNIV, V_ASN1_INTEGER, false, &t) || !small_int(&t, 3) ||
	    !parse_originator(&c, &ka))
		return false;
	if (take_one(&c, CTX, 1, UNIV, V_ASN1_OCTET_STRING, false, &u)) {
		ka.ukm = u.content;
		ka.ukm_len = u.clen;
	}
	if (ka.ukm_len > KARI_MAX_UKM || !take(&c, UNIV, V_ASN1_SEQUENCE, true, &t))
		return false;
	d = inside(&t);
	if (!take(&d, UNIV, V_ASN1_OBJECT, false, &u))
		return false;
	for (ka.scheme = 0; ka.scheme < N_SCHEMES; ka.scheme++)
		if (same(&u, SCHEMES[ka.scheme].oid, SCHEMES[ka.scheme].oid_len))
			break;
	if (ka.scheme == N_SCHEMES || !take(&d, UNIV, V_ASN1_SEQUENCE, true, &u) || !done(&d))
		return false;
	for (ka.wrap = 0; ka.wrap < N_WRAPS; ka.wrap++)
		if (u.total == WRAP_DER_LEN && memcmp(u.start, WRAP_DER, WRAP_DER_LEN - 1) == 0 &&
		    u.start[WRAP_DER_LEN - 1] == WRAPS[ka.wrap].oid_last)
			break;
	if (ka.wrap == N_WRAPS || !take(&c, UNIV, V_ASN1_SEQUENCE, true, &t) || !done(&c))
		return false;
	d = inside(&t);
	while (!done(&d)) {
		if (m->nrek == KARI_MAX_REKS || !take(&d, UNIV, V_ASN1_SEQUENCE, true, &u))
			return false;
		struct rek *r = &m->reks[m->nrek++];
		r->ka = ka;
		if (!parse_rek(&u, r))
			return false;
	}
	return true;
}

/* authEncryptedContentInfo { id-data, { aes-256-gcm, { nonce, 16 } },
 * [0] encryptedContent, primitive or of primitive chunks } */
static bool parse_eci(const struct tm_cms_tlv *eci, struct msg *m)
{
	struct cur c = inside(eci), a, g;
	struct tm_cms_tlv t, alg, par, icv, chunk;
	if (!take(&c, UNIV, V_ASN1_OBJECT, false, &t) || !same(&t, OID_DATA, sizeof(OID_DATA)) ||
	    !take(&c, UNIV, V_ASN1_SEQUENCE, true, &alg))
		return false;
	a = inside(&alg);
	if (!take(&a, UNIV, V_ASN1_OBJECT, false, &t) ||
	    !same(&t, OID_AES256_GCM, sizeof(OID_AES256_GCM)) ||
	    !take(&a, UNIV, V_ASN1_SEQUENCE, true, &par) || !done(&a))
		return false;
	g = inside(&par);
	/* OpenSSL wants aes-ICVlen written out (it may not be the DEFAULT 12 anyway) */
	if (!take(&g, UNIV, V_ASN1_OCTET_STRING, false, &t) || t.clen != KARI_NONCE_LEN ||
	    !take(&g, UNIV, V_ASN1_INTEGER, false, &icv) || !done(&g) ||
	    !small_int(&icv, KARI_TAG_LEN))
		return false;
	m->nonce = t.content;
	if (take(&c, CTX, 0, false, &m->content)) {
		m->ct_len = m->content.clen;
	} else if (take(&c, CTX, 0, true, &m->content)) {
		m->ct_len = 0;
		for (struct cur k = inside(&m->content); !done(&k); m->ct_len += chunk.clen)
			if (!take(&k, UNIV, V_ASN1_OCTET_STRING, false, &chunk))
				return false;
	} else {
		return false;
	}
	return done(&c) && m->content.clen <= INT_MAX; /* each EVP_DecryptUpdate takes an int */
}

/* { 0, recipientInfos of KeyAgreeRecipientInfos, authEncryptedContentInfo,
 * mac }: no originatorInfo, authAttrs, unauthAttrs or other RecipientInfos. */
static bool parse_envelope(const struct tm_cms_envelope *env, struct msg *m)
{
	const struct tm_cms_tlv *f = env->fields;
	struct tm_cms_tlv ri;
	if (env->type_nid != NID_id_smime_ct_authEnvelopedData || !env->bare || env->nfields != 4 ||
	    !is(&f[0], UNIV, V_ASN1_INTEGER, false) || !small_int(&f[0], 0) ||
	    !is(&f[1], UNIV, V_ASN1_SET, true) || !is(&f[2], UNIV, V_ASN1_SEQUENCE, true) ||
	    !is(&f[3], UNIV, V_ASN1_OCTET_STRING, false) || f[3].clen != KARI_TAG_LEN ||
	    !parse_eci(&f[2], m))
		return false;
	m->mac = f[3].content;
	for (struct cur c = inside(&f[1]); !done(&c);)
		if (!take(&c, CTX, 1, true, &ri) || !parse_kari(&ri, m))
			return false;
	return m->nrek > 0;
}

/* ---- whose key ------------------------------------------------------------- */

/* Is the serial number (minimal DER contents) the certificate's? */
static bool serial_is(const struct rek *r, X509 *cert)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(cert); /* a magnitude and a sign */
	const uint8_t *c = r->serial.content;
	size_t n = r->serial.clen;
	if (ASN1_STRING_type(sn) != V_ASN1_INTEGER || (c[0] & 0x80))
		return false;
	if (n > 1 && c[0] == 0) {
		c++;
		n--;
	}
	return (size_t)ASN1_STRING_length(sn) == n && memcmp(c, ASN1_STRING_get0_data(sn), n) == 0;
}

/* Does this RecipientEncryptedKey name the certificate, byte for byte? */
static bool rek_names(const struct rek *r, X509 *cert)
{
	if (r->by_ski) {
		const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
		return ski != NULL &&
		       same(&r->ski, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
	}
	const unsigned char *der = NULL;
	size_t der_len = 0;
	return X509_NAME_get0_der(X509_get_issuer_name(cert), &der, &der_len) &&
	       r->issuer.total == der_len && memcmp(r->issuer.start, der, der_len) == 0 &&
	       serial_is(r, cert);
}

/* The first keyring entry (in the keyring's order, as cms_decrypt.c tries
 * them) that a RecipientEncryptedKey names, and the first such one. The
 * issuer names that are not the chosen one's bytes must parse as OpenSSL
 * parses them and, compared as OpenSSL compares them (canonically), name
 * none of the entries up to the chosen one: OpenSSL would try that first. */
static bool choose(const struct tm_keyring *kr, const struct msg *m,
		   const struct tm_keyring_entry **entry, const struct rek **rek)
{
	size_t i = 0;
	for (; i < kr->n && *rek == NULL; i++)
		for (size_t j = 0; j < m->nrek && *rek == NULL; j++)
			if (rek_names(&m->reks[j], kr->items[i].cert)) {
				*entry = &kr->items[i];
				*rek = &m->reks[j];
			}
	if (*rek == NULL)
		return false;
	for (size_t j = 0; j < m->nrek; j++) {
		const struct rek *r = &m->reks[j];
		const struct tm_cms_tlv *mine = &(*rek)->issuer;
		if (r->by_ski || (!(*rek)->by_ski && r->issuer.total == mine->total &&
				  memcmp(r->issuer.start, mine->start, mine->total) == 0))
			continue;
		const unsigned char *q = r->issuer.start;
		X509_NAME *name = d2i_X509_NAME(NULL, &q, (long)r->issuer.total);
		bool ok = name != NULL && q == r->issuer.start + r->issuer.total;
		for (size_t k = 0; ok && k < i; k++)
			ok = X509_NAME_cmp(name, X509_get_issuer_name(kr->items[k].cert)) != 0 ||
			     !serial_is(r, kr->items[k].cert);
		X509_NAME_free(name);
		if (!ok)
			return false;
	}
	return true;
}

/* The curve of an EC certificate's key, if it is one of CURVES. */
static const struct curve *cert_curve(X509 *cert)
{
	ASN1_OBJECT *alg = NULL;
	X509_ALGOR *params = NULL;
	const void *val = NULL;
	int type = 0;
	if (!X509_PUBKEY_get0_param(&alg, NULL, NULL, &params, X509_get_X509_PUBKEY(cert)) ||
	    OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey)
		return NULL;
	X509_ALGOR_get0(NULL, &type, &val, params);
	if (type != V_ASN1_OBJECT)
		return NULL;
	int nid = OBJ_obj2nid(val);
	for (size_t i = 0; i < sizeof(CURVES) / sizeof(CURVES[0]); i++)
		if (CURVES[i].nid == nid)
			return &CURVES[i];
	return NULL;
}

/* ---- the cryptography ------------------------------------------------------ */

/* Z: ECDH of our key with the originator's point, which decoding puts on the
 * curve (the point at infinity has no uncompressed form). */
static bool agree(EVP_PKEY *key, const struct curve *cv, const struct kari *ka, uint8_t *z)
{
	bool ok = false;
	size_t z_len = KARI_MAX_FIELD;
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *pc = NULL;
	if (ka->point_len != 1 + 2 * cv->field_len || ka->point[0] != 0x04)
		return false;
	peer = EVP_PKEY_new();
	if (peer == NULL || EVP_PKEY_copy_parameters(peer, key) != 1 ||
	    EVP_PKEY_set1_encoded_public_key(peer, ka->point, ka->point_len) != 1)
		goto out;
	pc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = pc != NULL && EVP_PKEY_derive_init(pc) == 1 &&
	     EVP_PKEY_derive_set_peer_ex(pc, peer, 0) == 1 && EVP_PKEY_derive(pc, z, &z_len) == 1 &&
	     z_len == cv->field_len;
out:
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(peer);
	return ok;
}

/* KEK = X9.63 KDF(Z, ECC-CMS-SharedInfo { keyInfo, [0] ukm OPTIONAL,
 * [2] the KEK's length in bits }) (RFC 5753 7.2):
 * Hash(Z || counter || SharedInfo) for counter = 1, 2 … */
static bool derive_kek(EVP_MD_CTX *mc, const struct kari *ka, const uint8_t *z, size_t z_len,
		       uint8_t *kek)
{
	const struct wrap *w = &WRAPS[ka->wrap];
	const size_t ukm = ka->ukm != NULL ? 4 + ka->ukm_len : 0, bits = w->kek_len * 8;
	const uint8_t head[2] = { 0x30, (uint8_t)(WRAP_DER_LEN + ukm + 8) }, /* < 128 */
		ukm_head[4] = { 0xa0, (uint8_t)(ka->ukm_len + 2), 0x04, (uint8_t)ka->ukm_len },
		supp[8] = { 0xa2, 6, 0x04, 4, 0, 0, (uint8_t)(bits >> 8), (uint8_t)bits };
	uint8_t info[128], block[EVP_MAX_MD_SIZE], *p = info;
	memcpy(p, head, 2);
	memcpy(p + 2, WRAP_DER, WRAP_DER_LEN - 1);
	p[WRAP_DER_LEN + 1] = w->oid_last;
	p += 2 + WRAP_DER_LEN;
	if (ka->ukm != NULL) {
		memcpy(p, ukm_head, 4);
		memcpy(p + 4, ka->ukm, ka->ukm_len);
		p += ukm;
	}
	memcpy(p, supp, 8);
	p += 8;
	bool ok = true;
	for (size_t counter = 1, got = 0; got < w->kek_len; counter++) {
		const uint8_t ctr[4] = { 0, 0, 0, (uint8_t)counter }; /* a few blocks at most */
		unsigned int n = 0;
		ok = EVP_DigestInit_ex2(mc, algs.md[ka->scheme], NULL) == 1 &&
		     EVP_DigestUpdate(mc, z, z_len) == 1 && EVP_DigestUpdate(mc, ctr, 4) == 1 &&
		     EVP_DigestUpdate(mc, info, (size_t)(p - info)) == 1 &&
		     EVP_DigestFinal_ex(mc, block, &n) == 1 && n > 0;
		if (!ok)
			break;
		size_t k = n < w->kek_len - got ? n : w->kek_len - got;
		memcpy(kek + got, block, k);
		got += k;
	}
	OPENSSL_cleanse(block, sizeof(block));
	return ok;
}

/* CEK = AES key unwrap (RFC 3394) of the encryptedKey with the KEK. */
static bool unwrap(EVP_CIPHER_CTX *cc, const struct rek *r, const uint8_t *kek, uint8_t *cek)
{
	int n = 0;
	if (r->ek.clen != KARI_CEK_LEN + 8)
		return false;
	EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	return EVP_DecryptInit_ex2(cc, algs.wrap[r->ka.wrap], kek, NULL, NULL) == 1 &&
	       EVP_DecryptUpdate(cc, cek, &n, r->ek.content, (int)r->ek.clen) == 1 &&
	       n == KARI_CEK_LEN;
}

static bool gcm_update(EVP_CIPHER_CTX *cc, uint8_t *dst, size_t *at, const struct tm_cms_tlv *t)
{
	int got = 0;
	if (EVP_DecryptUpdate(cc, dst + *at, &got, t->content, (int)t->clen) != 1 ||
	    (size_t)got != t->clen)
		return false;
	*at += t->clen;
	return true;
}

/* AES-256-GCM with the nonce, no AAD, the mac as the tag; the plaintext is
 * appended to out only when the tag verifies. */
static bool gcm_open(EVP_CIPHER_CTX *cc, const uint8_t *cek, const struct msg *m,
		     struct tm_buf *out)
{
	size_t at = 0;
	int n = 0;
	if (tm_buf_reserve(out, m->ct_len) < 0)
		return false;
	uint8_t *dst = out->data + out->len;
	bool ok = EVP_CIPHER_CTX_reset(cc) == 1 &&
		  EVP_DecryptInit_ex2(cc, algs.gcm, cek, m->nonce, NULL) == 1;
	struct tm_cms_tlv chunk;
	if (!m->content.constructed)
		ok = ok && gcm_update(cc, dst, &at, &m->content);
	for (struct cur k = inside(&m->content); ok && m->content.constructed && !done(&k);)
		ok = take(&k, UNIV, V_ASN1_OCTET_STRING, false, &chunk) &&
		     gcm_update(cc, dst, &at, &chunk);
	ok = ok && EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, KARI_TAG_LEN, (void *)m->mac) == 1;
	ok = ok && EVP_DecryptFinal_ex(cc, dst + at, &n) == 1 && at + (size_t)n == m->ct_len;
	if (!ok) {
		OPENSSL_cleanse(dst, m->ct_len);
		return false;
	}
	out->len += m->ct_len;
	out->data[out->len] = '\0';
	return true;
}

int tm_cms_kari_open(const struct tm_keyring *kr, const struct tm_cms_envelope *env,
		     struct tm_buf *out)
{
	struct msg m = { .nrek = 0 };
	const struct tm_keyring_entry *e = NULL;
	const struct rek *r = NULL;
	const struct curve *cv = NULL;
	uint8_t z[KARI_MAX_FIELD], kek[KARI_MAX_KEK], cek[KARI_CEK_LEN + 8];
	EVP_MD_CTX *mc = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	if (kr == NULL || env == NULL || out == NULL)
		return 0;
	pthread_once(&algs_once, algs_fetch);
	ERR_set_mark(); /* the EVP calls may queue errors: none are left behind */
	bool ok = parse_envelope(env, &m) && choose(kr, &m, &e, &r) &&
		  (cv = cert_curve(e->cert)) != NULL && algs.gcm != NULL &&
		  algs.wrap[r->ka.wrap] != NULL && algs.md[r->ka.scheme] != NULL &&
		  agree(e->key, cv, &r->ka, z) && (mc = EVP_MD_CTX_new()) != NULL &&
		  (cc = EVP_CIPHER_CTX_new()) != NULL &&
		  derive_kek(mc, &r->ka, z, cv->field_len, kek) && unwrap(cc, r, kek, cek) &&
		  gcm_open(cc, cek, &m, out);
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(cek, sizeof(cek));
	EVP_MD_CTX_free(mc);
	EVP_CIPHER_CTX_free(cc);
	ERR_pop_to_mark();
	return ok ? 1 : 0;
}

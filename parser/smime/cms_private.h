/* telemail — internal to the CMS module (cms*.c):
 * the opaque handles of telemail/smime.h and a few shared helpers.
 * Only the module's files include it: it is the one place OpenSSL types live. */
#ifndef TM_PARSER_CMS_INT_H
#define TM_PARSER_CMS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <telemail/buf.h>

struct tm_error;

/* Configuration-side caps (files the operator gives, not network input). */
#define TM_CMS_MAX_CHAIN 8      /* intermediate certificates of one identity */
#define TM_CMS_MAX_KEYS 16      /* keyring entries and recipient certificates */
#define TM_CMS_MAX_ANCHORS 64   /* CA certificates in the trust file */
#define TM_CMS_MAX_CRLS 64      /* CRLs in the CRL file */

struct tm_identity {
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;  /* may be empty, never NULL */
};

struct tm_certlist {
	STACK_OF(X509) *certs;
};

struct tm_keyring_entry {
	X509 *cert;
	EVP_PKEY *key;
};

struct tm_keyring {
	struct tm_keyring_entry items[TM_CMS_MAX_KEYS];
	size_t n;
};

struct tm_cms_certcache;
struct tm_cms_chainmemo;

struct tm_trust {
	X509_STORE *store;      /* read-only after load: shared by worker threads */
	bool check_crl;
	struct tm_cms_certcache *certs; /* parsed signer certificates (own lock) */
	struct tm_cms_chainmemo *chains; /* chain verdicts at signing times, remembered (own lock) */
	struct tm_cms_chainmemo *crl_chains; /* revocation verdicts at arrival times (check_crl) */
};

/* One BER/DER element as found by tm_cms_tlv_read. */
struct tm_cms_tlv {
	const uint8_t *start;   /* first header octet */
	const uint8_t *content; /* first content octet */
	size_t clen;            /* content octets (without the EOC of an indefinite form) */
	size_t total;           /* the whole element */
	int tag;
	int cls;
	bool constructed;
	bool indefinite;
};

/* The element at p (not beyond end); offsets in errors count from base;
 * depth bounds the walk into indefinite-length children (smime.malformed). */
int tm_cms_tlv_read(const uint8_t *p, const uint8_t *end, const uint8_t *base, unsigned depth,
		    struct tm_cms_tlv *t, struct tm_error *err);
bool tm_cms_tlv_universal(const struct tm_cms_tlv *t, int tag);
bool tm_cms_tlv_context(const struct tm_cms_tlv *t, int tag);

/* What the walk over an envelope found (cms_decrypt.c): the facts the
 * algorithm checks need and, for the fast path, where the fields are. */
#define TM_CMS_ENV_FIELDS 8
struct tm_cms_envelope {
	int type_nid;          /* NID_id_smime_ct_authEnvelopedData or NID_pkcs7_enveloped */
	int cipher_nid;
	char cipher_text[80];  /* the algorithm's name or OID */
	bool has_content;      /* encryptedContent present */
	bool has_mac;
	size_t mac_len;
	bool bare;             /* the ContentInfo holds exactly { contentType, [0] { envelope } } */
	size_t nfields;        /* elements of the (Auth)EnvelopedData SEQUENCE, in order */
	struct tm_cms_tlv fields[TM_CMS_ENV_FIELDS]; /* the first TM_CMS_ENV_FIELDS of them */
};

/* ContentInfo → [0] → (Auth)EnvelopedData: the type, the cipher, the tag,
 * the fields (smime.malformed, smime.not_encrypted). */
int tm_cms_walk_envelope(const uint8_t *der, size_t len, struct tm_cms_envelope *env,
			 struct tm_error *err);

/* The fast path of decryption (cms_kari.c): AuthEnvelopedData, AES-256-GCM,
 * one or more ECDH KeyAgreeRecipientInfos (RFC 5753, stdDH, X9.63 KDF,
 * AES key wrap) on a prime-order NIST curve, decrypted with EVP primitives.
 * Only a keyring entry whose certificate a RecipientEncryptedKey names is
 * tried. Returns 1 with the plaintext appended to out when it decrypted and
 * the GCM tag verified; 0 ("not done") for anything else (another shape,
 * not ours, any failure), leaving out, the OpenSSL error queue and every
 * verdict to the general path. Thread-safe with a shared keyring. */
int tm_cms_kari_open(const struct tm_keyring *kr, const struct tm_cms_envelope *env,
		     struct tm_buf *out);
/* The same from the DER (walks the envelope first, cms_decrypt.c): for tests. */
int tm_cms_kari_decrypt(const struct tm_keyring *kr, const uint8_t *der, size_t len,
			struct tm_buf *out);

/* Parsed certificates by their exact DER (cms_certcache.c). OpenSSL 3.0
 * spends more on decoding a certificate's public key than on verifying a
 * signature with it; a gateway sees the same device certificates again and
 * again, so it decodes each once. Bounded: TM_CMS_CERTCACHE_SLOTS entries,
 * direct-mapped, thread-safe. */
#define TM_CMS_CERTCACHE_SLOTS 256
struct tm_cms_certcache *tm_cms_certcache_new(void);
void tm_cms_certcache_free(struct tm_cms_certcache *c);
/* A DER ContentInfo holding SignedData, parsed with its certificates taken
 * from the cache: the certificates field is cut out of the bytes OpenSSL
 * parses, and the cached (or newly parsed) certificates are added back to
 * the structure. NULL when this does not apply (BER lengths, another shape,
 * anything odd): the caller parses the bytes as they are, which also gives
 * the precise error. */
CMS_ContentInfo *tm_cms_certcache_d2i(struct tm_cms_certcache *c, const uint8_t *der,
				      size_t len);
void tm_cms_certcache_stats(struct tm_cms_certcache *c, uint64_t *hits, uint64_t *misses);
/* The slot a certificate's DER takes (two certificates in one slot take
 * turns: tests work out the hits they expect with it). */
size_t tm_cms_certcache_slot(const uint8_t *der, size_t len);

/* What the verifier reports of a signer certificate, worked out once when
 * the cache parses it (the certificate's ex_data; freed with it). */
struct tm_cms_cert_facts {
	char fingerprint[65];
	char subject[256];
	char serial[65];       /* "" when the subject's serialNumber is unusable */
	uint8_t *der;
	size_t der_len;
};
/* The facts of a certificate that came from the cache, or NULL. */
const struct tm_cms_cert_facts *tm_cms_cert_facts_get0(const X509 *x);

/* Chain verdicts, remembered (cms_chainmemo.c). A successful
 * X509_verify_cert of a signer and the certificates of its message, all
 * shared objects of the certificate cache, is remembered together with the
 * interval of verification times in which every validity comparison OpenSSL
 * could make (the store's certificates and CRLs, the message's
 * certificates) comes out the same; inside it the verdict is the same as a
 * fresh verification. Made after the store is loaded (it reads the store's
 * validity times once; the store must not change afterwards). Bounded:
 * direct-mapped, thread-safe. NULL when out of memory. */
struct tm_cms_chainmemo *tm_cms_chainmemo_new(X509_STORE *store);
void tm_cms_chainmemo_free(struct tm_cms_chainmemo *m);
/* Did this signer with these certificates verify, for a time that stands
 * for `at`? (false for NULL m or anything not remembered) */
bool tm_cms_chainmemo_hit(struct tm_cms_chainmemo *m, X509 *signer, STACK_OF(X509) *certs,
			  int64_t at);
/* Remember that they verified at `at` (call only after a success). */
void tm_cms_chainmemo_put(struct tm_cms_chainmemo *m, X509 *signer, STACK_OF(X509) *certs,
			  int64_t at);
void tm_cms_chainmemo_stats(struct tm_cms_chainmemo *m, uint64_t *hits, uint64_t *misses);
/* The slot a signer's verdict takes (direct-mapped by the object's
 * address: two signers may share one, the later replaces the earlier). */
size_t tm_cms_chainmemo_slot(const X509 *signer);

/* Text of the most recent OpenSSL error ("no detail" when the queue is
 * empty) into buf. Does not clear the queue. */
void tm_cms_ossl_reason(char *buf, size_t n);

/* Load all certificates of a PEM file (at least one, at most max). */
int tm_cms_read_certs(const char *path, size_t max, STACK_OF(X509) **out, struct tm_error *err);

/* Drain a memory BIO into a buffer. */
int tm_cms_bio_to_buf(BIO *b, struct tm_buf *out, struct tm_error *err);

/* SHA-256 fingerprint (lower-case hex) and RFC 2253 subject of a certificate
 * (cms_cert.c). */
int tm_cms_cert_ids(X509 *x, char fingerprint[65], char *subject, size_t subject_len,
		    struct tm_error *err);

/* The subject's single serialNumber attribute, 1..64 printable ASCII
 * characters (smime.signer_no_serial otherwise). out has room for 65. */
int tm_cms_subject_serial(X509 *x, char *out, struct tm_error *err);

#endif

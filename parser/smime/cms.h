/* telemail — internal: CMS (RFC 5652) operations with OpenSSL 3.
 * OpenSSL's headers stay inside parser/smime/ (the cms_*.c files, cert_info.c);
 * what crosses this header is bytes in buffers and project structs. */
#ifndef TM_PARSER_CMS_H
#define TM_PARSER_CMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>
#include <telemail/smime.h>

struct tm_error;

struct tm_signer_info {
	char fingerprint[65];
	char serial[65];
	char subject[256];
	int64_t signing_time;     /* INT64_MIN when absent */
	struct tm_buf der;        /* signer certificate DER (caller inits and finis) */
};

/* SignedData over `data`, SHA-256, signed attributes with signing time,
 * signer certificate included. detached: no eContent. DER out. */
int tm_cms_sign(const struct tm_identity *id, const uint8_t *data, size_t len, bool detached,
		struct tm_buf *der, struct tm_error *err);

/* AuthEnvelopedData, AES-256-GCM, one RecipientInfo per certificate
 * (ECDH for EC keys, RSA-OAEP for RSA keys). DER out. */
int tm_cms_encrypt(const struct tm_certlist *to, const uint8_t *data, size_t len,
		   struct tm_buf *der, struct tm_error *err);

/* Decrypt AuthEnvelopedData (or EnvelopedData AES-CBC when allow_cbc),
 * trying each key of the ring, always passing its certificate. A GCM tag
 * must be full length (16 octets). */
int tm_cms_decrypt(const struct tm_keyring *kr, const uint8_t *der, size_t len, bool allow_cbc,
		   struct tm_buf *out, bool *was_cbc, struct tm_error *err);

/* Verify SignedData: exactly one signer, SHA-2 digests, signed attributes
 * with a signing time, chain to the trust anchors, keyUsage
 * digitalSignature (when the extension is present), extendedKeyUsage
 * emailProtection, validity at the signing time, revocation (CRLs when
 * configured) at `now`. now is the arrival time (0: the clock): a signing
 * time more than 5 minutes after it, or more than max_age seconds before it
 * (0: TM_SMIME_DEFAULT_MAX_AGE), is refused. detached != NULL: SignedData
 * without eContent over those bytes. content_out gets the signed content. */
int tm_cms_verify(const struct tm_trust *t, const uint8_t *der, size_t len,
		  const uint8_t *detached, size_t dlen, int64_t now, int64_t max_age,
		  struct tm_buf *content_out, struct tm_signer_info *signer,
		  struct tm_error *err);

#endif

/* telemail — S/MIME seal (sign, then encrypt) and open (decrypt, then verify).
 *
 * Wire contract v1 (README, "The wire contract (v1)"; docs/architecture.md):
 *   RFC 5322 message → application/pkcs7-mime; smime-type=authEnveloped-data
 *   (CMS AuthEnvelopedData, AES-256-GCM) → signed entity (opaque
 *   application/pkcs7-mime; smime-type=signed-data, or multipart/signed with a
 *   detached application/pkcs7-signature) → application/yaml (RFC 9512).
 *
 * OpenSSL types stay in parser/smime/cms.c, GMime types in parser/smime/mime.c; this
 * header only has opaque handles. */
#ifndef TELEMAIL_SMIME_H
#define TELEMAIL_SMIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>

struct tm_error;

/* A signer: certificate + private key (+ optional intermediate chain), PEM files. */
struct tm_identity;
int tm_identity_load(const char *cert_file, const char *key_file, const char *chain_file,
		     struct tm_identity **out, struct tm_error *err);
void tm_identity_free(struct tm_identity *id);

/* Recipient certificates to encrypt to (several: key rotation). */
struct tm_certlist;
struct tm_certlist *tm_certlist_new(void);
int tm_certlist_add_file(struct tm_certlist *cl, const char *pem_file, struct tm_error *err);
size_t tm_certlist_count(const struct tm_certlist *cl);
void tm_certlist_free(struct tm_certlist *cl);

/* Decryption keys (certificate + key pairs; old and new both open). */
struct tm_keyring;
struct tm_keyring *tm_keyring_new(void);
int tm_keyring_add_files(struct tm_keyring *kr, const char *cert_file, const char *key_file,
			 struct tm_error *err);
size_t tm_keyring_count(const struct tm_keyring *kr);
void tm_keyring_free(struct tm_keyring *kr);

/* Trust anchors for signer verification: CA certificates (PEM, one file with
 * one or more), optional CRL file (PEM; when given, revocation is checked for
 * the whole chain). */
struct tm_trust;
int tm_trust_load(const char *ca_file, const char *crl_file, struct tm_trust **out,
		  struct tm_error *err);
void tm_trust_free(struct tm_trust *t);

/* What enrollment needs to know of a certificate file (the first certificate
 * of a PEM file): SHA-256 fingerprint of the DER (lower-case hex), subject
 * serialNumber ("" when the subject has none), RFC 2253 subject, validity. */
struct tm_cert_info {
	char fingerprint[65];
	char serial[65];
	char subject[256];
	int64_t not_before;
	int64_t not_after;
};
int tm_cert_info_file(const char *pem_file, struct tm_cert_info *out, struct tm_error *err);

struct tm_seal_opts {
	const struct tm_identity *signer;
	const struct tm_certlist *recipients;
	bool detached;           /* multipart/signed instead of opaque signed-data */
	const char *from;        /* device mailbox, addr-spec */
	const char *to;          /* gateway mailbox, addr-spec */
	const char *message_id;  /* "<…@…>"; NULL: generated from random bytes and the From domain */
	int64_t date;            /* Unix seconds; 0: now */
};

/* Seal a report (YAML bytes) into a whole RFC 5322 message with CRLF line
 * ends, appended to out. */
int tm_smime_seal(const struct tm_seal_opts *o, const uint8_t *yaml, size_t len,
		  struct tm_buf *out, struct tm_error *err);

/* MIME limits applied while opening. */
struct tm_mime_limits {
	size_t max_bytes;        /* whole message             (mime.too_large)       */
	size_t max_headers;      /* header fields per entity  (mime.too_many_headers) */
	size_t max_line;         /* octets in one line, CRLF excluded (mime.line_too_long) */
	unsigned max_depth;      /* entity nesting            (mime.too_deep)        */
	size_t max_parts;        /* entities in the whole tree (mime.too_many_parts) */
};
/* 1 MiB, 100 headers, 998 octets, depth 8, 32 parts. */
extern const struct tm_mime_limits TM_MIME_DEFAULT_LIMITS;

struct tm_open_opts {
	const struct tm_keyring *keys;
	const struct tm_trust *trust;
	bool allow_cbc;          /* accept enveloped-data AES-CBC from older senders (default off) */
	const struct tm_mime_limits *limits; /* NULL: TM_MIME_DEFAULT_LIMITS */
	int64_t now;             /* the message's arrival, Unix seconds; 0: the clock. The
				    signing time (required) must lie in [now - max_age,
				    now + 5 min]; validity dates are compared at the
				    signing time, CRLs are applied at now. */
	int64_t max_age;         /* seconds; 0: TM_SMIME_DEFAULT_MAX_AGE (smime.signing_time_old) */
};
#define TM_SMIME_DEFAULT_MAX_AGE ((int64_t)30 * 86400)

struct tm_opened {
	struct tm_buf content;   /* the application/yaml body, decoded */
	char fingerprint[65];    /* SHA-256 of the signer certificate DER, lower-case hex */
	char serial[65];         /* the signer subject's serialNumber attribute */
	char subject[256];       /* signer subject, one line (RFC 2253) */
	char message_id[256];    /* Message-ID header without <>; "" when absent */
	int64_t signing_time;    /* signed attribute, Unix seconds; INT64_MIN until verified */
	bool detached;           /* the signature was multipart/signed */
	bool cbc;                /* the envelope was enveloped-data AES-CBC */
	struct tm_buf signer_der;/* the signer certificate, DER */
};
void tm_opened_init(struct tm_opened *o);
void tm_opened_fini(struct tm_opened *o);

/* Open a whole RFC 5322 message (CRLF or LF line ends). On failure, what was
 * learned before the failing step stays filled in for logs and quarantine:
 * message_id once the message parsed, fingerprint/serial/subject once the
 * signature verified; content and signer_der only on success. */
int tm_smime_open(const struct tm_open_opts *o, const uint8_t *raw, size_t len,
		  struct tm_opened *out, struct tm_error *err);

#endif

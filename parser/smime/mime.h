/* telemail — internal: MIME (RFC 2045-2049, RFC 5322, RFC 8551 framing) with GMime 3.
 * Only mime.c includes GMime/GLib headers; bytes cross as buffers. */
#ifndef TM_PARSER_MIME_H
#define TM_PARSER_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>
#include <telemail/smime.h>

struct tm_error;

enum tm_mime_kind {
	TM_MIME_PKCS7,            /* application/pkcs7-mime (or x-pkcs7-mime) */
	TM_MIME_MULTIPART_SIGNED, /* multipart/signed; protocol=application/pkcs7-signature */
	TM_MIME_LEAF,             /* any other single part */
	TM_MIME_MULTIPART_OTHER,  /* any other multipart */
};

struct tm_mime_entity {
	enum tm_mime_kind kind;
	char content_type[128];   /* "type/subtype", lower-case */
	char smime_type[32];      /* PKCS7: smime-type parameter, lower-case ("" when absent) */
	char message_id[256];     /* top-level Message-ID without <>, "" when absent */
	struct tm_buf body;       /* PKCS7: DER; LEAF: decoded body; others: empty */
	struct tm_buf signed_part;/* MULTIPART_SIGNED: the first part, canonical CRLF, as signed */
	struct tm_buf signature;  /* MULTIPART_SIGNED: decoded application/pkcs7-signature DER */
};

void tm_mime_entity_init(struct tm_mime_entity *e);
void tm_mime_entity_fini(struct tm_mime_entity *e);

/* Parse a whole message (is_message) or a bare MIME entity (after decrypting
 * or verifying), enforcing the limits; classify the top-level entity. */
int tm_mime_parse(const uint8_t *raw, size_t len, bool is_message,
		  const struct tm_mime_limits *lim, struct tm_mime_entity *out,
		  struct tm_error *err);

/* Builders. Every output uses CRLF line ends. */
/* A leaf entity: "Content-Type: <type>" + base64 body. */
int tm_mime_build_leaf(const char *content_type, const uint8_t *body, size_t len,
		       struct tm_buf *out, struct tm_error *err);
/* An application/pkcs7-mime entity with the smime-type, base64 body, name=smime.p7m. */
int tm_mime_build_pkcs7(const char *smime_type, const uint8_t *der, size_t len,
			struct tm_buf *out, struct tm_error *err);
/* multipart/signed (protocol application/pkcs7-signature, micalg sha-256)
 * of a canonical entity and its detached signature. */
int tm_mime_build_signed(const uint8_t *entity, size_t elen, const uint8_t *sig_der,
			 size_t slen, struct tm_buf *out, struct tm_error *err);

struct tm_mime_envelope {
	const char *from;
	const char *to;
	const char *message_id;   /* with <> */
	int64_t date;             /* Unix seconds */
	const char *subject;      /* carries nothing about the device data */
};
/* A whole RFC 5322 message: envelope headers + MIME-Version + the entity. */
int tm_mime_build_message(const struct tm_mime_envelope *env, const uint8_t *entity,
			  size_t elen, struct tm_buf *out, struct tm_error *err);

#endif

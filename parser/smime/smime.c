/* telemail — S/MIME seal (sign, then encrypt) and open (decrypt, then
 * verify): the orchestration of the MIME layer (mime.c, GMime) and the CMS
 * layer (cms*.c, OpenSSL). No library types here, only buffers.
 *
 *   message ─ application/pkcs7-mime; smime-type=authEnveloped-data
 *     └ (decrypt) application/pkcs7-mime; smime-type=signed-data   (opaque)
 *               or multipart/signed; protocol=application/pkcs7-signature
 *         └ (verify) application/yaml                              (the report) */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "smime/cms.h"
#include "smime/mime.h"

/* Fixed: the Subject carries nothing about the device or its data. */
#define TM_SMIME_SUBJECT "telemail report"
#define TM_MSGID_RANDOM 16  /* octets of randomness in a generated Message-ID */
#define TM_DOMAIN_MAX 200

void tm_opened_init(struct tm_opened *o)
{
	memset(o, 0, sizeof(*o));
	tm_buf_init(&o->content);
	tm_buf_init(&o->signer_der);
	o->signing_time = INT64_MIN;
}

void tm_opened_fini(struct tm_opened *o)
{
	if (o == NULL)
		return;
	tm_buf_fini(&o->content);
	tm_buf_fini(&o->signer_der);
	tm_opened_init(o);
}

/* "<32 hex digits@domain of From>" */
static int make_message_id(const char *from, char *out, size_t n, struct tm_error *err)
{
	const char *at = strrchr(from, '@');
	if (at == NULL || at[1] == '\0')
		return tm_error_set(err, "mime.bad_header",
				    "From '%s' has no domain to make a Message-ID with", from);
	const char *dom = at + 1;
	size_t dlen = strcspn(dom, ">");
	if (dlen == 0 || dlen > TM_DOMAIN_MAX)
		return tm_error_set(err, "mime.bad_header", "From '%s': bad domain length", from);
	for (size_t i = 0; i < dlen; i++) {
		char c = dom[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return tm_error_set(err, "mime.bad_header",
					    "From '%s': the domain has character 0x%02x", from,
					    (unsigned char)c);
	}
	uint8_t rnd[TM_MSGID_RANDOM];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return tm_error_set(err, "internal.library", "getrandom failed for a Message-ID");
	char hex[2 * TM_MSGID_RANDOM + 1];
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	int w = snprintf(out, n, "<%s@%.*s>", hex, (int)dlen, dom);
	if (w < 0 || (size_t)w >= n)
		return tm_error_set(err, "internal.bug", "Message-ID too long");
	return 0;
}

int tm_smime_seal(const struct tm_seal_opts *o, const uint8_t *yaml, size_t len,
		  struct tm_buf *out, struct tm_error *err)
{
	int rc = -1;
	struct tm_buf leaf, sig, entity, env, body;
	char msgid[TM_DOMAIN_MAX + 2 * TM_MSGID_RANDOM + 8];
	tm_buf_init(&leaf);
	tm_buf_init(&sig);
	tm_buf_init(&entity);
	tm_buf_init(&env);
	tm_buf_init(&body);
	if (o == NULL || o->signer == NULL || o->recipients == NULL || o->from == NULL ||
	    o->to == NULL || (yaml == NULL && len > 0) || out == NULL) {
		tm_error_set(err, "internal.bug",
			     "tm_smime_seal: signer, recipients, from and to are required");
		goto out;
	}
	if (tm_mime_build_leaf("application/yaml", yaml, len, &leaf, err) < 0)
		goto out;
	if (!o->detached) {
		if (tm_cms_sign(o->signer, leaf.data, leaf.len, false, &sig, err) < 0 ||
		    tm_mime_build_pkcs7("signed-data", sig.data, sig.len, &entity, err) < 0)
			goto out;
	} else {
		if (tm_cms_sign(o->signer, leaf.data, leaf.len, true, &sig, err) < 0 ||
		    tm_mime_build_signed(leaf.data, leaf.len, sig.data, sig.len, &entity, err) < 0)
			goto out;
	}
	if (tm_cms_encrypt(o->recipients, entity.data, entity.len, &env, err) < 0 ||
	    tm_mime_build_pkcs7("authEnveloped-data", env.data, env.len, &body, err) < 0)
		goto out;
	const char *mid = o->message_id;
	if (mid == NULL) {
		if (make_message_id(o->from, msgid, sizeof(msgid), err) < 0)
			goto out;
		mid = msgid;
	}
	struct tm_mime_envelope envl = {
		.from = o->from,
		.to = o->to,
		.message_id = mid,
		.date = o->date != 0 ? o->date : (int64_t)time(NULL),
		.subject = TM_SMIME_SUBJECT,
	};
	if (tm_mime_build_message(&envl, body.data, body.len, out, err) < 0)
		goto out;
	rc = 0;
out:
	tm_buf_fini(&leaf);
	tm_buf_fini(&sig);
	tm_buf_fini(&entity);
	tm_buf_fini(&env);
	tm_buf_fini(&body);
	return rc;
}

static bool is_yaml_type(const char *ct)
{
	/* RFC 9512; the x- and text/ forms from older senders */
	return strcmp(ct, "application/yaml") == 0 || strcmp(ct, "application/x-yaml") == 0 ||
	       strcmp(ct, "text/yaml") == 0;
}

static const char *kind_name(const struct tm_mime_entity *e)
{
	return e->content_type[0] != '\0' ? e->content_type : "a bare entity";
}

int tm_smime_open(const struct tm_open_opts *o, const uint8_t *raw, size_t len,
		  struct tm_opened *out, struct tm_error *err)
{
	int rc = -1;
	struct tm_mime_entity outer, inner, leaf;
	struct tm_buf plain, content;
	struct tm_signer_info si;
	bool cbc = false, detached = false;
	tm_mime_entity_init(&outer);
	tm_mime_entity_init(&inner);
	tm_mime_entity_init(&leaf);
	tm_buf_init(&plain);
	tm_buf_init(&content);
	memset(&si, 0, sizeof(si));
	tm_buf_init(&si.der);
	si.signing_time = INT64_MIN;
	if (o == NULL || o->keys == NULL || o->trust == NULL || out == NULL ||
	    (raw == NULL && len > 0)) {
		tm_error_set(err, "internal.bug", "tm_smime_open: keys and trust are required");
		goto out;
	}
	const struct tm_mime_limits *lim = o->limits ? o->limits : &TM_MIME_DEFAULT_LIMITS;

	/* 1. the envelope */
	if (tm_mime_parse(raw, len, true, lim, &outer, err) < 0)
		goto out;
	/* known from here on, also when a later step fails (logs, quarantine) */
	memcpy(out->message_id, outer.message_id, sizeof(out->message_id));
	if (outer.kind != TM_MIME_PKCS7) {
		tm_error_set(err, "smime.not_encrypted",
			     "the message is %s, not application/pkcs7-mime enveloped data",
			     kind_name(&outer));
		goto out;
	}
	/* An absent smime-type is left to the CMS content type to decide. */
	if (outer.smime_type[0] != '\0' && strcmp(outer.smime_type, "authenveloped-data") != 0 &&
	    strcmp(outer.smime_type, "enveloped-data") != 0) {
		tm_error_set(err, "smime.not_encrypted",
			     "the message is application/pkcs7-mime with smime-type=%s, not "
			     "authEnveloped-data",
			     outer.smime_type);
		goto out;
	}
	if (tm_cms_decrypt(o->keys, outer.body.data, outer.body.len, o->allow_cbc, &plain, &cbc,
			   err) < 0)
		goto out;

	/* 2. the signature */
	if (tm_mime_parse(plain.data, plain.len, false, lim, &inner, err) < 0) {
		tm_error_prefix(err, "decrypted content");
		goto out;
	}
	if (inner.kind == TM_MIME_PKCS7 &&
	    (inner.smime_type[0] == '\0' || strcmp(inner.smime_type, "signed-data") == 0)) {
		if (tm_cms_verify(o->trust, inner.body.data, inner.body.len, NULL, 0, o->now,
				  o->max_age, &content, &si, err) < 0)
			goto out;
	} else if (inner.kind == TM_MIME_MULTIPART_SIGNED) {
		if (tm_cms_verify(o->trust, inner.signature.data, inner.signature.len,
				  inner.signed_part.data, inner.signed_part.len, o->now,
				  o->max_age, &content, &si, err) < 0)
			goto out;
		detached = true;
	} else {
		tm_error_set(err, "smime.not_signed",
			     "the decrypted content is %s%s%s, not signed-data or multipart/signed",
			     kind_name(&inner), inner.smime_type[0] ? "; smime-type=" : "",
			     inner.smime_type);
		goto out;
	}

	/* the signer is known (and verified) from here on */
	memcpy(out->fingerprint, si.fingerprint, sizeof(out->fingerprint));
	memcpy(out->serial, si.serial, sizeof(out->serial));
	memcpy(out->subject, si.subject, sizeof(out->subject));

	/* 3. the report */
	if (tm_mime_parse(content.data, content.len, false, lim, &leaf, err) < 0) {
		tm_error_prefix(err, "signed content");
		goto out;
	}
	if (leaf.kind != TM_MIME_LEAF || !is_yaml_type(leaf.content_type)) {
		tm_error_set(err, "smime.content_type",
			     "the signed content is %s, not application/yaml", kind_name(&leaf));
		goto out;
	}

	tm_buf_fini(&out->content);
	tm_buf_fini(&out->signer_der);
	out->content = leaf.body;
	tm_buf_init(&leaf.body);
	out->signer_der = si.der;
	tm_buf_init(&si.der);
	out->signing_time = si.signing_time;
	out->detached = detached;
	out->cbc = cbc;
	rc = 0;
out:
	tm_mime_entity_fini(&outer);
	tm_mime_entity_fini(&inner);
	tm_mime_entity_fini(&leaf);
	tm_buf_fini(&plain);
	tm_buf_fini(&content);
	tm_buf_fini(&si.der);
	return rc;
}

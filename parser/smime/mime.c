/* telemail — MIME parsing and classification with GMime 3 (RFC 2045-2049,
 * RFC 5322, RFC 1847 / RFC 8551 framing). The builders are in mime_build.c,
 * the checks on raw bytes in mime_scan.c.
 *
 * How a message is read:
 *  1. tm_mime_prescan (mime_scan.c) refuses oversized input, over-long
 *     lines, NUL bytes and nesting/part/header bombs on the raw bytes, in
 *     one iterative pass, before GMime's recursive parser sees them.
 *  2. GMime parses the bytes in place (a memory stream over the caller's
 *     buffer, no copy) with per-call parser options, so concurrent calls
 *     from several threads share no mutable state. A parser warning that
 *     means the structure is ambiguous or broken (conflicting Content-*
 *     fields or parameters, a multipart without boundary or without its
 *     closing delimiter, a truncated message, an invalid Content-Type or
 *     header name) is mime.malformed: two readers could disagree on such
 *     a message, so it is not read at all.
 *  3. The tree is walked with the same limits (depth, parts, headers).
 *  4. The top-level entity is classified and its body decoded; base64 and
 *     quoted-printable are validated strictly first (GMime's decoders skip
 *     invalid characters silently).
 *
 * What GMime 3.2 tolerates and what we do (test/test_mime.c checks each):
 *  - no closing delimiter: GMime reads to the end of input, warns
 *    TRUNCATED_MESSAGE → mime.malformed (the message may have been cut);
 *  - a header block not ended by an empty line (no body): TRUNCATED → malformed;
 *    headers, empty line, nothing: an empty text/plain leaf (accepted);
 *  - multipart without boundary parameter: GMime builds an empty multipart
 *    and warns → malformed; a multipart with no parts → malformed;
 *  - a second Content-Type, Subject, Message-ID ... (CONFLICTING_HEADER) or
 *    a second boundary parameter with another value → malformed; repeated
 *    Received: fields are normal and accepted;
 *  - a line in a header block that is not a field ("just text", "From "
 *    mbox lines, "Bad Header: x") → malformed;
 *  - unencoded 8-bit bytes in headers, bad RFC 2047 words, address syntax:
 *    tolerated (nothing here depends on them);
 *  - base64 with invalid characters or padding: GMime skips them silently →
 *    we validate first (mime.bad_encoding), quoted-printable likewise; an
 *    unknown Content-Transfer-Encoding (GMime: "default", raw) and uuencode
 *    are mime.bad_encoding for a body we decode.
 *
 * Counting: the top-level entity is depth 1; each multipart child and the
 * inner message of a message/... part is one deeper. Parts are the entities
 * below the top-level one, so a multipart with 32 body parts is 32 parts.
 *
 * The caller's entity must have been initialized (tm_mime_entity_init); on
 * error it is left empty. */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gmime/gmime.h>

#include <telemail/error.h>

#include "smime/mime.h"
#include "smime/mime_scan.h"

/* 1 MiB, 100 headers, 998 octets, depth 8, 32 parts. */
const struct tm_mime_limits TM_MIME_DEFAULT_LIMITS = {
	.max_bytes = 1024 * 1024,
	.max_headers = 100,
	.max_line = 998,
	.max_depth = 8,
	.max_parts = 32,
};

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
	g_mime_init();
}

void tm_mime_entity_init(struct tm_mime_entity *e)
{
	e->kind = TM_MIME_LEAF;
	e->content_type[0] = '\0';
	e->smime_type[0] = '\0';
	e->message_id[0] = '\0';
	tm_buf_init(&e->body);
	tm_buf_init(&e->signed_part);
	tm_buf_init(&e->signature);
}

void tm_mime_entity_fini(struct tm_mime_entity *e)
{
	if (e == NULL)
		return;
	tm_buf_fini(&e->body);
	tm_buf_fini(&e->signed_part);
	tm_buf_fini(&e->signature);
	tm_mime_entity_init(e);
}

/* ---- parser warnings ---- */

struct parse_ctx {
	const struct tm_mime_limits *lim;
	size_t parts;
	bool warned;               /* the first fatal warning only */
	GMimeParserWarning code;
	gint64 offset;
	char item[64];
};

static const char *warning_text(GMimeParserWarning code, bool *fatal)
{
	*fatal = true;
	switch (code) {
	case GMIME_WARN_INVALID_CONTENT_TYPE: return "invalid Content-Type";
	case GMIME_WARN_MALFORMED_MULTIPART: return "multipart without its closing delimiter";
	case GMIME_WARN_TRUNCATED_MESSAGE:
		return "truncated (the input ends inside a header block or before a multipart's closing delimiter)";
	case GMIME_WARN_MALFORMED_MESSAGE: return "malformed message";
	case GMIME_CRIT_INVALID_HEADER_NAME: return "invalid header field name";
	case GMIME_CRIT_CONFLICTING_HEADER: return "conflicting header fields";
	case GMIME_CRIT_CONFLICTING_PARAMETER: return "conflicting parameters";
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: return "multipart without boundary parameter";
	case GMIME_CRIT_NESTING_OVERFLOW: return "nesting overflow";
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: return "part without headers or content";
	default:
		/* duplicated headers or parameters with equal values, 8-bit or bad
		 * RFC 2047 words, address syntax, an empty part: readable as is */
		*fatal = false;
		return "warning";
	}
}

static void on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer user)
{
	struct parse_ctx *c = user;
	bool fatal;
	warning_text(code, &fatal);
	if (!fatal || c->warned)
		return;
	c->warned = true;
	c->code = code;
	c->offset = offset;
	snprintf(c->item, sizeof(c->item), "%s", item ? item : "");
	/* keep the message one printable line */
	size_t n = strlen(c->item);
	while (n > 0 && ((unsigned char)c->item[n - 1] <= ' '))
		c->item[--n] = '\0';
	for (char *p = c->item; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/* ---- walking the tree with the limits ---- */

static int check_headers(struct parse_ctx *c, GMimeObject *obj, unsigned depth,
			 struct tm_error *err)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;
	if (n > 0 && (size_t)n > c->lim->max_headers)
		return tm_error_set(err, "mime.too_many_headers",
				    "entity at depth %u has %d header fields (limit %zu)", depth, n,
				    c->lim->max_headers);
	return 0;
}

static int count_part(struct parse_ctx *c, struct tm_error *err)
{
	if (++c->parts > c->lim->max_parts)
		return tm_error_set(err, "mime.too_many_parts", "more than %zu MIME parts",
				    c->lim->max_parts);
	return 0;
}

/* Recursion is bounded: it stops at depth max_depth + 1. */
static int walk(struct parse_ctx *c, GMimeObject *obj, unsigned depth, struct tm_error *err)
{
	if (depth > c->lim->max_depth)
		return tm_error_set(err, "mime.too_deep", "an entity nests %u deep (limit %u)",
				    depth, c->lim->max_depth);
	if (check_headers(c, obj, depth, err) < 0)
		return -1;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		if (g_mime_multipart_get_boundary(mp) == NULL)
			return tm_error_set(err, "mime.malformed",
					    "multipart at depth %u has no boundary parameter", depth);
		int n = g_mime_multipart_get_count(mp);
		if (n <= 0)
			return tm_error_set(err, "mime.malformed",
					    "multipart at depth %u has no body parts", depth);
		for (int i = 0; i < n; i++) {
			if (count_part(c, err) < 0 ||
			    walk(c, g_mime_multipart_get_part(mp, i), depth + 1, err) < 0)
				return -1;
		}
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		GMimeObject *inner = m ? g_mime_message_get_mime_part(m) : NULL;
		if (inner == NULL)
			return tm_error_set(err, "mime.malformed",
					    "message part at depth %u has no message", depth);
		if (check_headers(c, GMIME_OBJECT(m), depth + 1, err) < 0 ||
		    count_part(c, err) < 0 || walk(c, inner, depth + 1, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- bodies ---- */

static int read_stream(GMimeStream *s, struct tm_buf *out, struct tm_error *err)
{
	char tmp[4096];
	if (g_mime_stream_reset(s) < 0)
		return tm_error_set(err, "internal.library", "MIME body: cannot rewind the stream");
	for (;;) {
		ssize_t n = g_mime_stream_read(s, tmp, sizeof(tmp));
		if (n < 0)
			return tm_error_set(err, "internal.library", "MIME body: read failed");
		if (n == 0)
			break;
		if (tm_buf_append(out, tmp, (size_t)n) < 0)
			return tm_error_set(err, "internal.nomem", "MIME body: out of memory");
	}
	return 0;
}

/* Decode a leaf's body into out (validating base64 / quoted-printable). */
static int decode_part(GMimePart *part, const char *what, struct tm_buf *out,
		       struct tm_error *err)
{
	int rc = -1;
	struct tm_buf enc;
	tm_buf_init(&enc);
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (w == NULL) {
		tm_error_set(err, "mime.malformed", "%s: no body", what);
		goto out;
	}
	GMimeContentEncoding e = g_mime_data_wrapper_get_encoding(w);
	const char *cte = g_mime_object_get_header(GMIME_OBJECT(part), "Content-Transfer-Encoding");
	if (cte != NULL && e == GMIME_CONTENT_ENCODING_DEFAULT) {
		tm_error_set(err, "mime.bad_encoding", "%s: unknown Content-Transfer-Encoding \"%.40s\"",
			     what, cte);
		goto out;
	}
	GMimeStream *s = g_mime_data_wrapper_get_stream(w);
	if (s == NULL) {
		tm_error_set(err, "mime.malformed", "%s: no body", what);
		goto out;
	}
	if (read_stream(s, &enc, err) < 0)
		goto out;
	switch (e) {
	case GMIME_CONTENT_ENCODING_BASE64:
		/* strict check and decode in one pass (GMime's decoder is lenient) */
		if (tm_mime_decode_base64(enc.data, enc.len, out, err) < 0) {
			tm_error_prefix(err, "%s", what);
			goto out;
		}
		break;
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE: {
		if (tm_mime_check_qp(enc.data, enc.len, err) < 0) {
			tm_error_prefix(err, "%s", what);
			goto out;
		}
		GMimeEncoding st;
		g_mime_encoding_init_decode(&st, e);
		size_t cap = g_mime_encoding_outlen(&st, enc.len);
		if (tm_buf_reserve(out, cap) < 0) {
			tm_error_set(err, "internal.nomem", "%s: out of memory", what);
			goto out;
		}
		size_t n = g_mime_encoding_flush(&st, (const char *)enc.data, enc.len,
						 (char *)out->data + out->len);
		out->len += n;
		out->data[out->len] = '\0';
		break;
	}
	case GMIME_CONTENT_ENCODING_UUENCODE:
		tm_error_set(err, "mime.bad_encoding", "%s: uuencode is not supported", what);
		goto out;
	default: /* 7bit, 8bit, binary, none */
		if (tm_buf_append(out, enc.data ? enc.data : (const uint8_t *)"", enc.len) < 0) {
			tm_error_set(err, "internal.nomem", "%s: out of memory", what);
			goto out;
		}
		break;
	}
	rc = 0;
out:
	tm_buf_fini(&enc);
	return rc;
}

/* ---- classification ---- */

static void copy_lower(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src != NULL && src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

static bool ct_is(GMimeObject *obj, const char *type, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	return ct != NULL && g_mime_content_type_is_type(ct, type, subtype);
}

static bool is_pkcs7_signature(GMimeObject *obj)
{
	return ct_is(obj, "application", "pkcs7-signature") ||
	       ct_is(obj, "application", "x-pkcs7-signature");
}

static int classify_signed(GMimeMultipart *mp, const uint8_t *raw, size_t len,
			   struct tm_mime_entity *out, struct tm_error *err)
{
	if (g_mime_multipart_get_count(mp) != 2)
		return tm_error_set(err, "mime.malformed",
				    "multipart/signed has %d body parts, not 2",
				    g_mime_multipart_get_count(mp));
	GMimeObject *sig = g_mime_multipart_get_part(mp, 1);
	if (!GMIME_IS_PART(sig) || !is_pkcs7_signature(sig))
		return tm_error_set(err, "mime.malformed",
				    "multipart/signed: the second part is not application/pkcs7-signature");
	if (decode_part(GMIME_PART(sig), "signature part", &out->signature, err) < 0)
		return -1;
	return tm_mime_first_part(raw, len, g_mime_multipart_get_boundary(mp), &out->signed_part,
				  err);
}

static int classify(GMimeObject *top, const uint8_t *raw, size_t len,
		    struct tm_mime_entity *out, struct tm_error *err)
{
	GMimeContentType *ct = g_mime_object_get_content_type(top);
	char *mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	copy_lower(out->content_type, sizeof(out->content_type), mt ? mt : "text/plain");
	g_free(mt);

	if (GMIME_IS_MULTIPART(top)) {
		char proto[64];
		copy_lower(proto, sizeof(proto), g_mime_object_get_content_type_parameter(top, "protocol"));
		if (ct_is(top, "multipart", "signed") &&
		    (strcmp(proto, "application/pkcs7-signature") == 0 ||
		     strcmp(proto, "application/x-pkcs7-signature") == 0)) {
			out->kind = TM_MIME_MULTIPART_SIGNED;
			return classify_signed(GMIME_MULTIPART(top), raw, len, out, err);
		}
		out->kind = TM_MIME_MULTIPART_OTHER;
		return 0;
	}
	if (!GMIME_IS_PART(top)) {
		/* message/rfc822 and the like: a leaf without a decoded body */
		out->kind = TM_MIME_LEAF;
		return 0;
	}
	if (ct_is(top, "application", "pkcs7-mime") || ct_is(top, "application", "x-pkcs7-mime")) {
		out->kind = TM_MIME_PKCS7;
		copy_lower(out->smime_type, sizeof(out->smime_type),
			   g_mime_object_get_content_type_parameter(top, "smime-type"));
		return decode_part(GMIME_PART(top), "application/pkcs7-mime body", &out->body, err);
	}
	out->kind = TM_MIME_LEAF;
	return decode_part(GMIME_PART(top), "body", &out->body, err);
}

int tm_mime_parse(const uint8_t *raw, size_t len, bool is_message,
		  const struct tm_mime_limits *lim, struct tm_mime_entity *out,
		  struct tm_error *err)
{
	int rc = -1;
	GByteArray *ba = NULL;
	GMimeStream *stream = NULL;
	GMimeParser *parser = NULL;
	GMimeParserOptions *opts = NULL;
	GMimeMessage *msg = NULL;
	GMimeObject *obj = NULL;
	struct parse_ctx c;
	memset(&c, 0, sizeof(c));
	c.lim = lim ? lim : &TM_MIME_DEFAULT_LIMITS;

	tm_mime_entity_fini(out);
	if (len == 0 || raw == NULL)
		return tm_error_set(err, "mime.malformed", "empty %s", is_message ? "message" : "entity");
	if (tm_mime_prescan(raw, len, c.lim, err) < 0)
		return -1;
	if (len > G_MAXUINT)
		return tm_error_set(err, "mime.too_large", "message is %zu octets", len);
	pthread_once(&gmime_once, gmime_init_once);

	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, on_warning, &c);
	/* the stream reads the caller's bytes in place; neither frees them */
	ba = g_byte_array_new_take((guint8 *)(uintptr_t)raw, (gsize)len);
	stream = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);

	GMimeObject *top;
	if (is_message) {
		msg = g_mime_parser_construct_message(parser, opts);
		top = msg ? g_mime_message_get_mime_part(msg) : NULL;
	} else {
		obj = g_mime_parser_construct_part(parser, opts);
		top = obj;
	}
	if (c.warned) {
		bool fatal;
		char where[40] = "";
		if (c.offset >= 0)
			snprintf(where, sizeof(where), "byte %lld: ", (long long)c.offset);
		tm_error_set(err, "mime.malformed", "%s%s%s%s", where, warning_text(c.code, &fatal),
			     c.item[0] ? ": " : "", c.item);
		goto out;
	}
	if (top == NULL) {
		tm_error_set(err, "mime.malformed", "no MIME %s could be parsed (no body?)",
			     is_message ? "message" : "entity");
		goto out;
	}
	if (msg != NULL && check_headers(&c, GMIME_OBJECT(msg), 1, err) < 0)
		goto out;
	if (walk(&c, top, 1, err) < 0)
		goto out;
	if (classify(top, raw, len, out, err) < 0)
		goto out;
	if (msg != NULL) {
		const char *id = g_mime_message_get_message_id(msg);
		snprintf(out->message_id, sizeof(out->message_id), "%s", id ? id : "");
	}
	rc = 0;
out:
	if (rc < 0)
		tm_mime_entity_fini(out);
	if (msg != NULL)
		g_object_unref(msg);
	if (obj != NULL)
		g_object_unref(obj);
	if (parser != NULL)
		g_object_unref(parser);
	if (stream != NULL)
		g_object_unref(stream);
	if (ba != NULL) {
		/* frees the array struct only: the bytes are the caller's */
		guint8 *bytes = g_byte_array_free(ba, FALSE);
		(void)bytes;
	}
	if (opts != NULL)
		g_mime_parser_options_free(opts);
	return rc;
}

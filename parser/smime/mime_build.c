/* telemail — MIME builders: leaf, application/pkcs7-mime, multipart/signed,
 * whole RFC 5322 message. Every output uses CRLF line ends and base64 in
 * 76-column lines, and re-parses with tm_mime_parse.
 *
 * Values that become header text are checked, never escaped: CR, LF or any
 * other control or non-ASCII byte in them is mime.bad_header (no header
 * injection). Entities handed to the builders must already be canonical
 * CRLF text (what is signed is what is sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <telemail/error.h>

#include "smime/mime.h"

#define HEADER_VALUE_MAX 900   /* keeps each written header line under 998 octets */
#define BOUNDARY_PREFIX "=_tm_"

static int check_header_value(const char *what, const char *v, struct tm_error *err)
{
	if (v == NULL || v[0] == '\0')
		return tm_error_set(err, "mime.bad_header", "%s: missing", what);
	size_t n = strlen(v);
	if (n > HEADER_VALUE_MAX)
		return tm_error_set(err, "mime.bad_header", "%s: %zu octets (limit %d)", what, n,
				    HEADER_VALUE_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\r' || c == '\n')
			return tm_error_set(err, "mime.bad_header",
					    "%s: line break at offset %zu (header injection)", what, i);
		if (c < 0x20 || c >= 0x7f)
			return tm_error_set(err, "mime.bad_header",
					    "%s: non-printable byte 0x%02x at offset %zu", what, c, i);
	}
	return 0;
}

static int check_token(const char *what, const char *v, struct tm_error *err)
{
	if (check_header_value(what, v, err) < 0)
		return -1;
	for (const char *p = v; *p; p++)
		if (strchr(" ()<>@,;:\\\"/[]?=", *p) != NULL)
			return tm_error_set(err, "mime.bad_header", "%s: '%c' is not allowed in a token",
					    what, *p);
	return 0;
}

/* The entity must be CRLF text: no bare CR or LF. */
static int check_canonical(const char *what, const uint8_t *p, size_t n, struct tm_error *err)
{
	if (p == NULL || n == 0)
		return tm_error_set(err, "mime.malformed", "%s: empty entity", what);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return tm_error_set(err, "mime.malformed", "%s: bare CR at offset %zu", what, i);
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return tm_error_set(err, "mime.malformed",
					    "%s: bare LF at offset %zu (the entity must be canonical CRLF)",
					    what, i);
	}
	return 0;
}

/* base64 in 76-column CRLF lines, the last line ended by CRLF too.
 * (Written here rather than taken from GMime: the builders are all the
 * agent needs of MIME, and this keeps GLib and GMime out of its process.) */
static int append_base64(struct tm_buf *out, const uint8_t *p, size_t n, struct tm_error *err)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (n == 0)
		return 0;
	if (n > (SIZE_MAX - 80) / 2)
		return tm_error_set(err, "internal.nomem", "base64: input too large");
	size_t chars = (n + 2) / 3 * 4;
	if (tm_buf_reserve(out, chars + (chars / 76 + 1) * 2 + 1) < 0)
		return tm_error_set(err, "internal.nomem", "base64: out of memory");
	size_t col = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = { b64[(v >> 18) & 63], b64[(v >> 12) & 63],
			      i + 1 < n ? b64[(v >> 6) & 63] : '=', i + 2 < n ? b64[v & 63] : '=' };
		memcpy(out->data + out->len, q, 4);
		out->len += 4;
		col += 4;
		if (col == 76) {
			out->data[out->len++] = '\r';
			out->data[out->len++] = '\n';
			col = 0;
		}
	}
	if (col > 0) {
		out->data[out->len++] = '\r';
		out->data[out->len++] = '\n';
	}
	out->data[out->len] = '\0';
	return 0;
}

static int nomem(struct tm_error *err, const char *what)
{
	return tm_error_set(err, "internal.nomem", "%s: out of memory", what);
}

int tm_mime_build_leaf(const char *content_type, const uint8_t *body, size_t len,
		       struct tm_buf *out, struct tm_error *err)
{
	if (check_header_value("Content-Type", content_type, err) < 0)
		return -1;
	if (tm_buf_printf(out, "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n\r\n",
			  content_type) < 0)
		return nomem(err, "leaf entity");
	return append_base64(out, body, len, err);
}

int tm_mime_build_pkcs7(const char *smime_type, const uint8_t *der, size_t len,
			struct tm_buf *out, struct tm_error *err)
{
	if (check_token("smime-type", smime_type, err) < 0)
		return -1;
	if (der == NULL || len == 0)
		return tm_error_set(err, "mime.malformed", "application/pkcs7-mime: empty DER");
	if (tm_buf_printf(out,
			  "Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\r\n"
			  "Content-Transfer-Encoding: base64\r\n"
			  "Content-Disposition: attachment; filename=smime.p7m\r\n"
			  "\r\n",
			  smime_type) < 0)
		return nomem(err, "pkcs7 entity");
	return append_base64(out, der, len, err);
}

/* A boundary from 18 random bytes that does not occur in the entity. */
static int make_boundary(const uint8_t *entity, size_t elen, char *b, size_t size,
			 struct tm_error *err)
{
	static const char hex[] = "0123456789abcdef";
	for (int attempt = 0; attempt < 8; attempt++) {
		unsigned char rnd[18];
		size_t got = 0;
		while (got < sizeof(rnd)) {
			ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
			if (n < 0)
				return tm_error_set(err, "internal.library",
						    "getrandom failed for the MIME boundary");
			got += (size_t)n;
		}
		size_t k = (size_t)snprintf(b, size, "%s", BOUNDARY_PREFIX);
		for (size_t i = 0; i < sizeof(rnd) && k + 2 < size; i++) {
			b[k++] = hex[rnd[i] >> 4];
			b[k++] = hex[rnd[i] & 15];
		}
		b[k] = '\0';
		if (memmem(entity, elen, b, k) == NULL)
			return 0;
	}
	return tm_error_set(err, "internal.bug", "no MIME boundary absent from the entity");
}

int tm_mime_build_signed(const uint8_t *entity, size_t elen, const uint8_t *sig_der,
			 size_t slen, struct tm_buf *out, struct tm_error *err)
{
	char b[64];
	if (check_canonical("signed entity", entity, elen, err) < 0)
		return -1;
	if (sig_der == NULL || slen == 0)
		return tm_error_set(err, "mime.malformed", "multipart/signed: empty signature");
	if (make_boundary(entity, elen, b, sizeof(b), err) < 0)
		return -1;
	if (tm_buf_printf(out,
			  "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
			  " micalg=sha-256; boundary=\"%s\"\r\n"
			  "\r\n"
			  "This is an S/MIME signed message\r\n"
			  "\r\n"
			  "--%s\r\n",
			  b, b) < 0 ||
	    tm_buf_append(out, entity, elen) < 0 ||
	    tm_buf_printf(out,
			  "\r\n--%s\r\n"
			  "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
			  "Content-Transfer-Encoding: base64\r\n"
			  "Content-Disposition: attachment; filename=smime.p7s\r\n"
			  "\r\n",
			  b) < 0)
		return nomem(err, "multipart/signed");
	if (append_base64(out, sig_der, slen, err) < 0)
		return -1;
	if (tm_buf_printf(out, "--%s--\r\n", b) < 0)
		return nomem(err, "multipart/signed");
	return 0;
}

static int format_date(int64_t t, char *buf, size_t size, struct tm_error *err)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt = (time_t)t;
	if (t < 0 || (int64_t)tt != t || gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return tm_error_set(err, "mime.bad_header", "Date: %lld is out of range",
				    (long long)t);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

int tm_mime_build_message(const struct tm_mime_envelope *env, const uint8_t *entity,
			  size_t elen, struct tm_buf *out, struct tm_error *err)
{
	char date[64];
	if (env == NULL)
		return tm_error_set(err, "mime.bad_header", "no envelope");
	if (check_header_value("From", env->from, err) < 0 ||
	    check_header_value("To", env->to, err) < 0 ||
	    check_header_value("Message-ID", env->message_id, err) < 0 ||
	    (env->subject != NULL && env->subject[0] != '\0' &&
	     check_header_value("Subject", env->subject, err) < 0))
		return -1;
	size_t idl = strlen(env->message_id);
	if (idl < 3 || env->message_id[0] != '<' || env->message_id[idl - 1] != '>' ||
	    strpbrk(env->message_id, " \t") != NULL ||
	    memchr(env->message_id + 1, '<', idl - 1) != NULL ||
	    memchr(env->message_id, '>', idl - 1) != NULL)
		return tm_error_set(err, "mime.bad_header",
				    "Message-ID: \"%.80s\" is not of the form <id@domain>",
				    env->message_id);
	if (format_date(env->date, date, sizeof(date), err) < 0)
		return -1;
	if (check_canonical("message entity", entity, elen, err) < 0)
		return -1;
	if (tm_buf_printf(out, "From: %s\r\nTo: %s\r\n", env->from, env->to) < 0 ||
	    (env->subject != NULL && env->subject[0] != '\0' &&
	     tm_buf_printf(out, "Subject: %s\r\n", env->subject) < 0) ||
	    tm_buf_printf(out, "Date: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n", date,
			  env->message_id) < 0 ||
	    tm_buf_append(out, entity, elen) < 0)
		return nomem(err, "message");
	return 0;
}

/* telemail — internal: checks on raw MIME bytes, made before (and besides)
 * GMime. Plain C, no GMime: parser/smime/mime_scan.c.
 *
 * tm_mime_prescan runs before GMime sees the bytes, so that an oversized
 * message, an over-long line, a NUL byte or a nesting bomb is refused
 * without feeding GMime's recursive parser. It follows the entity structure
 * (headers, Content-Type boundaries, message/rfc822 bodies) iteratively,
 * with a stack bounded by the depth limit. */
#ifndef TM_PARSER_MIME_SCAN_H
#define TM_PARSER_MIME_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>
#include <telemail/smime.h>

struct tm_error;

/* mime.too_large, mime.line_too_long, mime.malformed (NUL), mime.too_deep,
 * mime.too_many_parts, mime.too_many_headers; 0 when the bytes may be
 * handed to GMime. */
int tm_mime_prescan(const uint8_t *raw, size_t len, const struct tm_mime_limits *lim,
		    struct tm_error *err);

/* The first body part of the multipart whose header block starts at raw[0]
 * (the top-level entity), exactly as transmitted: from after the first
 * delimiter line up to the line break before the next delimiter, with line
 * ends canonicalized to CRLF. Appended to out. mime.malformed when the
 * delimiters are not found. */
int tm_mime_first_part(const uint8_t *raw, size_t len, const char *boundary,
		       struct tm_buf *out, struct tm_error *err);

/* Transfer-encoding checks on the encoded text of a body (mime.bad_encoding,
 * the message names the offset within the body and the byte). */
int tm_mime_check_base64(const uint8_t *p, size_t len, struct tm_error *err);
/* The same check, decoding into out (appended) in the same pass. */
int tm_mime_decode_base64(const uint8_t *p, size_t len, struct tm_buf *out, struct tm_error *err);
int tm_mime_check_qp(const uint8_t *p, size_t len, struct tm_error *err);

#endif

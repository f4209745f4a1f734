/* telemail — internal: checks on raw MIME bytes before GMime sees them,
 * the signed part of a multipart/signed as transmitted, and strict
 * transfer-encoding checks (GMime's decoders are lenient).
 *
 * The structure scan follows what a MIME parser does (header blocks,
 * multipart delimiters, message/... bodies that start with headers, the
 * message/rfc822 default inside multipart/digest) with an explicit stack,
 * never recursion, so a nesting bomb costs one pass over the bytes. It is
 * not the authority on structure: GMime parses afterwards and mime.c checks
 * the same limits on GMime's tree. What the scan guarantees is a bound on
 * the depth GMime can reach: besides the scan, the number of Content-Type
 * fields is bounded by the part limit, and GMime only nests under a
 * Content-Type field (or under multipart/digest, which needs one). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "smime/mime_scan.h"

#define BOUNDARY_MAX 200   /* RFC 2046 allows 70; longer ones are not followed */
#define CT_MAX 1024        /* unfolded Content-Type value kept for the scan */

struct line {
	const uint8_t *p;
	size_t n;          /* octets, line end excluded */
	size_t next;       /* offset of the following line */
};

static void line_at(const uint8_t *raw, size_t len, size_t pos, struct line *l)
{
	const uint8_t *lf = memchr(raw + pos, '\n', len - pos);
	size_t end = lf ? (size_t)(lf - raw) : len;
	l->p = raw + pos;
	l->n = end - pos;
	if (l->n > 0 && l->p[l->n - 1] == '\r')
		l->n--;
	l->next = lf ? end + 1 : len;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static bool ci_eq(const uint8_t *p, size_t n, const char *s)
{
	size_t sl = strlen(s);
	if (n != sl)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != s[i])
			return false;
	return true;
}

/* 0: not a delimiter of b; 1: "--b"; 2: "--b--" (trailing blanks allowed). */
static int delimiter(const uint8_t *p, size_t n, const char *b, size_t blen)
{
	if (n < 2 + blen || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, blen) != 0)
		return 0;
	size_t i = 2 + blen;
	int kind = 1;
	if (n - i >= 2 && p[i] == '-' && p[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < n; i++)
		if (!is_wsp(p[i]))
			return 0;
	return kind;
}

/* Header field name before ':' (blanks allowed before the colon, as in
 * RFC 822's obsolete syntax); 0 when the line is not a field. */
static size_t field_name(const uint8_t *p, size_t n, size_t *value_at)
{
	size_t i = 0;
	while (i < n && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	size_t name = i;
	while (i < n && is_wsp(p[i]))
		i++;
	if (name == 0 || i >= n || p[i] != ':')
		return 0;
	*value_at = i + 1;
	return name;
}

/* ---- pass 1: size, NUL bytes, line lengths, Content-Type count ---- */

static int scan_bytes(const uint8_t *raw, size_t len, const struct tm_mime_limits *lim,
		      size_t *n_ct, struct tm_error *err)
{
	size_t lineno = 1;
	*n_ct = 0;
	for (size_t pos = 0; pos < len; lineno++) {
		struct line l;
		line_at(raw, len, pos, &l);
		const uint8_t *nul = memchr(l.p, 0, l.next - pos);
		if (nul != NULL)
			return tm_error_set(err, "mime.malformed", "line %zu: NUL byte at offset %zu",
					    lineno, (size_t)(nul - raw));
		if (l.n > lim->max_line)
			return tm_error_set(err, "mime.line_too_long",
					    "line %zu: %zu octets (limit %zu)", lineno, l.n,
					    lim->max_line);
		size_t v;
		/* only a line starting with C can be a Content-Type field: most lines
		 * are base64 and not worth a field-name scan */
		if (l.n > 0 && (l.p[0] | 0x20) == 'c') {
			size_t nl = field_name(l.p, l.n, &v);
			if (nl > 0 && ci_eq(l.p, nl, "content-type"))
				(*n_ct)++;
		}
		pos = l.next;
	}
	return 0;
}

/* ---- pass 2: entity structure ---- */

struct frame {
	char b[BOUNDARY_MAX + 1];
	size_t blen;       /* 0: a message/... body (ends with its enclosing part) */
	unsigned depth;    /* depth of the multipart or message/... entity itself */
	bool digest;       /* multipart/digest: parts default to message/rfc822 */
};

struct scan {
	const struct tm_mime_limits *lim;
	struct frame *st;
	size_t nst, cap;
	size_t parts;
	/* the entity whose header block is being read */
	bool in_headers;
	unsigned depth;
	bool parent_digest;
	size_t nheaders;
	bool saw_ct, in_ct;
	char ct[CT_MAX + 1];
	size_t ctlen;
};

enum ct_kind { CT_LEAF, CT_MULTIPART, CT_MESSAGE };

static void ct_append(struct scan *s, const uint8_t *p, size_t n)
{
	size_t room = CT_MAX - s->ctlen;
	if (n > room)
		n = room; /* a longer value loses its tail: GMime's depth stays bounded (see top) */
	memcpy(s->ct + s->ctlen, p, n);
	s->ctlen += n;
	s->ct[s->ctlen] = '\0';
}

static size_t token(const char *p, size_t i, size_t n, const char *stops)
{
	while (i < n && !is_wsp(p[i]) && strchr(stops, p[i]) == NULL)
		i++;
	return i;
}

/* Classify the unfolded Content-Type value; fills f->b/blen/digest for a multipart. */
static enum ct_kind ct_parse(const char *ct, size_t n, struct frame *f)
{
	size_t i = 0;
	while (i < n && is_wsp(ct[i]))
		i++;
	size_t t0 = i;
	i = token(ct, i, n, "/;");
	size_t t1 = i;
	if (i >= n || ct[i] != '/')
		return CT_LEAF;
	size_t s0 = ++i;
	i = token(ct, i, n, ";");
	size_t s1 = i;
	if (ci_eq((const uint8_t *)ct + t0, t1 - t0, "message"))
		return CT_MESSAGE;
	if (!ci_eq((const uint8_t *)ct + t0, t1 - t0, "multipart"))
		return CT_LEAF;
	f->digest = ci_eq((const uint8_t *)ct + s0, s1 - s0, "digest");
	f->blen = 0;
	/* parameters: ; name = value | "quoted" */
	while (i < n) {
		const char *semi = memchr(ct + i, ';', n - i);
		if (semi == NULL)
			break;
		i = (size_t)(semi - ct) + 1;
		while (i < n && is_wsp(ct[i]))
			i++;
		size_t n0 = i;
		i = token(ct, i, n, "=;");
		size_t n1 = i;
		while (i < n && is_wsp(ct[i]))
			i++;
		if (i >= n || ct[i] != '=')
			continue;
		i++;
		while (i < n && is_wsp(ct[i]))
			i++;
		char val[BOUNDARY_MAX + 2];
		size_t vl = 0;
		bool too_long = false;
		if (i < n && ct[i] == '"') {
			for (i++; i < n && ct[i] != '"'; i++) {
				if (ct[i] == '\\' && i + 1 < n)
					i++;
				if (vl <= BOUNDARY_MAX)
					val[vl++] = ct[i];
				else
					too_long = true;
			}
			if (i < n)
				i++;
		} else {
			size_t v0 = i;
			i = token(ct, i, n, ";");
			vl = i - v0;
			if (vl > BOUNDARY_MAX)
				too_long = true;
			else
				memcpy(val, ct + v0, vl);
		}
		if (ci_eq((const uint8_t *)ct + n0, n1 - n0, "boundary") && !too_long &&
		    vl > 0 && vl <= BOUNDARY_MAX) {
			memcpy(f->b, val, vl);
			f->b[vl] = '\0';
			f->blen = vl;
		}
	}
	return f->blen > 0 ? CT_MULTIPART : CT_LEAF;
}

static int push(struct scan *s, struct tm_error *err)
{
	if (s->nst == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct frame *st = realloc(s->st, cap * sizeof(*st));
		if (st == NULL)
			return tm_error_set(err, "internal.nomem", "MIME scan: out of memory");
		s->st = st;
		s->cap = cap;
	}
	s->nst++;
	return 0;
}

static int new_entity(struct scan *s, unsigned depth, bool parent_digest, size_t lineno,
		      struct tm_error *err)
{
	if (depth > s->lim->max_depth)
		return tm_error_set(err, "mime.too_deep",
				    "line %zu: an entity nests %u deep (limit %u)", lineno, depth,
				    s->lim->max_depth);
	if (++s->parts > s->lim->max_parts)
		return tm_error_set(err, "mime.too_many_parts",
				    "line %zu: more than %zu MIME parts", lineno, s->lim->max_parts);
	s->in_headers = true;
	s->depth = depth;
	s->parent_digest = parent_digest;
	s->nheaders = 0;
	s->saw_ct = false;
	s->in_ct = false;
	s->ctlen = 0;
	return 0;
}

static int end_headers(struct scan *s, size_t lineno, struct tm_error *err)
{
	struct frame f;
	enum ct_kind k;
	s->in_headers = false;
	s->in_ct = false;
	if (s->saw_ct)
		k = ct_parse(s->ct, s->ctlen, &f);
	else
		k = s->parent_digest ? CT_MESSAGE : CT_LEAF;
	if (k == CT_LEAF)
		return 0;
	if (push(s, err) < 0)
		return -1;
	struct frame *top = &s->st[s->nst - 1];
	if (k == CT_MULTIPART) {
		*top = f;
		top->depth = s->depth;
		return 0;
	}
	top->blen = 0;
	top->digest = false;
	top->depth = s->depth;
	return new_entity(s, s->depth + 1, false, lineno, err);
}

static int header_line(struct scan *s, const struct line *l, size_t lineno, bool *is_body,
		       struct tm_error *err)
{
	*is_body = false;
	if (l->n == 0)
		return end_headers(s, lineno, err);
	if (is_wsp(l->p[0])) {
		if (s->in_ct)
			ct_append(s, l->p, l->n);
		return 0;
	}
	size_t v;
	size_t nl = field_name(l->p, l->n, &v);
	if (nl == 0) {
		/* not a header field: the body starts here (as GMime does) */
		*is_body = true;
		return end_headers(s, lineno, err);
	}
	if (++s->nheaders > s->lim->max_headers)
		return tm_error_set(err, "mime.too_many_headers",
				    "line %zu: an entity has more than %zu header fields", lineno,
				    s->lim->max_headers);
	s->in_ct = ci_eq(l->p, nl, "content-type");
	if (s->in_ct) {
		s->saw_ct = true;
		s->ctlen = 0;
		ct_append(s, l->p + v, l->n - v);
	}
	return 0;
}

static int body_line(struct scan *s, const struct line *l, size_t lineno, struct tm_error *err)
{
	if (l->n < 2 || l->p[0] != '-' || l->p[1] != '-')
		return 0;
	for (size_t i = s->nst; i-- > 0;) {
		struct frame *f = &s->st[i];
		if (f->blen == 0)
			continue;
		int d = delimiter(l->p, l->n, f->b, f->blen);
		if (d == 0)
			continue;
		if (d == 2) {
			s->nst = i;
			return 0;
		}
		s->nst = i + 1;
		return new_entity(s, f->depth + 1, f->digest, lineno, err);
	}
	return 0;
}

int tm_mime_prescan(const uint8_t *raw, size_t len, const struct tm_mime_limits *lim,
		    struct tm_error *err)
{
	int rc = -1;
	size_t n_ct;
	struct scan s;
	memset(&s, 0, sizeof(s));
	s.lim = lim;
	if (len > lim->max_bytes)
		return tm_error_set(err, "mime.too_large", "message is %zu octets (limit %zu)", len,
				    lim->max_bytes);
	if (scan_bytes(raw, len, lim, &n_ct, err) < 0)
		return -1;
	/* the top-level entity: depth 1, not counted as a part */
	s.in_headers = true;
	s.depth = 1;
	size_t lineno = 1;
	for (size_t pos = 0; pos < len; lineno++) {
		struct line l;
		bool again;
		line_at(raw, len, pos, &l);
		do {
			/* a line that ends a header block without being empty is read
			 * again in the new state (body, or the header block of a
			 * message/... body) */
			again = false;
			if (s.in_headers) {
				if (header_line(&s, &l, lineno, &again, err) < 0)
					goto out;
			} else if (body_line(&s, &l, lineno, err) < 0) {
				goto out;
			}
		} while (again);
		pos = l.next;
	}
	/* the bound GMime's own nesting relies on (see the top of this file) */
	if (n_ct > lim->max_parts + 1) {
		tm_error_set(err, "mime.too_many_parts",
			     "%zu Content-Type fields: more than %zu MIME parts", n_ct,
			     lim->max_parts);
		goto out;
	}
	rc = 0;
out:
	free(s.st);
	return rc;
}

/* ---- the first part of a multipart/signed, as transmitted ---- */

int tm_mime_first_part(const uint8_t *raw, size_t len, const char *boundary,
		       struct tm_buf *out, struct tm_error *err)
{
	size_t blen = strlen(boundary);
	size_t pos = 0;
	struct line l;
	/* skip the top-level header block */
	for (;;) {
		if (pos >= len)
			return tm_error_set(err, "mime.malformed",
					    "multipart/signed: no body after the header block");
		line_at(raw, len, pos, &l);
		pos = l.next;
		if (l.n == 0)
			break;
	}
	/* the first delimiter line */
	for (;;) {
		if (pos >= len)
			return tm_error_set(err, "mime.malformed",
					    "multipart/signed: no delimiter \"--%.70s\" in the body",
					    boundary);
		line_at(raw, len, pos, &l);
		pos = l.next;
		int d = delimiter(l.p, l.n, boundary, blen);
		if (d == 2)
			return tm_error_set(err, "mime.malformed",
					    "multipart/signed: closing delimiter before the first part");
		if (d == 1)
			break;
	}
	size_t start = pos;
	/* the next delimiter line ends the part; the line break before it is the delimiter's */
	for (;;) {
		if (pos >= len)
			return tm_error_set(err, "mime.malformed",
					    "multipart/signed: the first part has no delimiter after it");
		line_at(raw, len, pos, &l);
		if (delimiter(l.p, l.n, boundary, blen) != 0)
			break;
		pos = l.next;
	}
	size_t end = pos;
	if (end > start && raw[end - 1] == '\n')
		end--;
	if (end > start && raw[end - 1] == '\r')
		end--;
	if (end <= start)
		return tm_error_set(err, "mime.malformed", "multipart/signed: the first part is empty");
	/* canonical CRLF: a bare LF becomes CRLF */
	if (tm_buf_reserve(out, (end - start) * 2) < 0)
		return tm_error_set(err, "internal.nomem", "signed part: out of memory");
	for (size_t i = start; i < end; i++) {
		if (raw[i] == '\n' && (i == start || raw[i - 1] != '\r'))
			out->data[out->len++] = '\r';
		out->data[out->len++] = raw[i];
	}
	out->data[out->len] = '\0';
	return 0;
}

/* ---- transfer encodings ---- */


/* Base64 bytes: 0..63 the digit's value, B64_BLANK, B64_PAD, or B64_BAD. */
enum { B64_BLANK = 64, B64_PAD = 65, B64_BAD = 255 };
static uint8_t b64_table[256];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	memset(b64_table, B64_BAD, sizeof(b64_table));
	for (unsigned i = 0; i < 64; i++)
		b64_table[(uint8_t)digits[i]] = (uint8_t)i;
	b64_table['\t'] = b64_table['\n'] = b64_table['\r'] = b64_table[' '] = B64_BLANK;
	b64_table['='] = B64_PAD;
}

/* Check, and with out != NULL decode, in one pass. */
static int base64_pass(const uint8_t *p, size_t len, struct tm_buf *out, struct tm_error *err)
{
	pthread_once(&b64_once, b64_init);
	size_t data = 0, pad = 0;
	uint32_t acc = 0;
	uint8_t *w = out != NULL ? out->data + out->len : NULL;
	for (size_t i = 0; i < len; i++) {
		/* fast path: a whole quantum of four digits at a quantum boundary
		 * (lines of 76 characters keep the boundaries in step) */
		while ((data & 3) == 0 && pad == 0 && len - i >= 4) {
			uint32_t a = b64_table[p[i]], b = b64_table[p[i + 1]],
				 c = b64_table[p[i + 2]], d = b64_table[p[i + 3]];
			if ((a | b | c | d) >= 64) /* a blank, '=' or a bad byte: one at a time */
				break;
			acc = a << 18 | b << 12 | c << 6 | d;
			if (w != NULL) {
				w[0] = (uint8_t)(acc >> 16);
				w[1] = (uint8_t)(acc >> 8);
				w[2] = (uint8_t)acc;
				w += 3;
			}
			data += 4;
			i += 4;
		}
		if (i == len)
			break;
		uint8_t v = b64_table[p[i]];
		if (v < 64 && pad == 0) { /* the common case: a digit */
			acc = acc << 6 | v;
			if ((++data & 3) == 0 && w != NULL) {
				*w++ = (uint8_t)(acc >> 16);
				*w++ = (uint8_t)(acc >> 8);
				*w++ = (uint8_t)acc;
			}
			continue;
		}
		if (v == B64_BLANK)
			continue;
		if (v == B64_PAD) {
			pad++;
			if (pad > 2)
				return tm_error_set(err, "mime.bad_encoding",
						    "base64: more than two '=' at offset %zu", i);
			continue;
		}
		if (v == B64_BAD)
			return tm_error_set(err, "mime.bad_encoding",
					    "base64: invalid byte 0x%02x at offset %zu", (unsigned)p[i], i);
		return tm_error_set(err, "mime.bad_encoding",
				    "base64: data after '=' padding at offset %zu", i);
	}
	if ((data + pad) % 4 != 0 || (pad > 0 && data % 4 == 0))
		return tm_error_set(err, "mime.bad_encoding",
				    "base64: %zu characters and %zu '=' do not make whole quanta",
				    data, pad);
	if (w != NULL) {
		if (data % 4 == 2) { /* xx== : one byte */
			*w++ = (uint8_t)(acc >> 4);
		} else if (data % 4 == 3) { /* xxx= : two bytes */
			*w++ = (uint8_t)(acc >> 10);
			*w++ = (uint8_t)(acc >> 2);
		}
		out->len = (size_t)(w - out->data);
		out->data[out->len] = '\0';
	}
	return 0;
}

int tm_mime_check_base64(const uint8_t *p, size_t len, struct tm_error *err)
{
	return base64_pass(p, len, NULL, err);
}

int tm_mime_decode_base64(const uint8_t *p, size_t len, struct tm_buf *out, struct tm_error *err)
{
	/* at most 3 bytes per 4 characters, plus the NUL */
	if (tm_buf_reserve(out, len / 4 * 3 + 3) < 0)
		return tm_error_set(err, "internal.nomem", "base64: out of memory");
	size_t start = out->len;
	if (base64_pass(p, len, out, err) < 0) {
		out->len = start;
		out->data[start] = '\0';
		return -1;
	}
	return 0;
}

static bool is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

int tm_mime_check_qp(const uint8_t *p, size_t len, struct tm_error *err)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '=')
			continue;
		if (i + 2 < len && is_hex(p[i + 1]) && is_hex(p[i + 2])) {
			i += 2;
			continue;
		}
		/* soft line break: '=' then blanks up to the end of the line or the body */
		size_t j = i + 1;
		while (j < len && is_wsp(p[j]))
			j++;
		if (j < len && p[j] == '\r')
			j++;
		if (j == len || p[j] == '\n')
			continue;
		return tm_error_set(err, "mime.bad_encoding",
				    "quoted-printable: '=' not followed by two hex digits or a line end at offset %zu",
				    i);
	}
	return 0;
}

/* telemail — key=value log lines with every value quoted and escaped (see log.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/log.h>

#define MARKER " truncated=1"
#define MARKER_LEN (sizeof(MARKER) - 1)

static bool plain_octet(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._:/@<>+,#[]~%*!?()", c) != NULL;
}

static bool plain(const unsigned char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!plain_octet(v[i]))
			return false;
	return true;
}

/* The escaped form of one octet inside quotes; returns its length (1, 2 or 4). */
static size_t escape_octet(unsigned char c, char out[4])
{
	static const char hex[] = "0123456789abcdef";
	switch (c) {
	case '"': memcpy(out, "\\\"", 2); return 2;
	case '\\': memcpy(out, "\\\\", 2); return 2;
	case '\n': memcpy(out, "\\n", 2); return 2;
	case '\r': memcpy(out, "\\r", 2); return 2;
	case '\t': memcpy(out, "\\t", 2); return 2;
	default: break;
	}
	if (c < 0x20 || c >= 0x7f) {
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[c >> 4];
		out[3] = hex[c & 0xf];
		return 4;
	}
	out[0] = (char)c;
	return 1;
}

size_t tm_log_escape(char *dst, size_t cap, const void *value, size_t n, bool *cut)
{
	const unsigned char *v = value;
	*cut = false;
	if (cap < 3)
		abort(); /* room for "" and the NUL is the least a caller gives */
	if (plain(v, n)) {
		if (n > cap - 1) {
			n = cap - 1;
			*cut = true;
		}
		memcpy(dst, v, n);
		dst[n] = '\0';
		return n;
	}
	size_t len = 0;
	dst[len++] = '"';
	for (size_t i = 0; i < n; i++) {
		char e[4];
		size_t k = escape_octet(v[i], e);
		if (len + k + 1 > cap - 1) { /* the closing quote and the NUL stay possible */
			*cut = true;
			break;
		}
		memcpy(dst + len, e, k);
		len += k;
	}
	dst[len++] = '"';
	dst[len] = '\0';
	return len;
}

static bool key_ok(const char *k)
{
	if (k == NULL || !(k[0] >= 'a' && k[0] <= 'z'))
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return strlen(k) < 64 && strcmp(k, "truncated") != 0;
}

void tm_log_begin(struct tm_logline *l, const char *tag)
{
	l->len = 0;
	l->truncated = false;
	l->full = false;
	l->n_keys = 0;
	size_t n = strlen(tag);
	if (n == 0 || n > 64)
		abort(); /* a tag is a few fixed words */
	for (size_t i = 0; i < n; i++) {
		char c = tag[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ' ' || c == '-'))
			abort(); /* the tag is fixed by the code, never a peer's text */
	}
	memcpy(l->text, tag, n);
	l->len = n;
	l->text[n] = '\0';
}

void tm_log_addn(struct tm_logline *l, const char *key, const void *value, size_t n)
{
	if (!key_ok(key))
		abort(); /* keys are fixed by the code */
	for (size_t i = 0; i < l->n_keys; i++)
		if (strcmp(l->keys[i], key) == 0)
			abort(); /* one key once per line */
	if (l->n_keys == TM_LOG_FIELDS_MAX)
		abort(); /* the caller's line has more fields than any line should */
	l->keys[l->n_keys++] = key;
	if (l->full)
		return;
	char v[TM_LOG_VALUE_MAX + 1];
	bool cut;
	size_t vn = tm_log_escape(v, sizeof(v), value, n, &cut);
	size_t kn = strlen(key);
	if (l->len + 1 + kn + 1 + vn > TM_LOG_LINE_MAX - MARKER_LEN) {
		l->full = true;
		l->truncated = true;
		return;
	}
	char *p = l->text + l->len;
	*p++ = ' ';
	memcpy(p, key, kn);
	p += kn;
	*p++ = '=';
	memcpy(p, v, vn);
	p += vn;
	*p = '\0';
	l->len = (size_t)(p - l->text);
	if (cut)
		l->truncated = true;
}

void tm_log_add(struct tm_logline *l, const char *key, const char *value)
{
	if (value == NULL)
		value = "-";
	tm_log_addn(l, key, value, strlen(value));
}

void tm_log_addf(struct tm_logline *l, const char *key, const char *fmt, ...)
{
	char v[TM_LOG_VALUE_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(v) - 1) {
		n = (int)(sizeof(v) - 1);
		l->truncated = true; /* longer than any value may be once written */
	}
	tm_log_addn(l, key, v, (size_t)n);
}

const char *tm_log_end(struct tm_logline *l)
{
	if (l->truncated && !(l->len >= MARKER_LEN &&
			      memcmp(l->text + l->len - MARKER_LEN, MARKER, MARKER_LEN) == 0)) {
		memcpy(l->text + l->len, MARKER, MARKER_LEN + 1);
		l->len += MARKER_LEN;
	}
	return l->text;
}

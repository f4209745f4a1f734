/* telemail — compact JSON with sorted keys, straight into a buffer (see
 * json_emit.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

#include "report/json_emit.h"

void tm_je_init(struct tm_je *j, struct tm_buf *out, struct tm_error *err)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->begin = out->len;
	j->err = err;
	tm_buf_init(&j->scratch);
}

int tm_je_finish(struct tm_je *j)
{
	if (!j->failed && j->depth != 0)
		tm_je_fail(j, "internal.bug", "json: %u containers left open", j->depth);
	if (j->failed)
		j->out->len = j->begin;
	if (j->out->data != NULL)
		j->out->data[j->out->len] = '\0'; /* room() kept a place for it */
	free(j->m);
	j->m = NULL;
	tm_buf_fini(&j->scratch);
	return j->failed ? -1 : 0;
}

int tm_je_fail(struct tm_je *j, const char *reason, const char *fmt, ...)
{
	if (j->failed)
		return -1;
	j->failed = true;
	char msg[sizeof(j->err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tm_error_set(j->err, reason, "%s", msg);
}

/* Room for n more octets and the NUL; false after any failure. Octets are
 * then written in place (the NUL goes on at tm_je_finish). */
static bool room(struct tm_je *j, size_t n)
{
	if (j->failed)
		return false;
	if (j->out->data != NULL && j->out->cap - j->out->len > n)
		return true;
	if (tm_buf_reserve(j->out, n) < 0) {
		tm_je_fail(j, "internal.nomem", "normalize: out of memory");
		return false;
	}
	return true;
}

static void put(struct tm_je *j, const void *p, size_t n)
{
	if (room(j, n)) {
		memcpy(j->out->data + j->out->len, p, n);
		j->out->len += n;
	}
}

static void put_c(struct tm_je *j, char c)
{
	if (room(j, 1))
		j->out->data[j->out->len++] = (uint8_t)c;
}

/* A value's separator inside an array. */
static bool value_start(struct tm_je *j)
{
	if (j->failed)
		return false;
	if (j->depth > 0 && !j->fr[j->depth - 1].obj) {
		if (!j->fr[j->depth - 1].first)
			put_c(j, ',');
		j->fr[j->depth - 1].first = false;
	}
	return !j->failed;
}

static void open_container(struct tm_je *j, bool obj)
{
	if (!value_start(j))
		return;
	if (j->depth == TM_JE_DEPTH) {
		tm_je_fail(j, "internal.bug", "json: nested deeper than %d", TM_JE_DEPTH);
		return;
	}
	j->fr[j->depth].obj = obj;
	j->fr[j->depth].first = true;
	j->fr[j->depth].members = j->n_m;
	j->depth++;
	put_c(j, obj ? '{' : '[');
}

void tm_je_obj_begin(struct tm_je *j) { open_container(j, true); }
void tm_je_arr_begin(struct tm_je *j) { open_container(j, false); }

void tm_je_arr_end(struct tm_je *j)
{
	if (j->failed)
		return;
	if (j->depth == 0 || j->fr[j->depth - 1].obj) {
		tm_je_fail(j, "internal.bug", "json: no array to close");
		return;
	}
	j->depth--;
	put_c(j, ']');
}

static int by_key(const void *a, const void *b, void *ctx)
{
	const struct tm_je_member *m = ctx;
	return strcmp(m[*(const size_t *)a].key, m[*(const size_t *)b].key);
}

/* Put the members [first, n_m) in key order: each member's octets run from
 * its start to the comma before the next one (or the end). */
static void order_members(struct tm_je *j, size_t first)
{
	const struct tm_je_member *m = j->m + first;
	size_t k = j->n_m - first, i;
	for (i = 1; i < k; i++)
		if (strcmp(m[i - 1].key, m[i].key) >= 0)
			break;
	if (i >= k)
		return; /* already in order: the common case */
	size_t *idx = malloc(k * sizeof(*idx));
	size_t from = m[0].start, to = j->out->len;
	if (idx == NULL || tm_buf_reserve(&j->scratch, to - from) < 0) {
		free(idx);
		tm_je_fail(j, "internal.nomem", "normalize: out of memory");
		return;
	}
	for (i = 0; i < k; i++)
		idx[i] = i;
	qsort_r(idx, k, sizeof(*idx), by_key, (void *)m);
	uint8_t *w = j->scratch.data;
	for (i = 0; i < k; i++) {
		size_t a = idx[i], s = m[a].start;
		size_t e = a + 1 < k ? m[a + 1].start - 1 : to; /* without the comma */
		if (i > 0 && strcmp(m[idx[i - 1]].key, m[a].key) == 0) {
			free(idx);
			tm_je_fail(j, "internal.bug", "json: key '%.64s' written twice", m[a].key);
			return;
		}
		if (i > 0)
			*w++ = ',';
		memcpy(w, j->out->data + s, e - s);
		w += e - s;
	}
	memcpy(j->out->data + from, j->scratch.data, to - from);
	free(idx);
}

void tm_je_obj_end(struct tm_je *j)
{
	if (j->failed)
		return;
	if (j->depth == 0 || !j->fr[j->depth - 1].obj) {
		tm_je_fail(j, "internal.bug", "json: no object to close");
		return;
	}
	size_t first = j->fr[j->depth - 1].members;
	if (j->n_m - first > 1)
		order_members(j, first);
	j->n_m = first;
	j->depth--;
	put_c(j, '}');
}

bool tm_je_utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		unsigned c = *s;
		if (c < 0x80) {
			s++;
			continue;
		}
		int n;
		unsigned cp, min;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false; /* also stops at the NUL */
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

/* s as a JSON string, written in place: room for the worst case (every
 * octet a \u00XX) is made first. */
static void put_string(struct tm_je *j, const char *str)
{
	static const char hex[] = "0123456789ABCDEF"; /* upper case, as jansson writes */
	size_t n = strlen(str);
	if (n > (SIZE_MAX - 2) / 6) {
		tm_je_fail(j, "internal.nomem", "normalize: a string of %zu octets", n);
		return;
	}
	if (!room(j, 6 * n + 2))
		return;
	uint8_t *w = j->out->data + j->out->len;
	*w++ = '"';
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		unsigned char c = *p;
		if (c >= 0x20 && c != '"' && c != '\\') {
			*w++ = c;
			continue;
		}
		*w++ = '\\';
		switch (c) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '\b': *w++ = 'b'; break;
		case '\f': *w++ = 'f'; break;
		case '\n': *w++ = 'n'; break;
		case '\r': *w++ = 'r'; break;
		case '\t': *w++ = 't'; break;
		default:
			memcpy(w, "u00", 3);
			w[3] = (uint8_t)hex[c >> 4];
			w[4] = (uint8_t)hex[c & 15];
			w += 5;
			break;
		}
	}
	*w++ = '"';
	j->out->len = (size_t)(w - j->out->data);
}

void tm_je_key(struct tm_je *j, const char *key, const char *path)
{
	if (j->failed)
		return;
	if (j->depth == 0 || !j->fr[j->depth - 1].obj) {
		tm_je_fail(j, "internal.bug", "json: a key outside an object");
		return;
	}
	if (!tm_je_utf8_ok(key)) {
		tm_je_fail(j, "report.encoding", "%s: string is not valid UTF-8", path);
		return;
	}
	if (j->n_m == j->cap_m) {
		size_t cap = j->cap_m ? 2 * j->cap_m : 32;
		struct tm_je_member *m = realloc(j->m, cap * sizeof(*m));
		if (m == NULL) {
			tm_je_fail(j, "internal.nomem", "normalize: out of memory");
			return;
		}
		j->m = m;
		j->cap_m = cap;
	}
	if (!j->fr[j->depth - 1].first)
		put_c(j, ',');
	j->fr[j->depth - 1].first = false;
	j->m[j->n_m++] = (struct tm_je_member){ .key = key, .start = j->out->len };
	put_string(j, key);
	put_c(j, ':');
}

void tm_je_str(struct tm_je *j, const char *s, const char *path)
{
	if (!value_start(j))
		return;
	if (!tm_je_utf8_ok(s)) {
		tm_je_fail(j, "report.encoding", "%s: string is not valid UTF-8", path);
		return;
	}
	put_string(j, s);
}

void tm_je_int(struct tm_je *j, int64_t v)
{
	if (!value_start(j))
		return;
	char b[24], *p = b + sizeof(b);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	put(j, p, (size_t)(b + sizeof(b) - p));
}

void tm_je_null(struct tm_je *j)
{
	if (value_start(j))
		put(j, "null", 4);
}

void tm_je_bool(struct tm_je *j, bool v)
{
	if (value_start(j))
		put(j, v ? "true" : "false", v ? 4 : 5);
}

void tm_je_real(struct tm_je *j, double v, int prec)
{
	if (!value_start(j))
		return;
	char b[48];
	int n = snprintf(b, sizeof(b) - 2, "%.*g", prec < 1 ? 1 : prec > 17 ? 17 : prec, v);
	if (n < 0 || (size_t)n >= sizeof(b) - 2) {
		tm_je_fail(j, "internal.bug", "json: a real does not format");
		return;
	}
	char *e = strchr(b, 'e');
	if (e == NULL && strchr(b, '.') == NULL) {
		memcpy(b + n, ".0", 3); /* stays a real when read back */
		n += 2;
	} else if (e != NULL) {
		/* "e+07" → "e7", "e-07" → "e-7" */
		char *d = e + 1, *s = d;
		if (*s == '+')
			s++;
		else if (*s == '-')
			d++, s++;
		while (*s == '0' && s[1] != '\0')
			s++;
		memmove(d, s, strlen(s) + 1);
		n = (int)strlen(b);
	}
	put(j, b, (size_t)n);
}

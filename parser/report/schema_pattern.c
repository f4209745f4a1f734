/* telemail — the schema's simple patterns without a regex engine (see
 * schema_private.h).
 *
 * Most patterns of the report schema are anchored runs of character sets:
 * "^[A-Za-z0-9._-]+$", a UUID's "^[0-9a-f]{8}-[0-9a-f]{4}-…$". glibc's
 * regexec costs about two thousand instructions on each; a bitmap per item
 * costs a few per character. Only that form is taken, and only where a
 * greedy scan gives the regex's own verdict: every item whose count may
 * vary shares no character with any item after it. Everything else (groups,
 * alternation, '.', negated or POSIX classes, escapes of letters) stays with
 * regexec. Sets are ASCII code points, as JSON Schema's ECMA-262 patterns
 * mean them; a test compares both ways on generated strings. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/schema_private.h"

#define REPEAT_MAX 100000u

static void set_add(uint8_t set[32], unsigned c)
{
	set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool set_has(const uint8_t set[32], unsigned char c)
{
	return (set[c >> 3] >> (c & 7)) & 1;
}

static bool is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool same_class(int a, int b)
{
	return ((a >= '0' && a <= '9') && (b >= '0' && b <= '9')) ||
	       ((a >= 'a' && a <= 'z') && (b >= 'a' && b <= 'z')) ||
	       ((a >= 'A' && a <= 'Z') && (b >= 'A' && b <= 'Z'));
}

/* A regex metacharacter outside brackets. */
static bool is_meta(int c)
{
	return c != '\0' && strchr(".[]()*+?{}|^$\\", c) != NULL;
}

/* "[...]" at p (after '['); the position after ']' or NULL. */
static const char *bracket(const char *p, uint8_t set[32])
{
	if (*p == '^' || *p == ']')
		return NULL;
	bool first = true;
	while (*p != ']') {
		int c = (unsigned char)*p;
		if (c < 0x20 || c > 0x7e || c == '\\' || c == '[')
			return NULL;
		if (c == '-' && !first && p[1] != ']')
			return NULL; /* a '-' inside is a range or an error */
		if (p[1] == '-' && p[2] != ']' && p[2] != '\0') {
			int d = (unsigned char)p[2];
			if (!is_alnum(c) || !same_class(c, d) || c > d)
				return NULL;
			for (int x = c; x <= d; x++)
				set_add(set, (unsigned)x);
			p += 3;
		} else {
			set_add(set, (unsigned)c);
			p++;
		}
		first = false;
	}
	return p + 1;
}

static const char *number(const char *p, uint32_t *out)
{
	uint32_t v = 0;
	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v > REPEAT_MAX)
			return NULL;
	}
	*out = v;
	return p;
}

/* The quantifier at p (if any) into item; the position after it or NULL. */
static const char *quantifier(const char *p, struct sch_simple_item *it)
{
	it->min = it->max = 1;
	switch (*p) {
	case '+': it->max = UINT32_MAX; p++; break;
	case '*': it->min = 0; it->max = UINT32_MAX; p++; break;
	case '?': it->min = 0; p++; break;
	case '{':
		if ((p = number(p + 1, &it->min)) == NULL)
			return NULL;
		if (*p == '}') {
			it->max = it->min;
		} else if (p[0] == ',' && p[1] == '}') {
			it->max = UINT32_MAX;
			p++;
		} else if (*p == ',') {
			if ((p = number(p + 1, &it->max)) == NULL || *p != '}' || it->max < it->min)
				return NULL;
		} else {
			return NULL;
		}
		p++;
		break;
	default:
		return p;
	}
	return strchr("+*?{", *p) != NULL && *p != '\0' ? NULL : p; /* no lazy or stacked */
}

bool tm_sch_simple_compile(const char *pattern, struct sch_simple *out)
{
	memset(out, 0, sizeof(*out));
	size_t len = strlen(pattern);
	if (len < 2 || pattern[0] != '^' || pattern[len - 1] != '$' ||
	    (len >= 3 && pattern[len - 2] == '\\'))
		return false;
	const char *p = pattern + 1, *end = pattern + len - 1;
	while (p < end) {
		if (out->n == SCH_SIMPLE_MAX)
			return false;
		struct sch_simple_item *it = &out->items[out->n];
		if (*p == '[') {
			if ((p = bracket(p + 1, it->set)) == NULL || p > end)
				return false;
		} else if (*p == '\\') {
			int c = (unsigned char)p[1];
			if (c < 0x21 || c > 0x7e || is_alnum(c))
				return false; /* \d, \w, \b …: the regex engine's */
			set_add(it->set, (unsigned)c);
			p += 2;
		} else {
			int c = (unsigned char)*p;
			if (c < 0x20 || c > 0x7e || is_meta(c))
				return false;
			set_add(it->set, (unsigned)c);
			p++;
		}
		if ((p = quantifier(p, it)) == NULL || p > end)
			return false;
		out->n++;
	}
	/* greedy is exact when no varying item shares a character with a later one */
	for (size_t i = 0; i < out->n; i++) {
		if (out->items[i].min == out->items[i].max)
			continue;
		for (size_t j = i + 1; j < out->n; j++)
			for (size_t b = 0; b < 32; b++)
				if (out->items[i].set[b] & out->items[j].set[b])
					return false;
	}
	return true;
}

bool tm_sch_simple_match(const struct sch_simple *r, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < r->n; i++) {
		const struct sch_simple_item *it = &r->items[i];
		uint32_t k = 0;
		while (k < it->max && *p != '\0' && set_has(it->set, *p)) {
			k++;
			p++;
		}
		if (k < it->min)
			return false;
	}
	return *p == '\0';
}

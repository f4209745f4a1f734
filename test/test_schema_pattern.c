/* Simple schema patterns without regexec (parser/report/schema_pattern.c): which
 * patterns take the fast path, and the same verdict as glibc's regexec on
 * many generated strings, for every pattern of schema v1 that takes it. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>

#include "common.h"
#include "report/schema_private.h"

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

/* A string that matches r (counts near the minimum), then 0..2 bytes
 * changed to anything from `noise`. */
static void near_match(const struct sch_simple *r, unsigned *seed, const char *noise, char *out,
		       size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct sch_simple_item *it = &r->items[i];
		uint32_t span = it->max == UINT32_MAX ? 4 : it->max - it->min;
		uint32_t k = it->min + (span ? rnd(seed) % (span + 1) : 0);
		unsigned members[256], m = 0;
		for (unsigned c = 1; c < 256; c++)
			if ((it->set[c >> 3] >> (c & 7)) & 1)
				members[m++] = c;
		for (uint32_t j = 0; j < k && n + 1 < cap && m > 0; j++)
			out[n++] = (char)members[rnd(seed) % m];
	}
	out[n] = '\0';
	unsigned changes = rnd(seed) % 3;
	for (unsigned j = 0; j < changes && n > 0; j++)
		out[rnd(seed) % n] = noise[rnd(seed) % strlen(noise)];
	if (rnd(seed) % 5 == 0 && n + 1 < cap) { /* one more or one fewer */
		if (rnd(seed) % 2)
			out[n - (n > 0)] = '\0';
		else
			out[n] = noise[rnd(seed) % strlen(noise)], out[n + 1] = '\0';
	}
}

/* simple and regexec agree on many strings; returns how many matched. */
static size_t agree(const char *pattern, const struct sch_simple *r)
{
	regex_t re;
	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0, "%s", pattern);
	static const char noise[] = "aZ09-._:/ x\n$^.\x7f\xc3\xa9";
	unsigned seed = 12345;
	size_t matched = 0;
	for (int i = 0; i < 4000; i++) {
		char s[128];
		near_match(r, &seed, noise, s, sizeof(s));
		bool fast = tm_sch_simple_match(r, s);
		bool slow = regexec(&re, s, 0, NULL, 0) == 0;
		cr_assert_eq(fast, slow, "pattern %s, string \"%s\": fast %d, regexec %d", pattern, s,
			     fast, slow);
		matched += slow;
	}
	regfree(&re);
	return matched;
}

Test(schema_pattern, which_patterns_take_the_fast_path)
{
	static const char *const simple[] = {
		"^[a-z][a-z0-9_.]*$", "^[A-Za-z0-9._-]+$", "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$",
		"^x?y*z+$", "^[A-F0-9]{2,4}$", "^a\\.b$", "^[-a]+$", "^$", "^ab{3,}c$",
	};
	static const char *const other[] = {
		"^(a|b)$", "^[a-z]+[a-z]$", "^[^a]$", "^\\d$", "^a.b$", "abc", "^abc", "abc$",
		"^a|b$", "^[[:alpha:]]$", "^a+?$", "^a{2,1}$", "^a++$", "^[z-a]$", "^[+--]$",
		"^[a-z]*a$", "^a\\$", "^(ab)+$", "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", "^[a\\]]$",
	};
	struct sch_simple r;
	for (size_t i = 0; i < sizeof(simple) / sizeof(*simple); i++) {
		cr_assert(tm_sch_simple_compile(simple[i], &r), "%s should be simple", simple[i]);
		agree(simple[i], &r);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(*other); i++)
		cr_assert_not(tm_sch_simple_compile(other[i], &r), "%s should go to regexec", other[i]);
}

/* Every pattern written in schemas/telemail-report-v1.yaml. */
Test(schema_pattern, schema_v1_patterns_agree_with_regexec)
{
	char *path = tm_test_src("../schemas/telemail-report-v1.yaml");
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	size_t fast = 0, slow = 0;
	const char *p = (const char *)b.data;
	while ((p = strstr(p, "pattern: \"")) != NULL) {
		p += strlen("pattern: \"");
		char pat[256];
		size_t n = 0;
		for (; *p != '"' && *p != '\0' && n + 1 < sizeof(pat); p++) {
			if (*p == '\\' && p[1] != '\0')
				p++; /* YAML double-quoted escape: \\ → \ */
			pat[n++] = *p;
		}
		pat[n] = '\0';
		struct sch_simple r;
		if (!tm_sch_simple_compile(pat, &r)) {
			slow++;
			continue;
		}
		fast++;
		cr_assert_gt(agree(pat, &r), 100, "%s: too few generated strings match", pat);
	}
	/* the UUID and the names and identifiers are simple; the PII names,
	 * timestamps, IP and MAC addresses (groups, alternation) are not */
	cr_assert_geq(fast, 10, "only %zu patterns take the fast path", fast);
	cr_assert_geq(slow, 4);
	tm_buf_fini(&b);
	free(path);
}

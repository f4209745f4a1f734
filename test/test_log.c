/* telemail/log.h: the one writer of key=value log lines — the escaping table, the
 * caps with their explicit marker, and that whatever a value holds, an operator's
 * parser reads back exactly one field per key with the value as it was. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/log.h>

#include "common.h"

struct esc_case {
	const char *what;
	const char *value;
	size_t len;          /* octets of value (NUL may be one of them) */
	const char *written; /* as the line holds it */
};

#define V(s) s, sizeof(s) - 1

/* Indexed (the table's pointers do not cross Criterion's process boundary). */
static const struct esc_case cases[] = {
	{ "a serial is a plain token", V("XK100001"), "XK100001" },
	{ "an address in brackets is plain", V("<xk1@site.example>"), "<xk1@site.example>" },
	{ "a reason code and a qid are plain", V("smime.untrusted_signer"), "smime.untrusted_signer" },
	{ "an IPv6 address is plain", V("::1"), "::1" },
	{ "the empty value is quoted", V(""), "\"\"" },
	{ "a space is quoted", V("a b"), "\"a b\"" },
	{ "an '=' is quoted", V("a=b"), "\"a=b\"" },
	{ "quotes are escaped", V("say \"hi\""), "\"say \\\"hi\\\"\"" },
	{ "a backslash is escaped", V("C:\\dir"), "\"C:\\\\dir\"" },
	{ "CR LF cannot start a line", V("a\r\nb=c"), "\"a\\r\\nb=c\"" },
	{ "a tab", V("\t"), "\"\\t\"" },
	{ "control octets and DEL are hex", V("\x01\x1b[31m\x7f"), "\"\\x01\\x1b[31m\\x7f\"" },
	{ "a NUL inside the value is hex", V("a\0b"), "\"a\\x00b\"" },
	{ "UTF-8 is hex, octet by octet", V("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"" },
	{ "invalid UTF-8 is hex", V("\xff\xfe"), "\"\\xff\\xfe\"" },
	{ "U+202E (bidi override) is hex", V("\xe2\x80\xae"), "\"\\xe2\\x80\\xae\"" },
	{ "a single quote is quoted", V("it's"), "\"it's\"" },
	{ "the forged Message-ID", V("<x outcome=stored device=XK100001 report=abc x@y>"),
	  "\"<x outcome=stored device=XK100001 report=abc x@y>\"" },
	{ "a forged address without spaces", V("<outcome=stored@x>"), "\"<outcome=stored@x>\"" },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))
static int case_ix[N_CASES];

ParameterizedTestParameters(log, escaping)
{
	for (size_t i = 0; i < N_CASES; i++)
		case_ix[i] = (int)i;
	return cr_make_param_array(int, case_ix, N_CASES);
}

ParameterizedTest(int *ix, log, escaping)
{
	const struct esc_case *c = &cases[*ix];
	char out[TM_LOG_VALUE_MAX + 1];
	bool cut = true;
	size_t n = tm_log_escape(out, sizeof(out), c->value, c->len, &cut);
	cr_assert_str_eq(out, c->written, "%s", c->what);
	cr_assert_eq(n, strlen(c->written), "%s", c->what);
	cr_assert_not(cut, "%s", c->what);

	/* in a line next to a real key, a parser reads the one value back */
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_addn(&l, "message_id", c->value, c->len);
	tm_log_add(&l, "outcome", "quarantined");
	const char *line = tm_log_end(&l);
	cr_assert_null(strchr(line, '\n'), "%s", c->what);
	char got[TM_LOG_VALUE_MAX + 1];
	cr_assert_eq(tm_test_log_field(line, "outcome", got, sizeof(got)), 1, "%s: %s", c->what, line);
	cr_assert_str_eq(got, "quarantined", "%s", c->what);
	cr_assert_eq(tm_test_log_field(line, "message_id", got, sizeof(got)), 1, "%s", c->what);
	cr_assert_eq(memcmp(got, c->value, c->len), 0, "%s: read back as given", c->what);
	cr_assert_eq(tm_test_log_field(line, "device", got, sizeof(got)), 0, "%s", c->what);
	cr_assert_eq(tm_test_log_field(line, "truncated", got, sizeof(got)), 0, "%s", c->what);
}

Test(log, line_shape)
{
	struct tm_logline l;
	tm_log_begin(&l, "gw smtp");
	tm_log_add(&l, "session", "1a");
	tm_log_add(&l, "event", "message");
	tm_log_add(&l, "from", "<xk1@site.example>");
	tm_log_addf(&l, "size", "%zu", (size_t)2810);
	tm_log_add(&l, "device", NULL);
	tm_log_add(&l, "detail", "the store is down");
	cr_assert_str_eq(tm_log_end(&l), "gw smtp session=1a event=message from=<xk1@site.example> "
					 "size=2810 device=- detail=\"the store is down\"");
	cr_assert_not(l.truncated);
	/* ending twice changes nothing */
	cr_assert_str_eq(tm_log_end(&l), l.text);
}

Test(log, addf_escapes_what_it_formats)
{
	struct tm_logline l;
	tm_log_begin(&l, "telemail-agent collect");
	tm_log_addf(&l, "detail", "%s: %s", "state.json", "line 3\nkey=x");
	cr_assert_str_eq(tm_log_end(&l), "telemail-agent collect detail=\"state.json: line 3\\nkey=x\"");
}

Test(log, a_long_value_is_cut_with_the_marker)
{
	char big[3000];
	memset(big, 'a', sizeof(big));
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_addn(&l, "message_id", big, sizeof(big));
	tm_log_add(&l, "outcome", "stored");
	const char *line = tm_log_end(&l);
	char got[TM_LOG_LINE_MAX];
	cr_assert_eq(tm_test_log_field(line, "message_id", got, sizeof(got)), 1);
	cr_assert_eq(strlen(got), TM_LOG_VALUE_MAX, "cut to the value cap");
	cr_assert_eq(tm_test_log_field(line, "outcome", got, sizeof(got)), 1, "later fields stay");
	cr_assert_str_eq(got, "stored");
	cr_assert_eq(tm_test_log_field(line, "truncated", got, sizeof(got)), 1);
	cr_assert_str_eq(got, "1");
	size_t n = strlen(line);
	cr_assert(n >= 12 && strcmp(line + n - 12, " truncated=1") == 0, "the marker is last: %s", line);
}

Test(log, a_value_is_cut_at_an_escape_boundary)
{
	/* quotes take two octets each; controls four: no cut may split one */
	for (size_t k = 0; k < 4; k++) {
		char big[1000];
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (i % 4 == k) ? '\x01' : '"';
		struct tm_logline l;
		tm_log_begin(&l, "gw message");
		tm_log_addn(&l, "detail", big, sizeof(big));
		const char *line = tm_log_end(&l);
		char got[TM_LOG_LINE_MAX];
		cr_assert_eq(tm_test_log_field(line, "detail", got, sizeof(got)), 1, "k=%zu: %s", k, line);
		cr_assert_eq(memcmp(got, big, strlen(got)), 0, "a prefix of the value");
		cr_assert_eq(tm_test_log_field(line, "truncated", got, sizeof(got)), 1);
		cr_assert_leq(strlen(line), TM_LOG_LINE_MAX);
	}
}

Test(log, a_long_line_drops_whole_fields_with_the_marker)
{
	char big[400];
	memset(big, 'b', sizeof(big));
	static const char *keys[] = { "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9" };
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	for (size_t i = 0; i < 10; i++)
		tm_log_addn(&l, keys[i], big, sizeof(big));
	tm_log_add(&l, "outcome", "stored"); /* after a dropped field: dropped too */
	const char *line = tm_log_end(&l);
	size_t n = strlen(line);
	cr_assert_leq(n, TM_LOG_LINE_MAX);
	cr_assert_eq(strcmp(line + n - 12, " truncated=1"), 0, "%s", line);
	char got[TM_LOG_LINE_MAX];
	cr_assert_eq(tm_test_log_field(line, "k0", got, sizeof(got)), 1);
	cr_assert_eq(strlen(got), sizeof(big), "a field is whole or absent");
	cr_assert_eq(tm_test_log_field(line, "k9", got, sizeof(got)), 0);
	cr_assert_eq(tm_test_log_field(line, "outcome", got, sizeof(got)), 0,
		     "no field after one left out: the line is a prefix of its fields");
	cr_assert_eq(tm_test_log_field(line, "truncated", got, sizeof(got)), 1);
}

Test(log, a_bad_key_is_a_broken_invariant, .signal = SIGABRT)
{
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_add(&l, "outcome=stored device", "x");
}

Test(log, a_repeated_key_is_a_broken_invariant, .signal = SIGABRT)
{
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_add(&l, "outcome", "quarantined");
	tm_log_add(&l, "outcome", "stored");
}

Test(log, the_marker_key_is_reserved, .signal = SIGABRT)
{
	struct tm_logline l;
	tm_log_begin(&l, "gw message");
	tm_log_add(&l, "truncated", "0");
}

Test(log, a_tag_is_fixed_words, .signal = SIGABRT)
{
	struct tm_logline l;
	tm_log_begin(&l, "gw\nmessage outcome=stored");
}

/* The reason-code table: unique codes, well-formed, documented in docs/reasons.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/error.h>

#include "common.h"

Test(reason, codes_are_unique_and_well_formed)
{
	size_t n;
	const struct tm_reason *t = tm_reason_table(&n);
	cr_assert_gt(n, 40);
	for (size_t i = 0; i < n; i++) {
		const char *dot = strchr(t[i].code, '.');
		cr_assert_not_null(dot, "%s has no module prefix", t[i].code);
		for (const char *p = t[i].code; *p; p++)
			cr_assert(*p == '.' || *p == '_' || (*p >= 'a' && *p <= 'z'),
				  "%s: bad character", t[i].code);
		cr_assert(strlen(t[i].smtp) == 9 && (t[i].smtp[0] == '4' || t[i].smtp[0] == '5'),
			  "%s: smtp mapping '%s'", t[i].code, t[i].smtp);
		/* transient failures map to 4xx, permanent to 5xx */
		cr_assert_eq(t[i].smtp[0] == '4', t[i].cls != TM_CLASS_PERMANENT, "%s", t[i].code);
		for (size_t j = i + 1; j < n; j++)
			cr_assert_str_neq(t[i].code, t[j].code, "duplicate code");
	}
}

Test(reason, every_code_is_documented_and_every_documented_code_exists)
{
	char *path = tm_test_src("../docs/reasons.md");
	struct tm_buf doc;
	tm_buf_init(&doc);
	tm_test_read(path, &doc);
	size_t n;
	const struct tm_reason *t = tm_reason_table(&n);
	for (size_t i = 0; i < n; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "| `%s` |", t[i].code);
		cr_expect_not_null(strstr((char *)doc.data, needle), "%s missing from docs/reasons.md",
				   t[i].code);
	}
	/* and the other way: each documented row names a real code */
	for (char *p = strstr((char *)doc.data, "| `"); p; p = strstr(p + 1, "| `")) {
		char code[128];
		if (sscanf(p, "| `%127[a-z_.]` |", code) == 1)
			cr_expect_not_null(tm_reason_lookup(code), "docs list unknown code %s", code);
	}
	tm_buf_fini(&doc);
	free(path);
}

Test(reason, error_set_fills_code_and_message)
{
	struct tm_error err = {0};
	cr_assert_eq(tm_error_set(&err, "report.schema", "supplies/%d/level: must be >= %d", 2, -3), -1);
	cr_assert_str_eq(err.reason, "report.schema");
	cr_assert_str_eq(err.msg, "supplies/2/level: must be >= -3");
	tm_error_prefix(&err, "%s", "r.yaml");
	cr_assert_str_eq(err.msg, "r.yaml: supplies/2/level: must be >= -3");
	cr_assert(!tm_reason_is_transient("report.schema"));
	cr_assert(tm_reason_is_transient("io.write"));
	tm_error_clear(&err);
	cr_assert_null(err.reason);
}

/* Wrapping the previous message into a new one (the arguments point into
 * err.msg) keeps it: the message is formatted into a copy first. */
Test(reason, error_set_may_wrap_its_own_message)
{
	struct tm_error err = {0};
	tm_error_set(&err, "io.open", "/x/state.yaml: %s", "No such file or directory");
	tm_error_set(&err, "collect.unavailable", "cannot read the snapshot: %s", err.msg);
	cr_assert_str_eq(err.reason, "collect.unavailable");
	cr_assert_str_eq(err.msg, "cannot read the snapshot: /x/state.yaml: No such file or directory");
	tm_error_set(&err, "outbox.corrupt", "%s (%s)", err.msg, err.reason);
	cr_assert_str_eq(err.msg, "cannot read the snapshot: /x/state.yaml: No such file or directory "
			 "(collect.unavailable)");
}

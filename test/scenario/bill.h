/* Test helpers for the billing tests (test_billing.c, test_meter_rules.c):
 * find a line or a total of a computed bill, and run the real
 * telemail-mailgw on a test's state. Header-only, as ingest.h. */
#ifndef TM_TEST_SCENARIO_BILL_H
#define TM_TEST_SCENARIO_BILL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common.h"
#include "service/billing.h"
#include "store_fixture.h"

static inline const struct gw_billing_line *sc_bill_line(const struct gw_billing *b,
							 const char *serial, const char *counter)
{
	for (size_t i = 0; i < b->n_lines; i++)
		if (strcmp(b->lines[i].serial, serial) == 0 && strcmp(b->lines[i].counter, counter) == 0)
			return &b->lines[i];
	cr_assert_fail("no billing line for %s %s", serial, counter);
	return NULL;
}

static inline const struct gw_billing_total *sc_bill_total(const struct gw_billing *b,
							   const char *tenant, const char *counter)
{
	for (size_t i = 0; i < b->n_totals; i++)
		if (strcmp(b->totals[i].tenant, tenant) == 0 && strcmp(b->totals[i].counter, counter) == 0)
			return &b->totals[i];
	cr_assert_fail("no total for %s %s", tenant, counter);
	return NULL;
}

/* Run the real telemail-mailgw on the state in dir (the store of
 * store_fixture.h), its configuration ending with `extra`; the exit status,
 * and the output in *out (malloc'd). */
static inline int sc_mailgw_run(const char *dir, const char *extra, const char *args, char **out)
{
	char cfg[600], yaml[4096], outpath[600];
	snprintf(cfg, sizeof(cfg), "%s/mailgw.yaml", dir);
	snprintf(outpath, sizeof(outpath), "%s/out.txt", dir);
	int n = snprintf(yaml, sizeof(yaml),
			 "state_dir: %s\ngateway:\n  mailboxes: [t@gw.example]\n"
			 "  keys: [{cert: gw.pem, key: gw.key}]\ntrust:\n  ca_file: ca.pem\n%s%s", dir,
			 tm_store_yaml(), extra);
	tm_test_write(cfg, yaml, (size_t)n);
	int rc = tm_test_sh("'%s/mailgw/telemail-mailgw' -c '%s' %s > '%s' 2>&1",
			    getenv("TM_BUILDDIR"), cfg, args, outpath);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(outpath, &b);
	*out = b.len ? (char *)tm_buf_take(&b, &(size_t){0}) : strdup("");
	tm_buf_fini(&b);
	return rc;
}

#endif

/* Benchmark: open + parse + validate + normalize, beside the bare OpenSSL
 * decrypt + verify of the same messages, in the same run.
 *
 *   bench_open [N]      (default 2000 messages)
 *
 * Prints messages per second for both and the ratio (goal: >= 0.8, the crypto
 * dominates and the rest is cheap), measured in turns CHUNK messages at a
 * time, ROUNDS times over the corpus. Asserts nothing. Needs the test PKI
 * (TM_TEST_BUILDDIR/pki) and a sample report (TM_TESTDIR/reports/good). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/smime.h>

#include "bench_common.h"

#define ROUNDS 3
#define CHUNK 50

static void die(const char *what, const struct tm_error *err)
{
	bench_die("bench_open", what, err);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	struct tm_error err = {0};
	char *gw_pem = bench_path("TM_TEST_BUILDDIR", "test", "pki/gw-ec.pem");
	char *gw_keyf = bench_path("TM_TEST_BUILDDIR", "test", "pki/gw-ec.key");
	char *ca_pem = bench_path("TM_TEST_BUILDDIR", "test", "pki/ca.pem");
	char *dev_pem = bench_path("TM_TEST_BUILDDIR", "test", "pki/dev-XK100001.pem");
	char *dev_key = bench_path("TM_TEST_BUILDDIR", "test", "pki/dev-XK100001.key");
	char *sample = bench_path("TM_TESTDIR", "test", "reports/good/color-mfp-full.yaml");

	struct tm_identity *id = NULL;
	struct tm_certlist *to = tm_certlist_new();
	struct tm_keyring *kr = tm_keyring_new();
	struct tm_trust *trust = NULL;
	if (tm_identity_load(dev_pem, dev_key, NULL, &id, &err) < 0 ||
	    tm_certlist_add_file(to, gw_pem, &err) < 0 ||
	    tm_keyring_add_files(kr, gw_pem, gw_keyf, &err) < 0 ||
	    tm_trust_load(ca_pem, NULL, &trust, &err) < 0)
		die("pki", &err);

	/* the corpus: n distinct reports (id and seq vary), sealed once */
	struct tm_buf *msgs = calloc(n, sizeof(*msgs));
	if (msgs == NULL)
		return 2;
	size_t yaml_len = 0;
	double t0 = bench_now();
	if (bench_seal_corpus(sample, id, to, n, msgs, &yaml_len, &err) < 0)
		die("corpus", &err);
	double t_seal = bench_now() - t0;

	/* bare OpenSSL */
	struct bench_bare *bare = bench_bare_new(gw_pem, gw_keyf, ca_pem);
	if (bare == NULL)
		die("openssl setup", NULL);

	/* bare and telemail in turns, CHUNK messages at a time, ROUNDS times
	 * over the corpus: a load passing over the machine (a shared VM's
	 * neighbours) then falls on both sides alike, not on one side's run */
	struct tm_open_opts oo = { .keys = kr, .trust = trust };
	struct tm_buf json;
	tm_buf_init(&json);
	size_t ok_bare = 0, ok_full = 0;
	double t_bare = 0, t_full = 0;
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
			size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
			t0 = bench_now();
			for (size_t i = c0; i < c1; i++)
				ok_bare += (size_t)bench_bare_open(bare, msgs[i].data, msgs[i].len);
			t_bare += bench_now() - t0;

			t0 = bench_now();
			for (size_t i = c0; i < c1; i++) {
				struct tm_opened op;
				struct tm_report *r = NULL;
				tm_opened_init(&op);
				tm_buf_reset(&json);
				if (tm_smime_open(&oo, msgs[i].data, msgs[i].len, &op, &err) == 0 &&
				    tm_report_read(op.content.data, op.content.len, NULL, &r, &err) == 0 &&
				    tm_report_normalize(r, &json, &err) == 0)
					ok_full++;
				tm_report_free(r);
				tm_opened_fini(&op);
			}
			t_full += bench_now() - t0;
		}
	}
	ok_bare /= ROUNDS;
	ok_full /= ROUNDS;
	t_bare /= ROUNDS;
	t_full /= ROUNDS;

	/* the same work stage by stage, to show where the time goes */
	struct tm_buf *contents = calloc(n, sizeof(*contents));
	struct tm_report **reps = calloc(n, sizeof(*reps));
	if (contents == NULL || reps == NULL)
		return 2;
	t0 = bench_now();
	for (size_t i = 0; i < n; i++) {
		struct tm_opened op;
		tm_opened_init(&op);
		if (tm_smime_open(&oo, msgs[i].data, msgs[i].len, &op, &err) < 0)
			die("open", &err);
		contents[i] = op.content;
		tm_buf_init(&op.content);
		tm_opened_fini(&op);
	}
	double t_open = bench_now() - t0;
	t0 = bench_now();
	for (size_t i = 0; i < n; i++)
		if (tm_report_read(contents[i].data, contents[i].len, NULL, &reps[i], &err) < 0)
			die("read", &err);
	double t_read = bench_now() - t0;
	t0 = bench_now();
	for (size_t i = 0; i < n; i++) {
		tm_buf_reset(&json);
		if (tm_report_normalize(reps[i], &json, &err) < 0)
			die("normalize", &err);
	}
	double t_norm = bench_now() - t0;
	for (size_t i = 0; i < n; i++) {
		tm_buf_fini(&contents[i]);
		tm_report_free(reps[i]);
	}
	free(contents);
	free(reps);

	double rate_bare = (double)n / t_bare, rate_full = (double)n / t_full;
	printf("bench_open: %zu messages (%zu bytes each, report %zu bytes; half opaque, half detached), EC P-256 gateway key; in turns, %d at a time, %d rounds\n",
	       n, msgs[0].len, yaml_len, CHUNK, ROUNDS);
	printf("  seal (sign + encrypt + MIME):                  %8.0f msg/s\n", (double)n / t_seal);
	printf("  bare OpenSSL decrypt + verify:                 %8.0f msg/s  (%zu ok)\n", rate_bare, ok_bare);
	printf("  telemail open + read + validate + normalize:   %8.0f msg/s  (%zu ok)\n", rate_full, ok_full);
	printf("  ratio telemail / bare: %.2f (goal >= 0.80)\n", rate_full / rate_bare);
	printf("  per message: bare %.0f us; telemail %.0f us = open (MIME + CMS) %.0f + read (YAML + schema) %.0f + normalize %.0f\n",
	       1e6 * t_bare / (double)n, 1e6 * t_full / (double)n, 1e6 * t_open / (double)n,
	       1e6 * t_read / (double)n, 1e6 * t_norm / (double)n);

	for (size_t i = 0; i < n; i++)
		tm_buf_fini(&msgs[i]);
	free(msgs);
	tm_buf_fini(&json);
	bench_bare_free(bare);
	tm_identity_free(id);
	tm_certlist_free(to);
	tm_keyring_free(kr);
	tm_trust_free(trust);
	free(gw_pem), free(gw_keyf), free(ca_pem), free(dev_pem), free(dev_key), free(sample);
	return ok_full == n && ok_bare == n ? 0 : 1;
}

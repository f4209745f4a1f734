/* Benchmark: open + parse + validate + normalize, beside the bare OpenSSL
 * decrypt + verify of the same messages, in the same run.
 *
 *   bench_open [N]      (default 2000 messages)
 *
 * Prints messages per second for both and the ratio (goal: >= 0.8, the crypto
 * dominates and the rest is cheap). Asserts nothing. Needs the test PKI
 * (TM_TEST_BUILDDIR/pki) and a sample report (TM_TESTDIR/reports/good). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/normalize.h>
#include <telemail/report.h>
#include <telemail/smime.h>

static char *path_join(const char *env, const char *fallback, const char *rel)
{
	const char *base = getenv(env);
	if (base == NULL)
		base = fallback;
	size_t n = strlen(base) + strlen(rel) + 2;
	char *p = malloc(n);
	if (p == NULL)
		exit(2);
	snprintf(p, n, "%s/%s", base, rel);
	return p;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct tm_error *err)
{
	fprintf(stderr, "bench_open: %s: %s: %s\n", what, err ? err->reason : "", err ? err->msg : "");
	exit(2);
}

/* The baseline: what any S/MIME gateway must do at the least. */
static int bare_open(const uint8_t *msg, size_t len, X509 *gw_cert, EVP_PKEY *gw_key,
		     X509_STORE *store)
{
	int ok = 0;
	BIO *in = BIO_new_mem_buf(msg, (int)len), *inner = BIO_new(BIO_s_mem());
	BIO *content = BIO_new(BIO_s_mem()), *detached = NULL;
	CMS_ContentInfo *env = SMIME_read_CMS(in, NULL), *sig = NULL;
	if (env == NULL || !CMS_decrypt(env, gw_key, gw_cert, NULL, inner, 0))
		goto out;
	BIO_set_mem_eof_return(inner, 0); /* a drained memory BIO is at end of file */
	sig = SMIME_read_CMS(inner, &detached);
	if (sig == NULL || !CMS_verify(sig, NULL, store, detached, content, detached ? 0 : CMS_BINARY))
		goto out;
	ok = 1;
out:
	if (!ok && getenv("BENCH_DEBUG"))
		ERR_print_errors_fp(stderr);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(sig);
	BIO_free(in);
	BIO_free(inner);
	BIO_free(content);
	BIO_free(detached);
	ERR_clear_error();
	return ok;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	struct tm_error err = {0};
	char *gw_pem = path_join("TM_TEST_BUILDDIR", "test", "pki/gw-ec.pem");
	char *gw_keyf = path_join("TM_TEST_BUILDDIR", "test", "pki/gw-ec.key");
	char *ca_pem = path_join("TM_TEST_BUILDDIR", "test", "pki/ca.pem");
	char *dev_pem = path_join("TM_TEST_BUILDDIR", "test", "pki/dev-XK100001.pem");
	char *dev_key = path_join("TM_TEST_BUILDDIR", "test", "pki/dev-XK100001.key");
	char *sample = path_join("TM_TESTDIR", "test", "reports/good/color-mfp-full.yaml");

	struct tm_identity *id = NULL;
	struct tm_certlist *to = tm_certlist_new();
	struct tm_keyring *kr = tm_keyring_new();
	struct tm_trust *trust = NULL;
	if (tm_identity_load(dev_pem, dev_key, NULL, &id, &err) < 0 ||
	    tm_certlist_add_file(to, gw_pem, &err) < 0 ||
	    tm_keyring_add_files(kr, gw_pem, gw_keyf, &err) < 0 ||
	    tm_trust_load(ca_pem, NULL, &trust, &err) < 0)
		die("pki", &err);

	struct tm_buf yaml;
	struct tm_report *rep = NULL;
	tm_buf_init(&yaml);
	if (tm_buf_read_file(&yaml, sample, 1 << 20, &err) < 0 ||
	    tm_report_read(yaml.data, yaml.len, NULL, &rep, &err) < 0)
		die(sample, &err);

	/* the corpus: n distinct reports (id and seq vary), sealed once */
	struct tm_buf *msgs = calloc(n, sizeof(*msgs));
	if (msgs == NULL)
		return 2;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		char idbuf[64];
		snprintf(idbuf, sizeof(idbuf), "5f2c0000-0000-4000-8000-%012zx", i);
		free(rep->id);
		rep->id = strdup(idbuf);
		rep->seq = (int64_t)i + 1;
		tm_buf_reset(&yaml);
		if (tm_report_write_yaml(rep, &yaml, &err) < 0)
			die("write", &err);
		struct tm_seal_opts so = { .signer = id, .recipients = to, .detached = (i % 2) == 1,
					   .from = "xk100001@devices.example",
					   .to = "telemail@gateway.example" };
		tm_buf_init(&msgs[i]);
		if (tm_smime_seal(&so, yaml.data, yaml.len, &msgs[i], &err) < 0)
			die("seal", &err);
	}
	double t_seal = now_s() - t0;

	/* bare OpenSSL */
	FILE *f = fopen(gw_pem, "r");
	X509 *gw_cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(gw_keyf, "r");
	EVP_PKEY *gw_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	X509_STORE *store = X509_STORE_new();
	if (!gw_cert || !gw_key || !store || !X509_STORE_load_file(store, ca_pem))
		die("openssl setup", NULL);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_get0_param(store), X509_PURPOSE_SMIME_SIGN);

	size_t ok_bare = 0, ok_full = 0;
	t0 = now_s();
	for (size_t i = 0; i < n; i++)
		ok_bare += (size_t)bare_open(msgs[i].data, msgs[i].len, gw_cert, gw_key, store);
	double t_bare = now_s() - t0;

	struct tm_open_opts oo = { .keys = kr, .trust = trust };
	struct tm_buf json;
	tm_buf_init(&json);
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
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
	double t_full = now_s() - t0;

	/* the same work stage by stage, to show where the time goes */
	struct tm_buf *contents = calloc(n, sizeof(*contents));
	struct tm_report **reps = calloc(n, sizeof(*reps));
	if (contents == NULL || reps == NULL)
		return 2;
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		struct tm_opened op;
		tm_opened_init(&op);
		if (tm_smime_open(&oo, msgs[i].data, msgs[i].len, &op, &err) < 0)
			die("open", &err);
		contents[i] = op.content;
		tm_buf_init(&op.content);
		tm_opened_fini(&op);
	}
	double t_open = now_s() - t0;
	t0 = now_s();
	for (size_t i = 0; i < n; i++)
		if (tm_report_read(contents[i].data, contents[i].len, NULL, &reps[i], &err) < 0)
			die("read", &err);
	double t_read = now_s() - t0;
	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		tm_buf_reset(&json);
		if (tm_report_normalize(reps[i], &json, &err) < 0)
			die("normalize", &err);
	}
	double t_norm = now_s() - t0;
	for (size_t i = 0; i < n; i++) {
		tm_buf_fini(&contents[i]);
		tm_report_free(reps[i]);
	}
	free(contents);
	free(reps);

	double rate_bare = (double)n / t_bare, rate_full = (double)n / t_full;
	printf("bench_open: %zu messages (%zu bytes each, report %zu bytes; half opaque, half detached), EC P-256 gateway key\n",
	       n, msgs[0].len, yaml.len);
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
	tm_buf_fini(&yaml);
	tm_report_free(rep);
	X509_free(gw_cert);
	EVP_PKEY_free(gw_key);
	X509_STORE_free(store);
	tm_identity_free(id);
	tm_certlist_free(to);
	tm_keyring_free(kr);
	tm_trust_free(trust);
	free(gw_pem), free(gw_keyf), free(ca_pem), free(dev_pem), free(dev_key), free(sample);
	return ok_full == n && ok_bare == n ? 0 : 1;
}

/* What the benchmarks share (see bench_common.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <telemail/report.h>
#include <telemail/smime.h>

#include "bench_common.h"

#define BENCH_MAX_THREADS 64

char *bench_path(const char *env, const char *fallback, const char *rel)
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

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_die(const char *prog, const char *what, const struct tm_error *err)
{
	fprintf(stderr, "%s: %s: %s: %s\n", prog, what, err && err->reason ? err->reason : "",
		err ? err->msg : "");
	exit(2);
}

int bench_seal_corpus(const char *sample, const struct tm_identity *signer,
		      const struct tm_certlist *to, size_t n, struct tm_buf *msgs,
		      size_t *yaml_len, struct tm_error *err)
{
	struct tm_buf yaml;
	struct tm_report *rep = NULL;
	int rc = -1;
	tm_buf_init(&yaml);
	if (tm_buf_read_file(&yaml, sample, 1 << 20, err) < 0 ||
	    tm_report_read(yaml.data, yaml.len, NULL, &rep, err) < 0)
		goto out;
	/* signed now: generated_at must agree with the signing time (issue 14) */
	{
		char now[32];
		time_t t = time(NULL);
		struct tm tmv;
		strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tmv));
		free(rep->generated_at);
		if ((rep->generated_at = strdup(now)) == NULL) {
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char idbuf[64];
		snprintf(idbuf, sizeof(idbuf), "5f2c0000-0000-4000-8000-%012zx", i);
		free(rep->id);
		if ((rep->id = strdup(idbuf)) == NULL) {
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
		rep->seq = (int64_t)i + 1;
		tm_buf_reset(&yaml);
		if (tm_report_write_yaml(rep, &yaml, err) < 0)
			goto out;
		struct tm_seal_opts so = { .signer = signer, .recipients = to,
					   .detached = (i % 2) == 1,
					   .from = "xk100001@devices.example",
					   .to = "telemail@gateway.example" };
		tm_buf_init(&msgs[i]);
		if (tm_smime_seal(&so, yaml.data, yaml.len, &msgs[i], err) < 0)
			goto out;
	}
	*yaml_len = yaml.len;
	rc = 0;
out:
	tm_buf_fini(&yaml);
	tm_report_free(rep);
	return rc;
}

struct bench_bare {
	X509 *cert;
	EVP_PKEY *key;
	X509_STORE *store;
};

struct bench_bare *bench_bare_new(const char *gw_pem, const char *gw_key, const char *ca_pem)
{
	struct bench_bare *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	FILE *f = fopen(gw_pem, "r");
	b->cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(gw_key, "r");
	b->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	b->store = X509_STORE_new();
	if (!b->cert || !b->key || !b->store || !X509_STORE_load_file(b->store, ca_pem)) {
		bench_bare_free(b);
		return NULL;
	}
	X509_VERIFY_PARAM_set_purpose(X509_STORE_get0_param(b->store), X509_PURPOSE_SMIME_SIGN);
	return b;
}

void bench_bare_free(struct bench_bare *b)
{
	if (b == NULL)
		return;
	X509_free(b->cert);
	EVP_PKEY_free(b->key);
	X509_STORE_free(b->store);
	free(b);
}

int bench_bare_open(const struct bench_bare *b, const uint8_t *msg, size_t len)
{
	int ok = 0;
	BIO *in = BIO_new_mem_buf(msg, (int)len), *inner = BIO_new(BIO_s_mem());
	BIO *content = BIO_new(BIO_s_mem()), *detached = NULL;
	CMS_ContentInfo *env = SMIME_read_CMS(in, NULL), *sig = NULL;
	if (env == NULL || !CMS_decrypt(env, b->key, b->cert, NULL, inner, 0))
		goto out;
	BIO_set_mem_eof_return(inner, 0); /* a drained memory BIO is at end of file */
	sig = SMIME_read_CMS(inner, &detached);
	if (sig == NULL ||
	    !CMS_verify(sig, NULL, b->store, detached, content, detached ? 0 : CMS_BINARY))
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

struct bare_run {
	const struct bench_bare *b;
	const struct tm_buf *msgs;
	size_t n;
	atomic_size_t next, ok;
};

static void *bare_thread(void *arg)
{
	struct bare_run *r = arg;
	size_t i;
	while ((i = atomic_fetch_add(&r->next, 1)) < r->n)
		if (bench_bare_open(r->b, r->msgs[i].data, r->msgs[i].len))
			atomic_fetch_add(&r->ok, 1);
	return NULL;
}

double bench_bare_rate(const struct bench_bare *b, const struct tm_buf *msgs, size_t n,
		       unsigned threads, size_t *ok)
{
	struct bare_run r = { .b = b, .msgs = msgs, .n = n };
	atomic_init(&r.next, 0);
	atomic_init(&r.ok, 0);
	pthread_t th[BENCH_MAX_THREADS];
	if (threads == 0)
		threads = 1;
	if (threads > BENCH_MAX_THREADS)
		threads = BENCH_MAX_THREADS;
	double t0 = bench_now();
	unsigned started = 0;
	for (; started < threads; started++)
		if (pthread_create(&th[started], NULL, bare_thread, &r) != 0)
			break;
	if (started == 0)
		bare_thread(&r);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double t = bench_now() - t0;
	*ok = atomic_load(&r.ok);
	return (double)n / t;
}

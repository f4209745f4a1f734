/* What the benchmarks share (see bench_common.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <telemail/report.h>
#include <telemail/smime.h>

#include "bench_common.h"

#define BENCH_MAX_THREADS 64
#define BENCH_FROM_MAX 64

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
	return bench_seal_corpus_k(sample, &signer, NULL, 1, 0, to, n, msgs, yaml_len, err);
}

int bench_seal_corpus_k(const char *sample, const struct tm_identity *const *signers,
			const char *const *serials, size_t k, unsigned salt,
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
		snprintf(idbuf, sizeof(idbuf), "5f2c%04x-0000-4000-8000-%012zx", salt & 0xffffu, i);
		free(rep->id);
		if ((rep->id = strdup(idbuf)) == NULL) {
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
		rep->seq = (int64_t)(i / k) + 1;
		char from[BENCH_FROM_MAX] = "xk100001@devices.example";
		if (serials != NULL) {
			free(rep->serial);
			if ((rep->serial = strdup(serials[i % k])) == NULL) {
				tm_error_set(err, "internal.nomem", "out of memory");
				goto out;
			}
			size_t m = 0;
			for (; serials[i % k][m] != '\0' && m < 32; m++)
				from[m] = (char)tolower((unsigned char)serials[i % k][m]);
			snprintf(from + m, sizeof(from) - m, "@devices.example");
		}
		tm_buf_reset(&yaml);
		if (tm_report_write_yaml(rep, &yaml, err) < 0)
			goto out;
		struct tm_seal_opts so = { .signer = signers[i % k], .recipients = to,
					   .detached = ((i / k) % 2) == 1,
					   .from = from,
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

/* ---- child processes ---- */

pid_t bench_spawn(char *const argv[], const char *out)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench: fork");
		exit(2);
	}
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

void bench_reap(pid_t pid, double t0, struct bench_child *c)
{
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	if (wait4(pid, &c->status, 0, &ru) != pid) {
		perror("bench: wait4");
		exit(2);
	}
	c->seconds = bench_now() - t0;
	c->maxrss_kb = ru.ru_maxrss;
	c->cpu_user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	c->cpu_sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void bench_run(char *const argv[], const char *out, struct bench_child *c)
{
	double t0 = bench_now();
	bench_reap(bench_spawn(argv, out), t0, c);
}

bool bench_child_ok(const struct bench_child *c)
{
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

void bench_must(char *const argv[])
{
	struct bench_child c;
	bench_run(argv, NULL, &c);
	if (!bench_child_ok(&c)) {
		fprintf(stderr, "bench: %s", argv[0]);
		for (size_t i = 1; argv[i] != NULL; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, ": failed (status %d)\n", c.status);
		exit(2);
	}
}

void bench_in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t size,
		    const char *what)
{
	int fds[2];
	if (pipe(fds) != 0) {
		perror("bench: pipe");
		exit(2);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench: fork");
		exit(2);
	}
	if (pid == 0) {
		close(fds[0]);
		fn(arg, out);
		_exit(write(fds[1], out, size) == (ssize_t)size ? 0 : 2);
	}
	close(fds[1]);
	int st = 0;
	if (read(fds[0], out, size) != (ssize_t)size || waitpid(pid, &st, 0) != pid) {
		fprintf(stderr, "bench: %s failed\n", what);
		exit(2);
	}
	close(fds[0]);
}

void bench_gw_config(const char *cfg, const char *state, const char *pki, const char *store_yaml)
{
	FILE *f = fopen(cfg, "w");
	if (f == NULL) {
		perror(cfg);
		exit(2);
	}
	fprintf(f,
		"state_dir: %s\n"
		"gateway:\n"
		"  mailboxes: [telemail@gateway.example]\n"
		"  keys:\n"
		"    - cert: %s/gw-ec.pem\n"
		"      key: %s/gw-ec.key\n"
		"trust:\n"
		"  ca_file: %s/ca.pem\n"
		"%s",
		state, pki, pki, pki, store_yaml != NULL ? store_yaml : "");
	if (fclose(f) != 0) {
		perror(cfg);
		exit(2);
	}
}

void bench_summary_line(const char *out, const char *prefix, char *buf, size_t n)
{
	struct tm_buf b;
	struct tm_error err = {0};
	buf[0] = '\0';
	tm_buf_init(&b);
	if (tm_buf_read_file(&b, out, 64u << 20, &err) == 0 && b.len > 0) {
		tm_buf_append(&b, "", 1);
		const char *s = (const char *)b.data;
		size_t pl = strlen(prefix);
		for (const char *l = s; l != NULL && *l != '\0';) {
			if (strncmp(l, prefix, pl) == 0) {
				snprintf(buf, n, "%.*s", (int)strcspn(l, "\n"), l);
				break;
			}
			l = strchr(l, '\n');
			l = l != NULL ? l + 1 : NULL;
		}
	}
	tm_buf_fini(&b);
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the corpus as .eml files ---- */

void bench_eml_path(char *buf, size_t size, const char *dir, size_t i)
{
	snprintf(buf, size, "%s/m%06zu.eml", dir, i);
}

void bench_collector_serial(char *buf, size_t size, unsigned salt, size_t d)
{
	if (salt == 0)
		snprintf(buf, size, "XC%06zu", d + 1);
	else
		snprintf(buf, size, "XC%05u%05zu", salt, d + 1);
}

void bench_enroll_collector(const char *gw, const char *cfg, const char *pki, const char *tenant,
			    size_t n, unsigned salt)
{
	char pem[600];
	snprintf(pem, sizeof(pem), "%s/collector.pem", pki);
	char **argv = calloc(12 + 2 * n, sizeof(*argv));
	char (*serial)[24] = calloc(n > 0 ? n : 1, sizeof(*serial));
	if (argv == NULL || serial == NULL) {
		fprintf(stderr, "bench: out of memory\n");
		exit(2);
	}
	size_t a = 0;
	const char *head[] = { gw, "-c", cfg, "enroll", "--cert", pem, "--tenant", tenant,
			       "--role", "collector" };
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		argv[a++] = (char *)head[i];
	for (size_t d = 0; d < n; d++) {
		bench_collector_serial(serial[d], sizeof(serial[d]), salt, d);
		argv[a++] = "--serial";
		argv[a++] = serial[d];
	}
	bench_must(argv);
	free(serial);
	free(argv);
}

/* ids[0..k) and serials[0..k): the test devices', or the collector's for
 * k devices of its own (every ids[d] the one identity, freed once). */
static int corpus_signers(const struct bench_corpus *c, size_t k, struct tm_identity **ids,
			  char **serials, struct tm_error *err)
{
	static const char *const devices[] = { "XK100001", "XK100002", "XK100003" };
	char pem[600], key[600];
	if (c->collector) {
		snprintf(pem, sizeof(pem), "%s/collector.pem", c->pki);
		snprintf(key, sizeof(key), "%s/collector.key", c->pki);
		if (tm_identity_load(pem, key, NULL, &ids[0], err) < 0)
			return -1;
	}
	for (size_t d = 0; d < k; d++) {
		char serial[24];
		if (c->collector) {
			bench_collector_serial(serial, sizeof(serial), c->salt, d);
			ids[d] = ids[0];
		} else {
			snprintf(serial, sizeof(serial), "%s", devices[d]);
			snprintf(pem, sizeof(pem), "%s/dev-%s.pem", c->pki, serial);
			snprintf(key, sizeof(key), "%s/dev-%s.key", c->pki, serial);
			if (tm_identity_load(pem, key, NULL, &ids[d], err) < 0)
				return -1;
		}
		if ((serials[d] = strdup(serial)) == NULL)
			return tm_error_set(err, "internal.nomem", "out of memory");
	}
	return 0;
}

int bench_corpus_write(const struct bench_corpus *c, struct tm_buf *msgs, size_t *bytes,
		       size_t *yaml_len, double *seal_rate, struct tm_error *err)
{
	const size_t k = c->k == 0 ? 1 : c->k;
	if (k > (c->collector ? BENCH_COLLECTOR_MAX : 3))
		return tm_error_set(err, "internal.bug", "bench: at most %d devices",
				    c->collector ? BENCH_COLLECTOR_MAX : 3);
	struct tm_identity **ids = calloc(k, sizeof(*ids));
	char **serials = calloc(k, sizeof(*serials));
	struct tm_certlist *to = tm_certlist_new();
	struct tm_buf *own = msgs == NULL ? calloc(c->n, sizeof(*own)) : msgs;
	char *gw_pem = bench_path("TM_TEST_BUILDDIR", "test", "pki/gw-ec.pem");
	int rc = -1;
	if (ids == NULL || serials == NULL || to == NULL || own == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (tm_certlist_add_file(to, gw_pem, err) < 0 ||
	    corpus_signers(c, k, ids, serials, err) < 0)
		goto out;
	double t0 = bench_now();
	if (bench_seal_corpus_k(c->sample, (const struct tm_identity *const *)ids,
				k > 1 ? (const char *const *)serials : NULL, k, c->salt, to, c->n,
				own, yaml_len, err) < 0)
		goto out;
	if (seal_rate != NULL)
		*seal_rate = (double)c->n / (bench_now() - t0);
	*bytes = 0;
	for (size_t i = 0; i < c->n; i++) {
		char path[700];
		bench_eml_path(path, sizeof(path), c->dir, i);
		FILE *f = fopen(path, "wb");
		if (f == NULL || fwrite(own[i].data, 1, own[i].len, f) != own[i].len ||
		    fclose(f) != 0) {
			tm_error_set(err, "io.write", "%s: cannot write", path);
			goto out;
		}
		*bytes += own[i].len;
	}
	rc = 0;
out:
	if (own != msgs && own != NULL) {
		for (size_t i = 0; i < c->n; i++)
			tm_buf_fini(&own[i]);
		free(own);
	}
	for (size_t d = 0; ids != NULL && d < (c->collector ? 1 : k); d++)
		tm_identity_free(ids[d]);
	for (size_t d = 0; serials != NULL && d < k; d++)
		free(serials[d]);
	free(ids);
	free(serials);
	tm_certlist_free(to);
	free(gw_pem);
	return rc;
}

/* ---- the run's temporary directory ---- */

char *bench_tmpdir(const char *prog, char *tmpl)
{
	char *d = mkdtemp(tmpl);
	if (d == NULL) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", prog, tmpl, strerror(errno));
		exit(2);
	}
	return d;
}

void bench_cleanup(const char *prog, const char *tmp)
{
	char rm[700];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", tmp);
	if (getenv("TM_BENCH_KEEP") != NULL) /* for profiling: the corpus and state stay */
		printf("  kept: %s\n", tmp);
	else if (system(rm) != 0)
		fprintf(stderr, "%s: could not remove %s\n", prog, tmp);
}

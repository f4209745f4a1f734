/* Benchmark: forwarding (issue 17) with the real telemail-mailgw binary.
 *
 *   bench_forward [N]     (default 5000 sealed reports, one device)
 *
 * The receiver measured against is a small one inside this process (a
 * thread: libevent's evhttp over OpenSSL on 127.0.0.1, the test PKI's
 * gw-tls certificate; it counts the events of each body and answers 200),
 * not test/forward/receiver.py: the Python one parses every event as JSON
 * and writes files, and would measure itself rather than the sender.
 *
 * Per round, side by side on the same corpus, each in a fresh state:
 *   plain     `replay --workers 2` without a forward: section (no outbox)
 *   outbox    the same with a forward: section (every report queued in the
 *             transaction that stores it), then `forward run-once` sends
 *             them all: events per second forwarded, from the fan-out to the
 *             last batch acknowledged (batches of batch_max_events, default
 *             100, and of 1,000)
 *   beside    the same replay while a forwarder runs beside it on the same
 *             store (`forward run-once` every second, as serve's forwarder
 *             with forward.every: 1s), then a last pass
 * Two rounds, the second in the other order; the ratios ingest with / without
 * forwarding are printed per round and as their mean (goal: forwarding costs
 * ingest at most 10 %, a ratio >= 0.90), by wall time and by the replay's
 * CPU time per message (on a shared machine the wall time follows the
 * neighbours' load). Asserts nothing about speed; exits 1 when a replay
 * failed or the receiver did not count every event. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/smime.h>

#include "bench_common.h"

static void die(const char *what, const struct tm_error *err)
{
	bench_die("bench_forward", what, err);
}

/* ---- the receiver: a thread of this process ---- */

struct rx {
	SSL_CTX *tls;
	struct event_base *base;
	struct evhttp *http;
	int port;
	atomic_size_t events, requests;
};

static struct bufferevent *rx_conn(struct event_base *base, void *arg)
{
	struct rx *r = arg;
	return bufferevent_openssl_socket_new(base, -1, SSL_new(r->tls), BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

/* A batch or NDJSON body: one "specversion" per event. */
static void rx_request(struct evhttp_request *req, void *arg)
{
	struct rx *r = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in), n = 0;
	const char *p = (const char *)evbuffer_pullup(in, -1), *end = p + len;
	static const char key[] = "\"specversion\"";
	while (p != NULL && (p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
		n++;
		p += sizeof(key) - 1;
	}
	atomic_fetch_add(&r->events, n);
	atomic_fetch_add(&r->requests, 1);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	event_base_dispatch(r->base);
	return NULL;
}

static void rx_start(struct rx *r, const char *cert, const char *key)
{
	r->tls = SSL_CTX_new(TLS_server_method());
	if (r->tls == NULL || SSL_CTX_use_certificate_chain_file(r->tls, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(r->tls, key, SSL_FILETYPE_PEM) != 1)
		die("receiver TLS", NULL);
	r->base = event_base_new();
	r->http = r->base != NULL ? evhttp_new(r->base) : NULL;
	if (r->http == NULL)
		die("receiver", NULL);
	evhttp_set_bevcb(r->http, rx_conn, r);
	evhttp_set_gencb(r->http, rx_request, r);
	evhttp_set_max_body_size(r->http, 256u << 20);
	struct evhttp_bound_socket *b = evhttp_bind_socket_with_handle(r->http, "127.0.0.1", 0);
	if (b == NULL)
		die("receiver bind", NULL);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	if (getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&sa, &sl) != 0)
		die("receiver getsockname", NULL);
	r->port = ntohs(sa.sin_port);
	pthread_t th;
	if (pthread_create(&th, NULL, rx_main, r) != 0)
		die("receiver thread", NULL);
	pthread_detach(th);   /* runs until the process ends */
}

/* ---- the gateway ---- */

struct paths {
	const char *gw, *tmp, *pki, *in;
	int port;
};

/* CPU seconds (user + system) of the last child run() waited for: on a
 * shared machine the wall time drifts with the neighbours' load, the CPU
 * time much less. */
static double last_cpu;

/* Run argv (stdout and stderr to /dev/null); its exit status, -1 if killed;
 * the wall time into *seconds when not NULL, its CPU time into last_cpu. */
static int run(char *const argv[], double *seconds)
{
	double t0 = bench_now();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	if (wait4(pid, &st, 0, &ru) != pid)
		die("wait4", NULL);
	last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (seconds != NULL)
		*seconds = bench_now() - t0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A fresh state directory and its configuration (with a forward: section
 * to the receiver when batch > 0), the tenant and the device enrolled. */
static void state(const struct paths *p, const char *name, int batch, char *cfg, size_t cap)
{
	snprintf(cfg, cap, "%s/%s.yaml", p->tmp, name);
	FILE *f = fopen(cfg, "w");
	if (f == NULL)
		die(cfg, NULL);
	fprintf(f, "state_dir: %s/%s\ngateway:\n  mailboxes: [telemail@gateway.example]\n"
		"  keys:\n    - cert: %s/gw-ec.pem\n      key: %s/gw-ec.key\n"
		"trust:\n  ca_file: %s/ca.pem\n", p->tmp, name, p->pki, p->pki, p->pki);
	if (batch > 0)
		fprintf(f, "forward:\n  gateway: bench\n  endpoints:\n    - name: cloud\n"
			"      url: https://127.0.0.1:%d/events\n      ca_file: %s/ca.pem\n"
			"      events: [report]\n      batch_max_events: %d\n", p->port, p->pki, batch);
	if (fclose(f) != 0)
		die(cfg, NULL);
	char pem[700];
	snprintf(pem, sizeof(pem), "%s/dev-XK100001.pem", p->pki);
	char *tenant[] = { (char *)p->gw, "-c", cfg, "tenant", "add", "acme", NULL };
	char *enroll[] = { (char *)p->gw, "-c", cfg, "enroll", "--cert", pem, "--tenant", "acme",
			   NULL };
	if (run(tenant, NULL) != 0 || run(enroll, NULL) != 0)
		die("tenant add / enroll", NULL);
}

/* Messages per second of `replay --workers 2` of the corpus (0: failed);
 * its CPU milliseconds per message into *cpu_ms. */
static double replay(const struct paths *p, const char *cfg, size_t n, double *cpu_ms)
{
	char *argv[] = { (char *)p->gw, "-c", (char *)cfg, "replay", "--workers", "2",
			 (char *)p->in, NULL };
	double s;
	int rc = run(argv, &s);
	*cpu_ms = last_cpu * 1000 / (double)n;
	return rc == 0 ? (double)n / s : 0;
}

/* Events per second of one `forward run-once` (0: failed or not all counted). */
static double forward_all(const struct paths *p, const char *cfg, struct rx *r, size_t n)
{
	size_t before = atomic_load(&r->events);
	char *argv[] = { (char *)p->gw, "-c", (char *)cfg, "forward", "run-once", NULL };
	double s;
	int rc = run(argv, &s);
	size_t got = atomic_load(&r->events) - before;
	if (rc != 0 || got != n) {
		fprintf(stderr, "bench_forward: run-once exit %d, %zu of %zu events counted\n", rc,
			got, n);
		return 0;
	}
	return (double)n / s;
}

/* The replay while `forward run-once` runs every second beside it; then a
 * last pass: every event must have been counted. */
static double replay_beside(const struct paths *p, const char *cfg, struct rx *r, size_t n,
			    double *cpu_ms, int *ok)
{
	size_t before = atomic_load(&r->events);
	char stop[700], loop[2048];
	snprintf(stop, sizeof(stop), "%s/stop-forwarder", p->tmp);
	unlink(stop);
	snprintf(loop, sizeof(loop),
		 "while [ ! -e '%s' ]; do '%s' -c '%s' forward run-once >/dev/null 2>&1; "
		 "sleep 1; done", stop, p->gw, cfg);
	char *sh[] = { "/bin/sh", "-c", loop, NULL };
	pid_t pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		execv(sh[0], sh);
		_exit(127);
	}
	double rate = replay(p, cfg, n, cpu_ms);
	FILE *f = fopen(stop, "w");
	if (f != NULL)
		fclose(f);
	waitpid(pid, NULL, 0);
	char *argv[] = { (char *)p->gw, "-c", (char *)cfg, "forward", "run-once", NULL };
	int rc = run(argv, NULL);
	size_t got = atomic_load(&r->events) - before;
	*ok = rate > 0 && rc == 0 && got == n;
	if (!*ok)
		fprintf(stderr, "bench_forward: beside: last run-once exit %d, %zu of %zu events\n",
			rc, got, n);
	return rate;
}

struct round {
	double plain, outbox, beside, fwd100, fwd1000;
	double cpu_plain, cpu_outbox, cpu_beside;   /* replay's CPU ms per message */
};

static int one_round(const struct paths *p, struct rx *r, size_t n, int k, struct round *o)
{
	char cfg[3][700], name[32];
	static const char *const what[] = { "plain", "outbox", "beside" };
	static const int batch[] = { 0, 100, 100 };
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s-%d", what[i], k);
		state(p, name, batch[i], cfg[i], sizeof(cfg[i]));
	}
	int ok = 1, ok_beside = 0;
	if (k == 0) {
		o->plain = replay(p, cfg[0], n, &o->cpu_plain);
		o->outbox = replay(p, cfg[1], n, &o->cpu_outbox);
		o->beside = replay_beside(p, cfg[2], r, n, &o->cpu_beside, &ok_beside);
	} else {   /* the other order: the machine's speed drifts */
		o->beside = replay_beside(p, cfg[2], r, n, &o->cpu_beside, &ok_beside);
		o->outbox = replay(p, cfg[1], n, &o->cpu_outbox);
		o->plain = replay(p, cfg[0], n, &o->cpu_plain);
	}
	o->fwd100 = forward_all(p, cfg[1], r, n);
	/* the same queue again with batches of 1,000: a fresh store */
	snprintf(name, sizeof(name), "outbox1000-%d", k);
	char cfg1000[700];
	state(p, name, 1000, cfg1000, sizeof(cfg1000));
	double cpu;
	if (replay(p, cfg1000, n, &cpu) == 0)
		ok = 0;
	o->fwd1000 = forward_all(p, cfg1000, r, n);
	return ok && ok_beside && o->plain > 0 && o->outbox > 0 && o->fwd100 > 0 && o->fwd1000 > 0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000;
	if (n == 0)
		n = 5000;
	signal(SIGPIPE, SIG_IGN);
	char *pki = bench_path("TM_TEST_BUILDDIR", "test", "pki");
	char *sample = bench_path("TM_TESTDIR", "test", "reports/good/color-mfp-full.yaml");
	char *gw = bench_path("TM_BUILDDIR", ".", "mailgw/telemail-mailgw");
	char tmpl[] = "/tmp/tm-bench-forward.XXXXXX";
	char *tmp = mkdtemp(tmpl);
	if (tmp == NULL)
		die("mkdtemp", NULL);
	char in[600], f1[700], f2[700], f3[700];
	snprintf(in, sizeof(in), "%s/in", tmp);
	if (mkdir(in, 0700) != 0)
		die(in, NULL);

	/* the corpus: n reports of one device, sealed to the gateway */
	struct tm_error err = {0};
	struct tm_identity *id = NULL;
	struct tm_certlist *to = tm_certlist_new();
	snprintf(f1, sizeof(f1), "%s/dev-XK100001.pem", pki);
	snprintf(f2, sizeof(f2), "%s/dev-XK100001.key", pki);
	snprintf(f3, sizeof(f3), "%s/gw-ec.pem", pki);
	if (to == NULL || tm_identity_load(f1, f2, NULL, &id, &err) < 0 ||
	    tm_certlist_add_file(to, f3, &err) < 0)
		die("pki", &err);
	struct tm_buf *msgs = calloc(n, sizeof(*msgs));
	size_t yaml_len = 0;
	if (msgs == NULL || bench_seal_corpus(sample, id, to, n, msgs, &yaml_len, &err) < 0)
		die("corpus", &err);
	for (size_t i = 0; i < n; i++) {
		char path[700];
		snprintf(path, sizeof(path), "%s/m%06zu.eml", in, i);
		FILE *f = fopen(path, "wb");
		if (f == NULL || fwrite(msgs[i].data, 1, msgs[i].len, f) != msgs[i].len ||
		    fclose(f) != 0)
			die(path, NULL);
		tm_buf_fini(&msgs[i]);
	}
	free(msgs);
	tm_identity_free(id);
	tm_certlist_free(to);

	struct rx r;
	memset(&r, 0, sizeof(r));
	snprintf(f1, sizeof(f1), "%s/gw-tls.pem", pki);
	snprintf(f2, sizeof(f2), "%s/gw-tls.key", pki);
	rx_start(&r, f1, f2);
	struct paths p = { gw, tmp, pki, in, r.port };

	struct round o[2];
	int ok = one_round(&p, &r, n, 0, &o[0]);
	ok = one_round(&p, &r, n, 1, &o[1]) && ok;
	printf("bench_forward: %zu reports of one device (report %zu bytes), replay --workers 2, "
	       "%ld cores; receiver: in-process evhttp over TLS (not receiver.py)\n", n, yaml_len,
	       sysconf(_SC_NPROCESSORS_ONLN));
	double q_out = 0, q_beside = 0, c_out = 0, c_beside = 0;
	for (int k = 0; k < 2; k++) {
		printf("  round %d: ingest plain %7.0f msg/s | with the outbox %7.0f msg/s (%.2f) | "
		       "with a forwarder beside %7.0f msg/s (%.2f)\n", k + 1, o[k].plain, o[k].outbox,
		       o[k].outbox / o[k].plain, o[k].beside, o[k].beside / o[k].plain);
		printf("  round %d: replay CPU per message: plain %.3f ms | with the outbox %.3f ms "
		       "(%.2f) | with a forwarder beside %.3f ms (%.2f)\n", k + 1, o[k].cpu_plain,
		       o[k].cpu_outbox, o[k].cpu_plain / o[k].cpu_outbox, o[k].cpu_beside,
		       o[k].cpu_plain / o[k].cpu_beside);
		printf("  round %d: forward run-once %8.0f events/s (batches of 100), %8.0f events/s "
		       "(batches of 1,000)\n", k + 1, o[k].fwd100, o[k].fwd1000);
		q_out += o[k].outbox / o[k].plain / 2;
		q_beside += o[k].beside / o[k].plain / 2;
		c_out += o[k].cpu_plain / o[k].cpu_outbox / 2;
		c_beside += o[k].cpu_plain / o[k].cpu_beside / 2;
	}
	printf("  ratio ingest with forwarding / without: outbox %.2f, forwarder beside %.2f "
	       "(mean of the rounds; goal >= 0.90)\n", q_out, q_beside);
	printf("  the same by replay's CPU per message (plain / with): outbox %.2f, forwarder "
	       "beside %.2f (the forwarder's own CPU not counted)\n", c_out, c_beside);
	printf("  receiver: %zu requests, %zu events\n", atomic_load(&r.requests),
	       atomic_load(&r.events));

	char rm[700];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", tmp);
	if (getenv("TM_BENCH_KEEP") != NULL)
		printf("  kept: %s\n", tmp);
	else if (system(rm) != 0)
		fprintf(stderr, "bench_forward: could not remove %s\n", tmp);
	free(pki), free(sample), free(gw);
	return ok ? 0 : 1;
}

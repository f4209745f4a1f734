/* Forwarding through the real telemail-mailgw binary (issue 17): the
 * `forward` commands (status in text and JSON, run-once and its exit
 * statuses, the dead list, retry and drop, bad ids and bad command lines);
 * a receiver whose certificate is for another host name or has expired
 * (nothing sent; forward.tls with the verification failure in the log and in
 * `forward status`); the bearer token, the HMAC signature, gzip, NDJSON and
 * the batch type, each checked by the receiver (test/forward/receiver.py),
 * with the token and the key never in any output; and `kill -9` of the
 * forwarder (`forward run-once`, then `serve`) while a batch is in flight:
 * after a restart every event arrived at least once, once by id, in order
 * per device. The records are stored through the library into the state
 * directory that the binary then reads. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>

#include "common.h"
#include "config/config_service.h"
#include "forward/fwd_rx.h"
#include "scenario/ingest.h"

#define T0 1790000000
#define TOKEN "tok-7d1e0c5b9a4f4e21b3c8"
#define HMAC_KEY "hk-51f0aa3e9c2d4b7e8f60"

static char *tmpdir;
static char rxdir[600], cfgpath[600], url[128];
static int batch_events;   /* the endpoint's batch_max_events */
static struct gw_store *st;
static struct gw_service_config svc;

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	snprintf(rxdir, sizeof(rxdir), "%s/rx", tmpdir);
	snprintf(cfgpath, sizeof(cfgpath), "%s/mailgw.yaml", tmpdir);
	char dir[600], db[700];
	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(db, sizeof(db), "%s/telemail.db", dir);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db, .forward = true };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	cr_assert_eq(gw_registry_tenant_add(st, "acme", NULL, 100, &err), 0, "%s", err.msg);
	gw_service_config_defaults(&svc);
	sc_enroll(st, "XK1", "acme", 1);
	sc_enroll(st, "XK2", "acme", 2);
	sc_enroll(st, "XK3", "acme", 3);
	snprintf(url, sizeof(url), "https://127.0.0.1:9/events");
	batch_events = 2;
}

static void teardown(void)
{
	fwd_rx_stop(rxdir);
	if (st != NULL)
		gw_store_close(st);
	st = NULL;
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(forward_cli, .init = setup, .fini = teardown, .timeout = 120);

static void ingest(const char *serial, long long seq)
{
	fwd_ingest(st, &svc, serial, seq, T0);
}

/* The records are in: the binary has the database to itself from here. */
static void store_done(void)
{
	gw_store_close(st);
	st = NULL;
}

/* mailgw.yaml with one endpoint `cloud` to url, batches of batch_events;
 * extra: more endpoint keys, each line indented by six spaces. Short
 * timeouts and backoff (1 s). */
static void config(const char *extra)
{
	char *pki = tm_test_pki("");
	char yaml[4096];
	int n = snprintf(yaml, sizeof(yaml),
		"state_dir: %s/state\n"
		"gateway:\n  mailboxes: [telemail@gateway.example]\n"
		"  keys: [{cert: %sgw-ec.pem, key: %sgw-ec.key}]\n"
		"trust:\n  ca_file: %sca.pem\n"
		"listen:\n  smtp: 127.0.0.1:0\n  hostname: localhost\n"
		"forward:\n  gateway: gw-test\n  every: 1s\n  endpoints:\n"
		"    - name: cloud\n      url: %s\n      ca_file: %sca.pem\n"
		"      batch_max_events: %d\n      timeout: 2s\n      connect_timeout: 2s\n"
		"      lease: 3s\n      backoff: 1s\n      max_backoff: 1s\n%s",
		tmpdir, pki, pki, pki, url, pki, batch_events, extra);
	cr_assert_lt((size_t)n, sizeof(yaml));
	tm_test_write(cfgpath, yaml, (size_t)n);
	free(pki);
}

struct run {
	int status;
	struct tm_buf out, err;   /* NUL-terminated */
};

static void run_fini(struct run *r)
{
	tm_buf_fini(&r->out);
	tm_buf_fini(&r->err);
}

/* telemail-mailgw -c mailgw.yaml ARGS: exit status, stdout and stderr. */
static void mailgw(struct run *r, const char *args)
{
	char out[700], errp[700];
	snprintf(out, sizeof(out), "%s/out.txt", tmpdir);
	snprintf(errp, sizeof(errp), "%s/err.txt", tmpdir);
	r->status = tm_test_sh("'%s/mailgw/telemail-mailgw' -c '%s' %s > '%s' 2> '%s'",
			       getenv("TM_BUILDDIR"), cfgpath, args, out, errp);
	tm_buf_init(&r->out);
	tm_buf_init(&r->err);
	tm_test_read(out, &r->out);
	tm_test_read(errp, &r->err);
	tm_buf_append(&r->out, "", 1);
	tm_buf_append(&r->err, "", 1);
}

static const char *out_of(struct run *r)
{
	return (const char *)r->out.data;
}

static const char *err_of(struct run *r)
{
	return (const char *)r->err.data;
}

/* A field of the first `gw forward` log line of r's stderr. */
static void log_field(struct run *r, const char *key, char *val, size_t cap)
{
	char *line = tm_test_log_line(err_of(r), "gw forward");
	cr_assert_not_null(line, "a gw forward line in: %s", err_of(r));
	cr_assert_eq(tm_test_log_field(line, key, val, cap), 1, "%s= in %s", key, line);
	free(line);
}

/* The first `gw forward` line of r's stderr has key=want. */
static void log_is(struct run *r, const char *key, const char *want)
{
	char v[512];
	log_field(r, key, v, sizeof(v));
	cr_assert_str_eq(v, want, "%s=", key);
}

static json_t *json_out(struct run *r)
{
	json_error_t je;
	json_t *j = json_loads(out_of(r), 0, &je);
	cr_assert_not_null(j, "%s: %s", je.text, out_of(r));
	return j;
}

Test(forward_cli, status_run_once_and_the_dead_list)
{
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	fwd_rx_put(rxdir, "plan", "[{\"status\":400,\"body\":\"schema says no\"},{\"status\":503}]");
	for (int seq = 1; seq <= 4; seq++)
		ingest("XK1", seq);
	store_done();
	config("");
	struct run r;
	mailgw(&r, "forward status");
	cr_assert_eq(r.status, 0);
	char want[2048];
	snprintf(want, sizeof(want),
		 "cloud %s\n  queued      0 (oldest 0 s)\n  sent        0\n  retries     0\n"
		 "  dead        0\n", url);
	cr_assert_str_eq(out_of(&r), want, "nothing fanned out before a pass");
	run_fini(&r);

	/* batch 1 (seq 1, 2): 400, dead; batch 2 (seq 3, 4): 503, to retry */
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 1, "retried or dead: exit 1; %s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 4, batches 2, sent 0, retried 1, dead 2\n");
	log_is(&r, "outcome", "dead");
	log_is(&r, "reason", "forward.rejected");
	log_is(&r, "status", "400");
	cr_assert_not_null(strstr(err_of(&r), "outcome=retry status=503 "
				  "reason=forward.unavailable"), "%s", err_of(&r));
	run_fini(&r);

	mailgw(&r, "forward status --json");
	cr_assert_eq(r.status, 0);
	json_t *j = json_out(&r);
	cr_assert_eq(json_array_size(j), 1);
	json_t *e = json_array_get(j, 0);
	cr_assert_str_eq(fwd_str(e, "endpoint"), "cloud");
	cr_assert_str_eq(fwd_str(e, "url"), url);
	cr_assert_eq(json_integer_value(json_object_get(e, "queued")), 2);
	json_int_t age = json_integer_value(json_object_get(e, "oldest_age"));
	cr_assert(age >= 0 && age < 60, "oldest_age %lld", (long long)age);
	cr_assert_eq(json_integer_value(json_object_get(e, "sent")), 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "retries")), 2,
		     "failed attempts, the 400's too: %s", out_of(&r));
	cr_assert_eq(json_integer_value(json_object_get(e, "dead")), 2);
	cr_assert_str_eq(fwd_str(e, "last_error"), "forward.unavailable: cloud: answered HTTP 503");
	json_decref(j);
	run_fini(&r);

	mailgw(&r, "forward status");
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(out_of(&r), "  sent        0\n  retries     2\n  dead        2\n"
				  "  last error  forward.unavailable: cloud: answered HTTP 503\n"),
			   "%s", out_of(&r));
	cr_assert_not_null(strstr(out_of(&r), "  queued      2 (oldest "), "%s", out_of(&r));
	run_fini(&r);

	mailgw(&r, "forward dead list --json");
	cr_assert_eq(r.status, 0);
	j = json_out(&r);
	cr_assert_eq(json_array_size(j), 2);
	json_int_t id[2];
	for (size_t i = 0; i < 2; i++) {
		e = json_array_get(j, i);
		id[i] = json_integer_value(json_object_get(e, "id"));
		cr_assert_gt(id[i], 0);
		cr_assert_str_eq(fwd_str(e, "endpoint"), "cloud");
		cr_assert_str_eq(fwd_str(e, "type"), "report");
		cr_assert_str_eq(fwd_str(e, "serial"), "XK1");
		cr_assert_str_eq(fwd_str(e, "tenant"), "acme");
		cr_assert_eq(json_integer_value(json_object_get(e, "attempts")), 1);
		cr_assert_str_eq(fwd_str(e, "error"),
				 "forward.rejected: cloud: answered HTTP 400: schema says no");
	}
	json_decref(j);
	run_fini(&r);
	mailgw(&r, "forward dead list");
	cr_assert_eq(r.status, 0);
	char line[512];
	snprintf(line, sizeof(line), "%lld cloud report ", (long long)id[0]);
	cr_assert_eq(strncmp(out_of(&r), line, strlen(line)), 0, "%s", out_of(&r));
	cr_assert_not_null(strstr(out_of(&r), " XK1 attempts=1 forward.rejected: cloud: answered "
				  "HTTP 400: schema says no\n"), "%s", out_of(&r));
	run_fini(&r);

	/* bad ids: a usage error (2), or not found (1), with the exact reason */
	static const char *const usage[] = { "abc", "0", "-3", "12x", "" };
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		char args[64];
		snprintf(args, sizeof(args), "forward dead retry '%s'", usage[i]);
		mailgw(&r, args);
		cr_assert_eq(r.status, 2, "%s", args);
		cr_assert_eq(strncmp(err_of(&r), "usage: telemail-mailgw forward ", 31), 0, "%s",
			     err_of(&r));
		cr_assert_str_eq(out_of(&r), "");
		run_fini(&r);
	}
	mailgw(&r, "forward dead retry 999999");
	cr_assert_eq(r.status, 1);
	cr_assert_eq(strncmp(err_of(&r), "telemail-mailgw: forward dead retry: forward.not_found: ",
			     56), 0, "%s", err_of(&r));
	run_fini(&r);
	mailgw(&r, "forward dead drop 999999");
	cr_assert_eq(r.status, 1);
	cr_assert_eq(strncmp(err_of(&r), "telemail-mailgw: forward dead drop: forward.not_found: ",
			     55), 0, "%s", err_of(&r));
	run_fini(&r);
	mailgw(&r, "forward dead retry 5 6");
	cr_assert_eq(r.status, 2);
	run_fini(&r);

	/* retry one, drop the other */
	char args[64];
	snprintf(args, sizeof(args), "forward dead retry %lld", (long long)id[0]);
	mailgw(&r, args);
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued again 1\n");
	run_fini(&r);
	snprintf(args, sizeof(args), "forward dead drop %lld", (long long)id[1]);
	mailgw(&r, args);
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "dropped 1\n");
	run_fini(&r);
	mailgw(&r, args);
	cr_assert_eq(r.status, 1, "dropped already");
	run_fini(&r);
	mailgw(&r, "forward dead list --json");
	cr_assert_str_eq(out_of(&r), "[]\n");
	run_fini(&r);

	/* past the backoff (1 s): everything left goes; exit 0 */
	sleep(2);
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 0, batches 2, sent 3, retried 0, dead 0\n");
	run_fini(&r);
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(out_of(&r), "queued 0, batches 0, sent 0, retried 0, dead 0\n");
	run_fini(&r);
	mailgw(&r, "forward status --json");
	j = json_out(&r);
	e = json_array_get(j, 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "queued")), 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "oldest_age")), 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "sent")), 3);
	cr_assert_eq(json_integer_value(json_object_get(e, "dead")), 0);
	json_decref(j);
	run_fini(&r);
	json_t *kept = fwd_dedup(fwd_rx_events(rxdir));
	cr_assert_eq(json_array_size(kept), 3);
	long long seqs = 0;   /* seq n as bit n: 1, 3 and 4 came */
	for (size_t i = 0; i < 3; i++)
		seqs |= 1LL << json_integer_value(json_object_get(json_object_get(json_object_get(
			json_array_get(kept, i), "data"), "report"), "seq"));
	cr_assert_eq(seqs, (1 << 1) | (1 << 3) | (1 << 4));
	json_decref(kept);

	/* --all on an empty dead list */
	mailgw(&r, "forward dead retry --all");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued again 0\n");
	run_fini(&r);
}

Test(forward_cli, dead_retry_all_and_bad_command_lines)
{
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	fwd_rx_put(rxdir, "plan", "[{\"status\":422,\"body\":\"no\"},{\"status\":409}]");
	ingest("XK1", 1);
	ingest("XK2", 1);
	store_done();
	batch_events = 1;
	config("");
	struct run r;
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 1, "%s%s", out_of(&r), err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 2, batches 2, sent 0, retried 0, dead 2\n");
	run_fini(&r);
	mailgw(&r, "forward dead retry --all");
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(out_of(&r), "queued again 2\n");
	run_fini(&r);
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 0, batches 2, sent 2, retried 0, dead 0\n");
	run_fini(&r);

	static const char *const bad[] = { "forward", "forward bogus", "forward status extra",
		"forward run-once --json", "forward dead", "forward dead list extra",
		"forward dead retry", "forward dead keep 1", "forward dead drop 1 --json" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mailgw(&r, bad[i]);
		cr_assert_eq(r.status, 2, "%s: %d", bad[i], r.status);
		cr_assert_eq(strncmp(err_of(&r), "usage: telemail-mailgw forward status [--json]", 46),
			     0, "%s: %s", bad[i], err_of(&r));
		run_fini(&r);
	}
	/* no forward: section */
	char *pki = tm_test_pki("");
	char yaml[1024];
	int n = snprintf(yaml, sizeof(yaml),
			 "state_dir: %s/state\ngateway:\n  mailboxes: [telemail@gateway.example]\n"
			 "  keys: [{cert: %sgw-ec.pem, key: %sgw-ec.key}]\ntrust:\n  ca_file: %sca.pem\n",
			 tmpdir, pki, pki, pki);
	free(pki);
	tm_test_write(cfgpath, yaml, (size_t)n);
	mailgw(&r, "forward status");
	cr_assert_eq(r.status, 2);
	char want[800];
	snprintf(want, sizeof(want), "telemail-mailgw: forward: no forward: section in %s\n", cfgpath);
	cr_assert_str_eq(err_of(&r), want);
	run_fini(&r);
}

/* ---- TLS: nothing sent to a receiver that is not the one configured ---- */

/* (the parameters are indexes: criterion's test processes are new images,
 * so a pointer in a parameter would not point at the table there) */
static const struct tls_case {
	const char *cert;
	const char *detail;   /* what curl says of the verification */
} tls_cases[] = {
	{ "fwd-wrongname.pem", "no alternative certificate subject name matches target host "
			       "name '127.0.0.1'" },
	{ "fwd-expired.pem", "certificate has expired" },
};
static int tls_ix[] = { 0, 1 };

ParameterizedTestParameters(forward_cli, tls_verification_failure)
{
	return cr_make_param_array(int, tls_ix, sizeof(tls_ix) / sizeof(tls_ix[0]));
}

ParameterizedTest(int *ix, forward_cli, tls_verification_failure)
{
	const struct tls_case *c = &tls_cases[*ix];
	fwd_rx_start(rxdir, c->cert, url, sizeof(url));
	ingest("XK1", 1);
	store_done();
	config("");
	struct run r;
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 1, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 1, batches 1, sent 0, retried 1, dead 0\n");
	log_is(&r, "outcome", "retry");
	log_is(&r, "reason", "forward.tls");
	char v[512];
	log_field(&r, "detail", v, sizeof(v));
	cr_assert_not_null(strstr(v, c->detail), "%s", v);
	run_fini(&r);
	cr_assert(!fwd_rx_has(rxdir, "arrived", 1), "no request reached the receiver");
	cr_assert_eq(fwd_rx_requests(rxdir), 0);
	mailgw(&r, "forward status");
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(out_of(&r), "  queued      1 (oldest "), "%s", out_of(&r));
	char *last = tm_test_log_line(out_of(&r), "last error");
	cr_assert_not_null(last, "%s", out_of(&r));
	cr_assert_eq(strncmp(last, "  last error  forward.tls: cloud: ", 34), 0, "%s", last);
	cr_assert_not_null(strstr(last, c->detail), "%s", last);
	free(last);
	run_fini(&r);
}

/* ---- what the receiver checks: token, signature, gzip, format ---- */

static void secrets(char *token_file, char *key_file, size_t cap)
{
	snprintf(token_file, cap, "%s/cloud.token", tmpdir);
	snprintf(key_file, cap, "%s/cloud.key", tmpdir);
	tm_test_write(token_file, TOKEN "\n", strlen(TOKEN) + 1);
	tm_test_write(key_file, HMAC_KEY "\n", strlen(HMAC_KEY) + 1);
}

/* No output of r names the token or the key. */
static void no_secret_in(struct run *r, const char *what)
{
	cr_assert_null(strstr(out_of(r), TOKEN), "%s: the token in stdout", what);
	cr_assert_null(strstr(err_of(r), TOKEN), "%s: the token in stderr", what);
	cr_assert_null(strstr(out_of(r), HMAC_KEY), "%s: the key in stdout", what);
	cr_assert_null(strstr(err_of(r), HMAC_KEY), "%s: the key in stderr", what);
}

static const struct fmt_case {
	const char *format;
	bool gzip;
	const char *content_type;
	const char *checked;   /* the receiver's "checked", joined by spaces */
} fmt_cases[] = {
	{ "ndjson", true, "application/x-ndjson", "token hmac format gzip" },
	{ "batch", false, "application/cloudevents-batch+json", "token hmac format" },
};
static int fmt_ix[] = { 0, 1 };

ParameterizedTestParameters(forward_cli, token_signature_gzip_and_format)
{
	return cr_make_param_array(int, fmt_ix, sizeof(fmt_ix) / sizeof(fmt_ix[0]));
}

ParameterizedTest(int *ix, forward_cli, token_signature_gzip_and_format)
{
	const struct fmt_case *c = &fmt_cases[*ix];
	char tok[700], key[700], extra[2048], expect[2048];
	secrets(tok, key, sizeof(tok));
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	snprintf(expect, sizeof(expect),
		 "{\"token_file\":\"%s\",\"hmac_key_file\":\"%s\",\"format\":\"%s\"}", tok, key,
		 c->format);
	fwd_rx_put(rxdir, "expect", expect);
	for (int seq = 1; seq <= 3; seq++)
		ingest("XK1", seq);
	store_done();
	snprintf(extra, sizeof(extra),
		 "      token_file: %s\n      hmac_secret_file: %s\n      format: %s\n"
		 "      gzip: %s\n", tok, key, c->format, c->gzip ? "true" : "false");
	config(extra);
	struct run r;
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 3, batches 2, sent 3, retried 0, dead 0\n");
	no_secret_in(&r, "run-once");
	run_fini(&r);
	cr_assert_eq(fwd_rx_requests(rxdir), 2);
	char keys[2][64];
	for (size_t n = 1; n <= 2; n++) {
		json_t *q = fwd_rx_request(rxdir, n);
		cr_assert_eq(json_integer_value(json_object_get(q, "status")), 200);
		json_t *h = json_object_get(q, "headers");
		cr_assert_str_eq(fwd_str(h, "content-type"), c->content_type);
		cr_assert_str_eq(fwd_str(h, "content-encoding"), c->gzip ? "gzip" : "");
		snprintf(keys[n - 1], sizeof(keys[0]), "%s", fwd_str(h, "idempotency-key"));
		cr_assert_eq(strlen(keys[n - 1]), 32, "%s", keys[n - 1]);
		char checked[128] = "";
		json_t *ck = json_object_get(q, "checked");
		for (size_t i = 0; i < json_array_size(ck); i++)
			snprintf(checked + strlen(checked), sizeof(checked) - strlen(checked), "%s%s",
				 i ? " " : "", json_string_value(json_array_get(ck, i)));
		cr_assert_str_eq(checked, c->checked);
		cr_assert_eq(json_array_size(json_object_get(q, "events")), n == 1 ? 2 : 1);
		json_decref(q);
	}
	cr_assert_str_neq(keys[0], keys[1], "a batch's own Idempotency-Key");
	json_t *kept = fwd_dedup(fwd_rx_events(rxdir));
	fwd_check_device(kept, "XK1", 3);
	json_decref(kept);

	/* the receiver now wants another token: 401 is permanent, dead-lettered
	 * with the reply; no output names either secret */
	char other[700];
	snprintf(other, sizeof(other), "%s/other.token", tmpdir);
	tm_test_write(other, "not-the-token\n", 14);
	snprintf(expect, sizeof(expect), "{\"token_file\":\"%s\",\"hmac_key_file\":\"%s\"}", other,
		 key);
	fwd_rx_put(rxdir, "expect", expect);
	st = NULL;
	char db[700];
	snprintf(db, sizeof(db), "%s/state/telemail.db", tmpdir);
	struct tm_error err = {0};
	struct gw_store_options o = { .path = db, .forward = true };
	cr_assert_eq(gw_store_open(&o, &st, &err), GW_STORE_OK, "%s", err.msg);
	ingest("XK1", 4);
	store_done();
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(out_of(&r), "queued 1, batches 1, sent 0, retried 0, dead 1\n");
	cr_assert_not_null(strstr(err_of(&r), "reason=forward.rejected"), "%s", err_of(&r));
	no_secret_in(&r, "run-once (401)");
	run_fini(&r);
	static const char *const views[] = { "forward status", "forward status --json",
					     "forward dead list", "forward dead list --json" };
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		mailgw(&r, views[i]);
		cr_assert_eq(r.status, 0);
		no_secret_in(&r, views[i]);
		if (strstr(views[i], "dead") != NULL)
			cr_assert_not_null(strstr(out_of(&r), "answered HTTP 401: bad token"), "%s",
					   out_of(&r));
		run_fini(&r);
	}
}

/* ---- kill -9 while a batch is in flight ---- */

/* The binary in the background, stdout and stderr to log; its pid. */
static pid_t spawn(const char *args, const char *log)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char cmd[2048];
		snprintf(cmd, sizeof(cmd), "exec '%s/mailgw/telemail-mailgw' -c '%s' %s >> '%s' 2>&1",
			 getenv("TM_BUILDDIR"), cfgpath, args, log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static bool wait_for(const char *what, size_t n, int seconds)
{
	for (int i = 0; i < seconds * 100; i++) {
		if (fwd_rx_has(rxdir, what, n))
			return true;
		usleep(10000);
	}
	return false;
}

static void kill_9(pid_t pid)
{
	cr_assert_eq(kill(pid, SIGKILL), 0);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "killed by SIGKILL");
}

/* Three devices, four reports each, in batches of two; request 2 stalls
 * for 4 s once its body is in, so the sender dies with it in flight. */
static void crash_setup(void)
{
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	fwd_rx_put(rxdir, "plan", "[{}, {\"stall\": 4}]");
	for (int seq = 1; seq <= 4; seq++) {
		ingest("XK1", seq);
		ingest("XK2", seq);
		ingest("XK3", seq);
	}
	store_done();
	config("      events: [report]\n");   /* not serve's silence alerts of these devices */
}

/* crash_setup, then `args` in the background, killed with SIGKILL once
 * request 2 (the stalled one) has reached the receiver. */
static void kill_9_in_flight(const char *args, char *log, size_t cap)
{
	crash_setup();
	snprintf(log, cap, "%s/%s.log", tmpdir, strchr(args, ' ') != NULL ? "run-once" : args);
	pid_t pid = spawn(args, log);
	cr_assert(wait_for("arrived", 2, 30), "request 2 reached the receiver");
	kill_9(pid);
}

/* After the restart: every event arrived at least once; kept by id, each
 * once and in seq order per device; the batch in flight at the kill came
 * twice (the stalled request was stored by the receiver after its answer
 * was no longer awaited, and sent again after its lease ran out). */
static void crash_check(void)
{
	cr_assert(wait_for("req", 2, 20), "the stalled request is done");
	json_t *evs = fwd_rx_events(rxdir);
	json_t *kept = fwd_dedup(evs);
	cr_assert_eq(json_array_size(kept), 12);
	cr_assert_eq(json_array_size(evs), 14, "the batch in flight twice, the rest once");
	fwd_check_device(kept, "XK1", 4);
	fwd_check_device(kept, "XK2", 4);
	fwd_check_device(kept, "XK3", 4);
	json_t *stalled = fwd_rx_request(rxdir, 2);
	json_t *first = json_array_get(json_object_get(stalled, "events"), 0);
	size_t times = 0;
	for (size_t i = 0; i < json_array_size(evs); i++)
		times += strcmp(fwd_str(json_array_get(evs, i), "id"), fwd_str(first, "id")) == 0;
	cr_assert_eq(times, 2, "the stalled batch's event %s", fwd_str(first, "id"));
	/* and its second sending kept the batch's Idempotency-Key */
	const char *key = fwd_str(json_object_get(stalled, "headers"), "idempotency-key");
	size_t same = 0;
	for (size_t n = 3; n <= fwd_rx_requests(rxdir); n++) {
		json_t *q = fwd_rx_request(rxdir, n);
		json_t *ev0 = json_array_get(json_object_get(q, "events"), 0);
		if (strcmp(fwd_str(ev0, "id"), fwd_str(first, "id")) == 0) {
			same++;
			cr_assert_str_eq(fwd_str(json_object_get(q, "headers"), "idempotency-key"),
					 key);
		}
		json_decref(q);
	}
	cr_assert_eq(same, 1, "sent again once");
	json_decref(stalled);
	json_decref(kept);
	json_decref(evs);
	struct run r;
	mailgw(&r, "forward status --json");
	json_t *j = json_out(&r);
	json_t *e = json_array_get(j, 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "queued")), 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "sent")), 12);
	cr_assert_eq(json_integer_value(json_object_get(e, "dead")), 0);
	json_decref(j);
	run_fini(&r);
}

Test(forward_cli, kill_9_of_run_once_mid_batch_then_restart)
{
	char log[700];
	kill_9_in_flight("forward run-once", log, sizeof(log));
	/* at once: batch 2 (XK3 seq 1, XK1 seq 2) is still leased (3 s), and
	 * XK1 and XK3 wait for it; only XK2's seq 2..4 go */
	struct run r;
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 0, batches 2, sent 3, retried 0, dead 0\n");
	run_fini(&r);
	sleep(4);   /* past the lease: batch 2 again, then the rest */
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 0, batches 4, sent 7, retried 0, dead 0\n");
	run_fini(&r);
	crash_check();
}

Test(forward_cli, kill_9_of_serve_mid_batch_then_restart)
{
	char log[700];
	kill_9_in_flight("serve", log, sizeof(log));
	pid_t pid = spawn("serve", log);
	bool drained = false;
	for (int i = 0; i < 60 && !drained; i++) {
		usleep(250000);
		struct run r;
		mailgw(&r, "forward status --json");
		json_t *j = json_out(&r);
		json_t *e = json_array_get(j, 0);
		drained = json_integer_value(json_object_get(e, "queued")) == 0 &&
			  json_integer_value(json_object_get(e, "sent")) == 12;
		json_decref(j);
		run_fini(&r);
	}
	cr_assert_eq(kill(pid, SIGTERM), 0);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "serve stops on TERM");
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(log, &b);
	tm_buf_append(&b, "", 1);
	cr_assert(drained, "the restarted serve forwarded everything: %s", b.data);
	crash_check();
	cr_assert_not_null(strstr((char *)b.data, "gw forward endpoint=cloud "), "%s", b.data);
	cr_assert_null(strstr((char *)b.data, "outcome=dead"), "%s", b.data);
	tm_buf_fini(&b);
}

/* A token file that cannot be read: forward.secret, permanent (the batch is
 * dead-lettered, nothing reaches the receiver); the message names the file,
 * never a secret. After the file is back, `dead retry --all` delivers. */
Test(forward_cli, unreadable_token_file_dead_letters_says_which_file)
{
	char tok[700], key[700], extra[2048];
	secrets(tok, key, sizeof(tok));
	fwd_rx_start(rxdir, "gw-tls.pem", url, sizeof(url));
	ingest("XK1", 1);
	store_done();
	char missing[800];
	snprintf(missing, sizeof(missing), "%s.gone", tok);
	snprintf(extra, sizeof(extra), "      token_file: %s\n      hmac_secret_file: %s\n",
		 missing, key);
	config(extra);
	struct run r;
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(out_of(&r), "queued 1, batches 1, sent 0, retried 0, dead 1\n");
	char v[1024], want[1024];
	log_is(&r, "reason", "forward.secret");
	log_field(&r, "detail", v, sizeof(v));
	snprintf(want, sizeof(want), "token_file %s: ", missing);
	cr_assert_eq(strncmp(v, want, strlen(want)), 0, "%s", v);
	no_secret_in(&r, "run-once");
	run_fini(&r);
	cr_assert(!fwd_rx_has(rxdir, "arrived", 1), "nothing sent");
	cr_assert_eq(rename(tok, missing), 0);
	mailgw(&r, "forward dead retry --all");
	cr_assert_str_eq(out_of(&r), "queued again 1\n");
	run_fini(&r);
	mailgw(&r, "forward run-once");
	cr_assert_eq(r.status, 0, "%s", err_of(&r));
	cr_assert_str_eq(out_of(&r), "queued 0, batches 1, sent 1, retried 0, dead 0\n");
	no_secret_in(&r, "run-once");
	run_fini(&r);
}

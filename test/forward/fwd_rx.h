/* The forwarding tests' side of test/forward/receiver.py: start and stop it,
 * tell it how to answer (plan) and what to check (expect), and read what it
 * got (the accepted events, each request's record); and the report they all
 * store. Header-only (static inline) so that each test file stays one file;
 * every helper cr_asserts on a failure of its own. */
#ifndef TM_TEST_FWD_RX_H
#define TM_TEST_FWD_RX_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <telemail/buf.h>

#include "common.h"
#include "scenario/ingest.h"

/* Store report seq of serial (tenant acme), generated and stored at
 * t0 + seq minutes, its total counter 1000 + seq. */
static inline void fwd_ingest(struct gw_store *st, const struct gw_service_config *svc,
			      const char *serial, long long seq, int64_t t0)
{
	struct sc_report r;
	sc_report_init(&r, serial, seq, t0 + seq * 60);
	r.total = 1000 + seq;
	cr_assert_eq(sc_ingest(st, svc, &r, "acme", t0 + seq * 60), GW_PUT_STORED);
}

/* Start the receiver in dir with the test PKI's <cert>.pem and its key;
 * its https URL (path /events) into url. */
static inline void fwd_rx_start(const char *dir, const char *cert, char *url, size_t cap)
{
	char *script = tm_test_src("forward/receiver.py");
	char *pem = tm_test_pki(cert);
	char key[600];
	snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(pem) - 4), pem);
	cr_assert_eq(tm_test_sh("/usr/bin/python3 '%s' start '%s' '%s' '%s'", script, dir, pem,
				key), 0, "the receiver starts");
	char path[700];
	snprintf(path, sizeof(path), "%s/port", dir);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	snprintf(url, cap, "https://127.0.0.1:%.*s/events", (int)b.len, (char *)b.data);
	tm_buf_fini(&b);
	free(script);
	free(pem);
}

static inline void fwd_rx_stop(const char *dir)
{
	char *script = tm_test_src("forward/receiver.py");
	tm_test_sh("/usr/bin/python3 '%s' stop '%s'", script, dir);
	free(script);
}

/* dir/name := text (the receiver reads plan and expect at each request). */
static inline void fwd_rx_put(const char *dir, const char *name, const char *text)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	tm_test_write(path, text, strlen(text));
}

static inline bool fwd_rx_has(const char *dir, const char *what, size_t n)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s-%04zu%s", dir, what, n,
		 strcmp(what, "req") == 0 ? ".json" : "");
	return access(path, F_OK) == 0;
}

/* How many requests were answered (req-NNNN.json written). */
static inline size_t fwd_rx_requests(const char *dir)
{
	size_t n = 0;
	while (fwd_rx_has(dir, "req", n + 1))
		n++;
	return n;
}

/* Request n's record {"status", "headers", "events", "checked"}. */
static inline json_t *fwd_rx_request(const char *dir, size_t n)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/req-%04zu.json", dir, n);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	cr_assert_not_null(j, "%s: %s", path, je.text);
	return j;
}

/* The events the receiver accepted (2xx), in arrival order. */
static inline json_t *fwd_rx_events(const char *dir)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/events.ndjson", dir);
	json_t *arr = json_array();
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return arr;
	static char line[1 << 20];
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t je;
		json_t *e = json_loads(line, 0, &je);
		cr_assert_not_null(e, "%s", je.text);
		json_array_append_new(arr, e);
	}
	fclose(f);
	return arr;
}

static inline const char *fwd_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

/* What a receiver that deduplicates by event id keeps: the first of each
 * id, in arrival order (a new array; the events are shared). */
static inline json_t *fwd_dedup(json_t *evs)
{
	json_t *seen = json_object(), *out = json_array();
	for (size_t i = 0; i < json_array_size(evs); i++) {
		json_t *e = json_array_get(evs, i);
		const char *id = fwd_str(e, "id");
		if (json_object_get(seen, id) != NULL)
			continue;
		json_object_set_new(seen, id, json_true());
		json_array_append(out, e);
	}
	json_decref(seen);
	return out;
}

/* The report events of serial in kept (deduplicated) order carry seq 1..want,
 * each once, in order. */
static inline void fwd_check_device(json_t *kept, const char *serial, long long want)
{
	long long next = 1;
	for (size_t i = 0; i < json_array_size(kept); i++) {
		json_t *e = json_array_get(kept, i);
		if (strcmp(fwd_str(e, "type"), "org.telemail.report.v1") != 0 ||
		    strcmp(fwd_str(e, "subject"), serial) != 0)
			continue;
		long long seq = json_integer_value(json_object_get(
			json_object_get(json_object_get(e, "data"), "report"), "seq"));
		cr_assert_eq(seq, next, "%s: seq %lld where %lld was next", serial, seq, next);
		next++;
	}
	cr_assert_eq(next - 1, want, "%s: %lld of %lld events arrived", serial, next - 1, want);
}

#endif

/* The quarantine area: put / get / list / remove round trip, ids and
 * prefixes, idempotent re-quarantine, purge by age, batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/sha.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "store/quarantine.h"

static char *tmpdir;
static char qdir[512];
static struct gw_quarantine *q;

/* The SQLite back end's quarantine in dir. */
static int qopen(const char *dir, struct gw_quarantine **out, struct tm_error *err)
{
	return gw_quarantine_open(&(struct gw_store_options){ .quarantine_dir = dir }, out, err);
}

static void setup(void)
{
	tmpdir = tm_test_tmpdir();
	snprintf(qdir, sizeof(qdir), "%s/quarantine", tmpdir);
	struct tm_error err = {0};
	cr_assert_eq(qopen(qdir, &q, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	gw_quarantine_close(q);
	tm_test_rmtree(tmpdir);
	free(tmpdir);
}

TestSuite(quarantine, .init = setup, .fini = teardown);

static void sha_hex(const char *data, char out[GW_SHA256_HEX])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)data, strlen(data), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void keep(const char *raw, const char *reason, int64_t now, char id[GW_SHA256_HEX])
{
	struct gw_quarantine_meta m = {0};
	sha_hex(raw, m.raw_sha256);
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	snprintf(m.detail, sizeof(m.detail), "why: %s", reason);
	snprintf(m.message_id, sizeof(m.message_id), "id-%s@dev", reason);
	snprintf(m.serial, sizeof(m.serial), "XK100001");
	m.received_at = now - 5;
	struct tm_error err = {0};
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)raw, strlen(raw), &m, now, id, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(id, m.raw_sha256);
}

Test(quarantine, round_trip_keeps_raw_bytes_and_reason)
{
	const char *raw = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";
	char id[GW_SHA256_HEX];
	keep(raw, "device.unknown", 1000, id);

	char path[700];
	struct stat stt;
	snprintf(path, sizeof(path), "%s/quarantine.db", qdir);
	cr_assert_eq(stat(path, &stt), 0, "one database holds the entries");
	cr_assert_eq(stat(qdir, &stt), 0);
	cr_assert_eq(stt.st_mode & 0777, 0700, "only the gateway's user reads the directory");

	struct gw_quarantine_meta m;
	struct tm_buf b;
	tm_buf_init(&b);
	struct tm_error err = {0};
	cr_assert_eq(gw_quarantine_get(q, id, &m, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(b.len, strlen(raw));
	cr_assert_eq(memcmp(b.data, raw, b.len), 0);
	cr_assert_str_eq(m.id, id);
	cr_assert_str_eq(m.reason, "device.unknown");
	cr_assert_str_eq(m.detail, "why: device.unknown");
	cr_assert_str_eq(m.message_id, "id-device.unknown@dev");
	cr_assert_str_eq(m.serial, "XK100001");
	cr_assert_str_eq(m.report_id, "");
	cr_assert_eq(m.size, strlen(raw));
	cr_assert_eq(m.received_at, 995);
	cr_assert_eq(m.quarantined_at, 1000);

	/* by a unique prefix, metadata only */
	char prefix[12];
	snprintf(prefix, sizeof(prefix), "%.10s", id);
	cr_assert_eq(gw_quarantine_get(q, prefix, &m, NULL, &err), 0, "%s", err.msg);
	cr_assert_str_eq(m.id, id);

	/* release = get, re-run, remove */
	cr_assert_eq(gw_quarantine_remove(q, id, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_quarantine_get(q, id, &m, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "quarantine.not_found");
	cr_assert_not_null(strstr(err.msg, id), "%s", err.msg);
	tm_buf_fini(&b);
}

Test(quarantine, the_same_message_again_lands_on_the_same_entry)
{
	const char *raw = "Message-ID: <1@x>\r\n\r\nsame\r\n";
	char id1[GW_SHA256_HEX], id2[GW_SHA256_HEX];
	keep(raw, "store.busy", 1000, id1);
	keep(raw, "report.conflict", 2000, id2);
	cr_assert_str_eq(id1, id2);
	struct gw_quarantine_meta m;
	struct tm_error err = {0};
	cr_assert_eq(gw_quarantine_get(q, id1, &m, NULL, &err), 0);
	cr_assert_str_eq(m.reason, "report.conflict", "the newest reason");
	cr_assert_eq(m.quarantined_at, 1000, "the first time stays");
	/* again for the same reason: nothing changes, not even received_at */
	keep(raw, "report.conflict", 3000, id2);
	cr_assert_eq(gw_quarantine_get(q, id1, &m, NULL, &err), 0);
	cr_assert_eq(m.received_at, 2000 - 5, "the entry already held it");
	cr_assert_eq(m.quarantined_at, 1000);
	/* another detail for the same reason is news */
	struct gw_quarantine_meta x = {0};
	sha_hex(raw, x.raw_sha256);
	snprintf(x.reason, sizeof(x.reason), "report.conflict");
	snprintf(x.detail, sizeof(x.detail), "seq 7 again");
	x.received_at = 3995;
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)raw, strlen(raw), &x, 4000, id2, &err), 0);
	cr_assert_eq(gw_quarantine_get(q, id1, &m, NULL, &err), 0);
	cr_assert_str_eq(m.detail, "seq 7 again");
	cr_assert_eq(m.received_at, 3995);
	cr_assert_eq(m.quarantined_at, 1000);
}

static int collect_cb(void *ctx, const struct gw_quarantine_meta *m)
{
	char *out = ctx;
	strcat(out, m->reason);
	strcat(out, ";");
	return 0;
}

static int stop_cb(void *ctx, const struct gw_quarantine_meta *m)
{
	++*(int *)ctx;
	return 42;
}

Test(quarantine, list_walks_entries_in_id_order_and_ignores_leftovers)
{
	char ids[3][GW_SHA256_HEX];
	keep("one", "device.unknown", 10, ids[0]);
	keep("two", "device.mismatch", 20, ids[1]);
	keep("three", "report.future", 30, ids[2]);
	/* crash leftovers and strangers are not entries */
	char p[700];
	snprintf(p, sizeof(p), "%s/%064x.eml", qdir, 5);
	tm_test_write(p, "orphan", 6);
	snprintf(p, sizeof(p), "%s/.tmp-x.json-abcdef", qdir);
	tm_test_write(p, "{", 1);
	snprintf(p, sizeof(p), "%s/README", qdir);
	tm_test_write(p, "hi", 2);

	char got[256] = "";
	struct tm_error err = {0};
	cr_assert_eq(gw_quarantine_list(q, collect_cb, got, &err), 0, "%s", err.msg);
	/* sha256("one") = 7692…, ("two") = 3fc4…, ("three") = 8b5b… */
	cr_assert_str_eq(got, "device.mismatch;device.unknown;report.future;");
	int n = 0;
	cr_assert_eq(gw_quarantine_list(q, stop_cb, &n, &err), 42);
	cr_assert_eq(n, 1);
}

Test(quarantine, ids_are_checked)
{
	char a[GW_SHA256_HEX], b[GW_SHA256_HEX];
	keep("alpha", "device.unknown", 10, a);
	keep("beta", "device.unknown", 10, b);
	struct gw_quarantine_meta m;
	struct tm_error err = {0};
	const char *bad[] = { "", "abc", "ABCDEF0123", "../../etc/passwd", "0123456789zz" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(gw_quarantine_get(q, bad[i], &m, NULL, &err), -1, "%s", bad[i]);
		cr_assert_str_eq(err.reason, "quarantine.bad_id", "%s", bad[i]);
		cr_assert_not_null(strstr(err.msg, "want 8 to 64 lower-case hex digits"), "%s", err.msg);
	}
	cr_assert_eq(gw_quarantine_remove(q, "0000000000", &err), -1);
	cr_assert_str_eq(err.reason, "quarantine.not_found");

	/* an ambiguous prefix: make two entries share 8 digits */
	struct gw_quarantine_meta x = {0};
	snprintf(x.raw_sha256, sizeof(x.raw_sha256), "abcdef01%056x", 1);
	snprintf(x.reason, sizeof(x.reason), "device.unknown");
	char id[GW_SHA256_HEX];
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)"x", 1, &x, 1, id, &err), 0);
	snprintf(x.raw_sha256, sizeof(x.raw_sha256), "abcdef01%056x", 2);
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)"y", 1, &x, 1, id, &err), 0);
	cr_assert_eq(gw_quarantine_get(q, "abcdef01", &m, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "quarantine.bad_id");
	cr_assert_not_null(strstr(err.msg, "ambiguous"), "%s", err.msg);
}

Test(quarantine, put_checks_its_inputs)
{
	struct gw_quarantine_meta m = {0};
	char id[GW_SHA256_HEX];
	struct tm_error err = {0};
	snprintf(m.reason, sizeof(m.reason), "device.unknown");
	snprintf(m.raw_sha256, sizeof(m.raw_sha256), "xyz");
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)"a", 1, &m, 1, id, &err), -1);
	cr_assert_str_eq(err.reason, "internal.bug");
	cr_assert_not_null(strstr(err.msg, "raw_sha256"));
	snprintf(m.raw_sha256, sizeof(m.raw_sha256), "%064x", 1);
	snprintf(m.reason, sizeof(m.reason), "no.such_code");
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)"a", 1, &m, 1, id, &err), -1);
	cr_assert_str_eq(err.reason, "internal.bug");
	cr_assert_not_null(strstr(err.msg, "'no.such_code'"));
	snprintf(m.reason, sizeof(m.reason), "mime.too_large");
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)"a", GW_QUARANTINE_MAX_RAW + 1u, &m, 1, id,
				       &err), -1);
	cr_assert_str_eq(err.reason, "io.too_large");
	/* bytes from bad input in the detail are made printable, never refused */
	snprintf(m.detail, sizeof(m.detail), "serial '\xff\x01' is bad");
	cr_assert_eq(gw_quarantine_put(q, (const uint8_t *)"a", 1, &m, 1, id, &err), 0, "%s", err.msg);
	struct gw_quarantine_meta back;
	cr_assert_eq(gw_quarantine_get(q, id, &back, NULL, &err), 0);
	cr_assert_str_eq(back.detail, "serial '?" "?' is bad");
}

Test(quarantine, purge_removes_old_entries)
{
	char old1[GW_SHA256_HEX], old2[GW_SHA256_HEX], fresh[GW_SHA256_HEX];
	keep("old one", "device.unknown", 1000, old1);
	keep("old two", "device.unknown", 1999, old2);
	keep("fresh", "device.unknown", 2000, fresh);
	size_t removed = 99;
	struct tm_error err = {0};
	cr_assert_eq(gw_quarantine_purge(q, 2000, &removed, &err), 0, "%s", err.msg);
	cr_assert_eq(removed, 2);
	struct gw_quarantine_meta m;
	cr_assert_eq(gw_quarantine_get(q, old1, &m, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "quarantine.not_found");
	cr_assert_eq(gw_quarantine_get(q, old2, &m, NULL, &err), -1);
	cr_assert_eq(gw_quarantine_get(q, fresh, &m, NULL, &err), 0, "the cutoff itself stays");
	cr_assert_eq(gw_quarantine_purge(q, 2000, &removed, &err), 0);
	cr_assert_eq(removed, 0);
}

Test(quarantine, open_refuses_what_is_not_a_directory)
{
	char file[600];
	snprintf(file, sizeof(file), "%s/plain", tmpdir);
	tm_test_write(file, "x", 1);
	struct gw_quarantine *other = NULL;
	struct tm_error err = {0};
	cr_assert_eq(qopen(file, &other, &err), -1);
	cr_assert_str_eq(err.reason, "io.open");
	cr_assert_not_null(strstr(err.msg, file), "%s", err.msg);
	cr_assert_null(other);
}

/* A batch is one transaction: another handle (the `quarantine` command in
 * another process) sees none of it before the end with keep, all of it
 * after; an end without keep leaves nothing. */
Test(quarantine, a_batch_appears_whole_at_its_end)
{
	char ids[3][GW_SHA256_HEX];
	struct tm_error err = {0};
	struct gw_quarantine *other = NULL;
	cr_assert_eq(qopen(qdir, &other, &err), 0, "%s", err.msg);
	char got[256] = "";
	gw_quarantine_batch_begin(q);
	keep("one", "device.unknown", 10, ids[0]);
	keep("two", "device.mismatch", 20, ids[1]);
	cr_assert_eq(gw_quarantine_list(other, collect_cb, got, &err), 0, "%s", err.msg);
	cr_assert_str_eq(got, "", "no entry before the batch ends");
	cr_assert_eq(gw_quarantine_batch_end(q, true, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_quarantine_list(other, collect_cb, got, &err), 0, "%s", err.msg);
	cr_assert_str_eq(got, "device.mismatch;device.unknown;");

	gw_quarantine_batch_begin(q);
	keep("three", "report.future", 30, ids[2]);
	cr_assert_eq(gw_quarantine_batch_end(q, false, NULL), 0);
	got[0] = '\0';
	cr_assert_eq(gw_quarantine_list(q, collect_cb, got, &err), 0, "%s", err.msg);
	cr_assert_str_eq(got, "device.mismatch;device.unknown;", "the dropped batch left nothing");
	/* outside a batch a put is durable at once */
	keep("three", "report.future", 30, ids[2]);
	got[0] = '\0';
	cr_assert_eq(gw_quarantine_list(other, collect_cb, got, &err), 0, "%s", err.msg);
	cr_assert_str_eq(got, "device.mismatch;device.unknown;report.future;");
	gw_quarantine_close(other);
}

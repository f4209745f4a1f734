/* MIME layer: parse with limits, classify, build (parser/smime/mime*.c).
 * (Over 800 lines: one test file per module, STYLE.md; the limits and
 * smuggling vectors are tables.) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <telemail/error.h>

#include "common.h"
#include "smime/mime.h"
#include "smime/mime_scan.h"

/* ---- helpers ---- */

/* Text written with "\n" in the test, turned into CRLF (or kept LF). */
static void text(struct tm_buf *b, const char *s, bool crlf)
{
	for (; *s; s++) {
		if (*s == '\n' && crlf)
			cr_assert_eq(tm_buf_append(b, "\r", 1), 0);
		cr_assert_eq(tm_buf_append(b, s, 1), 0);
	}
}

static int parse_buf(const struct tm_buf *b, bool is_message, const struct tm_mime_limits *lim,
		     struct tm_mime_entity *e, struct tm_error *err)
{
	tm_error_clear(err);
	return tm_mime_parse(b->data, b->len, is_message, lim, e, err);
}

static int parse_text(const char *s, bool crlf, bool is_message,
		      const struct tm_mime_limits *lim, struct tm_mime_entity *e,
		      struct tm_error *err)
{
	struct tm_buf b;
	tm_buf_init(&b);
	text(&b, s, crlf);
	int rc = parse_buf(&b, is_message, lim, e, err);
	tm_buf_fini(&b);
	return rc;
}

static void expect_fail(const char *s, bool is_message, const char *reason, const char *msg_part)
{
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_mime_entity_init(&e);
	int rc = parse_text(s, true, is_message, NULL, &e, &err);
	cr_assert_eq(rc, -1, "expected %s, parse succeeded", reason);
	cr_assert_str_eq(err.reason, reason, "%s: %s", err.reason, err.msg);
	cr_assert_not_null(strstr(err.msg, msg_part), "message '%s' lacks '%s'", err.msg, msg_part);
	cr_assert_eq(e.body.len, 0);
	tm_mime_entity_fini(&e);
}

static void fill_bytes(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* every line ends with CRLF, no bare CR or LF */
static void assert_crlf(const struct tm_buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n')
			cr_assert(i > 0 && b->data[i - 1] == '\r', "bare LF at %zu", i);
		if (b->data[i] == '\r')
			cr_assert(i + 1 < b->len && b->data[i + 1] == '\n', "bare CR at %zu", i);
	}
	cr_assert(b->len >= 2 && b->data[b->len - 2] == '\r' && b->data[b->len - 1] == '\n');
}

static void assert_lines_at_most(const struct tm_buf *b, size_t from, size_t max)
{
	size_t col = 0;
	for (size_t i = from; i < b->len; i++) {
		if (b->data[i] == '\r')
			continue;
		if (b->data[i] == '\n') {
			col = 0;
			continue;
		}
		col++;
		cr_assert_leq(col, max, "line longer than %zu at %zu", max, i);
	}
}

static const char yaml[] = "---\nreport:\n  id: \"8c1d2c55-6a3b-4a8e-9a43-2b1f3f3a6a11\"\n";

/* ---- builders and round trips ---- */

Test(mime, leaf_builds_and_reparses)
{
	struct tm_buf out;
	struct tm_error err = {0};
	struct tm_mime_entity e;
	uint8_t body[1000];
	tm_buf_init(&out);
	tm_mime_entity_init(&e);
	fill_bytes(body, sizeof(body), 7);
	cr_assert_eq(tm_mime_build_leaf("application/yaml", body, sizeof(body), &out, &err), 0,
		     "%s", err.msg);
	const char head[] = "Content-Type: application/yaml\r\nContent-Transfer-Encoding: base64\r\n\r\n";
	cr_assert_eq(memcmp(out.data, head, strlen(head)), 0);
	assert_crlf(&out);
	assert_lines_at_most(&out, strlen(head), 76);
	/* 1000 bytes: 1336 base64 characters, 17 full lines of 76 and one of 44 */
	cr_assert_eq(out.len, strlen(head) + 1336 + 18 * 2);

	cr_assert_eq(parse_buf(&out, false, NULL, &e, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(e.kind, TM_MIME_LEAF);
	cr_assert_str_eq(e.content_type, "application/yaml");
	cr_assert_eq(e.body.len, sizeof(body));
	cr_assert_eq(memcmp(e.body.data, body, sizeof(body)), 0);
	cr_assert_str_eq(e.message_id, "");
	tm_mime_entity_fini(&e);
	tm_buf_fini(&out);
}

/* Every tail length (0, 1 or 2 bytes after the last full group, with one or
 * two '=') and a line break inside a quantum: the decoder gives back the
 * bytes, and agrees with coreutils' base64 -d on the same text. */
Test(mime, base64_every_tail_length)
{
	for (size_t n = 0; n <= 80; n++) {
		uint8_t body[80];
		fill_bytes(body, n, (unsigned)n + 1);
		struct tm_buf out;
		struct tm_error err = {0};
		struct tm_mime_entity e;
		tm_buf_init(&out);
		tm_mime_entity_init(&e);
		cr_assert_eq(tm_mime_build_leaf("application/yaml", body, n, &out, &err), 0);
		cr_assert_eq(parse_buf(&out, false, NULL, &e, &err), 0, "n=%zu: %s", n, err.msg);
		cr_assert_eq(e.body.len, n, "n=%zu", n);
		cr_assert(n == 0 || memcmp(e.body.data, body, n) == 0, "n=%zu", n);
		tm_mime_entity_fini(&e);
		tm_buf_fini(&out);
	}
	/* "hello world" split inside quanta by CRLF and blanks */
	const char *t = "Content-Type: application/yaml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			"aGVs\r\nbG8g d29y\r\nbGQ=\r\n";
	struct tm_buf in;
	struct tm_error err = {0};
	struct tm_mime_entity e;
	tm_buf_init(&in);
	tm_mime_entity_init(&e);
	tm_buf_append_str(&in, t);
	cr_assert_eq(parse_buf(&in, false, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_eq(e.body.len, 11);
	cr_assert_eq(memcmp(e.body.data, "hello world", 11), 0);
	cr_assert_eq(tm_test_sh("printf 'aGVs\\nbG8gd29y\\nbGQ=\\n' | base64 -d | grep -qx 'hello world'"), 0);
	tm_mime_entity_fini(&e);
	tm_buf_fini(&in);
}

/* The decoder's four-digit fast path against the one-at-a-time path: a
 * line break at every offset (quanta out of step with the lines), and a bad
 * byte at every offset, reported at that offset. */
Test(mime, base64_breaks_and_bad_bytes_at_every_offset)
{
	const char *b64 = "aGVsbG8gd29ybGQsIGhlbGxvIHdvcmxk"; /* "hello world, hello world" */
	size_t n = strlen(b64);
	for (size_t cut = 0; cut <= n; cut++) {
		char text[64];
		snprintf(text, sizeof(text), "%.*s\r\n%s", (int)cut, b64, b64 + cut);
		struct tm_buf out;
		struct tm_error err = {0};
		tm_buf_init(&out);
		cr_assert_eq(tm_mime_decode_base64((const uint8_t *)text, strlen(text), &out, &err), 0,
			     "cut %zu: %s", cut, err.msg);
		cr_assert_eq(out.len, 24, "cut %zu", cut);
		cr_assert_eq(memcmp(out.data, "hello world, hello world", 24), 0, "cut %zu", cut);
		tm_buf_fini(&out);
	}
	for (size_t at = 0; at < n; at++) {
		char text[64], want[64];
		snprintf(text, sizeof(text), "%s", b64);
		text[at] = '*';
		struct tm_buf out;
		struct tm_error err = {0};
		tm_buf_init(&out);
		cr_assert_eq(tm_mime_decode_base64((const uint8_t *)text, n, &out, &err), -1);
		cr_assert_str_eq(err.reason, "mime.bad_encoding");
		snprintf(want, sizeof(want), "base64: invalid byte 0x2a at offset %zu", at);
		cr_assert_str_eq(err.msg, want);
		cr_assert_eq(out.len, 0, "nothing half-decoded is left");
		tm_buf_fini(&out);
	}
}

Test(mime, pkcs7_builds_and_reparses)
{
	struct tm_buf out;
	struct tm_error err = {0};
	struct tm_mime_entity e;
	uint8_t der[3001];
	tm_buf_init(&out);
	tm_mime_entity_init(&e);
	fill_bytes(der, sizeof(der), 11);
	cr_assert_eq(tm_mime_build_pkcs7("authEnveloped-data", der, sizeof(der), &out, &err), 0);
	const char head[] =
		"Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=smime.p7m\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"Content-Disposition: attachment; filename=smime.p7m\r\n\r\n";
	cr_assert_eq(memcmp(out.data, head, strlen(head)), 0);
	assert_crlf(&out);
	assert_lines_at_most(&out, strlen(head), 76);
	cr_assert_eq(parse_buf(&out, false, NULL, &e, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(e.kind, TM_MIME_PKCS7);
	cr_assert_str_eq(e.content_type, "application/pkcs7-mime");
	cr_assert_str_eq(e.smime_type, "authenveloped-data");
	cr_assert_eq(e.body.len, sizeof(der));
	cr_assert_eq(memcmp(e.body.data, der, sizeof(der)), 0);
	tm_mime_entity_fini(&e);
	tm_buf_fini(&out);
}

Test(mime, signed_builds_and_reparses_byte_for_byte)
{
	struct tm_buf leaf, out;
	struct tm_error err = {0};
	struct tm_mime_entity e;
	uint8_t sig[777];
	tm_buf_init(&leaf);
	tm_buf_init(&out);
	tm_mime_entity_init(&e);
	fill_bytes(sig, sizeof(sig), 3);
	cr_assert_eq(tm_mime_build_leaf("application/yaml", (const uint8_t *)yaml, strlen(yaml),
					&leaf, &err), 0);
	cr_assert_eq(tm_mime_build_signed(leaf.data, leaf.len, sig, sizeof(sig), &out, &err), 0,
		     "%s", err.msg);
	assert_crlf(&out);
	cr_assert_not_null(strstr((char *)out.data,
				  "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\""));
	cr_assert_not_null(strstr((char *)out.data,
				  "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
				  "Content-Transfer-Encoding: base64\r\n"
				  "Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"));

	cr_assert_eq(parse_buf(&out, false, NULL, &e, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(e.kind, TM_MIME_MULTIPART_SIGNED);
	cr_assert_str_eq(e.content_type, "multipart/signed");
	cr_assert_eq(e.signed_part.len, leaf.len);
	cr_assert_eq(memcmp(e.signed_part.data, leaf.data, leaf.len), 0);
	cr_assert_eq(e.signature.len, sizeof(sig));
	cr_assert_eq(memcmp(e.signature.data, sig, sizeof(sig)), 0);
	cr_assert_eq(e.body.len, 0);

	/* the signed part re-parses to the leaf */
	struct tm_mime_entity in;
	tm_mime_entity_init(&in);
	cr_assert_eq(parse_buf(&e.signed_part, false, NULL, &in, &err), 0, "%s", err.msg);
	cr_assert_eq(in.kind, TM_MIME_LEAF);
	cr_assert_eq(in.body.len, strlen(yaml));
	cr_assert_eq(memcmp(in.body.data, yaml, strlen(yaml)), 0);
	tm_mime_entity_fini(&in);

	/* two builds use two different random boundaries */
	struct tm_buf out2;
	tm_buf_init(&out2);
	cr_assert_eq(tm_mime_build_signed(leaf.data, leaf.len, sig, sizeof(sig), &out2, &err), 0);
	cr_assert(out.len != out2.len || memcmp(out.data, out2.data, out.len) != 0);
	tm_buf_fini(&out2);

	tm_mime_entity_fini(&e);
	tm_buf_fini(&out);
	tm_buf_fini(&leaf);
}

Test(mime, signed_entity_without_final_crlf_is_kept_verbatim)
{
	static const char ent[] = "Content-Type: text/plain\r\n\r\nno final line break";
	struct tm_buf out;
	struct tm_error err = {0};
	struct tm_mime_entity e;
	tm_buf_init(&out);
	tm_mime_entity_init(&e);
	cr_assert_eq(tm_mime_build_signed((const uint8_t *)ent, strlen(ent), (const uint8_t *)"\x30\x00",
					  2, &out, &err), 0);
	cr_assert_eq(parse_buf(&out, false, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_eq(e.signed_part.len, strlen(ent));
	cr_assert_eq(memcmp(e.signed_part.data, ent, strlen(ent)), 0);
	tm_mime_entity_fini(&e);
	tm_buf_fini(&out);
}

Test(mime, message_builds_and_reparses)
{
	struct tm_buf ent, msg;
	struct tm_error err = {0};
	struct tm_mime_entity e;
	uint8_t der[500];
	tm_buf_init(&ent);
	tm_buf_init(&msg);
	tm_mime_entity_init(&e);
	fill_bytes(der, sizeof(der), 5);
	cr_assert_eq(tm_mime_build_pkcs7("authEnveloped-data", der, sizeof(der), &ent, &err), 0);
	struct tm_mime_envelope env = {
		.from = "xk100001@site.example",
		.to = "telemetry@gw.example",
		.message_id = "<5f2c9a@site.example>",
		.date = 1700000000,
		.subject = "telemail report",
	};
	cr_assert_eq(tm_mime_build_message(&env, ent.data, ent.len, &msg, &err), 0, "%s", err.msg);
	assert_crlf(&msg);
	const char head[] = "From: xk100001@site.example\r\n"
			    "To: telemetry@gw.example\r\n"
			    "Subject: telemail report\r\n"
			    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
			    "Message-ID: <5f2c9a@site.example>\r\n"
			    "MIME-Version: 1.0\r\n";
	cr_assert_eq(memcmp(msg.data, head, strlen(head)), 0, "%.*s", (int)strlen(head), msg.data);
	cr_assert_eq(memcmp(msg.data + strlen(head), ent.data, ent.len), 0);

	cr_assert_eq(parse_buf(&msg, true, NULL, &e, &err), 0, "%s: %s", err.reason, err.msg);
	cr_assert_eq(e.kind, TM_MIME_PKCS7);
	cr_assert_str_eq(e.smime_type, "authenveloped-data");
	cr_assert_str_eq(e.message_id, "5f2c9a@site.example");
	cr_assert_eq(e.body.len, sizeof(der));
	cr_assert_eq(memcmp(e.body.data, der, sizeof(der)), 0);

	/* the epoch, and no Subject when none is given */
	tm_buf_reset(&msg);
	env.date = 0;
	env.subject = NULL;
	cr_assert_eq(tm_mime_build_message(&env, ent.data, ent.len, &msg, &err), 0);
	cr_assert_not_null(strstr((char *)msg.data, "\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
	cr_assert_null(strstr((char *)msg.data, "Subject:"));
	tm_mime_entity_fini(&e);
	tm_buf_fini(&msg);
	tm_buf_fini(&ent);
}

/* ---- header injection and bad builder input ---- */

struct bad_env {
	const char *field;
	struct tm_mime_envelope env;
	const char *msg_part;
};

Test(mime, builders_reject_header_injection)
{
	static const char ent[] = "Content-Type: text/plain\r\n\r\nx\r\n";
	const struct bad_env cases[] = {
		{ "From", { "a@b\r\nBcc: victim@x", "c@d", "<1@b>", 0, "s" }, "From: line break" },
		{ "To", { "a@b", "c@d\nBcc: victim@x", "<1@b>", 0, "s" }, "To: line break" },
		{ "Subject", { "a@b", "c@d", "<1@b>", 0, "hi\r\n\r\nbody" }, "Subject: line break" },
		{ "Message-ID", { "a@b", "c@d", "<1@b>\r\nX: y", 0, "s" }, "Message-ID: line break" },
		{ "Subject ctl", { "a@b", "c@d", "<1@b>", 0, "a\x01z" }, "Subject: non-printable byte 0x01" },
		{ "From 8bit", { "\xc3\xa9@b", "c@d", "<1@b>", 0, "s" }, "From: non-printable byte 0xc3" },
		{ "From missing", { NULL, "c@d", "<1@b>", 0, "s" }, "From: missing" },
		{ "To empty", { "a@b", "", "<1@b>", 0, "s" }, "To: missing" },
		{ "Message-ID form", { "a@b", "c@d", "1@b", 0, "s" }, "not of the form" },
		{ "Message-ID space", { "a@b", "c@d", "<1 @b>", 0, "s" }, "not of the form" },
		{ "Date", { "a@b", "c@d", "<1@b>", -5, "s" }, "Date: -5 is out of range" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tm_buf out;
		struct tm_error err = {0};
		tm_buf_init(&out);
		int rc = tm_mime_build_message(&cases[i].env, (const uint8_t *)ent, strlen(ent), &out,
					       &err);
		cr_expect_eq(rc, -1, "%s accepted", cases[i].field);
		cr_expect_str_eq(err.reason ? err.reason : "", "mime.bad_header", "%s", cases[i].field);
		cr_expect_not_null(strstr(err.msg, cases[i].msg_part), "%s: '%s'", cases[i].field,
				   err.msg);
		cr_expect_eq(out.len, 0, "%s: output written", cases[i].field);
		tm_buf_fini(&out);
	}
}

Test(mime, leaf_and_pkcs7_reject_bad_header_values)
{
	struct tm_buf out;
	struct tm_error err = {0};
	tm_buf_init(&out);
	cr_assert_eq(tm_mime_build_leaf("application/yaml\r\nX-Evil: 1", (const uint8_t *)"a", 1,
					&out, &err), -1);
	cr_assert_str_eq(err.reason, "mime.bad_header");
	cr_assert_not_null(strstr(err.msg, "Content-Type: line break"));
	cr_assert_eq(tm_mime_build_pkcs7("signed-data; name=x", (const uint8_t *)"a", 1, &out, &err),
		     -1);
	cr_assert_str_eq(err.reason, "mime.bad_header");
	cr_assert_not_null(strstr(err.msg, "smime-type"));
	cr_assert_eq(out.len, 0);
	tm_buf_fini(&out);
}

Test(mime, signed_builder_requires_canonical_entity)
{
	static const char ent[] = "Content-Type: text/plain\n\nbare LF\n";
	struct tm_buf out;
	struct tm_error err = {0};
	tm_buf_init(&out);
	cr_assert_eq(tm_mime_build_signed((const uint8_t *)ent, strlen(ent), (const uint8_t *)"0",
					  1, &out, &err), -1);
	cr_assert_str_eq(err.reason, "mime.malformed");
	cr_assert_not_null(strstr(err.msg, "bare LF at offset 24"), "%s", err.msg);
	tm_buf_fini(&out);
}

/* ---- parsing real-world shapes ---- */

/* test/eml/mime/mta-signed.eml (LF line ends): a detached signed message
 * as written by openssl / an MUA, after an MTA: Return-Path and Received
 * added, the Content-Type folded with the boundary on a continuation line,
 * x-pkcs7-signature, the first part multi-line. */
static void read_fixture(const char *name, bool crlf, struct tm_buf *out)
{
	struct tm_buf raw;
	tm_buf_init(&raw);
	char *path = tm_test_src(name);
	tm_test_read(path, &raw);
	free(path);
	text(out, (const char *)raw.data, crlf);
	tm_buf_fini(&raw);
}

static const char mta_signed_part[] = "Content-Type: application/yaml\r\n"
				      "Content-Transfer-Encoding: 7bit\r\n"
				      "\r\n"
				      "---\r\n"
				      "report:\r\n"
				      "  seq: 1\r\n";

static void check_mta_signed(bool crlf)
{
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_mime_entity_init(&e);
	struct tm_buf b;
	tm_buf_init(&b);
	read_fixture("eml/mime/mta-signed.eml", crlf, &b);
	cr_assert_eq(parse_buf(&b, true, NULL, &e, &err), 0, "%s: %s", err.reason, err.msg);
	tm_buf_fini(&b);
	cr_assert_eq(e.kind, TM_MIME_MULTIPART_SIGNED);
	cr_assert_str_eq(e.message_id, "abc.123@site.example");
	cr_assert_eq(e.signed_part.len, strlen(mta_signed_part), "%zu: %s", e.signed_part.len,
		     e.signed_part.data);
	cr_assert_eq(memcmp(e.signed_part.data, mta_signed_part, e.signed_part.len), 0);
	static const uint8_t sig[] = { 0x30, 0x82, 0x01, 0x00, 0x01 };
	cr_assert_eq(e.signature.len, sizeof(sig));
	cr_assert_eq(memcmp(e.signature.data, sig, sizeof(sig)), 0);
	tm_mime_entity_fini(&e);
}

Test(mime, message_through_mta_crlf)
{
	check_mta_signed(true);
}

Test(mime, message_with_lf_line_ends)
{
	check_mta_signed(false);
}

Test(mime, message_without_content_type_is_text_plain)
{
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_mime_entity_init(&e);
	cr_assert_eq(parse_text("From: a@b\nTo: c@d\nSubject: hi\n\nhello\n", true, true, NULL, &e,
				&err), 0, "%s", err.msg);
	cr_assert_eq(e.kind, TM_MIME_LEAF);
	cr_assert_str_eq(e.content_type, "text/plain");
	cr_assert_str_eq((char *)e.body.data, "hello\r\n");
	cr_assert_str_eq(e.message_id, "");
	tm_mime_entity_fini(&e);
}

Test(mime, classification)
{
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_mime_entity_init(&e);
	/* x-pkcs7-mime, upper-case smime-type */
	cr_assert_eq(parse_text("Content-Type: Application/X-PKCS7-MIME; smime-type=Signed-Data\n"
				"Content-Transfer-Encoding: base64\n\nMIIB\n", true, false, NULL, &e,
				&err), 0, "%s", err.msg);
	cr_assert_eq(e.kind, TM_MIME_PKCS7);
	cr_assert_str_eq(e.content_type, "application/x-pkcs7-mime");
	cr_assert_str_eq(e.smime_type, "signed-data");
	cr_assert_eq(e.body.len, 3);
	/* multipart/mixed */
	cr_assert_eq(parse_text("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n", true,
				false, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_eq(e.kind, TM_MIME_MULTIPART_OTHER);
	cr_assert_str_eq(e.content_type, "multipart/mixed");
	cr_assert_eq(e.body.len, 0);
	/* multipart/signed with another protocol (OpenPGP) is not S/MIME */
	cr_assert_eq(parse_text("Content-Type: multipart/signed; protocol=\"application/pgp-signature\";"
				" boundary=b\n\n--b\n\nx\n--b\nContent-Type: application/pgp-signature\n\n"
				"sig\n--b--\n", true, false, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_eq(e.kind, TM_MIME_MULTIPART_OTHER);
	/* quoted-printable leaf */
	cr_assert_eq(parse_text("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
				"a=3Db=\nc\n", true, false, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_eq(e.kind, TM_MIME_LEAF);
	cr_assert_str_eq((char *)e.body.data, "a=bc\r\n");
	tm_mime_entity_fini(&e);
}

Test(mime, long_message_id_is_truncated_safely)
{
	struct tm_buf b;
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_buf_init(&b);
	tm_mime_entity_init(&e);
	tm_buf_append_str(&b, "From: a@b\r\nMessage-ID: <");
	for (int i = 0; i < 400; i++)
		tm_buf_append_str(&b, "x");
	tm_buf_append_str(&b, "@b>\r\n\r\nhi\r\n");
	cr_assert_eq(parse_buf(&b, true, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_eq(strlen(e.message_id), sizeof(e.message_id) - 1);
	cr_assert_eq(e.message_id[0], 'x');
	tm_mime_entity_fini(&e);
	tm_buf_fini(&b);
}

/* ---- limits ---- */

static void *bomb_thread(void *arg)
{
	const struct tm_buf *b = arg;
	struct tm_mime_entity e;
	struct tm_error *err = calloc(1, sizeof(*err));
	tm_mime_entity_init(&e);
	tm_mime_parse(b->data, b->len, true, NULL, &e, err);
	tm_mime_entity_fini(&e);
	return err;
}

/* Parse on a thread with a 256 KiB stack: recursion 10000 deep would not fit. */
static void expect_bomb(const struct tm_buf *b, const char *reason, const char *msg_part)
{
	pthread_attr_t attr;
	pthread_t t;
	void *res;
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
	cr_assert_eq(pthread_create(&t, &attr, bomb_thread, (void *)b), 0);
	cr_assert_eq(pthread_join(t, &res), 0);
	pthread_attr_destroy(&attr);
	struct tm_error *err = res;
	cr_assert_str_eq(err->reason ? err->reason : "(none)", reason, "%s", err->msg);
	cr_assert_not_null(strstr(err->msg, msg_part), "%s", err->msg);
	free(err);
}

Test(mime, multipart_nesting_bomb_is_refused_before_gmime)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_append_str(&b, "From: a@b\r\nMIME-Version: 1.0\r\n");
	for (int i = 0; i < 10000; i++)
		tm_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	tm_buf_append_str(&b, "Content-Type: text/plain\r\n\r\nx\r\n");
	for (int i = 9999; i >= 0; i--)
		tm_buf_printf(&b, "--b%d--\r\n", i);
	expect_bomb(&b, "mime.too_deep", "nests 9 deep (limit 8)");
	tm_buf_fini(&b);
}

Test(mime, message_rfc822_nesting_bomb_is_refused)
{
	struct tm_buf b;
	tm_buf_init(&b);
	tm_buf_append_str(&b, "From: a@b\r\n");
	for (int i = 0; i < 10000; i++)
		tm_buf_append_str(&b, "Content-Type: message/rfc822\r\n\r\nFrom: a@b\r\n");
	tm_buf_append_str(&b, "\r\nx\r\n");
	expect_bomb(&b, "mime.too_deep", "nests 9 deep");
	tm_buf_fini(&b);
}

Test(mime, nesting_bomb_the_scan_cannot_follow_is_still_refused)
{
	/* the boundary in RFC 2231 form, which the scan does not follow: the
	 * bound on Content-Type fields still stops it before GMime */
	struct tm_buf b;
	tm_buf_init(&b);
	for (int i = 0; i < 10000; i++)
		tm_buf_printf(&b, "Content-Type: multipart/mixed; boundary*0=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	tm_buf_append_str(&b, "\r\nx\r\n");
	expect_bomb(&b, "mime.too_many_parts", "10000 Content-Type fields: more than 32 MIME parts");
	tm_buf_fini(&b);
}

Test(mime, depth_limit_exact)
{
	/* depth 8 (the limit) parses, depth 9 does not */
	for (int levels = 7; levels <= 8; levels++) {
		struct tm_buf b;
		struct tm_mime_entity e;
		struct tm_error err = {0};
		tm_buf_init(&b);
		tm_mime_entity_init(&e);
		for (int i = 0; i < levels; i++)
			tm_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n",
				      i, i);
		tm_buf_append_str(&b, "Content-Type: text/plain\r\n\r\nx\r\n");
		for (int i = levels - 1; i >= 0; i--)
			tm_buf_printf(&b, "--b%d--\r\n", i);
		int rc = parse_buf(&b, false, NULL, &e, &err);
		if (levels == 7) {
			cr_assert_eq(rc, 0, "%s", err.msg);
			cr_assert_eq(e.kind, TM_MIME_MULTIPART_OTHER);
		} else {
			cr_assert_eq(rc, -1);
			cr_assert_str_eq(err.reason, "mime.too_deep");
			cr_assert_not_null(strstr(err.msg, "nests 9 deep"), "%s", err.msg);
		}
		tm_mime_entity_fini(&e);
		tm_buf_fini(&b);
	}
}

static void flat_multipart(struct tm_buf *b, int parts, bool part_headers)
{
	tm_buf_append_str(b, "From: a@b\r\nContent-Type: multipart/mixed; boundary=sep\r\n\r\n");
	for (int i = 0; i < parts; i++)
		tm_buf_printf(b, "--sep\r\n%s\r\npart %d\r\n",
			      part_headers ? "Content-Type: text/plain\r\n" : "", i);
	tm_buf_append_str(b, "--sep--\r\n");
}

Test(mime, part_limit)
{
	for (int withct = 0; withct <= 1; withct++) {
		struct tm_buf b;
		struct tm_mime_entity e;
		struct tm_error err = {0};
		tm_buf_init(&b);
		tm_mime_entity_init(&e);
		flat_multipart(&b, 32, withct);
		cr_assert_eq(parse_buf(&b, true, NULL, &e, &err), 0, "32 parts: %s", err.msg);
		tm_buf_reset(&b);
		flat_multipart(&b, 33, withct);
		cr_assert_eq(parse_buf(&b, true, NULL, &e, &err), -1);
		cr_assert_str_eq(err.reason, "mime.too_many_parts");
		cr_assert_not_null(strstr(err.msg, "more than 32 MIME parts"), "%s", err.msg);
		tm_mime_entity_fini(&e);
		tm_buf_fini(&b);
	}
}

Test(mime, header_limit_top_and_part)
{
	for (int n = 100; n <= 101; n++) {
		for (int in_part = 0; in_part <= 1; in_part++) {
			struct tm_buf b;
			struct tm_mime_entity e;
			struct tm_error err = {0};
			tm_buf_init(&b);
			tm_mime_entity_init(&e);
			if (in_part)
				tm_buf_append_str(&b, "From: a@b\r\nContent-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n");
			for (int i = 0; i < n - 1; i++)
				tm_buf_printf(&b, "X-H%d: v\r\n", i);
			tm_buf_append_str(&b, "Content-Type: text/plain\r\n\r\nbody\r\n");
			if (in_part)
				tm_buf_append_str(&b, "--s--\r\n");
			int rc = parse_buf(&b, true, NULL, &e, &err);
			if (n == 100) {
				cr_assert_eq(rc, 0, "%d headers: %s", n, err.msg);
			} else {
				cr_assert_eq(rc, -1);
				cr_assert_str_eq(err.reason, "mime.too_many_headers");
				cr_assert_not_null(strstr(err.msg, "more than 100 header fields"), "%s",
						   err.msg);
			}
			tm_mime_entity_fini(&e);
			tm_buf_fini(&b);
		}
	}
}

Test(mime, line_limit)
{
	for (int crlf = 0; crlf <= 1; crlf++) {
		for (size_t n = 998; n <= 999; n++) {
			struct tm_buf b;
			struct tm_mime_entity e;
			struct tm_error err = {0};
			tm_buf_init(&b);
			tm_mime_entity_init(&e);
			tm_buf_append_str(&b, crlf ? "From: a@b\r\n\r\nline 3 follows\r\n"
						   : "From: a@b\n\nline 3 follows\n");
			for (size_t i = 0; i < n; i++)
				tm_buf_append(&b, "y", 1);
			tm_buf_append_str(&b, crlf ? "\r\n" : "\n");
			int rc = parse_buf(&b, true, NULL, &e, &err);
			if (n == 998) {
				cr_assert_eq(rc, 0, "%s", err.msg);
				cr_assert_eq(e.body.len, 14 + 998 + (crlf ? 4u : 2u), "%zu", e.body.len);
			} else {
				cr_assert_eq(rc, -1);
				cr_assert_str_eq(err.reason, "mime.line_too_long");
				cr_assert_str_eq(err.msg, "line 4: 999 octets (limit 998)");
			}
			tm_mime_entity_fini(&e);
			tm_buf_fini(&b);
		}
	}
}

Test(mime, size_limit)
{
	struct tm_mime_limits lim = TM_MIME_DEFAULT_LIMITS;
	struct tm_buf b;
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_buf_init(&b);
	tm_mime_entity_init(&e);
	tm_buf_append_str(&b, "From: a@b\r\n\r\n");
	while (b.len < 200)
		tm_buf_append_str(&b, "0123456789\r\n");
	lim.max_bytes = b.len;
	cr_assert_eq(parse_buf(&b, true, &lim, &e, &err), 0, "%s", err.msg);
	lim.max_bytes = b.len - 1;
	cr_assert_eq(parse_buf(&b, true, &lim, &e, &err), -1);
	cr_assert_str_eq(err.reason, "mime.too_large");
	char want[64];
	snprintf(want, sizeof(want), "message is %zu octets (limit %zu)", b.len, b.len - 1);
	cr_assert_str_eq(err.msg, want);
	/* the default: 1 MiB */
	while (b.len <= 1024 * 1024)
		tm_buf_append_str(&b, "0123456789012345678901234567890123456789\r\n");
	cr_assert_eq(parse_buf(&b, true, NULL, &e, &err), -1);
	cr_assert_str_eq(err.reason, "mime.too_large");
	tm_mime_entity_fini(&e);
	tm_buf_fini(&b);
}

Test(mime, nul_byte_and_empty_input)
{
	static const char m[] = "From: a@b\r\n\r\nab\0cd\r\n";
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_mime_entity_init(&e);
	cr_assert_eq(tm_mime_parse((const uint8_t *)m, sizeof(m) - 1, true, NULL, &e, &err), -1);
	cr_assert_str_eq(err.reason, "mime.malformed");
	cr_assert_str_eq(err.msg, "line 3: NUL byte at offset 15");
	cr_assert_eq(tm_mime_parse((const uint8_t *)"", 0, true, NULL, &e, &err), -1);
	cr_assert_str_eq(err.reason, "mime.malformed");
	cr_assert_str_eq(err.msg, "empty message");
	tm_mime_entity_fini(&e);
}

/* ---- encodings ---- */

struct enc_case {
	const char *name;
	const char *text;
	const char *msg_part;
};

Test(mime, bad_transfer_encodings)
{
	const struct enc_case cases[] = {
		{ "base64 bad char", "Content-Type: application/yaml\nContent-Transfer-Encoding: base64\n\nAAA*\n",
		  "invalid byte 0x2a at offset 3" },
		{ "base64 short", "Content-Type: application/yaml\nContent-Transfer-Encoding: base64\n\nAAAAA\n",
		  "do not make whole quanta" },
		{ "base64 no padding", "Content-Type: application/yaml\nContent-Transfer-Encoding: base64\n\nAAAAAA\n",
		  "do not make whole quanta" },
		{ "base64 data after pad", "Content-Type: application/yaml\nContent-Transfer-Encoding: base64\n\nAA=A\n",
		  "data after '=' padding" },
		{ "base64 triple pad", "Content-Type: application/yaml\nContent-Transfer-Encoding: base64\n\nA===\n",
		  "more than two '='" },
		{ "pkcs7 body", "Content-Type: application/pkcs7-mime; smime-type=signed-data\n"
				"Content-Transfer-Encoding: base64\n\nMIIB!AAA\n",
		  "application/pkcs7-mime body: base64: invalid byte 0x21" },
		{ "signature part", "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\n\n"
				    "--b\nContent-Type: text/plain\n\nx\n--b\n"
				    "Content-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\nMI-B\n--b--\n",
		  "signature part: base64: invalid byte 0x2d" },
		{ "qp", "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\na=G1b\n",
		  "quoted-printable: '=' not followed by two hex digits" },
		{ "unknown cte", "Content-Type: text/plain\nContent-Transfer-Encoding: x-rot13\n\nabc\n",
		  "unknown Content-Transfer-Encoding \"x-rot13\"" },
		{ "uuencode", "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n`\nend\n",
		  "uuencode is not supported" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tm_mime_entity e;
		struct tm_error err = {0};
		tm_mime_entity_init(&e);
		int rc = parse_text(cases[i].text, true, false, NULL, &e, &err);
		cr_expect_eq(rc, -1, "%s accepted", cases[i].name);
		cr_expect_str_eq(err.reason ? err.reason : "", "mime.bad_encoding", "%s: %s",
				 cases[i].name, err.msg);
		cr_expect_not_null(strstr(err.msg, cases[i].msg_part), "%s: '%s'", cases[i].name,
				   err.msg);
		tm_mime_entity_fini(&e);
	}
}

Test(mime, base64_with_whitespace_and_padding_is_fine)
{
	struct tm_mime_entity e;
	struct tm_error err = {0};
	tm_mime_entity_init(&e);
	cr_assert_eq(parse_text("Content-Type: application/yaml\nContent-Transfer-Encoding: BASE64\n\n"
				"YWJj ZA\t==\n\n", true, false, NULL, &e, &err), 0, "%s", err.msg);
	cr_assert_str_eq((char *)e.body.data, "abcd");
	tm_mime_entity_fini(&e);
}

/* ---- malformed structure ---- */

Test(mime, malformed_structures)
{
	/* GMime reads a multipart whose closing delimiter is missing up to the
	 * end of the input and only warns (GMIME_WARN_TRUNCATED_MESSAGE); we
	 * refuse it: the message may have been cut. */
	expect_fail("From: a@b\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n", true,
		    "mime.malformed", "truncated (the input ends inside a header block or before a multipart's closing delimiter)");
	expect_fail("From: a@b\nContent-Type: multipart/mixed; boundary=b\n\nno parts at all\n", true,
		    "mime.malformed", "truncated");
	/* GMime makes a multipart without boundary parameter a multipart with
	 * no parts, with a warning */
	expect_fail("From: a@b\nContent-Type: multipart/mixed\n\n--b\n\nx\n--b--\n", true,
		    "mime.malformed", "byte 11: multipart without boundary parameter");
	/* a header block without the empty line and body */
	expect_fail("From: a@b\nSubject: x\n", true, "mime.malformed", "truncated");
	/* an entity that does not start with a header block */
	expect_fail("just text\n", false, "mime.malformed", "invalid header field name: just text");
	expect_fail("From: a@b\nBad Header: x\n\nx\n", true, "mime.malformed",
		    "byte 11: invalid header field name: Bad Header: x");
	expect_fail("From: a@b\nContent-Type: garbage\n\nx\n", true, "mime.malformed",
		    "invalid Content-Type: garbage");
	/* two Content-Type (or Message-ID) fields: readers could disagree which counts */
	expect_fail("From: a@b\nContent-Type: text/plain\nContent-Type: application/yaml\n\nx\n", true,
		    "mime.malformed", "conflicting header fields: Content-Type");
	expect_fail("From: a@b\nMessage-ID: <1@b>\nMessage-ID: <2@b>\n\nx\n", true,
		    "mime.malformed", "conflicting header fields: Message-ID");
	expect_fail("Content-Type: multipart/mixed; boundary=a; boundary=b\n\n--a\n\nx\n--a--\n", false,
		    "mime.malformed", "conflicting parameters: boundary");
	/* multipart/signed needs exactly two parts, the second a signature */
	expect_fail("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\n\n"
		    "--b\n\nx\n--b\nContent-Type: application/pkcs7-signature\n\nMA==\n--b\n\ny\n--b--\n",
		    false, "mime.malformed", "3 body parts, not 2");
	expect_fail("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\n\n"
		    "--b\n\nx\n--b\nContent-Type: text/plain\n\nMA==\n--b--\n",
		    false, "mime.malformed", "not application/pkcs7-signature");
}

/* ---- threads ---- */

static void *parse_many(void *arg)
{
	const struct tm_buf *b = arg;
	intptr_t bad = 0;
	for (int i = 0; i < 200; i++) {
		struct tm_mime_entity e;
		struct tm_error err = {0};
		tm_mime_entity_init(&e);
		if (tm_mime_parse(b->data, b->len, true, NULL, &e, &err) != 0 ||
		    e.kind != TM_MIME_MULTIPART_SIGNED || e.signed_part.len != strlen(mta_signed_part))
			bad++;
		tm_mime_entity_fini(&e);
	}
	return (void *)bad;
}

Test(mime, concurrent_parsing)
{
	struct tm_buf b;
	pthread_t t[8];
	tm_buf_init(&b);
	read_fixture("eml/mime/mta-signed.eml", true, &b);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, parse_many, &b), 0);
	for (int i = 0; i < 8; i++) {
		void *res;
		cr_assert_eq(pthread_join(t[i], &res), 0);
		cr_assert_eq((intptr_t)res, 0, "thread %d: %ld failures", i, (long)(intptr_t)res);
	}
	tm_buf_fini(&b);
}

/* The parsed-certificate cache of the CMS verifier (parser/smime/cms_certcache.c):
 * each certificate is parsed once, the structure OpenSSL verifies is the
 * same as without the cache, every verdict still comes on every message,
 * and anything unusual takes the plain path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "smime/cms.h"
#include "smime/cms_private.h"
#include "common.h"

static const char CONTENT[] = TM_TEST_SIGNED_CONTENT;

static void expect_stats(struct tm_trust *t, uint64_t hits, uint64_t misses)
{
	uint64_t h = 0, m = 0;
	tm_cms_certcache_stats(t->certs, &h, &m);
	cr_assert_eq(h, hits, "hits %llu, expected %llu", (unsigned long long)h,
		     (unsigned long long)hits);
	cr_assert_eq(m, misses, "misses %llu, expected %llu", (unsigned long long)m,
		     (unsigned long long)misses);
}

Test(cms_certcache, one_signer_parsed_once)
{
	struct tm_trust *t = tm_test_trust(true);
	for (int i = 0; i < 4; i++) {
		struct tm_buf der;
		tm_buf_init(&der);
		tm_test_sign("dev-XK100001", CONTENT, strlen(CONTENT), i % 2 == 1, &der);
		char serial[65];
		struct tm_error err = {0};
		cr_assert_eq(tm_test_cms_verify(t, &der, i % 2 == 1, serial, &err), 0, "%s: %s", err.reason,
			     err.msg);
		cr_assert_str_eq(serial, "XK100001");
		tm_buf_fini(&der);
	}
	expect_stats(t, 3, 1);
	tm_trust_free(t);
}

Test(cms_certcache, signers_are_never_confused)
{
	struct tm_trust *t = tm_test_trust(false);
	const char *names[] = { "dev-XK100001", "dev-XK100002", "dev-XK100001", "dev-XK100003",
				"dev-XK100002" };
	const char *serials[] = { "XK100001", "XK100002", "XK100001", "XK100003", "XK100002" };
	/* the hits a direct-mapped cache gives: the test PKI is made afresh on
	 * each build, so two of its certificates may share a slot */
	const char *held[TM_CMS_CERTCACHE_SLOTS] = { NULL };
	uint64_t hits = 0;
	for (size_t i = 0; i < 5; i++) {
		size_t s = tm_test_certcache_slot(names[i]);
		if (held[s] != NULL && strcmp(held[s], names[i]) == 0)
			hits++;
		held[s] = names[i];
	}
	for (size_t i = 0; i < 5; i++) {
		struct tm_buf der;
		tm_buf_init(&der);
		tm_test_sign(names[i], CONTENT, strlen(CONTENT), false, &der);
		char serial[65];
		struct tm_error err = {0};
		cr_assert_eq(tm_test_cms_verify(t, &der, false, serial, &err), 0, "%s", err.msg);
		cr_assert_str_eq(serial, serials[i]);
		tm_buf_fini(&der);
	}
	expect_stats(t, hits, 5 - hits);
	tm_trust_free(t);
}

/* A cached certificate is checked again on every message: the verdicts of
 * the second message equal those of the first. */
static void same_verdict_twice(const char *name, bool crl, const char *reason)
{
	struct tm_trust *t = tm_test_trust(crl);
	for (int i = 0; i < 2; i++) {
		struct tm_buf der;
		tm_buf_init(&der);
		tm_test_sign(name, CONTENT, strlen(CONTENT), false, &der);
		struct tm_error err = {0};
		cr_assert_eq(tm_test_cms_verify(t, &der, false, NULL, &err), -1, "%s message %d", name, i + 1);
		cr_assert_str_eq(err.reason, reason, "%s message %d: %s", name, i + 1, err.msg);
		tm_buf_fini(&der);
	}
	expect_stats(t, 1, 1);
	tm_trust_free(t);
}

Test(cms_certcache, revoked_every_time) { same_verdict_twice("dev-revoked", true, "smime.signer_revoked"); }
Test(cms_certcache, expired_every_time) { same_verdict_twice("dev-expired", false, "smime.signer_expired"); }
Test(cms_certcache, untrusted_every_time) { same_verdict_twice("dev-untrusted", false, "smime.untrusted_signer"); }
Test(cms_certcache, eku_every_time) { same_verdict_twice("dev-noeku", false, "smime.signer_eku"); }

Test(cms_certcache, tampered_signature_every_time)
{
	struct tm_trust *t = tm_test_trust(false);
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign("dev-XK100001", CONTENT, strlen(CONTENT), false, &der);
	struct tm_error err = {0};
	cr_assert_eq(tm_test_cms_verify(t, &der, false, NULL, &err), 0, "%s", err.msg);
	/* the same message with one octet of the enclosed content changed */
	uint8_t *hit = memmem(der.data, der.len, "schema_version: 1", 17);
	cr_assert_not_null(hit);
	hit[16] = '2';
	cr_assert_eq(tm_test_cms_verify(t, &der, false, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.bad_signature", "%s", err.msg);
	expect_stats(t, 1, 1);
	tm_buf_fini(&der);
	tm_trust_free(t);
}

/* What the cache builds encodes back to exactly the octets it was given:
 * OpenSSL sees the same structure as without the cache. Short and long
 * (three-octet) lengths. */
static void same_structure(size_t content_len)
{
	char *content = malloc(content_len);
	cr_assert_not_null(content);
	memset(content, 'a', content_len);
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign("dev-XK100001", content, content_len, false, &der);
	struct tm_cms_certcache *c = tm_cms_certcache_new();
	cr_assert_not_null(c);
	for (int i = 0; i < 2; i++) { /* parsed, then from the cache */
		CMS_ContentInfo *cms = tm_cms_certcache_d2i(c, der.data, der.len);
		cr_assert_not_null(cms, "the fast path applies to our own DER");
		unsigned char *p = NULL;
		int n = i2d_CMS_ContentInfo(cms, &p);
		cr_assert_eq((size_t)n, der.len);
		cr_assert_eq(memcmp(p, der.data, der.len), 0, "re-encoded octets differ");
		OPENSSL_free(p);
		CMS_ContentInfo_free(cms);
	}
	uint64_t h, m;
	tm_cms_certcache_stats(c, &h, &m);
	cr_assert(h == 1 && m == 1);
	tm_cms_certcache_free(c);
	tm_buf_fini(&der);
	free(content);
}

Test(cms_certcache, same_structure_short) { same_structure(100); }
Test(cms_certcache, same_structure_long) { same_structure(70000); }

/* Garbage, truncation, trailing octets, BER: not for the cache; the plain
 * path gives its precise verdict. */
Test(cms_certcache, odd_input_takes_the_plain_path)
{
	struct tm_trust *t = tm_test_trust(false);
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign("dev-XK100001", CONTENT, strlen(CONTENT), false, &der);
	cr_assert_null(tm_cms_certcache_d2i(t->certs, der.data, der.len - 1));
	cr_assert_null(tm_cms_certcache_d2i(t->certs, der.data, 40));
	cr_assert_null(tm_cms_certcache_d2i(t->certs, (const uint8_t *)"\x30\x03\x02\x01\x01", 5));
	struct tm_buf longer;
	tm_buf_init(&longer);
	tm_buf_append(&longer, der.data, der.len);
	tm_buf_append(&longer, "\x00\x00", 2);
	cr_assert_null(tm_cms_certcache_d2i(t->certs, longer.data, longer.len));
	struct tm_error err = {0};
	struct tm_buf trunc = { .data = der.data, .len = der.len - 1 };
	cr_assert_eq(tm_test_cms_verify(t, &trunc, false, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed", "%s", err.msg);
	cr_assert_eq(tm_test_cms_verify(t, &longer, false, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "smime.malformed", "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "trailing data"), "%s", err.msg);
	expect_stats(t, 0, 0);
	tm_buf_fini(&longer);
	tm_buf_fini(&der);

	/* BER with indefinite lengths, as `openssl cms -sign -stream` writes it */
	char *dir = tm_test_tmpdir(), *cert = tm_test_pki("dev-XK100001.pem"),
	     *key = tm_test_pki("dev-XK100001.key");
	char in[512], out[512];
	snprintf(in, sizeof(in), "%s/content", dir);
	snprintf(out, sizeof(out), "%s/signed.der", dir);
	tm_test_write(in, CONTENT, strlen(CONTENT));
	cr_assert_eq(tm_test_sh("openssl cms -sign -binary -nodetach -stream -in '%s' -signer '%s' "
				"-inkey '%s' -md sha256 -outform DER -out '%s'",
				in, cert, key, out), 0);
	struct tm_buf ber;
	tm_buf_init(&ber);
	tm_test_read(out, &ber);
	cr_assert_eq(ber.data[1], 0x80, "indefinite length expected");
	cr_assert_null(tm_cms_certcache_d2i(t->certs, ber.data, ber.len));
	char serial[65];
	cr_assert_eq(tm_test_cms_verify(t, &ber, false, serial, &err), 0, "%s", err.msg);
	cr_assert_str_eq(serial, "XK100001");
	expect_stats(t, 0, 0);
	tm_buf_fini(&ber);
	tm_test_rmtree(dir);
	free(dir);
	free(cert);
	free(key);
	tm_trust_free(t);
}

/* DER header of a constructed element: identifier, then the length. */
static void put_header(struct tm_buf *b, uint8_t id, size_t len)
{
	uint8_t h[6];
	size_t n = 0;
	h[n++] = id;
	if (len < 0x80) {
		h[n++] = (uint8_t)len;
	} else {
		size_t k = len > 0xffff ? 3 : len > 0xff ? 2 : 1;
		h[n++] = (uint8_t)(0x80 | k);
		for (size_t i = k; i > 0; i--)
			h[n++] = (uint8_t)(len >> (8 * (i - 1)));
	}
	tm_buf_append(b, h, n);
}

/* The signer's certificate included twice (OpenSSL's own signing never
 * writes that, so the octets are put together here): the cache declines,
 * since OpenSSL does not add a certificate twice, and the plain path
 * decides, the same way every time. */
Test(cms_certcache, certificate_twice_takes_the_plain_path)
{
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign("dev-XK100001", CONTENT, strlen(CONTENT), false, &der);
	struct tm_cms_tlv ci, oid, ex, sd, t = { 0 };
	const uint8_t *end = der.data + der.len;
	cr_assert_eq(tm_cms_tlv_read(der.data, end, der.data, 0, &ci, NULL), 0);
	cr_assert_eq(tm_cms_tlv_read(ci.content, end, der.data, 1, &oid, NULL), 0);
	cr_assert_eq(tm_cms_tlv_read(oid.start + oid.total, end, der.data, 1, &ex, NULL), 0);
	cr_assert_eq(tm_cms_tlv_read(ex.content, end, der.data, 2, &sd, NULL), 0);
	const uint8_t *p = sd.content;
	for (; p < sd.content + sd.clen; p += t.total) {
		cr_assert_eq(tm_cms_tlv_read(p, end, der.data, 3, &t, NULL), 0);
		if (tm_cms_tlv_context(&t, 0))
			break;
	}
	cr_assert(tm_cms_tlv_context(&t, 0), "no certificates field");
	size_t sd_clen = sd.clen + t.clen, certs_clen = 2 * t.clen;
	struct tm_buf body, sdb, exb, out;
	tm_buf_init(&body);
	tm_buf_init(&sdb);
	tm_buf_init(&exb);
	tm_buf_init(&out);
	tm_buf_append(&body, sd.content, (size_t)(t.start - sd.content));
	put_header(&body, 0xa0, certs_clen);
	tm_buf_append(&body, t.content, t.clen);
	tm_buf_append(&body, t.content, t.clen);
	tm_buf_append(&body, t.start + t.total, (size_t)(sd.content + sd.clen - (t.start + t.total)));
	cr_assert_eq(body.len, sd_clen + (t.total - t.clen) + (body.len - sd_clen - (t.total - t.clen)));
	put_header(&sdb, 0x30, body.len);
	tm_buf_append(&sdb, body.data, body.len);
	put_header(&exb, 0xa0, sdb.len);
	tm_buf_append(&exb, sdb.data, sdb.len);
	put_header(&out, 0x30, oid.total + exb.len);
	tm_buf_append(&out, oid.start, oid.total);
	tm_buf_append(&out, exb.data, exb.len);

	struct tm_trust *t2 = tm_test_trust(false);
	cr_assert_null(tm_cms_certcache_d2i(t2->certs, out.data, out.len));
	struct tm_error err = {0}, err2 = {0};
	char serial[65];
	int rc = tm_test_cms_verify(t2, &out, false, serial, &err);
	cr_assert_eq(tm_test_cms_verify(t2, &out, false, NULL, &err2), rc);
	if (rc == 0)
		cr_assert_str_eq(serial, "XK100001");
	else
		cr_assert_str_eq(err.reason, err2.reason);
	tm_trust_free(t2);
	tm_buf_fini(&body);
	tm_buf_fini(&sdb);
	tm_buf_fini(&exb);
	tm_buf_fini(&out);
	tm_buf_fini(&der);
}

/* What the verifier reports of the signer (fingerprint, subject, serial,
 * certificate) is the same whether the certificate was parsed for this
 * message or taken from the cache with the facts worked out then. */
Test(cms_certcache, signer_facts_are_the_same_from_the_cache)
{
	struct tm_trust *t = tm_test_trust(false);
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign("dev-XK100002", CONTENT, strlen(CONTENT), false, &der);
	struct tm_signer_info si[2];
	for (int i = 0; i < 2; i++) {
		memset(&si[i], 0, sizeof(si[i]));
		tm_buf_init(&si[i].der);
		struct tm_error err = {0};
		cr_assert_eq(tm_cms_verify(t, der.data, der.len, NULL, 0, 0, 0, NULL, &si[i], &err), 0,
			     "%s", err.msg);
	}
	expect_stats(t, 1, 1);
	cr_assert_str_eq(si[0].fingerprint, si[1].fingerprint);
	cr_assert_str_eq(si[0].subject, si[1].subject);
	cr_assert_str_eq(si[1].serial, "XK100002");
	cr_assert_not_null(strstr(si[1].subject, "serialNumber=XK100002"), "%s", si[1].subject);
	cr_assert_eq(si[0].der.len, si[1].der.len);
	cr_assert_eq(memcmp(si[0].der.data, si[1].der.data, si[0].der.len), 0);
	/* and the same as openssl's own view of the certificate */
	char *pem = tm_test_pki("dev-XK100002.pem");
	struct tm_buf fp;
	tm_buf_init(&fp);
	cr_assert_eq(tm_test_sh("openssl x509 -in '%s' -noout -fingerprint -sha256 | tr -d : | "
				"tr A-F a-f | grep -q '=%s$'", pem, si[1].fingerprint), 0,
		     "fingerprint %s", si[1].fingerprint);
	free(pem);
	for (int i = 0; i < 2; i++)
		tm_buf_fini(&si[i].der);
	tm_buf_fini(&der);
	tm_trust_free(t);
}

/* Remembered chain verdicts (parser/smime/cms_chainmemo.c): a success is reused
 * only for the same certificate objects and only inside the interval of
 * times in which every validity comparison comes out the same; failures
 * are never remembered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A message of `name`, signed now, verified with t. */
static int verify_once(const struct tm_trust *t, const char *name, struct tm_error *err)
{
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign(name, CONTENT, strlen(CONTENT), false, &der);
	int rc = tm_test_cms_verify(t, &der, false, NULL, err);
	tm_buf_fini(&der);
	return rc;
}

static void expect_memo(struct tm_cms_chainmemo *memo, uint64_t hits, uint64_t misses)
{
	uint64_t h = 0, m = 0;
	tm_cms_chainmemo_stats(memo, &h, &m);
	cr_assert_eq(h, hits, "hits %llu, expected %llu", (unsigned long long)h,
		     (unsigned long long)hits);
	cr_assert_eq(m, misses, "misses %llu, expected %llu", (unsigned long long)m,
		     (unsigned long long)misses);
}

/* The memo of the chain at the signing time (the revocation pass at the
 * arrival, when a CRL is configured, has its own: t->crl_chains). */
static void expect_stats(struct tm_trust *t, uint64_t hits, uint64_t misses)
{
	expect_memo(t->chains, hits, misses);
}

Test(cms_chainmemo, a_success_is_reused)
{
	struct tm_trust *t = tm_test_trust(true);
	for (int i = 0; i < 3; i++) {
		struct tm_error err = {0};
		cr_assert_eq(verify_once(t, "dev-XK100001", &err), 0, "%s", err.msg);
	}
	expect_stats(t, 2, 1);
	tm_trust_free(t);
}

/* Failures come out of a full verification every time, with their reason. */
static void failure_every_time(const char *name, bool crl, const char *reason)
{
	struct tm_trust *t = tm_test_trust(crl);
	for (int i = 0; i < 3; i++) {
		struct tm_error err = {0};
		cr_assert_eq(verify_once(t, name, &err), -1, "%s message %d", name, i + 1);
		cr_assert_str_eq(err.reason, reason, "%s message %d: %s", name, i + 1, err.msg);
	}
	/* the pass that fails: revocation (at the arrival) with a CRL, the
	 * chain at the signing time without */
	uint64_t h = 0, m = 0;
	tm_cms_chainmemo_stats(crl ? t->crl_chains : t->chains, &h, &m);
	cr_assert_eq(h, 0, "a failure was taken from the memo");
	tm_trust_free(t);
}

Test(cms_chainmemo, revoked_never_remembered) { failure_every_time("dev-revoked", true, "smime.signer_revoked"); }
Test(cms_chainmemo, expired_never_remembered) { failure_every_time("dev-expired", false, "smime.signer_expired"); }
Test(cms_chainmemo, untrusted_never_remembered) { failure_every_time("dev-untrusted", false, "smime.untrusted_signer"); }

/* ---- the interval, at its exact edges ---- */

static int64_t unix_of(const ASN1_TIME *a)
{
	struct tm tmv;
	cr_assert_eq(ASN1_TIME_to_tm(a, &tmv), 1);
	return (int64_t)timegm(&tmv);
}

/* A signed message parsed through the certificate cache: its certificates
 * are the cache's shared objects. */
struct parsed {
	CMS_ContentInfo *cms;
	STACK_OF(X509) *certs;
	X509 *signer;
};

static void parse_cached(struct tm_trust *t, const char *name, struct parsed *p)
{
	struct tm_buf der;
	tm_buf_init(&der);
	tm_test_sign(name, CONTENT, strlen(CONTENT), false, &der);
	p->cms = tm_cms_certcache_d2i(t->certs, der.data, der.len);
	cr_assert_not_null(p->cms);
	p->certs = CMS_get1_certs(p->cms);
	cr_assert_eq(sk_X509_num(p->certs), 1);
	p->signer = sk_X509_value(p->certs, 0);
	cr_assert_not_null(tm_cms_cert_facts_get0(p->signer));
	tm_buf_fini(&der);
}

static void parsed_fini(struct parsed *p)
{
	sk_X509_pop_free(p->certs, X509_free);
	CMS_ContentInfo_free(p->cms);
}

/* A revoked signer after a good one: each has its own verdict. */
Test(cms_chainmemo, signers_have_their_own_verdict)
{
	struct tm_trust *t = tm_test_trust(true);
	const char *names[] = { "dev-XK100001", "dev-revoked", "dev-XK100001", "dev-revoked" };
	for (size_t i = 0; i < 4; i++) {
		struct tm_error err = {0};
		int rc = verify_once(t, names[i], &err);
		if (i % 2 == 0)
			cr_assert_eq(rc, 0, "%s: %s", names[i], err.msg);
		else
			cr_assert_str_eq(err.reason, "smime.signer_revoked", "%s: %s", names[i], err.msg);
	}
	/* the third message finds the first's verdict, unless the revoked
	 * signer took its certificate's cache slot in between (a new object:
	 * every pass misses) or its verdict's memo slot (the memo is
	 * direct-mapped by address: the chain pass's entry is replaced both
	 * ways; the revocation pass keeps the good signer's, since a failure
	 * is never remembered) */
	bool shared = tm_test_certcache_slot("dev-XK100001") == tm_test_certcache_slot("dev-revoked");
	bool same_memo_slot = false;
	if (!shared) {
		struct parsed good, revoked;
		parse_cached(t, "dev-XK100001", &good);
		parse_cached(t, "dev-revoked", &revoked);
		same_memo_slot = tm_cms_chainmemo_slot(good.signer) == tm_cms_chainmemo_slot(revoked.signer);
		parsed_fini(&good);
		parsed_fini(&revoked);
	}
	/* the revoked signer's chain is valid at the signing time (remembered,
	 * the fourth message reuses it); its revocation fails every time */
	if (shared) {
		expect_stats(t, 0, 4);
		expect_memo(t->crl_chains, 0, 4);
	} else if (same_memo_slot) {
		expect_stats(t, 0, 4);
		expect_memo(t->crl_chains, 1, 3);
	} else {
		expect_stats(t, 2, 2);
		expect_memo(t->crl_chains, 1, 3);
	}
	tm_trust_free(t);
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void window_edges(bool crl)
{
	struct tm_trust *t = tm_test_trust(crl);
	struct parsed p;
	parse_cached(t, "dev-XK100001", &p);
	X509 *ca = tm_test_pki_cert("ca.pem");
	int64_t lo = max64(unix_of(X509_get0_notBefore(p.signer)), unix_of(X509_get0_notBefore(ca))) + 1;
	int64_t hi = min64(unix_of(X509_get0_notAfter(p.signer)), unix_of(X509_get0_notAfter(ca))) - 2;
	if (crl) {
		char *path = tm_test_pki("crl.pem");
		FILE *f = fopen(path, "r");
		cr_assert_not_null(f);
		X509_CRL *c = PEM_read_X509_CRL(f, NULL, NULL, NULL);
		cr_assert_not_null(c);
		fclose(f);
		free(path);
		lo = max64(lo, unix_of(X509_CRL_get0_lastUpdate(c)) + 1);
		hi = min64(hi, unix_of(X509_CRL_get0_nextUpdate(c)) - 2);
		X509_CRL_free(c);
	}
	int64_t now = (int64_t)time(NULL);
	cr_assert(lo < now && now < hi, "the test PKI is not valid now");
	tm_cms_chainmemo_put(t->chains, p.signer, p.certs, now);
	cr_assert(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, now));
	cr_assert(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, lo));
	cr_assert(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, hi));
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, lo - 1));
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, hi + 1));
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, hi + 86400 * 400));
	/* another certificate list is another question */
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, p.signer, NULL, now));
	X509_free(ca);
	parsed_fini(&p);
	tm_trust_free(t);
}

Test(cms_chainmemo, window_is_the_validity_of_signer_and_anchor) { window_edges(false); }
Test(cms_chainmemo, window_ends_before_the_crl_does) { window_edges(true); }

/* Remembered at a time before the signer and the anchor were valid (a
 * verdict that cannot be a success in reality; the interval logic alone is
 * tested): it stands only before the first notBefore. */
Test(cms_chainmemo, window_before_not_before)
{
	struct tm_trust *t = tm_test_trust(false);
	struct parsed p;
	parse_cached(t, "dev-XK100001", &p);
	X509 *ca = tm_test_pki_cert("ca.pem");
	int64_t nb = min64(unix_of(X509_get0_notBefore(p.signer)), unix_of(X509_get0_notBefore(ca)));
	tm_cms_chainmemo_put(t->chains, p.signer, p.certs, nb - 100);
	cr_assert(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, nb - 100));
	cr_assert(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, nb - 2));
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, nb - 1));
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, p.signer, p.certs, nb + 10));
	X509_free(ca);
	parsed_fini(&p);
	tm_trust_free(t);
}

/* Certificates that are not the cache's shared objects are never
 * remembered: a pointer could not stand for their content. */
Test(cms_chainmemo, uncached_certificates_never_remembered)
{
	struct tm_trust *t = tm_test_trust(false);
	X509 *x = tm_test_pki_cert("dev-XK100001.pem");
	STACK_OF(X509) *certs = sk_X509_new_null();
	cr_assert(sk_X509_push(certs, x));
	int64_t now = (int64_t)time(NULL);
	tm_cms_chainmemo_put(t->chains, x, certs, now);
	cr_assert_not(tm_cms_chainmemo_hit(t->chains, x, certs, now));
	sk_X509_free(certs);
	X509_free(x);
	tm_trust_free(t);
}

/* The memo holds its certificates: they outlive the cache's copy and the
 * message's (under ASan a memo that did not hold them is a use after free
 * here). */
Test(cms_chainmemo, remembered_certificates_are_held)
{
	struct tm_trust *t = tm_test_trust(false);
	struct parsed p;
	parse_cached(t, "dev-XK100001", &p);
	int64_t now = (int64_t)time(NULL);
	tm_cms_chainmemo_put(t->chains, p.signer, p.certs, now);
	X509 *signer = p.signer;
	parsed_fini(&p);
	tm_cms_certcache_free(t->certs); /* the cache lets go of its copy */
	t->certs = tm_cms_certcache_new();
	cr_assert_not_null(t->certs);
	STACK_OF(X509) *certs = sk_X509_new_null();
	cr_assert(sk_X509_push(certs, signer));
	cr_assert(tm_cms_chainmemo_hit(t->chains, signer, certs, now));
	sk_X509_free(certs);
	tm_trust_free(t);
}

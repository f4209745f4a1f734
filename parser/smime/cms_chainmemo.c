/* telemail — verdicts of certificate-chain verification, remembered (see
 * cms_private.h).
 *
 * X509_verify_cert checks the signature of every certificate in the chain
 * (an ECDSA or RSA verification each), and a gateway verifies the same few
 * device chains for every report. The verdict is a function of:
 *   - the trust store (fixed for the life of a tm_trust: anchors and CRLs
 *     are loaded once, a reload makes a new tm_trust and a new memo);
 *   - the certificates the message carries (here: the very same shared
 *     objects of the certificate cache, held referenced, so equal pointers
 *     mean equal DER);
 *   - the verification time, which OpenSSL only compares with the validity
 *     of certificates (notBefore/notAfter) and CRLs (thisUpdate/nextUpdate).
 * So a success is remembered with the interval of times around it in which
 * every one of those comparisons, for every certificate of the store and of
 * the message and every CRL of the store, comes out the same. That covers
 * chain building too (which prefers issuers valid at the time). Inside the
 * interval the verdict is the same as a fresh X509_verify_cert; outside it,
 * or for anything not remembered, the chain is verified again. Failures are
 * never remembered: they are rare and their error says why.
 *
 * The signature of each message is verified every time; only the chain's
 * verdict is reused. The memo is direct-mapped (bounded memory). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "smime/cms_private.h"

#define MEMO_SLOTS 256
#define MEMO_CERTS 8                  /* the certificates field of one message */
#define MAX_BOUNDS (TM_CMS_MAX_ANCHORS + TM_CMS_MAX_CRLS)
#define T_MIN INT64_MIN
#define T_MAX INT64_MAX

/* A validity interval: valid when from <= t < until (OpenSSL counts the
 * end instant as past); T_MIN / T_MAX when a bound is absent. */
struct span {
	int64_t from, until;
};

struct entry {
	X509 *certs[MEMO_CERTS + 1]; /* the signer, then the message's certificates */
	size_t n;
	int64_t lo, hi;              /* times at which the verdict stands */
};

struct tm_cms_chainmemo {
	pthread_mutex_t mu;
	bool usable;                 /* false: the store's times could not be read */
	struct span store[MAX_BOUNDS];
	size_t n_store;
	uint64_t hits, misses;
	struct entry slots[MEMO_SLOTS];
};

static bool asn1_to_unix(const ASN1_TIME *a, int64_t absent, int64_t *out)
{
	struct tm tmv;
	if (a == NULL) {
		*out = absent;
		return true;
	}
	if (ASN1_TIME_to_tm(a, &tmv) != 1)
		return false;
	time_t t = timegm(&tmv);
	if (t == (time_t)-1)
		return false;
	*out = (int64_t)t;
	return true;
}

static bool cert_span(const X509 *x, struct span *s)
{
	return asn1_to_unix(X509_get0_notBefore(x), T_MIN, &s->from) &&
	       asn1_to_unix(X509_get0_notAfter(x), T_MAX, &s->until);
}

struct tm_cms_chainmemo *tm_cms_chainmemo_new(X509_STORE *store)
{
	struct tm_cms_chainmemo *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	/* still single-threaded here: the store is not shared yet */
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	m->usable = objs != NULL;
	for (int i = 0; m->usable && i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		struct span *s = &m->store[m->n_store];
		if (m->n_store == MAX_BOUNDS) {
			m->usable = false;
		} else if (X509_OBJECT_get_type(o) == X509_LU_X509) {
			m->usable = cert_span(X509_OBJECT_get0_X509(o), s);
			m->n_store++;
		} else if (X509_OBJECT_get_type(o) == X509_LU_CRL) {
			const X509_CRL *c = X509_OBJECT_get0_X509_CRL(o);
			m->usable = asn1_to_unix(X509_CRL_get0_lastUpdate(c), T_MIN, &s->from) &&
				    asn1_to_unix(X509_CRL_get0_nextUpdate(c), T_MAX, &s->until);
			m->n_store++;
		} else {
			m->usable = false; /* an object we do not know the times of */
		}
	}
	return m;
}

static void entry_clear(struct entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		X509_free(e->certs[i]);
	memset(e, 0, sizeof(*e));
}

void tm_cms_chainmemo_free(struct tm_cms_chainmemo *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < MEMO_SLOTS; i++)
		entry_clear(&m->slots[i]);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void tm_cms_chainmemo_stats(struct tm_cms_chainmemo *m, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&m->mu);
	*hits = m->hits;
	*misses = m->misses;
	pthread_mutex_unlock(&m->mu);
}

/* Narrow [*lo, *hi] to the times at which "t < from" and "t >= until" come
 * out as they do at t0. A second of margin on each edge keeps us clear of
 * how a comparison treats the instant itself. */
static void narrow(const struct span *s, int64_t t0, int64_t *lo, int64_t *hi)
{
	int64_t a = s->from, b = s->until, l, h;
	if (a != T_MIN && t0 < a) {            /* not yet valid until a */
		l = T_MIN;
		h = a - 2;
	} else if (b != T_MAX && t0 >= b) {    /* no longer valid from b */
		l = b + 1;
		h = T_MAX;
	} else {                               /* valid: [a, b) */
		l = a == T_MIN ? T_MIN : a + 1;
		h = b == T_MAX ? T_MAX : b - 2;
	}
	if (l > *lo)
		*lo = l;
	if (h < *hi)
		*hi = h;
}

size_t tm_cms_chainmemo_slot(const X509 *signer)
{
	uintptr_t p = (uintptr_t)signer;
	return (size_t)((p >> 4) ^ (p >> 12)) % MEMO_SLOTS;
}

/* The signer and the message's certificates, when all of them are shared
 * objects of the certificate cache (anything else is never remembered). */
static bool key_of(X509 *signer, STACK_OF(X509) *certs, X509 **out, size_t *n)
{
	int k = certs == NULL ? 0 : sk_X509_num(certs);
	if (k < 0 || k > MEMO_CERTS || tm_cms_cert_facts_get0(signer) == NULL)
		return false;
	out[0] = signer;
	for (int i = 0; i < k; i++) {
		out[i + 1] = sk_X509_value(certs, i);
		if (tm_cms_cert_facts_get0(out[i + 1]) == NULL)
			return false;
	}
	*n = (size_t)k + 1;
	return true;
}

bool tm_cms_chainmemo_hit(struct tm_cms_chainmemo *m, X509 *signer, STACK_OF(X509) *certs,
			  int64_t at)
{
	X509 *key[MEMO_CERTS + 1];
	size_t n = 0;
	if (m == NULL || !m->usable || !key_of(signer, certs, key, &n))
		return false;
	bool hit = false;
	pthread_mutex_lock(&m->mu);
	const struct entry *e = &m->slots[tm_cms_chainmemo_slot(signer)];
	if (e->n == n && memcmp(e->certs, key, n * sizeof(key[0])) == 0 && at >= e->lo &&
	    at <= e->hi)
		hit = true;
	if (hit)
		m->hits++;
	else
		m->misses++;
	pthread_mutex_unlock(&m->mu);
	return hit;
}

void tm_cms_chainmemo_put(struct tm_cms_chainmemo *m, X509 *signer, STACK_OF(X509) *certs,
			  int64_t at)
{
	struct entry e = { .lo = T_MIN, .hi = T_MAX };
	if (m == NULL || !m->usable || !key_of(signer, certs, e.certs, &e.n))
		return;
	for (size_t i = 0; i < m->n_store; i++)
		narrow(&m->store[i], at, &e.lo, &e.hi);
	for (size_t i = 0; i < e.n; i++) {
		struct span s;
		if (!cert_span(e.certs[i], &s))
			return;
		narrow(&s, at, &e.lo, &e.hi);
	}
	if (e.lo > at || e.hi < at)
		return; /* too close to an edge to say anything */
	for (size_t i = 0; i < e.n; i++) {
		if (!X509_up_ref(e.certs[i])) {
			e.n = i;
			entry_clear(&e);
			return;
		}
	}
	struct entry *slot = &m->slots[tm_cms_chainmemo_slot(signer)];
	pthread_mutex_lock(&m->mu);
	struct entry old = *slot;
	*slot = e;
	pthread_mutex_unlock(&m->mu);
	entry_clear(&old);
}

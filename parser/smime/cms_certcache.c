/* telemail — parsed certificates by their exact DER (see cms_private.h).
 *
 * d2i of a certificate in OpenSSL 3.0 builds a decoder chain for its public
 * key, which costs more than the ECDSA verification the key is then used
 * for. A SignedData carries the signer's certificate in every message, and a
 * gateway sees the same few hundred device certificates again and again. So
 * the certificates field is cut out of the bytes handed to OpenSSL, each
 * certificate is looked up by its DER (parsed once, then shared), and the
 * parsed certificates are added back to the CMS structure: what OpenSSL then
 * verifies is the same structure, built with less work. The certificates
 * field is not covered by the signature, and every check (usage, the
 * signature) still runs on every message; the chain's verdict is reused
 * only as cms_chainmemo.c explains.
 *
 * The cache is direct-mapped (a slot per DER hash, a newcomer replaces the
 * old one), so its memory is bounded and a flood of distinct certificates
 * costs no more than no cache at all. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "smime/cms_private.h"

#define CERT_DER_MAX 16384   /* larger certificates are parsed, not kept */
#define CERTS_PER_MESSAGE 8  /* more than this: the plain path */
#define DER_LEN_MAX 0xffffffffu

/* A cached certificate; its DER is the one kept in its facts. */
struct slot {
	uint64_t hash;
	X509 *x;
};

struct tm_cms_certcache {
	pthread_mutex_t mu;
	uint64_t hits, misses;
	struct slot slots[TM_CMS_CERTCACHE_SLOTS];
};

struct tm_cms_certcache *tm_cms_certcache_new(void)
{
	struct tm_cms_certcache *c = calloc(1, sizeof(*c));
	if (c != NULL && pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void tm_cms_certcache_free(struct tm_cms_certcache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < TM_CMS_CERTCACHE_SLOTS; i++)
		X509_free(c->slots[i].x);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void tm_cms_certcache_stats(struct tm_cms_certcache *c, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&c->mu);
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->mu);
}

/* ---- facts kept with a cached certificate ---- */

static pthread_once_t facts_once = PTHREAD_ONCE_INIT;
static int facts_index = -1;

static void facts_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		       void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	struct tm_cms_cert_facts *f = ptr;
	if (f != NULL)
		free(f->der);
	free(f);
}

static void facts_init(void)
{
	facts_index = X509_get_ex_new_index(0, NULL, NULL, NULL, facts_free);
}

const struct tm_cms_cert_facts *tm_cms_cert_facts_get0(const X509 *x)
{
	pthread_once(&facts_once, facts_init);
	return facts_index >= 0 ? X509_get_ex_data(x, facts_index) : NULL;
}

/* Work the facts out and attach them, before x is shared (no lock needed).
 * false when they cannot be (then x is used, but not kept). */
static bool facts_attach(X509 *x, const uint8_t *der, size_t len)
{
	pthread_once(&facts_once, facts_init);
	struct tm_cms_cert_facts *f = calloc(1, sizeof(*f));
	if (facts_index < 0 || f == NULL || (f->der = malloc(len)) == NULL) {
		free(f);
		return false;
	}
	memcpy(f->der, der, len);
	f->der_len = len;
	if (tm_cms_cert_ids(x, f->fingerprint, f->subject, sizeof(f->subject), NULL) < 0 ||
	    !X509_set_ex_data(x, facts_index, f)) {
		free(f->der);
		free(f);
		ERR_clear_error();
		return false;
	}
	if (tm_cms_subject_serial(x, f->serial, NULL) < 0)
		f->serial[0] = '\0';
	ERR_clear_error();
	return true;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3u;
	}
	return h;
}

size_t tm_cms_certcache_slot(const uint8_t *der, size_t len)
{
	return (size_t)(fnv1a(der, len) % TM_CMS_CERTCACHE_SLOTS);
}

/* The certificate with exactly these DER octets, referenced (X509_free it). */
static X509 *cert_get1(struct tm_cms_certcache *c, const uint8_t *der, size_t len)
{
	uint64_t h = fnv1a(der, len);
	struct slot *s = &c->slots[h % TM_CMS_CERTCACHE_SLOTS];
	X509 *x = NULL;
	pthread_mutex_lock(&c->mu);
	const struct tm_cms_cert_facts *f = s->x != NULL ? tm_cms_cert_facts_get0(s->x) : NULL;
	if (f != NULL && s->hash == h && f->der_len == len && memcmp(f->der, der, len) == 0 &&
	    X509_up_ref(s->x))
		x = s->x;
	if (x != NULL)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->mu);
	if (x != NULL)
		return x;

	const unsigned char *q = der;
	x = d2i_X509(NULL, &q, (long)len);
	if (x == NULL || q != der + len) {
		X509_free(x);
		return NULL;
	}
	if (len > CERT_DER_MAX || !facts_attach(x, der, len) || !X509_up_ref(x))
		return x; /* usable, just not kept */
	pthread_mutex_lock(&c->mu);
	X509 *old = s->x;
	*s = (struct slot){ .hash = h, .x = x };
	pthread_mutex_unlock(&c->mu);
	X509_free(old);
	return x;
}

static size_t der_header_len(size_t len)
{
	size_t n = 2;
	if (len >= 0x80)
		for (size_t l = len; l > 0; l >>= 8)
			n++;
	return n;
}

static uint8_t *der_put_header(uint8_t *w, uint8_t id, size_t len)
{
	*w++ = id;
	if (len < 0x80) {
		*w++ = (uint8_t)len;
		return w;
	}
	size_t n = der_header_len(len) - 2;
	*w++ = (uint8_t)(0x80 | n);
	for (size_t i = n; i > 0; i--)
		*w++ = (uint8_t)(len >> (8 * (i - 1)));
	return w;
}

/* A definite-length constructed element of the given class/tag. */
static bool read_definite(const uint8_t *p, const uint8_t *end, const uint8_t *base,
			  unsigned depth, bool universal, int tag, struct tm_cms_tlv *t)
{
	if (tm_cms_tlv_read(p, end, base, depth, t, NULL) < 0 || !t->constructed || t->indefinite)
		return false;
	return universal ? tm_cms_tlv_universal(t, tag) : tm_cms_tlv_context(t, tag);
}

CMS_ContentInfo *tm_cms_certcache_d2i(struct tm_cms_certcache *c, const uint8_t *der,
				      size_t len)
{
	struct tm_cms_tlv ci, oid, ex, sd, t, certs = { 0 };
	X509 *xs[CERTS_PER_MESSAGE];
	size_t nx = 0;
	uint8_t *buf = NULL;
	CMS_ContentInfo *cms = NULL;
	if (c == NULL || der == NULL || len > DER_LEN_MAX)
		return NULL;
	const uint8_t *end = der + len;

	/* ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT SignedData } */
	if (!read_definite(der, end, der, 0, true, V_ASN1_SEQUENCE, &ci) || ci.total != len)
		return NULL;
	const uint8_t *p = ci.content, *ci_end = ci.content + ci.clen;
	if (tm_cms_tlv_read(p, ci_end, der, 1, &oid, NULL) < 0 ||
	    !tm_cms_tlv_universal(&oid, V_ASN1_OBJECT))
		return NULL;
	p += oid.total;
	if (!read_definite(p, ci_end, der, 1, false, 0, &ex) || p + ex.total != ci_end ||
	    !read_definite(ex.content, ex.content + ex.clen, der, 2, true, V_ASN1_SEQUENCE, &sd) ||
	    sd.total != ex.clen)
		return NULL;

	/* SignedData's own fields; certificates is its only [0] */
	const uint8_t *sd_end = sd.content + sd.clen;
	for (p = sd.content; p < sd_end; p += t.total) {
		if (tm_cms_tlv_read(p, sd_end, der, 3, &t, NULL) < 0)
			return NULL;
		if (tm_cms_tlv_context(&t, 0)) {
			certs = t;
			break;
		}
	}
	if (certs.start == NULL || !certs.constructed || certs.indefinite)
		return NULL;
	const uint8_t *certs_end = certs.content + certs.clen;
	for (p = certs.content; p < certs_end; p += t.total) {
		/* plain X.509 certificates only (not the other CertificateChoices) */
		if (nx == CERTS_PER_MESSAGE ||
		    !read_definite(p, certs_end, der, 4, true, V_ASN1_SEQUENCE, &t) ||
		    (xs[nx] = cert_get1(c, t.start, t.total)) == NULL)
			goto out;
		nx++;
	}

	/* the same octets without the certificates field */
	size_t sd_clen = sd.clen - certs.total;
	size_t ex_clen = der_header_len(sd_clen) + sd_clen;
	size_t ci_clen = oid.total + der_header_len(ex_clen) + ex_clen;
	size_t n = der_header_len(ci_clen) + ci_clen;
	if ((buf = malloc(n)) == NULL)
		goto out;
	uint8_t *w = der_put_header(buf, ci.start[0], ci_clen);
	memcpy(w, oid.start, oid.total);
	w += oid.total;
	w = der_put_header(w, ex.start[0], ex_clen);
	w = der_put_header(w, sd.start[0], sd_clen);
	memcpy(w, sd.content, (size_t)(certs.start - sd.content));
	w += certs.start - sd.content;
	memcpy(w, certs.start + certs.total, (size_t)(sd_end - (certs.start + certs.total)));
	w += sd_end - (certs.start + certs.total);
	if ((size_t)(w - buf) != n)
		goto out;
	const unsigned char *q = buf;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)n);
	if (cms == NULL || q != buf + n)
		goto fail;
	for (size_t i = 0; i < nx; i++)
		if (!CMS_add1_cert(cms, xs[i]))
			goto fail; /* e.g. the same certificate twice: the plain path decides */
	goto out;
fail:
	CMS_ContentInfo_free(cms);
	cms = NULL;
out:
	for (size_t i = 0; i < nx; i++)
		X509_free(xs[i]);
	free(buf);
	ERR_clear_error();
	return cms;
}

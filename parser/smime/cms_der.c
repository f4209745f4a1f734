/* telemail — a bounded walk over DER/BER elements (see cms_private.h), for the
 * checks the CMS module makes on raw bytes before OpenSSL parses them. */
#include <openssl/asn1.h>

#include <telemail/error.h>

#include "smime/cms_private.h"

/* Indefinite-length (BER) elements are skipped by walking their children;
 * this bounds the recursion. */
#define TM_CMS_MAX_NEST 32

int tm_cms_tlv_read(const uint8_t *p, const uint8_t *end, const uint8_t *base, unsigned depth,
		    struct tm_cms_tlv *t, struct tm_error *err)
{
	if (depth > TM_CMS_MAX_NEST)
		return tm_error_set(err, "smime.malformed",
				    "CMS: elements nest deeper than %d levels at offset %td",
				    TM_CMS_MAX_NEST, p - base);
	if (p >= end)
		return tm_error_set(err, "smime.malformed", "CMS: truncated at offset %td",
				    p - base);
	const unsigned char *q = p;
	long len = 0;
	int tag = 0, cls = 0;
	int r = ASN1_get_object(&q, &len, &tag, &cls, end - p);
	if (r & 0x80)
		return tm_error_set(err, "smime.malformed", "CMS: bad element header at offset %td",
				    p - base);
	t->start = p;
	t->content = q;
	t->tag = tag;
	t->cls = cls;
	t->constructed = (r & V_ASN1_CONSTRUCTED) != 0;
	t->indefinite = r == (V_ASN1_CONSTRUCTED | 1);
	if (t->indefinite) {
		/* indefinite length: children up to the end-of-contents octets */
		const uint8_t *c = q;
		for (;;) {
			if (end - c < 2)
				return tm_error_set(err, "smime.malformed",
						    "CMS: no end-of-contents for the element at offset %td",
						    p - base);
			if (c[0] == 0 && c[1] == 0)
				break;
			struct tm_cms_tlv child;
			if (tm_cms_tlv_read(c, end, base, depth + 1, &child, err) < 0)
				return -1;
			c += child.total;
		}
		t->clen = (size_t)(c - q);
		t->total = (size_t)(c + 2 - p);
	} else {
		t->clen = (size_t)len;
		t->total = (size_t)(q - p) + (size_t)len;
	}
	return 0;
}

bool tm_cms_tlv_universal(const struct tm_cms_tlv *t, int tag)
{
	return t->cls == V_ASN1_UNIVERSAL && t->tag == tag;
}

bool tm_cms_tlv_context(const struct tm_cms_tlv *t, int tag)
{
	return t->cls == V_ASN1_CONTEXT_SPECIFIC && t->tag == tag;
}

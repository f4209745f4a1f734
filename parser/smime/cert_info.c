/* telemail — facts about a certificate file, for enrollment (OpenSSL side). */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <telemail/error.h>
#include <telemail/smime.h>

#include "smime/cms_private.h"

static int asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tmv;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tmv))
		return -1;
	*out = (int64_t)timegm(&tmv);
	return 0;
}

int tm_cert_info_file(const char *pem_file, struct tm_cert_info *out, struct tm_error *err)
{
	STACK_OF(X509) *certs = NULL;
	memset(out, 0, sizeof(*out));
	if (tm_cms_read_certs(pem_file, TM_CMS_MAX_CHAIN + 1, &certs, err) < 0) /* the first is the one */
		return -1;
	int rc = -1;
	X509 *x = sk_X509_value(certs, 0);
	if (tm_cms_cert_ids(x, out->fingerprint, out->subject, sizeof(out->subject), err) < 0)
		goto out;
	struct tm_error serr = {0};
	if (tm_cms_subject_serial(x, out->serial, &serr) < 0)
		out->serial[0] = '\0'; /* a collector or gateway certificate may have none */
	if (asn1_time_unix(X509_get0_notBefore(x), &out->not_before) < 0 ||
	    asn1_time_unix(X509_get0_notAfter(x), &out->not_after) < 0) {
		tm_error_set(err, "smime.key", "%s: unreadable validity dates", pem_file);
		goto out;
	}
	rc = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return rc;
}

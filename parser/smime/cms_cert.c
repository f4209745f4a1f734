/* telemail — what a certificate says of itself: its SHA-256 fingerprint, its
 * RFC 2253 subject and the subject's serialNumber (see cms_private.h). The
 * verifier reports them, the certificate cache works them out once per
 * cached certificate, enrollment reads them from a file. */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <telemail/error.h>

#include "smime/cms_private.h"

#define TM_SERIAL_MAX 64

int tm_cms_subject_serial(X509 *x, char *out, struct tm_error *err)
{
	const X509_NAME *nm = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(nm, NID_serialNumber, -1);
	if (i < 0)
		return tm_error_set(err, "smime.signer_no_serial",
				    "the signer certificate subject has no serialNumber attribute");
	if (X509_NAME_get_index_by_NID(nm, NID_serialNumber, i) >= 0)
		return tm_error_set(err, "smime.signer_no_serial",
				    "the signer certificate subject has two serialNumber attributes");
	unsigned char *u = NULL;
	int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
	int rc = 0;
	if (n < 1 || n > TM_SERIAL_MAX) {
		rc = tm_error_set(err, "smime.signer_no_serial",
				  "the signer subject serialNumber is %d octets (1..%d allowed)", n,
				  TM_SERIAL_MAX);
		goto out;
	}
	for (int k = 0; k < n; k++) {
		if (u[k] < 0x21 || u[k] > 0x7e) {
			rc = tm_error_set(err, "smime.signer_no_serial",
					  "the signer subject serialNumber has octet 0x%02x at %d "
					  "(printable ASCII only)",
					  u[k], k);
			goto out;
		}
	}
	memcpy(out, u, (size_t)n);
	out[n] = '\0';
out:
	OPENSSL_free(u);
	return rc;
}

int tm_cms_cert_ids(X509 *x, char fingerprint[65], char *subject, size_t subject_len,
		    struct tm_error *err)
{
	int rc = -1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL || !X509_digest(x, EVP_sha256(), md, &mdlen) || mdlen != 32) {
		tm_error_set(err, "internal.library", "cannot hash the certificate");
		goto out;
	}
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < mdlen; i++) {
		fingerprint[2 * i] = hex[md[i] >> 4];
		fingerprint[2 * i + 1] = hex[md[i] & 15];
	}
	fingerprint[2 * mdlen] = '\0';
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0) {
		tm_error_set(err, "internal.library", "cannot print the certificate subject");
		goto out;
	}
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	if (n < 0 || (size_t)n >= subject_len) {
		tm_error_set(err, "smime.malformed", "the certificate subject is longer than %zu octets",
			     subject_len - 1);
		goto out;
	}
	memcpy(subject, p, (size_t)n);
	subject[n] = '\0';
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

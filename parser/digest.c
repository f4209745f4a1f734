/* telemail — message digests. */
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <telemail/digest.h>

void tm_sha256_hex(const void *data, size_t len, char out[TM_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";
	/* SHA-256 is always there: a failure is a broken invariant */
	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
		abort();
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void tm_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
			char out[TM_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";
	static const unsigned char empty = 0;
	if (key_len > 0x7fffffff ||
	    HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len, data ? data : &empty, len, md,
		 &n) == NULL || n != 32)
		abort();   /* HMAC-SHA256 is always there: a failure is a broken invariant */
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

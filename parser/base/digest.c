/* telemail — message digests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

int tm_sha256_hex_fd(int fd, void *head, size_t head_cap, size_t *head_len, uint64_t *size,
		     char out[TM_SHA256_HEX_LEN + 1])
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	*head_len = 0;
	*size = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL) {
		errno = ENOMEM;
		return -1;
	}
	int rc = -1;
	if (!EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		abort(); /* SHA-256 is always there: a failure is a broken invariant */
	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		if (*head_len < head_cap) {
			size_t k = head_cap - *head_len < (size_t)got ? head_cap - *head_len : (size_t)got;
			memcpy((unsigned char *)head + *head_len, buf, k);
			*head_len += k;
		}
		*size += (uint64_t)got;
		if (!EVP_DigestUpdate(c, buf, (size_t)got))
			abort();
	}
	if (!EVP_DigestFinal_ex(c, md, &n) || n != 32)
		abort();
	to_hex(md, n, out);
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
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

void tm_signature_header(const void *key, size_t key_len, const void *body, size_t len,
			 char out[TM_SIGNATURE_HEADER_LEN])
{
	char sig[TM_SHA256_HEX_LEN + 1];
	tm_hmac_sha256_hex(key, key_len, body, len, sig);
	snprintf(out, TM_SIGNATURE_HEADER_LEN, "X-Telemail-Signature: sha256=%s", sig);
}

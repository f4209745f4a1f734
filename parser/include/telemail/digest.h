/* telemail — message digests (OpenSSL stays inside parser/digest.c). */
#ifndef TELEMAIL_DIGEST_H
#define TELEMAIL_DIGEST_H

#include <stddef.h>

#define TM_SHA256_HEX_LEN 64

/* SHA-256 of data as 64 lower-case hex digits + NUL. */
void tm_sha256_hex(const void *data, size_t len, char out[TM_SHA256_HEX_LEN + 1]);

/* HMAC-SHA256 (RFC 2104) of data under key, as 64 lower-case hex digits + NUL
 * (webhook signatures). */
void tm_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
			char out[TM_SHA256_HEX_LEN + 1]);

#endif

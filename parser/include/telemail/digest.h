/* telemail — message digests (OpenSSL stays inside parser/base/digest.c). */
#ifndef TELEMAIL_DIGEST_H
#define TELEMAIL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define TM_SHA256_HEX_LEN 64

/* SHA-256 of data as 64 lower-case hex digits + NUL. */
void tm_sha256_hex(const void *data, size_t len, char out[TM_SHA256_HEX_LEN + 1]);

/* SHA-256 of everything read from fd up to its end, in 64 KiB reads (a file
 * too large to hold in memory), and its size; the first head_cap octets go
 * into head (head_len: how many, at most head_cap). 0, or -1 with errno set
 * by the failing read. */
int tm_sha256_hex_fd(int fd, void *head, size_t head_cap, size_t *head_len, uint64_t *size,
		     char out[TM_SHA256_HEX_LEN + 1]);

/* HMAC-SHA256 (RFC 2104) of data under key, as 64 lower-case hex digits + NUL
 * (webhook signatures). */
void tm_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
			char out[TM_SHA256_HEX_LEN + 1]);

/* The body signature of the gateway's HTTP posts (the notifier's webhook,
 * the forwarder): the header line
 *   X-Telemail-Signature: sha256=<HMAC-SHA256 of the body under key, hex>
 * that a receiver recomputes over the bytes it received. */
#define TM_SIGNATURE_HEADER_LEN (sizeof("X-Telemail-Signature: sha256=") - 1 + TM_SHA256_HEX_LEN + 1)
void tm_signature_header(const void *key, size_t key_len, const void *body, size_t len,
			 char out[TM_SIGNATURE_HEADER_LEN]);

#endif

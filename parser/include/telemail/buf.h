/* telemail — a growable byte buffer: how bytes cross module borders. */
#ifndef TELEMAIL_BUF_H
#define TELEMAIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct tm_buf {
	uint8_t *data; /* always NUL-terminated after a successful append (not counted in len) */
	size_t len;
	size_t cap;
};

void tm_buf_init(struct tm_buf *b);
void tm_buf_fini(struct tm_buf *b);        /* frees data; the struct may be reused after init */
int tm_buf_reserve(struct tm_buf *b, size_t extra);       /* 0 or -1 (out of memory) */
int tm_buf_append(struct tm_buf *b, const void *p, size_t n);
int tm_buf_append_str(struct tm_buf *b, const char *s);
int tm_buf_printf(struct tm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tm_buf_reset(struct tm_buf *b);       /* len = 0, keeps the allocation */
/* Hand the bytes over to the caller (free() them); the buffer is left empty. */
uint8_t *tm_buf_take(struct tm_buf *b, size_t *len);

/* Read a whole file, at most `max` bytes (a larger file is an error
 * "io.too_large"; a missing one "io.open"). */
struct tm_error;
int tm_buf_read_file(struct tm_buf *b, const char *path, size_t max, struct tm_error *err);

#endif

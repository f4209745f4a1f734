/* telemail — one writer for the operators' key=value log lines.
 *
 * What this module promises:
 * - A line is `TAG key=value key=value ...`: the tag and the keys are fixed by the
 *   code (a key is [a-z][a-z0-9_]*, at most once per line; a bad or repeated key is a
 *   broken invariant and aborts), the values may come from anyone.
 * - A value made only of the octets [A-Za-z0-9] and `-._:/@<>+,#[]~%*!?()` is written as
 *   it is. Any other value, and the empty value, is written in double quotes, with `"` as
 *   `\"`, `\` as `\\`, LF, CR and TAB as `\n`, `\r`, `\t`, and every other octet below
 *   0x20, 0x7f and every octet from 0x80 up (non-ASCII, valid UTF-8 or not) as `\xHH`.
 *   So a value never holds a space, `=`, a line break or an unescaped quote outside the
 *   quotes: one event is one line, and a peer's text can never add a key.
 * - Caps, never silent: a value longer than TM_LOG_VALUE_MAX octets once escaped is cut
 *   at an escape boundary (still a whole quoted string); a field that would take the line
 *   past TM_LOG_LINE_MAX octets is left out with every later field. Either way the line
 *   ends with ` truncated=1`.
 * - The module builds the line and prints nothing: the daemon writes it where its log goes.
 *
 *	struct tm_logline l;
 *	tm_log_begin(&l, "gw message");
 *	tm_log_add(&l, "message_id", peer_text);
 *	tm_log_addf(&l, "size", "%zu", n);
 *	sink(tm_log_end(&l));
 */
#ifndef TELEMAIL_LOG_H
#define TELEMAIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

#define TM_LOG_LINE_MAX 2048   /* octets of a line, the ` truncated=1` marker included */
#define TM_LOG_VALUE_MAX 512   /* octets of one value as written (quotes and escapes included) */
#define TM_LOG_FIELDS_MAX 32   /* keys in one line */

struct tm_logline {
	char text[TM_LOG_LINE_MAX + 1];
	size_t len;
	bool truncated;  /* a value was cut or a field left out */
	bool full;       /* a field was left out: the later ones are too */
	size_t n_keys;
	const char *keys[TM_LOG_FIELDS_MAX];
};

/* Start a line with its tag, fixed words such as "gw smtp" ([A-Za-z0-9_. -]). */
void tm_log_begin(struct tm_logline *l, const char *tag);
/* Add key=value; a NULL value is written as `-` (unknown). */
void tm_log_add(struct tm_logline *l, const char *key, const char *value);
/* The same for n octets that may hold anything, NUL included. */
void tm_log_addn(struct tm_logline *l, const char *key, const void *value, size_t n);
/* The same for a formatted value (numbers, or text put together from parts); the
 * formatted text is escaped like any other value. */
void tm_log_addf(struct tm_logline *l, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Close the line (the truncation marker if it needs one) and borrow its text: a
 * NUL-terminated line without the newline, valid until the struct is reused. */
const char *tm_log_end(struct tm_logline *l);

/* One value as the line writes it, into dst (NUL-terminated, at most cap - 1 octets,
 * cap >= 3); *cut tells whether it had to be shortened. Returns the length written. */
size_t tm_log_escape(char *dst, size_t cap, const void *value, size_t n, bool *cut);

#endif

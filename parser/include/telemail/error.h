/* telemail — errors as values with a stable reason code.
 *
 * Every failing function returns a negative int and fills a struct tm_error:
 * a stable reason code (e.g. "smime.untrusted_signer", "report.schema") that
 * programs and tests match on, and a human message naming the field, path or
 * byte that was wrong. The full list of codes, with their class and SMTP
 * mapping, lives in one table (parser/base/reason.c) and is documented in
 * docs/reasons.md; a test keeps the two in step. */
#ifndef TELEMAIL_ERROR_H
#define TELEMAIL_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define TM_ERROR_MSG_MAX 320

enum tm_reason_class {
	TM_CLASS_PERMANENT = 0, /* bad input: quarantine / 5xx / do not retry */
	TM_CLASS_TRANSIENT = 1, /* try again later: defer / 4xx / keep in outbox */
	TM_CLASS_INTERNAL = 2,  /* a bug or resource failure of our own: treated as transient */
};

struct tm_reason {
	const char *code;          /* stable, e.g. "report.pii_field" */
	enum tm_reason_class cls;
	const char *smtp;          /* reply code and enhanced status, e.g. "554 5.7.5" */
	const char *summary;       /* one line for docs and --help */
};

struct tm_error {
	const char *reason;        /* points into the reason table; NULL when no error */
	char msg[TM_ERROR_MSG_MAX];
};

/* Record an error. `reason` must be a code from the table (checked: an
 * unknown code is a broken invariant and aborts in debug builds, becomes
 * "internal.bug" otherwise). Always returns -1 so callers can
 * `return tm_error_set(err, ...)`. `err` may be NULL. The arguments may
 * point into err->msg (wrapping the previous message is safe). */
int tm_error_set(struct tm_error *err, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "<prefix>: " (e.g. a file name); the
 * reason stays. */
void tm_error_prefix(struct tm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void tm_error_clear(struct tm_error *err);

/* The reason table. */
const struct tm_reason *tm_reason_lookup(const char *code);
const struct tm_reason *tm_reason_table(size_t *count);
bool tm_reason_is_transient(const char *code);

#endif

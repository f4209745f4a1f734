/* telemail — struct tm_error helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/error.h>

int tm_error_set(struct tm_error *err, const char *reason, const char *fmt, ...)
{
	if (err == NULL)
		return -1;
	const struct tm_reason *r = tm_reason_lookup(reason);
	if (r == NULL) {
#ifndef NDEBUG
		fprintf(stderr, "telemail: unknown reason code '%s'\n", reason);
		abort();
#else
		r = tm_reason_lookup("internal.bug");
#endif
	}
	/* formatted into a copy first: the arguments may point into err->msg
	 * itself (a message wrapped with more context), and vsnprintf into
	 * the buffer it reads from is undefined behaviour */
	char msg[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->reason = r->code;
	memcpy(err->msg, msg, sizeof(err->msg));
	return -1;
}

void tm_error_prefix(struct tm_error *err, const char *fmt, ...)
{
	if (err == NULL || err->reason == NULL)
		return;
	char prefix[TM_ERROR_MSG_MAX];
	char old[TM_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* prefix first; the old message is cut (never overflowed) when both do not fit */
	size_t n = strnlen(prefix, sizeof(err->msg) - 3);
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	n += 2;
	size_t rest = strnlen(old, sizeof(old) - 1);
	if (rest > sizeof(err->msg) - 1 - n)
		rest = sizeof(err->msg) - 1 - n;
	memcpy(err->msg + n, old, rest);
	err->msg[n + rest] = '\0';
}

void tm_error_clear(struct tm_error *err)
{
	if (err == NULL)
		return;
	err->reason = NULL;
	err->msg[0] = '\0';
}

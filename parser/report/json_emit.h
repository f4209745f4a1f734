/* telemail — a writer of compact JSON with sorted object keys, straight into
 * a buffer (internal to libtelemail; used by normalize.c).
 *
 * The output is the canonical form of the record: no whitespace, object
 * members ordered by strcmp of their keys (whatever order they were written
 * in: an object is put in order when it is closed), strings as UTF-8 with
 * only '"', '\\' and control characters escaped (\b \f \n \r \t, others
 * \u00XX, upper-case hex), integers in decimal, reals with "%.Ng" of a given precision,
 * always with a '.' or an exponent, the exponent without '+' or leading
 * zeros. test/test_report_property.c checks the output against jansson's
 * dump of the same values.
 *
 * Errors stick: the first one is kept in the tm_error, later calls do
 * nothing, and tm_je_finish says whether all went well. */
#ifndef TM_PARSER_JSON_EMIT_H
#define TM_PARSER_JSON_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>

struct tm_error;

#define TM_JE_DEPTH 8   /* nesting of the record is 4 */

struct tm_je_member {
	const char *key;    /* the caller's string, alive until the object closes */
	size_t start;       /* offset in out of the member's first octet (its key) */
};

struct tm_je {
	struct tm_buf *out;
	size_t begin;                 /* out->len when writing started */
	struct tm_error *err;
	bool failed;
	unsigned depth;
	struct {
		bool obj, first;
		size_t members;           /* index of the first member in m */
	} fr[TM_JE_DEPTH];
	struct tm_je_member *m;       /* members of the open objects, a stack */
	size_t n_m, cap_m;
	struct tm_buf scratch;        /* for putting an object in order */
};

void tm_je_init(struct tm_je *j, struct tm_buf *out, struct tm_error *err);
/* 0 when everything was written; -1 (out back to its length at init, the
 * first error in err) otherwise. Frees what the writer held. */
int tm_je_finish(struct tm_je *j);

/* Record a failure (reason and message as tm_error_set) unless one is
 * already recorded. Returns -1. */
int tm_je_fail(struct tm_je *j, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void tm_je_obj_begin(struct tm_je *j);
void tm_je_obj_end(struct tm_je *j);
void tm_je_arr_begin(struct tm_je *j);
void tm_je_arr_end(struct tm_je *j);
/* The next member's key (in an object). path names it in errors. */
void tm_je_key(struct tm_je *j, const char *key, const char *path);
/* Values (a member's, after tm_je_key, or an array element). */
void tm_je_str(struct tm_je *j, const char *s, const char *path);
void tm_je_int(struct tm_je *j, int64_t v);
void tm_je_null(struct tm_je *j);
void tm_je_bool(struct tm_je *j, bool v);
/* A finite real with "%.<prec>g" (1..17). */
void tm_je_real(struct tm_je *j, double v, int prec);

/* Is s valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF)? */
bool tm_je_utf8_ok(const char *s);

#endif

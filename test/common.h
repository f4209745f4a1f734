/* Shared helpers for the Criterion tests. */
#ifndef TM_TEST_COMMON_H
#define TM_TEST_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <telemail/buf.h>
#include <telemail/error.h>

/* Absolute path of a file under the source tree's test/ folder
 * (static buffer per call site is not kept: the result is malloc'd, free it). */
char *tm_test_src(const char *rel);
/* Absolute path of a file in the generated test PKI (build/test/pki/<rel>). */
char *tm_test_pki(const char *rel);
/* A fresh temporary directory (removed by tm_test_rmtree). */
char *tm_test_tmpdir(void);
void tm_test_rmtree(const char *dir);

/* Read a whole file into buf (cr_assert on failure). */
void tm_test_read(const char *path, struct tm_buf *buf);
/* Write bytes to a file (cr_assert on failure). */
void tm_test_write(const char *path, const void *data, size_t len);
/* Run a shell command; returns its exit status (or -1). Output goes to the test log. */
int tm_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The test PKI's trust anchors (ca.pem), with its CRL (crl.pem) when asked
 * (cr_assert on failure). */
struct tm_trust;
struct tm_trust *tm_test_trust(bool with_crl);
/* The certificate cache's slot of the test PKI's <name>.pem (see
 * tm_cms_certcache_slot: the PKI is made afresh on each build, so two
 * certificates may share a slot). */
size_t tm_test_certcache_slot(const char *name);
/* The certificate of the test PKI's file (an X509 *; X509_free it). */
void *tm_test_pki_cert(const char *file);
/* The MIME entity the CMS tests sign. */
#define TM_TEST_SIGNED_CONTENT "Content-Type: application/yaml\r\n\r\nschema_version: 1\r\n"
/* tm_cms_verify of der (detached: TM_TEST_SIGNED_CONTENT is the content)
 * with t; on success the content must be TM_TEST_SIGNED_CONTENT; the
 * signer's serial into serial (when not NULL, "" on failure); the OpenSSL
 * error queue must be left empty. Returns what tm_cms_verify returned. */
int tm_test_cms_verify(const struct tm_trust *t, const struct tm_buf *der, bool detached,
		       char serial[65], struct tm_error *err);
/* CMS SignedData (DER) of content by the test PKI's identity `name`
 * (<name>.pem and <name>.key; cr_assert on failure). */
void tm_test_sign(const char *name, const void *content, size_t len, bool detached,
		  struct tm_buf *der);

/* Write a report as YAML (cr_assert on failure). */
struct tm_report;
void tm_test_report_write(const struct tm_report *r, struct tm_buf *out);
/* Write, read back through the schema, compare, write again: same bytes. */
void tm_test_report_round_trip(const struct tm_report *r, const char *what);

/* Read a key=value log line as an operator's parser would (telemail/log.h): tag words,
 * then key=value fields, a value plain or in double quotes with \" \\ \n \r \t \xHH.
 * Returns how many fields have the key `key` (-1: the line is not well formed), and the
 * first one's value, unescaped, into out (NUL-terminated; cap > 0). */
int tm_test_log_field(const char *line, const char *key, char *out, size_t cap);
/* The line of text that holds `needle` (a copy without the newline; NULL: none). */
char *tm_test_log_line(const char *text, const char *needle);

#endif

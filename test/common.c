/* Shared helpers for the Criterion tests. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <telemail/report.h>
#include <telemail/smime.h>

#include "smime/cms.h"
#include "smime/cms_private.h"
#include "common.h"

static char *join(const char *env, const char *fallback, const char *mid, const char *rel)
{
	const char *base = getenv(env);
	if (base == NULL)
		base = fallback;
	size_t n = strlen(base) + strlen(mid) + strlen(rel) + 3;
	char *p = malloc(n);
	cr_assert_not_null(p);
	snprintf(p, n, "%s/%s%s", base, mid, rel);
	return p;
}

char *tm_test_src(const char *rel)
{
	return join("TM_TESTDIR", "test", "", rel);
}

char *tm_test_pki(const char *rel)
{
	return join("TM_TEST_BUILDDIR", ".", "pki/", rel);
}

char *tm_test_tmpdir(void)
{
	char tmpl[] = "/tmp/tmtest.XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert_not_null(d, "mkdtemp: %s", strerror(errno));
	return strdup(d);
}

void tm_test_rmtree(const char *dir)
{
	if (dir == NULL || strncmp(dir, "/tmp/tmtest.", 12) != 0)
		return;
	tm_test_sh("rm -rf '%s'", dir);
}

void tm_test_read(const char *path, struct tm_buf *buf)
{
	struct tm_error err = {0};
	int rc = tm_buf_read_file(buf, path, 64u << 20, &err);
	cr_assert_eq(rc, 0, "%s: %s", path, err.msg);
}

void tm_test_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

int tm_test_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert(n > 0 && (size_t)n < sizeof(cmd), "command too long");
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

void tm_test_report_write(const struct tm_report *r, struct tm_buf *out)
{
	struct tm_error err = {0};
	int rc = tm_report_write_yaml(r, out, &err);
	cr_assert_eq(rc, 0, "%s: %s", err.reason, err.msg);
}

/* write, read back through the schema, compare, write again: same bytes */
void tm_test_report_round_trip(const struct tm_report *r, const char *what)
{
	struct tm_buf a, b;
	tm_buf_init(&a);
	tm_buf_init(&b);
	tm_test_report_write(r, &a);
	struct tm_error err = {0};
	struct tm_report *back = NULL;
	int rc = tm_report_read(a.data, a.len, NULL, &back, &err);
	cr_assert_eq(rc, 0, "%s: re-read failed: %s: %s\n%s", what, err.reason, err.msg, a.data);
	cr_assert(tm_report_equal(r, back), "%s: model differs after the round trip\n%s", what, a.data);
	tm_test_report_write(back, &b);
	cr_assert_eq(a.len, b.len, "%s: second write differs in length", what);
	cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "%s: second write differs\n%s\n---\n%s", what,
		     a.data, b.data);
	tm_report_free(back);
	tm_buf_fini(&a);
	tm_buf_fini(&b);
}

struct tm_trust *tm_test_trust(bool with_crl)
{
	char *ca = tm_test_pki("ca.pem"), *crl = tm_test_pki("crl.pem");
	struct tm_trust *t = NULL;
	struct tm_error err = {0};
	cr_assert_eq(tm_trust_load(ca, with_crl ? crl : NULL, &t, &err), 0, "%s", err.msg);
	free(ca);
	free(crl);
	return t;
}

void *tm_test_pki_cert(const char *file)
{
	char *path = tm_test_pki(file);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	cr_assert_not_null(x, "%s", path);
	fclose(f);
	free(path);
	return x;
}

size_t tm_test_certcache_slot(const char *name)
{
	char file[64];
	snprintf(file, sizeof(file), "%s.pem", name);
	X509 *x = tm_test_pki_cert(file);
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	cr_assert_gt(n, 0);
	size_t s = tm_cms_certcache_slot(der, (size_t)n);
	OPENSSL_free(der);
	X509_free(x);
	return s;
}

int tm_test_cms_verify(const struct tm_trust *t, const struct tm_buf *der, bool detached,
		       char serial[65], struct tm_error *err)
{
	static const char content_expected[] = TM_TEST_SIGNED_CONTENT;
	const size_t n = sizeof(content_expected) - 1;
	struct tm_signer_info si;
	memset(&si, 0, sizeof(si));
	tm_buf_init(&si.der);
	struct tm_buf content;
	tm_buf_init(&content);
	int rc = tm_cms_verify(t, der->data, der->len,
			       detached ? (const uint8_t *)content_expected : NULL, detached ? n : 0, 0, 0,
			       &content, &si, err);
	cr_assert_eq(ERR_peek_error(), 0, "OpenSSL error queue left non-empty");
	if (rc == 0) {
		cr_assert_eq(content.len, n);
		cr_assert_eq(memcmp(content.data, content_expected, n), 0);
	}
	if (serial != NULL)
		snprintf(serial, 65, "%s", rc == 0 ? si.serial : "");
	tm_buf_fini(&si.der);
	tm_buf_fini(&content);
	return rc;
}

void tm_test_sign(const char *name, const void *content, size_t len, bool detached,
		  struct tm_buf *der)
{
	char cert[256], key[256];
	snprintf(cert, sizeof(cert), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	char *c = tm_test_pki(cert), *k = tm_test_pki(key);
	struct tm_identity *id = NULL;
	struct tm_error err = {0};
	cr_assert_eq(tm_identity_load(c, k, NULL, &id, &err), 0, "%s: %s", name, err.msg);
	cr_assert_eq(tm_cms_sign(id, content, len, detached, der, &err), 0, "%s", err.msg);
	tm_identity_free(id);
	free(c);
	free(k);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int tm_test_log_field(const char *line, const char *key, char *out, size_t cap)
{
	int found = 0;
	out[0] = '\0';
	const char *p = line;
	bool in_fields = false;
	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		const char *eq = p;
		while (*eq != '\0' && *eq != ' ' && *eq != '=' && *eq != '"')
			eq++;
		if (*eq != '=') { /* a tag word: only before the first field */
			if (in_fields || *eq == '"')
				return -1;
			p = eq;
			continue;
		}
		in_fields = true;
		bool match = (size_t)(eq - p) == strlen(key) && strncmp(p, key, (size_t)(eq - p)) == 0;
		bool take = match && found == 0;
		found += match;
		p = eq + 1;
		size_t n = 0;
		if (*p != '"') {
			while (*p != '\0' && *p != ' ') {
				if (*p == '=' || *p == '\\')
					return -1; /* a plain value holds neither */
				if (take && n + 1 < cap)
					out[n++] = *p;
				p++;
			}
		} else {
			p++;
			for (;;) {
				char c = *p++;
				if (c == '\0')
					return -1; /* no closing quote */
				if (c == '"')
					break;
				if (c == '\\') {
					char e = *p++;
					if (e == 'n') c = '\n';
					else if (e == 'r') c = '\r';
					else if (e == 't') c = '\t';
					else if (e == '"' || e == '\\') c = e;
					else if (e == 'x' && hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
						c = (char)(hexval(p[0]) * 16 + hexval(p[1]));
						p += 2;
					} else
						return -1;
				} else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
					return -1; /* written raw: the writer escapes these */
				}
				if (take && n + 1 < cap)
					out[n++] = c;
			}
			if (*p != '\0' && *p != ' ')
				return -1; /* text glued to a closing quote */
		}
		if (take)
			out[n] = '\0';
	}
	return found;
}

char *tm_test_log_line(const char *text, const char *needle)
{
	const char *hit = text != NULL ? strstr(text, needle) : NULL;
	if (hit == NULL)
		return NULL;
	const char *b = hit;
	while (b > text && b[-1] != '\n')
		b--;
	const char *e = strchr(hit, '\n');
	size_t n = e != NULL ? (size_t)(e - b) : strlen(b);
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, b, n);
		s[n] = '\0';
	}
	return s;
}

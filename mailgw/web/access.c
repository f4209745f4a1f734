/* telemail-mailgw — viewers of the fleet page (see access.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <telemail/array.h>
#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>

#include "registry/registry.h"
#include "web/access.h"

void gw_web_access_fini(struct gw_web_access *a)
{
	free(a->entries);
	a->entries = NULL;
	a->n = 0;
}

/* Split the next whitespace-separated word of [*p, end) into w (NUL-terminated). */
static bool word(const char **p, const char *end, char *w, size_t cap)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	size_t n = 0;
	while (*p < end && **p != ' ' && **p != '\t') {
		if (n + 1 >= cap)
			return false;
		w[n++] = *(*p)++;
	}
	w[n] = '\0';
	return n > 0;
}

int gw_web_access_parse(const char *text, size_t len, const char *name,
			struct gw_web_access *out, struct tm_error *err)
{
	size_t cap = 0;
	memset(out, 0, sizeof(*out));
	const char *p = text, *end = text + len;
	for (unsigned line = 1; p < end; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		const char *q = p, *le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		p = eol < end ? eol + 1 : end;
		while (q < le && (*q == ' ' || *q == '\t'))
			q++;
		if (q == le || *q == '#')
			continue;
		char tenant[GW_NAME_MAX + 1], hash[80], role[16], extra[4];
		role[0] = '\0';
		if (!word(&q, le, tenant, sizeof(tenant)) || !word(&q, le, hash, sizeof(hash)) ||
		    (word(&q, le, role, sizeof(role)) && strcmp(role, "operator") != 0) ||
		    word(&q, le, extra, sizeof(extra))) {
			gw_web_access_fini(out);
			return tm_error_set(err, "config.bad_value",
					    "%s:%u: want TENANT SHA256HEX [operator] or TENANT "
					    "cert:SHA256HEX [operator]", name, line);
		}
		struct gw_web_access_entry e = { .kind = GW_WEB_CRED_TOKEN };
		const char *h = hash;
		if (strncmp(h, "cert:", 5) == 0) {
			e.kind = GW_WEB_CRED_CERT;
			h += 5;
		}
		if (!gw_registry_tenant_name_ok(tenant) || !gw_store_is_sha256_hex(h)) {
			gw_web_access_fini(out);
			return tm_error_set(err, "config.bad_value",
					    "%s:%u: %s", name, line,
					    gw_registry_tenant_name_ok(tenant)
						? "the hash is not 64 lower-case hex digits"
						: "not a tenant name");
		}
		if (out->n >= GW_WEB_MAX_VIEWERS) {
			gw_web_access_fini(out);
			return tm_error_set(err, "config.bad_value", "%s:%u: more than %d viewers",
					    name, line, GW_WEB_MAX_VIEWERS);
		}
		memcpy(e.sha256, h, GW_SHA256_HEX);
		snprintf(e.viewer.tenant, sizeof(e.viewer.tenant), "%s", tenant);
		e.viewer.operator = role[0] != '\0';
		struct gw_web_access_entry *grown =
			tm_array_grow(out->entries, &cap, out->n, sizeof(*grown), 16, GW_WEB_MAX_VIEWERS);
		if (grown == NULL) {
			gw_web_access_fini(out);
			return tm_error_set(err, "internal.nomem", "out of memory");
		}
		out->entries = grown;
		out->entries[out->n++] = e;
	}
	return 0;
}

int gw_web_access_load(const char *path, struct gw_web_access *out, struct tm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (path == NULL || access(path, F_OK) != 0)
		return 0;
	struct tm_buf b;
	tm_buf_init(&b);
	int rc = tm_buf_read_file(&b, path, 4u << 20, err);
	if (rc == 0)
		rc = gw_web_access_parse(b.data != NULL ? (const char *)b.data : "", b.len, path, out,
					 err);
	tm_buf_fini(&b);
	return rc;
}

/* Every entry compared whole, whatever matched before: the time taken says
 * nothing about which hash (or how much of one) a guess came close to. */
static bool find(const struct gw_web_access *a, enum gw_web_cred kind, const char *hex,
		 struct gw_web_viewer *out)
{
	bool found = false;
	for (size_t i = 0; i < a->n; i++) {
		unsigned char diff = a->entries[i].kind == kind ? 0 : 1;
		for (size_t k = 0; k < GW_SHA256_HEX - 1; k++)
			diff |= (unsigned char)(a->entries[i].sha256[k] ^ hex[k]);
		if (diff == 0 && !found) {
			*out = a->entries[i].viewer;
			found = true;
		}
	}
	return found;
}

bool gw_web_access_token(const struct gw_web_access *a, const char *token, size_t len,
			 struct gw_web_viewer *out)
{
	if (len == 0 || len > GW_WEB_TOKEN_MAX)
		return false;
	char hex[GW_SHA256_HEX];
	tm_sha256_hex(token, len, hex);
	return find(a, GW_WEB_CRED_TOKEN, hex, out);
}

bool gw_web_access_cert(const struct gw_web_access *a, const char *sha256_hex,
			struct gw_web_viewer *out)
{
	if (!gw_store_is_sha256_hex(sha256_hex))
		return false;
	return find(a, GW_WEB_CRED_CERT, sha256_hex, out);
}

int gw_web_token_add(const char *path, const char *tenant, bool operator, char *token, size_t n,
		     struct tm_error *err)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[GW_WEB_TOKEN_BYTES + 1] = {0};   /* + 1: the last group's padding octet */
	if (n < 64)
		return tm_error_set(err, "internal.bug", "token buffer too small");
	if (!gw_registry_tenant_name_ok(tenant))
		return gw_registry_tenant_bad_name(tenant, err);
	if (getrandom(raw, GW_WEB_TOKEN_BYTES, 0) != GW_WEB_TOKEN_BYTES)
		return tm_error_set(err, "internal.library", "getrandom: %s", strerror(errno));
	size_t k = 0;
	for (size_t i = 0; i < GW_WEB_TOKEN_BYTES; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
			     (i + 2 < GW_WEB_TOKEN_BYTES ? raw[i + 2] : 0);
		size_t chars = GW_WEB_TOKEN_BYTES - i >= 3 ? 4 : (GW_WEB_TOKEN_BYTES - i) + 1;
		for (size_t c = 0; c < chars; c++)
			token[k++] = b64[(v >> (18 - 6 * c)) & 63];
	}
	token[k] = '\0';
	char hex[GW_SHA256_HEX], line[GW_NAME_MAX + GW_SHA256_HEX + 16];
	tm_sha256_hex(token, k, hex);
	int len = snprintf(line, sizeof(line), "%s %s%s\n", tenant, hex, operator ? " operator" : "");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return tm_error_set(err, "io.open", "%s: %s", path, strerror(errno));
	int rc = 0;
	if (write(fd, line, (size_t)len) != len || fsync(fd) != 0)
		rc = tm_error_set(err, "io.write", "%s: %s", path, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = tm_error_set(err, "io.write", "%s: %s", path, strerror(errno));
	explicit_bzero(raw, sizeof(raw));
	if (rc != 0)
		explicit_bzero(token, n);
	return rc;
}

/* telemail-mailgw — who may read the fleet page: viewers and their tenant.
 *
 * The tokens file (web.tokens_file) has one viewer per line:
 *
 *   TENANT SHA256HEX [operator]          a bearer token: the SHA-256 of the
 *                                        token, 64 lower-case hex digits
 *   TENANT cert:SHA256HEX [operator]     a client certificate (mutual TLS):
 *                                        the SHA-256 of its DER encoding
 *
 * '#' starts a comment line; blank lines are skipped. A viewer sees its
 * tenant and that tenant's descendants (registry/tenant_scope.h); the word
 * `operator` makes the viewer an operator: every tenant and the quarantine
 * page (a root tenant without it sees its own tree only). Tokens are never
 * stored: only their hash is, and a presented token is hashed and compared
 * with every line in constant time. Tokens are never logged. */
#ifndef GW_WEB_ACCESS_H
#define GW_WEB_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

struct tm_error;

#define GW_WEB_MAX_VIEWERS 10000
#define GW_WEB_TOKEN_MAX 256          /* octets of a presented token */
#define GW_WEB_TOKEN_BYTES 32         /* random octets of a new token */

enum gw_web_cred { GW_WEB_CRED_TOKEN, GW_WEB_CRED_CERT };

struct gw_web_viewer {
	char tenant[GW_NAME_MAX + 1];
	bool operator;
};

struct gw_web_access_entry {
	enum gw_web_cred kind;
	char sha256[GW_SHA256_HEX];
	struct gw_web_viewer viewer;
};

struct gw_web_access {
	struct gw_web_access_entry *entries;
	size_t n;
};

/* Read the tokens file (a missing file: no viewer). config.bad_value names
 * the file and line of a bad line. */
int gw_web_access_load(const char *path, struct gw_web_access *out, struct tm_error *err);
/* The same from text (name for messages). */
int gw_web_access_parse(const char *text, size_t len, const char *name,
			struct gw_web_access *out, struct tm_error *err);
void gw_web_access_fini(struct gw_web_access *a);

/* A presented bearer token → its viewer (false: no such token). */
bool gw_web_access_token(const struct gw_web_access *a, const char *token, size_t len,
			 struct gw_web_viewer *out);
/* A client certificate's SHA-256 (hex) → its viewer. */
bool gw_web_access_cert(const struct gw_web_access *a, const char *sha256_hex,
			struct gw_web_viewer *out);

/* `web token add`: a new random token (base64url, no padding) into
 * token[n >= 64], its line "TENANT HASH[ operator]\n" appended to the file
 * (created mode 0600). */
int gw_web_token_add(const char *path, const char *tenant, bool operator, char *token, size_t n,
		     struct tm_error *err);

#endif

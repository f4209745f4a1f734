/* telemail-mailgw — the forwarder's HTTP sender over libcurl (see forward.h).
 *
 * TLS is always verified (peer and host name; ca_file or the system store);
 * the protocols are https only (http only when the endpoint allows it, which
 * the configuration grants for loopback receivers only); no redirects; the
 * proxy is the configured one or none (the environment's is not used). The
 * bearer token and the HMAC key are read from their files for each batch
 * and never logged nor kept in an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <zlib.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>

#include "config/config_forward.h"
#include "forward/forward.h"

#define MAX_SECRET 4096

/* A token or key file's bytes, a trailing newline cut. */
static int read_secret(const char *path, const char *what, struct tm_buf *b, struct tm_error *err)
{
	struct tm_error e = {0};
	if (tm_buf_read_file(b, path, MAX_SECRET, &e) < 0)
		return tm_error_set(err, "forward.secret", "%s %s: %s", what, path, e.msg);
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->len--;
	if (b->len == 0)
		return tm_error_set(err, "forward.secret", "%s %s: empty", what, path);
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] < 0x20 && strcmp(what, "token_file") == 0)
			return tm_error_set(err, "forward.secret", "%s %s: a control character",
					    what, path);
	return 0;
}

static int gzip_body(const void *in, size_t len, struct tm_buf *out, struct tm_error *err)
{
	z_stream z = {0};
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return tm_error_set(err, "internal.library", "forward: zlib init failed");
	size_t cap = deflateBound(&z, (uLong)len);
	int rc = -1;
	if (tm_buf_reserve(out, cap) < 0) {
		tm_error_set(err, "internal.nomem", "forward: out of memory");
		goto out;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out->data + out->len;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		tm_error_set(err, "internal.library", "forward: gzip failed");
		goto out;
	}
	out->len += cap - z.avail_out;
	rc = 0;
out:
	deflateEnd(&z);
	return rc;
}

struct answer {
	struct gw_forward_reply *reply;
	size_t body_len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t len = size * n, room = sizeof(a->reply->body) - 1 - a->body_len;
	size_t take = len < room ? len : room;
	memcpy(a->reply->body + a->body_len, p, take);
	a->body_len += take;
	a->reply->body[a->body_len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	if (len > sizeof(name) - 1 && len < 200 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		char v[200];
		memcpy(v, p + sizeof(name) - 1, len - (sizeof(name) - 1));
		v[len - (sizeof(name) - 1)] = '\0';
		char *s = v;
		while (*s == ' ' || *s == '\t')
			s++;
		s[strcspn(s, "\r\n")] = '\0';
		char *end;
		long long secs = strtoll(s, &end, 10);
		if (end != s && *end == '\0' && secs >= 0) {
			a->reply->retry_after = secs;
		} else {   /* an HTTP date */
			time_t t = curl_getdate(s, NULL);
			time_t now = time(NULL);
			if (t > now)
				a->reply->retry_after = (int64_t)(t - now);
		}
		if (a->reply->retry_after > 86400)
			a->reply->retry_after = 86400;
	}
	return len;
}

static bool tls_error(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
	       cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE ||
	       cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_CRL_BADFILE;
}

/* The reply's start as one printable line (for messages and the dead list). */
static void clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = ' ';
}

int gw_forward_post(const struct gw_forward_endpoint *e, const void *body, size_t len,
		    bool ndjson, const char *idempotency_key, struct gw_forward_reply *reply,
		    struct tm_error *err)
{
	memset(reply, 0, sizeof(*reply));
	struct tm_buf token, key, zbody, auth;
	tm_buf_init(&token);
	tm_buf_init(&key);
	tm_buf_init(&zbody);
	tm_buf_init(&auth);
	struct curl_slist *hdr = NULL;
	CURL *c = NULL;
	int rc = -1;
	if (e->token_file != NULL && read_secret(e->token_file, "token_file", &token, err) < 0)
		goto out;
	if (e->hmac_secret_file != NULL &&
	    read_secret(e->hmac_secret_file, "hmac_secret_file", &key, err) < 0)
		goto out;
	if (e->gzip) {
		if (gzip_body(body, len, &zbody, err) < 0)
			goto out;
		body = zbody.data;
		len = zbody.len;
	}
	char idem[128], sig[TM_SIGNATURE_HEADER_LEN];
	snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idempotency_key);
	const char *lines[8];
	size_t nl = 0;
	lines[nl++] = ndjson ? "Content-Type: application/x-ndjson"
			     : "Content-Type: application/cloudevents-batch+json";
	lines[nl++] = idem;
	lines[nl++] = "Expect:";
	if (e->gzip)
		lines[nl++] = "Content-Encoding: gzip";
	if (key.len > 0) {
		tm_signature_header(key.data, key.len, body, len, sig);
		lines[nl++] = sig;
	}
	if (token.len > 0) {
		if (tm_buf_printf(&auth, "Authorization: Bearer %.*s", (int)token.len,
				  (const char *)token.data) < 0) {
			tm_error_set(err, "internal.nomem", "forward: out of memory");
			goto out;
		}
		lines[nl++] = (const char *)auth.data;
	}
	for (size_t i = 0; i < nl; i++) {
		struct curl_slist *t = curl_slist_append(hdr, lines[i]);
		if (t == NULL) {
			tm_error_set(err, "internal.nomem", "forward: out of memory");
			goto out;
		}
		hdr = t;
	}
	if ((c = curl_easy_init()) == NULL) {
		tm_error_set(err, "internal.library", "forward: curl_easy_init failed");
		goto out;
	}
	char ebuf[CURL_ERROR_SIZE] = "";
	struct answer a = { .reply = reply };
	curl_easy_setopt(c, CURLOPT_URL, e->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)e->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)e->connect_timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, e->allow_http ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (e->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_file);
	if (e->client_cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->client_key);
	}
	curl_easy_setopt(c, CURLOPT_PROXY, e->proxy != NULL ? e->proxy : "");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
	clean(reply->body);
	if (cc != CURLE_OK) {
		reply->status = 0;
		tm_error_set(err, tls_error(cc) ? "forward.tls" : "forward.unavailable", "%s: %s",
			     e->name, ebuf[0] ? ebuf : curl_easy_strerror(cc));
	} else if (reply->status >= 200 && reply->status <= 299) {
		rc = 0;
	} else if (reply->status == 408 || reply->status == 429 || reply->status >= 500) {
		tm_error_set(err, "forward.unavailable", "%s: answered HTTP %ld%s%s", e->name,
			     reply->status, reply->body[0] ? ": " : "", reply->body);
	} else {
		tm_error_set(err, "forward.rejected", "%s: answered HTTP %ld%s%s", e->name,
			     reply->status, reply->body[0] ? ": " : "", reply->body);
	}
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	/* the token and key leave no copy behind */
	if (token.data != NULL)
		memset(token.data, 0, token.len);
	if (auth.data != NULL)
		memset(auth.data, 0, auth.len);
	if (key.data != NULL)
		memset(key.data, 0, key.len);
	tm_buf_fini(&token);
	tm_buf_fini(&auth);
	tm_buf_fini(&key);
	tm_buf_fini(&zbody);
	return rc;
}

/* telemail-mailgw — the fleet page's HTTPS server (see server.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/log.h>

#include "config/config_web.h"
#include "store/quarantine.h"
#include "store/store.h"
#include "web/access.h"
#include "web/metrics.h"
#include "web/page.h"
#include "web/server.h"

#define CSP "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " \
	    "frame-ancestors 'none'; base-uri 'none'"

struct gw_web {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	int ex_index;                /* SSL ex data: the server, to count connections */
	unsigned conns;              /* open TLS connections (loop thread only) */
	unsigned max_connections, max_headers;
	bool client_certs;
	unsigned port;
	char metrics_sha256[GW_SHA256_HEX];

	struct gw_store *st;
	struct gw_quarantine *q;
	int64_t silence, estimate_after;
	char **fwd_endpoints;
	size_t n_fwd_endpoints;
	gw_web_runtime_fn runtime;
	void *runtime_ctx;
	gw_web_log_fn log;
	void *log_ctx;

	char *tokens_file;
	struct gw_web_access access;
	struct timespec tokens_mtime;
	off_t tokens_size;
	bool tokens_loaded;

	pthread_t thread;
	bool started;
};

/* ---- logging ---- */

static void log_line(struct gw_web *w, struct tm_logline *l)
{
	const char *line = tm_log_end(l);
	if (w->log != NULL && line != NULL)
		w->log(w->log_ctx, line);
}

/* ---- TLS ---- */

/* Called by SSL_free for every SSL of the process; ours carry the server. */
static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	struct gw_web *w = ptr;
	if (w != NULL && w->conns > 0)
		w->conns--;
}

static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
	struct gw_web *w = arg;
	SSL *ssl = SSL_new(w->ssl);
	if (ssl == NULL)   /* evhttp falls back to a plain socket: handle() refuses it */
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	SSL_set_ex_data(ssl, w->ex_index, w);
	w->conns++;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static int tls_setup(struct gw_web *w, const struct gw_web_config *c, struct tm_error *err)
{
	w->ssl = SSL_CTX_new(TLS_server_method());
	if (w->ssl == NULL)
		return tm_error_set(err, "internal.library", "SSL_CTX_new failed");
	/* the listener's settings: TLS 1.2 or later, no renegotiation */
	SSL_CTX_set_min_proto_version(w->ssl, TLS1_2_VERSION);
	SSL_CTX_set_options(w->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(w->ssl, c->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(w->ssl, c->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(w->ssl) != 1) {
		ERR_clear_error();
		return tm_error_set(err, "smime.key", "web.tls: %s / %s: not a usable certificate "
				    "and key", c->tls_cert, c->tls_key);
	}
	if (c->client_ca != NULL) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->client_ca);
		if (names == NULL || SSL_CTX_load_verify_locations(w->ssl, c->client_ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			ERR_clear_error();
			return tm_error_set(err, "smime.key", "web.client_ca: %s: no usable CA "
					    "certificate", c->client_ca);
		}
		SSL_CTX_set_client_CA_list(w->ssl, names);
		/* asked, verified when given, not required: a token still works */
		SSL_CTX_set_verify(w->ssl, SSL_VERIFY_PEER, NULL);
		w->client_certs = true;
	}
	w->ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
	return w->ex_index < 0 ? tm_error_set(err, "internal.library", "SSL_get_ex_new_index") : 0;
}

/* ---- who is asking ---- */

static void tokens_refresh(struct gw_web *w)
{
	struct stat sb;
	if (stat(w->tokens_file, &sb) != 0) {
		if (w->tokens_loaded && w->access.n > 0)
			gw_web_access_fini(&w->access);   /* the file is gone: nobody */
		return;
	}
	if (w->tokens_loaded && sb.st_mtim.tv_sec == w->tokens_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == w->tokens_mtime.tv_nsec && sb.st_size == w->tokens_size)
		return;
	struct gw_web_access fresh;
	struct tm_error err = {0};
	if (gw_web_access_load(w->tokens_file, &fresh, &err) < 0) {
		struct tm_logline l;
		tm_log_begin(&l, "gw web");
		tm_log_add(&l, "event", "tokens_failed");
		tm_log_add(&l, "reason", err.reason);
		tm_log_add(&l, "detail", err.msg);
		log_line(w, &l);
		/* the viewers read before stay */
	} else {
		gw_web_access_fini(&w->access);
		w->access = fresh;
	}
	w->tokens_loaded = true;
	w->tokens_mtime = sb.st_mtim;
	w->tokens_size = sb.st_size;
}

/* The credential of an Authorization header: Bearer TOKEN, or Basic with the
 * token as the password. Returns its length (0: none). */
static size_t presented_token(const char *auth, char *out, size_t cap)
{
	if (auth == NULL)
		return 0;
	if (strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *t = auth + 7;
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		if (n == 0 || n >= cap)
			return 0;
		memcpy(out, t, n + 1);
		return n;
	}
	if (strncasecmp(auth, "Basic ", 6) == 0) {
		const char *t = auth + 6;
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		unsigned char dec[3 * (GW_WEB_TOKEN_MAX + GW_NAME_MAX + 8) / 4 + 4];
		if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(dec) - 1)
			return 0;
		int d = EVP_DecodeBlock(dec, (const unsigned char *)t, (int)n);
		if (d < 0)
			return 0;
		d -= (t[n - 1] == '=') + (n > 1 && t[n - 2] == '=');
		dec[d] = '\0';
		const unsigned char *colon = memchr(dec, ':', (size_t)d);
		if (colon == NULL)
			return 0;
		size_t tl = (size_t)(dec + d - (colon + 1));
		if (tl == 0 || tl >= cap)
			return 0;
		memcpy(out, colon + 1, tl);
		out[tl] = '\0';
		OPENSSL_cleanse(dec, sizeof(dec));
		return tl;
	}
	return 0;
}

static bool viewer_of(struct gw_web *w, struct evhttp_request *req, SSL *ssl,
		      struct gw_web_viewer *v)
{
	tokens_refresh(w);
	if (w->client_certs) {
		X509 *cert = SSL_get0_peer_certificate(ssl);
		unsigned char md[32];
		unsigned int mdlen = 0;
		if (cert != NULL && SSL_get_verify_result(ssl) == X509_V_OK &&
		    X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
			char hex[GW_SHA256_HEX];
			for (unsigned i = 0; i < 32; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			if (gw_web_access_cert(&w->access, hex, v))
				return true;
		}
	}
	char token[GW_WEB_TOKEN_MAX + 1];
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	size_t n = presented_token(auth, token, sizeof(token));
	bool ok = n > 0 && gw_web_access_token(&w->access, token, n, v);
	OPENSSL_cleanse(token, sizeof(token));
	return ok;
}

static bool is_loopback(struct evhttp_connection *conn)
{
	const struct sockaddr *sa = evhttp_connection_get_addr(conn);
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static bool metrics_allowed(struct gw_web *w, struct evhttp_request *req,
			    struct evhttp_connection *conn)
{
	if (w->metrics_sha256[0] == '\0')
		return is_loopback(conn);
	char token[GW_WEB_TOKEN_MAX + 1], hex[GW_SHA256_HEX];
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	size_t n = presented_token(auth, token, sizeof(token));
	if (n == 0)
		return false;
	tm_sha256_hex(token, n, hex);
	OPENSSL_cleanse(token, sizeof(token));
	unsigned char diff = 0;
	for (size_t i = 0; i < GW_SHA256_HEX - 1; i++)
		diff |= (unsigned char)(hex[i] ^ w->metrics_sha256[i]);
	return diff == 0;
}

/* ---- answering ---- */

static void send_text(struct evhttp_request *req, int status, const char *reason,
		      const char *content_type, const void *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", content_type);
	struct evbuffer *out = evbuffer_new();
	if (out != NULL && len > 0)
		evbuffer_add(out, body, len);
	evhttp_send_reply(req, status, reason, out);
	if (out != NULL)
		evbuffer_free(out);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct gw_web *w = arg;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	evhttp_add_header(oh, "Content-Security-Policy", CSP);
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(oh, "Referrer-Policy", "no-referrer");
	evhttp_add_header(oh, "X-Frame-Options", "DENY");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "Strict-Transport-Security", "max-age=31536000");

	const char *uri_path = NULL;
	char *path = NULL;
	size_t path_len = 0;
	struct evkeyvalq query;
	TAILQ_INIT(&query);
	struct gw_web_request rq;
	struct gw_web_response rs;
	memset(&rq, 0, sizeof(rq));
	memset(&rs, 0, sizeof(rs));
	tm_buf_init(&rs.body);
	int status = 0;
	const char *why = NULL;

	size_t n_headers = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
		n_headers++;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	if (uri != NULL)
		uri_path = evhttp_uri_get_path(uri);
	if (ssl == NULL) {
		status = 400, why = "TLS only";
	} else if (w->conns > w->max_connections) {
		status = 503, why = "too many connections";
		evhttp_add_header(oh, "Connection", "close");
	} else if (n_headers > w->max_headers) {
		status = 431, why = "too many header fields";
	} else if (uri_path == NULL || (path = evhttp_uridecode(uri_path, 0, &path_len)) == NULL ||
		   strlen(path) != path_len || path[0] != '/') {   /* no NUL hidden in %00 */
		status = 400, why = "bad path";
	}
	if (status == 0 && uri != NULL && evhttp_uri_get_query(uri) != NULL &&
	    evhttp_parse_query_str(evhttp_uri_get_query(uri), &query) != 0)
		status = 400, why = "bad query";
	if (status == 0) {
		TAILQ_FOREACH(kv, &query, next) {
			if (rq.n_params == GW_WEB_MAX_PARAMS) {
				status = 400, why = "too many query parameters";
				break;
			}
			rq.params[rq.n_params].key = kv->key;
			rq.params[rq.n_params++].value = kv->value;
		}
	}
	const char *tenant = "-";
	if (status == 0) {
		rq.path = path;
		struct gw_web_source src = {
			.st = w->st, .q = w->q, .now = (int64_t)time(NULL), .silence = w->silence,
			.estimate_after = w->estimate_after,
			.fwd_endpoints = (const char *const *)w->fwd_endpoints,
			.n_fwd_endpoints = w->n_fwd_endpoints,
		};
		if (strcmp(path, "/metrics") == 0) {
			if (!metrics_allowed(w, req, conn)) {
				status = w->metrics_sha256[0] ? 401 : 403;
				why = "metrics: not allowed";
				if (status == 401)
					evhttp_add_header(oh, "WWW-Authenticate", "Bearer realm=\"telemail metrics\"");
			} else {
				struct gw_web_runtime rt;
				bool have = w->runtime != NULL;
				if (have)
					w->runtime(w->runtime_ctx, &rt);
				rs.content_type = "text/plain; version=0.0.4; charset=utf-8";
				status = gw_web_metrics(&src, have ? &rt : NULL, &rs.body) == 0 ? 200 : 500;
			}
		} else if (strcmp(path, "/style.css") == 0 ||
			   viewer_of(w, req, ssl, &rq.viewer)) {
			if (strcmp(path, "/style.css") != 0)
				tenant = rq.viewer.tenant;
			status = gw_web_handle(&src, &rq, &rs);
		} else {
			status = 401, why = "a token or a client certificate is needed";
			evhttp_add_header(oh, "WWW-Authenticate",
					  "Basic realm=\"telemail\", charset=\"UTF-8\"");
		}
	}
	if (why != NULL) {
		tm_buf_reset(&rs.body);
		tm_buf_printf(&rs.body, "%d %s: %s\n", status, reason_phrase(status), why);
		rs.content_type = "text/plain; charset=utf-8";
	}
	if (rs.disposition[0])
		evhttp_add_header(oh, "Content-Disposition", rs.disposition);
	if (rs.body.data == NULL && rs.body.len == 0 && status == 200)
		status = 500;
	send_text(req, status, reason_phrase(status),
		  rs.content_type != NULL ? rs.content_type : "text/plain; charset=utf-8",
		  rs.body.data, rs.body.len);
	struct tm_logline l;
	tm_log_begin(&l, "gw web");
	tm_log_add(&l, "method", evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? "HEAD" : "GET");
	tm_log_add(&l, "path", path != NULL ? path : "-");   /* never the query: no secrets there, but no need */
	tm_log_addf(&l, "status", "%d", status);
	tm_log_add(&l, "tenant", tenant);
	tm_log_addf(&l, "ms", "%" PRId64, ms_since(&t0));
	log_line(w, &l);
	tm_buf_fini(&rs.body);
	evhttp_clear_headers(&query);
	free(path);
}

/* ---- lifecycle ---- */

int gw_web_new(const struct gw_web_options *o, struct gw_web **out, struct tm_error *err)
{
	const struct gw_web_config *c = o->cfg;
	*out = NULL;
	struct gw_web *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	w->max_connections = c->max_connections;
	w->max_headers = c->max_headers;
	w->silence = o->silence;
	w->estimate_after = o->estimate_after;
	w->runtime = o->runtime;
	w->runtime_ctx = o->runtime_ctx;
	w->log = o->log;
	w->log_ctx = o->log_ctx;
	memcpy(w->metrics_sha256, c->metrics_token_sha256, sizeof(w->metrics_sha256));
	int rc = -1;
	if (o->n_fwd_endpoints > 0 &&
	    (w->fwd_endpoints = calloc(o->n_fwd_endpoints, sizeof(char *))) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	for (; w->n_fwd_endpoints < o->n_fwd_endpoints; w->n_fwd_endpoints++)
		if ((w->fwd_endpoints[w->n_fwd_endpoints] = strdup(o->fwd_endpoints[w->n_fwd_endpoints])) == NULL) {
			tm_error_set(err, "internal.nomem", "out of memory");
			goto out;
		}
	if ((w->tokens_file = strdup(c->tokens_file)) == NULL) {
		tm_error_set(err, "internal.nomem", "out of memory");
		goto out;
	}
	if (gw_web_access_load(w->tokens_file, &w->access, err) < 0)
		goto out;
	tokens_refresh(w);
	if (tls_setup(w, c, err) < 0)
		goto out;
	struct gw_store_options so = o->store;
	so.forward = false;   /* the page writes nothing */
	if (gw_store_open(&so, &w->st, err) != GW_STORE_OK)
		goto out;
	if (o->quarantine && gw_quarantine_open(&so, &w->q, err) < 0)
		goto out;
	evthread_use_pthreads();
	w->base = event_base_new();
	w->http = w->base != NULL ? evhttp_new(w->base) : NULL;
	if (w->http == NULL) {
		tm_error_set(err, "internal.library", "libevent: cannot make the HTTP server");
		goto out;
	}
	evhttp_set_bevcb(w->http, new_conn, w);
	evhttp_set_gencb(w->http, handle, w);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(w->http, (ev_ssize_t)c->max_request_size);
	evhttp_set_max_body_size(w->http, 0);
	evhttp_set_timeout(w->http, (int)c->timeout);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(w->http, c->address,
									  (ev_uint16_t)c->port);
	if (bs == NULL) {
		tm_error_set(err, "io.open", "web.listen %s:%u: %s", c->address, c->port,
			     strerror(errno));
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
		w->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							  : ((struct sockaddr_in *)&ss)->sin_port);
	struct tm_logline l;
	tm_log_begin(&l, "gw web");
	tm_log_add(&l, "event", "listening");
	tm_log_add(&l, "address", c->address);
	tm_log_addf(&l, "port", "%u", w->port);
	tm_log_add(&l, "client_certs", w->client_certs ? "asked" : "no");
	tm_log_addf(&l, "viewers", "%zu", w->access.n);
	log_line(w, &l);
	rc = 0;
out:
	if (rc < 0)
		gw_web_free(w);
	else
		*out = w;
	return rc;
}

unsigned gw_web_port(const struct gw_web *w)
{
	return w->port;
}

int gw_web_run(struct gw_web *w)
{
	return event_base_dispatch(w->base) < 0 ? -1 : 0;
}

static void *web_main(void *arg)
{
	gw_web_run(arg);
	return NULL;
}

int gw_web_start(struct gw_web *w, struct tm_error *err)
{
	if (pthread_create(&w->thread, NULL, web_main, w) != 0)
		return tm_error_set(err, "internal.library", "cannot start the web thread");
	pthread_setname_np(w->thread, "tm-web");
	w->started = true;
	return 0;
}

void gw_web_stop(struct gw_web *w)
{
	if (w == NULL || w->base == NULL)
		return;
	event_base_loopbreak(w->base);
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

void gw_web_free(struct gw_web *w)
{
	if (w == NULL)
		return;
	gw_web_stop(w);
	if (w->http != NULL)
		evhttp_free(w->http);   /* its connections' SSL objects count down into w */
	if (w->base != NULL)
		event_base_free(w->base);
	SSL_CTX_free(w->ssl);
	gw_quarantine_close(w->q);
	gw_store_close(w->st);
	gw_web_access_fini(&w->access);
	free(w->tokens_file);
	for (size_t i = 0; i < w->n_fwd_endpoints; i++)
		free(w->fwd_endpoints[i]);
	free(w->fwd_endpoints);
	free(w);
}

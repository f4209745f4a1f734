/* telemail-mailgw — the notification queue and its delivery (see notify.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/ssl.h>      /* before libesmtp.h: it declares smtp_starttls_set_ctx then */
#include <openssl/x509v3.h>
#include <libesmtp.h>

#include <telemail/array.h>
#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>

#include "service/alerts.h"
#include "store/audit.h"
#include "config/config_service.h"
#include "service/notify.h"

#define OPS(st) gw_store_ops_get0(st)
#define BE(st) gw_store_state_get0(st)

static int payload(const struct gw_alert_row *a, const char *event, char *out, size_t cap,
		   struct tm_error *err)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
			      "alert", (json_int_t)a->id, "event", event, "kind", a->kind,
			      "subject", a->subject, "severity", a->severity,
			      "state", gw_alert_state_name(a->state), "serial", a->serial,
			      "tenant", a->tenant, "detail", a->detail,
			      "first_seen", (json_int_t)a->first_seen,
			      "last_seen", (json_int_t)a->last_seen, "count", (json_int_t)a->count);
	if (j == NULL)
		return tm_error_set(err, "internal.nomem", "notify: cannot build the payload");
	size_t n = json_dumpb(j, out, cap - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (n == 0 || n >= cap - 1)
		return tm_error_set(err, "internal.bug", "notify: payload larger than %zu bytes", cap);
	out[n] = '\0';
	return 0;
}

int gw_notify_enqueue(struct gw_store *st, const struct gw_service_config *svc,
		      const struct gw_alert_row *a, const char *event, int64_t now,
		      struct tm_error *err)
{
	const char *channels[2];
	size_t nc = 0;
	if (svc == NULL)
		return GW_STORE_OK;
	if (svc->smtp_host != NULL)
		channels[nc++] = "email";
	if (svc->webhook_url != NULL)
		channels[nc++] = "webhook";
	if (nc == 0)
		return GW_STORE_OK;
	struct gw_notify_row n;
	memset(&n, 0, sizeof(n));
	n.alert_id = a->id;
	snprintf(n.event, sizeof(n.event), "%s", event);
	snprintf(n.kind, sizeof(n.kind), "%s", a->kind);
	snprintf(n.severity, sizeof(n.severity), "%s", a->severity);
	snprintf(n.tenant, sizeof(n.tenant), "%s", a->tenant);
	n.created_at = n.next_at = now;
	if (payload(a, event, n.payload, sizeof(n.payload), err) < 0)
		return GW_STORE_ERROR;
	for (size_t i = 0; i < nc; i++) {
		bool added;
		snprintf(n.channel, sizeof(n.channel), "%s", channels[i]);
		int rc = OPS(st)->notify_add(BE(st), &n, &added, err);
		if (rc != GW_STORE_OK)
			return rc;
	}
	return GW_STORE_OK;
}

/* ---- the queue as read for one run ---- */

#define MAX_BATCH 10000   /* notifications one run handles (the rest: next run) */
#define MAX_SECRET 4096   /* bytes of the webhook secret file */

struct queue {
	struct gw_notify_row *rows;
	size_t n, cap;
};

static int collect(void *ctx, const struct gw_notify_row *r)
{
	struct queue *q = ctx;
	if (q->n == MAX_BATCH)
		return 0;
	struct gw_notify_row *p = tm_array_grow(q->rows, &q->cap, q->n, sizeof(*p), 64, SIZE_MAX);
	if (p == NULL)
		return 1;
	q->rows = p;
	q->rows[q->n++] = *r;
	return 0;
}

static int load(struct gw_store *st, enum gw_notify_which which, struct queue *q,
		struct tm_error *err)
{
	memset(q, 0, sizeof(*q));
	int rc = OPS(st)->notify_list(BE(st), which, collect, q, err);
	if (rc > 0)
		rc = tm_error_set(err, "internal.nomem", "notify: out of memory");
	return rc;
}

static const char *const channel_names[GW_NOTIFY_CHANNELS] = { "email", "webhook" };

const char *gw_notify_channel_name(enum gw_notify_channel ch)
{
	return (unsigned)ch < GW_NOTIFY_CHANNELS ? channel_names[ch] : "?";
}

static enum gw_notify_channel channel_of(const struct gw_notify_row *n)
{
	return strcmp(n->channel, "email") == 0 ? GW_NOTIFY_EMAIL : GW_NOTIFY_WEBHOOK;
}

const struct gw_retry_policy *gw_notify_policy(const struct gw_service_config *svc,
					       enum gw_notify_channel ch)
{
	return ch == GW_NOTIFY_EMAIL ? &svc->email_retry : &svc->webhook_retry;
}

int64_t gw_notify_backoff(const struct gw_retry_policy *p, int64_t attempts)
{
	int64_t delay = p->backoff;
	for (int64_t i = 1; i < attempts && delay < p->max_backoff; i++)
		delay *= 2;
	return delay < p->max_backoff ? delay : p->max_backoff;
}

/* A failed attempt: retry later with the channel's backoff, or give up. */
static void failed_attempt(const struct gw_service_config *svc, struct gw_notify_row *n,
			   int64_t now, const struct tm_error *why, struct gw_notify_counts *c)
{
	enum gw_notify_channel ch = channel_of(n);
	const struct gw_retry_policy *p = gw_notify_policy(svc, ch);
	n->attempts++;
	snprintf(n->last_error, sizeof(n->last_error), "%.40s: %.200s", why->reason ? why->reason : "?",
		 why->msg);
	if ((p->retries > 0 && n->attempts >= (int64_t)p->retries) ||
	    (p->give_up_after > 0 && now - n->created_at >= p->give_up_after)) {
		n->state = GW_NOTIFY_FAILED;
		c->failed++;
		c->failed_by[ch]++;
		return;
	}
	n->next_at = now + gw_notify_backoff(p, n->attempts);
	c->retried++;
}

/* ---- webhook (libcurl) ---- */

static int read_secret(const struct gw_service_config *svc, struct tm_buf *key,
		       struct tm_error *err)
{
	struct tm_error e = {0};
	if (tm_buf_read_file(key, svc->webhook_secret_file, MAX_SECRET, &e) < 0)
		return tm_error_set(err, "notify.secret", "%s: %s", svc->webhook_secret_file, e.msg);
	while (key->len > 0 && (key->data[key->len - 1] == '\n' || key->data[key->len - 1] == '\r'))
		key->len--;
	if (key->len == 0)
		return tm_error_set(err, "notify.secret", "%s: empty", svc->webhook_secret_file);
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

static int post(const struct gw_service_config *svc, const struct tm_buf *key,
		const struct gw_notify_row *n, struct tm_error *err)
{
	char h1[TM_SIGNATURE_HEADER_LEN], h2[64], h3[64];
	size_t len = strlen(n->payload);
	tm_signature_header(key->data, key->len, n->payload, len, h1);
	snprintf(h2, sizeof(h2), "X-Telemail-Delivery: %" PRId64, n->id);
	snprintf(h3, sizeof(h3), "X-Telemail-Event: %s", n->event);
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL, *tmp;
	const char *lines[] = { "Content-Type: application/json", h1, h2, h3, "Expect:" };
	int rc = -1;
	if (c == NULL)
		return tm_error_set(err, "internal.library", "webhook: curl_easy_init failed");
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if ((tmp = curl_slist_append(hdr, lines[i])) == NULL) {
			tm_error_set(err, "internal.nomem", "webhook: out of memory");
			goto out;
		}
		hdr = tmp;
	}
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, svc->webhook_url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, n->payload);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)svc->webhook_timeout);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		tm_error_set(err, "notify.webhook", "%s: %s", svc->webhook_url,
			     ebuf[0] ? ebuf : curl_easy_strerror(cc));
	else if (status < 200 || status > 299)
		tm_error_set(err, "notify.webhook", "%s: answered HTTP %ld", svc->webhook_url, status);
	else
		rc = 0;
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

static int run_webhook(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		       struct queue *q, struct gw_notify_counts *c, struct tm_error *err)
{
	struct tm_buf key;
	struct tm_error why = {0};
	tm_buf_init(&key);
	bool have_key = read_secret(svc, &key, &why) == 0;
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < q->n && rc == GW_STORE_OK; i++) {
		struct gw_notify_row *n = &q->rows[i];
		if (strcmp(n->channel, "webhook") != 0 || n->next_at > now)
			continue;
		if (have_key && post(svc, &key, n, &why) == 0) {
			n->state = GW_NOTIFY_SENT;
			n->sent_at = now;
			n->last_error[0] = '\0';
			c->posted++;
		} else {
			failed_attempt(svc, n, now, &why, c);
		}
		rc = OPS(st)->notify_update(BE(st), n, err);
	}
	tm_buf_fini(&key);
	return rc;
}

/* ---- e-mail (libesmtp, STARTTLS verified) ---- */

struct mailer {
	const struct gw_service_config *svc;
	char reason[32];
	char why[256];
};

__attribute__((format(printf, 3, 4)))
static void mfail(struct mailer *m, const char *reason, const char *fmt, ...)
{
	if (m->reason[0] != '\0')
		return;   /* the first failure is the cause */
	va_list ap;
	va_start(ap, fmt);
	snprintf(m->reason, sizeof(m->reason), "%s", reason);
	vsnprintf(m->why, sizeof(m->why), fmt, ap);
	va_end(ap);
}

/* TLS 1.3 relays send session tickets just after the handshake. libESMTP
 * 1.1 then polls for reading and writing at once; when the tickets are
 * there first it reads them and goes on waiting for the EHLO reply while
 * EHLO is still in its write buffer, and the session stalls until its
 * timeout. Reading them here, before EHLO is queued (SSL_peek: no
 * application data is taken), avoids that. A relay that sends none costs
 * TICKET_WAIT_MS once per session. */
#define TICKET_WAIT_MS 1000   /* for the first ticket */
#define TICKET_NEXT_MS 100    /* for one more */

static void read_tickets(SSL *ssl)
{
	if (ssl == NULL || SSL_version(ssl) != TLS1_3_VERSION)
		return;
	struct pollfd p = { .fd = SSL_get_rfd(ssl), .events = POLLIN };
	int wait = TICKET_WAIT_MS;
	char c;
	while (poll(&p, 1, wait) == 1) {
		int n = SSL_peek(ssl, &c, 1);
		if (n > 0 || SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ)
			break;   /* data or an error: libESMTP reads it */
		wait = TICKET_NEXT_MS;
	}
}

static void event_cb(smtp_session_t session, int ev, void *arg, ...)
{
	struct mailer *m = arg;
	va_list ap;
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		long vr = va_arg(ap, long);
		int *ok = va_arg(ap, int *);
		*ok = 0;
		mfail(m, "smtp.certificate", "%s: certificate refused: %s", m->svc->smtp_host,
		      X509_verify_cert_error_string(vr));
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		int *ok = va_arg(ap, int *);
		unsigned char ip[16];
		/* an IP literal was checked by the handshake (X509_VERIFY_PARAM_set1_ip_asc);
		 * libESMTP's own check matches names only */
		if (ev == SMTP_EV_WRONG_PEER_CERTIFICATE && m->reason[0] == '\0' &&
		    (inet_pton(AF_INET, m->svc->smtp_host, ip) == 1 ||
		     inet_pton(AF_INET6, m->svc->smtp_host, ip) == 1)) {
			*ok = 1;
			break;
		}
		*ok = 0;
		mfail(m, "smtp.certificate", "%s: %s", m->svc->smtp_host,
		      ev == SMTP_EV_NO_PEER_CERTIFICATE ? "no peer certificate"
							: "certificate does not match the host name");
		break;
	}
	case SMTP_EV_WEAK_CIPHER: {
		(void)va_arg(ap, int);
		int *ok = va_arg(ap, int *);
		*ok = 0;
		mfail(m, "smtp.tls", "%s: weak cipher", m->svc->smtp_host);
		break;
	}
	case SMTP_EV_EXTNA_STARTTLS:
		mfail(m, "smtp.tls", "%s: the relay does not offer STARTTLS (required)",
		      m->svc->smtp_host);
		break;
	case SMTP_EV_STARTTLS_OK:
		read_tickets(va_arg(ap, SSL *));
		break;
	default:
		break;
	}
	va_end(ap);
	(void)session;
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	if (!ok) {
		SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
		struct mailer *m = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
		if (m != NULL)
			mfail(m, "smtp.certificate", "%s: certificate refused: %s", m->svc->smtp_host,
			      X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	}
	return ok;
}

static SSL_CTX *make_ctx(struct mailer *m)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	/* TLS 1.2 or 1.3, nothing older: a relay that offers only TLS 1.3 is
	 * reached (tested against one; see read_tickets). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	int ok = m->svc->smtp_ca_file != NULL
		 ? SSL_CTX_load_verify_locations(ctx, m->svc->smtp_ca_file, NULL)
		 : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		mfail(m, "smtp.certificate", "%s: cannot load the CA file",
		      m->svc->smtp_ca_file ? m->svc->smtp_ca_file : "(system store)");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_app_data(ctx, m);
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
	unsigned char ip[16];
	const char *h = m->svc->smtp_host;
	if (inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(vp, h);
	else
		X509_VERIFY_PARAM_set1_host(vp, h, 0);
	return ctx;
}

/* libESMTP owns *ctx: a malloc'd "handed out" flag. */
static const char *msg_cb(void **ctx, int *len, void *arg)
{
	const struct tm_buf *b = arg;
	if (*ctx == NULL && (*ctx = calloc(1, sizeof(int))) == NULL)
		return NULL;
	int *done = *ctx;
	if (len == NULL) {
		*done = 0;
		return NULL;
	}
	if (*done) {
		*len = 0;
		return NULL;
	}
	*done = 1;
	*len = (int)b->len;
	return (const char *)b->data;
}

/* Send one message (headers and body, CRLF) to every recipient. */
static int send_mail(const struct gw_service_config *svc, const struct tm_buf *msg,
		     struct tm_error *err)
{
	struct mailer m = { .svc = svc };
	char server[300];
	snprintf(server, sizeof(server), "%s:%u", svc->smtp_host, svc->smtp_port);
	smtp_session_t s = smtp_create_session();
	SSL_CTX *ctx = NULL;
	int rc = -1;
	if (s == NULL)
		return tm_error_set(err, "internal.library", "smtp: cannot create a session");
	smtp_set_server(s, server);
	smtp_set_timeout(s, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM,
			 svc->smtp_timeout * 1000);
	smtp_set_timeout(s, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM,
			 svc->smtp_timeout * 1000);
	smtp_set_timeout(s, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, svc->smtp_timeout * 1000);
	smtp_set_timeout(s, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM,
			 svc->smtp_timeout * 1000);
	smtp_set_timeout(s, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, svc->smtp_timeout * 1000);
	smtp_set_eventcb(s, event_cb, &m);
	if (svc->starttls) {
		if ((ctx = make_ctx(&m)) == NULL)
			goto out;
		smtp_starttls_set_ctx(s, ctx);
		smtp_starttls_enable(s, Starttls_REQUIRED);
	} else {
		smtp_starttls_enable(s, Starttls_DISABLED);
	}
	smtp_message_t mm = smtp_add_message(s);
	smtp_set_reverse_path(mm, svc->mail_from);
	for (size_t i = 0; i < svc->n_mail_to; i++)
		smtp_add_recipient(mm, svc->mail_to[i]);
	smtp_set_messagecb(mm, msg_cb, (void *)msg);
	if (!smtp_start_session(s)) {
		char eb[128];
		smtp_strerror(smtp_errno(), eb, sizeof(eb));
		mfail(&m, "smtp.connect", "%s: %s", server, eb);
		goto out;
	}
	const smtp_status_t *ts = smtp_message_transfer_status(mm);
	if (m.reason[0] == '\0' && ts != NULL && ts->code >= 200 && ts->code < 300) {
		rc = 0;
		goto out;
	}
	if (ts != NULL && ts->code >= 400)
		mfail(&m, ts->code >= 500 ? "smtp.rejected" : "smtp.transient", "%s: answered %d %s",
		      server, ts->code, ts->text ? ts->text : "");
	mfail(&m, "smtp.protocol", "%s: the message was not accepted", server);
out:
	smtp_destroy_session(s);
	SSL_CTX_free(ctx);
	if (rc != 0) {
		char why[256];
		memcpy(why, m.why, sizeof(why));
		for (char *p = why; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		tm_error_set(err, m.reason[0] ? m.reason : "smtp.protocol", "%s", why);
	}
	return rc;
}

/* A header value: printable, one line. */
static void clean_line(const char *in, char *out, size_t n)
{
	size_t k = 0;
	for (; *in && k + 1 < n; in++)
		out[k++] = (unsigned char)*in < 0x20 || *in == 0x7f ? ' ' : *in;
	out[k] = '\0';
}

static void headers(const struct gw_service_config *svc, const char *subject, int64_t now,
		    struct tm_buf *b)
{
	char date[64], host[128] = "localhost";
	time_t t = (time_t)now;
	struct tm tmv;
	gmtime_r(&t, &tmv);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tmv);
	gethostname(host, sizeof(host) - 1);
	tm_buf_printf(b, "From: <%s>\r\nTo: ", svc->mail_from);
	for (size_t i = 0; i < svc->n_mail_to; i++)
		tm_buf_printf(b, "%s<%s>", i ? ", " : "", svc->mail_to[i]);
	tm_buf_printf(b, "\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <telemail-notify.%" PRId64
		      ".%ld@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
		      "Auto-Submitted: auto-generated\r\n\r\n",
		      subject, date, now, (long)getpid(), host);
}

/* One notification as a few text lines. */
static void describe(const struct gw_notify_row *n, struct tm_buf *b)
{
	json_t *j = json_loads(n->payload, 0, NULL);
	const char *serial = "", *subject = "", *detail = "", *tenant = "";
	if (j != NULL)
		json_unpack(j, "{s?s, s?s, s?s, s?s}", "serial", &serial, "subject", &subject,
			    "detail", &detail, "tenant", &tenant);
	char line[512];
	snprintf(line, sizeof(line), "alert %" PRId64 " %s: %s %s on %s (tenant %s): %s",
		 n->alert_id, n->event, n->severity, n->kind, serial, tenant, subject);
	clean_line(line, line, sizeof(line));
	tm_buf_printf(b, "%s\r\n", line);
	clean_line(detail, line, sizeof(line));
	tm_buf_printf(b, "    %s\r\n", line);
	json_decref(j);
}

static bool throttled(const struct queue *sent, const struct gw_service_config *svc,
		      const char *kind, int64_t now, size_t mailed_now)
{
	size_t k = mailed_now;
	for (size_t i = 0; i < sent->n; i++) {
		const struct gw_notify_row *r = &sent->rows[i];
		if (r->state == GW_NOTIFY_SENT && strcmp(r->channel, "email") == 0 &&
		    strcmp(r->kind, kind) == 0 && strcmp(r->last_error, "digest") != 0 &&
		    r->sent_at > now - svc->throttle_per)
			k++;
	}
	return k >= svc->throttle_max;
}

/* A failure of the relay itself (unreachable, no TLS, refused certificate):
 * the other mails of the run would fail the same way, so they are counted
 * as failed attempts with the same reason without connecting again. */
static bool relay_failure(const struct tm_error *why)
{
	return why->reason != NULL &&
	       (strcmp(why->reason, "smtp.connect") == 0 || strcmp(why->reason, "smtp.tls") == 0 ||
		strcmp(why->reason, "smtp.certificate") == 0);
}

/* send_mail, unless the relay already failed in this run (*down). */
static int mail_once(const struct gw_service_config *svc, const struct tm_buf *msg,
		     struct tm_error *down, struct tm_error *why)
{
	if (down->reason != NULL) {
		*why = *down;
		return -1;
	}
	if (send_mail(svc, msg, why) == 0)
		return 0;
	if (relay_failure(why))
		*down = *why;
	return -1;
}

static int run_email(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		     struct queue *q, struct gw_notify_counts *c, struct tm_error *err)
{
	struct tm_error down = {0};
	struct queue all;
	int rc = load(st, GW_NOTIFY_LIST_ALL, &all, err);
	if (rc != GW_STORE_OK)
		return rc;
	size_t *mailed_kind = calloc(q->n + 1, sizeof(*mailed_kind));
	bool *digest = calloc(q->n + 1, sizeof(*digest));
	struct tm_buf msg;
	tm_buf_init(&msg);
	if (mailed_kind == NULL || digest == NULL) {
		rc = tm_error_set(err, "internal.nomem", "notify: out of memory");
		goto out;
	}
	/* critical openings at once, within the throttle */
	size_t n_digest = 0;
	int64_t oldest = now;
	for (size_t i = 0; i < q->n && rc == GW_STORE_OK; i++) {
		struct gw_notify_row *n = &q->rows[i];
		if (strcmp(n->channel, "email") != 0 || n->next_at > now)
			continue;
		size_t same = 0;
		for (size_t k = 0; k < i; k++)
			if (mailed_kind[k] && strcmp(q->rows[k].kind, n->kind) == 0)
				same++;
		if (strcmp(n->severity, "critical") != 0 || strcmp(n->event, "opened") != 0 ||
		    throttled(&all, svc, n->kind, now, same)) {
			digest[i] = true;
			n_digest++;
			if (n->created_at < oldest)
				oldest = n->created_at;
			continue;
		}
		char subject[300], tmp[300];
		json_t *j = json_loads(n->payload, 0, NULL);
		const char *serial = "", *subj = "";
		if (j != NULL)
			json_unpack(j, "{s?s, s?s}", "serial", &serial, "subject", &subj);
		snprintf(tmp, sizeof(tmp), "[telemail] CRITICAL %s %s %s", n->kind, serial, subj);
		json_decref(j);
		clean_line(tmp, subject, sizeof(subject));
		tm_buf_reset(&msg);
		headers(svc, subject, now, &msg);
		describe(n, &msg);
		struct tm_error why = {0};
		if (mail_once(svc, &msg, &down, &why) == 0) {
			n->state = GW_NOTIFY_SENT;
			n->sent_at = now;
			n->last_error[0] = '\0';
			mailed_kind[i] = 1;
			c->mailed++;
		} else {
			failed_attempt(svc, n, now, &why, c);
		}
		rc = OPS(st)->notify_update(BE(st), n, err);
	}
	/* the rest in one digest, once the oldest has waited digest_interval */
	if (rc != GW_STORE_OK || n_digest == 0 || now - oldest < svc->digest_interval)
		goto out;
	char subject[128];
	snprintf(subject, sizeof(subject), "[telemail] digest: %zu alert notification%s", n_digest,
		 n_digest == 1 ? "" : "s");
	tm_buf_reset(&msg);
	headers(svc, subject, now, &msg);
	for (size_t i = 0; i < q->n; i++)
		if (digest[i])
			describe(&q->rows[i], &msg);
	struct tm_error why = {0};
	bool ok = mail_once(svc, &msg, &down, &why) == 0;
	if (ok) {
		c->digests++;
		c->digested += n_digest;
	}
	for (size_t i = 0; i < q->n && rc == GW_STORE_OK; i++) {
		if (!digest[i])
			continue;
		struct gw_notify_row *n = &q->rows[i];
		if (ok) {
			n->state = GW_NOTIFY_SENT;
			n->sent_at = now;
			snprintf(n->last_error, sizeof(n->last_error), "digest");
		} else {
			failed_attempt(svc, n, now, &why, c);
		}
		rc = OPS(st)->notify_update(BE(st), n, err);
	}
out:
	tm_buf_fini(&msg);
	free(mailed_kind);
	free(digest);
	free(all.rows);
	return rc;
}

/* ---- what is queued and failed; notify_failing ---- */

static int add_stat(void *ctx, const struct gw_notify_row *n)
{
	struct gw_notify_channel_stats *s = &((struct gw_notify_channel_stats *)ctx)[channel_of(n)];
	bool failed = n->state == GW_NOTIFY_FAILED;
	size_t *count = failed ? &s->failed : &s->queued;
	int64_t *oldest = failed ? &s->oldest_failed : &s->oldest_queued;
	if (*count == 0 || n->created_at < *oldest)
		*oldest = n->created_at;
	(*count)++;
	if (n->last_error[0] != '\0')
		snprintf(s->last_error, sizeof(s->last_error), "%s", n->last_error);
	return 0;
}

int gw_notify_stats(struct gw_store *st, struct gw_notify_channel_stats out[GW_NOTIFY_CHANNELS],
		    struct tm_error *err)
{
	memset(out, 0, GW_NOTIFY_CHANNELS * sizeof(*out));
	return OPS(st)->notify_list(BE(st), GW_NOTIFY_LIST_UNSENT, add_stat, out, err);
}

/* Raise notify_failing for a channel that gave up in this run; resolve it
 * once the channel has no failed notification left. */
static int check_failing(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
			 const struct gw_notify_counts *c, struct tm_error *err)
{
	struct gw_notify_channel_stats s[GW_NOTIFY_CHANNELS];
	int rc = gw_notify_stats(st, s, err);
	for (int ch = 0; ch < GW_NOTIFY_CHANNELS && rc == GW_STORE_OK; ch++) {
		char detail[GW_ALERT_DETAIL_MAX];
		snprintf(detail, sizeof(detail),
			 "%zu %s notification%s given up (%zu failed in all, see notify list --failed):"
			 " %.160s", c->failed_by[ch], channel_names[ch], c->failed_by[ch] == 1 ? "" : "s",
			 s[ch].failed, s[ch].last_error);
		rc = gw_alerts_notify_failing(st, svc, channel_names[ch], c->failed_by[ch],
					      s[ch].failed, detail, now, err);
	}
	return rc;
}

int gw_notify_run_once(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		       struct gw_notify_counts *counts, struct tm_error *err)
{
	memset(counts, 0, sizeof(*counts));
	if (svc == NULL)
		return GW_STORE_OK;
	struct queue q;
	int rc = load(st, GW_NOTIFY_LIST_PENDING, &q, err);
	if (rc == GW_STORE_OK && svc->webhook_url != NULL)
		rc = run_webhook(st, svc, now, &q, counts, err);
	if (rc == GW_STORE_OK && svc->smtp_host != NULL)
		rc = run_email(st, svc, now, &q, counts, err);
	free(q.rows);
	if (rc == GW_STORE_OK)
		rc = check_failing(st, svc, now, counts, err);
	return rc;
}

/* ---- notify retry ---- */

struct retry_ctx {
	int64_t id;    /* 0: every failed one */
	struct queue q;
	bool seen;     /* the id exists (in any state) */
	enum gw_notify_state state;
};

static int pick(void *ctx, const struct gw_notify_row *n)
{
	struct retry_ctx *r = ctx;
	if (r->id != 0 && n->id != r->id)
		return 0;
	r->seen = true;
	r->state = n->state;
	return n->state == GW_NOTIFY_FAILED ? collect(&r->q, n) : 0;
}

static void row_text(const struct gw_notify_row *n, char *buf, size_t len)
{
	snprintf(buf, len, "notification %" PRId64 " alert %" PRId64 " %s %s state=%d attempts=%"
		 PRId64 " next_at=%" PRId64 " created_at=%" PRId64, n->id, n->alert_id, n->event,
		 n->channel, (int)n->state, n->attempts, n->next_at, n->created_at);
}

static int requeue(struct gw_store *st, struct gw_notify_row *n, const char *actor, int64_t now,
		   struct tm_error *err)
{
	char text[300], before[GW_SHA256_HEX], after[GW_SHA256_HEX], object[160];
	row_text(n, text, sizeof(text));
	gw_audit_digest(text, before);
	n->state = GW_NOTIFY_PENDING;
	n->attempts = 0;
	n->next_at = n->created_at = now;   /* a fresh retry budget */
	int rc = OPS(st)->notify_update(BE(st), n, err);
	if (rc != GW_STORE_OK)
		return rc;
	row_text(n, text, sizeof(text));
	gw_audit_digest(text, after);
	snprintf(object, sizeof(object), "notification %" PRId64 " alert %" PRId64 " %s", n->id,
		 n->alert_id, n->channel);
	return gw_audit_append(st, actor, "notify.retry", object, n->tenant, before, after, now, err);
}

int gw_notify_retry(struct gw_store *st, int64_t id, const char *actor, int64_t now,
		    size_t *requeued, struct tm_error *err)
{
	char local[64];
	struct retry_ctx r = { .id = id };
	*requeued = 0;
	if (actor == NULL) {
		gw_audit_actor_local(local);
		actor = local;
	}
	int rc = OPS(st)->notify_list(BE(st), id != 0 ? GW_NOTIFY_LIST_ALL : GW_NOTIFY_LIST_FAILED,
				      pick, &r, err);
	if (rc > 0)
		rc = tm_error_set(err, "internal.nomem", "notify: out of memory");
	if (rc == GW_STORE_OK && id != 0 && !r.seen)
		rc = tm_error_set(err, "notify.not_found", "notification %" PRId64 ": no such notification",
				  id);
	else if (rc == GW_STORE_OK && id != 0 && r.state != GW_NOTIFY_FAILED)
		rc = tm_error_set(err, "notify.bad_state", "notification %" PRId64 ": %s, not failed", id,
				  r.state == GW_NOTIFY_SENT ? "already sent" : "already queued");
	if (rc == GW_STORE_OK && r.q.n > 0 && (rc = gw_store_begin(st, err)) == GW_STORE_OK) {
		for (size_t i = 0; i < r.q.n && rc == GW_STORE_OK; i++)
			rc = requeue(st, &r.q.rows[i], actor, now, err);
		if (rc == GW_STORE_OK)
			rc = gw_store_commit(st, err);
		if (rc != GW_STORE_OK)
			gw_store_rollback(st);
		else
			*requeued = r.q.n;
	}
	free(r.q.rows);
	return rc;
}

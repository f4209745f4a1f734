/* telemail-mailgw — the notification queue and its delivery (see notify.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <telemail/array.h>
#include <telemail/buf.h>
#include <telemail/digest.h>
#include <telemail/error.h>
#include <telemail/smtpc.h>

#include "service/alerts.h"
#include "store/audit.h"
#include "config/config_service.h"
#include "service/notify.h"


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
	int rc = gw_store_notify_list(st, which, collect, q, err);
	if (rc > 0)
		rc = tm_error_set(err, "internal.nomem", "notify: out of memory");
	return rc;
}

/* One run: the rows it claimed, until when it may deliver (its lease, by
 * the wall clock: `now` may be a test's), and who it is. */
struct run {
	struct queue q;
	time_t deadline;
	char owner[GW_NOTIFY_OWNER_MAX];
};

/* Lease due notifications to this run (gateways sharing a database each
 * get their own: store.h gw_store_notify_claim). */
static int claim(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		 struct run *r, struct tm_error *err)
{
	memset(&r->q, 0, sizeof(r->q));
	gw_notify_owner(r->owner);
	r->deadline = time(NULL) + (time_t)svc->notify_lease;
	int rc = gw_store_notify_claim(st, r->owner, now, svc->notify_lease, MAX_BATCH, collect,
				       &r->q, err);
	if (rc > 0)
		rc = tm_error_set(err, "internal.nomem", "notify: out of memory");
	return rc;
}

/* Is there time for one more delivery of up to `timeout` seconds before the
 * lease runs out? (After it, another gateway may claim the row and send it
 * too.) What is left is released for the next run. */
static bool lease_left(const struct run *r, int64_t timeout)
{
	return time(NULL) + (time_t)timeout < r->deadline;
}

void gw_notify_owner(char out[GW_NOTIFY_OWNER_MAX])
{
	char host[200] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	snprintf(out, GW_NOTIFY_OWNER_MAX, "%s:%ld", host, (long)getpid());
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
		       const struct run *run, struct gw_notify_counts *c, struct tm_error *err)
{
	const struct queue *q = &run->q;
	struct tm_buf key;
	struct tm_error why = {0};
	tm_buf_init(&key);
	bool have_key = read_secret(svc, &key, &why) == 0;
	int rc = GW_STORE_OK;
	for (size_t i = 0; i < q->n && rc == GW_STORE_OK; i++) {
		struct gw_notify_row *n = &q->rows[i];
		if (strcmp(n->channel, "webhook") != 0 || n->next_at > now ||
		    !lease_left(run, svc->webhook_timeout))
			continue;
		if (have_key && post(svc, &key, n, &why) == 0) {
			n->state = GW_NOTIFY_SENT;
			n->sent_at = now;
			n->last_error[0] = '\0';
			c->posted++;
		} else {
			failed_attempt(svc, n, now, &why, c);
		}
		rc = gw_store_notify_update(st, n, err);
	}
	tm_buf_fini(&key);
	return rc;
}

/* ---- e-mail (the SMTP client: STARTTLS verified) ---- */

/* Send one message (headers and body, CRLF) to every recipient. A failure
 * of the session itself (unreachable, no TLS, refused certificate, broken
 * protocol) is the relay's: *relay_down is set. */
static int send_mail(const struct gw_service_config *svc, const struct tm_buf *msg,
		     bool *relay_down, struct tm_error *err)
{
	struct tm_smtpc_config cfg = {
		.host = svc->smtp_host,
		.port = svc->smtp_port,
		.starttls = svc->starttls != 0,
		.ca_file = svc->smtp_ca_file,
		.timeout = svc->smtp_timeout,
	};
	struct tm_smtpc_msg m = {
		.from = svc->mail_from,
		.rcpt = (const char *const *)svc->mail_to,
		.n_rcpt = svc->n_mail_to,
		.data = msg->data,
		.len = msg->len,
	};
	*relay_down = false;
	if (tm_smtpc_send(&cfg, &m, 1, err) != 0) {
		*relay_down = true;
		return -1;
	}
	if (m.code >= 200 && m.code < 300)
		return 0;
	if (m.code >= 400)
		return tm_error_set(err, m.code >= 500 ? "smtp.rejected" : "smtp.transient",
				    "%s:%u: answered %d %s", svc->smtp_host, svc->smtp_port, m.code, m.reply);
	return tm_error_set(err, "smtp.protocol", "%s:%u: the message was not accepted", svc->smtp_host,
			    svc->smtp_port);
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

/* send_mail, unless the relay already failed in this run (*down): the
 * other mails of the run would fail the same way, so they are counted as
 * failed attempts with the same reason without connecting again. */
static int mail_once(const struct gw_service_config *svc, const struct tm_buf *msg,
		     struct tm_error *down, struct tm_error *why)
{
	if (down->reason != NULL) {
		*why = *down;
		return -1;
	}
	bool relay_down;
	if (send_mail(svc, msg, &relay_down, why) == 0)
		return 0;
	if (relay_down)
		*down = *why;
	return -1;
}

static int run_email(struct gw_store *st, const struct gw_service_config *svc, int64_t now,
		     const struct run *run, struct gw_notify_counts *c, struct tm_error *err)
{
	const struct queue *q = &run->q;
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
		if (strcmp(n->channel, "email") != 0 || n->next_at > now ||
		    !lease_left(run, svc->smtp_timeout))
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
		rc = gw_store_notify_update(st, n, err);
	}
	/* the rest in one digest, once the oldest has waited digest_interval */
	if (rc != GW_STORE_OK || n_digest == 0 || now - oldest < svc->digest_interval ||
	    !lease_left(run, svc->smtp_timeout))
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
		rc = gw_store_notify_update(st, n, err);
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
	return gw_store_notify_list(st, GW_NOTIFY_LIST_UNSENT, add_stat, out, err);
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
	if (svc->webhook_url == NULL && svc->smtp_host == NULL)   /* no channel: nothing claimed */
		return check_failing(st, svc, now, counts, err);
	struct run run;
	int rc = claim(st, svc, now, &run, err);
	counts->claimed = run.q.n;
	if (rc == GW_STORE_OK && svc->webhook_url != NULL)
		rc = run_webhook(st, svc, now, &run, counts, err);
	if (rc == GW_STORE_OK && svc->smtp_host != NULL)
		rc = run_email(st, svc, now, &run, counts, err);
	free(run.q.rows);
	/* what this run claimed and did not deliver (not due for a digest yet,
	 * its channel not configured, the lease nearly out) is free again */
	struct tm_error rerr = {0};
	if (run.q.n > 0 && gw_store_notify_release(st, run.owner, &rerr) != GW_STORE_OK &&
	    rc == GW_STORE_OK) {
		*err = rerr;
		rc = GW_STORE_RETRY;
	}
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
	int rc = gw_store_notify_update(st, n, err);
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
	int rc = gw_store_notify_list(st, id != 0 ? GW_NOTIFY_LIST_ALL : GW_NOTIFY_LIST_FAILED,
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

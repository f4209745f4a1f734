/* telemail-mailgw — SMTP/LMTP listeners with libevent + OpenSSL (see listener.h).
 *
 * Over 800 lines, on purpose: one libevent loop's callbacks (accept, read,
 * write, TLS, timers, the spool's wake-up, signals) share struct conn and
 * struct gw_listener, which no other file should see. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <telemail/error.h>
#include <telemail/log.h>

#include "config/config_listen.h"
#include "smtp/listener.h"
#include "smtp/smtp_session.h"
#include "spool/spool.h"
#include "smtp/listener_settings.h"

#define READ_HIGH_WATER (64u << 10)   /* input held while a message is being spooled */
#define OUTPUT_PAUSE (256u << 10)     /* unsent replies before reading pauses */

struct conn {
	struct conn *next, *prev;
	struct gw_listener *l;
	struct gw_listener_settings *set;
	struct gw_smtp_session *s;
	struct bufferevent *bev;
	struct event *timer;
	evutil_socket_t fd;
	bool lmtp;
	char peer[INET6_ADDRSTRLEN + 8];
	char id[20];
	uint64_t lines_seen;
	unsigned refused_seen;      /* messages refused by the session (DATA checks) */
	enum gw_smtp_state timer_state;
	bool spooling, dead, closing, tls_pending, paused;
	/* filled by the spool thread */
	struct conn *done_next;
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error spool_err;
	size_t msg_size;
};

struct gw_listener {
	struct event_base *base;
	struct evconnlistener *smtp, *lmtp;
	char *lmtp_path;
	unsigned port;
	struct event *wake, *stop, *sig_term, *sig_int, *sig_hup, *tick, *grace;
	struct gw_listener_settings *set;
	struct gw_spool *spool;
	gw_listener_log_fn log;
	void *log_ctx;
	void (*on_reload)(void *ctx);
	void (*on_tick)(void *ctx);
	void *ctx;
	struct conn *conns;
	size_t n_conns;
	uint64_t next_id;
	bool stopping;
	bool trace_states;            /* debug: log every session's changes of state */
	pthread_mutex_t mu;           /* done queue: spool thread → loop */
	struct conn *done_head;
	struct gw_listener_stats st;
};

static void log_end(struct gw_listener *l, struct tm_logline *line)
{
	const char *text = tm_log_end(line);
	if (l->log != NULL)
		l->log(l->log_ctx, text);
}

/* `gw smtp session=ID event=EVENT`, the start of a session's lines. */
static void log_session(struct tm_logline *line, const char *id, const char *event)
{
	tm_log_begin(line, "gw smtp");
	tm_log_add(line, "session", id);
	tm_log_add(line, "event", event);
}

/* Debug, `gw smtp session=ID event=state from=F to=T cause=C`: the session's
 * trace hook, set when TELEMAIL_MAILGW_DEBUG is in the environment. The
 * cause is the session's own text (a verb of its table, an event, a reason
 * code), never the peer's. */
static void log_state(void *arg, enum gw_smtp_state from, enum gw_smtp_state to,
		      const char *cause)
{
	struct conn *c = arg;
	struct tm_logline line;
	log_session(&line, c->id, "state");
	tm_log_add(&line, "from", gw_smtp_session_state_name(from));
	tm_log_add(&line, "to", gw_smtp_session_state_name(to));
	tm_log_add(&line, "cause", cause);
	log_end(c->l, &line);
}

/* Count a refusal under its reason code (struct gw_listener_refusal). */
static void count_refusal(struct gw_listener *l, const char *reason)
{
	const struct tm_reason *r = reason != NULL ? tm_reason_lookup(reason) : NULL;
	if (r == NULL)
		return;
	for (size_t i = 0; i < l->st.n_refusals; i++)
		if (l->st.refusals[i].reason == r->code) {
			l->st.refusals[i].n++;
			return;
		}
	if (l->st.n_refusals == GW_LISTENER_REFUSAL_KINDS) {
		l->st.refusals_other++;
		return;
	}
	l->st.refusals[l->st.n_refusals++] = (struct gw_listener_refusal){ r->code, 1 };
}

/* The session's refused command replies into the listener's counts
 * (struct gw_listener_cmd_refusal). */
static void take_cmd_refusals(struct gw_listener *l, struct gw_smtp_session *s)
{
	struct gw_smtp_cmd_refusal r[GW_SMTP_CMD_REFUSALS];
	unsigned other;
	size_t n = gw_smtp_session_take_refusals(s, r, &other);
	l->st.cmd_refusals_other += other;
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < l->st.n_cmd_refusals && (strcmp(l->st.cmd_refusals[k].verb, r[i].verb) != 0 ||
						    strcmp(l->st.cmd_refusals[k].reason, r[i].reason) != 0))
			k++;
		if (k == l->st.n_cmd_refusals) {
			if (k == GW_LISTENER_CMD_REFUSAL_KINDS) {
				l->st.cmd_refusals_other += r[i].n;
				continue;
			}
			l->st.cmd_refusals[k] = (struct gw_listener_cmd_refusal){ r[i].verb, r[i].reason, 0 };
			l->st.n_cmd_refusals++;
		}
		l->st.cmd_refusals[k].n += r[i].n;
	}
}

/* `gw smtp event=refused peer=P reason=R`: a connection refused before its session. */
static void log_refused(struct gw_listener *l, const char *peer, const char *reason)
{
	count_refusal(l, reason);
	struct tm_logline line;
	tm_log_begin(&line, "gw smtp");
	tm_log_add(&line, "event", "refused");
	tm_log_add(&line, "peer", peer);
	tm_log_add(&line, "reason", reason);
	log_end(l, &line);
}

/* `gw serve event=EVENT sessions=N` */
static void log_serve(struct gw_listener *l, const char *event, size_t sessions)
{
	struct tm_logline line;
	tm_log_begin(&line, "gw serve");
	tm_log_add(&line, "event", event);
	tm_log_addf(&line, "sessions", "%zu", sessions);
	log_end(l, &line);
}

/* ---- connections ---- */

static void conn_process(struct conn *c);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void conn_free(struct conn *c)
{
	struct gw_listener *l = c->l;
	if (c->spooling) { /* the spool still holds our message bytes: later */
		c->dead = true;
		return;
	}
	unsigned acc = 0, ref = 0;
	if (c->s != NULL) {
		gw_smtp_session_counts(c->s, &acc, &ref);
		const char *r = gw_smtp_session_last_reason(c->s);
		struct tm_logline line;
		log_session(&line, c->id, "close");
		tm_log_add(&line, "peer", c->peer);
		tm_log_addf(&line, "accepted", "%u", acc);
		tm_log_addf(&line, "refused", "%u", ref);
		if (r != NULL)
			tm_log_add(&line, "last_reason", r);
		log_end(l, &line);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->n_conns--;
	l->st.sessions_now = l->n_conns;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->bev != NULL && c->fd < 0) { /* TLS: say goodbye properly (close_notify) */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
		if (ssl != NULL && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->fd >= 0)
		evutil_closesocket(c->fd);
	if (c->s != NULL)
		take_cmd_refusals(l, c->s);
	gw_smtp_session_free(c->s);
	gw_listener_settings_unref(c->set);
	free(c);
	if (l->stopping && l->n_conns == 0)
		event_base_loopexit(l->base, NULL);
}

static void flush_output(struct conn *c)
{
	size_t n;
	const uint8_t *o = gw_smtp_session_output(c->s, &n);
	/* A plain connection with nothing queued sends its reply at once: going
	 * through the bufferevent costs two epoll_ctl (write interest on, off)
	 * and a loop turn per reply. What the socket does not take now (or an
	 * error, which libevent then reports) goes the usual way, in order. */
	if (n > 0 && c->bev != NULL && c->fd >= 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		ssize_t w = send(c->fd, o, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			o += w;
			n -= (size_t)w;
		}
	}
	if (n > 0 && c->bev != NULL)
		bufferevent_write(c->bev, o, n);
	gw_smtp_session_output_clear(c->s);
}

static void arm_timer(struct conn *c)
{
	enum gw_smtp_state st = gw_smtp_session_state(c->s);
	int64_t secs = st == GW_SMTP_DATA ? c->set->timeout_data : c->set->timeout_command;
	struct timeval tv = { .tv_sec = (time_t)secs, .tv_usec = 0 };
	c->timer_state = st;
	evtimer_add(c->timer, &tv);
}

/* Close once the replies are out. */
static void conn_close_after_output(struct conn *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void spool_done_cb(void *ctx, const char *qid, const struct tm_error *err)
{
	struct conn *c = ctx;
	struct gw_listener *l = c->l;
	if (err != NULL)
		c->spool_err = *err;
	else
		snprintf(c->qid, sizeof(c->qid), "%s", qid);
	pthread_mutex_lock(&l->mu);
	c->done_next = l->done_head;
	l->done_head = c;
	pthread_mutex_unlock(&l->mu);
}

/* The round's callbacks have all run: one wake of the loop for them all
 * (woken at each, the loop would take the list between two of them and be
 * woken again). */
static void spool_round_cb(void *ctx)
{
	struct gw_listener *l = ctx;
	pthread_mutex_lock(&l->mu);
	bool any = l->done_head != NULL;
	pthread_mutex_unlock(&l->mu);
	if (any)
		event_active(l->wake, EV_READ, 0);
}

static void message_result(struct conn *c)
{
	struct gw_listener *l = c->l;
	const struct tm_error *e = c->spool_err.reason != NULL ? &c->spool_err : NULL;
	struct tm_logline line;
	log_session(&line, c->id, "message");
	if (e == NULL)
		tm_log_add(&line, "qid", c->qid);
	tm_log_add(&line, "helo", gw_smtp_session_helo(c->s));
	tm_log_addf(&line, "from", "<%s>", gw_smtp_session_mail_from(c->s));
	tm_log_addf(&line, "size", "%zu", c->msg_size);
	if (e == NULL) {
		l->st.messages_accepted++;
		tm_log_addf(&line, "rcpts", "%zu", gw_smtp_session_rcpt_count(c->s));
		tm_log_add(&line, "result", "queued");
	} else {
		l->st.messages_refused++;
		count_refusal(l, e->reason);
		tm_log_add(&line, "result", "deferred");
		tm_log_add(&line, "reason", e->reason);
		tm_log_add(&line, "detail", e->msg);
	}
	log_end(l, &line);
	gw_smtp_session_spooled(c->s, c->qid, e);
	take_cmd_refusals(l, c->s);
	unsigned acc;
	gw_smtp_session_counts(c->s, &acc, &c->refused_seen); /* logged above */
	tm_error_clear(&c->spool_err);
	c->qid[0] = '\0';
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct gw_listener *l = arg;
	pthread_mutex_lock(&l->mu);
	struct conn *c = l->done_head;
	l->done_head = NULL;
	pthread_mutex_unlock(&l->mu);
	while (c != NULL) {
		struct conn *n = c->done_next;
		c->spooling = false;
		if (c->dead) {
			conn_free(c);
		} else {
			message_result(c);
			flush_output(c);
			bufferevent_enable(c->bev, EV_READ);
			arm_timer(c);
			conn_process(c); /* pipelined commands waiting in the input */
		}
		c = n;
	}
}

static void start_tls(struct conn *c)
{
	c->tls_pending = false;
	SSL *ssl = SSL_new(c->set->tls);
	bufferevent_free(c->bev); /* drops any unread plaintext: never executed */
	c->bev = NULL;
	if (ssl == NULL) {
		conn_free(c);
		return;
	}
	c->bev = bufferevent_openssl_socket_new(c->l->base, c->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		conn_free(c);
		return;
	}
	c->fd = -1; /* the TLS bufferevent owns the socket and the SSL now */
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
	bufferevent_enable(c->bev, EV_READ);
}

static void conn_process(struct conn *c)
{
	struct gw_listener *l = c->l;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->spooling && !c->closing && !c->tls_pending) {
		size_t len = evbuffer_get_length(in);
		if (len == 0)
			break;
		const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
		enum gw_smtp_event ev;
		size_t used = gw_smtp_session_feed(c->s, data, len, &ev);
		evbuffer_drain(in, used);
		flush_output(c);
		take_cmd_refusals(l, c->s);
		unsigned acc, ref;
		gw_smtp_session_counts(c->s, &acc, &ref);
		if (ref > c->refused_seen) { /* refused in DATA: too large, smuggling ... */
			c->refused_seen = ref;
			l->st.messages_refused++;
			count_refusal(l, gw_smtp_session_last_reason(c->s));
			struct tm_logline line;
			log_session(&line, c->id, "message");
			tm_log_add(&line, "result", "refused");
			tm_log_add(&line, "reason", gw_smtp_session_last_reason(c->s));
			log_end(l, &line);
		}
		if (ev == GW_SMTP_EV_MESSAGE) {
			size_t ml;
			const uint8_t *m = gw_smtp_session_message(c->s, &ml);
			struct tm_error err = {0};
			c->msg_size = ml;
			c->spooling = true;
			if (gw_spool_submit(l->spool, m, ml, spool_done_cb, c, &err) < 0) {
				c->spooling = false;
				c->spool_err = err;
				message_result(c);
				flush_output(c);
			} else {
				bufferevent_disable(c->bev, EV_READ);
				evtimer_del(c->timer);
			}
		} else if (ev == GW_SMTP_EV_STARTTLS) {
			evbuffer_drain(in, evbuffer_get_length(in)); /* CVE-2011-0411 */
			bufferevent_disable(c->bev, EV_READ);
			c->tls_pending = true;
			struct tm_logline line;
			log_session(&line, c->id, "starttls");
			log_end(l, &line);
			if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
				start_tls(c);
			return;
		} else if (ev == GW_SMTP_EV_CLOSE) {
			conn_close_after_output(c);
			return;
		} else if (used == 0) {
			break;
		}
	}
	if (c->closing || c->spooling)
		return;
	if (l->stopping && (gw_smtp_session_state(c->s) == GW_SMTP_READY ||
			    gw_smtp_session_state(c->s) == GW_SMTP_INIT)) {
		gw_smtp_session_abort(c->s, "smtpd.shutdown", "Service shutting down, try later");
		flush_output(c);
		conn_close_after_output(c);
		return;
	}
	uint64_t lines = gw_smtp_session_lines(c->s);
	if (lines != c->lines_seen || gw_smtp_session_state(c->s) != c->timer_state) {
		c->lines_seen = lines; /* progress: the timeout starts again */
		arm_timer(c);
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_PAUSE) {
		c->paused = true; /* a client that does not read its replies */
		bufferevent_disable(c->bev, EV_READ);
	}
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (c->closing) {
		conn_free(c);
	} else if (c->tls_pending) {
		start_tls(c);
	} else if (c->paused && !c->spooling) {
		c->paused = false;
		bufferevent_enable(c->bev, EV_READ);
		conn_process(c);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) { /* the TLS handshake is done */
		gw_smtp_session_tls_started(c->s);
		struct tm_logline line;
		log_session(&line, c->id, "tls");
		tm_log_add(&line, "version", SSL_get_version(bufferevent_openssl_get_ssl(c->bev)));
		log_end(c->l, &line);
		arm_timer(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (gw_smtp_session_state(c->s) == GW_SMTP_TLS)
			gw_smtp_session_tls_failed(c->s);
		conn_free(c);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct conn *c = arg;
	if (c->spooling)
		return; /* our delay, not the client's: re-armed when the spool answers */
	if (c->closing || gw_smtp_session_state(c->s) == GW_SMTP_TLS) {
		conn_free(c); /* handshake or final flush never finished */
		return;
	}
	gw_smtp_session_abort(c->s, "smtpd.timeout", "Error: timeout exceeded");
	struct tm_logline line;
	log_session(&line, c->id, "timeout");
	tm_log_add(&line, "state", gw_smtp_session_state_name(c->timer_state));
	log_end(c->l, &line);
	flush_output(c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		/* a client that reads nothing gets a little while, then is cut */
		struct timeval tv = { 10, 0 };
		evtimer_add(c->timer, &tv);
	}
	conn_close_after_output(c);
}

/* Refuse before any session exists: one reply line, then close. */
static void refuse_socket(evutil_socket_t fd, const char *line)
{
	ssize_t r = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)r;
	evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	(void)lst, (void)socklen;
	struct gw_listener *l = arg;
	struct gw_listener_settings *set = l->set;
	bool lmtp = sa->sa_family == AF_UNIX;
	char peer[INET6_ADDRSTRLEN + 8] = "local";
	l->st.connections++;
	if (!lmtp) {
		const void *a = sa->sa_family == AF_INET ? (const void *)&((struct sockaddr_in *)sa)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)sa)->sin6_addr;
		if (inet_ntop(sa->sa_family, a, peer, sizeof(peer)) == NULL)
			snprintf(peer, sizeof(peer), "?");
		if (!gw_cidr_match(set->networks, set->n_networks, sa)) {
			l->st.refused_connections++;
			log_refused(l, peer, "smtpd.access_denied");
			refuse_socket(fd, "554 5.7.1 Access denied: not in client_networks\r\n");
			return;
		}
	}
	unsigned same = 0;
	for (struct conn *c = l->conns; c != NULL; c = c->next)
		same += strcmp(c->peer, peer) == 0;
	if (l->stopping || l->n_conns >= set->max_connections || same >= set->max_per_address) {
		l->st.refused_connections++;
		const char *why = l->stopping ? "smtpd.shutdown" : "smtpd.too_many_connections";
		log_refused(l, peer, why);
		refuse_socket(fd, l->stopping ? "421 4.3.2 Service shutting down, try later\r\n"
				  : "421 4.7.0 Too many connections, try later\r\n");
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		refuse_socket(fd, "421 4.3.0 Out of memory, try later\r\n");
		return;
	}
	if (!lmtp) {
		/* replies go out as soon as they are written: without it a reply
		 * that follows another unacknowledged one waits for the client's
		 * delayed ACK (Nagle), some 40 ms per message */
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->l = l;
	c->fd = fd;
	c->lmtp = lmtp;
	c->set = set;
	set->refs++;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->id, sizeof(c->id), "%llx", (unsigned long long)++l->next_id);
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->n_conns++;
	l->st.sessions_now = l->n_conns;
	c->s = gw_smtp_session_new(lmtp ? &set->lmtp : &set->smtp, false);
	c->bev = bufferevent_socket_new(l->base, fd, 0);
	c->timer = evtimer_new(l->base, timer_cb, c);
	if (c->s == NULL || c->bev == NULL || c->timer == NULL) {
		conn_free(c);
		return;
	}
	struct tm_logline line;
	log_session(&line, c->id, "connect");
	tm_log_add(&line, "peer", peer);
	tm_log_add(&line, "proto", lmtp ? "lmtp" : "smtp");
	log_end(l, &line);
	if (l->trace_states)
		gw_smtp_session_set_trace(c->s, log_state, c);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
	flush_output(c);
	bufferevent_enable(c->bev, EV_READ);
	arm_timer(c);
}

/* ---- shutdown, signals, ticks ---- */

static void close_listeners(struct gw_listener *l)
{
	if (l->smtp != NULL)
		evconnlistener_free(l->smtp);
	if (l->lmtp != NULL)
		evconnlistener_free(l->lmtp);
	l->smtp = l->lmtp = NULL;
	if (l->lmtp_path != NULL)
		unlink(l->lmtp_path);
}

/* Sessions outside a transaction (or all, when `all`) get 421 and close. */
static void close_idle(struct gw_listener *l, bool all)
{
	struct conn *c = l->conns;
	while (c != NULL) {
		struct conn *n = c->next;
		enum gw_smtp_state st = gw_smtp_session_state(c->s);
		if (!c->spooling && !c->closing && !c->tls_pending &&
		    (all || st == GW_SMTP_INIT || st == GW_SMTP_READY || st == GW_SMTP_CLOSED)) {
			gw_smtp_session_abort(c->s, "smtpd.shutdown", "Service shutting down, try later");
			flush_output(c);
			conn_close_after_output(c);
		}
		c = n;
	}
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct gw_listener *l = arg;
	log_serve(l, "shutdown_grace_over", l->n_conns);
	close_idle(l, true);
	/* whoever still does not go (a client that reads nothing) is cut */
	struct conn *c = l->conns;
	while (c != NULL) {
		struct conn *n = c->next;
		if (!c->spooling)
			conn_free(c);
		c = n;
	}
	if (l->n_conns == 0)
		event_base_loopexit(l->base, NULL);
	else
		event_add(l->grace, &(struct timeval){ 1, 0 }); /* only spooling ones: soon */
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct gw_listener *l = arg;
	if (l->stopping)
		return;
	l->stopping = true;
	log_serve(l, "stopping", l->n_conns);
	close_listeners(l);
	close_idle(l, false);
	if (l->n_conns == 0) {
		event_base_loopexit(l->base, NULL);
		return;
	}
	struct timeval tv = { (time_t)l->set->timeout_shutdown, 0 };
	event_add(l->grace, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct gw_listener *l = arg;
	if (sig == SIGHUP) {
		struct tm_logline line;
		tm_log_begin(&line, "gw serve");
		tm_log_add(&line, "event", "reload");
		log_end(l, &line);
		if (l->on_reload != NULL)
			l->on_reload(l->ctx);
		return;
	}
	stop_cb(-1, 0, l);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct gw_listener *l = arg;
	if (l->on_tick != NULL)
		l->on_tick(l->ctx);
}

/* ---- lifecycle ---- */

static int bind_smtp(struct gw_listener *l, const struct gw_listen_config *cfg, struct tm_error *err)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	if (strchr(cfg->smtp_address, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)cfg->smtp_port);
		inet_pton(AF_INET6, cfg->smtp_address, &a->sin6_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)cfg->smtp_port);
		inet_pton(AF_INET, cfg->smtp_address, &a->sin_addr);
		sl = sizeof(*a);
	}
	l->smtp = evconnlistener_new_bind(l->base, accept_cb, l,
					  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
					  256, (struct sockaddr *)&ss, (int)sl);
	if (l->smtp == NULL)
		return tm_error_set(err, "io.open", "listen.smtp %s:%u: %s", cfg->smtp_address,
				    cfg->smtp_port, strerror(errno));
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	if (getsockname(evconnlistener_get_fd(l->smtp), (struct sockaddr *)&bound, &bl) == 0)
		l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
				: ((struct sockaddr_in *)&bound)->sin_port);
	struct tm_logline line;
	tm_log_begin(&line, "gw serve");
	tm_log_add(&line, "event", "listening");
	tm_log_add(&line, "proto", "smtp");
	tm_log_add(&line, "address", cfg->smtp_address);
	tm_log_addf(&line, "port", "%u", l->port);
	tm_log_add(&line, "tls", cfg->tls_cert ? (cfg->require_tls ? "required" : "starttls") : "off");
	log_end(l, &line);
	return 0;
}

static int bind_lmtp(struct gw_listener *l, const char *path, struct tm_error *err)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* a stale socket of an earlier run */
	l->lmtp = evconnlistener_new_bind(l->base, accept_cb, l,
					  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 256,
					  (struct sockaddr *)&a, (int)sizeof(a));
	if (l->lmtp == NULL)
		return tm_error_set(err, "io.open", "listen.lmtp %s: %s", path, strerror(errno));
	chmod(path, 0660);
	if ((l->lmtp_path = strdup(path)) == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	struct tm_logline line;
	tm_log_begin(&line, "gw serve");
	tm_log_add(&line, "event", "listening");
	tm_log_add(&line, "proto", "lmtp");
	tm_log_add(&line, "socket", path);
	log_end(l, &line);
	return 0;
}

int gw_listener_new(const struct gw_listener_options *o, struct gw_listener **out,
		    struct tm_error *err)
{
	*out = NULL;
	evthread_use_pthreads();
	struct gw_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return tm_error_set(err, "internal.nomem", "out of memory");
	pthread_mutex_init(&l->mu, NULL);
	l->spool = o->spool;
	l->log = o->log;
	l->trace_states = getenv("TELEMAIL_MAILGW_DEBUG") != NULL;
	l->log_ctx = o->log_ctx;
	l->on_reload = o->on_reload;
	l->on_tick = o->on_tick;
	l->ctx = o->ctx;
	if ((l->set = gw_listener_settings_new(o, err)) == NULL)
		goto fail;
	/* The changelist folds the enable/disable pairs a session makes while
	 * it reads a command and queues its reply into one epoll_ctl per
	 * descriptor and loop turn (without it: ~18 system calls a message). */
	struct event_config *ecfg = event_config_new();
	if (ecfg != NULL)
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	l->base = ecfg != NULL ? event_base_new_with_config(ecfg) : NULL;
	event_config_free(ecfg);
	if (l->base == NULL) {
		tm_error_set(err, "internal.library", "event_base_new failed");
		goto fail;
	}
	/* Two priorities: the spool's results (250s that senders wait for)
	 * before the loop turns to new input; everything else at the default. */
	l->wake = event_base_priority_init(l->base, 2) == 0
			  ? event_new(l->base, -1, 0, wake_cb, l) : NULL;
	if (l->wake != NULL)
		event_priority_set(l->wake, 0);
	l->stop = event_new(l->base, -1, 0, stop_cb, l);
	l->grace = evtimer_new(l->base, grace_cb, l);
	l->tick = event_new(l->base, -1, EV_PERSIST, tick_cb, l);
	l->sig_term = evsignal_new(l->base, SIGTERM, signal_cb, l);
	l->sig_int = evsignal_new(l->base, SIGINT, signal_cb, l);
	l->sig_hup = evsignal_new(l->base, SIGHUP, signal_cb, l);
	if (l->wake == NULL || l->stop == NULL || l->grace == NULL || l->tick == NULL ||
	    l->sig_term == NULL || l->sig_int == NULL || l->sig_hup == NULL) {
		tm_error_set(err, "internal.library", "cannot create events");
		goto fail;
	}
	event_add(l->sig_term, NULL);
	event_add(l->sig_int, NULL);
	event_add(l->sig_hup, NULL);
	event_add(l->tick, &(struct timeval){ 1, 0 });
	if (o->cfg->smtp_address != NULL && bind_smtp(l, o->cfg, err) < 0)
		goto fail;
	if (o->cfg->lmtp_socket != NULL && bind_lmtp(l, o->cfg->lmtp_socket, err) < 0)
		goto fail;
	if (l->smtp == NULL && l->lmtp == NULL) {
		tm_error_set(err, "config.bad_value", "listen: neither smtp nor lmtp is on");
		goto fail;
	}
	/* the spool outlives the listener (closed first) */
	gw_spool_on_round(l->spool, spool_round_cb, l);
	*out = l;
	return 0;
fail:
	gw_listener_free(l);
	return -1;
}

int gw_listener_run(struct gw_listener *l)
{
	signal(SIGPIPE, SIG_IGN);
	event_base_dispatch(l->base);
	return 0;
}

void gw_listener_shutdown(struct gw_listener *l)
{
	event_active(l->stop, EV_READ, 0);
}

int gw_listener_reload(struct gw_listener *l, const struct gw_listener_options *o,
		       struct tm_error *err)
{
	struct gw_listener_settings *s = gw_listener_settings_new(o, err);
	if (s == NULL)
		return -1;
	gw_listener_settings_unref(l->set);
	l->set = s;
	return 0;
}

void gw_listener_stats(const struct gw_listener *l, struct gw_listener_stats *st)
{
	*st = l->st;
}

unsigned gw_listener_port(const struct gw_listener *l)
{
	return l->port;
}

void gw_listener_free(struct gw_listener *l)
{
	if (l == NULL)
		return;
	close_listeners(l);
	while (l->conns != NULL) {
		struct conn *c = l->conns;
		c->spooling = false; /* the spool is closed before the listener is freed */
		conn_free(c);
	}
	struct event *evs[] = { l->wake, l->stop, l->grace, l->tick, l->sig_term, l->sig_int,
				l->sig_hup };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (l->base != NULL)
		event_base_free(l->base);
	gw_listener_settings_unref(l->set);
	free(l->lmtp_path);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

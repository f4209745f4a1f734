/* telemail-agent — SMTP submission, one child process per relay session
 * (see submit.h); the session itself is the SMTP client's (telemail/smtpc.h).
 * The child reports over a pipe, one line each:
 *   step <text>            progress for the communication test
 *   fail <reason> <text>   the session failed before any message was final
 *   msg <i> <code> <text>  the relay's answer to message i */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <telemail/buf.h>
#include <telemail/error.h>
#include <telemail/smtpc.h>

#include "config.h"
#include "submit.h"

#define LINE_MAX_OUT 400

static void emit(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(int fd, const char *fmt, ...)
{
	char line[LINE_MAX_OUT];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	size_t n = strlen(line);
	line[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, line + off, n - off);
		if (w <= 0 && errno != EINTR)
			return;
		if (w > 0)
			off += (size_t)w;
	}
}

static void child_step(void *arg, const char *line)
{
	emit(*(int *)arg, "step %s", line);
}

static int read_password(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* The child: one session through the SMTP client, its outcome on the pipe. */
static void child_main(int fd, const struct ag_smtp_config *s, const char *host, const char *rcpt,
		       struct ag_send_msg *msgs, size_t n, bool verbose)
{
	int port = 25;
	for (size_t i = 0; i < s->n_relays; i++)
		if (s->relays[i].host == host)
			port = s->relays[i].port ? s->relays[i].port : s->port;
	char helo[256];
	if (s->helo)
		snprintf(helo, sizeof(helo), "%s", s->helo);
	else if (gethostname(helo, sizeof(helo)) != 0)
		snprintf(helo, sizeof(helo), "telemail-agent");
	helo[sizeof(helo) - 1] = '\0';
	char password[256] = "";
	if (s->auth != AG_AUTH_NONE && read_password(s->password_file, password, sizeof(password)) != 0) {
		emit(fd, "fail smtp.auth %s: cannot read the password file", s->password_file);
		return;
	}
	struct tm_smtpc_config cfg = {
		.host = host,
		.port = (unsigned)port,
		.helo = helo,
		.starttls = s->tls == AG_TLS_REQUIRED,
		.ca_file = s->ca_file,
		.auth_mechanism = s->auth == AG_AUTH_NONE ? NULL : s->auth == AG_AUTH_LOGIN ? "LOGIN" : "PLAIN",
		.username = s->username,
		.password = password,
		.timeout = s->timeout,
		.max_reply_bytes = s->max_reply_bytes,
		.step = verbose ? child_step : NULL,
		.step_arg = &fd,
	};
	struct tm_smtpc_msg *mv = calloc(n + 1, sizeof(*mv));
	if (mv == NULL) {
		emit(fd, "fail smtp.protocol out of memory");
		return;
	}
	const char *rv[1] = { rcpt };
	for (size_t i = 0; i < n; i++)
		mv[i] = (struct tm_smtpc_msg){ .from = s->envelope_sender, .rcpt = rv, .n_rcpt = 1,
					       .data = msgs[i].data, .len = msgs[i].len };
	struct tm_error err = { 0 };
	int rc = tm_smtpc_send(&cfg, mv, n, &err);
	explicit_bzero(password, sizeof(password));
	for (size_t i = 0; i < n; i++)
		if (mv[i].code != 0)
			emit(fd, "msg %zu %d %.200s", i, mv[i].code, mv[i].reply);
	if (rc != 0)
		emit(fd, "fail %s %s", err.reason, err.msg);
	free(mv);
}

/* Parent side: run one session against one relay; fill results of the
 * messages still pending. Returns 0 when the session ran, -1 with err. */
static int run_relay(const struct ag_smtp_config *s, const char *host, const char *rcpt,
		     struct ag_send_msg *msgs, size_t n, ag_step_fn step, void *arg,
		     struct tm_error *err)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return tm_error_set(err, "internal.library", "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return tm_error_set(err, "internal.library", "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGPIPE, SIG_IGN);
		child_main(pfd[1], s, host, rcpt, msgs, n, step != NULL);
		_exit(0);
	}
	close(pfd[1]);
	/* hard deadline for the whole session */
	int64_t budget_ms = (int64_t)s->timeout * 1000 * (int64_t)(6 + 2 * n);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct tm_buf acc;
	tm_buf_init(&acc);
	bool killed = false, session_failed = false;
	char reason[32] = "", why[300] = "";
	for (;;) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int64_t el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= budget_ms) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int pr = poll(&p, 1, (int)(budget_ms - el));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		char buf[4096];
		ssize_t r = read(pfd[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (acc.len + (size_t)r > (1u << 20)) {   /* the child is ours, but stay bounded */
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		tm_buf_append(&acc, buf, (size_t)r);
		char *nl;
		while (acc.len > 0 && (nl = memchr(acc.data, '\n', acc.len)) != NULL) {
			*nl = '\0';
			char *line = (char *)acc.data;
			if (strncmp(line, "step ", 5) == 0 && step) {
				step(arg, line + 5);
			} else if (strncmp(line, "msg ", 4) == 0) {
				size_t i;
				int code, off = 0;
				if (sscanf(line + 4, "%zu %d %n", &i, &code, &off) >= 2 && i < n &&
				    msgs[i].result == AG_SEND_PENDING) {
					msgs[i].code = code;
					snprintf(msgs[i].reply, sizeof(msgs[i].reply), "%d %s", code, line + 4 + off);
					if (code >= 200 && code < 300)
						msgs[i].result = AG_SEND_OK;
					else if (code >= 500 && code < 600)
						msgs[i].result = AG_SEND_REJECTED;
				}
			} else if (strncmp(line, "fail ", 5) == 0 && !session_failed) {
				session_failed = true;
				sscanf(line + 5, "%31s", reason);
				const char *w = strchr(line + 5, ' ');
				snprintf(why, sizeof(why), "%s", w ? w + 1 : "");
			}
			size_t used = (size_t)(nl - (char *)acc.data) + 1;
			memmove(acc.data, acc.data + used, acc.len - used);
			acc.len -= used;
		}
	}
	close(pfd[0]);
	int wst;
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	tm_buf_fini(&acc);
	if (session_failed) {
		/* a refused AUTH or TLS/certificate failure: a 5xx seen after it is not trusted
		 * to be about the message; only 2xx answers stand */
		for (size_t i = 0; i < n; i++)
			if (msgs[i].result == AG_SEND_REJECTED) {
				msgs[i].result = AG_SEND_PENDING;
				msgs[i].code = 0;
			}
		if (tm_reason_lookup(reason) == NULL)
			snprintf(reason, sizeof(reason), "smtp.protocol");
		return tm_error_set(err, reason, "%s", why);
	}
	if (killed)
		return tm_error_set(err, "smtp.protocol", "%s: session exceeded its deadline of %lld s",
				    host, (long long)(budget_ms / 1000));
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
		return tm_error_set(err, "smtp.protocol", "%s: session ended abnormally", host);
	return 0;
}

int ag_submit(const struct ag_smtp_config *s, const char *rcpt, struct ag_send_msg *msgs,
	      size_t n, ag_step_fn step, void *arg, struct tm_error *err)
{
	for (size_t i = 0; i < n; i++) {
		msgs[i].result = AG_SEND_PENDING;
		msgs[i].code = 0;
		msgs[i].reply[0] = '\0';
	}
	bool any_final = false;
	struct tm_error last = { 0 };
	for (size_t r = 0; r < s->n_relays; r++) {
		size_t pending = 0;
		for (size_t i = 0; i < n; i++)
			if (msgs[i].result == AG_SEND_PENDING || msgs[i].result == AG_SEND_RETRY)
				pending++;
		if (pending == 0)
			break;
		/* the messages still pending go to this relay, in order */
		struct ag_send_msg *sub = calloc(pending, sizeof(*sub));
		size_t *map = calloc(pending, sizeof(*map));
		if (sub == NULL || map == NULL) {
			free(sub);
			free(map);
			return tm_error_set(err, "internal.nomem", "out of memory");
		}
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (msgs[i].result == AG_SEND_PENDING || msgs[i].result == AG_SEND_RETRY) {
				sub[k].data = msgs[i].data;
				sub[k].len = msgs[i].len;
				map[k++] = i;
			}
		if (step)
			step(arg, "relay try");
		tm_error_clear(&last);
		int rc = run_relay(s, s->relays[r].host, rcpt, sub, k, step, arg, &last);
		bool any_transient = false;
		for (size_t j = 0; j < k; j++) {
			struct ag_send_msg *m = &msgs[map[j]];
			m->code = sub[j].code;
			memcpy(m->reply, sub[j].reply, sizeof(m->reply));
			if (sub[j].result == AG_SEND_OK || sub[j].result == AG_SEND_REJECTED) {
				m->result = sub[j].result;
				any_final = true;
			} else {
				m->result = AG_SEND_RETRY;
				any_transient = true;
			}
		}
		free(sub);
		free(map);
		if (rc == 0 && any_transient && last.reason == NULL) {
			const char *reply = NULL;
			for (size_t j = 0; j < n && reply == NULL; j++)
				if (msgs[j].result == AG_SEND_RETRY && msgs[j].reply[0])
					reply = msgs[j].reply;
			if (reply != NULL)
				tm_error_set(&last, "smtp.transient", "%s: %s", s->relays[r].host, reply);
			else
				tm_error_set(&last, "smtp.protocol",
					     "%s: no final answer to the message (timeout or connection lost)",
					     s->relays[r].host);
		}
		if (rc == 0 && !any_transient)
			break;
	}
	for (size_t i = 0; i < n; i++)
		if (msgs[i].result == AG_SEND_PENDING)
			msgs[i].result = AG_SEND_RETRY;
	if (!any_final) {
		if (err) {
			if (last.reason)
				*err = last;
			else
				tm_error_set(err, "smtp.connect", "no relay accepted a session");
		}
		return -1;
	}
	if (err && last.reason)
		*err = last;
	return 0;
}

/* Fuzz target: the SMTP/LMTP session state machine (mailgw/smtp/smtp_session.c)
 * with a fake spool and a fake TLS switch.
 *
 * Input: byte 0 chooses the options (bit 0 LMTP, bit 1 require_tls, bit 2
 * STARTTLS offered, bit 3 the spool fails every other message, bit 4 the
 * TLS handshake fails), bytes 1..4 seed the split points, the rest is what
 * the client sends. The stream is fed once whole and once cut into reads at
 * pseudo-random points. Checked, besides no crash / leak / hang:
 *   - every spooled message has CRLF line ends only (no bare CR or LF) and
 *     is within the size limit;
 *   - replies are well-formed lines ("ddd" + ' ' or '-', ending in CRLF);
 *   - when no STARTTLS happened, both feedings give the same replies and
 *     the same messages (read boundaries never change the meaning). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "smtp/smtp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SIZE 2048

static const char *const boxes[] = { "gw@example.net", "b@example.net" };

struct run {
	struct tm_buf out, msgs;
	unsigned tls, spooled;
};

static void check_message(const uint8_t *m, size_t n)
{
	if (n > MAX_SIZE)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			abort();
		if (m[i] == '\r' && (i + 1 == n || m[i + 1] != '\n'))
			abort();
	}
}

static void check_replies(const uint8_t *o, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const uint8_t *lf = memchr(o + i, '\n', n - i);
		if (lf == NULL)
			abort();
		size_t l = (size_t)(lf - (o + i)) + 1;
		if (l < 6 || o[i] < '2' || o[i] > '5' || (o[i + 3] != ' ' && o[i + 3] != '-') ||
		    o[i + l - 2] != '\r')
			abort();
		i += l;
	}
}

static void run_one(uint8_t flags, uint32_t seed, bool split, const uint8_t *in, size_t len,
		    struct run *r)
{
	struct gw_smtp_config cfg = {
		.hostname = "gw.example.net", .lmtp = flags & 1, .require_tls = flags & 2,
		.tls_available = flags & 4, .mailboxes = boxes, .n_mailboxes = 2,
		.max_message_size = MAX_SIZE, .max_recipients = 3,
	};
	struct gw_smtp_session *s = gw_smtp_session_new(&cfg, false);
	if (s == NULL)
		return;
	size_t pos = 0;
	uint32_t x = seed | 1;
	unsigned nmsg = 0;
	while (pos < len) {
		size_t chunk = len - pos;
		if (split) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32 */
			chunk = 1 + x % 17;
			if (chunk > len - pos)
				chunk = len - pos;
		}
		size_t off = 0;
		bool closed = false;
		while (off < chunk && !closed) {
			enum gw_smtp_event ev;
			size_t used = gw_smtp_session_feed(s, in + pos + off, chunk - off, &ev);
			off += used;
			size_t on;
			const uint8_t *o = gw_smtp_session_output(s, &on);
			tm_buf_append(&r->out, o, on);
			gw_smtp_session_output_clear(s);
			if (ev == GW_SMTP_EV_MESSAGE) {
				size_t ml;
				const uint8_t *m = gw_smtp_session_message(s, &ml);
				check_message(m, ml);
				if ((flags & 8) && (nmsg++ & 1)) {
					struct tm_error e = {0};
					tm_error_set(&e, "spool.io", "fake failure");
					gw_smtp_session_spooled(s, NULL, &e);
				} else {
					tm_buf_append(&r->msgs, m, ml);
					tm_buf_append(&r->msgs, "|", 1);
					r->spooled++;
					gw_smtp_session_spooled(s, "Q", NULL);
				}
			} else if (ev == GW_SMTP_EV_STARTTLS) {
				r->tls++;
				off = chunk; /* plaintext after STARTTLS is discarded */
				if (flags & 16)
					gw_smtp_session_tls_failed(s);
				else
					gw_smtp_session_tls_started(s);
			} else if (ev == GW_SMTP_EV_CLOSE) {
				closed = true;
			} else if (used == 0 && gw_smtp_session_state(s) != GW_SMTP_CLOSED) {
				abort(); /* no event and no progress: a hang */
			}
			if (gw_smtp_session_state(s) == GW_SMTP_CLOSED)
				closed = true;
		}
		if (closed)
			break;
		pos += chunk;
	}
	size_t on;
	const uint8_t *o = gw_smtp_session_output(s, &on);
	tm_buf_append(&r->out, o, on);
	check_replies(r->out.data, r->out.len);
	gw_smtp_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	uint8_t flags = data[0];
	uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
			(uint32_t)data[4] << 24;
	struct run a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	tm_buf_init(&a.out), tm_buf_init(&a.msgs), tm_buf_init(&b.out), tm_buf_init(&b.msgs);
	run_one(flags, seed, false, data + 5, size - 5, &a);
	run_one(flags, seed, true, data + 5, size - 5, &b);
	if (a.tls == 0 && b.tls == 0) {
		if (a.out.len != b.out.len || (a.out.len && memcmp(a.out.data, b.out.data, a.out.len)))
			abort();
		if (a.msgs.len != b.msgs.len ||
		    (a.msgs.len && memcmp(a.msgs.data, b.msgs.data, a.msgs.len)))
			abort();
	}
	tm_buf_fini(&a.out), tm_buf_fini(&a.msgs), tm_buf_fini(&b.out), tm_buf_fini(&b.msgs);
	return 0;
}

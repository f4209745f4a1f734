/* (Over 800 lines: one test file per module, STYLE.md; the log files' half
 * is already test_spool_log.c.)
 *
 * The durable spool with round files (segment_size 0; the log files are in
 * test_spool_log.c; larger rounds and rescues take this way in the daemon
 * too): one segment file per group-commit round, write → sync → rename →
 * directory sync before success, segments removed when all their
 * messages are done, recovery at start (damaged segments set aside), quota,
 * faults, a real full disk. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "spool/spool.h"
#include "spool/spool_segment.h"
#include "spool_fixture.h"

TestSuite(spool, .init = setup, .fini = teardown);

static struct gw_spool *open_spool(const struct gw_spool_options *extra)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/spool", dir);
	struct gw_spool_options o = {0};
	if (extra != NULL)
		o = *extra;
	o.dir = path;
	struct gw_spool *sp = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_open(&o, &sp, &err), 0, "%s", err.msg);
	return sp;
}

/* The frames' CRC-32 is zlib's: the check value, and any split of the
 * octets gives the same sum as one pass (every length 0-40 at every
 * offset, against a bitwise reference). */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

Test(spool, crc32_is_zlibs)
{
	cr_assert_eq(gw_seg_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
	cr_assert_eq(gw_seg_crc32(0, NULL, 0), 0);
	uint8_t buf[64];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 151 + 7);
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n <= 40; n++) {
			uint32_t want = crc32_bitwise(buf + off, n);
			cr_assert_eq(gw_seg_crc32(0, buf + off, n), want, "off %zu n %zu", off, n);
			for (size_t cut = 0; cut <= n; cut++)
				cr_assert_eq(gw_seg_crc32(gw_seg_crc32(0, buf + off, cut), buf + off + cut,
							  n - cut), want, "off %zu n %zu cut %zu", off, n, cut);
		}
}

Test(spool, put_is_durable_then_taken_then_done)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"hello\r\n", 7, qid, &err), 0, "%s", err.msg);
	cr_assert_eq(strlen(qid), 26, "<24 hex digits>.0: %s", qid);
	cr_assert_str_eq(qid + 24, ".0");
	/* the segment: magic line, one 24-octet frame head, the message, the end head */
	char path[600];
	snprintf(path, sizeof(path), "%s/spool/new/%.24s", dir, qid);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	cr_assert_eq(b.len, 9 + 24 + 7 + 24);
	cr_assert(memcmp(b.data, "TMSPOOL1\n", 9) == 0);
	cr_assert_eq(b.data[9], 7, "length, little-endian");
	cr_assert(memcmp(b.data + 9 + 24, "hello\r\n", 7) == 0);
	static const uint8_t end[20] = { 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	cr_assert(memcmp(b.data + 9 + 24 + 7, end, 20) == 0,
		  "the end head: length 0xffffffff, 1 frame, time 0, index 1");
	cr_assert_eq(files_in("tmp"), 0, "nothing left in tmp/");
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.messages, 1);
	cr_assert_eq(st.bytes, 7);
	cr_assert_eq(st.queued, 1);

	char tq[GW_SPOOL_QID_MAX];
	uint8_t *data;
	size_t len;
	int64_t at;
	cr_assert_eq(gw_spool_take(sp, tq, &data, &len, &at, &err), 1);
	cr_assert_str_eq(tq, qid);
	cr_assert_eq(len, 7);
	cr_assert(memcmp(data, "hello\r\n", 7) == 0);
	cr_assert_gt(at, 0);
	free(data);
	cr_assert_eq(files_in("new"), 1, "taken is not removed");
	cr_assert_eq(gw_spool_done(sp, qid, &err), 0);
	cr_assert_eq(files_in("new"), 0);
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.messages, 0);
	cr_assert_eq(st.bytes, 0);
	gw_spool_close(sp);
	tm_buf_fini(&b);
}

Test(spool, an_empty_message_is_a_frame_of_no_octets)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"", 0, qid, &err), 0, "%s", err.msg);
	gw_spool_close(sp);
	sp = open_spool(NULL);
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.recovered, 1);
	cr_assert_eq(st.damaged, 0);
	char q[GW_SPOOL_QID_MAX];
	uint8_t *data;
	size_t len;
	int64_t at;
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	cr_assert_str_eq(q, qid);
	cr_assert_not_null(data, "%s", err.msg);
	cr_assert_eq(len, 0);
	free(data);
	cr_assert_eq(gw_spool_done(sp, q, &err), 0);
	gw_spool_close(sp);
}

Test(spool, start_discards_incomplete_and_queues_complete)
{
	cr_assert_eq(tm_test_sh("mkdir -p '%s/spool/tmp' '%s/spool/new' && "
				"printf half > '%s/spool/tmp/00aa' && printf one > '%s/spool/new/0001' && "
				"printf two2 > '%s/spool/new/0002'", dir, dir, dir, dir, dir), 0);
	struct gw_spool *sp = open_spool(NULL);
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.discarded, 1);
	cr_assert_eq(st.recovered, 2);
	cr_assert_eq(st.bytes, 7);
	cr_assert_eq(files_in("tmp"), 0);
	take_expect(sp, "0001", "one");
	take_expect(sp, "0002", "two2");
	/* not done: after a restart both are there again */
	gw_spool_close(sp);
	sp = open_spool(NULL);
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.recovered, 2);
	uint64_t m, b, inc;
	struct tm_error err = {0};
	char sdir[600];
	snprintf(sdir, sizeof(sdir), "%s/spool", dir);
	cr_assert_eq(gw_spool_scan(sdir, &m, &b, &inc, &err), 0);
	cr_assert_eq(m, 2);
	cr_assert_eq(b, 7);
	cr_assert_eq(inc, 0);
	gw_spool_close(sp);
}

/* Group commit, made deterministic: the first round is held inside its
 * write until every other message is submitted; they then all share the
 * second round (one segment file, one data flush, one directory flush). A
 * gate can also fail one step of the second round. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int writes;              /* rounds that reached their write */
	enum gw_spool_op fail_op; /* with fail_err: fails in the second round */
	int fail_err;
};

#define GATE_INIT { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER }

static int gate_fault(void *ctx, enum gw_spool_op op)
{
	struct gate *g = ctx;
	pthread_mutex_lock(&g->mu);
	if (op == GW_SPOOL_OP_WRITE && g->writes++ == 0)
		while (!g->open)
			pthread_cond_wait(&g->cv, &g->mu);
	int e = g->fail_err != 0 && op == g->fail_op && g->writes >= 2 ? g->fail_err : 0;
	pthread_mutex_unlock(&g->mu);
	return e;
}

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ok, failed;
};

/* One submit's outcome. */
struct slot {
	struct counter *c;
	char qid[GW_SPOOL_QID_MAX];
	const char *reason;
};

static void slot_cb(void *ctx, const char *qid, const struct tm_error *err)
{
	struct slot *s = ctx;
	pthread_mutex_lock(&s->c->mu);
	snprintf(s->qid, sizeof(s->qid), "%s", qid);
	s->reason = err != NULL ? err->reason : NULL;
	if (err == NULL && qid[0])
		s->c->ok++;
	else
		s->c->failed++;
	pthread_cond_signal(&s->c->cv);
	pthread_mutex_unlock(&s->c->mu);
}

/* msgs[0] alone in the first round, msgs[1..n-1] together in the second;
 * waits for every callback. */
static void two_rounds(struct gw_spool *sp, struct gate *g, const char *const *msgs, int n,
		       struct slot *slots, struct counter *c)
{
	struct tm_error err = {0};
	for (int i = 0; i < n; i++)
		slots[i] = (struct slot){ .c = c };
	cr_assert_eq(gw_spool_submit(sp, (const uint8_t *)msgs[0], strlen(msgs[0]), slot_cb, &slots[0],
				     &err), 0, "%s", err.msg);
	/* wait until the spool thread sits in the first write */
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&g->mu);
		int w = g->writes;
		pthread_mutex_unlock(&g->mu);
		if (w > 0)
			break;
		usleep(5000);
	}
	for (int i = 1; i < n; i++)
		cr_assert_eq(gw_spool_submit(sp, (const uint8_t *)msgs[i], strlen(msgs[i]), slot_cb,
					     &slots[i], &err), 0, "%s", err.msg);
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_mutex_lock(&c->mu);
	while (c->ok + c->failed < n)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static struct gw_spool *open_gated(struct gate *g)
{
	struct gw_spool_options o = { .fault = gate_fault, .fault_ctx = g };
	return open_spool(&o);
}

/* Flip one octet of a segment file (a disk that lied). */
static void flip(const char *seg, off_t off)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/spool/new/%.24s", dir, seg);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s", path);
	uint8_t c;
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* A done segment waits in free/ and is written again by a later round (its
 * inode and blocks reused, written over in place: what is left of the old
 * round past the end head is never read, at take or at a restart); at most
 * GW_SEG_POOL_MAX wait. */
Test(spool, done_segments_are_written_again)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX], tq[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	uint8_t *data;
	size_t len;
	int64_t at;
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"first message\r\n", 15, qid, &err), 0);
	cr_assert_eq(gw_spool_take(sp, tq, &data, &len, &at, &err), 1);
	free(data);
	char path[600];
	struct stat st1, st2;
	snprintf(path, sizeof(path), "%s/spool/new/%.24s", dir, qid);
	cr_assert_eq(stat(path, &st1), 0);
	cr_assert_eq(gw_spool_done(sp, qid, &err), 0, "%s", err.msg);
	cr_assert_eq(files_in("new"), 0);
	cr_assert_eq(files_in("free"), 1, "the file waits in free/");

	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"2nd\r\n", 5, qid, &err), 0);
	cr_assert_eq(files_in("free"), 0, "and is written again");
	snprintf(path, sizeof(path), "%s/spool/new/%.24s", dir, qid);
	cr_assert_eq(stat(path, &st2), 0);
	cr_assert_eq(st1.st_ino, st2.st_ino, "the same file");
	cr_assert_eq(st2.st_size, 9 + 24 + 15 + 24, "written over, not truncated");
	take_expect(sp, qid, "2nd\r\n");
	gw_spool_close(sp);
	/* a restart reads the round up to its end head: one message, no damage */
	sp = open_spool(NULL);
	struct gw_spool_stats rs = stats(sp);
	cr_assert_eq(rs.recovered, 1);
	cr_assert_eq(rs.damaged, 0);
	cr_assert_eq(rs.bytes, 5);
	take_expect(sp, qid, "2nd\r\n");
	done(sp, qid);
	gw_spool_close(sp);

	/* at start, files beyond the pool's room are removed; none is a message */
	cr_assert_eq(tm_test_sh("for i in $(seq 1 70); do echo junk > '%s/spool/free/'f$i; done", dir), 0);
	int before = files_in("free");
	cr_assert_eq(before, 71, "%d files in free/ before", before);
	sp = open_spool(NULL);
	int nfree = files_in("free");
	cr_assert_eq(nfree, 64, "%d files in free/", nfree);
	cr_assert_eq(stats(sp).recovered, 0);
	gw_spool_close(sp);
}

/* A crash on a file system without a journal can leave a file both in
 * free/ and in new/ (its move out of free/ not flushed, its new/ entry
 * flushed): the free/ entry is dropped at open, never written over. */
Test(spool, a_free_entry_of_a_segment_in_new_is_dropped)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"acknowledged", 12, qid, &err), 0, "%s", err.msg);
	gw_spool_close(sp);
	cr_assert_eq(tm_test_sh("ln '%s/spool/new/%.24s' '%s/spool/free/x' && echo junk > '%s/spool/free/y'",
				dir, qid, dir, dir), 0);
	sp = open_spool(NULL);
	cr_assert_eq(files_in("free"), 1, "only the file that is in free/ alone");
	cr_assert(!exists("free", "x"));
	cr_assert_eq(tm_test_sh("test $(stat -c %%h '%s/spool/new/%.24s') -eq 1", dir, qid), 0);
	char q2[GW_SPOOL_QID_MAX];
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"next", 4, q2, &err), 0, "%s", err.msg);
	take_expect(sp, qid, "acknowledged");
	take_expect(sp, q2, "next");
	done(sp, qid);
	done(sp, q2);
	gw_spool_close(sp);
}

/* A segment file over GW_SEG_POOL_FILE_MAX octets is deleted, not pooled. */
Test(spool, a_large_done_segment_is_deleted_not_pooled)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	size_t n = GW_SEG_POOL_FILE_MAX; /* with the magic and two heads: over the limit */
	uint8_t *big = malloc(n);
	cr_assert_not_null(big);
	memset(big, 'x', n);
	cr_assert_eq(gw_spool_put(sp, big, n, qid, &err), 0, "%s", err.msg);
	uint8_t *data;
	size_t len;
	int64_t at;
	char tq[GW_SPOOL_QID_MAX];
	cr_assert_eq(gw_spool_take(sp, tq, &data, &len, &at, &err), 1);
	cr_assert_eq(len, n);
	free(data);
	done(sp, qid);
	cr_assert_eq(files_in("new"), 0);
	cr_assert_eq(files_in("free"), 0, "not kept for reuse");
	/* a file of exactly the limit: pooled */
	n = GW_SEG_POOL_FILE_MAX - GW_SEG_MAGIC_LEN - 2 * GW_SEG_HEAD;
	cr_assert_eq(gw_spool_put(sp, big, n, qid, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_spool_take(sp, tq, &data, &len, &at, &err), 1);
	free(data);
	done(sp, qid);
	cr_assert_eq(files_in("free"), 1, "a file of exactly the limit is kept");
	free(big);
	gw_spool_close(sp);
}

Test(spool, concurrent_submits_share_one_segment_file)
{
	struct gate g = GATE_INIT;
	struct gw_spool *sp = open_gated(&g);
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	enum { N = 200 };
	static char bufs[N][300];
	const char *msgs[N];
	for (int i = 0; i < N; i++) { /* each of its own length and content */
		snprintf(bufs[i], sizeof(bufs[i]), "Subject: m%d\r\n\r\n%.*s\r\n", i, i,
			 "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
			 "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
			 "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz");
		msgs[i] = bufs[i];
	}
	static struct slot slots[N];
	two_rounds(sp, &g, msgs, N, slots, &c);
	cr_assert_eq(c.ok, N);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.accepted, N);
	cr_assert_eq(st.rounds, 2, "%d messages in %llu rounds", N, (unsigned long long)st.rounds);
	cr_assert_eq(files_in("new"), 2, "one segment file per round");
	cr_assert_eq(files_in("tmp"), 0);
	cr_assert_str_neq(slots[0].qid, slots[1].qid);
	for (int i = 1; i < N; i++) {
		char want[GW_SPOOL_QID_MAX];
		snprintf(want, sizeof(want), "%.24s.%d", slots[1].qid, i - 1);
		cr_assert_str_eq(slots[i].qid, want, "same segment, index in submit order");
	}
	/* every message reads back byte-identical, in submit order */
	for (int i = 0; i < N; i++)
		take_expect(sp, slots[i].qid, msgs[i]);
	for (int i = 0; i < N; i++)
		done(sp, slots[i].qid);
	cr_assert_eq(files_in("new"), 0);
	st = stats(sp);
	cr_assert_eq(st.messages, 0);
	cr_assert_eq(st.bytes, 0);
	gw_spool_close(sp);
}

static const char *const abcd[] = { "a", "bb", "ccc", "dddd" };

Test(spool, a_segment_goes_when_all_its_messages_are_done)
{
	struct gate g = GATE_INIT;
	struct gw_spool *sp = open_gated(&g);
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct slot s[4];
	two_rounds(sp, &g, abcd, 4, s, &c);
	cr_assert_eq(c.ok, 4);
	cr_assert_eq(files_in("new"), 2);
	for (int i = 0; i < 4; i++)
		take_expect(sp, s[i].qid, abcd[i]);
	done(sp, s[1].qid);
	done(sp, s[2].qid);
	cr_assert(exists("new", s[1].qid), "one message of its segment is not done");
	cr_assert_eq(files_in("new"), 2);
	done(sp, s[0].qid);
	cr_assert(!exists("new", s[0].qid), "its only message is done");
	cr_assert_eq(files_in("new"), 1);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.messages, 1);
	cr_assert_eq(st.bytes, 4);
	/* a restart (or a crash) before the last one: the segment comes back whole */
	gw_spool_close(sp);
	sp = open_spool(NULL);
	st = stats(sp);
	cr_assert_eq(st.recovered, 3);
	cr_assert_eq(st.messages, 3);
	cr_assert_eq(st.bytes, 2 + 3 + 4);
	cr_assert_eq(st.damaged, 0);
	for (int i = 1; i < 4; i++)
		take_expect(sp, s[i].qid, abcd[i]);
	for (int i = 1; i < 4; i++)
		done(sp, s[i].qid);
	cr_assert_eq(files_in("new"), 0);
	gw_spool_close(sp);
}

/* A spool left with two segments: "a" alone, then "bb" "ccc" "dddd". */
static void two_segments(struct slot s[4])
{
	struct gate g = GATE_INIT;
	struct gw_spool *sp = open_gated(&g);
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	two_rounds(sp, &g, abcd, 4, s, &c);
	cr_assert_eq(c.ok, 4);
	gw_spool_close(sp);
}

/* A segment's frame i of abcd[1..3] starts at this offset (its head). */
static off_t frame_at(int i)
{
	off_t off = 9;
	for (int k = 1; k < 1 + i; k++)
		off += 24 + (off_t)strlen(abcd[k]);
	return off;
}

/* After recovery of a damaged second segment: "a" and `want` are queued
 * (from a new segment), the damaged file is in damaged/. */
static void expect_rescued(const struct slot s[4], const char *const *want, int n)
{
	struct gw_spool *sp = open_spool(NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, (uint64_t)(1 + n));
	cr_assert_eq(st.damaged, 1);
	cr_assert_eq(st.queued, (uint64_t)(1 + n));
	cr_assert(exists("damaged", s[1].qid), "kept for inspection");
	cr_assert(!exists("new", s[1].qid));
	cr_assert_eq(files_in("damaged"), 1);
	cr_assert_eq(files_in("new"), n > 0 ? 2 : 1, "the first segment and the rescued frames");
	take_expect(sp, s[0].qid, "a");
	char q[GW_SPOOL_QID_MAX];
	for (int i = 0; i < n; i++) {
		uint8_t *data;
		size_t len;
		int64_t at;
		struct tm_error err = {0};
		cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
		cr_assert_null(err.reason, "%s", err.msg);
		cr_assert_eq(len, strlen(want[i]));
		cr_assert(memcmp(data, want[i], len) == 0);
		cr_assert(strncmp(q, s[1].qid, 24) != 0, "from a new segment: %s", q);
		free(data);
		done(sp, q);
	}
	done(sp, s[0].qid);
	cr_assert_eq(files_in("new"), 0);
	cr_assert_eq(files_in("damaged"), 1, "never removed by the spool");
	gw_spool_close(sp);
	/* the damaged file is out of new/: not seen again */
	sp = open_spool(NULL);
	st = stats(sp);
	cr_assert_eq(st.recovered, 0);
	cr_assert_eq(st.damaged, 0);
	gw_spool_close(sp);
}

Test(spool, recovery_of_a_truncated_last_frame)
{
	struct slot s[4];
	two_segments(s);
	/* the end head and the last two octets of "dddd" */
	cr_assert_eq(tm_test_sh("truncate -s %d '%s/spool/new/%.24s'", (int)frame_at(3) - 2, dir,
				s[1].qid), 0);
	static const char *const want[] = { "bb", "ccc" };
	expect_rescued(s, want, 2);
	cr_assert_eq(tm_test_sh("test $(stat -c %%s '%s/spool/damaged/%.24s') -eq %d", dir, s[1].qid,
				(int)frame_at(3) - 2), 0, "moved as it was");
}

Test(spool, recovery_of_a_broken_end_head)
{
	struct slot s[4];
	two_segments(s);
	flip(s[1].qid, frame_at(3) + 16); /* its index: the end is not known */
	static const char *const want[] = { "bb", "ccc", "dddd" };
	expect_rescued(s, want, 3);
}

/* After a restart, the two segments are whole: their four messages are
 * queued as they were, nothing damaged. */
static void expect_whole(const struct slot s[4])
{
	struct gw_spool *sp = open_spool(NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, 4);
	cr_assert_eq(st.damaged, 0);
	cr_assert_eq(st.bytes, 1 + 2 + 3 + 4);
	for (int i = 0; i < 4; i++)
		take_expect(sp, s[i].qid, abcd[i]);
	for (int i = 0; i < 4; i++)
		done(sp, s[i].qid);
	gw_spool_close(sp);
}

/* A segment written before the end head existed ends at its last octet;
 * with the end head cut off, the same frames are whole. */
Test(spool, a_segment_without_end_head_ends_at_its_last_octet)
{
	struct slot s[4];
	two_segments(s);
	cr_assert_eq(tm_test_sh("truncate -s %d '%s/spool/new/%.24s'", (int)frame_at(3), dir,
				s[1].qid), 0);
	expect_whole(s);
}

/* What follows the end head (an earlier round's octets) is never read,
 * whatever it holds. */
Test(spool, octets_after_the_end_head_are_not_read)
{
	struct slot s[4];
	two_segments(s);
	cr_assert_eq(tm_test_sh("printf 'leftover of an earlier round' >> '%s/spool/new/%.24s'", dir,
				s[1].qid), 0);
	expect_whole(s);
}

Test(spool, recovery_of_a_flipped_octet_in_a_message)
{
	struct slot s[4];
	two_segments(s);
	flip(s[1].qid, frame_at(1) + 24 + 1); /* inside "ccc": its head is sound */
	static const char *const want[] = { "bb", "dddd" };
	expect_rescued(s, want, 2);
}

Test(spool, recovery_of_a_flipped_octet_in_a_frame_head)
{
	struct slot s[4];
	two_segments(s);
	flip(s[1].qid, frame_at(1) + 1); /* the length of "ccc": where "dddd" is, is lost */
	static const char *const want[] = { "bb" };
	expect_rescued(s, want, 1);
}

Test(spool, recovery_of_a_segment_with_no_valid_frame)
{
	struct slot s[4];
	two_segments(s);
	flip(s[1].qid, frame_at(0) + 20); /* the head CRC of the first frame */
	expect_rescued(s, NULL, 0);
}

Test(spool, a_corrupt_message_is_reported_at_take_and_kept)
{
	struct gate g = GATE_INIT;
	struct gw_spool *sp = open_gated(&g);
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct slot s[4];
	two_rounds(sp, &g, abcd, 4, s, &c);
	flip(s[1].qid, frame_at(1) + 24); /* "ccc" */
	take_expect(sp, s[0].qid, "a");
	take_expect(sp, s[1].qid, "bb");
	char q[GW_SPOOL_QID_MAX];
	uint8_t *data;
	size_t len;
	int64_t at;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1, "an item, with the reason");
	cr_assert_str_eq(q, s[2].qid);
	cr_assert_null(data);
	cr_assert_str_eq(err.reason, "io.read");
	cr_assert_not_null(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
	gw_spool_retry(sp, q);
	take_expect(sp, s[3].qid, "dddd");
	for (int i = 0; i < 4; i++)
		if (i != 2)
			done(sp, s[i].qid);
	cr_assert(exists("new", s[2].qid), "the segment stays while one message is not done");
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.messages, 1);
	cr_assert_eq(st.queued, 1, "delayed, never dropped");
	gw_spool_close(sp);
}

/* After an outage of the store: what waits out its backoff is taken at
 * once. */
Test(spool, retry_now_ends_the_backoffs)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[2][GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"one", 3, qid[0], &err), 0, "%s", err.msg);
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"two", 3, qid[1], &err), 0, "%s", err.msg);
	take_expect(sp, qid[0], "one");
	take_expect(sp, qid[1], "two");
	gw_spool_retry(sp, qid[0]);
	gw_spool_retry(sp, qid[1]);   /* both wait 5 s (the default first backoff) */
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.queued, 2);
	gw_spool_retry_now(sp);
	time_t t0 = time(NULL);
	take_expect(sp, qid[0], "one");
	take_expect(sp, qid[1], "two");
	cr_assert_lt(time(NULL) - t0, 2, "taken at once, not after the backoff");
	gw_spool_retry(sp, qid[0]);   /* the second failure: 10 s */
	done(sp, qid[1]);
	st = stats(sp);
	cr_assert_eq(st.queued, 1);
	cr_assert_eq(st.messages, 1);
	gw_spool_close(sp);
}

/* A store that went up and down: a message failed three times (its next
 * wait 8 s with a base of 1 s) is taken at the recovery and, failing
 * again, waits the first backoff (1 s), not 16 s: after the last recovery
 * nothing may be left to commit and end its wait early. */
Test(spool, retry_now_starts_the_backoff_over)
{
	struct gw_spool_options o = { .retry_base = 1 };
	struct gw_spool *sp = open_spool(&o);
	char qid[GW_SPOOL_QID_MAX], q[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"flap", 4, qid, &err), 0, "%s", err.msg);
	uint8_t *data;
	size_t len;
	int64_t at;
	for (int i = 0; i < 3; i++) {   /* waits 1 s, then 2 s, then (not waited) 4 s */
		cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
		free(data);
		cr_assert_str_eq(q, qid);
		gw_spool_retry(sp, q);
		if (i == 2)
			gw_spool_retry_now(sp);
	}
	time_t t0 = time(NULL);
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	cr_assert_lt(time(NULL) - t0, 2, "taken at the recovery, not after 4 s");
	gw_spool_retry(sp, q);   /* failed again: the first backoff, 1 s */
	t0 = time(NULL);
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	cr_assert_lt(time(NULL) - t0, 4, "the backoff started over (1 s), not 8 s");
	gw_spool_close(sp);
}

/* The store away: of the messages deferred for it, one at a time waits no
 * longer than store_probe (the others their backoffs), so that the store's
 * return is seen though nothing else arrives; a deferral for anything else
 * keeps its backoff. */
Test(spool, one_message_deferred_for_the_store_probes_it)
{
	struct gw_spool_options o = { .retry_base = 4, .store_probe = 1 };
	struct gw_spool *sp = open_spool(&o);
	char a[GW_SPOOL_QID_MAX], b[GW_SPOOL_QID_MAX], q[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"aaa", 3, a, &err), 0, "%s", err.msg);
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"bbb", 3, b, &err), 0, "%s", err.msg);
	take_expect(sp, a, "aaa");
	take_expect(sp, b, "bbb");
	time_t t0 = time(NULL);
	gw_spool_retry_store(sp, a);   /* the probe: 1 s, not 4 */
	gw_spool_retry_store(sp, b);   /* a probe is due: its backoff, 4 s */
	uint8_t *data;
	size_t len;
	int64_t at;
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	cr_assert_str_eq(q, a, "the probe first");
	cr_assert_lt(time(NULL) - t0, 3, "the probe waited store_probe, not its backoff");
	cr_assert_eq(stats(sp).queued, 1, "the other one still waits");
	gw_spool_retry_store(sp, a);   /* the probe's time came: again the probe (not 8 s) */
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	cr_assert_str_eq(q, a, "the probe again, before the other one's backoff ends");
	cr_assert_lt(time(NULL) - t0, 4, "the probe waited store_probe again");
	gw_spool_retry(sp, a);   /* not for the store: its backoff, 16 s */
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	cr_assert_str_eq(q, b, "the other one at the end of its backoff, the first not before");
	cr_assert_geq(time(NULL) - t0, 3, "the other one waited its backoff");
	done(sp, b);
	cr_assert_eq(stats(sp).queued, 1);
	gw_spool_close(sp);
}

Test(spool, a_raw_file_dropped_into_new_is_one_message)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"spooled", 7, qid, &err), 0, "%s", err.msg);
	gw_spool_close(sp);
	/* dropped by hand: a message (mentioning the magic, not starting with it)
	 * and one shorter than the magic line */
	static const char raw[] = "Subject: x\r\n\r\nTMSPOOL1\n\r\n";
	char path[700];
	snprintf(path, sizeof(path), "%s/spool/new/0000drop", dir);
	tm_test_write(path, raw, sizeof(raw) - 1);
	snprintf(path, sizeof(path), "%s/spool/new/0001hi", dir);
	tm_test_write(path, "hi", 2);
	sp = open_spool(NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, 3);
	cr_assert_eq(st.bytes, 7 + sizeof(raw) - 1 + 2);
	cr_assert_eq(st.damaged, 0);
	take_expect(sp, "0000drop", raw);
	take_expect(sp, "0001hi", "hi");
	take_expect(sp, qid, "spooled");
	done(sp, "0000drop");
	cr_assert(!exists("new", "0000drop"));
	done(sp, "0001hi");
	done(sp, qid);
	cr_assert_eq(files_in("new"), 0);
	gw_spool_close(sp);
}

/* A step of a round failing fails every message of that round and leaves
 * its file nowhere, a new file of tmp/ or a pooled one of free/ alike; the
 * round before is untouched. Cases 4-7: the same with two files in free/. */
static const struct round_fault {
	enum gw_spool_op op;
	int err;
	const char *reason;
} round_faults[] = {
	{ GW_SPOOL_OP_WRITE, ENOSPC, "spool.no_space" },
	{ GW_SPOOL_OP_SYNC, EIO, "spool.io" },
	{ GW_SPOOL_OP_RENAME, EIO, "spool.io" },
	{ GW_SPOOL_OP_DIRSYNC, EIO, "spool.io" },
};

ParameterizedTestParameters(spool, a_failed_round_fails_all_its_messages)
{
	static int ix[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	return cr_make_param_array(int, ix, sizeof(ix) / sizeof(ix[0]));
}

ParameterizedTest(int *ix, spool, a_failed_round_fails_all_its_messages)
{
	const struct round_fault *f = &round_faults[*ix % 4];
	bool pooled = *ix >= 4;
	if (pooled) /* one for each round: the failing one writes over a pooled file */
		cr_assert_eq(tm_test_sh("mkdir -p '%s/spool/free' && echo old > '%s/spool/free/a' && "
					"echo old > '%s/spool/free/b'", dir, dir, dir), 0);
	struct gate g = GATE_INIT;
	g.fail_op = f->op;
	g.fail_err = f->err;
	struct gw_spool *sp = open_gated(&g);
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct slot s[4];
	two_rounds(sp, &g, abcd, 4, s, &c);
	cr_assert_eq(c.ok, 1);
	cr_assert_eq(c.failed, 3);
	cr_assert_null(s[0].reason);
	for (int i = 1; i < 4; i++)
		cr_assert_str_eq(s[i].reason, f->reason, "op %d message %d", (int)f->op, i);
	cr_assert_eq(files_in("tmp"), 0);
	cr_assert_eq(files_in("free"), 0, "the pooled files: one taken, one removed");
	cr_assert_eq(files_in("new"), 1, "only the first round's segment");
	cr_assert(exists("new", s[0].qid));
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.accepted, 1);
	cr_assert_eq(st.failed, 3);
	cr_assert_eq(st.messages, 1);
	cr_assert_eq(st.bytes, 1);
	cr_assert_eq(st.queued, 1, "a failed message is never handed to the pipeline");
	gw_spool_close(sp);
}

Test(spool, scan_counts_messages_not_files)
{
	struct slot s[4];
	two_segments(s);
	char path[700];
	snprintf(path, sizeof(path), "%s/spool/new/0000drop", dir);
	tm_test_write(path, "raw\r\n", 5);
	snprintf(path, sizeof(path), "%s/spool/tmp/00aa", dir);
	tm_test_write(path, "TMSPOOL1\nhalf", 13);
	snprintf(path, sizeof(path), "%s/spool", dir);
	uint64_t m, b, inc;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_scan(path, &m, &b, &inc, &err), 0, "%s", err.msg);
	cr_assert_eq(m, 1 + 3 + 1, "frames of two segments and a raw file");
	cr_assert_eq(b, 1 + 2 + 3 + 4 + 5, "message octets, not file sizes");
	cr_assert_eq(inc, 1);
}

/* Faults: each step on the way to durability failing gives the right code,
 * leaves no file behind and gives the quota back. */
struct fail_at {
	enum gw_spool_op op;
	int err;
};

static int fail_fault(void *ctx, enum gw_spool_op op)
{
	struct fail_at *f = ctx;
	return op == f->op ? f->err : 0;
}

static void expect_fault(enum gw_spool_op op, int e, const char *reason, const char *needle)
{
	struct fail_at f = { op, e };
	struct gw_spool_options o = { .fault = fail_fault, .fault_ctx = &f };
	struct gw_spool *sp = open_spool(&o);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"x\r\n", 3, qid, &err), -1);
	cr_assert_str_eq(err.reason, reason);
	cr_assert_not_null(strstr(err.msg, needle), "%s", err.msg);
	cr_assert_eq(files_in("tmp"), 0);
	cr_assert_eq(files_in("new"), 0);
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.messages, 0);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(st.failed, 1);
	cr_assert_eq(st.queued, 0, "a failed message is never handed to the pipeline");
	gw_spool_close(sp);
}

Test(spool, disk_full_is_no_space)
{
	expect_fault(GW_SPOOL_OP_WRITE, ENOSPC, "spool.no_space", "No space left on device");
}

Test(spool, fs_quota_is_no_space)
{
	expect_fault(GW_SPOOL_OP_WRITE, EDQUOT, "spool.no_space", "write");
}

Test(spool, fsync_error_is_io)
{
	expect_fault(GW_SPOOL_OP_SYNC, EIO, "spool.io", "sync");
}

Test(spool, rename_error_is_io)
{
	expect_fault(GW_SPOOL_OP_RENAME, EIO, "spool.io", "rename");
}

Test(spool, directory_sync_error_is_io_and_removes_the_file)
{
	expect_fault(GW_SPOOL_OP_DIRSYNC, EIO, "spool.io", "directory sync");
}

Test(spool, quota_gives_back_pressure)
{
	struct gw_spool_options o = { .quota_messages = 2 };
	struct gw_spool *sp = open_spool(&o);
	char q1[GW_SPOOL_QID_MAX], q2[GW_SPOOL_QID_MAX], q3[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"a", 1, q1, &err), 0);
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"b", 1, q2, &err), 0);
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"c", 1, q3, &err), -1);
	cr_assert_str_eq(err.reason, "spool.full");
	cr_assert_not_null(strstr(err.msg, "holds 2 messages (quota 2)"), "%s", err.msg);
	uint8_t *data;
	size_t len;
	int64_t at;
	char q[GW_SPOOL_QID_MAX];
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	cr_assert_eq(gw_spool_done(sp, q, &err), 0);
	tm_error_clear(&err);
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"c", 1, q3, &err), 0, "room again");
	gw_spool_close(sp);

	struct gw_spool_options ob = { .quota_bytes = 10 };
	sp = open_spool(&ob);
	tm_error_clear(&err);
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"12345678901", 11, q1, &err), -1);
	cr_assert_str_eq(err.reason, "spool.full");
	cr_assert_not_null(strstr(err.msg, "(quota 10)"), "%s", err.msg);
	gw_spool_close(sp);
}

Test(spool, retry_comes_back_after_backoff_and_stop_wakes_consumers)
{
	struct gw_spool_options o = { .retry_base = 1 };
	struct gw_spool *sp = open_spool(&o);
	char qid[GW_SPOOL_QID_MAX], q[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"r", 1, qid, &err), 0);
	uint8_t *data;
	size_t len;
	int64_t at;
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	free(data);
	gw_spool_retry(sp, q);
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.queued, 1, "delayed, still queued");
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1, "comes back");
	cr_assert_str_eq(q, qid);
	free(data);
	gw_spool_stop_consumers(sp);
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 0);
	gw_spool_close(sp);
}

/* A real full file system: a 64 KiB tmpfs (needs root and mount; skipped
 * otherwise). */
Test(spool, real_full_file_system)
{
	mount_small_spool();
	struct gw_spool *sp = open_spool(NULL);
	static uint8_t big[20000];
	memset(big, 'x', sizeof(big));
	int ok = 0;
	struct tm_error err = {0};
	for (int i = 0; i < 10; i++) {
		char qid[GW_SPOOL_QID_MAX];
		tm_error_clear(&err);
		if (gw_spool_put(sp, big, sizeof(big), qid, &err) < 0)
			break;
		ok++;
	}
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	int tmp_left = files_in("tmp");
	gw_spool_close(sp);
	unmount_spool();
	cr_assert_lt(ok, 10, "a 64 KiB file system cannot take 200 KB");
	cr_assert_str_eq(err.reason, "spool.no_space");
	cr_assert_eq(st.messages, (uint64_t)ok, "only the durable ones are counted");
	cr_assert_eq(tmp_left, 0);
}

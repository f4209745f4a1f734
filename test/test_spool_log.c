/* The spool's log files (segment_size > 0, the daemon's way): one file
 * made ready ahead, then one round after another written over its zeros
 * and flushed once; a round that does not fit goes into the next file (or,
 * larger than a whole file, into a round file of its own); recovery at
 * start of what was acknowledged, and only that. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "spool/spool.h"
#include "spool/spool_segment.h"
#include "spool_fixture.h"

TestSuite(spool_log, .init = setup, .fini = teardown);

/* Fail the `nth` call (1-based) of `op` with `err`. */
struct nth_fault {
	enum gw_spool_op op;
	int nth, seen, err;
};

static int nth_fault(void *ctx, enum gw_spool_op op)
{
	struct nth_fault *f = ctx;
	return op == f->op && ++f->seen == f->nth ? f->err : 0;
}

static struct gw_spool *open_log(uint64_t size, struct nth_fault *f)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/spool", dir);
	struct gw_spool_options o = { .dir = path, .segment_size = size };
	if (f != NULL) {
		o.fault = nth_fault;
		o.fault_ctx = f;
	}
	struct gw_spool *sp = NULL;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_open(&o, &sp, &err), 0, "%s", err.msg);
	return sp;
}

static void put(struct gw_spool *sp, const char *msg, char qid[GW_SPOOL_QID_MAX])
{
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)msg, strlen(msg), qid, &err), 0, "%s",
		     err.msg);
}

static const char *const three[] = { "one\r\n", "two\r\n", "three\r\n" };

/* Three rounds of one message each (three[i]); take them back in order. */
static void put_three(struct gw_spool *sp, char q[3][GW_SPOOL_QID_MAX])
{
	for (int i = 0; i < 3; i++)
		put(sp, three[i], q[i]);
}

static void take_three(struct gw_spool *sp, char q[3][GW_SPOOL_QID_MAX])
{
	for (int i = 0; i < 3; i++)
		take_expect(sp, q[i], three[i]);
}

static void read_seg(const char *qid, struct tm_buf *b)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/spool/new/%.24s", dir, qid);
	tm_buf_init(b);
	tm_test_read(path, b);
}

Test(spool_log, rounds_share_one_file_made_ready_ahead)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char q[3][GW_SPOOL_QID_MAX];
	put_three(sp, q);
	cr_assert(strncmp(q[0], q[1], 24) == 0 && strncmp(q[0], q[2], 24) == 0, "one file");
	cr_assert_str_eq(q[0] + 24, ".0");
	cr_assert_str_eq(q[1] + 24, ".1", "numbered on across rounds");
	cr_assert_str_eq(q[2] + 24, ".2");
	struct tm_buf b;
	read_seg(q[0], &b);
	cr_assert_eq(b.len, 4096, "the whole size, written when made ready");
	cr_assert(memcmp(b.data, "TMSPOOL2\n", 9) == 0);
	/* round 1: head, "one\r\n", end head (1 frame, index 1); round 2 after it */
	static const uint8_t end1[20] = { 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	cr_assert(memcmp(b.data + 9 + 24 + 5, end1, 20) == 0);
	size_t tail = 9 + 3 * 24 + 5 + 5 + 7 + 3 * 24;
	cr_assert_eq(b.data[9 + 24 + 5 + 24], 5, "round 2's head follows round 1's end head");
	cr_assert_eq(b.data[9 + 24 + 5 + 24 + 16], 1, "index 1");
	for (size_t i = tail; i < b.len; i++)
		cr_assert_eq(b.data[i], 0, "zeros after the last round (offset %zu)", i);
	tm_buf_fini(&b);
	cr_assert_eq(files_in("tmp"), 0);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.accepted, 3);
	cr_assert_eq(st.rounds, 3);
	cr_assert_eq(st.queued, 3);

	take_three(sp, q);
	for (int i = 0; i < 3; i++)
		done(sp, q[i]);
	cr_assert_eq(files_in("new"), 1, "all done, but the file still takes rounds");
	gw_spool_close(sp);
	cr_assert_eq(files_in("new"), 0, "closed and all done: it goes");
	cr_assert_eq(files_in("free"), 1, "into the pool");
}

Test(spool_log, a_full_file_makes_the_next_ready_and_goes_when_done)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char msg[1001];
	memset(msg, 'm', 998);
	memcpy(msg + 998, "\r\n", 3);
	char q[5][GW_SPOOL_QID_MAX];
	for (int i = 0; i < 5; i++)
		put(sp, msg, q[i]);
	/* 9 + 3 * (24 + 1000) + 24 * 4 > 4096: three rounds per file */
	cr_assert(strncmp(q[0], q[2], 24) == 0);
	cr_assert(strncmp(q[2], q[3], 24) != 0, "the fourth round: the next file");
	cr_assert_str_eq(q[3] + 24, ".0");
	cr_assert_eq(files_in("new"), 2);
	for (int i = 0; i < 3; i++) {
		take_expect(sp, q[i], msg);
		done(sp, q[i]);
	}
	cr_assert_eq(files_in("new"), 1, "the full file went with its last message");
	cr_assert_eq(files_in("free"), 1);
	put(sp, msg, q[0]);
	cr_assert(strncmp(q[0], q[3], 24) == 0, "the open file takes the next round");
	gw_spool_close(sp);
}

/* A file filled up to fewer zeros than a frame head needs is whole: its
 * end is the file's end, not damage. */
Test(spool_log, a_file_full_to_its_last_octets_is_whole)
{
	/* magic, "one\r\n" in a frame, its end head, then 10 zeros */
	uint64_t size = 9 + 24 + 5 + 24 + 10;
	struct gw_spool *sp = open_log(size, NULL);
	char q[2][GW_SPOOL_QID_MAX];
	put(sp, "one\r\n", q[0]);
	put(sp, "two\r\n", q[1]);
	cr_assert(strncmp(q[0], q[1], 24) != 0, "the second round did not fit");
	gw_spool_close(sp);
	sp = open_log(size, NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.damaged, 0);
	cr_assert_eq(st.recovered, 2);
	take_expect(sp, q[0], "one\r\n");
	take_expect(sp, q[1], "two\r\n");
	gw_spool_close(sp);
	/* the same file with a non-zero octet in those 10: damaged */
	cr_assert_eq(tm_test_sh("printf x | dd of='%s/spool/new/%.24s' bs=1 seek=%d conv=notrunc "
				"2>/dev/null", dir, q[0], 9 + 24 + 5 + 24 + 3), 0);
	sp = open_log(size, NULL);
	st = stats(sp);
	cr_assert_eq(st.damaged, 1);
	cr_assert_eq(st.recovered, 2, "its round rescued, the other file as it was");
	gw_spool_close(sp);
}

Test(spool_log, a_round_larger_than_a_file_is_a_round_file)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char *big = malloc(5001);
	memset(big, 'b', 5000);
	big[5000] = 0;
	char q[2][GW_SPOOL_QID_MAX];
	put(sp, "small\r\n", q[0]);
	put(sp, big, q[1]);
	struct tm_buf b;
	read_seg(q[1], &b);
	cr_assert_eq(b.len, 9 + 24 + 5000 + 24);
	cr_assert(memcmp(b.data, "TMSPOOL1\n", 9) == 0);
	tm_buf_fini(&b);
	cr_assert_str_eq(q[1] + 24, ".0");
	gw_spool_close(sp);
	sp = open_log(4096, NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, 2);
	cr_assert_eq(st.damaged, 0);
	take_expect(sp, q[0], "small\r\n");
	take_expect(sp, q[1], big);
	gw_spool_close(sp);
	free(big);
}

Test(spool_log, a_start_queues_what_was_acknowledged)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char q[3][GW_SPOOL_QID_MAX];
	put_three(sp, q);
	take_expect(sp, q[0], "one\r\n");
	done(sp, q[0]);
	gw_spool_close(sp); /* the file stays: two of its messages wait */
	cr_assert_eq(files_in("new"), 1);
	char path[512];
	snprintf(path, sizeof(path), "%s/spool", dir);
	uint64_t m, bytes, inc;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_scan(path, &m, &bytes, &inc, &err), 0, "%s", err.msg);
	cr_assert_eq(m, 3, "status counts the file's frames (done ones too)");
	cr_assert_eq(bytes, 5 + 5 + 7);

	sp = open_log(4096, NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, 3, "a partly done file is queued whole again");
	cr_assert_eq(st.damaged, 0);
	take_three(sp, q);
	for (int i = 0; i < 3; i++)
		done(sp, q[i]);
	cr_assert_eq(files_in("new"), 0, "a file found at start takes no rounds: it goes when done");
	char q4[GW_SPOOL_QID_MAX];
	put(sp, "four\r\n", q4);
	cr_assert(strncmp(q4, q[0], 24) != 0, "new rounds go into a new file");
	gw_spool_close(sp);
}

/* The last round cut short by a crash (its frames written, its end head
 * not): only the rounds before count; the file is kept for inspection. */
Test(spool_log, a_round_cut_short_is_not_queued)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char q[2][GW_SPOOL_QID_MAX];
	put(sp, "one\r\n", q[0]);
	put(sp, "two\r\n", q[1]);
	gw_spool_close(sp);
	/* zero round 2's end head: its frame is then not followed by one */
	size_t end2 = 9 + 24 + 5 + 24 + 24 + 5;
	cr_assert_eq(tm_test_sh("dd if=/dev/zero of='%s/spool/new/%.24s' bs=1 seek=%zu count=24 "
				"conv=notrunc 2>/dev/null", dir, q[1], end2), 0);
	sp = open_log(4096, NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, 1);
	cr_assert_eq(st.damaged, 1);
	cr_assert_eq(files_in("damaged"), 1);
	cr_assert_eq(st.queued, 1);
	take_expect(sp, NULL, "one\r\n"); /* round 1 only, from the rescued copy */
	gw_spool_close(sp);
}

/* Octets after the last end head that are not zeros (a round's head torn)
 * make the file damaged too; a file that never got a round goes to free/. */
Test(spool_log, torn_octets_after_the_last_round_and_an_unused_file)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char q[GW_SPOOL_QID_MAX];
	put(sp, "one\r\n", q);
	gw_spool_close(sp);
	cr_assert_eq(tm_test_sh("printf 'xy' | dd of='%s/spool/new/%.24s' bs=1 seek=%d conv=notrunc "
				"2>/dev/null && { printf 'TMSPOOL2\\n'; head -c 4087 /dev/zero; } > "
				"'%s/spool/new/00000000000000000000abcd'", dir, q, 9 + 24 + 5 + 24, dir),
		     0);
	sp = open_log(4096, NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, 1);
	cr_assert_eq(st.damaged, 1);
	cr_assert_eq(files_in("damaged"), 1);
	cr_assert_eq(tm_test_sh("test -e '%s/spool/new/00000000000000000000abcd'", dir), 1,
		     "the unused file left new/ (pooled, then taken for the rescued round)");
	cr_assert_eq(files_in("new"), 1, "the rescued round");
	cr_assert_eq(files_in("free"), 0);
	gw_spool_close(sp);
}

/* A round whose write or flush fails: its messages fail, its octets are
 * zeroed, the file takes no more rounds; the next round goes into a new
 * file; at a start only what was acknowledged is queued. */
static void failed_round(enum gw_spool_op op, int e, const char *reason)
{
	/* the file's making, round 1, round 2: the third call fails */
	struct nth_fault f = { .op = op, .nth = 3, .err = e };
	struct gw_spool *sp = open_log(4096, &f);
	char q[3][GW_SPOOL_QID_MAX];
	put(sp, "one\r\n", q[0]);
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"two\r\n", 5, q[1], &err), -1);
	cr_assert_str_eq(err.reason, reason);
	put(sp, "three\r\n", q[2]);
	cr_assert(strncmp(q[0], q[2], 24) != 0, "the failed file takes no more rounds");
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.accepted, 2);
	cr_assert_eq(st.failed, 1);
	cr_assert_eq(st.queued, 2, "a failed message is never handed to the pipeline");
	gw_spool_close(sp);
	sp = open_log(4096, NULL);
	st = stats(sp);
	cr_assert_eq(st.recovered, 2, "the failed round was zeroed: never queued");
	cr_assert_eq(st.damaged, 0);
	take_expect(sp, q[0], "one\r\n");
	take_expect(sp, q[2], "three\r\n");
	gw_spool_close(sp);
}

Test(spool_log, a_failed_round_write)
{
	failed_round(GW_SPOOL_OP_WRITE, ENOSPC, "spool.no_space");
}

Test(spool_log, a_failed_round_flush)
{
	failed_round(GW_SPOOL_OP_SYNC, EIO, "spool.io");
}

/* Making a file ready fails at each of its steps: the round fails, no file
 * is left, and the next round makes one. */
Test(spool_log, a_file_that_cannot_be_made_ready)
{
	static const enum gw_spool_op ops[] = { GW_SPOOL_OP_WRITE, GW_SPOOL_OP_SYNC,
						GW_SPOOL_OP_RENAME, GW_SPOOL_OP_DIRSYNC };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct nth_fault f = { .op = ops[i], .nth = 1, .err = EIO };
		struct gw_spool *sp = open_log(4096, &f);
		char q[GW_SPOOL_QID_MAX];
		struct tm_error err = {0};
		cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"x\r\n", 3, q, &err), -1, "op %zu", i);
		cr_assert_str_eq(err.reason, "spool.io");
		cr_assert_eq(files_in("new"), 0, "op %zu", i);
		cr_assert_eq(files_in("tmp"), 0, "op %zu", i);
		put(sp, "y\r\n", q);
		take_expect(sp, q, "y\r\n");
		done(sp, q);
		gw_spool_close(sp);
		cr_assert_eq(files_in("new"), 0);
	}
}

/* The log file removed from new/ by hand while it takes rounds: a round
 * written into it would be durable where no start finds it, so it fails,
 * and the next round makes a new file. */
Test(spool_log, a_log_file_removed_by_hand_takes_no_round)
{
	struct gw_spool *sp = open_log(4096, NULL);
	char q[2][GW_SPOOL_QID_MAX];
	put(sp, "one\r\n", q[0]);
	cr_assert_eq(tm_test_sh("rm '%s/spool/new/%.24s'", dir, q[0]), 0);
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"two\r\n", 5, q[1], &err), -1);
	cr_assert_str_eq(err.reason, "spool.io");
	cr_assert_not_null(strstr(err.msg, "removed"), "%s", err.msg);
	put(sp, "three\r\n", q[1]);
	cr_assert(strncmp(q[0], q[1], 24) != 0, "a new file");
	cr_assert(exists("new", q[1]));
	gw_spool_close(sp);
}

/* A real full file system (a 64 KiB tmpfs): rounds go into the octets a
 * log file already holds, so the disk fills when the next file is made
 * ready: spool.no_space (452), nothing half made left behind, and every
 * message acknowledged before is there at the next start. */
Test(spool_log, real_full_file_system)
{
	mount_small_spool();
	struct gw_spool *sp = open_log(16384, NULL);
	static char msg[3001];
	memset(msg, 'x', sizeof(msg) - 1);
	int ok = 0;
	struct tm_error err = {0};
	for (int i = 0; i < 40; i++) {
		char qid[GW_SPOOL_QID_MAX];
		tm_error_clear(&err);
		if (gw_spool_put(sp, (const uint8_t *)msg, sizeof(msg) - 1, qid, &err) < 0)
			break;
		ok++;
	}
	int tmp_left = files_in("tmp");
	gw_spool_close(sp);
	sp = open_log(16384, NULL);
	struct gw_spool_stats st = stats(sp);
	gw_spool_close(sp);
	unmount_spool();
	cr_assert_lt(ok, 40, "a 64 KiB file system cannot take 120 KB");
	cr_assert_gt(ok, 0);
	cr_assert_str_eq(err.reason, "spool.no_space", "%s", err.msg);
	cr_assert_eq(tmp_left, 0);
	cr_assert_eq(st.recovered, (uint64_t)ok, "every acknowledged message, no other");
	cr_assert_eq(st.damaged, 0);
}

/* A log file takes at most GW_SPOOL_MAX_BATCH frames (queue ids
 * <file>.0 to <file>.1023), however much room is left: the next round
 * goes into the next file, and a start finds them all. */
Test(spool_log, at_most_max_batch_frames_in_one_file)
{
	struct gw_spool *sp = open_log(65536, NULL);
	char first[GW_SPOOL_QID_MAX], q[GW_SPOOL_QID_MAX];
	put(sp, "m", first);
	for (int i = 1; i < GW_SPOOL_MAX_BATCH; i++) {
		put(sp, "m", q);
		cr_assert(strncmp(q, first, 24) == 0, "message %d in the first file", i);
	}
	cr_assert_str_eq(q + 24, ".1023");
	put(sp, "m", q);
	cr_assert(strncmp(q, first, 24) != 0, "the 1025th: the next file");
	cr_assert_str_eq(q + 24, ".0");
	gw_spool_close(sp);
	sp = open_log(65536, NULL);
	struct gw_spool_stats st = stats(sp);
	cr_assert_eq(st.recovered, GW_SPOOL_MAX_BATCH + 1);
	cr_assert_eq(st.damaged, 0);
	gw_spool_close(sp);
}

/* ---- kill -9 while rounds are written ---- */

struct producer {
	struct gw_spool *sp;
	int ack_fd, gen, id;
};

/* Put unique messages ("m-<gen>-<id>-<n>-" and padding) for ever; each one
 * acknowledged is written to ack_fd as a line (one write, O_APPEND). */
static void *produce(void *arg)
{
	struct producer *p = arg;
	static __thread char msg[4096];
	for (int n = 0;; n++) {
		int k = snprintf(msg, sizeof(msg), "m-%d-%d-%d-", p->gen, p->id, n);
		size_t len = (size_t)k + (size_t)(n * 37) % 3000;
		memset(msg + k, 'x', len - (size_t)k);
		char q[GW_SPOOL_QID_MAX];
		struct tm_error err = {0};
		if (gw_spool_put(p->sp, (const uint8_t *)msg, len, q, &err) == 0) {
			msg[k] = '\n';
			if (write(p->ack_fd, msg, (size_t)k + 1) != k + 1)
				_exit(3);
		}
	}
	return NULL;
}

static void run_producers(const char *spool, int ack_fd, int gen)
{
	struct gw_spool_options o = { .dir = spool, .segment_size = 16384 };
	struct gw_spool *sp = NULL;
	struct tm_error err = {0};
	if (gw_spool_open(&o, &sp, &err) < 0)
		_exit(2);
	struct producer p[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (struct producer){ sp, ack_fd, gen, i };
		pthread_create(&t[i], NULL, produce, &p[i]);
	}
	pthread_join(t[0], NULL);
	_exit(0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ten times: four threads put messages as fast as the spool takes them,
 * and the process is killed (SIGKILL) after 20-120 ms, in the middle of a
 * round or between two; the next start queues what it finds. At the end
 * every acknowledged message is there, none twice. */
Test(spool_log, kill_9_loses_no_acknowledged_message, .timeout = 60)
{
	char spool[600], ack[600];
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	snprintf(ack, sizeof(ack), "%s/ack", dir);
	int fd = open(ack, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	srand((unsigned)getpid());
	for (int gen = 0; gen < 10; gen++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			run_producers(spool, fd, gen);
		usleep(20000 + (useconds_t)(rand() % 100000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		cr_assert(WIFSIGNALED(status), "the producers ran until killed (status %d)", status);
	}
	close(fd);

	struct gw_spool *sp = open_log(16384, NULL);
	struct gw_spool_stats st = stats(sp);
	char **got = calloc(st.recovered + 1, sizeof(*got));
	for (uint64_t i = 0; i < st.recovered; i++) {
		char q[GW_SPOOL_QID_MAX];
		size_t len;
		uint8_t *data = take_next(sp, q, &len);
		char *x = memchr(data, 'x', len);
		got[i] = strndup((const char *)data, x ? (size_t)(x - (char *)data) : len);
		free(data);
	}
	gw_spool_close(sp);
	qsort(got, st.recovered, sizeof(*got), cmp_str);
	for (uint64_t i = 1; i < st.recovered; i++)
		cr_assert(strcmp(got[i - 1], got[i]) != 0, "%s queued twice", got[i]);

	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(ack, &b);
	size_t acked = 0;
	for (char *line = (char *)b.data, *end = (char *)b.data + b.len; line < end;) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		cr_assert_not_null(nl);
		*nl = '\0';
		char *key = line;
		cr_assert_not_null(bsearch(&key, got, st.recovered, sizeof(*got), cmp_str),
				   "acknowledged, then lost: %s", line);
		acked++;
		line = nl + 1;
	}
	cr_assert_gt(acked, 100, "the producers got going (%zu acknowledged)", acked);
	cr_assert_geq(st.recovered, acked, "unacknowledged ones may be there too");
	for (uint64_t i = 0; i < st.recovered; i++)
		free(got[i]);
	free(got);
	tm_buf_fini(&b);
}

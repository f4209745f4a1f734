/* The durable spool: write → sync → rename → directory sync before success,
 * group commit, recovery at start, quota, faults, a real full disk. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "spool.h"

static char *dir;

static void setup(void)
{
	dir = tm_test_tmpdir();
}

static void teardown(void)
{
	tm_test_rmtree(dir);
	free(dir);
}

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

static int files_in(const char *sub)
{
	return tm_test_sh("exit $(ls -A '%s/spool/%s' | wc -l)", dir, sub);
}

Test(spool, put_is_durable_then_taken_then_done)
{
	struct gw_spool *sp = open_spool(NULL);
	char qid[GW_SPOOL_QID_MAX];
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_put(sp, (const uint8_t *)"hello\r\n", 7, qid, &err), 0, "%s", err.msg);
	cr_assert_eq(strlen(qid), 24);
	char path[600];
	snprintf(path, sizeof(path), "%s/spool/new/%s", dir, qid);
	struct tm_buf b;
	tm_buf_init(&b);
	tm_test_read(path, &b);
	cr_assert_eq(b.len, 7);
	cr_assert(memcmp(b.data, "hello\r\n", 7) == 0);
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
	char q[GW_SPOOL_QID_MAX];
	uint8_t *data;
	size_t len;
	int64_t at;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	cr_assert_str_eq(q, "0001");
	free(data);
	cr_assert_eq(gw_spool_take(sp, q, &data, &len, &at, &err), 1);
	cr_assert_str_eq(q, "0002");
	cr_assert_eq(len, 4);
	free(data);
	/* not done: after a restart both are there again */
	gw_spool_close(sp);
	sp = open_spool(NULL);
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.recovered, 2);
	uint64_t m, b, inc;
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
 * second round (one data flush, one directory flush). */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int writes;
};

static int gate_fault(void *ctx, enum gw_spool_op op)
{
	struct gate *g = ctx;
	if (op != GW_SPOOL_OP_WRITE)
		return 0;
	pthread_mutex_lock(&g->mu);
	if (g->writes++ == 0)
		while (!g->open)
			pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ok, failed;
};

static void count_cb(void *ctx, const char *qid, const struct tm_error *err)
{
	struct counter *c = ctx;
	pthread_mutex_lock(&c->mu);
	if (err == NULL && qid[0])
		c->ok++;
	else
		c->failed++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

Test(spool, concurrent_submits_share_one_commit_round)
{
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
	struct gw_spool_options o = { .fault = gate_fault, .fault_ctx = &g };
	struct gw_spool *sp = open_spool(&o);
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_submit(sp, (const uint8_t *)msg, sizeof(msg) - 1, count_cb, &c, &err), 0);
	/* wait until the spool thread sits in the first write */
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&g.mu);
		int w = g.writes;
		pthread_mutex_unlock(&g.mu);
		if (w > 0)
			break;
		usleep(5000);
	}
	for (int i = 0; i < 199; i++)
		cr_assert_eq(gw_spool_submit(sp, (const uint8_t *)msg, sizeof(msg) - 1, count_cb, &c,
					     &err), 0);
	pthread_mutex_lock(&g.mu);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	pthread_mutex_lock(&c.mu);
	while (c.ok + c.failed < 200)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	cr_assert_eq(c.ok, 200);
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	cr_assert_eq(st.accepted, 200);
	cr_assert_eq(st.rounds, 2, "200 messages in %llu rounds", (unsigned long long)st.rounds);
	cr_assert_eq(files_in("new"), 200);
	gw_spool_close(sp);
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
	char mnt[600];
	snprintf(mnt, sizeof(mnt), "%s/spool", dir);
	mkdir(mnt, 0700);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0)
		cr_skip_test("cannot mount a tmpfs here: %s", strerror(errno));
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
	umount2(mnt, MNT_DETACH);
	cr_assert_lt(ok, 10, "a 64 KiB file system cannot take 200 KB");
	cr_assert_str_eq(err.reason, "spool.no_space");
	cr_assert_eq(st.messages, (uint64_t)ok, "only the durable ones are counted");
	cr_assert_eq(tmp_left, 0);
}

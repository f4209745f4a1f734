/* Shared by the spool's tests (test_spool.c, test_spool_log.c): a fresh
 * directory per test, <dir>/spool the spool, and the checks both use. */
#ifndef TM_TEST_SPOOL_FIXTURE_H
#define TM_TEST_SPOOL_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include <telemail/error.h>

#include "common.h"
#include "spool/spool.h"

static char *dir;

static inline void setup(void)
{
	dir = tm_test_tmpdir();
}

static inline void teardown(void)
{
	tm_test_rmtree(dir);
	free(dir);
}

static inline int files_in(const char *sub)
{
	return tm_test_sh("exit $(ls -A '%s/spool/%s' | wc -l)", dir, sub);
}

/* Take the next message (it must be readable): its octets, malloc'd;
 * q its queue id, *len its length. */
static inline uint8_t *take_next(struct gw_spool *sp, char q[GW_SPOOL_QID_MAX], size_t *len)
{
	uint8_t *data;
	int64_t at;
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_take(sp, q, &data, len, &at, &err), 1);
	cr_assert_null(err.reason, "%s: %s", q, err.msg);
	cr_assert_not_null(data, "%s", q);
	cr_assert_gt(at, 0);
	return data;
}

/* Take one message and check its queue id and octets. */
static inline void take_expect(struct gw_spool *sp, const char *qid, const char *msg)
{
	char q[GW_SPOOL_QID_MAX];
	size_t len;
	uint8_t *data = take_next(sp, q, &len);
	if (qid != NULL)
		cr_assert_str_eq(q, qid);
	cr_assert_eq(len, strlen(msg), "%s: %zu octets", q, len);
	cr_assert(memcmp(data, msg, len) == 0, "%s: other octets", q);
	free(data);
}

static inline void done(struct gw_spool *sp, const char *qid)
{
	struct tm_error err = {0};
	cr_assert_eq(gw_spool_done(sp, qid, &err), 0, "%s", err.msg);
}

static inline struct gw_spool_stats stats(struct gw_spool *sp)
{
	struct gw_spool_stats st;
	gw_spool_stats(sp, &st);
	return st;
}

static inline bool exists(const char *sub, const char *name)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof(path), "%s/spool/%s/%.24s", dir, sub, name);
	return stat(path, &st) == 0;
}

/* <dir>/spool as a 64 KiB tmpfs, a file system that fills up for real
 * (skips the test where mounting is not allowed); unmount_spool undoes it. */
static inline void mount_small_spool(void)
{
	char mnt[600];
	snprintf(mnt, sizeof(mnt), "%s/spool", dir);
	mkdir(mnt, 0700);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0)
		cr_skip_test("cannot mount a tmpfs here: %s", strerror(errno));
}

static inline void unmount_spool(void)
{
	char mnt[600];
	snprintf(mnt, sizeof(mnt), "%s/spool", dir);
	umount2(mnt, MNT_DETACH);
}

#endif

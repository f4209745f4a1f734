/* telemail-agent outbox: durable, ordered, bounded (periodic gives way,
 * events kept, gap counted), 5xx moved aside with the reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <telemail/buf.h>
#include <telemail/error.h>

#include "common.h"
#include "outbox.h"

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

static void push(struct ag_outbox *ob, enum ag_item_kind k, const char *body)
{
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_push(ob, k, (const uint8_t *)body, strlen(body), NULL, &err), 0,
		     "%s: %s", err.reason, err.msg);
}

static size_t bodies(struct ag_outbox *ob, char out[][32], size_t max)
{
	struct ag_outbox_item *it;
	size_t n;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_list(ob, &it, &n, &err), 0);
	for (size_t i = 0; i < n && i < max; i++) {
		struct tm_buf b;
		tm_buf_init(&b);
		cr_assert_eq(ag_outbox_read(ob, &it[i], &b, &err), 0);
		snprintf(out[i], 32, "%s", (char *)b.data);
		tm_buf_fini(&b);
	}
	free(it);
	return n;
}

TestSuite(agent_outbox, .init = setup, .fini = teardown);

Test(agent_outbox, oldest_first_and_numbering_survives_reopen)
{
	struct ag_outbox *ob;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_open(dir, 100, 1 << 20, &ob, &err), 0, "%s", err.msg);
	push(ob, AG_ITEM_PERIODIC, "one");
	push(ob, AG_ITEM_EVENT, "two");
	ag_outbox_close(ob);
	cr_assert_eq(ag_outbox_open(dir, 100, 1 << 20, &ob, &err), 0);
	push(ob, AG_ITEM_STATUS, "three");
	char b[8][32];
	cr_assert_eq(bodies(ob, b, 8), 3);
	cr_expect_str_eq(b[0], "one");
	cr_expect_str_eq(b[1], "two");
	cr_expect_str_eq(b[2], "three");
	/* nothing is left half-written in tmp/ */
	cr_expect_eq(tm_test_sh("test -z \"$(ls -A '%s/tmp')\"", dir), 0);
	ag_outbox_close(ob);
}

Test(agent_outbox, done_removes_and_reject_moves_aside_with_reply)
{
	struct ag_outbox *ob;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_open(dir, 100, 1 << 20, &ob, &err), 0);
	push(ob, AG_ITEM_PERIODIC, "a");
	push(ob, AG_ITEM_PERIODIC, "b");
	struct ag_outbox_item *it;
	size_t n;
	cr_assert_eq(ag_outbox_list(ob, &it, &n, &err), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(ag_outbox_done(ob, &it[0], &err), 0);
	cr_assert_eq(ag_outbox_reject(ob, &it[1], "554 5.7.1 no thanks", &err), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/failed/%s.reply", dir, it[1].name);
	struct tm_buf r;
	tm_buf_init(&r);
	tm_test_read(p, &r);
	cr_expect_str_eq((char *)r.data, "554 5.7.1 no thanks");
	tm_buf_fini(&r);
	struct ag_outbox_status st;
	cr_assert_eq(ag_outbox_status(ob, &st, &err), 0);
	cr_expect_eq(st.depth, 0);
	cr_expect_eq(st.sent, 1);
	cr_expect_eq(st.rejected, 1);
	cr_expect_neq(st.last_success, 0);
	cr_expect_not_null(strstr(st.last_error, "554 5.7.1"), "%s", st.last_error);
	free(it);
	ag_outbox_close(ob);
	/* the counters are durable */
	cr_assert_eq(ag_outbox_open(dir, 100, 1 << 20, &ob, &err), 0);
	cr_assert_eq(ag_outbox_status(ob, &st, &err), 0);
	cr_expect_eq(st.sent, 1);
	cr_expect_eq(st.rejected, 1);
	ag_outbox_close(ob);
}

Test(agent_outbox, unreadable_item_keeps_the_os_reason)
{
	struct ag_outbox *ob;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_open(dir, 100, 1 << 20, &ob, &err), 0);
	push(ob, AG_ITEM_PERIODIC, "a");
	struct ag_outbox_item *it;
	size_t n;
	cr_assert_eq(ag_outbox_list(ob, &it, &n, &err), 0);
	cr_assert_eq(n, 1);
	char p[512];
	snprintf(p, sizeof(p), "%s/queue/%s", dir, it[0].name);
	cr_assert_eq(unlink(p), 0);
	struct tm_buf b;
	tm_buf_init(&b);
	cr_assert_eq(ag_outbox_read(ob, &it[0], &b, &err), -1);
	cr_assert_str_eq(err.reason, "outbox.corrupt");
	char want[700];
	snprintf(want, sizeof(want), "cannot read a queued item: %s: No such file or directory", p);
	cr_assert_str_eq(err.msg, want);
	tm_buf_fini(&b);
	free(it);
	ag_outbox_close(ob);
}

Test(agent_outbox, full_drops_oldest_periodic_keeps_events_and_counts_gap)
{
	struct ag_outbox *ob;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_open(dir, 3, 1 << 20, &ob, &err), 0);
	push(ob, AG_ITEM_PERIODIC, "p1");
	push(ob, AG_ITEM_EVENT, "e1");
	push(ob, AG_ITEM_PERIODIC, "p2");
	size_t dropped = 0;
	cr_assert_eq(ag_outbox_push(ob, AG_ITEM_EVENT, (const uint8_t *)"e2", 2, &dropped, &err), 0);
	cr_expect_eq(dropped, 1);
	char b[8][32];
	cr_assert_eq(bodies(ob, b, 8), 3);
	cr_expect_str_eq(b[0], "e1");
	cr_expect_str_eq(b[1], "p2");
	cr_expect_str_eq(b[2], "e2");
	push(ob, AG_ITEM_EVENT, "e3");       /* p2 gives way */
	cr_assert_eq(bodies(ob, b, 8), 3);
	cr_expect_str_eq(b[0], "e1");
	cr_expect_str_eq(b[2], "e3");
	/* only events now: a periodic report is itself dropped (and counted) */
	cr_assert_eq(ag_outbox_push(ob, AG_ITEM_PERIODIC, (const uint8_t *)"p3", 2, &dropped, &err), 0);
	cr_expect_eq(dropped, 1);
	cr_assert_eq(bodies(ob, b, 8), 3);
	cr_expect_eq(ag_outbox_gap(ob), 3);
	/* … and a new event cannot be queued */
	cr_assert_eq(ag_outbox_push(ob, AG_ITEM_EVENT, (const uint8_t *)"e4", 2, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "outbox.full");
	cr_assert_not_null(strstr(err.msg, "all events"), "%s", err.msg);
	/* the next report carries the gap, then it is consumed */
	cr_assert_eq(ag_outbox_gap_consume(ob, 3, &err), 0);
	cr_expect_eq(ag_outbox_gap(ob), 0);
	struct ag_outbox_status st;
	cr_assert_eq(ag_outbox_status(ob, &st, &err), 0);
	cr_expect_eq(st.dropped, 3);
	ag_outbox_close(ob);
}

Test(agent_outbox, byte_limit_and_item_limit)
{
	struct ag_outbox *ob;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_open(dir, 100, 65536, &ob, &err), 0);
	char *big = malloc(40000);
	memset(big, 'x', 39999);
	big[39999] = '\0';
	push(ob, AG_ITEM_PERIODIC, big);
	push(ob, AG_ITEM_PERIODIC, big);     /* the first gives way: 80000 > 65536 */
	char b[8][32];
	cr_expect_eq(bodies(ob, b, 8), 1);
	cr_expect_eq(ag_outbox_gap(ob), 1);
	free(big);
	size_t huge = AG_OUTBOX_MAX_ITEM + 1;
	uint8_t *h = calloc(1, huge);
	cr_assert_eq(ag_outbox_push(ob, AG_ITEM_EVENT, h, huge, NULL, &err), -1);
	cr_assert_str_eq(err.reason, "io.too_large");
	cr_assert_not_null(strstr(err.msg, "item limit"));
	free(h);
	ag_outbox_close(ob);
}

Test(agent_outbox, unknown_files_are_ignored_and_backoff_is_capped)
{
	struct ag_outbox *ob;
	struct tm_error err = { 0 };
	cr_assert_eq(ag_outbox_open(dir, 100, 1 << 20, &ob, &err), 0);
	cr_assert_eq(tm_test_sh("touch '%s/queue/junk' '%s/queue/0000000000000001-x.eml'", dir, dir), 0);
	push(ob, AG_ITEM_TEST, "t");
	char b[8][32];
	cr_expect_eq(bodies(ob, b, 8), 1);
	ag_outbox_close(ob);
	for (unsigned a = 0; a < 40; a++) {
		int64_t ceil = 60;
		for (unsigned i = 0; i < a && ceil < 3600; i++)
			ceil *= 2;
		if (ceil > 3600)
			ceil = 3600;
		cr_expect_leq(ag_backoff_delay(a, 60, 3600, 0xffffffffu), ceil);
		cr_expect_eq(ag_backoff_delay(a, 60, 3600, 0), 0);
	}
	cr_expect_eq(ag_backoff_delay(1, 60, 3600, 120), 120);
	cr_expect_eq(ag_backoff_delay(30, 60, 3600, 3600), 3600);
}
